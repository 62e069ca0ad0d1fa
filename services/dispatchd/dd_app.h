/* dd_app: dispatchd's process-wide context (the runtime's handles, its own
 * configuration, working set, metrics), shared by dd_dispatch, dd_events,
 * dd_http and dd_store, and the runtime hooks (cc_rt.h) that make and free
 * it. Each module declares its functions in its own header. */
#ifndef DD_APP_H
#define DD_APP_H
#include <stdint.h>
#include <stdbool.h>
#include <event2/event.h>

#include "cc_metrics.h"
#include "cc_rt.h"
#include "cc_seal.h"
#include "dd_deadline.h"
#include "dd_state.h"

typedef struct {
    cc_rt_t rt;                  /* first: handles and common config */
    /* configuration (main.c) */
    int64_t accept_timeout_s;    /* > 0: overrides every service's offer_s */
    int64_t assign_deadline_s;   /* > 0: overrides every service's assign_s */
    int64_t deadlines_refresh_s; /* re-read table deadlines this often */
    int64_t retry_interval_s;
    int64_t max_travel_s;
    int64_t keep_finished_s;
    int64_t reopt_interval_s;    /* 0: no re-optimisation (dd_reopt.h) */
    int64_t reopt_budget_ms;     /* solver time per district run */
    int64_t offer_ahead_s;       /* routine visits are offered this long before their
                                  * window (planned till then); 0: at once */
    int64_t capacity_report_s;   /* CapacityReported at most this often per district-day;
                                  * 0: never (dd_capacity.h) */
    int64_t capacity_threshold_min;  /* ... and only when a figure moved this much */
    int64_t capacity_days;       /* days reported, from today */
    char *address_key_file;      /* "": <curve-keys-dir>/dispatchd-address.key */
    char *address_old_key_file;  /* the previous key during a rotation, or "" */
    cc_seal_t *address_keys;     /* opens VisitReleased.address_sealed (cc_seal.h) */

    dd_world_t *world;
    struct event *sweep;         /* retry queue, deadlines, pruning */
    int dirty;                   /* capacity changed: retry the queue now */
    dd_visit_t **retry_q;        /* the pass's snapshot of the waiting list, sorted */
    size_t retry_n;
    size_t retry_cursor;         /* where the pass resumes in it */
    uint64_t retry_gen;          /* world generation of the snapshot */
    int64_t last_prune_us;
    int64_t last_retry_us;
    dd_deadlines_t deadlines;    /* table deadlines with the flags' overrides */
    int64_t last_deadlines_mono_us;  /* last refresh asked (monotonic clock) */
    int deadlines_reading;       /* a refresh is in flight */
    cc_clock_watch_t clock;      /* wall-clock steps between sweeps (cc_clock.h) */
    void *reopt;                 /* dd_reopt's schedule and run in flight */

    /* metrics */
    cc_metric_t *m_assigned;         /* VisitAssigned appended */
    cc_metric_t *m_assign_none;      /* a match found nobody: visit waits */
    cc_metric_t *m_declines;         /* caregiver declined */
    cc_metric_t *m_timeouts;         /* accept timed out */
    cc_metric_t *m_failures;         /* VisitFailed */
    cc_metric_t *m_preempted;        /* routine offers that gave way to an emergency */
    cc_metric_t *m_accepted, *m_checked_in, *m_completed, *m_cancelled;
    cc_metric_t *m_caregivers;       /* gauge */
    cc_metric_t *m_queue_depth;      /* gauge: waiting + unaccepted */
    cc_metric_t *m_open_visits;      /* gauge: not final */
    cc_metric_t *m_latency;          /* histogram: release (or queueing) -> assigned commit */
    cc_metric_t *m_match_latency;    /* histogram: one dd_match call */
    cc_metric_t *m_lag;              /* gauge: seconds behind orderd's log */
    cc_metric_t *m_events_applied, *m_events_skipped;
    cc_metric_t *m_resolved[DD_STAGE_N]; /* deadlines resolved, by stage */
    cc_metric_t *m_confirmed, *m_rejected;   /* a dispatcher's decisions */
    cc_metric_t *m_clock_steps;      /* wall-clock steps seen */
    cc_metric_t *m_overdue;          /* gauge: open visits past their due time */
    cc_metric_t *m_unconfirmed;      /* gauge: visits awaiting a dispatcher */
    cc_metric_t *m_reopt_runs, *m_reopt_applied, *m_reopt_stale, *m_reopt_kept;
    cc_metric_t *m_reopt_void;       /* snapshots dropped before a solve (dd_reopt.c) */
    cc_metric_t *m_reopt_moves;      /* visits moved by re-optimisation */
    cc_metric_t *m_reopt_loop[2];    /* loop time: snapshot, apply (dd_reopt.c) */
    cc_metric_t *m_address_rejected; /* sealed addresses that did not open */
    cc_metric_t *m_capacity_reported;    /* CapacityReported appended */
    cc_metric_t *m_duty_bumped;      /* planned visits that gave way to a higher duty rank */
} dd_app_t;

/* Take table (a DD_ST_LOAD_DEADLINES read) as the deadlines, with the
 * --accept-timeout-s / --assign-deadline-s overrides applied. */
void dd_app_set_deadlines(dd_app_t *app, const dd_deadlines_t *table);
/* The deadline rule of v's service (borrowed). */
const dd_deadline_rule_t *dd_app_rule(const dd_app_t *app, const dd_visit_t *v);

/* The elder's address of visit v (sealed by orderd for dispatchd, opened
 * here) into buf: 0; -1 when the visit has none or it does not open
 * (logged, never the value; buf ""). Only for an authorised read of a
 * CC_ROUTE_PII route (audited): GET /v1/visits/{visit_id}, the
 * caregiver's day. Wipe buf after use. */
int dd_visit_address(const dd_app_t *app, const dd_visit_t *v, char *buf, size_t len);
/* At receipt: 1 if blob (VisitReleased.address_sealed of order_id) opens
 * with dispatchd's transit key; else 0, logged (order and key id, never
 * the bytes) and counted (dispatchd_address_rejected_total): the visit is
 * kept without it, so a tampered or foreign blob never stops dispatch. */
int dd_address_ok(dd_app_t *app, const char *order_id, const uint8_t *blob, size_t len);

/* Runtime hooks (cc_rt_spec_t), app a dd_app_t: metrics and the empty
 * working set; once loaded, accept timers and the sweep; stop the sweep;
 * free the working set and timers (after the loop). The load hook is
 * dd_store_load. */
int dd_app_init(void *app);
int dd_app_start(void *app);
void dd_app_stop(void *app);
void dd_app_fini(void *app);
/* Reload (cc_rt_reload): the sweep, the accept timers and the world go;
 * an empty world is made for dd_store_load, and dd_app_start runs again. */
void dd_app_reset(void *app);

#endif
