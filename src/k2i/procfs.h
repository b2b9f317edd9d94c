/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Direct /proc reader. A struct procfs_reader owns preallocated buffers and
 * borrows a directory fd of a proc root (/proc, or a fixture tree in tests);
 * procfs_read() opens with openat() only the files the caller's need mask
 * names (a stat-only listing reads only PID/stat) and parses them in place.
 *
 * Not thread-safe: one reader per thread. Parsers are pure functions over a
 * buffer and are what the unit tests and the fuzz target exercise.
 */
#ifndef KUMO_K2I_PROCFS_H
#define KUMO_K2I_PROCFS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define PROCFS_COMM_MAX 64
/* Command lines longer than this are served truncated (ARG_MAX is larger). */
#define PROCFS_CMDLINE_MAX (256 * 1024)
#define PROCFS_CGROUP_MAX  (64 * 1024)
/* Valid pids are 1..PID_MAX_LIMIT (4M on 64-bit kernels). */
#define PROCFS_PID_MAX 4194304

/* What procfs_read() should read; each bit is one file under /proc/PID. */
enum {
    PROCFS_NEED_STAT = 1u << 0,
    PROCFS_NEED_STATUS = 1u << 1,
    PROCFS_NEED_CMDLINE = 1u << 2,
    PROCFS_NEED_CGROUP = 1u << 3,
    PROCFS_NEED_NS = 1u << 4, /* ns/ links: need ptrace access, see privsep */
};

enum procfs_ns {
    PROCFS_NS_CGROUP,
    PROCFS_NS_IPC,
    PROCFS_NS_MNT,
    PROCFS_NS_NET,
    PROCFS_NS_PID,
    PROCFS_NS_TIME,
    PROCFS_NS_USER,
    PROCFS_NS_UTS,
    PROCFS_NS_COUNT,
};

/* "cgroup", "ipc", ... indexed by enum procfs_ns. */
extern const char *const procfs_ns_names[PROCFS_NS_COUNT];

/* Kernel thread flag in stat's flags field (PF_KTHREAD). */
#define PROCFS_PF_KTHREAD 0x00200000u

/* Fields of /proc/PID/stat (proc(5) numbering in comments). */
struct procfs_stat {
    int pid;                      /* 1 */
    char comm[PROCFS_COMM_MAX];   /* 2, without parentheses */
    char state;                   /* 3 */
    int ppid, pgrp, sid;          /* 4, 5, 6 */
    int tty_nr, tpgid;            /* 7, 8 */
    unsigned flags;               /* 9 */
    uint64_t minflt, cminflt;     /* 10, 11 */
    uint64_t majflt, cmajflt;     /* 12, 13 */
    uint64_t utime, stime;        /* 14, 15: clock ticks */
    int64_t cutime, cstime;       /* 16, 17 */
    int64_t priority, nice;       /* 18, 19 */
    int64_t num_threads;          /* 20 */
    uint64_t starttime;           /* 22: clock ticks after boot */
    uint64_t vsize;               /* 23: bytes */
    int64_t rss;                  /* 24: pages */
    int processor;                /* 39, -1 when the kernel does not report it */
    unsigned rt_priority, policy; /* 40, 41 */
};

/* Tgid:/Uid:/Gid: lines of /proc/PID/status: real, effective, saved, filesystem. */
struct procfs_ids {
    int tgid;         /* Tgid: the process a thread belongs to (0 if absent) */
    int64_t vmrss_kb; /* VmRSS: exact resident size in KiB; -1 if absent (kernel threads) */
    uint32_t uid[4];
    uint32_t gid[4];
};

/* One process (tid == 0) or thread as read by procfs_read(). */
struct proc_sample {
    int pid;
    int tid;
    unsigned have; /* PROCFS_NEED_* bits actually read */
    struct procfs_stat stat;
    struct procfs_ids ids;
    /* Borrowed from the reader until its next procfs_read(); NUL-separated. */
    const char *cmdline;
    size_t cmdline_len;
    bool cmdline_truncated;
    const char *cgroup;
    size_t cgroup_len;
    uint64_t ns[PROCFS_NS_COUNT]; /* 0 = unknown */
};

/*
 * Parse one stat line. Returns 0 or -EINVAL when the line is not a stat line
 * (fields up to rss are required; later ones default).
 */
int procfs_parse_stat(const char *buf, size_t len, struct procfs_stat *ret);

/* Parse the Uid: and Gid: lines of a status file. 0 or -EINVAL. */
int procfs_parse_status_ids(const char *buf, size_t len, struct procfs_ids *ret);

/*
 * Longest container id k2i reports: a kumo-runtime id is a cgroup directory
 * name, so at most NAME_MAX bytes.
 */
#define PROCFS_CONTAINER_ID_MAX 255

/*
 * Find the kumo container id in a /proc/PID/cgroup text: the path component
 * after a "kumo" component ("…/kumo/<id>[/…]"), id made of [A-Za-z0-9_.+-]
 * as kumo-runtime allows, 1..PROCFS_CONTAINER_ID_MAX bytes. Writes a
 * NUL-terminated id to buf (cap > PROCFS_CONTAINER_ID_MAX). Returns the id
 * length, or 0 when the process is in no kumo container.
 */
size_t procfs_container_id(const char *cgroup, size_t len, char *buf, size_t cap);

/*
 * Parse "net:[4026531840]" (a readlink of /proc/PID/ns/net) into the inode.
 * Returns 0 when the text is not of that form.
 */
uint64_t procfs_parse_ns_link(const char *buf, size_t len);

/*
 * Format a tty_nr as ps does ("pts/3", "tty1", "ttyS0", "console", or
 * "MAJ:MIN" for other devices). Returns false (and writes nothing) for 0.
 */
bool procfs_tty_name(int tty_nr, char *buf, size_t cap);

struct procfs_reader;

/* New reader over rootfd (borrowed; must outlive the reader). NULL on OOM. */
struct procfs_reader *procfs_reader_new(int rootfd);
struct procfs_reader *procfs_reader_free(struct procfs_reader *r);
int procfs_reader_rootfd(const struct procfs_reader *r);

/*
 * Kept fds: an optional cache of open /proc/PID/{stat,status,cmdline} fds
 * shared by the readers of one daemon. Re-reading a kept fd with pread()
 * at offset 0 regenerates the file and saves the openat()/close() and path
 * walk, about half the kernel time of a listing. Cost: up to 3 fds and
 * roughly 8 KiB of kernel memory (seq_file buffers) per kept process; max
 * bounds both. One reader at a time holds the cache: acquire it (wait or
 * try), point a reader at it with procfs_reader_set_cache(), and release
 * it; a release with sweep closes the fds of processes that were not read
 * since the acquire (pass sweep only after reading every process).
 */
struct procfs_fdcache;

/* New cache for up to max_procs processes; NULL when max_procs is 0 or on OOM. */
struct procfs_fdcache *procfs_fdcache_new(size_t max_procs);
struct procfs_fdcache *procfs_fdcache_free(struct procfs_fdcache *c);
/* Lock the cache (wait, or fail at once when busy). False when not taken. */
bool procfs_fdcache_acquire(struct procfs_fdcache *c, bool wait);
void procfs_fdcache_release(struct procfs_fdcache *c, bool sweep);
/* Number of kept processes (call with the cache held). */
size_t procfs_fdcache_count(struct procfs_fdcache *c);
/* Use (a held) cache for this reader's process reads, or NULL to stop. */
void procfs_reader_set_cache(struct procfs_reader *r, struct procfs_fdcache *cache);

/*
 * Read the files of process pid (tid == 0) or thread pid/tid named by need.
 * Returns 0, -ENOENT/-ESRCH when the process is gone (or never existed),
 * -EACCES when a needed file is not readable, -EINVAL when its content does
 * not parse. A failed optional read (cgroup, ns) leaves that part absent.
 */
int procfs_read(struct procfs_reader *r, int pid, int tid, unsigned need, struct proc_sample *ret);

/*
 * Read the ns/ links of pid directly (needs ptrace access to it). Fills
 * ret_ns (0 for links that could not be read). Returns the number read.
 */
int procfs_read_ns(int rootfd, int pid, uint64_t ret_ns[PROCFS_NS_COUNT]);

/*
 * List the numeric entries of the proc root (pids), or of PID/task (tids)
 * when pid > 0, ascending, into a new array (free()). Returns the count or
 * -errno.
 */
int procfs_list(struct procfs_reader *r, int pid, int **ret_ids);

/*
 * Read a whole small file under the root (e.g. "loadavg", "meminfo") into
 * the reader's scratch buffer; returns a borrowed pointer valid until the
 * next call, or NULL with errno set.
 */
const char *procfs_read_misc(struct procfs_reader *r, const char *path, size_t *ret_len);

#endif
