/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Growable buffer. Doubling growth; never shrinks until sbuf_free().
 */
#include "sbuf.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int
sbuf_reserve(struct sbuf *b, size_t extra)
{
    if (extra > SIZE_MAX - b->len - 1)
        return -ENOMEM;
    size_t need = b->len + extra + 1;
    if (need <= b->cap)
        return 0;
    size_t ncap = b->cap ? b->cap : 256;
    while (ncap < need) {
        if (ncap > SIZE_MAX / 2)
            return -ENOMEM;
        ncap *= 2;
    }
    char *nd = realloc(b->data, ncap);
    if (!nd)
        return -ENOMEM;
    b->data = nd;
    b->cap = ncap;
    return 0;
}

int
sbuf_append(struct sbuf *b, const void *data, size_t len)
{
    int r = sbuf_reserve(b, len);
    if (r < 0)
        return r;
    if (len)
        memcpy(b->data + b->len, data, len);
    b->len += len;
    b->data[b->len] = '\0';
    return 0;
}

int
sbuf_puts(struct sbuf *b, const char *s)
{
    return sbuf_append(b, s, strlen(s));
}

int
sbuf_putc(struct sbuf *b, char c)
{
    return sbuf_append(b, &c, 1);
}

int
sbuf_vprintf(struct sbuf *b, const char *fmt, va_list ap)
{
    va_list ap2;
    va_copy(ap2, ap);
    size_t avail = b->cap > b->len ? b->cap - b->len : 0;
    int n = vsnprintf(avail ? b->data + b->len : NULL, avail, fmt, ap2);
    va_end(ap2);
    if (n < 0)
        return -EINVAL;
    if ((size_t)n >= avail) {
        int r = sbuf_reserve(b, (size_t)n);
        if (r < 0)
            return r;
        va_copy(ap2, ap);
        vsnprintf(b->data + b->len, b->cap - b->len, fmt, ap2);
        va_end(ap2);
    }
    b->len += (size_t)n;
    return 0;
}

int
sbuf_printf(struct sbuf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int r = sbuf_vprintf(b, fmt, ap);
    va_end(ap);
    return r;
}

void
sbuf_reset(struct sbuf *b)
{
    b->len = 0;
    if (b->data)
        b->data[0] = '\0';
}

void
sbuf_free(struct sbuf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

char *
sbuf_take(struct sbuf *b)
{
    if (!b->data && sbuf_reserve(b, 0) < 0)
        return NULL;
    if (b->len == 0)
        b->data[0] = '\0';
    char *d = b->data;
    b->data = NULL;
    b->len = b->cap = 0;
    return d;
}
