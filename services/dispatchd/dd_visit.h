/* dd_visit: the caregiver app's steps on a visit as pure rules (no I/O, no
 * clock: the caller passes now). docs/API-dispatchd.md, "Caregiver app steps":
 *
 * step       legal from          by                   to           event
 * accept     assigned            current caregiver    accepted     VisitAccepted
 * decline    assigned, accepted  current caregiver    waiting (*)  VisitDeclined
 * check_in   accepted            current caregiver    checked_in   VisitCheckedIn
 * check_out  checked_in          current caregiver    completed    VisitCompleted
 *
 * (*) dd_dispatch_decline then re-offers it to the next caregiver, if any.
 *
 * Checks, in this order (the first that fails decides):
 * 1. at (default now) more than DD_STEP_FUTURE_SLACK_US ahead of now: 400.
 * 2. Repeat: the visit is already in the step's target state with the same
 *    caregiver, or (decline) the caregiver declined it before: answered as
 *    done with the current state, nothing changes (an app retrying after a
 *    lost reply).
 * 3. Not legal from the visit's state: 409 illegal_transition.
 * 4. Another caregiver's visit: 403 not_assigned.
 * 5. check_out of an assessment visit without its result, or with one on
 *    any other service: 422, field "assessment" (the result's shape is
 *    dd_http_read_step's).
 * 6. check_out before the check-in time: 400. */
#ifndef DD_VISIT_H
#define DD_VISIT_H
#include <stddef.h>
#include <stdint.h>

#include "cc_json.h"
#include "dd_state.h"

/* A check-in/out time may run a little ahead of our clock (phone clocks). */
#define DD_STEP_FUTURE_SLACK_US (5LL * 60 * 1000000)

typedef enum {
    DD_STEP_ACCEPT = 0,
    DD_STEP_DECLINE,
    DD_STEP_CHECK_IN,
    DD_STEP_CHECK_OUT,
    DD_STEP_N
} dd_step_t;
/* "accept", "decline", "check in", "check out" (as in error messages). */
const char *dd_step_name(dd_step_t step);

typedef enum {
    DD_VISIT_EV_NONE = 0,
    DD_VISIT_EV_ACCEPTED,       /* Cc__VisitAccepted */
    DD_VISIT_EV_DECLINED,       /* Cc__VisitDeclined (dd_dispatch_decline writes it) */
    DD_VISIT_EV_CHECKED_IN,     /* Cc__VisitCheckedIn */
    DD_VISIT_EV_COMPLETED       /* Cc__VisitCompleted */
} dd_visit_event_t;

/* What the caregiver's app sent. */
typedef struct {
    const char *caregiver_id;   /* borrowed; required */
    int64_t at_us;              /* when it happened; 0: now */
    double lat, lon;            /* where (check_in, check_out) */
    /* check_out: the assessment's result (issue 13), assessed 0 if none sent */
    int assessed;
    dd_ability_t assess_level;
    int assess_score;           /* 0..100 */
} dd_step_req_t;

typedef enum {
    DD_STEP_REFUSED = 0,        /* out->err says why; nothing changes */
    DD_STEP_REPEAT,             /* done before: answer the current state, nothing changes */
    DD_STEP_DO                  /* legal: apply out, append out->event */
} dd_step_verdict_t;

typedef struct {
    dd_step_verdict_t verdict;
    cc_err_t err;               /* DD_STEP_REFUSED: status 400/403/409, error, field */
    /* DD_STEP_DO */
    dd_step_t step;
    dd_visit_state_t state;     /* the new state (decline: waiting, before a re-offer) */
    dd_visit_event_t event;
    int64_t at_us;              /* accepted / checked in / checked out at (now if absent) */
    double lat, lon;            /* check_in, check_out */
    int distance_m;             /* check_in, check_out: from the elder's home */
    int frees_slot;             /* the caregiver's plan gets room: retry the queue */
    int assessed;               /* check_out of an assessment: its result */
    dd_ability_t assess_level;
    int assess_score;
} dd_step_result_t;

/* Decide step on v for req at now_us. Pure: reads v only. Returns (and sets
 * out->verdict) DD_STEP_REFUSED, DD_STEP_REPEAT or DD_STEP_DO. */
dd_step_verdict_t dd_visit_step(const dd_visit_t *v, dd_step_t step, const dd_step_req_t *req,
                                int64_t now_us, dd_step_result_t *out);

/* Apply a DD_STEP_DO of accept, check_in or check_out to v in world: record
 * the times and place, and move v to r->state (dd_world_set_state, which
 * frees the plan slot on completion). A decline is not applied here:
 * dd_dispatch_decline remembers the decliner and re-offers. Timers are the
 * caller's. */
void dd_visit_apply(dd_world_t *world, dd_visit_t *v, const dd_step_result_t *r,
                    int64_t now_us);

/* The event payload of a DD_STEP_DO of accept, check_in or check_out
 * (VisitAccepted, VisitCheckedIn, VisitCompleted), packed; v before or after
 * dd_visit_apply. malloc'd, the caller frees it; *len is its size. NULL for a
 * decline (dd_dispatch_decline packs VisitDeclined) or out of memory. */
uint8_t *dd_visit_event_pack(const dd_visit_t *v, const dd_step_result_t *r, size_t *len);

/* The VisitAssessed payload of a check-out that carries an assessment
 * (r->assessed), packed; malloc'd, the caller frees it. NULL if r carries
 * none, or out of memory (then r->assessed is still set: the caller tells). */
uint8_t *dd_visit_assessed_pack(const dd_visit_t *v, const dd_step_result_t *r, size_t *len);

#endif
