/* Tests for cc_map: put/replace/get/remove, copied keys, growth to daemon
 * sizes, tombstone churn, iteration with removal (callback and cursor),
 * destroy with a free function, and failing every allocation in turn. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cc_map.h"

/* ---- allocation hook: counts, remembers the largest block, fails one ---- */
static long s_fail_at = -1;    /* allocation number to fail, -1 none */
static long s_count;           /* allocations since s_fail_nth */
static size_t s_largest;       /* largest block asked for since s_fail_nth */

static void *s_test_alloc(size_t size)
{
    if (size > s_largest)
        s_largest = size;
    return s_count++ == s_fail_at ? NULL : malloc(size);
}

static void s_fail_nth(long n)
{
    s_fail_at = n;
    s_count = 0;
    s_largest = 0;
}

static int s_setup(void **state)
{
    (void)state;
    s_fail_nth(-1);
    cc_map_set_alloc_hook(s_test_alloc);
    return 0;
}

static int s_teardown(void **state)
{
    (void)state;
    cc_map_set_alloc_hook(NULL);
    return 0;
}

static void test_put_get_replace_remove(void **state)
{
    (void)state;
    cc_map_t *m = cc_map_new();
    assert_non_null(m);
    int a = 1, b = 2, c = 3;
    void *old = &c;
    assert_null(cc_map_get(m, "a"));
    assert_int_equal(cc_map_put(m, "a", &a, &old), 0);
    assert_null(old);                                   /* new key */
    assert_int_equal(cc_map_put(m, "b", &b, NULL), 0);
    assert_int_equal(cc_map_put(m, "", &c, NULL), 0);   /* the empty key is a key */
    assert_ptr_equal(cc_map_get(m, "a"), &a);
    assert_ptr_equal(cc_map_get(m, "b"), &b);
    assert_ptr_equal(cc_map_get(m, ""), &c);
    assert_null(cc_map_get(m, "c"));
    assert_int_equal(cc_map_size(m), 3);

    assert_int_equal(cc_map_put(m, "a", &c, &old), 0);   /* replace */
    assert_ptr_equal(old, &a);
    assert_ptr_equal(cc_map_get(m, "a"), &c);
    assert_int_equal(cc_map_put(m, "a", &b, NULL), 0);
    assert_ptr_equal(cc_map_get(m, "a"), &b);
    assert_int_equal(cc_map_size(m), 3);

    assert_ptr_equal(cc_map_remove(m, "a"), &b);
    assert_null(cc_map_remove(m, "a"));
    assert_null(cc_map_get(m, "a"));
    assert_null(cc_map_remove(m, "never"));
    assert_int_equal(cc_map_size(m), 2);
    assert_int_equal(cc_map_put(m, "a", &a, &old), 0);   /* back again */
    assert_null(old);
    assert_ptr_equal(cc_map_get(m, "a"), &a);
    assert_int_equal(cc_map_size(m), 3);
    cc_map_destroy(&m, NULL);
    assert_null(m);
}

static void test_keys_are_copied(void **state)
{
    (void)state;
    cc_map_t *m = cc_map_new();
    char key[16];
    int v = 7;
    snprintf(key, sizeof key, "order-1");
    assert_int_equal(cc_map_put(m, key, &v, NULL), 0);
    snprintf(key, sizeof key, "order-2");   /* the caller reuses its buffer */
    assert_ptr_equal(cc_map_get(m, "order-1"), &v);
    assert_null(cc_map_get(m, "order-2"));
    cc_map_destroy(&m, NULL);
}

/* Daemon-sized: grows from 16 slots to hold 200k UUID-like keys. */
static void test_growth(void **state)
{
    (void)state;
    enum { N = 200000 };
    static int vals[N];
    cc_map_t *m = cc_map_new();
    char key[48];
    for (int i = 0; i < N; i++) {
        snprintf(key, sizeof key, "c0000000-0000-4000-8000-%012d", i);
        assert_int_equal(cc_map_put(m, key, &vals[i], NULL), 0);
    }
    assert_int_equal(cc_map_size(m), N);
    for (int i = 0; i < N; i++) {
        snprintf(key, sizeof key, "c0000000-0000-4000-8000-%012d", i);
        assert_ptr_equal(cc_map_get(m, key), &vals[i]);
    }
    assert_null(cc_map_get(m, "c0000000-0000-4000-8000-999999999999"));
    /* the table stays within 4 slots per entry (<= 50 % after a rehash) */
    assert_true(s_largest <= 4 * (size_t)N * 24);
    cc_map_destroy(&m, NULL);
}

/* Insert/remove cycles reuse tombstones: the table does not keep growing,
 * and keys placed behind removed ones stay reachable. */
static void test_churn(void **state)
{
    (void)state;
    cc_map_t *m = cc_map_new();
    char key[32];
    int stay[100];
    for (int i = 0; i < 100; i++) {
        snprintf(key, sizeof key, "stay-%d", i);
        assert_int_equal(cc_map_put(m, key, &stay[i], NULL), 0);
    }
    s_fail_nth(-1);
    for (int round = 0; round < 50000; round++) {
        snprintf(key, sizeof key, "r%d", round);
        assert_int_equal(cc_map_put(m, key, m, NULL), 0);
        if (round >= 32) {
            snprintf(key, sizeof key, "r%d", round - 32);
            assert_ptr_equal(cc_map_remove(m, key), m);
        }
    }
    assert_int_equal(cc_map_size(m), 132);
    assert_true(s_largest <= 512 * 24);   /* sized for ~132 live, not 50k */
    for (int i = 0; i < 100; i++) {
        snprintf(key, sizeof key, "stay-%d", i);
        assert_ptr_equal(cc_map_get(m, key), &stay[i]);
    }
    cc_map_destroy(&m, NULL);
}

static int s_vals[5000];

static int s_drop_even(const char *key, void *value, void *arg)
{
    int *visited = arg;
    int i = (int)((int *)value - s_vals);
    char want[32];
    snprintf(want, sizeof want, "key-%d", i);
    assert_string_equal(key, want);
    (*visited)++;
    return i % 2 == 0;
}

static void test_each_removes_on_request(void **state)
{
    (void)state;
    cc_map_t *m = cc_map_new();
    char k[32];
    for (int i = 0; i < 5000; i++) {
        snprintf(k, sizeof k, "key-%d", i);
        assert_int_equal(cc_map_put(m, k, &s_vals[i], NULL), 0);
    }
    int visited = 0;
    cc_map_each(m, s_drop_even, &visited);
    assert_int_equal(visited, 5000);
    assert_int_equal(cc_map_size(m), 2500);
    for (int i = 0; i < 5000; i++) {
        snprintf(k, sizeof k, "key-%d", i);
        if (i % 2)
            assert_ptr_equal(cc_map_get(m, k), &s_vals[i]);
        else
            assert_null(cc_map_get(m, k));
    }
    visited = 0;
    cc_map_each(m, s_drop_even, &visited);   /* odd ones only: nothing goes */
    assert_int_equal(visited, 2500);
    assert_int_equal(cc_map_size(m), 2500);
    /* the map still takes puts after a walk */
    assert_int_equal(cc_map_put(m, "key-0", &s_vals[0], NULL), 0);
    assert_int_equal(cc_map_size(m), 2501);
    cc_map_destroy(&m, NULL);
}

typedef struct {
    cc_map_t *m;
    int visited;
} s_walk_t;

/* Removes the value's partner ("key-i" removes "key-(i^1)") as well. */
static int s_drop_partner(const char *key, void *value, void *arg)
{
    (void)key;
    s_walk_t *w = arg;
    int i = (int)((int *)value - s_vals);
    char partner[32];
    snprintf(partner, sizeof partner, "key-%d", i ^ 1);
    w->visited++;
    cc_map_remove(w->m, partner);
    return 0;
}

static void test_each_may_remove_others(void **state)
{
    (void)state;
    cc_map_t *m = cc_map_new();
    char k[32];
    for (int i = 0; i < 1000; i++) {
        snprintf(k, sizeof k, "key-%d", i);
        assert_int_equal(cc_map_put(m, k, &s_vals[i], NULL), 0);
    }
    s_walk_t w = { m, 0 };
    cc_map_each(m, s_drop_partner, &w);
    /* of each pair, the one met first stays and removes the other */
    assert_int_equal(w.visited, 500);
    assert_int_equal(cc_map_size(m), 500);
    cc_map_destroy(&m, NULL);
}

static void test_next_cursor(void **state)
{
    (void)state;
    cc_map_t *m = cc_map_new();
    size_t pos = 0;
    assert_null(cc_map_next(m, &pos));   /* empty */
    char k[32];
    for (int i = 0; i < 3000; i++) {
        snprintf(k, sizeof k, "key-%d", i);
        assert_int_equal(cc_map_put(m, k, &s_vals[i], NULL), 0);
    }
    static char seen[3000];
    memset(seen, 0, sizeof seen);
    int n = 0;
    int *v;
    pos = 0;
    while ((v = cc_map_next(m, &pos))) {
        int i = (int)(v - s_vals);
        assert_false(seen[i]);
        seen[i] = 1;
        n++;
        if (i % 3 == 0) {   /* removing the current entry mid-walk is safe */
            snprintf(k, sizeof k, "key-%d", i);
            assert_ptr_equal(cc_map_remove(m, k), v);
        }
    }
    assert_int_equal(n, 3000);
    assert_int_equal(cc_map_size(m), 2000);
    assert_null(cc_map_next(m, &pos));   /* stays at the end */
    n = 0;
    pos = 0;
    while ((v = cc_map_next(m, &pos))) {
        assert_true((v - s_vals) % 3 != 0);
        n++;
    }
    assert_int_equal(n, 2000);
    cc_map_destroy(&m, NULL);
}

static int s_freed;

static void s_free_counted(void *value)
{
    s_freed++;
    free(value);
}

static void test_destroy(void **state)
{
    (void)state;
    cc_map_destroy(NULL, NULL);
    cc_map_t *m = NULL;
    cc_map_destroy(&m, s_free_counted);   /* NULL map: nothing to free */
    m = cc_map_new();
    char k[32];
    for (int i = 0; i < 100; i++) {
        snprintf(k, sizeof k, "k%d", i);
        assert_int_equal(cc_map_put(m, k, malloc(8), NULL), 0);
    }
    for (int i = 0; i < 10; i++) {
        snprintf(k, sizeof k, "k%d", i);
        free(cc_map_remove(m, k));
    }
    s_freed = 0;
    cc_map_destroy(&m, s_free_counted);   /* removed values are not freed again */
    assert_int_equal(s_freed, 90);
    assert_null(m);
    cc_map_destroy(&m, s_free_counted);
    assert_int_equal(s_freed, 90);
}

/* Builds a map of n keys with k[i] -> &s_vals[i]. Every failed step must
 * report it and leave the map as it was. Returns 1 when all succeeded. */
static int s_scenario(int n)
{
    cc_map_t *m = cc_map_new();
    if (!m)
        return 0;
    int ok = 1;
    char k[32];
    for (int i = 0; i < n && ok; i++) {
        snprintf(k, sizeof k, "key-%d", i);
        void *old = &s_vals[0];
        if (cc_map_put(m, k, &s_vals[i], &old) != 0) {
            assert_null(cc_map_get(m, k));
            assert_int_equal(cc_map_size(m), (size_t)i);
            ok = 0;
        } else {
            assert_null(old);
        }
    }
    for (int i = 0; i < n && ok; i++) {   /* what went in is intact */
        snprintf(k, sizeof k, "key-%d", i);
        assert_ptr_equal(cc_map_get(m, k), &s_vals[i]);
    }
    if (!ok) {   /* what went in before the failure is intact */
        size_t size = cc_map_size(m);
        for (size_t i = 0; i < size; i++) {
            snprintf(k, sizeof k, "key-%zu", i);
            assert_ptr_equal(cc_map_get(m, k), &s_vals[i]);
        }
    }
    /* replacing and removing never allocate */
    long before = s_count;
    if (cc_map_size(m) > 0) {
        assert_int_equal(cc_map_put(m, "key-0", &s_vals[1], NULL), 0);
        assert_ptr_equal(cc_map_remove(m, "key-0"), &s_vals[1]);
    }
    assert_int_equal(s_count, before);
    cc_map_destroy(&m, NULL);   /* LeakSanitizer (ASan build) checks the rest */
    return ok;
}

static void test_fail_each_allocation(void **state)
{
    (void)state;
    enum { N = 300 };   /* enough to rehash several times */
    s_fail_nth(-1);
    assert_int_equal(s_scenario(N), 1);
    long total = s_count;
    assert_true(total > N);   /* keys + tables + the map */
    long n;
    for (n = 0; n < total + 10; n++) {
        s_fail_nth(n);
        if (s_scenario(N))
            break;
    }
    s_fail_nth(-1);
    assert_int_equal(n, total);   /* each allocation failed once, and survived */
}

/* A put that fails in the rehash keeps the map and can be retried. */
static void test_put_failure_keeps_map(void **state)
{
    (void)state;
    cc_map_t *m = cc_map_new();
    char k[16];
    for (int i = 0; i < 200; i++) {
        snprintf(k, sizeof k, "k%d", i);
        s_fail_nth(0);   /* the key copy */
        assert_int_equal(cc_map_put(m, k, &s_vals[i], NULL), -1);
        assert_null(cc_map_get(m, k));
        s_fail_nth(1);   /* the rehash, when this put needs one */
        int rc = cc_map_put(m, k, &s_vals[i], NULL);
        if (rc != 0) {
            assert_null(cc_map_get(m, k));
            s_fail_nth(-1);
            assert_int_equal(cc_map_put(m, k, &s_vals[i], NULL), 0);
        }
        assert_int_equal(cc_map_size(m), (size_t)i + 1);
    }
    s_fail_nth(-1);
    for (int i = 0; i < 200; i++) {
        snprintf(k, sizeof k, "k%d", i);
        assert_ptr_equal(cc_map_get(m, k), &s_vals[i]);
    }
    cc_map_destroy(&m, NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_put_get_replace_remove, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_keys_are_copied, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_growth, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_churn, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_each_removes_on_request, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_each_may_remove_others, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_next_cursor, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_destroy, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_fail_each_allocation, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_put_failure_keeps_map, s_setup, s_teardown),
    };
    return cmocka_run_group_tests_name("cc_map", tests, NULL, NULL);
}
