/* dd_reopt: re-optimisation of a district's day, in the background.
 *
 * The online decision (dd_model.h) places one visit into the plans as they
 * stand and never moves another. Now and then, and at once after events
 * that break plans (a decline, a pre-emption, a visit running long, a
 * caregiver off sick), dd_reopt takes one district's day — its caregivers'
 * shifts and plans, and its waiting visits — and lets libvrp's ruin and
 * recreate (vrp_solve) improve it on a worker thread for a bounded time.
 *
 * What may move: visits offered but not accepted (state assigned), not
 * emergencies, not due within DD_REOPT_FREEZE_US (the caregiver may be on
 * the way); waiting visits may be placed. Accepted, started and emergency
 * visits keep their caregiver and time (fixed jobs pinned to their
 * caregiver). The same rules hold as online: dd_qualified per caregiver and
 * visit, max_travel_s from home, shifts, windows; the same costs: travel,
 * continuity, balance.
 *
 * The loop never waits for the solver: the snapshot is copied into the
 * job (ids, times, places) and the worker, at the lowest CPU priority,
 * touches nothing else. The loop builds the snapshot in slices of about
 * 0.3 ms (dd_reopt_begin, dd_reopt_build), so no request waits behind a
 * whole one (docs/DISPATCH.md). The result
 * is applied on the loop only if every caregiver whose route changes and
 * every moved visit are as they were at the snapshot (dd_caregiver_t's
 * plan_ver, the visit's state and caregiver), and only if it saves at least
 * DD_REOPT_MIN_GAIN_S of cost; else it is dropped and counted stale or
 * kept. Each moved visit is re-offered (VisitDeclined{replanned} when it
 * was offered, then VisitAssigned), all of one run in one transaction
 * (dd_visits_replan). */
#ifndef DD_REOPT_H
#define DD_REOPT_H
#include <stdint.h>

#include "dd_app.h"
#include "dd_model.h"
#include "dd_state.h"

/* Rounds alternate: the shifts running now (or next), then those ending
 * after now + this (the next day's). */
#define DD_REOPT_AHEAD_US (12 * 60 * CC_US_PER_MIN)
/* Caregivers per run: a bigger district is re-optimised a neighbourhood
 * (the nearest to one of them, chosen by the run's seed) at a time. */
#define DD_REOPT_MAX_CAREGIVERS 120
/* Visits due this soon are not moved. */
#define DD_REOPT_FREEZE_US (30 * CC_US_PER_MIN)
/* A run's plan is applied when it is at least this much cheaper (cost
 * seconds: travel, continuity, balance). */
#define DD_REOPT_MIN_GAIN_S 60.0

/* From the sweep: apply a finished run, or start the next one when due
 * (round robin over districts, each every app->reopt_interval_s, every
 * other round the shifts ahead; kicked districts first, today's). No-op
 * when app->reopt_interval_s is 0. */
void dd_reopt_tick(dd_app_t *app, int64_t now_us);
/* Plans of district broke: re-optimise it soon (0: every district). */
void dd_reopt_kick(dd_app_t *app, uint32_t district);
/* Wait for a running solve (at most its budget) and drop it and the
 * schedule: shutdown and reload. */
void dd_reopt_stop(dd_app_t *app);

/* ---- the model, exposed for unit tests and benchmarks ------------------- */
typedef struct dd_reopt_run dd_reopt_run_t;
/* Snapshot of district's day at p->now_us (caregivers whose home district
 * it is; waiting visits of the district), for a solve of budget_ms: each
 * caregiver's shift running now or next, or with ahead the one ending after
 * DD_REOPT_AHEAD_US later (tomorrow's, booked the day before). NULL when
 * there is nothing to improve (no caregiver, or nothing movable) or out of
 * memory. */
dd_reopt_run_t *dd_reopt_snapshot(dd_caregiver_t *const *cgs, size_t ncg,
                                  dd_visit_t *const *waiting, size_t nwaiting,
                                  uint32_t district, int ahead, const dd_model_params_t *p,
                                  int budget_ms, uint64_t seed);
/* The same in slices, for the loop: dd_reopt_begin copies the caregivers'
 * days and the district's waiting visits (no rule checks yet; NULL as
 * above), then each dd_reopt_build checks the rules of jobs until
 * until_mono_us (cc_mono_us; at least one job) and returns 1 (more to do),
 * 0 (whole: as dd_reopt_snapshot's, ready to solve) or -1 (free it: out of
 * memory, or a visit not yet checked was freed or changed state or
 * caregiver since dd_reopt_begin). With world the visits are looked up
 * anew after any was freed (dd_world_generation); a NULL world means
 * nothing changed since dd_reopt_begin (one slice, same callback). What
 * changes after a visit's checks is caught by dd_reopt_apply. */
dd_reopt_run_t *dd_reopt_begin(dd_caregiver_t *const *cgs, size_t ncg,
                               dd_visit_t *const *waiting, size_t nwaiting, uint32_t district,
                               int ahead, const dd_model_params_t *p, int budget_ms,
                               uint64_t seed);
int dd_reopt_build(dd_reopt_run_t *r, const dd_world_t *world, int64_t until_mono_us);
/* Solve (any thread). 0, or -1 (out of memory, or the snapshot's plan was
 * already infeasible). */
int dd_reopt_solve(dd_reopt_run_t *r);
/* Costs before and after the solve. */
void dd_reopt_costs(const dd_reopt_run_t *r, double *before, double *after);
/* Apply the solve's result to the world (no I/O). 0 with *moved visits
 * (malloc'd, *nmoved; each now assigned to its new caregiver and time),
 * 1 when stale (something changed since the snapshot), 2 when not worth it,
 * -1 out of memory. */
int dd_reopt_apply(dd_reopt_run_t *r, dd_world_t *world, int64_t now_us, dd_visit_t ***moved,
                   size_t *nmoved, char (**from)[DD_ID_LEN]);
void dd_reopt_run_free(dd_reopt_run_t **r);
/* The snapshot's problem and plan (before the solve: the plans as they
 * stand), for tests. */
const vrp_problem_t *dd_reopt_problem(const dd_reopt_run_t *r);
const vrp_plan_t *dd_reopt_plan(const dd_reopt_run_t *r);

#endif
