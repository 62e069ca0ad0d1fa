/* cc_evlog: the event log of DESIGN.md §3, producer side (the consumer side
 * is cc_consumer.h, included here for the daemons that use both).
 *
 * Storage (the sql/common migrations, installed in every daemon's schema):
 *   events(seq, id, type, key, district_id, time, payload)  -- the outbox;
 *                          cc_append() numbers after max(seq) under a
 *                          transaction-scoped advisory lock, so seqs are
 *                          gapless and in commit order even with concurrent
 *                          writers (a later writer waits for the earlier
 *                          one's commit before it gets its number)
 *   inbox(producer, event_id, seq) -- every event applied, and the last
 *                          event of each run of ignored ones; the position
 *                          of a log is its highest seq (view positions)
 *   cc_append(type, id, key, district_id, payload) -> seq
 *   cc_skip(producer, first, last, last_id) -- records a run of events the
 *       consumer ignores (same in-order rule as cc_consume)
 *   log_readers(reader, seq)  -- where each reader of our log stands
 *   cc_log_prune(...)      -- deletes what every reader passed (below)
 *   cc_consume(producer, seq, event_id) -> bool: true once per event (apply
 *       it now), false when at or below the position (applied or skipped
 *       before); advances the position. It
 *       raises SQLSTATE CC001 for an event after position + 1, so the
 *       stored position never passes an event whose effect failed
 *       (sql/common/002_consume_in_order.sql): a poison event stops its log
 *       (consumer_apply_errors_total grows) until it is fixed; it is never
 *       skipped.
 * A daemon's own SQL functions call cc_append() in the same transaction as
 * the state change; a consumer's effect functions call cc_consume() first and
 * do nothing when it returns false. */
#ifndef CC_EVLOG_H
#define CC_EVLOG_H
#include <stdint.h>
#include <stddef.h>
#include <event2/event.h>
#include <protobuf-c/protobuf-c.h>
#include "cc_db.h"
#include "envelope.pb-c.h"
#include "events.pb-c.h"
#include "cc_consumer.h"
#include "cc_grant.h"

/* Inbound size caps (ZMQ_MAXMSGSIZE): a producer reads requests, a consumer
 * reads replies. */
#define CC_EVLOG_MAX_REQUEST (64 * 1024)
#define CC_EVLOG_MAX_REPLY (32 * 1024 * 1024)

/* ---- producer ---------------------------------------------------------- */
typedef struct cc_evlog cc_evlog_t;

/* Serves Fetch on a ROUTER bound at endpoint. reader answers catch-up reads
 * from the table and LISTENs for commits by other connections; writer is
 * the daemon's batching writer: after each of its commits the log scans for
 * new events at once. ring_size recent events are served from memory. */
cc_evlog_t *cc_evlog_new(struct event_base *base, void *zctx, cc_db_t *reader, cc_db_t *writer,
                         const char *producer, const char *endpoint, size_t ring_size);
/* As cc_evlog_new, the ROUTER a CURVE server (cc_zsock_curve_server) with
 * our secret key (Z85): only clients on the allow-list of the ZAP domain
 * "<producer>-log" (cc_zap.h) complete the handshake. The daemons always
 * use this one (cc_rt); cc_evlog_new is plaintext, for unit tests. */
cc_evlog_t *cc_evlog_new_curve(struct event_base *base, void *zctx, cc_db_t *reader,
                               cc_db_t *writer, const char *producer, const char *endpoint,
                               size_t ring_size, const char *secret_key);
void cc_evlog_destroy(cc_evlog_t **self_p);
/* Envelope.type of a marker that stands for an event the reader is not
 * granted: seq, id and producer only. Consumers record it as skipped. */
#define CC_EVLOG_WITHHELD "Withheld"

/* Serve each reader only the types grants allows it (cc_grant.h); every
 * other event goes to it as a CC_EVLOG_WITHHELD marker in its place, so
 * seqs stay gapless. The reader is the ZAP User-Id of the Fetch (its CURVE
 * key's party name); a reader without one, or without a row, gets markers
 * only. grants is borrowed (static). Without this call (unit tests) every
 * reader gets every event. Counted in
 * evlog_events_withheld_total{log,reader}. */
void cc_evlog_filter(cc_evlog_t *self, const cc_grant_t *grants);
/* 1 once the head seq is loaded and the socket is bound. */
int cc_evlog_ready(const cc_evlog_t *self);
uint64_t cc_evlog_head(const cc_evlog_t *self);
/* Read your writes (docs/ARCHITECTURE.md). fn(arg, head) once a read of the
 * table that started after this call has reached its end: head then counts
 * every event committed before the call (cc_evlog_head may still lag a
 * commit: the log scans after it). A Fetch with wait_ms 0 is answered the
 * same way (what consumers' cc_consumer_sync asks). 0, or -1 (no memory).
 * fn is not called if the log is destroyed first. */
typedef void (cc_evlog_sync_fn)(void *arg, uint64_t head);
int cc_evlog_sync(cc_evlog_t *self, cc_evlog_sync_fn *fn, void *arg);
/* New events may have committed: scan the table now. */
void cc_evlog_poke(cc_evlog_t *self);
const char *cc_evlog_endpoint(const cc_evlog_t *self);

/* Log growth (sql/common/012_log_prune.sql, docs/ARCHITECTURE.md "Log
 * growth"): every interval_s seconds (0: never), delete the events that every
 * party in readers (comma-separated: the log's --log-clients) has passed and
 * that are older than keep_s seconds, never the newest; and the inbox rows of
 * the logs in inbox_logs (comma-separated: the logs this daemon consumes)
 * below their position and older than keep_s. A reader's position is the
 * after_seq of its last Fetch, persisted by each pass (log_readers), so one
 * that has not fetched since a restart still holds its events back; a
 * listed reader that never reported holds back all of them. A reader is
 * known by its CURVE User-Id (cc_zap: the party's name), on a plaintext
 * socket by Fetch.consumer. Passes start once the log serves; one that hits
 * the row limit is followed by the next at once. At most 8 readers.
 * 0, or -1 (a name unfit, too many, no memory). */
int cc_evlog_prune_set(cc_evlog_t *self, const char *readers, const char *inbox_logs,
                       int64_t keep_s, int64_t interval_s);
/* One pass now (tests; the timer runs them otherwise). 0 queued, -1 not
 * set, not serving yet, or a pass in flight. */
int cc_evlog_prune_now(cc_evlog_t *self);

/* Serialise any protobuf-c message; malloc'd, caller frees. */
uint8_t *cc_pb_pack(const ProtobufCMessage *msg, size_t *len);

#endif
