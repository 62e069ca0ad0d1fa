/* od_elders_req: the pure parts of od_elders (od_elders.h): PATCH bodies,
 * CSV records and roster rows. No store, no loop: unit-tested alone. */
#include "od_elders.h"
#include "od_req.h"
#include "od_domain.h"
#include "cc_limits.h"
#include "cc_map.h"
#include "cc_util.h"
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *const od_category_names[] = { "alone", "empty_nest", "left_behind", "disabled",
                                          "severely_disabled", "fp_special", "no_carer", NULL };
const char *const od_relation_names[] = { "child", "spouse", "relative", "neighbour",
                                          "grid_worker", "other", NULL };
const char *const od_elder_status_names[] = { "active", "in_hospital", "moved_away", "deceased",
                                              NULL };

static int s_blank(const char *s)
{
    for (; *s; s++)
        if (!isspace((unsigned char)*s))
            return 0;
    return 1;
}

static int s_index(const char *const *names, const char *v)
{
    for (int i = 0; names[i]; i++)
        if (strcmp(names[i], v) == 0)
            return i;
    return -1;
}

json_t *od_categories_from_json(json_t *v, const char *field, cc_err_t *err)
{
    if (!json_is_array(v)) {
        cc_err_set(err, 400, "wrong_type", field, "%s must be an array of categories", field);
        return NULL;
    }
    unsigned mask = 0;
    size_t i;
    json_t *c;
    json_array_foreach(v, i, c) {
        int k = json_is_string(c) ? s_index(od_category_names, json_string_value(c)) : -1;
        if (k < 0) {
            cc_err_set(err, 400, "invalid_value", field,
                       "%s[%zu] is not one of alone, empty_nest, left_behind, disabled, "
                       "severely_disabled, fp_special, no_carer", field, i);
            return NULL;
        }
        mask |= 1u << k;
    }
    json_t *out = json_array();
    for (int k = 0; od_category_names[k]; k++)
        if (mask & (1u << k))
            json_array_append_new(out, json_string(od_category_names[k]));
    return out;
}

/* The creation rules on a birth date (od_elder_req_from_json's). */
static int s_birth_check(const char *birth, int64_t now_us, cc_err_t *err)
{
    int y, m, d, ty, tm, td;
    char today[16];
    if (od_date_parse(birth, &y, &m, &d) != 0)
        return cc_err_set(err, 400, "invalid_value", "birth_date",
                          "birth_date must be a date YYYY-MM-DD");
    if (cc_date_local(now_us, today, sizeof today) && od_date_parse(today, &ty, &tm, &td) == 0) {
        int age = od_age_years(y, m, d, ty, tm, td);
        if (age < 0 || (age == 0 && strcmp(birth, today) > 0))
            return cc_err_set(err, 422, "invalid_value", "birth_date",
                              "birth_date is in the future");
        if (age > 130)
            return cc_err_set(err, 422, "invalid_value", "birth_date",
                              "birth_date is more than 130 years ago");
    }
    return 0;
}

/* ---- PATCH ---------------------------------------------------------------- */
static const char *const s_patch_fields[] = {
    "name", "id_number", "phone", "address", "district_id", "lat", "lon", "birth_date",
    "ability_level", "household", "living", "disability_grade", "diet", "categories",
    "contacts", "rev", NULL,
};

static int s_contacts(json_t *v, od_elder_patch_t *p, cc_err_t *err)
{
    if (!json_is_array(v))
        return cc_err_set(err, 400, "wrong_type", "contacts", "contacts must be an array");
    if (json_array_size(v) > OD_CONTACTS_MAX)
        return cc_err_set(err, 400, "invalid_value", "contacts", "at most %d contacts",
                          OD_CONTACTS_MAX);
    static const char *const known[] = { "name", "phone", "relation", "priority", NULL };
    unsigned used = 0;
    size_t i;
    json_t *c;
    char f[64];
    json_array_foreach(v, i, c) {
        od_contact_req_t *k = &p->contacts[i];
        int rel = 0;
        int64_t prio = 0;
        snprintf(f, sizeof f, "contacts[%zu]", i);
        if (!json_is_object(c))
            return cc_err_set(err, 400, "wrong_type", f, "%s must be an object", f);
        cc_err_t e2;
        if (cc_json_only(c, known, &e2) != 0)
            return cc_err_set(err, 400, "unknown_field", f, "%s has an unknown field", f);
        snprintf(f, sizeof f, "contacts[%zu].name", i);
        if (cc_json_str(c, "name", 1, CC_NAME_MAX, &k->name, &e2) != 0 || s_blank(k->name))
            return cc_err_set(err, 400, "invalid_value", f, "%s must be a non-empty name", f);
        snprintf(f, sizeof f, "contacts[%zu].phone", i);
        if (cc_json_str(c, "phone", 1, CC_PHONE_MAX, &k->phone, &e2) != 0
            || !od_phone_valid(k->phone))
            return cc_err_set(err, 400, "invalid_value", f,
                              "%s must be 5..20 digits, optionally with +, - or spaces", f);
        snprintf(f, sizeof f, "contacts[%zu].relation", i);
        if (cc_json_enum(c, "relation", 1, od_relation_names, &rel, &e2) != 0)
            return cc_err_set(err, 400, "invalid_value", f,
                              "%s must be child, spouse, relative, neighbour, grid_worker or "
                              "other", f);
        k->relation = od_relation_names[rel];
        snprintf(f, sizeof f, "contacts[%zu].priority", i);
        if (cc_json_int(c, "priority", 1, 1, 9, &prio, &e2) != 0)
            return cc_err_set(err, 400, "invalid_value", f, "%s must be an integer 1..9", f);
        if (used & (1u << prio))
            return cc_err_set(err, 400, "invalid_value", f, "%s repeats another contact's", f);
        used |= 1u << prio;
        k->priority = (int)prio;
    }
    p->ncontacts = (int)json_array_size(v);
    p->has_contacts = 1;
    return 0;
}

void od_elder_patch_clear(od_elder_patch_t *p)
{
    json_decref(p->set);
    p->set = NULL;
}

int od_elder_patch_from_json(json_t *body, int64_t now_us, od_elder_patch_t *p, cc_err_t *err)
{
    memset(p, 0, sizeof *p);
    if (cc_json_only(body, s_patch_fields, err) != 0)
        return -1;
    p->set = json_object();
    const char *why = NULL;
    if (cc_json_str(body, "name", 0, CC_NAME_MAX, &p->name, err) != 0)
        goto bad;
    if (p->name && s_blank(p->name)) {
        cc_err_set(err, 400, "invalid_value", "name", "name is empty");
        goto bad;
    }
    if (cc_json_str(body, "id_number", 0, CC_ID_NUMBER_LEN, &p->id_number, err) != 0)
        goto bad;
    if (p->id_number) {
        if (od_id_number_check(p->id_number, &why) != 0) {
            cc_err_set(err, 400, "invalid_value", "id_number",
                       "id_number is not a valid 18-character resident ID (%s)", why);
            goto bad;
        }
        snprintf(p->id_number_norm, sizeof p->id_number_norm, "%s", p->id_number);
        if (p->id_number_norm[17] == 'x')
            p->id_number_norm[17] = 'X';
    }
    if (cc_json_str(body, "phone", 0, CC_PHONE_MAX, &p->phone, err) != 0)
        goto bad;
    if (p->phone && !od_phone_valid(p->phone)) {
        cc_err_set(err, 400, "invalid_value", "phone",
                   "phone must be 5..20 digits, optionally with +, - or spaces");
        goto bad;
    }
    if (cc_json_str(body, "address", 0, CC_ADDRESS_MAX, &p->address, err) != 0)
        goto bad;
    if (p->address && s_blank(p->address)) {
        cc_err_set(err, 400, "invalid_value", "address", "address is empty");
        goto bad;
    }
    int64_t n = 0;
    if (json_object_get(body, "district_id")) {
        if (cc_json_int(body, "district_id", 1, CC_DISTRICT_MIN, CC_DISTRICT_MAX, &n, err) != 0)
            goto bad;
        json_object_set_new(p->set, "district_id", json_integer(n));
    }
    double d;
    if (json_object_get(body, "lat")) {
        if (cc_json_num(body, "lat", 1, -CC_LAT_MAX, CC_LAT_MAX, &d, err) != 0)
            goto bad;
        json_object_set_new(p->set, "lat", json_real(d));
    }
    if (json_object_get(body, "lon")) {
        if (cc_json_num(body, "lon", 1, -CC_LON_MAX, CC_LON_MAX, &d, err) != 0)
            goto bad;
        json_object_set_new(p->set, "lon", json_real(d));
    }
    if (json_object_get(body, "birth_date")) {
        const char *birth = NULL;
        if (cc_json_str(body, "birth_date", 1, 10, &birth, err) != 0)
            goto bad;
        if (s_birth_check(birth, now_us, err) != 0)
            goto bad;
        json_object_set_new(p->set, "birth_date", json_string(birth));
    }
    int k = 0;
    if (json_object_get(body, "ability_level")) {
        if (cc_json_enum(body, "ability_level", 1, od_ability_names, &k, err) != 0)
            goto bad;
        json_object_set_new(p->set, "ability_level", json_string(od_ability_names[k]));
    }
    if (json_object_get(body, "household")) {
        if (cc_json_enum(body, "household", 1, od_household_names, &k, err) != 0)
            goto bad;
        json_object_set_new(p->set, "household", json_string(od_household_names[k]));
    }
    if (json_object_get(body, "living")) {
        if (cc_json_enum(body, "living", 1, od_living_names, &k, err) != 0)
            goto bad;
        json_object_set_new(p->set, "living", json_string(od_living_names[k]));
    }
    json_t *dg = json_object_get(body, "disability_grade");
    if (dg && json_is_null(dg)) {
        json_object_set_new(p->set, "disability_grade", json_null());   /* clears it */
    } else if (dg) {
        if (cc_json_int(body, "disability_grade", 1, 1, 4, &n, err) != 0)
            goto bad;
        json_object_set_new(p->set, "disability_grade", json_integer(n));
    }
    const char *diet = NULL;
    if (cc_json_str(body, "diet", 0, CC_TEXT_MAX, &diet, err) != 0)
        goto bad;
    if (diet)
        json_object_set_new(p->set, "diet", json_string(diet));
    json_t *cats = json_object_get(body, "categories");
    if (cats) {
        json_t *c = od_categories_from_json(cats, "categories", err);
        if (!c)
            goto bad;
        json_object_set_new(p->set, "categories", c);
    }
    json_t *contacts = json_object_get(body, "contacts");
    if (contacts && s_contacts(contacts, p, err) != 0)
        goto bad;
    if (json_object_get(body, "rev")) {
        if (cc_json_int(body, "rev", 1, 0, INT64_MAX, &p->rev, err) != 0)
            goto bad;
        p->has_rev = 1;
    }
    if (json_object_size(p->set) == 0 && !p->name && !p->id_number && !p->phone && !p->address
        && !p->has_contacts) {
        cc_err_set(err, 400, "missing_field", "", "the body names no field to change");
        goto bad;
    }
    return 0;
bad:
    od_elder_patch_clear(p);
    return -1;
}

/* ---- CSV ------------------------------------------------------------------- */
int od_csv_parse(const char *text, size_t len, int max_fields, od_csv_fn *fn, void *arg,
                 cc_err_t *err)
{
    if (memchr(text, '\0', len))
        return cc_err_set(err, 400, "invalid_csv", "body", "the file contains a NUL byte");
    char **fields = calloc((size_t)max_fields, sizeof *fields);
    char *buf = malloc(len + 1);   /* every field's text fits: unescaping only shrinks */
    if (!fields || !buf) {
        free(fields);
        free(buf);
        return cc_err_set(err, 503, "overloaded", NULL, "out of memory");
    }
    size_t i = 0;
    int record = 0, rc = 0;
    /* A UTF-8 byte-order mark (spreadsheets write one) is not data. */
    if (len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0)
        i = 3;
    while (i < len && rc == 0) {
        record++;
        int n = 0;
        char *w = buf;
        for (;;) {
            if (n == max_fields) {
                rc = cc_err_set(err, 400, "invalid_csv", "body",
                                "row %d has more than %d fields", record, max_fields);
                break;
            }
            fields[n++] = w;
            if (i < len && text[i] == '"') {
                i++;
                for (;;) {
                    if (i >= len) {
                        rc = cc_err_set(err, 400, "invalid_csv", "body",
                                        "row %d has an unterminated quote", record);
                        break;
                    }
                    if (text[i] == '"') {
                        if (i + 1 < len && text[i + 1] == '"') {
                            *w++ = '"';
                            i += 2;
                            continue;
                        }
                        i++;
                        break;
                    }
                    *w++ = text[i++];
                }
                if (rc)
                    break;
                if (i < len && text[i] != ',' && text[i] != '\n' && text[i] != '\r') {
                    rc = cc_err_set(err, 400, "invalid_csv", "body",
                                    "row %d has text after a closing quote", record);
                    break;
                }
            } else {
                while (i < len && text[i] != ',' && text[i] != '\n' && text[i] != '\r') {
                    if (text[i] == '"') {
                        rc = cc_err_set(err, 400, "invalid_csv", "body",
                                        "row %d has a quote inside an unquoted field", record);
                        break;
                    }
                    *w++ = text[i++];
                }
                if (rc)
                    break;
            }
            *w++ = '\0';
            if (i < len && text[i] == ',') {
                i++;
                continue;
            }
            if (i < len && text[i] == '\r')
                i++;
            if (i < len && text[i] == '\n')
                i++;
            break;
        }
        if (rc)
            break;
        /* A blank line (one empty field) is no record. */
        if (n == 1 && fields[0][0] == '\0') {
            record--;
            continue;
        }
        rc = fn(record, fields, n, arg);
    }
    free(fields);
    free(buf);
    return rc ? -1 : 0;
}

/* ---- roster ------------------------------------------------------------------ */
const char *const od_roster_columns[] = {
    "name", "id_number", "phone", "address", "lat", "lon", "birth_date", "district_id",
    "ability_level", "household", "living", "categories", "diet", "disability_grade", NULL,
};
#define S_NCOLS 14
#define S_REQUIRED 11              /* the first 11 columns */

typedef struct {
    od_roster_t *r;
    int64_t now_us;
    int max_rows;
    int col[S_NCOLS];              /* record field of each column, -1 absent */
    int nheader;
    cc_map_t *seen;                /* normal ID number -> first row (as a pointer-sized int) */
    cc_err_t *err;
} s_roster_t;

static void s_reject(s_roster_t *x, int row, const char *field, const char *reason)
{
    json_array_append_new(x->r->rejected,
                          json_pack("{s:i,s:s,s:s}", "row", row, "field", field, "reason", reason));
}

/* A number column as JSON (integers stay integers), or NULL. */
static json_t *s_number(const char *s, int integer)
{
    if (!*s || isspace((unsigned char)s[0]))
        return NULL;
    char *end = NULL;
    errno = 0;
    if (integer) {
        long long v = strtoll(s, &end, 10);
        return errno || *end ? NULL : json_integer(v);
    }
    double v = strtod(s, &end);
    return errno || *end ? NULL : json_real(v);
}

static int s_header(s_roster_t *x, char **f, int n)
{
    for (int c = 0; c < S_NCOLS; c++)
        x->col[c] = -1;
    for (int i = 0; i < n; i++) {
        int c = s_index(od_roster_columns, f[i]);
        if (c < 0)
            return cc_err_set(x->err, 400, "invalid_csv", f[i][0] && strlen(f[i]) < 40 ? f[i]
                              : "header", "unknown column in the header row");
        if (x->col[c] >= 0)
            return cc_err_set(x->err, 400, "invalid_csv", od_roster_columns[c],
                              "column repeated in the header row");
        x->col[c] = i;
    }
    for (int c = 0; c < S_REQUIRED; c++)
        if (x->col[c] < 0)
            return cc_err_set(x->err, 400, "invalid_csv", od_roster_columns[c],
                              "required column missing from the header row");
    x->nheader = n;
    return 0;
}

static const char *s_col(s_roster_t *x, char **f, int c)
{
    return x->col[c] >= 0 ? f[x->col[c]] : NULL;
}

static int s_row(s_roster_t *x, int record, char **f, int n)
{
    x->r->total++;
    if (x->r->total > x->max_rows)
        return cc_err_set(x->err, 413, "too_many_rows", "body", "a roster holds at most %d rows",
                          x->max_rows);
    if (n != x->nheader) {
        s_reject(x, record, "row", "the row's number of fields differs from the header's");
        return 0;
    }
    /* The creation rules (od_elder_req_from_json) decide each field. */
    json_t *o = json_object();
    static const int numeric[] = { 4, 5, 7, 13 };   /* lat lon district_id disability_grade */
    for (int c = 0; c < S_NCOLS; c++) {
        const char *v = s_col(x, f, c);
        if (!v || c == 11)
            continue;
        int isnum = 0;
        for (size_t k = 0; k < sizeof numeric / sizeof numeric[0]; k++)
            isnum |= numeric[k] == c;
        json_t *j;
        if (isnum) {
            if (!*v)
                continue;   /* empty: absent (a required one is then missing) */
            j = s_number(v, c != 4 && c != 5);
            if (!j) {
                s_reject(x, record, od_roster_columns[c], "not a number");
                json_decref(o);
                return 0;
            }
        } else {
            if (!*v && c >= S_REQUIRED)
                continue;
            j = json_string(v);
            if (!j) {
                s_reject(x, record, od_roster_columns[c], "not UTF-8 text");
                json_decref(o);
                return 0;
            }
        }
        json_object_set_new(o, od_roster_columns[c], j);
    }
    od_elder_req_t req;
    cc_err_t e;
    if (od_elder_req_from_json(o, x->now_us, &req, &e) != 0) {
        s_reject(x, record, e.field[0] ? e.field : "row", e.message);
        json_decref(o);
        return 0;
    }
    json_t *cats = json_array();
    const char *cv = s_col(x, f, 11);
    if (cv && *cv) {
        /* "alone;no_carer" */
        char *copy = strdup(cv), *save = NULL;
        if (!copy) {
            json_decref(cats);
            json_decref(o);
            return cc_err_set(x->err, 503, "overloaded", NULL, "out of memory");
        }
        for (char *t = strtok_r(copy, ";", &save); t; t = strtok_r(NULL, ";", &save)) {
            while (*t == ' ')
                t++;
            size_t l = strlen(t);
            while (l && t[l - 1] == ' ')
                t[--l] = '\0';
            if (*t)
                json_array_append_new(cats, json_string(t));
        }
        free(copy);
    }
    json_t *canon = od_categories_from_json(cats, "categories", &e);
    json_decref(cats);
    if (!canon) {
        s_reject(x, record, "categories", "not a ;-separated list of alone, empty_nest, "
                 "left_behind, disabled, severely_disabled, fp_special, no_carer");
        json_decref(o);
        return 0;
    }
    char idn[19];
    snprintf(idn, sizeof idn, "%s", req.id_number);
    if (idn[17] == 'x')
        idn[17] = 'X';
    void *first = cc_map_get(x->seen, idn);
    if (first) {
        char why[64];
        snprintf(why, sizeof why, "the same ID number as row %d", (int)(intptr_t)first);
        s_reject(x, record, "id_number", why);
        json_decref(canon);
        json_decref(o);
        return 0;
    }
    if (cc_map_put(x->seen, idn, (void *)(intptr_t)record, NULL) != 0)
        return cc_err_set(x->err, 503, "overloaded", NULL, "out of memory");
    json_t *set = json_pack("{s:I,s:f,s:f,s:s,s:s,s:s,s:s,s:s,s:o}",
                            "district_id", (json_int_t)req.district_id, "lat", req.lat,
                            "lon", req.lon, "birth_date", req.birth_date,
                            "ability_level", od_ability_names[req.ability],
                            "household", od_household_names[req.household],
                            "living", od_living_names[req.living], "diet", req.diet,
                            "categories", canon);
    /* A roster without the column leaves the field as it is (an update);
     * an empty disability_grade clears it. */
    if (x->col[11] < 0)
        json_object_del(set, "categories");
    if (x->col[12] < 0)
        json_object_del(set, "diet");
    if (req.disability_grade)
        json_object_set_new(set, "disability_grade", json_integer(req.disability_grade));
    else if (x->col[13] >= 0)
        json_object_set_new(set, "disability_grade", json_null());
    json_t *row = json_pack("{s:i,s:s,s:s,s:s,s:s,s:o}", "row", record, "name", req.name,
                            "id_number", idn, "phone", req.phone, "address", req.address,
                            "set", set);
    json_decref(o);
    if (!row)
        return cc_err_set(x->err, 503, "overloaded", NULL, "out of memory");
    json_array_append_new(x->r->rows, row);
    return 0;
}

static int s_on_record(int record, char **f, int n, void *arg)
{
    s_roster_t *x = arg;
    if (record == 1)
        return s_header(x, f, n);
    return s_row(x, record, f, n);
}

int od_roster_parse(const char *csv, size_t len, int64_t now_us, int max_rows, od_roster_t *r,
                    cc_err_t *err)
{
    memset(r, 0, sizeof *r);
    r->rows = json_array();
    r->rejected = json_array();
    s_roster_t x = { .r = r, .now_us = now_us, .max_rows = max_rows, .seen = cc_map_new(),
                     .err = err, .nheader = 0 };
    int rc = -1;
    if (!x.seen || !r->rows || !r->rejected)
        cc_err_set(err, 503, "overloaded", NULL, "out of memory");
    else if (od_csv_parse(csv, len, 64, s_on_record, &x, err) == 0) {
        if (x.nheader == 0)
            cc_err_set(err, 400, "invalid_csv", "header", "the file has no header row");
        else if (r->total == 0)
            cc_err_set(err, 400, "invalid_csv", "body", "the file has no data rows");
        else
            rc = 0;
    }
    cc_map_destroy(&x.seen, NULL);
    if (rc != 0)
        od_roster_clear(r);
    return rc;
}

void od_roster_clear(od_roster_t *r)
{
    json_decref(r->rows);
    json_decref(r->rejected);
    r->rows = r->rejected = NULL;
}
