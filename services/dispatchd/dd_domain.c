/* dd_domain: see dd_domain.h for the rules. */
#include "dd_domain.h"
#include "dd_rules.h"
#include "cc_util.h"
#include "vrp.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define S_US CC_US_PER_S
#define S_DAY_US (86400LL * S_US)
#define S_TZ_US ((int64_t)CC_TZ_OFFSET_S * S_US)   /* Asia/Shanghai, no DST */

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
    "waiting", "assigned", "accepted", "checked_in", "unconfirmed", "completed", "failed",
    "cancelled", "planned",
};

const char *dd_visit_state_name(dd_visit_state_t s)
{
    return s >= 0 && s < DD_VISIT_NSTATES ? s_states[s] : "unknown";
}

const char *dd_visit_state_stored(dd_visit_state_t s)
{
    return dd_visit_state_name(s == DD_VISIT_PLANNED ? DD_VISIT_WAITING : s);
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
    return s == DD_VISIT_ASSIGNED || s == DD_VISIT_ACCEPTED || s == DD_VISIT_CHECKED_IN
           || s == DD_VISIT_PLANNED;
}

int dd_visit_state_final(dd_visit_state_t s)
{
    return s == DD_VISIT_COMPLETED || s == DD_VISIT_FAILED || s == DD_VISIT_CANCELLED;
}

int dd_caregiver_has_skill(const dd_caregiver_t *c, int service)
{
    return service > 0 && service <= DD_SVC_MAX && (c->skills & (1u << service)) != 0;
}

int dd_caregiver_same(const dd_caregiver_t *a, const dd_caregiver_t *b)
{
    const char *an = a->name ? a->name : "", *bn = b->name ? b->name : "";
    return strcmp(a->provider_id, b->provider_id) == 0 && a->district_id == b->district_id
           && strcmp(an, bn) == 0 && a->lat == b->lat && a->lon == b->lon
           && a->skills == b->skills && a->level == b->level && a->first_aid == b->first_aid
           && a->shift_start_min == b->shift_start_min && a->shift_end_min == b->shift_end_min;
}

/* The plan, its start times and its points in one block (plan_eta and
 * plan_pt after plan's capacity), so that whoever frees plan frees all. */
static int s_plan_reserve(dd_caregiver_t *c, size_t need)
{
    const size_t per = sizeof *c->plan + sizeof *c->plan_eta + sizeof *c->plan_pt;
    if (need <= c->capplan)
        return 0;
    size_t cap = c->capplan ? c->capplan : 8;
    while (cap < need) {
        if (cap > SIZE_MAX / 2 / per)
            return -1;
        cap *= 2;
    }
    /* Pointers and int64_t first: plan_pt (doubles) stays aligned. */
    void *block = malloc(cap * per);
    if (!block)
        return -1;
    dd_visit_t **plan = block;
    int64_t *eta = (int64_t *) (plan + cap);
    dd_plan_pt_t *pt = (dd_plan_pt_t *) (eta + cap);
    if (c->nplan) {
        memcpy(plan, c->plan, c->nplan * sizeof *plan);
        memcpy(eta, c->plan_eta, c->nplan * sizeof *eta);
        memcpy(pt, c->plan_pt, c->nplan * sizeof *pt);
    }
    free(c->plan);
    c->plan = plan;
    c->plan_eta = eta;
    c->plan_pt = pt;
    c->capplan = cap;
    return 0;
}

static void s_box_add(dd_caregiver_t *c, const double u[3])
{
    for (int k = 0; k < 3; k++) {
        if (c->box_n == 0 || u[k] < c->box_lo[k])
            c->box_lo[k] = u[k];
        if (c->box_n == 0 || u[k] > c->box_hi[k])
            c->box_hi[k] = u[k];
    }
    c->box_n = 1;
}

static void s_plan_set(dd_caregiver_t *c, size_t i, const dd_visit_t *v)
{
    c->plan_eta[i] = v->eta_us;
    dd_plan_pt_t *pt = &c->plan_pt[i];
    vrp_geo_point(v->lat, v->lon, pt->u);
    pt->end_us = v->planned_end_us;
    pt->checked_in = v->state == DD_VISIT_CHECKED_IN;
    s_box_add(c, pt->u);   /* a moved point's old place stays inside: still a box of all */
}

static void s_plan_insert_at(dd_caregiver_t *c, size_t i, dd_visit_t *v)
{
    size_t n = c->nplan - i;
    memmove(&c->plan[i + 1], &c->plan[i], n * sizeof *c->plan);
    memmove(&c->plan_eta[i + 1], &c->plan_eta[i], n * sizeof *c->plan_eta);
    memmove(&c->plan_pt[i + 1], &c->plan_pt[i], n * sizeof *c->plan_pt);
    c->plan[i] = v;
    s_plan_set(c, i, v);
    c->nplan++;
}

static void s_plan_delete_at(dd_caregiver_t *c, size_t i)
{
    size_t n = c->nplan - i - 1;
    memmove(&c->plan[i], &c->plan[i + 1], n * sizeof *c->plan);
    memmove(&c->plan_eta[i], &c->plan_eta[i + 1], n * sizeof *c->plan_eta);
    memmove(&c->plan_pt[i], &c->plan_pt[i + 1], n * sizeof *c->plan_pt);
    c->nplan--;
}

/* The box of the points left after a removal (a plan is tens of visits,
 * removals are rare beside decisions). dd_plan_lift leaves it as it is: a
 * box of more points is still a box of all, and the visit comes back. */
static void s_box_remake(dd_caregiver_t *c)
{
    c->box_n = 0;
    for (size_t k = 0; k < c->nplan; k++)
        s_box_add(c, c->plan_pt[k].u);
}

int dd_plan_add(dd_caregiver_t *c, dd_visit_t *v)
{
    if (s_plan_reserve(c, c->nplan + 1) != 0)
        return -1;
    size_t i = c->nplan;
    while (i > 0 && c->plan_eta[i - 1] > v->eta_us)
        i--;
    s_plan_insert_at(c, i, v);
    c->plan_ver++;
    return 0;
}

dd_visit_t *dd_plan_lift(dd_caregiver_t *c, size_t k)
{
    dd_visit_t *v = c->plan[k];
    s_plan_delete_at(c, k);
    return v;
}

void dd_plan_put_back(dd_caregiver_t *c, size_t k, dd_visit_t *v)
{
    s_plan_insert_at(c, k, v);   /* capacity: it was there a moment ago */
}

size_t dd_plan_seek(const dd_caregiver_t *c, int64_t t)
{
    /* The first i with plan_eta[i] > t. Branch-free: the decision bisects
     * every caregiver's plan per visit, and which way each step goes is a
     * coin toss the branch predictor loses (about half of the steps). The
     * base moves to the probe's right while plan_eta[probe] <= t. */
    const int64_t *e = c->plan_eta;
    size_t n = c->nplan, base = 0;
    if (n == 0)
        return 0;
    while (n > 1) {
        size_t half = n / 2;
        base = e[base + half - 1] <= t ? base + half : base;
        n -= half;
    }
    return base + (e[base] <= t);
}

void dd_plan_refresh(dd_caregiver_t *c, const dd_visit_t *v)
{
    /* Found by its start: the plan is in order of it. */
    for (size_t i = dd_plan_seek(c, v->eta_us - 1); i < c->nplan && c->plan_eta[i] == v->eta_us;
         i++)
        if (c->plan[i] == v) {
            s_plan_set(c, i, v);
            return;
        }
}

int dd_caregiver_at(const dd_caregiver_t *c, int64_t shift_start_us, int64_t now_us,
                    double *lat, double *lon)
{
    *lat = c->lat;
    *lon = c->lon;
    if (c->last_out_us <= 0 || c->last_out_us < shift_start_us || c->last_out_us > now_us)
        return 0;
    *lat = c->last_lat;
    *lon = c->last_lon;
    return 1;
}

int64_t dd_visit_busy_until_us(const dd_visit_t *v)
{
    int64_t end = v->planned_end_us;
    if (v->state == DD_VISIT_CHECKED_IN && v->checked_in_us > 0) {
        int64_t e = v->checked_in_us + (int64_t) dd_service_minutes(v->service) * 60 * S_US;
        if (e > end)
            end = e;
    }
    return end;
}

void dd_plan_remove(dd_caregiver_t *c, dd_visit_t *v)
{
    for (size_t i = 0; i < c->nplan; i++) {
        if (c->plan[i] == v) {
            s_plan_delete_at(c, i);
            s_box_remake(c);
            c->plan_ver++;
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

int dd_visit_duty_rank(const dd_visit_t *v)
{
    if (v->emergency || v->priority < 0)
        return 0;
    int r = (v->priority >> 28) & 3;
    /* 3: a priority from before the ranks (window minutes filled bits 0-29). */
    return r == 3 ? 0 : r;
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
    "ok", "skill", "level", "first_aid", "declined", "too_far", "no_time", "certificate",
    "zone", "unavailable",
};

const char *dd_fit_name(dd_fit_t f)
{
    return f >= DD_FIT_OK && f <= DD_FIT_UNAVAILABLE ? s_fits[f] : "unknown";
}

dd_fit_t dd_qualified(const dd_caregiver_t *c, const dd_visit_t *v)
{
    /* Skill, level, first aid (certificates or the static fields), zone. */
    dd_fit_t r = dd_rules_qualified(c, v);
    if (r != DD_FIT_OK)
        return r;
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
