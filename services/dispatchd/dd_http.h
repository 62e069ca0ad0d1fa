/* dd_http: the caregiver app and dispatcher board API (docs/API-dispatchd.md). */
#ifndef DD_HTTP_H
#define DD_HTTP_H
#include <stdint.h>
#include <jansson.h>

#include "cc_json.h"
#include "dd_app.h"

/* Register every /v1 route on app->http with app as the handlers' context,
 * and dd_http_ready as its /readyz check. 0/-1. */
int dd_http_routes(dd_app_t *app);
/* The /readyz check; arg is the dd_app_t. 1 when the working set is loaded,
 * both connections are up, the log serves and orderd's log is caught up. */
int dd_http_ready(void *arg);

/* The API's visit object (docs/API-dispatchd.md, "Visits") as of now_us
 * (for waiting_s). v is borrowed; returns a new reference, the caller's. */
json_t *dd_http_visit_json(const dd_visit_t *v, int64_t now_us);
/* Read body's "skills", 1 to 16 visit service names, into skill bits
 * (1u << service). 0, or -1 with err set (400, field "skills"); body is
 * borrowed. */
int dd_http_parse_skills(json_t *body, uint32_t *out, cc_err_t *err);

#endif
