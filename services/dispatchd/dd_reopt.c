/* dd_reopt: see dd_reopt.h. */
#include "dd_reopt.h"
#include "dd_dispatch.h"
#include "dd_model.h"
#include "dd_rules.h"
#include "cc_event.h"
#include "cc_log.h"
#include "cc_util.h"
#include "cc_work.h"
#include "events.pb-c.h"

#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#define S_US CC_US_PER_S
/* Model time starts this long after the snapshot plus the budget, so that
 * no time it plans is already past when the result is applied. */
#define S_APPLY_MARGIN_US (2 * S_US)
/* A kicked district is not re-optimised more often than this. */
#define S_KICK_MIN_US (5 * S_US)
#define S_MAX_KICKED 16
#define S_PLANNED_PRIORITY 1000
/* The loop's share of a snapshot is built in slices of about this long,
 * each after the events ready by then (docs/DISPATCH.md). */
#define S_SLICE_US 300

typedef struct {
    char id[DD_ID_LEN];
    uint64_t plan_ver;
    int64_t free_us;            /* leaves its start no earlier */
    double lat, lon;            /* where it starts */
    double home_lat, home_lon;
    int64_t end_us;             /* home by then (shift end) */
    int first, len;             /* its jobs in the snapshot's plan */
} s_veh_t;

typedef struct {
    char id[DD_ID_LEN];
    dd_visit_state_t state;
    char caregiver_id[DD_ID_LEN];   /* "" when waiting */
    int snap_veh;               /* vehicle at the snapshot, -1 when waiting */
    int64_t eta_us;
    int64_t ws_us, we_us;       /* window for the start of service in the model */
    int64_t service_us;
    double lat, lon;
    int movable;
    /* the solve's result */
    int veh;                    /* -1: unassigned */
    int64_t new_eta_us, new_end_us;
    int travel_s;
} s_job_t;

typedef struct {
    int travel_s;
    dd_caregiver_t *c;
} s_near_t;

static int s_near_cmp(const void *a, const void *b)
{
    const s_near_t *x = a, *y = b;
    if (x->travel_s != y->travel_s)
        return x->travel_s < y->travel_s ? -1 : 1;
    return strcmp(x->c->id, y->c->id);
}

/* A snapshot's build, in order (dd_reopt_build). */
enum { S_PH_NEAR, S_PH_CAREGIVERS, S_PH_WAITING, S_PH_JOBS };

struct dd_reopt_run {
    uint32_t district;
    double hub_lat, hub_lon;    /* a neighbourhood's centre (big districts) */
    int64_t shift_ref_us;       /* each caregiver's shift is the one ending after this */
    int64_t origin_us;
    vrp_problem_t *prob;
    vrp_plan_t *plan;
    double before, after;
    int solved;
    s_veh_t *veh;
    int nveh;
    s_job_t *job;
    int njob;
    size_t capjob;
    const dd_visit_t **vis;     /* per job, while the snapshot is built (loop only) */
    size_t capvis;
    int budget_ms;
    uint64_t seed;
    /* While the snapshot is built (dd_reopt_build; loop only): */
    int phase;                  /* S_PH_* */
    size_t cursor;              /* the phase's next item */
    dd_caregiver_t **cg;        /* the district's, then the vehicles' caregivers */
    size_t ncg, kept;
    s_near_t *near;             /* S_PH_NEAR: caregivers by travel from the hub */
    dd_visit_t **wait;          /* the district's waiting visits, not emergencies */
    size_t nwait;
    double radius;              /* of the neighbourhood, < 0: the whole district */
    dd_model_params_t p;
    int next_job;               /* the rules are checked from here on */
    int have_gen;
    uint64_t gen;               /* the world's generation r->vis was taken at */
};

/* The app's schedule and the run in flight. */
typedef struct {
    dd_reopt_run_t *run;
    int building;               /* run's snapshot is being built, no thread yet */
    int64_t build_at_us;        /* when it began */
    struct event *build_ev;     /* the next slice of the build */
    pthread_t thread;
    atomic_int done;
    int rc;
    int64_t next_us;            /* next round-robin run */
    uint32_t last_district;     /* round robin position */
    int ahead;                  /* this round plans the shifts ahead (dd_reopt_snapshot) */
    int run_ahead;              /* the run in flight's */
    size_t round_picks;         /* districts picked so far in this round */
    size_t districts;           /* in the last whole round */
    uint32_t kicked[S_MAX_KICKED];
    size_t nkicked;
    int kick_all;
    int64_t last_kick_run_us;
} s_sched_t;

static double s_rel(const dd_reopt_run_t *r, int64_t us)
{
    return (double) (us - r->origin_us) / S_US;
}

static int64_t s_max(int64_t a, int64_t b)
{
    return a > b ? a : b;
}

void dd_reopt_run_free(dd_reopt_run_t **rp)
{
    dd_reopt_run_t *r = *rp;
    if (!r)
        return;
    vrp_plan_destroy(&r->plan);
    vrp_problem_destroy(&r->prob);
    free(r->veh);
    free(r->job);
    free(r->vis);
    free(r->cg);
    free(r->near);
    free(r->wait);
    free(r);
    *rp = NULL;
}

static s_job_t *s_new_job(dd_reopt_run_t *r, const dd_visit_t *x, int movable)
{
    if (cc_grow(&r->job, &r->capjob, (size_t) r->njob + 1, sizeof *r->job, 64) != 0
        || cc_grow(&r->vis, &r->capvis, (size_t) r->njob + 1, sizeof *r->vis, 64) != 0)
        return NULL;
    r->vis[r->njob] = x;
    s_job_t *j = &r->job[r->njob++];
    memset(j, 0, sizeof *j);
    snprintf(j->id, sizeof j->id, "%s", x->id);
    j->state = x->state;
    j->snap_veh = -1;
    if (x->caregiver)
        snprintf(j->caregiver_id, sizeof j->caregiver_id, "%s", x->caregiver->id);
    j->eta_us = x->eta_us;
    j->service_us = (int64_t) dd_service_minutes(x->service) * 60 * S_US;
    j->lat = x->lat;
    j->lon = x->lon;
    j->movable = movable;
    j->veh = -1;
    return j;
}

static int s_emergency(const dd_visit_t *v)
{
    return v->emergency || v->service == DD_SVC_EMERGENCY;
}

static int64_t s_arrive_us(double lat1, double lon1, double lat2, double lon2)
{
    return dd_model_travel_up_us(lat1, lon1, lat2, lon2);   /* as dd_model's ETAs */
}

/* Caregiver c's day from origin as a vehicle with its plan's jobs; 0 added,
 * 1 skipped (no shift left, running late), -1 out of memory. */
static int s_add_caregiver(dd_reopt_run_t *r, dd_caregiver_t *c)
{
    int64_t t0 = r->origin_us, sh_s, sh_e;
    if (dd_rules_shift_at(c, r->shift_ref_us, &sh_s, &sh_e) != 0)
        return 1;   /* off (rota) */
    size_t from = c->nplan, to = 0, started = SIZE_MAX;
    for (size_t i = 0; i < c->nplan; i++) {
        const dd_visit_t *x = c->plan[i];
        if (x->planned_end_us <= sh_s || x->eta_us >= sh_e)
            continue;
        if (from == c->nplan)
            from = i;
        to = i + 1;
        /* Started, or due so soon the caregiver may be on the way. */
        if (x->state == DD_VISIT_CHECKED_IN || x->eta_us <= t0 + DD_REOPT_FREEZE_US)
            started = i;
    }
    int64_t free_us = s_max(sh_s, t0);
    double lat = c->lat, lon = c->lon;
    if (started != SIZE_MAX) {
        const dd_visit_t *x = c->plan[started];
        free_us = s_max(free_us, dd_visit_busy_until_us(x));
        lat = x->lat;
        lon = x->lon;
        from = started + 1;
    } else {
        dd_caregiver_at(c, sh_s, t0, &lat, &lon);   /* where the last visit ended */
    }
    if (free_us >= sh_e)
        return 1;
    /* Running late for a planned visit, or a day that does not end home by
     * the shift's end (an emergency placed off shift): left alone, or the
     * district's whole plan would fail vrp_plan_check and nobody in it be
     * re-optimised. */
    int64_t t = free_us;
    double plat = lat, plon = lon;
    for (size_t i = from; i < to; i++) {
        const dd_visit_t *x = c->plan[i];
        t += s_arrive_us(plat, plon, x->lat, x->lon);
        if (t > x->eta_us + S_US)
            return 1;
        t = x->planned_end_us;
        plat = x->lat;
        plon = x->lon;
    }
    if (t + s_arrive_us(plat, plon, c->lat, c->lon) > sh_e)
        return 1;
    int start = vrp_problem_add_location(r->prob, lat, lon);
    int home = vrp_problem_add_location(r->prob, c->lat, c->lon);
    if (start < 0 || home < 0)
        return -1;
    vrp_vehicle_t veh;
    vrp_vehicle_init(&veh, start, home);
    veh.shift_start = s_rel(r, free_us);
    veh.shift_end = s_rel(r, sh_e);
    if (vrp_problem_add_vehicle(r->prob, &veh) != r->nveh)
        return -1;
    s_veh_t *sv = &r->veh[r->nveh];
    snprintf(sv->id, sizeof sv->id, "%s", c->id);
    sv->plan_ver = c->plan_ver;
    sv->free_us = free_us;
    sv->lat = lat;
    sv->lon = lon;
    sv->home_lat = c->lat;
    sv->home_lon = c->lon;
    sv->end_us = sh_e;
    sv->first = r->njob;
    sv->len = 0;
    for (size_t i = from; i < to; i++) {
        dd_visit_t *x = c->plan[i];
        /* A dispatcher's pin holds like an acceptance (dd_rules.h). */
        int movable = (x->state == DD_VISIT_ASSIGNED || x->state == DD_VISIT_PLANNED)
                      && !s_emergency(x) && !dd_rules_pinned(x);
        s_job_t *j = s_new_job(r, x, movable);
        if (!j)
            return -1;
        j->snap_veh = r->nveh;
        if (movable) {
            j->ws_us = s_max(x->window_start_us, t0 + DD_REOPT_FREEZE_US);
            j->we_us = x->window_end_us;
            if (j->we_us < j->ws_us || x->eta_us < j->ws_us) {
                j->ws_us = x->eta_us;   /* already at its edge: keep its time */
                j->we_us = x->eta_us + S_US;
            }
        } else {
            /* Its time; a second late for plans made with rounded travel. */
            j->ws_us = x->eta_us;
            j->we_us = x->eta_us + S_US;
        }
        sv->len++;
    }
    r->nveh++;
    return 0;
}

/* Job k into the problem with the online rules per caregiver: the costly
 * part of a snapshot (jobs x caregivers), so dd_reopt_build slices it. */
static int s_add_job(dd_reopt_run_t *r, int k)
{
    dd_caregiver_t *const *cg = r->cg;
    const dd_model_params_t *p = &r->p;
    s_job_t *j = &r->job[k];
    const dd_visit_t *x = r->vis[k];
    int loc = vrp_problem_add_location(r->prob, j->lat, j->lon);
    if (loc < 0)
        return -1;
    vrp_job_t vj;
    vrp_job_init(&vj, loc);
    vj.n_windows = 1;
    vj.windows[0].start = s_rel(r, j->ws_us);
    vj.windows[0].end = s_rel(r, j->we_us);
    vj.service = (double) j->service_us / S_US;
    /* A planned visit is never dropped to place waiting ones. */
    vj.priority = j->snap_veh >= 0 ? S_PLANNED_PRIORITY : 0;
    /* Stability and continuity: moving a visit off its caregiver costs
     * as much as not giving the elder their usual one (continuity_s),
     * so only a move that saves more than that is made; the usual
     * caregiver, when known, is preferred too. A planned visit was
     * promised to nobody: it moves at no such cost. */
    if (j->movable && j->snap_veh >= 0 && j->state != DD_VISIT_PLANNED) {
        vj.n_preferred = 1;
        vj.preferred[0] = j->snap_veh;
    }
    for (int v = 0; j->movable && x->preferred_caregiver_id[0] && v < r->nveh; v++)
        if (v != j->snap_veh && strcmp(x->preferred_caregiver_id, cg[v]->id) == 0) {
            vj.preferred[vj.n_preferred++] = v;
            break;
        }
    if (vrp_problem_add_job(r->prob, &vj) != k)
        return -1;
    if (!j->movable)
        return vrp_problem_pin(r->prob, k, j->snap_veh) != 0 ? -1 : 0;
    /* The online rules, per caregiver (dd_model.h). */
    for (int v = 0; v < r->nveh; v++) {
        const dd_caregiver_t *c = cg[v];
        int ok = dd_qualified(c, x) == DD_FIT_OK
                 && dd_model_near_home(c, x, p->max_travel_s);
        if (!ok && vrp_problem_forbid(r->prob, k, v) != 0)
            return -1;
    }
    return 0;
}

dd_reopt_run_t *dd_reopt_begin(dd_caregiver_t *const *cgs, size_t ncg,
                               dd_visit_t *const *waiting, size_t nwaiting, uint32_t district,
                               int ahead, const dd_model_params_t *p, int budget_ms,
                               uint64_t seed)
{
    dd_reopt_run_t *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->cg = ncg ? calloc(ncg, sizeof *r->cg) : NULL;
    r->wait = nwaiting ? calloc(nwaiting, sizeof *r->wait) : NULL;
    if ((ncg && !r->cg) || (nwaiting && !r->wait))
        goto fail;
    r->district = district;
    r->budget_ms = budget_ms;
    r->seed = seed;
    r->p = *p;
    r->origin_us = p->now_us + (int64_t) budget_ms * CC_US_PER_MS + S_APPLY_MARGIN_US;
    r->shift_ref_us = r->origin_us + (ahead ? DD_REOPT_AHEAD_US : 0);
    r->prob = vrp_problem_new_points(CC_GEO_DETOUR_FACTOR, CC_GEO_SPEED_M_PER_S);
    r->veh = ncg ? calloc(ncg, sizeof *r->veh) : NULL;
    if (!r->prob || (ncg && !r->veh))
        goto fail;
    vrp_costs_t costs = {.per_distance = 0, .per_time = 1, .unassigned_penalty = 1e9,
                         .non_preferred_penalty = p->continuity_s, .balance = p->balance};
    vrp_problem_set_costs(r->prob, &costs);
    for (size_t i = 0; i < ncg; i++)
        if (cgs[i]->district_id == district)
            r->cg[r->ncg++] = cgs[i];
    if (r->ncg == 0)
        goto fail;
    /* emergencies keep the online path (off-shift first-aiders) */
    for (size_t i = 0; i < nwaiting; i++)
        if (waiting[i]->district_id == district && !s_emergency(waiting[i]))
            r->wait[r->nwait++] = waiting[i];
    r->radius = -1;   /* < 0: the whole district */
    r->phase = S_PH_CAREGIVERS;
    /* A district bigger than DD_REOPT_MAX_CAREGIVERS is re-optimised a
     * neighbourhood at a time: the caregivers living nearest to one of them
     * (by seed, so runs move around), and the waiting visits within that
     * circle. The loop's snapshot and the solve stay bounded. */
    if (r->ncg > DD_REOPT_MAX_CAREGIVERS) {
        const dd_caregiver_t *hub = r->cg[seed % r->ncg];
        r->hub_lat = hub->lat;
        r->hub_lon = hub->lon;
        if (!(r->near = malloc(r->ncg * sizeof *r->near)))
            goto fail;
        r->phase = S_PH_NEAR;
    }
    return r;
fail:
    dd_reopt_run_free(&r);
    return NULL;
}

/* One step of the build's current phase: 0 done with the phase, 1 more,
 * -1 void. */
static int s_step(dd_reopt_run_t *r, const dd_world_t *world)
{
    size_t i = r->cursor;
    switch (r->phase) {
    case S_PH_NEAR:
        if (i < r->ncg) {
            const dd_caregiver_t *c = r->cg[i];
            r->near[i] = (s_near_t) {dd_model_travel_s(r->hub_lat, r->hub_lon, c->lat, c->lon),
                                     r->cg[i]};
            r->cursor++;
            return 1;
        }
        qsort(r->near, r->ncg, sizeof *r->near, s_near_cmp);
        r->ncg = DD_REOPT_MAX_CAREGIVERS;
        for (size_t k = 0; k < r->ncg; k++)
            r->cg[k] = r->near[k].c;
        r->radius = r->near[r->ncg - 1].travel_s;
        free(r->near);
        r->near = NULL;
        return 0;
    case S_PH_CAREGIVERS:
        if (i < r->ncg) {
            dd_caregiver_t *c = r->cg[i];
            int rc = s_add_caregiver(r, c);
            if (rc < 0)
                return -1;
            if (rc == 0)
                r->cg[r->kept++] = c;   /* kept <= i: the vehicles' caregivers, in order */
            r->cursor++;
            return 1;
        }
        r->ncg = r->kept;
        return r->nveh == 0 ? -1 : 0;
    case S_PH_WAITING:
        if (i < r->nwait) {
            dd_visit_t *x = r->wait[i];
            r->cursor++;
            int64_t ws = s_max(x->window_start_us, r->origin_us);
            if (x->state != DD_VISIT_WAITING || x->window_end_us < ws)
                return 1;   /* placed since (dd_reopt_build's checks), or too late */
            if (r->radius >= 0
                && dd_model_travel_s(r->hub_lat, r->hub_lon, x->lat, x->lon) > r->radius)
                return 1;   /* outside this neighbourhood */
            s_job_t *j = s_new_job(r, x, 1);
            if (!j)
                return -1;
            j->caregiver_id[0] = '\0';
            j->ws_us = ws;
            j->we_us = x->window_end_us;
            return 1;
        }
        free(r->wait);
        r->wait = NULL;
        int movable = 0;
        for (int k = 0; k < r->njob; k++)
            movable += r->job[k].movable;
        return movable == 0 ? -1 : 0;   /* nothing to improve */
    default: {
        int k = r->next_job;
        if (k >= r->njob)
            return 0;
        const s_job_t *j = &r->job[k];
        const dd_visit_t *x = r->vis[k];
        /* Changed since it was copied: the snapshot no longer stands. */
        if (world && (x->state != j->state
                      || strcmp(x->caregiver ? x->caregiver->id : "", j->caregiver_id) != 0))
            return -1;
        if (s_add_job(r, k) != 0)
            return -1;
        r->next_job++;
        return 1;
    }
    }
}

int dd_reopt_build(dd_reopt_run_t *r, const dd_world_t *world, int64_t until_mono_us)
{
    if (world) {
        uint64_t gen = dd_world_generation(world);
        if (!r->have_gen) {
            r->have_gen = 1;
            r->gen = gen;
        }
        if (gen != r->gen && r->phase != S_PH_JOBS)
            return -1;   /* visits were freed: the waiting list may point at one */
        /* Visits were freed since the last slice: take the rest anew. */
        for (int k = r->next_job; gen != r->gen && k < r->njob; k++)
            if (!(r->vis[k] = dd_world_visit(world, r->job[k].id)))
                return -1;   /* gone (cancelled, pruned): the snapshot is void */
        r->gen = gen;
    }
    for (unsigned n = 1;; n++) {
        int rc = s_step(r, world);
        if (rc < 0)
            return -1;
        if (rc == 0) {
            if (r->phase == S_PH_JOBS)
                break;
            r->phase++;
            r->cursor = 0;
        }
        /* The clock every few cheap steps; a job's checks are not cheap. */
        if ((r->phase == S_PH_JOBS || n % 16 == 0) && cc_mono_us() >= until_mono_us)
            return 1;
    }
    /* The plans as they stand. */
    int **routes = calloc((size_t) r->nveh, sizeof *routes);
    int *lens = calloc((size_t) r->nveh, sizeof *lens);
    int *ix = malloc((size_t) r->njob * sizeof *ix);
    if (routes && lens && ix) {
        for (int k = 0; k < r->njob; k++)
            ix[k] = k;
        for (int v = 0; v < r->nveh; v++) {
            routes[v] = ix + r->veh[v].first;
            lens[v] = r->veh[v].len;
        }
        r->plan = vrp_plan_from_routes(r->prob, (const int *const *) routes, lens);
    }
    free(routes);
    free(lens);
    free(ix);
    if (!r->plan)
        return -1;
    free(r->cg);   /* the worker never sees the world */
    r->cg = NULL;
    free(r->vis);
    r->vis = NULL;
    return 0;
}

dd_reopt_run_t *dd_reopt_snapshot(dd_caregiver_t *const *cgs, size_t ncg,
                                  dd_visit_t *const *waiting, size_t nwaiting,
                                  uint32_t district, int ahead, const dd_model_params_t *p,
                                  int budget_ms, uint64_t seed)
{
    dd_reopt_run_t *r = dd_reopt_begin(cgs, ncg, waiting, nwaiting, district, ahead, p,
                                       budget_ms, seed);
    if (r && dd_reopt_build(r, NULL, INT64_MAX) != 0)
        dd_reopt_run_free(&r);
    return r;
}


/* Times of vehicle v's solved route as dispatchd counts them: each stop as
 * early as it can be, or (keep) a visit still on its caregiver at its old
 * time when it can (no needless re-offer). 0, or -1 when a window or the
 * shift end is missed. */
static int s_schedule_route(dd_reopt_run_t *r, int v, int keep)
{
    const s_veh_t *sv = &r->veh[v];
    int64_t t = sv->free_us;
    double lat = sv->lat, lon = sv->lon;
    int len = vrp_plan_route_length(r->plan, v);
    for (int i = 0; i < len; i++) {
        s_job_t *j = &r->job[vrp_plan_route_job(r->plan, v, i)];
        int64_t start = s_max(t + s_arrive_us(lat, lon, j->lat, j->lon), j->ws_us);
        if (start > j->we_us)
            return -1;
        if (!j->movable || (keep && j->snap_veh == v && j->eta_us >= start
                            && j->eta_us <= j->we_us))
            start = j->eta_us;   /* its time (a fixed one is reached within its second) */
        j->veh = v;
        j->new_eta_us = start;
        j->new_end_us = start + j->service_us;
        j->travel_s = dd_model_travel_s(lat, lon, j->lat, j->lon);
        t = j->new_end_us;
        lat = j->lat;
        lon = j->lon;
    }
    return t + s_arrive_us(lat, lon, sv->home_lat, sv->home_lon) <= sv->end_us + S_US ? 0 : -1;
}

static int s_schedule(dd_reopt_run_t *r)
{
    for (int k = 0; k < r->njob; k++)
        r->job[k].veh = -1;
    for (int v = 0; v < r->nveh; v++)
        if (s_schedule_route(r, v, 1) != 0 && s_schedule_route(r, v, 0) != 0)
            return -1;
    return 0;
}

int dd_reopt_solve(dd_reopt_run_t *r)
{
    if (vrp_plan_check(r->plan, NULL, 0) != 0)
        return -1;   /* the plans as they stand break a rule: leave them to the online path */
    r->before = vrp_plan_cost(r->plan);
    vrp_params_t prm;
    vrp_params_init(&prm);
    prm.time_limit = r->budget_ms / 1000.0;
    prm.seed = r->seed;
    if (vrp_solve(r->prob, &prm, &r->plan) != 0)
        return -1;
    r->after = vrp_plan_cost(r->plan);
    if (s_schedule(r) != 0)
        return -1;
    r->solved = 1;
    return 0;
}

const vrp_problem_t *dd_reopt_problem(const dd_reopt_run_t *r)
{
    return r->prob;
}

const vrp_plan_t *dd_reopt_plan(const dd_reopt_run_t *r)
{
    return r->plan;
}

void dd_reopt_costs(const dd_reopt_run_t *r, double *before, double *after)
{
    *before = r->before;
    *after = r->after;
}

static int s_changed(const dd_reopt_run_t *r, const s_job_t *j)
{
    if (j->veh < 0)
        return 0;   /* stays or becomes unassigned: the solver never drops a placed
                     * job for a cheaper plan (unassigned costs 1e9), so only waiting */
    return j->veh != j->snap_veh || llabs(j->new_eta_us - j->eta_us) >= S_US
           || strcmp(r->veh[j->veh].id, j->caregiver_id) != 0;
}

int dd_reopt_apply(dd_reopt_run_t *r, dd_world_t *world, int64_t now_us, dd_visit_t ***moved,
                   size_t *nmoved, char (**from)[DD_ID_LEN])
{
    *moved = NULL;
    *nmoved = 0;
    *from = NULL;
    if (!r->solved || r->before - r->after < DD_REOPT_MIN_GAIN_S)
        return 2;
    /* Check: fixed jobs where they were; affected caregivers and moved
     * visits as at the snapshot. */
    size_t n = 0;
    for (int k = 0; k < r->njob; k++) {
        const s_job_t *j = &r->job[k];
        if (j->snap_veh >= 0 && j->veh < 0)
            return 2;   /* a planned visit dropped: never trade it */
        if (!j->movable && s_changed(r, j))
            return 2;
        if (!s_changed(r, j))
            continue;
        n++;
        const dd_visit_t *v = dd_world_visit(world, j->id);
        if (!v || v->state != j->state
            || (j->caregiver_id[0] && (!v->caregiver || strcmp(v->caregiver->id,
                                                                j->caregiver_id) != 0)))
            return 1;
        const int vs[2] = {j->snap_veh, j->veh};
        for (int t = 0; t < 2; t++) {
            if (vs[t] < 0)
                continue;
            const dd_caregiver_t *c = dd_world_caregiver(world, r->veh[vs[t]].id);
            if (!c || c->plan_ver != r->veh[vs[t]].plan_ver)
                return 1;
        }
    }
    if (n == 0)
        return 2;
    dd_visit_t **mv = calloc(n, sizeof *mv);
    char(*fr)[DD_ID_LEN] = calloc(n, sizeof *fr);
    if (!mv || !fr) {
        free(mv);
        free(fr);
        return -1;
    }
    size_t m = 0;
    for (int k = 0; k < r->njob; k++) {
        const s_job_t *j = &r->job[k];
        if (!s_changed(r, j))
            continue;
        mv[m] = dd_world_visit(world, j->id);
        /* A planned visit was never offered: nobody to tell it moved. */
        snprintf(fr[m], sizeof fr[m], "%s", j->state == DD_VISIT_PLANNED ? "" : j->caregiver_id);
        /* Out of every plan first, so that plans stay sorted as each goes in. */
        dd_world_set_state(world, mv[m], DD_VISIT_WAITING, now_us);
        m++;
    }
    m = 0;
    for (int k = 0; k < r->njob; k++) {
        const s_job_t *j = &r->job[k];
        if (!s_changed(r, j))
            continue;
        dd_match_t mt = {.caregiver = dd_world_caregiver(world, r->veh[j->veh].id),
                         .eta_us = j->new_eta_us, .end_us = j->new_end_us,
                         .travel_s = j->travel_s};
        if (dd_world_assign(world, mv[m], &mt, now_us) != 0) {
            free(mv);
            free(fr);
            return -1;   /* memory holds part of it: the caller reloads */
        }
        /* Not offered before its release: it stays a plan (the caller
         * writes and offers only what is assigned). */
        if (j->state != DD_VISIT_ASSIGNED && now_us < mv[m]->release_us)
            dd_world_set_state(world, mv[m], DD_VISIT_PLANNED, now_us);
        m++;
    }
    *moved = mv;
    *nmoved = n;
    *from = fr;
    return 0;
}

/* ---- the daemon's schedule ----------------------------------------------- */

static s_sched_t *s_sched(dd_app_t *app)
{
    if (!app->reopt)
        app->reopt = calloc(1, sizeof(s_sched_t));
    return app->reopt;
}

static void *s_worker(void *arg)
{
    s_sched_t *s = arg;
    /* The solve runs to its budget in wall time whatever CPU it gets: the
     * loops of every daemon preempt it (docs/DISPATCH.md). */
    (void) cc_work_background();
    s->rc = dd_reopt_solve(s->run);
    atomic_store(&s->done, 1);
    return NULL;
}

static void s_on_replan_done(PGresult *res, void *arg)
{
    dd_app_t *app = arg;
    if (dd_write_failed(app, dd_stmts[DD_ST_REPLAN].name, res, NULL))
        return;   /* logged and counted; memory is reloaded by the runtime */
    const char *rr = dd_result_text(res);
    if (!rr || strcmp(rr, "applied") != 0)
        cc_rt_fatal(dd_stmts[DD_ST_REPLAN].name, res);   /* memory and table disagree */
}

static int s_add_move(json_t *batch, const dd_visit_t *v, const char *from)
{
    json_t *o = json_object();
    char ev_a[CC_UUID_LEN], ev_d[CC_UUID_LEN];
    size_t alen = 0, dlen = 0;
    uint8_t *apay = dd_pack_assigned(v, &alen), *dpay = NULL;
    char *ahex = apay ? cc_hex(apay, alen) : NULL, *dhex = NULL;
    int rc = -1;
    if (!o || !ahex)
        goto out;
    cc_uuid(ev_a);
    if (from[0]) {
        Cc__VisitDeclined d = CC__VISIT_DECLINED__INIT;
        d.visit_id = (char *) v->id;
        d.order_id = (char *) v->order_id;
        d.caregiver_id = (char *) from;
        d.reason = "replanned";
        dpay = cc_event_pack(&d.base, &dlen);
        if (!dpay || !(dhex = cc_hex(dpay, dlen)))
            goto out;
        cc_uuid(ev_d);
    }
    if (json_object_set_new(o, "district", json_integer(v->district_id))
        || json_object_set_new(o, "id", json_string(v->id))
        || json_object_set_new(o, "order", json_string(v->order_id))
        || json_object_set_new(o, "from", from[0] ? json_string(from) : json_null())
        || json_object_set_new(o, "to", json_string(v->caregiver_id))
        || json_object_set_new(o, "provider", json_string(v->provider_id))
        || json_object_set_new(o, "eta", json_integer(v->eta_us))
        || json_object_set_new(o, "end", json_integer(v->planned_end_us))
        || json_object_set_new(o, "travel", json_integer(v->travel_s))
        || json_object_set_new(o, "ev_a", json_string(ev_a))
        || json_object_set_new(o, "pay_a", json_string(ahex))
        || (from[0] && (json_object_set_new(o, "ev_d", json_string(ev_d))
                        || json_object_set_new(o, "pay_d", json_string(dhex)))))
        goto out;
    rc = json_array_append(batch, o);
out:
    json_decref(o);
    free(apay);
    free(dpay);
    free(ahex);
    free(dhex);
    return rc;
}

static void s_write(dd_app_t *app, dd_visit_t **mv, char (*fr)[DD_ID_LEN], size_t n,
                    int64_t now_us)
{
    json_t *batch = json_array();
    for (size_t i = 0; batch && i < n; i++)
        if (s_add_move(batch, mv[i], fr[i]) != 0)
            json_decref(batch), batch = NULL;
    char *text = batch ? json_dumps(batch, JSON_COMPACT) : NULL;
    json_decref(batch);
    if (!text) {
        cc_error("out_of_memory", "where", "reopt_write");
        exit(1);   /* memory holds the moves: reload */
    }
    cc_args_t a;
    cc_args_init(&a, &dd_stmts[DD_ST_REPLAN]);
    cc_args_int(&a, "at", now_us);
    cc_args_text(&a, "batch", text);
    if (cc_db_call(app->rt.writer, &a, s_on_replan_done, app) != 0)
        cc_rt_fatal(a.st->name, NULL);
    free(text);
}

static void s_on_build(evutil_socket_t fd, short what, void *arg);

static void s_finish(dd_app_t *app, s_sched_t *s, int64_t now_us)
{
    pthread_join(s->thread, NULL);
    dd_reopt_run_t *r = s->run;
    s->run = NULL;
    atomic_store(&s->done, 0);
    char dist[16];
    snprintf(dist, sizeof dist, "%u", (unsigned) r->district);
    if (s->rc != 0) {
        cc_metric_inc(app->m_reopt_kept);
        cc_debug("reopt_skipped", "district", dist, "why", "infeasible_or_oom");
        dd_reopt_run_free(&r);
        return;
    }
    dd_visit_t **mv;
    char(*fr)[DD_ID_LEN];
    size_t n;
    int rc = dd_reopt_apply(r, app->world, now_us, &mv, &n, &fr);
    if (rc < 0) {
        cc_error("out_of_memory", "where", "reopt_apply");
        exit(1);
    }
    if (rc == 1)
        cc_metric_inc(app->m_reopt_stale);
    else if (rc == 2)
        cc_metric_inc(app->m_reopt_kept);
    if (rc == 0) {
        size_t nw = 0;   /* offers to write; planned moves stay in memory */
        for (size_t i = 0; i < n; i++) {
            if (mv[i]->state == DD_VISIT_PLANNED)
                continue;
            dd_timer_cancel(mv[i]);
            dd_timer_arm(app, mv[i], now_us);
            mv[nw] = mv[i];
            memmove(fr[nw], fr[i], sizeof fr[nw]);
            nw++;
        }
        if (nw)
            s_write(app, mv, fr, nw, now_us);
        cc_metric_inc(app->m_reopt_applied);
        cc_metric_add(app->m_reopt_moves, (double) n);
        char moves[24], gain[32];
        snprintf(moves, sizeof moves, "%zu", n);
        snprintf(gain, sizeof gain, "%.0f", r->before - r->after);
        cc_info("reopt_applied", "district", dist, "moves", moves, "gain_s", gain);
        app->dirty = 1;
        free(mv);
        free(fr);
    }
    dd_reopt_run_free(&r);
}

/* Districts with caregivers, after last (round robin), or the kicked one. */
static int s_pick(dd_app_t *app, s_sched_t *s, int64_t now_us, uint32_t *district)
{
    if ((s->nkicked || s->kick_all) && now_us - s->last_kick_run_us >= S_KICK_MIN_US) {
        s->last_kick_run_us = now_us;
        if (s->nkicked) {
            s->run_ahead = 0;   /* what broke is today's */
            *district = s->kicked[0];
            memmove(s->kicked, s->kicked + 1, (s->nkicked - 1) * sizeof *s->kicked);
            s->nkicked--;
            return 1;
        }
        s->kick_all = 0;
        s->next_us = 0;   /* all: the round robin at once */
    }
    if (now_us < s->next_us)
        return 0;
    size_t n;
    dd_caregiver_t *const *cgs = dd_world_caregivers(app->world, &n);
    uint32_t next = 0, first = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t d = cgs[i]->district_id;
        if (d > s->last_district && (next == 0 || d < next))
            next = d;
        if (first == 0 || d < first)
            first = d;
    }
    if (n == 0)
        return 0;
    if (next == 0) {
        next = first;
        s->ahead = !s->ahead;   /* every other round plans the next shifts */
        s->districts = s->round_picks;   /* districts seen in the round just ended */
        s->round_picks = 0;
    }
    s->round_picks++;
    /* Spread a round over the interval; the first round goes a district a
     * second while it counts them. */
    int64_t per = s->districts ? app->reopt_interval_s * S_US / (int64_t) s->districts : S_US;
    s->next_us = now_us + per;
    s->last_district = next;
    s->run_ahead = s->ahead;
    *district = next;
    return 1;
}

/* One slice of the run's snapshot on the loop, S_SLICE_US long (a job's
 * rule checks may run over): the solve starts when it is whole. */
static void s_build(dd_app_t *app, s_sched_t *s, int64_t t0)
{
    int rc = dd_reopt_build(s->run, app->world, t0 + S_SLICE_US);
    cc_metric_observe(app->m_reopt_loop[0], (double) (cc_mono_us() - t0) / S_US);
    /* The model's times start S_APPLY_MARGIN_US after the budget: a build
     * that took half of that (a loaded loop) is not solved. */
    if (rc == 0 && cc_now_us() - s->build_at_us > S_APPLY_MARGIN_US / 2)
        rc = -1;
    if (rc == 1) {
        static const struct timeval now = {0, 0};
        if (!s->build_ev
            && !(s->build_ev = evtimer_new(app->rt.base, s_on_build, app)))
            rc = -1;
        else if (event_add(s->build_ev, &now) != 0)   /* after the events ready now */
            rc = -1;
        if (rc == 1)
            return;
    }
    s->building = 0;
    if (rc != 0) {
        /* a visit changed or freed between slices, or the build ran long:
         * the district is tried again at its next turn */
        cc_metric_inc(app->m_reopt_void);
        cc_debug("reopt_snapshot_dropped");
        dd_reopt_run_free(&s->run);
        return;
    }
    cc_metric_inc(app->m_reopt_runs);
    atomic_store(&s->done, 0);
    if (pthread_create(&s->thread, NULL, s_worker, s) != 0) {
        dd_reopt_run_free(&s->run);
        cc_warn("reopt_thread_failed");
    }
}

static void s_on_build(evutil_socket_t fd, short what, void *arg)
{
    (void) fd;
    (void) what;
    dd_app_t *app = arg;
    s_sched_t *s = app->reopt;
    if (s && s->run && s->building)
        s_build(app, s, cc_mono_us());
}

void dd_reopt_tick(dd_app_t *app, int64_t now_us)
{
    if (app->reopt_interval_s <= 0)
        return;
    s_sched_t *s = s_sched(app);
    if (!s)
        return;
    if (s->run) {
        if (!s->building && atomic_load(&s->done)) {
            int64_t t0 = cc_mono_us();
            s_finish(app, s, now_us);
            cc_metric_observe(app->m_reopt_loop[1], (double) (cc_mono_us() - t0) / S_US);
        }
        return;   /* building: its slices run from s_on_build */
    }
    uint32_t district;
    if (!s_pick(app, s, now_us, &district))
        return;
    int64_t t0 = cc_mono_us();
    size_t ncg, nw;
    dd_caregiver_t *const *cgs = dd_world_caregivers(app->world, &ncg);
    dd_visit_t **w = NULL;
    nw = dd_world_waiting(app->world, &w);
    if (nw == (size_t) -1)
        return;
    dd_model_params_t p;
    dd_app_model_params(app, now_us, &p);
    s->run = dd_reopt_begin(cgs, ncg, w, nw, district, s->run_ahead, &p,
                            (int) app->reopt_budget_ms, (uint64_t) now_us);
    free(w);
    if (!s->run) {
        cc_metric_observe(app->m_reopt_loop[0], (double) (cc_mono_us() - t0) / S_US);
        return;   /* nothing movable */
    }
    s->building = 1;
    s->build_at_us = cc_now_us();
    s_build(app, s, t0);   /* a small district is whole in this first slice */
}

void dd_reopt_kick(dd_app_t *app, uint32_t district)
{
    if (app->reopt_interval_s <= 0)
        return;
    s_sched_t *s = s_sched(app);
    if (!s)
        return;
    if (district == 0) {
        s->kick_all = 1;
        return;
    }
    for (size_t i = 0; i < s->nkicked; i++)
        if (s->kicked[i] == district)
            return;
    if (s->nkicked < S_MAX_KICKED)
        s->kicked[s->nkicked++] = district;
    else
        s->kick_all = 1;
}

void dd_reopt_stop(dd_app_t *app)
{
    s_sched_t *s = app->reopt;
    if (!s)
        return;
    if (s->run && !s->building)
        pthread_join(s->thread, NULL);
    dd_reopt_run_free(&s->run);
    if (s->build_ev)
        event_free(s->build_ev);
    free(s);
    app->reopt = NULL;
}
