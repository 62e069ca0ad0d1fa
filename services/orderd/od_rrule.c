/* od_rrule: see od_rrule.h. */
#include "od_rrule.h"
#include <string.h>
#include <stdio.h>
#include <stdlib.h>
#include <ctype.h>

static const char *const s_wd[7] = { "MO", "TU", "WE", "TH", "FR", "SA", "SU" };

/* Days from civil (H. Hinnant's algorithm): exact for every Gregorian date. */
int32_t od_day_from_ymd(int y, int m, int d)
{
    y -= m <= 2;
    int era = (y >= 0 ? y : y - 399) / 400;
    int yoe = y - era * 400;
    int doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return (int32_t)(era * 146097 + doe - 719468);
}

void od_day_to_ymd(int32_t day, int *y, int *m, int *d)
{
    int32_t z = day + 719468;
    int32_t era = (z >= 0 ? z : z - 146096) / 146097;
    int32_t doe = z - era * 146097;
    int32_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int32_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int32_t mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = (int)(yoe + era * 400 + (*m <= 2));
}

int od_day_weekday(int32_t day)
{
    /* 1970-01-01 was a Thursday (3 with Monday = 0). */
    int w = (int)((day + 3) % 7);
    return w < 0 ? w + 7 : w;
}

static int s_leap(int y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int s_month_days(int y, int m)
{
    static const int n[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
    return m == 2 && s_leap(y) ? 29 : n[m - 1];
}

static int s_digits(const char *s, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)s[i]))
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 0;
}

static int s_ymd_valid(int y, int m, int d)
{
    return y >= 1900 && y <= 9999 && m >= 1 && m <= 12 && d >= 1 && d <= s_month_days(y, m);
}

int od_day_parse(const char *s, int32_t *day)
{
    int y, m, d;
    if (!s || strlen(s) != 10 || s[4] != '-' || s[7] != '-' || s_digits(s, 4, &y) != 0 ||
        s_digits(s + 5, 2, &m) != 0 || s_digits(s + 8, 2, &d) != 0 || !s_ymd_valid(y, m, d))
        return -1;
    *day = od_day_from_ymd(y, m, d);
    return 0;
}

char *od_day_format(int32_t day, char *buf, size_t len)
{
    int y, m, d;
    od_day_to_ymd(day, &y, &m, &d);
    snprintf(buf, len, "%04d-%02d-%02d", y, m, d);
    return buf;
}

/* A strict decimal integer in [lo, hi] spanning the whole of [s, e). */
static int s_int(const char *s, const char *e, int lo, int hi, int *out)
{
    const char *p = s;
    int neg = 0;
    if (p < e && (*p == '+' || *p == '-'))
        neg = *p++ == '-';
    if (p == e || e - p > 6)
        return -1;
    int v = 0;
    for (; p < e; p++) {
        if (!isdigit((unsigned char)*p))
            return -1;
        v = v * 10 + (*p - '0');
    }
    v = neg ? -v : v;
    if (v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

static int s_fail(const char **part, const char **why, const char *p, const char *w)
{
    *part = p;
    *why = w;
    return -1;
}

/* BYDAY=MO,TU,1MO,-1FR into r. */
static int s_byday(const char *s, const char *e, od_rrule_t *r)
{
    const char *p = s;
    while (p <= e) {
        const char *c = memchr(p, ',', (size_t)(e - p));
        const char *end = c ? c : e;
        if (end - p < 2 || r->nbyday >= OD_RRULE_MAX_BYDAY)
            return -1;
        int wd = -1;
        for (int i = 0; i < 7; i++)
            if (strncmp(end - 2, s_wd[i], 2) == 0)
                wd = i;
        if (wd < 0)
            return -1;
        int n = 0;
        if (end - 2 > p && (s_int(p, end - 2, -5, 5, &n) != 0 || n == 0))
            return -1;
        r->byday_wd[r->nbyday] = (int8_t)wd;
        r->byday_n[r->nbyday++] = (int8_t)n;
        if (!c)
            break;
        p = c + 1;
    }
    return 0;
}

static int s_monthdays(const char *s, const char *e, od_rrule_t *r)
{
    const char *p = s;
    while (p <= e) {
        const char *c = memchr(p, ',', (size_t)(e - p));
        const char *end = c ? c : e;
        int v;
        if (r->nmonthday >= OD_RRULE_MAX_MONTHDAY || s_int(p, end, -31, 31, &v) != 0 || v == 0)
            return -1;
        r->monthday[r->nmonthday++] = (int8_t)v;
        if (!c)
            break;
        p = c + 1;
    }
    return 0;
}

/* UNTIL: YYYYMMDD, or YYYYMMDDTHHMMSS (local) or ...Z (UTC, whose local
 * date in UTC+8 counts). */
static int s_until(const char *s, const char *e, int32_t *out)
{
    size_t n = (size_t)(e - s);
    int y, m, d, hh = 0, mi = 0, ss = 0;
    if (n != 8 && n != 15 && n != 16)
        return -1;
    if (s_digits(s, 4, &y) || s_digits(s + 4, 2, &m) || s_digits(s + 6, 2, &d) ||
        !s_ymd_valid(y, m, d))
        return -1;
    int32_t day = od_day_from_ymd(y, m, d);
    if (n > 8) {
        if (s[8] != 'T' || s_digits(s + 9, 2, &hh) || s_digits(s + 11, 2, &mi) ||
            s_digits(s + 13, 2, &ss) || hh > 23 || mi > 59 || ss > 59)
            return -1;
        if (n == 16) {
            if (s[15] != 'Z')
                return -1;
            if (hh + 8 >= 24)   /* UTC+8, no DST */
                day++;
        }
    }
    *out = day;
    return 0;
}

int od_rrule_parse(const char *s, od_rrule_t *r, const char **part, const char **why)
{
    const char *dp, *dw;
    if (!part)
        part = &dp;
    if (!why)
        why = &dw;
    memset(r, 0, sizeof *r);
    r->interval = 1;
    if (!s || !*s)
        return s_fail(part, why, "rrule", "rrule is empty");
    if (strlen(s) > 512)
        return s_fail(part, why, "rrule", "rrule is longer than 512 characters");
    if (strncmp(s, "RRULE:", 6) == 0)
        s += 6;
    unsigned seen = 0;
    const char *p = s;
    for (;;) {
        const char *semi = strchr(p, ';');
        const char *end = semi ? semi : p + strlen(p);
        const char *eq = memchr(p, '=', (size_t)(end - p));
        if (end == p && !semi)
            break;   /* a trailing ';' */
        if (!eq || eq == p)
            return s_fail(part, why, "rrule", "each part must be NAME=VALUE, separated by ';'");
        size_t klen = (size_t)(eq - p);
        const char *v = eq + 1;
        static const char *const names[] = { "FREQ", "INTERVAL", "BYDAY", "BYMONTHDAY", "COUNT",
                                             "UNTIL", NULL };
        int k = -1;
        for (int i = 0; names[i]; i++)
            if (strlen(names[i]) == klen && strncmp(p, names[i], klen) == 0)
                k = i;
        if (k < 0) {
            /* Name the refused part itself: the static list of the ones
             * RFC 5545 defines, so the message never echoes input. */
            static const char *const other[] = { "BYSETPOS", "BYHOUR", "BYMINUTE", "BYSECOND",
                "BYWEEKNO", "BYYEARDAY", "BYMONTH", "WKST", "RDATE", "EXDATE", NULL };
            for (int i = 0; other[i]; i++)
                if (strlen(other[i]) == klen && strncmp(p, other[i], klen) == 0)
                    return s_fail(part, why, other[i], "this part of RFC 5545 is not supported");
            return s_fail(part, why, "rrule", "unknown part");
        }
        if (seen & (1u << k))
            return s_fail(part, why, names[k], "this part is given twice");
        seen |= 1u << k;
        if (v == end)
            return s_fail(part, why, names[k], "the value is empty");
        switch (k) {
        case 0:
            if ((size_t)(end - v) == 5 && strncmp(v, "DAILY", 5) == 0)
                r->freq = OD_FREQ_DAILY;
            else if ((size_t)(end - v) == 6 && strncmp(v, "WEEKLY", 6) == 0)
                r->freq = OD_FREQ_WEEKLY;
            else if ((size_t)(end - v) == 7 && strncmp(v, "MONTHLY", 7) == 0)
                r->freq = OD_FREQ_MONTHLY;
            else
                return s_fail(part, why, "FREQ", "FREQ must be DAILY, WEEKLY or MONTHLY");
            break;
        case 1:
            if (s_int(v, end, 1, OD_RRULE_MAX_INTERVAL, &r->interval) != 0)
                return s_fail(part, why, "INTERVAL", "INTERVAL must be an integer 1..1000");
            break;
        case 2:
            if (s_byday(v, end, r) != 0)
                return s_fail(part, why, "BYDAY",
                              "BYDAY must list MO..SU, with MONTHLY optionally an ordinal "
                              "1..5 or -5..-1 (1MO, -1FR)");
            break;
        case 3:
            if (s_monthdays(v, end, r) != 0)
                return s_fail(part, why, "BYMONTHDAY",
                              "BYMONTHDAY must list days 1..31 or -31..-1");
            break;
        case 4:
            if (s_int(v, end, 1, OD_RRULE_MAX_COUNT, &r->count) != 0)
                return s_fail(part, why, "COUNT", "COUNT must be an integer 1..10000");
            break;
        case 5:
            if (s_until(v, end, &r->until) != 0)
                return s_fail(part, why, "UNTIL",
                              "UNTIL must be a date YYYYMMDD or YYYYMMDDTHHMMSS[Z]");
            r->has_until = 1;
            break;
        }
        if (!semi)
            break;
        p = semi + 1;
    }
    if (!r->freq)
        return s_fail(part, why, "FREQ", "FREQ is required");
    if (r->count && r->has_until)
        return s_fail(part, why, "COUNT", "COUNT and UNTIL must not both be given");
    for (int i = 0; i < r->nbyday; i++)
        if (r->byday_n[i] && r->freq != OD_FREQ_MONTHLY)
            return s_fail(part, why, "BYDAY", "an ordinal BYDAY (1MO, -1FR) needs FREQ=MONTHLY");
    if (r->nmonthday && r->freq == OD_FREQ_WEEKLY)
        return s_fail(part, why, "BYMONTHDAY", "BYMONTHDAY is not allowed with FREQ=WEEKLY");
    return 0;
}

/* Does BYDAY entry i select day (y, m, d, weekday wd)? */
static int s_byday_hit(const od_rrule_t *r, int i, int y, int m, int d, int wd)
{
    if (r->byday_wd[i] != wd)
        return 0;
    int n = r->byday_n[i];
    if (n == 0)
        return 1;
    if (n > 0)
        return (d - 1) / 7 + 1 == n;
    return (s_month_days(y, m) - d) / 7 + 1 == -n;
}

/* Does the rule (without COUNT/UNTIL) select day? */
static int s_match(const od_rrule_t *r, int32_t dtstart, int32_t day)
{
    int y, m, d, y0, m0, d0;
    od_day_to_ymd(day, &y, &m, &d);
    int wd = od_day_weekday(day);
    switch (r->freq) {
    case OD_FREQ_DAILY:
        if ((day - dtstart) % r->interval != 0)
            return 0;
        break;
    case OD_FREQ_WEEKLY: {
        int32_t monday0 = dtstart - od_day_weekday(dtstart);
        if (((day - monday0) / 7) % r->interval != 0)
            return 0;
        if (r->nbyday == 0)
            return wd == od_day_weekday(dtstart);
        break;
    }
    case OD_FREQ_MONTHLY:
        od_day_to_ymd(dtstart, &y0, &m0, &d0);
        if (((y * 12 + m) - (y0 * 12 + m0)) % r->interval != 0)
            return 0;
        /* Neither list: the day of the month of dtstart (a month without
         * it, e.g. the 31st, has no occurrence: RFC 5545 3.3.10). */
        if (r->nbyday == 0 && r->nmonthday == 0)
            return d == d0;
        break;
    }
    if (r->nbyday) {
        int hit = 0;
        for (int i = 0; i < r->nbyday && !hit; i++)
            hit = s_byday_hit(r, i, y, m, d, wd);
        if (!hit)
            return 0;
    }
    if (r->nmonthday) {
        int hit = 0, len = s_month_days(y, m);
        for (int i = 0; i < r->nmonthday && !hit; i++) {
            int md = r->monthday[i];
            hit = md > 0 ? md == d : len + 1 + md == d;
        }
        if (!hit)
            return 0;
    }
    return 1;
}

int od_rrule_expand(const od_rrule_t *r, int32_t dtstart, int32_t from, int32_t to,
                    int32_t *out, int max)
{
    int n = 0, seen = 0;
    if (r->has_until && r->until < to)
        to = r->until;
    /* Without COUNT nothing before from matters: start there. */
    int32_t day = r->count ? dtstart : (from > dtstart ? from : dtstart);
    for (; day <= to && n < max; day++) {
        if (!s_match(r, dtstart, day))
            continue;
        if (r->count && ++seen > r->count)
            break;
        if (day >= from)
            out[n++] = day;
    }
    return n;
}
