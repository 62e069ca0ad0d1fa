/* bd_events: see bd_events.h. */
#include "bd_events.h"
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "bd_store.h"
#include "cc_event.h"
#include "cc_log.h"
#include "cc_util.h"

#define S_PRODUCER "orderd"

typedef enum { S_CARD, S_STATUS, S_PLACED, S_CLOSED } s_kind_t;

/* One queued effect, for its result callback. */
typedef struct {
    bd_app_t *app;
    s_kind_t kind;
    const char *stmt;
    int64_t t0_us;
    bd_hold_decision_t hd;       /* S_PLACED */
    bd_close_decision_t cd;      /* S_CLOSED */
    char card_id[BD_ID_LEN];     /* S_STATUS */
    bd_card_status_t prev_status;
    bd_card_status_t new_status;
} s_ctx_t;

static void s_count(const char *name, const char *label, const char *value, const char *help)
{
    char full[160];
    if (label)
        snprintf(full, sizeof full, "%s{%s=\"%s\"}", name, label, value);
    else
        snprintf(full, sizeof full, "%s", name);
    cc_metric_inc(cc_metrics_counter(full, help));
}

/* The result of an effect function: 'applied', or why not. Errors are fatal.
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
    if (strcmp(st, "applied") == 0) {
        cc_metric_inc(x->cd.capture ? app->m_captures : app->m_releases);
    } else {
        bd_ledger_uncommit_close(app->ledger, &x->cd);
        cc_metric_inc(app->m_replays);
        cc_info("order_closed_not_applied", "order_id", x->cd.hold.order_id, "status", st);
    }
    free(x);
}

static int s_exec(cc_consumer_t *c, s_ctx_t *x, int n, const char *const *v, const int *lens,
                  const int *fmts, cc_db_fn *fn)
{
    x->t0_us = cc_mono_us();
    if (cc_consumer_exec(c, x->stmt, n, v, lens, fmts, fn, x) != 0) {
        /* Cannot queue: memory already holds the decision; restart cleanly. */
        cc_error("queue_failed", "stmt", x->stmt);
        exit(1);
    }
    x->app->writes_issued++;
    return 0;
}

static s_ctx_t *s_ctx(bd_app_t *app, s_kind_t kind, const char *stmt)
{
    s_ctx_t *x = calloc(1, sizeof *x);
    if (!x) {
        cc_error("out_of_memory", "where", "bd_events");
        exit(1);
    }
    x->app = app;
    x->kind = kind;
    x->stmt = stmt;
    return x;
}

/* ---- CardIssued / CardStatusChanged -------------------------------------------- */

/* The sequence number as text, for the effect functions. */
static void s_seq(const Cc__Envelope *env, char seq[24])
{
    snprintf(seq, 24, "%" PRIu64, env->seq);
}

static int s_card_issued(cc_consumer_t *c, const Cc__Envelope *env, const ProtobufCMessage *msg,
                         void *arg)
{
    bd_app_t *app = arg;
    const Cc__CardIssued *m = (const Cc__CardIssued *)msg;
    char seq[24];
    s_seq(env, seq);
    if (bd_ledger_card(app->ledger, m->card_id))   /* already known: nothing to do */
        return 0;
    const char *household = m->household[0] ? m->household : "none";
    if (!bd_ledger_open_card(app->ledger, m->card_id, m->district_id, household,
                             m->age_years)) {
        cc_error("out_of_memory", "where", "open_card");
        exit(1);
    }
    char district[16], age[16];
    snprintf(district, sizeof district, "%" PRIu32, m->district_id);
    snprintf(age, sizeof age, "%" PRId32, m->age_years);
    const char *v[8] = { S_PRODUCER, seq, env->id, m->card_id, m->elder_id, district,
                         household, age };
    s_ctx_t *x = s_ctx(app, S_CARD, BD_SQL_CARD_ISSUED);
    s_exec(c, x, 8, v, NULL, NULL, s_on_card);
    return 0;
}

static int s_card_status(cc_consumer_t *c, const Cc__Envelope *env, const ProtobufCMessage *msg,
                         void *arg)
{
    bd_app_t *app = arg;
    const Cc__CardStatusChanged *m = (const Cc__CardStatusChanged *)msg;
    char seq[24];
    s_seq(env, seq);
    int st = bd_card_status_parse(m->status);   /* the schema allows only these */
    bd_card_t *card = bd_ledger_card(app->ledger, m->card_id);
    if (st < 0 || !card)
        return 0;   /* an unknown card: skipped */
    s_ctx_t *x = s_ctx(app, S_STATUS, BD_SQL_CARD_STATUS);
    snprintf(x->card_id, sizeof x->card_id, "%s", card->card_id);
    x->prev_status = card->status;
    x->new_status = (bd_card_status_t)st;
    card->status = (bd_card_status_t)st;
    const char *v[5] = { S_PRODUCER, seq, env->id, card->card_id, bd_card_status_name(st) };
    s_exec(c, x, 5, v, NULL, NULL, s_on_status);
    return 0;
}

/* ---- OrderPlaced ------------------------------------------------------------------ */

static int s_order_placed(cc_consumer_t *c, const Cc__Envelope *env,
                          const ProtobufCMessage *msg, void *arg)
{
    bd_app_t *app = arg;
    const Cc__OrderPlaced *m = (const Cc__OrderPlaced *)msg;
    char seq[24];
    s_seq(env, seq);
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
    s_ctx_t *x = s_ctx(app, S_PLACED, BD_SQL_ORDER_PLACED);
    bd_ledger_decide_hold(app->ledger, app->pricing, &o, &x->hd);
    bd_hold_decision_t *d = &x->hd;
    if (!d->held)   /* keep the order id for logs and the callback */
        snprintf(d->hold.order_id, sizeof d->hold.order_id, "%s", m->order_id);
    if (bd_ledger_commit_hold(app->ledger, d) < 0) {
        cc_error("hold_commit_failed", "order_id", m->order_id);
        exit(1);
    }

    /* The event billingd appends, built here and stored as bytea. */
    uint8_t *payload = NULL;
    size_t plen = 0;
    const char *type;
    if (d->held) {
        Cc__FundsHeld fh = CC__FUNDS_HELD__INIT;
        fh.order_id = m->order_id;
        fh.card_id = m->card_id;
        fh.price_fen = d->hold.price_fen;
        fh.subsidy_fen = d->hold.subsidy_fen;
        fh.held_fen = d->hold.held_fen;
        fh.arrears_fen = d->hold.arrears_fen;
        payload = cc_event_pack(&fh.base, &plen);
        type = "FundsHeld";
    } else {
        Cc__FundsDenied fd = CC__FUNDS_DENIED__INIT;
        fd.order_id = m->order_id;
        fd.card_id = m->card_id;
        fd.price_fen = d->quote.price_fen;
        fd.available_fen = d->available_fen;
        fd.reason = (char *)d->reason;
        payload = cc_event_pack(&fd.base, &plen);
        type = "FundsDenied";
    }
    if (!payload) {
        cc_error("out_of_memory", "where", "pack");
        exit(1);
    }
    char district[16], price[24], subsidy[24], held[24], arrears[24], rule[16], month[16];
    char transfer[CC_UUID_LEN], out_id[CC_UUID_LEN];
    snprintf(district, sizeof district, "%" PRIu32, m->district_id);
    snprintf(price, sizeof price, "%" PRId64, d->held ? d->hold.price_fen : d->quote.price_fen);
    snprintf(subsidy, sizeof subsidy, "%" PRId64, d->held ? d->hold.subsidy_fen : 0);
    snprintf(held, sizeof held, "%" PRId64, d->held ? d->hold.held_fen : 0);
    snprintf(arrears, sizeof arrears, "%" PRId64, d->held ? d->hold.arrears_fen : 0);
    snprintf(rule, sizeof rule, "%d", d->hold.rule_id);
    snprintf(month, sizeof month, "%d", d->held ? d->hold.month : bd_month_of(o.placed_us));
    cc_uuid(transfer);
    cc_uuid(out_id);
    char *accounts = bd_pg_text_array(&d->postings);
    char *amounts = bd_pg_bigint_array(&d->postings);
    if (!accounts || !amounts) {
        cc_error("out_of_memory", "where", "arrays");
        exit(1);
    }
    const char *svc = bd_service_name(service);
    const char *v[22] = {
        S_PRODUCER, seq, env->id, m->order_id, m->card_id, district, svc ? svc : "unknown",
        o.emergency ? "true" : "false", d->held ? "held" : "denied", d->held ? NULL : d->reason,
        price, subsidy, held, arrears, d->held && d->hold.rule_id ? rule : NULL, month,
        transfer, accounts, amounts, type, out_id, (const char *)payload,
    };
    int lens[22] = { 0 };
    int fmts[22] = { 0 };
    lens[21] = (int)plen;
    fmts[21] = 1;
    s_exec(c, x, 22, v, lens, fmts, s_on_placed);
    free(accounts);
    free(amounts);
    free(payload);
    return 0;
}

/* ---- OrderCompleted / OrderCancelled / OrderFailed ------------------------------- */

static int s_order_closed(bd_app_t *app, cc_consumer_t *c, const Cc__Envelope *env,
                          const char *seq, const char *order_id, int capture,
                          const char *provider_id, const char *reason)
{
    if (!bd_ledger_hold(app->ledger, order_id))
        return 0;   /* denied, never placed here, or closed already: nothing to do */
    s_ctx_t *x = s_ctx(app, S_CLOSED, BD_SQL_ORDER_CLOSED);
    bd_close_decision_t *d = &x->cd;
    int rc = capture ? bd_ledger_decide_capture(app->ledger, order_id, provider_id, d)
                     : bd_ledger_decide_release(app->ledger, order_id, d);
    if (rc < 0) {
        free(x);
        return -1;   /* the hold's card is gone: cannot happen */
    }
    if (bd_ledger_commit_close(app->ledger, d) < 0) {
        cc_error("close_commit_failed", "order_id", order_id);
        exit(1);
    }
    uint8_t *payload;
    size_t plen = 0;
    const char *type;
    if (capture) {
        Cc__HoldCaptured hc = CC__HOLD_CAPTURED__INIT;
        hc.order_id = (char *)order_id;
        hc.card_id = d->hold.card_id;
        hc.charged_fen = d->charged_fen;
        hc.subsidy_fen = d->hold.subsidy_fen;
        hc.provider_id = d->provider_id;
        payload = cc_event_pack(&hc.base, &plen);
        type = "HoldCaptured";
    } else {
        Cc__HoldReleased hr = CC__HOLD_RELEASED__INIT;
        hr.order_id = (char *)order_id;
        hr.card_id = d->hold.card_id;
        hr.released_fen = d->released_fen;
        hr.arrears_paid_fen = d->arrears_paid_fen;
        payload = cc_event_pack(&hr.base, &plen);
        type = "HoldReleased";
    }
    char held[24], district[16], transfer[CC_UUID_LEN], out_id[CC_UUID_LEN];
    snprintf(held, sizeof held, "%" PRId64, d->hold.held_fen);
    snprintf(district, sizeof district, "%" PRIu32, d->hold.district_id);
    cc_uuid(transfer);
    cc_uuid(out_id);
    char *accounts = bd_pg_text_array(&d->postings);
    char *amounts = bd_pg_bigint_array(&d->postings);
    if (!payload || !accounts || !amounts) {
        cc_error("out_of_memory", "where", "close");
        exit(1);
    }
    const char *v[15] = {
        S_PRODUCER, seq, env->id, order_id, capture ? "captured" : "released",
        reason && reason[0] ? reason : NULL, capture ? d->provider_id : NULL, held,
        transfer, accounts, amounts, type, out_id, district, (const char *)payload,
    };
    int lens[15] = { 0 };
    int fmts[15] = { 0 };
    lens[14] = (int)plen;
    fmts[14] = 1;
    s_exec(c, x, 15, v, lens, fmts, s_on_closed);
    free(accounts);
    free(amounts);
    free(payload);
    return 0;
}

static int s_order_completed(cc_consumer_t *c, const Cc__Envelope *env,
                             const ProtobufCMessage *msg, void *arg)
{
    const Cc__OrderCompleted *m = (const Cc__OrderCompleted *)msg;
    char seq[24];
    s_seq(env, seq);
    return s_order_closed(arg, c, env, seq, m->order_id, 1, m->provider_id, NULL);
}

static int s_order_cancelled(cc_consumer_t *c, const Cc__Envelope *env,
                             const ProtobufCMessage *msg, void *arg)
{
    const Cc__OrderCancelled *m = (const Cc__OrderCancelled *)msg;
    char seq[24];
    s_seq(env, seq);
    return s_order_closed(arg, c, env, seq, m->order_id, 0, NULL,
                          m->reason[0] ? m->reason : "cancelled");
}

static int s_order_failed(cc_consumer_t *c, const Cc__Envelope *env,
                          const ProtobufCMessage *msg, void *arg)
{
    const Cc__OrderFailed *m = (const Cc__OrderFailed *)msg;
    char seq[24];
    s_seq(env, seq);
    return s_order_closed(arg, c, env, seq, m->order_id, 0, NULL,
                          m->reason[0] ? m->reason : "failed");
}

/* OrderReleased and other types: not billing's business (skipped). */
const cc_consumer_entry_t bd_events_from_orderd[] = {
    { "CardIssued", &cc__card_issued__descriptor, s_card_issued },
    { "CardStatusChanged", &cc__card_status_changed__descriptor, s_card_status },
    { "OrderPlaced", &cc__order_placed__descriptor, s_order_placed },
    { "OrderCompleted", &cc__order_completed__descriptor, s_order_completed },
    { "OrderCancelled", &cc__order_cancelled__descriptor, s_order_cancelled },
    { "OrderFailed", &cc__order_failed__descriptor, s_order_failed },
    { NULL, NULL, NULL },
};

/* ---- dispatchd's and meald's logs: delivery evidence ----------------------------- */

typedef struct {
    bd_app_t *app;
    int64_t t0_us;
} s_delivery_ctx_t;

static void s_on_delivered(PGresult *res, void *arg)
{
    s_delivery_ctx_t *x = arg;
    x->app->writes_done++;
    if (!bd_res_ok(res))
        bd_fatal_sql(BD_SQL_DELIVERED, res);
    cc_metric_observe(x->app->m_apply_seconds, (double)(cc_mono_us() - x->t0_us) / CC_US_PER_S);
    const char *st = PQgetvalue(res, 0, 0);
    char name[96];
    snprintf(name, sizeof name, "billingd_deliveries_total{outcome=\"%s\"}",
             strcmp(st, "applied") == 0 ? "recorded" : "repeat");
    cc_metric_inc(cc_metrics_counter(name, "delivery reports from dispatchd and meald"));
    free(x);
}

static int s_delivered(bd_app_t *app, cc_consumer_t *c, const Cc__Envelope *env,
                       const char *producer, const char *order_id, const char *provider_id,
                       const char *visit_id, const char *caregiver_id,
                       const char *meal_point_id, int64_t started_us, int64_t completed_us,
                       int distance_m)
{
    s_delivery_ctx_t *x = calloc(1, sizeof *x);
    if (!x) {
        cc_error("out_of_memory", "where", "delivered");
        exit(1);
    }
    x->app = app;
    x->t0_us = cc_mono_us();
    char seq[24], started[24], completed[24], distance[16];
    snprintf(seq, sizeof seq, "%" PRIu64, env->seq);
    snprintf(started, sizeof started, "%" PRId64, started_us);
    snprintf(completed, sizeof completed, "%" PRId64, completed_us);
    snprintf(distance, sizeof distance, "%d", distance_m);
    const char *v[11] = {
        producer, seq, env->id, order_id, provider_id ? provider_id : "",
        visit_id && visit_id[0] ? visit_id : NULL,
        caregiver_id && caregiver_id[0] ? caregiver_id : NULL,
        meal_point_id && meal_point_id[0] ? meal_point_id : NULL,
        started, completed, distance_m >= 0 ? distance : NULL,
    };
    if (cc_consumer_exec(c, BD_SQL_DELIVERED, 11, v, NULL, NULL, s_on_delivered, x) != 0) {
        cc_error("queue_failed", "stmt", BD_SQL_DELIVERED);
        exit(1);
    }
    app->writes_issued++;
    return 0;
}

static int s_visit_completed(cc_consumer_t *c, const Cc__Envelope *env,
                             const ProtobufCMessage *msg, void *arg)
{
    const Cc__VisitCompleted *m = (const Cc__VisitCompleted *)msg;
    return s_delivered(arg, c, env, "dispatchd", m->order_id, m->provider_id, m->visit_id,
                       m->caregiver_id, NULL, m->checked_in_us, m->checked_out_us,
                       m->distance_m);
}

static int s_meal_delivered(cc_consumer_t *c, const Cc__Envelope *env,
                            const ProtobufCMessage *msg, void *arg)
{
    const Cc__MealDelivered *m = (const Cc__MealDelivered *)msg;
    return s_delivered(arg, c, env, "meald", m->order_id, m->provider_id, NULL, NULL,
                       m->meal_point_id, 0, m->delivered_us, -1);
}

const cc_consumer_entry_t bd_events_from_dispatchd[] = {
    { "VisitCompleted", &cc__visit_completed__descriptor, s_visit_completed },
    { NULL, NULL, NULL },
};

const cc_consumer_entry_t bd_events_from_meald[] = {
    { "MealDelivered", &cc__meal_delivered__descriptor, s_meal_delivered },
    { NULL, NULL, NULL },
};
