/* cc_log: JSON-lines logs. See cc_log.h.
 *
 * A line is built in memory and written with one fwrite, so lines from the
 * solver thread and the loop never interleave (stdio locks per call). */
#include "cc_log.h"
#include "cc_time.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/* Keys whose values are personal data (STYLE.md §7 "Logs"). */
static const char *const s_private_keys[] = {
    "name", "phone", "id_number", "address", "lat", "lon", "card_no", "payload",
    "sql", "params", "health", "ability_level", "birth_date", "body", "notes", "diet",
    /* secrets and login names (od_auth): never logged, whatever a caller does */
    "password", "token", "username", "hash",
    NULL
};

static char s_daemon[64] = "-";             /* written in every line */
static cc_log_level_t s_min_level = CC_LOG_INFO;
static FILE *s_stream;                      /* NULL means stderr */

static const char *const s_level_names[] = { "debug", "info", "warn", "error" };

/* A growable line buffer that starts on the stack. */
typedef struct {
    char *data;         /* stack or heap */
    size_t len;         /* bytes used */
    size_t cap;         /* bytes available */
    int heap;           /* 1 when data is malloc'd */
    int failed;         /* an allocation failed: drop the line */
} s_buf_t;

static void
s_reserve(s_buf_t *b, size_t more)
{
    if (b->failed || b->len + more <= b->cap)
        return;
    size_t cap = b->cap * 2;
    while (cap < b->len + more)
        cap *= 2;
    char *data = b->heap ? realloc(b->data, cap) : malloc(cap);
    if (!data) {
        b->failed = 1;
        return;
    }
    if (!b->heap)
        memcpy(data, b->data, b->len);
    b->data = data;
    b->cap = cap;
    b->heap = 1;
}

static void
s_put(s_buf_t *b, const char *s, size_t n)
{
    s_reserve(b, n);
    if (b->failed)
        return;
    memcpy(b->data + b->len, s, n);
    b->len += n;
}

static void
s_puts(s_buf_t *b, const char *s)
{
    s_put(b, s, strlen(s));
}

/* Length of the valid UTF-8 sequence at s (1..4), or 0 if invalid. */
static size_t
s_utf8_len(const unsigned char *s)
{
    if (s[0] < 0x80)
        return 1;
    if (s[0] >= 0xC2 && s[0] <= 0xDF)
        return (s[1] & 0xC0) == 0x80 ? 2 : 0;
    if (s[0] >= 0xE0 && s[0] <= 0xEF) {
        if ((s[1] & 0xC0) != 0x80 || (s[2] & 0xC0) != 0x80)
            return 0;
        if (s[0] == 0xE0 && s[1] < 0xA0)
            return 0;                       /* overlong */
        if (s[0] == 0xED && s[1] >= 0xA0)
            return 0;                       /* surrogate */
        return 3;
    }
    if (s[0] >= 0xF0 && s[0] <= 0xF4) {
        if ((s[1] & 0xC0) != 0x80 || (s[2] & 0xC0) != 0x80 || (s[3] & 0xC0) != 0x80)
            return 0;
        if (s[0] == 0xF0 && s[1] < 0x90)
            return 0;                       /* overlong */
        if (s[0] == 0xF4 && s[1] >= 0x90)
            return 0;                       /* beyond U+10FFFF */
        return 4;
    }
    return 0;
}

/* Append s as a JSON string. Invalid UTF-8 becomes U+FFFD so that every
 * line stays valid JSON whatever a caller passes (e.g. a peer's bytes). */
static void
s_put_json_str(s_buf_t *b, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = (const unsigned char *) s;
    s_put(b, "\"", 1);
    while (*p) {
        if (*p == '"' || *p == '\\') {
            char esc[2] = { '\\', (char) *p };
            s_put(b, esc, 2);
            p++;
        } else if (*p < 0x20 || *p == 0x7F) {
            const char *short_esc = NULL;
            switch (*p) {
            case '\n': short_esc = "\\n"; break;
            case '\r': short_esc = "\\r"; break;
            case '\t': short_esc = "\\t"; break;
            default: break;
            }
            if (short_esc)
                s_puts(b, short_esc);
            else {
                char esc[6] = { '\\', 'u', '0', '0', hex[*p >> 4], hex[*p & 0xF] };
                s_put(b, esc, 6);
            }
            p++;
        } else {
            size_t n = s_utf8_len(p);
            if (n == 0) {
                s_puts(b, "\\ufffd");
                p++;
            } else {
                s_put(b, (const char *) p, n);
                p += n;
            }
        }
    }
    s_put(b, "\"", 1);
}

static void
s_put_ts(s_buf_t *b)
{
    struct timespec ts;
    struct tm tm;
    char text[40];
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    size_t n = strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(text + n, sizeof text - n, ".%06ldZ", (long) (ts.tv_nsec / CC_NS_PER_US));
    s_put_json_str(b, text);
}

void
cc_log_init(const char *daemon, const char *level_name)
{
    snprintf(s_daemon, sizeof s_daemon, "%s", daemon ? daemon : "-");
    s_min_level = CC_LOG_INFO;
    for (int i = CC_LOG_DEBUG; i <= CC_LOG_ERROR; i++)
        if (level_name && strcasecmp(level_name, s_level_names[i]) == 0)
            s_min_level = (cc_log_level_t) i;
}

void
cc_log_set_stream(FILE *stream)
{
    s_stream = stream;
}

int
cc_log_enabled(cc_log_level_t level)
{
    return level >= s_min_level && level <= CC_LOG_ERROR;
}

int
cc_log_key_is_private(const char *key)
{
    if (!key)
        return 0;
    size_t klen = strlen(key);
    for (const char *const *d = s_private_keys; *d; d++) {
        size_t dlen = strlen(*d);
        if (klen == dlen && strcasecmp(key, *d) == 0)
            return 1;
        if (klen > dlen && key[klen - dlen - 1] == '_'
            && strcasecmp(key + klen - dlen, *d) == 0)
            return 1;
    }
    return 0;
}

void
cc_log(cc_log_level_t level, const char *event, ...)
{
    if (!cc_log_enabled(level))
        return;
    char stack[1024];
    s_buf_t b = { stack, 0, sizeof stack, 0, 0 };

    s_puts(&b, "{\"ts\":");
    s_put_ts(&b);
    s_puts(&b, ",\"level\":");
    s_put_json_str(&b, s_level_names[level]);
    s_puts(&b, ",\"daemon\":");
    s_put_json_str(&b, s_daemon);
    s_puts(&b, ",\"event\":");
    s_put_json_str(&b, event ? event : "");

    va_list ap;
    va_start(ap, event);
    const char *key;
    while ((key = va_arg(ap, const char *)) != NULL) {
        const char *value = va_arg(ap, const char *);
        s_put(&b, ",", 1);
        s_put_json_str(&b, key);
        s_put(&b, ":", 1);
        if (cc_log_key_is_private(key))
            s_puts(&b, "\"***\"");
        else if (value)
            s_put_json_str(&b, value);
        else
            s_puts(&b, "null");
    }
    va_end(ap);
    s_put(&b, "}\n", 2);

    if (!b.failed) {
        FILE *out = s_stream ? s_stream : stderr;
        fwrite(b.data, 1, b.len, out);
        fflush(out);
    }
    if (b.heap)
        free(b.data);
}
