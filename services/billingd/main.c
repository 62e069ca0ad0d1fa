/* billingd: price list, subsidy rules, double-entry ledger and holds
 * (docs/ARCHITECTURE.md). What billingd is, as the runtime (cc_rt.h) runs
 * it: its own config, its statements (bd_store), routes (bd_http), the logs
 * it consumes (bd_events) and the working set it loads and keeps (bd_app). */
#include "cc_rt.h"
#include "cc_revoke.h"
#include "cc_time.h"
#include "bd_app.h"
#include "bd_events.h"
#include "bd_http.h"
#include "bd_store.h"

static bd_app_t s_app;
static int64_t s_revoke_refresh_s;      /* cc_revoke: reload account_gens this often */

static cc_cfg_param_t s_params[] = {
    { "max-topup-fen", CC_CFG_INT, &s_app.max_topup_fen, "10000000",
      "largest single top-up in fen (default 100,000 CNY)",
      .min = 1, .max = CC_FEN_TOPUP_MAX },
    { "statement-limit", CC_CFG_INT, &s_app.statement_limit, "100",
      "default number of statement lines per card", .min = 1, .max = 1000 },
    { "recon-interval-s", CC_CFG_INT, &s_app.recon_interval_s, "60",
      "seconds between reconciliation runs of captures against deliveries (0: off)",
      .min = 0, .max = CC_S_PER_DAY },
    { "check-timeout", CC_CFG_INT, &s_app.check_timeout_ms, "60000",
      "ms GET /v1/ledger/check may scan the postings (its own connection)",
      .min = 1000, .max = 3600000 },
    { "revoke-refresh-s", CC_CFG_INT, &s_revoke_refresh_s, "30",
      "reload the revoked token generations (account_gens) at least this often; "
      "AccountChanged events apply at once", .min = 1, .max = 3600 },
    { NULL, 0, NULL, NULL, NULL, .flags = 0 },
};

/* orderd's log moves the money; dispatchd's and meald's only bring delivery
 * evidence for reconciliation, so billingd may run without them. */
static const cc_rt_consumer_t s_consumers[] = {
    { "orderd", "tcp://127.0.0.1:9081", 0, bd_events_from_orderd },
    { "dispatchd", "tcp://127.0.0.1:9082", 1, bd_events_from_dispatchd },
    { "meald", "tcp://127.0.0.1:9083", 1, bd_events_from_meald },
    { NULL, NULL, 0, NULL },
};

/* The app's init, then the revocation table (cc_revoke.h) the route
 * guard asks: loaded now from account_gens, reloaded every
 * revoke-refresh-s, set at once by AccountChanged. */
static int s_init(void *app)
{
    if (bd_app_init(app) != 0)
        return -1;
    return cc_revoke_sync_start(s_app.rt.base, s_app.rt.reader, &bd_stmts[BD_ST_ACCOUNT_GENS],
                                &bd_stmts[BD_ST_ACCOUNT_CHANGED], (int)s_revoke_refresh_s);
}

static void s_fini(void *app)
{
    cc_revoke_sync_stop();
    bd_app_fini(app);
}

static const cc_rt_spec_t s_spec = {
    .name = "billingd",
    .summary = "billingd: price list, subsidies, ledger and holds for love cards",
    .http_port = 8084,
    .log_endpoint = "tcp://127.0.0.1:9084",
    .log_clients = "orderd",   /* its consumers (DESIGN.md section 1) */
    .log_ring = 4096,
    .params = s_params,
    .stmts = bd_stmts,
    .routes = bd_http_routes,
    .consumers = s_consumers,
    .init = s_init,
    .load = bd_store_load,
    .start = bd_app_start,
    .stop = bd_app_stop,
    .fini = s_fini,
    .reset = bd_app_reset,
};

int main(int argc, char **argv)
{
    return cc_rt_main(&s_app.rt, &s_spec, &s_app, argc, argv);
}
