/* od_rrule: the subset of RFC 5545 recurrence rules care plans take
 * (docs/API-orderd.md "Recurrence rules"), parsed and expanded on local
 * dates (Asia/Shanghai has no DST, so a plan's occurrence is a date; its
 * window's times come from the plan).
 *
 * Parts: FREQ=DAILY|WEEKLY|MONTHLY (required), INTERVAL, BYDAY (MO..SU;
 * with MONTHLY also an ordinal: 1MO, -1FR), BYMONTHDAY (1..31, -31..-1;
 * not with WEEKLY), COUNT, UNTIL (YYYYMMDD, or a date-time whose local date
 * counts). Anything else is refused naming the part. Dates are days since
 * 1970-01-01 (int32). Weeks start on Monday (RFC 5545's default WKST). */
#ifndef OD_RRULE_H
#define OD_RRULE_H
#include <stdint.h>
#include <stddef.h>

typedef enum { OD_FREQ_DAILY = 1, OD_FREQ_WEEKLY, OD_FREQ_MONTHLY } od_freq_t;

#define OD_RRULE_MAX_BYDAY 35           /* 7 weekdays x ordinals 1..5 */
#define OD_RRULE_MAX_MONTHDAY 62
#define OD_RRULE_MAX_COUNT 10000
#define OD_RRULE_MAX_INTERVAL 1000

typedef struct {
    od_freq_t freq;
    int interval;                       /* >= 1 */
    int nbyday;
    int8_t byday_wd[OD_RRULE_MAX_BYDAY];  /* 0 = Monday .. 6 = Sunday */
    int8_t byday_n[OD_RRULE_MAX_BYDAY];   /* 0: every; 1..5 / -5..-1: ordinal in the month */
    int nmonthday;
    int8_t monthday[OD_RRULE_MAX_MONTHDAY];  /* 1..31, -31..-1 */
    int count;                          /* 0: none */
    int has_until;
    int32_t until;                      /* day, inclusive */
} od_rrule_t;

/* Parse s into r. 0, or -1 with *part the part refused ("FREQ", "BYDAY",
 * "BYSETPOS", ... or "rrule" for the text as a whole) and why a message
 * (static strings). */
int od_rrule_parse(const char *s, od_rrule_t *r, const char **part, const char **why);

/* Days since 1970-01-01 of a proleptic Gregorian date, and back. */
int32_t od_day_from_ymd(int y, int m, int d);
void od_day_to_ymd(int32_t day, int *y, int *m, int *d);
/* 0 = Monday .. 6 = Sunday. */
int od_day_weekday(int32_t day);
/* "YYYY-MM-DD" -> day: 0, or -1 when malformed or not a calendar date. */
int od_day_parse(const char *s, int32_t *day);
/* day -> "YYYY-MM-DD" in buf (>= 11 bytes); returns buf. */
char *od_day_format(int32_t day, char *buf, size_t len);

/* The occurrences of r from dtstart (the plan's first day: a bound, an
 * occurrence only when the rule matches it; INTERVAL counts days, weeks
 * (from its Monday) or months from it) that fall in [from, to], in order,
 * at most max of them into out. COUNT counts from dtstart, so occurrences
 * before from use up the count too. Returns how many were written.
 * Bounded: scans at most to - dtstart + 1 days (to - from + 1 without
 * COUNT). */
int od_rrule_expand(const od_rrule_t *r, int32_t dtstart, int32_t from, int32_t to,
                    int32_t *out, int max);

#endif
