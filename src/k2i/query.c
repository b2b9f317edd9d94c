/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Query-string parsing for k2i list endpoints. Called by the request router
 * (api.c) on an HTTP thread with the raw query text from the request line;
 * this module does its own percent-decoding so that the fuzz target covers
 * everything between the socket and the /proc reader.
 */
#include "query.h"
#include "kerr.h"
#include "procfs.h"
#include "util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define S  PROCFS_NEED_STAT
#define ST PROCFS_NEED_STATUS
#define C  PROCFS_NEED_CMDLINE
#define CG PROCFS_NEED_CGROUP
#define NS PROCFS_NEED_NS

const struct k2i_field_info k2i_fields[K2I_F_COUNT] = {
    [K2I_F_PID] = { "pid", S, K2I_KIND_INT, true },
    [K2I_F_TID] = { "tid", S, K2I_KIND_INT, true },
    [K2I_F_PPID] = { "ppid", S, K2I_KIND_INT, true },
    [K2I_F_PGRP] = { "pgrp", S, K2I_KIND_INT, true },
    [K2I_F_SID] = { "sid", S, K2I_KIND_INT, true },
    [K2I_F_TTY] = { "tty", S, K2I_KIND_STRING, true },
    [K2I_F_STATE] = { "state", S, K2I_KIND_STRING, true },
    [K2I_F_USER] = { "user", S | ST, K2I_KIND_STRING, true },
    [K2I_F_GROUP] = { "group", S | ST, K2I_KIND_STRING, true },
    [K2I_F_UID] = { "uid", S | ST, K2I_KIND_INT, true },
    [K2I_F_GID] = { "gid", S | ST, K2I_KIND_INT, true },
    [K2I_F_EUID] = { "euid", S | ST, K2I_KIND_INT, true },
    [K2I_F_EGID] = { "egid", S | ST, K2I_KIND_INT, true },
    [K2I_F_COMM] = { "comm", S, K2I_KIND_STRING, true },
    [K2I_F_CMDLINE] = { "cmdline", S | C, K2I_KIND_OTHER, true },
    [K2I_F_THREADS] = { "threads", S, K2I_KIND_INT, true },
    [K2I_F_UTIME] = { "utime", S, K2I_KIND_NUMBER, true },
    [K2I_F_STIME] = { "stime", S, K2I_KIND_NUMBER, true },
    [K2I_F_TIME] = { "time", S, K2I_KIND_NUMBER, true },
    [K2I_F_START_TIME] = { "start_time", S, K2I_KIND_NUMBER, true },
    [K2I_F_ELAPSED] = { "elapsed", S, K2I_KIND_NUMBER, true },
    [K2I_F_CPU] = { "cpu", S, K2I_KIND_NUMBER, true },
    [K2I_F_CPU_RECENT] = { "cpu_recent", S, K2I_KIND_NUMBER, true },
    [K2I_F_RSS] = { "rss", S, K2I_KIND_INT, true }, /* exact with status, see render.c */
    [K2I_F_VSZ] = { "vsz", S, K2I_KIND_INT, true },
    [K2I_F_MEM] = { "mem", S, K2I_KIND_NUMBER, true },
    [K2I_F_NICE] = { "nice", S, K2I_KIND_INT, true },
    [K2I_F_PRIORITY] = { "priority", S, K2I_KIND_INT, true },
    [K2I_F_PROCESSOR] = { "processor", S, K2I_KIND_INT, true },
    [K2I_F_MINFLT] = { "minflt", S, K2I_KIND_INT, true },
    [K2I_F_MAJFLT] = { "majflt", S, K2I_KIND_INT, true },
    [K2I_F_CONTAINER] = { "container", S | CG, K2I_KIND_STRING, false },
    [K2I_F_CGROUPS] = { "cgroups", S | CG, K2I_KIND_OTHER, false },
    [K2I_F_NAMESPACES] = { "namespaces", S | NS, K2I_KIND_OTHER, false },
    [K2I_F_ENVIRON] = { "environ", S, K2I_KIND_OTHER, false },
};

uint64_t
k2i_fields_default(void)
{
    uint64_t m = 0;
    for (int i = 0; i < K2I_F_COUNT; i++)
        if (k2i_fields[i].in_default)
            m |= K2I_FIELD_BIT(i);
    return m;
}

uint64_t
k2i_fields_all(void)
{
    return (K2I_FIELD_BIT(K2I_F_COUNT) - 1) & ~K2I_FIELD_BIT(K2I_F_ENVIRON);
}

unsigned
k2i_fields_need(uint64_t fields)
{
    unsigned need = PROCFS_NEED_STAT;
    for (int i = 0; i < K2I_F_COUNT; i++)
        if (fields & K2I_FIELD_BIT(i))
            need |= k2i_fields[i].need;
    return need;
}

int
k2i_field_lookup(const char *name, size_t len)
{
    for (int i = 0; i < K2I_F_COUNT; i++)
        if (strlen(k2i_fields[i].name) == len && memcmp(k2i_fields[i].name, name, len) == 0)
            return i;
    return -1;
}

static int
hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static int
decode(const char *src, size_t len, char *dst, size_t cap, bool plus_is_space)
{
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        char c = src[i];
        if (c == '%') {
            if (i + 2 >= len)
                return -EINVAL;
            int h = hexval(src[i + 1]), l = hexval(src[i + 2]);
            if (h < 0 || l < 0)
                return -EINVAL;
            c = (char)(h * 16 + l);
            i += 2;
        } else if (c == '+' && plus_is_space) {
            c = ' ';
        }
        if (c == '\0')
            return -EINVAL;
        if (o + 1 >= cap)
            return -E2BIG;
        dst[o++] = c;
    }
    if (cap == 0)
        return -E2BIG;
    dst[o] = '\0';
    return (int)o;
}

int
k2i_url_decode(const char *src, size_t len, char *dst, size_t cap)
{
    return decode(src, len, dst, cap, true);
}

int
k2i_path_decode(const char *src, size_t len, char *dst, size_t cap)
{
    return decode(src, len, dst, cap, false);
}

/* Split a comma list; calls fn for each non-empty item. */
typedef int (*item_fn)(struct k2i_query *q, const char *item, size_t len, const char *param,
                       void *ctx, struct kerr *err);

static int
for_each_item(struct k2i_query *q, const char *val, const char *param, item_fn fn, void *ctx,
              struct kerr *err)
{
    const char *p = val;
    for (;;) {
        const char *comma = strchr(p, ',');
        size_t n = comma ? (size_t)(comma - p) : strlen(p);
        if (n == 0)
            return kerr_setf(err, EINVAL, "parameter '%s': empty item in list", param);
        int r = fn(q, p, n, param, ctx, err);
        if (r < 0)
            return r;
        if (!comma)
            return 0;
        p = comma + 1;
    }
}

static int
item_field(struct k2i_query *q, const char *s, size_t n, const char *param, void *ctx,
           struct kerr *err)
{
    if (n == 3 && memcmp(s, "all", 3) == 0) {
        q->fields |= k2i_fields_all();
        return 0;
    }
    if (n == 7 && memcmp(s, "default", 7) == 0) {
        q->fields |= k2i_fields_default();
        return 0;
    }
    int f = k2i_field_lookup(s, n);
    if (f < 0)
        return kerr_setf(err, EINVAL, "parameter '%s': unknown field '%.*s'", param,
                         (int)(n > 64 ? 64 : n), s);
    q->fields |= K2I_FIELD_BIT(f);
    return 0;
}

struct user_ctx {
    k2i_user_resolve_fn resolve;
    void *userdata;
};

static int
item_user(struct k2i_query *q, const char *s, size_t n, const char *param, void *ctx,
          struct kerr *err)
{
    struct user_ctx *uc = ctx;
    char name[256];
    if (n >= sizeof(name))
        return kerr_setf(err, EINVAL, "parameter '%s': user name too long", param);
    if (q->nuids >= K2I_Q_MAX_USERS)
        return kerr_setf(err, EINVAL, "parameter '%s': more than %d users", param, K2I_Q_MAX_USERS);
    memcpy(name, s, n);
    name[n] = '\0';
    uint64_t v;
    uint32_t uid;
    if (name[0] >= '0' && name[0] <= '9') {
        if (parse_uint64(name, UINT32_MAX - 1, &v) < 0)
            return kerr_setf(err, EINVAL, "parameter '%s': bad uid '%.64s'", param, name);
        uid = (uint32_t)v;
    } else if (!uc->resolve || uc->resolve(uc->userdata, name, &uid) < 0) {
        return kerr_setf(err, EINVAL, "parameter '%s': unknown user '%.64s'", param, name);
    }
    q->uids[q->nuids++] = uid;
    return 0;
}

static int
item_pid(struct k2i_query *q, const char *s, size_t n, const char *param, void *ctx,
         struct kerr *err)
{
    char buf[32];
    int64_t v;
    if (n >= sizeof(buf) || (memcpy(buf, s, n), buf[n] = '\0', 0) ||
        parse_int64(buf, 1, PROCFS_PID_MAX, &v) < 0)
        return kerr_setf(err, EINVAL, "parameter '%s': bad pid '%.*s' (want 1..%d)", param,
                         (int)(n > 32 ? 32 : n), s, PROCFS_PID_MAX);
    if (q->npids >= K2I_Q_MAX_PIDS)
        return kerr_setf(err, EINVAL, "parameter '%s': more than %d pids", param, K2I_Q_MAX_PIDS);
    q->pids[q->npids++] = (int)v;
    return 0;
}

static int
item_sort(struct k2i_query *q, const char *s, size_t n, const char *param, void *ctx,
          struct kerr *err)
{
    bool desc = false;
    const char *orig = s;
    size_t on = n;
    if (n > 0 && s[0] == '-') {
        desc = true;
        s++, n--;
    } else if (n > 5 && memcmp(s + n - 5, "-desc", 5) == 0) {
        desc = true;
        n -= 5;
    } else if (n > 4 && memcmp(s + n - 4, "-asc", 4) == 0) {
        n -= 4;
    }
    int f = k2i_field_lookup(s, n);
    if (f < 0 || k2i_fields[f].kind == K2I_KIND_OTHER)
        return kerr_setf(err, EINVAL, "parameter '%s': cannot sort by '%.*s'", param,
                         (int)(on > 64 ? 64 : on), orig);
    if (q->nsort >= K2I_Q_MAX_SORT)
        return kerr_setf(err, EINVAL, "parameter '%s': more than %d sort keys", param,
                         K2I_Q_MAX_SORT);
    q->sort[q->nsort].field = (enum k2i_field)f;
    q->sort[q->nsort].desc = desc;
    q->nsort++;
    return 0;
}

static int
cmp_int(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

static bool
container_id_ok(const char *s)
{
    if (strcmp(s, "-") == 0)
        return true;
    size_t n = strlen(s);
    if (n == 0 || n > K2I_Q_CONTAINER_MAX)
        return false;
    for (; *s; s++)
        if (!container_id_char(*s))
            return false;
    return true;
}

enum {
    P_FIELDS,
    P_USER,
    P_CMD,
    P_STATE,
    P_PID,
    P_CONTAINER,
    P_SORT,
    P_LIMIT,
    P_THREADS,
    P_COUNT,
};

static const struct {
    const char *name;
    unsigned allowed_by;
} params[P_COUNT] = {
    [P_FIELDS] = { "fields", K2I_QP_FIELDS },
    [P_USER] = { "user", K2I_QP_FILTERS },
    [P_CMD] = { "cmd", K2I_QP_CMD },
    [P_STATE] = { "state", K2I_QP_FILTERS },
    [P_PID] = { "pid", K2I_QP_FILTERS },
    [P_CONTAINER] = { "container", K2I_QP_FILTERS },
    [P_SORT] = { "sort", K2I_QP_SORT },
    [P_LIMIT] = { "limit", K2I_QP_LIMIT },
    [P_THREADS] = { "threads", K2I_QP_THREADS },
};

int
k2i_query_parse(const char *qs, size_t len, unsigned allowed, uint64_t default_fields,
                k2i_user_resolve_fn resolve, void *userdata, struct k2i_query *ret,
                struct kerr *err)
{
    struct k2i_query *q = calloc(1, sizeof(*q));
    if (!q)
        return kerr_setf(err, ENOMEM, "out of memory");
    unsigned seen = 0;
    char key[64];
    char *val = malloc(K2I_Q_VALUE_MAX + 1);
    int r = 0;
    if (!val) {
        free(q);
        return kerr_setf(err, ENOMEM, "out of memory");
    }

    const char *p = qs, *end = qs + len;
    while (p < end) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *pe = amp ? amp : end;
        if (pe == p) { /* "a=1&&b=2" or a trailing '&': tolerated */
            p = pe + 1;
            continue;
        }
        const char *eq = memchr(p, '=', (size_t)(pe - p));
        const char *ke = eq ? eq : pe;
        int kl = k2i_url_decode(p, (size_t)(ke - p), key, sizeof(key));
        if (kl <= 0) {
            r = kerr_setf(err, EINVAL, "bad parameter name in query string");
            goto out;
        }
        int pi;
        for (pi = 0; pi < P_COUNT; pi++)
            if (strcmp(params[pi].name, key) == 0)
                break;
        if (pi == P_COUNT || !(params[pi].allowed_by & allowed)) {
            r = kerr_setf(err, EINVAL, "unknown parameter '%.64s'%s", key,
                          pi == P_COUNT ? "" : " for this endpoint");
            goto out;
        }
        if (seen & (1u << pi)) {
            r = kerr_setf(err, EINVAL, "parameter '%s' given twice", key);
            goto out;
        }
        seen |= 1u << pi;
        int vl = eq ? k2i_url_decode(eq + 1, (size_t)(pe - eq - 1), val, K2I_Q_VALUE_MAX + 1) : 0;
        if (eq == NULL)
            val[0] = '\0';
        if (vl == -E2BIG) {
            r = kerr_setf(err, EINVAL, "parameter '%s': value longer than %d bytes", key,
                          K2I_Q_VALUE_MAX);
            goto out;
        }
        if (vl < 0) {
            r = kerr_setf(err, EINVAL, "parameter '%s': bad percent-encoding", key);
            goto out;
        }
        if (vl == 0 && pi != P_THREADS) {
            r = kerr_setf(err, EINVAL, "parameter '%s': empty value", key);
            goto out;
        }

        struct user_ctx uc = { resolve, userdata };
        switch (pi) {
        case P_FIELDS:
            r = for_each_item(q, val, key, item_field, NULL, err);
            q->fields_given = true;
            break;
        case P_USER:
            r = for_each_item(q, val, key, item_user, &uc, err);
            break;
        case P_CMD:
            if (vl > K2I_Q_CMD_MAX) {
                r = kerr_setf(err, EINVAL, "parameter 'cmd': longer than %d bytes", K2I_Q_CMD_MAX);
                break;
            }
            memcpy(q->cmd, val, (size_t)vl + 1);
            q->cmd_len = (size_t)vl;
            q->has_cmd = true;
            break;
        case P_STATE:
            for (int i = 0; i < vl; i++) {
                char c = val[i];
                if (c == ',')
                    continue;
                if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'))) {
                    r = kerr_setf(err, EINVAL, "parameter 'state': '%c' is not a state letter",
                                  c >= 0x20 && c < 0x7f ? c : '?');
                    break;
                }
                q->states |= UINT64_C(1) << (c - 'A');
            }
            break;
        case P_PID:
            r = for_each_item(q, val, key, item_pid, NULL, err);
            if (r == 0)
                qsort(q->pids, q->npids, sizeof(q->pids[0]), cmp_int);
            break;
        case P_CONTAINER:
            if (!container_id_ok(val)) {
                r = kerr_setf(err, EINVAL, "parameter 'container': bad container id");
                break;
            }
            strlcpy_k(q->container, val, sizeof(q->container));
            q->has_container = true;
            break;
        case P_SORT:
            r = for_each_item(q, val, key, item_sort, NULL, err);
            break;
        case P_LIMIT: {
            uint64_t v;
            if (parse_uint64(val, K2I_Q_LIMIT_MAX, &v) < 0 || v == 0)
                r = kerr_setf(err, EINVAL, "parameter 'limit': want an integer 1..%d",
                              K2I_Q_LIMIT_MAX);
            else
                q->limit = (size_t)v;
            break;
        }
        case P_THREADS:
            if (vl == 0 || strcmp(val, "true") == 0 || strcmp(val, "1") == 0)
                q->threads = true;
            else if (strcmp(val, "false") == 0 || strcmp(val, "0") == 0)
                q->threads = false;
            else
                r = kerr_setf(err, EINVAL, "parameter 'threads': want true or false");
            break;
        default:
            break;
        }
        if (r < 0)
            goto out;
        p = amp ? amp + 1 : end;
    }
    if (!q->fields_given)
        q->fields = default_fields;
    if (q->threads)
        q->fields |= K2I_FIELD_BIT(K2I_F_TID);
    *ret = *q;
out:
    free(val);
    free(q);
    return r;
}

unsigned
k2i_query_need(const struct k2i_query *q)
{
    unsigned need = k2i_fields_need(q->fields);
    if (q->nuids)
        need |= PROCFS_NEED_STATUS;
    if (q->has_cmd)
        need |= PROCFS_NEED_CMDLINE;
    if (q->has_container)
        need |= PROCFS_NEED_CGROUP;
    for (size_t i = 0; i < q->nsort; i++)
        need |= k2i_fields[q->sort[i].field].need;
    return need;
}

bool
k2i_query_pid_ok(const struct k2i_query *q, int pid)
{
    if (q->npids == 0)
        return true;
    return bsearch(&pid, q->pids, q->npids, sizeof(q->pids[0]), cmp_int) != NULL;
}
