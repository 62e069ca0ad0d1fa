/* Unit tests for dd_store's pure parts: skills text and parameter building. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "dd_store.h"

static void test_skills_csv(void **state)
{
    (void) state;
    uint32_t s = dd_skills_parse_csv("bath,cleaning,emergency");
    assert_int_equal(s, (1u << DD_SVC_BATH) | (1u << DD_SVC_CLEANING)
                            | (1u << DD_SVC_EMERGENCY));
    char buf[160];
    assert_string_equal(dd_skills_csv(s, buf, sizeof buf), "bath,cleaning,emergency");
    /* unknown names and empty items are ignored; order does not matter */
    assert_int_equal(dd_skills_parse_csv("visit,,nonsense,bath"),
                     (1u << DD_SVC_VISIT) | (1u << DD_SVC_BATH));
    assert_int_equal(dd_skills_parse_csv(""), 0);
    assert_int_equal(dd_skills_parse_csv(NULL), 0);
    assert_string_equal(dd_skills_csv(0, buf, sizeof buf), "");
    /* every visit service survives the round trip */
    uint32_t all = 0;
    for (int i = DD_SVC_BATH; i <= DD_SVC_MAX; i++)
        all |= 1u << i;
    assert_int_equal(dd_skills_parse_csv(dd_skills_csv(all, buf, sizeof buf)), all);
    /* a short buffer truncates at a name boundary, never mid-name */
    char tiny[12];
    dd_skills_csv(all, tiny, sizeof tiny);
    assert_string_equal(tiny, "bath");
}

static void test_args(void **state)
{
    (void) state;
    dd_args_t a;
    dd_args_init(&a);
    dd_args_str(&a, "x");
    dd_args_i64(&a, -1795622400000000LL);
    dd_args_f64(&a, 30.274100000000001);
    dd_args_bool(&a, 1);
    dd_args_bool(&a, 0);
    dd_args_null(&a);
    const uint8_t blob[3] = {0, 1, 2};
    dd_args_bin(&a, blob, sizeof blob);
    assert_int_equal(a.n, 7);
    assert_string_equal(a.values[0], "x");
    assert_string_equal(a.values[1], "-1795622400000000");
    assert_true(strtod(a.values[2], NULL) == 30.274100000000001);   /* exact round trip */
    assert_string_equal(a.values[3], "true");
    assert_string_equal(a.values[4], "false");
    assert_null(a.values[5]);
    assert_int_equal(a.formats[6], 1);
    assert_int_equal(a.lengths[6], 3);
    assert_memory_equal(a.values[6], blob, 3);
    for (int i = 0; i < 6; i++)
        assert_int_equal(a.formats[i], 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_skills_csv),
        cmocka_unit_test(test_args),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
