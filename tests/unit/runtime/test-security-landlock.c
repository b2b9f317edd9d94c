/* SPDX-License-Identifier: Apache-2.0 */
/*
 * rt_landlock_apply in a forked child: writes beneath a writable path work,
 * writes elsewhere (also through a directory fd opened before the ruleset)
 * fail with EACCES, reads beneath a read-only path work, devices cannot be
 * created even in a writable path. Skipped when the kernel lacks Landlock.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "security.h"
#include "test-security-util.h"

struct dirs {
    char base[64];
    char allowed[96];
    char denied[96];
    char missing[96];
};

static int
setup(void **state)
{
    struct dirs *d = calloc(1, sizeof(*d));
    if (!d)
        return -1;
    *state = d;
    snprintf(d->base, sizeof(d->base), "/tmp/kumo-ll-XXXXXX");
    if (!mkdtemp(d->base))
        return -1;
    snprintf(d->allowed, sizeof(d->allowed), "%s/allowed", d->base);
    snprintf(d->denied, sizeof(d->denied), "%s/denied", d->base);
    snprintf(d->missing, sizeof(d->missing), "%s/missing", d->base);
    if (mkdir(d->allowed, 0755) < 0 || mkdir(d->denied, 0755) < 0)
        return -1;
    return 0;
}

static int
teardown(void **state)
{
    struct dirs *d = *state;
    if (!d)
        return 0;
    char cmd[160];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", d->base);
    if (system(cmd) != 0)
        return -1;
    free(d);
    return 0;
}

static int
try_create(const char *dir, const char *name)
{
    char p[160];
    snprintf(p, sizeof(p), "%s/%s", dir, name);
    int fd = open(p, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0)
        return -errno;
    close(fd);
    return 0;
}

static int
child_confined(void *arg)
{
    const struct dirs *d = arg;
    int leaked = open(d->denied, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (leaked < 0)
        return 9;
    const char *rw[] = { d->allowed, d->missing, NULL };
    const char *ro[] = { "/", NULL };
    struct kerr err = KERR_INIT;
    if (rt_landlock_apply(rw, ro, &err) < 0) {
        fprintf(stderr, "landlock: %s\n", err.msg);
        return 10;
    }
    if (try_create(d->allowed, "ok") != 0)
        return 11;
    if (try_create(d->denied, "no") != -EACCES)
        return 12;
    /* A directory fd opened before the ruleset does not carry rights. */
    int fd = openat(leaked, "no2", O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    if (fd >= 0 || errno != EACCES)
        return 13;
    /* Read-only beneath "/": reading works, writing does not. */
    fd = open("/etc/passwd", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 14;
    close(fd);
    if (try_create("/tmp", "kumo-ll-nope") != -EACCES)
        return 15;
    /* Device nodes stay impossible, even where writing is allowed. */
    char dev[160];
    snprintf(dev, sizeof(dev), "%s/null", d->allowed);
    if (mknod(dev, S_IFCHR | 0666, makedev(1, 3)) == 0 || errno != EACCES)
        return 16;
    long nnp = 0;
    if (status_int("NoNewPrivs", &nnp) < 0 || nnp != 1)
        return 17;
    return 0;
}

static void
test_confined(void **state)
{
    if (rt_landlock_abi() < 0)
        skip();
    int st = in_child(child_confined, *state);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
}

static void
test_abi(void **state)
{
    (void)state;
    int abi = rt_landlock_abi();
    assert_true(abi >= 1 || abi == -EOPNOTSUPP);
}

static int
child_bad_path(void *arg)
{
    (void)arg;
    const char *ro[] = { "/proc/self/fd/999999/x", NULL };
    struct kerr err = KERR_INIT;
    int r = rt_landlock_apply(NULL, ro, &err);
    /* ENOTDIR/ENOENT are both acceptable kernel answers; ENOENT is skipped. */
    if (r == 0)
        return 0;
    return strstr(err.msg, "landlock: open read-only path") ? 0 : 10;
}

static void
test_bad_path_named(void **state)
{
    (void)state;
    if (rt_landlock_abi() < 0)
        skip();
    int st = in_child(child_bad_path, NULL);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
}

/*
 * A kernel without Landlock answers landlock_create_ruleset with ENOSYS (not
 * built) or EOPNOTSUPP (disabled at boot). A seccomp filter in a child fakes
 * both, so the fallback is tested on any kernel.
 */
static int
child_no_landlock(void *arg)
{
    int fake = *(int *)arg;
    char text[256];
    snprintf(text, sizeof(text),
             "{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":[{\"names\":"
             "[\"landlock_create_ruleset\"],\"action\":\"SCMP_ACT_ERRNO\",\"errnoRet\":%d}]}",
             fake);
    json_t *j = J(text);
    struct kerr err = KERR_INIT;
    prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
    if (rt_seccomp_load(j, &err) < 0)
        return 10;
    json_decref(j);
    if (rt_landlock_abi() != -EOPNOTSUPP)
        return 11;
    const char *ro[] = { "/", NULL };
    if (rt_landlock_apply(NULL, ro, &err) != -EOPNOTSUPP)
        return 12;
    if (!strstr(err.msg, "landlock: not available"))
        return 13;
    /* Nothing was confined. */
    int fd = open("/tmp", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return 14;
    close(fd);
    return 0;
}

static void
test_no_landlock(void **state)
{
    (void)state;
    int fakes[] = { ENOSYS, EOPNOTSUPP };
    for (size_t i = 0; i < 2; i++) {
        int st = in_child(child_no_landlock, &fakes[i]);
        assert_true(WIFEXITED(st));
        assert_int_equal(WEXITSTATUS(st), 0);
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_abi),
        cmocka_unit_test_setup_teardown(test_confined, setup, teardown),
        cmocka_unit_test(test_bad_path_named),
        cmocka_unit_test(test_no_landlock),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
