/*  vrp_plan.c: routes with cached forward/backward slack, and the online plan operations.

    Each route caches, per position, the earliest departure (forward pass from the shift start)
    and the latest service start that keeps the rest of the route feasible (backward pass from
    the shift end). Waiting is allowed, so a job j fits between positions i and k iff
        s = earliest start in j's windows at or after dep[i] + t(i, j)  exists, and
        s + service(j) + t(j, k) <= lat[k],
    which is O(1) (O(windows)); the same holds for any route built from a prefix, a few jobs
    and a suffix. max_duration and max_ride depend on the departure time and are checked by a
    full simulation, only for vehicles that have them.
*/
#include "vrp_internal.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

//  Rounding slack for the second (latest-departure) pass: L - t + t may exceed L by an ulp.
#define S_EPS 1e-7

int vrp_route_reserve(vrp_route_t *r, int n_positions)
{
    if (n_positions <= r->cap)
        return 0;
    int cap = r->cap ? r->cap : 8;
    while (cap < n_positions)
        cap *= 2;
    int *job = realloc(r->job, (size_t) cap * sizeof *job);
    if (!job)
        return -1;
    r->job = job;
    int *loc = realloc(r->loc, (size_t) cap * sizeof *loc);
    if (!loc)
        return -1;
    r->loc = loc;
    double *dep = realloc(r->dep, (size_t) cap * sizeof *dep);
    if (!dep)
        return -1;
    r->dep = dep;
    double *lat = realloc(r->lat, (size_t) cap * sizeof *lat);
    if (!lat)
        return -1;
    r->lat = lat;
    int *cum = realloc(r->cum, (size_t) cap * VRP_DIMS * sizeof *cum);
    if (!cum)
        return -1;
    r->cum = cum;
    r->cap = cap;
    return 0;
}

static void s_route_free(vrp_route_t *r)
{
    free(r->job);
    free(r->loc);
    free(r->dep);
    free(r->lat);
    free(r->cum);
    memset(r, 0, sizeof *r);
}

int vrp_route_copy(vrp_route_t *dst, const vrp_route_t *src)
{
    if (vrp_route_reserve(dst, src->n + 2))
        return -1;
    size_t m = (size_t) src->n + 2;
    memcpy(dst->job, src->job, m * sizeof *dst->job);
    memcpy(dst->loc, src->loc, m * sizeof *dst->loc);
    memcpy(dst->dep, src->dep, m * sizeof *dst->dep);
    memcpy(dst->lat, src->lat, m * sizeof *dst->lat);
    memcpy(dst->cum, src->cum, m * VRP_DIMS * sizeof *dst->cum);
    dst->n = src->n;
    dst->dist = src->dist;
    dst->ttime = src->ttime;
    dst->n_nonpref = src->n_nonpref;
    dst->work = src->work;
    dst->late = src->late;
    return 0;
}

//  Recompute the cached schedule of a route whose job[1..n] are set. O(n).
void vrp_route_update(const vrp_problem_t *p, int v, vrp_route_t *r)
{
    const vrp_vehicle_t *veh = &p->veh[v];
    int n = r->n;
    r->job[0] = -1;
    r->job[n + 1] = -1;
    r->loc[0] = veh->start_location;
    r->loc[n + 1] = veh->end_location;
    r->dep[0] = veh->shift_start;
    for (int d = 0; d < VRP_DIMS; d++)
        r->cum[d] = 0;
    double dist = 0, ttime = 0, work = 0, late = 0;
    int nonpref = 0;
    for (int i = 1; i <= n + 1; i++) {
        int prev = r->loc[i - 1];
        if (i <= n)
            r->loc[i] = p->jobs[r->job[i]].location;
        int here = r->loc[i];
        double t = vrp_tv(p, v, prev, here);
        dist += vrp_d(p, prev, here);
        ttime += t;
        double a = r->dep[i - 1] + t;
        int *cum = r->cum + (size_t) i * VRP_DIMS, *pc = cum - VRP_DIMS;
        if (i <= n) {
            const vrp_job_t *j = &p->jobs[r->job[i]];
            double s = vrp_tw_earliest(j, a);
            r->dep[i] = s + j->service;
            work += j->service;
            if (j->max_lateness > 0)
                late += vrp_late_cost(j, s);
            for (int d = 0; d < VRP_DIMS; d++)
                cum[d] = pc[d] + j->demand[d];
            nonpref += vrp_nonpref(j, v);
        }
        else {
            r->dep[i] = a;
            for (int d = 0; d < VRP_DIMS; d++)
                cum[d] = pc[d];
        }
    }
    r->lat[n + 1] = veh->shift_end;
    for (int i = n; i >= 0; i--) {
        double t = r->lat[i + 1] - vrp_tv(p, v, r->loc[i], r->loc[i + 1]);
        if (i > 0) {
            const vrp_job_t *j = &p->jobs[r->job[i]];
            r->lat[i] = vrp_tw_latest(j, t - j->service);
        }
        else
            r->lat[i] = t;
    }
    r->dist = dist;
    r->ttime = ttime;
    r->n_nonpref = nonpref;
    r->work = work + ttime;
    r->late = late;
}

//  Arrival and service start leaving the start at `depart`, tolerant to rounding (see S_EPS).
static double s_start_tolerant(const vrp_job_t *j, double a)
{
    double s = vrp_tw_earliest(j, a);
    if (s == VRP_INF)
        s = vrp_tw_earliest(j, a - S_EPS);
    return s;
}

static void s_sim(const vrp_problem_t *p, int v, const int *jobs, int n, vrp_sim_t *out,
                  bool excl)
{
    const vrp_vehicle_t *veh = &p->veh[v];
    memset(out, 0, sizeof *out);
    for (int i = 0; excl && p->has_excl && i < n; i++)
        if (!vrp_job_ok(p, jobs[i], v)) {
            out->why = "excluded (forbidden, pinned elsewhere or disabled)";
            return;
        }
    long load[VRP_DIMS] = {0};
    int prev = veh->start_location;
    double t = veh->shift_start;
    for (int i = 0; i < n; i++) {
        const vrp_job_t *j = &p->jobs[jobs[i]];
        if (j->skills & ~veh->skills) {
            out->why = "skills";
            return;
        }
        for (int d = 0; d < VRP_DIMS; d++)
            load[d] += j->demand[d];
        double a = t + vrp_tv(p, v, prev, j->location);
        out->dist += vrp_d(p, prev, j->location);
        out->ttime += vrp_tv(p, v, prev, j->location);
        double s = vrp_tw_earliest(j, a);
        if (s == VRP_INF) {
            out->why = "time window";
            return;
        }
        out->late += vrp_late_cost(j, s);
        out->work += j->service;
        t = s + j->service;
        prev = j->location;
    }
    for (int d = 0; d < VRP_DIMS; d++)
        if (load[d] > veh->capacity[d]) {
            out->why = "capacity";
            return;
        }
    out->dist += vrp_d(p, prev, veh->end_location);
    out->ttime += vrp_tv(p, v, prev, veh->end_location);
    out->work += out->ttime;
    double end = t + vrp_tv(p, v, prev, veh->end_location);
    if (end > veh->shift_end) {
        out->why = "shift end";
        return;
    }
    //  Latest departure: every arrival minus departure is non-increasing in the departure
    //  time, so leaving as late as the windows allow minimises route duration and ride times.
    double lat = veh->shift_end;
    int next = veh->end_location;
    for (int i = n - 1; i >= 0; i--) {
        const vrp_job_t *j = &p->jobs[jobs[i]];
        lat = vrp_tw_latest(j, lat - vrp_tv(p, v, j->location, next) - j->service);
        next = j->location;
    }
    lat -= vrp_tv(p, v, veh->start_location, next);
    double depart = lat == VRP_INF || lat < veh->shift_start ? veh->shift_start : lat;
    out->depart = depart;
    t = depart;
    prev = veh->start_location;
    for (int i = 0; i < n; i++) {
        const vrp_job_t *j = &p->jobs[jobs[i]];
        double a = t + vrp_tv(p, v, prev, j->location);
        if (veh->max_ride > 0 && a - depart > veh->max_ride + S_EPS) {
            out->why = "max ride";
            return;
        }
        t = s_start_tolerant(j, a) + j->service;
        prev = j->location;
    }
    out->end = t + vrp_tv(p, v, prev, veh->end_location);
    if (veh->max_duration > 0 && n > 0 && out->end - depart > veh->max_duration + S_EPS) {
        out->why = "max duration";
        return;
    }
    out->feasible = true;
}

void vrp_sim(const vrp_problem_t *p, int v, const int *jobs, int n, vrp_sim_t *out)
{
    s_sim(p, v, jobs, n, out, true);
}

static int s_sync_jobs(vrp_plan_t *self)
{
    int n = self->prob->n_jobs;
    if (n <= self->n_jobs)
        return 0;
    if (n > self->jobs_cap) {
        int cap = self->jobs_cap ? self->jobs_cap : 64;
        while (cap < n)
            cap *= 2;
        int *ro = realloc(self->route_of, (size_t) cap * sizeof *ro);
        if (!ro)
            return -1;
        self->route_of = ro;
        int *po = realloc(self->pos_of, (size_t) cap * sizeof *po);
        if (!po)
            return -1;
        self->pos_of = po;
        unsigned char *re = realloc(self->reason, (size_t) cap);
        if (!re)
            return -1;
        self->reason = re;
        self->jobs_cap = cap;
    }
    for (int j = self->n_jobs; j < n; j++) {
        self->route_of[j] = -1;
        self->pos_of[j] = 0;
        self->reason[j] = VRP_REASON_NOT_PLANNED;
    }
    self->n_jobs = n;
    return 0;
}

//  Give vehicles added to the problem since the last sync an empty route each.
static int s_sync_vehicles(vrp_plan_t *self)
{
    int n = self->prob->n_veh;
    if (n <= self->n_veh)
        return 0;
    vrp_route_t *routes = realloc(self->routes, (size_t) n * sizeof *routes);
    if (!routes)
        return -1;
    self->routes = routes;
    memset(routes + self->n_veh, 0, (size_t) (n - self->n_veh) * sizeof *routes);
    for (int v = self->n_veh; v < n; v++) {
        if (vrp_route_reserve(&routes[v], 8)) {
            //  Keep the routes that are complete; the rest stay unknown to the plan.
            s_route_free(&routes[v]);
            self->n_veh = v;
            return -1;
        }
        vrp_route_update(self->prob, v, &routes[v]);
    }
    self->n_veh = n;
    return 0;
}

int vrp_plan_sync(vrp_plan_t *self)
{
    return s_sync_jobs(self) || s_sync_vehicles(self) ? -1 : 0;
}

vrp_plan_t *vrp_plan_new(const vrp_problem_t *problem)
{
    assert(problem);
    vrp_plan_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->prob = problem;
    self->n_veh = problem->n_veh;
    self->routes = calloc((size_t) (self->n_veh ? self->n_veh : 1), sizeof *self->routes);
    if (!self->routes || s_sync_jobs(self)) {
        vrp_plan_destroy(&self);
        return NULL;
    }
    for (int v = 0; v < self->n_veh; v++) {
        if (vrp_route_reserve(&self->routes[v], 8)) {
            vrp_plan_destroy(&self);
            return NULL;
        }
        self->routes[v].n = 0;
        vrp_route_update(problem, v, &self->routes[v]);
    }
    return self;
}

void vrp_plan_destroy(vrp_plan_t **self_p)
{
    assert(self_p);
    vrp_plan_t *self = *self_p;
    if (!self)
        return;
    if (self->routes)
        for (int v = 0; v < self->n_veh; v++)
            s_route_free(&self->routes[v]);
    free(self->routes);
    free(self->route_of);
    free(self->pos_of);
    free(self->reason);
    free(self);
    *self_p = NULL;
}

vrp_plan_t *vrp_plan_dup(const vrp_plan_t *self)
{
    assert(self);
    vrp_plan_t *copy = vrp_plan_new(self->prob);
    if (!copy)
        return NULL;
    for (int v = 0; v < self->n_veh; v++)
        if (vrp_route_copy(&copy->routes[v], &self->routes[v])) {
            vrp_plan_destroy(&copy);
            return NULL;
        }
    size_t m = (size_t) self->n_jobs;
    if (m == 0)
        return copy;
    memcpy(copy->route_of, self->route_of, m * sizeof *copy->route_of);
    memcpy(copy->pos_of, self->pos_of, m * sizeof *copy->pos_of);
    memcpy(copy->reason, self->reason, m);
    return copy;
}

double vrp_route_cost(const vrp_problem_t *p, int v, const vrp_route_t *r)
{
    if (r->n == 0)
        return 0;
    return p->costs.per_distance * r->dist + p->costs.per_time * r->ttime + p->veh[v].fixed_cost
           + p->costs.non_preferred_penalty * r->n_nonpref + r->late
           + p->costs.balance * r->work * r->work;
}

double vrp_insert_route_terms(const vrp_plan_t *self, int job, int v, int pos, double s)
{
    const vrp_problem_t *p = self->prob;
    const vrp_route_t *r = &self->routes[v];
    const vrp_job_t *j = &p->jobs[job];
    int a = r->loc[pos - 1], b = r->loc[pos], l = j->location;
    double delta = 0;
    if (p->costs.balance != 0) {
        //  An empty route has no cost, so its work counts from zero.
        double old = r->n > 0 ? r->work : 0;
        double now = vrp_tv(p, v, a, l) + vrp_tv(p, v, l, b) + j->service
                     + (r->n > 0 ? r->work - vrp_tv(p, v, a, b) : 0);
        delta += p->costs.balance * (now * now - old * old);
    }
    if (p->has_soft) {
        delta += vrp_late_cost(j, s);
        //  Push the delay down the route until waiting absorbs it.
        double t = s + j->service;
        int prev = l;
        for (int i = pos; i <= r->n; i++) {
            const vrp_job_t *k = &p->jobs[r->job[i]];
            double old_s = r->dep[i] - k->service;
            double new_s = vrp_tw_earliest(k, t + vrp_tv(p, v, prev, r->loc[i]));
            if (new_s <= old_s)
                break;
            delta += vrp_late_cost(k, new_s) - vrp_late_cost(k, old_s);
            t = new_s + k->service;
            prev = r->loc[i];
        }
    }
    return delta;
}

double vrp_job_penalty(const vrp_problem_t *p, int job)
{
    return p->costs.unassigned_penalty * (1 + p->jobs[job].priority);
}

//  Full check of `jobs` on vehicle v for vehicles with duration/ride limits.
static bool s_extra_ok(const vrp_problem_t *p, int v, const vrp_route_t *r, int pos, int job)
{
    int stack[256];
    int n = r->n + 1;
    int *seq = n <= 256 ? stack : malloc((size_t) n * sizeof *seq);
    if (!seq)
        return false;
    memcpy(seq, r->job + 1, (size_t) (pos - 1) * sizeof *seq);
    seq[pos - 1] = job;
    memcpy(seq + pos, r->job + pos, (size_t) (r->n - pos + 1) * sizeof *seq);
    vrp_sim_t sim;
    vrp_sim(p, v, seq, n, &sim);
    if (seq != stack)
        free(seq);
    return sim.feasible;
}

double vrp_insert_delta(const vrp_plan_t *self, int job, int v, int pos)
{
    const vrp_problem_t *p = self->prob;
    const vrp_route_t *r = &self->routes[v];
    const vrp_vehicle_t *veh = &p->veh[v];
    const vrp_job_t *j = &p->jobs[job];
    if ((j->skills & ~veh->skills) || !vrp_job_ok(p, job, v))
        return VRP_INF;
    const int *tot = r->cum + (size_t) (r->n + 1) * VRP_DIMS;
    for (int d = 0; d < VRP_DIMS; d++)
        if (tot[d] + j->demand[d] > veh->capacity[d])
            return VRP_INF;
    int a = r->loc[pos - 1], b = r->loc[pos], l = j->location;
    double s = vrp_tw_earliest(j, r->dep[pos - 1] + vrp_tv(p, v, a, l));
    if (s == VRP_INF || s + j->service + vrp_tv(p, v, l, b) > r->lat[pos])
        return VRP_INF;
    const vrp_costs_t *c = &p->costs;
    //  An empty route costs nothing (the vehicle stays home), so its start-end arc is not
    //  saved by the insertion.
    double keep = r->n > 0;
    double delta = c->per_distance * (vrp_d(p, a, l) + vrp_d(p, l, b) - keep * vrp_d(p, a, b));
    if (c->per_time != 0)
        delta += c->per_time * (vrp_tv(p, v, a, l) + vrp_tv(p, v, l, b) - keep * vrp_tv(p, v, a, b));
    if (r->n == 0)
        delta += veh->fixed_cost;
    if (c->non_preferred_penalty != 0 && vrp_nonpref(j, v))
        delta += c->non_preferred_penalty;
    if (vrp_route_terms(p))
        delta += vrp_insert_route_terms(self, job, v, pos, s);
    if ((veh->max_duration > 0 || veh->max_ride > 0) && !s_extra_ok(p, v, r, pos, job))
        return VRP_INF;
    return delta;
}

//  Refresh after job[pos] was inserted (all arrays already shifted): positions before pos
//  depart as before and positions after it keep their latest starts, so the forward pass
//  starts at pos, the backward pass ends there, and the totals change by the new arcs.
static void s_route_update_insert(const vrp_problem_t *p, int v, vrp_route_t *r, int pos)
{
    const vrp_job_t *j = &p->jobs[r->job[pos]];
    int n = r->n;
    int a = r->loc[pos - 1], l = j->location, b = r->loc[pos + 1];
    r->loc[pos] = l;
    r->dist += vrp_d(p, a, l) + vrp_d(p, l, b) - vrp_d(p, a, b);
    double dt = vrp_tv(p, v, a, l) + vrp_tv(p, v, l, b) - vrp_tv(p, v, a, b);
    r->ttime += dt;
    r->work += dt + j->service;
    r->n_nonpref += vrp_nonpref(j, v);
    for (int d = 0; d < VRP_DIMS; d++)
        r->cum[(size_t) pos * VRP_DIMS + d] = r->cum[(size_t) (pos - 1) * VRP_DIMS + d]
                                              + j->demand[d];
    for (int i = pos + 1; i <= n + 1; i++)
        for (int d = 0; d < VRP_DIMS; d++)
            r->cum[(size_t) i * VRP_DIMS + d] += j->demand[d];
    for (int i = pos; i <= n + 1; i++) {
        double at = r->dep[i - 1] + vrp_tv(p, v, r->loc[i - 1], r->loc[i]);
        if (i <= n) {
            const vrp_job_t *k = &p->jobs[r->job[i]];
            r->dep[i] = vrp_tw_earliest(k, at) + k->service;
        }
        else
            r->dep[i] = at;
    }
    for (int i = pos; i >= 0; i--) {
        double t = r->lat[i + 1] - vrp_tv(p, v, r->loc[i], r->loc[i + 1]);
        if (i > 0) {
            const vrp_job_t *k = &p->jobs[r->job[i]];
            r->lat[i] = vrp_tw_latest(k, t - k->service);
        }
        else
            r->lat[i] = t;
    }
}

int vrp_route_insert(vrp_plan_t *self, int v, int pos, int job)
{
    vrp_route_t *r = &self->routes[v];
    if (vrp_route_reserve(r, r->n + 3))
        return -1;
    size_t tail = (size_t) (r->n + 2 - pos);
    memmove(r->job + pos + 1, r->job + pos, tail * sizeof *r->job);
    memmove(r->loc + pos + 1, r->loc + pos, tail * sizeof *r->loc);
    memmove(r->dep + pos + 1, r->dep + pos, tail * sizeof *r->dep);
    memmove(r->lat + pos + 1, r->lat + pos, tail * sizeof *r->lat);
    memmove(r->cum + (size_t) (pos + 1) * VRP_DIMS, r->cum + (size_t) pos * VRP_DIMS,
            tail * VRP_DIMS * sizeof *r->cum);
    r->job[pos] = job;
    r->n++;
    //  Lateness is a sum over the whole earliest schedule: recompute it all.
    if (self->prob->has_soft)
        vrp_route_update(self->prob, v, r);
    else
        s_route_update_insert(self->prob, v, r, pos);
    for (int i = pos; i <= r->n; i++)
        self->pos_of[r->job[i]] = i;
    self->route_of[job] = v;
    self->reason[job] = VRP_REASON_NONE;
    return 0;
}

void vrp_route_remove_at(vrp_plan_t *self, int v, int pos)
{
    vrp_route_t *r = &self->routes[v];
    int job = r->job[pos];
    memmove(r->job + pos, r->job + pos + 1, (size_t) (r->n + 1 - pos) * sizeof *r->job);
    r->n--;
    vrp_route_update(self->prob, v, r);
    for (int i = pos; i <= r->n; i++)
        self->pos_of[r->job[i]] = i;
    self->route_of[job] = -1;
    self->reason[job] = VRP_REASON_NO_ROOM;
}

int vrp_route_set(vrp_plan_t *self, int v, const int *jobs, int n)
{
    vrp_route_t *r = &self->routes[v];
    if (vrp_route_reserve(r, n + 2))
        return -1;
    memcpy(r->job + 1, jobs, (size_t) n * sizeof *jobs);
    r->n = n;
    vrp_route_update(self->prob, v, r);
    for (int i = 1; i <= n; i++) {
        self->pos_of[r->job[i]] = i;
        self->route_of[r->job[i]] = v;
        self->reason[r->job[i]] = VRP_REASON_NONE;
    }
    return 0;
}

//  Most hopeful reason over the vehicles (only the allowed ones if excl).
static int s_reason_level(const vrp_problem_t *p, int job, bool excl)
{
    const vrp_job_t *j = &p->jobs[job];
    //  Vehicles of one class are interchangeable unless the job names some of them.
    bool each = excl && vrp_job_restricted(p, job);
    int best = VRP_REASON_SKILLS;
    for (int v = 0; v < p->n_veh && best != VRP_REASON_NO_ROOM; v++) {
        if (excl && !vrp_job_ok(p, job, v))
            continue;
        if (!each && p->veh_class[v] != v)
            continue;   //  an identical vehicle was already tried
        const vrp_vehicle_t *veh = &p->veh[v];
        if (j->skills & ~veh->skills)
            continue;
        int level = VRP_REASON_CAPACITY;
        bool cap_ok = true;
        for (int d = 0; d < VRP_DIMS; d++)
            cap_ok &= j->demand[d] <= veh->capacity[d];
        if (cap_ok) {
            vrp_sim_t sim;
            s_sim(p, v, &job, 1, &sim, false);
            if (sim.feasible)
                level = VRP_REASON_NO_ROOM;
            else if (strcmp(sim.why, "max ride") == 0 || strcmp(sim.why, "max duration") == 0)
                level = VRP_REASON_MAX_DURATION;
            else
                level = VRP_REASON_TIME_WINDOW;
        }
        //  Reasons are ordered from "hopeless" to "just full": keep the most hopeful.
        if (level > best)
            best = level;
    }
    return best;
}

vrp_reason_t vrp_reason_alone(const vrp_problem_t *p, int job)
{
    if (vrp_job_off(p, job))
        return VRP_REASON_DISABLED;
    int all = s_reason_level(p, job, false);
    if (!p->has_excl)
        return (vrp_reason_t) all;
    //  Worse with the exclusions than without: the vehicles that could take it are excluded.
    int allowed = s_reason_level(p, job, true);
    return allowed < all ? VRP_REASON_EXCLUDED : (vrp_reason_t) allowed;
}

int vrp_plan_best_insertion(const vrp_plan_t *self, int job, vrp_insertion_t *out)
{
    assert(self);
    assert(out);
    const vrp_problem_t *p = self->prob;
    out->vehicle = -1;
    out->position = -1;
    out->delta_cost = VRP_INF;
    out->reason = VRP_REASON_NO_ROOM;
    //  Vehicles added since the plan last synced are not offered (vrp_plan_insert syncs).
    if (job < 0 || job >= p->n_jobs)
        return -1;
    if (job < self->n_jobs && self->route_of[job] >= 0) {
        out->reason = VRP_REASON_NONE;   //  already planned: -1 with reason "assigned"
        return -1;
    }
    if (vrp_job_off(p, job)) {
        out->reason = VRP_REASON_DISABLED;
        return -1;
    }
    const vrp_job_t *j = &p->jobs[job];
    const vrp_costs_t *c = &p->costs;
    double last_end = j->n_windows ? j->windows[j->n_windows - 1].end + j->max_lateness
                                   : VRP_INF;
    double first_need = (j->n_windows ? j->windows[0].start : -VRP_INF) + j->service;
    int l = j->location;
    bool terms = vrp_route_terms(p);
    //  Empty routes of interchangeable vehicles give the same answer: try one per class.
    unsigned char tried_small[1024];
    unsigned char *tried = tried_small;
    if (self->n_veh > 1024 && !(tried = calloc((size_t) self->n_veh, 1)))
        return -1;
    if (tried == tried_small)
        memset(tried_small, 0, sizeof tried_small);
    //  Pass 1: choose the routes and, in each, the contiguous range of positions that the
    //  windows allow (lat[] and dep[] never decrease along a route), and prefetch the matrix
    //  cells those positions will read. With thousands of places the cells are cache misses;
    //  issued together they overlap instead of stalling one after another in pass 2.
    typedef struct {
        int v, lo, hi;
    } s_range_t;
    s_range_t ranges_small[256];
    s_range_t *ranges = ranges_small;
    if (self->n_veh > 256 && !(ranges = malloc((size_t) self->n_veh * sizeof *ranges))) {
        if (tried != tried_small)
            free(tried);
        return -1;
    }
    int n_ranges = 0;
    size_t n = (size_t) p->n_loc;
    for (int v = 0; v < self->n_veh; v++) {
        const vrp_route_t *r = &self->routes[v];
        const vrp_vehicle_t *veh = &p->veh[v];
        if ((j->skills & ~veh->skills) || !vrp_job_ok(p, job, v))
            continue;   //  before the class mark: a forbidden vehicle stands for no other
        if (r->n == 0) {
            if (tried[p->veh_class[v]])
                continue;
            tried[p->veh_class[v]] = 1;
        }
        const int *tot = r->cum + (size_t) (r->n + 1) * VRP_DIMS;
        bool fits = true;
        for (int d = 0; d < VRP_DIMS; d++)
            fits &= tot[d] + j->demand[d] <= veh->capacity[d];
        if (!fits)
            continue;
        int lo = 1, hi = r->n + 1;
        while (lo <= hi && r->lat[lo] < first_need)
            lo++;
        while (hi >= lo && r->dep[hi - 1] > last_end)
            hi--;
        if (lo > hi)
            continue;
        if (p->td)
            for (int pos = lo; pos <= hi; pos++) {
                size_t a = (size_t) r->loc[pos - 1], b = (size_t) r->loc[pos];
                __builtin_prefetch(p->td + 2 * (a * n + (size_t) l));
                __builtin_prefetch(p->td + 2 * ((size_t) l * n + b));
                __builtin_prefetch(p->td + 2 * (a * n + b));
            }
        else
            for (int pos = lo - 1; pos <= hi; pos++)
                __builtin_prefetch(p->xyz + 4 * (size_t) r->loc[pos]);
        ranges[n_ranges++] = (s_range_t) {v, lo, hi};
    }
    //  Pass 2: the window test (one matrix read) before the cost delta.
    double best = VRP_INF;
    for (int k = 0; k < n_ranges; k++) {
        int v = ranges[k].v;
        const vrp_route_t *r = &self->routes[v];
        const vrp_vehicle_t *veh = &p->veh[v];
        bool extra = veh->max_duration > 0 || veh->max_ride > 0;
        double fixed = r->n == 0 ? veh->fixed_cost : 0;
        if (c->non_preferred_penalty != 0 && vrp_nonpref(j, v))
            fixed += c->non_preferred_penalty;
        double keep = r->n > 0;
        if (p->xyz) {
            //  Points: each distance costs a square root. d(a, l) at one position is
            //  d(l, b) of the one before (the chord is symmetric bit for bit), so each place
            //  of the range is measured once, and d(a, b) only where the windows allow.
            const double *ul = p->xyz + 4 * (size_t) l;
            double det = p->detour, spd = p->speed, f = veh->time_factor;
            int lo = ranges[k].lo;
            double d_al = vrp_geo_chord(p->xyz + 4 * (size_t) r->loc[lo - 1], ul) * det;
            for (int pos = lo; pos <= ranges[k].hi; pos++) {
                int a = r->loc[pos - 1], b = r->loc[pos];
                double d_lb = vrp_geo_chord(ul, p->xyz + 4 * (size_t) b) * det;
                double t_al = d_al / spd * f, t_lb = d_lb / spd * f, d_la = d_al;
                d_al = d_lb;
                double s = vrp_tw_earliest(j, r->dep[pos - 1] + t_al);
                if (s == VRP_INF || s + j->service + t_lb > r->lat[pos])
                    continue;
                double d_ab = vrp_pts_d(p, a, b);
                double delta = fixed + c->per_distance * (d_la + d_lb - keep * d_ab);
                if (c->per_time != 0)
                    delta += c->per_time * (t_al + t_lb - keep * (d_ab / spd * f));
                if (terms)
                    delta += vrp_insert_route_terms(self, job, v, pos, s);
                if (delta >= best || (extra && vrp_insert_delta(self, job, v, pos) == VRP_INF))
                    continue;
                best = delta;
                out->vehicle = v;
                out->position = pos - 1;
            }
            continue;
        }
        for (int pos = ranges[k].lo; pos <= ranges[k].hi; pos++) {
            int a = r->loc[pos - 1], b = r->loc[pos];
            double s = vrp_tw_earliest(j, r->dep[pos - 1] + vrp_tv(p, v, a, l));
            if (s == VRP_INF || s + j->service + vrp_tv(p, v, l, b) > r->lat[pos])
                continue;
            double delta = fixed + c->per_distance
                                   * (vrp_d(p, a, l) + vrp_d(p, l, b) - keep * vrp_d(p, a, b));
            if (c->per_time != 0)
                delta += c->per_time * (vrp_tv(p, v, a, l) + vrp_tv(p, v, l, b) - keep * vrp_tv(p, v, a, b));
            if (terms)
                delta += vrp_insert_route_terms(self, job, v, pos, s);
            if (delta >= best || (extra && vrp_insert_delta(self, job, v, pos) == VRP_INF))
                continue;
            best = delta;
            out->vehicle = v;
            out->position = pos - 1;
        }
    }
    if (ranges != ranges_small)
        free(ranges);
    if (tried != tried_small)
        free(tried);
    if (out->vehicle < 0) {
        out->reason = vrp_reason_alone(p, job);
        return -1;
    }
    out->delta_cost = best;
    out->reason = VRP_REASON_NONE;
    return 0;
}

int vrp_plan_insert(vrp_plan_t *self, int job, vrp_insertion_t *out)
{
    assert(self);
    vrp_insertion_t local;
    if (!out)
        out = &local;
    if (vrp_plan_sync(self) || job < 0 || job >= self->n_jobs)
        return -1;
    if (vrp_plan_best_insertion(self, job, out)) {
        if (self->route_of[job] < 0)
            self->reason[job] = (unsigned char) out->reason;
        return -1;
    }
    if (vrp_route_insert(self, out->vehicle, out->position + 1, job))
        return -1;
    return 0;
}

int vrp_plan_insert_at(vrp_plan_t *self, int job, int vehicle, int position)
{
    assert(self);
    if (vrp_plan_sync(self) || job < 0 || job >= self->n_jobs || self->route_of[job] >= 0)
        return -1;
    if (vehicle < 0 || vehicle >= self->n_veh || position < 0
        || position > self->routes[vehicle].n)
        return -1;
    if (vrp_insert_delta(self, job, vehicle, position + 1) == VRP_INF)
        return -1;
    return vrp_route_insert(self, vehicle, position + 1, job);
}

int vrp_plan_remove(vrp_plan_t *self, int job)
{
    assert(self);
    if (job < 0 || job >= self->n_jobs || self->route_of[job] < 0)
        return -1;
    vrp_route_remove_at(self, self->route_of[job], self->pos_of[job]);
    return 0;
}

vrp_plan_t *vrp_plan_from_routes(const vrp_problem_t *problem, const int *const *routes,
                                 const int *lens)
{
    assert(problem);
    assert(routes);
    assert(lens);
    vrp_plan_t *self = vrp_plan_new(problem);
    if (!self)
        return NULL;
    for (int v = 0; v < self->n_veh; v++) {
        for (int i = 0; i < lens[v]; i++) {
            int j = routes[v][i];
            if (j < 0 || j >= self->n_jobs || self->route_of[j] >= 0) {
                vrp_plan_destroy(&self);
                return NULL;
            }
            self->route_of[j] = v;   //  marks duplicates; vrp_route_set rewrites it
        }
        if (vrp_route_set(self, v, routes[v], lens[v])) {
            vrp_plan_destroy(&self);
            return NULL;
        }
    }
    for (int j = 0; j < self->n_jobs; j++)
        if (self->route_of[j] < 0)
            self->reason[j] = VRP_REASON_NO_ROOM;
    return self;
}

int vrp_plan_route_length(const vrp_plan_t *self, int vehicle)
{
    assert(self);
    if (vehicle < 0 || vehicle >= self->n_veh)
        return -1;
    return self->routes[vehicle].n;
}

int vrp_plan_route_job(const vrp_plan_t *self, int vehicle, int index)
{
    assert(self);
    if (vehicle < 0 || vehicle >= self->n_veh || index < 0 || index >= self->routes[vehicle].n)
        return -1;
    return self->routes[vehicle].job[index + 1];
}

int vrp_plan_stop_times(const vrp_plan_t *self, int vehicle, int index, double *arrival,
                        double *service_start)
{
    assert(self);
    if (vehicle < 0 || vehicle >= self->n_veh || index < 0 || index >= self->routes[vehicle].n)
        return -1;
    const vrp_problem_t *p = self->prob;
    const vrp_route_t *r = &self->routes[vehicle];
    vrp_sim_t sim;
    vrp_sim(p, vehicle, r->job + 1, r->n, &sim);
    double t = sim.feasible ? sim.depart : p->veh[vehicle].shift_start;
    double a = t, s = t;
    for (int i = 1; i <= index + 1; i++) {
        const vrp_job_t *j = &p->jobs[r->job[i]];
        a = t + vrp_tv(p, vehicle, r->loc[i - 1], r->loc[i]);
        s = s_start_tolerant(j, a);
        t = s + j->service;
    }
    if (arrival)
        *arrival = a;
    if (service_start)
        *service_start = s;
    return 0;
}

int vrp_plan_vehicles_used(const vrp_plan_t *self)
{
    assert(self);
    int used = 0;
    for (int v = 0; v < self->n_veh; v++)
        used += self->routes[v].n > 0;
    return used;
}

int vrp_plan_unassigned(const vrp_plan_t *self)
{
    assert(self);
    const vrp_problem_t *p = self->prob;
    int count = 0;
    for (int j = 0; j < p->n_jobs; j++)
        count += (j >= self->n_jobs || self->route_of[j] < 0) && !vrp_job_off(p, j);
    return count;
}

vrp_reason_t vrp_plan_reason(const vrp_plan_t *self, int job)
{
    assert(self);
    if (job < 0 || job >= self->prob->n_jobs)
        return VRP_REASON_NOT_PLANNED;
    bool assigned = job < self->n_jobs && self->route_of[job] >= 0;
    if (!assigned && vrp_job_off(self->prob, job))
        return VRP_REASON_DISABLED;
    if (job >= self->n_jobs)
        return VRP_REASON_NOT_PLANNED;
    return (vrp_reason_t) self->reason[job];
}

double vrp_plan_distance(const vrp_plan_t *self)
{
    assert(self);
    double dist = 0;
    for (int v = 0; v < self->n_veh; v++)
        if (self->routes[v].n > 0)
            dist += self->routes[v].dist;
    return dist;
}

double vrp_plan_cost(const vrp_plan_t *self)
{
    assert(self);
    const vrp_problem_t *p = self->prob;
    double cost = 0;
    for (int v = 0; v < self->n_veh; v++)
        cost += vrp_route_cost(p, v, &self->routes[v]);
    for (int j = 0; j < p->n_jobs; j++)
        if ((j >= self->n_jobs || self->route_of[j] < 0) && !vrp_job_off(p, j))
            cost += vrp_job_penalty(p, j);
    return cost;
}

int vrp_plan_check(const vrp_plan_t *self, char *why, size_t why_size)
{
    assert(self);
    const vrp_problem_t *p = self->prob;
    int *seen = calloc((size_t) (p->n_jobs ? p->n_jobs : 1), sizeof *seen);
    if (!seen) {
        if (why)
            snprintf(why, why_size, "out of memory");
        return -1;
    }
    int rc = 0;
    for (int v = 0; v < self->n_veh && rc == 0; v++) {
        const vrp_route_t *r = &self->routes[v];
        for (int i = 1; i <= r->n; i++) {
            int j = r->job[i];
            if (j < 0 || j >= p->n_jobs || seen[j]++) {
                if (why)
                    snprintf(why, why_size, "vehicle %d: job %d repeated or unknown", v, j);
                rc = -1;
                break;
            }
        }
        if (rc)
            break;
        vrp_sim_t sim;
        vrp_sim(p, v, r->job + 1, r->n, &sim);
        if (!sim.feasible) {
            if (why)
                snprintf(why, why_size, "vehicle %d: %s", v, sim.why);
            rc = -1;
        }
    }
    free(seen);
    return rc;
}
