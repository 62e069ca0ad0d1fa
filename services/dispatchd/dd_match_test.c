/* Unit tests for the pruned caregiver search (dd_match, dd_match_preempt with
 * a travel lower bound): on random inputs it must choose exactly what a
 * plain scan of every caregiver chooses, the rule as it was before the
 * pruning (the reference below is that code, unchanged).
 *
 * DD_MATCH_COUNTY_ORDERS=N sets the size of the county case (default 1500),
 * which is also the fixed input for comparing the two with callgrind
 * (DD_MATCH_TEST_FILTER: a cmocka test name pattern):
 *   DD_MATCH_TEST_FILTER=test_county DD_MATCH_COUNTY_ORDERS=2000 \
 *       valgrind --tool=callgrind --callgrind-out-file=cg.out \
 *       build/test/dispatchd_dd_match_test
 *   callgrind_annotate --inclusive=yes cg.out | grep -E ' (dd_match|s_ref_match) '
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cc_util.h"
#include "dd_domain.h"
#include "dd_test_grid.h"

#define S_US 1000000LL
#define MIN_US (60 * S_US)
#define HOUR_US (60 * MIN_US)
#define DAY_US (24 * HOUR_US)
/* 2026-11-26 00:00 Asia/Shanghai. */
#define DAY0_US (1795622400LL * S_US)

/* ---- the reference: the plain scan ---------------------------------------- */

static int s_ref_first_aid(const dd_visit_t *v)
{
    return v->emergency || v->service == DD_SVC_EMERGENCY;
}

static int s_ref_better(const dd_match_t *a, const dd_match_t *b, const dd_visit_t *v)
{
    if (a->preferred != b->preferred)
        return a->preferred;
    int64_t ka = v->emergency ? a->eta_us : a->travel_s;
    int64_t kb = v->emergency ? b->eta_us : b->travel_s;
    if (ka != kb)
        return ka < kb;
    if (a->eta_us != b->eta_us)
        return a->eta_us < b->eta_us;
    if (a->caregiver->nplan != b->caregiver->nplan)
        return a->caregiver->nplan < b->caregiver->nplan;
    return strcmp(a->caregiver->id, b->caregiver->id) < 0;
}

static int s_ref_match(dd_caregiver_t *const *cgs, size_t n, const dd_visit_t *v,
                       const dd_match_params_t *p, dd_match_t *out)
{
    int passes = s_ref_first_aid(v) ? 2 : 1;
    for (int pass = 0; pass < passes; pass++) {
        int found = 0;
        dd_match_t best = {0};
        for (size_t i = 0; i < n; i++) {
            dd_match_t m;
            if (dd_fit(cgs[i], v, p, pass == 1, &m) != DD_FIT_OK)
                continue;
            if (!found || s_ref_better(&m, &best, v)) {
                best = m;
                found = 1;
            }
        }
        if (found) {
            *out = best;
            return 0;
        }
    }
    return -1;
}

static int s_ref_preempt(dd_caregiver_t *const *cgs, size_t n, const dd_visit_t *v,
                         const dd_match_params_t *p, dd_match_t *out, dd_visit_t **bumped)
{
    if (!s_ref_first_aid(v))
        return -1;
    for (int pass = 0; pass < 2; pass++) {
        int found = 0;
        dd_match_t best = {0};
        dd_visit_t *best_b = NULL;
        for (size_t i = 0; i < n; i++) {
            dd_caregiver_t *c = cgs[i];
            if (dd_qualified(c, v) != DD_FIT_OK)
                continue;
            for (size_t k = 0; k < c->nplan; k++) {
                dd_visit_t *b = c->plan[k];
                if (b->state != DD_VISIT_ASSIGNED || b->emergency
                    || b->service == DD_SVC_EMERGENCY)
                    continue;
                memmove(&c->plan[k], &c->plan[k + 1], (c->nplan - k - 1) * sizeof *c->plan);
                c->nplan--;
                dd_match_t m;
                dd_fit_t f = dd_fit(c, v, p, pass == 1, &m);
                memmove(&c->plan[k + 1], &c->plan[k], (c->nplan - k) * sizeof *c->plan);
                c->plan[k] = b;
                c->nplan++;
                if (f != DD_FIT_OK)
                    continue;
                if (!found || m.eta_us < best.eta_us
                    || (m.eta_us == best.eta_us && strcmp(c->id, best.caregiver->id) < 0)) {
                    best = m;
                    best_b = b;
                    found = 1;
                }
            }
        }
        if (found) {
            *out = best;
            *bumped = best_b;
            return 0;
        }
    }
    return -1;
}

/* ---- inputs ---------------------------------------------------------------- */

static uint64_t s_seed = 0x9e3779b97f4a7c15ULL;

static uint64_t s_next(void)
{
    /* xorshift64*: the same sequence on every machine */
    s_seed ^= s_seed >> 12;
    s_seed ^= s_seed << 25;
    s_seed ^= s_seed >> 27;
    return s_seed * 2685821657736338717ULL;
}

static int s_int(int n)
{
    return (int) (s_next() % (uint64_t) n);
}

static double s_unif(double a, double b)
{
    return a + (b - a) * ((double) (s_next() >> 11) / 9007199254740992.0);
}

static int s_geo(double lat1, double lon1, double lat2, double lon2)
{
    return cc_geo_travel_s(lat1, lon1, lat2, lon2);
}

/* A second metric with many exact ties: Manhattan, 1/1000 degree a minute. */
#define S_GRID_S_PER_DEG 60000.0
static int s_grid(double lat1, double lon1, double lat2, double lon2)
{
    return dd_test_grid(S_GRID_S_PER_DEG, lat1, lon1, lat2, lon2);
}

static int s_grid_lb(const dd_box_t *b, double lat, double lon)
{
    return dd_test_grid_lb(S_GRID_S_PER_DEG, b, lat, lon);
}

#define S_MAX_CG 80
#define S_MAX_POOL 4096

typedef struct {
    dd_caregiver_t cg[S_MAX_CG];
    dd_caregiver_t *ptr[S_MAX_CG];
    size_t n;
    dd_visit_t pool[S_MAX_POOL];   /* planned visits: stable addresses */
    size_t npool;
    double clat[3], clon[3];       /* centres */
    int ncentres;
    double spread;
} s_world_t;

static const int s_services[] = {DD_SVC_BATH, DD_SVC_CLEANING, DD_SVC_ESCORT,
                                 DD_SVC_MEDICAL_ESCORT, DD_SVC_EMERGENCY, DD_SVC_VISIT,
                                 DD_SVC_ASSESSMENT};

static void s_near(const s_world_t *w, double *lat, double *lon)
{
    int k = s_int(w->ncentres);
    *lat = w->clat[k] + s_unif(-w->spread, w->spread);
    *lon = w->clon[k] + s_unif(-w->spread, w->spread);
    if (*lat > 90)
        *lat = 90;
    if (*lat < -90)
        *lat = -90;
    if (*lon > 180)
        *lon -= 360;
    if (*lon < -180)
        *lon += 360;
}

static dd_visit_t *s_pool_visit(s_world_t *w, int64_t now)
{
    if (w->npool >= S_MAX_POOL)
        return NULL;
    dd_visit_t *v = &w->pool[w->npool++];
    memset(v, 0, sizeof *v);
    snprintf(v->id, sizeof v->id, "p%zu", w->npool);
    v->service = s_services[s_int(7)];
    v->emergency = s_int(10) == 0;
    s_near(w, &v->lat, &v->lon);
    v->eta_us = now + (int64_t) s_int(4 * 24 * 60) * MIN_US - DAY_US;
    v->planned_end_us = v->eta_us + (int64_t) dd_service_minutes(v->service) * MIN_US;
    v->state = s_int(4) ? DD_VISIT_ASSIGNED : DD_VISIT_ACCEPTED;
    return v;
}

static void s_world_random(s_world_t *w, int64_t now)
{
    memset(w, 0, sizeof *w);
    w->ncentres = 1 + s_int(3);
    int where = s_int(10);
    for (int k = 0; k < w->ncentres; k++) {
        if (where == 0) {           /* near a pole */
            w->clat[k] = s_unif(80, 89.9) * (s_int(2) ? 1 : -1);
            w->clon[k] = s_unif(-180, 180);
        } else if (where == 1) {    /* across the antimeridian */
            w->clat[k] = s_unif(-60, 60);
            w->clon[k] = s_int(2) ? 179.99 : -179.99;
        } else {                    /* a county */
            w->clat[k] = 30.27 + s_unif(-0.05, 0.05);
            w->clon[k] = 120.15 + s_unif(-0.05, 0.05);
        }
    }
    const double spreads[] = {0, 0.0005, 0.01, 0.03, 0.3};
    w->spread = spreads[s_int(5)];
    w->n = 1 + (size_t) s_int(S_MAX_CG);
    for (size_t i = 0; i < w->n; i++) {
        dd_caregiver_t *c = &w->cg[i];
        w->ptr[i] = c;
        /* now and then an id twice: ties between equal ids go to the first */
        snprintf(c->id, sizeof c->id, "c%03d", s_int(8) == 0 ? s_int(10) : (int) i + 10);
        snprintf(c->provider_id, sizeof c->provider_id, "prov");
        c->district_id = 1;
        if (i > 0 && s_int(6) == 0) {   /* the same home as someone else: equal travel */
            c->lat = w->cg[i - 1].lat;
            c->lon = w->cg[i - 1].lon;
        } else {
            s_near(w, &c->lat, &c->lon);
        }
        c->skills = s_int(3) ? 0x1feu : (uint32_t) s_next() & 0x1feu;
        c->level = 1 + s_int(3);
        c->first_aid = s_int(2);
        if (s_int(3)) {
            c->shift_start_min = 0;
            c->shift_end_min = 1439;
        } else {
            c->shift_start_min = s_int(1440);
            c->shift_end_min = s_int(5) ? s_int(1440) : c->shift_start_min;
        }
        int np = s_int(9);
        for (int k = 0; k < np; k++) {
            dd_visit_t *v = s_pool_visit(w, now);
            assert_non_null(v);
            assert_int_equal(dd_plan_add(c, v), 0);
        }
    }
}

static void s_visit_random(const s_world_t *w, dd_visit_t *v, int64_t now)
{
    memset(v, 0, sizeof *v);
    snprintf(v->id, sizeof v->id, "new");
    v->service = s_services[s_int(7)];
    v->ability = (dd_ability_t) s_int(6);
    v->emergency = v->service == DD_SVC_EMERGENCY || s_int(6) == 0;
    v->window_start_us = now + (int64_t) s_int(3 * 24 * 60) * MIN_US - 2 * HOUR_US;
    v->window_end_us = v->window_start_us + (int64_t) s_int(5 * 60) * MIN_US;
    s_near(w, &v->lat, &v->lon);
    int pref = s_int(10);
    if (pref < 3)
        snprintf(v->preferred_caregiver_id, sizeof v->preferred_caregiver_id, "%s",
                 w->cg[s_int((int) w->n)].id);
    else if (pref == 3)
        snprintf(v->preferred_caregiver_id, sizeof v->preferred_caregiver_id, "nobody");
    int nd = s_int(4);
    for (int k = 0; k < nd; k++)
        assert_int_equal(dd_visit_add_declined(v, w->cg[s_int((int) w->n)].id), 0);
}

static void s_same(int rc_a, const dd_match_t *a, int rc_b, const dd_match_t *b)
{
    assert_int_equal(rc_a, rc_b);
    if (rc_a != 0)
        return;
    assert_ptr_equal(a->caregiver, b->caregiver);
    assert_true(a->eta_us == b->eta_us);
    assert_true(a->end_us == b->end_us);
    assert_int_equal(a->travel_s, b->travel_s);
    assert_int_equal(a->preferred, b->preferred);
    assert_int_equal(a->off_shift, b->off_shift);
}

/* dd_match and dd_match_preempt against the reference on w for v; 0 and
 * dd_match's choice in *m, or -1. */
static int s_check(s_world_t *w, const dd_visit_t *v, const dd_match_params_t *p,
                   dd_match_t *m)
{
    dd_match_t a, b;
    int found = dd_match(w->ptr, w->n, v, p, m);
    s_same(found, m, s_ref_match(w->ptr, w->n, v, p, &b), &b);
    dd_visit_t *ba = NULL, *bb = NULL;
    int ra = dd_match_preempt(w->ptr, w->n, v, p, &a, &ba);
    int rb = s_ref_preempt(w->ptr, w->n, v, p, &b, &bb);
    s_same(ra, &a, rb, &b);
    assert_ptr_equal(ba, bb);
    return found;
}

static void s_random_cases(dd_travel_fn *travel, dd_travel_lb_fn *lb, int cases)
{
    static s_world_t w;
    for (int t = 0; t < cases; t++) {
        int64_t now = DAY0_US + (int64_t) s_int(24 * 60) * MIN_US;
        s_world_random(&w, now);
        const int maxes[] = {0, 300, 900, 3600};
        dd_match_params_t p = {.now_us = now, .max_travel_s = maxes[s_int(4)],
                               .travel = travel, .travel_lb = lb};
        /* A few visits in a row on the same world, which changes between
         * them: the chosen caregiver gets the visit, another loses one, a
         * home moves (the cached boxes must follow). */
        for (int r = 0; r < 6; r++) {
            dd_visit_t v;
            s_visit_random(&w, &v, now);
            dd_match_t m;
            int found = s_check(&w, &v, &p, &m) == 0;
            free(v.declined);
            if (found) {
                dd_visit_t *pv = s_pool_visit(&w, now);
                if (pv) {
                    pv->lat = v.lat;
                    pv->lon = v.lon;
                    pv->service = v.service;
                    pv->emergency = v.emergency;
                    pv->eta_us = m.eta_us;
                    pv->planned_end_us = m.end_us;
                    pv->state = DD_VISIT_ASSIGNED;
                    assert_int_equal(dd_plan_add(m.caregiver, pv), 0);
                }
            }
            dd_caregiver_t *c = &w.cg[s_int((int) w.n)];
            if (c->nplan > 0 && s_int(2))
                dd_plan_remove(c, c->plan[s_int((int) c->nplan)]);
            if (s_int(4) == 0) {
                c = &w.cg[s_int((int) w.n)];
                s_near(&w, &c->lat, &c->lon);
            }
        }
        for (size_t i = 0; i < w.n; i++)
            free(w.cg[i].plan);
    }
}

static void test_geo_lower_bound(void **state)
{
    (void) state;
    for (int t = 0; t < 200000; t++) {
        /* a box of a few points, then points inside it against a target */
        double lat = s_unif(-90, 90), lon = s_unif(-180, 180);
        double size = t % 3 == 0 ? s_unif(0, 1e-4) : t % 3 == 1 ? s_unif(0, 0.1) : s_unif(0, 40);
        dd_box_t b = {.lat_min = lat, .lat_max = lat, .lon_min = lon, .lon_max = lon};
        double plat[4], plon[4];
        for (int k = 0; k < 4; k++) {
            plat[k] = fmax(-90, fmin(90, lat + s_unif(-size, size)));
            plon[k] = fmax(-180, fmin(180, lon + s_unif(-size, size)));
            b.lat_min = fmin(b.lat_min, plat[k]);
            b.lat_max = fmax(b.lat_max, plat[k]);
            b.lon_min = fmin(b.lon_min, plon[k]);
            b.lon_max = fmax(b.lon_max, plon[k]);
        }
        double tlat, tlon;
        if (t % 2) {   /* nearby */
            double r = t % 4 == 1 ? 1e-3 : 0.5;
            tlat = fmax(-90, fmin(90, lat + s_unif(-r, r)));
            tlon = fmax(-180, fmin(180, lon + s_unif(-r, r)));
        } else {
            tlat = s_unif(-90, 90);
            tlon = s_unif(-180, 180);
        }
        int lb = dd_geo_travel_lb(&b, tlat, tlon);
        for (int k = 0; k < 4; k++)
            assert_true(lb <= cc_geo_travel_s(plat[k], plon[k], tlat, tlon));
        assert_true(lb <= cc_geo_travel_s(lat, lon, tlat, tlon));
        /* and a useful one: a one-point box is within seconds of the truth */
        dd_box_t one = {.lat_min = plat[0], .lat_max = plat[0], .lon_min = plon[0],
                       .lon_max = plon[0]};
        int tr = cc_geo_travel_s(plat[0], plon[0], tlat, tlon);
        int lb1 = dd_geo_travel_lb(&one, tlat, tlon);
        assert_true(lb1 <= tr);
        if (tr < 3600 && fabs(plat[0]) < 70 && fabs(tlat) < 70)
            assert_true(tr - lb1 <= 3);
    }
    dd_box_t b = {.lat_min = 30, .lat_max = 30.1, .lon_min = 120, .lon_max = 120.1};
    assert_int_equal(dd_geo_travel_lb(&b, NAN, 120), -1);
    b.unbounded = 1;
    assert_int_equal(dd_geo_travel_lb(&b, 30, 120), -1);
}

static void test_random_geo(void **state)
{
    (void) state;
    s_random_cases(s_geo, dd_geo_travel_lb, 3000);
}

static void test_random_grid(void **state)
{
    (void) state;
    s_random_cases(s_grid, s_grid_lb, 3000);
}

/* bench/county.py's county and bench/intake.lua's orders: 1,000 caregivers
 * with every skill around three district centres, 200 elders, 2-hour daytime
 * windows over 21 days; each order goes to the caregiver chosen, as in
 * dispatchd. Both searches choose the same one every time. */
static void test_county(void **state)
{
    (void) state;
    static const double centre[3][2] = {{30.2741, 120.1551}, {30.2902, 120.1830},
                                        {30.2480, 120.1290}};
    enum { NCG = 1000, NELD = 200 };
    const char *env = getenv("DD_MATCH_COUNTY_ORDERS");
    int orders = env ? atoi(env) : 1500;
    dd_caregiver_t *cg = calloc(NCG, sizeof *cg);
    dd_caregiver_t **ptr = calloc(NCG, sizeof *ptr);
    dd_visit_t *pool = calloc((size_t) orders + 1, sizeof *pool);
    assert_non_null(cg);
    assert_non_null(ptr);
    assert_non_null(pool);
    for (int i = 0; i < NCG; i++) {
        dd_caregiver_t *c = &cg[i];
        int d = i % 3;
        snprintf(c->id, sizeof c->id, "%08x-0000-4000-8000-%012d", (unsigned) i * 2654435761u, i);
        snprintf(c->provider_id, sizeof c->provider_id, "provider-%d", i % 5);
        c->district_id = (uint32_t) d + 1;
        c->lat = centre[d][0] + ((i * 41) % 200 - 100) / 10000.0;
        c->lon = centre[d][1] + ((i * 29) % 200 - 100) / 10000.0;
        c->skills = 0x1feu;
        c->level = 3;
        c->first_aid = 1;
        c->shift_start_min = 0;
        c->shift_end_min = 23 * 60 + 59;
        ptr[i] = c;
    }
    const int services[] = {DD_SVC_CLEANING, DD_SVC_BATH, DD_SVC_ESCORT};
    int64_t now = DAY0_US + 9 * HOUR_US;
    dd_match_params_t p = {.now_us = now, .max_travel_s = 3600, .travel = s_geo,
                           .travel_lb = dd_geo_travel_lb};
    int assigned = 0;
    for (int n = 1; n <= orders; n++) {
        dd_visit_t *v = &pool[n - 1];
        int e = (n * 7) % NELD, d = e % 3;
        snprintf(v->id, sizeof v->id, "v%d", n);
        v->service = services[n % 3];
        v->ability = DD_ABILITY_MILD;
        v->lat = centre[d][0] + ((e * 37) % 200 - 100) / 10000.0;
        v->lon = centre[d][1] + ((e * 53) % 200 - 100) / 10000.0;
        int k = (n * 7919) % (21 * 12);
        v->window_start_us = DAY0_US + (int64_t) (1 + k / 12) * DAY_US + (7 + k % 12) * HOUR_US;
        v->window_end_us = v->window_start_us + 2 * HOUR_US;
        dd_match_t a, b;
        int ra = dd_match(ptr, NCG, v, &p, &a);
        int rb = s_ref_match(ptr, NCG, v, &p, &b);
        s_same(ra, &a, rb, &b);
        if (ra != 0)
            continue;
        v->eta_us = a.eta_us;
        v->planned_end_us = a.end_us;
        v->state = DD_VISIT_ASSIGNED;
        assert_int_equal(dd_plan_add(a.caregiver, v), 0);
        assigned++;
    }
    assert_int_equal(assigned, orders);
    for (int i = 0; i < NCG; i++)
        free(cg[i].plan);
    free(pool);
    free(ptr);
    free(cg);
}

/* Equal arrival and equal ids (not in dispatchd, where ids are unique): the
 * first in cgs wins, as in the scan, even when the second has the lower
 * bound and so is tried first. Grid metric: 0.001 degree is a minute. */
static void test_equal_ids_first_wins(void **state)
{
    (void) state;
    int64_t now = DAY0_US + 8 * HOUR_US;
    dd_caregiver_t cg[2];
    dd_visit_t plan[3];
    memset(cg, 0, sizeof cg);
    memset(plan, 0, sizeof plan);
    for (int i = 0; i < 2; i++) {
        snprintf(cg[i].id, sizeof cg[i].id, "same");
        cg[i].lat = 30.0 + (i == 0 ? 0.010 : 0.005);   /* 10 and 5 minutes away */
        cg[i].lon = 120.0;
        cg[i].skills = 0x1feu;
        cg[i].level = 3;
        cg[i].first_aid = 1;
        /* a routine offer at home later on: the one to bump */
        snprintf(plan[i].id, sizeof plan[i].id, "b%d", i);
        plan[i].service = DD_SVC_CLEANING;
        plan[i].lat = cg[i].lat;
        plan[i].lon = cg[i].lon;
        plan[i].eta_us = now + 3 * HOUR_US;
        plan[i].planned_end_us = plan[i].eta_us + 90 * MIN_US;
        plan[i].state = DD_VISIT_ASSIGNED;
        assert_int_equal(dd_plan_add(&cg[i], &plan[i]), 0);
    }
    /* the nearer one is busy at home until now + 5 min: both arrive at +10 */
    snprintf(plan[2].id, sizeof plan[2].id, "a1");
    plan[2].service = DD_SVC_VISIT;
    plan[2].lat = cg[1].lat;
    plan[2].lon = cg[1].lon;
    plan[2].eta_us = now - 40 * MIN_US;
    plan[2].planned_end_us = now + 5 * MIN_US;
    plan[2].state = DD_VISIT_ACCEPTED;
    assert_int_equal(dd_plan_add(&cg[1], &plan[2]), 0);
    dd_caregiver_t *ptr[2] = {&cg[0], &cg[1]};
    dd_visit_t v;
    memset(&v, 0, sizeof v);
    v.service = DD_SVC_EMERGENCY;
    v.emergency = 1;
    v.lat = 30.0;
    v.lon = 120.0;
    v.window_start_us = now;
    v.window_end_us = now + 2 * HOUR_US;
    dd_match_params_t p = {.now_us = now, .travel = s_grid, .travel_lb = s_grid_lb};
    dd_match_t a, b;
    dd_visit_t *ba = NULL, *bb = NULL;
    assert_int_equal(dd_match_preempt(ptr, 2, &v, &p, &a, &ba), 0);
    assert_int_equal(s_ref_preempt(ptr, 2, &v, &p, &b, &bb), 0);
    s_same(0, &a, 0, &b);
    assert_ptr_equal(a.caregiver, &cg[0]);
    assert_true(a.eta_us == now + 10 * MIN_US);
    assert_ptr_equal(ba, bb);
    /* dd_match alike */
    assert_int_equal(dd_match(ptr, 2, &v, &p, &a), 0);
    assert_int_equal(s_ref_match(ptr, 2, &v, &p, &b), 0);
    s_same(0, &a, 0, &b);
    assert_ptr_equal(a.caregiver, &cg[0]);
    free(cg[0].plan);
    free(cg[1].plan);
}

int main(void)
{
    if (getenv("DD_MATCH_TEST_FILTER"))
        cmocka_set_test_filter(getenv("DD_MATCH_TEST_FILTER"));
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_geo_lower_bound),
        cmocka_unit_test(test_random_geo),
        cmocka_unit_test(test_random_grid),
        cmocka_unit_test(test_equal_ids_first_wins),
        cmocka_unit_test(test_county),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
