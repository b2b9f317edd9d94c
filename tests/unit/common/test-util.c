/* SPDX-License-Identifier: Apache-2.0 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util.h"

static void
test_parse_int64(void **state)
{
    (void)state;
    int64_t v;
    assert_int_equal(parse_int64("42", 0, 100, &v), 0);
    assert_int_equal(v, 42);
    assert_int_equal(parse_int64("-1", -5, 5, &v), 0);
    assert_int_equal(v, -1);
    assert_int_equal(parse_int64("", 0, 100, &v), -EINVAL);
    assert_int_equal(parse_int64("abc", 0, 100, &v), -EINVAL);
    assert_int_equal(parse_int64("12x", 0, 100, &v), -EINVAL);
    assert_int_equal(parse_int64(" 12", 0, 100, &v), -EINVAL);
    assert_int_equal(parse_int64("101", 0, 100, &v), -ERANGE);
    assert_int_equal(parse_int64("99999999999999999999999", 0, INT64_MAX, &v), -ERANGE);
}

static void
test_parse_uint64(void **state)
{
    (void)state;
    uint64_t v;
    assert_int_equal(parse_uint64("0", 10, &v), 0);
    assert_int_equal(parse_uint64("-1", 10, &v), -EINVAL);
    assert_int_equal(parse_uint64("+1", 10, &v), -EINVAL);
    assert_int_equal(parse_uint64("11", 10, &v), -ERANGE);
}

static void
test_parse_duration_and_size(void **state)
{
    (void)state;
    uint64_t v;
    assert_int_equal(parse_duration_usec("500ms", &v), 0);
    assert_int_equal(v, 500000);
    assert_int_equal(parse_duration_usec("2s", &v), 0);
    assert_int_equal(v, 2000000);
    assert_int_equal(parse_duration_usec("250", &v), 0);
    assert_int_equal(v, 250000);
    assert_int_equal(parse_duration_usec("3q", &v), -EINVAL);
    assert_int_equal(parse_duration_usec("99999999999999999h", &v), -ERANGE);
    assert_int_equal(parse_size("64M", &v), 0);
    assert_int_equal(v, 64ULL << 20);
    assert_int_equal(parse_size("1GiB", &v), 0);
    assert_int_equal(v, 1ULL << 30);
    assert_int_equal(parse_size("1Gx", &v), -EINVAL);
}

static void
test_read_files(void **state)
{
    (void)state;
    char path[] = "/tmp/kumo-test-util-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write_all(fd, "hello world", 11), 0);
    close(fd);

    char buf[6];
    assert_int_equal(read_file_at(AT_FDCWD, path, buf, sizeof(buf)), 5);
    assert_string_equal(buf, "hello");

    char *all = NULL;
    size_t len = 0;
    assert_int_equal(read_file_alloc(path, 100, &all, &len), 0);
    assert_int_equal(len, 11);
    assert_string_equal(all, "hello world");
    free(all);
    assert_int_equal(read_file_alloc(path, 5, &all, &len), -EFBIG);
    assert_int_equal(read_file_alloc("/nonexistent/x", 5, &all, &len), -ENOENT);
    /* /proc files report size 0 but have content. */
    assert_int_equal(read_file_alloc("/proc/self/stat", 1 << 16, &all, &len), 0);
    assert_true(len > 10);
    free(all);
    unlink(path);
}

static void
test_strings(void **state)
{
    (void)state;
    char b[4];
    assert_int_equal(strlcpy_k(b, "abcdef", sizeof(b)), 6);
    assert_string_equal(b, "abc");
    assert_true(str_startswith("unix:/x", "unix:"));
    assert_false(str_startswith("uni", "unix:"));
    assert_true(now_mono_usec() > 0);
    assert_true(now_real_usec() > 1600000000ULL * 1000000ULL);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_int64),
        cmocka_unit_test(test_parse_uint64),
        cmocka_unit_test(test_parse_duration_and_size),
        cmocka_unit_test(test_read_files),
        cmocka_unit_test(test_strings),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
