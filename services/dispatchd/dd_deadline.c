/* dd_deadline: see dd_deadline.h for the rules. */
#include "dd_deadline.h"
#include "cc_time.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

/* The table's CHECKs (sql/dispatchd/007_deadlines.sql), again here: a row
 * edited past them by hand must not reach the arithmetic. */
static const struct {
    const char *name;
    size_t at;
    int64_t min, max;
} s_fields[] = {
    { "offer_s", offsetof(dd_deadline_rule_t, offer_s), 1, CC_S_PER_DAY },
    { "assign_s", offsetof(dd_deadline_rule_t, assign_s), 1, 7 * CC_S_PER_DAY },
    { "checkin_s", offsetof(dd_deadline_rule_t, checkin_s), 0, CC_S_PER_DAY },
    { "checkout_s", offsetof(dd_deadline_rule_t, checkout_s), 0, CC_S_PER_DAY },
    { "confirm_s", offsetof(dd_deadline_rule_t, confirm_s), 1, 7 * CC_S_PER_DAY },
    { "overdue_s", offsetof(dd_deadline_rule_t, overdue_s), 0, CC_S_PER_DAY },
};

int dd_deadline_rule_check(const dd_deadline_rule_t *r, const char **field)
{
    for (size_t i = 0; i < sizeof s_fields / sizeof *s_fields; i++) {
        int64_t v = *(const int64_t *) ((const char *) r + s_fields[i].at);
        if (v < s_fields[i].min || v > s_fields[i].max) {
            if (field)
                *field = s_fields[i].name;
            return -1;
        }
    }
    return 0;
}

const char *dd_stage_name(dd_stage_t s)
{
    static const char *const names[DD_STAGE_N] = {"", "unaccepted", "not_checked_in",
                                                  "not_checked_out", "unconfirmed"};
    return s >= 0 && s < DD_STAGE_N ? names[s] : "";
}

const char *dd_decide_name(dd_decide_t d)
{
    return d == DD_DECIDE_CONFIRM ? "confirm" : d == DD_DECIDE_REJECT ? "reject" : "?";
}

/* a + b without overflow: stored times come from other daemons and people. */
static int64_t s_add(int64_t a, int64_t b)
{
    int64_t r;
    if (__builtin_add_overflow(a, b, &r))
        return b > 0 ? INT64_MAX : INT64_MIN;
    return r;
}

static int64_t s_secs(int64_t s)
{
    return s * CC_US_PER_S;   /* s <= 7 days (dd_deadline_rule_check): no overflow */
}

dd_stage_t dd_deadline_of(const dd_visit_t *v, const dd_deadline_rule_t *r, dd_deadline_t *out)
{
    assert(v && r && out);
    memset(out, 0, sizeof *out);
    out->to = DD_VISIT_FAILED;
    out->reason = "";
    int64_t grace = s_secs(r->overdue_s);
    switch (v->state) {
    case DD_VISIT_WAITING:
    case DD_VISIT_PLANNED:
    case DD_VISIT_ASSIGNED: {
        /* From its release: a visit planned overnight is due to be
         * accepted assign_s after it is offered, not after its booking. */
        int64_t from = v->release_us > v->created_us ? v->release_us : v->created_us;
        int64_t by = s_add(from, s_secs(r->assign_s));
        out->stage = DD_STAGE_UNACCEPTED;
        out->due_us = by < v->window_end_us ? by : v->window_end_us;
        out->reason = DD_REASON_NO_CAREGIVER;
        break;
    }
    case DD_VISIT_ACCEPTED:
        out->stage = DD_STAGE_NOT_CHECKED_IN;
        out->due_us = s_add(v->window_end_us, s_secs(r->checkin_s));
        out->reason = DD_REASON_NO_CHECK_IN;
        break;
    case DD_VISIT_CHECKED_IN:
        out->stage = DD_STAGE_NOT_CHECKED_OUT;
        out->due_us = s_add(s_add(v->checked_in_us,
                                  (int64_t) dd_service_minutes(v->service) * CC_US_PER_MIN),
                            s_secs(r->checkout_s));
        out->to = DD_VISIT_UNCONFIRMED;
        break;
    case DD_VISIT_UNCONFIRMED:
        /* An exception from the start: the dispatcher's limit is confirm_s. */
        out->stage = DD_STAGE_UNCONFIRMED;
        out->due_us = v->unconfirmed_us;
        grace = s_secs(r->confirm_s);
        out->reason = DD_REASON_UNCONFIRMED;
        break;
    default:
        out->stage = DD_STAGE_NONE;
        out->to = v->state;
        return DD_STAGE_NONE;
    }
    out->resolve_us = s_add(out->due_us, grace);
    /* The unconfirmed stage is long (a day): it is held only for its last
     * overdue_s, so that a restart does not restart the dispatcher's day. */
    out->hold_us = grace < s_secs(r->overdue_s) ? grace : s_secs(r->overdue_s);
    return out->stage;
}

dd_due_t dd_deadline_due(const dd_visit_t *v, const dd_deadline_rule_t *r, int64_t now_us,
                         dd_deadline_t *out)
{
    dd_deadline_t d;
    if (!out)
        out = &d;
    if (dd_deadline_of(v, r, out) == DD_STAGE_NONE)
        return DD_DUE_NONE;
    if (now_us >= out->resolve_us)
        return DD_DUE_RESOLVE;
    return now_us >= out->due_us ? DD_DUE_OVERDUE : DD_DUE_ON_TIME;
}

int dd_deadline_ripe(dd_visit_t *v, const dd_deadline_rule_t *r, int64_t now_us,
                     int64_t mono_us, dd_deadline_t *out)
{
    dd_deadline_t d;
    if (!out)
        out = &d;
    if (dd_deadline_of(v, r, out) == DD_STAGE_NONE)
        return 0;
    return cc_hold_ripe(&v->hold, now_us, mono_us, out->resolve_us, out->hold_us);
}

dd_decide_verdict_t dd_deadline_decide(const dd_visit_t *v, dd_decide_t d, dd_visit_state_t *to,
                                       cc_err_t *err)
{
    assert(v && to && (d == DD_DECIDE_CONFIRM || d == DD_DECIDE_REJECT));
    *to = v->state;
    /* A confirmed visit is the only completed one without a check-out time. */
    if (d == DD_DECIDE_CONFIRM && v->state == DD_VISIT_COMPLETED && v->checked_out_us == 0
        && v->unconfirmed_us > 0)
        return DD_DECIDE_REPEAT;
    if (d == DD_DECIDE_REJECT && v->state == DD_VISIT_FAILED
        && strcmp(v->fail_reason, DD_REASON_REJECTED) == 0)
        return DD_DECIDE_REPEAT;
    if (v->state != DD_VISIT_UNCONFIRMED) {
        cc_err_set(err, 409, "illegal_transition", "state", "cannot %s: visit is %s",
                   dd_decide_name(d), dd_visit_state_name(v->state));
        return DD_DECIDE_REFUSED;
    }
    *to = d == DD_DECIDE_CONFIRM ? DD_VISIT_COMPLETED : DD_VISIT_FAILED;
    return DD_DECIDE_DO;
}

/* Board order of the overdue head: the soonest resolution first, then the
 * queue's own order. */
typedef struct {
    dd_visit_t *v;
    int64_t resolve_us;
} s_item_t;

static int s_item_cmp(const void *a, const void *b)
{
    const s_item_t *x = a, *y = b;
    if (x->resolve_us != y->resolve_us)
        return x->resolve_us < y->resolve_us ? -1 : 1;
    return dd_visit_urgency_cmp(&x->v, &y->v);
}

size_t dd_deadline_board(dd_visit_t *const *active, size_t n, const dd_deadlines_t *rules,
                         uint32_t district, int64_t now_us, dd_visit_t ***out,
                         size_t *noverdue)
{
    *out = NULL;
    *noverdue = 0;
    s_item_t *over = n ? malloc(n * sizeof *over) : NULL;
    dd_visit_t **rest = n ? malloc(n * sizeof *rest) : NULL;
    if (n && (!over || !rest)) {
        free(over);
        free(rest);
        return (size_t) -1;
    }
    size_t no = 0, nr = 0;
    for (size_t i = 0; i < n; i++) {
        dd_visit_t *v = active[i];
        if (district && v->district_id != district)
            continue;
        int svc = v->service >= 0 && v->service <= DD_SVC_MAX ? v->service : 0;
        dd_deadline_t d;
        dd_due_t due = dd_deadline_due(v, &rules->svc[svc], now_us, &d);
        if (due == DD_DUE_OVERDUE || due == DD_DUE_RESOLVE || v->state == DD_VISIT_UNCONFIRMED)
            over[no++] = (s_item_t) { v, d.resolve_us };
        else if (v->state == DD_VISIT_WAITING || v->state == DD_VISIT_ASSIGNED
                 || v->state == DD_VISIT_PLANNED)   /* not accepted yet: a dispatcher's */
            rest[nr++] = v;
    }
    size_t total = no + nr;
    if (total) {
        qsort(over, no, sizeof *over, s_item_cmp);
        qsort(rest, nr, sizeof *rest, dd_visit_urgency_cmp);
        /* rest has room for n >= total: reuse it as the answer. */
        memmove(rest + no, rest, nr * sizeof *rest);
        for (size_t i = 0; i < no; i++)
            rest[i] = over[i].v;
        *out = rest;
        rest = NULL;
    }
    free(over);
    free(rest);
    *noverdue = no;
    return total;
}
