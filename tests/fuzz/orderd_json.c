/* orderd_json: orderd's HTTP request bodies through its readers, as the
 * route handlers call them after the route guards (od_http.c): POST
 * /v1/orders (od_order_req_from_json, with the Idempotency-Key taken from
 * the body's "_key" member when a string), POST /v1/elders
 * (od_elder_req_from_json), POST /v1/cards, POST /v1/cards/{id}/status and
 * POST /v1/orders/{id}/cancel (od_card_req_from_json,
 * od_card_status_from_json, od_cancel_req_from_json), then the pure domain functions a handler feeds an
 * accepted request to. Input: a request body (JSON text). */
#include "fuzz.h"
#include "fuzz_args.h"
#include "cc_log.h"
#include "od_app.h"
#include "od_domain.h"
#include "od_req.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void) argc;
    (void) argv;
    cc_log_init("fuzz", "error");
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *body = fz_json_body(data, size);
    if (!body)
        return 0;
    cc_err_t err;

    /* POST /v1/orders */
    const char *key = fz_json_string(body, "_key");
    od_order_req_t r;
    if (od_order_req_from_json(body, key ? key : "fuzz-key-1", FZ_NOW_US, &r, &err) == 0) {
        od_order_req_t again = r;
        if (!od_order_req_same(&r, &again))
            abort();   /* the idempotency comparison must hold for a copy */
        (void) od_priority(r.service == 6, r.window_start_us);
        /* What the handler hands on must pass the checks again unchanged. */
        if (od_order_req_check(&again, FZ_NOW_US, &err) != 0)
            abort();
    }

    /* POST /v1/elders */
    od_elder_req_t e;
    if (od_elder_req_from_json(body, FZ_NOW_US, &e, &err) == 0) {
        char today[16];
        int ty, tm, td;
        if (cc_date_local(FZ_NOW_US, today, sizeof today)
            && od_date_parse(today, &ty, &tm, &td) == 0)
            (void) od_age_years(e.birth_y, e.birth_m, e.birth_d, ty, tm, td);
    }

    /* POST /v1/cards: {elder_id} */
    char elder_id[CC_UUID_LEN];
    if (od_card_req_from_json(body, elder_id, &err) == 0) {
        if (!fz_uuid_lower(elder_id))
            abort();   /* ids in memory are lower case */
    } else if (err.status != 400 && err.status != 422) {
        abort();
    }
    /* POST /v1/cards/{id}/status: {status} */
    int status = 0;
    if (od_card_status_from_json(body, &status, &err) == 0 && !od_card_status_names[status])
        abort();
    /* POST /v1/orders/{id}/cancel: {reason?} (and the body-less request) */
    char why[208];
    if (od_cancel_req_from_json(body, why, sizeof why, &err) == 0
        && (!why[0] || !cc_utf8_ok((const unsigned char *) why)))
        abort();   /* a reason is recorded, as text PostgreSQL takes */
    if (od_cancel_req_from_json(NULL, why, sizeof why, &err) != 0)
        abort();

    json_decref(body);
    return 0;
}
