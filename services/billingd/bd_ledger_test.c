/* bd_ledger unit tests: posting balance, balance signs, holds, emergency
 * arrears, captures, releases and top-ups paying arrears. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>
#include "bd_ledger.h"

#define CARD "c0000000-0000-4000-8000-000000000001"
#define CARD2 "c0000000-0000-4000-8000-000000000002"
enum { MEAL = 1, BATH = 2, EMERGENCY = 6, VISIT = 7 };

typedef struct {
    bd_ledger_t *l;
    bd_pricing_t *p;
} fx_t;

static int s_setup(void **state)
{
    static fx_t fx;
    fx.l = bd_ledger_new();
    fx.p = bd_pricing_new();
    const int64_t prices[] = { 0, 1500, 6000, 4000, 3000, 5000, 8000, 0, 0 };
    for (int s = 1; s <= 8; s++)
        bd_pricing_set_price(fx.p, s, prices[s]);
    bd_rule_t dibao = { .rule_id = 2, .district_id = -1, .household = "dibao", .age_min = -1,
                        .age_max = -1, .share_bp = 5000, .fixed_fen = -1,
                        .monthly_cap_fen = -1 };
    bd_rule_t old = { .rule_id = 6, .district_id = -1, .age_min = 80, .age_max = -1,
                      .service = MEAL, .share_bp = 2000, .fixed_fen = -1,
                      .monthly_cap_fen = 600 };
    bd_pricing_add_rule(fx.p, &dibao);
    bd_pricing_add_rule(fx.p, &old);
    assert_non_null(bd_ledger_open_card(fx.l, CARD, 3, "none", 70));
    *state = &fx;
    return 0;
}

static int s_teardown(void **state)
{
    fx_t *fx = *state;
    bd_ledger_destroy(&fx->l);
    bd_pricing_destroy(&fx->p);
    assert_null(fx->l);
    return 0;
}

static int64_t s_bal(bd_ledger_t *l, const char *name)
{
    bd_account_t *a = bd_ledger_account(l, name);
    return a ? a->balance : 0;
}

static void s_topup(bd_ledger_t *l, const char *card, int64_t amount)
{
    bd_topup_decision_t t;
    assert_int_equal(bd_ledger_decide_topup(l, card, amount, BD_SRC_FAMILY, &t), 0);
    assert_int_equal(bd_ledger_apply(l, &t.postings), 0);
}

static bd_order_t s_order(const char *order_id, const char *card, int service, int emergency)
{
    bd_order_t o = { .order_id = order_id, .card_id = card, .service = service,
                     .emergency = emergency, .district_id = 3, .household = "none",
                     .age_years = 70, .placed_us = 1795680000LL * 1000000 };
    return o;
}

/* Sum over every account must stay 0: money is only moved, never made. */
static void s_sum_acc(const bd_account_t *a, void *arg)
{
    *(int64_t *)arg += a->balance;
}
static void s_assert_conserved(bd_ledger_t *l)
{
    int64_t sum = 0;
    bd_ledger_foreach_account(l, s_sum_acc, &sum);
    assert_int_equal(sum, 0);
}

static void test_account_kinds(void **state)
{
    (void)state;
    assert_int_equal(bd_account_kind("card:" CARD ":available"), BD_ACC_AVAILABLE);
    assert_int_equal(bd_account_kind("card:" CARD ":held"), BD_ACC_HELD);
    assert_int_equal(bd_account_kind("card:" CARD ":arrears"), BD_ACC_ARREARS);
    assert_int_equal(bd_account_kind("card:" CARD ":other"), -1);
    assert_int_equal(bd_account_kind("provider:p1"), BD_ACC_PROVIDER);
    assert_int_equal(bd_account_kind("provider:"), -1);
    assert_int_equal(bd_account_kind("source:family"), BD_ACC_SOURCE_FAMILY);
    assert_int_equal(bd_account_kind("source:lottery"), -1);
    assert_int_equal(bd_account_kind("subsidy_fund"), BD_ACC_SUBSIDY_FUND);
    assert_true(bd_balance_allowed(BD_ACC_ARREARS, -5));
    assert_false(bd_balance_allowed(BD_ACC_ARREARS, 5));
    assert_false(bd_balance_allowed(BD_ACC_AVAILABLE, -1));
    assert_true(bd_balance_allowed(BD_ACC_SOURCE_FAMILY, -100));
    assert_int_equal(bd_card_status_parse("blocked"), BD_CARD_BLOCKED);
    assert_int_equal(bd_card_status_parse("lost"), -1);
    assert_int_equal(bd_source_parse("allowance"), BD_SRC_ALLOWANCE);
    assert_int_equal(bd_source_parse("bank"), -1);
}

static void test_postings_merge_and_drop_zero(void **state)
{
    (void)state;
    bd_postings_t p;
    bd_postings_init(&p);
    assert_int_equal(bd_postings_add(&p, "a", 5), 0);
    assert_int_equal(bd_postings_add(&p, "b", -5), 0);
    assert_int_equal(bd_postings_add(&p, "a", 3), 0);
    assert_int_equal(p.n, 2);
    assert_int_equal(bd_postings_sum(&p), 3);
    assert_int_equal(bd_postings_add(&p, "a", -8), 0);   /* a is now 0: dropped */
    assert_int_equal(p.n, 1);
    assert_string_equal(p.account[0], "b");
    assert_int_equal(bd_postings_add(&p, "z", 0), 0);
    assert_int_equal(p.n, 1);
    bd_postings_add(&p, "c", 1);
    bd_postings_add(&p, "d", 1);
    bd_postings_add(&p, "e", 1);
    assert_int_equal(bd_postings_add(&p, "f", 1), -1);   /* full */
    bd_postings_t n;
    bd_postings_negate(&p, &n);
    assert_int_equal(bd_postings_sum(&n), -bd_postings_sum(&p));
}

static void test_unbalanced_postings_refused(void **state)
{
    fx_t *fx = *state;
    bd_postings_t p;
    bd_postings_init(&p);
    bd_postings_add(&p, "source:family", -100);
    bd_postings_add(&p, "card:" CARD ":available", 99);
    assert_int_equal(bd_ledger_apply(fx->l, &p), -1);
    assert_int_equal(s_bal(fx->l, "card:" CARD ":available"), 0);
    assert_int_equal(s_bal(fx->l, "source:family"), 0);
    /* Unknown card account: refused, nothing opened. */
    bd_postings_init(&p);
    bd_postings_add(&p, "source:family", -100);
    bd_postings_add(&p, "card:" CARD2 ":available", 100);
    assert_int_equal(bd_ledger_apply(fx->l, &p), -1);
    assert_null(bd_ledger_account(fx->l, "card:" CARD2 ":available"));
}

static void test_negative_balance_refused(void **state)
{
    fx_t *fx = *state;
    s_topup(fx->l, CARD, 1000);
    bd_postings_t p;
    bd_postings_init(&p);
    bd_postings_add(&p, "card:" CARD ":available", -1001);
    bd_postings_add(&p, "card:" CARD ":held", 1001);
    assert_int_equal(bd_ledger_apply(fx->l, &p), -1);
    assert_int_equal(s_bal(fx->l, "card:" CARD ":available"), 1000);
    /* Arrears may not go positive (a credit hiding in the debt account). */
    bd_postings_init(&p);
    bd_postings_add(&p, "card:" CARD ":arrears", 1);
    bd_postings_add(&p, "card:" CARD ":available", -1);
    assert_int_equal(bd_ledger_apply(fx->l, &p), -1);
    /* A provider payable cannot be drawn below zero. */
    bd_postings_init(&p);
    bd_postings_add(&p, "provider:p1", -1);
    bd_postings_add(&p, "card:" CARD ":available", 1);
    assert_int_equal(bd_ledger_apply(fx->l, &p), -1);
    assert_null(bd_ledger_account(fx->l, "provider:p1"));
    s_assert_conserved(fx->l);
}

static void test_hold_capture(void **state)
{
    fx_t *fx = *state;
    s_topup(fx->l, CARD, 10000);
    bd_order_t o = s_order("f0000000-0000-4000-8000-000000000001", CARD, BATH, 0);
    bd_hold_decision_t d;
    bd_ledger_decide_hold(fx->l, fx->p, &o, &d);
    assert_true(d.held);
    assert_int_equal(d.quote.price_fen, 6000);
    assert_int_equal(d.hold.held_fen, 6000);
    assert_int_equal(d.hold.arrears_fen, 0);
    assert_int_equal(d.available_fen, 10000);
    /* Deciding changes nothing. */
    assert_int_equal(s_bal(fx->l, "card:" CARD ":available"), 10000);
    assert_int_equal(bd_ledger_commit_hold(fx->l, &d), 0);
    assert_int_equal(s_bal(fx->l, "card:" CARD ":available"), 4000);
    assert_int_equal(s_bal(fx->l, "card:" CARD ":held"), 6000);
    assert_non_null(bd_ledger_hold(fx->l, o.order_id));
    /* The same order cannot be held twice. */
    assert_int_equal(bd_ledger_commit_hold(fx->l, &d), -1);
    assert_int_equal(s_bal(fx->l, "card:" CARD ":held"), 6000);

    bd_close_decision_t c;
    assert_int_equal(bd_ledger_decide_capture(fx->l, o.order_id, "prov-1", &c), 0);
    assert_int_equal(c.charged_fen, 6000);
    assert_int_equal(bd_ledger_commit_close(fx->l, &c), 0);
    assert_int_equal(s_bal(fx->l, "card:" CARD ":held"), 0);
    assert_int_equal(s_bal(fx->l, "provider:prov-1"), 6000);
    assert_null(bd_ledger_hold(fx->l, o.order_id));
    /* Captured once: a second capture or a release finds no open hold. */
    assert_int_equal(bd_ledger_decide_capture(fx->l, o.order_id, "prov-1", &c), -1);
    assert_int_equal(bd_ledger_decide_release(fx->l, o.order_id, &c), -1);
    bd_totals_t t;
    bd_ledger_totals(fx->l, &t);
    assert_int_equal(t.available_fen, 4000);
    assert_int_equal(t.payable_fen, 6000);
    assert_int_equal(t.topped_up_fen, 10000);
    s_assert_conserved(fx->l);
}

static void test_subsidy_paid_by_fund_on_capture(void **state)
{
    fx_t *fx = *state;
    bd_card_t *card = bd_ledger_card(fx->l, CARD);
    (void)card;
    s_topup(fx->l, CARD, 3000);
    bd_order_t o = s_order("f0000000-0000-4000-8000-000000000002", CARD, BATH, 0);
    o.household = "dibao";
    bd_hold_decision_t d;
    bd_ledger_decide_hold(fx->l, fx->p, &o, &d);
    assert_true(d.held);
    assert_int_equal(d.quote.subsidy_fen, 3000);
    assert_int_equal(d.hold.held_fen, 3000);
    assert_int_equal(bd_ledger_commit_hold(fx->l, &d), 0);
    assert_int_equal(s_bal(fx->l, "card:" CARD ":available"), 0);
    bd_close_decision_t c;
    bd_ledger_decide_capture(fx->l, o.order_id, NULL, &c);
    assert_int_equal(bd_ledger_commit_close(fx->l, &c), 0);
    assert_int_equal(s_bal(fx->l, "provider:unknown"), 6000);
    assert_int_equal(s_bal(fx->l, "subsidy_fund"), -3000);
    bd_totals_t t;
    bd_ledger_totals(fx->l, &t);
    assert_int_equal(t.subsidy_spent_fen, 3000);
    s_assert_conserved(fx->l);
}

static void test_denials(void **state)
{
    fx_t *fx = *state;
    s_topup(fx->l, CARD, 5999);
    bd_hold_decision_t d;
    bd_order_t o = s_order("f0000000-0000-4000-8000-000000000003", CARD, BATH, 0);
    bd_ledger_decide_hold(fx->l, fx->p, &o, &d);
    assert_false(d.held);
    assert_string_equal(d.reason, "insufficient_funds");
    assert_int_equal(d.available_fen, 5999);
    assert_int_equal(d.quote.price_fen, 6000);
    assert_int_equal(bd_ledger_commit_hold(fx->l, &d), 0);   /* no-op */
    assert_int_equal(s_bal(fx->l, "card:" CARD ":available"), 5999);
    assert_null(bd_ledger_hold(fx->l, o.order_id));

    o.card_id = CARD2;
    bd_ledger_decide_hold(fx->l, fx->p, &o, &d);
    assert_string_equal(d.reason, "unknown_card");

    o.card_id = CARD;
    o.service = 0;
    bd_ledger_decide_hold(fx->l, fx->p, &o, &d);
    assert_string_equal(d.reason, "no_price");

    o.service = MEAL;
    bd_ledger_card(fx->l, CARD)->status = BD_CARD_BLOCKED;
    bd_ledger_decide_hold(fx->l, fx->p, &o, &d);
    assert_false(d.held);
    assert_string_equal(d.reason, "card_blocked");
}

/* Emergency on a short card: hold what there is, the rest is arrears. */
static void test_emergency_books_arrears(void **state)
{
    fx_t *fx = *state;
    s_topup(fx->l, CARD, 1000);
    bd_order_t o = s_order("f0000000-0000-4000-8000-000000000004", CARD, EMERGENCY, 1);
    bd_hold_decision_t d;
    bd_ledger_decide_hold(fx->l, fx->p, &o, &d);
    assert_true(d.held);
    assert_int_equal(d.hold.held_fen, 8000);
    assert_int_equal(d.hold.arrears_fen, 7000);
    assert_int_equal(bd_postings_sum(&d.postings), 0);
    assert_int_equal(bd_ledger_commit_hold(fx->l, &d), 0);
    assert_int_equal(s_bal(fx->l, "card:" CARD ":available"), 0);
    assert_int_equal(s_bal(fx->l, "card:" CARD ":held"), 8000);
    assert_int_equal(s_bal(fx->l, "card:" CARD ":arrears"), -7000);
    /* Even a blocked, empty card gets its emergency. */
    bd_ledger_card(fx->l, CARD)->status = BD_CARD_BLOCKED;
    bd_order_t o2 = s_order("f0000000-0000-4000-8000-000000000005", CARD, EMERGENCY, 1);
    bd_ledger_decide_hold(fx->l, fx->p, &o2, &d);
    assert_true(d.held);
    assert_int_equal(d.hold.arrears_fen, 8000);
    assert_int_equal(bd_ledger_commit_hold(fx->l, &d), 0);
    assert_int_equal(s_bal(fx->l, "card:" CARD ":arrears"), -15000);
    /* Capture: the provider is paid in full, the debt stays on the card. */
    bd_close_decision_t c;
    bd_ledger_decide_capture(fx->l, o.order_id, "p", &c);
    assert_int_equal(bd_ledger_commit_close(fx->l, &c), 0);
    assert_int_equal(s_bal(fx->l, "provider:p"), 8000);
    assert_int_equal(s_bal(fx->l, "card:" CARD ":arrears"), -15000);
    bd_totals_t t;
    bd_ledger_totals(fx->l, &t);
    assert_int_equal(t.arrears_fen, 15000);
    s_assert_conserved(fx->l);
}

/* A cancelled emergency reverses its arrears and gives back what it took. */
static void test_emergency_release_reverses_arrears(void **state)
{
    fx_t *fx = *state;
    s_topup(fx->l, CARD, 1000);
    bd_order_t o = s_order("f0000000-0000-4000-8000-000000000006", CARD, EMERGENCY, 1);
    bd_hold_decision_t d;
    bd_ledger_decide_hold(fx->l, fx->p, &o, &d);
    bd_ledger_commit_hold(fx->l, &d);
    bd_close_decision_t c;
    assert_int_equal(bd_ledger_decide_release(fx->l, o.order_id, &c), 0);
    assert_int_equal(c.released_fen, 8000);
    assert_int_equal(c.arrears_paid_fen, 7000);
    assert_int_equal(bd_ledger_commit_close(fx->l, &c), 0);
    assert_int_equal(s_bal(fx->l, "card:" CARD ":available"), 1000);
    assert_int_equal(s_bal(fx->l, "card:" CARD ":held"), 0);
    assert_int_equal(s_bal(fx->l, "card:" CARD ":arrears"), 0);
    s_assert_conserved(fx->l);
}

/* A top-up pays arrears first; a later release then returns to available
 * only what the elder actually paid in. */
static void test_topup_pays_arrears_first(void **state)
{
    fx_t *fx = *state;
    bd_order_t o = s_order("f0000000-0000-4000-8000-000000000007", CARD, EMERGENCY, 1);
    bd_hold_decision_t d;
    bd_ledger_decide_hold(fx->l, fx->p, &o, &d);
    bd_ledger_commit_hold(fx->l, &d);
    assert_int_equal(s_bal(fx->l, "card:" CARD ":arrears"), -8000);

    bd_topup_decision_t t;
    assert_int_equal(bd_ledger_decide_topup(fx->l, CARD, 5000, BD_SRC_ALLOWANCE, &t), 0);
    assert_int_equal(t.arrears_paid_fen, 5000);
    assert_int_equal(t.available_after_fen, 0);
    assert_int_equal(bd_ledger_apply(fx->l, &t.postings), 0);
    assert_int_equal(s_bal(fx->l, "card:" CARD ":arrears"), -3000);
    assert_int_equal(s_bal(fx->l, "source:allowance"), -5000);

    assert_int_equal(bd_ledger_decide_topup(fx->l, CARD, 4000, BD_SRC_FAMILY, &t), 0);
    assert_int_equal(t.arrears_paid_fen, 3000);
    assert_int_equal(t.available_after_fen, 1000);
    assert_int_equal(bd_ledger_apply(fx->l, &t.postings), 0);
    assert_int_equal(s_bal(fx->l, "card:" CARD ":arrears"), 0);
    assert_int_equal(s_bal(fx->l, "card:" CARD ":available"), 1000);

    bd_close_decision_t c;
    bd_ledger_decide_release(fx->l, o.order_id, &c);
    assert_int_equal(c.arrears_paid_fen, 0);
    assert_int_equal(bd_ledger_commit_close(fx->l, &c), 0);
    assert_int_equal(s_bal(fx->l, "card:" CARD ":available"), 9000);   /* 5000 + 4000 paid in */
    assert_int_equal(s_bal(fx->l, "card:" CARD ":arrears"), 0);
    s_assert_conserved(fx->l);
}

/* Two emergencies, one released while the other's debt remains: the
 * released money pays the remaining debt before it becomes available. */
static void test_release_pays_other_debt(void **state)
{
    fx_t *fx = *state;
    s_topup(fx->l, CARD, 2000);
    bd_hold_decision_t d1, d2;
    bd_order_t o1 = s_order("f0000000-0000-4000-8000-000000000008", CARD, EMERGENCY, 1);
    bd_order_t o2 = s_order("f0000000-0000-4000-8000-000000000009", CARD, EMERGENCY, 1);
    bd_ledger_decide_hold(fx->l, fx->p, &o1, &d1);
    bd_ledger_commit_hold(fx->l, &d1);   /* 2000 from available, 6000 arrears */
    bd_ledger_decide_hold(fx->l, fx->p, &o2, &d2);
    bd_ledger_commit_hold(fx->l, &d2);   /* 8000 arrears */
    assert_int_equal(s_bal(fx->l, "card:" CARD ":arrears"), -14000);
    bd_close_decision_t c;
    bd_ledger_decide_release(fx->l, o1.order_id, &c);
    bd_ledger_commit_close(fx->l, &c);
    assert_int_equal(s_bal(fx->l, "card:" CARD ":arrears"), -6000);
    assert_int_equal(s_bal(fx->l, "card:" CARD ":available"), 0);
    bd_ledger_decide_release(fx->l, o2.order_id, &c);
    bd_ledger_commit_close(fx->l, &c);
    assert_int_equal(s_bal(fx->l, "card:" CARD ":arrears"), 0);
    assert_int_equal(s_bal(fx->l, "card:" CARD ":available"), 2000);
    s_assert_conserved(fx->l);
}

/* A replay the store refuses is undone exactly, subsidy usage included. */
static void test_uncommit_restores(void **state)
{
    fx_t *fx = *state;
    bd_card_t *card = bd_ledger_open_card(fx->l, CARD2, 3, "none", 85);
    assert_non_null(card);
    s_topup(fx->l, CARD2, 5000);
    bd_order_t o = s_order("f0000000-0000-4000-8000-00000000000a", CARD2, MEAL, 0);
    o.age_years = 85;
    bd_hold_decision_t d;
    bd_ledger_decide_hold(fx->l, fx->p, &o, &d);
    assert_int_equal(d.quote.subsidy_fen, 300);
    assert_int_equal(d.hold.rule_id, 6);
    bd_ledger_commit_hold(fx->l, &d);
    assert_int_equal(bd_ledger_usage(fx->l, CARD2, 6, d.hold.month), 300);
    assert_int_equal(s_bal(fx->l, "card:" CARD2 ":available"), 3800);
    bd_ledger_uncommit_hold(fx->l, &d);
    assert_int_equal(bd_ledger_usage(fx->l, CARD2, 6, d.hold.month), 0);
    assert_int_equal(s_bal(fx->l, "card:" CARD2 ":available"), 5000);
    assert_null(bd_ledger_hold(fx->l, o.order_id));

    bd_ledger_commit_hold(fx->l, &d);
    bd_close_decision_t c;
    bd_ledger_decide_release(fx->l, o.order_id, &c);
    bd_ledger_commit_close(fx->l, &c);
    assert_int_equal(bd_ledger_usage(fx->l, CARD2, 6, d.hold.month), 0);
    bd_ledger_uncommit_close(fx->l, &c);
    assert_non_null(bd_ledger_hold(fx->l, o.order_id));
    assert_int_equal(bd_ledger_usage(fx->l, CARD2, 6, d.hold.month), 300);
    assert_int_equal(s_bal(fx->l, "card:" CARD2 ":held"), 1200);
    s_assert_conserved(fx->l);
}

/* The monthly cap counts reserved subsidy: two meals at 300 reach a 600 cap,
 * the third pays full price; releasing one frees its share again. */
static void test_monthly_cap_across_holds(void **state)
{
    fx_t *fx = *state;
    bd_ledger_open_card(fx->l, CARD2, 3, "none", 85);
    s_topup(fx->l, CARD2, 10000);

    bd_hold_decision_t d;
    int64_t subsidy[3];
    for (int i = 0; i < 3; i++) {
        char id[64];
        snprintf(id, sizeof id, "f0000000-0000-4000-8000-00000000010%c", (char)('0' + i));
        bd_order_t o = s_order(id, CARD2, MEAL, 0);
        o.age_years = 85;
        bd_ledger_decide_hold(fx->l, fx->p, &o, &d);
        assert_int_equal(bd_ledger_commit_hold(fx->l, &d), 0);
        subsidy[i] = d.hold.subsidy_fen;
    }
    assert_int_equal(subsidy[0], 300);
    assert_int_equal(subsidy[1], 300);
    assert_int_equal(subsidy[2], 0);
    bd_close_decision_t c;
    bd_ledger_decide_release(fx->l, "f0000000-0000-4000-8000-000000000100", &c);
    bd_ledger_commit_close(fx->l, &c);
    bd_order_t o = s_order("f0000000-0000-4000-8000-000000000110", CARD2, MEAL, 0);
    o.age_years = 85;
    bd_ledger_decide_hold(fx->l, fx->p, &o, &d);
    assert_int_equal(d.hold.subsidy_fen, 300);
    /* Next month starts afresh. */
    o.placed_us += 40LL * 86400 * 1000000;
    bd_ledger_decide_hold(fx->l, fx->p, &o, &d);
    assert_int_equal(d.hold.subsidy_fen, 300);
    assert_int_not_equal(d.hold.month, 0);
}

/* Mandated orders are free to the elder whatever the price and the rules. */
static void test_mandated_paid_by_fund(void **state)
{
    fx_t *fx = *state;
    bd_pricing_set_price(fx->p, VISIT, 2500);   /* a county that prices visits */
    bd_order_t o = s_order("f0000000-0000-4000-8000-000000000201", CARD, VISIT, 0);
    bd_hold_decision_t d;
    bd_ledger_decide_hold(fx->l, fx->p, &o, &d);
    assert_false(d.held);   /* not mandated, no rule in this fixture, empty card */
    assert_string_equal(d.reason, "insufficient_funds");
    o.mandated = 1;
    bd_ledger_decide_hold(fx->l, fx->p, &o, &d);
    assert_true(d.held);
    assert_int_equal(d.hold.price_fen, 2500);
    assert_int_equal(d.hold.subsidy_fen, 2500);
    assert_int_equal(d.hold.held_fen, 0);
    assert_int_equal(d.hold.rule_id, 0);
    assert_int_equal(bd_ledger_commit_hold(fx->l, &d), 0);
    bd_close_decision_t c;
    bd_ledger_decide_capture(fx->l, o.order_id, "p", &c);
    assert_int_equal(bd_ledger_commit_close(fx->l, &c), 0);
    assert_int_equal(s_bal(fx->l, "provider:p"), 2500);
    assert_int_equal(s_bal(fx->l, "subsidy_fund"), -2500);
    s_assert_conserved(fx->l);
}

/* An emergency is held even when the county has no price for it. */
static void test_emergency_without_price_is_held(void **state)
{
    fx_t *fx = *state;
    bd_order_t o = s_order("f0000000-0000-4000-8000-000000000202", CARD, 0, 1);
    bd_hold_decision_t d;
    bd_ledger_decide_hold(fx->l, fx->p, &o, &d);
    assert_true(d.held);
    assert_int_equal(d.hold.price_fen, 0);
    assert_int_equal(d.hold.held_fen, 0);
    assert_int_equal(d.postings.n, 0);
    assert_int_equal(bd_ledger_commit_hold(fx->l, &d), 0);
    o.emergency = 0;
    o.order_id = "f0000000-0000-4000-8000-000000000203";
    bd_ledger_decide_hold(fx->l, fx->p, &o, &d);
    assert_string_equal(d.reason, "no_price");
}

/* An order without a card: the fund pays an emergency or a mandated one
 * whole (a hold on no card that moves nothing; the capture moves the fund
 * to the provider); any other is denied no_card, and a card-less release
 * moves nothing. The last part plants a card-less capture that would take
 * the price from a card's held account: the ledger refuses it. */
static void test_cardless_fund_pays(void **state)
{
    fx_t *fx = *state;
    bd_order_t o = s_order("f0000000-0000-4000-8000-000000000301", "", BATH, 0);
    bd_hold_decision_t d;
    bd_ledger_decide_hold(fx->l, fx->p, &o, &d);
    assert_false(d.held);
    assert_string_equal(d.reason, "no_card");
    o.card_id = NULL;
    bd_ledger_decide_hold(fx->l, fx->p, &o, &d);
    assert_string_equal(d.reason, "no_card");

    o = s_order("f0000000-0000-4000-8000-000000000302", "", EMERGENCY, 1);
    bd_ledger_decide_hold(fx->l, fx->p, &o, &d);
    assert_true(d.held);
    assert_string_equal(d.hold.card_id, "");
    assert_int_equal(d.hold.price_fen, 8000);
    assert_int_equal(d.hold.subsidy_fen, 8000);
    assert_int_equal(d.hold.held_fen, 0);
    assert_int_equal(d.hold.arrears_fen, 0);
    assert_int_equal(d.postings.n, 0);
    assert_int_equal(bd_ledger_commit_hold(fx->l, &d), 0);
    assert_non_null(bd_ledger_hold(fx->l, o.order_id));
    bd_close_decision_t c;
    assert_int_equal(bd_ledger_decide_capture(fx->l, o.order_id, "p1", &c), 0);
    assert_int_equal(bd_postings_sum(&c.postings), 0);
    assert_int_equal(c.charged_fen, 0);
    assert_int_equal(bd_ledger_commit_close(fx->l, &c), 0);
    assert_int_equal(s_bal(fx->l, "provider:p1"), 8000);
    assert_int_equal(s_bal(fx->l, "subsidy_fund"), -8000);
    assert_int_equal(s_bal(fx->l, "card:" CARD ":available"), 0);
    assert_null(bd_ledger_hold(fx->l, o.order_id));

    /* Mandated without a card: a priced visit, the fund pays; released. */
    bd_pricing_set_price(fx->p, VISIT, 2500);
    o = s_order("f0000000-0000-4000-8000-000000000303", "", VISIT, 0);
    o.mandated = 1;
    bd_ledger_decide_hold(fx->l, fx->p, &o, &d);
    assert_true(d.held);
    assert_int_equal(d.hold.subsidy_fen, 2500);
    assert_int_equal(bd_ledger_commit_hold(fx->l, &d), 0);
    assert_int_equal(bd_ledger_decide_release(fx->l, o.order_id, &c), 0);
    assert_int_equal(c.postings.n, 0);
    assert_int_equal(c.released_fen, 0);
    assert_int_equal(bd_ledger_commit_close(fx->l, &c), 0);
    assert_int_equal(s_bal(fx->l, "subsidy_fund"), -8000);
    s_assert_conserved(fx->l);

    /* Planted: a card-less "capture" taking the price from the card's held
     * account would make it negative; the ledger refuses to apply it. */
    bd_postings_t bad;
    bd_postings_init(&bad);
    bd_postings_add(&bad, "card:" CARD ":held", -8000);
    bd_postings_add(&bad, "provider:p1", 8000);
    assert_int_equal(bd_ledger_apply(fx->l, &bad), -1);
}

static void test_topup_rules(void **state)
{
    fx_t *fx = *state;
    bd_topup_decision_t t;
    assert_int_equal(bd_ledger_decide_topup(fx->l, CARD, 0, BD_SRC_FAMILY, &t), -1);
    assert_int_equal(bd_ledger_decide_topup(fx->l, CARD, -5, BD_SRC_FAMILY, &t), -1);
    assert_int_equal(bd_ledger_decide_topup(fx->l, CARD2, 5, BD_SRC_FAMILY, &t), -1);
    assert_int_equal(bd_ledger_decide_topup(fx->l, CARD, 5, (bd_source_t)7, &t), -1);
    bd_ledger_card(fx->l, CARD)->status = BD_CARD_CLOSED;
    assert_int_equal(bd_ledger_decide_topup(fx->l, CARD, 5, BD_SRC_FAMILY, &t), -1);
    bd_ledger_card(fx->l, CARD)->status = BD_CARD_BLOCKED;   /* a lost card keeps its money */
    assert_int_equal(bd_ledger_decide_topup(fx->l, CARD, 5, BD_SRC_SUBSIDY, &t), 0);
    assert_int_equal(t.available_after_fen, 5);
    /* The balance bound of cc_limits.h: up to it, not one fen past. */
    assert_int_equal(bd_ledger_load_balance(fx->l, "card:" CARD ":available",
                                            CC_FEN_BALANCE_MAX - 5), 0);
    assert_int_equal(bd_ledger_decide_topup(fx->l, CARD, 5, BD_SRC_FAMILY, &t), 0);
    assert_true(t.available_after_fen == CC_FEN_BALANCE_MAX);
    assert_int_equal(bd_ledger_decide_topup(fx->l, CARD, 6, BD_SRC_FAMILY, &t), -1);
    assert_int_equal(bd_ledger_load_balance(fx->l, "card:" CARD ":available", INT64_MAX - 2), 0);
    assert_int_equal(bd_ledger_decide_topup(fx->l, CARD, 5, BD_SRC_FAMILY, &t), -1);
}

/* Loading balances rebuilds totals; card accounts need the card first. */
static void test_load_balances(void **state)
{
    fx_t *fx = *state;
    assert_int_equal(bd_ledger_load_balance(fx->l, "card:" CARD ":available", 700), 0);
    assert_int_equal(bd_ledger_load_balance(fx->l, "card:" CARD2 ":available", 700), -1);
    assert_int_equal(bd_ledger_load_balance(fx->l, "provider:x", 300), 0);
    assert_int_equal(bd_ledger_load_balance(fx->l, "source:family", -1000), 0);
    assert_int_equal(bd_ledger_load_balance(fx->l, "nonsense", 1), -1);
    bd_totals_t t;
    bd_ledger_totals(fx->l, &t);
    assert_int_equal(t.available_fen, 700);
    assert_int_equal(t.payable_fen, 300);
    assert_int_equal(t.topped_up_fen, 1000);
    assert_int_equal(bd_ledger_card_count(fx->l), 1);
    assert_null(bd_ledger_open_card(fx->l, "not a card id!", 1, "none", 1));
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, s_setup, s_teardown)
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_account_kinds),
        cmocka_unit_test(test_postings_merge_and_drop_zero),
        T(test_unbalanced_postings_refused),
        T(test_negative_balance_refused),
        T(test_hold_capture),
        T(test_subsidy_paid_by_fund_on_capture),
        T(test_denials),
        T(test_emergency_books_arrears),
        T(test_emergency_release_reverses_arrears),
        T(test_topup_pays_arrears_first),
        T(test_release_pays_other_debt),
        T(test_uncommit_restores),
        T(test_monthly_cap_across_holds),
        T(test_mandated_paid_by_fund),
        T(test_emergency_without_price_is_held),
        T(test_cardless_fund_pays),
        T(test_topup_rules),
        T(test_load_balances),
    };
    return cmocka_run_group_tests_name("bd_ledger", tests, NULL, NULL);
}
