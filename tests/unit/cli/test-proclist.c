/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Merging canned k2i responses from several hosts: validation of untrusted
 * answers, filters, multi-key sorting, limits, the agent query, JSON out.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cols.h"
#include "hosts.h"
#include "kerr.h"
#include "proclist.h"
#include "view.h"

static struct host h1 = { (char *)"a:8000", (char *)"http://a:8000" };
static struct host h2 = { (char *)"b:8000", (char *)"http://b:8000" };

static const char resp1[] =
    "{\"host\":\"a\",\"count\":3,\"processes\":["
    "{\"pid\":1,\"user\":\"root\",\"uid\":0,\"comm\":\"init\",\"cmdline\":[\"/sbin/init\"],"
    "\"state\":\"S\",\"cpu\":0.5,\"rss\":900,\"utime\":1,\"stime\":1},"
    "{\"pid\":300,\"user\":\"alice\",\"uid\":1000,\"comm\":\"python3\","
    "\"cmdline\":[\"python3\",\"-m\",\"http.server\"],\"state\":\"R\",\"cpu\":40,\"rss\":5000,"
    "\"utime\":9,\"stime\":1},"
    "{\"pid\":20,\"user\":\"bob\",\"uid\":1001,\"comm\":\"sleep\",\"cmdline\":[\"sleep\",\"9\"],"
    "\"state\":\"S\",\"cpu\":0.0,\"rss\":700,\"utime\":0,\"stime\":0}]}";

static const char resp2[] =
    "{\"host\":\"b\",\"count\":2,\"processes\":["
    "{\"pid\":1,\"user\":\"root\",\"uid\":0,\"comm\":\"systemd\",\"cmdline\":[\"/lib/systemd\"],"
    "\"state\":\"S\",\"cpu\":1.5,\"rss\":9000,\"utime\":5,\"stime\":5},"
    "{\"pid\":77,\"user\":\"alice\",\"uid\":1000,\"comm\":\"sleep\",\"cmdline\":[\"sleep\",\"5\"],"
    "\"state\":\"D\",\"cpu\":40,\"rss\":100,\"utime\":2,\"stime\":0}]}";

static void
load_both(struct proclist *pl)
{
    struct kerr err = KERR_INIT;
    assert_int_equal(proclist_add_response(pl, &h1, 0, resp1, strlen(resp1), &err), 0);
    assert_int_equal(proclist_add_response(pl, &h2, 1, resp2, strlen(resp2), &err), 0);
    assert_int_equal(pl->n, 5);
}

static long long
pid_at(const struct proclist *pl, size_t i)
{
    return (long long)json_integer_value(json_object_get(pl->rows[i].obj, "pid"));
}

/* "a:300" style for compact expectations. */
static void
expect_order(const struct proclist *pl, const char *want)
{
    char got[512] = "";
    for (size_t i = 0; i < pl->n; i++) {
        size_t len = strlen(got);
        snprintf(got + len, sizeof(got) - len, "%s%c:%lld", i ? " " : "", pl->rows[i].host->name[0],
                 pid_at(pl, i));
    }
    if (strcmp(got, want) != 0)
        fail_msg("order '%s', want '%s'", got, want);
}

static void
sort_by(struct proclist *pl, const char *spec)
{
    struct sortkey keys[COLS_MAX];
    size_t n = 0;
    struct kerr err = KERR_INIT;
    assert_int_equal(cols_parse_sort(spec, keys, &n, &err), 0);
    proclist_sort(pl, keys, n);
}

static void
test_merge_and_sort(void **state)
{
    (void)state;
    struct proclist pl = { 0 };
    load_both(&pl);

    proclist_sort(&pl, NULL, 0); /* default: host order, then pid */
    expect_order(&pl, "a:1 a:20 a:300 b:1 b:77");
    sort_by(&pl, "-cpu");
    expect_order(&pl, "a:300 b:77 b:1 a:1 a:20"); /* ties: host, then pid */
    sort_by(&pl, "-cpu,-time");
    expect_order(&pl, "a:300 b:77 b:1 a:1 a:20");
    sort_by(&pl, "-cpu,pid");
    expect_order(&pl, "b:77 a:300 b:1 a:1 a:20");
    sort_by(&pl, "user,-rss");
    expect_order(&pl, "a:300 b:77 a:20 b:1 a:1");
    sort_by(&pl, "-host,pid");
    expect_order(&pl, "b:1 b:77 a:1 a:20 a:300");
    sort_by(&pl, "comm");
    expect_order(&pl, "a:1 a:300 a:20 b:77 b:1");

    proclist_limit(&pl, 2);
    assert_int_equal(pl.n, 2);
    proclist_limit(&pl, 0);
    assert_int_equal(pl.n, 2);
    proclist_clear(&pl);
    assert_int_equal(pl.n, 0);
}

static void
test_filters(void **state)
{
    (void)state;
    struct proclist pl = { 0 };
    struct procfilter f;
    struct kerr err = KERR_INIT;

    memset(&f, 0, sizeof(f));
    load_both(&pl);
    assert_int_equal(procfilter_add_users(&f, "alice", &err), 0);
    proclist_filter(&pl, &f);
    expect_order(&pl, "a:300 b:77");
    procfilter_clear(&f);
    proclist_clear(&pl);

    load_both(&pl);
    assert_int_equal(procfilter_add_users(&f, "0,bob", &err), 0); /* uid or name */
    proclist_filter(&pl, &f);
    expect_order(&pl, "a:1 a:20 b:1");
    procfilter_clear(&f);
    proclist_clear(&pl);

    load_both(&pl);
    assert_int_equal(procfilter_set_cmd(&f, "http.serv", &err), 0); /* in the command line */
    proclist_filter(&pl, &f);
    expect_order(&pl, "a:300");
    procfilter_clear(&f);
    proclist_clear(&pl);

    load_both(&pl);
    assert_int_equal(procfilter_set_states(&f, "RD", &err), 0);
    assert_int_equal(procfilter_add_pids(&f, "77, 300,1", &err), 0);
    proclist_filter(&pl, &f);
    expect_order(&pl, "a:300 b:77");
    procfilter_clear(&f);
    proclist_clear(&pl);

    assert_int_equal(procfilter_add_pids(&f, "1,x", &err), -EINVAL);
    kerr_clear(&err);
    assert_int_equal(procfilter_add_pids(&f, "0", &err), -EINVAL);
    kerr_clear(&err);
    assert_int_equal(procfilter_set_states(&f, "R1", &err), -EINVAL);
    kerr_clear(&err);
    assert_int_equal(procfilter_set_cmd(&f, "", &err), -EINVAL);
    procfilter_clear(&f);
}

static void
test_bad_responses(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "",
        "not json",
        "[]",
        "{\"processes\":{}}",
        "{\"count\":1}",
        "{\"processes\":[1,2]}",
        "{\"processes\":[{\"pid\":1}],\"processes\":[]}", /* duplicate key */
        "{\"processes\":[{\"pid\":1}",
    };
    struct proclist pl = { 0 };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct kerr err = KERR_INIT;
        int r = proclist_add_response(&pl, &h1, 0, bad[i], strlen(bad[i]), &err);
        if (r >= 0)
            fail_msg("accepted bad response '%s'", bad[i]);
        assert_true(err.msg[0] != '\0');
        assert_int_equal(pl.n, 0);
    }
    /* An empty list is a good answer. */
    struct kerr err = KERR_INIT;
    const char *empty = "{\"processes\":[]}";
    assert_int_equal(proclist_add_response(&pl, &h1, 0, empty, strlen(empty), &err), 0);
    assert_int_equal(pl.n, 0);
    proclist_clear(&pl);
}

static void
test_query(void **state)
{
    (void)state;
    struct col cols[COLS_MAX];
    struct sortkey keys[COLS_MAX];
    size_t ncols = 0, nkeys = 0;
    struct procfilter f;
    struct kerr err = KERR_INIT;
    struct sbuf q = SBUF_INIT;

    memset(&f, 0, sizeof(f));
    assert_int_equal(cols_parse("host,pid,user,time,args", cols, &ncols, &err), 0);
    assert_int_equal(proclist_query(&q, cols, ncols, NULL, 0, NULL, 0, false), 0);
    assert_string_equal(q.data, "/v1/proc?fields=pid,user,uid,utime,stime,cmdline,comm");

    sbuf_reset(&q);
    assert_int_equal(cols_parse_sort("-cpu", keys, &nkeys, &err), 0);
    assert_int_equal(procfilter_add_users(&f, "alice", &err), 0);
    assert_int_equal(procfilter_set_cmd(&f, "a b&c", &err), 0);
    assert_int_equal(procfilter_set_states(&f, "R", &err), 0);
    assert_int_equal(procfilter_add_pids(&f, "1,2", &err), 0);
    f.threads = true;
    assert_int_equal(proclist_query(&q, cols, ncols, keys, nkeys, &f, 10, false), 0);
    assert_string_equal(q.data, "/v1/proc?fields=pid,tid,user,uid,utime,stime,cmdline,comm,cpu,"
                                "state&user=alice&cmd=a%20b%26c&state=R&pid=1,2&threads=true"
                                "&sort=-cpu&limit=10");

    /* --json without -o: whole objects; no limit: the agents do not sort. */
    sbuf_reset(&q);
    procfilter_clear(&f);
    assert_int_equal(proclist_query(&q, cols, ncols, keys, nkeys, &f, 0, true), 0);
    assert_string_equal(q.data, "/v1/proc");
    sbuf_free(&q);
}

static void
test_json_out(void **state)
{
    (void)state;
    struct proclist pl = { 0 };
    load_both(&pl);
    sort_by(&pl, "-rss");
    proclist_limit(&pl, 2);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_non_null(f);
    assert_int_equal(view_json(&pl, f), 0);
    fclose(f);
    json_error_t jerr;
    json_t *arr = json_loads(buf, 0, &jerr);
    assert_non_null(arr);
    assert_int_equal(json_array_size(arr), 2);
    assert_string_equal(json_string_value(json_object_get(json_array_get(arr, 0), "host")),
                        "b:8000");
    assert_int_equal(json_integer_value(json_object_get(json_array_get(arr, 1), "pid")), 300);
    assert_string_equal(json_string_value(json_object_get(json_array_get(arr, 1), "host")),
                        "a:8000");
    json_decref(arr);
    free(buf);
    proclist_clear(&pl);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_merge_and_sort), cmocka_unit_test(test_filters),
        cmocka_unit_test(test_bad_responses),  cmocka_unit_test(test_query),
        cmocka_unit_test(test_json_out),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
