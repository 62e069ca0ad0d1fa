/* Tests for cc_util: uuid, clocks, RFC 3339 text, local dates, geography. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cc_util.h"

#define S INT64_C(1000000)
/* 2026-11-26T00:30:00Z = 2026-11-26T08:30:00+08:00 */
#define T0 (INT64_C(1795653000) * S)

static void
test_uuid(void **state)
{
    (void) state;
    enum { N = 1000 };
    static char ids[N][CC_UUID_LEN];
    for (int i = 0; i < N; i++) {
        cc_uuid(ids[i]);
        assert_int_equal(strlen(ids[i]), 36);
        assert_true(cc_uuid_valid(ids[i]));
        assert_int_equal(ids[i][14], '4');                  /* version */
        assert_non_null(strchr("89ab", ids[i][19]));        /* variant */
        for (const char *p = ids[i]; *p; p++)
            assert_true(*p == '-' || (*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f'));
    }
    for (int i = 0; i < N; i++)
        for (int j = i + 1; j < N; j++)
            assert_string_not_equal(ids[i], ids[j]);
}

static void
test_hex(void **state)
{
    (void) state;
    const uint8_t b[] = { 0x00, 0x0f, 0xa5, 0xff };
    char *h = cc_hex(b, sizeof b);
    assert_string_equal(h, "000fa5ff");
    free(h);
    h = cc_hex(b, 0);
    assert_string_equal(h, "");
    free(h);
}

static void
test_uuid_valid(void **state)
{
    (void) state;
    assert_true(cc_uuid_valid("123e4567-e89b-42d3-a456-426614174000"));
    assert_true(cc_uuid_valid("123E4567-E89B-42D3-A456-426614174000"));
    assert_false(cc_uuid_valid(NULL));
    assert_false(cc_uuid_valid(""));
    assert_false(cc_uuid_valid("123e4567-e89b-42d3-a456-42661417400"));     /* short */
    assert_false(cc_uuid_valid("123e4567-e89b-42d3-a456-4266141740000"));   /* long */
    assert_false(cc_uuid_valid("123e4567e-89b-42d3-a456-426614174000"));    /* dash */
    assert_false(cc_uuid_valid("123e4567-e89b-42d3-a456-42661417400g"));    /* hex */
    assert_false(cc_uuid_valid("{23e4567-e89b-42d3-a456-426614174000"));
}

static void
test_uuid_norm(void **state)
{
    (void) state;
    char out[CC_UUID_LEN];
    assert_int_equal(cc_uuid_norm("123E4567-E89B-42D3-A456-42661417400F", out), 0);
    assert_string_equal(out, "123e4567-e89b-42d3-a456-42661417400f");
    assert_int_equal(cc_uuid_norm("123e4567-E89b-42D3-a456-426614174abc", out), 0);
    assert_string_equal(out, "123e4567-e89b-42d3-a456-426614174abc");
    /* In place. */
    char buf[CC_UUID_LEN] = "ABCDEF01-2345-6789-ABCD-EF0123456789";
    assert_int_equal(cc_uuid_norm(buf, buf), 0);
    assert_string_equal(buf, "abcdef01-2345-6789-abcd-ef0123456789");
    /* Not a UUID: -1 and out = "". */
    const char *bad[] = { "", "x", "123e4567-e89b-42d3-a456-42661417400",
                          "123e4567-e89b-42d3-a456-4266141740000",
                          "123e4567e89b42d3a456426614174000",
                          "{123e4567-e89b-42d3-a456-426614174000}",
                          " 123e4567-e89b-42d3-a456-42661417400",
                          "123e4567-e89b-42d3-a456-42661417400G",
                          "123e4567_e89b-42d3-a456-426614174000" };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        memset(out, 'z', sizeof out);
        assert_int_equal(cc_uuid_norm(bad[i], out), -1);
        assert_string_equal(out, "");
    }
    memset(out, 'z', sizeof out);
    assert_int_equal(cc_uuid_norm(NULL, out), -1);
    assert_string_equal(out, "");
}

static void
test_clocks(void **state)
{
    (void) state;
    int64_t now = cc_now_us();
    assert_true(now > INT64_C(1600000000) * S);
    assert_true(llabs(now / S - (int64_t) time(NULL)) <= 1);
    int64_t a = cc_mono_us();
    int64_t b = cc_mono_us();
    assert_true(a > 0 && b >= a);
}

static void
test_time_format(void **state)
{
    (void) state;
    char buf[40];
    assert_string_equal(cc_time_format(T0, buf, sizeof buf), "2026-11-26T08:30:00+08:00");
    assert_string_equal(cc_time_format(T0 + 123456, buf, sizeof buf),
                        "2026-11-26T08:30:00.123456+08:00");
    assert_string_equal(cc_time_format(T0 + 1, buf, sizeof buf),
                        "2026-11-26T08:30:00.000001+08:00");
    assert_string_equal(cc_time_format(0, buf, sizeof buf), "1970-01-01T08:00:00+08:00");
    assert_string_equal(cc_time_format(-1, buf, sizeof buf),
                        "1970-01-01T07:59:59.999999+08:00");
    /* UTC 16:00 is local midnight of the next day. */
    assert_string_equal(cc_time_format(INT64_C(1795622400) * S, buf, sizeof buf),
                        "2026-11-26T00:00:00+08:00");
    assert_string_equal(cc_time_format(INT64_C(-2203891200) * S, buf, sizeof buf),
                        "1900-03-01T08:00:00+08:00");
    /* Truncates instead of overflowing a short buffer. */
    char tiny[11];
    assert_string_equal(cc_time_format(T0, tiny, sizeof tiny), "2026-11-26");
    /* Extremes must not overflow (UBSan watches). */
    cc_time_format(INT64_MAX, buf, sizeof buf);
    cc_time_format(INT64_MIN, buf, sizeof buf);
}

static void
test_time_parse(void **state)
{
    (void) state;
    int64_t us = 0;
    assert_int_equal(cc_time_parse("2026-11-26T08:30:00+08:00", &us), 0);
    assert_int_equal(us, T0);
    assert_int_equal(cc_time_parse("2026-11-26T00:30:00Z", &us), 0);
    assert_int_equal(us, T0);
    assert_int_equal(cc_time_parse("2026-11-26t00:30:00z", &us), 0);
    assert_int_equal(us, T0);
    assert_int_equal(cc_time_parse("2026-11-25T19:30:00-05:00", &us), 0);
    assert_int_equal(us, T0);
    assert_int_equal(cc_time_parse("2026-11-26T06:00:00+05:30", &us), 0);
    assert_int_equal(us, T0);
    /* No offset: Asia/Shanghai. No seconds. Space separator. */
    assert_int_equal(cc_time_parse("2026-11-26T08:30", &us), 0);
    assert_int_equal(us, T0);
    assert_int_equal(cc_time_parse("2026-11-26 08:30:00", &us), 0);
    assert_int_equal(us, T0);
    /* Fractions: 1..9 digits, truncated to microseconds. */
    assert_int_equal(cc_time_parse("2026-11-26T08:30:00.5+08:00", &us), 0);
    assert_int_equal(us, T0 + 500000);
    assert_int_equal(cc_time_parse("2026-11-26T08:30:00.123456789+08:00", &us), 0);
    assert_int_equal(us, T0 + 123456);
    /* Leap day. */
    assert_int_equal(cc_time_parse("2024-02-29T20:00:00+08:00", &us), 0);
    assert_int_equal(us, INT64_C(1709208000) * S);

    const char *bad[] = {
        "", "2026-11-26", "2026-11-26T", "2026-11-26T8:30", "2026-11-26T08:30:0",
        "2026-02-29T00:00", "2026-13-01T00:00", "2026-00-01T00:00", "2026-04-31T00:00",
        "2026-11-00T00:00", "2026-11-26T24:00", "2026-11-26T08:60", "2026-11-26T08:30:60",
        "2026-11-26T08:30:00.", "2026-11-26T08:30:00.1234567890",
        "2026-11-26T08:30:00+0800", "2026-11-26T08:30:00+24:00", "2026-11-26T08:30:00+08",
        "2026-11-26T08:30:00Zjunk", "2026-11-26T08:30:00 ", " 2026-11-26T08:30",
        "26-11-26T08:30", "2026/11/26T08:30", "2026-11-26X08:30", "abcd-ef-ghTij:kl",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        us = 7;
        if (cc_time_parse(bad[i], &us) != -1)
            fail_msg("accepted \"%s\"", bad[i]);
        assert_int_equal(us, 7);
    }
    assert_int_equal(cc_time_parse(NULL, &us), -1);
}

static void
test_round_trip(void **state)
{
    (void) state;
    char buf[40];
    int64_t samples[] = { T0, T0 + 1, T0 - 1, 0, -1, (INT64_C(253402300799) - 8 * 3600) * S,
                          INT64_C(1709208000) * S + 999999 };
    for (size_t i = 0; i < sizeof samples / sizeof *samples; i++) {
        int64_t back = 0;
        cc_time_format(samples[i], buf, sizeof buf);
        assert_int_equal(cc_time_parse(buf, &back), 0);
        assert_int_equal(back, samples[i]);
    }
}

static void
test_tz_env_ignored(void **state)
{
    (void) state;
    setenv("TZ", "America/New_York", 1);
    tzset();
    char buf[40];
    int64_t us;
    assert_string_equal(cc_time_format(T0, buf, sizeof buf), "2026-11-26T08:30:00+08:00");
    assert_int_equal(cc_time_parse("2026-11-26T08:30", &us), 0);
    assert_int_equal(us, T0);
    assert_string_equal(cc_date_local(T0, buf, sizeof buf), "2026-11-26");
    assert_int_equal(cc_minute_of_day_local(T0), 8 * 60 + 30);
    unsetenv("TZ");
    tzset();
}

static void
test_local_date(void **state)
{
    (void) state;
    char buf[11];
    int64_t midnight = INT64_C(1795622400) * S;     /* 2026-11-26T00:00+08:00 */
    assert_string_equal(cc_date_local(midnight, buf, sizeof buf), "2026-11-26");
    assert_string_equal(cc_date_local(midnight - 1, buf, sizeof buf), "2026-11-25");
    assert_string_equal(cc_date_local(-8 * 3600 * S, buf, sizeof buf), "1970-01-01");
    assert_string_equal(cc_date_local(-8 * 3600 * S - 1, buf, sizeof buf), "1969-12-31");
    assert_int_equal(cc_minute_of_day_local(midnight), 0);
    assert_int_equal(cc_minute_of_day_local(midnight - 1), 1439);
    assert_int_equal(cc_minute_of_day_local(T0), 510);
    assert_int_equal(cc_minute_of_day_local(T0 + 59 * S), 510);
    assert_int_equal(cc_minute_of_day_local(-1), 479);
}

static void
test_hhmm(void **state)
{
    (void) state;
    assert_int_equal(cc_hhmm_parse("00:00"), 0);
    assert_int_equal(cc_hhmm_parse("08:30"), 510);
    assert_int_equal(cc_hhmm_parse("23:59"), 1439);
    const char *bad[] = { "24:00", "8:30", "08:3", "08:60", "08-30", "08:30:00", "",
                          "0830", "ab:cd", " 08:30", "08:30 " };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        if (cc_hhmm_parse(bad[i]) != -1)
            fail_msg("accepted \"%s\"", bad[i]);
    assert_int_equal(cc_hhmm_parse(NULL), -1);
}

static void
test_date_parse(void **state)
{
    (void) state;
    int64_t us = 0;
    assert_int_equal(cc_date_parse("2026-11-26", &us), 0);
    assert_int_equal(us, INT64_C(1795622400) * S);
    assert_int_equal(cc_date_parse("2024-02-29", &us), 0);
    const char *bad[] = { "2026-02-29", "2026-11-31", "2026-11-26T00:00", "2026-1-26",
                          "", "2026-11-26 ", "20261126" };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        us = 7;
        if (cc_date_parse(bad[i], &us) != -1)
            fail_msg("accepted \"%s\"", bad[i]);
        assert_int_equal(us, 7);
    }
    assert_int_equal(cc_date_parse(NULL, &us), -1);
}

static void
test_geo(void **state)
{
    (void) state;
    assert_true(cc_geo_distance_m(31.23, 121.47, 31.23, 121.47) == 0.0);
    /* One degree of latitude on the mean sphere: 111195 m. */
    assert_true(fabs(cc_geo_distance_m(31.0, 121.0, 32.0, 121.0) - 111195.08) < 1.0);
    /* Beijing Tiananmen to Shanghai People's Square: about 1067 km. */
    double d = cc_geo_distance_m(39.9042, 116.4074, 31.2304, 121.4737);
    assert_true(d > 1060000 && d < 1075000);
    /* Symmetric. */
    assert_true(fabs(d - cc_geo_distance_m(31.2304, 121.4737, 39.9042, 116.4074)) < 1e-6);
    /* Antipodes: half the circumference, no NaN. */
    double half = cc_geo_distance_m(0, 0, 0, 180);
    assert_true(fabs(half - M_PI * 6371008.8) < 1.0);

    /* 1000 m x 1.3 at 15 km/h = 312 s. */
    double dlat = 1000.0 / 111195.08;
    assert_int_equal(cc_geo_travel_s(31.0, 121.0, 31.0 + dlat, 121.0), 312);
    assert_int_equal(cc_geo_travel_s(31.0, 121.0, 31.0, 121.0), 0);
    assert_int_equal(cc_geo_travel_s(NAN, 121.0, 31.0, 121.0), -1);
    assert_int_equal(cc_geo_travel_s(31.0, INFINITY, 31.0, 121.0), -1);
}

static void
test_time_units(void **state)
{
    (void)state;
    assert_true(CC_US_PER_S == CC_US_PER_MS * CC_MS_PER_S);
    assert_true(CC_US_PER_MIN == INT64_C(60000000));
    assert_true(CC_US_PER_HOUR == 60 * CC_US_PER_MIN);
    assert_true(CC_US_PER_DAY == INT64_C(86400000000));
    assert_true(CC_S_PER_DAY == 24 * CC_S_PER_HOUR);
    assert_int_equal(CC_TZ_OFFSET_S, 28800);
    /* int64_t: a week in microseconds does not overflow int arithmetic. */
    assert_true(7 * CC_US_PER_DAY == INT64_C(604800000000));
}

/* cc_grow: room for n, doubling from first; the array keeps its elements. */
static void
test_grow(void **state)
{
    (void) state;
    int *a = NULL;
    size_t cap = 0;
    assert_int_equal(cc_grow(&a, &cap, 1, sizeof *a, 8), 0);
    assert_int_equal(cap, 8);
    for (int i = 0; i < 8; i++)
        a[i] = i;
    assert_int_equal(cc_grow(&a, &cap, 8, sizeof *a, 8), 0);   /* fits: unchanged */
    assert_int_equal(cap, 8);
    assert_int_equal(cc_grow(&a, &cap, 9, sizeof *a, 8), 0);
    assert_int_equal(cap, 16);
    assert_int_equal(cc_grow(&a, &cap, 100, sizeof *a, 8), 0);
    assert_int_equal(cap, 128);
    for (int i = 0; i < 8; i++)
        assert_int_equal(a[i], i);
    /* A size that would overflow: -1 and the array untouched. */
    assert_int_equal(cc_grow(&a, &cap, SIZE_MAX / 2, sizeof *a, 8), -1);
    assert_int_equal(cap, 128);
    assert_int_equal(a[7], 7);
    free(a);
    int *z = cc_xcalloc(sizeof *z * 4, "test");
    assert_int_equal(z[3], 0);
    free(z);
}

static void
test_sodium_init(void **state)
{
    (void) state;
    assert_int_equal(cc_sodium_init(), 0);
    assert_int_equal(cc_sodium_init(), 0);     /* idempotent */
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_uuid),
        cmocka_unit_test(test_time_units),
        cmocka_unit_test(test_uuid_valid),
        cmocka_unit_test(test_hex),
        cmocka_unit_test(test_uuid_norm),
        cmocka_unit_test(test_clocks),
        cmocka_unit_test(test_time_format),
        cmocka_unit_test(test_time_parse),
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_tz_env_ignored),
        cmocka_unit_test(test_local_date),
        cmocka_unit_test(test_hhmm),
        cmocka_unit_test(test_date_parse),
        cmocka_unit_test(test_geo),
        cmocka_unit_test(test_grow),
        cmocka_unit_test(test_sodium_init),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
