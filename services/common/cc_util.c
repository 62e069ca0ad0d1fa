/* cc_util: ids, clocks, time text, geography. See cc_util.h.
 *
 * Civil-date arithmetic is done by hand (days_from_civil / civil_from_days,
 * H. Hinnant's algorithms) rather than with mktime/localtime, so results never
 * depend on the TZ variable or the tzdata installed: Asia/Shanghai has been a
 * fixed UTC+8 without DST since 1991. */
#include "cc_util.h"
#include "cc_log.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>
#include <sodium.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#define US_PER_S   CC_US_PER_S
#define US_PER_DAY CC_US_PER_DAY

/* Fill buf with n random bytes; 0 on success. */
static int
s_random(unsigned char *buf, size_t n)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = getrandom(buf + got, n - got, 0);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        got += (size_t) r;
    }
    if (got == n)
        return 0;
    /* Kernels before 3.17 lack getrandom(2). */
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    got = 0;
    while (got < n) {
        ssize_t r = read(fd, buf + got, n - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        got += (size_t) r;
    }
    close(fd);
    return got == n ? 0 : -1;
}

void
cc_uuid(char out[CC_UUID_LEN])
{
    unsigned char b[16];
    /* Without entropy every id could collide: an idempotency key that
     * repeats would silently merge two orders. Stop instead. */
    if (s_random(b, sizeof b) != 0) {
        fputs("cc_uuid: no random source\n", stderr);
        abort();
    }
    b[6] = (unsigned char) ((b[6] & 0x0F) | 0x40);     /* version 4 */
    b[8] = (unsigned char) ((b[8] & 0x3F) | 0x80);     /* RFC 4122 variant */
    /* By hand: snprintf's 16 conversions were several thousand
     * instructions per id, and every request and event takes some. */
    static const char hex[] = "0123456789abcdef";
    char *o = out;
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            *o++ = '-';
        *o++ = hex[b[i] >> 4];
        *o++ = hex[b[i] & 0x0F];
    }
    *o = '\0';
}

int
cc_uuid_valid(const char *s)
{
    if (!s)
        return 0;
    for (int i = 0; i < 36; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (s[i] != '-')
                return 0;
        } else if (!isxdigit((unsigned char) s[i]))
            return 0;       /* also stops at a NUL before 36 */
    }
    return s[36] == '\0';
}

int
cc_uuid_norm(const char *s, char out[CC_UUID_LEN])
{
    if (!cc_uuid_valid(s)) {
        out[0] = '\0';
        return -1;
    }
    for (int i = 0; i < 36; i++)
        out[i] = (char) tolower((unsigned char) s[i]);
    out[36] = '\0';
    return 0;
}

int
cc_idem_key_valid(const char *key)
{
    size_t n = 0;
    for (; key && key[n]; n++)
        if (n >= CC_IDEM_KEY_MAX || key[n] < 0x21 || key[n] > 0x7e)
            return 0;
    return n > 0;
}

int
cc_grow(void *arr_p, size_t *cap, size_t n, size_t elem, size_t first)
{
    if (n <= *cap)
        return 0;
    if (elem == 0 || n > SIZE_MAX / elem / 2)
        return -1;   /* the doubled size would overflow */
    size_t c = *cap ? *cap : first;
    while (c < n)
        c *= 2;
    void **arr = arr_p;
    void *a = realloc(*arr, c * elem);
    if (!a)
        return -1;
    *arr = a;
    *cap = c;
    return 0;
}

int
cc_sodium_init(void)
{
    /* 0 first time, 1 already done, -1 failure (sodium_init(3)). */
    return sodium_init() < 0 ? -1 : 0;
}

void *
cc_xcalloc(size_t size, const char *what)
{
    void *p = calloc(1, size);
    if (!p) {
        cc_error("out_of_memory", "what", what);
        exit(1);
    }
    return p;
}

int64_t
cc_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t) ts.tv_sec * US_PER_S + ts.tv_nsec / CC_NS_PER_US;
}

int64_t
cc_mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t) ts.tv_sec * US_PER_S + ts.tv_nsec / CC_NS_PER_US;
}

/* Floor division and modulo (C rounds toward zero). */
static int64_t
s_floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

static int64_t
s_floor_mod(int64_t a, int64_t b)
{
    int64_t r = a % b;
    return (r != 0 && ((r < 0) != (b < 0))) ? r + b : r;
}

/* Days since 1970-01-01 of a proleptic Gregorian date. */
static int64_t
s_days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = s_floor_div(y, 400);
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static void
s_civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
    z += 719468;
    int64_t era = s_floor_div(z, 146097);
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *d = (int) (doy - (153 * mp + 2) / 5 + 1);
    *m = (int) (mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

/* Local (UTC+8) day number and microseconds into that day, without the
 * signed overflow that us + offset would risk near INT64_MAX. */
static void
s_local_split(int64_t us, int64_t *days, int64_t *rest)
{
    *days = s_floor_div(us, US_PER_DAY);
    *rest = s_floor_mod(us, US_PER_DAY) + (int64_t) CC_TZ_OFFSET_S * US_PER_S;
    if (*rest >= US_PER_DAY) {
        (*days)++;
        *rest -= US_PER_DAY;
    }
}

static int
s_days_in_month(int64_t y, int m)
{
    static const int days[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
    if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
        return 29;
    return days[m - 1];
}

/* Parse exactly n digits at *p and advance; -1 if any is not a digit. */
static int
s_digits(const char **p, int n)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        char c = (*p)[i];
        if (c < '0' || c > '9')
            return -1;
        v = v * 10 + (c - '0');
    }
    *p += n;
    return v;
}

/* "YYYY-MM-DD" at *p, validated; advances *p. */
static int
s_parse_date(const char **p, int64_t *days)
{
    int y = s_digits(p, 4);
    if (y < 0 || **p != '-')
        return -1;
    (*p)++;
    int m = s_digits(p, 2);
    if (m < 1 || m > 12 || **p != '-')
        return -1;
    (*p)++;
    int d = s_digits(p, 2);
    if (d < 1 || d > s_days_in_month(y, m))
        return -1;
    *days = s_days_from_civil(y, m, d);
    return 0;
}

char *
cc_time_format(int64_t us, char *buf, size_t len)
{
    if (!buf || len == 0)
        return buf;
    int64_t days, rest;
    s_local_split(us, &days, &rest);
    int64_t y;
    int m, d;
    s_civil_from_days(days, &y, &m, &d);
    int64_t secs = rest / US_PER_S;
    int frac = (int) (rest % US_PER_S);
    char fracbuf[16] = "";
    if (frac)
        snprintf(fracbuf, sizeof fracbuf, ".%06d", frac);
    snprintf(buf, len, "%04lld-%02d-%02dT%02d:%02d:%02d%s+08:00", (long long) y, m, d,
             (int) (secs / CC_S_PER_HOUR), (int) (secs / CC_S_PER_MIN % 60), (int) (secs % 60),
             fracbuf);
    return buf;
}

int
cc_time_parse(const char *s, int64_t *us)
{
    if (!s)
        return -1;
    const char *p = s;
    int64_t days;
    if (s_parse_date(&p, &days) != 0)
        return -1;
    if (*p != 'T' && *p != 't' && *p != ' ')
        return -1;
    p++;
    int hh = s_digits(&p, 2);
    if (hh < 0 || hh > 23 || *p != ':')
        return -1;
    p++;
    int mm = s_digits(&p, 2);
    if (mm < 0 || mm > 59)
        return -1;
    int ss = 0;
    int64_t frac_us = 0;
    if (*p == ':') {
        p++;
        ss = s_digits(&p, 2);
        /* Leap second 60 is refused: nothing here needs it. */
        if (ss < 0 || ss > 59)
            return -1;
        if (*p == '.' || *p == ',') {
            p++;
            int n = 0;
            int64_t scale = 100000;
            while (*p >= '0' && *p <= '9') {
                if (n < 6) {
                    frac_us += (*p - '0') * scale;   /* finer digits truncated */
                    scale /= 10;
                }
                n++;
                p++;
            }
            if (n == 0 || n > 9)
                return -1;
        }
    }
    int64_t offset_s = CC_TZ_OFFSET_S;
    if (*p == 'Z' || *p == 'z') {
        offset_s = 0;
        p++;
    } else if (*p == '+' || *p == '-') {
        int sign = *p == '-' ? -1 : 1;
        p++;
        int oh = s_digits(&p, 2);
        if (oh < 0 || oh > 23 || *p != ':')
            return -1;
        p++;
        int om = s_digits(&p, 2);
        if (om < 0 || om > 59)
            return -1;
        offset_s = sign * (oh * CC_S_PER_HOUR + om * CC_S_PER_MIN);
    }
    if (*p != '\0')
        return -1;
    int64_t secs = days * CC_S_PER_DAY + hh * CC_S_PER_HOUR + mm * CC_S_PER_MIN + ss - offset_s;
    if (us)
        *us = secs * US_PER_S + frac_us;
    return 0;
}

char *
cc_date_local(int64_t us, char *buf, size_t len)
{
    if (!buf || len == 0)
        return buf;
    int64_t days, rest;
    s_local_split(us, &days, &rest);
    int64_t y;
    int m, d;
    s_civil_from_days(days, &y, &m, &d);
    snprintf(buf, len, "%04lld-%02d-%02d", (long long) y, m, d);
    return buf;
}

int
cc_minute_of_day_local(int64_t us)
{
    int64_t days, rest;
    s_local_split(us, &days, &rest);
    return (int) (rest / (60 * US_PER_S));
}

int
cc_hhmm_parse(const char *s)
{
    if (!s)
        return -1;
    const char *p = s;
    int hh = s_digits(&p, 2);
    if (hh < 0 || hh > 23 || *p != ':')
        return -1;
    p++;
    int mm = s_digits(&p, 2);
    if (mm < 0 || mm > 59 || *p != '\0')
        return -1;
    return hh * 60 + mm;
}

int
cc_date_parse(const char *s, int64_t *us)
{
    if (!s)
        return -1;
    const char *p = s;
    int64_t days;
    if (s_parse_date(&p, &days) != 0 || *p != '\0')
        return -1;
    if (us)
        *us = (days * CC_S_PER_DAY - CC_TZ_OFFSET_S) * US_PER_S;
    return 0;
}

static double
s_rad(double deg)
{
    return deg * (M_PI / 180.0);
}

double
cc_geo_distance_m(double lat1, double lon1, double lat2, double lon2)
{
    /* Haversine: well conditioned for the short distances of one town. */
    double dlat = s_rad(lat2 - lat1);
    double dlon = s_rad(lon2 - lon1);
    double a = sin(dlat / 2) * sin(dlat / 2)
             + cos(s_rad(lat1)) * cos(s_rad(lat2)) * sin(dlon / 2) * sin(dlon / 2);
    if (a > 1.0)
        a = 1.0;    /* rounding near antipodes */
    return 2.0 * CC_GEO_EARTH_RADIUS_M * asin(sqrt(a));
}

int
cc_geo_travel_s(double lat1, double lon1, double lat2, double lon2)
{
    double d = cc_geo_distance_m(lat1, lon1, lat2, lon2);
    /* Coordinates come from requests: converting NaN to int is undefined. */
    if (!isfinite(d))
        return -1;
    return (int) lround(d * CC_GEO_DETOUR_FACTOR / CC_GEO_SPEED_M_PER_S);
}

char *cc_hex(const uint8_t *b, size_t n)
{
    static const char d[] = "0123456789abcdef";
    char *h = malloc(2 * n + 1);
    if (!h)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        h[2 * i] = d[b[i] >> 4];
        h[2 * i + 1] = d[b[i] & 15];
    }
    h[2 * n] = '\0';
    return h;
}
