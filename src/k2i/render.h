/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Turning what procfs read into k2i's JSON process objects, plus the values
 * derived from it (%CPU, %MEM, start time, names) that filters and sort keys
 * use too. Pure over its inputs; called on HTTP threads.
 */
#ifndef KUMO_K2I_RENDER_H
#define KUMO_K2I_RENDER_H

#include "procfs.h"
#include "query.h"
#include "sbuf.h"
#include "users.h"

#include <stdbool.h>
#include <stdint.h>

struct sampler_snap;

/* Per-request constants. */
struct render_ctx {
    long hz;
    long page_kb;
    int ncpus;
    uint64_t memtotal_kb;
    double uptime_sec; /* CLOCK_BOOTTIME now */
    double boot_epoch; /* realtime of boot */
    uint64_t now_mono_usec;
    const struct sampler_snap *snap; /* NULL: recent CPU = lifetime CPU */
};

/* Values computed from a sample, filled lazily as fields need them. */
struct derived {
    double cpu, cpu_recent, mem;
    int64_t rss_kb; /* VmRSS when status was read, else stat's rss */
    double start_time, elapsed;
    char user[USERS_NAME_MAX];
    char group[USERS_NAME_MAX];
    char tty[32];
    bool has_tty;
    char container[PROCFS_CONTAINER_ID_MAX + 1];
    size_t container_len;
};

/* Fill ctx's clock values for now. */
void render_ctx_now(struct render_ctx *rc);

/* Compute everything in d that the fields need (need = field bitmask). */
void render_derive(const struct render_ctx *rc, const struct proc_sample *ps, uint64_t fields,
                   struct derived *d);

/*
 * Append one process object with the given fields. environ (NUL-separated
 * KEY=VALUE, borrowed) is rendered only when non-NULL and the field is set.
 */
int render_process(struct sbuf *b, const struct render_ctx *rc, const struct proc_sample *ps,
                   const struct derived *d, uint64_t fields, const char *environ,
                   size_t environ_len);

/* Sort key value of a field: numeric in *num, or a string (borrowed) in *str. */
void render_sort_key(const struct proc_sample *ps, const struct derived *d, enum k2i_field f,
                     const struct render_ctx *rc, double *num, const char **str, size_t *len);

#endif
