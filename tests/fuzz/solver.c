/* solver: the solver's readers (services/solver/vrp_read.c): an instance as
 * Solomon text or our JSON (vrp_read_any picks by the first character),
 * then, when it reads, a stored solution loaded onto it
 * (vrp_plan_from_routes, the loader of a saved plan, checked with
 * vrp_plan_check) and, for small instances, every job inserted greedily.
 * Input: the instance text, optionally followed by a NUL byte and the
 * solution: one line per vehicle of job indexes separated by spaces. */
#include "fuzz.h"
#include <stdio.h>
#include "vrp.h"
#include "vrp_read.h"

#define S_MAX_ROUTE 256

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void) argc;
    (void) argv;
    return 0;
}

/* Parse the solution text into routes (at most one per vehicle) and load it. */
static void s_solution(const vrp_problem_t *pb, const char *text)
{
    int nv = vrp_problem_vehicles(pb);
    if (nv <= 0 || nv > 1000)
        return;
    int **routes = calloc((size_t) nv, sizeof *routes);
    int *lens = calloc((size_t) nv, sizeof *lens);
    if (!routes || !lens)
        abort();
    const char *p = text;
    for (int v = 0; v < nv; v++) {
        routes[v] = calloc(S_MAX_ROUTE, sizeof **routes);
        if (!routes[v])
            abort();
        while (*p && *p != '\n') {
            char *end;
            long j = strtol(p, &end, 10);
            if (end == p) {
                p++;
                continue;
            }
            p = end;
            if (lens[v] < S_MAX_ROUTE)
                routes[v][lens[v]++] = (int) (j < -1000000 ? -1000000 : j > 1000000 ? 1000000 : j);
        }
        if (*p == '\n')
            p++;
    }
    vrp_plan_t *plan = vrp_plan_from_routes(pb, (const int *const *) routes, lens);
    if (plan) {
        char why[256];
        (void) vrp_plan_check(plan, why, sizeof why);
        (void) vrp_plan_cost(plan);
        vrp_plan_destroy(&plan);
    }
    for (int v = 0; v < nv; v++)
        free(routes[v]);
    free(routes);
    free(lens);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = fz_str(data, size);
    char err[256];
    vrp_instance_t *inst = vrp_read_any(text, err, sizeof err);
    if (inst) {
        const vrp_problem_t *pb = inst->problem;
        size_t tlen = strlen(text);
        if (tlen < size)
            s_solution(pb, text + tlen + 1);
        if (vrp_problem_jobs(pb) <= 50 && vrp_problem_vehicles(pb) <= 50) {
            vrp_plan_t *plan = vrp_plan_new(pb);
            if (!plan)
                abort();
            for (int j = 0; j < vrp_problem_jobs(pb); j++) {
                vrp_insertion_t ins;
                (void) vrp_plan_insert(plan, j, &ins);
            }
            char why[256];
            if (vrp_plan_check(plan, why, sizeof why) != 0) {
                fprintf(stderr, "greedy plan fails its own check: %s\n", why);
                abort();
            }
            vrp_plan_destroy(&plan);
        }
        vrp_instance_destroy(&inst);
    }
    free(text);
    return 0;
}
