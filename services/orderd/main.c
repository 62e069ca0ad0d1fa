/* orderd: the order's home and the saga's conductor (docs/ARCHITECTURE.md).
 *
 * config -> log -> event_base -> signals -> ZeroMQ context -> writer and
 * reader connections (prepared statements) -> event log ROUTER (before the
 * API) -> working set load (reader) -> HTTP + ZeroMQ intake (answer 503 until
 * loaded) -> consumers of billingd's, dispatchd's, meald's logs once loaded
 * -> loop. SIGTERM: drain HTTP, stop consumers and intake, wait until the
 * writer has nothing pending, destroy everything, exit 0. */
#include <stdlib.h>
#include <string.h>
#include <stdio.h>
#include <zmq.h>
#include <event2/event.h>
#include "cc_config.h"
#include "cc_daemon.h"
#include "cc_db.h"
#include "cc_evlog.h"
#include "cc_http.h"
#include "cc_log.h"
#include "cc_metrics.h"
#include "od_app.h"
#include "od_events.h"
#include "od_http.h"
#include "od_intake.h"
#include "od_store.h"

static struct {
    char *db, *http_addr, *log_endpoint, *log_level, *pidfile, *intake_endpoint;
    char *billingd_log, *dispatchd_log, *meald_log;
    int64_t http_port, max_body, idem_ttl, batch_max, log_ring, stop_timeout;
} s_cfg;

static cc_cfg_param_t s_params[] = {
    { "db", CC_CFG_STR, &s_cfg.db, "host=127.0.0.1 port=55432 dbname=eldercare user=orderd",
      "PostgreSQL conninfo (role orderd, search_path orderd)" },
    { "http-addr", CC_CFG_STR, &s_cfg.http_addr, "127.0.0.1", "HTTP listen address" },
    { "http-port", CC_CFG_INT, &s_cfg.http_port, "8081", "HTTP port (0: any free port)" },
    { "log-endpoint", CC_CFG_STR, &s_cfg.log_endpoint, "tcp://127.0.0.1:9081",
      "own event log ROUTER (Fetch)" },
    { "log-level", CC_CFG_STR, &s_cfg.log_level, "info", "debug|info|warn|error" },
    { "pidfile", CC_CFG_STR, &s_cfg.pidfile, NULL, "write the pid here (empty: none)" },
    { "intake-endpoint", CC_CFG_STR, &s_cfg.intake_endpoint, "tcp://127.0.0.1:9091",
      "ZeroMQ ROUTER taking PlaceOrder (empty: off)" },
    { "billingd-log", CC_CFG_STR, &s_cfg.billingd_log, "tcp://127.0.0.1:9084",
      "billingd's event log (empty: do not consume)" },
    { "dispatchd-log", CC_CFG_STR, &s_cfg.dispatchd_log, "tcp://127.0.0.1:9082",
      "dispatchd's event log (empty: do not consume)" },
    { "meald-log", CC_CFG_STR, &s_cfg.meald_log, "tcp://127.0.0.1:9083",
      "meald's event log (empty: do not consume)" },
    { "max-body", CC_CFG_INT, &s_cfg.max_body, "65536", "HTTP request body cap in bytes (413)" },
    { "idem-ttl", CC_CFG_INT, &s_cfg.idem_ttl, "3600",
      "seconds a committed Idempotency-Key stays in memory (the store guards after)" },
    { "batch-max", CC_CFG_INT, &s_cfg.batch_max, "256", "statements per writer transaction" },
    { "log-ring", CC_CFG_INT, &s_cfg.log_ring, "8192", "recent events served from memory" },
    { "stop-timeout", CC_CFG_INT, &s_cfg.stop_timeout, "10",
      "seconds SIGTERM waits for the batch in flight" },
    { NULL, 0, NULL, NULL, NULL }
};

#define S_NCONSUMERS 3
static const char *const s_producers[S_NCONSUMERS] = { "billingd", "dispatchd", "meald" };

typedef struct {
    od_app_t app;
    od_intake_t *intake;
    cc_consumer_t *consumers[S_NCONSUMERS];
    struct event *ev_stop;                /* polls for a quiet writer on stop */
    int64_t stop_deadline_us;
    cc_metric_t *m_ready;
} s_main_t;

static s_main_t s_m;

static int s_ready(void *arg)
{
    s_main_t *m = arg;
    od_app_t *app = &m->app;
    if (app->stopping || !app->loaded || !cc_db_connected(app->writer) ||
        !cc_db_connected(app->reader) || !cc_evlog_ready(app->log))
        return 0;
    for (int i = 0; i < S_NCONSUMERS; i++)
        if (m->consumers[i] && !cc_consumer_caught_up(m->consumers[i]))
            return 0;
    return 1;
}

static void s_loaded(od_app_t *app)
{
    s_main_t *m = (s_main_t *)app;   /* app is the first member */
    const char *eps[S_NCONSUMERS] = { s_cfg.billingd_log, s_cfg.dispatchd_log, s_cfg.meald_log };
    for (int i = 0; i < S_NCONSUMERS; i++) {
        if (!eps[i] || !*eps[i])
            continue;
        m->consumers[i] = cc_consumer_new_table(app->base, app->zctx, app->writer, "orderd",
                                                s_producers[i], eps[i],
                                                od_events_table(s_producers[i]), app);
        if (!m->consumers[i] || cc_consumer_start(m->consumers[i]) != 0) {
            cc_error("consumer_failed", "producer", s_producers[i]);
            exit(1);
        }
    }
    cc_info("orderd_up");
}

static void s_on_sweep(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    od_app_sweep(arg);
}

static void s_on_stop_poll(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    s_main_t *m = arg;
    od_app_t *app = &m->app;
    int quiet = cc_db_pending(app->writer) == 0 && cc_http_pending(app->http) == 0;
    if (quiet || cc_mono_us() > m->stop_deadline_us) {
        if (!quiet)
            cc_warn("stop_timeout", "pending", "writer or http");
        event_base_loopbreak(app->base);
        return;
    }
    struct timeval tv = { 0, 20000 };
    evtimer_add(m->ev_stop, &tv);
}

static void s_stop(void *arg)
{
    s_main_t *m = arg;
    od_app_t *app = &m->app;
    if (app->stopping)
        return;
    app->stopping = 1;
    cc_info("orderd_stopping");
    cc_http_drain(app->http);
    for (int i = 0; i < S_NCONSUMERS; i++)
        if (m->consumers[i])
            cc_consumer_stop(m->consumers[i]);
    m->stop_deadline_us = cc_mono_us() + s_cfg.stop_timeout * 1000000;
    m->ev_stop = evtimer_new(app->base, s_on_stop_poll, m);
    if (!m->ev_stop) {
        event_base_loopbreak(app->base);
        return;
    }
    struct timeval tv = { 0, 0 };
    evtimer_add(m->ev_stop, &tv);
}

int main(int argc, char **argv)
{
    int rc = cc_config_load(s_params, "orderd",
                            "orderd: elders, love cards and orders; conducts the saga", argc, argv);
    if (rc != 0)
        return rc == 1 ? 0 : 2;
    cc_log_init("orderd", s_cfg.log_level);

    s_main_t *m = &s_m;
    od_app_t *app = &m->app;
    struct event_base *base = event_base_new();
    if (!base || od_app_init(app, base) != 0) {
        cc_error("startup_failed", "what", "event_base");
        return 1;
    }
    app->idem_ttl_us = s_cfg.idem_ttl * 1000000;
    od_events_init_metrics();
    if (cc_signals_setup(base, s_stop, m) != 0) {
        cc_error("startup_failed", "what", "signals");
        return 1;
    }
    app->zctx = zmq_ctx_new();
    app->writer = cc_db_new(base, s_cfg.db, "orderd-writer");
    app->reader = cc_db_new(base, s_cfg.db, "orderd-reader");
    if (!app->zctx || !app->writer || !app->reader ||
        od_store_prepare(app->writer, app->reader) != 0) {
        cc_error("startup_failed", "what", "db");
        return 1;
    }
    cc_db_set_batch_max(app->writer, (int)s_cfg.batch_max);
    /* The log ROUTER comes up before the API (STYLE.md: orderd). */
    app->log = cc_evlog_new(base, app->zctx, app->reader, app->writer, "orderd",
                            s_cfg.log_endpoint, (size_t)s_cfg.log_ring);
    if (!app->log) {
        cc_error("startup_failed", "what", "event_log", "endpoint", s_cfg.log_endpoint);
        return 1;
    }
    od_store_load(app, s_loaded);

    app->http = cc_http_new(base, s_cfg.http_addr, (int)s_cfg.http_port, (size_t)s_cfg.max_body);
    if (!app->http || od_http_routes(app, app->http) != 0) {
        cc_error("startup_failed", "what", "http");
        return 1;
    }
    cc_http_set_ready(app->http, s_ready, m);
    if (s_cfg.intake_endpoint && *s_cfg.intake_endpoint) {
        m->intake = od_intake_new(app, s_cfg.intake_endpoint);
        if (!m->intake) {
            cc_error("startup_failed", "what", "intake", "endpoint", s_cfg.intake_endpoint);
            return 1;
        }
    }
    if (s_cfg.pidfile && *s_cfg.pidfile && cc_pidfile_write(s_cfg.pidfile) != 0) {
        cc_error("startup_failed", "what", "pidfile");
        return 1;
    }
    m->m_ready = NULL;
    app->ev_sweep = event_new(base, -1, EV_PERSIST, s_on_sweep, app);
    struct timeval sweep = { 60, 0 };
    if (app->ev_sweep)
        event_add(app->ev_sweep, &sweep);
    char port[16];
    snprintf(port, sizeof port, "%d", cc_http_port(app->http));
    cc_info("process_up", "http_port", port, "log_endpoint", cc_evlog_endpoint(app->log),
            "intake_endpoint", m->intake ? od_intake_endpoint(m->intake) : "");

    event_base_dispatch(base);

    /* Clean stop: nothing pending on the writer; tear down in reverse. */
    for (int i = 0; i < S_NCONSUMERS; i++)
        cc_consumer_destroy(&m->consumers[i]);
    od_intake_destroy(&m->intake);
    cc_http_destroy(&app->http);
    cc_evlog_destroy(&app->log);
    cc_db_destroy(&app->writer);
    cc_db_destroy(&app->reader);
    if (app->ev_sweep)
        event_free(app->ev_sweep);
    if (m->ev_stop)
        event_free(m->ev_stop);
    od_app_fini(app);
    cc_signals_teardown();
    zmq_ctx_term(app->zctx);
    event_base_free(base);
    if (s_cfg.pidfile && *s_cfg.pidfile)
        cc_pidfile_remove(s_cfg.pidfile);
    cc_info("process_down");
    cc_metrics_reset();
    cc_config_free(s_params);
    return 0;
}
