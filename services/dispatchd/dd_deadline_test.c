/* Unit tests for dd_deadline: every (state, time) cell of the deadline
 * sweep, every (state, decision) cell of a dispatcher's decision, the due
 * times, the rule ranges, overflow, the board's order, and the bound no
 * open visit (so no hold) outlives. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dd_deadline.h"

#define NOW_US (1795622400LL * 1000000)
#define S_US 1000000LL
#define MIN_US (60 * S_US)

/* A rule with different numbers everywhere, so a mixed-up field shows. */
static const dd_deadline_rule_t RULE = {
    .offer_s = 300, .assign_s = 1800, .checkin_s = 1200, .checkout_s = 3600,
    .confirm_s = 86400, .overdue_s = 900,
};

/* A bath (60 minutes) released 10 minutes before NOW, window NOW..NOW+2h. */
static void s_visit(dd_visit_t *v, dd_visit_state_t s)
{
    memset(v, 0, sizeof *v);
    strcpy(v->id, "visit-1");
    strcpy(v->order_id, "order-1");
    v->service = DD_SVC_BATH;
    v->state = s;
    v->created_us = NOW_US - 10 * MIN_US;
    v->window_start_us = NOW_US;
    v->window_end_us = NOW_US + 120 * MIN_US;
    if (s == DD_VISIT_PLANNED)
        return;   /* a plan, not offered: no step taken yet */
    if (s >= DD_VISIT_ASSIGNED)
        v->assigned_us = NOW_US - 5 * MIN_US;
    if (s >= DD_VISIT_ACCEPTED)
        v->accepted_us = NOW_US - 4 * MIN_US;
    if (s >= DD_VISIT_CHECKED_IN)
        v->checked_in_us = NOW_US + 30 * MIN_US;
    if (s == DD_VISIT_UNCONFIRMED)
        v->unconfirmed_us = NOW_US + 200 * MIN_US;
}

/* Expected deadline of each open state of s_visit under RULE. */
static const struct {
    dd_stage_t stage;
    int64_t due_us, resolve_us;
    dd_visit_state_t to;
    const char *reason;
} s_want[DD_VISIT_NSTATES] = {
    /* min(created + 30 min, window end) = NOW + 20 min; + 15 min overdue */
    [DD_VISIT_WAITING] = { DD_STAGE_UNACCEPTED, NOW_US + 20 * MIN_US, NOW_US + 35 * MIN_US,
                           DD_VISIT_FAILED, "no_caregiver" },
    [DD_VISIT_ASSIGNED] = { DD_STAGE_UNACCEPTED, NOW_US + 20 * MIN_US, NOW_US + 35 * MIN_US,
                            DD_VISIT_FAILED, "no_caregiver" },
    [DD_VISIT_PLANNED] = { DD_STAGE_UNACCEPTED, NOW_US + 20 * MIN_US, NOW_US + 35 * MIN_US,
                           DD_VISIT_FAILED, "no_caregiver" },
    /* window end + 20 min; + 15 min */
    [DD_VISIT_ACCEPTED] = { DD_STAGE_NOT_CHECKED_IN, NOW_US + 140 * MIN_US,
                            NOW_US + 155 * MIN_US, DD_VISIT_FAILED, "no_check_in" },
    /* check-in + 60 min bath + 60 min; + 15 min */
    [DD_VISIT_CHECKED_IN] = { DD_STAGE_NOT_CHECKED_OUT, NOW_US + 150 * MIN_US,
                              NOW_US + 165 * MIN_US, DD_VISIT_UNCONFIRMED, "" },
    /* unconfirmed at once; the dispatcher has a day */
    [DD_VISIT_UNCONFIRMED] = { DD_STAGE_UNCONFIRMED, NOW_US + 200 * MIN_US,
                               NOW_US + 200 * MIN_US + 86400 * S_US, DD_VISIT_FAILED,
                               "unconfirmed" },
};

/* Every state at every moment that matters: before due, at due, just
 * before resolution, at resolution. Final states have no deadline. */
static void test_every_sweep_cell(void **state)
{
    (void) state;
    for (int s = 0; s < DD_VISIT_NSTATES; s++) {
        dd_visit_t v;
        s_visit(&v, s);
        dd_deadline_t d;
        if (dd_visit_state_final(s)) {
            assert_int_equal(dd_deadline_of(&v, &RULE, &d), DD_STAGE_NONE);
            assert_int_equal(dd_deadline_due(&v, &RULE, NOW_US + 1000LL * 86400 * S_US, &d),
                             DD_DUE_NONE);
            continue;
        }
        char name[64];
        snprintf(name, sizeof name, "%s", dd_visit_state_name(s));
        assert_int_equal(dd_deadline_of(&v, &RULE, &d), s_want[s].stage);
        assert_string_equal(dd_stage_name(d.stage), dd_stage_name(s_want[s].stage));
        if (d.due_us != s_want[s].due_us || d.resolve_us != s_want[s].resolve_us)
            print_error("state %s: due %lld resolve %lld\n", name,
                        (long long) (d.due_us - NOW_US), (long long) (d.resolve_us - NOW_US));
        assert_true(d.due_us == s_want[s].due_us);
        assert_true(d.resolve_us == s_want[s].resolve_us);
        assert_int_equal(d.to, s_want[s].to);
        assert_string_equal(d.reason, s_want[s].reason);
        assert_int_equal(dd_deadline_due(&v, &RULE, d.due_us - 1, NULL), DD_DUE_ON_TIME);
        /* unconfirmed is overdue from its start: due is when it began */
        assert_int_equal(dd_deadline_due(&v, &RULE, d.due_us, NULL), DD_DUE_OVERDUE);
        assert_int_equal(dd_deadline_due(&v, &RULE, d.resolve_us - 1, NULL), DD_DUE_OVERDUE);
        assert_int_equal(dd_deadline_due(&v, &RULE, d.resolve_us, NULL), DD_DUE_RESOLVE);
        /* Pure: the visit is untouched. */
        dd_visit_t again;
        s_visit(&again, s);
        assert_memory_equal(&v, &again, sizeof v);
    }
}

/* The unaccepted deadline is the earlier of assign_s and the window's end;
 * no overdue stage (overdue_s 0) resolves at due. */
static void test_due_times(void **state)
{
    (void) state;
    dd_visit_t v;
    dd_deadline_t d;
    s_visit(&v, DD_VISIT_WAITING);
    v.window_end_us = NOW_US + 5 * MIN_US;   /* ends before created + assign_s */
    dd_deadline_of(&v, &RULE, &d);
    assert_true(d.due_us == NOW_US + 5 * MIN_US);
    dd_deadline_rule_t r = RULE;
    r.overdue_s = 0;
    dd_deadline_of(&v, &r, &d);
    assert_true(d.resolve_us == d.due_us);
    assert_int_equal(dd_deadline_due(&v, &r, d.due_us, NULL), DD_DUE_RESOLVE);
    /* Service time counts: a medical escort (180 min) checked in now. */
    s_visit(&v, DD_VISIT_CHECKED_IN);
    v.service = DD_SVC_MEDICAL_ESCORT;
    v.checked_in_us = NOW_US;
    dd_deadline_of(&v, &RULE, &d);
    assert_true(d.due_us == NOW_US + 180 * MIN_US + 3600 * S_US);
}

/* A visit planned for later is due to be accepted assign_s after its
 * release (the offer), not after its booking; planned like waiting. */
static void test_due_from_release(void **state)
{
    (void) state;
    dd_visit_t v;
    dd_deadline_t d, w;
    s_visit(&v, DD_VISIT_WAITING);
    v.window_end_us = NOW_US + 600 * MIN_US;
    dd_deadline_of(&v, &RULE, &w);
    assert_true(w.due_us == v.created_us + RULE.assign_s * S_US);
    v.release_us = NOW_US + 120 * MIN_US;
    for (int st = 0; st < 2; st++) {
        v.state = st ? DD_VISIT_PLANNED : DD_VISIT_WAITING;
        assert_int_equal(dd_deadline_of(&v, &RULE, &d), DD_STAGE_UNACCEPTED);
        assert_true(d.due_us == v.release_us + RULE.assign_s * S_US);
        assert_int_equal(dd_deadline_due(&v, &RULE, w.resolve_us, NULL), DD_DUE_ON_TIME);
    }
    v.release_us = v.created_us - MIN_US;   /* never before its booking */
    dd_deadline_of(&v, &RULE, &d);
    assert_true(d.due_us == w.due_us);
}

/* Stored times come from other daemons and people: no overflow, ever. */
static void test_saturates(void **state)
{
    (void) state;
    dd_deadline_rule_t r = RULE;
    r.assign_s = r.confirm_s = 7 * 86400;
    r.checkin_s = r.checkout_s = r.overdue_s = 86400;
    for (int s = 0; s < DD_VISIT_NSTATES; s++) {
        dd_visit_t v;
        s_visit(&v, s);
        v.created_us = v.window_end_us = v.checked_in_us = v.unconfirmed_us = INT64_MAX - 1;
        dd_deadline_t d;
        dd_deadline_of(&v, &r, &d);
        if (!dd_visit_state_final(s)) {
            assert_true(d.resolve_us >= d.due_us);
            assert_int_equal(dd_deadline_due(&v, &r, NOW_US, NULL), DD_DUE_ON_TIME);
        }
        v.created_us = v.window_end_us = v.checked_in_us = v.unconfirmed_us = INT64_MIN + 1;
        dd_deadline_of(&v, &r, &d);
        if (!dd_visit_state_final(s))
            assert_int_equal(dd_deadline_due(&v, &r, NOW_US, NULL), DD_DUE_RESOLVE);
    }
}

/* Each field out of its range is named; the edges pass. */
static void test_rule_check(void **state)
{
    (void) state;
    static const struct {
        const char *field;
        size_t at;
        int64_t min, max;
    } f[] = {
        { "offer_s", offsetof(dd_deadline_rule_t, offer_s), 1, 86400 },
        { "assign_s", offsetof(dd_deadline_rule_t, assign_s), 1, 604800 },
        { "checkin_s", offsetof(dd_deadline_rule_t, checkin_s), 0, 86400 },
        { "checkout_s", offsetof(dd_deadline_rule_t, checkout_s), 0, 86400 },
        { "confirm_s", offsetof(dd_deadline_rule_t, confirm_s), 1, 604800 },
        { "overdue_s", offsetof(dd_deadline_rule_t, overdue_s), 0, 86400 },
    };
    const char *field = NULL;
    assert_int_equal(dd_deadline_rule_check(&RULE, &field), 0);
    for (size_t i = 0; i < sizeof f / sizeof *f; i++) {
        dd_deadline_rule_t r = RULE;
        int64_t *x = (int64_t *) ((char *) &r + f[i].at);
        *x = f[i].min;
        assert_int_equal(dd_deadline_rule_check(&r, NULL), 0);
        *x = f[i].max;
        assert_int_equal(dd_deadline_rule_check(&r, NULL), 0);
        *x = f[i].min - 1;
        assert_int_equal(dd_deadline_rule_check(&r, &field), -1);
        assert_string_equal(field, f[i].field);
        *x = f[i].max + 1;
        field = NULL;
        assert_int_equal(dd_deadline_rule_check(&r, &field), -1);
        assert_string_equal(field, f[i].field);
    }
}

/* A dispatcher's decision, every state: 'C' -> completed, 'F' -> failed,
 * 'R' repeat, '9' 409. Repeats need the mark of the decision: a confirmed
 * visit has no check-out time, a rejected one the reason. */
static void test_every_decide_cell(void **state)
{
    (void) state;
    static const char *const want[DD_VISIT_NSTATES] = {
        /*                      confirm reject */
        [DD_VISIT_WAITING] = "99",     [DD_VISIT_ASSIGNED] = "99",
        [DD_VISIT_ACCEPTED] = "99",    [DD_VISIT_CHECKED_IN] = "99",
        [DD_VISIT_UNCONFIRMED] = "CF", [DD_VISIT_COMPLETED] = "R9",
        [DD_VISIT_FAILED] = "9R",      [DD_VISIT_CANCELLED] = "99",
        [DD_VISIT_PLANNED] = "99",
    };
    for (int s = 0; s < DD_VISIT_NSTATES; s++)
        for (int dec = 0; dec < DD_DECIDE_N; dec++) {
            dd_visit_t v;
            s_visit(&v, s);
            if (s == DD_VISIT_COMPLETED)
                v.unconfirmed_us = NOW_US;   /* completed by a confirmation */
            if (s == DD_VISIT_FAILED)
                strcpy(v.fail_reason, "rejected");
            dd_visit_state_t to;
            cc_err_t err = {0};
            dd_decide_verdict_t got = dd_deadline_decide(&v, dec, &to, &err);
            char code = got == DD_DECIDE_REPEAT ? 'R'
                        : got == DD_DECIDE_REFUSED ? (err.status == 409 ? '9' : '?')
                        : to == DD_VISIT_COMPLETED ? 'C' : to == DD_VISIT_FAILED ? 'F' : '?';
            char w[64], g[64];
            snprintf(w, sizeof w, "%s on %s: %c", dd_decide_name(dec), dd_visit_state_name(s),
                     want[s][dec]);
            snprintf(g, sizeof g, "%s on %s: %c", dd_decide_name(dec), dd_visit_state_name(s),
                     code);
            assert_string_equal(g, w);
            if (code == '9') {
                assert_string_equal(err.error, "illegal_transition");
                assert_string_equal(err.field, "state");
            }
        }
    /* A completed visit checked out by its caregiver was never confirmed:
     * confirm is illegal, not a repeat. A visit failed for another reason
     * is not a rejection to repeat. */
    dd_visit_t v;
    dd_visit_state_t to;
    s_visit(&v, DD_VISIT_COMPLETED);
    v.checked_out_us = NOW_US;
    assert_int_equal(dd_deadline_decide(&v, DD_DECIDE_CONFIRM, &to, NULL), DD_DECIDE_REFUSED);
    s_visit(&v, DD_VISIT_FAILED);
    strcpy(v.fail_reason, "no_caregiver");
    assert_int_equal(dd_deadline_decide(&v, DD_DECIDE_REJECT, &to, NULL), DD_DECIDE_REFUSED);
}

/* The board: overdue visits (any open state) first by resolution time,
 * then waiting and unaccepted ones by urgency; accepted and checked-in
 * visits on time are not on it, nor other districts. */
static void test_board(void **state)
{
    (void) state;
    dd_deadlines_t rules;
    memset(&rules, 0, sizeof rules);
    for (int s = 0; s <= DD_SVC_MAX; s++)
        rules.svc[s] = RULE;
    enum { N = 8 };
    dd_visit_t v[N];
    dd_visit_t *active[N];
    for (int i = 0; i < N; i++) {
        active[i] = &v[i];
    }
    int64_t now = NOW_US + 150 * MIN_US;   /* past s_want's ACCEPTED and CHECKED_IN due */
    s_visit(&v[0], DD_VISIT_WAITING);      /* window ended at +120: overdue, resolve +35 */
    s_visit(&v[1], DD_VISIT_ACCEPTED);     /* overdue, resolve +155 */
    s_visit(&v[2], DD_VISIT_CHECKED_IN);   /* overdue from +150, resolve +165 */
    s_visit(&v[3], DD_VISIT_UNCONFIRMED);  /* an exception, resolve +200 min + 1 day */
    s_visit(&v[4], DD_VISIT_ASSIGNED);     /* on time: released just now, long window */
    v[4].created_us = now - MIN_US;
    v[4].window_end_us = now + 600 * MIN_US;
    s_visit(&v[5], DD_VISIT_WAITING);      /* on time, an emergency: first of the rest */
    v[5].created_us = now - MIN_US;
    v[5].window_end_us = now + 600 * MIN_US;
    v[5].emergency = 1;
    s_visit(&v[6], DD_VISIT_ACCEPTED);     /* on time: not on the board */
    v[6].window_end_us = now + 600 * MIN_US;
    s_visit(&v[7], DD_VISIT_WAITING);      /* overdue, but district 2 */
    v[7].district_id = 2;
    for (int i = 0; i < N; i++)
        if (i != 7)
            v[i].district_id = 1;
    dd_visit_t **out = NULL;
    size_t nover = 0;
    size_t n = dd_deadline_board(active, N, &rules, 1, now, &out, &nover);
    assert_int_equal(n, 6);
    assert_int_equal(nover, 4);
    dd_visit_t *want[] = { &v[0], &v[1], &v[2], &v[3], &v[5], &v[4] };
    for (size_t i = 0; i < n; i++)
        assert_ptr_equal(out[i], want[i]);
    free(out);
    /* All districts: district 2's overdue visit resolves with v[0]'s time,
     * after it by urgency (same everything: first come), so in the head. */
    n = dd_deadline_board(active, N, &rules, 0, now, &out, &nover);
    assert_int_equal(n, 7);
    assert_int_equal(nover, 5);
    free(out);
    n = dd_deadline_board(active, 0, &rules, 0, now, &out, &nover);
    assert_int_equal(n, 0);
    assert_null(out);
}

/* The invariant behind "no hold outlives its order's deadline": walk the
 * slowest path (each step taken just before its stage resolves) and check
 * the visit is final by the bound in dd_deadline.h. */
static void test_bound(void **state)
{
    (void) state;
    dd_visit_t v;
    s_visit(&v, DD_VISIT_WAITING);
    dd_deadline_t d;
    int64_t bound = v.window_end_us + (RULE.checkin_s + RULE.overdue_s) * S_US
                    + dd_service_minutes(v.service) * MIN_US
                    + (RULE.checkout_s + RULE.overdue_s + RULE.confirm_s) * S_US;
    /* accepted just before the unaccepted stage resolves */
    dd_deadline_of(&v, &RULE, &d);
    v.state = DD_VISIT_ACCEPTED;
    /* checked in just before the not-checked-in stage resolves */
    dd_deadline_of(&v, &RULE, &d);
    int64_t t = d.resolve_us - 1;
    v.state = DD_VISIT_CHECKED_IN;
    v.checked_in_us = t;
    /* nobody checks out: unconfirmed at resolution */
    dd_deadline_of(&v, &RULE, &d);
    assert_int_equal(d.to, DD_VISIT_UNCONFIRMED);
    v.state = DD_VISIT_UNCONFIRMED;
    v.unconfirmed_us = d.resolve_us;
    /* no dispatcher: failed */
    dd_deadline_of(&v, &RULE, &d);
    assert_int_equal(d.to, DD_VISIT_FAILED);
    assert_true(d.resolve_us <= bound);
    assert_true(d.resolve_us >= bound - 1);   /* the bound is tight: it can fail */
}

/* The sweep's rule (dd_deadline_ripe): every open state is held overdue_s
 * of monotonic time (unconfirmed: its last overdue_s of confirm_s), so a
 * +1 h step resolves nothing at once; seen that long, it resolves. */
static void test_ripe_holds_against_a_step(void **state)
{
    (void) state;
    const int64_t mono0 = 7000 * S_US, step = 3600 * S_US + 200 * MIN_US + 86400 * S_US;
    for (int s = 0; s < DD_VISIT_NSTATES; s++) {
        dd_visit_t v;
        s_visit(&v, (dd_visit_state_t) s);
        dd_deadline_t d;
        int open = dd_deadline_of(&v, &RULE, &d) != DD_STAGE_NONE;
        assert_false(dd_deadline_ripe(&v, &RULE, NOW_US, mono0, NULL));
        if (!open)
            continue;
        assert_int_equal(d.hold_us, 900 * S_US);   /* overdue_s, also for unconfirmed */
        /* The wall clock jumps past every resolution; monotonic time does not. */
        assert_true(dd_deadline_due(&v, &RULE, NOW_US + step, NULL) == DD_DUE_RESOLVE);
        assert_false(dd_deadline_ripe(&v, &RULE, NOW_US + step, mono0 + S_US, NULL));
        assert_false(dd_deadline_ripe(&v, &RULE, NOW_US + step + 899 * S_US,
                                      mono0 + 900 * S_US, NULL));
        assert_true(dd_deadline_ripe(&v, &RULE, NOW_US + step + 900 * S_US,
                                     mono0 + S_US + 900 * S_US, NULL));
        /* Back before the stretch: forgotten. */
        assert_false(dd_deadline_ripe(&v, &RULE, NOW_US, mono0 + 1000 * S_US, NULL));
        assert_false(dd_deadline_ripe(&v, &RULE, NOW_US + step, mono0 + 1001 * S_US, NULL));
    }
}

static void test_names(void **state)
{
    (void) state;
    assert_string_equal(dd_stage_name(DD_STAGE_NONE), "");
    assert_string_equal(dd_stage_name(DD_STAGE_NOT_CHECKED_OUT), "not_checked_out");
    assert_string_equal(dd_stage_name(DD_STAGE_N), "");
    assert_string_equal(dd_decide_name(DD_DECIDE_CONFIRM), "confirm");
    assert_string_equal(dd_decide_name(DD_DECIDE_REJECT), "reject");
    assert_string_equal(dd_visit_state_name(DD_VISIT_UNCONFIRMED), "unconfirmed");
    assert_int_equal(dd_visit_state_parse("unconfirmed"), DD_VISIT_UNCONFIRMED);
    assert_false(dd_visit_state_planned(DD_VISIT_UNCONFIRMED));   /* frees the slot */
    assert_false(dd_visit_state_final(DD_VISIT_UNCONFIRMED));     /* still open */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_sweep_cell),
        cmocka_unit_test(test_due_times),
        cmocka_unit_test(test_due_from_release),
        cmocka_unit_test(test_saturates),
        cmocka_unit_test(test_rule_check),
        cmocka_unit_test(test_every_decide_cell),
        cmocka_unit_test(test_board),
        cmocka_unit_test(test_bound),
        cmocka_unit_test(test_ripe_holds_against_a_step),
        cmocka_unit_test(test_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
