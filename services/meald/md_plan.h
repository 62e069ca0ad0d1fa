/* md_plan: when meald plans a slot's courier rounds, and the plans it keeps
 * (docs/API-meald.md "Rounds").
 *
 * Every sweep tick (md_sweep.h) looks at today's (point, slot) pairs: one
 * past its cut-off with deliveries and no plan, or whose plan a late change
 * made stale (a cancellation after the cut-off: md_plan_changed), is copied
 * (md_rounds_input_t) and planned on a worker thread (cc_work.h) within
 * --round-plan-ms; the loop then stores the plan with one SQL call
 * (md_store_rounds) and keeps it in memory for GET .../rounds once stored.
 * A change while a plan is being made plans again after it. Meals no round
 * can serve are logged (meal_unserved, with the reason) and counted
 * (meald_meals_unserved_total{reason}) once per meal. */
#ifndef MD_PLAN_H
#define MD_PLAN_H
#include <jansson.h>

#include "md_app.h"

int md_plan_init(md_app_t *app);
/* Hands back the jobs in flight (their results are dropped) and frees the
 * plans. Safe after a failed init. */
void md_plan_fini(md_app_t *app);
/* Start the plans that are due at now_us (the sweep's tick). */
void md_plan_tick(md_app_t *app, int64_t now_us);
/* A late change to meal m (cancelled, ...): if its slot has a plan, or one
 * is being made, plan it again. */
void md_plan_changed(md_app_t *app, const md_meal_t *m);
/* A courier was added to point p: its plans of today (and later) are
 * planned again at the next tick (a courier may serve what was unserved). */
void md_plan_point_changed(md_app_t *app, const md_point_t *p);
/* A stored plan read at start: point id, date (YYYY-MM-DD), slot name,
 * version, the plan's JSON text. 0, or -1 if it names nothing we know. */
int md_plan_loaded(md_app_t *app, const char *point_id, const char *date, const char *slot,
                   int version, const char *plan);
/* GET .../rounds: the answer for (p, day, slot) at now_us; new reference.
 * addresses: each stop still to deliver gets the elder's door (only for the
 * meal point itself, on the audited route). */
json_t *md_plan_json(md_app_t *app, const md_point_t *p, int32_t day, md_slot_t slot,
                     int64_t now_us, int addresses);

#endif
