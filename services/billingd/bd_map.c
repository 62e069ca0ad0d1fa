/* bd_map: see bd_map.h. Open addressing with tombstones; the table doubles
 * when live + dead slots pass 70 %, so probes stay short. */
#include "bd_map.h"
#include "bd_alloc.h"
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    char *key;        /* owned copy; NULL: empty; s_tomb: deleted */
    void *value;      /* borrowed */
} s_slot_t;

struct bd_map {
    s_slot_t *slots;  /* cap entries */
    size_t cap;       /* power of two */
    size_t live;      /* keys present */
    size_t used;      /* live + tombstones */
};

static char s_tomb_mark;
#define s_tomb (&s_tomb_mark)

/* FNV-1a, 64 bit. */
static uint64_t s_hash(const char *key)
{
    uint64_t h = 14695981039346656037ULL;
    for (const unsigned char *p = (const unsigned char *)key; *p; p++) {
        h ^= *p;
        h *= 1099511628211ULL;
    }
    return h;
}

bd_map_t *bd_map_new(void)
{
    bd_map_t *self = bd_calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->cap = 16;
    self->slots = bd_calloc(self->cap, sizeof *self->slots);
    if (!self->slots) {
        free(self);
        return NULL;
    }
    return self;
}

void bd_map_destroy(bd_map_t **self_p, bd_map_free_fn *free_fn)
{
    if (!self_p || !*self_p)
        return;
    bd_map_t *self = *self_p;
    for (size_t i = 0; i < self->cap; i++) {
        char *k = self->slots[i].key;
        if (k && k != s_tomb) {
            if (free_fn)
                free_fn(self->slots[i].value);
            free(k);
        }
    }
    free(self->slots);
    free(self);
    *self_p = NULL;
}

/* Index of key, or of the slot to insert it into (first tombstone seen or
 * the empty slot ending the probe); *found says which. */
static size_t s_find(const bd_map_t *self, const char *key, int *found)
{
    size_t mask = self->cap - 1;
    size_t i = (size_t)s_hash(key) & mask;
    size_t tomb = SIZE_MAX;
    for (;;) {
        char *k = self->slots[i].key;
        if (!k) {
            *found = 0;
            return tomb != SIZE_MAX ? tomb : i;
        }
        if (k == s_tomb) {
            if (tomb == SIZE_MAX)
                tomb = i;
        } else if (strcmp(k, key) == 0) {
            *found = 1;
            return i;
        }
        i = (i + 1) & mask;
    }
}

static int s_grow(bd_map_t *self)
{
    size_t ncap = self->live * 2 + 16 > self->cap ? self->cap * 2 : self->cap;
    s_slot_t *old = self->slots;
    size_t ocap = self->cap;
    s_slot_t *slots = bd_calloc(ncap, sizeof *slots);
    if (!slots)
        return -1;
    self->slots = slots;
    self->cap = ncap;
    self->used = self->live;
    for (size_t i = 0; i < ocap; i++) {
        if (old[i].key && old[i].key != s_tomb) {
            int found;
            size_t j = s_find(self, old[i].key, &found);
            slots[j] = old[i];
        }
    }
    free(old);
    return 0;
}

void *bd_map_get(const bd_map_t *self, const char *key)
{
    int found;
    size_t i = s_find(self, key, &found);
    return found ? self->slots[i].value : NULL;
}

int bd_map_put(bd_map_t *self, const char *key, void *value, void **old)
{
    if (old)
        *old = NULL;
    int found;
    size_t i = s_find(self, key, &found);
    if (found) {
        if (old)
            *old = self->slots[i].value;
        self->slots[i].value = value;
        return 0;
    }
    if ((self->used + 1) * 10 > self->cap * 7) {
        if (s_grow(self) < 0)
            return -1;
        i = s_find(self, key, &found);
    }
    char *k = bd_strdup(key);
    if (!k)
        return -1;
    if (self->slots[i].key != s_tomb)
        self->used++;
    self->slots[i].key = k;
    self->slots[i].value = value;
    self->live++;
    return 0;
}

void *bd_map_remove(bd_map_t *self, const char *key)
{
    int found;
    size_t i = s_find(self, key, &found);
    if (!found)
        return NULL;
    void *v = self->slots[i].value;
    free(self->slots[i].key);
    self->slots[i].key = s_tomb;
    self->slots[i].value = NULL;
    self->live--;
    return v;
}

size_t bd_map_size(const bd_map_t *self)
{
    return self->live;
}

void bd_map_foreach(const bd_map_t *self, bd_map_each_fn *fn, void *arg)
{
    for (size_t i = 0; i < self->cap; i++) {
        char *k = self->slots[i].key;
        if (k && k != s_tomb)
            fn(k, self->slots[i].value, arg);
    }
}
