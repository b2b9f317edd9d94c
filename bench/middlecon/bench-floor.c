/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The kernel floor under a gather: one process (the "broker", pinned to
 * CPU 0) writes 64 bytes to each of N connected sockets and reads one
 * 64-byte answer from each, echoed by a thread on CPU 1 — no framing, no
 * bookkeeping, nothing but the syscalls a gather cannot avoid. Compared in
 * the same run with middlecon's gather, it says how much of the gather's
 * time is the broker and how much is the kernel's TCP (or Unix) path.
 *   bench-floor tcp|unix [members] [rounds]
 * write() per socket, then epoll_wait + read() per answer: what the broker
 * does. (Submitting the N sends as one io_uring batch was tried and measured
 * no faster here, within noise, both in this floor and in the broker.)
 * Prints RESULT floor_<proto>_p50_us / _p99_us.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAXN 1024

static int bro[MAXN], mem[MAXN], n_members;
static atomic_int stop;

static double
now_us(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e6 + (double)t.tv_nsec / 1e3;
}

static void
pin(int cpu)
{
    cpu_set_t c;
    CPU_ZERO(&c);
    CPU_SET(cpu, &c);
    sched_setaffinity(0, sizeof(c), &c); /* best effort on a 1-CPU machine */
}

static void *
members(void *arg)
{
    (void)arg;
    pin(1);
    int ep = epoll_create1(EPOLL_CLOEXEC);
    for (int i = 0; i < n_members; i++) {
        struct epoll_event e = { .events = EPOLLIN, .data.u32 = (uint32_t)i };
        epoll_ctl(ep, EPOLL_CTL_ADD, mem[i], &e);
    }
    char b[4096];
    struct epoll_event ev[128];
    while (!atomic_load(&stop)) {
        int n = epoll_wait(ep, ev, 128, 100);
        for (int k = 0; k < n; k++) {
            int fd = mem[ev[k].data.u32];
            if (read(fd, b, sizeof(b)) > 0 && write(fd, b, 64) < 0)
                perror("member write");
        }
    }
    close(ep);
    return NULL;
}

static void
connect_pairs(int tcp)
{
    int one = 1;
    if (!tcp) {
        for (int i = 0; i < n_members; i++) {
            int sv[2];
            if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
                perror("socketpair");
                exit(1);
            }
            bro[i] = sv[0];
            mem[i] = sv[1];
        }
        return;
    }
    int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t al = sizeof(a);
    if (l < 0 || bind(l, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(l, MAXN) < 0 ||
        getsockname(l, (struct sockaddr *)&a, &al) < 0) {
        perror("listen");
        exit(1);
    }
    for (int i = 0; i < n_members; i++) {
        mem[i] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (mem[i] < 0 || connect(mem[i], (struct sockaddr *)&a, sizeof(a)) < 0 ||
            (bro[i] = accept(l, NULL, NULL)) < 0) {
            perror("connect");
            exit(1);
        }
        setsockopt(bro[i], IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        setsockopt(mem[i], IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    }
    close(l);
}

static int
cmp_d(const void *x, const void *y)
{
    double a = *(const double *)x, b = *(const double *)y;
    return a < b ? -1 : a > b;
}

int
main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: bench-floor tcp|unix [members] [rounds]\n");
        return 2;
    }
    int tcp = strcmp(argv[1], "tcp") == 0;
    n_members = argc > 2 ? atoi(argv[2]) : 100;
    int rounds = argc > 3 ? atoi(argv[3]) : 2000;
    if (n_members < 1 || n_members > MAXN || rounds < 1)
        return 2;
    connect_pairs(tcp);
    pthread_t t;
    pthread_create(&t, NULL, members, NULL);
    pin(0);
    int ep = epoll_create1(EPOLL_CLOEXEC);
    for (int i = 0; i < n_members; i++) {
        struct epoll_event e = { .events = EPOLLIN, .data.u32 = (uint32_t)i };
        epoll_ctl(ep, EPOLL_CTL_ADD, bro[i], &e);
    }
    char msg[64], rb[256];
    memset(msg, 'x', sizeof(msg));
    double *lat = malloc(sizeof(double) * (size_t)rounds);
    struct epoll_event ev[128];
    for (int r = 0; r < rounds; r++) {
        double t0 = now_us();
        for (int i = 0; i < n_members; i++)
            if (write(bro[i], msg, sizeof(msg)) < 0)
                perror("write");
        for (int got = 0; got < n_members;) {
            int n = epoll_wait(ep, ev, 128, 1000);
            if (n <= 0) {
                fprintf(stderr, "bench-floor: answers stopped\n");
                return 1;
            }
            for (int k = 0; k < n; k++)
                if (read(bro[ev[k].data.u32], rb, sizeof(rb)) > 0)
                    got++;
        }
        lat[r] = now_us() - t0;
    }
    atomic_store(&stop, 1);
    pthread_join(t, NULL);
    qsort(lat, (size_t)rounds, sizeof(double), cmp_d);
    printf("RESULT floor_%s_p50_us %.1f\n", argv[1], lat[rounds / 2]);
    printf("RESULT floor_%s_p99_us %.1f\n", argv[1], lat[(rounds * 99) / 100]);
    return 0;
}
