/* bd_http unit tests: the pure request helpers. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>
#include "bd_http.h"

static void test_idempotency_key(void **state)
{
    (void)state;
    char long_key[BD_IDEMPOTENCY_KEY_MAX + 2];
    memset(long_key, 'k', sizeof long_key);
    long_key[BD_IDEMPOTENCY_KEY_MAX] = '\0';
    assert_true(bd_idempotency_key_ok(long_key));
    long_key[BD_IDEMPOTENCY_KEY_MAX] = 'k';
    long_key[BD_IDEMPOTENCY_KEY_MAX + 1] = '\0';
    assert_false(bd_idempotency_key_ok(long_key));
    assert_true(bd_idempotency_key_ok("topup-2026-11-26/01"));
    assert_false(bd_idempotency_key_ok(""));
    assert_false(bd_idempotency_key_ok(NULL));
    assert_false(bd_idempotency_key_ok("with space"));
    assert_false(bd_idempotency_key_ok("tab\t"));
    assert_false(bd_idempotency_key_ok("\xe5\x8d\xa1"));   /* non-ASCII */
}

static void test_uuid_norm(void **state)
{
    (void)state;
    char out[37];
    assert_int_equal(bd_uuid_norm("E514348C-5B4E-46E5-A532-759F59FB5572", out), 0);
    assert_string_equal(out, "e514348c-5b4e-46e5-a532-759f59fb5572");
    assert_int_equal(bd_uuid_norm("e514348c-5b4e-46e5-a532-759f59fb557", out), -1);
    assert_int_equal(bd_uuid_norm("e514348c-5b4e-46e5-a532-759f59fb55722", out), -1);
    assert_int_equal(bd_uuid_norm("../../etc/passwd", out), -1);
    assert_int_equal(bd_uuid_norm(NULL, out), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_idempotency_key),
        cmocka_unit_test(test_uuid_norm),
    };
    return cmocka_run_group_tests_name("bd_http", tests, NULL, NULL);
}
