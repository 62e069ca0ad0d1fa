/* bd_store unit tests: the statement table and the array literals handed to
 * the SQL functions. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>
#include "bd_store.h"

/* A card pays provider `provider` 6000 fen. */
static void s_payment(bd_postings_t *p, const char *provider)
{
    bd_postings_init(p);
    bd_postings_add(p, "card:c1:available", -6000);
    bd_postings_add(p, provider, 6000);
}

static void test_arrays(void **state)
{
    (void)state;
    bd_postings_t p;
    s_payment(&p, "provider:a\"b\\c,d{e}");
    char *t = bd_pg_text_array(&p);
    char *n = bd_pg_bigint_array(&p);
    assert_string_equal(t, "{\"card:c1:available\",\"provider:a\\\"b\\\\c,d{e}\"}");
    assert_string_equal(n, "{-6000,6000}");
    free(t);
    free(n);
}

static void test_empty_and_extremes(void **state)
{
    (void)state;
    bd_postings_t p;
    bd_postings_init(&p);
    char *t = bd_pg_text_array(&p);
    char *n = bd_pg_bigint_array(&p);
    assert_string_equal(t, "{}");
    assert_string_equal(n, "{}");
    free(t);
    free(n);
    bd_postings_add(&p, "a", INT64_MIN + 1);
    bd_postings_add(&p, "b", INT64_MAX);
    bd_postings_add(&p, "c", -1);
    bd_postings_add(&p, "d", 1);
    n = bd_pg_bigint_array(&p);
    assert_string_equal(n, "{-9223372036854775807,9223372036854775807,-1,1}");
    free(n);
}

/* Every slot of the table is filled (a statement added to the enum but not
 * to the table would be prepared as nothing), names are unique, and the
 * postings reach the ledger functions as typed arrays. */
static void test_table(void **state)
{
    (void)state;
    for (int i = 0; i < BD_ST_COUNT; i++) {
        assert_non_null(bd_stmts[i].name);
        assert_true(bd_stmts[i].fn || bd_stmts[i].sql);
        for (int j = 0; j < i; j++)
            assert_string_not_equal(bd_stmts[i].name, bd_stmts[j].name);
    }
    assert_null(bd_stmts[BD_ST_COUNT].name);
    const char *t = cc_stmt_text(&bd_stmts[BD_ST_TOPUP]);
    assert_non_null(strstr(t, "$10::text[], $11::bigint[])"));
    cc_stmt_free(bd_stmts);
}

static void test_postings_args(void **state)
{
    (void)state;
    bd_postings_t p;
    s_payment(&p, "provider:p");
    cc_args_t a;
    cc_args_init(&a, &bd_stmts[BD_ST_ORDER_CLOSED]);
    char *accounts = NULL, *amounts = NULL;
    assert_int_equal(bd_store_postings(&a, &p, &accounts, &amounts), 0);
    int ia = 0;
    while (strcmp(bd_stmts[BD_ST_ORDER_CLOSED].params[ia].name, "accounts") != 0)
        ia++;
    assert_string_equal(a.values[ia], "{\"card:c1:available\",\"provider:p\"}");
    assert_string_equal(a.values[ia + 1], "{-6000,6000}");
    assert_int_equal(a.set, (1u << ia) | (1u << (ia + 1)));
    free(accounts);
    free(amounts);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_arrays),
        cmocka_unit_test(test_empty_and_extremes),
        cmocka_unit_test(test_table),
        cmocka_unit_test(test_postings_args),
    };
    return cmocka_run_group_tests_name("bd_store", tests, NULL, NULL);
}
