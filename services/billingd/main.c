/* billingd: price list, subsidy rules, double-entry ledger and holds.
 *
 * Start: config -> log -> loop -> signals -> ZeroMQ -> writer + reader
 * (prepared statements) -> HTTP (503 until ready) -> load the working set
 * through the reader -> own event log -> orderd's log (and dispatchd's and
 * meald's, for delivery evidence) -> ready.
 * Stop (SIGTERM): drain HTTP, stop the consumer, wait for the writer and the
 * reader to finish what they accepted, destroy everything, exit 0. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>
#include "bd_app.h"
#include "bd_events.h"
#include "bd_http.h"
#include "bd_recon.h"
#include "bd_store.h"
#include "cc_config.h"
#include "cc_daemon.h"
#include "cc_log.h"
#include "cc_util.h"

#define S_STOP_TIMEOUT_US (10 * CC_US_PER_S)

static bd_app_t s_app;

static cc_cfg_param_t s_params[] = {
    { "db", CC_CFG_STR, &s_app.db, "host=127.0.0.1 port=55432 dbname=eldercare user=billingd",
      "PostgreSQL conninfo (role billingd, search_path billingd)", .flags = 0 },
    { "http-addr", CC_CFG_STR, &s_app.http_addr, "127.0.0.1", "HTTP listen address", .flags = 0 },
    { "http-port", CC_CFG_INT, &s_app.http_port, "8084", "HTTP port (0: any free port)", .flags = 0 },
    { "log-endpoint", CC_CFG_STR, &s_app.log_endpoint, "tcp://127.0.0.1:9084",
      "own event log ROUTER (FundsHeld, FundsDenied, HoldCaptured, HoldReleased)", .flags = 0 },
    { "log-level", CC_CFG_STR, &s_app.log_level, "info", "debug|info|warn|error", .flags = 0 },
    { "pidfile", CC_CFG_STR, &s_app.pidfile, NULL, "write the pid here (empty: none)", .flags = 0 },
    { "orderd-log", CC_CFG_STR, &s_app.orderd_log, "tcp://127.0.0.1:9081",
      "orderd's event log (cards, orders)", .flags = 0 },
    { "dispatchd-log", CC_CFG_STR, &s_app.dispatchd_log, "tcp://127.0.0.1:9082",
      "dispatchd's event log: visit completions for reconciliation (empty: off)", .flags = 0 },
    { "meald-log", CC_CFG_STR, &s_app.meald_log, "tcp://127.0.0.1:9083",
      "meald's event log: meal deliveries for reconciliation (empty: off)", .flags = 0 },
    { "max-body", CC_CFG_INT, &s_app.max_body, "65536", "largest request body in bytes", .flags = 0 },
    { "max-topup-fen", CC_CFG_INT, &s_app.max_topup_fen, "10000000",
      "largest single top-up in fen (default 100,000 CNY)", .flags = 0 },
    { "ring-size", CC_CFG_INT, &s_app.ring_size, "4096", "recent own events served from memory", .flags = 0 },
    { "batch-max", CC_CFG_INT, &s_app.batch_max, "256", "statements per writer transaction", .flags = 0 },
    { "statement-limit", CC_CFG_INT, &s_app.statement_limit, "100",
      "default number of statement lines per card", .flags = 0 },
    { "recon-interval-s", CC_CFG_INT, &s_app.recon_interval_s, "60",
      "seconds between reconciliation runs of captures against deliveries (0: off)", .flags = 0 },
    { NULL, CC_CFG_STR, NULL, NULL, NULL, .flags = 0 },
};

/* A log to consume: its flag is set (empty turns the consumer off). */
static int s_on(const char *endpoint)
{
    return endpoint && endpoint[0];
}

static int s_caught_up(const char *endpoint, const cc_consumer_t *c)
{
    return !s_on(endpoint) || (c && cc_consumer_caught_up(c));
}

static int s_ready(void *arg)
{
    bd_app_t *app = arg;
    return !app->stopping && app->loaded && cc_db_connected(app->writer)
           && cc_db_connected(app->reader) && app->evlog && cc_evlog_ready(app->evlog)
           && app->orderd && cc_consumer_caught_up(app->orderd)
           && s_caught_up(app->dispatchd_log, app->dispatchd)
           && s_caught_up(app->meald_log, app->meald);
}

void bd_app_update_gauges(bd_app_t *app)
{
    bd_totals_t t;
    bd_ledger_totals(app->ledger, &t);
    cc_metric_set(app->m_money_available, (double)t.available_fen);
    cc_metric_set(app->m_money_held, (double)t.held_fen);
    cc_metric_set(app->m_money_arrears, (double)t.arrears_fen);
    cc_metric_set(app->m_money_payable, (double)t.payable_fen);
    cc_metric_set(app->m_money_subsidy, (double)t.subsidy_spent_fen);
    cc_metric_set(app->m_money_topped_up, (double)t.topped_up_fen);
    cc_metric_set(app->m_open_holds, (double)bd_ledger_hold_count(app->ledger));
    cc_metric_set(app->m_writer_pending, (double)cc_db_pending(app->writer));
}

static void s_metrics_init(bd_app_t *app)
{
    app->m_holds = cc_metrics_counter("billingd_holds_total", "OrderPlaced held");
    app->m_captures = cc_metrics_counter("billingd_captures_total", "holds captured");
    app->m_releases = cc_metrics_counter("billingd_releases_total", "holds released");
    app->m_replays = cc_metrics_counter("billingd_replays_total",
                                        "effects the store had already applied");
    app->m_cards = cc_metrics_counter("billingd_cards_opened_total", "cards opened");
    app->m_open_holds = cc_metrics_gauge("billingd_open_holds", "holds waiting for capture");
    const char *money = "money on the ledger in fen, by account kind";
    app->m_money_available = cc_metrics_gauge("billingd_money_fen{kind=\"available\"}", money);
    app->m_money_held = cc_metrics_gauge("billingd_money_fen{kind=\"held\"}", money);
    app->m_money_arrears = cc_metrics_gauge("billingd_money_fen{kind=\"arrears\"}", money);
    app->m_money_payable = cc_metrics_gauge("billingd_money_fen{kind=\"provider_payable\"}",
                                            money);
    app->m_money_subsidy = cc_metrics_gauge("billingd_money_fen{kind=\"subsidy_spent\"}", money);
    app->m_money_topped_up = cc_metrics_gauge("billingd_money_fen{kind=\"topped_up\"}", money);
    app->m_writer_pending = cc_metrics_gauge("billingd_writer_pending",
                                             "statements queued or in flight on the writer");
    app->m_apply_seconds = cc_metrics_histogram("billingd_event_apply_seconds",
                                                "orderd event queued to committed");
    app->m_topup_seconds = cc_metrics_histogram("billingd_topup_seconds",
                                                "top-up request to reply");
}

/* Working set in memory: now serve our log and read orderd's. */
static void s_on_loaded(bd_app_t *app)
{
    char cards[24], holds[24];
    snprintf(cards, sizeof cards, "%zu", bd_ledger_card_count(app->ledger));
    snprintf(holds, sizeof holds, "%zu", bd_ledger_hold_count(app->ledger));
    cc_info("working_set_loaded", "cards", cards, "open_holds", holds);
    bd_app_update_gauges(app);
    if (app->stopping)
        return;
    app->evlog = cc_evlog_new(app->base, app->zctx, app->reader, app->writer, "billingd",
                              app->log_endpoint, (size_t)app->ring_size);
    if (!app->evlog) {
        cc_error("evlog_failed", "endpoint", app->log_endpoint);
        exit(1);
    }
    app->orderd = cc_consumer_new_table(app->base, app->zctx, app->writer, "billingd",
                                        "orderd", app->orderd_log, bd_events_from_orderd, app);
    if (!app->orderd || cc_consumer_start(app->orderd) != 0) {
        cc_error("consumer_failed", "producer", "orderd", "endpoint", app->orderd_log);
        exit(1);
    }
    if (s_on(app->dispatchd_log)) {
        app->dispatchd = cc_consumer_new_table(app->base, app->zctx, app->writer, "billingd",
                                               "dispatchd", app->dispatchd_log,
                                               bd_events_from_dispatchd, app);
        if (!app->dispatchd || cc_consumer_start(app->dispatchd) != 0) {
            cc_error("consumer_failed", "producer", "dispatchd", "endpoint", app->dispatchd_log);
            exit(1);
        }
    }
    if (s_on(app->meald_log)) {
        app->meald = cc_consumer_new_table(app->base, app->zctx, app->writer, "billingd",
                                           "meald", app->meald_log, bd_events_from_meald, app);
        if (!app->meald || cc_consumer_start(app->meald) != 0) {
            cc_error("consumer_failed", "producer", "meald", "endpoint", app->meald_log);
            exit(1);
        }
    }
}

static void s_on_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    bd_app_t *app = arg;
    if (app->loaded)
        bd_app_update_gauges(app);
    if (!app->stopping)
        return;
    int busy = cc_http_pending(app->http) + cc_db_pending(app->writer)
               + cc_db_pending(app->reader);
    if (busy == 0) {
        event_base_loopexit(app->base, NULL);
    } else if (cc_mono_us() > app->stop_deadline_us) {
        char n[16];
        snprintf(n, sizeof n, "%d", busy);
        cc_warn("stop_timeout", "pending", n);
        app->exit_code = 1;
        event_base_loopexit(app->base, NULL);
    }
}

static void s_on_stop(void *arg)
{
    bd_app_t *app = arg;
    if (app->stopping)
        return;
    cc_info("stopping");
    app->stopping = 1;
    app->stop_deadline_us = cc_mono_us() + S_STOP_TIMEOUT_US;
    cc_http_drain(app->http);
    bd_recon_stop(app);
    if (app->orderd)
        cc_consumer_stop(app->orderd);
    if (app->dispatchd)
        cc_consumer_stop(app->dispatchd);
    if (app->meald)
        cc_consumer_stop(app->meald);
    /* Check every 20 ms from now on. */
    event_del(app->ev_tick);
    struct timeval tv = { 0, 20000 };
    event_add(app->ev_tick, &tv);
}

static int s_check_config(bd_app_t *app)
{
    if (app->http_port < 0 || app->http_port > 65535) {
        fprintf(stderr, "billingd: --http-port must be 0..65535\n");
        return -1;
    }
    if (app->max_body < 1024 || app->max_body > 16 * 1024 * 1024) {
        fprintf(stderr, "billingd: --max-body must be 1024..16777216\n");
        return -1;
    }
    if (app->max_topup_fen < 1 || app->max_topup_fen > BD_PRICE_MAX_FEN * 10) {
        fprintf(stderr, "billingd: --max-topup-fen must be 1..%lld\n", BD_PRICE_MAX_FEN * 10);
        return -1;
    }
    if (app->ring_size < 16 || app->batch_max < 1 || app->statement_limit < 1
        || app->statement_limit > 1000 || app->recon_interval_s < 0
        || app->recon_interval_s > CC_S_PER_DAY) {
        fprintf(stderr, "billingd: --ring-size >= 16, --batch-max >= 1, "
                        "--statement-limit 1..1000, --recon-interval-s 0..86400\n");
        return -1;
    }
    if (!app->db || !app->db[0] || !app->log_endpoint[0] || !app->orderd_log[0]) {
        fprintf(stderr, "billingd: --db, --log-endpoint and --orderd-log are required\n");
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    bd_app_t *app = &s_app;
    int rc = cc_config_load(s_params, "billingd",
                            "billingd: price list, subsidies, ledger and holds for love cards",
                            argc, argv);
    if (rc == 1)
        return 0;
    if (rc < 0 || s_check_config(app) < 0)
        return 2;
    cc_log_init("billingd", app->log_level);

    app->base = event_base_new();
    if (!app->base || cc_signals_setup(app->base, s_on_stop, app) < 0) {
        cc_error("startup_failed", "step", "event_base");
        return 1;
    }
    app->zctx = zmq_ctx_new();
    s_metrics_init(app);
    app->ledger = bd_ledger_new();
    app->pricing = bd_pricing_new();
    app->writer = cc_db_new(app->base, app->db, "billingd-writer");
    app->reader = cc_db_new(app->base, app->db, "billingd-reader");
    app->ev_tick = event_new(app->base, -1, EV_PERSIST, s_on_tick, app);
    if (!app->zctx || !app->ledger || !app->pricing || !app->writer || !app->reader
        || !app->ev_tick || bd_store_prepare(app) < 0) {
        cc_error("startup_failed", "step", "db");
        return 1;
    }
    cc_db_set_batch_max(app->writer, (int)app->batch_max);
    app->http = cc_http_new(app->base, app->http_addr, (int)app->http_port,
                            (size_t)app->max_body);
    if (!app->http || bd_http_routes(app) < 0) {
        cc_error("startup_failed", "step", "http");
        return 1;
    }
    cc_http_set_ready(app->http, s_ready, app);
    if (app->pidfile && app->pidfile[0] && cc_pidfile_write(app->pidfile) < 0) {
        cc_error("startup_failed", "step", "pidfile");
        return 1;
    }
    if (bd_store_load(app, s_on_loaded) < 0) {
        cc_error("startup_failed", "step", "load");
        return 1;
    }
    struct timeval second = { 1, 0 };
    event_add(app->ev_tick, &second);
    if (bd_recon_start(app) < 0) {
        cc_error("startup_failed", "step", "reconciliation timer");
        return 1;
    }
    char port[16];
    snprintf(port, sizeof port, "%d", cc_http_port(app->http));
    cc_info("process_up", "http_port", port, "log_endpoint", app->log_endpoint, "orderd_log",
            app->orderd_log, "dispatchd_log", s_on(app->dispatchd_log) ? app->dispatchd_log : "off",
            "meald_log", s_on(app->meald_log) ? app->meald_log : "off");

    event_base_dispatch(app->base);

    cc_info("process_down");
    cc_consumer_destroy(&app->orderd);
    cc_consumer_destroy(&app->dispatchd);
    cc_consumer_destroy(&app->meald);
    cc_evlog_destroy(&app->evlog);
    bd_http_shutdown(app);
    cc_http_destroy(&app->http);
    cc_db_destroy(&app->writer);
    cc_db_destroy(&app->reader);
    if (app->zctx)
        zmq_ctx_term(app->zctx);
    bd_ledger_destroy(&app->ledger);
    bd_pricing_destroy(&app->pricing);
    event_free(app->ev_tick);
    bd_recon_stop(app);
    cc_signals_teardown();
    event_base_free(app->base);
    if (app->pidfile && app->pidfile[0])
        cc_pidfile_remove(app->pidfile);
    cc_metrics_reset();
    cc_config_free(s_params);
    return app->exit_code;
}
