/* fuzz.h: what every libFuzzer target here shares (docs/FUZZING.md). */
#ifndef FUZZ_H
#define FUZZ_H
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* One fixed "now" (2025-06-01T00:00:00Z) so that an input means the same
 * on every run: a regression input must keep failing where it failed. */
#define FZ_NOW_US 1748736000000000LL

/* A NUL-terminated copy of the input (the caller frees it). */
static inline char *fz_str(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    if (!s)
        abort();
    if (size)
        memcpy(s, data, size);
    s[size] = '\0';
    return s;
}

/* A request body as cc_http_json_body reads it: a JSON object, duplicate
 * keys refused. NULL when the route guard would have answered 400. */
static inline json_t *fz_json_body(const uint8_t *data, size_t size)
{
    json_error_t jerr;
    json_t *o = json_loadb((const char *) data, size, JSON_REJECT_DUPLICATES, &jerr);
    if (o && !json_is_object(o)) {
        json_decref(o);
        return NULL;
    }
    return o;
}

/* A string member of o, or NULL. */
static inline const char *fz_json_string(json_t *o, const char *name)
{
    return json_string_value(json_object_get(o, name));
}

#endif
