/*  vrp_search.c: planning. Regret-2 construction, then ruin-and-recreate under simulated
    annealing (SISR: Christiaens & Vanden Berghe, "Slack Induction by String Removals for
    Vehicle Routing Problems", Transportation Science 54(2), 2020), a granular local search
    (relocate, swap, 2-opt*) on every new best, and for the hierarchical objective a route
    elimination phase (SISR's fleet minimisation with absence counters) before the distance
    phase.

    Determinism: every random choice comes from one xoshiro256** stream seeded by params->seed.
    With max_iterations and no time limit the annealing schedule is iteration-based and the run
    is reproducible bit for bit; with a time limit the schedule follows the clock, so the
    stopping point (not the sequence of choices) depends on machine speed.
*/
#include "vrp_internal.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

//  SISR parameters from the paper (c-bar, L^max, blink rate), and our annealing range.
#define S_CBAR        10.0
#define S_LMAX        10.0
#define S_BLINK       0.01
#define S_NEIGHBOURS  40      //  granular neighbourhood size for ruin and local search
#ifndef S_FLEET_SHARE
#define S_FLEET_SHARE 0.5     //  most of the budget route elimination may take
#endif
#ifndef S_FLEET_STALL
#define S_FLEET_STALL 0.3     //  budget share one failing elimination attempt may take
#endif

typedef struct {
    uint64_t s[4];
} s_rng_t;

static uint64_t s_splitmix(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static void s_rng_seed(s_rng_t *r, uint64_t seed)
{
    for (int i = 0; i < 4; i++)
        r->s[i] = s_splitmix(&seed);
}

static inline uint64_t s_rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

//  xoshiro256** (Blackman & Vigna): fast, good enough statistics for a search.
static inline uint64_t s_next(s_rng_t *r)
{
    uint64_t *s = r->s;
    uint64_t result = s_rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = s_rotl(s[3], 45);
    return result;
}

static inline double s_unif(s_rng_t *r)
{
    return (double) (s_next(r) >> 11) * 0x1.0p-53;
}

static inline int s_below(s_rng_t *r, int n)
{
    return (int) (((s_next(r) >> 32) * (uint64_t) n) >> 32);
}

typedef struct {
    const vrp_problem_t *p;
    const vrp_params_t *params;
    s_rng_t rng;
    int n;                     //  jobs
    int nv;                    //  vehicles
    int k_nb;                  //  neighbours per job
    int *nb;                   //  n * k_nb nearest jobs by distance
    vrp_plan_t *cur;           //  current (annealing) solution
    vrp_plan_t *best;          //  best found
    double cur_cost;
    double best_cost;
    int max_routes;            //  routes allowed (route elimination lowers it)
    int used;                  //  non-empty routes in cur
    int *unassigned;           //  jobs unassigned in cur
    int n_unassigned;
    double pen_unassigned;     //  their total penalty
    //  undo log of one iteration
    vrp_route_t *saved;        //  route copies before the iteration touched them
    int *dirty;                //  stamp per vehicle: saved in this iteration
    int *dirty_list;
    int n_dirty;
    int stamp;
    int *removed;              //  jobs to (re)insert this iteration, then the absent ones
    int n_removed;
    int *absent;               //  jobs left unassigned after recreate
    int n_absent;
    int *touched;              //  jobs whose assignment changed this iteration
    int n_touched;
    int *cls_stamp;            //  per vehicle class: empty route already tried
    int cls_tick;
    int *ruin_stamp;           //  per vehicle: route ruined in this iteration
    double *key;               //  per job sort key for recreate orders
    long *absences;            //  fleet minimisation: times each job was left out
    int *seq;                  //  scratch sequences for local search
    int *seq2;
    double t_start, t_end;     //  clock; t_end 0 when only iterations bound the run
    uint64_t iter;
    uint64_t max_iter;
    long blink_left;           //  positions until the next blink
    bool stop;
} s_search_t;

static double s_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double) ts.tv_sec + (double) ts.tv_nsec * 1e-9;
}

//  Fraction of the budget used, in [0, 1]; sets st->stop at the end.
static double s_progress(s_search_t *st)
{
    double f;
    if (st->t_end > 0) {
        double now = s_now();
        f = (now - st->t_start) / (st->t_end - st->t_start);
        if (st->max_iter && (double) st->iter / (double) st->max_iter > f)
            f = (double) st->iter / (double) st->max_iter;
    }
    else
        f = (double) st->iter / (double) st->max_iter;
    if (f >= 1.0) {
        st->stop = true;
        f = 1.0;
    }
    return f;
}

static int s_copy(vrp_plan_t *dst, const vrp_plan_t *src)
{
    for (int v = 0; v < src->n_veh; v++)
        if (vrp_route_copy(&dst->routes[v], &src->routes[v]))
            return -1;
    if (src->n_jobs == 0)
        return 0;   //  the per-job arrays are not even allocated
    memcpy(dst->route_of, src->route_of, (size_t) src->n_jobs * sizeof *dst->route_of);
    memcpy(dst->pos_of, src->pos_of, (size_t) src->n_jobs * sizeof *dst->pos_of);
    memcpy(dst->reason, src->reason, (size_t) src->n_jobs);
    return 0;
}

static void s_refresh_unassigned(s_search_t *st)
{
    st->n_unassigned = 0;
    st->pen_unassigned = 0;
    for (int j = 0; j < st->n; j++)
        if (st->cur->route_of[j] < 0 && !vrp_job_off(st->p, j)) {
            st->unassigned[st->n_unassigned++] = j;
            st->pen_unassigned += vrp_job_penalty(st->p, j);
        }
    st->used = vrp_plan_vehicles_used(st->cur);
}

//  Remember route v before its first change in this iteration.
static int s_touch_route(s_search_t *st, int v)
{
    if (st->dirty[v] == st->stamp)
        return 0;
    st->dirty[v] = st->stamp;
    st->dirty_list[st->n_dirty++] = v;
    return vrp_route_copy(&st->saved[v], &st->cur->routes[v]);
}

static void s_begin(s_search_t *st)
{
    st->stamp++;
    st->n_dirty = 0;
    st->n_touched = 0;
    st->n_removed = 0;
    st->n_absent = 0;
}

//  Roll cur back to its state at s_begin.
static void s_rollback(s_search_t *st)
{
    vrp_plan_t *pl = st->cur;
    for (int i = 0; i < st->n_touched; i++)
        pl->route_of[st->touched[i]] = -1;
    for (int i = 0; i < st->n_dirty; i++) {
        int v = st->dirty_list[i];
        vrp_route_t *r = &pl->routes[v];
        //  Swap buffers instead of copying back: saved[v] is dead after the iteration.
        vrp_route_t tmp = *r;
        *r = st->saved[v];
        st->saved[v] = tmp;
        for (int k = 1; k <= r->n; k++) {
            pl->route_of[r->job[k]] = v;
            pl->pos_of[r->job[k]] = k;
        }
    }
    st->used = vrp_plan_vehicles_used(pl);
}

//  Route cost change of cur since s_begin.
static double s_route_delta(const s_search_t *st)
{
    double delta = 0;
    for (int i = 0; i < st->n_dirty; i++) {
        int v = st->dirty_list[i];
        delta += vrp_route_cost(st->p, v, &st->cur->routes[v])
                 - vrp_route_cost(st->p, v, &st->saved[v]);
    }
    return delta;
}

//  Remove the jobs at positions [from, to) of route v except [keep_from, keep_to).
static int s_remove_range(s_search_t *st, int v, int from, int to, int keep_from, int keep_to)
{
    if (s_touch_route(st, v))
        return -1;
    vrp_plan_t *pl = st->cur;
    vrp_route_t *r = &pl->routes[v];
    int w = 1;
    for (int i = 1; i <= r->n; i++) {
        if (i >= from && i < to && !(i >= keep_from && i < keep_to)) {
            int j = r->job[i];
            pl->route_of[j] = -1;
            st->removed[st->n_removed++] = j;
            st->touched[st->n_touched++] = j;
            continue;
        }
        r->job[w++] = r->job[i];
    }
    r->n = w - 1;
    vrp_route_update(st->p, v, r);
    for (int i = 1; i <= r->n; i++)
        pl->pos_of[r->job[i]] = i;
    if (r->n == 0)
        st->used--;
    return 0;
}

//  SISR ruin: remove strings, or split strings, from routes near a random seed job.
static int s_ruin(s_search_t *st)
{
    vrp_plan_t *pl = st->cur;
    int assigned = st->n - st->n_unassigned;
    if (st->used == 0 || assigned == 0)
        return 0;
    double avg = (double) assigned / st->used;
    double ls_max = avg < S_LMAX ? avg : S_LMAX;
    double ks_max = 4.0 * S_CBAR / (1.0 + ls_max) - 1.0;
    int ks = (int) (1.0 + s_unif(&st->rng) * ks_max);
    int seed;
    do
        seed = s_below(&st->rng, st->n);
    while (pl->route_of[seed] < 0);
    int ruined = 0;
    for (int t = -1; t < st->k_nb && ruined < ks; t++) {
        int c = t < 0 ? seed : st->nb[(size_t) seed * st->k_nb + t];
        int v = pl->route_of[c];
        if (v < 0 || st->ruin_stamp[v] == st->stamp)
            continue;
        st->ruin_stamp[v] = st->stamp;
        ruined++;
        vrp_route_t *r = &pl->routes[v];
        int card = r->n;
        double lmax_t = card < ls_max ? card : ls_max;
        int l = (int) (1.0 + s_unif(&st->rng) * lmax_t);
        if (l > card)
            l = card;
        int i = pl->pos_of[c];
        if (l == card || s_unif(&st->rng) < 0.5) {
            //  string of l jobs containing position i
            int lo = i - l + 1 < 1 ? 1 : i - l + 1, hi = i < card - l + 1 ? i : card - l + 1;
            int from = lo + s_below(&st->rng, hi - lo + 1);
            if (s_remove_range(st, v, from, from + l, 0, 0))
                return -1;
        }
        else {
            //  split string: l + m consecutive jobs, m of them (in one block) preserved
            int m = 1;
            while (l + m < card && s_unif(&st->rng) < 0.5)
                m++;
            int len = l + m;
            int lo = i - len + 1 < 1 ? 1 : i - len + 1;
            int hi = i < card - len + 1 ? i : card - len + 1;
            int from = lo + s_below(&st->rng, hi - lo + 1);
            int keep = from + s_below(&st->rng, l + 1);
            if (s_remove_range(st, v, from, from + len, keep, keep + m))
                return -1;
        }
    }
    return 0;
}

//  Best position of job in cur, skipping each position with probability `blink`.
//  Returns the vehicle or -1; *pos_out is the route position to insert at.
static int s_best_position(s_search_t *st, int job, double blink, int *pos_out, double *cost)
{
    const vrp_problem_t *p = st->p;
    const vrp_plan_t *pl = st->cur;
    const vrp_job_t *j = &p->jobs[job];
    const vrp_costs_t *c = &p->costs;
    double last_end = j->n_windows ? j->windows[j->n_windows - 1].end + j->max_lateness
                                   : VRP_INF;
    double first_need = (j->n_windows ? j->windows[0].start : -VRP_INF) + j->service;
    double best = VRP_INF;
    int bv = -1, bp = 0, l = j->location;
    bool terms = vrp_route_terms(p);
    st->cls_tick++;
    for (int v = 0; v < st->nv; v++) {
        const vrp_route_t *r = &pl->routes[v];
        const vrp_vehicle_t *veh = &p->veh[v];
        if ((j->skills & ~veh->skills) || !vrp_job_ok(p, job, v))
            continue;   //  before the class stamp: a forbidden vehicle stands for no other
        if (r->n == 0) {
            if (st->used >= st->max_routes || st->cls_stamp[p->veh_class[v]] == st->cls_tick)
                continue;
            st->cls_stamp[p->veh_class[v]] = st->cls_tick;
        }
        const int *tot = r->cum + (size_t) (r->n + 1) * VRP_DIMS;
        bool fits = true;
        for (int d = 0; d < VRP_DIMS; d++)
            fits &= tot[d] + j->demand[d] <= veh->capacity[d];
        if (!fits)
            continue;
        bool extra = veh->max_duration > 0 || veh->max_ride > 0;
        double fixed = r->n == 0 ? veh->fixed_cost : 0;
        double keep = r->n > 0;   //  an empty route's start-end arc costs nothing
        if (c->non_preferred_penalty != 0 && vrp_nonpref(j, v))
            fixed += c->non_preferred_penalty;
        for (int pos = 1; pos <= r->n + 1; pos++) {
            //  dep[] never decreases along a route: once past the last window, stop.
            if (r->dep[pos - 1] > last_end)
                break;
            //  lat[] never decreases either: skip, without touching the matrix, the places
            //  that must be left before the job's first window even opens.
            if (r->lat[pos] < first_need)
                continue;
            //  Blinks: skip each position with probability `blink`, drawing the gap to the
            //  next skipped position (geometric) instead of one number per position.
            if (blink > 0 && --st->blink_left <= 0) {
                st->blink_left = 1 + (long) (log(s_unif(&st->rng) + 1e-300) / log1p(-blink));
                continue;
            }
            int a = r->loc[pos - 1], b = r->loc[pos];
            double delta = fixed + c->per_distance
                                   * (vrp_d(p, a, l) + vrp_d(p, l, b) - keep * vrp_d(p, a, b));
            if (c->per_time != 0)
                delta += c->per_time * (vrp_tv(p, v, a, l) + vrp_tv(p, v, l, b) - keep * vrp_tv(p, v, a, b));
            if (delta >= best && !terms)
                continue;
            double s = vrp_tw_earliest(j, r->dep[pos - 1] + vrp_tv(p, v, a, l));
            if (s == VRP_INF || s + j->service + vrp_tv(p, v, l, b) > r->lat[pos])
                continue;
            if (terms) {
                delta += vrp_insert_route_terms(pl, job, v, pos, s);
                if (delta >= best)
                    continue;
            }
            if (extra && vrp_insert_delta(pl, job, v, pos) == VRP_INF)
                continue;
            best = delta;
            bv = v;
            bp = pos;
        }
    }
    *pos_out = bp;
    *cost = best;
    return bv;
}

static void s_sort_desc(int *a, int n, const double *key)
{
    for (int i = 1; i < n; i++) {
        int x = a[i], k = i;
        while (k > 0 && key[a[k - 1]] < key[x]) {
            a[k] = a[k - 1];
            k--;
        }
        a[k] = x;
    }
}

//  SISR recreate: order the jobs to insert, then blink-insert each at its cheapest place.
//  Jobs that fit nowhere go to st->absent.
static int s_recreate(s_search_t *st, double blink)
{
    const vrp_problem_t *p = st->p;
    int *list = st->removed, n = st->n_removed;
    //  Orders and weights from the paper: random 4, demand 4, far 2, close 1.
    int pick = s_below(&st->rng, 11);
    if (pick < 4) {
        for (int i = n - 1; i > 0; i--) {
            int k = s_below(&st->rng, i + 1), t = list[i];
            list[i] = list[k];
            list[k] = t;
        }
    }
    else {
        //  "Far" and "close" are measured from the first vehicle's start (Solomon's depot).
        int depot = p->n_veh > 0 ? p->veh[0].start_location : 0;
        for (int i = 0; i < n; i++) {
            const vrp_job_t *j = &p->jobs[list[i]];
            double k;
            if (pick < 8) {
                k = 0;
                for (int d = 0; d < VRP_DIMS; d++)
                    k += j->demand[d];
            }
            else {
                k = vrp_d(p, depot, j->location);
                if (pick == 10)
                    k = -k;
            }
            //  Higher priority first whatever the order: they are the costliest to drop.
            st->key[list[i]] = k + 1e12 * j->priority;
        }
        s_sort_desc(list, n, st->key);
    }
    if (p->has_excl) {
        //  Pinned and forbidding jobs first, keeping the order otherwise: they have the fewest
        //  places, and a pinned job left out would leave the route its caller promised.
        int w = 0;
        for (int i = 0; i < n; i++)
            if (vrp_job_restricted(p, list[i])) {
                int x = list[i];
                memmove(list + w + 1, list + w, (size_t) (i - w) * sizeof *list);
                list[w++] = x;
            }
    }
    st->n_absent = 0;
    for (int i = 0; i < n; i++) {
        int job = list[i], pos;
        double cost;
        int v = s_best_position(st, job, blink, &pos, &cost);
        if (v < 0) {
            st->absent[st->n_absent++] = job;
            continue;
        }
        if (s_touch_route(st, v))
            return -1;
        if (st->cur->routes[v].n == 0)
            st->used++;
        if (vrp_route_insert(st->cur, v, pos, job))
            return -1;
        st->touched[st->n_touched++] = job;
    }
    return 0;
}

//  Gather the unassigned jobs of cur into the recreate list (after the ruined ones).
static void s_add_unassigned(s_search_t *st)
{
    for (int i = 0; i < st->n_unassigned; i++) {
        int j = st->unassigned[i];
        st->removed[st->n_removed++] = j;
        st->touched[st->n_touched++] = j;
    }
}

static void s_accept_absent(s_search_t *st)
{
    st->n_unassigned = st->n_absent;
    st->pen_unassigned = 0;
    for (int i = 0; i < st->n_absent; i++) {
        st->unassigned[i] = st->absent[i];
        st->pen_unassigned += vrp_job_penalty(st->p, st->absent[i]);
        st->cur->reason[st->absent[i]] = VRP_REASON_NO_ROOM;
    }
}

static double s_cost_of_list(const s_search_t *st, const int *list, int n)
{
    double pen = 0;
    for (int i = 0; i < n; i++)
        pen += vrp_job_penalty(st->p, list[i]);
    return pen;
}

//  ---------------------------------------------------------------------------------------------
//  Granular local search on a plan (inter-route relocate, swap, 2-opt*), first improvement.

static inline double s_arc(const vrp_problem_t *p, int v, int a, int b)
{
    double c = p->costs.per_distance * vrp_d(p, a, b);
    if (p->costs.per_time != 0)
        c += p->costs.per_time * vrp_tv(p, v, a, b);
    return c;
}

static bool s_plain(const vrp_problem_t *p, int v)
{
    return !(p->veh[v].max_duration > 0 || p->veh[v].max_ride > 0);
}

static bool s_fits(const vrp_problem_t *p, int v, const int *load)
{
    for (int d = 0; d < VRP_DIMS; d++)
        if (load[d] > p->veh[v].capacity[d])
            return false;
    return true;
}

//  May every job of seg[0..n) be on vehicle v?
static bool s_seg_ok(const vrp_problem_t *p, const int *seg, int n, int v)
{
    for (int x = 0; p->has_excl && x < n; x++)
        if (!vrp_job_ok(p, seg[x], v))
            return false;
    return true;
}

//  Travel cost of the arcs inside seg[0..n) on vehicle v minus on vehicle u: what moving the
//  segment between vehicles with different time factors changes besides its end arcs.
static double s_seg_time_cost(const vrp_problem_t *p, const int *seg, int n, int u, int v)
{
    double f = p->veh[v].time_factor - p->veh[u].time_factor;
    if (p->costs.per_time == 0 || f == 0)
        return 0;
    double t = 0;
    for (int x = 1; x < n; x++)
        t += vrp_t(p, p->jobs[seg[x - 1]].location, p->jobs[seg[x]].location);
    return p->costs.per_time * f * t;
}

//  Or-opt: move the segment u[i .. i+len-1] into v before position k or k+1 if it improves.
static int s_oropt(s_search_t *st, vrp_plan_t *pl, int u, int i, int len, int v, int k,
                   bool *moved)
{
    const vrp_problem_t *p = st->p;
    const vrp_costs_t *c = &p->costs;
    const vrp_route_t *ru = &pl->routes[u], *rv = &pl->routes[v];
    const vrp_vehicle_t *vv = &p->veh[v];
    int first = ru->loc[i], last = ru->loc[i + len - 1];
    int pu = ru->loc[i - 1], nu = ru->loc[i + len];
    bool empties = len == ru->n;
    if (!empties && ru->dep[i - 1] + vrp_tv(p, u, pu, nu) > ru->lat[i + len])
        return 0;
    const int *c0 = ru->cum + (size_t) (i - 1) * VRP_DIMS;
    const int *c1 = ru->cum + (size_t) (i + len - 1) * VRP_DIMS;
    const int *tv = rv->cum + (size_t) (rv->n + 1) * VRP_DIMS;
    for (int d = 0; d < VRP_DIMS; d++)
        if (tv[d] + c1[d] - c0[d] > vv->capacity[d])
            return 0;
    double pref = 0;
    for (int x = i; x < i + len; x++) {
        const vrp_job_t *j = &p->jobs[ru->job[x]];
        if (j->skills & ~vv->skills)
            return 0;
        pref += c->non_preferred_penalty * (vrp_nonpref(j, v) - vrp_nonpref(j, u));
    }
    if (!s_seg_ok(p, ru->job + i, len, v))
        return 0;
    double gain = s_arc(p, u, pu, first) + s_arc(p, u, last, nu) - pref
                  + (empties ? p->veh[u].fixed_cost : -s_arc(p, u, pu, nu))
                  - s_seg_time_cost(p, ru->job + i, len, u, v);
    for (int q = k; q <= k + 1; q++) {
        int pv = rv->loc[q - 1], nv = rv->loc[q];
        double d = s_arc(p, v, pv, first) + s_arc(p, v, last, nv) - s_arc(p, v, pv, nv);
        if (d >= gain - 1e-9)
            continue;
        double t = rv->dep[q - 1];
        int prev = pv;
        bool ok = true;
        for (int x = i; x < i + len && ok; x++) {
            const vrp_job_t *j = &p->jobs[ru->job[x]];
            double s0 = vrp_tw_earliest(j, t + vrp_tv(p, v, prev, j->location));
            ok = s0 != VRP_INF;
            t = s0 + j->service;
            prev = j->location;
        }
        if (!ok || t + vrp_tv(p, v, prev, nv) > rv->lat[q])
            continue;
        int nu_len = 0, nv_len = 0;
        for (int x = 1; x <= ru->n; x++)
            if (x < i || x >= i + len)
                st->seq[nu_len++] = ru->job[x];
        for (int x = 1; x < q; x++)
            st->seq2[nv_len++] = rv->job[x];
        for (int x = i; x < i + len; x++)
            st->seq2[nv_len++] = ru->job[x];
        for (int x = q; x <= rv->n; x++)
            st->seq2[nv_len++] = rv->job[x];
        if (vrp_route_set(pl, u, st->seq, nu_len) || vrp_route_set(pl, v, st->seq2, nv_len))
            return -1;
        *moved = true;
        return 0;
    }
    return 0;
}

//  Walk jobs seg[0..len) from departure t at location prev; return the departure from the
//  last one and its location in *last, or VRP_INF if a window is missed.
static double s_walk(const vrp_problem_t *p, int v, const int *seg, int len, double t, int prev,
                     int *last)
{
    for (int x = 0; x < len; x++) {
        const vrp_job_t *j = &p->jobs[seg[x]];
        double s0 = vrp_tw_earliest(j, t + vrp_tv(p, v, prev, j->location));
        if (s0 == VRP_INF)
            return VRP_INF;
        t = s0 + j->service;
        prev = j->location;
    }
    *last = prev;
    return t;
}

//  Cross-exchange: swap u[i .. i+la-1] with v[k .. k+lb-1] (orders kept) if it improves.
//  Each new route is checked by walking the incoming segment from the cached departure before
//  it to the cached latest start after it: O(la + lb).
static int s_cross(s_search_t *st, vrp_plan_t *pl, int u, int i, int la, int v, int k, int lb,
                   bool *moved)
{
    const vrp_problem_t *p = st->p;
    const vrp_costs_t *c = &p->costs;
    const vrp_route_t *ru = &pl->routes[u], *rv = &pl->routes[v];
    const int *sa = ru->job + i, *sb = rv->job + k;
    int pu = ru->loc[i - 1], nu = ru->loc[i + la], pv = rv->loc[k - 1], nv = rv->loc[k + lb];
    int fa = ru->loc[i], ea = ru->loc[i + la - 1], fb = rv->loc[k], eb = rv->loc[k + lb - 1];
    if (!s_seg_ok(p, sa, la, v) || !s_seg_ok(p, sb, lb, u))
        return 0;
    double d = s_arc(p, u, pu, fb) + s_arc(p, u, eb, nu) - s_arc(p, u, pu, fa)
               - s_arc(p, u, ea, nu) + s_arc(p, v, pv, fa) + s_arc(p, v, ea, nv)
               - s_arc(p, v, pv, fb) - s_arc(p, v, eb, nv) + s_seg_time_cost(p, sa, la, u, v)
               + s_seg_time_cost(p, sb, lb, v, u);
    if (c->non_preferred_penalty != 0) {
        for (int x = 0; x < la; x++)
            d += c->non_preferred_penalty * (vrp_nonpref(&p->jobs[sa[x]], v)
                                             - vrp_nonpref(&p->jobs[sa[x]], u));
        for (int x = 0; x < lb; x++)
            d += c->non_preferred_penalty * (vrp_nonpref(&p->jobs[sb[x]], u)
                                             - vrp_nonpref(&p->jobs[sb[x]], v));
    }
    if (d >= -1e-9)
        return 0;
    const vrp_vehicle_t *vu = &p->veh[u], *vv = &p->veh[v];
    int lu[VRP_DIMS], lv[VRP_DIMS];
    const int *tu = ru->cum + (size_t) (ru->n + 1) * VRP_DIMS;
    const int *tv = rv->cum + (size_t) (rv->n + 1) * VRP_DIMS;
    const int *a0 = ru->cum + (size_t) (i - 1) * VRP_DIMS, *a1 = a0 + (size_t) la * VRP_DIMS;
    const int *b0 = rv->cum + (size_t) (k - 1) * VRP_DIMS, *b1 = b0 + (size_t) lb * VRP_DIMS;
    for (int x = 0; x < VRP_DIMS; x++) {
        int load_a = a1[x] - a0[x], load_b = b1[x] - b0[x];
        lu[x] = tu[x] - load_a + load_b;
        lv[x] = tv[x] - load_b + load_a;
    }
    if (!s_fits(p, u, lu) || !s_fits(p, v, lv))
        return 0;
    for (int x = 0; x < la; x++)
        if (p->jobs[sa[x]].skills & ~vv->skills)
            return 0;
    for (int x = 0; x < lb; x++)
        if (p->jobs[sb[x]].skills & ~vu->skills)
            return 0;
    int last;
    double t = s_walk(p, u, sb, lb, ru->dep[i - 1], pu, &last);
    if (t == VRP_INF || t + vrp_tv(p, u, last, nu) > ru->lat[i + la])
        return 0;
    t = s_walk(p, v, sa, la, rv->dep[k - 1], pv, &last);
    if (t == VRP_INF || t + vrp_tv(p, v, last, nv) > rv->lat[k + lb])
        return 0;
    int nu_len = 0, nv_len = 0;
    for (int x = 1; x < i; x++)
        st->seq[nu_len++] = ru->job[x];
    for (int x = 0; x < lb; x++)
        st->seq[nu_len++] = sb[x];
    for (int x = i + la; x <= ru->n; x++)
        st->seq[nu_len++] = ru->job[x];
    for (int x = 1; x < k; x++)
        st->seq2[nv_len++] = rv->job[x];
    for (int x = 0; x < la; x++)
        st->seq2[nv_len++] = sa[x];
    for (int x = k + lb; x <= rv->n; x++)
        st->seq2[nv_len++] = rv->job[x];
    if (vrp_route_set(pl, u, st->seq, nu_len) || vrp_route_set(pl, v, st->seq2, nv_len))
        return -1;
    *moved = true;
    return 0;
}

//  Intra-route moves between a and its neighbour b on route u: relocate a before or after b,
//  and 2-opt (reverse the stretch from a to b). Arc deltas only pre-select; a move is applied
//  when re-simulating the whole route confirms feasibility and a real gain. O(n) per
//  candidate, which is why the cross-route moves above come first.
static int s_intra(s_search_t *st, vrp_plan_t *pl, int u, int a, int b, bool *moved)
{
    const vrp_problem_t *p = st->p;
    const vrp_route_t *r = &pl->routes[u];
    const int *loc = r->loc, *job = r->job;
    int i = pl->pos_of[a], k = pl->pos_of[b], n = r->n, la = loc[i];
    for (int m = 0; m < 3; m++) {
        int len = 0;
        if (m < 2) {
            int q = k + m;   //  a goes before the job now at position q
            if (q == i || q == i + 1)
                continue;
            double est = s_arc(p, u, loc[q - 1], la) + s_arc(p, u, la, loc[q])
                         - s_arc(p, u, loc[q - 1], loc[q]) - s_arc(p, u, loc[i - 1], la)
                         - s_arc(p, u, la, loc[i + 1]) + s_arc(p, u, loc[i - 1], loc[i + 1]);
            if (est >= -1e-9)
                continue;
            for (int x = 1; x <= n + 1; x++) {
                if (x == q)
                    st->seq[len++] = a;
                if (x != i && x <= n)
                    st->seq[len++] = job[x];
            }
        }
        else {
            int lo = i < k ? i : k, hi = i < k ? k : i;
            double est = s_arc(p, u, loc[lo - 1], loc[hi]) + s_arc(p, u, loc[lo], loc[hi + 1])
                         - s_arc(p, u, loc[lo - 1], loc[lo]) - s_arc(p, u, loc[hi], loc[hi + 1]);
            if (est >= -1e-9)
                continue;
            for (int x = 1; x < lo; x++)
                st->seq[len++] = job[x];
            for (int x = hi; x >= lo; x--)
                st->seq[len++] = job[x];
            for (int x = hi + 1; x <= n; x++)
                st->seq[len++] = job[x];
        }
        vrp_sim_t sim;
        vrp_sim(p, u, st->seq, len, &sim);
        if (!sim.feasible)
            continue;
        double gain = p->costs.per_distance * (r->dist - sim.dist)
                      + p->costs.per_time * (r->ttime - sim.ttime);
        if (gain <= 1e-9)
            continue;
        if (vrp_route_set(pl, u, st->seq, len))
            return -1;
        *moved = true;
        return 0;
    }
    return 0;
}

//  Try moves of job a against its neighbours; apply the first improving one.
static int s_ls_job(s_search_t *st, vrp_plan_t *pl, int a, bool *moved)
{
    const vrp_problem_t *p = st->p;
    const vrp_costs_t *c = &p->costs;
    const vrp_job_t *ja = &p->jobs[a];
    int u = pl->route_of[a];
    //  The move deltas below are arc-based; lateness and balance are route-level terms that
    //  only ruin-and-recreate evaluates, so such problems skip local search.
    if (u < 0 || !s_plain(p, u) || vrp_route_terms(p))
        return 0;
    const double eps = 1e-9;
    for (int t = 0; t < st->k_nb; t++) {
        int b = st->nb[(size_t) a * st->k_nb + t];
        int v = pl->route_of[b];
        if (v == u) {
            int rc = s_intra(st, pl, u, a, b, moved);
            if (rc || *moved)
                return rc;
            continue;
        }
        if (v < 0 || !s_plain(p, v))
            continue;
        const vrp_route_t *ru = &pl->routes[u], *rv = &pl->routes[v];
        const vrp_job_t *jb = &p->jobs[b];
        int i = pl->pos_of[a], k = pl->pos_of[b];
        int pu = ru->loc[i - 1], nu = ru->loc[i + 1], pv = rv->loc[k - 1], nv = rv->loc[k + 1];
        int la = ja->location, lb = jb->location;
        double pref_a_u = c->non_preferred_penalty * vrp_nonpref(ja, u);
        double pref_a_v = c->non_preferred_penalty * vrp_nonpref(ja, v);
        double pref_b_u = c->non_preferred_penalty * vrp_nonpref(jb, u);
        double pref_b_v = c->non_preferred_penalty * vrp_nonpref(jb, v);
        //  Relocate a next to b (before or after), if a's route stays feasible without it.
        bool rm_ok = ru->n == 1
                     || ru->dep[i - 1] + vrp_tv(p, u, pu, nu) <= ru->lat[i + 1];
        if (rm_ok) {
            double gain = s_arc(p, u, pu, la) + s_arc(p, u, la, nu) + pref_a_u
                          + (ru->n == 1 ? p->veh[u].fixed_cost : -s_arc(p, u, pu, nu));
            for (int side = 0; side < 2; side++) {
                double d = vrp_insert_delta(pl, a, v, k + side);
                if (d < gain - eps) {
                    vrp_route_remove_at(pl, u, i);
                    if (vrp_route_insert(pl, v, pl->pos_of[b] + side, a))
                        return -1;
                    *moved = true;
                    return 0;
                }
            }
        }
        //  Or-opt: move the 2 or 3 jobs starting at a next to b, keeping their order.
        for (int len = 2; len <= 3 && i + len - 1 <= ru->n; len++) {
            int moved_rc = s_oropt(st, pl, u, i, len, v, k, moved);
            if (moved_rc || *moved)
                return moved_rc;
        }
        //  Swap a and b.
        if (!(ja->skills & ~p->veh[v].skills) && !(jb->skills & ~p->veh[u].skills)
            && vrp_job_ok(p, a, v) && vrp_job_ok(p, b, u)) {
            double d = s_arc(p, u, pu, lb) + s_arc(p, u, lb, nu) - s_arc(p, u, pu, la) - s_arc(p, u, la, nu)
                       + s_arc(p, v, pv, la) + s_arc(p, v, la, nv) - s_arc(p, v, pv, lb) - s_arc(p, v, lb, nv)
                       + pref_b_u + pref_a_v - pref_a_u - pref_b_v;
            if (d < -eps) {
                int lu[VRP_DIMS], lv[VRP_DIMS];
                const int *tu = ru->cum + (size_t) (ru->n + 1) * VRP_DIMS;
                const int *tv = rv->cum + (size_t) (rv->n + 1) * VRP_DIMS;
                for (int x = 0; x < VRP_DIMS; x++) {
                    lu[x] = tu[x] - ja->demand[x] + jb->demand[x];
                    lv[x] = tv[x] - jb->demand[x] + ja->demand[x];
                }
                double sb = vrp_tw_earliest(jb, ru->dep[i - 1] + vrp_tv(p, u, pu, lb));
                double sa = vrp_tw_earliest(ja, rv->dep[k - 1] + vrp_tv(p, v, pv, la));
                if (s_fits(p, u, lu) && s_fits(p, v, lv) && sb != VRP_INF && sa != VRP_INF
                    && sb + jb->service + vrp_tv(p, u, lb, nu) <= ru->lat[i + 1]
                    && sa + ja->service + vrp_tv(p, v, la, nv) <= rv->lat[k + 1]) {
                    vrp_route_remove_at(pl, u, i);
                    vrp_route_remove_at(pl, v, k);
                    if (vrp_route_insert(pl, u, i, b) || vrp_route_insert(pl, v, k, a))
                        return -1;
                    *moved = true;
                    return 0;
                }
            }
        }
        //  Cross-exchange of segments of 1-3 jobs starting at a and at b (1 and 1 is the
        //  swap above).
        for (int la = 1; la <= 3 && i + la - 1 <= ru->n; la++)
            for (int lb = 1; lb <= 3 && k + lb - 1 <= rv->n; lb++) {
                if (la == 1 && lb == 1)
                    continue;
                int rc = s_cross(st, pl, u, i, la, v, k, lb, moved);
                if (rc || *moved)
                    return rc;
            }
        //  2-opt*: u keeps 1..i then takes v's k..; v keeps 1..k-1 then takes u's i+1...
        //  Only between vehicles that end alike, so the cached latest times stay valid.
        const vrp_vehicle_t *vu = &p->veh[u], *vv = &p->veh[v];
        //  And with one time factor: the tails' cached latest times are in vehicle time.
        if (vu->end_location == vv->end_location && vu->shift_end == vv->shift_end
            && vu->skills == vv->skills && c->non_preferred_penalty == 0
            && vu->time_factor == vv->time_factor
            && s_seg_ok(p, rv->job + k, rv->n - k + 1, u)
            && s_seg_ok(p, ru->job + i + 1, ru->n - i, v)) {
            double d = s_arc(p, u, la, lb) + s_arc(p, v, pv, nu) - s_arc(p, u, la, nu)
                       - s_arc(p, v, pv, lb);
            bool v_empty = k == 1 && i == ru->n;
            if (v_empty)
                d -= vv->fixed_cost + s_arc(p, v, pv, nu);
            if (d < -eps && ru->dep[i] + vrp_tv(p, u, la, lb) <= rv->lat[k]
                && rv->dep[k - 1] + vrp_tv(p, v, pv, nu) <= ru->lat[i + 1]) {
                int lu[VRP_DIMS], lv[VRP_DIMS];
                const int *tu = ru->cum + (size_t) (ru->n + 1) * VRP_DIMS;
                const int *tv = rv->cum + (size_t) (rv->n + 1) * VRP_DIMS;
                const int *cu = ru->cum + (size_t) i * VRP_DIMS;
                const int *cv = rv->cum + (size_t) (k - 1) * VRP_DIMS;
                for (int x = 0; x < VRP_DIMS; x++) {
                    lu[x] = cu[x] + tv[x] - cv[x];
                    lv[x] = cv[x] + tu[x] - cu[x];
                }
                if (s_fits(p, u, lu) && s_fits(p, v, lv)) {
                    int nu_len = 0, nv_len = 0;
                    for (int x = 1; x <= i; x++)
                        st->seq[nu_len++] = ru->job[x];
                    for (int x = k; x <= rv->n; x++)
                        st->seq[nu_len++] = rv->job[x];
                    for (int x = 1; x < k; x++)
                        st->seq2[nv_len++] = rv->job[x];
                    for (int x = i + 1; x <= ru->n; x++)
                        st->seq2[nv_len++] = ru->job[x];
                    if (vrp_route_set(pl, u, st->seq, nu_len)
                        || vrp_route_set(pl, v, st->seq2, nv_len))
                        return -1;
                    *moved = true;
                    return 0;
                }
            }
        }
    }
    return 0;
}

//  Local search to a local optimum (or the deadline) on plan pl. Returns 0 or -1.
static int s_local_search(s_search_t *st, vrp_plan_t *pl)
{
    bool any = true;
    int rounds = 0;
    while (any && rounds++ < 50) {
        any = false;
        for (int a = 0; a < st->n; a++) {
            bool moved = false;
#ifdef VRP_LS_DEBUG
            double before = vrp_plan_cost(pl);
#endif
            if (s_ls_job(st, pl, a, &moved))
                return -1;
#ifdef VRP_LS_DEBUG
            if (moved && vrp_plan_cost(pl) > before - 1e-9)
                abort();
            //  Re-simulate without allocating (the allocation-failure test runs this too).
            for (int v = 0; moved && v < pl->n_veh; v++) {
                vrp_sim_t sim;
                vrp_sim(st->p, v, pl->routes[v].job + 1, pl->routes[v].n, &sim);
                if (!sim.feasible)
                    abort();
            }
#endif
            any |= moved;
        }
        if (st->t_end > 0 && s_now() > st->t_end)
            break;
    }
    return 0;
}

//  ---------------------------------------------------------------------------------------------
//  Regret-2 construction with a per (job, vehicle) cache of the best insertion.

static int s_construct(s_search_t *st)
{
    const vrp_problem_t *p = st->p;
    vrp_plan_t *pl = st->cur;
    int n = st->n, nv = st->nv;
    int *todo = malloc((size_t) (n ? n : 1) * sizeof *todo);
    double *cache = malloc((size_t) (n ? n : 1) * (nv ? nv : 1) * sizeof *cache);
    int *cpos = malloc((size_t) (n ? n : 1) * (nv ? nv : 1) * sizeof *cpos);
    int *rep = malloc((size_t) (nv ? nv : 1) * sizeof *rep);
    int rc = -1;
    if (!todo || !cache || !cpos || !rep)
        goto done;
    int n_todo = 0;
    for (int j = 0; j < n; j++)
        if (pl->route_of[j] < 0 && !vrp_job_off(p, j))
            todo[n_todo++] = j;
    //  A vehicle is a candidate if it has jobs or is the first empty one of its class; for a
    //  job that is pinned or forbids vehicles, every vehicle is.
    #define S_CAND(v, job) (pl->routes[v].n > 0 || rep[p->veh_class[v]] == (v) \
                            || vrp_job_restricted(p, job))
    for (int v = 0; v < nv; v++)
        rep[v] = -1;
    for (int v = nv - 1; v >= 0; v--)
        if (pl->routes[v].n == 0)
            rep[p->veh_class[v]] = v;
    for (int x = 0; x < n_todo; x++)
        for (int v = 0; v < nv; v++) {
            size_t k = (size_t) todo[x] * nv + v;
            cache[k] = VRP_INF;
            if (!S_CAND(v, todo[x]))
                continue;
            for (int pos = 1; pos <= pl->routes[v].n + 1; pos++) {
                double d = vrp_insert_delta(pl, todo[x], v, pos);
                if (d < cache[k]) {
                    cache[k] = d;
                    cpos[k] = pos;
                }
            }
        }
    while (n_todo > 0) {
        int bx = -1, bv = -1;
        double best_regret = -VRP_INF, best_cost = VRP_INF;
        for (int x = 0; x < n_todo; x++) {
            double c1 = VRP_INF, c2 = VRP_INF;
            int v1 = -1;
            for (int v = 0; v < nv; v++) {
                double c = cache[(size_t) todo[x] * nv + v];
                if (c < c1) {
                    c2 = c1;
                    c1 = c;
                    v1 = v;
                }
                else if (c < c2)
                    c2 = c;
            }
            if (v1 < 0)
                continue;
            //  Jobs with a single option first (infinite regret), then the largest regret.
            double regret = (c2 == VRP_INF ? 1e15 : c2 - c1)
                            + 1e13 * p->jobs[todo[x]].priority;
            if (regret > best_regret || (regret == best_regret && c1 < best_cost)) {
                best_regret = regret;
                best_cost = c1;
                bx = x;
                bv = v1;
            }
        }
        if (bx < 0)
            break;   //  nothing left fits anywhere
        int job = todo[bx];
        if (vrp_route_insert(pl, bv, cpos[(size_t) job * nv + bv], job))
            goto done;
        todo[bx] = todo[--n_todo];
        //  Refresh the changed route and, if it was empty, its class's next empty vehicle.
        int changed[2] = {bv, -1};
        if (pl->routes[bv].n == 1) {
            int cls = p->veh_class[bv];
            rep[cls] = -1;
            for (int v = 0; v < nv; v++)
                if (p->veh_class[v] == cls && pl->routes[v].n == 0) {
                    rep[cls] = v;
                    break;
                }
            changed[1] = rep[cls];
        }
        for (int w = 0; w < 2; w++) {
            int v = changed[w];
            if (v < 0)
                continue;
            for (int x = 0; x < n_todo; x++) {
                size_t k = (size_t) todo[x] * nv + v;
                cache[k] = VRP_INF;
                for (int pos = 1; pos <= pl->routes[v].n + 1; pos++) {
                    double d = vrp_insert_delta(pl, todo[x], v, pos);
                    if (d < cache[k]) {
                        cache[k] = d;
                        cpos[k] = pos;
                    }
                }
            }
        }
    }
    #undef S_CAND
    rc = 0;
done:
    free(todo);
    free(cache);
    free(cpos);
    free(rep);
    return rc;
}

//  ---------------------------------------------------------------------------------------------

static void s_search_free(s_search_t *st)
{
    if (st->saved)
        for (int v = 0; v < st->nv; v++) {
            free(st->saved[v].job);
            free(st->saved[v].loc);
            free(st->saved[v].dep);
            free(st->saved[v].lat);
            free(st->saved[v].cum);
        }
    free(st->saved);
    free(st->nb);
    free(st->dirty);
    free(st->dirty_list);
    free(st->removed);
    free(st->absent);
    free(st->touched);
    free(st->unassigned);
    free(st->cls_stamp);
    free(st->ruin_stamp);
    free(st->key);
    free(st->absences);
    free(st->seq);
    free(st->seq2);
    vrp_plan_destroy(&st->cur);
    vrp_plan_destroy(&st->best);
}

typedef struct {
    double d;
    int j;
} s_pair_t;

static int s_pair_cmp(const void *a, const void *b)
{
    const s_pair_t *x = a, *y = b;
    if (x->d != y->d)
        return x->d < y->d ? -1 : 1;
    return x->j - y->j;   //  ties by index: keeps runs reproducible across libc qsorts
}

static int s_build_neighbours(s_search_t *st)
{
    const vrp_problem_t *p = st->p;
    int n = st->n;
    st->k_nb = n - 1 < S_NEIGHBOURS ? n - 1 : S_NEIGHBOURS;
    if (st->k_nb <= 0)
        return 0;
    st->nb = malloc((size_t) n * st->k_nb * sizeof *st->nb);
    s_pair_t *tmp = malloc((size_t) n * sizeof *tmp);
    if (!st->nb || !tmp) {
        free(tmp);
        return -1;
    }
    for (int a = 0; a < n; a++) {
        int m = 0;
        int la = p->jobs[a].location;
        for (int b = 0; b < n; b++)
            if (b != a) {
                int lb = p->jobs[b].location;
                tmp[m].d = vrp_d(p, la, lb) + vrp_d(p, lb, la);
                tmp[m].j = b;
                m++;
            }
        qsort(tmp, (size_t) m, sizeof *tmp, s_pair_cmp);
        for (int k = 0; k < st->k_nb; k++)
            st->nb[(size_t) a * st->k_nb + k] = tmp[k].j;
    }
    free(tmp);
    return 0;
}

static int s_search_init(s_search_t *st, const vrp_problem_t *p, const vrp_params_t *params)
{
    memset(st, 0, sizeof *st);
    st->p = p;
    st->params = params;
    st->n = p->n_jobs;
    st->nv = p->n_veh;
    s_rng_seed(&st->rng, params->seed);
    st->blink_left = 1 + (long) (log(s_unif(&st->rng) + 1e-300) / log1p(-S_BLINK));
    size_t n1 = (size_t) (st->n ? st->n : 1), v1 = (size_t) (st->nv ? st->nv : 1);
    st->saved = calloc(v1, sizeof *st->saved);
    st->dirty = calloc(v1, sizeof *st->dirty);
    st->dirty_list = calloc(v1, sizeof *st->dirty_list);
    st->removed = calloc(n1, sizeof *st->removed);
    st->absent = calloc(n1, sizeof *st->absent);
    //  A job can be touched by removal and by insertion in one iteration, plus once more when
    //  it came from the unassigned list.
    st->touched = calloc(3 * n1, sizeof *st->touched);
    st->unassigned = calloc(n1, sizeof *st->unassigned);
    st->cls_stamp = calloc(v1, sizeof *st->cls_stamp);
    st->ruin_stamp = calloc(v1, sizeof *st->ruin_stamp);
    st->key = calloc(n1, sizeof *st->key);
    st->absences = calloc(n1, sizeof *st->absences);
    st->seq = calloc(n1, sizeof *st->seq);
    st->seq2 = calloc(n1, sizeof *st->seq2);
    st->cur = vrp_plan_new(p);
    st->best = vrp_plan_new(p);
    if (!st->saved || !st->dirty || !st->dirty_list || !st->removed || !st->absent
        || !st->touched || !st->unassigned || !st->cls_stamp || !st->ruin_stamp || !st->key
        || !st->absences || !st->seq || !st->seq2 || !st->cur || !st->best
        || s_build_neighbours(st))
        return -1;
    st->max_routes = st->nv;
    st->t_start = s_now();
    st->t_end = params->time_limit > 0 ? st->t_start + params->time_limit : 0;
    st->max_iter = params->max_iterations;
    if (st->t_end == 0 && st->max_iter == 0)
        st->max_iter = 1000;   //  misuse guard: neither bound given
    return 0;
}

//  New best: copy cur, polish the copy with local search, and continue from it.
static int s_new_best(s_search_t *st)
{
    if (s_copy(st->best, st->cur))
        return -1;
    st->best_cost = st->cur_cost;
    if (st->params->local_search && st->n_unassigned == 0) {
        if (s_local_search(st, st->best))
            return -1;
        double c = vrp_plan_cost(st->best);
        //  Moves only apply on a predicted gain; should a delta ever disagree with the
        //  route costs, fall back to the unpolished copy rather than keep a worse "best".
        if (c > st->best_cost + 1e-6 && s_copy(st->best, st->cur))
            return -1;
        if (c < st->best_cost - 1e-9) {
            st->best_cost = c;
            if (s_copy(st->cur, st->best))
                return -1;
            st->cur_cost = c;
            s_refresh_unassigned(st);
        }
    }
    return 0;
}

//  Annealing schedule: from t0 to tf, geometric in the fraction of budget used.
static double s_temperature(double t0, double tf, double f)
{
    return t0 * pow(tf / t0, f);
}

//  One SISR iteration with annealing acceptance on cost. Returns 0 or -1.
static int s_iterate_cost(s_search_t *st, double temp)
{
    s_begin(st);
    if (s_ruin(st))
        return -1;
    s_add_unassigned(st);
    if (s_recreate(st, S_BLINK))
        return -1;
    double pen_after = s_cost_of_list(st, st->absent, st->n_absent);
    double cand = st->cur_cost + s_route_delta(st) + pen_after - st->pen_unassigned;
    st->iter++;
    if (cand < st->cur_cost - temp * log(s_unif(&st->rng) + 1e-300)) {
        st->cur_cost = cand;
        s_accept_absent(st);
        if (cand < st->best_cost - 1e-9)
            return s_new_best(st);
        return 0;
    }
    s_rollback(st);
    return 0;
}

static long s_sum_absences(const s_search_t *st, const int *list, int n)
{
    long sum = 0;
    for (int i = 0; i < n; i++)
        sum += st->absences[list[i]];
    return sum;
}

//  Route elimination (SISR fleet minimisation): drop the smallest route, then ruin and
//  recreate without new routes, accepting fewer absent jobs or absent jobs that were absent
//  less often. When nothing is absent the fleet shrank by one. Runs until `until` (fraction
//  of the budget), the capacity bound, or an attempt that failed for S_FLEET_STALL of the
//  budget. Leaves the smallest complete fleet in cur.
static bool s_has_pinned(const s_search_t *st, int v)
{
    const vrp_route_t *r = &st->cur->routes[v];
    for (int i = 1; st->p->has_excl && i <= r->n; i++)
        if (st->p->jx[r->job[i]].pin >= 0)
            return true;
    return false;
}

static int s_fleet_min(s_search_t *st, double until, int lower_bound)
{
    vrp_plan_t *fleet_best = vrp_plan_dup(st->cur);
    if (!fleet_best)
        return -1;
    int rc = -1;
    while (!st->stop && st->used > lower_bound && s_progress(st) < until) {
        //  remove the route with the fewest jobs (ties: the lowest index)
        //  (not one with pinned jobs: they could only go back to it)
        int rv = -1;
        for (int v = 0; v < st->nv; v++) {
            int n = st->cur->routes[v].n;
            if (n > 0 && (rv < 0 || n < st->cur->routes[rv].n) && !s_has_pinned(st, v))
                rv = v;
        }
        if (rv < 0)
            break;
        vrp_route_t *r = &st->cur->routes[rv];
        for (int i = 1; i <= r->n; i++)
            st->cur->route_of[r->job[i]] = -1;
        r->n = 0;
        vrp_route_update(st->p, rv, r);
        s_refresh_unassigned(st);
        st->max_routes = st->used;
        double attempt_start = s_progress(st);
        while (st->n_unassigned > 0 && !st->stop) {
            if ((st->iter & 15) == 0) {
                double f = s_progress(st);
                if (f >= until || f - attempt_start >= S_FLEET_STALL)
                    break;
            }
            s_begin(st);
            if (s_ruin(st))
                goto done;
            s_add_unassigned(st);
            if (s_recreate(st, S_BLINK))
                goto done;
            st->iter++;
            long before = s_sum_absences(st, st->unassigned, st->n_unassigned);
            long after = s_sum_absences(st, st->absent, st->n_absent);
            if (st->n_absent < st->n_unassigned || after < before)
                s_accept_absent(st);
            else
                s_rollback(st);
            for (int i = 0; i < st->n_unassigned; i++)
                st->absences[st->unassigned[i]]++;
        }
        if (st->n_unassigned > 0)
            break;
        if (s_copy(fleet_best, st->cur))
            goto done;
    }
    //  Continue from the smallest complete fleet.
    if (s_copy(st->cur, fleet_best))
        goto done;
    s_refresh_unassigned(st);
    rc = 0;
done:
    vrp_plan_destroy(&fleet_best);
    return rc;
}

static int s_capacity_bound(const vrp_problem_t *p)
{
    //  Valid only for a homogeneous fleet; otherwise 1.
    for (int v = 1; v < p->n_veh; v++)
        if (p->veh_class[v] != 0)
            return 1;
    int bound = 1;
    for (int d = 0; d < VRP_DIMS && p->n_veh > 0; d++) {
        long sum = 0;
        for (int j = 0; j < p->n_jobs; j++)
            sum += p->jobs[j].demand[d];
        long cap = p->veh[0].capacity[d];
        if (cap > 0) {
            long b = (sum + cap - 1) / cap;
            if (b > bound)
                bound = (int) b;
        }
    }
    return bound;
}

//  Take out of cur the jobs the exclusions no longer allow where they are (a vehicle disabled
//  or a job forbidden, pinned elsewhere or disabled since the caller's plan was made).
static int s_strip_excluded(s_search_t *st)
{
    const vrp_problem_t *p = st->p;
    if (!p->has_excl)
        return 0;
    vrp_plan_t *pl = st->cur;
    for (int v = 0; v < st->nv; v++) {
        vrp_route_t *r = &pl->routes[v];
        int n = 0;
        for (int i = 1; i <= r->n; i++) {
            int j = r->job[i];
            if (vrp_job_ok(p, j, v))
                st->seq[n++] = j;
            else
                pl->route_of[j] = -1;
        }
        if (n < r->n && vrp_route_set(pl, v, st->seq, n))
            return -1;
    }
    return 0;
}

int vrp_solve(const vrp_problem_t *problem, const vrp_params_t *params, vrp_plan_t **plan_p)
{
    assert(problem);
    assert(params);
    assert(plan_p);
    s_search_t st;
    int rc = -1;
    if (s_search_init(&st, problem, params))
        goto done;
    //  Start from the caller's plan, then construct what is missing.
    if (*plan_p) {
        if (vrp_plan_sync(*plan_p) || s_copy(st.cur, *plan_p))
            goto done;
        for (int j = (*plan_p)->n_jobs; j < st.n; j++)
            st.cur->route_of[j] = -1;
        if (s_strip_excluded(&st))
            goto done;
    }
    if (s_construct(&st))
        goto done;
    s_refresh_unassigned(&st);
    st.cur_cost = vrp_plan_cost(st.cur);
    if (params->objective == VRP_OBJ_HIERARCHICAL && st.n_unassigned == 0) {
        //  Route elimination gets half the budget at most, and gives up on a route after 30%
        //  without success: on Solomon (10 s) a 60% share with no such limit found every
        //  best-known fleet but left the distance phase starved (+1.9% mean gap); see
        //  docs/BENCHMARKS.md.
        if (s_fleet_min(&st, S_FLEET_SHARE, s_capacity_bound(problem)))
            goto done;
        st.max_routes = st.used;
        st.cur_cost = vrp_plan_cost(st.cur);
    }
    if (s_copy(st.best, st.cur))
        goto done;
    st.best_cost = st.cur_cost;
    if (params->local_search && s_new_best(&st))
        goto done;
    //  Temperatures relative to the mean arc cost of the start, so that they suit any units.
    int arcs = st.n + (st.used ? st.used : 1);
    double route_cost = st.cur_cost - st.pen_unassigned;
    double unit = route_cost > 0 ? route_cost / arcs : 1.0;
    double t0 = 0.5 * unit, tf = 0.005 * unit;
    double f0 = s_progress(&st);
    while (!st.stop && st.n > 0) {
        double f = s_progress(&st);
        if (st.stop)
            break;
        double temp = s_temperature(t0, tf, f0 < 1 ? (f - f0) / (1 - f0) : 1);
        if (s_iterate_cost(&st, temp))
            goto done;
    }
    for (int j = 0; j < st.n; j++)
        if (st.best->route_of[j] < 0)
            st.best->reason[j] = (unsigned char) vrp_reason_alone(problem, j);
    vrp_plan_destroy(plan_p);
    *plan_p = st.best;
    st.best = NULL;
    rc = 0;
done:
    s_search_free(&st);
    return rc;
}
