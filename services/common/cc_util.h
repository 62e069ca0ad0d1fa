/* cc_util: ids, clocks, time text, geography. Pure helpers, no state. */
#ifndef CC_UTIL_H
#define CC_UTIL_H
#include <stdint.h>
#include <stddef.h>
#include "cc_time.h"
#include "cc_limits.h"

#define CC_UUID_LEN 37 /* 36 chars + NUL */

/* Random (v4) UUID text, lower case, into out[CC_UUID_LEN] (getrandom(2)). */
void cc_uuid(char out[CC_UUID_LEN]);
/* Lower-case hex of n bytes of b, malloc'd (the caller frees), or NULL
 * when out of memory: bytea parameters go to PostgreSQL in text. */
char *cc_hex(const uint8_t *b, size_t n);
/* 1 if s is a canonical lower/upper-case UUID text. */
int cc_uuid_valid(const char *s);
/* The one id rule: s must be a UUID in canonical form, either case; out
 * gets it in lower case (our stores and maps hold lower case only).
 * 0, or -1 (out = "") when s is not a UUID. out may be s itself. */
int cc_uuid_norm(const char *s, char out[CC_UUID_LEN]);
/* The one Idempotency-Key rule (HTTP header and ZeroMQ field alike):
 * 1..CC_IDEM_KEY_MAX (cc_limits.h) printable ASCII characters, no space
 * (0x21..0x7e). */
int cc_idem_key_valid(const char *key);

/* Make room for n elements of size elem in the array *arr_p of capacity
 * *cap (doubling from at least first): 0, or -1 with the array unchanged. */
int cc_grow(void *arr_p, size_t *cap, size_t n, size_t elem, size_t first);
/* calloc(1, size), or log out_of_memory naming what and exit(1): the
 * daemons are crash-only, and a half-made decision must not be kept. */
void *cc_xcalloc(size_t size, const char *what);
/* Initialise libsodium (CPU feature choice, random source): 0, or -1 when
 * it cannot start. Idempotent and cheap, so every crypto entry point calls
 * it instead of relying on main() to. */
int cc_sodium_init(void);

int64_t cc_now_us(void);      /* wall clock, microseconds since epoch */
int64_t cc_mono_us(void);     /* monotonic clock, microseconds */

/* Default time zone of the service area: Asia/Shanghai, UTC+8, no DST. */
#define CC_TZ_OFFSET_S (8 * (int)CC_S_PER_HOUR)

/* Format us as RFC 3339 in +08:00, e.g. "2026-11-26T08:30:00+08:00" (or with
 * ".123456" when there are microseconds). buf >= 40 bytes. Returns buf. */
char *cc_time_format(int64_t us, char *buf, size_t len);
/* Parse RFC 3339 / ISO 8601 "YYYY-MM-DDTHH:MM[:SS[.frac]][Z|+hh:mm|-hh:mm]";
 * no offset means Asia/Shanghai. Returns 0 and *us, or -1 when malformed.
 * 'T' may be 't' or ' '; frac has 1..9 digits (beyond microseconds are
 * truncated); out-of-range fields and leap second 60 are refused. */
int cc_time_parse(const char *s, int64_t *us);
/* Local (Asia/Shanghai) date "YYYY-MM-DD" of us into buf (>= 11 bytes). */
char *cc_date_local(int64_t us, char *buf, size_t len);
/* Minutes since local midnight of us (Asia/Shanghai). */
int cc_minute_of_day_local(int64_t us);
/* Parse "HH:MM" into minutes since midnight; -1 if malformed. */
int cc_hhmm_parse(const char *s);
/* Parse "YYYY-MM-DD"; returns 0 and *us of local midnight, or -1 on error. */
int cc_date_parse(const char *s, int64_t *us);

/* Great-circle distance in metres. */
/* The travel model: mean earth radius (IUGG), the road detour over the
 * great circle, an e-bike's speed. Whatever bounds cc_geo_travel_s (the
 * dispatch search's lower bound) derives from these, not from copies. */
#define CC_GEO_EARTH_RADIUS_M 6371008.8
#define CC_GEO_DETOUR_FACTOR 1.3
#define CC_GEO_SPEED_M_PER_S (15000.0 / (double)CC_S_PER_HOUR)

double cc_geo_distance_m(double lat1, double lon1, double lat2, double lon2);
/* Estimated travel seconds in town: distance x 1.3 detour / 15 km/h (e-bike),
 * rounded; -1 when a coordinate is not finite. */
int cc_geo_travel_s(double lat1, double lon1, double lat2, double lon2);

#endif
