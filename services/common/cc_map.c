/* cc_map: see cc_map.h.
 *
 * Linear probing over a power-of-two table. A removed entry leaves a
 * tombstone so probes for keys placed after it still reach them; a tombstone
 * is reused by the next insert on its probe path, and a rehash (when live +
 * tombstone slots pass 70 %) drops them all. Entries never move except in a
 * rehash, and only a put rehashes, which is why removing during a walk is
 * safe and putting is not. */
#include "cc_map.h"

#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* The key of a removed slot: an address no copied key can have. */
static char s_tomb_mark;
#define S_TOMB (&s_tomb_mark)

#define S_MIN_CAP 16

typedef struct {
    char *key;          /* owned copy; NULL empty; S_TOMB removed */
    void *value;        /* the caller's */
    uint64_t hash;      /* of key: compared before strcmp, reused by rehash */
} s_slot_t;

struct cc_map {
    s_slot_t *slots;    /* cap slots */
    size_t cap;         /* power of two */
    size_t live;        /* entries */
    size_t used;        /* entries + tombstones; < cap, so every probe ends */
    int walking;        /* cc_map_each depth: a put now would move entries */
};

static cc_map_alloc_fn *s_alloc_fn;   /* test hook; NULL: malloc */

void cc_map_set_alloc_hook(cc_map_alloc_fn *fn)
{
    s_alloc_fn = fn;
}

static void *s_alloc(size_t size)
{
    return s_alloc_fn ? s_alloc_fn(size) : malloc(size);
}

static void *s_calloc(size_t n, size_t size)
{
    if (size && n > SIZE_MAX / size)
        return NULL;
    void *p = s_alloc(n * size);
    if (p)
        memset(p, 0, n * size);
    return p;
}

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

/* FNV's low bits see only the low bits of each byte; fold the high half in
 * before masking so small tables spread keys that differ in high bits. */
static size_t s_home(uint64_t h, size_t cap)
{
    return (size_t)(h ^ (h >> 32)) & (cap - 1);
}

static int s_is_live(const s_slot_t *s)
{
    return s->key && s->key != S_TOMB;
}

/* Index of key if present (*found = 1), else of the slot to insert it into:
 * the first tombstone on its probe path or the empty slot ending it. */
static size_t s_find(const cc_map_t *self, const char *key, uint64_t h, int *found)
{
    size_t mask = self->cap - 1;
    size_t tomb = SIZE_MAX;
    for (size_t i = s_home(h, self->cap);; i = (i + 1) & mask) {
        const s_slot_t *s = &self->slots[i];
        if (!s->key) {
            *found = 0;
            return tomb != SIZE_MAX ? tomb : i;
        }
        if (s->key == S_TOMB) {
            if (tomb == SIZE_MAX)
                tomb = i;
        } else if (s->hash == h && strcmp(s->key, key) == 0) {
            *found = 1;
            return i;
        }
    }
}

/* Rebuild without tombstones, doubling until live + 1 fits at <= 50 % (the
 * same size when tombstones were the load). 0, or -1 (map unchanged). */
static int s_rehash(cc_map_t *self)
{
    size_t cap = self->cap;
    while ((self->live + 1) * 2 > cap) {
        if (cap > SIZE_MAX / 2 / sizeof(s_slot_t))
            return -1;
        cap *= 2;
    }
    s_slot_t *slots = s_calloc(cap, sizeof *slots);
    if (!slots)
        return -1;
    for (size_t i = 0; i < self->cap; i++) {
        const s_slot_t *s = &self->slots[i];
        if (!s_is_live(s))
            continue;
        size_t j = s_home(s->hash, cap);
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

cc_map_t *cc_map_new(void)
{
    cc_map_t *self = s_calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->cap = S_MIN_CAP;
    self->slots = s_calloc(self->cap, sizeof *self->slots);
    if (!self->slots) {
        free(self);
        return NULL;
    }
    return self;
}

void cc_map_destroy(cc_map_t **self_p, cc_map_free_fn *free_fn)
{
    if (!self_p || !*self_p)
        return;
    cc_map_t *self = *self_p;
    for (size_t i = 0; i < self->cap; i++) {
        s_slot_t *s = &self->slots[i];
        if (!s_is_live(s))
            continue;
        if (free_fn)
            free_fn(s->value);
        free(s->key);
    }
    free(self->slots);
    free(self);
    *self_p = NULL;
}

int cc_map_put(cc_map_t *self, const char *key, void *value, void **old)
{
    assert(self && key);
    assert(!self->walking);
    if (old)
        *old = NULL;
    uint64_t h = s_hash(key);
    int found;
    size_t i = s_find(self, key, h, &found);
    if (found) {
        if (old)
            *old = self->slots[i].value;
        self->slots[i].value = value;
        return 0;
    }
    size_t len = strlen(key) + 1;
    char *copy = s_alloc(len);
    if (!copy)
        return -1;
    memcpy(copy, key, len);
    /* Reusing a tombstone adds no used slot; an empty slot might pass 70 %. */
    if (!self->slots[i].key && (self->used + 1) * 10 > self->cap * 7) {
        if (s_rehash(self) != 0) {
            free(copy);
            return -1;
        }
        i = s_find(self, key, h, &found);
    }
    if (!self->slots[i].key)
        self->used++;
    self->slots[i] = (s_slot_t){ copy, value, h };
    self->live++;
    return 0;
}

void *cc_map_get(const cc_map_t *self, const char *key)
{
    assert(self && key);
    int found;
    size_t i = s_find(self, key, s_hash(key), &found);
    return found ? self->slots[i].value : NULL;
}

/* Empty slot i (live). A probe that reaches i goes on to i + 1; if that slot
 * is empty the probe would stop there anyway, so i can be empty too instead
 * of a tombstone. */
static void *s_remove_at(cc_map_t *self, size_t i)
{
    s_slot_t *s = &self->slots[i];
    void *value = s->value;
    free(s->key);
    if (!self->slots[(i + 1) & (self->cap - 1)].key) {
        s->key = NULL;
        self->used--;
    } else {
        s->key = S_TOMB;
    }
    s->value = NULL;
    self->live--;
    return value;
}

void *cc_map_remove(cc_map_t *self, const char *key)
{
    assert(self && key);
    int found;
    size_t i = s_find(self, key, s_hash(key), &found);
    return found ? s_remove_at(self, i) : NULL;
}

size_t cc_map_size(const cc_map_t *self)
{
    assert(self);
    return self->live;
}

void cc_map_each(cc_map_t *self, cc_map_each_fn *fn, void *arg)
{
    assert(self && fn);
    self->walking++;
    for (size_t i = 0; i < self->cap; i++) {
        s_slot_t *s = &self->slots[i];
        if (s_is_live(s) && fn(s->key, s->value, arg) && s_is_live(s))
            s_remove_at(self, i);
    }
    self->walking--;
}

void *cc_map_next(const cc_map_t *self, size_t *pos)
{
    assert(self && pos);
    while (*pos < self->cap) {
        const s_slot_t *s = &self->slots[(*pos)++];
        if (s_is_live(s))
            return s->value;
    }
    return NULL;
}
