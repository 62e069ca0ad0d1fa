/* meald_events: the events meald consumes from orderd's log (md_events.c
 * table) through the consumer's checks, then md_events_decide, the
 * function the handlers run before queuing their SQL, on an app that holds
 * only a state, which lives for one input and holds two meal points: a
 * released meal order placed at the nearest point with room before the
 * cut-off (md_choose, then md_meal_schedule, which the handler treats as
 * certain: it stops meald if it fails) or refused (md_meal_load), with the
 * event meald appends (MealScheduled or MealRefused, packed: cc_event_pack
 * asserts its schema); a cancellation of a scheduled meal, which memory
 * follows once the store agrees (done here as the result callback does);
 * the effect call's arguments checked by fuzz_args.h; accounts changed
 * (the revocation table). The extra record delivers the meal whose order
 * id is its payload. Input: see fuzz_events.h. */
#include "fuzz_events.h"
#include "fuzz_args.h"
#include "cc_revoke.h"
#include "md_domain.h"
#include "md_events.h"

static const fz_log_t s_tab[] = {
    { "orderd", md_events_from_orderd },
};

static const fz_log_t *s_logs(size_t *n)
{
    *n = 1;
    return s_tab;
}

/* Zeroed but for the state and a 5 km distance limit (the daemon's default
 * is none; with one, refusals for distance are reached): no metrics (NULL
 * is accepted). */
static md_app_t s_app;
static md_state_t *s_state;

static void s_begin(void)
{
    s_state = md_state_new();
    if (!s_state)
        abort();
    static const struct { const char *id; double lat, lon; } pts[] = {
        { "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d", 31.2304, 121.4737 },
        { "8b7c6d5e-4f3a-4b2c-9d1e-0f9a8b7c6d5e", 31.2404, 121.4837 },
    };
    for (size_t i = 0; i < 2; i++) {
        md_point_t p;
        memset(&p, 0, sizeof p);
        snprintf(p.id, sizeof p.id, "%s", pts[i].id);
        snprintf(p.name, sizeof p.name, "point %zu", i);
        snprintf(p.provider_id, sizeof p.provider_id, "%s", pts[i].id);
        p.district_id = 1;
        p.lat = pts[i].lat;
        p.lon = pts[i].lon;
        p.slots[MD_LUNCH] = (md_slot_conf_t) { 1, 2, 10 * 60 };
        p.slots[MD_DINNER] = (md_slot_conf_t) { 1, 1, 15 * 60 };
        if (!md_point_add(s_state, &p))
            abort();
    }
    memset(&s_app, 0, sizeof s_app);
    s_app.state = s_state;
    s_app.max_distance_m = 5000;
}

static void s_end(void)
{
    md_state_destroy(&s_state);
}

static void s_extra(const fz_log_t *log, const uint8_t *data, size_t len)
{
    (void) log;
    char id[MD_ID_LEN];
    snprintf(id, sizeof id, "%.*s", (int) (len < MD_ID_LEN - 1 ? len : MD_ID_LEN - 1),
             (const char *) data);
    md_meal_t *m = md_meal_find(s_state, id);
    if (m && m->status == MD_MEAL_SCHEDULED && md_meal_deliver(s_state, m, FZ_NOW_US, "") != 0)
        abort();
}

static void s_apply(const fz_log_t *log, const Cc__Envelope *env, const ProtobufCMessage *msg)
{
    (void) log;
    if (strcmp(env->type, "AccountChanged") == 0) {
        if (cc_revoke_on_account_changed(NULL, env, msg, NULL) != 0)
            abort();
        return;
    }
    md_effect_t e;
    if (md_events_decide(&s_app, env, msg, FZ_NOW_US, &e) != 0)
        abort();   /* a table type the handlers do not decide */
    if (e.done) {
        static const char *const ids[] = { "order_id", "point", NULL };
        fz_args_check(&e.args, ids);
        md_meal_t *m = e.meal;
        if (!m || md_meal_find(s_state, m->order_id) != m)
            abort();   /* the effect names a meal in memory */
        if (strcmp(env->type, "OrderCancelled") == 0) {
            /* After the store agrees (s_on_cancelled): scheduled -> cancelled. */
            if (e.payload || md_meal_cancel(s_state, m) != 0)
                abort();
        } else if (!e.payload || (m->status == MD_MEAL_SCHEDULED) != (m->point != NULL)) {
            abort();   /* a release appends its event; scheduled at a point or refused */
        }
    } else if (e.meal || e.payload) {
        abort();   /* a skipped event changes nothing */
    }
    md_effect_free(&e);
}
