/* SPDX-License-Identifier: Apache-2.0 */
/*
 * process.capabilities: validation names the set and the capability, and
 * application in a forked child leaves exactly the configured five sets in
 * /proc/self/status. Application needs root (exit 77 = skip otherwise).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <errno.h>
#include <linux/capability.h>
#include <sys/prctl.h>

#include "security.h"
#include "test-security-util.h"

#define BIT(c) (UINT64_C(1) << (c))

static void
expect_invalid(const char *text, const char *msg_part)
{
    json_t *j = J(text);
    struct kerr err = KERR_INIT;
    int r = rt_caps_validate(j, &err);
    if (r != -EINVAL || !strstr(err.msg, msg_part))
        fail_msg("for %s: got %d '%s', wanted '%s'", text, r, err.msg, msg_part);
    json_decref(j);
}

static void
test_validate(void **state)
{
    (void)state;
    json_t *j = J("{\"bounding\":[\"CAP_CHOWN\",\"CAP_KILL\"],\"effective\":[],"
                  "\"permitted\":[\"CAP_CHOWN\"],\"inheritable\":[],\"ambient\":[]}");
    struct kerr err = KERR_INIT;
    assert_int_equal(rt_caps_validate(j, &err), 0);
    assert_int_equal(rt_caps_validate(NULL, &err), 0);
    json_decref(j);

    expect_invalid("{\"bounding\":[\"CAP_CHOWN\",\"CAP_FLY\"]}",
                   "process.capabilities.bounding[1]: unknown capability 'CAP_FLY'");
    expect_invalid("{\"effective\":[\"cap_chown\"]}",
                   "process.capabilities.effective[0]: unknown capability 'cap_chown'");
    expect_invalid("{\"ambient\":[\"3\"]}", "unknown capability '3'");
    expect_invalid("{\"permitted\":\"CAP_CHOWN\"}",
                   "process.capabilities.permitted: must be an array");
    expect_invalid("{\"inheritable\":[7]}",
                   "process.capabilities.inheritable[0]: must be a string");
    expect_invalid("{\"bounds\":[]}", "process.capabilities.bounds: unknown field");
    expect_invalid("[]", "process.capabilities: must be an object");
}

struct caps_case {
    const char *json;
    uint64_t bnd, eff, prm, inh, amb;
};

static int
child_apply(void *arg)
{
    const struct caps_case *c = arg;
    json_t *j = c->json ? J(c->json) : NULL;
    struct kerr err = KERR_INIT;
    if (rt_caps_apply(j, &err) < 0) {
        fprintf(stderr, "apply: %s\n", err.msg);
        return 10;
    }
    json_decref(j);
    uint64_t v;
    const struct {
        const char *field;
        uint64_t want;
    } checks[] = {
        { "CapBnd", c->bnd }, { "CapEff", c->eff }, { "CapPrm", c->prm },
        { "CapInh", c->inh }, { "CapAmb", c->amb },
    };
    for (size_t i = 0; i < sizeof(checks) / sizeof(checks[0]); i++) {
        if (status_hex(checks[i].field, &v) < 0)
            return 20;
        if (v != checks[i].want) {
            fprintf(stderr, "%s = %016" PRIx64 ", want %016" PRIx64 "\n", checks[i].field, v,
                    checks[i].want);
            return 21 + (int)i;
        }
    }
    return 0;
}

static void
test_apply_sets(void **state)
{
    (void)state;
    if (geteuid() != 0)
        skip();
    const struct caps_case c = {
        .json = "{\"bounding\":[\"CAP_CHOWN\",\"CAP_NET_BIND_SERVICE\",\"CAP_KILL\"],"
                "\"effective\":[\"CAP_CHOWN\"],"
                "\"permitted\":[\"CAP_CHOWN\",\"CAP_NET_BIND_SERVICE\"],"
                "\"inheritable\":[\"CAP_NET_BIND_SERVICE\"],"
                "\"ambient\":[\"CAP_NET_BIND_SERVICE\"]}",
        .bnd = BIT(CAP_CHOWN) | BIT(CAP_NET_BIND_SERVICE) | BIT(CAP_KILL),
        .eff = BIT(CAP_CHOWN),
        .prm = BIT(CAP_CHOWN) | BIT(CAP_NET_BIND_SERVICE),
        .inh = BIT(CAP_NET_BIND_SERVICE),
        .amb = BIT(CAP_NET_BIND_SERVICE),
    };
    int st = in_child(child_apply, (void *)&c);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
}

static void
test_apply_drop_all(void **state)
{
    (void)state;
    if (geteuid() != 0)
        skip();
    const struct caps_case none = { .json = "{}" };
    int st = in_child(child_apply, (void *)&none);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
    const struct caps_case null = { .json = NULL };
    st = in_child(child_apply, (void *)&null);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
}

/* After setresuid to a non-root uid with PR_SET_KEEPCAPS the effective set
 * is empty; rt_caps_apply must still be able to drop the bounding set. */
static int
child_after_setuid(void *arg)
{
    (void)arg;
    if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0 || setresgid(1000, 1000, 1000) < 0 ||
        setresuid(1000, 1000, 1000) < 0)
        return 30;
    const struct caps_case c = {
        .json = "{\"bounding\":[\"CAP_NET_BIND_SERVICE\"],"
                "\"effective\":[\"CAP_NET_BIND_SERVICE\"],"
                "\"permitted\":[\"CAP_NET_BIND_SERVICE\"],"
                "\"inheritable\":[\"CAP_NET_BIND_SERVICE\"],"
                "\"ambient\":[\"CAP_NET_BIND_SERVICE\"]}",
        .bnd = BIT(CAP_NET_BIND_SERVICE),
        .eff = BIT(CAP_NET_BIND_SERVICE),
        .prm = BIT(CAP_NET_BIND_SERVICE),
        .inh = BIT(CAP_NET_BIND_SERVICE),
        .amb = BIT(CAP_NET_BIND_SERVICE),
    };
    return child_apply((void *)&c);
}

static void
test_apply_after_setuid(void **state)
{
    (void)state;
    if (geteuid() != 0)
        skip();
    int st = in_child(child_after_setuid, NULL);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
}

static int
child_bad_ambient(void *arg)
{
    (void)arg;
    json_t *j = J("{\"bounding\":[\"CAP_KILL\"],\"permitted\":[\"CAP_KILL\"],"
                  "\"ambient\":[\"CAP_KILL\"]}");
    struct kerr err = KERR_INIT;
    int r = rt_caps_apply(j, &err);
    json_decref(j);
    if (r != -EPERM)
        return 10;
    if (!strstr(err.msg, "process.capabilities.ambient: raise CAP_KILL"))
        return 11;
    return 0;
}

static void
test_apply_ambient_needs_inheritable(void **state)
{
    (void)state;
    if (geteuid() != 0)
        skip();
    int st = in_child(child_bad_ambient, NULL);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_validate),
        cmocka_unit_test(test_apply_sets),
        cmocka_unit_test(test_apply_drop_all),
        cmocka_unit_test(test_apply_after_setuid),
        cmocka_unit_test(test_apply_ambient_needs_inheritable),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
