/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libmiddlecon unit tests. Each test runs the client against a scripted
 * fake broker: a thread that accepts on a Unix socket and speaks the wire
 * protocol through the frame codec, checking what the client sends and
 * answering as a broker would. No real broker is needed.
 */
#include "frame.h"
#include "middlecon.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

/* ---- Fake broker -------------------------------------------------------- */

struct fake;
typedef void (*script_fn)(struct fake *fb);

struct fake {
    int lfd;
    int fd;
    char path[108];
    char addr[128];
    pthread_t th;
    script_fn script;
    int failed; /* line of the first failed check, 0 = all good */
    uint8_t buf[1 << 16];
    size_t len;
    size_t consumed; /* bytes of the last frame read, dropped by the next read */
    struct frame f;  /* last frame read */
    uint32_t max_frame;
};

/* Checks inside the broker thread: cmocka's assertions belong to the main thread. */
#define CHECK(cond)                                                                        \
    do {                                                                                   \
        if (!(cond)) {                                                                     \
            if (!fb->failed)                                                               \
                fb->failed = __LINE__;                                                     \
            fprintf(stderr, "fake broker: check failed: %s (line %d)\n", #cond, __LINE__); \
            return;                                                                        \
        }                                                                                  \
    } while (0)

static bool
bytes_eq(struct frame_bytes b, const char *s)
{
    return b.len == strlen(s) && memcmp(b.p, s, b.len) == 0;
}

static struct frame_bytes
bs(const char *s)
{
    struct frame_bytes b = { (const uint8_t *)s, strlen(s) };
    return b;
}

static int
fb_accept(struct fake *fb)
{
    struct pollfd p = { fb->lfd, POLLIN, 0 };
    if (poll(&p, 1, 5000) != 1)
        return -ETIMEDOUT;
    fb->fd = accept4(fb->lfd, NULL, NULL, SOCK_CLOEXEC);
    fb->len = 0;
    fb->consumed = 0;
    return fb->fd < 0 ? -errno : 0;
}

/* Read the next frame into fb->f (views into fb->buf, valid until the next read). */
static int
fb_read(struct fake *fb, int timeout_ms)
{
    if (fb->consumed) {
        memmove(fb->buf, fb->buf + fb->consumed, fb->len - fb->consumed);
        fb->len -= fb->consumed;
        fb->consumed = 0;
    }
    for (;;) {
        ssize_t r = frame_decode(fb->buf, fb->len, FRAME_MAX_SIZE, &fb->f);
        if (r < 0)
            return (int)r;
        if (r > 0) {
            fb->consumed = (size_t)r;
            return 0;
        }
        struct pollfd p = { fb->fd, POLLIN, 0 };
        if (poll(&p, 1, timeout_ms) != 1)
            return -ETIMEDOUT;
        ssize_t n = read(fb->fd, fb->buf + fb->len, sizeof(fb->buf) - fb->len);
        if (n <= 0)
            return n == 0 ? -ECONNRESET : -errno;
        fb->len += (size_t)n;
    }
}

static int
fb_send(struct fake *fb, const struct frame *f)
{
    uint8_t out[1 << 16];
    ssize_t n = frame_encode(f, out, sizeof(out));
    if (n < 0)
        return (int)n;
    return write(fb->fd, out, (size_t)n) == n ? 0 : -EIO;
}

static void
fb_close(struct fake *fb)
{
    if (fb->fd >= 0)
        close(fb->fd);
    fb->fd = -1;
}

/* Accept, read HELLO, answer WELCOME with the requested name (or "anon-1"). */
static void
fb_handshake(struct fake *fb)
{
    CHECK(fb_accept(fb) == 0);
    CHECK(fb_read(fb, 5000) == 0);
    CHECK(fb->f.type == FRAME_HELLO);
    CHECK(fb->f.version == FRAME_VERSION);
    char name[256] = "anon-1";
    if (fb->f.name.len) {
        memcpy(name, fb->f.name.p, fb->f.name.len);
        name[fb->f.name.len] = 0;
    }
    struct frame w = { .type = FRAME_WELCOME, .id = fb->f.id, .version = FRAME_VERSION };
    w.max_frame = fb->max_frame ? fb->max_frame : FRAME_DEFAULT_MAX;
    w.keepalive_ms = 30000;
    w.name = bs(name);
    w.broker = bs("fake");
    CHECK(fb_send(fb, &w) == 0);
}

static void *
fake_main(void *arg)
{
    struct fake *fb = arg;
    fb->script(fb);
    fb_close(fb);
    return NULL;
}

static struct fake *
fake_start(script_fn script)
{
    struct fake *fb = calloc(1, sizeof(*fb));
    assert_non_null(fb);
    fb->fd = -1;
    fb->script = script;
    snprintf(fb->path, sizeof(fb->path), "/tmp/mc-test-client-%d-%p.sock", (int)getpid(),
             (void *)fb);
    snprintf(fb->addr, sizeof(fb->addr), "unix:%s", fb->path);
    struct sockaddr_un un = { .sun_family = AF_UNIX };
    strcpy(un.sun_path, fb->path);
    unlink(fb->path);
    fb->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(fb->lfd >= 0);
    assert_int_equal(bind(fb->lfd, (struct sockaddr *)&un, sizeof(un)), 0);
    assert_int_equal(listen(fb->lfd, 8), 0);
    assert_int_equal(pthread_create(&fb->th, NULL, fake_main, fb), 0);
    return fb;
}

/* Join the broker thread and fail the test if one of its checks failed. */
static void
fake_finish(struct fake *fb)
{
    pthread_join(fb->th, NULL);
    close(fb->lfd);
    unlink(fb->path);
    int failed = fb->failed;
    free(fb);
    assert_int_equal(failed, 0);
}

static struct mc_client *
client_for(struct fake *fb, const char *name)
{
    struct mc_client *c = mc_client_new(fb->addr);
    assert_non_null(c);
    if (name)
        assert_int_equal(mc_set_name(c, name), 0);
    return c;
}

/* ---- Tests -------------------------------------------------------------- */

static void
script_hello_attrs(struct fake *fb)
{
    CHECK(fb_accept(fb) == 0);
    CHECK(fb_read(fb, 5000) == 0);
    CHECK(fb->f.type == FRAME_HELLO);
    CHECK(bytes_eq(fb->f.name, "w1"));
    CHECK(bytes_eq(fb->f.token, "sesame"));
    CHECK(fb->f.nattrs == 2);
    struct frame_iter it;
    struct frame_bytes k, v;
    frame_iter_attrs(&it, &fb->f);
    CHECK(frame_next_attr(&it, &k, &v) == 1);
    CHECK(bytes_eq(k, "role") && bytes_eq(v, "worker"));
    CHECK(frame_next_attr(&it, &k, &v) == 1);
    CHECK(bytes_eq(k, "host") && bytes_eq(v, "h1"));
    struct frame w = { .type = FRAME_WELCOME, .id = fb->f.id, .version = 1, .max_frame = 4096 };
    w.keepalive_ms = 30000;
    w.name = bs("w1");
    w.broker = bs("fake");
    CHECK(fb_send(fb, &w) == 0);
    /* The client must close when freed. */
    CHECK(fb_read(fb, 5000) == -ECONNRESET);
}

static void
test_handshake(void **state)
{
    (void)state;
    struct fake *fb = fake_start(script_hello_attrs);
    struct mc_client *c = client_for(fb, "w1");
    char name[64];
    assert_int_equal(mc_get_name(c, name, sizeof(name)), -ENOTCONN);
    assert_int_equal(mc_set_token(c, "sesame"), 0);
    assert_int_equal(mc_set_attr(c, "role", "worker"), 0);
    assert_int_equal(mc_set_attr(c, "host", "h1"), 0);
    assert_int_equal(mc_connect(c, 5000), 0);
    assert_int_equal(mc_get_name(c, name, sizeof(name)), 2);
    assert_string_equal(name, "w1");
    assert_int_equal(mc_get_name(c, name, 2), -ENOBUFS);
    /* TLS settings belong before the connection. */
    assert_int_equal(mc_set_tls(c, NULL, NULL, NULL), -EBUSY);
    /* Above the negotiated maximum frame size (4096). */
    static char big[8192];
    assert_int_equal(mc_send(c, "room", big, sizeof(big)), -EMSGSIZE);
    mc_client_free(c);
    fake_finish(fb);
}

static void
script_refuse(struct fake *fb)
{
    CHECK(fb_accept(fb) == 0);
    CHECK(fb_read(fb, 5000) == 0);
    CHECK(fb->f.type == FRAME_HELLO);
    struct frame e = { .type = FRAME_ERROR, .id = fb->f.id, .code = FRAME_E_AUTH };
    e.message = bs("bad token");
    CHECK(fb_send(fb, &e) == 0);
}

static void
test_refused(void **state)
{
    (void)state;
    struct fake *fb = fake_start(script_refuse);
    struct mc_client *c = client_for(fb, NULL);
    assert_int_equal(mc_connect(c, 5000), -EACCES);
    char msg[64];
    assert_int_equal(mc_last_error(c, msg, sizeof(msg)), FRAME_E_AUTH);
    assert_string_equal(msg, "bad token");
    /* Never connected: calls fail at once instead of waiting. */
    assert_int_equal(mc_join(c, "r"), -ENOTCONN);
    struct mc_event *ev;
    assert_int_equal(mc_recv(c, 100, &ev), -ENOTCONN);
    assert_int_equal(mc_process(c), -ENOTCONN);
    mc_client_free(c);
    fake_finish(fb);
}

static void
test_bad_arguments(void **state)
{
    (void)state;
    const char *bad[] = { "",      "unix:",  "host:0",       "host:65536", "1.2.3.4:x", "[::1",
                          "a:b:c", "tls://", "tls://host:0", "tls:/host",  "tls://[::1" };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct mc_client *c = mc_client_new(bad[i]);
        assert_non_null(c);
        assert_int_equal(mc_connect(c, 100), -EINVAL);
        mc_client_free(c);
    }
    struct mc_client *c = mc_client_new("127.0.0.1:1");
    assert_int_equal(mc_set_tls(c, "/nonexistent/ca.pem", NULL, NULL), -ENOENT);
    assert_int_equal(mc_set_tls(c, NULL, "/nonexistent/cert.pem", NULL), -EINVAL);
    assert_int_equal(mc_set_name(c, "has space"), -EINVAL);
    assert_int_equal(mc_set_attr(c, "k", NULL), -EINVAL);
    char longkey[80];
    memset(longkey, 'k', sizeof(longkey) - 1);
    longkey[sizeof(longkey) - 1] = 0;
    assert_int_equal(mc_set_attr(c, longkey, "v"), -EINVAL);
    for (int i = 0; i < 32; i++)
        assert_int_equal(mc_set_attr(c, "k", "v"), 0);
    assert_int_equal(mc_set_attr(c, "k", "v"), -EINVAL);
    assert_int_equal(mc_join(c, ""), -EINVAL);
    assert_int_equal(mc_send(c, "bad room", "x", 1), -EINVAL);
    struct mc_result *r;
    assert_int_equal(mc_request(c, "r", "x", 1, 600001, &r), -EINVAL);
    /* Nothing listens on port 1. */
    assert_int_equal(mc_connect(c, 2000), -ECONNREFUSED);
    assert_null(mc_client_free(c));
    /* TLS settings for a plaintext server: refused, never a plaintext fallback. */
    c = mc_client_new("127.0.0.1:1");
    assert_int_equal(mc_set_tls(c, NULL, NULL, NULL), 0);
    assert_int_equal(mc_connect(c, 100), -EINVAL);
    char msg[256];
    mc_last_error(c, msg, sizeof(msg));
    assert_non_null(strstr(msg, "'127.0.0.1:1' is not a tls:// server"));
    assert_null(mc_client_free(c));
    assert_null(mc_client_free(NULL));
    assert_null(mc_event_free(NULL));
    assert_null(mc_result_free(NULL));
    assert_null(mc_who_free(NULL));
    assert_string_equal(mc_reason_name(MC_REASON_GONE), "gone");
}

/* A plaintext broker answering a TLS client: whatever it sends is not TLS. */
static void
script_not_tls(struct fake *fb)
{
    CHECK(fb_accept(fb) == 0);
    struct pollfd p = { fb->fd, POLLIN, 0 };
    CHECK(poll(&p, 1, 5000) == 1);
    uint8_t hello[5];
    CHECK(read(fb->fd, hello, sizeof(hello)) == (ssize_t)sizeof(hello));
    CHECK(hello[0] == 0x16); /* a TLS handshake record: the ClientHello */
    struct frame e = { .type = FRAME_ERROR, .code = FRAME_E_PROTOCOL };
    e.message = bs("malformed frame");
    CHECK(fb_send(fb, &e) == 0);
}

static void
test_tls_to_plaintext_broker(void **state)
{
    (void)state;
    struct fake *fb = fake_start(script_not_tls);
    char addr[160];
    snprintf(addr, sizeof(addr), "tls://%s", fb->addr);
    struct mc_client *c = mc_client_new(addr);
    assert_non_null(c);
    assert_int_equal(mc_connect(c, 5000), -EPROTO);
    char msg[256];
    mc_last_error(c, msg, sizeof(msg));
    assert_memory_equal(msg, "TLS handshake: ", 15);
    mc_client_free(c);
    fake_finish(fb);
}

static void
script_messages(struct fake *fb)
{
    fb_handshake(fb);
    CHECK(!fb->failed);
    CHECK(fb_read(fb, 5000) == 0);
    CHECK(fb->f.type == FRAME_JOIN && bytes_eq(fb->f.room, "lobby") && fb->f.id != 0);
    struct frame ok = { .type = FRAME_OK, .id = fb->f.id };
    CHECK(fb_send(fb, &ok) == 0);

    /* A fire-and-forget message, then a flush (PING with an id). */
    CHECK(fb_read(fb, 5000) == 0);
    CHECK(fb->f.type == FRAME_MSG && fb->f.id == 0 && bytes_eq(fb->f.room, "lobby"));
    CHECK(bytes_eq(fb->f.payload, "hello") && fb->f.from.len == 0);
    CHECK(fb_read(fb, 5000) == 0);
    CHECK(fb->f.type == FRAME_DIRECT && bytes_eq(fb->f.name, "w2") &&
          bytes_eq(fb->f.payload, "hi"));
    CHECK(fb_read(fb, 5000) == 0);
    CHECK(fb->f.type == FRAME_PING && fb->f.id != 0);
    struct frame pong = { .type = FRAME_PONG, .id = fb->f.id };
    CHECK(fb_send(fb, &pong) == 0);

    /* Deliver a message, a presence event with attributes and a request. */
    struct frame m = { .type = FRAME_MSG, .room = bs("lobby"), .from = bs("w2") };
    m.payload = bs("from w2");
    CHECK(fb_send(fb, &m) == 0);
    struct frame_buf attrs = { 0 };
    CHECK(frame_buf_put_attr(&attrs, "role", "db", 2) == 0);
    struct frame p = { .type = FRAME_PRESENCE, .op = FRAME_OP_UP, .room = bs("lobby") };
    p.name = bs("w3");
    p.attrs.p = attrs.data;
    p.attrs.len = attrs.len;
    p.nattrs = 1;
    int r = fb_send(fb, &p);
    frame_buf_free(&attrs);
    CHECK(r == 0);
    struct frame q = {
        .type = FRAME_REQUEST, .id = 77, .mode = FRAME_MODE_ALL, .name = bs("lobby")
    };
    q.timeout_ms = 1000;
    q.from = bs("w2");
    q.payload = bs("status?");
    CHECK(fb_send(fb, &q) == 0);
    /* The broker pings; the client must answer with the same id. */
    struct frame ping = { .type = FRAME_PING, .id = 5 };
    CHECK(fb_send(fb, &ping) == 0);

    int got_reply = 0, got_pong = 0;
    while (!(got_reply && got_pong)) {
        CHECK(fb_read(fb, 5000) == 0);
        if (fb->f.type == FRAME_PONG) {
            CHECK(fb->f.id == 5);
            got_pong = 1;
        } else {
            CHECK(fb->f.type == FRAME_REPLY && fb->f.id == 77);
            CHECK(bytes_eq(fb->f.payload, "fine"));
            got_reply = 1;
        }
    }
    CHECK(fb_read(fb, 5000) == -ECONNRESET);
}

static void
test_messages(void **state)
{
    (void)state;
    struct fake *fb = fake_start(script_messages);
    struct mc_client *c = client_for(fb, "w1");
    assert_int_equal(mc_connect(c, 5000), 0);
    assert_int_equal(mc_join(c, "lobby"), 0);
    assert_int_equal(mc_send(c, "lobby", "hello", 5), 0);
    assert_int_equal(mc_direct(c, "w2", "hi", 2), 0);
    assert_int_equal(mc_flush(c, 5000), 0);

    struct mc_event *ev = NULL;
    assert_int_equal(mc_recv(c, 5000, &ev), 0);
    assert_int_equal(ev->type, MC_EVENT_MESSAGE);
    assert_string_equal(ev->room, "lobby");
    assert_string_equal(ev->from, "w2");
    assert_int_equal(ev->len, 7);
    assert_string_equal((const char *)ev->data, "from w2");
    assert_int_equal(mc_reply(c, ev, "x", 1), -EINVAL); /* not a request */
    mc_event_free(ev);

    assert_int_equal(mc_recv(c, 5000, &ev), 0);
    assert_int_equal(ev->type, MC_EVENT_JOIN);
    assert_string_equal(ev->from, "w3");
    assert_int_equal(ev->nattrs, 1);
    assert_string_equal(ev->attrs[0].key, "role");
    assert_string_equal(ev->attrs[0].value, "db");
    mc_event_free(ev);

    assert_int_equal(mc_recv(c, 5000, &ev), 0);
    assert_int_equal(ev->type, MC_EVENT_REQUEST);
    assert_int_equal(ev->mode, MC_MODE_ALL);
    assert_int_equal(ev->id, 77);
    assert_string_equal((const char *)ev->data, "status?");
    assert_int_equal(mc_reply(c, ev, "fine", 4), 0);
    mc_event_free(ev);

    /* Nothing else is queued; the PING is answered inside this wait. */
    assert_int_equal(mc_recv(c, 300, &ev), -ETIMEDOUT);
    mc_client_free(c);
    fake_finish(fb);
}

static void
script_requests(struct fake *fb)
{
    fb_handshake(fb);
    CHECK(!fb->failed);
    /* Gather: two replies, one missing member. */
    CHECK(fb_read(fb, 5000) == 0);
    CHECK(fb->f.type == FRAME_REQUEST && fb->f.mode == FRAME_MODE_ALL && fb->f.id != 0);
    CHECK(bytes_eq(fb->f.name, "jobs") && fb->f.timeout_ms == 500 && bytes_eq(fb->f.payload, "q"));
    struct frame_buf list = { 0 };
    CHECK(frame_buf_put_name(&list, "a", 1) == 0);
    CHECK(frame_buf_put_blob(&list, "ra", 2) == 0);
    CHECK(frame_buf_put_name(&list, "b", 1) == 0);
    CHECK(frame_buf_put_blob(&list, "", 0) == 0);
    CHECK(frame_buf_put_name(&list, "c", 1) == 0);
    CHECK(frame_buf_put_u16(&list, FRAME_E_TIMEOUT) == 0);
    struct frame g = { .type = FRAME_GATHER_RESULT, .id = fb->f.id, .nreplies = 2, .nmissing = 1 };
    g.list.p = list.data;
    g.list.len = list.len;
    int r = fb_send(fb, &g);
    frame_buf_free(&list);
    CHECK(r == 0);

    /* One session: it timed out (a missing entry, not an error). */
    CHECK(fb_read(fb, 5000) == 0);
    CHECK(fb->f.type == FRAME_REQUEST && fb->f.mode == FRAME_MODE_SESSION);
    struct frame e = { .type = FRAME_ERROR, .id = fb->f.id, .code = FRAME_E_TIMEOUT };
    e.subject = bs("w9");
    CHECK(fb_send(fb, &e) == 0);

    /* Any member: answered. */
    CHECK(fb_read(fb, 5000) == 0);
    CHECK(fb->f.type == FRAME_REQUEST && fb->f.mode == FRAME_MODE_ANY);
    struct frame rep = { .type = FRAME_REPLY, .id = fb->f.id, .from = bs("w4") };
    rep.payload = bs("yes");
    CHECK(fb_send(fb, &rep) == 0);

    /* Any member of an empty room: an error. */
    CHECK(fb_read(fb, 5000) == 0);
    CHECK(fb->f.type == FRAME_REQUEST && fb->f.mode == FRAME_MODE_ANY);
    struct frame nm = { .type = FRAME_ERROR, .id = fb->f.id, .code = FRAME_E_NO_MEMBERS };
    nm.subject = bs("empty");
    CHECK(fb_send(fb, &nm) == 0);

    /* WHO: two members, one with attributes. */
    CHECK(fb_read(fb, 5000) == 0);
    CHECK(fb->f.type == FRAME_WHO && bytes_eq(fb->f.room, "jobs"));
    struct frame_buf wl = { 0 };
    CHECK(frame_buf_put_name(&wl, "a", 1) == 0);
    CHECK(frame_buf_put_u16(&wl, 2) == 0);
    CHECK(frame_buf_put_attr(&wl, "host", "h1", 2) == 0);
    CHECK(frame_buf_put_attr(&wl, "pid", "42", 2) == 0);
    CHECK(frame_buf_put_name(&wl, "b", 1) == 0);
    CHECK(frame_buf_put_u16(&wl, 0) == 0);
    struct frame w = { .type = FRAME_WHO_RESULT, .id = fb->f.id, .room = bs("jobs"), .count = 2 };
    w.list.p = wl.data;
    w.list.len = wl.len;
    r = fb_send(fb, &w);
    frame_buf_free(&wl);
    CHECK(r == 0);

    /* STATS, then a WHO the broker never answers (the client times out). */
    CHECK(fb_read(fb, 5000) == 0);
    CHECK(fb->f.type == FRAME_STATS);
    struct frame st = { .type = FRAME_STATS_RESULT,
                        .id = fb->f.id,
                        .payload = bs("{\"sessions\":1}") };
    CHECK(fb_send(fb, &st) == 0);
    CHECK(fb_read(fb, 5000) == 0);
    CHECK(fb->f.type == FRAME_WHO);
    CHECK(fb_read(fb, 5000) == -ECONNRESET);
}

static void
test_requests(void **state)
{
    (void)state;
    struct fake *fb = fake_start(script_requests);
    struct mc_client *c = client_for(fb, "w1");
    assert_int_equal(mc_connect(c, 5000), 0);

    struct mc_result *res = NULL;
    assert_int_equal(mc_request(c, "jobs", "q", 1, 500, &res), 0);
    assert_int_equal(res->nreplies, 2);
    assert_string_equal(res->replies[0].from, "a");
    assert_int_equal(res->replies[0].len, 2);
    assert_string_equal((const char *)res->replies[0].data, "ra");
    assert_string_equal(res->replies[1].from, "b");
    assert_int_equal(res->replies[1].len, 0);
    assert_int_equal(res->nmissing, 1);
    assert_string_equal(res->missing[0].name, "c");
    assert_int_equal(res->missing[0].reason, MC_REASON_TIMEOUT);
    mc_result_free(res);

    assert_int_equal(mc_request_session(c, "w9", "q", 1, 100, &res), 0);
    assert_int_equal(res->nreplies, 0);
    assert_int_equal(res->nmissing, 1);
    assert_string_equal(res->missing[0].name, "w9");
    assert_int_equal(res->missing[0].reason, MC_REASON_TIMEOUT);
    mc_result_free(res);

    assert_int_equal(mc_request_any(c, "jobs", "q", 1, 100, &res), 0);
    assert_int_equal(res->nreplies, 1);
    assert_string_equal(res->replies[0].from, "w4");
    assert_string_equal((const char *)res->replies[0].data, "yes");
    mc_result_free(res);

    res = NULL;
    assert_int_equal(mc_request_any(c, "empty", "q", 1, 100, &res), -ENXIO);
    assert_null(res);

    struct mc_who *w = NULL;
    assert_int_equal(mc_who(c, "jobs", &w), 0);
    assert_int_equal(w->count, 2);
    assert_string_equal(w->members[0].name, "a");
    assert_int_equal(w->members[0].nattrs, 2);
    assert_string_equal(w->members[0].attrs[1].key, "pid");
    assert_string_equal(w->members[0].attrs[1].value, "42");
    assert_string_equal(w->members[1].name, "b");
    assert_int_equal(w->members[1].nattrs, 0);
    mc_who_free(w);

    char *json = NULL;
    assert_int_equal(mc_stats(c, &json), 0);
    assert_string_equal(json, "{\"sessions\":1}");
    free(json);

    mc_set_timeout(c, 200);
    assert_int_equal(mc_who(c, "jobs", &w), -ETIMEDOUT);
    mc_client_free(c);
    fake_finish(fb);
}

static void
script_reconnect(struct fake *fb)
{
    fb_handshake(fb);
    CHECK(!fb->failed);
    for (int i = 0; i < 2; i++) {
        CHECK(fb_read(fb, 5000) == 0);
        CHECK(fb->f.type == FRAME_JOIN);
        struct frame ok = { .type = FRAME_OK, .id = fb->f.id };
        CHECK(fb_send(fb, &ok) == 0);
    }
    /* "Restart": drop the connection, then accept the reconnect. */
    fb_close(fb);
    fb_handshake(fb);
    CHECK(!fb->failed);
    CHECK(bytes_eq(fb->f.name, "w1"));
    int rooms = 0;
    for (int i = 0; i < 2; i++) {
        CHECK(fb_read(fb, 5000) == 0);
        CHECK(fb->f.type == FRAME_JOIN);
        rooms |= bytes_eq(fb->f.room, "r1") ? 1 : bytes_eq(fb->f.room, "r2") ? 2 : 0;
    }
    CHECK(rooms == 3);
    struct frame m = {
        .type = FRAME_MSG, .room = bs("r2"), .from = bs("x"), .payload = bs("back")
    };
    CHECK(fb_send(fb, &m) == 0);
    CHECK(fb_read(fb, 5000) == -ECONNRESET);
}

static void
test_reconnect(void **state)
{
    (void)state;
    struct fake *fb = fake_start(script_reconnect);
    struct mc_client *c = client_for(fb, "w1");
    mc_set_reconnect(c, 20, 100);
    assert_int_equal(mc_connect(c, 5000), 0);
    assert_int_equal(mc_join(c, "r1"), 0);
    assert_int_equal(mc_join(c, "r2"), 0);
    struct mc_event *ev = NULL;
    assert_int_equal(mc_recv(c, 5000, &ev), 0);
    assert_int_equal(ev->type, MC_EVENT_DISCONNECTED);
    mc_event_free(ev);
    assert_int_equal(mc_recv(c, 5000, &ev), 0);
    assert_int_equal(ev->type, MC_EVENT_CONNECTED);
    assert_string_equal(ev->from, "w1");
    mc_event_free(ev);
    assert_int_equal(mc_recv(c, 5000, &ev), 0);
    assert_int_equal(ev->type, MC_EVENT_MESSAGE);
    assert_string_equal(ev->room, "r2");
    mc_event_free(ev);
    struct mc_client_stats st;
    mc_get_stats(c, &st);
    assert_int_equal(st.reconnects, 1);
    mc_client_free(c);
    fake_finish(fb);
}

static void
script_event_loop(struct fake *fb)
{
    fb_handshake(fb);
    CHECK(!fb->failed);
    for (int i = 0; i < 3; i++) {
        char text[16];
        snprintf(text, sizeof(text), "m%d", i);
        struct frame m = {
            .type = FRAME_MSG, .room = bs("r"), .from = bs("x"), .payload = bs(text)
        };
        CHECK(fb_send(fb, &m) == 0);
    }
    struct frame q = {
        .type = FRAME_REQUEST, .id = 9, .mode = FRAME_MODE_SESSION, .name = bs("w1")
    };
    q.from = bs("x");
    q.payload = bs("ping?");
    CHECK(fb_send(fb, &q) == 0);
    CHECK(fb_read(fb, 5000) == 0);
    CHECK(fb->f.type == FRAME_REPLY && fb->f.id == 9 && bytes_eq(fb->f.payload, "pong"));
    CHECK(fb_read(fb, 5000) == -ECONNRESET);
}

struct loop_state {
    int messages;
    int requests;
    char last[16];
};

static void
on_event(struct mc_client *c, const struct mc_event *ev, void *userdata)
{
    struct loop_state *ls = userdata;
    if (ev->type == MC_EVENT_MESSAGE) {
        ls->messages++;
        snprintf(ls->last, sizeof(ls->last), "%s", (const char *)ev->data);
    } else if (ev->type == MC_EVENT_REQUEST) {
        ls->requests++;
        mc_reply(c, ev, "pong", 4); /* calling back into the client is allowed */
    }
}

static void
test_event_loop(void **state)
{
    (void)state;
    struct fake *fb = fake_start(script_event_loop);
    struct mc_client *c = client_for(fb, "w1");
    struct loop_state ls = { 0 };
    mc_set_event_fn(c, on_event, &ls);
    assert_int_equal(mc_connect(c, 5000), 0);
    int fd = mc_fd(c);
    assert_true(fd >= 0);
    int t = mc_timeout_ms(c);
    assert_true(t > 0 && t <= 30000); /* keepalive */
    for (int rounds = 0; rounds < 100 && (ls.messages < 3 || ls.requests < 1); rounds++) {
        struct pollfd p = { fd, POLLIN, 0 };
        assert_true(poll(&p, 1, 5000) >= 0);
        assert_int_equal(mc_process(c), 0);
    }
    assert_int_equal(ls.messages, 3);
    assert_string_equal(ls.last, "m2");
    assert_int_equal(ls.requests, 1);
    assert_int_equal(mc_fd(c), fd);
    mc_client_free(c);
    fake_finish(fb);
}

/* Two threads share one client: one waits for events, the other asks. */
static void
script_threads(struct fake *fb)
{
    fb_handshake(fb);
    CHECK(!fb->failed);
    for (int i = 0; i < 20; i++) {
        CHECK(fb_read(fb, 5000) == 0);
        CHECK(fb->f.type == FRAME_REQUEST);
        struct frame rep = { .type = FRAME_REPLY, .id = fb->f.id, .from = bs("w2") };
        rep.payload = fb->f.payload;
        CHECK(fb_send(fb, &rep) == 0);
        struct frame m = {
            .type = FRAME_MSG, .room = bs("r"), .from = bs("w2"), .payload = bs("tick")
        };
        CHECK(fb_send(fb, &m) == 0);
    }
    CHECK(fb_read(fb, 5000) == -ECONNRESET);
}

static void *
recv_thread(void *arg)
{
    struct mc_client *c = arg;
    intptr_t n = 0;
    struct mc_event *ev;
    while (n < 20 && mc_recv(c, 5000, &ev) == 0) {
        if (ev->type == MC_EVENT_MESSAGE)
            n++;
        mc_event_free(ev);
    }
    return (void *)n;
}

static void
test_threads(void **state)
{
    (void)state;
    struct fake *fb = fake_start(script_threads);
    struct mc_client *c = client_for(fb, "w1");
    assert_int_equal(mc_connect(c, 5000), 0);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, recv_thread, c), 0);
    for (int i = 0; i < 20; i++) {
        char q[16];
        int n = snprintf(q, sizeof(q), "q%d", i);
        struct mc_result *res = NULL;
        assert_int_equal(mc_request_session(c, "w2", q, (size_t)n, 1000, &res), 0);
        assert_int_equal(res->nreplies, 1);
        assert_string_equal((const char *)res->replies[0].data, q);
        mc_result_free(res);
    }
    void *got;
    pthread_join(th, &got);
    assert_int_equal((intptr_t)got, 20);
    mc_client_free(c);
    fake_finish(fb);
}

static void
script_async(struct fake *fb)
{
    fb_handshake(fb);
    CHECK(!fb->failed);
    CHECK(fb_read(fb, 5000) == 0);
    CHECK(fb->f.type == FRAME_REQUEST && fb->f.mode == FRAME_MODE_ALL);
    uint32_t a = fb->f.id;
    CHECK(fb_read(fb, 5000) == 0);
    CHECK(fb->f.type == FRAME_REQUEST && fb->f.mode == FRAME_MODE_SESSION);
    uint32_t b = fb->f.id;
    CHECK(a != b);
    /* Answer out of order: the session request first. */
    struct frame rep = { .type = FRAME_REPLY, .id = b, .from = bs("w2"), .payload = bs("B") };
    CHECK(fb_send(fb, &rep) == 0);
    struct frame g = { .type = FRAME_GATHER_RESULT, .id = a };
    CHECK(fb_send(fb, &g) == 0);
    CHECK(fb_read(fb, 5000) == 0);
    CHECK(fb->f.type == FRAME_REQUEST && fb->f.mode == FRAME_MODE_ANY);
    /* ... and drop the connection with that one outstanding. */
}

struct async_seen {
    int n;
    int err[3];
    char what[3][8];
};

static void
on_result(struct mc_client *c, int err, struct mc_result *r, void *userdata)
{
    (void)c;
    struct async_seen *s = userdata;
    if (s->n < 3) {
        s->err[s->n] = err;
        snprintf(s->what[s->n], sizeof(s->what[0]), "%s",
                 !r            ? "null"
                 : r->nreplies ? (const char *)r->replies[0].data
                               : "empty");
    }
    s->n++;
    mc_result_free(r);
}

static void
run_until(struct mc_client *c, struct async_seen *s, int n)
{
    for (int rounds = 0; rounds < 200 && s->n < n; rounds++) {
        struct pollfd p = { mc_fd(c), POLLIN, 0 };
        int t = mc_timeout_ms(c);
        poll(&p, 1, t < 0 || t > 50 ? 50 : t);
        mc_process(c);
    }
}

static void
test_async_requests(void **state)
{
    (void)state;
    struct fake *fb = fake_start(script_async);
    struct mc_client *c = client_for(fb, "w1");
    mc_set_reconnect(c, 0, 0);
    assert_int_equal(mc_connect(c, 5000), 0);
    struct async_seen s = { 0 };
    assert_int_equal(mc_request_async(c, MC_MODE_ALL, "room", "q", 1, 1000, on_result, &s), 0);
    assert_int_equal(mc_request_async(c, MC_MODE_SESSION, "w2", "q", 1, 1000, on_result, &s), 0);
    assert_int_equal(mc_request_async(c, MC_MODE_ALL, "bad room", "q", 1, 1000, on_result, &s),
                     -EINVAL);
    assert_int_equal(mc_request_async(c, MC_MODE_ALL, "room", "q", 1, 1000, NULL, &s), -EINVAL);
    run_until(c, &s, 2);
    assert_int_equal(s.n, 2);
    assert_int_equal(s.err[0], 0);
    assert_string_equal(s.what[0], "B");
    assert_int_equal(s.err[1], 0);
    assert_string_equal(s.what[1], "empty");
    assert_int_equal(mc_request_async(c, MC_MODE_ANY, "room", "q", 1, 1000, on_result, &s), 0);
    run_until(c, &s, 3);
    assert_int_equal(s.n, 3);
    assert_int_equal(s.err[2], -ECONNRESET);
    assert_string_equal(s.what[2], "null");
    assert_int_equal(mc_request_async(c, MC_MODE_ANY, "room", "q", 1, 1000, on_result, &s),
                     -ENOTCONN);
    mc_client_free(c);
    fake_finish(fb);
}

struct reconnect_seen {
    int disconnected, connected, messages;
};

static void
on_reconnect_event(struct mc_client *c, const struct mc_event *ev, void *userdata)
{
    (void)c;
    struct reconnect_seen *s = userdata;
    if (ev->type == MC_EVENT_DISCONNECTED)
        s->disconnected++;
    else if (ev->type == MC_EVENT_CONNECTED)
        s->connected++;
    else if (ev->type == MC_EVENT_MESSAGE && strcmp(ev->room, "r2") == 0)
        s->messages++;
}

/* The same broker restart, but only an event loop drives the client. */
static void
test_event_loop_reconnect(void **state)
{
    (void)state;
    struct fake *fb = fake_start(script_reconnect);
    struct mc_client *c = client_for(fb, "w1");
    mc_set_reconnect(c, 20, 100);
    struct reconnect_seen s = { 0 };
    mc_set_event_fn(c, on_reconnect_event, &s);
    assert_int_equal(mc_connect(c, 5000), 0);
    assert_int_equal(mc_join(c, "r1"), 0);
    assert_int_equal(mc_join(c, "r2"), 0);
    for (int rounds = 0; rounds < 500 && s.messages < 1; rounds++) {
        struct pollfd p = { mc_fd(c), POLLIN, 0 };
        int t = mc_timeout_ms(c);
        /*
         * While down a timer must be armed: the reconnect backoff (20..100 ms)
         * or, once connecting, the handshake deadline (10 s).
         */
        if (s.disconnected && !s.connected)
            assert_true(t >= 0 && t <= 10000);
        poll(&p, 1, t < 0 || t > 1000 ? 1000 : t);
        assert_int_equal(mc_process(c), 0);
    }
    assert_int_equal(s.disconnected, 1);
    assert_int_equal(s.connected, 1);
    assert_int_equal(s.messages, 1);
    mc_client_free(c);
    fake_finish(fb);
}

static void
script_silent_broker(struct fake *fb)
{
    CHECK(fb_accept(fb) == 0);
    CHECK(fb_read(fb, 5000) == 0);
    CHECK(fb->f.type == FRAME_HELLO);
    struct frame w = { .type = FRAME_WELCOME, .id = fb->f.id, .version = 1, .max_frame = 65536 };
    w.keepalive_ms = 100; /* the client must notice 200 ms of silence */
    w.name = bs("w1");
    w.broker = bs("fake");
    CHECK(fb_send(fb, &w) == 0);
    /* Hung broker: read the client's PING but never answer it. */
    CHECK(fb_read(fb, 5000) == 0);
    CHECK(fb->f.type == FRAME_PING);
    /* The client gives up on this connection and dials again. */
    CHECK(fb_read(fb, 5000) == -ECONNRESET);
    fb_close(fb);
    fb_handshake(fb);
}

static void
test_keepalive_detects_dead_broker(void **state)
{
    (void)state;
    struct fake *fb = fake_start(script_silent_broker);
    struct mc_client *c = client_for(fb, "w1");
    mc_set_reconnect(c, 20, 100);
    assert_int_equal(mc_connect(c, 5000), 0);
    struct mc_event *ev = NULL;
    assert_int_equal(mc_recv(c, 5000, &ev), 0);
    assert_int_equal(ev->type, MC_EVENT_DISCONNECTED);
    mc_event_free(ev);
    assert_int_equal(mc_recv(c, 5000, &ev), 0);
    assert_int_equal(ev->type, MC_EVENT_CONNECTED);
    mc_event_free(ev);
    mc_client_free(c);
    fake_finish(fb);
}

static void
script_bad_broker(struct fake *fb)
{
    /* 1: an oversized length prefix. */
    fb_handshake(fb);
    CHECK(!fb->failed);
    const uint8_t huge[12] = { 0xff, 0xff, 0xff, 0xff, FRAME_MSG };
    CHECK(write(fb->fd, huge, sizeof(huge)) == sizeof(huge));
    CHECK(fb_read(fb, 5000) == -ECONNRESET);
    fb_close(fb);
    /* 2: garbage that is not a frame at all. */
    fb_handshake(fb);
    CHECK(!fb->failed);
    const uint8_t junk[16] = { 0, 0, 0, 16, 0x7f, 0xee, 0xdd, 0xcc, 1, 2, 3, 4, 5, 6, 7, 8 };
    CHECK(write(fb->fd, junk, sizeof(junk)) == sizeof(junk));
    CHECK(fb_read(fb, 5000) == -ECONNRESET);
    fb_close(fb);
    /* 3: a valid frame no broker sends to a client. */
    fb_handshake(fb);
    CHECK(!fb->failed);
    struct frame j = { .type = FRAME_JOIN, .room = bs("r") };
    CHECK(fb_send(fb, &j) == 0);
    CHECK(fb_read(fb, 5000) == -ECONNRESET);
    fb_close(fb);
    /* 4: well-behaved again. */
    fb_handshake(fb);
    CHECK(!fb->failed);
    struct frame m = { .type = FRAME_MSG, .room = bs("r"), .from = bs("x"), .payload = bs("ok") };
    CHECK(fb_send(fb, &m) == 0);
    CHECK(fb_read(fb, 5000) == -ECONNRESET);
}

static void
test_bad_broker_input(void **state)
{
    (void)state;
    struct fake *fb = fake_start(script_bad_broker);
    struct mc_client *c = client_for(fb, "w1");
    mc_set_reconnect(c, 10, 20);
    assert_int_equal(mc_connect(c, 5000), 0);
    int disconnects = 0;
    struct mc_event *ev = NULL;
    for (;;) {
        assert_int_equal(mc_recv(c, 5000, &ev), 0);
        enum mc_event_type t = ev->type;
        if (t == MC_EVENT_MESSAGE)
            assert_string_equal((const char *)ev->data, "ok");
        mc_event_free(ev);
        if (t == MC_EVENT_MESSAGE)
            break;
        if (t == MC_EVENT_DISCONNECTED)
            disconnects++;
    }
    assert_int_equal(disconnects, 3);
    mc_client_free(c);
    fake_finish(fb);
}

static void
script_idle(struct fake *fb)
{
    fb_handshake(fb);
    CHECK(!fb->failed);
    CHECK(fb_read(fb, 10000) == -ECONNRESET);
}

static void
on_usr1(int sig)
{
    (void)sig;
}

struct intr_arg {
    struct mc_client *c;
    atomic_int started;
    atomic_int done;
    int rc;
};

static void *
intr_thread(void *arg)
{
    struct intr_arg *a = arg;
    struct mc_event *ev = NULL;
    atomic_store(&a->started, 1);
    a->rc = mc_recv(a->c, -1, &ev);
    mc_event_free(ev);
    atomic_store(&a->done, 1);
    return NULL;
}

/* A signal ends mc_recv(-1), so a program can react to it. */
static void
test_recv_interrupted(void **state)
{
    (void)state;
    struct sigaction sa = { .sa_handler = on_usr1 }, old;
    sigaction(SIGUSR1, &sa, &old);
    struct fake *fb = fake_start(script_idle);
    struct mc_client *c = client_for(fb, "w1");
    assert_int_equal(mc_connect(c, 5000), 0);
    struct intr_arg a = { .c = c };
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, intr_thread, &a), 0);
    while (!atomic_load(&a.started))
        usleep(1000);
    /* A signal that lands before the thread blocks is lost: repeat, bounded. */
    for (int i = 0; i < 100 && !atomic_load(&a.done); i++) {
        usleep(50000);
        pthread_kill(th, SIGUSR1);
    }
    for (int i = 0; i < 100 && !atomic_load(&a.done); i++)
        usleep(10000);
    assert_true(atomic_load(&a.done));
    pthread_join(th, NULL);
    assert_int_equal(a.rc, -EINTR);
    mc_client_free(c);
    fake_finish(fb);
    sigaction(SIGUSR1, &old, NULL);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_handshake),
        cmocka_unit_test(test_refused),
        cmocka_unit_test(test_bad_arguments),
        cmocka_unit_test(test_tls_to_plaintext_broker),
        cmocka_unit_test(test_messages),
        cmocka_unit_test(test_requests),
        cmocka_unit_test(test_reconnect),
        cmocka_unit_test(test_event_loop),
        cmocka_unit_test(test_threads),
        cmocka_unit_test(test_async_requests),
        cmocka_unit_test(test_event_loop_reconnect),
        cmocka_unit_test(test_keepalive_detects_dead_broker),
        cmocka_unit_test(test_bad_broker_input),
        cmocka_unit_test(test_recv_interrupted),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
