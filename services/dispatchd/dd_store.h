/* dd_store: dispatchd's SQL: the statement table (named, typed parameters)
 * and the working-set load. Every write is one function of
 * sql/dispatchd/001_dispatch.sql. */
#ifndef DD_STORE_H
#define DD_STORE_H
#include <stddef.h>
#include <stdint.h>
#include <libpq-fe.h>

#include "cc_db.h"
#include "cc_stmt.h"
#include "dd_deadline.h"
#include "dd_state.h"

/* dispatchd's statements (cc_stmt.h), indexed by dd_st_t. */
typedef enum {
    DD_ST_CG_CREATE, DD_ST_RELEASED, DD_ST_RELEASED_BUMP, DD_ST_CANCELLED, DD_ST_ASSIGN,
    DD_ST_ASSIGN_BUMP, DD_ST_DECLINE, DD_ST_ACCEPT, DD_ST_CHECK,
    DD_ST_REPLAN,               /* a re-optimisation's moves (dd_reopt.h) */
    DD_ST_RESOLVE,              /* a deadline's resolution or a dispatcher's decision */
    DD_ST_LOAD_CGS, DD_ST_LOAD_VISITS,
    DD_ST_LOAD_DEADLINES,       /* table deadlines (dd_deadline.h), at start and refresh */
    DD_ST_GET_VISIT,            /* a finished visit no longer in memory */
    /* Token revocation (cc_revoke.h): AccountChanged from orderd's log. */
    DD_ST_ACCOUNT_CHANGED, DD_ST_ACCOUNT_GENS,
    /* A dispatcher's operations (dd_ops.c, sql/dispatchd/008_dispatch_ops.sql). */
    DD_ST_ROTA_SET, DD_ST_CERT_ADD, DD_ST_ZONE_SET, DD_ST_MANUAL_ASSIGN, DD_ST_RELEASE,
    DD_ST_LOAD_OPS,             /* zones, rota, certificates and pins, after the visits */
    DD_ST_CAPACITY,             /* CapacityReported batch (dd_capacity.h) */
    DD_ST_COUNT
} dd_st_t;
extern cc_stmt_t dd_stmts[DD_ST_COUNT + 1];

/* The runtime's load hook (app a dd_app_t): caregivers, then open and
 * recently finished visits, through the reader; cc_rt_loaded() when both
 * are in memory. A failed load exits 1 (the supervisor retries). 0/-1. */
int dd_store_load(void *app);

/* Parse a DD_ST_LOAD_CGS result into world. Returns rows loaded or -1. */
int dd_store_load_caregivers(dd_world_t *world, PGresult *res);
/* Parse a DD_ST_LOAD_VISITS (or DD_ST_GET_VISIT) result into world
 * (caregivers loaded first). */
int dd_store_load_visits(dd_world_t *world, PGresult *res);

/* Parse a DD_ST_LOAD_DEADLINES result into *out (rows of unknown services
 * are ignored). 0, or -1 when a visit service has no row or a row is out of
 * range (*what names it; the caller keeps its old rules). */
int dd_store_load_deadlines(dd_deadlines_t *out, PGresult *res, const char **what);

/* Comma-separated service names <-> skill bits (names of cc_service_name). */
uint32_t dd_skills_parse_csv(const char *csv);
/* Writes "bath,cleaning" into buf; returns buf. */
char *dd_skills_csv(uint32_t skills, char *buf, size_t len);

#endif
