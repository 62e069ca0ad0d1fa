/* dd_app: dispatchd's process-wide context, shared by its modules. */
#ifndef DD_APP_H
#define DD_APP_H
#include <stdint.h>
#include <stdbool.h>
#include <event2/event.h>

#include "cc_db.h"
#include "cc_evlog.h"
#include "cc_http.h"
#include "cc_metrics.h"
#include "dd_state.h"
#include "dd_store.h"
#include "cc_util.h"

typedef struct {
    /* configuration (cc_config table in main.c) */
    char *db;
    char *http_addr;
    int64_t http_port;
    char *log_endpoint;
    char *log_level;
    char *pidfile;
    char *orderd_log;
    int64_t accept_timeout_s;
    int64_t assign_deadline_s;
    int64_t retry_interval_s;
    int64_t max_travel_s;
    int64_t keep_finished_s;
    int64_t max_body;

    /* runtime */
    struct event_base *base;
    void *zctx;
    cc_db_t *writer;             /* batching writer: every decision */
    cc_db_t *reader;             /* working-set load, event-log catch-up */
    cc_evlog_t *evlog;           /* our log (VisitAssigned, ...) */
    cc_consumer_t *orders;       /* orderd's log */
    cc_http_t *http;
    dd_world_t *world;
    struct event *sweep;         /* retry queue, deadlines, pruning */
    struct event *drain;         /* shutdown: waits for the writer to idle */
    int loaded;                  /* working set loaded from the store */
    int dirty;                   /* capacity changed: retry the queue now */
    dd_visit_t **retry_q;        /* the pass's snapshot of the waiting list, sorted */
    size_t retry_n;
    size_t retry_cursor;         /* where the pass resumes in it */
    uint64_t retry_gen;          /* world generation of the snapshot */
    int stopping;
    int64_t stop_started_us;
    int64_t last_prune_us;
    int64_t last_retry_us;

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
} dd_app_t;

/* dd_dispatch.c ---------------------------------------------------------- */
/* Matching parameters for now. */
void dd_app_match_params(dd_app_t *app, int64_t now_us, dd_match_params_t *p);
/* Offer a waiting visit to the best caregiver, if any; 1 when offered. */
int dd_dispatch_try(dd_app_t *app, dd_visit_t *v, int64_t now_us);
/* An emergency takes the slot of bumped (offered, not accepted): bumped
 * goes back to the queue in memory, and its VisitDeclined{preempted}
 * arguments (district, id, old caregiver, order, event id, payload) are
 * appended to a. b->ev / b->pay / b->old hold what a borrows (free pay after
 * the exec). */
typedef struct {
    char old[DD_ID_LEN];
    char ev[CC_UUID_LEN];
    uint8_t *pay;
    size_t len;
} dd_bump_t;
void dd_bump_apply(dd_app_t *app, dd_visit_t *bumped, dd_bump_t *b, int64_t now_us);
void dd_bump_args(dd_args_t *a, const dd_visit_t *bumped, const dd_bump_t *b);
/* Decline (reason "declined") or accept timeout ("accept_timeout") by the
 * current caregiver: record, re-offer to the next one or queue, write.
 * req (may be NULL) is answered after commit. */
void dd_dispatch_decline(dd_app_t *app, dd_visit_t *v, const char *reason,
                         cc_http_req_t *req);
/* Arm / cancel v's accept timer. */
void dd_timer_arm(dd_app_t *app, dd_visit_t *v, int64_t now_us);
void dd_timer_cancel(dd_visit_t *v);
/* Drop the queue-retry snapshot (shutdown, end of a pass). */
void dd_retry_reset(dd_app_t *app);
/* Start the periodic sweep (queue retry, deadlines, pruning). */
int dd_sweep_start(dd_app_t *app);
/* Gauges from the working set. */
void dd_update_gauges(dd_app_t *app);
/* Write failed in a way that means memory and store disagree: log, exit(1). */
void dd_fatal_sql(const char *what, PGresult *res) __attribute__((noreturn));
/* Result text of a one-row, one-column function call, or NULL. */
const char *dd_result_text(PGresult *res);

/* dd_events.c ------------------------------------------------------------ */
/* The consumer table for orderd's log (OrderReleased, OrderCancelled);
 * its arg is the dd_app_t. */
extern const cc_consumer_entry_t dd_events_from_orderd[];

/* dd_http.c -------------------------------------------------------------- */
int dd_http_routes(dd_app_t *app);
int dd_http_ready(void *arg);

#endif
