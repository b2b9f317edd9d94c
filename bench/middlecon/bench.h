/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Shared helpers of the middlecon benchmark programs (bench-nats,
 * bench-mqtt, bench-mc, bench-idle): clocks, latency statistics and the
 * result lines that bench/middlecon/run collects into its table.
 *
 * Every program prints its figures as "RESULT <figure> <value>" lines on
 * stdout; anything else is commentary. Header-only so each program is one
 * cc invocation.
 */
#ifndef KUMO_BENCH_MC_H
#define KUMO_BENCH_MC_H

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#define BENCH_PAYLOAD 64

static inline uint64_t
bench_now_nsec(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static inline int
bench_cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Percentile (0..100) of n sorted samples, nearest-rank. */
static inline uint64_t
bench_pct(const uint64_t *sorted, size_t n, double pct)
{
    if (n == 0)
        return 0;
    size_t i = (size_t)(pct / 100.0 * (double)n);
    if (i >= n)
        i = n - 1;
    return sorted[i];
}

static inline void
bench_result(const char *figure, double value)
{
    printf("RESULT %s %.3f\n", figure, value);
    fflush(stdout);
}

/* Print p50/p99[/p99.9] of latency samples (nanoseconds) in microseconds. */
static inline void
bench_latency(const char *prefix, uint64_t *ns, size_t n, int with_p999)
{
    char name[128];
    qsort(ns, n, sizeof(*ns), bench_cmp_u64);
    snprintf(name, sizeof(name), "%s_p50_us", prefix);
    bench_result(name, (double)bench_pct(ns, n, 50) / 1000.0);
    snprintf(name, sizeof(name), "%s_p99_us", prefix);
    bench_result(name, (double)bench_pct(ns, n, 99) / 1000.0);
    if (with_p999) {
        snprintf(name, sizeof(name), "%s_p999_us", prefix);
        bench_result(name, (double)bench_pct(ns, n, 99.9) / 1000.0);
    }
    snprintf(name, sizeof(name), "%s_samples", prefix);
    bench_result(name, (double)n);
}

/* Resident set size of a process in KiB from /proc/<pid>/status, -1 on error. */
static inline long
bench_rss_kib(int pid)
{
    char path[64], line[256];
    long kib = -1;
    snprintf(path, sizeof(path), "/proc/%d/status", pid);
    FILE *f = fopen(path, "re");
    if (!f)
        return -1;
    while (fgets(line, sizeof(line), f)) {
        if (strncmp(line, "VmRSS:", 6) == 0) {
            kib = strtol(line + 6, NULL, 10);
            break;
        }
    }
    fclose(f);
    return kib;
}

static inline void
bench_raise_nofile(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

static inline void
bench_sleep_ms(unsigned ms)
{
    struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

static inline void
bench_die(const char *what)
{
    fprintf(stderr, "bench: %s\n", what);
    exit(1);
}

#endif
