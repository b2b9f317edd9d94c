/* SPDX-License-Identifier: Apache-2.0 */
/* k2i config files: keys, validation, token hashing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "k2i.h"
#include "kerr.h"

static int
parse(struct k2i_config *c, const char *text, struct kerr *err)
{
    k2i_config_free(c);
    k2i_config_init(c);
    kerr_clear(err);
    return k2i_config_parse(c, text, strlen(text), err);
}

static void
test_defaults_and_full(void **state)
{
    struct k2i_config c;
    struct kerr err = KERR_INIT;
    k2i_config_init(&c);
    assert_true(c.privsep);
    assert_true(c.seccomp);
    assert_true(c.fd_cache > 0);
    assert_string_equal(c.user, "nobody");
    assert_false(c.read_requires_token);
    assert_int_equal(c.nlisten, 0);
    const char *full =
        "{\"listen\":[\"127.0.0.1:9000\",\"unix:/run/k2i.sock\"],"
        "\"read_requires_token\":true,"
        "\"tokens\":[{\"name\":\"ops\",\"token\":\"0123456789abcdef\",\"scopes\":[\"signal\"]},"
        "{\"token\":\"fedcba9876543210\"}],"
        "\"tls\":{\"cert\":\"/c.pem\",\"key\":\"/k.pem\"},"
        "\"user\":\"daemon\",\"privsep\":false,\"seccomp\":false,\"fd_cache\":0,"
        "\"sample_interval_ms\":250,\"threads\":4,"
        "\"max_connections\":10,\"connection_memory_limit\":65536,\"connection_timeout\":5}";
    assert_int_equal(parse(&c, full, &err), 0);
    assert_int_equal(c.nlisten, 2);
    assert_string_equal(c.listen[1], "unix:/run/k2i.sock");
    assert_true(c.read_requires_token);
    assert_int_equal(c.ntokens, 2);
    assert_string_equal(c.tokens[0].name, "ops");
    /* Any token may read. */
    assert_int_equal(c.tokens[0].scopes, K2I_SCOPE_SIGNAL | K2I_SCOPE_READ);
    assert_int_equal(c.tokens[1].scopes, K2I_SCOPE_READ);
    uint8_t h[32];
    k2i_token_hash("0123456789abcdef", 16, h);
    assert_memory_equal(h, c.tokens[0].hash, 32);
    assert_string_equal(c.tls_cert, "/c.pem");
    assert_string_equal(c.user, "daemon");
    assert_false(c.privsep);
    assert_false(c.seccomp);
    assert_int_equal(c.fd_cache, 0);
    assert_int_equal(c.sample_interval_usec, 250000);
    assert_int_equal(c.threads, 4);
    k2i_config_free(&c);
}

static void
test_errors(void **state)
{
    static const struct {
        const char *text;
        const char *want;
    } cases[] = {
        { "", "line 1" },
        { "[]", "want a JSON object" },
        { "{\"bogus\":1}", "unknown key 'bogus'" },
        { "{\"threads\":0}", "'threads'" },
        { "{\"threads\":\"2\"}", "'threads'" },
        { "{\"listen\":5}", "'listen'" },
        { "{\"tokens\":[{\"token\":\"short\"}]}", "16.." },
        { "{\"tokens\":[{\"token\":\"has space 0123456789\"}]}", "16.." },
        { "{\"tokens\":[{\"name\":\"x\"}]}", "missing 'token'" },
        { "{\"tokens\":[{\"token\":\"0123456789abcdef\",\"scopes\":[\"root\"]}]}",
          "tokens[0].scopes[0]" },
        { "{\"tokens\":[{\"token\":\"0123456789abcdef\",\"extra\":1}]}", "unknown key 'extra'" },
        { "{\"tokens\":[{\"token_file\":\"/nonexistent/k2i-token\"}]}", "token_file" },
        { "{\"tls\":{\"cert\":\"/c\"}}", "give both" },
        { "{\"read_requires_token\":1}", "read_requires_token" },
        { "{\"a\":1,\"a\":2}", "line 1" },
    };
    struct k2i_config c;
    struct kerr err = KERR_INIT;
    k2i_config_init(&c);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int r = parse(&c, cases[i].text, &err);
        if (r >= 0 || !strstr(err.msg, cases[i].want))
            fail_msg("'%s': got %d '%s', want '%s'", cases[i].text, r, err.msg, cases[i].want);
    }
    k2i_config_free(&c);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults_and_full),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
