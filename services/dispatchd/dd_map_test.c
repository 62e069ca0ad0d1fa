/* Unit tests for dd_map. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dd_map.h"

static void test_put_get_del(void **state)
{
    (void) state;
    dd_map_t *m = dd_map_new();
    assert_non_null(m);
    static char keys[5000][16];
    for (int i = 0; i < 5000; i++) {
        snprintf(keys[i], sizeof keys[i], "k%d", i);
        assert_int_equal(dd_map_put(m, keys[i], &keys[i]), 0);
    }
    assert_int_equal(dd_map_size(m), 5000);
    for (int i = 0; i < 5000; i++)
        assert_ptr_equal(dd_map_get(m, keys[i]), &keys[i]);
    assert_null(dd_map_get(m, "absent"));
    /* replace keeps the size */
    assert_int_equal(dd_map_put(m, "k7", &keys[8]), 0);
    assert_ptr_equal(dd_map_get(m, "k7"), &keys[8]);
    assert_int_equal(dd_map_size(m), 5000);
    /* delete every other one; the rest stay reachable past tombstones */
    for (int i = 0; i < 5000; i += 2)
        assert_non_null(dd_map_del(m, keys[i]));
    assert_null(dd_map_del(m, keys[0]));
    assert_int_equal(dd_map_size(m), 2500);
    for (int i = 0; i < 5000; i++) {
        if (i % 2)
            assert_non_null(dd_map_get(m, keys[i]));
        else
            assert_null(dd_map_get(m, keys[i]));
    }
    /* iteration visits each live value once */
    size_t pos = 0, n = 0;
    while (dd_map_next(m, &pos))
        n++;
    assert_int_equal(n, 2500);
    dd_map_destroy(&m);
    assert_null(m);
    dd_map_destroy(&m);
}

static void test_churn(void **state)
{
    (void) state;
    /* Insert/delete cycles must not grow without bound (tombstones reused). */
    dd_map_t *m = dd_map_new();
    char key[32];
    static char store[64][32];
    for (int round = 0; round < 20000; round++) {
        snprintf(store[round % 64], sizeof store[0], "r%d", round);
        assert_int_equal(dd_map_put(m, store[round % 64], m), 0);
        if (round >= 32) {
            snprintf(key, sizeof key, "r%d", round - 32);
            assert_ptr_equal(dd_map_del(m, key), m);
        }
    }
    assert_int_equal(dd_map_size(m), 32);
    dd_map_destroy(&m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_put_get_del),
        cmocka_unit_test(test_churn),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
