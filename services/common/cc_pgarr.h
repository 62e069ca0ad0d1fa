/* cc_pgarr: a PostgreSQL array literal ("{"a","b",NULL}") built element by
 * element, to pass many rows in one statement as one array per column
 * (unnest($1::text[], $2::uuid[], ...)): the runtime's audit rows, orderd's
 * gathered placements. Every element is quoted with its backslashes and
 * double quotes escaped, so any text goes through as it is; NULL is SQL
 * NULL. The element type's input function reads each one on the server
 * (uuid, bigint, bytea as "\x..." hex, ...). Out of memory exits the
 * process (logged): the callers have no way back from a half-built row. */
#ifndef CC_PGARR_H
#define CC_PGARR_H
#include <stddef.h>

typedef struct {
    char *buf;                  /* "{e1,e2" while building; NULL when empty */
    size_t len, cap;
    int n;                      /* elements so far */
} cc_pgarr_t;

/* Append v (NULL: SQL NULL). */
void cc_pgarr_add(cc_pgarr_t *a, const char *v);
/* The literal, malloc'ed (the caller frees it); a is empty again. "{}" for
 * no elements. */
char *cc_pgarr_take(cc_pgarr_t *a);
/* Free what a holds (a builder given up). */
void cc_pgarr_free(cc_pgarr_t *a);

#endif
