/* orderd_events: the events orderd consumes from billingd's, dispatchd's and
 * meald's logs (od_events.c tables), through the consumer's checks, then
 * od_events_decide, the function the handlers run before queuing their SQL:
 * the saga step on the order in memory, the history detail, the event
 * appended (VisitReleased / MealReleased, OrderCompleted, OrderFailed:
 * cc_event_pack asserts their schema, so an inbound event the consumer
 * accepts but that does not fit orderd's own would stop orderd at every
 * restart) and the effect call's arguments (fuzz_args.h).
 *
 * The working set lives for one input: an order an event names enters it
 * the first time, in a state and of a service taken from its id's last
 * digits (ids ending in f stay out: an order not open in memory); each
 * decided step then commits (state = next), so a sequence of events walks
 * an order through the saga. Input: see fuzz_events.h. */
#include "fuzz_events.h"
#include "fuzz_args.h"
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

static od_app_t s_app;
static od_card_t *s_card;

static void s_begin(void)
{
    memset(&s_app, 0, sizeof s_app);
    s_app.elders = cc_map_new();
    s_app.cards = cc_map_new();
    s_app.orders = cc_map_new();
    if (!s_app.elders || !s_app.cards || !s_app.orders)
        abort();
    od_elder_t *e = od_app_add_elder(&s_app, "2c3d4e5f-6071-4829-8b0c-1d2e3f4a5b6c");
    s_card = e ? od_app_add_card(&s_app, "1b2c3d4e-5f60-4718-9a0b-1c2d3e4f5a6b", e, 0) : NULL;
    if (!s_card)
        abort();
    e->district_id = 1;
    e->lat = 31.23;
    e->lon = 121.47;
    free(e->diet);
    if (!(e->diet = strdup("low salt")))
        abort();
}

static void s_free_order(void *v)
{
    od_order_t *o = v;
    free(o->notes);
    free(o);
}

static void s_free_elder(void *v)
{
    od_elder_t *e = v;
    free(e->diet);
    free(e);
}

static void s_end(void)
{
    cc_map_destroy(&s_app.orders, s_free_order);
    cc_map_destroy(&s_app.cards, free);
    cc_map_destroy(&s_app.elders, s_free_elder);
}

static void s_extra(const fz_log_t *log, const uint8_t *data, size_t len)
{
    (void) log;
    (void) data;
    (void) len;
}

static int s_hex(char c)
{
    return c >= 'a' ? c - 'a' + 10 : c - '0';
}

/* The order an event names, entered into memory the first time. */
static void s_order(const char *id)
{
    if (cc_map_get(s_app.orders, id) || id[35] == 'f')
        return;
    od_order_t *o = od_app_add_order(&s_app, id, s_card);
    if (!o)
        abort();
    o->state = o->next = (od_state_t) (s_hex(id[35]) % OD_STATE_COUNT);
    o->service = 1 + s_hex(id[34]) % (OD_SERVICE_COUNT - 1);
    o->emergency = s_hex(id[33]) & 1;
    o->window_start_us = FZ_NOW_US + CC_US_PER_HOUR;
    o->window_end_us = o->window_start_us + 2 * CC_US_PER_HOUR;
}

static void s_apply(const fz_log_t *log, const Cc__Envelope *env, const ProtobufCMessage *msg)
{
    (void) log;
    const ProtobufCFieldDescriptor *f =
        protobuf_c_message_descriptor_get_field_by_name(msg->descriptor, "order_id");
    if (!f)
        abort();   /* od_events_decide reads every message's order_id */
    s_order(*(const char *const *) ((const char *) msg + f->offset));
    od_effect_t e;
    if (od_events_decide(&s_app, env, msg, &e) != 0)
        abort();   /* a table type orderd cannot name */
    static const char *const ids[] = { "caregiver", "visit", "meal_point", NULL };
    fz_args_check(&e.args, ids);
    if (e.step.changes && !od_state_name(e.step.to))
        abort();
    if (!e.out && (e.step.out == OD_OUT_COMPLETED || e.step.out == OD_OUT_FAILED
                   || (e.step.out == OD_OUT_RELEASED && e.ev == OD_EV_FUNDS_HELD)))
        abort();   /* a step that releases or closes the order appends its event */
    od_order_t *o = cc_map_get(s_app.orders, *(const char *const *) ((const char *) msg + f->offset));
    if (o) {   /* the store commits the step */
        o->state = o->next;
        o->pending = 0;
    }
    od_effect_free(&e);
}
