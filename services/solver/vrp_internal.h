/*  vrp_internal.h: structures shared by the solver sources. Not installed, not for callers. */
#ifndef VRP_INTERNAL_H_INCLUDED
#define VRP_INTERNAL_H_INCLUDED

#include "vrp.h"

#include <math.h>
#include <stdbool.h>

#define VRP_INF HUGE_VAL

//  Per-job exclusions (kept apart from vrp_job_t, which callers copy by value).
typedef struct {
    int pin;                   //  only vehicle allowed, -1 none
    int n_forbid;
    int forbid_cap;
    int *forbid;               //  forbidden vehicles, unsorted (decline lists are short)
    bool off;                  //  disabled
} vrp_jobx_t;

struct _vrp_problem_t {
    int n_loc;                 //  matrix side, or places in a points problem
    double *td;                //  n_loc * n_loc cells, row-major, each {time, distance}:
                               //  one cache line serves both (the online insertion is
                               //  bound by matrix cache misses). NULL for a points problem
    double *xyz;               //  points problem: unit vector per place, 4 doubles each
                               //  (x, y, z, pad: 32-byte aligned rows)
    int loc_cap;               //  places allocated in xyz
    double detour;             //  points problem: distance = chord metres x detour
    double speed;              //  points problem: time = distance / speed
    int n_jobs;                //  jobs in use
    int jobs_cap;              //  jobs allocated
    vrp_job_t *jobs;
    vrp_jobx_t *jx;            //  per job, jobs_cap allocated
    bool has_excl;             //  some pin, forbid or disable exists: check vrp_job_ok
    int n_veh;
    int veh_cap;
    vrp_vehicle_t *veh;
    int *veh_class;            //  equal for interchangeable vehicles (first such index);
                               //  a disabled vehicle is alone in its class
    unsigned char *veh_off;    //  per vehicle: disabled
    int *veh_hash;             //  open addressing by content: each class's representative
                               //  (and stale disabled ones); -1 empty. NULL: rebuild on use
    int veh_hash_cap;          //  power of two, > 4 x n_veh: at most 2 x n_veh entries
    bool has_extra;            //  some vehicle has max_duration/max_ride: needs full checks
    bool has_soft;             //  some job has a soft window (lateness costs are O(n))
    vrp_costs_t costs;
};

//  Route positions: 0 is the vehicle start, 1..n the jobs, n+1 the vehicle end.
typedef struct {
    int n;                     //  jobs on the route
    int cap;                   //  allocated positions (>= n + 2)
    int *job;                  //  job per position; -1 at both ends
    int *loc;                  //  location per position
    double *dep;               //  earliest departure from each position (start: shift_start)
    double *lat;               //  latest service start keeping the rest feasible (end: shift)
    int *cum;                  //  cumulative demand up to and including position, VRP_DIMS each
    double dist;               //  route distance
    double ttime;              //  route travel time
    int n_nonpref;             //  jobs on this route whose preference excludes this vehicle
    double work;               //  travel plus service time (balance term)
    double late;               //  lateness cost on the earliest schedule
} vrp_route_t;

struct _vrp_plan_t {
    const vrp_problem_t *prob; //  borrowed
    int n_veh;
    vrp_route_t *routes;       //  one per vehicle
    int n_jobs;                //  jobs known (prob->n_jobs at the last sync)
    int jobs_cap;
    int *route_of;             //  vehicle per job, -1 if unassigned
    int *pos_of;               //  position 1..n per job
    unsigned char *reason;     //  vrp_reason_t per job
};

//  Simulation of a route given as a plain job list, from scratch (the reference semantics).
typedef struct {
    bool feasible;
    const char *why;           //  static string when infeasible
    double dist;
    double ttime;
    double depart;             //  latest feasible departure from the start
    double end;                //  arrival at the end leaving at depart
    double work;               //  travel plus service time
    double late;               //  lateness cost, earliest schedule
} vrp_sim_t;

//  vrp_problem.c
//  Unit vector of a point given in degrees (x, y, z).
void vrp_geo_unit(double lat, double lon, double *u);

//  Chord metres between two unit vectors. Symmetric bit for bit (the differences only change
//  sign), which the online insertion relies on to evaluate d(a, l) as d(l, a).
static inline double vrp_geo_chord(const double *u, const double *w)
{
    return vrp_geo_chord_metres(u, w);
}

static inline double vrp_pts_d(const vrp_problem_t *p, int a, int b)
{
    return vrp_geo_chord(p->xyz + 4 * (size_t) a, p->xyz + 4 * (size_t) b) * p->detour;
}

//  Problem (factor 1) travel time and distance.
static inline double vrp_t(const vrp_problem_t *p, int a, int b)
{
    if (p->xyz)
        return vrp_pts_d(p, a, b) / p->speed;
    return p->td[2 * ((size_t) a * p->n_loc + b)];
}
static inline double vrp_d(const vrp_problem_t *p, int a, int b)
{
    if (p->xyz)
        return vrp_pts_d(p, a, b);
    return p->td[2 * ((size_t) a * p->n_loc + b) + 1];
}

//  Travel time of vehicle v: the problem's time x its factor (1 exactly when unset, so
//  matrix results do not change by a bit).
static inline double vrp_tv(const vrp_problem_t *p, int v, int a, int b)
{
    return vrp_t(p, a, b) * p->veh[v].time_factor;
}

//  May job be on vehicle v (pins, forbids, disabled jobs and vehicles)?
static inline bool vrp_job_ok(const vrp_problem_t *p, int job, int v)
{
    if (!p->has_excl)
        return true;
    const vrp_jobx_t *x = &p->jx[job];
    if (x->off || p->veh_off[v] || (x->pin >= 0 && x->pin != v))
        return false;
    for (int i = 0; i < x->n_forbid; i++)
        if (x->forbid[i] == v)
            return false;
    return true;
}

//  Does job have a restriction that makes vehicles of one class not interchangeable for it?
static inline bool vrp_job_restricted(const vrp_problem_t *p, int job)
{
    return p->has_excl && (p->jx[job].pin >= 0 || p->jx[job].n_forbid > 0);
}

static inline bool vrp_job_off(const vrp_problem_t *p, int job)
{
    return p->has_excl && p->jx[job].off;
}

//  Earliest service start at or after arrival a, or VRP_INF if every window has closed.
static inline double vrp_tw_earliest(const vrp_job_t *j, double a)
{
    if (j->n_windows == 0)
        return a;
    for (int w = 0; w < j->n_windows; w++)
        if (a <= j->windows[w].end + j->max_lateness)
            return a > j->windows[w].start ? a : j->windows[w].start;
    return VRP_INF;
}

//  Lateness cost of starting service at s (0 for hard windows).
static inline double vrp_late_cost(const vrp_job_t *j, double s)
{
    if (j->max_lateness == 0 || j->n_windows == 0)
        return 0;
    for (int w = 0; w < j->n_windows; w++)
        if (s <= j->windows[w].end + j->max_lateness)
            return s > j->windows[w].end ? (s - j->windows[w].end) * j->lateness_cost : 0;
    return 0;
}

//  Latest service start not after t, or -VRP_INF if no window opens by t.
static inline double vrp_tw_latest(const vrp_job_t *j, double t)
{
    if (j->n_windows == 0)
        return t;
    for (int w = j->n_windows - 1; w >= 0; w--)
        if (j->windows[w].start <= t) {
            double end = j->windows[w].end + j->max_lateness;
            return t < end ? t : end;
        }
    return -VRP_INF;
}

static inline bool vrp_nonpref(const vrp_job_t *j, int v)
{
    if (j->n_preferred == 0)
        return false;
    for (int i = 0; i < j->n_preferred; i++)
        if (j->preferred[i] == v)
            return false;
    return true;
}

//  vrp_plan.c
int vrp_route_reserve(vrp_route_t *r, int n_positions);
void vrp_route_update(const vrp_problem_t *p, int v, vrp_route_t *r);
int vrp_route_copy(vrp_route_t *dst, const vrp_route_t *src);
void vrp_sim(const vrp_problem_t *p, int v, const int *jobs, int n, vrp_sim_t *out);
int vrp_plan_sync(vrp_plan_t *self);
double vrp_route_cost(const vrp_problem_t *p, int v, const vrp_route_t *r);
double vrp_job_penalty(const vrp_problem_t *p, int job);

//  Change of the route-level cost terms (lateness, balance) when job is inserted at pos with
//  service start s; O(1) without soft windows, else O(length of the suffix it delays).
double vrp_insert_route_terms(const vrp_plan_t *self, int job, int v, int pos, double s);

static inline bool vrp_route_terms(const vrp_problem_t *p)
{
    return p->has_soft || p->costs.balance != 0;
}

//  Cost increase of inserting job at position pos (between pos-1 and pos) of vehicle v's route,
//  or VRP_INF if infeasible. O(1) unless the vehicle has max_duration/max_ride.
double vrp_insert_delta(const vrp_plan_t *self, int job, int v, int pos);

//  Structural edits; they refresh the route's cached schedule. Return 0 or -1 (allocation).
int vrp_route_insert(vrp_plan_t *self, int v, int pos, int job);
void vrp_route_remove_at(vrp_plan_t *self, int v, int pos);
int vrp_route_set(vrp_plan_t *self, int v, const int *jobs, int n);

//  The reason an unassigned job could not be placed in any empty route.
vrp_reason_t vrp_reason_alone(const vrp_problem_t *p, int job);

#endif
