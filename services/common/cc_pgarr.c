/* cc_pgarr: PostgreSQL array literals; see cc_pgarr.h. */
#include "cc_pgarr.h"

#include <stdlib.h>
#include <string.h>

#include "cc_log.h"

/* Room for n more bytes and the closing brace and NUL. */
static char *
s_room(cc_pgarr_t *a, size_t n)
{
    if (a->len + n + 2 > a->cap) {
        size_t cap = a->cap ? a->cap : 256;
        while (a->len + n + 2 > cap)
            cap *= 2;
        char *p = realloc(a->buf, cap);
        if (!p) {
            cc_error("out_of_memory", "what", "pgarr");
            exit(1);
        }
        a->buf = p;
        a->cap = cap;
    }
    return a->buf + a->len;
}

void
cc_pgarr_add(cc_pgarr_t *a, const char *v)
{
    size_t n = v ? strlen(v) : 0;
    /* separator, quotes, every byte escaped at worst; or NULL */
    char *o = s_room(a, 1 + 2 + 2 * n + 4), *start = o;
    *o++ = a->n ? ',' : '{';
    if (!v) {
        memcpy(o, "NULL", 4);
        o += 4;
    } else {
        *o++ = '"';
        for (size_t i = 0; i < n; i++) {
            if (v[i] == '"' || v[i] == '\\')
                *o++ = '\\';
            *o++ = v[i];
        }
        *o++ = '"';
    }
    a->len += (size_t) (o - start);
    a->n++;
}

char *
cc_pgarr_take(cc_pgarr_t *a)
{
    if (!a->n) {
        cc_pgarr_free(a);
        char *e = strdup("{}");
        if (!e) {
            cc_error("out_of_memory", "what", "pgarr");
            exit(1);
        }
        return e;
    }
    s_room(a, 1)[0] = '}';
    a->buf[a->len + 1] = '\0';
    char *out = a->buf;
    *a = (cc_pgarr_t) { 0 };
    return out;
}

void
cc_pgarr_free(cc_pgarr_t *a)
{
    free(a->buf);
    *a = (cc_pgarr_t) { 0 };
}
