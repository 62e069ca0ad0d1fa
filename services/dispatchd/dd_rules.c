/* dd_rules: see dd_rules.h. */
#include "dd_rules.h"
#include "cc_daemon.h"   /* cc_service_name, cc_service_parse */
#include "cc_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_DAY_US CC_US_PER_DAY
#define S_TZ_US ((int64_t) CC_TZ_OFFSET_S * CC_US_PER_S)   /* Asia/Shanghai, no DST */

static int64_t s_floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

int32_t dd_day_of(int64_t us)
{
    return (int32_t) s_floor_div(us + S_TZ_US, S_DAY_US);
}

int64_t dd_day_start_us(int32_t day)
{
    return (int64_t) day * S_DAY_US - S_TZ_US;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's
 * days_from_civil). */
static int32_t s_days_from_civil(int y, int m, int d)
{
    y -= m <= 2;
    int era = (y >= 0 ? y : y - 399) / 400;
    int yoe = y - era * 400;
    int doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static void s_civil_from_days(int32_t z, int *y, int *m, int *d)
{
    z += 719468;
    int era = (z >= 0 ? z : z - 146096) / 146097;
    int doe = z - era * 146097;
    int yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp + (mp < 10 ? 3 : -9);
    *y = yoe + era * 400 + (*m <= 2);
}

int dd_day_parse(const char *s, int32_t *day)
{
    if (!s || strlen(s) != 10 || s[4] != '-' || s[7] != '-')
        return -1;
    for (int i = 0; i < 10; i++)
        if (i != 4 && i != 7 && (s[i] < '0' || s[i] > '9'))
            return -1;
    int y = atoi(s), m = atoi(s + 5), d = atoi(s + 8);
    if (y < 2000 || m < 1 || m > 12 || d < 1)
        return -1;
    static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (d > mdays[m - 1] + (m == 2 && leap))
        return -1;
    *day = s_days_from_civil(y, m, d);
    return 0;
}

char *dd_day_format(int32_t day, char *buf, size_t len)
{
    int y, m, d;
    s_civil_from_days(day, &y, &m, &d);
    snprintf(buf, len, "%04d-%02d-%02d", y, m, d);
    return buf;
}

/* ---- names ----------------------------------------------------------------- */

static const char *const s_offs[] = {"", "day_off", "leave", "sick"};

const char *dd_off_name(dd_off_t o)
{
    return o >= DD_OFF_NONE && o <= DD_OFF_SICK ? s_offs[o] : "";
}

int dd_off_parse(const char *s)
{
    for (int i = DD_OFF_DAY_OFF; s && i <= DD_OFF_SICK; i++)
        if (strcmp(s, s_offs[i]) == 0)
            return i;
    return -1;
}

int dd_cert_kind_parse(const char *s)
{
    if (!s)
        return -1;
    if (strcmp(s, "first_aid") == 0)
        return DD_CERT_FIRST_AID;
    int svc = cc_service_parse(s);
    return dd_service_is_visit(svc) ? svc : -1;
}

const char *dd_cert_kind_name(int kind)
{
    if (kind == DD_CERT_FIRST_AID)
        return "first_aid";
    const char *n = dd_service_is_visit(kind) ? cc_service_name(kind) : NULL;
    return n ? n : "";
}

/* ---- zones ----------------------------------------------------------------- */

struct dd_zones {
    dd_zone_t **zones;          /* owned; never freed before the table */
    size_t n, cap;
};

dd_zones_t *dd_zones_new(void)
{
    return calloc(1, sizeof(dd_zones_t));
}

void dd_zones_free(dd_zones_t **z_p)
{
    dd_zones_t *z = *z_p;
    if (!z)
        return;
    for (size_t i = 0; i < z->n; i++) {
        free(z->zones[i]->districts);
        free(z->zones[i]);
    }
    free(z->zones);
    free(z);
    *z_p = NULL;
}

const dd_zone_t *dd_zones_get(const dd_zones_t *z, const char *provider_id)
{
    for (size_t i = 0; z && i < z->n; i++)
        if (strcmp(z->zones[i]->provider_id, provider_id) == 0)
            return z->zones[i];
    return NULL;
}

static int s_u32_cmp(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *) a, y = *(const uint32_t *) b;
    return x < y ? -1 : x > y;
}

int dd_zones_set(dd_zones_t *z, const char *provider_id, const uint32_t *districts, size_t n)
{
    if (n == 0 || strlen(provider_id) >= DD_PROVIDER_LEN)
        return -1;
    uint32_t *d = malloc(n * sizeof *d);
    if (!d)
        return -1;
    memcpy(d, districts, n * sizeof *d);
    qsort(d, n, sizeof *d, s_u32_cmp);
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (k == 0 || d[k - 1] != d[i])
            d[k++] = d[i];
    dd_zone_t *zone = (dd_zone_t *) dd_zones_get(z, provider_id);
    if (!zone) {
        if (cc_grow(&z->zones, &z->cap, z->n + 1, sizeof *z->zones, 8) != 0
            || !(zone = calloc(1, sizeof *zone))) {
            free(d);
            return -1;
        }
        snprintf(zone->provider_id, sizeof zone->provider_id, "%s", provider_id);
        z->zones[z->n++] = zone;
    }
    free(zone->districts);
    zone->districts = d;
    zone->n = k;
    return 0;
}

static int s_zone_has(const dd_zone_t *zone, uint32_t district_id)
{
    if (!zone)
        return 1;
    return bsearch(&district_id, zone->districts, zone->n, sizeof *zone->districts,
                   s_u32_cmp) != NULL;
}

int dd_rules_zone_ok(const dd_zones_t *z, const char *provider_id, uint32_t district_id)
{
    return s_zone_has(dd_zones_get(z, provider_id), district_id);
}

/* ---- a caregiver's rules ----------------------------------------------------- */

void dd_rules_free(dd_caregiver_t *c)
{
    if (!c->rules)
        return;
    free(c->rules->rota);
    free(c->rules->certs);
    free(c->rules);
    c->rules = NULL;
}

static dd_cg_rules_t *s_rules(dd_caregiver_t *c)
{
    if (!c->rules)
        c->rules = calloc(1, sizeof *c->rules);
    return c->rules;
}

int dd_rules_link(const dd_zones_t *z, dd_caregiver_t *c)
{
    const dd_zone_t *zone = dd_zones_get(z, c->provider_id);
    if (!zone && !c->rules)
        return 0;   /* serves everywhere: nothing to remember */
    dd_cg_rules_t *r = s_rules(c);
    if (!r)
        return -1;
    r->zone = zone;
    return 0;
}

int dd_rules_rota_set(dd_caregiver_t *c, const dd_rota_t *e)
{
    dd_cg_rules_t *r = s_rules(c);
    if (!r)
        return -1;
    size_t i = 0;
    while (i < r->nrota && r->rota[i].day < e->day)
        i++;
    if (i < r->nrota && r->rota[i].day == e->day) {
        r->rota[i] = *e;
        return 0;
    }
    if (cc_grow(&r->rota, &r->caprota, r->nrota + 1, sizeof *r->rota, 8) != 0)
        return -1;
    memmove(&r->rota[i + 1], &r->rota[i], (r->nrota - i) * sizeof *r->rota);
    r->rota[i] = *e;
    r->nrota++;
    return 0;
}

const dd_rota_t *dd_rules_rota_get(const dd_caregiver_t *c, int32_t day)
{
    const dd_cg_rules_t *r = c->rules;
    if (!r)
        return NULL;
    size_t lo = 0, hi = r->nrota;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (r->rota[mid].day < day)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < r->nrota && r->rota[lo].day == day ? &r->rota[lo] : NULL;
}

int dd_rules_cert_add(dd_caregiver_t *c, const dd_cert_t *cert)
{
    dd_cg_rules_t *r = s_rules(c);
    if (!r)
        return -1;
    for (size_t i = 0; i < r->ncerts; i++)
        if (strcmp(r->certs[i].id, cert->id) == 0) {
            r->certs[i] = *cert;
            return 0;
        }
    if (cc_grow(&r->certs, &r->capcerts, r->ncerts + 1, sizeof *r->certs, 4) != 0)
        return -1;
    r->certs[r->ncerts++] = *cert;
    return 0;
}

/* ---- shifts ------------------------------------------------------------------ */

int dd_rules_shift_on(const dd_caregiver_t *c, int32_t day, int64_t *start_us, int64_t *end_us)
{
    int sm = c->shift_start_min, em = c->shift_end_min;
    const dd_rota_t *e = dd_rules_rota_get(c, day);
    if (e && e->off != DD_OFF_NONE)
        return -1;
    if (e) {
        sm = e->start_min;
        em = e->end_min;
    }
    int len = ((em - sm) % 1440 + 1440) % 1440;   /* as dd_shift_at */
    if (len == 0)
        len = 1440;
    *start_us = dd_day_start_us(day) + (int64_t) sm * CC_US_PER_MIN;
    *end_us = *start_us + (int64_t) len * CC_US_PER_MIN;
    return 0;
}

int dd_rules_shift_at(const dd_caregiver_t *c, int64_t t_us, int64_t *start_us, int64_t *end_us)
{
    if (!c->rules || c->rules->nrota == 0) {
        dd_shift_at(c->shift_start_min, c->shift_end_min, t_us, start_us, end_us);
        return 0;
    }
    int32_t day = dd_day_of(t_us);
    for (int k = -1; k <= 1; k++) {
        int64_t s, e;
        if (dd_rules_shift_on(c, day + k, &s, &e) == 0 && e > t_us) {
            *start_us = s;
            *end_us = e;
            return 0;
        }
    }
    return -1;
}

int dd_rules_unavailable(const dd_caregiver_t *c, int64_t t_us)
{
    const dd_rota_t *e = c->rules ? dd_rules_rota_get(c, dd_day_of(t_us)) : NULL;
    return e && (e->off == DD_OFF_LEAVE || e->off == DD_OFF_SICK);
}

/* ---- certificates -------------------------------------------------------------- */

/* Certificates of kind: -1 when c holds none (the static fields decide),
 * else the highest level valid at at_us (0: none valid). */
static int s_cert_level(const dd_caregiver_t *c, int kind, int64_t at_us)
{
    const dd_cg_rules_t *r = c->rules;
    int held = 0, best = 0;
    for (size_t i = 0; r && i < r->ncerts; i++) {
        const dd_cert_t *x = &r->certs[i];
        if (x->kind != kind)
            continue;
        held = 1;
        if (x->from_us <= at_us && at_us < x->until_us && x->level > best)
            best = x->level;
    }
    return held ? best : -1;
}

int dd_rules_certified(const dd_caregiver_t *c, int service, dd_ability_t ability, int64_t at_us)
{
    int need = service == DD_SVC_BATH
                       && (ability == DD_ABILITY_SEVERE || ability == DD_ABILITY_TOTAL)
                   ? 2 : 1;
    int lv = s_cert_level(c, service, at_us);
    if (lv < 0)
        return dd_caregiver_has_skill(c, service) && (need == 1 || c->level >= need);
    return lv >= need;
}

int dd_rules_first_aid(const dd_caregiver_t *c, int64_t at_us)
{
    int lv = s_cert_level(c, DD_CERT_FIRST_AID, at_us);
    return lv < 0 ? c->first_aid != 0 : lv > 0;
}

dd_fit_t dd_rules_qualified(const dd_caregiver_t *c, const dd_visit_t *v)
{
    const dd_cg_rules_t *r = c->rules;
    if (!r || r->ncerts == 0) {   /* the static fields: today's rules, fast */
        if (!dd_caregiver_has_skill(c, v->service))
            return DD_FIT_SKILL;
        if (v->service == DD_SVC_BATH && c->level < 2
            && (v->ability == DD_ABILITY_SEVERE || v->ability == DD_ABILITY_TOTAL))
            return DD_FIT_LEVEL;
        if ((v->emergency || v->service == DD_SVC_EMERGENCY) && !c->first_aid)
            return DD_FIT_FIRST_AID;
    } else {
        /* Valid over the whole window: wherever in it the visit lands. */
        int64_t t0 = v->window_start_us;
        int64_t t1 = v->window_end_us + (int64_t) dd_service_minutes(v->service) * CC_US_PER_MIN
                     - 1;
        int kind_held = s_cert_level(c, v->service, t0) >= 0;
        if (!dd_rules_certified(c, v->service, v->ability, t0)
            || !dd_rules_certified(c, v->service, v->ability, t1)) {
            /* Held but not good enough (or expired): a certificate problem. */
            if (kind_held)
                return DD_FIT_CERTIFICATE;
            return dd_caregiver_has_skill(c, v->service) ? DD_FIT_LEVEL : DD_FIT_SKILL;
        }
        if ((v->emergency || v->service == DD_SVC_EMERGENCY)
            && (!dd_rules_first_aid(c, t0) || !dd_rules_first_aid(c, t1)))
            return s_cert_level(c, DD_CERT_FIRST_AID, t0) >= 0 ? DD_FIT_CERTIFICATE
                                                                 : DD_FIT_FIRST_AID;
    }
    if (r && !s_zone_has(r->zone, v->district_id))
        return DD_FIT_ZONE;
    return DD_FIT_OK;
}

/* ---- pins and day lists ----------------------------------------------------------- */

int dd_rules_pinned(const dd_visit_t *v)
{
    return v->manual_caregiver_id[0] && dd_visit_state_planned(v->state)
           && strcmp(v->manual_caregiver_id, v->caregiver_id) == 0;
}

size_t dd_rules_day_visits(const dd_caregiver_t *c, int32_t day, dd_visit_t **out, size_t max)
{
    size_t n = 0;
    for (size_t i = 0; i < c->nplan; i++) {
        dd_visit_t *v = c->plan[i];
        if ((v->state == DD_VISIT_ASSIGNED || v->state == DD_VISIT_ACCEPTED)
            && dd_day_of(v->eta_us) == day) {
            if (n < max)
                out[n] = v;
            n++;
        }
    }
    return n;
}
