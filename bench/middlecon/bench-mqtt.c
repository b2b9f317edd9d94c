/* SPDX-License-Identifier: Apache-2.0 */
/*
 * mosquitto side of the middlecon benchmark, with Debian's libmosquitto:
 * request/reply round trip (request topic, reply topic), gather (publish
 * to a topic N subscribers answer on a reply topic), fan-out to N
 * receivers. QoS 0, TCP_NODELAY on every client (the broker is started
 * with set_tcp_nodelay true). Each client runs libmosquitto's own network
 * thread (mosquitto_loop_start), the library's usual threaded mode.
 * Usage: bench-mqtt HOST PORT rtt|gather|fanout [count] [members]
 */
#include "bench.h"

#include <mosquitto.h>
#include <pthread.h>
#include <stdatomic.h>

static const char *host;
static int port;

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static long replies;
static atomic_int subscribed;

static void
on_subscribe(struct mosquitto *m, void *ud, int mid, int n, const int *qos)
{
    (void)m;
    (void)ud;
    (void)mid;
    (void)n;
    (void)qos;
    atomic_fetch_add(&subscribed, 1);
}

static struct mosquitto *
client(const char *id, void (*on_msg)(struct mosquitto *, void *, const struct mosquitto_message *),
       const char *topic)
{
    struct mosquitto *m = mosquitto_new(id, true, NULL);
    if (!m)
        bench_die("mosquitto_new");
    mosquitto_int_option(m, MOSQ_OPT_TCP_NODELAY, 1);
    mosquitto_message_callback_set(m, on_msg);
    mosquitto_subscribe_callback_set(m, on_subscribe);
    if (mosquitto_connect(m, host, port, 60) != MOSQ_ERR_SUCCESS)
        bench_die("mosquitto_connect");
    if (topic && mosquitto_subscribe(m, NULL, topic, 0) != MOSQ_ERR_SUCCESS)
        bench_die("mosquitto_subscribe");
    if (mosquitto_loop_start(m) != MOSQ_ERR_SUCCESS)
        bench_die("mosquitto_loop_start");
    return m;
}

static void
wait_subscribed(int n)
{
    uint64_t deadline = bench_now_nsec() + 10000000000ull;
    while (atomic_load(&subscribed) < n) {
        if (bench_now_nsec() > deadline)
            bench_die("subscriptions not acknowledged");
        bench_sleep_ms(1);
    }
}

static void
free_client(struct mosquitto *m)
{
    mosquitto_disconnect(m);
    mosquitto_loop_stop(m, false);
    mosquitto_destroy(m);
}

static void
on_req(struct mosquitto *m, void *ud, const struct mosquitto_message *msg)
{
    (void)ud;
    mosquitto_publish(m, NULL, "bench/rep", msg->payloadlen, msg->payload, 0, false);
}

static void
on_rep(struct mosquitto *m, void *ud, const struct mosquitto_message *msg)
{
    (void)m;
    (void)ud;
    (void)msg;
    pthread_mutex_lock(&mu);
    replies++;
    pthread_cond_signal(&cv);
    pthread_mutex_unlock(&mu);
}

/* Wait for `want` replies (1 s cap); returns the number seen. */
static long
wait_replies(long want)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += 1;
    pthread_mutex_lock(&mu);
    while (replies < want)
        if (pthread_cond_timedwait(&cv, &mu, &ts) != 0)
            break;
    long r = replies;
    pthread_mutex_unlock(&mu);
    return r;
}

static void
reset_replies(void)
{
    pthread_mutex_lock(&mu);
    replies = 0;
    pthread_mutex_unlock(&mu);
}

static void
bench_req(const char *prefix, int members, int n, int p999)
{
    struct mosquitto **m = calloc((size_t)members, sizeof(*m));
    char id[64];
    for (int i = 0; i < members; i++) {
        snprintf(id, sizeof(id), "bench-member-%d-%d", (int)getpid(), i);
        m[i] = client(id, on_req, "bench/req");
    }
    snprintf(id, sizeof(id), "bench-requester-%d", (int)getpid());
    struct mosquitto *cli = client(id, on_rep, "bench/rep");
    wait_subscribed(members + 1);
    char payload[BENCH_PAYLOAD];
    memset(payload, 'r', sizeof(payload));
    uint64_t *lat = calloc((size_t)n, sizeof(*lat));
    int warm = n / 10, got = 0, incomplete = 0;
    for (int i = 0; i < n + warm; i++) {
        reset_replies();
        uint64_t t0 = bench_now_nsec();
        mosquitto_publish(cli, NULL, "bench/req", sizeof(payload), payload, 0, false);
        long r = wait_replies(members);
        uint64_t t1 = bench_now_nsec();
        if (r < members)
            incomplete++;
        if (i >= warm)
            lat[got++] = t1 - t0;
    }
    bench_latency(prefix, lat, (size_t)got, p999);
    if (!p999) {
        char name[64];
        snprintf(name, sizeof(name), "%s_incomplete", prefix);
        bench_result(name, incomplete);
    }
    free(lat);
    free_client(cli);
    for (int i = 0; i < members; i++)
        free_client(m[i]);
    free(m);
}

static atomic_long fan_count;
static _Atomic uint64_t fan_last;

static void
on_fan(struct mosquitto *m, void *ud, const struct mosquitto_message *msg)
{
    (void)m;
    (void)ud;
    (void)msg;
    atomic_fetch_add_explicit(&fan_count, 1, memory_order_relaxed);
    atomic_store_explicit(&fan_last, bench_now_nsec(), memory_order_relaxed);
}

static void
bench_fanout(int receivers, int msgs)
{
    struct mosquitto **r = calloc((size_t)receivers, sizeof(*r));
    char id[64];
    for (int i = 0; i < receivers; i++) {
        snprintf(id, sizeof(id), "bench-fan-%d-%d", (int)getpid(), i);
        r[i] = client(id, on_fan, "bench/fan");
    }
    snprintf(id, sizeof(id), "bench-sender-%d", (int)getpid());
    struct mosquitto *snd = client(id, NULL, NULL);
    wait_subscribed(receivers);
    char payload[BENCH_PAYLOAD];
    memset(payload, 'f', sizeof(payload));
    uint64_t t0 = bench_now_nsec();
    for (int i = 0; i < msgs; i++) {
        int rc;
        while ((rc = mosquitto_publish(snd, NULL, "bench/fan", sizeof(payload), payload, 0,
                                       false)) == MOSQ_ERR_NOMEM)
            bench_sleep_ms(1);
        if (rc != MOSQ_ERR_SUCCESS)
            bench_die("publish");
    }
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
    free_client(snd);
    for (int i = 0; i < receivers; i++)
        free_client(r[i]);
    free(r);
}

int
main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: bench-mqtt HOST PORT rtt|gather|fanout [count] [members]\n");
        return 1;
    }
    host = argv[1];
    port = atoi(argv[2]);
    int count = argc > 4 ? atoi(argv[4]) : 10000;
    int members = argc > 5 ? atoi(argv[5]) : 100;
    bench_raise_nofile();
    mosquitto_lib_init();
    if (strcmp(argv[3], "rtt") == 0)
        bench_req("rtt", 1, count, 1);
    else if (strcmp(argv[3], "gather") == 0)
        bench_req("gather", members, count, 0);
    else if (strcmp(argv[3], "fanout") == 0)
        bench_fanout(members, count);
    else
        bench_die("unknown test");
    mosquitto_lib_cleanup();
    return 0;
}
