/* SPDX-License-Identifier: Apache-2.0 */
/* JSON writing helpers: numbers, strings with arbitrary bytes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <jansson.h>
#include <math.h>
#include <string.h>

#include "jw.h"

static const char *
fixed(struct sbuf *b, double v, int d)
{
    sbuf_reset(b);
    jw_fixed(b, v, d);
    return b->data;
}

static void
test_numbers(void **state)
{
    struct sbuf b = SBUF_INIT;
    jw_u64(&b, 0);
    assert_string_equal(b.data, "0");
    sbuf_reset(&b);
    jw_u64(&b, UINT64_MAX);
    assert_string_equal(b.data, "18446744073709551615");
    sbuf_reset(&b);
    jw_i64(&b, INT64_MIN);
    assert_string_equal(b.data, "-9223372036854775808");
    assert_string_equal(fixed(&b, 1.006, 2), "1.01");
    assert_string_equal(fixed(&b, 0, 2), "0.00");
    assert_string_equal(fixed(&b, 12.5, 0), "13");
    assert_string_equal(fixed(&b, -3.14159, 3), "-3.142");
    assert_string_equal(fixed(&b, -0.0001, 2), "0.00");
    assert_string_equal(fixed(&b, NAN, 2), "0.00");
    assert_string_equal(fixed(&b, INFINITY, 1), "0.0");
    assert_string_equal(fixed(&b, 1795706266.4179, 3), "1795706266.418");
    sbuf_free(&b);
}

static void
check_valid_json_string(const char *in, size_t len, const char *want)
{
    struct sbuf b = SBUF_INIT;
    jw_str(&b, in, len);
    json_error_t e;
    json_t *v = json_loadb(b.data, b.len, JSON_DECODE_ANY, &e);
    if (!v)
        fail_msg("not JSON: %s (%s)", b.data, e.text);
    assert_true(json_is_string(v));
    if (want)
        assert_string_equal(json_string_value(v), want);
    json_decref(v);
    sbuf_free(&b);
}

static void
test_strings(void **state)
{
    check_valid_json_string("plain", 5, "plain");
    check_valid_json_string("q\"b\\n\nt\t", 8, "q\"b\\n\nt\t");
    check_valid_json_string("caf\xc3\xa9", 5, "caf\xc3\xa9");
    check_valid_json_string("\x01\x7f", 2, "\x01\x7f");
    /* Invalid UTF-8 becomes U+FFFD; overlong and surrogate forms too. */
    check_valid_json_string("a\xff"
                            "b",
                            3,
                            "a\xef\xbf\xbd"
                            "b");
    check_valid_json_string("\xc0\xaf", 2, "\xef\xbf\xbd\xef\xbf\xbd");
    check_valid_json_string("\xed\xa0\x80", 3, NULL);
    check_valid_json_string("\xf0\x9f\x98\x80", 4, "\xf0\x9f\x98\x80");
    check_valid_json_string("\xe2\x82", 2, NULL);
    struct sbuf b = SBUF_INIT;
    jw_prom_label(&b, "a\"b\\c\nd", 7);
    assert_string_equal(b.data, "a\\\"b\\\\c\\nd");
    sbuf_reset(&b);
    bool first = true;
    jw_key(&b, &first, "a");
    jw_u64(&b, 1);
    jw_key(&b, &first, "b");
    jw_u64(&b, 2);
    assert_string_equal(b.data, "\"a\":1,\"b\":2");
    sbuf_free(&b);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_numbers),
        cmocka_unit_test(test_strings),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
