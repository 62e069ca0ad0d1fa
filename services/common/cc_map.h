/* cc_map: a string-keyed hash map of pointers, the in-memory index of every
 * daemon's working set (orders, cards, visits, holds, idempotency keys).
 *
 * Keys are copied; values are the caller's and never freed by the map except
 * by cc_map_destroy's free_fn. Open addressing with linear probing, FNV-1a,
 * a power-of-two table kept at most 70 % used, so get/put/remove stay O(1)
 * at 100k+ entries. A NULL value can be stored but reads back as "absent".
 * Not thread-safe: loop thread only. */
#ifndef CC_MAP_H
#define CC_MAP_H
#include <stddef.h>

typedef struct cc_map cc_map_t;
/* Frees one value (cc_map_destroy). */
typedef void (cc_map_free_fn)(void *value);
/* Called by cc_map_each for one entry; return non-zero to remove it (the
 * map does not free the value: free it first if it is owned). */
typedef int (cc_map_each_fn)(const char *key, void *value, void *arg);
/* malloc(3)-compatible allocator (cc_map_set_alloc_hook). */
typedef void *(cc_map_alloc_fn)(size_t size);

/* An empty map, or NULL when out of memory. */
cc_map_t *cc_map_new(void);
/* Frees the map and its keys, calling free_fn (may be NULL) on every value.
 * Accepts NULL and *self_p == NULL; sets *self_p to NULL. */
void cc_map_destroy(cc_map_t **self_p, cc_map_free_fn *free_fn);
/* Insert, or replace the value of an existing key. *old (if old is not NULL)
 * gets the replaced value, or NULL for a new key. Returns 0, or -1 when out
 * of memory (the map is unchanged). */
int cc_map_put(cc_map_t *self, const char *key, void *value, void **old);
/* The value under key, or NULL. */
void *cc_map_get(const cc_map_t *self, const char *key);
/* Remove key; returns its value (still the caller's), or NULL if absent. */
void *cc_map_remove(cc_map_t *self, const char *key);
/* Number of entries. */
size_t cc_map_size(const cc_map_t *self);
/* Visit every entry once, in no particular order. fn may remove the entry it
 * is given (by returning non-zero) or any other (cc_map_remove); it must not
 * put (a put may move every entry), which asserts. */
void cc_map_each(cc_map_t *self, cc_map_each_fn *fn, void *arg);
/* Cursor iteration: set *pos = 0, then each call returns the next value, or
 * NULL at the end. Removing entries between calls is safe; a put is not
 * (it may move entries: restart from 0). */
void *cc_map_next(const cc_map_t *self, size_t *pos);

/* Tests only: make every map allocate with fn (NULL: malloc), so a test can
 * fail the Nth allocation (STYLE.md). Memory is still released with free(),
 * so fn must return malloc'd memory or NULL. Process-wide. */
void cc_map_set_alloc_hook(cc_map_alloc_fn *fn);

#endif
