/* cc_clock_test: deadlines resolved only on monotonic evidence, wall-clock
 * steps both ways, and step detection (cc_clock.h). Each case drives a
 * sweep tick by tick with both clocks, as a daemon does. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "cc_clock.h"
#include "cc_time.h"

#define S(x) ((int64_t) (x) * CC_US_PER_S)
#define WALL0 S(1700000000)   /* any epoch time */
#define MONO0 S(5000)         /* any uptime */

/* A sweep: both clocks advance together by tick; the wall clock may be
 * offset (a step). Returns the first tick (seconds of monotonic time since
 * the start) at which the item is ripe, or -1 within max_s. */
typedef struct {
    int64_t mono, offset;
    cc_hold_t h;
} s_sweep_t;

static int s_tick(s_sweep_t *sw, int64_t resolve, int64_t hold)
{
    sw->mono += CC_US_PER_S;
    return cc_hold_ripe(&sw->h, WALL0 + (sw->mono - MONO0) + sw->offset, sw->mono, resolve, hold);
}

static void test_no_step_resolves_at_the_wall_clock_resolution(void **st)
{
    (void) st;
    /* Due at +10 s, resolved 5 s later: exactly then (the stretch began at
     * the due time, seen since). */
    s_sweep_t sw = { MONO0, 0, {0, 0} };
    int64_t resolve = WALL0 + S(15), hold = S(5);
    int at = -1;
    for (int t = 1; t <= 30 && at < 0; t++)
        if (s_tick(&sw, resolve, hold))
            at = t;
    assert_int_equal(at, 15);
}

static void test_forward_step_undone_within_hold_resolves_nothing(void **st)
{
    (void) st;
    /* Due in 30 min, hold 5 s. At t=3 the wall clock jumps +1 h: the wall
     * clock says "resolve" at once, but nothing has been seen for 5 s. */
    s_sweep_t sw = { MONO0, 0, {0, 0} };
    int64_t resolve = WALL0 + S(1800 + 5), hold = S(5);
    for (int t = 1; t <= 2; t++)
        assert_false(s_tick(&sw, resolve, hold));
    sw.offset = S(3600);
    for (int t = 3; t <= 6; t++)
        assert_false(s_tick(&sw, resolve, hold));   /* 4 s under the step */
    sw.offset = 0;                                  /* back */
    for (int t = 7; t <= 60; t++)
        assert_false(s_tick(&sw, resolve, hold));
    assert_int_equal(sw.h.since_mono_us, 0);   /* the sighting is forgotten */
}

static void test_forward_step_kept_resolves_after_hold_of_real_time(void **st)
{
    (void) st;
    /* A step that stays is the new time: the item is shown overdue (in its
     * stretch) for the hold, in real time, then resolved. */
    s_sweep_t sw = { MONO0, 0, {0, 0} };
    int64_t resolve = WALL0 + S(1805), hold = S(5);
    assert_false(s_tick(&sw, resolve, hold));
    sw.offset = S(3600);
    int at = -1;
    for (int t = 2; t <= 30 && at < 0; t++)
        if (s_tick(&sw, resolve, hold))
            at = t;
    assert_int_equal(at, 2 + 5);
}

static void test_forward_step_inside_the_stretch_keeps_the_sighting(void **st)
{
    (void) st;
    /* Seen in its stretch since t=10 (due); a +1 h step at t=12 does not
     * shorten the 5 s it must be seen: resolved at t=15, as without it. */
    s_sweep_t sw = { MONO0, 0, {0, 0} };
    int64_t resolve = WALL0 + S(15), hold = S(5);
    for (int t = 1; t <= 11; t++)
        assert_false(s_tick(&sw, resolve, hold));
    sw.offset = S(3600);
    assert_false(s_tick(&sw, resolve, hold));   /* t=12 */
    assert_false(s_tick(&sw, resolve, hold));
    assert_false(s_tick(&sw, resolve, hold));
    assert_true(s_tick(&sw, resolve, hold));    /* t=15 */
}

static void test_backward_step_delays_never_resolves_early(void **st)
{
    (void) st;
    /* Seen in its stretch; the wall clock goes back 1 h: before the stretch
     * again, the sighting is forgotten; nothing resolves while the wall
     * clock says it is early; back to true, it is seen afresh for 5 s. */
    s_sweep_t sw = { MONO0, 0, {0, 0} };
    int64_t resolve = WALL0 + S(15), hold = S(5);
    for (int t = 1; t <= 12; t++)
        assert_false(s_tick(&sw, resolve, hold));
    sw.offset = -S(3600);
    for (int t = 13; t <= 40; t++)
        assert_false(s_tick(&sw, resolve, hold));
    assert_int_equal(sw.h.since_mono_us, 0);
    sw.offset = 0;   /* t=41: wall 41 s, past the resolution */
    int at = -1;
    for (int t = 41; t <= 80 && at < 0; t++)
        if (s_tick(&sw, resolve, hold))
            at = t;
    assert_int_equal(at, 41 + 5);
}

static void test_restart_sees_an_expired_item_afresh(void **st)
{
    (void) st;
    /* Expired an hour before the daemon started: resolved hold after its
     * first sweep, not at once (the price of ignoring steps). */
    cc_hold_t h = {0, 0};
    int64_t resolve = WALL0 - S(3600), hold = S(5);
    assert_false(cc_hold_ripe(&h, WALL0, MONO0, resolve, hold));
    assert_false(cc_hold_ripe(&h, WALL0 + S(4), MONO0 + S(4), resolve, hold));
    assert_true(cc_hold_ripe(&h, WALL0 + S(5), MONO0 + S(5), resolve, hold));
    /* hold 0: at once */
    cc_hold_t z = {0, 0};
    assert_true(cc_hold_ripe(&z, WALL0, MONO0, resolve, 0));
}

static void test_a_new_resolution_starts_a_new_sighting(void **st)
{
    (void) st;
    /* Seen for stage 1's resolution; the item moves to a stage already in
     * its stretch (e.g. accepted after its window): 5 s more, not at once. */
    cc_hold_t h = {0, 0};
    int64_t hold = S(5);
    assert_false(cc_hold_ripe(&h, WALL0, MONO0, WALL0 + S(3), hold));
    int64_t r2 = WALL0 + S(7);
    assert_false(cc_hold_ripe(&h, WALL0 + S(8), MONO0 + S(8), r2, hold));
    assert_false(cc_hold_ripe(&h, WALL0 + S(12), MONO0 + S(12), r2, hold));
    assert_true(cc_hold_ripe(&h, WALL0 + S(13), MONO0 + S(13), r2, hold));
}

static void test_extremes_do_not_overflow(void **st)
{
    (void) st;
    cc_hold_t h = {0, 0};
    assert_false(cc_hold_ripe(&h, INT64_MIN, MONO0, INT64_MIN, S(86400)));
    assert_true(cc_hold_ripe(&h, INT64_MAX, INT64_MAX, INT64_MIN, 0));
    cc_hold_t g = {0, 0};
    assert_false(cc_hold_ripe(&g, INT64_MAX, MONO0, INT64_MAX, INT64_MAX));
    cc_clock_watch_t w = {0, 0};
    assert_int_equal(cc_clock_step(&w, INT64_MIN, MONO0), 0);
    assert_true(cc_clock_step(&w, INT64_MAX, MONO0) > 0);
    assert_true(cc_clock_step(&w, INT64_MIN, MONO0) < 0);
}

static void test_step_detection(void **st)
{
    (void) st;
    cc_clock_watch_t w = {0, 0};
    assert_int_equal(cc_clock_step(&w, WALL0, MONO0), 0);   /* first call */
    /* A stalled loop (10 s between ticks) is no step: both clocks moved. */
    assert_int_equal(cc_clock_step(&w, WALL0 + S(10), MONO0 + S(10)), 0);
    /* Drift under the threshold is not a step. */
    assert_int_equal(cc_clock_step(&w, WALL0 + S(12) - 1, MONO0 + S(11)), 0);   /* 1 s */
    w = (cc_clock_watch_t) { WALL0, MONO0 };
    /* +1 h between two ticks 250 ms apart, then back. */
    int64_t ms250 = 250 * CC_US_PER_MS;
    assert_int_equal(cc_clock_step(&w, WALL0 + S(3600) + ms250, MONO0 + ms250), S(3600));
    assert_int_equal(cc_clock_step(&w, WALL0 + 2 * ms250, MONO0 + 2 * ms250), -S(3600));
    /* Reported once: the next tick is steady. */
    assert_int_equal(cc_clock_step(&w, WALL0 + 3 * ms250, MONO0 + 3 * ms250), 0);
    /* -1 h, exactly the threshold, and just under it. */
    assert_int_equal(cc_clock_step(&w, WALL0 - S(3600), MONO0 + 3 * ms250), -S(3600) - 3 * ms250);
    w = (cc_clock_watch_t) { WALL0, MONO0 };
    assert_int_equal(cc_clock_step(&w, WALL0 + CC_CLOCK_STEP_MIN_US, MONO0), CC_CLOCK_STEP_MIN_US);
    w = (cc_clock_watch_t) { WALL0, MONO0 };
    assert_int_equal(cc_clock_step(&w, WALL0 + CC_CLOCK_STEP_MIN_US - 1, MONO0), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_no_step_resolves_at_the_wall_clock_resolution),
        cmocka_unit_test(test_forward_step_undone_within_hold_resolves_nothing),
        cmocka_unit_test(test_forward_step_kept_resolves_after_hold_of_real_time),
        cmocka_unit_test(test_forward_step_inside_the_stretch_keeps_the_sighting),
        cmocka_unit_test(test_backward_step_delays_never_resolves_early),
        cmocka_unit_test(test_restart_sees_an_expired_item_afresh),
        cmocka_unit_test(test_a_new_resolution_starts_a_new_sighting),
        cmocka_unit_test(test_extremes_do_not_overflow),
        cmocka_unit_test(test_step_detection),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
