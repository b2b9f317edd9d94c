/* SPDX-License-Identifier: Apache-2.0 */
/*
 * rt_sandbox_harden's JSON rewrite (user namespace and mapping, forced
 * namespaces, no capabilities, no_new_privs, readonly root, seccomp, mounts,
 * Landlock lists; idempotent; non-sandbox configs untouched; refusals name
 * the field) and rt_sandbox_enter in a forked child.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#include "cleanup.h"
#include "security.h"
#include "test-security-util.h"

json_t *rt__sandbox_seccomp_profile(void);

/* Close to `runc spec` output, with the sandbox annotation. */
static const char base_config[] =
    "{\"ociVersion\":\"1.0.2\","
    "\"process\":{\"terminal\":false,\"user\":{\"uid\":0,\"gid\":0},\"args\":[\"sh\"],"
    " \"cwd\":\"/\",\"capabilities\":{\"bounding\":[\"CAP_KILL\",\"CAP_SYS_ADMIN\"],"
    " \"effective\":[\"CAP_KILL\"],\"permitted\":[\"CAP_KILL\"]},\"noNewPrivileges\":false},"
    "\"root\":{\"path\":\"rootfs\",\"readonly\":false},"
    "\"hostname\":\"box\","
    "\"mounts\":["
    " {\"destination\":\"/proc\",\"type\":\"proc\",\"source\":\"proc\"},"
    " {\"destination\":\"/dev\",\"type\":\"tmpfs\",\"source\":\"tmpfs\","
    "  \"options\":[\"nosuid\",\"strictatime\",\"mode=755\",\"size=65536k\"]},"
    " {\"destination\":\"/dev/pts\",\"type\":\"devpts\",\"source\":\"devpts\","
    "  \"options\":[\"nosuid\",\"noexec\",\"newinstance\",\"ptmxmode=0666\",\"mode=0620\"]},"
    " {\"destination\":\"/sys\",\"type\":\"sysfs\",\"source\":\"sysfs\","
    "  \"options\":[\"nosuid\",\"noexec\",\"nodev\"]},"
    " {\"destination\":\"/sys/fs/cgroup\",\"type\":\"cgroup\",\"source\":\"cgroup\","
    "  \"options\":[\"nosuid\",\"noexec\",\"nodev\",\"relatime\",\"ro\"]},"
    " {\"destination\":\"/tmp\",\"type\":\"tmpfs\",\"source\":\"tmpfs\"},"
    " {\"destination\":\"/etc/hosts\",\"type\":\"bind\",\"source\":\"/etc/hosts\","
    "  \"options\":[\"rbind\",\"ro\"]}],"
    "\"annotations\":{\"org.kumo.type\":\"sandbox\"},"
    "\"linux\":{\"namespaces\":[{\"type\":\"pid\"},{\"type\":\"network\"},{\"type\":\"mount\"}]}}";

static json_t *
hardened(const char *text)
{
    json_t *c = J(text);
    struct kerr err = KERR_INIT;
    int r = rt_sandbox_harden(c, &err);
    if (r < 0)
        fail_msg("harden: %s", err.msg);
    return c;
}

/* Follow a dotted path of object keys ("process.capabilities"). */
static json_t *
path(json_t *j, const char *dotted)
{
    const char *k = dotted;
    while (j && *k) {
        const char *dot = strchr(k, '.');
        size_t len = dot ? (size_t)(dot - k) : strlen(k);
        j = json_object_getn(j, k, len);
        k += len + (dot ? 1 : 0);
    }
    return j;
}

static bool
array_has(json_t *a, const char *s)
{
    size_t i;
    json_t *v;
    json_array_foreach (a, i, v) {
        if (json_is_string(v) && strcmp(json_string_value(v), s) == 0)
            return true;
    }
    return false;
}

static json_t *
ns_of(json_t *c, const char *type)
{
    size_t i;
    json_t *ns;
    json_array_foreach (path(c, "linux.namespaces"), i, ns) {
        if (strcmp(json_string_value(json_object_get(ns, "type")), type) == 0)
            return ns;
    }
    return NULL;
}

static void
test_rewrite(void **state)
{
    (void)state;
    json_t *c = hardened(base_config);
    struct kerr err = KERR_INIT;

    /* Namespaces: the spec's kept, the missing private ones added. */
    const char *types[] = { "user", "mount", "pid", "ipc", "uts", "cgroup", "network" };
    for (size_t i = 0; i < ARRAY_SIZE(types); i++)
        assert_non_null(ns_of(c, types[i]));
    assert_int_equal(json_array_size(path(c, "linux.namespaces")), 7);

    /* Container root → unprivileged host range. */
    const char *maps[] = { "linux.uidMappings", "linux.gidMappings" };
    for (size_t i = 0; i < 2; i++) {
        json_t *m = json_array_get(path(c, maps[i]), 0);
        assert_int_equal(json_integer_value(json_object_get(m, "containerID")), 0);
        assert_int_equal(json_integer_value(json_object_get(m, "hostID")), 100000);
        assert_int_equal(json_integer_value(json_object_get(m, "size")), 65536);
    }

    /* No capabilities at all, no_new_privs, readonly root. */
    const char *sets[] = { "bounding", "effective", "permitted", "inheritable", "ambient" };
    json_t *caps = path(c, "process.capabilities");
    for (size_t i = 0; i < ARRAY_SIZE(sets); i++) {
        json_t *s = json_object_get(caps, sets[i]);
        assert_true(json_is_array(s));
        assert_int_equal(json_array_size(s), 0);
    }
    assert_int_equal(rt_caps_validate(caps, &err), 0);
    assert_true(json_is_true(path(c, "process.noNewPrivileges")));
    assert_true(json_is_true(path(c, "root.readonly")));

    /* The kumo profile becomes linux.seccomp; nothing to stack. */
    json_t *prof = rt__sandbox_seccomp_profile();
    assert_true(json_equal(path(c, "linux.seccomp"), prof));
    json_decref(prof);
    assert_int_equal(rt_seccomp_validate(path(c, "linux.seccomp"), &err), 0);
    assert_null(json_object_get(path(c, "annotations"), RT_ANNOT_SANDBOX_SECCOMP));

    /* Mounts: cgroupfs gone, sysfs read-only (own netns, so still sysfs). */
    json_t *mounts = json_object_get(c, "mounts");
    assert_int_equal(json_array_size(mounts), 6);
    size_t i;
    json_t *m;
    json_array_foreach (mounts, i, m) {
        const char *t = json_string_value(json_object_get(m, "type"));
        assert_string_not_equal(t, "cgroup");
        if (strcmp(t, "sysfs") == 0)
            assert_true(array_has(json_object_get(m, "options"), "ro"));
    }
    assert_true(array_has(path(c, "linux.maskedPaths"), "/proc/kcore"));
    assert_true(array_has(path(c, "linux.readonlyPaths"), "/proc/sys"));

    /* Landlock: "/" read-only; writable = writable mounts + devices. */
    json_t *ann = json_object_get(path(c, "annotations"), RT_ANNOT_SANDBOX_LANDLOCK);
    assert_true(json_is_string(ann));
    json_t *ll = J(json_string_value(ann));
    assert_true(array_has(json_object_get(ll, "ro"), "/"));
    json_t *rw = json_object_get(ll, "rw");
    assert_true(array_has(rw, "/tmp"));
    assert_true(array_has(rw, "/dev"));
    assert_true(array_has(rw, "/dev/pts"));
    assert_true(array_has(rw, "/dev/null"));
    assert_false(array_has(rw, "/proc"));
    assert_false(array_has(rw, "/sys"));
    assert_false(array_has(rw, "/etc/hosts"));
    assert_false(array_has(rw, "/"));
    json_decref(ll);
    json_decref(c);
}

static void
test_idempotent(void **state)
{
    (void)state;
    json_t *once = hardened(base_config);
    json_t *twice = json_deep_copy(once);
    struct kerr err = KERR_INIT;
    assert_int_equal(rt_sandbox_harden(twice, &err), 0);
    assert_true(json_equal(once, twice));
    json_decref(once);
    json_decref(twice);
}

static void
test_not_sandbox_untouched(void **state)
{
    (void)state;
    const char *variants[] = {
        "{\"annotations\":{\"org.kumo.type\":\"process\"},\"process\":{}}",
        "{\"process\":{\"noNewPrivileges\":false}}",
        "{\"annotations\":{\"org.kumo.type\":\"SANDBOX\"}}",
    };
    for (size_t i = 0; i < ARRAY_SIZE(variants); i++) {
        json_t *c = J(variants[i]), *orig = json_deep_copy(c);
        struct kerr err = KERR_INIT;
        assert_false(rt_config_is_sandbox(c));
        assert_int_equal(rt_sandbox_harden(c, &err), 0);
        assert_true(json_equal(c, orig));
        json_decref(c);
        json_decref(orig);
    }
    json_t *c = J("{\"annotations\":{\"org.kumo.type\":\"sandbox\"}}");
    assert_true(rt_config_is_sandbox(c));
    json_decref(c);
}

static void
test_minimal_config(void **state)
{
    (void)state;
    json_t *c = hardened("{\"annotations\":{\"org.kumo.type\":\"sandbox\"}}");
    assert_non_null(ns_of(c, "user"));
    assert_true(json_is_true(path(c, "root.readonly")));
    assert_non_null(path(c, "linux.seccomp"));
    json_decref(c);
}

static void
test_own_seccomp_is_stacked(void **state)
{
    (void)state;
    json_t *c = J(base_config);
    json_t *own = J("{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":[{\"names\":[\"getppid\"],"
                    "\"action\":\"SCMP_ACT_ERRNO\",\"errnoRet\":42}]}");
    json_object_set(path(c, "linux"), "seccomp", own);
    struct kerr err = KERR_INIT;
    assert_int_equal(rt_sandbox_harden(c, &err), 0);
    assert_true(json_equal(path(c, "linux.seccomp"), own));
    json_t *s = json_object_get(path(c, "annotations"), RT_ANNOT_SANDBOX_SECCOMP);
    assert_true(json_is_string(s));
    json_t *prof = J(json_string_value(s)), *want = rt__sandbox_seccomp_profile();
    assert_true(json_equal(prof, want));
    /* Idempotent here as well. */
    json_t *again = json_deep_copy(c);
    assert_int_equal(rt_sandbox_harden(again, &err), 0);
    assert_true(json_equal(again, c));
    json_decref(again);
    json_decref(prof);
    json_decref(want);
    json_decref(own);
    json_decref(c);
}

static void
expect_refused(const char *text, const char *msg_part)
{
    json_t *c = J(text);
    struct kerr err = KERR_INIT;
    int r = rt_sandbox_harden(c, &err);
    if (r != -EINVAL || !strstr(err.msg, msg_part))
        fail_msg("for %s: got %d '%s', wanted '%s'", text, r, err.msg, msg_part);
    json_decref(c);
}

static void
test_refusals(void **state)
{
    (void)state;
    expect_refused("{\"annotations\":{\"org.kumo.type\":\"sandbox\"},\"linux\":{\"uidMappings\":"
                   "[{\"containerID\":0,\"hostID\":0,\"size\":65536}]}}",
                   "linux.uidMappings[0]: maps host id 0 into a sandbox");
    expect_refused("{\"annotations\":{\"org.kumo.type\":\"sandbox\"},\"linux\":{\"gidMappings\":"
                   "[{\"containerID\":0,\"hostID\":\"1\",\"size\":1}]}}",
                   "linux.gidMappings[0]: hostID and size must be integers");
    expect_refused("{\"annotations\":{\"org.kumo.type\":\"sandbox\","
                   "\"org.kumo.sandbox.idbase\":\"0\"}}",
                   "annotations.org.kumo.sandbox.idbase: must be a host id");
    expect_refused("{\"annotations\":{\"org.kumo.type\":\"sandbox\","
                   "\"org.kumo.sandbox.idbase\":\"4294967295\"}}",
                   "annotations.org.kumo.sandbox.idbase");
    expect_refused("{\"annotations\":{\"org.kumo.type\":\"sandbox\"},\"linux\":[]}",
                   "linux: must be an object");
    expect_refused("{\"annotations\":{\"org.kumo.type\":\"sandbox\"},\"mounts\":{}}",
                   "mounts: must be an array");
    expect_refused("{\"annotations\":{\"org.kumo.type\":\"sandbox\"},\"mounts\":[{"
                   "\"destination\":\"/d\",\"type\":\"bind\",\"source\":\"/tmp\","
                   "\"options\":[\"rbind\",\"ridmap\"]}]}",
                   "mounts[0]: idmapped mounts are not allowed in a sandbox");
    expect_refused("{\"annotations\":{\"org.kumo.type\":\"sandbox\"},\"mounts\":[{"
                   "\"destination\":\"/d\",\"type\":\"bind\",\"source\":\"/tmp\","
                   "\"uidMappings\":[{\"containerID\":0,\"hostID\":0,\"size\":1}]}]}",
                   "mounts[0]: idmapped mounts are not allowed in a sandbox");
}

static void
test_idbase_and_no_netns(void **state)
{
    (void)state;
    json_t *c =
        hardened("{\"annotations\":{\"org.kumo.type\":\"sandbox\","
                 "\"org.kumo.sandbox.idbase\":\"200000\","
                 "\"org.kumo.sandbox.landlock\":\"{\\\"ro\\\":[],\\\"rw\\\":[\\\"/\\\"]}\"},"
                 "\"mounts\":[{\"destination\":\"/sys\",\"type\":\"sysfs\","
                 "\"source\":\"sysfs\"}]}");
    json_t *m = json_array_get(path(c, "linux.uidMappings"), 0);
    assert_int_equal(json_integer_value(json_object_get(m, "hostID")), 200000);
    json_t *sys = json_array_get(json_object_get(c, "mounts"), 0);
    assert_string_equal(json_string_value(json_object_get(sys, "type")), "bind");
    assert_string_equal(json_string_value(json_object_get(sys, "source")), "/sys");
    assert_true(array_has(json_object_get(sys, "options"), "ro"));
    assert_null(ns_of(c, "network"));
    /* The bundle's own Landlock annotation is replaced, never trusted. */
    json_t *ann = json_object_get(path(c, "annotations"), RT_ANNOT_SANDBOX_LANDLOCK);
    json_t *ll = J(json_string_value(ann));
    assert_false(array_has(json_object_get(ll, "rw"), "/"));
    assert_true(array_has(json_object_get(ll, "ro"), "/"));
    json_decref(ll);
    json_decref(c);
}

static void
test_harden_exec_process(void **state)
{
    (void)state;
    json_t *c = hardened(base_config);
    json_t *p = J("{\"args\":[\"sh\"],\"cwd\":\"/\",\"noNewPrivileges\":false,"
                  "\"capabilities\":{\"bounding\":[\"CAP_SYS_ADMIN\"],"
                  "\"effective\":[\"CAP_SYS_ADMIN\"]}}");
    struct kerr err = KERR_INIT;
    assert_int_equal(rt_sandbox_harden_process(c, p, &err), 0);
    assert_true(json_is_true(json_object_get(p, "noNewPrivileges")));
    assert_true(json_equal(json_object_get(p, "capabilities"), path(c, "process.capabilities")));
    /* Not a sandbox: the process is left alone. */
    json_t *q = J("{\"noNewPrivileges\":false}"), *orig = json_deep_copy(q);
    json_t *pc = J("{\"annotations\":{\"org.kumo.type\":\"process\"}}");
    assert_int_equal(rt_sandbox_harden_process(pc, q, &err), 0);
    assert_true(json_equal(q, orig));
    json_t *bad = json_array();
    assert_int_equal(rt_sandbox_harden_process(c, bad, &err), -EINVAL);
    json_decref(bad);
    json_decref(pc);
    json_decref(orig);
    json_decref(q);
    json_decref(p);
    json_decref(c);
}

/* rt_sandbox_enter in a child, with a writable mount at a host path (no
 * pivot_root in a unit test) and a spec filter the kumo one is stacked on. */
struct enter_case {
    char base[64];
    char rw[96];
};

static int
child_enter(void *arg)
{
    struct enter_case *e = arg;
    char text[4096];
    snprintf(text, sizeof(text),
             "{\"annotations\":{\"org.kumo.type\":\"sandbox\"},"
             "\"mounts\":[{\"destination\":\"%s\",\"type\":\"tmpfs\",\"source\":\"tmpfs\"}],"
             "\"linux\":{\"seccomp\":{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":"
             "[{\"names\":[\"getppid\"],\"action\":\"SCMP_ACT_ERRNO\",\"errnoRet\":42}]}}}",
             e->rw);
    json_t *c = J(text);
    struct kerr err = KERR_INIT;
    if (rt_sandbox_harden(c, &err) < 0)
        return 10;
    if (rt_sandbox_enter(c, &err) < 0) {
        fprintf(stderr, "enter: %s\n", err.msg);
        return 11;
    }
    if (rt_seccomp_load(path(c, "linux.seccomp"), &err) < 0) {
        fprintf(stderr, "load: %s\n", err.msg);
        return 12;
    }
    json_decref(c);

    char p[160];
    snprintf(p, sizeof(p), "%s/ok", e->rw);
    int fd = open(p, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0)
        return 13;
    close(fd);
    snprintf(p, sizeof(p), "%s/no", e->base);
    fd = open(p, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    if (rt_landlock_abi() > 0 && (fd >= 0 || errno != EACCES))
        return 14;
    errno = 0;
    if (syscall(SYS_getppid) != -1 || errno != 42) /* the spec's filter */
        return 15;
    errno = 0;
    if (syscall(SYS_keyctl, 0, 0, 0, 0, 0) != -1 || errno != EPERM) /* the kumo filter */
        return 16;
    long v = 0;
    if (status_int("NoNewPrivs", &v) < 0 || v != 1)
        return 17;
    return 0;
}

static void
test_enter(void **state)
{
    (void)state;
    struct enter_case e;
    snprintf(e.base, sizeof(e.base), "/tmp/kumo-sb-XXXXXX");
    assert_non_null(mkdtemp(e.base));
    snprintf(e.rw, sizeof(e.rw), "%s/rw", e.base);
    assert_int_equal(mkdir(e.rw, 0755), 0);
    int st = in_child(child_enter, &e);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", e.base);
    assert_int_equal(system(cmd), 0);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
}

/* Without Landlock the sandbox still starts: the other layers hold. */
static int
child_enter_without_landlock(void *arg)
{
    (void)arg;
    json_t *fake =
        J("{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":[{\"names\":"
          "[\"landlock_create_ruleset\"],\"action\":\"SCMP_ACT_ERRNO\",\"errnoRet\":38}]}");
    struct kerr err = KERR_INIT;
    prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
    if (rt_seccomp_load(fake, &err) < 0)
        return 10;
    json_decref(fake);
    json_t *c = hardened("{\"annotations\":{\"org.kumo.type\":\"sandbox\"}}");
    int r = rt_sandbox_enter(c, &err);
    json_decref(c);
    if (r != 0 || err.code != 0)
        return 11;
    return 0;
}

static void
test_enter_without_landlock(void **state)
{
    (void)state;
    int st = in_child(child_enter_without_landlock, NULL);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
}

static int
child_enter_unhardened(void *arg)
{
    (void)arg;
    /* Any other type: nothing happens, no_new_privs stays off. */
    json_t *p = J("{\"annotations\":{\"org.kumo.type\":\"process\"}}");
    struct kerr err = KERR_INIT;
    int r = rt_sandbox_enter(p, &err);
    json_decref(p);
    long v = -1;
    if (r != 0 || status_int("NoNewPrivs", &v) < 0 || v != 0)
        return 10;
    /* A sandbox config that skipped rt_sandbox_harden fails closed. */
    json_t *c = J("{\"annotations\":{\"org.kumo.type\":\"sandbox\"}}");
    r = rt_sandbox_enter(c, &err);
    json_decref(c);
    if (r != -EINVAL || !strstr(err.msg, "org.kumo.sandbox.landlock: missing"))
        return 11;
    return 0;
}

static void
test_enter_requires_harden(void **state)
{
    (void)state;
    int st = in_child(child_enter_unhardened, NULL);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rewrite),
        cmocka_unit_test(test_idempotent),
        cmocka_unit_test(test_not_sandbox_untouched),
        cmocka_unit_test(test_minimal_config),
        cmocka_unit_test(test_own_seccomp_is_stacked),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_idbase_and_no_netns),
        cmocka_unit_test(test_harden_exec_process),
        cmocka_unit_test(test_enter),
        cmocka_unit_test(test_enter_without_landlock),
        cmocka_unit_test(test_enter_requires_harden),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
