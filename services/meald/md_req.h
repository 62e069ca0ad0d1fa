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
 *    slots: [{slot: "lunch"|"dinner", capacity: 1.., cutoff: "HH:MM"}],
 *    hot_limit_min? (1..240, default 40: longest ride kitchen -> door)}
 * Fills out (id, idem_key and req_hash are left empty; provider_id is ""
 * when absent: the caller defaults it to the point id). 0, or -1 with err
 * (field e.g. "slots[1].cutoff"). Unknown fields are ignored. */
int md_req_point(json_t *body, md_point_t *out, cc_err_t *err);

/* POST /v1/meals/{order_id}/delivered body: {courier_id?, at?} (the body may
 * be empty: body NULL). at must not be later than now_us + 5 minutes.
 * *at_us defaults to now_us, courier to "". 0 or -1 with err. */
int md_req_delivered(json_t *body, int64_t now_us, int64_t *at_us,
                     char courier[MD_COURIER_MAX + 1], cc_err_t *err);

/* POST /v1/couriers body:
 *   {meal_point_id, provider_id?, name, vehicle: "foot"|"e_bike"|"car",
 *    speed_kmh? (1..120, default by vehicle), capacity (1..1000 meals a round),
 *    shift_start: "HH:MM", shift_end: "HH:MM" (local, start < end)}
 * Fills out except id, point, idem_key, req_hash; *point_id gets the point
 * (lower case) and provider_id is "" when absent. 0, or -1 with err. */
int md_req_courier(json_t *body, md_courier_t *out, char point_id[MD_ID_LEN], cc_err_t *err);

/* POST /v1/meals/{order_id}/failed body: {reason: "absent"|"refused"}.
 * *reason points at a static name. 0, or -1 with err. */
int md_req_failed(json_t *body, const char **reason, cc_err_t *err);

/* {courier_id, meal_point_id, provider_id, name, vehicle, speed_kmh,
 *  capacity, shift_start, shift_end}; new reference. */
json_t *md_json_courier(const md_courier_t *c);

/* Kitchen list query: date (YYYY-MM-DD) and slot, both required. */
int md_req_kitchen(const char *date, const char *slot, int32_t *day, md_slot_t *out_slot,
                   cc_err_t *err);

/* Stable 16-hex-digit hash of a JSON value (keys sorted), to tell a retried
 * request from a different one under the same Idempotency-Key. */
void md_req_hash(json_t *body, char out[17]);

/* {meal_point_id, name, provider_id, district_id, lat, lon,
 *  slots: [{slot, capacity, cutoff}], hot_limit_min}; new reference. */
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
