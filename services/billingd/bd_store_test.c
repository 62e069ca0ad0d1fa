/* bd_store unit tests: the array literals handed to the SQL functions. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>
#include "bd_store.h"

static void test_arrays(void **state)
{
    (void)state;
    bd_postings_t p;
    bd_postings_init(&p);
    bd_postings_add(&p, "card:c1:available", -6000);
    bd_postings_add(&p, "provider:a\"b\\c,d{e}", 6000);
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_arrays),
        cmocka_unit_test(test_empty_and_extremes),
    };
    return cmocka_run_group_tests_name("bd_store", tests, NULL, NULL);
}
