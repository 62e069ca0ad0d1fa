/* Unit tests for dd_rules: a dispatcher's rules (rota, certificates, zones,
 * pins) as the libvrp day model sees them (dd_model_match and
 * dd_model_match_urgent), with the real travel function (dd_test_geo.h).
 * Each rule is shown to hold and, on the same data without the rule, to
 * change the answer (so the assertion can fail). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dd_model.h"
#include "dd_rules.h"
#include "dd_test_geo.h"

#define SK DD_TEST_SK

static void s_free(dd_caregiver_t *c)
{
    dd_rules_free(c);
    free(c->plan);
}

static void test_dates(void **state)
{
    (void) state;
    int32_t d;
    assert_int_equal(dd_day_parse("2026-11-26", &d), 0);
    assert_int_equal(d, dd_day_of(DD_TEST_DAY0_US));
    assert_int_equal(dd_day_of(DD_TEST_DAY0_US - 1), d - 1);   /* local midnight, not UTC */
    assert_true(dd_day_start_us(d) == DD_TEST_DAY0_US);
    char buf[16];
    assert_string_equal(dd_day_format(d, buf, sizeof buf), "2026-11-26");
    assert_int_equal(dd_day_parse("2026-02-30", &d), -1);
    assert_int_equal(dd_day_parse("2026-11-26x", &d), -1);
    assert_int_equal(dd_day_parse("", &d), -1);
}

static void test_rota_shift_replaces_default(void **state)
{
    (void) state;
    dd_caregiver_t c = dd_test_cg("c", 5, SK(DD_SVC_CLEANING), 1, 0);
    dd_model_params_t p = dd_test_params(dd_test_at(7, 0));
    dd_visit_t v = dd_test_visit("v", DD_SVC_CLEANING, dd_test_at(9, 0), dd_test_at(10, 0));
    dd_match_t m;
    /* Default shift 08-18: fits at 09:00. */
    assert_int_equal(dd_test_fit(&c, &v, &p, &m), 0);
    assert_true(m.eta_us == dd_test_at(9, 0));
    /* Rota that day 13:00-17:00: a 09:00-10:00 window no longer fits... */
    dd_rota_t e = {.day = dd_day_of(DD_TEST_DAY0_US), .off = DD_OFF_NONE, .start_min = 13 * 60,
                   .end_min = 17 * 60};
    assert_int_equal(dd_rules_rota_set(&c, &e), 0);
    assert_int_equal(dd_test_fit(&c, &v, &p, &m), -1);
    /* ...a 12:00-15:00 one starts at 13:05 (leaves home at 13:00, 5 min). */
    v.window_start_us = dd_test_at(12, 0);
    v.window_end_us = dd_test_at(15, 0);
    assert_int_equal(dd_test_fit(&c, &v, &p, &m), 0);
    assert_true(m.eta_us == dd_test_at(13, 5));
    /* The next day has no entry: the default shift again. */
    v.window_start_us = dd_test_at(24 + 9, 0);
    v.window_end_us = dd_test_at(24 + 10, 0);
    assert_int_equal(dd_test_fit(&c, &v, &p, &m), 0);
    assert_true(m.eta_us == dd_test_at(24 + 9, 0));
    s_free(&c);
}

static void test_rota_days_off(void **state)
{
    (void) state;
    /* A first-aider off that day: no routine visit; an emergency still
     * gets them off shift on a day off, never on leave or sick. */
    dd_caregiver_t c = dd_test_cg("c", 5, SK(DD_SVC_CLEANING) | SK(DD_SVC_EMERGENCY), 1, 1);
    dd_model_params_t p = dd_test_params(dd_test_at(9, 0));
    dd_visit_t v = dd_test_visit("v", DD_SVC_CLEANING, dd_test_at(10, 0), dd_test_at(11, 0));
    dd_visit_t e = dd_test_visit("e", DD_SVC_EMERGENCY, dd_test_at(9, 0), dd_test_at(10, 0));
    e.emergency = 1;
    dd_match_t m;
    assert_int_equal(dd_test_fit(&c, &v, &p, &m), 0);
    assert_int_equal(dd_test_fit(&c, &e, &p, &m), 0);
    assert_false(m.off_shift);
    static const dd_off_t offs[] = {DD_OFF_DAY_OFF, DD_OFF_LEAVE, DD_OFF_SICK};
    for (size_t k = 0; k < 3; k++) {
        dd_rota_t r = {.day = dd_day_of(DD_TEST_DAY0_US), .off = offs[k]};
        assert_int_equal(dd_rules_rota_set(&c, &r), 0);
        assert_int_equal(dd_test_fit(&c, &v, &p, &m), -1);
        int rc = dd_test_fit(&c, &e, &p, &m);
        if (offs[k] == DD_OFF_DAY_OFF) {
            assert_int_equal(rc, 0);
            assert_true(m.off_shift);
        } else {
            assert_int_equal(rc, -1);
        }
    }
    /* Sick today only: tomorrow's visit fits. */
    v.window_start_us = dd_test_at(24 + 10, 0);
    v.window_end_us = dd_test_at(24 + 11, 0);
    assert_int_equal(dd_test_fit(&c, &v, &p, &m), 0);
    s_free(&c);
}

static void test_sick_day_visits(void **state)
{
    (void) state;
    /* dd_rules_day_visits: the day's visits not started, the ones a sick
     * call puts back in the queue. */
    dd_caregiver_t c = dd_test_cg("c", 0, SK(DD_SVC_CLEANING), 1, 0);
    dd_visit_t a = dd_test_visit("a", DD_SVC_CLEANING, dd_test_at(9, 0), dd_test_at(9, 0));
    dd_visit_t b = dd_test_visit("b", DD_SVC_CLEANING, dd_test_at(11, 0), dd_test_at(11, 0));
    dd_visit_t t = dd_test_visit("t", DD_SVC_CLEANING, dd_test_at(24 + 9, 0),
                                 dd_test_at(24 + 9, 0));
    a.state = DD_VISIT_CHECKED_IN;
    b.state = DD_VISIT_ACCEPTED;
    t.state = DD_VISIT_ASSIGNED;
    dd_visit_t *vs[] = {&a, &b, &t};
    for (int i = 0; i < 3; i++) {
        vs[i]->eta_us = vs[i]->window_start_us;
        vs[i]->planned_end_us = vs[i]->eta_us + 60 * DD_TEST_MIN_US;
        assert_int_equal(dd_plan_add(&c, vs[i]), 0);
    }
    dd_visit_t *out[4];
    assert_int_equal(dd_rules_day_visits(&c, dd_day_of(DD_TEST_DAY0_US), out, 4), 1);
    assert_ptr_equal(out[0], &b);
    assert_int_equal(dd_rules_day_visits(&c, dd_day_of(DD_TEST_DAY0_US) + 1, out, 4), 1);
    assert_ptr_equal(out[0], &t);
    a.state = DD_VISIT_ASSIGNED;   /* the same day with a not started: both */
    assert_int_equal(dd_rules_day_visits(&c, dd_day_of(DD_TEST_DAY0_US), out, 4), 2);
    s_free(&c);
}

static void test_certificate_expiry(void **state)
{
    (void) state;
    /* Registered without the skill; a cleaning certificate valid until
     * 12:00 decides: a visit whose window (and service) ends before fits,
     * one after does not. */
    dd_caregiver_t c = dd_test_cg("c", 5, 0, 1, 0);
    dd_model_params_t p = dd_test_params(dd_test_at(8, 0));
    dd_visit_t v = dd_test_visit("v", DD_SVC_CLEANING, dd_test_at(9, 0), dd_test_at(10, 0));
    dd_match_t m;
    assert_int_equal(dd_qualified(&c, &v), DD_FIT_SKILL);
    assert_int_equal(dd_test_fit(&c, &v, &p, &m), -1);
    dd_cert_t x = {.id = "x", .kind = DD_SVC_CLEANING, .level = 1, .from_us = dd_test_at(0, 0),
                   .until_us = dd_test_at(12, 0)};
    assert_int_equal(dd_rules_cert_add(&c, &x), 0);
    assert_int_equal(dd_qualified(&c, &v), DD_FIT_OK);
    assert_int_equal(dd_test_fit(&c, &v, &p, &m), 0);
    dd_visit_t late = dd_test_visit("late", DD_SVC_CLEANING, dd_test_at(13, 0), dd_test_at(14, 0));
    assert_int_equal(dd_qualified(&c, &late), DD_FIT_CERTIFICATE);
    assert_int_equal(dd_test_fit(&c, &late, &p, &m), -1);
    /* A window that runs past the expiry: refused too (no assignment can
     * end past it). */
    dd_visit_t across = dd_test_visit("across", DD_SVC_CLEANING, dd_test_at(11, 0),
                                      dd_test_at(12, 30));
    assert_int_equal(dd_qualified(&c, &across), DD_FIT_CERTIFICATE);
    /* An expired certificate beats the static skill. */
    c.skills = SK(DD_SVC_CLEANING);
    assert_int_equal(dd_test_fit(&c, &late, &p, &m), -1);
    /* Renewed: fits again. */
    dd_cert_t y = {.id = "y", .kind = DD_SVC_CLEANING, .level = 1, .from_us = dd_test_at(12, 0),
                   .until_us = dd_test_at(48, 0)};
    assert_int_equal(dd_rules_cert_add(&c, &y), 0);
    assert_int_equal(dd_test_fit(&c, &late, &p, &m), 0);
    s_free(&c);
}

static void test_certificate_level_and_first_aid(void **state)
{
    (void) state;
    /* Bathing an elder of ability severe needs a level-2 bath certificate;
     * an emergency a first-aid certificate valid at the time. */
    dd_caregiver_t c = dd_test_cg("c", 5, SK(DD_SVC_BATH) | SK(DD_SVC_EMERGENCY), 3, 1);
    dd_model_params_t p = dd_test_params(dd_test_at(8, 0));
    dd_visit_t v = dd_test_visit("v", DD_SVC_BATH, dd_test_at(9, 0), dd_test_at(10, 0));
    v.ability = DD_ABILITY_SEVERE;
    dd_match_t m;
    assert_int_equal(dd_test_fit(&c, &v, &p, &m), 0);   /* static level 3 */
    dd_cert_t b1 = {.id = "b1", .kind = DD_SVC_BATH, .level = 1, .from_us = dd_test_at(0, 0),
                    .until_us = dd_test_at(48, 0)};
    assert_int_equal(dd_rules_cert_add(&c, &b1), 0);
    assert_int_equal(dd_qualified(&c, &v), DD_FIT_CERTIFICATE);
    assert_int_equal(dd_test_fit(&c, &v, &p, &m), -1);
    v.ability = DD_ABILITY_MILD;
    assert_int_equal(dd_test_fit(&c, &v, &p, &m), 0);
    dd_visit_t e = dd_test_visit("e", DD_SVC_EMERGENCY, dd_test_at(9, 0), dd_test_at(10, 0));
    e.emergency = 1;
    assert_int_equal(dd_test_fit(&c, &e, &p, &m), 0);   /* static first aid */
    dd_cert_t fa = {.id = "fa", .kind = DD_CERT_FIRST_AID, .level = 1, .from_us = dd_test_at(0, 0),
                    .until_us = dd_test_at(8, 30)};
    assert_int_equal(dd_rules_cert_add(&c, &fa), 0);
    assert_int_equal(dd_qualified(&c, &e), DD_FIT_CERTIFICATE);
    assert_int_equal(dd_test_fit(&c, &e, &p, &m), -1);
    s_free(&c);
}

static void test_zones(void **state)
{
    (void) state;
    /* a's provider serves district 2 only; b's has no zone (everywhere).
     * a is nearer, so without zones a would take a district-1 visit. */
    dd_caregiver_t a = dd_test_cg("a", 2, SK(DD_SVC_CLEANING), 1, 0);
    dd_caregiver_t b = dd_test_cg("b", 20, SK(DD_SVC_CLEANING), 1, 0);
    dd_caregiver_t *all[] = {&a, &b};
    dd_model_params_t p = dd_test_params(dd_test_at(8, 0));
    dd_visit_t v = dd_test_visit("v", DD_SVC_CLEANING, dd_test_at(9, 0), dd_test_at(12, 0));
    dd_match_t m;
    assert_int_equal(dd_model_match(all, 2, &v, &p, &m), 0);
    assert_ptr_equal(m.caregiver, &a);
    dd_zones_t *z = dd_zones_new();
    assert_non_null(z);
    uint32_t d2[] = {2};
    assert_int_equal(dd_zones_set(z, a.provider_id, d2, 1), 0);
    assert_int_equal(dd_rules_link(z, &a), 0);
    assert_int_equal(dd_rules_link(z, &b), 0);
    assert_int_equal(dd_qualified(&a, &v), DD_FIT_ZONE);
    assert_int_equal(dd_model_match(all, 2, &v, &p, &m), 0);
    assert_ptr_equal(m.caregiver, &b);
    v.district_id = 2;
    assert_int_equal(dd_model_match(all, 2, &v, &p, &m), 0);
    assert_ptr_equal(m.caregiver, &a);
    assert_int_equal(dd_rules_zone_ok(z, a.provider_id, 1), 0);
    assert_int_equal(dd_rules_zone_ok(z, b.provider_id, 1), 1);
    s_free(&a);
    s_free(&b);
    dd_zones_free(&z);
    assert_null(z);
}

static void test_pinned_never_preempted(void **state)
{
    (void) state;
    /* dd_model_test's pre-emption case: a routine bath offered, not
     * accepted, gives way to an emergency; pinned by a dispatcher it stays,
     * and released it gives way again. */
    dd_caregiver_t a = dd_test_cg("a", 0, SK(DD_SVC_EMERGENCY) | SK(DD_SVC_BATH), 2, 1);
    dd_visit_t bath = dd_test_visit("bath", DD_SVC_BATH, dd_test_at(9, 0), dd_test_at(9, 0));
    bath.eta_us = dd_test_at(9, 0);
    bath.planned_end_us = dd_test_at(10, 0);
    bath.state = DD_VISIT_ASSIGNED;
    bath.caregiver = &a;
    snprintf(bath.caregiver_id, sizeof bath.caregiver_id, "a");
    assert_int_equal(dd_plan_add(&a, &bath), 0);
    dd_caregiver_t *all[] = {&a};
    dd_model_params_t p = dd_test_params(dd_test_at(9, 10));
    dd_visit_t e = dd_test_visit("e", DD_SVC_EMERGENCY, dd_test_at(9, 10), dd_test_at(9, 40));
    e.emergency = 1;
    dd_match_t m;
    dd_visit_t *bumped = NULL;
    assert_int_equal(dd_model_match_urgent(all, 1, &e, &p, &m, &bumped), 0);
    assert_ptr_equal(bumped, &bath);
    snprintf(bath.manual_caregiver_id, sizeof bath.manual_caregiver_id, "a");
    assert_true(dd_rules_pinned(&bath));
    assert_int_equal(dd_model_match_urgent(all, 1, &e, &p, &m, &bumped), -1);
    assert_null(bumped);
    /* A pin for someone else (the visit moved on) holds nothing. */
    snprintf(bath.manual_caregiver_id, sizeof bath.manual_caregiver_id, "b");
    assert_false(dd_rules_pinned(&bath));
    bath.manual_caregiver_id[0] = '\0';
    assert_int_equal(dd_model_match_urgent(all, 1, &e, &p, &m, &bumped), 0);
    assert_ptr_equal(bumped, &bath);
    s_free(&a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dates),
        cmocka_unit_test(test_rota_shift_replaces_default),
        cmocka_unit_test(test_rota_days_off),
        cmocka_unit_test(test_sick_day_visits),
        cmocka_unit_test(test_certificate_expiry),
        cmocka_unit_test(test_certificate_level_and_first_aid),
        cmocka_unit_test(test_zones),
        cmocka_unit_test(test_pinned_never_preempted),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
