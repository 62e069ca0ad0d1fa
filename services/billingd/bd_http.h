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

#endif
