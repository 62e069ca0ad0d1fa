/* bd_map unit tests. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "bd_map.h"

static void test_put_get_replace_remove(void **state)
{
    (void)state;
    bd_map_t *m = bd_map_new();
    assert_non_null(m);
    int a = 1, b = 2, c = 3;
    void *old = &c;
    assert_int_equal(bd_map_put(m, "a", &a, &old), 0);
    assert_null(old);
    assert_int_equal(bd_map_put(m, "b", &b, NULL), 0);
    assert_ptr_equal(bd_map_get(m, "a"), &a);
    assert_ptr_equal(bd_map_get(m, "b"), &b);
    assert_null(bd_map_get(m, "c"));
    assert_int_equal(bd_map_put(m, "a", &c, &old), 0);
    assert_ptr_equal(old, &a);
    assert_ptr_equal(bd_map_get(m, "a"), &c);
    assert_int_equal(bd_map_size(m), 2);
    assert_ptr_equal(bd_map_remove(m, "a"), &c);
    assert_null(bd_map_remove(m, "a"));
    assert_null(bd_map_get(m, "a"));
    assert_int_equal(bd_map_size(m), 1);
    bd_map_destroy(&m, NULL);
    assert_null(m);
    bd_map_destroy(&m, NULL);   /* NULL is fine */
}

static void s_count(const char *key, void *value, void *arg)
{
    (void)key;
    *(long *)arg += *(int *)value;
}

/* Many keys with churn: grows, reuses tombstones, never loses a key. */
static void test_many_keys_with_churn(void **state)
{
    (void)state;
    bd_map_t *m = bd_map_new();
    char key[32];
    enum { N = 20000 };
    for (int i = 0; i < N; i++) {
        int *v = malloc(sizeof *v);
        *v = i;
        snprintf(key, sizeof key, "k%d", i);
        assert_int_equal(bd_map_put(m, key, v, NULL), 0);
    }
    for (int i = 0; i < N; i += 2) {
        snprintf(key, sizeof key, "k%d", i);
        free(bd_map_remove(m, key));
    }
    for (int round = 0; round < 5; round++) {
        for (int i = 0; i < N; i += 2) {
            snprintf(key, sizeof key, "t%d", i);
            int *v = malloc(sizeof *v);
            *v = 0;
            assert_int_equal(bd_map_put(m, key, v, NULL), 0);
        }
        for (int i = 0; i < N; i += 2) {
            snprintf(key, sizeof key, "t%d", i);
            free(bd_map_remove(m, key));
        }
    }
    assert_int_equal(bd_map_size(m), N / 2);
    for (int i = 1; i < N; i += 2) {
        snprintf(key, sizeof key, "k%d", i);
        int *v = bd_map_get(m, key);
        assert_non_null(v);
        assert_int_equal(*v, i);
    }
    long sum = 0;
    bd_map_foreach(m, s_count, &sum);
    assert_int_equal(sum, (long)(N / 2) * (N / 2));   /* sum of odd numbers < N */
    bd_map_destroy(&m, free);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_put_get_replace_remove),
        cmocka_unit_test(test_many_keys_with_churn),
    };
    return cmocka_run_group_tests_name("bd_map", tests, NULL, NULL);
}
