/* dd_events: what dispatchd does with orderd's log.
 *
 * VisitReleased: the visit enters dispatch and is offered at once to the
 * best caregiver (VisitAssigned), or waits in the queue. OrderReleased (the
 * release before it was split per reader, still in older logs) the same
 * for a visit service, reading only VisitReleased's fields (never diet).
 * OrderCancelled: the visit is dropped from its caregiver's plan and the
 * queue; no event (orderd already told everyone).
 * Other types: skipped (the consumer advances the position).
 *
 * The decision is applied to the working set immediately, so the next event
 * of the same batch sees it; the one SQL call per event starts with
 * cc_consume(), and when it reports the event as seen before (or the order
 * as known) the tentative visit is taken back in the result callback. */
#include "dd_events.h"
#include "dd_reopt.h"
#include "dd_model.h"
#include "cc_revoke.h"
#include "dd_dispatch.h"
#include "dd_store.h"
#include "cc_daemon.h"
#include "cc_event.h"
#include "cc_log.h"
#include "cc_rt.h"
#include "cc_util.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Window used when OrderReleased carries none (emergencies "now"). */
#define S_DEFAULT_WINDOW_US (2 * CC_US_PER_HOUR)

typedef struct dd_released {
    dd_app_t *app;
    char visit_id[DD_ID_LEN];
    int assigned;
    int bumped;                 /* an unaccepted routine visit gave way */
    int64_t released_us;        /* orderd's commit time of the release */
} s_released_t;

static void s_on_released_done(PGresult *res, void *arg)
{
    s_released_t *r = arg;
    dd_app_t *app = r->app;
    if (dd_write_failed(app, dd_stmts[DD_ST_RELEASED].name, res, NULL)) {
        free(r);   /* the consumer retries the event after the reload */
        return;
    }
    const char *t = dd_result_text(res);
    if (!t)
        cc_rt_fatal(dd_stmts[DD_ST_RELEASED].name, res);
    if (strcmp(t, "applied") == 0) {
        cc_metric_inc(app->m_events_applied);
        if (r->assigned) {
            cc_metric_inc(app->m_assigned);
            cc_metric_observe(app->m_latency,
                              (double) (cc_now_us() - r->released_us) / CC_US_PER_S);
        }
    } else {
        if (r->bumped) {
            /* The bump was decided in memory but not applied with the
             * release: memory and store disagree; reload. */
            cc_error("release_not_applied", "visit_id", r->visit_id, "result", t);
            cc_rt_reload(&app->rt, "release_not_applied");
            free(r);
            return;
        }
        /* Seen before with another visit, or the order is known: take the
         * tentative one back. (A re-sent batch that had committed reports
         * 'applied': sql/dispatchd/002_released_replay.sql.) */
        dd_visit_t *v = dd_world_visit(app->world, r->visit_id);
        if (v) {
            dd_timer_cancel(v);
            dd_world_remove_visit(app->world, v);
            app->dirty = 1;
        }
        cc_metric_inc(app->m_events_skipped);
    }
    free(r);
}

/* orderd's commit time of env: how far behind its log we are. */
static void s_lag(dd_app_t *app, const Cc__Envelope *env, int64_t now)
{
    if (env->time_us > 0) {
        double lag = (double) (now - env->time_us) / 1e6;
        cc_metric_set(app->m_lag, lag > 0 ? lag : 0);
    }
}

/* Every effect function starts with the event being consumed (cc_consume). */
static void s_consumed(cc_args_t *a, dd_st_t st, const Cc__Envelope *env)
{
    cc_args_init(a, &dd_stmts[st]);
    cc_args_text(a, "producer", "orderd");
    cc_args_int(a, "seq", (int64_t) env->seq);
    cc_args_text(a, "event_id", env->id);
}

/* What dispatch reads of a release, from either release type. */
typedef struct {
    const char *order_id, *elder_id, *ability_level, *notes, *preferred_caregiver_id;
    Cc__Service service;
    int64_t window_start_us, window_end_us;
    uint32_t district_id;
    double lat, lon;
    protobuf_c_boolean emergency;
    int32_t priority;
    ProtobufCBinaryData address_sealed;   /* VisitReleased only: none in OrderReleased */
} s_release_t;

/* The schema (cc_event.h) has checked the ids (UUIDs, which fit DD_ID_LEN)
 * and the coordinates; the consumer checked env->id. */
static void s_released(const Cc__Envelope *env, const s_release_t *m, dd_app_t *app,
                       int64_t now, dd_effect_t *e)
{
    s_lag(app, env, now);
    if (!dd_service_is_visit((int) m->service)) {
        cc_metric_inc(app->m_events_skipped);   /* meals are meald's */
        return;
    }
    if (dd_world_visit_by_order(app->world, m->order_id)) {
        cc_metric_inc(app->m_events_skipped);   /* redelivered: applied already */
        return;
    }
    dd_visit_t *v = dd_visit_new();
    if (!v) {
        cc_error("out_of_memory", "where", "order_released");
        exit(1);
    }
    cc_uuid(v->id);
    snprintf(v->order_id, sizeof v->order_id, "%s", m->order_id);
    snprintf(v->elder_id, sizeof v->elder_id, "%s", m->elder_id);
    snprintf(v->preferred_caregiver_id, sizeof v->preferred_caregiver_id, "%s",
             m->preferred_caregiver_id);
    v->service = (int) m->service;
    v->ability = dd_ability_parse(m->ability_level);
    v->emergency = m->emergency || m->service == CC__SERVICE__EMERGENCY;
    v->priority = m->priority;
    v->district_id = m->district_id;
    v->lat = m->lat;
    v->lon = m->lon;
    v->window_start_us = m->window_start_us > 0 ? m->window_start_us : now;
    v->window_end_us = m->window_end_us > v->window_start_us
                           ? m->window_end_us : v->window_start_us + S_DEFAULT_WINDOW_US;
    if (m->notes && m->notes[0])
        v->notes = strndup(m->notes, 1000);
    /* Kept sealed as it came (cc_event checked its length) once it opens. */
    if (m->address_sealed.len
        && dd_address_ok(app, m->order_id, m->address_sealed.data, m->address_sealed.len)) {
        v->address_sealed = malloc(m->address_sealed.len);
        if (!v->address_sealed) {
            cc_error("out_of_memory", "where", "order_released");
            exit(1);
        }
        memcpy(v->address_sealed, m->address_sealed.data, m->address_sealed.len);
        v->address_sealed_len = m->address_sealed.len;
    }
    v->created_us = now;
    v->release_us = dd_dispatch_release_us(app, v);
    v->state = DD_VISIT_WAITING;
    dd_visit_t *keep = v;
    if (dd_world_add_visit(app->world, &v) != 0) {
        dd_visit_free(&v);
        cc_error("out_of_memory", "where", "order_released");
        exit(1);
    }
    v = keep;
    e->visit = v;

    /* Offer at once when someone qualifies and fits. */
    dd_model_params_t p;
    dd_app_model_params(app, now, &p);
    size_t n;
    dd_caregiver_t *const *cgs = dd_world_caregivers(app->world, &n);
    dd_match_t match;
    int64_t t0 = cc_mono_us();
    dd_visit_t *bumped = NULL;   /* emergencies go first (dd_model_match_urgent) */
    /* Not to be offered yet (dd_dispatch_release_us): planned only, in
     * memory; the store keeps it waiting and the sweep offers it. */
    int hold = now < v->release_us;
    int found = (hold ? dd_model_match(cgs, n, v, &p, &match)
                      : dd_model_match_urgent(cgs, n, v, &p, &match, &bumped)) == 0;
    cc_metric_observe(app->m_match_latency, (double) (cc_mono_us() - t0) / CC_US_PER_S);
    if (bumped)
        dd_bump_apply(app, bumped, &e->bump, now);
    e->bumped = bumped;
    if (found && dd_world_assign(app->world, v, &match, now) != 0) {
        if (bumped) {
            cc_error("out_of_memory", "where", "order_released");
            exit(1);   /* the bump is decided in memory only: reload */
        }
        found = 0;
    }
    if (found && hold) {
        dd_world_set_state(app->world, v, DD_VISIT_PLANNED, now);
        found = 0;   /* nothing offered: written as waiting */
    } else if (!found)
        cc_metric_inc(app->m_assign_none);
    else if (v->emergency)   /* an emergency breaks its caregiver's day */
        dd_reopt_kick(app, match.caregiver->district_id);
    e->assigned = found;

    cc_uuid(e->ev);
    if (found) {
        Cc__VisitAssigned a = CC__VISIT_ASSIGNED__INIT;
        a.visit_id = v->id;
        a.order_id = v->order_id;
        a.caregiver_id = v->caregiver_id;
        a.provider_id = v->provider_id;
        a.eta_us = v->eta_us;
        a.travel_s = v->travel_s;
        e->payload = cc_event_pack(&a.base, &e->plen);
    }
    s_released_t *r = calloc(1, sizeof *r);
    if (!r || (found && !e->payload)) {
        cc_error("out_of_memory", "where", "order_released");
        exit(1);
    }
    r->app = app;
    r->assigned = found;
    r->bumped = bumped != NULL;
    r->released_us = env->time_us > 0 ? env->time_us : now;
    snprintf(r->visit_id, sizeof r->visit_id, "%s", v->id);
    e->released = r;
    e->done = s_on_released_done;
    e->arg = r;

    cc_args_t *a = &e->args;
    s_consumed(a, bumped ? DD_ST_RELEASED_BUMP : DD_ST_RELEASED, env);
    cc_args_text(a, "id", v->id);
    cc_args_text(a, "order", v->order_id);
    cc_args_text(a, "elder", v->elder_id);
    cc_args_text(a, "service", cc_service_name(v->service));
    cc_args_text(a, "ability", dd_ability_name(v->ability));
    cc_args_bool(a, "emergency", v->emergency);
    cc_args_int(a, "priority", v->priority);
    cc_args_int(a, "district", v->district_id);
    cc_args_float(a, "lat", v->lat);
    cc_args_float(a, "lon", v->lon);
    cc_args_int(a, "ws", v->window_start_us);
    cc_args_int(a, "we", v->window_end_us);
    cc_args_text(a, "pref", v->preferred_caregiver_id);
    cc_args_text(a, "notes", v->notes ? v->notes : "");
    cc_args_int(a, "created", v->created_us);
    if (v->address_sealed)
        cc_args_bytes(a, "address", v->address_sealed, v->address_sealed_len);
    else
        cc_args_null(a, "address");
    if (found) {
        cc_args_text(a, "caregiver", v->caregiver_id);
        dd_offer_args(a, v);
        cc_args_text(a, "ev", e->ev);
        cc_args_bytes(a, "payload", e->payload, e->plen);
    } else {
        static const char *const offer[] = { "caregiver", "provider", "eta", "end", "travel",
                                             "ev", "payload" };
        for (size_t i = 0; i < sizeof offer / sizeof *offer; i++)
            cc_args_null(a, offer[i]);   /* the visit waits: no offer */
    }
    if (bumped)
        dd_bump_args(a, bumped, &e->bump);
}

static void s_on_cancelled_done(PGresult *res, void *arg)
{
    dd_app_t *app = arg;
    if (dd_write_failed(app, dd_stmts[DD_ST_CANCELLED].name, res, NULL))
        return;
    const char *t = dd_result_text(res);
    if (!t)
        cc_rt_fatal(dd_stmts[DD_ST_CANCELLED].name, res);
    cc_metric_inc(strcmp(t, "applied") == 0 ? app->m_events_applied : app->m_events_skipped);
}

static void s_cancelled(const Cc__Envelope *env, const Cc__OrderCancelled *m, dd_app_t *app,
                        int64_t now, dd_effect_t *e)
{
    s_lag(app, env, now);
    dd_visit_t *v = dd_world_visit_by_order(app->world, m->order_id);
    if (!v || dd_visit_state_final(v->state)) {
        /* Not ours (a meal, cancelled before release) or done already. */
        cc_metric_inc(app->m_events_skipped);
        return;
    }
    dd_timer_cancel(v);
    dd_world_set_state(app->world, v, DD_VISIT_CANCELLED, now);
    app->dirty = 1;   /* the caregiver's slot is free again */
    cc_metric_inc(app->m_cancelled);
    e->visit = v;
    e->done = s_on_cancelled_done;
    e->arg = app;
    s_consumed(&e->args, DD_ST_CANCELLED, env);
    cc_args_int(&e->args, "district", v->district_id);
    cc_args_text(&e->args, "id", v->id);
    cc_args_int(&e->args, "at", now);
}

/* OrderReleased (logs written before the split) has VisitReleased's fields;
 * diet is not read. */
#define S_RELEASE_OF(m)                                                                      \
    ((s_release_t) {                                                                         \
        .order_id = (m)->order_id, .elder_id = (m)->elder_id,                                \
        .ability_level = (m)->ability_level, .notes = (m)->notes,                            \
        .preferred_caregiver_id = (m)->preferred_caregiver_id, .service = (m)->service,      \
        .window_start_us = (m)->window_start_us, .window_end_us = (m)->window_end_us,        \
        .district_id = (m)->district_id, .lat = (m)->lat, .lon = (m)->lon,                   \
        .emergency = (m)->emergency, .priority = (m)->priority,                              \
    })

int dd_events_decide(dd_app_t *app, const Cc__Envelope *env, const ProtobufCMessage *msg,
                     int64_t now, dd_effect_t *e)
{
    memset(e, 0, sizeof *e);
    if (strcmp(env->type, "VisitReleased") == 0) {
        s_release_t r = S_RELEASE_OF((const Cc__VisitReleased *) msg);
        r.address_sealed = ((const Cc__VisitReleased *) msg)->address_sealed;
        s_released(env, &r, app, now, e);
    } else if (strcmp(env->type, "OrderReleased") == 0) {
        s_release_t r = S_RELEASE_OF((const Cc__OrderReleased *) msg);
        s_released(env, &r, app, now, e);
    } else if (strcmp(env->type, "OrderCancelled") == 0) {
        s_cancelled(env, (const Cc__OrderCancelled *) msg, app, now, e);
    } else {
        return -1;
    }
    return 0;
}

void dd_effect_free(dd_effect_t *e)
{
    free(e->released);
    free(e->payload);
    free(e->bump.pay);
    e->released = NULL;
    e->payload = e->bump.pay = NULL;
}

static int s_on_event(cc_consumer_t *c, const Cc__Envelope *env, const ProtobufCMessage *msg,
                      void *arg)
{
    dd_app_t *app = arg;
    int64_t now = cc_now_us();
    dd_effect_t e;
    if (dd_events_decide(app, env, msg, now, &e) != 0)
        return 0;   /* not in the table below */
    if (e.done) {
        if (cc_consumer_call(c, &e.args, e.done, e.arg) != 0)
            cc_rt_fatal(e.args.st->name, NULL);
        e.released = NULL;   /* the result callback owns it */
    }
    dd_visit_t *v = e.visit;
    if (e.done == s_on_cancelled_done) {
        cc_info("visit_cancelled", "visit_id", v->id, "order_id", v->order_id);
    } else if (e.assigned) {
        dd_timer_arm(app, v, now);
        cc_info("visit_assigned", "visit_id", v->id, "order_id", v->order_id, "caregiver_id",
                v->caregiver_id, "from", "release");
    } else if (v) {
        cc_info("visit_queued", "visit_id", v->id, "order_id", v->order_id);
    }
    dd_effect_free(&e);
    return 0;
}

/* Other types: skipped by the consumer. */
const cc_consumer_entry_t dd_events_from_orderd[] = {
    { "VisitReleased", &cc__visit_released__descriptor, s_on_event },
    { "OrderReleased", &cc__order_released__descriptor, s_on_event },
    { "OrderCancelled", &cc__order_cancelled__descriptor, s_on_event },
    CC_REVOKE_CONSUMER_ENTRY,
    { NULL, NULL, NULL },
};
