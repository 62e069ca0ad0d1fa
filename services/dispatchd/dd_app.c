/* dd_app: see dd_app.h. */
#include "dd_app.h"
#include "dd_dispatch.h"
#include "cc_log.h"
#include "cc_util.h"

int dd_app_init(void *arg)
{
    dd_app_t *app = arg;
    app->m_assigned = cc_metrics_counter("dispatchd_assignments_total",
                                         "VisitAssigned appended (first offers and re-offers)");
    app->m_assign_none = cc_metrics_counter("dispatchd_unmatched_total",
                                            "new visits that found nobody and wait");
    app->m_declines = cc_metrics_counter("dispatchd_declines_total", "offers declined");
    app->m_timeouts = cc_metrics_counter("dispatchd_accept_timeouts_total",
                                         "offers not accepted in time");
    app->m_failures = cc_metrics_counter("dispatchd_failures_total",
                                         "VisitFailed appended (no caregiver in time)");
    app->m_preempted = cc_metrics_counter("dispatchd_preemptions_total",
                                          "unaccepted routine offers moved for an emergency");
    app->m_accepted = cc_metrics_counter("dispatchd_visit_steps_total{step=\"accepted\"}",
                                         "caregiver app steps");
    app->m_checked_in = cc_metrics_counter("dispatchd_visit_steps_total{step=\"checked_in\"}",
                                           "caregiver app steps");
    app->m_completed = cc_metrics_counter("dispatchd_visit_steps_total{step=\"completed\"}",
                                          "caregiver app steps");
    app->m_cancelled = cc_metrics_counter("dispatchd_visits_cancelled_total",
                                          "visits dropped on OrderCancelled");
    app->m_caregivers = cc_metrics_gauge("dispatchd_caregivers", "caregivers known");
    app->m_queue_depth = cc_metrics_gauge("dispatchd_queue_depth",
                                          "visits waiting or offered but not accepted");
    app->m_open_visits = cc_metrics_gauge("dispatchd_open_visits", "visits not final");
    app->m_latency = cc_metrics_histogram("dispatchd_assignment_latency_seconds",
                                          "release (or queueing) to committed assignment");
    app->m_match_latency = cc_metrics_histogram("dispatchd_match_seconds",
                                                "one matching decision");
    app->m_lag = cc_metrics_gauge("dispatchd_consumer_lag_seconds{producer=\"orderd\"}",
                                  "age of the last orderd event handled");
    app->m_events_applied = cc_metrics_counter("dispatchd_events_total{outcome=\"applied\"}",
                                               "orderd events by outcome");
    app->m_events_skipped = cc_metrics_counter("dispatchd_events_total{outcome=\"skipped\"}",
                                               "orderd events by outcome");
    app->world = dd_world_new();
    return app->world ? 0 : -1;
}

int dd_app_start(void *arg)
{
    dd_app_t *app = arg;
    /* Offers in flight get their accept timers back (overdue ones fire at once). */
    int64_t now = cc_now_us();
    size_t nactive;
    dd_visit_t *const *active = dd_world_active(app->world, &nactive);
    for (size_t i = 0; i < nactive; i++)
        if (active[i]->state == DD_VISIT_ASSIGNED)
            dd_timer_arm(app, active[i], now);
    return dd_sweep_start(app);
}

void dd_app_stop(void *arg)
{
    dd_app_t *app = arg;
    if (app->sweep)
        event_del(app->sweep);
}

void dd_app_fini(void *arg)
{
    dd_app_t *app = arg;
    if (app->sweep)
        event_free(app->sweep);
    app->sweep = NULL;
    dd_retry_reset(app);
    if (app->world) {
        size_t n;
        dd_visit_t *const *active = dd_world_active(app->world, &n);
        for (size_t i = 0; i < n; i++)
            dd_timer_cancel(active[i]);
    }
    dd_world_destroy(&app->world);
}
