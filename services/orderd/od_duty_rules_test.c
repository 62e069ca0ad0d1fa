/* Unit tests for od_duty_rules: calendar and periods, the spread over
 * working days and districts, rule validation, the plan (idempotent,
 * regeneration, contacts, assessments, versions) and coverage. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>
#include <stdio.h>
#include <stdlib.h>
#include <limits.h>
#include "od_duty_rules.h"

static int32_t D(const char *s)
{
    int32_t d = 0;
    assert_int_equal(od_duty_day_parse(s, &d), 0);
    return d;
}

static const char *F(int32_t day)
{
    static char buf[4][11];
    static int i;
    i = (i + 1) % 4;
    od_duty_day_format(day, buf[i]);
    return buf[i];
}

static void test_calendar(void **state)
{
    (void)state;
    assert_int_equal(D("1970-01-01"), 0);
    assert_string_equal(F(D("2024-02-29")), "2024-02-29");
    for (int32_t d = D("1999-12-25"); d < D("2001-03-05"); d++) {
        int y, m, dd;
        od_day_to_civil(d, &y, &m, &dd);
        assert_int_equal(od_day_from_civil(y, m, dd), d);
    }
    assert_int_equal(od_weekday(D("2026-12-07")), 0);   /* a Monday */
    assert_int_equal(od_weekday(D("2026-12-13")), 6);
    assert_int_equal(od_weekday(D("1970-01-01")), 3);   /* a Thursday */
    /* 2026-12-07 00:00 +08:00 is 2026-12-06 16:00 UTC. */
    int64_t us = (int64_t)1796572800 * 1000000;   /* 2026-12-06T16:00:00Z */
    assert_string_equal(F(od_day_of_us(us)), "2026-12-07");
    assert_string_equal(F(od_day_of_us(us - 1)), "2026-12-06");
    assert_string_equal(F(od_day_add_months(D("2024-02-29"), 12)), "2025-02-28");
    assert_string_equal(F(od_day_add_months(D("2026-01-31"), 1)), "2026-02-28");
    assert_string_equal(F(od_day_add_months(D("2025-11-15"), 24)), "2027-11-15");
}

static void test_periods(void **state)
{
    (void)state;
    int32_t s, e;
    char k[OD_DUTY_PKEY_MAX];
    od_period_bounds(OD_PER_WEEK, D("2026-12-09"), &s, &e, k);
    assert_string_equal(F(s), "2026-12-07");
    assert_string_equal(F(e), "2026-12-14");
    assert_string_equal(k, "2026-W50");
    /* ISO weeks: the year of the Thursday. */
    od_period_bounds(OD_PER_WEEK, D("2027-01-01"), &s, &e, k);
    assert_string_equal(k, "2026-W53");
    od_period_bounds(OD_PER_WEEK, D("2025-12-31"), &s, &e, k);
    assert_string_equal(k, "2026-W01");
    od_period_bounds(OD_PER_MONTH, D("2024-02-10"), &s, &e, k);
    assert_string_equal(F(s), "2024-02-01");
    assert_string_equal(F(e), "2024-03-01");
    assert_string_equal(k, "2024-02");
    od_period_bounds(OD_PER_YEAR, D("2026-07-01"), &s, &e, k);
    assert_string_equal(k, "2026");
    assert_int_equal(e - s, 365);
    od_period_bounds(OD_PER_TWO_YEARS, D("2027-07-01"), &s, &e, k);
    assert_string_equal(F(s), "2026-01-01");
    assert_string_equal(F(e), "2028-01-01");
    assert_string_equal(k, "2026-2027");
}

/* Most elders one working day gets, for n elders over nwork days. */
static int s_max_per_day(int nwork, int count, int n, int fixed_rank)
{
    int per[64] = { 0 }, max = 0;
    for (int slot = 0; slot < count; slot++)
        for (int r = 0; r < n; r++) {
            int d = od_duty_spread(nwork, count, slot, fixed_rank >= 0 ? fixed_rank : r, n);
            assert_true(d >= 0 && d < nwork);
            if (++per[d] > max)
                max = per[d];
        }
    return max;
}

static void test_spread(void **state)
{
    (void)state;
    /* 100 elders over 20 working days: 5 a day, exactly. */
    assert_int_equal(s_max_per_day(20, 1, 100, -1), 5);
    assert_int_equal(s_max_per_day(22, 1, 7, -1), 1);
    /* 4 a month over 23 days: segments of 5, 6, 6, 6 days; the 5-day one
     * takes 46/5 -> at most 10 a day. */
    assert_int_equal(s_max_per_day(23, 4, 46, -1), 10);
    /* The check catches a flood: everyone on the rank-0 day. */
    assert_int_equal(s_max_per_day(20, 1, 100, 0), 100);
    /* Occurrences of one elder fall into separate segments, in order. */
    int prev = -1;
    for (int slot = 0; slot < 4; slot++) {
        int d = od_duty_spread(20, 4, slot, 3, 10);
        assert_true(d >= slot * 5 && d < (slot + 1) * 5);
        assert_true(d > prev);
        prev = d;
    }
    /* More occurrences than days: still a day in range. */
    assert_int_equal(od_duty_spread(5, 7, 6, 0, 1), 4);
}

static const char *s_default_rules =
    "[{\"id\":\"special_monthly_visit\",\"service\":\"visit\",\"period\":\"month\",\"count\":1,"
    "\"categories\":[\"alone\",\"empty_nest\",\"left_behind\",\"disabled\","
    "\"severely_disabled\",\"fp_special\"],\"fund\":\"care_visit_fund\"},"
    "{\"id\":\"no_carer_weekly_contact\",\"service\":\"contact\",\"period\":\"week\","
    "\"count\":1,\"categories\":[\"no_carer\"],\"fund\":\"care_visit_fund\"},"
    "{\"id\":\"assessment_80_plus\",\"service\":\"assessment\",\"period\":\"year\",\"count\":1,"
    "\"min_age\":80,\"fund\":\"assessment_fund\"},"
    "{\"id\":\"assessment_under_80\",\"service\":\"assessment\",\"period\":\"two_years\","
    "\"count\":1,\"max_age\":79,\"fund\":\"assessment_fund\"}]";

static void s_parse_set(const char *text, od_duty_set_t *set)
{
    json_t *j = json_loads(text, 0, NULL);
    cc_err_t err;
    assert_non_null(j);
    int rc = od_duty_rules_from_json(j, set, &err);
    if (rc != 0)
        fprintf(stderr, "%s %s\n", err.field, err.message);
    assert_int_equal(rc, 0);
    json_decref(j);
}

/* A PUT body with rule 0 of the defaults changed by "key": value. */
static void s_bad(const char *patch, int status, const char *field)
{
    char body[4096];
    snprintf(body, sizeof body,
             "{\"effective_from\":\"2026-12-07\",\"rules\":[{\"id\":\"r\",\"service\":\"visit\","
             "\"period\":\"month\",\"count\":1,\"fund\":\"f\"%s%s}]}",
             *patch ? "," : "", patch);
    json_t *j = json_loads(body, 0, NULL);
    assert_non_null(j);
    od_duty_set_t *set = malloc(sizeof *set);
    cc_err_t err;
    memset(&err, 0, sizeof err);
    assert_int_equal(od_duty_put_from_json(j, D("2026-12-07"), set, &err), -1);
    assert_int_equal(err.status, status);
    assert_string_equal(err.field, field);
    free(set);
    json_decref(j);
}

static void test_rules_validation(void **state)
{
    (void)state;
    od_duty_set_t *set = malloc(sizeof *set);
    s_parse_set(s_default_rules, set);
    assert_int_equal(set->nrules, 4);
    assert_int_equal(set->rules[0].categories, 0x3f);
    assert_int_equal(set->rules[2].min_age, 80);
    assert_int_equal(set->rules[2].max_age, -1);
    /* Canonical JSON parses back to the same set. */
    json_t *canon = od_duty_rules_to_json(set);
    od_duty_set_t *again = malloc(sizeof *again);
    cc_err_t err;
    assert_int_equal(od_duty_rules_from_json(canon, again, &err), 0);
    assert_memory_equal(set->rules, again->rules, sizeof set->rules[0] * 4);
    json_decref(canon);
    free(again);
    free(set);
}

static void test_rules_bad_fields(void **state)
{
    (void)state;
    s_bad("\"period\":\"fortnight\"", 400, "rules[0].period");
    s_bad("\"service\":\"bath\"", 400, "rules[0].service");
    s_bad("\"count\":0", 400, "rules[0].count");
    s_bad("\"categories\":[\"rich\"]", 400, "rules[0].categories");
    s_bad("\"categories\":\"alone\"", 400, "rules[0].categories");
    s_bad("\"abilities\":[\"superb\"]", 400, "rules[0].abilities");
    s_bad("\"min_age\":90,\"max_age\":80", 422, "rules[0].max_age");
    s_bad("\"min_age\":-1", 400, "rules[0].min_age");
    s_bad("\"districts\":[\"x\"]", 400, "rules[0].districts");
    s_bad("\"colour\":\"red\"", 400, "rules[0].colour");
    /* An assessment is yearly or two-yearly (001 §2). */
    s_bad("\"service\":\"assessment\"", 422, "rules[0].period");
}

static void test_rules_put_body(void **state)
{
    (void)state;
    od_duty_set_t *set = malloc(sizeof *set);
    cc_err_t err;
    json_t *j = json_loads("{\"effective_from\":\"2026-12-06\",\"rules\":[]}", 0, NULL);
    assert_int_equal(od_duty_put_from_json(j, D("2026-12-07"), set, &err), -1);
    assert_string_equal(err.field, "effective_from");
    assert_int_equal(err.status, 422);
    json_decref(j);
    j = json_loads("{\"effective_from\":\"2026-12-32\",\"rules\":[]}", 0, NULL);
    assert_int_equal(od_duty_put_from_json(j, D("2026-12-07"), set, &err), -1);
    assert_string_equal(err.field, "effective_from");
    json_decref(j);
    j = json_loads("{\"effective_from\":\"2026-12-07\"}", 0, NULL);
    assert_int_equal(od_duty_put_from_json(j, D("2026-12-07"), set, &err), -1);
    assert_string_equal(err.field, "rules");
    json_decref(j);
    j = json_loads("{\"effective_from\":\"2026-12-07\",\"rules\":[{\"id\":\"a\",\"service\":"
                   "\"visit\",\"period\":\"week\",\"count\":1,\"fund\":\"f\"},{\"id\":\"a\","
                   "\"service\":\"visit\",\"period\":\"week\",\"count\":1,\"fund\":\"f\"}]}",
                   0, NULL);
    assert_int_equal(od_duty_put_from_json(j, D("2026-12-07"), set, &err), -1);
    assert_string_equal(err.field, "rules[1].id");
    assert_string_equal(err.error, "duplicate");
    json_decref(j);
    j = json_loads("{\"effective_from\":\"2027-01-01\",\"rules\":[]}", 0, NULL);
    assert_int_equal(od_duty_put_from_json(j, D("2026-12-07"), set, &err), 0);
    assert_int_equal(set->nrules, 0);
    json_decref(j);
    free(set);
}

static void test_key_parse(void **state)
{
    (void)state;
    char k[128];
    int n = 0;
    assert_int_equal(od_duty_key_parse("duty:r1:0a:2026-12:3", k, sizeof k, &n), 0);
    assert_string_equal(k, "r1:0a:2026-12");
    assert_int_equal(n, 3);
    assert_int_equal(od_duty_key_parse("plan:x:2026-12-07", k, sizeof k, &n), -1);
    assert_int_equal(od_duty_key_parse("duty:r1:0a:2026-12:", k, sizeof k, &n), -1);
    assert_int_equal(od_duty_key_parse("duty:r1:0a:2026-12:x", k, sizeof k, &n), -1);
}

/* ---- the plan --------------------------------------------------------------- */
static od_duty_elder_t s_elder(int i, int32_t district, const char *birth, uint32_t cats,
                               int32_t assessed, int card)
{
    od_duty_elder_t e;
    memset(&e, 0, sizeof e);
    snprintf(e.id, sizeof e.id, "00000000-0000-4000-8000-%012d", i);
    e.district = district;
    sscanf(birth, "%d-%d-%d", &e.by, &e.bm, &e.bd);
    e.categories = cats;
    e.assessed_on = assessed;
    if (card)
        snprintf(e.card_id, sizeof e.card_id, "10000000-0000-4000-8000-%012d", i);
    return e;
}

static void s_free_occ(void *v)
{
    free(v);
}

#define ALONE 0x1u
#define NO_CARER 0x40u

static void test_plan_monthly_visit(void **state)
{
    (void)state;
    od_duty_set_t *set = calloc(1, sizeof *set);
    s_parse_set(s_default_rules, set);
    set->effective_from = D("2023-01-01");
    od_duty_elder_t el[3] = {
        s_elder(1, 1, "1950-03-01", ALONE, D("2026-06-01"), 1),
        s_elder(2, 1, "1950-03-01", 0, D("2026-06-01"), 1),     /* no category */
        s_elder(3, 1, "1950-03-01", ALONE, D("2026-06-01"), 0), /* no card */
    };
    cc_map_t *occ = cc_map_new();
    int n = 0;
    od_duty_plan_stats_t st;
    int32_t today = D("2026-12-07");
    od_duty_due_t *due = od_duty_plan(set, 1, el, 3, occ, today, today + 40, &n, &st);
    /* Elders 1 and 3: December's and January's visit; elder 3's on no
     * card (the fund pays), counted. */
    assert_int_equal(n, 4);
    assert_int_equal(st.no_card, 2);
    for (int i = 0; i < n; i++) {
        assert_true(due[i].elder == 0 || due[i].elder == 2);
        assert_string_equal(due[i].set->rules[due[i].rule].id, "special_monthly_visit");
        assert_int_equal(due[i].n, 1);
        assert_true(due[i].day >= today && due[i].day <= today + 40);
        assert_true(od_weekday(due[i].day) < 5);
    }
    int dec = 0, jan = 0;
    for (int i = 0; i < n; i++) {
        dec += strcmp(due[i].pkey, "2026-12") == 0 && due[i].day < D("2027-01-01");
        jan += strcmp(due[i].pkey, "2027-01") == 0;
    }
    assert_int_equal(dec, 2);
    assert_int_equal(jan, 2);
    free(due);
    /* Run again over what exists: nothing twice. */
    due = od_duty_plan(set, 1, el, 3, occ, today, today + 40, &n, &st);
    assert_int_equal(n, 0);
    free(due);
    /* December's was cancelled: live 0, highest n 1 -> n 2, from today. */
    char k[128];
    snprintf(k, sizeof k, "special_monthly_visit:%s:2026-12", el[0].id);
    od_duty_occ_t *o = cc_map_get(occ, k);
    assert_non_null(o);
    o->live = 0;
    due = od_duty_plan(set, 1, el, 3, occ, D("2026-12-30"), D("2026-12-30") + 1, &n, &st);
    assert_int_equal(n, 1);
    assert_int_equal(due[0].n, 2);
    assert_string_equal(F(due[0].day), "2026-12-30");
    free(due);
    /* At most OD_DUTY_REGEN_MAX more than the count, then counted. */
    o->live = 0;
    o->max_n = 1 + OD_DUTY_REGEN_MAX;
    due = od_duty_plan(set, 1, el, 3, occ, D("2026-12-30"), D("2026-12-30") + 1, &n, &st);
    assert_int_equal(n, 0);
    assert_int_equal(st.regen_cap, 1);
    free(due);
    /* No days left in the period: no regeneration into the next one. */
    o->live = 0;
    due = od_duty_plan(set, 1, el, 3, occ, D("2027-01-01"), D("2027-01-01"), &n, &st);
    assert_int_equal(n, 0);
    free(due);
    cc_map_destroy(&occ, s_free_occ);
    free(set);
}

static void test_plan_spread_districts(void **state)
{
    (void)state;
    od_duty_set_t *set = calloc(1, sizeof *set);
    s_parse_set(s_default_rules, set);
    enum { N = 120 };
    od_duty_elder_t *el = calloc(N, sizeof *el);
    for (int i = 0; i < N; i++)
        el[i] = s_elder(i, 1 + i % 3, "1950-03-01", ALONE, D("2026-06-01"), 1);
    cc_map_t *occ = cc_map_new();
    int n = 0;
    /* February 2027: 20 working days; 40 elders per district -> 2 a day. */
    od_duty_due_t *due = od_duty_plan(set, 1, el, N, occ, D("2027-02-01"), D("2027-02-28"), &n,
                                      NULL);
    assert_int_equal(n, N);
    int per[4][31] = { { 0 } };
    for (int i = 0; i < n; i++) {
        int y, m, d;
        od_day_to_civil(due[i].day, &y, &m, &d);
        assert_int_equal(m, 2);
        assert_true(od_weekday(due[i].day) < 5);
        per[el[due[i].elder].district][d]++;
    }
    for (int di = 1; di <= 3; di++)
        for (int d = 1; d <= 28; d++)
            assert_true(per[di][d] <= 2);
    free(due);
    cc_map_destroy(&occ, s_free_occ);
    free(el);
    free(set);
}

static void test_plan_contact_and_assessment(void **state)
{
    (void)state;
    od_duty_set_t *set = calloc(1, sizeof *set);
    s_parse_set(s_default_rules, set);
    int32_t today = D("2026-12-07");
    int32_t call = today - 0;
    od_duty_elder_t el[5] = {
        s_elder(1, 1, "1950-03-01", NO_CARER, D("2026-06-01"), 1),
        s_elder(2, 1, "1950-03-01", NO_CARER, D("2026-06-01"), 1),
        /* 82, assessed 11.5 months ago: due in about two weeks. */
        s_elder(3, 1, "1944-05-01", 0, D("2025-12-22"), 1),
        /* 75, assessed a year ago: due in a year. */
        s_elder(4, 1, "1951-05-01", 0, D("2025-12-07"), 1),
        /* never assessed: due now. */
        s_elder(5, 1, "1951-05-01", 0, INT32_MIN, 1),
    };
    el[1].contact_days = &call;   /* a phone call logged this week */
    el[1].ncontact = 1;
    cc_map_t *occ = cc_map_new();
    int n = 0;
    od_duty_due_t *due = od_duty_plan(set, 1, el, 5, occ, today, today + 20, &n, NULL);
    int contact_week[3] = { 0 }, assess[6] = { 0 };
    for (int i = 0; i < n; i++) {
        const char *id = due[i].set->rules[due[i].rule].id;
        if (strcmp(id, "no_carer_weekly_contact") == 0 && strcmp(due[i].pkey, "2026-W50") == 0)
            contact_week[due[i].elder]++;
        if (strncmp(id, "assessment", 10) == 0) {
            assess[due[i].elder]++;
            if (due[i].elder == 2) {
                assert_string_equal(id, "assessment_80_plus");
                assert_string_equal(due[i].pkey, "2026-12-22");
                assert_true(due[i].day <= D("2026-12-22"));
            }
        }
    }
    assert_int_equal(contact_week[0], 1);
    assert_int_equal(contact_week[1], 0);   /* the call meets it */
    assert_int_equal(assess[2], 1);
    assert_int_equal(assess[3], 0);
    assert_int_equal(assess[4], 1);
    free(due);
    cc_map_destroy(&occ, s_free_occ);
    free(set);
}

static void test_plan_versions(void **state)
{
    (void)state;
    od_duty_set_t *sets = calloc(2, sizeof *sets);
    s_parse_set(s_default_rules, &sets[0]);
    sets[0].version = 1;
    sets[0].effective_from = D("2023-01-01");
    sets[1].version = 2;
    sets[1].effective_from = D("2027-01-01");   /* no duties from January */
    od_duty_elder_t el[1] = { s_elder(1, 1, "1950-03-01", ALONE, D("2026-06-01"), 1) };
    assert_int_equal(od_duty_set_on(sets, 2, D("2026-12-31"))->version, 1);
    assert_int_equal(od_duty_set_on(sets, 2, D("2027-01-01"))->version, 2);
    assert_null(od_duty_set_on(sets, 2, D("2020-01-01")));
    cc_map_t *occ = cc_map_new();
    int n = 0;
    od_duty_due_t *due = od_duty_plan(sets, 2, el, 1, occ, D("2026-12-01"), D("2027-01-31"),
                                      &n, NULL);
    assert_int_equal(n, 1);
    assert_string_equal(due[0].pkey, "2026-12");
    assert_int_equal(due[0].set->version, 1);
    free(due);
    cc_map_destroy(&occ, s_free_occ);
    free(sets);
}


/* ---- capacity (od_duty_fit) --------------------------------------------------- */
static od_duty_due_t s_due(const od_duty_set_t *set, const char *rule, int elder, int32_t from,
                           int32_t to, int32_t pend)
{
    od_duty_due_t d;
    memset(&d, 0, sizeof d);
    d.set = set;
    d.rule = -1;
    for (int i = 0; i < set->nrules; i++)
        if (strcmp(set->rules[i].id, rule) == 0)
            d.rule = i;
    assert_true(d.rule >= 0);
    d.elder = elder;
    d.n = 1;
    d.day = from;
    d.from = from;
    d.to = to;
    d.pend = pend;
    return d;
}

/* The invariant: no day of a district with figures is given more minutes
 * than its free capacity. Returns the first day over, or -1. */
static int32_t s_overfull(const od_duty_due_t *due, int n, const od_duty_elder_t *el,
                          const od_duty_cap_t *caps, int ncaps)
{
    for (int c = 0; c < ncaps; c++) {
        int used = 0;
        for (int i = 0; i < n; i++)
            if (el[due[i].elder].district == caps[c].district && due[i].day == caps[c].day)
                used += od_duty_minutes(&due[i]);
        if (used > 0 && used > caps[c].free_min)
            return caps[c].day;
    }
    return -1;
}

static void test_fit_by_capacity(void **state)
{
    (void)state;
    od_duty_set_t *set = calloc(1, sizeof *set);
    s_parse_set(s_default_rules, set);
    int32_t mon = D("2027-02-01"), mar = D("2027-03-01");
    enum { N = 12 };
    od_duty_elder_t el[N];
    for (int i = 0; i < N; i++)
        el[i] = s_elder(i, i < 10 ? 1 : 2, "1950-03-01", ALONE, D("2026-06-01"), 1);
    /* District 1: Monday and Thursday full (nobody works), Tuesday twice
     * Wednesday's and Friday's room. District 2 never reported. */
    od_duty_cap_t caps[] = {
        { 1, mon, 0 }, { 1, mon + 1, 600 }, { 1, mon + 2, 300 }, { 1, mon + 3, -45 },
        { 1, mon + 4, 300 }, { 1, mon + 5, 900 },   /* Saturday: not a working day */
    };
    od_duty_due_t due[N];
    for (int i = 0; i < N; i++)
        due[i] = s_due(set, "special_monthly_visit", i, mon, mon + 6, mar);
    due[11].day = mon + 3;   /* the even spread's day, kept without figures */
    od_duty_fit_stats_t st;
    int n = od_duty_fit(due, N, el, caps, 6, &st);
    assert_int_equal(n, N);
    assert_int_equal(st.fitted, 10);
    assert_int_equal(st.deferred, 0);
    assert_int_equal(st.even, 2);
    int per[7] = { 0 };
    for (int i = 0; i < n; i++) {
        if (el[due[i].elder].district == 2) {
            assert_true(due[i].day == mon || due[i].day == mon + 3);
            continue;
        }
        per[due[i].day - mon]++;
    }
    /* Full days get nothing while others have room; the rest in proportion
     * to free capacity (5 : 2.5 : 2.5, whole visits); Saturday not at all. */
    assert_int_equal(per[0], 0);
    assert_int_equal(per[3], 0);
    assert_int_equal(per[5], 0);
    assert_int_equal(per[1] + per[2] + per[4], 10);
    assert_in_range(per[1], 5, 6);
    assert_in_range(per[2], 2, 3);
    assert_in_range(per[4], 2, 3);
    assert_int_equal(s_overfull(due, n, el, caps, 6), -1);
    /* The check catches a visit put on a full day (planted). */
    int32_t kept = due[0].day;
    due[0].day = mon;
    assert_int_equal(s_overfull(due, n, el, caps, 6), mon);
    due[0].day = kept;
    free(set);
}

static void test_fit_short_most_pressing_first(void **state)
{
    (void)state;
    od_duty_set_t *set = calloc(1, sizeof *set);
    s_parse_set(s_default_rules, set);
    int32_t mon = D("2027-02-01"), mar = D("2027-03-01");
    od_duty_elder_t el[8];
    for (int i = 0; i < 8; i++)
        el[i] = s_elder(i, 1, "1944-03-01", i < 3 ? ALONE : NO_CARER, D("2026-02-10"), 1);
    /* Room for four visits in the week: three monthly visits listed first,
     * three weekly contacts, then the same with an assessment due on the
     * 10th against a monthly visit (period end sooner first). */
    od_duty_cap_t caps[] = { { 1, mon + 1, 240 }, { 1, mon + 3, 0 } };
    od_duty_due_t due[8];
    for (int i = 0; i < 3; i++)
        due[i] = s_due(set, "special_monthly_visit", i, mon, mon + 4, mar);
    for (int i = 3; i < 6; i++)
        due[i] = s_due(set, "no_carer_weekly_contact", i, mon, mon + 4, mon + 7);
    od_duty_fit_stats_t st;
    int n = od_duty_fit(due, 6, el, caps, 2, &st);
    assert_int_equal(n, 4);
    assert_int_equal(st.deferred, 2);
    int contacts = 0, visits = 0;
    for (int i = 0; i < n; i++) {
        assert_int_equal(due[i].day, mon + 1);
        if (strcmp(due[i].set->rules[due[i].rule].id, "no_carer_weekly_contact") == 0)
            contacts++;
        else
            visits++;
    }
    assert_int_equal(contacts, 3);
    assert_int_equal(visits, 1);
    assert_int_equal(due[0].elder, 0);   /* order kept: the first visit, then the contacts */
    /* An assessment due on the 10th before a monthly visit; one fits. */
    od_duty_cap_t one[] = { { 1, mon + 2, 80 } };
    due[0] = s_due(set, "special_monthly_visit", 0, mon, mon + 4, mar);
    due[1] = s_due(set, "assessment_80_plus", 6, mon, mon + 4, D("2027-02-11"));
    n = od_duty_fit(due, 2, el, one, 1, &st);
    assert_int_equal(n, 1);
    assert_string_equal(due[0].set->rules[due[0].rule].id, "assessment_80_plus");
    assert_int_equal(due[0].day, mon + 2);
    assert_int_equal(st.deferred, 1);
    free(set);
}

static void test_fit_with_plan(void **state)
{
    (void)state;
    /* The plan's ranges feed the fit: a week of weekly contacts for a
     * district whose one caregiver works Tuesday and Thursday only. */
    od_duty_set_t *set = calloc(1, sizeof *set);
    s_parse_set(s_default_rules, set);
    int32_t mon = D("2027-02-01");
    enum { N = 6 };
    od_duty_elder_t el[N];
    for (int i = 0; i < N; i++)
        el[i] = s_elder(i, 4, "1950-03-01", NO_CARER, D("2026-06-01"), 1);
    cc_map_t *occ = cc_map_new();
    int n = 0;
    od_duty_due_t *due = od_duty_plan(set, 1, el, N, occ, mon, mon + 6, &n, NULL);
    assert_int_equal(n, N);
    int even_elsewhere = 0;
    for (int i = 0; i < n; i++) {
        assert_int_equal(due[i].from, mon);
        assert_int_equal(due[i].to, mon + 6);
        assert_int_equal(due[i].pend, mon + 7);
        even_elsewhere += due[i].day != mon + 1 && due[i].day != mon + 3;
    }
    assert_true(even_elsewhere > 0);   /* without figures they go everywhere */
    od_duty_cap_t caps[7];
    for (int d = 0; d < 7; d++)
        caps[d] = (od_duty_cap_t){ 4, mon + d, d == 1 || d == 3 ? 480 : 0 };
    n = od_duty_fit(due, n, el, caps, 7, NULL);
    assert_int_equal(n, N);
    for (int i = 0; i < n; i++)
        assert_true(due[i].day == mon + 1 || due[i].day == mon + 3);
    free(due);
    cc_map_destroy(&occ, s_free_occ);
    free(set);
}

static void test_coverage(void **state)
{
    (void)state;
    od_duty_set_t *set = calloc(1, sizeof *set);
    s_parse_set(s_default_rules, set);
    int32_t day = D("2026-12-09"), visit = D("2026-12-08"), old = D("2026-11-30");
    od_duty_elder_t el[4] = {
        s_elder(1, 1, "1950-03-01", NO_CARER | ALONE, INT32_MIN, 1),
        s_elder(2, 1, "1950-03-01", NO_CARER, INT32_MIN, 1),
        s_elder(3, 2, "1950-03-01", NO_CARER, INT32_MIN, 1),
        s_elder(4, 1, "1950-03-01", NO_CARER, INT32_MIN, 1),
    };
    el[0].visit_days = &visit;   /* a completed mandated visit this week */
    el[0].nvisit = 1;
    el[1].contact_days = &visit; /* a phone call this week */
    el[1].ncontact = 1;
    el[3].contact_days = &old;   /* last week's call does not count */
    el[3].ncontact = 1;
    json_t *c = od_duty_coverage(set, el, 4, OD_PER_WEEK, day, 1);
    assert_string_equal(json_string_value(json_object_get(c, "period")), "2026-W50");
    json_t *duties = json_object_get(c, "duties");
    assert_int_equal(json_array_size(duties), 1);
    json_t *d = json_array_get(duties, 0);
    assert_string_equal(json_string_value(json_object_get(d, "duty")), "no_carer_weekly_contact");
    assert_int_equal(json_integer_value(json_object_get(d, "due")), 3);
    assert_int_equal(json_integer_value(json_object_get(d, "visited")), 2);
    json_t *missing = json_object_get(d, "missing");
    assert_int_equal(json_array_size(missing), 1);
    assert_string_equal(json_string_value(json_array_get(missing, 0)), el[3].id);
    json_t *cat = json_array_get(json_object_get(d, "categories"), 0);
    assert_string_equal(json_string_value(json_object_get(cat, "category")), "no_carer");
    assert_true(json_real_value(json_object_get(d, "rate")) > 0.66 &&
                json_real_value(json_object_get(d, "rate")) < 0.67);
    json_decref(c);
    /* The month: only the visit counts for a visit duty, not the call. */
    c = od_duty_coverage(set, el, 4, OD_PER_MONTH, day, -1);
    d = json_array_get(json_object_get(c, "duties"), 0);
    assert_string_equal(json_string_value(json_object_get(d, "duty")), "special_monthly_visit");
    assert_int_equal(json_integer_value(json_object_get(d, "due")), 1);
    assert_int_equal(json_integer_value(json_object_get(d, "visited")), 1);
    json_decref(c);
    free(set);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_calendar),
        cmocka_unit_test(test_periods),
        cmocka_unit_test(test_spread),
        cmocka_unit_test(test_rules_validation),
        cmocka_unit_test(test_rules_bad_fields),
        cmocka_unit_test(test_rules_put_body),
        cmocka_unit_test(test_key_parse),
        cmocka_unit_test(test_plan_monthly_visit),
        cmocka_unit_test(test_plan_spread_districts),
        cmocka_unit_test(test_plan_contact_and_assessment),
        cmocka_unit_test(test_plan_versions),
        cmocka_unit_test(test_fit_by_capacity),
        cmocka_unit_test(test_fit_short_most_pressing_first),
        cmocka_unit_test(test_fit_with_plan),
        cmocka_unit_test(test_coverage),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
