/* od_assess_test: the next assessment's due date (001 §2: from 80 a year
 * after the last, below 80 two years after). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "od_assess.h"

static void s_due(int by, int bm, int bd, int ay, int am, int ad, int ey, int em, int ed)
{
    int y = 0, m = 0, d = 0;
    assert_int_equal(od_assess_next_due(by, bm, bd, ay, am, ad, &y, &m, &d), 0);
    assert_int_equal(y, ey);
    assert_int_equal(m, em);
    assert_int_equal(d, ed);
}

static void test_from_80_a_year(void **state)
{
    (void) state;
    s_due(1944, 3, 1, 2026, 12, 7, 2027, 12, 7);   /* 82 */
    s_due(1946, 12, 7, 2026, 12, 7, 2027, 12, 7);  /* 80 on the day */
    s_due(1920, 1, 1, 2026, 6, 30, 2027, 6, 30);   /* 106 */
}

static void test_below_80_two_years(void **state)
{
    (void) state;
    s_due(1946, 12, 8, 2026, 12, 7, 2028, 12, 7);  /* 80 tomorrow: still 79 */
    s_due(1960, 5, 5, 2026, 1, 15, 2028, 1, 15);   /* 65 */
}

static void test_leap_day(void **state)
{
    (void) state;
    s_due(1940, 1, 1, 2024, 2, 29, 2025, 2, 28);   /* 84: 2025 has no 29 Feb */
    s_due(1950, 1, 1, 2024, 2, 29, 2026, 2, 28);   /* 74 */
    s_due(1944, 2, 29, 2024, 2, 28, 2026, 2, 28);  /* born 29 Feb: 79 on 28 Feb 2024 */
    s_due(1944, 2, 29, 2024, 2, 29, 2025, 2, 28);  /* 80 on 29 Feb 2024 */
}

static void test_bad_dates(void **state)
{
    (void) state;
    int y, m, d;
    assert_int_equal(od_assess_next_due(1940, 2, 30, 2026, 1, 1, &y, &m, &d), -1);
    assert_int_equal(od_assess_next_due(1940, 1, 1, 2026, 13, 1, &y, &m, &d), -1);
    assert_int_equal(od_assess_next_due(1941, 2, 29, 2026, 1, 1, &y, &m, &d), -1);
    assert_int_equal(od_assess_next_due(2030, 1, 1, 2026, 1, 1, &y, &m, &d), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_from_80_a_year),
        cmocka_unit_test(test_below_80_two_years),
        cmocka_unit_test(test_leap_day),
        cmocka_unit_test(test_bad_dates),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
