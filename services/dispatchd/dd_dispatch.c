/* dd_dispatch: offers, re-offers, accept timers and the periodic sweep
 * (queue retry, deadlines, pruning). Decisions are taken against the
 * working set (dd_state/dd_domain); each is written by one SQL call on the
 * batching writer, and HTTP replies go out from its result callback. */
#include "dd_dispatch.h"
#include "dd_capacity.h"
#include "dd_reopt.h"
#include "dd_store.h"
#include "cc_event.h"
#include "cc_log.h"
#include "cc_rt.h"
#include "cc_util.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_SWEEP_MS 250          /* sweep tick */
#define S_RAN_LONG_US (10 * CC_US_PER_MIN)   /* past its planned end: re-optimise */
#define S_RETRY_BUDGET_US 20000 /* time for queue retries per sweep */
#define S_PRUNE_EVERY_US (60 * CC_US_PER_S)
#define S_RESOLVE_PER_TICK 64   /* deadline resolutions written per sweep tick */

const char *dd_result_text(PGresult *res)
{
    if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1 || PQnfields(res) != 1)
        return NULL;
    return PQgetvalue(res, 0, 0);
}

int dd_write_failed(dd_app_t *app, const char *what, PGresult *res, cc_err_t *err)
{
    if (res && cc_db_res_class(res) == CC_DB_OK)
        return 0;
    cc_rt_write_failed(&app->rt, what, res, 1, err);
    return 1;
}

void dd_app_model_params(dd_app_t *app, int64_t now_us, dd_model_params_t *p)
{
    dd_model_params_init(p, now_us);
    p->max_travel_s = (int) app->max_travel_s;
}

void dd_update_gauges(dd_app_t *app)
{
    size_t ncg, nactive;
    dd_world_caregivers(app->world, &ncg);
    dd_world_active(app->world, &nactive);
    cc_metric_set(app->m_caregivers, (double) ncg);
    cc_metric_set(app->m_open_visits, (double) nactive);
    cc_metric_set(app->m_queue_depth, (double) dd_world_queue_depth(app->world));
}

/* ---- accept timers ------------------------------------------------------ */

typedef struct {
    dd_app_t *app;
    char visit_id[DD_ID_LEN];
    struct event *ev;
} s_timer_t;

static void s_on_accept_timeout(evutil_socket_t fd, short what, void *arg)
{
    (void) fd;
    (void) what;
    s_timer_t *t = arg;
    dd_app_t *app = t->app;
    dd_visit_t *v = dd_world_visit(app->world, t->visit_id);
    if (!v || v->timer != t)
        return;   /* cannot happen: cancel frees it; be safe */
    v->timer = NULL;
    event_free(t->ev);
    free(t);
    if (app->rt.stopping || v->state != DD_VISIT_ASSIGNED)
        return;
    cc_metric_inc(app->m_timeouts);
    cc_info("accept_timeout", "visit_id", v->id, "order_id", v->order_id,
            "caregiver_id", v->caregiver_id);
    dd_dispatch_decline(app, v, "accept_timeout", NULL);
}

void dd_timer_cancel(dd_visit_t *v)
{
    s_timer_t *t = v->timer;
    if (!t)
        return;
    event_free(t->ev);
    free(t);
    v->timer = NULL;
}

void dd_timer_arm(dd_app_t *app, dd_visit_t *v, int64_t now_us)
{
    dd_timer_cancel(v);
    s_timer_t *t = calloc(1, sizeof *t);
    if (!t)
        return;   /* the sweep also catches overdue offers */
    t->app = app;
    snprintf(t->visit_id, sizeof t->visit_id, "%s", v->id);
    t->ev = evtimer_new(app->rt.base, s_on_accept_timeout, t);
    if (!t->ev) {
        free(t);
        return;
    }
    int64_t due = v->assigned_us + dd_app_rule(app, v)->offer_s * CC_US_PER_S - now_us;
    if (due < 0)
        due = 0;
    struct timeval tv = {(time_t) (due / CC_US_PER_S), (suseconds_t) (due % CC_US_PER_S)};
    evtimer_add(t->ev, &tv);
    v->timer = t;
}

/* ---- payloads ----------------------------------------------------------- */

uint8_t *dd_pack_assigned(const dd_visit_t *v, size_t *len)
{
    Cc__VisitAssigned m = CC__VISIT_ASSIGNED__INIT;
    m.visit_id = (char *) v->id;
    m.order_id = (char *) v->order_id;
    m.caregiver_id = (char *) v->caregiver_id;
    m.provider_id = (char *) v->provider_id;
    m.eta_us = v->eta_us;
    m.travel_s = v->travel_s;
    return cc_event_pack(&m.base, len);
}

/* ---- writes ------------------------------------------------------------- */

typedef struct {
    dd_app_t *app;
    char visit_id[DD_ID_LEN];
    int64_t since_us;               /* for the assignment latency */
    int assigned;                   /* the statement offers the visit */
    cc_http_req_t *req;             /* decline over HTTP: answered after commit */
    char state[16];                 /* state to report */
    char caregiver_id[DD_ID_LEN];   /* next caregiver, "" if none */
} s_write_t;

static void s_on_assign_done(PGresult *res, void *arg)
{
    s_write_t *w = arg;
    if (dd_write_failed(w->app, dd_stmts[DD_ST_ASSIGN].name, res, NULL)) {
        free(w);
        return;
    }
    const char *r = dd_result_text(res);
    if (!r)
        cc_rt_fatal(dd_stmts[DD_ST_ASSIGN].name, res);
    if (strcmp(r, "applied") == 0) {
        cc_metric_inc(w->app->m_assigned);
        cc_metric_observe(w->app->m_latency, (double) (cc_now_us() - w->since_us) / CC_US_PER_S);
    }
    free(w);
}

void dd_bump_apply(dd_app_t *app, dd_visit_t *bumped, dd_bump_t *b, int64_t now_us)
{
    snprintf(b->old, sizeof b->old, "%s", bumped->caregiver_id);
    cc_uuid(b->ev);
    Cc__VisitDeclined d = CC__VISIT_DECLINED__INIT;
    d.visit_id = bumped->id;
    d.order_id = bumped->order_id;
    d.caregiver_id = b->old;
    d.reason = "preempted";
    b->pay = cc_event_pack(&d.base, &b->len);
    if (!b->pay) {
        cc_error("out_of_memory", "where", "bump");
        exit(1);
    }
    /* Back to the queue; the caregiver is not a decliner (it was not their
     * choice), and the queue is retried at once for it. */
    dd_timer_cancel(bumped);
    dd_world_set_state(app->world, bumped, DD_VISIT_WAITING, now_us);
    app->dirty = 1;
    cc_metric_inc(app->m_preempted);
    dd_reopt_kick(app, bumped->district_id);
    cc_info("visit_preempted", "visit_id", bumped->id, "order_id", bumped->order_id,
            "caregiver_id", b->old);
}

void dd_bump_args(cc_args_t *a, const dd_visit_t *bumped, const dd_bump_t *b)
{
    cc_args_int(a, "b_district", bumped->district_id);
    cc_args_text(a, "b_id", bumped->id);
    cc_args_text(a, "b_caregiver", b->old);
    cc_args_text(a, "b_order", bumped->order_id);
    cc_args_text(a, "b_ev", b->ev);
    cc_args_bytes(a, "b_payload", b->pay, b->len);
}

void dd_offer_args(cc_args_t *a, const dd_visit_t *v)
{
    cc_args_text(a, "provider", v->provider_id);
    cc_args_int(a, "eta", v->eta_us);
    cc_args_int(a, "end", v->planned_end_us);
    cc_args_int(a, "travel", v->travel_s);
}

int64_t dd_dispatch_release_us(const dd_app_t *app, const dd_visit_t *v)
{
    if (app->offer_ahead_s <= 0 || v->emergency || v->service == DD_SVC_EMERGENCY)
        return v->created_us;
    int64_t at = v->window_start_us - app->offer_ahead_s * CC_US_PER_S;
    return at > v->created_us ? at : v->created_us;
}

/* The offer of v (assigned in memory) to the store: VisitAssigned, its
 * accept timer; with the bump of bumped when an emergency takes its slot. */
static void s_offer_write(dd_app_t *app, dd_visit_t *v, dd_visit_t *bumped, dd_bump_t *bump,
                          int64_t now_us, const char *from)
{
    s_write_t *w = calloc(1, sizeof *w);
    size_t plen = 0;
    uint8_t *payload = dd_pack_assigned(v, &plen);
    if (!w || !payload) {
        cc_error("out_of_memory", "where", "dispatch_try");
        exit(1);
    }
    w->app = app;
    snprintf(w->visit_id, sizeof w->visit_id, "%s", v->id);
    w->since_us = v->release_us > v->created_us ? v->release_us : v->created_us;
    char ev[CC_UUID_LEN];
    cc_uuid(ev);
    cc_args_t a;
    cc_args_init(&a, &dd_stmts[bumped ? DD_ST_ASSIGN_BUMP : DD_ST_ASSIGN]);
    cc_args_int(&a, "district", v->district_id);
    cc_args_text(&a, "id", v->id);
    cc_args_text(&a, "caregiver", v->caregiver_id);
    dd_offer_args(&a, v);
    cc_args_int(&a, "at", now_us);
    cc_args_text(&a, "order", v->order_id);
    cc_args_text(&a, "ev", ev);
    cc_args_bytes(&a, "payload", payload, plen);
    if (bumped)
        dd_bump_args(&a, bumped, bump);
    if (cc_db_call(app->rt.writer, &a, s_on_assign_done, w) != 0)
        cc_rt_fatal(a.st->name, NULL);
    free(payload);
    dd_timer_arm(app, v, now_us);
    cc_info("visit_assigned", "visit_id", v->id, "order_id", v->order_id, "caregiver_id",
            v->caregiver_id, "from", from);
}

void dd_dispatch_publish(dd_app_t *app, dd_visit_t *v, int64_t now_us)
{
    if (v->state != DD_VISIT_PLANNED || !v->caregiver)
        return;
    dd_world_set_state(app->world, v, DD_VISIT_ASSIGNED, now_us);
    v->assigned_us = now_us;   /* the accept timer runs from the offer */
    s_offer_write(app, v, NULL, NULL, now_us, "plan");
}

int dd_dispatch_try(dd_app_t *app, dd_visit_t *v, int64_t now_us)
{
    if (v->state != DD_VISIT_WAITING)
        return 0;
    dd_model_params_t p;
    dd_app_model_params(app, now_us, &p);
    size_t n;
    dd_caregiver_t *const *cgs = dd_world_caregivers(app->world, &n);
    dd_match_t m;
    int64_t t0 = cc_mono_us();
    dd_visit_t *bumped = NULL;
    /* Not to be offered yet: planned only (routine, so nobody is bumped). */
    int hold = now_us < v->release_us;
    int rc = hold ? dd_model_match(cgs, n, v, &p, &m)
                  : dd_model_match_urgent(cgs, n, v, &p, &m, &bumped);
    if (rc != 0) {
        /* A short day: a mandated duty may take a less pressing visit's
         * slot, planned only (no event) or, when v is offered now, offered
         * and not accepted. */
        dd_visit_t *low = NULL;
        rc = dd_model_match_ranked(cgs, n, v, &p, !hold, &m, &low);
        if (rc == 0) {
            cc_metric_inc(app->m_duty_bumped);
            cc_info("visit_duty_bumped", "visit_id", low->id, "order_id", low->order_id,
                    "by_visit_id", v->id);
            if (low->state == DD_VISIT_ASSIGNED) {
                bumped = low;   /* offered: VisitDeclined{preempted}, as for an emergency */
            } else {
                dd_world_set_state(app->world, low, DD_VISIT_WAITING, now_us);
                app->dirty = 1;
            }
        }
    }
    cc_metric_observe(app->m_match_latency, (double) (cc_mono_us() - t0) / CC_US_PER_S);
    if (rc != 0)
        return 0;
    dd_bump_t bump = {0};
    if (bumped)
        dd_bump_apply(app, bumped, &bump, now_us);
    if (dd_world_assign(app->world, v, &m, now_us) != 0) {
        cc_error("out_of_memory", "where", "dispatch_try");
        exit(1);   /* a bump is already decided in memory: reload */
    }
    if (hold) {
        dd_world_set_state(app->world, v, DD_VISIT_PLANNED, now_us);
        cc_debug("visit_planned", "visit_id", v->id, "order_id", v->order_id,
                 "caregiver_id", v->caregiver_id);
        return 1;
    }
    s_offer_write(app, v, bumped, &bump, now_us, "queue");
    free(bump.pay);
    if (v->emergency)   /* an emergency breaks its caregiver's day */
        dd_reopt_kick(app, m.caregiver->district_id);
    return 1;
}

static void s_on_decline_done(PGresult *res, void *arg)
{
    s_write_t *w = arg;
    cc_err_t err;
    if (dd_write_failed(w->app, dd_stmts[DD_ST_DECLINE].name, res, &err)) {
        if (w->req)
            cc_http_reply_err(&w->req, &err);
        free(w);
        return;
    }
    const char *r = dd_result_text(res);
    if (!r)
        cc_rt_fatal(dd_stmts[DD_ST_DECLINE].name, res);
    if (strcmp(r, "applied") == 0 && w->assigned) {
        cc_metric_inc(w->app->m_assigned);
        cc_metric_observe(w->app->m_latency, (double) (cc_now_us() - w->since_us) / CC_US_PER_S);
    }
    if (w->req) {
        json_t *body = json_pack("{s:s, s:s}", "visit_id", w->visit_id, "state", w->state);
        if (body && w->caregiver_id[0])
            json_object_set_new(body, "next_caregiver_assigned", json_true());
        else if (body)
            json_object_set_new(body, "next_caregiver_assigned", json_false());
        cc_http_reply_json(&w->req, 200, body);
    }
    free(w);
}

void dd_dispatch_decline(dd_app_t *app, dd_visit_t *v, const char *reason, cc_http_req_t *req)
{
    int64_t now = cc_now_us();
    char old[DD_ID_LEN];
    snprintf(old, sizeof old, "%s", v->caregiver_id);
    dd_timer_cancel(v);

    Cc__VisitDeclined d = CC__VISIT_DECLINED__INIT;
    d.visit_id = v->id;
    d.order_id = v->order_id;
    d.caregiver_id = old;
    d.reason = (char *) reason;
    size_t dlen = 0;
    uint8_t *dpay = cc_event_pack(&d.base, &dlen);

    /* Out of memory while remembering the decliner: the offer still moves
     * on (dd_world_decline leaves the visit waiting either way). */
    (void) dd_world_decline(app->world, v, now);
    app->dirty = 1;   /* the decliner's slot is free for other visits */
    dd_reopt_kick(app, v->district_id);

    /* Re-offer at once, also while overdue (someone may still come), unless
     * the sweep would resolve the deadline now (it then fails it). */
    int next = 0;
    if (!dd_deadline_ripe(v, dd_app_rule(app, v), now, cc_mono_us(), NULL)) {
        dd_model_params_t p;
        dd_app_model_params(app, now, &p);
        size_t n;
        dd_caregiver_t *const *cgs = dd_world_caregivers(app->world, &n);
        dd_match_t m;
        if (dd_model_match(cgs, n, v, &p, &m) == 0 && dd_world_assign(app->world, v, &m, now) == 0)
            next = 1;
    }
    size_t alen = 0;
    uint8_t *apay = next ? dd_pack_assigned(v, &alen) : NULL;
    s_write_t *w = calloc(1, sizeof *w);
    if (!dpay || !w || (next && !apay)) {
        cc_error("out_of_memory", "where", "dispatch_decline");
        exit(1);
    }
    w->app = app;
    w->req = req;
    w->assigned = next;
    w->since_us = now;
    snprintf(w->visit_id, sizeof w->visit_id, "%s", v->id);
    snprintf(w->state, sizeof w->state, "%s", dd_visit_state_name(v->state));
    if (next)
        snprintf(w->caregiver_id, sizeof w->caregiver_id, "%s", v->caregiver_id);

    char ev1[CC_UUID_LEN], ev2[CC_UUID_LEN];
    cc_uuid(ev1);
    cc_uuid(ev2);
    cc_args_t a;
    cc_args_init(&a, &dd_stmts[DD_ST_DECLINE]);
    cc_args_int(&a, "district", v->district_id);
    cc_args_text(&a, "id", v->id);
    cc_args_text(&a, "caregiver", old);
    cc_args_text(&a, "order", v->order_id);
    cc_args_text(&a, "ev", ev1);
    cc_args_bytes(&a, "payload", dpay, dlen);
    if (next) {
        cc_args_text(&a, "next", v->caregiver_id);
        dd_offer_args(&a, v);
        cc_args_int(&a, "at", now);
        cc_args_text(&a, "ev2", ev2);
        cc_args_bytes(&a, "payload2", apay, alen);
    } else {
        static const char *const offer[] = { "next", "provider", "eta", "end", "travel",
                                             "at", "ev2", "payload2" };
        for (size_t i = 0; i < sizeof offer / sizeof *offer; i++)
            cc_args_null(&a, offer[i]);   /* the visit waits: no offer */
    }
    if (cc_db_call(app->rt.writer, &a, s_on_decline_done, w) != 0)
        cc_rt_fatal(a.st->name, NULL);
    free(dpay);
    free(apay);
    if (next) {
        dd_timer_arm(app, v, now);
        cc_info("visit_assigned", "visit_id", v->id, "order_id", v->order_id,
                "caregiver_id", v->caregiver_id, "from", reason);
    }
}

/* ---- deadlines and a dispatcher's decisions ------------------------------- */

typedef struct {
    dd_app_t *app;
    cc_http_req_t *req;             /* a dispatcher's decision: answered after commit */
    char visit_id[DD_ID_LEN];
    char state[16];
    int failed;
} s_resolve_t;

static void s_on_resolve_done(PGresult *res, void *arg)
{
    s_resolve_t *w = arg;
    cc_err_t err;
    if (dd_write_failed(w->app, dd_stmts[DD_ST_RESOLVE].name, res, &err)) {
        if (w->req)
            cc_http_reply_err(&w->req, &err);
        free(w);
        return;
    }
    const char *r = dd_result_text(res);
    if (!r)
        cc_rt_fatal(dd_stmts[DD_ST_RESOLVE].name, res);
    if (strcmp(r, "applied") == 0 && w->failed)
        cc_metric_inc(w->app->m_failures);
    if (w->req)
        cc_http_reply_json(&w->req, 200, json_pack("{s:s, s:s}", "visit_id", w->visit_id,
                                                   "state", w->state));
    free(w);
}

/* The event of a resolution to `to`, packed (NULL: none, for unconfirmed). */
static uint8_t *s_pack_resolution(const dd_visit_t *v, dd_visit_state_t to, const char *reason,
                                  const char **type, size_t *len)
{
    *type = NULL;
    if (to == DD_VISIT_FAILED) {
        Cc__VisitFailed f = CC__VISIT_FAILED__INIT;
        f.visit_id = (char *) v->id;
        f.order_id = (char *) v->order_id;
        f.reason = (char *) reason;
        *type = "VisitFailed";
        return cc_event_pack(&f.base, len);
    }
    if (to == DD_VISIT_COMPLETED) {
        /* Confirmed by a dispatcher: no check-out evidence. checked_out_us 0
         * lets orderd and billingd take the event's time; distance -1 is
         * "not known" (cc_event.h). */
        Cc__VisitCompleted m = CC__VISIT_COMPLETED__INIT;
        m.visit_id = (char *) v->id;
        m.order_id = (char *) v->order_id;
        m.caregiver_id = (char *) v->caregiver_id;
        m.provider_id = (char *) v->provider_id;
        m.checked_in_us = v->checked_in_us;
        m.checked_out_us = 0;
        m.distance_m = -1;
        *type = "VisitCompleted";
        return cc_event_pack(&m.base, len);
    }
    return NULL;
}

void dd_dispatch_resolve(dd_app_t *app, dd_visit_t *v, dd_visit_state_t to, const char *reason,
                         const char *by, cc_http_req_t *req)
{
    int64_t now = cc_now_us();
    dd_visit_state_t from = v->state;
    const char *type = NULL;
    size_t len = 0;
    uint8_t *pay = s_pack_resolution(v, to, reason, &type, &len);
    s_resolve_t *w = calloc(1, sizeof *w);
    if (!w || (type && !pay)) {
        cc_error("out_of_memory", "where", "dispatch_resolve");
        exit(1);
    }
    dd_timer_cancel(v);
    if (to == DD_VISIT_FAILED)
        snprintf(v->fail_reason, sizeof v->fail_reason, "%s", reason);
    if (to == DD_VISIT_UNCONFIRMED)
        v->unconfirmed_us = now;
    if (dd_visit_state_planned(from))
        app->dirty = 1;   /* the caregiver's slot is free */
    dd_world_set_state(app->world, v, to, now);
    w->app = app;
    w->req = req;
    w->failed = to == DD_VISIT_FAILED;
    snprintf(w->visit_id, sizeof w->visit_id, "%s", v->id);
    snprintf(w->state, sizeof w->state, "%s", dd_visit_state_name(to));
    char ev[CC_UUID_LEN];
    cc_uuid(ev);
    cc_args_t a;
    cc_args_init(&a, &dd_stmts[DD_ST_RESOLVE]);
    cc_args_int(&a, "district", v->district_id);
    cc_args_text(&a, "id", v->id);
    cc_args_text(&a, "from", dd_visit_state_stored(from));
    cc_args_text(&a, "to", dd_visit_state_name(to));
    cc_args_text(&a, "reason", to == DD_VISIT_FAILED ? reason : NULL);
    cc_args_text(&a, "by", by);
    cc_args_int(&a, "at", now);
    cc_args_text(&a, "order", v->order_id);
    cc_args_text(&a, "type", type);
    cc_args_text(&a, "ev", type ? ev : NULL);
    if (pay)
        cc_args_bytes(&a, "payload", pay, len);
    else
        cc_args_null(&a, "payload");
    if (cc_db_call(app->rt.writer, &a, s_on_resolve_done, w) != 0)
        cc_rt_fatal(a.st->name, NULL);
    free(pay);
    cc_warn("visit_resolved", "visit_id", v->id, "order_id", v->order_id, "from",
            dd_visit_state_name(from), "to", dd_visit_state_name(to), "reason",
            to == DD_VISIT_FAILED ? reason : NULL, "by", by ? "dispatcher" : "deadline");
}

/* ---- sweep -------------------------------------------------------------- */

void dd_retry_reset(dd_app_t *app)
{
    free(app->retry_q);
    app->retry_q = NULL;
    app->retry_n = 0;
    app->retry_cursor = 0;
}

/* A retry pass works through a sorted snapshot of the waiting list, so a
 * long queue is sorted once per pass, not once per tick. */
static void s_retry_snapshot(dd_app_t *app)
{
    dd_retry_reset(app);
    dd_visit_t **q = NULL;
    size_t n = dd_world_waiting(app->world, &q);
    if (n == (size_t) -1 || n == 0)
        return;
    app->retry_q = q;
    app->retry_n = n;
    app->retry_gen = dd_world_generation(app->world);
}

static void s_on_deadlines(PGresult *res, void *arg)
{
    dd_app_t *app = arg;
    app->deadlines_reading = 0;
    const char *what = NULL;
    dd_deadlines_t d;
    if (dd_store_load_deadlines(&d, res, &what) != 0) {
        /* A bad edit or a lost connection: keep the rules we have. */
        cc_warn("deadlines_not_reloaded", "what", what, "status",
                PQresStatus(PQresultStatus(res)));
        return;
    }
    dd_app_set_deadlines(app, &d);
}

/* Re-read table deadlines every --deadlines-refresh-s (an operator's
 * UPDATE applies without a restart), one read at a time. */
static void s_deadlines_refresh(dd_app_t *app)
{
    int64_t mono = cc_mono_us();
    if (app->deadlines_reading
        || mono - app->last_deadlines_mono_us < app->deadlines_refresh_s * CC_US_PER_S)
        return;
    app->last_deadlines_mono_us = mono;
    cc_args_t a;
    cc_args_init(&a, &dd_stmts[DD_ST_LOAD_DEADLINES]);
    if (cc_db_call(app->rt.reader, &a, s_on_deadlines, app) == 0)
        app->deadlines_reading = 1;
}

/* Deadlines (dd_deadline.h), every tick over the active list (no sorting):
 * each open visit past its resolution, and seen so in monotonic time
 * (dd_deadline_ripe: a wall-clock step fails nothing), is resolved, at most
 * S_RESOLVE_PER_TICK a tick so that a backlog (a restart after a long
 * outage) does not stall the loop; the rest wait for the next tick, still
 * shown overdue. Offers whose timer could not be armed get one. */
static void s_deadlines(dd_app_t *app, int64_t now)
{
    size_t nactive, budget = S_RESOLVE_PER_TICK, overdue = 0, unconfirmed = 0;
    int64_t mono = cc_mono_us();
    dd_visit_t *const *active = dd_world_active(app->world, &nactive);
    for (size_t i = 0; i < nactive;) {
        dd_visit_t *v = active[i];
        dd_deadline_t d;
        /* dd_deadline_ripe's answer from the same deadline (its stage is
         * none exactly when due is): one dd_deadline_of per visit a tick,
         * and cc_hold_ripe still every tick for every open one. */
        dd_due_t due = dd_deadline_due(v, dd_app_rule(app, v), now, &d);
        int ripe = due != DD_DUE_NONE
                   && cc_hold_ripe(&v->hold, now, mono, d.resolve_us, d.hold_us);
        if (ripe && budget > 0) {
            budget--;
            cc_metric_inc(app->m_resolved[d.stage]);
            dd_dispatch_resolve(app, v, d.to, d.reason, NULL, NULL);
            /* A final state leaves the active list (the last one moves to
             * i); unconfirmed stays in it, a stage further. */
            active = dd_world_active(app->world, &nactive);
            if (i < nactive && active[i] == v)
                i++;
            continue;
        }
        if (due == DD_DUE_OVERDUE || due == DD_DUE_RESOLVE) {
            overdue++;
            if (v->overdue_logged != (int) d.stage) {   /* once per stage */
                v->overdue_logged = (int) d.stage;
                cc_warn("visit_overdue", "visit_id", v->id, "order_id", v->order_id,
                        "stage", dd_stage_name(d.stage));
            }
        }
        if (v->state == DD_VISIT_UNCONFIRMED)
            unconfirmed++;
        /* Running long: the caregiver's next visits may be better with
         * someone else. Once per visit. */
        if (v->state == DD_VISIT_CHECKED_IN && !v->ran_long
            && now > v->planned_end_us + S_RAN_LONG_US) {
            v->ran_long = 1;
            dd_reopt_kick(app, v->caregiver ? v->caregiver->district_id : v->district_id);
        }
        if (v->state == DD_VISIT_ASSIGNED && !v->timer)
            dd_timer_arm(app, v, now);
        if (v->state == DD_VISIT_PLANNED && now >= v->release_us)
            dd_dispatch_publish(app, v, now);
        i++;
    }
    cc_metric_set(app->m_overdue, (double) overdue);
    cc_metric_set(app->m_unconfirmed, (double) unconfirmed);
}

static void s_sweep(dd_app_t *app, int64_t now)
{
    /* Deadlines hold against a step (dd_deadline_ripe); shown for operators. */
    (void) cc_clock_watch(&app->clock, app->m_clock_steps);
    s_deadlines_refresh(app);
    s_deadlines(app, now);
    /* The queue, most urgent first: when capacity changed, and now and then
     * (time passing opens shifts). A pass is bounded in time so the loop
     * stays responsive; it resumes at the next tick where it stopped. */
    if (app->dirty || now - app->last_retry_us >= app->retry_interval_s * CC_US_PER_S) {
        app->dirty = 0;
        app->last_retry_us = now;
        s_retry_snapshot(app);
        app->retry_cursor = 0;
    }
    if (app->retry_q && app->retry_gen != dd_world_generation(app->world)) {
        /* Visits were freed since the snapshot: take a new one, same place. */
        size_t at = app->retry_cursor;
        s_retry_snapshot(app);
        app->retry_cursor = at < app->retry_n ? at : app->retry_n;
    }
    if (app->retry_q) {
        int64_t t0 = cc_mono_us();
        size_t i = app->retry_cursor;
        for (; i < app->retry_n && cc_mono_us() - t0 < S_RETRY_BUDGET_US; i++)
            dd_dispatch_try(app, app->retry_q[i], now);   /* skips what is no longer waiting */
        app->retry_cursor = i;
        if (i >= app->retry_n)
            dd_retry_reset(app);
    }
    dd_reopt_tick(app, now);
    dd_capacity_tick(app, now);
    if (now - app->last_prune_us >= S_PRUNE_EVERY_US) {
        app->last_prune_us = now;
        dd_world_prune(app->world, now - app->keep_finished_s * CC_US_PER_S);
    }
    dd_update_gauges(app);
}

static void s_on_sweep(evutil_socket_t fd, short what, void *arg)
{
    (void) fd;
    (void) what;
    /* Runs from start (loaded) until stop deletes it. */
    s_sweep(arg, cc_now_us());
}

int dd_sweep_start(dd_app_t *app)
{
    app->sweep = event_new(app->rt.base, -1, EV_PERSIST, s_on_sweep, app);
    if (!app->sweep)
        return -1;
    struct timeval tv = {0, S_SWEEP_MS * CC_US_PER_MS};
    return event_add(app->sweep, &tv);
}
