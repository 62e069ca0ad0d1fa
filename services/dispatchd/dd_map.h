/* dd_map: string key -> pointer hash table (open addressing, FNV-1a).
 *
 * Keys are borrowed: the caller keeps each key alive (normally it is a field
 * of the stored object) until the entry is removed. Pure, no I/O. */
#ifndef DD_MAP_H
#define DD_MAP_H
#include <stddef.h>

typedef struct dd_map dd_map_t;

/* NULL when out of memory. */
dd_map_t *dd_map_new(void);
/* Frees the table, not the values. Accepts NULL; nulls *self_p. */
void dd_map_destroy(dd_map_t **self_p);
/* Insert or replace. 0, or -1 when out of memory (map unchanged). */
int dd_map_put(dd_map_t *self, const char *key, void *value);
/* Value or NULL. */
void *dd_map_get(const dd_map_t *self, const char *key);
/* Remove; returns the value that was stored or NULL. */
void *dd_map_del(dd_map_t *self, const char *key);
size_t dd_map_size(const dd_map_t *self);
/* Iterate: *pos starts at 0; returns the next value or NULL at the end.
 * The map must not be changed during an iteration. */
void *dd_map_next(const dd_map_t *self, size_t *pos);

#endif
