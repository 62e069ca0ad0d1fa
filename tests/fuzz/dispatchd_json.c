/* dispatchd_json: dispatchd's HTTP request bodies through its readers
 * (dd_http.c), as the handlers run them after the route guards: POST
 * /v1/caregivers (dd_http_read_caregiver, the caregiver it builds), then
 * the visit steps (accept, decline, check-in, check-out:
 * dd_http_read_step, with and without a caregiver's token) with the
 * parsed request decided by dd_visit_step on a visit in each state.
 * Input: a request body (JSON text). */
#include "fuzz.h"
#include <stdio.h>
#include "cc_log.h"
#include "dd_domain.h"
#include "dd_http.h"
#include "dd_store.h"
#include "dd_visit.h"

#define S_CG "6f1c8a52-3e0b-4d8e-a1c2-0d5e6f7a8b91"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void) argc;
    (void) argv;
    cc_log_init("fuzz", "error");
    return 0;
}

/* POST /v1/caregivers: the handler's reader and the caregiver it builds. */
static void s_caregiver(json_t *body)
{
    cc_err_t err;
    dd_cg_req_t in;
    if (dd_http_read_caregiver(body, &in, &err) != 0) {
        if (err.status != 400 || !err.field[0])
            abort();   /* a refused body is a 400 naming its field */
        return;
    }
    dd_caregiver_t *c = dd_http_caregiver_new(&in);
    if (!c)
        abort();
    if (!dd_caregiver_same(c, c))
        abort();
    char csv[160];
    dd_skills_csv(c->skills, csv, sizeof csv);
    dd_caregiver_free(&c);
}

/* A step's reader (the token's caregiver acting, or no token), then the
 * decision on a visit in each state. */
static void s_step(json_t *body, dd_step_t step, const char *who)
{
    cc_err_t err;
    char cg[DD_ID_LEN];
    dd_step_req_t in;
    memset(&in, 0, sizeof in);
    if (dd_http_read_step(body, step, who, cg, &in, &err) != 0) {
        if ((err.status != 400 && err.status != 403) || !err.field[0])
            abort();
        return;
    }
    if (in.caregiver_id != cg || (who && strcmp(cg, who) != 0))
        abort();   /* the token says who acts */
    if (strcmp(cg, S_CG) != 0)
        return;   /* not the visit's caregiver: the handler answers 403 */
    static const dd_visit_state_t states[] = {
        DD_VISIT_ASSIGNED, DD_VISIT_ACCEPTED, DD_VISIT_CHECKED_IN, DD_VISIT_COMPLETED,
    };
    for (size_t i = 0; i < sizeof states / sizeof states[0]; i++) {
        dd_visit_t *v = dd_visit_new();
        if (!v)
            abort();
        snprintf(v->id, sizeof v->id, "%s", "0c6f4f8e-9a1b-4c2d-8e3f-4a5b6c7d8e9f");
        snprintf(v->caregiver_id, sizeof v->caregiver_id, "%s", S_CG);
        v->service = 2;
        v->lat = 31.2304;
        v->lon = 121.4737;
        v->window_start_us = FZ_NOW_US - 3600LL * 1000000;
        v->window_end_us = FZ_NOW_US + 3600LL * 1000000;
        v->state = states[i];
        dd_step_result_t r;
        dd_visit_step(v, step, &in, FZ_NOW_US, &r);
        dd_visit_free(&v);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *body = fz_json_body(data, size);
    if (!body)
        return 0;
    s_caregiver(body);
    for (int s = 0; s < DD_STEP_N; s++)
        for (int t = 0; t < 2; t++)
            s_step(body, (dd_step_t) s, t ? S_CG : NULL);
    json_decref(body);
    return 0;
}
