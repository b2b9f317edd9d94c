/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Process objects as JSON (see render.h and docs/k2i-api.md for the keys
 * and their ps/top meanings).
 */
#include "render.h"
#include "jw.h"
#include "sampler.h"

#include <string.h>
#include <time.h>

static double
ts_sec(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void
render_ctx_now(struct render_ctx *rc)
{
    double real = ts_sec(CLOCK_REALTIME);
    rc->uptime_sec = ts_sec(CLOCK_BOOTTIME);
    rc->boot_epoch = real - rc->uptime_sec;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    rc->now_mono_usec = (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

#define NEEDS(fields, f) ((fields)&K2I_FIELD_BIT(f))

void
render_derive(const struct render_ctx *rc, const struct proc_sample *ps, uint64_t fields,
              struct derived *d)
{
    const struct procfs_stat *st = &ps->stat;
    double hz = (double)rc->hz;
    double start = (double)st->starttime / hz;
    d->elapsed = rc->uptime_sec - start;
    if (d->elapsed < 0)
        d->elapsed = 0;
    d->start_time = rc->boot_epoch + start;
    double cputime = (double)(st->utime + st->stime) / hz;
    /* ps: CPU time over the whole life. */
    d->cpu = d->elapsed > 0 ? cputime / d->elapsed * 100.0 : 0;

    if (NEEDS(fields, K2I_F_CPU_RECENT)) {
        d->cpu_recent = d->cpu;
        if (rc->snap) {
            const struct sampler_entry *e =
                ps->tid > 0 ? sampler_find(rc->snap->threads, rc->snap->nthreads, ps->tid)
                            : sampler_find(rc->snap->procs, rc->snap->nprocs, ps->pid);
            double window = (double)(rc->now_mono_usec - rc->snap->mono_usec) / 1e6;
            uint64_t ticks = st->utime + st->stime;
            if (e && e->starttime == st->starttime && window > 0 && ticks >= e->ticks)
                d->cpu_recent = (double)(ticks - e->ticks) / hz / window * 100.0;
        }
        double cap = 100.0 * (rc->ncpus > 0 ? rc->ncpus : 1);
        if (d->cpu_recent > cap)
            d->cpu_recent = cap;
    }
    d->rss_kb = (ps->have & PROCFS_NEED_STATUS) && ps->ids.vmrss_kb >= 0 ? ps->ids.vmrss_kb
                                                                         : st->rss * rc->page_kb;
    if (d->rss_kb < 0)
        d->rss_kb = 0;
    d->mem = rc->memtotal_kb ? (double)d->rss_kb * 100.0 / (double)rc->memtotal_kb : 0;
    if (d->mem < 0)
        d->mem = 0;
    if ((ps->have & PROCFS_NEED_STATUS) && NEEDS(fields, K2I_F_USER))
        users_name(0, ps->ids.uid[1], d->user);
    if ((ps->have & PROCFS_NEED_STATUS) && NEEDS(fields, K2I_F_GROUP))
        users_name(1, ps->ids.gid[1], d->group);
    d->has_tty = procfs_tty_name(st->tty_nr, d->tty, sizeof(d->tty));
    d->container_len = 0;
    d->container[0] = '\0';
    if (ps->have & PROCFS_NEED_CGROUP)
        d->container_len =
            procfs_container_id(ps->cgroup, ps->cgroup_len, d->container, sizeof(d->container));
}

static int
put_cmdline(struct sbuf *b, const struct proc_sample *ps)
{
    int r = sbuf_putc(b, '[');
    const char *p = ps->cmdline, *end = p ? p + ps->cmdline_len : NULL;
    bool first = true;
    while (r == 0 && p && p < end) {
        const char *z = memchr(p, '\0', (size_t)(end - p));
        const char *e = z ? z : end;
        if (!first)
            r = sbuf_putc(b, ',');
        first = false;
        if (r == 0)
            r = jw_str(b, p, (size_t)(e - p));
        p = e + 1;
    }
    return r ? r : sbuf_putc(b, ']');
}

static int
put_cgroups(struct sbuf *b, const struct proc_sample *ps)
{
    int r = sbuf_putc(b, '[');
    const char *p = ps->cgroup, *end = p ? p + ps->cgroup_len : NULL;
    bool first = true;
    while (r == 0 && p && p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *le = nl ? nl : end;
        const char *c1 = memchr(p, ':', (size_t)(le - p));
        const char *c2 = c1 ? memchr(c1 + 1, ':', (size_t)(le - c1 - 1)) : NULL;
        if (c2) {
            uint64_t id = 0;
            for (const char *q = p; q < c1 && *q >= '0' && *q <= '9'; q++)
                id = id * 10 + (uint64_t)(*q - '0');
            if (!first)
                r = sbuf_putc(b, ',');
            first = false;
            r = r ? r : sbuf_puts(b, "{\"id\":");
            r = r ? r : jw_u64(b, id);
            r = r ? r : sbuf_puts(b, ",\"controllers\":");
            r = r ? r : jw_str(b, c1 + 1, (size_t)(c2 - c1 - 1));
            r = r ? r : sbuf_puts(b, ",\"path\":");
            r = r ? r : jw_str(b, c2 + 1, (size_t)(le - c2 - 1));
            r = r ? r : sbuf_putc(b, '}');
        }
        p = le + 1;
    }
    return r ? r : sbuf_putc(b, ']');
}

static int
put_environ(struct sbuf *b, const char *env, size_t len)
{
    int r = sbuf_putc(b, '{');
    const char *p = env, *end = env + len;
    bool first = true;
    while (r == 0 && p < end) {
        const char *z = memchr(p, '\0', (size_t)(end - p));
        const char *e = z ? z : end;
        if (e > p) {
            const char *eq = memchr(p, '=', (size_t)(e - p));
            if (!first)
                r = sbuf_putc(b, ',');
            first = false;
            if (eq) {
                r = r ? r : jw_str(b, p, (size_t)(eq - p));
                r = r ? r : sbuf_putc(b, ':');
                r = r ? r : jw_str(b, eq + 1, (size_t)(e - eq - 1));
            } else {
                r = r ? r : jw_str(b, p, (size_t)(e - p));
                r = r ? r : sbuf_puts(b, ":\"\"");
            }
        }
        p = e + 1;
    }
    return r ? r : sbuf_putc(b, '}');
}

int
render_process(struct sbuf *b, const struct render_ctx *rc, const struct proc_sample *ps,
               const struct derived *d, uint64_t fields, const char *environ, size_t environ_len)
{
    const struct procfs_stat *st = &ps->stat;
    double hz = (double)rc->hz;
    bool first = true;
    bool status = ps->have & PROCFS_NEED_STATUS;
    int r = sbuf_putc(b, '{');

    for (int f = 0; f < K2I_F_COUNT && r == 0; f++) {
        if (!NEEDS(fields, f))
            continue;
        if (f == K2I_F_TID && ps->tid == 0)
            continue;
        if (f == K2I_F_ENVIRON && !environ)
            continue;
        if (f == K2I_F_NAMESPACES && !(ps->have & PROCFS_NEED_NS))
            continue;
        if ((f == K2I_F_CGROUPS || f == K2I_F_CONTAINER) && !(ps->have & PROCFS_NEED_CGROUP))
            continue;
        if (k2i_fields[f].need & PROCFS_NEED_STATUS && !status)
            continue;
        r = jw_key(b, &first, k2i_fields[f].name);
        if (r)
            break;
        switch (f) {
        case K2I_F_PID:
            r = jw_i64(b, ps->pid);
            break;
        case K2I_F_TID:
            r = jw_i64(b, ps->tid);
            break;
        case K2I_F_PPID:
            r = jw_i64(b, st->ppid);
            break;
        case K2I_F_PGRP:
            r = jw_i64(b, st->pgrp);
            break;
        case K2I_F_SID:
            r = jw_i64(b, st->sid);
            break;
        case K2I_F_TTY:
            r = d->has_tty ? jw_cstr(b, d->tty) : sbuf_puts(b, "null");
            break;
        case K2I_F_STATE: {
            char s[1] = { st->state };
            r = jw_str(b, s, 1);
            break;
        }
        case K2I_F_USER:
            r = jw_cstr(b, d->user);
            break;
        case K2I_F_GROUP:
            r = jw_cstr(b, d->group);
            break;
        case K2I_F_UID:
            r = jw_u64(b, ps->ids.uid[0]);
            break;
        case K2I_F_GID:
            r = jw_u64(b, ps->ids.gid[0]);
            break;
        case K2I_F_EUID:
            r = jw_u64(b, ps->ids.uid[1]);
            break;
        case K2I_F_EGID:
            r = jw_u64(b, ps->ids.gid[1]);
            break;
        case K2I_F_COMM:
            r = jw_cstr(b, st->comm);
            break;
        case K2I_F_CMDLINE:
            r = put_cmdline(b, ps);
            break;
        case K2I_F_THREADS:
            r = jw_i64(b, st->num_threads);
            break;
        case K2I_F_UTIME:
            r = jw_fixed(b, (double)st->utime / hz, 2);
            break;
        case K2I_F_STIME:
            r = jw_fixed(b, (double)st->stime / hz, 2);
            break;
        case K2I_F_TIME:
            r = jw_fixed(b, (double)(st->utime + st->stime) / hz, 2);
            break;
        case K2I_F_START_TIME:
            r = jw_fixed(b, d->start_time, 2);
            break;
        case K2I_F_ELAPSED:
            r = jw_fixed(b, d->elapsed, 2);
            break;
        case K2I_F_CPU:
            r = jw_fixed(b, d->cpu, 2);
            break;
        case K2I_F_CPU_RECENT:
            r = jw_fixed(b, d->cpu_recent, 2);
            break;
        case K2I_F_RSS:
            r = jw_i64(b, d->rss_kb);
            break;
        case K2I_F_VSZ:
            r = jw_u64(b, st->vsize / 1024);
            break;
        case K2I_F_MEM:
            r = jw_fixed(b, d->mem, 2);
            break;
        case K2I_F_NICE:
            r = jw_i64(b, st->nice);
            break;
        case K2I_F_PRIORITY:
            r = jw_i64(b, st->priority);
            break;
        case K2I_F_PROCESSOR:
            r = jw_i64(b, st->processor);
            break;
        case K2I_F_MINFLT:
            r = jw_u64(b, st->minflt);
            break;
        case K2I_F_MAJFLT:
            r = jw_u64(b, st->majflt);
            break;
        case K2I_F_CONTAINER:
            r = d->container_len ? jw_str(b, d->container, d->container_len) : sbuf_puts(b, "null");
            break;
        case K2I_F_CGROUPS:
            r = put_cgroups(b, ps);
            break;
        case K2I_F_NAMESPACES: {
            bool nfirst = true;
            r = sbuf_putc(b, '{');
            for (int i = 0; i < PROCFS_NS_COUNT && r == 0; i++) {
                if (!ps->ns[i])
                    continue;
                r = jw_key(b, &nfirst, procfs_ns_names[i]);
                r = r ? r : jw_u64(b, ps->ns[i]);
            }
            r = r ? r : sbuf_putc(b, '}');
            break;
        }
        case K2I_F_ENVIRON:
            r = put_environ(b, environ, environ_len);
            break;
        default:
            break;
        }
    }
    return r ? r : sbuf_putc(b, '}');
}

void
render_sort_key(const struct proc_sample *ps, const struct derived *d, enum k2i_field f,
                const struct render_ctx *rc, double *num, const char **str, size_t *len)
{
    const struct procfs_stat *st = &ps->stat;
    double hz = (double)rc->hz;
    *str = NULL;
    *len = 0;
    *num = 0;
    switch (f) {
    case K2I_F_PID:
        *num = ps->pid;
        break;
    case K2I_F_TID:
        *num = ps->tid;
        break;
    case K2I_F_PPID:
        *num = st->ppid;
        break;
    case K2I_F_PGRP:
        *num = st->pgrp;
        break;
    case K2I_F_SID:
        *num = st->sid;
        break;
    case K2I_F_TTY:
        *str = d->has_tty ? d->tty : "";
        break;
    case K2I_F_STATE:
        *str = &st->state;
        *len = 1;
        return;
    case K2I_F_USER:
        *str = d->user;
        break;
    case K2I_F_GROUP:
        *str = d->group;
        break;
    case K2I_F_UID:
        *num = ps->ids.uid[0];
        break;
    case K2I_F_GID:
        *num = ps->ids.gid[0];
        break;
    case K2I_F_EUID:
        *num = ps->ids.uid[1];
        break;
    case K2I_F_EGID:
        *num = ps->ids.gid[1];
        break;
    case K2I_F_COMM:
        *str = st->comm;
        break;
    case K2I_F_THREADS:
        *num = (double)st->num_threads;
        break;
    case K2I_F_UTIME:
        *num = (double)st->utime / hz;
        break;
    case K2I_F_STIME:
        *num = (double)st->stime / hz;
        break;
    case K2I_F_TIME:
        *num = (double)(st->utime + st->stime) / hz;
        break;
    case K2I_F_START_TIME:
        *num = d->start_time;
        break;
    case K2I_F_ELAPSED:
        *num = d->elapsed;
        break;
    case K2I_F_CPU:
        *num = d->cpu;
        break;
    case K2I_F_CPU_RECENT:
        *num = d->cpu_recent;
        break;
    case K2I_F_RSS:
    case K2I_F_MEM:
        *num = (double)d->rss_kb;
        break;
    case K2I_F_VSZ:
        *num = (double)st->vsize;
        break;
    case K2I_F_NICE:
        *num = (double)st->nice;
        break;
    case K2I_F_PRIORITY:
        *num = (double)st->priority;
        break;
    case K2I_F_PROCESSOR:
        *num = st->processor;
        break;
    case K2I_F_MINFLT:
        *num = (double)st->minflt;
        break;
    case K2I_F_MAJFLT:
        *num = (double)st->majflt;
        break;
    case K2I_F_CONTAINER:
        *str = d->container;
        *len = d->container_len;
        return;
    default:
        break;
    }
    if (*str)
        *len = strlen(*str);
}
