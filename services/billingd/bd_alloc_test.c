/* Fail-the-Nth-allocation tests for billingd's in-memory modules: every
 * allocation of a realistic sequence (map growth, cards, provider accounts,
 * holds, subsidy usage, rules) is made to fail in turn. Each failure must be
 * reported (NULL / -1), must leave the ledger balanced with no partial
 * effect, and must leak nothing (the ASan build's LeakSanitizer checks). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>
#include "bd_alloc.h"
#include "bd_ledger.h"
#include "bd_pricing.h"
#include "cc_map.h"

static void s_sum(const bd_account_t *a, void *arg)
{
    *(int64_t *)arg += a->balance;
}

static int64_t s_total(bd_ledger_t *l)
{
    int64_t t = 0;
    bd_ledger_foreach_account(l, s_sum, &t);
    return t;
}

static bd_pricing_t *s_pricing(void)
{
    bd_pricing_t *p = bd_pricing_new();
    if (!p)
        return NULL;
    for (int s = 1; s <= BD_SERVICE_MAX; s++)
        bd_pricing_set_price(p, s, 1000 * s);
    for (int i = 0; i < 12; i++) {   /* more than the first capacity: realloc */
        bd_rule_t r = { .rule_id = i + 1, .district_id = -1, .household = "dibao",
                        .age_min = -1, .age_max = -1, .share_bp = 100 * i, .fixed_fen = -1,
                        .monthly_cap_fen = 5000 };
        if (bd_pricing_add_rule(p, &r) < 0) {
            assert_int_equal(bd_pricing_rule_count(p), (size_t)i);   /* nothing half-added */
            bd_pricing_destroy(&p);
            return NULL;
        }
    }
    return p;
}

/* Returns 1 when the whole sequence succeeded, 0 when a step failed (and
 * everything was checked and freed). */
static int s_scenario(void)
{
    bd_pricing_t *p = s_pricing();
    if (!p)
        return 0;
    bd_ledger_t *l = bd_ledger_new();
    if (!l) {
        bd_pricing_destroy(&p);
        return 0;
    }
    int ok = 1;
    char card[BD_ID_LEN], order[BD_ID_LEN], provider[32];
    for (int i = 0; i < 40 && ok; i++) {   /* enough to grow every map */
        snprintf(card, sizeof card, "c0000000-0000-4000-8000-%012d", i);
        snprintf(order, sizeof order, "f0000000-0000-4000-8000-%012d", i);
        snprintf(provider, sizeof provider, "prov-%d", i % 7);
        bd_card_t *c = bd_ledger_open_card(l, card, 1, "dibao", 81);
        if (!c) {
            assert_null(bd_ledger_card(l, card));
            ok = 0;
            break;
        }
        bd_topup_decision_t t;
        assert_int_equal(bd_ledger_decide_topup(l, card, 10000, BD_SRC_FAMILY, &t), 0);
        if (bd_ledger_apply(l, &t.postings) < 0) {
            assert_int_equal(c->available->balance, 0);
            ok = 0;
            break;
        }
        bd_order_t o = { .order_id = order, .card_id = card, .service = 2, .district_id = 1,
                         .household = "dibao", .age_years = 81,
                         .placed_us = 1795680000LL * 1000000 };
        bd_hold_decision_t d;
        bd_ledger_decide_hold(l, p, &o, &d);
        assert_true(d.held);
        if (bd_ledger_commit_hold(l, &d) < 0) {
            assert_null(bd_ledger_hold(l, order));
            assert_int_equal(c->available->balance, 10000);
            assert_int_equal(c->held->balance, 0);
            assert_int_equal(bd_ledger_usage(l, card, d.hold.rule_id, d.hold.month), 0);
            ok = 0;
            break;
        }
        bd_close_decision_t cd;
        assert_int_equal(bd_ledger_decide_capture(l, order, provider, &cd), 0);
        if (bd_ledger_commit_close(l, &cd) < 0) {   /* a new provider account */
            assert_non_null(bd_ledger_hold(l, order));
            assert_int_equal(c->held->balance, d.hold.held_fen);
            ok = 0;
            break;
        }
    }
    assert_int_equal(s_total(l), 0);   /* balanced whatever failed */
    bd_ledger_destroy(&l);
    bd_pricing_destroy(&p);
    return ok;
}

static void test_fail_each_allocation(void **state)
{
    (void)state;
    bd_alloc_fail_nth(-1);
    assert_int_equal(s_scenario(), 1);
    long total = bd_alloc_count();
    assert_true(total > 100);
    long n;
    for (n = 0; n < total + 10; n++) {
        bd_alloc_fail_nth(n);
        if (s_scenario())
            break;
    }
    bd_alloc_fail_nth(-1);
    /* Every allocation before the last one was failed once and survived. */
    assert_true(n >= total);
}

int main(void)
{
    /* The ledger's maps are cc_maps: count and fail their allocations too
     * (cc_map_test covers the map itself). */
    cc_map_set_alloc_hook(bd_malloc);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fail_each_allocation),
    };
    int rc = cmocka_run_group_tests_name("bd_alloc", tests, NULL, NULL);
    cc_map_set_alloc_hook(NULL);
    return rc;
}
