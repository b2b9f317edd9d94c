/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for the middlecon frame codec (src/middlecon/frame.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "frame.h"

#define B(s) ((struct frame_bytes){ (const uint8_t *)(s), sizeof(s) - 1 })

static size_t
enc(const struct frame *f, uint8_t *buf, size_t cap)
{
    ssize_t n = frame_encode(f, buf, cap);
    assert_true(n >= FRAME_HEADER_SIZE);
    assert_int_equal((size_t)n, frame_size(f));
    return (size_t)n;
}

static void
assert_bytes(struct frame_bytes a, struct frame_bytes b)
{
    assert_int_equal(a.len, b.len);
    if (a.len)
        assert_memory_equal(a.p, b.p, a.len);
}

/* The HELLO example in docs/middlecon-protocol.md, byte for byte. */
static void
test_doc_example(void **state)
{
    (void)state;
    static const uint8_t want[] = { 0x00, 0x00, 0x00, 0x28, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00,
                                    0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02,
                                    'w',  '1',  0x00, 0x00, 0x00, 0x01, 0x00, 0x04, 'r',  'o',
                                    'l',  'e',  0x00, 0x06, 'w',  'o',  'r',  'k',  'e',  'r' };
    struct frame_buf ab = { 0 };
    assert_int_equal(frame_buf_put_attr(&ab, "role", "worker", 6), 0);
    struct frame f = { .type = FRAME_HELLO, .id = 1, .version = 1, .name = B("w1") };
    f.attrs = (struct frame_bytes){ ab.data, ab.len };
    f.nattrs = 1;
    uint8_t buf[128];
    size_t n = enc(&f, buf, sizeof(buf));
    assert_int_equal(n, sizeof(want));
    assert_memory_equal(buf, want, sizeof(want));
    frame_buf_free(&ab);

    struct frame d;
    assert_int_equal(frame_decode(want, sizeof(want), FRAME_DEFAULT_MAX, &d), sizeof(want));
    assert_int_equal(d.type, FRAME_HELLO);
    assert_int_equal(d.id, 1);
    assert_int_equal(d.version, 1);
    assert_bytes(d.name, B("w1"));
    assert_int_equal(d.token.len, 0);
    struct frame_iter it;
    struct frame_bytes k, v;
    frame_iter_attrs(&it, &d);
    assert_int_equal(frame_next_attr(&it, &k, &v), 1);
    assert_bytes(k, B("role"));
    assert_bytes(v, B("worker"));
    assert_int_equal(frame_next_attr(&it, &k, &v), 0);
}

/* Every simple type survives encode/decode with its fields intact. */
static void
test_roundtrip_all(void **state)
{
    (void)state;
    struct frame fs[] = {
        { .type = FRAME_WELCOME,
          .id = 7,
          .version = 1,
          .max_frame = 4096,
          .keepalive_ms = 30000,
          .name = B("anon-1"),
          .broker = B("b1") },
        { .type = FRAME_ERROR,
          .id = 9,
          .code = FRAME_E_NAME_TAKEN,
          .subject = B("w1"),
          .message = B("name 'w1' is taken") },
        { .type = FRAME_OK, .id = 3 },
        { .type = FRAME_PING, .id = 4 },
        { .type = FRAME_PONG, .id = 4 },
        { .type = FRAME_STATS, .id = 5 },
        { .type = FRAME_JOIN, .id = 1, .room = B("room.a") },
        { .type = FRAME_LEAVE, .room = B("room.a") },
        { .type = FRAME_WHO, .id = 2, .room = B("r") },
        { .type = FRAME_MSG, .room = B("r"), .from = B("alice"), .payload = B("hello\0world") },
        { .type = FRAME_DIRECT, .name = B("bob"), .payload = B("") },
        { .type = FRAME_REQUEST,
          .id = 0xffffffffu,
          .mode = FRAME_MODE_ANY,
          .timeout_ms = 250,
          .name = B("workers"),
          .from = B("x"),
          .payload = B("q?") },
        { .type = FRAME_REPLY, .id = 17, .payload = B("answer") },
        { .type = FRAME_STATS_RESULT, .id = 5, .payload = B("{\"sessions\":1}") },
        { .type = FRAME_PRESENCE, .op = FRAME_OP_DOWN, .room = B("r"), .name = B("alice") },
        { .type = FRAME_PEER_SESSION, .op = FRAME_OP_UP, .name = B("alice") },
        { .type = FRAME_PEER_MEMBER, .op = FRAME_OP_UP, .room = B("r"), .name = B("alice") },
        { .type = FRAME_HELLO,
          .flags = FRAME_F_PEER,
          .version = 1,
          .name = B("broker-1"),
          .token = B("s3cret") },
    };
    for (size_t i = 0; i < sizeof(fs) / sizeof(fs[0]); i++) {
        uint8_t buf[256];
        size_t n = enc(&fs[i], buf, sizeof(buf));
        struct frame d;
        assert_int_equal(frame_decode(buf, n, FRAME_DEFAULT_MAX, &d), (ssize_t)n);
        assert_int_equal(d.type, fs[i].type);
        assert_int_equal(d.flags, fs[i].flags);
        assert_int_equal(d.id, fs[i].id);
        assert_int_equal(d.version, fs[i].version);
        assert_int_equal(d.code, fs[i].code);
        assert_int_equal(d.mode, fs[i].mode);
        assert_int_equal(d.op, fs[i].op);
        assert_int_equal(d.max_frame, fs[i].max_frame);
        assert_int_equal(d.keepalive_ms, fs[i].keepalive_ms);
        assert_int_equal(d.timeout_ms, fs[i].timeout_ms);
        assert_bytes(d.name, fs[i].name);
        assert_bytes(d.room, fs[i].room);
        assert_bytes(d.from, fs[i].from);
        assert_bytes(d.token, fs[i].token);
        assert_bytes(d.broker, fs[i].broker);
        assert_bytes(d.subject, fs[i].subject);
        assert_bytes(d.message, fs[i].message);
        assert_bytes(d.payload, fs[i].payload);
        /* Every shorter prefix is "incomplete", never an error. */
        for (size_t k = 0; k < n; k++)
            assert_int_equal(frame_decode(buf, k, FRAME_DEFAULT_MAX, &d), 0);
    }
}

/* Decoded byte fields point into the input buffer (no copies). */
static void
test_zero_copy(void **state)
{
    (void)state;
    struct frame f = { .type = FRAME_MSG, .room = B("r"), .payload = B("payload bytes") };
    uint8_t buf[64];
    size_t n = enc(&f, buf, sizeof(buf));
    struct frame d;
    assert_int_equal(frame_decode(buf, n, FRAME_DEFAULT_MAX, &d), (ssize_t)n);
    assert_ptr_equal(d.payload.p, buf + n - 13);
    assert_ptr_equal(d.room.p, buf + FRAME_HEADER_SIZE + 2);
}

/* Two frames back to back decode one at a time. */
static void
test_stream(void **state)
{
    (void)state;
    struct frame a = { .type = FRAME_PING, .id = 1 };
    struct frame b = { .type = FRAME_JOIN, .id = 2, .room = B("x") };
    uint8_t buf[64];
    size_t n1 = enc(&a, buf, sizeof(buf));
    size_t n2 = enc(&b, buf + n1, sizeof(buf) - n1);
    struct frame d;
    assert_int_equal(frame_decode(buf, n1 + n2, FRAME_DEFAULT_MAX, &d), (ssize_t)n1);
    assert_int_equal(d.type, FRAME_PING);
    assert_int_equal(frame_decode(buf + n1, n2, FRAME_DEFAULT_MAX, &d), (ssize_t)n2);
    assert_int_equal(d.type, FRAME_JOIN);
    assert_int_equal(d.id, 2);
}

static void
test_gather_result(void **state)
{
    (void)state;
    struct frame_buf lb = { 0 };
    assert_int_equal(frame_buf_put_name(&lb, "m1", 2), 0);
    assert_int_equal(frame_buf_put_blob(&lb, "r1", 2), 0);
    assert_int_equal(frame_buf_put_name(&lb, "m2", 2), 0);
    assert_int_equal(frame_buf_put_blob(&lb, "", 0), 0);
    assert_int_equal(frame_buf_put_name(&lb, "m3", 2), 0);
    assert_int_equal(frame_buf_put_u16(&lb, FRAME_E_TIMEOUT), 0);
    struct frame f = { .type = FRAME_GATHER_RESULT, .id = 42, .nreplies = 2, .nmissing = 1 };
    f.list = (struct frame_bytes){ lb.data, lb.len };
    uint8_t buf[128];
    size_t n = enc(&f, buf, sizeof(buf));
    frame_buf_free(&lb);

    struct frame d;
    assert_int_equal(frame_decode(buf, n, FRAME_DEFAULT_MAX, &d), (ssize_t)n);
    assert_int_equal(d.nreplies, 2);
    assert_int_equal(d.nmissing, 1);
    struct frame_iter it;
    struct frame_bytes name, p;
    uint16_t reason;
    frame_iter_gather(&it, &d);
    assert_int_equal(frame_next_reply(&it, &name, &p), 1);
    assert_bytes(name, B("m1"));
    assert_bytes(p, B("r1"));
    assert_int_equal(frame_next_reply(&it, &name, &p), 1);
    assert_bytes(name, B("m2"));
    assert_int_equal(p.len, 0);
    assert_int_equal(frame_next_reply(&it, &name, &p), 0);
    assert_int_equal(frame_next_missing(&it, &name, &reason), 1);
    assert_bytes(name, B("m3"));
    assert_int_equal(reason, FRAME_E_TIMEOUT);
    assert_int_equal(frame_next_missing(&it, &name, &reason), 0);

    /* frame_next_missing skips replies the caller did not walk. */
    frame_iter_gather(&it, &d);
    assert_int_equal(frame_next_missing(&it, &name, &reason), 1);
    assert_bytes(name, B("m3"));

    /* A count the body cannot hold is malformed, found without looping. */
    buf[FRAME_HEADER_SIZE] = 0xff;
    assert_int_equal(frame_decode(buf, n, FRAME_DEFAULT_MAX, &d), -EBADMSG);
}

static void
test_who_result(void **state)
{
    (void)state;
    struct frame_buf lb = { 0 };
    assert_int_equal(frame_buf_put_name(&lb, "a", 1), 0);
    assert_int_equal(frame_buf_put_u16(&lb, 2), 0);
    assert_int_equal(frame_buf_put_attr(&lb, "host", "h1", 2), 0);
    assert_int_equal(frame_buf_put_attr(&lb, "pid", "12", 2), 0);
    assert_int_equal(frame_buf_put_name(&lb, "b", 1), 0);
    assert_int_equal(frame_buf_put_u16(&lb, 0), 0);
    struct frame f = { .type = FRAME_WHO_RESULT, .id = 1, .room = B("r"), .count = 2 };
    f.list = (struct frame_bytes){ lb.data, lb.len };
    uint8_t buf[128];
    size_t n = enc(&f, buf, sizeof(buf));
    frame_buf_free(&lb);

    struct frame d;
    assert_int_equal(frame_decode(buf, n, FRAME_DEFAULT_MAX, &d), (ssize_t)n);
    struct frame_iter it, ai;
    struct frame_bytes name, attrs, k, v;
    uint16_t na;
    frame_iter_who(&it, &d);
    assert_int_equal(frame_next_member(&it, &name, &attrs, &na), 1);
    assert_bytes(name, B("a"));
    assert_int_equal(na, 2);
    frame_iter_attr_list(&ai, attrs, na);
    assert_int_equal(frame_next_attr(&ai, &k, &v), 1);
    assert_bytes(k, B("host"));
    assert_bytes(v, B("h1"));
    assert_int_equal(frame_next_attr(&ai, &k, &v), 1);
    assert_bytes(k, B("pid"));
    assert_int_equal(frame_next_attr(&ai, &k, &v), 0);
    assert_int_equal(frame_next_member(&it, &name, &attrs, &na), 1);
    assert_bytes(name, B("b"));
    assert_int_equal(na, 0);
    assert_int_equal(frame_next_member(&it, &name, &attrs, &na), 0);
}

static void
test_sizes(void **state)
{
    (void)state;
    uint8_t hdr[FRAME_HEADER_SIZE] = { 0, 0, 0, 11, FRAME_PING };
    struct frame d;
    size_t len;
    /* Shorter than a header. */
    assert_int_equal(frame_decode(hdr, sizeof(hdr), FRAME_DEFAULT_MAX, &d), -EBADMSG);
    assert_int_equal(frame_peek(hdr, 3, FRAME_DEFAULT_MAX, &len), 0);
    /* Over the negotiated maximum, and over the protocol maximum, known from
     * the first four bytes alone. */
    hdr[3] = 0;
    hdr[1] = 0x10; /* 1 MiB */
    assert_int_equal(frame_peek(hdr, 4, FRAME_DEFAULT_MAX, &len), 1);
    assert_int_equal(len, 1u << 20);
    assert_int_equal(frame_peek(hdr, 4, 4096, &len), -EMSGSIZE);
    assert_int_equal(frame_decode(hdr, 4, 4096, &d), -EMSGSIZE);
    hdr[0] = 0x01; /* 16 MiB + 1 MiB */
    assert_int_equal(frame_decode(hdr, 4, SIZE_MAX, &d), -EMSGSIZE);

    /* Encoding into a short buffer. */
    struct frame f = { .type = FRAME_MSG, .room = B("r"), .payload = B("0123456789") };
    uint8_t small[16];
    assert_int_equal(frame_encode(&f, small, sizeof(small)), -ENOBUFS);
}

static void
test_bad_frames(void **state)
{
    (void)state;
    struct frame f = { .type = FRAME_JOIN, .id = 1, .room = B("room") };
    uint8_t good[64], buf[64];
    size_t n = enc(&f, good, sizeof(good));
    struct frame d;

    memcpy(buf, good, n);
    buf[4] = 0x7f; /* unknown type */
    assert_int_equal(frame_decode(buf, n, FRAME_DEFAULT_MAX, &d), -EPROTO);
    memcpy(buf, good, n);
    buf[5] = FRAME_F_PEER; /* flag only allowed on HELLO */
    assert_int_equal(frame_decode(buf, n, FRAME_DEFAULT_MAX, &d), -EPROTO);
    memcpy(buf, good, n);
    buf[7] = 1; /* reserved */
    assert_int_equal(frame_decode(buf, n, FRAME_DEFAULT_MAX, &d), -EBADMSG);
    memcpy(buf, good, n);
    buf[FRAME_HEADER_SIZE + 2] = ' '; /* space in a name */
    assert_int_equal(frame_decode(buf, n, FRAME_DEFAULT_MAX, &d), -EBADMSG);
    memcpy(buf, good, n);
    buf[FRAME_HEADER_SIZE + 1] = 5; /* name runs past the end */
    assert_int_equal(frame_decode(buf, n, FRAME_DEFAULT_MAX, &d), -EBADMSG);
    memcpy(buf, good, n);
    buf[FRAME_HEADER_SIZE + 1] = 0; /* empty name */
    assert_int_equal(frame_decode(buf, n, FRAME_DEFAULT_MAX, &d), -EBADMSG);
    memcpy(buf, good, n);
    buf[n] = 0; /* one trailing byte inside the frame */
    buf[3] = (uint8_t)(n + 1);
    assert_int_equal(frame_decode(buf, n + 1, FRAME_DEFAULT_MAX, &d), -EBADMSG);

    /* Bad REQUEST mode and PRESENCE op. */
    struct frame r = { .type = FRAME_REQUEST, .id = 1, .name = B("r") };
    n = enc(&r, buf, sizeof(buf));
    buf[FRAME_HEADER_SIZE] = 3;
    assert_int_equal(frame_decode(buf, n, FRAME_DEFAULT_MAX, &d), -EBADMSG);
    struct frame p = { .type = FRAME_PRESENCE, .op = FRAME_OP_UP, .room = B("r"), .name = B("n") };
    n = enc(&p, buf, sizeof(buf));
    buf[FRAME_HEADER_SIZE] = 0;
    assert_int_equal(frame_decode(buf, n, FRAME_DEFAULT_MAX, &d), -EBADMSG);

    /* Blob length past the end. */
    struct frame m = { .type = FRAME_MSG, .room = B("r"), .payload = B("abc") };
    n = enc(&m, buf, sizeof(buf));
    buf[n - 4] = 4;
    assert_int_equal(frame_decode(buf, n, FRAME_DEFAULT_MAX, &d), -EBADMSG);
}

static void
test_attr_limits(void **state)
{
    (void)state;
    struct frame_buf ab = { 0 };
    for (int i = 0; i < FRAME_ATTRS_MAX + 1; i++)
        assert_int_equal(frame_buf_put_attr(&ab, "k", "v", 1), 0);
    struct frame f = { .type = FRAME_PEER_SESSION, .op = FRAME_OP_UP, .name = B("s") };
    f.attrs = (struct frame_bytes){ ab.data, ab.len };
    f.nattrs = FRAME_ATTRS_MAX + 1;
    uint8_t buf[512];
    assert_int_equal(frame_encode(&f, buf, sizeof(buf)), -EINVAL);
    /* Hand-craft the count to get past the encoder. */
    f.nattrs = FRAME_ATTRS_MAX;
    f.attrs.len -= 6;
    ssize_t n = frame_encode(&f, buf, sizeof(buf));
    assert_true(n > 0);
    struct frame d;
    assert_int_equal(frame_decode(buf, (size_t)n, FRAME_DEFAULT_MAX, &d), n);
    size_t cnt_off = FRAME_HEADER_SIZE + 1 + 2 + 1;
    buf[cnt_off + 1] = FRAME_ATTRS_MAX + 1;
    assert_int_equal(frame_decode(buf, (size_t)n, FRAME_DEFAULT_MAX, &d), -EBADMSG);

    /* Keys longer than 64 bytes or with spaces are refused. */
    char key[80];
    memset(key, 'k', sizeof(key) - 1);
    key[sizeof(key) - 1] = '\0';
    assert_int_equal(frame_buf_put_attr(&ab, key, "", 0), -EINVAL);
    assert_int_equal(frame_buf_put_attr(&ab, "a b", "", 0), -EINVAL);
    frame_buf_free(&ab);
}

static void
test_encode_rejects(void **state)
{
    (void)state;
    uint8_t buf[2048];
    char longname[FRAME_NAME_MAX + 2];
    memset(longname, 'n', sizeof(longname));
    struct frame f = { .type = FRAME_JOIN, .room = { (const uint8_t *)longname, FRAME_NAME_MAX } };
    assert_true(frame_encode(&f, buf, sizeof(buf)) > 0);
    f.room.len = FRAME_NAME_MAX + 1;
    assert_int_equal(frame_encode(&f, buf, sizeof(buf)), -EINVAL);
    f.room.len = 0;
    assert_int_equal(frame_encode(&f, buf, sizeof(buf)), -EINVAL);
    f.type = 0x77;
    assert_int_equal(frame_encode(&f, buf, sizeof(buf)), -EINVAL);
    assert_int_equal(frame_size(&f), 0);
    struct frame e = { .type = FRAME_ERROR,
                       .message = { (const uint8_t *)buf, FRAME_STR_MAX + 1 } };
    assert_int_equal(frame_encode(&e, buf, sizeof(buf)), -EINVAL);
    struct frame h = { .type = FRAME_JOIN, .flags = FRAME_F_PEER, .room = B("r") };
    assert_int_equal(frame_encode(&h, buf, sizeof(buf)), -EINVAL);
    /* HELLO may carry an empty name (the broker assigns one). */
    struct frame hello = { .type = FRAME_HELLO, .version = 1 };
    assert_true(frame_encode(&hello, buf, sizeof(buf)) > 0);
}

static void
test_names(void **state)
{
    (void)state;
    assert_string_equal(frame_type_name(FRAME_GATHER_RESULT), "GATHER_RESULT");
    assert_string_equal(frame_type_name(0xee), "?");
    assert_string_equal(frame_error_name(FRAME_E_TIMEOUT), "TIMEOUT");
    assert_string_equal(frame_error_name(0), "?");
    assert_string_equal(frame_error_name(999), "?");
    assert_true(frame_name_valid("a.b-c_d:e/f@g", 13));
    assert_false(frame_name_valid("a\x7f", 2));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_doc_example),   cmocka_unit_test(test_roundtrip_all),
        cmocka_unit_test(test_zero_copy),     cmocka_unit_test(test_stream),
        cmocka_unit_test(test_gather_result), cmocka_unit_test(test_who_result),
        cmocka_unit_test(test_sizes),         cmocka_unit_test(test_bad_frames),
        cmocka_unit_test(test_attr_limits),   cmocka_unit_test(test_encode_rejects),
        cmocka_unit_test(test_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
