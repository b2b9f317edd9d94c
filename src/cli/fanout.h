/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Concurrent HTTP requests to many k2i agents (libcurl multi). Every
 * request of a batch goes out at once; each has its own connect and total
 * timeout, so one dead or stalled host costs at most the timeout and never
 * delays the answers of the others. Responses are untrusted: their size is
 * capped and an oversized body is an error for that request only.
 *
 * A struct fanout keeps curl's connection cache between batches, so the
 * refreshes of `kumo top` reuse their connections. Single-threaded.
 */
#ifndef KUMO_CLI_FANOUT_H
#define KUMO_CLI_FANOUT_H

#include "sbuf.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct kerr;
struct host;
struct fanout;

/* Default cap on one response body: a listing of ~100k full processes. */
#define FANOUT_BODY_MAX (64u * 1024 * 1024)
#define FANOUT_ERR_MAX  256

struct fanout_opts {
    uint64_t timeout_usec; /* per request, connect + transfer; 0 = 2 s */
    const char *token;     /* bearer token or NULL (borrowed) */
    const char *cacert;    /* CA bundle for https:// hosts or NULL (borrowed) */
    bool insecure;         /* skip TLS certificate checks */
    size_t body_max;       /* cap on each response body; 0 = FANOUT_BODY_MAX */
};

struct fanout_req {
    /* Filled by the caller. */
    const struct host *host; /* borrowed */
    char *path;              /* "/v1/proc?fields=pid" — owned, freed by fanout_req_clear */
    const char *method;      /* NULL = GET, or "POST" (borrowed) */
    char *body;              /* request body (JSON) or NULL — owned */
    void *user;              /* caller's tag */

    /* Filled by fanout_run. */
    long status;      /* HTTP status, 0 when there was no HTTP answer */
    struct sbuf resp; /* response body */
    uint64_t elapsed_usec;
    char err[FANOUT_ERR_MAX]; /* "" on success (2xx); else one line: "connection refused",
                                 "no answer within 2.0 s", "HTTP 403: token lacks scope" */
};

/*
 * New fan-out context with the given options (copied; the strings they
 * point to are borrowed for the fanout's lifetime). NULL on OOM or when
 * libcurl cannot be initialised.
 */
struct fanout *fanout_new(const struct fanout_opts *opts);

/*
 * Run all n requests concurrently and return when every one has finished
 * or timed out. Per-request outcome is in reqs[i].status/err/resp (earlier
 * results are cleared first). Returns the number of requests that failed
 * (>= 0), or -errno when the batch itself could not run (err says why).
 */
int fanout_run(struct fanout *f, struct fanout_req *reqs, size_t n, struct kerr *err);

/*
 * Called once per request as soon as it has finished (status/err/resp
 * filled), while others may still be in flight, so answers can be
 * processed while waiting for slower hosts. It may consume and free
 * r->resp; it must not touch other requests.
 */
typedef void (*fanout_done_fn)(struct fanout_req *r, void *userdata);

/* fanout_run() that calls done (if not NULL) for each finished request. */
int fanout_run_cb(struct fanout *f, struct fanout_req *reqs, size_t n, fanout_done_fn done,
                  void *userdata, struct kerr *err);

/* Free what a request owns (path, body, response); the struct can be reused. */
void fanout_req_clear(struct fanout_req *r);

/*
 * Make runs of f give up (-ECANCELED) within ~100 ms once *flag becomes
 * true; flag is borrowed and may be set from another thread. NULL clears.
 */
void fanout_set_abort(struct fanout *f, const atomic_bool *flag);

/* Frees f and its connections; accepts NULL; returns NULL. */
struct fanout *fanout_free(struct fanout *f);

/* Release libcurl's global state; call once at the end of a verb. */
void fanout_global_cleanup(void);

/*
 * Append s to b percent-encoded for a URL query value (RFC 3986 unreserved
 * characters stay as they are). 0 or -ENOMEM.
 */
int fanout_urlencode(struct sbuf *b, const char *s);

#endif
