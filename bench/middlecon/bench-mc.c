/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kumo side of the middlecon benchmark, with libmiddlecon: request/reply
 * round trip between two sessions, gather from N members of a room,
 * fan-out to N receivers.
 *
 * Members and receivers run in one of two ways (last argument):
 *   threads  one thread per session blocking in mc_recv() (like libnats'
 *            and libmosquitto's per-connection threads);
 *   loop     one thread serving every session through mc_fd() +
 *            mc_process() + the event callback (the event-loop interface).
 * Usage: bench-mc ADDR rtt|gather|fanout [count] [members] [threads|loop]
 * With ADDR tls://HOST:PORT, $BENCH_TLS_CA names the CA file to trust.
 */
#include "bench.h"
#include "middlecon.h"

#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/epoll.h>

static const char *addr;
static int use_loop;
static atomic_int stop_members;
static atomic_long fan_count;
static _Atomic uint64_t fan_last;

static struct mc_client *
client(const char *name)
{
    struct mc_client *c = mc_client_new(addr);
    if (!c)
        bench_die("mc_client_new");
    if (name && mc_set_name(c, name) < 0)
        bench_die("mc_set_name");
    const char *ca = getenv("BENCH_TLS_CA");
    if (ca && mc_set_tls(c, ca, NULL, NULL) < 0)
        bench_die("mc_set_tls");
    int r = mc_connect(c, 5000);
    if (r < 0) {
        fprintf(stderr, "bench-mc: connect %s: %s\n", addr, strerror(-r));
        exit(1);
    }
    return c;
}

/* What a member does with an event: answer requests, count messages. */
static void
handle(struct mc_client *c, const struct mc_event *ev)
{
    if (ev->type == MC_EVENT_REQUEST) {
        mc_reply(c, ev, ev->data, ev->len);
    } else if (ev->type == MC_EVENT_MESSAGE) {
        atomic_fetch_add_explicit(&fan_count, 1, memory_order_relaxed);
        atomic_store_explicit(&fan_last, bench_now_nsec(), memory_order_relaxed);
    }
}

static void
on_event(struct mc_client *c, const struct mc_event *ev, void *ud)
{
    (void)ud;
    handle(c, ev);
}

static void *
member_thread(void *arg)
{
    struct mc_client *c = arg;
    while (!atomic_load(&stop_members)) {
        struct mc_event *ev;
        if (mc_recv(c, 100, &ev) < 0)
            continue;
        handle(c, ev);
        mc_event_free(ev);
    }
    return NULL;
}

struct members {
    int n;
    struct mc_client **c;
    pthread_t *th;
    pthread_t loop;
};

static void *
loop_thread(void *arg)
{
    struct members *m = arg;
    int ep = epoll_create1(EPOLL_CLOEXEC);
    for (int i = 0; i < m->n; i++) {
        struct epoll_event ev = { .events = EPOLLIN, .data.u32 = (uint32_t)i };
        epoll_ctl(ep, EPOLL_CTL_ADD, mc_fd(m->c[i]), &ev);
    }
    struct epoll_event evs[128];
    while (!atomic_load(&stop_members)) {
        int k = epoll_wait(ep, evs, 128, 100);
        for (int e = 0; e < k; e++)
            mc_process(m->c[evs[e].data.u32]);
    }
    close(ep);
    return NULL;
}

static void
members_start(struct members *m, int n, const char *room, const char *prefix)
{
    m->n = n;
    m->c = calloc((size_t)n, sizeof(*m->c));
    m->th = calloc((size_t)n, sizeof(*m->th));
    atomic_store(&stop_members, 0);
    for (int i = 0; i < n; i++) {
        char name[64];
        snprintf(name, sizeof(name), "%s-%d-%d", prefix, (int)getpid(), i);
        m->c[i] = client(name);
        if (room && mc_join(m->c[i], room) < 0)
            bench_die("join");
        if (use_loop)
            mc_set_event_fn(m->c[i], on_event, NULL);
        else
            pthread_create(&m->th[i], NULL, member_thread, m->c[i]);
    }
    if (use_loop)
        pthread_create(&m->loop, NULL, loop_thread, m);
}

static void
members_stop(struct members *m)
{
    atomic_store(&stop_members, 1);
    if (use_loop)
        pthread_join(m->loop, NULL);
    else
        for (int i = 0; i < m->n; i++)
            pthread_join(m->th[i], NULL);
    for (int i = 0; i < m->n; i++)
        mc_client_free(m->c[i]);
    free(m->c);
    free(m->th);
}

static void
bench_rtt(int n)
{
    struct members m;
    char srv[64];
    members_start(&m, 1, NULL, "rtt-srv");
    snprintf(srv, sizeof(srv), "rtt-srv-%d-0", (int)getpid());
    struct mc_client *cli = client(NULL);
    char payload[BENCH_PAYLOAD];
    memset(payload, 'x', sizeof(payload));
    uint64_t *lat = calloc((size_t)n, sizeof(*lat));
    int warm = n / 10, got = 0;
    for (int i = 0; i < n + warm; i++) {
        struct mc_result *r = NULL;
        uint64_t t0 = bench_now_nsec();
        int rc = mc_request_session(cli, srv, payload, sizeof(payload), 1000, &r);
        uint64_t t1 = bench_now_nsec();
        if (rc < 0 || r->nreplies != 1)
            bench_die("request");
        mc_result_free(r);
        if (i >= warm)
            lat[got++] = t1 - t0;
    }
    bench_latency("rtt", lat, (size_t)got, 1);
    free(lat);
    mc_client_free(cli);
    members_stop(&m);
}

static void
bench_gather(int members, int n)
{
    struct members m;
    members_start(&m, members, "bench-gather", "g");
    struct mc_client *cli = client(NULL);
    char payload[BENCH_PAYLOAD];
    memset(payload, 'g', sizeof(payload));
    uint64_t *lat = calloc((size_t)n, sizeof(*lat));
    int warm = n / 10, got = 0, incomplete = 0;
    for (int i = 0; i < n + warm; i++) {
        struct mc_result *r = NULL;
        uint64_t t0 = bench_now_nsec();
        int rc = mc_request(cli, "bench-gather", payload, sizeof(payload), 1000, &r);
        uint64_t t1 = bench_now_nsec();
        if (rc < 0)
            bench_die("gather");
        if (r->nreplies != (size_t)members)
            incomplete++;
        mc_result_free(r);
        if (i >= warm)
            lat[got++] = t1 - t0;
    }
    bench_latency("gather", lat, (size_t)got, 0);
    bench_result("gather_incomplete", incomplete);
    free(lat);
    mc_client_free(cli);
    members_stop(&m);
}

static void
bench_fanout(int receivers, int msgs)
{
    struct members m;
    members_start(&m, receivers, "bench-fan", "f");
    struct mc_client *snd = client(NULL);
    char payload[BENCH_PAYLOAD];
    memset(payload, 'f', sizeof(payload));
    uint64_t t0 = bench_now_nsec();
    for (int i = 0; i < msgs; i++)
        if (mc_send(snd, "bench-fan", payload, sizeof(payload)) < 0)
            bench_die("send");
    mc_flush(snd, 10000);
    long want = (long)receivers * msgs;
    uint64_t deadline = t0 + 20000000000ull;
    long prev = -1;
    uint64_t quiet_since = bench_now_nsec();
    for (;;) {
        long c = atomic_load(&fan_count);
        uint64_t now = bench_now_nsec();
        if (c >= want || now > deadline)
            break;
        if (c != prev) {
            prev = c;
            quiet_since = now;
        } else if (now - quiet_since > 500000000ull) {
            break;
        }
        bench_sleep_ms(1);
    }
    long got = atomic_load(&fan_count);
    uint64_t t1 = atomic_load(&fan_last);
    double secs = (double)(t1 - t0) / 1e9;
    bench_result("fanout_msgs_per_sec", secs > 0 ? (double)got / secs : 0);
    bench_result("fanout_lost", (double)(want - got));
    mc_client_free(snd);
    members_stop(&m);
}

int
main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr,
                "usage: bench-mc ADDR rtt|gather|fanout [count] [members] [threads|loop]\n");
        return 1;
    }
    addr = argv[1];
    int count = argc > 3 ? atoi(argv[3]) : 10000;
    int members = argc > 4 ? atoi(argv[4]) : 100;
    use_loop = argc > 5 && strcmp(argv[5], "loop") == 0;
    bench_raise_nofile();
    if (strcmp(argv[2], "rtt") == 0)
        bench_rtt(count);
    else if (strcmp(argv[2], "gather") == 0)
        bench_gather(members, count);
    else if (strcmp(argv[2], "fanout") == 0)
        bench_fanout(members, count);
    else
        bench_die("unknown test");
    return 0;
}
