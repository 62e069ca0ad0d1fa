/* Tests for cc_revoke's table: gens only rise, whatever order entries
 * arrive in; disabled and older tokens are refused; nothing is decided
 * before the first load. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "cc_revoke.h"

#define A "0f8fad5b-d9cb-469f-a165-70867728950e"
#define B "7c9e6679-7425-40de-944b-e07fc1f90ae7"

static void test_verdicts(void **state)
{
    (void)state;
    cc_revoke_t *t = cc_revoke_new();
    assert_non_null(t);
    assert_int_equal(cc_revoke_check(t, A, 0), CC_REVOKE_NOT_LOADED);
    cc_revoke_set_loaded(t);
    assert_int_equal(cc_revoke_check(t, A, 0), CC_REVOKE_OK);     /* never changed */
    assert_int_equal(cc_revoke_set(t, A, 2, 0), 0);
    assert_int_equal(cc_revoke_check(t, A, 1), CC_REVOKE_REVOKED);
    assert_int_equal(cc_revoke_check(t, A, 2), CC_REVOKE_OK);
    assert_int_equal(cc_revoke_check(t, A, 3), CC_REVOKE_OK);
    assert_int_equal(cc_revoke_check(t, B, 0), CC_REVOKE_OK);
    assert_int_equal(cc_revoke_set(t, B, 1, 1), 0);
    assert_int_equal(cc_revoke_check(t, B, 1), CC_REVOKE_REVOKED);
    assert_int_equal(cc_revoke_check(t, B, 9), CC_REVOKE_REVOKED);  /* disabled: any gen */
    assert_int_equal(cc_revoke_size(t), 2);
    assert_int_equal(cc_revoke_disabled(t), 1);
    cc_revoke_destroy(&t);
    assert_null(t);
    cc_revoke_destroy(&t);
}

static void test_gens_only_rise(void **state)
{
    (void)state;
    cc_revoke_t *t = cc_revoke_new();
    cc_revoke_set_loaded(t);
    int dis = -1;
    assert_int_equal(cc_revoke_set(t, A, 3, 1), 0);
    assert_int_equal(cc_revoke_set(t, A, 2, 0), 0);    /* an older event: ignored */
    assert_int_equal(cc_revoke_gen(t, A, &dis), 3);
    assert_int_equal(dis, 1);
    assert_int_equal(cc_revoke_set(t, A, 3, 0), 0);    /* same gen: stays disabled */
    assert_int_equal(cc_revoke_check(t, A, 3), CC_REVOKE_REVOKED);
    assert_int_equal(cc_revoke_set(t, A, 4, 0), 0);    /* re-enabled at a new gen */
    assert_int_equal(cc_revoke_check(t, A, 3), CC_REVOKE_REVOKED);
    assert_int_equal(cc_revoke_check(t, A, 4), CC_REVOKE_OK);
    assert_int_equal(cc_revoke_disabled(t), 0);
    assert_int_equal(cc_revoke_gen(t, B, &dis), 0);
    assert_int_equal(dis, 0);
    cc_revoke_destroy(&t);
}

static void test_bad_input(void **state)
{
    (void)state;
    cc_revoke_t *t = cc_revoke_new();
    char long_id[CC_JWT_SUB_MAX + 2];
    memset(long_id, 'a', sizeof long_id - 1);
    long_id[sizeof long_id - 1] = '\0';
    assert_int_equal(cc_revoke_set(t, "", 1, 0), -1);
    assert_int_equal(cc_revoke_set(t, NULL, 1, 0), -1);
    assert_int_equal(cc_revoke_set(t, long_id, 1, 0), -1);
    assert_int_equal(cc_revoke_set(t, A, -1, 0), -1);
    assert_int_equal(cc_revoke_size(t), 0);
    cc_revoke_destroy(&t);
}

static void test_default_table(void **state)
{
    (void)state;
    cc_revoke_t *t = cc_revoke_default();
    assert_non_null(t);
    assert_ptr_equal(t, cc_revoke_default());
    cc_jwt_claims_t c;
    memset(&c, 0, sizeof c);
    strcpy(c.sub, A);
    c.gen = 0;
    assert_int_equal(cc_revoke_ok(&c), 0);     /* not loaded: refused */
    cc_revoke_set_loaded(t);
    assert_int_equal(cc_revoke_ok(&c), 1);
    cc_revoke_set(t, A, 1, 0);
    assert_int_equal(cc_revoke_ok(&c), 0);
    c.gen = 1;
    assert_int_equal(cc_revoke_ok(&c), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_verdicts),
        cmocka_unit_test(test_gens_only_rise),
        cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_default_table),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
