/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The /proc reader on fixture files (tests/unit/k2i/fixtures/proc) and its
 * parsers on hand-written and real lines.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "procfs.h"

static int rootfd = -1;

static int
setup(void **state)
{
    rootfd = open(K2I_FIXTURES "/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    return rootfd < 0 ? -1 : 0;
}

static int
teardown(void **state)
{
    close(rootfd);
    return 0;
}

static void
test_parse_stat_basic(void **state)
{
    const char *line = "4242 (my (weird) proc) R 1 4242 4242 34819 -1 4194304 5000 0 3 0 1500 250 "
                       "0 0 20 5 2 0 100000 104857600 2560 18446744073709551615 1 1 0 0 0 0 0 0 "
                       "0 0 0 0 17 1 0 0 0 0 0\n";
    struct procfs_stat st;
    assert_int_equal(procfs_parse_stat(line, strlen(line), &st), 0);
    assert_int_equal(st.pid, 4242);
    assert_string_equal(st.comm, "my (weird) proc");
    assert_int_equal(st.state, 'R');
    assert_int_equal(st.ppid, 1);
    assert_int_equal(st.pgrp, 4242);
    assert_int_equal(st.sid, 4242);
    assert_int_equal(st.tty_nr, 34819);
    assert_int_equal(st.tpgid, -1);
    assert_int_equal(st.minflt, 5000);
    assert_int_equal(st.majflt, 3);
    assert_int_equal(st.utime, 1500);
    assert_int_equal(st.stime, 250);
    assert_int_equal(st.priority, 20);
    assert_int_equal(st.nice, 5);
    assert_int_equal(st.num_threads, 2);
    assert_int_equal(st.starttime, 100000);
    assert_int_equal(st.vsize, 104857600);
    assert_int_equal(st.rss, 2560);
    assert_int_equal(st.processor, 1);
}

static void
test_parse_stat_short_and_bad(void **state)
{
    struct procfs_stat st;
    /* Old kernels stop before processor: it defaults to -1. */
    const char *old = "7 (x) S 1 7 7 0 -1 0 0 0 0 0 1 2 0 0 20 0 1 0 9 100 3";
    assert_int_equal(procfs_parse_stat(old, strlen(old), &st), 0);
    assert_int_equal(st.processor, -1);
    assert_int_equal(st.rss, 3);
    const char *bad[] = {
        "",
        "abc",
        "7 x) S 1",
        "7 (x S 1 7 7",
        "7 (x) S 1 7 7 0 -1 0 0 0 0 0 1 2 0 0 20 0 1 0 9 100", /* no rss */
        "7 (x) S 1 7 7 0 -1 0 0 0 0 0 1 2 0 0 20 0 1 0 9x 100 3",
        "0 (x) S 1 7 7 0 -1 0 0 0 0 0 1 2 0 0 20 0 1 0 9 100 3",
        "7 (x) S 99999999999999999999999 7 7 0 -1 0 0 0 0 0 1 2 0 0 20 0 1 0 9 100 3",
        "7 (x) ! 1 7 7 0 -1 0 0 0 0 0 1 2 0 0 20 0 1 0 9 100 3",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(procfs_parse_stat(bad[i], strlen(bad[i]), &st), -EINVAL);
}

static void
test_parse_status(void **state)
{
    const char *s = "Name:\tbash\nState:\tS (sleeping)\nTgid:\t77\nPid:\t78\n"
                    "Uid:\t1000\t1001\t1002\t1003\nGid:\t10\t11\t12\t13\nFDSize:\t64\n";
    struct procfs_ids ids;
    assert_int_equal(procfs_parse_status_ids(s, strlen(s), &ids), 0);
    assert_int_equal(ids.tgid, 77);
    assert_int_equal(ids.uid[0], 1000);
    assert_int_equal(ids.uid[1], 1001);
    assert_int_equal(ids.uid[3], 1003);
    assert_int_equal(ids.gid[0], 10);
    assert_int_equal(ids.gid[2], 12);
    const char *no_gid = "Name:\tx\nUid:\t1\t1\t1\t1\n";
    assert_int_equal(procfs_parse_status_ids(no_gid, strlen(no_gid), &ids), -EINVAL);
    const char *short_uid = "Uid:\t1\t1\nGid:\t1\t1\t1\t1\n";
    assert_int_equal(procfs_parse_status_ids(short_uid, strlen(short_uid), &ids), -EINVAL);
    /* A label in the middle of another line is not a label. */
    const char *fake = "Name:\tUid:\t0\t0\t0\t0\nUid:\t5\t5\t5\t5\nGid:\t5\t5\t5\t5\n";
    assert_int_equal(procfs_parse_status_ids(fake, strlen(fake), &ids), 0);
    assert_int_equal(ids.uid[0], 5);
}

static void
test_container_id(void **state)
{
    char id[PROCFS_CONTAINER_ID_MAX + 1];
    const char *v1 = "12:pids:/kumo/web-1\n4:memory:/kumo/web-1/sub\n0::/kumo/web-1\n";
    assert_int_equal(procfs_container_id(v1, strlen(v1), id, sizeof(id)), 5);
    assert_string_equal(id, "web-1");
    const char *nested = "0::/system.slice/kumo/abc.def_9/leaf\n";
    assert_int_equal(procfs_container_id(nested, strlen(nested), id, sizeof(id)), 9);
    assert_string_equal(id, "abc.def_9");
    /* Every id kumo-runtime accepts: '+' too, up to a cgroup name's 255 bytes. */
    const char *plus = "0::/kumo/web+1\n";
    assert_int_equal(procfs_container_id(plus, strlen(plus), id, sizeof(id)), 5);
    assert_string_equal(id, "web+1");
    char longest[300], toolong[300];
    snprintf(longest, sizeof(longest), "0::/kumo/%0255d\n", 7);
    snprintf(toolong, sizeof(toolong), "0::/kumo/%0256d\n", 7);
    assert_int_equal(procfs_container_id(longest, strlen(longest), id, sizeof(id)), 255);
    assert_int_equal(procfs_container_id(toolong, strlen(toolong), id, sizeof(id)), 0);
    const char *none[] = {
        "0::/\n",        "0::/kumo\n",        "0::/kumo/\n",   "0::/notkumo/x\n",
        "0::/kumox/y\n", "0::/kumo/bad id\n", "0::/kumo/..\n", "garbage without colons /kumo/x\n",
    };
    for (size_t i = 0; i < sizeof(none) / sizeof(none[0]); i++)
        assert_int_equal(procfs_container_id(none[i], strlen(none[i]), id, sizeof(id)), 0);
}

static void
test_ns_link_and_tty(void **state)
{
    assert_int_equal(procfs_parse_ns_link("net:[4026531840]", 16), 4026531840ULL);
    assert_int_equal(procfs_parse_ns_link("net:[]", 6), 0);
    assert_int_equal(procfs_parse_ns_link("net:[12a]", 9), 0);
    assert_int_equal(procfs_parse_ns_link("garbage", 7), 0);
    char buf[32];
    assert_false(procfs_tty_name(0, buf, sizeof(buf)));
    assert_true(procfs_tty_name(34819, buf, sizeof(buf)));
    assert_string_equal(buf, "pts/3");
    assert_true(procfs_tty_name((4 << 8) | 1, buf, sizeof(buf)));
    assert_string_equal(buf, "tty1");
    assert_true(procfs_tty_name((4 << 8) | 65, buf, sizeof(buf)));
    assert_string_equal(buf, "ttyS1");
    assert_true(procfs_tty_name((5 << 8) | 1, buf, sizeof(buf)));
    assert_string_equal(buf, "console");
}

static void
test_read_fixture_process(void **state)
{
    struct procfs_reader *r = procfs_reader_new(rootfd);
    assert_non_null(r);
    struct proc_sample ps;
    unsigned all = PROCFS_NEED_STAT | PROCFS_NEED_STATUS | PROCFS_NEED_CMDLINE | PROCFS_NEED_CGROUP;
    assert_int_equal(procfs_read(r, 4242, 0, all, &ps), 0);
    assert_int_equal(ps.have, all);
    assert_string_equal(ps.stat.comm, "my (weird) proc");
    assert_int_equal(ps.ids.uid[1], 1001);
    assert_int_equal(ps.ids.gid[1], 101);
    /* "web-server\0--port\08080\0--name\0café \"quoted\"": 44 bytes. */
    assert_int_equal(ps.cmdline_len, 44);
    assert_memory_equal(ps.cmdline, "web-server\0--port\0", 18);
    char id[130];
    assert_int_equal(procfs_container_id(ps.cgroup, ps.cgroup_len, id, sizeof(id)), 5);

    /* A stat-only read leaves the other parts absent. */
    assert_int_equal(procfs_read(r, 4242, 0, PROCFS_NEED_STAT, &ps), 0);
    assert_int_equal(ps.have, PROCFS_NEED_STAT);
    assert_null(ps.cmdline);

    /* Threads. */
    assert_int_equal(procfs_read(r, 4242, 4243, PROCFS_NEED_STAT, &ps), 0);
    assert_string_equal(ps.stat.comm, "worker");
    assert_int_equal(ps.tid, 4243);

    /* Kernel thread: empty command line, kthread flag. */
    assert_int_equal(procfs_read(r, 2, 0, all, &ps), 0);
    assert_int_equal(ps.cmdline_len, 0);
    assert_true(ps.stat.flags & PROCFS_PF_KTHREAD);

    /* Absent and out-of-range pids. */
    assert_int_equal(procfs_read(r, 31337, 0, PROCFS_NEED_STAT, &ps), -ENOENT);
    assert_int_equal(procfs_read(r, 0, 0, PROCFS_NEED_STAT, &ps), -ENOENT);
    assert_int_equal(procfs_read(r, -1, 0, PROCFS_NEED_STAT, &ps), -ENOENT);
    assert_int_equal(procfs_read(r, PROCFS_PID_MAX + 1, 0, PROCFS_NEED_STAT, &ps), -ENOENT);
    procfs_reader_free(r);
}

static void
test_list(void **state)
{
    struct procfs_reader *r = procfs_reader_new(rootfd);
    int *ids = NULL;
    int n = procfs_list(r, 0, &ids);
    assert_int_equal(n, 4);
    assert_int_equal(ids[0], 1);
    assert_int_equal(ids[1], 2);
    assert_int_equal(ids[2], 777);
    assert_int_equal(ids[3], 4242);
    free(ids);
    n = procfs_list(r, 4242, &ids);
    assert_int_equal(n, 2);
    assert_int_equal(ids[0], 4242);
    assert_int_equal(ids[1], 4243);
    free(ids);
    assert_true(procfs_list(r, 31337, &ids) < 0);
    size_t len;
    const char *mi = procfs_read_misc(r, "meminfo", &len);
    assert_non_null(mi);
    assert_non_null(strstr(mi, "MemTotal:"));
    procfs_reader_free(r);
}

static void
test_read_real_self(void **state)
{
    /* The real /proc: our own process must parse, and the values agree. */
    int fd = open("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    assert_true(fd >= 0);
    struct procfs_reader *r = procfs_reader_new(fd);
    struct proc_sample ps;
    assert_int_equal(procfs_read(r, getpid(), 0,
                                 PROCFS_NEED_STAT | PROCFS_NEED_STATUS | PROCFS_NEED_CMDLINE, &ps),
                     0);
    assert_int_equal(ps.stat.pid, getpid());
    assert_int_equal(ps.stat.ppid, getppid());
    assert_int_equal(ps.ids.uid[0], getuid());
    assert_int_equal(ps.ids.tgid, getpid());
    assert_true(ps.cmdline_len > 0);
    int *ids = NULL;
    int n = procfs_list(r, 0, &ids);
    assert_true(n > 1);
    bool found = false;
    for (int i = 0; i < n; i++)
        found |= ids[i] == getpid();
    assert_true(found);
    free(ids);
    procfs_reader_free(r);
    close(fd);
}

static void
test_fdcache(void **state)
{
    struct procfs_fdcache *c = procfs_fdcache_new(2);
    assert_non_null(c);
    assert_null(procfs_fdcache_new(0));
    struct procfs_reader *r = procfs_reader_new(rootfd);
    struct proc_sample ps;
    unsigned need = PROCFS_NEED_STAT | PROCFS_NEED_STATUS | PROCFS_NEED_CMDLINE;

    assert_true(procfs_fdcache_acquire(c, true));
    /* Held: a second taker does not wait. */
    assert_false(procfs_fdcache_acquire(c, false));
    procfs_reader_set_cache(r, c);
    assert_int_equal(procfs_read(r, 4242, 0, need, &ps), 0);
    assert_int_equal(procfs_read(r, 777, 0, need, &ps), 0);
    /* Full: a third process is read without keeping its fds. */
    assert_int_equal(procfs_read(r, 1, 0, need, &ps), 0);
    assert_int_equal(procfs_fdcache_count(c), 2);
    /* Absent processes leave nothing behind. */
    assert_int_equal(procfs_read(r, 31337, 0, need, &ps), -ENOENT);
    procfs_reader_set_cache(r, NULL);
    procfs_fdcache_release(c, true);

    /* Kept fds give the same answers as fresh ones. */
    assert_true(procfs_fdcache_acquire(c, true));
    procfs_reader_set_cache(r, c);
    assert_int_equal(procfs_read(r, 4242, 0, need, &ps), 0);
    assert_string_equal(ps.stat.comm, "my (weird) proc");
    assert_int_equal(ps.ids.uid[1], 1001);
    assert_int_equal(ps.cmdline_len, 44);
    procfs_reader_set_cache(r, NULL);
    /* 777 was not read in this pass: the sweep closes its fds. */
    procfs_fdcache_release(c, true);
    assert_true(procfs_fdcache_acquire(c, true));
    assert_int_equal(procfs_fdcache_count(c), 1);
    procfs_fdcache_release(c, true);
    /* A pass that read nothing empties the cache. */
    assert_true(procfs_fdcache_acquire(c, true));
    assert_int_equal(procfs_fdcache_count(c), 0);
    procfs_fdcache_release(c, false);
    procfs_reader_free(r);
    procfs_fdcache_free(c);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_stat_basic),
        cmocka_unit_test(test_parse_stat_short_and_bad),
        cmocka_unit_test(test_parse_status),
        cmocka_unit_test(test_container_id),
        cmocka_unit_test(test_ns_link_and_tty),
        cmocka_unit_test(test_read_fixture_process),
        cmocka_unit_test(test_list),
        cmocka_unit_test(test_read_real_self),
        cmocka_unit_test(test_fdcache),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
