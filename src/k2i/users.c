/* SPDX-License-Identifier: Apache-2.0 */
/*
 * uid/gid name cache (see users.h). A listing asks for the same few ids
 * thousands of times, so after the first getpwuid_r() an id costs a hash
 * probe under a mutex. The table is fixed-size: when it is full, further
 * ids are looked up every time rather than growing without bound.
 */
#include "users.h"
#include "util.h"

#include <errno.h>
#include <grp.h>
#include <pthread.h>
#include <pwd.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define USERS_SLOTS 1024 /* power of two; at most 3/4 used */

struct slot {
    bool used;
    uint32_t id;
    char name[USERS_NAME_MAX];
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct slot tables[2][USERS_SLOTS];
static size_t counts[2];

static void
lookup_db(int group, uint32_t id, char *buf)
{
    char scratch[4096];
    int r;
    if (group) {
        struct group gr, *res = NULL;
        r = getgrgid_r((gid_t)id, &gr, scratch, sizeof(scratch), &res);
        if (r == 0 && res && strlen(res->gr_name) < USERS_NAME_MAX) {
            strcpy(buf, res->gr_name);
            return;
        }
    } else {
        struct passwd pw, *res = NULL;
        r = getpwuid_r((uid_t)id, &pw, scratch, sizeof(scratch), &res);
        if (r == 0 && res && strlen(res->pw_name) < USERS_NAME_MAX) {
            strcpy(buf, res->pw_name);
            return;
        }
    }
    snprintf(buf, USERS_NAME_MAX, "%u", id);
}

size_t
users_name(int group, uint32_t id, char *buf)
{
    group = group ? 1 : 0;
    struct slot *t = tables[group];
    size_t h = (id * 2654435761u) & (USERS_SLOTS - 1);

    pthread_mutex_lock(&lock);
    for (size_t i = 0; i < USERS_SLOTS; i++) {
        struct slot *s = &t[(h + i) & (USERS_SLOTS - 1)];
        if (!s->used)
            break;
        if (s->id == id) {
            size_t n = strlen(s->name);
            memcpy(buf, s->name, n + 1);
            pthread_mutex_unlock(&lock);
            return n;
        }
    }
    pthread_mutex_unlock(&lock);

    /* Look up outside the lock: NSS may be slow. */
    char name[USERS_NAME_MAX];
    lookup_db(group, id, name);

    pthread_mutex_lock(&lock);
    if (counts[group] < USERS_SLOTS * 3 / 4) {
        for (size_t i = 0; i < USERS_SLOTS; i++) {
            struct slot *s = &t[(h + i) & (USERS_SLOTS - 1)];
            if (s->used && s->id == id)
                break;
            if (!s->used) {
                s->used = true;
                s->id = id;
                memcpy(s->name, name, sizeof(name));
                counts[group]++;
                break;
            }
        }
    }
    pthread_mutex_unlock(&lock);
    size_t n = strlen(name);
    memcpy(buf, name, n + 1);
    return n;
}

int
users_uid_by_name(const char *name, uint32_t *ret_uid)
{
    char scratch[4096];
    struct passwd pw, *res = NULL;
    if (getpwnam_r(name, &pw, scratch, sizeof(scratch), &res) != 0 || !res)
        return -ENOENT;
    *ret_uid = (uint32_t)res->pw_uid;
    return 0;
}

void
users_flush(void)
{
    pthread_mutex_lock(&lock);
    memset(tables, 0, sizeof(tables));
    counts[0] = counts[1] = 0;
    pthread_mutex_unlock(&lock);
}
