/* od_events: orderd consumes billingd's, dispatchd's and meald's logs and
 * moves its orders along the saga (docs/ARCHITECTURE.md).
 *
 * Each event: decide with od_step() against the order's `next` state (the
 * fetched batch is queued before any of it commits), build the event we
 * append (OrderReleased / OrderCompleted / OrderFailed) in C, and queue one
 * SQL function call that starts with cc_consume(). The callback learns the
 * state the store ended with (also for an event applied before, e.g. a batch
 * re-sent after a reconnect) and only then updates memory. Events for orders no longer in memory (final ones)
 * still go to the store, which records them in history. */
#include "od_events.h"
#include "cc_log.h"
#include <stdlib.h>
#include <string.h>
#include <stdio.h>
#include <inttypes.h>

typedef struct {
    od_app_t *app;
    char order_id[CC_UUID_LEN];
    od_event_t ev;
    int stepped;                          /* counted in order->pending */
    char caregiver_id[CC_UUID_LEN];       /* VisitAssigned: who, for continuity */
} s_applied_t;

static cc_metric_t *s_m_events[OD_EV_COUNT];
static cc_metric_t *s_m_unknown_order;

static void s_on_applied(PGresult *res, void *arg)
{
    s_applied_t *a = arg;
    od_app_t *app = a->app;
    od_app_db_check(od_event_name(a->ev), res);
    od_order_t *o = cc_map_get(app->orders, a->order_id);
    /* The store answers with the order's state after the event (also when
     * it had been applied before: a re-sent batch); NULL: not our order. */
    int applied = PQntuples(res) == 1 && !PQgetisnull(res, 0, 0);
    if (o) {
        if (a->stepped)
            o->pending--;
        if (applied) {
            int s = od_state_parse(PQgetvalue(res, 0, 0));
            if (a->ev == OD_EV_VISIT_ASSIGNED && s == OD_ASSIGNED)
                snprintf(o->caregiver_id, sizeof o->caregiver_id, "%s", a->caregiver_id);
            if (a->ev == OD_EV_VISIT_DECLINED && s == OD_RELEASED)
                o->caregiver_id[0] = '\0';
            /* Continuity of care: this caregiver now knows the elder. */
            if (a->ev == OD_EV_VISIT_COMPLETED && s == OD_COMPLETED && o->caregiver_id[0] &&
                o->service > 0 && o->service < OD_SERVICE_COUNT)
                snprintf(o->card->elder->last_caregiver[o->service], CC_UUID_LEN, "%s",
                         o->caregiver_id);
            if (s >= 0)
                od_app_order_committed(app, o, (od_state_t)s);   /* may free o */
            else if (o->pending == 0)
                o->next = o->state;
        } else if (o->pending == 0) {
            o->next = o->state;   /* nothing moved: forget the decision */
        }
    }
    if (applied)
        cc_metric_inc(s_m_events[a->ev]);
    free(a);
}

/* Decide the step for an order (may be NULL: not open) and remember it. */
static od_step_t s_decide(od_order_t *o, od_event_t ev, s_applied_t *a)
{
    od_step_t st = { OD_PLACED, false, OD_OUT_NONE };
    if (!o) {
        cc_metric_inc(s_m_unknown_order);
        return st;
    }
    st = od_step(o->next, ev);
    if (st.changes) {
        o->next = st.to;
        o->pending++;
        a->stepped = 1;
    }
    return st;
}

static s_applied_t *s_applied_new(od_app_t *app, const char *order_id, od_event_t ev)
{
    s_applied_t *a = calloc(1, sizeof *a);
    if (!a) {
        cc_error("out_of_memory", "what", "consume");
        exit(1);
    }
    a->app = app;
    a->ev = ev;
    snprintf(a->order_id, sizeof a->order_id, "%s", order_id);
    return a;
}

static void s_exec(cc_consumer_t *c, const char *stmt, int n, const char *const *v,
                   const int *lens, const int *fmts, s_applied_t *a)
{
    if (cc_consumer_exec(c, stmt, n, v, lens, fmts, s_on_applied, a) != 0) {
        cc_error("db_queue_failed", "what", stmt);
        exit(1);
    }
}

static uint8_t *s_pack_completed(const od_order_t *o, const char *provider, int64_t at_us,
                                 size_t *len)
{
    Cc__OrderCompleted m = CC__ORDER_COMPLETED__INIT;
    m.order_id = (char *)o->id;
    m.card_id = (char *)o->card->id;
    m.service = (Cc__Service)o->service;
    m.provider_id = (char *)provider;
    m.completed_us = at_us;
    return cc_pb_pack(&m.base, len);
}

static uint8_t *s_pack_failed(const od_order_t *o, const char *reason, size_t *len)
{
    Cc__OrderFailed m = CC__ORDER_FAILED__INIT;
    m.order_id = (char *)o->id;
    m.reason = (char *)reason;
    m.card_id = (char *)o->card->id;
    return cc_pb_pack(&m.base, len);
}

/* Common parameters of every effect function. */
typedef struct {
    char seq[24];
    char out_id[CC_UUID_LEN];
} s_common_t;

static void s_common(const Cc__Envelope *env, s_common_t *cm)
{
    snprintf(cm->seq, sizeof cm->seq, "%" PRIu64, env->seq);
    cc_uuid(cm->out_id);
}

/* ---- billingd ------------------------------------------------------------------ */
static int s_on_billing(cc_consumer_t *c, const Cc__Envelope *env, void *arg)
{
    od_app_t *app = arg;
    int ev = od_event_parse(env->type);
    if (ev != OD_EV_FUNDS_HELD && ev != OD_EV_FUNDS_DENIED && ev != OD_EV_HOLD_CAPTURED &&
        ev != OD_EV_HOLD_RELEASED)
        return 0;   /* not ours to apply: the consumer skips it */
    const ProtobufCBinaryData *p = &env->payload;
    s_common_t cm;
    s_common(env, &cm);
    char detail[160], n1[24], n2[24];
    const char *oid = NULL;
    od_order_t *o = NULL;
    s_applied_t *a = NULL;

    if (ev == OD_EV_FUNDS_HELD) {
        Cc__FundsHeld *m = cc__funds_held__unpack(NULL, p->len, p->data);
        if (!m || !cc_uuid_valid(m->order_id)) {
            if (m)
                cc__funds_held__free_unpacked(m, NULL);
            return -1;
        }
        oid = m->order_id;
        o = cc_map_get(app->orders, oid);
        a = s_applied_new(app, oid, ev);
        od_step_t st = s_decide(o, ev, a);
        snprintf(detail, sizeof detail,
                 "price %" PRId64 " fen, subsidy %" PRId64 ", held %" PRId64 ", arrears %" PRId64,
                 m->price_fen, m->subsidy_fen, m->held_fen, m->arrears_fen);
        snprintf(n1, sizeof n1, "%" PRId64, m->price_fen);
        snprintf(n2, sizeof n2, "%" PRId64, m->held_fen);
        size_t len = 0;
        uint8_t *rel = st.out == OD_OUT_RELEASED ? od_app_pack_released(o, &len) : NULL;
        const char *v[10] = { "billingd", cm.seq, env->id, oid,
                              n1, n2, st.changes ? od_state_name(st.to) : NULL, detail,
                              rel ? cm.out_id : NULL, (const char *)rel };
        int lens[10] = { 0 }, fmts[10] = { 0 };
        lens[9] = (int)len;
        fmts[9] = 1;
        s_exec(c, "od_on_funds_held", 10, v, lens, fmts, a);
        free(rel);
        cc__funds_held__free_unpacked(m, NULL);
    } else if (ev == OD_EV_FUNDS_DENIED) {
        Cc__FundsDenied *m = cc__funds_denied__unpack(NULL, p->len, p->data);
        if (!m || !cc_uuid_valid(m->order_id)) {
            if (m)
                cc__funds_denied__free_unpacked(m, NULL);
            return -1;
        }
        oid = m->order_id;
        o = cc_map_get(app->orders, oid);
        a = s_applied_new(app, oid, ev);
        od_step_t st = s_decide(o, ev, a);
        snprintf(detail, sizeof detail, "%s: price %" PRId64 " fen, available %" PRId64,
                 m->reason, m->price_fen, m->available_fen);
        snprintf(n1, sizeof n1, "%" PRId64, m->price_fen);
        const char *v[8] = { "billingd", cm.seq, env->id, oid,
                             n1, m->reason, st.changes ? od_state_name(st.to) : NULL, detail };
        s_exec(c, "od_on_funds_denied", 8, v, NULL, NULL, a);
        cc__funds_denied__free_unpacked(m, NULL);
    } else {
        const char *order_id;
        int64_t amount;
        Cc__HoldCaptured *hc = NULL;
        Cc__HoldReleased *hr = NULL;
        if (ev == OD_EV_HOLD_CAPTURED) {
            hc = cc__hold_captured__unpack(NULL, p->len, p->data);
            order_id = hc ? hc->order_id : NULL;
            amount = hc ? hc->charged_fen : 0;
        } else {
            hr = cc__hold_released__unpack(NULL, p->len, p->data);
            order_id = hr ? hr->order_id : NULL;
            amount = hr ? hr->released_fen : 0;
        }
        if (!order_id || !cc_uuid_valid(order_id)) {
            if (hc)
                cc__hold_captured__free_unpacked(hc, NULL);
            if (hr)
                cc__hold_released__free_unpacked(hr, NULL);
            return -1;
        }
        o = cc_map_get(app->orders, order_id);
        a = s_applied_new(app, order_id, ev);
        od_step_t st = s_decide(o, ev, a);
        snprintf(detail, sizeof detail, "%s %" PRId64 " fen",
                 ev == OD_EV_HOLD_CAPTURED ? "charged" : "released", amount);
        snprintf(n1, sizeof n1, "%" PRId64, amount);
        const char *v[8] = { "billingd", cm.seq, env->id,
                             order_id, env->type, ev == OD_EV_HOLD_CAPTURED ? n1 : NULL,
                             st.changes ? od_state_name(st.to) : NULL, detail };
        s_exec(c, "od_on_hold", 8, v, NULL, NULL, a);
        if (hc)
            cc__hold_captured__free_unpacked(hc, NULL);
        if (hr)
            cc__hold_released__free_unpacked(hr, NULL);
    }
    return 0;
}

/* ---- dispatchd ------------------------------------------------------------------ */
typedef struct {
    const char *order_id, *visit_id, *caregiver_id, *provider_id, *reason;
    int64_t at_us;
    char detail[200];
} s_visit_t;

static int s_on_dispatch(cc_consumer_t *c, const Cc__Envelope *env, void *arg)
{
    od_app_t *app = arg;
    int ev = od_event_parse(env->type);
    const ProtobufCBinaryData *p = &env->payload;
    ProtobufCMessage *msg = NULL;
    s_visit_t vi;
    memset(&vi, 0, sizeof vi);
    char tbuf[48];
    switch (ev) {
    case OD_EV_VISIT_ASSIGNED: {
        Cc__VisitAssigned *m = cc__visit_assigned__unpack(NULL, p->len, p->data);
        if (!m)
            return -1;
        msg = &m->base;
        vi.order_id = m->order_id;
        vi.visit_id = m->visit_id;
        vi.caregiver_id = m->caregiver_id;
        vi.provider_id = m->provider_id;
        snprintf(vi.detail, sizeof vi.detail, "caregiver %s, eta %s, travel %d s",
                 m->caregiver_id, m->eta_us ? cc_time_format(m->eta_us, tbuf, sizeof tbuf) : "-",
                 m->travel_s);
        break;
    }
    case OD_EV_VISIT_ACCEPTED: {
        Cc__VisitAccepted *m = cc__visit_accepted__unpack(NULL, p->len, p->data);
        if (!m)
            return -1;
        msg = &m->base;
        vi.order_id = m->order_id;
        snprintf(vi.detail, sizeof vi.detail, "caregiver %s accepted", m->caregiver_id);
        break;
    }
    case OD_EV_VISIT_DECLINED: {
        Cc__VisitDeclined *m = cc__visit_declined__unpack(NULL, p->len, p->data);
        if (!m)
            return -1;
        msg = &m->base;
        vi.order_id = m->order_id;
        snprintf(vi.detail, sizeof vi.detail, "caregiver %s: %s; dispatch finds another",
                 m->caregiver_id, m->reason[0] ? m->reason : "declined");
        break;
    }
    case OD_EV_VISIT_CHECKED_IN: {
        Cc__VisitCheckedIn *m = cc__visit_checked_in__unpack(NULL, p->len, p->data);
        if (!m)
            return -1;
        msg = &m->base;
        vi.order_id = m->order_id;
        snprintf(vi.detail, sizeof vi.detail, "checked in %s, %d m from home",
                 cc_time_format(m->at_us ? m->at_us : env->time_us, tbuf, sizeof tbuf),
                 m->distance_m);
        break;
    }
    case OD_EV_VISIT_COMPLETED: {
        Cc__VisitCompleted *m = cc__visit_completed__unpack(NULL, p->len, p->data);
        if (!m)
            return -1;
        msg = &m->base;
        vi.order_id = m->order_id;
        vi.provider_id = m->provider_id;
        vi.at_us = m->checked_out_us ? m->checked_out_us : env->time_us;
        snprintf(vi.detail, sizeof vi.detail, "checked out %s, %d m from home",
                 cc_time_format(vi.at_us, tbuf, sizeof tbuf), m->distance_m);
        break;
    }
    case OD_EV_VISIT_FAILED: {
        Cc__VisitFailed *m = cc__visit_failed__unpack(NULL, p->len, p->data);
        if (!m)
            return -1;
        msg = &m->base;
        vi.order_id = m->order_id;
        vi.reason = m->reason[0] ? m->reason : "visit_failed";
        snprintf(vi.detail, sizeof vi.detail, "%s", vi.reason);
        break;
    }
    default:
        return 0;
    }
    if (!cc_uuid_valid(vi.order_id)) {
        protobuf_c_message_free_unpacked(msg, NULL);
        return -1;
    }
    od_order_t *o = cc_map_get(app->orders, vi.order_id);
    s_applied_t *a = s_applied_new(app, vi.order_id, (od_event_t)ev);
    if (vi.caregiver_id)
        snprintf(a->caregiver_id, sizeof a->caregiver_id, "%s", vi.caregiver_id);
    od_step_t st = s_decide(o, (od_event_t)ev, a);
    s_common_t cm;
    s_common(env, &cm);
    uint8_t *out = NULL;
    size_t len = 0;
    const char *out_type = NULL;
    if (st.out == OD_OUT_COMPLETED) {
        out = s_pack_completed(o, vi.provider_id ? vi.provider_id : "", vi.at_us, &len);
        out_type = "OrderCompleted";
    } else if (st.out == OD_OUT_FAILED) {
        out = s_pack_failed(o, vi.reason ? vi.reason : "visit_failed", &len);
        out_type = "OrderFailed";
    }
    const char *v[14] = { "dispatchd", cm.seq, env->id,
                          vi.order_id, env->type, st.changes ? od_state_name(st.to) : NULL,
                          vi.detail, vi.caregiver_id, vi.visit_id, vi.provider_id, vi.reason,
                          out ? out_type : NULL, out ? cm.out_id : NULL, (const char *)out };
    int lens[14] = { 0 }, fmts[14] = { 0 };
    lens[13] = (int)len;
    fmts[13] = 1;
    s_exec(c, "od_on_visit", 14, v, lens, fmts, a);
    free(out);
    protobuf_c_message_free_unpacked(msg, NULL);
    return 0;
}

/* ---- meald ------------------------------------------------------------------------ */
static int s_on_meal(cc_consumer_t *c, const Cc__Envelope *env, void *arg)
{
    od_app_t *app = arg;
    int ev = od_event_parse(env->type);
    const ProtobufCBinaryData *p = &env->payload;
    ProtobufCMessage *msg = NULL;
    const char *order_id = NULL, *meal_point = NULL, *provider = NULL, *reason = NULL;
    int64_t at_us = env->time_us;
    char detail[200], tbuf[48];
    switch (ev) {
    case OD_EV_MEAL_SCHEDULED: {
        Cc__MealScheduled *m = cc__meal_scheduled__unpack(NULL, p->len, p->data);
        if (!m)
            return -1;
        msg = &m->base;
        order_id = m->order_id;
        meal_point = m->meal_point_id;
        provider = m->provider_id;
        snprintf(detail, sizeof detail, "%s %s at meal point %s", m->slot, m->date,
                 m->meal_point_id);
        break;
    }
    case OD_EV_MEAL_REFUSED: {
        Cc__MealRefused *m = cc__meal_refused__unpack(NULL, p->len, p->data);
        if (!m)
            return -1;
        msg = &m->base;
        order_id = m->order_id;
        reason = m->reason[0] ? m->reason : "meal_refused";
        snprintf(detail, sizeof detail, "%s", reason);
        break;
    }
    case OD_EV_MEAL_DELIVERED: {
        Cc__MealDelivered *m = cc__meal_delivered__unpack(NULL, p->len, p->data);
        if (!m)
            return -1;
        msg = &m->base;
        order_id = m->order_id;
        provider = m->provider_id;
        if (m->delivered_us)
            at_us = m->delivered_us;
        snprintf(detail, sizeof detail, "delivered %s",
                 cc_time_format(at_us, tbuf, sizeof tbuf));
        break;
    }
    default:
        return 0;
    }
    if (!cc_uuid_valid(order_id)) {
        protobuf_c_message_free_unpacked(msg, NULL);
        return -1;
    }
    od_order_t *o = cc_map_get(app->orders, order_id);
    s_applied_t *a = s_applied_new(app, order_id, (od_event_t)ev);
    od_step_t st = s_decide(o, (od_event_t)ev, a);
    s_common_t cm;
    s_common(env, &cm);
    uint8_t *out = NULL;
    size_t len = 0;
    const char *out_type = NULL;
    if (st.out == OD_OUT_COMPLETED) {
        out = s_pack_completed(o, provider ? provider : "", at_us, &len);
        out_type = "OrderCompleted";
    } else if (st.out == OD_OUT_FAILED) {
        out = s_pack_failed(o, reason ? reason : "meal_refused", &len);
        out_type = "OrderFailed";
    }
    const char *v[13] = { "meald", cm.seq, env->id, order_id,
                          env->type, st.changes ? od_state_name(st.to) : NULL, detail,
                          meal_point, provider, reason, out ? out_type : NULL,
                          out ? cm.out_id : NULL, (const char *)out };
    int lens[13] = { 0 }, fmts[13] = { 0 };
    lens[12] = (int)len;
    fmts[12] = 1;
    s_exec(c, "od_on_meal", 13, v, lens, fmts, a);
    free(out);
    protobuf_c_message_free_unpacked(msg, NULL);
    return 0;
}

cc_consumer_fn *od_events_handler(const char *producer)
{
    if (strcmp(producer, "billingd") == 0)
        return s_on_billing;
    if (strcmp(producer, "dispatchd") == 0)
        return s_on_dispatch;
    if (strcmp(producer, "meald") == 0)
        return s_on_meal;
    return NULL;
}

void od_events_init_metrics(void)
{
    char name[96];
    for (int e = 0; e < OD_EV_COUNT; e++) {
        snprintf(name, sizeof name, "orderd_events_applied_total{type=\"%s\"}", od_event_name(e));
        s_m_events[e] = cc_metrics_counter(name, "Saga events applied to orders, by type");
    }
    s_m_unknown_order = cc_metrics_counter(
        "orderd_events_for_closed_orders_total",
        "Events for orders not open in memory (final or unknown): history only");
}
