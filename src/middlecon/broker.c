/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The middlecon broker: sessions, rooms, fan-out, gathers, cluster links.
 *
 * Threads: N workers, each with its own epoll set; every listener is in
 * every worker's set with EPOLLEXCLUSIVE and a connection belongs to the
 * worker that accepted it (its "owner") for life. Only the owner reads a
 * session, parses its frames and closes it. Any thread may append to any
 * session's output queue (under the session's lock) and write it out; a
 * worker collects the sessions it queued to during one epoll batch and
 * flushes each once at the end of the batch (one writev per receiver per
 * batch, like NATS' pending-flush list). A peer connector thread dials the
 * configured peers and hands established links to a worker.
 *
 * Shared state (session names, rooms, remote members, peer links) lives in
 * one registry guarded by a rwlock: fan-out and lookups read, membership
 * changes write. Lock order: registry -> gather -> worker timer heap, and
 * registry -> gather -> session; a session lock is a leaf.
 *
 * Hot paths return bare -errno and never format strings; every allocation
 * a client can cause is capped (frame size, rooms per session, outstanding
 * requests, output buffer, sessions).
 *
 * TLS (listeners and peers given as tls://ADDR) lives in a struct stls that
 * only TLS sessions allocate: a plaintext session pays one NULL pointer and
 * keeps its read()/writev() path. A TLS session does its handshake inside
 * its owner's epoll loop (under the same not-yet-welcomed timeout as the
 * HELLO), then reads records with gnutls_record_recv() and writes queued
 * frames coalesced into records of at most 16 KiB.
 */
#include "broker.h"
#include "cleanup.h"
#include "frame.h"
#include "jw.h"
#include "kerr.h"
#include "log.h"
#include "map.h"
#include "mctls.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

#define RBUF_SIZE        (256 * 1024)
#define MAX_EVENTS       256
#define MAX_IOV          64
#define HANDSHAKE_USEC   (10 * 1000000ull)
#define TICK_USEC        (500 * 1000ull)
#define DEFAULT_TIMEOUT  5000u
#define MAX_ROOMS        (1u << 20)
#define MAX_REMOTE_NAMES (1u << 20)

#define TAG_EVFD   2u
#define TAG_LISTEN 1u

struct broker;
struct worker;
struct gather;

/* A refcounted encoded frame, shared by every receiver of a fan-out. */
struct chunk {
    atomic_uint refs;
    uint32_t len;
    uint8_t data[];
};

static struct chunk *
chunk_new(size_t len)
{
    struct chunk *c = malloc(sizeof(*c) + len);
    if (!c)
        return NULL;
    atomic_init(&c->refs, 1);
    c->len = (uint32_t)len;
    return c;
}

static void
chunk_unref(struct chunk *c)
{
    if (c && atomic_fetch_sub_explicit(&c->refs, 1, memory_order_acq_rel) == 1)
        free(c);
}

static struct chunk *
chunk_frame(const struct frame *f)
{
    size_t n = frame_size(f);
    if (!n)
        return NULL;
    struct chunk *c = chunk_new(n);
    if (!c)
        return NULL;
    if (frame_encode(f, c->data, n) != (ssize_t)n) {
        free(c);
        return NULL;
    }
    return c;
}

/*
 * TLS state of a session. g is used by the owner (handshake, reads) and by
 * flushing threads (writes), always under the session lock. wbuf holds
 * the record being written: after GNUTLS_E_AGAIN the same bytes must be
 * offered again, so they leave the chunk queue for it; it is freed when
 * the queue runs empty, so an idle TLS session keeps no output buffer.
 */
struct stls {
    gnutls_session_t g;
    bool ready; /* handshake complete (set by the owner, read under the lock) */
    uint32_t wlen;
    uint8_t *wbuf;
};

/* A request delivered to a session (or forwarded on a peer link). */
struct pend {
    uint32_t rid;
    uint32_t idx;
    struct gather *g;
};

struct session {
    atomic_int refs;
    pthread_mutex_t lock;
    struct broker *b;
    struct worker *w;
    int fd;
    struct stls *tls; /* NULL: plaintext; freed by session_close() */

    /* Owner thread only. */
    bool welcomed;
    bool is_peer;
    bool peer_out;
    bool registered;
    bool unix_sock;
    uint32_t max_frame;
    uint64_t created_usec;
    uint64_t last_rx_usec;
    bool ping_sent;
    uint8_t *in;
    uint32_t in_len;
    uint32_t in_cap;
    /* Changed by the owner under the registry write lock. */
    struct room **rooms;
    uint32_t nrooms;
    uint32_t rooms_cap;

    /* Set once before the session is visible to others. */
    char *name;
    uint16_t name_len;
    uint8_t *attrs;
    uint32_t attrs_len;
    uint16_t nattrs;
    struct peer *peer;

    /* Under lock. */
    bool closed;
    bool want_out;
    bool flush_sched;
    struct chunk **oq;
    uint32_t oq_head;
    uint32_t oq_n;
    uint32_t oq_cap;
    uint32_t oq_off;
    size_t oq_bytes;
    struct pend *pend;
    uint32_t npend;
    uint32_t pend_cap;
    uint32_t next_rid;

    atomic_uint reqs_open;
    atomic_uint_fast64_t drops;

    /* Worker list, under w->list_lock. */
    struct session *wnext;
    struct session *wprev;
};

struct rmember {
    char *name;
    uint16_t len;
    struct session *link;
};

struct room {
    char *name;
    uint16_t len;
    struct session **local;
    uint32_t nlocal;
    uint32_t local_cap;
    struct rmember *remote;
    uint32_t nremote;
    uint32_t remote_cap;
    atomic_uint rr;
    atomic_uint_fast64_t msgs;
    atomic_uint_fast64_t drops;
};

struct rsession {
    char *name;
    uint16_t len;
    uint8_t *attrs;
    uint32_t attrs_len;
    uint16_t nattrs;
    struct session *link;
};

struct peer {
    char *text;
    struct addr addr;
    bool tls;
    char *host;          /* TLS: the name its certificate must carry; NULL for unix: */
    struct session *out; /* under registry lock */
    char *id;            /* peer's broker id, learned from WELCOME */
    uint64_t next_try_usec;
    uint32_t backoff_ms;
    bool is_self;
};

struct timer {
    uint64_t deadline;
    struct gather *g;
};

struct stats {
    atomic_uint_fast64_t conns;
    atomic_uint_fast64_t sessions;
    atomic_uint_fast64_t sessions_total;
    atomic_uint_fast64_t msgs_in;
    atomic_uint_fast64_t msgs_out;
    atomic_uint_fast64_t bytes_in;
    atomic_uint_fast64_t bytes_out;
    atomic_uint_fast64_t drops;
    atomic_uint_fast64_t requests;
    atomic_uint_fast64_t gathers;
    atomic_uint_fast64_t replies;
    atomic_uint_fast64_t missing;
    atomic_uint_fast64_t slow_closed;
    atomic_uint_fast64_t bad_frames;
    atomic_uint_fast64_t presence_suppressed;
    atomic_uint_fast64_t tls_handshakes;
    atomic_uint_fast64_t tls_failed;
    atomic_uint_fast64_t tls_timeouts;
    atomic_uint_fast64_t closed_since_trim;
};

struct worker {
    struct broker *b;
    unsigned idx;
    pthread_t th;
    bool started;
    int epfd;
    int evfd;
    int spare_fd;
    pthread_mutex_t list_lock;
    struct session *sessions;
    size_t nsessions;
    struct session **dirty;
    size_t ndirty;
    size_t dirty_cap;
    pthread_mutex_t heap_lock;
    struct timer *heap;
    size_t nheap;
    size_t heap_cap;
    uint8_t *rbuf;
    uint64_t next_tick;
    uint64_t now; /* monotonic time after the last epoll_wait */
    /* This worker's counters, written only by it; padded away from the
     * fields other threads touch. */
    char pad[64];
    struct stats st;
};

struct broker {
    struct broker_config cfg; /* tokens/peers strings owned here */
    char id[FRAME_NAME_MAX + 1];
    size_t id_len;
    int lfd[BROKER_MAX_LISTEN];
    bool lunix[BROKER_MAX_LISTEN];
    bool ltls[BROKER_MAX_LISTEN];
    gnutls_certificate_credentials_t tls_server; /* TLS listeners; NULL without */
    gnutls_certificate_credentials_t tls_client; /* TLS peers we dial; NULL without */
    size_t nl;
    struct worker *w;
    unsigned nw;
    atomic_uint next_w;

    pthread_rwlock_t reg;
    struct map names;  /* local sessions by name */
    struct map rnames; /* remote sessions by name */
    struct map rooms;
    struct peer peers[BROKER_MAX_PEERS];
    size_t npeers;

    pthread_t peer_th;
    bool peer_started;
    int peer_evfd;
    atomic_bool stop;
    atomic_uint anon_seq;
    uint64_t start_usec;
    struct stats st;
};

static _Thread_local struct worker *cur_worker;

/* Counters live per worker, so the hot path never bounces a cache line
 * between cores, and are summed when read; other threads use the broker's
 * own set. Gauges (conns, sessions) may go up on one thread and down on
 * another: only their sum (modulo 2^64) is meaningful. */
static inline struct stats *
stats_here(struct broker *b)
{
    return cur_worker ? &cur_worker->st : &b->st;
}

static uint64_t
stats_sum(const struct broker *b, size_t off)
{
    const atomic_uint_fast64_t *v = (const atomic_uint_fast64_t *)((const char *)&b->st + off);
    uint64_t sum = atomic_load_explicit(v, memory_order_relaxed);
    for (unsigned i = 0; b->w && i < b->nw; i++) {
        v = (const atomic_uint_fast64_t *)((const char *)&b->w[i].st + off);
        sum += atomic_load_explicit(v, memory_order_relaxed);
    }
    return sum;
}

#define ST_ADD(b, field, n) \
    atomic_fetch_add_explicit(&stats_here(b)->field, (n), memory_order_relaxed)
#define ST_SUB(b, field, n) \
    atomic_fetch_sub_explicit(&stats_here(b)->field, (n), memory_order_relaxed)
#define ST_GET(b, field) stats_sum((b), offsetof(struct stats, field))

/* ------------------------------------------------------------------ */
/* Gathers                                                              */

/* Kinds of output, by how the bound applies (see enqueue_locked()). */
enum { Q_DROP = 0, Q_REQ = 1, Q_CTRL = 2 };

struct gentry {
    uint32_t name_off; /* member: name in g->names; peer: missing list if down */
    uint32_t name_len;
    uint32_t down_count; /* peer entries: members in the list */
    bool is_peer;
    bool done;
};

struct gather {
    atomic_int refs;
    pthread_mutex_t lock;
    struct broker *b;
    struct session *req; /* ref */
    struct worker *w;    /* whose heap holds the timer */
    uint32_t req_id;
    uint8_t mode;
    atomic_bool done;
    ssize_t heap_idx; /* under w->heap_lock; -1 when not in the heap */
    uint32_t outstanding;
    uint64_t deadline;
    size_t budget;
    struct gentry *e;
    uint32_t n;
    struct frame_buf names;
    struct frame_buf rep;
    uint32_t nrep;
    struct frame_buf miss;
    uint32_t nmiss;
};

static void session_unref(struct session *s);
static int session_send(struct session *s, struct chunk *c, int kind);
static struct session *session_ref(struct session *s);

static void
gather_unref(struct gather *g)
{
    if (!g || atomic_fetch_sub_explicit(&g->refs, 1, memory_order_acq_rel) != 1)
        return;
    session_unref(g->req);
    pthread_mutex_destroy(&g->lock);
    free(g->e);
    frame_buf_free(&g->names);
    frame_buf_free(&g->rep);
    frame_buf_free(&g->miss);
    free(g);
}

/* Timer heap of a worker, ordered by deadline. Caller holds heap_lock. */
static void
heap_swap(struct worker *w, size_t a, size_t b)
{
    struct timer t = w->heap[a];
    w->heap[a] = w->heap[b];
    w->heap[b] = t;
    w->heap[a].g->heap_idx = (ssize_t)a;
    w->heap[b].g->heap_idx = (ssize_t)b;
}

static void
heap_up(struct worker *w, size_t i)
{
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (w->heap[p].deadline <= w->heap[i].deadline)
            break;
        heap_swap(w, i, p);
        i = p;
    }
}

static void
heap_down(struct worker *w, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < w->nheap && w->heap[l].deadline < w->heap[m].deadline)
            m = l;
        if (r < w->nheap && w->heap[r].deadline < w->heap[m].deadline)
            m = r;
        if (m == i)
            return;
        heap_swap(w, i, m);
        i = m;
    }
}

static int
heap_push(struct worker *w, struct gather *g)
{
    if (w->nheap == w->heap_cap) {
        size_t ncap = w->heap_cap ? w->heap_cap * 2 : 64;
        struct timer *nh = realloc(w->heap, ncap * sizeof(*nh));
        if (!nh)
            return -ENOMEM;
        w->heap = nh;
        w->heap_cap = ncap;
    }
    w->heap[w->nheap] = (struct timer){ g->deadline, g };
    g->heap_idx = (ssize_t)w->nheap;
    w->nheap++;
    heap_up(w, w->nheap - 1);
    return 0;
}

static void
heap_remove(struct worker *w, size_t i)
{
    w->heap[i].g->heap_idx = -1;
    w->nheap--;
    if (i != w->nheap) {
        w->heap[i] = w->heap[w->nheap];
        w->heap[i].g->heap_idx = (ssize_t)i;
        heap_down(w, i);
        heap_up(w, i);
    }
}

/* Take the gather out of its worker's timer heap; drops the heap's ref. */
static void
gather_disarm(struct gather *g)
{
    struct worker *w = g->w;
    if (!w)
        return;
    bool removed = false;
    pthread_mutex_lock(&w->heap_lock);
    if (g->heap_idx >= 0) {
        heap_remove(w, (size_t)g->heap_idx);
        removed = true;
    }
    pthread_mutex_unlock(&w->heap_lock);
    if (removed)
        gather_unref(g);
}

static struct frame_bytes
gname(const struct gather *g, const struct gentry *e)
{
    return (struct frame_bytes){ g->names.data + e->name_off, e->name_len };
}

static void
gather_add_missing(struct gather *g, struct frame_bytes name, uint16_t reason)
{
    if (frame_buf_put_name(&g->miss, name.p, name.len) == 0 &&
        frame_buf_put_u16(&g->miss, reason) == 0)
        g->nmiss++;
    ST_ADD(g->b, missing, 1);
}

static void
gather_add_reply(struct gather *g, struct frame_bytes from, const void *p, size_t len)
{
    if (!frame_name_valid(from.p, from.len))
        return;
    size_t need = 2 + from.len + 4 + len;
    if (g->rep.len + g->miss.len + need > g->budget) {
        gather_add_missing(g, from, FRAME_E_TOO_BIG);
        return;
    }
    size_t old = g->rep.len;
    if (frame_buf_put_name(&g->rep, from.p, from.len) < 0 ||
        frame_buf_put_blob(&g->rep, p, len) < 0) {
        g->rep.len = old;
        gather_add_missing(g, from, FRAME_E_TOO_BIG);
        return;
    }
    g->nrep++;
    ST_ADD(g->b, replies, 1);
}

/* Build and queue the answer to the requester. Caller holds g->lock. */
static void
gather_complete(struct gather *g)
{
    atomic_store(&g->done, true);
    struct frame f;
    memset(&f, 0, sizeof(f));
    f.id = g->req_id;
    struct frame_buf all = { 0 };
    if (g->mode == FRAME_MODE_ALL) {
        f.type = FRAME_GATHER_RESULT;
        f.nreplies = g->nrep;
        f.nmissing = g->nmiss;
        if (frame_buf_put_raw(&all, g->rep.data, g->rep.len) < 0 ||
            frame_buf_put_raw(&all, g->miss.data, g->miss.len) < 0) {
            /* Out of memory: report every member missing rather than nothing. */
            f.nreplies = 0;
            f.nmissing = g->nmiss;
            all.len = 0;
            frame_buf_put_raw(&all, g->miss.data, g->miss.len);
        }
        f.list = (struct frame_bytes){ all.data, all.len };
    } else if (g->nrep > 0) {
        /* rep holds one (name, blob). */
        const uint8_t *p = g->rep.data;
        uint16_t nl = (uint16_t)(p[0] << 8 | p[1]);
        f.type = FRAME_REPLY;
        f.from = (struct frame_bytes){ p + 2, nl };
        const uint8_t *q = p + 2 + nl;
        uint32_t pl = (uint32_t)q[0] << 24 | (uint32_t)q[1] << 16 | (uint32_t)q[2] << 8 | q[3];
        f.payload = (struct frame_bytes){ q + 4, pl };
    } else {
        f.type = FRAME_ERROR;
        f.code = FRAME_E_TIMEOUT;
        if (g->nmiss > 0) {
            const uint8_t *p = g->miss.data;
            uint16_t nl = (uint16_t)(p[0] << 8 | p[1]);
            f.subject = (struct frame_bytes){ p + 2, nl };
            f.code = (uint16_t)(p[2 + nl] << 8 | p[3 + nl]);
        }
        const char *m = frame_error_name(f.code);
        f.message = (struct frame_bytes){ (const uint8_t *)m, strlen(m) };
    }
    struct chunk *c = chunk_frame(&f);
    frame_buf_free(&all);
    if (c) {
        session_send(g->req, c, Q_CTRL);
        chunk_unref(c);
    }
    atomic_fetch_sub(&g->req->reqs_open, 1);
    ST_ADD(g->b, gathers, 1);
    /* Free the bulk now; late replies only look at done. */
    frame_buf_free(&g->rep);
    frame_buf_free(&g->miss);
}

static void
gather_entry_missing_locked(struct gather *g, uint32_t idx, uint16_t reason)
{
    struct gentry *e = &g->e[idx];
    if (e->done)
        return;
    e->done = true;
    if (e->is_peer) {
        /* The entry holds (name, reason) pairs for that broker's members:
         * PEER_DOWN when the link dropped, TIMEOUT when it was too slow. */
        size_t start = g->miss.len;
        if (frame_buf_put_raw(&g->miss, g->names.data + e->name_off, e->name_len) == 0) {
            uint16_t why = reason == FRAME_E_TIMEOUT ? FRAME_E_TIMEOUT : FRAME_E_PEER_DOWN;
            uint8_t *p = g->miss.data + start, *end = g->miss.data + g->miss.len;
            while (end - p >= 2) {
                size_t nl = (size_t)(p[0] << 8 | p[1]);
                p += 2 + nl;
                if (end - p < 2)
                    break;
                p[0] = (uint8_t)(why >> 8);
                p[1] = (uint8_t)why;
                p += 2;
            }
            g->nmiss += e->down_count;
        }
        ST_ADD(g->b, missing, e->down_count);
    } else {
        gather_add_missing(g, gname(g, e), reason);
    }
    g->outstanding--;
}

static void
gather_finish_if_ready(struct gather *g)
{
    if (g->outstanding == 0 && !atomic_load(&g->done)) {
        gather_complete(g);
        gather_disarm(g);
    }
}

static void
gather_missing(struct gather *g, uint32_t idx, uint16_t reason)
{
    pthread_mutex_lock(&g->lock);
    if (!atomic_load(&g->done)) {
        gather_entry_missing_locked(g, idx, reason);
        gather_finish_if_ready(g);
    }
    pthread_mutex_unlock(&g->lock);
}

static void
gather_reply(struct gather *g, uint32_t idx, struct frame_bytes from, struct frame_bytes payload)
{
    pthread_mutex_lock(&g->lock);
    if (!atomic_load(&g->done) && !g->e[idx].done) {
        g->e[idx].done = true;
        gather_add_reply(g, from, payload.p, payload.len);
        g->outstanding--;
        gather_finish_if_ready(g);
    }
    pthread_mutex_unlock(&g->lock);
}

/* A peer's answer to a forwarded request: GATHER_RESULT, REPLY or ERROR. */
static void
gather_merge(struct gather *g, uint32_t idx, const struct frame *f)
{
    pthread_mutex_lock(&g->lock);
    if (atomic_load(&g->done) || g->e[idx].done) {
        pthread_mutex_unlock(&g->lock);
        return;
    }
    if (f->type == FRAME_GATHER_RESULT) {
        struct frame_iter it;
        struct frame_bytes n, p;
        uint16_t reason;
        frame_iter_gather(&it, f);
        while (frame_next_reply(&it, &n, &p) > 0)
            gather_add_reply(g, n, p.p, p.len);
        while (frame_next_missing(&it, &n, &reason) > 0)
            gather_add_missing(g, n, reason);
        g->e[idx].done = true;
        g->outstanding--;
    } else if (f->type == FRAME_REPLY && frame_name_valid(f->from.p, f->from.len)) {
        gather_add_reply(g, f->from, f->payload.p, f->payload.len);
        g->e[idx].done = true;
        g->outstanding--;
    } else if (f->type == FRAME_ERROR && g->e[idx].down_count == 1 &&
               frame_name_valid(f->subject.p, f->subject.len)) {
        gather_add_missing(g, f->subject, f->code);
        g->e[idx].done = true;
        g->outstanding--;
    } else {
        gather_entry_missing_locked(g, idx, FRAME_E_PEER_DOWN);
    }
    gather_finish_if_ready(g);
    pthread_mutex_unlock(&g->lock);
}

static void
gather_timeout(struct gather *g)
{
    pthread_mutex_lock(&g->lock);
    if (!atomic_load(&g->done)) {
        for (uint32_t i = 0; i < g->n; i++)
            gather_entry_missing_locked(g, i, FRAME_E_TIMEOUT);
        g->outstanding = 0;
        gather_complete(g);
    }
    pthread_mutex_unlock(&g->lock);
}

/* ------------------------------------------------------------------ */
/* Sessions: output                                                     */

static struct session *
session_ref(struct session *s)
{
    atomic_fetch_add_explicit(&s->refs, 1, memory_order_relaxed);
    return s;
}

static void
session_unref(struct session *s)
{
    if (!s || atomic_fetch_sub_explicit(&s->refs, 1, memory_order_acq_rel) != 1)
        return;
    for (uint32_t i = 0; i < s->oq_n; i++)
        chunk_unref(s->oq[(s->oq_head + i) % s->oq_cap]);
    free(s->oq);
    free(s->pend);
    free(s->in);
    free(s->rooms);
    free(s->name);
    free(s->attrs);
    pthread_mutex_destroy(&s->lock);
    free(s);
}

static size_t
session_bound(const struct session *s)
{
    return s->is_peer ? s->b->cfg.max_outbuf * 4 : s->b->cfg.max_outbuf;
}

static void
epoll_set(struct session *s, bool out)
{
    struct epoll_event ev = { .events = EPOLLIN | EPOLLRDHUP | (out ? EPOLLOUT : 0),
                              .data.ptr = s };
    epoll_ctl(s->w->epfd, EPOLL_CTL_MOD, s->fd, &ev);
}

/* Drop the first len queued bytes (they were written). Caller holds s->lock. */
static void
oq_consume(struct session *s, size_t len)
{
    s->oq_bytes -= len;
    while (len > 0) {
        struct chunk *c = s->oq[s->oq_head];
        size_t rem = c->len - s->oq_off;
        if (len < rem) {
            s->oq_off += (uint32_t)len;
            break;
        }
        len -= rem;
        s->oq_off = 0;
        s->oq_head = (s->oq_head + 1) % s->oq_cap;
        s->oq_n--;
        chunk_unref(c);
    }
}

/* Plaintext: writev the queue until it is empty or the socket is full. */
static void
plain_flush_locked(struct session *s)
{
    while (s->oq_n > 0) {
        struct iovec iov[MAX_IOV];
        int n = 0;
        size_t total = 0;
        for (uint32_t i = 0; i < s->oq_n && n < MAX_IOV; i++, n++) {
            struct chunk *c = s->oq[(s->oq_head + i) % s->oq_cap];
            size_t off = i == 0 ? s->oq_off : 0;
            iov[n].iov_base = c->data + off;
            iov[n].iov_len = c->len - off;
            total += c->len - off;
        }
        ssize_t w = writev(s->fd, iov, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN) {
                /* Broken connection: let the owner see it and close. */
                shutdown(s->fd, SHUT_RDWR);
            }
            break;
        }
        ST_ADD(s->b, bytes_out, (uint64_t)w);
        oq_consume(s, (size_t)w);
        if ((size_t)w < total)
            break; /* short write: the socket buffer is full */
    }
}

/*
 * TLS: copy queued frames into one record (many small frames cost one
 * record and one write) and send it; after -EAGAIN the staged record stays
 * in wbuf to be offered again, unchanged, on the next flush.
 */
static void
tls_flush_locked(struct session *s)
{
    struct stls *t = s->tls; /* ready: session_flush() waits for the handshake */
    for (;;) {
        if (t->wlen == 0) {
            if (s->oq_n == 0)
                break;
            if (!t->wbuf && !(t->wbuf = malloc(MCTLS_RECORD_MAX))) {
                shutdown(s->fd, SHUT_RDWR);
                break;
            }
            while (s->oq_n > 0 && t->wlen < MCTLS_RECORD_MAX) {
                struct chunk *c = s->oq[s->oq_head];
                size_t n = c->len - s->oq_off;
                if (n > MCTLS_RECORD_MAX - t->wlen)
                    n = MCTLS_RECORD_MAX - t->wlen;
                memcpy(t->wbuf + t->wlen, c->data + s->oq_off, n);
                t->wlen += (uint32_t)n;
                oq_consume(s, n);
            }
        }
        ssize_t w = mctls_send(t->g, t->wbuf, t->wlen);
        if (w == -EINTR)
            continue;
        if (w == -EAGAIN)
            break;
        if (w <= 0) {
            /* Broken connection: let the owner see it and close. */
            shutdown(s->fd, SHUT_RDWR);
            t->wlen = 0;
            break;
        }
        ST_ADD(s->b, bytes_out, (uint64_t)w);
        t->wlen -= (uint32_t)w;
        if (t->wlen)
            memmove(t->wbuf, t->wbuf + w, t->wlen);
    }
    if (t->wlen == 0 && s->oq_n == 0) {
        free(t->wbuf);
        t->wbuf = NULL;
    }
}

/* Write as much of the queue as the socket takes. Any thread. */
static void
session_flush(struct session *s)
{
    pthread_mutex_lock(&s->lock);
    s->flush_sched = false;
    if (s->closed || (s->tls && !s->tls->ready)) {
        /* A handshake in progress sets its own epoll interest. */
        pthread_mutex_unlock(&s->lock);
        return;
    }
    if (s->tls)
        tls_flush_locked(s);
    else
        plain_flush_locked(s);
    bool pending = s->oq_n > 0 || (s->tls && s->tls->wlen);
    /* An idle session keeps no queue storage. */
    if (s->oq_n == 0 && s->oq_cap) {
        free(s->oq);
        s->oq = NULL;
        s->oq_cap = s->oq_head = 0;
    }
    if (pending && !s->want_out) {
        s->want_out = true;
        epoll_set(s, true);
    } else if (!pending && s->want_out) {
        s->want_out = false;
        epoll_set(s, false);
    }
    pthread_mutex_unlock(&s->lock);
}

/* Queue c on s. Caller holds s->lock. Returns 1 when a flush must be
 * scheduled, 0 when queued, -ENOBUFS over the bound, -EPIPE closed. */
static int
enqueue_locked(struct session *s, struct chunk *c, int kind)
{
    if (s->closed)
        return -EPIPE;
    /* Never send a frame larger than the receiver agreed to take. */
    if (c->len > s->max_frame)
        return -EMSGSIZE;
    size_t bound = session_bound(s);
    if (kind != Q_CTRL && s->oq_bytes + c->len > bound)
        return -ENOBUFS;
    if (kind == Q_CTRL && s->oq_bytes + c->len > 2 * bound) {
        /* A session that does not read its own answers: disconnect it. */
        shutdown(s->fd, SHUT_RDWR);
        ST_ADD(s->b, slow_closed, 1);
        return -ENOBUFS;
    }
    if (s->oq_n == s->oq_cap) {
        uint32_t ncap = s->oq_cap ? s->oq_cap * 2 : 8;
        struct chunk **nq = malloc(ncap * sizeof(*nq));
        if (!nq)
            return -ENOBUFS;
        for (uint32_t i = 0; i < s->oq_n; i++)
            nq[i] = s->oq[(s->oq_head + i) % s->oq_cap];
        free(s->oq);
        s->oq = nq;
        s->oq_cap = ncap;
        s->oq_head = 0;
    }
    atomic_fetch_add_explicit(&c->refs, 1, memory_order_relaxed);
    s->oq[(s->oq_head + s->oq_n) % s->oq_cap] = c;
    s->oq_n++;
    s->oq_bytes += c->len;
    if (!s->flush_sched && !s->want_out) {
        s->flush_sched = true;
        return 1;
    }
    return 0;
}

static void
schedule_flush(struct session *s)
{
    struct worker *w = cur_worker;
    if (!w) {
        session_flush(s);
        return;
    }
    if (w->ndirty == w->dirty_cap) {
        size_t ncap = w->dirty_cap ? w->dirty_cap * 2 : 64;
        struct session **nd = realloc(w->dirty, ncap * sizeof(*nd));
        if (!nd) {
            session_flush(s);
            return;
        }
        w->dirty = nd;
        w->dirty_cap = ncap;
    }
    w->dirty[w->ndirty++] = session_ref(s);
}

/* Queue one frame. Returns 0 or -ENOBUFS / -EPIPE. Any thread. */
static int
session_send(struct session *s, struct chunk *c, int kind)
{
    pthread_mutex_lock(&s->lock);
    int r = enqueue_locked(s, c, kind);
    pthread_mutex_unlock(&s->lock);
    if (r == 1)
        schedule_flush(s);
    if (r >= 0)
        ST_ADD(s->b, msgs_out, 1);
    if (r == -EMSGSIZE)
        r = -ENOBUFS; /* callers count it as a drop */
    return r < 0 ? r : 0;
}

static void
send_simple(struct session *s, uint8_t type, uint32_t id)
{
    struct frame f = { .type = type, .id = id };
    struct chunk *c = chunk_frame(&f);
    if (c) {
        session_send(s, c, Q_CTRL);
        chunk_unref(c);
    }
}

static void
send_error(struct session *s, uint32_t id, uint16_t code, struct frame_bytes subject,
           const char *msg)
{
    struct frame f = { .type = FRAME_ERROR, .id = id, .code = code };
    f.subject = subject;
    if (f.subject.len > FRAME_STR_MAX)
        f.subject.len = FRAME_STR_MAX;
    f.message = (struct frame_bytes){ (const uint8_t *)msg, strlen(msg) };
    struct chunk *c = chunk_frame(&f);
    if (c) {
        session_send(s, c, Q_CTRL);
        chunk_unref(c);
    }
}

static const struct frame_bytes no_subject = { NULL, 0 };

static struct frame_bytes
sname(const struct session *s)
{
    return (struct frame_bytes){ (const uint8_t *)s->name, s->name_len };
}

/* ------------------------------------------------------------------ */
/* Registry helpers (caller holds b->reg)                               */

static struct room *
room_get(struct broker *b, struct frame_bytes name)
{
    return map_get(&b->rooms, name.p, name.len);
}

static struct room *
room_get_or_create(struct broker *b, struct frame_bytes name)
{
    struct room *r = room_get(b, name);
    if (r)
        return r;
    if (b->rooms.count >= MAX_ROOMS)
        return NULL;
    r = calloc(1, sizeof(*r));
    if (!r)
        return NULL;
    r->name = strndup((const char *)name.p, name.len);
    r->len = (uint16_t)name.len;
    if (!r->name || map_put(&b->rooms, r->name, r->len, r) < 0) {
        free(r->name);
        free(r);
        return NULL;
    }
    return r;
}

static void
room_free(struct room *r)
{
    for (uint32_t i = 0; i < r->nremote; i++)
        free(r->remote[i].name);
    free(r->remote);
    free(r->local);
    free(r->name);
    free(r);
}

static void
room_maybe_delete(struct broker *b, struct room *r)
{
    if (r->nlocal == 0 && r->nremote == 0) {
        map_del(&b->rooms, r->name, r->len);
        room_free(r);
    }
}

/* The link to send traffic for the broker behind remote link `link` on:
 * our own out-link to it when up, else the link itself. */
static struct session *
link_for(struct broker *b, struct session *link)
{
    if (link->peer_out)
        return link;
    for (size_t i = 0; i < b->npeers; i++) {
        struct peer *p = &b->peers[i];
        if (p->out && p->id && strcmp(p->id, link->name) == 0)
            return p->out;
    }
    return link;
}

/* Send c to every established out-link (announcements). */
static void
announce(struct broker *b, struct chunk *c)
{
    for (size_t i = 0; i < b->npeers; i++)
        if (b->peers[i].out)
            session_send(b->peers[i].out, c, Q_CTRL);
}

static void
announce_session(struct broker *b, struct session *s, uint8_t op)
{
    if (!b->npeers)
        return;
    struct frame f = { .type = FRAME_PEER_SESSION, .op = op, .name = sname(s) };
    if (op == FRAME_OP_UP) {
        f.attrs = (struct frame_bytes){ s->attrs, s->attrs_len };
        f.nattrs = s->nattrs;
    }
    struct chunk *c = chunk_frame(&f);
    if (c) {
        announce(b, c);
        chunk_unref(c);
    }
}

static void
announce_member(struct broker *b, struct room *r, struct frame_bytes name, uint8_t op)
{
    if (!b->npeers)
        return;
    struct frame f = { .type = FRAME_PEER_MEMBER, .op = op, .name = name };
    f.room = (struct frame_bytes){ (const uint8_t *)r->name, r->len };
    struct chunk *c = chunk_frame(&f);
    if (c) {
        announce(b, c);
        chunk_unref(c);
    }
}

/* PRESENCE to the local members of r other than `except`. */
static void
presence(struct broker *b, struct room *r, struct frame_bytes name, const uint8_t *attrs,
         uint32_t attrs_len, uint16_t nattrs, uint8_t op, struct session *except,
         uint32_t just_left)
{
    if (r->nlocal == 0 || (r->nlocal == 1 && r->local[0] == except))
        return;
    /*
     * Judge a local leave by the room's size before it (just_left: the
     * leaver is gone already), so that every join silenced at the limit has
     * its leave silenced too: members never see a leave without its join.
     */
    uint32_t size = r->nlocal + just_left;
    if (b->cfg.presence_limit && size > b->cfg.presence_limit) {
        ST_ADD(b, presence_suppressed, 1);
        return;
    }
    struct frame f = { .type = FRAME_PRESENCE, .op = op, .name = name };
    f.room = (struct frame_bytes){ (const uint8_t *)r->name, r->len };
    if (op == FRAME_OP_UP) {
        f.attrs = (struct frame_bytes){ attrs, attrs_len };
        f.nattrs = nattrs;
    }
    struct chunk *c = chunk_frame(&f);
    if (!c)
        return;
    for (uint32_t i = 0; i < r->nlocal; i++) {
        struct session *m = r->local[i];
        if (m != except && session_send(m, c, Q_DROP) == -ENOBUFS) {
            atomic_fetch_add(&m->drops, 1);
            atomic_fetch_add(&r->drops, 1);
            ST_ADD(b, drops, 1);
        }
    }
    chunk_unref(c);
}

static int
room_local_index(const struct room *r, const struct session *s)
{
    for (uint32_t i = 0; i < r->nlocal; i++)
        if (r->local[i] == s)
            return (int)i;
    return -1;
}

/* Remove s from r (registry write lock held). */
static void
room_remove_local(struct broker *b, struct room *r, struct session *s)
{
    int i = room_local_index(r, s);
    if (i < 0)
        return;
    r->local[i] = r->local[--r->nlocal];
    presence(b, r, sname(s), NULL, 0, 0, FRAME_OP_DOWN, NULL, 1);
    announce_member(b, r, sname(s), FRAME_OP_DOWN);
}

/* Forget everything the broker behind in-link `link` announced. */
static void
purge_remote(struct broker *b, struct session *link)
{
    struct room **empty = NULL;
    size_t nempty = 0, cap = 0;
    for (struct map_iter it = { 0 }; map_next(&b->rooms, &it);) {
        struct room *r = it.e->value;
        for (uint32_t i = 0; i < r->nremote;) {
            struct rmember *m = &r->remote[i];
            if (m->link != link) {
                i++;
                continue;
            }
            presence(b, r, (struct frame_bytes){ (const uint8_t *)m->name, m->len }, NULL, 0, 0,
                     FRAME_OP_DOWN, NULL, 0);
            free(m->name);
            r->remote[i] = r->remote[--r->nremote];
        }
        if (r->nlocal == 0 && r->nremote == 0) {
            if (nempty == cap) {
                size_t ncap = cap ? cap * 2 : 16;
                struct room **ne = realloc(empty, ncap * sizeof(*ne));
                if (!ne)
                    continue; /* stays as an empty room; removed on next change */
                empty = ne;
                cap = ncap;
            }
            empty[nempty++] = r;
        }
    }
    for (size_t i = 0; i < nempty; i++)
        room_maybe_delete(b, empty[i]);
    free(empty);

    struct rsession **gone = NULL;
    size_t ngone = 0;
    cap = 0;
    for (struct map_iter it = { 0 }; map_next(&b->rnames, &it);) {
        struct rsession *rs = it.e->value;
        if (rs->link != link)
            continue;
        if (ngone == cap) {
            size_t ncap = cap ? cap * 2 : 16;
            struct rsession **ng = realloc(gone, ncap * sizeof(*ng));
            if (!ng)
                break;
            gone = ng;
            cap = ncap;
        }
        gone[ngone++] = rs;
    }
    for (size_t i = 0; i < ngone; i++) {
        map_del(&b->rnames, gone[i]->name, gone[i]->len);
        free(gone[i]->name);
        free(gone[i]->attrs);
        free(gone[i]);
    }
    free(gone);
}

/* ------------------------------------------------------------------ */
/* Session lifecycle (owner thread)                                     */

/* Give s the TLS session g over its fd; on success s owns g. 0 or -ENOMEM. */
static int
stls_adopt(struct session *s, gnutls_session_t g, bool ready)
{
    struct stls *t = calloc(1, sizeof(*t));
    if (!t)
        return -ENOMEM;
    t->g = g;
    t->ready = ready;
    s->tls = t;
    return 0;
}

/* Give s a new TLS session over its fd. 0 or -ENOMEM / -EINVAL. */
static int
stls_attach(struct session *s, gnutls_certificate_credentials_t creds, int role, const char *host)
{
    gnutls_session_t g;
    int r = mctls_session_new(creds, s->fd, role, host, &g);
    if (r < 0)
        return r;
    if ((r = stls_adopt(s, g, false)) < 0)
        gnutls_deinit(g);
    return r;
}

/*
 * Say goodbye (one close_notify, never waiting: the socket is about to be
 * closed) and release the TLS state. Caller holds s->lock; s->fd is open.
 */
static void
stls_free(struct session *s)
{
    struct stls *t = s->tls;
    if (!t)
        return;
    if (t->ready)
        gnutls_bye(t->g, GNUTLS_SHUT_WR);
    gnutls_deinit(t->g);
    free(t->wbuf);
    free(t);
    s->tls = NULL;
}

static struct session *
session_new(struct broker *b, struct worker *w, int fd)
{
    struct session *s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    atomic_init(&s->refs, 1);
    pthread_mutex_init(&s->lock, NULL);
    s->b = b;
    s->w = w;
    s->fd = fd;
    s->max_frame = b->cfg.max_frame;
    s->created_usec = s->last_rx_usec = now_mono_usec();
    pthread_mutex_lock(&w->list_lock);
    s->wnext = w->sessions;
    if (w->sessions)
        w->sessions->wprev = s;
    w->sessions = s;
    w->nsessions++;
    pthread_mutex_unlock(&w->list_lock);
    ST_ADD(b, conns, 1);
    return s;
}

static void
session_close(struct session *s)
{
    struct broker *b = s->b;
    struct worker *w = s->w;

    pthread_rwlock_wrlock(&b->reg);
    for (uint32_t i = 0; i < s->nrooms; i++) {
        struct room *r = s->rooms[i];
        room_remove_local(b, r, s);
        room_maybe_delete(b, r);
    }
    s->nrooms = 0;
    if (s->registered) {
        map_del(&b->names, s->name, s->name_len);
        announce_session(b, s, FRAME_OP_DOWN);
        s->registered = false;
        ST_SUB(b, sessions, 1);
    }
    if (s->is_peer) {
        for (size_t i = 0; i < b->npeers; i++)
            if (b->peers[i].out == s)
                b->peers[i].out = NULL;
        if (!s->peer_out)
            purge_remote(b, s);
    }
    pthread_rwlock_unlock(&b->reg);

    pthread_mutex_lock(&s->lock);
    s->closed = true;
    epoll_ctl(w->epfd, EPOLL_CTL_DEL, s->fd, NULL);
    stls_free(s);
    s->fd = safe_close(s->fd);
    for (uint32_t i = 0; i < s->oq_n; i++)
        chunk_unref(s->oq[(s->oq_head + i) % s->oq_cap]);
    s->oq_n = 0;
    s->oq_bytes = 0;
    struct pend *pend = s->pend;
    uint32_t npend = s->npend;
    s->pend = NULL;
    s->npend = s->pend_cap = 0;
    pthread_mutex_unlock(&s->lock);

    for (uint32_t i = 0; i < npend; i++) {
        gather_missing(pend[i].g, pend[i].idx, s->is_peer ? FRAME_E_PEER_DOWN : FRAME_E_GONE);
        gather_unref(pend[i].g);
    }
    free(pend);
    free(s->in);
    s->in = NULL;
    s->in_len = s->in_cap = 0;

    if (s->is_peer && s->name)
        log_info("peer link %s '%s' closed", s->peer_out ? "to" : "from", s->name);

    pthread_mutex_lock(&w->list_lock);
    if (s->wprev)
        s->wprev->wnext = s->wnext;
    else
        w->sessions = s->wnext;
    if (s->wnext)
        s->wnext->wprev = s->wprev;
    w->nsessions--;
    pthread_mutex_unlock(&w->list_lock);
    ST_SUB(b, conns, 1);
    atomic_fetch_add_explicit(&b->st.closed_since_trim, 1, memory_order_relaxed);
    session_unref(s);
}

/* Send an error about the stream and close: flush what we can first. */
static int
fatal(struct session *s, uint32_t id, uint16_t code, const char *msg)
{
    send_error(s, id, code, no_subject, msg);
    session_flush(s);
    return -1;
}

/* ------------------------------------------------------------------ */
/* Frame handlers (owner thread of s)                                   */

static bool
token_in(char *const *list, size_t n, struct frame_bytes t)
{
    for (size_t i = 0; i < n; i++) {
        const char *k = list[i];
        if (strlen(k) == t.len && memcmp(k, t.p, t.len) == 0)
            return true;
    }
    return false;
}

/* A client session needs a client token; a peer link a peer token when there are any. */
static bool
token_ok(const struct broker *b, struct frame_bytes t, bool peer)
{
    if (peer && b->cfg.npeer_tokens)
        return token_in(b->cfg.peer_tokens, b->cfg.npeer_tokens, t);
    return b->cfg.ntokens == 0 || token_in(b->cfg.tokens, b->cfg.ntokens, t);
}

static int
on_hello(struct session *s, const struct frame *f)
{
    struct broker *b = s->b;
    if (f->version != FRAME_VERSION)
        return fatal(s, f->id, FRAME_E_BAD_VERSION, "unsupported protocol version");
    if (!token_ok(b, f->token, f->flags & FRAME_F_PEER))
        return fatal(s, f->id, FRAME_E_AUTH,
                     f->flags & FRAME_F_PEER ? "bad peer token" : "bad token");
    if (f->max_frame && f->max_frame < s->max_frame)
        s->max_frame = f->max_frame < 1024 ? 1024 : f->max_frame;

    char anon[32];
    struct frame_bytes name = f->name;
    bool peer = f->flags & FRAME_F_PEER;
    if (name.len == 0) {
        if (peer)
            return fatal(s, f->id, FRAME_E_BAD_FRAME, "peer HELLO without a broker id");
        /* The broker id's hash keeps generated names apart across a cluster. */
        int n = snprintf(anon, sizeof(anon), "anon-%08x-%u", (uint32_t)map_hash(b->id, b->id_len),
                         atomic_fetch_add(&b->anon_seq, 1) + 1);
        name = (struct frame_bytes){ (const uint8_t *)anon, (size_t)n };
    }
    s->name = strndup((const char *)name.p, name.len);
    s->name_len = (uint16_t)name.len;
    if (!s->name)
        return fatal(s, f->id, FRAME_E_LIMIT, "out of memory");
    if (f->attrs.len) {
        s->attrs = malloc(f->attrs.len);
        if (!s->attrs)
            return fatal(s, f->id, FRAME_E_LIMIT, "out of memory");
        memcpy(s->attrs, f->attrs.p, f->attrs.len);
        s->attrs_len = (uint32_t)f->attrs.len;
        s->nattrs = f->nattrs;
    }

    struct frame w = { .type = FRAME_WELCOME, .id = f->id, .version = FRAME_VERSION };
    w.max_frame = s->max_frame;
    w.keepalive_ms = b->cfg.keepalive_ms;
    w.name = sname(s);
    w.broker = (struct frame_bytes){ (const uint8_t *)b->id, b->id_len };
    struct chunk *c = chunk_frame(&w);
    if (!c)
        return fatal(s, f->id, FRAME_E_LIMIT, "out of memory");

    if (peer) {
        s->is_peer = true;
        log_info("peer link from '%s'", s->name);
    } else {
        pthread_rwlock_wrlock(&b->reg);
        int r = 0;
        if (map_get(&b->names, name.p, name.len) || map_get(&b->rnames, name.p, name.len))
            r = -EEXIST;
        else if (b->names.count >= b->cfg.max_sessions)
            r = -EUSERS;
        else
            r = map_put(&b->names, s->name, s->name_len, s);
        if (r == 0) {
            s->registered = true;
            ST_ADD(b, sessions, 1);
            ST_ADD(b, sessions_total, 1);
            /* WELCOME goes out before anything addressed to the new name. */
            session_send(s, c, Q_CTRL);
            announce_session(b, s, FRAME_OP_UP);
        }
        pthread_rwlock_unlock(&b->reg);
        if (r < 0) {
            chunk_unref(c);
            free(s->name);
            s->name = NULL;
            if (r == -EEXIST) {
                send_error(s, f->id, FRAME_E_NAME_TAKEN, name, "session name is taken");
                session_flush(s);
                return -1;
            }
            return fatal(s, f->id, FRAME_E_LIMIT, "too many sessions");
        }
        s->welcomed = true;
        chunk_unref(c);
        return 0;
    }
    s->welcomed = true;
    session_send(s, c, Q_CTRL);
    chunk_unref(c);
    return 0;
}

static void
ack(struct session *s, uint32_t id)
{
    if (id)
        send_simple(s, FRAME_OK, id);
}

static int
on_join(struct session *s, const struct frame *f)
{
    struct broker *b = s->b;
    pthread_rwlock_wrlock(&b->reg);
    struct room *r = room_get(b, f->room);
    if (r && room_local_index(r, s) >= 0) {
        pthread_rwlock_unlock(&b->reg);
        ack(s, f->id);
        return 0;
    }
    if (s->nrooms >= b->cfg.max_rooms_per_session) {
        pthread_rwlock_unlock(&b->reg);
        send_error(s, f->id, FRAME_E_LIMIT, f->room, "too many rooms for this session");
        return 0;
    }
    r = room_get_or_create(b, f->room);
    bool ok = r != NULL;
    if (ok && s->nrooms == s->rooms_cap) {
        uint32_t ncap = s->rooms_cap ? s->rooms_cap * 2 : 4;
        struct room **nr = realloc(s->rooms, ncap * sizeof(*nr));
        if (!nr) {
            ok = false;
        } else {
            s->rooms = nr;
            s->rooms_cap = ncap;
        }
    }
    if (ok && r->nlocal == r->local_cap) {
        uint32_t ncap = r->local_cap ? r->local_cap * 2 : 4;
        struct session **nl = realloc(r->local, ncap * sizeof(*nl));
        if (!nl) {
            ok = false;
        } else {
            r->local = nl;
            r->local_cap = ncap;
        }
    }
    if (!ok) {
        if (r)
            room_maybe_delete(b, r);
        pthread_rwlock_unlock(&b->reg);
        send_error(s, f->id, FRAME_E_LIMIT, f->room, "cannot create room");
        return 0;
    }
    r->local[r->nlocal++] = s;
    s->rooms[s->nrooms++] = r;
    presence(b, r, sname(s), s->attrs, s->attrs_len, s->nattrs, FRAME_OP_UP, s, 0);
    announce_member(b, r, sname(s), FRAME_OP_UP);
    pthread_rwlock_unlock(&b->reg);
    ack(s, f->id);
    return 0;
}

static int
on_leave(struct session *s, const struct frame *f)
{
    struct broker *b = s->b;
    pthread_rwlock_wrlock(&b->reg);
    struct room *r = room_get(b, f->room);
    uint32_t i = 0;
    while (r && i < s->nrooms && s->rooms[i] != r)
        i++;
    if (!r || i == s->nrooms) {
        pthread_rwlock_unlock(&b->reg);
        send_error(s, f->id, FRAME_E_NOT_MEMBER, f->room, "not a member of this room");
        return 0;
    }
    s->rooms[i] = s->rooms[--s->nrooms];
    room_remove_local(b, r, s);
    room_maybe_delete(b, r);
    pthread_rwlock_unlock(&b->reg);
    ack(s, f->id);
    return 0;
}

static void
count_drop(struct broker *b, struct session *m, struct room *r)
{
    atomic_fetch_add(&m->drops, 1);
    if (r)
        atomic_fetch_add(&r->drops, 1);
    ST_ADD(b, drops, 1);
}

static int
on_msg(struct session *s, const struct frame *f)
{
    struct broker *b = s->b;
    struct frame_bytes from = s->is_peer ? f->from : sname(s);
    pthread_rwlock_rdlock(&b->reg);
    struct room *r = room_get(b, f->room);
    if (r) {
        atomic_fetch_add_explicit(&r->msgs, 1, memory_order_relaxed);
        struct frame m = {
            .type = FRAME_MSG, .room = f->room, .from = from, .payload = f->payload
        };
        struct chunk *c = NULL;
        bool others = r->nlocal > 1 || (r->nlocal == 1 && r->local[0] != s) ||
                      (!s->is_peer && r->nremote > 0);
        if (others)
            c = chunk_frame(&m);
        if (c) {
            for (uint32_t i = 0; i < r->nlocal; i++) {
                struct session *t = r->local[i];
                if (t != s && session_send(t, c, Q_DROP) == -ENOBUFS)
                    count_drop(b, t, r);
            }
            if (!s->is_peer && r->nremote > 0) {
                /* Once per broker that has members here. */
                struct session *sent[BROKER_MAX_PEERS] = { NULL };
                size_t nsent = 0;
                for (uint32_t i = 0; i < r->nremote; i++) {
                    struct session *l = link_for(b, r->remote[i].link);
                    size_t k = 0;
                    while (k < nsent && sent[k] != l)
                        k++;
                    if (k < nsent)
                        continue;
                    if (nsent < BROKER_MAX_PEERS)
                        sent[nsent++] = l;
                    if (session_send(l, c, Q_DROP) == -ENOBUFS)
                        count_drop(b, l, r);
                }
            }
            chunk_unref(c);
        }
    }
    pthread_rwlock_unlock(&b->reg);
    ack(s, f->id);
    return 0;
}

static int
on_direct(struct session *s, const struct frame *f)
{
    struct broker *b = s->b;
    struct frame_bytes from = s->is_peer ? f->from : sname(s);
    struct frame d = { .type = FRAME_DIRECT, .name = f->name, .from = from, .payload = f->payload };
    bool found = true;
    pthread_rwlock_rdlock(&b->reg);
    struct session *t = map_get(&b->names, f->name.p, f->name.len);
    struct session *l = NULL;
    if (!t && !s->is_peer) {
        struct rsession *rs = map_get(&b->rnames, f->name.p, f->name.len);
        if (rs)
            l = link_for(b, rs->link);
    }
    if (t || l) {
        struct chunk *c = chunk_frame(&d);
        if (c && session_send(t ? t : l, c, Q_DROP) == -ENOBUFS)
            count_drop(b, t ? t : l, NULL);
        chunk_unref(c);
    } else {
        found = false;
    }
    pthread_rwlock_unlock(&b->reg);
    if (!found) {
        if (!s->is_peer)
            send_error(s, f->id, FRAME_E_NO_SESSION, f->name, "no such session");
        return 0;
    }
    ack(s, f->id);
    return 0;
}

static int
on_who(struct session *s, const struct frame *f)
{
    struct broker *b = s->b;
    struct frame_buf lb = { 0 };
    uint32_t count = 0;
    size_t cap = s->max_frame - FRAME_HEADER_SIZE - 8 - f->room.len;
    pthread_rwlock_rdlock(&b->reg);
    struct room *r = room_get(b, f->room);
    for (uint32_t i = 0; r && i < r->nlocal; i++) {
        struct session *m = r->local[i];
        if (lb.len + 4 + m->name_len + m->attrs_len > cap)
            break;
        if (frame_buf_put_name(&lb, m->name, m->name_len) < 0 ||
            frame_buf_put_u16(&lb, m->nattrs) < 0 ||
            frame_buf_put_raw(&lb, m->attrs, m->attrs_len) < 0)
            break;
        count++;
    }
    for (uint32_t i = 0; r && i < r->nremote; i++) {
        struct rmember *m = &r->remote[i];
        struct rsession *rs = map_get(&b->rnames, m->name, m->len);
        uint32_t alen = rs && rs->link == m->link ? rs->attrs_len : 0;
        if (lb.len + 4 + m->len + alen > cap)
            break;
        if (frame_buf_put_name(&lb, m->name, m->len) < 0 ||
            frame_buf_put_u16(&lb, alen ? rs->nattrs : 0) < 0 ||
            frame_buf_put_raw(&lb, alen ? rs->attrs : NULL, alen) < 0)
            break;
        count++;
    }
    pthread_rwlock_unlock(&b->reg);
    struct frame w = { .type = FRAME_WHO_RESULT, .id = f->id, .room = f->room, .count = count };
    w.list = (struct frame_bytes){ lb.data, lb.len };
    struct chunk *c = chunk_frame(&w);
    frame_buf_free(&lb);
    if (c) {
        session_send(s, c, Q_CTRL);
        chunk_unref(c);
    }
    return 0;
}

static int
on_stats(struct session *s, const struct frame *f)
{
    struct sbuf out = SBUF_INIT;
    if (broker_stats_json(s->b, &out) == 0) {
        struct frame w = { .type = FRAME_STATS_RESULT, .id = f->id };
        w.payload = (struct frame_bytes){ (const uint8_t *)out.data, out.len };
        struct chunk *c = chunk_frame(&w);
        if (c) {
            session_send(s, c, Q_CTRL);
            chunk_unref(c);
        }
    }
    sbuf_free(&out);
    return 0;
}

/* Deliver request frame `c` (id patched per target) to t as entry idx. */
static void
deliver_request(struct gather *g, uint32_t idx, struct session *t, const struct frame *req)
{
    struct broker *b = g->b;
    struct chunk *c = chunk_frame(req);
    if (!c) {
        gather_missing(g, idx, FRAME_E_OVERFLOW);
        return;
    }
    uint16_t reason = 0;
    int r = 0;
    uint32_t maxp = b->cfg.max_pending_per_session * (t->is_peer ? 16 : 1);
    pthread_mutex_lock(&t->lock);
    if (t->closed) {
        reason = t->is_peer ? FRAME_E_PEER_DOWN : FRAME_E_GONE;
    } else {
        if (t->npend >= maxp) {
            /* Drop entries of finished gathers before giving up. */
            uint32_t k = 0;
            for (uint32_t i = 0; i < t->npend; i++) {
                if (atomic_load(&t->pend[i].g->done)) {
                    /* Cannot be the last ref to a gather we are delivering
                     * (that one is not done); freeing takes no locks. */
                    gather_unref(t->pend[i].g);
                    continue;
                }
                t->pend[k++] = t->pend[i];
            }
            t->npend = k;
        }
        if (t->npend >= maxp) {
            reason = FRAME_E_OVERFLOW;
        } else if (t->npend == t->pend_cap) {
            uint32_t ncap = t->pend_cap ? t->pend_cap * 2 : 4;
            struct pend *np = realloc(t->pend, ncap * sizeof(*np));
            if (!np)
                reason = FRAME_E_OVERFLOW;
            else {
                t->pend = np;
                t->pend_cap = ncap;
            }
        }
        if (!reason) {
            uint32_t rid = ++t->next_rid;
            if (rid == 0)
                rid = ++t->next_rid;
            c->data[8] = (uint8_t)(rid >> 24);
            c->data[9] = (uint8_t)(rid >> 16);
            c->data[10] = (uint8_t)(rid >> 8);
            c->data[11] = (uint8_t)rid;
            r = enqueue_locked(t, c, Q_REQ);
            if (r < 0) {
                reason = r == -EMSGSIZE ? FRAME_E_TOO_BIG : FRAME_E_OVERFLOW;
            } else {
                atomic_fetch_add(&g->refs, 1);
                t->pend[t->npend++] = (struct pend){ rid, idx, g };
            }
        }
    }
    pthread_mutex_unlock(&t->lock);
    chunk_unref(c);
    if (r == 1)
        schedule_flush(t);
    if (reason) {
        if (reason == FRAME_E_OVERFLOW)
            count_drop(b, t, NULL);
        gather_missing(g, idx, reason);
    } else {
        ST_ADD(b, msgs_out, 1);
    }
}

static int
gentry_add_name(struct gather *g, uint32_t i, struct frame_bytes name)
{
    g->e[i].name_off = (uint32_t)g->names.len;
    g->e[i].name_len = (uint32_t)name.len;
    return frame_buf_put_raw(&g->names, name.p, name.len);
}

static int
on_request(struct worker *w, struct session *s, const struct frame *f)
{
    struct broker *b = s->b;
    ST_ADD(b, requests, 1);
    if (f->id == 0) {
        send_error(s, 0, FRAME_E_BAD_FRAME, f->name, "REQUEST needs a nonzero id");
        return 0;
    }
    /* A peer link carries the requests of many sessions. */
    uint32_t max_open = b->cfg.max_pending_per_session * (s->is_peer ? 16 : 1);
    if (atomic_load(&s->reqs_open) >= max_open) {
        send_error(s, f->id, FRAME_E_LIMIT, f->name, "too many open requests");
        return 0;
    }
    uint32_t timeout = f->timeout_ms ? f->timeout_ms : DEFAULT_TIMEOUT;
    if (timeout > FRAME_TIMEOUT_MAX_MS)
        timeout = FRAME_TIMEOUT_MAX_MS;
    bool local_only = s->is_peer;
    struct frame_bytes from = s->is_peer ? f->from : sname(s);
    if (!frame_name_valid(from.p, from.len))
        from = sname(s);

    struct gather *g = calloc(1, sizeof(*g));
    if (!g) {
        send_error(s, f->id, FRAME_E_LIMIT, f->name, "out of memory");
        return 0;
    }
    atomic_init(&g->refs, 1);
    pthread_mutex_init(&g->lock, NULL);
    g->b = b;
    g->req = session_ref(s);
    g->req_id = f->id;
    g->mode = f->mode;
    g->heap_idx = -1;
    g->deadline = now_mono_usec() + (uint64_t)timeout * 1000;
    g->budget = s->max_frame - FRAME_HEADER_SIZE - 8;
    atomic_fetch_add(&s->reqs_open, 1);

    /* Peers get a shorter timeout so their partial result beats ours. */
    uint32_t margin = timeout / 10 < 100 ? timeout / 10 : 100;
    uint32_t peer_timeout = timeout - margin ? timeout - margin : 1;

    struct frame req = { .type = FRAME_REQUEST,
                         .mode = f->mode,
                         .timeout_ms = timeout,
                         .name = f->name,
                         .from = from,
                         .payload = f->payload };

    pthread_rwlock_rdlock(&b->reg);
    struct session *tl[1] = { NULL };
    struct session **targets = NULL; /* local member sessions per entry */
    struct session *links[BROKER_MAX_PEERS];
    uint32_t nlinks = 0;
    uint16_t err = 0;
    uint32_t n = 0;
    struct room *r = NULL;
    struct rsession *rs = NULL;
    struct rmember *pick_remote = NULL;

    if (f->mode == FRAME_MODE_ALL) {
        r = room_get(b, f->name);
        if (r) {
            targets = malloc((r->nlocal + 1) * sizeof(*targets));
            if (!targets) {
                err = FRAME_E_LIMIT;
            } else {
                for (uint32_t i = 0; i < r->nlocal; i++)
                    if (r->local[i] != s)
                        targets[n++] = r->local[i];
            }
            for (uint32_t i = 0; !err && !local_only && i < r->nremote; i++) {
                struct session *l = r->remote[i].link;
                uint32_t k = 0;
                while (k < nlinks && links[k] != l)
                    k++;
                if (k == nlinks && nlinks < BROKER_MAX_PEERS)
                    links[nlinks++] = l;
            }
        }
    } else if (f->mode == FRAME_MODE_ANY) {
        r = room_get(b, f->name);
        uint32_t nl = 0, nr = 0;
        if (r) {
            nl = r->nlocal - (room_local_index(r, s) >= 0 ? 1 : 0);
            nr = local_only ? 0 : r->nremote;
        }
        if (nl + nr == 0) {
            err = FRAME_E_NO_MEMBERS;
        } else {
            uint32_t k = atomic_fetch_add(&r->rr, 1) % (nl + nr);
            if (k < nl) {
                for (uint32_t i = 0; i < r->nlocal; i++) {
                    if (r->local[i] == s)
                        continue;
                    if (k-- == 0) {
                        tl[0] = r->local[i];
                        break;
                    }
                }
                targets = tl;
                n = 1;
            } else {
                pick_remote = &r->remote[k - nl];
                links[nlinks++] = pick_remote->link;
            }
        }
    } else {
        struct session *t = map_get(&b->names, f->name.p, f->name.len);
        if (t) {
            tl[0] = t;
            targets = tl;
            n = 1;
        } else if (!local_only && (rs = map_get(&b->rnames, f->name.p, f->name.len))) {
            links[nlinks++] = rs->link;
        } else {
            err = FRAME_E_NO_SESSION;
        }
    }

    uint32_t total = n + nlinks;
    if (!err && total > 0) {
        g->e = calloc(total, sizeof(*g->e));
        if (!g->e)
            err = FRAME_E_LIMIT;
    }
    if (!err) {
        g->n = total;
        g->outstanding = total + 1; /* +1: held until delivery is done */
        bool oom = false;
        for (uint32_t i = 0; i < n; i++)
            oom |= gentry_add_name(g, i, sname(targets[i])) < 0;
        for (uint32_t k = 0; k < nlinks; k++) {
            /* What to report if that broker never answers. */
            struct gentry *e = &g->e[n + k];
            e->is_peer = true;
            e->name_off = (uint32_t)g->names.len;
            if (f->mode == FRAME_MODE_ALL) {
                for (uint32_t i = 0; i < r->nremote; i++) {
                    if (r->remote[i].link != links[k])
                        continue;
                    oom |= frame_buf_put_name(&g->names, r->remote[i].name, r->remote[i].len) < 0;
                    oom |= frame_buf_put_u16(&g->names, FRAME_E_PEER_DOWN) < 0;
                    e->down_count++;
                }
            } else {
                struct frame_bytes nm =
                    pick_remote ? (struct frame_bytes){ (const uint8_t *)pick_remote->name,
                                                        pick_remote->len }
                                : f->name;
                oom |= frame_buf_put_name(&g->names, nm.p, nm.len) < 0;
                oom |= frame_buf_put_u16(&g->names, FRAME_E_PEER_DOWN) < 0;
                e->down_count = 1;
            }
            e->name_len = (uint32_t)(g->names.len - e->name_off);
        }
        if (oom)
            err = FRAME_E_LIMIT;
    }
    if (!err) {
        for (uint32_t i = 0; i < n; i++)
            deliver_request(g, i, targets[i], &req);
        for (uint32_t k = 0; k < nlinks; k++) {
            struct frame pr = req;
            pr.timeout_ms = peer_timeout;
            if (f->mode != FRAME_MODE_ALL) {
                pr.mode = FRAME_MODE_SESSION;
                if (pick_remote)
                    pr.name = (struct frame_bytes){ (const uint8_t *)pick_remote->name,
                                                    pick_remote->len };
            }
            deliver_request(g, n + k, link_for(b, links[k]), &pr);
        }
    }
    pthread_rwlock_unlock(&b->reg);
    if (targets != tl)
        free(targets);

    if (err) {
        atomic_fetch_sub(&s->reqs_open, 1);
        gather_unref(g);
        if (err == FRAME_E_NO_MEMBERS)
            send_error(s, f->id, err, f->name, "no members in room");
        else if (err == FRAME_E_NO_SESSION)
            send_error(s, f->id, err, f->name, "no such session");
        else
            send_error(s, f->id, err, f->name, "out of memory");
        return 0;
    }
    if (total == 0) {
        pthread_mutex_lock(&g->lock);
        gather_complete(g);
        pthread_mutex_unlock(&g->lock);
        gather_unref(g);
        return 0;
    }
    /* Arm the timeout, then release the delivery hold. */
    pthread_mutex_lock(&g->lock);
    if (!atomic_load(&g->done)) {
        g->w = w;
        pthread_mutex_lock(&w->heap_lock);
        if (heap_push(w, g) == 0)
            atomic_fetch_add(&g->refs, 1);
        pthread_mutex_unlock(&w->heap_lock);
    }
    g->outstanding--;
    gather_finish_if_ready(g);
    pthread_mutex_unlock(&g->lock);
    gather_unref(g);
    return 0;
}

/* REPLY from a member, or GATHER_RESULT / REPLY / ERROR from a peer. */
static int
on_answer(struct session *s, const struct frame *f)
{
    struct pend p = { 0 };
    bool found = false;
    pthread_mutex_lock(&s->lock);
    for (uint32_t i = s->npend; i-- > 0;) {
        if (s->pend[i].rid == f->id) {
            p = s->pend[i];
            s->pend[i] = s->pend[--s->npend];
            found = true;
            break;
        }
    }
    pthread_mutex_unlock(&s->lock);
    if (!found)
        return 0; /* late or unknown: the request may have timed out */
    if (s->is_peer)
        gather_merge(p.g, p.idx, f);
    else if (f->type == FRAME_REPLY)
        gather_reply(p.g, p.idx, sname(s), f->payload);
    gather_unref(p.g);
    return 0;
}

/* Two links from the same broker (its id): an old one and its replacement. */
static bool
same_broker(const struct session *a, const struct session *b)
{
    return a->name && b->name && a->name_len == b->name_len &&
           memcmp(a->name, b->name, a->name_len) == 0;
}

static int
on_peer_session(struct session *s, const struct frame *f)
{
    struct broker *b = s->b;
    pthread_rwlock_wrlock(&b->reg);
    struct rsession *rs = map_get(&b->rnames, f->name.p, f->name.len);
    if (f->op == FRAME_OP_UP && rs && rs->link != s && same_broker(rs->link, s)) {
        /* The broker reconnected before we noticed its old link die: the
         * new link takes the entry over, so closing the old one keeps it. */
        rs->link = s;
    } else if (f->op == FRAME_OP_UP) {
        if (!rs && !map_get(&b->names, f->name.p, f->name.len) &&
            b->rnames.count < MAX_REMOTE_NAMES) {
            rs = calloc(1, sizeof(*rs));
            if (rs) {
                rs->name = strndup((const char *)f->name.p, f->name.len);
                rs->len = (uint16_t)f->name.len;
                rs->link = s;
                if (f->attrs.len) {
                    rs->attrs = malloc(f->attrs.len);
                    if (rs->attrs) {
                        memcpy(rs->attrs, f->attrs.p, f->attrs.len);
                        rs->attrs_len = (uint32_t)f->attrs.len;
                        rs->nattrs = f->nattrs;
                    }
                }
                if (!rs->name || map_put(&b->rnames, rs->name, rs->len, rs) < 0) {
                    free(rs->name);
                    free(rs->attrs);
                    free(rs);
                }
            }
        }
    } else if (rs && rs->link == s) {
        map_del(&b->rnames, rs->name, rs->len);
        free(rs->name);
        free(rs->attrs);
        free(rs);
    }
    pthread_rwlock_unlock(&b->reg);
    return 0;
}

static int
on_peer_member(struct session *s, const struct frame *f)
{
    struct broker *b = s->b;
    pthread_rwlock_wrlock(&b->reg);
    struct room *r = f->op == FRAME_OP_UP ? room_get_or_create(b, f->room) : room_get(b, f->room);
    if (r) {
        uint32_t i = 0;
        while (i < r->nremote && !((r->remote[i].link == s || same_broker(r->remote[i].link, s)) &&
                                   r->remote[i].len == f->name.len &&
                                   memcmp(r->remote[i].name, f->name.p, f->name.len) == 0))
            i++;
        if (f->op == FRAME_OP_UP && i < r->nremote)
            r->remote[i].link = s; /* taken over from an older link, see above */
        if (f->op == FRAME_OP_UP && i == r->nremote) {
            bool ok = true;
            if (r->nremote == r->remote_cap) {
                uint32_t ncap = r->remote_cap ? r->remote_cap * 2 : 4;
                struct rmember *nr = realloc(r->remote, ncap * sizeof(*nr));
                if (!nr) {
                    ok = false;
                } else {
                    r->remote = nr;
                    r->remote_cap = ncap;
                }
            }
            char *nm = ok ? strndup((const char *)f->name.p, f->name.len) : NULL;
            if (nm) {
                r->remote[r->nremote++] = (struct rmember){ nm, (uint16_t)f->name.len, s };
                struct rsession *rs = map_get(&b->rnames, f->name.p, f->name.len);
                if (rs && rs->link == s)
                    presence(b, r, f->name, rs->attrs, rs->attrs_len, rs->nattrs, FRAME_OP_UP, NULL,
                             0);
                else
                    presence(b, r, f->name, NULL, 0, 0, FRAME_OP_UP, NULL, 0);
            }
        } else if (f->op == FRAME_OP_DOWN && i < r->nremote) {
            free(r->remote[i].name);
            r->remote[i] = r->remote[--r->nremote];
            presence(b, r, f->name, NULL, 0, 0, FRAME_OP_DOWN, NULL, 0);
        }
        room_maybe_delete(b, r);
    }
    pthread_rwlock_unlock(&b->reg);
    return 0;
}

static int
handle_frame(struct worker *w, struct session *s, const struct frame *f)
{
    if (!s->welcomed) {
        if (f->type != FRAME_HELLO)
            return fatal(s, f->id, FRAME_E_PROTOCOL, "HELLO expected");
        return on_hello(s, f);
    }
    switch (f->type) {
    case FRAME_PING:
        send_simple(s, FRAME_PONG, f->id);
        return 0;
    case FRAME_PONG:
    case FRAME_OK:
        return 0;
    case FRAME_MSG:
        ST_ADD(s->b, msgs_in, 1);
        return on_msg(s, f);
    case FRAME_DIRECT:
        ST_ADD(s->b, msgs_in, 1);
        return on_direct(s, f);
    case FRAME_REQUEST:
        return on_request(w, s, f);
    case FRAME_REPLY:
        return on_answer(s, f);
    case FRAME_WHO:
        return on_who(s, f);
    case FRAME_STATS:
        return on_stats(s, f);
    default:
        break;
    }
    if (!s->is_peer) {
        switch (f->type) {
        case FRAME_JOIN:
            return on_join(s, f);
        case FRAME_LEAVE:
            return on_leave(s, f);
        case FRAME_ERROR:
            return 0;
        default:
            return fatal(s, f->id, FRAME_E_PROTOCOL, "frame type not allowed from a client");
        }
    }
    switch (f->type) {
    case FRAME_GATHER_RESULT:
        return on_answer(s, f);
    case FRAME_ERROR:
        return f->id ? on_answer(s, f) : 0;
    case FRAME_PEER_SESSION:
        return on_peer_session(s, f);
    case FRAME_PEER_MEMBER:
        return on_peer_member(s, f);
    default:
        return fatal(s, f->id, FRAME_E_PROTOCOL, "frame type not allowed on a peer link");
    }
}

/* Decode and handle every complete frame in buf. Returns bytes consumed or
 * -1 when the session must be closed. */
static ssize_t
process(struct worker *w, struct session *s, const uint8_t *buf, size_t len)
{
    size_t off = 0;
    while (off < len) {
        struct frame f;
        ssize_t k = frame_decode(buf + off, len - off, s->max_frame, &f);
        if (k == 0)
            break;
        if (k < 0) {
            ST_ADD(s->b, bad_frames, 1);
            if (k == -EMSGSIZE)
                return fatal(s, 0, FRAME_E_TOO_BIG, "frame larger than the maximum frame size");
            if (k == -EPROTO)
                return fatal(s, 0, FRAME_E_PROTOCOL, "unknown frame type or flags");
            return fatal(s, 0, FRAME_E_BAD_FRAME, "malformed frame");
        }
        if (handle_frame(w, s, &f) < 0)
            return -1;
        off += (size_t)k;
    }
    return (ssize_t)off;
}

/*
 * One handshake step of a TLS session. Returns 1 when the handshake is
 * complete, 0 to wait for the socket, -1 when s must be closed.
 */
static int
tls_handshake_step(struct session *s)
{
    struct stls *t = s->tls;
    pthread_mutex_lock(&s->lock);
    int r = mctls_handshake(t->g, NULL, 0);
    bool out = gnutls_record_get_direction(t->g) == 1;
    if (r == 0)
        t->ready = true;
    pthread_mutex_unlock(&s->lock);
    if (r == -EAGAIN) {
        epoll_set(s, out);
        return 0;
    }
    if (r < 0) {
        ST_ADD(s->b, tls_failed, 1);
        /* Drop what the client sent after its handshake flight (a TLS 1.3
         * client may already have sent HELLO): closing with unread input
         * would send a reset that can destroy our alert on its way. */
        for (int i = 0; i < 16 && read(s->fd, s->w->rbuf, RBUF_SIZE) > 0; i++)
            ;
        return -1;
    }
    ST_ADD(s->b, tls_handshakes, 1);
    s->want_out = false;
    epoll_set(s, false);
    return 1;
}

/* TLS: read a record under the session lock (a flush may be sending). */
static ssize_t
tls_read(struct session *s, void *buf, size_t len)
{
    pthread_mutex_lock(&s->lock);
    ssize_t n = mctls_recv(s->tls->g, buf, len);
    pthread_mutex_unlock(&s->lock);
    if (n < 0) {
        errno = (int)-n;
        return -1;
    }
    return n;
}

/* read(2) for either kind of session. */
static inline ssize_t
session_recv(struct session *s, void *buf, size_t len)
{
    return s->tls ? tls_read(s, buf, len) : read(s->fd, buf, len);
}

/*
 * Whether GnuTLS holds decrypted input that epoll cannot know about: a
 * record larger than the buffer it was read into leaves the rest there.
 */
static inline bool
tls_pending(const struct session *s)
{
    return s->tls && gnutls_record_check_pending(s->tls->g) > 0;
}

/* Read and process what is available. Returns -1 when s must be closed. */
static int
session_read(struct worker *w, struct session *s)
{
    if (s->tls && !s->tls->ready) {
        int r = tls_handshake_step(s);
        if (r <= 0)
            return r;
    }
    /* Plaintext: a short read means the socket is drained. TLS returns a
     * record at a time, so it reads until EAGAIN, and past the iteration
     * cap while GnuTLS still holds input. */
    for (int iter = 0; iter < 8 || tls_pending(s); iter++) {
        ssize_t n;
        if (s->in_len == 0) {
            n = session_recv(s, w->rbuf, RBUF_SIZE);
            if (n == 0)
                return -1;
            if (n < 0)
                return errno == EAGAIN || errno == EINTR ? 0 : -1;
            s->last_rx_usec = w->now;
            s->ping_sent = false;
            ST_ADD(s->b, bytes_in, (uint64_t)n);
            ssize_t used = process(w, s, w->rbuf, (size_t)n);
            if (used < 0)
                return -1;
            size_t rest = (size_t)n - (size_t)used;
            if (rest) {
                size_t flen = 0;
                int pk = frame_peek(w->rbuf + used, rest, s->max_frame, &flen);
                size_t cap = pk == 1 ? flen : 64;
                if (cap < rest)
                    cap = rest;
                s->in = malloc(cap);
                if (!s->in)
                    return -1;
                memcpy(s->in, w->rbuf + used, rest);
                s->in_len = (uint32_t)rest;
                s->in_cap = (uint32_t)cap;
            }
            if ((size_t)n < RBUF_SIZE && !s->tls)
                return 0;
            continue;
        }
        /* A partial frame is stashed: read exactly the rest of it. */
        size_t flen = 0;
        int pk = frame_peek(s->in, s->in_len, s->max_frame, &flen);
        if (pk < 0)
            return fatal(s, 0, pk == -EMSGSIZE ? FRAME_E_TOO_BIG : FRAME_E_BAD_FRAME,
                         "bad frame length");
        size_t want = pk == 1 ? flen : 4;
        if (want > s->in_cap) {
            uint8_t *ni = realloc(s->in, want);
            if (!ni)
                return -1;
            s->in = ni;
            s->in_cap = (uint32_t)want;
        }
        n = session_recv(s, s->in + s->in_len, want - s->in_len);
        if (n == 0)
            return -1;
        if (n < 0)
            return errno == EAGAIN || errno == EINTR ? 0 : -1;
        s->last_rx_usec = w->now;
        s->ping_sent = false;
        ST_ADD(s->b, bytes_in, (uint64_t)n);
        s->in_len += (uint32_t)n;
        if (s->in_len < want) {
            if (!s->tls)
                return 0;
            continue;
        }
        if (pk == 1) {
            ssize_t used = process(w, s, s->in, s->in_len);
            if (used < 0)
                return -1;
            free(s->in);
            s->in = NULL;
            s->in_len = s->in_cap = 0;
        }
    }
    return 0;
}

/* ------------------------------------------------------------------ */
/* Worker loop                                                          */

static void
accept_on(struct worker *w, size_t li)
{
    struct broker *b = w->b;
    for (int i = 0; i < 64; i++) {
        int fd = accept4(b->lfd[li], NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EMFILE || errno == ENFILE) {
                /* Out of fds: shed this connection instead of spinning on
                 * a listener that stays readable. */
                w->spare_fd = safe_close(w->spare_fd);
                fd = accept4(b->lfd[li], NULL, NULL, SOCK_CLOEXEC);
                safe_close(fd);
                w->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
            }
            return;
        }
        if (ST_GET(b, conns) >= (uint64_t)b->cfg.max_sessions + 64) {
            close(fd);
            continue;
        }
        if (!b->lunix[li]) {
            int one = 1;
            setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        }
        struct session *s = session_new(b, w, fd);
        if (!s) {
            close(fd);
            continue;
        }
        s->unix_sock = b->lunix[li];
        if (b->ltls[li] &&
            stls_attach(s, b->tls_server,
                        MCTLS_SERVER | (b->cfg.tls_client_ca ? MCTLS_REQUIRE_CERT : 0), NULL) < 0) {
            session_close(s);
            continue;
        }
        struct epoll_event ev = { .events = EPOLLIN | EPOLLRDHUP, .data.ptr = s };
        if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
            session_close(s);
    }
}

static void
run_timers(struct worker *w, uint64_t now)
{
    for (;;) {
        struct gather *g = NULL;
        pthread_mutex_lock(&w->heap_lock);
        if (w->nheap > 0 && w->heap[0].deadline <= now) {
            g = w->heap[0].g;
            heap_remove(w, 0);
        }
        pthread_mutex_unlock(&w->heap_lock);
        if (!g)
            return;
        gather_timeout(g);
        gather_unref(g);
    }
}

/* Time from t to now; 0 when t is later (sessions created by another
 * thread, or after this loop iteration read the clock). */
static inline uint64_t
since(uint64_t now, uint64_t t)
{
    return now > t ? now - t : 0;
}

/* Keepalive, handshake timeouts, purge of finished pending entries. */
static void
tick(struct worker *w, uint64_t now)
{
    struct broker *b = w->b;
    uint64_t ka = (uint64_t)b->cfg.keepalive_ms * 1000;
    uint64_t hs = ka && ka < HANDSHAKE_USEC ? ka : HANDSHAKE_USEC;
    struct session **dead = NULL;
    size_t ndead = 0, cap = 0;
    struct gather **done = NULL;
    size_t ndone = 0, dcap = 0;

    pthread_mutex_lock(&w->list_lock);
    for (struct session *s = w->sessions; s; s = s->wnext) {
        bool kill = false;
        if (!s->welcomed && since(now, s->created_usec) > hs)
            kill = true;
        else if (s->welcomed && ka && s->ping_sent && since(now, s->last_rx_usec) > 2 * ka)
            kill = true; /* pinged and still silent */
        else if (s->welcomed && ka && since(now, s->last_rx_usec) > ka && !s->ping_sent) {
            s->ping_sent = true;
            send_simple(s, FRAME_PING, 0);
        }
        if (kill && s->tls && !s->tls->ready)
            ST_ADD(b, tls_timeouts, 1);
        if (kill) {
            if (ndead == cap) {
                size_t ncap = cap ? cap * 2 : 16;
                struct session **nd = realloc(dead, ncap * sizeof(*nd));
                if (!nd)
                    continue;
                dead = nd;
                cap = ncap;
            }
            dead[ndead++] = session_ref(s);
        }
        pthread_mutex_lock(&s->lock);
        uint32_t k = 0;
        for (uint32_t i = 0; i < s->npend; i++) {
            if (atomic_load(&s->pend[i].g->done)) {
                if (ndone == dcap) {
                    size_t ncap = dcap ? dcap * 2 : 16;
                    struct gather **ng = realloc(done, ncap * sizeof(*ng));
                    if (!ng) {
                        s->pend[k++] = s->pend[i];
                        continue;
                    }
                    done = ng;
                    dcap = ncap;
                }
                done[ndone++] = s->pend[i].g;
                continue;
            }
            s->pend[k++] = s->pend[i];
        }
        s->npend = k;
        pthread_mutex_unlock(&s->lock);
    }
    pthread_mutex_unlock(&w->list_lock);

    for (size_t i = 0; i < ndone; i++)
        gather_unref(done[i]);
    free(done);
    for (size_t i = 0; i < ndead; i++) {
        if (!dead[i]->closed)
            session_close(dead[i]);
        session_unref(dead[i]);
    }
    free(dead);

    /* Give memory back after a burst of connections went away. */
    if (w->idx == 0 && atomic_load(&b->st.closed_since_trim) > 1000 && ST_GET(b, conns) < 100) {
        atomic_store(&b->st.closed_since_trim, 0);
        malloc_trim(0);
    }
}

static void
flush_dirty(struct worker *w)
{
    /* Flushing may queue more (never from here), so walk by index. */
    for (size_t i = 0; i < w->ndirty; i++) {
        session_flush(w->dirty[i]);
        session_unref(w->dirty[i]);
    }
    w->ndirty = 0;
}

static void *
worker_main(void *arg)
{
    struct worker *w = arg;
    struct broker *b = w->b;
    cur_worker = w;
    struct epoll_event evs[MAX_EVENTS];
    /* Tick often enough for the keepalive interval to be honoured. */
    uint64_t tick_usec = (uint64_t)b->cfg.keepalive_ms * 1000 / 4;
    if (tick_usec == 0 || tick_usec > TICK_USEC)
        tick_usec = TICK_USEC;
    if (tick_usec < 10000)
        tick_usec = 10000;
    /* One clock read per loop: reads, timers and ticks share it. */
    uint64_t now = w->now = now_mono_usec();
    w->next_tick = now + tick_usec;
    while (!atomic_load(&b->stop)) {
        uint64_t next = w->next_tick;
        pthread_mutex_lock(&w->heap_lock);
        if (w->nheap > 0 && w->heap[0].deadline < next)
            next = w->heap[0].deadline;
        pthread_mutex_unlock(&w->heap_lock);
        int timeout = next > now ? (int)((next - now + 999) / 1000) : 0;
        int n = epoll_wait(w->epfd, evs, MAX_EVENTS, timeout);
        if (n < 0 && errno != EINTR)
            break;
        now = w->now = now_mono_usec();
        for (int i = 0; i < n; i++) {
            uint64_t tag = evs[i].data.u64;
            if (tag == TAG_EVFD) {
                uint64_t v;
                if (read(w->evfd, &v, sizeof(v)) < 0) {
                    /* spurious wakeup; the stop flag is checked below */
                }
                continue;
            }
            if ((tag & 7) == TAG_LISTEN) {
                accept_on(w, (size_t)(tag >> 3));
                continue;
            }
            struct session *s = evs[i].data.ptr;
            uint32_t e = evs[i].events;
            bool rd = e & (EPOLLIN | EPOLLHUP | EPOLLERR | EPOLLRDHUP);
            /* A TLS handshake may wait for EPOLLOUT; a peer link handed
             * over with a record already decrypted has nothing to poll. */
            if (!rd && s->tls)
                rd = !s->tls->ready || tls_pending(s);
            if (rd) {
                if (session_read(w, s) < 0) {
                    session_close(s);
                    continue;
                }
            }
            if (e & EPOLLOUT)
                session_flush(s);
        }
        flush_dirty(w);
        run_timers(w, now);
        if (now >= w->next_tick) {
            tick(w, now);
            w->next_tick = now + tick_usec;
        }
        flush_dirty(w);
    }
    return NULL;
}

/* ------------------------------------------------------------------ */
/* Peer connector                                                       */

DEFINE_CLEANUP(struct gnutls_session_int, gnutls_deinit)

/* Read len bytes from a peer being dialled: plaintext (g NULL) or TLS. */
static int
read_full(int fd, gnutls_session_t g, void *buf, size_t len, int timeout_ms)
{
    uint8_t *p = buf;
    while (len > 0) {
        if (!g || gnutls_record_check_pending(g) == 0) {
            struct pollfd pf = { .fd = fd, .events = POLLIN };
            int r = poll(&pf, 1, timeout_ms);
            if (r <= 0)
                return r == 0 ? -ETIMEDOUT : -errno;
        }
        ssize_t n = g ? mctls_recv(g, p, len) : read(fd, p, len);
        if (n < 0)
            n = g ? n : -errno;
        if (n == 0)
            return -ECONNRESET;
        if (n < 0) {
            if (n == -EINTR || n == -EAGAIN)
                continue;
            return (int)n;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Write to a peer being dialled: plaintext on the blocking fd, or TLS. */
static int
write_peer(int fd, gnutls_session_t g, const void *buf, size_t len)
{
    if (!g)
        return write_all(fd, buf, len);
    const uint8_t *p = buf;
    while (len > 0) {
        ssize_t n = mctls_send(g, p, len);
        if (n == -EAGAIN || n == -EINTR) {
            /* Offered again unchanged, as GnuTLS requires. */
            int r = mctls_wait(g, fd, 2000);
            if (r < 0)
                return r;
            continue;
        }
        if (n < 0)
            return (int)n;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* TLS handshake with a peer on a non-blocking fd, within 2 s. Logs why it failed. */
static int
peer_tls_handshake(const struct peer *p, int fd, gnutls_session_t g)
{
    char msg[256];
    uint64_t end = now_mono_usec() + 2000000;
    for (;;) {
        int r = mctls_handshake(g, msg, sizeof(msg));
        if (r == 0)
            return 0;
        if (r != -EAGAIN) {
            log_warn("peer %s: %s", p->text, msg);
            return r;
        }
        uint64_t now = now_mono_usec();
        if (now >= end || mctls_wait(g, fd, (int)((end - now) / 1000) + 1) < 0) {
            log_warn("peer %s: TLS handshake timed out", p->text);
            return -ETIMEDOUT;
        }
    }
}

/* Queue our whole local state on a new out-link (registry write lock held). */
static void
dump_state(struct broker *b, struct session *link)
{
    for (struct map_iter it = { 0 }; map_next(&b->names, &it);) {
        struct session *s = it.e->value;
        struct frame f = { .type = FRAME_PEER_SESSION, .op = FRAME_OP_UP, .name = sname(s) };
        f.attrs = (struct frame_bytes){ s->attrs, s->attrs_len };
        f.nattrs = s->nattrs;
        struct chunk *c = chunk_frame(&f);
        if (c) {
            session_send(link, c, Q_CTRL);
            chunk_unref(c);
        }
    }
    for (struct map_iter it = { 0 }; map_next(&b->rooms, &it);) {
        struct room *r = it.e->value;
        for (uint32_t i = 0; i < r->nlocal; i++) {
            struct frame f = { .type = FRAME_PEER_MEMBER,
                               .op = FRAME_OP_UP,
                               .name = sname(r->local[i]) };
            f.room = (struct frame_bytes){ (const uint8_t *)r->name, r->len };
            struct chunk *c = chunk_frame(&f);
            if (c) {
                session_send(link, c, Q_CTRL);
                chunk_unref(c);
            }
        }
    }
}

static void
peer_try(struct broker *b, struct peer *p)
{
    cleanup_close int fd = addr_connect(&p->addr, 1000, NULL);
    if (fd < 0)
        return;
    cleanup_with(gnutls_deinitp) gnutls_session_t g = NULL;
    if (p->tls) {
        int fl = fcntl(fd, F_GETFL);
        fcntl(fd, F_SETFL, fl | O_NONBLOCK);
        if (mctls_session_new(b->tls_client, fd, MCTLS_CLIENT, p->host, &g) < 0 ||
            peer_tls_handshake(p, fd, g) < 0)
            return;
    }
    struct frame h = {
        .type = FRAME_HELLO, .flags = FRAME_F_PEER, .id = 1, .version = FRAME_VERSION
    };
    h.name = (struct frame_bytes){ (const uint8_t *)b->id, b->id_len };
    const char *tok = b->cfg.npeer_tokens ? b->cfg.peer_tokens[0]
                      : b->cfg.ntokens    ? b->cfg.tokens[0]
                                          : NULL;
    if (tok)
        h.token = (struct frame_bytes){ (const uint8_t *)tok, strlen(tok) };
    uint8_t buf[1024];
    ssize_t n = frame_encode(&h, buf, sizeof(buf));
    if (n < 0 || write_peer(fd, g, buf, (size_t)n) < 0)
        return;
    if (read_full(fd, g, buf, 4, 2000) < 0)
        return;
    size_t flen;
    if (frame_peek(buf, 4, sizeof(buf), &flen) != 1 ||
        read_full(fd, g, buf + 4, flen - 4, 2000) < 0)
        return;
    struct frame wf;
    if (frame_decode(buf, flen, sizeof(buf), &wf) <= 0)
        return;
    if (wf.type != FRAME_WELCOME) {
        if (wf.type == FRAME_ERROR)
            log_warn("peer %s refused the link: %s", p->text, frame_error_name(wf.code));
        return;
    }
    if (wf.broker.len == b->id_len && memcmp(wf.broker.p, b->id, b->id_len) == 0) {
        log_warn("peer %s is this broker itself; ignoring it", p->text);
        p->is_self = true;
        return;
    }
    int fl = fcntl(fd, F_GETFL);
    fcntl(fd, F_SETFL, fl | O_NONBLOCK);

    unsigned wi = atomic_fetch_add(&b->next_w, 1) % b->nw;
    struct worker *w = &b->w[wi];
    struct session *s = session_new(b, w, fd);
    if (!s)
        return;
    s->is_peer = s->peer_out = s->welcomed = true;
    s->peer = p;
    if (g) {
        if (stls_adopt(s, g, true) < 0) {
            /* Not in any epoll set yet: closing it here is safe. */
            (void)TAKE_FD(fd);
            session_close(s);
            return;
        }
        g = NULL; /* s owns it now */
    }
    s->name = strndup((const char *)wf.broker.p, wf.broker.len);
    s->name_len = (uint16_t)wf.broker.len;
    s->max_frame =
        wf.max_frame && wf.max_frame < b->cfg.max_frame ? wf.max_frame : b->cfg.max_frame;
    /* Until the worker has it in its epoll set, writes wait for EPOLLOUT. */
    s->want_out = true;
    int sfd = TAKE_FD(fd);

    pthread_rwlock_wrlock(&b->reg);
    free(p->id);
    p->id = s->name ? strdup(s->name) : NULL;
    p->out = s;
    dump_state(b, s);
    pthread_rwlock_unlock(&b->reg);

    struct epoll_event ev = { .events = EPOLLIN | EPOLLRDHUP | EPOLLOUT, .data.ptr = s };
    if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, sfd, &ev) < 0) {
        /* Never watched, so no worker reads it: closing it here is safe. */
        session_close(s);
        return;
    }
    log_info("peer link to %s ('%s') up", p->text, s->name ? s->name : "?");
    p->backoff_ms = 0;
}

static void *
peer_main(void *arg)
{
    struct broker *b = arg;
    while (!atomic_load(&b->stop)) {
        uint64_t now = now_mono_usec();
        for (size_t i = 0; i < b->npeers; i++) {
            struct peer *p = &b->peers[i];
            if (p->is_self || now < p->next_try_usec)
                continue;
            pthread_rwlock_rdlock(&b->reg);
            bool up = p->out != NULL;
            pthread_rwlock_unlock(&b->reg);
            if (up)
                continue;
            peer_try(b, p);
            pthread_rwlock_rdlock(&b->reg);
            up = p->out != NULL;
            pthread_rwlock_unlock(&b->reg);
            if (!up) {
                p->backoff_ms = p->backoff_ms ? p->backoff_ms * 2 : 50;
                if (p->backoff_ms > 1000)
                    p->backoff_ms = 1000;
                p->next_try_usec = now_mono_usec() + (uint64_t)p->backoff_ms * 1000;
            }
        }
        struct pollfd pf = { .fd = b->peer_evfd, .events = POLLIN };
        poll(&pf, 1, 50);
    }
    return NULL;
}

/* ------------------------------------------------------------------ */
/* Setup and teardown                                                   */

void
broker_config_init(struct broker_config *c)
{
    memset(c, 0, sizeof(*c));
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    c->threads = n > 0 ? (unsigned)n : 1;
    c->max_frame = FRAME_DEFAULT_MAX;
    c->max_outbuf = 4u << 20;
    c->keepalive_ms = 30000;
    c->max_sessions = 100000;
    c->max_rooms_per_session = 1024;
    c->max_pending_per_session = 4096;
    c->presence_limit = 1000;
}

void
broker_config_free(struct broker_config *c)
{
    for (size_t i = 0; i < c->npeers; i++)
        free(c->peers[i]);
    for (size_t i = 0; i < c->ntokens; i++)
        free(c->tokens[i]);
    for (size_t i = 0; i < c->npeer_tokens; i++)
        free(c->peer_tokens[i]);
    free(c->name);
    free(c->tls_cert);
    free(c->tls_key);
    free(c->tls_client_ca);
    free(c->tls_ca);
    memset(c, 0, sizeof(*c));
}

int
broker_addr_parse(const char *text, int default_port, struct addr *ret, bool *ret_tls,
                  struct kerr *err)
{
    bool tls = strncmp(text, MCTLS_SCHEME, MCTLS_SCHEME_LEN) == 0;
    int r = addr_parse(tls ? text + MCTLS_SCHEME_LEN : text, default_port, ret, err);
    if (r < 0)
        return r;
    *ret_tls = tls;
    return 0;
}

/* The host part of "HOST:PORT", "[V6]:PORT" or "HOST": a new string, or NULL for unix:. */
static char *
addr_host(const char *text)
{
    if (strncmp(text, "unix:", 5) == 0)
        return NULL;
    if (text[0] == '[') {
        size_t n = strcspn(text + 1, "]");
        return strndup(text + 1, n);
    }
    return strndup(text, strcspn(text, ":"));
}

/* Load the TLS credentials the configuration needs. */
static int
load_tls(struct broker *b, bool listen_tls, bool peer_tls, struct kerr *err)
{
    const struct broker_config *c = &b->cfg;
    const char *what = NULL;
    int r;
    if ((c->tls_cert == NULL) != (c->tls_key == NULL))
        return kerr_setf(err, EINVAL, "--tls-cert and --tls-key go together");
    /* Required client certificates that no listener would ask for: refuse to run open. */
    if (c->tls_client_ca && !listen_tls)
        return kerr_setf(err, EINVAL, "--tls-client-ca needs a tls:// listener");
    if (listen_tls) {
        if (!c->tls_cert)
            return kerr_setf(err, EINVAL, "a tls:// listener needs --tls-cert and --tls-key");
        r = mctls_creds_load(c->tls_client_ca, false, c->tls_cert, c->tls_key, &b->tls_server,
                             &what);
        if (r < 0)
            return kerr_set(err, -r, "TLS: load '%s'", what ? what : "?");
    }
    if (peer_tls) {
        r = mctls_creds_load(c->tls_ca, true, c->tls_cert, c->tls_key, &b->tls_client, &what);
        if (r < 0)
            return kerr_set(err, -r, "TLS: load '%s'", what ? what : "?");
    }
    return 0;
}

const char *
broker_id(const struct broker *b)
{
    return b->id;
}

static void
make_id(struct broker *b, const struct broker_config *c)
{
    char host[64] = "localhost", first[128] = "none";
    if (c->name) {
        snprintf(b->id, sizeof(b->id), "%s", c->name);
    } else {
        gethostname(host, sizeof(host) - 1);
        if (c->nlisten)
            addr_format(&c->listen[0], first, sizeof(first));
        snprintf(b->id, sizeof(b->id), "%s/%s", host, first);
    }
    for (char *p = b->id; *p; p++)
        if ((unsigned char)*p < 0x21 || (unsigned char)*p > 0x7e)
            *p = '_';
    if (!b->id[0])
        snprintf(b->id, sizeof(b->id), "broker");
    b->id_len = strlen(b->id);
}

int
broker_new(struct broker_config *c, struct broker **ret, struct kerr *err)
{
    struct broker *b = calloc(1, sizeof(*b));
    if (!b)
        return kerr_set(err, ENOMEM, "allocate broker");
    b->cfg = *c;
    /* Deep-copy the strings we keep. */
    for (size_t i = 0; i < c->ntokens; i++)
        b->cfg.tokens[i] = strdup(c->tokens[i]);
    for (size_t i = 0; i < c->npeer_tokens; i++)
        b->cfg.peer_tokens[i] = strdup(c->peer_tokens[i]);
    for (size_t i = 0; i < c->npeers; i++)
        b->cfg.peers[i] = strdup(c->peers[i]);
    b->cfg.name = c->name ? strdup(c->name) : NULL;
    b->cfg.tls_cert = c->tls_cert ? strdup(c->tls_cert) : NULL;
    b->cfg.tls_key = c->tls_key ? strdup(c->tls_key) : NULL;
    b->cfg.tls_client_ca = c->tls_client_ca ? strdup(c->tls_client_ca) : NULL;
    b->cfg.tls_ca = c->tls_ca ? strdup(c->tls_ca) : NULL;
    if (b->cfg.threads == 0)
        b->cfg.threads = 1;
    if (b->cfg.threads > 256)
        b->cfg.threads = 256;
    /* Writers first: a steady stream of fan-out (readers) must not starve
     * joins and disconnects. Safe because no thread takes the read lock
     * twice. */
    pthread_rwlockattr_t ra;
    pthread_rwlockattr_init(&ra);
    pthread_rwlockattr_setkind_np(&ra, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    pthread_rwlock_init(&b->reg, &ra);
    pthread_rwlockattr_destroy(&ra);
    b->peer_evfd = -1;
    b->start_usec = now_mono_usec();
    for (size_t i = 0; i < BROKER_MAX_LISTEN; i++)
        b->lfd[i] = -1;
    *ret = b; /* broker_free() handles a partly built broker */

    for (size_t i = 0; i < c->nlisten; i++) {
        int r = addr_listen(&c->listen[i], 4096, &b->lfd[i], err);
        if (r < 0)
            return r;
        b->lunix[i] = c->listen[i].is_unix;
        b->ltls[i] = c->listen_tls[i];
        b->cfg.listen[i] = c->listen[i];
        b->nl++;
    }
    make_id(b, c);

    bool listen_tls = false, peer_tls = false;
    for (size_t i = 0; i < b->nl; i++)
        listen_tls |= b->ltls[i];
    for (size_t i = 0; i < c->npeers; i++) {
        struct peer *p = &b->peers[b->npeers];
        int r = broker_addr_parse(c->peers[i], 4222, &p->addr, &p->tls, err);
        if (r < 0)
            return kerr_prefix(err, "peer");
        p->text = strdup(c->peers[i]);
        /* unix: peers have no name to check; any other TLS peer must have one. */
        if (p->tls)
            p->host = addr_host(c->peers[i] + MCTLS_SCHEME_LEN);
        b->npeers++; /* broker_free() frees what it got */
        if (!p->text || (p->tls && !p->host && !p->addr.is_unix))
            return kerr_set(err, ENOMEM, "peer '%s'", c->peers[i]);
        peer_tls |= p->tls;
    }
    int tr = load_tls(b, listen_tls, peer_tls, err);
    if (tr < 0)
        return tr;

    b->nw = b->cfg.threads;
    b->w = calloc(b->nw, sizeof(*b->w));
    if (!b->w)
        return kerr_set(err, ENOMEM, "allocate workers");
    for (unsigned i = 0; i < b->nw; i++) {
        struct worker *w = &b->w[i];
        w->b = b;
        w->idx = i;
        w->epfd = -1;
        w->evfd = -1;
        w->spare_fd = -1;
        pthread_mutex_init(&w->list_lock, NULL);
        pthread_mutex_init(&w->heap_lock, NULL);
    }
    for (unsigned i = 0; i < b->nw; i++) {
        struct worker *w = &b->w[i];
        w->rbuf = malloc(RBUF_SIZE);
        w->epfd = epoll_create1(EPOLL_CLOEXEC);
        w->evfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        w->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (!w->rbuf || w->epfd < 0 || w->evfd < 0)
            return kerr_set(err, errno ? errno : ENOMEM, "set up worker %u", i);
        struct epoll_event ev = { .events = EPOLLIN, .data.u64 = TAG_EVFD };
        if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, w->evfd, &ev) < 0)
            return kerr_set(err, errno, "epoll_ctl eventfd");
        for (size_t l = 0; l < b->nl; l++) {
            struct epoll_event lev = { .events = EPOLLIN | EPOLLEXCLUSIVE,
                                       .data.u64 = ((uint64_t)l << 3) | TAG_LISTEN };
            if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, b->lfd[l], &lev) < 0)
                return kerr_set(err, errno, "epoll_ctl listener");
        }
    }
    b->peer_evfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (b->peer_evfd < 0)
        return kerr_set(err, errno, "eventfd");
    return 0;
}

int
broker_start(struct broker *b, struct kerr *err)
{
    for (unsigned i = 0; i < b->nw; i++) {
        int r = pthread_create(&b->w[i].th, NULL, worker_main, &b->w[i]);
        if (r)
            return kerr_set(err, r, "start worker thread");
        b->w[i].started = true;
    }
    if (b->npeers) {
        int r = pthread_create(&b->peer_th, NULL, peer_main, b);
        if (r)
            return kerr_set(err, r, "start peer thread");
        b->peer_started = true;
    }
    return 0;
}

void
broker_stop(struct broker *b)
{
    atomic_store(&b->stop, true);
    uint64_t one = 1;
    for (unsigned i = 0; i < b->nw; i++)
        if (b->w[i].evfd >= 0 && write(b->w[i].evfd, &one, sizeof(one)) < 0)
            log_debug("wake worker %u: %m", i);
    if (b->peer_evfd >= 0 && write(b->peer_evfd, &one, sizeof(one)) < 0)
        log_debug("wake peer thread: %m");
    for (unsigned i = 0; i < b->nw; i++)
        if (b->w[i].started) {
            pthread_join(b->w[i].th, NULL);
            b->w[i].started = false;
        }
    if (b->peer_started) {
        pthread_join(b->peer_th, NULL);
        b->peer_started = false;
    }
    /* Threads are gone: close every session on this thread. Gathers whose
     * timers are still armed complete (and are freed) first. */
    for (unsigned i = 0; i < b->nw; i++) {
        struct worker *w = &b->w[i];
        while (w->nheap > 0) {
            struct gather *g = w->heap[0].g;
            heap_remove(w, 0);
            gather_timeout(g);
            gather_unref(g);
        }
    }
    /* Tell every session why it is being disconnected, then close. */
    cur_worker = NULL;
    for (unsigned i = 0; i < b->nw; i++) {
        for (struct session *s = b->w[i].sessions; s; s = s->wnext)
            if (s->welcomed)
                send_error(s, 0, FRAME_E_SHUTDOWN, no_subject, "broker shutting down");
    }
    for (unsigned i = 0; i < b->nw; i++) {
        struct worker *w = &b->w[i];
        while (w->sessions)
            session_close(w->sessions);
    }
}

void
broker_free(struct broker *b)
{
    if (!b)
        return;
    for (unsigned i = 0; b->w && i < b->nw; i++) {
        struct worker *w = &b->w[i];
        safe_close(w->epfd);
        safe_close(w->evfd);
        safe_close(w->spare_fd);
        free(w->rbuf);
        free(w->dirty);
        free(w->heap);
        pthread_mutex_destroy(&w->list_lock);
        pthread_mutex_destroy(&w->heap_lock);
    }
    free(b->w);
    for (size_t i = 0; i < b->nl; i++) {
        safe_close(b->lfd[i]);
        if (b->cfg.listen[i].is_unix)
            unlink(((struct sockaddr_un *)&b->cfg.listen[i].ss)->sun_path);
    }
    safe_close(b->peer_evfd);
    for (struct map_iter it = { 0 }; map_next(&b->rooms, &it);)
        room_free(it.e->value);
    for (struct map_iter it = { 0 }; map_next(&b->rnames, &it);) {
        struct rsession *rs = it.e->value;
        free(rs->name);
        free(rs->attrs);
        free(rs);
    }
    map_free(&b->rooms);
    map_free(&b->rnames);
    map_free(&b->names);
    for (size_t i = 0; i < b->npeers; i++) {
        free(b->peers[i].text);
        free(b->peers[i].id);
        free(b->peers[i].host);
    }
    if (b->tls_server)
        gnutls_certificate_free_credentials(b->tls_server);
    if (b->tls_client)
        gnutls_certificate_free_credentials(b->tls_client);
    pthread_rwlock_destroy(&b->reg);
    broker_config_free(&b->cfg);
    free(b);
}

/* ------------------------------------------------------------------ */
/* Stats                                                                */

#define ROOMS_LISTED_MAX 1000

int
broker_stats_json(struct broker *b, struct sbuf *o)
{
    uint64_t up = (now_mono_usec() - b->start_usec) / 1000000;
    int r = 0;
    r |= sbuf_puts(o, "{\"broker\":");
    r |= jw_str(o, b->id, b->id_len);
    r |= sbuf_printf(
        o,
        ",\"uptime_sec\":%llu,\"threads\":%u,\"connections\":%llu,"
        "\"sessions\":%llu,\"sessions_total\":%llu,\"messages_in\":%llu,"
        "\"messages_out\":%llu,\"bytes_in\":%llu,\"bytes_out\":%llu,"
        "\"drops\":%llu,\"requests\":%llu,\"gathers_completed\":%llu,"
        "\"gather_replies\":%llu,\"gather_missing\":%llu,"
        "\"slow_consumers_closed\":%llu,\"bad_frames\":%llu,\"presence_suppressed\":%llu,"
        "\"tls_handshakes\":%llu,\"tls_handshakes_failed\":%llu,\"tls_handshake_timeouts\":%llu",
        (unsigned long long)up, b->nw, (unsigned long long)ST_GET(b, conns),
        (unsigned long long)ST_GET(b, sessions), (unsigned long long)ST_GET(b, sessions_total),
        (unsigned long long)ST_GET(b, msgs_in), (unsigned long long)ST_GET(b, msgs_out),
        (unsigned long long)ST_GET(b, bytes_in), (unsigned long long)ST_GET(b, bytes_out),
        (unsigned long long)ST_GET(b, drops), (unsigned long long)ST_GET(b, requests),
        (unsigned long long)ST_GET(b, gathers), (unsigned long long)ST_GET(b, replies),
        (unsigned long long)ST_GET(b, missing), (unsigned long long)ST_GET(b, slow_closed),
        (unsigned long long)ST_GET(b, bad_frames),
        (unsigned long long)ST_GET(b, presence_suppressed),
        (unsigned long long)ST_GET(b, tls_handshakes), (unsigned long long)ST_GET(b, tls_failed),
        (unsigned long long)ST_GET(b, tls_timeouts));
    pthread_rwlock_rdlock(&b->reg);
    r |= sbuf_printf(o, ",\"remote_sessions\":%zu,\"rooms\":%zu,\"peers\":[", b->rnames.count,
                     b->rooms.count);
    for (size_t i = 0; i < b->npeers; i++) {
        const struct peer *p = &b->peers[i];
        r |= sbuf_puts(o, i ? ",{\"addr\":" : "{\"addr\":");
        r |= jw_str(o, p->text, strlen(p->text));
        r |= sbuf_puts(o, ",\"id\":");
        if (p->id)
            r |= jw_str(o, p->id, strlen(p->id));
        else
            r |= sbuf_puts(o, "null");
        r |= sbuf_printf(o, ",\"connected\":%s}", p->out ? "true" : "false");
    }
    r |= sbuf_puts(o, "],\"room_stats\":[");
    size_t k = 0;
    for (struct map_iter it = { 0 }; map_next(&b->rooms, &it) && k < ROOMS_LISTED_MAX; k++) {
        const struct room *rm = it.e->value;
        r |= sbuf_puts(o, k ? ",{\"name\":" : "{\"name\":");
        r |= jw_str(o, rm->name, rm->len);
        r |= sbuf_printf(o,
                         ",\"members\":%u,\"remote_members\":%u,\"messages\":%llu,"
                         "\"drops\":%llu}",
                         rm->nlocal, rm->nremote, (unsigned long long)atomic_load(&rm->msgs),
                         (unsigned long long)atomic_load(&rm->drops));
    }
    pthread_rwlock_unlock(&b->reg);
    r |= sbuf_puts(o, "]}\n");
    return r ? -ENOMEM : 0;
}

static int
prom_label(struct sbuf *o, const char *s, size_t len)
{
    int r = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '"' || s[i] == '\\')
            r |= sbuf_putc(o, '\\');
        r |= sbuf_putc(o, s[i]);
    }
    return r;
}

int
broker_stats_prometheus(struct broker *b, struct sbuf *o)
{
    static const struct {
        const char *name, *type, *help;
        size_t off;
    } m[] = {
        { "middlecon_connections", "gauge", "Open connections (sessions and peer links).",
          offsetof(struct stats, conns) },
        { "middlecon_sessions", "gauge", "Sessions that completed the handshake.",
          offsetof(struct stats, sessions) },
        { "middlecon_sessions_total", "counter", "Sessions accepted since start.",
          offsetof(struct stats, sessions_total) },
        { "middlecon_messages_in_total", "counter", "MSG and DIRECT frames received.",
          offsetof(struct stats, msgs_in) },
        { "middlecon_messages_out_total", "counter", "Frames queued to sessions.",
          offsetof(struct stats, msgs_out) },
        { "middlecon_bytes_in_total", "counter", "Bytes read.", offsetof(struct stats, bytes_in) },
        { "middlecon_bytes_out_total", "counter", "Bytes written.",
          offsetof(struct stats, bytes_out) },
        { "middlecon_drops_total", "counter", "Messages dropped for full output buffers.",
          offsetof(struct stats, drops) },
        { "middlecon_requests_total", "counter", "REQUEST frames received.",
          offsetof(struct stats, requests) },
        { "middlecon_gathers_completed_total", "counter", "Requests answered.",
          offsetof(struct stats, gathers) },
        { "middlecon_gather_replies_total", "counter", "Member replies collected.",
          offsetof(struct stats, replies) },
        { "middlecon_gather_missing_total", "counter", "Members reported missing.",
          offsetof(struct stats, missing) },
        { "middlecon_slow_consumers_closed_total", "counter",
          "Sessions disconnected for not reading.", offsetof(struct stats, slow_closed) },
        { "middlecon_bad_frames_total", "counter", "Malformed frames received.",
          offsetof(struct stats, bad_frames) },
        { "middlecon_presence_suppressed_total", "counter",
          "Join/leave events not sent: the room is over --presence-limit.",
          offsetof(struct stats, presence_suppressed) },
        { "middlecon_tls_handshakes_total", "counter", "TLS handshakes completed on listeners.",
          offsetof(struct stats, tls_handshakes) },
        { "middlecon_tls_handshakes_failed_total", "counter",
          "TLS handshakes on listeners that failed (bad certificate, not TLS, ...).",
          offsetof(struct stats, tls_failed) },
        { "middlecon_tls_handshake_timeouts_total", "counter",
          "TLS connections closed for not completing the handshake in time.",
          offsetof(struct stats, tls_timeouts) },
    };
    int r = 0;
    for (size_t i = 0; i < sizeof(m) / sizeof(m[0]); i++) {

        r |=
            sbuf_printf(o, "# HELP %s %s\n# TYPE %s %s\n%s %llu\n", m[i].name, m[i].help, m[i].name,
                        m[i].type, m[i].name, (unsigned long long)stats_sum(b, m[i].off));
    }
    pthread_rwlock_rdlock(&b->reg);
    r |= sbuf_printf(o,
                     "# HELP middlecon_rooms Rooms with at least one member.\n"
                     "# TYPE middlecon_rooms gauge\nmiddlecon_rooms %zu\n",
                     b->rooms.count);
    r |= sbuf_puts(o, "# HELP middlecon_room_members Members of a room (local and remote).\n"
                      "# TYPE middlecon_room_members gauge\n");
    size_t k = 0;
    for (struct map_iter it = { 0 }; map_next(&b->rooms, &it) && k < ROOMS_LISTED_MAX; k++) {
        const struct room *rm = it.e->value;
        r |= sbuf_puts(o, "middlecon_room_members{room=\"");
        r |= prom_label(o, rm->name, rm->len);
        r |= sbuf_printf(o, "\"} %u\n", rm->nlocal + rm->nremote);
    }
    r |= sbuf_puts(o, "# HELP middlecon_room_drops_total Messages to a room dropped.\n"
                      "# TYPE middlecon_room_drops_total counter\n");
    k = 0;
    for (struct map_iter it = { 0 }; map_next(&b->rooms, &it) && k < ROOMS_LISTED_MAX; k++) {
        const struct room *rm = it.e->value;
        r |= sbuf_puts(o, "middlecon_room_drops_total{room=\"");
        r |= prom_label(o, rm->name, rm->len);
        r |= sbuf_printf(o, "\"} %llu\n", (unsigned long long)atomic_load(&rm->drops));
    }
    size_t up = 0;
    for (size_t i = 0; i < b->npeers; i++)
        up += b->peers[i].out != NULL;
    r |= sbuf_printf(o,
                     "# HELP middlecon_peers_connected Peer links up.\n"
                     "# TYPE middlecon_peers_connected gauge\nmiddlecon_peers_connected %zu\n",
                     up);
    pthread_rwlock_unlock(&b->reg);
    return r ? -ENOMEM : 0;
}
