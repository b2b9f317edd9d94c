/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Background CPU sampler: every interval a thread reads /proc/PID/stat of
 * every process (and, once a client asked for threads, of every thread of
 * multi-threaded processes) plus /proc/stat, and publishes an immutable
 * snapshot. Requests compute "recent" %CPU (top's meaning) as the CPU time
 * used between a snapshot and now, divided by the time between them.
 *
 * Which snapshot: the newest one at least interval/2 old, else the one
 * before it; so the window is between interval/2 and 1.5 x interval. Only
 * in the first interval/2 after start there is no such snapshot; then a
 * request that needs recent CPU waits until there is (at most interval/2,
 * once). A process not in the snapshot (started since, or pid reused) has
 * lived entirely inside the window, so its recent %CPU is its lifetime %CPU.
 *
 * Thread-safe: snapshots are reference-counted under one mutex.
 */
#ifndef KUMO_K2I_SAMPLER_H
#define KUMO_K2I_SAMPLER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct sampler_entry {
    int id; /* pid, or tid in the thread table */
    uint64_t starttime;
    uint64_t ticks; /* utime + stime */
};

struct sampler_snap {
    uint64_t mono_usec;
    struct sampler_entry *procs; /* sorted by id */
    size_t nprocs;
    struct sampler_entry *threads; /* sorted by tid; NULL unless enabled */
    size_t nthreads;
    uint64_t cpu_busy, cpu_total; /* /proc/stat "cpu" line, ticks */
    int refs;
};

struct sampler;

/* New sampler over rootfd (borrowed). interval_usec >= 10 ms. NULL on OOM. */
struct sampler *sampler_new(int rootfd, uint64_t interval_usec);

struct procfs_fdcache;
/* Read stat through kept fds (borrowed; set before sampler_start). */
void sampler_set_fdcache(struct sampler *s, struct procfs_fdcache *cache);

/* Take the first snapshot synchronously and start the thread. 0 or -errno. */
int sampler_start(struct sampler *s);

/* Stop and join the thread, free everything. Accepts NULL; returns NULL. */
struct sampler *sampler_free(struct sampler *s);

/* From now on also sample threads (sticky; cheap when few are multi-threaded). */
void sampler_want_threads(struct sampler *s);

/*
 * The reference snapshot for a request made now (see above). With wait, may
 * sleep up to interval/2 right after start. Returns a reference to release
 * with sampler_release(), or NULL when no snapshot exists.
 */
struct sampler_snap *sampler_acquire(struct sampler *s, bool wait);
void sampler_release(struct sampler *s, struct sampler_snap *snap);

uint64_t sampler_interval_usec(const struct sampler *s);

/* Find id in a sorted entry table; NULL when absent. */
const struct sampler_entry *sampler_find(const struct sampler_entry *tab, size_t n, int id);

/* Parse the first "cpu " line of /proc/stat. 0 or -EINVAL. */
int sampler_parse_cpu_line(const char *text, size_t len, uint64_t *ret_busy, uint64_t *ret_total);

#endif
