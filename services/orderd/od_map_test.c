/* Unit tests for od_map: put/get/replace/delete, growth, iteration with
 * deletion. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include "od_map.h"

static int s_vals[5000];

static void test_basic(void **state)
{
    (void)state;
    od_map_t *m = od_map_new();
    assert_non_null(m);
    assert_null(od_map_get(m, "a"));
    assert_int_equal(od_map_put(m, "a", &s_vals[1]), 0);
    assert_int_equal(od_map_put(m, "b", &s_vals[2]), 0);
    assert_ptr_equal(od_map_get(m, "a"), &s_vals[1]);
    assert_int_equal(od_map_put(m, "a", &s_vals[3]), 0);   /* replace */
    assert_ptr_equal(od_map_get(m, "a"), &s_vals[3]);
    assert_int_equal(od_map_size(m), 2);
    assert_ptr_equal(od_map_del(m, "a"), &s_vals[3]);
    assert_null(od_map_del(m, "a"));
    assert_null(od_map_get(m, "a"));
    assert_int_equal(od_map_size(m), 1);
    od_map_destroy(&m);
    assert_null(m);
    od_map_destroy(&m);   /* NULL is fine */
}

static int s_drop_even(const char *key, void *value, void *arg)
{
    (void)key;
    int *visited = arg;
    (*visited)++;
    return ((int *)value - s_vals) % 2 == 0;
}

static void test_grow_and_each(void **state)
{
    (void)state;
    od_map_t *m = od_map_new();
    char k[32];
    for (int i = 0; i < 5000; i++) {
        snprintf(k, sizeof k, "key-%d", i);
        assert_int_equal(od_map_put(m, k, &s_vals[i]), 0);
    }
    assert_int_equal(od_map_size(m), 5000);
    for (int i = 0; i < 5000; i++) {
        snprintf(k, sizeof k, "key-%d", i);
        assert_ptr_equal(od_map_get(m, k), &s_vals[i]);
    }
    int visited = 0;
    od_map_each(m, s_drop_even, &visited);
    assert_int_equal(visited, 5000);
    assert_int_equal(od_map_size(m), 2500);
    for (int i = 0; i < 5000; i++) {
        snprintf(k, sizeof k, "key-%d", i);
        if (i % 2)
            assert_ptr_equal(od_map_get(m, k), &s_vals[i]);
        else
            assert_null(od_map_get(m, k));
    }
    od_map_destroy(&m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_basic),
        cmocka_unit_test(test_grow_and_each),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
