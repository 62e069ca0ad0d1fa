/* md_sweep: see md_sweep.h. */
#include "md_sweep.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cc_event.h"
#include "cc_log.h"
#include "cc_util.h"
#include "md_plan.h"
#include "md_store.h"

typedef struct {
    md_app_t *app;
    char order_id[MD_ID_LEN];
    int64_t at_us;
} s_expire_t;

static void s_on_expired(PGresult *res, void *arg)
{
    s_expire_t *x = arg;
    md_app_t *app = x->app;
    md_meal_t *m = md_meal_find(app->state, x->order_id);
    if (md_store_failed(&app->rt, "md_expire", res, NULL)) {
        /* Memory expires a meal only once stored: the next sweep tries again. */
        if (m)
            m->expiring = 0;
        free(x);
        return;
    }
    if (!md_store_ok(res))
        cc_rt_fatal("md_expire", res);
    if (m)
        m->expiring = 0;
    /* noop: delivered or cancelled first (same connection, in order): their
     * own callbacks have moved memory on. */
    if (strcmp(PQgetvalue(res, 0, 0), "applied") == 0 && m
        && md_meal_expire(app->state, m, x->at_us) == 0) {
        cc_metric_inc(app->m_expired);
        cc_warn("meal_undelivered", "order_id", x->order_id, "reason",
                MD_REASON_NOT_DELIVERED);
    }
    md_app_gauges(app);
    free(x);
}

static void s_expire(md_app_t *app, md_meal_t *m, int64_t now)
{
    Cc__MealRefused ev = CC__MEAL_REFUSED__INIT;
    ev.order_id = m->order_id;
    ev.reason = MD_REASON_NOT_DELIVERED;
    size_t len = 0;
    uint8_t *payload = cc_event_pack(&ev.base, &len);
    s_expire_t *x = calloc(1, sizeof *x);
    if (!payload || !x)
        cc_rt_fatal("out_of_memory", NULL);
    x->app = app;
    x->at_us = now;
    snprintf(x->order_id, sizeof x->order_id, "%s", m->order_id);
    char out_id[CC_UUID_LEN];
    cc_uuid(out_id);
    cc_args_t a;
    cc_args_init(&a, &md_stmts[MD_ST_EXPIRE]);
    cc_args_text(&a, "order_id", m->order_id);
    cc_args_int(&a, "at_us", now);
    cc_args_text(&a, "out_id", out_id);
    cc_args_bytes(&a, "payload", payload, len);
    if (cc_db_call(app->rt.writer, &a, s_on_expired, x) != 0)
        cc_rt_fatal("queue_failed", NULL);
    free(payload);
    m->expiring = 1;
}

static void s_on_deadlines(PGresult *res, void *arg)
{
    md_app_t *app = arg;
    app->deadlines_reading = 0;
    const char *what = NULL;
    md_deadline_rule_t d[MD_NSLOTS];
    if (md_store_load_deadlines(d, res, &what) != 0) {
        /* A bad edit or a lost connection: keep the rules we have. */
        cc_warn("deadlines_not_reloaded", "what", what, "status",
                PQresStatus(PQresultStatus(res)));
        return;
    }
    memcpy(app->deadlines, d, sizeof d);
}

/* An operator's UPDATE of table deadlines applies without a restart. */
static void s_refresh(md_app_t *app)
{
    int64_t mono = cc_mono_us();
    if (app->deadlines_reading
        || mono - app->last_deadlines_mono_us < app->deadlines_refresh_s * CC_US_PER_S)
        return;
    app->last_deadlines_mono_us = mono;
    cc_args_t a;
    cc_args_init(&a, &md_stmts[MD_ST_LOAD_DEADLINES]);
    if (cc_db_call(app->rt.reader, &a, s_on_deadlines, app) == 0)
        app->deadlines_reading = 1;
}

void md_sweep_on_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    md_app_t *app = arg;
    if (app->rt.stopping)
        return;
    s_refresh(app);
    /* Deadlines are stored times: the wall clock; a meal expires only once
     * also seen overdue in monotonic time (md_meal_ripe), so a wall-clock
     * step expires nothing. The tick is libevent's (monotonic). The open
     * list does not change here (memory follows the commit), so it is
     * walked as is. */
    (void) cc_clock_watch(&app->clock, app->m_clock_steps);
    int64_t now = cc_now_us(), mono = cc_mono_us();
    size_t n, budget = MD_SWEEP_BUDGET, overdue = 0;
    md_meal_t *const *open = md_open_meals(app->state, &n);
    for (size_t i = 0; i < n; i++) {
        md_meal_t *m = open[i];
        md_due_t due = md_meal_due(m, &app->deadlines[m->slot], now, NULL, NULL);
        int ripe = md_meal_ripe(m, &app->deadlines[m->slot], now, mono);
        if (ripe && !m->expiring && budget > 0) {
            budget--;
            s_expire(app, m, now);
        }
        if (due == MD_DUE_OVERDUE || due == MD_DUE_RESOLVE) {
            overdue++;
            if (!m->overdue_logged) {
                m->overdue_logged = 1;
                cc_warn("meal_overdue", "order_id", m->order_id, "meal_point_id",
                        m->point ? m->point->id : NULL);
            }
        }
    }
    cc_metric_set(app->m_overdue, (double)overdue);
    md_plan_tick(app, now);
}
