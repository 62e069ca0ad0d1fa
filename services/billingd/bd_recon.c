/* bd_recon: see bd_recon.h. */
#include "bd_recon.h"
#include <stdio.h>
#include <stdlib.h>
#include "bd_store.h"
#include "cc_log.h"

static const char *const s_kinds[3] = {
    "captured_undelivered", "delivered_uncaptured", "provider_mismatch",
};

static void s_on_result(PGresult *res, void *arg)
{
    bd_app_t *app = arg;
    app->recon_busy = 0;
    if (!bd_res_ok(res))
        return;   /* a read: try again next time */
    long n[3];
    int bad = 0;
    for (int i = 0; i < 3; i++) {
        json_t *list = json_loads(PQgetvalue(res, 0, 2 + i), 0, NULL);
        n[i] = list ? (long)json_array_size(list) : 0;
        json_decref(list);
        char name[96];
        snprintf(name, sizeof name, "billingd_reconciliation_items{kind=\"%s\"}", s_kinds[i]);
        cc_metric_set(cc_metrics_gauge(name, "orders out of step between captures and delivery "
                                             "reports at the last run (at most 100 each)"),
                      (double)n[i]);
        bad |= n[i] > 0;
    }
    if (bad) {
        char a[24], b[24], c[24];
        snprintf(a, sizeof a, "%ld", n[0]);
        snprintf(b, sizeof b, "%ld", n[1]);
        snprintf(c, sizeof c, "%ld", n[2]);
        cc_warn("reconciliation_mismatch", s_kinds[0], a, s_kinds[1], b, s_kinds[2], c);
    }
}

static void s_on_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    bd_app_t *app = arg;
    if (app->recon_busy)
        return;
    /* The last interval is left out: its logs may still be on their way. */
    cc_args_t a;
    cc_args_init(&a, &bd_stmts[BD_ST_RECON]);
    cc_args_int(&a, "grace_s", app->recon_interval_s);
    if (cc_db_call(app->rt.reader, &a, s_on_result, app) == 0)
        app->recon_busy = 1;
}

int bd_recon_start(bd_app_t *app)
{
    if (app->recon_interval_s <= 0)
        return 0;
    app->ev_recon = event_new(app->rt.base, -1, EV_PERSIST, s_on_timer, app);
    if (!app->ev_recon)
        return -1;
    struct timeval tv = { (time_t)app->recon_interval_s, 0 };
    return event_add(app->ev_recon, &tv);
}

void bd_recon_stop(bd_app_t *app)
{
    if (app->ev_recon) {
        event_free(app->ev_recon);
        app->ev_recon = NULL;
    }
}
