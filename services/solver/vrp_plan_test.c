/*  vrp_plan_test.c: problem validation, O(1) slack checks against full re-simulation, the
    online insertion against brute force, removal and unassigned reasons. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "vrp_internal.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
    uint64_t s;
} s_lcg_t;

//  cmocka 1.1's assert_near compares floats; these values need doubles.
#define assert_near(a, b, eps) assert_true(fabs((double) (a) - (double) (b)) <= (eps))

static uint32_t s_rand(s_lcg_t *r)
{
    r->s = r->s * 6364136223846793005ULL + 1442695040888963407ULL;
    return (uint32_t) (r->s >> 33);
}

static double s_uniform(s_lcg_t *r, double lo, double hi)
{
    return lo + (hi - lo) * (s_rand(r) / 2147483648.0);
}

//  Random problem: n jobs on a 100x100 square, 1-2 windows, 2 demand dimensions, skills,
//  preferences; nv vehicles, some with max_duration / max_ride and another end depot.
static vrp_problem_t *s_random_problem(s_lcg_t *r, int n, int nv, bool extras)
{
    int nl = n + 2;
    double *xy = malloc((size_t) nl * 2 * sizeof *xy);
    assert_non_null(xy);
    for (int i = 0; i < 2 * nl; i++)
        xy[i] = s_uniform(r, 0, 100);
    vrp_problem_t *p = vrp_problem_new_euclidean(nl, xy, 1.0);
    free(xy);
    assert_non_null(p);
    vrp_costs_t costs = {1.0, 0.25, 1000.0, 7.0, extras ? 0.001 : 0.0};
    vrp_problem_set_costs(p, &costs);
    for (int j = 0; j < n; j++) {
        vrp_job_t job;
        vrp_job_init(&job, 2 + j);
        job.service = s_uniform(r, 0, 20);
        int nw = (int) (s_rand(r) % 3);
        double t = s_uniform(r, 0, 200);
        for (int w = 0; w < nw; w++) {
            job.windows[w].start = t;
            job.windows[w].end = t + s_uniform(r, 5, 80);
            t = job.windows[w].end + s_uniform(r, 10, 100);
        }
        job.n_windows = nw;
        if (extras && s_rand(r) % 2) {
            job.max_lateness = 9;   //  below the 10 minimum gap between windows
            job.lateness_cost = 2;
        }
        job.demand[0] = (int) (s_rand(r) % 5);
        job.demand[1] = (int) (s_rand(r) % 2);
        job.skills = s_rand(r) % 4 == 0 ? 1 : 0;
        if (s_rand(r) % 4 == 0) {
            job.n_preferred = 1;
            job.preferred[0] = (int) (s_rand(r) % nv);
        }
        assert_int_equal(vrp_problem_add_job(p, &job), j);
    }
    for (int v = 0; v < nv; v++) {
        vrp_vehicle_t veh;
        vrp_vehicle_init(&veh, 0, v % 2);
        veh.shift_start = s_uniform(r, 0, 30);
        veh.shift_end = 400 + s_uniform(r, 0, 200);
        veh.capacity[0] = 6 + (int) (s_rand(r) % 10);
        veh.capacity[1] = 2 + (int) (s_rand(r) % 3);
        veh.skills = v % 2 ? 1 : 0;
        veh.fixed_cost = 10;
        if (extras && v % 3 == 1)
            veh.max_duration = 250;
        if (extras && v % 3 == 2)
            veh.max_ride = 120;
        assert_int_equal(vrp_problem_add_vehicle(p, &veh), v);
    }
    return p;
}

static double s_route_cost_sim(const vrp_problem_t *p, int v, const int *jobs, int n,
                               bool *feasible)
{
    vrp_sim_t sim;
    vrp_sim(p, v, jobs, n, &sim);
    *feasible = sim.feasible;
    if (n == 0)
        return 0;
    int nonpref = 0;
    for (int i = 0; i < n; i++)
        nonpref += vrp_nonpref(&p->jobs[jobs[i]], v);
    return p->costs.per_distance * sim.dist + p->costs.per_time * sim.ttime
           + p->veh[v].fixed_cost + p->costs.non_preferred_penalty * nonpref + sim.late
           + p->costs.balance * sim.work * sim.work;
}

//  Brute-force delta of putting job at route position pos (1-based, before job[pos]).
static double s_brute_delta(const vrp_plan_t *pl, int job, int v, int pos)
{
    const vrp_route_t *r = &pl->routes[v];
    int seq[64];
    assert_true(r->n + 1 <= 64);
    int k = 0;
    for (int i = 1; i < pos; i++)
        seq[k++] = r->job[i];
    seq[k++] = job;
    for (int i = pos; i <= r->n; i++)
        seq[k++] = r->job[i];
    bool f_new, f_old;
    double c_new = s_route_cost_sim(pl->prob, v, seq, k, &f_new);
    double c_old = s_route_cost_sim(pl->prob, v, r->job + 1, r->n, &f_old);
    assert_true(f_old);
    return f_new ? c_new - c_old : VRP_INF;
}

//  Fill a plan by inserting the jobs in random order with the online API.
static vrp_plan_t *s_random_plan(s_lcg_t *r, const vrp_problem_t *p)
{
    vrp_plan_t *pl = vrp_plan_new(p);
    assert_non_null(pl);
    int n = vrp_problem_jobs(p);
    for (int i = 0; i < n; i++) {
        int j = (int) (s_rand(r) % n);
        if (vrp_plan_reason(pl, j) != VRP_REASON_NONE)
            (void) vrp_plan_insert(pl, j, NULL);
    }
    return pl;
}

static void test_problem_validation(void **state)
{
    (void) state;
    double t[4] = {0, 1, 1, 0}, bad[4] = {0, -1, 1, 0};
    assert_null(vrp_problem_new(2, bad, NULL));
    assert_null(vrp_problem_new(0, t, NULL));
    vrp_problem_t *p = vrp_problem_new(2, t, NULL);
    assert_non_null(p);
    vrp_job_t job;
    vrp_job_init(&job, 2);
    assert_int_equal(vrp_problem_add_job(p, &job), -1);   //  location out of range
    vrp_job_init(&job, 1);
    job.n_windows = 2;
    job.windows[0] = (vrp_window_t) {10, 20};
    job.windows[1] = (vrp_window_t) {15, 30};
    assert_int_equal(vrp_problem_add_job(p, &job), -1);   //  overlapping windows
    job.windows[1] = (vrp_window_t) {25, 30};
    assert_int_equal(vrp_problem_add_job(p, &job), 0);
    job.demand[0] = -1;
    assert_int_equal(vrp_problem_add_job(p, &job), -1);
    vrp_vehicle_t veh;
    vrp_vehicle_init(&veh, 0, 0);
    veh.shift_start = 5;
    veh.shift_end = 4;
    assert_int_equal(vrp_problem_add_vehicle(p, &veh), -1);
    veh.shift_end = 100;
    assert_int_equal(vrp_problem_add_vehicle(p, &veh), 0);
    assert_int_equal(vrp_problem_add_vehicle(p, &veh), 1);
    assert_int_equal(p->veh_class[1], 0);   //  identical vehicles share a class
    //  Classes by content hash, across table rebuilds and disabled representatives: the
    //  200th identical vehicle is in the class of the first still enabled; a different one
    //  is alone; a disabled vehicle is alone.
    vrp_vehicle_t other = veh;
    other.shift_end = 99;
    for (int i = 2; i < 200; i++)
        assert_int_equal(vrp_problem_add_vehicle(p, i % 7 ? &veh : &other), i);
    assert_int_equal(p->veh_class[199], 0);
    assert_int_equal(p->veh_class[7], 7);
    assert_int_equal(p->veh_class[14], 7);
    assert_int_equal(vrp_problem_vehicle_disable(p, 0), 0);
    assert_int_equal(p->veh_class[0], 0);
    assert_int_equal(p->veh_class[1], 1);
    assert_int_equal(vrp_problem_add_vehicle(p, &veh), 200);
    assert_int_equal(p->veh_class[200], 1);
    vrp_problem_t *d = vrp_problem_dup(p);
    assert_non_null(d);
    assert_int_equal(vrp_problem_add_vehicle(d, &other), 201);
    assert_int_equal(d->veh_class[201], 7);
    vrp_problem_destroy(&d);
    vrp_problem_destroy(&p);
    assert_null(p);
    vrp_problem_destroy(&p);   //  NULL is fine
}

//  Property: the O(1) slack test and delta agree with re-simulating the whole route, for
//  every unassigned job at every position of every route, over many random plans.
static void test_insert_delta_matches_simulation(void **state)
{
    (void) state;
    s_lcg_t r = {42};
    int checked = 0, feasible = 0;
    for (int round = 0; round < 60; round++) {
        vrp_problem_t *p = s_random_problem(&r, 14, 4, round % 2 == 1);
        vrp_plan_t *pl = s_random_plan(&r, p);
        assert_int_equal(vrp_plan_check(pl, NULL, 0), 0);
        //  Take a few jobs out again so there is something to insert everywhere.
        for (int j = 0; j < 14; j += 3)
            (void) vrp_plan_remove(pl, j);
        for (int j = 0; j < 14; j++) {
            if (vrp_plan_reason(pl, j) == VRP_REASON_NONE)
                continue;
            for (int v = 0; v < 4; v++)
                for (int pos = 1; pos <= pl->routes[v].n + 1; pos++) {
                    double fast = vrp_insert_delta(pl, j, v, pos);
                    double slow = s_brute_delta(pl, j, v, pos);
                    checked++;
                    if (slow == VRP_INF) {
                        assert_true(fast == VRP_INF);
                        continue;
                    }
                    feasible++;
                    if (fast == VRP_INF || fabs(fast - slow) > 1e-6)
                        print_message("round %d job %d v %d pos %d n %d fast %g slow %g\n",
                                      round, j, v, pos, pl->routes[v].n, fast, slow);
                    assert_true(fast != VRP_INF);
                    assert_near(fast, slow, 1e-6);
                }
        }
        vrp_plan_destroy(&pl);
        vrp_problem_destroy(&p);
    }
    //  The generator must exercise both outcomes or the property says nothing.
    assert_true(checked > 1000);
    assert_true(feasible > 100 && feasible < checked - 100);
}

//  Property: the online best insertion is the brute-force minimum over feasible places.
static void test_best_insertion_is_minimum(void **state)
{
    (void) state;
    s_lcg_t r = {7};
    int found = 0;
    for (int round = 0; round < 40; round++) {
        vrp_problem_t *p = s_random_problem(&r, 12, 3, round % 3 == 0);
        vrp_plan_t *pl = s_random_plan(&r, p);
        for (int j = 0; j < 12; j += 2)
            (void) vrp_plan_remove(pl, j);
        for (int j = 0; j < 12; j++) {
            if (vrp_plan_reason(pl, j) == VRP_REASON_NONE)
                continue;
            double best = VRP_INF;
            for (int v = 0; v < 3; v++)
                for (int pos = 1; pos <= pl->routes[v].n + 1; pos++) {
                    double d = s_brute_delta(pl, j, v, pos);
                    if (d < best)
                        best = d;
                }
            vrp_insertion_t ins;
            int rc = vrp_plan_best_insertion(pl, j, &ins);
            if (best == VRP_INF) {
                assert_int_equal(rc, -1);
                assert_int_not_equal(ins.reason, VRP_REASON_NONE);
                continue;
            }
            found++;
            assert_int_equal(rc, 0);
            assert_near(ins.delta_cost, best, 1e-6);
            double before = vrp_plan_cost(pl);
            assert_int_equal(vrp_plan_insert(pl, j, NULL), 0);
            assert_near(vrp_plan_cost(pl) - before, best - vrp_job_penalty(p, j), 1e-6);
            assert_int_equal(vrp_plan_check(pl, NULL, 0), 0);
        }
        vrp_plan_destroy(&pl);
        vrp_problem_destroy(&p);
    }
    assert_true(found > 50);
}

//  A line: depot 0, jobs at 10, 20, 30; vehicle with skills 1, capacity 5.
static vrp_problem_t *s_line_problem(void)
{
    double xy[] = {0, 0, 10, 0, 20, 0, 30, 0};
    vrp_problem_t *p = vrp_problem_new_euclidean(4, xy, 1.0);
    assert_non_null(p);
    vrp_vehicle_t veh;
    vrp_vehicle_init(&veh, 0, 0);
    veh.shift_end = 100;
    veh.capacity[0] = 5;
    veh.skills = 1;
    assert_int_equal(vrp_problem_add_vehicle(p, &veh), 0);
    return p;
}

static void test_reasons(void **state)
{
    (void) state;
    vrp_problem_t *p = s_line_problem();
    vrp_job_t job;
    vrp_job_init(&job, 1);
    job.skills = 2;
    int skills = vrp_problem_add_job(p, &job);
    vrp_job_init(&job, 1);
    job.demand[0] = 6;
    int capacity = vrp_problem_add_job(p, &job);
    vrp_job_init(&job, 3);
    job.n_windows = 1;
    job.windows[0] = (vrp_window_t) {0, 20};   //  30 away
    int window = vrp_problem_add_job(p, &job);
    vrp_job_init(&job, 2);
    job.demand[0] = 3;
    int a = vrp_problem_add_job(p, &job);
    int b = vrp_problem_add_job(p, &job);   //  3 + 3 > 5
    vrp_plan_t *pl = vrp_plan_new(p);
    assert_non_null(pl);
    vrp_insertion_t ins;
    assert_int_equal(vrp_plan_reason(pl, a), VRP_REASON_NOT_PLANNED);
    assert_int_equal(vrp_plan_insert(pl, skills, &ins), -1);
    assert_int_equal(ins.reason, VRP_REASON_SKILLS);
    assert_int_equal(vrp_plan_insert(pl, capacity, &ins), -1);
    assert_int_equal(ins.reason, VRP_REASON_CAPACITY);
    assert_int_equal(vrp_plan_insert(pl, window, &ins), -1);
    assert_int_equal(ins.reason, VRP_REASON_TIME_WINDOW);
    assert_int_equal(vrp_plan_insert(pl, a, &ins), 0);
    assert_int_equal(ins.vehicle, 0);
    assert_near(ins.delta_cost, 40.0, 1e-9);
    assert_int_equal(vrp_plan_insert(pl, b, &ins), -1);
    assert_int_equal(ins.reason, VRP_REASON_NO_ROOM);
    assert_int_equal(vrp_plan_reason(pl, b), VRP_REASON_NO_ROOM);
    assert_int_equal(vrp_plan_insert(pl, a, &ins), -1);   //  already planned
    assert_int_equal(ins.reason, VRP_REASON_NONE);
    assert_int_equal(vrp_plan_reason(pl, a), VRP_REASON_NONE);
    assert_int_equal(vrp_plan_remove(pl, a), 0);
    assert_int_equal(vrp_plan_remove(pl, a), -1);
    assert_int_equal(vrp_plan_insert(pl, b, &ins), 0);
    assert_int_equal(vrp_plan_unassigned(pl), 4);
    vrp_plan_destroy(&pl);
    vrp_problem_destroy(&p);
}

static void test_max_ride_and_latest_departure(void **state)
{
    (void) state;
    double xy[] = {0, 0, 10, 0, 20, 0};
    vrp_problem_t *p = vrp_problem_new_euclidean(3, xy, 1.0);
    vrp_vehicle_t veh;
    vrp_vehicle_init(&veh, 0, 0);
    veh.shift_end = 1000;
    veh.max_ride = 25;   //  hot meals: at most 25 from leaving the kitchen
    assert_int_equal(vrp_problem_add_vehicle(p, &veh), 0);
    vrp_job_t job;
    vrp_job_init(&job, 1);
    job.n_windows = 1;
    job.windows[0] = (vrp_window_t) {100, 110};
    job.service = 5;
    int a = vrp_problem_add_job(p, &job);
    vrp_job_init(&job, 2);
    job.service = 1;
    int b = vrp_problem_add_job(p, &job);
    vrp_job_init(&job, 2);
    job.n_windows = 1;
    job.windows[0] = (vrp_window_t) {0, 30};
    int c = vrp_problem_add_job(p, &job);
    vrp_plan_t *pl = vrp_plan_new(p);
    assert_int_equal(vrp_plan_insert(pl, a, NULL), 0);
    //  Leaving at 0 would wait 90 at job a; the vehicle leaves at 100 and arrives at 110.
    double arr, start;
    assert_int_equal(vrp_plan_stop_times(pl, 0, 0, &arr, &start), 0);
    assert_near(arr, 110.0, 1e-9);
    assert_near(start, 110.0, 1e-9);
    //  b after a: ride 10 + 5 + 10 = 25 fits exactly.
    assert_int_equal(vrp_plan_insert(pl, b, NULL), 0);
    assert_int_equal(vrp_plan_route_job(pl, 0, 1), b);
    //  c must be served by 30 (before a) but then a waits: a's ride 100+ > 25.
    vrp_insertion_t ins;
    assert_int_equal(vrp_plan_insert(pl, c, &ins), -1);
    assert_int_equal(vrp_plan_check(pl, NULL, 0), 0);
    vrp_plan_t *alone = vrp_plan_new(p);
    assert_int_equal(vrp_plan_insert(alone, c, &ins), 0);
    vrp_plan_destroy(&alone);
    vrp_plan_destroy(&pl);
    vrp_problem_destroy(&p);
}

static void test_from_routes_and_check(void **state)
{
    (void) state;
    vrp_problem_t *p = s_line_problem();
    vrp_job_t job;
    vrp_job_init(&job, 3);
    job.n_windows = 1;
    job.windows[0] = (vrp_window_t) {0, 30};
    int far = vrp_problem_add_job(p, &job);
    vrp_job_init(&job, 1);
    job.n_windows = 1;
    job.windows[0] = (vrp_window_t) {0, 10};
    int near = vrp_problem_add_job(p, &job);
    int good[] = {near, far}, bad[] = {far, near}, dup[] = {far, far};
    const int *routes[1] = {good};
    int lens[1] = {2};
    vrp_plan_t *pl = vrp_plan_from_routes(p, routes, lens);
    assert_non_null(pl);
    assert_int_equal(vrp_plan_check(pl, NULL, 0), 0);
    assert_near(vrp_plan_distance(pl), 60.0, 1e-9);
    vrp_plan_t *copy = vrp_plan_dup(pl);
    assert_non_null(copy);
    assert_int_equal(vrp_plan_route_job(copy, 0, 1), far);
    vrp_plan_destroy(&copy);
    vrp_plan_destroy(&pl);
    routes[0] = bad;
    pl = vrp_plan_from_routes(p, routes, lens);
    assert_non_null(pl);
    char why[64];
    assert_int_equal(vrp_plan_check(pl, why, sizeof why), -1);
    assert_non_null(strstr(why, "time window"));
    vrp_plan_destroy(&pl);
    routes[0] = dup;
    assert_null(vrp_plan_from_routes(p, routes, lens));
    vrp_problem_destroy(&p);
}

//  Jobs appended to the problem after the plan exists (dispatch's new orders).
static void test_jobs_added_later(void **state)
{
    (void) state;
    vrp_problem_t *p = s_line_problem();
    vrp_plan_t *pl = vrp_plan_new(p);
    vrp_job_t job;
    vrp_job_init(&job, 2);
    int j = vrp_problem_add_job(p, &job);
    assert_int_equal(vrp_plan_reason(pl, j), VRP_REASON_NOT_PLANNED);
    assert_int_equal(vrp_plan_unassigned(pl), 1);
    assert_int_equal(vrp_plan_insert(pl, j, NULL), 0);
    assert_int_equal(vrp_plan_route_length(pl, 0), 1);
    assert_int_equal(vrp_plan_insert_at(pl, j, 0, 0), -1);   //  already there
    assert_int_equal(vrp_plan_remove(pl, j), 0);
    assert_int_equal(vrp_plan_insert_at(pl, j, 0, 0), 0);
    assert_int_equal(vrp_plan_insert_at(pl, j, 0, 5), -1);
    //  A second caregiver joins mid-day: her route exists from the next insertion on.
    vrp_job_t far;
    vrp_job_init(&far, 3);
    far.skills = 2;   //  vehicle 0 lacks this skill, so only the newcomer can serve it
    int k = vrp_problem_add_job(p, &far);
    vrp_vehicle_t veh;
    vrp_vehicle_init(&veh, 0, 0);
    int v1 = vrp_problem_add_vehicle(p, &veh);
    vrp_insertion_t ins;
    assert_int_equal(vrp_plan_insert(pl, k, &ins), 0);
    assert_int_equal(ins.vehicle, v1);
    assert_int_equal(vrp_plan_route_length(pl, v1), 1);
    assert_int_equal(vrp_plan_check(pl, NULL, 0), 0);
    vrp_plan_destroy(&pl);
    vrp_problem_destroy(&p);
}

static void test_geo_matrix(void **state)
{
    (void) state;
    //  Two points 0.01 degree of latitude apart: about 1112 m, times 1.3 detour.
    double ll[] = {52.0, 13.0, 52.01, 13.0};
    vrp_problem_t *p = vrp_problem_new_geo(2, ll, 1.3, 10.0);
    assert_non_null(p);
    assert_near(vrp_problem_distance(p, 0, 1), 1111.95 * 1.3, 1.0);
    assert_near(vrp_problem_time(p, 0, 1), 1111.95 * 1.3 / 10.0, 0.1);
    assert_near(vrp_problem_distance(p, 1, 1), 0.0, 1e-9);
    vrp_problem_destroy(&p);
    assert_null(vrp_problem_new_geo(2, ll, 0.5, 10.0));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_problem_validation),
        cmocka_unit_test(test_insert_delta_matches_simulation),
        cmocka_unit_test(test_best_insertion_is_minimum),
        cmocka_unit_test(test_reasons),
        cmocka_unit_test(test_max_ride_and_latest_departure),
        cmocka_unit_test(test_from_routes_and_check),
        cmocka_unit_test(test_jobs_added_later),
        cmocka_unit_test(test_geo_matrix),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
