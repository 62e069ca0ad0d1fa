/*  vrp_ext_test.c: per-vehicle time factors, points problems (lat/lon, no matrix), pins,
    forbids, disabled jobs and vehicles, and vrp_problem_dup, in points and matrix mode.

    The exclusions are modelled again here (s_model_t), independently of the library, and every
    fast answer (insertion delta, best insertion, solve) is compared with that model plus a
    from-scratch simulation. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "vrp_internal.h"

#include <stdlib.h>
#include <string.h>

#define assert_near(a, b, eps) assert_true(fabs((double) (a) - (double) (b)) <= (eps))

#define S_MAXJ 64
#define S_MAXV 8

typedef struct {
    uint64_t s;
} s_lcg_t;

static uint32_t s_rand(s_lcg_t *r)
{
    r->s = r->s * 6364136223846793005ULL + 1442695040888963407ULL;
    return (uint32_t) (r->s >> 33);
}

static double s_uniform(s_lcg_t *r, double lo, double hi)
{
    return lo + (hi - lo) * (s_rand(r) / 2147483648.0);
}

//  The test's own record of the exclusions it applied.
typedef struct {
    int pin[S_MAXJ];
    bool forbid[S_MAXJ][S_MAXV];
    bool job_off[S_MAXJ];
    bool veh_off[S_MAXV];
    double factor[S_MAXV];
} s_model_t;

static bool s_allowed(const s_model_t *m, int j, int v)
{
    return !m->job_off[j] && !m->veh_off[v] && !m->forbid[j][v]
           && (m->pin[j] < 0 || m->pin[j] == v);
}

//  A city of 20 km around (31.2, 121.45): two depots, n visits in seconds of the day.
static void s_places(s_lcg_t *r, int n_loc, double *latlon)
{
    for (int i = 0; i < n_loc; i++) {
        latlon[2 * i] = 31.2 + s_uniform(r, -0.09, 0.09);
        latlon[2 * i + 1] = 121.45 + s_uniform(r, -0.105, 0.105);
    }
}

//  Same problem in both modes for one seed: points, or a geo matrix of the same places.
static vrp_problem_t *s_city(s_lcg_t *r, bool points, int n, int nv, bool terms, s_model_t *m)
{
    int nl = n + 2;
    double latlon[2 * (S_MAXJ + 2)];
    assert_true(n <= S_MAXJ && nv <= S_MAXV);
    s_places(r, nl, latlon);
    vrp_problem_t *p;
    if (points) {
        p = vrp_problem_new_points(1.3, 4.17);
        assert_non_null(p);
        for (int i = 0; i < nl; i++)
            assert_int_equal(vrp_problem_add_location(p, latlon[2 * i], latlon[2 * i + 1]), i);
    }
    else
        p = vrp_problem_new_geo(nl, latlon, 1.3, 4.17);
    assert_non_null(p);
    vrp_costs_t costs = {0.001, 0.01, 1e4, 5.0, terms ? 1e-8 : 0.0};
    vrp_problem_set_costs(p, &costs);
    memset(m, 0, sizeof *m);
    for (int j = 0; j < n; j++) {
        vrp_job_t job;
        vrp_job_init(&job, 2 + j);
        job.service = s_uniform(r, 600, 2400);
        if (s_rand(r) % 4) {
            job.n_windows = 1;
            job.windows[0].start = s_uniform(r, 8 * 3600, 16 * 3600);
            job.windows[0].end = job.windows[0].start + s_uniform(r, 1800, 7200);
            if (terms && s_rand(r) % 2) {
                job.max_lateness = 900;
                job.lateness_cost = 0.05;
            }
        }
        job.demand[0] = (int) (s_rand(r) % 3);
        job.skills = s_rand(r) % 5 == 0 ? 1 : 0;
        assert_int_equal(vrp_problem_add_job(p, &job), j);
        m->pin[j] = -1;
    }
    static const double factors[] = {0, 1, 0.4, 0.7, 1.6};
    for (int v = 0; v < nv; v++) {
        vrp_vehicle_t veh;
        vrp_vehicle_init(&veh, v % 2, v % 2);
        veh.shift_start = s_uniform(r, 7 * 3600, 9 * 3600);
        veh.shift_end = veh.shift_start + s_uniform(r, 5 * 3600, 10 * 3600);
        veh.capacity[0] = 8 + (int) (s_rand(r) % 8);
        veh.skills = v % 3 ? 1 : 0;
        veh.fixed_cost = 10;
        veh.time_factor = factors[s_rand(r) % 5];
        m->factor[v] = veh.time_factor == 0 ? 1 : veh.time_factor;
        if (terms && v == 1)
            veh.max_duration = 6 * 3600;
        assert_int_equal(vrp_problem_add_vehicle(p, &veh), v);
    }
    return p;
}

//  Random pins, forbids and disabled jobs (recorded in m); a disabled vehicle if want_veh.
static void s_exclude(s_lcg_t *r, vrp_problem_t *p, s_model_t *m, int n, int nv, bool want_veh)
{
    for (int j = 0; j < n; j++) {
        uint32_t x = s_rand(r) % 20;
        if (x < 3) {
            m->pin[j] = (int) (s_rand(r) % nv);
            assert_int_equal(vrp_problem_pin(p, j, m->pin[j]), 0);
        }
        else if (x < 7)
            for (int k = 0; k < 2; k++) {
                int v = (int) (s_rand(r) % nv);
                m->forbid[j][v] = true;
                assert_int_equal(vrp_problem_forbid(p, j, v), 0);
            }
        else if (x == 7) {
            m->job_off[j] = true;
            assert_int_equal(vrp_problem_job_disable(p, j), 0);
        }
    }
    if (want_veh) {
        int v = (int) (s_rand(r) % nv);
        m->veh_off[v] = true;
        assert_int_equal(vrp_problem_vehicle_disable(p, v), 0);
    }
}

//  Route cost from scratch: travel recomputed here as problem time x the model's factor.
static double s_cost_scratch(const vrp_problem_t *p, const s_model_t *m, int v, const int *jobs,
                             int n, bool *feasible)
{
    vrp_sim_t sim;
    vrp_sim(p, v, jobs, n, &sim);
    *feasible = sim.feasible;
    if (n == 0)
        return 0;
    const vrp_vehicle_t *veh = &p->veh[v];
    double tt = 0;
    int prev = veh->start_location;
    for (int i = 0; i <= n; i++) {
        int here = i < n ? p->jobs[jobs[i]].location : veh->end_location;
        tt += vrp_problem_time(p, prev, here) * m->factor[v];
        prev = here;
    }
    if (sim.feasible)
        assert_near(sim.ttime, tt, 1e-6 * (1 + tt));
    int nonpref = 0;
    for (int i = 0; i < n; i++)
        nonpref += vrp_nonpref(&p->jobs[jobs[i]], v);
    double work = sim.work;
    return p->costs.per_distance * sim.dist + p->costs.per_time * tt + veh->fixed_cost
           + p->costs.non_preferred_penalty * nonpref + sim.late + p->costs.balance * work * work;
}

//  Delta of putting job before route position pos (1-based), or VRP_INF: the model first.
static double s_brute_delta(const vrp_plan_t *pl, const s_model_t *m, int job, int v, int pos)
{
    if (!s_allowed(m, job, v))
        return VRP_INF;
    const vrp_route_t *r = &pl->routes[v];
    int seq[S_MAXJ + 1];
    int k = 0;
    for (int i = 1; i < pos; i++)
        seq[k++] = r->job[i];
    seq[k++] = job;
    for (int i = pos; i <= r->n; i++)
        seq[k++] = r->job[i];
    bool f_new, f_old;
    double c_new = s_cost_scratch(pl->prob, m, v, seq, k, &f_new);
    double c_old = s_cost_scratch(pl->prob, m, v, r->job + 1, r->n, &f_old);
    assert_true(f_old);
    return f_new ? c_new - c_old : VRP_INF;
}

static void s_assert_plan_obeys(const vrp_plan_t *pl, const s_model_t *m)
{
    const vrp_problem_t *p = pl->prob;
    char why[128];
    if (vrp_plan_check(pl, why, sizeof why))
        print_message("check: %s\n", why);
    assert_int_equal(vrp_plan_check(pl, NULL, 0), 0);
    for (int v = 0; v < vrp_problem_vehicles(p); v++)
        for (int i = 0; i < vrp_plan_route_length(pl, v); i++)
            assert_true(s_allowed(m, vrp_plan_route_job(pl, v, i), v));
    for (int j = 0; j < vrp_problem_jobs(p); j++)
        if (m->job_off[j])
            assert_int_equal(vrp_plan_reason(pl, j), VRP_REASON_DISABLED);
}

//  ---------------------------------------------------------------------------------------------

static void test_geo_metric(void **state)
{
    (void) state;
    s_lcg_t r = {3};
    //  Chord vs haversine at city scale, symmetry, zero.
    for (int i = 0; i < 1000; i++) {
        double a = 31.2 + s_uniform(&r, -0.09, 0.09), b = 121.45 + s_uniform(&r, -0.1, 0.1);
        double c = 31.2 + s_uniform(&r, -0.09, 0.09), d = 121.45 + s_uniform(&r, -0.1, 0.1);
        const double rad = M_PI / 180;
        double h = pow(sin((c - a) * rad / 2), 2)
                   + cos(a * rad) * cos(c * rad) * pow(sin((d - b) * rad / 2), 2);
        double hav = 2 * 6371008.8 * asin(sqrt(h));
        double m = vrp_geo_metres(a, b, c, d);
        assert_true(fabs(m - hav) <= 1e-6 * hav + 1e-6);
        assert_true(m == vrp_geo_metres(c, d, a, b));
    }
    assert_true(vrp_geo_metres(31.2, 121.4, 31.2, 121.4) == 0);
    //  One degree of latitude: 111194.93 m on the arc, the chord 1.26 m shorter.
    assert_near(vrp_geo_metres(30, 121, 31, 121), 111193.67, 0.01);

    //  A matrix from the same points gives the same numbers, bit for bit.
    double latlon[2 * 40];
    s_places(&r, 40, latlon);
    vrp_problem_t *g = vrp_problem_new_geo(40, latlon, 1.3, 4.17);
    vrp_problem_t *p = vrp_problem_new_points(1.3, 4.17);
    assert_non_null(g);
    assert_non_null(p);
    for (int i = 0; i < 40; i++) {
        assert_int_equal(vrp_problem_locations(p), i);
        assert_int_equal(vrp_problem_add_location(p, latlon[2 * i], latlon[2 * i + 1]), i);
    }
    for (int a = 0; a < 40; a++)
        for (int b = 0; b < 40; b++) {
            assert_true(vrp_problem_time(g, a, b) == vrp_problem_time(p, a, b));
            assert_true(vrp_problem_distance(g, a, b) == vrp_problem_distance(p, a, b));
            double d = vrp_geo_metres(latlon[2 * a], latlon[2 * a + 1], latlon[2 * b],
                                      latlon[2 * b + 1]) * 1.3;
            assert_true(vrp_problem_distance(p, a, b) == d);
            assert_true(vrp_problem_time(p, a, b) == d / 4.17);
        }
    //  Places by unit vector (vrp_geo_point): the same numbers again, bit for bit.
    vrp_problem_t *q = vrp_problem_new_points(1.3, 4.17);
    assert_non_null(q);
    double u[40][3];
    for (int i = 0; i < 40; i++) {
        vrp_geo_point(latlon[2 * i], latlon[2 * i + 1], u[i]);
        assert_int_equal(vrp_problem_add_point(q, u[i]), i);
    }
    for (int a = 0; a < 40; a++)
        for (int b = 0; b < 40; b++) {
            assert_true(vrp_problem_time(q, a, b) == vrp_problem_time(p, a, b));
            assert_true(vrp_geo_chord_metres(u[a], u[b])
                        == vrp_geo_metres(latlon[2 * a], latlon[2 * a + 1], latlon[2 * b],
                                          latlon[2 * b + 1]));
        }
    double bad[3] = {NAN, 0, 0};
    assert_int_equal(vrp_problem_add_point(q, bad), -1);
    assert_int_equal(vrp_problem_add_point(g, u[0]), -1);
    assert_int_equal(vrp_problem_locations(q), 40);
    vrp_problem_destroy(&q);
    //  Bad coordinates, bad parameters, and a matrix problem do not grow.
    assert_int_equal(vrp_problem_add_location(p, NAN, 121), -1);
    assert_int_equal(vrp_problem_add_location(p, 90.5, 121), -1);
    assert_int_equal(vrp_problem_add_location(p, 31, -180.5), -1);
    assert_int_equal(vrp_problem_add_location(p, 31, INFINITY), -1);
    assert_int_equal(vrp_problem_add_location(g, 31, 121), -1);
    assert_int_equal(vrp_problem_locations(p), 40);
    assert_null(vrp_problem_new_points(0.9, 4));
    assert_null(vrp_problem_new_points(1.3, 0));
    assert_null(vrp_problem_new_points(1.3, NAN));
    //  A job or vehicle must name a place that exists.
    vrp_job_t job;
    vrp_job_init(&job, 40);
    assert_int_equal(vrp_problem_add_job(p, &job), -1);
    assert_int_equal(vrp_problem_add_location(p, 31.25, 121.5), 40);
    assert_int_equal(vrp_problem_add_job(p, &job), 0);
    vrp_problem_destroy(&g);
    vrp_problem_destroy(&p);
}

//  A vehicle with factor 2: times double, distance does not; invalid factors are refused.
static void test_time_factor_schedule(void **state)
{
    (void) state;
    double xy[] = {0, 0, 100, 0};
    vrp_problem_t *p = vrp_problem_new_euclidean(2, xy, 1.0);
    assert_non_null(p);
    vrp_vehicle_t veh;
    vrp_vehicle_init(&veh, 0, 0);
    assert_true(veh.time_factor == 1);
    veh.time_factor = -1;
    assert_int_equal(vrp_problem_add_vehicle(p, &veh), -1);
    veh.time_factor = NAN;
    assert_int_equal(vrp_problem_add_vehicle(p, &veh), -1);
    veh.time_factor = 2;
    veh.shift_start = 10;
    veh.shift_end = 400;
    assert_int_equal(vrp_problem_add_vehicle(p, &veh), 0);
    veh.time_factor = 0;   //  means 1
    assert_int_equal(vrp_problem_add_vehicle(p, &veh), 1);
    assert_true(vrp_problem_vehicle_time(p, 0, 0, 1) == 200);
    assert_true(vrp_problem_vehicle_time(p, 1, 0, 1) == 100);
    vrp_job_t job;
    vrp_job_init(&job, 1);
    job.service = 5;
    job.n_windows = 1;
    job.windows[0] = (vrp_window_t) {0, 150};
    assert_int_equal(vrp_problem_add_job(p, &job), 0);
    job.windows[0] = (vrp_window_t) {300, 350};
    assert_int_equal(vrp_problem_add_job(p, &job), 1);
    vrp_plan_t *pl = vrp_plan_new(p);
    assert_non_null(pl);
    //  Job 0 closes at 150: the slow vehicle (arrives 210) cannot, the other one can.
    assert_int_equal(vrp_plan_insert_at(pl, 0, 0, 0), -1);
    assert_int_equal(vrp_plan_insert_at(pl, 0, 1, 0), 0);
    //  Job 1 from 300: the slow vehicle leaves late enough; back at 550 > 400: no.
    assert_int_equal(vrp_plan_insert_at(pl, 1, 0, 0), -1);
    vrp_plan_destroy(&pl);
    int r0[] = {1}, r1[] = {0};
    const int *routes[] = {r0, r1};
    int lens[] = {1, 1};
    pl = vrp_plan_from_routes(p, routes, lens);
    assert_non_null(pl);
    char why[128];
    assert_int_equal(vrp_plan_check(pl, why, sizeof why), -1);
    assert_non_null(strstr(why, "shift end"));
    vrp_plan_destroy(&pl);
    veh.shift_end = 1000;
    veh.time_factor = 2;
    assert_int_equal(vrp_problem_add_vehicle(p, &veh), 2);
    int r2[] = {1};
    const int *routes2[] = {r1, r1, r2};
    int lens2[] = {0, 1, 1};
    pl = vrp_plan_from_routes(p, routes2, lens2);
    assert_non_null(pl);
    assert_int_equal(vrp_plan_check(pl, NULL, 0), 0);
    double arrival, start;
    assert_int_equal(vrp_plan_stop_times(pl, 2, 0, &arrival, &start), 0);
    //  It leaves as late as the window allows (at 150: 200 s on the way) and arrives at 350.
    assert_true(start == 350 && arrival == 350);
    assert_near(vrp_plan_distance(pl), 400, 1e-9);   //  two round trips of 200 m
    vrp_plan_destroy(&pl);
    vrp_problem_destroy(&p);
}

//  Property, in points and matrix mode with the same data: the O(1) insertion test and delta,
//  and the online best insertion, agree with the model plus a from-scratch simulation under
//  mixed time factors, pins, forbids, disabled jobs and a vehicle disabled mid-plan. Both
//  modes must also answer identically.
static void test_insertion_matches_model(void **state)
{
    (void) state;
    int checked = 0, feasible = 0, excluded_reason = 0;
    for (int round = 0; round < 40; round++) {
        double mode_delta[2][S_MAXJ];
        int mode_vehicle[2][S_MAXJ];
        for (int mode = 0; mode < 2; mode++) {
            s_lcg_t r = {1000 + (uint64_t) round};
            int n = 16, nv = 5;
            s_model_t m;
            bool terms = round % 4 == 3;
            vrp_problem_t *p = s_city(&r, mode == 0, n, nv, terms, &m);
            s_exclude(&r, p, &m, n, nv, round % 2 == 0);
            vrp_plan_t *pl = vrp_plan_new(p);
            assert_non_null(pl);
            for (int i = 0; i < 2 * n; i++)
                (void) vrp_plan_insert(pl, (int) (s_rand(&r) % n), NULL);
            s_assert_plan_obeys(pl, &m);
            //  A vehicle calls in sick: the caller takes its jobs out, then disables it.
            int sick = (int) (s_rand(&r) % nv);
            while (vrp_plan_route_length(pl, sick) > 0)
                assert_int_equal(vrp_plan_remove(pl, vrp_plan_route_job(pl, sick, 0)), 0);
            assert_int_equal(vrp_problem_vehicle_disable(p, sick), 0);
            m.veh_off[sick] = true;
            for (int j = 0; j < n; j += 3)
                (void) vrp_plan_remove(pl, j);
            for (int j = 0; j < n; j++) {
                mode_delta[mode][j] = -1;
                mode_vehicle[mode][j] = -2;
                if (vrp_plan_reason(pl, j) == VRP_REASON_NONE)
                    continue;
                double best = VRP_INF;
                for (int v = 0; v < nv; v++)
                    for (int pos = 1; pos <= pl->routes[v].n + 1; pos++) {
                        double fast = vrp_insert_delta(pl, j, v, pos);
                        double slow = s_brute_delta(pl, &m, j, v, pos);
                        checked++;
                        if (slow == VRP_INF) {
                            assert_true(fast == VRP_INF);
                            continue;
                        }
                        feasible++;
                        assert_true(fast != VRP_INF);
                        assert_near(fast, slow, 1e-6);
                        if (slow < best)
                            best = slow;
                    }
                vrp_insertion_t ins;
                int rc = vrp_plan_best_insertion(pl, j, &ins);
                mode_vehicle[mode][j] = ins.vehicle;
                mode_delta[mode][j] = rc == 0 ? ins.delta_cost : -1;
                if (best == VRP_INF) {
                    assert_int_equal(rc, -1);
                    assert_int_not_equal(ins.reason, VRP_REASON_NONE);
                    if (m.job_off[j])
                        assert_int_equal(ins.reason, VRP_REASON_DISABLED);
                    //  Nothing allowed at all: the reason must say so, unless the job
                    //  could not be served even without exclusions.
                    bool any = false;
                    for (int v = 0; v < nv; v++)
                        any |= s_allowed(&m, j, v);
                    if (!any && !m.job_off[j] && ins.reason != VRP_REASON_SKILLS
                        && ins.reason != VRP_REASON_TIME_WINDOW
                        && ins.reason != VRP_REASON_CAPACITY
                        && ins.reason != VRP_REASON_MAX_DURATION) {
                        assert_int_equal(ins.reason, VRP_REASON_EXCLUDED);
                        excluded_reason++;
                    }
                    assert_int_equal(vrp_plan_insert_at(pl, j, 0, 0) == 0,
                                     s_brute_delta(pl, &m, j, 0, 1) != VRP_INF);
                    continue;
                }
                assert_int_equal(rc, 0);
                assert_near(ins.delta_cost, best, 1e-6);
                assert_true(s_allowed(&m, j, ins.vehicle));
                assert_near(s_brute_delta(pl, &m, j, ins.vehicle, ins.position + 1), best, 1e-6);
                //  insert_at refuses every excluded vehicle.
                for (int v = 0; v < nv; v++)
                    if (!s_allowed(&m, j, v))
                        assert_int_equal(vrp_plan_insert_at(pl, j, v, 0), -1);
                assert_int_equal(vrp_plan_insert(pl, j, NULL), 0);
                s_assert_plan_obeys(pl, &m);
            }
            int unassigned = 0;
            for (int j = 0; j < n; j++)
                unassigned += vrp_plan_reason(pl, j) != VRP_REASON_NONE && !m.job_off[j];
            assert_int_equal(vrp_plan_unassigned(pl), unassigned);
            vrp_plan_destroy(&pl);
            vrp_problem_destroy(&p);
        }
        for (int j = 0; j < 16; j++) {
            assert_int_equal(mode_vehicle[0][j], mode_vehicle[1][j]);
            assert_true(mode_delta[0][j] == mode_delta[1][j]);
        }
    }
    assert_true(checked > 3000);
    assert_true(feasible > 300 && feasible < checked - 300);
    assert_true(excluded_reason > 0);
}

//  Identical vehicles are tried once per class when empty; a forbid or a disabled vehicle
//  must not hide the others of its class. Reasons for exclusions.
static void test_classes_and_reasons(void **state)
{
    (void) state;
    double xy[] = {0, 0, 10, 0, 20, 0};
    vrp_problem_t *p = vrp_problem_new_euclidean(3, xy, 1.0);
    assert_non_null(p);
    vrp_vehicle_t veh;
    vrp_vehicle_init(&veh, 0, 0);
    veh.skills = 0;
    for (int v = 0; v < 3; v++)
        assert_int_equal(vrp_problem_add_vehicle(p, &veh), v);
    veh.skills = 1;
    assert_int_equal(vrp_problem_add_vehicle(p, &veh), 3);
    vrp_job_t job;
    vrp_job_init(&job, 1);
    assert_int_equal(vrp_problem_add_job(p, &job), 0);
    job.skills = 1;
    assert_int_equal(vrp_problem_add_job(p, &job), 1);
    job.skills = 2;   //  nobody has it
    assert_int_equal(vrp_problem_add_job(p, &job), 2);
    vrp_job_init(&job, 2);
    assert_int_equal(vrp_problem_add_job(p, &job), 3);
    assert_int_equal(vrp_problem_forbid(p, 0, 0), 0);
    assert_int_equal(vrp_problem_forbid(p, 0, 0), 0);   //  twice is once
    assert_int_equal(vrp_problem_vehicle_disable(p, 1), 0);
    assert_int_equal(vrp_problem_forbid(p, 0, 9), -1);
    assert_int_equal(vrp_problem_forbid(p, 9, 0), -1);
    assert_int_equal(vrp_problem_pin(p, 0, 4), -1);
    assert_int_equal(vrp_problem_pin(p, -1, 0), -1);
    assert_int_equal(vrp_problem_job_disable(p, 4), -1);
    assert_int_equal(vrp_problem_vehicle_disable(p, 4), -1);
    assert_int_equal(vrp_problem_allowed(p, 0, 0), 0);
    assert_int_equal(vrp_problem_allowed(p, 0, 2), 1);
    vrp_plan_t *pl = vrp_plan_new(p);
    assert_non_null(pl);
    vrp_insertion_t ins;
    //  Vehicles 0-2 were one class: 0 forbidden, 1 disabled, 2 must still be offered.
    assert_int_equal(vrp_plan_best_insertion(pl, 0, &ins), 0);
    assert_int_equal(ins.vehicle, 2);
    //  The only skilled vehicle forbidden: excluded; nobody skilled: skills.
    assert_int_equal(vrp_problem_forbid(p, 1, 3), 0);
    assert_int_equal(vrp_plan_insert(pl, 1, &ins), -1);
    assert_int_equal(ins.reason, VRP_REASON_EXCLUDED);
    assert_int_equal(vrp_plan_reason(pl, 1), VRP_REASON_EXCLUDED);
    assert_string_equal(vrp_reason_str(VRP_REASON_EXCLUDED), "excluded");
    assert_int_equal(vrp_plan_insert(pl, 2, &ins), -1);
    assert_int_equal(ins.reason, VRP_REASON_SKILLS);
    //  Pinned to a disabled vehicle: excluded; unpinned: anywhere allowed.
    assert_int_equal(vrp_problem_pin(p, 3, 1), 0);
    assert_int_equal(vrp_plan_insert(pl, 3, &ins), -1);
    assert_int_equal(ins.reason, VRP_REASON_EXCLUDED);
    assert_int_equal(vrp_problem_pin(p, 3, -1), 0);
    assert_int_equal(vrp_plan_insert(pl, 3, &ins), 0);
    assert_int_not_equal(ins.vehicle, 1);
    //  A disabled job: never inserted, not unassigned, not in the cost.
    double cost = vrp_plan_cost(pl);
    int unassigned = vrp_plan_unassigned(pl);
    assert_int_equal(vrp_problem_job_disable(p, 2), 0);
    assert_int_equal(vrp_plan_unassigned(pl), unassigned - 1);
    assert_near(vrp_plan_cost(pl), cost - vrp_job_penalty(p, 2), 1e-9);
    assert_int_equal(vrp_plan_reason(pl, 2), VRP_REASON_DISABLED);
    assert_int_equal(vrp_plan_insert(pl, 2, &ins), -1);
    assert_int_equal(ins.reason, VRP_REASON_DISABLED);
    vrp_plan_destroy(&pl);
    vrp_problem_destroy(&p);
}

//  Planted violations: plans loaded with from_routes that break each exclusion fail the check.
static void test_check_catches_exclusions(void **state)
{
    (void) state;
    double xy[] = {0, 0, 10, 0, 20, 0};
    for (int kind = 0; kind < 5; kind++) {
        vrp_problem_t *p = vrp_problem_new_euclidean(3, xy, 1.0);
        assert_non_null(p);
        vrp_vehicle_t veh;
        vrp_vehicle_init(&veh, 0, 0);
        assert_int_equal(vrp_problem_add_vehicle(p, &veh), 0);
        assert_int_equal(vrp_problem_add_vehicle(p, &veh), 1);
        vrp_job_t job;
        vrp_job_init(&job, 1);
        assert_int_equal(vrp_problem_add_job(p, &job), 0);
        vrp_job_init(&job, 2);
        assert_int_equal(vrp_problem_add_job(p, &job), 1);
        int r0[] = {0, 1};
        const int *routes[] = {r0, r0};
        int lens[] = {2, 0};
        if (kind == 0)
            assert_int_equal(vrp_problem_forbid(p, 1, 0), 0);
        else if (kind == 1)
            assert_int_equal(vrp_problem_pin(p, 0, 1), 0);
        else if (kind == 2)
            assert_int_equal(vrp_problem_job_disable(p, 1), 0);
        else if (kind == 3)
            assert_int_equal(vrp_problem_vehicle_disable(p, 0), 0);
        else
            assert_int_equal(vrp_problem_pin(p, 0, 0), 0);   //  the control: allowed
        vrp_plan_t *pl = vrp_plan_from_routes(p, routes, lens);
        assert_non_null(pl);
        char why[128] = "";
        assert_int_equal(vrp_plan_check(pl, why, sizeof why), kind == 4 ? 0 : -1);
        if (kind < 4)
            assert_non_null(strstr(why, "excluded"));
        //  The solver repairs such a start: the offending job moves or is dropped.
        vrp_params_t prm;
        vrp_params_init(&prm);
        prm.time_limit = 0;
        prm.max_iterations = 50;
        assert_int_equal(vrp_solve(p, &prm, &pl), 0);
        assert_int_equal(vrp_plan_check(pl, NULL, 0), 0);
        assert_int_equal(vrp_plan_unassigned(pl), 0);
        if (kind == 1)
            assert_int_equal(vrp_plan_route_job(pl, 1, 0), 0);
        vrp_plan_destroy(&pl);
        vrp_problem_destroy(&p);
    }
}

//  Solve never breaks pins or forbids, never plans disabled jobs or vehicles, in both modes,
//  with mixed factors and a start plan that breaks them (as after a sick call).
static void test_solve_honours_exclusions(void **state)
{
    (void) state;
    for (int round = 0; round < 6; round++) {
        s_lcg_t r = {77 + (uint64_t) round};
        int n = 40, nv = 6;
        s_model_t m;
        vrp_problem_t *p = s_city(&r, round % 2 == 0, n, nv, round >= 4, &m);
        vrp_plan_t *pl = NULL;
        vrp_params_t prm;
        vrp_params_init(&prm);
        prm.time_limit = 0;
        prm.max_iterations = 300;
        prm.seed = (uint64_t) round;
        prm.objective = round % 3 == 1 ? VRP_OBJ_HIERARCHICAL : VRP_OBJ_DISTANCE;
        assert_int_equal(vrp_solve(p, &prm, &pl), 0);
        //  Now pin some jobs where they are (accepted visits), some elsewhere, forbid and
        //  disable; the old plan breaks these and solve must repair it.
        int where[S_MAXJ];
        for (int j = 0; j < n; j++) {
            int v = pl->route_of[j];
            where[j] = -1;
            if (v >= 0 && s_rand(&r) % 3 == 0) {
                m.pin[j] = where[j] = v;
                assert_int_equal(vrp_problem_pin(p, j, v), 0);
            }
        }
        s_exclude(&r, p, &m, n, nv, true);
        assert_int_equal(vrp_solve(p, &prm, &pl), 0);
        s_assert_plan_obeys(pl, &m);
        int pinned = 0, pinned_kept = 0;
        for (int j = 0; j < n; j++) {
            int v = pl->route_of[j];
            if (where[j] >= 0 && m.pin[j] == where[j] && s_allowed(&m, j, where[j])) {
                pinned++;
                pinned_kept += v == m.pin[j];
            }
            if (v >= 0)
                assert_true(s_allowed(&m, j, v));
            if (m.job_off[j])
                assert_int_equal(v, -1);
        }
        //  Jobs pinned where they were stay there (their old route minus some jobs is
        //  feasible; only a trade of equal penalties could drop one).
        assert_true(pinned > 0 && pinned_kept * 10 >= pinned * 9);
        //  The plan's cost is the from-scratch cost with the factors applied here.
        double cost = 0;
        for (int v = 0; v < nv; v++) {
            bool ok;
            cost += s_cost_scratch(p, &m, v, pl->routes[v].job + 1, pl->routes[v].n, &ok);
            assert_true(ok);
        }
        for (int j = 0; j < n; j++)
            if (pl->route_of[j] < 0 && !m.job_off[j])
                cost += vrp_job_penalty(p, j);
        assert_near(vrp_plan_cost(pl), cost, 1e-6 * cost);
        vrp_plan_destroy(&pl);
        vrp_problem_destroy(&p);
    }
}

//  dup: a deep copy that a worker can solve while the original grows and changes.
static void test_dup(void **state)
{
    (void) state;
    for (int mode = 0; mode < 2; mode++) {
        s_lcg_t r = {5};
        s_model_t m;
        vrp_problem_t *p = s_city(&r, mode == 0, 20, 4, false, &m);
        s_exclude(&r, p, &m, 20, 4, true);
        vrp_plan_t *live = vrp_plan_new(p);
        assert_non_null(live);
        for (int j = 0; j < 20; j++)
            (void) vrp_plan_insert(live, j, NULL);
        vrp_problem_t *snap = vrp_problem_dup(p);
        assert_non_null(snap);
        //  The original moves on: a new place and job, a new forbid, a disabled vehicle.
        if (mode == 0)
            assert_int_equal(vrp_problem_add_location(p, 31.21, 121.46), 22);
        vrp_job_t job;
        vrp_job_init(&job, 3);
        assert_int_equal(vrp_problem_add_job(p, &job), 20);
        for (int v = 0; v < 4; v++)
            (void) vrp_problem_forbid(p, 0, v);
        (void) vrp_problem_vehicle_disable(p, 3);
        assert_int_equal(vrp_problem_jobs(snap), 20);
        assert_int_equal(vrp_problem_locations(snap), 22);
        for (int v = 0; v < 4; v++)
            assert_int_equal(vrp_problem_allowed(snap, 0, v), s_allowed(&m, 0, v));
        for (int a = 0; a < 22; a++)
            assert_true(vrp_problem_time(snap, a, 0) == vrp_problem_time(p, a, 0));
        //  The worker's plan maps back to the live problem by job index.
        int *routes[4], lens[4];
        for (int v = 0; v < 4; v++) {
            lens[v] = vrp_plan_route_length(live, v);
            routes[v] = malloc((size_t) (lens[v] + 1) * sizeof(int));
            assert_non_null(routes[v]);
            for (int i = 0; i < lens[v]; i++)
                routes[v][i] = vrp_plan_route_job(live, v, i);
        }
        vrp_plan_t *work = vrp_plan_from_routes(snap, (const int *const *) routes, lens);
        assert_non_null(work);
        vrp_params_t prm;
        vrp_params_init(&prm);
        prm.time_limit = 0;
        prm.max_iterations = 100;
        assert_int_equal(vrp_solve(snap, &prm, &work), 0);
        s_assert_plan_obeys(work, &m);
        vrp_plan_destroy(&live);
        vrp_problem_destroy(&p);   //  the snapshot does not share memory with the original
        assert_int_equal(vrp_plan_check(work, NULL, 0), 0);
        for (int v = 0; v < 4; v++)
            free(routes[v]);
        vrp_plan_destroy(&work);
        vrp_problem_destroy(&snap);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_geo_metric),
        cmocka_unit_test(test_time_factor_schedule),
        cmocka_unit_test(test_insertion_matches_model),
        cmocka_unit_test(test_classes_and_reasons),
        cmocka_unit_test(test_check_catches_exclusions),
        cmocka_unit_test(test_solve_honours_exclusions),
        cmocka_unit_test(test_dup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
