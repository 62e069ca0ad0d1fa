/* dispatchd: caregivers, visits and the dispatch queue (DESIGN.md §2).
 * What dispatchd is, as the runtime (cc_rt.h) runs it: its own config, its
 * statements (dd_store), routes (dd_http), orderd's log it consumes
 * (dd_events), and the working set it loads (dd_store) and keeps (dd_app). */
#include "cc_rt.h"
#include "cc_revoke.h"
#include "cc_time.h"
#include "dd_app.h"
#include "dd_model.h"
#include "dd_events.h"
#include "dd_http.h"
#include "dd_store.h"

static dd_app_t s_app;
static int64_t s_offer_ahead_h;         /* dd_app_t.offer_ahead_s, in hours */
static int64_t s_revoke_refresh_s;      /* cc_revoke: reload account_gens this often */

static cc_cfg_param_t s_params[] = {
    { "accept-timeout-s", CC_CFG_INT, &s_app.accept_timeout_s, "0",
      "seconds a caregiver has to accept an offer before it moves on, for every service "
      "(0: each service's offer_s in table deadlines)", .min = 0, .max = CC_S_PER_DAY },
    { "assign-deadline-s", CC_CFG_INT, &s_app.assign_deadline_s, "0",
      "seconds after release with nobody accepted before a visit is overdue, for every "
      "service (0: each service's assign_s in table deadlines)",
      .min = 0, .max = 7 * CC_S_PER_DAY },
    { "deadlines-refresh-s", CC_CFG_INT, &s_app.deadlines_refresh_s, "60",
      "re-read table deadlines at least this often", .min = 1, .max = 3600 },
    { "retry-interval-s", CC_CFG_INT, &s_app.retry_interval_s, "10",
      "retry the waiting queue at least this often (also at once on new capacity)",
      .min = 1, .max = 3600 },
    { "max-travel-s", CC_CFG_INT, &s_app.max_travel_s, "3600",
      "never offer a visit more than this many seconds of travel away (0: no limit)",
      .min = 0, .max = CC_S_PER_DAY },
    { "reopt-interval-s", CC_CFG_INT, &s_app.reopt_interval_s, "30",
      "re-optimise every district's day in the background once per this many seconds, "
      "and soon after a decline or pre-emption (0: never)", .min = 0, .max = 3600 },
    { "reopt-budget-ms", CC_CFG_INT, &s_app.reopt_budget_ms, "300",
      "solver time per district re-optimisation (on a worker thread)",
      .min = 10, .max = 10000 },
    { "offer-ahead-h", CC_CFG_INT, &s_offer_ahead_h, "3",
      "offer a routine visit this many hours before its window opens; until then it is "
      "planned (a caregiver and time in dispatchd's plan, re-optimised freely, no offer) "
      "(0: offer at once)", .min = 0, .max = 14 * 24 },
    { "keep-finished-s", CC_CFG_INT, &s_app.keep_finished_s, "86400",
      "keep finished visits in memory (GET /v1/visits/{visit_id}) this long",
      .min = 0, .max = 30 * CC_S_PER_DAY },
    /* The duty generator's view of capacity (dd_capacity.h, docs/DUTIES.md). */
    { "capacity-report-s", CC_CFG_INT, &s_app.capacity_report_s, "60",
      "report a district-day's capacity (CapacityReported, to orderd) at most this often, "
      "when it changed (0: never)", .min = 0, .max = CC_S_PER_DAY },
    { "capacity-threshold-min", CC_CFG_INT, &s_app.capacity_threshold_min, "30",
      "report a district-day again only when its shift, planned or duty minutes moved "
      "this much (or its caregivers changed)", .min = 1, .max = 1440 },
    { "capacity-days", CC_CFG_INT, &s_app.capacity_days, "14",
      "days reported, from today (at least orderd's --duty-horizon-days + 1)",
      .min = 1, .max = 62 },
    /* The elder's address in transit (cc_seal.h, docs/SECURITY.md "Personal data"). */
    { "address-key-file", CC_CFG_STR, &s_app.address_key_file, "",
      "transit key opening the addresses orderd seals for dispatchd: 32 raw bytes, mode "
      "0600, owned by the daemon user (empty: <curve-keys-dir>/dispatchd-address.key)",
      .flags = 0 },
    { "address-old-key-file", CC_CFG_STR, &s_app.address_old_key_file, "",
      "the previous transit key during a rotation: still opens addresses stored under it "
      "(empty: none)", .flags = 0 },
    { "revoke-refresh-s", CC_CFG_INT, &s_revoke_refresh_s, "30",
      "reload the revoked token generations (account_gens) at least this often; "
      "AccountChanged events apply at once", .min = 1, .max = 3600 },
    { NULL, 0, NULL, NULL, NULL, .flags = 0 },
};

static const cc_rt_consumer_t s_consumers[] = {
    { "orderd", "tcp://127.0.0.1:9081", 0, dd_events_from_orderd },
    { NULL, NULL, 0, NULL },
};

/* The app's init, then the revocation table (cc_revoke.h) the route
 * guard asks: loaded now from account_gens, reloaded every
 * revoke-refresh-s, set at once by AccountChanged. */
static int s_init(void *app)
{
    s_app.offer_ahead_s = s_offer_ahead_h * 3600;
    if (dd_app_init(app) != 0)
        return -1;
    return cc_revoke_sync_start(s_app.rt.base, s_app.rt.reader, &dd_stmts[DD_ST_ACCOUNT_GENS],
                                &dd_stmts[DD_ST_ACCOUNT_CHANGED], (int)s_revoke_refresh_s);
}

static void s_fini(void *app)
{
    cc_revoke_sync_stop();
    dd_app_fini(app);
    dd_model_release();   /* valgrind's exit check: nothing left allocated */
}

static const cc_rt_spec_t s_spec = {
    .name = "dispatchd",
    .summary = "dispatchd: caregivers, visits and the dispatch queue",
    .http_port = 8082,
    .log_endpoint = "tcp://127.0.0.1:9082",
    .log_clients = "orderd,billingd",   /* its consumers (DESIGN.md section 1) */
    .log_ring = 4096,
    .params = s_params,
    .stmts = dd_stmts,
    .routes = dd_http_routes,
    .consumers = s_consumers,
    .init = s_init,
    .load = dd_store_load,
    .start = dd_app_start,
    .stop = dd_app_stop,
    .fini = s_fini,
    .reset = dd_app_reset,
};

int main(int argc, char **argv)
{
    return cc_rt_main(&s_app.rt, &s_spec, &s_app, argc, argv);
}
