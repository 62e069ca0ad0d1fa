/* od_map: see od_map.h. */
#include "od_map.h"
#include "od_domain.h"
#include <stdlib.h>
#include <string.h>
#include <stdint.h>

typedef struct s_node {
    struct s_node *next;
    uint64_t hash;
    void *value;
    char key[];                    /* NUL-terminated copy */
} s_node_t;

struct od_map {
    s_node_t **buckets;            /* nbuckets chains */
    size_t nbuckets;               /* power of two */
    size_t size;                   /* entries */
};

od_map_t *od_map_new(void)
{
    od_map_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->nbuckets = 64;
    self->buckets = calloc(self->nbuckets, sizeof *self->buckets);
    if (!self->buckets) {
        free(self);
        return NULL;
    }
    return self;
}

void od_map_destroy(od_map_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    od_map_t *self = *self_p;
    for (size_t i = 0; i < self->nbuckets; i++) {
        s_node_t *n = self->buckets[i];
        while (n) {
            s_node_t *next = n->next;
            free(n);
            n = next;
        }
    }
    free(self->buckets);
    free(self);
    *self_p = NULL;
}

static s_node_t **s_find(const od_map_t *self, const char *key, uint64_t h)
{
    s_node_t **pp = &self->buckets[h & (self->nbuckets - 1)];
    while (*pp && !((*pp)->hash == h && strcmp((*pp)->key, key) == 0))
        pp = &(*pp)->next;
    return pp;
}

static void s_grow(od_map_t *self)
{
    size_t nb = self->nbuckets * 2;
    s_node_t **b = calloc(nb, sizeof *b);
    if (!b)
        return;                    /* keep working with longer chains */
    for (size_t i = 0; i < self->nbuckets; i++) {
        s_node_t *n = self->buckets[i];
        while (n) {
            s_node_t *next = n->next;
            size_t j = n->hash & (nb - 1);
            n->next = b[j];
            b[j] = n;
            n = next;
        }
    }
    free(self->buckets);
    self->buckets = b;
    self->nbuckets = nb;
}

int od_map_put(od_map_t *self, const char *key, void *value)
{
    uint64_t h = od_hash(key);
    s_node_t **pp = s_find(self, key, h);
    if (*pp) {
        (*pp)->value = value;
        return 0;
    }
    size_t klen = strlen(key);
    s_node_t *n = malloc(sizeof *n + klen + 1);
    if (!n)
        return -1;
    memcpy(n->key, key, klen + 1);
    n->hash = h;
    n->value = value;
    n->next = NULL;
    *pp = n;
    if (++self->size > self->nbuckets)
        s_grow(self);
    return 0;
}

void *od_map_get(const od_map_t *self, const char *key)
{
    s_node_t **pp = s_find(self, key, od_hash(key));
    return *pp ? (*pp)->value : NULL;
}

void *od_map_del(od_map_t *self, const char *key)
{
    s_node_t **pp = s_find(self, key, od_hash(key));
    if (!*pp)
        return NULL;
    s_node_t *n = *pp;
    void *v = n->value;
    *pp = n->next;
    free(n);
    self->size--;
    return v;
}

size_t od_map_size(const od_map_t *self)
{
    return self->size;
}

void od_map_each(od_map_t *self, od_map_each_fn *fn, void *arg)
{
    for (size_t i = 0; i < self->nbuckets; i++) {
        s_node_t **pp = &self->buckets[i];
        while (*pp) {
            s_node_t *n = *pp;
            if (fn(n->key, n->value, arg)) {
                *pp = n->next;
                free(n);
                self->size--;
            } else {
                pp = &n->next;
            }
        }
    }
}
