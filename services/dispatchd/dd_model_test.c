/* Unit tests for dd_model: today's dispatch rules, each against the libvrp
 * day model, with the real travel function (dd_test_geo.h places). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dd_model.h"
#include "dd_test_geo.h"

#define SK DD_TEST_SK

/* (lat + lon) minutes out: the tests use one axis at a time. */
static dd_caregiver_t s_cg(const char *id, double lat, double lon, uint32_t skills, int level,
                           int first_aid)
{
    return dd_test_cg(id, lat + lon, skills, level, first_aid);
}

static void test_travel_function(void **state)
{
    (void) state;
    /* the tests' places: whole minutes apart */
    assert_int_equal(dd_model_travel_s(dd_test_lat(0), DD_TEST_LON, dd_test_lat(10),
                                       DD_TEST_LON), 600);
    assert_int_equal(dd_model_travel_s(dd_test_lat(-5), DD_TEST_LON, dd_test_lat(5),
                                       DD_TEST_LON), 600);
    /* the model's travel is cc_geo_travel_s's (one travel function) */
    for (int i = 0; i < 200; i++) {
        double la1 = 30 + (i % 17) * 0.01, lo1 = 120 + (i % 13) * 0.013;
        double la2 = 30 + (i % 7) * 0.021, lo2 = 120 + (i % 11) * 0.007;
        int a = dd_model_travel_s(la1, lo1, la2, lo2), b = cc_geo_travel_s(la1, lo1, la2, lo2);
        assert_true(abs(a - b) <= 1);
    }
    assert_int_equal(dd_model_travel_s(NAN, 0, 0, 0), -1);
}
static void test_shift_bounds(void **state)
{
    (void) state;
    dd_caregiver_t c = s_cg("a", 0, 0, SK(DD_SVC_VISIT), 1, 0);
    dd_model_params_t p = dd_test_params(dd_test_at(6, 0));
    dd_match_t m;
    /* 45 min visit 17:30..18:15 would end after the 18:00 shift end */
    dd_visit_t v = dd_test_visit("v", DD_SVC_VISIT, dd_test_at(17, 30), dd_test_at(17, 40));
    assert_int_equal(dd_test_fit(&c, &v, &p, &m), -1);
    v.window_start_us = dd_test_at(17, 0);
    assert_int_equal(dd_test_fit(&c, &v, &p, &m), 0);
    assert_true(m.eta_us == dd_test_at(17, 0));
    assert_true(m.end_us == dd_test_at(17, 45));
    /* window before the shift: earliest start is shift start + travel from home */
    c.lat = dd_test_lat(10);   /* 10 minutes away */
    v = dd_test_visit("v", DD_SVC_VISIT, dd_test_at(7, 0), dd_test_at(9, 0));
    assert_int_equal(dd_test_fit(&c, &v, &p, &m), 0);
    assert_true(m.eta_us == dd_test_at(8, 10));
    assert_int_equal(m.travel_s, 600);
    /* window wholly before the shift start + travel: no time */
    v = dd_test_visit("v", DD_SVC_VISIT, dd_test_at(6, 0), dd_test_at(8, 5));
    assert_int_equal(dd_test_fit(&c, &v, &p, &m), -1);
    /* an emergency ignores shifts when nobody is on one: now + travel */
    v.service = DD_SVC_EMERGENCY;
    v.emergency = 1;
    c.skills |= SK(DD_SVC_EMERGENCY);
    c.first_aid = 1;
    assert_int_equal(dd_test_fit(&c, &v, &p, &m), 0);
    assert_true(m.eta_us == dd_test_at(6, 10));
    assert_true(m.off_shift);
}


static void test_now_plus_travel(void **state)
{
    (void) state;
    dd_caregiver_t c = s_cg("a", 0, 20, SK(DD_SVC_VISIT), 1, 0);
    dd_model_params_t p = dd_test_params(dd_test_at(10, 0));
    dd_match_t m;
    dd_visit_t v = dd_test_visit("v", DD_SVC_VISIT, dd_test_at(9, 0), dd_test_at(12, 0));
    assert_int_equal(dd_test_fit(&c, &v, &p, &m), 0);
    assert_true(m.eta_us == dd_test_at(10, 20));
    /* window closes before they can arrive */
    v.window_end_us = dd_test_at(10, 15);
    assert_int_equal(dd_test_fit(&c, &v, &p, &m), -1);
}


static void test_no_double_booking(void **state)
{
    (void) state;
    dd_caregiver_t c = s_cg("a", 0, 0, SK(DD_SVC_CLEANING) | SK(DD_SVC_VISIT), 1, 0);
    dd_model_params_t p = dd_test_params(dd_test_at(7, 0));
    dd_match_t m;
    /* Planned: cleaning at elder (0,5) 09:00..10:30 */
    dd_visit_t busy = dd_test_visit("busy", DD_SVC_CLEANING, dd_test_at(9, 0), dd_test_at(9, 0));
    busy.lat = dd_test_lat(5);
    busy.eta_us = dd_test_at(9, 0);
    busy.planned_end_us = dd_test_at(10, 30);
    busy.state = DD_VISIT_ACCEPTED;
    assert_int_equal(dd_plan_add(&c, &busy), 0);

    /* Same place, window 09:30..10:00: overlaps, cannot start before 10:30 */
    dd_visit_t v = dd_test_visit("v", DD_SVC_VISIT, dd_test_at(9, 30), dd_test_at(10, 0));
    v.lat = dd_test_lat(5);
    assert_int_equal(dd_test_fit(&c, &v, &p, &m), -1);
    /* Window until 11:00: fits right after, from the last visit's place */
    v.window_end_us = dd_test_at(11, 0);
    v.lat = dd_test_lat(8);
    assert_int_equal(dd_test_fit(&c, &v, &p, &m), 0);
    assert_true(m.eta_us == dd_test_at(10, 33));
    assert_int_equal(m.travel_s, 180);   /* from (0,5), not from home (0,0) */
    /* Before it: 08:00 start at (0,5)... 45 min + travel back 0 must end by 09:00 */
    v = dd_test_visit("v2", DD_SVC_VISIT, dd_test_at(8, 0), dd_test_at(8, 20));
    v.lat = dd_test_lat(5);
    assert_int_equal(dd_test_fit(&c, &v, &p, &m), 0);
    assert_true(m.eta_us == dd_test_at(8, 5));
    /* ... but starting at 08:20 would collide with the 09:00 visit */
    v.window_start_us = dd_test_at(8, 20);
    v.window_end_us = dd_test_at(8, 30);
    assert_int_equal(dd_test_fit(&c, &v, &p, &m), -1);
    /* a gap too short for the travel back to the next visit */
    v = dd_test_visit("v3", DD_SVC_VISIT, dd_test_at(8, 10), dd_test_at(8, 12));
    v.lat = dd_test_lat(5 - 10);   /* 10 min from home; 15 min back to (0,5): 08:10+45+15 > 09:00 */
    assert_int_equal(dd_test_fit(&c, &v, &p, &m), -1);
    free(c.plan);
}


static void test_travel_time_choice(void **state)
{
    (void) state;
    dd_caregiver_t a = s_cg("a", 0, 30, SK(DD_SVC_BATH), 2, 0);
    dd_caregiver_t b = s_cg("b", 0, 5, SK(DD_SVC_BATH), 2, 0);
    dd_caregiver_t c = s_cg("c", 0, -12, SK(DD_SVC_BATH), 2, 0);
    dd_caregiver_t *all[] = {&a, &b, &c};
    dd_model_params_t p = dd_test_params(dd_test_at(7, 0));
    dd_visit_t v = dd_test_visit("v", DD_SVC_BATH, dd_test_at(9, 0), dd_test_at(11, 0));
    dd_match_t m;
    assert_int_equal(dd_model_match(all, 3, &v, &p, &m), 0);
    assert_ptr_equal(m.caregiver, &b);
    assert_int_equal(m.travel_s, 300);
    assert_true(m.eta_us == dd_test_at(9, 0));
    /* b cannot bathe: the next nearest */
    b.skills = SK(DD_SVC_VISIT);
    assert_int_equal(dd_model_match(all, 3, &v, &p, &m), 0);
    assert_ptr_equal(m.caregiver, &c);
    /* max travel excludes a (30 min) when c is out too */
    c.skills = 0;
    p.max_travel_s = 20 * 60;
    assert_int_equal(dd_model_match(all, 3, &v, &p, &m), -1);
    assert_int_equal(dd_test_fit(&a, &v, &p, &m), -1);
    p.max_travel_s = 0;
    assert_int_equal(dd_model_match(all, 3, &v, &p, &m), 0);
    assert_ptr_equal(m.caregiver, &a);
}


static void test_where_they_will_be(void **state)
{
    (void) state;
    /* a lives far (0,40) but will be at (0,2) after an 08:00 visit;
     * b lives at (0,10). For a 10:00 visit at (0,0), a is nearer then. */
    dd_caregiver_t a = s_cg("a", 0, 40, SK(DD_SVC_VISIT), 1, 0);
    dd_caregiver_t b = s_cg("b", 0, 10, SK(DD_SVC_VISIT), 1, 0);
    dd_visit_t prior = dd_test_visit("prior", DD_SVC_VISIT, dd_test_at(8, 40), dd_test_at(8, 40));
    prior.lat = dd_test_lat(2);
    prior.eta_us = dd_test_at(8, 40);
    prior.planned_end_us = dd_test_at(9, 25);
    assert_int_equal(dd_plan_add(&a, &prior), 0);
    dd_caregiver_t *all[] = {&b, &a};
    dd_model_params_t p = dd_test_params(dd_test_at(7, 0));
    dd_visit_t v = dd_test_visit("v", DD_SVC_VISIT, dd_test_at(10, 0), dd_test_at(11, 0));
    dd_match_t m;
    assert_int_equal(dd_model_match(all, 2, &v, &p, &m), 0);
    assert_ptr_equal(m.caregiver, &a);
    assert_int_equal(m.travel_s, 120);
    free(a.plan);
}


static void test_continuity_preference(void **state)
{
    (void) state;
    dd_caregiver_t near = s_cg("near", 0, 1, SK(DD_SVC_VISIT), 1, 0);
    dd_caregiver_t known = s_cg("known", 0, 12, SK(DD_SVC_VISIT), 1, 0);
    dd_caregiver_t *all[] = {&near, &known};
    dd_model_params_t p = dd_test_params(dd_test_at(7, 0));
    dd_visit_t v = dd_test_visit("v", DD_SVC_VISIT, dd_test_at(9, 0), dd_test_at(11, 0));
    dd_match_t m;
    assert_int_equal(dd_model_match(all, 2, &v, &p, &m), 0);
    assert_ptr_equal(m.caregiver, &near);
    assert_false(m.preferred);
    strcpy(v.preferred_caregiver_id, "known");
    assert_int_equal(dd_model_match(all, 2, &v, &p, &m), 0);
    assert_ptr_equal(m.caregiver, &known);
    assert_true(m.preferred);
    /* a cost, not a rule: 25 minutes away the usual caregiver costs more
     * (50 min of travel) than a stranger (2 min + continuity_s) */
    known.lat = dd_test_lat(25);
    assert_int_equal(dd_model_match(all, 2, &v, &p, &m), 0);
    assert_ptr_equal(m.caregiver, &near);
    known.lat = dd_test_lat(12);
    /* preferred but not qualified: the rule still wins over preference */
    known.skills = SK(DD_SVC_BATH);
    assert_int_equal(dd_model_match(all, 2, &v, &p, &m), 0);
    assert_ptr_equal(m.caregiver, &near);
}


static void test_decliners_excluded(void **state)
{
    (void) state;
    dd_caregiver_t a = s_cg("a", 0, 1, SK(DD_SVC_VISIT), 1, 0);
    dd_caregiver_t b = s_cg("b", 0, 9, SK(DD_SVC_VISIT), 1, 0);
    dd_caregiver_t *all[] = {&a, &b};
    dd_model_params_t p = dd_test_params(dd_test_at(7, 0));
    dd_visit_t v = dd_test_visit("v", DD_SVC_VISIT, dd_test_at(9, 0), dd_test_at(11, 0));
    strcpy(v.preferred_caregiver_id, "a");
    dd_match_t m;
    assert_int_equal(dd_model_match(all, 2, &v, &p, &m), 0);
    assert_ptr_equal(m.caregiver, &a);
    assert_int_equal(dd_visit_add_declined(&v, "a"), 0);
    assert_int_equal(dd_visit_add_declined(&v, "a"), 0);   /* once */
    assert_int_equal(v.ndeclined, 1);
    assert_int_equal(dd_qualified(&a, &v), DD_FIT_DECLINED);
    assert_int_equal(dd_model_match(all, 2, &v, &p, &m), 0);
    assert_ptr_equal(m.caregiver, &b);
    assert_int_equal(dd_visit_add_declined(&v, "b"), 0);
    assert_int_equal(dd_model_match(all, 2, &v, &p, &m), -1);
    free(v.declined);
}


static void test_emergency_earliest_and_off_shift(void **state)
{
    (void) state;
    /* Nearest by home (a) is busy until 10:00 near-by; b is farther but
     * free now: an emergency goes to whoever arrives first. */
    dd_caregiver_t a = s_cg("a", 0, 2, SK(DD_SVC_EMERGENCY), 1, 1);
    dd_caregiver_t b = s_cg("b", 0, 15, SK(DD_SVC_EMERGENCY), 1, 1);
    dd_visit_t busy = dd_test_visit("busy", DD_SVC_EMERGENCY, dd_test_at(9, 0), dd_test_at(9, 0));
    busy.lat = dd_test_lat(3);
    busy.eta_us = dd_test_at(9, 0);
    busy.planned_end_us = dd_test_at(10, 0);
    assert_int_equal(dd_plan_add(&a, &busy), 0);
    dd_caregiver_t *all[] = {&a, &b};
    dd_model_params_t p = dd_test_params(dd_test_at(9, 10));
    dd_visit_t v = dd_test_visit("v", DD_SVC_EMERGENCY, dd_test_at(9, 10), dd_test_at(11, 0));
    v.emergency = 1;
    dd_match_t m;
    assert_int_equal(dd_model_match(all, 2, &v, &p, &m), 0);
    assert_ptr_equal(m.caregiver, &b);
    assert_true(m.eta_us == dd_test_at(9, 25));
    /* Same visit as a non-emergency picks the shortest travel (a, later). */
    v.emergency = 0;
    v.service = DD_SVC_EMERGENCY;   /* service still needs first aid */
    assert_int_equal(dd_model_match(all, 2, &v, &p, &m), 0);
    assert_ptr_equal(m.caregiver, &a);
    assert_true(m.eta_us == dd_test_at(10, 3));
    /* Night: nobody on shift; an emergency still gets the first-aider. */
    v.emergency = 1;
    p.now_us = dd_test_at(22, 0);
    v.window_start_us = dd_test_at(22, 0);
    v.window_end_us = dd_test_at(23, 0);
    assert_int_equal(dd_model_match(all, 2, &v, &p, &m), 0);
    assert_ptr_equal(m.caregiver, &a);   /* nearer, from its last visit */
    assert_true(m.off_shift);
    /* A non-emergency visit at night finds nobody. */
    dd_visit_t night = dd_test_visit("n", DD_SVC_EMERGENCY, dd_test_at(22, 0), dd_test_at(23, 0));
    night.service = DD_SVC_EMERGENCY;
    night.emergency = 0;
    dd_caregiver_t noaid = s_cg("c", 0, 0, SK(DD_SVC_VISIT), 1, 0);
    dd_caregiver_t *one[] = {&noaid};
    night.service = DD_SVC_VISIT;
    assert_int_equal(dd_model_match(one, 1, &night, &p, &m), -1);
    free(a.plan);
    free(noaid.plan);
}


static void test_emergency_preempts_unaccepted_offer(void **state)
{
    (void) state;
    /* One first-aider, busy 09:00-10:00 with a routine bath offered but not
     * accepted; an emergency at 09:10 may take that slot, a routine visit
     * may not, and an accepted or emergency visit is never bumped. */
    dd_caregiver_t a = s_cg("a", 0, 0, SK(DD_SVC_EMERGENCY) | SK(DD_SVC_BATH), 2, 1);
    dd_visit_t bath = dd_test_visit("bath", DD_SVC_BATH, dd_test_at(9, 0), dd_test_at(9, 0));
    bath.eta_us = dd_test_at(9, 0);
    bath.planned_end_us = dd_test_at(10, 0);
    bath.state = DD_VISIT_ASSIGNED;
    assert_int_equal(dd_plan_add(&a, &bath), 0);
    dd_caregiver_t *all[] = {&a};
    dd_model_params_t p = dd_test_params(dd_test_at(9, 10));
    dd_visit_t e = dd_test_visit("e", DD_SVC_EMERGENCY, dd_test_at(9, 10), dd_test_at(9, 40));
    e.emergency = 1;
    dd_match_t m;
    dd_visit_t *bumped = NULL;
    assert_int_equal(dd_model_match(all, 1, &e, &p, &m), -1);
    assert_int_equal(dd_model_match_urgent(all, 1, &e, &p, &m, &bumped), 0);
    assert_ptr_equal(bumped, &bath);
    assert_int_equal(dd_model_match_urgent(all, 1, &e, &p, &m, &bumped), 0);
    assert_ptr_equal(m.caregiver, &a);
    assert_ptr_equal(bumped, &bath);
    assert_true(m.eta_us == dd_test_at(9, 10));
    assert_int_equal(a.nplan, 1);                 /* plan left as it was */
    assert_ptr_equal(a.plan[0], &bath);
    /* A wide emergency window fits after the bath (10:00): 50 min later
     * than bumping, so the bath gives way; a 10-minute gain would not do. */
    e.window_end_us = dd_test_at(12, 0);
    assert_int_equal(dd_model_match(all, 1, &e, &p, &m), 0);
    assert_true(m.eta_us == dd_test_at(10, 0));
    assert_int_equal(dd_model_match_urgent(all, 1, &e, &p, &m, &bumped), 0);
    assert_ptr_equal(bumped, &bath);
    assert_true(m.eta_us == dd_test_at(9, 10));
    p.now_us = dd_test_at(9, 50);   /* free slot at 10:00 vs bumping at 09:50 */
    e.window_start_us = dd_test_at(9, 50);
    assert_int_equal(dd_model_match_urgent(all, 1, &e, &p, &m, &bumped), 0);
    assert_null(bumped);
    assert_true(m.eta_us == dd_test_at(10, 0));
    p.now_us = dd_test_at(9, 10);
    e.window_start_us = dd_test_at(9, 10);
    e.window_end_us = dd_test_at(9, 40);
    /* not for a routine visit */
    dd_visit_t r = dd_test_visit("r", DD_SVC_BATH, dd_test_at(9, 10), dd_test_at(9, 40));
    assert_int_equal(dd_model_match_urgent(all, 1, &r, &p, &m, &bumped), -1);
    /* never an accepted visit, nor another emergency */
    bath.state = DD_VISIT_ACCEPTED;
    assert_int_equal(dd_model_match_urgent(all, 1, &e, &p, &m, &bumped), -1);
    bath.state = DD_VISIT_ASSIGNED;
    bath.emergency = 1;
    assert_int_equal(dd_model_match_urgent(all, 1, &e, &p, &m, &bumped), -1);
    /* nor for a caregiver who is not qualified */
    bath.emergency = 0;
    a.first_aid = 0;
    assert_int_equal(dd_model_match_urgent(all, 1, &e, &p, &m, &bumped), -1);
    free(a.plan);
}


/* Pruning (dd_model_prune: full days left out, the days cheapest by their
 * bound built first) never changes a decision: random districts of ncg
 * caregivers (on a line, or with two_d over a plane) with days filled to
 * various degrees, random visits (routine and emergencies, tight and loose
 * windows, balance and continuity on, a travel limit or none), each decided
 * with and without it: the same caregiver, start and travel. Fails if the
 * gap check leaves out a caregiver that could take the visit, or if a bound
 * is ever above a day's true price. Returns what the pruned decisions
 * built. */
static dd_model_stats_t s_equivalence(int ncg, int trials, int two_d, unsigned seed)
{
    srand(seed);
    enum { NPLAN = 10 };
    int decided = 0, pruned_some = 0;
    dd_model_stats_t st = {0};
    dd_caregiver_t *cg = calloc((size_t) ncg, sizeof *cg);
    dd_visit_t *pv = calloc((size_t) ncg * NPLAN, sizeof *pv);
    dd_caregiver_t **cgs = calloc((size_t) ncg, sizeof *cgs);
    assert_non_null(cg);
    assert_non_null(pv);
    assert_non_null(cgs);
    double lon_step = two_d ? DD_TEST_DEG_PER_MIN / cos(DD_TEST_LAT * M_PI / 180) : 0;
    for (int t = 0; t < trials; t++) {
        uint32_t all = SK(DD_SVC_VISIT) | SK(DD_SVC_CLEANING) | SK(DD_SVC_EMERGENCY);
        for (int i = 0; i < ncg; i++) {
            char id[16];
            snprintf(id, sizeof id, "c%02d", i);
            cg[i] = s_cg(id, rand() % 40 - 20, 0, all, 2, rand() % 2);
            cg[i].lon += (rand() % 40 - 20) * lon_step;
            cgs[i] = &cg[i];
            /* a day of back-to-back or gapped visits from 08:00 */
            int64_t at = dd_test_at(8, rand() % 30);
            int n = rand() % (NPLAN + 1);
            for (int k = 0; k < n; k++) {
                char vid[32];
                snprintf(vid, sizeof vid, "p%d-%d", i, k);
                int len = 45 + (rand() % 3) * 15;
                dd_visit_t *x = &pv[i * NPLAN + k];
                *x = dd_test_visit(vid, DD_SVC_VISIT, at, at);
                x->lat = dd_test_lat(rand() % 30 - 15);
                x->lon += (rand() % 30 - 15) * lon_step;
                x->eta_us = at;
                x->planned_end_us = at + len * DD_TEST_MIN_US;
                x->state = DD_VISIT_ACCEPTED;
                assert_int_equal(dd_plan_add(&cg[i], x), 0);
                at = x->planned_end_us + (rand() % 4) * 10 * DD_TEST_MIN_US;
            }
        }
        /* windows through the whole day, the evening's (off shift: only
         * an emergency's second pass) included; now at or before them */
        int64_t ws = dd_test_at(6 + rand() % 17, rand() % 60);
        dd_model_params_t p = dd_test_params(ws - (rand() % 120) * DD_TEST_MIN_US);
        p.balance = (rand() % 3) == 0 ? 0 : (rand() % 2) ? 1e-4 : 1e-6;
        p.max_travel_s = (rand() % 2) ? 0 : 1200;
        dd_visit_t v = dd_test_visit("new", (rand() % 2) ? DD_SVC_VISIT : DD_SVC_CLEANING, ws,
                                     ws + (10 + rand() % 180) * DD_TEST_MIN_US);
        v.lat = dd_test_lat(rand() % 30 - 15);
        v.lon += (rand() % 30 - 15) * lon_step;
        if (rand() % 5 == 0) {
            v.service = DD_SVC_EMERGENCY;
            v.emergency = 1;
        }
        if (rand() % 3 == 0)
            snprintf(v.preferred_caregiver_id, sizeof v.preferred_caregiver_id, "c%02d",
                     rand() % ncg);
        dd_match_t a, b;
        memset(&a, 0, sizeof a);
        memset(&b, 0, sizeof b);
        dd_model_prune = 0;
        int ra = dd_model_match(cgs, (size_t) ncg, &v, &p, &a);
        dd_model_prune = 1;
        p.stats = &st;
        int rb = dd_model_match(cgs, (size_t) ncg, &v, &p, &b);
        assert_int_equal(ra, rb);
        if (ra == 0) {
            decided++;
            assert_ptr_equal(a.caregiver, b.caregiver);
            assert_true(a.eta_us == b.eta_us && a.end_us == b.end_us);
            assert_int_equal(a.travel_s, b.travel_s);
            assert_int_equal(a.off_shift, b.off_shift);
            assert_int_equal(a.preferred, b.preferred);
        }
        for (int i = 0; i < ncg; i++) {
            if (cg[i].nplan >= 8)
                pruned_some = 1;
            free(cg[i].plan);
        }
    }
    /* the trials are not vacuous: most decide, and full days occur */
    assert_true(decided > trials / 3);
    assert_true(pruned_some);
    free(cg);
    free(pv);
    free(cgs);
    return st;
}

static void test_pruning_changes_no_decision(void **state)
{
    (void) state;
    s_equivalence(12, 1000, 0, 20261207);
}

/* The same with districts large enough for the bounds to leave days out:
 * they do, and no decision differs. With a first model of one day the
 * bounds decide who else is built nearly every time: a bound above a day's
 * true price, or a subset that prices continuity differently, shows here
 * (a bound 1.3 times too high, and a first model without the usual
 * caregiver's day, each failed it; so did a box bound 1.5 times too high,
 * dd_model.c s_box_bound). Many days are never read (the box bound), and
 * the models hold a fraction of the caregivers considered. */
static void test_bound_changes_no_decision(void **state)
{
    (void) state;
    dd_model_stats_t st = s_equivalence(60, 600, 1, 20261208);
    assert_true(st.built < st.days);
    assert_true(st.unread * 5 > st.days);
    dd_model_first_days = 1;
    st = s_equivalence(60, 600, 1, 20261209);
    dd_model_first_days = 8;
    assert_true(st.unread * 5 > st.days);
    assert_true(st.built * 3 < st.days + st.unread);
    assert_true(st.models > st.decisions);   /* second models were built */
}

/* A plan of weeks: the decision sees the same day whether the caregiver's
 * plan holds only that day's visits or also those of the days around it
 * (the day is found by bisection, dd_model.c s_day). */
static void test_plan_of_many_days(void **state)
{
    (void) state;
    srand(20261210);
    enum { NDAYS = 9, PER = 6 };
    const int64_t day = 24 * 60 * DD_TEST_MIN_US;
    /* the scan's margin (dd_model.c S_VISIT_MAX_US, 12 h) outlasts every service */
    for (int sv = 0; sv <= DD_SVC_MAX; sv++)
        assert_true(dd_service_minutes(sv) < 12 * 60);
    for (int t = 0; t < 200; t++) {
        dd_caregiver_t full = s_cg("c", rand() % 20 - 10, 0, SK(DD_SVC_VISIT), 2, 0);
        dd_caregiver_t one = full;
        dd_visit_t pv[NDAYS][PER];
        for (int d = 0; d < NDAYS; d++) {
            int64_t at = dd_test_at(8, rand() % 60) + (d - NDAYS / 2) * day;
            for (int k = 0; k < PER; k++) {
                char vid[32];
                snprintf(vid, sizeof vid, "p%d-%d", d, k);
                dd_visit_t *x = &pv[d][k];
                *x = dd_test_visit(vid, DD_SVC_VISIT, at, at);
                x->lat = dd_test_lat(rand() % 30 - 15);
                x->eta_us = at;
                x->planned_end_us = at + 45 * DD_TEST_MIN_US;
                x->state = DD_VISIT_ACCEPTED;
                assert_int_equal(dd_plan_add(&full, x), 0);
                if (d == NDAYS / 2)
                    assert_int_equal(dd_plan_add(&one, x), 0);
                at = x->planned_end_us + (rand() % 5) * 15 * DD_TEST_MIN_US;
            }
        }
        int64_t ws = dd_test_at(8 + rand() % 9, rand() % 60);
        dd_model_params_t p = dd_test_params(dd_test_at(7, 0));
        dd_visit_t v = dd_test_visit("new", DD_SVC_VISIT, ws, ws + (20 + rand() % 120) * DD_TEST_MIN_US);
        v.lat = dd_test_lat(rand() % 30 - 15);
        dd_caregiver_t *a[] = {&full}, *b[] = {&one};
        dd_match_t ma, mb;
        int ra = dd_model_match(a, 1, &v, &p, &ma), rb = dd_model_match(b, 1, &v, &p, &mb);
        assert_int_equal(ra, rb);
        if (ra == 0)
            assert_true(ma.eta_us == mb.eta_us && ma.travel_s == mb.travel_s);
        free(full.plan);
        free(one.plan);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_travel_function),
        cmocka_unit_test(test_shift_bounds),
        cmocka_unit_test(test_now_plus_travel),
        cmocka_unit_test(test_no_double_booking),
        cmocka_unit_test(test_travel_time_choice),
        cmocka_unit_test(test_where_they_will_be),
        cmocka_unit_test(test_continuity_preference),
        cmocka_unit_test(test_decliners_excluded),
        cmocka_unit_test(test_emergency_earliest_and_off_shift),
        cmocka_unit_test(test_emergency_preempts_unaccepted_offer),
        cmocka_unit_test(test_pruning_changes_no_decision),
        cmocka_unit_test(test_bound_changes_no_decision),
        cmocka_unit_test(test_plan_of_many_days),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
