/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Query strings of k2i's list endpoints: fields=, user=, cmd=, state=, pid=,
 * container=, sort=, limit=, threads=. Parsing is strict: an unknown or
 * repeated parameter, an unknown field or sort key, a bad number or an
 * over-long value is an error that names the parameter (served as 400).
 * Pure functions, no I/O except through the caller's user resolver.
 */
#ifndef KUMO_K2I_QUERY_H
#define KUMO_K2I_QUERY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct kerr;

/* Every key a process object can carry, in the order it is rendered. */
enum k2i_field {
    K2I_F_PID,
    K2I_F_TID,
    K2I_F_PPID,
    K2I_F_PGRP,
    K2I_F_SID,
    K2I_F_TTY,
    K2I_F_STATE,
    K2I_F_USER,
    K2I_F_GROUP,
    K2I_F_UID,
    K2I_F_GID,
    K2I_F_EUID,
    K2I_F_EGID,
    K2I_F_COMM,
    K2I_F_CMDLINE,
    K2I_F_THREADS,
    K2I_F_UTIME,
    K2I_F_STIME,
    K2I_F_TIME,
    K2I_F_START_TIME,
    K2I_F_ELAPSED,
    K2I_F_CPU,
    K2I_F_CPU_RECENT,
    K2I_F_RSS,
    K2I_F_VSZ,
    K2I_F_MEM,
    K2I_F_NICE,
    K2I_F_PRIORITY,
    K2I_F_PROCESSOR,
    K2I_F_MINFLT,
    K2I_F_MAJFLT,
    K2I_F_CONTAINER,
    K2I_F_CGROUPS,
    K2I_F_NAMESPACES,
    K2I_F_ENVIRON,
    K2I_F_COUNT,
};

#define K2I_FIELD_BIT(f) (UINT64_C(1) << (f))

enum k2i_field_kind {
    K2I_KIND_INT,    /* sorts numerically */
    K2I_KIND_NUMBER, /* double */
    K2I_KIND_STRING, /* sorts bytewise */
    K2I_KIND_OTHER,  /* arrays/objects: not sortable */
};

struct k2i_field_info {
    const char *name;
    unsigned need; /* PROCFS_NEED_* bits the field needs */
    enum k2i_field_kind kind;
    bool in_default; /* part of a list entry when fields= is absent */
};

extern const struct k2i_field_info k2i_fields[K2I_F_COUNT];

/* The default field set of list entries: everything /proc/PID/{stat,status,cmdline} give. */
uint64_t k2i_fields_default(void);
/* Every field but environ ("fields=all", and single-process answers). */
uint64_t k2i_fields_all(void);
/* Union of the PROCFS_NEED_* bits of a field set. */
unsigned k2i_fields_need(uint64_t fields);

/* Which parameters an endpoint accepts. */
enum {
    K2I_QP_FIELDS = 1u << 0,
    K2I_QP_FILTERS = 1u << 1, /* user, cmd, state, pid, container */
    K2I_QP_SORT = 1u << 2,
    K2I_QP_LIMIT = 1u << 3,
    K2I_QP_THREADS = 1u << 4,
    K2I_QP_CMD = 1u << 5, /* cmd= (list endpoints other than /cmd/{name}) */
    K2I_QP_LIST =
        K2I_QP_FIELDS | K2I_QP_FILTERS | K2I_QP_SORT | K2I_QP_LIMIT | K2I_QP_THREADS | K2I_QP_CMD,
};

#define K2I_Q_MAX_USERS     16
#define K2I_Q_MAX_PIDS      256
#define K2I_Q_MAX_SORT      4
#define K2I_Q_CMD_MAX       256
#define K2I_Q_VALUE_MAX     2048
#define K2I_Q_LIMIT_MAX     1000000
#define K2I_Q_CONTAINER_MAX 255 /* PROCFS_CONTAINER_ID_MAX */

struct k2i_sort_key {
    enum k2i_field field;
    bool desc;
};

struct k2i_query {
    uint64_t fields; /* K2I_FIELD_BIT set to render */
    bool fields_given;
    uint32_t uids[K2I_Q_MAX_USERS]; /* user=: effective uids */
    size_t nuids;
    char cmd[K2I_Q_CMD_MAX + 1]; /* cmd=: substring of comm or cmdline */
    size_t cmd_len;
    bool has_cmd;
    uint64_t states;          /* state=: bit (c - 'A') for letters 'A'..'z' */
    int pids[K2I_Q_MAX_PIDS]; /* pid=: sorted ascending */
    size_t npids;
    char container[K2I_Q_CONTAINER_MAX + 1]; /* container=: id, or "-" for none */
    bool has_container;
    struct k2i_sort_key sort[K2I_Q_MAX_SORT];
    size_t nsort;
    size_t limit; /* 0: no limit */
    bool threads;
};

/*
 * Resolve a user name to a uid for user=. Returns 0 or -ENOENT.
 */
typedef int (*k2i_user_resolve_fn)(void *userdata, const char *name, uint32_t *ret_uid);

/*
 * Parse a raw (still percent-encoded) query string of len bytes, without
 * the leading '?'. allowed is a K2I_QP_* mask; default_fields is used when
 * fields= is absent. resolve may be NULL (then only numeric user= works).
 * Returns 0, or -EINVAL with err naming the parameter and the problem.
 */
int k2i_query_parse(const char *qs, size_t len, unsigned allowed, uint64_t default_fields,
                    k2i_user_resolve_fn resolve, void *userdata, struct k2i_query *ret,
                    struct kerr *err);

/* PROCFS_NEED_* bits to read for this query (fields, filters and sort). */
unsigned k2i_query_need(const struct k2i_query *q);

/* True if pid passes the pid= filter (or there is none). */
bool k2i_query_pid_ok(const struct k2i_query *q, int pid);

/*
 * Percent-decode src[0..len) into dst (cap bytes incl. NUL), '+' as space.
 * Returns the decoded length, or -EINVAL for a bad escape or a NUL byte,
 * -E2BIG when it does not fit.
 */
int k2i_url_decode(const char *src, size_t len, char *dst, size_t cap);

/* Like k2i_url_decode but for path segments: '+' stays '+'. */
int k2i_path_decode(const char *src, size_t len, char *dst, size_t cap);

/* Look a field up by name; -1 when unknown. */
int k2i_field_lookup(const char *name, size_t len);

#endif
