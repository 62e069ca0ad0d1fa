/* dd_store: dispatchd's SQL: prepared statement names, a parameter builder
 * and the working-set load. Every write is one function of
 * sql/dispatchd/001_dispatch.sql. */
#ifndef DD_STORE_H
#define DD_STORE_H
#include <stddef.h>
#include <stdint.h>
#include <libpq-fe.h>

#include "cc_db.h"
#include "dd_state.h"

#define DD_ST_CG_CREATE    "dd_caregiver_create"
#define DD_ST_RELEASED     "dd_on_order_released"
#define DD_ST_RELEASED_BUMP "dd_on_order_released_bump"
#define DD_ST_CANCELLED    "dd_on_order_cancelled"
#define DD_ST_ASSIGN       "dd_visit_assign"
#define DD_ST_ASSIGN_BUMP  "dd_visit_assign_bump"
#define DD_ST_DECLINE      "dd_visit_decline"
#define DD_ST_ACCEPT       "dd_visit_accept"
#define DD_ST_CHECK        "dd_visit_check"
#define DD_ST_FAIL         "dd_visit_fail"
#define DD_ST_LOAD_CGS     "dd_load_caregivers"
#define DD_ST_LOAD_VISITS  "dd_load_visits"
#define DD_ST_GET_VISIT    "dd_get_visit"     /* a finished visit no longer in memory */

/* Register every statement on db (writer and reader alike). 0/-1. */
int dd_store_prepare(cc_db_t *db);

#define DD_ARGS_MAX 32
/* Parameters of one statement. Strings and blobs are borrowed until
 * cc_db_exec returns (it copies); numbers are formatted into buf. */
typedef struct {
    int n;
    const char *values[DD_ARGS_MAX];
    int lengths[DD_ARGS_MAX];
    int formats[DD_ARGS_MAX];
    char buf[DD_ARGS_MAX][32];
} dd_args_t;

void dd_args_init(dd_args_t *a);
void dd_args_str(dd_args_t *a, const char *s);      /* NULL -> SQL NULL */
void dd_args_i64(dd_args_t *a, int64_t v);
void dd_args_f64(dd_args_t *a, double v);
void dd_args_bool(dd_args_t *a, int v);
void dd_args_null(dd_args_t *a);
void dd_args_bin(dd_args_t *a, const void *data, size_t len);   /* binary bytea */

/* Parse a DD_ST_LOAD_CGS result into world. Returns rows loaded or -1. */
int dd_store_load_caregivers(dd_world_t *world, PGresult *res);
/* Parse a DD_ST_LOAD_VISITS (or DD_ST_GET_VISIT) result into world
 * (caregivers loaded first). */
int dd_store_load_visits(dd_world_t *world, PGresult *res);

/* Comma-separated service names <-> skill bits (names of cc_service_name). */
uint32_t dd_skills_parse_csv(const char *csv);
/* Writes "bath,cleaning" into buf; returns buf. */
char *dd_skills_csv(uint32_t skills, char *buf, size_t len);

#endif
