/* SPDX-License-Identifier: Apache-2.0 */
/*
 * k2i's request handling, independent of the HTTP library: server.c turns
 * a libmicrohttpd request into a struct api_request and sends back the
 * struct api_response; the fuzz target and unit tests call api_handle()
 * directly. Called on HTTP worker threads, concurrently.
 */
#ifndef KUMO_K2I_API_H
#define KUMO_K2I_API_H

#include "k2i.h"
#include "procfs.h"
#include "sbuf.h"

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct sampler;

/* Caps on what a client can make us hold. */
#define API_URI_MAX     8192  /* longer request targets: 414 */
#define API_HEADERS_MAX 16384 /* more header bytes: 431 */
#define API_BODY_MAX    4096  /* larger bodies: 413 */
#define API_MSG_MAX     256

/*
 * Privileged operations. In the privilege-separated daemon these are
 * requests to the parent over a socketpair (privsep.c); without privsep
 * (not root, or --no-privsep) they run in-process. Each returns an HTTP
 * status (200 on success) and fills msg on failure. token is the bearer
 * token the client presented ("" for none): the privileged side checks it
 * again, so a compromised HTTP process cannot act without a valid token.
 */
struct k2i_privops {
    int (*signal)(void *ctx, const char *token, int pid, int signo, char *msg, size_t cap);
    /* Open /proc/PID/environ for reading; *ret_fd is the caller's to close. */
    int (*environ_fd)(void *ctx, const char *token, int pid, int *ret_fd, char *msg, size_t cap);
    /* Namespace inodes of up to 64 pids/tids (0 where unknown). */
    int (*ns)(void *ctx, const char *token, const int *ids, size_t n,
              uint64_t (*ret)[PROCFS_NS_COUNT]);
};

#define PRIVOPS_NS_BATCH 64

struct k2i {
    const struct k2i_config *cfg;
    int procfd; /* proc root: /proc, or a fixture tree */
    struct sampler *sampler;
    struct procfs_fdcache *fdcache; /* kept /proc fds, or NULL */
    size_t fdcache_max;
    const struct k2i_privops *priv;
    void *priv_ctx;
    bool ns_via_priv; /* this process cannot read other users' ns/ links */
    bool seccomp;     /* the syscall filter is (about to be) on */
    pid_t self_pid;   /* the HTTP-facing process */
    pid_t parent_pid; /* the privileged parent, 0 without privsep */
    long hz;
    long page_kb;
    int ncpus;
    uint64_t memtotal_kb;
    char hostname[256];
    pthread_key_t reader_key; /* per-thread struct procfs_reader */
    uint64_t started_usec;    /* realtime */
};

/* Set up k (procfd borrowed; sampler may be NULL = no recent CPU). 0 or -errno. */
int api_init(struct k2i *k, const struct k2i_config *cfg, int procfd, struct sampler *sampler,
             const struct k2i_privops *priv, void *priv_ctx);
void api_fini(struct k2i *k);
/* Free the calling thread's reader now (otherwise freed at thread exit). */
void api_thread_done(struct k2i *k);

struct api_request {
    const char *method;
    const char *uri; /* raw request target: path and query, still encoded */
    size_t uri_len;
    const char *authorization; /* Authorization header or NULL */
    const char *body;
    size_t body_len;
    bool body_too_large;
    size_t header_bytes; /* total size of the request's header lines */
};

struct api_response {
    int status;
    struct sbuf body;
    const char *content_type; /* static string */
    const char *allow;        /* Allow header for 405, static */
    bool www_authenticate;    /* add WWW-Authenticate: Bearer */
};

/* Handle one request. resp must be zeroed; the caller frees resp->body. */
void api_handle(struct k2i *k, const struct api_request *req, struct api_response *resp);

/* Set a JSON error response {"error":{"code":status,"message":msg}}. */
void api_error(struct api_response *resp, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/*
 * Check the Authorization header against the tokens. need is a scope bit,
 * or 0 for "reading" (open unless read_requires_token). Returns 0, 401 or
 * 403 and fills msg; *ret_token gets the bare token text (may be "").
 */
int api_auth(const struct k2i_config *cfg, const char *authorization, unsigned need,
             char ret_token[K2I_TOKEN_MAX + 1], char *msg, size_t cap);

/* Signal names: "TERM", "SIGTERM", "15", "RTMIN+2". -1 when unknown. */
int api_signal_parse(const char *s);
/* Canonical name without "SIG" ("TERM"), or NULL for numbers without one. */
const char *api_signal_name(int signo);

#endif
