/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The CPU sampler thread (see sampler.h). It owns its own procfs reader and
 * only ever reads stat files, so one round over 1,000 processes costs about
 * as much as one stat-only listing (a few ms per interval).
 */
#include "sampler.h"
#include "procfs.h"
#include "util.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>

struct sampler {
    int rootfd;
    uint64_t interval_usec;
    struct procfs_reader *reader;
    struct procfs_fdcache *cache;
    pthread_t thread;
    bool running;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool stop;
    atomic_bool want_threads;
    struct sampler_snap *last, *prev;
};

struct sampler *
sampler_new(int rootfd, uint64_t interval_usec)
{
    struct sampler *s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    s->rootfd = rootfd;
    s->interval_usec = interval_usec < 10000 ? 10000 : interval_usec;
    s->reader = procfs_reader_new(rootfd);
    if (!s->reader) {
        free(s);
        return NULL;
    }
    pthread_mutex_init(&s->lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&s->cond, &ca);
    pthread_condattr_destroy(&ca);
    return s;
}

void
sampler_set_fdcache(struct sampler *s, struct procfs_fdcache *cache)
{
    s->cache = cache;
}

static void
snap_free(struct sampler_snap *snap)
{
    if (snap) {
        free(snap->procs);
        free(snap->threads);
        free(snap);
    }
}

int
sampler_parse_cpu_line(const char *text, size_t len, uint64_t *ret_busy, uint64_t *ret_total)
{
    if (len < 5 || memcmp(text, "cpu ", 4) != 0)
        return -EINVAL;
    const char *p = text + 4, *end = text + len;
    uint64_t v[10] = { 0 };
    int n = 0;
    while (n < 10 && p < end && *p != '\n') {
        while (p < end && *p == ' ')
            p++;
        if (p >= end || *p < '0' || *p > '9')
            break;
        uint64_t x = 0;
        while (p < end && *p >= '0' && *p <= '9') {
            x = x * 10 + (uint64_t)(*p - '0');
            p++;
        }
        v[n++] = x;
    }
    if (n < 4)
        return -EINVAL;
    /* user nice system idle iowait irq softirq steal (guest is inside user). */
    uint64_t idle = v[3] + v[4];
    uint64_t busy = v[0] + v[1] + v[2] + v[5] + v[6] + v[7];
    *ret_busy = busy;
    *ret_total = busy + idle;
    return 0;
}

static int
push(struct sampler_entry **tab, size_t *n, size_t *cap, int id, const struct procfs_stat *st)
{
    if (*n == *cap) {
        size_t nc = *cap ? *cap * 2 : 512;
        struct sampler_entry *nt = realloc(*tab, nc * sizeof(**tab));
        if (!nt)
            return -ENOMEM;
        *tab = nt;
        *cap = nc;
    }
    (*tab)[*n].id = id;
    (*tab)[*n].starttime = st->starttime;
    (*tab)[*n].ticks = st->utime + st->stime;
    (*n)++;
    return 0;
}

static int
cmp_entry(const void *a, const void *b)
{
    int x = ((const struct sampler_entry *)a)->id, y = ((const struct sampler_entry *)b)->id;
    return (x > y) - (x < y);
}

static struct sampler_snap *
take_snapshot(struct sampler *s)
{
    struct sampler_snap *snap = calloc(1, sizeof(*snap));
    if (!snap)
        return NULL;
    bool threads = atomic_load(&s->want_threads);
    size_t len;
    const char *text = procfs_read_misc(s->reader, "stat", &len);
    if (text)
        sampler_parse_cpu_line(text, len, &snap->cpu_busy, &snap->cpu_total);
    snap->mono_usec = now_mono_usec();

    int *pids = NULL;
    int n = procfs_list(s->reader, 0, &pids);
    if (n < 0) {
        free(snap);
        return NULL;
    }
    size_t pcap = 0, tcap = 0;
    bool cached = s->cache && procfs_fdcache_acquire(s->cache, false);
    if (cached)
        procfs_reader_set_cache(s->reader, s->cache);
    int i;
    for (i = 0; i < n; i++) {
        struct proc_sample ps;
        if (procfs_read(s->reader, pids[i], 0, PROCFS_NEED_STAT, &ps) < 0)
            continue;
        if (push(&snap->procs, &snap->nprocs, &pcap, pids[i], &ps.stat) < 0)
            break;
        if (!threads || ps.stat.num_threads <= 1) {
            if (threads)
                push(&snap->threads, &snap->nthreads, &tcap, pids[i], &ps.stat);
            continue;
        }
        int *tids = NULL;
        int nt = procfs_list(s->reader, pids[i], &tids);
        for (int j = 0; j < nt; j++) {
            struct proc_sample ts;
            if (procfs_read(s->reader, pids[i], tids[j], PROCFS_NEED_STAT, &ts) == 0)
                push(&snap->threads, &snap->nthreads, &tcap, tids[j], &ts.stat);
        }
        free(tids);
    }
    if (cached) {
        procfs_reader_set_cache(s->reader, NULL);
        procfs_fdcache_release(s->cache, i == n);
    }
    free(pids);
    if (snap->nthreads > 1)
        qsort(snap->threads, snap->nthreads, sizeof(*snap->threads), cmp_entry);
    snap->refs = 1;
    return snap;
}

static void
publish(struct sampler *s, struct sampler_snap *snap)
{
    struct sampler_snap *old = NULL;
    pthread_mutex_lock(&s->lock);
    if (s->prev && --s->prev->refs == 0)
        old = s->prev;
    s->prev = s->last;
    s->last = snap;
    pthread_mutex_unlock(&s->lock);
    snap_free(old);
}

static void *
sampler_main(void *arg)
{
    struct sampler *s = arg;
    /* Named so that its CPU can be told apart (bench/k2i/run does). */
    prctl(PR_SET_NAME, "k2i-sampler", 0, 0, 0);
    pthread_mutex_lock(&s->lock);
    while (!s->stop) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        uint64_t ns = (uint64_t)ts.tv_nsec + (s->interval_usec % 1000000) * 1000;
        ts.tv_sec += (time_t)(s->interval_usec / 1000000 + ns / 1000000000);
        ts.tv_nsec = (long)(ns % 1000000000);
        while (!s->stop && pthread_cond_timedwait(&s->cond, &s->lock, &ts) != ETIMEDOUT)
            ;
        if (s->stop)
            break;
        pthread_mutex_unlock(&s->lock);
        struct sampler_snap *snap = take_snapshot(s);
        if (snap)
            publish(s, snap);
        pthread_mutex_lock(&s->lock);
    }
    pthread_mutex_unlock(&s->lock);
    return NULL;
}

int
sampler_start(struct sampler *s)
{
    struct sampler_snap *snap = take_snapshot(s);
    if (!snap)
        return -ENOMEM;
    publish(s, snap);
    int r = pthread_create(&s->thread, NULL, sampler_main, s);
    if (r != 0)
        return -r;
    s->running = true;
    return 0;
}

struct sampler *
sampler_free(struct sampler *s)
{
    if (!s)
        return NULL;
    if (s->running) {
        pthread_mutex_lock(&s->lock);
        s->stop = true;
        pthread_cond_broadcast(&s->cond);
        pthread_mutex_unlock(&s->lock);
        pthread_join(s->thread, NULL);
    }
    snap_free(s->last);
    snap_free(s->prev);
    procfs_reader_free(s->reader);
    pthread_mutex_destroy(&s->lock);
    pthread_cond_destroy(&s->cond);
    free(s);
    return NULL;
}

void
sampler_want_threads(struct sampler *s)
{
    atomic_store(&s->want_threads, true);
}

uint64_t
sampler_interval_usec(const struct sampler *s)
{
    return s->interval_usec;
}

struct sampler_snap *
sampler_acquire(struct sampler *s, bool wait)
{
    uint64_t min_window = s->interval_usec / 2;
    pthread_mutex_lock(&s->lock);
    struct sampler_snap *snap = NULL;
    uint64_t now = now_mono_usec();
    if (s->last && now - s->last->mono_usec >= min_window)
        snap = s->last;
    else if (s->prev)
        snap = s->prev;
    else
        snap = s->last;
    if (snap)
        snap->refs++;
    pthread_mutex_unlock(&s->lock);

    if (snap && wait) {
        now = now_mono_usec();
        if (now - snap->mono_usec < min_window) {
            uint64_t left = min_window - (now - snap->mono_usec);
            struct timespec ts = { (time_t)(left / 1000000), (long)(left % 1000000) * 1000 };
            while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
                ;
        }
    }
    return snap;
}

void
sampler_release(struct sampler *s, struct sampler_snap *snap)
{
    if (!snap)
        return;
    bool last;
    pthread_mutex_lock(&s->lock);
    last = --snap->refs == 0;
    pthread_mutex_unlock(&s->lock);
    if (last)
        snap_free(snap);
}

const struct sampler_entry *
sampler_find(const struct sampler_entry *tab, size_t n, int id)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (tab[mid].id == id)
            return &tab[mid];
        if (tab[mid].id < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}
