/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Interleaved latency benchmark: kumo (libmiddlecon), NATS (libnats) and
 * mosquitto (libmosquitto) in one process, taking turns request by request
 * (the order rotates every iteration), so every system sees the same
 * background load — on a shared machine the fairest "same run" comparison
 * for tail latencies.
 *
 *   rtt     one responder session per system; request/reply round trips
 *   gather  `members` responder sessions per system; one request collects
 *           a reply from each (kumo: one gather request to a room; NATS: a
 *           publish with a reply inbox to a subject with `members`
 *           subscribers; mosquitto: a publish to a topic the members
 *           subscribe to, answered on a reply topic)
 *
 * Usage: bench-mix MC_ADDR NATS_URL MQTT_HOST MQTT_PORT rtt|gather COUNT MEMBERS
 * Prints "RESULT <figure>@<system> <value>" lines.
 */
#include "bench.h"
#include "middlecon.h"

#include <mosquitto.h>
#include <nats/nats.h>
#include <pthread.h>
#include <stdatomic.h>

enum { SYS_KUMO, SYS_NATS, SYS_MQTT, NSYS };
static const char *const sys_name[NSYS] = { "kumo", "nats", "mosq" };

static const char *mc_addr, *nats_url, *mq_host;
static int mq_port, members;
static atomic_int stop;
static char payload[BENCH_PAYLOAD];

/* ---- kumo ---------------------------------------------------------------- */

static struct mc_client **mc_members;
static pthread_t *mc_threads;
static struct mc_client *mc_req;
static char mc_target[64];

static struct mc_client *
mc_open(const char *name)
{
    struct mc_client *c = mc_client_new(mc_addr);
    if (!c || (name && mc_set_name(c, name) < 0) || mc_connect(c, 5000) < 0)
        bench_die("middlecon connect");
    return c;
}

static void *
mc_member_main(void *arg)
{
    struct mc_client *c = arg;
    while (!atomic_load(&stop)) {
        struct mc_event *ev;
        if (mc_recv(c, 100, &ev) < 0)
            continue;
        if (ev->type == MC_EVENT_REQUEST)
            mc_reply(c, ev, ev->data, ev->len);
        mc_event_free(ev);
    }
    return NULL;
}

static void
mc_setup(void)
{
    mc_members = calloc((size_t)members, sizeof(*mc_members));
    mc_threads = calloc((size_t)members, sizeof(*mc_threads));
    for (int i = 0; i < members; i++) {
        char name[64];
        snprintf(name, sizeof(name), "mix-%d-%d", (int)getpid(), i);
        mc_members[i] = mc_open(name);
        if (mc_join(mc_members[i], "mix") < 0)
            bench_die("join");
        pthread_create(&mc_threads[i], NULL, mc_member_main, mc_members[i]);
    }
    snprintf(mc_target, sizeof(mc_target), "mix-%d-0", (int)getpid());
    mc_req = mc_open(NULL);
}

static int
mc_once(void)
{
    struct mc_result *r = NULL;
    int rc = members == 1
                 ? mc_request_session(mc_req, mc_target, payload, sizeof(payload), 1000, &r)
                 : mc_request(mc_req, "mix", payload, sizeof(payload), 1000, &r);
    int ok = rc == 0 && r->nreplies == (size_t)members;
    mc_result_free(r);
    return ok;
}

static void
mc_teardown(void)
{
    for (int i = 0; i < members; i++)
        pthread_join(mc_threads[i], NULL);
    for (int i = 0; i < members; i++)
        mc_client_free(mc_members[i]);
    mc_client_free(mc_req);
}

/* ---- NATS ---------------------------------------------------------------- */

static natsConnection **nats_members, *nats_req;
static natsSubscription **nats_subs, *nats_inbox_sub;
static natsInbox *nats_inbox;

static natsConnection *
nats_open(void)
{
    natsOptions *o = NULL;
    natsConnection *nc = NULL;
    if (natsOptions_Create(&o) != NATS_OK || natsOptions_SetURL(o, nats_url) != NATS_OK ||
        natsOptions_SetSendAsap(o, true) != NATS_OK)
        bench_die("nats options");
    if (natsConnection_Connect(&nc, o) != NATS_OK)
        bench_die("nats connect");
    natsOptions_Destroy(o);
    return nc;
}

static void
nats_on_request(natsConnection *nc, natsSubscription *sub, natsMsg *m, void *closure)
{
    (void)sub;
    (void)closure;
    if (natsMsg_GetReply(m))
        natsConnection_Publish(nc, natsMsg_GetReply(m), natsMsg_GetData(m),
                               natsMsg_GetDataLength(m));
    natsMsg_Destroy(m);
}

static void
nats_setup(void)
{
    nats_members = calloc((size_t)members, sizeof(*nats_members));
    nats_subs = calloc((size_t)members, sizeof(*nats_subs));
    for (int i = 0; i < members; i++) {
        nats_members[i] = nats_open();
        if (natsConnection_Subscribe(&nats_subs[i], nats_members[i], "bench.mix", nats_on_request,
                                     NULL) != NATS_OK)
            bench_die("nats subscribe");
        natsConnection_Flush(nats_members[i]);
    }
    nats_req = nats_open();
    natsInbox_Create(&nats_inbox);
    if (natsConnection_SubscribeSync(&nats_inbox_sub, nats_req, nats_inbox) != NATS_OK)
        bench_die("nats inbox");
    natsConnection_Flush(nats_req);
}

static int
nats_once(void)
{
    if (members == 1) {
        natsMsg *r = NULL;
        natsStatus s =
            natsConnection_Request(&r, nats_req, "bench.mix", payload, sizeof(payload), 1000);
        natsMsg_Destroy(r);
        return s == NATS_OK;
    }
    natsConnection_PublishRequest(nats_req, "bench.mix", nats_inbox, payload, sizeof(payload));
    int got = 0;
    while (got < members) {
        natsMsg *r = NULL;
        if (natsSubscription_NextMsg(&r, nats_inbox_sub, 1000) != NATS_OK)
            break;
        natsMsg_Destroy(r);
        got++;
    }
    return got == members;
}

static void
nats_teardown(void)
{
    natsSubscription_Destroy(nats_inbox_sub);
    natsInbox_Destroy(nats_inbox);
    natsConnection_Destroy(nats_req);
    for (int i = 0; i < members; i++) {
        natsSubscription_Destroy(nats_subs[i]);
        natsConnection_Destroy(nats_members[i]);
    }
}

/* ---- mosquitto ----------------------------------------------------------- */

static struct mosquitto **mq_members, *mq_req;
static pthread_mutex_t mq_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t mq_cv = PTHREAD_COND_INITIALIZER;
static long mq_replies;
static atomic_int mq_subscribed;

static void
mq_on_subscribe(struct mosquitto *m, void *ud, int mid, int n, const int *qos)
{
    (void)m, (void)ud, (void)mid, (void)n, (void)qos;
    atomic_fetch_add(&mq_subscribed, 1);
}

static void
mq_on_req(struct mosquitto *m, void *ud, const struct mosquitto_message *msg)
{
    (void)ud;
    mosquitto_publish(m, NULL, "bench/mix/rep", msg->payloadlen, msg->payload, 0, false);
}

static void
mq_on_rep(struct mosquitto *m, void *ud, const struct mosquitto_message *msg)
{
    (void)m, (void)ud, (void)msg;
    pthread_mutex_lock(&mq_mu);
    mq_replies++;
    pthread_cond_signal(&mq_cv);
    pthread_mutex_unlock(&mq_mu);
}

static struct mosquitto *
mq_open(const char *id, void (*fn)(struct mosquitto *, void *, const struct mosquitto_message *),
        const char *topic)
{
    struct mosquitto *m = mosquitto_new(id, true, NULL);
    if (!m)
        bench_die("mosquitto_new");
    mosquitto_int_option(m, MOSQ_OPT_TCP_NODELAY, 1);
    mosquitto_message_callback_set(m, fn);
    mosquitto_subscribe_callback_set(m, mq_on_subscribe);
    if (mosquitto_connect(m, mq_host, mq_port, 60) != MOSQ_ERR_SUCCESS ||
        mosquitto_subscribe(m, NULL, topic, 0) != MOSQ_ERR_SUCCESS ||
        mosquitto_loop_start(m) != MOSQ_ERR_SUCCESS)
        bench_die("mosquitto connect");
    return m;
}

static void
mq_setup(void)
{
    char id[64];
    mq_members = calloc((size_t)members, sizeof(*mq_members));
    for (int i = 0; i < members; i++) {
        snprintf(id, sizeof(id), "mix-%d-%d", (int)getpid(), i);
        mq_members[i] = mq_open(id, mq_on_req, "bench/mix/req");
    }
    snprintf(id, sizeof(id), "mix-req-%d", (int)getpid());
    mq_req = mq_open(id, mq_on_rep, "bench/mix/rep");
    uint64_t deadline = bench_now_nsec() + 10000000000ull;
    while (atomic_load(&mq_subscribed) < members + 1)
        if (bench_now_nsec() > deadline)
            bench_die("mosquitto subscriptions");
        else
            bench_sleep_ms(1);
}

static int
mq_once(void)
{
    pthread_mutex_lock(&mq_mu);
    mq_replies = 0;
    pthread_mutex_unlock(&mq_mu);
    mosquitto_publish(mq_req, NULL, "bench/mix/req", sizeof(payload), payload, 0, false);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += 1;
    pthread_mutex_lock(&mq_mu);
    while (mq_replies < members)
        if (pthread_cond_timedwait(&mq_cv, &mq_mu, &ts) != 0)
            break;
    int ok = mq_replies >= members;
    pthread_mutex_unlock(&mq_mu);
    return ok;
}

static void
mq_teardown(void)
{
    for (int i = 0; i <= members; i++) {
        struct mosquitto *m = i < members ? mq_members[i] : mq_req;
        mosquitto_disconnect(m);
        mosquitto_loop_stop(m, false);
        mosquitto_destroy(m);
    }
}

/* ---- driver -------------------------------------------------------------- */

static int (*const once[NSYS])(void) = { mc_once, nats_once, mq_once };

int
main(int argc, char **argv)
{
    if (argc < 8) {
        fprintf(stderr, "usage: bench-mix MC_ADDR NATS_URL MQTT_HOST MQTT_PORT rtt|gather COUNT "
                        "MEMBERS\n");
        return 1;
    }
    mc_addr = argv[1];
    nats_url = argv[2];
    mq_host = argv[3];
    mq_port = atoi(argv[4]);
    const char *test = argv[5];
    int n = atoi(argv[6]);
    members = strcmp(test, "rtt") == 0 ? 1 : atoi(argv[7]);
    memset(payload, 'm', sizeof(payload));
    bench_raise_nofile();
    mosquitto_lib_init();
    mc_setup();
    nats_setup();
    mq_setup();

    uint64_t *lat[NSYS];
    int bad[NSYS] = { 0 };
    for (int s = 0; s < NSYS; s++)
        lat[s] = calloc((size_t)n, sizeof(uint64_t));
    int warm = n / 10;
    for (int i = 0; i < n + warm; i++) {
        for (int k = 0; k < NSYS; k++) {
            int s = (i + k) % NSYS; /* rotate who goes first */
            uint64_t t0 = bench_now_nsec();
            int ok = once[s]();
            uint64_t t1 = bench_now_nsec();
            if (!ok)
                bad[s]++;
            if (i >= warm)
                lat[s][i - warm] = t1 - t0;
        }
    }
    atomic_store(&stop, 1);
    for (int s = 0; s < NSYS; s++) {
        char prefix[16], fig[128];
        snprintf(prefix, sizeof(prefix), "%s", test);
        qsort(lat[s], (size_t)n, sizeof(uint64_t), bench_cmp_u64);
        const double pcts[] = { 50, 99, 99.9 };
        const char *names[] = { "p50", "p99", "p999" };
        for (int p = 0; p < 3; p++) {
            snprintf(fig, sizeof(fig), "%s_%s_us@%s", prefix, names[p], sys_name[s]);
            bench_result(fig, (double)bench_pct(lat[s], (size_t)n, pcts[p]) / 1000.0);
        }
        snprintf(fig, sizeof(fig), "%s_incomplete@%s", prefix, sys_name[s]);
        bench_result(fig, bad[s]);
        free(lat[s]);
    }
    mc_teardown();
    nats_teardown();
    mq_teardown();
    mosquitto_lib_cleanup();
    nats_Close();
    return 0;
}
