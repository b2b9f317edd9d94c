/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The middlecon broker as a library: main.c parses arguments into a
 * struct broker_config, then broker_new() / broker_start() / broker_stop() /
 * broker_free(). The design is described in docs/middlecon.md.
 */
#ifndef KUMO_MIDDLECON_BROKER_H
#define KUMO_MIDDLECON_BROKER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "addr.h"
#include "sbuf.h"

struct kerr;

#define BROKER_MAX_LISTEN 16
#define BROKER_MAX_PEERS  64
#define BROKER_MAX_TOKENS 64

struct broker_config {
    struct addr listen[BROKER_MAX_LISTEN];
    bool listen_tls[BROKER_MAX_LISTEN]; /* sessions on this listener speak TLS */
    size_t nlisten;
    char *peers[BROKER_MAX_PEERS]; /* "[tls://]host:port" or "unix:/path", malloc'd */
    size_t npeers;
    /*
     * TLS files (malloc'd, NULL = unset). tls_cert/tls_key: this broker's
     * certificate chain and key, served on TLS listeners and presented to
     * TLS peers that ask for one. tls_client_ca: with it, TLS listeners
     * require a client certificate issued by one of these CAs. tls_ca: the
     * CAs that TLS peers' certificates must chain to (NULL: the system
     * trust store); a peer's certificate must also name its host.
     */
    char *tls_cert;
    char *tls_key;
    char *tls_client_ca;
    char *tls_ca;
    char *tokens[BROKER_MAX_TOKENS]; /* malloc'd; none = no authentication */
    size_t ntokens;
    /*
     * Tokens of peer brokers (malloc'd): with any, a peer HELLO must present
     * one of these and client tokens do not make a peer; with none, peers
     * use the client tokens. The first is what this broker presents.
     */
    char *peer_tokens[BROKER_MAX_TOKENS];
    size_t npeer_tokens;
    char *name; /* broker id; NULL = derived from host name and first listener */
    unsigned threads;
    uint32_t max_frame;
    size_t max_outbuf;
    uint32_t keepalive_ms;
    uint32_t max_sessions;
    uint32_t max_rooms_per_session;
    uint32_t max_pending_per_session;
    /*
     * Rooms with more local members than this send no PRESENCE events (each
     * join would cost a frame to every member: n² for a room that fills up,
     * e.g. after a broker restart); WHO still lists them. 0 = no limit.
     */
    uint32_t presence_limit;
};

/*
 * Parse a listen or peer address: "HOST:PORT", "[V6]:PORT", "HOST" (port
 * default_port) or "unix:/path", optionally after "tls://". Returns 0 with
 * *ret and *ret_tls, or -EINVAL with err filled.
 */
int broker_addr_parse(const char *text, int default_port, struct addr *ret, bool *ret_tls,
                      struct kerr *err);

/* Defaults for every field (no listeners, no peers). */
void broker_config_init(struct broker_config *c);
void broker_config_free(struct broker_config *c);

struct broker;

/*
 * Bind every listener (updating port-0 addresses in c->listen with the real
 * port) and set up the workers without starting them. Copies what it keeps
 * from c. On failure *ret may still be set: release it with broker_free().
 * Returns 0 or -errno with err filled.
 */
int broker_new(struct broker_config *c, struct broker **ret, struct kerr *err);

/* Start worker and peer threads. 0 or -errno with err. */
int broker_start(struct broker *b, struct kerr *err);

/* Stop all threads and close every connection. Blocks until done. */
void broker_stop(struct broker *b);
void broker_free(struct broker *b);

/* Broker id as announced in WELCOME (borrowed). */
const char *broker_id(const struct broker *b);

/* Append the /stats JSON document, or the Prometheus text, to out. */
int broker_stats_json(struct broker *b, struct sbuf *out);
int broker_stats_prometheus(struct broker *b, struct sbuf *out);

#endif
