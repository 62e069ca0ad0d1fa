/* meald: meal points, slots and capacity; schedules meal orders released by
 * orderd to the nearest point with a place before its cut-off; kitchen
 * lists and deliveries. See docs/API-meald.md and docs/ARCHITECTURE.md.
 *
 * Start: config -> log -> loop -> signals -> pidfile -> ZeroMQ -> writer and
 * reader connections (prepared statements) -> own log ROUTER -> HTTP (503
 * until loaded) -> load the working set via the reader -> then the orderd
 * consumer starts. Stop (SIGTERM): drain HTTP, stop the consumer, wait for
 * the writer to commit what it holds, destroy everything, exit 0. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "cc_config.h"
#include "cc_daemon.h"
#include "cc_log.h"
#include "cc_util.h"
#include "md_app.h"
#include "md_events.h"
#include "md_http.h"
#include "md_store.h"

#define S_RING_SIZE 4096
#define S_PRUNE_EVERY_S CC_S_PER_HOUR
#define S_STOP_POLL_MS 20
#define S_STOP_MAX_MS 15000

static md_app_t s_app;

static void s_metrics(md_app_t *app)
{
    app->m_scheduled = cc_metrics_counter("meald_meals_scheduled_total",
                                          "Meal orders scheduled to a meal point");
    for (int r = MD_REFUSE_PAST_CUTOFF; r < MD_REFUSE_COUNT; r++) {
        char name[96];
        snprintf(name, sizeof name, "meald_meals_refused_total{reason=\"%s\"}",
                 md_refusal_name((md_refusal_t)r));
        app->m_refused[r] = cc_metrics_counter(name, "Meal orders refused, by reason");
    }
    app->m_cancelled = cc_metrics_counter("meald_meals_cancelled_total",
                                          "Scheduled meals cancelled (place freed)");
    app->m_delivered = cc_metrics_counter("meald_meals_delivered_total", "Meals delivered");
    app->m_points_created = cc_metrics_counter("meald_meal_points_created_total",
                                               "Meal points created");
    app->m_ignored = cc_metrics_counter("meald_orderd_events_ignored_total",
                                        "orderd events with nothing for meald to do");
    app->m_open = cc_metrics_gauge("meald_meals_open", "Meals scheduled, not yet delivered");
    app->m_points = cc_metrics_gauge("meald_meal_points", "Meal points");
    app->m_lag_s = cc_metrics_gauge("meald_consumer_lag_seconds{log=\"orderd\"}",
                                    "Age of the last orderd event applied when it committed");
    app->m_decide_s = cc_metrics_histogram("meald_event_apply_seconds",
                                           "orderd event decided to effect committed");
    app->m_http_s = cc_metrics_histogram("meald_write_seconds",
                                         "Write request received to reply (after commit)");
}

static void s_on_prune(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    md_app_t *app = arg;
    int32_t before = md_day_of_us(cc_now_us()) - (int32_t)app->retain_days;
    size_t n = md_state_prune(app->state, before);
    if (n > 0) {
        char buf[24];
        snprintf(buf, sizeof buf, "%zu", n);
        cc_info("meals_pruned", "meals", buf);
    }
    md_app_gauges(app);
}

static void s_on_loaded(md_app_t *app, int ok)
{
    if (!ok) {
        cc_error("working_set_load_failed");
        exit(1);   /* crash-only: the supervisor restarts us */
    }
    app->loaded = 1;
    md_app_gauges(app);
    if (app->stopping)
        return;
    if (cc_consumer_start(app->orders) != 0) {
        cc_error("consumer_start_failed", "log", "orderd");
        exit(1);
    }
    struct timeval tv = {S_PRUNE_EVERY_S, 0};
    event_add(app->ev_prune, &tv);
}

static int64_t s_stop_started_us;

static void s_on_stop_poll(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    md_app_t *app = arg;
    int pending = cc_db_pending(app->writer) + cc_http_pending(app->http);
    if (pending == 0 || cc_mono_us() - s_stop_started_us > S_STOP_MAX_MS * CC_US_PER_MS) {
        if (pending)
            cc_warn("stop_timeout", "pending", pending > 0 ? "yes" : "no");
        event_base_loopbreak(app->base);
        return;
    }
    struct timeval tv = {0, S_STOP_POLL_MS * CC_US_PER_MS};
    event_add(app->ev_stop, &tv);
}

static void s_stop(void *arg)
{
    md_app_t *app = arg;
    if (app->stopping)
        return;
    app->stopping = 1;
    cc_info("stopping");
    cc_http_drain(app->http);
    if (app->orders)
        cc_consumer_stop(app->orders);
    event_del(app->ev_prune);
    s_stop_started_us = cc_mono_us();
    struct timeval tv = {0, 0};
    event_add(app->ev_stop, &tv);
}

int main(int argc, char **argv)
{
    md_app_t *app = &s_app;
    cc_cfg_param_t params[] = {
        {"db", CC_CFG_STR, &app->db,
         "host=127.0.0.1 port=55432 dbname=eldercare user=meald", "PostgreSQL conninfo", .flags = 0 },
        {"http-addr", CC_CFG_STR, &app->http_addr, "127.0.0.1", "HTTP listen address", .flags = 0 },
        {"http-port", CC_CFG_INT, &app->http_port, "8083", "HTTP port (0: any free port)", .flags = 0 },
        {"log-endpoint", CC_CFG_STR, &app->log_endpoint, "tcp://127.0.0.1:9083",
         "meald's event log ROUTER (Fetch)", .flags = 0 },
        {"log-level", CC_CFG_STR, &app->log_level, "info", "debug|info|warn|error", .flags = 0 },
        {"pidfile", CC_CFG_STR, &app->pidfile, "", "write the pid here (empty: none)", .flags = 0 },
        {"orderd-log", CC_CFG_STR, &app->orderd_log, "tcp://127.0.0.1:9081",
         "orderd's event log ROUTER", .flags = 0 },
        {"max-distance-m", CC_CFG_INT, &app->max_distance_m, "0",
         "farthest meal point for an elder, metres (0: no limit)", .flags = 0 },
        {"retain-days", CC_CFG_INT, &app->retain_days, "14",
         "days of past meals kept in memory (kitchen lists, deliveries)", .flags = 0 },
        {"max-body", CC_CFG_INT, &app->max_body, "65536", "largest HTTP request body, bytes", .flags = 0 },
        {NULL, 0, NULL, NULL, NULL, .flags = 0 },
    };
    int rc = cc_config_load(params, "meald",
                            "meald: meal points, slot capacity, meal scheduling and delivery",
                            argc, argv);
    if (rc != 0) {
        cc_config_free(params);
        return rc == 1 ? 0 : 2;
    }
    if (app->http_port < 0 || app->http_port > 65535 || app->retain_days < 1
        || app->retain_days > 3650 || app->max_distance_m < 0 || app->max_body < 1024) {
        fprintf(stderr, "meald: http-port, retain-days (1..3650), max-distance-m (>= 0) or "
                        "max-body (>= 1024) out of range\n");
        cc_config_free(params);
        return 2;
    }
    cc_log_init("meald", app->log_level);

    app->base = event_base_new();
    if (!app->base || cc_signals_setup(app->base, s_stop, app) != 0) {
        cc_error("startup_failed", "what", "event_base");
        return 1;
    }
    if (app->pidfile[0] && cc_pidfile_write(app->pidfile) != 0) {
        cc_error("startup_failed", "what", "pidfile");
        return 1;
    }
    s_metrics(app);
    app->state = md_state_new();
    app->zctx = zmq_ctx_new();
    app->ev_prune = event_new(app->base, -1, EV_PERSIST, s_on_prune, app);
    app->ev_stop = evtimer_new(app->base, s_on_stop_poll, app);
    app->writer = cc_db_new(app->base, app->db, "meald-writer");
    app->reader = cc_db_new(app->base, app->db, "meald-reader");
    if (!app->state || !app->zctx || !app->ev_prune || !app->ev_stop || !app->writer
        || !app->reader || md_store_prepare(app) != 0) {
        cc_error("startup_failed", "what", "init");
        return 1;
    }
    app->evlog = cc_evlog_new(app->base, app->zctx, app->reader, app->writer, "meald",
                              app->log_endpoint, S_RING_SIZE);
    if (!app->evlog) {
        cc_error("startup_failed", "what", "event_log", "endpoint", app->log_endpoint);
        return 1;
    }
    app->orders = cc_consumer_new_table(app->base, app->zctx, app->writer, "meald", "orderd",
                                        app->orderd_log, md_events_from_orderd, app);
    if (!app->orders) {
        cc_error("startup_failed", "what", "orderd_consumer", "endpoint", app->orderd_log);
        return 1;
    }
    app->http = cc_http_new(app->base, app->http_addr, (int)app->http_port,
                            (size_t)app->max_body);
    if (!app->http || md_http_routes(app) != 0) {
        cc_error("startup_failed", "what", "http");
        return 1;
    }
    if (md_store_load(app, cc_now_us(), s_on_loaded) != 0) {
        cc_error("startup_failed", "what", "load");
        return 1;
    }
    char port[16];
    snprintf(port, sizeof port, "%d", cc_http_port(app->http));
    cc_info("process_up", "http_port", port, "log_endpoint", cc_evlog_endpoint(app->evlog),
            "orderd_log", app->orderd_log);

    event_base_dispatch(app->base);

    cc_info("process_down");
    cc_consumer_destroy(&app->orders);
    cc_evlog_destroy(&app->evlog);
    cc_http_destroy(&app->http);
    cc_db_destroy(&app->writer);
    cc_db_destroy(&app->reader);
    zmq_ctx_term(app->zctx);
    md_state_destroy(&app->state);
    event_free(app->ev_prune);
    event_free(app->ev_stop);
    cc_signals_teardown();
    event_base_free(app->base);
    if (app->pidfile[0])
        cc_pidfile_remove(app->pidfile);
    cc_config_free(params);
    cc_metrics_reset();
    return 0;
}
