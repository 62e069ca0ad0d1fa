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

#define BD_IDEMPOTENCY_KEY_MAX 128
#define BD_REFERENCE_MAX 128

/* Register the routes on app->http. 0 or -1. */
int bd_http_routes(bd_app_t *app);
/* Answer or fail every top-up still waiting (shutdown); frees the jobs. */
void bd_http_shutdown(bd_app_t *app);

/* Pure helpers (unit-tested). */
/* 1 if key is 1..BD_IDEMPOTENCY_KEY_MAX printable ASCII characters. */
int bd_idempotency_key_ok(const char *key);
/* Lower-case copy of a UUID path segment into out[37]; -1 if not a UUID. */
int bd_uuid_norm(const char *in, char *out);

#endif
