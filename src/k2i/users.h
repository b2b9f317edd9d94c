/* SPDX-License-Identifier: Apache-2.0 */
/*
 * uid/gid -> name cache for k2i's user and group fields. Thread-safe (one
 * mutex; lookups are a hash probe). Names not found in the user database are
 * cached as their decimal id, as ps prints them.
 */
#ifndef KUMO_K2I_USERS_H
#define KUMO_K2I_USERS_H

#include <stddef.h>
#include <stdint.h>

#define USERS_NAME_MAX 64

/* Look a name up. Returns 0 and writes ret_name (NUL-terminated), or -ENOENT. */
typedef int (*users_lookup_fn)(uint32_t id, char ret_name[USERS_NAME_MAX]);

/*
 * Name of uid (group = 0) or gid (group = 1) into buf (>= USERS_NAME_MAX).
 * Returns the name length. Never fails: unknown ids come back as digits.
 */
size_t users_name(int group, uint32_t id, char *buf);

/* Resolve a user name to a uid (uncached). 0 or -ENOENT. */
int users_uid_by_name(const char *name, uint32_t *ret_uid);

/* Forget every cached name (e.g. on SIGHUP). */
void users_flush(void);

#endif
