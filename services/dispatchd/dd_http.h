/* dd_http: the caregiver app and dispatcher board API (docs/API-dispatchd.md). */
#ifndef DD_HTTP_H
#define DD_HTTP_H
#include <stdint.h>
#include <jansson.h>

#include "cc_http.h"
#include "cc_json.h"
#include "dd_app.h"
#include "dd_deadline.h"

/* The /v1 routes (cc_rt_spec_t.routes); handlers' arg is the dd_app_t. */
extern const cc_http_route_t dd_http_routes[];

/* The API's visit object (docs/API-dispatchd.md, "Visits") as of now_us
 * (for waiting_s). v is borrowed; returns a new reference, the caller's. */
json_t *dd_http_visit_json(const dd_visit_t *v, int64_t now_us);
/* The visit's "deadline" object under rule r at now_us ({stage, due,
 * resolve_at, overdue, resolution, reason}), or JSON null for a final
 * visit. A new reference, the caller's. */
json_t *dd_http_deadline_json(const dd_visit_t *v, const dd_deadline_rule_t *r, int64_t now_us);
/* Read body's "skills", 1 to 16 visit service names, into skill bits
 * (1u << service). 0, or -1 with err set (400, field "skills"); body is
 * borrowed. */
int dd_http_parse_skills(json_t *body, uint32_t *out, cc_err_t *err);

#endif
