/* SPDX-License-Identifier: Apache-2.0 */
/* Host list parsing: specs, lists, files, kill targets, connection options. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cliconn.h"
#include "hosts.h"
#include "kerr.h"

static void
expect_host(const char *spec, const char *name, const char *base)
{
    struct host h;
    struct kerr err = KERR_INIT;
    int r = hosts_parse(spec, &h, &err);
    if (r != 0)
        fail_msg("'%s': %s", spec, err.msg);
    assert_string_equal(h.name, name);
    assert_string_equal(h.base, base);
    host_clear(&h);
}

static void
expect_bad(const char *spec, const char *msg_part)
{
    struct host h;
    struct kerr err = KERR_INIT;
    assert_int_equal(hosts_parse(spec, &h, &err), -EINVAL);
    if (msg_part && !strstr(err.msg, msg_part))
        fail_msg("'%s': message '%s' lacks '%s'", spec, err.msg, msg_part);
}

static void
test_parse_specs(void **state)
{
    (void)state;
    expect_host("10.0.0.3", "10.0.0.3:8000", "http://10.0.0.3:8000");
    expect_host("10.0.0.3:9000", "10.0.0.3:9000", "http://10.0.0.3:9000");
    expect_host("localhost", "localhost:8000", "http://localhost:8000");
    expect_host("node-1.dc2.example", "node-1.dc2.example:8000", "http://node-1.dc2.example:8000");
    expect_host("http://h:81/", "h:81", "http://h:81");
    expect_host("https://h", "https://h:8000", "https://h:8000");
    expect_host("https://h:8443", "https://h:8443", "https://h:8443");
    expect_host("[::1]", "[::1]:8000", "http://[::1]:8000");
    expect_host("[fe80::1]:9", "[fe80::1]:9", "http://[fe80::1]:9");

    expect_bad("", "empty");
    expect_bad("h:0", "bad port");
    expect_bad("h:65536", "bad port");
    expect_bad("h:abc", "bad port");
    expect_bad("h:", "bad port");
    expect_bad("::1", "IPv6");
    expect_bad("[::1", "unterminated");
    expect_bad("[zz]:1", "IPv6");
    expect_bad("ftp://h", "only http");
    expect_bad("h/path", "bad character");
    expect_bad("h;rm -rf", "bad character");
    expect_bad(":8000", "missing host");
}

static void
test_list_and_dedup(void **state)
{
    (void)state;
    struct hostlist l = { 0 };
    struct kerr err = KERR_INIT;
    assert_int_equal(hosts_add_text(&l, "a,b:9000, c  a:8000,,", "-H", &err), 0);
    assert_int_equal(l.n, 3); /* a and a:8000 are the same agent */
    assert_string_equal(l.v[0].name, "a:8000");
    assert_string_equal(l.v[1].name, "b:9000");
    assert_string_equal(l.v[2].name, "c:8000");
    assert_non_null(hosts_find(&l, "b:9000"));
    assert_null(hosts_find(&l, "b"));
    assert_int_equal(hosts_add_text(&l, "d,e:x", "-H", &err), -EINVAL);
    assert_non_null(strstr(err.msg, "-H line 1"));
    assert_non_null(strstr(err.msg, "e:x"));
    hosts_free(&l);
    assert_int_equal(l.n, 0);
}

static void
test_file(void **state)
{
    (void)state;
    char path[] = "/tmp/kumo-test-hosts.XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    const char *text = "# DC east\n"
                       "10.0.0.1   # rack 1\n"
                       "\n"
                       "  10.0.0.2:8001 10.0.0.3\n"
                       "https://10.0.0.4:8443\n"
                       "#10.0.0.5\n";
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);

    struct hostlist l = { 0 };
    struct kerr err = KERR_INIT;
    assert_int_equal(hosts_add_file(&l, path, &err), 0);
    assert_int_equal(l.n, 4);
    assert_string_equal(l.v[0].name, "10.0.0.1:8000");
    assert_string_equal(l.v[1].name, "10.0.0.2:8001");
    assert_string_equal(l.v[2].name, "10.0.0.3:8000");
    assert_string_equal(l.v[3].base, "https://10.0.0.4:8443");
    hosts_free(&l);

    /* An error names the file and the line. */
    fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "a\n\nb:99999\n", 11), 11);
    close(fd);
    kerr_clear(&err);
    assert_int_equal(hosts_add_file(&l, path, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "line 3"));
    assert_non_null(strstr(err.msg, path));
    hosts_free(&l);
    unlink(path);

    kerr_clear(&err);
    assert_int_equal(hosts_add_file(&l, "/nonexistent/kumo-hosts", &err), -ENOENT);
    assert_non_null(strstr(err.msg, "/nonexistent/kumo-hosts"));
}

static void
test_targets(void **state)
{
    (void)state;
    struct host h;
    int64_t pid;
    struct kerr err = KERR_INIT;

    assert_int_equal(hosts_parse_target("10.0.0.1:8000:1234", &h, &pid, &err), 0);
    assert_string_equal(h.name, "10.0.0.1:8000");
    assert_int_equal(pid, 1234);
    host_clear(&h);
    assert_int_equal(hosts_parse_target("node7:42", &h, &pid, &err), 0);
    assert_string_equal(h.name, "node7:8000");
    assert_int_equal(pid, 42);
    host_clear(&h);
    assert_int_equal(hosts_parse_target("[::1]:9:7", &h, &pid, &err), 0);
    assert_string_equal(h.name, "[::1]:9");
    assert_int_equal(pid, 7);
    host_clear(&h);
    assert_int_equal(hosts_parse_target("https://h:8443:1", &h, &pid, &err), 0);
    assert_string_equal(h.base, "https://h:8443");
    host_clear(&h);

    static const char *const bad[] = { "1234",  ":12",           "h:0", "h:-1",
                                       "h:abc", "h:99999999999", "h:",  "bad host:1" };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        kerr_clear(&err);
        assert_int_equal(hosts_parse_target(bad[i], &h, &pid, &err), -EINVAL);
        assert_true(err.msg[0] != '\0');
    }
}

static void
test_conn_options(void **state)
{
    (void)state;
    struct cliconn c;
    struct kerr err = KERR_INIT;
    uint64_t us;

    assert_int_equal(cliconn_parse_timeout("2", &us), 0);
    assert_int_equal(us, 2000000);
    assert_int_equal(cliconn_parse_timeout("0.5", &us), 0);
    assert_int_equal(us, 500000);
    assert_int_equal(cliconn_parse_timeout("300ms", &us), 0);
    assert_int_equal(us, 300000);
    assert_true(cliconn_parse_timeout("0", &us) < 0);
    assert_true(cliconn_parse_timeout("x", &us) < 0);
    assert_true(cliconn_parse_timeout("", &us) < 0);

    /* Environment defaults: $KUMO_HOSTS, $KUMO_TOKEN, $KUMO_TIMEOUT. */
    memset(&c, 0, sizeof(c));
    setenv("KUMO_HOSTS", "e1, e2:9", 1);
    setenv("KUMO_TOKEN", "s3cret\n", 1);
    setenv("KUMO_TIMEOUT", "750ms", 1);
    assert_int_equal(cliconn_finish(&c, &err), 0);
    assert_int_equal(c.hosts.n, 2);
    assert_string_equal(c.hosts.v[1].name, "e2:9");
    assert_string_equal(c.fo.token, "s3cret");
    assert_int_equal(c.fo.timeout_usec, 750000);
    cliconn_free(&c);
    memset(&c, 0, sizeof(c));
    setenv("KUMO_TIMEOUT", "soon", 1);
    assert_int_equal(cliconn_finish(&c, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "KUMO_TIMEOUT"));
    cliconn_free(&c);
    unsetenv("KUMO_TIMEOUT");
    kerr_clear(&err);

    /* -H wins over the environment; no environment means localhost. */
    memset(&c, 0, sizeof(c));
    assert_int_equal(cliconn_option(&c, 'H', "x", &err), 1);
    assert_int_equal(cliconn_option(&c, 'z', "x", &err), 0);
    assert_int_equal(cliconn_option(&c, CLICONN_OPT_TOKEN, "bad token", &err), -EINVAL);
    assert_int_equal(cliconn_finish(&c, &err), 0);
    assert_int_equal(c.hosts.n, 1);
    assert_string_equal(c.hosts.v[0].name, "x:8000");
    cliconn_free(&c);
    unsetenv("KUMO_HOSTS");
    unsetenv("KUMO_TOKEN");
    memset(&c, 0, sizeof(c));
    kerr_clear(&err);
    assert_int_equal(cliconn_finish(&c, &err), 0);
    assert_string_equal(c.hosts.v[0].name, "localhost:8000");
    assert_null(c.fo.token);
    assert_int_equal(c.fo.timeout_usec, 2000000);
    cliconn_free(&c);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_specs),  cmocka_unit_test(test_list_and_dedup),
        cmocka_unit_test(test_file),         cmocka_unit_test(test_targets),
        cmocka_unit_test(test_conn_options),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
