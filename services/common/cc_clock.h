/* cc_clock: deadlines kept in wall-clock time, resolved only on monotonic
 * evidence, and wall-clock steps detected (docs/ARCHITECTURE.md
 * "Deadlines", docs/RELIABILITY.md "Clocks"). Pure: the caller passes both
 * clocks (cc_now_us, cc_mono_us).
 *
 * Deadlines are stored wall-clock times so that a restart finds what
 * expired meanwhile; but a wall clock can step (NTP, a VM resume, an
 * operator). The rule: an item past its wall-clock resolution is resolved
 * only once the daemon has seen it, in monotonic time, for hold_us inside
 * the final stretch [resolve - hold_us, resolve) of its wall-clock
 * deadline or past it. A forward step thus makes things overdue early (a
 * warning) but resolves nothing before hold_us of real time has passed; a
 * step back (wall clock before the stretch) forgets the sighting; a step
 * undone within hold_us fails nothing. A restart sees every item afresh:
 * what expired while the daemon was down is resolved hold_us after it
 * starts, not at once. */
#ifndef CC_CLOCK_H
#define CC_CLOCK_H
#include <stdint.h>

/* One item's sighting; zeroed: never seen in its final stretch. */
typedef struct {
    int64_t resolve_us;      /* the wall-clock resolution it was seen for */
    int64_t since_mono_us;   /* first seen in the stretch (monotonic); 0: not */
} cc_hold_t;

/* Whether the item whose wall-clock resolution is resolve_us may be
 * resolved now: wall_now_us >= resolve_us and seen in the stretch for
 * hold_us (>= 0) of monotonic time. Updates *h: a new resolve_us (another
 * stage, an edited rule) starts a new sighting. Saturating arithmetic. */
int cc_hold_ripe(cc_hold_t *h, int64_t wall_now_us, int64_t mono_now_us, int64_t resolve_us,
                 int64_t hold_us);

/* Wall-clock step detection between two calls (a sweep's ticks). */
typedef struct {
    int64_t wall_us, mono_us;   /* at the last call; 0: none yet */
} cc_clock_watch_t;

#define CC_CLOCK_STEP_MIN_US (2 * INT64_C(1000000))   /* smaller: drift, slewing */

/* The step since the last call: wall progress minus monotonic progress,
 * if its size is at least CC_CLOCK_STEP_MIN_US, else 0 (also on the first
 * call). Records the clocks for the next call. */
int64_t cc_clock_step(cc_clock_watch_t *w, int64_t wall_now_us, int64_t mono_now_us);

/* A sweep's tick: cc_clock_step on the clocks now; a step is logged
 * (`clock_step`, step_s signed) and counted in steps (may be NULL).
 * Returns the step. */
struct cc_metric;
int64_t cc_clock_watch(cc_clock_watch_t *w, struct cc_metric *steps);

#endif
