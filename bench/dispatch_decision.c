/* dispatch_decision.c: latency of dispatchd's online decision (dd_model_match
 * and, for emergencies, dd_model_match_urgent: the very code the daemon runs
 * per visit) in one district of many caregivers, as the day fills up.
 *
 * The district: CAREGIVERS caregivers (default 2000) living at random in a
 * 12 km x 12 km square, shift 08:00-18:00, every skill, level 2, one in three
 * with first aid. VISITS visits (default 4 per caregiver) arrive at 07:30 for
 * random elders in the same square, windows of 1 to 3 hours between 08:00
 * and 18:00; one in 20 is an emergency (window now .. +1 h). Each is decided
 * against the plans so far and, when placed, added to its caregiver's plan
 * as the daemon does (dd_world_assign's effect on the plan). The figures are
 * per decision, wall clock and on-CPU (thread CPU clock), over the whole run
 * and over the last quarter (the fullest plans).
 *
 * It measures the decision alone: no HTTP, no SQL, no ZeroMQ (those are in
 * bench-e2e); docs/BENCHMARKS.md says so beside the figure.
 *
 * Then, on the filled day, REOPT_RUNS re-optimisations of the district
 * (dd_reopt.h) with a 300 ms budget: the time the daemon's loop spends
 * (snapshot, apply) apart from the worker's solve, and the gain.
 *
 * usage: dispatch_decision [caregivers [visits [seed]]] */
#include "dd_model.h"
#include "dd_reopt.h"
#include "dd_state.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* 2026-11-26 00:00 Asia/Shanghai. */
#define DAY0_US (1795622400LL * 1000000)
#define MIN_US (60LL * 1000000)
#define LAT0 30.25
#define LON0 120.15
#define SIDE_DEG_LAT 0.108      /* 12 km */
#define SIDE_DEG_LON 0.125      /* 12 km at 30.25 N */

static uint64_t s_state;

static double s_unif(void)
{
    s_state = s_state * 6364136223846793005ULL + 1442695040888963407ULL;
    return (double) (s_state >> 11) * 0x1.0p-53;
}

static double s_ns(clockid_t clk)
{
    struct timespec ts;
    clock_gettime(clk, &ts);
    return (double) ts.tv_sec * 1e9 + (double) ts.tv_nsec;
}

static int s_cmp(const void *a, const void *b)
{
    double x = *(const double *) a, y = *(const double *) b;
    return (x > y) - (x < y);
}

static void s_report(const char *what, double *ns, size_t n)
{
    if (n == 0)
        return;
    qsort(ns, n, sizeof *ns, s_cmp);
    printf("%-26s n=%-6zu p50 %7.3f ms  p90 %7.3f ms  p99 %7.3f ms  max %7.3f ms\n", what, n,
           ns[n / 2] / 1e6, ns[n * 90 / 100] / 1e6, ns[n * 99 / 100] / 1e6, ns[n - 1] / 1e6);
}

int main(int argc, char **argv)
{
    size_t ncg = argc > 1 ? strtoul(argv[1], NULL, 10) : 2000;
    size_t nv = argc > 2 ? strtoul(argv[2], NULL, 10) : 4 * ncg;
    s_state = argc > 3 ? strtoull(argv[3], NULL, 10) : 20261207;
    if (ncg == 0 || nv == 0) {
        fprintf(stderr, "usage: dispatch_decision [caregivers [visits [seed]]]\n");
        return 2;
    }
    dd_caregiver_t *cg = calloc(ncg, sizeof *cg);
    dd_caregiver_t **cgs = calloc(ncg, sizeof *cgs);
    dd_visit_t *v = calloc(nv, sizeof *v);
    double *wall = calloc(nv, sizeof *wall), *cpu = calloc(nv, sizeof *cpu);
    if (!cg || !cgs || !v || !wall || !cpu)
        return 1;
    for (size_t i = 0; i < ncg; i++) {
        dd_caregiver_t *c = &cg[i];
        snprintf(c->id, sizeof c->id, "cg-%05zu", i);
        snprintf(c->provider_id, sizeof c->provider_id, "prov-%zu", i % 10);
        c->district_id = 1;
        c->lat = LAT0 + s_unif() * SIDE_DEG_LAT;
        c->lon = LON0 + s_unif() * SIDE_DEG_LON;
        for (int s = 1; s <= DD_SVC_MAX; s++)
            c->skills |= 1u << s;
        c->level = 2;
        c->first_aid = i % 3 == 0;
        c->shift_start_min = 8 * 60;
        c->shift_end_min = 18 * 60;
        cgs[i] = c;
    }
    int64_t now = DAY0_US + (7 * 60 + 30) * MIN_US;
    dd_model_params_t p;
    dd_model_params_init(&p, now);
    if (getenv("DD_BALANCE"))   /* the balance cost's weight, to compare (dd_model.h) */
        p.balance = atof(getenv("DD_BALANCE"));
    size_t placed = 0, bumped_n = 0, ndec = 0;
    double *wq = calloc(nv, sizeof *wq), *cq = calloc(nv, sizeof *cq);
    size_t nq = 0, q_from = nv - nv / 4;
    static const int routine[] = {DD_SVC_BATH, DD_SVC_CLEANING, DD_SVC_ESCORT,
                                  DD_SVC_MEDICAL_ESCORT, DD_SVC_VISIT};
    for (size_t k = 0; k < nv; k++) {
        dd_visit_t *x = &v[k];
        snprintf(x->id, sizeof x->id, "v-%06zu", k);
        snprintf(x->order_id, sizeof x->order_id, "o-%06zu", k);
        x->district_id = 1;
        x->ability = DD_ABILITY_MILD;
        x->lat = LAT0 + s_unif() * SIDE_DEG_LAT;
        x->lon = LON0 + s_unif() * SIDE_DEG_LON;
        x->state = DD_VISIT_WAITING;
        if (s_unif() < 0.05) {
            x->service = DD_SVC_EMERGENCY;
            x->emergency = 1;
            x->window_start_us = now;
            x->window_end_us = now + 60 * MIN_US;
        } else {
            x->service = routine[(size_t) (s_unif() * 5) % 5];
            int64_t len = (60 + (int64_t) (s_unif() * 120)) * MIN_US;
            int64_t start = DAY0_US + 8 * 60 * MIN_US
                            + (int64_t) (s_unif() * (double) (10 * 60 * MIN_US - len));
            x->window_start_us = start;
            x->window_end_us = start + len;
        }
        dd_match_t m;
        dd_visit_t *bumped = NULL;
        double w0 = s_ns(CLOCK_MONOTONIC), c0 = s_ns(CLOCK_THREAD_CPUTIME_ID);
        int rc = x->emergency ? dd_model_match_urgent(cgs, ncg, x, &p, &m, &bumped)
                              : dd_model_match(cgs, ncg, x, &p, &m);
        wall[ndec] = s_ns(CLOCK_MONOTONIC) - w0;
        cpu[ndec] = s_ns(CLOCK_THREAD_CPUTIME_ID) - c0;
        if (k >= q_from) {
            wq[nq] = wall[ndec];
            cq[nq++] = cpu[ndec];
        }
        ndec++;
        if (rc != 0)
            continue;
        if (bumped) {
            /* As the daemon does: the bumped visit leaves the plan (it would
             * be offered again; here it just stays out). */
            dd_plan_remove(bumped->caregiver, bumped);
            bumped->state = DD_VISIT_WAITING;
            bumped->caregiver = NULL;
            bumped_n++;
            placed--;
        }
        x->state = DD_VISIT_ASSIGNED;
        x->caregiver = m.caregiver;
        x->eta_us = m.eta_us;
        x->planned_end_us = m.end_us;
        x->travel_s = m.travel_s;
        if (dd_plan_add(m.caregiver, x) != 0)
            return 1;
        placed++;
    }
    double km = 0;   /* home, then each planned visit in order (no trip home) */
    for (size_t i = 0; i < ncg; i++) {
        double lat = cg[i].lat, lon = cg[i].lon;
        for (size_t k = 0; k < cg[i].nplan; k++) {
            km += dd_model_travel_s(lat, lon, cg[i].plan[k]->lat, cg[i].plan[k]->lon)
                  * CC_GEO_SPEED_M_PER_S / 1000.0;
            lat = cg[i].plan[k]->lat;
            lon = cg[i].plan[k]->lon;
        }
    }
    printf("district: %zu caregivers, %zu visits decided, %zu placed, %zu pre-empted, "
           "%.1f km planned\n", ncg, ndec, placed, bumped_n, km);
    /* Re-optimisation on the filled day, at 07:30, through a world (apply
     * looks caregivers and visits up by id). */
    dd_world_t *w = dd_world_new();
    for (size_t i = 0; w && i < ncg; i++) {
        dd_caregiver_t *c = dd_caregiver_new();
        if (!c)
            return 1;
        *c = cg[i];
        c->plan = NULL;
        c->nplan = c->capplan = 0;
        cgs[i] = c;
        if (dd_world_add_caregiver(w, &c) != 0)
            return 1;
    }
    for (size_t k = 0; w && k < nv; k++) {
        dd_visit_t *x = dd_visit_new();
        if (!x)
            return 1;
        dd_caregiver_t *owner = v[k].caregiver ? cgs[v[k].caregiver - cg] : NULL;
        *x = v[k];
        x->caregiver = owner;
        x->declined = NULL;
        x->ndeclined = 0;
        if (dd_world_add_visit(w, &x) != 0)
            return 1;
    }
    int runs = getenv("REOPT_RUNS") ? atoi(getenv("REOPT_RUNS")) : 3;
    for (int i = 0; w && i < runs; i++) {
        size_t nw;
        dd_visit_t **wait = NULL;
        nw = dd_world_waiting(w, &wait);
        double t0 = s_ns(CLOCK_MONOTONIC);
        dd_reopt_run_t *r = dd_reopt_snapshot(cgs, ncg, wait, nw, 1, 0, &p, 300, (uint64_t) i + 1);
        double t1 = s_ns(CLOCK_MONOTONIC);
        free(wait);
        if (!r || dd_reopt_solve(r) != 0) {
            printf("reopt run %d: nothing to do or infeasible\n", i);
            dd_reopt_run_free(&r);
            continue;
        }
        double t2 = s_ns(CLOCK_MONOTONIC), before, after;
        dd_reopt_costs(r, &before, &after);
        dd_visit_t **moved;
        char(*from)[DD_ID_LEN];
        size_t nmoved;
        int rc = dd_reopt_apply(r, w, now, &moved, &nmoved, &from);
        double t3 = s_ns(CLOCK_MONOTONIC);
        printf("reopt run %d: loop %.1f ms (snapshot %.1f + apply %.1f), solve %.0f ms, "
               "cost %.0f -> %.0f, apply rc %d, %zu moved\n", i, (t1 - t0 + t3 - t2) / 1e6,
               (t1 - t0) / 1e6, (t3 - t2) / 1e6, (t2 - t1) / 1e6, before, after, rc,
               rc == 0 ? nmoved : 0);
        /* The daemon's way: dd_reopt_begin, then slices of 0.3 ms (dd_reopt.c):
         * the longest single hold of the loop. */
        nw = dd_world_waiting(w, &wait);
        double s0 = s_ns(CLOCK_MONOTONIC);
        dd_reopt_run_t *sl = dd_reopt_begin(cgs, ncg, wait, nw, 1, 0, &p, 300, (uint64_t) i + 1);
        double s1 = s_ns(CLOCK_MONOTONIC), longest = 0, longest_cpu = 0;
        free(wait);
        int slices = 0, brc = sl ? 1 : -1;
        while (brc == 1) {
            double a = s_ns(CLOCK_MONOTONIC), ac = s_ns(CLOCK_THREAD_CPUTIME_ID);
            brc = dd_reopt_build(sl, w, (int64_t) (a / 1e3) + 300);
            double b = s_ns(CLOCK_MONOTONIC), bc = s_ns(CLOCK_THREAD_CPUTIME_ID);
            longest = b - a > longest ? b - a : longest;
            longest_cpu = bc - ac > longest_cpu ? bc - ac : longest_cpu;
            slices++;
        }
        printf("reopt run %d sliced: begin %.2f ms, then %d slices, "
               "longest %.2f ms (CPU %.2f ms), build rc %d\n", i, (s1 - s0 + 0.0) / 1e6, slices,
               longest / 1e6, longest_cpu / 1e6, brc);
        dd_reopt_run_free(&sl);
        if (rc == 0) {
            free(moved);
            free(from);
        }
        dd_reopt_run_free(&r);
    }
    dd_world_destroy(&w);
    s_report("decision wall, all", wall, ndec);
    s_report("decision cpu, all", cpu, ndec);
    s_report("decision wall, last 1/4", wq, nq);
    s_report("decision cpu, last 1/4", cq, nq);
    for (size_t i = 0; i < ncg; i++)
        free(cg[i].plan);   /* the world's caregivers had their own */
    free(cg);
    free(cgs);
    free(v);
    free(wall);
    free(cpu);
    free(wq);
    free(cq);
    return 0;
}
