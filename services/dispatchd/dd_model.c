/* dd_model: see dd_model.h. */
#include "dd_model.h"
#include "dd_rules.h"
#include "cc_util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define S_US CC_US_PER_S
#define S_DAY_US (86400LL * S_US)
/* Longer than any visit (dd_service_minutes: 180 at most). */
#define S_VISIT_MAX_US (12 * 3600LL * S_US)
/* An emergency placed later than its ideal start costs this much per second
 * of delay, so that arrival time decides and travel only breaks ties. */
#define S_EMERGENCY_DELAY_COST 1000.0
/* A planned visit the caregiver can no longer reach by its time (they are
 * running late): their day is not planned around any more until it is
 * started. Small slack for rounding. */
#define S_LATE_SLACK_S 1.0

void dd_model_params_init(dd_model_params_t *p, int64_t now_us)
{
    memset(p, 0, sizeof *p);
    p->now_us = now_us;
    p->max_travel_s = 3600;
    p->continuity_s = 1800;
    p->balance = 1e-6;
}

static double s_metres(double lat1, double lon1, double lat2, double lon2)
{
    return vrp_geo_metres(lat1, lon1, lat2, lon2) * CC_GEO_DETOUR_FACTOR;
}

static double s_travel(double lat1, double lon1, double lat2, double lon2)
{
    return s_metres(lat1, lon1, lat2, lon2) / CC_GEO_SPEED_M_PER_S;
}

/* The cached unit vector of (lat, lon) in g. The cache is not part of the
 * value (const callers): it only saves the trigonometry. */
static const double *s_geo(const dd_geo_t *gc, double lat, double lon)
{
    dd_geo_t *g = (dd_geo_t *) gc;
    if (!g->ok || g->lat != lat || g->lon != lon) {
        vrp_geo_point(lat, lon, g->u);
        g->lat = lat;
        g->lon = lon;
        g->ok = 1;
    }
    return g->u;
}

#define S_CG_U(c) s_geo(&(c)->geo, (c)->lat, (c)->lon)
#define S_V_U(v) s_geo(&(v)->geo, (v)->lat, (v)->lon)

/* Travel seconds between two unit vectors: s_travel's number, bit for bit. */
static double s_travel_u(const double *a, const double *b)
{
    return vrp_geo_chord_metres(a, b) * CC_GEO_DETOUR_FACTOR / CC_GEO_SPEED_M_PER_S;
}


int64_t dd_model_travel_up_us(double lat1, double lon1, double lat2, double lon2)
{
    double t = s_travel(lat1, lon1, lat2, lon2);
    return isfinite(t) ? (int64_t) ceil(t - 1e-3) * S_US : 0;
}

int dd_model_near_home(const dd_caregiver_t *c, const dd_visit_t *v, int max_travel_s)
{
    return max_travel_s <= 0 || lround(s_travel_u(S_CG_U(c), S_V_U(v))) <= max_travel_s;
}

int dd_model_travel_s(double lat1, double lon1, double lat2, double lon2)
{
    double t = s_travel(lat1, lon1, lat2, lon2);
    return isfinite(t) ? (int) lround(t) : -1;
}

static int64_t s_max(int64_t a, int64_t b)
{
    return a > b ? a : b;
}

static int s_needs_first_aid(const dd_visit_t *v)
{
    return v->emergency || v->service == DD_SVC_EMERGENCY;
}

/* ---- the model ----------------------------------------------------------- */

typedef struct {
    dd_caregiver_t *cg;
    int64_t free_us;            /* leaves its start no earlier */
    double lat, lon;            /* where it starts */
    const double *u;            /* its unit vector (borrowed from a caregiver or visit) */
    int first;                  /* first job index of its route */
    int len;                    /* jobs on its route */
} s_veh_t;

typedef struct {
    int64_t origin_us;          /* model time 0 (now) */
    vrp_problem_t *prob;
    vrp_plan_t *plan;
    s_veh_t *veh;
    int nveh;
    dd_visit_t **job;           /* per job; the new visit last */
    int njob;
    size_t capjob;
    int target;                 /* the new visit's job */
} s_model_t;

static void s_model_free(s_model_t *m)
{
    vrp_plan_destroy(&m->plan);
    vrp_problem_destroy(&m->prob);
    free(m->veh);
    free(m->job);
    memset(m, 0, sizeof *m);
}

static double s_rel(const s_model_t *m, int64_t us)
{
    return (double) (us - m->origin_us) / S_US;
}

static int s_add_job(s_model_t *m, dd_visit_t *v, const vrp_job_t *j)
{
    if (cc_grow(&m->job, &m->capjob, (size_t) m->njob + 1, sizeof *m->job, 64) != 0)
        return -1;
    int ix = vrp_problem_add_job(m->prob, j);
    if (ix < 0 || ix != m->njob)
        return -1;
    m->job[m->njob++] = v;
    return ix;
}

int dd_model_prune = 1;

/* One caregiver's usable day for a visit (s_day): where and when it starts,
 * which planned visits are its route, and a lower bound on the cost of any
 * place for the visit on it. */
typedef struct {
    dd_caregiver_t *cg;
    int64_t free_us;            /* leaves its start no earlier */
    int64_t sh_e;               /* home by then */
    double lat, lon;            /* where it starts */
    const double *u;            /* its unit vector (borrowed from a caregiver or visit) */
    size_t from, to;            /* its route: plan[from..to) */
    int at_home;
    double lb;                  /* no insertion on this day costs less (s_day) */
} s_day_t;

/* Caregiver c's day for a visit whose service may start at t_ref: its shift
 * occurrence (or, ignoring shifts, the next day from now), where it starts,
 * and its planned visits still ahead. 0 and *d when usable, 1 when c has no
 * usable day (off shift, running late, too far; with dd_model_prune, no gap
 * that could hold v). d->lb: with dd_model_prune, a lower bound of the cost
 * of any place for v on this day (the cheapest gap's added travel, and the
 * balance term as if that were all), less a margin for rounding; the
 * continuity penalty is the caller's (it depends on who else is usable);
 * without dd_model_prune, 0. */
/* The shift occurrence at one t_ref of the caregivers with no rota (their
 * static shift decides, dd_rules_shift_at), for the last shift seen: in a
 * decision most caregivers share one, and finding it takes a division. */
typedef struct {
    int ok, start_min, end_min;
    int64_t sh_s, sh_e;
} s_shift_memo_t;

static int s_day(dd_caregiver_t *c, const dd_visit_t *v, int64_t t_ref,
                 const dd_model_params_t *p, int ignore_shift, s_shift_memo_t *memo,
                 s_day_t *d)
{
    int64_t now = p->now_us, sh_s, sh_e;
    if (ignore_shift) {
        /* Off-shift help for an emergency: never from leave or sickness. */
        if (dd_rules_unavailable(c, t_ref))
            return 1;
        sh_s = now;
        sh_e = now + S_DAY_US;
    } else if (memo && (!c->rules || c->rules->nrota == 0)) {
        if (!memo->ok || memo->start_min != c->shift_start_min
            || memo->end_min != c->shift_end_min) {
            dd_shift_at(c->shift_start_min, c->shift_end_min, t_ref, &memo->sh_s, &memo->sh_e);
            memo->start_min = c->shift_start_min;
            memo->end_min = c->shift_end_min;
            memo->ok = 1;
        }
        sh_s = memo->sh_s;
        sh_e = memo->sh_e;
    } else if (dd_rules_shift_at(c, t_ref, &sh_s, &sh_e) != 0) {
        return 1;   /* the rota: off yesterday, today and tomorrow */
    }
    if (sh_e <= t_ref || sh_s > v->window_end_us)
        return 1;
    /* Visits of this occurrence; those up to the last one started (checked
     * in, or due by now) only tell where and when the caregiver is free.
     * The plan is in order of start (dd_plan_add) and a visit lasts its
     * service's minutes (3 h at most): one that ends inside the occurrence
     * starts less than S_VISIT_MAX_US before it, so the scan starts there
     * (found by bisection in plan_eta: a plan holds weeks of visits, and
     * each visit read is a cache miss). */
    size_t from = c->nplan, to = 0, started = SIZE_MAX;
    for (size_t i = dd_plan_seek(c, sh_s - S_VISIT_MAX_US); i < c->nplan && c->plan_eta[i] < sh_e; i++) {
        const dd_plan_pt_t *x = &c->plan_pt[i];
        if (x->end_us <= sh_s)
            continue;
        if (from == c->nplan)
            from = i;
        to = i + 1;
        if (x->checked_in || c->plan_eta[i] <= now)
            started = i;
    }
    int64_t free_us = s_max(sh_s, now);
    double lat = c->lat, lon = c->lon;
    const double *u = S_CG_U(c), *vu = S_V_U(v);
    int at_home = 1;
    if (started != SIZE_MAX) {
        const dd_visit_t *x = c->plan[started];
        free_us = s_max(free_us, dd_visit_busy_until_us(x));
        lat = x->lat;
        lon = x->lon;
        u = S_V_U(x);
        from = started + 1;
        at_home = 0;
    } else if (dd_caregiver_at(c, sh_s, now, &lat, &lon)) {
        u = s_geo(&c->last_geo, lat, lon);   /* where the last visit ended */
        at_home = 0;
    }
    if (free_us >= sh_e)
        return 1;
    /* One pass over the day's stops (a trip is computed once; chords are
     * symmetric bit for bit, so T(a, v) is T(v, a)). Each check that fails
     * leaves the day out, so their order does not matter:
     * - too far: every place it could come from is beyond max_travel_s;
     * - running late for a planned visit: not planned around;
     * - with dd_model_prune, no gap with room for v, trips counted. The
     *   route's planned visits are fixed in time (their windows are
     *   S_LATE_SLACK_S wide), so v needs a start s in [t_ref, v's window
     *   end] with s no earlier than the departure before it (free_us from
     *   u, then each planned end from its door) plus the trip, and s +
     *   service + the trip on no later than the next visit's latest start
     *   (after the last: home by the shift's end, as the vehicle must be).
     *   The trips are the model's own (s_travel_u); a second of tolerance
     *   keeps the test never stricter than the solver, so no gap means it
     *   cannot place v on c. The cheapest gap's added trip (in plus on less
     *   the trip the gap had; the whole trip there and home on a day with no
     *   visit: an unused vehicle travels nothing) is never more than the
     *   solver's added travel there.
     * Every cost term of the model is per route, so leaving a day out
     * changes neither the others' insertion costs nor the choice among them
     * (dd_model_test checks this). */
    const double *hu = S_CG_U(c);
    const int64_t tol = S_US, slack = (int64_t) (S_LATE_SLACK_S * S_US);
    int64_t service = (int64_t) dd_service_minutes(v->service) * 60 * S_US;
    int keep = to > from;
    size_t last = to < from ? from : to;   /* no planned visit: one gap, the whole shift */
    double in_s = s_travel_u(u, vu);       /* from the stop before the gap to v */
    double near = in_s, late_t = (double) (free_us - now) / S_US, det = INFINITY, w = 0;
    int64_t dep = free_us;
    const double *pu = u;
    for (size_t i = from; i <= last; i++) {
        int stop = i < last;
        const dd_plan_pt_t *x = stop ? &c->plan_pt[i] : NULL;
        const double *nu = stop ? x->u : hu;
        double out_s = s_travel_u(vu, nu);
        double gap_s = -1;   /* the trip the gap had, when needed */
        if (stop) {
            if (out_s < near)
                near = out_s;
            gap_s = s_travel_u(pu, nu);
            late_t += gap_s;
            if (late_t > (double) (c->plan_eta[i] - now) / S_US + S_LATE_SLACK_S)
                return 1;
            late_t = (double) (x->end_us - now) / S_US;
            w += (double) (x->end_us - c->plan_eta[i]) / S_US;
        }
        if (dd_model_prune) {
            int64_t latest = stop ? c->plan_eta[i] + slack : sh_e;
            int64_t in = (int64_t) (in_s * S_US), out = (int64_t) (out_s * S_US);
            int64_t lo = s_max(dep + in, t_ref), hi = latest - out - service;
            if (hi > v->window_end_us)
                hi = v->window_end_us;
            if (lo <= hi + tol) {
                if (keep && gap_s < 0)
                    gap_s = s_travel_u(pu, nu);
                double dd = in_s + out_s - (keep ? gap_s : 0);
                if (dd < det)
                    det = dd;
            }
        }
        if (stop) {
            dep = x->end_us;
            pu = nu;
            in_s = out_s;
        }
    }
    if (p->max_travel_s > 0 && !(lround(near) <= p->max_travel_s))
        return 1;
    double lb = 0;
    if (dd_model_prune) {
        if (!(det < INFINITY))
            return 1;
        det = det > 0 ? det : 0;
        lb = det;
        if (p->balance != 0) {
            /* The balance term adds balance * ((W + trip + s)^2 - W^2) for a
             * day of work W (travel and service): no less with W its service
             * alone and the trip the cheapest gap's (an empty day: W = 0). */
            double sv = (double) dd_service_minutes(v->service) * 60;
            lb += p->balance * ((w + det + sv) * (w + det + sv) - w * w);
        }
        lb -= 1e-3 + 1e-9 * lb;   /* the solver sums the same terms in another order */
    }
    *d = (s_day_t) {.cg = c, .free_us = free_us, .sh_e = sh_e, .lat = lat, .lon = lon,
                    .u = u, .from = from, .to = to, .at_home = at_home, .lb = lb};
    return 0;
}

/* Day d as the model's next vehicle, its planned visits as fixed-time
 * jobs. 0, or -1 on allocation failure. */
static int s_add_day(s_model_t *m, const s_day_t *d)
{
    dd_caregiver_t *c = d->cg;
    int start = vrp_problem_add_point(m->prob, d->u);
    int home = d->at_home ? start : vrp_problem_add_point(m->prob, S_CG_U(c));
    if (start < 0 || home < 0)
        return -1;
    vrp_vehicle_t veh;
    vrp_vehicle_init(&veh, start, home);
    veh.shift_start = s_rel(m, d->free_us);
    veh.shift_end = s_rel(m, d->sh_e);
    if (vrp_problem_add_vehicle(m->prob, &veh) != m->nveh)
        return -1;
    s_veh_t *sv = &m->veh[m->nveh++];
    sv->cg = c;
    sv->free_us = d->free_us;
    sv->lat = d->lat;
    sv->lon = d->lon;
    sv->u = d->u;
    sv->first = m->njob;
    sv->len = 0;
    for (size_t i = d->from; i < d->to; i++) {
        dd_visit_t *x = c->plan[i];
        int loc = vrp_problem_add_point(m->prob, S_V_U(x));
        if (loc < 0)
            return -1;
        vrp_job_t j;
        vrp_job_init(&j, loc);
        j.n_windows = 1;
        /* Its time as planned; a second late for the rounding of plans
         * made before travel was counted in whole microseconds upwards. */
        j.windows[0].start = s_rel(m, x->eta_us);
        j.windows[0].end = j.windows[0].start + S_LATE_SLACK_S;
        j.service = (double) (x->planned_end_us - x->eta_us) / S_US;
        int jx = s_add_job(m, x, &j);
        if (jx < 0)
            return -1;
        /* A dispatcher's choice: no solve may move it off this caregiver. */
        if (dd_rules_pinned(x) && vrp_problem_pin(m->prob, jx, m->nveh - 1) != 0)
            return -1;
        sv->len++;
    }
    return 0;
}

/* 1 when c is the visit's usual caregiver. */
static int s_is_preferred(const dd_visit_t *v, const dd_caregiver_t *c)
{
    return v->preferred_caregiver_id[0] && strcmp(v->preferred_caregiver_id, c->id) == 0;
}

/* The model for placing v on the days days[k] with keep[k] (every day when
 * keep is NULL), in that order, their plans as routes, v unplaced. When the
 * visit's usual caregiver is among them, placing it with anyone else costs
 * the continuity penalty (so a subset of days must keep that caregiver's
 * to price the others as the whole would). 0, or -1 on allocation failure
 * or a visit with no place on Earth. */
static int s_build(s_model_t *m, const s_day_t *days, size_t nd, const unsigned char *keep,
                   const dd_visit_t *v, const dd_model_params_t *p)
{
    memset(m, 0, sizeof *m);
    m->origin_us = p->now_us;
    m->prob = vrp_problem_new_points(CC_GEO_DETOUR_FACTOR, CC_GEO_SPEED_M_PER_S);
    m->veh = nd ? malloc(nd * sizeof *m->veh) : NULL;
    if (!m->prob || (nd && !m->veh))
        return -1;
    vrp_costs_t costs = {.per_distance = 0, .per_time = 1, .unassigned_penalty = 1e9,
                         .non_preferred_penalty = p->continuity_s, .balance = p->balance};
    vrp_problem_set_costs(m->prob, &costs);
    int64_t t_ref = s_max(v->window_start_us, p->now_us);
    int pveh = -1;
    for (size_t i = 0; i < nd; i++) {
        if (keep && !keep[i])
            continue;
        if (s_is_preferred(v, days[i].cg))
            pveh = m->nveh;
        if (s_add_day(m, &days[i]) != 0)
            return -1;
    }
    if (!isfinite(v->lat) || !isfinite(v->lon) || fabs(v->lat) > 90 || fabs(v->lon) > 180)
        return -1;
    int loc = vrp_problem_add_point(m->prob, S_V_U(v));
    if (loc < 0)
        return -1;
    vrp_job_t j;
    vrp_job_init(&j, loc);
    j.service = (double) dd_service_minutes(v->service) * 60;
    double ws = s_rel(m, t_ref), we = s_rel(m, v->window_end_us);
    j.n_windows = 1;
    if (v->emergency) {
        /* Help soonest: a start after ws is a cost, up to the window's end. */
        j.windows[0].start = j.windows[0].end = ws;
        j.max_lateness = we - ws;
        j.lateness_cost = S_EMERGENCY_DELAY_COST;
    } else {
        j.windows[0].start = ws;
        j.windows[0].end = we;
    }
    if (pveh >= 0) {
        j.n_preferred = 1;
        j.preferred[0] = pveh;
    }
    m->target = s_add_job(m, (dd_visit_t *) v, &j);
    if (m->target < 0)
        return -1;
    /* The routes as planned. */
    if (m->nveh == 0) {
        m->plan = vrp_plan_new(m->prob);
        return m->plan ? 0 : -1;
    }
    int **routes = m->nveh ? calloc((size_t) m->nveh, sizeof *routes) : NULL;
    int *lens = m->nveh ? calloc((size_t) m->nveh, sizeof *lens) : NULL;
    int *ix = m->njob ? malloc((size_t) m->njob * sizeof *ix) : NULL;
    if ((m->nveh && (!routes || !lens)) || !ix) {
        free(routes);
        free(lens);
        free(ix);
        return -1;
    }
    for (int k = 0; k < m->njob; k++)
        ix[k] = k;
    for (int k = 0; k < m->nveh; k++) {
        routes[k] = ix + m->veh[k].first;
        lens[k] = m->veh[k].len;
    }
    m->plan = vrp_plan_from_routes(m->prob, (const int *const *) routes, lens);
    free(routes);
    free(lens);
    free(ix);
    return m->plan ? 0 : -1;
}

/* The match for the target placed at (veh, pos) of the plan: its start
 * of service when it leaves the previous stop as soon as it can. */
static void s_fill(const s_model_t *m, int veh, int pos, int ignore_shift, dd_match_t *out)
{
    const s_veh_t *sv = &m->veh[veh];
    const dd_visit_t *v = m->job[m->target];
    double plat = sv->lat, plon = sv->lon;
    int64_t free_us = sv->free_us;
    if (pos > 0) {
        const dd_visit_t *prev = m->job[vrp_plan_route_job(m->plan, veh, pos - 1)];
        plat = prev->lat;
        plon = prev->lon;
        free_us = prev->planned_end_us;
    }
    int travel = dd_model_travel_s(plat, plon, v->lat, v->lon);
    /* Travel in whole seconds, rounded up (a millisecond of float noise
     * aside): never before the model's own arrival, which later models
     * hold as this visit's fixed time (within S_LATE_SLACK_S). */
    int64_t arrive = free_us + dd_model_travel_up_us(plat, plon, v->lat, v->lon);
    int64_t eta = s_max(s_max(v->window_start_us, m->origin_us), arrive);
    out->caregiver = sv->cg;
    out->eta_us = eta;
    out->end_us = eta + (int64_t) dd_service_minutes(v->service) * 60 * S_US;
    out->travel_s = travel;
    out->preferred = v->preferred_caregiver_id[0]
                     && strcmp(v->preferred_caregiver_id, sv->cg->id) == 0;
    out->off_shift = ignore_shift;
}

/* The cheapest place in the model: 0 with *out and its cost in *cost, or -1. */
static int s_place(s_model_t *m, int ignore_shift, dd_match_t *out, double *cost)
{
    vrp_insertion_t ins;
    if (vrp_plan_best_insertion(m->plan, m->target, &ins) != 0 || ins.vehicle < 0)
        return -1;
    s_fill(m, ins.vehicle, ins.position, ignore_shift, out);
    *cost = ins.delta_cost;
    return 0;
}

/* Placing v on some of the days: 0 with *out and *cost, -1 when none has
 * room, -2 out of memory. */
static int s_solve(const s_day_t *days, size_t nd, const unsigned char *keep,
                   const dd_visit_t *v, const dd_model_params_t *p, int ignore_shift,
                   dd_match_t *out, double *cost)
{
    s_model_t m;
    int rc = s_build(&m, days, nd, keep, v, p) != 0 ? -2 : s_place(&m, ignore_shift, out, cost);
    s_model_free(&m);
    if (p->stats && rc != -2) {
        p->stats->models++;
        for (size_t i = 0; i < nd; i++)
            p->stats->built += !keep || keep[i];
    }
    return rc;
}

/* c alone, its day with v placed: for the pre-emption and duty rules,
 * which try one changed day at a time. 0 with *out, or -1. */
static int s_alone(dd_caregiver_t *c, const dd_visit_t *v, const dd_model_params_t *p,
                   int ignore_shift, dd_match_t *out)
{
    s_day_t d;
    double cost;
    if (s_day(c, v, s_max(v->window_start_us, p->now_us), p, ignore_shift, NULL, &d) != 0)
        return -1;
    return s_solve(&d, 1, NULL, v, p, ignore_shift, out, &cost) == 0 ? 0 : -1;
}

int dd_model_first_days = 8;
#define S_FIRST_MAX 64
#ifndef S_ROUND_MUL
#define S_ROUND_MUL 2
#endif

/* Reading each caregiver's day is bound by memory latency (a caregiver, its
 * plan's start times, then the day's points: each a cache miss), and the
 * caregivers are independent, so their reads are issued ahead as a
 * pipeline: the caregiver S_PF_CG ahead, the start times of the one
 * S_PF_ETA ahead (its caregiver arrived by now), and the points of the one
 * S_PF_PT ahead from where its day can begin (its start times arrived):
 * the day's shift starts at most a day before t_ref and the scan at most
 * S_VISIT_MAX_US before that. Hints only: the decision is the same. */
#define S_PF_CG 12
#define S_PF_ETA 6
#define S_PF_PT 2
#define S_LINE 64

static void s_prefetch(dd_caregiver_t *const *cgs, size_t n, size_t i, int64_t t_ref)
{
    if (i + S_PF_CG < n) {
        const char *c = (const char *) cgs[i + S_PF_CG];
        __builtin_prefetch(c);
        __builtin_prefetch(c + S_LINE);
        __builtin_prefetch(c + 2 * S_LINE);
    }
    if (i + S_PF_ETA < n) {
        const dd_caregiver_t *c = cgs[i + S_PF_ETA];
        const char *e = (const char *) c->plan_eta;
        size_t bytes = c->nplan * sizeof *c->plan_eta;
        for (size_t off = 0; off < bytes && off < 8 * S_LINE; off += S_LINE)
            __builtin_prefetch(e + off);
    }
    if (i + S_PF_PT < n && cgs[i + S_PF_PT]->nplan > 0) {   /* no plan: no block yet */
        const dd_caregiver_t *c = cgs[i + S_PF_PT];
        size_t lo = dd_plan_seek(c, t_ref - S_DAY_US - S_VISIT_MAX_US);
        const char *pt = (const char *) (c->plan_pt + lo);
        size_t bytes = (c->nplan - lo) * sizeof *c->plan_pt;
        for (size_t off = 0; off < bytes && off < 4 * S_LINE; off += S_LINE)
            __builtin_prefetch(pt + off);
    }
}

/* A lower bound, in seconds, of the trip any place for v adds to c's day
 * (in plus on less the trip the gap had; in plus home on a day with no
 * visit), without reading the day: every stop such a gap joins (where the
 * day starts, a planned visit, home) lies in the box of c's planned points
 * (dd_caregiver_t.box_lo/hi), home and where the last visit ended. For two
 * points a, b at most D apart and v at distance r or more from the box
 * holding them (straight lines: chords), |av| + |vb| - |ab| >= 2 sqrt(r^2 +
 * D^2 / 4) - D (the least when v faces the middle of ab and ab is as long
 * as can be), which is 4 r^2 / (2 sqrt(r^2 + D^2 / 4) + D) without the
 * cancellation; an empty day's home - v - home is 2 |hv| >= 2 r, no less.
 * Less a relative 1e-9 for rounding. It reads the caregiver's first three
 * cache lines (dd_caregiver_t: box_n beside the shift, box_lo/hi after
 * last_out_us). */
static double s_box_trip(dd_caregiver_t *c, const double *vu)
{
    const double *hu = S_CG_U(c);
    double lo[3], hi[3];
    for (int k = 0; k < 3; k++) {
        lo[k] = hi[k] = hu[k];
        if (c->box_n) {
            lo[k] = c->box_lo[k] < lo[k] ? c->box_lo[k] : lo[k];
            hi[k] = c->box_hi[k] > hi[k] ? c->box_hi[k] : hi[k];
        }
    }
    if (c->last_out_us > 0) {   /* a day may start where the last visit ended */
        const double *lu = s_geo(&c->last_geo, c->last_lat, c->last_lon);
        for (int k = 0; k < 3; k++) {
            lo[k] = lu[k] < lo[k] ? lu[k] : lo[k];
            hi[k] = lu[k] > hi[k] ? lu[k] : hi[k];
        }
    }
    double r2 = 0, d2 = 0;
    for (int k = 0; k < 3; k++) {
        double out = vu[k] < lo[k] ? lo[k] - vu[k] : vu[k] > hi[k] ? vu[k] - hi[k] : 0;
        r2 += out * out;
        d2 += (hi[k] - lo[k]) * (hi[k] - lo[k]);
    }
    if (r2 <= 0)
        return 0;
    double d = sqrt(d2), det = 4 * r2 / (2 * sqrt(r2 + d2 / 4) + d);
    det *= VRP_GEO_EARTH_M * CC_GEO_DETOUR_FACTOR / CC_GEO_SPEED_M_PER_S;
    det = det * (1 - 1e-9) - 1e-6;
    return det > 0 ? det : 0;
}

/* s_box_trip as a bound of the day's price, as s_day's bound is made from
 * its cheapest gap (the balance term with the day's work at its least, 0),
 * less twice s_day's margin: never above s_day's bound of the same day. */
static double s_box_bound(dd_caregiver_t *c, const double *vu, double sv,
                          const dd_model_params_t *p)
{
    double det = s_box_trip(c, vu), lb = det;
    if (p->balance != 0)
        lb += p->balance * (det + sv) * (det + sv);
    return lb - (2e-3 + 2e-9 * lb);
}

/* s_decide's arrays, one per caregiver, kept between decisions of this
 * thread: allocating and freeing ~100 kB per decision made glibc
 * consolidate its heap each time (5 % of dispatchd in a profile). Per
 * qualified caregiver (a candidate, in cgs order): its index, box bound,
 * state (S_UNREAD, S_NONE: no usable day, S_DAY: days[k] read), whether
 * the first model held it; and the days a model is built of. */
enum { S_UNREAD, S_NONE, S_DAY };
static _Thread_local struct {
    s_day_t *days, *sel;
    double *cb;
    uint32_t *cand;
    unsigned char *st, *in1;
    dd_caregiver_t **list;
    size_t *ks;
    size_t cap;
} s_scratch;

void dd_model_release(void)
{
    free(s_scratch.days);
    free(s_scratch.sel);
    free(s_scratch.cb);
    free(s_scratch.cand);
    free(s_scratch.st);
    free(s_scratch.in1);
    free(s_scratch.list);
    free(s_scratch.ks);
    memset(&s_scratch, 0, sizeof s_scratch);
}

static int s_scratch_reserve(size_t n)
{
    if (n <= s_scratch.cap)
        return 0;
    if (n > UINT32_MAX)
        return -1;
    size_t cap = n < 64 ? 64 : n + n / 4;
    dd_model_release();
    s_scratch.days = malloc(cap * sizeof *s_scratch.days);
    s_scratch.sel = malloc(cap * sizeof *s_scratch.sel);
    s_scratch.cb = malloc(cap * sizeof *s_scratch.cb);
    s_scratch.cand = malloc(cap * sizeof *s_scratch.cand);
    s_scratch.st = malloc(cap);
    s_scratch.in1 = malloc(cap);
    s_scratch.list = malloc(cap * sizeof *s_scratch.list);
    s_scratch.ks = malloc(cap * sizeof *s_scratch.ks);
    if (!s_scratch.days || !s_scratch.sel || !s_scratch.cb || !s_scratch.cand || !s_scratch.st
        || !s_scratch.in1 || !s_scratch.list || !s_scratch.ks) {
        dd_model_release();
        return -1;
    }
    s_scratch.cap = cap;
    return 0;
}

/* Reads the days of the candidates ks[0..nk) (s_day, reads issued ahead as
 * in s_prefetch). */
static void s_read(dd_caregiver_t *const *cgs, const size_t *ks, size_t nk, const dd_visit_t *v,
                   int64_t t_ref, const dd_model_params_t *p, int ignore_shift,
                   s_shift_memo_t *memo)
{
    dd_caregiver_t **list = s_scratch.list;
    for (size_t j = 0; j < nk; j++)
        list[j] = cgs[s_scratch.cand[ks[j]]];
    for (size_t j = 0; j < nk; j++) {
        size_t k = ks[j];
        s_prefetch(list, nk, j, t_ref);
        s_scratch.st[k] = s_day(list[j], v, t_ref, p, ignore_shift, memo, &s_scratch.days[k]) == 0
                              ? S_DAY
                              : S_NONE;
    }
}

/* One pass of the online decision: the cheapest place for v on the usable
 * days of the qualified caregivers, exactly as one model of all of them
 * would choose it (caregiver, place and tie-break: the earlier in cgs).
 * Without dd_model_prune, that one model. With it:
 * - every qualified caregiver gets a bound from its box alone
 *   (s_box_bound; no read of its plan), and the usual caregiver's day is
 *   read first (its presence prices everyone else's continuity: the
 *   others' bounds then add the penalty);
 * - the days of the dd_model_first_days caregivers of lowest box bound are
 *   read (s_day; more, in rounds, while too few of them are usable), and a
 *   first model of the usable ones (and the usual caregiver's) finds its
 *   cheapest place, cost c;
 * - a day whose bound (box or s_day's) is above c can neither beat it nor
 *   tie, so the days of the caregivers whose box bound is within c are
 *   read, and when any of those days has its bound within c and was not in
 *   the first model, a second model of every day within c (and the usual
 *   caregiver's), in caregiver order, decides; else the first model's
 *   answer stands (when the first model placed nothing: every day is read,
 *   and the second model holds every day outside the first).
 * Every cost term is per route, so each day's price is the same in any
 * model that holds it. 0 with *out, -1 nobody fits, -2 out of memory. */
static int s_decide(dd_caregiver_t *const *cgs, size_t n, const dd_visit_t *v,
                    const dd_model_params_t *p, int ignore_shift, dd_match_t *out)
{
    int64_t t_ref = s_max(v->window_start_us, p->now_us);
    if (s_scratch_reserve(n) != 0)
        return -2;
    s_day_t *days = s_scratch.days, *sel = s_scratch.sel;
    double *cb = s_scratch.cb;
    uint32_t *cand = s_scratch.cand;
    unsigned char *st = s_scratch.st, *in1 = s_scratch.in1;
    size_t *ks = s_scratch.ks, nk = 0;
    s_shift_memo_t memo = {0};
    const double *vu = S_V_U(v);
    double sv = (double) dd_service_minutes(v->service) * 60;
    size_t m = 0, pref = SIZE_MAX;
    for (size_t i = 0; i < n; i++) {
        dd_caregiver_t *c = cgs[i];
        if (i + S_PF_CG < n) {
            const char *x = (const char *) cgs[i + S_PF_CG];
            __builtin_prefetch(x);
            __builtin_prefetch(x + S_LINE);
            __builtin_prefetch(x + 2 * S_LINE);
        }
        if (dd_qualified(c, v) != DD_FIT_OK)
            continue;
        cand[m] = (uint32_t) i;
        cb[m] = dd_model_prune ? s_box_bound(c, vu, sv, p) : 0;
        st[m] = S_UNREAD;
        in1[m] = 0;
        if (s_is_preferred(v, c))
            pref = m;
        m++;
    }
    size_t first = dd_model_first_days < 1             ? 1
                   : dd_model_first_days > S_FIRST_MAX ? S_FIRST_MAX
                                                       : (size_t) dd_model_first_days;
    double cost = 0;
    int rc, more = 0;
    size_t ns = 0;
    if (!dd_model_prune || m <= first) {   /* every day, one model */
        for (size_t k = 0; k < m; k++)
            ks[k] = k;
        s_read(cgs, ks, m, v, t_ref, p, ignore_shift, &memo);
        for (size_t k = 0; k < m; k++)
            if (st[k] == S_DAY)
                sel[ns++] = days[k];
        rc = s_solve(sel, ns, NULL, v, p, ignore_shift, out, &cost);
        goto done;
    }
    /* The usual caregiver's day first: when usable, everyone else pays the
     * continuity penalty. */
    double pen = 0;
    if (pref != SIZE_MAX) {
        ks[0] = pref;
        s_read(cgs, ks, 1, v, t_ref, p, ignore_shift, &memo);
        if (st[pref] == S_DAY)
            pen = p->continuity_s;
    }
#define S_PEN(k) ((k) == pref ? 0 : pen)
    /* The first days: those of the `first` lowest box bounds, in up to
     * three rounds while fewer than `first` are usable (full days are left
     * out); any subset would do (a first model of none places nothing, and
     * then every day is read). */
    size_t usable = 0, per_round = S_ROUND_MUL * first;
    for (int round = 0; round < 3 && usable < first; round++) {
        double top[S_ROUND_MUL * S_FIRST_MAX];   /* the lowest box bounds unread, ascending */
        size_t ntop = 0;
        for (size_t k = 0; k < m; k++) {
            double b = cb[k];
            if (st[k] != S_UNREAD || (ntop == per_round && !(b < top[ntop - 1])))
                continue;
            size_t j = ntop < per_round ? ntop++ : ntop - 1;
            for (; j > 0 && top[j - 1] > b; j--)
                top[j] = top[j - 1];
            top[j] = b;
        }
        if (ntop == 0)
            break;
        nk = 0;
        for (size_t k = 0; k < m; k++)
            if (st[k] == S_UNREAD && cb[k] <= top[ntop - 1])
                ks[nk++] = k;
        s_read(cgs, ks, nk, v, t_ref, p, ignore_shift, &memo);
        for (size_t j = 0; j < nk; j++)
            usable += st[ks[j]] == S_DAY;
    }
    /* The first model: of the days read, the `first` of lowest bound (their
     * own, s_day's: tighter than the box's, so c is too) and the usual
     * caregiver's. */
    double top[S_FIRST_MAX];   /* the lowest bounds, ascending */
    size_t ntop = 0;
    for (size_t k = 0; k < m; k++) {
        if (st[k] != S_DAY)
            continue;
        double lb = days[k].lb + S_PEN(k);
        if (k == pref || (ntop == first && !(lb < top[ntop - 1])))
            continue;
        size_t j = ntop < first ? ntop++ : ntop - 1;
        for (; j > 0 && top[j - 1] > lb; j--)
            top[j] = top[j - 1];
        top[j] = lb;
    }
    for (size_t k = 0; k < m; k++)
        if (st[k] == S_DAY && (k == pref || (ntop && days[k].lb + S_PEN(k) <= top[ntop - 1]))) {
            sel[ns++] = days[k];
            in1[k] = 1;
        }
    rc = s_solve(sel, ns, NULL, v, p, ignore_shift, out, &cost);
    if (rc == -2)
        goto done;
    /* Every day that might cost c or less: read the unread ones whose box
     * bound allows it (all of them when the first model placed nothing). */
    nk = 0;
    for (size_t k = 0; k < m; k++)
        if (st[k] == S_UNREAD && (rc != 0 || cb[k] + S_PEN(k) <= cost))
            ks[nk++] = k;
    s_read(cgs, ks, nk, v, t_ref, p, ignore_shift, &memo);
    ns = 0;
    for (size_t k = 0; k < m; k++) {
        if (st[k] != S_DAY)
            continue;
        int keep = rc == 0 ? days[k].lb + S_PEN(k) <= cost || k == pref : !in1[k] || k == pref;
        if (keep) {
            sel[ns++] = days[k];
            more += !in1[k];
        }
    }
#undef S_PEN
    if (more > 0)
        rc = s_solve(sel, ns, NULL, v, p, ignore_shift, out, &cost);
done:
    if (p->stats) {
        p->stats->decisions++;
        for (size_t k = 0; k < m; k++) {
            p->stats->days += st[k] == S_DAY;
            p->stats->unread += st[k] == S_UNREAD;
        }
    }
    return rc;
}

int dd_model_match(dd_caregiver_t *const *cgs, size_t n, const dd_visit_t *v,
                   const dd_model_params_t *p, dd_match_t *out)
{
    if (v->window_end_us < s_max(v->window_start_us, p->now_us))
        return -1;   /* the window is over: nobody fits (its deadline resolves it) */
    int passes = s_needs_first_aid(v) ? 2 : 1;
    for (int pass = 0; pass < passes; pass++) {
        int rc = s_decide(cgs, n, v, p, pass == 1, out);
        if (rc == 0)
            return 0;
        if (rc == -2)
            return -1;   /* out of memory: the visit waits; the sweep retries */
    }
    return -1;
}

/* Pre-emption: for every visit offered to a qualified caregiver but not
 * accepted (and not itself needing first aid), the earliest start the
 * emergency gets on that caregiver's day without it. Earliest wins, then
 * the smaller caregiver id. Plans are left as they were. */
static int s_preempt(dd_caregiver_t *const *cgs, size_t n, const dd_visit_t *v,
                     const dd_model_params_t *p, int ignore_shift, dd_match_t *out,
                     dd_visit_t **bumped)
{
    int found = 0;
    for (size_t i = 0; i < n; i++) {
        dd_caregiver_t *c = cgs[i];
        if (dd_qualified(c, v) != DD_FIT_OK)
            continue;
        for (size_t k = 0; k < c->nplan; k++) {
            dd_visit_t *u = c->plan[k];
            if (u->state != DD_VISIT_ASSIGNED || s_needs_first_aid(u) || dd_rules_pinned(u))
                continue;   /* accepted, urgent itself, or a dispatcher's choice */
            /* c's day without u, then u back in its place */
            dd_plan_lift(c, k);
            dd_match_t mm;
            int rc = s_alone(c, v, p, ignore_shift, &mm);
            dd_plan_put_back(c, k, u);
            if (rc != 0)
                continue;
            if (!found || mm.eta_us < out->eta_us
                || (mm.eta_us == out->eta_us && strcmp(c->id, out->caregiver->id) < 0)) {
                *out = mm;
                *bumped = u;
                found = 1;
            }
        }
    }
    return found ? 0 : -1;
}

int dd_model_match_urgent(dd_caregiver_t *const *cgs, size_t n, const dd_visit_t *v,
                          const dd_model_params_t *p, dd_match_t *out, dd_visit_t **bumped)
{
    *bumped = NULL;
    int rc = dd_model_match(cgs, n, v, p, out);
    if (!s_needs_first_aid(v) || v->window_end_us < s_max(v->window_start_us, p->now_us))
        return rc;
    for (int pass = 0; pass < 2; pass++) {
        dd_match_t pm;
        dd_visit_t *b = NULL;
        if (s_preempt(cgs, n, v, p, pass == 1, &pm, &b) != 0)
            continue;
        if (rc == 0 && pm.eta_us + DD_PREEMPT_GAIN_US > out->eta_us)
            return rc;   /* the free slot is nearly as soon: bump nobody */
        *out = pm;
        *bumped = b;
        return 0;
    }
    return rc;
}

/* A short day (issue 13, docs/DUTIES.md "Capacity"): a mandated duty that
 * fits nowhere may take the slot of a visit of lower duty rank that is only
 * planned (DD_VISIT_PLANNED: never offered, so nobody is told) or, with
 * offered_too, offered and not accepted (the emergency's pre-emption path
 * tells the caregiver), within a day of v's window. The lowest rank is
 * bumped first, then a planned one before an offered one, then the
 * earliest start for v, then the smaller caregiver id. Plans are left as
 * they were. */
int dd_model_match_ranked(dd_caregiver_t *const *cgs, size_t n, const dd_visit_t *v,
                          const dd_model_params_t *p, int offered_too, dd_match_t *out,
                          dd_visit_t **bumped)
{
    *bumped = NULL;
    int rank = dd_visit_duty_rank(v);
    if (rank <= 0 || v->window_end_us < s_max(v->window_start_us, p->now_us))
        return -1;
    int found = 0, best_rank = 0, best_offered = 0;
    const int64_t day_us = 24 * 60 * CC_US_PER_MIN;
    for (size_t i = 0; i < n; i++) {
        dd_caregiver_t *c = cgs[i];
        if (dd_qualified(c, v) != DD_FIT_OK)
            continue;
        for (size_t k = 0; k < c->nplan; k++) {
            dd_visit_t *u = c->plan[k];
            int ur = dd_visit_duty_rank(u);
            int offered = u->state == DD_VISIT_ASSIGNED;
            if ((u->state != DD_VISIT_PLANNED && !(offered_too && offered)) || u->emergency
                || s_needs_first_aid(u) || ur >= rank || dd_rules_pinned(u)
                || u->eta_us < v->window_start_us - day_us || u->eta_us > v->window_end_us + day_us)
                continue;
            if (found && (ur > best_rank || (ur == best_rank && offered > best_offered)))
                continue;
            dd_plan_lift(c, k);
            dd_match_t mm;
            int rc = s_alone(c, v, p, 0, &mm);
            dd_plan_put_back(c, k, u);
            if (rc != 0)
                continue;
            if (!found || ur < best_rank || offered < best_offered || mm.eta_us < out->eta_us
                || (mm.eta_us == out->eta_us && strcmp(c->id, out->caregiver->id) < 0)) {
                *out = mm;
                *bumped = u;
                best_rank = ur;
                best_offered = offered;
                found = 1;
            }
        }
    }
    return found ? 0 : -1;
}
