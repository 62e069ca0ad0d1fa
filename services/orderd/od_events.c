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
#include "cc_event.h"
#include "od_store.h"
#include "cc_rt.h"
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
    /* Failed: nothing moved, as for an event that does not apply; the
     * consumer retries it from its position (cc_consumer.h). */
    int failed = od_app_write_ok(app, od_event_name(a->ev), res, NULL) != 0;
    od_order_t *o = cc_map_get(app->orders, a->order_id);
    /* The store answers with the order's state after the event (also when
     * it had been applied before: a re-sent batch); NULL: not our order. */
    int applied = !failed && PQntuples(res) == 1 && !PQgetisnull(res, 0, 0);
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
    s_applied_t *a = cc_xcalloc(sizeof *a, "consume");
    a->app = app;
    a->ev = ev;
    snprintf(a->order_id, sizeof a->order_id, "%s", order_id);
    return a;
}

static void s_exec(cc_consumer_t *c, const cc_args_t *args, s_applied_t *a)
{
    if (cc_consumer_call(c, args, s_on_applied, a) != 0) {
        cc_error("db_queue_failed", "what", args->st->name);
        exit(1);
    }
}

/* Every effect function starts with the event being consumed. */
static void s_args(cc_args_t *args, od_st_t st, const char *producer, const Cc__Envelope *env,
                   const char *order_id)
{
    cc_args_init(args, &od_stmts[st]);
    cc_args_text(args, "producer", producer);
    cc_args_int(args, "seq", (int64_t)env->seq);
    cc_args_text(args, "event_id", env->id);
    cc_args_text(args, "order", order_id);
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
    return cc_event_pack(&m.base, len);
}

static uint8_t *s_pack_failed(const od_order_t *o, const char *reason, size_t *len)
{
    Cc__OrderFailed m = CC__ORDER_FAILED__INIT;
    m.order_id = (char *)o->id;
    m.reason = (char *)reason;
    m.card_id = (char *)o->card->id;
    return cc_event_pack(&m.base, len);
}


/* One inbound event, unpacked by the consumer, with the order it names and
 * the step decided. */
typedef struct {
    od_event_t ev;
    const ProtobufCMessage *msg;   /* the payload, borrowed from the consumer */
    const char *order_id;          /* in msg */
    od_order_t *o;                 /* NULL: not open in memory */
    s_applied_t *a;
} s_in_t;

/* Fill in for an event of one of the tables below: the consumer has
 * unpacked it and checked its schema, so its order_id is a valid UUID. */
static void s_in(od_app_t *app, const Cc__Envelope *env, const ProtobufCMessage *msg, s_in_t *in)
{
    memset(in, 0, sizeof *in);
    in->ev = (od_event_t) od_event_parse(env->type);
    in->msg = msg;
    /* Every message orderd applies names its order in a field order_id. */
    const ProtobufCFieldDescriptor *f =
        protobuf_c_message_descriptor_get_field_by_name(msg->descriptor, "order_id");
    in->order_id = *(const char *const *) ((const char *) msg + f->offset);
    in->o = cc_map_get(app->orders, in->order_id);
    in->a = s_applied_new(app, in->order_id, in->ev);
}

/* ---- billingd ------------------------------------------------------------------ */
static int s_on_billingd(cc_consumer_t *c, const Cc__Envelope *env, const ProtobufCMessage *msg,
                   void *arg)
{
    s_in_t in;
    s_in(arg, env, msg, &in);
    od_step_t st = s_decide(in.o, in.ev, in.a);
    const char *to = st.changes ? od_state_name(st.to) : NULL;
    char detail[160], out_id[CC_UUID_LEN];
    cc_args_t a;
    if (in.ev == OD_EV_FUNDS_HELD) {
        const Cc__FundsHeld *m = (const Cc__FundsHeld *) in.msg;
        snprintf(detail, sizeof detail,
                 "price %" PRId64 " fen, subsidy %" PRId64 ", held %" PRId64 ", arrears %" PRId64,
                 m->price_fen, m->subsidy_fen, m->held_fen, m->arrears_fen);
        size_t len = 0;
        uint8_t *rel = st.out == OD_OUT_RELEASED ? od_app_pack_released(in.o, &len) : NULL;
        cc_uuid(out_id);
        s_args(&a, OD_ST_ON_FUNDS_HELD, "billingd", env, in.order_id);
        cc_args_int(&a, "price", m->price_fen);
        cc_args_int(&a, "held", m->held_fen);
        cc_args_text(&a, "to", to);
        cc_args_text(&a, "detail", detail);
        cc_args_text(&a, "out_id", rel ? out_id : NULL);
        if (rel)
            cc_args_bytes(&a, "out", rel, len);
        else
            cc_args_null(&a, "out");
        s_exec(c, &a, in.a);
        free(rel);
    } else if (in.ev == OD_EV_FUNDS_DENIED) {
        const Cc__FundsDenied *m = (const Cc__FundsDenied *) in.msg;
        snprintf(detail, sizeof detail, "%s: price %" PRId64 " fen, available %" PRId64,
                 m->reason, m->price_fen, m->available_fen);
        s_args(&a, OD_ST_ON_FUNDS_DENIED, "billingd", env, in.order_id);
        cc_args_int(&a, "price", m->price_fen);
        cc_args_text(&a, "reason", m->reason);
        cc_args_text(&a, "to", to);
        cc_args_text(&a, "detail", detail);
        s_exec(c, &a, in.a);
    } else {
        int captured = in.ev == OD_EV_HOLD_CAPTURED;
        int64_t amount = captured ? ((const Cc__HoldCaptured *) in.msg)->charged_fen
                                  : ((const Cc__HoldReleased *) in.msg)->released_fen;
        snprintf(detail, sizeof detail, "%s %" PRId64 " fen", captured ? "charged" : "released",
                 amount);
        s_args(&a, OD_ST_ON_HOLD, "billingd", env, in.order_id);
        cc_args_text(&a, "event", env->type);
        if (captured)
            cc_args_int(&a, "charged", amount);
        else
            cc_args_null(&a, "charged");
        cc_args_text(&a, "to", to);
        cc_args_text(&a, "detail", detail);
        s_exec(c, &a, in.a);
    }
    return 0;
}

/* The event an effect appends, if any (out_type, out_id, out). */
static void s_out(cc_args_t *a, const char *type, const char *id, const uint8_t *out, size_t len)
{
    cc_args_text(a, "out_type", out ? type : NULL);
    cc_args_text(a, "out_id", out ? id : NULL);
    if (out)
        cc_args_bytes(a, "out", out, len);
    else
        cc_args_null(a, "out");
}

/* ---- dispatchd ------------------------------------------------------------------ */
typedef struct {
    const char *order_id, *visit_id, *caregiver_id, *provider_id, *reason;
    int64_t at_us;
    char detail[200];
} s_visit_t;

static int s_on_dispatchd(cc_consumer_t *c, const Cc__Envelope *env, const ProtobufCMessage *msg,
                   void *arg)
{
    s_in_t in;
    s_in(arg, env, msg, &in);
    s_visit_t vi;
    memset(&vi, 0, sizeof vi);
    vi.order_id = in.order_id;
    char tbuf[48];
    switch (in.ev) {
    case OD_EV_VISIT_ASSIGNED: {
        const Cc__VisitAssigned *m = (const Cc__VisitAssigned *) in.msg;
        vi.visit_id = m->visit_id;
        vi.caregiver_id = m->caregiver_id;
        vi.provider_id = m->provider_id;
        snprintf(vi.detail, sizeof vi.detail, "caregiver %s, eta %s, travel %d s",
                 m->caregiver_id, m->eta_us ? cc_time_format(m->eta_us, tbuf, sizeof tbuf) : "-",
                 m->travel_s);
        break;
    }
    case OD_EV_VISIT_ACCEPTED: {
        const Cc__VisitAccepted *m = (const Cc__VisitAccepted *) in.msg;
        snprintf(vi.detail, sizeof vi.detail, "caregiver %s accepted", m->caregiver_id);
        break;
    }
    case OD_EV_VISIT_DECLINED: {
        const Cc__VisitDeclined *m = (const Cc__VisitDeclined *) in.msg;
        snprintf(vi.detail, sizeof vi.detail, "caregiver %s: %s; dispatch finds another",
                 m->caregiver_id, m->reason[0] ? m->reason : "declined");
        break;
    }
    case OD_EV_VISIT_CHECKED_IN: {
        const Cc__VisitCheckedIn *m = (const Cc__VisitCheckedIn *) in.msg;
        snprintf(vi.detail, sizeof vi.detail, "checked in %s, %d m from home",
                 cc_time_format(m->at_us ? m->at_us : env->time_us, tbuf, sizeof tbuf),
                 m->distance_m);
        break;
    }
    case OD_EV_VISIT_COMPLETED: {
        const Cc__VisitCompleted *m = (const Cc__VisitCompleted *) in.msg;
        vi.provider_id = m->provider_id;
        vi.at_us = m->checked_out_us ? m->checked_out_us : env->time_us;
        snprintf(vi.detail, sizeof vi.detail, "checked out %s, %d m from home",
                 cc_time_format(vi.at_us, tbuf, sizeof tbuf), m->distance_m);
        break;
    }
    default: {   /* OD_EV_VISIT_FAILED */
        const Cc__VisitFailed *m = (const Cc__VisitFailed *) in.msg;
        vi.reason = m->reason[0] ? m->reason : "visit_failed";
        snprintf(vi.detail, sizeof vi.detail, "%s", vi.reason);
        break;
    }
    }
    if (vi.caregiver_id)
        snprintf(in.a->caregiver_id, sizeof in.a->caregiver_id, "%s", vi.caregiver_id);
    od_step_t st = s_decide(in.o, in.ev, in.a);
    char out_id[CC_UUID_LEN];
    cc_uuid(out_id);
    uint8_t *out = NULL;
    size_t len = 0;
    const char *out_type = NULL;
    if (st.out == OD_OUT_COMPLETED) {
        out = s_pack_completed(in.o, vi.provider_id ? vi.provider_id : "", vi.at_us, &len);
        out_type = "OrderCompleted";
    } else if (st.out == OD_OUT_FAILED) {
        out = s_pack_failed(in.o, vi.reason ? vi.reason : "visit_failed", &len);
        out_type = "OrderFailed";
    }
    cc_args_t a;
    s_args(&a, OD_ST_ON_VISIT, "dispatchd", env, vi.order_id);
    cc_args_text(&a, "event", env->type);
    cc_args_text(&a, "to", st.changes ? od_state_name(st.to) : NULL);
    cc_args_text(&a, "detail", vi.detail);
    cc_args_text(&a, "caregiver", vi.caregiver_id);
    cc_args_text(&a, "visit", vi.visit_id);
    cc_args_text(&a, "provider", vi.provider_id);
    cc_args_text(&a, "reason", vi.reason);
    s_out(&a, out_type, out_id, out, len);
    s_exec(c, &a, in.a);
    free(out);
    return 0;
}

/* ---- meald ------------------------------------------------------------------------ */
static int s_on_meald(cc_consumer_t *c, const Cc__Envelope *env, const ProtobufCMessage *msg,
                   void *arg)
{
    s_in_t in;
    s_in(arg, env, msg, &in);
    const char *meal_point = NULL, *provider = NULL, *reason = NULL;
    int64_t at_us = env->time_us;
    char detail[200], tbuf[48];
    switch (in.ev) {
    case OD_EV_MEAL_SCHEDULED: {
        const Cc__MealScheduled *m = (const Cc__MealScheduled *) in.msg;
        meal_point = m->meal_point_id;
        provider = m->provider_id;
        snprintf(detail, sizeof detail, "%s %s at meal point %s", m->slot, m->date,
                 m->meal_point_id);
        break;
    }
    case OD_EV_MEAL_REFUSED: {
        const Cc__MealRefused *m = (const Cc__MealRefused *) in.msg;
        reason = m->reason[0] ? m->reason : "meal_refused";
        snprintf(detail, sizeof detail, "%s", reason);
        break;
    }
    default: {   /* OD_EV_MEAL_DELIVERED */
        const Cc__MealDelivered *m = (const Cc__MealDelivered *) in.msg;
        provider = m->provider_id;
        if (m->delivered_us)
            at_us = m->delivered_us;
        snprintf(detail, sizeof detail, "delivered %s",
                 cc_time_format(at_us, tbuf, sizeof tbuf));
        break;
    }
    }
    od_step_t st = s_decide(in.o, in.ev, in.a);
    char out_id[CC_UUID_LEN];
    cc_uuid(out_id);
    uint8_t *out = NULL;
    size_t len = 0;
    const char *out_type = NULL;
    if (st.out == OD_OUT_COMPLETED) {
        out = s_pack_completed(in.o, provider ? provider : "", at_us, &len);
        out_type = "OrderCompleted";
    } else if (st.out == OD_OUT_FAILED) {
        out = s_pack_failed(in.o, reason ? reason : "meal_refused", &len);
        out_type = "OrderFailed";
    }
    cc_args_t a;
    s_args(&a, OD_ST_ON_MEAL, "meald", env, in.order_id);
    cc_args_text(&a, "event", env->type);
    cc_args_text(&a, "to", st.changes ? od_state_name(st.to) : NULL);
    cc_args_text(&a, "detail", detail);
    cc_args_text(&a, "meal_point", meal_point);
    cc_args_text(&a, "provider", provider);
    cc_args_text(&a, "reason", reason);
    s_out(&a, out_type, out_id, out, len);
    s_exec(c, &a, in.a);
    free(out);
    return 0;
}

/* The events orderd applies, per log: each payload's type and handler. */
const cc_consumer_entry_t od_events_from_billingd[] = {
    { "FundsHeld", &cc__funds_held__descriptor, s_on_billingd },
    { "FundsDenied", &cc__funds_denied__descriptor, s_on_billingd },
    { "HoldCaptured", &cc__hold_captured__descriptor, s_on_billingd },
    { "HoldReleased", &cc__hold_released__descriptor, s_on_billingd },
    { NULL, NULL, NULL },
};
const cc_consumer_entry_t od_events_from_dispatchd[] = {
    { "VisitAssigned", &cc__visit_assigned__descriptor, s_on_dispatchd },
    { "VisitAccepted", &cc__visit_accepted__descriptor, s_on_dispatchd },
    { "VisitDeclined", &cc__visit_declined__descriptor, s_on_dispatchd },
    { "VisitCheckedIn", &cc__visit_checked_in__descriptor, s_on_dispatchd },
    { "VisitCompleted", &cc__visit_completed__descriptor, s_on_dispatchd },
    { "VisitFailed", &cc__visit_failed__descriptor, s_on_dispatchd },
    { NULL, NULL, NULL },
};
const cc_consumer_entry_t od_events_from_meald[] = {
    { "MealScheduled", &cc__meal_scheduled__descriptor, s_on_meald },
    { "MealRefused", &cc__meal_refused__descriptor, s_on_meald },
    { "MealDelivered", &cc__meal_delivered__descriptor, s_on_meald },
    { NULL, NULL, NULL },
};

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
