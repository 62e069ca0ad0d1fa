/* md_rounds: the courier rounds of one (meal point, date, slot), planned
 * with libvrp (services/solver/vrp.h, docs/SOLVER.md). Pure: no I/O, no
 * clock but the solver's time limit, so it runs on a worker thread (it
 * touches only its input and output) and is unit-tested alone.
 *
 * The model (docs/API-meald.md "Rounds"):
 * - one libvrp "points" problem (vrp_problem_new_points): location 0 is
 *   the kitchen, then one per delivery; travel is the straight line x 1.3
 *   (MD_ROUND_DETOUR) at the courier's own speed (foot, e-bike, car: the
 *   problem runs at 1 m/s and each courier's rounds carry time_factor =
 *   1 / speed in m/s);
 * - a delivery is a job with its order window (the hand-over must start in
 *   it), MD_ROUND_SERVICE_S at the door, demand 1 box;
 * - a courier is several vehicles, one per round: its shift (from the
 *   cut-off on: nothing is cooked before) is cut into consecutive rounds of
 *   2 x the hot-food limit, each starting and ending at the kitchen, with
 *   the box capacity and max_ride = the hot-food limit (leaving the kitchen
 *   to the door); the solver leaves a round empty when fewer serve better;
 * - a meal no round can take is unserved with a reason: no_courier (no
 *   courier on shift after the cut-off), window, hot_food_limit (too far
 *   even for the fastest courier's direct ride), capacity, no_room (each
 *   alone would fit, the rounds are full). */
#ifndef MD_ROUNDS_H
#define MD_ROUNDS_H
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

#include "md_domain.h"

#define MD_ROUND_SERVICE_S 60     /* hand-over at the door */
#define MD_ROUND_DETOUR 1.3       /* straight line x this: the street distance */
#define MD_ROUNDS_PER_COURIER_MAX 8

/* Reasons a meal is unserved, as md_unserved_t.reason spells them. */
#define MD_UNSERVED_REASONS 5
extern const char *const md_unserved_names[MD_UNSERVED_REASONS];

typedef struct {
    char order_id[MD_ID_LEN];
    char diet[MD_DIET_MAX + 1];
    double lat, lon;
    int64_t window_start_us, window_end_us;
} md_round_meal_t;

typedef struct {
    char courier_id[MD_ID_LEN];
    md_vehicle_t vehicle;
    double speed_kmh;
    int capacity;
    int64_t shift_start_us, shift_end_us;   /* absolute */
} md_round_courier_t;

/* What a plan is made from: a copy, owned by whoever plans. */
typedef struct {
    double lat, lon;             /* the kitchen */
    int64_t depart_us;           /* earliest departure: the slot's cut-off */
    int hot_limit_s;             /* max ride kitchen -> door */
    double time_limit_s;         /* the solver's budget for the whole plan */
    uint64_t max_iterations;     /* 0: none; with time_limit_s 0 the plan is
                                  * reproducible (tests, the bench) */
    md_round_meal_t *meals;
    size_t nmeals;
    md_round_courier_t *couriers;
    size_t ncouriers;
} md_round_input_t;

typedef struct {
    int meal;                    /* index into input meals */
    int64_t eta_us;              /* hand-over starts */
} md_round_stop_t;

typedef struct {
    int courier;                 /* index into input couriers */
    int64_t depart_us, return_us;
    md_round_stop_t *stops;      /* in visiting order */
    size_t nstops;
} md_round_t;

typedef struct {
    int meal;
    const char *reason;          /* static: no_courier, window, ... */
} md_unserved_t;

typedef struct {
    md_round_t *rounds;          /* by courier, then departure */
    size_t nrounds;
    md_unserved_t *unserved;     /* in input order */
    size_t nunserved;
} md_round_plan_t;

/* Plan in into *out (zeroed first). Every meal ends up in exactly one
 * round or in unserved. 0, or -1 on allocation failure (out freed). */
int md_rounds_plan(const md_round_input_t *in, md_round_plan_t *out);
/* Free what md_rounds_plan put in *p; p itself is the caller's. */
void md_round_plan_free(md_round_plan_t *p);

/* The rounds of vehicle k of courier c over [from_us, to_us): the shift cut
 * into rounds of round_s (at least one, at most MD_ROUNDS_PER_COURIER_MAX,
 * the last one taking the rest). Returns the count written to starts[]/
 * ends[] (size MD_ROUNDS_PER_COURIER_MAX); 0 when the shift is empty. */
int md_rounds_split(int64_t from_us, int64_t to_us, int64_t round_s, int64_t *starts,
                    int64_t *ends);

/* The plan as GET .../rounds shows it, without the stops' live status:
 * {couriers: [{courier_id, vehicle, speed_kmh, capacity, rounds: [{round,
 * depart_at, return_at, load, by_diet, stops: [{order_id, eta, diet}]}]}],
 * unserved: [{order_id, reason}], deliveries, served}. New reference or
 * NULL (no memory). */
json_t *md_rounds_json(const md_round_input_t *in, const md_round_plan_t *p);

#endif
