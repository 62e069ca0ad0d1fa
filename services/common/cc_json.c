/* cc_json: typed field readers. See cc_json.h.
 *
 * Every reader fails with status 400 and one of the codes missing_field,
 * wrong_type, invalid_value, unknown_field; err->field names the field. */
#include "cc_json.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cc_util.h"

/* Copy src into dst[size] cut at a UTF-8 character boundary, so that a long
 * client-supplied field name never leaves half a character (jansson would
 * refuse the string when the error is rendered). */
static void
s_copy_utf8(char *dst, size_t size, const char *src)
{
    size_t n = strlen(src);
    if (n >= size) {
        n = size - 1;
        while (n > 0 && ((unsigned char) src[n] & 0xC0) == 0x80)
            n--;        /* src[n] would start the cut: drop its lead bytes */
    }
    memcpy(dst, src, n);
    dst[n] = '\0';
}

int
cc_err_set(cc_err_t *err, int status, const char *error, const char *field,
           const char *fmt, ...)
{
    if (!err)
        return -1;
    err->status = status;
    s_copy_utf8(err->error, sizeof err->error, error ? error : "");
    s_copy_utf8(err->field, sizeof err->field, field ? field : "");
    char text[sizeof err->message + 8];
    text[0] = '\0';
    if (fmt) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(text, sizeof text, fmt, ap);
        va_end(ap);
    }
    s_copy_utf8(err->message, sizeof err->message, text);
    return -1;
}

/* Common prologue: 1 when the value is present (in *v), 0 when absent and
 * optional, -1 on error. */
static int
s_get(json_t *o, const char *field, int required, json_t **v, cc_err_t *err)
{
    if (!json_is_object(o))
        return cc_err_set(err, 400, "not_an_object", "", "request body must be a JSON object");
    *v = json_object_get(o, field);
    if (*v == NULL || json_is_null(*v)) {
        if (required)
            return cc_err_set(err, 400, "missing_field", field, "%s is required", field);
        return 0;
    }
    return 1;
}

static int
s_wrong_type(cc_err_t *err, const char *field, const char *want)
{
    return cc_err_set(err, 400, "wrong_type", field, "%s must be %s", field, want);
}

int
cc_json_str(json_t *o, const char *field, int required, size_t maxlen,
            const char **out, cc_err_t *err)
{
    json_t *v;
    int rc = s_get(o, field, required, &v, err);
    if (rc <= 0)
        return rc;
    if (!json_is_string(v))
        return s_wrong_type(err, field, "a string");
    const char *s = json_string_value(v);
    size_t len = json_string_length(v);
    if (strlen(s) != len)
        return cc_err_set(err, 400, "invalid_value", field, "%s contains NUL", field);
    if (maxlen > 0 && len > maxlen)
        return cc_err_set(err, 400, "invalid_value", field,
                          "%s is longer than %zu bytes", field, maxlen);
    if (out)
        *out = s;
    return 0;
}

int
cc_json_uuid(json_t *o, const char *field, int required, char *out, cc_err_t *err)
{
    const char *s = NULL;
    out[0] = '\0';
    if (cc_json_str(o, field, required, 0, &s, err) != 0)
        return -1;
    if (s && cc_uuid_norm(s, out) != 0)
        return cc_err_set(err, 400, "invalid_value", field, "%s must be a UUID", field);
    return 0;
}

int
cc_json_int(json_t *o, const char *field, int required, int64_t min, int64_t max,
            int64_t *out, cc_err_t *err)
{
    json_t *v;
    int rc = s_get(o, field, required, &v, err);
    if (rc <= 0)
        return rc;
    if (!json_is_integer(v))
        return s_wrong_type(err, field, "an integer");
    json_int_t n = json_integer_value(v);
    if (n < min || n > max)
        return cc_err_set(err, 400, "invalid_value", field,
                          "%s must be between %lld and %lld", field,
                          (long long) min, (long long) max);
    if (out)
        *out = n;
    return 0;
}

int
cc_json_num(json_t *o, const char *field, int required, double min, double max,
            double *out, cc_err_t *err)
{
    json_t *v;
    int rc = s_get(o, field, required, &v, err);
    if (rc <= 0)
        return rc;
    if (!json_is_number(v))
        return s_wrong_type(err, field, "a number");
    double d = json_number_value(v);
    if (!isfinite(d) || d < min || d > max)
        return cc_err_set(err, 400, "invalid_value", field,
                          "%s must be between %g and %g", field, min, max);
    if (out)
        *out = d;
    return 0;
}

int
cc_json_bool(json_t *o, const char *field, int required, int *out, cc_err_t *err)
{
    json_t *v;
    int rc = s_get(o, field, required, &v, err);
    if (rc <= 0)
        return rc;
    if (!json_is_boolean(v))
        return s_wrong_type(err, field, "true or false");
    if (out)
        *out = json_is_true(v);
    return 0;
}

int
cc_json_enum(json_t *o, const char *field, int required, const char *const *allowed,
             int *out, cc_err_t *err)
{
    json_t *v;
    int rc = s_get(o, field, required, &v, err);
    if (rc <= 0)
        return rc;
    if (!json_is_string(v))
        return s_wrong_type(err, field, "a string");
    const char *s = json_string_value(v);
    for (int i = 0; allowed && allowed[i]; i++) {
        if (strcmp(s, allowed[i]) == 0) {
            if (out)
                *out = i;
            return 0;
        }
    }
    /* List the choices; cc_err_set truncates a long list. */
    char list[sizeof err->message];
    size_t used = 0;
    list[0] = '\0';
    for (int i = 0; allowed && allowed[i] && used < sizeof list; i++) {
        int n = snprintf(list + used, sizeof list - used, "%s%s", i ? ", " : "", allowed[i]);
        if (n < 0)
            break;
        used += (size_t) n;
    }
    return cc_err_set(err, 400, "invalid_value", field, "%s must be one of: %s", field, list);
}

int
cc_json_time(json_t *o, const char *field, int required, int64_t *out_us, cc_err_t *err)
{
    json_t *v;
    int rc = s_get(o, field, required, &v, err);
    if (rc <= 0)
        return rc;
    if (!json_is_string(v))
        return s_wrong_type(err, field, "an RFC 3339 time string");
    int64_t us;
    if (cc_time_parse(json_string_value(v), &us) != 0)
        return cc_err_set(err, 400, "invalid_value", field,
                          "%s must be an RFC 3339 time, e.g. 2026-11-26T08:30:00+08:00", field);
    /* The absolute range (cc_limits.h) before any arithmetic on it: every
     * time that enters over HTTP comes through here. */
    if (!cc_time_in_range(us))
        return cc_err_set(err, 400, "invalid_value", field,
                          "%s must be between 2000-01-01 and 9999-12-31", field);
    if (out_us)
        *out_us = us;
    return 0;
}

int
cc_json_hhmm(json_t *o, const char *field, int required, int *out_min, cc_err_t *err)
{
    json_t *v;
    int rc = s_get(o, field, required, &v, err);
    if (rc <= 0)
        return rc;
    if (!json_is_string(v))
        return s_wrong_type(err, field, "an \"HH:MM\" string");
    int min = cc_hhmm_parse(json_string_value(v));
    if (min < 0)
        return cc_err_set(err, 400, "invalid_value", field,
                          "%s must be a time of day \"HH:MM\" (00:00..23:59)", field);
    if (out_min)
        *out_min = min;
    return 0;
}

int
cc_json_only(json_t *o, const char *const *known, cc_err_t *err)
{
    if (!json_is_object(o))
        return cc_err_set(err, 400, "not_an_object", "", "request body must be a JSON object");
    const char *key;
    json_t *v;
    json_object_foreach(o, key, v) {
        int found = 0;
        for (int i = 0; known && known[i]; i++) {
            if (strcmp(key, known[i]) == 0) {
                found = 1;
                break;
            }
        }
        if (!found)
            return cc_err_set(err, 400, "unknown_field", key, "unknown field");
    }
    return 0;
}
