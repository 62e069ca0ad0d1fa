/* md_rounds: see md_rounds.h. */
#include "md_rounds.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cc_util.h"
#include "vrp.h"

#define S_US 1000000.0

/* One solver problem per speed until vrp_vehicle_t.time_factor is in main
 * (branch solver-ext); then: one problem at 1 m/s, time_factor = 1/speed
 * per vehicle, and this loop runs once. */
#define S_GROUP_BY_SPEED 1

/* Why a meal stays unserved, most telling first: a meal some round could
 * take alone but the rounds are full says more than one that was out of
 * reach for another group of couriers. */
enum { S_NO_ROOM, S_HOT, S_WINDOW, S_CAPACITY, S_OTHER, S_NONE };
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

static int s_cmp_speed(const void *a, const void *b, void *arg)
{
    const md_round_courier_t *c = arg;
    int x = *(const int *)a, y = *(const int *)b;
    if (c[x].speed_kmh != c[y].speed_kmh)
        return c[x].speed_kmh < c[y].speed_kmh ? -1 : 1;
    return x - y;
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

/* Plan the couriers order[0..nc) (one speed) on the meals not yet taken;
 * append their rounds to out, lower rank[] of what stays. 0, 1 when the
 * group has no round in its shifts, -1 on allocation failure. */
static int s_plan_group(const md_round_input_t *in, const int *order, size_t nc,
                        double time_limit, int *taken, int *rank, md_round_plan_t *out)
{
    int64_t t0 = in->depart_us - 86400LL * (int64_t)S_US;   /* keeps solver times positive */
    size_t n = 0;
    int *jmeal = malloc((in->nmeals + 1) * sizeof *jmeal);
    double *ll = malloc(2 * (in->nmeals + 1) * sizeof *ll);
    int *vcour = malloc((nc * MD_ROUNDS_PER_COURIER_MAX + 1) * sizeof *vcour);
    vrp_problem_t *p = NULL;
    vrp_plan_t *plan = NULL;
    int rc = -1;
    if (!jmeal || !ll || !vcour)
        goto done;
    ll[0] = in->lat;
    ll[1] = in->lon;
    for (size_t i = 0; i < in->nmeals; i++) {
        if (taken[i])
            continue;
        jmeal[n] = (int)i;
        ll[2 * (n + 1)] = in->meals[i].lat;
        ll[2 * (n + 1) + 1] = in->meals[i].lon;
        n++;
    }
    double mps = in->couriers[order[0]].speed_kmh / 3.6;
    if (!(p = vrp_problem_new_geo((int)n + 1, ll, MD_ROUND_DETOUR, mps)))
        goto done;
    int nv = 0;
    for (size_t k = 0; k < nc; k++) {
        const md_round_courier_t *c = &in->couriers[order[k]];
        int64_t from = c->shift_start_us > in->depart_us ? c->shift_start_us : in->depart_us;
        int64_t st[MD_ROUNDS_PER_COURIER_MAX], en[MD_ROUNDS_PER_COURIER_MAX];
        int r = md_rounds_split(from, c->shift_end_us, 2 * (int64_t)in->hot_limit_s, st, en);
        for (int i = 0; i < r; i++) {
            vrp_vehicle_t v;
            vrp_vehicle_init(&v, 0, 0);
            v.shift_start = (double)(st[i] - t0) / S_US;
            v.shift_end = (double)(en[i] - t0) / S_US;
            v.capacity[0] = c->capacity;
            v.max_ride = in->hot_limit_s;
            if (vrp_problem_add_vehicle(p, &v) < 0)
                goto done;
            vcour[nv++] = order[k];
        }
    }
    if (nv == 0) {
        rc = 1;
        goto done;
    }
    /* Jobs in the order of jmeal: job j is meal jmeal[j] (-1 = refused by the
     * solver: a window it cannot read, reported as a window). */
    int *job_of = malloc((n + 1) * sizeof *job_of);
    if (!job_of)
        goto done;
    for (size_t j = 0; j < n; j++) {
        const md_round_meal_t *m = &in->meals[jmeal[j]];
        vrp_job_t job;
        vrp_job_init(&job, (int)j + 1);
        job.n_windows = 1;
        job.windows[0].start = (double)(m->window_start_us - t0) / S_US;
        job.windows[0].end = (double)(m->window_end_us - t0) / S_US;
        job.service = MD_ROUND_SERVICE_S;
        job.demand[0] = 1;
        job_of[j] = vrp_problem_add_job(p, &job);
        if (job_of[j] < 0 && rank[jmeal[j]] > S_WINDOW)
            rank[jmeal[j]] = S_WINDOW;
    }
    vrp_params_t prm;
    vrp_params_init(&prm);
    prm.objective = VRP_OBJ_DISTANCE;
    prm.seed = 1;
    prm.time_limit = time_limit > 0.001 ? time_limit : 0.001;
    if (!(plan = vrp_plan_new(p)) || vrp_solve(p, &prm, &plan) != 0) {
        free(job_of);
        goto done;
    }
    for (int v = 0; v < nv; v++) {
        int len = vrp_plan_route_length(plan, v);
        if (len <= 0)
            continue;
        md_round_t *grown = realloc(out->rounds, (out->nrounds + 1) * sizeof *grown);
        if (!grown) {
            free(job_of);
            goto done;
        }
        out->rounds = grown;
        md_round_t *r = &out->rounds[out->nrounds];
        memset(r, 0, sizeof *r);
        if (!(r->stops = calloc((size_t)len, sizeof *r->stops))) {
            free(job_of);
            goto done;
        }
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
                r->depart_us = t0 + (int64_t)((arr - vrp_problem_time(p, 0, loc)) * S_US);
            int meal = jmeal[loc - 1];   /* location j + 1 is meal jmeal[j] */
            r->stops[i].meal = meal;
            r->stops[i].eta_us = t0 + (int64_t)(start * S_US);
            taken[meal] = 1;
            last_loc = loc;
            last_start = start;
        }
        r->return_us = t0 + (int64_t)((last_start + MD_ROUND_SERVICE_S
                                       + vrp_problem_time(p, last_loc, 0)) * S_US);
    }
    for (size_t j = 0; j < n; j++) {
        if (job_of[j] < 0 || taken[jmeal[j]])
            continue;
        int k = s_rank(vrp_plan_reason(plan, job_of[j]));
        if (k < rank[jmeal[j]])
            rank[jmeal[j]] = k;
    }
    free(job_of);
    rc = 0;
done:
    vrp_plan_destroy(&plan);
    vrp_problem_destroy(&p);
    free(vcour);
    free(ll);
    free(jmeal);
    return rc;
}

int md_rounds_plan(const md_round_input_t *in, md_round_plan_t *out)
{
    memset(out, 0, sizeof *out);
    size_t n = in->nmeals, nc = in->ncouriers;
    int *taken = calloc(n + 1, sizeof *taken);
    int *rank = malloc((n + 1) * sizeof *rank);
    int *order = malloc((nc + 1) * sizeof *order);
    if (!taken || !rank || !order)
        goto fail;
    for (size_t i = 0; i < n; i++)
        rank[i] = S_NONE;
    for (size_t i = 0; i < nc; i++)
        order[i] = (int)i;
    qsort_r(order, nc, sizeof *order, s_cmp_speed, in->couriers);
    size_t ngroups = 0;
    for (size_t i = 0; i < nc; i++)
        ngroups += i == 0 || in->couriers[order[i]].speed_kmh
                                 != in->couriers[order[i - 1]].speed_kmh;
    int any = 0;
    for (size_t i = 0; i < nc && n > 0;) {
        size_t j = i;
        while (j < nc && (!S_GROUP_BY_SPEED
                          || in->couriers[order[j]].speed_kmh
                                 == in->couriers[order[i]].speed_kmh))
            j++;
        size_t left = 0;
        for (size_t m = 0; m < n; m++)
            left += !taken[m];
        if (left == 0)
            break;
        int rc = s_plan_group(in, order + i, j - i, in->time_limit_s / (double)ngroups, taken,
                              rank, out);
        if (rc < 0)
            goto fail;
        any |= rc == 0;
        i = j;
    }
    for (size_t m = 0; m < n; m++) {
        if (taken[m])
            continue;
        md_unserved_t *grown = realloc(out->unserved, (out->nunserved + 1) * sizeof *grown);
        if (!grown)
            goto fail;
        out->unserved = grown;
        out->unserved[out->nunserved].meal = (int)m;
        /* No round at all after the cut-off: nobody to carry it. */
        out->unserved[out->nunserved].reason =
            !any ? "no_courier" : s_reason_names[rank[m] < S_NONE ? rank[m] : S_OTHER];
        out->nunserved++;
    }
    if (out->nrounds > 1)
        qsort(out->rounds, out->nrounds, sizeof *out->rounds, s_cmp_round);
    free(order);
    free(rank);
    free(taken);
    return 0;
fail:
    free(order);
    free(rank);
    free(taken);
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
