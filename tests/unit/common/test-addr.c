/* SPDX-License-Identifier: Apache-2.0 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "addr.h"
#include "kerr.h"

static void
test_parse_forms(void **state)
{
    (void)state;
    struct addr a;
    struct kerr err = KERR_INIT;
    char buf[128];

    assert_int_equal(addr_parse("127.0.0.1:8000", 0, &a, &err), 0);
    addr_format(&a, buf, sizeof(buf));
    assert_string_equal(buf, "127.0.0.1:8000");

    assert_int_equal(addr_parse("[::1]:4222", 0, &a, &err), 0);
    addr_format(&a, buf, sizeof(buf));
    assert_string_equal(buf, "[::1]:4222");

    assert_int_equal(addr_parse("localhost", 8000, &a, &err), 0);
    assert_int_equal(addr_port(&a), 8000);

    assert_int_equal(addr_parse("unix:/run/x.sock", 0, &a, &err), 0);
    assert_true(a.is_unix);
    addr_format(&a, buf, sizeof(buf));
    assert_string_equal(buf, "unix:/run/x.sock");
}

static void
test_parse_errors(void **state)
{
    (void)state;
    struct addr a;
    struct kerr err = KERR_INIT;
    assert_int_equal(addr_parse("127.0.0.1", 0, &a, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "missing ':PORT'"));
    kerr_clear(&err);
    assert_int_equal(addr_parse("127.0.0.1:99999", 0, &a, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "bad port"));
    kerr_clear(&err);
    assert_int_equal(addr_parse("example.com:80", 0, &a, &err), -EINVAL);
    kerr_clear(&err);
    assert_int_equal(addr_parse("unix:", 0, &a, &err), -EINVAL);
    kerr_clear(&err);
    assert_int_equal(addr_parse("", 0, &a, &err), -EINVAL);
}

static void
test_listen_connect(void **state)
{
    (void)state;
    struct addr a;
    struct kerr err = KERR_INIT;
    assert_int_equal(addr_parse("127.0.0.1:0", 0, &a, &err), 0);
    int lfd = -1;
    assert_int_equal(addr_listen(&a, 16, &lfd, &err), 0);
    assert_true(addr_port(&a) > 0);
    int cfd = addr_connect(&a, 1000, &err);
    assert_true(cfd >= 0);
    close(cfd);
    close(lfd);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_forms),
        cmocka_unit_test(test_parse_errors),
        cmocka_unit_test(test_listen_connect),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
