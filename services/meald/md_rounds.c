/* md_rounds: see md_rounds.h. */
#include "md_rounds.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cc_util.h"
#include "vrp.h"

#define S_US 1000000.0

/* One problem for every courier: travel is street metres at 1 m/s, so a
 * courier's time_factor is 1 / its speed in m/s (libvrp scales travel per
 * vehicle; distances, the objective, stay metres). */
#define S_BASE_MPS 1.0

/* Why a meal stays unserved, as libvrp says it (computed against every
 * round with an otherwise empty route). */
enum { S_NO_ROOM, S_HOT, S_WINDOW, S_CAPACITY, S_OTHER };
static const char *const s_reason_names[] = {"no_room", "hot_food_limit", "window",
                                             "capacity", "no_room"};

const char *const md_unserved_names[MD_UNSERVED_REASONS] = {
    "no_courier", "window", "hot_food_limit", "capacity", "no_room"};

static int s_rank(vrp_reason_t r)
{
    switch (r) {
    case VRP_REASON_NO_ROOM: return S_NO_ROOM;
    case VRP_REASON_MAX_DURATION: return S_HOT;
    case VRP_REASON_TIME_WINDOW: return S_WINDOW;
    case VRP_REASON_CAPACITY: return S_CAPACITY;
    default: return S_OTHER;
    }
}

int md_rounds_split(int64_t from_us, int64_t to_us, int64_t round_s, int64_t *starts,
                    int64_t *ends)
{
    if (to_us <= from_us)
        return 0;
    int64_t len = round_s > 0 ? round_s * (int64_t)S_US : to_us - from_us;
    int k = 0;
    for (int64_t t = from_us; t < to_us && k < MD_ROUNDS_PER_COURIER_MAX; t += len) {
        starts[k] = t;
        ends[k] = t + len < to_us ? t + len : to_us;
        k++;
    }
    /* The last round takes what is left of the shift. */
    ends[k - 1] = to_us;
    /* A short tail (under half a round) joins the round before it. */
    if (k > 1 && ends[k - 1] - starts[k - 1] < len / 2) {
        ends[k - 2] = to_us;
        k--;
    }
    return k;
}

static int s_cmp_round(const void *a, const void *b)
{
    const md_round_t *x = a, *y = b;
    if (x->courier != y->courier)
        return x->courier - y->courier;
    return x->depart_us < y->depart_us ? -1 : x->depart_us > y->depart_us;
}

void md_round_plan_free(md_round_plan_t *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->nrounds; i++)
        free(p->rounds[i].stops);
    free(p->rounds);
    free(p->unserved);
    memset(p, 0, sizeof *p);
}

static int s_unserved(md_round_plan_t *out, int meal, const char *reason)
{
    md_unserved_t *grown = realloc(out->unserved, (out->nunserved + 1) * sizeof *grown);
    if (!grown)
        return -1;
    out->unserved = grown;
    out->unserved[out->nunserved].meal = meal;
    out->unserved[out->nunserved].reason = reason;
    out->nunserved++;
    return 0;
}

/* Every courier's rounds in one problem: location 0 the kitchen, then a
 * location and a job per meal libvrp can read (loc_of, meal_at); vehicle v
 * a round of courier vcour[v]. */
int md_rounds_plan(const md_round_input_t *in, md_round_plan_t *out)
{
    memset(out, 0, sizeof *out);
    int64_t t0 = in->depart_us - 86400LL * (int64_t)S_US;   /* keeps solver times positive */
    size_t n = in->nmeals, nc = in->ncouriers;
    int *vcour = malloc((nc * MD_ROUNDS_PER_COURIER_MAX + 1) * sizeof *vcour);
    int *taken = calloc(n + 1, sizeof *taken);
    int *job_of = malloc((n + 1) * sizeof *job_of);
    int *loc_of = malloc((n + 1) * sizeof *loc_of);
    int *meal_at = malloc((n + 1) * sizeof *meal_at);
    vrp_problem_t *p = NULL;
    vrp_plan_t *plan = NULL;
    if (!vcour || !taken || !job_of || !loc_of || !meal_at
        || !(p = vrp_problem_new_points(MD_ROUND_DETOUR, S_BASE_MPS)))
        goto fail;
    if (vrp_problem_add_location(p, in->lat, in->lon) != 0)
        goto fail;
    /* The rounds: every courier's shift from the cut-off on (nothing is
     * cooked before), cut into rounds of twice the hot-food limit. */
    int nv = 0;
    double fastest = 0;   /* the smallest time_factor of a round */
    for (size_t k = 0; k < nc; k++) {
        const md_round_courier_t *c = &in->couriers[k];
        int64_t from = c->shift_start_us > in->depart_us ? c->shift_start_us : in->depart_us;
        int64_t st[MD_ROUNDS_PER_COURIER_MAX], en[MD_ROUNDS_PER_COURIER_MAX];
        int r = md_rounds_split(from, c->shift_end_us, 2 * (int64_t)in->hot_limit_s, st, en);
        double f = S_BASE_MPS / (c->speed_kmh / 3.6);
        for (int i = 0; i < r; i++) {
            vrp_vehicle_t v;
            vrp_vehicle_init(&v, 0, 0);
            v.shift_start = (double)(st[i] - t0) / S_US;
            v.shift_end = (double)(en[i] - t0) / S_US;
            v.capacity[0] = c->capacity;
            v.max_ride = in->hot_limit_s;
            v.time_factor = f;
            if (vrp_problem_add_vehicle(p, &v) < 0)
                goto fail;
            vcour[nv++] = (int)k;
            if (fastest == 0 || f < fastest)
                fastest = f;
        }
    }
    if (nv == 0) {
        /* No round at all after the cut-off: nobody to carry anything. */
        for (size_t m = 0; m < n; m++)
            if (s_unserved(out, (int)m, "no_courier") != 0)
                goto fail;
        goto done;
    }
    for (size_t m = 0; m < n; m++) {
        const md_round_meal_t *ml = &in->meals[m];
        int loc = vrp_problem_add_location(p, ml->lat, ml->lon);
        job_of[m] = -1;
        loc_of[m] = loc;
        if (loc < 0)
            continue;   /* a place libvrp cannot read: reported as a window */
        vrp_job_t job;
        meal_at[loc - 1] = (int)m;
        vrp_job_init(&job, loc);
        job.n_windows = 1;
        job.windows[0].start = (double)(ml->window_start_us - t0) / S_US;
        job.windows[0].end = (double)(ml->window_end_us - t0) / S_US;
        job.service = MD_ROUND_SERVICE_S;
        job.demand[0] = 1;
        job_of[m] = vrp_problem_add_job(p, &job);
    }
    vrp_params_t prm;
    vrp_params_init(&prm);
    prm.objective = VRP_OBJ_DISTANCE;
    prm.seed = 1;
    prm.max_iterations = in->max_iterations;
    prm.time_limit = in->time_limit_s > 0.001 || in->max_iterations > 0 ? in->time_limit_s
                                                                        : 0.001;
    if (!(plan = vrp_plan_new(p)) || vrp_solve(p, &prm, &plan) != 0)
        goto fail;
    for (int v = 0; v < nv; v++) {
        int len = vrp_plan_route_length(plan, v);
        if (len <= 0)
            continue;
        md_round_t *grown = realloc(out->rounds, (out->nrounds + 1) * sizeof *grown);
        if (!grown)
            goto fail;
        out->rounds = grown;
        md_round_t *r = &out->rounds[out->nrounds];
        memset(r, 0, sizeof *r);
        if (!(r->stops = calloc((size_t)len, sizeof *r->stops)))
            goto fail;
        out->nrounds++;
        r->courier = vcour[v];
        r->nstops = (size_t)len;
        int last_loc = 0;
        double last_start = 0;
        for (int i = 0; i < len; i++) {
            int job = vrp_plan_route_job(plan, v, i);
            int loc = vrp_problem_job(p, job)->location;
            double arr = 0, start = 0;
            vrp_plan_stop_times(plan, v, i, &arr, &start);
            if (i == 0)
                r->depart_us = t0 + (int64_t)((arr - vrp_problem_vehicle_time(p, v, 0, loc))
                                              * S_US);
            int meal = meal_at[loc - 1];
            r->stops[i].meal = meal;
            r->stops[i].eta_us = t0 + (int64_t)(start * S_US);
            taken[meal] = 1;
            last_loc = loc;
            last_start = start;
        }
        r->return_us = t0 + (int64_t)((last_start + MD_ROUND_SERVICE_S
                                       + vrp_problem_vehicle_time(p, v, last_loc, 0)) * S_US);
    }
    for (size_t m = 0; m < n; m++) {
        if (taken[m])
            continue;
        int k = job_of[m] < 0 ? S_WINDOW : s_rank(vrp_plan_reason(plan, job_of[m]));
        /* Too far to arrive hot even on the fastest courier's direct ride:
         * the solver may name the window or the shift first (the way back
         * does not fit either), but the limit is what no plan can change. */
        if (job_of[m] >= 0
            && vrp_problem_time(p, 0, loc_of[m]) * fastest > in->hot_limit_s)
            k = S_HOT;
        if (s_unserved(out, (int)m, s_reason_names[k]) != 0)
            goto fail;
    }
    if (out->nrounds > 1)
        qsort(out->rounds, out->nrounds, sizeof *out->rounds, s_cmp_round);
done:
    vrp_plan_destroy(&plan);
    vrp_problem_destroy(&p);
    free(meal_at);
    free(loc_of);
    free(job_of);
    free(taken);
    free(vcour);
    return 0;
fail:
    vrp_plan_destroy(&plan);
    vrp_problem_destroy(&p);
    free(meal_at);
    free(loc_of);
    free(job_of);
    free(taken);
    free(vcour);
    md_round_plan_free(out);
    return -1;
}

json_t *md_rounds_json(const md_round_input_t *in, const md_round_plan_t *p)
{
    json_t *couriers = json_array(), *unserved = json_array();
    size_t served = 0;
    for (size_t c = 0; c < in->ncouriers; c++) {
        const md_round_courier_t *k = &in->couriers[c];
        json_t *rounds = json_array();
        int no = 0;
        for (size_t r = 0; r < p->nrounds; r++) {
            const md_round_t *rd = &p->rounds[r];
            if (rd->courier != (int)c)
                continue;
            json_t *stops = json_array(), *diets = json_object();
            for (size_t s = 0; s < rd->nstops; s++) {
                const md_round_meal_t *m = &in->meals[rd->stops[s].meal];
                char eta[48];
                json_array_append_new(stops, json_pack("{s:s, s:s, s:s}", "order_id",
                                                       m->order_id, "eta",
                                                       cc_time_format(rd->stops[s].eta_us, eta,
                                                                      sizeof eta),
                                                       "diet", m->diet));
                json_t *d = json_object_get(diets, m->diet);
                json_object_set_new(diets, m->diet,
                                    json_integer(d ? json_integer_value(d) + 1 : 1));
            }
            served += rd->nstops;
            char dep[48], ret[48];
            json_array_append_new(rounds, json_pack(
                "{s:i, s:s, s:s, s:I, s:o, s:o}", "round", ++no, "depart_at",
                cc_time_format(rd->depart_us, dep, sizeof dep), "return_at",
                cc_time_format(rd->return_us, ret, sizeof ret), "load",
                (json_int_t)rd->nstops, "by_diet", diets, "stops", stops));
        }
        json_array_append_new(couriers, json_pack("{s:s, s:s, s:f, s:i, s:o}", "courier_id",
                                                  k->courier_id, "vehicle",
                                                  md_vehicle_name(k->vehicle), "speed_kmh",
                                                  k->speed_kmh, "capacity", k->capacity,
                                                  "rounds", rounds));
    }
    for (size_t u = 0; u < p->nunserved; u++)
        json_array_append_new(unserved, json_pack("{s:s, s:s}", "order_id",
                                                  in->meals[p->unserved[u].meal].order_id,
                                                  "reason", p->unserved[u].reason));
    return json_pack("{s:o, s:o, s:I, s:I, s:i}", "couriers", couriers, "unserved", unserved,
                     "deliveries", (json_int_t)in->nmeals, "served", (json_int_t)served,
                     "hot_limit_min", in->hot_limit_s / 60);
}
