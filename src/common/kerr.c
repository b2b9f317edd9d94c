/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Error context carrier. Pure formatting, no allocation, safe on any thread
 * as long as each thread uses its own struct kerr.
 */
#include "kerr.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

__attribute__((format(printf, 4, 0))) static int
kerr_vset(struct kerr *err, int errnum, int with_strerror, const char *fmt, va_list ap)
{
    if (errnum < 0)
        errnum = -errnum;
    if (errnum == 0)
        errnum = EIO;
    if (!err)
        return -errnum;
    if (err->code != 0)
        return -err->code;

    int n = vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
    if (n < 0)
        err->msg[0] = '\0';
    if (with_strerror) {
        size_t len = strlen(err->msg);
        if (len < sizeof(err->msg))
            snprintf(err->msg + len, sizeof(err->msg) - len, ": %s", strerror(errnum));
    }
    err->code = errnum;
    return -errnum;
}

int
kerr_set(struct kerr *err, int errnum, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int r = kerr_vset(err, errnum, 1, fmt, ap);
    va_end(ap);
    return r;
}

int
kerr_setf(struct kerr *err, int errnum, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int r = kerr_vset(err, errnum, 0, fmt, ap);
    va_end(ap);
    return r;
}

int
kerr_prefix(struct kerr *err, const char *fmt, ...)
{
    if (!err)
        return -EIO;
    if (err->code == 0)
        err->code = EIO;

    char prefix[KERR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof(prefix), fmt, ap);
    va_end(ap);

    char old[KERR_MSG_MAX];
    memcpy(old, err->msg, sizeof(old));
    /* Assemble by hand: a truncated message beats a formatting warning. */
    size_t plen = strlen(prefix), olen = strlen(old), cap = sizeof(err->msg) - 1, pos = 0;
    size_t n = plen < cap ? plen : cap;
    memcpy(err->msg, prefix, n);
    pos = n;
    n = cap - pos < 2 ? cap - pos : 2;
    memcpy(err->msg + pos, ": ", n);
    pos += n;
    n = olen < cap - pos ? olen : cap - pos;
    memcpy(err->msg + pos, old, n);
    pos += n;
    err->msg[pos] = '\0';
    return -err->code;
}

void
kerr_clear(struct kerr *err)
{
    if (!err)
        return;
    err->code = 0;
    err->msg[0] = '\0';
}
