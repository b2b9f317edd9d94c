/* SPDX-License-Identifier: Apache-2.0 */
/*
 * k2i: the per-host process-information agent. This is the component's
 * public interface: configuration (from flags and a JSON config file) and
 * the daemon entry point. main.c only parses flags and calls k2i_run().
 * See docs/k2i.md for the design (privilege separation) and
 * docs/k2i-api.md for the HTTP API.
 */
#ifndef KUMO_K2I_H
#define KUMO_K2I_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct kerr;

#define K2I_MAX_LISTEN 16
#define K2I_MAX_TOKENS 64
#define K2I_TOKEN_MAX  256 /* bytes of a bearer token */

enum {
    K2I_SCOPE_READ = 1u << 0,
    K2I_SCOPE_SIGNAL = 1u << 1,
    K2I_SCOPE_ENVIRON = 1u << 2,
};

/* A bearer token as the daemon keeps it: only its SHA-256 hash. */
struct k2i_token {
    char name[64];
    uint8_t hash[32];
    unsigned scopes;
};

/* Effective configuration: defaults, then the config file, then flags. */
struct k2i_config {
    char *listen[K2I_MAX_LISTEN];
    size_t nlisten;
    bool read_requires_token;
    struct k2i_token tokens[K2I_MAX_TOKENS];
    size_t ntokens;
    char *tls_cert; /* paths */
    char *tls_key;
    char *user;   /* privsep user, default "nobody" */
    bool privsep; /* default true; needs root to mean anything */
    bool seccomp; /* default true: syscall allowlist on the HTTP process */
    uint64_t sample_interval_usec;
    unsigned threads; /* HTTP worker threads per listener */
    unsigned max_connections;
    size_t connection_memory_limit;
    unsigned connection_timeout_sec;
    unsigned fd_cache; /* processes whose /proc fds are kept open; 0 = off */
    char *config_path; /* for /v1/config */
};

/* Fill cfg with defaults (no allocation that can fail besides strdup). */
int k2i_config_init(struct k2i_config *cfg);
/* Free the strings of cfg and scrub token hashes. */
void k2i_config_free(struct k2i_config *cfg);

/*
 * Load a JSON config file over cfg (see docs/k2i.md for the keys). Unknown
 * keys and bad values are errors naming the key. Token files are read here
 * (the caller is the privileged parent). Returns 0 or -errno with err set.
 */
int k2i_config_load(struct k2i_config *cfg, const char *path, struct kerr *err);

/* Parse a JSON config text (used by k2i_config_load and the tests). */
int k2i_config_parse(struct k2i_config *cfg, const char *text, size_t len, struct kerr *err);

/* Add a --listen address (strdup). -E2BIG when there are too many. */
int k2i_config_add_listen(struct k2i_config *cfg, const char *addr, struct kerr *err);

/* Hash a token as the config keeps it. */
void k2i_token_hash(const char *token, size_t len, uint8_t ret_hash[32]);

/*
 * Run the daemon until SIGTERM/SIGINT: bind the listeners, fork the
 * unprivileged HTTP process (when privsep is on and we are root), print
 * "k2i: listening on ADDR" per listener on stdout once ready. Returns 0
 * after a clean shutdown, or -errno with err set.
 */
int k2i_run(struct k2i_config *cfg, struct kerr *err);

#endif
