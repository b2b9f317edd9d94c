/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Direct /proc reader for k2i. Called by request handlers (one reader per
 * HTTP thread) and by the sampler thread (its own reader).
 *
 * Speed matters here: a full listing of 1,000 processes must stay within
 * 1.5x of merely reading their files. So: paths are built with a tiny
 * formatter instead of snprintf, files are opened with openat() on a
 * directory fd of the proc root, each file is read with a single read()
 * into a preallocated buffer when it fits (seq_file generates the whole
 * text on the first read, so a short read is the end; procps relies on the
 * same), and parsing walks the buffer once without allocating.
 */
#include "procfs.h"
#include "util.h"

#include <dirent.h>
#include <pthread.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

const char *const procfs_ns_names[PROCFS_NS_COUNT] = {
    "cgroup", "ipc", "mnt", "net", "pid", "time", "user", "uts",
};

#define STAT_BUF_SIZE    4096
#define STATUS_BUF_SIZE  8192
#define CMDLINE_BUF_INIT 4096
#define CGROUP_BUF_INIT  4096
#define MISC_BUF_INIT    8192

struct procfs_reader {
    int rootfd;
    struct procfs_fdcache *cache; /* held (locked) by the caller, or NULL */
    char statbuf[STAT_BUF_SIZE];
    char statusbuf[STATUS_BUF_SIZE];
    char *cmdline;
    size_t cmdline_cap;
    char *cgroup;
    size_t cgroup_cap;
    char *misc;
    size_t misc_cap;
};

struct procfs_reader *
procfs_reader_new(int rootfd)
{
    struct procfs_reader *r = calloc(1, sizeof(*r));
    if (!r)
        return NULL;
    r->rootfd = rootfd;
    r->cmdline_cap = CMDLINE_BUF_INIT;
    r->cgroup_cap = CGROUP_BUF_INIT;
    r->misc_cap = MISC_BUF_INIT;
    r->cmdline = malloc(r->cmdline_cap);
    r->cgroup = malloc(r->cgroup_cap);
    r->misc = malloc(r->misc_cap);
    if (!r->cmdline || !r->cgroup || !r->misc)
        return procfs_reader_free(r);
    return r;
}

struct procfs_reader *
procfs_reader_free(struct procfs_reader *r)
{
    if (r) {
        free(r->cmdline);
        free(r->cgroup);
        free(r->misc);
        free(r);
    }
    return NULL;
}

int
procfs_reader_rootfd(const struct procfs_reader *r)
{
    return r->rootfd;
}

void
procfs_reader_set_cache(struct procfs_reader *r, struct procfs_fdcache *cache)
{
    r->cache = cache;
}

/* Append the decimal form of v at p; returns the end. */
static char *
put_uint(char *p, unsigned v)
{
    char tmp[12];
    int n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (n)
        *p++ = tmp[--n];
    return p;
}

/* "PID/name" or "PID/task/TID/name" into buf (>= 64 bytes). */
static void
build_path(char *buf, int pid, int tid, const char *name)
{
    char *p = put_uint(buf, (unsigned)pid);
    *p++ = '/';
    if (tid > 0) {
        memcpy(p, "task/", 5);
        p = put_uint(p + 5, (unsigned)tid);
        *p++ = '/';
    }
    size_t n = strlen(name);
    memcpy(p, name, n + 1);
}

/*
 * Fill a fixed buffer from an open /proc file, from offset 0 (pread, so a
 * kept fd regenerates the file's text). One call when it fits: seq_file
 * generates the whole text on the first read, so a short read is the end.
 * Returns the length (NUL-terminated, truncated at cap-1) or -errno.
 */
static ssize_t
fill_fixed(int fd, char *buf, size_t cap)
{
    size_t off = 0;
    while (off < cap - 1) {
        size_t want = cap - 1 - off;
        ssize_t n = pread(fd, buf + off, want, (off_t)off);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        off += (size_t)n;
        if ((size_t)n < want)
            break;
    }
    buf[off] = '\0';
    return (ssize_t)off;
}

/* Like fill_fixed into a growable buffer, up to max bytes. */
static ssize_t
fill_grow(int fd, char **buf, size_t *cap, size_t max, bool *truncated)
{
    size_t off = 0;
    *truncated = false;
    for (;;) {
        if (off + 1 >= *cap) {
            if (*cap >= max + 1) {
                *truncated = true;
                break;
            }
            size_t ncap = *cap * 2 > max + 1 ? max + 1 : *cap * 2;
            char *nb = realloc(*buf, ncap);
            if (!nb)
                return -ENOMEM;
            *buf = nb;
            *cap = ncap;
        }
        size_t want = *cap - 1 - off;
        ssize_t n = pread(fd, *buf + off, want, (off_t)off);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        off += (size_t)n;
        if (n == 0 || (size_t)n < want)
            break;
    }
    (*buf)[off] = '\0';
    return (ssize_t)off;
}

static int
open_rel(int dirfd, const char *path)
{
    int fd = openat(dirfd, path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    return fd < 0 ? -errno : fd;
}

static ssize_t
read_fixed(int dirfd, const char *path, char *buf, size_t cap)
{
    int fd = open_rel(dirfd, path);
    if (fd < 0)
        return fd;
    ssize_t n = fill_fixed(fd, buf, cap);
    close(fd);
    return n;
}

static ssize_t
read_grow(int dirfd, const char *path, char **buf, size_t *cap, size_t max, bool *truncated)
{
    int fd = open_rel(dirfd, path);
    if (fd < 0)
        return fd;
    ssize_t n = fill_grow(fd, buf, cap, max, truncated);
    close(fd);
    return n;
}

/* ---- kept fds ---- */

enum {
    KEPT_STAT,
    KEPT_STATUS,
    KEPT_CMDLINE,
    KEPT_COUNT,
};

struct kept {
    int pid; /* 0: free slot */
    uint32_t gen;
    int fd[KEPT_COUNT];
};

struct procfs_fdcache {
    pthread_mutex_t lock;
    size_t max;    /* processes */
    size_t nslots; /* power of two >= 2 * max */
    size_t used;
    uint32_t gen;
    struct kept *slots;
};

struct procfs_fdcache *
procfs_fdcache_new(size_t max_procs)
{
    if (max_procs == 0)
        return NULL;
    struct procfs_fdcache *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    c->max = max_procs;
    c->nslots = 16;
    while (c->nslots < 2 * max_procs)
        c->nslots *= 2;
    c->slots = calloc(c->nslots, sizeof(*c->slots));
    if (!c->slots) {
        free(c);
        return NULL;
    }
    pthread_mutex_init(&c->lock, NULL);
    return c;
}

static void
kept_close(struct kept *k)
{
    for (int i = 0; i < KEPT_COUNT; i++) {
        if (k->fd[i] >= 0)
            close(k->fd[i]);
        k->fd[i] = -1;
    }
}

struct procfs_fdcache *
procfs_fdcache_free(struct procfs_fdcache *c)
{
    if (!c)
        return NULL;
    for (size_t i = 0; i < c->nslots; i++)
        if (c->slots[i].pid)
            kept_close(&c->slots[i]);
    free(c->slots);
    pthread_mutex_destroy(&c->lock);
    free(c);
    return NULL;
}

bool
procfs_fdcache_acquire(struct procfs_fdcache *c, bool wait)
{
    if (!c)
        return false;
    if (wait)
        pthread_mutex_lock(&c->lock);
    else if (pthread_mutex_trylock(&c->lock) != 0)
        return false;
    c->gen++;
    return true;
}

void
procfs_fdcache_release(struct procfs_fdcache *c, bool sweep)
{
    if (sweep) {
        /* Close the fds of processes this pass did not see, then rehash. */
        size_t n = 0;
        for (size_t i = 0; i < c->nslots; i++) {
            struct kept *k = &c->slots[i];
            if (k->pid && k->gen != c->gen) {
                kept_close(k);
                k->pid = 0;
            } else if (k->pid) {
                n++;
            }
        }
        struct kept *keep = malloc((n ? n : 1) * sizeof(*keep));
        size_t j = 0;
        for (size_t i = 0; i < c->nslots; i++) {
            if (!c->slots[i].pid)
                continue;
            if (keep)
                keep[j++] = c->slots[i];
            else
                kept_close(&c->slots[i]); /* out of memory: start over empty */
        }
        memset(c->slots, 0, c->nslots * sizeof(*c->slots));
        for (size_t i = 0; i < j; i++) {
            size_t h = ((uint32_t)keep[i].pid * 2654435761u) & (c->nslots - 1);
            while (c->slots[h].pid)
                h = (h + 1) & (c->nslots - 1);
            c->slots[h] = keep[i];
        }
        free(keep);
        c->used = j;
    }
    pthread_mutex_unlock(&c->lock);
}

size_t
procfs_fdcache_count(struct procfs_fdcache *c)
{
    return c ? c->used : 0;
}

/* The entry of pid, created if there is room; NULL when full. */
static struct kept *
kept_get(struct procfs_fdcache *c, int pid)
{
    size_t h = ((uint32_t)pid * 2654435761u) & (c->nslots - 1);
    for (;;) {
        struct kept *k = &c->slots[h];
        if (k->pid == pid) {
            k->gen = c->gen;
            return k;
        }
        if (!k->pid) {
            if (c->used >= c->max)
                return NULL;
            k->pid = pid;
            k->gen = c->gen;
            for (int i = 0; i < KEPT_COUNT; i++)
                k->fd[i] = -1;
            c->used++;
            return k;
        }
        h = (h + 1) & (c->nslots - 1);
    }
}

/* Field scanners over [*p, end): skip one space, parse a number. */
static int
scan_u64(const char **p, const char *end, uint64_t *ret)
{
    const char *s = *p;
    while (s < end && *s == ' ')
        s++;
    if (s >= end || *s < '0' || *s > '9')
        return -EINVAL;
    uint64_t v = 0;
    while (s < end && *s >= '0' && *s <= '9') {
        unsigned d = (unsigned)(*s - '0');
        if (v > (UINT64_MAX - d) / 10)
            return -EINVAL;
        v = v * 10 + d;
        s++;
    }
    if (s < end && *s != ' ' && *s != '\n')
        return -EINVAL;
    *p = s;
    *ret = v;
    return 0;
}

static int
scan_i64(const char **p, const char *end, int64_t *ret)
{
    const char *s = *p;
    while (s < end && *s == ' ')
        s++;
    bool neg = false;
    if (s < end && *s == '-') {
        neg = true;
        s++;
    }
    *p = s;
    uint64_t v;
    int r = scan_u64(p, end, &v);
    if (r < 0)
        return r;
    if (v > (uint64_t)INT64_MAX)
        return -EINVAL;
    *ret = neg ? -(int64_t)v : (int64_t)v;
    return 0;
}

static int
scan_int(const char **p, const char *end, int *ret)
{
    int64_t v;
    int r = scan_i64(p, end, &v);
    if (r < 0)
        return r;
    if (v < INT32_MIN || v > INT32_MAX)
        return -EINVAL;
    *ret = (int)v;
    return 0;
}

int
procfs_parse_stat(const char *buf, size_t len, struct procfs_stat *ret)
{
    struct procfs_stat st;
    memset(&st, 0, sizeof(st));
    st.processor = -1;
    const char *end = buf + len;
    const char *p = buf;

    if (scan_int(&p, end, &st.pid) < 0 || st.pid <= 0)
        return -EINVAL;
    /* comm may contain spaces and parentheses: it ends at the last ')'. */
    const char *open = memchr(p, '(', (size_t)(end - p));
    if (!open || open != p + 1)
        return -EINVAL;
    const char *close_p = NULL;
    for (const char *q = end; q > open;) {
        q--;
        if (*q == ')') {
            close_p = q;
            break;
        }
    }
    if (!close_p)
        return -EINVAL;
    size_t clen = (size_t)(close_p - open - 1);
    if (clen >= sizeof(st.comm))
        clen = sizeof(st.comm) - 1;
    memcpy(st.comm, open + 1, clen);
    st.comm[clen] = '\0';

    p = close_p + 1;
    if (end - p < 3 || p[0] != ' ')
        return -EINVAL;
    st.state = p[1];
    if (st.state < 'A' || st.state > 'z' || p[2] != ' ')
        return -EINVAL;
    p += 2;

    int64_t itreal, rss;
    uint64_t flags;
    if (scan_int(&p, end, &st.ppid) < 0 || scan_int(&p, end, &st.pgrp) < 0 ||
        scan_int(&p, end, &st.sid) < 0 || scan_int(&p, end, &st.tty_nr) < 0 ||
        scan_int(&p, end, &st.tpgid) < 0 || scan_u64(&p, end, &flags) < 0 ||
        scan_u64(&p, end, &st.minflt) < 0 || scan_u64(&p, end, &st.cminflt) < 0 ||
        scan_u64(&p, end, &st.majflt) < 0 || scan_u64(&p, end, &st.cmajflt) < 0 ||
        scan_u64(&p, end, &st.utime) < 0 || scan_u64(&p, end, &st.stime) < 0 ||
        scan_i64(&p, end, &st.cutime) < 0 || scan_i64(&p, end, &st.cstime) < 0 ||
        scan_i64(&p, end, &st.priority) < 0 || scan_i64(&p, end, &st.nice) < 0 ||
        scan_i64(&p, end, &st.num_threads) < 0 || scan_i64(&p, end, &itreal) < 0 ||
        scan_u64(&p, end, &st.starttime) < 0 || scan_u64(&p, end, &st.vsize) < 0 ||
        scan_i64(&p, end, &rss) < 0)
        return -EINVAL;
    st.flags = (unsigned)flags;
    st.rss = rss;

    /* Fields 25..38 are skipped; 39..41 are optional (old kernels). */
    uint64_t skip;
    int64_t exit_signal;
    int i;
    for (i = 25; i <= 37; i++) {
        if (scan_u64(&p, end, &skip) < 0)
            break;
    }
    if (i > 37 && scan_i64(&p, end, &exit_signal) == 0) {
        int cpu;
        uint64_t rtprio, policy;
        if (scan_int(&p, end, &cpu) == 0) {
            st.processor = cpu;
            if (scan_u64(&p, end, &rtprio) == 0) {
                st.rt_priority = (unsigned)rtprio;
                if (scan_u64(&p, end, &policy) == 0)
                    st.policy = (unsigned)policy;
            }
        }
    }
    *ret = st;
    return 0;
}

/* Parse "\tA\tB\tC\tD" after a "Uid:" label into v[4]. */
static int
parse_id_line(const char *p, const char *end, uint32_t v[4])
{
    for (int i = 0; i < 4; i++) {
        while (p < end && (*p == '\t' || *p == ' '))
            p++;
        if (p >= end || *p < '0' || *p > '9')
            return -EINVAL;
        uint64_t x = 0;
        while (p < end && *p >= '0' && *p <= '9') {
            x = x * 10 + (uint64_t)(*p - '0');
            if (x > UINT32_MAX)
                return -EINVAL;
            p++;
        }
        v[i] = (uint32_t)x;
    }
    return 0;
}

static const char *
find_line(const char *buf, size_t len, const char *label, size_t llen)
{
    const char *p = buf, *end = buf + len;
    while (p < end) {
        if ((size_t)(end - p) >= llen && memcmp(p, label, llen) == 0)
            return p + llen;
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        if (!nl)
            break;
        p = nl + 1;
    }
    return NULL;
}

int
procfs_parse_status_ids(const char *buf, size_t len, struct procfs_ids *ret)
{
    struct procfs_ids ids;
    const char *end = buf + len;
    const char *u = find_line(buf, len, "Uid:", 4);
    const char *g = find_line(buf, len, "Gid:", 4);
    if (!u || !g)
        return -EINVAL;
    const char *ue = memchr(u, '\n', (size_t)(end - u));
    const char *ge = memchr(g, '\n', (size_t)(end - g));
    if (parse_id_line(u, ue ? ue : end, ids.uid) < 0 ||
        parse_id_line(g, ge ? ge : end, ids.gid) < 0)
        return -EINVAL;
    ids.tgid = 0;
    const char *t = find_line(buf, len, "Tgid:", 5);
    if (t) {
        while (t < end && (*t == '\t' || *t == ' '))
            t++;
        int v = 0;
        while (t < end && *t >= '0' && *t <= '9' && v <= PROCFS_PID_MAX)
            v = v * 10 + (*t++ - '0');
        ids.tgid = v;
    }
    /*
     * stat's rss comes from per-CPU counters that may lag by up to a few
     * hundred KiB; status sums them exactly, and ps prints VmRSS.
     */
    ids.vmrss_kb = -1;
    const char *m = find_line(buf, len, "VmRSS:", 6);
    if (m) {
        while (m < end && (*m == '\t' || *m == ' '))
            m++;
        int64_t v = 0;
        while (m < end && *m >= '0' && *m <= '9' && v < INT64_MAX / 10)
            v = v * 10 + (*m++ - '0');
        ids.vmrss_kb = v;
    }
    *ret = ids;
    return 0;
}

size_t
procfs_container_id(const char *cgroup, size_t len, char *buf, size_t cap)
{
    const char *p = cgroup, *end = cgroup + len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *le = nl ? nl : end;
        /* "ID:controllers:/path": the path starts after the second ':'. */
        const char *c1 = memchr(p, ':', (size_t)(le - p));
        const char *c2 = c1 ? memchr(c1 + 1, ':', (size_t)(le - c1 - 1)) : NULL;
        if (c2) {
            const char *path = c2 + 1;
            for (const char *s = path; s + 6 <= le; s++) {
                if (*s != '/' || memcmp(s + 1, "kumo/", 5) != 0)
                    continue;
                const char *id = s + 6, *e = id;
                while (e < le && container_id_char(*e))
                    e++;
                size_t n = (size_t)(e - id);
                bool whole = e == le || *e == '/';
                if (n > 0 && n <= PROCFS_CONTAINER_ID_MAX && whole && n < cap &&
                    !(n <= 2 && id[0] == '.')) {
                    memcpy(buf, id, n);
                    buf[n] = '\0';
                    return n;
                }
            }
        }
        p = le + 1;
    }
    return 0;
}

uint64_t
procfs_parse_ns_link(const char *buf, size_t len)
{
    const char *lb = memchr(buf, '[', len);
    if (!lb || len < 3 || buf[len - 1] != ']')
        return 0;
    uint64_t v = 0;
    const char *p = lb + 1;
    if (p >= buf + len - 1)
        return 0;
    for (; p < buf + len - 1; p++) {
        if (*p < '0' || *p > '9' || v > UINT64_MAX / 10 - 1)
            return 0;
        v = v * 10 + (uint64_t)(*p - '0');
    }
    return v;
}

bool
procfs_tty_name(int tty_nr, char *buf, size_t cap)
{
    if (tty_nr == 0)
        return false;
    unsigned dev = (unsigned)tty_nr;
    unsigned maj = (dev >> 8) & 0xfff;
    unsigned min = (dev & 0xff) | ((dev >> 12) & 0xfff00);
    if (maj >= 136 && maj <= 143)
        snprintf(buf, cap, "pts/%u", min + (maj - 136) * 256);
    else if (maj == 4 && min < 64)
        snprintf(buf, cap, "tty%u", min);
    else if (maj == 4)
        snprintf(buf, cap, "ttyS%u", min - 64);
    else if (maj == 5 && min == 1)
        snprintf(buf, cap, "console");
    else if (maj == 5 && min == 0)
        snprintf(buf, cap, "tty");
    else if (maj == 188)
        snprintf(buf, cap, "ttyUSB%u", min);
    else if (maj == 166)
        snprintf(buf, cap, "ttyACM%u", min);
    else
        snprintf(buf, cap, "%u:%u", maj, min);
    return true;
}

int
procfs_read_ns(int rootfd, int pid, uint64_t ret_ns[PROCFS_NS_COUNT])
{
    char path[64], link[64];
    int n = 0;
    for (int i = 0; i < PROCFS_NS_COUNT; i++) {
        char name[16];
        snprintf(name, sizeof(name), "ns/%s", procfs_ns_names[i]);
        build_path(path, pid, 0, name);
        ssize_t l = readlinkat(rootfd, path, link, sizeof(link) - 1);
        ret_ns[i] = l > 0 ? procfs_parse_ns_link(link, (size_t)l) : 0;
        if (ret_ns[i])
            n++;
    }
    return n;
}

/*
 * Read file `name` of a process into buf, through its kept fd when the
 * reader has a cache (processes only, not threads). A kept fd of a process
 * that exited fails with ESRCH even if the pid was reused (it refers to the
 * old struct pid), so it can never show another process: then all of that
 * entry's fds are closed and the file is opened afresh by path.
 */
static ssize_t
read_kept(struct procfs_reader *r, int pid, int kind, const char *name, char **buf, size_t *cap,
          size_t max, bool grow, bool *truncated)
{
    char path[64];
    struct kept *k = r->cache ? kept_get(r->cache, pid) : NULL;
    *truncated = false;
    if (k && k->fd[kind] >= 0) {
        ssize_t n = grow ? fill_grow(k->fd[kind], buf, cap, max, truncated)
                         : fill_fixed(k->fd[kind], *buf, *cap);
        if (n >= 0 || n == -ENOMEM)
            return n;
        kept_close(k);
    }
    build_path(path, pid, 0, name);
    int fd = open_rel(r->rootfd, path);
    if (fd < 0)
        return fd;
    ssize_t n = grow ? fill_grow(fd, buf, cap, max, truncated) : fill_fixed(fd, *buf, *cap);
    if (k && n >= 0)
        k->fd[kind] = fd;
    else
        close(fd);
    return n;
}

int
procfs_read(struct procfs_reader *r, int pid, int tid, unsigned need, struct proc_sample *ret)
{
    char path[64];
    ssize_t n;

    if (pid <= 0 || pid > PROCFS_PID_MAX || tid < 0 || tid > PROCFS_PID_MAX)
        return -ENOENT;
    ret->pid = pid;
    ret->tid = tid;
    ret->have = 0;
    ret->cmdline = NULL;
    ret->cmdline_len = 0;
    ret->cmdline_truncated = false;
    ret->cgroup = NULL;
    ret->cgroup_len = 0;
    memset(ret->ns, 0, sizeof(ret->ns));

    bool kept = r->cache && tid == 0, trunc;
    char *fixed;
    size_t fixed_cap;
    if (need & PROCFS_NEED_STAT) {
        fixed = r->statbuf;
        fixed_cap = sizeof(r->statbuf);
        if (kept) {
            n = read_kept(r, pid, KEPT_STAT, "stat", &fixed, &fixed_cap, 0, false, &trunc);
        } else {
            build_path(path, pid, tid, "stat");
            n = read_fixed(r->rootfd, path, r->statbuf, sizeof(r->statbuf));
        }
        if (n < 0)
            return (int)n;
        if (procfs_parse_stat(r->statbuf, (size_t)n, &ret->stat) < 0)
            return n == 0 ? -ESRCH : -EINVAL;
        ret->have |= PROCFS_NEED_STAT;
    }
    if (need & PROCFS_NEED_STATUS) {
        fixed = r->statusbuf;
        fixed_cap = sizeof(r->statusbuf);
        if (kept) {
            n = read_kept(r, pid, KEPT_STATUS, "status", &fixed, &fixed_cap, 0, false, &trunc);
        } else {
            build_path(path, pid, tid, "status");
            n = read_fixed(r->rootfd, path, r->statusbuf, sizeof(r->statusbuf));
        }
        if (n < 0)
            return (int)n;
        if (procfs_parse_status_ids(r->statusbuf, (size_t)n, &ret->ids) < 0)
            return n == 0 ? -ESRCH : -EINVAL;
        ret->have |= PROCFS_NEED_STATUS;
    }
    if (need & PROCFS_NEED_CMDLINE) {
        if (kept) {
            n = read_kept(r, pid, KEPT_CMDLINE, "cmdline", &r->cmdline, &r->cmdline_cap,
                          PROCFS_CMDLINE_MAX, true, &ret->cmdline_truncated);
        } else {
            build_path(path, pid, tid, "cmdline");
            n = read_grow(r->rootfd, path, &r->cmdline, &r->cmdline_cap, PROCFS_CMDLINE_MAX,
                          &ret->cmdline_truncated);
        }
        if (n < 0)
            return (int)n;
        /* The kernel ends every argument with NUL; drop the last one. */
        size_t l = (size_t)n;
        if (l > 0 && r->cmdline[l - 1] == '\0')
            l--;
        ret->cmdline = r->cmdline;
        ret->cmdline_len = l;
        ret->have |= PROCFS_NEED_CMDLINE;
    }
    if (need & PROCFS_NEED_CGROUP) {
        build_path(path, pid, tid, "cgroup");
        n = read_grow(r->rootfd, path, &r->cgroup, &r->cgroup_cap, PROCFS_CGROUP_MAX, &trunc);
        if (n >= 0) {
            ret->cgroup = r->cgroup;
            ret->cgroup_len = (size_t)n;
            ret->have |= PROCFS_NEED_CGROUP;
        } else if (n == -ENOENT || n == -ESRCH) {
            return (int)n;
        }
    }
    if (need & PROCFS_NEED_NS) {
        if (procfs_read_ns(r->rootfd, tid > 0 ? tid : pid, ret->ns) > 0)
            ret->have |= PROCFS_NEED_NS;
    }
    return 0;
}

struct linux_dirent64 {
    uint64_t d_ino;
    int64_t d_off;
    unsigned short d_reclen;
    unsigned char d_type;
    char d_name[];
};

static int
cmp_int(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

int
procfs_list(struct procfs_reader *r, int pid, int **ret_ids)
{
    int fd;
    if (pid > 0) {
        char path[64];
        build_path(path, pid, 0, "task");
        fd = openat(r->rootfd, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    } else {
        fd = openat(r->rootfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    }
    if (fd < 0)
        return -errno;

    size_t cap = 1024, n = 0;
    int *ids = malloc(cap * sizeof(*ids));
    char dbuf[32768];
    bool sorted = true;
    if (!ids) {
        close(fd);
        return -ENOMEM;
    }
    for (;;) {
        long got = syscall(SYS_getdents64, fd, dbuf, sizeof(dbuf));
        if (got < 0) {
            int e = errno;
            if (e == EINTR)
                continue;
            free(ids);
            close(fd);
            return -e;
        }
        if (got == 0)
            break;
        for (long off = 0; off < got;) {
            struct linux_dirent64 *d = (struct linux_dirent64 *)(dbuf + off);
            off += d->d_reclen;
            const char *s = d->d_name;
            if (*s < '1' || *s > '9')
                continue;
            unsigned v = 0;
            bool ok = true;
            for (; *s; s++) {
                if (*s < '0' || *s > '9' || v > PROCFS_PID_MAX) {
                    ok = false;
                    break;
                }
                v = v * 10 + (unsigned)(*s - '0');
            }
            if (!ok || v > PROCFS_PID_MAX)
                continue;
            if (n == cap) {
                int *ni = realloc(ids, cap * 2 * sizeof(*ids));
                if (!ni) {
                    free(ids);
                    close(fd);
                    return -ENOMEM;
                }
                ids = ni;
                cap *= 2;
            }
            if (n > 0 && ids[n - 1] > (int)v)
                sorted = false;
            ids[n++] = (int)v;
        }
    }
    close(fd);
    if (!sorted)
        qsort(ids, n, sizeof(*ids), cmp_int);
    *ret_ids = ids;
    return (int)n;
}

const char *
procfs_read_misc(struct procfs_reader *r, const char *path, size_t *ret_len)
{
    bool trunc;
    ssize_t n = read_grow(r->rootfd, path, &r->misc, &r->misc_cap, 1 << 20, &trunc);
    if (n < 0) {
        errno = (int)-n;
        return NULL;
    }
    if (ret_len)
        *ret_len = (size_t)n;
    return r->misc;
}
