/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Container lifecycle: create (one clone3 into all new namespaces and, on
 * cgroup v2, straight into the container's cgroup), start, state, kill,
 * delete, pause/resume, update, exec and list, with the state on disk under
 * <root>/<id>/ (state.json, config.json, exec.fifo).
 *
 * Status is derived, as runc does, from the disk and the kernel: no pid or
 * a dead/zombie/reused pid = stopped; exec.fifo present = created; a frozen
 * cgroup = paused; otherwise running. That makes a container of a crashed
 * runtime still deletable: delete only needs state.json (or, if even that
 * is missing, the default cgroup path).
 *
 * Namespaces given by path are joined by the calling thread with setns()
 * (net, ipc, uts, cgroup, and pid/time for the children) around clone3 and
 * restored right after, so there is no intermediate process; mount and user
 * namespaces are joined by the child. Called on the caller's thread.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <linux/sched.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#if defined(__has_feature)
#if __has_feature(address_sanitizer) && !defined(__SANITIZE_ADDRESS__)
#define __SANITIZE_ADDRESS__ 1 /* clang's spelling of gcc's macro */
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#endif

#include "cleanup.h"
#include "internal.h"
#include "kerr.h"
#include "security.h"
#include "util.h"

#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080
#endif
#ifndef CLONE_INTO_CGROUP
#define CLONE_INTO_CGROUP 0x200000000ULL
#endif

struct rt_container {
    char *root, *id, *dir, *bundle, *rootfs;
    char created[40];
    char cgpath[512];
    pid_t pid;
    pid_t creator;
    uint64_t starttime;
    int sync_fd;   /* to the blocked init, only in the creating process */
    bool is_child; /* the init is our child: we can wait for it */
    bool exited;   /* we reaped the init ourselves: it is stopped */
    bool started;  /* created with start_now: the init did not wait for start */
    bool has_hooks;
    json_t *annotations;
    json_t *config; /* lazily loaded copy of config.json */
};

const char *
rt_status_name(enum rt_status s)
{
    static const char *const names[] = { "creating", "created", "running", "stopped", "paused" };
    return (unsigned)s < ARRAY_SIZE(names) ? names[s] : "unknown";
}

int
rt_id_validate(const char *id, struct kerr *err)
{
    if (!id || !*id)
        return kerr_setf(err, EINVAL, "container id is empty");
    size_t n = strlen(id);
    if (n > RT_ID_MAX)
        return kerr_setf(err, EINVAL, "container id is longer than %d characters", RT_ID_MAX);
    if (strcmp(id, ".") == 0 || strcmp(id, "..") == 0)
        return kerr_setf(err, EINVAL, "container id '%s' is not allowed", id);
    for (size_t i = 0; i < n; i++) {
        char c = id[i];
        if (!container_id_char(c))
            return kerr_setf(err, EINVAL,
                             "container id '%.64s' has an invalid character '%c' (allowed: "
                             "letters, digits, _ - . +)",
                             id, c);
    }
    return 0;
}

/* Start time of pid in clock ticks, 0 when it is gone or a zombie. */
uint64_t
rt__proc_starttime(pid_t pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    if (read_file_at(AT_FDCWD, path, buf, sizeof(buf)) < 0)
        return 0;
    char *p = strrchr(buf, ')');
    if (!p || !p[1] || !p[2])
        return 0;
    if (p[2] == 'Z' || p[2] == 'X')
        return 0;
    /* Field 3 is the state; starttime is field 22. */
    p += 2;
    for (int field = 3; field < 22 && p; field++) {
        p = strchr(p, ' ');
        if (p)
            p++;
    }
    return p ? strtoull(p, NULL, 10) : 0;
}

struct rt_container *
rt_container_free(struct rt_container *c)
{
    if (!c)
        return NULL;
    safe_close(c->sync_fd);
    free(c->root);
    free(c->id);
    free(c->dir);
    free(c->bundle);
    free(c->rootfs);
    if (c->annotations)
        json_decref(c->annotations);
    if (c->config)
        json_decref(c->config);
    free(c);
    return NULL;
}

static struct rt_container *
container_new(const char *root, const char *id)
{
    struct rt_container *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    c->sync_fd = -1;
    c->root = strdup(root);
    c->id = strdup(id);
    if (!c->root || !c->id || asprintf(&c->dir, "%s/%s", root, id) < 0) {
        c->dir = NULL;
        return rt_container_free(c);
    }
    snprintf(c->cgpath, sizeof(c->cgpath), "%s/%s", RT_CGROUP_PREFIX, id);
    return c;
}

static int
mkdir_p(const char *path, mode_t mode)
{
    char buf[PATH_MAX];
    if (strlcpy_k(buf, path, sizeof(buf)) >= sizeof(buf))
        return -ENAMETOOLONG;
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(buf, mode) < 0 && errno != EEXIST)
            return -errno;
        *p = '/';
    }
    if (mkdir(buf, mode) < 0 && errno != EEXIST)
        return -errno;
    return 0;
}

static void
rfc3339_now(char *buf, size_t cap)
{
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    size_t n = strftime(buf, cap, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf + n, cap - n, ".%09ldZ", ts.tv_nsec);
}

static int
state_write(struct rt_container *c, const char *status, struct kerr *err)
{
    char path[PATH_MAX], tmp[PATH_MAX];
    json_t *j =
        json_pack("{s:s, s:s, s:s, s:i, s:s, s:s, s:s, s:{s:I, s:s, s:b, s:i}}", "ociVersion",
                  RT_OCI_VERSION, "id", c->id, "status", status, "pid", (int)c->pid, "bundle",
                  c->bundle ? c->bundle : "", "rootfs", c->rootfs ? c->rootfs : "", "created",
                  c->created, "kumo", "starttime", (json_int_t)c->starttime, "cgroup", c->cgpath,
                  "hooks", c->has_hooks, "creator", (int)c->creator);
    if (!j)
        return kerr_set(err, ENOMEM, "state.json");
    if (c->annotations)
        json_object_set(j, "annotations", c->annotations);
    snprintf(path, sizeof(path), "%s/state.json", c->dir);
    snprintf(tmp, sizeof(tmp), "%s/state.json.tmp", c->dir);
    int r = json_dump_file(j, tmp, JSON_COMPACT);
    json_decref(j);
    if (r < 0)
        return kerr_set(err, errno ? errno : EIO, "write '%s'", tmp);
    if (rename(tmp, path) < 0)
        return kerr_set(err, errno, "rename '%s'", tmp);
    return 0;
}

int
rt_container_open(const char *root, const char *id, struct rt_container **ret_c, struct kerr *err)
{
    char path[PATH_MAX];
    struct stat st;
    json_error_t jerr;
    int r = rt_id_validate(id, err);
    if (r < 0)
        return r;
    struct rt_container *c = container_new(root, id);
    if (!c)
        return kerr_set(err, ENOMEM, "open container");
    if (stat(c->dir, &st) < 0 || !S_ISDIR(st.st_mode)) {
        rt_container_free(c);
        return kerr_setf(err, ENOENT, "container '%s' does not exist", id);
    }
    snprintf(path, sizeof(path), "%s/state.json", c->dir);
    json_t *j = json_load_file(path, 0, &jerr);
    if (!j) {
        /* A runtime that crashed mid-create: deletable with default values. */
        *ret_c = c;
        return 0;
    }
    json_t *k = json_object_get(j, "kumo");
    c->pid = (pid_t)json_integer_value(json_object_get(j, "pid"));
    c->starttime = (uint64_t)json_integer_value(json_object_get(k, "starttime"));
    c->creator = (pid_t)json_integer_value(json_object_get(k, "creator"));
    c->has_hooks = json_is_true(json_object_get(k, "hooks"));
    const char *s;
    if ((s = json_string_value(json_object_get(k, "cgroup"))))
        strlcpy_k(c->cgpath, s, sizeof(c->cgpath));
    if ((s = json_string_value(json_object_get(j, "bundle"))))
        c->bundle = strdup(s);
    if ((s = json_string_value(json_object_get(j, "rootfs"))))
        c->rootfs = strdup(s);
    if ((s = json_string_value(json_object_get(j, "created"))))
        strlcpy_k(c->created, s, sizeof(c->created));
    json_t *a = json_object_get(j, "annotations");
    if (json_is_object(a))
        c->annotations = json_incref(a);
    json_decref(j);
    *ret_c = c;
    return 0;
}

static enum rt_status
compute_status(struct rt_container *c)
{
    char path[PATH_MAX];
    if (c->pid <= 0) {
        if (c->creator > 0 && kill(c->creator, 0) == 0)
            return RT_STATUS_CREATING;
        return RT_STATUS_STOPPED;
    }
    uint64_t st = rt__proc_starttime(c->pid);
    if (st == 0 || st != c->starttime)
        return RT_STATUS_STOPPED;
    snprintf(path, sizeof(path), "%s/exec.fifo", c->dir);
    if (access(path, F_OK) == 0)
        return RT_STATUS_CREATED;
    struct rt_cgroup cg;
    if (cgroup__detect(&cg, c->cgpath, NULL) == 0 && cgroup__is_frozen(&cg) == 1)
        return RT_STATUS_PAUSED;
    return RT_STATUS_RUNNING;
}

int
rt_container_status(struct rt_container *c, enum rt_status *ret_status, pid_t *ret_pid)
{
    enum rt_status s = compute_status(c);
    if (ret_status)
        *ret_status = s;
    if (ret_pid)
        *ret_pid = s == RT_STATUS_STOPPED ? 0 : c->pid;
    return 0;
}

int
rt_container_state_json(struct rt_container *c, json_t **ret, struct kerr *err)
{
    enum rt_status s = compute_status(c);
    json_t *j = json_pack(
        "{s:s, s:s, s:s, s:i, s:s, s:s, s:s, s:s}", "ociVersion", RT_OCI_VERSION, "id", c->id,
        "status", rt_status_name(s), "pid", s == RT_STATUS_STOPPED ? 0 : (int)c->pid, "bundle",
        c->bundle ? c->bundle : "", "rootfs", c->rootfs ? c->rootfs : "", "created",
        c->created[0] ? c->created : "1970-01-01T00:00:00Z", "owner", "");
    if (!j)
        return kerr_set(err, ENOMEM, "state");
    json_object_set_new(j, "annotations",
                        c->annotations ? json_incref(c->annotations) : json_object());
    *ret = j;
    return 0;
}

void
rt_container_mark_exited(struct rt_container *c)
{
    c->is_child = false;
    c->exited = true;
}

pid_t
rt_container_pid(const struct rt_container *c)
{
    return c->pid;
}

const char *
rt_container_id(const struct rt_container *c)
{
    return c->id;
}

const char *
rt_container_bundle(const struct rt_container *c)
{
    return c->bundle;
}

json_t *
rt_container_config(struct rt_container *c, struct kerr *err)
{
    char path[PATH_MAX];
    json_error_t jerr;
    if (c->config)
        return c->config;
    snprintf(path, sizeof(path), "%s/config.json", c->dir);
    c->config = json_load_file(path, 0, &jerr);
    if (!c->config)
        kerr_setf(err, ENOENT, "'%s': %s", path, jerr.text);
    return c->config;
}

static char *
state_text(struct rt_container *c, const char *status)
{
    return hooks__state(c->id, status, c->pid, c->bundle, c->annotations);
}

/* ---- create ---- */

struct ns_join {
    int fd;   /* namespace to join */
    int save; /* our own, to go back to */
    int flag;
};

static const char *
ns_proc_name(int flag, bool for_children)
{
    switch (flag) {
    case CLONE_NEWNET:
        return "net";
    case CLONE_NEWIPC:
        return "ipc";
    case CLONE_NEWUTS:
        return "uts";
    case CLONE_NEWCGROUP:
        return "cgroup";
    case CLONE_NEWPID:
        return for_children ? "pid_for_children" : "pid";
    case CLONE_NEWTIME:
        return for_children ? "time_for_children" : "time";
    case CLONE_NEWUSER:
        return "user";
    case CLONE_NEWNS:
        return "mnt";
    }
    return "?";
}

static void
ns_restore(struct ns_join *j, size_t n)
{
    for (size_t i = n; i-- > 0;) {
        if (j[i].save >= 0) {
            /* Going back to our own namespace cannot fail for root; nothing to do if it does. */
            (void)setns(j[i].save, j[i].flag);
            j[i].save = safe_close(j[i].save);
        }
        j[i].fd = safe_close(j[i].fd);
    }
}

static int
time_ns_prepare(json_t *offsets, struct ns_join *j, struct kerr *err)
{
    char buf[128];
    size_t len = 0;
    const char *clk;
    json_t *v;
    *j = (struct ns_join){ .fd = -1,
                           .flag = CLONE_NEWTIME,
                           .save = open("/proc/thread-self/ns/time_for_children",
                                        O_RDONLY | O_CLOEXEC) };
    if (j->save < 0)
        return kerr_set(err, errno, "linux.timeOffsets: open our time namespace");
    if (unshare(CLONE_NEWTIME) < 0) {
        j->save = safe_close(j->save);
        return kerr_set(err, errno, "linux.timeOffsets: unshare the time namespace");
    }
    json_object_foreach (offsets, clk, v) {
        len += (size_t)snprintf(buf + len, sizeof(buf) - len, "%s %lld %lld\n", clk,
                                (long long)json_integer_value(json_object_get(v, "secs")),
                                (long long)json_integer_value(json_object_get(v, "nanosecs")));
    }
    int r = write_file("/proc/self/timens_offsets", buf, len);
    if (r < 0) {
        (void)setns(j->save, CLONE_NEWTIME);
        j->save = safe_close(j->save);
    }
    if (r < 0)
        return kerr_set(err, -r, "linux.timeOffsets: write '%.*s'", (int)strcspn(buf, "\n"), buf);
    return 0;
}

static int
read_config(const char *bundle, json_t **ret, struct kerr *err)
{
    char path[PATH_MAX];
    struct stat st;
    json_error_t jerr;
    if (snprintf(path, sizeof(path), "%s/config.json", bundle) >= (int)sizeof(path))
        return kerr_setf(err, ENAMETOOLONG, "bundle path '%s' is too long", bundle);
    if (stat(path, &st) < 0)
        return kerr_set(err, errno, "open '%s'", path);
    if ((size_t)st.st_size > RT_CONFIG_MAX)
        return kerr_setf(err, EFBIG, "'%s': larger than %u bytes", path, RT_CONFIG_MAX);
    json_t *j = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
    if (!j)
        return kerr_setf(err, EINVAL, "'%s': line %d column %d: %s", path, jerr.line, jerr.column,
                         jerr.text);
    *ret = j;
    return 0;
}

static bool
is_sandbox(json_t *config)
{
    const char *t =
        json_string_value(json_object_get(json_object_get(config, "annotations"), RT_ANNOT_TYPE));
    return t && strcmp(t, "sandbox") == 0;
}

static int
connect_console(const char *path, struct kerr *err)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    if (strlcpy_k(sa.sun_path, path, sizeof(sa.sun_path)) >= sizeof(sa.sun_path))
        return kerr_setf(err, ENAMETOOLONG, "console socket path '%s' is too long", path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return kerr_set(err, errno, "console socket");
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        int e = errno;
        close(fd);
        return kerr_set(err, e, "connect to console socket '%s'", path);
    }
    return fd;
}

/* The console connection: the caller's socket (a dup we own) or a connect to the path. */
static int
open_console(const char *path, bool has_fd, int fd, struct kerr *err)
{
    if (!has_fd)
        return connect_console(path, err);
    int d = fcntl(fd, F_DUPFD_CLOEXEC, 3);
    return d < 0 ? kerr_set(err, errno, "console: duplicate the console socket") : d;
}

static int
write_pid_file(const char *path, pid_t pid, struct kerr *err)
{
    char tmp[PATH_MAX], buf[32];
    snprintf(tmp, sizeof(tmp), "%s.kumo-tmp", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return kerr_set(err, errno, "pid file '%s'", path);
    int n = snprintf(buf, sizeof(buf), "%d", (int)pid);
    int r = write_all(fd, buf, (size_t)n);
    close(fd);
    if (r < 0 || rename(tmp, path) < 0) {
        unlink(tmp);
        return kerr_set(err, r < 0 ? -r : errno, "pid file '%s'", path);
    }
    return 0;
}

static void
remove_state_dir(const char *dir)
{
    static const char *const files[] = { "exec.fifo", "state.json", "state.json.tmp",
                                         "config.json" };
    char path[PATH_MAX];
    for (size_t i = 0; i < ARRAY_SIZE(files); i++) {
        snprintf(path, sizeof(path), "%s/%s", dir, files[i]);
        unlink(path);
    }
    rmdir(dir);
}

/*
 * The spawn of `run`: clone with CLONE_VM|CLONE_VFORK onto a stack of its
 * own, so the kernel copies no page tables for the child and tears none down
 * at its execve (on this kind of VM a fork of the runtime costs over a
 * millisecond, most of it there). We sleep until the init has exec'd or
 * died, exactly like posix_spawn: everything the child reads (the parsed
 * spec) stays put, and what it allocates it frees before execve. Only for
 * inits that need no round trip with us before exec: no user namespace (its
 * id maps are written by us, and setns/unshare of a user namespace refuse a
 * process that shares its memory), no hooks, no wait for `start`, and no
 * time namespace (its flag does not fit clone()'s). Signals are blocked
 * across the clone so none of our handlers ever runs on the child's stack;
 * the init resets dispositions and unblocks them itself.
 */
/* How long a container init may take from clone to "ready". */
#define SETUP_TIMEOUT_MS 120000

static pthread_mutex_t spawn_lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned spawns_in_flight; /* under spawn_lock */
static int spawn_dumpable;        /* before the first of them */

struct vfork_ctx {
    struct rt_init_args *a;
    int close_fd;
    pid_t pid; /* set by the kernel at clone (CLONE_PARENT_SETTID) */
    /* The watchdog: we sleep in clone() until the init execs, with no timeout. */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool done;
};

/*
 * Bound the init's setup while we sleep in clone(): after SETUP_TIMEOUT_MS
 * (a hung bind source, a memory cgroup OOM, which never picks a task in
 * vfork) SIGKILL it, as the fork path does after its timeout. A timer in
 * the init itself would not do: pid 1 of a pid namespace ignores signals
 * from inside it.
 */
static void *
vfork_watchdog(void *arg)
{
    struct vfork_ctx *ctx = arg;
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += SETUP_TIMEOUT_MS / 1000;
    pthread_mutex_lock(&ctx->mu);
    int r = 0;
    while (!ctx->done && r != ETIMEDOUT)
        r = pthread_cond_timedwait(&ctx->cv, &ctx->mu, &until);
    if (!ctx->done && __atomic_load_n(&ctx->pid, __ATOMIC_ACQUIRE) > 0)
        kill(ctx->pid, SIGKILL);
    pthread_mutex_unlock(&ctx->mu);
    return NULL;
}

/*
 * Under AddressSanitizer the child's frames poison the shadow of its stack,
 * which is our memory: clear it before the clone and after the child left.
 */
#if defined(__SANITIZE_ADDRESS__)
#define STACK_UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION(p, n)
#else
#define STACK_UNPOISON(p, n) ((void)(p), (void)(n))
#endif

static int
vfork_main(void *arg)
{
    struct vfork_ctx *ctx = arg;
    close(ctx->close_fd);
    linux__init(ctx->a);
}

static bool
can_vfork(const struct rt_init_args *a, const struct rt_spec *s, uint64_t flags)
{
    /*
     * A time namespace (new, with offsets prepared for our children, or
     * joined) is entered by a CLONE_VM child only at its execve, and only
     * on kernels from 5.18: keep those on the fork path.
     */
    for (size_t i = 0; i < s->n_ns; i++)
        if (s->ns[i].flag == CLONE_NEWTIME)
            return false;
    return a->start_now && !a->need_userns_sync && !a->hooks_sync && a->userns_fd < 0 &&
           !(flags & (CLONE_NEWUSER | CLONE_NEWTIME)) && !(s->new_ns_flags & CLONE_NEWTIME) &&
           !hooks__has(s->hooks, "createContainer") && !hooks__has(s->hooks, "startContainer");
}

static int
vfork_child(uint64_t flags, struct rt_init_args *a, int close_fd)
{
    /* Enough for the init's setup: seccomp compilation is its deepest path. */
    const size_t size = 1024 * 1024, guard = 4096;
    char *stack =
        mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
    if (stack == MAP_FAILED)
        return -errno;
    if (mprotect(stack, guard, PROT_NONE) < 0) {
        int e = errno;
        munmap(stack, size);
        return -e;
    }
    STACK_UNPOISON(stack + guard, size - guard);
    struct vfork_ctx ctx = { .a = a, .close_fd = close_fd };
    pthread_mutex_init(&ctx.mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&ctx.cv, &ca);
    pthread_condattr_destroy(&ca);
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pthread_t dog;
    bool have_dog = pthread_create(&dog, NULL, vfork_watchdog, &ctx) == 0;
    /*
     * The init clears "dumpable" (CVE-2019-5736) on the memory it shares
     * with us, which every thread of ours shares too: with several spawns
     * in flight, only the last one to finish may restore it.
     */
    pthread_mutex_lock(&spawn_lock);
    if (spawns_in_flight++ == 0)
        spawn_dumpable = prctl(PR_GET_DUMPABLE, 0, 0, 0, 0);
    pthread_mutex_unlock(&spawn_lock);
    int pid =
        clone(vfork_main, stack + size,
              (int)flags | CLONE_VM | CLONE_VFORK | CLONE_PARENT_SETTID | SIGCHLD, &ctx, &ctx.pid);
    int e = errno;
    if (have_dog) {
        pthread_mutex_lock(&ctx.mu);
        ctx.done = true;
        pthread_cond_signal(&ctx.cv);
        pthread_mutex_unlock(&ctx.mu);
        pthread_join(dog, NULL);
    }
    pthread_cond_destroy(&ctx.cv);
    pthread_mutex_destroy(&ctx.mu);
    pthread_mutex_lock(&spawn_lock);
    if (--spawns_in_flight == 0 && spawn_dumpable == 1)
        prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);
    pthread_mutex_unlock(&spawn_lock);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    STACK_UNPOISON(stack + guard, size - guard);
    munmap(stack, size);
    return pid < 0 ? -e : pid;
}

static bool
wants_v2_devices(json_t *annotations)
{
    const char *v = json_string_value(json_object_get(annotations, "org.kumo.cgroup2-devices"));
    return v && strcmp(v, "always") == 0;
}

static int
fork_child(uint64_t flags, int cgroup_fd)
{
    struct clone_args ca = { .flags = flags, .exit_signal = SIGCHLD };
    if (cgroup_fd >= 0) {
        ca.flags |= CLONE_INTO_CGROUP;
        ca.cgroup = (uint64_t)cgroup_fd;
    }
    long pid = syscall(SYS_clone3, &ca, sizeof(ca));
    return pid < 0 ? -errno : (int)pid;
}

int
rt_container_create(const char *root, const char *id, const char *bundle,
                    const struct rt_create_opts *opts, struct rt_container **ret_c,
                    struct kerr *err)
{
    static const struct rt_create_opts no_opts;
    struct rt_spec spec;
    struct rt_cgroup cg;
    struct rt_init_args a = { .fifo_fd = -1,
                              .console_fd = -1,
                              .mntns_fd = -1,
                              .userns_fd = -1,
                              .stdio = { -1, -1, -1 },
                              .root_tree_fd = -1 };
    struct ns_join joins[RT_MAX_NS];
    size_t n_joins = 0;
    int sv[2] = { -1, -1 }, v2fd = -1, devnull = -1;
    char path[PATH_MAX], bundle_abs[PATH_MAX];
    pid_t pid = -1;
    int r;
    json_t *config = NULL;
    struct rt_container *c = NULL;

    if (!opts)
        opts = &no_opts;
    if ((r = rt_id_validate(id, err)) < 0)
        return r;
    if (!realpath(bundle, bundle_abs))
        return kerr_set(err, errno, "bundle '%s'", bundle);
    if ((r = read_config(bundle_abs, &config, err)) < 0)
        return r;
    if (is_sandbox(config) && (r = rt_sandbox_harden(config, err)) < 0) {
        json_decref(config);
        return kerr_prefix(err, "sandbox");
    }
    json_t *proc = json_object_get(config, "process");
    if ((r = rt_caps_validate(json_object_get(proc, "capabilities"), err)) < 0 ||
        (r = rt_seccomp_validate(json_object_get(json_object_get(config, "linux"), "seccomp"),
                                 err)) < 0) {
        json_decref(config);
        return r;
    }
    r = spec__parse(config, bundle_abs, &spec, err);
    if (r < 0) {
        json_decref(config);
        return r;
    }
    struct stat st;
    if (stat(spec.rootfs, &st) < 0) {
        r = kerr_set(err, errno, "root.path: '%s'", spec.rootfs);
        goto out_spec;
    }
    if (!S_ISDIR(st.st_mode)) {
        r = kerr_setf(err, ENOTDIR, "root.path: '%s' is not a directory", spec.rootfs);
        goto out_spec;
    }
    if (spec.process.terminal && !opts->console_socket && !opts->has_console_fd) {
        r = kerr_setf(err, EINVAL, "process.terminal is true but no --console-socket was given");
        goto out_spec;
    }
    /* Mounts are skipped when the init joins a mount namespace by path. */
    bool mntns_joined = false;
    for (size_t i = 0; i < spec.n_ns; i++)
        mntns_joined |= spec.ns[i].flag == CLONE_NEWNS && spec.ns[i].path;
    /*
     * A user-namespaced init is an unprivileged host uid by the time it
     * mounts: it gets the rootfs and the bind sources as trees we open now,
     * so the bundle may sit where only root can reach (a 0700 directory).
     * Other inits are real root and bind by path, with no extra syscalls.
     */
    bool userns = (spec.new_ns_flags & CLONE_NEWUSER) != 0;
    for (size_t i = 0; i < spec.n_ns; i++)
        userns |= spec.ns[i].flag == CLONE_NEWUSER;
    if (!mntns_joined &&
        (r = idmap__prepare_mounts(&spec, bundle_abs, userns, &a.mount_fds, err)) < 0)
        goto out_spec;
    if (!mntns_joined && userns && (a.root_tree_fd = idmap__open_rootfs(&spec, err)) < 0) {
        r = a.root_tree_fd;
        goto out_spec;
    }
    if ((r = mkdir_p(root, 0700)) < 0) {
        r = kerr_set(err, -r, "state root '%s'", root);
        goto out_spec;
    }
    c = container_new(root, id);
    if (!c) {
        r = kerr_set(err, ENOMEM, "create");
        goto out_spec;
    }
    if (mkdir(c->dir, 0700) < 0) {
        r = errno == EEXIST ? kerr_setf(err, EEXIST, "container '%s' already exists", id)
                            : kerr_set(err, errno, "state dir '%s'", c->dir);
        rt_container_free(c);
        c = NULL;
        goto out_spec;
    }
    c->bundle = strdup(bundle_abs);
    c->rootfs = strdup(spec.rootfs);
    if (spec.annotations)
        c->annotations = json_incref(spec.annotations);
    c->has_hooks = spec.hooks != NULL;
    c->creator = getpid();
    rfc3339_now(c->created, sizeof(c->created));
    if (spec.cgroups_path && *spec.cgroups_path)
        strlcpy_k(c->cgpath, spec.cgroups_path, sizeof(c->cgpath));
    if ((r = state_write(c, "creating", err)) < 0)
        goto fail_dir;
    if ((r = cgroup__detect(&cg, c->cgpath, err)) < 0)
        goto fail_dir;
    cg.v2_devices_on_hybrid = wants_v2_devices(spec.annotations);
    if ((r = cgroup__create(&cg, err)) < 0)
        goto fail_dir;
    if ((r = cgroup__apply(&cg, spec.resources, false, err)) < 0)
        goto fail_cg;
    for (size_t i = 0; i < spec.n_devices; i++) {
        const struct rt_device *d = &spec.devices[i];
        if (d->type != 'p' && (r = cgroup__allow_device(&cg, d->type == 'b' ? 'b' : 'c', d->major,
                                                        d->minor, err)) < 0)
            goto fail_cg;
    }
    if ((r = cgroup__commit_devices(&cg, err)) < 0)
        goto fail_cg;

    snprintf(path, sizeof(path), "%s/exec.fifo", c->dir);
    if (!opts->start_now && mkfifo(path, 0600) < 0) {
        r = kerr_set(err, errno, "mkfifo '%s'", path);
        goto fail_cg;
    }
    if (!opts->start_now && (a.fifo_fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)) < 0) {
        r = kerr_set(err, errno, "open '%s'", path);
        goto fail_cg;
    }
    if (spec.process.terminal) {
        if ((a.console_fd = open_console(opts->console_socket, opts->has_console_fd,
                                         opts->console_fd, err)) < 0) {
            r = a.console_fd;
            goto fail_fds;
        }
    }
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
        r = kerr_set(err, errno, "socketpair");
        goto fail_fds;
    }
    if ((r = cgroup__open_procs(&cg, a.cg_fds, RT_CG_MAX_HIER, &a.n_cg_fds, &v2fd, err)) < 0)
        goto fail_fds;
    if (opts->set_stdio) {
        for (int i = 0; i < 3; i++)
            a.stdio[i] = opts->stdio_fds[i];
    } else if (!opts->inherit_stdio) {
        devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
        for (int i = 0; i < 3; i++)
            a.stdio[i] = devnull;
    }

    /* Join namespaces given by path: per-thread ones here, mnt/user in the child. */
    for (size_t i = 0; i < spec.n_ns; i++) {
        const struct rt_ns *ns = &spec.ns[i];
        if (!ns->path)
            continue;
        int fd = open(ns->path, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
            r = kerr_set(err, errno, "linux.namespaces: open '%s'", ns->path);
            goto fail_ns;
        }
        if (ns->flag == CLONE_NEWNS) {
            a.mntns_fd = fd;
            continue;
        }
        if (ns->flag == CLONE_NEWUSER) {
            a.userns_fd = fd;
            continue;
        }
        snprintf(path, sizeof(path), "/proc/thread-self/ns/%s", ns_proc_name(ns->flag, true));
        joins[n_joins] = (struct ns_join){ .fd = fd,
                                           .flag = ns->flag,
                                           .save = open(path, O_RDONLY | O_CLOEXEC) };
        n_joins++;
        if (joins[n_joins - 1].save < 0) {
            r = kerr_set(err, errno, "open '%s'", path);
            goto fail_ns;
        }
        if (setns(fd, ns->flag) < 0) {
            r = kerr_set(err, errno, "linux.namespaces: join %s namespace '%s'",
                         ns_proc_name(ns->flag, false), ns->path);
            joins[n_joins - 1].save = safe_close(joins[n_joins - 1].save);
            goto fail_ns;
        }
    }

    uint64_t flags = (uint64_t)spec.new_ns_flags;
    bool pidns_joined = false;
    for (size_t i = 0; i < n_joins; i++)
        pidns_joined |= joins[i].flag == CLONE_NEWPID;
    a.cgroupns = (flags & CLONE_NEWCGROUP) != 0;
    if ((flags & CLONE_NEWCGROUP) && (a.n_cg_fds > 0 || v2fd < 0)) {
        /* The cgroup ns must be rooted at the container's cgroup: unshare after joining. */
        flags &= ~(uint64_t)CLONE_NEWCGROUP;
        a.unshare_cgroupns = true;
    }
    a.spec = &spec;
    a.id = id;
    a.sync_fd = sv[1];
    a.no_pivot = opts->no_pivot;
    a.start_now = opts->start_now;
    c->started = opts->start_now;
    a.preserve_fds = opts->preserve_fds > 0 ? opts->preserve_fds : 0;
    a.need_userns_sync = (flags & CLONE_NEWUSER) != 0;
    a.hooks_sync = hooks__has(spec.hooks, "prestart") || hooks__has(spec.hooks, "createRuntime") ||
                   hooks__has(spec.hooks, "createContainer");
    a.cg = &cg;
    a.bundle = bundle_abs;
    a.parent_pid = (flags & CLONE_NEWPID) || pidns_joined ? 0 : getpid();
    if (hooks__has(spec.hooks, "createContainer") || hooks__has(spec.hooks, "startContainer")) {
        /* The init's host pid is only known after clone; hooks in the child see pid 0 otherwise. */
        a.hook_state = NULL;
    }

    /*
     * Clock offsets can only be set before any process is in the time
     * namespace: make it for our children, write the offsets, clone into it,
     * then go back (in ns_restore, like the joined namespaces).
     */
    if ((flags & CLONE_NEWTIME) && spec.time_offsets && json_object_size(spec.time_offsets) > 0) {
        if ((r = time_ns_prepare(spec.time_offsets, &joins[n_joins], err)) < 0)
            goto fail_ns;
        n_joins++;
        flags &= ~(uint64_t)CLONE_NEWTIME;
    }
    if (can_vfork(&a, &spec, flags) && a.n_cg_fds < RT_CG_MAX_HIER) {
        /* No CLONE_INTO_CGROUP with clone(): the init joins cgroup2 by cgroup.procs. */
        if (v2fd >= 0) {
            int pfd = openat(v2fd, "cgroup.procs", O_WRONLY | O_CLOEXEC);
            if (pfd < 0) {
                r = kerr_set(err, errno, "cgroup: open cgroup.procs of '%s'", cg.path);
                goto fail_ns;
            }
            a.cg_fds[a.n_cg_fds++] = pfd;
            v2fd = safe_close(v2fd);
            if (flags & CLONE_NEWCGROUP) {
                flags &= ~(uint64_t)CLONE_NEWCGROUP;
                a.unshare_cgroupns = true;
            }
        }
        pid = vfork_child(flags, &a, sv[0]);
    } else
        pid = fork_child(flags, v2fd);
    if (pid == -EBUSY || pid == -EOPNOTSUPP || pid == -EINVAL) {
        if (v2fd >= 0) {
            /* Not joinable by CLONE_INTO_CGROUP (e.g. threaded): the child writes cgroup.procs. */
            int pfd = openat(v2fd, "cgroup.procs", O_WRONLY | O_CLOEXEC);
            if (pfd >= 0 && a.n_cg_fds < RT_CG_MAX_HIER)
                a.cg_fds[a.n_cg_fds++] = pfd;
            v2fd = safe_close(v2fd);
            if (flags & CLONE_NEWCGROUP) {
                flags &= ~(uint64_t)CLONE_NEWCGROUP;
                a.unshare_cgroupns = true;
            }
            pid = fork_child(flags, -1);
        }
    }
    if (pid == 0) {
        if (a.hook_state == NULL && hooks__has(spec.hooks, "createContainer")) {
            char self[32] = "";
            ssize_t n = readlink("/proc/self", self, sizeof(self) - 1);
            self[n > 0 ? n : 0] = '\0';
            a.hook_state =
                hooks__state(id, "creating", (pid_t)atoi(self), bundle_abs, spec.annotations);
        }
        if (a.hook_state == NULL && hooks__has(spec.hooks, "startContainer")) {
            char self[32] = "";
            ssize_t n = readlink("/proc/self", self, sizeof(self) - 1);
            self[n > 0 ? n : 0] = '\0';
            a.hook_state =
                hooks__state(id, "created", (pid_t)atoi(self), bundle_abs, spec.annotations);
        }
        close(sv[0]);
        linux__init(&a);
    }
    ns_restore(joins, n_joins);
    n_joins = 0;
    if (pid < 0) {
        r = kerr_set(err, -pid, "clone3 the container init");
        goto fail_ns;
    }
    sv[1] = safe_close(sv[1]);
    c->pid = pid;
    c->is_child = true;

    if (a.need_userns_sync) {
        if ((r = linux__write_idmaps(pid, &spec, err)) < 0)
            goto fail_child;
        linux__sync_send(sv[0], 'M', 0, NULL);
    }
    for (;;) {
        char tag, msg[KERR_MSG_MAX];
        int code = 0;
        r = linux__sync_recv(sv[0], &tag, &code, msg, sizeof(msg), SETUP_TIMEOUT_MS);
        if (r == -EPIPE) {
            int status = 0;
            waitpid(pid, &status, 0);
            pid = -1;
            r = kerr_setf(err, EIO, "container init exited during setup (status %d)",
                          WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
            goto fail_child;
        }
        if (r < 0) {
            r = kerr_set(err, -r, "wait for the container init");
            goto fail_child;
        }
        if (tag == 'E') {
            r = kerr_setf(err, code > 0 ? code : EIO, "%s", msg);
            goto fail_child;
        }
        if (tag == 'H') {
            cleanup_free char *stxt = state_text(c, "creating");
            if ((r = hooks__run(spec.hooks, "prestart", stxt, err)) < 0 ||
                (r = hooks__run(spec.hooks, "createRuntime", stxt, err)) < 0)
                goto fail_child;
            linux__sync_send(sv[0], 'h', 0, NULL);
            continue;
        }
        if (tag == 'R')
            break;
    }
    c->starttime = rt__proc_starttime(pid);
    snprintf(path, sizeof(path), "%s/config.json", c->dir);
    if (json_dump_file(spec.json, path, JSON_COMPACT) < 0) {
        r = kerr_set(err, errno ? errno : EIO, "write '%s'", path);
        goto fail_child;
    }
    if ((r = state_write(c, opts->start_now ? "running" : "created", err)) < 0)
        goto fail_child;
    if (opts->pid_file && (r = write_pid_file(opts->pid_file, pid, err)) < 0)
        goto fail_child;
    c->sync_fd = TAKE_FD(sv[0]);
    r = 0;
    goto out_fds;

fail_child:
    if (pid > 0) {
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
    }
fail_ns:
    ns_restore(joins, n_joins);
fail_fds:
    safe_close(sv[0]);
    safe_close(sv[1]);
    sv[0] = sv[1] = -1;
fail_cg:
    cgroup__kill_all(&cg, SIGKILL);
    cgroup__destroy(&cg, NULL);
fail_dir:
    remove_state_dir(c->dir);
    c = rt_container_free(c);
out_fds:
    safe_close(sv[0]);
    safe_close(sv[1]);
    safe_close(a.fifo_fd);
    safe_close(a.console_fd);
    safe_close(a.mntns_fd);
    safe_close(a.userns_fd);
    safe_close(v2fd);
    safe_close(devnull);
    for (size_t i = 0; i < a.n_cg_fds; i++)
        safe_close(a.cg_fds[i]);
out_spec:
    a.mount_fds = idmap__close_mounts(a.mount_fds, spec.n_mounts);
    safe_close(a.root_tree_fd);
    spec__free(&spec);
    json_decref(config);
    if (r == 0 && ret_c)
        *ret_c = c;
    else if (c)
        rt_container_free(c);
    return r;
}

/* ---- start, kill, delete, wait ---- */

int
rt_container_start(struct rt_container *c, struct kerr *err)
{
    char path[PATH_MAX];
    if (c->started) {
        c->started = false;
        c->sync_fd = safe_close(c->sync_fd);
        goto poststart;
    }
    /* A handle that still holds the init's socket knows it is created and waiting. */
    enum rt_status s = c->sync_fd >= 0 ? RT_STATUS_CREATED : compute_status(c);
    if (s != RT_STATUS_CREATED)
        return kerr_setf(err, EINVAL, "container '%s' is %s, not created", c->id,
                         rt_status_name(s));
    snprintf(path, sizeof(path), "%s/exec.fifo", c->dir);
    if (c->sync_fd < 0 || linux__sync_send(c->sync_fd, 'S', 0, NULL) < 0) {
        int fd = open(path, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
        if (fd < 0)
            return errno == ENXIO ? kerr_setf(err, ESRCH, "container '%s': the init is gone", c->id)
                                  : kerr_set(err, errno, "open '%s'", path);
        ssize_t n = write(fd, "0", 1);
        int e = errno;
        close(fd);
        if (n != 1)
            return kerr_set(err, e, "write '%s'", path);
    }
    c->sync_fd = safe_close(c->sync_fd);
    unlink(path);
poststart:
    if (c->has_hooks) {
        json_t *cfg = rt_container_config(c, NULL);
        json_t *hooks = json_object_get(cfg, "hooks");
        if (hooks__has(hooks, "poststart")) {
            cleanup_free char *st = state_text(c, "running");
            int r = hooks__run(hooks, "poststart", st, err);
            if (r < 0)
                return r;
        }
    }
    return 0;
}

int
rt_container_kill(struct rt_container *c, int sig, bool all, struct kerr *err)
{
    enum rt_status s = compute_status(c);
    if (sig < 0 || sig >= NSIG)
        return kerr_setf(err, EINVAL, "invalid signal %d", sig);
    if (all) {
        struct rt_cgroup cg;
        int r = cgroup__detect(&cg, c->cgpath, err);
        if (r < 0)
            return r;
        r = cgroup__kill_all(&cg, sig);
        if (r < 0)
            return kerr_set(err, -r, "signal the processes of cgroup '%s'", c->cgpath);
        return 0;
    }
    if (s == RT_STATUS_STOPPED || s == RT_STATUS_CREATING)
        return kerr_setf(err, ESRCH, "container '%s': container not running", c->id);
    if (kill(c->pid, sig) < 0)
        return kerr_set(err, errno, "signal %d to pid %d", sig, (int)c->pid);
    return 0;
}

static void
wait_gone(struct rt_container *c, int timeout_ms)
{
    if (c->pid <= 0)
        return;
    if (c->is_child) {
        waitpid(c->pid, NULL, 0);
        c->is_child = false;
        return;
    }
    int pidfd = (int)syscall(SYS_pidfd_open, c->pid, 0);
    if (pidfd >= 0) {
        struct pollfd p = { .fd = pidfd, .events = POLLIN };
        if (rt__proc_starttime(c->pid) == c->starttime)
            poll(&p, 1, timeout_ms);
        close(pidfd);
    }
}

int
rt_container_delete(struct rt_container *c, bool force, struct kerr *err)
{
    enum rt_status s = c->exited ? RT_STATUS_STOPPED : compute_status(c);
    struct rt_cgroup cg;
    int r;
    if ((s == RT_STATUS_RUNNING || s == RT_STATUS_PAUSED) && !force)
        return kerr_setf(err, EBUSY,
                         "cannot delete container '%s' that is not stopped: %s (use --force)",
                         c->id, rt_status_name(s));
    if (s == RT_STATUS_CREATING && !force)
        return kerr_setf(err, EBUSY, "container '%s' is being created (use --force)", c->id);
    bool have_cg = cgroup__detect(&cg, c->cgpath, NULL) == 0;
    if (s != RT_STATUS_STOPPED && c->pid > 0)
        kill(c->pid, SIGKILL);
    if (have_cg) {
        cgroup__kill_all(&cg, SIGKILL);
        if (s == RT_STATUS_PAUSED)
            cgroup__freeze(&cg, false, NULL);
    }
    if (s != RT_STATUS_STOPPED)
        wait_gone(c, 5000);
    if (have_cg && (r = cgroup__destroy(&cg, err)) < 0)
        return r;
    if (c->has_hooks) {
        json_t *hooks = json_object_get(rt_container_config(c, NULL), "hooks");
        if (hooks__has(hooks, "poststop")) {
            cleanup_free char *st = state_text(c, "stopped");
            struct kerr herr = KERR_INIT;
            /* The spec: a failing poststop hook is logged, the delete goes on. */
            if (hooks__run(hooks, "poststop", st, &herr) < 0)
                dprintf(2, "kumo-runtime: warning: %s\n", herr.msg);
        }
    }
    remove_state_dir(c->dir);
    if (access(c->dir, F_OK) == 0)
        return kerr_set(err, errno ? errno : ENOTEMPTY, "remove state dir '%s'", c->dir);
    return 0;
}

int
rt_container_wait(struct rt_container *c, int *ret_exit, struct kerr *err)
{
    int st;
    if (!c->is_child)
        return kerr_setf(err, ECHILD, "container '%s' was not started by this process", c->id);
    while (waitpid(c->pid, &st, 0) < 0) {
        if (errno != EINTR)
            return kerr_set(err, errno, "wait for pid %d", (int)c->pid);
    }
    c->is_child = false;
    c->exited = true;
    *ret_exit = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    return 0;
}

static int
with_cgroup(struct rt_container *c, struct rt_cgroup *cg, struct kerr *err)
{
    enum rt_status s = compute_status(c);
    if (s == RT_STATUS_STOPPED)
        return kerr_setf(err, ESRCH, "container '%s': container not running", c->id);
    int r = cgroup__detect(cg, c->cgpath, err);
    if (r >= 0)
        cg->v2_devices_on_hybrid = wants_v2_devices(c->annotations);
    return r;
}

int
rt_container_pause(struct rt_container *c, struct kerr *err)
{
    struct rt_cgroup cg;
    int r = with_cgroup(c, &cg, err);
    return r < 0 ? r : cgroup__freeze(&cg, true, err);
}

int
rt_container_resume(struct rt_container *c, struct kerr *err)
{
    struct rt_cgroup cg;
    int r = with_cgroup(c, &cg, err);
    return r < 0 ? r : cgroup__freeze(&cg, false, err);
}

int
rt_container_update(struct rt_container *c, json_t *resources, struct kerr *err)
{
    struct rt_cgroup cg;
    int r = with_cgroup(c, &cg, err);
    if (r < 0)
        return r;
    json_t *cfg = rt_container_config(c, NULL);
    cg.spec_devices = json_object_get(json_object_get(cfg, "linux"), "devices");
    return cgroup__apply(&cg, resources, true, err);
}

int
rt_container_pids(struct rt_container *c, pid_t **ret_pids, size_t *ret_n, struct kerr *err)
{
    struct rt_cgroup cg;
    int r = cgroup__detect(&cg, c->cgpath, err);
    if (r < 0)
        return r;
    r = cgroup__pids(&cg, ret_pids, ret_n);
    if (r == -ENOENT) {
        *ret_pids = NULL;
        *ret_n = 0;
        return 0;
    }
    return r < 0 ? kerr_set(err, -r, "read the pids of cgroup '%s'", c->cgpath) : 0;
}

/* ---- exec ---- */

static const int exec_ns_order[] = { CLONE_NEWUSER, CLONE_NEWNS,     CLONE_NEWNET, CLONE_NEWIPC,
                                     CLONE_NEWUTS,  CLONE_NEWCGROUP, CLONE_NEWPID, CLONE_NEWTIME };

static bool
same_ns(pid_t pid, const char *name)
{
    char a[64], b[64];
    struct stat sa, sb;
    snprintf(a, sizeof(a), "/proc/%d/ns/%s", (int)pid, name);
    snprintf(b, sizeof(b), "/proc/self/ns/%s", name);
    return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_ino == sb.st_ino &&
           sa.st_dev == sb.st_dev;
}

int
rt_container_exec(struct rt_container *c, json_t *process, const struct rt_exec_opts *opts,
                  pid_t *ret_pid, int *ret_exit, struct kerr *err)
{
    static const struct rt_exec_opts no_opts;
    struct rt_process p;
    struct rt_cgroup cg;
    struct ns_join joins[RT_MAX_NS];
    size_t n_joins = 0;
    int nsfd[ARRAY_SIZE(exec_ns_order)];
    int cgfds[RT_CG_MAX_HIER];
    size_t n_cg = 0;
    int v2fd = -1, sv[2] = { -1, -1 }, console = -1, devnull = -1;
    pid_t pid = -1;
    int r;

    if (!opts)
        opts = &no_opts;
    for (size_t i = 0; i < ARRAY_SIZE(nsfd); i++)
        nsfd[i] = -1;
    enum rt_status s = compute_status(c);
    if (s != RT_STATUS_RUNNING && s != RT_STATUS_CREATED)
        return kerr_setf(err, EINVAL, "container '%s' is %s: cannot exec", c->id,
                         rt_status_name(s));
    json_t *cfg = rt_container_config(c, NULL);
    if ((r = rt_sandbox_harden_process(cfg, process, err)) < 0 ||
        (r = rt_caps_validate(json_object_get(process, "capabilities"), err)) < 0)
        return r;
    if ((r = spec__parse_process(process, &p, true, err)) < 0)
        return r;
    if (p.terminal && !opts->console_socket && !opts->has_console_fd) {
        r = kerr_setf(err, EINVAL, "process.terminal is true but no --console-socket was given");
        goto out;
    }
    json_t *seccomp = json_object_get(json_object_get(cfg, "linux"), "seccomp");
    /* An exec'd process runs with the container's personality (uname -m agrees). */
    bool has_pers = false;
    unsigned long pers = 0;
    if ((r = spec__parse_personality(json_object_get(cfg, "linux"), &has_pers, &pers, err)) < 0)
        goto out;
    for (size_t i = 0; i < ARRAY_SIZE(exec_ns_order); i++) {
        char path[64];
        int flag = exec_ns_order[i];
        const char *name = ns_proc_name(flag, false);
        if (same_ns(c->pid, name))
            continue;
        snprintf(path, sizeof(path), "/proc/%d/ns/%s", (int)c->pid, name);
        nsfd[i] = open(path, O_RDONLY | O_CLOEXEC);
        if (nsfd[i] < 0 && errno != ENOENT) {
            r = kerr_set(err, errno, "open '%s'", path);
            goto out;
        }
    }
    bool have_cg = cgroup__detect(&cg, c->cgpath, NULL) == 0;
    if (have_cg && (r = cgroup__open_procs(&cg, cgfds, RT_CG_MAX_HIER, &n_cg, &v2fd, err)) < 0)
        goto out;
    /*
     * execCPUAffinity.initial must hold while the process joins the cgroup,
     * so it cannot be born there: no CLONE_INTO_CGROUP, the child writes
     * cgroup.procs like on v1. Without a final list, the process then gets
     * what the container's cpuset allows: since Linux 6.2 the kernel keeps
     * a requested affinity across the move, which would leave it on the
     * initial CPUs.
     */
    bool reset_cpus = false;
    cpu_set_t cpus_after;
    if (p.has_cpu_initial) {
        if (v2fd >= 0 && n_cg < RT_CG_MAX_HIER) {
            int pfd = openat(v2fd, "cgroup.procs", O_WRONLY | O_CLOEXEC);
            if (pfd < 0) {
                r = kerr_set(err, errno, "cgroup: open cgroup.procs of '%s'", cg.path);
                goto out;
            }
            cgfds[n_cg++] = pfd;
            v2fd = safe_close(v2fd);
        }
        if (!p.has_cpu_final) {
            char list[4096];
            reset_cpus = (have_cg && cgroup__effective_cpus(&cg, list, sizeof(list)) == 0 &&
                          spec__parse_cpu_list(list, "cpuset", &cpus_after, NULL) == 0 &&
                          CPU_COUNT(&cpus_after) > 0) ||
                         sched_getaffinity(0, sizeof(cpus_after), &cpus_after) == 0;
        }
    }
    if (p.terminal && (console = open_console(opts->console_socket, opts->has_console_fd,
                                              opts->console_fd, err)) < 0) {
        r = console;
        goto out;
    }
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
        r = kerr_set(err, errno, "socketpair");
        goto out;
    }
    if (!opts->inherit_stdio)
        devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
    /* pid and time namespaces apply to children: join them here around the clone. */
    for (size_t i = 0; i < ARRAY_SIZE(exec_ns_order); i++) {
        int flag = exec_ns_order[i];
        char path[64];
        if (nsfd[i] < 0 || (flag != CLONE_NEWPID && flag != CLONE_NEWTIME))
            continue;
        snprintf(path, sizeof(path), "/proc/thread-self/ns/%s", ns_proc_name(flag, true));
        joins[n_joins] =
            (struct ns_join){ .fd = -1, .flag = flag, .save = open(path, O_RDONLY | O_CLOEXEC) };
        n_joins++;
        if (setns(nsfd[i], flag) < 0) {
            r = kerr_set(err, errno, "join the container's %s namespace",
                         ns_proc_name(flag, false));
            goto out;
        }
    }
    pid = fork_child(0, v2fd);
    if (pid < 0 && v2fd >= 0)
        pid = fork_child(0, -1);
    if (pid == 0) {
        struct kerr cerr = KERR_INIT;
        char exe[PATH_MAX];
        close(sv[0]);
        if (p.has_cpu_initial && sched_setaffinity(0, sizeof(p.cpu_initial), &p.cpu_initial) < 0) {
            kerr_set(&cerr, errno, "process.execCPUAffinity.initial: set the CPU affinity");
            goto child_fail;
        }
        /* Until execve, container processes must not open us through /proc (CVE-2019-5736). */
        prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
        linux__reset_signals();
        for (size_t i = 0; i < n_cg; i++)
            if (write(cgfds[i], "0", 1) < 0) {
                /* Joining the cgroup is best effort for exec, as with runc on v1 leftovers. */
            }
        for (size_t i = 0; i < ARRAY_SIZE(exec_ns_order); i++) {
            int flag = exec_ns_order[i];
            if (nsfd[i] < 0 || flag == CLONE_NEWPID || flag == CLONE_NEWTIME)
                continue;
            if (setns(nsfd[i], flag) < 0) {
                kerr_set(&cerr, errno, "join the container's %s namespace",
                         ns_proc_name(flag, false));
                goto child_fail;
            }
        }
        if (chdir(p.cwd) < 0) {
            kerr_set(&cerr, errno, "process.cwd: chdir '%s'", p.cwd);
            goto child_fail;
        }
        for (size_t i = 0; i < p.n_rlimits; i++) {
            struct rlimit rl = { p.rlimits[i].soft, p.rlimits[i].hard };
            if (setrlimit((__rlimit_resource_t)p.rlimits[i].resource, &rl) < 0) {
                kerr_set(&cerr, errno, "process.rlimits[%zu]: setrlimit", i);
                goto child_fail;
            }
        }
        /*
         * The final affinity comes once the setup that initial was for is
         * done, but before the scheduler policy (SCHED_DEADLINE refuses a
         * narrower mask) and seccomp (which may deny sched_setaffinity).
         */
        if (p.has_cpu_final && sched_setaffinity(0, sizeof(p.cpu_final), &p.cpu_final) < 0) {
            kerr_set(&cerr, errno, "process.execCPUAffinity.final: set the CPU affinity");
            goto child_fail;
        }
        if (reset_cpus && sched_setaffinity(0, sizeof(cpus_after), &cpus_after) < 0) {
            kerr_set(&cerr, errno,
                     "process.execCPUAffinity: reset the CPU affinity to the container's cpuset");
            goto child_fail;
        }
        if (linux__apply_process_attrs(&p, has_pers ? &pers : NULL, &cerr) < 0)
            goto child_fail;
        if (linux__resolve_exe(&p, exe, sizeof(exe), &cerr) < 0)
            goto child_fail;
        if (rt_sandbox_enter(cfg, &cerr) < 0)
            goto child_fail;
        if (console >= 0) {
            int m, sl;
            if (linux__open_pty(&m, &sl, &cerr) < 0)
                goto child_fail;
            if (linux__send_fd(console, m) < 0) {
                kerr_set(&cerr, errno, "send the pty master to the console socket");
                goto child_fail;
            }
            close(m);
            setsid();
            ioctl(sl, TIOCSCTTY, 0);
            for (int i = 0; i < 3; i++)
                dup2(sl, i);
        } else if (devnull >= 0) {
            for (int i = 0; i < 3; i++)
                dup2(devnull, i);
        }
        if (linux__finalize_process(&p, seccomp, &cerr) < 0)
            goto child_fail;
        linux__preserve_fds(opts->preserve_fds > 0 ? opts->preserve_fds : 0);
        execve(exe, p.args, p.env ? p.env : (char *[]){ NULL });
        kerr_set(&cerr, errno, "exec '%s'", exe);
    child_fail:
        linux__sync_send(sv[1], 'E', cerr.code ? cerr.code : EIO, cerr.msg);
        _exit(127);
    }
    ns_restore(joins, n_joins);
    n_joins = 0;
    if (pid < 0) {
        r = kerr_set(err, -pid, "clone3 the exec process");
        goto out;
    }
    sv[1] = safe_close(sv[1]);
    {
        char tag, msg[KERR_MSG_MAX];
        int code = 0;
        r = linux__sync_recv(sv[0], &tag, &code, msg, sizeof(msg), -1);
        if (r == 0 && tag == 'E') {
            waitpid(pid, NULL, 0);
            r = kerr_setf(err, code > 0 ? code : EIO, "%s", msg);
            goto out;
        }
    }
    if (opts->pid_file && (r = write_pid_file(opts->pid_file, pid, err)) < 0)
        goto out;
    if (ret_pid)
        *ret_pid = pid;
    r = 0;
    if (!opts->detach) {
        int wst;
        while (waitpid(pid, &wst, 0) < 0) {
            if (errno != EINTR) {
                r = kerr_set(err, errno, "wait for pid %d", (int)pid);
                goto out;
            }
        }
        if (ret_exit)
            *ret_exit = WIFEXITED(wst) ? WEXITSTATUS(wst) : 128 + WTERMSIG(wst);
    }
out:
    ns_restore(joins, n_joins);
    for (size_t i = 0; i < ARRAY_SIZE(nsfd); i++)
        safe_close(nsfd[i]);
    for (size_t i = 0; i < n_cg; i++)
        safe_close(cgfds[i]);
    safe_close(v2fd);
    safe_close(sv[0]);
    safe_close(sv[1]);
    safe_close(console);
    safe_close(devnull);
    spec__free_process(&p);
    return r;
}

/* ---- list, features ---- */

int
rt_list(const char *root, char ***ret_ids, size_t *ret_n, struct kerr *err)
{
    DIR *d = opendir(root);
    size_t n = 0, cap = 16;
    char **ids;
    struct dirent *de;
    if (!d) {
        if (errno == ENOENT) {
            *ret_ids = NULL;
            *ret_n = 0;
            return 0;
        }
        return kerr_set(err, errno, "open state root '%s'", root);
    }
    ids = malloc(cap * sizeof(char *));
    if (!ids) {
        closedir(d);
        return kerr_set(err, ENOMEM, "list");
    }
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.' || rt_id_validate(de->d_name, NULL) < 0)
            continue;
        if (de->d_type != DT_DIR && de->d_type != DT_UNKNOWN)
            continue;
        if (n == cap) {
            char **ni = realloc(ids, (cap *= 2) * sizeof(char *));
            if (!ni)
                break;
            ids = ni;
        }
        ids[n] = strdup(de->d_name);
        if (ids[n])
            n++;
    }
    closedir(d);
    *ret_ids = ids;
    *ret_n = n;
    return 0;
}

static json_t *
strarr(const char *const *v)
{
    json_t *a = json_array();
    for (; a && *v; v++)
        json_array_append_new(a, json_string(*v));
    return a;
}

json_t *
rt_features(void)
{
    static const char *const hooks[] = {
        "prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop",
        NULL
    };
    static const char *const mopts[] = {
        "async",      "atime",         "bind",        "defaults",    "dev",
        "diratime",   "dirsync",       "exec",        "loud",        "mand",
        "noatime",    "nodev",         "nodiratime",  "noexec",      "nomand",
        "norelatime", "nostrictatime", "nosuid",      "nosymfollow", "private",
        "rbind",      "relatime",      "remount",     "ro",          "rprivate",
        "rshared",    "rslave",        "runbindable", "rw",          "shared",
        "silent",     "slave",         "strictatime", "suid",        "symfollow",
        "sync",       "unbindable",    "tmpcopyup",   NULL,
    };
    /* Applied with mount_setattr: recursive attributes, idmapped mounts. */
    static const char *const mopts_setattr[] = {
        "rro",      "rrw",    "rnosuid",      "rsuid",          "rnodev",       "rdev",
        "rnoexec",  "rexec",  "rnodiratime",  "rdiratime",      "rrelatime",    "rnorelatime",
        "rnoatime", "ratime", "rstrictatime", "rnostrictatime", "rnosymfollow", "rsymfollow",
        "idmap",    "ridmap", NULL,
    };
    static const char *const ns[] = { "cgroup", "ipc",  "mount", "network", "pid",
                                      "time",   "user", "uts",   NULL };
    json_t *mount_opts = strarr(mopts), *more = strarr(mopts_setattr);
    if (mount_opts && more)
        json_array_extend(mount_opts, more);
    json_decref(more);
    return json_pack("{s:s, s:s, s:o, s:o, s:{s:o, s:{s:b, s:b, s:b, s:b}, s:{s:b}, s:{s:b}, "
                     "s:{s:b}, s:{s:b}, s:{s:{s:b}}}, s:{s:s}}",
                     "ociVersionMin", "1.0.0", "ociVersionMax", RT_OCI_VERSION, "hooks",
                     strarr(hooks), "mountOptions", mount_opts, "linux", "namespaces", strarr(ns),
                     "cgroup", "v1", 1, "v2", 1, "systemd", 0, "systemdUser", 0, "seccomp",
                     "enabled", 1, "apparmor", "enabled", 0, "selinux", "enabled", 0, "intelRdt",
                     "enabled", 0, "mountExtensions", "idmap", "enabled", 1, "annotations",
                     RT_ANNOT_TYPE, "process|sandbox");
}
