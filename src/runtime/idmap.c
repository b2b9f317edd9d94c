/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Mount trees the runtime prepares before clone3, while it still runs in the
 * host's namespaces as real root; the container init inherits their fds and
 * attaches them with move_mount (linux.c).
 *
 * Idmapped bind mounts (mounts[].options "idmap"/"ridmap" and
 * mounts[].uidMappings/gidMappings, runtime-spec 1.1): the runtime clones
 * the source tree with open_tree(OPEN_TREE_CLONE), makes a user namespace
 * holding the mount's mappings (or the container's) and marks the detached
 * clone with mount_setattr(MOUNT_ATTR_IDMAP). It has to be the runtime:
 * setting an idmap needs CAP_SYS_ADMIN over the user namespace of the
 * source's filesystem (the host's), which a container root inside its own
 * user namespace does not have.
 *
 * The rootfs and every bind source of a container with its own user
 * namespace: the init reaches the bundle only after it became the mapped
 * (unprivileged) host uid, so a bundle under a 0700 directory would be out
 * of its reach. Clones opened by the runtime make the path irrelevant.
 *
 * Called by container.c on the caller's thread; forks one short-lived
 * process per idmapped mount to hold the mapping's user namespace.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cleanup.h"
#include "internal.h"
#include "kerr.h"
#include "util.h"

static int
write_map(pid_t pid, const char *file, const struct rt_idmap *maps, size_t n, struct kerr *err)
{
    char path[64];
    size_t cap = n * 36 + 1, len = 0; /* a line is at most 3 * 10 digits + 3 */
    cleanup_free char *buf = malloc(cap);
    if (!buf)
        return kerr_set(err, ENOMEM, "idmap");
    for (size_t i = 0; i < n; i++)
        len += (size_t)snprintf(buf + len, cap - len, "%u %u %u\n", maps[i].container_id,
                                maps[i].host_id, maps[i].size);
    snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, file);
    int r = write_file(path, buf, len);
    if (r < 0)
        return kerr_set(err, -r, "write %s '%.*s'", file, (int)strcspn(buf, "\n"), buf);
    return 0;
}

/*
 * A user namespace with these mappings, as an fd (O_CLOEXEC). A child is
 * cloned into a new user namespace and parked on a pipe while we write its
 * maps and open its namespace; then the pipe closes and it exits.
 */
static int
userns_fd(const struct rt_idmap *uids, size_t n_uids, const struct rt_idmap *gids, size_t n_gids,
          struct kerr *err)
{
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0)
        return kerr_set(err, errno, "idmap: pipe");
    struct clone_args ca = { .flags = CLONE_NEWUSER, .exit_signal = SIGCHLD };
    long pid = syscall(SYS_clone3, &ca, sizeof(ca));
    if (pid == 0) {
        char c;
        close(p[1]);
        /* Only async-signal-safe calls: the caller may have threads. */
        while (read(p[0], &c, 1) < 0 && errno == EINTR) {
        }
        _exit(0);
    }
    int e = errno;
    close(p[0]);
    if (pid < 0) {
        close(p[1]);
        return kerr_set(err, e, "idmap: clone a user namespace");
    }
    int fd = -1, r;
    char path[64];
    if ((r = write_map((pid_t)pid, "uid_map", uids, n_uids, err)) < 0 ||
        (r = write_map((pid_t)pid, "gid_map", gids, n_gids, err)) < 0)
        goto out;
    snprintf(path, sizeof(path), "/proc/%d/ns/user", (int)pid);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    r = fd < 0 ? kerr_set(err, errno, "idmap: open '%s'", path) : fd;
out:
    close(p[1]);
    while (waitpid((pid_t)pid, NULL, 0) < 0 && errno == EINTR) {
    }
    return r;
}

/*
 * The detached clone of m's source for mounts[idx], idmapped if the mount
 * asks for it; returns its fd.
 */
static int
source_tree(const struct rt_spec *s, size_t idx, const char *bundle, struct kerr *err)
{
    const struct rt_mount *m = &s->mounts[idx];
    char src[PATH_MAX];
    /* Relative sources are relative to the bundle, as for the init's mount(2). */
    if (m->source[0] == '/' || !bundle)
        strlcpy_k(src, m->source, sizeof(src));
    else if (snprintf(src, sizeof(src), "%s/%s", bundle, m->source) >= (int)sizeof(src))
        return kerr_setf(err, ENAMETOOLONG, "mounts[%zu].source: too long", idx);

    unsigned clone_flags = OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC;
    if ((m->flags & MS_REC) || m->idmap_recursive)
        clone_flags |= AT_RECURSIVE;
    cleanup_close int tree = (int)syscall(SYS_open_tree, AT_FDCWD, src, clone_flags);
    if (tree < 0)
        return kerr_set(err, errno, "mounts[%zu]: clone '%s' for the %smount on '%s'", idx, src,
                        m->idmap ? "idmapped " : "", m->destination);
    if (!m->idmap)
        return TAKE_FD(tree);

    bool own = m->n_uid_maps > 0;
    int ns = userns_fd(own ? m->uid_maps : s->uid_maps, own ? m->n_uid_maps : s->n_uid_maps,
                       own ? m->gid_maps : s->gid_maps, own ? m->n_gid_maps : s->n_gid_maps, err);
    if (ns < 0)
        return kerr_prefix(err, "mounts[%zu] '%s'", idx, m->destination);
    struct mount_attr ma = { .attr_set = MOUNT_ATTR_IDMAP, .userns_fd = (uint64_t)ns };
    unsigned at = AT_EMPTY_PATH | (m->idmap_recursive ? AT_RECURSIVE : 0);
    int r = (int)syscall(SYS_mount_setattr, tree, "", at, &ma, sizeof(ma));
    int e = errno;
    close(ns);
    if (r < 0 && e == EINVAL)
        return kerr_setf(err, EINVAL,
                         "mounts[%zu]: idmapped mount on '%s': the filesystem of '%s'%s does not "
                         "support idmapped mounts",
                         idx, m->destination, src,
                         m->idmap_recursive ? " (or of a mount below it)" : "");
    if (r < 0)
        return kerr_set(err, e, "mounts[%zu]: idmap '%s' for '%s'", idx, src, m->destination);
    return TAKE_FD(tree);
}

static bool
wants_tree(const struct rt_mount *m, bool all_binds)
{
    return m->idmap || (all_binds && m->bind && m->source);
}

int
idmap__prepare_mounts(const struct rt_spec *s, const char *bundle, bool all_binds, int **ret_fds,
                      struct kerr *err)
{
    bool any = false;
    for (size_t i = 0; i < s->n_mounts; i++)
        any |= wants_tree(&s->mounts[i], all_binds);
    *ret_fds = NULL;
    if (!any)
        return 0;
    int *fds = malloc(s->n_mounts * sizeof(int));
    if (!fds)
        return kerr_set(err, ENOMEM, "idmapped mounts");
    for (size_t i = 0; i < s->n_mounts; i++)
        fds[i] = -1;
    for (size_t i = 0; i < s->n_mounts; i++) {
        if (!wants_tree(&s->mounts[i], all_binds))
            continue;
        int fd = source_tree(s, i, bundle, err);
        if (fd < 0) {
            idmap__close_mounts(fds, s->n_mounts);
            return fd;
        }
        fds[i] = fd;
    }
    *ret_fds = fds;
    return 0;
}

int
idmap__open_rootfs(const struct rt_spec *s, struct kerr *err)
{
    /* Recursive, like the init's MS_BIND|MS_REC of the rootfs onto itself. */
    int fd = (int)syscall(SYS_open_tree, AT_FDCWD, s->rootfs,
                          OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE);
    return fd < 0 ? kerr_set(err, errno, "root.path: clone '%s'", s->rootfs) : fd;
}

int *
idmap__close_mounts(int *fds, size_t n)
{
    if (!fds)
        return NULL;
    for (size_t i = 0; i < n; i++)
        safe_close(fds[i]);
    free(fds);
    return NULL;
}
