/* Unit tests for od_plans' request validation: every refusal names its
 * field (and the rrule's part), meal fields only on meals, defaults. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>
#include <stdio.h>
#include "od_plans.h"

static const char *s_good =
    "{\"elder_id\":\"0B6F1E9A-2C3D-4E5F-8A9B-0C1D2E3F4A5B\",\"service\":\"bath\","
    "\"rrule\":\"FREQ=WEEKLY;BYDAY=TU,FR\",\"window_start\":\"09:00\","
    "\"window_end\":\"11:00\",\"starts_on\":\"2026-12-07\"}";

/* s_good with key set to the JSON value v (NULL: removed). */
static json_t *s_body(const char *key, const char *v)
{
    json_t *b = json_loads(s_good, 0, NULL);
    assert_non_null(b);
    if (key && !v)
        json_object_del(b, key);
    else if (key)
        json_object_set_new(b, key, json_loads(v, JSON_DECODE_ANY, NULL));
    return b;
}

static void s_refused(const char *key, const char *v, int status, const char *field)
{
    json_t *b = s_body(key, v);
    od_plan_req_t r;
    cc_err_t err;
    const char *part = NULL;
    if (od_plan_req_from_json(b, &r, &part, &err) == 0)
        fail_msg("%s=%s accepted", key, v ? v : "(absent)");
    if (err.status != status || strcmp(err.field, field) != 0)
        fail_msg("%s=%s: %d %s, want %d %s (%s)", key, v ? v : "(absent)", err.status,
                 err.field, status, field, err.message);
    json_decref(b);
}

static void test_good(void **state)
{
    (void)state;
    json_t *b = s_body(NULL, NULL);
    od_plan_req_t r;
    cc_err_t err;
    const char *part = "x";
    assert_int_equal(od_plan_req_from_json(b, &r, &part, &err), 0);
    assert_null(part);
    assert_string_equal(r.elder_id, "0b6f1e9a-2c3d-4e5f-8a9b-0c1d2e3f4a5b");
    assert_string_equal(r.card_id, "");
    assert_int_equal(r.service, CC__SERVICE__BATH);
    assert_int_equal(r.window_start_min, 9 * 60);
    assert_int_equal(r.window_end_min, 11 * 60);
    assert_int_equal(r.has_ends_on, 0);
    assert_int_equal(r.meal_mode, -1);
    assert_int_equal(r.rule.freq, OD_FREQ_WEEKLY);
    assert_int_equal(r.rule.nbyday, 2);
    json_decref(b);
    /* A meal gets delivery by default and keeps its point and diet. */
    b = s_body("service", "\"meal\"");
    json_object_set_new(b, "meal_point_id", json_string("1b6f1e9a-2c3d-4e5f-8a9b-0c1d2e3f4a5b"));
    json_object_set_new(b, "diet", json_string("soft"));
    assert_int_equal(od_plan_req_from_json(b, &r, NULL, &err), 0);
    assert_int_equal(r.meal_mode, CC__MEAL_MODE__MEAL_DELIVERY);
    assert_int_equal(r.has_diet, 1);
    assert_string_equal(r.diet, "soft");
    json_decref(b);
}

static void test_refusals(void **state)
{
    (void)state;
    s_refused("elder_id", NULL, 400, "elder_id");
    s_refused("elder_id", "\"x\"", 400, "elder_id");
    s_refused("card_id", "7", 400, "card_id");
    s_refused("service", "\"nap\"", 400, "service");
    s_refused("service", "\"emergency\"", 422, "service");
    s_refused("rrule", NULL, 400, "rrule");
    s_refused("rrule", "\"FREQ=YEARLY\"", 422, "rrule");
    s_refused("window_start", "\"9:00\"", 400, "window_start");
    s_refused("window_end", "\"09:00\"", 422, "window_end");
    s_refused("window_end", "\"08:59\"", 422, "window_end");
    s_refused("starts_on", "\"2026-02-29\"", 400, "starts_on");
    s_refused("starts_on", "\"1999-12-31\"", 422, "starts_on");
    s_refused("ends_on", "\"2026-12-06\"", 422, "ends_on");
    s_refused("meal_point_id", "\"1b6f1e9a-2c3d-4e5f-8a9b-0c1d2e3f4a5b\"", 400, "meal_point_id");
    s_refused("diet", "\"soft\"", 400, "diet");
    s_refused("meal_mode", "\"eat_in\"", 400, "meal_mode");
    s_refused("notes", "5", 400, "notes");
    s_refused("extra", "1", 400, "extra");
    /* The part of the rule refused is named. */
    json_t *b = s_body("rrule", "\"FREQ=DAILY;BYSETPOS=1\"");
    od_plan_req_t r;
    cc_err_t err;
    const char *part = NULL;
    assert_int_equal(od_plan_req_from_json(b, &r, &part, &err), -1);
    assert_string_equal(part, "BYSETPOS");
    json_decref(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good),
        cmocka_unit_test(test_refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
