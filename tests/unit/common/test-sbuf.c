/* SPDX-License-Identifier: Apache-2.0 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "sbuf.h"

static void
test_append_printf(void **state)
{
    (void)state;
    struct sbuf b = SBUF_INIT;
    assert_int_equal(sbuf_puts(&b, "a"), 0);
    for (int i = 0; i < 1000; i++)
        assert_int_equal(sbuf_printf(&b, "%d,", i), 0);
    assert_true(b.len > 1000);
    assert_int_equal(strlen(b.data), b.len);
    assert_memory_equal(b.data, "a0,1,2,", 7);
    sbuf_reset(&b);
    assert_int_equal(b.len, 0);
    sbuf_free(&b);
    assert_null(b.data);
}

static void
test_take(void **state)
{
    (void)state;
    struct sbuf b = SBUF_INIT;
    assert_int_equal(sbuf_puts(&b, "abc"), 0);
    char *s = sbuf_take(&b);
    assert_null(b.data);
    assert_string_equal(s, "abc");
    free(s);
    s = sbuf_take(&b);
    assert_string_equal(s, "");
    free(s);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_append_printf),
        cmocka_unit_test(test_take),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
