/* SPDX-License-Identifier: Apache-2.0 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "kerr.h"

static void
test_set_appends_strerror(void **state)
{
    (void)state;
    struct kerr err = KERR_INIT;
    int r = kerr_set(&err, ENOENT, "open '%s'", "/x");
    assert_int_equal(r, -ENOENT);
    assert_int_equal(err.code, ENOENT);
    assert_string_equal(err.msg, "open '/x': No such file or directory");
}

static void
test_first_error_wins(void **state)
{
    (void)state;
    struct kerr err = KERR_INIT;
    kerr_setf(&err, EINVAL, "field 'ociVersion' must be a string");
    int r = kerr_set(&err, EPERM, "later");
    assert_int_equal(r, -EINVAL);
    assert_string_equal(err.msg, "field 'ociVersion' must be a string");
}

static void
test_prefix(void **state)
{
    (void)state;
    struct kerr err = KERR_INIT;
    kerr_set(&err, EACCES, "mount proc on '%s'", "/proc");
    kerr_prefix(&err, "create '%s'", "web");
    assert_string_equal(err.msg, "create 'web': mount proc on '/proc': Permission denied");
}

static void
test_null_err_and_zero_errno(void **state)
{
    (void)state;
    assert_int_equal(kerr_set(NULL, EBUSY, "x"), -EBUSY);
    struct kerr err = KERR_INIT;
    assert_int_equal(kerr_setf(&err, 0, "x"), -EIO);
    assert_int_equal(kerr_setf(NULL, -ENOMEM, "x"), -ENOMEM);
    kerr_clear(&err);
    assert_int_equal(err.code, 0);
}

static void
test_long_message_truncates(void **state)
{
    (void)state;
    struct kerr err = KERR_INIT;
    char big[3000];
    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    kerr_set(&err, ENOENT, "%s", big);
    assert_true(strlen(err.msg) == KERR_MSG_MAX - 1);
    kerr_prefix(&err, "%s", big);
    assert_true(strlen(err.msg) == KERR_MSG_MAX - 1);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_set_appends_strerror),
        cmocka_unit_test(test_first_error_wins),
        cmocka_unit_test(test_prefix),
        cmocka_unit_test(test_null_err_and_zero_errno),
        cmocka_unit_test(test_long_message_truncates),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
