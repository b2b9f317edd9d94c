/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Scope-bound cleanup helpers (GCC/clang cleanup attribute), in the style of
 * systemd: a variable declared `cleanup_free char *p = NULL;` is freed when
 * it leaves scope unless ownership was handed on with TAKE_PTR().
 * Header-only; usable from any thread.
 */
#ifndef KUMO_COMMON_CLEANUP_H
#define KUMO_COMMON_CLEANUP_H

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

/* Hand ownership of a pointer out of a cleanup scope. */
#define TAKE_PTR(p)              \
    ({                           \
        __typeof__(p) _tp = (p); \
        (p) = NULL;              \
        _tp;                     \
    })

/* Hand ownership of an fd out of a cleanup scope. */
#define TAKE_FD(fd)      \
    ({                   \
        int _tfd = (fd); \
        (fd) = -1;       \
        _tfd;            \
    })

/*
 * DEFINE_CLEANUP(type, fn) makes `cleanup_<fn>` usable for `type *` where fn
 * accepts NULL. Example: DEFINE_CLEANUP(json_t, json_decref).
 */
#define DEFINE_CLEANUP(type, fn)       \
    static inline void fn##p(type **p) \
    {                                  \
        if (*p)                        \
            fn(*p);                    \
    }

static inline void
freep(void *p)
{
    free(*(void **)p);
}

/* close() that keeps errno, accepts -1 and returns -1 for `fd = safe_close(fd)`. */
static inline int
safe_close(int fd)
{
    if (fd >= 0) {
        int saved = errno;
        close(fd);
        errno = saved;
    }
    return -1;
}

static inline void
closep(int *fd)
{
    safe_close(*fd);
}

static inline void
fclosep(FILE **f)
{
    if (*f)
        fclose(*f);
}

#define cleanup_free     __attribute__((__cleanup__(freep)))
#define cleanup_close    __attribute__((__cleanup__(closep)))
#define cleanup_fclose   __attribute__((__cleanup__(fclosep)))
#define cleanup_with(fn) __attribute__((__cleanup__(fn)))

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#endif
