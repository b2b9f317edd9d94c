/* SPDX-License-Identifier: Apache-2.0 */
/*
 * middlecon frame codec: the wire format of docs/middlecon-protocol.md.
 *
 * Decoding is zero-copy: frame_decode() fills a struct frame whose byte
 * fields are views into the caller's input buffer (valid as long as that
 * buffer is), after validating the whole frame strictly. Lists (attributes,
 * gather results, WHO results) stay in wire form and are walked with the
 * frame_next_*() iterators, which cannot fail on a decoded frame.
 *
 * Encoding writes a whole frame into a caller buffer; list fields are copied
 * verbatim from wire-form bytes built with struct frame_buf.
 *
 * Pure functions with no global state: usable from any thread. Errors are
 * bare -errno, no strings (the bus is a hot path).
 */
#ifndef KUMO_MIDDLECON_FRAME_H
#define KUMO_MIDDLECON_FRAME_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define FRAME_VERSION        1
#define FRAME_HEADER_SIZE    12
#define FRAME_MAX_SIZE       (16u << 20) /* protocol maximum */
#define FRAME_DEFAULT_MAX    (1u << 20)  /* broker default */
#define FRAME_NAME_MAX       255
#define FRAME_STR_MAX        1024
#define FRAME_ATTRS_MAX      32
#define FRAME_ATTR_KEY_MAX   64
#define FRAME_TIMEOUT_MAX_MS 600000u

/* Header flags. */
#define FRAME_F_PEER 0x01 /* HELLO only: broker-to-broker link */

enum frame_type {
    FRAME_HELLO = 0x01,
    FRAME_WELCOME = 0x02,
    FRAME_ERROR = 0x03,
    FRAME_OK = 0x04,
    FRAME_PING = 0x05,
    FRAME_PONG = 0x06,
    FRAME_JOIN = 0x10,
    FRAME_LEAVE = 0x11,
    FRAME_MSG = 0x12,
    FRAME_DIRECT = 0x13,
    FRAME_REQUEST = 0x20,
    FRAME_REPLY = 0x21,
    FRAME_GATHER_RESULT = 0x22,
    FRAME_WHO = 0x30,
    FRAME_WHO_RESULT = 0x31,
    FRAME_PRESENCE = 0x32,
    FRAME_STATS = 0x40,
    FRAME_STATS_RESULT = 0x41,
    FRAME_PEER_SESSION = 0x50,
    FRAME_PEER_MEMBER = 0x51,
};

/* ERROR codes; TIMEOUT..PEER_DOWN double as GATHER_RESULT missing reasons. */
enum frame_errcode {
    FRAME_E_BAD_FRAME = 1,
    FRAME_E_BAD_VERSION = 2,
    FRAME_E_AUTH = 3,
    FRAME_E_NAME_TAKEN = 4,
    FRAME_E_NO_SESSION = 5,
    FRAME_E_NO_MEMBERS = 6,
    FRAME_E_TIMEOUT = 7,
    FRAME_E_GONE = 8,
    FRAME_E_OVERFLOW = 9,
    FRAME_E_TOO_BIG = 10,
    FRAME_E_LIMIT = 11,
    FRAME_E_NOT_MEMBER = 12,
    FRAME_E_PROTOCOL = 13,
    FRAME_E_PEER_DOWN = 14,
    FRAME_E_SHUTDOWN = 15,
};

enum frame_mode {
    FRAME_MODE_ALL = 0,     /* gather from every member of a room */
    FRAME_MODE_ANY = 1,     /* one member of a room, round-robin */
    FRAME_MODE_SESSION = 2, /* one named session */
};

/* PRESENCE events and PEER_* ops share the values. */
enum frame_op {
    FRAME_OP_UP = 1, /* join / session up */
    FRAME_OP_DOWN = 2,
};

/* A view of bytes (not NUL-terminated). */
struct frame_bytes {
    const uint8_t *p;
    size_t len;
};

/*
 * A decoded frame, or the description of one to encode. Which fields a type
 * uses (all others are ignored by the encoder and zeroed by the decoder):
 *   HELLO          version, max_frame, name (may be empty), token, attrs
 *   WELCOME        version, max_frame, keepalive_ms, name (session), broker
 *   ERROR          code, subject, message
 *   OK PING PONG STATS   -
 *   JOIN LEAVE WHO room
 *   MSG            room, from, payload
 *   DIRECT         name (recipient), from, payload
 *   REQUEST        mode, timeout_ms, name (room or session), from, payload
 *   REPLY          from, payload
 *   GATHER_RESULT  nreplies, nmissing, list
 *   WHO_RESULT     room, count, list
 *   PRESENCE       op, room, name, attrs
 *   STATS_RESULT   payload (JSON)
 *   PEER_SESSION   op, name, attrs
 *   PEER_MEMBER    op, room, name
 */
struct frame {
    uint8_t type;
    uint8_t flags;
    uint32_t id;

    uint16_t version;
    uint16_t code;
    uint8_t mode;
    uint8_t op;
    uint32_t max_frame;
    uint32_t keepalive_ms;
    uint32_t timeout_ms;

    struct frame_bytes name;
    struct frame_bytes room;
    struct frame_bytes from;
    struct frame_bytes token;
    struct frame_bytes broker;
    struct frame_bytes subject;
    struct frame_bytes message;
    struct frame_bytes payload;

    /* attrs: nattrs × (name key, str value), wire form */
    struct frame_bytes attrs;
    uint16_t nattrs;
    /* GATHER_RESULT: nreplies × (name, blob) then nmissing × (name, u16);
     * WHO_RESULT: count × (name, attrs); wire form */
    struct frame_bytes list;
    uint32_t nreplies;
    uint32_t nmissing;
    uint32_t count;
};

/*
 * Look at the start of a stream buffer. Returns 0 when fewer than 4 bytes are
 * there, 1 with *ret_len = total length of the first frame, -EBADMSG when the
 * length is below the header size, -EMSGSIZE when it exceeds max_frame.
 */
int frame_peek(const void *buf, size_t len, size_t max_frame, size_t *ret_len);

/*
 * Decode the first frame of buf[0..len). Returns its length (> 0) with *ret
 * filled (views into buf), 0 when the frame is not complete yet, or
 * -EMSGSIZE (longer than max_frame), -EBADMSG (malformed), -EPROTO (unknown
 * type, undefined flag). *ret is written only on success.
 */
ssize_t frame_decode(const void *buf, size_t len, size_t max_frame, struct frame *ret);

/* Exact encoded size of f, or 0 when f->type is unknown. */
size_t frame_size(const struct frame *f);

/*
 * Encode f into buf. Returns the length written, -ENOBUFS when cap is too
 * small, -EINVAL when a field violates the protocol limits (bad name, string
 * too long, unknown type), -EMSGSIZE above FRAME_MAX_SIZE. List fields are
 * copied as given (build them with frame_buf, decode validates them).
 */
ssize_t frame_encode(const struct frame *f, void *buf, size_t cap);

/* True if b is a valid name: 1..255 bytes in 0x21..0x7e. */
int frame_name_valid(const void *p, size_t len);

/* Growable wire-form buffer for attrs and result lists. free() .data. */
struct frame_buf {
    uint8_t *data;
    size_t len;
    size_t cap;
};

/* Appends; 0, -EINVAL (limit violated) or -ENOMEM. */
int frame_buf_put_u16(struct frame_buf *b, uint16_t v);
int frame_buf_put_u32(struct frame_buf *b, uint32_t v);
int frame_buf_put_name(struct frame_buf *b, const void *p, size_t len);
int frame_buf_put_str(struct frame_buf *b, const void *p, size_t len);
int frame_buf_put_blob(struct frame_buf *b, const void *p, size_t len);
int frame_buf_put_raw(struct frame_buf *b, const void *p, size_t len);
/* One attribute (name key of at most 64 bytes, str value). */
int frame_buf_put_attr(struct frame_buf *b, const char *key, const void *val, size_t vlen);
void frame_buf_free(struct frame_buf *b);

/*
 * Iterators over list fields of a decoded frame. Each returns 1 with the
 * next item, 0 at the end, -EBADMSG if the bytes are malformed (only for
 * lists that did not come from frame_decode).
 */
struct frame_iter {
    const uint8_t *p;
    const uint8_t *end;
    uint32_t left;  /* items left in the current section */
    uint32_t left2; /* GATHER_RESULT: missing entries after the replies */
};

void frame_iter_attrs(struct frame_iter *it, const struct frame *f);
int frame_next_attr(struct frame_iter *it, struct frame_bytes *ret_key,
                    struct frame_bytes *ret_val);
/* Attribute lists nested in WHO_RESULT members. */
void frame_iter_attr_list(struct frame_iter *it, struct frame_bytes attrs, uint16_t n);

void frame_iter_gather(struct frame_iter *it, const struct frame *f);
/* Replies first; returns 0 when the replies are exhausted. */
int frame_next_reply(struct frame_iter *it, struct frame_bytes *ret_from,
                     struct frame_bytes *ret_payload);
/* Then the missing members (call after frame_next_reply returned 0). */
int frame_next_missing(struct frame_iter *it, struct frame_bytes *ret_name, uint16_t *ret_reason);

void frame_iter_who(struct frame_iter *it, const struct frame *f);
int frame_next_member(struct frame_iter *it, struct frame_bytes *ret_name,
                      struct frame_bytes *ret_attrs, uint16_t *ret_nattrs);

/* Static names for logs and CLIs ("MSG", "TIMEOUT"); "?" when unknown. */
const char *frame_type_name(uint8_t type);
const char *frame_error_name(uint16_t code);

#endif
