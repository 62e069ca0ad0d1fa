/* bd_events: see bd_events.h. */
#include "bd_events.h"
#include "cc_revoke.h"
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "bd_store.h"
#include "cc_event.h"
#include "cc_log.h"
#include "cc_util.h"

#define S_PRODUCER "orderd"

typedef enum { S_CARD, S_STATUS, S_PLACED, S_CLOSED, S_DELIVERED } s_kind_t;

/* One queued effect, for its result callback. */
struct bd_effect_ctx {
    bd_app_t *app;
    s_kind_t kind;
    const char *stmt;
    int64_t t0_us;
    bd_hold_decision_t hd;       /* S_PLACED */
    bd_close_decision_t cd;      /* S_CLOSED */
    char card_id[BD_ID_LEN];     /* S_STATUS */
    bd_card_status_t prev_status;
    bd_card_status_t new_status;
};
typedef struct bd_effect_ctx s_ctx_t;

static void s_count(const char *name, const char *label, const char *value, const char *help)
{
    char full[160];
    if (label)
        snprintf(full, sizeof full, "%s{%s=\"%s\"}", name, label, value);
    else
        snprintf(full, sizeof full, "%s", name);
    cc_metric_inc(cc_metrics_counter(full, help));
}

/* The result of an effect function: 'applied', or why not; NULL for an
 * error (logged and counted, the working set reloaded: memory took the
 * decision ahead of the store, and later decisions of the batch built on
 * it, so it cannot be taken back alone; the consumer then retries the
 * event from its position against the store's state).
 *
 * 'duplicate' (cc_consume saw the event id) counts as applied: this process
 * hands a handler only events after the stored position, so the one way to
 * meet an applied event is cc_db re-sending a batch whose COMMIT went
 * through before the connection dropped. That first attempt applied exactly
 * the decision memory holds, so memory keeps it. Other refusals ('exists',
 * 'not_held', 'unknown_order') mean the store's state differs: revert. */
static const char *s_status(s_ctx_t *x, PGresult *res)
{
    x->app->writes_done++;
    if (cc_db_res_class(res) != CC_DB_OK) {
        cc_rt_write_failed(&x->app->rt, x->stmt, res, 1, NULL);
        return NULL;
    }
    if (!bd_res_ok(res))
        bd_fatal_sql(x->stmt, res);
    cc_metric_observe(x->app->m_apply_seconds, (double)(cc_mono_us() - x->t0_us) / CC_US_PER_S);
    const char *st = PQgetvalue(res, 0, 0);
    if (strcmp(st, "duplicate") == 0) {
        cc_metric_inc(x->app->m_replays);
        return "applied";
    }
    return st;
}

static void s_on_card(PGresult *res, void *arg)
{
    s_ctx_t *x = arg;
    const char *st = s_status(x, res);
    if (!st) {
        free(x);
        return;
    }
    /* The card was opened in memory when queued; 'exists' or 'duplicate' mean
     * the store already had it, so memory and store agree either way. */
    if (strcmp(st, "applied") == 0)
        cc_metric_inc(x->app->m_cards);
    else
        cc_metric_inc(x->app->m_replays);
    free(x);
}

static void s_on_status(PGresult *res, void *arg)
{
    s_ctx_t *x = arg;
    const char *st = s_status(x, res);
    if (!st) {
        free(x);
        return;
    }
    if (strcmp(st, "applied") != 0) {
        bd_card_t *c = bd_ledger_card(x->app->ledger, x->card_id);
        if (c && c->status == x->new_status)
            c->status = x->prev_status;
        cc_metric_inc(x->app->m_replays);
    }
    free(x);
}

static void s_on_placed(PGresult *res, void *arg)
{
    s_ctx_t *x = arg;
    bd_app_t *app = x->app;
    const char *st = s_status(x, res);
    if (!st) {
        free(x);
        return;
    }
    if (strcmp(st, "applied") == 0) {
        if (x->hd.held)
            cc_metric_inc(app->m_holds);
        else
            s_count("billingd_denials_total", "reason", x->hd.reason,
                    "OrderPlaced refused, by reason");
        cc_debug("order_placed_applied", "order_id", x->hd.hold.order_id,
                 "outcome", x->hd.held ? "held" : x->hd.reason);
    } else {
        bd_ledger_uncommit_hold(app->ledger, &x->hd);
        cc_metric_inc(app->m_replays);
        cc_info("order_placed_not_applied", "order_id", x->hd.hold.order_id, "status", st);
    }
    free(x);
}

static void s_on_closed(PGresult *res, void *arg)
{
    s_ctx_t *x = arg;
    bd_app_t *app = x->app;
    const char *st = s_status(x, res);
    if (!st) {
        free(x);
        return;
    }
    if (strcmp(st, "applied") == 0) {
        cc_metric_inc(x->cd.capture ? app->m_captures : app->m_releases);
    } else {
        bd_ledger_uncommit_close(app->ledger, &x->cd);
        cc_metric_inc(app->m_replays);
        cc_info("order_closed_not_applied", "order_id", x->cd.hold.order_id, "status", st);
    }
    free(x);
}

static void s_exec(cc_consumer_t *c, s_ctx_t *x, const cc_args_t *a, cc_db_fn *fn)
{
    x->t0_us = cc_mono_us();
    if (cc_consumer_call(c, a, fn, x) != 0) {
        /* Cannot queue: memory already holds the decision; restart cleanly. */
        cc_error("queue_failed", "stmt", x->stmt);
        exit(1);
    }
    x->app->writes_issued++;
}

static s_ctx_t *s_ctx(bd_app_t *app, s_kind_t kind, bd_st_t st)
{
    s_ctx_t *x = cc_xcalloc(sizeof *x, "bd_events");
    x->app = app;
    x->kind = kind;
    x->stmt = bd_stmts[st].name;
    return x;
}

/* ---- CardIssued / CardStatusChanged -------------------------------------------- */

/* Every effect function starts with the event being consumed. */
static void s_args(cc_args_t *a, bd_st_t st, const char *producer, const Cc__Envelope *env)
{
    cc_args_init(a, &bd_stmts[st]);
    cc_args_text(a, "producer", producer);
    cc_args_int(a, "seq", (int64_t)env->seq);
    cc_args_text(a, "event_id", env->id);
}

static int s_card_issued(bd_app_t *app, const Cc__Envelope *env, const ProtobufCMessage *msg,
                         bd_effect_t *e)
{
    const Cc__CardIssued *m = (const Cc__CardIssued *)msg;
    if (bd_ledger_card(app->ledger, m->card_id))   /* already known: nothing to do */
        return 0;
    const char *household = m->household[0] ? m->household : "none";
    bd_card_t *card = bd_ledger_open_card(app->ledger, m->card_id, m->district_id, household,
                                          m->age_years);
    if (!card) {
        cc_error("out_of_memory", "where", "open_card");
        exit(1);
    }
    snprintf(card->elder_id, sizeof card->elder_id, "%s", m->elder_id);
    cc_args_t *a = &e->args;
    s_args(a, BD_ST_CARD_ISSUED, S_PRODUCER, env);
    cc_args_text(a, "card", m->card_id);
    cc_args_text(a, "elder", m->elder_id);
    cc_args_int(a, "district", m->district_id);
    cc_args_text(a, "household", household);
    cc_args_int(a, "age", m->age_years);
    e->ctx = s_ctx(app, S_CARD, BD_ST_CARD_ISSUED);
    return 0;
}

static int s_card_status(bd_app_t *app, const Cc__Envelope *env, const ProtobufCMessage *msg,
                         bd_effect_t *e)
{
    const Cc__CardStatusChanged *m = (const Cc__CardStatusChanged *)msg;
    int st = bd_card_status_parse(m->status);   /* the schema allows only these */
    bd_card_t *card = bd_ledger_card(app->ledger, m->card_id);
    if (st < 0 || !card)
        return 0;   /* an unknown card: skipped */
    s_ctx_t *x = s_ctx(app, S_STATUS, BD_ST_CARD_STATUS);
    snprintf(x->card_id, sizeof x->card_id, "%s", card->card_id);
    x->prev_status = card->status;
    x->new_status = (bd_card_status_t)st;
    card->status = (bd_card_status_t)st;
    cc_args_t *a = &e->args;
    s_args(a, BD_ST_CARD_STATUS, S_PRODUCER, env);
    cc_args_text(a, "card", x->card_id);
    cc_args_text(a, "status", bd_card_status_name(st));
    e->ctx = x;
    return 0;
}

/* ---- OrderPlaced ------------------------------------------------------------------ */

static int s_order_placed(bd_app_t *app, const Cc__Envelope *env,
                          const ProtobufCMessage *msg, bd_effect_t *e)
{
    const Cc__OrderPlaced *m = (const Cc__OrderPlaced *)msg;
    if (bd_ledger_hold(app->ledger, m->order_id))   /* held already: nothing to do */
        return 0;
    int service = (int)m->service;
    bd_order_t o = {
        .order_id = m->order_id,
        .card_id = m->card_id,
        .service = service,
        .emergency = m->emergency || service == CC__SERVICE__EMERGENCY,
        .mandated = m->mandated,
        .district_id = m->district_id,
        .household = m->household,
        .age_years = m->age_years,
        .placed_us = env->time_us ? env->time_us : cc_now_us(),
    };
    s_ctx_t *x = e->ctx = s_ctx(app, S_PLACED, BD_ST_ORDER_PLACED);
    bd_ledger_decide_hold(app->ledger, app->pricing, &o, &x->hd);
    bd_hold_decision_t *d = &x->hd;
    if (!d->held)   /* keep the order id for logs and the callback */
        snprintf(d->hold.order_id, sizeof d->hold.order_id, "%s", m->order_id);
    if (bd_ledger_commit_hold(app->ledger, d) < 0) {
        cc_error("hold_commit_failed", "order_id", m->order_id);
        exit(1);
    }

    /* The event billingd appends, built here and stored as bytea. */
    const char *type;
    if (d->held) {
        Cc__FundsHeld fh = CC__FUNDS_HELD__INIT;
        fh.order_id = m->order_id;
        fh.card_id = m->card_id;
        fh.price_fen = d->hold.price_fen;
        fh.subsidy_fen = d->hold.subsidy_fen;
        fh.held_fen = d->hold.held_fen;
        fh.arrears_fen = d->hold.arrears_fen;
        e->payload = cc_event_pack(&fh.base, &e->plen);
        type = "FundsHeld";
    } else {
        Cc__FundsDenied fd = CC__FUNDS_DENIED__INIT;
        fd.order_id = m->order_id;
        fd.card_id = m->card_id;
        fd.price_fen = d->quote.price_fen;
        fd.available_fen = d->available_fen;
        fd.reason = (char *)d->reason;
        e->payload = cc_event_pack(&fd.base, &e->plen);
        type = "FundsDenied";
    }
    if (!e->payload) {
        cc_error("out_of_memory", "where", "pack");
        exit(1);
    }
    const char *svc = bd_service_name(service);
    cc_args_t *a = &e->args;
    s_args(a, BD_ST_ORDER_PLACED, S_PRODUCER, env);
    cc_args_text(a, "order", m->order_id);
    cc_args_text(a, "card", m->card_id);
    cc_args_int(a, "district", m->district_id);
    cc_args_text(a, "service", svc ? svc : "unknown");
    cc_args_bool(a, "emergency", o.emergency);
    cc_args_text(a, "state", d->held ? "held" : "denied");
    cc_args_text(a, "reason", d->held ? NULL : d->reason);
    cc_args_int(a, "price", d->held ? d->hold.price_fen : d->quote.price_fen);
    cc_args_int(a, "subsidy", d->held ? d->hold.subsidy_fen : 0);
    cc_args_int(a, "held", d->held ? d->hold.held_fen : 0);
    cc_args_int(a, "arrears", d->held ? d->hold.arrears_fen : 0);
    if (d->held && d->hold.rule_id)
        cc_args_int(a, "rule", d->hold.rule_id);
    else
        cc_args_null(a, "rule");
    cc_args_int(a, "month", d->held ? d->hold.month : bd_month_of(o.placed_us));
    cc_args_text(a, "transfer", e->transfer);
    if (bd_store_postings(a, &d->postings, &e->accounts, &e->amounts) != 0) {
        cc_error("out_of_memory", "where", "arrays");
        exit(1);
    }
    cc_args_text(a, "out_type", type);
    cc_args_text(a, "out_id", e->out_id);
    cc_args_bytes(a, "payload", e->payload, e->plen);
    return 0;
}

/* ---- OrderCompleted / OrderCancelled / OrderFailed ------------------------------- */

static int s_order_closed(bd_app_t *app, bd_effect_t *e, const Cc__Envelope *env,
                          const char *order_id, int capture,
                          const char *provider_id, const char *reason)
{
    if (!bd_ledger_hold(app->ledger, order_id))
        return 0;   /* denied, never placed here, or closed already: nothing to do */
    s_ctx_t *x = e->ctx = s_ctx(app, S_CLOSED, BD_ST_ORDER_CLOSED);
    bd_close_decision_t *d = &x->cd;
    int rc = capture ? bd_ledger_decide_capture(app->ledger, order_id, provider_id, d)
                     : bd_ledger_decide_release(app->ledger, order_id, d);
    if (rc < 0)
        return -1;   /* the hold's card is gone: cannot happen */
    if (bd_ledger_commit_close(app->ledger, d) < 0) {
        cc_error("close_commit_failed", "order_id", order_id);
        exit(1);
    }
    const char *type;
    if (capture) {
        Cc__HoldCaptured hc = CC__HOLD_CAPTURED__INIT;
        hc.order_id = (char *)order_id;
        hc.card_id = d->hold.card_id;
        hc.charged_fen = d->charged_fen;
        hc.subsidy_fen = d->hold.subsidy_fen;
        hc.provider_id = d->provider_id;
        e->payload = cc_event_pack(&hc.base, &e->plen);
        type = "HoldCaptured";
    } else {
        Cc__HoldReleased hr = CC__HOLD_RELEASED__INIT;
        hr.order_id = (char *)order_id;
        hr.card_id = d->hold.card_id;
        hr.released_fen = d->released_fen;
        hr.arrears_paid_fen = d->arrears_paid_fen;
        e->payload = cc_event_pack(&hr.base, &e->plen);
        type = "HoldReleased";
    }
    cc_args_t *a = &e->args;
    s_args(a, BD_ST_ORDER_CLOSED, S_PRODUCER, env);
    cc_args_text(a, "order", order_id);
    cc_args_text(a, "state", capture ? "captured" : "released");
    cc_args_text(a, "reason", reason && reason[0] ? reason : NULL);
    cc_args_text(a, "provider", capture ? d->provider_id : NULL);
    cc_args_int(a, "held", d->hold.held_fen);
    cc_args_text(a, "transfer", e->transfer);
    if (!e->payload || bd_store_postings(a, &d->postings, &e->accounts, &e->amounts) != 0) {
        cc_error("out_of_memory", "where", "close");
        exit(1);
    }
    cc_args_text(a, "out_type", type);
    cc_args_text(a, "out_id", e->out_id);
    cc_args_int(a, "district", d->hold.district_id);
    cc_args_bytes(a, "payload", e->payload, e->plen);
    return 0;
}

static int s_order_completed(bd_app_t *app, const Cc__Envelope *env,
                             const ProtobufCMessage *msg, bd_effect_t *e)
{
    const Cc__OrderCompleted *m = (const Cc__OrderCompleted *)msg;
    return s_order_closed(app, e, env, m->order_id, 1, m->provider_id, NULL);
}

static int s_order_cancelled(bd_app_t *app, const Cc__Envelope *env,
                             const ProtobufCMessage *msg, bd_effect_t *e)
{
    const Cc__OrderCancelled *m = (const Cc__OrderCancelled *)msg;
    return s_order_closed(app, e, env, m->order_id, 0, NULL,
                          m->reason[0] ? m->reason : "cancelled");
}

static int s_order_failed(bd_app_t *app, const Cc__Envelope *env,
                          const ProtobufCMessage *msg, bd_effect_t *e)
{
    const Cc__OrderFailed *m = (const Cc__OrderFailed *)msg;
    return s_order_closed(app, e, env, m->order_id, 0, NULL,
                          m->reason[0] ? m->reason : "failed");
}

/* ---- dispatchd's and meald's logs: delivery evidence ----------------------------- */

static void s_on_delivered(PGresult *res, void *arg)
{
    s_ctx_t *x = arg;
    x->app->writes_done++;
    if (cc_db_res_class(res) != CC_DB_OK) {
        /* Memory keeps no delivery record: nothing to take back; the
         * consumer retries the event. */
        cc_rt_write_failed(&x->app->rt, bd_stmts[BD_ST_DELIVERED].name, res, 0, NULL);
        free(x);
        return;
    }
    if (!bd_res_ok(res))
        bd_fatal_sql(bd_stmts[BD_ST_DELIVERED].name, res);
    cc_metric_observe(x->app->m_apply_seconds, (double)(cc_mono_us() - x->t0_us) / CC_US_PER_S);
    const char *st = PQgetvalue(res, 0, 0);
    char name[96];
    snprintf(name, sizeof name, "billingd_deliveries_total{outcome=\"%s\"}",
             strcmp(st, "applied") == 0 ? "recorded" : "repeat");
    cc_metric_inc(cc_metrics_counter(name, "delivery reports from dispatchd and meald"));
    free(x);
}

static int s_delivered(bd_app_t *app, bd_effect_t *e, const Cc__Envelope *env,
                       const char *producer, const char *order_id, const char *provider_id,
                       const char *visit_id, const char *caregiver_id,
                       const char *meal_point_id, int64_t started_us, int64_t completed_us,
                       int distance_m)
{
    e->ctx = s_ctx(app, S_DELIVERED, BD_ST_DELIVERED);
    cc_args_t *a = &e->args;
    s_args(a, BD_ST_DELIVERED, producer, env);
    cc_args_text(a, "order", order_id);
    cc_args_text(a, "provider", provider_id ? provider_id : "");
    cc_args_text(a, "visit", visit_id && visit_id[0] ? visit_id : NULL);
    cc_args_text(a, "caregiver", caregiver_id && caregiver_id[0] ? caregiver_id : NULL);
    cc_args_text(a, "meal_point", meal_point_id && meal_point_id[0] ? meal_point_id : NULL);
    cc_args_int(a, "started_us", started_us);
    cc_args_int(a, "completed_us", completed_us);
    if (distance_m >= 0)
        cc_args_int(a, "distance", distance_m);
    else
        cc_args_null(a, "distance");
    return 0;
}

static int s_visit_completed(bd_app_t *app, const Cc__Envelope *env,
                             const ProtobufCMessage *msg, bd_effect_t *e)
{
    const Cc__VisitCompleted *m = (const Cc__VisitCompleted *)msg;
    return s_delivered(app, e, env, "dispatchd", m->order_id, m->provider_id, m->visit_id,
                       m->caregiver_id, NULL, m->checked_in_us, m->checked_out_us,
                       m->distance_m);
}

static int s_meal_delivered(bd_app_t *app, const Cc__Envelope *env,
                            const ProtobufCMessage *msg, bd_effect_t *e)
{
    const Cc__MealDelivered *m = (const Cc__MealDelivered *)msg;
    return s_delivered(app, e, env, "meald", m->order_id, m->provider_id, NULL, NULL,
                       m->meal_point_id, 0, m->delivered_us, -1);
}

/* ---- one entry point: decide, then queue ----------------------------------------- */

typedef int (s_decide_fn)(bd_app_t *app, const Cc__Envelope *env, const ProtobufCMessage *msg,
                          bd_effect_t *e);
static const struct {
    const char *type;
    s_decide_fn *fn;
    cc_db_fn *done;
} s_types[] = {
    { "CardIssued", s_card_issued, s_on_card },
    { "CardStatusChanged", s_card_status, s_on_status },
    { "OrderPlaced", s_order_placed, s_on_placed },
    { "OrderCompleted", s_order_completed, s_on_closed },
    { "OrderCancelled", s_order_cancelled, s_on_closed },
    { "OrderFailed", s_order_failed, s_on_closed },
    { "VisitCompleted", s_visit_completed, s_on_delivered },
    { "MealDelivered", s_meal_delivered, s_on_delivered },
};

int bd_events_decide(bd_app_t *app, const Cc__Envelope *env, const ProtobufCMessage *msg,
                     bd_effect_t *e)
{
    memset(e, 0, sizeof *e);
    cc_uuid(e->transfer);
    cc_uuid(e->out_id);
    for (size_t i = 0; i < sizeof s_types / sizeof s_types[0]; i++)
        if (strcmp(env->type, s_types[i].type) == 0) {
            e->done = s_types[i].done;
            return s_types[i].fn(app, env, msg, e);
        }
    return -1;
}

void bd_effect_free(bd_effect_t *e)
{
    free(e->ctx);
    free(e->payload);
    free(e->accounts);
    free(e->amounts);
    e->ctx = NULL;
    e->payload = NULL;
    e->accounts = e->amounts = NULL;
}

static int s_on_event(cc_consumer_t *c, const Cc__Envelope *env, const ProtobufCMessage *msg,
                      void *arg)
{
    bd_effect_t e;
    int rc = bd_events_decide(arg, env, msg, &e);
    if (rc == 0 && e.ctx) {
        s_exec(c, e.ctx, &e.args, e.done);
        e.ctx = NULL;   /* the result callback owns it */
    }
    bd_effect_free(&e);
    return rc;
}

/* OrderReleased and other types: not billing's business (skipped). */
const cc_consumer_entry_t bd_events_from_orderd[] = {
    { "CardIssued", &cc__card_issued__descriptor, s_on_event },
    { "CardStatusChanged", &cc__card_status_changed__descriptor, s_on_event },
    { "OrderPlaced", &cc__order_placed__descriptor, s_on_event },
    { "OrderCompleted", &cc__order_completed__descriptor, s_on_event },
    { "OrderCancelled", &cc__order_cancelled__descriptor, s_on_event },
    { "OrderFailed", &cc__order_failed__descriptor, s_on_event },
    CC_REVOKE_CONSUMER_ENTRY,
    { NULL, NULL, NULL },
};

const cc_consumer_entry_t bd_events_from_dispatchd[] = {
    { "VisitCompleted", &cc__visit_completed__descriptor, s_on_event },
    { NULL, NULL, NULL },
};

const cc_consumer_entry_t bd_events_from_meald[] = {
    { "MealDelivered", &cc__meal_delivered__descriptor, s_on_event },
    { NULL, NULL, NULL },
};
