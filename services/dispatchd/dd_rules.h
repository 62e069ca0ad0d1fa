/* dd_rules: a dispatcher's operations as rules the day model asks (issue 12,
 * "Dispatcher operations"). Pure C: no I/O, no clock (times are passed in).
 * docs/API-dispatchd.md describes the routes that feed them (dd_ops.c).
 *
 * rota         per local date (Asia/Shanghai) a caregiver works a given shift
 *              or is off (day_off, leave, sick); a date without an entry is
 *              the caregiver's default shift (dd_caregiver_t.shift_*).
 * certificates kind (a visit service name, or "first_aid"), level 1-3,
 *              [valid_from, valid_until). For each kind a caregiver holds
 *              any certificate of, the certificates decide (skill; level
 *              for bathing; first aid); for the other kinds the static
 *              fields of their registration do (skills, level, first_aid):
 *              caregivers without certificates behave as before. A
 *              certificate must be valid over the visit's whole window
 *              (window start to window end + service time).
 * zones (划片)  a provider serves a set of districts; its caregivers are
 *              offered visits in those districts only. A provider without
 *              a zone row serves everywhere (the behaviour before zones).
 * manual       a dispatcher's assignment pins a visit to the caregiver
 *              they chose until released: no automatic step (pre-emption,
 *              re-optimisation) may move it. It ends by itself when that
 *              caregiver no longer holds the visit (decline, timeout,
 *              unavailability), which returns it to the queue as before.
 *
 * The day model's hooks (dd_model.c, docs/DISPATCH.md): dd_qualified calls
 * dd_rules_qualified (skill, level, first aid, certificates, zone);
 * s_add_vehicle takes the shift from dd_rules_shift_at (rota) and, for the
 * emergency off-shift pass, asks dd_rules_unavailable (never a caregiver
 * on leave or sick); a dd_rules_pinned visit is pinned to its vehicle
 * (vrp_problem_pin) and pre-emption skips it. */
#ifndef DD_RULES_H
#define DD_RULES_H
#include <stddef.h>
#include <stdint.h>

#include "dd_domain.h"

/* ---- local dates ---------------------------------------------------------- */
/* Days since 1970-01-01 in local time (Asia/Shanghai). */
int32_t dd_day_of(int64_t us);
/* Local midnight starting day, in us. */
int64_t dd_day_start_us(int32_t day);
/* "YYYY-MM-DD" (a real date, 2000..9999) -> day. 0, or -1. */
int dd_day_parse(const char *s, int32_t *day);
/* day -> "YYYY-MM-DD" into buf (>= 11 bytes); returns buf. */
char *dd_day_format(int32_t day, char *buf, size_t len);

/* ---- rota ----------------------------------------------------------------- */
typedef enum { DD_OFF_NONE = 0, DD_OFF_DAY_OFF, DD_OFF_LEAVE, DD_OFF_SICK } dd_off_t;
const char *dd_off_name(dd_off_t o);       /* "" for DD_OFF_NONE */
/* "day_off" | "leave" | "sick" -> value; -1 otherwise. */
int dd_off_parse(const char *s);

typedef struct {
    int32_t day;
    dd_off_t off;               /* DD_OFF_NONE: works start..end */
    int start_min, end_min;     /* local minutes; end <= start: overnight (equal: 24 h) */
} dd_rota_t;

/* ---- certificates --------------------------------------------------------- */
#define DD_CERT_FIRST_AID 0     /* kinds: a visit service (DD_SVC_*) or this */
/* "bath".."assessment" (visit services) or "first_aid" -> kind; -1 otherwise. */
int dd_cert_kind_parse(const char *s);
const char *dd_cert_kind_name(int kind);

typedef struct {
    char id[DD_ID_LEN];
    int kind;
    int level;                  /* 1..3 */
    int64_t from_us, until_us;  /* valid in [from, until) */
} dd_cert_t;

/* ---- zones ---------------------------------------------------------------- */
typedef struct {
    char provider_id[DD_PROVIDER_LEN];
    uint32_t *districts;        /* sorted, no duplicates */
    size_t n;
} dd_zone_t;
typedef struct dd_zones dd_zones_t;

dd_zones_t *dd_zones_new(void);
void dd_zones_free(dd_zones_t **z_p);
/* The provider's zone, or NULL (it serves everywhere). Zones live as long
 * as the table: caregivers point at them. */
const dd_zone_t *dd_zones_get(const dd_zones_t *z, const char *provider_id);
/* Set the provider's districts (n >= 1; copied, sorted). 0, or -1 out of memory
 * (unchanged). */
int dd_zones_set(dd_zones_t *z, const char *provider_id, const uint32_t *districts, size_t n);
/* 1 if the provider may serve the district (no zone row: everywhere). */
int dd_rules_zone_ok(const dd_zones_t *z, const char *provider_id, uint32_t district_id);

/* ---- a caregiver's rules ---------------------------------------------------- */
typedef struct dd_cg_rules {
    dd_rota_t *rota;            /* sorted by day */
    size_t nrota, caprota;
    dd_cert_t *certs;
    size_t ncerts, capcerts;
    const dd_zone_t *zone;      /* their provider's zone, NULL: everywhere */
} dd_cg_rules_t;

/* Free c->rules (dd_caregiver_free calls it). */
void dd_rules_free(dd_caregiver_t *c);
/* Point c at its provider's zone in z (after a load, a new caregiver or a
 * provider's new zone). 0, or -1 out of memory (c then serves nowhere
 * new: the caller refuses or reloads). */
int dd_rules_link(const dd_zones_t *z, dd_caregiver_t *c);
/* Set (replace) c's rota entry for e->day. 0, or -1 out of memory. */
int dd_rules_rota_set(dd_caregiver_t *c, const dd_rota_t *e);
/* c's entry for day, or NULL (the default shift). */
const dd_rota_t *dd_rules_rota_get(const dd_caregiver_t *c, int32_t day);
/* Add a certificate (same id again: replaced). 0, or -1 out of memory. */
int dd_rules_cert_add(dd_caregiver_t *c, const dd_cert_t *cert);

/* The shift c works on local day: 0 with [*start, *end) in us, or -1 when
 * c is off that day. */
int dd_rules_shift_on(const dd_caregiver_t *c, int32_t day, int64_t *start_us, int64_t *end_us);
/* dd_shift_at with the rota: the first shift (started yesterday, today or
 * tomorrow) that ends after t_us; -1 when c is off all three days. */
int dd_rules_shift_at(const dd_caregiver_t *c, int64_t t_us, int64_t *start_us, int64_t *end_us);
/* 1 if c is on leave or sick on the local day of t_us (a day off is not:
 * an off-shift first-aider may still come to an emergency). */
int dd_rules_unavailable(const dd_caregiver_t *c, int64_t t_us);

/* c holds the skill for service (and for bathing an elder of ability
 * severe/total level >= 2) at at_us: certificates of that kind when c has
 * any, else the static skills and level. */
int dd_rules_certified(const dd_caregiver_t *c, int service, dd_ability_t ability,
                       int64_t at_us);
/* c is a first-aider at at_us (certificates of kind first_aid, else the
 * static flag). */
int dd_rules_first_aid(const dd_caregiver_t *c, int64_t at_us);
/* Every rule of a caregiver for a visit that does not depend on the plan:
 * skill, level, first aid (each over the visit's whole window), zone.
 * Decliners are dd_qualified's. */
dd_fit_t dd_rules_qualified(const dd_caregiver_t *c, const dd_visit_t *v);

/* 1 if v is pinned by a dispatcher to the caregiver who holds it. */
int dd_rules_pinned(const dd_visit_t *v);
/* c's planned visits not yet started (assigned or accepted) whose planned
 * start is on local day: up to max into out; returns how many there are. */
size_t dd_rules_day_visits(const dd_caregiver_t *c, int32_t day, dd_visit_t **out, size_t max);

#endif
