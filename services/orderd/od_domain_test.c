/* Unit tests for od_domain: ID numbers, dates, the saga's transition table,
 * priority and the small text checks. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>
#include <stdio.h>
#include "od_domain.h"

static void test_id_number_known_valid(void **state)
{
    (void)state;
    const char *why = "untouched";
    /* Published specimen numbers (GB 11643 examples), checksums verified. */
    assert_int_equal(od_id_number_check("11010519491231002X", &why), 0);
    assert_null(why);
    assert_int_equal(od_id_number_check("11010519491231002x", NULL), 0);
    assert_int_equal(od_id_number_check("440524188001010014", NULL), 0);
    assert_int_equal(od_id_number_check("110101199003074477", NULL), 0);
}

static void test_id_number_checksum(void **state)
{
    (void)state;
    const char *why = NULL;
    assert_int_equal(od_id_number_check("110105194912310021", &why), -1);
    assert_string_equal(why, "checksum");
    assert_int_equal(od_id_number_check("440524188001010015", &why), -1);
    assert_string_equal(why, "checksum");
    /* Every single-digit change of a valid number is caught. */
    char buf[19];
    for (int pos = 0; pos < 17; pos++) {
        for (char c = '0'; c <= '9'; c++) {
            strcpy(buf, "110101199003074477");
            if (buf[pos] == c)
                continue;
            buf[pos] = c;
            int rc = od_id_number_check(buf, &why);
            assert_int_equal(rc, -1);
        }
    }
    /* The computed check character makes any 17 valid digits pass. */
    strcpy(buf, "32010219750615123");
    buf[17] = od_id_number_check_char(buf);
    buf[18] = '\0';
    assert_int_equal(od_id_number_check(buf, NULL), 0);
}

static void test_id_number_format(void **state)
{
    (void)state;
    const char *why = NULL;
    assert_int_equal(od_id_number_check(NULL, &why), -1);
    assert_string_equal(why, "length");
    assert_int_equal(od_id_number_check("", &why), -1);
    assert_string_equal(why, "length");
    assert_int_equal(od_id_number_check("11010519491231002", &why), -1);
    assert_string_equal(why, "length");
    assert_int_equal(od_id_number_check("11010519491231002XX", &why), -1);
    assert_string_equal(why, "length");
    assert_int_equal(od_id_number_check("1101051949123100AX", &why), -1);
    assert_string_equal(why, "format");
    assert_int_equal(od_id_number_check("11010519491231002Y", &why), -1);
    assert_string_equal(why, "format");
    assert_int_equal(od_id_number_check("X10105194912310021", &why), -1);
    assert_string_equal(why, "format");
    assert_int_equal(od_id_number_check("010105194912310021", &why), -1);
    assert_string_equal(why, "format");
    /* Embedded birth dates that do not exist. */
    char buf[19];
    const char *bad_dates[] = { "19490230", "19491301", "19490001", "19490100",
                                "19000229", "18000101" };
    for (size_t i = 0; i < sizeof bad_dates / sizeof bad_dates[0]; i++) {
        snprintf(buf, sizeof buf, "110105%s002", bad_dates[i]);
        buf[17] = od_id_number_check_char(buf);
        buf[18] = '\0';
        assert_int_equal(od_id_number_check(buf, &why), -1);
        assert_string_equal(why, "birth_date");
    }
    /* 29 Feb in a leap year is fine. */
    snprintf(buf, sizeof buf, "110105%s002", "20000229");
    buf[17] = od_id_number_check_char(buf);
    buf[18] = '\0';
    assert_int_equal(od_id_number_check(buf, NULL), 0);
}

static void test_dates_and_age(void **state)
{
    (void)state;
    int y, m, d;
    assert_int_equal(od_date_parse("1944-02-29", &y, &m, &d), 0);
    assert_int_equal(y, 1944);
    assert_int_equal(m, 2);
    assert_int_equal(d, 29);
    assert_int_equal(od_date_parse("1943-02-29", &y, &m, &d), -1);
    assert_int_equal(od_date_parse("1944-2-29", &y, &m, &d), -1);
    assert_int_equal(od_date_parse("1944-02-29T00:00", &y, &m, &d), -1);
    assert_int_equal(od_date_parse("19a4-02-01", &y, &m, &d), -1);
    assert_int_equal(od_date_parse(NULL, &y, &m, &d), -1);
    assert_true(od_date_valid(2000, 2, 29));
    assert_false(od_date_valid(1900, 2, 29));
    assert_false(od_date_valid(2023, 4, 31));

    assert_int_equal(od_age_years(1946, 11, 26, 2026, 11, 26), 80);
    assert_int_equal(od_age_years(1946, 11, 27, 2026, 11, 26), 79);
    assert_int_equal(od_age_years(1946, 12, 1, 2026, 11, 30), 79);
    /* Born 29 Feb: a year older on 1 Mar of a common year, not on 28 Feb. */
    assert_int_equal(od_age_years(1944, 2, 29, 2025, 2, 28), 80);
    assert_int_equal(od_age_years(1944, 2, 29, 2025, 3, 1), 81);
    assert_int_equal(od_age_years(2030, 1, 1, 2026, 1, 1), -4);
}

/* The full transition table: every (state, event) pair, so an accidental
 * change anywhere shows up here. '-' means "history only, state kept". */
static void test_step_table(void **state)
{
    (void)state;
    static const struct {
        od_state_t from;
        od_event_t ev;
        od_state_t to;
        od_out_t out;
    } moves[] = {
        { OD_PLACED, OD_EV_FUNDS_HELD, OD_RELEASED, OD_OUT_RELEASED },
        { OD_FUNDS_HELD, OD_EV_FUNDS_HELD, OD_RELEASED, OD_OUT_RELEASED },
        { OD_PLACED, OD_EV_FUNDS_DENIED, OD_DENIED, OD_OUT_NONE },
        { OD_FUNDS_HELD, OD_EV_FUNDS_DENIED, OD_DENIED, OD_OUT_NONE },
        { OD_RELEASED, OD_EV_VISIT_ASSIGNED, OD_ASSIGNED, OD_OUT_NONE },
        { OD_ASSIGNED, OD_EV_VISIT_ASSIGNED, OD_ASSIGNED, OD_OUT_NONE },
        { OD_RELEASED, OD_EV_MEAL_SCHEDULED, OD_ASSIGNED, OD_OUT_NONE },
        { OD_ASSIGNED, OD_EV_MEAL_SCHEDULED, OD_ASSIGNED, OD_OUT_NONE },
        { OD_ASSIGNED, OD_EV_VISIT_DECLINED, OD_RELEASED, OD_OUT_NONE },
        { OD_ASSIGNED, OD_EV_VISIT_CHECKED_IN, OD_IN_PROGRESS, OD_OUT_NONE },
        { OD_ASSIGNED, OD_EV_VISIT_COMPLETED, OD_COMPLETED, OD_OUT_COMPLETED },
        { OD_IN_PROGRESS, OD_EV_VISIT_COMPLETED, OD_COMPLETED, OD_OUT_COMPLETED },
        { OD_ASSIGNED, OD_EV_MEAL_DELIVERED, OD_COMPLETED, OD_OUT_COMPLETED },
        { OD_RELEASED, OD_EV_VISIT_FAILED, OD_FAILED, OD_OUT_FAILED },
        { OD_ASSIGNED, OD_EV_VISIT_FAILED, OD_FAILED, OD_OUT_FAILED },
        { OD_IN_PROGRESS, OD_EV_VISIT_FAILED, OD_FAILED, OD_OUT_FAILED },
        { OD_RELEASED, OD_EV_MEAL_REFUSED, OD_FAILED, OD_OUT_FAILED },
        { OD_ASSIGNED, OD_EV_MEAL_REFUSED, OD_FAILED, OD_OUT_FAILED },
        { OD_COMPLETED, OD_EV_HOLD_CAPTURED, OD_BILLED, OD_OUT_NONE },
        { OD_PLACED, OD_EV_CANCEL, OD_CANCELLED, OD_OUT_CANCELLED },
        { OD_FUNDS_HELD, OD_EV_CANCEL, OD_CANCELLED, OD_OUT_CANCELLED },
        { OD_RELEASED, OD_EV_CANCEL, OD_CANCELLED, OD_OUT_CANCELLED },
        { OD_ASSIGNED, OD_EV_CANCEL, OD_CANCELLED, OD_OUT_CANCELLED },
    };
    size_t nmoves = sizeof moves / sizeof moves[0];
    int changed = 0;
    for (int s = 0; s < OD_STATE_COUNT; s++) {
        for (int e = 0; e < OD_EV_COUNT; e++) {
            od_step_t st = od_step((od_state_t)s, (od_event_t)e);
            size_t i;
            for (i = 0; i < nmoves; i++)
                if (moves[i].from == (od_state_t)s && moves[i].ev == (od_event_t)e)
                    break;
            if (i < nmoves) {
                if (st.to != moves[i].to || st.out != moves[i].out)
                    fail_msg("%s + %s: got %s/%d", od_state_name(s), od_event_name(e),
                             od_state_name(st.to), st.out);
                assert_int_equal(st.changes, moves[i].to != (od_state_t)s);
            } else {
                if (st.to != (od_state_t)s || st.changes || st.out != OD_OUT_NONE)
                    fail_msg("%s + %s should be history only, got %s", od_state_name(s),
                             od_event_name(e), od_state_name(st.to));
            }
            changed += st.changes;
        }
    }
    assert_int_equal(changed, 21);  /* the two assigned->assigned stay */
}

static void test_final_states_are_sinks(void **state)
{
    (void)state;
    od_state_t finals[] = { OD_BILLED, OD_DENIED, OD_CANCELLED, OD_FAILED };
    for (size_t i = 0; i < 4; i++) {
        assert_true(od_state_final(finals[i]));
        assert_false(od_state_cancellable(finals[i]));
        for (int e = 0; e < OD_EV_COUNT; e++) {
            od_step_t st = od_step(finals[i], (od_event_t)e);
            assert_int_equal(st.to, finals[i]);
            assert_false(st.changes);
            assert_int_equal(st.out, OD_OUT_NONE);
        }
    }
    assert_false(od_state_final(OD_COMPLETED));   /* billing still to come */
    assert_false(od_state_cancellable(OD_IN_PROGRESS));
    assert_false(od_state_cancellable(OD_COMPLETED));
}

static void test_names(void **state)
{
    (void)state;
    for (int s = 0; s < OD_STATE_COUNT; s++)
        assert_int_equal(od_state_parse(od_state_name(s)), s);
    assert_int_equal(od_state_parse("billing"), -1);
    assert_int_equal(od_state_parse(NULL), -1);
    for (int e = 0; e < OD_EV_CANCEL; e++)
        assert_int_equal(od_event_parse(od_event_name(e)), e);
    assert_int_equal(od_event_parse("Cancel"), -1);   /* never inbound */
    assert_int_equal(od_event_parse("OrderPlaced"), -1);
    assert_int_equal(od_event_parse(NULL), -1);
    for (int v = 1; v < OD_SERVICE_COUNT; v++)
        assert_int_equal(od_service_parse(od_service_name(v)), v);
    assert_int_equal(od_service_parse("meal"), 1);
    assert_int_equal(od_service_parse("emergency"), 6);
    assert_int_equal(od_service_parse("Meal"), 0);
    assert_null(od_service_name(0));
    assert_null(od_service_name(9));
    assert_false(od_service_is_visit(1));
    assert_true(od_service_is_visit(2));
    assert_true(od_service_is_visit(8));
}

static void test_priority(void **state)
{
    (void)state;
    const int64_t t0 = 1795000000LL * 1000000;   /* Nov 2026 */
    int32_t early = od_priority(false, t0);
    int32_t late = od_priority(false, t0 + 3600LL * 1000000);
    assert_true(early > late);
    /* Minute resolution: same minute, same priority. */
    const int64_t minute = t0 - t0 % 60000000;
    assert_int_equal(od_priority(false, minute), od_priority(false, minute + 59999999));
    assert_int_equal(od_priority(false, minute) - 1, od_priority(false, minute + 60000000));
    /* Every emergency outranks every non-emergency, even a much earlier one. */
    assert_true(od_priority(true, t0 + 365LL * 86400 * 1000000) > od_priority(false, 0));
    assert_true(od_priority(true, t0) > od_priority(true, t0 + 60000000));
    /* Never negative, even at the clamps. */
    assert_true(od_priority(false, INT64_MAX / 2) >= 0);
    assert_true(od_priority(false, -1000) > 0);
    assert_true(od_priority(true, INT64_MAX / 2) > 0);
    /* A mandated duty's rank (bits 28-29) above every window of a lower
     * rank, below every emergency; read back as dispatchd reads it. */
    assert_true(od_priority_ranked(false, 1, t0 + 365LL * 86400 * 1000000) >
                od_priority_ranked(false, 0, 0));
    assert_true(od_priority_ranked(false, 2, t0 + 365LL * 86400 * 1000000) >
                od_priority_ranked(false, 1, 0));
    assert_true(od_priority(true, t0 + 365LL * 86400 * 1000000) >
                od_priority_ranked(false, 2, 0));
    for (int r = 0; r <= 2; r++)
        assert_int_equal((od_priority_ranked(false, r, t0) >> 28) & 3, r);
    assert_int_equal(od_priority_ranked(false, 9, t0), od_priority_ranked(false, 2, t0));
}

static void test_window(void **state)
{
    (void)state;
    const int64_t now = 1795000000LL * 1000000, h = 3600LL * 1000000;
    const char *why = NULL;
    assert_int_equal(od_window_check(now + h, now + 2 * h, now, NULL, &why), 0);
    assert_null(why);
    /* A window already begun but not ended is fine (urgent same-day orders). */
    assert_int_equal(od_window_check(now - h, now + h, now, NULL, &why), 0);
    assert_int_equal(od_window_check(now + h, now + h, now, NULL, &why), -1);
    assert_non_null(strstr(why, "after"));
    assert_int_equal(od_window_check(now + 2 * h, now + h, now, NULL, &why), -1);
    assert_int_equal(od_window_check(now - 2 * h, now - h, now, NULL, &why), -1);
    assert_non_null(strstr(why, "past"));
    assert_int_equal(od_window_check(now, now + 8 * 24 * h, now, NULL, &why), -1);
    assert_non_null(strstr(why, "7 days"));
    /* Absolute range and horizon, naming the end at fault; values near the
     * int64 limits neither overflow nor pass (issue 11). */
    const char *field = NULL;
    const int64_t d = 24 * h;
    assert_int_equal(od_window_check(now + 90 * d - h, now + 90 * d, now, &field, &why), 0);
    assert_null(field);
    assert_int_equal(od_window_check(now + 90 * d + 1, now + 90 * d + h, now, &field, &why), -1);
    assert_string_equal(field, "window_start");
    assert_non_null(strstr(why, "90 days"));
    assert_int_equal(od_window_check(now + 400 * d, now + 400 * d + h, now, &field, &why), -1);
    assert_string_equal(field, "window_start");
    assert_int_equal(od_window_check(-5000000000000000000LL, 5000000000000000000LL, now, &field,
                                     &why), -1);
    assert_string_equal(field, "window_start");
    assert_int_equal(od_window_check(INT64_MAX - h, INT64_MAX, now, &field, &why), -1);
    assert_string_equal(field, "window_start");
    assert_int_equal(od_window_check(now + h, INT64_MAX, now, &field, &why), -1);
    assert_string_equal(field, "window_end");
    assert_int_equal(od_window_check(INT64_MIN, now + h, now, &field, &why), -1);
    assert_string_equal(field, "window_start");
    assert_int_equal(od_window_check(CC_TIME_MIN_US - 1, now + h, now, &field, &why), -1);
    assert_int_equal(od_window_check(CC_TIME_MAX_US - h, CC_TIME_MAX_US + 1, now, &field, &why),
                     -1);
    assert_string_equal(field, "window_end");
    /* The last instants of the range, with "now" there too: no overflow. */
    assert_int_equal(od_window_check(CC_TIME_MAX_US - h, CC_TIME_MAX_US, CC_TIME_MAX_US - 2 * h,
                                     &field, &why), 0);
    assert_int_equal(od_window_check(now + h, now + 2 * h, INT64_MAX, &field, &why), -1);
}

static void test_phone_and_key(void **state)
{
    (void)state;
    assert_true(od_phone_valid("13800138000"));
    assert_true(od_phone_valid("+8613800138000"));
    assert_true(od_phone_valid("0571-88886666"));
    assert_true(od_phone_valid("12349"));
    assert_false(od_phone_valid("1234"));
    assert_false(od_phone_valid("138001380001380013800"));
    assert_false(od_phone_valid("138-"));
    assert_false(od_phone_valid("-13800138000"));
    assert_false(od_phone_valid("1380013800a"));
    assert_false(od_phone_valid("138++00138000"));
    assert_false(od_phone_valid(NULL));

    assert_true(od_idem_key_valid("a"));
    assert_true(od_idem_key_valid("call-2026-11-26/0001"));
    assert_false(od_idem_key_valid(""));
    assert_false(od_idem_key_valid("with space"));
    assert_false(od_idem_key_valid("tab\tkey"));
    assert_false(od_idem_key_valid("\xe4\xb8\xad"));
    char big[130];
    memset(big, 'k', 129);
    big[129] = '\0';
    assert_false(od_idem_key_valid(big));
    big[128] = '\0';
    assert_true(od_idem_key_valid(big));
    assert_false(od_idem_key_valid(NULL));
}

/* The store's rows as 008_order_states.sql inserts them. */
static od_state_row_t s_rows[] = {
    { "placed", false, true },     { "funds_held", false, true }, { "released", false, true },
    { "assigned", false, true },   { "in_progress", false, false },
    { "completed", false, false }, { "billed", true, false },     { "denied", true, false },
    { "cancelled", true, false },  { "failed", true, false },
};
#define S_NROWS (sizeof s_rows / sizeof s_rows[0])

static void test_states_table(void **state)
{
    (void)state;
    assert_int_equal(OD_STATE_COUNT, 10);
    int finals = 0;
    for (int s = 0; s < OD_STATE_COUNT; s++) {
        assert_int_equal(od_state_parse(od_state_name((od_state_t)s)), s);
        finals += od_state_final((od_state_t)s);
        /* A final order cannot be cancelled. */
        assert_false(od_state_final((od_state_t)s) && od_state_cancellable((od_state_t)s));
    }
    assert_int_equal(finals, 4);
    assert_true(od_state_final(OD_BILLED) && od_state_final(OD_FAILED));
    assert_false(od_state_final(OD_COMPLETED));
    assert_true(od_state_cancellable(OD_ASSIGNED));
    assert_false(od_state_cancellable(OD_IN_PROGRESS));
    assert_false(od_state_final((od_state_t)OD_STATE_COUNT));
    assert_false(od_state_cancellable((od_state_t)-1));
}

static void test_states_check(void **state)
{
    (void)state;
    const char *bad = "untouched", *why = "untouched";
    assert_int_equal(od_states_check(s_rows, S_NROWS, &bad, &why), 0);
    assert_null(bad);
    assert_null(why);
    assert_int_equal(od_states_check(s_rows, S_NROWS, NULL, NULL), 0);

    /* Any order of rows will do. */
    od_state_row_t rev[S_NROWS];
    for (size_t i = 0; i < S_NROWS; i++)
        rev[i] = s_rows[S_NROWS - 1 - i];
    assert_int_equal(od_states_check(rev, S_NROWS, &bad, &why), 0);

    od_state_row_t rows[S_NROWS + 1];
    memcpy(rows, s_rows, sizeof s_rows);
    rows[9].final = false;                               /* failed: not final */
    assert_int_equal(od_states_check(rows, S_NROWS, &bad, &why), -1);
    assert_string_equal(bad, "failed");
    assert_string_equal(why, "final");

    memcpy(rows, s_rows, sizeof s_rows);
    rows[4].cancellable = true;                          /* in_progress */
    assert_int_equal(od_states_check(rows, S_NROWS, &bad, &why), -1);
    assert_string_equal(bad, "in_progress");
    assert_string_equal(why, "cancellable");

    /* A state the store lacks, one orderd does not know, a repeated one. */
    assert_int_equal(od_states_check(s_rows, S_NROWS - 1, &bad, &why), -1);
    assert_string_equal(bad, "failed");
    assert_string_equal(why, "missing_in_store");
    assert_int_equal(od_states_check(NULL, 0, &bad, &why), -1);
    assert_string_equal(bad, "placed");
    memcpy(rows, s_rows, sizeof s_rows);
    rows[S_NROWS] = (od_state_row_t){ "paused", false, true };
    assert_int_equal(od_states_check(rows, S_NROWS + 1, &bad, &why), -1);
    assert_string_equal(bad, "paused");
    assert_string_equal(why, "unknown_to_orderd");
    rows[S_NROWS] = s_rows[0];
    assert_int_equal(od_states_check(rows, S_NROWS + 1, &bad, &why), -1);
    assert_string_equal(bad, "placed");
    assert_string_equal(why, "duplicate");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_id_number_known_valid),
        cmocka_unit_test(test_id_number_checksum),
        cmocka_unit_test(test_id_number_format),
        cmocka_unit_test(test_dates_and_age),
        cmocka_unit_test(test_step_table),
        cmocka_unit_test(test_states_table),
        cmocka_unit_test(test_states_check),
        cmocka_unit_test(test_final_states_are_sinks),
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_priority),
        cmocka_unit_test(test_window),
        cmocka_unit_test(test_phone_and_key),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
