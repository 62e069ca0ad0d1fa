/* md_domain: meald's working set and decisions. See md_domain.h. */
#include "md_domain.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cc_map.h"
#include "cc_util.h"

#define US_PER_DAY CC_US_PER_DAY
#define US_PER_MIN CC_US_PER_MIN
#define LOCAL_OFFSET_US ((int64_t)CC_TZ_OFFSET_S * CC_US_PER_S)

static const char *const s_slot_names[MD_NSLOTS] = {"lunch", "dinner"};
static const char *const s_refusal_names[MD_REFUSE_COUNT] = {
    "", "past_cutoff", "no_capacity", "no_meal_point"};
static const char *const s_status_names[] = {"scheduled", "refused", "cancelled",
                                             "delivered", "undelivered", "failed"};
static const char *const s_vehicle_names[MD_NVEHICLES] = {"foot", "e_bike", "car"};
static const double s_vehicle_kmh[MD_NVEHICLES] = {5, 15, 25};

const char *md_vehicle_name(md_vehicle_t v)
{
    return (v >= 0 && v < MD_NVEHICLES) ? s_vehicle_names[v] : "";
}

int md_vehicle_parse(const char *name)
{
    for (int i = 0; name && i < MD_NVEHICLES; i++)
        if (strcmp(name, s_vehicle_names[i]) == 0)
            return i;
    return -1;
}

double md_vehicle_speed(md_vehicle_t v)
{
    return (v >= 0 && v < MD_NVEHICLES) ? s_vehicle_kmh[v] : s_vehicle_kmh[MD_FOOT];
}

const char *md_slot_name(md_slot_t slot)
{
    return (slot >= 0 && slot < MD_NSLOTS) ? s_slot_names[slot] : "";
}

int md_slot_parse(const char *name)
{
    for (int i = 0; name && i < MD_NSLOTS; i++)
        if (strcmp(name, s_slot_names[i]) == 0)
            return i;
    return -1;
}

const char *md_refusal_name(md_refusal_t reason)
{
    return (reason >= 0 && reason < MD_REFUSE_COUNT) ? s_refusal_names[reason] : "";
}

int md_refusal_parse(const char *name)
{
    for (int i = 1; name && i < MD_REFUSE_COUNT; i++)
        if (strcmp(name, s_refusal_names[i]) == 0)
            return i;
    return -1;
}

const char *md_status_name(md_meal_status_t status)
{
    return (status >= MD_MEAL_SCHEDULED && status <= MD_MEAL_FAILED)
               ? s_status_names[status] : "";
}

int md_status_parse(const char *name)
{
    for (int i = 0; name && i <= MD_MEAL_FAILED; i++)
        if (strcmp(name, s_status_names[i]) == 0)
            return i;
    return -1;
}

/* ---- calendar ------------------------------------------------------------
 * Days <-> civil dates in the proleptic Gregorian calendar (the well-known
 * era-based algorithm: 400-year eras of 146097 days). */
static int64_t s_floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    if ((a % b != 0) && ((a < 0) != (b < 0)))
        q--;
    return q;
}

static int32_t s_days_from_civil(int y, int m, int d)
{
    y -= m <= 2;
    int era = (int)s_floor_div(y, 400);
    int yoe = y - era * 400;
    int doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static void s_civil_from_days(int32_t z, int *y, int *m, int *d)
{
    int64_t zz = (int64_t)z + 719468;
    int64_t era = s_floor_div(zz, 146097);
    int64_t doe = zz - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = (int)(yoe + era * 400 + (*m <= 2));
}

int32_t md_day_of_us(int64_t us)
{
    return (int32_t)s_floor_div(us + LOCAL_OFFSET_US, US_PER_DAY);
}

int64_t md_day_start_us(int32_t day)
{
    return (int64_t)day * US_PER_DAY - LOCAL_OFFSET_US;
}

char *md_day_format(int32_t day, char *buf, size_t len)
{
    int y, m, d;
    s_civil_from_days(day, &y, &m, &d);
    snprintf(buf, len, "%04d-%02d-%02d", y, m, d);
    return buf;
}

int md_day_parse(const char *s, int32_t *day)
{
    if (!s || strlen(s) != 10 || s[4] != '-' || s[7] != '-')
        return -1;
    for (int i = 0; i < 10; i++)
        if (i != 4 && i != 7 && (s[i] < '0' || s[i] > '9'))
            return -1;
    int y = atoi(s), m = atoi(s + 5), d = atoi(s + 8);
    static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (y < 1970 || m < 1 || m > 12 || d < 1)
        return -1;
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (d > mdays[m - 1] + (m == 2 && leap))
        return -1;
    *day = s_days_from_civil(y, m, d);
    return 0;
}

void md_slot_for_window(int64_t window_start_us, md_slot_t *slot, int32_t *day)
{
    int32_t dd = md_day_of_us(window_start_us);
    int64_t minute = (window_start_us - md_day_start_us(dd)) / US_PER_MIN;
    *day = dd;
    *slot = minute < MD_DINNER_FROM_MIN ? MD_LUNCH : MD_DINNER;
}

int64_t md_cutoff_us(int32_t day, int cutoff_min)
{
    return md_day_start_us(day) + (int64_t)cutoff_min * US_PER_MIN;
}

int md_cutoff_passed(int32_t day, int cutoff_min, int64_t now_us)
{
    return now_us >= md_cutoff_us(day, cutoff_min);
}

/* ---- state ------------------------------------------------------------------ */
typedef struct {
    const md_point_t *point;
    int32_t day;
    md_slot_t slot;
    md_meal_t **meals;       /* meals holding a place here, booking order */
    size_t n, cap;
} s_bucket_t;

struct md_state {
    md_point_t **points;     /* insertion order; owned */
    size_t npoints, cappoints;
    cc_map_t *point_by_id;   /* id -> md_point_t * (borrowed from points) */
    cc_map_t *point_by_idem; /* idempotency key -> md_point_t * (borrowed) */
    cc_map_t *meals;         /* order id -> md_meal_t * (owned) */
    cc_map_t *buckets;       /* "point/day/slot" -> s_bucket_t * (owned) */
    md_meal_t **open;        /* scheduled meals (borrowed); meal->open_ix is the index */
    size_t nopen, capopen;
    md_courier_t **couriers; /* insertion order; owned */
    size_t ncouriers, capcouriers;
    cc_map_t *courier_by_id;   /* borrowed from couriers */
    cc_map_t *courier_by_idem; /* borrowed from couriers */
};

/* The open list: scheduled meals, for the deadline sweep. */
static int s_open_add(md_state_t *self, md_meal_t *m)
{
    if (cc_grow(&self->open, &self->capopen, self->nopen + 1, sizeof *self->open, 64) != 0)
        return -1;
    m->open_ix = self->nopen;
    self->open[self->nopen++] = m;
    return 0;
}

static void s_open_remove(md_state_t *self, md_meal_t *m)
{
    size_t i = m->open_ix;
    if (i >= self->nopen || self->open[i] != m)
        return;
    md_meal_t *last = self->open[--self->nopen];
    self->open[i] = last;
    last->open_ix = i;
    m->open_ix = (size_t)-1;
}

md_state_t *md_state_new(void)
{
    md_state_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->point_by_id = cc_map_new();
    self->point_by_idem = cc_map_new();
    self->meals = cc_map_new();
    self->buckets = cc_map_new();
    self->courier_by_id = cc_map_new();
    self->courier_by_idem = cc_map_new();
    if (!self->point_by_id || !self->point_by_idem || !self->meals || !self->buckets
        || !self->courier_by_id || !self->courier_by_idem) {
        md_state_destroy(&self);
        return NULL;
    }
    return self;
}

static void s_meal_free(void *p)
{
    md_meal_t *m = p;
    if (m)
        free(m->address_sealed);
    free(m);
}

static void s_bucket_free(void *p)
{
    s_bucket_t *b = p;
    free(b->meals);
    free(b);
}

void md_state_destroy(md_state_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    md_state_t *self = *self_p;
    cc_map_destroy(&self->buckets, s_bucket_free);
    cc_map_destroy(&self->meals, s_meal_free);
    cc_map_destroy(&self->point_by_idem, NULL);
    cc_map_destroy(&self->point_by_id, NULL);
    free(self->open);
    cc_map_destroy(&self->courier_by_idem, NULL);
    cc_map_destroy(&self->courier_by_id, NULL);
    for (size_t i = 0; i < self->ncouriers; i++)
        free(self->couriers[i]);
    free(self->couriers);
    for (size_t i = 0; i < self->npoints; i++)
        free(self->points[i]);
    free(self->points);
    free(self);
    *self_p = NULL;
}

md_point_t *md_point_add(md_state_t *self, const md_point_t *p)
{
    assert(self && p);
    if (cc_map_get(self->point_by_id, p->id))
        return NULL;
    if (p->idem_key[0] && cc_map_get(self->point_by_idem, p->idem_key))
        return NULL;
    if (cc_grow(&self->points, &self->cappoints, self->npoints + 1, sizeof *self->points,
                16) != 0)
        return NULL;
    md_point_t *copy = malloc(sizeof *copy);
    if (!copy)
        return NULL;
    *copy = *p;
    if (cc_map_put(self->point_by_id, copy->id, copy, NULL)) {
        free(copy);
        return NULL;
    }
    if (copy->idem_key[0] && cc_map_put(self->point_by_idem, copy->idem_key, copy, NULL)) {
        cc_map_remove(self->point_by_id, copy->id);
        free(copy);
        return NULL;
    }
    self->points[self->npoints++] = copy;
    return copy;
}

md_point_t *md_point_find(md_state_t *self, const char *id)
{
    return id ? cc_map_get(self->point_by_id, id) : NULL;
}

md_point_t *md_point_find_idem(md_state_t *self, const char *idem_key)
{
    return (idem_key && *idem_key) ? cc_map_get(self->point_by_idem, idem_key) : NULL;
}

size_t md_point_count(const md_state_t *self)
{
    return self->npoints;
}

md_point_t *md_point_at(md_state_t *self, size_t i)
{
    return i < self->npoints ? self->points[i] : NULL;
}

md_courier_t *md_courier_add(md_state_t *self, const md_courier_t *c)
{
    assert(self && c && c->point);
    if (cc_map_get(self->courier_by_id, c->id)
        || (c->idem_key[0] && cc_map_get(self->courier_by_idem, c->idem_key)))
        return NULL;
    if (cc_grow(&self->couriers, &self->capcouriers, self->ncouriers + 1,
                sizeof *self->couriers, 16) != 0)
        return NULL;
    md_courier_t *copy = malloc(sizeof *copy);
    if (!copy)
        return NULL;
    *copy = *c;
    if (cc_map_put(self->courier_by_id, copy->id, copy, NULL)) {
        free(copy);
        return NULL;
    }
    if (copy->idem_key[0] && cc_map_put(self->courier_by_idem, copy->idem_key, copy, NULL)) {
        cc_map_remove(self->courier_by_id, copy->id);
        free(copy);
        return NULL;
    }
    self->couriers[self->ncouriers++] = copy;
    return copy;
}

md_courier_t *md_courier_find_idem(md_state_t *self, const char *idem_key)
{
    return (idem_key && *idem_key) ? cc_map_get(self->courier_by_idem, idem_key) : NULL;
}

size_t md_courier_count(const md_state_t *self)
{
    return self->ncouriers;
}

md_courier_t *md_courier_at(md_state_t *self, size_t i)
{
    return i < self->ncouriers ? self->couriers[i] : NULL;
}

static void s_bucket_key(const md_point_t *point, int32_t day, md_slot_t slot, char *buf,
                         size_t len)
{
    snprintf(buf, len, "%s/%ld/%d", point->id, (long)day, (int)slot);
}

static s_bucket_t *s_bucket(md_state_t *self, const md_point_t *point, int32_t day,
                            md_slot_t slot, int create)
{
    char key[MD_ID_LEN + 32];
    s_bucket_key(point, day, slot, key, sizeof key);
    s_bucket_t *b = cc_map_get(self->buckets, key);
    if (b || !create)
        return b;
    b = calloc(1, sizeof *b);
    if (!b)
        return NULL;
    b->point = point;
    b->day = day;
    b->slot = slot;
    if (cc_map_put(self->buckets, key, b, NULL)) {
        free(b);
        return NULL;
    }
    return b;
}

static int s_bucket_push(s_bucket_t *b, md_meal_t *meal)
{
    if (cc_grow(&b->meals, &b->cap, b->n + 1, sizeof *b->meals, 8) != 0)
        return -1;
    b->meals[b->n++] = meal;
    return 0;
}

/* Remove meal from its bucket, keeping booking order (buckets are at most a
 * slot's capacity long). */
static void s_bucket_remove(md_state_t *self, md_meal_t *meal)
{
    s_bucket_t *b = s_bucket(self, meal->point, meal->day, meal->slot, 0);
    if (!b)
        return;
    for (size_t i = 0; i < b->n; i++) {
        if (b->meals[i] == meal) {
            memmove(&b->meals[i], &b->meals[i + 1], (b->n - i - 1) * sizeof *b->meals);
            b->n--;
            return;
        }
    }
}

int md_used(md_state_t *self, const md_point_t *point, int32_t day, md_slot_t slot)
{
    s_bucket_t *b = s_bucket(self, point, day, slot, 0);
    return b ? (int)b->n : 0;
}

int md_choose(md_state_t *self, double lat, double lon, md_slot_t slot, int32_t day,
              int64_t now_us, double max_distance_m, md_choice_t *out)
{
    int offered = 0, before_cutoff = 0;
    md_point_t *best = NULL;
    double best_d = 0;
    for (size_t i = 0; i < self->npoints; i++) {
        md_point_t *p = self->points[i];
        const md_slot_conf_t *sc = &p->slots[slot];
        if (!sc->offered)
            continue;
        double d = cc_geo_distance_m(lat, lon, p->lat, p->lon);
        if (max_distance_m > 0 && d > max_distance_m)
            continue;
        offered++;
        if (md_cutoff_passed(day, sc->cutoff_min, now_us))
            continue;
        before_cutoff++;
        if (md_used(self, p, day, slot) >= sc->capacity)
            continue;
        if (!best || d < best_d || (d == best_d && strcmp(p->id, best->id) < 0)) {
            best = p;
            best_d = d;
        }
    }
    out->point = best;
    out->distance_m = best ? best_d : 0;
    if (best) {
        out->reason = MD_REFUSE_NONE;
        return 0;
    }
    out->reason = offered == 0        ? MD_REFUSE_NO_MEAL_POINT
                  : before_cutoff == 0 ? MD_REFUSE_PAST_CUTOFF
                                       : MD_REFUSE_NO_CAPACITY;
    return -1;
}

int md_choose_at(md_state_t *self, const char *id, double lat, double lon, md_slot_t slot,
                 int32_t day, int64_t now_us, md_choice_t *out)
{
    md_point_t *p = id && *id ? md_point_find(self, id) : NULL;
    if (!p || slot < 0 || slot >= MD_NSLOTS)
        return -1;
    const md_slot_conf_t *sc = &p->slots[slot];
    if (!sc->offered || md_cutoff_passed(day, sc->cutoff_min, now_us) ||
        md_used(self, p, day, slot) >= sc->capacity)
        return -1;
    out->point = p;
    out->distance_m = cc_geo_distance_m(lat, lon, p->lat, p->lon);
    out->reason = MD_REFUSE_NONE;
    return 0;
}

static md_meal_t *s_meal_insert(md_state_t *self, const md_meal_t *m, int check_capacity)
{
    if (cc_map_get(self->meals, m->order_id))
        return NULL;
    int holds = m->status == MD_MEAL_SCHEDULED || m->status == MD_MEAL_DELIVERED
                || m->status == MD_MEAL_UNDELIVERED || m->status == MD_MEAL_FAILED;
    s_bucket_t *b = NULL;
    if (holds) {
        if (!m->point || m->slot < 0 || m->slot >= MD_NSLOTS)
            return NULL;
        const md_slot_conf_t *sc = &m->point->slots[m->slot];
        if (check_capacity && (!sc->offered || md_used(self, m->point, m->day, m->slot)
                                                   >= sc->capacity))
            return NULL;
        b = s_bucket(self, m->point, m->day, m->slot, 1);
        if (!b)
            return NULL;
    }
    md_meal_t *copy = malloc(sizeof *copy);
    if (!copy)
        return NULL;
    *copy = *m;
    copy->address_sealed = NULL;
    copy->address_sealed_len = 0;
    if (m->address_sealed && m->address_sealed_len) {
        copy->address_sealed = malloc(m->address_sealed_len);
        if (!copy->address_sealed) {
            free(copy);
            return NULL;
        }
        memcpy(copy->address_sealed, m->address_sealed, m->address_sealed_len);
        copy->address_sealed_len = m->address_sealed_len;
    }
    if (!holds)
        copy->point = m->status == MD_MEAL_REFUSED ? NULL : m->point;
    if (cc_map_put(self->meals, copy->order_id, copy, NULL)) {
        s_meal_free(copy);
        return NULL;
    }
    if (b && s_bucket_push(b, copy)) {
        cc_map_remove(self->meals, copy->order_id);
        s_meal_free(copy);
        return NULL;
    }
    if (copy->status == MD_MEAL_SCHEDULED && s_open_add(self, copy)) {
        s_bucket_remove(self, copy);
        cc_map_remove(self->meals, copy->order_id);
        s_meal_free(copy);
        return NULL;
    }
    return copy;
}

md_meal_t *md_meal_schedule(md_state_t *self, const md_meal_t *m)
{
    md_meal_t tmp = *m;
    tmp.status = MD_MEAL_SCHEDULED;
    tmp.reason = MD_REFUSE_NONE;
    return s_meal_insert(self, &tmp, 1);
}

md_meal_t *md_meal_load(md_state_t *self, const md_meal_t *m)
{
    return s_meal_insert(self, m, 0);
}

md_meal_t *md_meal_find(md_state_t *self, const char *order_id)
{
    return order_id ? cc_map_get(self->meals, order_id) : NULL;
}

int md_meal_cancel(md_state_t *self, md_meal_t *meal)
{
    if (meal->status != MD_MEAL_SCHEDULED)
        return -1;
    s_bucket_remove(self, meal);
    meal->status = MD_MEAL_CANCELLED;
    s_open_remove(self, meal);
    return 0;
}

int md_meal_deliver(md_state_t *self, md_meal_t *meal, int64_t at_us, const char *courier_id)
{
    if (meal->status != MD_MEAL_SCHEDULED)
        return -1;
    meal->status = MD_MEAL_DELIVERED;
    meal->delivered_us = at_us;
    snprintf(meal->courier_id, sizeof meal->courier_id, "%s", courier_id ? courier_id : "");
    s_open_remove(self, meal);
    return 0;
}

int md_meal_expire(md_state_t *self, md_meal_t *meal, int64_t at_us)
{
    if (meal->status != MD_MEAL_SCHEDULED)
        return -1;
    meal->status = MD_MEAL_UNDELIVERED;
    meal->expired_us = at_us;
    s_open_remove(self, meal);
    return 0;
}

int md_meal_fail(md_state_t *self, md_meal_t *meal, int64_t at_us, const char *reason)
{
    if (meal->status != MD_MEAL_SCHEDULED)
        return -1;
    meal->status = MD_MEAL_FAILED;
    meal->expired_us = at_us;
    snprintf(meal->fail_reason, sizeof meal->fail_reason, "%s", reason ? reason : "");
    s_open_remove(self, meal);
    return 0;
}

void md_meal_forget(md_state_t *self, md_meal_t **meal_p)
{
    if (!meal_p || !*meal_p)
        return;
    md_meal_t *meal = *meal_p;
    if (meal->status == MD_MEAL_SCHEDULED || meal->status == MD_MEAL_DELIVERED
        || meal->status == MD_MEAL_UNDELIVERED || meal->status == MD_MEAL_FAILED)
        s_bucket_remove(self, meal);
    if (meal->status == MD_MEAL_SCHEDULED)
        s_open_remove(self, meal);
    cc_map_remove(self->meals, meal->order_id);
    s_meal_free(meal);
    *meal_p = NULL;
}

size_t md_meal_count(const md_state_t *self)
{
    return cc_map_size(self->meals);
}

size_t md_open_count(const md_state_t *self)
{
    return self->nopen;
}

md_meal_t *const *md_open_meals(const md_state_t *self, size_t *n)
{
    *n = self->nopen;
    return self->open;
}

int md_deadline_rule_check(const md_deadline_rule_t *r, const char **field)
{
    const char *bad = r->deliver_s < 0 || r->deliver_s > CC_S_PER_DAY   ? "deliver_s"
                      : r->overdue_s < 0 || r->overdue_s > CC_S_PER_DAY ? "overdue_s"
                                                                          : NULL;
    if (bad && field)
        *field = bad;
    return bad ? -1 : 0;
}

static int64_t s_add(int64_t a, int64_t b)
{
    int64_t r;
    if (__builtin_add_overflow(a, b, &r))
        return b > 0 ? INT64_MAX : INT64_MIN;
    return r;
}

md_due_t md_meal_due(const md_meal_t *m, const md_deadline_rule_t *r, int64_t now_us,
                     int64_t *due_us, int64_t *resolve_us)
{
    if (m->status != MD_MEAL_SCHEDULED)
        return MD_DUE_NONE;
    /* Rules are at most a day (md_deadline_rule_check): no overflow there. */
    int64_t due = s_add(m->window_end_us, r->deliver_s * CC_US_PER_S);
    int64_t resolve = s_add(due, r->overdue_s * CC_US_PER_S);
    if (due_us)
        *due_us = due;
    if (resolve_us)
        *resolve_us = resolve;
    return now_us >= resolve ? MD_DUE_RESOLVE : now_us >= due ? MD_DUE_OVERDUE : MD_DUE_ON_TIME;
}

int md_meal_ripe(md_meal_t *m, const md_deadline_rule_t *r, int64_t now_us, int64_t mono_us)
{
    int64_t resolve;
    if (md_meal_due(m, r, now_us, NULL, &resolve) == MD_DUE_NONE)
        return 0;
    return cc_hold_ripe(&m->hold, now_us, mono_us, resolve, r->overdue_s * CC_US_PER_S);
}

md_meal_t *const *md_bucket_meals(md_state_t *self, const md_point_t *point, int32_t day,
                                  md_slot_t slot, size_t *n)
{
    s_bucket_t *b = s_bucket(self, point, day, slot, 0);
    *n = b ? b->n : 0;
    return (b && b->n) ? b->meals : NULL;
}

size_t md_diet_tally(md_meal_t *const *meals, size_t n, md_diet_count_t *out, size_t max)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        size_t j = 0;
        while (j < k && strcmp(out[j].diet, meals[i]->diet) != 0)
            j++;
        if (j < k) {
            out[j].count++;
        } else if (k < max) {
            out[k].diet = meals[i]->diet;
            out[k].count = 1;
            k++;
        }
    }
    return k;
}

typedef struct {
    md_state_t *self;
    int32_t before_day;
    size_t dropped;          /* meals */
} s_prune_t;

static int s_prune_bucket(const char *key, void *value, void *arg)
{
    (void)key;
    const s_prune_t *p = arg;
    s_bucket_t *b = value;
    if (b->day >= p->before_day)
        return 0;
    s_bucket_free(b);
    return 1;
}

static int s_prune_meal(const char *key, void *value, void *arg)
{
    (void)key;
    s_prune_t *p = arg;
    md_meal_t *m = value;
    /* A scheduled meal stays until its deadline is resolved (its bucket may
     * go: s_bucket_remove tolerates that). */
    if (m->day >= p->before_day || m->status == MD_MEAL_SCHEDULED)
        return 0;
    free(m);
    p->dropped++;
    return 1;
}

size_t md_state_prune(md_state_t *self, int32_t before_day)
{
    s_prune_t p = { self, before_day, 0 };
    /* Buckets first: they only borrow meal pointers. */
    cc_map_each(self->buckets, s_prune_bucket, &p);
    cc_map_each(self->meals, s_prune_meal, &p);
    return p.dropped;
}
