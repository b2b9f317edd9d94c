/* SPDX-License-Identifier: Apache-2.0 */
/*
 * middlecon frame codec. Each frame type is described once, as a list of
 * field descriptors (kind + offset into struct frame); decode, encode and
 * size walk the same table, so the three cannot disagree about a layout.
 * Used by the broker's worker threads and by libmiddlecon; no state.
 */
#include "frame.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

enum fkind {
    FK_END = 0,
    FK_U8_MODE, /* u8, 0..2 */
    FK_U8_OP,   /* u8, 1..2 */
    FK_U16,
    FK_U32,
    FK_NAME,  /* u16 len, 1..255 printable */
    FK_NAME0, /* like FK_NAME, may be empty (HELLO) */
    FK_STR,   /* u16 len, 0..1024 */
    FK_BLOB,  /* u32 len */
    FK_ATTRS, /* u16 count, (name key, str value)* */
    FK_GATHER,
    FK_WHO,
};

struct fdesc {
    uint8_t kind;
    uint16_t off;
};

#define F(k, field)                                \
    {                                              \
        k, (uint16_t)offsetof(struct frame, field) \
    }
#define FEND      \
    {             \
        FK_END, 0 \
    }

static const struct fdesc d_hello[] = { F(FK_U16, version), F(FK_U32, max_frame), F(FK_NAME0, name),
                                        F(FK_STR, token),   F(FK_ATTRS, attrs),   FEND };
static const struct fdesc d_welcome[] = { F(FK_U16, version),      F(FK_U32, max_frame),
                                          F(FK_U32, keepalive_ms), F(FK_NAME, name),
                                          F(FK_NAME, broker),      FEND };
static const struct fdesc d_error[] = { F(FK_U16, code), F(FK_STR, subject), F(FK_STR, message),
                                        FEND };
static const struct fdesc d_empty[] = { FEND };
static const struct fdesc d_room[] = { F(FK_NAME, room), FEND };
static const struct fdesc d_msg[] = { F(FK_NAME, room), F(FK_STR, from), F(FK_BLOB, payload),
                                      FEND };
static const struct fdesc d_direct[] = { F(FK_NAME, name), F(FK_STR, from), F(FK_BLOB, payload),
                                         FEND };
static const struct fdesc d_request[] = { F(FK_U8_MODE, mode), F(FK_U32, timeout_ms),
                                          F(FK_NAME, name),    F(FK_STR, from),
                                          F(FK_BLOB, payload), FEND };
static const struct fdesc d_reply[] = { F(FK_STR, from), F(FK_BLOB, payload), FEND };
static const struct fdesc d_gather[] = { F(FK_GATHER, list), FEND };
static const struct fdesc d_who_result[] = { F(FK_NAME, room), F(FK_WHO, list), FEND };
static const struct fdesc d_presence[] = { F(FK_U8_OP, op), F(FK_NAME, room), F(FK_NAME, name),
                                           F(FK_ATTRS, attrs), FEND };
static const struct fdesc d_stats_result[] = { F(FK_BLOB, payload), FEND };
static const struct fdesc d_peer_session[] = { F(FK_U8_OP, op), F(FK_NAME, name),
                                               F(FK_ATTRS, attrs), FEND };
static const struct fdesc d_peer_member[] = { F(FK_U8_OP, op), F(FK_NAME, room), F(FK_NAME, name),
                                              FEND };

static const struct fdesc *
desc_for(uint8_t type)
{
    switch (type) {
    case FRAME_HELLO:
        return d_hello;
    case FRAME_WELCOME:
        return d_welcome;
    case FRAME_ERROR:
        return d_error;
    case FRAME_OK:
    case FRAME_PING:
    case FRAME_PONG:
    case FRAME_STATS:
        return d_empty;
    case FRAME_JOIN:
    case FRAME_LEAVE:
    case FRAME_WHO:
        return d_room;
    case FRAME_MSG:
        return d_msg;
    case FRAME_DIRECT:
        return d_direct;
    case FRAME_REQUEST:
        return d_request;
    case FRAME_REPLY:
        return d_reply;
    case FRAME_GATHER_RESULT:
        return d_gather;
    case FRAME_WHO_RESULT:
        return d_who_result;
    case FRAME_PRESENCE:
        return d_presence;
    case FRAME_STATS_RESULT:
        return d_stats_result;
    case FRAME_PEER_SESSION:
        return d_peer_session;
    case FRAME_PEER_MEMBER:
        return d_peer_member;
    }
    return NULL;
}

static inline uint16_t
get16(const uint8_t *p)
{
    return (uint16_t)((uint16_t)p[0] << 8 | p[1]);
}

static inline uint32_t
get32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static inline void
put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static inline void
put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

int
frame_name_valid(const void *p, size_t len)
{
    const uint8_t *s = p;
    if (len == 0 || len > FRAME_NAME_MAX)
        return 0;
    for (size_t i = 0; i < len; i++)
        if (s[i] < 0x21 || s[i] > 0x7e)
            return 0;
    return 1;
}

/* Bounds-checked reader over one frame body. */
struct rd {
    const uint8_t *p;
    const uint8_t *end;
};

static int
rd_u8(struct rd *r, uint8_t *v)
{
    if (r->end - r->p < 1)
        return -EBADMSG;
    *v = *r->p++;
    return 0;
}

static int
rd_u16(struct rd *r, uint16_t *v)
{
    if (r->end - r->p < 2)
        return -EBADMSG;
    *v = get16(r->p);
    r->p += 2;
    return 0;
}

static int
rd_u32(struct rd *r, uint32_t *v)
{
    if (r->end - r->p < 4)
        return -EBADMSG;
    *v = get32(r->p);
    r->p += 4;
    return 0;
}

static int
rd_bytes16(struct rd *r, size_t max, struct frame_bytes *v)
{
    uint16_t n;
    if (rd_u16(r, &n) < 0 || n > max || (size_t)(r->end - r->p) < n)
        return -EBADMSG;
    v->p = r->p;
    v->len = n;
    r->p += n;
    return 0;
}

static int
rd_name(struct rd *r, size_t max, bool may_be_empty, struct frame_bytes *v)
{
    struct frame_bytes b;
    if (rd_bytes16(r, max, &b) < 0)
        return -EBADMSG;
    if (!(may_be_empty && b.len == 0) && !frame_name_valid(b.p, b.len))
        return -EBADMSG;
    *v = b;
    return 0;
}

static int
rd_blob(struct rd *r, struct frame_bytes *v)
{
    uint32_t n;
    if (rd_u32(r, &n) < 0 || (size_t)(r->end - r->p) < n)
        return -EBADMSG;
    v->p = r->p;
    v->len = n;
    r->p += n;
    return 0;
}

/* Validate an attribute list at the reader; on success its wire bytes. */
static int
rd_attrs(struct rd *r, struct frame_bytes *ret_raw, uint16_t *ret_n)
{
    uint16_t n;
    if (rd_u16(r, &n) < 0 || n > FRAME_ATTRS_MAX)
        return -EBADMSG;
    const uint8_t *start = r->p;
    for (uint16_t i = 0; i < n; i++) {
        struct frame_bytes k, v;
        if (rd_name(r, FRAME_ATTR_KEY_MAX, false, &k) < 0 || rd_bytes16(r, FRAME_STR_MAX, &v) < 0)
            return -EBADMSG;
    }
    ret_raw->p = start;
    ret_raw->len = (size_t)(r->p - start);
    *ret_n = n;
    return 0;
}

static int
rd_gather(struct rd *r, struct frame *f)
{
    uint32_t nrep, nmiss;
    if (rd_u32(r, &nrep) < 0 || rd_u32(r, &nmiss) < 0)
        return -EBADMSG;
    const uint8_t *start = r->p;
    /* Each entry takes at least 3 bytes, so a count the body cannot hold
     * fails at once instead of looping. */
    if ((uint64_t)nrep + nmiss > (uint64_t)(r->end - r->p) / 3)
        return -EBADMSG;
    for (uint32_t i = 0; i < nrep; i++) {
        struct frame_bytes n, p;
        if (rd_name(r, FRAME_NAME_MAX, false, &n) < 0 || rd_blob(r, &p) < 0)
            return -EBADMSG;
    }
    for (uint32_t i = 0; i < nmiss; i++) {
        struct frame_bytes n;
        uint16_t reason;
        if (rd_name(r, FRAME_NAME_MAX, false, &n) < 0 || rd_u16(r, &reason) < 0)
            return -EBADMSG;
    }
    f->list.p = start;
    f->list.len = (size_t)(r->p - start);
    f->nreplies = nrep;
    f->nmissing = nmiss;
    return 0;
}

static int
rd_who(struct rd *r, struct frame *f)
{
    uint32_t count;
    if (rd_u32(r, &count) < 0 || count > (size_t)(r->end - r->p) / 3)
        return -EBADMSG;
    const uint8_t *start = r->p;
    for (uint32_t i = 0; i < count; i++) {
        struct frame_bytes n, a;
        uint16_t na;
        if (rd_name(r, FRAME_NAME_MAX, false, &n) < 0 || rd_attrs(r, &a, &na) < 0)
            return -EBADMSG;
    }
    f->list.p = start;
    f->list.len = (size_t)(r->p - start);
    f->count = count;
    return 0;
}

int
frame_peek(const void *buf, size_t len, size_t max_frame, size_t *ret_len)
{
    if (len < 4)
        return 0;
    uint32_t flen = get32(buf);
    if (flen < FRAME_HEADER_SIZE)
        return -EBADMSG;
    if (flen > max_frame || flen > FRAME_MAX_SIZE)
        return -EMSGSIZE;
    *ret_len = flen;
    return 1;
}

ssize_t
frame_decode(const void *buf, size_t len, size_t max_frame, struct frame *ret)
{
    size_t flen;
    int r = frame_peek(buf, len, max_frame, &flen);
    if (r <= 0)
        return r;
    if (len < flen)
        return 0;

    const uint8_t *p = buf;
    struct frame f;
    memset(&f, 0, sizeof(f));
    f.type = p[4];
    f.flags = p[5];
    f.id = get32(p + 8);
    const struct fdesc *d = desc_for(f.type);
    if (!d)
        return -EPROTO;
    if (f.flags & ~(f.type == FRAME_HELLO ? FRAME_F_PEER : 0))
        return -EPROTO;
    if (get16(p + 6) != 0)
        return -EBADMSG;

    struct rd rd = { p + FRAME_HEADER_SIZE, p + flen };
    for (; d->kind != FK_END; d++) {
        void *field = (uint8_t *)&f + d->off;
        int k = 0;
        switch (d->kind) {
        case FK_U8_MODE:
            k = rd_u8(&rd, field);
            if (k == 0 && *(uint8_t *)field > FRAME_MODE_SESSION)
                k = -EBADMSG;
            break;
        case FK_U8_OP:
            k = rd_u8(&rd, field);
            if (k == 0 && *(uint8_t *)field != FRAME_OP_UP && *(uint8_t *)field != FRAME_OP_DOWN)
                k = -EBADMSG;
            break;
        case FK_U16:
            k = rd_u16(&rd, field);
            break;
        case FK_U32:
            k = rd_u32(&rd, field);
            break;
        case FK_NAME:
            k = rd_name(&rd, FRAME_NAME_MAX, false, field);
            break;
        case FK_NAME0:
            k = rd_name(&rd, FRAME_NAME_MAX, true, field);
            break;
        case FK_STR:
            k = rd_bytes16(&rd, FRAME_STR_MAX, field);
            break;
        case FK_BLOB:
            k = rd_blob(&rd, field);
            break;
        case FK_ATTRS:
            k = rd_attrs(&rd, &f.attrs, &f.nattrs);
            break;
        case FK_GATHER:
            k = rd_gather(&rd, &f);
            break;
        case FK_WHO:
            k = rd_who(&rd, &f);
            break;
        }
        if (k < 0)
            return k;
    }
    if (rd.p != rd.end)
        return -EBADMSG;
    *ret = f;
    return (ssize_t)flen;
}

/* Size of one field and whether it is within the protocol limits. */
static int
field_size(const struct frame *f, const struct fdesc *d, size_t *sz)
{
    const void *field = (const uint8_t *)f + d->off;
    const struct frame_bytes *b = field;
    switch (d->kind) {
    case FK_U8_MODE:
        if (f->mode > FRAME_MODE_SESSION)
            return -EINVAL;
        *sz = 1;
        return 0;
    case FK_U8_OP:
        if (f->op != FRAME_OP_UP && f->op != FRAME_OP_DOWN)
            return -EINVAL;
        *sz = 1;
        return 0;
    case FK_U16:
        *sz = 2;
        return 0;
    case FK_U32:
        *sz = 4;
        return 0;
    case FK_NAME0:
    case FK_NAME:
        /* HELLO's name (FK_NAME0) may be empty: the broker assigns one. */
        if (!(d->kind == FK_NAME0 && b->len == 0) && !frame_name_valid(b->p, b->len))
            return -EINVAL;
        *sz = 2 + b->len;
        return 0;
    case FK_STR:
        if (b->len > FRAME_STR_MAX)
            return -EINVAL;
        *sz = 2 + b->len;
        return 0;
    case FK_BLOB:
        if (b->len > FRAME_MAX_SIZE)
            return -EMSGSIZE;
        *sz = 4 + b->len;
        return 0;
    case FK_ATTRS:
        if (f->nattrs > FRAME_ATTRS_MAX || f->attrs.len > FRAME_MAX_SIZE)
            return -EINVAL;
        *sz = 2 + f->attrs.len;
        return 0;
    case FK_GATHER:
        if (f->list.len > FRAME_MAX_SIZE)
            return -EMSGSIZE;
        *sz = 8 + f->list.len;
        return 0;
    case FK_WHO:
        if (f->list.len > FRAME_MAX_SIZE)
            return -EMSGSIZE;
        *sz = 4 + f->list.len;
        return 0;
    }
    return -EINVAL;
}

static ssize_t
frame_size_checked(const struct frame *f)
{
    const struct fdesc *d = desc_for(f->type);
    if (!d)
        return -EINVAL;
    size_t total = FRAME_HEADER_SIZE;
    for (; d->kind != FK_END; d++) {
        size_t sz;
        int r = field_size(f, d, &sz);
        if (r < 0)
            return r;
        total += sz;
        if (total > FRAME_MAX_SIZE)
            return -EMSGSIZE;
    }
    return (ssize_t)total;
}

size_t
frame_size(const struct frame *f)
{
    ssize_t n = frame_size_checked(f);
    return n < 0 ? 0 : (size_t)n;
}

static uint8_t *
wr_bytes16(uint8_t *p, const struct frame_bytes *b)
{
    put16(p, (uint16_t)b->len);
    if (b->len)
        memcpy(p + 2, b->p, b->len);
    return p + 2 + b->len;
}

ssize_t
frame_encode(const struct frame *f, void *buf, size_t cap)
{
    ssize_t total = frame_size_checked(f);
    if (total < 0)
        return total;
    if ((size_t)total > cap)
        return -ENOBUFS;
    if (f->flags & ~(f->type == FRAME_HELLO ? FRAME_F_PEER : 0))
        return -EINVAL;

    uint8_t *p = buf;
    put32(p, (uint32_t)total);
    p[4] = f->type;
    p[5] = f->flags;
    put16(p + 6, 0);
    put32(p + 8, f->id);
    p += FRAME_HEADER_SIZE;
    for (const struct fdesc *d = desc_for(f->type); d->kind != FK_END; d++) {
        const void *field = (const uint8_t *)f + d->off;
        const struct frame_bytes *b = field;
        switch (d->kind) {
        case FK_U8_MODE:
        case FK_U8_OP:
            *p++ = *(const uint8_t *)field;
            break;
        case FK_U16:
            put16(p, *(const uint16_t *)field);
            p += 2;
            break;
        case FK_U32:
            put32(p, *(const uint32_t *)field);
            p += 4;
            break;
        case FK_NAME:
        case FK_NAME0:
        case FK_STR:
            p = wr_bytes16(p, b);
            break;
        case FK_BLOB:
            put32(p, (uint32_t)b->len);
            if (b->len)
                memcpy(p + 4, b->p, b->len);
            p += 4 + b->len;
            break;
        case FK_ATTRS:
            put16(p, f->nattrs);
            if (f->attrs.len)
                memcpy(p + 2, f->attrs.p, f->attrs.len);
            p += 2 + f->attrs.len;
            break;
        case FK_GATHER:
            put32(p, f->nreplies);
            put32(p + 4, f->nmissing);
            if (f->list.len)
                memcpy(p + 8, f->list.p, f->list.len);
            p += 8 + f->list.len;
            break;
        case FK_WHO:
            put32(p, f->count);
            if (f->list.len)
                memcpy(p + 4, f->list.p, f->list.len);
            p += 4 + f->list.len;
            break;
        }
    }
    return total;
}

/* ---- frame_buf ---- */

static int
buf_grow(struct frame_buf *b, size_t extra)
{
    if (extra > FRAME_MAX_SIZE || b->len + extra > FRAME_MAX_SIZE)
        return -EINVAL;
    if (b->len + extra <= b->cap)
        return 0;
    size_t ncap = b->cap ? b->cap : 128;
    while (ncap < b->len + extra)
        ncap *= 2;
    uint8_t *nd = realloc(b->data, ncap);
    if (!nd)
        return -ENOMEM;
    b->data = nd;
    b->cap = ncap;
    return 0;
}

int
frame_buf_put_raw(struct frame_buf *b, const void *p, size_t len)
{
    int r = buf_grow(b, len);
    if (r < 0)
        return r;
    if (len)
        memcpy(b->data + b->len, p, len);
    b->len += len;
    return 0;
}

int
frame_buf_put_u16(struct frame_buf *b, uint16_t v)
{
    uint8_t x[2];
    put16(x, v);
    return frame_buf_put_raw(b, x, 2);
}

int
frame_buf_put_u32(struct frame_buf *b, uint32_t v)
{
    uint8_t x[4];
    put32(x, v);
    return frame_buf_put_raw(b, x, 4);
}

static int
buf_put16len(struct frame_buf *b, const void *p, size_t len)
{
    int r = buf_grow(b, 2 + len);
    if (r < 0)
        return r;
    put16(b->data + b->len, (uint16_t)len);
    if (len)
        memcpy(b->data + b->len + 2, p, len);
    b->len += 2 + len;
    return 0;
}

int
frame_buf_put_name(struct frame_buf *b, const void *p, size_t len)
{
    if (!frame_name_valid(p, len))
        return -EINVAL;
    return buf_put16len(b, p, len);
}

int
frame_buf_put_str(struct frame_buf *b, const void *p, size_t len)
{
    if (len > FRAME_STR_MAX)
        return -EINVAL;
    return buf_put16len(b, p, len);
}

int
frame_buf_put_blob(struct frame_buf *b, const void *p, size_t len)
{
    int r = buf_grow(b, 4 + len);
    if (r < 0)
        return r;
    put32(b->data + b->len, (uint32_t)len);
    if (len)
        memcpy(b->data + b->len + 4, p, len);
    b->len += 4 + len;
    return 0;
}

int
frame_buf_put_attr(struct frame_buf *b, const char *key, const void *val, size_t vlen)
{
    size_t klen = strlen(key);
    if (klen > FRAME_ATTR_KEY_MAX || !frame_name_valid(key, klen) || vlen > FRAME_STR_MAX)
        return -EINVAL;
    size_t old = b->len;
    int r = buf_put16len(b, key, klen);
    if (r == 0)
        r = buf_put16len(b, val, vlen);
    if (r < 0)
        b->len = old;
    return r;
}

void
frame_buf_free(struct frame_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

/* ---- iterators ---- */

void
frame_iter_attrs(struct frame_iter *it, const struct frame *f)
{
    frame_iter_attr_list(it, f->attrs, f->nattrs);
}

void
frame_iter_attr_list(struct frame_iter *it, struct frame_bytes attrs, uint16_t n)
{
    it->p = attrs.p;
    it->end = attrs.p ? attrs.p + attrs.len : attrs.p; /* NULL + 0 is undefined */
    it->left = n;
    it->left2 = 0;
}

int
frame_next_attr(struct frame_iter *it, struct frame_bytes *ret_key, struct frame_bytes *ret_val)
{
    if (it->left == 0)
        return 0;
    struct rd r = { it->p, it->end };
    struct frame_bytes k, v;
    if (rd_name(&r, FRAME_ATTR_KEY_MAX, false, &k) < 0 || rd_bytes16(&r, FRAME_STR_MAX, &v) < 0)
        return -EBADMSG;
    it->p = r.p;
    it->left--;
    *ret_key = k;
    *ret_val = v;
    return 1;
}

void
frame_iter_gather(struct frame_iter *it, const struct frame *f)
{
    it->p = f->list.p;
    it->end = f->list.p ? f->list.p + f->list.len : f->list.p;
    it->left = f->nreplies;
    it->left2 = f->nmissing;
}

int
frame_next_reply(struct frame_iter *it, struct frame_bytes *ret_from,
                 struct frame_bytes *ret_payload)
{
    if (it->left == 0)
        return 0;
    struct rd r = { it->p, it->end };
    struct frame_bytes n, p;
    if (rd_name(&r, FRAME_NAME_MAX, false, &n) < 0 || rd_blob(&r, &p) < 0)
        return -EBADMSG;
    it->p = r.p;
    it->left--;
    *ret_from = n;
    *ret_payload = p;
    return 1;
}

int
frame_next_missing(struct frame_iter *it, struct frame_bytes *ret_name, uint16_t *ret_reason)
{
    /* Skip any replies the caller did not walk. */
    struct frame_bytes a, b;
    int k;
    while ((k = frame_next_reply(it, &a, &b)) > 0)
        ;
    if (k < 0)
        return k;
    if (it->left2 == 0)
        return 0;
    struct rd r = { it->p, it->end };
    struct frame_bytes n;
    uint16_t reason;
    if (rd_name(&r, FRAME_NAME_MAX, false, &n) < 0 || rd_u16(&r, &reason) < 0)
        return -EBADMSG;
    it->p = r.p;
    it->left2--;
    *ret_name = n;
    *ret_reason = reason;
    return 1;
}

void
frame_iter_who(struct frame_iter *it, const struct frame *f)
{
    it->p = f->list.p;
    it->end = f->list.p ? f->list.p + f->list.len : f->list.p;
    it->left = f->count;
    it->left2 = 0;
}

int
frame_next_member(struct frame_iter *it, struct frame_bytes *ret_name,
                  struct frame_bytes *ret_attrs, uint16_t *ret_nattrs)
{
    if (it->left == 0)
        return 0;
    struct rd r = { it->p, it->end };
    struct frame_bytes n, a;
    uint16_t na;
    if (rd_name(&r, FRAME_NAME_MAX, false, &n) < 0 || rd_attrs(&r, &a, &na) < 0)
        return -EBADMSG;
    it->p = r.p;
    it->left--;
    *ret_name = n;
    *ret_attrs = a;
    *ret_nattrs = na;
    return 1;
}

const char *
frame_type_name(uint8_t type)
{
    switch (type) {
    case FRAME_HELLO:
        return "HELLO";
    case FRAME_WELCOME:
        return "WELCOME";
    case FRAME_ERROR:
        return "ERROR";
    case FRAME_OK:
        return "OK";
    case FRAME_PING:
        return "PING";
    case FRAME_PONG:
        return "PONG";
    case FRAME_JOIN:
        return "JOIN";
    case FRAME_LEAVE:
        return "LEAVE";
    case FRAME_MSG:
        return "MSG";
    case FRAME_DIRECT:
        return "DIRECT";
    case FRAME_REQUEST:
        return "REQUEST";
    case FRAME_REPLY:
        return "REPLY";
    case FRAME_GATHER_RESULT:
        return "GATHER_RESULT";
    case FRAME_WHO:
        return "WHO";
    case FRAME_WHO_RESULT:
        return "WHO_RESULT";
    case FRAME_PRESENCE:
        return "PRESENCE";
    case FRAME_STATS:
        return "STATS";
    case FRAME_STATS_RESULT:
        return "STATS_RESULT";
    case FRAME_PEER_SESSION:
        return "PEER_SESSION";
    case FRAME_PEER_MEMBER:
        return "PEER_MEMBER";
    }
    return "?";
}

const char *
frame_error_name(uint16_t code)
{
    static const char *const names[] = {
        [FRAME_E_BAD_FRAME] = "BAD_FRAME",
        [FRAME_E_BAD_VERSION] = "BAD_VERSION",
        [FRAME_E_AUTH] = "AUTH",
        [FRAME_E_NAME_TAKEN] = "NAME_TAKEN",
        [FRAME_E_NO_SESSION] = "NO_SESSION",
        [FRAME_E_NO_MEMBERS] = "NO_MEMBERS",
        [FRAME_E_TIMEOUT] = "TIMEOUT",
        [FRAME_E_GONE] = "GONE",
        [FRAME_E_OVERFLOW] = "OVERFLOW",
        [FRAME_E_TOO_BIG] = "TOO_BIG",
        [FRAME_E_LIMIT] = "LIMIT",
        [FRAME_E_NOT_MEMBER] = "NOT_MEMBER",
        [FRAME_E_PROTOCOL] = "PROTOCOL",
        [FRAME_E_PEER_DOWN] = "PEER_DOWN",
        [FRAME_E_SHUTDOWN] = "SHUTDOWN",
    };
    if (code < sizeof(names) / sizeof(names[0]) && names[code])
        return names[code];
    return "?";
}
