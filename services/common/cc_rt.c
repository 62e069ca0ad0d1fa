/* cc_rt: see cc_rt.h. */
#include "cc_rt.h"

#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <zmq.h>

#include "cc_daemon.h"
#include "cc_log.h"
#include "cc_metrics.h"
#include "cc_pgarr.h"
#include "cc_util.h"

#define S_MAX_PARAMS 64
#define S_STOP_POLL_US 20000

/* ---- sd_notify ------------------------------------------------------------ */

int
cc_sd_notify(const char *state)
{
    const char *path = getenv("NOTIFY_SOCKET");
    if (!path || !*path)
        return 1;
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    size_t len = strlen(path);
    if ((path[0] != '/' && path[0] != '@') || len >= sizeof sa.sun_path)
        return -1;
    memcpy(sa.sun_path, path, len);
    if (path[0] == '@')
        sa.sun_path[0] = '\0';   /* abstract namespace */
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    socklen_t salen = (socklen_t) (offsetof(struct sockaddr_un, sun_path) + len);
    /* Never block the loop on a slow or stuck manager: drop the datagram. */
    ssize_t n = sendto(fd, state, strlen(state), MSG_NOSIGNAL | MSG_DONTWAIT,
                       (struct sockaddr *) &sa, salen);
    close(fd);
    return n == (ssize_t) strlen(state) ? 0 : -1;
}

/* ---- config ------------------------------------------------------------- */

static char s_default_db[160];
static char s_default_port[16];
static char s_default_ring[16];
static char s_ep_names[CC_RT_MAX_CONSUMERS][48];
static char s_ep_help[CC_RT_MAX_CONSUMERS][96];

/* The common parameters, then the daemon's: one table for cc_config. */
static int
s_params(cc_rt_t *rt, const cc_rt_spec_t *spec)
{
    cc_cfg_param_t *p = calloc(S_MAX_PARAMS + 1, sizeof *p);
    if (!p)
        return -1;
    snprintf(s_default_db, sizeof s_default_db,
             "host=127.0.0.1 port=55432 dbname=eldercare user=%s", spec->name);
    snprintf(s_default_port, sizeof s_default_port, "%d", spec->http_port);
    snprintf(s_default_ring, sizeof s_default_ring, "%d", spec->log_ring ? spec->log_ring : 4096);
    int n = 0;
    p[n++] = (cc_cfg_param_t) { "db", CC_CFG_STR, &rt->db, s_default_db,
                                "PostgreSQL conninfo (the daemon's own role and schema)",
                                .flags = CC_CFG_NONEMPTY };
    p[n++] = (cc_cfg_param_t) { "http-addr", CC_CFG_STR, &rt->http_addr, "127.0.0.1",
                                "HTTP listen address", .flags = CC_CFG_NONEMPTY };
    p[n++] = (cc_cfg_param_t) { "http-port", CC_CFG_INT, &rt->http_port, s_default_port,
                                "HTTP port (0: any free port)", .min = 0, .max = 65535 };
    p[n++] = (cc_cfg_param_t) { "log-endpoint", CC_CFG_STR, &rt->log_endpoint,
                                spec->log_endpoint, "own event log ROUTER (Fetch)",
                                .flags = CC_CFG_NONEMPTY };
    p[n++] = (cc_cfg_param_t) { "log-level", CC_CFG_STR, &rt->log_level, "info",
                                "log level", .choices = "debug|info|warn|error" };
    p[n++] = (cc_cfg_param_t) { "pidfile", CC_CFG_STR, &rt->pidfile, NULL,
                                "write the pid here once listening (empty: none)", .flags = 0 };
    p[n++] = (cc_cfg_param_t) { "max-body", CC_CFG_INT, &rt->max_body, "65536",
                                "largest HTTP request body in bytes (413 beyond)",
                                .min = 1024, .max = 16 * 1024 * 1024 };
    p[n++] = (cc_cfg_param_t) { "batch-max", CC_CFG_INT, &rt->batch_max, "256",
                                "statements per writer transaction", .min = 1, .max = 10000 };
    p[n++] = (cc_cfg_param_t) { "log-ring", CC_CFG_INT, &rt->log_ring, s_default_ring,
                                "recent own events served from memory",
                                .min = 16, .max = 1 << 20 };
    p[n++] = (cc_cfg_param_t) { "stop-timeout", CC_CFG_INT, &rt->stop_timeout_s, "8",
                                "seconds SIGTERM waits for work in flight (keep below the "
                                "unit's TimeoutStopSec)", .min = 1, .max = 300 };
    p[n++] = (cc_cfg_param_t) { "request-timeout", CC_CFG_INT, &rt->request_timeout_ms, "5000",
                                "ms an HTTP request may take before 503 timeout; also the "
                                "database statement_timeout", .min = 100, .max = 600000 };
    p[n++] = (cc_cfg_param_t) { "max-requests", CC_CFG_INT, &rt->max_requests, "1024",
                                "open HTTP requests (503 overloaded beyond)",
                                .min = 1, .max = 100000 };
    p[n++] = (cc_cfg_param_t) { "db-queue-max", CC_CFG_INT, &rt->db_queue_max, "10000",
                                "statements queued per database connection (writes refused "
                                "503 overloaded beyond)", .min = 64, .max = 1000000 };
    p[n++] = (cc_cfg_param_t) { "curve-keys-dir", CC_CFG_STR, &rt->curve_keys_dir, "var/keys",
                                "CURVE keys: <name>.key (ours, mode 0600) and <name>.pub "
                                "(every party's public key)", .flags = CC_CFG_NONEMPTY };
    p[n++] = (cc_cfg_param_t) { "log-clients", CC_CFG_STR, &rt->log_clients,
                                spec->log_clients ? spec->log_clients : "",
                                "parties (comma-separated, keys <name>.pub) that may Fetch "
                                "our event log", .flags = 0 };
    p[n++] = (cc_cfg_param_t) { "log-retention", CC_CFG_INT, &rt->log_retention_s, "604800",
                                "seconds events and inbox rows are kept at least; older ones "
                                "that every reader has passed are pruned", .min = 0,
                                .max = 366 * 24 * 3600 };
    p[n++] = (cc_cfg_param_t) { "log-prune-interval", CC_CFG_INT, &rt->log_prune_interval_s,
                                "300", "seconds between pruning passes over events and inbox "
                                "(0: never prune)", .min = 0, .max = 24 * 3600 };
    p[n++] = (cc_cfg_param_t) { "jwks-file", CC_CFG_STR, &rt->jwks_file, "var/keys/jwks.json",
                                "public keys (JWKS) of the token issuer(s); re-read when it "
                                "changes or on SIGHUP", .flags = CC_CFG_NONEMPTY };
    p[n++] = (cc_cfg_param_t) { "token-issuer", CC_CFG_STR, &rt->token_issuer,
                                "urn:eldercare:orderd",
                                "required \"iss\" of bearer tokens", .flags = CC_CFG_NONEMPTY };
    p[n++] = (cc_cfg_param_t) { "token-audience", CC_CFG_STR, &rt->token_audience, "eldercare",
                                "\"aud\" bearer tokens must name", .flags = CC_CFG_NONEMPTY };
    p[n++] = (cc_cfg_param_t) { "token-skew", CC_CFG_INT, &rt->token_skew_s, "60",
                                "clock skew allowed on exp/nbf/iat (seconds)",
                                .min = 0, .max = 600 };
    p[n++] = (cc_cfg_param_t) { "allowed-hosts", CC_CFG_STR, &rt->allowed_hosts, "",
                                "Host/Origin values served, comma-separated host:port (empty: "
                                "127.0.0.1, localhost and the listen address, with our port)",
                                .flags = 0 };
    p[n++] = (cc_cfg_param_t) { "read-wait-ms", CC_CFG_INT, &rt->read_wait_ms, "1000",
                                "a request naming an id another daemon created waits this "
                                "long for that daemon's log before \"unknown\" (0: no wait)",
                                .min = 0, .max = 10000 };
    p[n++] = (cc_cfg_param_t) { "read-wait-max", CC_CFG_INT, &rt->read_wait_max, "1024",
                                "requests waiting so at once (503 beyond)",
                                .min = 1, .max = 100000 };
    p[n++] = (cc_cfg_param_t) { "routes", CC_CFG_BOOL, &rt->print_routes, "false",
                                "print the HTTP route table (who may call what) as JSON and "
                                "exit", .flags = 0 };
    int c = 0;
    for (const cc_rt_consumer_t *k = spec->consumers; k && k->producer; k++, c++) {
        assert(c < CC_RT_MAX_CONSUMERS);
        snprintf(s_ep_names[c], sizeof s_ep_names[c], "%s-log", k->producer);
        snprintf(s_ep_help[c], sizeof s_ep_help[c], "%s's event log%s", k->producer,
                 k->optional ? " (empty: do not consume)" : "");
        p[n++] = (cc_cfg_param_t) { s_ep_names[c], CC_CFG_STR, &rt->consumer_ep[c],
                                    k->default_endpoint, s_ep_help[c],
                                    .flags = k->optional ? 0 : CC_CFG_NONEMPTY };
    }
    rt->nconsumers = c;
    for (cc_cfg_param_t *d = spec->params; d && d->name; d++) {
        assert(n < S_MAX_PARAMS);
        p[n++] = *d;
    }
    rt->params = p;
    return 0;
}

/* ---- readiness, load, stop -------------------------------------------------- */

static int
s_ready(void *arg)
{
    cc_rt_t *rt = arg;
    if (rt->stopping || !rt->loaded || rt->reloading || !cc_db_connected(rt->writer)
        || !cc_db_connected(rt->reader) || !rt->log || !cc_evlog_ready(rt->log))
        return 0;
    for (int i = 0; i < rt->nconsumers; i++)
        if (rt->consumers[i] && !cc_consumer_caught_up(rt->consumers[i]))
            return 0;
    return !rt->spec->ready || rt->spec->ready(rt->app);
}

static int
s_open(void *arg)
{
    cc_rt_t *rt = arg;
    return rt->loaded && !rt->reloading;
}

const char *
cc_rt_admit_write(cc_rt_t *rt)
{
    if (rt->reloading)
        return "reloading";
    if (rt->writer && cc_rt_writer_pending(rt) >= rt->db_queue_max)
        return "database_behind";
    return NULL;
}

int
cc_rt_writer_pending(const cc_rt_t *rt)
{
    return (rt->writer ? cc_db_pending(rt->writer) : 0) + rt->writer_folded;
}

static const char *
s_admit(const char *method, void *arg)
{
    if (strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0)
        return NULL;    /* answered from memory or by the reader, itself bounded */
    return cc_rt_admit_write(arg);
}

void
cc_rt_fatal(const char *what, PGresult *res)
{
    cc_db_fatal(what, res);
}

/* ---- SQL errors on writes, reload ------------------------------------------- */

int
cc_rt_write_failed(cc_rt_t *rt, const char *what, const PGresult *res, int reload,
                   cc_err_t *err)
{
    if (res && cc_db_res_class(res) == CC_DB_ERR_CORRUPT)
        cc_db_fatal(what, res);     /* cc_db exits first; be safe */
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    const char *cons = res ? PQresultErrorField(res, PG_DIAG_CONSTRAINT_NAME) : NULL;
    const char *col = res ? PQresultErrorField(res, PG_DIAG_COLUMN_NAME) : NULL;
    cc_err_t e;
    if (state && (strcmp(state, "23505") == 0 || strcmp(state, "23P01") == 0))
        cc_err_set(&e, 409, "conflict", col ? col : "", "the store refused the change: %s",
                   cons ? cons : "it conflicts with what is stored");
    else if (state && (strncmp(state, "23", 2) == 0 || strncmp(state, "22", 2) == 0))
        cc_err_set(&e, 422, "invalid_value", col ? col : "",
                   "the store refused the change: %s",
                   cons ? cons : "a value is out of its range");
    else
        cc_err_set(&e, 500, "internal", "", "the store refused the change (SQLSTATE %s); "
                   "nothing was applied", state ? state : "none");
    char st[8];
    snprintf(st, sizeof st, "%d", e.status);
    cc_error("write_failed", "what", what ? what : "", "sqlstate", state ? state : "",
             "constraint", cons ? cons : "", "column", col ? col : "", "status", st,
             "action", reload ? "reload the working set" : "answered, memory unchanged");
    char m[160];
    snprintf(m, sizeof m, "db_write_errors_total{stmt=\"%s\"}", what ? what : "");
    cc_metric_inc(cc_metrics_counter(m, "Writes the store refused with an error that is "
                                        "neither transient nor corruption"));
    if (err)
        *err = e;
    if (reload)
        cc_rt_reload(rt, what);
    return e.status;
}

int
cc_rt_reloading(const cc_rt_t *rt)
{
    return rt->reloading != 0;
}

static void
s_consumers_hold(cc_rt_t *rt, int on)
{
    for (int i = 0; i < CC_RT_MAX_CONSUMERS; i++)
        if (rt->consumers[i])
            cc_consumer_hold(rt->consumers[i], on);
}

/* Draining: once the writer has answered everything it held (their
 * callbacks saw the memory they were decided against), free and load. */
static void
s_on_reload_poll(evutil_socket_t fd, short what, void *arg)
{
    (void) fd;
    (void) what;
    cc_rt_t *rt = arg;
    if (rt->stopping) {
        /* Nothing new is taken any more and memory dies with us. */
        rt->reloading = 0;
        return;
    }
    if (cc_db_pending(rt->writer) > 0) {
        struct timeval tv = { 0, 5000 };
        evtimer_add(rt->ev_reload, &tv);
        return;
    }
    rt->reloading = 2;
    rt->loaded = 0;
    rt->spec->reset(rt->app);
    if (rt->spec->load(rt->app) != 0) {
        cc_error("reload_failed", "what", "load");
        exit(1);
    }
}

void
cc_rt_reload(cc_rt_t *rt, const char *why)
{
    if (rt->reloading) {
        rt->reload_again |= rt->reloading == 2;   /* draining: this one covers it */
        return;
    }
    if (!rt->spec->reset || !rt->spec->load || !rt->loaded) {
        cc_error("fatal", "what", why ? why : "", "action",
                 "exit 1: restart reloads memory from the store");
        exit(1);
    }
    cc_metric_inc(cc_metrics_counter("working_set_reloads_total",
                                     "In-process reloads of the working set after a write "
                                     "the store refused"));
    cc_warn("reload_started", "why", why ? why : "");
    rt->reloading = 1;
    rt->reload_again = 0;
    rt->reload_t0_us = cc_mono_us();
    cc_http_set_gate_error(rt->http, "reloading",
                           "reloading the working set after a store error, try again");
    s_consumers_hold(rt, 1);
    if (!rt->ev_reload && !(rt->ev_reload = evtimer_new(rt->base, s_on_reload_poll, rt))) {
        cc_error("out_of_memory", "what", "reload");
        exit(1);
    }
    struct timeval tv = { 0, 0 };
    evtimer_add(rt->ev_reload, &tv);
}

/* The load called cc_rt_loaded: go on. */
static void
s_reload_done(cc_rt_t *rt)
{
    rt->reloading = 0;
    if (rt->stopping)
        return;
    if (rt->spec->start && rt->spec->start(rt->app) != 0) {
        cc_error("reload_failed", "what", "start");
        exit(1);
    }
    char ms[24];
    snprintf(ms, sizeof ms, "%" PRId64, (cc_mono_us() - rt->reload_t0_us) / 1000);
    cc_info("reloaded", "ms", ms);
    cc_http_set_gate_error(rt->http, NULL, NULL);
    s_consumers_hold(rt, 0);
    if (rt->reload_again)
        cc_rt_reload(rt, "asked for again while reloading");
}

/* ---- audit trail (docs/SECURITY.md "Audit trail") ---------------------- */

/* The runtime's own statements, on the audit table of every daemon schema
 * (sql/common/010_audit.sql), checked against the catalogue as the
 * daemon's are. */
enum { S_ST_AUDIT_ROWS, S_ST_AUDIT_LIST, S_ST_COUNT };
#define S_AUDIT_COLS 8
static cc_stmt_t s_rt_stmts[S_ST_COUNT + 1] = {
    /* Every row queued on the writer until its batch goes, in one statement
     * (s_audit): one executor run per batch, not one per row. Each column is
     * a text[] of the rows' values, NULL for SQL NULL; rows keep their order
     * (seq). */
    [S_ST_AUDIT_ROWS] = { "cc_audit_rows", CC_STMT_WRITER, NULL, NULL,
        "INSERT INTO audit (request, account, role, method, route, ids, status, peer) "
        "SELECT r::uuid, a, ro, m, rt, i::jsonb, st::integer, p FROM unnest($1::text[], "
        "$2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[]) "
        "WITH ORDINALITY AS x(r, a, ro, m, rt, i, st, p, n) ORDER BY n",
        { { "request", CC_T_TEXT_ARRAY }, { "account", CC_T_TEXT_ARRAY },
          { "role", CC_T_TEXT_ARRAY }, { "method", CC_T_TEXT_ARRAY },
          { "route", CC_T_TEXT_ARRAY }, { "ids", CC_T_TEXT_ARRAY },
          { "status", CC_T_TEXT_ARRAY }, { "peer", CC_T_TEXT_ARRAY } }, NULL },
    /* Newest first; elder: the request named it or its reply showed it.
     * ids <> '{}' changes no answer (an empty object contains no elder) and
     * lets orderd's partial GIN index (orderd/027: rows naming no id, most
     * writes, are not indexed) serve the elder's rows. */
    [S_ST_AUDIT_LIST] = { "cc_audit_list", CC_STMT_READER, NULL, NULL,
        "SELECT coalesce(jsonb_agg(jsonb_build_object('seq', seq, 'at', at, "
        "'account', account, 'role', role, 'method', method, 'route', route, 'ids', ids, "
        "'status', status, 'peer', peer, 'request', request) ORDER BY seq DESC), "
        "'[]'::jsonb)::text FROM (SELECT * FROM audit "
        "WHERE ($1::text IS NULL OR ids <> '{}'::jsonb AND (ids @> jsonb_build_object("
        "'elder_id', $1::text) OR ids @> jsonb_build_object('elder_ids', "
        "jsonb_build_array($1::text)))) "
        "AND ($2::text IS NULL OR account = $2::text) AND seq < $3::bigint "
        "ORDER BY seq DESC LIMIT $4::int) a",
        { { "elder", CC_T_TEXT }, { "account", CC_T_TEXT }, { "before", CC_T_INT8 },
          { "limit", CC_T_INT4 } }, NULL },
    { NULL, 0, NULL, NULL, NULL, { { NULL, CC_T_NONE } }, NULL },
};

/* The rows of one cc_audit_rows statement, as the array literals being
 * built, and the held replies (personal-data reads) waiting for its COMMIT.
 * Queued with cc_db_exec_fill when its first row comes, so it sits ahead
 * of the statement of that row's handler: a write's accepted row commits
 * in the same batch as the write, or an earlier one. */
typedef struct s_audit_batch {
    cc_pgarr_t col[S_AUDIT_COLS];
    int nrows;
    cc_http_req_t **held;
    int nheld, held_cap;
} s_audit_batch_t;

/* The batch still open for rows (queued, not yet sent); one per process.
 * At S_AUDIT_ROWS_MAX rows it closes and the next row opens another (while
 * the writer is away, rows pile up in statements of bounded size). */
static s_audit_batch_t *s_audit_open;
#define S_AUDIT_ROWS_MAX 1024
/* Audit statements queued so far (cc_rt_audit_mark). */
static uint64_t s_audit_queued;
/* Status rows of writes, not queued yet: they wait for the next row that
 * must go now (an accepted row, a held read) or S_AUDIT_LATER_MS, so that
 * they do not start a batch, and its commit, of their own between two
 * batches of writes (it halved intake under load). A daemon stopping
 * queues them at once (s_audit_flush). */
static s_audit_batch_t *s_audit_later;
static struct event *s_audit_timer;
#define S_AUDIT_LATER_MS 20

static void
s_audit_fill(void *arg, char **values)
{
    s_audit_batch_t *b = arg;
    if (s_audit_open == b)
        s_audit_open = NULL;    /* rows from now on: the next statement */
    for (int c = 0; c < S_AUDIT_COLS; c++)
        values[c] = cc_pgarr_take(&b->col[c]);  /* cc_db's now */
}

static void
s_on_audit_rows(PGresult *res, void *arg)
{
    s_audit_batch_t *b = arg;
    int ok = PQresultStatus(res) == PGRES_COMMAND_OK;
    if (!ok) {
        const char *st = PQresultErrorField(res, PG_DIAG_SQLSTATE);
        char n[16];
        snprintf(n, sizeof n, "%d", b->nrows);
        cc_metric_add(cc_metrics_counter("audit_failed_total",
                                         "Audit rows the store refused."), b->nrows);
        cc_error("audit_failed", "rows", n, "held", b->nheld ? "yes" : "no", "sqlstate",
                 st ? st : "");
    }
    /* A held reply goes once its row is committed; else 503. */
    for (int i = 0; i < b->nheld; i++)
        cc_http_audit_done(b->held[i], ok);
    for (int c = 0; c < S_AUDIT_COLS; c++)
        cc_pgarr_free(&b->col[c]);
    free(b->held);
    free(b);
}

/* Queue b on the writer: it takes its place in the queue now and its
 * values when its batch goes. 0/-1. */
static int
s_audit_queue(cc_rt_t *rt, s_audit_batch_t *b)
{
    if (cc_db_exec_fill(rt->writer, s_rt_stmts[S_ST_AUDIT_ROWS].name, S_AUDIT_COLS,
                        s_audit_fill, b, s_on_audit_rows, b) != 0)
        return -1;
    s_audit_queued++;
    s_audit_open = b->nrows < S_AUDIT_ROWS_MAX ? b : NULL;
    return 0;
}

uint64_t
cc_rt_audit_mark(void)
{
    return s_audit_queued;
}

/* The status rows waiting (if any) go now. */
static void
s_audit_flush(cc_rt_t *rt)
{
    s_audit_batch_t *b = s_audit_later;
    if (!b)
        return;
    s_audit_later = NULL;
    if (s_audit_timer)
        event_del(s_audit_timer);
    if (s_audit_queue(rt, b) != 0) {
        /* No memory for the item: keep them waiting, try again later. */
        s_audit_later = b;
        struct timeval tv = { 0, S_AUDIT_LATER_MS * 1000 };
        evtimer_add(s_audit_timer, &tv);
    }
}

static void
s_on_audit_later(evutil_socket_t fd, short what, void *arg)
{
    (void) fd;
    (void) what;
    s_audit_flush(arg);
}

/* cc_http_audit_fn: one row, added to the open statement on the writer (or
 * a new one; a write's status row to those waiting, s_audit_later). Who
 * comes from the verified token; what from the route pattern and ids
 * (never bodies or queries). */
static int
s_audit(cc_http_req_t *req, int status, int hold, void *arg)
{
    cc_rt_t *rt = arg;
    s_audit_batch_t *b = s_audit_open;
    if (!b && status && !hold && !rt->stopping) {
        /* A write's outcome: with the next batch that goes anyway. */
        if (!s_audit_timer && !(s_audit_timer = evtimer_new(rt->base, s_on_audit_later, rt)))
            return -1;
        if (!s_audit_later) {
            if (!(s_audit_later = calloc(1, sizeof *s_audit_later)))
                return -1;
            struct timeval tv = { 0, S_AUDIT_LATER_MS * 1000 };
            evtimer_add(s_audit_timer, &tv);
        }
        b = s_audit_later;
    } else if (!b) {
        /* Must go now; the waiting status rows go with it. */
        b = s_audit_later;
        if (b) {
            s_audit_later = NULL;
            event_del(s_audit_timer);
        } else if (!(b = calloc(1, sizeof *b))) {
            return -1;
        }
        if (s_audit_queue(rt, b) != 0) {
            if (b->nrows) {
                s_audit_later = b;      /* still waiting: arm the timer again */
                struct timeval tv = { 0, S_AUDIT_LATER_MS * 1000 };
                evtimer_add(s_audit_timer, &tv);
            } else {
                free(b);
            }
            return -1;
        }
    }
    if (hold && b->nheld == b->held_cap) {
        int cap = b->held_cap ? 2 * b->held_cap : 8;
        cc_http_req_t **p = realloc(b->held, (size_t) cap * sizeof *p);
        if (!p)
            return -1;
        b->held = p;
        b->held_cap = cap;
    }
    const cc_jwt_claims_t *who = cc_http_claims(req);
    /* Most writes name no id (POST /v1/orders): no encoder for "{}". */
    json_t *idj = cc_http_audit_ids(req);
    char *ids = json_object_size(idj) ? json_dumps(idj, JSON_COMPACT | JSON_SORT_KEYS)
                                      : strdup("{}");
    if (!ids)
        return -1;
    char st[16];
    snprintf(st, sizeof st, "%d", status);
    cc_pgarr_add(&b->col[0], cc_http_request_id(req));
    cc_pgarr_add(&b->col[1], who ? who->sub : NULL);
    cc_pgarr_add(&b->col[2], who ? cc_role_name(who->role) : NULL);
    cc_pgarr_add(&b->col[3], cc_http_method(req));
    cc_pgarr_add(&b->col[4], cc_http_route_pattern(req));
    cc_pgarr_add(&b->col[5], ids);
    cc_pgarr_add(&b->col[6], status ? st : NULL);
    cc_pgarr_add(&b->col[7], cc_http_peer(req));
    b->nrows++;
    free(ids);
    if (hold)
        b->held[b->nheld++] = req;
    if (b->nrows >= S_AUDIT_ROWS_MAX) {
        if (b == s_audit_open)
            s_audit_open = NULL;
        else
            s_audit_flush(rt);
    }
    return 0;
}

static void
s_on_audit_list(PGresult *res, void *arg)
{
    cc_http_req_t *req = arg;
    json_t *list = NULL;
    if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1)
        list = json_loads(PQgetvalue(res, 0, 0), 0, NULL);
    if (!list) {
        cc_http_reply_error(&req, 503, "unavailable", NULL, "cannot read the audit trail");
        return;
    }
    json_t *last = json_array_get(list, json_array_size(list) - 1);
    json_t *next = last ? json_incref(json_object_get(last, "seq")) : json_null();
    cc_http_reply_json(&req, 200, json_pack("{s:o, s:o}", "audit", list, "next_before",
                                            next ? next : json_null()));
}

/* A decimal integer, all of s: 0/-1. */
static int
s_parse_i64(const char *s, int64_t *out)
{
    char *end = NULL;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (!*s || errno || !end || *end)
        return -1;
    *out = v;
    return 0;
}

/* GET /v1/audit?elder_id=&account=&limit=&before=: this daemon's trail. */
static void
s_get_audit(cc_http_req_t *req, void *arg)
{
    cc_rt_t *rt = arg;
    int bad = 0;
    const char *elder = cc_http_query_id(req, "elder_id", &bad);
    if (bad)
        return;
    const char *account = cc_http_query(req, "account");
    if (account && (!*account || strlen(account) > CC_JWT_SUB_MAX)) {
        cc_http_reply_error(&req, 400, "invalid_value", "account", "account is not an account id");
        return;
    }
    int64_t limit = 100, before = INT64_MAX;
    const char *q = cc_http_query(req, "limit");
    if (q && s_parse_i64(q, &limit) != 0)
        limit = -1;
    if (limit < 1 || limit > 1000) {
        cc_http_reply_error(&req, 400, "invalid_value", "limit", "limit must be 1..1000");
        return;
    }
    q = cc_http_query(req, "before");
    if (q && (s_parse_i64(q, &before) != 0 || before < 1)) {
        cc_http_reply_error(&req, 400, "invalid_value", "before", "before must be a seq");
        return;
    }
    cc_args_t a;
    cc_args_init(&a, &s_rt_stmts[S_ST_AUDIT_LIST]);
    cc_args_text(&a, "elder", elder);
    cc_args_text(&a, "account", account);
    cc_args_int(&a, "before", before);
    cc_args_int(&a, "limit", limit);
    if (cc_db_call(rt->reader, &a, s_on_audit_list, req) != 0)
        cc_http_reply_error(&req, 503, "unavailable", NULL, "cannot queue the query");
}

/* ---- read your writes ------------------------------------------------------- */

typedef struct {
    cc_rt_t *rt;
    cc_http_req_t *req;
    cc_http_fn *handler;
    char producer[32];
} s_await_t;

static void
s_await_count(const char *producer, const char *outcome)
{
    char m[128];
    snprintf(m, sizeof m, "read_waits_total{log=\"%s\",outcome=\"%s\"}", producer, outcome);
    cc_metric_inc(cc_metrics_counter(m, "Requests naming an id another daemon owns that "
                                        "waited for its log, by outcome"));
}

static void
s_await_gauge(const cc_rt_t *rt)
{
    cc_metric_set(cc_metrics_gauge("read_waits_parked", "Requests waiting for another "
                                   "daemon's log (read your writes)"), (double) rt->awaiting);
}

static void
s_on_awaited(void *arg, int reached)
{
    s_await_t *w = arg;
    cc_rt_t *rt = w->rt;
    rt->awaiting--;
    s_await_gauge(rt);
    s_await_count(w->producer, reached ? "caught_up" : "timeout");
    cc_http_req_t *req = w->req;
    cc_http_fn *handler = w->handler;
    free(w);
    if (rt->reloading) {
        /* The working set is being read again: its answer would be wrong. */
        cc_http_reply_error_hdr(&req, 503, "reloading", NULL,
                                "reloading the working set after a store error, try again",
                                "Retry-After", "1");
        return;
    }
    const cc_http_req_t *outer = rt->rerun;
    rt->rerun = req;
    handler(req, rt->app);
    rt->rerun = outer;
}

/* The seq the request's token names for producer: 0 none; -1 malformed. */
static int64_t
s_after_seq(const char *h, const char *producer)
{
    if (!h)
        return 0;
    size_t plen = strlen(producer);
    int64_t found = 0;
    const char *p = h;
    for (int items = 0;; items++) {
        while (*p == ' ' || *p == '\t')
            p++;
        const char *name = p;
        while (*p && *p != ':' && *p != ',')
            p++;
        size_t nlen = (size_t) (p - name);
        if (*p != ':' || nlen == 0 || nlen > 31 || items >= CC_RT_MAX_CONSUMERS * 4)
            return -1;
        p++;
        int64_t v = 0;
        int digits = 0;
        while (*p >= '0' && *p <= '9') {
            if (++digits > 18)
                return -1;   /* beyond any real seq; keeps v from overflowing */
            v = v * 10 + (*p++ - '0');
        }
        while (*p == ' ' || *p == '\t')
            p++;
        if (digits == 0 || v == 0 || (*p && *p != ','))
            return -1;
        if (nlen == plen && memcmp(name, producer, plen) == 0)
            found = v;
        if (!*p)
            return found;
        p++;
    }
}

int
cc_rt_rerun(const cc_rt_t *rt, const cc_http_req_t *req)
{
    return req && rt->rerun == req;
}

int
cc_rt_await(cc_rt_t *rt, cc_http_req_t **req_p, const char *producer, cc_http_fn *handler)
{
    if (cc_rt_rerun(rt, *req_p) || rt->read_wait_ms <= 0 || rt->stopping)
        return 0;
    cc_consumer_t *c = NULL;
    int i = 0;
    for (const cc_rt_consumer_t *k = rt->spec->consumers; k && k->producer; k++, i++)
        if (strcmp(k->producer, producer) == 0)
            c = rt->consumers[i];
    if (!c)
        return 0;
    int64_t seq = s_after_seq(cc_http_header(*req_p, CC_RT_AFTER_HEADER), producer);
    if (seq < 0) {
        cc_http_reply_error(req_p, 400, "invalid_value", CC_RT_AFTER_HEADER,
                            "X-Eldercare-After must be <daemon>:<seq>[, <daemon>:<seq>...] "
                            "as a creating reply gave it");
        return 1;
    }
    if (rt->awaiting >= rt->read_wait_max) {
        s_await_count(producer, "refused");
        cc_http_reply_error_hdr(req_p, 503, "unavailable", NULL,
                                "too many requests are waiting for another daemon's log; "
                                "retry", "Retry-After", "1");
        return 1;
    }
    s_await_t *w = calloc(1, sizeof *w);
    if (!w)
        return 0;
    w->rt = rt;
    w->req = *req_p;
    w->handler = handler;
    snprintf(w->producer, sizeof w->producer, "%s", producer);
    int rc = cc_consumer_sync(c, (uint64_t) seq, (int) rt->read_wait_ms, s_on_awaited, w);
    if (rc != 0) {   /* 1: the token's seq is applied already; -1: stopping, no memory */
        free(w);
        return 0;
    }
    *req_p = NULL;   /* ours until s_on_awaited hands it back */
    rt->awaiting++;
    s_await_gauge(rt);
    return 1;
}

typedef struct {
    cc_rt_token_fn *fn;
    void *arg;
    char name[32];
} s_token_t;

static void
s_on_token(void *arg, uint64_t head)
{
    s_token_t *t = arg;
    char v[64];
    snprintf(v, sizeof v, "%s:%" PRIu64, t->name, head);
    t->fn(t->arg, head ? v : NULL);
    free(t);
}

int
cc_rt_token(cc_rt_t *rt, cc_rt_token_fn *fn, void *arg)
{
    s_token_t *t = calloc(1, sizeof *t);
    if (!t)
        return -1;
    t->fn = fn;
    t->arg = arg;
    snprintf(t->name, sizeof t->name, "%s", rt->spec->name);
    if (!rt->log || cc_evlog_sync(rt->log, s_on_token, t) != 0) {
        free(t);
        return -1;
    }
    return 0;
}

/* Routes every daemon has, after its own. */
static const cc_http_route_t s_rt_routes[] = {
    { "GET", "/v1/audit", s_get_audit, 0, CC_ROLE_AUDITOR | CC_ROLE_ADMIN },
    { NULL, NULL, NULL, 0, 0 },
};

/* The daemon's table then the runtime's, for --routes. Caller frees. */
static cc_http_route_t *
s_all_routes(const cc_http_route_t *own)
{
    size_t n = 0, m = sizeof s_rt_routes / sizeof s_rt_routes[0];
    while (own && own[n].method)
        n++;
    cc_http_route_t *all = calloc(n + m, sizeof *all);
    if (!all)
        return NULL;
    if (n)
        memcpy(all, own, n * sizeof *all);
    memcpy(all + n, s_rt_routes, m * sizeof *all);
    return all;
}

const cc_stmt_t *
cc_rt_stmt(const cc_rt_t *rt, const char *name)
{
    for (const cc_stmt_t *st = rt->spec->stmts; st && st->name; st++)
        if (strcmp(st->name, name) == 0)
            return st;
    fprintf(stderr, "cc_rt_stmt: no statement %s\n", name);
    abort();
}

int
cc_consumer_call(cc_consumer_t *c, const cc_args_t *a, cc_db_fn *fn, void *arg)
{
    uint32_t all = a->n >= 32 ? UINT32_MAX : ((1u << a->n) - 1);
    if (a->set != all) {
        fprintf(stderr, "cc_consumer_call: statement %s: a parameter is not given\n",
                a->st->name);
        abort();
    }
    return cc_consumer_exec(c, a->st->name, a->n, a->values, a->lengths, a->formats, fn, arg);
}

void
cc_rt_loaded(cc_rt_t *rt)
{
    if (rt->loaded)
        return;
    rt->loaded = 1;
    if (rt->reloading) {
        s_reload_done(rt);
        return;
    }
    /* Serving from now on: every statement is bounded by the request
     * deadline (the loads before it read whole tables and are not). The
     * writer's statements are retried after a timeout, never given up. */
    cc_db_set_statement_timeout(rt->writer, (int) rt->request_timeout_ms);
    cc_db_set_statement_timeout(rt->reader, (int) rt->request_timeout_ms);
    cc_db_set_item_timeout(rt->reader, (int) rt->request_timeout_ms);
    if (rt->stopping)
        return;
    int i = 0;
    for (const cc_rt_consumer_t *k = rt->spec->consumers; k && k->producer; k++, i++) {
        const char *ep = rt->consumer_ep[i];
        if (!ep || !*ep)
            continue;   /* optional, turned off */
        rt->consumers[i] = cc_consumer_new_curve(rt->base, rt->zctx, rt->writer,
                                                 rt->spec->name, k->producer, ep, k->table,
                                                 rt->curve.public_key, rt->curve.secret_key,
                                                 rt->server_keys[i], rt->app);
        if (!rt->consumers[i] || cc_consumer_start(rt->consumers[i]) != 0) {
            cc_error("startup_failed", "what", "consumer", "producer", k->producer);
            exit(1);
        }
    }
    if (rt->spec->start && rt->spec->start(rt->app) != 0) {
        cc_error("startup_failed", "what", "start");
        exit(1);
    }
    cc_info("working_set_ready");
    cc_sd_notify("READY=1");
}

/* Every (re)connect: the connection's statements match the catalogue, or
 * the daemon stops (the store was migrated differently from this binary). */
static void
s_on_checked(int ok, void *arg)
{
    cc_rt_t *rt = arg;
    if (!ok) {
        cc_error("startup_failed", "what", "statements do not match the database");
        exit(1);
    }
    if (rt->checks_pending > 0 && --rt->checks_pending == 0 && !rt->load_started) {
        rt->load_started = 1;
        if (rt->spec->load) {
            if (rt->spec->load(rt->app) != 0) {
                cc_error("startup_failed", "what", "load");
                exit(1);
            }
        } else {
            cc_rt_loaded(rt);
        }
    }
}

static void
s_check_writer(void *arg)
{
    cc_rt_t *rt = arg;
    if (cc_stmt_check(rt->writer, rt->spec->stmts, CC_STMT_WRITER, s_on_checked, rt) != 0
        || cc_stmt_check(rt->writer, s_rt_stmts, CC_STMT_WRITER, s_on_checked, rt) != 0) {
        cc_error("startup_failed", "what", "statement check");
        exit(1);
    }
}

static void
s_check_reader(void *arg)
{
    cc_rt_t *rt = arg;
    if (cc_stmt_check(rt->reader, rt->spec->stmts, CC_STMT_READER, s_on_checked, rt) != 0
        || cc_stmt_check(rt->reader, s_rt_stmts, CC_STMT_READER, s_on_checked, rt) != 0) {
        cc_error("startup_failed", "what", "statement check");
        exit(1);
    }
}

static void
s_on_stop_poll(evutil_socket_t fd, short what, void *arg)
{
    (void) fd;
    (void) what;
    cc_rt_t *rt = arg;
    int busy = cc_db_pending(rt->writer) + cc_db_pending(rt->reader) + cc_http_pending(rt->http);
    if (busy == 0) {
        event_base_loopbreak(rt->base);
        return;
    }
    if (cc_mono_us() > rt->stop_deadline_us) {
        char n[16];
        snprintf(n, sizeof n, "%d", busy);
        cc_warn("stop_timeout", "pending", n);
        rt->exit_code = 1;
        event_base_loopbreak(rt->base);
        return;
    }
    struct timeval tv = { 0, S_STOP_POLL_US };
    evtimer_add(rt->ev_stop, &tv);
}

static void
s_stop(void *arg)
{
    cc_rt_t *rt = arg;
    if (rt->stopping)
        return;
    rt->stopping = 1;
    cc_sd_notify("STOPPING=1");
    cc_http_drain(rt->http);
    s_audit_flush(rt);      /* the status rows waiting: before the writer drains */
    for (int i = 0; i < rt->nconsumers; i++)
        if (rt->consumers[i])
            cc_consumer_stop(rt->consumers[i]);
    if (rt->spec->stop)
        rt->spec->stop(rt->app);
    if (rt->ev_watchdog)
        event_del(rt->ev_watchdog);
    rt->stop_deadline_us = cc_mono_us() + rt->stop_timeout_s * 1000000;
    struct timeval tv = { 0, 0 };
    evtimer_add(rt->ev_stop, &tv);
}

static void
s_on_watchdog(evutil_socket_t fd, short what, void *arg)
{
    (void) fd;
    (void) what;
    (void) arg;
    cc_sd_notify("WATCHDOG=1");
}

/* WATCHDOG_USEC set by systemd: ping at half the interval. */
static int
s_watchdog(cc_rt_t *rt)
{
    const char *usec = getenv("WATCHDOG_USEC");
    const char *pid = getenv("WATCHDOG_PID");
    if (!usec || !*usec || (pid && *pid && atol(pid) != (long) getpid()))
        return 0;
    long long us = atoll(usec);
    if (us <= 0)
        return 0;
    rt->ev_watchdog = event_new(rt->base, -1, EV_PERSIST, s_on_watchdog, rt);
    if (!rt->ev_watchdog)
        return -1;
    struct timeval tv = { (time_t) (us / 2 / 1000000), (suseconds_t) (us / 2 % 1000000) };
    return event_add(rt->ev_watchdog, &tv);
}

/* ---- CURVE ------------------------------------------------------------------ */

int
cc_rt_curve_server(cc_rt_t *rt, cc_zsock_t *sock, const char *clients)
{
    char why[512];
    const char *domain = cc_zsock_name(sock);
    if (cc_zap_allow_names(rt->zap, domain, rt->curve_keys_dir, clients, why, sizeof why) != 0) {
        cc_error("startup_failed", "what", "curve_clients", "socket", domain, "error", why);
        return -1;
    }
    if (cc_zsock_curve_server(sock, rt->curve.secret_key) != 0)
        return -1;
    char n[16];
    snprintf(n, sizeof n, "%zu", cc_zap_allowed(rt->zap, domain));
    cc_info("zmq_curve_server", "socket", domain, "clients", clients, "keys", n);
    return 0;
}

/* Our key pair, the ZAP handler, the producers' public keys. Every
 * problem here is one of configuration: exit 2. */
static int
s_curve(cc_rt_t *rt, char server_keys[][CC_CURVE_Z85_LEN + 1])
{
    char path[4096], why[256];
    const char *dir = rt->curve_keys_dir;
    if (cc_curve_path(path, sizeof path, dir, rt->spec->name, "key") != 0
        || cc_curve_read_secret(path, &rt->curve, why, sizeof why) != 0) {
        cc_error("startup_failed", "what", "curve_key", "path", path, "error", why);
        return -1;
    }
    int i = 0;
    for (const cc_rt_consumer_t *k = rt->spec->consumers; k && k->producer; k++, i++) {
        if (!rt->consumer_ep[i] || !*rt->consumer_ep[i])
            continue;
        if (cc_curve_path(path, sizeof path, dir, k->producer, "pub") != 0
            || cc_curve_read_public(path, server_keys[i], why, sizeof why) != 0) {
            cc_error("startup_failed", "what", "curve_server_key", "path", path, "error", why);
            return -1;
        }
    }
    uint8_t raw[CC_CURVE_RAW_LEN];
    char fp[9];
    zmq_z85_decode(raw, rt->curve.public_key);
    cc_curve_fingerprint(raw, fp);
    cc_info("curve_keys_loaded", "dir", dir, "key", fp);
    return 0;
}

/* ---- token keys ------------------------------------------------------------- */

static void
s_jwks_stat(const char *path, int64_t *mtime_ns, int64_t *size, int64_t *ino)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        *mtime_ns = *size = *ino = -1;
        return;
    }
    *mtime_ns = (int64_t) st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
    *size = (int64_t) st.st_size;
    *ino = (int64_t) st.st_ino;
}

/* Load --jwks-file into a new set and, once HTTP exists, hand it over;
 * the old set is freed only after. 0, or -1 (why in err; old set kept). */
static int
s_jwks_load(cc_rt_t *rt, cc_err_t *err)
{
    int64_t mtime, size, ino;
    s_jwks_stat(rt->jwks_file, &mtime, &size, &ino);
    cc_jwks_t *keys = cc_jwks_new();
    if (!keys) {
        cc_err_set(err, 500, "out_of_memory", "jwks-file", "out of memory");
        return -1;
    }
    if (cc_jwks_load_file(keys, rt->jwks_file, err) != 0) {
        cc_jwks_destroy(&keys);
        /* Do not retry an unchanged bad file every few seconds. */
        rt->jwks_mtime_ns = mtime;
        rt->jwks_size = size;
        rt->jwks_ino = ino;
        return -1;
    }
    if (rt->http) {
        cc_jwt_policy_t policy = { rt->token_issuer, rt->token_audience,
                                   (int) rt->token_skew_s };
        if (cc_http_set_auth(rt->http, keys, &policy) != 0) {
            cc_jwks_destroy(&keys);
            cc_err_set(err, 500, "out_of_memory", "jwks-file", "out of memory");
            return -1;
        }
    }
    cc_jwks_destroy(&rt->jwks);
    rt->jwks = keys;
    rt->jwks_mtime_ns = mtime;
    rt->jwks_size = size;
    rt->jwks_ino = ino;
    char n[16];
    snprintf(n, sizeof n, "%zu", cc_jwks_size(keys));
    cc_info("jwks_loaded", "file", rt->jwks_file, "keys", n);
    return 0;
}

static void
s_jwks_reload(cc_rt_t *rt, const char *why)
{
    cc_err_t err = { 0 };
    int ok = s_jwks_load(rt, &err) == 0;
    cc_metric_inc(cc_metrics_counter(ok ? "jwks_reloads_total{result=\"ok\"}"
                                        : "jwks_reloads_total{result=\"failed\"}",
                                     "Re-reads of --jwks-file (failed: the old keys stay)."));
    if (!ok)
        cc_warn("jwks_reload_failed", "file", rt->jwks_file, "trigger", why, "field", err.field,
                "error", err.message);
}

static void
s_on_jwks_check(evutil_socket_t fd, short what, void *arg)
{
    (void) fd;
    (void) what;
    cc_rt_t *rt = arg;
    int64_t mtime, size, ino;
    s_jwks_stat(rt->jwks_file, &mtime, &size, &ino);
    if (mtime < 0 || (mtime == rt->jwks_mtime_ns && size == rt->jwks_size && ino == rt->jwks_ino))
        return;   /* unchanged, or gone for now (a rename in progress): keep the set */
    s_jwks_reload(rt, "changed");
}

static void
s_on_hup(evutil_socket_t fd, short what, void *arg)
{
    (void) fd;
    (void) what;
    cc_sd_notify("RELOADING=1");
    s_jwks_reload(arg, "SIGHUP");
    cc_sd_notify("READY=1");
}

/* ---- main ------------------------------------------------------------------ */

static int
s_fail(const char *what)
{
    cc_error("startup_failed", "what", what);
    return 1;
}

/* Each consumer table names exactly the types its log grants us
 * (cc_grant.h): a type we apply but are not served would never arrive, and
 * one served but not applied is personal data sent for nothing. A build
 * where the two differ is a bug: refuse to start, naming the type. */
int
cc_rt_check_grants(const cc_rt_spec_t *spec)
{
    int bad = 0;
    for (const cc_rt_consumer_t *k = spec->consumers; k && k->producer; k++) {
        const cc_grant_t *g = cc_grant_find(cc_grants, k->producer, spec->name);
        for (const cc_consumer_entry_t *e = k->table; e && e->type; e++)
            if (!cc_grant_allows(g, e->type)) {
                cc_error("consumer_type_not_granted", "producer", k->producer, "type", e->type);
                bad = 1;
            }
        for (const char *const *t = g ? g->types : NULL; t && *t; t++) {
            const cc_consumer_entry_t *e = k->table;
            while (e && e->type && strcmp(e->type, *t) != 0)
                e++;
            if (!e || !e->type) {
                cc_error("granted_type_not_consumed", "producer", k->producer, "type", *t);
                bad = 1;
            }
        }
    }
    return bad ? -1 : 0;
}

/* --help (or -h) or --routes among the flags, before a "--" (as cc_config_load reads them). */
static int
s_wants_help(int argc, char **argv)
{
    for (int i = 1; i < argc && strcmp(argv[i], "--") != 0; i++)
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0
            || strcmp(argv[i], "--routes") == 0)
            return 1;
    return 0;
}

int
cc_rt_main(cc_rt_t *rt, const cc_rt_spec_t *spec, void *app, int argc, char **argv)
{
    assert(rt && spec && app && spec->name);
    /* A daemon never runs as root (docs/SECURITY.md, "Hardening"): like
     * PgBouncer it refuses before it reads a config file or the environment,
     * and exits 2 (a config error: RestartPreventExitStatus=2). --help is
     * still answered. */
    if ((getuid() == 0 || geteuid() == 0) && !s_wants_help(argc, argv)) {
        fprintf(stderr, "%s: refusing to run as root (uid 0); start it as an unprivileged "
                "user (systemd's User=, or `setpriv --reuid=eldercare --regid=eldercare "
                "--init-groups`)\n", spec->name);
        return 2;
    }
    rt->spec = spec;
    rt->app = app;
    if (s_params(rt, spec) != 0)
        return 1;
    int rc = cc_config_load(rt->params, spec->name, spec->summary, argc, argv);
    if (rc != 0 || (spec->check && spec->check(app) != 0)) {
        cc_config_free(rt->params);
        free(rt->params);
        return rc == 1 ? 0 : 2;
    }
    if (rt->print_routes) {
        cc_http_route_t *all = s_all_routes(spec->routes);
        char *text = all ? cc_http_routes_json(all) : NULL;
        free(all);
        if (text)
            printf("%s\n", text);
        free(text);
        cc_config_free(rt->params);
        free(rt->params);
        return text ? 0 : 1;
    }
    cc_log_init(spec->name, rt->log_level);
    if (cc_rt_check_grants(spec) != 0)
        return s_fail("consumer_grants");

    rt->base = event_base_new();
    if (!rt->base || !(rt->ev_stop = evtimer_new(rt->base, s_on_stop_poll, rt))
        || cc_signals_setup(rt->base, s_stop, rt) != 0)
        return s_fail("event_base");
    rt->zctx = zmq_ctx_new();
    /* The ZAP handler before any CURVE server socket: libzmq admits every
     * CURVE client of a context without one. */
    char server_keys[CC_RT_MAX_CONSUMERS][CC_CURVE_Z85_LEN + 1];
    if (!rt->zctx || !(rt->zap = cc_zap_new(rt->base, rt->zctx)))
        return s_fail("zap");
    if (s_curve(rt, server_keys) != 0)
        return 2;
    cc_err_t jerr = { 0 };
    if (s_jwks_load(rt, &jerr) != 0) {
        fprintf(stderr, "%s: --jwks-file %s: %s\n", spec->name, rt->jwks_file, jerr.message);
        cc_error("startup_failed", "what", "jwks-file", "file", rt->jwks_file, "error",
                 jerr.message);
        return 2;
    }
    char name[64];
    snprintf(name, sizeof name, "%s-writer", spec->name);
    rt->writer = cc_db_new(rt->base, rt->db, name);
    snprintf(name, sizeof name, "%s-reader", spec->name);
    rt->reader = cc_db_new(rt->base, rt->db, name);
    if (!rt->zctx || !rt->writer || !rt->reader
        || cc_stmt_prepare(rt->writer, spec->stmts, CC_STMT_WRITER) != 0
        || cc_stmt_prepare(rt->reader, spec->stmts, CC_STMT_READER) != 0
        || cc_stmt_prepare(rt->writer, s_rt_stmts, CC_STMT_WRITER) != 0
        || cc_stmt_prepare(rt->reader, s_rt_stmts, CC_STMT_READER) != 0)
        return s_fail("db");
    cc_db_set_batch_max(rt->writer, (int) rt->batch_max);
    cc_db_set_queue_max(rt->reader, (int) rt->db_queue_max);
    rt->checks_pending = 4;
    cc_db_on_connect(rt->writer, s_check_writer, rt);
    cc_db_on_connect(rt->reader, s_check_reader, rt);
    memcpy(rt->server_keys, server_keys, sizeof server_keys);
    if (spec->init && spec->init(app) != 0)
        return s_fail("init");
    char port[16];
    snprintf(name, sizeof name, "%s-log", spec->name);
    char why[512];
    if (cc_zap_allow_names(rt->zap, name, rt->curve_keys_dir, rt->log_clients, why,
                           sizeof why) != 0) {
        cc_error("startup_failed", "what", "log_clients", "error", why);
        return 2;
    }
    rt->log = cc_evlog_new_curve(rt->base, rt->zctx, rt->reader, rt->writer, spec->name,
                                 rt->log_endpoint, (size_t) rt->log_ring,
                                 rt->curve.secret_key);
    if (!rt->log)
        return s_fail("event_log");
    cc_evlog_filter(rt->log, cc_grants);
    /* The logs we consume: their inbox rows below our position go too. */
    char logs[CC_RT_MAX_CONSUMERS * 32 + 1] = "";
    for (const cc_rt_consumer_t *k = spec->consumers; k && k->producer; k++)
        snprintf(logs + strlen(logs), sizeof logs - strlen(logs), "%s%s", *logs ? "," : "",
                 k->producer);
    if (cc_evlog_prune_set(rt->log, rt->log_clients, logs, rt->log_retention_s,
                           rt->log_prune_interval_s) != 0) {
        cc_error("startup_failed", "what", "log_prune", "log_clients", rt->log_clients);
        return 2;
    }
    snprintf(port, sizeof port, "%zu", cc_zap_allowed(rt->zap, name));
    cc_info("zmq_curve_server", "socket", name, "clients", rt->log_clients, "keys", port);
    rt->http = cc_http_new(rt->base, rt->http_addr, (int) rt->http_port, (size_t) rt->max_body);
    if (!rt->http || (spec->routes && cc_http_routes(rt->http, spec->routes, app) != 0)
        || cc_http_routes(rt->http, s_rt_routes, rt) != 0)
        return s_fail("http");
    cc_http_set_audit(rt->http, s_audit, rt);
    cc_http_set_limits(rt->http, (int) rt->max_requests, (int) rt->request_timeout_ms);
    cc_http_set_admit(rt->http, s_admit, rt);
    cc_jwt_policy_t policy = { rt->token_issuer, rt->token_audience, (int) rt->token_skew_s };
    if (cc_http_set_auth(rt->http, rt->jwks, &policy) != 0
        || cc_http_set_hosts(rt->http, rt->allowed_hosts) != 0)
        return s_fail("http");
    struct timeval jtv = { CC_RT_JWKS_CHECK_S, 0 };
    rt->ev_jwks = event_new(rt->base, -1, EV_PERSIST, s_on_jwks_check, rt);
    rt->ev_hup = evsignal_new(rt->base, SIGHUP, s_on_hup, rt);
    if (!rt->ev_jwks || event_add(rt->ev_jwks, &jtv) != 0 || !rt->ev_hup
        || event_add(rt->ev_hup, NULL) != 0)
        return s_fail("jwks_watch");
    cc_http_set_ready(rt->http, s_ready, rt);
    cc_http_set_gate(rt->http, s_open, rt);
    if (s_watchdog(rt) != 0)
        return s_fail("watchdog");
    /* Listening everywhere: now the pidfile (a supervisor may wait for it). */
    if (rt->pidfile && *rt->pidfile && cc_pidfile_write(rt->pidfile) != 0)
        return s_fail("pidfile");
    snprintf(port, sizeof port, "%d", cc_http_port(rt->http));
    cc_info("process_up", "http_port", port, "log_endpoint", cc_evlog_endpoint(rt->log));

    event_base_dispatch(rt->base);

    /* The writer is idle (or the stop timed out): tear down in reverse. */
    for (int i = 0; i < rt->nconsumers; i++)
        cc_consumer_destroy(&rt->consumers[i]);
    cc_http_destroy(&rt->http);
    if (rt->ev_jwks)
        event_free(rt->ev_jwks);
    if (rt->ev_hup)
        event_free(rt->ev_hup);
    cc_jwks_destroy(&rt->jwks);
    if (spec->fini)
        spec->fini(app);
    cc_evlog_destroy(&rt->log);
    cc_db_destroy(&rt->writer);
    cc_db_destroy(&rt->reader);
    cc_stmt_free(spec->stmts);
    cc_stmt_free(s_rt_stmts);
    cc_zap_destroy(&rt->zap);
    cc_curve_wipe(&rt->curve);
    if (rt->ev_watchdog)
        event_free(rt->ev_watchdog);
    event_free(rt->ev_stop);
    if (rt->ev_reload)
        event_free(rt->ev_reload);
    if (s_audit_timer)
        event_free(s_audit_timer);
    s_audit_timer = NULL;
    cc_signals_teardown();
    zmq_ctx_term(rt->zctx);
    event_base_free(rt->base);
    if (rt->pidfile && *rt->pidfile)
        cc_pidfile_remove(rt->pidfile);
    cc_info("process_down", "exit", rt->exit_code ? "1" : "0");
    cc_metrics_reset();
    cc_config_free(rt->params);
    free(rt->params);
    return rt->exit_code;
}
