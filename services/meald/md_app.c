/* md_app: see md_app.h. */
#include "md_app.h"

#include <stdio.h>
#include <sodium.h>

#include "cc_limits.h"
#include "cc_log.h"
#include "cc_time.h"
#include "cc_util.h"
#include "md_plan.h"
#include "md_rounds.h"
#include "md_sweep.h"

#define S_PRUNE_EVERY_S CC_S_PER_HOUR

void md_app_gauges(md_app_t *app)
{
    cc_metric_set(app->m_open, (double)md_open_count(app->state));
    cc_metric_set(app->m_points, (double)md_point_count(app->state));
}

static void s_metrics(md_app_t *app)
{
    app->m_scheduled = cc_metrics_counter("meald_meals_scheduled_total",
                                          "Meal orders scheduled to a meal point");
    for (int r = MD_REFUSE_PAST_CUTOFF; r < MD_REFUSE_COUNT; r++) {
        char name[96];
        snprintf(name, sizeof name, "meald_meals_refused_total{reason=\"%s\"}",
                 md_refusal_name((md_refusal_t)r));
        app->m_refused[r] = cc_metrics_counter(name, "Meal orders refused, by reason");
    }
    app->m_cancelled = cc_metrics_counter("meald_meals_cancelled_total",
                                          "Scheduled meals cancelled (place freed)");
    app->m_delivered = cc_metrics_counter("meald_meals_delivered_total", "Meals delivered");
    app->m_expired = cc_metrics_counter("meald_meals_undelivered_total",
                                        "Scheduled meals past their delivery deadline");
    app->m_clock_steps = cc_metrics_counter("meald_clock_steps_total",
                                            "Wall-clock steps of 2 s or more seen between sweeps");
    app->m_overdue = cc_metrics_gauge("meald_meals_overdue",
                                      "Scheduled meals past their due time, not yet resolved");
    app->m_points_created = cc_metrics_counter("meald_meal_points_created_total",
                                               "Meal points created");
    app->m_ignored = cc_metrics_counter("meald_orderd_events_ignored_total",
                                        "orderd events with nothing for meald to do");
    app->m_address_rejected = cc_metrics_counter(
        "meald_address_rejected_total",
        "Sealed addresses that did not open (tampered, another key or order): refused");
    app->m_open = cc_metrics_gauge("meald_meals_open", "Meals scheduled, not yet delivered");
    app->m_points = cc_metrics_gauge("meald_meal_points", "Meal points");
    app->m_lag_s = cc_metrics_gauge("meald_consumer_lag_seconds{log=\"orderd\"}",
                                    "Age of the last orderd event applied when it committed");
    app->m_decide_s = cc_metrics_histogram("meald_event_apply_seconds",
                                           "orderd event decided to effect committed");
    app->m_http_s = cc_metrics_histogram("meald_write_seconds",
                                         "Write request received to reply (after commit)");
    for (int r = 0; r < MD_UNSERVED_REASONS; r++) {
        char name[96];
        snprintf(name, sizeof name, "meald_meals_unserved_total{reason=\"%s\"}",
                 md_unserved_names[r]);
        app->m_unserved[r] = cc_metrics_counter(name, "Meals no courier round can serve, "
                                                      "by reason (reported once per meal)");
    }
    app->m_plans = cc_metrics_counter("meald_round_plans_total", "Slot round plans stored");
    app->m_plan_s = cc_metrics_histogram("meald_round_plan_seconds",
                                         "Slot round plan started to planned (worker thread)");
    app->m_failed = cc_metrics_counter("meald_meals_failed_total",
                                       "Deliveries failed on site (absent, refused)");
    app->m_couriers_created = cc_metrics_counter("meald_couriers_created_total",
                                                 "Couriers created");
}

static void s_on_prune(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    md_app_t *app = arg;
    int32_t before = md_day_of_us(cc_now_us()) - (int32_t)app->retain_days;
    size_t n = md_state_prune(app->state, before);
    if (n > 0) {
        char buf[24];
        snprintf(buf, sizeof buf, "%zu", n);
        cc_info("meals_pruned", "meals", buf);
    }
    md_app_gauges(app);
}

int md_meal_address(const md_app_t *app, const md_meal_t *meal, char *buf, size_t len)
{
    if (len)
        buf[0] = '\0';
    if (!meal->address_sealed)
        return -1;
    return cc_seal_address_read(app->address_keys, "meald", meal->order_id,
                                meal->address_sealed, meal->address_sealed_len, buf, len,
                                "address_open_failed", "order_id", meal->order_id,
                                app->m_address_rejected);
}

int md_address_ok(md_app_t *app, const char *order_id, const uint8_t *blob, size_t len)
{
    return cc_seal_address_read(app->address_keys, "meald", order_id, blob, len, NULL, 0,
                                "address_rejected", "order_id", order_id,
                                app->m_address_rejected) == 0;
}

int md_app_init(void *arg)
{
    md_app_t *app = arg;
    /* Exits (2) when a key is missing or unreadable: never runs without. */
    app->address_keys = cc_seal_load_address_keys(app->rt.curve_keys_dir, app->address_key_file,
                                                   app->address_old_key_file, "meald");
    s_metrics(app);
    app->state = md_state_new();
    app->ev_prune = event_new(app->rt.base, -1, EV_PERSIST, s_on_prune, app);
    app->ev_sweep = event_new(app->rt.base, -1, EV_PERSIST, md_sweep_on_timer, app);
    if (!app->state || !app->ev_prune || !app->ev_sweep)
        return -1;
    return md_plan_init(app);
}

int md_app_start(void *arg)
{
    md_app_t *app = arg;
    md_app_gauges(app);
    struct timeval tv = { S_PRUNE_EVERY_S, 0 };
    struct timeval sweep = { 0, MD_SWEEP_MS * 1000 };
    return event_add(app->ev_prune, &tv) || event_add(app->ev_sweep, &sweep) ? -1 : 0;
}

void md_app_stop(void *arg)
{
    md_app_t *app = arg;
    if (app->ev_prune)
        event_del(app->ev_prune);
    if (app->ev_sweep)
        event_del(app->ev_sweep);
}

void md_app_fini(void *arg)
{
    md_app_t *app = arg;
    if (app->ev_prune)
        event_free(app->ev_prune);
    app->ev_prune = NULL;
    if (app->ev_sweep)
        event_free(app->ev_sweep);
    app->ev_sweep = NULL;
    md_plan_fini(app);   /* jobs borrow nothing from the state, but their done may */
    md_state_destroy(&app->state);
    cc_seal_destroy(&app->address_keys);
}
