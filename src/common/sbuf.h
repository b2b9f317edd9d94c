/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Growable byte buffer with printf-style appends, for building HTTP bodies,
 * JSON and tables. Caller-owned struct; sbuf_free() releases the storage.
 * Appends return 0 or -ENOMEM; after a failure the buffer stays valid and
 * keeps what it had.
 */
#ifndef KUMO_COMMON_SBUF_H
#define KUMO_COMMON_SBUF_H

#include <stdarg.h>
#include <stddef.h>

struct sbuf {
    char *data; /* always NUL-terminated once anything was appended */
    size_t len;
    size_t cap;
};

#define SBUF_INIT  \
    {              \
        NULL, 0, 0 \
    }

int sbuf_reserve(struct sbuf *b, size_t extra);
int sbuf_append(struct sbuf *b, const void *data, size_t len);
int sbuf_puts(struct sbuf *b, const char *s);
int sbuf_putc(struct sbuf *b, char c);
int sbuf_printf(struct sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int sbuf_vprintf(struct sbuf *b, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
void sbuf_reset(struct sbuf *b);
void sbuf_free(struct sbuf *b);
/* Hand the storage to the caller (free()); the buffer becomes empty. */
char *sbuf_take(struct sbuf *b);

#endif
