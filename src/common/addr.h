/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Listen/connect addresses as every kumo binary spells them:
 *   "127.0.0.1:8000", "[::1]:8000", "0.0.0.0:4222", "localhost:8000",
 *   "unix:/run/kumo/k2i.sock".
 */
#ifndef KUMO_COMMON_ADDR_H
#define KUMO_COMMON_ADDR_H

#include <stdbool.h>
#include <sys/socket.h>

struct kerr;

struct addr {
    struct sockaddr_storage ss;
    socklen_t len;
    bool is_unix;
};

/*
 * Parse text into an address. Host names are resolved numerically except
 * "localhost" (127.0.0.1). default_port is used when no ":PORT" is given
 * (0 = port required). Returns 0 or -EINVAL with err naming the problem.
 */
int addr_parse(const char *text, int default_port, struct addr *ret, struct kerr *err);

/* Format as "127.0.0.1:8000", "[::1]:8000" or "unix:/path". */
void addr_format(const struct addr *a, char *buf, size_t cap);

/*
 * Create a listening socket (SOCK_CLOEXEC|SOCK_NONBLOCK, SO_REUSEADDR, for
 * Unix sockets a stale socket file is replaced). On success *ret_fd is the
 * socket and, for port 0, a is updated with the bound port.
 */
int addr_listen(struct addr *a, int backlog, int *ret_fd, struct kerr *err);

/* Blocking connect with a timeout in ms (<= 0: no timeout). Returns fd (cloexec) or -errno. */
int addr_connect(const struct addr *a, int timeout_ms, struct kerr *err);

/* Port of an inet address, 0 for Unix. */
int addr_port(const struct addr *a);

#endif
