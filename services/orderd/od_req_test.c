/* Unit tests for od_req: every field of POST /v1/elders and POST /v1/orders
 * is checked for absence, wrong type and bad value, and the error names it. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>
#include "od_req.h"

static const int64_t NOW = 1795000000LL * 1000000;   /* 2026-11-18T15:06:40+08:00 */

static json_t *s_order(void)
{
    json_error_t je;
    json_t *o = json_loads("{\"card_id\":\"0f4d3c3e-8c0b-4a53-9d5e-2a1f3b9c7d10\","
                           "\"service\":\"bath\",\"window_start\":\"2026-11-20T09:00:00+08:00\","
                           "\"window_end\":\"2026-11-20T11:00:00+08:00\",\"notes\":\"ring twice\"}",
                           0, &je);
    assert_non_null(o);
    return o;
}

static void s_expect(int rc, const cc_err_t *err, int status, const char *error,
                     const char *field)
{
    assert_int_equal(rc, -1);
    assert_int_equal(err->status, status);
    assert_string_equal(err->error, error);
    assert_string_equal(err->field, field);
}

static void test_order_ok(void **state)
{
    (void)state;
    json_t *o = s_order();
    od_order_req_t r;
    cc_err_t err;
    assert_int_equal(od_order_req_from_json(o, "k-1", NOW, &r, &err), 0);
    assert_string_equal(r.key, "k-1");
    assert_string_equal(r.card_id, "0f4d3c3e-8c0b-4a53-9d5e-2a1f3b9c7d10");
    assert_int_equal(r.service, 2);
    assert_int_equal(r.window_end_us - r.window_start_us, 2LL * 3600 * 1000000);
    assert_string_equal(r.notes, "ring twice");
    od_order_req_t r2;
    assert_int_equal(od_order_req_from_json(o, "other-key", NOW, &r2, &err), 0);
    assert_true(od_order_req_same(&r, &r2));
    json_object_set_new(o, "notes", json_string("ring once"));
    assert_int_equal(od_order_req_from_json(o, "k-1", NOW, &r2, &err), 0);
    assert_false(od_order_req_same(&r, &r2));
    json_decref(o);
}

static void test_order_bad(void **state)
{
    (void)state;
    od_order_req_t r;
    cc_err_t err;
    json_t *o = s_order();
    s_expect(od_order_req_from_json(o, NULL, NOW, &r, &err), &err, 400, "missing_header",
             "Idempotency-Key");
    s_expect(od_order_req_from_json(o, "has space", NOW, &r, &err), &err, 400,
             "invalid_value", "Idempotency-Key");
    json_decref(o);

    o = s_order();
    json_object_del(o, "card_id");
    s_expect(od_order_req_from_json(o, "k", NOW, &r, &err), &err, 400, "missing_field",
             "card_id");
    json_object_set_new(o, "card_id", json_integer(7));
    s_expect(od_order_req_from_json(o, "k", NOW, &r, &err), &err, 400, "wrong_type", "card_id");
    json_object_set_new(o, "card_id", json_string("not-a-uuid"));
    s_expect(od_order_req_from_json(o, "k", NOW, &r, &err), &err, 400, "invalid_value",
             "card_id");
    json_decref(o);

    o = s_order();
    json_object_set_new(o, "service", json_string("massage"));
    s_expect(od_order_req_from_json(o, "k", NOW, &r, &err), &err, 400, "invalid_value",
             "service");
    json_object_set_new(o, "service", json_true());
    s_expect(od_order_req_from_json(o, "k", NOW, &r, &err), &err, 400, "wrong_type", "service");
    json_decref(o);

    o = s_order();
    json_object_set_new(o, "window_start", json_string("tomorrow"));
    s_expect(od_order_req_from_json(o, "k", NOW, &r, &err), &err, 400, "invalid_value",
             "window_start");
    json_object_del(o, "window_start");
    s_expect(od_order_req_from_json(o, "k", NOW, &r, &err), &err, 400, "missing_field",
             "window_start");
    json_decref(o);

    o = s_order();
    json_object_set_new(o, "window_end", json_string("2026-11-20T08:00:00+08:00"));
    s_expect(od_order_req_from_json(o, "k", NOW, &r, &err), &err, 422, "invalid_value",
             "window_end");
    json_object_set_new(o, "window_start", json_string("2026-11-01T08:00:00+08:00"));
    json_object_set_new(o, "window_end", json_string("2026-11-01T09:00:00+08:00"));
    s_expect(od_order_req_from_json(o, "k", NOW, &r, &err), &err, 422, "invalid_value",
             "window_end");
    json_decref(o);

    o = s_order();
    char big[OD_NOTES_MAX_BYTES + 2];
    memset(big, 'n', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    json_object_set_new(o, "notes", json_string(big));
    s_expect(od_order_req_from_json(o, "k", NOW, &r, &err), &err, 400, "invalid_value", "notes");
    json_object_set_new(o, "notes", json_integer(1));
    s_expect(od_order_req_from_json(o, "k", NOW, &r, &err), &err, 400, "wrong_type", "notes");
    json_decref(o);
}

static void test_order_emergency_window(void **state)
{
    (void)state;
    json_t *o = s_order();
    json_object_set_new(o, "service", json_string("emergency"));
    json_object_del(o, "window_start");
    json_object_del(o, "window_end");
    od_order_req_t r;
    cc_err_t err;
    assert_int_equal(od_order_req_from_json(o, "k", NOW, &r, &err), 0);
    assert_int_equal(r.service, 6);
    assert_int_equal(r.window_start_us, NOW);
    assert_int_equal(r.window_end_us, NOW + OD_EMERGENCY_WINDOW_US);
    json_decref(o);
}

static json_t *s_elder(void)
{
    json_error_t je;
    json_t *o = json_loads(
        "{\"name\":\"x\",\"id_number\":\"11010519491231002X\",\"phone\":\"13800138000\","
        "\"address\":\"1 Lane\",\"district_id\":3,\"lat\":30.27,\"lon\":120.15,"
        "\"birth_date\":\"1949-12-31\",\"ability_level\":\"severe\",\"household\":\"dibao\","
        "\"living\":\"alone\",\"diet\":\"soft\"}", 0, &je);
    assert_non_null(o);
    return o;
}

static void test_elder_ok(void **state)
{
    (void)state;
    json_t *o = s_elder();
    od_elder_req_t r;
    cc_err_t err;
    assert_int_equal(od_elder_req_from_json(o, NOW, &r, &err), 0);
    assert_int_equal(r.district_id, 3);
    assert_int_equal(r.birth_y, 1949);
    assert_string_equal(r.birth_date, "1949-12-31");
    assert_string_equal(od_ability_names[r.ability], "severe");
    assert_string_equal(od_household_names[r.household], "dibao");
    assert_string_equal(od_living_names[r.living], "alone");
    assert_int_equal(r.disability_grade, 0);
    assert_string_equal(r.diet, "soft");
    json_object_set_new(o, "disability_grade", json_integer(2));
    json_object_del(o, "diet");
    assert_int_equal(od_elder_req_from_json(o, NOW, &r, &err), 0);
    assert_int_equal(r.disability_grade, 2);
    assert_string_equal(r.diet, "");
    json_decref(o);
}

static void test_elder_bad(void **state)
{
    (void)state;
    static const struct {
        const char *field;
        const char *json;      /* NULL: delete the field */
        int status;
        const char *error;
    } cases[] = {
        { "name", NULL, 400, "missing_field" },
        { "name", "\"   \"", 400, "invalid_value" },
        { "name", "12", 400, "wrong_type" },
        { "id_number", "\"11010519491231002\"", 400, "invalid_value" },
        { "id_number", "\"110105194912310021\"", 400, "invalid_value" },
        { "id_number", NULL, 400, "missing_field" },
        { "phone", "\"abc\"", 400, "invalid_value" },
        { "phone", "13800138000", 400, "wrong_type" },
        { "address", "\"\"", 400, "invalid_value" },
        { "district_id", "0", 400, "invalid_value" },
        { "district_id", "\"3\"", 400, "wrong_type" },
        { "lat", "91", 400, "invalid_value" },
        { "lon", "null", 400, "missing_field" },
        { "birth_date", "\"1949-02-30\"", 400, "invalid_value" },
        { "birth_date", "\"2030-01-01\"", 422, "invalid_value" },
        { "birth_date", "\"1850-01-01\"", 422, "invalid_value" },
        { "ability_level", "\"fine\"", 400, "invalid_value" },
        { "household", "\"rich\"", 400, "invalid_value" },
        { "living", NULL, 400, "missing_field" },
        { "disability_grade", "5", 400, "invalid_value" },
        { "disability_grade", "\"2\"", 400, "wrong_type" },
        { "diet", "[]", 400, "wrong_type" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        json_t *o = s_elder();
        if (cases[i].json)
            json_object_set_new(o, cases[i].field,
                                json_loads(cases[i].json, JSON_DECODE_ANY, NULL));
        else
            json_object_del(o, cases[i].field);
        od_elder_req_t r;
        cc_err_t err;
        memset(&err, 0, sizeof err);
        int rc = od_elder_req_from_json(o, NOW, &r, &err);
        if (rc != -1 || err.status != cases[i].status || strcmp(err.error, cases[i].error) ||
            strcmp(err.field, cases[i].field))
            fail_msg("case %zu (%s): rc %d status %d error %s field %s", i, cases[i].field, rc,
                     err.status, err.error, err.field);
        json_decref(o);
    }
}

/* An emergency for an elder without a card names the elder; any other
 * service without a card is 422 no_card; both ids at once are refused. */
static void test_order_without_card(void **state)
{
    (void)state;
    json_t *o = s_order();
    od_order_req_t r, r2;
    cc_err_t err;
    json_object_del(o, "card_id");
    json_object_set_new(o, "elder_id", json_string("E1D3C3E0-8C0B-4A53-9D5E-2A1F3B9C7D10"));
    s_expect(od_order_req_from_json(o, "k", NOW, &r, &err), &err, 422, "no_card", "card_id");
    json_object_set_new(o, "service", json_string("emergency"));
    assert_int_equal(od_order_req_from_json(o, "k", NOW, &r, &err), 0);
    assert_string_equal(r.card_id, "");
    assert_string_equal(r.elder_id, "e1d3c3e0-8c0b-4a53-9d5e-2a1f3b9c7d10");
    json_object_set_new(o, "elder_id", json_string("e1d3c3e0-8c0b-4a53-9d5e-2a1f3b9c7d11"));
    assert_int_equal(od_order_req_from_json(o, "k", NOW, &r2, &err), 0);
    assert_false(od_order_req_same(&r, &r2));   /* another elder: another request */
    json_object_set_new(o, "elder_id", json_string("nope"));
    s_expect(od_order_req_from_json(o, "k", NOW, &r, &err), &err, 400, "invalid_value",
             "elder_id");
    json_object_set_new(o, "card_id", json_string("0f4d3c3e-8c0b-4a53-9d5e-2a1f3b9c7d10"));
    s_expect(od_order_req_from_json(o, "k", NOW, &r, &err), &err, 400, "invalid_value",
             "elder_id");
    json_decref(o);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_order_ok),
        cmocka_unit_test(test_order_bad),
        cmocka_unit_test(test_order_emergency_window),
        cmocka_unit_test(test_order_without_card),
        cmocka_unit_test(test_elder_ok),
        cmocka_unit_test(test_elder_bad),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
