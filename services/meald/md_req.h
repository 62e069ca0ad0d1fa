/* md_req: meald's request bodies and response shapes, pure (jansson and
 * cc_json only, no I/O), so every validation rule is unit-tested.
 * Every parse fills a cc_err_t naming the offending field on failure. */
#ifndef MD_REQ_H
#define MD_REQ_H
#include <stdint.h>
#include <jansson.h>
#include "cc_json.h"
#include "md_domain.h"

/* Largest capacity of one slot (cc_limits.h). */
#define MD_CAPACITY_MAX CC_CAPACITY_MAX

/* POST /v1/meal-points body:
 *   {name, provider_id?, district_id, lat, lon,
 *    slots: [{slot: "lunch"|"dinner", capacity: 1.., cutoff: "HH:MM"}]}
 * Fills out (id, idem_key and req_hash are left empty; provider_id is ""
 * when absent: the caller defaults it to the point id). 0, or -1 with err
 * (field e.g. "slots[1].cutoff"). Unknown fields are ignored. */
int md_req_point(json_t *body, md_point_t *out, cc_err_t *err);

/* POST /v1/meals/{order_id}/delivered body: {courier_id?, at?} (the body may
 * be empty: body NULL). at must not be later than now_us + 5 minutes.
 * *at_us defaults to now_us, courier to "". 0 or -1 with err. */
int md_req_delivered(json_t *body, int64_t now_us, int64_t *at_us,
                     char courier[MD_COURIER_MAX + 1], cc_err_t *err);

/* Kitchen list query: date (YYYY-MM-DD) and slot, both required. */
int md_req_kitchen(const char *date, const char *slot, int32_t *day, md_slot_t *out_slot,
                   cc_err_t *err);

/* Stable 16-hex-digit hash of a JSON value (keys sorted), to tell a retried
 * request from a different one under the same Idempotency-Key. */
void md_req_hash(json_t *body, char out[17]);

/* {meal_point_id, name, provider_id, district_id, lat, lon,
 *  slots: [{slot, capacity, cutoff}]}; new reference. */
json_t *md_json_point(const md_point_t *p);
/* The kitchen list of one (point, day, slot) at now_us: see
 * docs/API-meald.md ("closed" once the cut-off has passed: the list is final
 * except for cancellations). */
json_t *md_json_kitchen(const md_point_t *p, int32_t day, md_slot_t slot,
                        md_meal_t *const *meals, size_t n, int64_t now_us);
/* A scheduled meal's "deadline" object under r at now_us ({due,
 * resolve_at, overdue, resolution, reason}), JSON null for other meals. */
json_t *md_json_deadline(const md_meal_t *m, const md_deadline_rule_t *r, int64_t now_us);
/* A meal as GET /v1/meals/{order_id} shows it (no diet, no location). */
json_t *md_json_meal(const md_meal_t *m);

#endif
