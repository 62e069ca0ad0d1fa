/* od_duty_rules: see od_duty_rules.h. */
#include "od_duty_rules.h"
#include "od_domain.h"
#include "cc_time.h"
#include <stdlib.h>
#include <string.h>
#include <stdio.h>
#include <limits.h>

const char *const od_duty_service_names[] = { "visit", "contact", "assessment", NULL };
const char *const od_period_names[] = { "week", "month", "year", "two_years", NULL };

/* ---- calendar ---------------------------------------------------------- */
/* Copy with truncation (the formats above fit; the compiler cannot tell). */
static void s_copy(char *out, size_t len, const char *in)
{
    size_t n = strlen(in);
    if (n >= len)
        n = len - 1;
    memcpy(out, in, n);
    out[n] = '\0';
}

/* Days from civil (H. Hinnant's algorithm): exact for the proleptic
 * Gregorian calendar, no time zone involved. */
int32_t od_day_from_civil(int y, int m, int d)
{
    y -= m <= 2;
    int era = (y >= 0 ? y : y - 399) / 400;
    int yoe = y - era * 400;
    int doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

void od_day_to_civil(int32_t z, int *y, int *m, int *d)
{
    z += 719468;
    int era = (z >= 0 ? z : z - 146096) / 146097;
    int doe = z - era * 146097;
    int yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = yoe + era * 400 + (*m <= 2);
}

int od_duty_day_parse(const char *s, int32_t *day)
{
    int y, m, d;
    if (!s || od_date_parse(s, &y, &m, &d) != 0)
        return -1;
    *day = od_day_from_civil(y, m, d);
    return 0;
}

void od_duty_day_format(int32_t day, char out[11])
{
    int y, m, d;
    od_day_to_civil(day, &y, &m, &d);
    char buf[48];
    snprintf(buf, sizeof buf, "%04d-%02d-%02d", y % 10000, m, d);
    s_copy(out, 11, buf);
}

int od_weekday(int32_t day)
{
    /* 1970-01-01 was a Thursday (3 with Monday = 0). */
    int w = (int)((day % 7 + 7) % 7);
    return (w + 3) % 7;
}

int32_t od_day_of_us(int64_t us)
{
    int64_t local_s = us / CC_US_PER_S + CC_TZ_OFFSET_S;
    int64_t day = local_s / CC_S_PER_DAY;
    if (local_s < 0 && local_s % CC_S_PER_DAY)
        day--;
    return (int32_t)day;
}

static int s_month_days(int y, int m)
{
    static const int len[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
    if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
        return 29;
    return len[m - 1];
}

int32_t od_day_add_months(int32_t day, int months)
{
    int y, m, d;
    od_day_to_civil(day, &y, &m, &d);
    int total = y * 12 + (m - 1) + months;
    y = total / 12;
    m = total % 12 + 1;
    int last = s_month_days(y, m);
    return od_day_from_civil(y, m, d > last ? last : d);
}

void od_period_bounds(od_period_t p, int32_t day, int32_t *start, int32_t *end,
                      char out[OD_DUTY_PKEY_MAX])
{
    int y, m, d;
    char key[64];
    od_day_to_civil(day, &y, &m, &d);
    switch (p) {
    case OD_PER_WEEK: {
        *start = day - od_weekday(day);
        *end = *start + 7;
        /* ISO 8601 week: the year and week of its Thursday. */
        int32_t thu = *start + 3;
        int ty, tm, td;
        od_day_to_civil(thu, &ty, &tm, &td);
        int week = (thu - od_day_from_civil(ty, 1, 1)) / 7 + 1;
        snprintf(key, sizeof key, "%04d-W%02d", ty % 10000, week);
        break;
    }
    case OD_PER_MONTH:
        *start = od_day_from_civil(y, m, 1);
        *end = *start + s_month_days(y, m);
        snprintf(key, sizeof key, "%04d-%02d", y % 10000, m);
        break;
    case OD_PER_YEAR:
        *start = od_day_from_civil(y, 1, 1);
        *end = od_day_from_civil(y + 1, 1, 1);
        snprintf(key, sizeof key, "%04d", y % 10000);
        break;
    case OD_PER_TWO_YEARS:
    default: {
        int y0 = y - ((y % 2) + 2) % 2;   /* pairs begin in even years */
        *start = od_day_from_civil(y0, 1, 1);
        *end = od_day_from_civil(y0 + 2, 1, 1);
        snprintf(key, sizeof key, "%04d-%04d", y0 % 10000, (y0 + 1) % 10000);
        break;
    }
    }
    s_copy(out, OD_DUTY_PKEY_MAX, key);
}

int od_duty_spread(int nwork, int count, int slot, int rank, int n)
{
    if (nwork <= 0)
        return 0;
    if (count < 1)
        count = 1;
    if (slot < 0)
        slot = 0;
    if (slot >= count)
        slot = count - 1;
    int lo = (int)((int64_t)slot * nwork / count);
    int hi = (int)((int64_t)(slot + 1) * nwork / count);
    int len = hi - lo;
    if (len <= 0)   /* more occurrences than working days: share days */
        return lo < nwork ? lo : nwork - 1;
    if (n < 1 || rank < 0)
        return lo;
    return lo + (int)((int64_t)(rank % n) * len / n);
}

/* ---- rules ---------------------------------------------------------------- */
static int s_ident_ok(const char *s)
{
    size_t n = strlen(s);
    if (n < 1 || n > OD_DUTY_ID_MAX)
        return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '_'))
            return 0;
    return 1;
}

/* err->field "x" -> "rules[i].x". Returns -1. */
static int s_at(cc_err_t *err, int i)
{
    if (err) {
        char f[sizeof err->field + 32];
        snprintf(f, sizeof f, "rules[%d].%s", i, err->field);
        s_copy(err->field, sizeof err->field, f);
    }
    return -1;
}

static int s_names_bits(json_t *r, const char *field, const char *const *names, uint32_t *bits,
                        cc_err_t *err)
{
    json_t *a = json_object_get(r, field);
    *bits = 0;
    if (!a || json_is_null(a))
        return 0;
    if (!json_is_array(a))
        return cc_err_set(err, 400, "wrong_type", field, "%s must be an array of names", field);
    size_t i;
    json_t *v;
    json_array_foreach(a, i, v) {
        const char *s = json_string_value(v);
        int found = -1;
        for (int k = 0; s && names[k]; k++)
            if (strcmp(names[k], s) == 0)
                found = k;
        if (found < 0)
            return cc_err_set(err, 400, "invalid_value", field, "%s[%zu] is not a known value",
                              field, i);
        *bits |= 1u << found;
    }
    return 0;
}

static int s_age(json_t *r, const char *field, int *out, cc_err_t *err)
{
    int64_t v = -1;
    *out = -1;
    if (cc_json_int(r, field, 0, 0, 150, &v, err) != 0)
        return -1;
    *out = (int)v;
    return 0;
}

static int s_rule_from_json(json_t *r, od_duty_rule_t *out, cc_err_t *err)
{
    static const char *const known[] = { "id", "service", "period", "count", "categories",
                                         "min_age", "max_age", "abilities", "districts",
                                         "fund", "source", NULL };
    memset(out, 0, sizeof *out);
    if (!json_is_object(r))
        return cc_err_set(err, 400, "not_an_object", "", "each rule must be an object");
    if (cc_json_only(r, known, err) != 0)
        return -1;
    const char *id = NULL, *fund = NULL, *source = NULL;
    if (cc_json_str(r, "id", 1, OD_DUTY_ID_MAX, &id, err) != 0)
        return -1;
    if (!s_ident_ok(id))
        return cc_err_set(err, 400, "invalid_value", "id", "id must be 1..40 of a-z, 0-9, _");
    snprintf(out->id, sizeof out->id, "%s", id);
    int svc = 0, per = 0;
    if (cc_json_enum(r, "service", 1, od_duty_service_names, &svc, err) != 0)
        return -1;
    if (cc_json_enum(r, "period", 1, od_period_names, &per, err) != 0)
        return -1;
    out->service = (od_duty_service_t)svc;
    out->period = (od_period_t)per;
    int64_t count = 0;
    if (cc_json_int(r, "count", 1, 1, OD_DUTY_COUNT_MAX, &count, err) != 0)
        return -1;
    out->count = (int)count;
    if (out->period == OD_PER_WEEK && count > 7)
        return cc_err_set(err, 422, "invalid_value", "count", "a week has 7 days: count 1..7");
    if (out->service == OD_DUTY_ASSESSMENT) {
        /* An assessment is due a period after the last one (001 §2), not
         * on a calendar grid: once per period. */
        if (out->period != OD_PER_YEAR && out->period != OD_PER_TWO_YEARS)
            return cc_err_set(err, 422, "invalid_value", "period",
                              "an assessment duty is yearly or every two_years");
        if (count != 1)
            return cc_err_set(err, 422, "invalid_value", "count",
                              "an assessment duty has count 1");
    }
    if (s_names_bits(r, "categories", od_category_names, &out->categories, err) != 0)
        return -1;
    if (s_names_bits(r, "abilities", od_ability_names, &out->abilities, err) != 0)
        return -1;
    if (s_age(r, "min_age", &out->min_age, err) != 0 || s_age(r, "max_age", &out->max_age, err) != 0)
        return -1;
    if (out->min_age >= 0 && out->max_age >= 0 && out->min_age > out->max_age)
        return cc_err_set(err, 422, "invalid_value", "max_age", "max_age is below min_age");
    json_t *ds = json_object_get(r, "districts");
    if (ds && !json_is_null(ds)) {
        if (!json_is_array(ds))
            return cc_err_set(err, 400, "wrong_type", "districts",
                              "districts must be an array of district ids");
        if (json_array_size(ds) > OD_DUTY_DISTRICTS_MAX)
            return cc_err_set(err, 400, "invalid_value", "districts",
                              "at most %d districts", OD_DUTY_DISTRICTS_MAX);
        size_t i;
        json_t *v;
        json_array_foreach(ds, i, v) {
            if (!json_is_integer(v) || json_integer_value(v) < 0 ||
                json_integer_value(v) > INT32_MAX)
                return cc_err_set(err, 400, "invalid_value", "districts",
                                  "districts[%zu] is not a district id", i);
            out->districts[out->ndistricts++] = (int32_t)json_integer_value(v);
        }
    }
    if (cc_json_str(r, "fund", 1, OD_DUTY_ID_MAX, &fund, err) != 0)
        return -1;
    if (!s_ident_ok(fund))
        return cc_err_set(err, 400, "invalid_value", "fund", "fund must be 1..40 of a-z, 0-9, _");
    snprintf(out->fund, sizeof out->fund, "%s", fund);
    if (cc_json_str(r, "source", 0, OD_DUTY_SOURCE_MAX, &source, err) != 0)
        return -1;
    snprintf(out->source, sizeof out->source, "%s", source ? source : "");
    return 0;
}

int od_duty_rules_from_json(json_t *rules, od_duty_set_t *set, cc_err_t *err)
{
    set->nrules = 0;
    if (!json_is_array(rules))
        return cc_err_set(err, 400, "wrong_type", "rules", "rules must be an array");
    if (json_array_size(rules) > OD_DUTY_RULES_MAX)
        return cc_err_set(err, 400, "invalid_value", "rules", "at most %d rules",
                          OD_DUTY_RULES_MAX);
    size_t i;
    json_t *r;
    json_array_foreach(rules, i, r) {
        od_duty_rule_t *out = &set->rules[i];
        if (s_rule_from_json(r, out, err) != 0)
            return s_at(err, (int)i);
        for (size_t k = 0; k < i; k++)
            if (strcmp(set->rules[k].id, out->id) == 0) {
                cc_err_set(err, 422, "duplicate", "id", "two rules have the id %s", out->id);
                return s_at(err, (int)i);
            }
        set->nrules = (int)i + 1;
    }
    return 0;
}

int od_duty_put_from_json(json_t *body, int32_t today, od_duty_set_t *set, cc_err_t *err)
{
    static const char *const known[] = { "effective_from", "rules", NULL };
    memset(set, 0, sizeof *set);
    if (!json_is_object(body))
        return cc_err_set(err, 400, "not_an_object", "", "the body must be a JSON object");
    if (cc_json_only(body, known, err) != 0)
        return -1;
    const char *from = NULL;
    if (cc_json_str(body, "effective_from", 1, 10, &from, err) != 0)
        return -1;
    if (od_duty_day_parse(from, &set->effective_from) != 0)
        return cc_err_set(err, 400, "invalid_value", "effective_from",
                          "effective_from must be a date YYYY-MM-DD");
    /* The past is what was in force: a rule set changes the future only. */
    if (set->effective_from < today)
        return cc_err_set(err, 422, "invalid_value", "effective_from",
                          "effective_from is in the past");
    json_t *rules = json_object_get(body, "rules");
    if (!rules)
        return cc_err_set(err, 400, "missing_field", "rules", "rules is required");
    return od_duty_rules_from_json(rules, set, err);
}

static json_t *s_bits_json(uint32_t bits, const char *const *names)
{
    json_t *a = json_array();
    for (int k = 0; names[k]; k++)
        if (bits & (1u << k))
            json_array_append_new(a, json_string(names[k]));
    return a;
}

json_t *od_duty_rules_to_json(const od_duty_set_t *set)
{
    json_t *a = json_array();
    for (int i = 0; i < set->nrules; i++) {
        const od_duty_rule_t *r = &set->rules[i];
        json_t *o = json_object();
        json_object_set_new(o, "id", json_string(r->id));
        json_object_set_new(o, "service", json_string(od_duty_service_names[r->service]));
        json_object_set_new(o, "period", json_string(od_period_names[r->period]));
        json_object_set_new(o, "count", json_integer(r->count));
        json_object_set_new(o, "categories", s_bits_json(r->categories, od_category_names));
        json_object_set_new(o, "min_age", r->min_age >= 0 ? json_integer(r->min_age) : json_null());
        json_object_set_new(o, "max_age", r->max_age >= 0 ? json_integer(r->max_age) : json_null());
        json_object_set_new(o, "abilities", s_bits_json(r->abilities, od_ability_names));
        json_t *ds = json_array();
        for (int k = 0; k < r->ndistricts; k++)
            json_array_append_new(ds, json_integer(r->districts[k]));
        json_object_set_new(o, "districts", ds);
        json_object_set_new(o, "fund", json_string(r->fund));
        json_object_set_new(o, "source", json_string(r->source));
        json_array_append_new(a, o);
    }
    return a;
}

/* ---- the plan --------------------------------------------------------------- */
int od_duty_matches(const od_duty_rule_t *r, const od_duty_elder_t *e, int32_t day)
{
    if (r->categories && !(r->categories & e->categories))
        return 0;
    if (r->abilities && !(r->abilities & (1u << e->ability)))
        return 0;
    if (r->ndistricts) {
        int in = 0;
        for (int k = 0; k < r->ndistricts && !in; k++)
            in = r->districts[k] == e->district;
        if (!in)
            return 0;
    }
    if (r->min_age >= 0 || r->max_age >= 0) {
        int y, m, d;
        od_day_to_civil(day, &y, &m, &d);
        int age = od_age_years(e->by, e->bm, e->bd, y, m, d);
        if (r->min_age >= 0 && age < r->min_age)
            return 0;
        if (r->max_age >= 0 && age > r->max_age)
            return 0;
    }
    return 1;
}

int od_duty_key_parse(const char *k, char *occ_key, size_t len, int *n)
{
    if (strncmp(k, "duty:", 5) != 0)
        return -1;
    const char *body = k + 5, *last = strrchr(body, ':');
    if (!last || last == body)
        return -1;
    char *end = NULL;
    long v = strtol(last + 1, &end, 10);
    if (!*(last + 1) || *end || v < 1 || v > 1000000)
        return -1;
    size_t blen = (size_t)(last - body);
    if (blen + 1 > len)
        return -1;
    memcpy(occ_key, body, blen);
    occ_key[blen] = '\0';
    *n = (int)v;
    return 0;
}

const od_duty_set_t *od_duty_set_on(const od_duty_set_t *sets, int nsets, int32_t day)
{
    const od_duty_set_t *best = NULL;
    for (int i = 0; i < nsets; i++)
        if (sets[i].effective_from <= day &&
            (!best || sets[i].effective_from > best->effective_from ||
             (sets[i].effective_from == best->effective_from && sets[i].version > best->version)))
            best = &sets[i];
    return best;
}

static uint64_t s_hash(const char *a, const char *b, const char *c)
{
    uint64_t h = 1469598103934665603ull;   /* FNV-1a */
    const char *parts[3] = { a, b, c };
    for (int i = 0; i < 3; i++) {
        for (const char *p = parts[i]; *p; p++) {
            h ^= (unsigned char)*p;
            h *= 1099511628211ull;
        }
        h ^= ':';
        h *= 1099511628211ull;
    }
    return h;
}

typedef struct {
    od_duty_due_t *v;
    int n, cap;
} s_out_t;

static void s_emit(s_out_t *o, const od_duty_set_t *set, int rule, int elder, const char *pkey,
                   int n, int32_t day, int32_t from, int32_t to, int32_t pend)
{
    if (o->n == o->cap) {
        int cap = o->cap ? o->cap * 2 : 64;
        od_duty_due_t *v = realloc(o->v, (size_t)cap * sizeof *v);
        if (!v) {
            fprintf(stderr, "od_duty_plan: out of memory\n");
            abort();   /* crash-only: nothing was placed for this run */
        }
        o->v = v;
        o->cap = cap;
    }
    od_duty_due_t *d = &o->v[o->n++];
    d->set = set;
    d->rule = rule;
    d->elder = elder;
    snprintf(d->pkey, sizeof d->pkey, "%s", pkey);
    d->n = n;
    d->day = day;
    d->from = from < day ? from : day;
    d->to = to > day ? to : day;
    d->pend = pend;
}

/* The occurrence record of rule:elder:pkey, created empty if absent. */
static od_duty_occ_t *s_occ(cc_map_t *occ, const char *rule, const char *elder, const char *pkey)
{
    char k[OD_DUTY_ID_MAX + CC_UUID_LEN + OD_DUTY_PKEY_MAX + 4];
    snprintf(k, sizeof k, "%s:%s:%s", rule, elder, pkey);
    od_duty_occ_t *o = cc_map_get(occ, k);
    if (!o) {
        o = calloc(1, sizeof *o);
        if (!o || cc_map_put(occ, k, o, NULL) != 0) {
            fprintf(stderr, "od_duty_plan: out of memory\n");
            abort();
        }
    }
    return o;
}

static int s_any_in(const int32_t *days, int n, int32_t from, int32_t to)
{
    for (int i = 0; i < n; i++)
        if (days[i] >= from && days[i] < to)
            return 1;
    return 0;
}

static int s_working(int32_t day)
{
    return od_weekday(day) < 5;
}

/* First day >= lo and < end, a working day if there is one: -1 if none. */
static int32_t s_first_from(int32_t lo, int32_t end)
{
    for (int32_t d = lo; d < end; d++)
        if (s_working(d))
            return d;
    return lo < end ? lo : -1;
}

typedef struct {
    int elder;
    int32_t district;
    uint64_t h;
} s_cand_t;

static int s_cand_cmp(const void *a, const void *b)
{
    const s_cand_t *x = a, *y = b;
    if (x->district != y->district)
        return x->district < y->district ? -1 : 1;
    if (x->h != y->h)
        return x->h < y->h ? -1 : 1;
    return x->elder - y->elder;
}

/* One calendar period of one rule: rank each district's eligible elders by
 * hash and give each its share of the working days. */
static void s_plan_period(const od_duty_set_t *set, int ri, const od_duty_elder_t *elders,
                          int nelders, cc_map_t *occ, int32_t pstart, int32_t pend,
                          const char *pkey, int32_t lo, int32_t hi, s_out_t *out,
                          s_cand_t *cand, od_duty_plan_stats_t *st)
{
    const od_duty_rule_t *r = &set->rules[ri];
    int32_t wd[800];   /* two years hold ~522 working days */
    int nwd = 0;
    for (int32_t d = pstart; d < pend && nwd < 800; d++)
        if (s_working(d))
            wd[nwd++] = d;
    if (nwd == 0)
        for (int32_t d = pstart; d < pend && nwd < 800; d++)
            wd[nwd++] = d;
    int32_t on = lo > pstart ? lo : pstart;
    int nc = 0;
    for (int i = 0; i < nelders; i++) {
        if (!od_duty_matches(r, &elders[i], on))
            continue;
        cand[nc].elder = i;
        cand[nc].district = elders[i].district;
        cand[nc].h = s_hash(elders[i].id, r->id, pkey);
        nc++;
    }
    qsort(cand, (size_t)nc, sizeof *cand, s_cand_cmp);
    for (int i = 0; i < nc;) {
        int j = i;
        while (j < nc && cand[j].district == cand[i].district)
            j++;
        int n = j - i;
        for (int k = i; k < j; k++) {
            const od_duty_elder_t *e = &elders[cand[k].elder];
            if (r->service == OD_DUTY_CONTACT &&
                s_any_in(e->contact_days, e->ncontact, pstart, pend))
                continue;   /* a phone call or visit logged meets it */
            od_duty_occ_t *o = s_occ(occ, r->id, e->id, pkey);
            for (int slot = o->live; slot < r->count; slot++) {
                if (o->max_n >= r->count + OD_DUTY_REGEN_MAX) {
                    st->regen_cap++;
                    break;
                }
                int32_t day = wd[od_duty_spread(nwd, r->count, slot, k - i, n)];
                if (day < lo) {
                    /* Its day has passed (a new elder, a regeneration):
                     * the first working day left in the period. */
                    day = s_first_from(lo, pend);
                    if (day < 0)
                        break;
                }
                if (day > hi)
                    break;
                o->live++;
                o->max_n++;
                s_emit(out, set, ri, cand[k].elder, pkey, o->max_n, day, lo,
                       hi < pend - 1 ? hi : pend - 1, pend);
                st->placements++;
                st->no_card += !e->card_id[0];
            }
        }
        i = j;
    }
}

/* Assessments: due a period after the last one (never assessed: now),
 * placed on a working day between OD_DUTY_ASSESS_LEAD_DAYS before it and
 * the due day (overdue: within the next two weeks), picked by hash so the
 * elders of a day do not all come at once. */
static void s_plan_assess(const od_duty_set_t *set, int ri, const od_duty_elder_t *elders,
                          int nelders, cc_map_t *occ, int32_t lo, int32_t hi, s_out_t *out,
                          od_duty_plan_stats_t *st)
{
    const od_duty_rule_t *r = &set->rules[ri];
    int months = r->period == OD_PER_YEAR ? 12 : 24;
    for (int i = 0; i < nelders; i++) {
        const od_duty_elder_t *e = &elders[i];
        if (!od_duty_matches(r, e, lo))
            continue;
        int32_t due = e->assessed_on == INT32_MIN ? lo
                                                  : od_day_add_months(e->assessed_on, months);
        int32_t open = due - OD_DUTY_ASSESS_LEAD_DAYS;
        if (e->assessed_on != INT32_MIN && open <= e->assessed_on)
            open = e->assessed_on + 1;
        if (open > hi)
            continue;
        char pkey[OD_DUTY_PKEY_MAX];
        od_duty_day_format(due, pkey);
        od_duty_occ_t *o = s_occ(occ, r->id, e->id, pkey);
        if (o->live >= r->count)
            continue;
        if (o->max_n >= r->count + OD_DUTY_REGEN_MAX) {
            st->regen_cap++;
            continue;
        }
        int32_t from = open > lo ? open : lo;
        int32_t to = due >= from + 4 ? due : from + 13;   /* overdue: two weeks */
        int32_t wd[64];
        int nwd = 0;
        for (int32_t d = from; d <= to && nwd < 64; d++)
            if (s_working(d))
                wd[nwd++] = d;
        int32_t day = nwd ? wd[s_hash(e->id, r->id, pkey) % (uint64_t)nwd] : from;
        if (day > hi)
            continue;
        o->live++;
        o->max_n++;
        s_emit(out, set, ri, i, pkey, o->max_n, day, from, to < hi ? to : hi, due + 1);
        st->placements++;
        st->no_card += !e->card_id[0];
    }
}

od_duty_due_t *od_duty_plan(const od_duty_set_t *sets, int nsets, const od_duty_elder_t *elders,
                            int nelders, cc_map_t *occ, int32_t earliest, int32_t hend,
                            int *n, od_duty_plan_stats_t *stats)
{
    s_out_t out = { 0 };
    od_duty_plan_stats_t st = { 0 };
    s_cand_t *cand = nelders ? malloc((size_t)nelders * sizeof *cand) : NULL;
    if (nelders && !cand) {
        fprintf(stderr, "od_duty_plan: out of memory\n");
        abort();
    }
    /* Each set rules the days from its effective_from to the next set's. */
    for (int32_t a = earliest; a <= hend;) {
        const od_duty_set_t *set = od_duty_set_on(sets, nsets, a);
        int32_t b = hend;
        for (int i = 0; i < nsets; i++)
            if (sets[i].effective_from > a && sets[i].effective_from - 1 < b)
                b = sets[i].effective_from - 1;
        for (int ri = 0; set && ri < set->nrules; ri++) {
            const od_duty_rule_t *r = &set->rules[ri];
            if (r->service == OD_DUTY_ASSESSMENT) {
                s_plan_assess(set, ri, elders, nelders, occ, a, b, &out, &st);
                continue;
            }
            for (int32_t d = a; d <= b;) {
                int32_t ps, pe;
                char pkey[OD_DUTY_PKEY_MAX];
                od_period_bounds(r->period, d, &ps, &pe, pkey);
                s_plan_period(set, ri, elders, nelders, occ, ps, pe, pkey, d, b, &out, cand, &st);
                d = pe;
            }
        }
        a = b + 1;
    }
    free(cand);
    *n = out.n;
    if (stats)
        *stats = st;
    return out.v;
}

/* ---- capacity ------------------------------------------------------------------ */
int od_duty_minutes(const od_duty_due_t *d)
{
    return d->set->rules[d->rule].service == OD_DUTY_ASSESSMENT ? OD_DUTY_ASSESS_MIN
                                                                 : OD_DUTY_VISIT_MIN;
}

typedef struct {
    int i;                            /* index in due */
    int32_t district;
    int contact;                      /* 0: a contact duty (first) */
    int32_t pend;
} s_fit_t;

static int s_fit_cmp(const void *a, const void *b)
{
    const s_fit_t *x = a, *y = b;
    if (x->district != y->district)
        return x->district < y->district ? -1 : 1;
    if (x->contact != y->contact)
        return x->contact - y->contact;
    if (x->pend != y->pend)
        return x->pend < y->pend ? -1 : 1;
    return x->i - y->i;
}

static int s_cap_cmp(const void *a, const void *b)
{
    const od_duty_cap_t *x = a, *y = b;
    if (x->district != y->district)
        return x->district < y->district ? -1 : 1;
    return x->day < y->day ? -1 : x->day > y->day;
}

static void *s_xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p) {
        fprintf(stderr, "od_duty_fit: out of memory\n");
        abort();   /* crash-only: nothing was placed for this run */
    }
    return p;
}

int od_duty_fit(od_duty_due_t *due, int n, const od_duty_elder_t *elders,
                const od_duty_cap_t *caps, int ncaps, od_duty_fit_stats_t *st)
{
    od_duty_fit_stats_t z = { 0 };
    if (!st)
        st = &z;
    memset(st, 0, sizeof *st);
    if (n <= 0)
        return 0;
    od_duty_cap_t *cap = s_xmalloc((size_t)ncaps * sizeof *cap);
    if (ncaps)
        memcpy(cap, caps, (size_t)ncaps * sizeof *cap);
    qsort(cap, (size_t)ncaps, sizeof *cap, s_cap_cmp);
    int *used = calloc((size_t)(ncaps ? ncaps : 1), sizeof *used);
    s_fit_t *f = s_xmalloc((size_t)n * sizeof *f);
    char *drop = calloc((size_t)n, 1);
    if (!used || !drop) {
        fprintf(stderr, "od_duty_fit: out of memory\n");
        abort();
    }
    for (int i = 0; i < n; i++) {
        f[i].i = i;
        f[i].district = elders[due[i].elder].district;
        f[i].contact = due[i].set->rules[due[i].rule].service == OD_DUTY_CONTACT ? 0 : 1;
        f[i].pend = due[i].pend;
    }
    qsort(f, (size_t)n, sizeof *f, s_fit_cmp);
    for (int k = 0; k < n;) {
        int j = k;
        while (j < n && f[j].district == f[k].district)
            j++;
        /* The district's rows in cap: [c0, c1). */
        int c0 = 0;
        while (c0 < ncaps && cap[c0].district < f[k].district)
            c0++;
        int c1 = c0;
        while (c1 < ncaps && cap[c1].district == f[k].district)
            c1++;
        if (c0 == c1) {
            st->even += j - k;   /* never reported: the even spread stands */
            k = j;
            continue;
        }
        for (int q = k; q < j; q++) {
            od_duty_due_t *d = &due[f[q].i];
            int need = od_duty_minutes(d), any_work = 0;
            for (int32_t day = d->from; day <= d->to && !any_work; day++)
                any_work = s_working(day);
            int best = -1;
            double best_share = 0;
            for (int c = c0; c < c1; c++) {
                int32_t day = cap[c].day;
                if (day < d->from || day > d->to || (any_work && !s_working(day)))
                    continue;
                if (cap[c].free_min - used[c] < need)
                    continue;
                double share = (double)(used[c] + need) / cap[c].free_min;
                if (best < 0 || share < best_share) {
                    best = c;
                    best_share = share;
                }
            }
            if (best < 0) {
                drop[f[q].i] = 1;
                st->deferred++;
                continue;
            }
            used[best] += need;
            d->day = cap[best].day;
            st->fitted++;
        }
        k = j;
    }
    int m = 0;
    for (int i = 0; i < n; i++)
        if (!drop[i])
            due[m++] = due[i];
    free(cap);
    free(used);
    free(f);
    free(drop);
    return m;
}

/* ---- coverage ---------------------------------------------------------------- */
typedef struct {
    int due, visited;
    json_t *missing;
} s_tally_t;

static json_t *s_tally_json(s_tally_t *t)
{
    json_t *o = json_object();
    json_object_set_new(o, "due", json_integer(t->due));
    json_object_set_new(o, "visited", json_integer(t->visited));
    /* Nobody due: nothing is missed (the gauge shows 1, not a gap). */
    json_object_set_new(o, "rate", json_real(t->due ? (double)t->visited / t->due : 1.0));
    json_object_set_new(o, "missing", t->missing);
    t->missing = NULL;
    return o;
}

json_t *od_duty_coverage(const od_duty_set_t *set, const od_duty_elder_t *elders, int nelders,
                         od_period_t p, int32_t day, int32_t district)
{
    int32_t ps, pe;
    char pkey[OD_DUTY_PKEY_MAX], from[11], to[11];
    od_period_bounds(p, day, &ps, &pe, pkey);
    od_duty_day_format(ps, from);
    od_duty_day_format(pe - 1, to);
    json_t *res = json_object(), *duties = json_array();
    json_object_set_new(res, "period", json_string(pkey));
    json_object_set_new(res, "from", json_string(from));
    json_object_set_new(res, "to", json_string(to));
    for (int ri = 0; set && ri < set->nrules; ri++) {
        const od_duty_rule_t *r = &set->rules[ri];
        if (r->period != p || r->service == OD_DUTY_ASSESSMENT)
            continue;
        s_tally_t all = { 0, 0, json_array() }, cat[OD_CATEGORY_COUNT];
        for (int c = 0; c < OD_CATEGORY_COUNT; c++)
            cat[c] = (s_tally_t){ 0, 0, json_array() };
        for (int i = 0; i < nelders; i++) {
            const od_duty_elder_t *e = &elders[i];
            if (district >= 0 && e->district != district)
                continue;
            if (!od_duty_matches(r, e, ps > day ? ps : day))
                continue;
            int ok = s_any_in(e->visit_days, e->nvisit, ps, pe) ||
                     (r->service == OD_DUTY_CONTACT &&
                      s_any_in(e->contact_days, e->ncontact, ps, pe));
            all.due++;
            all.visited += ok;
            if (!ok)
                json_array_append_new(all.missing, json_string(e->id));
            for (int c = 0; c < OD_CATEGORY_COUNT; c++) {
                if (!(e->categories & (1u << c)) ||
                    (r->categories && !(r->categories & (1u << c))))
                    continue;
                cat[c].due++;
                cat[c].visited += ok;
                if (!ok)
                    json_array_append_new(cat[c].missing, json_string(e->id));
            }
        }
        json_t *d = s_tally_json(&all), *cats = json_array();
        json_object_set_new(d, "duty", json_string(r->id));
        json_object_set_new(d, "service", json_string(od_duty_service_names[r->service]));
        for (int c = 0; c < OD_CATEGORY_COUNT; c++) {
            if (cat[c].due) {
                json_t *co = s_tally_json(&cat[c]);
                json_object_set_new(co, "category", json_string(od_category_names[c]));
                json_array_append_new(cats, co);
            }
            json_decref(cat[c].missing);
        }
        json_object_set_new(d, "categories", cats);
        json_array_append_new(duties, d);
    }
    json_object_set_new(res, "duties", duties);
    return res;
}
