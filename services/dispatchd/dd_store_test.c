/* Unit tests for dd_store's pure parts: skills text, the statement table and
 * the deadlines' parse (from results built in memory). */
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
    assert_int_equal(cc_stmt_nparams(&dd_stmts[DD_ST_RELEASED_BUMP]), 32);
}

/* A result as dd_load_deadlines answers: rows of {service, 6 numbers}. */
static PGresult *s_deadlines(const char *const (*rows)[7], int n)
{
    static const char *const names[7] = {"service", "offer_s", "assign_s", "checkin_s",
                                         "checkout_s", "confirm_s", "overdue_s"};
    PGresAttDesc att[7];
    memset(att, 0, sizeof att);
    for (int c = 0; c < 7; c++)
        att[c].name = (char *) names[c];
    PGresult *res = PQmakeEmptyPGresult(NULL, PGRES_TUPLES_OK);
    assert_non_null(res);
    assert_true(PQsetResultAttrs(res, 7, att));
    for (int r = 0; r < n; r++)
        for (int c = 0; c < 7; c++)
            assert_true(PQsetvalue(res, r, c, (char *) rows[r][c], (int) strlen(rows[r][c])));
    return res;
}

/* Every visit service needs its row; each value is range-checked again in
 * C (the table's CHECKs are the first guard); unknown services are
 * skipped; on failure nothing is taken. */
static void test_load_deadlines(void **state)
{
    (void) state;
    const char *rows[8][7] = {
        {"bath", "300", "1800", "1800", "3600", "86400", "900"},
        {"cleaning", "301", "1801", "1801", "3601", "86401", "901"},
        {"escort", "1", "1", "0", "0", "1", "0"},
        {"medical_escort", "86400", "604800", "86400", "86400", "604800", "86400"},
        {"emergency", "60", "900", "900", "3600", "86400", "300"},
        {"visit", "300", "1800", "1800", "3600", "86400", "900"},
        {"assessment", "300", "1800", "1800", "3600", "86400", "900"},
        {"teleport", "0", "0", "0", "0", "0", "0"},   /* not ours: ignored */
    };
    dd_deadlines_t d;
    memset(&d, 0xab, sizeof d);
    const char *what = NULL;
    PGresult *res = s_deadlines(rows, 8);
    assert_int_equal(dd_store_load_deadlines(&d, res, &what), 0);
    PQclear(res);
    assert_int_equal(d.svc[DD_SVC_CLEANING].offer_s, 301);
    assert_int_equal(d.svc[DD_SVC_CLEANING].overdue_s, 901);
    assert_int_equal(d.svc[DD_SVC_MEDICAL_ESCORT].assign_s, 604800);
    assert_int_equal(d.svc[DD_SVC_ESCORT].checkin_s, 0);
    for (int s = DD_SVC_BATH; s <= DD_SVC_MAX; s++)
        assert_true(d.loaded[s]);
    assert_false(d.loaded[DD_SVC_MEAL]);

    /* A missing service refuses the whole read, naming it. */
    dd_deadlines_t before = d;
    res = s_deadlines(rows, 6);
    assert_int_equal(dd_store_load_deadlines(&d, res, &what), -1);
    PQclear(res);
    assert_string_equal(what, "assessment");
    assert_memory_equal(&d, &before, sizeof d);
    /* So does a value out of range, naming the field. */
    rows[3][4] = "86401";
    res = s_deadlines(rows, 7);
    assert_int_equal(dd_store_load_deadlines(&d, res, &what), -1);
    PQclear(res);
    assert_string_equal(what, "checkout_s");
    assert_memory_equal(&d, &before, sizeof d);
    /* And a result of another shape. */
    res = PQmakeEmptyPGresult(NULL, PGRES_FATAL_ERROR);
    assert_int_equal(dd_store_load_deadlines(&d, res, &what), -1);
    PQclear(res);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_skills_csv),
        cmocka_unit_test(test_stmts),
        cmocka_unit_test(test_load_deadlines),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
