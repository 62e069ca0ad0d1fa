/* billingd_json: billingd's HTTP request bodies through the readers of its
 * handlers (bd_http.c): PUT /v1/prices/{service} {price_fen}
 * (bd_http_read_price) and POST /v1/cards/{id}/topups {amount_fen, source,
 * reference?} (bd_http_read_topup); then what the
 * handlers do with an accepted body in memory: the price set and quoted,
 * the top-up decided and applied to a card (twice, with the largest
 * configurable top-up limit, so that balances grow towards their bounds).
 * Input: a request body (JSON text). */
#include "fuzz.h"
#include "cc_log.h"
#include "bd_http.h"
#include "bd_ledger.h"
#include "bd_pricing.h"

#define S_CARD "3d5e7f90-1a2b-4c3d-8e4f-5a6b7c8d9e0f"
/* --max-topup-fen's upper bound (billingd/main.c). */
#define S_MAX_TOPUP (BD_PRICE_MAX_FEN * 10)

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void) argc;
    (void) argv;
    cc_log_init("fuzz", "error");
    return 0;
}

static void s_price(json_t *body)
{
    cc_err_t err;
    int64_t price = 0;
    if (bd_http_read_price(body, &price, &err) < 0) {
        if (err.status != 400)
            abort();
        return;
    }
    bd_pricing_t *p = bd_pricing_new();
    if (!p)
        abort();
    for (int svc = 1; svc <= BD_SERVICE_MAX; svc++) {
        if (bd_pricing_set_price(p, svc, price) != 0)
            abort();   /* the reader's range is the price list's */
        bd_quote_t q;
        bd_facts_t f = { svc, 1, "alone", 80 };
        if (bd_pricing_quote(p, &f, NULL, NULL, &q) != 0 || q.price_fen != price)
            abort();
    }
    bd_pricing_destroy(&p);
}

static void s_topup(json_t *body)
{
    cc_err_t err;
    int64_t amount = 0;
    int source = -1;
    const char *reference = NULL;
    if (bd_http_read_topup(body, S_MAX_TOPUP, &amount, &source, &reference, &err) < 0) {
        if (err.status != 400)
            abort();
        return;
    }
    bd_ledger_t *l = bd_ledger_new();
    if (!l || !bd_ledger_open_card(l, S_CARD, 1, "alone", 80))
        abort();
    for (int i = 0; i < 2; i++) {
        bd_topup_decision_t d;
        if (bd_ledger_decide_topup(l, S_CARD, amount, (bd_source_t) source, &d) != 0)
            abort();   /* an accepted amount on an open card is always taken */
        if (bd_postings_sum(&d.postings) != 0 || bd_ledger_apply(l, &d.postings) != 0)
            abort();
    }
    bd_ledger_destroy(&l);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *body = fz_json_body(data, size);
    if (!body)
        return 0;
    s_price(body);
    s_topup(body);
    json_decref(body);
    return 0;
}
