/* Unit tests for dd_visit: every (state, step) cell of the caregiver app's
 * steps, by the visit's caregiver and by another, plus repeats, times,
 * distances, the applied changes and the events. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cc_util.h"
#include "dd_visit.h"
#include "events.pb-c.h"

#define NOW_US (1795622400LL * 1000000)
#define MIN_US (60LL * 1000000)
/* Ids are UUIDs: the events packed here are checked against their schema. */
#define ME "00000000-0000-4000-8000-00000000c001"
#define OTHER "00000000-0000-4000-8000-00000000c002"
#define NEXT "00000000-0000-4000-8000-00000000c003"
#define VISIT "00000000-0000-4000-8000-00000000a001"
#define ORDER "00000000-0000-4000-8000-00000000b001"

/* A visit of ME in state s, checked in 30 minutes ago when that applies. */
static void s_visit(dd_visit_t *v, dd_visit_state_t s)
{
    memset(v, 0, sizeof *v);
    strcpy(v->id, VISIT);
    strcpy(v->order_id, ORDER);
    strcpy(v->caregiver_id, ME);
    strcpy(v->provider_id, "prov-1");
    v->service = DD_SVC_VISIT;
    v->lat = 31.2304;
    v->lon = 121.4737;
    v->state = s;
    if (s == DD_VISIT_CHECKED_IN || s == DD_VISIT_UNCONFIRMED || s == DD_VISIT_COMPLETED)
        v->checked_in_us = NOW_US - 30 * MIN_US;
}

static dd_step_verdict_t s_step(const dd_visit_t *v, dd_step_t step, const char *cg,
                                dd_step_result_t *r)
{
    dd_step_req_t req = {.caregiver_id = cg, .lat = v->lat, .lon = v->lon};
    return dd_visit_step(v, step, &req, NOW_US, r);
}

/* Expected verdicts, by the visit's own caregiver (ME) and by OTHER.
 * 'D' do, 'R' repeat, '9' 409 illegal_transition, '3' 403 not_assigned. */
static const char *const s_table[DD_VISIT_NSTATES][DD_STEP_N] = {
    /*                      accept decline check_in check_out    me/other */
    [DD_VISIT_WAITING]    = {"99", "99", "99", "99"},
    [DD_VISIT_ASSIGNED]   = {"D3", "D3", "99", "99"},
    [DD_VISIT_ACCEPTED]   = {"R9", "D3", "D3", "99"},
    [DD_VISIT_CHECKED_IN] = {"99", "99", "R9", "D3"},
    /* Not checked out in time: the dispatcher decides (dd_deadline), not the app. */
    [DD_VISIT_UNCONFIRMED] = {"99", "99", "99", "99"},
    [DD_VISIT_COMPLETED]  = {"99", "99", "99", "R9"},
    [DD_VISIT_FAILED]     = {"99", "99", "99", "99"},
    [DD_VISIT_CANCELLED]  = {"99", "99", "99", "99"},
    /* Planned, not offered yet: nothing to accept or decline till the offer. */
    [DD_VISIT_PLANNED]    = {"99", "99", "99", "99"},
};

static void s_check_cell(dd_visit_state_t s, dd_step_t step, const char *cg, char want)
{
    dd_visit_t v;
    s_visit(&v, s);
    dd_step_result_t r;
    dd_step_verdict_t got = s_step(&v, step, cg, &r);
    /* Compare as text so that a failure names the cell. */
    char code = got == DD_STEP_DO ? 'D' : got == DD_STEP_REPEAT ? 'R'
                : r.err.status == 409 ? '9' : r.err.status == 403 ? '3' : '?';
    char want_s[96], got_s[96];
    snprintf(want_s, sizeof want_s, "%s on %s by %s: %c", dd_step_name(step),
             dd_visit_state_name(s), cg, want);
    snprintf(got_s, sizeof got_s, "%s on %s by %s: %c", dd_step_name(step),
             dd_visit_state_name(s), cg, code);
    assert_string_equal(got_s, want_s);
    assert_int_equal(got, r.verdict);
    switch (want) {
    case 'D':
        assert_int_equal(got, DD_STEP_DO);
        assert_int_equal(r.step, step);
        break;
    case 'R':
        assert_int_equal(got, DD_STEP_REPEAT);
        assert_int_equal(r.event, DD_VISIT_EV_NONE);
        break;
    case '9': {
        assert_int_equal(got, DD_STEP_REFUSED);
        assert_int_equal(r.err.status, 409);
        assert_string_equal(r.err.error, "illegal_transition");
        assert_string_equal(r.err.field, "state");
        char msg[96];
        snprintf(msg, sizeof msg, "cannot %s: visit is %s", dd_step_name(step),
                 dd_visit_state_name(s));
        assert_string_equal(r.err.message, msg);
        break;
    }
    case '3':
        assert_int_equal(got, DD_STEP_REFUSED);
        assert_int_equal(r.err.status, 403);
        assert_string_equal(r.err.error, "not_assigned");
        assert_string_equal(r.err.field, "caregiver_id");
        assert_string_equal(r.err.message, "the visit is not assigned to this caregiver");
        break;
    default:
        fail();
    }
    /* Nothing is decided unless the step is done. */
    if (got != DD_STEP_DO) {
        assert_int_equal(r.event, DD_VISIT_EV_NONE);
        assert_int_equal(r.frees_slot, 0);
    }
    /* Pure: the visit is untouched whatever the verdict. */
    dd_visit_t again;
    s_visit(&again, s);
    assert_memory_equal(&v, &again, sizeof v);
}

static void test_every_cell(void **state)
{
    (void) state;
    for (int s = 0; s < DD_VISIT_NSTATES; s++)
        for (int step = 0; step < DD_STEP_N; step++) {
            s_check_cell(s, step, ME, s_table[s][step][0]);
            s_check_cell(s, step, OTHER, s_table[s][step][1]);
        }
}

/* What each allowed step decides: new state, event, time, place. */
static void test_decisions(void **state)
{
    (void) state;
    dd_visit_t v;
    dd_step_result_t r;

    s_visit(&v, DD_VISIT_ASSIGNED);
    assert_int_equal(s_step(&v, DD_STEP_ACCEPT, ME, &r), DD_STEP_DO);
    assert_int_equal(r.state, DD_VISIT_ACCEPTED);
    assert_int_equal(r.event, DD_VISIT_EV_ACCEPTED);
    assert_int_equal(r.at_us, NOW_US);
    assert_int_equal(r.frees_slot, 0);

    for (int s = DD_VISIT_ASSIGNED; s <= DD_VISIT_ACCEPTED; s++) {
        s_visit(&v, s);
        assert_int_equal(s_step(&v, DD_STEP_DECLINE, ME, &r), DD_STEP_DO);
        assert_int_equal(r.state, DD_VISIT_WAITING);
        assert_int_equal(r.event, DD_VISIT_EV_DECLINED);
        assert_int_equal(r.frees_slot, 1);
    }

    s_visit(&v, DD_VISIT_ACCEPTED);
    assert_int_equal(s_step(&v, DD_STEP_CHECK_IN, ME, &r), DD_STEP_DO);
    assert_int_equal(r.state, DD_VISIT_CHECKED_IN);
    assert_int_equal(r.event, DD_VISIT_EV_CHECKED_IN);
    assert_int_equal(r.frees_slot, 0);
    assert_true(r.lat == v.lat && r.lon == v.lon);
    assert_int_equal(r.distance_m, 0);

    s_visit(&v, DD_VISIT_CHECKED_IN);
    assert_int_equal(s_step(&v, DD_STEP_CHECK_OUT, ME, &r), DD_STEP_DO);
    assert_int_equal(r.state, DD_VISIT_COMPLETED);
    assert_int_equal(r.event, DD_VISIT_EV_COMPLETED);
    assert_int_equal(r.frees_slot, 1);
}

/* The distance is the rounded great-circle distance from the elder's home. */
static void test_distance(void **state)
{
    (void) state;
    dd_visit_t v;
    s_visit(&v, DD_VISIT_ACCEPTED);
    dd_step_req_t req = {.caregiver_id = ME, .lat = v.lat + 0.01, .lon = v.lon};
    dd_step_result_t r;
    assert_int_equal(dd_visit_step(&v, DD_STEP_CHECK_IN, &req, NOW_US, &r), DD_STEP_DO);
    int want = (int) lround(cc_geo_distance_m(v.lat, v.lon, req.lat, req.lon));
    assert_int_equal(r.distance_m, want);
    assert_in_range(r.distance_m, 1100, 1125);   /* 0.01 degree of latitude */
    assert_true(r.lat == req.lat && r.lon == req.lon);
    /* Accept and decline carry no place. */
    s_visit(&v, DD_VISIT_ASSIGNED);
    assert_int_equal(dd_visit_step(&v, DD_STEP_ACCEPT, &req, NOW_US, &r), DD_STEP_DO);
    assert_int_equal(r.distance_m, 0);
    assert_true(r.lat == 0 && r.lon == 0);
}

/* at: default now; up to DD_STEP_FUTURE_SLACK_US ahead; checked first. */
static void test_times(void **state)
{
    (void) state;
    dd_visit_t v;
    dd_step_result_t r;
    dd_step_req_t req = {.caregiver_id = ME};

    s_visit(&v, DD_VISIT_ACCEPTED);
    req.at_us = NOW_US + DD_STEP_FUTURE_SLACK_US;
    assert_int_equal(dd_visit_step(&v, DD_STEP_CHECK_IN, &req, NOW_US, &r), DD_STEP_DO);
    assert_int_equal(r.at_us, NOW_US + DD_STEP_FUTURE_SLACK_US);
    req.at_us = NOW_US - 10 * MIN_US;   /* the past is fine (offline phone) */
    assert_int_equal(dd_visit_step(&v, DD_STEP_CHECK_IN, &req, NOW_US, &r), DD_STEP_DO);
    assert_int_equal(r.at_us, NOW_US - 10 * MIN_US);

    req.at_us = NOW_US + DD_STEP_FUTURE_SLACK_US + 1;
    assert_int_equal(dd_visit_step(&v, DD_STEP_CHECK_IN, &req, NOW_US, &r), DD_STEP_REFUSED);
    assert_int_equal(r.err.status, 400);
    assert_string_equal(r.err.error, "invalid_value");
    assert_string_equal(r.err.field, "at");
    assert_string_equal(r.err.message, "at is in the future");
    /* ... before the state and the caregiver are looked at: a repeat, an
     * illegal step and someone else's visit all get the 400 too. */
    s_visit(&v, DD_VISIT_CHECKED_IN);
    assert_int_equal(dd_visit_step(&v, DD_STEP_CHECK_IN, &req, NOW_US, &r), DD_STEP_REFUSED);
    assert_int_equal(r.err.status, 400);
    s_visit(&v, DD_VISIT_WAITING);
    assert_int_equal(dd_visit_step(&v, DD_STEP_CHECK_IN, &req, NOW_US, &r), DD_STEP_REFUSED);
    assert_int_equal(r.err.status, 400);
    req.caregiver_id = OTHER;
    s_visit(&v, DD_VISIT_ACCEPTED);
    assert_int_equal(dd_visit_step(&v, DD_STEP_CHECK_IN, &req, NOW_US, &r), DD_STEP_REFUSED);
    assert_int_equal(r.err.status, 400);
}

/* Check-out not before check-in, checked last (after the caregiver). */
static void test_check_out_before_check_in(void **state)
{
    (void) state;
    dd_visit_t v;
    dd_step_result_t r;
    s_visit(&v, DD_VISIT_CHECKED_IN);
    dd_step_req_t req = {.caregiver_id = ME, .at_us = v.checked_in_us - 1};
    assert_int_equal(dd_visit_step(&v, DD_STEP_CHECK_OUT, &req, NOW_US, &r), DD_STEP_REFUSED);
    assert_int_equal(r.err.status, 400);
    assert_string_equal(r.err.error, "invalid_value");
    assert_string_equal(r.err.field, "at");
    assert_string_equal(r.err.message, "check-out before check-in");
    req.at_us = v.checked_in_us;   /* a zero-length visit is allowed */
    assert_int_equal(dd_visit_step(&v, DD_STEP_CHECK_OUT, &req, NOW_US, &r), DD_STEP_DO);
    assert_int_equal(r.at_us, v.checked_in_us);
    req.at_us = v.checked_in_us - 1;
    req.caregiver_id = OTHER;
    assert_int_equal(dd_visit_step(&v, DD_STEP_CHECK_OUT, &req, NOW_US, &r), DD_STEP_REFUSED);
    assert_int_equal(r.err.status, 403);
    /* A repeated check-out is answered as done whatever its time. */
    s_visit(&v, DD_VISIT_COMPLETED);
    req.caregiver_id = ME;
    assert_int_equal(dd_visit_step(&v, DD_STEP_CHECK_OUT, &req, NOW_US, &r), DD_STEP_REPEAT);
}

/* Our own clock stepped back an hour since we stamped the check-in: a
 * check-out we stamp (no "at") is recorded at check-in, not refused until
 * the clock catches up (tests/system/test_clock_step.py). */
static void test_check_out_after_clock_stepped_back(void **state)
{
    (void) state;
    dd_visit_t v;
    dd_step_result_t r;
    s_visit(&v, DD_VISIT_CHECKED_IN);
    int64_t now = v.checked_in_us - 3600LL * 1000000;
    dd_step_req_t req = {.caregiver_id = ME, .at_us = 0};
    assert_int_equal(dd_visit_step(&v, DD_STEP_CHECK_OUT, &req, now, &r), DD_STEP_DO);
    assert_int_equal(r.state, DD_VISIT_COMPLETED);
    assert_int_equal(r.at_us, v.checked_in_us);
    /* A time the app gave is still checked. */
    req.at_us = now;
    assert_int_equal(dd_visit_step(&v, DD_STEP_CHECK_OUT, &req, now, &r), DD_STEP_REFUSED);
    assert_string_equal(r.err.message, "check-out before check-in");
}

/* A caregiver who declined the visit before gets a repeat for another
 * decline, whatever the visit's state or caregiver now. */
static void test_decline_repeat(void **state)
{
    (void) state;
    for (int s = 0; s < DD_VISIT_NSTATES; s++) {
        dd_visit_t *v = dd_visit_new();
        assert_non_null(v);
        dd_visit_t tmpl;
        s_visit(&tmpl, s);
        tmpl.declined = NULL;
        *v = tmpl;
        strcpy(v->caregiver_id, NEXT);
        assert_int_equal(dd_visit_add_declined(v, ME), 0);
        dd_step_result_t r;
        assert_int_equal(s_step(v, DD_STEP_DECLINE, ME, &r), DD_STEP_REPEAT);
        /* Other steps by the decliner get no such pass. */
        assert_int_not_equal(s_step(v, DD_STEP_ACCEPT, ME, &r), DD_STEP_DO);
        assert_int_not_equal(s_step(v, DD_STEP_ACCEPT, ME, &r), DD_STEP_REPEAT);
        dd_visit_free(&v);
    }
}

/* An unassigned visit (no caregiver id) is nobody's. */
static void test_empty_caregiver(void **state)
{
    (void) state;
    dd_visit_t v;
    s_visit(&v, DD_VISIT_ASSIGNED);
    v.caregiver_id[0] = '\0';
    dd_step_result_t r;
    assert_int_equal(s_step(&v, DD_STEP_ACCEPT, ME, &r), DD_STEP_REFUSED);
    assert_int_equal(r.err.status, 403);
}

static void test_step_names(void **state)
{
    (void) state;
    assert_string_equal(dd_step_name(DD_STEP_ACCEPT), "accept");
    assert_string_equal(dd_step_name(DD_STEP_DECLINE), "decline");
    assert_string_equal(dd_step_name(DD_STEP_CHECK_IN), "check in");
    assert_string_equal(dd_step_name(DD_STEP_CHECK_OUT), "check out");
    assert_string_equal(dd_step_name(DD_STEP_N), "?");
}

/* ---- apply and events ---------------------------------------------------- */

typedef struct {
    dd_world_t *w;
    dd_caregiver_t *c;
    dd_visit_t *v;
} s_fix_t;

static void s_fix(s_fix_t *f)
{
    f->w = dd_world_new();
    assert_non_null(f->w);
    dd_caregiver_t *c = dd_caregiver_new();
    assert_non_null(c);
    strcpy(c->id, ME);
    strcpy(c->provider_id, "prov-1");
    c->name = strdup("x");
    f->c = c;
    assert_int_equal(dd_world_add_caregiver(f->w, &c), 0);
    dd_visit_t *v = dd_visit_new();
    assert_non_null(v);
    dd_visit_t tmpl;
    s_visit(&tmpl, DD_VISIT_ASSIGNED);
    *v = tmpl;
    v->caregiver = f->c;
    v->eta_us = NOW_US + 30 * MIN_US;
    v->planned_end_us = NOW_US + 90 * MIN_US;
    f->v = v;
    assert_int_equal(dd_world_add_visit(f->w, &v), 0);
    assert_int_equal(f->c->nplan, 1);
}

static void s_do(s_fix_t *f, dd_step_t step, const dd_step_req_t *req, int64_t now,
                 dd_step_result_t *r)
{
    assert_int_equal(dd_visit_step(f->v, step, req, now, r), DD_STEP_DO);
    dd_visit_apply(f->w, f->v, r, now);
    assert_int_equal(f->v->state, r->state);
}

static void test_apply_and_events(void **state)
{
    (void) state;
    s_fix_t f;
    s_fix(&f);
    dd_step_result_t r;
    size_t len = 0;
    uint8_t *pay;

    dd_step_req_t req = {.caregiver_id = ME};
    s_do(&f, DD_STEP_ACCEPT, &req, NOW_US, &r);
    assert_int_equal(f.v->accepted_us, NOW_US);
    assert_int_equal(f.c->nplan, 1);
    pay = dd_visit_event_pack(f.v, &r, &len);
    assert_non_null(pay);
    Cc__VisitAccepted *a = cc__visit_accepted__unpack(NULL, len, pay);
    assert_non_null(a);
    assert_string_equal(a->visit_id, VISIT);
    assert_string_equal(a->order_id, ORDER);
    assert_string_equal(a->caregiver_id, ME);
    cc__visit_accepted__free_unpacked(a, NULL);
    free(pay);

    int64_t in_at = NOW_US + 20 * MIN_US;
    req = (dd_step_req_t){.caregiver_id = ME, .at_us = in_at, .lat = 31.24, .lon = 121.47};
    s_do(&f, DD_STEP_CHECK_IN, &req, in_at, &r);
    assert_int_equal(f.v->checked_in_us, in_at);
    assert_true(f.v->in_lat == 31.24 && f.v->in_lon == 121.47);
    assert_int_equal(f.v->in_distance_m, r.distance_m);
    assert_true(r.distance_m > 0);
    assert_int_equal(f.c->nplan, 1);
    pay = dd_visit_event_pack(f.v, &r, &len);
    assert_non_null(pay);
    Cc__VisitCheckedIn *ci = cc__visit_checked_in__unpack(NULL, len, pay);
    assert_non_null(ci);
    assert_string_equal(ci->visit_id, VISIT);
    assert_string_equal(ci->order_id, ORDER);
    assert_string_equal(ci->caregiver_id, ME);
    assert_int_equal(ci->at_us, in_at);
    assert_true(ci->lat == 31.24 && ci->lon == 121.47);
    assert_int_equal(ci->distance_m, r.distance_m);
    cc__visit_checked_in__free_unpacked(ci, NULL);
    free(pay);

    int64_t out_at = in_at + 45 * MIN_US;
    req = (dd_step_req_t){.caregiver_id = ME, .at_us = out_at, .lat = 31.2304,
                          .lon = 121.4737};
    s_do(&f, DD_STEP_CHECK_OUT, &req, out_at, &r);
    assert_int_equal(f.v->checked_out_us, out_at);
    assert_int_equal(f.v->out_distance_m, 0);
    assert_int_equal(f.v->finished_us, out_at);
    assert_int_equal(f.c->nplan, 0);   /* completed: the slot is free */
    assert_null(f.v->caregiver);
    assert_string_equal(f.v->caregiver_id, ME);   /* kept for the record */
    size_t nactive;
    dd_world_active(f.w, &nactive);
    assert_int_equal(nactive, 0);
    pay = dd_visit_event_pack(f.v, &r, &len);
    assert_non_null(pay);
    Cc__VisitCompleted *co = cc__visit_completed__unpack(NULL, len, pay);
    assert_non_null(co);
    assert_string_equal(co->visit_id, VISIT);
    assert_string_equal(co->order_id, ORDER);
    assert_string_equal(co->caregiver_id, ME);
    assert_string_equal(co->provider_id, "prov-1");
    assert_int_equal(co->checked_in_us, in_at);
    assert_int_equal(co->checked_out_us, out_at);
    assert_true(co->lat == 31.2304 && co->lon == 121.4737);
    assert_int_equal(co->distance_m, 0);
    cc__visit_completed__free_unpacked(co, NULL);
    free(pay);

    dd_world_destroy(&f.w);
}

/* No payload for a decline (dispatch writes it), a repeat or a refusal. */
/* An assessment visit is checked out with its result (422 without), any
 * other visit without one (422 with); the result travels in VisitAssessed. */
static void test_assessment_check_out(void **state)
{
    (void) state;
    dd_visit_t v;
    dd_step_result_t r;
    s_visit(&v, DD_VISIT_CHECKED_IN);
    strcpy(v.elder_id, "00000000-0000-4000-8000-00000000e001");
    v.service = DD_SVC_ASSESSMENT;
    dd_step_req_t req = {.caregiver_id = ME, .lat = v.lat, .lon = v.lon};
    assert_int_equal(dd_visit_step(&v, DD_STEP_CHECK_OUT, &req, NOW_US, &r), DD_STEP_REFUSED);
    assert_int_equal(r.err.status, 422);
    assert_string_equal(r.err.field, "assessment");

    req.assessed = 1;
    req.assess_level = DD_ABILITY_SEVERE;
    req.assess_score = 37;
    assert_int_equal(dd_visit_step(&v, DD_STEP_CHECK_OUT, &req, NOW_US, &r), DD_STEP_DO);
    assert_true(r.assessed);
    size_t len = 0;
    uint8_t *pay = dd_visit_assessed_pack(&v, &r, &len);
    assert_non_null(pay);
    Cc__VisitAssessed *m = cc__visit_assessed__unpack(NULL, len, pay);
    assert_non_null(m);
    assert_string_equal(m->order_id, ORDER);
    assert_string_equal(m->caregiver_id, ME);
    assert_string_equal(m->elder_id, "00000000-0000-4000-8000-00000000e001");
    assert_string_equal(m->level, "severe");
    assert_int_equal(m->score, 37);
    assert_int_equal(m->assessed_us, NOW_US);
    cc__visit_assessed__free_unpacked(m, NULL);
    free(pay);

    /* A repeat (the app retrying) is answered as done, with or without it. */
    v.state = DD_VISIT_COMPLETED;
    req.assessed = 0;
    assert_int_equal(dd_visit_step(&v, DD_STEP_CHECK_OUT, &req, NOW_US, &r), DD_STEP_REPEAT);

    s_visit(&v, DD_VISIT_CHECKED_IN);
    v.service = DD_SVC_BATH;
    req.assessed = 1;
    assert_int_equal(dd_visit_step(&v, DD_STEP_CHECK_OUT, &req, NOW_US, &r), DD_STEP_REFUSED);
    assert_int_equal(r.err.status, 422);
    assert_string_equal(r.err.field, "assessment");
    req.assessed = 0;
    assert_int_equal(dd_visit_step(&v, DD_STEP_CHECK_OUT, &req, NOW_US, &r), DD_STEP_DO);
    assert_null(dd_visit_assessed_pack(&v, &r, &len));   /* no result, no event */
}

static void test_no_event(void **state)
{
    (void) state;
    dd_visit_t v;
    dd_step_result_t r;
    size_t len = 0;
    s_visit(&v, DD_VISIT_ASSIGNED);
    assert_int_equal(s_step(&v, DD_STEP_DECLINE, ME, &r), DD_STEP_DO);
    assert_null(dd_visit_event_pack(&v, &r, &len));
    s_visit(&v, DD_VISIT_ACCEPTED);
    assert_int_equal(s_step(&v, DD_STEP_ACCEPT, ME, &r), DD_STEP_REPEAT);
    assert_null(dd_visit_event_pack(&v, &r, &len));
    assert_int_equal(s_step(&v, DD_STEP_CHECK_OUT, ME, &r), DD_STEP_REFUSED);
    assert_null(dd_visit_event_pack(&v, &r, &len));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_cell),
        cmocka_unit_test(test_decisions),
        cmocka_unit_test(test_distance),
        cmocka_unit_test(test_times),
        cmocka_unit_test(test_check_out_before_check_in),
        cmocka_unit_test(test_check_out_after_clock_stepped_back),
        cmocka_unit_test(test_decline_repeat),
        cmocka_unit_test(test_empty_caregiver),
        cmocka_unit_test(test_step_names),
        cmocka_unit_test(test_apply_and_events),
        cmocka_unit_test(test_no_event),
        cmocka_unit_test(test_assessment_check_out),
    };
    return cmocka_run_group_tests_name("dd_visit", tests, NULL, NULL);
}
