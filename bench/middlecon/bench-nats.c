/* SPDX-License-Identifier: Apache-2.0 */
/*
 * NATS side of the middlecon benchmark, with Debian's libnats (the C
 * client): request/reply round trip, gather from N responders, fan-out to N
 * receivers. Usage: bench-nats URL rtt|gather|fanout [count] [members]
 * Prints "RESULT" lines (see bench.h).
 */
#include "bench.h"

#include <nats/nats.h>
#include <pthread.h>
#include <stdatomic.h>

static const char *url;

static natsConnection *
conn(bool asap)
{
    natsOptions *o = NULL;
    natsConnection *nc = NULL;
    if (natsOptions_Create(&o) != NATS_OK || natsOptions_SetURL(o, url) != NATS_OK ||
        natsOptions_SetSendAsap(o, asap) != NATS_OK ||
        natsOptions_SetMaxPendingMsgs(o, 1000000) != NATS_OK)
        bench_die("nats options");
    natsStatus s = natsConnection_Connect(&nc, o);
    natsOptions_Destroy(o);
    if (s != NATS_OK)
        bench_die(natsStatus_GetText(s));
    return nc;
}

static void
on_request(natsConnection *nc, natsSubscription *sub, natsMsg *m, void *closure)
{
    (void)sub;
    (void)closure;
    const char *reply = natsMsg_GetReply(m);
    if (reply)
        natsConnection_Publish(nc, reply, natsMsg_GetData(m), natsMsg_GetDataLength(m));
    natsMsg_Destroy(m);
}

static void
bench_rtt(int n)
{
    natsConnection *srv = conn(true), *cli = conn(true);
    natsSubscription *sub = NULL;
    char payload[BENCH_PAYLOAD];
    memset(payload, 'x', sizeof(payload));
    if (natsConnection_Subscribe(&sub, srv, "bench.rtt", on_request, NULL) != NATS_OK)
        bench_die("subscribe");
    natsConnection_Flush(srv);
    uint64_t *lat = calloc((size_t)n, sizeof(*lat));
    int warm = n / 10, got = 0;
    for (int i = 0; i < n + warm; i++) {
        natsMsg *r = NULL;
        uint64_t t0 = bench_now_nsec();
        natsStatus s = natsConnection_Request(&r, cli, "bench.rtt", payload, sizeof(payload), 1000);
        uint64_t t1 = bench_now_nsec();
        if (s != NATS_OK)
            bench_die("request");
        natsMsg_Destroy(r);
        if (i >= warm)
            lat[got++] = t1 - t0;
    }
    bench_latency("rtt", lat, (size_t)got, 1);
    free(lat);
    natsSubscription_Destroy(sub);
    natsConnection_Destroy(cli);
    natsConnection_Destroy(srv);
}

static void
bench_gather(int members, int n)
{
    natsConnection **m = calloc((size_t)members, sizeof(*m));
    natsSubscription **subs = calloc((size_t)members, sizeof(*subs));
    for (int i = 0; i < members; i++) {
        m[i] = conn(true);
        if (natsConnection_Subscribe(&subs[i], m[i], "bench.gather", on_request, NULL) != NATS_OK)
            bench_die("subscribe");
        natsConnection_Flush(m[i]);
    }
    natsConnection *cli = conn(true);
    natsInbox *inbox = NULL;
    natsSubscription *rsub = NULL;
    natsInbox_Create(&inbox);
    if (natsConnection_SubscribeSync(&rsub, cli, inbox) != NATS_OK)
        bench_die("subscribe inbox");
    natsConnection_Flush(cli);
    char payload[BENCH_PAYLOAD];
    memset(payload, 'g', sizeof(payload));
    uint64_t *lat = calloc((size_t)n, sizeof(*lat));
    int warm = n / 10, got = 0, incomplete = 0;
    for (int i = 0; i < n + warm; i++) {
        uint64_t t0 = bench_now_nsec();
        natsConnection_PublishRequest(cli, "bench.gather", inbox, payload, sizeof(payload));
        int replies = 0;
        while (replies < members) {
            natsMsg *r = NULL;
            if (natsSubscription_NextMsg(&r, rsub, 1000) != NATS_OK)
                break;
            natsMsg_Destroy(r);
            replies++;
        }
        uint64_t t1 = bench_now_nsec();
        if (replies < members)
            incomplete++;
        if (i >= warm)
            lat[got++] = t1 - t0;
    }
    bench_latency("gather", lat, (size_t)got, 0);
    bench_result("gather_incomplete", incomplete);
    free(lat);
    natsSubscription_Destroy(rsub);
    natsInbox_Destroy(inbox);
    natsConnection_Destroy(cli);
    for (int i = 0; i < members; i++) {
        natsSubscription_Destroy(subs[i]);
        natsConnection_Destroy(m[i]);
    }
    free(subs);
    free(m);
}

static atomic_long fan_count;
static _Atomic uint64_t fan_last;

static void
on_fan(natsConnection *nc, natsSubscription *sub, natsMsg *m, void *closure)
{
    (void)nc;
    (void)sub;
    (void)closure;
    atomic_fetch_add_explicit(&fan_count, 1, memory_order_relaxed);
    atomic_store_explicit(&fan_last, bench_now_nsec(), memory_order_relaxed);
    natsMsg_Destroy(m);
}

static void
bench_fanout(int receivers, int msgs)
{
    natsConnection **r = calloc((size_t)receivers, sizeof(*r));
    natsSubscription **subs = calloc((size_t)receivers, sizeof(*subs));
    for (int i = 0; i < receivers; i++) {
        r[i] = conn(false);
        if (natsConnection_Subscribe(&subs[i], r[i], "bench.fan", on_fan, NULL) != NATS_OK)
            bench_die("subscribe");
        /* Generous client-side limits: losses then come from the broker. */
        natsSubscription_SetPendingLimits(subs[i], 1000000, 1024 * 1024 * 1024);
        natsConnection_Flush(r[i]);
    }
    natsConnection *snd = conn(false);
    char payload[BENCH_PAYLOAD];
    memset(payload, 'f', sizeof(payload));
    uint64_t t0 = bench_now_nsec();
    for (int i = 0; i < msgs; i++)
        natsConnection_Publish(snd, "bench.fan", payload, sizeof(payload));
    natsConnection_FlushTimeout(snd, 10000);
    long want = (long)receivers * msgs;
    /* Wait until everything arrived or nothing arrived for 500 ms (bounded by 20 s). */
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
    natsConnection_Destroy(snd);
    for (int i = 0; i < receivers; i++) {
        natsSubscription_Destroy(subs[i]);
        natsConnection_Destroy(r[i]);
    }
    free(subs);
    free(r);
}

int
main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: bench-nats URL rtt|gather|fanout [count] [members]\n");
        return 1;
    }
    url = argv[1];
    int count = argc > 3 ? atoi(argv[3]) : 10000;
    int members = argc > 4 ? atoi(argv[4]) : 100;
    bench_raise_nofile();
    if (strcmp(argv[2], "rtt") == 0)
        bench_rtt(count);
    else if (strcmp(argv[2], "gather") == 0)
        bench_gather(members, count);
    else if (strcmp(argv[2], "fanout") == 0)
        bench_fanout(members, count);
    else
        bench_die("unknown test");
    nats_Close();
    return 0;
}
