/* dispatchd_json: dispatchd's HTTP request bodies through its readers
 * (dd_http.c), as the handlers run them after the route guards: POST
 * /v1/caregivers (the handler's cc_json_* readers, inline in
 * s_post_caregiver, and dd_http_parse_skills), then the visit steps
 * (accept, decline, check-in, check-out: the readers of s_step_body) with
 * the parsed request decided by dd_visit_step on a visit in each state.
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

/* The readers of s_post_caregiver, in its order and with its limits. */
static void s_caregiver(json_t *body)
{
    cc_err_t err;
    const char *name = NULL, *provider = NULL;
    int64_t district = 0, level = 0;
    double lat = 0, lon = 0;
    int first_aid = 0, ss = -1, se = -1;
    uint32_t skills = 0;
    if (cc_json_str(body, "name", 1, 200, &name, &err)
        || cc_json_str(body, "provider_id", 1, DD_ID_LEN - 1, &provider, &err)
        || cc_json_int(body, "district_id", 1, 1, INT32_MAX, &district, &err)
        || cc_json_num(body, "lat", 1, -90, 90, &lat, &err)
        || cc_json_num(body, "lon", 1, -180, 180, &lon, &err)
        || dd_http_parse_skills(body, &skills, &err)
        || cc_json_int(body, "level", 1, 1, 3, &level, &err)
        || cc_json_bool(body, "first_aid", 0, &first_aid, &err)
        || cc_json_hhmm(body, "shift_start", 1, &ss, &err)
        || cc_json_hhmm(body, "shift_end", 1, &se, &err))
        return;
    dd_caregiver_t *c = dd_caregiver_new();
    if (!c || !(c->name = strdup(name)))
        abort();
    snprintf(c->provider_id, sizeof c->provider_id, "%s", provider);
    c->district_id = (uint32_t) district;
    c->lat = lat;
    c->lon = lon;
    c->skills = skills;
    c->level = (int) level;
    c->first_aid = first_aid;
    c->shift_start_min = ss;
    c->shift_end_min = se;
    if (!dd_caregiver_same(c, c))
        abort();
    char csv[160];
    dd_skills_csv(c->skills, csv, sizeof csv);
    dd_caregiver_free(&c);
}

/* The readers of s_step_body for step, then the decision on each state. */
static void s_step(json_t *body, dd_step_t step)
{
    cc_err_t err;
    char cg[DD_ID_LEN] = "";
    const char *reason = NULL;
    dd_step_req_t in;
    memset(&in, 0, sizeof in);
    int rc = cc_json_uuid(body, "caregiver_id", 0, cg, &err);
    if (rc == 0 && step == DD_STEP_DECLINE)
        rc = cc_json_str(body, "reason", 0, 200, &reason, &err);
    if (rc == 0 && (step == DD_STEP_CHECK_IN || step == DD_STEP_CHECK_OUT)) {
        rc = cc_json_num(body, "lat", 1, -90, 90, &in.lat, &err);
        if (rc == 0)
            rc = cc_json_num(body, "lon", 1, -180, 180, &in.lon, &err);
        if (rc == 0)
            rc = cc_json_time(body, "at", 0, &in.at_us, &err);
        if (rc == 0 && in.at_us == 0)
            rc = cc_json_time(body, "time", 0, &in.at_us, &err);
    }
    if (rc != 0)
        return;
    /* The token says who acts; a body naming someone else is refused. */
    if (cg[0] && strcmp(cg, S_CG) != 0)
        return;
    in.caregiver_id = S_CG;
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
        s_step(body, (dd_step_t) s);
    json_decref(body);
    return 0;
}
