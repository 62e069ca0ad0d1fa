/* meal_rounds.c: meald's courier rounds for a day's lunch slot at several
 * meal points (issue 12, "Meal rounds"), planned by md_rounds_plan: the very
 * code meald runs on its worker thread at a slot's cut-off.
 *
 * Each point: a kitchen in a 20 km x 20 km city; DELIVERIES elders within
 * 3 km of it (uniform over the disc); windows of one hour starting 11:00 to
 * 12:00 in 15-minute steps, one in three with a diet; cut-off 10:00,
 * hot-food limit 40 min; couriers E_BIKES (12) e-bikes (15 km/h, box of 8), 2 cars
 * (25 km/h, box of 12), 2 on foot (5 km/h, box of 5), shifts 10:00-14:00.
 * Seeded (xorshift), so every run plans the same slots.
 *
 * Per point and in total: the solver's wall time to plan the slot (the
 * budget is meald's --round-plan-ms), couriers and rounds used, total ride
 * (km and courier-minutes away from the kitchen), the worst ride from the
 * kitchen to a door against the limit, meals unserved and why; then every
 * delivery re-checked here with travel of its own (haversine x 1.3 at the
 * courier's speed, not libvrp's chord): in its window, within the limit,
 * box, shift, rounds of a courier in turn, every meal once. Any violation
 * is printed and the exit status is 1 (MEAL_ROUNDS_PLANT=1 plants one late
 * hand-over to show it).
 *
 * It plans the slot alone: no HTTP, no SQL (tests/system/test_meal_rounds.py
 * runs the daemon's path).
 *
 * usage: meal_rounds [points [deliveries [budget_ms [seed [e_bikes]]]]] */
#include "md_rounds.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DAY 20783                     /* 2026-11-26, local */
#define MIN_US (60 * 1000000LL)
#define LAT0 30.25
#define LON0 120.15
#define KM_LAT (1.0 / 111.2)
#define KM_LON (1.0 / 96.1)           /* at 30.25 N */
#define RADIUS_KM 3.0
#define HOT_MIN 40

static uint64_t s_rng;

static double s_rand(void)
{
    s_rng ^= s_rng << 13;
    s_rng ^= s_rng >> 7;
    s_rng ^= s_rng << 17;
    return (double)(s_rng >> 11) / 9007199254740992.0;
}

static int64_t s_at(int h, int m)
{
    return md_day_start_us(DAY) + ((int64_t)h * 60 + m) * MIN_US;
}

static double s_metres(double la1, double lo1, double la2, double lo2)
{
    const double r = 6371000.0, d = M_PI / 180.0;
    double a = sin((la2 - la1) * d / 2), b = sin((lo2 - lo1) * d / 2);
    double h = a * a + cos(la1 * d) * cos(la2 * d) * b * b;
    return 2 * r * asin(sqrt(h)) * 1.3;
}

static double s_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

typedef struct {
    int couriers, rounds, served, unserved, violations;
    int why[MD_UNSERVED_REASONS];
    double km, ride_min, worst_ride_s, plan_s, late_s;
} s_stats_t;

/* The independent check of one plan; adds to st, prints each violation. */
static void s_check(int point, const md_round_input_t *in, const md_round_plan_t *p,
                    s_stats_t *st)
{
    const int64_t tol = 2000000;
    int *seen = calloc(in->nmeals + 1, sizeof *seen);
    int *used = calloc(in->ncouriers + 1, sizeof *used);
    if (!seen || !used) {
        fprintf(stderr, "out of memory\n");
        exit(2);
    }
#define BAD(...) do { printf("point %d: VIOLATION: ", point); printf(__VA_ARGS__); \
                      printf("\n"); st->violations++; } while (0)
    for (size_t r = 0; r < p->nrounds; r++) {
        const md_round_t *rd = &p->rounds[r];
        const md_round_courier_t *c = &in->couriers[rd->courier];
        double mps = c->speed_kmh / 3.6;
        used[rd->courier] = 1;
        st->rounds++;
        if ((int)rd->nstops > c->capacity)
            BAD("round %zu: %zu meals in a box of %d", r, rd->nstops, c->capacity);
        if (rd->depart_us + tol < c->shift_start_us || rd->depart_us + tol < in->depart_us
            || rd->return_us > c->shift_end_us + tol)
            BAD("round %zu outside the shift or before the cut-off", r);
        for (size_t q = 0; q < r; q++)
            if (p->rounds[q].courier == rd->courier && p->rounds[q].return_us > rd->depart_us
                && rd->return_us > p->rounds[q].depart_us)
                BAD("rounds %zu and %zu of one courier overlap", q, r);
        double la = in->lat, lo = in->lon;
        int64_t t = rd->depart_us;
        for (size_t s = 0; s < rd->nstops; s++) {
            const md_round_meal_t *m = &in->meals[rd->stops[s].meal];
            seen[rd->stops[s].meal]++;
            double metres = s_metres(la, lo, m->lat, m->lon);
            int64_t leg = (int64_t)(metres / mps * 1e6);
            st->km += metres / 1000;
            t += leg;
            int64_t eta = rd->stops[s].eta_us;
            if (t > eta + tol + leg / 100)
                BAD("round %zu stop %zu: cannot be at the door by its eta", r, s);
            if (eta < m->window_start_us - tol || eta > m->window_end_us + tol)
                BAD("round %zu stop %zu: eta outside the window", r, s);
            double ride = (double)(t - rd->depart_us) / 1e6;
            if (ride > HOT_MIN * 60 + 2 + (double)leg / 1e8)
                BAD("round %zu stop %zu: ride %.0f s over the hot-food limit", r, s, ride);
            if (ride > st->worst_ride_s)
                st->worst_ride_s = ride;
            t = (eta > t ? eta : t) + MD_ROUND_SERVICE_S * 1000000LL;
            la = m->lat;
            lo = m->lon;
        }
        double back = s_metres(la, lo, in->lat, in->lon);
        st->km += back / 1000;
        t += (int64_t)(back / mps * 1e6);
        if (t > rd->return_us + tol + (int64_t)(back / mps * 1e4))
            BAD("round %zu: back at the kitchen later than it says", r);
        st->ride_min += (double)(t - rd->depart_us) / 60e6;
        st->served += (int)rd->nstops;
    }
    for (size_t u = 0; u < p->nunserved; u++) {
        seen[p->unserved[u].meal]++;
        st->unserved++;
        for (int k = 0; k < MD_UNSERVED_REASONS; k++)
            if (strcmp(md_unserved_names[k], p->unserved[u].reason) == 0)
                st->why[k]++;
    }
    for (size_t i = 0; i < in->nmeals; i++)
        if (seen[i] != 1)
            BAD("meal %zu appears %d times", i, seen[i]);
    for (size_t c = 0; c < in->ncouriers; c++)
        st->couriers += used[c];
#undef BAD
    free(seen);
    free(used);
}

static void s_courier(md_round_input_t *in, md_vehicle_t v, double kmh, int cap)
{
    md_round_courier_t *c = &in->couriers[in->ncouriers];
    memset(c, 0, sizeof *c);
    snprintf(c->courier_id, sizeof c->courier_id, "courier-%zu", in->ncouriers);
    c->vehicle = v;
    c->speed_kmh = kmh;
    c->capacity = cap;
    c->shift_start_us = s_at(10, 0);
    c->shift_end_us = s_at(14, 0);
    in->ncouriers++;
}

static void s_row(const char *what, const s_stats_t *st, int deliveries)
{
    printf("%-7s %9d %6.2f %8d %6d %8.1f %9.0f %7.1f/%d %8d %5d\n", what, deliveries,
           st->plan_s, st->couriers, st->rounds, st->km, st->ride_min, st->worst_ride_s / 60,
           HOT_MIN, st->unserved, st->violations);
}

int main(int argc, char **argv)
{
    int npoints = argc > 1 ? atoi(argv[1]) : 5;
    int ndel = argc > 2 ? atoi(argv[2]) : 200;
    int budget_ms = argc > 3 ? atoi(argv[3]) : 500;
    s_rng = argc > 4 ? strtoull(argv[4], NULL, 10) : 20261207;
    int nbikes = argc > 5 ? atoi(argv[5]) : 12;
    if (npoints <= 0 || ndel <= 0 || budget_ms <= 0 || s_rng == 0 || nbikes < 0) {
        fprintf(stderr, "usage: meal_rounds [points [deliveries [budget_ms [seed [e_bikes]]]]]"
                        "\n");
        return 2;
    }
    printf("meal rounds: %d points x %d deliveries, lunch, cut-off 10:00, hot-food limit "
           "%d min, solver budget %d ms, seed %llu; couriers per point: %d e-bikes, 2 cars, "
           "2 on foot\n", npoints, ndel, HOT_MIN, budget_ms, (unsigned long long)s_rng, nbikes);
    printf("%-7s %9s %6s %8s %6s %8s %9s %9s %8s %5s\n", "point", "meals", "plan_s",
           "couriers", "rounds", "ride_km", "ride_min", "worst/lim", "unserved", "viol");
    s_stats_t all;
    memset(&all, 0, sizeof all);
    double plan_max = 0;
    for (int k = 0; k < npoints; k++) {
        md_round_input_t in;
        memset(&in, 0, sizeof in);
        in.lat = LAT0 + (s_rand() - 0.5) * 14 * KM_LAT;   /* kitchens in the city's middle */
        in.lon = LON0 + (s_rand() - 0.5) * 14 * KM_LON;
        in.depart_us = s_at(10, 0);
        in.hot_limit_s = HOT_MIN * 60;
        in.time_limit_s = budget_ms / 1000.0;
        in.meals = calloc((size_t)ndel, sizeof *in.meals);
        in.couriers = calloc((size_t)nbikes + 4, sizeof *in.couriers);
        if (!in.meals || !in.couriers)
            return 2;
        in.nmeals = (size_t)ndel;
        for (int i = 0; i < ndel; i++) {
            md_round_meal_t *m = &in.meals[i];
            double r = RADIUS_KM * sqrt(s_rand()), a = 2 * M_PI * s_rand();
            snprintf(m->order_id, sizeof m->order_id, "meal-%d-%d", k, i);
            snprintf(m->diet, sizeof m->diet, "%s", s_rand() < 1.0 / 3 ? "soft" : "");
            m->lat = in.lat + r * cos(a) * KM_LAT;
            m->lon = in.lon + r * sin(a) * KM_LON;
            m->window_start_us = s_at(11, 0) + (int64_t)(s_rand() * 5) * 15 * MIN_US;
            m->window_end_us = m->window_start_us + 60 * MIN_US;
        }
        for (int i = 0; i < nbikes; i++)
            s_courier(&in, MD_E_BIKE, 15, 8);
        for (int i = 0; i < 2; i++)
            s_courier(&in, MD_CAR, 25, 12);
        for (int i = 0; i < 2; i++)
            s_courier(&in, MD_FOOT, 5, 5);
        md_round_plan_t p;
        double t0 = s_now();
        if (md_rounds_plan(&in, &p) != 0) {
            fprintf(stderr, "md_rounds_plan: out of memory\n");
            return 2;
        }
        s_stats_t st;
        memset(&st, 0, sizeof st);
        st.plan_s = s_now() - t0;
        /* MEAL_ROUNDS_PLANT=1: one hand-over 10 min past its window, to see
         * the check catch it (exit 1). */
        if (k == 0 && p.nrounds > 0 && p.rounds[0].nstops > 0 && getenv("MEAL_ROUNDS_PLANT"))
            p.rounds[0].stops[0].eta_us =
                in.meals[p.rounds[0].stops[0].meal].window_end_us + 10 * MIN_US;
        s_check(k, &in, &p, &st);
        char name[16];
        snprintf(name, sizeof name, "%d", k + 1);
        s_row(name, &st, ndel);
        all.couriers += st.couriers;
        all.rounds += st.rounds;
        all.served += st.served;
        all.unserved += st.unserved;
        all.violations += st.violations;
        all.km += st.km;
        all.ride_min += st.ride_min;
        all.plan_s += st.plan_s;
        for (int r = 0; r < MD_UNSERVED_REASONS; r++)
            all.why[r] += st.why[r];
        if (st.worst_ride_s > all.worst_ride_s)
            all.worst_ride_s = st.worst_ride_s;
        if (st.plan_s > plan_max)
            plan_max = st.plan_s;
        md_round_plan_free(&p);
        free(in.meals);
        free(in.couriers);
    }
    s_row("total", &all, npoints * ndel);
    printf("served %d of %d; unserved:", all.served, npoints * ndel);
    for (int r = 0; r < MD_UNSERVED_REASONS; r++)
        if (all.why[r])
            printf(" %s %d", md_unserved_names[r], all.why[r]);
    printf("%s\n", all.unserved ? "" : " none");
    printf("slowest slot plan %.2f s; every delivery re-checked (window, hot-food limit, box, "
           "shift, rounds in turn): %d violations\n", plan_max, all.violations);
    return all.violations ? 1 : 0;
}
