/* Unit tests for dd_capacity (a district's figures per day, the reporting
 * threshold) and the duty ranks a short day honours (dd_visit_duty_rank,
 * dd_model_match_ranked), with the real day model. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "dd_capacity.h"
#include "dd_model.h"
#include "dd_rules.h"
#include "dd_test_geo.h"

#define SK DD_TEST_SK

/* orderd's od_priority_ranked, as the proto documents it. */
static int32_t s_prio(int rank, int64_t ws)
{
    int64_t min = (ws - 1577836800LL * 1000000) / DD_TEST_MIN_US;
    return (int32_t) ((((int64_t) 1 << 28) - 1 - min) + ((int64_t) rank << 28));
}

static void test_duty_rank(void **state)
{
    (void) state;
    dd_visit_t v = dd_test_visit("v", DD_SVC_VISIT, dd_test_at(9, 0), dd_test_at(17, 0));
    for (int r = 0; r <= 2; r++) {
        v.priority = s_prio(r, v.window_start_us);
        assert_int_equal(dd_visit_duty_rank(&v), r);
    }
    /* A priority from before the ranks (minutes in bits 0-29) is no rank. */
    v.priority = (int32_t) ((((int64_t) 1 << 30) - 1)
                            - (v.window_start_us - 1577836800LL * 1000000) / DD_TEST_MIN_US);
    assert_int_equal(dd_visit_duty_rank(&v), 0);
    v.priority = s_prio(2, v.window_start_us);
    v.emergency = 1;
    assert_int_equal(dd_visit_duty_rank(&v), 0);
}

static void test_compute(void **state)
{
    (void) state;
    int32_t day0 = dd_day_of(dd_test_at(12, 0));
    dd_caregiver_t a = dd_test_cg("a", 0, SK(DD_SVC_VISIT), 1, 0);
    dd_caregiver_t b = dd_test_cg("b", 0, SK(DD_SVC_VISIT), 1, 0);
    dd_caregiver_t c = dd_test_cg("c", 0, SK(DD_SVC_VISIT), 1, 0);
    c.district_id = 2;
    b.shift_start_min = 9 * 60;   /* 09:00-17:00: 480 minutes */
    b.shift_end_min = 17 * 60;
    /* a is off sick tomorrow; works 10:00-12:00 the day after */
    dd_rota_t sick = { .day = day0 + 1, .off = DD_OFF_SICK };
    dd_rota_t shortday = { .day = day0 + 2, .off = DD_OFF_NONE, .start_min = 600, .end_min = 720 };
    assert_int_equal(dd_rules_rota_set(&a, &sick), 0);
    assert_int_equal(dd_rules_rota_set(&a, &shortday), 0);
    /* a's plan today: a routine visit (45 min + 10 of travel) and a duty
     * visit (45 + 0); one tomorrow is not today's; a finished one counts not. */
    dd_visit_t v1 = dd_test_visit("v1", DD_SVC_VISIT, dd_test_at(9, 0), dd_test_at(17, 0));
    v1.eta_us = dd_test_at(10, 0);
    v1.planned_end_us = dd_test_at(10, 45);
    v1.travel_s = 600;
    v1.state = DD_VISIT_PLANNED;
    dd_visit_t v2 = v1;
    snprintf(v2.id, sizeof v2.id, "v2");
    v2.eta_us = dd_test_at(11, 0);
    v2.planned_end_us = dd_test_at(11, 45);
    v2.travel_s = 0;
    v2.priority = s_prio(2, v2.window_start_us);
    dd_visit_t v3 = v1;
    snprintf(v3.id, sizeof v3.id, "v3");
    v3.eta_us += 24 * 60 * DD_TEST_MIN_US;
    v3.planned_end_us += 24 * 60 * DD_TEST_MIN_US;
    assert_int_equal(dd_plan_add(&a, &v1), 0);
    assert_int_equal(dd_plan_add(&a, &v2), 0);
    assert_int_equal(dd_plan_add(&b, &v3), 0);
    dd_caregiver_t *cgs[] = { &c, &a, &b };
    dd_capacity_t *cap = NULL;
    int n = dd_capacity_compute(cgs, 3, day0, 3, &cap);
    assert_int_equal(n, 6);
    /* sorted: district 1 days 0..2, district 2 days 0..2 */
    assert_int_equal(cap[0].district, 1);
    assert_int_equal(cap[0].day, day0);
    assert_int_equal(cap[0].shift_min, 600 + 480);
    assert_int_equal(cap[0].caregivers, 2);
    assert_int_equal(cap[0].planned_min, 55 + 45);
    assert_int_equal(cap[0].duty_min, 45);
    assert_int_equal(cap[1].shift_min, 480);   /* a off sick */
    assert_int_equal(cap[1].caregivers, 1);
    assert_int_equal(cap[1].planned_min, 55);  /* b's visit tomorrow */
    assert_int_equal(cap[1].duty_min, 0);
    assert_int_equal(cap[2].shift_min, 120 + 480);
    assert_int_equal(cap[3].district, 2);
    assert_int_equal(cap[3].shift_min, 600);
    assert_int_equal(cap[3].planned_min, 0);
    free(cap);
    dd_rules_free(&a);
    free(a.plan);
    free(b.plan);
}

static void test_changed(void **state)
{
    (void) state;
    dd_capacity_t x = { 1, 100, 600, 120, 60, 1 }, y = x;
    assert_false(dd_capacity_changed(&x, &y, 30));
    y.planned_min += 29;
    assert_false(dd_capacity_changed(&x, &y, 30));
    y.planned_min += 1;
    assert_true(dd_capacity_changed(&x, &y, 30));
    y = x;
    y.caregivers = 2;   /* a caregiver more: always */
    assert_true(dd_capacity_changed(&x, &y, 30));
    y = x;
    y.duty_min -= 45;
    assert_true(dd_capacity_changed(&x, &y, 30));
}

/* A short day: one caregiver, 08:00-09:00, holding a planned monthly visit
 * (rank 1). A weekly contact (rank 2) for that hour fits nowhere else. */
static void test_ranked_bump(void **state)
{
    (void) state;
    dd_caregiver_t c = dd_test_cg("a", 0, SK(DD_SVC_VISIT), 1, 0);
    c.shift_end_min = 9 * 60;
    dd_model_params_t p = dd_test_params(dd_test_at(6, 0));
    dd_visit_t low = dd_test_visit("low", DD_SVC_VISIT, dd_test_at(8, 0), dd_test_at(8, 15));
    low.priority = s_prio(1, low.window_start_us);
    low.eta_us = dd_test_at(8, 0);
    low.planned_end_us = dd_test_at(8, 45);
    low.state = DD_VISIT_PLANNED;
    assert_int_equal(dd_plan_add(&c, &low), 0);
    dd_visit_t v = dd_test_visit("v", DD_SVC_VISIT, dd_test_at(8, 0), dd_test_at(8, 15));
    v.priority = s_prio(2, v.window_start_us);
    dd_match_t m;
    dd_visit_t *bumped = NULL;
    dd_caregiver_t *one[] = { &c };
    assert_int_equal(dd_model_match(one, 1, &v, &p, &m), -1);   /* the day is full */
    assert_int_equal(dd_model_match_ranked(one, 1, &v, &p, 0, &m, &bumped), 0);
    assert_ptr_equal(bumped, &low);
    assert_ptr_equal(m.caregiver, &c);
    assert_int_equal(c.nplan, 1);   /* plans left as they were: the caller moves it */
    /* Never an equal rank (a monthly visit does not bump a monthly visit),
     * never an offered one, never an emergency, never a non-duty asking. */
    v.priority = s_prio(1, v.window_start_us);
    assert_int_equal(dd_model_match_ranked(one, 1, &v, &p, 0, &m, &bumped), -1);
    v.priority = s_prio(0, v.window_start_us);
    assert_int_equal(dd_model_match_ranked(one, 1, &v, &p, 0, &m, &bumped), -1);
    v.priority = s_prio(2, v.window_start_us);
    low.state = DD_VISIT_ASSIGNED;
    assert_int_equal(dd_model_match_ranked(one, 1, &v, &p, 0, &m, &bumped), -1);
    /* ... unless v is offered now: then an offered one gives way as to an
     * emergency (the caller writes VisitDeclined{preempted}). */
    assert_int_equal(dd_model_match_ranked(one, 1, &v, &p, 1, &m, &bumped), 0);
    assert_ptr_equal(bumped, &low);
    low.state = DD_VISIT_ACCEPTED;   /* accepted: never */
    assert_int_equal(dd_model_match_ranked(one, 1, &v, &p, 1, &m, &bumped), -1);
    low.state = DD_VISIT_PLANNED;
    low.emergency = 1;
    assert_int_equal(dd_model_match_ranked(one, 1, &v, &p, 0, &m, &bumped), -1);
    low.emergency = 0;
    /* A routine visit (no rank) gives way too. */
    low.priority = s_prio(0, low.window_start_us);
    assert_int_equal(dd_model_match_ranked(one, 1, &v, &p, 0, &m, &bumped), 0);
    assert_ptr_equal(bumped, &low);
    free(c.plan);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_duty_rank),
        cmocka_unit_test(test_compute),
        cmocka_unit_test(test_changed),
        cmocka_unit_test(test_ranked_bump),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
