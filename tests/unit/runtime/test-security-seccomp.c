/* SPDX-License-Identifier: Apache-2.0 */
/*
 * linux.seccomp → filter: validation messages name the field, and a loaded
 * filter (in a forked child) really returns the configured errno, ORs
 * conditions on one argument, kills with KILL_PROCESS, and the sandbox
 * profile refuses what docs/sandbox.md says it refuses.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>

#include "security.h"
#include "test-security-util.h"

json_t *rt__sandbox_seccomp_profile(void);
bool rt__seccomp_cached(json_t *seccomp);

static void
expect_invalid(const char *text, const char *msg_part)
{
    json_t *j = J(text);
    struct kerr err = KERR_INIT;
    int r = rt_seccomp_validate(j, &err);
    if (r != -EINVAL || !strstr(err.msg, msg_part))
        fail_msg("for %s: got %d '%s', wanted '%s'", text, r, err.msg, msg_part);
    json_decref(j);
}

static void
test_validate_ok(void **state)
{
    (void)state;
    json_t *j = J("{\"defaultAction\":\"SCMP_ACT_ALLOW\","
                  "\"architectures\":[\"SCMP_ARCH_X86_64\",\"SCMP_ARCH_X86\",\"SCMP_ARCH_X32\"],"
                  "\"flags\":[\"SECCOMP_FILTER_FLAG_LOG\"],"
                  "\"syscalls\":[{\"names\":[\"getppid\",\"no_such_syscall_at_all\"],"
                  "\"action\":\"SCMP_ACT_ERRNO\",\"errnoRet\":42,"
                  "\"args\":[{\"index\":0,\"value\":1,\"valueTwo\":0,\"op\":\"SCMP_CMP_EQ\"}]}]}");
    struct kerr err = KERR_INIT;
    assert_int_equal(rt_seccomp_validate(j, &err), 0);
    assert_int_equal(rt_seccomp_validate(NULL, &err), 0);
    json_decref(j);
}

static void
test_validate_errors_name_field(void **state)
{
    (void)state;
    expect_invalid("[]", "linux.seccomp: must be an object");
    expect_invalid("{}", "linux.seccomp.defaultAction: missing");
    expect_invalid("{\"defaultAction\":\"SCMP_ACT_FOO\"}",
                   "linux.seccomp.defaultAction: unknown action 'SCMP_ACT_FOO'");
    expect_invalid("{\"defaultAction\":\"SCMP_ACT_NOTIFY\"}", "SCMP_ACT_NOTIFY is not supported");
    expect_invalid("{\"defaultAction\":\"SCMP_ACT_ERRNO\",\"defaultErrnoRet\":5000}",
                   "linux.seccomp.defaultErrnoRet: 5000 is not an errno");
    expect_invalid("{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"architectures\":[\"SCMP_ARCH_Z80\"]}",
                   "linux.seccomp.architectures[0]: unknown 'SCMP_ARCH_Z80'");
    expect_invalid("{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"flags\":[\"FLAG_X\"]}",
                   "linux.seccomp.flags[0]: unknown flag 'FLAG_X'");
    expect_invalid("{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":{}}",
                   "linux.seccomp.syscalls: must be an array");
    expect_invalid("{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":[{\"names\":[\"read\"],"
                   "\"action\":\"SCMP_ACT_KILL\"},{\"names\":[\"read\"],\"action\":\"DENY\"}]}",
                   "linux.seccomp.syscalls[1].action: unknown action 'DENY'");
    expect_invalid("{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":[{\"names\":[],"
                   "\"action\":\"SCMP_ACT_KILL\"}]}",
                   "linux.seccomp.syscalls[0].names: must not be empty");
    expect_invalid("{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":[{\"names\":[\"read\",3],"
                   "\"action\":\"SCMP_ACT_KILL\"}]}",
                   "linux.seccomp.syscalls[0].names[1]: must be a non-empty string");
    expect_invalid(
        "{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":[{\"names\":[\"read\"],"
        "\"action\":\"SCMP_ACT_KILL\",\"args\":[{\"index\":6,\"op\":\"SCMP_CMP_EQ\"}]}]}",
        "linux.seccomp.syscalls[0].args[0].index: 6 is not in 0..5");
    expect_invalid(
        "{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":[{\"names\":[\"read\"],"
        "\"action\":\"SCMP_ACT_KILL\",\"args\":[{\"index\":0,\"op\":\"SCMP_CMP_XX\"}]}]}",
        "linux.seccomp.syscalls[0].args[0].op: unknown operator 'SCMP_CMP_XX'");
    expect_invalid("{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":[{\"names\":[\"read\"],"
                   "\"action\":\"SCMP_ACT_KILL\",\"args\":[{\"index\":0,\"value\":\"1\","
                   "\"op\":\"SCMP_CMP_EQ\"}]}]}",
                   "linux.seccomp.syscalls[0].args[0].value: must be an integer");
    expect_invalid("{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":[{\"names\":[\"read\"],"
                   "\"action\":\"SCMP_ACT_KILL\",\"comment\":\"x\"}]}",
                   "linux.seccomp.syscalls[0].comment: unknown field");
    expect_invalid("{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"bogus\":1}",
                   "linux.seccomp.bogus: unknown field");
}

static int
child_errno_rule(void *arg)
{
    (void)arg;
    json_t *j = J("{\"defaultAction\":\"SCMP_ACT_ALLOW\","
                  "\"syscalls\":[{\"names\":[\"getppid\",\"not_a_syscall\"],"
                  "\"action\":\"SCMP_ACT_ERRNO\",\"errnoRet\":42},"
                  "{\"names\":[\"getpriority\"],\"action\":\"SCMP_ACT_ERRNO\",\"errnoRet\":13,"
                  "\"args\":[{\"index\":0,\"value\":1,\"op\":\"SCMP_CMP_EQ\"},"
                  "{\"index\":0,\"value\":2,\"op\":\"SCMP_CMP_EQ\"}]}]}");
    struct kerr err = KERR_INIT;
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
        return 10;
    if (rt_seccomp_load(j, &err) < 0) {
        fprintf(stderr, "load: %s\n", err.msg);
        return 11;
    }
    json_decref(j);
    errno = 0;
    if (syscall(SYS_getppid) != -1 || errno != 42)
        return 12;
    /* Same-index conditions are ORed: PRIO_PGRP and PRIO_USER refused,
     * PRIO_PROCESS (0) passes. */
    errno = 0;
    if (syscall(SYS_getpriority, PRIO_PGRP, 0) != -1 || errno != 13)
        return 13;
    errno = 0;
    if (syscall(SYS_getpriority, PRIO_USER, 0) != -1 || errno != 13)
        return 14;
    if (syscall(SYS_getpriority, PRIO_PROCESS, 0) < 0)
        return 15;
    long mode = -1;
    if (status_int("Seccomp", &mode) < 0 || mode != 2)
        return 16;
    return 0;
}

static void
test_load_errno_and_or_args(void **state)
{
    (void)state;
    int st = in_child(child_errno_rule, NULL);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
}

static int
child_kill_process(void *arg)
{
    (void)arg;
    json_t *j = J("{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":[{\"names\":[\"getppid\"],"
                  "\"action\":\"SCMP_ACT_KILL_PROCESS\"}]}");
    struct kerr err = KERR_INIT;
    prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
    if (rt_seccomp_load(j, &err) < 0)
        return 11;
    syscall(SYS_getppid);
    return 12;
}

/* The parent validates (and so compiles and caches); the child only loads. */
static int
child_cached(void *arg)
{
    json_t *j = arg;
    struct kerr err = KERR_INIT;
    if (!rt__seccomp_cached(j))
        return 10;
    prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
    if (rt_seccomp_load(j, &err) < 0) {
        fprintf(stderr, "load: %s\n", err.msg);
        return 11;
    }
    errno = 0;
    if (syscall(SYS_getppid) != -1 || errno != 42)
        return 12;
    errno = 0;
    if (syscall(SYS_getpriority, PRIO_PGRP, 0) != -1 || errno != 13)
        return 13;
    if (syscall(SYS_getpriority, PRIO_PROCESS, 0) < 0)
        return 14;
    long mode = -1;
    if (status_int("Seccomp", &mode) < 0 || mode != 2)
        return 15;
    return 0;
}

static void
test_load_cached(void **state)
{
    (void)state;
    json_t *j = J("{\"flags\":[\"SECCOMP_FILTER_FLAG_TSYNC\",\"SECCOMP_FILTER_FLAG_LOG\"],"
                  "\"defaultAction\":\"SCMP_ACT_ALLOW\","
                  "\"syscalls\":[{\"names\":[\"getppid\"],\"action\":\"SCMP_ACT_ERRNO\","
                  "\"errnoRet\":42},{\"names\":[\"getpriority\"],\"action\":\"SCMP_ACT_ERRNO\","
                  "\"errnoRet\":13,\"args\":[{\"index\":0,\"value\":1,\"op\":\"SCMP_CMP_EQ\"}]}]}");
    struct kerr err = KERR_INIT;
    assert_false(rt__seccomp_cached(j));
    assert_int_equal(rt_seccomp_validate(j, &err), 0);
    assert_true(rt__seccomp_cached(j));
    /* Key order does not matter: the key is canonical JSON. */
    json_t *same = json_deep_copy(j);
    json_object_del(same, "flags");
    json_object_set_new(same, "flags",
                        json_pack("[s,s]", "SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_LOG"));
    assert_true(rt__seccomp_cached(same));
    json_decref(same);
    int st = in_child(child_cached, j);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
    json_decref(j);
}

static void
test_load_kill_process(void **state)
{
    (void)state;
    int st = in_child(child_kill_process, NULL);
    assert_true(WIFSIGNALED(st));
    assert_int_equal(WTERMSIG(st), SIGSYS);
}

static void
test_load_invalid_reports_field(void **state)
{
    (void)state;
    json_t *j = J("{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":[{\"names\":[\"read\"],"
                  "\"action\":\"SCMP_ACT_ERRNO\",\"errnoRet\":-1}]}");
    struct kerr err = KERR_INIT;
    assert_int_equal(rt_seccomp_load(j, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "linux.seccomp.syscalls[0].errnoRet"));
    json_decref(j);
}

/* Without no_new_privs and without CAP_SYS_ADMIN the kernel refuses the
 * filter; the message must say what to do about it. */
static int
child_needs_nnp(void *arg)
{
    (void)arg;
    struct kerr err = KERR_INIT;
    if (rt_caps_apply(NULL, &err) < 0) /* drop every capability */
        return 10;
    json_t *j = J("{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":[{\"names\":[\"getppid\"],"
                  "\"action\":\"SCMP_ACT_ERRNO\"}]}");
    int r = rt_seccomp_load(j, &err);
    json_decref(j);
    if (r != -EACCES)
        return 11;
    if (!strstr(err.msg, "needs noNewPrivileges or CAP_SYS_ADMIN"))
        return 12;
    return 0;
}

static void
test_load_needs_nnp_or_cap(void **state)
{
    (void)state;
    if (geteuid() != 0)
        skip();
    int st = in_child(child_needs_nnp, NULL);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
}

static void
test_sandbox_profile_lists_disjoint(void **state)
{
    (void)state;
    json_t *prof = rt__sandbox_seccomp_profile();
    assert_non_null(prof);
    struct kerr err = KERR_INIT;
    assert_int_equal(rt_seccomp_validate(prof, &err), 0);
    json_t *scs = json_object_get(prof, "syscalls");
    json_t *allow = json_object_get(json_array_get(scs, 0), "names");
    json_t *deny = json_object_get(json_array_get(scs, 1), "names");
    assert_true(json_array_size(allow) > 200);
    for (size_t i = 0; i < json_array_size(allow); i++) {
        const char *a = json_string_value(json_array_get(allow, i));
        for (size_t k = 0; k < json_array_size(deny); k++)
            if (strcmp(a, json_string_value(json_array_get(deny, k))) == 0)
                fail_msg("'%s' both allowed and denied", a);
    }
    json_decref(prof);
}

static int
child_sandbox_profile(void *arg)
{
    (void)arg;
    json_t *prof = rt__sandbox_seccomp_profile();
    struct kerr err = KERR_INIT;
    prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
    if (rt_seccomp_load(prof, &err) < 0) {
        fprintf(stderr, "load: %s\n", err.msg);
        return 10;
    }
    json_decref(prof);
    errno = 0;
    if (syscall(SYS_keyctl, 0, 0, 0, 0, 0) != -1 || errno != EPERM)
        return 11;
    errno = 0;
    if (unshare(CLONE_NEWUSER) != -1 || errno != EPERM)
        return 12;
    if (unshare(CLONE_FILES) < 0)
        return 13;
    errno = 0;
    if (syscall(SYS_clone3, NULL, 0) != -1 || errno != ENOSYS)
        return 14;
    errno = 0;
    if (socket(40 /* AF_VSOCK */, SOCK_STREAM, 0) != -1 || errno != EPERM)
        return 15;
    /* Upper bits the kernel truncates must not slip past the filter. */
    errno = 0;
    if (syscall(SYS_socket, 40UL | (1UL << 32), SOCK_STREAM, 0) != -1 || errno != EPERM)
        return 16;
    int s = socket(AF_UNIX, SOCK_STREAM, 0);
    if (s < 0)
        return 17;
    close(s);
    char c = 'x';
    errno = 0;
    if (ioctl(0, TIOCSTI, &c) != -1 || errno != EPERM)
        return 18;
    errno = 0;
    if (syscall(SYS_ptrace, 0 /* PTRACE_TRACEME */, 0, 0, 0) != -1 || errno != EPERM)
        return 19;
    errno = 0;
    if (syscall(SYS_bpf, 0, NULL, 0) != -1 || errno != EPERM)
        return 20;
    errno = 0;
    if (syscall(SYS_mount, "none", "/mnt", "tmpfs", 0, NULL) != -1 || errno != EPERM)
        return 21;
    errno = 0;
    if (syscall(SYS_personality, 0x0400000 /* READ_IMPLIES_EXEC */) != -1)
        return 22;
    pid_t pid = fork();
    if (pid < 0)
        return 23;
    if (pid == 0)
        _exit(7);
    int st;
    if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 7)
        return 24;
    int fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
    if (fd < 0 || write(fd, "x", 1) != 1)
        return 25;
    close(fd);
    return 0;
}

static void
test_sandbox_profile_refuses(void **state)
{
    (void)state;
    int st = in_child(child_sandbox_profile, NULL);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
}

#if defined(__x86_64__)
/* x32 syscall numbers (bit 30 set) are another ABI: the native-only sandbox
 * filter must kill, not run them. */
static int
child_x32(void *arg)
{
    (void)arg;
    json_t *prof = rt__sandbox_seccomp_profile();
    struct kerr err = KERR_INIT;
    prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
    if (rt_seccomp_load(prof, &err) < 0)
        return 10;
    json_decref(prof);
    syscall(0x40000000 | SYS_getpid);
    return 11;
}

static void
test_sandbox_profile_kills_x32(void **state)
{
    (void)state;
    int st = in_child(child_x32, NULL);
    assert_true(WIFSIGNALED(st));
    assert_int_equal(WTERMSIG(st), SIGSYS);
}
#endif

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_validate_ok),
        cmocka_unit_test(test_validate_errors_name_field),
        cmocka_unit_test(test_load_errno_and_or_args),
        cmocka_unit_test(test_load_cached),
        cmocka_unit_test(test_load_kill_process),
        cmocka_unit_test(test_load_invalid_reports_field),
        cmocka_unit_test(test_load_needs_nnp_or_cap),
        cmocka_unit_test(test_sandbox_profile_lists_disjoint),
        cmocka_unit_test(test_sandbox_profile_refuses),
#if defined(__x86_64__)
        cmocka_unit_test(test_sandbox_profile_kills_x32),
#endif
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
