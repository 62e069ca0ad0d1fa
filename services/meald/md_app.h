/* md_app: the meald process, shared by its modules (main, store, events,
 * http). One instance, driven by one libevent loop. */
#ifndef MD_APP_H
#define MD_APP_H
#include <stdint.h>
#include <event2/event.h>

#include "cc_db.h"
#include "cc_evlog.h"
#include "cc_http.h"
#include "cc_metrics.h"
#include "md_domain.h"

typedef struct {
    /* configuration (cc_config owns the strings) */
    char *db;                 /* libpq conninfo */
    char *http_addr;
    int64_t http_port;
    char *log_endpoint;       /* own log ROUTER */
    char *log_level;
    char *pidfile;
    char *orderd_log;         /* orderd's log ROUTER */
    int64_t max_distance_m;   /* 0: no limit on the point's distance */
    int64_t retain_days;      /* days of past meals kept in memory */
    int64_t max_body;         /* HTTP body cap, bytes */

    /* runtime */
    struct event_base *base;
    void *zctx;
    cc_db_t *writer;          /* batching writer: every change */
    cc_db_t *reader;          /* working-set load, log catch-up */
    cc_evlog_t *evlog;        /* meald's own log */
    cc_consumer_t *orders;    /* orderd's log */
    cc_http_t *http;
    md_state_t *state;
    int loaded;               /* working set loaded */
    int load_failed;
    int stopping;
    struct event *ev_prune;   /* daily-ish memory prune */
    struct event *ev_stop;    /* shutdown progress poll */

    /* metrics */
    cc_metric_t *m_scheduled;
    cc_metric_t *m_refused[MD_REFUSE_COUNT];
    cc_metric_t *m_cancelled;
    cc_metric_t *m_delivered;
    cc_metric_t *m_points_created;
    cc_metric_t *m_ignored;       /* orderd events not for meald */
    cc_metric_t *m_malformed;     /* orderd events meald could not read */
    cc_metric_t *m_open;          /* gauge: scheduled, not delivered */
    cc_metric_t *m_points;        /* gauge: meal points */
    cc_metric_t *m_lag_s;         /* gauge: age of the last applied orderd event */
    cc_metric_t *m_decide_s;      /* histogram: event decided -> committed */
    cc_metric_t *m_http_s;        /* histogram: write request -> reply */
} md_app_t;

/* Refresh the gauges from the state. */
void md_app_gauges(md_app_t *app);

/* An unexpected SQL result on a write: memory and store may disagree.
 * Logs (no personal data) and exits non-zero; the supervisor restarts us
 * and the state reloads from the store (crash-only). */
void md_app_die(md_app_t *app, const char *what, PGresult *res) __attribute__((noreturn));

#endif
