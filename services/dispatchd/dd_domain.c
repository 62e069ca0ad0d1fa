/* dd_domain: see dd_domain.h for the rules. */
#include "dd_domain.h"
#include "cc_util.h"

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
    "cancelled",
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

int dd_caregiver_same(const dd_caregiver_t *a, const dd_caregiver_t *b)
{
    const char *an = a->name ? a->name : "", *bn = b->name ? b->name : "";
    return strcmp(a->provider_id, b->provider_id) == 0 && a->district_id == b->district_id
           && strcmp(an, bn) == 0 && a->lat == b->lat && a->lon == b->lon
           && a->skills == b->skills && a->level == b->level && a->first_aid == b->first_aid
           && a->shift_start_min == b->shift_start_min && a->shift_end_min == b->shift_end_min;
}

/* ---- boxes and travel bounds ---------------------------------------------- */

#define S_PI 3.14159265358979323846
#define S_EARTH_RADIUS_M CC_GEO_EARTH_RADIUS_M      /* cc_geo_travel_s's model */
#define S_TRAVEL_S_PER_M (CC_GEO_DETOUR_FACTOR / CC_GEO_SPEED_M_PER_S)

/* Lower bounds on [0, pi/2] from the alternating Taylor series. */
static double s_sin_lb(double x)
{
    return x - x * x * x / 6;
}

static double s_cos_lb(double x)
{
    double x2 = x * x;
    double c = 1 - x2 / 2 + x2 * x2 / 24 - x2 * x2 * x2 / 720;
    return c > 0 ? c : 0;
}

/* (Written so that NaN fails the test.) */
static int s_point_ok(double lat, double lon)
{
    return lat >= -90 && lat <= 90 && lon >= -180 && lon <= 180;
}

/* A lower bound of cos(lat) over the box's latitudes. */
static double s_box_cos_lb(const dd_box_t *b)
{
    double far = fabs(b->lat_min) > fabs(b->lat_max) ? fabs(b->lat_min) : fabs(b->lat_max);
    return s_cos_lb(far * S_PI / 180);
}

/* dd_geo_travel_lb for a valid box and point, with c1 <= cos of every
 * latitude in the box and c2 <= cos(lat).
 *
 * Haversine: a = sin^2(dlat/2) + cos(lat1) cos(lat2) sin^2(dlon/2) grows with
 * |dlat| and the angular |dlon| (both halves within [0, pi/2]), and the
 * distance 2R asin(sqrt(a)) >= 2R sqrt(a). The box's nearest latitude and
 * longitude bound dlat and dlon from below. */
static inline int s_geo_lb(const dd_box_t *box, double c1, double lat, double lon, double c2)
{
    double dlat = lat < box->lat_min ? box->lat_min - lat
                  : lat > box->lat_max ? lat - box->lat_max : 0;
    double e = 0, w = 0;   /* eastwards / westwards to the box */
    if (lon < box->lon_min) {
        e = box->lon_min - lon;
        w = lon - box->lon_max + 360;
    } else if (lon > box->lon_max) {
        e = box->lon_min - lon + 360;
        w = lon - box->lon_max;
    }
    double dlon = e < w ? e : w;   /* <= 180: e + w <= 360 */
    double sx = s_sin_lb(dlat * (S_PI / 360)), sy = s_sin_lb(dlon * (S_PI / 360));
    double a = sx * sx + c1 * c2 * sy * sy;
    double d = 2 * S_EARTH_RADIUS_M * sqrt(a);
    /* Margins for rounding here and in cc_geo_travel_s: a part per billion
     * and a whole second. */
    double t = d * S_TRAVEL_S_PER_M * (1 - 1e-9);
    return t >= 1 ? (int) t - 1 : 0;   /* floor(t) - 1 */
}

int dd_geo_travel_lb(const dd_box_t *box, double lat, double lon)
{
    if (box->unbounded || !s_point_ok(lat, lon) || !s_point_ok(box->lat_min, box->lon_min)
        || !s_point_ok(box->lat_max, box->lon_max))
        return -1;   /* no bound (cc_geo_travel_s returns -1 at least) */
    return s_geo_lb(box, s_box_cos_lb(box), lat, lon, s_cos_lb(fabs(lat) * S_PI / 180));
}

/* Boxes built here are unbounded unless every point is a valid coordinate,
 * and carry the cos bound of their latitudes (cos_lb). */
static void s_box_point(dd_box_t *b, double lat, double lon)
{
    b->lat_min = b->lat_max = lat;
    b->lon_min = b->lon_max = lon;
    b->unbounded = !s_point_ok(lat, lon);
    b->cos_lb = s_box_cos_lb(b);
}

static void s_box_add(dd_box_t *b, double lat, double lon)
{
    if (!s_point_ok(lat, lon)) {
        b->unbounded = 1;
        return;
    }
    if (lat < b->lat_min || lat > b->lat_max) {
        if (lat < b->lat_min)
            b->lat_min = lat;
        else
            b->lat_max = lat;
        b->cos_lb = s_box_cos_lb(b);
    }
    if (lon < b->lon_min)
        b->lon_min = lon;
    if (lon > b->lon_max)
        b->lon_max = lon;
}

/* c->reach, recomputed when stale (see dd_caregiver_t). */
static inline const dd_box_t *s_reach(dd_caregiver_t *c)
{
    if (c->reach_ok && c->reach_nplan == c->nplan && c->reach_lat == c->lat
        && c->reach_lon == c->lon)
        return &c->reach;
    s_box_point(&c->reach, c->lat, c->lon);
    for (size_t i = 0; i < c->nplan; i++)
        s_box_add(&c->reach, c->plan[i]->lat, c->plan[i]->lon);
    c->reach_ok = 1;
    c->reach_nplan = c->nplan;
    c->reach_lat = c->lat;
    c->reach_lon = c->lon;
    return &c->reach;
}

/* Lower bounds of the travel to one point, from caregivers' reach boxes:
 * dd_geo_travel_lb's arithmetic inline, with what depends on the point
 * alone worked out once. */
typedef struct {
    dd_travel_lb_fn *fn;
    double lat, lon;
    int geo;        /* fn is dd_geo_travel_lb and the point is valid */
    double c2;
} s_lb_t;

static void s_lb_init(s_lb_t *l, const dd_match_params_t *p, const dd_visit_t *v)
{
    l->fn = p->travel_lb;
    l->lat = v->lat;
    l->lon = v->lon;
    l->geo = p->travel_lb == dd_geo_travel_lb && s_point_ok(v->lat, v->lon);
    l->c2 = l->geo ? s_cos_lb(fabs(v->lat) * S_PI / 180) : 0;
}

static inline int s_lb(const s_lb_t *l, dd_caregiver_t *c)
{
    const dd_box_t *b = s_reach(c);
    if (!l->geo)
        return l->fn(b, l->lat, l->lon);
    return b->unbounded ? -1 : s_geo_lb(b, b->cos_lb, l->lat, l->lon, l->c2);
}

int dd_plan_add(dd_caregiver_t *c, dd_visit_t *v)
{
    if (cc_grow(&c->plan, &c->capplan, c->nplan + 1, sizeof *c->plan, 8) != 0)
        return -1;
    size_t i = c->nplan;
    while (i > 0 && c->plan[i - 1]->eta_us > v->eta_us) {
        c->plan[i] = c->plan[i - 1];
        i--;
    }
    c->plan[i] = v;
    c->nplan++;
    if (c->reach_ok && c->reach_nplan + 1 == c->nplan) {
        s_box_add(&c->reach, v->lat, v->lon);
        c->reach_nplan = c->nplan;
    } else {
        c->reach_ok = 0;
    }
    return 0;
}

void dd_plan_remove(dd_caregiver_t *c, dd_visit_t *v)
{
    for (size_t i = 0; i < c->nplan; i++) {
        if (c->plan[i] == v) {
            memmove(&c->plan[i], &c->plan[i + 1], (c->nplan - i - 1) * sizeof *c->plan);
            c->nplan--;
            c->reach_ok = 0;   /* may shrink: recomputed when next needed */
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

/* The original rule: every caregiver, in order; the first of equals wins. */
static int s_match_scan(dd_caregiver_t *const *cgs, size_t n, const dd_visit_t *v,
                        const dd_match_params_t *p, int pass, dd_match_t *out)
{
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
    if (found)
        *out = best;
    return found ? 0 : -1;
}

/* A candidate of the pruned search: the lower bound of its sort key
 * (travel, or arrival for an emergency) and its index in cgs. */
typedef struct {
    int64_t key;
    size_t ix;
} s_cand_t;

static int s_cand_less(const s_cand_t *a, const s_cand_t *b)
{
    return a->key < b->key || (a->key == b->key && a->ix < b->ix);
}

static void s_sift_down(s_cand_t *h, size_t n, size_t i)
{
    s_cand_t x = h[i];
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n)
            break;
        if (c + 1 < n && s_cand_less(&h[c + 1], &h[c]))
            c++;
        if (!s_cand_less(&h[c], &x))
            break;
        h[i] = h[c];
        i = c;
    }
    h[i] = x;
}

/* The time-independent rules without the decliner list (dd_fit checks all). */
static inline int s_may_qualify(const dd_caregiver_t *c, const dd_visit_t *v)
{
    if (!dd_caregiver_has_skill(c, v->service))
        return 0;
    if (v->service == DD_SVC_BATH && c->level < 2
        && (v->ability == DD_ABILITY_SEVERE || v->ability == DD_ABILITY_TOTAL))
        return 0;
    return !(s_needs_first_aid(v) && !c->first_aid);
}

/* s_match_scan's result without trying everyone. Caregivers are tried in
 * order of a lower bound of their sort key, which comes from a lower bound
 * of the travel from anywhere they can start (home, any planned visit): the
 * travel of any slot dd_fit finds is at least that, and so is the arrival
 * (>= now + travel and >= window start). Once the next bound is above the
 * best key found, nobody left can be better. The preferred caregiver beats
 * everyone else, so they are tried first; equal candidates are decided by
 * the index in cgs, as the scan's "first of equals" does. h has room for n.
 *
 * Most visits are settled by the first candidates or so: those are found by
 * a linear search for the smallest bound; then only the bounds that can
 * still win are kept, and only those are ordered in a heap. */
#define S_LINEAR_TRIES 4

static int s_match_pruned(dd_caregiver_t *const *cgs, size_t n, const dd_visit_t *v,
                          const dd_match_params_t *p, int pass, s_cand_t *h, dd_match_t *out)
{
    int found = 0;
    size_t best_ix = 0;
    dd_match_t best = {0};
    size_t nh = 0;
    int64_t ws = v->window_start_us;
    s_lb_t lb_at;
    s_lb_init(&lb_at, p, v);
    for (size_t i = 0; i < n; i++) {
        dd_caregiver_t *c = cgs[i];
        if (!s_may_qualify(c, v))
            continue;
        if (v->preferred_caregiver_id[0] && strcmp(v->preferred_caregiver_id, c->id) == 0) {
            dd_match_t m;
            if (dd_fit(c, v, p, pass == 1, &m) == DD_FIT_OK
                && (!found || s_better(&m, &best, v))) {
                best = m;
                found = 1;
            }
            continue;
        }
        int lb = s_lb(&lb_at, c);
        if (p->max_travel_s > 0 && lb > p->max_travel_s)
            continue;   /* every slot too far */
        h[nh].key = v->emergency ? s_max(ws, p->now_us + (int64_t) lb * S_US) : lb;
        h[nh].ix = i;
        nh++;
    }
    if (found) {   /* the preferred caregiver fits: nobody else can be better */
        *out = best;
        return 0;
    }
    int tries = 0, heaped = 0;
    while (nh > 0) {
        s_cand_t top;
        if (heaped) {
            top = h[0];
            if (found && top.key > (v->emergency ? best.eta_us : best.travel_s))
                break;
            h[0] = h[--nh];
            s_sift_down(h, nh, 0);
        } else if (found || tries >= S_LINEAR_TRIES) {
            if (found) {
                int64_t bound = v->emergency ? best.eta_us : best.travel_s;
                size_t k = 0;
                for (size_t i = 0; i < nh; i++)
                    if (h[i].key <= bound)
                        h[k++] = h[i];
                nh = k;
            }
            for (size_t i = nh / 2; i-- > 0;)
                s_sift_down(h, nh, i);
            heaped = 1;
            continue;
        } else {
            size_t at = 0;
            for (size_t i = 1; i < nh; i++)
                if (s_cand_less(&h[i], &h[at]))
                    at = i;
            top = h[at];
            h[at] = h[--nh];
            tries++;
        }
        dd_match_t m;
        if (dd_fit(cgs[top.ix], v, p, pass == 1, &m) != DD_FIT_OK)
            continue;
        if (!found || s_better(&m, &best, v) || (!s_better(&best, &m, v) && top.ix < best_ix)) {
            best = m;
            best_ix = top.ix;
            found = 1;
        }
    }
    if (found)
        *out = best;
    return found ? 0 : -1;
}

int dd_match(dd_caregiver_t *const *cgs, size_t n, const dd_visit_t *v,
             const dd_match_params_t *p, dd_match_t *out)
{
    s_cand_t *h = p->travel_lb && n > 0 ? malloc(n * sizeof *h) : NULL;
    int passes = s_needs_first_aid(v) ? 2 : 1;
    int rc = -1;
    for (int pass = 0; pass < passes && rc != 0; pass++)
        rc = h ? s_match_pruned(cgs, n, v, p, pass, h, out)
               : s_match_scan(cgs, n, v, p, pass, out);
    free(h);
    return rc;
}

/* dd_match_preempt's best so far: earliest arrival, then smaller id, then
 * the first in cgs and in the plan. */
typedef struct {
    int found;
    dd_match_t m;
    dd_visit_t *bumped;
    size_t ix;
} s_preempt_best_t;

/* Try c (index ix in cgs) without each of its bumpable visits in turn. */
static void s_preempt_try(dd_caregiver_t *c, size_t ix, const dd_visit_t *v,
                          const dd_match_params_t *p, int pass, s_preempt_best_t *best)
{
    for (size_t k = 0; k < c->nplan; k++) {
        dd_visit_t *b = c->plan[k];
        if (b->state != DD_VISIT_ASSIGNED || b->emergency || b->service == DD_SVC_EMERGENCY)
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
        int better = !best->found || m.eta_us < best->m.eta_us;
        if (!better && m.eta_us == best->m.eta_us) {
            int cmp = strcmp(c->id, best->m.caregiver->id);
            better = cmp < 0 || (cmp == 0 && ix < best->ix);
        }
        if (better) {
            best->m = m;
            best->bumped = b;
            best->ix = ix;
            best->found = 1;
        }
    }
}

int dd_match_preempt(dd_caregiver_t *const *cgs, size_t n, const dd_visit_t *v,
                     const dd_match_params_t *p, dd_match_t *out, dd_visit_t **bumped)
{
    if (!s_needs_first_aid(v))
        return -1;
    /* With travel_lb, caregivers are tried in order of a lower bound of
     * their arrival, as in s_match_pruned (removing a visit from a plan
     * leaves the box around it a box around the rest). */
    s_cand_t *h = p->travel_lb && n > 0 ? malloc(n * sizeof *h) : NULL;
    s_lb_t lb_at;
    if (h)
        s_lb_init(&lb_at, p, v);
    for (int pass = 0; pass < 2; pass++) {
        s_preempt_best_t best = {0};
        if (!h) {
            for (size_t i = 0; i < n; i++)
                if (dd_qualified(cgs[i], v) == DD_FIT_OK)
                    s_preempt_try(cgs[i], i, v, p, pass, &best);
        } else {
            size_t nh = 0;
            for (size_t i = 0; i < n; i++) {
                dd_caregiver_t *c = cgs[i];
                if (c->nplan == 0 || dd_qualified(c, v) != DD_FIT_OK)
                    continue;
                int lb = s_lb(&lb_at, c);
                if (p->max_travel_s > 0 && lb > p->max_travel_s)
                    continue;
                h[nh].key = s_max(v->window_start_us, p->now_us + (int64_t) lb * S_US);
                h[nh].ix = i;
                nh++;
            }
            for (size_t i = nh / 2; i-- > 0;)
                s_sift_down(h, nh, i);
            while (nh > 0 && !(best.found && h[0].key > best.m.eta_us)) {
                size_t ix = h[0].ix;
                h[0] = h[--nh];
                s_sift_down(h, nh, 0);
                s_preempt_try(cgs[ix], ix, v, p, pass, &best);
            }
        }
        if (best.found) {
            free(h);
            *out = best.m;
            *bumped = best.bumped;
            return 0;
        }
    }
    free(h);
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
