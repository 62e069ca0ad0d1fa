/* cc_consumer: the consumer side of the event log of DESIGN.md §3 (the
 * producer side and the storage are described in cc_evlog.h).
 *
 * A consumer pulls a producer's log with Fetch over a DEALER, hands each new
 * event to the daemon in log order and stores its position with the
 * effects, in the daemon's batching writer, so that every event is applied
 * once (cc_consume) or recorded as skipped (cc_skip). */
#ifndef CC_CONSUMER_H
#define CC_CONSUMER_H
#include <stdint.h>
#include <stddef.h>
#include <event2/event.h>
#include <protobuf-c/protobuf-c.h>
#include "cc_db.h"
#include "envelope.pb-c.h"

typedef struct cc_consumer cc_consumer_t;

/* Called once per new event, in log order. To apply it, queue exactly one
 * statement with cc_consumer_exec() whose SQL function calls
 * cc_consume(producer, seq, event_id) and applies the effect in the same
 * transaction; return 0. To ignore it, return 0 without queuing: the
 * consumer advances the position itself, recording a run of ignored events
 * as one row (cc_skip) before the next effect or at the end of the batch.
 * Return -1 for a malformed payload: it is counted, logged and skipped
 * (position advanced).
 *
 * An effect that fails (any statement of the batch) is retried from the
 * position a second later, for ever: cc_consume() refuses later events
 * meanwhile, so it is never skipped, also across restarts; a poison event
 * stops the log (consumer_apply_errors_total) until someone fixes it. A
 * gap or an unreadable event at the position stops the log the same way
 * (consumer_gap / consumer_rejected_total), re-asked once a second.
 * Do not destroy the consumer from this callback. */
typedef int (cc_consumer_fn)(cc_consumer_t *c, const Cc__Envelope *env, void *arg);

/* me: consuming daemon's name; producer: the log's name ("orderd");
 * writer: the consuming daemon's batching writer (positions are stored with
 * the effects). Connects a DEALER to endpoint. */
cc_consumer_t *cc_consumer_new(struct event_base *base, void *zctx, cc_db_t *writer,
                               const char *me, const char *producer, const char *endpoint,
                               cc_consumer_fn *fn, void *arg);
void cc_consumer_destroy(cc_consumer_t **self_p);
/* Load the stored position (async) and start pulling. */
int cc_consumer_start(cc_consumer_t *self);
/* Stop pulling after the batch in flight (shutdown). */
void cc_consumer_stop(cc_consumer_t *self);
/* Queue the effect statement for the event being handled. The result
 * callback (may be NULL) runs after commit. */
int cc_consumer_exec(cc_consumer_t *self, const char *stmt, int nparams,
                     const char *const *values, const int *lengths, const int *formats,
                     cc_db_fn *fn, void *arg);
uint64_t cc_consumer_position(const cc_consumer_t *self);
/* 1 once the position is loaded and the first fetch has been answered. */
int cc_consumer_caught_up(const cc_consumer_t *self);

#endif
