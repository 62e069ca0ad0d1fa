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
#include "od_duties.h"
#include "cc_event.h"
#include "od_store.h"
#include "od_assess.h"
#include "cc_rt.h"
#include "cc_log.h"
#include <stdlib.h>
#include <string.h>
#include <stdio.h>
#include <inttypes.h>

struct od_applied {
    od_app_t *app;
    char order_id[CC_UUID_LEN];
    od_event_t ev;
    int stepped;                          /* counted in order->pending */
    char caregiver_id[CC_UUID_LEN];       /* VisitAssigned: who, for continuity */
};
typedef struct od_applied s_applied_t;

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


/* Every message orderd applies names its order in a field order_id; the
 * consumer has checked its schema, so it is a valid UUID. */
static const char *s_order_id(const ProtobufCMessage *msg)
{
    const ProtobufCFieldDescriptor *f =
        protobuf_c_message_descriptor_get_field_by_name(msg->descriptor, "order_id");
    return *(const char *const *) ((const char *) msg + f->offset);
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

static void s_decide_billingd(const Cc__Envelope *env, const ProtobufCMessage *msg,
                              const char *order_id, od_order_t *o, od_effect_t *e)
{
    const char *to = e->step.changes ? od_state_name(e->step.to) : NULL;
    cc_args_t *a = &e->args;
    if (e->ev == OD_EV_FUNDS_HELD) {
        const Cc__FundsHeld *m = (const Cc__FundsHeld *) msg;
        snprintf(e->detail, sizeof e->detail,
                 "price %" PRId64 " fen, subsidy %" PRId64 ", held %" PRId64 ", arrears %" PRId64,
                 m->price_fen, m->subsidy_fen, m->held_fen, m->arrears_fen);
        if (e->step.out == OD_OUT_RELEASED) {
            e->out = od_app_pack_released(e->ctx->app, o, &e->out_len);
            if (!e->out) {
                cc_error("out_of_memory", "what", "pack");
                exit(1);
            }
        }
        s_args(a, OD_ST_ON_FUNDS_HELD, "billingd", env, order_id);
        cc_args_int(a, "price", m->price_fen);
        cc_args_int(a, "held", m->held_fen);
        cc_args_text(a, "to", to);
        cc_args_text(a, "detail", e->detail);
        cc_args_text(a, "out_id", e->out ? e->out_id : NULL);
        if (e->out)
            cc_args_bytes(a, "out", e->out, e->out_len);
        else
            cc_args_null(a, "out");
    } else if (e->ev == OD_EV_FUNDS_DENIED) {
        const Cc__FundsDenied *m = (const Cc__FundsDenied *) msg;
        snprintf(e->detail, sizeof e->detail, "%s: price %" PRId64 " fen, available %" PRId64,
                 m->reason, m->price_fen, m->available_fen);
        s_args(a, OD_ST_ON_FUNDS_DENIED, "billingd", env, order_id);
        cc_args_int(a, "price", m->price_fen);
        cc_args_text(a, "reason", m->reason);
        cc_args_text(a, "to", to);
        cc_args_text(a, "detail", e->detail);
    } else {
        int captured = e->ev == OD_EV_HOLD_CAPTURED;
        int64_t amount = captured ? ((const Cc__HoldCaptured *) msg)->charged_fen
                                  : ((const Cc__HoldReleased *) msg)->released_fen;
        snprintf(e->detail, sizeof e->detail, "%s %" PRId64 " fen",
                 captured ? "charged" : "released", amount);
        s_args(a, OD_ST_ON_HOLD, "billingd", env, order_id);
        cc_args_text(a, "event", env->type);
        if (captured)
            cc_args_int(a, "charged", amount);
        else
            cc_args_null(a, "charged");
        cc_args_text(a, "to", to);
        cc_args_text(a, "detail", e->detail);
    }
}

/* What a visit or meal event says, for the history and the closing event. */
typedef struct {
    const char *visit_id, *caregiver_id, *provider_id, *meal_point, *reason;
    int64_t at_us;
} s_facts_t;

static void s_facts(const Cc__Envelope *env, const ProtobufCMessage *msg, od_effect_t *e,
                    s_facts_t *f)
{
    char tbuf[48];
    memset(f, 0, sizeof *f);
    f->at_us = env->time_us;
    switch (e->ev) {
    case OD_EV_VISIT_ASSIGNED: {
        const Cc__VisitAssigned *m = (const Cc__VisitAssigned *) msg;
        f->visit_id = m->visit_id;
        f->caregiver_id = m->caregiver_id;
        f->provider_id = m->provider_id;
        f->at_us = 0;
        snprintf(e->detail, sizeof e->detail, "caregiver %s, eta %s, travel %d s",
                 m->caregiver_id, m->eta_us ? cc_time_format(m->eta_us, tbuf, sizeof tbuf) : "-",
                 m->travel_s);
        break;
    }
    case OD_EV_VISIT_ACCEPTED: {
        const Cc__VisitAccepted *m = (const Cc__VisitAccepted *) msg;
        f->at_us = 0;
        snprintf(e->detail, sizeof e->detail, "caregiver %s accepted", m->caregiver_id);
        break;
    }
    case OD_EV_VISIT_DECLINED: {
        const Cc__VisitDeclined *m = (const Cc__VisitDeclined *) msg;
        f->at_us = 0;
        snprintf(e->detail, sizeof e->detail, "caregiver %s: %s; dispatch finds another",
                 m->caregiver_id, m->reason[0] ? m->reason : "declined");
        break;
    }
    case OD_EV_VISIT_CHECKED_IN: {
        const Cc__VisitCheckedIn *m = (const Cc__VisitCheckedIn *) msg;
        f->at_us = 0;
        snprintf(e->detail, sizeof e->detail, "checked in %s, %d m from home",
                 cc_time_format(m->at_us ? m->at_us : env->time_us, tbuf, sizeof tbuf),
                 m->distance_m);
        break;
    }
    case OD_EV_VISIT_COMPLETED: {
        const Cc__VisitCompleted *m = (const Cc__VisitCompleted *) msg;
        f->provider_id = m->provider_id;
        f->at_us = m->checked_out_us ? m->checked_out_us : env->time_us;
        snprintf(e->detail, sizeof e->detail, "checked out %s, %d m from home",
                 cc_time_format(f->at_us, tbuf, sizeof tbuf), m->distance_m);
        break;
    }
    case OD_EV_VISIT_FAILED: {
        const Cc__VisitFailed *m = (const Cc__VisitFailed *) msg;
        f->at_us = 0;
        f->reason = m->reason[0] ? m->reason : "visit_failed";
        snprintf(e->detail, sizeof e->detail, "%s", f->reason);
        break;
    }
    case OD_EV_MEAL_SCHEDULED: {
        const Cc__MealScheduled *m = (const Cc__MealScheduled *) msg;
        f->meal_point = m->meal_point_id;
        f->provider_id = m->provider_id;
        snprintf(e->detail, sizeof e->detail, "%s %s at meal point %s", m->slot, m->date,
                 m->meal_point_id);
        break;
    }
    case OD_EV_MEAL_REFUSED: {
        const Cc__MealRefused *m = (const Cc__MealRefused *) msg;
        f->reason = m->reason[0] ? m->reason : "meal_refused";
        snprintf(e->detail, sizeof e->detail, "%s", f->reason);
        break;
    }
    default: {   /* OD_EV_MEAL_DELIVERED */
        const Cc__MealDelivered *m = (const Cc__MealDelivered *) msg;
        f->provider_id = m->provider_id;
        if (m->delivered_us)
            f->at_us = m->delivered_us;
        snprintf(e->detail, sizeof e->detail, "delivered %s",
                 cc_time_format(f->at_us, tbuf, sizeof tbuf));
        break;
    }
    }
}

/* Dispatchd's and meald's events: history, and the closing event. */
static void s_decide_service(const Cc__Envelope *env, const char *order_id, od_order_t *o,
                             int meal, const s_facts_t *f, od_effect_t *e)
{
    const char *out_type = NULL;
    if (e->step.out == OD_OUT_COMPLETED) {
        e->out = s_pack_completed(o, f->provider_id ? f->provider_id : "", f->at_us,
                                  &e->out_len);
        out_type = "OrderCompleted";
    } else if (e->step.out == OD_OUT_FAILED) {
        e->out = s_pack_failed(o, f->reason ? f->reason : meal ? "meal_refused"
                                                                : "visit_failed",
                               &e->out_len);
        out_type = "OrderFailed";
    }
    if (out_type && !e->out) {
        cc_error("out_of_memory", "what", "pack");
        exit(1);
    }
    cc_args_t *a = &e->args;
    s_args(a, meal ? OD_ST_ON_MEAL : OD_ST_ON_VISIT, meal ? "meald" : "dispatchd", env,
           order_id);
    cc_args_text(a, "event", env->type);
    cc_args_text(a, "to", e->step.changes ? od_state_name(e->step.to) : NULL);
    cc_args_text(a, "detail", e->detail);
    if (meal) {
        cc_args_text(a, "meal_point", f->meal_point);
    } else {
        cc_args_text(a, "caregiver", f->caregiver_id);
        cc_args_text(a, "visit", f->visit_id);
    }
    cc_args_text(a, "provider", f->provider_id);
    cc_args_text(a, "reason", f->reason);
    s_out(a, out_type, e->out_id, e->out, e->out_len);
}

/* Cut an incomplete UTF-8 sequence off the end of s: snprintf may have cut
 * a long reason mid-character, and PostgreSQL refuses such text. */
static void s_trim_utf8(char *s)
{
    size_t len = strlen(s), j = len;
    while (j > 0 && len - j < 4 && ((unsigned char) s[j - 1] & 0xC0) == 0x80)
        j--;
    if (j == 0)
        return;
    unsigned char lead = (unsigned char) s[j - 1];
    size_t n = lead < 0x80 ? 1 : (lead & 0xE0) == 0xC0 ? 2 : (lead & 0xF0) == 0xE0 ? 3 : 4;
    if (j - 1 + n > len)
        s[j - 1] = '\0';
}

int od_events_decide(od_app_t *app, const Cc__Envelope *env, const ProtobufCMessage *msg,
                     od_effect_t *e)
{
    memset(e, 0, sizeof *e);
    int ev = od_event_parse(env->type);
    if (ev < 0)
        return -1;   /* not a type of our tables */
    e->ev = (od_event_t) ev;
    const char *order_id = s_order_id(msg);
    od_order_t *o = cc_map_get(app->orders, order_id);
    e->ctx = s_applied_new(app, order_id, e->ev);
    cc_uuid(e->out_id);
    if (e->ev <= OD_EV_HOLD_RELEASED) {
        e->step = s_decide(o, e->ev, e->ctx);
        s_decide_billingd(env, msg, order_id, o, e);
        s_trim_utf8(e->detail);
        return 0;
    }
    s_facts_t f;
    s_facts(env, msg, e, &f);
    if (f.caregiver_id)
        snprintf(e->ctx->caregiver_id, sizeof e->ctx->caregiver_id, "%s", f.caregiver_id);
    e->step = s_decide(o, e->ev, e->ctx);
    s_decide_service(env, order_id, o, e->ev >= OD_EV_MEAL_SCHEDULED, &f, e);
    s_trim_utf8(e->detail);
    return 0;
}

void od_effect_free(od_effect_t *e)
{
    free(e->out);
    free(e->ctx);
    e->out = NULL;
    e->ctx = NULL;
}

static int s_on_event(cc_consumer_t *c, const Cc__Envelope *env, const ProtobufCMessage *msg,
                      void *arg)
{
    od_effect_t e;
    if (od_events_decide(arg, env, msg, &e) != 0)
        return -1;
    s_exec(c, &e.args, e.ctx);
    e.ctx = NULL;   /* the result callback owns it */
    od_effect_free(&e);
    return 0;
}

/* The events orderd applies, per log: each payload's type and handler. */
const cc_consumer_entry_t od_events_from_billingd[] = {
    { "FundsHeld", &cc__funds_held__descriptor, s_on_event },
    { "FundsDenied", &cc__funds_denied__descriptor, s_on_event },
    { "HoldCaptured", &cc__hold_captured__descriptor, s_on_event },
    { "HoldReleased", &cc__hold_released__descriptor, s_on_event },
    { NULL, NULL, NULL },
};
const cc_consumer_entry_t od_events_from_dispatchd[] = {
    { "VisitAssigned", &cc__visit_assigned__descriptor, s_on_event },
    { "VisitAccepted", &cc__visit_accepted__descriptor, s_on_event },
    { "VisitDeclined", &cc__visit_declined__descriptor, s_on_event },
    { "VisitCheckedIn", &cc__visit_checked_in__descriptor, s_on_event },
    { "VisitCompleted", &cc__visit_completed__descriptor, s_on_event },
    { "VisitFailed", &cc__visit_failed__descriptor, s_on_event },
    { "VisitAssessed", &cc__visit_assessed__descriptor, od_assess_on_event },
    { "CapacityReported", &cc__capacity_reported__descriptor, od_duties_on_capacity },
    { NULL, NULL, NULL },
};
const cc_consumer_entry_t od_events_from_meald[] = {
    { "MealScheduled", &cc__meal_scheduled__descriptor, s_on_event },
    { "MealRefused", &cc__meal_refused__descriptor, s_on_event },
    { "MealDelivered", &cc__meal_delivered__descriptor, s_on_event },
    { NULL, NULL, NULL },
};

void od_events_init_metrics(void)
{
    char name[96];
    for (int e = 0; e < OD_EV_COUNT; e++) {
        snprintf(name, sizeof name, "orderd_events_applied_total{type=\"%s\"}", od_event_name(e));
        s_m_events[e] = cc_metrics_counter(name, "Saga events applied to orders, by type");
    }
    od_assess_init_metrics();
    s_m_unknown_order = cc_metrics_counter(
        "orderd_events_for_closed_orders_total",
        "Events for orders not open in memory (final or unknown): history only");
}
