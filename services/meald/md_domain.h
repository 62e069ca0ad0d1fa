/* md_domain: meald's working set and decisions, pure C (no I/O, no clock).
 *
 * The state holds the meal points with their slots, the places taken per
 * (point, date, slot) ("buckets") and the meal orders meald has decided on.
 * The daemon loads it from its schema at start, decides every request and
 * event against it, and writes the decision with one SQL call.
 *
 * Rules (docs/API-meald.md):
 * - Slot and date come from the order window: the local (Asia/Shanghai) date
 *   of window_start; lunch if its local time is before 15:00, else dinner.
 * - A point's cut-off for a date is its slot cut-off time ("HH:MM") on that
 *   local date; an order can be booked while now < cut-off.
 * - The nearest point (great-circle) that offers the slot, is before its
 *   cut-off and has a place left wins; ties go to the smaller id. Otherwise
 *   the refusal is no_meal_point (no point offers the slot within reach),
 *   past_cutoff (every such point is past its cut-off), or no_capacity. */
#ifndef MD_DOMAIN_H
#define MD_DOMAIN_H
#include <stddef.h>
#include <stdint.h>
#include "cc_clock.h"
#include "cc_event.h"
#include "cc_limits.h"   /* one definition of each limit, for every daemon */

typedef enum { MD_LUNCH = 0, MD_DINNER = 1, MD_NSLOTS = 2 } md_slot_t;

typedef enum {
    MD_REFUSE_NONE = 0,
    MD_REFUSE_PAST_CUTOFF,
    MD_REFUSE_NO_CAPACITY,
    MD_REFUSE_NO_MEAL_POINT,
    MD_REFUSE_COUNT
} md_refusal_t;

typedef enum {
    MD_MEAL_SCHEDULED = 0,
    MD_MEAL_REFUSED,
    MD_MEAL_CANCELLED,
    MD_MEAL_DELIVERED,
    MD_MEAL_UNDELIVERED,     /* not reported delivered by its deadline */
    MD_MEAL_FAILED           /* the courier could not hand it over (fail_reason) */
} md_meal_status_t;

/* Why a delivery failed on site (POST /v1/meals/{id}/failed). */
#define MD_FAIL_REASONS { "absent", "refused", NULL }

/* Local time of day (minutes) from which a window is a dinner, not a lunch. */
#define MD_DINNER_FROM_MIN (15 * 60)
#define MD_ID_LEN 37          /* UUID text + NUL */
#define MD_PROVIDER_MAX CC_PROVIDER_ID_MAX   /* bytes */
#define MD_NAME_MAX CC_NAME_MAX          /* cc_limits.h */
#define MD_DIET_MAX CC_TEXT_MAX
#define MD_COURIER_MAX CC_COURIER_ID_MAX
#define MD_HOT_LIMIT_DEFAULT_MIN 40   /* meal_points.hot_limit_min's default */

const char *md_slot_name(md_slot_t slot);          /* "lunch" | "dinner" */
int md_slot_parse(const char *name);               /* md_slot_t, or -1 */
const char *md_refusal_name(md_refusal_t reason);  /* "past_cutoff", ...; "" for NONE */
int md_refusal_parse(const char *name);            /* md_refusal_t (not NONE), or -1 */
const char *md_status_name(md_meal_status_t status);
int md_status_parse(const char *name);             /* md_meal_status_t, or -1 */

/* ---- local (Asia/Shanghai, UTC+8, no DST) calendar ------------------------
 * A "day" is the number of days since 1970-01-01 in local time. */
int32_t md_day_of_us(int64_t us);
int64_t md_day_start_us(int32_t day);            /* us of local midnight */
/* "YYYY-MM-DD" into buf (>= 11 bytes); returns buf. */
char *md_day_format(int32_t day, char *buf, size_t len);
/* Strict "YYYY-MM-DD" with a real calendar date: 0 and *day, or -1. */
int md_day_parse(const char *s, int32_t *day);

/* Slot and local day of an order window. */
void md_slot_for_window(int64_t window_start_us, md_slot_t *slot, int32_t *day);
/* Cut-off instant of a slot whose cut-off is cutoff_min on local day. */
int64_t md_cutoff_us(int32_t day, int cutoff_min);
/* 1 if the cut-off has passed at now_us (now >= cut-off). */
int md_cutoff_passed(int32_t day, int cutoff_min, int64_t now_us);

/* ---- working set ---------------------------------------------------------- */
typedef struct {
    int offered;       /* 0: the point does not serve this slot */
    int capacity;      /* > 0 when offered */
    int cutoff_min;    /* minutes after local midnight, 0..1439 */
} md_slot_conf_t;

/* A meal point. Plain data owned by the state; pointers stay valid until
 * the state is destroyed. */
typedef struct {
    char id[MD_ID_LEN];
    char name[MD_NAME_MAX + 1];
    char provider_id[MD_PROVIDER_MAX + 1];
    uint32_t district_id;
    double lat, lon;
    md_slot_conf_t slots[MD_NSLOTS];
    int hot_limit_min;       /* longest ride kitchen -> door (minutes), 40 by default */
    char idem_key[129];      /* Idempotency-Key of the creating request, or "" */
    char req_hash[17];       /* hash of that request's body, or "" */
} md_point_t;

/* A meal order meald has decided on. */
typedef struct {
    char order_id[MD_ID_LEN];
    md_meal_status_t status;
    md_refusal_t reason;     /* when refused */
    md_point_t *point;       /* NULL when refused */
    int32_t day;             /* local date of the meal */
    md_slot_t slot;
    uint32_t district_id;
    char diet[MD_DIET_MAX + 1];
    double lat, lon;         /* the elder's home: for the courier route */
    int64_t window_start_us, window_end_us;
    int64_t delivered_us;    /* when delivered */
    char courier_id[MD_COURIER_MAX + 1];
    int64_t expired_us;      /* when it became undelivered or failed */
    int eat_in;              /* eaten at the canteen: no round (MealReleased.mode) */
    char fail_reason[16];    /* when failed: "absent" | "refused" */
    size_t open_ix;          /* the state's: index in the open list while scheduled */
    int overdue_logged;      /* the daemon's: logged overdue once */
    cc_hold_t hold;          /* the daemon's: deadline seen in monotonic time (cc_clock.h) */
    int expiring;            /* the daemon's: md_expire queued, not yet committed */
    /* The elder's address as orderd sealed it for meald (cc_seal_address),
     * NULL when none: opened only by md_meal_address. A meal given to
     * md_meal_schedule/md_meal_load lends it; the state's meal owns a copy. */
    uint8_t *address_sealed;
    size_t address_sealed_len;
} md_meal_t;

/* A courier of a meal point: one vehicle, one box, one shift a day. */
typedef enum { MD_FOOT = 0, MD_E_BIKE = 1, MD_CAR = 2, MD_NVEHICLES = 3 } md_vehicle_t;
#define MD_SHIFT_NONE (-1)
typedef struct {
    char id[MD_ID_LEN];
    md_point_t *point;       /* borrowed from the state */
    char provider_id[MD_PROVIDER_MAX + 1];
    char name[MD_NAME_MAX + 1];
    md_vehicle_t vehicle;
    double speed_kmh;        /* > 0; md_vehicle_speed() when not given */
    int capacity;            /* meals per round (box) */
    int shift_start_min;     /* local minutes after midnight, start < end <= 1440 */
    int shift_end_min;
    char idem_key[129];
    char req_hash[17];
} md_courier_t;

const char *md_vehicle_name(md_vehicle_t v);      /* "foot" | "e_bike" | "car" */
int md_vehicle_parse(const char *name);           /* md_vehicle_t, or -1 */
double md_vehicle_speed(md_vehicle_t v);          /* default km/h: 5, 15, 25 */

typedef struct md_state md_state_t;

md_state_t *md_state_new(void);
void md_state_destroy(md_state_t **self_p);

/* Copy p into the state. NULL if its id is taken or out of memory. */
md_point_t *md_point_add(md_state_t *self, const md_point_t *p);
md_point_t *md_point_find(md_state_t *self, const char *id);
md_point_t *md_point_find_idem(md_state_t *self, const char *idem_key);
size_t md_point_count(const md_state_t *self);
/* Points in insertion order, i < md_point_count. */
md_point_t *md_point_at(md_state_t *self, size_t i);

/* Copy c into the state (c->point must be the state's). NULL if its id or
 * Idempotency-Key is taken or out of memory. */
md_courier_t *md_courier_add(md_state_t *self, const md_courier_t *c);
md_courier_t *md_courier_find_idem(md_state_t *self, const char *idem_key);
size_t md_courier_count(const md_state_t *self);
/* Couriers in insertion order, i < md_courier_count. */
md_courier_t *md_courier_at(md_state_t *self, size_t i);

/* Places taken at (point, day, slot). */
int md_used(md_state_t *self, const md_point_t *point, int32_t day, md_slot_t slot);

typedef struct {
    md_point_t *point;       /* chosen point, NULL when refused */
    md_refusal_t reason;     /* MD_REFUSE_NONE when a point was chosen */
    double distance_m;
} md_choice_t;

/* Choose the point for a meal at (lat, lon) in slot on day, at now_us.
 * max_distance_m <= 0 means no limit. Returns 0 with out->point, or -1 with
 * out->reason. Changes nothing. */
int md_choose(md_state_t *self, double lat, double lon, md_slot_t slot, int32_t day,
              int64_t now_us, double max_distance_m, md_choice_t *out);
/* The point named id (a care plan's choice, at any distance) when it
 * offers slot, before its cut-off and with room: 0 and *out; else -1
 * (md_choose decides then). */
int md_choose_at(md_state_t *self, const char *id, double lat, double lon, md_slot_t slot,
                 int32_t day, int64_t now_us, md_choice_t *out);

/* Record a scheduled meal and take its place (m->point, day, slot set;
 * status is forced to scheduled). NULL if the order is known, the point
 * does not offer the slot, the slot is full, or out of memory. */
md_meal_t *md_meal_schedule(md_state_t *self, const md_meal_t *m);
/* Record a meal in any status as stored (loading): scheduled and delivered
 * meals take a place even beyond capacity (the store is the truth).
 * NULL if the order is known or out of memory. */
md_meal_t *md_meal_load(md_state_t *self, const md_meal_t *m);
md_meal_t *md_meal_find(md_state_t *self, const char *order_id);
/* scheduled -> cancelled, freeing the place. -1 if not scheduled. */
int md_meal_cancel(md_state_t *self, md_meal_t *meal);
/* scheduled -> delivered (keeps the place). -1 if not scheduled. */
int md_meal_deliver(md_state_t *self, md_meal_t *meal, int64_t at_us, const char *courier_id);
/* scheduled -> undelivered at at_us (keeps the place: the food was made).
 * -1 if not scheduled. */
int md_meal_expire(md_state_t *self, md_meal_t *meal, int64_t at_us);
/* scheduled -> failed (reason "absent" | "refused"; keeps the place: the
 * food was made). -1 if not scheduled. */
int md_meal_fail(md_state_t *self, md_meal_t *meal, int64_t at_us, const char *reason);
/* Forget a meal entirely (undo of a decision the store did not take);
 * frees its place if it held one. *meal_p is set to NULL. */
void md_meal_forget(md_state_t *self, md_meal_t **meal_p);

size_t md_meal_count(const md_state_t *self);
/* Meals holding a place and not yet delivered. */
size_t md_open_count(const md_state_t *self);
/* Those meals (scheduled), unordered; borrowed, valid until the next
 * change to the state. */
md_meal_t *const *md_open_meals(const md_state_t *self, size_t *n);

/* ---- delivery deadline (docs/ARCHITECTURE.md "Deadlines") -----------------
 * A scheduled meal is due deliver_s after its window's end; until overdue_s
 * later it is overdue (GET /v1/meals/overdue lists it), then the sweep makes
 * it undelivered (MealRefused{reason: not_delivered}: orderd fails the order
 * and billing releases the hold). One rule per slot: table meald.deadlines
 * (sql/meald/004_deadlines.sql). */
typedef struct {
    int64_t deliver_s;       /* 0..86400 */
    int64_t overdue_s;       /* 0..86400 */
} md_deadline_rule_t;
#define MD_REASON_NOT_DELIVERED "not_delivered"
/* 0 if both fields are in range, else -1 and *field (may be NULL) names it. */
int md_deadline_rule_check(const md_deadline_rule_t *r, const char **field);

typedef enum {
    MD_DUE_NONE = 0,         /* not scheduled: no deadline */
    MD_DUE_ON_TIME,
    MD_DUE_OVERDUE,          /* due <= now < resolve */
    MD_DUE_RESOLVE           /* now >= resolve: the sweep expires it */
} md_due_t;
/* Where meal m stands at now_us under r; *due_us and *resolve_us (may be
 * NULL) get its times. Saturating: any stored window gives an answer. */
md_due_t md_meal_due(const md_meal_t *m, const md_deadline_rule_t *r, int64_t now_us,
                     int64_t *due_us, int64_t *resolve_us);
/* Whether the sweep expires m now: past its wall-clock resolution and seen
 * overdue for overdue_s of monotonic time (cc_hold_ripe: a wall-clock step
 * expires nothing; a restart expires what passed meanwhile overdue_s after
 * it starts). Updates m->hold: call it every tick for every open meal. */
int md_meal_ripe(md_meal_t *m, const md_deadline_rule_t *r, int64_t now_us, int64_t mono_us);

/* Meals holding a place at (point, day, slot) (scheduled or delivered),
 * in booking order. *n gets the count; the array is valid until the next
 * change to the state. NULL with *n = 0 when there are none. */
md_meal_t *const *md_bucket_meals(md_state_t *self, const md_point_t *point, int32_t day,
                                  md_slot_t slot, size_t *n);

/* Kitchen list tally: distinct diets (as given, "" for none) with counts,
 * in first-seen order. Returns the number of distinct diets written (at
 * most max). */
typedef struct {
    const char *diet;
    int count;
} md_diet_count_t;
size_t md_diet_tally(md_meal_t *const *meals, size_t n, md_diet_count_t *out, size_t max);

/* Forget meals and buckets of days before before_day (memory bound for a
 * long-running daemon; the store keeps them). Scheduled meals stay: their
 * deadline must still be resolved. Returns meals dropped. */
size_t md_state_prune(md_state_t *self, int32_t before_day);

#endif
