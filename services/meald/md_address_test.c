/* Unit tests for md_meal_address: a meal's sealed address opens for the
 * meal it was sealed for, with meald's transit key; a copy moved to
 * another meal, one sealed for dispatchd, or one under an unknown key does
 * not (planted violations). The state keeps its own copy of the bytes. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>
#include "md_app.h"

static const char *O1 = "0f4d3c3e-8c0b-4a53-9d5e-2a1f3b9c7d10";
static const char *O2 = "1a2b3c4d-8c0b-4a53-9d5e-2a1f3b9c7d10";
static const char ADDR[] = "杭州市拱墅区某路12号";

static cc_seal_t *s_ring(int fill)
{
    uint8_t k[CC_SEAL_KEY_LEN];
    memset(k, fill, sizeof k);
    cc_seal_t *s = cc_seal_new(k, NULL);
    assert_non_null(s);
    return s;
}

static void test_meal_address(void **state)
{
    (void)state;
    md_app_t app;
    memset(&app, 0, sizeof app);
    app.address_keys = s_ring(7);
    cc_seal_t *other = s_ring(8);
    md_meal_t m;
    memset(&m, 0, sizeof m);
    snprintf(m.order_id, sizeof m.order_id, "%s", O1);
    char buf[CC_ADDRESS_MAX + 1];
    /* None: -1. */
    assert_int_equal(md_meal_address(&app, &m, buf, sizeof buf), -1);
    size_t n = 0;
    uint8_t *b = cc_seal_address(app.address_keys, "meald", O1, ADDR, &n);
    m.address_sealed = b;
    m.address_sealed_len = n;
    assert_int_equal(md_meal_address(&app, &m, buf, sizeof buf), 0);
    assert_string_equal(buf, ADDR);
    /* Moved to another meal: refused. */
    snprintf(m.order_id, sizeof m.order_id, "%s", O2);
    assert_int_equal(md_meal_address(&app, &m, buf, sizeof buf), -1);
    assert_string_equal(buf, "");
    snprintf(m.order_id, sizeof m.order_id, "%s", O1);
    /* Sealed for dispatchd, or under another key: refused. */
    size_t n2 = 0;
    uint8_t *d = cc_seal_address(app.address_keys, "dispatchd", O1, ADDR, &n2);
    m.address_sealed = d;
    m.address_sealed_len = n2;
    assert_int_equal(md_meal_address(&app, &m, buf, sizeof buf), -1);
    free(d);
    d = cc_seal_address(other, "meald", O1, ADDR, &n2);
    m.address_sealed = d;
    m.address_sealed_len = n2;
    assert_int_equal(md_meal_address(&app, &m, buf, sizeof buf), -1);
    free(d);
    free(b);
    cc_seal_destroy(&other);
    cc_seal_destroy(&app.address_keys);
}

/* md_meal_load copies the sealed bytes: the caller's buffer may go. */
static void test_state_keeps_a_copy(void **state)
{
    (void)state;
    md_app_t app;
    memset(&app, 0, sizeof app);
    app.address_keys = s_ring(7);
    md_state_t *st = md_state_new();
    assert_non_null(st);
    md_meal_t m;
    memset(&m, 0, sizeof m);
    snprintf(m.order_id, sizeof m.order_id, "%s", O1);
    m.status = MD_MEAL_REFUSED;
    size_t n = 0;
    uint8_t *b = cc_seal_address(app.address_keys, "meald", O1, ADDR, &n);
    m.address_sealed = b;
    m.address_sealed_len = n;
    md_meal_t *kept = md_meal_load(st, &m);
    assert_non_null(kept);
    assert_ptr_not_equal(kept->address_sealed, b);
    memset(b, 0, n);
    free(b);
    char buf[CC_ADDRESS_MAX + 1];
    assert_int_equal(md_meal_address(&app, kept, buf, sizeof buf), 0);
    assert_string_equal(buf, ADDR);
    md_meal_forget(st, &kept);
    md_state_destroy(&st);
    cc_seal_destroy(&app.address_keys);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_meal_address),
        cmocka_unit_test(test_state_keeps_a_copy),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
