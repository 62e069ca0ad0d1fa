/* dispatchd_events: the events dispatchd consumes from orderd's log
 * (dd_events.c table) through the consumer's checks, then
 * dd_events_decide, the function the handlers run before queuing their SQL
 * (the handler then arms the accept timer and logs), on an app that holds
 * only a world, which lives for one input and has two caregivers: a
 * released visit order becomes a visit (the handler's defaults for a
 * missing window), is matched at once (dd_model_match_urgent; an emergency may
 * bump an unaccepted routine offer, dd_bump_apply, with its VisitDeclined)
 * and assigned, with the VisitAssigned event packed (cc_event_pack asserts
 * its schema: eta and travel time must fit it whatever the window said); a
 * cancellation moves an open visit to cancelled; the effect call's
 * arguments are checked by fuzz_args.h. Offers are never accepted here, so
 * a later emergency can bump them. Accounts changed go to the revocation
 * table. The extra record does nothing. Input: see fuzz_events.h. */
#include "fuzz_events.h"
#include "fuzz_args.h"
#include "cc_revoke.h"
#include "dd_domain.h"
#include "dd_events.h"
#include "dd_state.h"

static const fz_log_t s_tab[] = {
    { "orderd", dd_events_from_orderd },
};

static const fz_log_t *s_logs(size_t *n)
{
    *n = 1;
    return s_tab;
}

/* Zeroed but for the world: no metrics (NULL is accepted), no loop. */
static dd_app_t s_app;
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
    memset(&s_app, 0, sizeof s_app);
    s_app.world = s_world;
}

static void s_end(void)
{
    dd_world_destroy(&s_world);
    s_app.world = NULL;
}

static void s_extra(const fz_log_t *log, const uint8_t *data, size_t len)
{
    (void) log;
    (void) data;
    (void) len;
}

static void s_apply(const fz_log_t *log, const Cc__Envelope *env, const ProtobufCMessage *msg)
{
    (void) log;
    if (strcmp(env->type, "AccountChanged") == 0) {
        if (cc_revoke_on_account_changed(NULL, env, msg, NULL) != 0)
            abort();
        return;
    }
    dd_effect_t e;
    if (dd_events_decide(&s_app, env, msg, FZ_NOW_US, &e) != 0)
        abort();   /* a table type the handlers do not decide */
    if (e.done) {
        static const char *const ids[] = { "order", "b_order", "elder", "pref", NULL };
        fz_args_check(&e.args, ids);
        dd_visit_t *v = e.visit;
        if (!v || dd_world_visit(s_world, v->id) != v)
            abort();   /* the effect names a visit of the world */
        if (strcmp(env->type, "OrderCancelled") == 0) {
            if (v->state != DD_VISIT_CANCELLED)
                abort();
        } else {
            if (e.assigned != (e.payload != NULL) || (e.assigned && !v->caregiver_id[0]))
                abort();   /* an offer made at once appends its VisitAssigned */
            if (e.bumped && (e.bumped->state != DD_VISIT_WAITING || !e.bump.pay))
                abort();   /* the bumped visit waits again, with its VisitDeclined */
        }
    } else if (e.visit || e.payload || e.bumped) {
        abort();   /* a skipped event changes nothing */
    }
    /* The store applies the effect: memory stays as decided. */
    dd_effect_free(&e);
}
