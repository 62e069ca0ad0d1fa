/* dispatchd: caregivers, visits and the dispatch queue (DESIGN.md §2).
 *
 * Startup (STYLE.md §7, dispatchd): config -> log -> event_base -> signals ->
 * ZeroMQ -> writer and reader connections with prepared statements -> load
 * the working set (caregivers, open visits) through the reader -> own event
 * log -> catch up on orderd's log -> caregiver API. /readyz turns 200 when
 * the store is connected, the working set is loaded, the log is serving and
 * orderd's log has been caught up once.
 * SIGTERM: stop intake (HTTP 503, consumer stops), wait for the writer to
 * commit what is queued, tear down in reverse, exit 0. */
#include "dd_app.h"
#include "dd_dispatch.h"
#include "dd_events.h"
#include "dd_http.h"
#include "dd_store.h"
#include "cc_config.h"
#include "cc_daemon.h"
#include "cc_log.h"
#include "cc_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#define S_STOP_TIMEOUT_US (10 * CC_US_PER_S)

static dd_app_t s_app;

static cc_cfg_param_t s_params[] = {
    {"db", CC_CFG_STR, &s_app.db,
     "host=127.0.0.1 port=55432 dbname=eldercare user=dispatchd",
     "PostgreSQL conninfo (role dispatchd)", .flags = 0 },
    {"http-addr", CC_CFG_STR, &s_app.http_addr, "127.0.0.1", "HTTP listen address", .flags = 0 },
    {"http-port", CC_CFG_INT, &s_app.http_port, "8082", "HTTP port (0: any free port)", .flags = 0 },
    {"log-endpoint", CC_CFG_STR, &s_app.log_endpoint, "tcp://127.0.0.1:9082",
     "own event log ROUTER (Fetch) endpoint", .flags = 0 },
    {"log-level", CC_CFG_STR, &s_app.log_level, "info", "debug|info|warn|error", .flags = 0 },
    {"pidfile", CC_CFG_STR, &s_app.pidfile, NULL, "write the pid here (empty: none)", .flags = 0 },
    {"orderd-log", CC_CFG_STR, &s_app.orderd_log, "tcp://127.0.0.1:9081",
     "orderd's event log endpoint (OrderReleased, OrderCancelled)", .flags = 0 },
    {"accept-timeout-s", CC_CFG_INT, &s_app.accept_timeout_s, "300",
     "seconds a caregiver has to accept an offer before it moves on", .flags = 0 },
    {"assign-deadline-s", CC_CFG_INT, &s_app.assign_deadline_s, "1800",
     "seconds a visit may wait unassigned before VisitFailed(no_caregiver)", .flags = 0 },
    {"retry-interval-s", CC_CFG_INT, &s_app.retry_interval_s, "10",
     "retry the waiting queue at least this often (also at once on new capacity)", .flags = 0 },
    {"max-travel-s", CC_CFG_INT, &s_app.max_travel_s, "3600",
     "never offer a visit more than this many seconds of travel away (0: no limit)", .flags = 0 },
    {"keep-finished-s", CC_CFG_INT, &s_app.keep_finished_s, "86400",
     "keep finished visits in memory (GET /v1/visits/{id}) this long", .flags = 0 },
    {"max-body", CC_CFG_INT, &s_app.max_body, "65536", "largest accepted request body", .flags = 0 },
    {NULL, CC_CFG_STR, NULL, NULL, NULL, .flags = 0 },
};

static struct event *s_stop_ev;

static void s_metrics_init(dd_app_t *app)
{
    app->m_assigned = cc_metrics_counter("dispatchd_assignments_total",
                                         "VisitAssigned appended (first offers and re-offers)");
    app->m_assign_none = cc_metrics_counter("dispatchd_unmatched_total",
                                            "new visits that found nobody and wait");
    app->m_declines = cc_metrics_counter("dispatchd_declines_total", "offers declined");
    app->m_timeouts = cc_metrics_counter("dispatchd_accept_timeouts_total",
                                         "offers not accepted in time");
    app->m_failures = cc_metrics_counter("dispatchd_failures_total",
                                         "VisitFailed appended (no caregiver in time)");
    app->m_preempted = cc_metrics_counter("dispatchd_preemptions_total",
                                          "unaccepted routine offers moved for an emergency");
    app->m_accepted = cc_metrics_counter("dispatchd_visit_steps_total{step=\"accepted\"}",
                                         "caregiver app steps");
    app->m_checked_in = cc_metrics_counter("dispatchd_visit_steps_total{step=\"checked_in\"}",
                                           "caregiver app steps");
    app->m_completed = cc_metrics_counter("dispatchd_visit_steps_total{step=\"completed\"}",
                                          "caregiver app steps");
    app->m_cancelled = cc_metrics_counter("dispatchd_visits_cancelled_total",
                                          "visits dropped on OrderCancelled");
    app->m_caregivers = cc_metrics_gauge("dispatchd_caregivers", "caregivers known");
    app->m_queue_depth = cc_metrics_gauge("dispatchd_queue_depth",
                                          "visits waiting or offered but not accepted");
    app->m_open_visits = cc_metrics_gauge("dispatchd_open_visits", "visits not final");
    app->m_latency = cc_metrics_histogram("dispatchd_assignment_latency_seconds",
                                          "release (or queueing) to committed assignment");
    app->m_match_latency = cc_metrics_histogram("dispatchd_match_seconds",
                                                "one matching decision");
    app->m_lag = cc_metrics_gauge("dispatchd_consumer_lag_seconds{producer=\"orderd\"}",
                                  "age of the last orderd event handled");
    app->m_events_applied = cc_metrics_counter("dispatchd_events_total{outcome=\"applied\"}",
                                               "orderd events by outcome");
    app->m_events_skipped = cc_metrics_counter("dispatchd_events_total{outcome=\"skipped\"}",
                                               "orderd events by outcome");
}

static void s_start_consumer(dd_app_t *app)
{
    app->orders = cc_consumer_new_table(app->base, app->zctx, app->writer, "dispatchd",
                                        "orderd", app->orderd_log, dd_events_from_orderd, app);
    if (!app->orders || cc_consumer_start(app->orders) != 0) {
        cc_error("startup_failed", "what", "consumer", "producer", "orderd");
        exit(1);
    }
}

static void s_on_visits_loaded(PGresult *res, void *arg)
{
    dd_app_t *app = arg;
    int n = dd_store_load_visits(app->world, res);
    if (n < 0) {
        cc_error("startup_failed", "what", "load_visits", "status",
                 PQresStatus(PQresultStatus(res)));
        exit(1);
    }
    /* Offers in flight get their accept timers back (overdue ones fire at once). */
    int64_t now = cc_now_us();
    size_t nactive;
    dd_visit_t *const *active = dd_world_active(app->world, &nactive);
    for (size_t i = 0; i < nactive; i++)
        if (active[i]->state == DD_VISIT_ASSIGNED)
            dd_timer_arm(app, active[i], now);
    app->loaded = 1;
    app->dirty = 1;
    dd_update_gauges(app);
    char buf[24];
    snprintf(buf, sizeof buf, "%d", n);
    cc_info("working_set_loaded", "visits", buf);
    s_start_consumer(app);
    if (dd_sweep_start(app) != 0) {
        cc_error("startup_failed", "what", "sweep_timer");
        exit(1);
    }
}

static void s_on_caregivers_loaded(PGresult *res, void *arg)
{
    dd_app_t *app = arg;
    int n = dd_store_load_caregivers(app->world, res);
    if (n < 0) {
        cc_error("startup_failed", "what", "load_caregivers", "status",
                 PQresStatus(PQresultStatus(res)));
        exit(1);
    }
    char buf[24];
    snprintf(buf, sizeof buf, "%d", n);
    cc_info("caregivers_loaded", "caregivers", buf);
    cc_args_t a;
    cc_args_init(&a, &dd_stmts[DD_ST_LOAD_VISITS]);
    cc_args_int(&a, "keep_s", app->keep_finished_s);
    if (cc_db_call(app->reader, &a, s_on_visits_loaded, app) != 0) {
        cc_error("startup_failed", "what", "load_visits");
        exit(1);
    }
}

static void s_on_stop_poll(evutil_socket_t fd, short what, void *arg)
{
    (void) fd;
    (void) what;
    dd_app_t *app = arg;
    int quiet = cc_db_pending(app->writer) == 0 && cc_http_pending(app->http) == 0;
    if (quiet || cc_mono_us() - app->stop_started_us > S_STOP_TIMEOUT_US) {
        if (!quiet)
            cc_warn("stop_timeout", "pending", "writer or http");
        event_base_loopbreak(app->base);
        return;
    }
    struct timeval tv = {0, 20000};
    evtimer_add(s_stop_ev, &tv);
}

static void s_stop(void *arg)
{
    dd_app_t *app = arg;
    if (app->stopping)
        return;
    app->stopping = 1;
    cc_info("dispatchd_stopping");
    if (app->http)
        cc_http_drain(app->http);
    if (app->orders)
        cc_consumer_stop(app->orders);
    if (app->sweep)
        event_del(app->sweep);
    app->stop_started_us = cc_mono_us();
    s_stop_ev = evtimer_new(app->base, s_on_stop_poll, app);
    if (!s_stop_ev) {
        event_base_loopbreak(app->base);
        return;
    }
    struct timeval tv = {0, 0};
    evtimer_add(s_stop_ev, &tv);
}

static int s_check_config(dd_app_t *app)
{
    const char *bad = NULL;
    if (app->http_port < 0 || app->http_port > 65535)
        bad = "http-port";
    else if (app->accept_timeout_s < 1)
        bad = "accept-timeout-s";
    else if (app->assign_deadline_s < 1)
        bad = "assign-deadline-s";
    else if (app->retry_interval_s < 1)
        bad = "retry-interval-s";
    else if (app->max_travel_s < 0 || app->max_travel_s > CC_S_PER_DAY)
        bad = "max-travel-s";
    else if (app->keep_finished_s < 0)
        bad = "keep-finished-s";
    else if (app->max_body < 1024)
        bad = "max-body";
    else if (!app->db || !app->db[0])
        bad = "db";
    else if (!app->orderd_log || !app->orderd_log[0])
        bad = "orderd-log";
    if (bad)
        fprintf(stderr, "dispatchd: invalid value for --%s\n", bad);
    return bad ? -1 : 0;
}

int main(int argc, char **argv)
{
    dd_app_t *app = &s_app;
    int rc = cc_config_load(s_params, "dispatchd",
                            "dispatchd: caregivers, visits and the dispatch queue", argc, argv);
    if (rc != 0) {
        cc_config_free(s_params);
        return rc == 1 ? 0 : 2;
    }
    if (s_check_config(app) != 0) {
        cc_config_free(s_params);
        return 2;
    }
    cc_log_init("dispatchd", app->log_level);
    s_metrics_init(app);

    app->base = event_base_new();
    app->world = dd_world_new();
    if (!app->base || !app->world || cc_signals_setup(app->base, s_stop, app) != 0) {
        cc_error("startup_failed", "what", "event_base");
        return 1;
    }
    app->zctx = zmq_ctx_new();
    app->writer = cc_db_new(app->base, app->db, "dispatchd-writer");
    app->reader = cc_db_new(app->base, app->db, "dispatchd-reader");
    if (!app->zctx || !app->writer || !app->reader || cc_stmt_prepare(app->writer, dd_stmts, CC_STMT_WRITER) != 0
        || cc_stmt_prepare(app->reader, dd_stmts, CC_STMT_READER) != 0) {
        cc_error("startup_failed", "what", "db");
        return 1;
    }
    cc_args_t a;
    cc_args_init(&a, &dd_stmts[DD_ST_LOAD_CGS]);
    if (cc_db_call(app->reader, &a, s_on_caregivers_loaded, app) != 0) {
        cc_error("startup_failed", "what", "load_caregivers");
        return 1;
    }
    app->evlog = cc_evlog_new(app->base, app->zctx, app->reader, app->writer, "dispatchd",
                              app->log_endpoint, 4096);
    if (!app->evlog) {
        cc_error("startup_failed", "what", "event_log", "endpoint", app->log_endpoint);
        return 1;
    }
    app->http = cc_http_new(app->base, app->http_addr, (int) app->http_port,
                            (size_t) app->max_body);
    if (!app->http || dd_http_routes(app) != 0) {
        cc_error("startup_failed", "what", "http");
        return 1;
    }
    if (app->pidfile && app->pidfile[0] && cc_pidfile_write(app->pidfile) != 0) {
        cc_error("startup_failed", "what", "pidfile");
        return 1;
    }
    char port[16];
    snprintf(port, sizeof port, "%d", cc_http_port(app->http));
    cc_info("process_up", "http_port", port, "log_endpoint", cc_evlog_endpoint(app->evlog));

    event_base_dispatch(app->base);

    /* Clean stop: the writer is idle; tear down in reverse. */
    cc_consumer_destroy(&app->orders);
    cc_http_destroy(&app->http);
    cc_evlog_destroy(&app->evlog);
    cc_db_destroy(&app->writer);
    cc_db_destroy(&app->reader);
    if (app->sweep)
        event_free(app->sweep);
    if (s_stop_ev)
        event_free(s_stop_ev);
    dd_retry_reset(app);
    if (app->world) {
        size_t n;
        dd_visit_t *const *active = dd_world_active(app->world, &n);
        for (size_t i = 0; i < n; i++)
            dd_timer_cancel(active[i]);
    }
    dd_world_destroy(&app->world);
    cc_signals_teardown();
    zmq_ctx_term(app->zctx);
    event_base_free(app->base);
    if (app->pidfile && app->pidfile[0])
        cc_pidfile_remove(app->pidfile);
    cc_stmt_free(dd_stmts);
    cc_info("process_down");
    cc_metrics_reset();
    cc_config_free(s_params);
    return 0;
}
