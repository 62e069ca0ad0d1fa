/* bd_store: billingd's SQL: the statement table (named, typed parameters,
 * checked against the catalogue by the runtime), the start-up load of the
 * working set, and the text encodings of postings for the SQL functions'
 * array parameters. The SQL functions live in sql/billingd/. */
#ifndef BD_STORE_H
#define BD_STORE_H
#include "cc_stmt.h"
#include "bd_app.h"

/* billingd's statements (cc_stmt.h), indexed by bd_st_t. */
typedef enum {
    /* Writer: one SQL function call each. */
    BD_ST_CARD_ISSUED, BD_ST_CARD_STATUS, BD_ST_ORDER_PLACED, BD_ST_ORDER_CLOSED, BD_ST_TOPUP,
    BD_ST_SET_PRICE, BD_ST_DELIVERED,
    /* Reader. */
    BD_ST_LOAD_PRICES, BD_ST_LOAD_RULES, BD_ST_LOAD_CARDS, BD_ST_LOAD_ACCOUNTS,
    BD_ST_LOAD_HOLDS, BD_ST_LOAD_USAGE, BD_ST_TOPUP_LOOKUP, BD_ST_STATEMENT, BD_ST_CHECK,
    BD_ST_HOLD, BD_ST_RECON,
    /* Token revocation (cc_revoke.h): AccountChanged from orderd's log. */
    BD_ST_ACCOUNT_CHANGED, BD_ST_ACCOUNT_GENS,
    BD_ST_COUNT
} bd_st_t;
extern cc_stmt_t bd_stmts[BD_ST_COUNT + 1];
/* Prepared also on the ledger check's own connection (bd_app.h checker). */
#define BD_STMT_CHECKER 0x4u

/* Load hook: queue the start-up load on the reader; calls cc_rt_loaded()
 * once everything is in memory. A failed load query logs and exits 1 (the
 * supervisor retries). 0/-1. */
int bd_store_load(void *app);

/* Crash-only: an unexpected SQL error on a write. Logs the statement name and
 * SQLSTATE (never parameters) and exits 1. */
void bd_fatal_sql(const char *stmt, PGresult *res) __attribute__((noreturn));
/* 1 if res is a successful result with at least one row. */
int bd_res_ok(PGresult *res);

/* PostgreSQL array literals of a transfer's accounts ({"a","b"}, every
 * element quoted and escaped) and amounts ({-5,5}). Caller frees; NULL on OOM. */
char *bd_pg_text_array(const bd_postings_t *p);
char *bd_pg_bigint_array(const bd_postings_t *p);
/* Set the "accounts" and "amounts" parameters of a from p; the literals
 * are stored in *accounts / *amounts for the caller to free after the call
 * is queued. -1 on OOM (nothing to free). */
int bd_store_postings(cc_args_t *a, const bd_postings_t *p, char **accounts, char **amounts);

#endif
