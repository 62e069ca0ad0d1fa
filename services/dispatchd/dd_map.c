/* dd_map: see dd_map.h. Linear probing with tombstones; grows at 70 % load
 * (live + tombstones) so probes stay short. */
#include "dd_map.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* A deleted slot: key is this address, so it never equals a real key. */
static const char s_tomb[1];

typedef struct {
    const char *key;   /* borrowed; NULL empty, s_tomb deleted */
    void *value;       /* borrowed */
    uint32_t hash;     /* cached hash of key */
} s_slot_t;

struct dd_map {
    s_slot_t *slots;   /* cap slots */
    size_t cap;        /* power of two */
    size_t live;       /* entries */
    size_t used;       /* entries + tombstones */
};

static uint32_t s_hash(const char *s)
{
    uint32_t h = 2166136261u;
    for (; *s; s++) {
        h ^= (uint8_t) *s;
        h *= 16777619u;
    }
    return h;
}

dd_map_t *dd_map_new(void)
{
    dd_map_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->cap = 16;
    self->slots = calloc(self->cap, sizeof *self->slots);
    if (!self->slots) {
        free(self);
        return NULL;
    }
    return self;
}

void dd_map_destroy(dd_map_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    free((*self_p)->slots);
    free(*self_p);
    *self_p = NULL;
}

/* Slot holding key, or NULL. */
static s_slot_t *s_find(const dd_map_t *self, const char *key, uint32_t h)
{
    size_t mask = self->cap - 1;
    for (size_t i = h & mask, n = 0; n < self->cap; i = (i + 1) & mask, n++) {
        s_slot_t *s = &self->slots[i];
        if (!s->key)
            return NULL;
        if (s->key != s_tomb && s->hash == h && strcmp(s->key, key) == 0)
            return s;
    }
    return NULL;
}

static int s_resize(dd_map_t *self, size_t cap)
{
    s_slot_t *slots = calloc(cap, sizeof *slots);
    if (!slots)
        return -1;
    for (size_t i = 0; i < self->cap; i++) {
        s_slot_t *s = &self->slots[i];
        if (!s->key || s->key == s_tomb)
            continue;
        size_t j = s->hash & (cap - 1);
        while (slots[j].key)
            j = (j + 1) & (cap - 1);
        slots[j] = *s;
    }
    free(self->slots);
    self->slots = slots;
    self->cap = cap;
    self->used = self->live;
    return 0;
}

int dd_map_put(dd_map_t *self, const char *key, void *value)
{
    uint32_t h = s_hash(key);
    s_slot_t *s = s_find(self, key, h);
    if (s) {
        s->key = key;
        s->value = value;
        return 0;
    }
    if ((self->used + 1) * 10 > self->cap * 7) {
        size_t cap = self->cap;
        if ((self->live + 1) * 10 > cap * 5)
            cap *= 2;   /* otherwise mostly tombstones: rehash in place size */
        if (s_resize(self, cap) != 0)
            return -1;
    }
    size_t mask = self->cap - 1;
    size_t i = h & mask;
    while (self->slots[i].key && self->slots[i].key != s_tomb)
        i = (i + 1) & mask;
    if (!self->slots[i].key)
        self->used++;
    self->slots[i] = (s_slot_t){key, value, h};
    self->live++;
    return 0;
}

void *dd_map_get(const dd_map_t *self, const char *key)
{
    s_slot_t *s = s_find(self, key, s_hash(key));
    return s ? s->value : NULL;
}

void *dd_map_del(dd_map_t *self, const char *key)
{
    s_slot_t *s = s_find(self, key, s_hash(key));
    if (!s)
        return NULL;
    void *v = s->value;
    s->key = s_tomb;
    s->value = NULL;
    self->live--;
    return v;
}

size_t dd_map_size(const dd_map_t *self)
{
    return self->live;
}

void *dd_map_next(const dd_map_t *self, size_t *pos)
{
    while (*pos < self->cap) {
        s_slot_t *s = &self->slots[(*pos)++];
        if (s->key && s->key != s_tomb)
            return s->value;
    }
    return NULL;
}
