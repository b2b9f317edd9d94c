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

int
sbuf_json_str(struct sbuf *b, const char *s, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    int r = sbuf_reserve(b, len + 2);
    if (r < 0)
        return r;
    b->data[b->len++] = '"';
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        char esc[7];
        size_t elen = 0;
        switch (c) {
        case '"':
            esc[0] = '\\', esc[1] = '"', elen = 2;
            break;
        case '\\':
            esc[0] = '\\', esc[1] = '\\', elen = 2;
            break;
        case '\n':
            esc[0] = '\\', esc[1] = 'n', elen = 2;
            break;
        case '\r':
            esc[0] = '\\', esc[1] = 'r', elen = 2;
            break;
        case '\t':
            esc[0] = '\\', esc[1] = 't', elen = 2;
            break;
        default:
            /* Control bytes and bytes >= 0x80 that are not valid UTF-8 would
             * make the document invalid; callers hand us /proc data which is
             * arbitrary bytes, so escape everything outside printable ASCII
             * as \u00XX (Latin-1 reading of the byte). */
            if (c < 0x20 || c >= 0x7f) {
                esc[0] = '\\', esc[1] = 'u', esc[2] = '0', esc[3] = '0';
                esc[4] = hex[c >> 4], esc[5] = hex[c & 15];
                elen = 6;
            }
        }
        if (elen) {
            r = sbuf_reserve(b, elen + (len - i) + 1);
            if (r < 0)
                return r;
            memcpy(b->data + b->len, esc, elen);
            b->len += elen;
        } else {
            b->data[b->len++] = (char)c;
        }
    }
    b->data[b->len++] = '"';
    b->data[b->len] = '\0';
    return 0;
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
