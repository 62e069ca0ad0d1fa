/* dispatchd_events: the events dispatchd consumes from orderd's log
 * (dd_events.c table) through the consumer's checks, then what its
 * handlers decide in memory, in a world that lives for one input and has
 * two caregivers: a released visit order becomes a visit (the handler's
 * defaults for a missing window), is matched at once (dd_match_urgent) and
 * assigned, and the VisitAssigned event dispatchd appends is packed as the
 * handler does (cc_event_pack asserts its schema: eta and travel time must
 * fit it whatever the window said); a cancellation moves an open visit to
 * cancelled; accounts changed go to the revocation table. A bump of a
 * planned visit by an emergency (dd_bump_apply) needs the daemon and is
 * left out: a bumping match is not assigned here. The extra record does
 * nothing. Input: see fuzz_events.h. */
#include "fuzz_events.h"
#include "cc_revoke.h"
#include "cc_time.h"
#include "dd_domain.h"
#include "dd_events.h"
#include "dd_state.h"

#define S_DEFAULT_WINDOW_US (2 * CC_US_PER_HOUR)   /* dd_events.c */

static const fz_log_t s_tab[] = {
    { "orderd", dd_events_from_orderd },
};

static const fz_log_t *s_logs(size_t *n)
{
    *n = 1;
    return s_tab;
}

static dd_world_t *s_world;

static void s_begin(void)
{
    s_world = dd_world_new();
    if (!s_world)
        abort();
    static const char *const ids[] = { "5c4b3a29-1807-4f6e-8d5c-4b3a29180706",
                                       "4b3a2918-0706-4e5d-9c4b-3a2918070605" };
    for (int i = 0; i < 2; i++) {
        dd_caregiver_t *c = dd_caregiver_new();
        if (!c || !(c->name = strdup("caregiver")))
            abort();
        snprintf(c->id, sizeof c->id, "%s", ids[i]);
        snprintf(c->provider_id, sizeof c->provider_id, "%s", ids[1 - i]);
        c->district_id = 1;
        c->lat = 31.23 + 0.01 * i;
        c->lon = 121.47;
        c->skills = 0x1FEu;   /* every service but meals */
        c->level = 3;
        c->first_aid = 1;
        c->shift_start_min = i ? 0 : 8 * 60;
        c->shift_end_min = i ? 0 : 20 * 60;
        if (dd_world_add_caregiver(s_world, &c) != 0)
            abort();
    }
}

static void s_end(void)
{
    dd_world_destroy(&s_world);
}

static void s_extra(const fz_log_t *log, const uint8_t *data, size_t len)
{
    (void) log;
    (void) data;
    (void) len;
}

/* s_on_released of dd_events.c, without its SQL and timers. */
static void s_released(const Cc__OrderReleased *m)
{
    if (!dd_service_is_visit((int) m->service) || dd_world_visit_by_order(s_world, m->order_id))
        return;
    int64_t now = FZ_NOW_US;
    dd_visit_t *v = dd_visit_new();
    if (!v)
        abort();
    snprintf(v->id, sizeof v->id, "%s", m->order_id);   /* unique per order, as cc_uuid is */
    snprintf(v->order_id, sizeof v->order_id, "%s", m->order_id);
    snprintf(v->elder_id, sizeof v->elder_id, "%s", m->elder_id);
    snprintf(v->preferred_caregiver_id, sizeof v->preferred_caregiver_id, "%s",
             m->preferred_caregiver_id);
    v->service = (int) m->service;
    v->ability = dd_ability_parse(m->ability_level);
    v->emergency = m->emergency || m->service == CC__SERVICE__EMERGENCY;
    v->priority = m->priority;
    v->district_id = m->district_id;
    v->lat = m->lat;
    v->lon = m->lon;
    v->window_start_us = m->window_start_us > 0 ? m->window_start_us : now;
    v->window_end_us = m->window_end_us > v->window_start_us
                           ? m->window_end_us : v->window_start_us + S_DEFAULT_WINDOW_US;
    if (m->notes && m->notes[0])
        v->notes = strndup(m->notes, 1000);
    v->created_us = now;
    v->state = DD_VISIT_WAITING;
    dd_visit_t *keep = v;
    if (dd_world_add_visit(s_world, &v) != 0)
        abort();
    v = keep;
    dd_match_params_t p = { now, 0, cc_geo_travel_s, dd_geo_travel_lb };
    size_t n;
    dd_caregiver_t *const *cgs = dd_world_caregivers(s_world, &n);
    dd_match_t match;
    dd_visit_t *bumped = NULL;
    int found = dd_match_urgent(cgs, n, v, &p, &match, &bumped) == 0;
    if (!found || bumped || dd_world_assign(s_world, v, &match, now) != 0)
        return;
    Cc__VisitAssigned a = CC__VISIT_ASSIGNED__INIT;
    a.visit_id = v->id;
    a.order_id = v->order_id;
    a.caregiver_id = v->caregiver_id;
    a.provider_id = v->provider_id;
    a.eta_us = v->eta_us;
    a.travel_s = v->travel_s;
    size_t plen = 0;
    uint8_t *payload = cc_event_pack(&a.base, &plen);
    if (!payload)
        abort();
    free(payload);
}

static void s_apply(const fz_log_t *log, const Cc__Envelope *env, const ProtobufCMessage *msg)
{
    (void) log;
    if (strcmp(env->type, "VisitReleased") == 0) {
        /* The same fields as OrderReleased (dd_events.c reads either). */
        const Cc__VisitReleased *m = (const Cc__VisitReleased *) msg;
        Cc__OrderReleased o = CC__ORDER_RELEASED__INIT;
        o.order_id = m->order_id;
        o.elder_id = m->elder_id;
        o.service = m->service;
        o.window_start_us = m->window_start_us;
        o.window_end_us = m->window_end_us;
        o.district_id = m->district_id;
        o.lat = m->lat;
        o.lon = m->lon;
        o.ability_level = m->ability_level;
        o.emergency = m->emergency;
        o.priority = m->priority;
        o.notes = m->notes;
        o.preferred_caregiver_id = m->preferred_caregiver_id;
        s_released(&o);
    } else if (strcmp(env->type, "OrderReleased") == 0) {
        s_released((const Cc__OrderReleased *) msg);
    } else if (strcmp(env->type, "OrderCancelled") == 0) {
        const Cc__OrderCancelled *m = (const Cc__OrderCancelled *) msg;
        dd_visit_t *v = dd_world_visit_by_order(s_world, m->order_id);
        if (v && !dd_visit_state_final(v->state))
            dd_world_set_state(s_world, v, DD_VISIT_CANCELLED, FZ_NOW_US);
    } else if (strcmp(env->type, "AccountChanged") == 0) {
        if (cc_revoke_on_account_changed(NULL, env, msg, NULL) != 0)
            abort();
    }
}
