/* dd_domain: see dd_domain.h for the rules. */
#include "dd_domain.h"

#include <stdlib.h>
#include <string.h>

#define S_US 1000000LL
#define S_DAY_US (86400LL * S_US)
#define S_TZ_US (8LL * 3600 * S_US)   /* Asia/Shanghai, no DST */

/* Minutes of service by Cc__Service value (issue 4's table). */
static const int s_minutes[DD_SVC_MAX + 1] = {
    [DD_SVC_BATH] = 60,      [DD_SVC_CLEANING] = 90,  [DD_SVC_ESCORT] = 60,
    [DD_SVC_MEDICAL_ESCORT] = 180, [DD_SVC_EMERGENCY] = 60, [DD_SVC_VISIT] = 45,
    [DD_SVC_ASSESSMENT] = 60,
};

int dd_service_minutes(int service)
{
    if (service < 0 || service > DD_SVC_MAX)
        return 0;
    return s_minutes[service];
}

int dd_service_is_visit(int service)
{
    return dd_service_minutes(service) > 0;
}

static const char *const s_ability[] = {"", "intact", "mild", "moderate", "severe", "total"};

dd_ability_t dd_ability_parse(const char *s)
{
    if (!s)
        return DD_ABILITY_UNKNOWN;
    for (int i = 1; i <= DD_ABILITY_TOTAL; i++)
        if (strcmp(s, s_ability[i]) == 0)
            return (dd_ability_t) i;
    return DD_ABILITY_UNKNOWN;
}

const char *dd_ability_name(dd_ability_t a)
{
    return a >= DD_ABILITY_UNKNOWN && a <= DD_ABILITY_TOTAL ? s_ability[a] : "";
}

static const char *const s_states[DD_VISIT_NSTATES] = {
    "waiting", "assigned", "accepted", "checked_in", "completed", "failed", "cancelled",
};

const char *dd_visit_state_name(dd_visit_state_t s)
{
    return s >= 0 && s < DD_VISIT_NSTATES ? s_states[s] : "unknown";
}

int dd_visit_state_parse(const char *s)
{
    for (int i = 0; s && i < DD_VISIT_NSTATES; i++)
        if (strcmp(s, s_states[i]) == 0)
            return i;
    return -1;
}

int dd_visit_state_planned(dd_visit_state_t s)
{
    return s == DD_VISIT_ASSIGNED || s == DD_VISIT_ACCEPTED || s == DD_VISIT_CHECKED_IN;
}

int dd_visit_state_final(dd_visit_state_t s)
{
    return s == DD_VISIT_COMPLETED || s == DD_VISIT_FAILED || s == DD_VISIT_CANCELLED;
}

int dd_caregiver_has_skill(const dd_caregiver_t *c, int service)
{
    return service > 0 && service <= DD_SVC_MAX && (c->skills & (1u << service)) != 0;
}

int dd_plan_add(dd_caregiver_t *c, dd_visit_t *v)
{
    if (c->nplan == c->capplan) {
        size_t cap = c->capplan ? c->capplan * 2 : 8;
        dd_visit_t **p = realloc(c->plan, cap * sizeof *p);
        if (!p)
            return -1;
        c->plan = p;
        c->capplan = cap;
    }
    size_t i = c->nplan;
    while (i > 0 && c->plan[i - 1]->eta_us > v->eta_us) {
        c->plan[i] = c->plan[i - 1];
        i--;
    }
    c->plan[i] = v;
    c->nplan++;
    return 0;
}

void dd_plan_remove(dd_caregiver_t *c, dd_visit_t *v)
{
    for (size_t i = 0; i < c->nplan; i++) {
        if (c->plan[i] == v) {
            memmove(&c->plan[i], &c->plan[i + 1], (c->nplan - i - 1) * sizeof *c->plan);
            c->nplan--;
            return;
        }
    }
}

int dd_visit_declined_by(const dd_visit_t *v, const char *caregiver_id)
{
    for (size_t i = 0; i < v->ndeclined; i++)
        if (strcmp(v->declined[i], caregiver_id) == 0)
            return 1;
    return 0;
}

int dd_visit_add_declined(dd_visit_t *v, const char *caregiver_id)
{
    if (dd_visit_declined_by(v, caregiver_id))
        return 0;
    if (v->ndeclined >= DD_MAX_DECLINED || strlen(caregiver_id) >= DD_ID_LEN)
        return -1;
    char (*d)[DD_ID_LEN] = realloc(v->declined, (v->ndeclined + 1) * sizeof *d);
    if (!d)
        return -1;
    v->declined = d;
    strcpy(v->declined[v->ndeclined++], caregiver_id);
    return 0;
}

int dd_visit_urgency_cmp(const void *a, const void *b)
{
    const dd_visit_t *x = *(const dd_visit_t *const *) a;
    const dd_visit_t *y = *(const dd_visit_t *const *) b;
    if (x->emergency != y->emergency)
        return x->emergency ? -1 : 1;
    if (x->window_start_us != y->window_start_us)
        return x->window_start_us < y->window_start_us ? -1 : 1;
    if (x->priority != y->priority)
        return x->priority > y->priority ? -1 : 1;
    if (x->created_us != y->created_us)
        return x->created_us < y->created_us ? -1 : 1;
    return strcmp(x->id, y->id);
}

static const char *const s_fits[] = {
    "ok", "skill", "level", "first_aid", "declined", "too_far", "no_time",
};

const char *dd_fit_name(dd_fit_t f)
{
    return f >= DD_FIT_OK && f <= DD_FIT_NO_TIME ? s_fits[f] : "unknown";
}

static int s_needs_first_aid(const dd_visit_t *v)
{
    return v->emergency || v->service == DD_SVC_EMERGENCY;
}

dd_fit_t dd_qualified(const dd_caregiver_t *c, const dd_visit_t *v)
{
    if (!dd_caregiver_has_skill(c, v->service))
        return DD_FIT_SKILL;
    if (v->service == DD_SVC_BATH && c->level < 2
        && (v->ability == DD_ABILITY_SEVERE || v->ability == DD_ABILITY_TOTAL))
        return DD_FIT_LEVEL;
    if (s_needs_first_aid(v) && !c->first_aid)
        return DD_FIT_FIRST_AID;
    if (dd_visit_declined_by(v, c->id))
        return DD_FIT_DECLINED;
    return DD_FIT_OK;
}

/* Floor division for negative times (before 1970 never happens, but the
 * arithmetic stays right). */
static int64_t s_floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

void dd_shift_at(int start_min, int end_min, int64_t t_us, int64_t *start_us, int64_t *end_us)
{
    int len = ((end_min - start_min) % 1440 + 1440) % 1440;
    if (len == 0)
        len = 1440;
    /* Local midnight of t, then the occurrences starting yesterday, today and
     * tomorrow: the first one still running (or ahead) at t. */
    int64_t day0 = s_floor_div(t_us + S_TZ_US, S_DAY_US) * S_DAY_US - S_TZ_US;
    for (int k = -1; k <= 1; k++) {
        int64_t s = day0 + k * S_DAY_US + (int64_t) start_min * 60 * S_US;
        int64_t e = s + (int64_t) len * 60 * S_US;
        if (e > t_us) {
            *start_us = s;
            *end_us = e;
            return;
        }
    }
    *start_us = day0 + S_DAY_US + (int64_t) start_min * 60 * S_US;   /* unreachable */
    *end_us = *start_us + (int64_t) len * 60 * S_US;
}

static int64_t s_max(int64_t a, int64_t b)
{
    return a > b ? a : b;
}

dd_fit_t dd_fit(const dd_caregiver_t *c, const dd_visit_t *v, const dd_match_params_t *p,
                int ignore_shift, dd_match_t *out)
{
    dd_fit_t q = dd_qualified(c, v);
    if (q != DD_FIT_OK)
        return q;
    int64_t dur = (int64_t) dd_service_minutes(v->service) * 60 * S_US;
    int64_t ws = v->window_start_us, we = v->window_end_us;
    int64_t sh_start = INT64_MIN / 4, sh_end = INT64_MAX / 4;
    if (!ignore_shift)
        dd_shift_at(c->shift_start_min, c->shift_end_min, s_max(ws, p->now_us), &sh_start,
                    &sh_end);
    int too_far = 0;
    /* Gap g lies between plan[g-1] (or home at the shift start) and plan[g]. */
    for (size_t g = 0; g <= c->nplan; g++) {
        const dd_visit_t *prev = g > 0 ? c->plan[g - 1] : NULL;
        if (prev && prev->planned_end_us < sh_start)
            prev = NULL;                        /* an earlier shift's: home again */
        const dd_visit_t *next = g < c->nplan ? c->plan[g] : NULL;
        if (next && next->planned_end_us <= ws)
            continue;                           /* whole gap before the window */
        /* Bounds with zero travel first: most gaps of a busy day fail them,
         * and the travel estimate (trigonometry) is the expensive part. */
        int64_t free_from = prev ? prev->planned_end_us : sh_start;
        int64_t lb = s_max(s_max(ws, p->now_us), free_from);
        if (lb > we || lb + dur > sh_end)
            break;                              /* later gaps start later still */
        if (next && lb + dur > next->eta_us)
            continue;
        double olat = prev ? prev->lat : c->lat, olon = prev ? prev->lon : c->lon;
        int travel = p->travel(olat, olon, v->lat, v->lon);
        if (p->max_travel_s > 0 && travel > p->max_travel_s) {
            too_far = 1;
            continue;
        }
        int64_t tr = (int64_t) travel * S_US;
        int64_t t0 = s_max(s_max(ws, p->now_us + tr), free_from + tr);
        if (t0 > we)
            break;                              /* later gaps start later still */
        if (t0 + dur > sh_end)
            break;
        if (next) {
            int back = p->travel(v->lat, v->lon, next->lat, next->lon);
            if (t0 + dur + (int64_t) back * S_US > next->eta_us)
                continue;
        }
        out->caregiver = (dd_caregiver_t *) c;
        out->eta_us = t0;
        out->end_us = t0 + dur;
        out->travel_s = travel;
        out->preferred = v->preferred_caregiver_id[0]
                         && strcmp(v->preferred_caregiver_id, c->id) == 0;
        out->off_shift = ignore_shift;
        return DD_FIT_OK;
    }
    return too_far ? DD_FIT_TOO_FAR : DD_FIT_NO_TIME;
}

/* 1 if a is a better choice than b for v. */
static int s_better(const dd_match_t *a, const dd_match_t *b, const dd_visit_t *v)
{
    if (a->preferred != b->preferred)
        return a->preferred;
    int64_t ka = v->emergency ? a->eta_us : a->travel_s;
    int64_t kb = v->emergency ? b->eta_us : b->travel_s;
    if (ka != kb)
        return ka < kb;
    if (a->eta_us != b->eta_us)
        return a->eta_us < b->eta_us;
    if (a->caregiver->nplan != b->caregiver->nplan)
        return a->caregiver->nplan < b->caregiver->nplan;
    return strcmp(a->caregiver->id, b->caregiver->id) < 0;
}

int dd_match(dd_caregiver_t *const *cgs, size_t n, const dd_visit_t *v,
             const dd_match_params_t *p, dd_match_t *out)
{
    int passes = s_needs_first_aid(v) ? 2 : 1;
    for (int pass = 0; pass < passes; pass++) {
        int found = 0;
        dd_match_t best = {0};
        for (size_t i = 0; i < n; i++) {
            dd_match_t m;
            if (dd_fit(cgs[i], v, p, pass == 1, &m) != DD_FIT_OK)
                continue;
            if (!found || s_better(&m, &best, v)) {
                best = m;
                found = 1;
            }
        }
        if (found) {
            *out = best;
            return 0;
        }
    }
    return -1;
}

int dd_match_preempt(dd_caregiver_t *const *cgs, size_t n, const dd_visit_t *v,
                     const dd_match_params_t *p, dd_match_t *out, dd_visit_t **bumped)
{
    if (!s_needs_first_aid(v))
        return -1;
    for (int pass = 0; pass < 2; pass++) {
        int found = 0;
        dd_match_t best = {0};
        dd_visit_t *best_b = NULL;
        for (size_t i = 0; i < n; i++) {
            dd_caregiver_t *c = cgs[i];
            if (dd_qualified(c, v) != DD_FIT_OK)
                continue;
            for (size_t k = 0; k < c->nplan; k++) {
                dd_visit_t *b = c->plan[k];
                if (b->state != DD_VISIT_ASSIGNED || b->emergency
                    || b->service == DD_SVC_EMERGENCY)
                    continue;
                /* Try the plan without b, then put b back where it was. */
                memmove(&c->plan[k], &c->plan[k + 1], (c->nplan - k - 1) * sizeof *c->plan);
                c->nplan--;
                dd_match_t m;
                dd_fit_t f = dd_fit(c, v, p, pass == 1, &m);
                memmove(&c->plan[k + 1], &c->plan[k], (c->nplan - k) * sizeof *c->plan);
                c->plan[k] = b;
                c->nplan++;
                if (f != DD_FIT_OK)
                    continue;
                if (!found || m.eta_us < best.eta_us
                    || (m.eta_us == best.eta_us && strcmp(c->id, best.caregiver->id) < 0)) {
                    best = m;
                    best_b = b;
                    found = 1;
                }
            }
        }
        if (found) {
            *out = best;
            *bumped = best_b;
            return 0;
        }
    }
    return -1;
}

int dd_match_urgent(dd_caregiver_t *const *cgs, size_t n, const dd_visit_t *v,
                    const dd_match_params_t *p, dd_match_t *out, dd_visit_t **bumped)
{
    *bumped = NULL;
    int rc = dd_match(cgs, n, v, p, out);
    if (!s_needs_first_aid(v))
        return rc;
    dd_match_t pm;
    dd_visit_t *b = NULL;
    if (dd_match_preempt(cgs, n, v, p, &pm, &b) != 0)
        return rc;
    if (rc == 0 && pm.eta_us + DD_PREEMPT_GAIN_US > out->eta_us)
        return rc;   /* the free slot is nearly as soon: bump nobody */
    *out = pm;
    *bumped = b;
    return 0;
}
