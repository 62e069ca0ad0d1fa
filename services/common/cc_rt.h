/* cc_rt: the daemon runtime. A daemon declares what it is (cc_rt_spec_t:
 * its config, statements, routes, consumers and a few hooks); cc_rt_main()
 * runs it. One life cycle for the four daemons:
 *
 *   refuse root (exit 2; --help still works) ->
 *   flags/env/file (typed, range-checked; --help) -> log -> event_base ->
 *   signals as events -> ZeroMQ context -> writer and reader connections,
 *   statements prepared and checked against the catalogue on every connect
 *   -> token key set (--jwks-file) -> spec.init (metrics, working-set
 *   containers, own sockets) -> own event log ROUTER -> HTTP routes (503 "starting" until loaded) -> pidfile ->
 *   spec.load (async; calls cc_rt_loaded when the working set is in memory)
 *   -> consumers start -> spec.start (timers) -> READY=1 -> loop.
 *
 * /readyz is 200 only when not stopping, loaded, both connections up, the
 * own log serving, every consumer caught up and spec.ready (if any) says so.
 *
 * Stop (SIGTERM/SIGINT; a second one or SIGQUIT exits at once): STOPPING=1,
 * HTTP drains (503), consumers stop, spec.stop; then the loop ends when the
 * writer, the reader and HTTP have nothing pending, or after stop-timeout
 * seconds (default 8, below the units' TimeoutStopSec=10). Teardown in
 * reverse; pidfile removed last.
 *
 * Exit status, one rule: 0 clean stop; 1 a failure (start-up step, fatal
 * store error, statement mismatch, stop timed out): the supervisor restarts;
 * 2 bad flags or config: restarting cannot help. */
#ifndef CC_RT_H
#define CC_RT_H
#include <stdbool.h>
#include <stdint.h>
#include <event2/event.h>
#include "cc_config.h"
#include "cc_curve.h"
#include "cc_db.h"
#include "cc_evlog.h"
#include "cc_http.h"
#include "cc_jwt.h"
#include "cc_stmt.h"
#include "cc_zap.h"
#include "cc_zsock.h"

#define CC_RT_MAX_CONSUMERS 4
#define CC_RT_STOP_TIMEOUT_S 8      /* default; must stay below TimeoutStopSec */
#define CC_RT_JWKS_CHECK_S 2        /* how often the key set file is stat'ed */

typedef struct cc_rt cc_rt_t;

/* A log this daemon reads. Flag "<producer>-log" holds its endpoint
 * (default_endpoint); an optional one is off when the flag is empty. */
typedef struct {
    const char *producer;
    const char *default_endpoint;
    int optional;
    const cc_consumer_entry_t *table;   /* events applied (cc_consumer.h); arg: the app */
} cc_rt_consumer_t;

typedef struct {
    const char *name;               /* "orderd": logs, env prefix, own log name */
    const char *summary;            /* first line of --help */
    int http_port;                  /* default HTTP port */
    const char *log_endpoint;       /* default own event log ROUTER */
    const char *log_clients;        /* default --log-clients: who may Fetch our log */
    int log_ring;                   /* default events kept in memory for Fetch */
    cc_cfg_param_t *params;         /* the daemon's own config (ended by name NULL) */
    cc_stmt_t *stmts;               /* ended by name NULL */
    const cc_http_route_t *routes;  /* ended by method NULL */
    const cc_rt_consumer_t *consumers;   /* ended by producer NULL; may be NULL */
    /* Hooks; app is cc_rt_main's app. Each may be NULL. Those returning int
     * return 0, or -1 to stop start-up (exit 1; check: exit 2). */
    int (*check)(void *app);        /* cross-field config rules; message on stderr */
    int (*init)(void *app);         /* metrics, working-set containers, own sockets */
    int (*load)(void *app);         /* start loading; cc_rt_loaded() when done */
    int (*start)(void *app);        /* loaded and consumers started: timers */
    void (*stop)(void *app);        /* stopping: stop own intake and timers */
    int (*ready)(void *app);        /* extra readiness (1 ready) */
    void (*fini)(void *app);        /* after the loop: free what init made */
    /* Reload (cc_rt_reload): free the working set and everything that
     * points into it (timers, queues) and leave it as init made it; load
     * and start run again next. NULL: the daemon never reloads (a reload
     * asked for exits 1, as cc_rt_fatal). */
    void (*reset)(void *app);
} cc_rt_spec_t;

/* The handles every daemon uses. A daemon embeds one as the first member
 * of its app struct ("rt"); the runtime fills it before spec.init. */
struct cc_rt {
    struct event_base *base;
    void *zctx;
    cc_db_t *writer, *reader;
    cc_evlog_t *log;                /* own event log */
    cc_http_t *http;
    int loaded;                     /* set by cc_rt_loaded */
    int stopping;                   /* SIGTERM seen */
    /* Common config, readable by the daemon. */
    char *db, *http_addr, *log_endpoint, *log_level, *pidfile;
    int64_t http_port, max_body, batch_max, log_ring, stop_timeout_s;
    /* Back-pressure (docs/ARCHITECTURE.md "Back-pressure"): a request's
     * deadline (ms, also the statements' statement_timeout once loaded),
     * open HTTP requests, statements queued per connection. */
    int64_t request_timeout_ms, max_requests, db_queue_max;
    /* Writes a daemon folded into statements already queued on the writer,
     * beyond the one each statement counts for (orderd's gathered
     * placements); kept by the daemon, counted by cc_rt_writer_pending. */
    int writer_folded;
    char *consumer_ep[CC_RT_MAX_CONSUMERS];
    char *curve_keys_dir, *log_clients;
    int64_t log_retention_s, log_prune_interval_s;   /* log growth (cc_evlog_prune_set) */
    /* Tokens (docs/SECURITY.md): the issuers' public keys, re-read when the
     * file changes (checked every CC_RT_JWKS_CHECK_S) or on SIGHUP; a bad
     * file keeps the old set. Host/Origin allow-list ("": our own address). */
    char *jwks_file, *token_issuer, *token_audience, *allowed_hosts;
    int64_t token_skew_s;
    /* Read your writes (cc_rt_await): the longest wait, the most parked. */
    int64_t read_wait_ms, read_wait_max;
    bool print_routes;              /* --routes: print the route table, exit 0 */
    cc_jwks_t *jwks;
    /* CURVE: our key pair (<dir>/<name>.key) and the context's ZAP handler. */
    cc_curve_pair_t curve;
    cc_zap_t *zap;
    char server_keys[CC_RT_MAX_CONSUMERS][CC_CURVE_Z85_LEN + 1];   /* producers' public keys */
    /* Runtime-private from here on. */
    const cc_rt_spec_t *spec;
    void *app;
    cc_consumer_t *consumers[CC_RT_MAX_CONSUMERS];
    int nconsumers;
    cc_cfg_param_t *params;         /* common + daemon's, merged */
    struct event *ev_stop, *ev_watchdog, *ev_jwks, *ev_hup;
    int64_t jwks_mtime_ns, jwks_size, jwks_ino;   /* of the set in use */
    int64_t stop_deadline_us;
    int exit_code;
    int checks_pending;             /* catalogue checks before the first load */
    int load_started;
    int64_t awaiting;               /* requests parked by cc_rt_await */
    const cc_http_req_t *rerun;     /* the request whose handler runs again now */
    int reloading;                  /* cc_rt_reload: 1 draining the writer, 2 loading */
    int reload_again;               /* asked for once more during one */
    int64_t reload_t0_us;
    struct event *ev_reload;        /* polls the writer while draining */
};

/* Run the daemon; returns its exit status (0/1/2). rt is embedded in app.
 * Run by root (real or effective uid 0) it returns 2 at once, saying so on
 * stderr, unless --help or --routes is asked for. --routes prints the route
 * table (cc_http_routes_json) and returns 0. A missing or bad --jwks-file
 * at start returns 2 naming the flag. */
int cc_rt_main(cc_rt_t *rt, const cc_rt_spec_t *spec, void *app, int argc, char **argv);
/* 0 if each consumer table of spec names exactly the types its log grants
 * spec->name (cc_grants), else -1, each difference logged
 * (consumer_type_not_granted, granted_type_not_consumed). cc_rt_main
 * refuses to start on -1 (exit 1). */
int cc_rt_check_grants(const cc_rt_spec_t *spec);
/* The working set is in memory: start the consumers, spec.start, READY=1. */
void cc_rt_loaded(cc_rt_t *rt);
/* A failure the daemon cannot go on from (crash-only): log what, exit 1
 * (cc_db_fatal, the one rule). */
void cc_rt_fatal(const char *what, PGresult *res) __attribute__((noreturn));
/* ---- SQL errors on writes (docs/ARCHITECTURE.md "SQL errors, one rule") --
 * A write's statement came back with an error the writer does not retry
 * (neither transient nor corruption: cc_db retries the one and exits on the
 * other before any callback). Logs it (write_failed: what, SQLSTATE,
 * constraint; never the message, which may quote personal data), counts it
 * in db_write_errors_total{stmt}, and fills *err (may be NULL) with the
 * answer for the request that caused it: 409 conflict for a unique or
 * exclusion violation (23505, 23P01), 422 invalid_value for another
 * integrity violation (class 23) or a value the store refuses (class 22),
 * naming the column the server reports (else the constraint), otherwise
 * 500 internal. reload 1: the daemon's memory took the change before the
 * store refused it, and cannot take it back by itself: cc_rt_reload.
 * Returns the status. */
int cc_rt_write_failed(cc_rt_t *rt, const char *what, const PGresult *res, int reload,
                       cc_err_t *err);
/* Reload the working set without stopping (memory no longer matches the
 * store). New work is held off: HTTP routes answer 503 "reloading" with
 * Retry-After: 1, cc_rt_admit_write says "reloading", requests waiting in
 * cc_rt_await get the same 503, consumers are held (cc_consumer_hold).
 * The statements the writer holds still commit and answer; once it is
 * idle spec.reset frees the working set, spec.load reads it again (its
 * queries bounded by --request-timeout; a load that fails exits 1, as at
 * start) and spec.start runs again; then all goes on. Asked for during a
 * reload, it runs once more after it. Logged (reload_started, reloaded)
 * and counted in working_set_reloads_total. why: static text. */
void cc_rt_reload(cc_rt_t *rt, const char *why);
/* 1 from cc_rt_reload until the working set is in memory again: a callback
 * queued before (a reader's reply) must not use the working set then. */
int cc_rt_reloading(const cc_rt_t *rt);
/* Admission of new work that writes (an HTTP write, a ZeroMQ PlaceOrder):
 * NULL to take it, or why not (static text) when the writer has
 * --db-queue-max statements queued or in flight (cc_rt_writer_pending) (the database is slow or
 * away): the caller answers 503 with it. Taking no more work at the edge is
 * what bounds the writer's queue: a statement once queued is kept until it
 * commits, as the daemon's memory already holds its change. */
const char *cc_rt_admit_write(cc_rt_t *rt);
/* Work queued or in flight on the writer, counted in statements: cc_db's
 * count plus writer_folded. What cc_rt_admit_write compares with
 * --db-queue-max, and what a generator pacing itself should read. */
int cc_rt_writer_pending(const cc_rt_t *rt);
/* The statement named name in the daemon's table (asserts it exists). */
const cc_stmt_t *cc_rt_stmt(const cc_rt_t *rt, const char *name);
/* Queue a consumer's effect with named arguments (cc_consumer_exec). */
int cc_consumer_call(cc_consumer_t *c, const cc_args_t *a, cc_db_fn *fn, void *arg);

/* ---- read your writes (docs/ARCHITECTURE.md "Read your writes") ----------
 * A request names an id this daemon does not know, whose home is producer,
 * a daemon whose log we read: it may have been created there a moment ago
 * and not have reached us yet. Before answering "unknown" a handler calls
 *     if (cc_rt_await(rt, &req, "orderd", s_this_handler))
 *         return;
 * which parks the request (the loop runs on) until our consumer of
 * producer has applied every event the producer had committed when the
 * request came (cc_consumer_sync with seq 0), or, when the request carries
 * the header "X-Eldercare-After: <producer>:<seq>[, ...]" (the token a
 * creating reply returns, CC_RT_AFTER_HEADER), every event up to seq; or
 * until --read-wait-ms passed. Then handler(req, app) runs again, and
 * cc_rt_await returns 0 for req meanwhile: the handler answers from the
 * fresh state, "unknown" if it still is.
 * Returns 1 when it took the request: parked, or answered 503 unavailable
 * (Retry-After: 1) when --read-wait-max requests are parked already, or
 * 400 invalid_value (field X-Eldercare-After) for a malformed token.
 * Returns 0 when the handler answers now: the re-run, waiting off
 * (--read-wait-ms 0), producer's log not read, stopping, or the token's
 * seq reached already. Metrics: read_waits_total{log,outcome} (outcome
 * caught_up, timeout, refused), read_waits_parked. */
#define CC_RT_AFTER_HEADER "X-Eldercare-After"
int cc_rt_await(cc_rt_t *rt, cc_http_req_t **req_p, const char *producer, cc_http_fn *handler);
/* 1 while req's handler runs again after cc_rt_await. A handler that learns
 * "unknown" only later (a database read) keeps this with its job and skips
 * the wait then. */
int cc_rt_rerun(const cc_rt_t *rt, const cc_http_req_t *req);
/* A mark that changes whenever the runtime queues a new statement of audit
 * rows on the writer. A write's accepted row is added before its handler
 * runs, to the audit statement then open, so it commits with the write or
 * earlier. A daemon that folds several writes into one statement already
 * queued (orderd's coalesced placements) may add a write to it only while
 * the mark is the one it read when it queued that statement: then the
 * write's accepted row is in a statement ahead of it. */
uint64_t cc_rt_audit_mark(void);

/* The token for a reply that creates something other daemons will be asked
 * about: "X-Eldercare-After" = "<name>:<head>" once our log has read every
 * event committed so far (cc_evlog_sync): fn(arg, value), value NULL when
 * it cannot be had (no memory). Call after the creating statement's COMMIT
 * (in its result callback). 0/-1. */
typedef void (cc_rt_token_fn)(void *arg, const char *value);
int cc_rt_token(cc_rt_t *rt, cc_rt_token_fn *fn, void *arg);

/* Make sock (not yet bound) a CURVE server with our key pair that admits
 * the clients named in the comma-separated list clients (keys
 * <curve-keys-dir>/<name>.pub; ZAP domain: the socket's name). 0, or -1
 * (logged, naming the file). */
int cc_rt_curve_server(cc_rt_t *rt, cc_zsock_t *sock, const char *clients);

/* sd_notify(3) without libsystemd: a datagram to $NOTIFY_SOCKET, if set.
 * 0 sent, 1 no socket, -1 error. */
int cc_sd_notify(const char *state);

#endif
