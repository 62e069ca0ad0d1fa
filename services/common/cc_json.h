/* cc_json: typed field readers for request bodies (jansson), each filling a
 * cc_err_t that names the offending field, so every 4xx says what was wrong. */
#ifndef CC_JSON_H
#define CC_JSON_H
#include <stdint.h>
#include <stddef.h>
#include <jansson.h>

typedef struct {
    int status;            /* HTTP status to answer with, e.g. 400, 404, 409, 422 */
    char error[40];        /* machine code: missing_field, wrong_type, invalid_value, ... */
    char field[64];        /* offending field, "" if none */
    char message[192];     /* human text, never personal data */
} cc_err_t;

/* Fill err (if not NULL) and return -1, for one-line error returns. */
int cc_err_set(cc_err_t *err, int status, const char *error, const char *field,
               const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* Each reader: field absent (or null) and !required -> 0 and *out untouched;
 * absent and required -> -1 missing_field; wrong JSON type -> -1 wrong_type;
 * out of range / too long / not allowed -> -1 invalid_value; o not an
 * object -> -1 not_an_object. All these errors carry status 400.
 * cc_json_str: maxlen counts bytes, 0 means no limit; *out is borrowed from o.
 * cc_json_int: integers only ("1.0" is wrong_type). cc_json_num: any number. */
int cc_json_str(json_t *o, const char *field, int required, size_t maxlen,
                const char **out, cc_err_t *err);
int cc_json_int(json_t *o, const char *field, int required, int64_t min, int64_t max,
                int64_t *out, cc_err_t *err);
/* An id field: a UUID in either case, copied to out[37] in lower case (the
 * one spelling our stores and maps use). Absent and !required: out = "". */
int cc_json_uuid(json_t *o, const char *field, int required, char *out, cc_err_t *err);
int cc_json_num(json_t *o, const char *field, int required, double min, double max,
                double *out, cc_err_t *err);
int cc_json_bool(json_t *o, const char *field, int required, int *out, cc_err_t *err);
/* allowed is NULL-terminated; *out is the index of the match. */
int cc_json_enum(json_t *o, const char *field, int required, const char *const *allowed,
                 int *out, cc_err_t *err);
/* RFC 3339 time text (see cc_time_parse) -> microseconds; a time outside
 * CC_TIME_MIN_US..CC_TIME_MAX_US (cc_limits.h) is invalid_value. */
int cc_json_time(json_t *o, const char *field, int required, int64_t *out_us, cc_err_t *err);
/* "HH:MM" -> minutes since midnight. */
int cc_json_hhmm(json_t *o, const char *field, int required, int *out_min, cc_err_t *err);
/* Reject fields not in known (NULL-terminated): -1 unknown_field. */
int cc_json_only(json_t *o, const char *const *known, cc_err_t *err);

#endif
