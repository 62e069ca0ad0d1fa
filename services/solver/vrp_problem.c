/*  vrp_problem.c: locations, matrices, jobs and vehicles. */
#include "vrp_internal.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

static vrp_problem_t *s_alloc(int n_locations)
{
    if (n_locations <= 0 || (size_t) n_locations > 46000)
        return NULL;   //  n^2 doubles must stay addressable and sane
    vrp_problem_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    size_t cells = (size_t) n_locations * n_locations;
    self->n_loc = n_locations;
    self->td = malloc(2 * cells * sizeof(double));
    self->costs = (vrp_costs_t) {1.0, 0.0, 1e6, 0.0, 0.0};
    if (!self->td) {
        vrp_problem_destroy(&self);
        return NULL;
    }
    return self;
}

vrp_problem_t *vrp_problem_new(int n_locations, const double *time, const double *dist)
{
    if (!time)
        return NULL;
    vrp_problem_t *self = s_alloc(n_locations);
    if (!self)
        return NULL;
    size_t cells = (size_t) n_locations * n_locations;
    for (size_t i = 0; i < cells; i++) {
        //  Negative or NaN travel would break every slack argument: reject, do not assert.
        if (!(time[i] >= 0) || (dist && !(dist[i] >= 0))) {
            vrp_problem_destroy(&self);
            return NULL;
        }
    }
    for (size_t i = 0; i < cells; i++) {
        self->td[2 * i] = time[i];
        self->td[2 * i + 1] = dist ? dist[i] : time[i];
    }
    return self;
}

vrp_problem_t *vrp_problem_new_euclidean(int n_locations, const double *xy, double speed)
{
    if (!xy || !(speed > 0))
        return NULL;
    bool unit = speed == 1.0;
    vrp_problem_t *self = s_alloc(n_locations);
    if (!self)
        return NULL;
    for (int a = 0; a < n_locations; a++)
        for (int b = 0; b < n_locations; b++) {
            double dx = xy[2 * a] - xy[2 * b], dy = xy[2 * a + 1] - xy[2 * b + 1];
            //  sqrt of the same expression as the Solomon checker, so sums agree to the ulp.
            double d = sqrt(dx * dx + dy * dy);
            size_t k = (size_t) a * n_locations + b;
            self->td[2 * k] = unit ? d : d / speed;
            self->td[2 * k + 1] = d;
        }
    return self;
}

vrp_problem_t *vrp_problem_new_geo(int n_locations, const double *latlon, double detour,
                                   double speed_mps)
{
    if (!latlon || !(speed_mps > 0) || !(detour >= 1.0))
        return NULL;
    vrp_problem_t *self = s_alloc(n_locations);
    if (!self)
        return NULL;
    const double rad = M_PI / 180.0, earth = 6371008.8;
    for (int a = 0; a < n_locations; a++)
        for (int b = 0; b < n_locations; b++) {
            double la1 = latlon[2 * a] * rad, la2 = latlon[2 * b] * rad;
            double dla = la2 - la1, dlo = (latlon[2 * b + 1] - latlon[2 * a + 1]) * rad;
            //  Haversine: stable for the short urban distances we care about.
            double h = sin(dla / 2) * sin(dla / 2)
                       + cos(la1) * cos(la2) * sin(dlo / 2) * sin(dlo / 2);
            double d = 2 * earth * asin(fmin(1.0, sqrt(h))) * detour;
            size_t k = (size_t) a * n_locations + b;
            self->td[2 * k] = d / speed_mps;
            self->td[2 * k + 1] = d;
        }
    return self;
}

void vrp_problem_destroy(vrp_problem_t **self_p)
{
    assert(self_p);
    vrp_problem_t *self = *self_p;
    if (!self)
        return;
    free(self->td);
    free(self->jobs);
    free(self->veh);
    free(self->veh_class);
    free(self);
    *self_p = NULL;
}

void vrp_job_init(vrp_job_t *job, int location)
{
    assert(job);
    memset(job, 0, sizeof *job);
    job->location = location;
}

void vrp_vehicle_init(vrp_vehicle_t *vehicle, int start_location, int end_location)
{
    assert(vehicle);
    memset(vehicle, 0, sizeof *vehicle);
    vehicle->start_location = start_location;
    vehicle->end_location = end_location;
    vehicle->shift_end = VRP_INF;
    for (int d = 0; d < VRP_DIMS; d++)
        vehicle->capacity[d] = 1 << 30;
    vehicle->skills = ~(uint64_t) 0;
}

void vrp_params_init(vrp_params_t *params)
{
    assert(params);
    memset(params, 0, sizeof *params);
    params->objective = VRP_OBJ_DISTANCE;
    params->time_limit = 1.0;
    params->seed = 1;
    params->local_search = 1;
}

static bool s_job_valid(const vrp_problem_t *self, const vrp_job_t *j)
{
    if (j->location < 0 || j->location >= self->n_loc || !(j->service >= 0))
        return false;
    if (j->n_windows < 0 || j->n_windows > VRP_MAX_WINDOWS || j->priority < 0)
        return false;
    if (j->n_preferred < 0 || j->n_preferred > VRP_MAX_PREFERRED)
        return false;
    if (!(j->max_lateness >= 0) || !(j->lateness_cost >= 0))
        return false;
    for (int w = 0; w < j->n_windows; w++) {
        if (!(j->windows[w].start <= j->windows[w].end))
            return false;
        //  Soft ends must not reach the next window, or "which window" becomes ambiguous.
        if (w > 0 && !(j->windows[w - 1].end + j->max_lateness < j->windows[w].start))
            return false;
    }
    for (int d = 0; d < VRP_DIMS; d++)
        if (j->demand[d] < 0)
            return false;
    return true;
}

int vrp_problem_add_job(vrp_problem_t *self, const vrp_job_t *job)
{
    assert(self);
    assert(job);
    if (!s_job_valid(self, job))
        return -1;
    if (self->n_jobs == self->jobs_cap) {
        int cap = self->jobs_cap ? self->jobs_cap * 2 : 64;
        vrp_job_t *jobs = realloc(self->jobs, (size_t) cap * sizeof *jobs);
        if (!jobs)
            return -1;
        self->jobs = jobs;
        self->jobs_cap = cap;
    }
    self->jobs[self->n_jobs] = *job;
    if (job->max_lateness > 0 && job->n_windows > 0)
        self->has_soft = true;
    return self->n_jobs++;
}

static bool s_same_vehicle(const vrp_vehicle_t *a, const vrp_vehicle_t *b)
{
    return memcmp(a, b, sizeof *a) == 0;
}

int vrp_problem_add_vehicle(vrp_problem_t *self, const vrp_vehicle_t *v)
{
    assert(self);
    assert(v);
    if (v->start_location < 0 || v->start_location >= self->n_loc || v->end_location < 0
        || v->end_location >= self->n_loc || !(v->shift_start <= v->shift_end)
        || !(v->max_duration >= 0) || !(v->max_ride >= 0) || !(v->fixed_cost >= 0))
        return -1;
    if (self->n_veh == self->veh_cap) {
        int cap = self->veh_cap ? self->veh_cap * 2 : 16;
        vrp_vehicle_t *veh = realloc(self->veh, (size_t) cap * sizeof *veh);
        if (!veh)
            return -1;
        self->veh = veh;
        int *cls = realloc(self->veh_class, (size_t) cap * sizeof *cls);
        if (!cls)
            return -1;
        self->veh_class = cls;
        self->veh_cap = cap;
    }
    int idx = self->n_veh;
    vrp_vehicle_t copy;
    //  Copy through memset so padding compares equal in s_same_vehicle.
    memset(&copy, 0, sizeof copy);
    copy.start_location = v->start_location;
    copy.end_location = v->end_location;
    copy.shift_start = v->shift_start;
    copy.shift_end = v->shift_end;
    memcpy(copy.capacity, v->capacity, sizeof copy.capacity);
    copy.skills = v->skills;
    copy.max_duration = v->max_duration;
    copy.max_ride = v->max_ride;
    copy.fixed_cost = v->fixed_cost;
    self->veh[idx] = copy;
    self->veh_class[idx] = idx;
    for (int i = 0; i < idx; i++)
        if (s_same_vehicle(&self->veh[i], &copy)) {
            self->veh_class[idx] = self->veh_class[i];
            break;
        }
    if (copy.max_duration > 0 || copy.max_ride > 0)
        self->has_extra = true;
    self->n_veh++;
    return idx;
}

void vrp_problem_set_costs(vrp_problem_t *self, const vrp_costs_t *costs)
{
    assert(self);
    assert(costs);
    self->costs = *costs;
}

int vrp_problem_jobs(const vrp_problem_t *self)
{
    assert(self);
    return self->n_jobs;
}

int vrp_problem_vehicles(const vrp_problem_t *self)
{
    assert(self);
    return self->n_veh;
}

const vrp_job_t *vrp_problem_job(const vrp_problem_t *self, int job)
{
    assert(self);
    return job >= 0 && job < self->n_jobs ? &self->jobs[job] : NULL;
}

double vrp_problem_time(const vrp_problem_t *self, int from, int to)
{
    assert(self);
    assert(from >= 0 && from < self->n_loc && to >= 0 && to < self->n_loc);
    return vrp_t(self, from, to);
}

double vrp_problem_distance(const vrp_problem_t *self, int from, int to)
{
    assert(self);
    assert(from >= 0 && from < self->n_loc && to >= 0 && to < self->n_loc);
    return vrp_d(self, from, to);
}

const char *vrp_reason_str(vrp_reason_t reason)
{
    switch (reason) {
        case VRP_REASON_NONE: return "assigned";
        case VRP_REASON_SKILLS: return "skills";
        case VRP_REASON_CAPACITY: return "capacity";
        case VRP_REASON_TIME_WINDOW: return "time_window";
        case VRP_REASON_MAX_DURATION: return "max_duration";
        case VRP_REASON_NO_ROOM: return "no_room";
        case VRP_REASON_NOT_PLANNED: return "not_planned";
    }
    return "unknown";
}
