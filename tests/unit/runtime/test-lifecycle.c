/* SPDX-License-Identifier: Apache-2.0 */
/*
 * In-process lifecycle of the container library as kumod uses it: create,
 * start through the handle, wait, exec, delete; failed creates leave no fd,
 * state dir or cgroup behind. Needs root and busybox-static: exits 77 (skip)
 * otherwise.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "kerr.h"
#include "runtime.h"

static char tmpdir[] = "/tmp/kumo-rt-unit-XXXXXX";
static char root[64], bundle[64];

static int
count_fds(void)
{
    int n = 0;
    DIR *d = opendir("/proc/self/fd");
    while (d && readdir(d))
        n++;
    if (d)
        closedir(d);
    return n;
}

static void
write_config(const char *const *args, bool net)
{
    char path[512];
    json_t *j = rt_spec_default(false);
    json_t *a = json_array();
    for (size_t i = 0; args[i]; i++)
        json_array_append_new(a, json_string(args[i]));
    json_object_set_new(json_object_get(j, "process"), "args", a);
    json_object_set_new(json_object_get(j, "root"), "readonly", json_false());
    if (!net) {
        json_t *ns = json_object_get(json_object_get(j, "linux"), "namespaces");
        json_array_remove(ns, 1); /* "network" */
    }
    snprintf(path, sizeof(path), "%s/config.json", bundle);
    assert_int_equal(json_dump_file(j, path, 0), 0);
    json_decref(j);
}

static int
setup(void **state)
{
    (void)state;
    char cmd[2048];
    if (geteuid() != 0 || access("/bin/busybox", X_OK) != 0)
        return -1;
    if (!mkdtemp(tmpdir))
        return -1;
    snprintf(root, sizeof(root), "%s/root", tmpdir);
    snprintf(bundle, sizeof(bundle), "%s/bundle", tmpdir);
    snprintf(cmd, sizeof(cmd),
             "mkdir -p %s/rootfs/bin %s/rootfs/proc %s/rootfs/dev %s/rootfs/sys %s/rootfs/tmp && "
             "cp /bin/busybox %s/rootfs/bin/busybox && ln -s busybox %s/rootfs/bin/sh",
             bundle, bundle, bundle, bundle, bundle, bundle, bundle);
    return system(cmd) == 0 ? 0 : -1;
}

static int
teardown(void **state)
{
    (void)state;
    char cmd[512], **ids = NULL;
    size_t n = 0;
    /* A failed test may leave containers running: remove them with their cgroups. */
    if (rt_list(root, &ids, &n, NULL) == 0) {
        for (size_t i = 0; i < n; i++) {
            struct rt_container *c = NULL;
            if (rt_container_open(root, ids[i], &c, NULL) == 0)
                rt_container_delete(c, true, NULL);
            rt_container_free(c);
            free(ids[i]);
        }
        free(ids);
    }
    snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

static void
test_create_start_wait_delete(void **state)
{
    (void)state;
    static const char *const args[] = { "/bin/busybox", "sh", "-c", "exit 5", NULL };
    struct kerr err = KERR_INIT;
    struct rt_container *c = NULL;
    enum rt_status st;
    pid_t pid;
    int code = -1;
    write_config(args, false);
    int fds = count_fds();
    if (rt_container_create(root, "unit1", bundle, NULL, &c, &err) < 0)
        fail_msg("create: %s", err.msg);
    rt_container_status(c, &st, &pid);
    assert_int_equal(st, RT_STATUS_CREATED);
    assert_true(pid > 0);
    assert_int_equal(rt_container_start(c, &err), 0);
    assert_int_equal(rt_container_wait(c, &code, &err), 0);
    assert_int_equal(code, 5);
    rt_container_status(c, &st, &pid);
    assert_int_equal(st, RT_STATUS_STOPPED);
    assert_int_equal(rt_container_delete(c, false, &err), 0);
    rt_container_free(c);
    assert_int_equal(count_fds(), fds);
    assert_int_equal(access("/sys/fs/cgroup/pids/kumo/unit1", F_OK), -1);
}

/*
 * start_now inits are spawned sharing our memory until they exec (vfork
 * style): afterwards the caller must find its own state intact: still
 * dumpable, same signal mask, no extra fd, and the init's exit status.
 * Repeated so that anything the init allocates in our heap and does not
 * free shows up as a leak under ASan.
 */
static void
test_start_now_leaves_caller_intact(void **state)
{
    (void)state;
    static const char *const args[] = { "/bin/busybox", "sh", "-c", "exit 7", NULL };
    struct rt_create_opts o = { .start_now = true };
    sigset_t before, after;
    write_config(args, false);
    sigemptyset(&before);
    sigaddset(&before, SIGUSR2);
    sigprocmask(SIG_BLOCK, &before, NULL);
    sigprocmask(SIG_BLOCK, NULL, &before);
    int fds = count_fds();
    for (int i = 0; i < 20; i++) {
        struct kerr err = KERR_INIT;
        struct rt_container *c = NULL;
        char id[32];
        int code = -1;
        snprintf(id, sizeof(id), "unitnow%d", i);
        if (rt_container_create(root, id, bundle, &o, &c, &err) < 0)
            fail_msg("create: %s", err.msg);
        assert_int_equal(prctl(PR_GET_DUMPABLE, 0, 0, 0, 0), 1);
        sigprocmask(SIG_BLOCK, NULL, &after);
        assert_int_equal(sigismember(&after, SIGUSR2), 1);
        assert_int_equal(sigismember(&after, SIGTERM), sigismember(&before, SIGTERM));
        assert_int_equal(rt_container_start(c, &err), 0);
        assert_int_equal(rt_container_wait(c, &code, &err), 0);
        assert_int_equal(code, 7);
        assert_int_equal(rt_container_delete(c, false, &err), 0);
        rt_container_free(c);
    }
    assert_int_equal(count_fds(), fds);
    sigprocmask(SIG_UNBLOCK, &before, NULL);
}

static void
test_exec_and_force_delete(void **state)
{
    (void)state;
    static const char *const args[] = { "/bin/busybox", "sleep", "60", NULL };
    struct kerr err = KERR_INIT;
    struct rt_container *c = NULL;
    write_config(args, false);
    if (rt_container_create(root, "unit2", bundle, NULL, &c, &err) < 0)
        fail_msg("create: %s", err.msg);
    assert_int_equal(rt_container_start(c, &err), 0);
    json_t *proc = json_pack("{s:[s, s, s, s], s:s}", "args", "/bin/busybox", "sh", "-c",
                             "test $$ -gt 1 && exit 9", "cwd", "/");
    int code = -1;
    if (rt_container_exec(c, proc, NULL, NULL, &code, &err) < 0)
        fail_msg("exec: %s", err.msg);
    assert_int_equal(code, 9);
    json_decref(proc);
    assert_true(rt_container_delete(c, false, &err) < 0);
    assert_non_null(strstr(err.msg, "not stopped"));
    kerr_clear(&err);
    assert_int_equal(rt_container_delete(c, true, &err), 0);
    rt_container_free(c);
}

static void
test_failed_creates_leave_nothing(void **state)
{
    (void)state;
    static const char *const args[] = { "/no/such/program", NULL };
    char dir[512];
    write_config(args, false);
    int fds = count_fds();
    for (int i = 0; i < 100; i++) {
        struct kerr err = KERR_INIT;
        struct rt_container *c = NULL;
        assert_true(rt_container_create(root, "unit3", bundle, NULL, &c, &err) < 0);
        assert_null(c);
        assert_non_null(strstr(err.msg, "/no/such/program"));
        kerr_clear(&err);
        assert_true(rt_container_create(root, "../bad", bundle, NULL, &c, &err) < 0);
    }
    assert_int_equal(count_fds(), fds);
    snprintf(dir, sizeof(dir), "%s/unit3", root);
    assert_int_equal(access(dir, F_OK), -1);
    assert_int_equal(access("/sys/fs/cgroup/pids/kumo/unit3", F_OK), -1);
}

static void
test_library_start_is_fast(void **state)
{
    (void)state;
    static const char *const args[] = { "/bin/busybox", "true", NULL };
    struct kerr err = KERR_INIT;
    enum { N = 10 };
    struct rt_container *c[N];
    uint64_t worst = 0, total = 0;
    write_config(args, false);
    for (int i = 0; i < N; i++) {
        char id[32];
        snprintf(id, sizeof(id), "fast%d", i);
        if (rt_container_create(root, id, bundle, NULL, &c[i], &err) < 0)
            fail_msg("create: %s", err.msg);
    }
    for (int i = 0; i < N; i++) {
        struct timespec a, b;
        clock_gettime(CLOCK_MONOTONIC, &a);
        assert_int_equal(rt_container_start(c[i], &err), 0);
        clock_gettime(CLOCK_MONOTONIC, &b);
        uint64_t us =
            (uint64_t)(b.tv_sec - a.tv_sec) * 1000000u + (uint64_t)(b.tv_nsec - a.tv_nsec) / 1000u;
        total += us;
        worst = us > worst ? us : worst;
    }
    for (int i = 0; i < N; i++) {
        int code;
        assert_int_equal(rt_container_wait(c[i], &code, &err), 0);
        assert_int_equal(code, 0);
        assert_int_equal(rt_container_delete(c[i], false, &err), 0);
        rt_container_free(c[i]);
    }
    print_message("library start: mean %llu us, worst %llu us\n", (unsigned long long)(total / N),
                  (unsigned long long)worst);
    /* The benchmark holds the < 1 ms target; here only catch gross regressions. */
    assert_true(total / N < 20000);
}

int
main(void)
{
    if (geteuid() != 0 || access("/bin/busybox", X_OK) != 0) {
        fprintf(stderr, "skip: needs root and /bin/busybox\n");
        return 77;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_create_start_wait_delete),
        cmocka_unit_test(test_start_now_leaves_caller_intact),
        cmocka_unit_test(test_exec_and_force_delete),
        cmocka_unit_test(test_failed_creates_leave_nothing),
        cmocka_unit_test(test_library_start_is_fast),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
