/* Unit tests for dd_reopt: what re-optimisation may move and what it never
 * does, against libvrp with the real travel function (dd_test_geo.h). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dd_reopt.h"
#include "dd_rules.h"
#include "dd_state.h"
#include "dd_test_geo.h"

/* 2026-11-26 00:00 Asia/Shanghai. */
#define DAY0_US (1795622400LL * 1000000)
#define MIN_US (60LL * 1000000)
#define SK(s) (1u << (s))
static int64_t s_at(int h, int m)
{
    return DAY0_US + (int64_t) (h * 60 + m) * MIN_US;
}

/* Caregiver at minute pos on the test meridian, shift 08:00-18:00. */
static dd_caregiver_t *s_cg(dd_world_t *w, const char *id, double pos, uint32_t skills)
{
    dd_caregiver_t *c = dd_caregiver_new();
    assert_non_null(c);
    snprintf(c->id, sizeof c->id, "%s", id);
    snprintf(c->provider_id, sizeof c->provider_id, "prov");
    c->lat = dd_test_lat(pos);
    c->lon = DD_TEST_LON;
    c->skills = skills;
    c->level = 2;
    c->district_id = 1;
    c->shift_start_min = 8 * 60;
    c->shift_end_min = 18 * 60;
    dd_caregiver_t *keep = c;
    assert_int_equal(dd_world_add_caregiver(w, &c), 0);
    return keep;
}

/* Visit at minute pos, window [ws, we], offered to c at eta (or waiting). */
static dd_visit_t *s_visit(dd_world_t *w, const char *id, double pos, int service, int64_t ws,
                           int64_t we, dd_caregiver_t *c, int64_t eta, dd_visit_state_t st)
{
    dd_visit_t *v = dd_visit_new();
    assert_non_null(v);
    snprintf(v->id, sizeof v->id, "%s", id);
    snprintf(v->order_id, sizeof v->order_id, "o-%s", id);
    v->service = service;
    v->ability = DD_ABILITY_MILD;
    v->district_id = 1;
    v->lat = dd_test_lat(pos);
    v->lon = DD_TEST_LON;
    v->window_start_us = ws;
    v->window_end_us = we;
    v->state = st;
    if (c) {
        v->caregiver = c;
        snprintf(v->caregiver_id, sizeof v->caregiver_id, "%s", c->id);
        v->eta_us = eta;
        v->planned_end_us = eta + (int64_t) dd_service_minutes(service) * MIN_US;
    }
    dd_visit_t *keep = v;
    assert_int_equal(dd_world_add_visit(w, &v), 0);
    return keep;
}

typedef struct {
    dd_visit_t **moved;
    size_t n;
    char (*from)[DD_ID_LEN];
} s_result_t;

/* Snapshot district 1 at now, solve, apply; the apply's return. */
static int s_run_ahead(dd_world_t *w, int64_t now, int ahead, s_result_t *res,
                       void (*between)(dd_world_t *));

static int s_run(dd_world_t *w, int64_t now, s_result_t *res, void (*between)(dd_world_t *))
{
    return s_run_ahead(w, now, 0, res, between);
}

static int s_run_ahead(dd_world_t *w, int64_t now, int ahead, s_result_t *res,
                       void (*between)(dd_world_t *))
{
    size_t ncg, nw;
    dd_caregiver_t *const *cgs = dd_world_caregivers(w, &ncg);
    dd_visit_t **wait = NULL;
    nw = dd_world_waiting(w, &wait);
    dd_model_params_t p;
    dd_model_params_init(&p, now);
    p.max_travel_s = 0;
    p.balance = 0;
    dd_reopt_run_t *r = dd_reopt_snapshot(cgs, ncg, wait, nw, 1, ahead, &p, 50, 7);
    free(wait);
    memset(res, 0, sizeof *res);
    if (!r)
        return 3;   /* nothing movable */
    int rc = dd_reopt_solve(r);
    if (rc == 0 && between)
        between(w);
    if (rc == 0)
        rc = dd_reopt_apply(r, w, now, &res->moved, &res->n, &res->from);
    else
        rc = 4;
    dd_reopt_run_free(&r);
    return rc;
}

static void s_free(s_result_t *res)
{
    free(res->moved);
    free(res->from);
}

/* A visit offered far away moves to the caregiver next door: one move,
 * re-offered (assigned) to the new caregiver with a time in its window. */
static void test_moves_an_unaccepted_visit_nearer(void **state)
{
    (void) state;
    dd_world_t *w = dd_world_new();
    dd_caregiver_t *far = s_cg(w, "far", 60, SK(DD_SVC_CLEANING));
    dd_caregiver_t *near = s_cg(w, "near", 1, SK(DD_SVC_CLEANING));
    (void) near;
    dd_visit_t *v = s_visit(w, "v", 0, DD_SVC_CLEANING, s_at(10, 0), s_at(14, 0), far,
                            s_at(12, 0), DD_VISIT_ASSIGNED);
    s_result_t res;
    assert_int_equal(s_run(w, s_at(9, 0), &res, NULL), 0);
    assert_int_equal(res.n, 1);
    assert_ptr_equal(res.moved[0], v);
    assert_string_equal(res.from[0], "far");
    assert_string_equal(v->caregiver_id, "near");
    assert_int_equal(v->state, DD_VISIT_ASSIGNED);
    assert_true(v->eta_us >= s_at(10, 0) && v->eta_us <= s_at(14, 0));
    assert_int_equal(far->nplan, 0);
    s_free(&res);
    dd_world_destroy(&w);
}

/* Accepted, emergency and soon-due visits keep caregiver and time. */
/* A caregiver between visits starts from where the last one ended (not
 * home): here the only way to reach a visit in time. */
static void test_starts_where_last_visit_ended(void **state)
{
    (void) state;
    dd_world_t *w = dd_world_new();
    dd_caregiver_t *a = s_cg(w, "a", 0, SK(DD_SVC_CLEANING));
    a->last_lat = dd_test_lat(50);   /* checked out 50 min from home at 09:50 */
    a->last_lon = DD_TEST_LON;
    a->last_out_us = s_at(9, 50);
    /* From home (51 min) it would start at 10:46, after the window. */
    dd_visit_t *v = s_visit(w, "v", 51, DD_SVC_CLEANING, s_at(10, 25), s_at(10, 30), NULL, 0,
                            DD_VISIT_WAITING);
    s_result_t res;
    assert_int_equal(s_run(w, s_at(9, 55), &res, NULL), 0);
    assert_string_equal(v->caregiver_id, "a");
    assert_true(v->eta_us >= s_at(10, 25) && v->eta_us <= s_at(10, 30));
    assert_int_equal(v->travel_s, 60);
    s_free(&res);
    dd_world_destroy(&w);
}

static void test_accepted_and_emergency_and_soon_stay(void **state)
{
    (void) state;
    dd_world_t *w = dd_world_new();
    uint32_t sk = SK(DD_SVC_CLEANING) | SK(DD_SVC_EMERGENCY);
    dd_caregiver_t *far = s_cg(w, "far", 60, sk);
    far->first_aid = 1;
    dd_caregiver_t *near = s_cg(w, "near", 1, sk);
    near->first_aid = 1;
    s_visit(w, "acc", 0, DD_SVC_CLEANING, s_at(10, 0), s_at(14, 0), far, s_at(12, 0),
            DD_VISIT_ACCEPTED);
    dd_visit_t *e = s_visit(w, "em", 0.5, DD_SVC_EMERGENCY, s_at(9, 0), s_at(15, 0), far,
                            s_at(15, 0), DD_VISIT_ASSIGNED);
    e->emergency = 1;
    /* due in 20 minutes (inside DD_REOPT_FREEZE_US) */
    s_visit(w, "soon", 0.2, DD_SVC_CLEANING, s_at(9, 0), s_at(14, 0), far, s_at(9, 20),
            DD_VISIT_ASSIGNED);
    s_result_t res;
    assert_int_equal(s_run(w, s_at(9, 0), &res, NULL), 3);   /* nothing movable */
    assert_int_equal(far->nplan, 3);
    assert_int_equal(near->nplan, 0);
    dd_world_destroy(&w);
}

/* The rules hold: a caregiver without the skill never gets the visit
 * however near (the planted violation: give near the skill and it moves). */
static void test_rules_hold(void **state)
{
    (void) state;
    dd_world_t *w = dd_world_new();
    dd_caregiver_t *far = s_cg(w, "far", 60, SK(DD_SVC_BATH));
    dd_caregiver_t *near = s_cg(w, "near", 1, SK(DD_SVC_CLEANING));
    dd_visit_t *v = s_visit(w, "v", 0, DD_SVC_BATH, s_at(10, 0), s_at(14, 0), far, s_at(12, 0),
                            DD_VISIT_ASSIGNED);
    s_result_t res;
    int rc = s_run(w, s_at(9, 0), &res, NULL);
    assert_true(rc == 2);   /* nothing better within the rules */
    assert_string_equal(v->caregiver_id, "far");
    /* declined by near: the same */
    near->skills |= SK(DD_SVC_BATH);
    assert_int_equal(dd_visit_add_declined(v, "near"), 0);
    assert_int_equal(s_run(w, s_at(9, 0), &res, NULL), 2);
    assert_string_equal(v->caregiver_id, "far");
    /* planted: qualified and not a decliner, it moves */
    v->ndeclined = 0;
    assert_int_equal(s_run(w, s_at(9, 0), &res, NULL), 0);
    assert_string_equal(v->caregiver_id, "near");
    s_free(&res);
    dd_world_destroy(&w);
}

static void s_touch_far(dd_world_t *w)
{
    dd_caregiver_t *c = dd_world_caregiver(w, "far");
    c->plan_ver++;   /* as an accept or a new offer would */
}

/* A plan that changed while the solver ran is not overwritten. */
static void test_stale_result_is_dropped(void **state)
{
    (void) state;
    dd_world_t *w = dd_world_new();
    dd_caregiver_t *far = s_cg(w, "far", 60, SK(DD_SVC_CLEANING));
    s_cg(w, "near", 1, SK(DD_SVC_CLEANING));
    dd_visit_t *v = s_visit(w, "v", 0, DD_SVC_CLEANING, s_at(10, 0), s_at(14, 0), far,
                            s_at(12, 0), DD_VISIT_ASSIGNED);
    s_result_t res;
    assert_int_equal(s_run(w, s_at(9, 0), &res, s_touch_far), 1);
    assert_string_equal(v->caregiver_id, "far");
    assert_true(v->eta_us == s_at(12, 0));
    dd_world_destroy(&w);
}

/* A waiting visit nobody could take online is placed when the day is
 * re-ordered: A's two visits swap to B's free morning. */
static void test_places_waiting_visit(void **state)
{
    (void) state;
    dd_world_t *w = dd_world_new();
    dd_caregiver_t *a = s_cg(w, "a", 0, SK(DD_SVC_CLEANING) | SK(DD_SVC_BATH));
    dd_caregiver_t *b = s_cg(w, "b", 0, SK(DD_SVC_CLEANING));
    (void) b;
    /* a's cleaning 10:00-11:30 blocks the only bath slot 10:00-10:30 */
    s_visit(w, "clean", 0, DD_SVC_CLEANING, s_at(10, 0), s_at(16, 0), a, s_at(10, 0),
            DD_VISIT_ASSIGNED);
    dd_visit_t *bath = s_visit(w, "bath", 0, DD_SVC_BATH, s_at(10, 0), s_at(10, 30), NULL, 0,
                               DD_VISIT_WAITING);
    s_result_t res;
    assert_int_equal(s_run(w, s_at(9, 0), &res, NULL), 0);
    assert_int_equal(bath->state, DD_VISIT_ASSIGNED);
    assert_string_equal(bath->caregiver_id, "a");
    dd_visit_t *clean = dd_world_visit(w, "clean");
    assert_true(clean->caregiver == b
                || (clean->caregiver == a && clean->eta_us >= bath->planned_end_us));
    int waited = 0;
    for (size_t i = 0; i < res.n; i++)
        if (res.moved[i] == bath)
            waited = res.from[i][0] == '\0';
    assert_true(waited);
    s_free(&res);
    dd_world_destroy(&w);
}

/* Only what moves is re-offered: the visit left on its caregiver keeps its
 * time, and a planned visit is never dropped to place waiting ones. */
static void test_only_moves_are_reoffered(void **state)
{
    (void) state;
    dd_world_t *w = dd_world_new();
    dd_caregiver_t *far = s_cg(w, "far", 60, SK(DD_SVC_CLEANING));
    s_cg(w, "near", 1, SK(DD_SVC_CLEANING));
    dd_visit_t *stay = s_visit(w, "stay", 58, DD_SVC_CLEANING, s_at(11, 0), s_at(15, 0), far,
                               s_at(14, 0), DD_VISIT_ASSIGNED);
    dd_visit_t *move = s_visit(w, "move", 0, DD_SVC_CLEANING, s_at(10, 0), s_at(16, 0), far,
                               s_at(11, 0), DD_VISIT_ASSIGNED);
    s_result_t res;
    assert_int_equal(s_run(w, s_at(9, 0), &res, NULL), 0);
    assert_int_equal(res.n, 1);
    assert_ptr_equal(res.moved[0], move);
    assert_string_equal(move->caregiver_id, "near");
    assert_ptr_equal(stay->caregiver, far);
    assert_true(stay->eta_us == s_at(14, 0));
    s_free(&res);
    dd_world_destroy(&w);
}

/* A planned visit (not offered yet) moves like an offered one, but stays
 * planned before its release: nobody to tell (from ""), nothing to write;
 * after its release a move of it is an offer (assigned). A waiting visit
 * placed before its release is planned too. */
static void test_planned_moves_stay_plans(void **state)
{
    (void) state;
    for (int released = 0; released < 2; released++) {
        dd_world_t *w = dd_world_new();
        dd_caregiver_t *far = s_cg(w, "far", 60, SK(DD_SVC_CLEANING));
        s_cg(w, "near", 1, SK(DD_SVC_CLEANING));
        dd_visit_t *v = s_visit(w, "v", 0, DD_SVC_CLEANING, s_at(14, 0), s_at(16, 0), far,
                                s_at(15, 0), DD_VISIT_PLANNED);
        dd_visit_t *x = s_visit(w, "x", 2, DD_SVC_CLEANING, s_at(14, 0), s_at(16, 0), NULL, 0,
                                DD_VISIT_WAITING);
        v->release_us = x->release_us = released ? s_at(8, 0) : s_at(11, 0);
        s_result_t res;
        assert_int_equal(s_run(w, s_at(9, 0), &res, NULL), 0);
        assert_int_equal(res.n, 2);
        for (size_t i = 0; i < res.n; i++)
            assert_string_equal(res.from[i], "");   /* never offered */
        assert_string_equal(v->caregiver_id, "near");
        dd_visit_state_t want = released ? DD_VISIT_ASSIGNED : DD_VISIT_PLANNED;
        assert_int_equal(v->state, want);
        assert_int_equal(x->state, want);
        assert_non_null(x->caregiver);
        s_free(&res);
        dd_world_destroy(&w);
    }
}

/* A dispatcher's pin holds like an acceptance; a caregiver off by the rota
 * gets nothing (planted: unpinned and on duty, it moves). */
static void test_pins_and_rota_hold(void **state)
{
    (void) state;
    dd_world_t *w = dd_world_new();
    dd_caregiver_t *far = s_cg(w, "far", 60, SK(DD_SVC_CLEANING));
    dd_caregiver_t *near = s_cg(w, "near", 1, SK(DD_SVC_CLEANING));
    dd_visit_t *v = s_visit(w, "v", 0, DD_SVC_CLEANING, s_at(10, 0), s_at(14, 0), far,
                            s_at(12, 0), DD_VISIT_ASSIGNED);
    snprintf(v->manual_caregiver_id, sizeof v->manual_caregiver_id, "far");
    s_result_t res;
    assert_int_equal(s_run(w, s_at(9, 0), &res, NULL), 3);   /* nothing movable */
    assert_string_equal(v->caregiver_id, "far");
    v->manual_caregiver_id[0] = '\0';
    dd_rota_t sick = {.day = dd_day_of(s_at(9, 0)), .off = DD_OFF_SICK};
    assert_int_equal(dd_rules_rota_set(near, &sick), 0);
    assert_int_equal(s_run(w, s_at(9, 0), &res, NULL), 2);
    assert_string_equal(v->caregiver_id, "far");
    dd_rota_t back = {.day = sick.day, .off = DD_OFF_NONE, .start_min = 8 * 60,
                      .end_min = 18 * 60};
    assert_int_equal(dd_rules_rota_set(near, &back), 0);
    assert_int_equal(s_run(w, s_at(9, 0), &res, NULL), 0);
    assert_string_equal(v->caregiver_id, "near");
    s_free(&res);
    dd_world_destroy(&w);
}

/* Rounds ahead plan tomorrow's shifts (booked the day before); today's
 * rounds leave tomorrow alone. */
static void test_ahead_plans_tomorrow(void **state)
{
    (void) state;
    dd_world_t *w = dd_world_new();
    dd_caregiver_t *far = s_cg(w, "far", 60, SK(DD_SVC_CLEANING));
    s_cg(w, "near", 1, SK(DD_SVC_CLEANING));
    int64_t day = 86400LL * 1000000;
    dd_visit_t *v = s_visit(w, "v", 0, DD_SVC_CLEANING, s_at(10, 0) + day, s_at(14, 0) + day,
                            far, s_at(12, 0) + day, DD_VISIT_ASSIGNED);
    s_result_t res;
    /* 09:00: today's round plans today's shifts only; the round ahead,
     * tomorrow's (after 18:00 the shift next is tomorrow's for both) */
    assert_int_equal(s_run_ahead(w, s_at(9, 0), 0, &res, NULL), 3);
    assert_string_equal(v->caregiver_id, "far");
    assert_int_equal(s_run_ahead(w, s_at(9, 0), 1, &res, NULL), 0);
    assert_string_equal(v->caregiver_id, "near");
    assert_true(v->eta_us >= s_at(10, 0) + day && v->eta_us <= s_at(14, 0) + day);
    s_free(&res);
    dd_world_destroy(&w);
}

/* A caregiver whose day runs past the shift's end (an emergency placed off
 * shift) is left alone; the rest of the district is still re-optimised. */
static void test_one_day_past_its_shift_stops_nobody(void **state)
{
    (void) state;
    dd_world_t *w = dd_world_new();
    dd_caregiver_t *over = s_cg(w, "over", 30, SK(DD_SVC_EMERGENCY) | SK(DD_SVC_CLEANING));
    over->first_aid = 1;
    dd_visit_t *e = s_visit(w, "e", 30, DD_SVC_EMERGENCY, s_at(17, 30), s_at(18, 30), over,
                            s_at(17, 30), DD_VISIT_ACCEPTED);
    e->emergency = 1;
    dd_caregiver_t *far = s_cg(w, "far", 60, SK(DD_SVC_CLEANING));
    s_cg(w, "near", 1, SK(DD_SVC_CLEANING));
    dd_visit_t *v = s_visit(w, "v", 0, DD_SVC_CLEANING, s_at(10, 0), s_at(14, 0), far,
                            s_at(12, 0), DD_VISIT_ASSIGNED);
    s_result_t res;
    assert_int_equal(s_run(w, s_at(9, 0), &res, NULL), 0);
    assert_string_equal(v->caregiver_id, "near");
    assert_ptr_equal(e->caregiver, over);
    s_free(&res);
    dd_world_destroy(&w);
}

/* A district of 10 caregivers, 30 planned visits (offered, accepted,
 * planned; some with a usual caregiver, some declined by one) and 6
 * waiting: what the sliced snapshot is compared on. */
static dd_world_t *s_district(void)
{
    dd_world_t *w = dd_world_new();
    dd_caregiver_t *cg[10];
    uint64_t x = 20261207;
    for (int i = 0; i < 10; i++) {
        char id[16];
        snprintf(id, sizeof id, "c%d", i);
        uint32_t sk = SK(DD_SVC_VISIT) | (i % 3 == 0 ? SK(DD_SVC_BATH) : 0);
        cg[i] = s_cg(w, id, 2.0 * i, sk);
    }
    static const int eta_min[3] = {10 * 60 + 30, 13 * 60, 15 * 60 + 30};
    for (int k = 0; k < 36; k++) {
        x = x * 6364136223846793005ULL + 1442695040888963407ULL;
        double pos = (double) (x >> 33) / (double) (1ULL << 31) * 20.0;
        char id[16];
        snprintf(id, sizeof id, "v%02d", k);
        dd_visit_t *v;
        if (k < 30) {
            int i = k / 3;
            int64_t eta = DAY0_US + eta_min[k % 3] * MIN_US;
            int svc = i % 3 == 0 && k % 2 ? DD_SVC_BATH : DD_SVC_VISIT;
            dd_visit_state_t st = k % 5 == 0 ? DD_VISIT_ACCEPTED
                                  : k % 5 == 1 ? DD_VISIT_PLANNED : DD_VISIT_ASSIGNED;
            v = s_visit(w, id, pos, svc, eta - 60 * MIN_US, eta + 90 * MIN_US, cg[i], eta, st);
            if (k % 4 == 0)
                snprintf(v->preferred_caregiver_id, sizeof v->preferred_caregiver_id, "c%d",
                         (i + 1) % 10);
            if (k % 7 == 0)
                assert_int_equal(dd_visit_add_declined(v, cg[(i + 2) % 10]->id), 0);
        } else {
            v = s_visit(w, id, pos, DD_SVC_VISIT, s_at(11, 0), s_at(17, 0), NULL, 0,
                        DD_VISIT_WAITING);
        }
    }
    return w;
}

static dd_reopt_run_t *s_begin(dd_world_t *w)
{
    size_t ncg, nw;
    dd_caregiver_t *const *cgs = dd_world_caregivers(w, &ncg);
    dd_visit_t **wait = NULL;
    nw = dd_world_waiting(w, &wait);
    dd_model_params_t p;
    dd_model_params_init(&p, s_at(9, 0));
    dd_reopt_run_t *r = dd_reopt_begin(cgs, ncg, wait, nw, 1, 0, &p, 50, 7);
    free(wait);
    return r;
}

/* Whole in one call, as dd_reopt_snapshot. */
static dd_reopt_run_t *s_whole(dd_world_t *w)
{
    size_t ncg, nw;
    dd_caregiver_t *const *cgs = dd_world_caregivers(w, &ncg);
    dd_visit_t **wait = NULL;
    nw = dd_world_waiting(w, &wait);
    dd_model_params_t p;
    dd_model_params_init(&p, s_at(9, 0));
    dd_reopt_run_t *r = dd_reopt_snapshot(cgs, ncg, wait, nw, 1, 0, &p, 50, 7);
    free(wait);
    assert_non_null(r);
    return r;
}

/* Built a job per slice (the deadline always passed); *slices counted. */
static dd_reopt_run_t *s_sliced(dd_world_t *w, void (*between)(dd_world_t *), int *slices)
{
    dd_reopt_run_t *r = s_begin(w);
    assert_non_null(r);
    int rc;
    *slices = 0;
    while ((rc = dd_reopt_build(r, w, 0)) == 1) {
        ++*slices;
        if (between && *slices == 3)
            between(w);
    }
    ++*slices;
    assert_int_equal(rc, 0);
    return r;
}

/* The same problem (jobs, windows, priorities, preferences, who may take
 * each) and the same starting plan; 1 when so. */
static int s_same(const dd_reopt_run_t *a, const dd_reopt_run_t *b)
{
    const vrp_problem_t *pa = dd_reopt_problem(a), *pb = dd_reopt_problem(b);
    int nj = vrp_problem_jobs(pa), nv = vrp_problem_vehicles(pa);
    if (nj != vrp_problem_jobs(pb) || nv != vrp_problem_vehicles(pb)
        || vrp_problem_locations(pa) != vrp_problem_locations(pb))
        return 0;
    for (int k = 0; k < nj; k++) {
        const vrp_job_t *x = vrp_problem_job(pa, k), *y = vrp_problem_job(pb, k);
        if (x->location != y->location || x->n_windows != y->n_windows
            || x->windows[0].start != y->windows[0].start
            || x->windows[0].end != y->windows[0].end || x->service != y->service
            || x->priority != y->priority || x->n_preferred != y->n_preferred)
            return 0;
        for (int i = 0; i < x->n_preferred; i++)
            if (x->preferred[i] != y->preferred[i])
                return 0;
        for (int v = 0; v < nv; v++)
            if (vrp_problem_allowed(pa, k, v) != vrp_problem_allowed(pb, k, v))
                return 0;
    }
    return vrp_plan_cost(dd_reopt_plan(a)) == vrp_plan_cost(dd_reopt_plan(b));
}

/* Solved for a fixed number of iterations (deterministic). */
static vrp_plan_t *s_solved(const dd_reopt_run_t *r)
{
    vrp_plan_t *pl = vrp_plan_dup(dd_reopt_plan(r));
    assert_non_null(pl);
    assert_int_equal(vrp_plan_check(pl, NULL, 0), 0);
    vrp_params_t prm;
    vrp_params_init(&prm);
    prm.time_limit = 0;
    prm.max_iterations = 300;
    prm.seed = 7;
    assert_int_equal(vrp_solve(dd_reopt_problem(r), &prm, &pl), 0);
    return pl;
}

static void s_bath_for_c1(dd_world_t *w)
{
    dd_world_caregiver(w, "c1")->skills |= SK(DD_SVC_BATH);   /* a rule changes mid-build */
}

/* The loop builds a snapshot a slice at a time (docs/DISPATCH.md): the
 * result is the one built in one go, and so is the plan solved from it.
 * Planted: a rule changed between slices shows as a different problem. */
static void test_sliced_snapshot_is_the_whole_one(void **state)
{
    (void) state;
    dd_world_t *w = s_district();
    dd_reopt_run_t *whole = s_whole(w);
    int slices;
    dd_reopt_run_t *sliced = s_sliced(w, NULL, &slices);
    int nj = vrp_problem_jobs(dd_reopt_problem(whole));
    assert_true(nj >= 30);
    assert_true(slices >= nj);   /* a job per slice at most: it was sliced */
    assert_true(s_same(whole, sliced));
    vrp_plan_t *pw = s_solved(whole), *ps = s_solved(sliced);
    assert_true(vrp_plan_cost(pw) == vrp_plan_cost(ps));
    for (int v = 0; v < vrp_problem_vehicles(dd_reopt_problem(whole)); v++) {
        assert_int_equal(vrp_plan_route_length(pw, v), vrp_plan_route_length(ps, v));
        for (int i = 0; i < vrp_plan_route_length(pw, v); i++)
            assert_int_equal(vrp_plan_route_job(pw, v, i), vrp_plan_route_job(ps, v, i));
    }
    vrp_plan_destroy(&pw);
    vrp_plan_destroy(&ps);
    dd_reopt_run_free(&sliced);
    /* planted: c1 gains bathing after 3 slices; the whole one is unchanged */
    sliced = s_sliced(w, s_bath_for_c1, &slices);
    assert_false(s_same(whole, sliced));
    dd_reopt_run_free(&sliced);
    dd_reopt_run_free(&whole);
    dd_world_destroy(&w);
}

/* A visit copied but not yet checked that changes or is freed between
 * slices voids the snapshot (no pointer into a freed visit: ASan runs this too); a
 * change after its checks is the apply's (test_stale_result_is_dropped). */
static void test_sliced_snapshot_void_on_change(void **state)
{
    (void) state;
    for (int freed = 0; freed < 2; freed++) {
        dd_world_t *w = s_district();
        dd_reopt_run_t *r = s_begin(w);
        assert_non_null(r);
        for (int i = 0; i < 3; i++)   /* past the copies, into the rule checks */
            assert_int_equal(dd_reopt_build(r, w, 0), 1);
        dd_visit_t *last = dd_world_visit(w, "v35");   /* waiting: the last jobs */
        assert_non_null(last);
        uint64_t gen = dd_world_generation(w);
        if (freed) {
            dd_world_remove_visit(w, last);
            assert_true(dd_world_generation(w) != gen);
        } else {
            dd_world_set_state(w, last, DD_VISIT_CANCELLED, s_at(9, 0));
        }
        int rc;
        while ((rc = dd_reopt_build(r, w, 0)) == 1)
            ;
        assert_int_equal(rc, -1);
        dd_reopt_run_free(&r);
        /* control: untouched, the same build completes */
        dd_world_destroy(&w);
        w = s_district();
        r = s_begin(w);
        while ((rc = dd_reopt_build(r, w, 0)) == 1)
            ;
        assert_int_equal(rc, 0);
        dd_reopt_run_free(&r);
        dd_world_destroy(&w);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_moves_an_unaccepted_visit_nearer),
        cmocka_unit_test(test_starts_where_last_visit_ended),
        cmocka_unit_test(test_accepted_and_emergency_and_soon_stay),
        cmocka_unit_test(test_rules_hold),
        cmocka_unit_test(test_stale_result_is_dropped),
        cmocka_unit_test(test_places_waiting_visit),
        cmocka_unit_test(test_only_moves_are_reoffered),
        cmocka_unit_test(test_planned_moves_stay_plans),
        cmocka_unit_test(test_pins_and_rota_hold),
        cmocka_unit_test(test_ahead_plans_tomorrow),
        cmocka_unit_test(test_one_day_past_its_shift_stops_nobody),
        cmocka_unit_test(test_sliced_snapshot_is_the_whole_one),
        cmocka_unit_test(test_sliced_snapshot_void_on_change),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
