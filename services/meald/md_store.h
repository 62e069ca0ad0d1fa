/* md_store: meald's SQL: the statement table (prepared and checked against
 * the catalogue by the runtime) and the working-set load (reader). Writes
 * are one call each, on the writer or through the orderd consumer so the
 * position commits with the effect.
 *
 * Result rows of the write functions (sql/meald/001_meald.sql):
 *   md_create_point -> (outcome created|replay|conflict, meal_point_id)
 *   md_schedule / md_refuse -> (outcome applied|duplicate|exists)
 *   md_cancel -> (outcome applied|duplicate|noop)
 *   md_deliver -> (outcome applied|already|not_scheduled|unknown,
 *                  delivered_us, courier_id)
 *   md_expire -> (outcome applied|noop)
 *   md_create_courier -> (outcome created|replay|conflict, courier_id)
 *   md_store_rounds -> (outcome stored|stale)
 *   md_fail -> (outcome applied|already|not_scheduled|unknown, reason) */
#ifndef MD_STORE_H
#define MD_STORE_H
#include <libpq-fe.h>

#include "cc_stmt.h"
#include "md_app.h"

/* meald's statements (cc_stmt.h), indexed by md_st_t. */
typedef enum {
    MD_ST_LOAD_POINTS, MD_ST_LOAD_SLOTS, MD_ST_LOAD_MEALS,
    MD_ST_CREATE_POINT, MD_ST_SCHEDULE, MD_ST_REFUSE, MD_ST_CANCEL, MD_ST_DELIVER,
    MD_ST_EXPIRE,               /* the deadline sweep (md_sweep.h) */
    MD_ST_LOAD_DEADLINES,       /* table deadlines, at start and refresh */
    /* Token revocation (cc_revoke.h): AccountChanged from orderd's log. */
    MD_ST_ACCOUNT_CHANGED, MD_ST_ACCOUNT_GENS,
    /* Couriers and rounds (md_plan.h). */
    MD_ST_LOAD_COURIERS, MD_ST_LOAD_PLANS, MD_ST_CREATE_COURIER, MD_ST_STORE_ROUNDS, MD_ST_FAIL,
    MD_ST_COUNT
} md_st_t;
extern cc_stmt_t md_stmts[MD_ST_COUNT + 1];

/* Load points, slots, meals of the last retain_days days (and every
 * scheduled one: its deadline is still to be resolved) and the deadlines
 * from the reader into app->state (empty); calls cc_rt_loaded() when all
 * have arrived. A failed load exits (crash-only). 0/-1 (could not queue). */
int md_store_load(void *app);

/* Parse an MD_ST_LOAD_DEADLINES result into out[MD_NSLOTS]. 0, or -1 when
 * a slot has no row or a value is out of range (*what names it). */
int md_store_load_deadlines(md_deadline_rule_t out[MD_NSLOTS], PGresult *res,
                            const char **what);

/* 1 if res is a TUPLES_OK result with at least one row. */
int md_store_ok(PGresult *res);
/* A write's result is an error (not a success of the wrong shape, which
 * stays fatal): logged and counted by cc_rt_write_failed, *err (may be
 * NULL) the answer for its request; 1. Else 0. meald never reloads: its
 * memory takes a write's change after the store reports it, except a
 * meal decided from OrderReleased, which its callback forgets. */
int md_store_failed(cc_rt_t *rt, const char *what, PGresult *res, cc_err_t *err);

#endif
