/* dd_capacity: see dd_capacity.h. */
#include "dd_capacity.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cc_event.h"
#include "cc_log.h"
#include "cc_map.h"
#include "cc_util.h"
#include "dd_dispatch.h"
#include "dd_rules.h"
#include "dd_store.h"
#include "events.pb-c.h"

/* Figures are recomputed at most this often (a pass over every plan). */
#define S_CHECK_US (5 * CC_US_PER_S)

static int s_cap_cmp(const void *a, const void *b)
{
    const dd_capacity_t *x = a, *y = b;
    if (x->district != y->district)
        return x->district < y->district ? -1 : 1;
    return x->day < y->day ? -1 : x->day > y->day;
}

int dd_capacity_compute(dd_caregiver_t *const *cgs, size_t n, int32_t from, int ndays,
                        dd_capacity_t **out)
{
    *out = NULL;
    if (ndays <= 0)
        return 0;
    /* Districts first: one row per district and day. */
    uint32_t *ds = NULL;
    size_t nd = 0;
    for (size_t i = 0; i < n; i++) {
        size_t k = 0;
        while (k < nd && ds[k] != cgs[i]->district_id)
            k++;
        if (k < nd)
            continue;
        uint32_t *t = realloc(ds, (nd + 1) * sizeof *ds);
        if (!t) {
            free(ds);
            return -1;
        }
        ds = t;
        ds[nd++] = cgs[i]->district_id;
    }
    dd_capacity_t *v = calloc(nd ? nd * (size_t) ndays : 1, sizeof *v);
    if (!v) {
        free(ds);
        return -1;
    }
    for (size_t k = 0; k < nd; k++)
        for (int d = 0; d < ndays; d++) {
            v[k * (size_t) ndays + (size_t) d].district = ds[k];
            v[k * (size_t) ndays + (size_t) d].day = from + d;
        }
    for (size_t i = 0; i < n; i++) {
        const dd_caregiver_t *c = cgs[i];
        size_t k = 0;
        while (ds[k] != c->district_id)
            k++;
        dd_capacity_t *row = &v[k * (size_t) ndays];
        for (int d = 0; d < ndays; d++) {
            int64_t s, e;
            if (dd_rules_shift_on(c, from + d, &s, &e) == 0) {
                row[d].shift_min += (int) ((e - s) / CC_US_PER_MIN);
                row[d].caregivers++;
            }
        }
        for (size_t p = 0; p < c->nplan; p++) {
            const dd_visit_t *x = c->plan[p];
            int32_t day = dd_day_of(x->eta_us);
            if (day < from || day >= from + ndays || dd_visit_state_final(x->state))
                continue;
            int64_t us = x->planned_end_us - x->eta_us;
            int min = (int) ((us > 0 ? us : 0) / CC_US_PER_MIN) + (x->travel_s + 59) / 60;
            row[day - from].planned_min += min;
            if (dd_visit_duty_rank(x) > 0)
                row[day - from].duty_min += min;
        }
    }
    free(ds);
    qsort(v, nd * (size_t) ndays, sizeof *v, s_cap_cmp);
    *out = v;
    return (int) (nd * (size_t) ndays);
}

int dd_capacity_changed(const dd_capacity_t *last, const dd_capacity_t *now, int threshold_min)
{
    if (last->caregivers != now->caregivers)
        return 1;
    int t = threshold_min > 0 ? threshold_min : 1;
    return abs(last->shift_min - now->shift_min) >= t
           || abs(last->planned_min - now->planned_min) >= t
           || abs(last->duty_min - now->duty_min) >= t;
}

/* ---- publishing ------------------------------------------------------------ */
typedef struct {
    dd_capacity_t last;
    int64_t at_us;
} s_sent_t;

static cc_map_t *s_sent;            /* "district:day" -> s_sent_t */
static int64_t s_last_check_us;
static int s_writing;               /* one statement in flight */

void dd_capacity_reset(dd_app_t *app)
{
    (void) app;
    cc_map_destroy(&s_sent, free);
    s_last_check_us = 0;
    /* A statement still in flight only appends figures: never wait on it. */
    s_writing = 0;
}

static void s_on_reported(PGresult *res, void *arg)
{
    dd_app_t *app = arg;
    s_writing = 0;
    /* Failed: logged and counted; forget what was sent, so the next check
     * sends every district-day again. */
    if (dd_write_failed(app, dd_stmts[DD_ST_CAPACITY].name, res, NULL))
        dd_capacity_reset(app);
}

static void s_oom(void)
{
    cc_error("out_of_memory", "where", "capacity");
    exit(1);
}

void dd_capacity_tick(dd_app_t *app, int64_t now_us)
{
    if (app->capacity_report_s <= 0 || s_writing || now_us - s_last_check_us < S_CHECK_US)
        return;
    s_last_check_us = now_us;
    if (!s_sent && !(s_sent = cc_map_new()))
        s_oom();
    size_t n;
    dd_caregiver_t *const *cgs = dd_world_caregivers(app->world, &n);
    dd_capacity_t *caps;
    int nc = dd_capacity_compute(cgs, n, dd_day_of(now_us), (int) app->capacity_days, &caps);
    if (nc < 0)
        s_oom();
    json_t *batch = json_array();
    if (!batch)
        s_oom();
    for (int i = 0; i < nc; i++) {
        const dd_capacity_t *c = &caps[i];
        char key[48], date[11];
        snprintf(key, sizeof key, "%u:%d", (unsigned) c->district, (int) c->day);
        s_sent_t *s = cc_map_get(s_sent, key);
        if (s && (now_us - s->at_us < app->capacity_report_s * CC_US_PER_S
                  || !dd_capacity_changed(&s->last, c, (int) app->capacity_threshold_min)))
            continue;
        if (!s) {
            if (!(s = calloc(1, sizeof *s)) || cc_map_put(s_sent, key, s, NULL) != 0)
                s_oom();
        }
        s->last = *c;
        s->at_us = now_us;
        dd_day_format(c->day, date, sizeof date);
        Cc__CapacityReported m = CC__CAPACITY_REPORTED__INIT;
        m.district_id = c->district;
        m.date = date;
        m.shift_min = c->shift_min;
        m.planned_min = c->planned_min;
        m.duty_min = c->duty_min;
        m.caregivers = c->caregivers;
        m.reported_us = now_us;
        size_t len = 0;
        uint8_t *pay = cc_event_pack(&m.base, &len);
        char *hex = pay ? cc_hex(pay, len) : NULL;
        char ev[CC_UUID_LEN], ek[64];
        cc_uuid(ev);
        snprintf(ek, sizeof ek, "%u:%s", (unsigned) c->district, date);
        json_t *o = hex ? json_pack("{s:I, s:s, s:s, s:s}", "district", (json_int_t) c->district,
                                    "key", ek, "ev", ev, "pay", hex)
                        : NULL;
        free(pay);
        free(hex);
        if (!o || json_array_append_new(batch, o) != 0)
            s_oom();
    }
    free(caps);
    if (json_array_size(batch) == 0) {
        json_decref(batch);
        return;
    }
    char *text = json_dumps(batch, JSON_COMPACT);
    size_t count = json_array_size(batch);
    json_decref(batch);
    if (!text)
        s_oom();
    cc_args_t a;
    cc_args_init(&a, &dd_stmts[DD_ST_CAPACITY]);
    cc_args_text(&a, "batch", text);
    if (cc_db_call(app->rt.writer, &a, s_on_reported, app) == 0)
        s_writing = 1;
    else
        dd_capacity_reset(app);   /* the writer's queue is full: all again later */
    free(text);
    cc_metric_add(app->m_capacity_reported, (double) count);
}
