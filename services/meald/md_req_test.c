/* md_req_test: request validation (every bad-input rule names its field)
 * and response shapes. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "md_req.h"

#define GOOD "{\"name\":\"Canteen 1\",\"provider_id\":\"prov-1\",\"district_id\":3," \
             "\"lat\":30.25,\"lon\":120.16,\"slots\":[{\"slot\":\"lunch\",\"capacity\":40," \
             "\"cutoff\":\"10:00\"},{\"slot\":\"dinner\",\"capacity\":20,\"cutoff\":\"15:30\"}]}"

static json_t *s_parse(const char *text)
{
    json_error_t je;
    json_t *j = json_loads(text, 0, &je);
    assert_non_null(j);
    return j;
}

/* Parse text as a point body and expect failure with (error, field). */
static void s_bad_point(const char *text, const char *error, const char *field)
{
    json_t *j = s_parse(text);
    md_point_t p;
    cc_err_t err;
    memset(&err, 0, sizeof err);
    int rc = md_req_point(j, &p, &err);
    if (rc != -1 || strcmp(err.error, error) != 0 || strcmp(err.field, field) != 0)
        fail_msg("body %s: rc %d error %s field %s (want %s %s)", text, rc, err.error,
                 err.field, error, field);
    assert_int_equal(err.status, 400);
    assert_true(err.message[0] != '\0');
    json_decref(j);
}

static void test_point_good(void **state)
{
    (void)state;
    json_t *j = s_parse(GOOD);
    md_point_t p;
    cc_err_t err;
    assert_int_equal(md_req_point(j, &p, &err), 0);
    assert_string_equal(p.name, "Canteen 1");
    assert_string_equal(p.provider_id, "prov-1");
    assert_int_equal(p.district_id, 3);
    assert_true(p.lat == 30.25 && p.lon == 120.16);
    assert_true(p.slots[MD_LUNCH].offered);
    assert_int_equal(p.slots[MD_LUNCH].capacity, 40);
    assert_int_equal(p.slots[MD_LUNCH].cutoff_min, 600);
    assert_true(p.slots[MD_DINNER].offered);
    assert_int_equal(p.slots[MD_DINNER].cutoff_min, 15 * 60 + 30);
    assert_string_equal(p.id, "");
    json_decref(j);

    /* provider_id is optional; a lunch-only point. */
    j = s_parse("{\"name\":\"x\",\"district_id\":1,\"lat\":0,\"lon\":0,"
                "\"slots\":[{\"slot\":\"lunch\",\"capacity\":1,\"cutoff\":\"00:00\"}],"
                "\"extra\":true}");
    assert_int_equal(md_req_point(j, &p, &err), 0);
    assert_string_equal(p.provider_id, "");
    assert_false(p.slots[MD_DINNER].offered);
    json_decref(j);
}

static void test_point_bad(void **state)
{
    (void)state;
    s_bad_point("[1,2]", "not_an_object", "");
    /* District ids are 1..INT32_MAX (cc_limits.h), as in every daemon. */
    s_bad_point("{\"name\":\"a\",\"district_id\":0,\"lat\":1,\"lon\":1}", "invalid_value",
                "district_id");
    s_bad_point("{\"district_id\":1,\"lat\":1,\"lon\":1,\"slots\":[]}", "missing_field", "name");
    s_bad_point("{\"name\":7,\"district_id\":1}", "wrong_type", "name");
    s_bad_point("{\"name\":\"\",\"district_id\":1,\"lat\":1,\"lon\":1}", "invalid_value", "name");
    s_bad_point("{\"name\":\"a\",\"provider_id\":5,\"district_id\":1}", "wrong_type",
                "provider_id");
    s_bad_point("{\"name\":\"a\",\"lat\":1,\"lon\":1}", "missing_field", "district_id");
    s_bad_point("{\"name\":\"a\",\"district_id\":\"3\"}", "wrong_type", "district_id");
    s_bad_point("{\"name\":\"a\",\"district_id\":-1}", "invalid_value", "district_id");
    s_bad_point("{\"name\":\"a\",\"district_id\":1,\"lon\":1}", "missing_field", "lat");
    s_bad_point("{\"name\":\"a\",\"district_id\":1,\"lat\":\"30\",\"lon\":1}", "wrong_type",
                "lat");
    s_bad_point("{\"name\":\"a\",\"district_id\":1,\"lat\":91,\"lon\":1}", "invalid_value",
                "lat");
    s_bad_point("{\"name\":\"a\",\"district_id\":1,\"lat\":1,\"lon\":-181}", "invalid_value",
                "lon");
    s_bad_point("{\"name\":\"a\",\"district_id\":1,\"lat\":1,\"lon\":1}", "missing_field",
                "slots");
    s_bad_point("{\"name\":\"a\",\"district_id\":1,\"lat\":1,\"lon\":1,\"slots\":{}}",
                "wrong_type", "slots");
    s_bad_point("{\"name\":\"a\",\"district_id\":1,\"lat\":1,\"lon\":1,\"slots\":[]}",
                "invalid_value", "slots");
    s_bad_point("{\"name\":\"a\",\"district_id\":1,\"lat\":1,\"lon\":1,\"slots\":[3]}",
                "wrong_type", "slots[0]");
    s_bad_point("{\"name\":\"a\",\"district_id\":1,\"lat\":1,\"lon\":1,\"slots\":"
                "[{\"slot\":\"breakfast\",\"capacity\":1,\"cutoff\":\"10:00\"}]}",
                "invalid_value", "slots[0].slot");
    s_bad_point("{\"name\":\"a\",\"district_id\":1,\"lat\":1,\"lon\":1,\"slots\":"
                "[{\"capacity\":1,\"cutoff\":\"10:00\"}]}", "missing_field", "slots[0].slot");
    s_bad_point("{\"name\":\"a\",\"district_id\":1,\"lat\":1,\"lon\":1,\"slots\":"
                "[{\"slot\":\"lunch\",\"capacity\":1,\"cutoff\":\"10:00\"},"
                "{\"slot\":\"dinner\",\"capacity\":0,\"cutoff\":\"15:00\"}]}",
                "invalid_value", "slots[1].capacity");
    s_bad_point("{\"name\":\"a\",\"district_id\":1,\"lat\":1,\"lon\":1,\"slots\":"
                "[{\"slot\":\"lunch\",\"capacity\":-5,\"cutoff\":\"10:00\"}]}",
                "invalid_value", "slots[0].capacity");
    s_bad_point("{\"name\":\"a\",\"district_id\":1,\"lat\":1,\"lon\":1,\"slots\":"
                "[{\"slot\":\"lunch\",\"capacity\":\"5\",\"cutoff\":\"10:00\"}]}",
                "wrong_type", "slots[0].capacity");
    s_bad_point("{\"name\":\"a\",\"district_id\":1,\"lat\":1,\"lon\":1,\"slots\":"
                "[{\"slot\":\"lunch\",\"capacity\":2.5,\"cutoff\":\"10:00\"}]}",
                "wrong_type", "slots[0].capacity");
    s_bad_point("{\"name\":\"a\",\"district_id\":1,\"lat\":1,\"lon\":1,\"slots\":"
                "[{\"slot\":\"lunch\",\"capacity\":5,\"cutoff\":\"25:00\"}]}",
                "invalid_value", "slots[0].cutoff");
    s_bad_point("{\"name\":\"a\",\"district_id\":1,\"lat\":1,\"lon\":1,\"slots\":"
                "[{\"slot\":\"lunch\",\"capacity\":5,\"cutoff\":\"10h\"}]}",
                "invalid_value", "slots[0].cutoff");
    s_bad_point("{\"name\":\"a\",\"district_id\":1,\"lat\":1,\"lon\":1,\"slots\":"
                "[{\"slot\":\"lunch\",\"capacity\":5,\"cutoff\":600}]}",
                "wrong_type", "slots[0].cutoff");
    s_bad_point("{\"name\":\"a\",\"district_id\":1,\"lat\":1,\"lon\":1,\"slots\":"
                "[{\"slot\":\"lunch\",\"capacity\":5}]}", "missing_field", "slots[0].cutoff");
    s_bad_point("{\"name\":\"a\",\"district_id\":1,\"lat\":1,\"lon\":1,\"slots\":"
                "[{\"slot\":\"lunch\",\"capacity\":5,\"cutoff\":\"10:00\"},"
                "{\"slot\":\"lunch\",\"capacity\":5,\"cutoff\":\"10:00\"}]}",
                "invalid_value", "slots[1].slot");
    s_bad_point("{\"name\":\"a\",\"district_id\":1,\"lat\":1,\"lon\":1,\"slots\":"
                "[{\"slot\":\"lunch\",\"capacity\":5,\"cutoff\":\"10:00\"},"
                "{\"slot\":\"dinner\",\"capacity\":5,\"cutoff\":\"15:00\"},"
                "{\"slot\":\"dinner\",\"capacity\":5,\"cutoff\":\"15:00\"}]}",
                "invalid_value", "slots");
}

static void test_delivered(void **state)
{
    (void)state;
    int64_t now = 1795654800LL * 1000000LL;   /* 2026-11-26T09:00:00+08:00 */
    int64_t at;
    char courier[MD_COURIER_MAX + 1];
    cc_err_t err;
    assert_int_equal(md_req_delivered(NULL, now, &at, courier, &err), 0);
    assert_true(at == now);
    assert_string_equal(courier, "");
    json_t *j = s_parse("{\"courier_id\":\"c-7\",\"at\":\"2026-11-26T08:30:00+08:00\"}");
    assert_int_equal(md_req_delivered(j, now, &at, courier, &err), 0);
    assert_true(at == now - 30LL * 60 * 1000000);
    assert_string_equal(courier, "c-7");
    json_decref(j);
    j = s_parse("{\"at\":\"yesterday\"}");
    assert_int_equal(md_req_delivered(j, now, &at, courier, &err), -1);
    assert_string_equal(err.field, "at");
    json_decref(j);
    j = s_parse("{\"at\":\"2026-11-26T10:00:00+08:00\"}");
    assert_int_equal(md_req_delivered(j, now, &at, courier, &err), -1);
    assert_string_equal(err.error, "invalid_value");
    assert_string_equal(err.field, "at");
    json_decref(j);
    j = s_parse("{\"courier_id\":12}");
    assert_int_equal(md_req_delivered(j, now, &at, courier, &err), -1);
    assert_string_equal(err.error, "wrong_type");
    assert_string_equal(err.field, "courier_id");
    json_decref(j);
    j = s_parse("[]");
    assert_int_equal(md_req_delivered(j, now, &at, courier, &err), -1);
    assert_string_equal(err.error, "not_an_object");
    json_decref(j);
}

static void test_kitchen_query(void **state)
{
    (void)state;
    int32_t day;
    md_slot_t slot;
    cc_err_t err;
    assert_int_equal(md_req_kitchen("2026-11-26", "dinner", &day, &slot, &err), 0);
    assert_int_equal(day, 20783);
    assert_int_equal(slot, MD_DINNER);
    assert_int_equal(md_req_kitchen(NULL, "lunch", &day, &slot, &err), -1);
    assert_string_equal(err.error, "missing_field");
    assert_string_equal(err.field, "date");
    assert_int_equal(md_req_kitchen("2026-02-30", "lunch", &day, &slot, &err), -1);
    assert_string_equal(err.error, "invalid_value");
    assert_string_equal(err.field, "date");
    assert_int_equal(md_req_kitchen("2026-11-26", "", &day, &slot, &err), -1);
    assert_string_equal(err.field, "slot");
    assert_int_equal(md_req_kitchen("2026-11-26", "brunch", &day, &slot, &err), -1);
    assert_string_equal(err.error, "invalid_value");
    assert_string_equal(err.field, "slot");
}

static void test_hash(void **state)
{
    (void)state;
    char a[17], b[17], c[17];
    json_t *j1 = s_parse("{\"a\":1,\"b\":[1,2]}");
    json_t *j2 = s_parse("{ \"b\": [1, 2], \"a\": 1 }");
    json_t *j3 = s_parse("{\"a\":1,\"b\":[2,1]}");
    md_req_hash(j1, a);
    md_req_hash(j2, b);
    md_req_hash(j3, c);
    assert_int_equal(strlen(a), 16);
    assert_string_equal(a, b);
    assert_string_not_equal(a, c);
    json_decref(j1);
    json_decref(j2);
    json_decref(j3);
}

static void test_json_shapes(void **state)
{
    (void)state;
    json_t *j = s_parse(GOOD);
    md_point_t p;
    cc_err_t err;
    assert_int_equal(md_req_point(j, &p, &err), 0);
    json_decref(j);
    snprintf(p.id, sizeof p.id, "aaaaaaaa-0000-4000-8000-000000000001");
    json_t *o = md_json_point(&p);
    assert_non_null(o);
    assert_string_equal(json_string_value(json_object_get(o, "meal_point_id")), p.id);
    json_t *slots = json_object_get(o, "slots");
    assert_int_equal(json_array_size(slots), 2);
    assert_string_equal(json_string_value(json_object_get(json_array_get(slots, 1), "cutoff")),
                        "15:30");
    json_decref(o);

    md_meal_t m[3];
    memset(m, 0, sizeof m);
    const char *diets[3] = {"soft", "", "soft"};
    md_meal_t *ptrs[3];
    for (int i = 0; i < 3; i++) {
        snprintf(m[i].order_id, sizeof m[i].order_id, "00000000-0000-4000-8000-00000000000%c",
                 (char)('0' + i));
        snprintf(m[i].diet, sizeof m[i].diet, "%s", diets[i]);
        m[i].point = &p;
        m[i].status = i == 2 ? MD_MEAL_DELIVERED : MD_MEAL_SCHEDULED;
        snprintf(m[i].courier_id, sizeof m[i].courier_id, "c1");
        ptrs[i] = &m[i];
    }
    /* 2026-11-26T09:59:59+08:00: before the 10:00 cut-off, the list is open. */
    int64_t before = 1795622400LL * 1000000LL + (9 * 3600 + 3599) * 1000000LL;
    o = md_json_kitchen(&p, 20783, MD_LUNCH, ptrs, 3, before);
    assert_non_null(o);
    assert_true(json_is_false(json_object_get(o, "closed")));
    json_decref(o);
    o = md_json_kitchen(&p, 20783, MD_LUNCH, ptrs, 3, before + 1000000);
    assert_true(json_is_true(json_object_get(o, "closed")));
    assert_int_equal(json_integer_value(json_object_get(o, "count")), 3);
    assert_int_equal(json_integer_value(json_object_get(o, "capacity")), 40);
    assert_int_equal(json_integer_value(json_object_get(o, "delivered")), 1);
    assert_string_equal(json_string_value(json_object_get(o, "date")), "2026-11-26");
    assert_string_equal(json_string_value(json_object_get(o, "cutoff")),
                        "2026-11-26T10:00:00+08:00");
    json_t *bd = json_object_get(o, "by_diet");
    assert_int_equal(json_integer_value(json_object_get(bd, "soft")), 2);
    assert_int_equal(json_integer_value(json_object_get(bd, "")), 1);
    assert_int_equal(json_object_size(bd), 2);
    assert_int_equal(json_array_size(json_object_get(o, "orders")), 3);
    json_decref(o);

    m[2].delivered_us = 1795654800LL * 1000000LL;
    m[2].day = 20783;
    o = md_json_meal(&m[2]);
    assert_string_equal(json_string_value(json_object_get(o, "status")), "delivered");
    assert_string_equal(json_string_value(json_object_get(o, "delivered_at")),
                        "2026-11-26T09:00:00+08:00");
    assert_string_equal(json_string_value(json_object_get(o, "meal_point_id")), p.id);
    assert_null(json_object_get(o, "diet"));
    json_decref(o);
    m[1].status = MD_MEAL_REFUSED;
    m[1].reason = MD_REFUSE_PAST_CUTOFF;
    m[1].point = NULL;
    o = md_json_meal(&m[1]);
    assert_string_equal(json_string_value(json_object_get(o, "reason")), "past_cutoff");
    assert_null(json_object_get(o, "meal_point_id"));
    json_decref(o);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_point_good),
        cmocka_unit_test(test_point_bad),
        cmocka_unit_test(test_delivered),
        cmocka_unit_test(test_kitchen_query),
        cmocka_unit_test(test_hash),
        cmocka_unit_test(test_json_shapes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
