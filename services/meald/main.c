/* meald: meal points, slots and capacity; schedules meal orders released by
 * orderd to the nearest point with a place before its cut-off; kitchen
 * lists and deliveries (docs/API-meald.md, docs/ARCHITECTURE.md).
 * What meald is, as the runtime (cc_rt.h) runs it: its own config, its
 * statements (md_store), routes (md_http), the log it consumes
 * (md_events), and the working set it loads and keeps (md_app). */
#include "cc_rt.h"
#include "md_app.h"
#include "md_events.h"
#include "md_http.h"
#include "md_store.h"

static md_app_t s_app;

static cc_cfg_param_t s_params[] = {
    { "max-distance-m", CC_CFG_INT, &s_app.max_distance_m, "0",
      "farthest meal point for an elder, metres (0: no limit)", .min = 0, .max = 20000000 },
    { "retain-days", CC_CFG_INT, &s_app.retain_days, "14",
      "days of past meals kept in memory (kitchen lists, deliveries)", .min = 1, .max = 3650 },
    { NULL, 0, NULL, NULL, NULL, .flags = 0 },
};

static const cc_rt_consumer_t s_consumers[] = {
    { "orderd", "tcp://127.0.0.1:9081", 0, md_events_from_orderd },
    { NULL, NULL, 0, NULL },
};

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
    .init = md_app_init,
    .load = md_store_load,
    .start = md_app_start,
    .stop = md_app_stop,
    .fini = md_app_fini,
};

int main(int argc, char **argv)
{
    return cc_rt_main(&s_app.rt, &s_spec, &s_app, argc, argv);
}
