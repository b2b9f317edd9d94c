/* SPDX-License-Identifier: Apache-2.0 */
/* Query-string parsing for k2i list endpoints. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "kerr.h"
#include "procfs.h"
#include "query.h"

static int
resolve(void *ud, const char *name, uint32_t *ret)
{
    if (strcmp(name, "alice") == 0) {
        *ret = 1000;
        return 0;
    }
    return -ENOENT;
}

static int
parse(const char *qs, unsigned allowed, struct k2i_query *q, struct kerr *err)
{
    kerr_clear(err);
    return k2i_query_parse(qs, strlen(qs), allowed, k2i_fields_default(), resolve, NULL, q, err);
}

static void
test_defaults(void **state)
{
    struct k2i_query q;
    struct kerr err = KERR_INIT;
    assert_int_equal(parse("", K2I_QP_LIST, &q, &err), 0);
    assert_false(q.fields_given);
    assert_int_equal(q.fields, k2i_fields_default());
    assert_int_equal(q.limit, 0);
    assert_int_equal(q.nsort, 0);
    assert_false(q.threads);
    /* The default set reads stat, status and cmdline, nothing else. */
    assert_int_equal(k2i_query_need(&q),
                     PROCFS_NEED_STAT | PROCFS_NEED_STATUS | PROCFS_NEED_CMDLINE);
    assert_false(q.fields & K2I_FIELD_BIT(K2I_F_ENVIRON));
    assert_false(k2i_fields_all() & K2I_FIELD_BIT(K2I_F_ENVIRON));
}

static void
test_fields_need(void **state)
{
    struct k2i_query q;
    struct kerr err = KERR_INIT;
    /* Stat-only fields read only stat. */
    assert_int_equal(parse("fields=pid,comm,cpu,rss,state,ppid,cpu_recent", K2I_QP_LIST, &q, &err),
                     0);
    assert_int_equal(k2i_query_need(&q), PROCFS_NEED_STAT);
    assert_true(q.fields & K2I_FIELD_BIT(K2I_F_COMM));
    assert_false(q.fields & K2I_FIELD_BIT(K2I_F_USER));
    /* A user filter adds status; cmd= adds cmdline; container adds cgroup. */
    assert_int_equal(parse("fields=pid&user=alice&cmd=x&container=web-1", K2I_QP_LIST, &q, &err),
                     0);
    assert_int_equal(k2i_query_need(&q), PROCFS_NEED_STAT | PROCFS_NEED_STATUS |
                                             PROCFS_NEED_CMDLINE | PROCFS_NEED_CGROUP);
    assert_int_equal(q.nuids, 1);
    assert_int_equal(q.uids[0], 1000);
    /* Sorting by a field needs its source. */
    assert_int_equal(parse("fields=pid&sort=user", K2I_QP_LIST, &q, &err), 0);
    assert_true(k2i_query_need(&q) & PROCFS_NEED_STATUS);
    assert_int_equal(parse("fields=all", K2I_QP_LIST, &q, &err), 0);
    assert_true(k2i_query_need(&q) & PROCFS_NEED_NS);
    assert_true(k2i_query_need(&q) & PROCFS_NEED_CGROUP);
}

static void
test_sort_limit_filters(void **state)
{
    struct k2i_query q;
    struct kerr err = KERR_INIT;
    assert_int_equal(parse("sort=-cpu,comm,rss-desc,pid-asc&limit=5", K2I_QP_LIST, &q, &err), 0);
    assert_int_equal(q.nsort, 4);
    assert_int_equal(q.sort[0].field, K2I_F_CPU);
    assert_true(q.sort[0].desc);
    assert_int_equal(q.sort[1].field, K2I_F_COMM);
    assert_false(q.sort[1].desc);
    assert_int_equal(q.sort[2].field, K2I_F_RSS);
    assert_true(q.sort[2].desc);
    assert_int_equal(q.sort[3].field, K2I_F_PID);
    assert_false(q.sort[3].desc);
    assert_int_equal(q.limit, 5);

    assert_int_equal(
        parse("state=R,S&pid=30,1,20&user=0,alice&threads=true", K2I_QP_LIST, &q, &err), 0);
    assert_true(q.states & (UINT64_C(1) << ('R' - 'A')));
    assert_true(q.states & (UINT64_C(1) << ('S' - 'A')));
    assert_false(q.states & (UINT64_C(1) << ('Z' - 'A')));
    assert_int_equal(q.npids, 3);
    assert_int_equal(q.pids[0], 1); /* sorted */
    assert_true(k2i_query_pid_ok(&q, 20));
    assert_false(k2i_query_pid_ok(&q, 21));
    assert_int_equal(q.nuids, 2);
    assert_true(q.threads);
    assert_true(q.fields & K2I_FIELD_BIT(K2I_F_TID));

    /* Percent-encoding and '+' in values. */
    assert_int_equal(parse("cmd=a+b%2Fc", K2I_QP_LIST, &q, &err), 0);
    assert_string_equal(q.cmd, "a b/c");
    assert_int_equal(parse("%66ields=pid", K2I_QP_LIST, &q, &err), 0);
    assert_true(q.fields_given);
    /* Empty items between '&' are tolerated. */
    assert_int_equal(parse("&&limit=1&", K2I_QP_LIST, &q, &err), 0);
    assert_int_equal(q.limit, 1);
    assert_int_equal(parse("threads", K2I_QP_LIST, &q, &err), 0);
    assert_true(q.threads);
    assert_int_equal(parse("container=-", K2I_QP_LIST, &q, &err), 0);
    assert_true(q.has_container);
    /* A kumo-runtime id may hold '+' (sent as %2B). */
    assert_int_equal(parse("container=web%2B1", K2I_QP_LIST, &q, &err), 0);
    assert_string_equal(q.container, "web+1");
}

static void
test_errors_name_the_parameter(void **state)
{
    static const struct {
        const char *qs;
        const char *want;
    } cases[] = {
        { "bogus=1", "unknown parameter 'bogus'" },
        { "fields=pid,nope", "parameter 'fields': unknown field 'nope'" },
        { "fields=", "parameter 'fields': empty value" },
        { "fields=pid,,comm", "parameter 'fields': empty item" },
        { "sort=bogus", "parameter 'sort': cannot sort by 'bogus'" },
        { "sort=cmdline", "parameter 'sort': cannot sort by 'cmdline'" },
        { "sort=a,b,c,d,e", "parameter 'sort'" },
        { "limit=0", "parameter 'limit'" },
        { "limit=-1", "parameter 'limit'" },
        { "limit=abc", "parameter 'limit'" },
        { "limit=99999999999", "parameter 'limit'" },
        { "limit=1&limit=2", "parameter 'limit' given twice" },
        { "pid=0", "parameter 'pid': bad pid '0'" },
        { "pid=-1", "parameter 'pid': bad pid '-1'" },
        { "pid=abc", "parameter 'pid': bad pid 'abc'" },
        { "pid=99999999999", "parameter 'pid': bad pid '99999999999'" },
        { "user=nosuchuser", "parameter 'user': unknown user 'nosuchuser'" },
        { "user=-5", "parameter 'user': unknown user '-5'" },
        { "state=R1", "parameter 'state'" },
        { "threads=maybe", "parameter 'threads'" },
        { "container=a/b", "parameter 'container'" },
        { "cmd=%zz", "parameter 'cmd': bad percent-encoding" },
        { "cmd=%00", "parameter 'cmd': bad percent-encoding" },
        { "cmd=%4", "parameter 'cmd': bad percent-encoding" },
        { "=x", "bad parameter name" },
    };
    struct k2i_query q;
    struct kerr err = KERR_INIT;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int r = parse(cases[i].qs, K2I_QP_LIST, &q, &err);
        if (r != -EINVAL || !strstr(err.msg, cases[i].want))
            fail_msg("'%s': got %d '%s', want '%s'", cases[i].qs, r, err.msg, cases[i].want);
    }
    /* Endpoint restrictions. */
    assert_int_equal(parse("sort=pid", K2I_QP_FIELDS, &q, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "for this endpoint"));
    assert_int_equal(parse("fields=pid", 0, &q, &err), -EINVAL);
    /* Over-long values. */
    char big[K2I_Q_VALUE_MAX + 32];
    memcpy(big, "cmd=", 4);
    memset(big + 4, 'a', sizeof(big) - 5);
    big[sizeof(big) - 1] = '\0';
    assert_int_equal(parse(big, K2I_QP_LIST, &q, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "longer than"));
}

static void
test_url_decode(void **state)
{
    char out[16];
    assert_int_equal(k2i_url_decode("a%20b+c", 7, out, sizeof(out)), 5);
    assert_string_equal(out, "a b c");
    assert_int_equal(k2i_path_decode("a+b%2f", 6, out, sizeof(out)), 4);
    assert_string_equal(out, "a+b/");
    assert_int_equal(k2i_url_decode("%", 1, out, sizeof(out)), -EINVAL);
    assert_int_equal(k2i_url_decode("%a", 2, out, sizeof(out)), -EINVAL);
    assert_int_equal(k2i_url_decode("%00", 3, out, sizeof(out)), -EINVAL);
    assert_int_equal(k2i_url_decode("0123456789abcdefg", 17, out, sizeof(out)), -E2BIG);
    assert_int_equal(k2i_field_lookup("cpu_recent", 10), K2I_F_CPU_RECENT);
    assert_int_equal(k2i_field_lookup("cpu_rec", 7), -1);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),           cmocka_unit_test(test_fields_need),
        cmocka_unit_test(test_sort_limit_filters), cmocka_unit_test(test_errors_name_the_parameter),
        cmocka_unit_test(test_url_decode),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
