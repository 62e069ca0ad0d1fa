/* Unit tests for md_store's pure parts: the statement table and the
 * deadlines' parse (from results built in memory). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "md_store.h"

static PGresult *s_deadlines(const char *const (*rows)[3], int n)
{
    static const char *const names[3] = {"slot", "deliver_s", "overdue_s"};
    PGresAttDesc att[3];
    memset(att, 0, sizeof att);
    for (int c = 0; c < 3; c++)
        att[c].name = (char *)names[c];
    PGresult *res = PQmakeEmptyPGresult(NULL, PGRES_TUPLES_OK);
    assert_non_null(res);
    assert_true(PQsetResultAttrs(res, 3, att));
    for (int r = 0; r < n; r++)
        for (int c = 0; c < 3; c++)
            assert_true(PQsetvalue(res, r, c, (char *)rows[r][c], (int)strlen(rows[r][c])));
    return res;
}

/* Both slots need their row; values are range-checked again in C; on
 * failure nothing is taken. */
static void test_load_deadlines(void **state)
{
    (void)state;
    const char *rows[3][3] = {
        {"dinner", "0", "86400"}, {"lunch", "3600", "1800"}, {"breakfast", "-5", "-5"},
    };
    md_deadline_rule_t d[MD_NSLOTS];
    const char *what = NULL;
    PGresult *res = s_deadlines(rows, 3);
    assert_int_equal(md_store_load_deadlines(d, res, &what), 0);
    PQclear(res);
    assert_int_equal(d[MD_LUNCH].deliver_s, 3600);
    assert_int_equal(d[MD_LUNCH].overdue_s, 1800);
    assert_int_equal(d[MD_DINNER].deliver_s, 0);
    assert_int_equal(d[MD_DINNER].overdue_s, 86400);
    md_deadline_rule_t before[MD_NSLOTS];
    memcpy(before, d, sizeof d);
    res = s_deadlines(rows, 1);
    assert_int_equal(md_store_load_deadlines(d, res, &what), -1);
    PQclear(res);
    assert_string_equal(what, "lunch");
    rows[1][2] = "86401";
    res = s_deadlines(rows, 2);
    assert_int_equal(md_store_load_deadlines(d, res, &what), -1);
    PQclear(res);
    assert_string_equal(what, "overdue_s");
    assert_memory_equal(d, before, sizeof d);
}

/* Every slot filled, names unique, functions meald's (md_) or common (cc_). */
static void test_stmts(void **state)
{
    (void)state;
    for (int i = 0; i < MD_ST_COUNT; i++) {
        const cc_stmt_t *st = &md_stmts[i];
        assert_non_null(st->name);
        assert_true(st->fn ? strncmp(st->fn, "md_", 3) == 0 || strncmp(st->fn, "cc_", 3) == 0
                           : st->sql != NULL);
        for (int j = 0; j < i; j++)
            assert_string_not_equal(st->name, md_stmts[j].name);
    }
    assert_null(md_stmts[MD_ST_COUNT].name);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_load_deadlines),
        cmocka_unit_test(test_stmts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
