/*  vrp_read_test.c: Solomon text and JSON parsing, including malformed input. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "vrp_internal.h"
#include "vrp_read.h"

#include <string.h>

#define assert_near(a, b, eps) assert_true(fabs((double) (a) - (double) (b)) <= (eps))

//  The head of C101 (CRLF as in the distributed files), cut to 5 customers.
static const char *s_c101 =
    "C101\r\n\r\nVEHICLE\r\nNUMBER     CAPACITY\r\n  25         200\r\n\r\nCUSTOMER\r\n"
    "CUST NO.  XCOORD.   YCOORD.    DEMAND   READY TIME  DUE DATE   SERVICE   TIME\r\n \r\n"
    "    0      40         50          0          0       1236          0   \r\n"
    "    1      45         68         10        912        967         90   \r\n"
    "    2      45         70         30        825        870         90   \r\n"
    "    3      42         66         10         65        146         90   \r\n"
    "    4      42         68         10        727        782         90   \r\n"
    "    5      42         65         10         15         67         90   \r\n";

static void test_solomon(void **state)
{
    (void) state;
    char err[128];
    vrp_instance_t *inst = vrp_read_any(s_c101, err, sizeof err);
    assert_non_null(inst);
    assert_string_equal(inst->name, "C101");
    assert_int_equal(inst->n_jobs, 5);
    assert_int_equal(vrp_problem_vehicles(inst->problem), 25);
    assert_string_equal(inst->job_ids[4], "5");
    const vrp_job_t *j = vrp_problem_job(inst->problem, 1);
    assert_int_equal(j->demand[0], 30);
    assert_near(j->windows[0].start, 825, 0);
    assert_near(j->windows[0].end, 870, 0);
    assert_near(j->service, 90, 0);
    assert_near(vrp_problem_distance(inst->problem, 0, 1), sqrt(25 + 18 * 18), 1e-12);
    assert_near(inst->problem->veh[0].shift_end, 1236, 0);
    assert_int_equal(inst->problem->veh[0].capacity[0], 200);
    vrp_params_t params;
    vrp_params_init(&params);
    params.time_limit = 0;
    params.max_iterations = 200;
    vrp_plan_t *plan = NULL;
    assert_int_equal(vrp_solve(inst->problem, &params, &plan), 0);
    assert_int_equal(vrp_plan_check(plan, NULL, 0), 0);
    assert_int_equal(vrp_plan_unassigned(plan), 0);
    vrp_plan_destroy(&plan);
    vrp_instance_destroy(&inst);
    assert_null(inst);
}

static void test_solomon_malformed(void **state)
{
    (void) state;
    char err[128];
    assert_null(vrp_read_solomon("", err, sizeof err));
    assert_null(vrp_read_solomon("X\nVEHICLE\n", err, sizeof err));
    assert_null(vrp_read_solomon("X\n 25 200\n 0 1 1 0 0 100 0\n 1 2 2 5 50 10 0\n", err,
                                 sizeof err));   //  ready > due
    assert_non_null(strstr(err, "ready"));
    assert_null(vrp_read_solomon("X\n 25 200\n 0 1 1 0 0 100 0\n 1 2 2 5\n", err, sizeof err));
}

static const char *s_json =
    "{\"name\": \"day\", \"locations\": {\"coordinates\": [[0,0],[3,4],[6,8]],"
    " \"metric\": \"euclidean\", \"speed\": 0.5},"
    " \"costs\": {\"per_distance\": 2, \"unassigned_penalty\": 100, \"balance\": 0.5},"
    " \"jobs\": ["
    "  {\"id\": \"visit-a\", \"location\": 1, \"windows\": [[0, 20], [40, 60]], \"service\": 5,"
    "   \"demand\": [1, 2], \"skills\": [0, 3], \"priority\": 2, \"preferred\": [1],"
    "   \"max_lateness\": 10, \"lateness_cost\": 1.5},"
    "  {\"id\": 77, \"location\": 2}],"
    " \"vehicles\": ["
    "  {\"id\": \"anna\", \"start\": 0, \"shift\": [0, 100], \"capacity\": [5, 5],"
    "   \"skills\": [0, 3], \"max_duration\": 80},"
    "  {\"start\": 0, \"end\": 2, \"skills\": [], \"fixed_cost\": 3}]}";

static void test_json(void **state)
{
    (void) state;
    char err[128];
    vrp_instance_t *inst = vrp_read_any(s_json, err, sizeof err);
    if (!inst)
        fail_msg("%s", err);
    vrp_problem_t *p = inst->problem;
    assert_string_equal(inst->name, "day");
    assert_string_equal(inst->job_ids[0], "visit-a");
    assert_string_equal(inst->job_ids[1], "77");
    assert_string_equal(inst->vehicle_ids[0], "anna");
    assert_string_equal(inst->vehicle_ids[1], "2");
    assert_near(vrp_problem_distance(p, 0, 1), 5, 1e-12);
    assert_near(vrp_problem_time(p, 0, 1), 10, 1e-12);
    const vrp_job_t *a = vrp_problem_job(p, 0);
    assert_int_equal(a->n_windows, 2);
    assert_near(a->windows[1].start, 40, 0);
    assert_int_equal(a->demand[1], 2);
    assert_true(a->skills == 9);
    assert_int_equal(a->priority, 2);
    assert_int_equal(a->n_preferred, 1);
    assert_int_equal(a->preferred[0], 1);
    assert_near(p->costs.per_distance, 2, 0);
    assert_near(p->costs.unassigned_penalty, 100, 0);
    assert_near(p->costs.balance, 0.5, 0);
    assert_near(a->max_lateness, 10, 0);
    assert_near(a->lateness_cost, 1.5, 0);
    assert_int_equal(p->veh[1].end_location, 2);
    assert_true(p->veh[1].skills == 0);
    assert_true(p->veh[0].skills == 9);
    assert_near(p->veh[0].max_duration, 80, 0);
    assert_true(isinf(p->veh[1].shift_end));
    vrp_instance_destroy(&inst);
}

static void test_json_malformed(void **state)
{
    (void) state;
    char err[128];
    const char *bad[] = {
        "{",
        "[]",
        "{\"locations\": {\"coordinates\": [[0,0]]}, \"jobs\": [], \"vehicles\": {}}",
        "{\"locations\": {\"coordinates\": [[0,0]]}, \"jobs\": [{\"location\": 5}],"
        " \"vehicles\": []}",
        "{\"locations\": {\"coordinates\": [[0,0]], \"metric\": \"manhattan\"}, \"jobs\": [],"
        " \"vehicles\": []}",
        "{\"locations\": {\"time\": [[0,1],[1]]}, \"jobs\": [], \"vehicles\": []}",
        "{\"locations\": {\"time\": [[0,-1],[1,0]]}, \"jobs\": [], \"vehicles\": []}",
        "{\"locations\": {\"coordinates\": [[0,0]]}, \"jobs\": [{\"location\": 0,"
        " \"skills\": [64]}], \"vehicles\": []}",
        "{\"locations\": {\"coordinates\": [[0,0]]}, \"jobs\": [],"
        " \"vehicles\": [{\"start\": 0, \"shift\": [10, 5]}]}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = '\0';
        vrp_instance_t *inst = vrp_read_any(bad[i], err, sizeof err);
        if (inst)
            fail_msg("accepted bad input %zu", i);
        assert_true(err[0] != '\0');
    }
    //  A matrix instance is fine.
    vrp_instance_t *ok = vrp_read_json(
        "{\"locations\": {\"time\": [[0,1],[1,0]], \"distance\": [[0,2],[2,0]]},"
        " \"jobs\": [{\"location\": 1}], \"vehicles\": [{\"start\": 0}]}", err, sizeof err);
    assert_non_null(ok);
    assert_near(vrp_problem_distance(ok->problem, 0, 1), 2, 0);
    vrp_instance_destroy(&ok);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_solomon),
        cmocka_unit_test(test_solomon_malformed),
        cmocka_unit_test(test_json),
        cmocka_unit_test(test_json_malformed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
