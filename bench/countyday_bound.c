/* countyday_bound: the hindsight bound of the county-day benchmark
 * (bench/countyday.py, docs/BENCHMARKS.md "County day").
 *
 *     countyday_bound SECONDS SEED < problem.txt > plan.txt
 *
 * Every visit of the day is known at the start; libvrp plans the whole day
 * at once. The model is dispatchd's (dd_domain.h): travel is the straight
 * line x 1.3 at 15 km/h (cc_geo's constants, vrp_problem_new_geo's
 * formula); a day starts at the caregiver's home and ends where its last
 * visit ends (the scorer counts no trip home; by default no shift ends
 * with one either: a zero-travel "sink" is every route's end, a laxer day
 * than dispatchd's, whose caregivers are home by the shift's end, see
 * "home" below); service starts inside
 * the visit's window and ends inside the shift; skills, level >= 2 for
 * bathing severe/total and first aid for emergencies are skill bits (the
 * generator sets them), so they are hard constraints. A visit left out
 * costs 1e6 x (1 + priority): serving comes first, then travel.
 *
 * With "home" (a third argument) every route ends at the caregiver's home
 * inside the shift and the way home is travel, as in dispatchd's model
 * (docs/DISPATCH.md "The model": home by the shift's end); the plan's
 * output is the same (the scorer counts no trip home either way), only the
 * "# travel_s" line then includes the ways home.
 *
 * Each district is solved on its own (a county's caregivers work in their
 * own district, as dispatchd plans them), SECONDS split by visits; this
 * also keeps the matrices small (a county in one matrix would be 6,601^2).
 *
 * Input (times in seconds since the day's local midnight):
 *     caregivers N
 *     district lat lon skills shift_start shift_end        (N lines)
 *     visits M
 *     district lat lon skills window_start window_end service_s priority   (M lines)
 * Output: one line per visit, in input order: "caregiver start_s", or
 * "-1 -1" when unserved; then "# travel_s T unserved U".
 */
#include "vrp.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_EARTH_M 6371008.8
#define S_DETOUR 1.3
#define S_SPEED_MPS (15000.0 / 3600.0)

static double s_travel_s(double la1, double lo1, double la2, double lo2)
{
    const double rad = M_PI / 180.0;
    double a1 = la1 * rad, a2 = la2 * rad, dla = (la2 - la1) * rad, dlo = (lo2 - lo1) * rad;
    double h = sin(dla / 2) * sin(dla / 2) + cos(a1) * cos(a2) * sin(dlo / 2) * sin(dlo / 2);
    return 2 * S_EARTH_M * asin(fmin(1.0, sqrt(h))) * S_DETOUR / S_SPEED_MPS;
}

typedef struct {
    double lat, lon, a, b, service;
    unsigned long long skills;
    int priority, district;
} s_row_t;

/* Solves district d: writes who[] (global caregiver index) and start[] of
 * its visits; returns the travel seconds, or -1 on failure. */
static double s_solve(const s_row_t *cg, int n, const s_row_t *vs, int m, int d, double limit,
                      uint64_t seed, int home, int *who, double *start, int *unserved)
{
    int *ci = malloc((size_t) n * sizeof *ci), *vi = malloc((size_t) m * sizeof *vi);
    int nc = 0, nv = 0;
    for (int i = 0; i < n; i++)
        if (cg[i].district == d)
            ci[nc++] = i;
    for (int j = 0; j < m; j++)
        if (vs[j].district == d)
            vi[nv++] = j;
    if (nv == 0) {
        free(ci);
        free(vi);
        return 0;
    }
    if (nc == 0) {
        *unserved += nv;
        free(ci);
        free(vi);
        return 0;
    }
    /* Locations: homes 0..nc-1, visits nc..nc+nv-1, the sink nc+nv. */
    int L = nc + nv + 1;
    double *t = calloc((size_t) L * (size_t) L, sizeof *t);
    if (!t) {
        free(ci);
        free(vi);
        return -1;
    }
    for (int i = 0; i < L - 1; i++) {
        const s_row_t *p = i < nc ? &cg[ci[i]] : &vs[vi[i - nc]];
        for (int k = 0; k < L - 1; k++) {
            const s_row_t *q = k < nc ? &cg[ci[k]] : &vs[vi[k - nc]];
            t[(size_t) i * L + k] = s_travel_s(p->lat, p->lon, q->lat, q->lon);
        }
    }
    vrp_problem_t *pb = vrp_problem_new(L, t, NULL);
    free(t);
    double travel = -1;
    vrp_plan_t *plan = NULL;
    if (!pb)
        goto out;
    for (int i = 0; i < nc; i++) {
        vrp_vehicle_t v;
        vrp_vehicle_init(&v, i, home ? i : L - 1);
        v.shift_start = cg[ci[i]].a;
        v.shift_end = cg[ci[i]].b;
        v.skills = cg[ci[i]].skills;
        if (vrp_problem_add_vehicle(pb, &v) != i)
            goto out;
    }
    for (int j = 0; j < nv; j++) {
        const s_row_t *r = &vs[vi[j]];
        vrp_job_t jb;
        vrp_job_init(&jb, nc + j);
        jb.n_windows = 1;
        jb.windows[0].start = r->a;
        jb.windows[0].end = r->b;
        jb.service = r->service;
        jb.skills = r->skills;
        jb.priority = r->priority;
        if (vrp_problem_add_job(pb, &jb) != j)
            goto out;
    }
    vrp_params_t par;
    vrp_params_init(&par);
    par.objective = VRP_OBJ_DISTANCE;
    par.time_limit = limit;
    par.seed = seed;
    char why[200];
    if (vrp_solve(pb, &par, &plan) != 0 || !plan)
        goto out;
    if (vrp_plan_check(plan, why, sizeof why) != 0) {
        fprintf(stderr, "countyday_bound: district %d: infeasible plan: %s\n", d, why);
        goto out;
    }
    for (int i = 0; i < nc; i++)
        for (int k = 0; k < vrp_plan_route_length(plan, i); k++) {
            int j = vrp_plan_route_job(plan, i, k);
            double arr, st;
            vrp_plan_stop_times(plan, i, k, &arr, &st);
            who[vi[j]] = ci[i];
            start[vi[j]] = st;
        }
    *unserved += vrp_plan_unassigned(plan);
    travel = vrp_plan_distance(plan);
out:
    vrp_plan_destroy(&plan);
    vrp_problem_destroy(&pb);
    free(ci);
    free(vi);
    return travel;
}

int main(int argc, char **argv)
{
    if (argc != 3 && !(argc == 4 && strcmp(argv[3], "home") == 0)) {
        fprintf(stderr, "usage: countyday_bound SECONDS SEED [home] < problem > plan\n");
        return 2;
    }
    int home = argc == 4;
    double limit = atof(argv[1]);
    int n = 0, m = 0;
    if (scanf(" caregivers %d", &n) != 1 || n <= 0)
        return fprintf(stderr, "countyday_bound: bad caregivers line\n"), 1;
    s_row_t *cg = calloc((size_t) n, sizeof *cg);
    for (int i = 0; i < n; i++)
        if (scanf("%d %lf %lf %llu %lf %lf", &cg[i].district, &cg[i].lat, &cg[i].lon, &cg[i].skills, &cg[i].a,
                  &cg[i].b) != 6 || cg[i].district < 0 || cg[i].district > 1000)
            return fprintf(stderr, "countyday_bound: bad caregiver %d\n", i), 1;
    if (scanf(" visits %d", &m) != 1 || m <= 0)
        return fprintf(stderr, "countyday_bound: bad visits line\n"), 1;
    s_row_t *vs = calloc((size_t) m, sizeof *vs);
    for (int j = 0; j < m; j++)
        if (scanf("%d %lf %lf %llu %lf %lf %lf %d", &vs[j].district, &vs[j].lat, &vs[j].lon, &vs[j].skills,
                  &vs[j].a, &vs[j].b, &vs[j].service, &vs[j].priority) != 8 || vs[j].district < 0
            || vs[j].district > 1000)
            return fprintf(stderr, "countyday_bound: bad visit %d\n", j), 1;

    int *who = malloc((size_t) m * sizeof *who);
    double *start = malloc((size_t) m * sizeof *start);
    if (!who || !start)
        return fprintf(stderr, "countyday_bound: out of memory\n"), 1;
    for (int j = 0; j < m; j++)
        who[j] = -1, start[j] = -1;
    int dmax = 0;
    for (int j = 0; j < m; j++)
        dmax = vs[j].district > dmax ? vs[j].district : dmax;
    double travel = 0;
    int unserved = 0;
    uint64_t seed = (uint64_t) strtoull(argv[2], NULL, 10);
    for (int d = 0; d <= dmax; d++) {
        int nv = 0;
        for (int j = 0; j < m; j++)
            nv += vs[j].district == d;
        double t = s_solve(cg, n, vs, m, d, limit * nv / m, seed, home, who, start,
                             &unserved);
        if (t < 0)
            return fprintf(stderr, "countyday_bound: district %d: solve failed\n", d), 1;
        travel += t;
    }
    for (int j = 0; j < m; j++)
        printf("%d %.0f\n", who[j], start[j]);
    printf("# travel_s %.0f unserved %d\n", travel, unserved);
    free(who);
    free(start);
    free(cg);
    free(vs);
    return 0;
}
