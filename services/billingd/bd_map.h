/* bd_map: string-keyed hash map (open addressing, linear probing), the
 * in-memory index of billingd's working set (accounts, cards, holds, subsidy
 * usage). Keys are copied; values are borrowed pointers the caller owns. */
#ifndef BD_MAP_H
#define BD_MAP_H
#include <stddef.h>

typedef struct bd_map bd_map_t;
typedef void (bd_map_free_fn)(void *value);
typedef void (bd_map_each_fn)(const char *key, void *value, void *arg);

/* NULL on allocation failure. */
bd_map_t *bd_map_new(void);
/* Frees the map and its keys; calls free_fn (may be NULL) on every value. */
void bd_map_destroy(bd_map_t **self_p, bd_map_free_fn *free_fn);
/* The value under key, or NULL. */
void *bd_map_get(const bd_map_t *self, const char *key);
/* Insert or replace. *old (if not NULL) gets the replaced value or NULL.
 * Returns 0, or -1 on allocation failure (map unchanged). */
int bd_map_put(bd_map_t *self, const char *key, void *value, void **old);
/* Remove key; returns its value or NULL. */
void *bd_map_remove(bd_map_t *self, const char *key);
size_t bd_map_size(const bd_map_t *self);
/* Visit every entry (order unspecified). fn must not modify the map. */
void bd_map_foreach(const bd_map_t *self, bd_map_each_fn *fn, void *arg);

#endif
