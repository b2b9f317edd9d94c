/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The `sandbox` execution type (annotation org.kumo.type=sandbox): forced
 * hardening on top of what config.json asks for. docs/sandbox.md is the
 * user-facing statement of what is forbidden and why; this file implements
 * exactly that list and nothing else.
 *
 * rt_sandbox_harden runs in the runtime's parent right after the config is
 * parsed and rewrites the JSON in place, so every later stage (validation,
 * namespaces, mounts, capabilities, seccomp) simply does what the rewritten
 * config says and `kumo-runtime state`/debugging show the real settings. Two
 * things have no OCI field and travel as annotations the hardening itself
 * writes (overwriting anything the bundle put there): the Landlock path
 * lists, and the kumo seccomp profile when the bundle brings its own filter
 * (the kernel stacks filters and the strictest verdict wins, so the bundle's
 * filter cannot loosen ours and ours cannot loosen the bundle's).
 * rt_sandbox_enter applies those two in the container init.
 *
 * The threat model: config.json and the bundle are trusted (they come from
 * the operator, like hooks that run as host root); the code running inside
 * the container is not.
 */
#include "security.h"

#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>

#include "cleanup.h"
#include "util.h"

#define SANDBOX_MAX_PATHS 1024

/* clone(2) flag bits that create namespaces (CLONE_NEWTIME is only valid for
 * unshare: in clone's flags that bit is part of the exit signal). */
#define NS_CLONE_FLAGS   0x7E020000ULL
#define NS_UNSHARE_FLAGS (NS_CLONE_FLAGS | 0x80ULL)
#define AF_VSOCK_NR      40
#define TIOCSTI_NR       0x5412
#define TIOCLINUX_NR     0x541C

#if defined(__s390__) || defined(__s390x__)
#define CLONE_FLAGS_ARG 1 /* s390 swaps clone's first two arguments */
#else
#define CLONE_FLAGS_ARG 0
#endif

/*
 * Syscalls a sandboxed program may make unconditionally. Derived from the
 * Docker/containerd default profile (itself an allowlist), minus what docs/
 * sandbox.md forbids. Names a kernel or arch lacks are skipped at load.
 * Anything absent fails with ENOSYS, so libc and language runtimes fall
 * back as they would on an older kernel instead of failing hard.
 */
/* clang-format off */
static const char *const allowed[] = {
    "accept", "accept4", "access", "adjtimex", "alarm", "arch_prctl", "bind", "brk", "cachestat",
    "capget", "capset", "chdir", "chmod", "chown", "chown32", "clock_adjtime", "clock_adjtime64",
    "clock_getres", "clock_getres_time64", "clock_gettime", "clock_gettime64", "clock_nanosleep",
    "clock_nanosleep_time64", "close", "close_range", "connect", "copy_file_range", "creat", "dup",
    "dup2", "dup3", "epoll_create", "epoll_create1", "epoll_ctl", "epoll_ctl_old", "epoll_pwait",
    "epoll_pwait2", "epoll_wait", "epoll_wait_old", "eventfd", "eventfd2", "execve", "execveat",
    "exit", "exit_group", "faccessat", "faccessat2", "fadvise64", "fadvise64_64", "fallocate",
    "fanotify_mark", "fchdir", "fchmod", "fchmodat", "fchmodat2", "fchown", "fchown32", "fchownat",
    "fcntl", "fcntl64", "fdatasync", "fgetxattr", "flistxattr", "flock", "fork", "fremovexattr",
    "fsetxattr", "fstat", "fstat64", "fstatat64", "fstatfs", "fstatfs64", "fsync", "ftruncate",
    "ftruncate64", "futex", "futex_requeue", "futex_time64", "futex_wait", "futex_waitv",
    "futex_wake", "futimesat", "get_mempolicy", "get_robust_list", "get_thread_area", "getcpu",
    "getcwd", "getdents", "getdents64", "getegid", "getegid32", "geteuid", "geteuid32", "getgid",
    "getgid32", "getgroups", "getgroups32", "getitimer", "getpeername", "getpgid", "getpgrp",
    "getpid", "getppid", "getpriority", "getrandom", "getresgid", "getresgid32", "getresuid",
    "getresuid32", "getrlimit", "getrusage", "getsid", "getsockname", "getsockopt", "gettid",
    "gettimeofday", "getuid", "getuid32", "getxattr", "getxattrat", "inotify_add_watch",
    "inotify_init", "inotify_init1", "inotify_rm_watch", "io_cancel", "io_destroy", "io_getevents",
    "io_pgetevents", "io_pgetevents_time64", "io_setup", "io_submit", "ioprio_get", "ioprio_set",
    "ipc", "kill", "landlock_add_rule", "landlock_create_ruleset", "landlock_restrict_self",
    "lchown", "lchown32", "lgetxattr", "link", "linkat", "listen", "listxattr", "listxattrat",
    "llistxattr", "_llseek", "lremovexattr", "lseek", "lsetxattr", "lstat", "lstat64", "madvise",
    "map_shadow_stack", "mbind", "membarrier", "memfd_create", "memfd_secret", "mincore", "mkdir",
    "mkdirat", "mknod", "mknodat", "mlock", "mlock2", "mlockall", "mmap", "mmap2", "mprotect",
    "mq_getsetattr", "mq_notify", "mq_open", "mq_timedreceive", "mq_timedreceive_time64",
    "mq_timedsend", "mq_timedsend_time64", "mq_unlink", "mremap", "mseal", "msgctl", "msgget",
    "msgrcv", "msgsnd", "msync", "munlock", "munlockall", "munmap", "nanosleep", "newfstatat",
    "_newselect", "open", "openat", "openat2", "pause", "pidfd_open", "pidfd_send_signal", "pipe",
    "pipe2", "pkey_alloc", "pkey_free", "pkey_mprotect", "poll", "ppoll", "ppoll_time64", "prctl",
    "pread64", "preadv", "preadv2", "prlimit64", "process_mrelease", "pselect6", "pselect6_time64",
    "pwrite64", "pwritev", "pwritev2", "read", "readahead", "readlink", "readlinkat", "readv",
    "recv", "recvfrom", "recvmmsg", "recvmmsg_time64", "recvmsg", "remap_file_pages",
    "removexattr", "removexattrat", "rename", "renameat", "renameat2", "restart_syscall", "rmdir",
    "rseq", "rt_sigaction", "rt_sigpending", "rt_sigprocmask", "rt_sigqueueinfo", "rt_sigreturn",
    "rt_sigsuspend", "rt_sigtimedwait", "rt_sigtimedwait_time64", "rt_tgsigqueueinfo",
    "sched_get_priority_max", "sched_get_priority_min", "sched_getaffinity", "sched_getattr",
    "sched_getparam", "sched_getscheduler", "sched_rr_get_interval",
    "sched_rr_get_interval_time64", "sched_setaffinity", "sched_setattr", "sched_setparam",
    "sched_setscheduler", "sched_yield", "seccomp", "select", "semctl", "semget", "semop",
    "semtimedop", "semtimedop_time64", "send", "sendfile", "sendfile64", "sendmmsg", "sendmsg",
    "sendto", "set_mempolicy", "set_mempolicy_home_node", "set_robust_list", "set_thread_area",
    "set_tid_address", "setfsgid", "setfsgid32", "setfsuid", "setfsuid32", "setgid", "setgid32",
    "setgroups", "setgroups32", "setitimer", "setpgid", "setpriority", "setregid", "setregid32",
    "setresgid", "setresgid32", "setresuid", "setresuid32", "setreuid", "setreuid32", "setrlimit",
    "setsid", "setsockopt", "setuid", "setuid32", "setxattr", "setxattrat", "shmat", "shmctl",
    "shmdt", "shmget", "shutdown", "sigaltstack", "signalfd", "signalfd4", "sigprocmask",
    "sigreturn", "socketcall", "socketpair", "splice", "stat", "stat64", "statfs", "statfs64",
    "statx", "symlink", "symlinkat", "sync", "sync_file_range", "syncfs", "sysinfo", "tee",
    "tgkill", "time", "timer_create", "timer_delete", "timer_getoverrun", "timer_gettime",
    "timer_gettime64", "timer_settime", "timer_settime64", "timerfd_create", "timerfd_gettime",
    "timerfd_gettime64", "timerfd_settime", "timerfd_settime64", "times", "tkill", "truncate",
    "truncate64", "ugetrlimit", "umask", "uname", "unlink", "unlinkat", "utime", "utimensat",
    "utimensat_time64", "utimes", "vfork", "vmsplice", "wait4", "waitid", "waitpid", "write",
    "writev", NULL,
};
/* clang-format on */

/*
 * Syscalls refused with EPERM, grouped as in docs/sandbox.md. Listing them
 * (rather than letting the ENOSYS default catch them) makes the refusal
 * explicit to the program and to whoever reads a strace.
 */
/* clang-format off */
static const char *const denied[] = {
    /* kernel code and boot */
    "kexec_load", "kexec_file_load", "init_module", "finit_module", "delete_module", "reboot",
    /* mounts and root changes (all set up before the filter is loaded) */
    "mount", "umount", "umount2", "pivot_root", "chroot", "move_mount", "open_tree",
    "open_tree_attr", "fsopen", "fsconfig", "fsmount", "fspick", "mount_setattr",
    /* namespaces */
    "setns",
    /* kernel keyrings */
    "keyctl", "add_key", "request_key",
    /* eBPF, perf, userfaultfd, io_uring */
    "bpf", "perf_event_open", "userfaultfd", "io_uring_setup", "io_uring_enter",
    "io_uring_register",
    /* other processes' memory and files */
    "ptrace", "process_vm_readv", "process_vm_writev", "process_madvise", "kcmp", "pidfd_getfd",
    "move_pages", "migrate_pages",
    /* file handles (the "shocker" escape) */
    "open_by_handle_at", "name_to_handle_at",
    /* host-wide state */
    "swapon", "swapoff", "acct", "quotactl", "quotactl_fd", "settimeofday", "stime",
    "clock_settime", "clock_settime64", "syslog", "sethostname", "setdomainname", "vhangup",
    "fanotify_init", "lookup_dcookie", "nfsservctl",
    /* raw hardware and legacy ABI */
    "iopl", "ioperm", "modify_ldt", "vm86", "vm86old", "uselib", "ustat", "sysfs", "_sysctl",
    "create_module", "get_kernel_syms", "query_module", NULL,
};
/* clang-format on */

/* clang-format off */
static const char *const masked_paths[] = {
    "/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
    "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi", "/sys/firmware",
    "/sys/devices/virtual/powercap", NULL,
};
/* clang-format on */

/* clang-format off */
static const char *const readonly_paths[] = {
    "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger", NULL,
};
/* clang-format on */

/* clang-format off */
static const char *const forced_namespaces[] = {
    "user", "mount", "pid", "ipc", "uts", "cgroup", NULL,
};
/* clang-format on */

/* Devices the runtime creates by default; writable if present. */
/* clang-format off */
static const char *const default_devices[] = {
    "/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom", "/dev/tty",
    "/dev/console", "/dev/ptmx", NULL,
};
/* clang-format on */

/* ---- small JSON helpers; every one returns -ENOMEM or 0 ---- */

static json_t *
str_array(const char *const *names)
{
    json_t *a = json_array();
    for (size_t i = 0; a && names[i]; i++)
        if (json_array_append_new(a, json_string(names[i])) < 0) {
            json_decref(a);
            return NULL;
        }
    return a;
}

static json_t *
cond(unsigned index, uint64_t value, uint64_t value_two, const char *op)
{
    return json_pack("{s:i, s:I, s:I, s:s}", "index", (int)index, "value", (json_int_t)value,
                     "valueTwo", (json_int_t)value_two, "op", op);
}

/*
 * Append {names:[name], action, errnoRet?, args?} to rules. Takes args. A
 * conditional rule whose condition list is missing (an allocation failed)
 * is an error, so running out of memory can never turn it into an
 * unconditional rule.
 */
static int
add_rule(json_t *rules, const char *name, const char *action, int errno_ret, bool conditional,
         json_t *args)
{
    cleanup_with(json_decrefp) json_t *a = args;
    if (conditional && json_array_size(a) == 0)
        return -ENOMEM;
    json_t *r = json_pack("{s:[s], s:s}", "names", name, "action", action);
    if (!r)
        return -ENOMEM;
    /* The _new setters consume their value even when they fail. */
    if ((errno_ret >= 0 && json_object_set_new(r, "errnoRet", json_integer(errno_ret)) < 0) ||
        (a && json_object_set(r, "args", a) < 0)) {
        json_decref(r);
        return -ENOMEM;
    }
    return json_array_append_new(rules, r) < 0 ? -ENOMEM : 0;
}

/* One condition per set bit of mask: "any of these bits set" (ORed). */
static json_t *
any_bit_args(unsigned index, uint64_t mask)
{
    json_t *a = json_array();
    for (int b = 0; a && b < 64; b++) {
        uint64_t bit = UINT64_C(1) << b;
        if ((mask & bit) && json_array_append_new(a, cond(index, bit, bit, "SCMP_CMP_MASKED_EQ"))) {
            json_decref(a);
            return NULL;
        }
    }
    return a;
}

static json_t *
args1(json_t *c)
{
    return c ? json_pack("[o]", c) : NULL;
}

/*
 * The kumo sandbox seccomp profile as an OCI linux.seccomp object. Only the
 * native architecture is listed: syscalls through another ABI (int 0x80 on
 * x86_64, x32) kill the process, which closes the compat-layer attack
 * surface and the classic "filter only checked the 64-bit numbers" bypass.
 * Comparisons on 32-bit arguments mask the upper half, because the kernel
 * truncates those while seccomp sees all 64 bits.
 */
static json_t *
sandbox_seccomp_profile(void)
{
    cleanup_with(json_decrefp) json_t *rules = json_array();
    cleanup_with(json_decrefp) json_t *prof = NULL;
    if (!rules)
        return NULL;
    json_t *allow = str_array(allowed), *deny = str_array(denied);
    if (!allow || !deny) {
        json_decref(allow);
        json_decref(deny);
        return NULL;
    }
    /* json_pack's 'o' consumes each list, even when packing fails. */
    if (json_array_append_new(
            rules, json_pack("{s:o, s:s}", "names", allow, "action", "SCMP_ACT_ALLOW")) < 0) {
        json_decref(deny);
        return NULL;
    }
    if (json_array_append_new(rules, json_pack("{s:o, s:s, s:i}", "names", deny, "action",
                                               "SCMP_ACT_ERRNO", "errnoRet", EPERM)) < 0)
        return NULL;

    int r = 0;
    /* Threads and fork: fine; new namespaces: EPERM. */
    r |= add_rule(rules, "clone", "SCMP_ACT_ALLOW", -1, true,
                  args1(cond(CLONE_FLAGS_ARG, NS_CLONE_FLAGS, 0, "SCMP_CMP_MASKED_EQ")));
    r |= add_rule(rules, "clone", "SCMP_ACT_ERRNO", EPERM, true,
                  any_bit_args(CLONE_FLAGS_ARG, NS_CLONE_FLAGS));
    r |= add_rule(rules, "unshare", "SCMP_ACT_ALLOW", -1, true,
                  args1(cond(0, NS_UNSHARE_FLAGS, 0, "SCMP_CMP_MASKED_EQ")));
    r |= add_rule(rules, "unshare", "SCMP_ACT_ERRNO", EPERM, true,
                  any_bit_args(0, NS_UNSHARE_FLAGS));
    /* clone3 passes its flags in memory a filter cannot read: ENOSYS makes
     * glibc fall back to clone, whose flags we can check. */
    r |= add_rule(rules, "clone3", "SCMP_ACT_ERRNO", ENOSYS, false, NULL);

    /* personality: the values Docker allows (Linux, 32-bit, UNAME26, query). */
    json_t *pers = json_array();
    static const uint64_t pvals[] = { 0x0, 0x8, 0x20000, 0x20008, 0xffffffff };
    for (size_t i = 0; pers && i < ARRAY_SIZE(pvals); i++)
        if (json_array_append_new(pers, cond(0, pvals[i], 0, "SCMP_CMP_EQ")) < 0)
            r |= -ENOMEM;
    r |= add_rule(rules, "personality", "SCMP_ACT_ALLOW", -1, true, pers);

    /* Conditional allow (always true) plus a more specific deny: libseccomp
     * lets the deny win where both match; an unconditional allow would
     * shadow the deny entirely. */
    r |= add_rule(rules, "socket", "SCMP_ACT_ALLOW", -1, true, args1(cond(0, 0, 0, "SCMP_CMP_GE")));
    r |= add_rule(rules, "socket", "SCMP_ACT_ERRNO", EPERM, true,
                  args1(cond(0, 0xffffffff, AF_VSOCK_NR, "SCMP_CMP_MASKED_EQ")));
    r |= add_rule(rules, "ioctl", "SCMP_ACT_ALLOW", -1, true, args1(cond(0, 0, 0, "SCMP_CMP_GE")));
    json_t *tio = json_array();
    if (!tio || json_array_append_new(tio, cond(1, 0xffffffff, TIOCSTI_NR, "SCMP_CMP_MASKED_EQ")) ||
        json_array_append_new(tio, cond(1, 0xffffffff, TIOCLINUX_NR, "SCMP_CMP_MASKED_EQ")))
        r |= -ENOMEM;
    r |= add_rule(rules, "ioctl", "SCMP_ACT_ERRNO", EPERM, true, tio);
    if (r != 0)
        return NULL;

    prof = json_pack("{s:s, s:i, s:O}", "defaultAction", "SCMP_ACT_ERRNO", "defaultErrnoRet",
                     ENOSYS, "syscalls", rules);
    return TAKE_PTR(prof);
}

/* ---- config rewriting ---- */

static json_t *
annotations(json_t *config)
{
    json_t *a = json_object_get(config, "annotations");
    return json_is_object(a) ? a : NULL;
}

bool
rt_config_is_sandbox(json_t *config)
{
    json_t *t = json_object_get(annotations(config), RT_ANNOT_TYPE);
    return json_is_string(t) && strcmp(json_string_value(t), "sandbox") == 0;
}

/* Get config[key] as an object, creating it when absent. */
static int
child_object(json_t *parent, const char *key, const char *where, json_t **ret, struct kerr *err)
{
    json_t *o = json_object_get(parent, key);
    if (!o) {
        o = json_object();
        if (!o || json_object_set_new(parent, key, o) < 0)
            return kerr_setf(err, ENOMEM, "%s: out of memory", where);
    } else if (!json_is_object(o)) {
        return kerr_setf(err, EINVAL, "%s: must be an object", where);
    }
    *ret = o;
    return 0;
}

static int
append_missing_strings(json_t *parent, const char *key, const char *const *add, const char *where,
                       struct kerr *err)
{
    json_t *a = json_object_get(parent, key);
    if (!a) {
        a = json_array();
        if (!a || json_object_set_new(parent, key, a) < 0)
            return kerr_setf(err, ENOMEM, "%s: out of memory", where);
    } else if (!json_is_array(a)) {
        return kerr_setf(err, EINVAL, "%s: must be an array", where);
    }
    for (size_t i = 0; add[i]; i++) {
        bool have = false;
        size_t j;
        json_t *v;
        json_array_foreach (a, j, v)
            if (json_is_string(v) && strcmp(json_string_value(v), add[i]) == 0)
                have = true;
        if (!have && json_array_append_new(a, json_string(add[i])) < 0)
            return kerr_setf(err, ENOMEM, "%s: out of memory", where);
    }
    return 0;
}

static bool
has_namespace(json_t *nss, const char *type)
{
    size_t i;
    json_t *ns;
    json_array_foreach (nss, i, ns) {
        json_t *t = json_object_get(ns, "type");
        if (json_is_string(t) && strcmp(json_string_value(t), type) == 0)
            return true;
    }
    return false;
}

static int
harden_namespaces(json_t *lnx, bool *ret_netns, struct kerr *err)
{
    json_t *nss = json_object_get(lnx, "namespaces");
    if (!nss) {
        nss = json_array();
        if (!nss || json_object_set_new(lnx, "namespaces", nss) < 0)
            return kerr_setf(err, ENOMEM, "linux.namespaces: out of memory");
    } else if (!json_is_array(nss)) {
        return kerr_setf(err, EINVAL, "linux.namespaces: must be an array");
    }
    /* A namespace the spec names, fresh or joined by path, is kept: pods
     * share pid/ipc/net namespaces on purpose. */
    for (size_t i = 0; forced_namespaces[i]; i++)
        if (!has_namespace(nss, forced_namespaces[i]) &&
            json_array_append_new(nss, json_pack("{s:s}", "type", forced_namespaces[i])) < 0)
            return kerr_setf(err, ENOMEM, "linux.namespaces: out of memory");
    *ret_netns = has_namespace(nss, "network");
    return 0;
}

/* Refuse an id mapping that would make anything in the container host root. */
static int
check_mappings(json_t *maps, const char *where, struct kerr *err)
{
    if (!json_is_array(maps))
        return kerr_setf(err, EINVAL, "%s: must be an array", where);
    size_t i;
    json_t *m;
    json_array_foreach (maps, i, m) {
        json_t *h = json_object_get(m, "hostID"), *s = json_object_get(m, "size");
        if (!json_is_integer(h) || !json_is_integer(s))
            return kerr_setf(err, EINVAL, "%s[%zu]: hostID and size must be integers", where, i);
        if (json_integer_value(s) <= 0)
            return kerr_setf(err, EINVAL, "%s[%zu].size: must be positive", where, i);
        if (json_integer_value(h) <= 0)
            return kerr_setf(err, EINVAL,
                             "%s[%zu]: maps host id 0 into a sandbox (use an unprivileged range)",
                             where, i);
    }
    return 0;
}

static int
sandbox_idbase(json_t *config, uint64_t *ret, struct kerr *err)
{
    json_t *v = json_object_get(annotations(config), RT_ANNOT_SANDBOX_IDBASE);
    *ret = RT_SANDBOX_IDBASE_DEFAULT;
    if (!v)
        return 0;
    /* Host ids are 32-bit and (uid_t)-1 is reserved. */
    const uint64_t max = UINT32_MAX - (uint64_t)RT_SANDBOX_IDRANGE;
    if (!json_is_string(v) || parse_uint64(json_string_value(v), max, ret) < 0 || *ret == 0)
        return kerr_setf(err, EINVAL, "annotations.%s: must be a host id between 1 and %" PRIu64,
                         RT_ANNOT_SANDBOX_IDBASE, max);
    return 0;
}

/* True when the spec joins an existing user namespace by path. */
static bool
joins_userns(json_t *lnx)
{
    size_t i;
    json_t *ns;
    json_array_foreach (json_object_get(lnx, "namespaces"), i, ns) {
        json_t *t = json_object_get(ns, "type"), *p = json_object_get(ns, "path");
        if (json_is_string(t) && strcmp(json_string_value(t), "user") == 0 && json_is_string(p) &&
            json_string_length(p) > 0)
            return true;
    }
    return false;
}

/*
 * Id mappings: the bundle's own are kept if none of them reaches host id 0;
 * missing ones become 0..65535 → base..base+65535. A joined user namespace
 * (path) brings its mapping with it and is trusted like the rest of the
 * config.
 */
static int
harden_idmaps(json_t *config, json_t *lnx, struct kerr *err)
{
    if (joins_userns(lnx))
        return 0;
    uint64_t base;
    int r = sandbox_idbase(config, &base, err);
    if (r < 0)
        return r;
    static const char *const keys[] = { "uidMappings", "gidMappings" };
    for (size_t k = 0; k < ARRAY_SIZE(keys); k++) {
        char where[32];
        snprintf(where, sizeof(where), "linux.%s", keys[k]);
        json_t *maps = json_object_get(lnx, keys[k]);
        if (maps && !(json_is_array(maps) && json_array_size(maps) == 0)) {
            r = check_mappings(maps, where, err);
            if (r < 0)
                return r;
            continue;
        }
        json_t *def = json_pack("[{s:i, s:I, s:I}]", "containerID", 0, "hostID", (json_int_t)base,
                                "size", (json_int_t)RT_SANDBOX_IDRANGE);
        if (!def || json_object_set_new(lnx, keys[k], def) < 0)
            return kerr_setf(err, ENOMEM, "%s: out of memory", where);
    }
    return 0;
}

static bool
has_option(json_t *m, const char *opt)
{
    size_t i;
    json_t *o;
    json_array_foreach (json_object_get(m, "options"), i, o) {
        if (json_is_string(o) && strcmp(json_string_value(o), opt) == 0)
            return true;
    }
    return false;
}

static bool
type_is(json_t *m, const char *type)
{
    json_t *t = json_object_get(m, "type");
    return json_is_string(t) && strcmp(json_string_value(t), type) == 0;
}

/*
 * Mounts: no cgroupfs (a writable cgroup v1 release_agent is how
 * CVE-2022-0492 escaped; the sandbox needs no view of its cgroup), sysfs
 * always read-only, and, without a network namespace of its own, a
 * read-only bind of the host /sys instead of a fresh sysfs (the kernel
 * refuses a sysfs mount from a user namespace that does not own the
 * network namespace). Fills rw with the writable mount destinations.
 */
static int
harden_mounts(json_t *config, bool netns, json_t *rw, struct kerr *err)
{
    json_t *mounts = json_object_get(config, "mounts");
    if (!mounts)
        return 0;
    if (!json_is_array(mounts))
        return kerr_setf(err, EINVAL, "mounts: must be an array");
    for (size_t i = 0; i < json_array_size(mounts);) {
        json_t *m = json_array_get(mounts, i);
        if (!json_is_object(m))
            return kerr_setf(err, EINVAL, "mounts[%zu]: must be an object", i);
        if (type_is(m, "cgroup") || type_is(m, "cgroup2")) {
            json_array_remove(mounts, i);
            continue;
        }
        json_t *opts = json_object_get(m, "options");
        if (opts && !json_is_array(opts))
            return kerr_setf(err, EINVAL, "mounts[%zu].options: must be an array", i);
        /*
         * Through an idmapped mount the sandbox's root writes files owned by
         * whatever host id the mapping names (host root, with a setuid bit).
         */
        if (has_option(m, "idmap") || has_option(m, "ridmap") ||
            json_array_size(json_object_get(m, "uidMappings")) > 0 ||
            json_array_size(json_object_get(m, "gidMappings")) > 0)
            return kerr_setf(err, EINVAL,
                             "mounts[%zu]: idmapped mounts are not allowed in a sandbox", i);
        if (type_is(m, "sysfs")) {
            if (!netns) {
                json_t *bind =
                    json_pack("{s:O?, s:s, s:s, s:[s,s,s,s,s]}", "destination",
                              json_object_get(m, "destination"), "type", "bind", "source", "/sys",
                              "options", "rbind", "nosuid", "noexec", "nodev", "ro");
                if (!bind || json_array_set_new(mounts, i, bind) < 0)
                    return kerr_setf(err, ENOMEM, "mounts[%zu]: out of memory", i);
            } else {
                static const char *const ro[] = { "ro", NULL };
                int r = append_missing_strings(m, "options", ro, "mounts[].options", err);
                if (r < 0)
                    return r;
            }
            i++;
            continue;
        }
        json_t *dest = json_object_get(m, "destination");
        bool writable = !has_option(m, "ro") && !type_is(m, "proc");
        if (writable && json_is_string(dest) && json_string_value(dest)[0] == '/' &&
            json_array_append_new(rw, json_string(json_string_value(dest))) < 0)
            return kerr_setf(err, ENOMEM, "mounts: out of memory");
        i++;
    }
    return 0;
}

static int
record_landlock(json_t *config, json_t *rw, struct kerr *err)
{
    for (size_t i = 0; default_devices[i]; i++)
        if (json_array_append_new(rw, json_string(default_devices[i])) < 0)
            return kerr_setf(err, ENOMEM, "landlock: out of memory");
    json_t *devs = json_object_get(json_object_get(config, "linux"), "devices");
    size_t i;
    json_t *d;
    json_array_foreach (devs, i, d) {
        json_t *p = json_object_get(d, "path");
        if (json_is_string(p) && json_array_append_new(rw, json_string(json_string_value(p))) < 0)
            return kerr_setf(err, ENOMEM, "landlock: out of memory");
    }
    if (json_array_size(rw) > SANDBOX_MAX_PATHS)
        return kerr_setf(err, E2BIG, "mounts: more than %d writable paths for Landlock",
                         SANDBOX_MAX_PATHS);

    cleanup_with(json_decrefp) json_t *ll = json_pack("{s:[s], s:O}", "ro", "/", "rw", rw);
    cleanup_free char *s = ll ? json_dumps(ll, JSON_COMPACT) : NULL;
    json_t *ann;
    int r = child_object(config, "annotations", "annotations", &ann, err);
    if (r < 0)
        return r;
    if (!s || json_object_set_new(ann, RT_ANNOT_SANDBOX_LANDLOCK, json_string(s)) < 0)
        return kerr_setf(err, ENOMEM, "annotations: out of memory");
    return 0;
}

/* linux.seccomp ← our profile, or stack it (annotation) after the spec's. */
static int
harden_seccomp(json_t *config, json_t *lnx, struct kerr *err)
{
    cleanup_with(json_decrefp) json_t *prof = sandbox_seccomp_profile();
    if (!prof)
        return kerr_setf(err, ENOMEM, "linux.seccomp: out of memory");
    json_t *ann = annotations(config);
    json_t *cur = json_object_get(lnx, "seccomp");
    if (!cur || json_is_null(cur) || json_equal(cur, prof)) {
        json_object_del(ann, RT_ANNOT_SANDBOX_SECCOMP);
        if (json_object_set(lnx, "seccomp", prof) < 0)
            return kerr_setf(err, ENOMEM, "linux.seccomp: out of memory");
        return 0;
    }
    cleanup_free char *s = json_dumps(prof, JSON_COMPACT);
    if (!s || json_object_set_new(ann, RT_ANNOT_SANDBOX_SECCOMP, json_string(s)) < 0)
        return kerr_setf(err, ENOMEM, "annotations: out of memory");
    /* Compile it here, in the parent, so the init only loads it. */
    struct kerr ignored = KERR_INIT;
    (void)rt_seccomp_validate(prof, &ignored);
    return 0;
}

/* Capabilities: none in any set; no_new_privs. */
static int
harden_process(json_t *process, struct kerr *err)
{
    if (!json_is_object(process))
        return kerr_setf(err, EINVAL, "process: must be an object");
    json_t *caps = json_pack("{s:[], s:[], s:[], s:[], s:[]}", "bounding", "effective", "permitted",
                             "inheritable", "ambient");
    if (!caps || json_object_set_new(process, "capabilities", caps) < 0 ||
        json_object_set_new(process, "noNewPrivileges", json_true()) < 0)
        return kerr_setf(err, ENOMEM, "process: out of memory");
    return 0;
}

int
rt_sandbox_harden_process(json_t *config, json_t *process, struct kerr *err)
{
    if (!json_is_object(config) || !rt_config_is_sandbox(config))
        return 0;
    return harden_process(process, err);
}

int
rt_sandbox_harden(json_t *config, struct kerr *err)
{
    if (!json_is_object(config) || !rt_config_is_sandbox(config))
        return 0;
    int r;
    json_t *process, *root, *lnx;

    r = child_object(config, "process", "process", &process, err);
    if (r >= 0)
        r = harden_process(process, err);
    if (r < 0)
        return r;

    r = child_object(config, "root", "root", &root, err);
    if (r < 0)
        return r;
    if (json_object_set_new(root, "readonly", json_true()) < 0)
        return kerr_setf(err, ENOMEM, "root: out of memory");

    r = child_object(config, "linux", "linux", &lnx, err);
    if (r < 0)
        return r;
    bool netns = false;
    r = harden_namespaces(lnx, &netns, err);
    if (r >= 0)
        r = harden_idmaps(config, lnx, err);
    if (r >= 0)
        r = append_missing_strings(lnx, "maskedPaths", masked_paths, "linux.maskedPaths", err);
    if (r >= 0)
        r = append_missing_strings(lnx, "readonlyPaths", readonly_paths, "linux.readonlyPaths",
                                   err);
    if (r < 0)
        return r;

    cleanup_with(json_decrefp) json_t *rw = json_array();
    if (!rw)
        return kerr_setf(err, ENOMEM, "mounts: out of memory");
    r = harden_mounts(config, netns, rw, err);
    if (r >= 0)
        r = record_landlock(config, rw, err);
    if (r >= 0)
        r = harden_seccomp(config, lnx, err);
    return r;
}

/* ---- in the container init ---- */

/* Parse annotation JSON {"ro":[...],"rw":[...]} into NULL-terminated arrays
 * that borrow the strings of *ret_doc. */
static int
landlock_lists(json_t *config, json_t **ret_doc, const char ***ret_ro, const char ***ret_rw,
               struct kerr *err)
{
    json_t *s = json_object_get(annotations(config), RT_ANNOT_SANDBOX_LANDLOCK);
    if (!json_is_string(s))
        return kerr_setf(err, EINVAL,
                         "annotations.%s: missing (config was not hardened before use)",
                         RT_ANNOT_SANDBOX_LANDLOCK);
    cleanup_with(json_decrefp) json_t *doc = json_loads(json_string_value(s), 0, NULL);
    if (!json_is_object(doc))
        return kerr_setf(err, EINVAL, "annotations.%s: not a JSON object",
                         RT_ANNOT_SANDBOX_LANDLOCK);
    const char **lists[2] = { NULL, NULL };
    static const char *const keys[2] = { "ro", "rw" };
    for (int k = 0; k < 2; k++) {
        json_t *a = json_object_get(doc, keys[k]);
        if (!json_is_array(a) || json_array_size(a) > SANDBOX_MAX_PATHS) {
            free(lists[0]);
            return kerr_setf(err, EINVAL, "annotations.%s.%s: must be an array of paths",
                             RT_ANNOT_SANDBOX_LANDLOCK, keys[k]);
        }
        lists[k] = calloc(json_array_size(a) + 1, sizeof(char *));
        if (!lists[k]) {
            free(lists[0]);
            return kerr_setf(err, ENOMEM, "landlock: out of memory");
        }
        size_t i;
        json_t *p;
        json_array_foreach (a, i, p) {
            if (!json_is_string(p)) {
                free(lists[0]);
                free(lists[1]);
                return kerr_setf(err, EINVAL, "annotations.%s.%s[%zu]: must be a string",
                                 RT_ANNOT_SANDBOX_LANDLOCK, keys[k], i);
            }
            lists[k][i] = json_string_value(p);
        }
    }
    *ret_doc = TAKE_PTR(doc);
    *ret_ro = lists[0];
    *ret_rw = lists[1];
    return 0;
}

int
rt_sandbox_enter(json_t *config, struct kerr *err)
{
    if (!json_is_object(config) || !rt_config_is_sandbox(config))
        return 0;
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
        return kerr_set(err, errno, "sandbox: set no_new_privs");

    cleanup_with(json_decrefp) json_t *doc = NULL;
    cleanup_free const char **ro = NULL;
    cleanup_free const char **rw = NULL;
    int r = landlock_lists(config, &doc, &ro, &rw, err);
    if (r < 0)
        return r;
    /* Without Landlock the other layers still hold (readonly root, user
     * namespace, no capabilities, seccomp); docs/sandbox.md says so. A
     * local kerr keeps the tolerated failure out of the caller's. */
    struct kerr lerr = KERR_INIT;
    r = rt_landlock_apply(rw, ro, &lerr);
    if (r < 0 && r != -EOPNOTSUPP)
        return kerr_setf(err, lerr.code, "sandbox: %s", lerr.msg);

    json_t *s = json_object_get(annotations(config), RT_ANNOT_SANDBOX_SECCOMP);
    if (!s)
        return 0;
    if (!json_is_string(s))
        return kerr_setf(err, EINVAL, "annotations.%s: must be a string", RT_ANNOT_SANDBOX_SECCOMP);
    cleanup_with(json_decrefp) json_t *prof = json_loads(json_string_value(s), 0, NULL);
    if (!prof)
        return kerr_setf(err, EINVAL, "annotations.%s: not JSON", RT_ANNOT_SANDBOX_SECCOMP);
    r = rt_seccomp_load(prof, err);
    if (r < 0)
        return kerr_prefix(err, "sandbox: stacked filter");
    return 0;
}

/* Exposed for the unit tests through the library: the profile the sandbox
 * installs, a new reference. */
json_t *rt__sandbox_seccomp_profile(void);

json_t *
rt__sandbox_seccomp_profile(void)
{
    return sandbox_seccomp_profile();
}
