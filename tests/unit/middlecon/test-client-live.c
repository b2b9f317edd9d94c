/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libmiddlecon against a real broker: the driver of
 * tests/integration/test_middlecon_client.py, which starts the broker and
 * passes its address in MC_ADDR (without it every test is skipped, exit
 * 77). Covers what needs real broker semantics: gathers with members that
 * answer late, never, or disconnect mid-request; 100-member gathers; the
 * event-loop interface with presence; many threads on one client; large
 * payloads and the negotiated frame limit.
 */
#include "middlecon.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

static const char *addr;

static uint64_t
now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static struct mc_client *
connect_as(const char *name)
{
    struct mc_client *c = mc_client_new(addr);
    assert_non_null(c);
    assert_int_equal(mc_set_name(c, name), 0);
    assert_int_equal(mc_set_attr(c, "role", "test"), 0);
    assert_int_equal(mc_connect(c, 5000), 0);
    return c;
}

/* A member that answers requests after delay_ms, never (-1), or by disconnecting (-2). */
struct member {
    struct mc_client *c;
    int behaviour;
    pthread_t th;
    atomic_int stop;
    atomic_int requests;
};

static void *
member_main(void *arg)
{
    struct member *m = arg;
    while (!m->stop) {
        struct mc_event *ev;
        if (mc_recv(m->c, 50, &ev) < 0)
            continue;
        if (ev->type == MC_EVENT_REQUEST) {
            m->requests++;
            if (m->behaviour == -2) {
                mc_event_free(ev);
                m->c = mc_client_free(m->c);
                return NULL;
            }
            if (m->behaviour > 0)
                usleep((useconds_t)m->behaviour * 1000);
            if (m->behaviour >= 0)
                mc_reply(m->c, ev, ev->data, ev->len);
        }
        mc_event_free(ev);
    }
    return NULL;
}

static void
member_start(struct member *m, const char *room, int behaviour, const char *name)
{
    memset(m, 0, sizeof(*m));
    m->c = connect_as(name);
    m->behaviour = behaviour;
    assert_int_equal(mc_join(m->c, room), 0);
    assert_int_equal(pthread_create(&m->th, NULL, member_main, m), 0);
}

static void
member_stop(struct member *m)
{
    m->stop = 1;
    pthread_join(m->th, NULL);
    mc_client_free(m->c);
}

static const struct mc_missing *
find_missing(const struct mc_result *r, const char *name)
{
    for (size_t i = 0; i < r->nmissing; i++)
        if (strcmp(r->missing[i].name, name) == 0)
            return &r->missing[i];
    return NULL;
}

static void
test_gather_late_never_gone(void **state)
{
    (void)state;
    struct member m[4];
    member_start(&m[0], "g1", 0, "prompt");
    member_start(&m[1], "g1", 300, "late");
    member_start(&m[2], "g1", -1, "silent");
    member_start(&m[3], "g1", -2, "quitter");
    struct mc_client *c = connect_as("asker");
    struct mc_result *r = NULL;
    uint64_t t0 = now_ms();
    assert_int_equal(mc_request(c, "g1", "hello", 5, 1500, &r), 0);
    uint64_t took = now_ms() - t0;
    /* Finished at the timeout (the silent member), not earlier and not much later. */
    assert_true(took >= 1400 && took < 3000);
    assert_int_equal(r->nreplies, 2);
    for (size_t i = 0; i < r->nreplies; i++) {
        assert_true(strcmp(r->replies[i].from, "prompt") == 0 ||
                    strcmp(r->replies[i].from, "late") == 0);
        assert_int_equal(r->replies[i].len, 5);
        assert_memory_equal(r->replies[i].data, "hello", 5);
    }
    assert_int_equal(r->nmissing, 2);
    assert_non_null(find_missing(r, "silent"));
    assert_int_equal(find_missing(r, "silent")->reason, MC_REASON_TIMEOUT);
    assert_non_null(find_missing(r, "quitter"));
    assert_int_equal(find_missing(r, "quitter")->reason, MC_REASON_GONE);
    mc_result_free(r);

    /* Without the silent member the gather completes as soon as all answered. */
    member_stop(&m[2]);
    t0 = now_ms();
    assert_int_equal(mc_request(c, "g1", "again", 5, 5000, &r), 0);
    took = now_ms() - t0;
    assert_int_equal(r->nreplies, 2);
    assert_int_equal(r->nmissing, 0);
    assert_true(took < 2000);
    mc_result_free(r);

    /* One named session that never answers: one missing entry. */
    struct member s;
    member_start(&s, "g1-other", -1, "mute");
    assert_int_equal(mc_request_session(c, "mute", "x", 1, 300, &r), 0);
    assert_int_equal(r->nreplies, 0);
    assert_int_equal(r->nmissing, 1);
    assert_string_equal(r->missing[0].name, "mute");
    assert_int_equal(r->missing[0].reason, MC_REASON_TIMEOUT);
    mc_result_free(r);
    assert_int_equal(mc_request_session(c, "nobody-here", "x", 1, 300, &r), -ENOENT);
    assert_int_equal(mc_request_any(c, "nobody-room", "x", 1, 300, &r), -ENXIO);
    member_stop(&s);

    for (int i = 0; i < 4; i++)
        if (i != 2)
            member_stop(&m[i]);
    mc_client_free(c);
}

static void
test_gather_100_members(void **state)
{
    (void)state;
    enum { N = 100 };
    struct member *m = calloc(N, sizeof(*m));
    for (int i = 0; i < N; i++) {
        char name[32];
        snprintf(name, sizeof(name), "m%03d", i);
        member_start(&m[i], "big", 0, name);
    }
    struct mc_client *c = connect_as("big-asker");
    struct mc_who *w = NULL;
    assert_int_equal(mc_who(c, "big", &w), 0);
    assert_int_equal(w->count, N);
    assert_int_equal(w->members[0].nattrs, 1);
    assert_string_equal(w->members[0].attrs[0].key, "role");
    mc_who_free(w);
    for (int round = 0; round < 20; round++) {
        struct mc_result *r = NULL;
        char q[16];
        int n = snprintf(q, sizeof(q), "q%d", round);
        assert_int_equal(mc_request(c, "big", q, (size_t)n, 5000, &r), 0);
        assert_int_equal(r->nreplies, N);
        assert_int_equal(r->nmissing, 0);
        bool seen[N] = { false };
        for (size_t i = 0; i < r->nreplies; i++) {
            int idx = atoi(r->replies[i].from + 1);
            if (idx < 0 || idx >= N)
                fail_msg("reply from unexpected member '%s'", r->replies[i].from);
            else {
                assert_false(seen[idx]);
                seen[idx] = true;
            }
            assert_string_equal((const char *)r->replies[i].data, q);
        }
        mc_result_free(r);
    }
    for (int i = 0; i < N; i++) {
        member_stop(&m[i]);
        assert_int_equal(m[i].requests, 20);
    }
    free(m);
    mc_client_free(c);
}

struct loop_seen {
    int joins, leaves, messages, requests;
    char last_join[64];
};

static void
on_event(struct mc_client *c, const struct mc_event *ev, void *ud)
{
    struct loop_seen *s = ud;
    switch (ev->type) {
    case MC_EVENT_JOIN:
        s->joins++;
        snprintf(s->last_join, sizeof(s->last_join), "%s", ev->from);
        break;
    case MC_EVENT_LEAVE:
        s->leaves++;
        break;
    case MC_EVENT_MESSAGE:
        s->messages++;
        break;
    case MC_EVENT_REQUEST:
        s->requests++;
        mc_reply(c, ev, "from-loop", 9);
        break;
    default:
        break;
    }
}

/* Run the event loop of c until cond(s) or 5 s. */
static void
pump(struct mc_client *c, struct loop_seen *s, bool (*cond)(struct loop_seen *))
{
    uint64_t end = now_ms() + 5000;
    while (!cond(s) && now_ms() < end) {
        struct pollfd p = { mc_fd(c), POLLIN, 0 };
        int t = mc_timeout_ms(c);
        poll(&p, 1, t < 0 || t > 100 ? 100 : t);
        assert_int_equal(mc_process(c), 0);
    }
}

static bool
seen_join(struct loop_seen *s)
{
    return s->joins >= 1;
}

static bool
seen_all(struct loop_seen *s)
{
    return s->messages >= 10 && s->leaves >= 1;
}

struct asker {
    struct mc_result *r;
    int rc;
};

static void *
ask_loop(void *arg)
{
    struct asker *a = arg;
    struct mc_client *c = connect_as("loop-asker");
    a->rc = mc_request(c, "ev", "q", 1, 3000, &a->r);
    mc_client_free(c);
    return NULL;
}

static bool
seen_request(struct loop_seen *s)
{
    return s->requests >= 1;
}

static void
test_event_loop_presence(void **state)
{
    (void)state;
    struct loop_seen s = { 0 };
    struct mc_client *lc = connect_as("looper");
    mc_set_event_fn(lc, on_event, &s);
    assert_int_equal(mc_join(lc, "ev"), 0);

    struct mc_client *other = connect_as("visitor");
    assert_int_equal(mc_join(other, "ev"), 0);
    pump(lc, &s, seen_join);
    assert_string_equal(s.last_join, "visitor");
    for (int i = 0; i < 10; i++)
        assert_int_equal(mc_send(other, "ev", "tick", 4), 0);
    assert_int_equal(mc_leave(other, "ev"), 0);
    assert_int_equal(mc_leave(other, "ev"), -ENOENT);
    pump(lc, &s, seen_all);
    assert_int_equal(s.messages, 10);
    assert_int_equal(s.leaves, 1);

    /* A gather answered from the callback, while the asker blocks in another thread. */
    struct asker a = { 0 };
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, ask_loop, &a), 0);
    pump(lc, &s, seen_request);
    pthread_join(th, NULL);
    assert_int_equal(a.rc, 0);
    assert_int_equal(a.r->nreplies, 1);
    assert_string_equal(a.r->replies[0].from, "looper");
    assert_string_equal((const char *)a.r->replies[0].data, "from-loop");
    mc_result_free(a.r);
    mc_client_free(other);
    mc_client_free(lc);
}

struct shared {
    struct mc_client *c;
    int ok;
    int id;
};

static void *
share_main(void *arg)
{
    struct shared *sh = arg;
    for (int i = 0; i < 50; i++) {
        char q[32];
        int n = snprintf(q, sizeof(q), "t%d-%d", sh->id, i);
        struct mc_result *r = NULL;
        if (mc_request_session(sh->c, "echo", q, (size_t)n, 2000, &r) == 0 && r->nreplies == 1 &&
            strcmp(r->replies[0].data, q) == 0)
            sh->ok++;
        mc_result_free(r);
    }
    return NULL;
}

static void
test_threads_share_client(void **state)
{
    (void)state;
    struct member echo;
    member_start(&echo, "t-room", 0, "echo");
    struct mc_client *c = connect_as("shared");
    struct shared sh[4];
    pthread_t th[4];
    for (int i = 0; i < 4; i++) {
        sh[i] = (struct shared){ .c = c, .id = i };
        assert_int_equal(pthread_create(&th[i], NULL, share_main, &sh[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(sh[i].ok, 50);
    }
    mc_client_free(c);
    member_stop(&echo);
}

static void
test_large_payloads(void **state)
{
    (void)state;
    struct mc_client *a = connect_as("big-a");
    struct mc_client *b = connect_as("big-b");
    assert_int_equal(mc_join(b, "large"), 0);
    size_t len = 512 * 1024;
    char *p = malloc(len);
    for (size_t i = 0; i < len; i++)
        p[i] = (char)(i * 7);
    for (int i = 0; i < 4; i++)
        assert_int_equal(mc_send(a, "large", p, len), 0);
    for (int i = 0; i < 4; i++) {
        struct mc_event *ev = NULL;
        assert_int_equal(mc_recv(b, 5000, &ev), 0);
        assert_int_equal(ev->type, MC_EVENT_MESSAGE);
        assert_int_equal(ev->len, len);
        assert_memory_equal(ev->data, p, len);
        mc_event_free(ev);
    }
    /* Over the broker's 1 MiB frame limit: refused locally, connection intact. */
    char *huge = calloc(1, 2u << 20);
    assert_int_equal(mc_send(a, "large", huge, 2u << 20), -EMSGSIZE);
    assert_int_equal(mc_flush(a, 2000), 0);
    free(huge);
    free(p);
    mc_client_free(a);
    mc_client_free(b);
}

static int
setup(void **state)
{
    (void)state;
    return addr ? 0 : -1;
}

int
main(void)
{
    addr = getenv("MC_ADDR");
    if (!addr) {
        fprintf(stderr, "MC_ADDR not set: run by tests/integration/test_middlecon_client.py\n");
        return 77;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_gather_late_never_gone, setup),
        cmocka_unit_test_setup(test_gather_100_members, setup),
        cmocka_unit_test_setup(test_event_loop_presence, setup),
        cmocka_unit_test_setup(test_threads_share_client, setup),
        cmocka_unit_test_setup(test_large_payloads, setup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
