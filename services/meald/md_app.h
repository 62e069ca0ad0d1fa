/* md_app: the meald process, shared by its modules (main, store, events,
 * http), and the runtime hooks (cc_rt.h) that make and free its working
 * set. One instance, driven by one libevent loop. */
#ifndef MD_APP_H
#define MD_APP_H
#include <stdint.h>
#include <event2/event.h>

#include "cc_metrics.h"
#include "cc_rt.h"
#include "cc_seal.h"
#include "md_domain.h"

typedef struct {
    cc_rt_t rt;               /* first: handles and common config */
    int64_t max_distance_m;   /* config; 0: no limit on the point's distance */
    int64_t retain_days;      /* config: days of past meals kept in memory */
    int64_t deadlines_refresh_s;  /* config: re-read table deadlines this often */
    char *address_key_file;       /* config, "": <curve-keys-dir>/meald-address.key */
    char *address_old_key_file;   /* config: the previous key during a rotation, or "" */
    cc_seal_t *address_keys;      /* opens MealReleased.address_sealed (cc_seal.h) */
    int64_t round_plan_ms;    /* config: the solver's time for one slot's rounds */
    md_state_t *state;
    struct event *ev_prune;   /* hourly memory prune */
    struct event *ev_sweep;   /* delivery deadlines (md_sweep.h) */
    md_deadline_rule_t deadlines[MD_NSLOTS];   /* table deadlines, by slot */
    int64_t last_deadlines_mono_us;            /* last refresh asked (monotonic) */
    int deadlines_reading;                     /* a refresh is in flight */
    cc_clock_watch_t clock;                    /* wall-clock steps between sweeps */

    /* metrics */
    cc_metric_t *m_scheduled;
    cc_metric_t *m_refused[MD_REFUSE_COUNT];
    cc_metric_t *m_cancelled;
    cc_metric_t *m_delivered;
    cc_metric_t *m_expired;       /* scheduled meals past their deadline: undelivered */
    cc_metric_t *m_clock_steps;   /* wall-clock steps seen by the sweep */
    cc_metric_t *m_overdue;       /* gauge: scheduled meals past their due time */
    cc_metric_t *m_points_created;
    cc_metric_t *m_ignored;       /* orderd events not for meald */
    cc_metric_t *m_address_rejected;  /* sealed addresses that did not open */
    cc_metric_t *m_open;          /* gauge: scheduled, not delivered */
    cc_metric_t *m_points;        /* gauge: meal points */
    cc_metric_t *m_lag_s;         /* gauge: age of the last applied orderd event */
    cc_metric_t *m_decide_s;      /* histogram: event decided -> committed */
    cc_metric_t *m_http_s;        /* histogram: write request -> reply */
    cc_metric_t *m_unserved[5];   /* meals no round can serve, by reason (md_rounds.h) */
    cc_metric_t *m_plans;         /* round plans stored */
    cc_metric_t *m_plan_s;        /* histogram: plan started -> planned (worker) */
    cc_metric_t *m_failed;        /* deliveries failed on site */
    cc_metric_t *m_couriers_created;
} md_app_t;

/* The elder's address for meal (sealed by orderd for meald, opened here)
 * into buf (CC_ADDRESS_MAX + 1 bytes always suffice): 0; -1 when the meal
 * has none (refused, released before addresses travelled) or it does not
 * open (logged with the order id, never the value; buf ""). Call it only
 * to answer an authorised read on a CC_ROUTE_PII route (so the read is
 * audited): the courier's rounds. Wipe buf after use (sodium_memzero). */
int md_meal_address(const md_app_t *app, const md_meal_t *meal, char *buf, size_t len);
/* At receipt: 1 if blob (MealReleased.address_sealed of order_id) opens
 * with meald's transit key; else 0, logged (order and key id, never the
 * bytes) and counted (meald_address_rejected_total): the meal is kept
 * without it, so a tampered or foreign blob never stops a meal. */
int md_address_ok(md_app_t *app, const char *order_id, const uint8_t *blob, size_t len);

/* Runtime hooks (cc_rt_spec_t), app an md_app_t: metrics, state, the prune
 * and sweep timers; arm the timers once loaded; disarm them on stop; free
 * what init made (after the loop). */
int md_app_init(void *app);
int md_app_start(void *app);
void md_app_stop(void *app);
void md_app_fini(void *app);

/* Refresh the gauges from the state. */
void md_app_gauges(md_app_t *app);

#endif
