/* od_domain: orderd's pure rules, no I/O: PRC resident ID numbers, the
 * order state machine of the saga (docs/ARCHITECTURE.md), dispatch priority,
 * ages and the value checks behind request validation. Everything here is
 * deterministic and unit-tested in od_domain_test.c. */
#ifndef OD_DOMAIN_H
#define OD_DOMAIN_H
#include "cc_daemon.h"
#include <stdint.h>
#include <stddef.h>
#include <stdbool.h>
#include "od_states.h"
#include "cc_time.h"
#include "cc_limits.h"

/* ---- enumerations (text forms are the API and the SQL CHECKs) ------------ */
/* Order states: generated from OD_STATES (od_states.h), in its order. */
typedef enum {
#define S_X(e, name, final, cancellable) e,
    OD_STATES(S_X)
#undef S_X
    OD_STATE_COUNT
} od_state_t;

/* What happens to an order. Inbound events keep their producer's names. */
typedef enum {
    OD_EV_FUNDS_HELD = 0,
    OD_EV_FUNDS_DENIED,
    OD_EV_HOLD_CAPTURED,
    OD_EV_HOLD_RELEASED,
    OD_EV_VISIT_ASSIGNED,
    OD_EV_VISIT_ACCEPTED,
    OD_EV_VISIT_DECLINED,
    OD_EV_VISIT_CHECKED_IN,
    OD_EV_VISIT_COMPLETED,
    OD_EV_VISIT_FAILED,
    OD_EV_MEAL_SCHEDULED,
    OD_EV_MEAL_REFUSED,
    OD_EV_MEAL_DELIVERED,
    OD_EV_CANCEL,             /* operator's POST /v1/orders/{id}/cancel */
    OD_EV_COUNT
} od_event_t;

/* Event orderd appends to its own log as a consequence of a step. */
typedef enum {
    OD_OUT_NONE = 0,
    OD_OUT_RELEASED,          /* OrderReleased */
    OD_OUT_COMPLETED,         /* OrderCompleted */
    OD_OUT_FAILED,            /* OrderFailed */
    OD_OUT_CANCELLED          /* OrderCancelled */
} od_out_t;

typedef struct {
    od_state_t to;            /* new state; == from when only history is written */
    bool changes;             /* to != from */
    od_out_t out;             /* event to append in the same transaction */
} od_step_t;

const char *od_state_name(od_state_t s);
int od_state_parse(const char *s);            /* -1 if unknown */
bool od_state_final(od_state_t s);            /* OD_STATES: billed, denied, ... */
bool od_state_cancellable(od_state_t s);      /* OD_STATES: before in_progress */

/* One row of the store's order_states table (borrowed strings). */
typedef struct {
    const char *name;
    bool final;
    bool cancellable;
} od_state_row_t;

/* Compare the store's n rows with OD_STATES: every state in both, with the
 * same flags. 0 if they agree; -1 with *bad (may be NULL) set to the name of
 * the first state that differs (a row's name, borrowed) and *why to
 * "missing_in_store", "unknown_to_orderd", "final" or "cancellable" (the flag
 * that differs) or "duplicate". */
int od_states_check(const od_state_row_t *rows, size_t n, const char **bad, const char **why);
const char *od_event_name(od_event_t e);      /* the proto message name, "Cancel" */
int od_event_parse(const char *type);         /* Envelope.type -> od_event_t, -1 */

/* The saga's transition table. Events that do not move the order (a final
 * order, an out-of-order or informational event) give to == from, changes
 * false, out none: the caller records them in history only. FundsHeld on a
 * placed order goes to released (passing through funds_held) and appends
 * OrderReleased. */
od_step_t od_step(od_state_t from, od_event_t ev);

/* ---- services --------------------------------------------------------- */
/* Values match enum Cc__Service in proto/events.proto. */
#define OD_SERVICE_COUNT (CC_SERVICE_MAX + 1)
const char *od_service_name(int service);     /* NULL for 0 / out of range */
int od_service_parse(const char *name);       /* 0 if unknown */
bool od_service_is_visit(int service);        /* dispatchd's (all but meal) */

/* ---- elders ----------------------------------------------------------- */
extern const char *const od_ability_names[];   /* intact .. total, NULL-terminated */
extern const char *const od_household_names[]; /* none dibao dibao_edge tekun */
extern const char *const od_living_names[];    /* alone empty_nest ... other */
#define od_service_names cc_service_names   /* cc_daemon.h: the one list */
extern const char *const od_state_names[];     /* placed .. failed */

/* 18-character PRC resident ID (GB 11643-1999): 17 digits, an ISO 7064
 * MOD 11-2 check character (digit or X/x), and a valid birth date in
 * characters 7..14. Returns 0 if valid; -1 with *why = "length", "format",
 * "birth_date" or "checksum". */
int od_id_number_check(const char *s, const char **why);
/* The check character for the first 17 digits ('0'..'9' or 'X'). */
char od_id_number_check_char(const char *first17);

/* Proleptic Gregorian calendar helpers. */
bool od_date_valid(int y, int m, int d);
/* "YYYY-MM-DD" exactly; 0 and *y,*m,*d or -1. */
int od_date_parse(const char *s, int *y, int *m, int *d);
/* Whole years from birth to the date (y,m,d); a 29 Feb birthday counts on
 * 1 Mar in common years. Negative if birth is later. */
int od_age_years(int by, int bm, int bd, int y, int m, int d);

/* Phone: 5..20 chars of digits, optionally one leading '+', and '-' or
 * spaces between digits. */
bool od_phone_valid(const char *s);
/* Idempotency-Key: 1..128 printable ASCII characters, no spaces. */
bool od_idem_key_valid(const char *s);

/* ---- orders ----------------------------------------------------------- */
#define OD_WINDOW_MAX_US CC_WINDOW_SPAN_MAX_US       /* one week (cc_limits.h) */
#define OD_EMERGENCY_WINDOW_US (2 * CC_US_PER_HOUR) /* default: now .. +2 h */

/* Window rule: both ends in CC_TIME_MIN_US..CC_TIME_MAX_US, end > start, at
 * most CC_WINDOW_SPAN_MAX_US long, end not in the past, start at most
 * CC_ORDER_HORIZON_US ahead of now (cc_limits.h). Any int64 values are safe
 * (nothing overflows). Returns 0, or -1 with *field ("window_start" or
 * "window_end") and *why naming the rule; field and why may be NULL. */
int od_window_check(int64_t start_us, int64_t end_us, int64_t now_us, const char **field,
                    const char **why);

/* Dispatch priority for OrderReleased.priority (higher is more urgent):
 * every emergency ranks above every other order; among equals the earlier
 * window start ranks higher. Minute resolution, never negative. */
int32_t od_priority(bool emergency, int64_t window_start_us);
/* The same with a mandated duty's rank in bits 28-29 (0 none, 1 a mandated
 * visit or assessment, 2 a contact duty): dispatchd lets a higher rank take
 * a lower one's planned slot on a short day (docs/DUTIES.md "Capacity"). */
int32_t od_priority_ranked(bool emergency, int duty_rank, int64_t window_start_us);

#endif
