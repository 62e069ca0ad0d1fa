/* Unit tests for dd_http's pure parts: the visit object's shape by state and
 * the caregiver skills field. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "dd_http.h"

#define NOW_US (1795622400LL * 1000000)
#define MIN_US (60LL * 1000000)

static void s_visit(dd_visit_t *v, dd_visit_state_t s)
{
    memset(v, 0, sizeof *v);
    strcpy(v->id, "visit-1");
    strcpy(v->order_id, "order-1");
    strcpy(v->caregiver_id, "cg-1");
    strcpy(v->provider_id, "prov-1");
    v->service = DD_SVC_BATH;
    v->state = s;
    v->created_us = NOW_US - 10 * MIN_US;
    v->release_us = NOW_US + 60 * MIN_US;   /* planned: offered then */
    v->assigned_us = NOW_US - 5 * MIN_US;
    v->eta_us = NOW_US + 30 * MIN_US;
    v->planned_end_us = NOW_US + 90 * MIN_US;
    v->window_start_us = NOW_US;
    v->window_end_us = NOW_US + 120 * MIN_US;
}

static int s_is_null(json_t *o, const char *key)
{
    json_t *x = json_object_get(o, key);
    assert_non_null(x);   /* every key is always present */
    return json_is_null(x);
}

static void test_visit_json_by_state(void **state)
{
    (void) state;
    for (int s = 0; s < DD_VISIT_NSTATES; s++) {
        dd_visit_t v;
        s_visit(&v, s);
        json_t *o = dd_http_visit_json(&v, NOW_US);
        assert_non_null(o);
        assert_string_equal(json_string_value(json_object_get(o, "state")),
                            dd_visit_state_name(s));
        assert_string_equal(json_string_value(json_object_get(o, "service")), "bath");
        assert_int_equal(json_integer_value(json_object_get(o, "duration_min")),
                         dd_service_minutes(DD_SVC_BATH));
        /* The caregiver shows once offered (a waiting visit may keep its
         * last decliner's id internally). */
        int offered = s != DD_VISIT_WAITING;
        assert_int_equal(!s_is_null(o, "caregiver_id"), offered);
        assert_int_equal(!s_is_null(o, "provider_id"), offered);
        /* Planned: a caregiver and time, no offer yet, offer_at instead. */
        assert_int_equal(!s_is_null(o, "assigned_at"), offered && s != DD_VISIT_PLANNED);
        assert_int_equal(!s_is_null(o, "offer_at"), s == DD_VISIT_PLANNED);
        /* Plan times while the visit holds a slot, and once completed. */
        int planned = dd_visit_state_planned(s) || s == DD_VISIT_COMPLETED;
        assert_int_equal(!s_is_null(o, "eta"), planned);
        assert_int_equal(!s_is_null(o, "planned_end"), planned);
        assert_int_equal(!s_is_null(o, "travel_s"), planned);
        /* waiting_s only while the dispatcher's board shows it. */
        json_t *w = json_object_get(o, "waiting_s");
        if (s == DD_VISIT_WAITING || s == DD_VISIT_ASSIGNED)
            assert_int_equal(json_integer_value(w), 600);
        else
            assert_null(w);
        assert_true(s_is_null(o, "check_in") && s_is_null(o, "check_out"));
        assert_true(s_is_null(o, "notes") && s_is_null(o, "fail_reason"));
        json_decref(o);
    }
}

static void test_visit_json_check_in_out(void **state)
{
    (void) state;
    dd_visit_t v;
    s_visit(&v, DD_VISIT_COMPLETED);
    v.checked_in_us = NOW_US - 60 * MIN_US;
    v.in_lat = 31.5;
    v.in_lon = 121.5;
    v.in_distance_m = 12;
    v.checked_out_us = NOW_US;
    v.out_distance_m = 34;
    json_t *o = dd_http_visit_json(&v, NOW_US);
    json_t *in = json_object_get(o, "check_in"), *out = json_object_get(o, "check_out");
    assert_true(json_is_object(in) && json_is_object(out));
    assert_true(json_is_string(json_object_get(in, "at")));
    assert_true(json_real_value(json_object_get(in, "lat")) == 31.5);
    assert_int_equal(json_integer_value(json_object_get(in, "distance_m")), 12);
    assert_int_equal(json_integer_value(json_object_get(out, "distance_m")), 34);
    json_decref(o);
}

static int s_skills(const char *body_text, uint32_t *out, cc_err_t *err)
{
    json_t *body = json_loads(body_text, 0, NULL);
    assert_non_null(body);
    memset(err, 0, sizeof *err);
    int rc = dd_http_parse_skills(body, out, err);
    json_decref(body);
    return rc;
}

static void test_parse_skills(void **state)
{
    (void) state;
    uint32_t sk = 0;
    cc_err_t err;
    assert_int_equal(s_skills("{\"skills\": [\"bath\", \"visit\"]}", &sk, &err), 0);
    assert_int_equal(sk, (1u << DD_SVC_BATH) | (1u << DD_SVC_VISIT));

    static const struct {
        const char *body, *error;
    } bad[] = {
        {"{}", "missing_field"},
        {"{\"skills\": null}", "missing_field"},
        {"{\"skills\": \"bath\"}", "wrong_type"},
        {"{\"skills\": []}", "invalid_value"},
        {"{\"skills\": [1]}", "wrong_type"},
        {"{\"skills\": [\"meal\"]}", "invalid_value"},   /* meals are meald's */
        {"{\"skills\": [\"bath\", \"juggling\"]}", "invalid_value"},
        {"{\"skills\": [\"bath\",\"bath\",\"bath\",\"bath\",\"bath\",\"bath\",\"bath\",\"bath\","
         "\"bath\",\"bath\",\"bath\",\"bath\",\"bath\",\"bath\",\"bath\",\"bath\",\"bath\"]}",
         "invalid_value"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        sk = 12345;
        assert_int_equal(s_skills(bad[i].body, &sk, &err), -1);
        assert_int_equal(err.status, 400);
        assert_string_equal(err.error, bad[i].error);
        assert_string_equal(err.field, "skills");
        assert_int_equal(sk, 12345);   /* untouched on error */
    }
}

/* check-out's assessment body: each bad shape is a 422 naming its field. */
static void test_read_assessment(void **state)
{
    (void) state;
    static const struct {
        const char *assessment;     /* JSON, NULL: absent */
        const char *field;          /* NULL: accepted */
    } cases[] = {
        { NULL, NULL },
        { "null", NULL },
        { "{\"level\":\"severe\",\"score\":40}", NULL },
        { "{\"level\":\"intact\",\"score\":0}", NULL },
        { "{\"level\":\"total\",\"score\":100}", NULL },
        { "\"severe\"", "assessment" },
        { "{\"level\":\"severe\",\"score\":40,\"x\":1}", "assessment" },
        { "{\"score\":40}", "assessment.level" },
        { "{\"level\":\"bad\",\"score\":40}", "assessment.level" },
        { "{\"level\":3,\"score\":40}", "assessment.level" },
        { "{\"level\":\"Severe\",\"score\":40}", "assessment.level" },
        { "{\"level\":\"mild\"}", "assessment.score" },
        { "{\"level\":\"mild\",\"score\":101}", "assessment.score" },
        { "{\"level\":\"mild\",\"score\":-1}", "assessment.score" },
        { "{\"level\":\"mild\",\"score\":4.5}", "assessment.score" },
        { "{\"level\":\"mild\",\"score\":\"40\"}", "assessment.score" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        json_t *body = json_pack("{s:f, s:f}", "lat", 30.27, "lon", 120.15);
        if (cases[i].assessment)
            json_object_set_new(body, "assessment", json_loads(cases[i].assessment,
                                                               JSON_DECODE_ANY, NULL));
        char cg[DD_ID_LEN];
        dd_step_req_t req = {0};
        cc_err_t err = {0};
        int rc = dd_http_read_step(body, DD_STEP_CHECK_OUT,
                                   "00000000-0000-4000-8000-00000000c001", cg, &req, &err);
        if (!cases[i].field) {
            assert_int_equal(rc, 0);
            assert_int_equal(req.assessed, cases[i].assessment
                                               && strcmp(cases[i].assessment, "null") != 0);
        } else {
            assert_int_equal(rc, -1);
            assert_int_equal(err.status, 422);
            assert_string_equal(err.field, cases[i].field);
        }
        json_decref(body);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_visit_json_by_state),
        cmocka_unit_test(test_visit_json_check_in_out),
        cmocka_unit_test(test_parse_skills),
        cmocka_unit_test(test_read_assessment),
    };
    return cmocka_run_group_tests_name("dd_http", tests, NULL, NULL);
}
