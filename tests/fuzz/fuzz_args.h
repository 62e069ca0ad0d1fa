/* fuzz_args.h: checks on the arguments a handler would send with its SQL
 * call (cc_args_t, cc_stmt.h), which the targets cannot run: every
 * parameter given (cc_db_call asserts it), uuid parameters and the text
 * ones that name our ids in canonical lower-case UUID text, text valid
 * UTF-8 (PostgreSQL refuses anything else, and a refused effect stops the
 * consumer at that event for ever) and within its cc_limits.h length,
 * integers that read back, payloads within an event's size cap. A breach
 * aborts: the fuzzer reports it as a crash. */
#ifndef FUZZ_ARGS_H
#define FUZZ_ARGS_H
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cc_event.h"
#include "cc_limits.h"
#include "cc_stmt.h"
#include "cc_util.h"

static inline int fz_uuid_lower(const char *s)
{
    char norm[CC_UUID_LEN];   /* canonical: what cc_uuid_norm makes of it */
    return cc_uuid_norm(s, norm) == 0 && strcmp(norm, s) == 0;
}

static inline int fz_in(const char *name, const char *const *list)
{
    for (; list && *list; list++)
        if (strcmp(name, *list) == 0)
            return 1;
    return 0;
}

static inline void fz_args_fail(const cc_args_t *a, int i, const char *why)
{
    fprintf(stderr, "fuzz_args: statement %s parameter %s: %s\n", a->st->name,
            a->st->params[i].name, why);
    abort();
}

/* Text parameters' longest value, by name (cc_limits.h); others CC_NOTES_MAX. */
static inline size_t fz_text_max(const char *name)
{
    static const char *const words[] = { "producer", "to", "status", "state", "event", "service",
                                         "ability", "slot", "out_type", "date", "household",
                                         NULL };
    static const char *const texts[] = { "reason", "diet", NULL };
    if (fz_in(name, words))
        return CC_WORD_MAX;
    if (fz_in(name, texts))
        return CC_TEXT_MAX;
    if (strcmp(name, "provider") == 0)
        return CC_PROVIDER_ID_MAX;
    return CC_NOTES_MAX;
}

/* ids: text parameters (NULL-terminated names) that carry one of our ids. */
static inline void fz_args_check(const cc_args_t *a, const char *const *ids)
{
    for (int i = 0; i < a->n; i++) {
        const cc_sparam_t *p = &a->st->params[i];
        if (!(a->set & 1u << i))
            fz_args_fail(a, i, "not given");
        const char *v = a->values[i];
        if (!v)
            continue;   /* SQL NULL */
        switch (p->type) {
        case CC_T_UUID:
            if (!fz_uuid_lower(v))
                fz_args_fail(a, i, "not a lower-case UUID");
            break;
        case CC_T_TEXT:
            if (!cc_utf8_ok((const unsigned char *) v))
                fz_args_fail(a, i, "not UTF-8");
            if (strlen(v) > fz_text_max(p->name))
                fz_args_fail(a, i, "too long");
            if (fz_in(p->name, ids) && v[0] && !fz_uuid_lower(v))
                fz_args_fail(a, i, "id not a lower-case UUID");
            break;
        case CC_T_INT2:
        case CC_T_INT4:
        case CC_T_INT8: {
            char *end;
            long long x = strtoll(v, &end, 10);
            if (*end || (p->type == CC_T_INT4 && (x < INT32_MIN || x > INT32_MAX))
                || (p->type == CC_T_INT2 && (x < INT16_MIN || x > INT16_MAX)))
                fz_args_fail(a, i, "integer out of its type");
            if (strcmp(p->name, "district") == 0 && (x < CC_DISTRICT_MIN || x > CC_DISTRICT_MAX))
                fz_args_fail(a, i, "district out of range");
            break;
        }
        case CC_T_BYTEA:
            if (a->lengths[i] <= 0 || a->lengths[i] > CC_EVENT_MAX_PAYLOAD)
                fz_args_fail(a, i, "payload size");
            break;
        default:
            break;
        }
    }
}

#endif
