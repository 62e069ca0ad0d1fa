/* cc_limits: the SQL side of the limits. See cc_limits.h. */
#include "cc_limits.h"

/* One row per domain of sql/common/011_limits.sql. The columns are those
 * that take the value from a request or an event; cc_limits_test checks
 * that each has the domain as its type and no other one-column CHECK. */
static const cc_limit_t s_limits[] = {
    { "cc_provider_id", CC_LIMIT_LEN, 1, CC_PROVIDER_ID_MAX,
      "dispatchd.caregivers.provider_id meald.meal_points.provider_id "
      "dispatchd.provider_districts.provider_id" },
    { "cc_name", CC_LIMIT_LEN, 1, CC_NAME_MAX,
      "dispatchd.caregivers.name meald.meal_points.name" },
    { "cc_text", CC_LIMIT_LEN, 0, CC_TEXT_MAX,
      "orderd.elders.diet orderd.orders.reason dispatchd.visits.fail_reason "
      "meald.meals.diet billingd.holds.reason dispatchd.visit_assignments.reason" },
    { "cc_notes", CC_LIMIT_LEN, 0, CC_NOTES_MAX, "orderd.orders.notes dispatchd.visits.notes" },
    { "cc_reference", CC_LIMIT_LEN, 0, CC_REFERENCE_MAX, "billingd.topups.reference" },
    { "cc_idem_key", CC_LIMIT_LEN, 1, CC_IDEM_KEY_MAX,
      "orderd.orders.idem_key dispatchd.caregivers.idempotency_key "
      "meald.meal_points.idempotency_key billingd.topups.idempotency_key" },
    { "cc_district", CC_LIMIT_INT, CC_DISTRICT_MIN, CC_DISTRICT_MAX,
      "orderd.elders.district_id orderd.cards.district_id orderd.orders.district_id "
      "dispatchd.caregivers.district_id dispatchd.visits.district_id "
      "meald.meal_points.district_id meald.meals.district_id "
      "billingd.cards.district_id billingd.holds.district_id "
      "dispatchd.caregiver_rota.district_id dispatchd.caregiver_certificates.district_id "
      "dispatchd.visit_assignments.district_id" },
    { "cc_lat", CC_LIMIT_REAL, -CC_LAT_MAX, CC_LAT_MAX,
      "orderd.elders.lat dispatchd.caregivers.lat dispatchd.visits.lat "
      "dispatchd.visits.checkin_lat dispatchd.visits.checkout_lat "
      "meald.meal_points.lat meald.meals.lat" },
    { "cc_lon", CC_LIMIT_REAL, -CC_LON_MAX, CC_LON_MAX,
      "orderd.elders.lon dispatchd.caregivers.lon dispatchd.visits.lon "
      "dispatchd.visits.checkin_lon dispatchd.visits.checkout_lon "
      "meald.meal_points.lon meald.meals.lon" },
    { "cc_fen", CC_LIMIT_INT, 0, CC_FEN_PRICE_MAX,
      "orderd.orders.price_fen orderd.orders.held_fen orderd.orders.charged_fen "
      "billingd.prices.price_fen billingd.holds.price_fen billingd.holds.subsidy_fen "
      "billingd.holds.held_fen billingd.holds.arrears_fen" },
    { "cc_time", CC_LIMIT_TIME, CC_TIME_MIN_US, CC_TIME_MAX_US,
      "orderd.orders.window_start orderd.orders.window_end "
      "dispatchd.visits.window_start dispatchd.visits.window_end "
      "meald.meals.window_start meald.meals.window_end "
      "dispatchd.caregiver_certificates.valid_from dispatchd.caregiver_certificates.valid_until" },
};

const cc_limit_t *cc_limits(size_t *n)
{
    *n = sizeof s_limits / sizeof s_limits[0];
    return s_limits;
}
