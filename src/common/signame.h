/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Linux signal names, one table for every component: k2i parses what
 * clients send, the CLI offers and prints names. Pure data; thread-safe.
 */
#ifndef KUMO_COMMON_SIGNAME_H
#define KUMO_COMMON_SIGNAME_H

#include <stdbool.h>
#include <stddef.h>

struct signame {
    const char *name; /* without "SIG": "TERM" */
    int signo;
    bool legacy; /* an alias (IOT, POLL) or unused on Linux (STKFLT) */
};

/*
 * The named signals in number order, aliases right after their signal.
 * Returns the table and stores its length in *ret_n.
 */
const struct signame *signame_table(size_t *ret_n);

/*
 * Parse "TERM", "SIGTERM", "sigterm", "15" (0..SIGRTMAX), "RTMIN",
 * "RTMIN+2", "RTMAX-1". Returns the signal number or -EINVAL.
 */
int signame_parse(const char *s);

/* Name of a signal ("KILL"); the first, non-alias one; NULL if unnamed. */
const char *signame_name(int signo);

#endif
