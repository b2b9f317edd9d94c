/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libmiddlecon: the client side of the middlecon bus (public API in
 * middlecon.h, wire format in frame.h).
 *
 * One struct mc_client holds one connection. There is no I/O thread:
 * whichever caller needs input becomes the client's single "reader" (the
 * leader/follower pattern): it releases the lock, waits in epoll_wait() on
 * the client's private epoll set, takes the lock again, reads and dispatches
 * every complete frame (answers to waiting calls, events to the queue) and
 * wakes the other waiters through the condition variable. Output is written
 * by the calling thread directly, under the lock, so a request costs one
 * send() and its answer one epoll_wait() + recv() on the same thread; the
 * output buffer only fills when the socket does.
 *
 * The private epoll set (c->epfd) holds the socket and an eventfd and is
 * what mc_fd() exposes: event loops watch it, and it survives reconnects.
 * The eventfd is signalled when an event loop must act although the socket
 * is quiet (events queued by a reader on another thread, a lost connection
 * whose reconnect timer must now be armed).
 *
 * TLS ("tls://HOST:PORT", mctls.c): after connect() the GnuTLS handshake
 * runs as one more non-blocking connection state (ST_TLS) driven by the same
 * epoll set, then frames go through gnutls_record_send/recv instead of
 * send/recv. Input that GnuTLS decrypted but we did not take yet is read
 * before returning, since epoll cannot report it.
 *
 * Lock order: c->mu only. Callbacks run without it.
 */
#include "middlecon.h"

#include "frame.h"
#include "mctls.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define MC_DEFAULT_PORT     4222
#define MC_IN_INITIAL       (16u << 10)  /* input buffer of a quiet session */
#define MC_BUF_KEEP         (256u << 10) /* larger empty buffers are given back */
#define MC_OUT_MAX          (8u << 20)   /* queued output beyond the socket buffer */
#define MC_EVQ_MAX          65536        /* queued events before new ones are dropped */
#define MC_HANDSHAKE_MS     10000
#define MC_REQUEST_SLACK_MS 2000 /* how much longer than its timeout a request may take */
#define MC_DEFAULT_KA_MS    30000

#define TAG_EVFD 0
#define TAG_SOCK 1

enum cstate {
    ST_IDLE,       /* not connected and not trying (before mc_connect, or given up) */
    ST_DOWN,       /* connection lost; next attempt at c->next_attempt */
    ST_CONNECTING, /* non-blocking connect() in progress */
    ST_TLS,        /* TLS handshake in progress */
    ST_HANDSHAKE,  /* HELLO sent, waiting for WELCOME */
    ST_UP,
};

enum pkind {
    PK_ACK,    /* OK or ERROR */
    PK_GATHER, /* GATHER_RESULT */
    PK_ONE,    /* REPLY, or ERROR naming the missing member */
    PK_WHO,    /* WHO_RESULT */
    PK_STATS,  /* STATS_RESULT */
};

/* A call waiting for the broker's answer; lives on the caller's stack. */
struct pending {
    struct pending *next;
    uint32_t id;
    enum pkind kind;
    bool done;
    int err;
    void *result;
    /* mc_request_async(): heap-allocated, completed through mc_process(). */
    bool async;
    mc_result_fn fn;
    void *userdata;
    uint64_t deadline_usec;
};

/* A queued event; the public struct is embedded, the strings follow. */
struct evnode {
    struct evnode *next;
    uint64_t gen; /* connection the event came on (mc_reply checks it) */
    struct mc_event ev;
};

struct mc_client {
    pthread_mutex_t mu;
    pthread_cond_t cv;

    /* Configuration. */
    char *server;
    char *name_cfg;
    char *token;
    struct frame_buf attrs;
    uint16_t nattrs;
    uint32_t backoff_min_ms, backoff_max_ms;
    uint32_t op_timeout_ms;
    mc_event_fn event_fn;
    void *event_ud;
    struct sockaddr_storage addr;
    socklen_t addrlen;
    bool tls;                                   /* the server address is tls:// */
    char tls_host[256];                         /* the name its certificate must carry */
    gnutls_certificate_credentials_t tls_creds; /* mc_set_tls(), or the system CAs */

    /* Connection. */
    enum cstate state;
    bool ever_up;    /* reconnect only after a first successful connect */
    int connect_err; /* first mc_connect(): why it failed */
    bool reading;    /* a thread is the reader (owns the input buffer) */
    bool in_process; /* the reader is mc_process(), which dispatches what it reads */
    uint64_t gen;    /* incremented per connection attempt */
    int fd, epfd, evfd;
    gnutls_session_t tls_s; /* TLS connections: the session over fd */
    bool tls_wpend;         /* a TLS send returned EAGAIN: flush it with (NULL, 0) */
    bool ep_out;            /* EPOLLOUT is armed on fd */
    bool evfd_set;
    uint32_t next_id;
    uint32_t max_frame;
    uint32_t keepalive_ms;
    uint64_t next_attempt_usec, backoff_ms, hs_deadline_usec;
    uint64_t last_rx_usec, last_tx_usec;
    bool ping_out;
    char name[FRAME_NAME_MAX + 1];
    int last_code;
    char last_err[FRAME_STR_MAX + 1];

    uint8_t *in;
    size_t in_len, in_cap;
    uint8_t *out;
    size_t out_off, out_len, out_cap;

    char **rooms;
    size_t nrooms, rooms_cap;

    struct pending *pending;
    struct pending *done_head, *done_tail; /* completed async requests, for mc_process() */
    size_t nasync;                         /* async requests still in c->pending */
    struct evnode *evq_head, *evq_tail;
    size_t evq_len;

    struct mc_client_stats stats;
};

static uint64_t
now_usec(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* Deadline of a timeout in ms (< 0: none). */
static uint64_t
deadline_after(int64_t timeout_ms)
{
    if (timeout_ms < 0)
        return UINT64_MAX;
    return now_usec() + (uint64_t)timeout_ms * 1000u;
}

static struct frame_bytes
fb_str(const char *s)
{
    struct frame_bytes b = { (const uint8_t *)s, s ? strlen(s) : 0 };
    return b;
}

static int
valid_name(const char *s)
{
    return s && frame_name_valid(s, strlen(s));
}

/* ---- Address ----------------------------------------------------------- */

/* Resolve text into *ss; host (256 bytes) gets the host part, "" for unix:. */
static int
parse_server(const char *text, struct sockaddr_storage *ss, socklen_t *len, char *ret_host)
{
    memset(ss, 0, sizeof(*ss));
    ret_host[0] = 0;
    if (!text || !*text)
        return -EINVAL;
    if (strncmp(text, "unix:", 5) == 0) {
        struct sockaddr_un *un = (struct sockaddr_un *)ss;
        const char *path = text + 5;
        size_t plen = strlen(path);
        if (plen == 0 || plen >= sizeof(un->sun_path))
            return -EINVAL;
        un->sun_family = AF_UNIX;
        memcpy(un->sun_path, path, plen + 1);
        *len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + plen + 1);
        return 0;
    }
    char host[256];
    const char *port = NULL;
    if (text[0] == '[') {
        const char *end = strchr(text, ']');
        if (!end || (size_t)(end - text - 1) >= sizeof(host))
            return -EINVAL;
        memcpy(host, text + 1, (size_t)(end - text - 1));
        host[end - text - 1] = 0;
        if (end[1] == ':')
            port = end + 2;
        else if (end[1] != 0)
            return -EINVAL;
    } else {
        const char *colon = strrchr(text, ':');
        size_t hlen = colon ? (size_t)(colon - text) : strlen(text);
        if (hlen == 0 || hlen >= sizeof(host) || (colon && strchr(text, ':') != colon))
            return -EINVAL;
        memcpy(host, text, hlen);
        host[hlen] = 0;
        if (colon)
            port = colon + 1;
    }
    long p = MC_DEFAULT_PORT;
    if (port) {
        char *end;
        errno = 0;
        p = strtol(port, &end, 10);
        if (errno || end == port || *end || p < 1 || p > 65535)
            return -EINVAL;
    }
    memcpy(ret_host, host, sizeof(host));
    struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *ai = NULL;
    if (getaddrinfo(host, NULL, &hints, &ai) != 0 || !ai)
        return -EINVAL;
    memcpy(ss, ai->ai_addr, ai->ai_addrlen);
    *len = ai->ai_addrlen;
    freeaddrinfo(ai);
    if (ss->ss_family == AF_INET)
        ((struct sockaddr_in *)ss)->sin_port = htons((uint16_t)p);
    else if (ss->ss_family == AF_INET6)
        ((struct sockaddr_in6 *)ss)->sin6_port = htons((uint16_t)p);
    else
        return -EINVAL;
    return 0;
}

/* ---- Small helpers ----------------------------------------------------- */

static void
signal_evfd(struct mc_client *c)
{
    if (c->evfd_set)
        return;
    uint64_t one = 1;
    if (write(c->evfd, &one, sizeof(one)) == sizeof(one))
        c->evfd_set = true;
}

static void
drain_evfd(struct mc_client *c)
{
    uint64_t v;
    if (!c->evfd_set)
        return;
    if (read(c->evfd, &v, sizeof(v)) < 0 && errno != EAGAIN)
        return;
    c->evfd_set = false;
}

static void
arm_out(struct mc_client *c, bool on)
{
    if (c->fd < 0 || c->ep_out == on)
        return;
    struct epoll_event ev = { .events = EPOLLIN | (on ? EPOLLOUT : 0), .data.u32 = TAG_SOCK };
    if (epoll_ctl(c->epfd, EPOLL_CTL_MOD, c->fd, &ev) == 0)
        c->ep_out = on;
}

static int
map_error(uint16_t code)
{
    switch (code) {
    case FRAME_E_AUTH:
        return -EACCES;
    case FRAME_E_NAME_TAKEN:
        return -EADDRINUSE;
    case FRAME_E_BAD_VERSION:
        return -EPROTONOSUPPORT;
    case FRAME_E_NO_SESSION:
    case FRAME_E_NOT_MEMBER:
        return -ENOENT;
    case FRAME_E_NO_MEMBERS:
        return -ENXIO;
    case FRAME_E_TIMEOUT:
        return -ETIMEDOUT;
    case FRAME_E_GONE:
        return -ECONNRESET;
    case FRAME_E_OVERFLOW:
        return -ENOBUFS;
    case FRAME_E_TOO_BIG:
        return -EMSGSIZE;
    case FRAME_E_LIMIT:
        return -ENOSPC;
    case FRAME_E_PEER_DOWN:
        return -EHOSTUNREACH;
    case FRAME_E_SHUTDOWN:
        return -ESHUTDOWN;
    default:
        return -EPROTO;
    }
}

/* ---- Copying frames into caller-owned objects --------------------------- */

/*
 * Objects handed to callers are one allocation: fixed structs and arrays
 * first, then the strings. A bump allocator fills the tail.
 */
struct bump {
    char *p;
};

static const char *
bump_copy(struct bump *b, struct frame_bytes v)
{
    char *s = b->p;
    if (v.len)
        memcpy(s, v.p, v.len);
    s[v.len] = 0;
    b->p += v.len + 1;
    return s;
}

/* Space needed by an attribute list (array + strings). */
static size_t
attrs_size(struct frame_iter *it)
{
    struct frame_bytes k, v;
    size_t sz = 0;
    while (frame_next_attr(it, &k, &v) > 0)
        sz += sizeof(struct mc_attr) + k.len + v.len + 2;
    return sz;
}

static void
attrs_fill(struct frame_iter *it, struct mc_attr *arr, struct bump *b)
{
    struct frame_bytes k, v;
    size_t i = 0;
    while (frame_next_attr(it, &k, &v) > 0) {
        arr[i].key = bump_copy(b, k);
        arr[i].value = bump_copy(b, v);
        i++;
    }
}

static struct evnode *
event_from_frame(const struct frame *f, uint64_t gen)
{
    struct frame_bytes room = { 0 }, from = f->from, data = { 0 };
    enum mc_event_type type;
    size_t nattrs = 0, asz = 0;
    switch (f->type) {
    case FRAME_MSG:
        type = MC_EVENT_MESSAGE, room = f->room, data = f->payload;
        break;
    case FRAME_DIRECT:
        type = MC_EVENT_DIRECT, room = f->name, data = f->payload;
        break;
    case FRAME_REQUEST:
        type = MC_EVENT_REQUEST, room = f->name, data = f->payload;
        break;
    case FRAME_PRESENCE: {
        type = f->op == FRAME_OP_UP ? MC_EVENT_JOIN : MC_EVENT_LEAVE;
        room = f->room, from = f->name;
        struct frame_iter it;
        frame_iter_attrs(&it, f);
        asz = attrs_size(&it);
        nattrs = f->nattrs;
        break;
    }
    default:
        return NULL;
    }
    size_t sz = sizeof(struct evnode) + asz + room.len + from.len + data.len + 3;
    struct evnode *n = malloc(sz);
    if (!n)
        return NULL;
    memset(n, 0, sizeof(*n));
    n->gen = gen;
    struct mc_attr *attrs = (struct mc_attr *)(n + 1);
    struct bump b = { (char *)(attrs + nattrs) };
    n->ev.type = type;
    n->ev.room = bump_copy(&b, room);
    n->ev.from = bump_copy(&b, from);
    if (f->type != FRAME_PRESENCE) {
        n->ev.data = bump_copy(&b, data);
        n->ev.len = data.len;
    }
    n->ev.mode = (enum mc_mode)f->mode;
    n->ev.id = f->type == FRAME_REQUEST ? f->id : 0;
    if (nattrs) {
        struct frame_iter it;
        frame_iter_attrs(&it, f);
        attrs_fill(&it, attrs, &b);
        n->ev.attrs = attrs;
        n->ev.nattrs = nattrs;
    }
    return n;
}

static struct evnode *
event_simple(enum mc_event_type type, const char *from)
{
    size_t flen = strlen(from);
    struct evnode *n = calloc(1, sizeof(*n) + flen + 2);
    if (!n)
        return NULL;
    char *s = (char *)(n + 1);
    s[0] = 0;
    memcpy(s + 1, from, flen + 1);
    n->ev.type = type;
    n->ev.room = s;
    n->ev.from = s + 1;
    return n;
}

static struct mc_result *
result_alloc(size_t nrep, size_t nmiss, size_t strbytes, struct bump *b)
{
    size_t sz = sizeof(struct mc_result) + nrep * sizeof(struct mc_reply) +
                nmiss * sizeof(struct mc_missing) + strbytes;
    struct mc_result *r = calloc(1, sz);
    if (!r)
        return NULL;
    r->replies = (struct mc_reply *)(r + 1);
    r->missing = (struct mc_missing *)(r->replies + nrep);
    r->nreplies = nrep;
    r->nmissing = nmiss;
    b->p = (char *)(r->missing + nmiss);
    return r;
}

static struct mc_result *
result_from_gather(const struct frame *f)
{
    struct frame_iter it;
    struct frame_bytes name, payload;
    uint16_t reason;
    size_t strbytes = 0;
    frame_iter_gather(&it, f);
    while (frame_next_reply(&it, &name, &payload) > 0)
        strbytes += name.len + payload.len + 2;
    while (frame_next_missing(&it, &name, &reason) > 0)
        strbytes += name.len + 1;
    struct bump b;
    struct mc_result *r = result_alloc(f->nreplies, f->nmissing, strbytes, &b);
    if (!r)
        return NULL;
    frame_iter_gather(&it, f);
    for (size_t i = 0; frame_next_reply(&it, &name, &payload) > 0; i++) {
        r->replies[i].from = bump_copy(&b, name);
        r->replies[i].data = bump_copy(&b, payload);
        r->replies[i].len = payload.len;
    }
    for (size_t i = 0; frame_next_missing(&it, &name, &reason) > 0; i++) {
        r->missing[i].name = bump_copy(&b, name);
        r->missing[i].reason = (enum mc_reason)reason;
    }
    return r;
}

static struct mc_result *
result_one_reply(struct frame_bytes from, struct frame_bytes payload)
{
    struct bump b;
    struct mc_result *r = result_alloc(1, 0, from.len + payload.len + 2, &b);
    if (!r)
        return NULL;
    r->replies[0].from = bump_copy(&b, from);
    r->replies[0].data = bump_copy(&b, payload);
    r->replies[0].len = payload.len;
    return r;
}

static struct mc_result *
result_one_missing(struct frame_bytes name, uint16_t reason)
{
    struct bump b;
    struct mc_result *r = result_alloc(0, 1, name.len + 1, &b);
    if (!r)
        return NULL;
    r->missing[0].name = bump_copy(&b, name);
    r->missing[0].reason = (enum mc_reason)reason;
    return r;
}

static struct mc_who *
who_from_frame(const struct frame *f)
{
    struct frame_iter it, ait;
    struct frame_bytes name, attrs;
    uint16_t n;
    size_t sz = sizeof(struct mc_who) + (size_t)f->count * sizeof(struct mc_member);
    frame_iter_who(&it, f);
    while (frame_next_member(&it, &name, &attrs, &n) > 0) {
        frame_iter_attr_list(&ait, attrs, n);
        sz += name.len + 1 + attrs_size(&ait);
    }
    struct mc_who *w = calloc(1, sz);
    if (!w)
        return NULL;
    w->count = f->count;
    w->members = (struct mc_member *)(w + 1);
    /* Attribute arrays first (aligned), strings after all of them. */
    struct mc_attr *arr = (struct mc_attr *)(w->members + w->count);
    size_t total_attrs = 0;
    frame_iter_who(&it, f);
    while (frame_next_member(&it, &name, &attrs, &n) > 0)
        total_attrs += n;
    struct bump b = { (char *)(arr + total_attrs) };
    frame_iter_who(&it, f);
    for (size_t i = 0; frame_next_member(&it, &name, &attrs, &n) > 0; i++) {
        w->members[i].name = bump_copy(&b, name);
        w->members[i].nattrs = n;
        w->members[i].attrs = arr;
        frame_iter_attr_list(&ait, attrs, n);
        attrs_fill(&ait, arr, &b);
        arr += n;
    }
    return w;
}

/* ---- Event queue -------------------------------------------------------- */

static void
queue_event(struct mc_client *c, struct evnode *n)
{
    if (!n || c->evq_len >= MC_EVQ_MAX) {
        c->stats.events_dropped++;
        free(n);
        return;
    }
    n->next = NULL;
    if (c->evq_tail)
        c->evq_tail->next = n;
    else
        c->evq_head = n;
    c->evq_tail = n;
    c->evq_len++;
    pthread_cond_broadcast(&c->cv);
    /* mc_process() dispatches what it reads itself; others must wake the loop. */
    if (c->event_fn && !c->in_process)
        signal_evfd(c);
}

static struct evnode *
pop_event(struct mc_client *c)
{
    struct evnode *n = c->evq_head;
    if (!n)
        return NULL;
    c->evq_head = n->next;
    if (!c->evq_head)
        c->evq_tail = NULL;
    c->evq_len--;
    n->next = NULL;
    return n;
}

/* ---- Pending calls ------------------------------------------------------ */

static uint32_t
alloc_id(struct mc_client *c)
{
    if (++c->next_id == 0)
        c->next_id = 1;
    return c->next_id;
}

static void
pending_add(struct mc_client *c, struct pending *p, uint32_t id, enum pkind kind)
{
    memset(p, 0, sizeof(*p));
    p->id = id;
    p->kind = kind;
    p->next = c->pending;
    c->pending = p;
}

static void
pending_remove(struct mc_client *c, struct pending *p)
{
    for (struct pending **pp = &c->pending; *pp; pp = &(*pp)->next) {
        if (*pp == p) {
            *pp = p->next;
            return;
        }
    }
}

static struct pending *
pending_find(struct mc_client *c, uint32_t id)
{
    for (struct pending *p = c->pending; p; p = p->next)
        if (p->id == id && !p->done)
            return p;
    return NULL;
}

static void
pending_complete(struct mc_client *c, struct pending *p, int err, void *result)
{
    p->done = true;
    p->err = err;
    p->result = result;
    if (p->async) {
        /* Hand it to mc_process(), which runs the callback. */
        pending_remove(c, p);
        c->nasync--;
        p->next = NULL;
        if (c->done_tail)
            c->done_tail->next = p;
        else
            c->done_head = p;
        c->done_tail = p;
        if (!c->in_process)
            signal_evfd(c);
        return;
    }
    pthread_cond_broadcast(&c->cv);
}

/* ---- Connection state --------------------------------------------------- */

static void
close_socket(struct mc_client *c)
{
    if (c->tls_s) {
        /* One close_notify if the session got that far; never wait for it. */
        if (c->state == ST_HANDSHAKE || c->state == ST_UP)
            gnutls_bye(c->tls_s, GNUTLS_SHUT_WR);
        gnutls_deinit(c->tls_s);
        c->tls_s = NULL;
        c->tls_wpend = false;
    }
    if (c->fd >= 0) {
        epoll_ctl(c->epfd, EPOLL_CTL_DEL, c->fd, NULL);
        close(c->fd);
        c->fd = -1;
    }
    c->ep_out = false;
    c->in_len = 0;
    c->out_off = c->out_len = 0;
}

/*
 * The connection is gone (or an attempt failed). Fail what waits on it and
 * arm the reconnect timer; err is what the first mc_connect() reports.
 */
static void
connection_lost(struct mc_client *c, int err)
{
    bool was_up = c->state == ST_UP;
    close_socket(c);
    struct pending *next;
    for (struct pending *p = c->pending; p; p = next) {
        next = p->next; /* an async request moves to the done list */
        if (!p->done)
            pending_complete(c, p, -ECONNRESET, NULL);
    }
    if (c->ever_up && c->backoff_min_ms > 0) {
        uint64_t delay = c->backoff_ms ? c->backoff_ms : c->backoff_min_ms;
        /* Up to 25% jitter so clients of a restarted broker do not return in lockstep. */
        uint64_t jitter = delay / 4 ? (uint64_t)rand() % (delay / 4 + 1) : 0;
        c->next_attempt_usec = now_usec() + (delay + jitter) * 1000u;
        c->backoff_ms = delay * 2 > c->backoff_max_ms ? c->backoff_max_ms : delay * 2;
        c->state = ST_DOWN;
    } else {
        c->state = ST_IDLE;
        if (!c->ever_up && !c->connect_err)
            c->connect_err = err ? err : -ECONNRESET;
    }
    if (was_up)
        queue_event(c, event_simple(MC_EVENT_DISCONNECTED, c->name));
    pthread_cond_broadcast(&c->cv);
    signal_evfd(c);
}

/* send() on either kind of connection. Returns bytes written or -errno. */
static ssize_t
sock_send(struct mc_client *c, const void *p, size_t len)
{
    if (!c->tls_s) {
        ssize_t n = send(c->fd, p, len, MSG_NOSIGNAL);
        return n < 0 ? -errno : n;
    }
    /*
     * After EAGAIN GnuTLS holds the encrypted record and must be asked to
     * write it out again, not given other data: (NULL, 0) does that and
     * returns the size of the original call (the output buffer may have
     * moved meanwhile).
     */
    ssize_t n = c->tls_wpend ? mctls_send(c->tls_s, NULL, 0) : mctls_send(c->tls_s, p, len);
    c->tls_wpend = n == -EAGAIN || n == -EINTR;
    return n;
}

/* recv() on either kind of connection. Returns bytes read (0: closed) or -errno. */
static ssize_t
sock_recv(struct mc_client *c, void *p, size_t len)
{
    if (c->tls_s)
        return mctls_recv(c->tls_s, p, len);
    ssize_t n = recv(c->fd, p, len, 0);
    return n < 0 ? -errno : n;
}

static int
flush_out(struct mc_client *c)
{
    while (c->out_off < c->out_len) {
        ssize_t n = sock_send(c, c->out + c->out_off, c->out_len - c->out_off);
        if (n < 0) {
            if (n == -EINTR)
                continue;
            if (n == -EAGAIN) {
                arm_out(c, true);
                return 0;
            }
            connection_lost(c, (int)n);
            return (int)n;
        }
        c->out_off += (size_t)n;
        c->last_tx_usec = now_usec();
    }
    c->out_off = c->out_len = 0;
    if (c->out_cap > MC_BUF_KEEP) {
        free(c->out);
        c->out = NULL;
        c->out_cap = 0;
    }
    arm_out(c, false);
    return 0;
}

/* Encode f at the end of the output buffer and try to write it out. */
static int
send_frame(struct mc_client *c, const struct frame *f)
{
    if (c->fd < 0 || (c->state != ST_UP && f->type != FRAME_HELLO))
        return -ENOTCONN;
    size_t sz = frame_size(f);
    if (sz == 0)
        return -EINVAL;
    if (sz > c->max_frame)
        return -EMSGSIZE;
    if (c->out_len - c->out_off + sz > MC_OUT_MAX + (size_t)c->max_frame)
        return -ENOBUFS;
    if (c->out_off > 0 && c->out_off == c->out_len)
        c->out_off = c->out_len = 0;
    if (c->out_len + sz > c->out_cap) {
        if (c->out_off > 0) {
            memmove(c->out, c->out + c->out_off, c->out_len - c->out_off);
            c->out_len -= c->out_off;
            c->out_off = 0;
        }
        if (c->out_len + sz > c->out_cap) {
            size_t cap = c->out_cap ? c->out_cap : 4096;
            while (cap < c->out_len + sz)
                cap *= 2;
            uint8_t *p = realloc(c->out, cap);
            if (!p)
                return -ENOMEM;
            c->out = p;
            c->out_cap = cap;
        }
    }
    ssize_t n = frame_encode(f, c->out + c->out_len, c->out_cap - c->out_len);
    if (n < 0)
        return (int)n;
    c->out_len += (size_t)n;
    if (c->ep_out) /* already waiting for the socket: keep the order, add to the queue */
        return 0;
    return flush_out(c);
}

static void
send_hello(struct mc_client *c)
{
    struct frame f = { .type = FRAME_HELLO, .id = alloc_id(c), .version = FRAME_VERSION };
    f.name = fb_str(c->name_cfg);
    f.token = fb_str(c->token);
    f.attrs.p = c->attrs.data;
    f.attrs.len = c->attrs.len;
    f.nattrs = c->nattrs;
    int r = send_frame(c, &f);
    if (r < 0 && c->fd >= 0)
        connection_lost(c, r);
}

/* The byte stream is ready (TLS done, if any): start the middlecon handshake. */
static void
start_hello(struct mc_client *c)
{
    c->state = ST_HANDSHAKE;
    arm_out(c, false);
    send_hello(c);
}

/* One step of the TLS handshake; on completion, the middlecon handshake starts. */
static void
tls_step(struct mc_client *c)
{
    int r = mctls_handshake(c->tls_s, c->last_err, sizeof(c->last_err));
    if (r == -EAGAIN) {
        arm_out(c, gnutls_record_get_direction(c->tls_s) == 1);
        return;
    }
    if (r < 0) {
        c->last_code = 0;
        connection_lost(c, r);
        return;
    }
    start_hello(c);
}

/* The socket is connected: start TLS, or say HELLO. */
static void
connected(struct mc_client *c)
{
    if (c->tls) {
        int r = mctls_session_new(c->tls_creds, c->fd, MCTLS_CLIENT,
                                  c->tls_host[0] ? c->tls_host : NULL, &c->tls_s);
        if (r < 0) {
            connection_lost(c, r);
            return;
        }
        c->state = ST_TLS;
        tls_step(c);
        return;
    }
    start_hello(c);
}

static void
start_connect(struct mc_client *c)
{
    c->gen++;
    c->max_frame = FRAME_MAX_SIZE;
    c->hs_deadline_usec = now_usec() + MC_HANDSHAKE_MS * 1000u;
    int fd = socket(c->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        connection_lost(c, -errno);
        return;
    }
    if (c->addr.ss_family != AF_UNIX) {
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    }
    c->fd = fd;
    c->ep_out = true;
    struct epoll_event ev = { .events = EPOLLIN | EPOLLOUT, .data.u32 = TAG_SOCK };
    if (epoll_ctl(c->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
        connection_lost(c, -errno);
        return;
    }
    c->state = ST_CONNECTING;
    if (connect(fd, (struct sockaddr *)&c->addr, c->addrlen) < 0) {
        if (errno == EINPROGRESS)
            return;
        /* A Unix socket whose backlog is full says EAGAIN: retry like a refusal. */
        connection_lost(c, errno == EAGAIN ? -ECONNREFUSED : -errno);
        return;
    }
    connected(c);
}

static void
connect_done(struct mc_client *c)
{
    int err = 0;
    socklen_t len = sizeof(err);
    if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
        err = errno;
    if (err) {
        connection_lost(c, -err);
        return;
    }
    connected(c);
}

static void
on_welcome(struct mc_client *c, const struct frame *f)
{
    size_t n = f->name.len < FRAME_NAME_MAX ? f->name.len : FRAME_NAME_MAX;
    memcpy(c->name, f->name.p, n);
    c->name[n] = 0;
    c->max_frame = f->max_frame && f->max_frame <= FRAME_MAX_SIZE ? f->max_frame : FRAME_MAX_SIZE;
    c->keepalive_ms = f->keepalive_ms ? f->keepalive_ms : MC_DEFAULT_KA_MS;
    c->state = ST_UP;
    c->backoff_ms = 0;
    c->ping_out = false;
    c->last_rx_usec = c->last_tx_usec = now_usec();
    if (c->ever_up) {
        c->stats.reconnects++;
        for (size_t i = 0; i < c->nrooms && c->state == ST_UP; i++) {
            struct frame j = { .type = FRAME_JOIN, .room = fb_str(c->rooms[i]) };
            send_frame(c, &j);
        }
        if (c->state == ST_UP)
            queue_event(c, event_simple(MC_EVENT_CONNECTED, c->name));
    }
    c->ever_up = true;
    c->connect_err = 0;
    pthread_cond_broadcast(&c->cv);
}

static void
record_error(struct mc_client *c, const struct frame *f)
{
    size_t n = f->message.len < FRAME_STR_MAX ? f->message.len : FRAME_STR_MAX;
    memcpy(c->last_err, f->message.p, n);
    c->last_err[n] = 0;
    c->last_code = f->code;
}

static bool
missing_reason(uint16_t code)
{
    return code == FRAME_E_TIMEOUT || code == FRAME_E_GONE || code == FRAME_E_OVERFLOW ||
           code == FRAME_E_TOO_BIG || code == FRAME_E_PEER_DOWN;
}

static void
handle_frame(struct mc_client *c, const struct frame *f)
{
    struct pending *p;
    if (c->state == ST_HANDSHAKE) {
        if (f->type == FRAME_WELCOME) {
            on_welcome(c, f);
        } else if (f->type == FRAME_ERROR) {
            record_error(c, f);
            connection_lost(c, map_error(f->code));
        } else {
            connection_lost(c, -EPROTO);
        }
        return;
    }
    switch (f->type) {
    case FRAME_PING: {
        struct frame pong = { .type = FRAME_PONG, .id = f->id };
        send_frame(c, &pong);
        break;
    }
    case FRAME_PONG:
        if (f->id && (p = pending_find(c, f->id)))
            pending_complete(c, p, 0, NULL);
        break;
    case FRAME_OK:
        if ((p = pending_find(c, f->id)))
            pending_complete(c, p, 0, NULL);
        break;
    case FRAME_ERROR:
        record_error(c, f);
        if (f->id == 0 || !(p = pending_find(c, f->id)))
            break;
        if (p->kind == PK_ONE && missing_reason(f->code)) {
            struct mc_result *r = result_one_missing(f->subject, f->code);
            pending_complete(c, p, r ? 0 : -ENOMEM, r);
        } else {
            pending_complete(c, p, map_error(f->code), NULL);
        }
        break;
    case FRAME_MSG:
    case FRAME_DIRECT:
    case FRAME_REQUEST:
    case FRAME_PRESENCE:
        queue_event(c, event_from_frame(f, c->gen));
        break;
    case FRAME_REPLY:
        if ((p = pending_find(c, f->id)) && p->kind == PK_ONE) {
            struct mc_result *r = result_one_reply(f->from, f->payload);
            pending_complete(c, p, r ? 0 : -ENOMEM, r);
        }
        break;
    case FRAME_GATHER_RESULT:
        if ((p = pending_find(c, f->id)) && p->kind == PK_GATHER) {
            struct mc_result *r = result_from_gather(f);
            pending_complete(c, p, r ? 0 : -ENOMEM, r);
        }
        break;
    case FRAME_WHO_RESULT:
        if ((p = pending_find(c, f->id)) && p->kind == PK_WHO) {
            struct mc_who *w = who_from_frame(f);
            pending_complete(c, p, w ? 0 : -ENOMEM, w);
        }
        break;
    case FRAME_STATS_RESULT:
        if ((p = pending_find(c, f->id)) && p->kind == PK_STATS) {
            char *s = malloc(f->payload.len + 1);
            if (s) {
                memcpy(s, f->payload.p, f->payload.len);
                s[f->payload.len] = 0;
            }
            pending_complete(c, p, s ? 0 : -ENOMEM, s);
        }
        break;
    default:
        /* Frames a broker never sends to a client (HELLO, JOIN, ...). */
        connection_lost(c, -EPROTO);
        break;
    }
}

/* Read what the socket has and dispatch every complete frame. */
static void
read_input(struct mc_client *c)
{
    uint64_t gen = c->gen;
again:
    if (c->in_cap - c->in_len < 1024 && c->in_cap < (size_t)c->max_frame) {
        size_t cap = c->in_cap ? c->in_cap * 2 : MC_IN_INITIAL;
        uint8_t *p = realloc(c->in, cap);
        if (!p) {
            connection_lost(c, -ENOMEM);
            return;
        }
        c->in = p;
        c->in_cap = cap;
    }
    ssize_t n = sock_recv(c, c->in + c->in_len, c->in_cap - c->in_len);
    if (n < 0) {
        if (n == -EPROTO && c->tls_s && c->state != ST_UP)
            /* With TLS 1.3 the broker refuses our certificate after our
             * side of the handshake completed: say so, not "protocol error". */
            n = mctls_alert_error(c->tls_s, c->last_err, sizeof(c->last_err));
        if (n != -EAGAIN && n != -EINTR)
            connection_lost(c, (int)n);
        return;
    }
    if (n == 0) {
        connection_lost(c, -ECONNRESET);
        return;
    }
    c->in_len += (size_t)n;
    c->last_rx_usec = now_usec();
    c->ping_out = false;
    size_t off = 0;
    while (c->gen == gen && c->fd >= 0) {
        struct frame f;
        ssize_t r = frame_decode(c->in + off, c->in_len - off, c->max_frame, &f);
        if (r < 0) {
            connection_lost(c, -EPROTO);
            return;
        }
        if (r == 0)
            break;
        handle_frame(c, &f);
        off += (size_t)r;
    }
    if (c->gen != gen || c->fd < 0)
        return;
    if (off > 0) {
        memmove(c->in, c->in + off, c->in_len - off);
        c->in_len -= off;
    }
    /* After a burst of large frames, do not keep megabytes per idle session. */
    size_t need;
    if (c->in_len == 0 && c->in_cap > MC_BUF_KEEP) {
        free(c->in);
        c->in = NULL;
        c->in_cap = 0;
    } else if (frame_peek(c->in, c->in_len, c->max_frame, &need) == 1 && need > c->in_cap) {
        /* A frame larger than the buffer: grow to its size (bounded by max_frame). */
        uint8_t *p = realloc(c->in, need);
        if (!p) {
            connection_lost(c, -ENOMEM);
            return;
        }
        c->in = p;
        c->in_cap = need;
    }
    /* A TLS record larger than the free space leaves the rest inside GnuTLS,
     * also when the buffer was just given back (the loop makes a new one). */
    if (c->tls_s && (c->in_len < c->in_cap || c->in_cap == 0) &&
        gnutls_record_check_pending(c->tls_s) > 0)
        goto again;
}

/* Client-side deadlines of async requests (the broker normally answers first). */
static uint64_t
async_timers(struct mc_client *c, uint64_t now)
{
    uint64_t next = UINT64_MAX;
    struct pending *n;
    for (struct pending *p = c->pending; p && c->nasync; p = n) {
        n = p->next;
        if (!p->async || p->done)
            continue;
        if (now >= p->deadline_usec)
            pending_complete(c, p, -ETIMEDOUT, NULL);
        else if (p->deadline_usec < next)
            next = p->deadline_usec;
    }
    return next;
}

static uint64_t conn_timers(struct mc_client *c, uint64_t now);

/* Keepalive, handshake timeout, reconnect, async deadlines. Returns the next deadline. */
static uint64_t
run_timers(struct mc_client *c, uint64_t now)
{
    uint64_t next = conn_timers(c, now);
    if (c->nasync) {
        uint64_t a = async_timers(c, now);
        if (a < next)
            next = a;
    }
    return next;
}

static uint64_t
conn_timers(struct mc_client *c, uint64_t now)
{
    switch (c->state) {
    case ST_DOWN:
        if (now >= c->next_attempt_usec) {
            start_connect(c);
            return conn_timers(c, now);
        }
        return c->next_attempt_usec;
    case ST_CONNECTING:
    case ST_TLS:
    case ST_HANDSHAKE:
        if (now >= c->hs_deadline_usec) {
            connection_lost(c, -ETIMEDOUT);
            return c->state == ST_DOWN ? c->next_attempt_usec : UINT64_MAX;
        }
        return c->hs_deadline_usec;
    case ST_UP: {
        uint64_t ka = (uint64_t)c->keepalive_ms * 1000u;
        if (now - c->last_rx_usec >= 2 * ka) {
            connection_lost(c, -ETIMEDOUT);
            return c->state == ST_DOWN ? c->next_attempt_usec : UINT64_MAX;
        }
        if (!c->ping_out && (now - c->last_rx_usec >= ka || now - c->last_tx_usec >= ka)) {
            struct frame ping = { .type = FRAME_PING };
            c->ping_out = true;
            send_frame(c, &ping);
        }
        uint64_t next = c->last_rx_usec + 2 * ka;
        if (!c->ping_out) {
            uint64_t t =
                (c->last_rx_usec < c->last_tx_usec ? c->last_rx_usec : c->last_tx_usec) + ka;
            if (t < next)
                next = t;
        }
        return next;
    }
    default:
        return UINT64_MAX;
    }
}

/*
 * As the reader: wait for I/O up to until_usec (lock released meanwhile),
 * then handle what is ready. Called and returns with c->mu held and
 * c->reading set by the caller.
 */
static int
do_io(struct mc_client *c, uint64_t until_usec)
{
    uint64_t now = now_usec();
    uint64_t next = run_timers(c, now);
    if (next < until_usec)
        until_usec = next;
    int timeout_ms = 0;
    if (until_usec == UINT64_MAX)
        timeout_ms = -1;
    else if (until_usec > now)
        timeout_ms =
            (int)((until_usec - now + 999) / 1000 > INT_MAX ? INT_MAX
                                                            : (until_usec - now + 999) / 1000);
    uint64_t gen = c->gen;
    struct epoll_event evs[2];
    pthread_mutex_unlock(&c->mu);
    int n = epoll_wait(c->epfd, evs, 2, timeout_ms);
    int err = n < 0 ? -errno : 0;
    pthread_mutex_lock(&c->mu);
    for (int i = 0; i < n; i++) {
        if (evs[i].data.u32 == TAG_EVFD) {
            drain_evfd(c);
            continue;
        }
        /* The socket may have been replaced while the lock was released. */
        if (c->gen != gen || c->fd < 0)
            continue;
        if (c->state == ST_CONNECTING) {
            connect_done(c);
            continue;
        }
        if (c->state == ST_TLS) {
            tls_step(c);
            continue;
        }
        if ((evs[i].events & EPOLLOUT) && c->ep_out)
            flush_out(c);
        if (c->fd >= 0 && c->gen == gen && (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
            read_input(c);
    }
    run_timers(c, now_usec());
    if (c->event_fn && c->evq_head && !c->in_process)
        signal_evfd(c);
    return err == -EINTR ? -EINTR : 0;
}

typedef bool (*pred_fn)(struct mc_client *c, void *arg);

/*
 * Block (c->mu held) until pred holds or deadline passes: as the reader if
 * nobody else is, otherwise on the condition variable. 0, -ETIMEDOUT, or
 * with intr, -EINTR when a signal interrupted the reader's wait.
 */
static int
wait_until(struct mc_client *c, uint64_t deadline, pred_fn pred, void *arg, bool intr)
{
    for (;;) {
        if (pred(c, arg))
            return 0;
        uint64_t now = now_usec();
        if (now >= deadline)
            return -ETIMEDOUT;
        if (!c->reading) {
            c->reading = true;
            int r = do_io(c, deadline);
            c->reading = false;
            pthread_cond_broadcast(&c->cv);
            if (r == -EINTR && intr && !pred(c, arg))
                return -EINTR;
        } else {
            /* Wake up at the deadline, and now and then to take over reading. */
            uint64_t until = deadline;
            if (until - now > 200000)
                until = now + 200000;
            struct timespec ts;
            clock_gettime(CLOCK_MONOTONIC, &ts);
            uint64_t ns = (uint64_t)ts.tv_nsec + (until - now) * 1000u;
            ts.tv_sec += (time_t)(ns / 1000000000u);
            ts.tv_nsec = (long)(ns % 1000000000u);
            pthread_cond_timedwait(&c->cv, &c->mu, &ts);
        }
    }
}

static bool
pred_pending(struct mc_client *c, void *arg)
{
    (void)c;
    return ((struct pending *)arg)->done;
}

static bool
pred_connected(struct mc_client *c, void *arg)
{
    (void)arg;
    return c->state == ST_UP || c->state == ST_IDLE;
}

static bool
pred_event(struct mc_client *c, void *arg)
{
    (void)arg;
    return c->evq_head != NULL || c->state == ST_IDLE;
}

static bool
pred_out_room(struct mc_client *c, void *arg)
{
    size_t need = *(size_t *)arg;
    return c->state != ST_UP || c->out_len - c->out_off + need <= MC_OUT_MAX + c->max_frame;
}

static bool
pred_flushed(struct mc_client *c, void *arg)
{
    return c->state != ST_UP || c->gen != *(uint64_t *)arg || c->out_off == c->out_len;
}

/*
 * Wait until everything queued so far is handed to the kernel, so a
 * blocking caller's message does not sit in our buffer after it returns.
 */
static int
wait_flushed(struct mc_client *c, uint64_t deadline)
{
    uint64_t gen = c->gen;
    if (wait_until(c, deadline, pred_flushed, &gen, false) < 0)
        return -ETIMEDOUT;
    return c->state == ST_UP && c->gen == gen ? 0 : -ECONNRESET;
}

/* send_frame() that waits for room in the output buffer until deadline. */
static int
send_frame_wait(struct mc_client *c, const struct frame *f, uint64_t deadline)
{
    for (;;) {
        int r = send_frame(c, f);
        if (r != -ENOBUFS)
            return r;
        size_t need = frame_size(f);
        if (wait_until(c, deadline, pred_out_room, &need, false) < 0)
            return -ETIMEDOUT;
    }
}

/* Send f with a fresh id and wait for the answer of the given kind. */
static int
call(struct mc_client *c, struct frame *f, enum pkind kind, uint32_t timeout_ms, void **ret)
{
    if (c->state != ST_UP)
        return -ENOTCONN;
    uint64_t deadline = deadline_after(timeout_ms);
    struct pending p;
    f->id = alloc_id(c);
    pending_add(c, &p, f->id, kind);
    int r = send_frame_wait(c, f, deadline);
    if (r >= 0)
        r = wait_until(c, deadline, pred_pending, &p, false);
    pending_remove(c, &p);
    if (r < 0) {
        /* A late answer finds no pending call and is dropped. */
        return r;
    }
    if (p.err < 0)
        return p.err;
    if (ret)
        *ret = p.result;
    return 0;
}

/* ---- Public API --------------------------------------------------------- */

struct mc_client *
mc_client_new(const char *server)
{
    struct mc_client *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    c->fd = -1;
    c->evfd = -1;
    c->server = strdup(server ? server : "");
    c->epfd = epoll_create1(EPOLL_CLOEXEC);
    c->evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    struct epoll_event ev = { .events = EPOLLIN, .data.u32 = TAG_EVFD };
    if (!c->server || c->epfd < 0 || c->evfd < 0 ||
        epoll_ctl(c->epfd, EPOLL_CTL_ADD, c->evfd, &ev) < 0) {
        if (c->epfd >= 0)
            close(c->epfd);
        if (c->evfd >= 0)
            close(c->evfd);
        free(c->server);
        free(c);
        return NULL;
    }
    pthread_mutex_init(&c->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    /* Timed waits follow the monotonic clock, like every deadline here. */
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&c->cv, &ca);
    pthread_condattr_destroy(&ca);
    c->backoff_min_ms = 100;
    c->backoff_max_ms = 5000;
    c->op_timeout_ms = 5000;
    c->max_frame = FRAME_MAX_SIZE;
    c->keepalive_ms = MC_DEFAULT_KA_MS;
    return c;
}

struct mc_client *
mc_client_free(struct mc_client *c)
{
    if (!c)
        return NULL;
    close_socket(c);
    close(c->epfd);
    close(c->evfd);
    struct evnode *n;
    while ((n = pop_event(c)))
        free(n);
    /* Async requests never completed: their callbacks are not run. */
    for (struct pending *p = c->pending, *pn; p; p = pn) {
        pn = p->next;
        if (p->async)
            free(p);
    }
    for (struct pending *p = c->done_head, *pn; p; p = pn) {
        pn = p->next;
        free(p->result);
        free(p);
    }
    for (size_t i = 0; i < c->nrooms; i++)
        free(c->rooms[i]);
    free(c->rooms);
    free(c->in);
    free(c->out);
    free(c->server);
    free(c->name_cfg);
    free(c->token);
    if (c->tls_creds)
        gnutls_certificate_free_credentials(c->tls_creds);
    frame_buf_free(&c->attrs);
    pthread_cond_destroy(&c->cv);
    pthread_mutex_destroy(&c->mu);
    free(c);
    return NULL;
}

static int
set_string(struct mc_client *c, char **field, const char *value)
{
    char *s = NULL;
    if (value && *value && !(s = strdup(value)))
        return -ENOMEM;
    pthread_mutex_lock(&c->mu);
    free(*field);
    *field = s;
    pthread_mutex_unlock(&c->mu);
    return 0;
}

int
mc_set_name(struct mc_client *c, const char *name)
{
    if (name && *name && !valid_name(name))
        return -EINVAL;
    return set_string(c, &c->name_cfg, name);
}

int
mc_set_token(struct mc_client *c, const char *token)
{
    if (token && strlen(token) > FRAME_STR_MAX)
        return -EINVAL;
    return set_string(c, &c->token, token);
}

int
mc_set_attr(struct mc_client *c, const char *key, const char *value)
{
    if (!key || !value || strlen(key) > FRAME_ATTR_KEY_MAX || strlen(value) > FRAME_STR_MAX ||
        !valid_name(key))
        return -EINVAL;
    pthread_mutex_lock(&c->mu);
    int r = -EINVAL;
    if (c->nattrs < FRAME_ATTRS_MAX &&
        (r = frame_buf_put_attr(&c->attrs, key, value, strlen(value))) == 0)
        c->nattrs++;
    pthread_mutex_unlock(&c->mu);
    return r;
}

int
mc_set_tls(struct mc_client *c, const char *ca_file, const char *cert_file, const char *key_file)
{
    gnutls_certificate_credentials_t cr;
    const char *what = NULL;
    int r = mctls_creds_load(ca_file, true, cert_file, key_file, &cr, &what);
    if (r < 0)
        return r;
    pthread_mutex_lock(&c->mu);
    if (c->state != ST_IDLE) {
        /* The connection's TLS session uses the credentials in place. */
        pthread_mutex_unlock(&c->mu);
        gnutls_certificate_free_credentials(cr);
        return -EBUSY;
    }
    if (c->tls_creds)
        gnutls_certificate_free_credentials(c->tls_creds);
    c->tls_creds = cr;
    pthread_mutex_unlock(&c->mu);
    return 0;
}

void
mc_set_reconnect(struct mc_client *c, uint32_t min_ms, uint32_t max_ms)
{
    pthread_mutex_lock(&c->mu);
    c->backoff_min_ms = min_ms;
    c->backoff_max_ms = max_ms < min_ms ? min_ms : max_ms;
    pthread_mutex_unlock(&c->mu);
}

void
mc_set_timeout(struct mc_client *c, uint32_t timeout_ms)
{
    pthread_mutex_lock(&c->mu);
    c->op_timeout_ms = timeout_ms ? timeout_ms : 1;
    pthread_mutex_unlock(&c->mu);
}

void
mc_set_event_fn(struct mc_client *c, mc_event_fn fn, void *userdata)
{
    pthread_mutex_lock(&c->mu);
    c->event_fn = fn;
    c->event_ud = userdata;
    if (fn && c->evq_head)
        signal_evfd(c);
    pthread_mutex_unlock(&c->mu);
}

int
mc_connect(struct mc_client *c, int timeout_ms)
{
    pthread_mutex_lock(&c->mu);
    int r = 0;
    if (c->state == ST_UP)
        goto out;
    if (c->state == ST_IDLE) {
        const char *server = c->server;
        c->tls = strncmp(server, MCTLS_SCHEME, MCTLS_SCHEME_LEN) == 0;
        if (c->tls)
            server += MCTLS_SCHEME_LEN;
        r = parse_server(server, &c->addr, &c->addrlen, c->tls_host);
        if (r < 0)
            goto out;
        if (!c->tls && c->tls_creds) {
            /* Asked to verify the broker: never fall back to plaintext. */
            snprintf(c->last_err, sizeof(c->last_err),
                     "TLS settings given, but '%.200s' is not a tls:// server", c->server);
            r = -EINVAL;
            goto out;
        }
        if (c->tls && !c->tls_creds) {
            const char *what;
            r = mctls_creds_load(NULL, true, NULL, NULL, &c->tls_creds, &what);
            if (r < 0)
                goto out;
        }
        c->connect_err = 0;
        c->backoff_ms = 0;
        start_connect(c);
    }
    r = wait_until(c, deadline_after(timeout_ms), pred_connected, NULL, false);
    if (r < 0) {
        if (!c->ever_up) {
            close_socket(c);
            c->state = ST_IDLE;
        }
    } else if (c->state != ST_UP) {
        r = c->connect_err ? c->connect_err : -ECONNREFUSED;
    }
out:
    pthread_mutex_unlock(&c->mu);
    return r;
}

int
mc_get_name(struct mc_client *c, char *buf, size_t cap)
{
    pthread_mutex_lock(&c->mu);
    int r;
    size_t n = strlen(c->name);
    if (!c->ever_up)
        r = -ENOTCONN;
    else if (n + 1 > cap)
        r = -ENOBUFS;
    else {
        memcpy(buf, c->name, n + 1);
        r = (int)n;
    }
    pthread_mutex_unlock(&c->mu);
    return r;
}

int
mc_last_error(struct mc_client *c, char *buf, size_t cap)
{
    pthread_mutex_lock(&c->mu);
    if (cap > 0) {
        size_t n = strlen(c->last_err);
        if (n >= cap)
            n = cap - 1;
        memcpy(buf, c->last_err, n);
        buf[n] = 0;
    }
    int code = c->last_code;
    pthread_mutex_unlock(&c->mu);
    return code;
}

static int
rooms_add(struct mc_client *c, const char *room)
{
    for (size_t i = 0; i < c->nrooms; i++)
        if (strcmp(c->rooms[i], room) == 0)
            return 0;
    if (c->nrooms == c->rooms_cap) {
        size_t cap = c->rooms_cap ? c->rooms_cap * 2 : 8;
        char **p = realloc(c->rooms, cap * sizeof(*p));
        if (!p)
            return -ENOMEM;
        c->rooms = p;
        c->rooms_cap = cap;
    }
    if (!(c->rooms[c->nrooms] = strdup(room)))
        return -ENOMEM;
    c->nrooms++;
    return 0;
}

static void
rooms_remove(struct mc_client *c, const char *room)
{
    for (size_t i = 0; i < c->nrooms; i++) {
        if (strcmp(c->rooms[i], room) == 0) {
            free(c->rooms[i]);
            c->rooms[i] = c->rooms[--c->nrooms];
            return;
        }
    }
}

int
mc_join(struct mc_client *c, const char *room)
{
    if (!valid_name(room))
        return -EINVAL;
    struct frame f = { .type = FRAME_JOIN, .room = fb_str(room) };
    pthread_mutex_lock(&c->mu);
    int r = call(c, &f, PK_ACK, c->op_timeout_ms, NULL);
    if (r == 0)
        r = rooms_add(c, room);
    pthread_mutex_unlock(&c->mu);
    return r;
}

int
mc_leave(struct mc_client *c, const char *room)
{
    if (!valid_name(room))
        return -EINVAL;
    struct frame f = { .type = FRAME_LEAVE, .room = fb_str(room) };
    pthread_mutex_lock(&c->mu);
    int r = call(c, &f, PK_ACK, c->op_timeout_ms, NULL);
    if (r == 0 || r == -ENOENT)
        rooms_remove(c, room);
    pthread_mutex_unlock(&c->mu);
    return r;
}

static int
send_payload(struct mc_client *c, struct frame *f, const void *data, size_t len)
{
    if (len > FRAME_MAX_SIZE)
        return -EMSGSIZE;
    f->payload.p = data;
    f->payload.len = len;
    pthread_mutex_lock(&c->mu);
    uint64_t deadline = deadline_after(c->op_timeout_ms);
    int r = c->state == ST_UP ? send_frame_wait(c, f, deadline) : -ENOTCONN;
    if (r >= 0 && c->out_off != c->out_len)
        r = wait_flushed(c, deadline);
    pthread_mutex_unlock(&c->mu);
    return r < 0 ? r : 0;
}

int
mc_send(struct mc_client *c, const char *room, const void *data, size_t len)
{
    if (!valid_name(room))
        return -EINVAL;
    struct frame f = { .type = FRAME_MSG, .room = fb_str(room) };
    return send_payload(c, &f, data, len);
}

int
mc_direct(struct mc_client *c, const char *to, const void *data, size_t len)
{
    if (!valid_name(to))
        return -EINVAL;
    struct frame f = { .type = FRAME_DIRECT, .name = fb_str(to) };
    return send_payload(c, &f, data, len);
}

int
mc_reply(struct mc_client *c, const struct mc_event *ev, const void *data, size_t len)
{
    if (!ev || ev->type != MC_EVENT_REQUEST || ev->id == 0)
        return -EINVAL;
    const struct evnode *n =
        (const struct evnode *)((const char *)ev - offsetof(struct evnode, ev));
    struct frame f = { .type = FRAME_REPLY, .id = ev->id };
    if (len > FRAME_MAX_SIZE)
        return -EMSGSIZE;
    f.payload.p = data;
    f.payload.len = len;
    pthread_mutex_lock(&c->mu);
    int r;
    if (n->gen != c->gen || c->state != ST_UP)
        r = -ECONNRESET;
    else {
        uint64_t deadline = deadline_after(c->op_timeout_ms);
        r = send_frame_wait(c, &f, deadline);
        if (r >= 0 && c->out_off != c->out_len)
            r = wait_flushed(c, deadline);
    }
    pthread_mutex_unlock(&c->mu);
    return r < 0 ? r : 0;
}

int
mc_flush(struct mc_client *c, int timeout_ms)
{
    struct frame f = { .type = FRAME_PING };
    pthread_mutex_lock(&c->mu);
    int r = call(c, &f, PK_ACK, timeout_ms < 0 ? UINT32_MAX : (uint32_t)timeout_ms, NULL);
    pthread_mutex_unlock(&c->mu);
    return r;
}

int
mc_recv(struct mc_client *c, int timeout_ms, struct mc_event **ret_ev)
{
    pthread_mutex_lock(&c->mu);
    int r = 0;
    if (!c->evq_head && c->state == ST_IDLE) {
        r = -ENOTCONN;
    } else if (timeout_ms == 0 && !c->evq_head && !c->reading) {
        /* Poll: one non-blocking round of I/O. */
        c->reading = true;
        do_io(c, 0);
        c->reading = false;
        pthread_cond_broadcast(&c->cv);
    } else {
        r = wait_until(c, deadline_after(timeout_ms), pred_event, NULL, true);
    }
    if (r == 0) {
        struct evnode *n = pop_event(c);
        if (n)
            *ret_ev = &n->ev;
        else
            r = c->state == ST_IDLE ? -ENOTCONN : -ETIMEDOUT;
    }
    pthread_mutex_unlock(&c->mu);
    return r;
}

struct mc_event *
mc_event_free(struct mc_event *ev)
{
    if (ev)
        free((char *)ev - offsetof(struct evnode, ev));
    return NULL;
}

static int
request(struct mc_client *c, uint8_t mode, const char *target, const void *data, size_t len,
        uint32_t timeout_ms, struct mc_result **ret_result)
{
    if (!valid_name(target) || timeout_ms > FRAME_TIMEOUT_MAX_MS || !ret_result)
        return -EINVAL;
    if (len > FRAME_MAX_SIZE)
        return -EMSGSIZE;
    struct frame f = { .type = FRAME_REQUEST, .mode = mode, .timeout_ms = timeout_ms };
    f.name = fb_str(target);
    f.payload.p = data;
    f.payload.len = len;
    uint32_t wait_ms = (timeout_ms ? timeout_ms : 5000) + MC_REQUEST_SLACK_MS;
    void *res = NULL;
    pthread_mutex_lock(&c->mu);
    int r = call(c, &f, mode == FRAME_MODE_ALL ? PK_GATHER : PK_ONE, wait_ms, &res);
    pthread_mutex_unlock(&c->mu);
    if (r == 0)
        *ret_result = res;
    return r;
}

int
mc_request(struct mc_client *c, const char *room, const void *data, size_t len, uint32_t timeout_ms,
           struct mc_result **ret_result)
{
    return request(c, FRAME_MODE_ALL, room, data, len, timeout_ms, ret_result);
}

int
mc_request_any(struct mc_client *c, const char *room, const void *data, size_t len,
               uint32_t timeout_ms, struct mc_result **ret_result)
{
    return request(c, FRAME_MODE_ANY, room, data, len, timeout_ms, ret_result);
}

int
mc_request_session(struct mc_client *c, const char *name, const void *data, size_t len,
                   uint32_t timeout_ms, struct mc_result **ret_result)
{
    return request(c, FRAME_MODE_SESSION, name, data, len, timeout_ms, ret_result);
}

int
mc_request_async(struct mc_client *c, enum mc_mode mode, const char *target, const void *data,
                 size_t len, uint32_t timeout_ms, mc_result_fn fn, void *userdata)
{
    if (!valid_name(target) || timeout_ms > FRAME_TIMEOUT_MAX_MS || !fn ||
        (mode != MC_MODE_ALL && mode != MC_MODE_ANY && mode != MC_MODE_SESSION))
        return -EINVAL;
    if (len > FRAME_MAX_SIZE)
        return -EMSGSIZE;
    struct pending *p = calloc(1, sizeof(*p));
    if (!p)
        return -ENOMEM;
    struct frame f = { .type = FRAME_REQUEST, .mode = (uint8_t)mode, .timeout_ms = timeout_ms };
    f.name = fb_str(target);
    f.payload.p = data;
    f.payload.len = len;
    pthread_mutex_lock(&c->mu);
    int r = -ENOTCONN;
    if (c->state == ST_UP) {
        f.id = alloc_id(c);
        r = send_frame(c, &f);
    }
    if (r < 0) {
        pthread_mutex_unlock(&c->mu);
        free(p);
        return r;
    }
    p->id = f.id;
    p->kind = mode == MC_MODE_ALL ? PK_GATHER : PK_ONE;
    p->async = true;
    p->fn = fn;
    p->userdata = userdata;
    p->deadline_usec =
        now_usec() + (uint64_t)((timeout_ms ? timeout_ms : 5000) + MC_REQUEST_SLACK_MS) * 1000u;
    p->next = c->pending;
    c->pending = p;
    c->nasync++;
    pthread_mutex_unlock(&c->mu);
    return 0;
}

struct mc_result *
mc_result_free(struct mc_result *r)
{
    free(r);
    return NULL;
}

const char *
mc_reason_name(int reason)
{
    switch (reason) {
    case MC_REASON_TIMEOUT:
        return "timeout";
    case MC_REASON_GONE:
        return "gone";
    case MC_REASON_OVERFLOW:
        return "overflow";
    case MC_REASON_TOO_BIG:
        return "too-big";
    case MC_REASON_PEER_DOWN:
        return "peer-down";
    default:
        return "unknown";
    }
}

int
mc_who(struct mc_client *c, const char *room, struct mc_who **ret_who)
{
    if (!valid_name(room) || !ret_who)
        return -EINVAL;
    struct frame f = { .type = FRAME_WHO, .room = fb_str(room) };
    void *res = NULL;
    pthread_mutex_lock(&c->mu);
    int r = call(c, &f, PK_WHO, c->op_timeout_ms, &res);
    pthread_mutex_unlock(&c->mu);
    if (r == 0)
        *ret_who = res;
    return r;
}

struct mc_who *
mc_who_free(struct mc_who *w)
{
    free(w);
    return NULL;
}

int
mc_stats(struct mc_client *c, char **ret_json)
{
    if (!ret_json)
        return -EINVAL;
    struct frame f = { .type = FRAME_STATS };
    void *res = NULL;
    pthread_mutex_lock(&c->mu);
    int r = call(c, &f, PK_STATS, c->op_timeout_ms, &res);
    pthread_mutex_unlock(&c->mu);
    if (r == 0)
        *ret_json = res;
    return r;
}

int
mc_fd(struct mc_client *c)
{
    return c->epfd;
}

int
mc_process(struct mc_client *c)
{
    pthread_mutex_lock(&c->mu);
    drain_evfd(c);
    if (!c->reading) {
        c->reading = true;
        c->in_process = true;
        if (c->state == ST_UP) {
            /*
             * The loop saw the descriptor readable: read the socket directly
             * (an empty read costs one EAGAIN) instead of asking epoll first.
             */
            uint64_t gen = c->gen;
            if (c->ep_out)
                flush_out(c);
            if (c->state == ST_UP && c->gen == gen)
                read_input(c);
            run_timers(c, now_usec());
        } else {
            do_io(c, 0);
        }
        c->in_process = false;
        c->reading = false;
        pthread_cond_broadcast(&c->cv);
    }
    /* Completed async requests first: they were asked for earlier. */
    while (c->done_head) {
        struct pending *p = c->done_head;
        c->done_head = p->next;
        if (!c->done_head)
            c->done_tail = NULL;
        pthread_mutex_unlock(&c->mu);
        p->fn(c, p->err, p->result, p->userdata);
        free(p);
        pthread_mutex_lock(&c->mu);
    }
    /* Dispatch what is queued now; later arrivals wait for the next call. */
    size_t budget = c->evq_len;
    while (c->event_fn && budget-- > 0) {
        struct evnode *n = pop_event(c);
        if (!n)
            break;
        mc_event_fn fn = c->event_fn;
        void *ud = c->event_ud;
        pthread_mutex_unlock(&c->mu);
        fn(c, &n->ev, ud);
        free(n);
        pthread_mutex_lock(&c->mu);
    }
    if (c->event_fn && c->evq_head)
        signal_evfd(c);
    int r = c->state == ST_IDLE ? -ENOTCONN : 0;
    pthread_mutex_unlock(&c->mu);
    return r;
}

int
mc_timeout_ms(struct mc_client *c)
{
    pthread_mutex_lock(&c->mu);
    uint64_t next = UINT64_MAX, now = now_usec();
    switch (c->state) {
    case ST_DOWN:
        next = c->next_attempt_usec;
        break;
    case ST_CONNECTING:
    case ST_TLS:
    case ST_HANDSHAKE:
        next = c->hs_deadline_usec;
        break;
    case ST_UP: {
        uint64_t ka = (uint64_t)c->keepalive_ms * 1000u;
        uint64_t last = c->last_rx_usec < c->last_tx_usec ? c->last_rx_usec : c->last_tx_usec;
        next = c->ping_out ? c->last_rx_usec + 2 * ka : last + ka;
        break;
    }
    default:
        break;
    }
    for (struct pending *p = c->pending; p && c->nasync; p = p->next)
        if (p->async && p->deadline_usec < next)
            next = p->deadline_usec;
    if (c->done_head)
        next = now;
    pthread_mutex_unlock(&c->mu);
    if (next == UINT64_MAX)
        return -1;
    if (next <= now)
        return 0;
    uint64_t ms = (next - now + 999) / 1000;
    return ms > INT_MAX ? INT_MAX : (int)ms;
}

void
mc_get_stats(struct mc_client *c, struct mc_client_stats *ret)
{
    pthread_mutex_lock(&c->mu);
    *ret = c->stats;
    pthread_mutex_unlock(&c->mu);
}
