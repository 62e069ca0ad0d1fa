/* Unit tests for od_rrule: parsing (every refusal names its part), and
 * expansion across month ends, leap years, ordinals and intervals. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>
#include <stdio.h>
#include "od_rrule.h"

static int32_t D(const char *s)
{
    int32_t d = 0;
    assert_int_equal(od_day_parse(s, &d), 0);
    return d;
}

/* Expand rule over [from, to] from dtstart and compare with the expected
 * dates, a space-separated list. */
static void s_expect(const char *rule, const char *dtstart, const char *from, const char *to,
                     const char *want)
{
    od_rrule_t r;
    const char *part = NULL, *why = NULL;
    if (od_rrule_parse(rule, &r, &part, &why) != 0)
        fail_msg("%s refused: %s %s", rule, part, why);
    int32_t out[400];
    int n = od_rrule_expand(&r, D(dtstart), D(from), D(to), out, 400);
    char got[4096] = "", buf[16];
    for (int i = 0; i < n; i++) {
        if (i)
            strcat(got, " ");
        strcat(got, od_day_format(out[i], buf, sizeof buf));
    }
    if (strcmp(got, want) != 0)
        fail_msg("%s from %s in [%s, %s]:\n got  %s\n want %s", rule, dtstart, from, to, got,
                 want);
}

static void s_refused(const char *rule, const char *want_part)
{
    od_rrule_t r;
    const char *part = NULL, *why = NULL;
    if (od_rrule_parse(rule, &r, &part, &why) == 0)
        fail_msg("%s accepted", rule);
    assert_non_null(why);
    if (strcmp(part, want_part) != 0)
        fail_msg("%s: part %s, want %s (%s)", rule, part, want_part, why);
}

static void test_days(void **state)
{
    (void)state;
    assert_int_equal(D("1970-01-01"), 0);
    assert_int_equal(od_day_weekday(D("1970-01-01")), 3);   /* Thursday */
    assert_int_equal(od_day_weekday(D("2026-12-07")), 0);   /* Monday */
    assert_int_equal(D("2024-03-01") - D("2024-02-28"), 2);  /* leap */
    assert_int_equal(D("2100-03-01") - D("2100-02-28"), 1);  /* not leap */
    assert_int_equal(D("2000-03-01") - D("2000-02-28"), 2);  /* leap (400) */
    int32_t d;
    assert_int_equal(od_day_parse("2025-02-29", &d), -1);
    assert_int_equal(od_day_parse("2024-02-29", &d), 0);
    assert_int_equal(od_day_parse("2024-13-01", &d), -1);
    assert_int_equal(od_day_parse("2024-1-01", &d), -1);
    assert_int_equal(od_day_parse("2024-01-01x", &d), -1);
    char buf[16];
    for (int32_t x = D("1999-12-25"); x < D("2001-01-10"); x++) {
        int32_t back;
        assert_int_equal(od_day_parse(od_day_format(x, buf, sizeof buf), &back), 0);
        assert_int_equal(back, x);
    }
}

static void test_weekdays(void **state)
{
    (void)state;
    /* Lunch every weekday: 2026-12-07 is a Monday. */
    s_expect("FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR", "2026-12-07", "2026-12-07", "2026-12-14",
             "2026-12-07 2026-12-08 2026-12-09 2026-12-10 2026-12-11 2026-12-14");
    s_expect("FREQ=DAILY;BYDAY=MO,TU,WE,TH,FR", "2026-12-09", "2026-12-09", "2026-12-15",
             "2026-12-09 2026-12-10 2026-12-11 2026-12-14 2026-12-15");
    /* A bath every Tuesday and Friday, starting on a Wednesday: the start
     * is a bound, not an occurrence. */
    s_expect("FREQ=WEEKLY;BYDAY=TU,FR", "2026-12-09", "2026-12-01", "2026-12-22",
             "2026-12-11 2026-12-15 2026-12-18 2026-12-22");
    /* Without BYDAY, the weekday of the start. */
    s_expect("FREQ=WEEKLY", "2026-12-09", "2026-12-09", "2026-12-31",
             "2026-12-09 2026-12-16 2026-12-23 2026-12-30");
}

static void test_intervals(void **state)
{
    (void)state;
    /* Cleaning fortnightly on Monday: weeks counted from the start's week. */
    s_expect("FREQ=WEEKLY;INTERVAL=2;BYDAY=MO", "2026-12-09", "2026-12-01", "2027-01-20",
             "2026-12-21 2027-01-04 2027-01-18");
    s_expect("FREQ=DAILY;INTERVAL=3", "2026-12-30", "2027-01-01", "2027-01-10",
             "2027-01-02 2027-01-05 2027-01-08");
    s_expect("FREQ=MONTHLY;INTERVAL=2", "2026-11-15", "2026-11-01", "2027-05-31",
             "2026-11-15 2027-01-15 2027-03-15 2027-05-15");
}

static void test_month_ends(void **state)
{
    (void)state;
    /* The 31st: months without one have no occurrence. */
    s_expect("FREQ=MONTHLY", "2027-01-31", "2027-01-01", "2027-06-30",
             "2027-01-31 2027-03-31 2027-05-31");
    s_expect("FREQ=MONTHLY;BYMONTHDAY=31", "2027-01-01", "2027-01-01", "2027-06-30",
             "2027-01-31 2027-03-31 2027-05-31");
    /* The last day of every month, leap February included. */
    s_expect("FREQ=MONTHLY;BYMONTHDAY=-1", "2027-11-01", "2027-11-01", "2028-04-30",
             "2027-11-30 2027-12-31 2028-01-31 2028-02-29 2028-03-31 2028-04-30");
    s_expect("FREQ=MONTHLY;BYMONTHDAY=29", "2027-01-01", "2027-01-01", "2028-03-31",
             "2027-01-29 2027-03-29 2027-04-29 2027-05-29 2027-06-29 2027-07-29 2027-08-29 "
             "2027-09-29 2027-10-29 2027-11-29 2027-12-29 2028-01-29 2028-02-29 2028-03-29");
    s_expect("FREQ=MONTHLY;BYMONTHDAY=1,15,-1", "2026-02-01", "2026-02-01", "2026-03-20",
             "2026-02-01 2026-02-15 2026-02-28 2026-03-01 2026-03-15");
    /* Leap day yearly in effect: every 12 months from 2024-02-29. */
    s_expect("FREQ=MONTHLY;INTERVAL=12", "2024-02-29", "2024-01-01", "2032-12-31",
             "2024-02-29 2028-02-29 2032-02-29");
    s_expect("FREQ=DAILY", "2028-02-27", "2028-02-27", "2028-03-01",
             "2028-02-27 2028-02-28 2028-02-29 2028-03-01");
}

static void test_ordinals(void **state)
{
    (void)state;
    /* First Monday and last Friday of each month. */
    s_expect("FREQ=MONTHLY;BYDAY=1MO", "2026-12-01", "2026-12-01", "2027-03-31",
             "2026-12-07 2027-01-04 2027-02-01 2027-03-01");
    s_expect("FREQ=MONTHLY;BYDAY=-1FR", "2026-12-01", "2026-12-01", "2027-03-31",
             "2026-12-25 2027-01-29 2027-02-26 2027-03-26");
    /* Fifth Sunday: only months that have one. */
    s_expect("FREQ=MONTHLY;BYDAY=5SU", "2027-01-01", "2027-01-01", "2027-06-30",
             "2027-01-31 2027-05-30");
    /* A plain weekday with MONTHLY: every such day of the month. */
    s_expect("FREQ=MONTHLY;BYDAY=TU", "2027-02-01", "2027-02-01", "2027-02-28",
             "2027-02-02 2027-02-09 2027-02-16 2027-02-23");
    /* BYDAY and BYMONTHDAY both limit: Friday the 13th. */
    s_expect("FREQ=MONTHLY;BYDAY=FR;BYMONTHDAY=13", "2026-01-01", "2026-01-01", "2026-12-31",
             "2026-02-13 2026-03-13 2026-11-13");
    /* -1SU in a leap February with five Sundays' worth of days. */
    s_expect("FREQ=MONTHLY;BYDAY=-1SU,2WE", "2032-02-01", "2032-02-01", "2032-02-29",
             "2032-02-11 2032-02-29");
}

static void test_count_until(void **state)
{
    (void)state;
    /* COUNT counts from the start, including occurrences before from. */
    s_expect("FREQ=WEEKLY;BYDAY=TU,FR;COUNT=3", "2026-12-07", "2026-12-07", "2027-01-31",
             "2026-12-08 2026-12-11 2026-12-15");
    s_expect("FREQ=WEEKLY;BYDAY=TU,FR;COUNT=3", "2026-12-07", "2026-12-12", "2027-01-31",
             "2026-12-15");
    s_expect("FREQ=DAILY;UNTIL=20261210", "2026-12-07", "2026-12-01", "2026-12-31",
             "2026-12-07 2026-12-08 2026-12-09 2026-12-10");
    /* 17:00Z on the 10th is the 11th in Shanghai. */
    s_expect("FREQ=DAILY;UNTIL=20261210T170000Z", "2026-12-09", "2026-12-01", "2026-12-31",
             "2026-12-09 2026-12-10 2026-12-11");
    s_expect("FREQ=DAILY;UNTIL=20261210T235959", "2026-12-09", "2026-12-01", "2026-12-31",
             "2026-12-09 2026-12-10");
    s_expect("RRULE:FREQ=DAILY;COUNT=2", "2026-12-09", "2026-12-01", "2026-12-31",
             "2026-12-09 2026-12-10");
    /* max bounds the output. */
    od_rrule_t r;
    assert_int_equal(od_rrule_parse("FREQ=DAILY", &r, NULL, NULL), 0);
    int32_t out[3];
    assert_int_equal(od_rrule_expand(&r, D("2026-01-01"), D("2026-01-01"), D("2026-12-31"), out,
                                     3), 3);
}

static void test_refusals(void **state)
{
    (void)state;
    s_refused("", "rrule");
    s_refused("FREQ=YEARLY", "FREQ");
    s_refused("FREQ=HOURLY", "FREQ");
    s_refused("INTERVAL=2", "FREQ");
    s_refused("FREQ=DAILY;BYSETPOS=1", "BYSETPOS");
    s_refused("FREQ=DAILY;BYHOUR=9", "BYHOUR");
    s_refused("FREQ=WEEKLY;WKST=SU", "WKST");
    s_refused("FREQ=MONTHLY;BYMONTH=1", "BYMONTH");
    s_refused("FREQ=DAILY;FOO=1", "rrule");
    s_refused("FREQ=DAILY;FREQ=WEEKLY", "FREQ");
    s_refused("FREQ=DAILY;INTERVAL=0", "INTERVAL");
    s_refused("FREQ=DAILY;INTERVAL=x", "INTERVAL");
    s_refused("FREQ=DAILY;INTERVAL=", "INTERVAL");
    s_refused("FREQ=WEEKLY;BYDAY=XX", "BYDAY");
    s_refused("FREQ=WEEKLY;BYDAY=MO,", "BYDAY");
    s_refused("FREQ=WEEKLY;BYDAY=1MO", "BYDAY");
    s_refused("FREQ=DAILY;BYDAY=-1FR", "BYDAY");
    s_refused("FREQ=MONTHLY;BYDAY=6MO", "BYDAY");
    s_refused("FREQ=MONTHLY;BYDAY=0MO", "BYDAY");
    s_refused("FREQ=MONTHLY;BYDAY=mo", "BYDAY");
    s_refused("FREQ=MONTHLY;BYMONTHDAY=32", "BYMONTHDAY");
    s_refused("FREQ=MONTHLY;BYMONTHDAY=0", "BYMONTHDAY");
    s_refused("FREQ=WEEKLY;BYMONTHDAY=1", "BYMONTHDAY");
    s_refused("FREQ=DAILY;COUNT=0", "COUNT");
    s_refused("FREQ=DAILY;COUNT=10001", "COUNT");
    s_refused("FREQ=DAILY;COUNT=2;UNTIL=20270101", "COUNT");
    s_refused("FREQ=DAILY;UNTIL=20270230", "UNTIL");
    s_refused("FREQ=DAILY;UNTIL=2027-01-01", "UNTIL");
    s_refused("FREQ=DAILY;UNTIL=20270101T250000", "UNTIL");
    s_refused("FREQ", "rrule");
    s_refused("=DAILY", "rrule");
    /* Accepted edge forms. */
    od_rrule_t r;
    assert_int_equal(od_rrule_parse("FREQ=DAILY;", &r, NULL, NULL), 0);
    assert_int_equal(od_rrule_parse("FREQ=MONTHLY;BYDAY=+1MO,-5SU", &r, NULL, NULL), 0);
    assert_int_equal(r.nbyday, 2);
    char longer[600];
    memset(longer, 'A', sizeof longer - 1);
    longer[sizeof longer - 1] = 0;
    s_refused(longer, "rrule");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_days),
        cmocka_unit_test(test_weekdays),
        cmocka_unit_test(test_intervals),
        cmocka_unit_test(test_month_ends),
        cmocka_unit_test(test_ordinals),
        cmocka_unit_test(test_count_until),
        cmocka_unit_test(test_refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
