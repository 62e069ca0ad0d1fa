/* dd_app: see dd_app.h. */
#include "dd_app.h"
#include "dd_capacity.h"
#include "dd_dispatch.h"
#include "dd_reopt.h"
#include "cc_limits.h"
#include "cc_log.h"
#include "cc_util.h"

#include <stddef.h>
#include <stdio.h>
#include <sodium.h>

enum { S_COUNTER, S_GAUGE, S_HISTOGRAM };

/* dispatchd's metrics: where each lives in dd_app_t, its kind, name, help. */
static const struct {
    size_t at;
    int kind;
    const char *name, *help;
} s_metrics[] = {
#define S_M(field, kind, name, help) { offsetof(dd_app_t, field), kind, name, help }
    S_M(m_assigned, S_COUNTER, "dispatchd_assignments_total",
        "VisitAssigned appended (first offers and re-offers)"),
    S_M(m_assign_none, S_COUNTER, "dispatchd_unmatched_total",
        "new visits that found nobody and wait"),
    S_M(m_declines, S_COUNTER, "dispatchd_declines_total", "offers declined"),
    S_M(m_timeouts, S_COUNTER, "dispatchd_accept_timeouts_total", "offers not accepted in time"),
    S_M(m_failures, S_COUNTER, "dispatchd_failures_total",
        "VisitFailed appended (a deadline passed, or a dispatcher rejected)"),
    S_M(m_preempted, S_COUNTER, "dispatchd_preemptions_total",
        "unaccepted routine offers moved for an emergency"),
    S_M(m_capacity_reported, S_COUNTER, "dispatchd_capacity_reported_total",
        "CapacityReported appended (a district-day's figures, for orderd's duty generator)"),
    S_M(m_duty_bumped, S_COUNTER, "dispatchd_duty_bumped_total",
        "planned visits that gave way to a more pressing mandated duty on a full day"),
    S_M(m_address_rejected, S_COUNTER, "dispatchd_address_rejected_total",
        "sealed addresses that did not open (tampered, another key or order): refused"),
    S_M(m_reopt_runs, S_COUNTER, "dispatchd_reopt_runs_total",
        "re-optimisations of a district's day started"),
    S_M(m_reopt_applied, S_COUNTER, "dispatchd_reopt_total{outcome=\"applied\"}",
        "re-optimisations by outcome"),
    S_M(m_reopt_stale, S_COUNTER, "dispatchd_reopt_total{outcome=\"stale\"}",
        "re-optimisations by outcome"),
    S_M(m_reopt_kept, S_COUNTER, "dispatchd_reopt_total{outcome=\"kept\"}",
        "re-optimisations by outcome"),
    S_M(m_reopt_void, S_COUNTER, "dispatchd_reopt_total{outcome=\"void\"}",
        "re-optimisations by outcome"),
    S_M(m_reopt_moves, S_COUNTER, "dispatchd_reopt_moves_total",
        "visits re-offered by re-optimisation"),
    S_M(m_reopt_loop[0], S_HISTOGRAM, "dispatchd_reopt_loop_seconds{phase=\"snapshot\"}",
        "event loop time per re-optimisation step (the solve runs on a worker)"),
    S_M(m_reopt_loop[1], S_HISTOGRAM, "dispatchd_reopt_loop_seconds{phase=\"apply\"}",
        "event loop time per re-optimisation step (the solve runs on a worker)"),
    S_M(m_accepted, S_COUNTER, "dispatchd_visit_steps_total{step=\"accepted\"}",
        "caregiver app steps"),
    S_M(m_checked_in, S_COUNTER, "dispatchd_visit_steps_total{step=\"checked_in\"}",
        "caregiver app steps"),
    S_M(m_completed, S_COUNTER, "dispatchd_visit_steps_total{step=\"completed\"}",
        "caregiver app steps"),
    S_M(m_cancelled, S_COUNTER, "dispatchd_visits_cancelled_total",
        "visits dropped on OrderCancelled"),
    S_M(m_caregivers, S_GAUGE, "dispatchd_caregivers", "caregivers known"),
    S_M(m_queue_depth, S_GAUGE, "dispatchd_queue_depth",
        "visits waiting or offered but not accepted"),
    S_M(m_open_visits, S_GAUGE, "dispatchd_open_visits", "visits not final"),
    S_M(m_latency, S_HISTOGRAM, "dispatchd_assignment_latency_seconds",
        "release (or queueing) to committed assignment"),
    S_M(m_match_latency, S_HISTOGRAM, "dispatchd_match_seconds", "one matching decision"),
    S_M(m_lag, S_GAUGE, "dispatchd_consumer_lag_seconds{producer=\"orderd\"}",
        "age of the last orderd event handled"),
    S_M(m_events_applied, S_COUNTER, "dispatchd_events_total{outcome=\"applied\"}",
        "orderd events by outcome"),
    S_M(m_events_skipped, S_COUNTER, "dispatchd_events_total{outcome=\"skipped\"}",
        "orderd events by outcome"),
    S_M(m_resolved[DD_STAGE_UNACCEPTED], S_COUNTER,
        "dispatchd_deadlines_resolved_total{stage=\"unaccepted\"}",
        "open visits resolved by their deadline, by stage"),
    S_M(m_resolved[DD_STAGE_NOT_CHECKED_IN], S_COUNTER,
        "dispatchd_deadlines_resolved_total{stage=\"not_checked_in\"}",
        "open visits resolved by their deadline, by stage"),
    S_M(m_resolved[DD_STAGE_NOT_CHECKED_OUT], S_COUNTER,
        "dispatchd_deadlines_resolved_total{stage=\"not_checked_out\"}",
        "open visits resolved by their deadline, by stage"),
    S_M(m_resolved[DD_STAGE_UNCONFIRMED], S_COUNTER,
        "dispatchd_deadlines_resolved_total{stage=\"unconfirmed\"}",
        "open visits resolved by their deadline, by stage"),
    S_M(m_confirmed, S_COUNTER, "dispatchd_exceptions_total{decision=\"confirm\"}",
        "unconfirmed visits decided by a dispatcher"),
    S_M(m_rejected, S_COUNTER, "dispatchd_exceptions_total{decision=\"reject\"}",
        "unconfirmed visits decided by a dispatcher"),
    S_M(m_overdue, S_GAUGE, "dispatchd_overdue_visits",
        "open visits past their due time (shown first on the board)"),
    S_M(m_clock_steps, S_COUNTER, "dispatchd_clock_steps_total",
        "wall-clock steps of 2 s or more seen between sweeps"),
    S_M(m_unconfirmed, S_GAUGE, "dispatchd_unconfirmed_visits",
        "visits not checked out in time, awaiting a dispatcher"),
#undef S_M
};

void dd_app_set_deadlines(dd_app_t *app, const dd_deadlines_t *table)
{
    app->deadlines = *table;
    for (int s = 0; s <= DD_SVC_MAX; s++) {
        if (app->accept_timeout_s > 0)
            app->deadlines.svc[s].offer_s = app->accept_timeout_s;
        if (app->assign_deadline_s > 0)
            app->deadlines.svc[s].assign_s = app->assign_deadline_s;
    }
}

const dd_deadline_rule_t *dd_app_rule(const dd_app_t *app, const dd_visit_t *v)
{
    int s = v->service >= 0 && v->service <= DD_SVC_MAX ? v->service : 0;
    return &app->deadlines.svc[s];
}

int dd_visit_address(const dd_app_t *app, const dd_visit_t *v, char *buf, size_t len)
{
    if (len)
        buf[0] = '\0';
    if (!v->address_sealed)
        return -1;
    return cc_seal_address_read(app->address_keys, "dispatchd", v->order_id, v->address_sealed,
                                v->address_sealed_len, buf, len, "address_open_failed",
                                "visit_id", v->id, app->m_address_rejected);
}

int dd_address_ok(dd_app_t *app, const char *order_id, const uint8_t *blob, size_t len)
{
    return cc_seal_address_read(app->address_keys, "dispatchd", order_id, blob, len, NULL, 0,
                                "address_rejected", "order_id", order_id,
                                app->m_address_rejected) == 0;
}

int dd_app_init(void *arg)
{
    dd_app_t *app = arg;
    /* Exits (2) when a key is missing or unreadable: never runs without. */
    app->address_keys = cc_seal_load_address_keys(app->rt.curve_keys_dir, app->address_key_file,
                                                   app->address_old_key_file, "dispatchd");
    for (size_t i = 0; i < sizeof s_metrics / sizeof *s_metrics; i++) {
        cc_metric_t **m = (cc_metric_t **) ((char *) app + s_metrics[i].at);
        const char *name = s_metrics[i].name, *help = s_metrics[i].help;
        *m = s_metrics[i].kind == S_COUNTER ? cc_metrics_counter(name, help)
             : s_metrics[i].kind == S_GAUGE ? cc_metrics_gauge(name, help)
                                            : cc_metrics_histogram(name, help);
    }
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
    for (size_t i = 0; i < nactive; i++) {
        active[i]->release_us = dd_dispatch_release_us(app, active[i]);
        if (active[i]->state == DD_VISIT_ASSIGNED)
            dd_timer_arm(app, active[i], now);
    }
    return dd_sweep_start(app);
}

void dd_app_stop(void *arg)
{
    dd_app_t *app = arg;
    if (app->sweep)
        event_del(app->sweep);
    dd_reopt_stop(app);
}

/* The sweep, the retry snapshot and the accept timers point into the world. */
static void s_drop_world(dd_app_t *app)
{
    if (app->sweep)
        event_free(app->sweep);
    app->sweep = NULL;
    dd_reopt_stop(app);   /* its result would be checked against a new world */
    dd_retry_reset(app);
    if (app->world) {
        size_t n;
        dd_visit_t *const *active = dd_world_active(app->world, &n);
        for (size_t i = 0; i < n; i++)
            dd_timer_cancel(active[i]);
    }
    dd_world_destroy(&app->world);
}

void dd_app_reset(void *arg)
{
    dd_app_t *app = arg;
    s_drop_world(app);
    dd_capacity_reset(app);
    app->dirty = 0;
    app->world = dd_world_new();
    if (!app->world) {
        cc_error("out_of_memory", "where", "reset");
        exit(1);
    }
}

void dd_app_fini(void *arg)
{
    dd_app_t *app = arg;
    s_drop_world(app);
    cc_seal_destroy(&app->address_keys);
}
