/* od_events: the saga's inbound side: handlers for billingd's, dispatchd's
 * and meald's logs (see od_events.c). */
#ifndef OD_EVENTS_H
#define OD_EVENTS_H
#include "cc_evlog.h"
#include "cc_stmt.h"
#include "od_app.h"

/* The consumer tables of billingd's, dispatchd's and meald's logs (arg: the
 * app): the events orderd applies, unpacked and schema-checked by the
 * consumer before the handler runs. */
extern const cc_consumer_entry_t od_events_from_billingd[];
extern const cc_consumer_entry_t od_events_from_dispatchd[];
extern const cc_consumer_entry_t od_events_from_meald[];
/* What a handler decides for one event before its SQL, without a database
 * or a socket (the handlers queue args; tests/fuzz/orderd_events.c calls
 * the same): the saga step taken against the order's `next` state (o->next
 * and o->pending change when it moves; the store's answer settles it in
 * the result callback), the history detail, the event appended when the
 * step releases or closes the order, and the effect call's arguments. */
struct od_applied;   /* the result callback's context (od_events.c) */
typedef struct {
    od_event_t ev;
    od_step_t step;
    cc_args_t args;            /* borrows from this struct, env and msg */
    char detail[200];
    char out_id[CC_UUID_LEN];
    uint8_t *out;              /* the appended event's payload, or NULL */
    size_t out_len;
    struct od_applied *ctx;
} od_effect_t;
/* msg: env's payload, unpacked and schema-checked (cc_consumer_decode) by
 * one of the tables above. 0 with *e filled (free it with od_effect_free),
 * or -1 for a type orderd cannot name (*e needs no freeing). Exits on out
 * of memory, as the handlers do. */
int od_events_decide(od_app_t *app, const Cc__Envelope *env, const ProtobufCMessage *msg,
                     od_effect_t *e);
void od_effect_free(od_effect_t *e);
/* Register the per-type counters (once, before consuming). */
void od_events_init_metrics(void);

#endif
