/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Library-level start benchmark, as kumod uses the container library: no
 * CLI exec. Usage: rt-bench-start BUNDLE ROOT N. Prints JSON with p50/p99 in
 * microseconds of (a) rt_container_start on pre-created containers and (b)
 * the whole create + start + wait + delete in-process, and how many starts
 * were preempted (involuntary context switches of the caller). (a) creates the
 * containers ahead in batches of RT_BENCH_BATCH (default 20) and starts each
 * batch back to back, so the inits started earlier compete for the CPUs.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "kerr.h"
#include "runtime.h"

static uint64_t
now_usec(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* Involuntary context switches of the calling thread so far. */
static long
preemptions(void)
{
    struct rusage ru;
    getrusage(RUSAGE_THREAD, &ru);
    return ru.ru_nivcsw;
}

static int
cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static uint64_t
pct(uint64_t *v, size_t n, double p)
{
    size_t i = (size_t)(p * (double)(n - 1) + 0.5);
    return v[i];
}

static int
finish(struct rt_container *c)
{
    struct kerr err = KERR_INIT;
    int code = 0;
    if (rt_container_wait(c, &code, &err) < 0 || rt_container_delete(c, false, &err) < 0) {
        fprintf(stderr, "rt-bench-start: %s\n", err.msg);
        return -1;
    }
    rt_container_free(c);
    return code;
}

int
main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: rt-bench-start BUNDLE ROOT N\n");
        return 2;
    }
    const char *bundle = argv[1], *root = argv[2];
    size_t n = (size_t)atoi(argv[3]);
    uint64_t *start = calloc(n, sizeof(uint64_t)), *full = calloc(n, sizeof(uint64_t));
    struct rt_container **cs = calloc(n, sizeof(*cs));
    if (!start || !full || !cs || n == 0)
        return 1;
    size_t preempted = 0;
    /* (a) start only: containers created ahead of time, in batches of 20. */
    size_t batch = getenv("RT_BENCH_BATCH") ? (size_t)atoi(getenv("RT_BENCH_BATCH")) : 20;
    for (size_t base = 0; base < n; base += batch) {
        size_t m = n - base < batch ? n - base : batch;
        for (size_t i = 0; i < m; i++) {
            struct kerr err = KERR_INIT;
            char id[64];
            snprintf(id, sizeof(id), "lib-bench-%zu", base + i);
            if (rt_container_create(root, id, bundle, NULL, &cs[i], &err) < 0) {
                fprintf(stderr, "rt-bench-start: create: %s\n", err.msg);
                return 1;
            }
        }
        for (size_t i = 0; i < m; i++) {
            struct kerr err = KERR_INIT;
            long p0 = preemptions();
            uint64_t t0 = now_usec();
            if (rt_container_start(cs[i], &err) < 0) {
                fprintf(stderr, "rt-bench-start: start: %s\n", err.msg);
                return 1;
            }
            start[base + i] = now_usec() - t0;
            preempted += preemptions() != p0;
        }
        for (size_t i = 0; i < m; i++)
            if (finish(cs[i]) != 0)
                return 1;
    }
    /* (b) the whole cycle in-process. */
    for (size_t i = 0; i < n; i++) {
        struct kerr err = KERR_INIT;
        struct rt_container *c = NULL;
        uint64_t t0 = now_usec();
        if (rt_container_create(root, "lib-bench-full", bundle, NULL, &c, &err) < 0 ||
            rt_container_start(c, &err) < 0) {
            fprintf(stderr, "rt-bench-start: %s\n", err.msg);
            return 1;
        }
        if (finish(c) != 0)
            return 1;
        full[i] = now_usec() - t0;
    }
    qsort(start, n, sizeof(uint64_t), cmp_u64);
    qsort(full, n, sizeof(uint64_t), cmp_u64);
    printf("{\"n\": %zu, \"start_p50_us\": %llu, \"start_p99_us\": %llu, "
           "\"start_preempted\": %zu, \"cycle_p50_us\": %llu, \"cycle_p99_us\": %llu}\n",
           n, (unsigned long long)pct(start, n, 0.5), (unsigned long long)pct(start, n, 0.99),
           preempted, (unsigned long long)pct(full, n, 0.5),
           (unsigned long long)pct(full, n, 0.99));
    free(start);
    free(full);
    free(cs);
    return 0;
}
