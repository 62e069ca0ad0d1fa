/* md_rounds_test: the rounds model (meals and couriers -> libvrp) and the
 * plan read back, checked by an independent simulation (own great-circle
 * travel, not the solver's): every meal once, windows, hot-food limit,
 * box capacity, shifts, a courier's rounds one after another. A planted
 * violation shows the check fails. Pure, no I/O. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "md_rounds.h"

#define DAY 20783                     /* 2026-11-26, local */
#define MIN_US (60 * 1000000LL)
#define KLAT 31.2304
#define KLON 121.4737

static int64_t s_at(int h, int m)
{
    return md_day_start_us(DAY) + ((int64_t)h * 60 + m) * MIN_US;
}

/* Street metres: haversine (R 6371 km) x 1.3, written apart from libvrp. */
static double s_metres(double la1, double lo1, double la2, double lo2)
{
    const double r = 6371000.0, d = M_PI / 180.0;
    double a = sin((la2 - la1) * d / 2), b = sin((lo2 - lo1) * d / 2);
    double h = a * a + cos(la1 * d) * cos(la2 * d) * b * b;
    return 2 * r * asin(sqrt(h)) * 1.3;
}

static int64_t s_travel_us(const md_round_courier_t *c, double la1, double lo1, double la2,
                           double lo2)
{
    return (int64_t)(s_metres(la1, lo1, la2, lo2) / (c->speed_kmh / 3.6) * 1e6);
}

/* The independent check. 0, or -1 with why (the first word names the rule
 * broken: box, shift, eta, window, hot, return, overlap, meal). Tolerance:
 * 1 % of a leg and 2 s (two great-circle formulas, rounding to us). */
static int s_check(const md_round_input_t *in, const md_round_plan_t *p, char *why, size_t n)
{
    int *seen = calloc(in->nmeals + 1, sizeof *seen);
    const int64_t tol = 2000000;
    int rc = -1;
    assert_non_null(seen);
    for (size_t r = 0; r < p->nrounds; r++) {
        const md_round_t *rd = &p->rounds[r];
        const md_round_courier_t *c = &in->couriers[rd->courier];
        if ((int)rd->nstops > c->capacity) {
            snprintf(why, n, "box: round %zu: %zu meals, box of %d", r, rd->nstops,
                     c->capacity);
            goto out;
        }
        if (rd->depart_us + tol < c->shift_start_us || rd->depart_us + tol < in->depart_us
            || rd->return_us > c->shift_end_us + tol) {
            snprintf(why, n, "shift: round %zu outside the shift", r);
            goto out;
        }
        double la = in->lat, lo = in->lon;
        int64_t t = rd->depart_us;
        for (size_t s = 0; s < rd->nstops; s++) {
            const md_round_meal_t *m = &in->meals[rd->stops[s].meal];
            seen[rd->stops[s].meal]++;
            int64_t leg = s_travel_us(c, la, lo, m->lat, m->lon);
            t += leg;
            int64_t eta = rd->stops[s].eta_us;
            if (t > eta + tol + leg / 100) {
                snprintf(why, n, "eta: round %zu stop %zu: cannot be there by its eta", r, s);
                goto out;
            }
            if (eta < m->window_start_us - tol || eta > m->window_end_us + tol) {
                snprintf(why, n, "window: round %zu stop %zu: eta outside the window", r, s);
                goto out;
            }
            /* Leaving the kitchen to arriving at the door (libvrp's max_ride). */
            if (t - rd->depart_us > (int64_t)in->hot_limit_s * 1000000 + tol + leg / 100) {
                snprintf(why, n, "hot: round %zu stop %zu: ride over the hot-food limit", r,
                         s);
                goto out;
            }
            t = (eta > t ? eta : t) + MD_ROUND_SERVICE_S * 1000000LL;
            la = m->lat;
            lo = m->lon;
        }
        int64_t back = s_travel_us(c, la, lo, in->lat, in->lon);
        if (t + back > rd->return_us + tol + back / 100) {
            snprintf(why, n, "return: round %zu returns before it can", r);
            goto out;
        }
        /* A courier's rounds follow one another. */
        for (size_t q = 0; q < r; q++)
            if (p->rounds[q].courier == rd->courier && p->rounds[q].return_us > rd->depart_us
                && rd->return_us > p->rounds[q].depart_us) {
                snprintf(why, n, "overlap: rounds %zu and %zu of one courier", q, r);
                goto out;
            }
    }
    for (size_t u = 0; u < p->nunserved; u++)
        seen[p->unserved[u].meal]++;
    for (size_t i = 0; i < in->nmeals; i++)
        if (seen[i] != 1) {
            snprintf(why, n, "meal: meal %zu appears %d times", i, seen[i]);
            goto out;
        }
    rc = 0;
out:
    free(seen);
    return rc;
}

/* The check must fail, for the rule named first in why. */
static void s_caught(const md_round_input_t *in, const md_round_plan_t *p, const char *rule)
{
    char why[160] = "";
    assert_int_equal(s_check(in, p, why, sizeof why), -1);
    if (strncmp(why, rule, strlen(rule)) != 0)
        fail_msg("planted %s, caught: %s", rule, why);
}

static void s_feasible(const md_round_input_t *in, const md_round_plan_t *p)
{
    char why[160] = "";
    if (s_check(in, p, why, sizeof why) != 0)
        fail_msg("%s", why);
}

static uint64_t s_rng = 88172645463325252ULL;
static double s_rand(void)
{
    s_rng ^= s_rng << 13;
    s_rng ^= s_rng >> 7;
    s_rng ^= s_rng << 17;
    return (double)(s_rng >> 11) / 9007199254740992.0;
}

static void s_input(md_round_input_t *in, size_t nmeals, double radius_deg)
{
    memset(in, 0, sizeof *in);
    in->lat = KLAT;
    in->lon = KLON;
    in->depart_us = s_at(10, 0);
    in->hot_limit_s = 40 * 60;
    /* Iterations, not time: the same plan however busy the machine. */
    in->time_limit_s = 0;
    in->max_iterations = 5000;
    in->meals = calloc(nmeals + 1, sizeof *in->meals);
    in->nmeals = nmeals;
    for (size_t i = 0; i < nmeals; i++) {
        md_round_meal_t *m = &in->meals[i];
        snprintf(m->order_id, sizeof m->order_id, "00000000-0000-0000-0000-%012u", (unsigned)i % 1000000u);
        snprintf(m->diet, sizeof m->diet, "%s", i % 3 ? "soft" : "");
        m->lat = KLAT + (s_rand() * 2 - 1) * radius_deg;
        m->lon = KLON + (s_rand() * 2 - 1) * radius_deg;
        m->window_start_us = s_at(11, 0) + (int64_t)(s_rand() * 60) * MIN_US;
        m->window_end_us = m->window_start_us + 45 * MIN_US;
    }
}

static void s_courier(md_round_input_t *in, md_vehicle_t v, double kmh, int cap, int h0,
                      int h1)
{
    in->couriers = realloc(in->couriers, (in->ncouriers + 1) * sizeof *in->couriers);
    md_round_courier_t *c = &in->couriers[in->ncouriers];
    memset(c, 0, sizeof *c);
    snprintf(c->courier_id, sizeof c->courier_id, "c%zu", in->ncouriers);
    c->vehicle = v;
    c->speed_kmh = kmh;
    c->capacity = cap;
    c->shift_start_us = s_at(h0, 0);
    c->shift_end_us = s_at(h1, 0);
    in->ncouriers++;
}

static void s_free(md_round_input_t *in)
{
    free(in->meals);
    free(in->couriers);
}

static void test_split(void **state)
{
    (void)state;
    int64_t st[MD_ROUNDS_PER_COURIER_MAX], en[MD_ROUNDS_PER_COURIER_MAX];
    assert_int_equal(md_rounds_split(s_at(10, 0), s_at(10, 0), 4800, st, en), 0);
    /* 10:00-14:00 in rounds of 80 min: three. */
    assert_int_equal(md_rounds_split(s_at(10, 0), s_at(14, 0), 4800, st, en), 3);
    assert_true(st[1] == s_at(11, 20) && en[2] == s_at(14, 0));
    /* 10:00-13:00: 80 + 80 + 20; the short tail joins the second round. */
    assert_int_equal(md_rounds_split(s_at(10, 0), s_at(13, 0), 4800, st, en), 2);
    assert_true(en[1] == s_at(13, 0));
    /* A whole day: at most MD_ROUNDS_PER_COURIER_MAX, the last to the end. */
    assert_int_equal(md_rounds_split(s_at(0, 0), s_at(23, 59), 4800, st, en),
                     MD_ROUNDS_PER_COURIER_MAX);
    assert_true(en[MD_ROUNDS_PER_COURIER_MAX - 1] == s_at(23, 59));
}

static int s_rounds_of(const md_round_plan_t *p, int courier)
{
    int k = 0;
    for (size_t r = 0; r < p->nrounds; r++)
        k += p->rounds[r].courier == courier;
    return k;
}

static const char *s_reason_of(const md_round_plan_t *p, int meal)
{
    for (size_t u = 0; u < p->nunserved; u++)
        if (p->unserved[u].meal == meal)
            return p->unserved[u].reason;
    return NULL;
}

static void test_plan_is_feasible(void **state)
{
    (void)state;
    md_round_input_t in;
    s_input(&in, 40, 0.02);                 /* about 2 km around the kitchen */
    s_courier(&in, MD_FOOT, 5, 6, 10, 14);
    s_courier(&in, MD_E_BIKE, 15, 10, 10, 14);
    s_courier(&in, MD_E_BIKE, 15, 10, 10, 14);
    s_courier(&in, MD_CAR, 25, 12, 9, 13);
    md_round_plan_t p;
    assert_int_equal(md_rounds_plan(&in, &p), 0);
    s_feasible(&in, &p);
    /* Enough couriers for 40 meals near by: all served. */
    for (size_t u = 0; u < p.nunserved; u++)
        print_message("unserved %d %s\n", p.unserved[u].meal, p.unserved[u].reason);
    assert_int_equal(p.nunserved, 0);
    assert_true(p.nrounds >= 4);

    /* Planted violations: the check sees each, as what it is. */
    md_round_t *r = &p.rounds[0];
    md_round_stop_t *st = &r->stops[0];
    int64_t keep = st->eta_us;
    st->eta_us = in.meals[st->meal].window_end_us + 10 * MIN_US;
    s_caught(&in, &p, "window");
    st->eta_us = r->depart_us + 1000000;    /* sooner than the ride takes */
    s_caught(&in, &p, "eta");
    st->eta_us = keep;
    r->nstops--;                            /* its last meal nowhere */
    s_caught(&in, &p, "meal");
    r->nstops++;
    int64_t dep = r->depart_us;
    r->depart_us = in.couriers[r->courier].shift_start_us - 3600 * 1000000LL;
    s_caught(&in, &p, "shift");
    r->depart_us = dep;
    int cap = in.couriers[r->courier].capacity;
    in.couriers[r->courier].capacity = (int)r->nstops - 1;
    s_caught(&in, &p, "box");
    in.couriers[r->courier].capacity = cap;
    int hot = in.hot_limit_s;
    in.hot_limit_s = 30;                    /* every ride is longer than 30 s */
    s_caught(&in, &p, "hot");
    in.hot_limit_s = hot;
    int64_t ret = r->return_us;
    r->return_us = st->eta_us;              /* back before the first hand-over ends */
    s_caught(&in, &p, "return");
    r->return_us = ret;
    s_feasible(&in, &p);                    /* all put back */
    md_round_plan_free(&p);
    s_free(&in);
}

/* A car reaches what a walker cannot within the hot-food limit: the far
 * meals go by car, every ride within the limit; with the walker alone they
 * are unserved for the limit. */
static void test_hot_food_limit(void **state)
{
    (void)state;
    md_round_input_t in;
    s_input(&in, 10, 0.003);                /* near: a few hundred metres */
    for (size_t i = 5; i < 10; i++) {       /* far: about 4 km north */
        in.meals[i].lat = KLAT + 0.03 + 0.001 * (double)i;
        in.meals[i].lon = KLON;
    }
    s_courier(&in, MD_FOOT, 5, 10, 10, 14);
    s_courier(&in, MD_CAR, 25, 10, 10, 14);
    md_round_plan_t p;
    assert_int_equal(md_rounds_plan(&in, &p), 0);
    s_feasible(&in, &p);
    assert_int_equal(p.nunserved, 0);
    for (size_t r = 0; r < p.nrounds; r++)
        for (size_t s = 0; s < p.rounds[r].nstops; s++)
            if (p.rounds[r].stops[s].meal >= 5)
                assert_int_equal(p.rounds[r].courier, 1);
    md_round_plan_free(&p);

    in.ncouriers = 1;                       /* the walker alone */
    assert_int_equal(md_rounds_plan(&in, &p), 0);
    s_feasible(&in, &p);
    assert_int_equal(p.nunserved, 5);
    for (int i = 5; i < 10; i++)
        assert_string_equal(s_reason_of(&p, i), "hot_food_limit");
    md_round_plan_free(&p);

    /* A limit of 5 min: even the car cannot, the near ones still go (one
     * window: rounds of 10 min have no time to wait). */
    in.ncouriers = 2;
    for (size_t i = 0; i < 10; i++) {
        in.meals[i].window_start_us = s_at(11, 0);
        in.meals[i].window_end_us = s_at(11, 45);
    }
    in.hot_limit_s = 5 * 60;
    assert_int_equal(md_rounds_plan(&in, &p), 0);
    s_feasible(&in, &p);
    for (int i = 0; i < 10; i++)
        if (i < 5)
            assert_null(s_reason_of(&p, i));
        else
            assert_string_equal(s_reason_of(&p, i), "hot_food_limit");
    md_round_plan_free(&p);
    s_free(&in);
}

/* Windows early and late in the slot, one courier with a box of 4: two
 * rounds, one per group; with a box of 8 and one window, one round. */
static void test_two_rounds(void **state)
{
    (void)state;
    md_round_input_t in;
    s_input(&in, 8, 0.01);
    for (size_t i = 0; i < 8; i++) {
        in.meals[i].window_start_us = i < 4 ? s_at(10, 30) : s_at(12, 0);
        in.meals[i].window_end_us = i < 4 ? s_at(11, 15) : s_at(12, 45);
    }
    s_courier(&in, MD_E_BIKE, 15, 4, 10, 14);
    md_round_plan_t p;
    assert_int_equal(md_rounds_plan(&in, &p), 0);
    s_feasible(&in, &p);
    assert_int_equal(p.nunserved, 0);
    assert_int_equal(p.nrounds, 2);
    assert_int_equal(s_rounds_of(&p, 0), 2);
    assert_true(p.rounds[0].return_us <= p.rounds[1].depart_us);
    for (size_t s = 0; s < 4; s++) {        /* by departure: the early ones first */
        assert_true(p.rounds[0].stops[s].meal < 4);
        assert_true(p.rounds[1].stops[s].meal >= 4);
    }
    /* Planted: the first round still out when the second leaves. */
    int64_t ret = p.rounds[0].return_us;
    p.rounds[0].return_us = p.rounds[1].depart_us + MIN_US;
    s_caught(&in, &p, "overlap");
    p.rounds[0].return_us = ret;
    md_round_plan_free(&p);

    /* A box too small for the slot: what does not fit is no_room. */
    for (size_t i = 0; i < 8; i++) {
        in.meals[i].window_start_us = s_at(11, 30);
        in.meals[i].window_end_us = s_at(12, 15);
    }
    assert_int_equal(md_rounds_plan(&in, &p), 0);
    s_feasible(&in, &p);
    assert_int_equal(p.nrounds, 1);
    assert_int_equal(p.nunserved, 4);
    for (size_t u = 0; u < p.nunserved; u++)
        assert_string_equal(p.unserved[u].reason, "no_room");
    md_round_plan_free(&p);

    /* A box of 8: one round does (fewer rides are shorter). */
    in.couriers[0].capacity = 8;
    assert_int_equal(md_rounds_plan(&in, &p), 0);
    s_feasible(&in, &p);
    assert_int_equal(p.nunserved, 0);
    assert_int_equal(p.nrounds, 1);
    md_round_plan_free(&p);
    s_free(&in);
}

/* Shifts: a courier who starts at 11:30 leaves no sooner; one whose shift
 * ends at 11:00 serves nothing of a noon slot. */
static void test_shifts(void **state)
{
    (void)state;
    md_round_input_t in;
    s_input(&in, 6, 0.01);
    s_courier(&in, MD_E_BIKE, 15, 10, 7, 11);
    s_courier(&in, MD_E_BIKE, 15, 10, 11, 14);
    in.couriers[1].shift_start_us = s_at(11, 30);
    for (size_t i = 0; i < 6; i++) {
        in.meals[i].window_start_us = s_at(11, 0);
        in.meals[i].window_end_us = s_at(12, 30);
    }
    md_round_plan_t p;
    assert_int_equal(md_rounds_plan(&in, &p), 0);
    s_feasible(&in, &p);
    assert_int_equal(p.nunserved, 0);
    assert_int_equal(s_rounds_of(&p, 0), 0);
    for (size_t r = 0; r < p.nrounds; r++)
        assert_true(p.rounds[r].depart_us >= s_at(11, 30));
    md_round_plan_free(&p);
    s_free(&in);
}

static void test_unserved_reasons(void **state)
{
    (void)state;
    md_round_input_t in;
    s_input(&in, 4, 0.005);
    for (size_t i = 0; i < 4; i++) {
        in.meals[i].window_start_us = s_at(11, 0);
        in.meals[i].window_end_us = s_at(11, 45);
    }
    /* Meal 1: 15 km away, more than 40 min at 15 km/h. */
    in.meals[1].lat = KLAT + 0.135;
    /* Meal 2: its window is over before anyone leaves. */
    in.meals[2].window_start_us = s_at(8, 0);
    in.meals[2].window_end_us = s_at(8, 30);
    s_courier(&in, MD_E_BIKE, 15, 5, 10, 14);
    md_round_plan_t p;
    assert_int_equal(md_rounds_plan(&in, &p), 0);
    s_feasible(&in, &p);
    assert_string_equal(s_reason_of(&p, 1), "hot_food_limit");
    assert_string_equal(s_reason_of(&p, 2), "window");
    assert_null(s_reason_of(&p, 0));
    assert_null(s_reason_of(&p, 3));
    md_round_plan_free(&p);

    /* No courier on shift after the cut-off. */
    in.couriers[0].shift_start_us = s_at(7, 0);
    in.couriers[0].shift_end_us = s_at(9, 0);
    assert_int_equal(md_rounds_plan(&in, &p), 0);
    assert_int_equal(p.nunserved, 4);
    for (int i = 0; i < 4; i++)
        assert_string_equal(s_reason_of(&p, i), "no_courier");
    md_round_plan_free(&p);

    /* One round of one box: the others find no room. */
    in.couriers[0].shift_start_us = s_at(10, 0);
    in.couriers[0].shift_end_us = s_at(11, 50);
    in.couriers[0].capacity = 1;
    in.meals[1] = in.meals[0];
    in.meals[2] = in.meals[3];
    assert_int_equal(md_rounds_plan(&in, &p), 0);
    s_feasible(&in, &p);
    assert_int_equal(p.nrounds, 1);
    assert_int_equal(p.nunserved, 3);
    for (size_t u = 0; u < p.nunserved; u++)
        assert_string_equal(p.unserved[u].reason, "no_room");
    md_round_plan_free(&p);

    /* A place libvrp cannot read (latitude out of range) is reported, not
     * dropped. */
    in.couriers[0].capacity = 4;
    in.meals[3].lat = 95;
    assert_int_equal(md_rounds_plan(&in, &p), 0);
    assert_int_equal(p.nunserved, 1);
    assert_string_equal(s_reason_of(&p, 3), "window");
    md_round_plan_free(&p);
    s_free(&in);
}

static void test_speeds_and_json(void **state)
{
    (void)state;
    md_round_input_t in;
    s_input(&in, 12, 0.04);                 /* up to about 6 km */
    s_courier(&in, MD_FOOT, 5, 4, 10, 14);
    s_courier(&in, MD_CAR, 25, 12, 10, 14);
    md_round_plan_t p;
    assert_int_equal(md_rounds_plan(&in, &p), 0);
    char why[160] = "";
    if (s_check(&in, &p, why, sizeof why))
        fail_msg("%s", why);
    json_t *o = md_rounds_json(&in, &p);
    assert_non_null(o);
    assert_int_equal(json_array_size(json_object_get(o, "couriers")), 2);
    assert_int_equal(json_integer_value(json_object_get(o, "deliveries")), 12);
    size_t stops = 0, i, k;
    json_t *c, *r;
    json_array_foreach(json_object_get(o, "couriers"), i, c)
        json_array_foreach(json_object_get(c, "rounds"), k, r) {
            size_t n = json_array_size(json_object_get(r, "stops"));
            assert_int_equal(json_integer_value(json_object_get(r, "load")), n);
            const char *eta = json_string_value(
                json_object_get(json_array_get(json_object_get(r, "stops"), 0), "eta"));
            assert_non_null(strstr(eta, "+08:00"));
            stops += n;
        }
    assert_int_equal(stops + json_array_size(json_object_get(o, "unserved")), 12);
    json_decref(o);
    md_round_plan_free(&p);
    s_free(&in);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_split),
        cmocka_unit_test(test_plan_is_feasible),
        cmocka_unit_test(test_hot_food_limit),
        cmocka_unit_test(test_two_rounds),
        cmocka_unit_test(test_shifts),
        cmocka_unit_test(test_unserved_reasons),
        cmocka_unit_test(test_speeds_and_json),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
