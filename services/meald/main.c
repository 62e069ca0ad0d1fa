/* meald: meal points, slots and capacity; schedules meal orders released by
 * orderd to the nearest point with a place before its cut-off; kitchen
 * lists and deliveries (docs/API-meald.md, docs/ARCHITECTURE.md).
 * What meald is, as the runtime (cc_rt.h) runs it: its own config, its
 * statements (md_store), routes (md_http), the log it consumes
 * (md_events), and the working set it loads and keeps (md_app). */
#include "cc_rt.h"
#include "cc_revoke.h"
#include "md_app.h"
#include "md_events.h"
#include "md_http.h"
#include "md_store.h"

static md_app_t s_app;
static int64_t s_revoke_refresh_s;      /* cc_revoke: reload account_gens this often */

static cc_cfg_param_t s_params[] = {
    { "max-distance-m", CC_CFG_INT, &s_app.max_distance_m, "0",
      "farthest meal point for an elder, metres (0: no limit)", .min = 0, .max = 20000000 },
    { "retain-days", CC_CFG_INT, &s_app.retain_days, "14",
      "days of past meals kept in memory (kitchen lists, deliveries)", .min = 1, .max = 3650 },
    /* The elder's address in transit (cc_seal.h, docs/SECURITY.md "Personal data"). */
    { "address-key-file", CC_CFG_STR, &s_app.address_key_file, "",
      "transit key opening the addresses orderd seals for meald: 32 raw bytes, mode 0600, "
      "owned by the daemon user (empty: <curve-keys-dir>/meald-address.key)", .flags = 0 },
    { "address-old-key-file", CC_CFG_STR, &s_app.address_old_key_file, "",
      "the previous transit key during a rotation: still opens addresses stored under it "
      "(empty: none)", .flags = 0 },
    { "deadlines-refresh-s", CC_CFG_INT, &s_app.deadlines_refresh_s, "60",
      "re-read table deadlines (delivery deadlines by slot) at least this often",
      .min = 1, .max = 3600 },
    { "round-plan-ms", CC_CFG_INT, &s_app.round_plan_ms, "500",
      "the solver's time for one slot's courier rounds, milliseconds (on a worker thread)",
      .min = 10, .max = 60000 },
    { "revoke-refresh-s", CC_CFG_INT, &s_revoke_refresh_s, "30",
      "reload the revoked token generations (account_gens) at least this often; "
      "AccountChanged events apply at once", .min = 1, .max = 3600 },
    { NULL, 0, NULL, NULL, NULL, .flags = 0 },
};

static const cc_rt_consumer_t s_consumers[] = {
    { "orderd", "tcp://127.0.0.1:9081", 0, md_events_from_orderd },
    { NULL, NULL, 0, NULL },
};

/* The app's init, then the revocation table (cc_revoke.h) the route
 * guard asks: loaded now from account_gens, reloaded every
 * revoke-refresh-s, set at once by AccountChanged. */
static int s_init(void *app)
{
    if (md_app_init(app) != 0)
        return -1;
    return cc_revoke_sync_start(s_app.rt.base, s_app.rt.reader, &md_stmts[MD_ST_ACCOUNT_GENS],
                                &md_stmts[MD_ST_ACCOUNT_CHANGED], (int)s_revoke_refresh_s);
}

static void s_fini(void *app)
{
    cc_revoke_sync_stop();
    md_app_fini(app);
}

static const cc_rt_spec_t s_spec = {
    .name = "meald",
    .summary = "meald: meal points, slot capacity, meal scheduling and delivery",
    .http_port = 8083,
    .log_endpoint = "tcp://127.0.0.1:9083",
    .log_clients = "orderd,billingd",   /* its consumers (DESIGN.md section 1) */
    .log_ring = 4096,
    .params = s_params,
    .stmts = md_stmts,
    .routes = md_http_routes,
    .consumers = s_consumers,
    .init = s_init,
    .load = md_store_load,
    .start = md_app_start,
    .stop = md_app_stop,
    .fini = s_fini,
};

int main(int argc, char **argv)
{
    return cc_rt_main(&s_app.rt, &s_spec, &s_app, argc, argv);
}
