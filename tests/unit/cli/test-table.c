/* SPDX-License-Identifier: Apache-2.0 */
/* Table layout: alignment, widths, truncation, sanitising, windows. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "sbuf.h"
#include "table.h"

static struct table *
sample(void)
{
    struct table *t = table_new(3);
    assert_non_null(t);
    assert_int_equal(table_set_column(t, 0, "PID", false), 0);
    assert_int_equal(table_set_column(t, 1, "USER", true), 0);
    assert_int_equal(table_set_column(t, 2, "COMMAND", true), 0);
    const char *r1[] = { "1", "root", "/sbin/init splash" };
    const char *r2[] = { "12345", "alice", "sleep 1000" };
    assert_int_equal(table_add_row(t, r1), 0);
    assert_int_equal(table_add_row(t, r2), 0);
    return t;
}

static void
test_layout(void **state)
{
    (void)state;
    struct table *t = sample();
    struct sbuf out = SBUF_INIT;
    assert_int_equal(table_render(t, 0, 0, 0, &out), 0);
    assert_string_equal(out.data, "  PID USER  COMMAND\n"
                                  "    1 root  /sbin/init splash\n"
                                  "12345 alice sleep 1000\n");
    assert_int_equal(table_rows(t), 2);

    /* Cut at 16 columns: the last column loses its tail, no line is longer. */
    sbuf_reset(&out);
    assert_int_equal(table_render(t, 16, 0, 0, &out), 0);
    assert_string_equal(out.data, "  PID USER  COMM\n"
                                  "    1 root  /sbi\n"
                                  "12345 alice slee\n");

    /* A window of rows (top's scrolling) keeps the header. */
    sbuf_reset(&out);
    assert_int_equal(table_render(t, 0, 1, 1, &out), 0);
    assert_string_equal(out.data, "  PID USER  COMMAND\n"
                                  "12345 alice sleep 1000\n");
    sbuf_free(&out);
    table_free(t);
}

static void
test_sanitize_and_utf8(void **state)
{
    (void)state;
    struct table *t = table_new(2);
    assert_int_equal(table_set_column(t, 0, "A", true), 0);
    assert_int_equal(table_set_column(t, 1, "B", true), 0);
    /* Escape sequences, newlines and C1 controls must not reach the terminal. */
    const char *r1[] = { "x\x1b]0;pwned\x07y", "a\nb\xc2\x9b"
                                               "c" };
    const char *r2[] = { "h\xc3\xa9llo", "z" }; /* é is one column */
    assert_int_equal(table_add_row(t, r1), 0);
    assert_int_equal(table_add_row(t, r2), 0);
    struct sbuf out = SBUF_INIT;
    assert_int_equal(table_render(t, 0, 0, 0, &out), 0);
    assert_null(strchr(out.data, '\x1b'));
    assert_null(strchr(out.data, '\x07'));
    assert_string_equal(out.data, "A            B\n"
                                  "x?]0;pwned?y a?b?c\n"
                                  "h\xc3\xa9llo        z\n");
    assert_int_equal(table_display_width("h\xc3\xa9llo"), 5);

    /* Cutting never splits a UTF-8 sequence. */
    sbuf_reset(&out);
    assert_int_equal(table_render(t, 2, 0, 0, &out), 0);
    assert_string_equal(out.data, "A\nx?\nh\xc3\xa9\n");
    sbuf_free(&out);
    table_free(t);
}

static void
test_bad_args(void **state)
{
    (void)state;
    assert_null(table_new(0));
    assert_null(table_new(65));
    struct table *t = table_new(1);
    assert_int_equal(table_set_column(t, 1, "X", true), -EINVAL);
    const char *r[] = { NULL }; /* NULL cell prints empty */
    assert_int_equal(table_add_row(t, r), 0);
    struct sbuf out = SBUF_INIT;
    assert_int_equal(table_render(t, 0, 0, 0, &out), 0);
    assert_string_equal(out.data, "\n\n");
    sbuf_free(&out);
    table_free(t);
    assert_null(table_free(NULL));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_layout),
        cmocka_unit_test(test_sanitize_and_utf8),
        cmocka_unit_test(test_bad_args),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
