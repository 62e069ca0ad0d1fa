/* od_map: a string-keyed hash map of borrowed pointers (chained, power-of-two
 * buckets, grows at load 1). Keys are copied; values are the caller's.
 * Used for the working set: elders, cards, open orders, idempotency keys. */
#ifndef OD_MAP_H
#define OD_MAP_H
#include <stddef.h>

typedef struct od_map od_map_t;
/* Called for each entry by od_map_each; return non-zero to delete it. */
typedef int (od_map_each_fn)(const char *key, void *value, void *arg);

od_map_t *od_map_new(void);
/* Frees the map and its keys, never the values. */
void od_map_destroy(od_map_t **self_p);
/* Insert or replace. 0, or -1 when out of memory (map unchanged). */
int od_map_put(od_map_t *self, const char *key, void *value);
void *od_map_get(const od_map_t *self, const char *key);
/* Remove and return the value, NULL if absent. */
void *od_map_del(od_map_t *self, const char *key);
size_t od_map_size(const od_map_t *self);
/* Visit every entry once (order unspecified); fn may ask to delete the
 * entry it is given, nothing else. */
void od_map_each(od_map_t *self, od_map_each_fn *fn, void *arg);

#endif
