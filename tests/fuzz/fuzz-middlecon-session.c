/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz target for the broker's session input path: the bytes a client can
 * send after connecting go through the real frame handlers (handshake,
 * rooms, messages, requests, replies, peer frames) of a broker that has no
 * listeners and no threads, next to a second, well-behaved session that is a
 * member of the rooms the input is likely to name. The broker source is
 * included so the target reaches its internal functions.
 */
#include "../../src/middlecon/broker.c"

#include <sys/socket.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct session *
fake_session(struct broker *b, struct worker *w, int *ret_peer_fd)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0)
        abort();
    struct session *s = session_new(b, w, sv[0]);
    if (!s)
        abort();
    *ret_peer_fd = sv[1];
    return s;
}

static void
feed(struct worker *w, struct session *s, const uint8_t *p, size_t n)
{
    if (process(w, s, p, n) < 0 && !s->closed)
        session_close(s);
    flush_dirty(w);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static bool quiet;
    if (!quiet) {
        log_set_level(LOG_LEVEL_ERROR);
        quiet = true;
    }
    struct broker_config c;
    broker_config_init(&c);
    c.threads = 1;
    c.max_outbuf = 4096; /* reach the overflow paths quickly */
    c.max_frame = 65536;
    struct broker *b = NULL;
    if (broker_new(&c, &b, NULL) < 0)
        abort();
    struct worker *w = &b->w[0];
    cur_worker = w;

    /* A member of rooms "r" and "a", answering nothing. */
    int mfd, afd;
    struct session *mem = fake_session(b, w, &mfd);
    struct frame_buf in = { 0 };
    uint8_t buf[256];
    struct frame h = { .type = FRAME_HELLO, .id = 1, .version = 1 };
    h.name = (struct frame_bytes){ (const uint8_t *)"m", 1 };
    ssize_t n = frame_encode(&h, buf, sizeof(buf));
    frame_buf_put_raw(&in, buf, (size_t)n);
    const char *rooms[] = { "r", "a" };
    for (size_t i = 0; i < 2; i++) {
        struct frame j = { .type = FRAME_JOIN, .id = 2 };
        j.room = (struct frame_bytes){ (const uint8_t *)rooms[i], 1 };
        n = frame_encode(&j, buf, sizeof(buf));
        frame_buf_put_raw(&in, buf, (size_t)n);
    }
    feed(w, mem, in.data, in.len);
    frame_buf_free(&in);

    /* The fuzzed client: the input as it would arrive, in two reads. */
    struct session *s = fake_session(b, w, &afd);
    size_t half = size / 2;
    uint8_t *copy = malloc(size ? size : 1);
    if (!copy)
        abort();
    memcpy(copy, data, size);
    ssize_t used = process(w, s, copy, half);
    if (used >= 0) {
        size_t rest = half - (size_t)used + (size - half);
        used = process(w, s, copy + used, rest);
    }
    if (used < 0 && !s->closed)
        session_close(s);
    flush_dirty(w);
    free(copy);

    /* Let pending gathers time out, then take everything down. */
    run_timers(w, UINT64_MAX);
    flush_dirty(w);
    cur_worker = NULL;
    broker_stop(b);
    broker_free(b);
    broker_config_free(&c);
    close(mfd);
    close(afd);
    return 0;
}
