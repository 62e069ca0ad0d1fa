/* cc_db: one asynchronous PostgreSQL connection on the loop, used as a
 * batching single writer (or reader).
 *
 * Statements queued during a loop pass form one batch, sent in pipeline mode
 * as BEGIN; s1; ...; sN; COMMIT with one Sync: one round trip and one fsync for
 * the whole batch. Results are delivered in queue order only after COMMIT, so
 * a caller that answers its client from the result callback answers after the
 * data is durable ("persist first, then reply").
 *
 * Failure rules:
 * - An SQL error in one statement aborts the batch; the batch is then re-run
 *   one statement per transaction so the bad statement gets its own error
 *   result and the others commit normally.
 * - Connection loss: reconnect with exponential backoff (100 ms .. 5 s) and
 *   re-send the batch in flight and everything queued. A batch whose COMMIT
 *   was sent may have committed, so statements must be idempotent (use event
 *   ids / idempotency keys); nothing accepted is dropped.
 * Statements are prepared by name on every (re)connect. */
#ifndef CC_DB_H
#define CC_DB_H
#include <libpq-fe.h>
#include <event2/event.h>

typedef struct cc_db cc_db_t;

/* res is owned by cc_db and valid only during the call. Its status is
 * PGRES_TUPLES_OK / PGRES_COMMAND_OK on success, otherwise an error result
 * (PQresultErrorField(res, PG_DIAG_SQLSTATE) tells which). */
typedef void (cc_db_fn)(PGresult *res, void *arg);
typedef void (cc_db_event_fn)(void *arg);
typedef void (cc_db_notify_fn)(const char *channel, const char *payload, void *arg);

/* name labels logs/metrics ("orderd-writer"). Connects asynchronously. */
cc_db_t *cc_db_new(struct event_base *base, const char *conninfo, const char *name);
void cc_db_destroy(cc_db_t **self_p);

/* Register a prepared statement (before or after connect). */
int cc_db_prepare(cc_db_t *self, const char *stmt, const char *sql);
/* Run after every successful (re)connect, once statements are prepared.
 * Up to four hooks each for connect and commit; they run in order. */
void cc_db_on_connect(cc_db_t *self, cc_db_event_fn *fn, void *arg);
/* LISTEN channel on every (re)connect; fn gets each notification. */
int cc_db_listen(cc_db_t *self, const char *channel, cc_db_notify_fn *fn, void *arg);

/* Queue a prepared statement. values are text-format unless formats[i] == 1
 * (binary, lengths[i] bytes); all are copied, so they may be freed on return.
 * lengths/formats may be NULL (all text). fn may be NULL. */
int cc_db_exec(cc_db_t *self, const char *stmt, int nparams, const char *const *values,
               const int *lengths, const int *formats, cc_db_fn *fn, void *arg);

int cc_db_connected(const cc_db_t *self);
/* Statements queued or in flight. */
int cc_db_pending(const cc_db_t *self);
/* Cap on statements per batch (default 256). */
void cc_db_set_batch_max(cc_db_t *self, int max);
/* Called after every committed batch (the event log scans for new events). */
void cc_db_on_commit(cc_db_t *self, cc_db_event_fn *fn, void *arg);
/* Called when pending drops to 0 (clean shutdown waits for this). */
void cc_db_on_idle(cc_db_t *self, cc_db_event_fn *fn, void *arg);
/* Forget arg: hooks and LISTEN handlers registered with it are removed and
 * the callbacks of its statements, queued or in flight, will not run (the
 * statements still run). For an object that is destroyed before the db. */
void cc_db_forget(cc_db_t *self, void *arg);
/* cc_db_destroy() may be called from any cc_db callback: no other callback
 * runs after it and the memory is freed once the callback returns. */

#endif
