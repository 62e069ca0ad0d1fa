/* Tests for cc_log: lines are valid JSON, fields in order, private keys
 * masked, levels filtered, hostile values escaped. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cc_log.h"

/* Run the logger into a temp file and return everything written. */
static FILE *s_out;

static int
s_setup(void **state)
{
    (void) state;
    s_out = tmpfile();
    assert_non_null(s_out);
    cc_log_set_stream(s_out);
    cc_log_init("testd", "debug");
    return 0;
}

static int
s_teardown(void **state)
{
    (void) state;
    cc_log_set_stream(NULL);
    fclose(s_out);
    return 0;
}

/* Caller frees. */
static char *
s_captured(void)
{
    long n = ftell(s_out);
    assert_true(n >= 0);
    char *text = calloc(1, (size_t) n + 1);
    assert_non_null(text);
    rewind(s_out);
    assert_int_equal(fread(text, 1, (size_t) n, s_out), (size_t) n);
    rewind(s_out);
    assert_int_equal(ftruncate(fileno(s_out), 0), 0);
    return text;
}

/* The single captured line as a JSON object (caller decrefs). */
static json_t *
s_one_line(void)
{
    char *text = s_captured();
    size_t len = strlen(text);
    assert_true(len > 0);
    assert_int_equal(text[len - 1], '\n');
    assert_null(memchr(text, '\n', len - 1));
    json_error_t jerr;
    json_t *o = json_loads(text, 0, &jerr);
    if (!o)
        fail_msg("not JSON: %s (%s)", text, jerr.text);
    free(text);
    assert_true(json_is_object(o));
    return o;
}

static void
test_fields(void **state)
{
    (void) state;
    cc_info("order_placed", "order_id", "o-1", "seq", "42", "district_id", NULL);
    json_t *o = s_one_line();
    assert_string_equal(json_string_value(json_object_get(o, "level")), "info");
    assert_string_equal(json_string_value(json_object_get(o, "daemon")), "testd");
    assert_string_equal(json_string_value(json_object_get(o, "event")), "order_placed");
    assert_string_equal(json_string_value(json_object_get(o, "order_id")), "o-1");
    assert_string_equal(json_string_value(json_object_get(o, "seq")), "42");
    assert_true(json_is_null(json_object_get(o, "district_id")));
    const char *ts = json_string_value(json_object_get(o, "ts"));
    assert_non_null(ts);
    /* 2026-11-26T00:42:06.123456Z */
    assert_int_equal(strlen(ts), 27);
    assert_int_equal(ts[10], 'T');
    assert_int_equal(ts[26], 'Z');
    json_decref(o);
}

static void
test_order_of_keys(void **state)
{
    (void) state;
    cc_warn("x", "a", "1", "b", "2");
    char *text = s_captured();
    const char *ts = strstr(text, "\"ts\"");
    const char *level = strstr(text, "\"level\"");
    const char *daemon = strstr(text, "\"daemon\"");
    const char *event = strstr(text, "\"event\"");
    const char *a = strstr(text, "\"a\"");
    const char *b = strstr(text, "\"b\"");
    assert_true(text == ts - 1);
    assert_true(ts < level && level < daemon && daemon < event && event < a && a < b);
    free(text);
}

static void
test_private_masked(void **state)
{
    (void) state;
    cc_info("caregiver_seen", "name", "Wang Fang", "phone", "13800138000",
            "elder_address", "No. 5 Lane", "lat", "31.2", "order_id", "o-2",
            "PAYLOAD", "\x08\x01", "latency_ms", "12");
    json_t *o = s_one_line();
    assert_string_equal(json_string_value(json_object_get(o, "name")), "***");
    assert_string_equal(json_string_value(json_object_get(o, "phone")), "***");
    assert_string_equal(json_string_value(json_object_get(o, "elder_address")), "***");
    assert_string_equal(json_string_value(json_object_get(o, "lat")), "***");
    assert_string_equal(json_string_value(json_object_get(o, "PAYLOAD")), "***");
    assert_string_equal(json_string_value(json_object_get(o, "order_id")), "o-2");
    assert_string_equal(json_string_value(json_object_get(o, "latency_ms")), "12");
    json_decref(o);

    /* A NULL private value is masked too: even its absence says nothing. */
    cc_info("x", "notes", NULL);
    o = s_one_line();
    assert_string_equal(json_string_value(json_object_get(o, "notes")), "***");
    json_decref(o);
}

static void
test_key_is_private(void **state)
{
    (void) state;
    const char *yes[] = { "name", "phone", "id_number", "address", "lat", "lon",
                          "card_no", "payload", "sql", "params", "health",
                          "ability_level", "birth_date", "body", "notes", "diet",
                          "elder_name", "pickup_lon", "Phone", "caregiver_id_number" };
    const char *no[] = { "order_id", "seq", "district_id", "latency", "namespace",
                         "lon_ok", "body_bytes", "", "xname", "event" };
    for (size_t i = 0; i < sizeof yes / sizeof *yes; i++)
        if (!cc_log_key_is_private(yes[i]))
            fail_msg("%s should be private", yes[i]);
    for (size_t i = 0; i < sizeof no / sizeof *no; i++)
        if (cc_log_key_is_private(no[i]))
            fail_msg("%s should not be private", no[i]);
    assert_int_equal(cc_log_key_is_private(NULL), 0);
}

static void
test_escaping(void **state)
{
    (void) state;
    cc_error("weird", "err", "quote\" back\\ nl\n tab\t bell\x07 del\x7f",
             "bad_utf8", "a\xff" "b\xc3", "cjk", "\xe5\x8c\x97\xe4\xba\xac");
    json_t *o = s_one_line();
    assert_string_equal(json_string_value(json_object_get(o, "err")),
                        "quote\" back\\ nl\n tab\t bell\x07 del\x7f");
    assert_string_equal(json_string_value(json_object_get(o, "bad_utf8")),
                        "a\xef\xbf\xbd" "b\xef\xbf\xbd");
    assert_string_equal(json_string_value(json_object_get(o, "cjk")),
                        "\xe5\x8c\x97\xe4\xba\xac");
    json_decref(o);
}

static void
test_levels(void **state)
{
    (void) state;
    cc_log_init("testd", "warn");
    cc_debug("d");
    cc_info("i");
    char *text = s_captured();
    assert_string_equal(text, "");
    free(text);
    assert_int_equal(cc_log_enabled(CC_LOG_INFO), 0);
    assert_int_equal(cc_log_enabled(CC_LOG_ERROR), 1);
    cc_warn("w");
    json_t *o = s_one_line();
    assert_string_equal(json_string_value(json_object_get(o, "level")), "warn");
    json_decref(o);

    /* Unknown level name falls back to info. */
    cc_log_init("testd", "loud");
    cc_debug("d");
    cc_info("i");
    o = s_one_line();
    assert_string_equal(json_string_value(json_object_get(o, "event")), "i");
    json_decref(o);
}

static void
test_long_line(void **state)
{
    (void) state;
    size_t n = 100000;
    char *big = malloc(n + 1);
    assert_non_null(big);
    memset(big, 'x', n);
    big[n] = '\0';
    cc_info("big", "detail", big);
    json_t *o = s_one_line();
    assert_int_equal(strlen(json_string_value(json_object_get(o, "detail"))), n);
    json_decref(o);
    free(big);
}

static void
test_daemon_name(void **state)
{
    (void) state;
    cc_log_init("a\"b", NULL);
    cc_info("e");
    json_t *o = s_one_line();
    assert_string_equal(json_string_value(json_object_get(o, "daemon")), "a\"b");
    json_decref(o);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_fields, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_order_of_keys, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_private_masked, s_setup, s_teardown),
        cmocka_unit_test(test_key_is_private),
        cmocka_unit_test_setup_teardown(test_escaping, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_levels, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_long_line, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_daemon_name, s_setup, s_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
