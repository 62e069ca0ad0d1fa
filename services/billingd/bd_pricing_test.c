/* bd_pricing unit tests: prices, rule matching, subsidy and caps. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>
#include "bd_pricing.h"

enum { MEAL = 1, BATH = 2, CLEANING = 3, ESCORT = 4, MEDICAL = 5, EMERGENCY = 6, VISIT = 7,
       ASSESSMENT = 8 };

static bd_rule_t s_rule(int id, const char *household, int age_min, int service, int share_bp,
                        int64_t fixed, int64_t cap)
{
    bd_rule_t r;
    memset(&r, 0, sizeof r);
    r.rule_id = id;
    r.district_id = -1;
    snprintf(r.household, sizeof r.household, "%s", household ? household : "");
    r.age_min = age_min;
    r.age_max = -1;
    r.service = service;
    r.share_bp = share_bp;
    r.fixed_fen = fixed;
    r.monthly_cap_fen = cap;
    return r;
}

/* The demo table of sql/billingd/001_ledger.sql. */
static bd_pricing_t *s_demo(void)
{
    bd_pricing_t *p = bd_pricing_new();
    const int64_t prices[] = { 0, 1500, 6000, 4000, 3000, 5000, 8000, 0, 0 };
    for (int s = 1; s <= 8; s++)
        assert_int_equal(bd_pricing_set_price(p, s, prices[s]), 0);
    bd_rule_t rules[] = {
        s_rule(1, "tekun", -1, 0, 10000, -1, -1),
        s_rule(2, "dibao", -1, 0, 5000, -1, -1),
        s_rule(3, "dibao_edge", -1, 0, 2500, -1, -1),
        s_rule(4, NULL, -1, VISIT, 10000, -1, -1),
        s_rule(5, NULL, -1, ASSESSMENT, 10000, -1, -1),
        s_rule(6, NULL, 80, MEAL, 2000, -1, 6000),
    };
    /* Added out of order on purpose: ties must still go to the lowest id. */
    for (int i = 5; i >= 0; i--)
        assert_int_equal(bd_pricing_add_rule(p, &rules[i]), 0);
    return p;
}

static void test_service_names(void **state)
{
    (void)state;
    assert_string_equal(bd_service_name(MEAL), "meal");
    assert_string_equal(bd_service_name(MEDICAL), "medical_escort");
    assert_null(bd_service_name(0));
    assert_null(bd_service_name(9));
    assert_int_equal(bd_service_parse("assessment"), ASSESSMENT);
    assert_int_equal(bd_service_parse("massage"), 0);
    assert_int_equal(bd_service_parse(NULL), 0);
}

static void test_prices(void **state)
{
    (void)state;
    bd_pricing_t *p = bd_pricing_new();
    assert_int_equal(bd_pricing_price(p, BATH), -1);
    assert_int_equal(bd_pricing_set_price(p, BATH, 6000), 0);
    assert_int_equal(bd_pricing_price(p, BATH), 6000);
    assert_int_equal(bd_pricing_set_price(p, BATH, -1), -1);
    assert_int_equal(bd_pricing_set_price(p, BATH, BD_PRICE_MAX_FEN + 1), -1);
    assert_int_equal(bd_pricing_set_price(p, 0, 100), -1);
    assert_int_equal(bd_pricing_set_price(p, 9, 100), -1);
    assert_int_equal(bd_pricing_price(p, BATH), 6000);
    bd_facts_t f = { .service = MEAL, .household = "none", .age_years = 70 };
    bd_quote_t q;
    assert_int_equal(bd_pricing_quote(p, &f, NULL, NULL, &q), -1);   /* no meal price */
    bd_pricing_destroy(&p);
    assert_null(p);
}

static void test_bad_rules_refused(void **state)
{
    (void)state;
    bd_pricing_t *p = bd_pricing_new();
    bd_rule_t both = s_rule(1, NULL, -1, 0, 5000, 100, -1);
    bd_rule_t neither = s_rule(2, NULL, -1, 0, -1, -1, -1);
    bd_rule_t over = s_rule(3, NULL, -1, 0, 10001, -1, -1);
    bd_rule_t band = s_rule(4, NULL, 90, 0, 100, -1, -1);
    band.age_max = 80;
    bd_rule_t svc = s_rule(5, NULL, -1, 9, 100, -1, -1);
    assert_int_equal(bd_pricing_add_rule(p, &both), -1);
    assert_int_equal(bd_pricing_add_rule(p, &neither), -1);
    assert_int_equal(bd_pricing_add_rule(p, &over), -1);
    assert_int_equal(bd_pricing_add_rule(p, &band), -1);
    assert_int_equal(bd_pricing_add_rule(p, &svc), -1);
    assert_int_equal(bd_pricing_rule_count(p), 0);
    bd_pricing_destroy(&p);
}

static void test_household_shares(void **state)
{
    (void)state;
    bd_pricing_t *p = s_demo();
    bd_quote_t q;
    bd_facts_t f = { .service = BATH, .district_id = 3, .household = "none", .age_years = 70 };
    assert_int_equal(bd_pricing_quote(p, &f, NULL, NULL, &q), 0);
    assert_int_equal(q.price_fen, 6000);
    assert_int_equal(q.subsidy_fen, 0);
    assert_int_equal(q.card_fen, 6000);
    assert_int_equal(q.rule_id, 0);

    f.household = "tekun";
    assert_int_equal(bd_pricing_quote(p, &f, NULL, NULL, &q), 0);
    assert_int_equal(q.subsidy_fen, 6000);
    assert_int_equal(q.card_fen, 0);
    assert_int_equal(q.rule_id, 1);

    f.household = "dibao";
    bd_pricing_quote(p, &f, NULL, NULL, &q);
    assert_int_equal(q.subsidy_fen, 3000);
    assert_int_equal(q.card_fen, 3000);
    assert_int_equal(q.rule_id, 2);

    f.household = "dibao_edge";
    f.service = MEAL;   /* 1500 * 25 % = 375 */
    bd_pricing_quote(p, &f, NULL, NULL, &q);
    assert_int_equal(q.subsidy_fen, 375);
    assert_int_equal(q.card_fen, 1125);
    assert_int_equal(q.price_fen, q.subsidy_fen + q.card_fen);
    bd_pricing_destroy(&p);
}

static void test_share_rounds_down(void **state)
{
    (void)state;
    bd_rule_t r = s_rule(1, NULL, -1, 0, 3333, -1, -1);
    assert_int_equal(bd_rule_amount(&r, 1000), 333);   /* 333.3 */
    assert_int_equal(bd_rule_amount(&r, 1), 0);
    assert_int_equal(bd_rule_amount(&r, 0), 0);
    bd_rule_t fixed = s_rule(2, NULL, -1, 0, -1, 500, -1);
    assert_int_equal(bd_rule_amount(&fixed, 1500), 500);
    assert_int_equal(bd_rule_amount(&fixed, 300), 300);   /* never above the price */
}

/* Rules do not stack; the largest wins: a dibao elder of 85 gets 50 % of a
 * meal, not 50 % + 20 %. */
static void test_largest_rule_wins(void **state)
{
    (void)state;
    bd_pricing_t *p = s_demo();
    bd_quote_t q;
    bd_facts_t f = { .service = MEAL, .household = "dibao", .age_years = 85 };
    bd_pricing_quote(p, &f, NULL, NULL, &q);
    assert_int_equal(q.subsidy_fen, 750);
    assert_int_equal(q.rule_id, 2);
    f.household = "none";
    bd_pricing_quote(p, &f, NULL, NULL, &q);
    assert_int_equal(q.subsidy_fen, 300);
    assert_int_equal(q.rule_id, 6);
    f.age_years = 79;   /* band is 80+ inclusive */
    bd_pricing_quote(p, &f, NULL, NULL, &q);
    assert_int_equal(q.subsidy_fen, 0);
    f.age_years = 80;
    bd_pricing_quote(p, &f, NULL, NULL, &q);
    assert_int_equal(q.subsidy_fen, 300);
    bd_pricing_destroy(&p);
}

static void test_tie_goes_to_lowest_rule(void **state)
{
    (void)state;
    bd_pricing_t *p = bd_pricing_new();
    bd_pricing_set_price(p, CLEANING, 4000);
    bd_rule_t r9 = s_rule(9, NULL, -1, CLEANING, 5000, -1, -1);
    bd_rule_t r7 = s_rule(7, NULL, -1, 0, -1, 2000, -1);
    bd_pricing_add_rule(p, &r9);
    bd_pricing_add_rule(p, &r7);
    bd_facts_t f = { .service = CLEANING, .household = "none", .age_years = 60 };
    bd_quote_t q;
    bd_pricing_quote(p, &f, NULL, NULL, &q);
    assert_int_equal(q.subsidy_fen, 2000);
    assert_int_equal(q.rule_id, 7);
    bd_pricing_destroy(&p);
}

static void test_district_condition(void **state)
{
    (void)state;
    bd_rule_t r = s_rule(1, NULL, -1, 0, 1000, -1, -1);
    r.district_id = 5;
    bd_facts_t f = { .service = BATH, .district_id = 5, .household = "none", .age_years = 70 };
    assert_true(bd_rule_matches(&r, &f));
    f.district_id = 6;
    assert_false(bd_rule_matches(&r, &f));
    r.district_id = -1;
    assert_true(bd_rule_matches(&r, &f));
    bd_rule_t h = s_rule(2, "tekun", -1, 0, 1000, -1, -1);
    f.household = NULL;
    assert_false(bd_rule_matches(&h, &f));
}

static int64_t s_used;
static int s_asked_rule;
static int64_t s_usage(void *arg, int rule_id)
{
    (void)arg;
    s_asked_rule = rule_id;
    return s_used;
}

static void test_monthly_cap(void **state)
{
    (void)state;
    bd_pricing_t *p = s_demo();
    bd_facts_t f = { .service = MEAL, .household = "none", .age_years = 90 };
    bd_quote_t q;
    s_used = 5800;   /* 200 left of 6000 */
    bd_pricing_quote(p, &f, s_usage, NULL, &q);
    assert_int_equal(s_asked_rule, 6);
    assert_int_equal(q.subsidy_fen, 200);
    assert_int_equal(q.card_fen, 1300);
    assert_int_equal(q.rule_id, 6);
    s_used = 6000;
    bd_pricing_quote(p, &f, s_usage, NULL, &q);
    assert_int_equal(q.subsidy_fen, 0);
    assert_int_equal(q.card_fen, 1500);
    assert_int_equal(q.rule_id, 0);
    s_used = 9000;   /* over the cap (cap lowered later): nothing, never negative */
    bd_pricing_quote(p, &f, s_usage, NULL, &q);
    assert_int_equal(q.subsidy_fen, 0);
    bd_pricing_destroy(&p);
}

static void test_mandated_free(void **state)
{
    (void)state;
    bd_pricing_t *p = s_demo();
    bd_quote_t q;
    bd_facts_t f = { .service = VISIT, .household = "none", .age_years = 70 };
    bd_pricing_quote(p, &f, NULL, NULL, &q);
    assert_int_equal(q.card_fen, 0);
    /* A county that prices visits still pays them from the subsidy fund. */
    bd_pricing_set_price(p, VISIT, 2500);
    bd_pricing_quote(p, &f, NULL, NULL, &q);
    assert_int_equal(q.subsidy_fen, 2500);
    assert_int_equal(q.card_fen, 0);
    assert_int_equal(q.rule_id, 4);
    bd_pricing_destroy(&p);
}

static void test_month_of(void **state)
{
    (void)state;
    /* 2026-11-30T16:00:00Z is 2026-12-01 00:00 in Shanghai. */
    assert_int_equal(bd_month_of(1796054400LL * 1000000), 202612);
    assert_int_equal(bd_month_of(1796054400LL * 1000000 - 1), 202611);
    assert_int_equal(bd_month_of(0), 197001);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_service_names),
        cmocka_unit_test(test_prices),
        cmocka_unit_test(test_bad_rules_refused),
        cmocka_unit_test(test_household_shares),
        cmocka_unit_test(test_share_rounds_down),
        cmocka_unit_test(test_largest_rule_wins),
        cmocka_unit_test(test_tie_goes_to_lowest_rule),
        cmocka_unit_test(test_district_condition),
        cmocka_unit_test(test_monthly_cap),
        cmocka_unit_test(test_mandated_free),
        cmocka_unit_test(test_month_of),
    };
    return cmocka_run_group_tests_name("bd_pricing", tests, NULL, NULL);
}
