/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libmiddlecon: the client library of the middlecon bus.
 *
 * A struct mc_client is one session with a broker: it has a name and
 * attributes, joins rooms, sends messages to rooms and to named sessions,
 * answers requests, and asks a room a question and gets back every member's
 * answer at once (a gather). The wire protocol is docs/middlecon-protocol.md.
 *
 * Two ways to use it, freely mixed:
 *
 *   Blocking, for simple programs and worker threads:
 *
 *       struct mc_client *c = mc_client_new("127.0.0.1:4222");
 *       mc_set_name(c, "worker-1");
 *       if (mc_connect(c, 5000) < 0) ...
 *       mc_join(c, "jobs");
 *       struct mc_event *ev;
 *       while (mc_recv(c, -1, &ev) >= 0) {
 *           if (ev->type == MC_EVENT_REQUEST)
 *               mc_reply(c, ev, "done", 4);
 *           mc_event_free(ev);
 *       }
 *
 *       struct mc_result *r;
 *       mc_request(c, "jobs", "status?", 7, 1000, &r);  -- every member's reply
 *       for (size_t i = 0; i < r->nreplies; i++) ... r->replies[i].from ...
 *       for (size_t i = 0; i < r->nmissing; i++) ... r->missing[i].name ...
 *       mc_result_free(r);
 *
 *   Event loop: register mc_fd() for readability in your loop (epoll, libuv
 *   uv_poll, ...), call mc_process() when it is readable and when
 *   mc_timeout_ms() expires; incoming messages, requests and presence events
 *   are handed to the callback set with mc_set_event_fn(). mc_fd() stays the
 *   same descriptor across reconnects.
 *
 * Threads: every function may be called from any thread at any time (one
 * mutex per client); several threads may block in calls on one client at
 * once (one of them does the socket I/O for all, the others wait). No
 * thread is started by the library. The event callback runs only inside
 * mc_process(), on the thread that called it, without the client lock held:
 * it may call any function here except mc_client_free() and mc_process().
 *
 * Reconnection: after mc_connect() succeeded, a lost connection (broker
 * restart, network error, keepalive expiry) is re-established with
 * exponential backoff by whichever call is driving the client (mc_recv,
 * mc_process, any blocking call); the session's name and attributes are
 * presented again and every room it had joined is joined again. Requests
 * and commands in flight when the connection drops fail with -ECONNRESET;
 * unsent messages are lost. While disconnected, calls fail with -ENOTCONN.
 * MC_EVENT_DISCONNECTED / MC_EVENT_CONNECTED events report the transitions.
 *
 * Errors: functions return >= 0 on success and a negative errno on failure;
 * the library never prints. Errors the broker reports map to errno values:
 *   -EACCES        bad token (AUTH)
 *   -EADDRINUSE    the session name is taken (NAME_TAKEN)
 *   -ENOENT        no such session (NO_SESSION), or LEAVE of a room not joined
 *   -ENXIO         request to any member of an empty room (NO_MEMBERS)
 *   -ETIMEDOUT     no answer in time
 *   -ECONNRESET    the connection dropped while the call was waiting
 *   -ENOTCONN      not connected (before mc_connect, or while reconnecting)
 *   -EMSGSIZE      the frame would exceed the negotiated maximum frame size
 *   -ENOBUFS       the output buffer is full (mc_process users; blocking
 *                  calls wait for room instead)
 *   -ENOSPC        a broker limit was reached (LIMIT)
 *   -EINVAL        bad argument (room/session names: 1..255 printable ASCII
 *                  bytes without spaces)
 *   -EPROTO        the broker sent something this library does not understand
 * mc_last_error() returns the broker's message for the last ERROR frame.
 */
#ifndef KUMO_MIDDLECON_H
#define KUMO_MIDDLECON_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* One session with a broker. Opaque. */
struct mc_client;

/* A session attribute ("host", "pid", "role", ...). */
struct mc_attr {
    const char *key;
    const char *value;
};

enum mc_event_type {
    MC_EVENT_MESSAGE = 1,  /* a message to a room: room, from, data */
    MC_EVENT_DIRECT,       /* a direct message to this session: from, data */
    MC_EVENT_REQUEST,      /* a request to answer with mc_reply(): room, from, data */
    MC_EVENT_JOIN,         /* from joined room; attrs are its attributes */
    MC_EVENT_LEAVE,        /* from left room (or disconnected) */
    MC_EVENT_CONNECTED,    /* reconnected (rooms re-joined); from = our session name */
    MC_EVENT_DISCONNECTED, /* the connection dropped; reconnecting */
};

/* Request modes (what a REQUEST event was addressed to). */
enum mc_mode {
    MC_MODE_ALL = 0,     /* a gather to a room: every member is asked */
    MC_MODE_ANY = 1,     /* a room, one member picked by the broker */
    MC_MODE_SESSION = 2, /* this session, by name */
};

/*
 * Something that arrived. Plain data in one allocation owned by the
 * receiver: free it with mc_event_free(). Strings are NUL-terminated; data
 * is followed by a NUL byte that len does not count (so text payloads can
 * be printed as strings), and may contain NULs itself.
 */
struct mc_event {
    enum mc_event_type type;
    const char *room; /* MESSAGE, JOIN, LEAVE; REQUEST: the room, or our name for MC_MODE_SESSION */
    const char *from; /* sending session (broker-set, cannot be forged); "" if unknown */
    const void *data; /* payload of MESSAGE, DIRECT, REQUEST; NULL otherwise */
    size_t len;
    enum mc_mode mode; /* REQUEST */
    uint32_t id;       /* REQUEST: the broker's request id (mc_reply uses it) */
    size_t nattrs;     /* JOIN */
    const struct mc_attr *attrs;
};

/* Why a member is missing from a result (values of the protocol's codes). */
enum mc_reason {
    MC_REASON_TIMEOUT = 7,   /* did not answer within the timeout */
    MC_REASON_GONE = 8,      /* disconnected while the request was outstanding */
    MC_REASON_OVERFLOW = 9,  /* its output buffer was full; the request was not delivered */
    MC_REASON_TOO_BIG = 10,  /* its reply would not fit the result frame */
    MC_REASON_PEER_DOWN = 14 /* the broker holding it is unreachable */
};

struct mc_reply {
    const char *from;
    const void *data; /* NUL-terminated beyond len, like mc_event.data */
    size_t len;
};

struct mc_missing {
    const char *name;
    enum mc_reason reason;
};

/*
 * The outcome of a request: every member's reply and every member that did
 * not answer. A gather to an empty room has neither. Plain data in one
 * allocation; mc_result_free() it.
 */
struct mc_result {
    size_t nreplies;
    struct mc_reply *replies;
    size_t nmissing;
    struct mc_missing *missing;
};

struct mc_member {
    const char *name;
    size_t nattrs;
    struct mc_attr *attrs;
};

/* Members of a room (mc_who). Plain data in one allocation; mc_who_free() it. */
struct mc_who {
    size_t count;
    struct mc_member *members;
};

/* ---- Lifetime and configuration ---------------------------------------- */

/*
 * Create an unconnected client for the broker at server: "HOST:PORT",
 * "[V6ADDR]:PORT", "HOST" (port 4222) or "unix:/path"; any of them after
 * "tls://" for a TLS connection (see mc_set_tls()). The address is
 * checked by mc_connect(). Returns NULL only when out of memory.
 * Reconnection is on (100 ms doubling to 5 s) and the command timeout is
 * 5 s until changed.
 */
struct mc_client *mc_client_new(const char *server);

/*
 * Close the connection and free the client, its queued events and its
 * descriptors. No other thread may be using c, and it must have left any
 * event loop that watches mc_fd(). Accepts NULL; returns NULL.
 */
struct mc_client *mc_client_free(struct mc_client *c);

/*
 * Settings used by the next (re)connection; call before mc_connect().
 * Strings are copied. name: NULL or "" lets the broker assign "anon-<n>".
 * Attributes: at most 32, keys at most 64 bytes, values at most 1024.
 * Return 0, -EINVAL (limits) or -ENOMEM.
 */
int mc_set_name(struct mc_client *c, const char *name);
int mc_set_token(struct mc_client *c, const char *token);
int mc_set_attr(struct mc_client *c, const char *key, const char *value);

/*
 * TLS settings for a "tls://" server; call before mc_connect() (-EBUSY
 * after). ca_file: PEM certificates the broker's certificate must chain
 * to (NULL: the system trust store). cert_file and key_file: a client
 * certificate and its key (PEM), for brokers that require one; both or
 * neither. The broker's certificate must also name the host of the server
 * address (a DNS name, or an IP address in its subject alternative names).
 * Files are read now. Returns 0, -ENOENT (a file is missing), -EINVAL (not
 * PEM, no certificate in ca_file, key does not match), -ENOMEM, -EBUSY.
 * TLS settings on a server that is not "tls://" make mc_connect() fail
 * with -EINVAL rather than connect in plaintext.
 * Handshake failures are reported by mc_connect(): -EKEYREJECTED (the
 * certificate did not verify, or the broker refused ours), -EPROTO (not
 * TLS, or a TLS alert), with the reason in mc_last_error().
 */
int mc_set_tls(struct mc_client *c, const char *ca_file, const char *cert_file,
               const char *key_file);

/* Reconnect backoff: first retry after min_ms, doubling up to max_ms. min_ms = 0 disables. */
void mc_set_reconnect(struct mc_client *c, uint32_t min_ms, uint32_t max_ms);

/* How long join/leave/who/stats wait for the broker (default 5000 ms). */
void mc_set_timeout(struct mc_client *c, uint32_t timeout_ms);

/*
 * Callback for incoming events, run by mc_process() (see "Threads" above).
 * ev is borrowed for the duration of the call. With a callback set, events
 * still queue until mc_process() runs; mc_recv() and mc_process() take from
 * the same queue, so use one or the other.
 */
typedef void (*mc_event_fn)(struct mc_client *c, const struct mc_event *ev, void *userdata);
void mc_set_event_fn(struct mc_client *c, mc_event_fn fn, void *userdata);

/* ---- Connection --------------------------------------------------------- */

/*
 * Connect and complete the handshake, blocking up to timeout_ms (< 0: no
 * limit). Returns 0; -EINVAL (bad server address), -ECONNREFUSED and other
 * socket errors, -ETIMEDOUT, or a broker refusal (-EACCES, -EADDRINUSE,
 * -EPROTONOSUPPORT, -ENOSPC). From then on the client reconnects by itself.
 */
int mc_connect(struct mc_client *c, int timeout_ms);

/*
 * Copy the session name the broker confirmed into buf (NUL-terminated).
 * Returns its length, -ENOTCONN before the first connection, -ENOBUFS if
 * cap is too small.
 */
int mc_get_name(struct mc_client *c, char *buf, size_t cap);

/*
 * Copy the message of the last ERROR frame the broker sent ("" if none),
 * or why the last TLS handshake failed ("TLS ..."), into buf, truncated to
 * cap. Returns the code (enum of the protocol) or 0.
 */
int mc_last_error(struct mc_client *c, char *buf, size_t cap);

/* ---- Rooms and messages ------------------------------------------------- */

/*
 * Join / leave a room, blocking until the broker confirms (mc_set_timeout).
 * Joined rooms are re-joined after a reconnect. Joining twice is fine;
 * leaving a room not joined is -ENOENT.
 */
int mc_join(struct mc_client *c, const char *room);
int mc_leave(struct mc_client *c, const char *room);

/*
 * Send data to every other member of room (which need not be joined), or
 * to the session named `to`. Fire and forget: returns once the frame is
 * handed to the kernel, blocking (and doing the client's I/O meanwhile) only
 * while the socket is full, up to the command timeout (-ETIMEDOUT).
 * Messages from one client arrive in the order sent. A receiver
 * whose buffer is full at the broker loses the message (counted by the
 * broker). A direct message to an unknown session is dropped by the broker.
 */
int mc_send(struct mc_client *c, const char *room, const void *data, size_t len);
int mc_direct(struct mc_client *c, const char *to, const void *data, size_t len);

/*
 * Block until the broker has processed every frame this client sent before
 * the call (a PING/PONG round trip): after it, messages sent with mc_send()
 * have been delivered to the receivers' buffers. Returns 0, -ETIMEDOUT,
 * -ECONNRESET, -ENOTCONN.
 */
int mc_flush(struct mc_client *c, int timeout_ms);

/*
 * Wait up to timeout_ms (< 0: forever, 0: poll) for the next event.
 * Returns 0 with *ret_ev (mc_event_free() it), -ETIMEDOUT, -EINTR (a
 * signal arrived while this thread waited on the socket; other calls retry
 * instead), or -ENOTCONN when the client is not connected and will not
 * reconnect. While it waits
 * the call also drives I/O and reconnection.
 */
int mc_recv(struct mc_client *c, int timeout_ms, struct mc_event **ret_ev);

/*
 * Answer a MC_EVENT_REQUEST. A request is answered at most once; the
 * broker discards answers after its timeout. Returns 0, -EINVAL (ev is not
 * a request), -ECONNRESET (the request came on a connection that is gone).
 */
int mc_reply(struct mc_client *c, const struct mc_event *ev, const void *data, size_t len);

/* Release an event. Accepts NULL; returns NULL. */
struct mc_event *mc_event_free(struct mc_event *ev);

/* ---- Requests ----------------------------------------------------------- */

/*
 * Gather: ask every member of room (except this session) at this instant
 * and block until all answered or timeout_ms (1..600000; 0 = broker
 * default 5 s) passed. *ret_result lists the replies and the missing
 * members. Returns 0 (even when members are missing), -ECONNRESET,
 * -ETIMEDOUT (the broker itself did not answer), -EMSGSIZE, -ENOTCONN.
 */
int mc_request(struct mc_client *c, const char *room, const void *data, size_t len,
               uint32_t timeout_ms, struct mc_result **ret_result);

/*
 * Ask one member of room, picked round-robin by the broker, or the session
 * named `name`. *ret_result holds one reply, or one missing entry (timeout,
 * gone, overflow). Returns 0, -ENXIO (the room is empty), -ENOENT (no such
 * session), or the errors of mc_request().
 */
int mc_request_any(struct mc_client *c, const char *room, const void *data, size_t len,
                   uint32_t timeout_ms, struct mc_result **ret_result);
int mc_request_session(struct mc_client *c, const char *name, const void *data, size_t len,
                       uint32_t timeout_ms, struct mc_result **ret_result);

/*
 * Start a request without blocking, for event loops. mode MC_MODE_ALL is
 * mc_request(), MC_MODE_ANY mc_request_any(), MC_MODE_SESSION
 * mc_request_session(). fn runs once, inside a later mc_process() call on
 * that thread: with err = 0 and a result it owns (mc_result_free() it), or
 * with err < 0 (-ECONNRESET, -ETIMEDOUT, -ENXIO, -ENOENT, ...) and NULL.
 * Returns 0 (fn will run, unless the client is freed first), or -EINVAL,
 * -ENOTCONN, -EMSGSIZE, -ENOBUFS (output buffer full), -ENOMEM, in which
 * case fn is never called.
 */
typedef void (*mc_result_fn)(struct mc_client *c, int err, struct mc_result *result,
                             void *userdata);
int mc_request_async(struct mc_client *c, enum mc_mode mode, const char *target, const void *data,
                     size_t len, uint32_t timeout_ms, mc_result_fn fn, void *userdata);

struct mc_result *mc_result_free(struct mc_result *r);

/* Static name of a reason ("timeout", "gone", ...). */
const char *mc_reason_name(int reason);

/* ---- Presence and stats ------------------------------------------------- */

/* List the members of room with their attributes (empty for an unknown room). */
int mc_who(struct mc_client *c, const char *room, struct mc_who **ret_who);
struct mc_who *mc_who_free(struct mc_who *w);

/* The broker's statistics as a JSON document (a new string, free()). */
int mc_stats(struct mc_client *c, char **ret_json);

/* ---- Event loop integration --------------------------------------------- */

/*
 * A descriptor that becomes readable when mc_process() has work: input,
 * output that can be flushed, queued events, a state change. Owned by the
 * client (do not close it); stable for the client's lifetime.
 */
int mc_fd(struct mc_client *c);

/*
 * Do the pending work without blocking: read and write the socket, run
 * keepalive and reconnection timers, then hand queued events to the event
 * callback. Returns 0, or -ENOTCONN when disconnected for good (never
 * connected, or reconnection disabled).
 */
int mc_process(struct mc_client *c);

/*
 * Milliseconds until mc_process() must run again even if mc_fd() stays
 * quiet (keepalive, reconnect backoff), or -1 for no deadline.
 */
int mc_timeout_ms(struct mc_client *c);

/* Counters of this client (no locking needed by the caller). */
struct mc_client_stats {
    uint64_t events_dropped; /* events discarded because the local queue was full */
    uint64_t reconnects;     /* successful reconnections */
};
void mc_get_stats(struct mc_client *c, struct mc_client_stats *ret);

#ifdef __cplusplus
}
#endif

#endif
