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

void vrp_geo_unit(double lat, double lon, double *u)
{
    const double rad = M_PI / 180.0;
    double la = lat * rad, lo = lon * rad, c = cos(la);
    u[0] = c * cos(lo);
    u[1] = c * sin(lo);
    u[2] = sin(la);
}

double vrp_geo_metres(double lat1, double lon1, double lat2, double lon2)
{
    double u[3], w[3];
    vrp_geo_unit(lat1, lon1, u);
    vrp_geo_unit(lat2, lon2, w);
    return vrp_geo_chord(u, w);
}

void vrp_geo_point(double lat, double lon, double xyz[3])
{
    vrp_geo_unit(lat, lon, xyz);
}

static bool s_latlon_valid(double lat, double lon)
{
    return lat >= -90 && lat <= 90 && lon >= -180 && lon <= 180;   //  false for NaN
}

vrp_problem_t *vrp_problem_new_geo(int n_locations, const double *latlon, double detour,
                                   double speed_mps)
{
    if (!latlon || !(speed_mps > 0) || !(detour >= 1.0) || !isfinite(speed_mps)
        || !isfinite(detour))
        return NULL;
    for (int a = 0; a < n_locations; a++)
        if (!s_latlon_valid(latlon[2 * a], latlon[2 * a + 1]))
            return NULL;
    vrp_problem_t *self = s_alloc(n_locations);
    if (!self)
        return NULL;
    double *u = malloc((size_t) n_locations * 3 * sizeof *u);
    if (!u) {
        vrp_problem_destroy(&self);
        return NULL;
    }
    for (int a = 0; a < n_locations; a++)
        vrp_geo_unit(latlon[2 * a], latlon[2 * a + 1], u + 3 * a);
    //  The same expression as a points problem evaluates, so both give the same numbers.
    for (int a = 0; a < n_locations; a++)
        for (int b = 0; b < n_locations; b++) {
            double d = vrp_geo_chord(u + 3 * a, u + 3 * b) * detour;
            size_t k = (size_t) a * n_locations + b;
            self->td[2 * k] = d / speed_mps;
            self->td[2 * k + 1] = d;
        }
    free(u);
    return self;
}

vrp_problem_t *vrp_problem_new_points(double detour, double speed_mps)
{
    if (!(speed_mps > 0) || !(detour >= 1.0) || !isfinite(speed_mps) || !isfinite(detour))
        return NULL;
    vrp_problem_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->costs = (vrp_costs_t) {1.0, 0.0, 1e6, 0.0, 0.0};
    self->detour = detour;
    self->speed = speed_mps;
    self->loc_cap = 64;
    //  aligned_alloc: each place's vector is one half cache line.
    self->xyz = aligned_alloc(64, (size_t) self->loc_cap * 4 * sizeof(double));
    if (!self->xyz) {
        vrp_problem_destroy(&self);
        return NULL;
    }
    return self;
}

int vrp_problem_add_location(vrp_problem_t *self, double lat, double lon)
{
    assert(self);
    if (!s_latlon_valid(lat, lon))
        return -1;
    double u[3];
    vrp_geo_unit(lat, lon, u);
    return vrp_problem_add_point(self, u);
}

int vrp_problem_add_point(vrp_problem_t *self, const double xyz[3])
{
    assert(self);
    if (!self->xyz || !isfinite(xyz[0]) || !isfinite(xyz[1]) || !isfinite(xyz[2])
        || self->n_loc == INT32_MAX / 8)
        return -1;
    if (self->n_loc == self->loc_cap) {
        int cap = self->loc_cap * 2;
        double *grown = aligned_alloc(64, (size_t) cap * 4 * sizeof(double));
        if (!grown)
            return -1;
        memcpy(grown, self->xyz, (size_t) self->n_loc * 4 * sizeof(double));
        free(self->xyz);
        self->xyz = grown;
        self->loc_cap = cap;
    }
    double *u = self->xyz + 4 * (size_t) self->n_loc;
    u[0] = xyz[0];
    u[1] = xyz[1];
    u[2] = xyz[2];
    u[3] = 0;
    return self->n_loc++;
}

int vrp_problem_locations(const vrp_problem_t *self)
{
    assert(self);
    return self->n_loc;
}

void vrp_problem_destroy(vrp_problem_t **self_p)
{
    assert(self_p);
    vrp_problem_t *self = *self_p;
    if (!self)
        return;
    free(self->td);
    free(self->xyz);
    if (self->jx)
        for (int j = 0; j < self->n_jobs; j++)
            free(self->jx[j].forbid);
    free(self->jx);
    free(self->jobs);
    free(self->veh);
    free(self->veh_class);
    free(self->veh_off);
    free(self->veh_hash);
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
    vehicle->time_factor = 1;
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
        vrp_jobx_t *jx = realloc(self->jx, (size_t) cap * sizeof *jx);
        if (!jx)
            return -1;
        self->jx = jx;
        self->jobs_cap = cap;
    }
    self->jobs[self->n_jobs] = *job;
    self->jx[self->n_jobs] = (vrp_jobx_t) {.pin = -1};
    if (job->max_lateness > 0 && job->n_windows > 0)
        self->has_soft = true;
    return self->n_jobs++;
}

static bool s_same_vehicle(const vrp_vehicle_t *a, const vrp_vehicle_t *b)
{
    return memcmp(a, b, sizeof *a) == 0;
}

//  Vehicle classes by content hash, so that adding n vehicles costs O(n), not O(n^2): a
//  dispatch decision builds a problem of thousands of caregivers each time.
static uint64_t s_vehicle_hash(const vrp_vehicle_t *v)
{
    const unsigned char *b = (const unsigned char *) v;
    uint64_t h = 1469598103934665603ULL;    //  FNV-1a
    for (size_t i = 0; i < sizeof *v; i++)
        h = (h ^ b[i]) * 1099511628211ULL;
    return h ^ (h >> 29);
}

static void s_hash_put(vrp_problem_t *self, int v)
{
    int mask = self->veh_hash_cap - 1;
    int h = (int) (s_vehicle_hash(&self->veh[v]) & (uint64_t) mask);
    while (self->veh_hash[h] >= 0)
        h = (h + 1) & mask;
    self->veh_hash[h] = v;
}

//  Room for one more vehicle: (re)build the table from the classes' representatives.
static int s_hash_reserve(vrp_problem_t *self)
{
    if (self->veh_hash && self->veh_hash_cap > 4 * (self->n_veh + 1))
        return 0;
    int cap = 64;
    while (cap <= 8 * (self->n_veh + 1))
        cap *= 2;
    int *tab = malloc((size_t) cap * sizeof *tab);
    if (!tab)
        return -1;
    free(self->veh_hash);
    self->veh_hash = tab;
    self->veh_hash_cap = cap;
    for (int i = 0; i < cap; i++)
        tab[i] = -1;
    for (int v = 0; v < self->n_veh; v++)
        if (!self->veh_off[v] && self->veh_class[v] == v)
            s_hash_put(self, v);
    return 0;
}

int vrp_problem_add_vehicle(vrp_problem_t *self, const vrp_vehicle_t *v)
{
    assert(self);
    assert(v);
    if (v->start_location < 0 || v->start_location >= self->n_loc || v->end_location < 0
        || v->end_location >= self->n_loc || !(v->shift_start <= v->shift_end)
        || !(v->max_duration >= 0) || !(v->max_ride >= 0) || !(v->fixed_cost >= 0)
        || !(v->time_factor >= 0) || !isfinite(v->time_factor))
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
        unsigned char *off = realloc(self->veh_off, (size_t) cap);
        if (!off)
            return -1;
        self->veh_off = off;
        self->veh_cap = cap;
    }
    if (s_hash_reserve(self) != 0)
        return -1;
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
    copy.time_factor = v->time_factor == 0 ? 1 : v->time_factor;
    self->veh[idx] = copy;
    self->veh_class[idx] = idx;
    self->veh_off[idx] = 0;
    int mask = self->veh_hash_cap - 1;
    int h = (int) (s_vehicle_hash(&copy) & (uint64_t) mask);
    for (; self->veh_hash[h] >= 0; h = (h + 1) & mask) {
        int i = self->veh_hash[h];
        if (!self->veh_off[i] && s_same_vehicle(&self->veh[i], &copy)) {
            self->veh_class[idx] = self->veh_class[i];
            break;
        }
    }
    if (self->veh_class[idx] == idx)
        self->veh_hash[h] = idx;   //  a new class: its representative
    if (copy.max_duration > 0 || copy.max_ride > 0)
        self->has_extra = true;
    self->n_veh++;
    return idx;
}

vrp_problem_t *vrp_problem_dup(const vrp_problem_t *self)
{
    assert(self);
    vrp_problem_t *copy = calloc(1, sizeof *copy);
    if (!copy)
        return NULL;
    *copy = *self;
    copy->td = NULL;
    copy->xyz = NULL;
    copy->jobs = NULL;
    copy->jx = NULL;
    copy->veh = NULL;
    copy->veh_class = NULL;
    copy->veh_off = NULL;
    copy->veh_hash = NULL;   //  rebuilt on the next vrp_problem_add_vehicle
    copy->veh_hash_cap = 0;
    copy->n_jobs = 0;   //  forbid lists owned so far, for destroy on failure
    size_t cells = (size_t) self->n_loc * self->n_loc;
    if (self->td && !(copy->td = malloc(2 * cells * sizeof(double))))
        goto fail;
    if (self->td)
        memcpy(copy->td, self->td, 2 * cells * sizeof(double));
    if (self->xyz) {
        copy->xyz = aligned_alloc(64, (size_t) self->loc_cap * 4 * sizeof(double));
        if (!copy->xyz)
            goto fail;
        memcpy(copy->xyz, self->xyz, (size_t) self->n_loc * 4 * sizeof(double));
    }
    if (self->jobs_cap > 0) {
        copy->jobs = malloc((size_t) self->jobs_cap * sizeof *copy->jobs);
        copy->jx = malloc((size_t) self->jobs_cap * sizeof *copy->jx);
        if (!copy->jobs || !copy->jx)
            goto fail;
        memcpy(copy->jobs, self->jobs, (size_t) self->n_jobs * sizeof *copy->jobs);
        for (int j = 0; j < self->n_jobs; j++) {
            copy->jx[j] = self->jx[j];
            copy->jx[j].forbid = NULL;
            copy->n_jobs = j + 1;
            if (self->jx[j].forbid_cap > 0) {
                size_t sz = (size_t) self->jx[j].forbid_cap * sizeof(int);
                if (!(copy->jx[j].forbid = malloc(sz)))
                    goto fail;
                memcpy(copy->jx[j].forbid, self->jx[j].forbid, sz);
            }
        }
    }
    if (self->veh_cap > 0) {
        copy->veh = malloc((size_t) self->veh_cap * sizeof *copy->veh);
        copy->veh_class = malloc((size_t) self->veh_cap * sizeof *copy->veh_class);
        copy->veh_off = malloc((size_t) self->veh_cap);
        if (!copy->veh || !copy->veh_class || !copy->veh_off)
            goto fail;
        memcpy(copy->veh, self->veh, (size_t) self->n_veh * sizeof *copy->veh);
        memcpy(copy->veh_class, self->veh_class, (size_t) self->n_veh * sizeof *copy->veh_class);
        memcpy(copy->veh_off, self->veh_off, (size_t) self->n_veh);
    }
    copy->n_jobs = self->n_jobs;
    return copy;
fail:
    vrp_problem_destroy(&copy);
    return NULL;
}

int vrp_problem_forbid(vrp_problem_t *self, int job, int vehicle)
{
    assert(self);
    if (job < 0 || job >= self->n_jobs || vehicle < 0 || vehicle >= self->n_veh)
        return -1;
    vrp_jobx_t *x = &self->jx[job];
    for (int i = 0; i < x->n_forbid; i++)
        if (x->forbid[i] == vehicle)
            return 0;
    if (x->n_forbid == x->forbid_cap) {
        int cap = x->forbid_cap ? x->forbid_cap * 2 : 4;
        int *f = realloc(x->forbid, (size_t) cap * sizeof *f);
        if (!f)
            return -1;
        x->forbid = f;
        x->forbid_cap = cap;
    }
    x->forbid[x->n_forbid++] = vehicle;
    self->has_excl = true;
    return 0;
}

int vrp_problem_pin(vrp_problem_t *self, int job, int vehicle)
{
    assert(self);
    if (job < 0 || job >= self->n_jobs || vehicle < -1 || vehicle >= self->n_veh)
        return -1;
    self->jx[job].pin = vehicle;
    //  has_excl stays set once any exclusion existed: cheaper than recounting on unpin.
    if (vehicle >= 0)
        self->has_excl = true;
    return 0;
}

int vrp_problem_job_disable(vrp_problem_t *self, int job)
{
    assert(self);
    if (job < 0 || job >= self->n_jobs)
        return -1;
    self->jx[job].off = true;
    self->has_excl = true;
    return 0;
}

int vrp_problem_vehicle_disable(vrp_problem_t *self, int vehicle)
{
    assert(self);
    if (vehicle < 0 || vehicle >= self->n_veh)
        return -1;
    if (self->veh_off[vehicle])
        return 0;
    self->veh_off[vehicle] = 1;
    self->has_excl = true;
    //  Take it out of its class (empty routes are tried once per class): the class's other
    //  members move to the next one as representative.
    int cls = self->veh_class[vehicle], rep = -1;
    for (int v = 0; v < self->n_veh; v++)
        if (v != vehicle && self->veh_class[v] == cls) {
            if (rep < 0)
                rep = v;
            self->veh_class[v] = rep;
        }
    self->veh_class[vehicle] = vehicle;
    if (rep >= 0 && self->veh_hash)
        s_hash_put(self, rep);   //  the class's new representative, found by later vehicles
    return 0;
}

int vrp_problem_allowed(const vrp_problem_t *self, int job, int vehicle)
{
    assert(self);
    if (job < 0 || job >= self->n_jobs || vehicle < 0 || vehicle >= self->n_veh)
        return 0;
    return vrp_job_ok(self, job, vehicle);
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

double vrp_problem_vehicle_time(const vrp_problem_t *self, int vehicle, int from, int to)
{
    assert(self);
    assert(vehicle >= 0 && vehicle < self->n_veh);
    assert(from >= 0 && from < self->n_loc && to >= 0 && to < self->n_loc);
    return vrp_tv(self, vehicle, from, to);
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
        case VRP_REASON_EXCLUDED: return "excluded";
        case VRP_REASON_DISABLED: return "disabled";
    }
    return "unknown";
}
