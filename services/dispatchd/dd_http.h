/* dd_http: the caregiver app and dispatcher board API (docs/API-dispatchd.md). */
#ifndef DD_HTTP_H
#define DD_HTTP_H
#include <stdint.h>
#include <jansson.h>

#include "cc_http.h"
#include "cc_json.h"
#include "dd_app.h"
#include "dd_deadline.h"
#include "dd_visit.h"

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

/* A POST /v1/caregivers body, as read (texts borrowed from the body). */
typedef struct {
    const char *name, *provider_id;
    int64_t district_id, level;
    double lat, lon;
    int first_aid, shift_start_min, shift_end_min;
    uint32_t skills;
} dd_cg_req_t;
/* Read and check a POST /v1/caregivers body (tests/fuzz/dispatchd_json.c
 * calls the same). 0, or -1 with err set (400 naming the field). */
int dd_http_read_caregiver(json_t *body, dd_cg_req_t *out, cc_err_t *err);
/* A new caregiver of r (no id, no idempotency key), or NULL when out of
 * memory. */
dd_caregiver_t *dd_http_caregiver_new(const dd_cg_req_t *r);
/* Read a visit step's body: caregiver_id (optional; lower-cased into cg,
 * then replaced by who, the token's caregiver, when there is one: a body
 * naming another is 403), decline's reason, check-in's and check-out's
 * lat, lon and at (or its alias time) into *out; out->caregiver_id = cg.
 * 0, or -1 with err set (400 naming the field, or that 403). */
int dd_http_read_step(json_t *body, dd_step_t step, const char *who, char cg[DD_ID_LEN],
                      dd_step_req_t *out, cc_err_t *err);

#endif
