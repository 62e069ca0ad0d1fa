/* orderd_events: the events orderd consumes from billingd's, dispatchd's and
 * meald's logs (od_events.c tables), through the consumer's checks, then
 * what the handlers decide in memory: the saga step (od_step) from every
 * state, the history detail text, and the event orderd appends for a step
 * that closes the order (OrderCompleted with the provider and time the
 * inbound event carried, OrderFailed with its reason), built and packed as
 * the handlers do: cc_event_pack asserts that schema, so an inbound event
 * the consumer accepts but whose fields do not fit orderd's own event
 * would stop orderd at every restart. Input: see fuzz_events.h. */
#include "fuzz_events.h"
#include <inttypes.h>
#include "od_domain.h"
#include "od_events.h"

static const fz_log_t s_tab[] = {
    { "billingd", od_events_from_billingd },
    { "dispatchd", od_events_from_dispatchd },
    { "meald", od_events_from_meald },
};

static const fz_log_t *s_logs(size_t *n)
{
    *n = sizeof s_tab / sizeof s_tab[0];
    return s_tab;
}

static void s_begin(void) {}
static void s_end(void) {}
static void s_extra(const fz_log_t *log, const uint8_t *data, size_t len)
{
    (void) log;
    (void) data;
    (void) len;
}

#define S_CARD "1b2c3d4e-5f60-4718-9a0b-1c2d3e4f5a6b"

/* s_pack_completed / s_pack_failed of od_events.c, for an order of
 * service svc whose id the event names. */
static void s_out(od_out_t out, const char *order_id, int svc, const char *provider,
                  int64_t at_us, const char *reason)
{
    size_t len = 0;
    uint8_t *p = NULL;
    if (out == OD_OUT_COMPLETED) {
        Cc__OrderCompleted m = CC__ORDER_COMPLETED__INIT;
        m.order_id = (char *) order_id;
        m.card_id = S_CARD;
        m.service = (Cc__Service) svc;
        m.provider_id = (char *) (provider ? provider : "");
        m.completed_us = at_us;
        p = cc_event_pack(&m.base, &len);
    } else if (out == OD_OUT_FAILED) {
        Cc__OrderFailed m = CC__ORDER_FAILED__INIT;
        m.order_id = (char *) order_id;
        m.reason = (char *) reason;
        m.card_id = S_CARD;
        p = cc_event_pack(&m.base, &len);
    } else {
        return;
    }
    if (!p)
        abort();
    free(p);
}

static void s_apply(const fz_log_t *log, const Cc__Envelope *env, const ProtobufCMessage *msg)
{
    (void) log;
    int ev = od_event_parse(env->type);
    if (ev < 0)
        abort();   /* a table type orderd cannot name */
    const ProtobufCFieldDescriptor *f =
        protobuf_c_message_descriptor_get_field_by_name(msg->descriptor, "order_id");
    if (!f)
        abort();   /* s_in reads every message's order_id */
    const char *order_id = *(const char *const *) ((const char *) msg + f->offset);
    const char *provider = NULL, *reason = NULL;
    int64_t at_us = env->time_us;
    char detail[200], tbuf[48];
    /* The detail texts and fields of s_on_billingd, s_on_dispatchd, s_on_meald. */
    switch (ev) {
    case OD_EV_FUNDS_HELD: {
        const Cc__FundsHeld *m = (const Cc__FundsHeld *) msg;
        snprintf(detail, sizeof detail,
                 "price %" PRId64 " fen, subsidy %" PRId64 ", held %" PRId64 ", arrears %" PRId64,
                 m->price_fen, m->subsidy_fen, m->held_fen, m->arrears_fen);
        break;
    }
    case OD_EV_FUNDS_DENIED: {
        const Cc__FundsDenied *m = (const Cc__FundsDenied *) msg;
        snprintf(detail, sizeof detail, "%s: price %" PRId64 " fen, available %" PRId64,
                 m->reason, m->price_fen, m->available_fen);
        break;
    }
    case OD_EV_VISIT_ASSIGNED: {
        const Cc__VisitAssigned *m = (const Cc__VisitAssigned *) msg;
        snprintf(detail, sizeof detail, "caregiver %s, eta %s, travel %d s", m->caregiver_id,
                 m->eta_us ? cc_time_format(m->eta_us, tbuf, sizeof tbuf) : "-", m->travel_s);
        break;
    }
    case OD_EV_VISIT_CHECKED_IN: {
        const Cc__VisitCheckedIn *m = (const Cc__VisitCheckedIn *) msg;
        snprintf(detail, sizeof detail, "checked in %s, %d m from home",
                 cc_time_format(m->at_us ? m->at_us : env->time_us, tbuf, sizeof tbuf),
                 m->distance_m);
        break;
    }
    case OD_EV_VISIT_COMPLETED: {
        const Cc__VisitCompleted *m = (const Cc__VisitCompleted *) msg;
        provider = m->provider_id;
        at_us = m->checked_out_us ? m->checked_out_us : env->time_us;
        snprintf(detail, sizeof detail, "checked out %s, %d m from home",
                 cc_time_format(at_us, tbuf, sizeof tbuf), m->distance_m);
        break;
    }
    case OD_EV_VISIT_FAILED: {
        const Cc__VisitFailed *m = (const Cc__VisitFailed *) msg;
        reason = m->reason[0] ? m->reason : "visit_failed";
        break;
    }
    case OD_EV_MEAL_SCHEDULED: {
        const Cc__MealScheduled *m = (const Cc__MealScheduled *) msg;
        provider = m->provider_id;
        snprintf(detail, sizeof detail, "%s %s at meal point %s", m->slot, m->date,
                 m->meal_point_id);
        break;
    }
    case OD_EV_MEAL_REFUSED: {
        const Cc__MealRefused *m = (const Cc__MealRefused *) msg;
        reason = m->reason[0] ? m->reason : "meal_refused";
        break;
    }
    case OD_EV_MEAL_DELIVERED: {
        const Cc__MealDelivered *m = (const Cc__MealDelivered *) msg;
        provider = m->provider_id;
        if (m->delivered_us)
            at_us = m->delivered_us;
        snprintf(detail, sizeof detail, "delivered %s", cc_time_format(at_us, tbuf, sizeof tbuf));
        break;
    }
    default:
        break;
    }
    /* The step from each state an open order may be in, and the event
     * appended when it closes the order (any service). */
    for (int s = 0; s < OD_STATE_COUNT; s++) {
        od_step_t st = od_step((od_state_t) s, (od_event_t) ev);
        if (st.changes && !od_state_name(st.to))
            abort();
        for (int svc = 1; svc <= 8; svc++)
            s_out(st.out, order_id, svc, provider, at_us,
                  reason ? reason : (ev == OD_EV_VISIT_FAILED ? "visit_failed" : "meal_refused"));
    }
}
