/* meald_events: the events meald consumes from orderd's log (md_events.c
 * table) through the consumer's checks, then what its handlers decide in
 * memory, in a state that lives for one input and holds two meal points:
 * a released meal order placed at the nearest point with room before the
 * cut-off (md_choose, then md_meal_schedule, which the handler treats as
 * certain: it stops meald if it fails) or refused (md_meal_load), and the
 * event meald appends (MealScheduled or MealRefused) packed as the handler
 * does (cc_event_pack asserts its schema); a cancellation of a scheduled
 * meal; accounts changed (the revocation table). The extra record
 * delivers the meal whose order id is its payload.
 * Input: see fuzz_events.h. */
#include "fuzz_events.h"
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

/* s_released of md_events.c, without its SQL. */
static void s_released(const Cc__OrderReleased *ev)
{
    if (ev->service != CC__SERVICE__MEAL || md_meal_find(s_state, ev->order_id))
        return;
    md_meal_t m;
    memset(&m, 0, sizeof m);
    snprintf(m.order_id, sizeof m.order_id, "%s", ev->order_id);
    m.district_id = ev->district_id;
    md_text_clean(m.diet, sizeof m.diet, ev->diet);
    m.lat = ev->lat;
    m.lon = ev->lon;
    m.window_start_us = ev->window_start_us;
    m.window_end_us = ev->window_end_us;
    md_slot_for_window(ev->window_start_us, &m.slot, &m.day);
    md_choice_t ch;
    md_choose(s_state, m.lat, m.lon, m.slot, m.day, FZ_NOW_US, 5000.0, &ch);
    Cc__MealScheduled sched = CC__MEAL_SCHEDULED__INIT;
    Cc__MealRefused refused = CC__MEAL_REFUSED__INIT;
    char date[16];
    md_day_format(m.day, date, sizeof date);
    if (ch.point) {
        m.point = ch.point;
        if (!md_meal_schedule(s_state, &m))
            abort();   /* the handler stops meald: cc_rt_fatal */
        sched.order_id = m.order_id;
        sched.meal_point_id = ch.point->id;
        sched.slot = (char *) md_slot_name(m.slot);
        sched.date = date;
        sched.provider_id = ch.point->provider_id;
    } else {
        m.status = MD_MEAL_REFUSED;
        m.reason = ch.reason;
        if (!md_meal_load(s_state, &m))
            abort();
        refused.order_id = m.order_id;
        refused.reason = (char *) md_refusal_name(ch.reason);
    }
    size_t len = 0;
    uint8_t *payload = cc_event_pack(ch.point ? &sched.base : &refused.base, &len);
    if (!payload)
        abort();
    free(payload);
}

static void s_apply(const fz_log_t *log, const Cc__Envelope *env, const ProtobufCMessage *msg)
{
    (void) log;
    if (strcmp(env->type, "MealReleased") == 0) {
        /* The fields md_events.c reads of either release. */
        const Cc__MealReleased *m = (const Cc__MealReleased *) msg;
        Cc__OrderReleased o = CC__ORDER_RELEASED__INIT;
        o.order_id = m->order_id;
        o.service = CC__SERVICE__MEAL;
        o.window_start_us = m->window_start_us;
        o.window_end_us = m->window_end_us;
        o.district_id = m->district_id;
        o.lat = m->lat;
        o.lon = m->lon;
        o.diet = m->diet;
        s_released(&o);
    } else if (strcmp(env->type, "OrderReleased") == 0) {
        s_released((const Cc__OrderReleased *) msg);
    } else if (strcmp(env->type, "OrderCancelled") == 0) {
        md_meal_t *m = md_meal_find(s_state, ((const Cc__OrderCancelled *) msg)->order_id);
        /* After the store agrees (s_on_cancelled): scheduled -> cancelled. */
        if (m && m->status == MD_MEAL_SCHEDULED && md_meal_cancel(s_state, m) != 0)
            abort();
    } else if (strcmp(env->type, "AccountChanged") == 0) {
        if (cc_revoke_on_account_changed(NULL, env, msg, NULL) != 0)
            abort();
    }
}
