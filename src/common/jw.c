/* SPDX-License-Identifier: Apache-2.0 */
/*
 * JSON writing helpers (see jw.h). Used by k2i's renderers and middlecon's
 * stats on any thread; no shared state.
 */
#include "jw.h"

#include <errno.h>
#include <math.h>
#include <string.h>

static char *
u64_digits(char *end, uint64_t v)
{
    do {
        *--end = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    return end;
}

int
jw_u64(struct sbuf *b, uint64_t v)
{
    char tmp[24];
    char *s = u64_digits(tmp + sizeof(tmp), v);
    return sbuf_append(b, s, (size_t)(tmp + sizeof(tmp) - s));
}

int
jw_i64(struct sbuf *b, int64_t v)
{
    char tmp[24];
    uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    char *s = u64_digits(tmp + sizeof(tmp), u);
    if (v < 0)
        *--s = '-';
    return sbuf_append(b, s, (size_t)(tmp + sizeof(tmp) - s));
}

int
jw_fixed(struct sbuf *b, double v, int decimals)
{
    static const uint64_t pow10[] = { 1, 10, 100, 1000, 10000, 100000, 1000000 };
    if (decimals < 0)
        decimals = 0;
    if (decimals > 6)
        decimals = 6;
    if (!isfinite(v))
        v = 0;
    bool neg = v < 0;
    double a = fabs(v) * (double)pow10[decimals] + 0.5;
    if (a >= 1.8e19)
        a = 1.8e19;
    uint64_t x = (uint64_t)a;
    uint64_t ip = x / pow10[decimals], fp = x % pow10[decimals];
    char tmp[48];
    char *end = tmp + sizeof(tmp), *s = end;
    if (decimals > 0) {
        for (int i = 0; i < decimals; i++) {
            *--s = (char)('0' + fp % 10);
            fp /= 10;
        }
        *--s = '.';
    }
    s = u64_digits(s, ip);
    if (neg && x != 0)
        *--s = '-';
    return sbuf_append(b, s, (size_t)(end - s));
}

/* Length of the valid UTF-8 sequence at s (1..4), or 0 if invalid. */
static size_t
utf8_len(const unsigned char *s, size_t avail)
{
    unsigned char c = s[0];
    size_t n;
    uint32_t cp;
    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf)
        n = 2, cp = c & 0x1f;
    else if (c >= 0xe0 && c <= 0xef)
        n = 3, cp = c & 0x0f;
    else if (c >= 0xf0 && c <= 0xf4)
        n = 4, cp = c & 0x07;
    else
        return 0;
    if (n > avail)
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
        (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return n;
}

static int
str_common(struct sbuf *b, const char *s, size_t len, bool prom)
{
    static const char hex[] = "0123456789abcdef";
    /* Worst case every byte becomes "\ufffd" (6 bytes). */
    if (len > (SIZE_MAX - 8) / 6)
        return -ENOMEM;
    int r = sbuf_reserve(b, len * 6 + 2);
    if (r < 0)
        return r;
    char *o = b->data + b->len;
    const unsigned char *p = (const unsigned char *)s, *end = p + len;
    if (!prom)
        *o++ = '"';
    while (p < end) {
        unsigned char c = *p;
        if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
            *o++ = (char)c;
            p++;
            continue;
        }
        if (c == '"' || c == '\\') {
            *o++ = '\\';
            *o++ = (char)c;
            p++;
        } else if (c == '\n') {
            *o++ = '\\';
            *o++ = 'n';
            p++;
        } else if (c < 0x20 || c == 0x7f) {
            if (prom) {
                *o++ = '?';
            } else if (c == '\t') {
                *o++ = '\\';
                *o++ = 't';
            } else {
                memcpy(o, "\\u00", 4);
                o[4] = hex[c >> 4];
                o[5] = hex[c & 15];
                o += 6;
            }
            p++;
        } else {
            size_t n = utf8_len(p, (size_t)(end - p));
            if (n == 0) {
                if (prom) {
                    memcpy(o, "\xef\xbf\xbd", 3);
                    o += 3;
                } else {
                    memcpy(o, "\\ufffd", 6);
                    o += 6;
                }
                p++;
            } else {
                memcpy(o, p, n);
                o += n;
                p += n;
            }
        }
    }
    if (!prom)
        *o++ = '"';
    b->len = (size_t)(o - b->data);
    b->data[b->len] = '\0';
    return 0;
}

int
jw_str(struct sbuf *b, const char *s, size_t len)
{
    return str_common(b, s, len, false);
}

int
jw_cstr(struct sbuf *b, const char *s)
{
    return str_common(b, s, strlen(s), false);
}

int
jw_prom_label(struct sbuf *b, const char *s, size_t len)
{
    return str_common(b, s, len, true);
}

int
jw_key(struct sbuf *b, bool *first, const char *key)
{
    size_t kl = strlen(key);
    int r = sbuf_reserve(b, kl + 4);
    if (r < 0)
        return r;
    char *o = b->data + b->len;
    if (!*first)
        *o++ = ',';
    *first = false;
    *o++ = '"';
    memcpy(o, key, kl);
    o += kl;
    *o++ = '"';
    *o++ = ':';
    *o = '\0';
    b->len = (size_t)(o - b->data);
    return 0;
}
