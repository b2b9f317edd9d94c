/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Landlock through the raw syscalls (glibc has no wrappers). Called in the
 * container init of a sandbox, after pivot_root and the last mount, so the
 * paths it is given are the container's view. The ruleset handles every
 * filesystem right the running kernel knows (by ABI version) and grants:
 *
 *   ro paths: execute, read files, read directories;
 *   rw paths: everything except creating character or block devices.
 *
 * Anything not beneath one of those paths is refused with EACCES, which is
 * what stops a leaked host directory fd or a /proc/<pid>/root path from
 * reaching files outside the container's tree: Landlock judges the file's
 * place in the mount tree, not the path string that named it.
 *
 * On ABI >= 6 the domain also scopes abstract Unix sockets, so a sandbox
 * sharing a network namespace cannot connect to abstract sockets of
 * processes outside it (the containerd-shim socket of CVE-2020-15257 was
 * one). Signals are deliberately not scoped: processes that `exec` adds to
 * the container get their own sibling domain and must still be able to
 * signal the main process; the pid namespace already keeps signals inside.
 *
 * The structs and constants are declared here because distribution headers
 * lag behind the kernel (Debian's stops at ABI 2); the kernel's UAPI is
 * stable and extended only by appending.
 */
#include "security.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "cleanup.h"

#ifndef __NR_landlock_create_ruleset
#define __NR_landlock_create_ruleset 444
#define __NR_landlock_add_rule       445
#define __NR_landlock_restrict_self  446
#endif

#define LL_CREATE_RULESET_VERSION (1U << 0)
#define LL_RULE_PATH_BENEATH      1

#define LL_FS_EXECUTE     (1ULL << 0)
#define LL_FS_WRITE_FILE  (1ULL << 1)
#define LL_FS_READ_FILE   (1ULL << 2)
#define LL_FS_READ_DIR    (1ULL << 3)
#define LL_FS_REMOVE_DIR  (1ULL << 4)
#define LL_FS_REMOVE_FILE (1ULL << 5)
#define LL_FS_MAKE_CHAR   (1ULL << 6)
#define LL_FS_MAKE_DIR    (1ULL << 7)
#define LL_FS_MAKE_REG    (1ULL << 8)
#define LL_FS_MAKE_SOCK   (1ULL << 9)
#define LL_FS_MAKE_FIFO   (1ULL << 10)
#define LL_FS_MAKE_BLOCK  (1ULL << 11)
#define LL_FS_MAKE_SYM    (1ULL << 12)
#define LL_FS_REFER       (1ULL << 13) /* ABI 2 */
#define LL_FS_TRUNCATE    (1ULL << 14) /* ABI 3 */
#define LL_FS_IOCTL_DEV   (1ULL << 15) /* ABI 5 */

#define LL_SCOPE_ABSTRACT_UNIX_SOCKET (1ULL << 0) /* ABI 6 */

/* Rights that make sense on a file (not a directory) rule. */
#define LL_FS_FILE_RIGHTS \
    (LL_FS_EXECUTE | LL_FS_WRITE_FILE | LL_FS_READ_FILE | LL_FS_TRUNCATE | LL_FS_IOCTL_DEV)

#define LL_RO_RIGHTS (LL_FS_EXECUTE | LL_FS_READ_FILE | LL_FS_READ_DIR)

struct ll_ruleset_attr {
    uint64_t handled_access_fs;
    uint64_t handled_access_net; /* ABI 4; left 0: networking is not confined */
    uint64_t scoped;             /* ABI 6 */
};

struct ll_path_beneath_attr {
    uint64_t allowed_access;
    int32_t parent_fd;
} __attribute__((packed));

int
rt_landlock_abi(void)
{
    long r = syscall(__NR_landlock_create_ruleset, NULL, 0, LL_CREATE_RULESET_VERSION);
    if (r < 0)
        return (errno == ENOSYS || errno == EOPNOTSUPP) ? -EOPNOTSUPP : -errno;
    return (int)r;
}

static uint64_t
handled_fs_for_abi(int abi)
{
    uint64_t h = (LL_FS_MAKE_SYM << 1) - 1; /* ABI 1: bits 0..12 */
    if (abi >= 2)
        h |= LL_FS_REFER;
    if (abi >= 3)
        h |= LL_FS_TRUNCATE;
    if (abi >= 5)
        h |= LL_FS_IOCTL_DEV;
    return h;
}

static int
add_paths(int ruleset, const char *const *paths, uint64_t rights, const char *kind,
          struct kerr *err)
{
    if (!paths)
        return 0;
    for (size_t i = 0; paths[i]; i++) {
        cleanup_close int fd = open(paths[i], O_PATH | O_CLOEXEC);
        if (fd < 0) {
            /* Declared mounts may legitimately be absent (optional devices). */
            if (errno == ENOENT)
                continue;
            return kerr_set(err, errno, "landlock: open %s path '%s'", kind, paths[i]);
        }
        struct stat st;
        if (fstat(fd, &st) < 0)
            return kerr_set(err, errno, "landlock: stat %s path '%s'", kind, paths[i]);
        struct ll_path_beneath_attr pb = {
            .allowed_access = S_ISDIR(st.st_mode) ? rights : (rights & LL_FS_FILE_RIGHTS),
            .parent_fd = fd,
        };
        if (syscall(__NR_landlock_add_rule, ruleset, LL_RULE_PATH_BENEATH, &pb, 0) < 0)
            return kerr_set(err, errno, "landlock: add %s rule for '%s'", kind, paths[i]);
    }
    return 0;
}

int
rt_landlock_apply(const char *const *rw_paths, const char *const *ro_paths, struct kerr *err)
{
    int abi = rt_landlock_abi();
    if (abi < 0)
        return kerr_set(err, -abi, "landlock: not available in this kernel");

    uint64_t handled = handled_fs_for_abi(abi);
    struct ll_ruleset_attr attr = { .handled_access_fs = handled };
    size_t size = sizeof(attr.handled_access_fs);
    if (abi >= 6) {
        attr.scoped = LL_SCOPE_ABSTRACT_UNIX_SOCKET;
        size = sizeof(attr);
    }
    cleanup_close int ruleset = (int)syscall(__NR_landlock_create_ruleset, &attr, size, 0);
    if (ruleset < 0)
        return kerr_set(err, errno, "landlock: create ruleset (ABI %d)", abi);

    uint64_t rw = handled & ~(LL_FS_MAKE_CHAR | LL_FS_MAKE_BLOCK);
    int r = add_paths(ruleset, ro_paths, LL_RO_RIGHTS & handled, "read-only", err);
    if (r >= 0)
        r = add_paths(ruleset, rw_paths, rw, "writable", err);
    if (r < 0)
        return r;

    /* Landlock, like seccomp, insists on no_new_privs for unprivileged use. */
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
        return kerr_set(err, errno, "landlock: set no_new_privs");
    if (syscall(__NR_landlock_restrict_self, ruleset, 0) < 0)
        return kerr_set(err, errno, "landlock: restrict self");
    return 0;
}
