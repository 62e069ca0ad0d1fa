/* bd_http: the billing clerk API (docs/API-billingd.md).
 *   GET  /v1/prices                       price list
 *   PUT  /v1/prices/{service}             {price_fen}
 *   GET  /v1/subsidy-rules                rules in force
 *   POST /v1/cards/{card_id}/topups       Idempotency-Key; {amount_fen, source, reference}
 *   GET  /v1/cards/{card_id}/balance
 *   GET  /v1/cards/{card_id}/transactions ?limit=
 *   GET  /v1/holds/{order_id}
 *   GET  /v1/ledger/check                 invariants from the stored postings
 *   GET  /v1/reconciliation               ?grace_s= captures vs delivery reports */
#ifndef BD_HTTP_H
#define BD_HTTP_H
#include "bd_app.h"

#define BD_REFERENCE_MAX CC_REFERENCE_MAX   /* cc_limits.h */

/* The routes (cc_http.h), for the runtime; their arg is the bd_app_t. */
extern const cc_http_route_t bd_http_routes[];
/* Answer or fail every top-up still waiting (shutdown); frees the jobs. */
void bd_http_shutdown(bd_app_t *app);
/* The request readers the handlers run (tests/fuzz/billingd_json.c calls
 * the same). 0, or -1 with err set (400 naming the field). */
/* PUT /v1/prices/{service}: {price_fen}, 0..BD_PRICE_MAX_FEN. */
int bd_http_read_price(json_t *body, int64_t *price, cc_err_t *err);
/* POST /v1/cards/{id}/topups: {amount_fen 1..max_fen, source (a bd_source_t:
 * family, subsidy, allowance), reference? (borrowed from body)}. */
int bd_http_read_topup(json_t *body, int64_t max_fen, int64_t *amount, int *source,
                       const char **reference, cc_err_t *err);

#endif
