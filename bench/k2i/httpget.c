/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Minimal keep-alive HTTP/1.1 GET client for bench/k2i/run: sends N
 * requests for one path over one connection and prints each latency (ms,
 * from sending the request to having the whole body) and the body size.
 * Handles Content-Length and chunked bodies. Not part of the meson build.
 *
 * usage: httpget HOST PORT PATH N [AUTH_HEADER]
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static char *buf;
static size_t cap = 1 << 20, len, off;
static int fd;

static double
now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* Make at least n unread bytes available. */
static int
need(size_t n)
{
    while (len - off < n) {
        if (off > 0) {
            memmove(buf, buf + off, len - off);
            len -= off;
            off = 0;
        }
        if (len == cap) {
            char *nb = realloc(buf, cap * 2);
            if (!nb)
                return -1;
            buf = nb;
            cap *= 2;
        }
        ssize_t r = read(fd, buf + len, cap - len);
        if (r <= 0)
            return -1;
        len += (size_t)r;
    }
    return 0;
}

/* Read one CRLF-terminated line; returns its start (NUL-terminated). */
static char *
line(void)
{
    for (;;) {
        char *p = memchr(buf + off, '\n', len - off);
        if (p) {
            char *s = buf + off;
            *p = '\0';
            if (p > s && p[-1] == '\r')
                p[-1] = '\0';
            off = (size_t)(p - buf) + 1;
            return s;
        }
        if (need(len - off + 1) < 0)
            return NULL;
    }
}

static long
response(void)
{
    char *l = line();
    if (!l || strncmp(l, "HTTP/1.", 7) != 0)
        return -1;
    long clen = -1;
    int chunked = 0;
    while ((l = line()) && *l) {
        if (strncasecmp(l, "Content-Length:", 15) == 0)
            clen = atol(l + 15);
        else if (strncasecmp(l, "Transfer-Encoding:", 18) == 0 && strstr(l, "chunked"))
            chunked = 1;
    }
    if (!l)
        return -1;
    if (!chunked) {
        if (clen < 0 || need((size_t)clen) < 0)
            return -1;
        off += (size_t)clen;
        return clen;
    }
    long total = 0;
    for (;;) {
        l = line();
        if (!l)
            return -1;
        long n = strtol(l, NULL, 16);
        if (n == 0) {
            while ((l = line()) && *l)
                ;
            return total;
        }
        if (need((size_t)n + 2) < 0)
            return -1;
        off += (size_t)n + 2;
        total += n;
    }
}

int
main(int argc, char **argv)
{
    if (argc < 5) {
        fprintf(stderr, "usage: httpget HOST PORT PATH N [HEADER]\n");
        return 2;
    }
    buf = malloc(cap);
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[2])) };
    inet_pton(AF_INET, argv[1], &sa.sin_addr);
    fd = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        perror("connect");
        return 1;
    }
    char req[1024];
    int rl = snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: %s\r\n%s%s%s\r\n", argv[3],
                      argv[1], argc > 5 ? argv[5] : "", argc > 5 ? "\r\n" : "", "");
    int n = atoi(argv[4]);
    for (int i = 0; i < n; i++) {
        double t0 = now_ms();
        if (write(fd, req, (size_t)rl) != rl) {
            perror("write");
            return 1;
        }
        long got = response();
        if (got < 0) {
            fprintf(stderr, "httpget: bad response\n");
            return 1;
        }
        printf("%.3f %ld\n", now_ms() - t0, got);
    }
    return 0;
}
