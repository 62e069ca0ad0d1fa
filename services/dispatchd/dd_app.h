/* dd_app: dispatchd's process-wide context (configuration, connections,
 * working set, metrics), shared by main.c, dd_dispatch, dd_events and
 * dd_http. Only the context lives here; each module declares its functions
 * in its own header. */
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
    cc_metric_t *m_events_applied, *m_events_skipped, *m_events_bad;
} dd_app_t;

#endif
