/* bd_app: see bd_app.h. */
#include "bd_app.h"
#include "bd_http.h"
#include "bd_recon.h"
#include "bd_store.h"
#include "cc_log.h"
#include <stdlib.h>

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
    cc_metric_set(app->m_writer_pending, (double)cc_db_pending(app->rt.writer));
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

static void s_on_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    bd_app_update_gauges(arg);
}

int bd_app_init(void *arg)
{
    bd_app_t *app = arg;
    s_metrics_init(app);
    app->ledger = bd_ledger_new();
    app->pricing = bd_pricing_new();
    app->topups = cc_map_new();
    app->ev_tick = event_new(app->rt.base, -1, EV_PERSIST, s_on_tick, app);
    if (!app->ledger || !app->pricing || !app->topups || !app->ev_tick)
        return -1;
    app->checker = cc_db_new(app->rt.base, app->rt.db, "billingd-check");
    if (!app->checker || cc_stmt_prepare(app->checker, bd_stmts, BD_STMT_CHECKER) != 0)
        return -1;
    cc_db_set_statement_timeout(app->checker, (int)app->check_timeout_ms);
    return 0;
}

int bd_app_start(void *arg)
{
    bd_app_t *app = arg;
    struct timeval second = { 1, 0 };
    if (event_add(app->ev_tick, &second) != 0 || bd_recon_start(app) != 0) {
        cc_error("startup_failed", "what", "timers");
        return -1;
    }
    return 0;
}

void bd_app_stop(void *arg)
{
    bd_app_t *app = arg;
    bd_recon_stop(app);
    if (app->ev_tick)
        event_del(app->ev_tick);
}

void bd_app_reset(void *arg)
{
    bd_app_t *app = arg;
    bd_recon_stop(app);
    event_del(app->ev_tick);
    bd_ledger_destroy(&app->ledger);
    bd_pricing_destroy(&app->pricing);
    app->ledger = bd_ledger_new();
    app->pricing = bd_pricing_new();
    if (!app->ledger || !app->pricing) {
        cc_error("out_of_memory", "where", "reset");
        exit(1);
    }
}

void bd_app_fini(void *arg)
{
    bd_app_t *app = arg;
    bd_recon_stop(app);
    if (app->ev_tick)
        event_free(app->ev_tick);
    app->ev_tick = NULL;
    bd_http_shutdown(app);
    cc_db_destroy(&app->checker);
    bd_ledger_destroy(&app->ledger);
    bd_pricing_destroy(&app->pricing);
}
