/* Unit tests for dd_state: the working set, plans, queue and re-dispatch. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dd_state.h"
#include "dd_model.h"
#include "dd_visit.h"
#include "dd_test_geo.h"

#define DAY0_US (1795622400LL * 1000000)
#define MIN_US (60LL * 1000000)
static int64_t s_at(int h, int m)
{
    return DAY0_US + (int64_t) (h * 60 + m) * MIN_US;
}

static dd_caregiver_t *s_add_cg(dd_world_t *w, const char *id, double lon)
{
    dd_caregiver_t *c = dd_caregiver_new();
    assert_non_null(c);
    snprintf(c->id, sizeof c->id, "%s", id);
    strcpy(c->provider_id, "prov");
    c->name = strdup("x");
    c->lat = dd_test_lat(lon);
    c->lon = DD_TEST_LON;
    c->skills = 1u << DD_SVC_VISIT;
    c->level = 1;
    c->shift_start_min = 8 * 60;
    c->shift_end_min = 18 * 60;
    c->district_id = 1;
    dd_caregiver_t *keep = c;
    assert_int_equal(dd_world_add_caregiver(w, &c), 0);
    assert_null(c);
    return keep;
}

static dd_visit_t *s_add_visit(dd_world_t *w, const char *id, uint32_t district, int emergency,
                               int64_t ws)
{
    dd_visit_t *v = dd_visit_new();
    assert_non_null(v);
    snprintf(v->id, sizeof v->id, "%s", id);
    snprintf(v->order_id, sizeof v->order_id, "order-%s", id);
    v->service = DD_SVC_VISIT;
    v->district_id = district;
    v->emergency = emergency;
    v->window_start_us = ws;
    v->window_end_us = ws + 120 * MIN_US;
    v->lat = dd_test_lat(0);
    v->lon = DD_TEST_LON;
    v->notes = strdup("notes");
    dd_visit_t *keep = v;
    assert_int_equal(dd_world_add_visit(w, &v), 0);
    assert_null(v);
    return keep;
}

static void test_indexes_and_duplicates(void **state)
{
    (void) state;
    dd_world_t *w = dd_world_new();
    dd_caregiver_t *a = s_add_cg(w, "a", 0);
    assert_ptr_equal(dd_world_caregiver(w, "a"), a);
    assert_null(dd_world_caregiver(w, "b"));
    dd_caregiver_t *dup = dd_caregiver_new();
    strcpy(dup->id, "a");
    assert_int_equal(dd_world_add_caregiver(w, &dup), -1);
    assert_non_null(dup);
    dd_caregiver_free(&dup);
    /* idempotency keys */
    dd_caregiver_t *k = dd_caregiver_new();
    strcpy(k->id, "k");
    strcpy(k->idem_key, "key-1");
    assert_int_equal(dd_world_add_caregiver(w, &k), 0);
    assert_non_null(dd_world_caregiver_by_key(w, "key-1"));
    assert_null(dd_world_caregiver_by_key(w, "key-2"));

    dd_visit_t *v = s_add_visit(w, "v1", 1, 0, s_at(9, 0));
    assert_ptr_equal(dd_world_visit(w, "v1"), v);
    assert_ptr_equal(dd_world_visit_by_order(w, "order-v1"), v);
    dd_visit_t *again = dd_visit_new();
    strcpy(again->id, "v2");
    strcpy(again->order_id, "order-v1");   /* same order: refused */
    assert_int_equal(dd_world_add_visit(w, &again), -1);
    assert_null(dd_world_visit(w, "v2"));
    dd_visit_free(&again);
    size_t n;
    dd_world_caregivers(w, &n);
    assert_int_equal(n, 2);
    dd_world_destroy(&w);
    assert_null(w);
}

static void test_assign_decline_redispatch(void **state)
{
    (void) state;
    dd_world_t *w = dd_world_new();
    dd_caregiver_t *a = s_add_cg(w, "a", 1);
    dd_caregiver_t *b = s_add_cg(w, "b", 5);
    dd_visit_t *v = s_add_visit(w, "v", 1, 0, s_at(9, 0));
    dd_model_params_t p;
    dd_model_params_init(&p, s_at(7, 0));
    p.balance = 0;
    size_t ncg;
    dd_caregiver_t *const *cgs = dd_world_caregivers(w, &ncg);
    dd_match_t m;

    assert_int_equal(dd_model_match(cgs, ncg, v, &p, &m), 0);
    assert_ptr_equal(m.caregiver, a);
    assert_int_equal(dd_world_assign(w, v, &m, p.now_us), 0);
    assert_int_equal(v->state, DD_VISIT_ASSIGNED);
    assert_string_equal(v->caregiver_id, "a");
    assert_int_equal(a->nplan, 1);

    /* a second visit at the same time cannot double-book a */
    dd_visit_t *v2 = s_add_visit(w, "v2", 1, 0, s_at(9, 0));
    v2->window_end_us = s_at(9, 10);
    assert_int_equal(dd_model_match(cgs, ncg, v2, &p, &m), 0);
    assert_ptr_equal(m.caregiver, b);

    /* a declines v: back to waiting, never offered to a again */
    assert_int_equal(dd_world_decline(w, v, p.now_us), 0);
    assert_int_equal(v->state, DD_VISIT_WAITING);
    assert_null(v->caregiver);
    assert_int_equal(a->nplan, 0);
    assert_int_equal(dd_model_match(cgs, ncg, v, &p, &m), 0);
    assert_ptr_equal(m.caregiver, b);
    assert_int_equal(dd_world_assign(w, v, &m, p.now_us), 0);
    /* b times out too: nobody left */
    assert_int_equal(dd_world_decline(w, v, p.now_us), 0);
    assert_int_equal(v->ndeclined, 2);
    assert_int_equal(dd_model_match(cgs, ncg, v, &p, &m), -1);
    /* a new caregiver comes on: the retry finds them */
    s_add_cg(w, "c", 20);
    cgs = dd_world_caregivers(w, &ncg);
    assert_int_equal(dd_model_match(cgs, ncg, v, &p, &m), 0);
    assert_string_equal(m.caregiver->id, "c");
    dd_world_destroy(&w);
}

static void test_queue_order_and_district(void **state)
{
    (void) state;
    dd_world_t *w = dd_world_new();
    dd_caregiver_t *a = s_add_cg(w, "a", 0);
    dd_visit_t *late = s_add_visit(w, "late", 1, 0, s_at(14, 0));
    dd_visit_t *early = s_add_visit(w, "early", 1, 0, s_at(9, 0));
    dd_visit_t *emerg = s_add_visit(w, "emerg", 1, 1, s_at(16, 0));
    dd_visit_t *other = s_add_visit(w, "other", 2, 0, s_at(8, 0));
    dd_visit_t *acc = s_add_visit(w, "acc", 1, 0, s_at(7, 0));
    dd_visit_t *asg = s_add_visit(w, "asg", 1, 0, s_at(12, 0));
    dd_match_t m = {.caregiver = a, .eta_us = s_at(12, 0), .end_us = s_at(12, 45)};
    assert_int_equal(dd_world_assign(w, asg, &m, s_at(7, 0)), 0);
    m.eta_us = s_at(10, 0);
    m.end_us = s_at(10, 45);
    assert_int_equal(dd_world_assign(w, acc, &m, s_at(7, 0)), 0);
    dd_world_set_state(w, acc, DD_VISIT_ACCEPTED, s_at(7, 1));

    dd_visit_t **q = NULL;
    size_t n = dd_world_queue(w, 1, &q);
    assert_int_equal(n, 4);   /* accepted is off the queue; district 2 filtered */
    assert_ptr_equal(q[0], emerg);
    assert_ptr_equal(q[1], early);
    assert_ptr_equal(q[2], asg);
    assert_ptr_equal(q[3], late);
    free(q);
    n = dd_world_queue(w, 0, &q);
    assert_int_equal(n, 5);
    assert_ptr_equal(q[1], other);
    free(q);
    n = dd_world_waiting(w, &q);
    assert_int_equal(n, 4);
    assert_ptr_equal(q[0], emerg);
    free(q);
    assert_int_equal(dd_world_queue_depth(w), 5);
    n = dd_world_queue(w, 9, &q);
    assert_int_equal(n, 0);
    assert_null(q);
    dd_world_destroy(&w);
}

static void test_final_states_and_prune(void **state)
{
    (void) state;
    dd_world_t *w = dd_world_new();
    dd_caregiver_t *a = s_add_cg(w, "a", 0);
    dd_visit_t *v = s_add_visit(w, "v", 1, 0, s_at(9, 0));
    dd_visit_t *x = s_add_visit(w, "x", 1, 0, s_at(11, 0));
    dd_match_t m = {.caregiver = a, .eta_us = s_at(9, 0), .end_us = s_at(9, 45)};
    assert_int_equal(dd_world_assign(w, v, &m, s_at(8, 0)), 0);
    size_t n;
    dd_world_active(w, &n);
    assert_int_equal(n, 2);
    assert_int_equal(a->plan_pt[0].checked_in, 0);
    dd_world_set_state(w, v, DD_VISIT_CHECKED_IN, s_at(9, 0));
    assert_int_equal(a->nplan, 1);
    assert_int_equal(a->plan_pt[0].checked_in, 1);   /* the decision reads this */
    dd_world_set_state(w, v, DD_VISIT_COMPLETED, s_at(10, 0));
    assert_int_equal(a->nplan, 0);
    assert_string_equal(v->caregiver_id, "a");   /* kept for the record */
    dd_world_active(w, &n);
    assert_int_equal(n, 1);
    dd_world_set_state(w, x, DD_VISIT_CANCELLED, s_at(12, 0));
    dd_world_active(w, &n);
    assert_int_equal(n, 0);
    assert_int_equal(dd_world_visit_count(w), 2);
    uint64_t gen = dd_world_generation(w);
    assert_int_equal(dd_world_prune(w, s_at(11, 0)), 1);   /* only v is old enough */
    assert_true(dd_world_generation(w) != gen);             /* pointers to it are stale */
    assert_null(dd_world_visit(w, "v"));
    assert_null(dd_world_visit_by_order(w, "order-v"));
    assert_non_null(dd_world_visit(w, "x"));
    assert_int_equal(dd_world_prune(w, s_at(13, 0)), 1);
    assert_int_equal(dd_world_visit_count(w), 0);
    dd_world_destroy(&w);
}

static void test_load_planned_visit(void **state)
{
    (void) state;
    /* Reloading from the store: a visit arriving already accepted joins
     * its caregiver's plan; a waiting one with a stale pointer does not. */
    dd_world_t *w = dd_world_new();
    dd_caregiver_t *a = s_add_cg(w, "a", 0);
    dd_visit_t *v = dd_visit_new();
    strcpy(v->id, "v");
    strcpy(v->order_id, "o");
    v->state = DD_VISIT_ACCEPTED;
    v->caregiver = a;
    v->eta_us = s_at(9, 0);
    assert_int_equal(dd_world_add_visit(w, &v), 0);
    assert_int_equal(a->nplan, 1);
    dd_visit_t *r = dd_world_visit(w, "v");
    dd_world_remove_visit(w, r);
    assert_int_equal(a->nplan, 0);
    assert_null(dd_world_visit(w, "v"));
    dd_world_destroy(&w);
}

static void s_step(dd_world_t *w, dd_visit_t *v, dd_step_t step, int64_t at)
{
    dd_step_req_t rq = {.caregiver_id = v->caregiver_id, .at_us = at, .lat = v->lat,
                        .lon = v->lon};
    dd_step_result_t r;
    assert_int_equal(dd_visit_step(v, step, &rq, at, &r), DD_STEP_DO);
    dd_visit_apply(w, v, &r, at);
}

/* Where and when a caregiver is free, as the placing model sees it: after
 * a late check-in, the service's minutes from check-in; after a check-out,
 * where that visit was, within the shift (the county day's late starts:
 * ETAs measured from home while the caregiver was 50 min away). */
static void test_free_where_last_visit_ended(void **state)
{
    (void) state;
    dd_world_t *w = dd_world_new();
    dd_caregiver_t *a = s_add_cg(w, "a", 0);
    dd_visit_t *far = s_add_visit(w, "far", 1, 0, s_at(9, 0));
    far->lat = dd_test_lat(30);   /* 30 min from a's home */
    dd_match_t m = {.caregiver = a, .eta_us = s_at(9, 30), .end_us = s_at(10, 15),
                    .travel_s = 1800};
    assert_int_equal(dd_world_assign(w, far, &m, s_at(8, 0)), 0);
    s_step(w, far, DD_STEP_ACCEPT, s_at(8, 1));
    s_step(w, far, DD_STEP_CHECK_IN, s_at(9, 40));   /* 10 min late: ends 10:25 */

    dd_model_params_t p;
    size_t ncg;
    dd_caregiver_t *const *cgs = dd_world_caregivers(w, &ncg);
    dd_visit_t *next = s_add_visit(w, "next", 1, 0, s_at(10, 0));
    next->lat = dd_test_lat(31);  /* a minute from far, 31 from home */
    dd_model_params_init(&p, s_at(10, 0));
    p.balance = 0;
    assert_int_equal(dd_model_match(cgs, ncg, next, &p, &m), 0);
    assert_int_equal(m.travel_s, 60);
    assert_true(m.eta_us == s_at(10, 26));   /* not 10:16: the planned end has passed */

    s_step(w, far, DD_STEP_CHECK_OUT, s_at(10, 25));
    assert_int_equal(a->nplan, 0);
    dd_model_params_init(&p, s_at(10, 30));
    p.balance = 0;
    assert_int_equal(dd_model_match(cgs, ncg, next, &p, &m), 0);
    assert_int_equal(m.travel_s, 60);        /* from far's place, not from home */
    assert_true(m.eta_us == s_at(10, 31));
    double lat, lon;
    assert_int_equal(dd_caregiver_at(a, s_at(8, 0), s_at(10, 30), &lat, &lon), 1);
    assert_true(lat == far->lat && lon == far->lon);

    /* The next day's shift starts at home again. */
    next->window_start_us = s_at(24 + 9, 0);
    next->window_end_us = s_at(24 + 11, 0);
    dd_model_params_init(&p, s_at(10, 30));
    p.balance = 0;
    assert_int_equal(dd_model_match(cgs, ncg, next, &p, &m), 0);
    assert_int_equal(m.travel_s, 31 * 60);
    assert_int_equal(dd_caregiver_at(a, s_at(24 + 8, 0), s_at(24 + 9, 0), &lat, &lon), 0);
    assert_true(lat == a->lat && lon == a->lon);
    dd_world_destroy(&w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_indexes_and_duplicates),
        cmocka_unit_test(test_assign_decline_redispatch),
        cmocka_unit_test(test_queue_order_and_district),
        cmocka_unit_test(test_final_states_and_prune),
        cmocka_unit_test(test_free_where_last_visit_ended),
        cmocka_unit_test(test_load_planned_visit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
