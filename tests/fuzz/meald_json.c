/* meald_json: meald's HTTP request bodies through md_req (its pure
 * readers, md_http.c calls them after the route guards): POST
 * /v1/meal-points (md_req_point, then the point stored and shown as the
 * reply shows it), POST /v1/meals/{order_id}/delivered (md_req_delivered),
 * the kitchen list's query (md_req_kitchen, date and slot taken from the
 * body's "date" and "slot" members) and the idempotency hash of a body.
 * Input: a request body (JSON text). */
#include "fuzz.h"
#include "cc_log.h"
#include "md_domain.h"
#include "md_req.h"

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

    char hash[17];
    md_req_hash(body, hash);

    md_point_t p;
    memset(&p, 0, sizeof p);
    if (md_req_point(body, &p, &err) == 0) {
        /* As the handler does: keep it, then answer with its JSON. */
        snprintf(p.id, sizeof p.id, "%s", "0b0e3c52-5a4e-4c6e-9d55-3a1f0c2b7e01");
        memcpy(p.req_hash, hash, sizeof p.req_hash);
        md_state_t *st = md_state_new();
        if (!st)
            abort();
        md_point_t *kept = md_point_add(st, &p);
        if (!kept)
            abort();
        json_t *shown = md_json_point(kept);
        if (!shown)
            abort();
        json_decref(shown);
        md_choice_t ch;
        (void) md_choose(st, p.lat, p.lon, MD_LUNCH, 0, FZ_NOW_US, 5000.0, &ch);
        md_state_destroy(&st);
    }

    int64_t at = 0;
    char courier[MD_COURIER_MAX + 1];
    (void) md_req_delivered(body, FZ_NOW_US, &at, courier, &err);
    (void) md_req_delivered(NULL, FZ_NOW_US, &at, courier, &err);

    const char *date = fz_json_string(body, "date"), *slot = fz_json_string(body, "slot");
    int32_t day = 0;
    md_slot_t s;
    if (md_req_kitchen(date, slot, &day, &s, &err) == 0) {
        char buf[16];
        md_day_format(day, buf, sizeof buf);
    }
    json_decref(body);
    return 0;
}
