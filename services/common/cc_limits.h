/* cc_limits: the one definition of every bound on what enters the system:
 * lengths of ids and text, amounts of money, times and spans, districts,
 * coordinates and counts. Every HTTP and ZeroMQ intake, every event schema
 * (cc_event.c) and every daemon's structs use these names; the SQL domains
 * of sql/common/011_limits.sql carry the same values, and cc_limits_test
 * compares each domain in each daemon schema with the C value (a difference
 * fails the test). docs/API.md "Limits" lists them for callers.
 *
 * Text lengths are bytes of UTF-8 (a Chinese character is 3), not counting
 * the NUL; a buffer for one is <MAX> + 1. Keep every value a plain integer
 * expression: tests/system/test_bounds.py reads this file. */
#ifndef CC_LIMITS_H
#define CC_LIMITS_H
#include <stddef.h>
#include <stdint.h>
#include "cc_time.h"

/* ---- ids and text (bytes) */
#define CC_UUID_TEXT_LEN 36        /* canonical UUID text; our ids are all UUIDs */
#define CC_PROVIDER_ID_MAX 64      /* provider ids: opaque text, 1..64 */
#define CC_NAME_MAX 200            /* names: elders, caregivers, meal points */
#define CC_ADDRESS_MAX 500         /* an elder's address */
#define CC_PHONE_MAX 20            /* phone numbers, 5..20 characters */
#define CC_ID_NUMBER_LEN 18        /* a PRC resident ID number */
#define CC_TEXT_MAX 200            /* short free text: diet, reasons */
#define CC_NOTES_MAX 1000          /* an order's notes */
#define CC_WORD_MAX 32             /* names of states, levels and kinds */
#define CC_REFERENCE_MAX 128       /* a top-up's reference (receipt number) */
#define CC_COURIER_ID_MAX 64       /* a meal courier's id: opaque text */
#define CC_IDEM_KEY_MAX 128        /* Idempotency-Key: 1..128 of 0x21..0x7e */
#define CC_USERNAME_MAX 64         /* an account's user name */

/* ---- places */
#define CC_DISTRICT_MIN 1          /* district ids: 1..INT32_MAX */
#define CC_DISTRICT_MAX 2147483647
#define CC_LAT_MAX 90              /* degrees; the minimum is -CC_LAT_MAX */
#define CC_LON_MAX 180             /* degrees; the minimum is -CC_LON_MAX */

/* ---- money (fen; never negative unless a name says so) */
#define CC_FEN_PRICE_MAX 100000000LL       /* one order's price: 1,000,000 CNY */
#define CC_FEN_TOPUP_MAX 1000000000LL      /* the ceiling of --max-topup-fen */
#define CC_FEN_BALANCE_MAX 10000000000LL   /* a card's available money; a top-up
                                            * that would pass it is refused */

/* ---- times: int64 microseconds since the epoch (cc_time.h) */
/* 2000-01-01T00:00:00+08:00: nothing in this service happened before. */
#define CC_TIME_MIN_US 946656000000000LL
/* The end of year 9999 plus a day: the last instant RFC 3339 text can name,
 * with any offset. */
#define CC_TIME_MAX_US 253402387200000000LL
/* An order's window starts at most 90 days ahead (orders are planned a
 * season at most; mandated plans are placed month by month). */
#define CC_ORDER_HORIZON_US (90 * CC_US_PER_DAY)
/* An order's window spans at most one week. */
#define CC_WINDOW_SPAN_MAX_US (7 * CC_US_PER_DAY)

/* ---- counts */
#define CC_CAPACITY_MAX 100000     /* meals per slot of a meal point */

/* The bounds above that the SQL also holds, one row per SQL domain
 * (sql/common/011_limits.sql): the domain's name, what it bounds, the C
 * bounds and the columns that must have the domain as their type. */
typedef enum {
    CC_LIMIT_LEN,    /* text: length(VALUE) BETWEEN min AND max (characters = bytes for
                      * the ASCII the probes use) */
    CC_LIMIT_INT,    /* integer or bigint: VALUE BETWEEN min AND max */
    CC_LIMIT_REAL,   /* double precision: VALUE BETWEEN min AND max */
    CC_LIMIT_TIME,   /* timestamptz: microseconds since the epoch BETWEEN min AND max */
} cc_limit_kind_t;

typedef struct {
    const char *domain;        /* "cc_provider_id" */
    cc_limit_kind_t kind;
    int64_t min, max;
    const char *columns;       /* "schema.table.column ..." typed with the domain */
} cc_limit_t;

/* The rows, *n of them. */
const cc_limit_t *cc_limits(size_t *n);

/* Overflow-safe arithmetic for times and money: 0 and *out, or -1 (and *out
 * untouched) when the exact result does not fit int64. */
static inline int cc_add_i64(int64_t a, int64_t b, int64_t *out)
{
    int64_t r;
    if (__builtin_add_overflow(a, b, &r))
        return -1;
    *out = r;
    return 0;
}

static inline int cc_sub_i64(int64_t a, int64_t b, int64_t *out)
{
    int64_t r;
    if (__builtin_sub_overflow(a, b, &r))
        return -1;
    *out = r;
    return 0;
}

/* 1 if us is a time the system takes (CC_TIME_MIN_US..CC_TIME_MAX_US). */
static inline int cc_time_in_range(int64_t us)
{
    return us >= CC_TIME_MIN_US && us <= CC_TIME_MAX_US;
}

#endif
