/* cc_db: asynchronous, batching PostgreSQL connection. See cc_db.h.
 *
 * Wire shape. Everything goes through libpq pipeline mode. A batch is one or
 * more *segments*; a segment is statements followed by one Sync, which the
 * server runs as one implicit transaction (libpq "Pipeline Mode": an error
 * aborts the rest of the segment up to the Sync and rolls it back). A normal
 * batch is one segment; after a failed segment its statements are re-sent
 * one segment each, all in one round trip. */
#include "cc_db.h"
#include "cc_log.h"
#include "cc_metrics.h"
#include "cc_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <event2/event.h>

#define S_BACKOFF_MIN_MS 100
#define S_BACKOFF_MAX_MS 5000
#define S_RETRY_MIN_MS 50        /* transient errors: first wait */
#define S_RETRY_MAX_MS 2000
#define S_SWEEP_MS 200           /* how often queued statements' deadlines are checked */
#define S_BATCH_MAX_DEFAULT 256
#define S_HOOKS_MAX 4

typedef enum { S_IDLE, S_CONNECTING, S_SETUP, S_READY } s_state_t;

typedef enum { S_OP_QUERY, S_OP_SETUP, S_OP_SYNC } s_op_kind_t;

/* One queued statement. */
typedef struct s_item {
    struct s_item *next;
    char *stmt;                /* prepared statement name */
    int nparams;
    char **values;             /* copies; NULL entries are SQL NULL */
    int *lengths;
    int *formats;
    cc_db_fn *fn;
    void *arg;
    int solo;                  /* run alone in its own segment (retry after a failure) */
    cc_db_fill_fn *fill;       /* cc_db_exec_fill: makes values when first sent */
    void *fill_arg;
    PGresult *res;             /* result held until the segment's Sync */
    int64_t queued_us;         /* for the latency histogram */
    int64_t deadline_us;       /* monotonic; 0: none (retried until it commits) */
} s_item_t;

/* One thing we expect results for, in send order. */
typedef struct s_op {
    struct s_op *next;
    s_op_kind_t kind;
    s_item_t *item;            /* S_OP_QUERY: the statement (owned by its segment) */
    int failed;                /* S_OP_SETUP: got an error */
    int setup_last;            /* S_OP_SYNC: closes the last setup segment */
    PGresult *commit_err;      /* S_OP_SYNC: error raised by the COMMIT itself */
    int commit_null;           /* S_OP_SYNC: the NULL after commit_err was read */
    /* S_OP_SYNC: the segment it closes */
    s_item_t *seg_head;        /* items of the segment, in order, owned */
} s_op_t;

typedef struct s_prep {
    struct s_prep *next;
    char *name;
    char *sql;
} s_prep_t;

typedef struct s_listen {
    struct s_listen *next;
    char *channel;
    cc_db_notify_fn *fn;
    void *arg;
} s_listen_t;

struct cc_db {
    struct event_base *base;
    char *conninfo;
    char name[48];
    PGconn *conn;                  /* NULL when disconnected */
    s_state_t state;
    struct event *ev_sock;         /* read (persistent) on PQsocket */
    struct event *ev_write;        /* one-shot write-ready while flushing/connecting */
    struct event *ev_retry;        /* reconnect timer */
    struct event *ev_kick;         /* start a batch at the end of this loop pass */
    int backoff_ms;
    int connect_timeout_ms;        /* connect + setup deadline (conninfo connect_timeout) */
    int connect_poll;              /* last PQconnectPoll answer while connecting */

    s_item_t *q_head, *q_tail;     /* queued, not yet sent */
    int queued;
    s_op_t *ops_head, *ops_tail;   /* sent, awaiting results */
    int inflight;                  /* statements in ops */

    int batch_max;
    int queue_max;                 /* queued + inflight bound for cc_db_exec; 0 none */
    int64_t item_timeout_us;       /* deadline given to statements queued; 0 none */
    int stmt_timeout_ms;           /* SET statement_timeout on connect; 0 none */
    struct event *ev_hold;         /* waiting out a transient error before sending */
    int hold;                      /* ev_hold pending: send nothing */
    int retry_ms;                  /* next transient wait (before jitter) */
    s_item_t *rq_last;             /* last statement put back during this hold (in q) */
    struct event *ev_sweep;        /* deadline sweep of queued statements */
    s_prep_t *preps;
    s_listen_t *listens;
    cc_db_event_fn *on_connect_fn[S_HOOKS_MAX]; void *on_connect_arg[S_HOOKS_MAX];
    cc_db_event_fn *on_commit_fn[S_HOOKS_MAX];  void *on_commit_arg[S_HOOKS_MAX];
    cc_db_event_fn *on_idle_fn;    void *on_idle_arg;
    int destroying;
    int busy;                      /* depth of s_on_sock: callbacks may be running */
    s_item_t *delivering;          /* rest of the segment being delivered */

    cc_metric_t *m_batches, *m_stmts, *m_errors, *m_reconnects, *m_latency;
    cc_metric_t *m_transient, *m_expired, *m_full;
};

static void s_connect_start(cc_db_t *self);
static void s_destroy_now(cc_db_t *self);
static void s_on_sock(evutil_socket_t fd, short what, void *arg);
static void s_maybe_send(cc_db_t *self);
static void s_prepare_now(cc_db_t *self, const s_prep_t *p);

/* ---------------------------------------------------------------- items */

static void s_item_free(s_item_t *it)
{
    if (!it)
        return;
    for (int i = 0; i < it->nparams; i++)
        free(it->values[i]);
    free(it->values);
    free(it->lengths);
    free(it->formats);
    free(it->stmt);
    if (it->res)
        PQclear(it->res);
    free(it);
}

static void s_queue_push_front_list(cc_db_t *self, s_item_t *head, s_item_t *tail, int n)
{
    if (!head)
        return;
    tail->next = self->q_head;
    self->q_head = head;
    if (!self->q_tail)
        self->q_tail = tail;
    self->queued += n;
}

/* --------------------------------------------------------- connection */

static void s_close_conn(cc_db_t *self)
{
    if (self->ev_sock) {
        event_free(self->ev_sock);
        self->ev_sock = NULL;
    }
    if (self->ev_write)
        event_del(self->ev_write);
    if (self->conn) {
        PQfinish(self->conn);
        self->conn = NULL;
    }
    self->state = S_IDLE;
}

static void s_op_free(s_op_t *op)
{
    if (op->commit_err)
        PQclear(op->commit_err);
    free(op);
}

/* Take every statement sent but not yet committed-and-delivered back into the
 * queue, in original order, so a reconnect re-sends it. */
static void s_requeue_inflight(cc_db_t *self)
{
    s_item_t *head = NULL, *tail = NULL;
    int n = 0;
    s_op_t *op = self->ops_head;
    while (op) {
        s_op_t *next = op->next;
        if (op->kind == S_OP_SYNC) {
            s_item_t *it = op->seg_head;
            while (it) {
                s_item_t *inext = it->next;
                if (it->res) {
                    PQclear(it->res);
                    it->res = NULL;
                }
                it->next = NULL;
                if (tail)
                    tail->next = it;
                else
                    head = it;
                tail = it;
                n++;
                it = inext;
            }
        }
        s_op_free(op);
        op = next;
    }
    self->ops_head = self->ops_tail = NULL;
    self->inflight = 0;
    s_queue_push_front_list(self, head, tail, n);
}

static void s_schedule_retry(cc_db_t *self)
{
    struct timeval tv = { self->backoff_ms / CC_MS_PER_S,
                          (self->backoff_ms % CC_MS_PER_S) * CC_US_PER_MS };
    event_add(self->ev_retry, &tv);
    self->backoff_ms *= 2;
    if (self->backoff_ms > S_BACKOFF_MAX_MS)
        self->backoff_ms = S_BACKOFF_MAX_MS;
}

static void s_lost(cc_db_t *self, const char *why)
{
    char pending[24];
    snprintf(pending, sizeof pending, "%d", self->inflight + self->queued);
    cc_warn("db_connection_lost", "db", self->name, "reason", why, "pending", pending);
    cc_metric_inc(self->m_reconnects);
    s_requeue_inflight(self);
    s_close_conn(self);
    if (!self->destroying)
        s_schedule_retry(self);
}

/* ev_retry is the reconnect timer while disconnected and the deadline of
 * the attempt from PQconnectStart to the end of setup: libpq enforces
 * connect_timeout only in blocking connects, and a server that accepts but
 * never answers (hung, or a black-holed address) would hold us forever. */
static void s_on_retry(evutil_socket_t fd, short what, void *arg)
{
    (void) fd;
    (void) what;
    cc_db_t *self = arg;
    if (self->conn && (self->state == S_CONNECTING || self->state == S_SETUP)) {
        cc_warn("db_connect_failed", "db", self->name, "error", "timeout");
        if (self->state == S_SETUP) {
            s_lost(self, "setup timeout");
        } else {
            s_close_conn(self);
            s_schedule_retry(self);
        }
        return;
    }
    s_connect_start(self);
}

static int s_watch_socket(cc_db_t *self)
{
    if (self->ev_sock) {
        event_free(self->ev_sock);
        self->ev_sock = NULL;
    }
    if (self->ev_write) {
        event_free(self->ev_write);
        self->ev_write = NULL;
    }
    int fd = PQsocket(self->conn);
    if (fd < 0)
        return -1;
    self->ev_sock = event_new(self->base, fd, EV_READ | EV_PERSIST, s_on_sock, self);
    self->ev_write = event_new(self->base, fd, EV_WRITE, s_on_sock, self);
    if (!self->ev_sock || !self->ev_write)
        return -1;
    return 0;
}

static void s_append_op(cc_db_t *self, s_op_t *op)
{
    op->next = NULL;
    if (self->ops_tail)
        self->ops_tail->next = op;
    else
        self->ops_head = op;
    self->ops_tail = op;
}

/* Close a setup segment with its own Sync. */
static int s_setup_sync(cc_db_t *self, int last)
{
    if (!PQpipelineSync(self->conn))
        return -1;
    s_op_t *op = calloc(1, sizeof *op);
    if (!op)
        return -1;
    op->kind = S_OP_SYNC;
    op->setup_last = last;
    s_append_op(self, op);
    return 0;
}

/* Queue prepares and LISTENs, each in its own segment: in one segment a
 * failed PREPARE (a function the schema lacks yet) would abort every
 * prepare and LISTEN after it (PGRES_PIPELINE_ABORTED), silently. */
/* One setup SQL text (no parameters) in its own segment. */
static int s_send_setup_sql(cc_db_t *self, const char *sql)
{
    if (!PQsendQueryParams(self->conn, sql, 0, NULL, NULL, NULL, NULL, 0))
        return -1;
    s_op_t *op = calloc(1, sizeof *op);
    if (!op)
        return -1;
    op->kind = S_OP_SETUP;
    s_append_op(self, op);
    return s_setup_sync(self, 0);
}

static int s_send_setup(cc_db_t *self)
{
    if (self->stmt_timeout_ms > 0) {
        char sql[64];
        snprintf(sql, sizeof sql, "SET statement_timeout = %d", self->stmt_timeout_ms);
        if (s_send_setup_sql(self, sql) != 0)
            return -1;
    }
    for (s_prep_t *p = self->preps; p; p = p->next) {
        if (!PQsendPrepare(self->conn, p->name, p->sql, 0, NULL))
            return -1;
        s_op_t *op = calloc(1, sizeof *op);
        if (!op)
            return -1;
        op->kind = S_OP_SETUP;
        s_append_op(self, op);
        if (s_setup_sync(self, 0) != 0)
            return -1;
    }
    for (s_listen_t *l = self->listens; l; l = l->next) {
        char *q = PQescapeIdentifier(self->conn, l->channel, strlen(l->channel));
        if (!q)
            return -1;
        char sql[300];
        snprintf(sql, sizeof sql, "LISTEN %s", q);
        PQfreemem(q);
        if (!PQsendQueryParams(self->conn, sql, 0, NULL, NULL, NULL, NULL, 0))
            return -1;
        s_op_t *op = calloc(1, sizeof *op);
        if (!op)
            return -1;
        op->kind = S_OP_SETUP;
        s_append_op(self, op);
        if (s_setup_sync(self, 0) != 0)
            return -1;
    }
    /* An empty segment (a bare Sync) marks the end of setup. */
    return s_setup_sync(self, 1);
}

static void s_flush(cc_db_t *self)
{
    int rc = PQflush(self->conn);
    if (rc < 0) {
        s_lost(self, "flush");
        return;
    }
    if (rc == 1)
        event_add(self->ev_write, NULL);   /* more to send: wait for write-ready */
}

static void s_connected(cc_db_t *self)
{
    if (PQsetnonblocking(self->conn, 1) != 0 || !PQenterPipelineMode(self->conn)) {
        s_lost(self, "pipeline");
        return;
    }
    event_add(self->ev_sock, NULL);
    self->state = S_SETUP;
    if (s_send_setup(self) != 0) {
        s_lost(self, "setup");
        return;
    }
    s_flush(self);
}

static void s_connect_step(cc_db_t *self)
{
    PostgresPollingStatusType st = PQconnectPoll(self->conn);
    if (st == PGRES_POLLING_FAILED) {
        char *msg = PQerrorMessage(self->conn);
        char first[160];
        snprintf(first, sizeof first, "%s", msg ? msg : "");
        char *nl = strchr(first, '\n');
        if (nl)
            *nl = 0;
        cc_warn("db_connect_failed", "db", self->name, "error", first);
        s_close_conn(self);
        s_schedule_retry(self);
        return;
    }
    if (st == PGRES_POLLING_OK) {
        if (s_watch_socket(self) != 0) {
            s_lost(self, "socket");
            return;
        }
        self->backoff_ms = S_BACKOFF_MIN_MS;
        cc_info("db_connected", "db", self->name);
        s_connected(self);
        return;
    }
    /* The socket may change between attempts (several hosts): re-watch. */
    if (s_watch_socket(self) != 0) {
        s_close_conn(self);
        s_schedule_retry(self);
        return;
    }
    self->connect_poll = st;
    if (st == PGRES_POLLING_READING) {
        event_free(self->ev_sock);
        self->ev_sock = event_new(self->base, PQsocket(self->conn), EV_READ, s_on_sock, self);
        event_add(self->ev_sock, NULL);
    } else {
        event_add(self->ev_write, NULL);
    }
}

static void s_connect_start(cc_db_t *self)
{
    if (self->conn || self->destroying)
        return;
    self->conn = PQconnectStart(self->conninfo);
    if (!self->conn || PQstatus(self->conn) == CONNECTION_BAD) {
        cc_warn("db_connect_failed", "db", self->name, "error", "connect start");
        s_close_conn(self);
        s_schedule_retry(self);
        return;
    }
    self->state = S_CONNECTING;
    struct timeval tv = { self->connect_timeout_ms / CC_MS_PER_S,
                          (self->connect_timeout_ms % CC_MS_PER_S) * CC_US_PER_MS };
    event_add(self->ev_retry, &tv);
    s_connect_step(self);
}

/* ------------------------------------------------------- error classes */

cc_db_err_t cc_db_err_class(const char *st)
{
    if (!st || strlen(st) != 5)
        return CC_DB_ERR_OTHER;
    if (strcmp(st, "XX001") == 0 || strcmp(st, "XX002") == 0)
        return CC_DB_ERR_CORRUPT;
    /* Each rolls back the statement's transaction and says nothing about
     * the statement itself: run as it was, later, it may well commit. */
    static const char *const transient[] = {
        "40001",    /* serialization_failure */
        "40P01",    /* deadlock_detected */
        "55P03",    /* lock_not_available */
        "57014",    /* query_canceled (statement_timeout) */
        "57P01",    /* admin_shutdown */
        "57P02",    /* crash_shutdown */
        "57P03",    /* cannot_connect_now (starting, recovering) */
        "25006",    /* read_only_sql_transaction (a standby after failover) */
        NULL
    };
    for (int i = 0; transient[i]; i++)
        if (strcmp(st, transient[i]) == 0)
            return CC_DB_ERR_TRANSIENT;
    /* 08: connection exceptions; 53: insufficient resources (53100 disk
     * full, 53200 out of memory, 53300 too many connections). */
    if (strncmp(st, "08", 2) == 0 || strncmp(st, "53", 2) == 0)
        return CC_DB_ERR_TRANSIENT;
    return CC_DB_ERR_OTHER;
}

cc_db_err_t cc_db_res_class(const PGresult *res)
{
    if (!res)
        return CC_DB_ERR_TRANSIENT;
    ExecStatusType st = PQresultStatus(res);
    if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK)
        return CC_DB_OK;
    const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
    return state ? cc_db_err_class(state) : CC_DB_ERR_TRANSIENT;
}

void cc_db_fatal(const char *what, const PGresult *res)
{
    static const char *const names[] = { "ok", "transient", "corrupt", "other" };
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    const char *cons = res ? PQresultErrorField(res, PG_DIAG_CONSTRAINT_NAME) : NULL;
    cc_error("fatal", "what", what ? what : "", "sqlstate", state ? state : "",
             "class", names[res ? cc_db_res_class(res) : CC_DB_ERR_OTHER],
             "constraint", cons ? cons : "",
             "status", res ? PQresStatus(PQresultStatus(res)) : "none",
             "action", "exit 1: restart reloads memory from the store");
    exit(1);
}

/* Jitter: waits of many daemons hit by the same failure spread out. */
static int s_jitter(int ms)
{
    static uint64_t x;
    if (!x)
        x = (uint64_t) cc_mono_us() | 1;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return ms / 2 + (int) (x % (uint64_t) (ms / 2 + 1));
}

/* Send nothing until the wait for a transient error is over. */
static void s_hold(cc_db_t *self)
{
    if (self->hold)
        return;
    int ms = s_jitter(self->retry_ms);
    self->retry_ms = self->retry_ms * 2 > S_RETRY_MAX_MS ? S_RETRY_MAX_MS : self->retry_ms * 2;
    struct timeval tv = { ms / CC_MS_PER_S, (ms % CC_MS_PER_S) * CC_US_PER_MS };
    self->hold = 1;
    event_add(self->ev_hold, &tv);
}

/* ------------------------------------------------------------ results */

static void s_deliver_segment(cc_db_t *self, s_item_t *seg, int ok)
{
    int64_t now = cc_mono_us();
    s_item_t *it = seg;
    while (it) {
        s_item_t *next = it->next;
        self->delivering = next;   /* reachable by cc_db_forget() from fn */
        self->inflight--;
        cc_metric_observe(self->m_latency, (double) (now - it->queued_us) / CC_US_PER_S);
        if (it->fn) {
            if (it->res)
                it->fn(it->res, it->arg);
            else {
                /* No result at all cannot happen for a committed statement;
                 * hand the caller a synthetic fatal result, never NULL. */
                PGresult *r = PQmakeEmptyPGresult(NULL, PGRES_FATAL_ERROR);
                it->fn(r, it->arg);
                PQclear(r);
            }
        }
        (void) ok;
        s_item_free(it);
        it = next;
    }
    self->delivering = NULL;
}

static int s_res_ok(const PGresult *r)
{
    ExecStatusType st = PQresultStatus(r);
    return st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK;
}

/* Run hooks from a copy: a hook may remove hooks (cc_db_forget) or destroy
 * us (then the rest are disarmed, see cc_db_destroy). */
static void s_hooks_run(cc_db_t *self, cc_db_event_fn **fns, void **args)
{
    cc_db_event_fn *f[S_HOOKS_MAX];
    void *a[S_HOOKS_MAX];
    memcpy(f, fns, sizeof f);
    memcpy(a, args, sizeof a);
    for (int i = 0; i < S_HOOKS_MAX && f[i] && !self->destroying; i++) {
        /* Skip a hook removed by an earlier one. */
        int still = 0;
        for (int j = 0; j < S_HOOKS_MAX; j++)
            if (fns[j] == f[i] && args[j] == a[i])
                still = 1;
        if (still)
            f[i](a[i]);
    }
}

/* A Sync came back: the segment committed, or rolled back if any failed. */
static void s_on_sync(cc_db_t *self, s_op_t *op)
{
    if (self->state == S_SETUP) {
        /* Setup failures were logged as they came; statements using a
         * failed prepare will fail visibly on their own. */
        if (!op->setup_last)
            return;
        self->state = S_READY;
        event_del(self->ev_retry);   /* the connect deadline */
        s_hooks_run(self, self->on_connect_fn, self->on_connect_arg);
        return;
    }
    s_item_t *seg = op->seg_head;
    op->seg_head = NULL;
    int n = 0, bad = op->commit_err != NULL;
    s_item_t *tail = NULL;
    for (s_item_t *it = seg; it; it = it->next) {
        n++;
        if (!it->res || !s_res_ok(it->res))
            bad = 1;
        tail = it;
    }
    if (op->commit_err && n == 1) {
        /* Alone and rolled back at COMMIT: that error is its result. */
        if (seg->res)
            PQclear(seg->res);
        seg->res = op->commit_err;
        op->commit_err = NULL;
    }
    if (!bad) {
        if (n > 0)
            self->retry_ms = S_RETRY_MIN_MS;
        cc_metric_inc(self->m_batches);
        s_deliver_segment(self, seg, 1);
        s_hooks_run(self, self->on_commit_fn, self->on_commit_arg);
        return;
    }
    if (n == 1) {
        const char *state = PQresultErrorField(seg->res, PG_DIAG_SQLSTATE);
        cc_db_err_t cls = cc_db_res_class(seg->res);
        if (cls == CC_DB_ERR_CORRUPT)
            cc_db_fatal(seg->stmt, seg->res);   /* nothing more may be written */
        if (cls == CC_DB_ERR_TRANSIENT && (!seg->deadline_us || cc_mono_us() < seg->deadline_us)) {
            /* Rolled back, so running it again cannot apply it twice; a
             * write whose earlier COMMIT did go through (connection lost
             * after it) is made harmless by its own key: every write is one
             * SQL function call that first looks up its idempotency key,
             * event id (cc_consume's inbox) or target state, and answers
             * "existing" rather than applying again. */
            cc_metric_inc(self->m_transient);
            cc_warn("db_transient", "db", self->name, "stmt", seg->stmt,
                    "sqlstate", state ? state : "");
            if (seg->res) {
                PQclear(seg->res);
                seg->res = NULL;
            }
            /* Back in the queue in their original order, ahead of the rest:
             * consumers' effects must apply in log order. */
            self->inflight--;
            if (self->rq_last) {
                seg->next = self->rq_last->next;
                self->rq_last->next = seg;
                if (self->q_tail == self->rq_last)
                    self->q_tail = seg;
                self->queued++;
            } else {
                s_queue_push_front_list(self, seg, seg, 1);
            }
            self->rq_last = seg;
            s_hold(self);
            return;
        }
        /* The statement itself is at fault: its caller gets the error. */
        cc_metric_inc(self->m_errors);
        cc_warn("db_statement_failed", "db", self->name, "stmt", seg->stmt,
                "sqlstate", state ? state : "");
        /* 26000: the statement is not prepared on this connection (its
         * PREPARE failed at connect, e.g. the schema was being migrated).
         * Prepare it again, so that the next use can succeed without
         * waiting for a reconnect that may never come. */
        s_prep_t *again = NULL;
        if (state && strcmp(state, "26000") == 0)
            for (s_prep_t *p = self->preps; p; p = p->next)
                if (strcmp(p->name, seg->stmt) == 0)
                    again = p;
        s_deliver_segment(self, seg, 0);
        if (again && self->conn && !self->destroying && self->state == S_READY)
            s_prepare_now(self, again);
        return;
    }
    /* Rolled back as a whole: run each statement alone so one bad statement
     * cannot sink the others. */
    for (s_item_t *it = seg; it; it = it->next) {
        it->solo = 1;
        if (it->res) {
            PQclear(it->res);
            it->res = NULL;
        }
    }
    self->inflight -= n;
    s_queue_push_front_list(self, seg, tail, n);
}

static void s_read_results(cc_db_t *self)
{
    while (self->ops_head && self->conn && !self->destroying) {
        if (PQisBusy(self->conn))
            break;
        PGresult *res = PQgetResult(self->conn);
        s_op_t *op = self->ops_head;
        if (op->kind == S_OP_SYNC) {
            if (!res) {
                /* After a COMMIT error libpq ends it with a NULL; the Sync
                 * may already be buffered, and the socket will not wake us
                 * for it: read on. */
                if (op->commit_err && !op->commit_null) {
                    op->commit_null = 1;
                    continue;
                }
                break;
            }
            ExecStatusType st = PQresultStatus(res);
            if (st == PGRES_FATAL_ERROR && !op->commit_err) {
                /* The implicit COMMIT at the Sync failed (a deferred
                 * constraint): the segment rolled back. Its own
                 * PIPELINE_SYNC follows. */
                op->commit_err = res;
                continue;
            }
            PQclear(res);
            if (st != PGRES_PIPELINE_SYNC) {
                s_lost(self, "protocol");
                return;
            }
            self->ops_head = op->next;
            if (!self->ops_head)
                self->ops_tail = NULL;
            s_on_sync(self, op);
            s_op_free(op);
            continue;
        }
        if (!res) {
            /* End of this statement's results. */
            self->ops_head = op->next;
            if (!self->ops_head)
                self->ops_tail = NULL;
            free(op);
            continue;
        }
        if (op->kind == S_OP_SETUP) {
            if (!s_res_ok(res)) {
                const char *msg = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
                cc_error("db_prepare_failed", "db", self->name, "error", msg ? msg : "");
                op->failed = 1;
            }
            PQclear(res);
        } else if (!op->item->res) {
            op->item->res = res;
        } else {
            PQclear(res);
        }
    }
}

static void s_read_notifies(cc_db_t *self)
{
    PGnotify *n;
    while (self->conn && !self->destroying && (n = PQnotifies(self->conn)) != NULL) {
        for (s_listen_t *l = self->listens; l && !self->destroying; l = l->next)
            if (strcmp(l->channel, n->relname) == 0 && l->fn)
                l->fn(n->relname, n->extra, l->arg);
        PQfreemem(n);
    }
}

static void s_maybe_idle(cc_db_t *self)
{
    if (!self->destroying && self->queued == 0 && self->inflight == 0 && self->on_idle_fn)
        self->on_idle_fn(self->on_idle_arg);
}

static void s_on_sock_inner(cc_db_t *self, short what)
{
    if (self->state == S_CONNECTING) {
        s_connect_step(self);
        return;
    }
    if (!self->conn)
        return;
    if (what & EV_WRITE) {
        s_flush(self);
        if (!self->conn)
            return;
    }
    if (what & EV_READ) {
        if (!PQconsumeInput(self->conn)) {
            s_lost(self, "read");
            return;
        }
    }
    s_read_results(self);
    if (!self->conn)
        return;
    s_read_notifies(self);
    if (self->conn && PQstatus(self->conn) == CONNECTION_BAD) {
        s_lost(self, "status");
        return;
    }
    s_maybe_send(self);
    s_maybe_idle(self);
}

/* Callbacks run only from here; one of them may destroy us (never free
 * what is being dispatched: the object goes when the dispatch is over). */
static void s_on_sock(evutil_socket_t fd, short what, void *arg)
{
    (void) fd;
    cc_db_t *self = arg;
    self->busy++;
    s_on_sock_inner(self, what);
    if (--self->busy == 0 && self->destroying)
        s_destroy_now(self);
}

/* ------------------------------------------------------------ sending */

static int s_send_item(cc_db_t *self, s_item_t *it)
{
    if (it->fill) {
        /* Once: a batch re-sent after a failure or reconnect sends the
         * same values. */
        it->fill(it->fill_arg, it->values);
        it->fill = NULL;
        for (int i = 0; i < it->nparams; i++)
            it->lengths[i] = it->values[i] ? (int) strlen(it->values[i]) : 0;
    }
    if (!PQsendQueryPrepared(self->conn, it->stmt, it->nparams,
                             (const char *const *) it->values, it->lengths, it->formats, 0))
        return -1;
    s_op_t *op = calloc(1, sizeof *op);
    if (!op)
        return -1;
    op->kind = S_OP_QUERY;
    op->item = it;
    s_append_op(self, op);
    self->inflight++;
    cc_metric_inc(self->m_stmts);
    return 0;
}

static int s_send_sync(cc_db_t *self, s_item_t *seg)
{
    if (!PQpipelineSync(self->conn))
        return -1;
    s_op_t *op = calloc(1, sizeof *op);
    if (!op)
        return -1;
    op->kind = S_OP_SYNC;
    op->seg_head = seg;
    s_append_op(self, op);
    return 0;
}

/* One batch in flight at a time: the next batch collects everything that
 * arrives meanwhile, so batches grow with load (group commit). */
static void s_maybe_send(cc_db_t *self)
{
    if (self->destroying || self->state != S_READY || self->ops_head || !self->q_head
        || self->hold)
        return;
    int sent = 0;
    s_item_t *seg = NULL, *seg_tail = NULL;
    while (self->q_head && sent < self->batch_max) {
        s_item_t *it = self->q_head;
        if (it->solo && seg) {
            /* Close the segment being built before a solo statement. */
            if (s_send_sync(self, seg) != 0)
                goto lost;
            seg = seg_tail = NULL;
        }
        self->q_head = it->next;
        if (!self->q_head)
            self->q_tail = NULL;
        self->queued--;
        it->next = NULL;
        if (seg_tail)
            seg_tail->next = it;
        else
            seg = it;
        seg_tail = it;
        if (s_send_item(self, it) != 0)
            goto lost;
        sent++;
        if (it->solo) {
            if (s_send_sync(self, seg) != 0)
                goto lost;
            seg = seg_tail = NULL;
        }
    }
    if (seg && s_send_sync(self, seg) != 0)
        goto lost;
    s_flush(self);
    return;
lost:
    /* The segment being built is not yet owned by an op: give it back. */
    if (seg) {
        int n = 0;
        for (s_item_t *it = seg; it; it = it->next) {
            n++;
            if (it->res) {
                PQclear(it->res);
                it->res = NULL;
            }
        }
        /* Its statements were counted in flight and have ops pointing at
         * them; drop those ops first. */
        s_op_t **pp = &self->ops_head;
        self->ops_tail = NULL;
        while (*pp) {
            s_op_t *op = *pp;
            int mine = 0;
            for (s_item_t *it = seg; it; it = it->next)
                if (op->kind == S_OP_QUERY && op->item == it)
                    mine = 1;
            if (mine) {
                *pp = op->next;
                free(op);
                self->inflight--;
            } else {
                self->ops_tail = op;
                pp = &op->next;
            }
        }
        s_queue_push_front_list(self, seg, seg_tail, n);
    }
    s_lost(self, "send");
}

static void s_on_hold(evutil_socket_t fd, short what, void *arg)
{
    (void) fd;
    (void) what;
    cc_db_t *self = arg;
    self->hold = 0;
    self->rq_last = NULL;
    s_maybe_send(self);
}

/* Answer, with an error result, every queued statement past its deadline:
 * its request has been answered already (cc_http's deadline), and one
 * waiting for a database that does not come back must not be kept. */
static void s_sweep(cc_db_t *self)
{
    int64_t now = cc_mono_us();
    s_item_t *gone = NULL, **gone_tail = &gone, *prev = NULL;
    for (s_item_t *it = self->q_head, *next; it; it = next) {
        next = it->next;
        if (!it->deadline_us || now < it->deadline_us) {
            prev = it;
            continue;
        }
        if (prev)
            prev->next = next;
        else
            self->q_head = next;
        if (self->q_tail == it)
            self->q_tail = prev;
        if (self->rq_last == it)
            self->rq_last = prev;
        self->queued--;
        it->next = NULL;
        *gone_tail = it;
        gone_tail = &it->next;
    }
    if (!gone)
        return;
    PGresult *r = PQmakeEmptyPGresult(NULL, PGRES_FATAL_ERROR);
    self->busy++;
    for (s_item_t *it = gone, *next; it; it = next) {
        next = it->next;
        self->delivering = next;   /* reachable by cc_db_forget() from fn */
        cc_metric_inc(self->m_expired);
        if (it->fn && r && !self->destroying)
            it->fn(r, it->arg);
        s_item_free(it);
    }
    self->delivering = NULL;
    if (r)
        PQclear(r);
    if (--self->busy == 0 && self->destroying)
        s_destroy_now(self);
}

static void s_on_sweep(evutil_socket_t fd, short what, void *arg)
{
    (void) fd;
    (void) what;
    s_sweep(arg);
}

static void s_on_kick(evutil_socket_t fd, short what, void *arg)
{
    (void) fd;
    (void) what;
    s_maybe_send((cc_db_t *) arg);
}

/* ------------------------------------------------------------- public */

/* connect_timeout from conninfo (libpq: seconds, at least 2), else 10 s. */
static int s_connect_timeout_ms(const char *conninfo)
{
    int secs = 10;
    PQconninfoOption *opts = conninfo ? PQconninfoParse(conninfo, NULL) : NULL;
    for (PQconninfoOption *o = opts; o && o->keyword; o++)
        if (strcmp(o->keyword, "connect_timeout") == 0 && o->val && *o->val) {
            int v = atoi(o->val);
            if (v > 0)
                secs = v < 2 ? 2 : v;
        }
    if (opts)
        PQconninfoFree(opts);
    return secs * CC_MS_PER_S;
}

/* A server that dies mid-batch would otherwise hold the writer until the
 * kernel gives up on the connection (minutes). Keyword conninfo only: a URI
 * is used as given; keywords the caller set are kept, only absent ones added. */
static char *s_conninfo_with_keepalives(const char *conninfo)
{
    if (strncmp(conninfo, "postgres", 8) == 0)
        return strdup(conninfo);
    static const char *const extra[] = {
        "keepalives=1", "keepalives_idle=10", "keepalives_interval=5", "keepalives_count=3",
        "tcp_user_timeout=30000", NULL
    };
    size_t len = strlen(conninfo) + 1;
    for (int i = 0; extra[i]; i++)
        len += strlen(extra[i]) + 1;
    char *out = malloc(len);
    if (!out)
        return NULL;
    strcpy(out, conninfo);
    for (int i = 0; extra[i]; i++) {
        size_t key = (size_t) (strchr(extra[i], '=') - extra[i]);
        char probe[32];
        snprintf(probe, sizeof probe, "%.*s=", (int) key, extra[i]);
        if (strstr(conninfo, probe))
            continue;
        if (*out)
            strcat(out, " ");
        strcat(out, extra[i]);
    }
    return out;
}

cc_db_t *cc_db_new(struct event_base *base, const char *conninfo, const char *name)
{
    cc_db_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->base = base;
    self->conninfo = s_conninfo_with_keepalives(conninfo ? conninfo : "");
    snprintf(self->name, sizeof self->name, "%s", name ? name : "db");
    self->backoff_ms = S_BACKOFF_MIN_MS;
    self->batch_max = S_BATCH_MAX_DEFAULT;
    self->connect_timeout_ms = s_connect_timeout_ms(self->conninfo);
    self->ev_retry = evtimer_new(base, s_on_retry, self);
    self->ev_kick = event_new(base, -1, 0, s_on_kick, self);
    self->ev_hold = evtimer_new(base, s_on_hold, self);
    self->retry_ms = S_RETRY_MIN_MS;
    if (!self->conninfo || !self->ev_retry || !self->ev_kick || !self->ev_hold) {
        cc_db_destroy(&self);
        return NULL;
    }
    char m[160];
    snprintf(m, sizeof m, "db_batches_total{db=\"%s\"}", self->name);
    self->m_batches = cc_metrics_counter(m, "Committed batches (one transaction each)");
    snprintf(m, sizeof m, "db_statements_total{db=\"%s\"}", self->name);
    self->m_stmts = cc_metrics_counter(m, "Statements sent");
    snprintf(m, sizeof m, "db_statement_errors_total{db=\"%s\"}", self->name);
    self->m_errors = cc_metrics_counter(m, "Statements that failed on their own");
    snprintf(m, sizeof m, "db_reconnects_total{db=\"%s\"}", self->name);
    self->m_reconnects = cc_metrics_counter(m, "Connections lost and re-established");
    snprintf(m, sizeof m, "db_statement_seconds{db=\"%s\"}", self->name);
    self->m_latency = cc_metrics_histogram(m, "Queue to commit latency of a statement");
    snprintf(m, sizeof m, "db_transient_retries_total{db=\"%s\"}", self->name);
    self->m_transient = cc_metrics_counter(m, "Statements run again after a transient error");
    snprintf(m, sizeof m, "db_statements_expired_total{db=\"%s\"}", self->name);
    self->m_expired = cc_metrics_counter(m, "Statements given up at their deadline");
    snprintf(m, sizeof m, "db_queue_full_total{db=\"%s\"}", self->name);
    self->m_full = cc_metrics_counter(m, "Statements refused: the queue was at its bound");
    s_connect_start(self);
    return self;
}

/* Disarm every callback whose argument is arg (any when all is set): queued,
 * in flight and the rest of the segment being delivered. */
static void s_disarm(cc_db_t *self, void *arg, int all)
{
    for (s_item_t *it = self->q_head; it; it = it->next)
        if (all || it->arg == arg)
            it->fn = NULL;
    for (s_item_t *it = self->delivering; it; it = it->next)
        if (all || it->arg == arg)
            it->fn = NULL;
    for (s_op_t *op = self->ops_head; op; op = op->next)
        for (s_item_t *it = op->kind == S_OP_SYNC ? op->seg_head : NULL; it; it = it->next)
            if (all || it->arg == arg)
                it->fn = NULL;
    for (s_listen_t *l = self->listens; l; l = l->next)
        if (all || l->arg == arg)
            l->fn = NULL;
    for (int i = 0; i < S_HOOKS_MAX; i++) {
        if (all || self->on_connect_arg[i] == arg)
            self->on_connect_fn[i] = NULL;
        if (all || self->on_commit_arg[i] == arg)
            self->on_commit_fn[i] = NULL;
    }
    /* Keep the hook arrays packed: the runners stop at the first NULL. */
    for (int k = 0; k < 2; k++) {
        cc_db_event_fn **fns = k ? self->on_commit_fn : self->on_connect_fn;
        void **args = k ? self->on_commit_arg : self->on_connect_arg;
        int j = 0;
        for (int i = 0; i < S_HOOKS_MAX; i++)
            if (fns[i]) {
                fns[j] = fns[i];
                args[j] = args[i];
                j++;
            }
        for (; j < S_HOOKS_MAX; j++) {
            fns[j] = NULL;
            args[j] = NULL;
        }
    }
    if (all || self->on_idle_arg == arg)
        self->on_idle_fn = NULL;
}

void cc_db_forget(cc_db_t *self, void *arg)
{
    if (self)
        s_disarm(self, arg, 0);
}

void cc_db_destroy(cc_db_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    cc_db_t *self = *self_p;
    *self_p = NULL;
    self->destroying = 1;
    if (self->busy) {
        /* Called from one of our callbacks: run none of the others, free
         * when the dispatch returns. */
        s_disarm(self, NULL, 1);
        return;
    }
    s_destroy_now(self);
}

static void s_destroy_now(cc_db_t *self)
{
    s_requeue_inflight(self);
    s_close_conn(self);
    while (self->q_head) {
        s_item_t *it = self->q_head;
        self->q_head = it->next;
        s_item_free(it);
    }
    while (self->preps) {
        s_prep_t *p = self->preps;
        self->preps = p->next;
        free(p->name);
        free(p->sql);
        free(p);
    }
    while (self->listens) {
        s_listen_t *l = self->listens;
        self->listens = l->next;
        free(l->channel);
        free(l);
    }
    if (self->ev_write)
        event_free(self->ev_write);
    if (self->ev_retry)
        event_free(self->ev_retry);
    if (self->ev_kick)
        event_free(self->ev_kick);
    if (self->ev_hold)
        event_free(self->ev_hold);
    if (self->ev_sweep)
        event_free(self->ev_sweep);
    free(self->conninfo);
    free(self);
}

/* PREPARE p now, as its own segment (connected only). */
static void s_prepare_now(cc_db_t *self, const s_prep_t *p)
{
    if (!PQsendPrepare(self->conn, p->name, p->sql, 0, NULL)) {
        s_lost(self, "prepare");
        return;
    }
    s_op_t *op = calloc(1, sizeof *op);
    s_op_t *sync = calloc(1, sizeof *sync);
    if (!op || !sync || !PQpipelineSync(self->conn)) {
        free(op);
        free(sync);
        s_lost(self, "prepare");
        return;
    }
    op->kind = S_OP_SETUP;
    s_append_op(self, op);
    sync->kind = S_OP_SYNC;
    s_append_op(self, sync);
    s_flush(self);
}

int cc_db_prepare(cc_db_t *self, const char *stmt, const char *sql)
{
    for (s_prep_t *q = self->preps; q; q = q->next)
        if (strcmp(q->name, stmt) == 0)
            return strcmp(q->sql, sql) == 0 ? 0 : -1;
    s_prep_t *p = calloc(1, sizeof *p);
    if (!p)
        return -1;
    p->name = strdup(stmt);
    p->sql = strdup(sql);
    if (!p->name || !p->sql) {
        free(p->name);
        free(p->sql);
        free(p);
        return -1;
    }
    /* Append: prepare order is registration order. */
    s_prep_t **pp = &self->preps;
    while (*pp)
        pp = &(*pp)->next;
    *pp = p;
    /* Already connected: prepare now, ahead of anything queued later. */
    if (self->state == S_READY || self->state == S_SETUP)
        s_prepare_now(self, p);
    return 0;
}

static void s_hook_add(cc_db_event_fn **fns, void **args, cc_db_event_fn *fn, void *arg)
{
    for (int i = 0; i < S_HOOKS_MAX; i++)
        if (!fns[i]) {
            fns[i] = fn;
            args[i] = arg;
            return;
        }
    cc_error("db_too_many_hooks");
}

void cc_db_on_connect(cc_db_t *self, cc_db_event_fn *fn, void *arg)
{
    s_hook_add(self->on_connect_fn, self->on_connect_arg, fn, arg);
}

void cc_db_on_commit(cc_db_t *self, cc_db_event_fn *fn, void *arg)
{
    s_hook_add(self->on_commit_fn, self->on_commit_arg, fn, arg);
}

void cc_db_on_idle(cc_db_t *self, cc_db_event_fn *fn, void *arg)
{
    self->on_idle_fn = fn;
    self->on_idle_arg = arg;
}

int cc_db_listen(cc_db_t *self, const char *channel, cc_db_notify_fn *fn, void *arg)
{
    s_listen_t *l = calloc(1, sizeof *l);
    if (!l || !(l->channel = strdup(channel))) {
        free(l);
        return -1;
    }
    l->fn = fn;
    l->arg = arg;
    l->next = self->listens;
    self->listens = l;
    if (self->state == S_READY || self->state == S_SETUP) {
        /* Connected already: LISTEN now, as its own segment. */
        char *q = PQescapeIdentifier(self->conn, channel, strlen(channel));
        char sql[300];
        snprintf(sql, sizeof sql, "LISTEN %s", q ? q : "\"\"");
        if (q)
            PQfreemem(q);
        s_op_t *op = calloc(1, sizeof *op);
        s_op_t *sync = calloc(1, sizeof *sync);
        if (!op || !sync || !PQsendQueryParams(self->conn, sql, 0, NULL, NULL, NULL, NULL, 0) ||
            !PQpipelineSync(self->conn)) {
            free(op);
            free(sync);
            s_lost(self, "listen");
            return 0;
        }
        op->kind = S_OP_SETUP;
        s_append_op(self, op);
        sync->kind = S_OP_SYNC;
        s_append_op(self, sync);
        s_flush(self);
    }
    return 0;
}

int cc_db_exec(cc_db_t *self, const char *stmt, int nparams, const char *const *values,
               const int *lengths, const int *formats, cc_db_fn *fn, void *arg)
{
    if (self->queue_max > 0 && self->queued + self->inflight >= self->queue_max) {
        cc_metric_inc(self->m_full);
        return -1;
    }
    s_item_t *it = calloc(1, sizeof *it);
    if (!it)
        return -1;
    it->stmt = strdup(stmt);
    it->nparams = nparams;
    it->fn = fn;
    it->arg = arg;
    it->queued_us = cc_mono_us();
    if (self->item_timeout_us)
        it->deadline_us = it->queued_us + self->item_timeout_us;
    if (nparams > 0) {
        it->values = calloc((size_t) nparams, sizeof *it->values);
        it->lengths = calloc((size_t) nparams, sizeof *it->lengths);
        it->formats = calloc((size_t) nparams, sizeof *it->formats);
    }
    if (!it->stmt || (nparams > 0 && (!it->values || !it->lengths || !it->formats))) {
        s_item_free(it);
        return -1;
    }
    for (int i = 0; i < nparams; i++) {
        if (!values || !values[i])
            continue;
        int bin = formats && formats[i] == 1;
        size_t len = bin ? (size_t) lengths[i] : strlen(values[i]);
        it->values[i] = malloc(len + 1);
        if (!it->values[i]) {
            s_item_free(it);
            return -1;
        }
        memcpy(it->values[i], values[i], len);
        it->values[i][len] = 0;
        it->lengths[i] = (int) len;
        it->formats[i] = bin;
    }
    if (self->q_tail)
        self->q_tail->next = it;
    else
        self->q_head = it;
    self->q_tail = it;
    self->queued++;
    /* Start the batch after the other callbacks of this loop pass have had
     * their chance to queue: that is what makes batches. */
    if (self->state == S_READY && !self->ops_head)
        event_active(self->ev_kick, 0, 0);
    return 0;
}

int cc_db_exec_fill(cc_db_t *self, const char *stmt, int nparams, cc_db_fill_fn *fill,
                    void *fill_arg, cc_db_fn *fn, void *arg)
{
    if (nparams < 1 || !fill)
        return -1;
    /* All NULL for now: queued in its place, filled by s_send_item. */
    if (cc_db_exec(self, stmt, nparams, (const char *const *) NULL, NULL, NULL, fn, arg) != 0)
        return -1;
    self->q_tail->fill = fill;
    self->q_tail->fill_arg = fill_arg;
    return 0;
}

int cc_db_connected(const cc_db_t *self)
{
    return self->state == S_READY;
}

int cc_db_pending(const cc_db_t *self)
{
    return self->queued + self->inflight;
}

void cc_db_set_batch_max(cc_db_t *self, int max)
{
    self->batch_max = max > 0 ? max : S_BATCH_MAX_DEFAULT;
}

void cc_db_set_queue_max(cc_db_t *self, int max)
{
    self->queue_max = max > 0 ? max : 0;
}

void cc_db_set_item_timeout(cc_db_t *self, int ms)
{
    self->item_timeout_us = ms > 0 ? (int64_t) ms * CC_US_PER_MS : 0;
    if (self->item_timeout_us && !self->ev_sweep) {
        self->ev_sweep = event_new(self->base, -1, EV_PERSIST, s_on_sweep, self);
        struct timeval tv = { 0, S_SWEEP_MS * CC_US_PER_MS };
        if (self->ev_sweep)
            event_add(self->ev_sweep, &tv);
    }
}

void cc_db_set_statement_timeout(cc_db_t *self, int ms)
{
    self->stmt_timeout_ms = ms > 0 ? ms : 0;
    if (self->state != S_READY && self->state != S_SETUP)
        return;     /* the setup of the next connect sends it */
    char sql[64];
    snprintf(sql, sizeof sql, "SET statement_timeout = %d", self->stmt_timeout_ms);
    if (s_send_setup_sql(self, sql) != 0) {
        s_lost(self, "setup");
        return;
    }
    s_flush(self);
}
