/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libmicrohttpd glue: one MHD daemon per listening socket, each with its
 * own worker thread(s), all calling api_handle(). Runs in the unprivileged
 * HTTP process.
 */
#ifndef KUMO_K2I_SERVER_H
#define KUMO_K2I_SERVER_H

#include "api.h"
#include "k2i.h"

struct kerr;
struct server;

/*
 * Start serving on the listening fds (taken even on failure). cert_pem and
 * key_pem (NUL-terminated, borrowed until server_free) turn on TLS.
 * Returns a new server or NULL with err set.
 */
struct server *server_start(struct k2i *k, const int *fds, size_t nfds, const char *cert_pem,
                            const char *key_pem, struct kerr *err);

/* Stop accepting, finish requests in flight, free. Accepts NULL; returns NULL. */
struct server *server_free(struct server *s);

#endif
