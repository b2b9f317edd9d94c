/* SPDX-License-Identifier: Apache-2.0 */
/*
 * One round of questions to every agent: the process list at a given path
 * and, for top, the host object (/v1/host), all in one concurrent batch.
 * Per-host failures are collected, not fatal.
 */
#ifndef KUMO_CLI_FETCH_H
#define KUMO_CLI_FETCH_H

#include "fanout.h"
#include "hosts.h"
#include "proclist.h"

#include <jansson.h>

struct kerr;

struct fetch_host {
    char err[FANOUT_ERR_MAX + 64]; /* "" when the host answered everything */
    json_t *info;                  /* /v1/host object (owned) or NULL */
    uint64_t elapsed_usec;
};

/*
 * Ask every host in hosts for path (a k2i list path) and, when want_info,
 * /v1/host. Rows go into pl (cleared first); res[i] (hosts->n entries,
 * previous info released) says how host i fared. Returns the number of
 * hosts that failed, or -errno when the batch could not run.
 */
int fetch_round(struct fanout *f, const struct hostlist *hosts, const char *path, bool want_info,
                struct proclist *pl, struct fetch_host *res, struct kerr *err);

/* Release what res (n entries) holds. */
void fetch_hosts_clear(struct fetch_host *res, size_t n);

#endif
