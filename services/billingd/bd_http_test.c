/* bd_http unit tests: the route table the runtime guards. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>
#include "bd_http.h"

static const cc_http_route_t *s_route(const char *method, const char *pattern)
{
    for (const cc_http_route_t *r = bd_http_routes; r->method; r++)
        if (strcmp(r->method, method) == 0 && strcmp(r->pattern, pattern) == 0)
            return r;
    return NULL;
}

/* The guards check and lower-case only captures named "id" or "*_id": a
 * card or order capture under another name would reach the maps unchecked
 * and in whatever case the client sent. */
static void test_id_captures_are_guarded(void **state)
{
    (void)state;
    int ids = 0;
    for (const cc_http_route_t *r = bd_http_routes; r->method; r++) {
        assert_non_null(r->fn);
        assert_int_equal(r->pattern[0], '/');
        for (const char *p = strchr(r->pattern, '{'); p; p = strchr(p + 1, '{')) {
            const char *end = strchr(p, '}');
            assert_non_null(end);
            size_t n = (size_t)(end - p - 1);
            if (n == strlen("service") && strncmp(p + 1, "service", n) == 0)
                continue;   /* a name from the price list, not an id */
            assert_true(n > 3 && strncmp(end - 3, "_id", 3) == 0);
            ids++;
        }
    }
    assert_int_equal(ids, 4);
}

static void test_write_guards(void **state)
{
    (void)state;
    const cc_http_route_t *topup = s_route("POST", "/v1/cards/{card_id}/topups");
    assert_non_null(topup);
    assert_int_equal(topup->flags, CC_ROUTE_IDEM | CC_ROUTE_JSON);
    const cc_http_route_t *price = s_route("PUT", "/v1/prices/{service}");
    assert_non_null(price);
    assert_int_equal(price->flags, CC_ROUTE_JSON);
    assert_int_equal(s_route("GET", "/v1/holds/{order_id}")->flags, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_id_captures_are_guarded),
        cmocka_unit_test(test_write_guards),
    };
    return cmocka_run_group_tests_name("bd_http", tests, NULL, NULL);
}
