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
 * - Errors are classified by SQLSTATE (cc_db_err_class), one rule for every
 *   daemon:
 *   transient (serialization failure, deadlock, lock or statement timeout,
 *   shutdown, connection, read-only, insufficient resources): the statement
 *   rolled back, so it is run again after a backoff (50 ms doubling to 2 s,
 *   with jitter; the whole connection waits, as such errors rarely come
 *   alone). Until its deadline (cc_db_set_item_timeout) if it has one,
 *   otherwise until it commits: a writer's statement carries a change the
 *   daemon's memory already holds, and giving it up would make memory and
 *   store disagree. Only then does its caller see the error;
 *   corruption (XX001 data_corrupted, XX002 index_corrupted): the process
 *   logs db_corrupt and exits 1 at once, before any caller sees it;
 *   anything else goes to its caller, who answers its request with an error.
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

/* Classes of SQLSTATE, see the failure rules above. */
typedef enum {
    CC_DB_OK = 0,           /* no error */
    CC_DB_ERR_TRANSIENT,    /* retry: 40001 40P01 55P03 57014 57P01..03 08xxx 25006 53xxx */
    CC_DB_ERR_CORRUPT,      /* stop the process: XX001 XX002 */
    CC_DB_ERR_OTHER,        /* the statement is at fault: its caller fails the request */
} cc_db_err_t;
cc_db_err_t cc_db_err_class(const char *sqlstate);
/* Of a result: CC_DB_OK for PGRES_TUPLES_OK/COMMAND_OK; an error result
 * without SQLSTATE (a synthetic one: expired, connection gone) is transient. */
cc_db_err_t cc_db_res_class(const PGresult *res);
/* A result a caller cannot go on from: log it (SQLSTATE, constraint and
 * status only: messages may quote personal data) with what, and exit 1.
 * The one fatal rule of the daemons (cc_rt_fatal and theirs call it). */
void cc_db_fatal(const char *what, const PGresult *res) __attribute__((noreturn));

/* Back-pressure. Statements queued or in flight are at most max (0: no
 * bound, the default): cc_db_exec returns -1 beyond it, counted in
 * db_queue_full_total. */
void cc_db_set_queue_max(cc_db_t *self, int max);
/* Every statement queued from now on must be answered within ms (0: none,
 * the default): one still queued (disconnected, or waiting out a transient
 * error) at its deadline gets an error result without SQLSTATE, and a
 * transient error past it is no longer retried. For a reader serving
 * requests that have their own deadline; never for a writer. Counted in
 * db_statements_expired_total. */
void cc_db_set_item_timeout(cc_db_t *self, int ms);
/* The server cancels a statement running longer than ms (57014, transient;
 * 0: no limit). Set on this and every later connection. */
void cc_db_set_statement_timeout(cc_db_t *self, int ms);

/* Queue a prepared statement whose nparams text values are made only when
 * its batch is sent: many callers add to one statement while it waits (the
 * audit trail's rows), yet it keeps the place in the queue it has now,
 * ahead of what is queued after it. fill(fill_arg, values) runs once, just
 * before the statement goes out, and stores malloc'ed strings (NULL: SQL
 * NULL) in values[0..nparams-1], which cc_db then owns; a re-sent batch
 * sends the same values. A statement never sent never calls fill. */
typedef void (cc_db_fill_fn)(void *fill_arg, char **values);
int cc_db_exec_fill(cc_db_t *self, const char *stmt, int nparams, cc_db_fill_fn *fill,
                    void *fill_arg, cc_db_fn *fn, void *arg);

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
