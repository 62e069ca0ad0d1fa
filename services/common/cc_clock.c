/* cc_clock: see cc_clock.h. */
#include "cc_clock.h"

#include <assert.h>
#include <inttypes.h>
#include <stdio.h>

#include "cc_log.h"
#include "cc_metrics.h"
#include "cc_time.h"
#include "cc_util.h"

static int64_t s_sub(int64_t a, int64_t b)
{
    int64_t r;
    if (__builtin_sub_overflow(a, b, &r))
        return b > 0 ? INT64_MIN : INT64_MAX;
    return r;
}

int cc_hold_ripe(cc_hold_t *h, int64_t wall_now_us, int64_t mono_now_us, int64_t resolve_us,
                 int64_t hold_us)
{
    assert(h && hold_us >= 0);
    if (h->resolve_us != resolve_us) {
        h->resolve_us = resolve_us;
        h->since_mono_us = 0;
    }
    if (wall_now_us < s_sub(resolve_us, hold_us)) {
        h->since_mono_us = 0;   /* before the stretch (again, after a step back) */
        return 0;
    }
    if (h->since_mono_us == 0)
        h->since_mono_us = mono_now_us != 0 ? mono_now_us : 1;   /* 0 means unseen */
    return wall_now_us >= resolve_us && s_sub(mono_now_us, h->since_mono_us) >= hold_us;
}

int64_t cc_clock_step(cc_clock_watch_t *w, int64_t wall_now_us, int64_t mono_now_us)
{
    assert(w);
    int64_t step = 0;
    if (w->mono_us != 0) {
        step = s_sub(s_sub(wall_now_us, w->wall_us), s_sub(mono_now_us, w->mono_us));
        if (step > -CC_CLOCK_STEP_MIN_US && step < CC_CLOCK_STEP_MIN_US)
            step = 0;
    }
    w->wall_us = wall_now_us;
    w->mono_us = mono_now_us != 0 ? mono_now_us : 1;
    return step;
}

int64_t cc_clock_watch(cc_clock_watch_t *w, struct cc_metric *steps)
{
    int64_t step = cc_clock_step(w, cc_now_us(), cc_mono_us());
    if (step != 0) {
        char s[24];
        snprintf(s, sizeof s, "%" PRId64, step / CC_US_PER_S);
        cc_warn("clock_step", "step_s", s);
        if (steps)
            cc_metric_inc(steps);
    }
    return step;
}
