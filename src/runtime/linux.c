/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The container init: the code the cloned child runs between clone3() and
 * execve() of the container process. It joins its cgroups, waits for its id
 * maps, builds the root filesystem (the spec's mounts, devices, masked and
 * readonly paths, pivot_root), applies the per-process settings, reports
 * "ready" to the runtime over the sync socket and then blocks until start
 * (a byte on exec.fifo or on the sync socket). Any failure before "ready"
 * is sent to the runtime as one error message and the child _exit()s; the
 * runtime rolls back.
 *
 * Runs single-threaded in the child only; nothing here returns to the
 * caller of clone3. Helpers at the end are shared with exec (container.c).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <linux/close_range.h>
#include <linux/openat2.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "cleanup.h"
#include "internal.h"
#include "kerr.h"
#include "security.h"
#include "util.h"

#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080
#endif
#ifndef ST_NOSYMFOLLOW
#define ST_NOSYMFOLLOW 0x2000 /* statfs f_flags, as the kernel reports MNT_NOSYMFOLLOW */
#endif

/* ---- sync protocol: one SOCK_SEQPACKET message = tag, errno, text ---- */

struct sync_msg {
    char tag;
    int code;
    char text[KERR_MSG_MAX];
};

int
linux__sync_send(int fd, char tag, int code, const char *msg)
{
    struct sync_msg m = { .tag = tag, .code = code };
    size_t len = offsetof(struct sync_msg, text);
    if (msg) {
        size_t n = strlcpy_k(m.text, msg, sizeof(m.text));
        len += (n < sizeof(m.text) ? n : sizeof(m.text) - 1) + 1;
    }
    ssize_t r;
    do {
        r = send(fd, &m, len, MSG_NOSIGNAL);
    } while (r < 0 && errno == EINTR);
    return r < 0 ? -errno : 0;
}

/* Returns 0, -EPIPE on EOF, -ETIMEDOUT or -errno. */
int
linux__sync_recv(int fd, char *ret_tag, int *ret_code, char *msg, size_t cap, int timeout_ms)
{
    struct sync_msg m;
    struct pollfd p = { .fd = fd, .events = POLLIN };
    for (;;) {
        int n = poll(&p, 1, timeout_ms);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -errno;
        if (n == 0)
            return -ETIMEDOUT;
        break;
    }
    ssize_t r;
    do {
        r = recv(fd, &m, sizeof(m), 0);
    } while (r < 0 && errno == EINTR);
    if (r < 0)
        return -errno;
    if (r == 0)
        return -EPIPE;
    if ((size_t)r < offsetof(struct sync_msg, text))
        return -EPROTO;
    *ret_tag = m.tag;
    if (ret_code)
        *ret_code = m.code;
    if (msg && cap) {
        size_t tl = (size_t)r - offsetof(struct sync_msg, text);
        if (tl >= sizeof(m.text))
            tl = sizeof(m.text) - 1;
        m.text[tl] = '\0';
        strlcpy_k(msg, m.text, cap);
    }
    return 0;
}

int
linux__send_fd(int sock, int fd)
{
    char c = 'm';
    struct iovec iov = { .iov_base = &c, .iov_len = 1 };
    union {
        char buf[CMSG_SPACE(sizeof(int))];
        struct cmsghdr align;
    } u;
    struct msghdr mh = {
        .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof(u.buf)
    };
    struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
    cm->cmsg_level = SOL_SOCKET;
    cm->cmsg_type = SCM_RIGHTS;
    cm->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(cm), &fd, sizeof(int));
    return sendmsg(sock, &mh, MSG_NOSIGNAL) < 0 ? -errno : 0;
}

int
linux__write_idmaps(pid_t pid, const struct rt_spec *s, struct kerr *err)
{
    char path[64], buf[RT_MAX_IDMAPS * 36];
    const struct rt_idmap *maps[2] = { s->uid_maps, s->gid_maps };
    size_t ns[2] = { s->n_uid_maps, s->n_gid_maps };
    static const char *const files[2] = { "uid_map", "gid_map" };
    for (int k = 0; k < 2; k++) {
        size_t len = 0;
        for (size_t i = 0; i < ns[k]; i++)
            len += (size_t)snprintf(buf + len, sizeof(buf) - len, "%u %u %u\n",
                                    maps[k][i].container_id, maps[k][i].host_id, maps[k][i].size);
        snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, files[k]);
        int r = write_file(path, buf, len);
        if (r < 0)
            return kerr_set(err, -r, "write %s '%.*s'", path, (int)strcspn(buf, "\n"), buf);
    }
    return 0;
}

int
linux__open_pty(int *ret_master, int *ret_slave, struct kerr *err)
{
    int m = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (m < 0)
        return kerr_set(err, errno, "open /dev/ptmx");
    int unlock = 0;
    if (ioctl(m, TIOCSPTLCK, &unlock) < 0) {
        int e = errno;
        close(m);
        return kerr_set(err, e, "unlock pty");
    }
    int s = ioctl(m, TIOCGPTPEER, O_RDWR | O_NOCTTY);
    if (s < 0) {
        int e = errno;
        close(m);
        return kerr_set(err, e, "open pty peer");
    }
    *ret_master = m;
    *ret_slave = s;
    return 0;
}

/* ---- child-side helpers ---- */

/* Send the error to the runtime and exit; only before "ready". */
__attribute__((noreturn)) static void
die(struct rt_init_args *a, struct kerr *err)
{
    linux__sync_send(a->sync_fd, 'E', err->code ? err->code : EIO, err->msg);
    _exit(1);
}

static int
open_in_root(int root_fd, const char *path, int flags)
{
    struct open_how how = { .flags = (uint64_t)flags | O_CLOEXEC,
                            .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS };
    while (*path == '/')
        path++;
    if (!*path)
        path = ".";
    int fd = (int)syscall(SYS_openat2, root_fd, path, &how, sizeof(how));
    return fd < 0 ? -errno : fd;
}

/*
 * Create path (and its parents) inside the root, never following a symlink
 * out of it. The last component is a directory or, if !dir, an empty file.
 */
static int
mkpath_in_root(int root_fd, const char *path, bool dir, mode_t mode)
{
    char buf[PATH_MAX];
    if (strlcpy_k(buf, path, sizeof(buf)) >= sizeof(buf))
        return -ENAMETOOLONG;
    int fd = open_in_root(root_fd, buf, O_PATH);
    if (fd >= 0) {
        close(fd);
        return 0;
    }
    if (fd != -ENOENT)
        return fd;
    char *slash = strrchr(buf, '/');
    const char *name = slash ? slash + 1 : buf;
    int pfd;
    if (slash && slash != buf) {
        *slash = '\0';
        int r = mkpath_in_root(root_fd, buf, true, 0755);
        if (r < 0)
            return r;
        pfd = open_in_root(root_fd, buf, O_PATH | O_DIRECTORY);
    } else {
        pfd = fcntl(root_fd, F_DUPFD_CLOEXEC, 0);
    }
    if (pfd < 0)
        return pfd;
    int r;
    if (dir) {
        r = mkdirat(pfd, name, mode) < 0 && errno != EEXIST ? -errno : 0;
    } else {
        int f = openat(pfd, name, O_CREAT | O_WRONLY | O_CLOEXEC | O_NOFOLLOW, mode);
        r = f < 0 && errno != EEXIST ? -errno : 0;
        safe_close(f);
    }
    close(pfd);
    return r;
}

static unsigned long
locked_flags(const char *path)
{
    struct statvfs sv;
    unsigned long f = 0;
    if (statvfs(path, &sv) < 0)
        return 0;
    if (sv.f_flag & ST_NOSUID)
        f |= MS_NOSUID;
    if (sv.f_flag & ST_NODEV)
        f |= MS_NODEV;
    if (sv.f_flag & ST_NOEXEC)
        f |= MS_NOEXEC;
    if (sv.f_flag & ST_RDONLY)
        f |= MS_RDONLY;
    if (sv.f_flag & ST_NOATIME)
        f |= MS_NOATIME;
    if (sv.f_flag & ST_NODIRATIME)
        f |= MS_NODIRATIME;
    if (sv.f_flag & ST_RELATIME)
        f |= MS_RELATIME;
    if (sv.f_flag & ST_NOSYMFOLLOW)
        f |= MS_NOSYMFOLLOW;
    return f;
}

/* Bind-remount target with extra flags, keeping the flags the kernel locks in a user ns. */
static int
remount_bind(const char *target, unsigned long flags, unsigned long clear)
{
    unsigned long cur = locked_flags(target);
    unsigned long f = ((cur & ~clear) | flags) & ~(MS_BIND | MS_REC | MS_REMOUNT);
    if (mount(NULL, target, NULL, MS_BIND | MS_REMOUNT | f, NULL) == 0)
        return 0;
    return -errno;
}

static const unsigned long MS_PROPAGATION = MS_SHARED | MS_PRIVATE | MS_SLAVE | MS_UNBINDABLE;

static int
mount_cgroupfs(struct rt_init_args *a, int root_fd, const struct rt_mount *m, const char *target,
               struct kerr *err)
{
    struct rt_cgroup *cg = a->cg;
    unsigned long fl = m->flags & ~(MS_RDONLY | MS_BIND | MS_REC | MS_PROPAGATION);
    if (!cg)
        return 0;
    if (cg->mode == RT_CG_V2) {
        if (a->cgroupns &&
            mount("cgroup2", target, "cgroup2", m->flags & ~MS_PROPAGATION, NULL) == 0)
            return 0;
        char src[PATH_MAX];
        snprintf(src, sizeof(src), "%s/%s", cg->h[0].mnt, cg->path);
        if (mount(src, target, NULL, MS_BIND | MS_REC, NULL) < 0)
            return kerr_set(err, errno, "bind cgroup '%s' on '%s'", src, m->destination);
        if (!(m->flags & MS_RDONLY))
            return 0;
        cleanup_close int nfd = open_in_root(root_fd, m->destination, O_PATH);
        char top[64];
        snprintf(top, sizeof(top), "/proc/self/fd/%d", nfd);
        if (nfd < 0 || remount_bind(top, fl | MS_RDONLY, 0) < 0)
            return kerr_set(err, errno, "remount '%s' readonly", m->destination);
        return 0;
    }
    /* v1/hybrid: a tmpfs holding one bind mount of our cgroup per hierarchy. */
    if (mount("tmpfs", target, "tmpfs", fl, "mode=755") < 0)
        return kerr_set(err, errno, "mount tmpfs for cgroups on '%s'", m->destination);
    /* The fd under the new tmpfs still names the covered directory: look it up again. */
    int tfd = open_in_root(root_fd, m->destination, O_PATH | O_DIRECTORY);
    if (tfd < 0)
        return kerr_set(err, -tfd, "open '%s'", m->destination);
    for (size_t i = 0; i < cg->n; i++) {
        const char *name = strrchr(cg->h[i].mnt, '/') + 1;
        char src[PATH_MAX], dst[PATH_MAX];
        snprintf(src, sizeof(src), "%s/%s", cg->h[i].mnt, cg->path);
        snprintf(dst, sizeof(dst), "/proc/self/fd/%d/%s", tfd, name);
        if (mkdir(dst, 0755) < 0 && errno != EEXIST) {
            close(tfd);
            return kerr_set(err, errno, "mkdir '%s/%s'", m->destination, name);
        }
        if (mount(src, dst, NULL, MS_BIND | MS_REC, NULL) < 0 ||
            ((m->flags & MS_RDONLY) && remount_bind(dst, fl | MS_RDONLY, 0) < 0)) {
            close(tfd);
            return kerr_set(err, errno, "bind cgroup '%s' on '%s/%s'", src, m->destination, name);
        }
    }
    char dst[64];
    snprintf(dst, sizeof(dst), "/proc/self/fd/%d", tfd);
    if ((m->flags & MS_RDONLY) &&
        mount(NULL, dst, NULL, MS_REMOUNT | MS_RDONLY | fl, "mode=755") < 0) {
        close(tfd);
        return kerr_set(err, errno, "remount '%s' readonly", m->destination);
    }
    close(tfd);
    return 0;
}

/*
 * do_mount for mounts[] entry m; tree_fd is the idmapped clone of its
 * source the runtime prepared (idmap.c), attached in place of a bind mount,
 * or -1.
 */
static int
do_mount(struct rt_init_args *a, int root_fd, const struct rt_mount *m, int tree_fd,
         struct kerr *err)
{
    char target[64];
    bool dir = true;
    int r;
    const char *type = m->type;

    if (m->bind) {
        /* A prepared tree was opened by the runtime, which may see more than we do. */
        struct stat st;
        if ((tree_fd >= 0 ? fstat(tree_fd, &st) : stat(m->source, &st)) < 0)
            return kerr_set(err, errno, "mount '%s': source '%s'", m->destination, m->source);
        dir = S_ISDIR(st.st_mode);
    }
    r = mkpath_in_root(root_fd, m->destination, dir, dir ? 0755 : 0644);
    if (r < 0)
        return kerr_set(err, -r, "mount: create '%s' in the rootfs", m->destination);
    cleanup_close int fd = open_in_root(root_fd, m->destination, O_PATH);
    if (fd < 0)
        return kerr_set(err, -fd, "mount: open '%s' in the rootfs", m->destination);
    snprintf(target, sizeof(target), "/proc/self/fd/%d", fd);

    bool remount = false;
    unsigned long rflags = 0, rclear = 0;
    if (m->bind && tree_fd >= 0) {
        if (syscall(SYS_move_mount, tree_fd, "", fd, "",
                    MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0)
            return kerr_set(err, errno, "attach the prepared mount of '%s' on '%s'", m->source,
                            m->destination);
        rflags = m->flags & ~(MS_BIND | MS_REC | MS_REMOUNT);
        rclear = m->clear_flags;
        remount = rflags || rclear;
    } else if (m->bind) {
        if (mount(m->source, target, NULL, MS_BIND | (m->flags & MS_REC), NULL) < 0)
            return kerr_set(err, errno, "bind mount '%s' on '%s'", m->source, m->destination);
        rflags = m->flags & ~(MS_BIND | MS_REC | MS_REMOUNT);
        rclear = m->clear_flags;
        remount = rflags || rclear;
    } else if (strcmp(type, "cgroup") == 0 || strcmp(type, "cgroup2") == 0) {
        if ((r = mount_cgroupfs(a, root_fd, m, target, err)) < 0)
            return r;
    } else {
        unsigned long fl = m->flags & ~(MS_PROPAGATION | MS_REC);
        if (mount(m->source ? m->source : type, target, type, fl, m->data) < 0) {
            int e = errno;
            /*
             * In a user namespace that does not own the network namespace,
             * sysfs cannot be mounted; mqueue likewise without our own ipc ns.
             * Fall back to a bind of the host's, as runc does.
             */
            const char *host = strcmp(type, "sysfs") == 0    ? "/sys"
                               : strcmp(type, "mqueue") == 0 ? "/dev/mqueue"
                                                             : NULL;
            if (!(e == EPERM && host && mount(host, target, NULL, MS_BIND | MS_REC, NULL) == 0))
                return kerr_set(err, e, "mount %s on '%s'", type, m->destination);
            rflags = fl & (MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC);
            remount = rflags != 0;
        }
    }
    bool rec = m->rec_set || m->rec_clear;
    if (!remount && !m->propagation && !rec)
        return 0;
    /* Our fd still names the covered directory: find the new mount's top. */
    close(fd);
    fd = open_in_root(root_fd, m->destination, O_PATH);
    if (fd < 0)
        return kerr_set(err, -fd, "mount: reopen '%s'", m->destination);
    snprintf(target, sizeof(target), "/proc/self/fd/%d", fd);
    if (remount && (r = remount_bind(target, rflags, rclear)) < 0)
        return kerr_set(err, -r, "remount '%s' with its options", m->destination);
    if (m->propagation && mount(NULL, target, NULL, m->propagation, NULL) < 0)
        return kerr_set(err, errno, "set propagation of '%s'", m->destination);
    if (rec) {
        /* "rro", "rnosuid"...: this mount and every mount below it. */
        struct mount_attr ma = { .attr_set = m->rec_set, .attr_clr = m->rec_clear };
        if (syscall(SYS_mount_setattr, fd, "", AT_EMPTY_PATH | AT_RECURSIVE, &ma, sizeof(ma)) < 0)
            return kerr_set(err, errno, "set the recursive options of '%s'", m->destination);
    }
    return 0;
}

static const struct {
    const char *name;
    unsigned major, minor;
} default_devs[] = {
    { "null", 1, 3 },   { "zero", 1, 5 },    { "full", 1, 7 },
    { "random", 1, 8 }, { "urandom", 1, 9 }, { "tty", 5, 0 },
};

static int
make_device(struct rt_init_args *a, int dev_fd, const char *name, char type, unsigned major,
            unsigned minor, mode_t mode, uid_t uid, gid_t gid, struct kerr *err)
{
    mode_t fmt = type == 'b' ? S_IFBLK : type == 'p' ? S_IFIFO : S_IFCHR;
    if (mknodat(dev_fd, name, fmt | mode, makedev(major, minor)) == 0) {
        if (fchownat(dev_fd, name, uid, gid, AT_SYMLINK_NOFOLLOW) < 0)
            return kerr_set(err, errno, "chown device '/dev/%s'", name);
        return 0;
    }
    if (errno == EEXIST)
        return 0;
    if (errno != EPERM || type == 'p')
        return kerr_set(err, errno, "mknod '/dev/%s'", name);
    /* In a user namespace mknod is refused: bind the host's device node. */
    char host[PATH_MAX], target[PATH_MAX];
    snprintf(host, sizeof(host), "/dev/%s", name);
    int f = openat(dev_fd, name, O_CREAT | O_WRONLY | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (f < 0)
        return kerr_set(err, errno, "create '/dev/%s'", name);
    close(f);
    snprintf(target, sizeof(target), "/proc/self/fd/%d/%s", dev_fd, name);
    if (mount(host, target, NULL, MS_BIND, NULL) < 0)
        return kerr_set(err, errno, "bind device '%s'", host);
    (void)a;
    return 0;
}

static int
setup_dev(struct rt_init_args *a, int root_fd, bool dev_is_tmpfs, struct kerr *err)
{
    struct rt_spec *s = a->spec;
    int r;
    for (size_t i = 0; i < s->n_devices; i++) {
        const struct rt_device *d = &s->devices[i];
        char parent[PATH_MAX];
        strlcpy_k(parent, d->path, sizeof(parent));
        char *slash = strrchr(parent, '/');
        *slash = '\0';
        if ((r = mkpath_in_root(root_fd, *parent ? parent : "/", true, 0755)) < 0)
            return kerr_set(err, -r, "create the directory of device '%s'", d->path);
        cleanup_close int pfd = open_in_root(root_fd, *parent ? parent : "/", O_PATH | O_DIRECTORY);
        if (pfd < 0)
            return kerr_set(err, -pfd, "open the directory of device '%s'", d->path);
        char type = d->type == 'u' ? 'c' : d->type;
        if ((r = make_device(a, pfd, slash + 1, type, (unsigned)d->major, (unsigned)d->minor,
                             d->has_mode ? d->mode & 07777 : 0666, d->uid, d->gid, err)) < 0)
            return r;
    }
    if (!dev_is_tmpfs)
        return 0;
    cleanup_close int dev = open_in_root(root_fd, "/dev", O_PATH | O_DIRECTORY);
    if (dev < 0)
        return kerr_set(err, -dev, "open '/dev' in the rootfs");
    for (size_t i = 0; i < ARRAY_SIZE(default_devs); i++) {
        if ((r = make_device(a, dev, default_devs[i].name, 'c', default_devs[i].major,
                             default_devs[i].minor, 0666, 0, 0, err)) < 0)
            return r;
    }
    static const char *const links[][2] = {
        { "/proc/self/fd", "fd" },       { "/proc/self/fd/0", "stdin" },
        { "/proc/self/fd/1", "stdout" }, { "/proc/self/fd/2", "stderr" },
        { "pts/ptmx", "ptmx" },          { "/proc/kcore", "core" },
    };
    for (size_t i = 0; i < ARRAY_SIZE(links); i++)
        if (symlinkat(links[i][0], dev, links[i][1]) < 0 && errno != EEXIST)
            return kerr_set(err, errno, "symlink '/dev/%s'", links[i][1]);
    return 0;
}

/*
 * Make the rootfs our root. root_fd is the rootfs tree the runtime opened
 * (attached on top of '/'), entered by fd as its path may be out of our
 * reach; -1 to go by path.
 */
static int
pivot(const char *rootfs, int root_fd, bool no_pivot, struct kerr *err)
{
    if (no_pivot) {
        if (root_fd >= 0 ? fchdir(root_fd) < 0 : chdir(rootfs) < 0)
            return kerr_set(err, errno, "chdir '%s'", rootfs);
        /* An attached tree already covers '/': nothing to move. */
        if (root_fd < 0 && mount(rootfs, "/", NULL, MS_MOVE, NULL) < 0)
            return kerr_set(err, errno, "move '%s' to '/'", rootfs);
        if (chroot(".") < 0)
            return kerr_set(err, errno, "chroot '%s'", rootfs);
        if (chdir("/") < 0)
            return kerr_set(err, errno, "chdir '/'");
        return 0;
    }
    /* pivot_root(".", ".") stacks the old root under the new; detach it right away. */
    cleanup_close int oldroot = open("/", O_DIRECTORY | O_PATH | O_CLOEXEC);
    if (oldroot < 0)
        return kerr_set(err, errno, "open '/'");
    if (root_fd >= 0 ? fchdir(root_fd) < 0 : chdir(rootfs) < 0)
        return kerr_set(err, errno, "chdir '%s'", rootfs);
    if (syscall(SYS_pivot_root, ".", ".") < 0)
        return kerr_set(err, errno, "pivot_root to '%s'", rootfs);
    if (fchdir(oldroot) < 0)
        return kerr_set(err, errno, "fchdir old root");
    if (mount(NULL, ".", NULL, MS_SLAVE | MS_REC, NULL) < 0)
        return kerr_set(err, errno, "make the old root a slave");
    if (umount2(".", MNT_DETACH) < 0)
        return kerr_set(err, errno, "detach the old root");
    if (chdir("/") < 0)
        return kerr_set(err, errno, "chdir '/'");
    return 0;
}

static int
mask_paths(const struct rt_spec *s, struct kerr *err)
{
    for (size_t i = 0; i < s->n_masked; i++) {
        const char *p = s->masked_paths[i];
        struct stat st;
        if (lstat(p, &st) < 0) {
            if (errno == ENOENT)
                continue;
            return kerr_set(err, errno, "linux.maskedPaths: '%s'", p);
        }
        int r = S_ISDIR(st.st_mode) ? mount("tmpfs", p, "tmpfs", MS_RDONLY, "size=0k")
                                    : mount("/dev/null", p, NULL, MS_BIND, NULL);
        if (r < 0)
            return kerr_set(err, errno, "linux.maskedPaths: mask '%s'", p);
    }
    for (size_t i = 0; i < s->n_readonly; i++) {
        const char *p = s->readonly_paths[i];
        if (mount(p, p, NULL, MS_BIND | MS_REC, NULL) < 0) {
            if (errno == ENOENT)
                continue;
            return kerr_set(err, errno, "linux.readonlyPaths: bind '%s'", p);
        }
        int r = remount_bind(p, MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, 0);
        if (r < 0)
            return kerr_set(err, -r, "linux.readonlyPaths: remount '%s' readonly", p);
    }
    return 0;
}

static int
write_sysctls(const struct rt_spec *s, struct kerr *err)
{
    const char *k;
    json_t *v;
    json_object_foreach (s->sysctl, k, v) {
        char path[PATH_MAX];
        int n = snprintf(path, sizeof(path), "/proc/sys/%s", k);
        for (char *p = path + 10; p < path + n; p++)
            if (*p == '.')
                *p = '/';
        const char *val = json_string_value(v);
        int r = write_file(path, val, strlen(val));
        if (r < 0)
            return kerr_set(err, -r, "linux.sysctl: set '%s' to '%s'", k, val);
    }
    return 0;
}

/* Find the program like execvp would, but with the container's PATH. */
int
linux__resolve_exe(const struct rt_process *p, char *buf, size_t cap, struct kerr *err)
{
    const char *prog = p->args[0];
    const char *path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
    if (strchr(prog, '/')) {
        if (access(prog, X_OK) < 0)
            return kerr_set(err, errno, "exec '%s'", prog);
        strlcpy_k(buf, prog, cap);
        return 0;
    }
    for (size_t i = 0; p->env && p->env[i]; i++)
        if (str_startswith(p->env[i], "PATH="))
            path = p->env[i] + 5;
    for (const char *d = path; d && *d;) {
        const char *e = strchr(d, ':');
        size_t len = e ? (size_t)(e - d) : strlen(d);
        snprintf(buf, cap, "%.*s/%s", (int)len, d, prog);
        struct stat st;
        if (stat(buf, &st) == 0 && S_ISREG(st.st_mode) && access(buf, X_OK) == 0)
            return 0;
        d = e ? e + 1 : NULL;
    }
    return kerr_setf(err, ENOENT, "exec '%s': executable file not found in $PATH", prog);
}

int
linux__setup_user(const struct rt_process *p, struct kerr *err)
{
    /* Keep capabilities across setuid so rt_caps_apply can set them afterwards. */
    if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0)
        return kerr_set(err, errno, "prctl(PR_SET_KEEPCAPS)");
    if (setgroups(p->n_gids, p->gids) < 0 && !(errno == EPERM && p->n_gids == 0))
        return kerr_set(err, errno, "setgroups for process.user.additionalGids");
    if (setresgid(p->gid, p->gid, p->gid) < 0)
        return kerr_set(err, errno, "setgid %u (process.user.gid)", (unsigned)p->gid);
    if (setresuid(p->uid, p->uid, p->uid) < 0)
        return kerr_set(err, errno, "setuid %u (process.user.uid)", (unsigned)p->uid);
    if (prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) < 0)
        return kerr_set(err, errno, "prctl(PR_SET_KEEPCAPS)");
    return 0;
}

static int
set_rlimits(const struct rt_process *p, struct kerr *err)
{
    for (size_t i = 0; i < p->n_rlimits; i++) {
        struct rlimit rl = { p->rlimits[i].soft, p->rlimits[i].hard };
        if (setrlimit((__rlimit_resource_t)p->rlimits[i].resource, &rl) < 0)
            return kerr_set(err, errno, "process.rlimits[%zu]: setrlimit", i);
    }
    return 0;
}

/* struct sched_attr of <linux/sched/types.h> up to VER0, which glibc 2.36 lacks. */
struct rt_sched_attr {
    uint32_t size;
    uint32_t sched_policy;
    uint64_t sched_flags;
    int32_t sched_nice;
    uint32_t sched_priority;
    uint64_t sched_runtime;
    uint64_t sched_deadline;
    uint64_t sched_period;
};

static const char *
sched_policy_name(uint32_t policy)
{
    static const char *const names[] = { "SCHED_OTHER",   "SCHED_FIFO", "SCHED_RR",
                                         "SCHED_BATCH",   "?",          "SCHED_IDLE",
                                         "SCHED_DEADLINE" };
    return policy < ARRAY_SIZE(names) ? names[policy] : "?";
}

int
linux__apply_process_attrs(const struct rt_process *p, const unsigned long *pers, struct kerr *err)
{
    if (pers && personality(*pers) < 0)
        return kerr_set(err, errno, "linux.personality: personality(0x%lx)", *pers);
    /* IOPRIO_WHO_PROCESS, who 0: this thread, which is the whole process here. */
    if (p->has_ioprio && syscall(SYS_ioprio_set, 1, 0, p->ioprio) < 0)
        return kerr_set(err, errno, "process.ioPriority: ioprio_set class %d level %d",
                        p->ioprio >> 13, p->ioprio & 7);
    if (p->has_sched) {
        struct rt_sched_attr sa = {
            .size = sizeof(sa),
            .sched_policy = p->sched.policy,
            .sched_flags = p->sched.flags,
            .sched_nice = p->sched.nice,
            .sched_priority = p->sched.priority,
            .sched_runtime = p->sched.runtime_nsec,
            .sched_deadline = p->sched.deadline_nsec,
            .sched_period = p->sched.period_nsec,
        };
        bool rt = p->sched.policy == SCHED_FIFO || p->sched.policy == SCHED_RR;
        if (syscall(SYS_sched_setattr, 0, &sa, 0) < 0)
            return kerr_set(err, errno, "process.scheduler: sched_setattr %s%s",
                            sched_policy_name(p->sched.policy),
                            rt && errno == EPERM
                                ? " (needs CAP_SYS_NICE in the initial user namespace and, with "
                                  "RT group scheduling, linux.resources.cpu.realtimeRuntime)"
                                : "");
    }
    return 0;
}

/*
 * The last steps before execve, in runc's order: user and groups (caps kept),
 * capabilities, no_new_privs, umask, then seccomp as the very last syscall
 * filter change so everything before it is unrestricted.
 */
int
linux__finalize_process(const struct rt_process *p, json_t *seccomp, struct kerr *err)
{
    int r;
    /*
     * Without no_new_privs the kernel takes a filter only while we still
     * hold CAP_SYS_ADMIN, so it goes first (runc does the same); with it,
     * the filter is the very last thing before execve.
     */
    if (seccomp && !p->no_new_privileges && (r = rt_seccomp_load(seccomp, err)) < 0)
        return r;
    if ((r = linux__setup_user(p, err)) < 0)
        return r;
    if ((r = rt_caps_apply(p->capabilities, err)) < 0)
        return r;
    if (p->no_new_privileges && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
        return kerr_set(err, errno, "prctl(PR_SET_NO_NEW_PRIVS)");
    umask(p->has_umask ? p->umask : 022);
    if (seccomp && p->no_new_privileges && (r = rt_seccomp_load(seccomp, err)) < 0)
        return r;
    return 0;
}

/*
 * Right before execve: fds 3 .. 3+n-1 go to the container (--preserve-fds,
 * e.g. socket activation); every other fd above stdio is closed on exec, so
 * nothing the caller left open without O_CLOEXEC leaks into the container.
 */
void
linux__preserve_fds(int n)
{
    for (int fd = 3; fd < 3 + n; fd++)
        fcntl(fd, F_SETFD, 0);
    if (syscall(SYS_close_range, 3 + n, ~0U, CLOSE_RANGE_CLOEXEC) < 0) {
        for (int fd = 3 + n; fd < 65536; fd++)
            fcntl(fd, F_SETFD, FD_CLOEXEC);
    }
}

void
linux__reset_signals(void)
{
    sigset_t all;
    sigemptyset(&all);
    for (int sig = 1; sig < NSIG; sig++)
        signal(sig, SIG_DFL);
    sigprocmask(SIG_SETMASK, &all, NULL);
}

/* Block until start: a byte on exec.fifo or an 'S' on the sync socket. */
static void
wait_for_start(struct rt_init_args *a)
{
    struct pollfd p[2] = { { .fd = a->fifo_fd, .events = POLLIN },
                           { .fd = a->sync_fd, .events = POLLIN } };
    for (;;) {
        int n = poll(p, 2, -1);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            _exit(126);
        if (p[0].revents & (POLLIN | POLLHUP | POLLERR)) {
            char c;
            if (read(a->fifo_fd, &c, 1) == 1)
                return;
            /* A writer that left without a byte: someone gave up; keep waiting. */
            if (p[0].revents & (POLLHUP | POLLERR))
                _exit(1);
        }
        if (p[1].revents) {
            char tag;
            int r = linux__sync_recv(a->sync_fd, &tag, NULL, NULL, 0, 0);
            if (r == 0 && tag == 'S')
                return;
            /* The runtime went away (CLI create exits): only the fifo remains. */
            p[1].fd = -1;
        }
    }
}

__attribute__((noreturn)) void
linux__init(struct rt_init_args *a)
{
    struct rt_spec *s = a->spec;
    struct rt_process *p = &s->process;
    struct kerr err = KERR_INIT;
    char exe[PATH_MAX];
    int r;

    prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
    linux__reset_signals();
    umask(0);

    for (size_t i = 0; i < a->n_cg_fds; i++) {
        if (write(a->cg_fds[i], "0", 1) < 0) {
            kerr_set(&err, errno, "join cgroup '%s'", a->cg ? a->cg->path : "?");
            die(a, &err);
        }
        close(a->cg_fds[i]);
    }
    if (p->has_oom_score_adj) {
        char buf[16];
        int n = snprintf(buf, sizeof(buf), "%d", p->oom_score_adj);
        if ((r = write_file("/proc/self/oom_score_adj", buf, (size_t)n)) < 0) {
            kerr_set(&err, -r, "process.oomScoreAdj: write %d", p->oom_score_adj);
            die(a, &err);
        }
    }
    /*
     * Until execve (which resets it) nobody else may open us through /proc:
     * we still run the runtime's binary (CVE-2019-5736) and hold its fds.
     */
    prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
    if (a->userns_fd >= 0 && setns(a->userns_fd, CLONE_NEWUSER) < 0) {
        kerr_set(&err, errno, "join the user namespace");
        die(a, &err);
    }
    if (a->need_userns_sync) {
        char tag;
        r = linux__sync_recv(a->sync_fd, &tag, NULL, NULL, 0, 60000);
        if (r < 0 || tag != 'M')
            _exit(1);
    }
    if ((s->new_ns_flags & CLONE_NEWUSER) || a->userns_fd >= 0) {
        /* Become the namespace's root (if mapped) for the setup below. */
        if (setresgid(0, 0, 0) < 0 || setresuid(0, 0, 0) < 0) {
            /* 0 is not mapped: stay the overflow id; the spec's user is set later. */
        }
    }
    if (a->mntns_fd >= 0 && setns(a->mntns_fd, CLONE_NEWNS) < 0) {
        kerr_set(&err, errno, "join the mount namespace");
        die(a, &err);
    }
    if (a->unshare_cgroupns && unshare(CLONE_NEWCGROUP) < 0) {
        kerr_set(&err, errno, "unshare the cgroup namespace");
        die(a, &err);
    }
    if (s->hostname && *s->hostname && sethostname(s->hostname, strlen(s->hostname)) < 0) {
        kerr_set(&err, errno, "hostname: set '%s'", s->hostname);
        die(a, &err);
    }
    if (s->domainname && *s->domainname &&
        setdomainname(s->domainname, strlen(s->domainname)) < 0) {
        kerr_set(&err, errno, "domainname: set '%s'", s->domainname);
        die(a, &err);
    }
    /*
     * Relative bind sources are bundle-relative. With a rootfs tree the
     * runtime opened every bind source for us too, so a bundle we may not
     * search (user namespace, 0700 parent) is no obstacle.
     */
    if (a->bundle && chdir(a->bundle) < 0 && !(errno == EACCES && a->root_tree_fd >= 0)) {
        kerr_set(&err, errno, "chdir to the bundle '%s'", a->bundle);
        die(a, &err);
    }

    if (a->mntns_fd < 0) {
        if (mount(NULL, "/", NULL, s->rootfs_propagation, NULL) < 0) {
            kerr_set(&err, errno, "linux.rootfsPropagation: set on '/'");
            die(a, &err);
        }
        int root_fd;
        if (a->root_tree_fd >= 0) {
            /*
             * Stacked on '/' rather than on the rootfs path, which we may not
             * reach; absolute host paths still resolve from our root, under
             * it. The clone kept the source's propagation (a peer of a shared
             * host mount would send our mounts to the host): give it the
             * rootfs propagation, as the bind by path inherits it from '/'.
             */
            struct mount_attr ma = { .propagation =
                                         s->rootfs_propagation & ~(unsigned long)MS_REC };
            unsigned at = AT_EMPTY_PATH | (s->rootfs_propagation & MS_REC ? AT_RECURSIVE : 0);
            if (syscall(SYS_move_mount, a->root_tree_fd, "", AT_FDCWD, "/",
                        MOVE_MOUNT_F_EMPTY_PATH) < 0 ||
                syscall(SYS_mount_setattr, a->root_tree_fd, "", at, &ma, sizeof(ma)) < 0) {
                kerr_set(&err, errno, "root.path: attach the tree of '%s'", s->rootfs);
                die(a, &err);
            }
            root_fd = a->root_tree_fd;
        } else {
            if (mount(s->rootfs, s->rootfs, NULL, MS_BIND | MS_REC, NULL) < 0) {
                kerr_set(&err, errno, "root.path: bind '%s'", s->rootfs);
                die(a, &err);
            }
            root_fd = open(s->rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
            if (root_fd < 0) {
                kerr_set(&err, errno, "root.path: open '%s'", s->rootfs);
                die(a, &err);
            }
        }
        bool dev_tmpfs = false;
        for (size_t i = 0; i < s->n_mounts; i++) {
            int tree = a->mount_fds ? a->mount_fds[i] : -1;
            if ((r = do_mount(a, root_fd, &s->mounts[i], tree, &err)) < 0)
                die(a, &err);
            if (strcmp(s->mounts[i].destination, "/dev") == 0 && !s->mounts[i].bind)
                dev_tmpfs = true;
        }
        if ((r = setup_dev(a, root_fd, dev_tmpfs, &err)) < 0)
            die(a, &err);
        if (root_fd != a->root_tree_fd)
            close(root_fd);
        if (a->hooks_sync) {
            char tag;
            linux__sync_send(a->sync_fd, 'H', 0, NULL);
            r = linux__sync_recv(a->sync_fd, &tag, NULL, err.msg, sizeof(err.msg), -1);
            if (r < 0 || tag != 'h')
                _exit(1);
            if (a->hook_state &&
                (r = hooks__run(s->hooks, "createContainer", a->hook_state, &err)) < 0)
                die(a, &err);
        }
        if ((r = pivot(s->rootfs, a->root_tree_fd, a->no_pivot, &err)) < 0)
            die(a, &err);
        if (a->root_tree_fd >= 0)
            a->root_tree_fd = safe_close(a->root_tree_fd);
        if (s->sysctl && (r = write_sysctls(s, &err)) < 0)
            die(a, &err);
        if ((r = mask_paths(s, &err)) < 0)
            die(a, &err);
        if (s->readonly && (r = remount_bind("/", MS_RDONLY, 0)) < 0) {
            kerr_set(&err, -r, "root.readonly: remount '/' readonly");
            die(a, &err);
        }
    } else if (s->sysctl && (r = write_sysctls(s, &err)) < 0) {
        die(a, &err);
    }
    if (chdir(p->cwd) < 0) {
        kerr_set(&err, errno, "process.cwd: chdir '%s'", p->cwd);
        die(a, &err);
    }
    if ((r = set_rlimits(p, &err)) < 0)
        die(a, &err);
    /*
     * Before "ready", so a refused priority fails create; after the rlimits,
     * which may be what allows it (RLIMIT_RTPRIO, RLIMIT_NICE).
     */
    if ((r = linux__apply_process_attrs(p, s->has_personality ? &s->personality : NULL, &err)) < 0)
        die(a, &err);
    if (s->sandbox && (r = rt_sandbox_enter(s->json, &err)) < 0)
        die(a, &err);
    if ((r = linux__resolve_exe(p, exe, sizeof(exe), &err)) < 0)
        die(a, &err);
    if (a->console_fd >= 0) {
        int m, sl;
        if ((r = linux__open_pty(&m, &sl, &err)) < 0)
            die(a, &err);
        if (p->console_width && p->console_height) {
            struct winsize ws = { .ws_row = (unsigned short)p->console_height,
                                  .ws_col = (unsigned short)p->console_width };
            ioctl(m, TIOCSWINSZ, &ws);
        }
        if ((r = linux__send_fd(a->console_fd, m)) < 0) {
            kerr_set(&err, -r, "send the pty master to the console socket");
            die(a, &err);
        }
        close(m);
        close(a->console_fd);
        setsid();
        if (ioctl(sl, TIOCSCTTY, 0) < 0) {
            kerr_set(&err, errno, "make the pty the controlling terminal");
            die(a, &err);
        }
        for (int i = 0; i < 3; i++)
            dup2(sl, i);
        if (sl > 2)
            close(sl);
    } else {
        for (int i = 0; i < 3; i++) {
            if (a->stdio[i] >= 0 && a->stdio[i] != i && dup2(a->stdio[i], i) < 0) {
                kerr_set(&err, errno, "set up stdio");
                die(a, &err);
            }
        }
    }
    /*
     * Drop PDEATHSIG before saying "ready": the runtime may exit as soon as it
     * reads it (CLI create), and the signal would kill the created container.
     * If the runtime died already, nobody recorded us: give up.
     */
    prctl(PR_SET_PDEATHSIG, 0, 0, 0, 0);
    if (getppid() != a->parent_pid)
        _exit(1);
    linux__sync_send(a->sync_fd, 'R', 0, NULL);

    if (!a->start_now) {
        /*
         * Wait as SCHED_BATCH: a batch task never preempts the task that
         * wakes it, so whoever sends start (kumod's event loop, `start`)
         * returns from its send before we run, instead of sleeping while
         * we exec. Back to SCHED_OTHER (which needs no privilege) as soon
         * as we run. Only when nothing else chose the policy.
         */
        bool batch = !p->has_sched && sched_getscheduler(0) == SCHED_OTHER &&
                     sched_setscheduler(0, SCHED_BATCH, &(struct sched_param){ 0 }) == 0;
        wait_for_start(a);
        if (batch)
            sched_setscheduler(0, SCHED_OTHER, &(struct sched_param){ 0 });
    }
    close(a->fifo_fd);
    close(a->sync_fd);
    if (a->hook_state && s->hooks &&
        (r = hooks__run(s->hooks, "startContainer", a->hook_state, &err)) < 0) {
        dprintf(2, "kumo-runtime: %s\n", err.msg);
        _exit(127);
    }
    if ((r = linux__finalize_process(p, s->seccomp, &err)) < 0) {
        dprintf(2, "kumo-runtime: %s\n", err.msg);
        _exit(127);
    }
    linux__preserve_fds(a->preserve_fds);
    execve(exe, p->args, p->env ? p->env : (char *[]){ NULL });
    dprintf(2, "kumo-runtime: exec '%s': %s\n", exe, strerror(errno));
    _exit(127);
}
