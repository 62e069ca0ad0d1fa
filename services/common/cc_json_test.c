/* Tests for cc_json: each reader's present / absent / null / wrong type /
 * out of range paths, enum, time, hhmm, unknown fields and cc_err_set. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "cc_json.h"
#include "cc_limits.h"

static json_t *
s_obj(const char *text)
{
    json_error_t jerr;
    json_t *o = json_loads(text, 0, &jerr);
    if (!o)
        fail_msg("bad fixture %s: %s", text, jerr.text);
    return o;
}

static void
s_assert_err(const cc_err_t *err, int status, const char *error, const char *field)
{
    assert_int_equal(err->status, status);
    assert_string_equal(err->error, error);
    assert_string_equal(err->field, field);
    assert_true(strlen(err->message) > 0);
}

static void
test_str(void **state)
{
    (void) state;
    json_t *o = s_obj("{\"a\":\"hello\",\"n\":5,\"z\":null,\"e\":\"\"}");
    cc_err_t err;
    const char *s = "untouched";
    assert_int_equal(cc_json_str(o, "a", 1, 10, &s, &err), 0);
    assert_string_equal(s, "hello");
    assert_int_equal(cc_json_str(o, "e", 1, 10, &s, &err), 0);
    assert_string_equal(s, "");
    assert_int_equal(cc_json_str(o, "a", 1, 0, &s, &err), 0);   /* no limit */

    s = "untouched";
    assert_int_equal(cc_json_str(o, "missing", 0, 10, &s, &err), 0);
    assert_string_equal(s, "untouched");
    assert_int_equal(cc_json_str(o, "z", 0, 10, &s, &err), 0);  /* null = absent */
    assert_string_equal(s, "untouched");

    assert_int_equal(cc_json_str(o, "missing", 1, 10, &s, &err), -1);
    s_assert_err(&err, 400, "missing_field", "missing");
    assert_non_null(strstr(err.message, "missing"));
    assert_int_equal(cc_json_str(o, "z", 1, 10, &s, &err), -1);
    s_assert_err(&err, 400, "missing_field", "z");
    assert_int_equal(cc_json_str(o, "n", 1, 10, &s, &err), -1);
    s_assert_err(&err, 400, "wrong_type", "n");
    assert_int_equal(cc_json_str(o, "a", 1, 4, &s, &err), -1);
    s_assert_err(&err, 400, "invalid_value", "a");
    assert_string_equal(s, "untouched");
    /* err may be NULL. */
    assert_int_equal(cc_json_str(o, "n", 1, 10, &s, NULL), -1);
    json_decref(o);

    /* Embedded NUL (only via the API, the parser refuses \u0000). */
    o = json_object();
    json_object_set_new(o, "nul", json_stringn("a\0b", 3));
    assert_int_equal(cc_json_str(o, "nul", 1, 10, &s, &err), -1);
    s_assert_err(&err, 400, "invalid_value", "nul");
    json_decref(o);
}

static void
test_uuid(void **state)
{
    (void) state;
    json_t *o = json_pack("{s:s, s:s, s:s, s:i, s:n, s:s}", "a",
                          "3F2504E0-4F89-11D3-9A0C-0305E82C3301", "b",
                          "3f2504e0-4f89-11d3-9a0c-0305e82c3301", "bad", "3f2504e0", "num", 5,
                          "nul", "long", "3f2504e0-4f89-11d3-9a0c-0305e82c33010");
    assert_non_null(o);
    cc_err_t err;
    char out[37];
    assert_int_equal(cc_json_uuid(o, "a", 1, out, &err), 0);
    assert_string_equal(out, "3f2504e0-4f89-11d3-9a0c-0305e82c3301");
    assert_int_equal(cc_json_uuid(o, "b", 0, out, &err), 0);
    assert_string_equal(out, "3f2504e0-4f89-11d3-9a0c-0305e82c3301");

    /* Absent: "" when optional, missing_field when required. */
    memset(out, 'z', sizeof out);
    assert_int_equal(cc_json_uuid(o, "absent", 0, out, &err), 0);
    assert_string_equal(out, "");
    memset(out, 'z', sizeof out);
    assert_int_equal(cc_json_uuid(o, "absent", 1, out, &err), -1);
    assert_string_equal(err.error, "missing_field");
    assert_string_equal(err.field, "absent");
    assert_string_equal(out, "");

    /* null counts as absent. */
    memset(out, 'z', sizeof out);
    assert_int_equal(cc_json_uuid(o, "nul", 0, out, &err), 0);
    assert_string_equal(out, "");

    const char *bad[] = { "bad", "long" };
    for (size_t i = 0; i < 2; i++) {
        memset(out, 'z', sizeof out);
        assert_int_equal(cc_json_uuid(o, bad[i], 0, out, &err), -1);
        assert_int_equal(err.status, 400);
        assert_string_equal(err.error, "invalid_value");
        assert_string_equal(err.field, bad[i]);
        assert_non_null(strstr(err.message, "UUID"));
        assert_string_equal(out, "");
    }
    assert_int_equal(cc_json_uuid(o, "num", 0, out, &err), -1);
    assert_string_equal(err.error, "wrong_type");
    assert_string_equal(err.field, "num");
    assert_string_equal(out, "");
    json_decref(o);
}

static void
test_int(void **state)
{
    (void) state;
    json_t *o = s_obj("{\"i\":42,\"neg\":-7,\"f\":1.0,\"s\":\"3\",\"b\":true,"
                      "\"big\":9223372036854775807}");
    cc_err_t err;
    int64_t v = 99;
    assert_int_equal(cc_json_int(o, "i", 1, 0, 100, &v, &err), 0);
    assert_int_equal(v, 42);
    assert_int_equal(cc_json_int(o, "neg", 1, -10, 0, &v, &err), 0);
    assert_int_equal(v, -7);
    assert_int_equal(cc_json_int(o, "big", 1, INT64_MIN, INT64_MAX, &v, &err), 0);
    assert_int_equal(v, INT64_MAX);
    /* Bounds are inclusive. */
    assert_int_equal(cc_json_int(o, "i", 1, 42, 42, &v, &err), 0);

    v = 99;
    assert_int_equal(cc_json_int(o, "i", 1, 0, 41, &v, &err), -1);
    s_assert_err(&err, 400, "invalid_value", "i");
    assert_int_equal(cc_json_int(o, "i", 1, 43, 100, &v, &err), -1);
    s_assert_err(&err, 400, "invalid_value", "i");
    assert_non_null(strstr(err.message, "43"));
    assert_int_equal(v, 99);
    assert_int_equal(cc_json_int(o, "f", 1, 0, 100, &v, &err), -1);
    s_assert_err(&err, 400, "wrong_type", "f");
    assert_int_equal(cc_json_int(o, "s", 1, 0, 100, &v, &err), -1);
    s_assert_err(&err, 400, "wrong_type", "s");
    assert_int_equal(cc_json_int(o, "b", 1, 0, 100, &v, &err), -1);
    s_assert_err(&err, 400, "wrong_type", "b");
    assert_int_equal(cc_json_int(o, "nope", 1, 0, 100, &v, &err), -1);
    s_assert_err(&err, 400, "missing_field", "nope");
    assert_int_equal(cc_json_int(o, "nope", 0, 0, 100, &v, &err), 0);
    assert_int_equal(v, 99);
    json_decref(o);
}

static void
test_num(void **state)
{
    (void) state;
    json_t *o = s_obj("{\"lat\":31.25,\"i\":3,\"s\":\"1\"}");
    cc_err_t err;
    double d = -1;
    assert_int_equal(cc_json_num(o, "lat", 1, -90, 90, &d, &err), 0);
    assert_true(d == 31.25);
    assert_int_equal(cc_json_num(o, "i", 1, 0, 10, &d, &err), 0);   /* ints are numbers */
    assert_true(d == 3.0);
    assert_int_equal(cc_json_num(o, "lat", 1, -90, 30, &d, &err), -1);
    s_assert_err(&err, 400, "invalid_value", "lat");
    assert_int_equal(cc_json_num(o, "s", 1, -90, 90, &d, &err), -1);
    s_assert_err(&err, 400, "wrong_type", "s");
    assert_int_equal(cc_json_num(o, "x", 1, -90, 90, &d, &err), -1);
    s_assert_err(&err, 400, "missing_field", "x");
    json_decref(o);
}

static void
test_bool(void **state)
{
    (void) state;
    json_t *o = s_obj("{\"t\":true,\"f\":false,\"one\":1,\"s\":\"true\"}");
    cc_err_t err;
    int b = 7;
    assert_int_equal(cc_json_bool(o, "t", 1, &b, &err), 0);
    assert_int_equal(b, 1);
    assert_int_equal(cc_json_bool(o, "f", 1, &b, &err), 0);
    assert_int_equal(b, 0);
    assert_int_equal(cc_json_bool(o, "one", 1, &b, &err), -1);
    s_assert_err(&err, 400, "wrong_type", "one");
    assert_int_equal(cc_json_bool(o, "s", 1, &b, &err), -1);
    s_assert_err(&err, 400, "wrong_type", "s");
    b = 7;
    assert_int_equal(cc_json_bool(o, "x", 0, &b, &err), 0);
    assert_int_equal(b, 7);
    json_decref(o);
}

static void
test_enum(void **state)
{
    (void) state;
    static const char *const levels[] = { "intact", "mild", "moderate", "severe", "total",
                                          NULL };
    json_t *o = s_obj("{\"a\":\"moderate\",\"b\":\"Mild\",\"c\":2}");
    cc_err_t err;
    int idx = -1;
    assert_int_equal(cc_json_enum(o, "a", 1, levels, &idx, &err), 0);
    assert_int_equal(idx, 2);
    idx = -1;
    assert_int_equal(cc_json_enum(o, "b", 1, levels, &idx, &err), -1);   /* case matters */
    s_assert_err(&err, 400, "invalid_value", "b");
    assert_non_null(strstr(err.message, "intact, mild, moderate, severe, total"));
    assert_int_equal(idx, -1);
    assert_int_equal(cc_json_enum(o, "c", 1, levels, &idx, &err), -1);
    s_assert_err(&err, 400, "wrong_type", "c");
    assert_int_equal(cc_json_enum(o, "d", 1, levels, &idx, &err), -1);
    s_assert_err(&err, 400, "missing_field", "d");
    assert_int_equal(cc_json_enum(o, "d", 0, levels, &idx, &err), 0);
    assert_int_equal(idx, -1);
    json_decref(o);

    /* A long list of choices is truncated, never overflowed. */
    static const char *const many[] = {
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb",
        "cccccccccccccccccccccccccccccccccccccccc", "dddddddddddddddddddddddddddddddddddddddd",
        "eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee", "ffffffffffffffffffffffffffffffffffffffff",
        NULL };
    o = s_obj("{\"x\":\"zzz\"}");
    assert_int_equal(cc_json_enum(o, "x", 1, many, &idx, &err), -1);
    assert_true(strlen(err.message) < sizeof err.message);
    json_decref(o);
}

static void
test_time(void **state)
{
    (void) state;
    json_t *o = s_obj("{\"t\":\"2026-11-26T08:30:00+08:00\",\"bad\":\"2026-11-26 8:30\","
                      "\"n\":1795653000,\"feb\":\"2026-02-30T00:00\"}");
    cc_err_t err;
    int64_t us = 0;
    assert_int_equal(cc_json_time(o, "t", 1, &us, &err), 0);
    assert_int_equal(us, INT64_C(1795653000) * 1000000);
    us = 5;
    assert_int_equal(cc_json_time(o, "bad", 1, &us, &err), -1);
    s_assert_err(&err, 400, "invalid_value", "bad");
    assert_int_equal(cc_json_time(o, "feb", 1, &us, &err), -1);
    s_assert_err(&err, 400, "invalid_value", "feb");
    assert_int_equal(cc_json_time(o, "n", 1, &us, &err), -1);
    s_assert_err(&err, 400, "wrong_type", "n");
    assert_int_equal(cc_json_time(o, "x", 1, &us, &err), -1);
    s_assert_err(&err, 400, "missing_field", "x");
    assert_int_equal(us, 5);
    json_decref(o);
    /* The absolute range of cc_limits.h, ends included (issue 11). */
    o = s_obj("{\"min\":\"2000-01-01T00:00:00+08:00\",\"early\":\"1999-12-31T23:59:59+08:00\","
              "\"zero\":\"0001-01-01T00:00:00Z\",\"max\":\"9999-12-31T23:59:59-23:59\"}");
    assert_int_equal(cc_json_time(o, "min", 1, &us, &err), 0);
    assert_int_equal(us, CC_TIME_MIN_US);
    assert_int_equal(cc_json_time(o, "max", 1, &us, &err), 0);
    assert_true(us <= CC_TIME_MAX_US);
    us = 5;
    assert_int_equal(cc_json_time(o, "early", 1, &us, &err), -1);
    s_assert_err(&err, 400, "invalid_value", "early");
    assert_int_equal(cc_json_time(o, "zero", 1, &us, &err), -1);
    s_assert_err(&err, 400, "invalid_value", "zero");
    assert_int_equal(us, 5);
    json_decref(o);
}

static void
test_hhmm(void **state)
{
    (void) state;
    json_t *o = s_obj("{\"a\":\"11:30\",\"b\":\"25:00\",\"c\":690}");
    cc_err_t err;
    int m = -1;
    assert_int_equal(cc_json_hhmm(o, "a", 1, &m, &err), 0);
    assert_int_equal(m, 690);
    assert_int_equal(cc_json_hhmm(o, "b", 1, &m, &err), -1);
    s_assert_err(&err, 400, "invalid_value", "b");
    assert_int_equal(cc_json_hhmm(o, "c", 1, &m, &err), -1);
    s_assert_err(&err, 400, "wrong_type", "c");
    assert_int_equal(cc_json_hhmm(o, "d", 0, &m, &err), 0);
    assert_int_equal(m, 690);
    json_decref(o);
}

static void
test_only(void **state)
{
    (void) state;
    static const char *const known[] = { "elder_id", "service", NULL };
    json_t *o = s_obj("{\"elder_id\":\"e\",\"service\":\"meal\"}");
    cc_err_t err;
    assert_int_equal(cc_json_only(o, known, &err), 0);
    json_decref(o);
    o = s_obj("{\"elder_id\":\"e\",\"servcie\":\"meal\"}");
    assert_int_equal(cc_json_only(o, known, &err), -1);
    s_assert_err(&err, 400, "unknown_field", "servcie");
    json_decref(o);
    o = s_obj("{}");
    assert_int_equal(cc_json_only(o, known, &err), 0);
    json_decref(o);
}

static void
test_not_object(void **state)
{
    (void) state;
    json_t *a = s_obj("[1,2]");
    cc_err_t err;
    const char *s;
    int64_t i;
    assert_int_equal(cc_json_str(a, "x", 0, 0, &s, &err), -1);
    s_assert_err(&err, 400, "not_an_object", "");
    assert_int_equal(cc_json_int(NULL, "x", 0, 0, 1, &i, &err), -1);
    s_assert_err(&err, 400, "not_an_object", "");
    assert_int_equal(cc_json_only(a, NULL, &err), -1);
    s_assert_err(&err, 400, "not_an_object", "");
    json_decref(a);
}

static void
test_err_set(void **state)
{
    (void) state;
    cc_err_t err;
    assert_int_equal(cc_err_set(&err, 409, "conflict", "order_id", "order %s is %s",
                                "o-1", "closed"), -1);
    s_assert_err(&err, 409, "conflict", "order_id");
    assert_string_equal(err.message, "order o-1 is closed");
    assert_int_equal(cc_err_set(NULL, 409, "x", "y", "z"), -1);
    assert_int_equal(cc_err_set(&err, 404, "not_found", NULL, "gone"), -1);
    assert_string_equal(err.field, "");

    /* Truncation keeps whole UTF-8 characters: 30 x U+4E2D is 90 bytes. */
    char field[91] = "";
    for (int i = 0; i < 30; i++)
        strcat(field, "\xe4\xb8\xad");
    cc_err_set(&err, 400, "unknown_field", field, "%s", "m");
    assert_int_equal(strlen(err.field), 63);    /* 21 characters */
    assert_int_equal(strncmp(err.field, field, 63), 0);
    json_t *j = json_string(err.field);         /* valid UTF-8 */
    assert_non_null(j);
    json_decref(j);

    char longmsg[400];
    memset(longmsg, 'm', sizeof longmsg - 1);
    longmsg[sizeof longmsg - 1] = '\0';
    cc_err_set(&err, 400, "x", "f", "%s", longmsg);
    assert_int_equal(strlen(err.message), sizeof err.message - 1);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_str),
        cmocka_unit_test(test_uuid),
        cmocka_unit_test(test_int),
        cmocka_unit_test(test_num),
        cmocka_unit_test(test_bool),
        cmocka_unit_test(test_enum),
        cmocka_unit_test(test_time),
        cmocka_unit_test(test_hhmm),
        cmocka_unit_test(test_only),
        cmocka_unit_test(test_not_object),
        cmocka_unit_test(test_err_set),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
