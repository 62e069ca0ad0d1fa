/* dispatch_e2e_shape.c: dispatchd's online decision (dd_model_match) in the
 * shape of bench/e2e.sh, without the daemons: 1,000 caregivers (every skill,
 * level 3, shift 00:00-23:59) around three district centres 3.5 km apart
 * (2 km wide), 200 elders likewise, and VISITS (30,000) visits of cleaning,
 * bath or escort with a 2-hour window opening on the hour 07:00..18:00 on
 * one of the 21 days from tomorrow, decided one after another against the
 * plans so far (each placed visit joins its caregiver's plan). Caregivers
 * and visits are allocated one by one, as the daemon does. With FLUSH_KB=n
 * each decision is preceded by a walk over n kB of other memory (PostgreSQL
 * shares the machine in e2e: the plans are not in cache). CPU per decision
 * (thread clock) over the last half; placed and km to compare revisions.
 *
 * usage: dispatch_e2e_shape [visits [seed]] */
#include "dd_model.h"
#include "dd_state.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DAY0_US (1795622400LL * 1000000)   /* 2026-11-26 00:00 Asia/Shanghai */
#define MIN_US (60LL * 1000000)
#define H_US (60 * MIN_US)

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

/* A place in district d (0..2): centres 3.5 km apart, 2 km wide. */
static void s_place(int d, double *lat, double *lon)
{
    *lat = 30.25 + (s_unif() - 0.5) * 0.018;
    *lon = 120.15 + d * 0.0365 + (s_unif() - 0.5) * 0.0208;
}

int main(int argc, char **argv)
{
    size_t nv = argc > 1 ? strtoul(argv[1], NULL, 10) : 30000, ncg = 1000, nel = 200;
    s_state = argc > 2 ? strtoull(argv[2], NULL, 10) : 20261208;
    size_t flush_kb = getenv("FLUSH_KB") ? strtoul(getenv("FLUSH_KB"), NULL, 10) : 0;
    dd_caregiver_t **cgs = calloc(ncg, sizeof *cgs);
    double (*el)[2] = calloc(nel, sizeof *el);
    double *cpu = calloc(nv, sizeof *cpu);
    volatile unsigned char *junk = flush_kb ? calloc(flush_kb, 1024) : NULL;
    if (!cgs || !el || !cpu || (flush_kb && !junk))
        return 1;
    for (size_t i = 0; i < ncg; i++) {
        dd_caregiver_t *c = dd_caregiver_new();
        if (!c)
            return 1;
        snprintf(c->id, sizeof c->id, "cg-%05zu", i);
        c->district_id = 1;
        s_place((int) (i % 3), &c->lat, &c->lon);
        for (int s = 1; s <= DD_SVC_MAX; s++)
            c->skills |= 1u << s;
        c->level = 3;
        c->first_aid = 1;
        c->shift_start_min = 0;
        c->shift_end_min = 23 * 60 + 59;
        cgs[i] = c;
    }
    for (size_t i = 0; i < nel; i++)
        s_place((int) (i % 3), &el[i][0], &el[i][1]);
    int64_t now = DAY0_US + 9 * H_US;
    dd_model_params_t p;
    dd_model_params_init(&p, now);
    dd_model_stats_t st = {0};
    p.stats = &st;
    static const int svc[] = {DD_SVC_CLEANING, DD_SVC_BATH, DD_SVC_ESCORT};
    size_t placed = 0;
    double km = 0, junk_sum = 0;
    for (size_t k = 0; k < nv; k++) {
        dd_visit_t *x = dd_visit_new();
        if (!x)
            return 1;
        snprintf(x->id, sizeof x->id, "v-%06zu", k);
        snprintf(x->order_id, sizeof x->order_id, "o-%06zu", k);
        size_t e = (size_t) (s_unif() * (double) nel) % nel;
        x->district_id = 1;
        x->ability = DD_ABILITY_MILD;
        x->lat = el[e][0];
        x->lon = el[e][1];
        x->state = DD_VISIT_WAITING;
        x->service = svc[k % 3];
        size_t slot = (k * 7919) % (21 * 12);
        x->window_start_us = DAY0_US + (int64_t) (1 + slot / 12) * 24 * H_US
                             + (int64_t) (7 + slot % 12) * H_US;
        x->window_end_us = x->window_start_us + 2 * H_US;
        for (size_t b = 0; b < flush_kb * 1024; b += 64)
            junk_sum += junk[b]++;
        dd_match_t m;
        double c0 = s_ns(CLOCK_THREAD_CPUTIME_ID);
        int rc = dd_model_match(cgs, ncg, x, &p, &m);
        cpu[k] = s_ns(CLOCK_THREAD_CPUTIME_ID) - c0;
        if (rc != 0)
            continue;
        x->state = DD_VISIT_ASSIGNED;
        x->caregiver = m.caregiver;
        x->eta_us = m.eta_us;
        x->planned_end_us = m.end_us;
        x->travel_s = m.travel_s;
        if (dd_plan_add(m.caregiver, x) != 0)
            return 1;
        km += m.travel_s * CC_GEO_SPEED_M_PER_S / 1000.0;
        placed++;
    }
    if (getenv("SPAN")) {   /* how many caregivers' plans leave their district */
        size_t cross = 0;
        for (size_t i = 0; i < ncg; i++) {
            int d = (int) (i % 3), out = 0;
            for (size_t k = 0; k < cgs[i]->nplan; k++) {
                double lon = cgs[i]->plan[k]->lon - (120.15 + d * 0.0365);
                out |= lon < -0.011 || lon > 0.011;
            }
            cross += out;
        }
        printf("caregivers with a visit outside their district: %zu of %zu\n", cross, ncg);
    }
    printf("per decision pass: %.1f usable days read, %.1f caregivers left unread by their box, "
           "%.2f models of %.1f days\n", (double) st.days / (double) st.decisions,
           (double) st.unread / (double) st.decisions, (double) st.models / (double) st.decisions,
           (double) st.built / (double) st.decisions);
    size_t h = nv / 2;
    double sum = 0;
    for (size_t k = h; k < nv; k++)
        sum += cpu[k];
    qsort(cpu + h, nv - h, sizeof *cpu, s_cmp);
    printf("e2e shape: %zu caregivers, %zu visits, %zu placed, %.1f km of trips in; "
           "last half CPU per decision: mean %.1f us, p50 %.1f us, p90 %.1f us "
           "(flush %zu kB%s)\n", ncg, nv, placed, km, sum / (double) (nv - h) / 1e3,
           cpu[h + (nv - h) / 2] / 1e3, cpu[h + (nv - h) * 9 / 10] / 1e3, flush_kb,
           junk_sum < 0 ? "!" : "");
    return 0;
}
