/* dd_visit: the caregiver app's steps on a visit (rules in dd_visit.h). */
#include "dd_visit.h"
#include "cc_event.h"
#include "cc_util.h"
#include "events.pb-c.h"

#include <assert.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

const char *dd_step_name(dd_step_t step)
{
    static const char *const names[DD_STEP_N] = {"accept", "decline", "check in",
                                                 "check out"};
    return step >= 0 && step < DD_STEP_N ? names[step] : "?";
}

/* State a step leaves the visit in when done, i.e. what a repeat finds.
 * A decline leaves no state of its own (the visit moves on to others);
 * its repeats are recognised by the decliner list instead. */
static dd_visit_state_t s_done_state(dd_step_t step)
{
    switch (step) {
    case DD_STEP_ACCEPT: return DD_VISIT_ACCEPTED;
    case DD_STEP_CHECK_IN: return DD_VISIT_CHECKED_IN;
    case DD_STEP_CHECK_OUT: return DD_VISIT_COMPLETED;
    default: return DD_VISIT_NSTATES;
    }
}

static int s_legal_from(dd_step_t step, dd_visit_state_t s)
{
    switch (step) {
    case DD_STEP_ACCEPT: return s == DD_VISIT_ASSIGNED;
    /* An accepted visit can still be given back before the check-in. */
    case DD_STEP_DECLINE: return s == DD_VISIT_ASSIGNED || s == DD_VISIT_ACCEPTED;
    case DD_STEP_CHECK_IN: return s == DD_VISIT_ACCEPTED;
    case DD_STEP_CHECK_OUT: return s == DD_VISIT_CHECKED_IN;
    default: return 0;
    }
}

static dd_visit_event_t s_event(dd_step_t step)
{
    switch (step) {
    case DD_STEP_ACCEPT: return DD_VISIT_EV_ACCEPTED;
    case DD_STEP_DECLINE: return DD_VISIT_EV_DECLINED;
    case DD_STEP_CHECK_IN: return DD_VISIT_EV_CHECKED_IN;
    case DD_STEP_CHECK_OUT: return DD_VISIT_EV_COMPLETED;
    default: return DD_VISIT_EV_NONE;
    }
}

/* out->err is already set. */
static dd_step_verdict_t s_refused(dd_step_result_t *out)
{
    return out->verdict = DD_STEP_REFUSED;
}

dd_step_verdict_t dd_visit_step(const dd_visit_t *v, dd_step_t step, const dd_step_req_t *req,
                                int64_t now_us, dd_step_result_t *out)
{
    assert(v && req && req->caregiver_id && out);
    assert(step >= 0 && step < DD_STEP_N);
    memset(out, 0, sizeof *out);
    out->step = step;
    int64_t at = req->at_us ? req->at_us : now_us;
    if (at > now_us + DD_STEP_FUTURE_SLACK_US) {
        cc_err_set(&out->err, 400, "invalid_value", "at", "at is in the future");
        return s_refused(out);
    }

    int mine = strcmp(v->caregiver_id, req->caregiver_id) == 0;
    if ((v->state == s_done_state(step) && mine)
        || (step == DD_STEP_DECLINE && dd_visit_declined_by(v, req->caregiver_id)))
        return out->verdict = DD_STEP_REPEAT;
    if (!s_legal_from(step, v->state)) {
        cc_err_set(&out->err, 409, "illegal_transition", "state", "cannot %s: visit is %s",
                   dd_step_name(step), dd_visit_state_name(v->state));
        return s_refused(out);
    }
    if (!mine) {
        cc_err_set(&out->err, 403, "not_assigned", "caregiver_id",
                   "the visit is not assigned to this caregiver");
        return s_refused(out);
    }
    if (step == DD_STEP_CHECK_OUT) {
        /* The assessor's result is the point of an assessment visit (001
         * §2): none, no completion; any other visit has no result to give. */
        int assessment = v->service == DD_SVC_ASSESSMENT;
        if (assessment && !req->assessed) {
            cc_err_set(&out->err, 422, "missing_field", "assessment",
                       "an assessment visit is checked out with its result");
            return s_refused(out);
        }
        if (!assessment && req->assessed) {
            cc_err_set(&out->err, 422, "invalid_value", "assessment",
                       "only an assessment visit carries an assessment");
            return s_refused(out);
        }
    }
    if (step == DD_STEP_CHECK_OUT && at < v->checked_in_us) {
        if (req->at_us) {
            cc_err_set(&out->err, 400, "invalid_value", "at", "check-out before check-in");
            return s_refused(out);
        }
        /* Stamped by us: our wall clock stepped back since check-in (NTP,
         * VM resume). Refusing would block the visit until the clock caught
         * up; it ended now, so record it as ending at check-in. */
        at = v->checked_in_us;
    }

    out->verdict = DD_STEP_DO;
    out->event = s_event(step);
    out->at_us = at;
    switch (step) {
    case DD_STEP_ACCEPT: out->state = DD_VISIT_ACCEPTED; break;
    case DD_STEP_DECLINE: out->state = DD_VISIT_WAITING; out->frees_slot = 1; break;
    case DD_STEP_CHECK_IN: out->state = DD_VISIT_CHECKED_IN; break;
    case DD_STEP_CHECK_OUT:
        out->state = DD_VISIT_COMPLETED;
        out->frees_slot = 1;   /* done earlier than planned, maybe */
        out->assessed = req->assessed;
        out->assess_level = req->assess_level;
        out->assess_score = req->assess_score;
        break;
    default: break;
    }
    if (step == DD_STEP_CHECK_IN || step == DD_STEP_CHECK_OUT) {
        out->lat = req->lat;
        out->lon = req->lon;
        /* Verification evidence: how far from the elder's home. */
        out->distance_m = (int) lround(cc_geo_distance_m(v->lat, v->lon, req->lat, req->lon));
    }
    return DD_STEP_DO;
}

void dd_visit_apply(dd_world_t *world, dd_visit_t *v, const dd_step_result_t *r,
                    int64_t now_us)
{
    assert(world && v && r && r->verdict == DD_STEP_DO && r->step != DD_STEP_DECLINE);
    switch (r->step) {
    case DD_STEP_ACCEPT:
        v->accepted_us = r->at_us;
        break;
    case DD_STEP_CHECK_IN:
        v->checked_in_us = r->at_us;
        v->in_lat = r->lat;
        v->in_lon = r->lon;
        v->in_distance_m = r->distance_m;
        break;
    case DD_STEP_CHECK_OUT:
        v->checked_out_us = r->at_us;
        v->out_lat = r->lat;
        v->out_lon = r->lon;
        v->out_distance_m = r->distance_m;
        if (v->caregiver && r->at_us >= v->caregiver->last_out_us) {
            /* The next trip starts here (the home, not the phone's fix). */
            v->caregiver->last_lat = v->lat;
            v->caregiver->last_lon = v->lon;
            v->caregiver->last_out_us = r->at_us;
        }
        break;
    default:
        return;
    }
    dd_world_set_state(world, v, r->state, now_us);
}

uint8_t *dd_visit_event_pack(const dd_visit_t *v, const dd_step_result_t *r, size_t *len)
{
    assert(v && r && len);
    /* protobuf-c's string fields are char *, never written by pack. */
    char *visit_id = (char *) v->id, *order_id = (char *) v->order_id;
    char *caregiver_id = (char *) v->caregiver_id;
    if (r->verdict != DD_STEP_DO)
        return NULL;
    switch (r->event) {
    case DD_VISIT_EV_ACCEPTED: {
        Cc__VisitAccepted m = CC__VISIT_ACCEPTED__INIT;
        m.visit_id = visit_id;
        m.order_id = order_id;
        m.caregiver_id = caregiver_id;
        return cc_event_pack(&m.base, len);
    }
    case DD_VISIT_EV_CHECKED_IN: {
        Cc__VisitCheckedIn m = CC__VISIT_CHECKED_IN__INIT;
        m.visit_id = visit_id;
        m.order_id = order_id;
        m.caregiver_id = caregiver_id;
        m.at_us = r->at_us;
        m.lat = r->lat;
        m.lon = r->lon;
        m.distance_m = r->distance_m;
        return cc_event_pack(&m.base, len);
    }
    case DD_VISIT_EV_COMPLETED: {
        Cc__VisitCompleted m = CC__VISIT_COMPLETED__INIT;
        m.visit_id = visit_id;
        m.order_id = order_id;
        m.caregiver_id = caregiver_id;
        m.provider_id = (char *) v->provider_id;
        m.checked_in_us = v->checked_in_us;
        m.checked_out_us = r->at_us;
        m.lat = r->lat;
        m.lon = r->lon;
        m.distance_m = r->distance_m;
        return cc_event_pack(&m.base, len);
    }
    default:
        return NULL;
    }
}

uint8_t *dd_visit_assessed_pack(const dd_visit_t *v, const dd_step_result_t *r, size_t *len)
{
    assert(v && r && len);
    if (r->verdict != DD_STEP_DO || r->step != DD_STEP_CHECK_OUT || !r->assessed)
        return NULL;
    Cc__VisitAssessed m = CC__VISIT_ASSESSED__INIT;
    m.visit_id = (char *) v->id;
    m.order_id = (char *) v->order_id;
    m.caregiver_id = (char *) v->caregiver_id;
    m.elder_id = (char *) v->elder_id;
    m.level = (char *) dd_ability_name(r->assess_level);
    m.score = r->assess_score;
    m.assessed_us = r->at_us;
    return cc_event_pack(&m.base, len);
}
