/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of config.json parsing and validation: the default spec parses,
 * every kind of mistake is refused with a message naming the field, mount
 * options map to flags and data, ids are checked.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/mount.h>

#include <cmocka.h>

#include "internal.h"
#include "kerr.h"
#include "runtime.h"

static char *
default_text(void)
{
    json_t *j = rt_spec_default(false);
    assert_non_null(j);
    char *s = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    return s;
}

/* Apply a JSON merge patch-ish edit: set path (dot-separated object keys) to value. */
static char *
edited(const char *path, json_t *value)
{
    json_t *j = rt_spec_default(false);
    char buf[256];
    strncpy(buf, path, sizeof(buf) - 1);
    buf[sizeof(buf) - 1] = '\0';
    json_t *cur = j;
    char *save = NULL;
    char *tok = strtok_r(buf, ".", &save);
    for (;;) {
        char *next = strtok_r(NULL, ".", &save);
        if (!next) {
            json_object_set_new(cur, tok, value);
            break;
        }
        json_t *child = json_object_get(cur, tok);
        if (!child) {
            child = json_object();
            json_object_set_new(cur, tok, child);
        }
        cur = child;
        tok = next;
    }
    char *s = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    return s;
}

static void
expect_error(char *text, const char *needle)
{
    struct kerr err = KERR_INIT;
    int r = rt_spec_check(text, strlen(text), &err);
    if (r >= 0 || !strstr(err.msg, needle))
        fail_msg("expected error containing '%s', got %d '%s'", needle, r, err.msg);
    free(text);
}

static void
test_default_parses(void **state)
{
    (void)state;
    struct kerr err = KERR_INIT;
    char *s = default_text();
    assert_int_equal(rt_spec_check(s, strlen(s), &err), 0);
    free(s);
    json_t *rl = rt_spec_default(true);
    s = json_dumps(rl, 0);
    json_decref(rl);
    assert_int_equal(rt_spec_check(s, strlen(s), &err), 0);
    free(s);
}

static void
test_field_errors(void **state)
{
    (void)state;
    expect_error(edited("process.argz", json_array()), "process.argz: unknown field");
    expect_error(edited("process.args", json_string("sh")), "process.args: expected an array");
    expect_error(edited("process.args", json_array()), "process.args");
    expect_error(edited("root.readonly", json_string("yes")), "root.readonly: expected a boolean");
    expect_error(edited("root.path", json_string("")), "root.path");
    expect_error(edited("ociVersion", json_string("0.9")), "ociVersion");
    expect_error(edited("hostname", json_integer(3)), "hostname: expected a string");
    expect_error(edited("process.cwd", json_string("rel")), "process.cwd");
    expect_error(edited("process.env", json_pack("[s]", "NOEQUALS")), "process.env[0]");
    expect_error(edited("process.oomScoreAdj", json_integer(5000)), "process.oomScoreAdj");
    expect_error(edited("process.user.uid", json_integer(-1)), "process.user.uid");
    expect_error(edited("linux.namespaces", json_pack("[{s:s}]", "type", "bogus")),
                 "linux.namespaces[0].type: unknown namespace 'bogus'");
    expect_error(
        edited("linux.namespaces", json_pack("[{s:s},{s:s}]", "type", "pid", "type", "pid")),
        "listed twice");
    expect_error(
        edited("linux.namespaces", json_pack("[{s:s, s:s}]", "type", "net", "path", "/nope")),
        "linux.namespaces[0].type");
    expect_error(edited("linux.namespaces",
                        json_pack("[{s:s, s:s}]", "type", "network", "path", "/no/such/ns")),
                 "linux.namespaces[0].path");
    expect_error(edited("linux.namespaces", json_pack("[{s:s}]", "type", "user")),
                 "linux.uidMappings");
    expect_error(edited("linux.devices", json_pack("[{s:s, s:s}]", "path", "/dev/x", "type", "z")),
                 "linux.devices[0].type");
    expect_error(edited("linux.sysctl", json_pack("{s:i}", "net.x", 1)), "linux.sysctl.net.x");
    expect_error(edited("linux.rootfsPropagation", json_string("sideways")),
                 "linux.rootfsPropagation");
    expect_error(edited("linux.cgroupsPath", json_string("../escape")), "linux.cgroupsPath");
    expect_error(edited("linux.resources.memry", json_object()), "linux.resources.memry");
    expect_error(edited("mounts", json_pack("[{s:s}]", "destination", "rel")), "mounts[0]");
    expect_error(edited("mounts", json_pack("[{s:s, s:s}]", "destination", "/x", "type", "bind")),
                 "mounts[0].source");
    expect_error(edited("hooks.prestart", json_pack("[{s:s}]", "path", "rel")),
                 "hooks.prestart[0].path");
    expect_error(edited("hooks.sometimes", json_array()), "hooks.sometimes: unknown field");
    expect_error(edited("annotations", json_pack("{s:s}", "org.kumo.type", "vm")), "org.kumo.type");
    expect_error(edited("process.rlimits",
                        json_pack("[{s:s, s:i, s:i}]", "type", "RLIMIT_X", "soft", 1, "hard", 1)),
                 "process.rlimits[0].type");
    expect_error(edited("linux.timeOffsets", json_pack("{s:{s:i}}", "realtime", "secs", 1)),
                 "linux.timeOffsets.realtime: only monotonic and boottime");
    expect_error(edited("linux.timeOffsets", json_pack("{s:{s:i}}", "boottime", "nanosecs", -1)),
                 "linux.timeOffsets.boottime.nanosecs");
    expect_error(edited("process.apparmorProfile", json_string("docker-default")),
                 "process.apparmorProfile: not supported");
    expect_error(edited("mounts", json_pack("[{s:s, s:s, s:s, s:[{}]}]", "destination", "/x",
                                            "type", "tmpfs", "source", "t", "uidMappings")),
                 "mounts[0].uidMappings[0].size: missing");
    expect_error(edited("mounts", json_pack("[{s:s, s:s, s:s, s:[{s:i, s:i, s:i}]}]", "destination",
                                            "/x", "type", "bind", "source", "/t", "uidMappings",
                                            "containerID", 0, "hostID", 1000, "size", 1)),
                 "mounts[0].gidMappings: an idmapped mount needs both");
    expect_error(edited("mounts", json_pack("[{s:s, s:s, s:s, s:[s]}]", "destination", "/x", "type",
                                            "tmpfs", "source", "t", "options", "idmap")),
                 "mounts[0].options: idmapped mounts");
    expect_error(
        edited("mounts", json_pack("[{s:s, s:s, s:s, s:[s, s]}]", "destination", "/x", "type",
                                   "bind", "source", "/t", "options", "rbind", "ridmap")),
        "mounts[0].options: an idmapped mount of '/x' without uidMappings");
    expect_error(edited("process.scheduler", json_pack("{s:s}", "policy", "SCHED_FOO")),
                 "process.scheduler.policy: unknown policy 'SCHED_FOO'");
    expect_error(edited("process.scheduler", json_object()), "process.scheduler.policy: missing");
    expect_error(edited("process.scheduler", json_pack("{s:s}", "policy", "SCHED_ISO")),
                 "process.scheduler.policy: 'SCHED_ISO'");
    expect_error(
        edited("process.scheduler", json_pack("{s:s, s:i}", "policy", "SCHED_OTHER", "nice", 20)),
        "process.scheduler.nice: 20 out of range");
    expect_error(
        edited("process.scheduler", json_pack("{s:s, s:i}", "policy", "SCHED_FIFO", "nice", 3)),
        "process.scheduler.nice: only");
    expect_error(
        edited("process.scheduler", json_pack("{s:s, s:i}", "policy", "SCHED_IDLE", "nice", 3)),
        "process.scheduler.nice: only SCHED_OTHER and SCHED_BATCH take one");
    expect_error(edited("process.scheduler", json_pack("{s:s}", "policy", "SCHED_RR")),
                 "process.scheduler.priority: SCHED_RR needs a priority in [1, 99]");
    expect_error(edited("process.scheduler",
                        json_pack("{s:s, s:i}", "policy", "SCHED_FIFO", "priority", 100)),
                 "process.scheduler.priority: 100 out of range");
    expect_error(edited("process.scheduler",
                        json_pack("{s:s, s:i}", "policy", "SCHED_BATCH", "priority", 5)),
                 "process.scheduler.priority: must be 0 for SCHED_BATCH");
    expect_error(edited("process.scheduler", json_pack("{s:s, s:[s]}", "policy", "SCHED_OTHER",
                                                       "flags", "SCHED_FLAG_BOGUS")),
                 "process.scheduler.flags[0]: unknown flag 'SCHED_FLAG_BOGUS'");
    expect_error(edited("process.scheduler", json_pack("{s:s, s:[s]}", "policy", "SCHED_OTHER",
                                                       "flags", "SCHED_FLAG_UTIL_CLAMP_MIN")),
                 "process.scheduler.flags[0]: 'SCHED_FLAG_UTIL_CLAMP_MIN'");
    expect_error(edited("process.scheduler",
                        json_pack("{s:s, s:i}", "policy", "SCHED_OTHER", "runtime", 1000)),
                 "process.scheduler.runtime: only SCHED_DEADLINE");
    expect_error(edited("process.scheduler",
                        json_pack("{s:s, s:i, s:i, s:i}", "policy", "SCHED_DEADLINE", "runtime",
                                  2000000, "deadline", 1000000, "period", 1000000)),
                 "process.scheduler.deadline: 1000000 is less than runtime 2000000");
    expect_error(edited("process.scheduler",
                        json_pack("{s:s, s:i, s:i, s:i}", "policy", "SCHED_DEADLINE", "runtime",
                                  100000, "deadline", 1000000, "period", 500000)),
                 "process.scheduler.period: 500000 is less than deadline 1000000");
    expect_error(edited("process.scheduler",
                        json_pack("{s:s, s:i}", "policy", "SCHED_DEADLINE", "deadline", 1000000)),
                 "process.scheduler.runtime: SCHED_DEADLINE needs at least 1024 ns");
    expect_error(
        edited("process.scheduler", json_pack("{s:s, s:s}", "policy", "SCHED_OTHER", "polcy", "x")),
        "process.scheduler.polcy: unknown field");
    expect_error(edited("process.ioPriority",
                        json_pack("{s:s, s:i}", "class", "IOPRIO_CLASS_XX", "priority", 1)),
                 "process.ioPriority.class: unknown class 'IOPRIO_CLASS_XX'");
    expect_error(edited("process.ioPriority",
                        json_pack("{s:s, s:i}", "class", "IOPRIO_CLASS_BE", "priority", 8)),
                 "process.ioPriority.priority: 8 out of range [0, 7]");
    expect_error(edited("process.ioPriority", json_pack("{s:i}", "priority", 1)),
                 "process.ioPriority.class: missing");
    expect_error(edited("linux.personality", json_pack("{s:s}", "domain", "LINUX64")),
                 "linux.personality.domain: unknown domain 'LINUX64'");
    expect_error(edited("linux.personality",
                        json_pack("{s:s, s:[s]}", "domain", "LINUX", "flags", "ADDR_NO_RANDOMIZE")),
                 "linux.personality.flags[0]: unknown flag 'ADDR_NO_RANDOMIZE'");
    expect_error(edited("linux.personality", json_string("LINUX32")),
                 "linux.personality: expected an object");
    expect_error(edited("linux.intelRdt", json_pack("{s:s}", "closID", "x")),
                 "linux.intelRdt: not supported");
    expect_error(strdup("{\"ociVersion\": "), "line 1");
    expect_error(strdup("[]"), "expected a JSON object");
    expect_error(strdup("{\"a\":1,\"a\":2}"), "duplicate");
}

static void
test_mount_options(void **state)
{
    (void)state;
    struct rt_mount m = { 0 };
    struct kerr err = KERR_INIT;
    json_t *o = json_pack("[s, s, s, s, s, s, s]", "nosuid", "ro", "rbind", "rslave", "mode=755",
                          "size=1m", "defaults");
    assert_int_equal(spec__mount_options(o, "mounts[0]", &m, &err), 0);
    assert_true(m.bind);
    assert_true(m.flags & MS_NOSUID);
    assert_true(m.flags & MS_RDONLY);
    assert_true(m.flags & MS_REC);
    assert_int_equal(m.propagation, MS_SLAVE | MS_REC);
    assert_string_equal(m.data, "mode=755,size=1m");
    free(m.data);
    json_decref(o);

    memset(&m, 0, sizeof(m));
    o = json_pack("[s, s]", "ro", "rw");
    assert_int_equal(spec__mount_options(o, "mounts[1]", &m, &err), 0);
    assert_false(m.flags & MS_RDONLY);
    assert_true(m.clear_flags & MS_RDONLY);
    free(m.data);
    json_decref(o);

    /* Recursive attributes go to mount_setattr, not to the mount(2) flags. */
    memset(&m, 0, sizeof(m));
    o = json_pack("[s, s, s, s, s, s]", "rbind", "rro", "rnosuid", "rnoexec", "rdev", "rnoatime");
    assert_int_equal(spec__mount_options(o, "mounts[3]", &m, &err), 0);
    assert_false(m.flags & MS_RDONLY);
    assert_int_equal(m.rec_set, MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOEXEC |
                                    MOUNT_ATTR_NOATIME);
    assert_int_equal(m.rec_clear, MOUNT_ATTR_NODEV | MOUNT_ATTR__ATIME);
    assert_true(!m.data || !*m.data); /* nothing left for the filesystem */
    free(m.data);
    json_decref(o);

    memset(&m, 0, sizeof(m));
    o = json_pack("[s, s, s, s]", "rro", "rrw", "rnoatime", "rstrictatime");
    assert_int_equal(spec__mount_options(o, "mounts[4]", &m, &err), 0);
    assert_int_equal(m.rec_set, MOUNT_ATTR_STRICTATIME);
    assert_int_equal(m.rec_clear, MOUNT_ATTR_RDONLY | MOUNT_ATTR__ATIME);
    free(m.data);
    json_decref(o);

    memset(&m, 0, sizeof(m));
    o = json_pack("[s, s, s]", "bind", "ridmap", "nosymfollow");
    assert_int_equal(spec__mount_options(o, "mounts[5]", &m, &err), 0);
    assert_true(m.idmap && m.idmap_recursive);
    assert_true(m.flags & MS_NOSYMFOLLOW);
    free(m.data);
    json_decref(o);

    memset(&m, 0, sizeof(m));
    o = json_pack("[s, i]", "ro", 3);
    assert_true(spec__mount_options(o, "mounts[2]", &m, &err) < 0);
    assert_non_null(strstr(err.msg, "mounts[2].options[1]"));
    json_decref(o);
}

static void
test_ids(void **state)
{
    (void)state;
    struct kerr err = KERR_INIT;
    assert_int_equal(rt_id_validate("web-1_a.b+c", &err), 0);
    const char *bad[] = { "", ".", "..", "../x", "a/b", "a b", "x\n" };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        kerr_clear(&err);
        assert_true(rt_id_validate(bad[i], &err) < 0);
        assert_non_null(strstr(err.msg, "container id"));
    }
    char long_id[RT_ID_MAX + 2];
    memset(long_id, 'a', sizeof(long_id) - 1);
    long_id[sizeof(long_id) - 1] = '\0';
    kerr_clear(&err);
    assert_true(rt_id_validate(long_id, &err) < 0);
}

static void
test_parse_details(void **state)
{
    (void)state;
    struct rt_spec s;
    struct kerr err = KERR_INIT;
    json_t *j = rt_spec_default(true);
    json_object_set_new(j, "hostname", json_string("h"));
    json_object_set_new(json_object_get(j, "process"), "oomScoreAdj", json_integer(-17));
    assert_int_equal(spec__parse(j, "/b", &s, &err), 0);
    assert_string_equal(s.rootfs, "/b/rootfs");
    assert_true(s.readonly);
    assert_true(s.new_ns_flags & CLONE_NEWUSER);
    assert_true(s.new_ns_flags & CLONE_NEWPID);
    assert_int_equal(s.n_uid_maps, 1);
    assert_int_equal(s.uid_maps[0].size, 1);
    assert_true(s.process.has_oom_score_adj);
    assert_int_equal(s.process.oom_score_adj, -17);
    assert_int_equal(s.process.n_rlimits, 1);
    assert_int_equal(s.process.rlimits[0].resource, RLIMIT_NOFILE);
    assert_string_equal(s.process.args[0], "sh");
    assert_int_equal(s.n_mounts, 7);
    assert_int_equal(s.rootfs_propagation, MS_SLAVE | MS_REC);
    assert_int_equal(s.n_masked, 10);
    spec__free(&s);
    json_decref(j);
}

static void
test_process_attrs(void **state)
{
    (void)state;
    struct rt_spec s;
    struct kerr err = KERR_INIT;
    json_t *j = rt_spec_default(false);
    json_t *proc = json_object_get(j, "process");
    json_object_set_new(proc, "scheduler",
                        json_pack("{s:s, s:i, s:i, s:i, s:[s]}", "policy", "SCHED_DEADLINE",
                                  "runtime", 100000, "deadline", 1000000, "period", 2000000,
                                  "flags", "SCHED_FLAG_RESET_ON_FORK"));
    json_object_set_new(proc, "ioPriority",
                        json_pack("{s:s, s:i}", "class", "IOPRIO_CLASS_IDLE", "priority", 5));
    json_object_set_new(json_object_get(j, "linux"), "personality",
                        json_pack("{s:s, s:[]}", "domain", "LINUX32", "flags"));
    assert_int_equal(spec__parse(j, "/b", &s, &err), 0);
    assert_true(s.process.has_sched);
    assert_int_equal(s.process.sched.policy, SCHED_DEADLINE);
    assert_int_equal(s.process.sched.runtime_nsec, 100000);
    assert_int_equal(s.process.sched.deadline_nsec, 1000000);
    assert_int_equal(s.process.sched.period_nsec, 2000000);
    assert_int_equal(s.process.sched.flags, 0x01);
    assert_true(s.process.has_ioprio);
    assert_int_equal(s.process.ioprio, 3 << 13 | 5);
    assert_true(s.has_personality);
    assert_int_equal(s.personality, 0x0008);
    spec__free(&s);

    /* A SCHED_DEADLINE init cannot fork its startContainer hooks. */
    json_object_set_new(proc, "scheduler",
                        json_pack("{s:s, s:i, s:i}", "policy", "SCHED_DEADLINE", "runtime", 100000,
                                  "deadline", 1000000));
    json_object_set_new(j, "hooks",
                        json_pack("{s:[{s:s}]}", "startContainer", "path", "/bin/true"));
    kerr_clear(&err);
    assert_true(spec__parse(j, "/b", &s, &err) < 0);
    assert_non_null(strstr(err.msg, "startContainer"));
    json_object_del(j, "hooks");

    json_object_set_new(proc, "scheduler",
                        json_pack("{s:s, s:i}", "policy", "SCHED_BATCH", "nice", -5));
    json_object_del(proc, "ioPriority");
    json_object_del(json_object_get(j, "linux"), "personality");
    kerr_clear(&err);
    assert_int_equal(spec__parse(j, "/b", &s, &err), 0);
    assert_int_equal(s.process.sched.policy, SCHED_BATCH);
    assert_int_equal(s.process.sched.nice, -5);
    assert_false(s.process.has_ioprio);
    assert_false(s.has_personality);
    spec__free(&s);
    json_decref(j);
}

static void
test_features(void **state)
{
    (void)state;
    json_t *f = rt_features();
    assert_non_null(f);
    assert_int_equal(json_array_size(json_object_get(f, "hooks")), 6);
    assert_true(json_is_true(
        json_object_get(json_object_get(json_object_get(f, "linux"), "cgroup"), "v1")));
    json_t *idmap =
        json_object_get(json_object_get(json_object_get(f, "linux"), "mountExtensions"), "idmap");
    assert_true(json_is_true(json_object_get(idmap, "enabled")));
    /* Every advertised mount option is one the parser takes (as the only option). */
    size_t i;
    json_t *o;
    json_array_foreach (json_object_get(f, "mountOptions"), i, o) {
        struct rt_mount m = { 0 };
        struct kerr err = KERR_INIT;
        json_t *one = json_pack("[O]", o);
        assert_int_equal(spec__mount_options(one, "mounts[0]", &m, &err), 0);
        if (m.data && *m.data)
            fail_msg("option '%s' went to the filesystem data", json_string_value(o));
        free(m.data);
        json_decref(one);
    }
    json_decref(f);
}

static void
expect_cpus(const char *list, const int *cpus, size_t n)
{
    struct kerr err = KERR_INIT;
    cpu_set_t set;
    if (spec__parse_cpu_list(list, "x", &set, &err) < 0)
        fail_msg("'%s': %s", list, err.msg);
    if ((size_t)CPU_COUNT(&set) != n)
        fail_msg("'%s': %d CPUs, expected %zu", list, CPU_COUNT(&set), n);
    for (size_t i = 0; i < n; i++)
        if (!CPU_ISSET(cpus[i], &set))
            fail_msg("'%s': CPU %d missing", list, cpus[i]);
}

static void
test_cpu_list(void **state)
{
    (void)state;
    expect_cpus("0-3,7", (const int[]){ 0, 1, 2, 3, 7 }, 5);
    expect_cpus("5", (const int[]){ 5 }, 1);
    expect_cpus("2-2,0", (const int[]){ 0, 2 }, 2);
    expect_cpus("1023", (const int[]){ 1023 }, 1);
    expect_cpus("0-1\n", (const int[]){ 0, 1 }, 2);
    expect_cpus("", NULL, 0);

    static const char *const bad[] = {
        "3-1", "a",  "0,", ",0",    "0,,1", "-1",     "1-",
        "+1",  " 1", "1 ", "0-1-2", "1024", "0-1024", "99999999999999999999999"
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct kerr err = KERR_INIT;
        cpu_set_t set;
        char want[128];
        snprintf(want, sizeof(want), "process.execCPUAffinity.final: bad CPU list '%s'", bad[i]);
        if (spec__parse_cpu_list(bad[i], "process.execCPUAffinity.final", &set, &err) != -EINVAL)
            fail_msg("'%s' was accepted", bad[i]);
        if (strncmp(err.msg, want, strlen(want)) != 0)
            fail_msg("'%s': message '%s'", bad[i], err.msg);
    }

    /* In a config: the field is checked, named, and empty lists mean "not set". */
    expect_error(edited("process.execCPUAffinity", json_pack("{s:s}", "initial", "3-1")),
                 "process.execCPUAffinity.initial: bad CPU list '3-1'");
    expect_error(edited("process.execCPUAffinity", json_pack("{s:i}", "final", 1)),
                 "process.execCPUAffinity.final: expected a string");
    expect_error(edited("process.execCPUAffinity", json_pack("{s:s}", "later", "1")),
                 "process.execCPUAffinity.later: unknown field");
    expect_error(edited("process.execCPUAffinity", json_string("0")),
                 "process.execCPUAffinity: expected an object");
    json_t *cfg = rt_spec_default(false);
    json_object_set_new(json_object_get(cfg, "process"), "execCPUAffinity",
                        json_pack("{s:s, s:s}", "initial", "", "final", "0-1,3"));
    struct rt_process p;
    struct kerr err = KERR_INIT;
    assert_int_equal(spec__parse_process(json_object_get(cfg, "process"), &p, true, &err), 0);
    assert_false(p.has_cpu_initial);
    assert_true(p.has_cpu_final);
    assert_int_equal(CPU_COUNT(&p.cpu_final), 3);
    assert_true(CPU_ISSET(3, &p.cpu_final));
    spec__free_process(&p);
    json_decref(cfg);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_default_parses), cmocka_unit_test(test_field_errors),
        cmocka_unit_test(test_mount_options),  cmocka_unit_test(test_ids),
        cmocka_unit_test(test_parse_details),  cmocka_unit_test(test_process_attrs),
        cmocka_unit_test(test_features),       cmocka_unit_test(test_cpu_list),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
