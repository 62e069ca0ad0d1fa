/*  vrp_alloc_test.c: fail the Nth allocation for N = 0, 1, ... through building a problem,
    a plan, online insertions, planning and duplication; every failure must come back as
    NULL/-1 with nothing leaked (the ASan build checks leaks) and nothing corrupted.
    Linked with -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc (see solver.mk), which only
    redirects calls made from our own objects, not from libc or cmocka. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "vrp.h"

#include <stdlib.h>

void *__real_malloc(size_t size);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *ptr, size_t size);

static long s_fail_at = -1;   //  index of the allocation to fail, -1 for none
static long s_count;          //  allocations seen since the last reset

static int s_should_fail(void)
{
    return s_fail_at >= 0 && s_count++ == s_fail_at;
}

void *__wrap_malloc(size_t size)
{
    return s_should_fail() ? NULL : __real_malloc(size);
}

void *__wrap_calloc(size_t n, size_t size)
{
    return s_should_fail() ? NULL : __real_calloc(n, size);
}

void *__wrap_realloc(void *ptr, size_t size)
{
    return s_should_fail() ? NULL : __real_realloc(ptr, size);
}

//  Returns 0 if every step succeeded, -1 if some step reported an allocation failure.
static int s_scenario(void)
{
    double xy[2 * 25];
    for (int i = 0; i < 25; i++) {
        xy[2 * i] = (i * 37) % 100;
        xy[2 * i + 1] = (i * 61) % 100;
    }
    vrp_problem_t *p = vrp_problem_new_euclidean(25, xy, 1.0);
    if (!p)
        return -1;
    int rc = -1;
    vrp_plan_t *plan = NULL, *copy = NULL;
    for (int j = 1; j < 25; j++) {
        vrp_job_t job;
        vrp_job_init(&job, j);
        job.n_windows = 1;
        job.windows[0] = (vrp_window_t) {0, 400};
        job.service = 5;
        job.demand[0] = 1;
        if (vrp_problem_add_job(p, &job) < 0)
            goto done;
    }
    for (int v = 0; v < 4; v++) {
        vrp_vehicle_t veh;
        vrp_vehicle_init(&veh, 0, 0);
        veh.shift_end = 1000;
        veh.capacity[0] = 8;
        if (vrp_problem_add_vehicle(p, &veh) < 0)
            goto done;
    }
    plan = vrp_plan_new(p);
    if (!plan)
        goto done;
    for (int j = 0; j < 12; j++)
        if (vrp_plan_insert(plan, j, NULL) && vrp_plan_reason(plan, j) == VRP_REASON_NONE)
            goto done;
    vrp_params_t params;
    vrp_params_init(&params);
    params.time_limit = 0;
    params.max_iterations = 30;
    params.objective = VRP_OBJ_HIERARCHICAL;
    if (vrp_solve(p, &params, &plan))
        goto done;
    copy = vrp_plan_dup(plan);
    if (!copy)
        goto done;
    rc = 0;
done:
    //  Whatever failed, what exists must still be consistent.
    if (plan)
        assert_int_equal(vrp_plan_check(plan, NULL, 0) == 0 || s_count > s_fail_at, 1);
    vrp_plan_destroy(&copy);
    vrp_plan_destroy(&plan);
    vrp_problem_destroy(&p);
    return rc;
}

static void test_fail_each_allocation(void **state)
{
    (void) state;
    long n;
    for (n = 0; n < 100000; n++) {
        s_fail_at = n;
        s_count = 0;
        int rc = s_scenario();
        if (s_count <= n) {
            //  The failure point was never reached: the run must have succeeded.
            assert_int_equal(rc, 0);
            break;
        }
    }
    s_fail_at = -1;
    //  Enough allocations were exercised for the test to mean something.
    assert_true(n > 50);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fail_each_allocation),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
