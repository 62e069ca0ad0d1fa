/*  vrp.h: vehicle routing with time windows, one solver for caregiver days and meal rounds.

    Pure C, no I/O: the library never prints, never opens files, and reads the clock only to
    honour the caller's time limit (CLOCK_MONOTONIC). See docs/SOLVER.md.

    Three classes:
    - vrp_problem_t: locations (time and distance matrices), jobs and vehicles. Built once,
      jobs may be appended later (dispatch adds orders as they arrive).
    - vrp_plan_t: one route per vehicle plus the unassigned jobs with a reason. Supports the
      online operations: cheapest feasible insertion of one job, removal, full re-check.
    - vrp_solve(): time-limited planning (regret construction, ruin-and-recreate with simulated
      annealing, granular local search, route elimination for the hierarchical objective).

    Times and distances are doubles in caller units (Solomon: distance = time, speed 1).
*/
#ifndef VRP_H_INCLUDED
#define VRP_H_INCLUDED

#include <math.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

//  Fixed small sizes keep jobs and vehicles plain values (no per-job allocation).
#define VRP_DIMS          3    //  demand / capacity dimensions (e.g. boxes, seats, hot bags)
#define VRP_MAX_WINDOWS   4    //  time windows per job
#define VRP_MAX_PREFERRED 4    //  preferred vehicles per job (continuity of care)

typedef struct _vrp_problem_t vrp_problem_t;
typedef struct _vrp_plan_t vrp_plan_t;

typedef struct {
    double start;              //  earliest service start
    double end;                //  latest service start (arrival after it is infeasible)
} vrp_window_t;

typedef struct {
    int location;              //  row/column in the matrices
    int n_windows;             //  0 means "any time"; windows sorted, non-overlapping
    vrp_window_t windows[VRP_MAX_WINDOWS];
    double service;            //  service duration
    int demand[VRP_DIMS];      //  loaded at the start, delivered here
    uint64_t skills;           //  required skills: every bit must be in the vehicle's skills
    int priority;              //  >= 0; dropping a job costs unassigned_penalty * (1 + priority)
    double max_lateness;       //  soft windows: service may start up to this long after a
                               //  window's end (0: hard windows)
    double lateness_cost;      //  cost per time unit of lateness (with max_lateness)
    int n_preferred;           //  0: no preference
    int preferred[VRP_MAX_PREFERRED];  //  vehicle indices; others cost non_preferred_penalty
} vrp_job_t;

typedef struct {
    int start_location;        //  where the route starts
    int end_location;          //  where the route ends (may equal start)
    double shift_start;        //  earliest departure from the start
    double shift_end;          //  latest arrival at the end
    int capacity[VRP_DIMS];
    uint64_t skills;
    double max_duration;       //  0: none. Arrival at end minus departure from start
    double max_ride;           //  0: none. Max time from leaving the start to arriving at a job
    double fixed_cost;         //  cost objective: added when the vehicle is used
    double time_factor;        //  this vehicle's travel time = problem time x factor (a slower
                               //  or faster mode on one shared matrix); 0 means 1. Distances
                               //  are not scaled
} vrp_vehicle_t;

typedef enum {
    VRP_OBJ_DISTANCE = 0,      //  minimise weighted distance/time + penalties (cost)
    VRP_OBJ_HIERARCHICAL = 1,  //  minimise vehicles used, then distance
} vrp_objective_t;

//  Why a job is unassigned. Computed against every vehicle with an otherwise empty route, so
//  everything but VRP_REASON_NO_ROOM means "no vehicle could ever take this job".
typedef enum {
    VRP_REASON_NONE = 0,       //  assigned
    VRP_REASON_SKILLS,         //  no vehicle has the required skills
    VRP_REASON_CAPACITY,       //  demand exceeds every capable vehicle's capacity
    VRP_REASON_TIME_WINDOW,    //  no vehicle can reach it inside a window and return in shift
    VRP_REASON_MAX_DURATION,   //  only infeasible because of max_duration / max_ride
    VRP_REASON_NO_ROOM,        //  feasible alone, but the vehicles are full
    VRP_REASON_NOT_PLANNED,    //  not yet offered to the plan
    VRP_REASON_EXCLUDED,       //  only vehicles it is forbidden / not pinned to, or disabled
                               //  ones, could take it
    VRP_REASON_DISABLED,       //  the job itself is disabled (vrp_problem_job_disable)
} vrp_reason_t;

//  Cost weights (VRP_OBJ_DISTANCE): cost = per_distance * distance + per_time * travel time
//  + fixed costs + penalties + lateness + balance * sum over routes of work^2, where work is
//  travel plus service time (a convex term that spreads an over-full day across vehicles).
//  Defaults: 1, 0, 1e6, 0, 0.
typedef struct {
    double per_distance;
    double per_time;
    double unassigned_penalty;
    double non_preferred_penalty;
    double balance;
} vrp_costs_t;

typedef struct {
    vrp_objective_t objective;
    double time_limit;         //  seconds of wall time for vrp_solve (> 0 unless max_iterations)
    uint64_t max_iterations;   //  0: none. With time_limit 0 the run is fully deterministic
    uint64_t seed;
    int local_search;          //  1: polish new best solutions with granular local search
} vrp_params_t;

//  Result of an insertion query: where and at what added cost.
typedef struct {
    int vehicle;               //  -1 if none
    int position;              //  insert before the job now at this index (0..route length)
    double delta_cost;         //  increase of the plan cost
    vrp_reason_t reason;       //  VRP_REASON_NONE when vehicle >= 0
} vrp_insertion_t;

//  ---------------------------------------------------------------------------------------------
//  Problem

//  Create a problem over n_locations with caller matrices (row-major n*n, copied). dist may be
//  NULL: then distance = time. Returns NULL on bad arguments or allocation failure.
vrp_problem_t *vrp_problem_new(int n_locations, const double *time, const double *dist);

//  Matrices from planar coordinates xy[2*i], xy[2*i+1]: Euclidean, time = distance / speed.
vrp_problem_t *vrp_problem_new_euclidean(int n_locations, const double *xy, double speed);

//  Matrices from latitude/longitude in degrees: vrp_geo_metres x detour, time in seconds
//  at speed_mps (time = distance / speed_mps). Typical urban detour 1.3.
vrp_problem_t *vrp_problem_new_geo(int n_locations, const double *latlon, double detour,
                                   double speed_mps);

//  A growable "points" problem: no matrix; travel is computed when needed from each place's
//  precomputed unit vector: distance = vrp_geo_metres x detour, time = distance / speed_mps,
//  the same numbers vrp_problem_new_geo would store. Starts with no locations.
vrp_problem_t *vrp_problem_new_points(double detour, double speed_mps);

//  Append a place (degrees) to a points problem. Returns its location index, or -1 on bad
//  coordinates (not finite, |lat| > 90, |lon| > 180), allocation failure or a matrix problem.
int vrp_problem_add_location(vrp_problem_t *self, double lat, double lon);

//  Number of locations (matrix side, or places added so far).
int vrp_problem_locations(const vrp_problem_t *self);

//  Straight line between two points in metres: the chord through the sphere of radius
//  6371008.8 m (cheaper than haversine: one square root; it is shorter than the great
//  circle by a relative d^2 / 24R^2, under 1e-6 below 20 km).
double vrp_geo_metres(double lat1, double lon1, double lat2, double lon2);

//  The same in two steps, for callers that measure from one place many times: the place's
//  unit vector (3 doubles), computed once, then chord metres between two such vectors, and
//  a points problem's place from its vector. vrp_geo_chord_metres(a, b) of the vectors of
//  two places equals vrp_geo_metres of their degrees bit for bit.
//  vrp_geo_chord_metres is inline: dispatch's decision measures thousands of pairs per visit.
#define VRP_GEO_EARTH_M 6371008.8
void vrp_geo_point(double lat, double lon, double xyz[3]);
static inline double vrp_geo_chord_metres(const double a[3], const double b[3])
{
    double dx = a[0] - b[0], dy = a[1] - b[1], dz = a[2] - b[2];
    return sqrt(dx * dx + dy * dy + dz * dz) * VRP_GEO_EARTH_M;
}
//  As vrp_problem_add_location, from vrp_geo_point's vector (-1 when not finite).
int vrp_problem_add_point(vrp_problem_t *self, const double xyz[3]);

void vrp_problem_destroy(vrp_problem_t **self_p);

//  Append a job or vehicle (copied). Returns its index, or -1 if it is invalid (location out
//  of range, negative service/demand, unsorted windows) or allocation fails.
int vrp_problem_add_job(vrp_problem_t *self, const vrp_job_t *job);
int vrp_problem_add_vehicle(vrp_problem_t *self, const vrp_vehicle_t *vehicle);

//  Deep copy (jobs, vehicles, locations, exclusions): a worker thread can solve the copy while
//  the owner keeps appending to the original. Indices are equal in both. NULL on allocation
//  failure.
vrp_problem_t *vrp_problem_dup(const vrp_problem_t *self);

//  Hard exclusions, honoured by every insertion, vrp_plan_check and vrp_solve. Each returns 0,
//  or -1 on an index out of range or allocation failure.
//  - forbid: the job may never be on this vehicle (e.g. a caregiver declined the visit).
//  - pin: the job may only be on this vehicle (vehicle -1 unpins); the solver may reorder it
//    within that route, never move it to another. Pin and forbids both hold: a job pinned to
//    a vehicle it is forbidden on can go nowhere (VRP_REASON_EXCLUDED).
//  - job_disable: never inserted again (cancelled); not counted as unassigned nor charged in
//    the cost. Remove it from plans first (a plan holding it fails vrp_plan_check).
//  - vehicle_disable: nothing may be on it (off sick); plans holding jobs on it fail
//    vrp_plan_check and vrp_solve moves those jobs off.
//  All are permanent but the pin; plans created earlier see them at once.
int vrp_problem_forbid(vrp_problem_t *self, int job, int vehicle);
int vrp_problem_pin(vrp_problem_t *self, int job, int vehicle);
int vrp_problem_job_disable(vrp_problem_t *self, int job);
int vrp_problem_vehicle_disable(vrp_problem_t *self, int vehicle);

//  1 if the job may be on the vehicle under the exclusions above, else 0 (also on bad indices).
int vrp_problem_allowed(const vrp_problem_t *self, int job, int vehicle);

void vrp_problem_set_costs(vrp_problem_t *self, const vrp_costs_t *costs);
int vrp_problem_jobs(const vrp_problem_t *self);
int vrp_problem_vehicles(const vrp_problem_t *self);
const vrp_job_t *vrp_problem_job(const vrp_problem_t *self, int job);
double vrp_problem_time(const vrp_problem_t *self, int from, int to);
double vrp_problem_distance(const vrp_problem_t *self, int from, int to);
//  Travel time of one vehicle (problem time x its time_factor).
double vrp_problem_vehicle_time(const vrp_problem_t *self, int vehicle, int from, int to);

//  Fill defaults: one window-less job / one vehicle with infinite shift and capacity.
void vrp_job_init(vrp_job_t *job, int location);
void vrp_vehicle_init(vrp_vehicle_t *vehicle, int start_location, int end_location);
void vrp_params_init(vrp_params_t *params);

//  ---------------------------------------------------------------------------------------------
//  Plan. The plan borrows the problem, which must outlive it; jobs added to the problem after
//  the plan was created are known to the plan as VRP_REASON_NOT_PLANNED; vehicles added later
//  get an empty route at the next vrp_plan_insert, vrp_plan_insert_at or vrp_solve
//  (vrp_plan_best_insertion, being const, only offers the vehicles the plan already has).

//  Empty plan: every route empty, every job unassigned (VRP_REASON_NOT_PLANNED).
vrp_plan_t *vrp_plan_new(const vrp_problem_t *problem);
vrp_plan_t *vrp_plan_dup(const vrp_plan_t *self);
void vrp_plan_destroy(vrp_plan_t **self_p);

//  Online: find the cheapest feasible insertion of an unassigned job (O(1) per position) and
//  fill *out. Returns 0 if one exists, -1 otherwise (out->reason says why; VRP_REASON_NONE
//  means the job is already in a route).
int vrp_plan_best_insertion(const vrp_plan_t *self, int job, vrp_insertion_t *out);

//  Online: best insertion and apply it. Returns 0 if inserted, -1 if the job stays unassigned
//  (its reason is recorded in the plan and in *out, which may be NULL).
int vrp_plan_insert(vrp_plan_t *self, int job, vrp_insertion_t *out);

//  Put a job at a given place, if feasible. Returns 0 or -1 (infeasible or bad arguments).
int vrp_plan_insert_at(vrp_plan_t *self, int job, int vehicle, int position);

//  Remove an assigned job (e.g. a cancelled order). Returns 0, or -1 if it was not assigned.
int vrp_plan_remove(vrp_plan_t *self, int job);

//  Build a plan from explicit routes: routes[v] holds lens[v] job indices in visiting order.
//  Returns NULL if a job is repeated or out of range; infeasible routes are accepted and can
//  be detected with vrp_plan_check (useful for loading a stored plan).
vrp_plan_t *vrp_plan_from_routes(const vrp_problem_t *problem, const int *const *routes,
                                 const int *lens);

int vrp_plan_route_length(const vrp_plan_t *self, int vehicle);
int vrp_plan_route_job(const vrp_plan_t *self, int vehicle, int index);

//  Schedule of one stop: the vehicle leaves its start as late as all windows allow.
//  Returns 0, or -1 on bad index.
int vrp_plan_stop_times(const vrp_plan_t *self, int vehicle, int index, double *arrival,
                        double *service_start);
int vrp_plan_vehicles_used(const vrp_plan_t *self);
int vrp_plan_unassigned(const vrp_plan_t *self);
vrp_reason_t vrp_plan_reason(const vrp_plan_t *self, int job);
double vrp_plan_distance(const vrp_plan_t *self);
double vrp_plan_cost(const vrp_plan_t *self);

//  Re-simulate every route from scratch (no cached slack) and check every constraint.
//  Returns 0 if feasible; -1 and, if why != NULL, a short reason otherwise.
int vrp_plan_check(const vrp_plan_t *self, char *why, size_t why_size);

//  ---------------------------------------------------------------------------------------------
//  Planning. Starts from *plan_p if it is non-NULL (its routes are kept as the start), else
//  from scratch. On success replaces *plan_p with the best plan found and returns 0; returns
//  -1 on allocation failure (then *plan_p is untouched). Deterministic for a seed when
//  max_iterations bounds the run instead of time_limit.
int vrp_solve(const vrp_problem_t *problem, const vrp_params_t *params, vrp_plan_t **plan_p);

const char *vrp_reason_str(vrp_reason_t reason);

#ifdef __cplusplus
}
#endif

#endif
