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
 * stops the log (consumer_apply_errors_total) until someone fixes it: after
 * CC_CONSUMER_STUCK_AFTER failures in a row at one position it is logged
 * (consumer_stuck, with its seq) and shown (gauge consumer_stuck 1,
 * consumer_stuck_total), and the retries back off to one every 30 s. A
 * gap or an unreadable event at the position stops the log the same way
 * (consumer_gap / consumer_rejected_total), re-asked once a second.
 * Events the producer does not grant us arrive as Withheld markers
 * (cc_evlog_filter): they are recorded as skipped without reaching fn or a
 * table (consumer_events_withheld_total), so filtering leaves no gap.
 * Do not destroy the consumer from this callback. */
typedef int (cc_consumer_fn)(cc_consumer_t *c, const Cc__Envelope *env, void *arg);

/* me: consuming daemon's name; producer: the log's name ("orderd");
 * writer: the consuming daemon's batching writer (positions are stored with
 * the effects). Connects a DEALER to endpoint. */
cc_consumer_t *cc_consumer_new(struct event_base *base, void *zctx, cc_db_t *writer,
                               const char *me, const char *producer, const char *endpoint,
                               cc_consumer_fn *fn, void *arg);
void cc_consumer_destroy(cc_consumer_t **self_p);
/* ---- consumer tables ----------------------------------------------------
 * A daemon declares, per log, what it does with each event type it applies:
 *   static const cc_consumer_entry_t s_from_orderd[] = {
 *       { "OrderReleased", &cc__order_released__descriptor, s_on_released },
 *       { NULL, NULL, NULL },
 *   };
 * The consumer looks up Envelope.type (types not in the table are skipped,
 * as a cc_consumer_fn returning 0 without queuing), unpacks the payload
 * once with the descriptor (at most CC_EVENT_MAX_PAYLOAD bytes), checks it
 * against its schema (cc_event_check), calls the handler and frees the
 * message. A payload that is too large, cannot be unpacked or fails its
 * schema never reaches the handler: it is rejected as a cc_consumer_fn
 * returning -1 is (skipped, position advanced), logged without the payload
 * (consumer_event_rejected: type, seq, producer, reason, field) and counted
 * in consumer_rejected_total{consumer,log} and in
 * consumer_events_rejected_total{consumer,log,type,reason}, reason one of
 * too_large, malformed, schema, handler. */

/* msg is env's payload as the entry's descriptor's message, valid for the
 * call only. Queue the effect with cc_consumer_exec() and return 0, or
 * return 0 without queuing to skip it; -1: the handler finds the event
 * unusable (rejected, reason "handler"). */
typedef int (cc_consumer_handler_fn)(cc_consumer_t *c, const Cc__Envelope *env,
                                     const ProtobufCMessage *msg, void *arg);

typedef struct {
    const char *type;                          /* Envelope.type; NULL ends the table */
    const ProtobufCMessageDescriptor *desc;    /* its payload: an event (cc_event.h) */
    cc_consumer_handler_fn *fn;
} cc_consumer_entry_t;

/* As cc_consumer_new, with a table (borrowed: it must outlive the
 * consumer, usually static) instead of one function. Asserts that every
 * entry names a type, a descriptor with a schema and a handler. */
cc_consumer_t *cc_consumer_new_table(struct event_base *base, void *zctx, cc_db_t *writer,
                                     const char *me, const char *producer,
                                     const char *endpoint, const cc_consumer_entry_t *table,
                                     void *arg);
/* The checks a table applies before a handler runs, without a consumer:
 * look env->type up in table; 0 with *entry NULL when it is not the
 * table's (skipped). Otherwise unpack the payload with the entry's
 * descriptor and check it against its schema: 0 with *entry and *msg (the
 * caller frees it with protobuf_c_message_free_unpacked(msg, NULL)), or -1
 * with *reason ("too_large", "malformed", "schema") and *field (the schema's
 * failing field, else NULL). Pure: what the consumer and tests/fuzz share. */
int cc_consumer_decode(const cc_consumer_entry_t *table, const Cc__Envelope *env,
                       const cc_consumer_entry_t **entry, ProtobufCMessage **msg,
                       const char **reason, const char **field);
/* As cc_consumer_new_table over CURVE (cc_zsock_curve_client): our own key
 * pair (Z85) and the producer's public key, so that only the holder of the
 * producer's secret key can answer (a fake producer bound on the port
 * cannot complete the handshake; counted in zmq_auth_rejected_total{socket=
 * "<me>-from-<producer>",reason="handshake"}). The daemons always use this
 * one (cc_rt); the plaintext constructors are for unit tests. */
cc_consumer_t *cc_consumer_new_curve(struct event_base *base, void *zctx, cc_db_t *writer,
                                     const char *me, const char *producer,
                                     const char *endpoint, const cc_consumer_entry_t *table,
                                     const char *public_key, const char *secret_key,
                                     const char *server_key, void *arg);

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
/* Failed applies in a row at one position before it counts as stuck. */
#define CC_CONSUMER_STUCK_AFTER 5
#define CC_CONSUMER_STUCK_AFTER_TEXT "5"
/* 1 while stuck (see cc_consumer_fn). */
int cc_consumer_stuck(const cc_consumer_t *self);
/* Hold the consumer still (on 1) or let it go on (0). While held no event
 * reaches a handler: nothing is fetched and a reply that comes is dropped
 * (the events are fetched again once let go); effects already queued run
 * to their end. For a daemon reloading its working set (cc_rt_reload). */
void cc_consumer_hold(cc_consumer_t *self, int on);
/* 1 once the position is loaded and the first fetch has been answered. */
int cc_consumer_caught_up(const cc_consumer_t *self);

/* ---- read your writes (docs/ARCHITECTURE.md) ----------------------------
 * fn(arg, 1) once the effects of every event up to seq have committed
 * here; with seq 0, of every event the producer had committed when this
 * call was made: the consumer asks with a fresh Fetch (wait_ms 0, sent at
 * once in place of a parked long poll, or right after the reply in
 * flight), which the producer answers after a fresh read of its table
 * (cc_evlog_sync), and waits for the head it reports. fn(arg, 0) when
 * timeout_ms passes first or the consumer stops (cc_consumer_stop).
 * Returns 0 (fn will be called once, never from this call), 1 when seq is
 * already reached (fn is not called), -1 when stopping or out of memory.
 * Syncs still pending when the consumer is destroyed are dropped uncalled:
 * stop it first. */
typedef void (cc_consumer_sync_fn)(void *arg, int reached);
int cc_consumer_sync(cc_consumer_t *self, uint64_t seq, int timeout_ms,
                     cc_consumer_sync_fn *fn, void *arg);
/* Syncs pending. */
size_t cc_consumer_syncs(const cc_consumer_t *self);

#endif
