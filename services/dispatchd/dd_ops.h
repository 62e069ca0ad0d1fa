/* dd_ops: a dispatcher's operations over HTTP (docs/API-dispatchd.md,
 * "Dispatcher operations"): rota, certificates, providers' zones, a visit
 * failed on site, manual assignment and release. The rules they feed are
 * dd_rules.h; as everywhere in dispatchd, each decision is taken against
 * the working set, written by one SQL call and answered after COMMIT. */
#ifndef DD_OPS_H
#define DD_OPS_H
#include <jansson.h>

#include "cc_http.h"
#include "dd_app.h"

/* The load's last step (after the visits and deadlines): zones, rota,
 * certificates and pins into app->world, caregivers linked to their zones,
 * then cc_rt_loaded. A failed load exits 1 (the supervisor retries). */
void dd_ops_load(dd_app_t *app);
/* Parse a DD_ST_LOAD_OPS result into world (caregivers and visits loaded
 * first) and link every caregiver to its zone. Rows or -1. */
int dd_ops_load_rows(dd_world_t *world, PGresult *res);

/* The caregiver's certificates as a JSON array (for GET caregiver). */
json_t *dd_ops_certificates_json(const dd_caregiver_t *c);

/* Route handlers, arg a dd_app_t (dd_http_routes). */
void dd_ops_put_rota(cc_http_req_t *req, void *arg);
void dd_ops_get_rota(cc_http_req_t *req, void *arg);
void dd_ops_post_certificate(cc_http_req_t *req, void *arg);
void dd_ops_put_districts(cc_http_req_t *req, void *arg);
void dd_ops_get_districts(cc_http_req_t *req, void *arg);
void dd_ops_fail(cc_http_req_t *req, void *arg);
void dd_ops_assign(cc_http_req_t *req, void *arg);
void dd_ops_release(cc_http_req_t *req, void *arg);

#endif
