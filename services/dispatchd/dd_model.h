/* dd_model: caregivers' days as one libvrp model (services/solver/vrp.h),
 * shared by the online decision (one new visit) and the re-optimisation of
 * a district's day (dd_reopt.h). docs/DISPATCH.md explains the rules.
 *
 * A vehicle is one caregiver's shift occurrence: it leaves from where the
 * caregiver will be free next (home, or the place of the visit they are
 * at or due at now) no earlier than now and the shift start, and returns
 * home by the shift end. A job is a visit: its place, its service minutes,
 * its window for the start of service.
 *
 * Hard rules, as the model's feasibility (a unit test each, dd_model_test):
 * skill for the service; bathing an elder whose ability is severe or total
 * needs level >= 2; an emergency needs first aid; never someone who
 * declined (or let time out on) the visit; travel from where they start to
 * it within max_travel_s; no double booking; inside the shift and the
 * window. Emergencies go first: if no shift has room, a second pass lets
 * first-aiders come outside their shift, and an emergency may take the
 * slot of a routine visit offered but not accepted when that brings help
 * DD_PREEMPT_GAIN_US sooner (the bumped visit goes back to the queue).
 *
 * Costs (the choice among feasible places): the added travel in seconds;
 * for an emergency, the arrival time first (help soonest), then travel;
 * continuity: a visit placed with anyone but the elder's usual caregiver
 * costs continuity_s; balance: balance x (work seconds)^2 per caregiver
 * spreads a provider's work. */
#ifndef DD_MODEL_H
#define DD_MODEL_H
#include <stddef.h>
#include <stdint.h>

#include "dd_domain.h"
#include "vrp.h"

/* What the decisions built (dd_model_params_t.stats): for tests and
 * benchmarks. */
typedef struct {
    uint64_t decisions;         /* passes of a decision (an emergency may take two) */
    uint64_t days;              /* usable days they read */
    uint64_t unread;            /* qualified caregivers whose day a box bound left unread */
    uint64_t models;            /* models they built */
    uint64_t built;             /* days those models held */
} dd_model_stats_t;

typedef struct {
    int64_t now_us;
    int max_travel_s;           /* 0: no limit */
    double continuity_s;        /* cost of not giving the elder's usual caregiver */
    double balance;             /* cost per (work second)^2 and caregiver */
    dd_model_stats_t *stats;    /* NULL, or counted into */
} dd_model_params_t;

/* Defaults: continuity 1800 s (half an hour of travel), balance 1e-6
 * (a one-hour visit on a day already holding four hours of work costs
 * about 100 s more than on an empty one). */
void dd_model_params_init(dd_model_params_t *p, int64_t now_us);

/* Travel seconds between two points: the one travel function of dispatch,
 * meals and the benchmarks (cc_geo_travel_s: straight line x 1.3 at
 * 15 km/h), as the model computes it. */
int dd_model_travel_s(double lat1, double lon1, double lat2, double lon2);

/* Travel in whole seconds rounded up, in microseconds: what an ETA adds
 * (dd_model.c, dd_reopt.c). */
int64_t dd_model_travel_up_us(double lat1, double lon1, double lat2, double lon2);

/* 1 when v's place is within max_travel_s of c's home (0: no limit),
 * from cached unit vectors (no trigonometry after the first call). */
int dd_model_near_home(const dd_caregiver_t *c, const dd_visit_t *v, int max_travel_s);

/* 1 (the default): a caregiver whose day has no gap that could hold the
 * visit, even with no travel, is left out of the model, and the decision
 * first builds the days cheapest by a lower bound of their cost, then only
 * those others whose bound could match the best found (dd_model.c,
 * s_decide). The decision is the same either way (dd_model_test compares
 * them); 0 only for that test and for benchmarks. */
extern int dd_model_prune;

/* How many days, cheapest by their bound, the decision's first model holds
 * (8; 1..64): a tuning knob, the decision is the same for any value
 * (dd_model_test runs 1 and 8). */
extern int dd_model_first_days;

/* Frees this thread's scratch of the decision (kept between decisions);
 * the next decision makes it again. For a clean exit. */
void dd_model_release(void);

/* The online decision for waiting visit v among n caregivers, with the
 * plans as they are (planned visits keep their times). 0 and *out (as
 * dd_world_assign takes it), or -1 when nobody qualifies and fits. */
int dd_model_match(dd_caregiver_t *const *cgs, size_t n, const dd_visit_t *v,
                   const dd_model_params_t *p, dd_match_t *out);

/* dd_model_match, and for an emergency the pre-emption rule above: 0 with
 * *out and *bumped (NULL when nothing is bumped; else still in its plan:
 * the caller moves it), or -1. */
int dd_model_match_urgent(dd_caregiver_t *const *cgs, size_t n, const dd_visit_t *v,
                          const dd_model_params_t *p, dd_match_t *out, dd_visit_t **bumped);

/* A mandated duty (dd_visit_duty_rank > 0) that fits nowhere: the slot of a
 * visit of lower rank that is planned only (never offered) or, with
 * offered_too, offered and not accepted, and whose removal makes room for v
 * (emergencies, first-aid visits and a dispatcher's pins are never bumped).
 * 0 with *out and *bumped (still in its plan: the caller moves it back to
 * waiting, through the pre-emption write when it was offered), or -1. Used
 * on a short day so that weekly contacts come before monthly visits and
 * mandated visits before routine ones (docs/DUTIES.md "Capacity"). */
int dd_model_match_ranked(dd_caregiver_t *const *cgs, size_t n, const dd_visit_t *v,
                          const dd_model_params_t *p, int offered_too, dd_match_t *out,
                          dd_visit_t **bumped);

#endif
