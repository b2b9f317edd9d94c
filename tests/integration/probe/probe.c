/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Escape-attempt probe for the runtime security tests. Built static
 * (`cc -static`) by tests/integration/test_runtime_sandbox.py and copied into
 * a busybox bundle, it runs inside a container and prints one line per
 * attempt, `name:ok` or `name:EPERM` (the errno's name, or E<number>), plus
 * `status:` lines with the security fields of /proc/self/status and the uid
 * map. Each attempt runs in its own forked child so one attempt's success
 * (a new namespace, a chroot) cannot change the next one; anything an
 * attempt creates is removed again. Every attempt is harmless to the host
 * even when it succeeds: arguments are chosen so that the kernel gets past
 * its permission checks and then refuses or does nothing.
 *
 * Usage: probe [all | status | NAME...]
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <linux/io_uring.h>
#include <linux/perf_event.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/klog.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <time.h>
#include <unistd.h>

#if defined(__x86_64__) || defined(__i386__)
#include <sys/io.h>
#define HAVE_IOPERM 1
#endif

/* Each attempt returns 0 (it worked) or a positive errno. */
typedef int (*attempt_fn)(void);

static int
ret(long r)
{
    return r < 0 ? errno : 0;
}

static int
a_mount_tmpfs(void)
{
    if (mount("probe", "/run", "tmpfs", 0, "size=64k") < 0)
        return errno;
    umount2("/run", MNT_DETACH);
    return 0;
}

static int
a_unshare_user(void)
{
    return ret(unshare(CLONE_NEWUSER));
}

static int
a_unshare_mount(void)
{
    return ret(unshare(CLONE_NEWNS));
}

static int
a_write_root(void)
{
    int fd = open("/probe-was-here", O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0)
        return errno;
    close(fd);
    unlink("/probe-was-here");
    return 0;
}

/*
 * The "shocker" escape: open_by_handle_at with a hand-made handle for inode
 * 2 (the root directory of an ext2/3/4 filesystem) on the filesystem the
 * container's root lives on opens the HOST's root directory, outside any
 * pivot_root. Needs CAP_DAC_READ_SEARCH in the initial user namespace.
 */
static int
a_host_file_by_handle(void)
{
    int mfd = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (mfd < 0)
        return errno;
    struct {
        struct file_handle fh;
        uint32_t ino_gen[2];
    } h = { .fh = { .handle_bytes = 8, .handle_type = 1 }, .ino_gen = { 2, 0 } };
    int fd = (int)syscall(SYS_open_by_handle_at, mfd, &h.fh, O_RDONLY | O_DIRECTORY);
    int e = errno;
    close(mfd);
    if (fd < 0)
        return e;
    close(fd);
    return 0;
}

static int
a_name_to_handle(void)
{
    struct {
        struct file_handle fh;
        unsigned char buf[128];
    } h = { .fh = { .handle_bytes = 128 } };
    int mnt;
    return ret(syscall(SYS_name_to_handle_at, AT_FDCWD, "/", &h.fh, &mnt, 0));
}

static int
a_load_module(void)
{
    return ret(syscall(SYS_init_module, NULL, 0, ""));
}

static int
a_kexec(void)
{
    /* An unknown architecture in flags: EINVAL right after the privilege
     * check, never an unload of a loaded image. */
    return ret(syscall(SYS_kexec_load, 0UL, 0UL, NULL, 0xdead0000UL));
}

static int
a_keyctl(void)
{
    /* KEYCTL_GET_KEYRING_ID of the session keyring, without creating it. */
    return ret(syscall(SYS_keyctl, 0, -3, 0, 0, 0));
}

static int
a_bpf(void)
{
    union bpf_attr attr;
    memset(&attr, 0, sizeof(attr));
    attr.map_type = BPF_MAP_TYPE_ARRAY;
    attr.key_size = 4;
    attr.value_size = 4;
    attr.max_entries = 1;
    int fd = (int)syscall(SYS_bpf, BPF_MAP_CREATE, &attr, sizeof(attr));
    if (fd < 0)
        return errno;
    close(fd);
    return 0;
}

static pid_t
sleeper(void)
{
    pid_t p = fork();
    if (p == 0) {
        for (;;)
            pause();
    }
    return p;
}

static void
reap(pid_t p)
{
    kill(p, SIGKILL);
    waitpid(p, NULL, 0);
}

static int
a_ptrace(void)
{
    pid_t p = sleeper();
    if (p < 0)
        return errno;
    int r = ret(syscall(SYS_ptrace, 0x4206 /* PTRACE_SEIZE */, p, 0, 0));
    reap(p);
    return r;
}

static int
a_process_vm_readv(void)
{
    static char secret[16] = "secret";
    char buf[16];
    pid_t p = sleeper();
    if (p < 0)
        return errno;
    struct iovec local = { buf, sizeof(buf) }, remote = { secret, sizeof(secret) };
    int r = ret(process_vm_readv(p, &local, 1, &remote, 1, 0));
    reap(p);
    return r;
}

static int
a_sethostname(void)
{
    return ret(sethostname("probe", 5));
}

static int
a_chown(void)
{
    const char *f = "/tmp/probe-chown";
    int fd = open(f, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0)
        return errno;
    close(fd);
    int r = ret(chown(f, 1234, 1234));
    unlink(f);
    return r;
}

static int
a_mknod(void)
{
    const char *f = "/tmp/probe-null";
    if (mknod(f, S_IFCHR | 0666, makedev(1, 3)) < 0)
        return errno;
    unlink(f);
    return 0;
}

static int
a_raw_socket(void)
{
    int s = socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_ICMP);
    if (s < 0)
        return errno;
    close(s);
    return 0;
}

static int
a_vsock(void)
{
    int s = socket(40 /* AF_VSOCK */, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s < 0)
        return errno;
    close(s);
    return 0;
}

static int
a_setns(void)
{
    int fd = open("/proc/self/ns/uts", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno;
    int r = ret(setns(fd, CLONE_NEWUTS));
    close(fd);
    return r;
}

static int
a_chroot(void)
{
    return ret(chroot("/tmp"));
}

static int
a_syslog(void)
{
    return ret(klogctl(10 /* SYSLOG_ACTION_SIZE_BUFFER */, NULL, 0));
}

static int
a_userfaultfd(void)
{
    int fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC);
    if (fd < 0)
        return errno;
    close(fd);
    return 0;
}

static int
a_io_uring(void)
{
    struct io_uring_params p;
    memset(&p, 0, sizeof(p));
    int fd = (int)syscall(SYS_io_uring_setup, 1, &p);
    if (fd < 0)
        return errno;
    close(fd);
    return 0;
}

static int
a_perf_event(void)
{
    struct perf_event_attr attr;
    memset(&attr, 0, sizeof(attr));
    attr.size = sizeof(attr);
    attr.type = PERF_TYPE_SOFTWARE;
    attr.config = PERF_COUNT_SW_TASK_CLOCK;
    attr.exclude_kernel = 1;
    int fd = (int)syscall(SYS_perf_event_open, &attr, 0, -1, -1, 0);
    if (fd < 0)
        return errno;
    close(fd);
    return 0;
}

static int
a_clock_settime(void)
{
    /* CLOCK_MONOTONIC cannot be set: EINVAL past the filter, never a change. */
    struct timespec ts = { 0, 0 };
    return ret(syscall(SYS_clock_settime, CLOCK_MONOTONIC, &ts));
}

static int
a_ioperm(void)
{
#ifdef HAVE_IOPERM
    /* turn_on = 0 only ever removes access. */
    return ret(ioperm(0x80, 1, 0));
#else
    return ENOSYS;
#endif
}

static int
a_write_proc(void)
{
    int fd = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return errno;
    close(fd);
    return 0;
}

static int
a_setuid_root(void)
{
    /* Drop to nobody, then try to get root back without privileges. */
    if (setresuid(65534, 65534, 65534) < 0)
        return errno;
    return ret(setuid(0));
}

/* Plain and harmless: a spec filter in the tests maps it to an errno. */
static int
a_getppid(void)
{
    return ret(syscall(SYS_getppid));
}

static int
a_write_tmp(void)
{
    int fd = open("/tmp/probe-tmp", O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0)
        return errno;
    close(fd);
    unlink("/tmp/probe-tmp");
    return 0;
}

static int
a_fork(void)
{
    pid_t p = fork();
    if (p < 0)
        return errno;
    if (p == 0)
        _exit(0);
    waitpid(p, NULL, 0);
    return 0;
}

static const struct {
    const char *name;
    attempt_fn fn;
} attempts[] = {
    { "mount_tmpfs", a_mount_tmpfs },
    { "unshare_user", a_unshare_user },
    { "unshare_mount", a_unshare_mount },
    { "write_root", a_write_root },
    { "host_file_by_handle", a_host_file_by_handle },
    { "name_to_handle", a_name_to_handle },
    { "load_module", a_load_module },
    { "kexec", a_kexec },
    { "keyctl", a_keyctl },
    { "bpf", a_bpf },
    { "ptrace", a_ptrace },
    { "process_vm_readv", a_process_vm_readv },
    { "sethostname", a_sethostname },
    { "chown", a_chown },
    { "mknod", a_mknod },
    { "raw_socket", a_raw_socket },
    { "vsock", a_vsock },
    { "setns", a_setns },
    { "chroot", a_chroot },
    { "syslog", a_syslog },
    { "userfaultfd", a_userfaultfd },
    { "io_uring", a_io_uring },
    { "perf_event", a_perf_event },
    { "clock_settime", a_clock_settime },
    { "ioperm", a_ioperm },
    { "write_proc", a_write_proc },
    { "setuid_root", a_setuid_root },
    /* Controls: these must work everywhere. */
    { "getppid", a_getppid },
    { "write_tmp", a_write_tmp },
    { "fork", a_fork },
};

static const char *
errno_name(int e, char *buf, size_t len)
{
    static const struct {
        int e;
        const char *n;
    } names[] = {
        { EPERM, "EPERM" },           { ENOENT, "ENOENT" },   { EACCES, "EACCES" },
        { EINVAL, "EINVAL" },         { ENOSYS, "ENOSYS" },   { EROFS, "EROFS" },
        { EFAULT, "EFAULT" },         { ENOEXEC, "ENOEXEC" }, { EAFNOSUPPORT, "EAFNOSUPPORT" },
        { ESTALE, "ESTALE" },         { EBADF, "EBADF" },     { ENOTDIR, "ENOTDIR" },
        { EOPNOTSUPP, "EOPNOTSUPP" }, { EEXIST, "EEXIST" },
    };
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (names[i].e == e)
            return names[i].n;
    snprintf(buf, len, "E%d", e);
    return buf;
}

static void
run_attempt(const char *name, attempt_fn fn)
{
    int pfd[2];
    if (pipe(pfd) < 0) {
        printf("%s:probe-error\n", name);
        return;
    }
    fflush(stdout);
    pid_t p = fork();
    if (p == 0) {
        close(pfd[0]);
        alarm(5);
        int e = fn();
        (void)!write(pfd[1], &e, sizeof(e));
        _exit(0);
    }
    close(pfd[1]);
    int e = -1;
    ssize_t n = p > 0 ? read(pfd[0], &e, sizeof(e)) : -1;
    close(pfd[0]);
    int st = 0;
    if (p > 0)
        waitpid(p, &st, 0);
    char buf[32];
    if (n != (ssize_t)sizeof(e))
        printf("%s:%s\n", name,
               WIFSIGNALED(st) ? (WTERMSIG(st) == SIGSYS ? "SIGSYS" : "killed") : "probe-error");
    else if (e == 0)
        printf("%s:ok\n", name);
    else
        printf("%s:%s\n", name, errno_name(e, buf, sizeof(buf)));
}

/*
 * File descriptors beyond stdio the runtime let into the container. A leaked
 * directory fd of the host (CVE-2024-21626 in runc) is a way out of any
 * pivot_root; none should be there.
 */
static void
print_leaked_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    char list[256] = "";
    size_t len = 0;
    struct dirent *e;
    while (d && (e = readdir(d))) {
        int fd = atoi(e->d_name);
        if (e->d_name[0] == '.' || fd <= 2 || fd == dirfd(d))
            continue;
        char target[128] = "", link[64];
        snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
        ssize_t n = readlink(link, target, sizeof(target) - 1);
        target[n > 0 ? n : 0] = '\0';
        int w = snprintf(list + len, sizeof(list) - len, "%s%d=%s", len ? "," : "", fd, target);
        if (w > 0 && (size_t)w < sizeof(list) - len)
            len += (size_t)w;
    }
    if (d)
        closedir(d);
    printf("status:leaked_fds=%s\n", len ? list : "none");
}

static void
print_status(void)
{
    FILE *f = fopen("/proc/self/status", "re");
    char line[256];
    static const char *const fields[] = { "CapInh", "CapPrm",     "CapEff", "CapBnd",
                                          "CapAmb", "NoNewPrivs", "Seccomp" };
    while (f && fgets(line, sizeof(line), f)) {
        for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
            size_t l = strlen(fields[i]);
            if (strncmp(line, fields[i], l) == 0 && line[l] == ':') {
                char *v = line + l + 1;
                v += strspn(v, " \t");
                v[strcspn(v, "\n")] = '\0';
                printf("status:%s=%s\n", fields[i], v);
            }
        }
    }
    if (f)
        fclose(f);
    static const char *const maps[] = { "/proc/self/uid_map", "/proc/self/gid_map" };
    for (size_t i = 0; i < 2; i++) {
        f = fopen(maps[i], "re");
        unsigned long a, b, c;
        if (f && fscanf(f, "%lu %lu %lu", &a, &b, &c) == 3)
            printf("status:%s=%lu %lu %lu\n", i ? "gid_map" : "uid_map", a, b, c);
        if (f)
            fclose(f);
    }
    printf("status:uid=%u\n", (unsigned)getuid());
}

int
main(int argc, char **argv)
{
    bool all = argc < 2 || strcmp(argv[1], "all") == 0;
    if (all || strcmp(argv[1], "status") == 0)
        print_leaked_fds(); /* first, before stdio opens anything */
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (all || strcmp(argv[1], "status") == 0)
        print_status();
    for (size_t i = 0; i < sizeof(attempts) / sizeof(attempts[0]); i++) {
        bool want = all;
        for (int a = 1; !want && a < argc; a++)
            want = strcmp(argv[a], attempts[i].name) == 0;
        if (want)
            run_attempt(attempts[i].name, attempts[i].fn);
    }
    return 0;
}
