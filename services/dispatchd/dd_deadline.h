/* dd_deadline: the deadline of every open visit state, and the dispatcher's
 * decision on a visit nobody checked out, as pure rules (no I/O, no clock:
 * the caller passes now). The numbers are data: table dispatchd.deadlines,
 * one row per visit service (sql/dispatchd/007_deadlines.sql); the design is
 * docs/ARCHITECTURE.md, "Deadlines".
 *
 * stage            state(s)            due (overdue from)                 resolved at due +  to
 * unaccepted       waiting, assigned   min(created + assign_s, window_end) overdue_s         failed (no_caregiver)
 * not_checked_in   accepted            window_end + checkin_s              overdue_s         failed (no_check_in)
 * not_checked_out  checked_in          checked_in + service + checkout_s   overdue_s         unconfirmed
 * unconfirmed      unconfirmed         unconfirmed_at                      confirm_s         failed (unconfirmed)
 *
 * Between due and resolution the visit is overdue: the dispatcher's queue
 * lists it first. An unconfirmed visit is an exception from the start: a
 * dispatcher confirms it (completed: VisitCompleted, billed) or rejects it
 * (failed: VisitFailed, the hold released) before confirm_s runs out.
 * Every stage ends in a final state or in the next stage, so no open visit,
 * and no hold on its order, outlives
 *   window_end + checkin_s + overdue_s + service + checkout_s + overdue_s + confirm_s
 * (a check-in comes at the latest at window_end + checkin_s + overdue_s).
 * Times are stored (timestamptz), so a restart finds what expired while the
 * daemon was down. A wall-clock step must not fail a visit: the sweep
 * resolves a visit only once it has also seen it, in monotonic time, for
 * hold_us before or past its resolution (dd_deadline_ripe, cc_clock.h), so
 * a restart resolves what expired meanwhile hold_us after it starts. */
#ifndef DD_DEADLINE_H
#define DD_DEADLINE_H
#include <stdint.h>

#include "cc_json.h"
#include "dd_domain.h"

/* One row of dispatchd.deadlines (seconds; ranges are the table's CHECKs). */
typedef struct {
    int64_t offer_s;     /* 1..86400: an offer not accepted moves on (re-dispatch) */
    int64_t assign_s;    /* 1..604800: nobody accepted since release: overdue */
    int64_t checkin_s;   /* 0..86400: after window_end, not checked in: overdue */
    int64_t checkout_s;  /* 0..86400: after check-in + service, not checked out: overdue */
    int64_t confirm_s;   /* 1..604800: a dispatcher decides an unconfirmed visit */
    int64_t overdue_s;   /* 0..86400: overdue (shown first) before it is resolved */
} dd_deadline_rule_t;

/* The rules of every visit service, by DD_SVC_* (meal's row is unused). */
typedef struct {
    dd_deadline_rule_t svc[DD_SVC_MAX + 1];
    int loaded[DD_SVC_MAX + 1];   /* a row was read for the service */
} dd_deadlines_t;

/* 0 if every field of r is inside its range, else -1 and *field (may be
 * NULL) names the first that is not. */
int dd_deadline_rule_check(const dd_deadline_rule_t *r, const char **field);

typedef enum {
    DD_STAGE_NONE = 0,          /* final: no deadline */
    DD_STAGE_UNACCEPTED,
    DD_STAGE_NOT_CHECKED_IN,
    DD_STAGE_NOT_CHECKED_OUT,
    DD_STAGE_UNCONFIRMED,
    DD_STAGE_N
} dd_stage_t;
/* "unaccepted", "not_checked_in", "not_checked_out", "unconfirmed"; "" for none. */
const char *dd_stage_name(dd_stage_t s);

typedef struct {
    dd_stage_t stage;
    int64_t due_us;             /* overdue from */
    int64_t resolve_us;         /* resolved at (>= due_us) */
    int64_t hold_us;            /* seen this long (monotonic) first: overdue_s,
                                 * for unconfirmed min(confirm_s, overdue_s) */
    dd_visit_state_t to;        /* the resolution: failed or unconfirmed */
    const char *reason;         /* VisitFailed reason (static), or "" for unconfirmed */
} dd_deadline_t;

/* v's current deadline under rule r. Saturating arithmetic: any stored
 * times give an answer, never an overflow. Returns out->stage. */
dd_stage_t dd_deadline_of(const dd_visit_t *v, const dd_deadline_rule_t *r, dd_deadline_t *out);

typedef enum {
    DD_DUE_NONE = 0,            /* final visit */
    DD_DUE_ON_TIME,             /* now < due */
    DD_DUE_OVERDUE,             /* due <= now < resolve: shown first, a warning */
    DD_DUE_RESOLVE              /* now >= resolve: the sweep resolves it */
} dd_due_t;
/* Where v stands at now_us (out, may be NULL, gets its deadline). */
dd_due_t dd_deadline_due(const dd_visit_t *v, const dd_deadline_rule_t *r, int64_t now_us,
                         dd_deadline_t *out);

/* Whether the sweep resolves v now: past its wall-clock resolution and seen
 * for d.hold_us of monotonic time in the stretch before it or past it
 * (cc_hold_ripe; updates v->hold, so call it every tick for every open
 * visit). out (may be NULL) gets the deadline. */
int dd_deadline_ripe(dd_visit_t *v, const dd_deadline_rule_t *r, int64_t now_us,
                     int64_t mono_us, dd_deadline_t *out);

/* ---- a dispatcher's decision on an unconfirmed visit ---------------------
 *
 * action    legal from    to          event
 * confirm   unconfirmed   completed   VisitCompleted (no check-out evidence:
 *                                     checked_out_us 0, distance_m -1)
 * reject    unconfirmed   failed      VisitFailed{reason: rejected}
 *
 * Repeats (confirm of a visit completed by a confirmation, reject of one
 * failed as rejected) answer the current state and change nothing; any
 * other state is 409 illegal_transition. */
typedef enum { DD_DECIDE_CONFIRM = 0, DD_DECIDE_REJECT, DD_DECIDE_N } dd_decide_t;
/* "confirm", "reject". */
const char *dd_decide_name(dd_decide_t d);

/* VisitFailed reasons of the deadlines and the dispatcher (fail_reason). */
#define DD_REASON_NO_CAREGIVER "no_caregiver"
#define DD_REASON_NO_CHECK_IN "no_check_in"
#define DD_REASON_UNCONFIRMED "unconfirmed"
#define DD_REASON_REJECTED "rejected"

typedef enum {
    DD_DECIDE_REFUSED = 0,      /* err says why */
    DD_DECIDE_REPEAT,           /* done before: answer the current state */
    DD_DECIDE_DO                /* apply: *to, append the event */
} dd_decide_verdict_t;

/* Decide d on v. Pure. *to gets the new state on DD_DECIDE_DO; err (may be
 * NULL) the refusal (409 illegal_transition, field state). */
dd_decide_verdict_t dd_deadline_decide(const dd_visit_t *v, dd_decide_t d, dd_visit_state_t *to,
                                       cc_err_t *err);

/* The dispatcher's board: overdue visits of any open state first (soonest
 * resolution first), then the waiting and unaccepted visits that are not
 * overdue, most urgent first (dd_visit_urgency_cmp). Only district's
 * (0: all). rules_of gives each visit's rule. *out is malloc'd (caller
 * frees; NULL when empty); *noverdue the length of the overdue head.
 * Returns the count, or (size_t)-1 out of memory. */
size_t dd_deadline_board(dd_visit_t *const *active, size_t n, const dd_deadlines_t *rules,
                         uint32_t district, int64_t now_us, dd_visit_t ***out,
                         size_t *noverdue);

#endif
