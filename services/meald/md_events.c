/* md_events: meald's side of orderd's log. See md_events.h. */
#include "md_events.h"
#include "cc_revoke.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cc_event.h"
#include "cc_log.h"
#include "cc_util.h"
#include "md_plan.h"
#include "md_store.h"

/* Context of one queued effect, resolved by order id in the callback (the
 * meal may have been pruned meanwhile, so no pointer is kept). */
typedef struct md_effect_ctx {
    md_app_t *app;
    char order_id[MD_ID_LEN];
    int64_t event_us;          /* orderd's commit time, for the lag gauge */
    int64_t decided_mono_us;
    md_refusal_t reason;
} s_ctx_t;

/* Length of the UTF-8 sequence at p (1..4), or 0 if invalid. */
static size_t s_utf8_len(const unsigned char *p)
{
    if (p[0] < 0x80)
        return 1;
    size_t n;
    uint32_t cp;
    if ((p[0] & 0xE0) == 0xC0) {
        n = 2;
        cp = p[0] & 0x1F;
    } else if ((p[0] & 0xF0) == 0xE0) {
        n = 3;
        cp = p[0] & 0x0F;
    } else if ((p[0] & 0xF8) == 0xF0) {
        n = 4;
        cp = p[0] & 0x07;
    } else {
        return 0;
    }
    for (size_t i = 1; i < n; i++) {
        if ((p[i] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (p[i] & 0x3F);
    }
    static const uint32_t min[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < min[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return n;
}

void md_text_clean(char *dst, size_t size, const char *src)
{
    size_t o = 0;
    const unsigned char *p = (const unsigned char *)(src ? src : "");
    while (*p) {
        size_t n = s_utf8_len(p);
        if (n == 0) {
            if (o + 1 >= size)
                break;
            dst[o++] = '?';
            p++;
            continue;
        }
        if (o + n >= size)
            break;
        memcpy(dst + o, p, n);
        o += n;
        p += n;
    }
    if (size)
        dst[o] = '\0';
}

static s_ctx_t *s_ctx(md_app_t *app, const char *order_id, const Cc__Envelope *env)
{
    s_ctx_t *ctx = calloc(1, sizeof *ctx);
    if (!ctx)
        return NULL;
    ctx->app = app;
    snprintf(ctx->order_id, sizeof ctx->order_id, "%s", order_id);
    ctx->event_us = env->time_us;
    ctx->decided_mono_us = cc_mono_us();
    return ctx;
}

/* Every effect function starts with the event being consumed
 * (cc_consume(producer, seq, event_id)) and the order it is about. */
static void s_args(cc_args_t *a, md_st_t st, const Cc__Envelope *env, const char *order_id)
{
    cc_args_init(a, &md_stmts[st]);
    cc_args_text(a, "producer", env->producer);
    cc_args_int(a, "seq", (int64_t)env->seq);
    cc_args_text(a, "event_id", env->id);
    cc_args_text(a, "order_id", order_id);
}

static void s_applied_metrics(s_ctx_t *ctx)
{
    md_app_t *app = ctx->app;
    cc_metric_observe(app->m_decide_s, (double)(cc_mono_us() - ctx->decided_mono_us) / CC_US_PER_S);
    if (ctx->event_us > 0) {
        double lag = (double)(cc_now_us() - ctx->event_us) / CC_US_PER_S;
        cc_metric_set(app->m_lag_s, lag > 0 ? lag : 0);
    }
    md_app_gauges(app);
}

static void s_on_decided(PGresult *res, void *arg)
{
    s_ctx_t *ctx = arg;
    md_app_t *app = ctx->app;
    const char *what = ctx->reason == MD_REFUSE_NONE ? "md_schedule" : "md_refuse";
    if (md_store_failed(&app->rt, what, res, NULL)) {
        /* Not stored: the meal decided into memory (with its place in the
         * slot) goes, so the retried event is decided afresh rather than
         * taken for a repeat and skipped. */
        md_meal_t *m = md_meal_find(app->state, ctx->order_id);
        md_meal_forget(app->state, &m);
        md_app_gauges(app);
        free(ctx);
        return;
    }
    if (!md_store_ok(res))
        cc_rt_fatal(what, res);
    const char *outcome = PQgetvalue(res, 0, 0);
    if (strcmp(outcome, "applied") == 0) {
        if (ctx->reason == MD_REFUSE_NONE) {
            cc_metric_inc(app->m_scheduled);
            md_meal_t *m = md_meal_find(app->state, ctx->order_id);
            cc_info("meal_scheduled", "order_id", ctx->order_id, "meal_point_id",
                    m && m->point ? m->point->id : NULL, "slot", m ? md_slot_name(m->slot)
                                                                   : NULL);
        } else {
            cc_metric_inc(app->m_refused[ctx->reason]);
            cc_info("meal_refused", "order_id", ctx->order_id, "reason",
                    md_refusal_name(ctx->reason));
        }
    } else if (strcmp(outcome, "exists") == 0) {
        /* The store already had a meal for this order that memory did not
         * (older than the retention window): undo our decision. */
        md_meal_t *m = md_meal_find(app->state, ctx->order_id);
        md_meal_forget(app->state, &m);
        cc_warn("meal_already_decided", "order_id", ctx->order_id);
    }
    /* "duplicate": this very statement committed before a reconnect; the
     * memory decision made once matches the store. */
    s_applied_metrics(ctx);
    free(ctx);
}

/* What meald reads of a release, from either release type. */
typedef struct {
    const char *order_id, *diet;
    int64_t window_start_us, window_end_us;
    uint32_t district_id;
    double lat, lon;
    ProtobufCBinaryData address_sealed;   /* MealReleased only */
    int eat_in;
    const char *meal_point_id;            /* a care plan's point, "" or NULL: none */
} s_release_t;

static void s_released(const Cc__Envelope *env, const s_release_t *ev, md_app_t *app,
                       int64_t now, md_effect_t *e)
{
    if (md_meal_find(app->state, ev->order_id)) {
        /* Released twice: the first decision stands. */
        cc_warn("meal_release_repeated", "order_id", ev->order_id);
        return;
    }
    md_meal_t m;
    memset(&m, 0, sizeof m);
    snprintf(m.order_id, sizeof m.order_id, "%s", ev->order_id);
    m.district_id = ev->district_id;
    md_text_clean(m.diet, sizeof m.diet, ev->diet);
    m.lat = ev->lat;
    m.lon = ev->lon;
    m.window_start_us = ev->window_start_us;
    m.window_end_us = ev->window_end_us;
    m.eat_in = ev->eat_in;
    md_slot_for_window(ev->window_start_us, &m.slot, &m.day);

    md_choice_t ch;
    if (md_choose_at(app->state, ev->meal_point_id, m.lat, m.lon, m.slot, m.day, now, &ch) != 0)
        md_choose(app->state, m.lat, m.lon, m.slot, m.day, now, (double)app->max_distance_m,
                  &ch);
    s_ctx_t *ctx = s_ctx(app, m.order_id, env);
    if (!ctx)
        cc_rt_fatal("out_of_memory", NULL);
    ctx->reason = ch.point ? MD_REFUSE_NONE : ch.reason;
    e->ctx = ctx;
    e->done = s_on_decided;
    Cc__MealScheduled sched = CC__MEAL_SCHEDULED__INIT;
    Cc__MealRefused refused = CC__MEAL_REFUSED__INIT;
    md_day_format(m.day, e->date, sizeof e->date);
    md_meal_t *kept;   /* the meal in memory: the args borrow from it */
    if (ch.point) {
        m.point = ch.point;
        /* Kept sealed as it came (cc_event checked its length) once it
         * opens; a refused meal needs none. */
        if (ev->address_sealed.len && md_address_ok(app, m.order_id, ev->address_sealed.data,
                                                    ev->address_sealed.len)) {
            m.address_sealed = ev->address_sealed.data;
            m.address_sealed_len = ev->address_sealed.len;
        }
        if (!(kept = md_meal_schedule(app->state, &m)))
            cc_rt_fatal("out_of_memory", NULL);
        sched.order_id = kept->order_id;
        sched.meal_point_id = ch.point->id;
        sched.slot = (char *)md_slot_name(kept->slot);
        sched.date = e->date;
        sched.provider_id = ch.point->provider_id;
    } else {
        m.status = MD_MEAL_REFUSED;
        m.reason = ch.reason;
        if (!(kept = md_meal_load(app->state, &m)))
            cc_rt_fatal("out_of_memory", NULL);
        refused.order_id = kept->order_id;
        refused.reason = (char *)md_refusal_name(ch.reason);
    }
    e->meal = kept;
    e->payload = cc_event_pack(ch.point ? &sched.base : &refused.base, &e->plen);
    if (!e->payload)
        cc_rt_fatal("out_of_memory", NULL);
    cc_uuid(e->out_id);
    /* md_schedule and md_refuse share their head and their tail. */
    cc_args_t *a = &e->args;
    s_args(a, ch.point ? MD_ST_SCHEDULE : MD_ST_REFUSE, env, kept->order_id);
    cc_args_int(a, "district", kept->district_id);
    if (ch.point) {
        cc_args_text(a, "point", ch.point->id);
        cc_args_text(a, "date", e->date);
        cc_args_text(a, "slot", md_slot_name(kept->slot));
        if (kept->address_sealed)
            cc_args_bytes(a, "address", kept->address_sealed, kept->address_sealed_len);
        else
            cc_args_null(a, "address");
    } else {
        cc_args_text(a, "reason", md_refusal_name(ch.reason));
    }
    cc_args_int(a, "window_start_us", kept->window_start_us);
    cc_args_int(a, "window_end_us", kept->window_end_us);
    cc_args_text(a, "diet", kept->diet);
    cc_args_float(a, "lat", kept->lat);
    cc_args_float(a, "lon", kept->lon);
    cc_args_text(a, "out_id", e->out_id);
    cc_args_bytes(a, "payload", e->payload, e->plen);
    if (ch.point)
        cc_args_text(a, "mode", kept->eat_in ? "eat_in" : "delivery");
}

static void s_on_cancelled(PGresult *res, void *arg)
{
    s_ctx_t *ctx = arg;
    md_app_t *app = ctx->app;
    if (md_store_failed(&app->rt, "md_cancel", res, NULL)) {
        free(ctx);   /* memory cancels only once stored; the consumer retries */
        return;
    }
    if (!md_store_ok(res))
        cc_rt_fatal("md_cancel", res);
    const char *outcome = PQgetvalue(res, 0, 0);
    md_meal_t *m = md_meal_find(app->state, ctx->order_id);
    if (strcmp(outcome, "applied") == 0 || strcmp(outcome, "duplicate") == 0) {
        /* "duplicate" is this statement committed before a reconnect: the
         * store has cancelled it, so memory must too. */
        if (m && md_meal_cancel(app->state, m) == 0) {
            cc_metric_inc(app->m_cancelled);
            cc_info("meal_cancelled", "order_id", ctx->order_id);
            md_plan_changed(app, m);   /* after the cut-off: its round goes */
        }
    } else if (m && m->status == MD_MEAL_SCHEDULED) {
        /* noop: the store holds no scheduled meal but memory does. */
        cc_rt_fatal("md_cancel_disagrees", NULL);
    }
    s_applied_metrics(ctx);
    free(ctx);
}

static void s_cancelled(const Cc__Envelope *env, const Cc__OrderCancelled *ev, md_app_t *app,
                        md_effect_t *e)
{
    md_meal_t *m = md_meal_find(app->state, ev->order_id);
    if (!m || m->status != MD_MEAL_SCHEDULED) {
        /* Not a meal of ours, refused, already cancelled or delivered:
         * nothing to free (the consumer records the position). */
        cc_metric_inc(app->m_ignored);
        return;
    }
    s_ctx_t *ctx = s_ctx(app, ev->order_id, env);
    if (!ctx)
        cc_rt_fatal("out_of_memory", NULL);
    e->ctx = ctx;
    e->done = s_on_cancelled;
    e->meal = m;
    s_args(&e->args, MD_ST_CANCEL, env, ctx->order_id);
}

int md_events_decide(md_app_t *app, const Cc__Envelope *env, const ProtobufCMessage *msg,
                     int64_t now, md_effect_t *e)
{
    memset(e, 0, sizeof *e);
    if (strcmp(env->type, "MealReleased") == 0) {
        const Cc__MealReleased *m = (const Cc__MealReleased *)msg;
        s_release_t r = {
            .order_id = m->order_id, .diet = m->diet, .window_start_us = m->window_start_us,
            .window_end_us = m->window_end_us, .district_id = m->district_id, .lat = m->lat,
            .lon = m->lon, .address_sealed = m->address_sealed,
            .eat_in = m->mode == CC__MEAL_MODE__MEAL_EAT_IN, .meal_point_id = m->meal_point_id,
        };
        s_released(env, &r, app, now, e);
    } else if (strcmp(env->type, "OrderReleased") == 0) {
        /* Logs written before the split: a meal's fields only. */
        const Cc__OrderReleased *m = (const Cc__OrderReleased *)msg;
        if (m->service != CC__SERVICE__MEAL) {
            cc_metric_inc(app->m_ignored);
            return 0;
        }
        s_release_t r = {
            .order_id = m->order_id, .diet = m->diet, .window_start_us = m->window_start_us,
            .window_end_us = m->window_end_us, .district_id = m->district_id, .lat = m->lat,
            .lon = m->lon,
        };
        s_released(env, &r, app, now, e);
    } else if (strcmp(env->type, "OrderCancelled") == 0) {
        s_cancelled(env, (const Cc__OrderCancelled *)msg, app, e);
    } else {
        return -1;
    }
    return 0;
}

void md_effect_free(md_effect_t *e)
{
    free(e->ctx);
    free(e->payload);
    e->ctx = NULL;
    e->payload = NULL;
}

static int s_on_event(cc_consumer_t *c, const Cc__Envelope *env, const ProtobufCMessage *msg,
                      void *arg)
{
    md_app_t *app = arg;
    md_effect_t e;
    if (md_events_decide(app, env, msg, cc_now_us(), &e) != 0)
        return 0;   /* not in the table below */
    if (e.done) {
        if (cc_consumer_call(c, &e.args, e.done, e.ctx) != 0)
            cc_rt_fatal("queue_failed", NULL);
        e.ctx = NULL;   /* the result callback owns it */
        if (e.payload)
            md_app_gauges(app);   /* a release decided into memory */
    }
    md_effect_free(&e);
    return 0;
}

/* Other types are skipped by the consumer (consumer_events_skipped_total). */
const cc_consumer_entry_t md_events_from_orderd[] = {
    { "MealReleased", &cc__meal_released__descriptor, s_on_event },
    { "OrderReleased", &cc__order_released__descriptor, s_on_event },
    { "OrderCancelled", &cc__order_cancelled__descriptor, s_on_event },
    CC_REVOKE_CONSUMER_ENTRY,
    { NULL, NULL, NULL },
};
