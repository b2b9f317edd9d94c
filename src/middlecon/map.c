/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Chained hash map with FNV-1a hashing, doubling at load factor 1 and
 * halving when it drops to 1/8 so that memory returns after a burst of
 * sessions. Callers hold the broker's registry lock.
 */
#include "map.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

uint64_t
map_hash(const void *key, size_t len)
{
    const uint8_t *p = key;
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= 1099511628211ull;
    }
    return h;
}

static struct map_entry **
find(const struct map *m, const void *key, size_t len, uint64_t h)
{
    if (!m->nslots)
        return NULL;
    struct map_entry **pp = &m->slots[h & (m->nslots - 1)];
    for (; *pp; pp = &(*pp)->next)
        if ((*pp)->hash == h && (*pp)->len == len && memcmp((*pp)->key, key, len) == 0)
            return pp;
    return pp;
}

void *
map_get(const struct map *m, const void *key, size_t len)
{
    struct map_entry **pp = find(m, key, len, map_hash(key, len));
    return pp && *pp ? (*pp)->value : NULL;
}

static int
resize(struct map *m, size_t nslots)
{
    struct map_entry **ns = calloc(nslots, sizeof(*ns));
    if (!ns)
        return -ENOMEM;
    for (size_t i = 0; i < m->nslots; i++) {
        struct map_entry *e = m->slots[i];
        while (e) {
            struct map_entry *next = e->next;
            struct map_entry **slot = &ns[e->hash & (nslots - 1)];
            e->next = *slot;
            *slot = e;
            e = next;
        }
    }
    free(m->slots);
    m->slots = ns;
    m->nslots = nslots;
    return 0;
}

int
map_put(struct map *m, const char *key, size_t len, void *value)
{
    uint64_t h = map_hash(key, len);
    struct map_entry **pp = find(m, key, len, h);
    if (pp && *pp)
        return -EEXIST;
    if (m->count + 1 > m->nslots) {
        int r = resize(m, m->nslots ? m->nslots * 2 : 16);
        if (r < 0)
            return r;
    }
    struct map_entry *e = malloc(sizeof(*e));
    if (!e)
        return -ENOMEM;
    e->hash = h;
    e->key = key;
    e->len = len;
    e->value = value;
    struct map_entry **slot = &m->slots[h & (m->nslots - 1)];
    e->next = *slot;
    *slot = e;
    m->count++;
    return 0;
}

void *
map_del(struct map *m, const void *key, size_t len)
{
    struct map_entry **pp = find(m, key, len, map_hash(key, len));
    if (!pp || !*pp)
        return NULL;
    struct map_entry *e = *pp;
    void *v = e->value;
    *pp = e->next;
    free(e);
    m->count--;
    if (m->nslots > 16 && m->count < m->nslots / 8)
        (void)resize(m, m->nslots / 4); /* failure keeps the larger table */
    return v;
}

int
map_next(const struct map *m, struct map_iter *it)
{
    if (it->e) {
        it->e = it->next;
    } else if (it->slot == 0 && m->nslots) {
        it->e = m->slots[0];
    }
    while (!it->e) {
        if (++it->slot >= m->nslots)
            return 0;
        it->e = m->slots[it->slot];
    }
    it->next = it->e->next;
    return 1;
}

void
map_free(struct map *m)
{
    for (size_t i = 0; i < m->nslots; i++) {
        struct map_entry *e = m->slots[i];
        while (e) {
            struct map_entry *next = e->next;
            free(e);
            e = next;
        }
    }
    free(m->slots);
    m->slots = NULL;
    m->nslots = m->count = 0;
}
