/* dd_events: what dispatchd does with orderd's log (VisitReleased, and
 * OrderReleased of older logs; OrderCancelled; see dd_events.c). */
#ifndef DD_EVENTS_H
#define DD_EVENTS_H
#include "cc_evlog.h"
#include "cc_stmt.h"
#include "dd_app.h"
#include "dd_dispatch.h"

/* The consumer table for orderd's log (the types cc_grants serves us);
 * its arg is the dd_app_t. Other types are skipped by the consumer. */
extern const cc_consumer_entry_t dd_events_from_orderd[];

/* What a handler decides for one event before its SQL, without a database,
 * a socket or a timer (the handler queues the args, arms the accept timer
 * and logs; tests/fuzz/dispatchd_events.c calls the same): a release
 * becomes a visit in app->world, matched at once (an emergency may bump an
 * unaccepted routine offer: dd_bump_apply), with the VisitAssigned payload;
 * a cancellation moves an open visit to cancelled. */
struct dd_released;   /* the release's result callback context (dd_events.c) */
typedef struct {
    cc_args_t args;            /* borrows from this struct, env, msg and the world */
    cc_db_fn *done;            /* NULL: nothing to queue (skipped) */
    void *arg;                 /* done's argument */
    struct dd_released *released;   /* owned until queued */
    dd_visit_t *visit;         /* the visit released or cancelled */
    int assigned;              /* a release offered at once */
    dd_visit_t *bumped;        /* the routine visit that gave way, or NULL */
    dd_bump_t bump;
    uint8_t *payload;          /* VisitAssigned, when assigned */
    size_t plen;
    char ev[CC_UUID_LEN];
} dd_effect_t;
/* msg: env's payload, unpacked and schema-checked (cc_consumer_decode) by
 * the table above (not AccountChanged: cc_revoke's). now: the processing
 * time. 0 with *e filled, or -1 for another type; free *e with
 * dd_effect_free either way. Exits on out of memory, as the handlers do. */
int dd_events_decide(dd_app_t *app, const Cc__Envelope *env, const ProtobufCMessage *msg,
                     int64_t now, dd_effect_t *e);
void dd_effect_free(dd_effect_t *e);

#endif
