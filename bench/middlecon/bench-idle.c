/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Idle sessions: open N sessions to a broker as fast as one epoll loop can
 * (each completes the protocol's handshake: NATS CONNECT+PING/PONG, MQTT
 * CONNECT/CONNACK, middlecon HELLO/WELCOME), report the time to connect
 * them all and the broker's RSS growth per session, then close them.
 * The handshakes are spoken directly on raw sockets so the figure measures
 * the broker, not N client-library instances (libnats starts threads per
 * connection).
 * Usage: bench-idle nats|mqtt|mc HOST PORT BROKER_PID [sessions] [token]
 */
#include "bench.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>

enum proto { P_NATS, P_MQTT, P_MC };

struct sess {
    int fd;
    int state; /* 0 connecting, 1 handshake sent, 2 established */
    unsigned got;
    uint8_t buf[16];
};

static enum proto proto;
static const char *token = "";

static size_t
handshake(int i, uint8_t *out, size_t cap)
{
    char id[32];
    int idlen = snprintf(id, sizeof(id), "idle-%d-%d", (int)getpid(), i);
    size_t n = 0;
    switch (proto) {
    case P_NATS:
        n = (size_t)snprintf((char *)out, cap,
                             "CONNECT {\"verbose\":false,\"pedantic\":false,\"name\":\"%s\"}\r\n"
                             "PING\r\n",
                             id);
        break;
    case P_MQTT: {
        /* CONNECT, MQTT 3.1.1, clean session, keepalive 600 s. */
        size_t rem = 10 + 2 + (size_t)idlen;
        out[n++] = 0x10;
        out[n++] = (uint8_t)rem;
        const uint8_t vh[] = { 0, 4, 'M', 'Q', 'T', 'T', 4, 0x02, 0x02, 0x58 };
        memcpy(out + n, vh, sizeof(vh));
        n += sizeof(vh);
        out[n++] = 0;
        out[n++] = (uint8_t)idlen;
        memcpy(out + n, id, (size_t)idlen);
        n += (size_t)idlen;
        break;
    }
    case P_MC: {
        /* HELLO version 1, broker's max frame, name, token, no attributes. */
        size_t tlen = strlen(token);
        size_t len = 12 + 2 + 4 + 2 + (size_t)idlen + 2 + tlen + 2;
        out[0] = (uint8_t)(len >> 24), out[1] = (uint8_t)(len >> 16);
        out[2] = (uint8_t)(len >> 8), out[3] = (uint8_t)len;
        out[4] = 0x01, out[5] = 0, out[6] = 0, out[7] = 0;
        out[8] = 0, out[9] = 0, out[10] = 0, out[11] = 1;
        n = 12;
        out[n++] = 0, out[n++] = 1;
        out[n++] = 0, out[n++] = 0, out[n++] = 0, out[n++] = 0;
        out[n++] = 0, out[n++] = (uint8_t)idlen;
        memcpy(out + n, id, (size_t)idlen);
        n += (size_t)idlen;
        out[n++] = (uint8_t)(tlen >> 8), out[n++] = (uint8_t)tlen;
        memcpy(out + n, token, tlen);
        n += tlen;
        out[n++] = 0, out[n++] = 0;
        break;
    }
    }
    return n;
}

/* Consume what the broker sent; returns 1 once the session is established. */
static int
absorb(struct sess *s)
{
    uint8_t tmp[4096];
    for (;;) {
        ssize_t r = read(s->fd, tmp, sizeof(tmp));
        if (r < 0)
            return errno == EAGAIN ? 0 : -1;
        if (r == 0)
            return -1;
        for (ssize_t k = 0; k < r; k++) {
            if (s->got < sizeof(s->buf))
                s->buf[s->got] = tmp[k];
            s->got++;
        }
        switch (proto) {
        case P_NATS:
            /* INFO ... \r\n then PONG\r\n: look for "PONG" in what we kept. */
            for (ssize_t k = 0; k + 3 < r; k++)
                if (memcmp(tmp + k, "PONG", 4) == 0)
                    return 1;
            break;
        case P_MQTT:
            if (s->got >= 4)
                return s->buf[0] == 0x20 && s->buf[3] == 0 ? 1 : -1;
            break;
        case P_MC:
            if (s->got >= 5)
                return s->buf[4] == 0x02 ? 1 : -1;
            break;
        }
    }
}

int
main(int argc, char **argv)
{
    if (argc < 5) {
        fprintf(stderr, "usage: bench-idle nats|mqtt|mc HOST PORT BROKER_PID [sessions] [token]\n");
        return 1;
    }
    proto = strcmp(argv[1], "nats") == 0 ? P_NATS : strcmp(argv[1], "mqtt") == 0 ? P_MQTT : P_MC;
    int bpid = atoi(argv[4]);
    int n = argc > 5 ? atoi(argv[5]) : 10000;
    if (argc > 6)
        token = argv[6];
    bench_raise_nofile();
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[3])) };
    inet_pton(AF_INET, argv[2], &sa.sin_addr);
    struct sess *ss = calloc((size_t)n, sizeof(*ss));
    int ep = epoll_create1(EPOLL_CLOEXEC);
    if (!ss || ep < 0)
        bench_die("setup");

    bench_sleep_ms(200);
    long rss0 = bench_rss_kib(bpid);
    uint64_t t0 = bench_now_nsec(), deadline = t0 + 60000000000ull;
    int next = 0, established = 0, inflight = 0, failed = 0;
    const int window = 1024; /* handshakes in flight; stays below listen backlogs */
    struct epoll_event evs[256];
    while (established + failed < n) {
        while (next < n && inflight < window) {
            struct sess *s = &ss[next];
            s->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
            if (s->fd < 0)
                bench_die("socket (RLIMIT_NOFILE?)");
            int one = 1;
            setsockopt(s->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
            if (connect(s->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 && errno != EINPROGRESS)
                bench_die("connect");
            struct epoll_event ev = { .events = EPOLLOUT | EPOLLIN, .data.u32 = (uint32_t)next };
            epoll_ctl(ep, EPOLL_CTL_ADD, s->fd, &ev);
            next++;
            inflight++;
        }
        int k = epoll_wait(ep, evs, 256, 100);
        if (bench_now_nsec() > deadline)
            break;
        for (int e = 0; e < k; e++) {
            struct sess *s = &ss[evs[e].data.u32];
            int i = (int)evs[e].data.u32;
            if (s->state == 0 && (evs[e].events & EPOLLOUT)) {
                uint8_t out[512];
                size_t len = handshake(i, out, sizeof(out));
                if (write(s->fd, out, len) != (ssize_t)len) {
                    failed++, inflight--, s->state = 3;
                    epoll_ctl(ep, EPOLL_CTL_DEL, s->fd, NULL);
                    continue;
                }
                s->state = 1;
                struct epoll_event ev = { .events = EPOLLIN, .data.u32 = (uint32_t)i };
                epoll_ctl(ep, EPOLL_CTL_MOD, s->fd, &ev);
            }
            if (s->state == 1 && (evs[e].events & (EPOLLIN | EPOLLHUP | EPOLLERR))) {
                int r = absorb(s);
                if (r != 0) {
                    inflight--;
                    epoll_ctl(ep, EPOLL_CTL_DEL, s->fd, NULL);
                    if (r > 0)
                        established++, s->state = 2;
                    else
                        failed++, s->state = 3;
                }
            }
        }
    }
    uint64_t t1 = bench_now_nsec();
    bench_sleep_ms(1000); /* let the broker settle (Go's GC, lazy allocations) */
    long rss1 = bench_rss_kib(bpid);
    bench_result("idle_connect_sec", (double)(t1 - t0) / 1e9);
    bench_result("idle_sessions", established);
    bench_result("idle_failed", failed);
    bench_result("idle_bytes_per_session",
                 established > 0 ? (double)(rss1 - rss0) * 1024.0 / established : 0);
    for (int i = 0; i < n; i++)
        if (ss[i].fd > 0)
            close(ss[i].fd);
    free(ss);
    return 0;
}
