/* od_duty_rules: the county's duties as data (docs/DUTIES.md), pure: no
 * I/O, so every rule here is unit tested (od_duty_rules_test.c).
 *
 *   - rules: PUT /v1/rules/duties bodies -> validated rule sets;
 *   - calendar: local dates as day numbers, periods (week from Monday,
 *     month, year, two years from an even year) and their keys;
 *   - the plan: which mandated orders are due in a horizon, given the
 *     rules in force, the elders, the mandated orders that exist and the
 *     contacts logged; spread over the period's working days;
 *   - coverage: per duty and category, elders due, visited, missing.
 *
 * od_duties.c loads the inputs from the store and places what the plan
 * says through the order saga. */
#ifndef OD_DUTY_RULES_H
#define OD_DUTY_RULES_H
#include <stdint.h>
#include <stddef.h>
#include <jansson.h>
#include "cc_json.h"
#include "cc_map.h"
#include "cc_util.h"

#define OD_DUTY_ID_MAX 40             /* rule id, fund: [a-z0-9_]{1,40} */
#define OD_DUTY_SOURCE_MAX 200
#define OD_DUTY_RULES_MAX 64
#define OD_DUTY_DISTRICTS_MAX 64
#define OD_DUTY_COUNT_MAX 31          /* occurrences per period */
#define OD_DUTY_PKEY_MAX 16           /* "2026-W05", "2026-12", "2027-03-04" */
/* An assessment may be done this many days before it falls due (the
 * generator places it in that window, never later than due if it can). */
#define OD_DUTY_ASSESS_LEAD_DAYS 30
/* Occurrences one period may be given beyond its count, each after one
 * was cancelled, failed or denied: past that the period is the
 * dispatcher's (coverage names the elder), not a loop of orders that
 * keep failing. */
#define OD_DUTY_REGEN_MAX 3

typedef enum { OD_DUTY_VISIT = 0, OD_DUTY_CONTACT, OD_DUTY_ASSESSMENT } od_duty_service_t;
typedef enum { OD_PER_WEEK = 0, OD_PER_MONTH, OD_PER_YEAR, OD_PER_TWO_YEARS } od_period_t;
extern const char *const od_duty_service_names[];   /* NULL-terminated */
extern const char *const od_period_names[];
/* Categories of migration 014 (elders.categories), bit i = name i: the
 * elders module's list (od_elders_req.c). */
extern const char *const od_category_names[];
#define OD_CATEGORY_COUNT 7

typedef struct {
    char id[OD_DUTY_ID_MAX + 1];
    uint32_t categories;              /* any of these (bits); 0: every elder */
    int min_age, max_age;             /* -1: no bound */
    uint32_t abilities;               /* bits of od_ability_names; 0: any */
    int32_t districts[OD_DUTY_DISTRICTS_MAX];
    int ndistricts;                   /* 0: every district */
    od_duty_service_t service;
    od_period_t period;
    int count;
    char fund[OD_DUTY_ID_MAX + 1];
    char source[OD_DUTY_SOURCE_MAX + 1];
} od_duty_rule_t;

typedef struct {
    int version;
    int32_t effective_from;           /* day number */
    int nrules;
    od_duty_rule_t rules[OD_DUTY_RULES_MAX];
} od_duty_set_t;

/* ---- calendar (local dates; day 0 = 1970-01-01) -------------------------- */
int32_t od_day_from_civil(int y, int m, int d);
void od_day_to_civil(int32_t day, int *y, int *m, int *d);
int od_duty_day_parse(const char *s, int32_t *day);      /* "YYYY-MM-DD": 0/-1 */
void od_duty_day_format(int32_t day, char out[11]);
int od_weekday(int32_t day);                        /* 0 Monday .. 6 Sunday */
/* Local day of a time in microseconds (Asia/Shanghai). */
int32_t od_day_of_us(int64_t us);
/* The period of kind p holding day: [*start, *end) and its key. */
void od_period_bounds(od_period_t p, int32_t day, int32_t *start, int32_t *end,
                      char key[OD_DUTY_PKEY_MAX]);
/* day + months (clamped to the month's last day). */
int32_t od_day_add_months(int32_t day, int months);

/* Working day of a slot: occurrences slot (0..count-1) of a period with
 * nwork working days get a segment each; an elder of rank (0..n-1) among
 * the n eligible elders of its district takes day rank*len/n of its
 * segment, so each district's elders are spread evenly over the days.
 * Returns the working-day index 0..nwork-1. */
int od_duty_spread(int nwork, int count, int slot, int rank, int n);

/* ---- rules ------------------------------------------------------------ */
/* A rule set from JSON (the array of PUT's "rules"): every field checked,
 * err naming it ("rules[2].period"). 0, or -1 with err set (400/422). */
int od_duty_rules_from_json(json_t *rules, od_duty_set_t *set, cc_err_t *err);
/* A PUT body {effective_from, rules} checked; effective_from may not be
 * before today. 0/-1. */
int od_duty_put_from_json(json_t *body, int32_t today, od_duty_set_t *set, cc_err_t *err);
/* The rule set as JSON (the canonical form stored and shown). */
json_t *od_duty_rules_to_json(const od_duty_set_t *set);

/* ---- the plan -------------------------------------------------------- */
typedef struct {
    char id[CC_UUID_LEN];
    int32_t district;
    int by, bm, bd;                   /* birth */
    int ability;                      /* index in od_ability_names */
    uint32_t categories;
    int32_t assessed_on;              /* day, or INT32_MIN: never */
    char card_id[CC_UUID_LEN];        /* "": no active card (the order has none) */
    /* History the plan and coverage read (day numbers, any order). */
    int32_t *contact_days;            /* 'reached' contacts logged */
    int ncontact;
    int32_t *visit_days;              /* completed or billed mandated visits */
    int nvisit;
} od_duty_elder_t;

/* Mandated orders that exist, by "rule:elder:period": how many are live
 * (not cancelled, failed or denied) and the highest occurrence number. */
typedef struct {
    int live;
    int max_n;
} od_duty_occ_t;

typedef struct {
    int rule;                         /* index in the set */
    const od_duty_set_t *set;
    int elder;                        /* index in the elders */
    char pkey[OD_DUTY_PKEY_MAX];
    int n;                            /* occurrence number (1-based) */
    int32_t day;                      /* local day of the window */
    /* The days it may take in this run (inclusive: the horizon's part of
     * its period, or an assessment's window) and its period's end
     * (exclusive; an assessment's due day + 1): od_duty_fit moves it by
     * capacity within them and places the sooner-ending first. */
    int32_t from, to, pend;
} od_duty_due_t;

typedef struct {
    int64_t placements;
    int64_t no_card;                  /* placed for an elder with no active card */
    int64_t regen_cap;                /* skipped: OD_DUTY_REGEN_MAX reached */
} od_duty_plan_stats_t;

/* Does rule r apply to elder e on day? */
int od_duty_matches(const od_duty_rule_t *r, const od_duty_elder_t *e, int32_t day);
/* Parse "duty:<rule>:<elder>:<period>:<n>" -> "rule:elder:period" and n.
 * 0/-1 (not a duty key). */
int od_duty_key_parse(const char *idem_key, char *occ_key, size_t len, int *n);

/* The orders due in [today+?, hend]: sets (sorted by effective_from) in
 * force over those days; elders; occ ("rule:elder:period" ->
 * od_duty_occ_t). earliest is the first day a new window may use (today,
 * or tomorrow late in the day). Returns a malloc'd array (*n entries;
 * NULL and 0 when none). An elder without a card gets its orders too (the
 * fund pays a card-less mandated order), counted in stats->no_card. */
od_duty_due_t *od_duty_plan(const od_duty_set_t *sets, int nsets, const od_duty_elder_t *elders,
                            int nelders, cc_map_t *occ, int32_t earliest, int32_t hend,
                            int *n, od_duty_plan_stats_t *stats);
/* The set in force on day (NULL: none). */
const od_duty_set_t *od_duty_set_on(const od_duty_set_t *sets, int nsets, int32_t day);

/* ---- capacity (docs/DUTIES.md "Capacity") ------------------------------- */
/* Minutes an occurrence takes in a caregiver's day: dispatchd's service
 * minutes (visit 45, assessment 60) and 15 of travel. */
#define OD_DUTY_VISIT_MIN 60
#define OD_DUTY_ASSESS_MIN 75
int od_duty_minutes(const od_duty_due_t *d);

/* Free minutes of a district's day for duties: dispatchd's shift minutes
 * less what it has planned that is not a duty, less the duty orders that
 * exist for that day. */
typedef struct {
    int32_t district;
    int32_t day;
    int free_min;
} od_duty_cap_t;

typedef struct {
    int64_t fitted;                   /* placed by capacity */
    int64_t deferred;                 /* no day in range had room: not placed now */
    int64_t even;                     /* in a district with no figures: the even spread */
} od_duty_fit_stats_t;

/* Give each due occurrence of a district with figures (any row in caps) a
 * day by capacity: the district's occurrences in order of pressure (a
 * contact duty first, then the sooner period end, then as planned), each to
 * the working day of [from, to] (any day if none is working) with room for
 * it whose share of its free minutes would be the lowest (so the days fill
 * in proportion to their free capacity; ties: the earlier day). None with
 * room: deferred (removed from due; counted). Districts without figures
 * keep the even spread's day. Returns the new count; order kept. Pure. */
int od_duty_fit(od_duty_due_t *due, int n, const od_duty_elder_t *elders,
                const od_duty_cap_t *caps, int ncaps, od_duty_fit_stats_t *st);

/* Coverage of the duties of period kind p in the period holding day,
 * among elders of district (-1: all): {"period", "from", "to", "duties":
 * [{"duty", "service", "categories": [{"category", "due", "visited",
 * "missing": [elder ids], "rate"}], "due", "visited", "rate", "missing"}]}.
 * An elder is visited by a completed/billed mandated visit in the period,
 * or, for a contact duty, also by a 'reached' contact logged in it. */
json_t *od_duty_coverage(const od_duty_set_t *set, const od_duty_elder_t *elders, int nelders,
                         od_period_t p, int32_t day, int32_t district);

#endif
