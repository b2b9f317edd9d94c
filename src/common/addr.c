/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Address parsing and socket setup shared by daemons and clients.
 */
#include "addr.h"
#include "cleanup.h"
#include "kerr.h"
#include "util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

int
addr_parse(const char *text, int default_port, struct addr *ret, struct kerr *err)
{
    struct addr a;
    memset(&a, 0, sizeof(a));

    if (!text || !*text)
        return kerr_setf(err, EINVAL, "empty address");

    if (str_startswith(text, "unix:")) {
        const char *path = text + 5;
        struct sockaddr_un *un = (struct sockaddr_un *)&a.ss;
        if (*path == '\0')
            return kerr_setf(err, EINVAL, "address '%s': empty unix socket path", text);
        if (strlen(path) >= sizeof(un->sun_path))
            return kerr_setf(err, EINVAL, "address '%s': unix socket path longer than %zu bytes",
                             text, sizeof(un->sun_path) - 1);
        un->sun_family = AF_UNIX;
        memcpy(un->sun_path, path, strlen(path) + 1);
        a.len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(path) + 1);
        a.is_unix = true;
        *ret = a;
        return 0;
    }

    char host[256];
    const char *port_str = NULL;
    if (text[0] == '[') {
        const char *close_b = strchr(text, ']');
        if (!close_b || (size_t)(close_b - text - 1) >= sizeof(host))
            return kerr_setf(err, EINVAL, "address '%s': bad IPv6 literal", text);
        memcpy(host, text + 1, (size_t)(close_b - text - 1));
        host[close_b - text - 1] = '\0';
        if (close_b[1] == ':')
            port_str = close_b + 2;
        else if (close_b[1] != '\0')
            return kerr_setf(err, EINVAL, "address '%s': junk after ']'", text);
    } else {
        const char *colon = strrchr(text, ':');
        size_t hlen = colon ? (size_t)(colon - text) : strlen(text);
        if (colon && strchr(text, ':') != colon)
            return kerr_setf(err, EINVAL, "address '%s': write IPv6 as [addr]:port", text);
        if (hlen >= sizeof(host))
            return kerr_setf(err, EINVAL, "address '%s': host too long", text);
        memcpy(host, text, hlen);
        host[hlen] = '\0';
        if (colon)
            port_str = colon + 1;
    }

    int port = default_port;
    if (port_str) {
        int64_t p;
        if (parse_int64(port_str, 0, 65535, &p) < 0)
            return kerr_setf(err, EINVAL, "address '%s': bad port '%s'", text, port_str);
        port = (int)p;
    } else if (default_port <= 0) {
        return kerr_setf(err, EINVAL, "address '%s': missing ':PORT'", text);
    }

    if (host[0] == '\0' || strcmp(host, "*") == 0)
        snprintf(host, sizeof(host), "0.0.0.0");
    if (strcmp(host, "localhost") == 0)
        snprintf(host, sizeof(host), "127.0.0.1");

    struct sockaddr_in *in4 = (struct sockaddr_in *)&a.ss;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&a.ss;
    if (inet_pton(AF_INET, host, &in4->sin_addr) == 1) {
        in4->sin_family = AF_INET;
        in4->sin_port = htons((uint16_t)port);
        a.len = sizeof(*in4);
    } else if (inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons((uint16_t)port);
        a.len = sizeof(*in6);
    } else {
        return kerr_setf(err, EINVAL, "address '%s': '%s' is not an IP address", text, host);
    }
    *ret = a;
    return 0;
}

void
addr_format(const struct addr *a, char *buf, size_t cap)
{
    char host[INET6_ADDRSTRLEN];
    switch (a->ss.ss_family) {
    case AF_UNIX:
        snprintf(buf, cap, "unix:%s", ((const struct sockaddr_un *)&a->ss)->sun_path);
        break;
    case AF_INET: {
        const struct sockaddr_in *in4 = (const struct sockaddr_in *)&a->ss;
        inet_ntop(AF_INET, &in4->sin_addr, host, sizeof(host));
        snprintf(buf, cap, "%s:%d", host, ntohs(in4->sin_port));
        break;
    }
    case AF_INET6: {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)&a->ss;
        inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
        snprintf(buf, cap, "[%s]:%d", host, ntohs(in6->sin6_port));
        break;
    }
    default:
        snprintf(buf, cap, "?");
    }
}

int
addr_port(const struct addr *a)
{
    if (a->ss.ss_family == AF_INET)
        return ntohs(((const struct sockaddr_in *)&a->ss)->sin_port);
    if (a->ss.ss_family == AF_INET6)
        return ntohs(((const struct sockaddr_in6 *)&a->ss)->sin6_port);
    return 0;
}

int
addr_listen(struct addr *a, int backlog, int *ret_fd, struct kerr *err)
{
    char name[128];
    addr_format(a, name, sizeof(name));

    cleanup_close int fd = socket(a->ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return kerr_set(err, errno, "socket for '%s'", name);

    if (a->is_unix) {
        const char *path = ((struct sockaddr_un *)&a->ss)->sun_path;
        struct stat st;
        /* Replace a stale socket left by a crashed daemon, never a regular file. */
        if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode))
            unlink(path);
    } else {
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (a->ss.ss_family == AF_INET6)
            setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
    }
    if (bind(fd, (struct sockaddr *)&a->ss, a->len) < 0)
        return kerr_set(err, errno, "bind '%s'", name);
    if (listen(fd, backlog) < 0)
        return kerr_set(err, errno, "listen on '%s'", name);
    if (!a->is_unix) {
        socklen_t len = sizeof(a->ss);
        if (getsockname(fd, (struct sockaddr *)&a->ss, &len) == 0)
            a->len = len;
    }
    *ret_fd = TAKE_FD(fd);
    return 0;
}

int
addr_connect(const struct addr *a, int timeout_ms, struct kerr *err)
{
    char name[128];
    addr_format(a, name, sizeof(name));
    cleanup_close int fd = socket(a->ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return kerr_set(err, errno, "socket for '%s'", name);
    if (connect(fd, (const struct sockaddr *)&a->ss, a->len) < 0) {
        if (errno != EINPROGRESS)
            return kerr_set(err, errno, "connect to '%s'", name);
        struct pollfd p = { .fd = fd, .events = POLLOUT };
        int n;
        do {
            n = poll(&p, 1, timeout_ms > 0 ? timeout_ms : -1);
        } while (n < 0 && errno == EINTR);
        if (n == 0)
            return kerr_set(err, ETIMEDOUT, "connect to '%s'", name);
        int soerr = 0;
        socklen_t sl = sizeof(soerr);
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl);
        if (soerr)
            return kerr_set(err, soerr, "connect to '%s'", name);
    }
    int flags = fcntl(fd, F_GETFL);
    fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
    if (!a->is_unix) {
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    }
    return TAKE_FD(fd);
}
