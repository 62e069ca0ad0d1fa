/* bd_store: billingd's SQL. Statement names and texts, their registration
 * on the writer and the reader, the start-up load of the working set, and
 * the text encodings of postings for the SQL functions' array parameters. */
#ifndef BD_STORE_H
#define BD_STORE_H
#include "bd_app.h"

/* Writer statements (one SQL function call each; see sql/billingd/002). */
#define BD_SQL_CARD_ISSUED  "bd_card_issued"
#define BD_SQL_CARD_STATUS  "bd_card_status"
#define BD_SQL_ORDER_PLACED "bd_order_placed"
#define BD_SQL_ORDER_CLOSED "bd_order_closed"
#define BD_SQL_TOPUP        "bd_topup"
#define BD_SQL_SET_PRICE    "bd_set_price"
#define BD_SQL_DELIVERED    "bd_delivered"
/* Reader statements. */
#define BD_SQL_TOPUP_LOOKUP "bd_topup_lookup"
#define BD_SQL_STATEMENT    "bd_statement"
#define BD_SQL_CHECK        "bd_ledger_check"
#define BD_SQL_HOLD         "bd_hold_get"
#define BD_SQL_RECON        "bd_reconciliation"

/* Register every statement. 0 or -1. */
int bd_store_prepare(bd_app_t *app);

/* Queue the start-up load on the reader; calls done(app) once everything is
 * in memory. A failed load query logs and exits 1 (the supervisor retries). */
int bd_store_load(bd_app_t *app, void (*done)(bd_app_t *app));

/* PostgreSQL array literals of a transfer's accounts ({"a","b"}, every
 * element quoted and escaped) and amounts ({-5,5}). Caller frees; NULL on OOM. */
char *bd_pg_text_array(const bd_postings_t *p);
char *bd_pg_bigint_array(const bd_postings_t *p);

#endif
