/* od_alarm unit tests: the alarm request rules (both doors end in
 * od_alarm_req_check) and the notification backoff. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>
#include <stdio.h>
#include "od_alarm.h"
#include "od_notify.h"

#define NOW (1795680000LL * 1000000)
#define ELDER "E0000000-0000-4000-8000-000000000001"

static od_alarm_req_t s_good(void)
{
    od_alarm_req_t r;
    memset(&r, 0, sizeof r);
    snprintf(r.device_id, sizeof r.device_id, "fall-7");
    snprintf(r.elder_id, sizeof r.elder_id, "%s", ELDER);
    r.kind = 0;
    r.at_us = NOW - 1000;
    return r;
}

static void s_refused(od_alarm_req_t r, int status, const char *field)
{
    cc_err_t err;
    assert_int_equal(od_alarm_req_check(&r, NOW, &err), -1);
    assert_int_equal(err.status, status);
    assert_string_equal(err.field, field);
}

static void test_req_rules(void **state)
{
    (void)state;
    od_alarm_req_t r = s_good();
    cc_err_t err;
    assert_int_equal(od_alarm_req_check(&r, NOW, &err), 0);
    assert_string_equal(r.elder_id, "e0000000-0000-4000-8000-000000000001");   /* lowered */
    r = s_good();
    r.device_id[0] = '\0';
    s_refused(r, 400, "device_id");
    r = s_good();
    snprintf(r.device_id, sizeof r.device_id, "a b");
    s_refused(r, 400, "device_id");
    r = s_good();
    snprintf(r.elder_id, sizeof r.elder_id, "not-a-uuid");
    s_refused(r, 400, "elder_id");
    r = s_good();
    r.kind = 5;
    s_refused(r, 400, "kind");
    r.kind = -1;
    s_refused(r, 400, "kind");
    r = s_good();
    r.at_us = NOW - OD_ALARM_PAST_US - 1;
    s_refused(r, 422, "at");
    r.at_us = NOW + OD_ALARM_FUTURE_US + 1;
    s_refused(r, 422, "at");
    r.at_us = INT64_MIN;   /* any int64 is safe */
    s_refused(r, 422, "at");
    r.at_us = INT64_MAX;
    s_refused(r, 422, "at");
    r.at_us = NOW - OD_ALARM_PAST_US;   /* the edges are in */
    assert_int_equal(od_alarm_req_check(&r, NOW, &err), 0);
}

static void test_req_from_json(void **state)
{
    (void)state;
    od_alarm_req_t r;
    cc_err_t err;
    json_t *b = json_pack("{s:s, s:s, s:s, s:s}", "device_id", "d1", "elder_id", ELDER,
                          "kind", "smoke", "at", "2026-11-25T08:00:00+08:00");
    int64_t at = 0;
    assert_int_equal(cc_json_time(b, "at", 1, &at, &err), 0);
    assert_int_equal(od_alarm_req_from_json(b, at, &r, &err), 0);
    assert_int_equal(r.kind, 1);
    assert_int_equal(r.at_us, at);
    json_object_set_new(b, "extra", json_true());
    assert_int_equal(od_alarm_req_from_json(b, at, &r, &err), -1);
    assert_string_equal(err.field, "extra");
    json_object_del(b, "extra");
    json_object_set_new(b, "kind", json_integer(3));
    assert_int_equal(od_alarm_req_from_json(b, at, &r, &err), -1);
    assert_string_equal(err.field, "kind");
    json_decref(b);
}

static void test_backoff(void **state)
{
    (void)state;
    assert_int_equal(od_notify_backoff_ms(1, 200), 200);
    assert_int_equal(od_notify_backoff_ms(2, 200), 400);
    assert_int_equal(od_notify_backoff_ms(3, 200), 800);
    assert_int_equal(od_notify_backoff_ms(0, 200), 200);
    assert_int_equal(od_notify_backoff_ms(40, 2000), 60000);       /* capped */
    assert_int_equal(od_notify_backoff_ms(INT64_MAX, 60000), 60000);
    assert_int_equal(od_notify_backoff_ms(2, 0), 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_req_rules),
        cmocka_unit_test(test_req_from_json),
        cmocka_unit_test(test_backoff),
    };
    return cmocka_run_group_tests_name("od_alarm", tests, NULL, NULL);
}
