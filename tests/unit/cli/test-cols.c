/* SPDX-License-Identifier: Apache-2.0 */
/* Column and sort-key specs, cell formatting, signal names. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "cols.h"
#include "hosts.h"
#include "kerr.h"
#include "signals.h"

static void
test_parse_columns(void **state)
{
    (void)state;
    struct col cols[COLS_MAX];
    size_t n = 0;
    struct kerr err = KERR_INIT;

    assert_int_equal(cols_parse("pid,user,%cpu,mem rss,comm,args", cols, &n, &err), 0);
    assert_int_equal(n, 7);
    assert_int_equal(cols[0].def->id, COL_PID);
    assert_int_equal(cols[1].def->id, COL_USER);
    assert_int_equal(cols[2].def->id, COL_PCPU);
    assert_int_equal(cols[3].def->id, COL_PMEM);
    assert_int_equal(cols[4].def->id, COL_RSS);
    assert_int_equal(cols[5].def->id, COL_COMM);
    assert_int_equal(cols[6].def->id, COL_ARGS);
    assert_string_equal(cols[6].header, "COMMAND");

    /* ps names and aliases, case-insensitive, and renamed headers. */
    n = 0;
    assert_int_equal(cols_parse("PPID,pgid,sid,tty,stat,uid,nlwp,time,start,pcpu,pmem,vsz,ni,"
                                "pri,psr,lwp,cmd=CMD,etime,time+,rcpu,host",
                                cols, &n, &err),
                     0);
    assert_int_equal(n, 21);
    assert_int_equal(cols[0].def->id, COL_PPID);
    assert_int_equal(cols[15].def->id, COL_TID);
    assert_int_equal(cols[16].def->id, COL_ARGS);
    assert_string_equal(cols[16].header, "CMD");
    assert_int_equal(cols[20].def->id, COL_HOST);

    n = 0;
    assert_int_equal(cols_parse("pid,bogus", cols, &n, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "'bogus'"));

    /* The column count is capped. */
    n = 0;
    kerr_clear(&err);
    char many[COLS_MAX * 5 + 8] = "";
    for (int i = 0; i <= COLS_MAX; i++)
        strcat(many, "pid,");
    assert_int_equal(cols_parse(many, cols, &n, &err), -E2BIG);
}

static void
test_parse_sort(void **state)
{
    (void)state;
    struct sortkey keys[COLS_MAX];
    size_t n = 0;
    struct kerr err = KERR_INIT;

    assert_int_equal(cols_parse_sort("-cpu,+pid,rss", keys, &n, &err), 0);
    assert_int_equal(n, 3);
    assert_int_equal(keys[0].def->id, COL_PCPU);
    assert_true(keys[0].desc);
    assert_int_equal(keys[1].def->id, COL_PID);
    assert_false(keys[1].desc);
    assert_int_equal(keys[2].def->id, COL_RSS);
    assert_false(keys[2].desc);
    assert_int_equal(cols_parse_sort("-", keys, &n, &err), -EINVAL);
    kerr_clear(&err);
    assert_int_equal(cols_parse_sort("-nope", keys, &n, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "nope"));
}

static json_t *
load(const char *text)
{
    json_error_t jerr;
    json_t *o = json_loads(text, 0, &jerr);
    if (!o)
        fail_msg("bad fixture: %s", jerr.text);
    return o;
}

static void
cell(const char *colname, const struct proc_row *row, time_t now, const char *want)
{
    char buf[256];
    cols_format(cols_find(colname), row, now, buf, sizeof(buf));
    if (strcmp(buf, want) != 0)
        fail_msg("column %s: got '%s', want '%s'", colname, buf, want);
}

static void
test_format(void **state)
{
    (void)state;
    struct host h = { (char *)"n1:8000", (char *)"http://n1:8000" };
    time_t now = 1764169200; /* 2025-11-26T15:00:00Z */
    json_t *o = load("{\"pid\":42,\"ppid\":1,\"pgrp\":42,\"sid\":7,\"tty\":\"pts/1\","
                     "\"state\":\"S\",\"user\":\"alice\",\"uid\":1000,\"comm\":\"sleep\","
                     "\"cmdline\":[\"sleep\",\"1000\"],\"threads\":3,\"utime\":3700.5,"
                     "\"stime\":100,\"start_time\":1764169140,\"cpu\":12.345,"
                     "\"cpu_recent\":0.04,\"mem\":1.5,\"rss\":1024,\"vsz\":2048,\"nice\":-5,"
                     "\"priority\":15,\"processor\":1}");
    struct proc_row row = { &h, 0, o };

    cell("host", &row, now, "n1:8000");
    cell("pid", &row, now, "42");
    cell("lwp", &row, now, "42"); /* processes have no tid: LWP = PID as in ps -L */
    cell("tty", &row, now, "pts/1");
    cell("stat", &row, now, "S");
    cell("user", &row, now, "alice");
    cell("args", &row, now, "sleep 1000");
    cell("comm", &row, now, "sleep");
    cell("nlwp", &row, now, "3");
    cell("time", &row, now, "01:03:20");
    cell("time+", &row, now, "63:20.50");
    cell("etime", &row, now, "01:00");
    cell("%cpu", &row, now, "12.3");
    cell("rcpu", &row, now, "0.0");
    cell("%mem", &row, now, "1.5");
    cell("rss", &row, now, "1024");
    cell("ni", &row, now, "-5");
    cell("psr", &row, now, "1");
    cell("ppid", &row, now, "1");
    cell("majflt", &row, now, "-"); /* missing key */
    cell("container", &row, now, "-");
    json_decref(o);

    /* Kernel threads: no command line, null tty, wrong types from a bad agent. */
    o = load("{\"pid\":2,\"comm\":\"kthreadd\",\"cmdline\":[],\"tty\":null,\"uid\":0,"
             "\"rss\":\"many\",\"utime\":200000,\"stime\":0,\"start_time\":1764000000}");
    row.obj = o;
    cell("args", &row, now, "[kthreadd]");
    cell("tty", &row, now, "?");
    cell("user", &row, now, "0");
    cell("rss", &row, now, "-");
    cell("time", &row, now, "2-07:33:20");
    cell("etime", &row, now, "1-23:00:00");
    json_decref(o);

    /* A long command line is cut, never overflows. */
    o = load("{\"cmdline\":[\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\",\"b\"]}");
    row.obj = o;
    char small[8];
    cols_format(cols_find("args"), &row, now, small, sizeof(small));
    assert_string_equal(small, "aaaaaaa");
    json_decref(o);
}

static void
test_signals(void **state)
{
    (void)state;
    assert_string_equal(signals_lookup("TERM"), "TERM");
    assert_string_equal(signals_lookup("sigkill"), "KILL");
    assert_string_equal(signals_lookup("9"), "KILL");
    assert_string_equal(signals_lookup("usr1"), "USR1");
    assert_null(signals_lookup("0"));
    assert_null(signals_lookup("99"));
    assert_null(signals_lookup("FOO"));
    assert_null(signals_lookup(""));
    assert_int_equal(signals_number("HUP"), 1);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_columns),
        cmocka_unit_test(test_parse_sort),
        cmocka_unit_test(test_format),
        cmocka_unit_test(test_signals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
