/* SPDX-License-Identifier: Apache-2.0 */
/*
 * struct kerr carries a human-readable error from the place it happened up to
 * the one place that prints it (a main, a daemon's request handler). Library
 * code fills it and returns -errno; it never logs.
 */
#ifndef KUMO_COMMON_KERR_H
#define KUMO_COMMON_KERR_H

#include <stddef.h>

#define KERR_MSG_MAX 1024

struct kerr {
    int code;               /* positive errno, 0 when unset */
    char msg[KERR_MSG_MAX]; /* "mount proc on '/proc': Permission denied" */
};

#define KERR_INIT \
    {             \
        0,        \
        {         \
            0     \
        }         \
    }

/*
 * Record an error: the formatted context followed by ": strerror(errnum)"
 * when errnum != 0. Returns -errnum (or -EIO when errnum is 0) so callers can
 * `return kerr_set(err, errno, "open '%s'", path);`. err may be NULL.
 * Does not overwrite an earlier error: the first failure is the cause.
 */
int kerr_set(struct kerr *err, int errnum, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Like kerr_set but never appends strerror (for validation errors). */
int kerr_setf(struct kerr *err, int errnum, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/*
 * Prepend context to an existing error: "create 'web': <old message>".
 * Returns -err->code (or -EIO). err may be NULL.
 */
int kerr_prefix(struct kerr *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Forget a recorded error. */
void kerr_clear(struct kerr *err);

#endif
