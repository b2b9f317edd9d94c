/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Container cgroups on v1, v2 and hybrid hosts. The hierarchies are found in
 * /proc/self/mountinfo under /sys/fs/cgroup: every v1 hierarchy (its
 * controllers from the super options) and the cgroup2 mount, either at
 * /sys/fs/cgroup (pure v2) or beside v1 (hybrid, usually .../unified). A
 * container gets the same relative path (default kumo/<id>) in every
 * hierarchy; a resource goes to the v1 hierarchy holding its controller or,
 * failing that, to the v2 one if it offers the controller (hybrid hosts put
 * e.g. hugetlb there). Called by container.c; no global state.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <time.h>
#include <unistd.h>

#include "cleanup.h"
#include "internal.h"
#include "kerr.h"
#include "sbuf.h"
#include "util.h"

#ifndef CGROUP2_SUPER_MAGIC
#define CGROUP2_SUPER_MAGIC 0x63677270
#endif

#define CG_BASE "/sys/fs/cgroup"

static bool
has_token(const char *list, const char *tok)
{
    size_t n = strlen(tok);
    for (const char *p = list; p && *p;) {
        const char *e = strpbrk(p, ", \n");
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (len == n && strncmp(p, tok, n) == 0)
            return true;
        p = e ? e + 1 : NULL;
    }
    return false;
}

enum rt_cg_mode
cgroup__mode(void)
{
    struct statfs sf;
    if (statfs(CG_BASE, &sf) == 0 && sf.f_type == CGROUP2_SUPER_MAGIC)
        return RT_CG_V2;
    if (statfs(CG_BASE "/unified", &sf) == 0 && sf.f_type == CGROUP2_SUPER_MAGIC)
        return RT_CG_HYBRID;
    return RT_CG_V1;
}

static int
add_hier(struct rt_cgroup *cg, const char *mnt, const char *ctrls, bool v2)
{
    if (cg->n >= RT_CG_MAX_HIER)
        return 0;
    for (size_t i = 0; i < cg->n; i++)
        if (strcmp(cg->h[i].mnt, mnt) == 0)
            return 0;
    strlcpy_k(cg->h[cg->n].mnt, mnt, sizeof(cg->h[cg->n].mnt));
    strlcpy_k(cg->h[cg->n].ctrls, ctrls, sizeof(cg->h[cg->n].ctrls));
    cg->h[cg->n].v2 = v2;
    cg->n++;
    return 0;
}

static void
v2_controllers(const char *mnt, char *buf, size_t cap)
{
    char path[256];
    snprintf(path, sizeof(path), "%s/cgroup.controllers", mnt);
    ssize_t n = read_file_at(AT_FDCWD, path, buf, cap);
    if (n < 0)
        buf[0] = '\0';
    for (char *p = buf; *p; p++)
        if (*p == ' ' || *p == '\n')
            *p = *(p + 1) ? ',' : '\0';
}

int
cgroup__detect(struct rt_cgroup *cg, const char *path, struct kerr *err)
{
    char line[4096], ctrls[256];

    memset(cg, 0, sizeof(*cg));
    while (*path == '/')
        path++;
    if (!*path || strstr(path, ".."))
        return kerr_setf(err, EINVAL, "cgroup path '%s' is invalid", path);
    if (strlcpy_k(cg->path, path, sizeof(cg->path)) >= sizeof(cg->path))
        return kerr_setf(err, ENAMETOOLONG, "cgroup path '%s' is too long", path);
    cg->mode = cgroup__mode();
    if (cg->mode == RT_CG_V2) {
        v2_controllers(CG_BASE, ctrls, sizeof(ctrls));
        return add_hier(cg, CG_BASE, ctrls, true);
    }
    cleanup_fclose FILE *f = fopen("/proc/self/mountinfo", "re");
    if (!f)
        return kerr_set(err, errno, "open /proc/self/mountinfo");
    while (fgets(line, sizeof(line), f)) {
        /* id parent maj:min root mountpoint opts [optional...] - fstype source superopts */
        char *sep = strstr(line, " - ");
        if (!sep)
            continue;
        char mnt[256], fstype[32], source[64], super[512];
        if (sscanf(line, "%*s %*s %*s %*s %255s", mnt) != 1 ||
            sscanf(sep + 3, "%31s %63s %511s", fstype, source, super) != 3)
            continue;
        if (!str_startswith(mnt, CG_BASE "/"))
            continue;
        if (strcmp(fstype, "cgroup2") == 0) {
            v2_controllers(mnt, ctrls, sizeof(ctrls));
            add_hier(cg, mnt, ctrls, true);
        } else if (strcmp(fstype, "cgroup") == 0) {
            struct sbuf b = SBUF_INIT;
            for (char *tok = strtok(super, ","); tok; tok = strtok(NULL, ",")) {
                if (strcmp(tok, "rw") == 0 || strcmp(tok, "ro") == 0 ||
                    strcmp(tok, "clone_children") == 0 || strcmp(tok, "xattr") == 0 ||
                    strcmp(tok, "noprefix") == 0 || str_startswith(tok, "release_agent=") ||
                    strcmp(tok, "cpuset_v2_mode") == 0 || str_startswith(tok, "name="))
                    continue;
                sbuf_printf(&b, "%s%s", b.len ? "," : "", tok);
            }
            /* Named hierarchies without controllers (name=systemd) are not ours to manage. */
            if (b.len)
                add_hier(cg, mnt, b.data, false);
            sbuf_free(&b);
        }
    }
    if (cg->n == 0)
        return kerr_setf(err, ENOENT, "no cgroup hierarchy mounted under %s", CG_BASE);
    return 0;
}

/* Hierarchy index holding ctrl: v1 first, then v2. -1 when unavailable. */
static int
find_hier(const struct rt_cgroup *cg, const char *ctrl)
{
    for (size_t i = 0; i < cg->n; i++)
        if (!cg->h[i].v2 && has_token(cg->h[i].ctrls, ctrl))
            return (int)i;
    for (size_t i = 0; i < cg->n; i++)
        if (cg->h[i].v2 && has_token(cg->h[i].ctrls, ctrl))
            return (int)i;
    return -1;
}

static int
v2_index(const struct rt_cgroup *cg)
{
    for (size_t i = 0; i < cg->n; i++)
        if (cg->h[i].v2)
            return (int)i;
    return -1;
}

static int
write_at(const char *dir, const char *file, const char *val, struct kerr *err)
{
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/%s", dir, file);
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return kerr_set(err, errno, "cgroup: open '%s'", path);
    ssize_t n = write(fd, val, strlen(val));
    int e = errno;
    close(fd);
    if (n < 0)
        return kerr_set(err, e, "cgroup: write '%s' to '%s'", val, path);
    return 0;
}

static void
leaf_dir(const struct rt_cgroup *cg, size_t i, char *buf, size_t cap)
{
    snprintf(buf, cap, "%s/%s", cg->h[i].mnt, cg->path);
}

/* Write file of controller ctrl in the container's cgroup. */
static int
cg_write(const struct rt_cgroup *cg, const char *ctrl, const char *file, const char *val,
         struct kerr *err)
{
    char dir[PATH_MAX];
    int i = find_hier(cg, ctrl);
    if (i < 0)
        return kerr_setf(err, ENOTSUP, "cgroup: controller '%s' is not available for '%s'", ctrl,
                         file);
    leaf_dir(cg, (size_t)i, dir, sizeof(dir));
    return write_at(dir, file, val, err);
}

static bool
ctrl_is_v2(const struct rt_cgroup *cg, const char *ctrl)
{
    int i = find_hier(cg, ctrl);
    return i >= 0 && cg->h[i].v2;
}

/* Enable every available controller in subtree_control from the v2 root down to the leaf's parent.
 */
static int
v2_enable(const struct rt_cgroup *cg, size_t i, struct kerr *err)
{
    char dir[PATH_MAX], file[PATH_MAX + 32], have[512], tmp[256];
    const char *ctrls = cg->h[i].ctrls;
    if (!*ctrls)
        return 0;
    snprintf(dir, sizeof(dir), "%s", cg->h[i].mnt);
    const char *p = cg->path;
    for (;;) {
        struct sbuf b = SBUF_INIT;
        snprintf(file, sizeof(file), "%s/cgroup.subtree_control", dir);
        if (read_file_at(AT_FDCWD, file, have, sizeof(have)) < 0)
            have[0] = '\0';
        strlcpy_k(tmp, ctrls, sizeof(tmp));
        for (char *tok = strtok(tmp, ","); tok; tok = strtok(NULL, ","))
            if (!has_token(have, tok))
                sbuf_printf(&b, "%s+%s", b.len ? " " : "", tok);
        if (b.len) {
            int r = write_at(dir, "cgroup.subtree_control", b.data, err);
            sbuf_free(&b);
            if (r < 0)
                return r;
        }
        const char *slash = strchr(p, '/');
        if (!slash)
            break;
        size_t len = strlen(dir);
        if (len + (size_t)(slash - p) + 2 > sizeof(dir))
            return kerr_setf(err, ENAMETOOLONG, "cgroup path '%s' is too long", cg->path);
        dir[len] = '/';
        memcpy(dir + len + 1, p, (size_t)(slash - p));
        dir[len + 1 + (size_t)(slash - p)] = '\0';
        p = slash + 1;
    }
    return 0;
}

/* v1 cpuset: a new cgroup starts with empty cpus/mems; copy the parent's. */
static int
cpuset_inherit(const char *parent, const char *dir, struct kerr *err)
{
    static const char *const files[] = { "cpuset.cpus", "cpuset.mems" };
    for (size_t k = 0; k < 2; k++) {
        char path[PATH_MAX + 32], buf[256];
        snprintf(path, sizeof(path), "%s/%s", dir, files[k]);
        if (read_file_at(AT_FDCWD, path, buf, sizeof(buf)) > 0 && buf[0] != '\n')
            continue;
        snprintf(path, sizeof(path), "%s/%s", parent, files[k]);
        if (read_file_at(AT_FDCWD, path, buf, sizeof(buf)) < 0)
            return kerr_set(err, errno, "cgroup: read '%s'", path);
        int r = write_at(dir, files[k], buf, err);
        if (r < 0)
            return r;
    }
    return 0;
}

static int
mkdir_levels(const struct rt_cgroup *cg, size_t i, struct kerr *err)
{
    char dir[PATH_MAX], parent[PATH_MAX];
    bool cpuset = !cg->h[i].v2 && has_token(cg->h[i].ctrls, "cpuset");
    size_t len = (size_t)snprintf(dir, sizeof(dir), "%s", cg->h[i].mnt);
    const char *p = cg->path;
    while (*p) {
        const char *slash = strchr(p, '/');
        size_t seg = slash ? (size_t)(slash - p) : strlen(p);
        strlcpy_k(parent, dir, sizeof(parent));
        len += (size_t)snprintf(dir + len, sizeof(dir) - len, "/%.*s", (int)seg, p);
        bool leaf = !slash;
        if (mkdir(dir, 0755) < 0) {
            if (errno != EEXIST)
                return kerr_set(err, errno, "cgroup: mkdir '%s'", dir);
            if (leaf)
                return kerr_setf(err, EEXIST, "cgroup: '%s' already exists", dir);
        }
        if (cpuset) {
            int r = cpuset_inherit(parent, dir, err);
            if (r < 0)
                return r;
        }
        if (!slash)
            break;
        p = slash + 1;
    }
    return 0;
}

int
cgroup__create(struct rt_cgroup *cg, struct kerr *err)
{
    size_t i;
    int r = 0;
    for (i = 0; i < cg->n; i++) {
        if ((r = mkdir_levels(cg, i, err)) < 0)
            goto fail;
        if (cg->h[i].v2 && (r = v2_enable(cg, i, err)) < 0)
            goto fail;
    }
    return 0;
fail:
    /* Remove the leaves we made, including the one that failed part-way. */
    for (size_t k = 0; k <= i && k < cg->n; k++) {
        char dir[PATH_MAX];
        leaf_dir(cg, k, dir, sizeof(dir));
        if (r != -EEXIST || k < i)
            rmdir(dir);
    }
    return r;
}

int
cgroup__open_procs(struct rt_cgroup *cg, int *fds, size_t cap, size_t *ret_n, int *ret_v2_dirfd,
                   struct kerr *err)
{
    size_t n = 0;
    int v2 = v2_index(cg);
    *ret_v2_dirfd = -1;
    for (size_t i = 0; i < cg->n && n < cap; i++) {
        char path[PATH_MAX];
        leaf_dir(cg, i, path, sizeof(path));
        if ((int)i == v2) {
            /* Joined with clone3(CLONE_INTO_CGROUP): one fewer write per container. */
            int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
            if (fd < 0)
                goto fail_errno;
            *ret_v2_dirfd = fd;
            continue;
        }
        /*
         * v1: the child writes "0" to "tasks", not "cgroup.procs". It is
         * single-threaded, so moving the thread moves the process, and the
         * kernel then skips the global threadgroup rwsem whose write side
         * waits for an RCU grace period (milliseconds on a busy VM).
         */
        strncat(path, "/tasks", sizeof(path) - strlen(path) - 1);
        int fd = open(path, O_WRONLY | O_CLOEXEC);
        if (fd < 0)
            goto fail_errno;
        fds[n++] = fd;
        continue;
    fail_errno : {
        int e = errno;
        for (size_t k = 0; k < n; k++)
            close(fds[k]);
        *ret_v2_dirfd = safe_close(*ret_v2_dirfd);
        return kerr_set(err, e, "cgroup: open '%s'", path);
    }
    }
    *ret_n = n;
    return 0;
}

int
cgroup__pids(struct rt_cgroup *cg, pid_t **ret, size_t *ret_n)
{
    char path[PATH_MAX];
    int i = v2_index(cg);
    if (i < 0)
        i = find_hier(cg, "pids");
    if (i < 0)
        i = 0;
    leaf_dir(cg, (size_t)i, path, sizeof(path));
    strncat(path, "/cgroup.procs", sizeof(path) - strlen(path) - 1);
    cleanup_free char *buf = NULL;
    int r = read_file_alloc(path, 16u << 20, &buf, NULL);
    if (r < 0)
        return r;
    size_t n = 0, cap = 16;
    pid_t *v = malloc(cap * sizeof(pid_t));
    if (!v)
        return -ENOMEM;
    for (char *s = buf; *s;) {
        char *e;
        long p = strtol(s, &e, 10);
        if (e == s)
            break;
        if (n == cap) {
            pid_t *nv = realloc(v, (cap *= 2) * sizeof(pid_t));
            if (!nv) {
                free(v);
                return -ENOMEM;
            }
            v = nv;
        }
        v[n++] = (pid_t)p;
        s = e;
        while (*s == '\n')
            s++;
    }
    *ret = v;
    *ret_n = n;
    return 0;
}

int
cgroup__kill_all(struct rt_cgroup *cg, int sig)
{
    int i = v2_index(cg);
    if (sig == SIGKILL && i >= 0) {
        char dir[PATH_MAX];
        leaf_dir(cg, (size_t)i, dir, sizeof(dir));
        if (write_at(dir, "cgroup.kill", "1", NULL) == 0)
            return 0;
    }
    pid_t *pids = NULL;
    size_t n = 0;
    int r = cgroup__pids(cg, &pids, &n);
    /*
     * An empty cgroup has nobody who could fork into it: skip the freezer,
     * whose v1 round trip alone costs milliseconds. Otherwise freeze first
     * where we can so nothing forks between listing and killing.
     */
    if (r < 0 || n == 0) {
        free(pids);
        return r == -ENOENT ? 0 : r;
    }
    bool frozen = sig == SIGKILL && cgroup__freeze(cg, true, NULL) == 0;
    if (frozen) {
        free(pids);
        pids = NULL;
        n = 0;
        r = cgroup__pids(cg, &pids, &n);
    }
    for (size_t k = 0; r == 0 && k < n; k++)
        kill(pids[k], sig);
    free(pids);
    if (frozen)
        cgroup__freeze(cg, false, NULL);
    return r == -ENOENT ? 0 : r;
}

int
cgroup__destroy(struct rt_cgroup *cg, struct kerr *err)
{
    int ret = 0;
    for (size_t i = 0; i < cg->n; i++) {
        char dir[PATH_MAX];
        leaf_dir(cg, i, dir, sizeof(dir));
        /* Processes killed a moment ago may still be leaving: retry EBUSY for up to 2s. */
        for (int tries = 0;; tries++) {
            if (rmdir(dir) == 0 || errno == ENOENT)
                break;
            if (errno != EBUSY || tries >= 400) {
                ret = kerr_set(err, errno, "cgroup: remove '%s'", dir);
                break;
            }
            if (tries == 50)
                cgroup__kill_all(cg, SIGKILL);
            nanosleep(&(struct timespec){ 0, 5 * 1000 * 1000 }, NULL);
        }
    }
    return ret;
}

int
cgroup__freeze(struct rt_cgroup *cg, bool freeze, struct kerr *err)
{
    char dir[PATH_MAX], buf[64];
    int i = find_hier(cg, "freezer");
    bool v2 = false;
    if (i < 0) {
        i = v2_index(cg);
        v2 = true;
    }
    if (i < 0)
        return kerr_setf(err, ENOTSUP, "no freezer cgroup available");
    leaf_dir(cg, (size_t)i, dir, sizeof(dir));
    int r = v2 ? write_at(dir, "cgroup.freeze", freeze ? "1" : "0", err)
               : write_at(dir, "freezer.state", freeze ? "FROZEN" : "THAWED", err);
    if (r < 0 || !freeze)
        return r;
    /* Freezing is asynchronous; wait (bounded) until the kernel reports it. */
    for (int tries = 0; tries < 2000; tries++) {
        int f = cgroup__is_frozen(cg);
        if (f != 0)
            return f < 0 ? kerr_set(err, -f, "freezer state of '%s'", dir) : 0;
        if (!v2 && tries % 10 == 9)
            write_at(dir, "freezer.state", "FROZEN", NULL);
        nanosleep(&(struct timespec){ 0, 1000 * 1000 }, NULL);
    }
    (void)buf;
    return kerr_setf(err, ETIMEDOUT, "freezing '%s' did not finish in 2s", dir);
}

int
cgroup__is_frozen(struct rt_cgroup *cg)
{
    char path[PATH_MAX], buf[512];
    int i = find_hier(cg, "freezer");
    if (i >= 0) {
        leaf_dir(cg, (size_t)i, path, sizeof(path));
        strncat(path, "/freezer.state", sizeof(path) - strlen(path) - 1);
        if (read_file_at(AT_FDCWD, path, buf, sizeof(buf)) < 0)
            return -errno;
        return strncmp(buf, "FROZEN", 6) == 0;
    }
    i = v2_index(cg);
    if (i < 0)
        return 0;
    leaf_dir(cg, (size_t)i, path, sizeof(path));
    strncat(path, "/cgroup.events", sizeof(path) - strlen(path) - 1);
    if (read_file_at(AT_FDCWD, path, buf, sizeof(buf)) < 0)
        return -errno;
    return strstr(buf, "frozen 1") != NULL;
}

int
cgroup__effective_cpus(const struct rt_cgroup *cg, char *buf, size_t cap)
{
    char path[PATH_MAX];
    int i = find_hier(cg, "cpuset");
    if (i < 0)
        return -ENOENT;
    leaf_dir(cg, (size_t)i, path, sizeof(path));
    if (!cg->h[i].v2) {
        size_t len = strlen(path);
        strncat(path, "/cpuset.effective_cpus", sizeof(path) - len - 1);
        if (read_file_at(AT_FDCWD, path, buf, cap) >= 0)
            return 0;
        path[len] = '\0';
        strncat(path, "/cpuset.cpus", sizeof(path) - len - 1);
        ssize_t n = read_file_at(AT_FDCWD, path, buf, cap);
        return n < 0 ? (int)n : 0;
    }
    /*
     * cgroup2 has the file only where the cpuset controller is enabled;
     * above that, the nearest ancestor's (at worst the root's) applies.
     */
    size_t root_len = strlen(cg->h[i].mnt);
    for (;;) {
        size_t len = strlen(path);
        strncat(path, "/cpuset.cpus.effective", sizeof(path) - len - 1);
        if (read_file_at(AT_FDCWD, path, buf, cap) >= 0)
            return 0;
        path[len] = '\0';
        char *slash = strrchr(path, '/');
        if (len <= root_len || !slash || (size_t)(slash - path) < root_len)
            return -ENOENT;
        *slash = '\0';
    }
}

/* ---- resources ---- */

static int
get_i64(json_t *o, const char *key, bool *has, int64_t *v)
{
    json_t *x = json_object_get(o, key);
    *has = false;
    if (!x || json_is_null(x))
        return 0;
    if (!json_is_integer(x))
        return -EINVAL;
    *has = true;
    *v = json_integer_value(x);
    return 0;
}

#define GET(obj, where, key, has, val)                                                         \
    do {                                                                                       \
        if (get_i64(obj, key, &has, &val) < 0)                                                 \
            return kerr_setf(err, EINVAL, "linux.resources.%s.%s: expected an integer", where, \
                             key);                                                             \
    } while (0)

static void
fmt_i64_or_max(char *buf, size_t cap, int64_t v, bool v2)
{
    if (v < 0)
        snprintf(buf, cap, "%s", v2 ? "max" : "-1");
    else
        snprintf(buf, cap, "%" PRId64, v);
}

static int
apply_memory(struct rt_cgroup *cg, json_t *m, struct kerr *err)
{
    bool has_l, has_r, has_s, has_sw, has_k;
    int64_t limit = 0, res = 0, swap = 0, swappiness = 0, kern = 0;
    char buf[64];
    int r;
    GET(m, "memory", "limit", has_l, limit);
    GET(m, "memory", "reservation", has_r, res);
    GET(m, "memory", "swap", has_s, swap);
    GET(m, "memory", "swappiness", has_sw, swappiness);
    GET(m, "memory", "kernel", has_k, kern);
    json_t *oom = json_object_get(m, "disableOOMKiller");
    if (ctrl_is_v2(cg, "memory")) {
        if (has_l) {
            fmt_i64_or_max(buf, sizeof(buf), limit, true);
            if ((r = cg_write(cg, "memory", "memory.max", buf, err)) < 0)
                return r;
        }
        if (has_r) {
            fmt_i64_or_max(buf, sizeof(buf), res, true);
            if ((r = cg_write(cg, "memory", "memory.low", buf, err)) < 0)
                return r;
        }
        if (has_s) {
            /* OCI swap is memory+swap; v2 limits swap alone. */
            int64_t v = swap < 0 ? -1 : (has_l && limit >= 0 ? swap - limit : swap);
            if (v < -1 || (swap >= 0 && v < 0))
                return kerr_setf(err, EINVAL,
                                 "linux.resources.memory.swap: %" PRId64
                                 " is below memory.limit %" PRId64,
                                 swap, limit);
            fmt_i64_or_max(buf, sizeof(buf), v, true);
            if ((r = cg_write(cg, "memory", "memory.swap.max", buf, err)) < 0)
                return r;
        }
        return 0;
    }
    if (has_l) {
        fmt_i64_or_max(buf, sizeof(buf), limit, false);
        r = cg_write(cg, "memory", "memory.limit_in_bytes", buf, NULL);
        if (r == -EINVAL && has_s) {
            /* Raising the limit above the old memsw limit: memsw first. */
            fmt_i64_or_max(buf, sizeof(buf), swap, false);
            if ((r = cg_write(cg, "memory", "memory.memsw.limit_in_bytes", buf, err)) < 0)
                return r;
            fmt_i64_or_max(buf, sizeof(buf), limit, false);
            r = cg_write(cg, "memory", "memory.limit_in_bytes", buf, err);
        } else if (r < 0) {
            r = cg_write(cg, "memory", "memory.limit_in_bytes", buf, err);
        }
        if (r < 0)
            return r;
    }
    if (has_s) {
        fmt_i64_or_max(buf, sizeof(buf), swap, false);
        if ((r = cg_write(cg, "memory", "memory.memsw.limit_in_bytes", buf, err)) < 0)
            return r;
    }
    if (has_r) {
        fmt_i64_or_max(buf, sizeof(buf), res, false);
        if ((r = cg_write(cg, "memory", "memory.soft_limit_in_bytes", buf, err)) < 0)
            return r;
    }
    if (has_sw && swappiness >= 0) {
        snprintf(buf, sizeof(buf), "%" PRId64, swappiness);
        if ((r = cg_write(cg, "memory", "memory.swappiness", buf, err)) < 0)
            return r;
    }
    if (has_k) {
        fmt_i64_or_max(buf, sizeof(buf), kern, false);
        /* Deprecated and gone on new kernels; ignore where absent, like runc. */
        cg_write(cg, "memory", "memory.kmem.limit_in_bytes", buf, NULL);
    }
    if (json_is_true(oom) && (r = cg_write(cg, "memory", "memory.oom_control", "1", err)) < 0)
        return r;
    return 0;
}

static int
apply_cpu(struct rt_cgroup *cg, json_t *c, struct kerr *err)
{
    bool has_sh, has_q, has_p, has_rr, has_rp;
    int64_t shares = 0, quota = 0, period = 0, rrt = 0, rrp = 0;
    char buf[128];
    int r;
    GET(c, "cpu", "shares", has_sh, shares);
    GET(c, "cpu", "quota", has_q, quota);
    GET(c, "cpu", "period", has_p, period);
    GET(c, "cpu", "realtimeRuntime", has_rr, rrt);
    GET(c, "cpu", "realtimePeriod", has_rp, rrp);
    json_t *cpus = json_object_get(c, "cpus"), *mems = json_object_get(c, "mems");
    if ((cpus && !json_is_string(cpus)) || (mems && !json_is_string(mems)))
        return kerr_setf(err, EINVAL, "linux.resources.cpu.cpus/mems: expected a string");
    if (ctrl_is_v2(cg, "cpu")) {
        if (has_sh && shares > 0) {
            /* The conversion runc and crun use: [2, 262144] -> [1, 10000]. */
            uint64_t w = 1 + ((uint64_t)(shares < 2 ? 2 : shares) - 2) * 9999 / 262142;
            snprintf(buf, sizeof(buf), "%" PRIu64, w > 10000 ? 10000 : w);
            if ((r = cg_write(cg, "cpu", "cpu.weight", buf, err)) < 0)
                return r;
        }
        if (has_q || has_p) {
            char q[32];
            fmt_i64_or_max(q, sizeof(q), has_q ? quota : -1, true);
            snprintf(buf, sizeof(buf), "%s %" PRId64, q, has_p && period > 0 ? period : 100000);
            if ((r = cg_write(cg, "cpu", "cpu.max", buf, err)) < 0)
                return r;
        }
    } else if (has_sh || has_q || has_p || has_rr || has_rp) {
        if (has_sh && shares > 0) {
            snprintf(buf, sizeof(buf), "%" PRId64, shares);
            if ((r = cg_write(cg, "cpu", "cpu.shares", buf, err)) < 0)
                return r;
        }
        if (has_p && period > 0) {
            snprintf(buf, sizeof(buf), "%" PRId64, period);
            if ((r = cg_write(cg, "cpu", "cpu.cfs_period_us", buf, err)) < 0)
                return r;
        }
        if (has_q) {
            snprintf(buf, sizeof(buf), "%" PRId64, quota <= 0 ? -1 : quota);
            if ((r = cg_write(cg, "cpu", "cpu.cfs_quota_us", buf, err)) < 0)
                return r;
        }
        if (has_rp && rrp > 0) {
            snprintf(buf, sizeof(buf), "%" PRId64, rrp);
            if ((r = cg_write(cg, "cpu", "cpu.rt_period_us", buf, err)) < 0)
                return r;
        }
        if (has_rr) {
            snprintf(buf, sizeof(buf), "%" PRId64, rrt);
            if ((r = cg_write(cg, "cpu", "cpu.rt_runtime_us", buf, err)) < 0)
                return r;
        }
    }
    if (cpus && *json_string_value(cpus) &&
        (r = cg_write(cg, "cpuset", "cpuset.cpus", json_string_value(cpus), err)) < 0)
        return r;
    if (mems && *json_string_value(mems) &&
        (r = cg_write(cg, "cpuset", "cpuset.mems", json_string_value(mems), err)) < 0)
        return r;
    return 0;
}

static int
throttle(struct rt_cgroup *cg, json_t *bio, const char *key, const char *v1file, const char *v2key,
         struct kerr *err)
{
    json_t *arr = json_object_get(bio, key), *d;
    size_t i;
    char buf[128];
    int r;
    if (!arr)
        return 0;
    if (!json_is_array(arr))
        return kerr_setf(err, EINVAL, "linux.resources.blockIO.%s: expected an array", key);
    json_array_foreach (arr, i, d) {
        json_t *maj = json_object_get(d, "major"), *min = json_object_get(d, "minor");
        json_t *rate = json_object_get(d, "rate");
        if (!json_is_integer(maj) || !json_is_integer(min) || !json_is_integer(rate))
            return kerr_setf(err, EINVAL,
                             "linux.resources.blockIO.%s[%zu]: major, minor and rate are "
                             "required integers",
                             key, i);
        if (ctrl_is_v2(cg, "io")) {
            snprintf(buf, sizeof(buf), "%lld:%lld %s=%lld", (long long)json_integer_value(maj),
                     (long long)json_integer_value(min), v2key,
                     (long long)json_integer_value(rate));
            r = cg_write(cg, "io", "io.max", buf, err);
        } else {
            snprintf(buf, sizeof(buf), "%lld:%lld %lld", (long long)json_integer_value(maj),
                     (long long)json_integer_value(min), (long long)json_integer_value(rate));
            r = cg_write(cg, "blkio", v1file, buf, err);
        }
        if (r < 0)
            return r;
    }
    return 0;
}

static int
apply_blkio(struct rt_cgroup *cg, json_t *b, struct kerr *err)
{
    bool has_w;
    int64_t w = 0;
    char buf[64];
    int r;
    GET(b, "blockIO", "weight", has_w, w);
    if (has_w && w > 0) {
        if (ctrl_is_v2(cg, "io")) {
            /* v1 weights are 10..1000, v2 1..10000. */
            snprintf(buf, sizeof(buf), "default %" PRId64, 1 + (w - 10) * 9999 / 990);
            r = cg_write(cg, "io", "io.weight", buf, NULL);
            if (r < 0)
                r = cg_write(cg, "io", "io.bfq.weight", buf, err);
        } else {
            snprintf(buf, sizeof(buf), "%" PRId64, w);
            r = cg_write(cg, "blkio", "blkio.weight", buf, NULL);
            if (r < 0)
                r = cg_write(cg, "blkio", "blkio.bfq.weight", buf, err);
        }
        if (r < 0)
            return r;
    }
    if ((r = throttle(cg, b, "throttleReadBpsDevice", "blkio.throttle.read_bps_device", "rbps",
                      err)) < 0 ||
        (r = throttle(cg, b, "throttleWriteBpsDevice", "blkio.throttle.write_bps_device", "wbps",
                      err)) < 0 ||
        (r = throttle(cg, b, "throttleReadIOPSDevice", "blkio.throttle.read_iops_device", "riops",
                      err)) < 0 ||
        (r = throttle(cg, b, "throttleWriteIOPSDevice", "blkio.throttle.write_iops_device", "wiops",
                      err)) < 0)
        return r;
    return 0;
}

static int
apply_hugetlb(struct rt_cgroup *cg, json_t *arr, struct kerr *err)
{
    size_t i;
    json_t *h;
    if (!json_is_array(arr))
        return kerr_setf(err, EINVAL, "linux.resources.hugepageLimits: expected an array");
    json_array_foreach (arr, i, h) {
        json_t *ps = json_object_get(h, "pageSize"), *lim = json_object_get(h, "limit");
        char file[96], buf[32];
        if (!json_is_string(ps) || !json_is_integer(lim) || strchr(json_string_value(ps), '/'))
            return kerr_setf(err, EINVAL,
                             "linux.resources.hugepageLimits[%zu]: pageSize (string) and "
                             "limit (integer) required",
                             i);
        bool v2 = ctrl_is_v2(cg, "hugetlb");
        snprintf(file, sizeof(file), "hugetlb.%s.%s", json_string_value(ps),
                 v2 ? "max" : "limit_in_bytes");
        snprintf(buf, sizeof(buf), "%lld", (long long)json_integer_value(lim));
        int r = cg_write(cg, "hugetlb", file, buf, err);
        if (r < 0)
            return r;
    }
    return 0;
}

/* Record a rule for the cgroup2 program (only where there is a cgroup2 hierarchy). */
static int
record_device(struct rt_cgroup *cg, const struct bpfdev_rule *rule, struct kerr *err)
{
    if (v2_index(cg) < 0)
        return 0;
    if (cg->n_dev >= ARRAY_SIZE(cg->dev))
        return kerr_setf(err, E2BIG, "linux.resources.devices: more than %zu rules",
                         ARRAY_SIZE(cg->dev));
    cg->dev[cg->n_dev++] = *rule;
    return 0;
}

static bool
v1_devices(const struct rt_cgroup *cg)
{
    return find_hier(cg, "devices") >= 0 && !ctrl_is_v2(cg, "devices");
}

static int
apply_devices(struct rt_cgroup *cg, json_t *arr, struct kerr *err)
{
    size_t i;
    json_t *d;
    if (!json_is_array(arr))
        return kerr_setf(err, EINVAL, "linux.resources.devices: expected an array");
    json_array_foreach (arr, i, d) {
        json_t *allow = json_object_get(d, "allow"), *type = json_object_get(d, "type");
        json_t *maj = json_object_get(d, "major"), *min = json_object_get(d, "minor");
        json_t *access = json_object_get(d, "access");
        char rule[96], majs[24] = "*", mins[24] = "*";
        struct bpfdev_rule br = { .major = -1, .minor = -1 };
        if (!json_is_object(d) || !json_is_boolean(allow))
            return kerr_setf(err, EINVAL,
                             "linux.resources.devices[%zu]: 'allow' (boolean) required", i);
        const char *t = json_is_string(type) ? json_string_value(type) : "a";
        const char *acc = json_is_string(access) ? json_string_value(access) : "rwm";
        if (strlen(t) != 1 || !strchr("abc", t[0]) || strspn(acc, "rwm") != strlen(acc) ||
            (access && !json_is_string(access)) || (type && !json_is_string(type)))
            return kerr_setf(err, EINVAL, "linux.resources.devices[%zu]: bad type or access", i);
        if (json_is_integer(maj) && json_integer_value(maj) >= 0) {
            if (json_integer_value(maj) > UINT32_MAX)
                return kerr_setf(err, EINVAL, "linux.resources.devices[%zu]: bad major", i);
            br.major = json_integer_value(maj);
            snprintf(majs, sizeof(majs), "%lld", (long long)br.major);
        }
        if (json_is_integer(min) && json_integer_value(min) >= 0) {
            if (json_integer_value(min) > UINT32_MAX)
                return kerr_setf(err, EINVAL, "linux.resources.devices[%zu]: bad minor", i);
            br.minor = json_integer_value(min);
            snprintf(mins, sizeof(mins), "%lld", (long long)br.minor);
        }
        if (!*acc)
            acc = "rwm";
        br.type = t[0];
        br.allow = json_is_true(allow);
        br.access = (strchr(acc, 'r') ? BPFDEV_READ : 0) | (strchr(acc, 'w') ? BPFDEV_WRITE : 0) |
                    (strchr(acc, 'm') ? BPFDEV_MKNOD : 0);
        int r = record_device(cg, &br, err);
        if (r < 0)
            return r;
        cg->dev_filter = true;
        if (!v1_devices(cg))
            continue;
        if (t[0] == 'a')
            snprintf(rule, sizeof(rule), "a");
        else
            snprintf(rule, sizeof(rule), "%s %s:%s %s", t, majs, mins, acc);
        r = cg_write(cg, "devices", br.allow ? "devices.allow" : "devices.deny", rule, err);
        if (r < 0)
            return r;
    }
    return 0;
}

int
cgroup__allow_device(struct rt_cgroup *cg, char type, int64_t major, int64_t minor,
                     struct kerr *err)
{
    char rule[64];
    struct bpfdev_rule br = {
        .type = type, .major = major, .minor = minor, .access = BPFDEV_ALL, .allow = true
    };
    int r = record_device(cg, &br, err);
    if (r < 0 || !v1_devices(cg))
        return r;
    if (minor < 0)
        snprintf(rule, sizeof(rule), "%c %lld:* rwm", type, (long long)major);
    else
        snprintf(rule, sizeof(rule), "%c %lld:%lld rwm", type, (long long)major, (long long)minor);
    return cg_write(cg, "devices", "devices.allow", rule, err);
}

int
cgroup__commit_devices(struct rt_cgroup *cg, struct kerr *err)
{
    char dir[PATH_MAX];
    int i = v2_index(cg);
    if (i < 0 || !cg->dev_filter || (v1_devices(cg) && !cg->v2_devices_on_hybrid))
        return 0;
    leaf_dir(cg, (size_t)i, dir, sizeof(dir));
    cleanup_close int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return kerr_set(err, errno, "cgroup: open '%s'", dir);
    return bpfdev_install(fd, cg->dev, cg->n_dev, err);
}

/*
 * The devices every container gets (runc's list), allowed after the spec's
 * rules. record_only adds them to the cgroup2 rules alone (an update must
 * not re-allow on v1 what it just denied).
 */
static int
allow_default_devices(struct rt_cgroup *cg, bool record_only, struct kerr *err)
{
    static const struct {
        int major, minor;
    } devs[] = { { 1, 3 }, { 1, 5 }, { 1, 7 }, { 1, 8 },    { 1, 9 },
                 { 5, 0 }, { 5, 1 }, { 5, 2 }, { 136, -1 }, { 10, 200 } };
    for (size_t i = 0; i < ARRAY_SIZE(devs); i++) {
        struct bpfdev_rule br = { .type = 'c',
                                  .major = devs[i].major,
                                  .minor = devs[i].minor,
                                  .access = BPFDEV_ALL,
                                  .allow = true };
        int r = record_only ? record_device(cg, &br, err)
                            : cgroup__allow_device(cg, 'c', devs[i].major, devs[i].minor, err);
        if (r < 0)
            return r;
    }
    return 0;
}

/* The spec's linux.devices (type, major, minor), re-recorded for a replaced program. */
static int
record_spec_devices(struct rt_cgroup *cg, struct kerr *err)
{
    size_t i;
    json_t *d;
    json_array_foreach (cg->spec_devices, i, d) {
        const char *t = json_string_value(json_object_get(d, "type"));
        json_t *maj = json_object_get(d, "major"), *min = json_object_get(d, "minor");
        if (!t || (t[0] != 'c' && t[0] != 'u' && t[0] != 'b') || !json_is_integer(maj) ||
            !json_is_integer(min))
            continue; /* fifos need no rule; the spec was validated at create */
        struct bpfdev_rule br = { .type = t[0] == 'b' ? 'b' : 'c',
                                  .major = json_integer_value(maj),
                                  .minor = json_integer_value(min),
                                  .access = BPFDEV_ALL,
                                  .allow = true };
        int r = record_device(cg, &br, err);
        if (r < 0)
            return r;
    }
    return 0;
}

static int
allow_default_devices_after(struct rt_cgroup *cg, json_t *res, struct kerr *err)
{
    json_t *v = res ? json_object_get(res, "devices") : NULL;
    int r;
    if (v && (r = apply_devices(cg, v, err)) < 0)
        return r;
    return allow_default_devices(cg, false, err);
}

int
cgroup__apply(struct rt_cgroup *cg, json_t *res, bool update, struct kerr *err)
{
    json_t *v;
    int r;
    if (!update && (r = allow_default_devices_after(cg, res, err)) < 0)
        return r;
    if (!res)
        return 0;
    if (!json_is_object(res))
        return kerr_setf(err, EINVAL, "linux.resources: expected an object");
    /*
     * An update's device rules replace the cgroup2 program: they are followed
     * by the default devices and the spec's linux.devices, as at create (on
     * v1 neither is re-allowed: the update's rules are all v1 gets).
     */
    if (update && (v = json_object_get(res, "devices")) &&
        ((r = apply_devices(cg, v, err)) < 0 || (r = allow_default_devices(cg, true, err)) < 0 ||
         (r = record_spec_devices(cg, err)) < 0 || (r = cgroup__commit_devices(cg, err)) < 0))
        return r;
    if ((v = json_object_get(res, "memory"))) {
        if (!json_is_object(v))
            return kerr_setf(err, EINVAL, "linux.resources.memory: expected an object");
        if ((r = apply_memory(cg, v, err)) < 0)
            return r;
    }
    if ((v = json_object_get(res, "cpu"))) {
        if (!json_is_object(v))
            return kerr_setf(err, EINVAL, "linux.resources.cpu: expected an object");
        if ((r = apply_cpu(cg, v, err)) < 0)
            return r;
    }
    if ((v = json_object_get(res, "pids"))) {
        bool has;
        int64_t lim = 0;
        char buf[32];
        if (!json_is_object(v))
            return kerr_setf(err, EINVAL, "linux.resources.pids: expected an object");
        GET(v, "pids", "limit", has, lim);
        if (has) {
            if (lim <= 0)
                snprintf(buf, sizeof(buf), "max");
            else
                snprintf(buf, sizeof(buf), "%" PRId64, lim);
            if ((r = cg_write(cg, "pids", "pids.max", buf, err)) < 0)
                return r;
        }
    }
    if ((v = json_object_get(res, "blockIO"))) {
        if (!json_is_object(v))
            return kerr_setf(err, EINVAL, "linux.resources.blockIO: expected an object");
        if ((r = apply_blkio(cg, v, err)) < 0)
            return r;
    }
    if ((v = json_object_get(res, "hugepageLimits")) && (r = apply_hugetlb(cg, v, err)) < 0)
        return r;
    if ((v = json_object_get(res, "unified"))) {
        const char *k;
        json_t *val;
        int i = v2_index(cg);
        char dir[PATH_MAX];
        if (!json_is_object(v))
            return kerr_setf(err, EINVAL, "linux.resources.unified: expected an object");
        if (i < 0)
            return kerr_setf(err, ENOTSUP, "linux.resources.unified: no cgroup v2 hierarchy");
        leaf_dir(cg, (size_t)i, dir, sizeof(dir));
        json_object_foreach (v, k, val) {
            if (!json_is_string(val) || strchr(k, '/') || k[0] == '.')
                return kerr_setf(err, EINVAL, "linux.resources.unified.%s: bad entry", k);
            if ((r = write_at(dir, k, json_string_value(val), err)) < 0)
                return r;
        }
    }
    return 0;
}
