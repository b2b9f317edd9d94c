/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A small string-keyed hash map for the broker's registries (session names,
 * rooms). Keys are borrowed from the values (a session's or room's own name)
 * and must stay alive while the entry exists. Not thread-safe: the broker
 * guards each map with its registry lock.
 */
#ifndef KUMO_MIDDLECON_MAP_H
#define KUMO_MIDDLECON_MAP_H

#include <stddef.h>
#include <stdint.h>

struct map_entry {
    struct map_entry *next;
    uint64_t hash;
    const char *key;
    size_t len;
    void *value;
};

struct map {
    struct map_entry **slots;
    size_t nslots; /* power of two */
    size_t count;
};

uint64_t map_hash(const void *key, size_t len);
void *map_get(const struct map *m, const void *key, size_t len);
/* Insert; -EEXIST if the key is present, -ENOMEM. */
int map_put(struct map *m, const char *key, size_t len, void *value);
/* Remove and return the value, NULL when absent. */
void *map_del(struct map *m, const void *key, size_t len);
void map_free(struct map *m);

/* Iterate: for (struct map_iter it = {0}; map_next(m, &it);) use it.e->value */
struct map_iter {
    size_t slot;
    struct map_entry *e;
    struct map_entry *next;
};
int map_next(const struct map *m, struct map_iter *it);

#endif
