/* Unit tests for dd_store's pure parts: skills text and the statement table. */
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

/* The statement table: every slot filled, names unique, and the functions
 * called are dispatchd's, or the common schema's (cc_: the revocation table
 * of cc_revoke.h); the catalogue check at connect does the rest. */
static void test_stmts(void **state)
{
    (void) state;
    for (int i = 0; i < DD_ST_COUNT; i++) {
        const cc_stmt_t *st = &dd_stmts[i];
        assert_non_null(st->name);
        assert_true(st->conn == CC_STMT_WRITER || st->conn == CC_STMT_READER);
        assert_true(st->fn ? strncmp(st->fn, "dd_", 3) == 0 || strncmp(st->fn, "cc_", 3) == 0
                           : st->sql != NULL);
        for (int j = 0; j < i; j++)
            assert_string_not_equal(st->name, dd_stmts[j].name);
        for (int p = 0; p < cc_stmt_nparams(st); p++)
            for (int q = 0; q < p; q++)
                assert_string_not_equal(st->params[p].name, st->params[q].name);
    }
    assert_null(dd_stmts[DD_ST_COUNT].name);
    assert_int_equal(cc_stmt_nparams(&dd_stmts[DD_ST_RELEASED_BUMP]), 31);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_skills_csv),
        cmocka_unit_test(test_stmts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
