/*  vrp_search_test.c: planning against brute force on small instances, feasibility of every
    returned plan, determinism for a seed, hierarchical route elimination. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "vrp_internal.h"

#include <stdlib.h>
#include <string.h>

#define assert_near(a, b, eps) assert_true(fabs((double) (a) - (double) (b)) <= (eps))

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

//  Small VRPTW: depot at the centre, n jobs with one window each, nv identical vehicles.
static vrp_problem_t *s_small(s_lcg_t *r, int n, int nv, int capacity, double horizon)
{
    double xy[2 * 16];
    assert_true(n + 1 <= 16);
    xy[0] = xy[1] = 50;
    for (int i = 2; i < 2 * (n + 1); i++)
        xy[i] = s_uniform(r, 0, 100);
    vrp_problem_t *p = vrp_problem_new_euclidean(n + 1, xy, 1.0);
    assert_non_null(p);
    for (int j = 0; j < n; j++) {
        vrp_job_t job;
        vrp_job_init(&job, j + 1);
        job.service = 10;
        job.n_windows = 1;
        job.windows[0].start = s_uniform(r, 0, horizon * 0.6);
        job.windows[0].end = job.windows[0].start + s_uniform(r, 20, horizon * 0.4);
        job.demand[0] = 1 + (int) (s_rand(r) % 4);
        assert_int_equal(vrp_problem_add_job(p, &job), j);
    }
    for (int v = 0; v < nv; v++) {
        vrp_vehicle_t veh;
        vrp_vehicle_init(&veh, 0, 0);
        veh.shift_end = horizon;
        veh.capacity[0] = capacity;
        assert_int_equal(vrp_problem_add_vehicle(p, &veh), v);
    }
    return p;
}

typedef struct {
    double best_dist;          //  minimum distance with every job served
    int best_veh;              //  minimum vehicles with every job served
    double best_dist_at_veh;   //  minimum distance among those with best_veh vehicles
} s_brute_t;

//  Enumerate every assignment of jobs to routes and every order: permutations of the jobs cut
//  into at most nv consecutive routes (identical vehicles, so this covers all plans).
static void s_brute_rec(const vrp_problem_t *p, int *perm, int n, int k, int nv, s_brute_t *out)
{
    if (k == n) {
        //  Cut points as a bitmask over the n-1 gaps.
        for (unsigned cuts = 0; cuts < (1u << (n - 1)); cuts++) {
            int routes = 1 + __builtin_popcount(cuts);
            if (routes > nv)
                continue;
            double dist = 0;
            bool ok = true;
            int from = 0;
            for (int i = 0; i < n && ok; i++) {
                if (i == n - 1 || (cuts >> i & 1u)) {
                    vrp_sim_t sim;
                    vrp_sim(p, 0, perm + from, i + 1 - from, &sim);
                    ok = sim.feasible;
                    dist += sim.dist;
                    from = i + 1;
                }
            }
            if (!ok)
                continue;
            if (dist < out->best_dist)
                out->best_dist = dist;
            if (routes < out->best_veh
                || (routes == out->best_veh && dist < out->best_dist_at_veh)) {
                out->best_veh = routes;
                out->best_dist_at_veh = dist;
            }
        }
        return;
    }
    for (int i = k; i < n; i++) {
        int t = perm[k];
        perm[k] = perm[i];
        perm[i] = t;
        //  Prune prefixes whose first route is already infeasible alone? Not needed at n <= 7.
        s_brute_rec(p, perm, n, k + 1, nv, out);
        perm[i] = perm[k];
        perm[k] = t;
    }
}

static s_brute_t s_brute(const vrp_problem_t *p, int nv)
{
    int n = vrp_problem_jobs(p), perm[16];
    for (int i = 0; i < n; i++)
        perm[i] = i;
    s_brute_t out = {VRP_INF, 1 << 30, VRP_INF};
    s_brute_rec(p, perm, n, 0, nv, &out);
    return out;
}

//  The solver reaches the brute-force optimum on small random instances, for both objectives.
static void test_optimal_on_small_instances(void **state)
{
    (void) state;
    s_lcg_t r = {2024};
    int solved = 0;
    for (int round = 0; round < 12; round++) {
        vrp_problem_t *p = s_small(&r, 7, 3, 8, 400);
        s_brute_t bf = s_brute(p, 3);
        if (bf.best_dist == VRP_INF) {
            vrp_problem_destroy(&p);
            continue;
        }
        solved++;
        for (int obj = 0; obj < 2; obj++) {
            vrp_params_t params;
            vrp_params_init(&params);
            params.objective = obj ? VRP_OBJ_HIERARCHICAL : VRP_OBJ_DISTANCE;
            params.time_limit = 0;
            params.max_iterations = 3000;
            params.seed = (uint64_t) round;
            vrp_plan_t *plan = NULL;
            assert_int_equal(vrp_solve(p, &params, &plan), 0);
            assert_non_null(plan);
            assert_int_equal(vrp_plan_check(plan, NULL, 0), 0);
            assert_int_equal(vrp_plan_unassigned(plan), 0);
            if (obj == 0)
                assert_near(vrp_plan_distance(plan), bf.best_dist, 1e-6);
            else {
                assert_int_equal(vrp_plan_vehicles_used(plan), bf.best_veh);
                assert_near(vrp_plan_distance(plan), bf.best_dist_at_veh, 1e-6);
            }
            vrp_plan_destroy(&plan);
        }
        vrp_problem_destroy(&p);
    }
    assert_true(solved >= 6);
}

static int s_routes_equal(const vrp_plan_t *a, const vrp_plan_t *b, int nv)
{
    for (int v = 0; v < nv; v++) {
        int n = vrp_plan_route_length(a, v);
        if (n != vrp_plan_route_length(b, v))
            return 0;
        for (int i = 0; i < n; i++)
            if (vrp_plan_route_job(a, v, i) != vrp_plan_route_job(b, v, i))
                return 0;
    }
    return 1;
}

static void test_deterministic_for_seed(void **state)
{
    (void) state;
    s_lcg_t r = {99};
    vrp_problem_t *p = s_small(&r, 15, 5, 12, 600);
    vrp_params_t params;
    vrp_params_init(&params);
    params.time_limit = 0;
    params.max_iterations = 2000;
    params.seed = 5;
    vrp_plan_t *a = NULL, *b = NULL;
    assert_int_equal(vrp_solve(p, &params, &a), 0);
    assert_int_equal(vrp_solve(p, &params, &b), 0);
    assert_true(s_routes_equal(a, b, 5));
    assert_near(vrp_plan_cost(a), vrp_plan_cost(b), 0);
    vrp_plan_destroy(&a);
    vrp_plan_destroy(&b);
    vrp_problem_destroy(&p);
}

//  Over-full day: more work than vehicles; unserved jobs come back with a reason and the plan
//  is still feasible. Higher priority jobs are kept in preference.
static void test_overfull_day_keeps_priorities(void **state)
{
    (void) state;
    s_lcg_t r = {3};
    vrp_problem_t *p = s_small(&r, 15, 1, 10, 300);
    //  One impossible job, and make job 0 important.
    vrp_job_t job;
    vrp_job_init(&job, 1);
    job.demand[0] = 11;
    int impossible = vrp_problem_add_job(p, &job);
    p->jobs[0].priority = 5;
    vrp_params_t params;
    vrp_params_init(&params);
    params.time_limit = 0;
    params.max_iterations = 3000;
    vrp_plan_t *plan = NULL;
    assert_int_equal(vrp_solve(p, &params, &plan), 0);
    assert_int_equal(vrp_plan_check(plan, NULL, 0), 0);
    assert_true(vrp_plan_unassigned(plan) > 1);
    assert_int_equal(vrp_plan_reason(plan, impossible), VRP_REASON_CAPACITY);
    if (vrp_reason_alone(p, 0) == VRP_REASON_NO_ROOM)
        assert_int_equal(vrp_plan_reason(plan, 0), VRP_REASON_NONE);
    for (int j = 0; j < vrp_problem_jobs(p); j++)
        assert_true(vrp_plan_reason(plan, j) != VRP_REASON_NOT_PLANNED);
    vrp_plan_destroy(&plan);
    vrp_problem_destroy(&p);
}

//  Planning continues from a given plan (a replan in the morning) and keeps it feasible.
static void test_solve_from_existing_plan(void **state)
{
    (void) state;
    s_lcg_t r = {11};
    vrp_problem_t *p = s_small(&r, 12, 4, 10, 500);
    vrp_plan_t *plan = vrp_plan_new(p);
    for (int j = 0; j < 6; j++)
        (void) vrp_plan_insert(plan, j, NULL);
    double before = vrp_plan_cost(plan);
    vrp_params_t params;
    vrp_params_init(&params);
    params.time_limit = 0;
    params.max_iterations = 500;
    assert_int_equal(vrp_solve(p, &params, &plan), 0);
    assert_int_equal(vrp_plan_check(plan, NULL, 0), 0);
    assert_true(vrp_plan_cost(plan) <= before);
    assert_true(vrp_plan_unassigned(plan) < 6);
    vrp_plan_destroy(&plan);
    vrp_problem_destroy(&p);
}

//  Heterogeneous fleet with skills, ends, durations and preferences: every plan is feasible.
static void test_random_rich_instances_feasible(void **state)
{
    (void) state;
    s_lcg_t r = {77};
    double soft_late = 0;
    for (int round = 0; round < 8; round++) {
        int n = 30, nl = n + 2;
        double xy[2 * 32];
        for (int i = 0; i < 2 * nl; i++)
            xy[i] = s_uniform(&r, 0, 100);
        vrp_problem_t *p = vrp_problem_new_euclidean(nl, xy, 1.0);
        //  Odd rounds: soft windows and the balance term (route-level costs).
        bool soft = round % 2 == 1;
        vrp_costs_t costs = {1.0, 0.5, 500.0, 20.0, soft ? 0.002 : 0.0};
        vrp_problem_set_costs(p, &costs);
        for (int j = 0; j < n; j++) {
            vrp_job_t job;
            vrp_job_init(&job, 2 + j);
            job.service = s_uniform(&r, 5, 15);
            job.n_windows = 1 + (int) (s_rand(&r) % 2);
            double t = s_uniform(&r, 0, 300);
            for (int w = 0; w < job.n_windows; w++) {
                job.windows[w] = (vrp_window_t) {t, t + s_uniform(&r, 20, 100)};
                t = job.windows[w].end + 50;
            }
            if (soft) {
                job.max_lateness = 30;
                job.lateness_cost = 3;
            }
            job.demand[0] = 1 + (int) (s_rand(&r) % 3);
            job.skills = s_rand(&r) % 5 == 0 ? 2 : 0;
            job.priority = (int) (s_rand(&r) % 2);
            if (s_rand(&r) % 3 == 0) {
                job.n_preferred = 1;
                job.preferred[0] = (int) (s_rand(&r) % 5);
            }
            vrp_problem_add_job(p, &job);
        }
        for (int v = 0; v < 5; v++) {
            vrp_vehicle_t veh;
            vrp_vehicle_init(&veh, v % 2, (v + 1) % 2);
            veh.shift_start = 10 * v;
            veh.shift_end = 500 + 20 * v;
            veh.capacity[0] = 10;
            veh.skills = v < 2 ? 3 : 1;
            veh.max_duration = v == 2 ? 200 : 0;
            veh.max_ride = v == 3 ? 90 : 0;
            veh.fixed_cost = 30;
            vrp_problem_add_vehicle(p, &veh);
        }
        vrp_params_t params;
        vrp_params_init(&params);
        params.time_limit = 0;
        params.max_iterations = 1500;
        params.seed = (uint64_t) round;
        params.objective = round % 2 ? VRP_OBJ_HIERARCHICAL : VRP_OBJ_DISTANCE;
        vrp_plan_t *plan = NULL;
        assert_int_equal(vrp_solve(p, &params, &plan), 0);
        char why[128] = "";
        if (vrp_plan_check(plan, why, sizeof why))
            fail_msg("round %d: %s", round, why);
        //  The cost the plan reports is the cost of its routes re-simulated from scratch.
        double cost = 0, late_total = 0;
        for (int v = 0; v < 5; v++) {
            const vrp_route_t *rt = &plan->routes[v];
            if (rt->n == 0)
                continue;
            vrp_sim_t sim;
            vrp_sim(p, v, rt->job + 1, rt->n, &sim);
            cost += sim.dist + 0.5 * sim.ttime + 30 + 20.0 * rt->n_nonpref + sim.late
                    + costs.balance * sim.work * sim.work;
            if (soft)
                late_total += sim.late;
        }
        for (int j = 0; j < n; j++)
            if (vrp_plan_reason(plan, j) != VRP_REASON_NONE)
                cost += 500.0 * (1 + p->jobs[j].priority);
        assert_near(cost, vrp_plan_cost(plan), 1e-6);
        if (soft)
            soft_late += late_total;
        vrp_plan_destroy(&plan);
        vrp_problem_destroy(&p);
    }
    //  Soft windows were actually used somewhere, or the soft rounds tested nothing new.
    assert_true(soft_late > 0);
}

//  Degenerate inputs: no jobs, one job, no vehicles. Planning must still return a plan.
static void test_degenerate_problems(void **state)
{
    (void) state;
    double xy[] = {0, 0, 3, 4};
    for (int jobs = 0; jobs <= 1; jobs++)
        for (int vehicles = 0; vehicles <= 1; vehicles++) {
            vrp_problem_t *p = vrp_problem_new_euclidean(2, xy, 1.0);
            if (jobs) {
                vrp_job_t job;
                vrp_job_init(&job, 1);
                vrp_problem_add_job(p, &job);
            }
            if (vehicles) {
                vrp_vehicle_t veh;
                vrp_vehicle_init(&veh, 0, 0);
                vrp_problem_add_vehicle(p, &veh);
            }
            for (int obj = 0; obj < 2; obj++) {
                vrp_params_t params;
                vrp_params_init(&params);
                params.objective = obj ? VRP_OBJ_HIERARCHICAL : VRP_OBJ_DISTANCE;
                params.time_limit = 0;
                params.max_iterations = 50;
                vrp_plan_t *plan = NULL;
                assert_int_equal(vrp_solve(p, &params, &plan), 0);
                assert_int_equal(vrp_plan_check(plan, NULL, 0), 0);
                assert_int_equal(vrp_plan_unassigned(plan), jobs && !vehicles);
                if (jobs && vehicles)
                    assert_near(vrp_plan_distance(plan), 10.0, 1e-12);
                if (jobs && !vehicles)
                    assert_int_equal(vrp_plan_reason(plan, 0), VRP_REASON_SKILLS);
                vrp_plan_destroy(&plan);
            }
            vrp_problem_destroy(&p);
        }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_degenerate_problems),
        cmocka_unit_test(test_optimal_on_small_instances),
        cmocka_unit_test(test_deterministic_for_seed),
        cmocka_unit_test(test_overfull_day_keeps_priorities),
        cmocka_unit_test(test_solve_from_existing_plan),
        cmocka_unit_test(test_random_rich_instances_feasible),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
