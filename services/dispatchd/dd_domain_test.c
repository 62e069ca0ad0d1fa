/* Unit tests for dd_domain: services, qualification, shifts, plans, queue
 * order. The choice of caregiver is dd_model_test's. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dd_domain.h"
#include "vrp.h"

/* 2026-11-26 00:00 Asia/Shanghai. */
#define DAY0_US (1795622400LL * 1000000)
#define MIN_US (60LL * 1000000)
static int64_t s_at(int h, int m)
{
    return DAY0_US + (int64_t) (h * 60 + m) * MIN_US;
}

static dd_caregiver_t s_cg(const char *id, double lat, double lon, uint32_t skills, int level,
                           int first_aid)
{
    dd_caregiver_t c;
    memset(&c, 0, sizeof c);
    snprintf(c.id, sizeof c.id, "%s", id);
    snprintf(c.provider_id, sizeof c.provider_id, "prov-%s", id);
    c.lat = lat;
    c.lon = lon;
    c.skills = skills;
    c.level = level;
    c.first_aid = first_aid;
    c.shift_start_min = 8 * 60;
    c.shift_end_min = 18 * 60;
    c.district_id = 1;
    return c;
}

static dd_visit_t s_visit(const char *id, int service, int64_t ws, int64_t we)
{
    dd_visit_t v;
    memset(&v, 0, sizeof v);
    snprintf(v.id, sizeof v.id, "%s", id);
    snprintf(v.order_id, sizeof v.order_id, "o-%s", id);
    v.service = service;
    v.window_start_us = ws;
    v.window_end_us = we;
    v.ability = DD_ABILITY_MILD;
    v.district_id = 1;
    return v;
}

#define SK(s) (1u << (s))
static void test_service_table(void **state)
{
    (void) state;
    assert_int_equal(dd_service_minutes(DD_SVC_BATH), 60);
    assert_int_equal(dd_service_minutes(DD_SVC_CLEANING), 90);
    assert_int_equal(dd_service_minutes(DD_SVC_ESCORT), 60);
    assert_int_equal(dd_service_minutes(DD_SVC_MEDICAL_ESCORT), 180);
    assert_int_equal(dd_service_minutes(DD_SVC_EMERGENCY), 60);
    assert_int_equal(dd_service_minutes(DD_SVC_VISIT), 45);
    assert_int_equal(dd_service_minutes(DD_SVC_ASSESSMENT), 60);
    assert_false(dd_service_is_visit(DD_SVC_MEAL));
    assert_false(dd_service_is_visit(0));
    assert_false(dd_service_is_visit(99));
    assert_false(dd_service_is_visit(-1));
    assert_int_equal(dd_ability_parse("severe"), DD_ABILITY_SEVERE);
    assert_int_equal(dd_ability_parse("Severe"), DD_ABILITY_UNKNOWN);
    assert_int_equal(dd_ability_parse(NULL), DD_ABILITY_UNKNOWN);
    assert_string_equal(dd_ability_name(DD_ABILITY_TOTAL), "total");
    assert_int_equal(dd_visit_state_parse("checked_in"), DD_VISIT_CHECKED_IN);
    assert_int_equal(dd_visit_state_parse("bogus"), -1);
    assert_string_equal(dd_visit_state_name(DD_VISIT_WAITING), "waiting");
}

static void test_skill_required(void **state)
{
    (void) state;
    dd_caregiver_t c = s_cg("a", 0, 0, SK(DD_SVC_CLEANING), 3, 1);
    dd_visit_t v = s_visit("v", DD_SVC_BATH, s_at(9, 0), s_at(11, 0));
    assert_int_equal(dd_qualified(&c, &v), DD_FIT_SKILL);
    c.skills |= SK(DD_SVC_BATH);
    assert_int_equal(dd_qualified(&c, &v), DD_FIT_OK);
}

/* An Idempotency-Key replay must carry the same registration. */
static void test_caregiver_same(void **state)
{
    (void) state;
    dd_caregiver_t a = s_cg("a", 1, 2, 1u << DD_SVC_VISIT, 2, 1);
    a.name = "Ms A";
    a.district_id = 7;
    strcpy(a.provider_id, "p1");
    dd_caregiver_t b = a;
    strcpy(b.id, "b");                       /* ids and keys do not count */
    strcpy(b.idem_key, "key");
    b.nplan = 3;                             /* nor does the plan */
    assert_true(dd_caregiver_same(&a, &b));
    char other_name[] = "Ms A";              /* names compare by text */
    b.name = other_name;
    assert_true(dd_caregiver_same(&a, &b));
    dd_caregiver_t c;
#define S_DIFFERS(stmt) c = b; stmt; assert_false(dd_caregiver_same(&a, &c))
    S_DIFFERS(strcpy(c.provider_id, "p2"));
    S_DIFFERS(c.district_id = 8);
    S_DIFFERS(c.name = "Ms B");
    S_DIFFERS(c.name = NULL);
    S_DIFFERS(c.lat += 1e-9);
    S_DIFFERS(c.lon -= 1e-9);
    S_DIFFERS(c.skills |= 1u << DD_SVC_BATH);
    S_DIFFERS(c.level = 3);
    S_DIFFERS(c.first_aid = 0);
    S_DIFFERS(c.shift_start_min += 1);
    S_DIFFERS(c.shift_end_min -= 1);
#undef S_DIFFERS
}

static void test_level_rule_for_bathing(void **state)
{
    (void) state;
    dd_caregiver_t c = s_cg("a", 0, 0, SK(DD_SVC_BATH) | SK(DD_SVC_CLEANING), 1, 0);
    dd_visit_t v = s_visit("v", DD_SVC_BATH, s_at(9, 0), s_at(11, 0));
    const dd_ability_t needs[] = {DD_ABILITY_SEVERE, DD_ABILITY_TOTAL};
    for (int i = 0; i < 2; i++) {
        v.ability = needs[i];
        c.level = 1;
        assert_int_equal(dd_qualified(&c, &v), DD_FIT_LEVEL);
        c.level = 2;
        assert_int_equal(dd_qualified(&c, &v), DD_FIT_OK);
    }
    /* moderate: level 1 is enough; cleaning a severe elder: level 1 is enough */
    c.level = 1;
    v.ability = DD_ABILITY_MODERATE;
    assert_int_equal(dd_qualified(&c, &v), DD_FIT_OK);
    v.ability = DD_ABILITY_SEVERE;
    v.service = DD_SVC_CLEANING;
    assert_int_equal(dd_qualified(&c, &v), DD_FIT_OK);
}

static void test_emergency_needs_first_aid(void **state)
{
    (void) state;
    dd_caregiver_t c = s_cg("a", 0, 0, SK(DD_SVC_EMERGENCY) | SK(DD_SVC_VISIT), 3, 0);
    dd_visit_t v = s_visit("v", DD_SVC_EMERGENCY, s_at(9, 0), s_at(10, 0));
    v.emergency = 1;
    assert_int_equal(dd_qualified(&c, &v), DD_FIT_FIRST_AID);
    c.first_aid = 1;
    assert_int_equal(dd_qualified(&c, &v), DD_FIT_OK);
    /* a visit flagged emergency needs first aid whatever the service */
    c.first_aid = 0;
    v.service = DD_SVC_VISIT;
    assert_int_equal(dd_qualified(&c, &v), DD_FIT_FIRST_AID);
}

static void test_shift_occurrence(void **state)
{
    (void) state;
    int64_t s, e;
    dd_shift_at(8 * 60, 18 * 60, s_at(7, 0), &s, &e);
    assert_true(s == s_at(8, 0) && e == s_at(18, 0));
    dd_shift_at(8 * 60, 18 * 60, s_at(19, 0), &s, &e);   /* today's is over: tomorrow's */
    assert_true(s == s_at(24 + 8, 0) && e == s_at(24 + 18, 0));
    dd_shift_at(22 * 60, 6 * 60, s_at(2, 0), &s, &e);     /* overnight, started yesterday */
    assert_true(s == s_at(-2, 0) && e == s_at(6, 0));
    dd_shift_at(22 * 60, 6 * 60, s_at(12, 0), &s, &e);    /* overnight, tonight's */
    assert_true(s == s_at(22, 0) && e == s_at(30, 0));
    dd_shift_at(0, 0, s_at(12, 0), &s, &e);               /* equal: 24 h */
    assert_true(e - s == 24 * 60 * MIN_US);
}

static void test_plan_order(void **state)
{
    (void) state;
    dd_caregiver_t c = s_cg("a", 0, 0, SK(DD_SVC_VISIT), 1, 0);
    dd_visit_t v[4];
    const int hours[] = {12, 9, 15, 10};
    for (int i = 0; i < 4; i++) {
        v[i] = s_visit("x", DD_SVC_VISIT, 0, 0);
        v[i].eta_us = s_at(hours[i], 0);
        assert_int_equal(dd_plan_add(&c, &v[i]), 0);
    }
    assert_int_equal(c.nplan, 4);
    for (size_t i = 1; i < c.nplan; i++)
        assert_true(c.plan[i - 1]->eta_us <= c.plan[i]->eta_us);
    dd_plan_remove(&c, &v[1]);
    dd_plan_remove(&c, &v[1]);   /* absent: no-op */
    assert_int_equal(c.nplan, 3);
    assert_ptr_equal(c.plan[0], &v[3]);
    free(c.plan);
}

/* plan_eta and plan_pt mirror the plan's start times, places, ends and
 * check-ins through add (growing past the first block), remove, and a lift
 * put back (the decision reads them instead of the visits). */
static void s_assert_mirror(const dd_caregiver_t *c)
{
    for (size_t i = 0; i < c->nplan; i++) {
        const dd_visit_t *x = c->plan[i];
        double u[3];
        vrp_geo_point(x->lat, x->lon, u);
        assert_true(c->plan_eta[i] == x->eta_us);
        assert_true(c->plan_pt[i].end_us == x->planned_end_us);
        assert_true(c->plan_pt[i].u[0] == u[0] && c->plan_pt[i].u[1] == u[1]
                    && c->plan_pt[i].u[2] == u[2]);
        assert_int_equal(c->plan_pt[i].checked_in, x->state == DD_VISIT_CHECKED_IN);
        if (i > 0)
            assert_true(c->plan_eta[i - 1] <= c->plan_eta[i]);
    }
}

static void test_plan_eta_mirror(void **state)
{
    (void) state;
    dd_caregiver_t c = s_cg("a", 0, 0, SK(DD_SVC_VISIT), 1, 0);
    enum { N = 37 };
    dd_visit_t v[N];
    for (int i = 0; i < N; i++) {
        v[i] = s_visit("x", DD_SVC_VISIT, 0, 0);
        v[i].eta_us = s_at((i * 7) % 24, (i * 13) % 60);
        v[i].planned_end_us = v[i].eta_us + (10 + i) * 60 * CC_US_PER_S;
        v[i].lat = 30.2 + 0.001 * i;
        v[i].lon = 120.1 - 0.002 * i;
        v[i].state = i % 5 == 1 ? DD_VISIT_CHECKED_IN : DD_VISIT_ASSIGNED;
        assert_int_equal(dd_plan_add(&c, &v[i]), 0);
        s_assert_mirror(&c);
    }
    uint64_t ver = c.plan_ver;
    dd_visit_t *u = dd_plan_lift(&c, 5);
    assert_int_equal(c.nplan, N - 1);
    s_assert_mirror(&c);
    dd_plan_put_back(&c, 5, u);
    assert_int_equal(c.nplan, N);
    assert_ptr_equal(c.plan[5], u);
    assert_true(c.plan_ver == ver);   /* nothing changed */
    s_assert_mirror(&c);
    /* A state change in place (dd_world_set_state calls dd_plan_refresh),
     * also among visits of the same start. */
    v[2].state = DD_VISIT_CHECKED_IN;
    dd_plan_refresh(&c, &v[2]);
    s_assert_mirror(&c);
    v[1].state = DD_VISIT_ACCEPTED;
    dd_plan_refresh(&c, &v[1]);
    s_assert_mirror(&c);
    for (int i = 0; i < N; i += 3) {
        dd_plan_remove(&c, &v[i]);
        s_assert_mirror(&c);
    }
    free(c.plan);
}

static void test_urgency_order(void **state)
{
    (void) state;
    dd_visit_t a = s_visit("a", DD_SVC_VISIT, s_at(9, 0), s_at(10, 0));
    dd_visit_t b = s_visit("b", DD_SVC_VISIT, s_at(8, 0), s_at(10, 0));
    dd_visit_t e = s_visit("e", DD_SVC_EMERGENCY, s_at(11, 0), s_at(12, 0));
    e.emergency = 1;
    dd_visit_t p = s_visit("p", DD_SVC_VISIT, s_at(9, 0), s_at(10, 0));
    p.priority = 5;
    dd_visit_t *arr[] = {&a, &b, &e, &p};
    qsort(arr, 4, sizeof *arr, dd_visit_urgency_cmp);
    assert_ptr_equal(arr[0], &e);
    assert_ptr_equal(arr[1], &b);
    assert_ptr_equal(arr[2], &p);
    assert_ptr_equal(arr[3], &a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_service_table),
        cmocka_unit_test(test_skill_required),
        cmocka_unit_test(test_caregiver_same),
        cmocka_unit_test(test_level_rule_for_bathing),
        cmocka_unit_test(test_emergency_needs_first_aid),
        cmocka_unit_test(test_shift_occurrence),
        cmocka_unit_test(test_plan_order),
        cmocka_unit_test(test_plan_eta_mirror),
        cmocka_unit_test(test_urgency_order),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
