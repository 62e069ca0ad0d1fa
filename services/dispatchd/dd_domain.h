/* dd_domain: dispatch's data and the rules that need no model, as pure C
 * (no I/O, no clock, no allocation except the visit's decliner list and a
 * caregiver's plan array).
 *
 * A caregiver has skills (services), a certificate level 1-3, a first-aid
 * flag, a home and a daily shift in local time. A visit is one order of a
 * visit service (everything but meal) with a place, a window for the start
 * of service and a duration by service. Who takes a visit, and when, is
 * decided by the day model (dd_model.h, through libvrp); the rules that do
 * not depend on time (dd_qualified) and the shift calendar (dd_shift_at)
 * live here. */
#ifndef DD_DOMAIN_H
#define DD_DOMAIN_H
#include <stddef.h>
#include <stdint.h>
#include "cc_clock.h"
#include "cc_time.h"
#include "cc_util.h"

#define DD_ID_LEN 64       /* ids we store: ours are UUIDs, others' are opaque text */
#define DD_PROVIDER_LEN (CC_PROVIDER_ID_MAX + 1)   /* cc_limits.h, + NUL */
#define DD_MAX_DECLINED 64 /* a visit stops collecting decliners past this */

/* Service values are the proto's Cc__Service numbers (events.proto). */
enum {
    DD_SVC_MEAL = 1, DD_SVC_BATH = 2, DD_SVC_CLEANING = 3, DD_SVC_ESCORT = 4,
    DD_SVC_MEDICAL_ESCORT = 5, DD_SVC_EMERGENCY = 6, DD_SVC_VISIT = 7,
    DD_SVC_ASSESSMENT = 8, DD_SVC_MAX = 8
};

/* Service minutes for a visit service; 0 for meal and unknown values. */
int dd_service_minutes(int service);
/* 1 if dispatchd handles the service (a visit, not a meal). */
int dd_service_is_visit(int service);

typedef enum {
    DD_ABILITY_UNKNOWN = 0, DD_ABILITY_INTACT, DD_ABILITY_MILD, DD_ABILITY_MODERATE,
    DD_ABILITY_SEVERE, DD_ABILITY_TOTAL
} dd_ability_t;
/* "intact".."total" -> value; anything else DD_ABILITY_UNKNOWN. */
dd_ability_t dd_ability_parse(const char *s);
const char *dd_ability_name(dd_ability_t a);   /* "" for unknown */

typedef enum {
    DD_VISIT_WAITING = 0,   /* no caregiver yet: in the dispatch queue */
    DD_VISIT_ASSIGNED,      /* offered to a caregiver, not accepted yet */
    DD_VISIT_ACCEPTED,
    DD_VISIT_CHECKED_IN,
    DD_VISIT_UNCONFIRMED,   /* not checked out in time: a dispatcher confirms or rejects */
    DD_VISIT_COMPLETED,
    DD_VISIT_FAILED,
    DD_VISIT_CANCELLED,
    /* A caregiver and time in dispatchd's plan, not offered yet (a routine
     * visit whose window opens beyond --offer-ahead-h): re-optimisation moves
     * it freely; it is offered (assigned) at its release_us. Memory only: the
     * store keeps it waiting, a restart plans it again. */
    DD_VISIT_PLANNED,
    DD_VISIT_NSTATES
} dd_visit_state_t;
const char *dd_visit_state_name(dd_visit_state_t s);
/* The state as the store keeps it: planned is stored as waiting. */
const char *dd_visit_state_stored(dd_visit_state_t s);
/* -1 when unknown. */
int dd_visit_state_parse(const char *s);
/* The visit holds a slot in a caregiver's plan. */
int dd_visit_state_planned(dd_visit_state_t s);
/* completed, failed or cancelled. */
int dd_visit_state_final(dd_visit_state_t s);

typedef struct dd_visit dd_visit_t;

/* A place's unit vector for travel (vrp_geo_point), made on first use and
 * remade when lat/lon no longer match: the model measures from each place
 * many times per decision (dd_model.c). Zeroed means not made yet. */
typedef struct {
    double u[3];
    double lat, lon;
    int ok;
} dd_geo_t;

/* What the online decision reads of a planned visit (dd_model.c s_day),
 * kept beside the plan: the decision reads every qualified caregiver's day
 * for each visit, and a read of the visit itself is a cache miss. */
typedef struct {
    double u[3];                /* its place as a unit vector (vrp_geo_point) */
    int64_t end_us;             /* planned_end_us */
    int checked_in;             /* state == DD_VISIT_CHECKED_IN */
} dd_plan_pt_t;

/* The fields the decision reads of every caregiver come first, so that they
 * share a cache line or two (dd_model.c s_day, dd_rules_qualified). */
typedef struct {
    dd_geo_t geo;               /* of lat, lon */
    double lat, lon;            /* home: personal data */
    uint32_t skills;            /* bit (1u << service) per service */
    int level;                  /* certificate level 1..3 */
    int first_aid;
    int shift_start_min;        /* local minutes since midnight */
    int shift_end_min;          /* <= start means the shift ends the next day */
    int box_n;                  /* box_lo/hi below hold a point (0: empty) */
    struct dd_cg_rules *rules;  /* rota, certificates, zone (dd_rules.h); NULL: none */
    dd_visit_t **plan;          /* planned visits sorted by planned start; borrowed */
    int64_t *plan_eta;          /* plan[i]->eta_us, contiguous for the decision's
                                 * bisection; in plan's allocation (free plan only) */
    dd_plan_pt_t *plan_pt;      /* plan[i]'s place, end and check-in; in plan's
                                 * allocation too (dd_plan_refresh after a change) */
    size_t nplan, capplan;
    int64_t last_out_us;        /* 0: none; see last_lat below */
    /* A box (in unit-vector space) holding every planned visit's point:
     * grown as points are set, remade when one leaves the plan; box_n 0:
     * empty. The decision's bound from it reads no visit (dd_model.c
     * s_box_trip); with the fields above, the first three cache lines. */
    double box_lo[3], box_hi[3];
    char id[DD_ID_LEN];
    char provider_id[DD_PROVIDER_LEN];
    char idem_key[CC_IDEM_KEY_MAX + 1];   /* Idempotency-Key of its creation, "" if none */
    char *name;                 /* owned; personal data: API only, never logged */
    uint32_t district_id;
    uint64_t plan_ver;          /* bumped on every change of the plan or of a visit's state
                                 * in it: a re-optimisation started from an older one is
                                 * stale (dd_reopt.h) */
    /* Where the last visit checked out ended (its elder's home) and when:
     * with nothing of the plan started, the models start the caregiver
     * there within the same shift, not at home (dd_caregiver_at). Memory
     * only: after a restart, home. Personal data, never logged. */
    double last_lat, last_lon;
    dd_geo_t last_geo;          /* of last_lat, last_lon */
} dd_caregiver_t;

struct dd_visit {
    char id[DD_ID_LEN];
    char order_id[DD_ID_LEN];
    char elder_id[DD_ID_LEN];
    int service;                /* DD_SVC_* */
    dd_ability_t ability;
    int emergency;
    int priority;               /* higher is more urgent */
    uint32_t district_id;
    double lat, lon;            /* elder's home */
    dd_geo_t geo;               /* of lat, lon */
    int64_t window_start_us;    /* service should start within the window */
    int64_t window_end_us;
    char preferred_caregiver_id[DD_ID_LEN];
    char manual_caregiver_id[DD_ID_LEN];   /* a dispatcher's pin (dd_rules_pinned), "" if none */
    char *notes;                /* owned, may be NULL */
    /* The elder's address as orderd sealed it for dispatchd (cc_seal_address),
     * owned, NULL when none: opened only for an authorised read (dd_visit_address). */
    uint8_t *address_sealed;
    size_t address_sealed_len;

    dd_visit_state_t state;
    dd_caregiver_t *caregiver;  /* set while the state is planned */
    char caregiver_id[DD_ID_LEN];   /* last assigned caregiver, kept after the end */
    char provider_id[DD_PROVIDER_LEN];
    int64_t eta_us;             /* planned start of service */
    int64_t planned_end_us;
    int travel_s;

    int64_t created_us;         /* entered dispatch (OrderReleased seen) */
    int64_t release_us;         /* offered from (dd_dispatch_release_us); 0: created_us */
    int64_t assigned_us;        /* last offer */
    int64_t accepted_us, checked_in_us, checked_out_us, finished_us;
    int64_t unconfirmed_us;     /* became unconfirmed (dd_deadline.h) */
    double in_lat, in_lon, out_lat, out_lon;
    int in_distance_m, out_distance_m;
    char fail_reason[32];

    char (*declined)[DD_ID_LEN];   /* caregivers never to offer it to again; owned */
    size_t ndeclined;

    size_t active_ix;           /* index in the world's active list (dd_state) */
    void *timer;                /* accept timer, owned by the daemon layer */
    int overdue_logged;         /* the daemon's: deadline stage last logged overdue */
    int ran_long;               /* the daemon's: re-optimisation kicked for running long */
    cc_hold_t hold;             /* the daemon's: deadline seen in monotonic time (cc_clock.h) */
};

/* ---- caregivers ---------------------------------------------------------- */
int dd_caregiver_has_skill(const dd_caregiver_t *c, int service);
/* 1 if a and b were registered with the same body (provider, district, name,
 * home, skills, level, first aid, shift); ids, keys and plans are not
 * compared. A repeated Idempotency-Key must come with the same body. */
int dd_caregiver_same(const dd_caregiver_t *a, const dd_caregiver_t *b);
/* Insert v into c's plan ordered by eta_us. 0, or -1 out of memory. */
int dd_plan_add(dd_caregiver_t *c, dd_visit_t *v);
/* Take plan[k] out for a moment (a model of the day without it) and put
 * it back at k: the plan's version is not bumped, as nothing changed. */
dd_visit_t *dd_plan_lift(dd_caregiver_t *c, size_t k);
void dd_plan_put_back(dd_caregiver_t *c, size_t k, dd_visit_t *v);
/* The first index of c's plan whose start is after t (nplan if none), by
 * bisection of plan_eta: a plan holds weeks of visits. */
size_t dd_plan_seek(const dd_caregiver_t *c, int64_t t);
/* After v's state changed while in c's plan: its plan_pt again. */
void dd_plan_refresh(dd_caregiver_t *c, const dd_visit_t *v);

/* Where caregiver c is free from, at now_us, in the shift occurrence that
 * began at shift_start_us, when no visit of its plan has started: the last
 * visit checked out in that shift if any (*lat, *lon set, 1), else home
 * (0). Without it a model started every caregiver between visits at home:
 * ETAs too early by the trip back (the county day's late starts). */
int dd_caregiver_at(const dd_caregiver_t *c, int64_t shift_start_us, int64_t now_us,
                    double *lat, double *lon);

/* When a started visit ends as far as dispatch can tell: its planned end,
 * or for one checked in late its check-in plus the service's minutes. */
int64_t dd_visit_busy_until_us(const dd_visit_t *v);
/* Remove v from c's plan (no-op when absent). */
void dd_plan_remove(dd_caregiver_t *c, dd_visit_t *v);

/* ---- visits -------------------------------------------------------------- */
int dd_visit_declined_by(const dd_visit_t *v, const char *caregiver_id);
/* Remember a decliner. 0, or -1 out of memory (or list full). */
int dd_visit_add_declined(dd_visit_t *v, const char *caregiver_id);
/* Queue order: emergencies first, then earliest window start, then higher
 * priority, then first come. qsort comparator over dd_visit_t *. */
int dd_visit_urgency_cmp(const void *a, const void *b);

/* ---- rules --------------------------------------------------------------- */
typedef enum {
    DD_FIT_OK = 0,
    DD_FIT_SKILL,               /* lacks the service skill */
    DD_FIT_LEVEL,               /* bathing severe/total needs level >= 2 */
    DD_FIT_FIRST_AID,           /* emergency needs first aid */
    DD_FIT_DECLINED,            /* declined or timed out on this visit before */
    DD_FIT_TOO_FAR,             /* travel over max_travel_s */
    DD_FIT_NO_TIME,             /* no room in the day, the shift or the window */
    DD_FIT_CERTIFICATE,         /* certificate expired, not yet valid or too low (dd_rules.h) */
    DD_FIT_ZONE,                /* the provider does not serve the district (dd_rules.h) */
    DD_FIT_UNAVAILABLE          /* on leave or sick that day (dd_rules.h) */
} dd_fit_t;
const char *dd_fit_name(dd_fit_t f);

/* A decision: who and when (dd_model.h). */
typedef struct {
    dd_caregiver_t *caregiver;
    int64_t eta_us;             /* arrival = start of service */
    int64_t end_us;             /* eta + service minutes */
    int travel_s;               /* from where they will be */
    int preferred;              /* the elder's preferred caregiver */
    int off_shift;              /* emergency fallback outside the shift */
} dd_match_t;

/* A mandated duty's rank from VisitReleased.priority (bits 28-29): 0 none,
 * 1 a mandated visit or assessment, 2 a contact duty (no_carer's weekly
 * contact). Emergencies have none: they come first anyway. */
int dd_visit_duty_rank(const dd_visit_t *v);
/* Rules that do not depend on time: skill, level, first aid, decliners. */
dd_fit_t dd_qualified(const dd_caregiver_t *c, const dd_visit_t *v);
/* The shift occurrence that ends after t_us: [*start, *end) in us.
 * end <= start in minutes means an overnight shift; equal means 24 h. */
void dd_shift_at(int start_min, int end_min, int64_t t_us, int64_t *start_us, int64_t *end_us);
/* An emergency takes an unaccepted routine slot only when that brings help
 * this much sooner than the best free slot (or there is none). */
#define DD_PREEMPT_GAIN_US (15 * CC_US_PER_MIN)

#endif
