/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The cgroup v2 device program assembler (bpfdev.c): the program's shape,
 * its meaning (run by a small interpreter of the instructions it uses, since
 * BPF_PROG_TEST_RUN does not support BPF_PROG_TYPE_CGROUP_DEVICE), and, as
 * root, that the kernel's verifier accepts it and it attaches to and detaches
 * from a cgroup2 directory. The kernel parts skip without root or cgroup2.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <cmocka.h>

#include "bpfdev.h"
#include "kerr.h"

#define R BPFDEV_READ
#define W BPFDEV_WRITE
#define M BPFDEV_MKNOD

/* Run the program on one request: the subset of eBPF the assembler emits. */
static int
run(const struct bpf_insn *p, size_t n, char type, unsigned major, unsigned minor, unsigned access)
{
    uint32_t ctx[3] = { (access << 16) | (type == 'b' ? BPF_DEVCG_DEV_BLOCK : BPF_DEVCG_DEV_CHAR),
                        major, minor };
    uint64_t reg[11] = { 0 };
    for (size_t pc = 0; pc < n; pc++) {
        const struct bpf_insn *i = &p[pc];
        uint64_t *d = &reg[i->dst_reg];
        uint32_t k = (uint32_t)i->imm;
        switch (i->code) {
        case BPF_LDX | BPF_MEM | BPF_W:
            assert_int_equal(i->src_reg, 1);
            assert_true(i->off >= 0 && i->off <= 8 && i->off % 4 == 0);
            *d = ctx[i->off / 4];
            break;
        case BPF_ALU | BPF_AND | BPF_K:
            *d = (uint32_t)*d & k;
            break;
        case BPF_ALU | BPF_RSH | BPF_K:
            *d = (uint32_t)*d >> k;
            break;
        case BPF_ALU | BPF_MOV | BPF_K:
            *d = k;
            break;
        case BPF_ALU | BPF_MOV | BPF_X:
            *d = (uint32_t)reg[i->src_reg];
            break;
        case BPF_ALU64 | BPF_MOV | BPF_X:
            *d = reg[i->src_reg];
            break;
        case BPF_JMP32 | BPF_JNE | BPF_K:
            if ((uint32_t)*d != k)
                pc += (size_t)i->off;
            break;
        case BPF_JMP32 | BPF_JEQ | BPF_K:
            if ((uint32_t)*d == k)
                pc += (size_t)i->off;
            break;
        case BPF_JMP | BPF_EXIT:
            return (int)reg[0];
        default:
            fail_msg("unexpected opcode 0x%x at %zu", i->code, pc);
        }
        assert_true(i->code == (BPF_JMP | BPF_EXIT) || pc + 1 < n);
    }
    fail_msg("ran off the end");
    return -1;
}

struct prog {
    struct bpf_insn *insns;
    size_t n;
};

static struct prog
assemble(const struct bpfdev_rule *rules, size_t n)
{
    struct prog p = { 0 };
    assert_int_equal(bpfdev_assemble(rules, n, &p.insns, &p.n), 0);
    return p;
}

/* runc's defaults after a deny-all, as cgroup.c builds them. */
static const struct bpfdev_rule base[] = {
    { 'a', -1, -1, 0, false },      { 'c', 1, 3, R | W | M, true },
    { 'c', 1, 5, R | W | M, true }, { 'c', 136, -1, R | W | M, true },
    { 'c', 5, 2, R | W | M, true },
};

static void
test_empty_denies(void **state)
{
    (void)state;
    struct prog p = assemble(NULL, 0);
    assert_int_equal(p.n, 9);
    assert_int_equal(run(p.insns, p.n, 'c', 1, 3, R), 0);
    free(p.insns);
}

static void
test_defaults(void **state)
{
    (void)state;
    struct prog p = assemble(base, sizeof(base) / sizeof(base[0]));
    assert_int_equal(run(p.insns, p.n, 'c', 1, 3, R | W), 1);
    assert_int_equal(run(p.insns, p.n, 'c', 1, 5, M), 1);
    assert_int_equal(run(p.insns, p.n, 'c', 136, 7, R | W), 1);
    assert_int_equal(run(p.insns, p.n, 'c', 136, 0, M), 1);
    assert_int_equal(run(p.insns, p.n, 'c', 1, 1, R), 0);
    assert_int_equal(run(p.insns, p.n, 'c', 1, 1, M), 0);
    assert_int_equal(run(p.insns, p.n, 'b', 1, 3, R), 0); /* type matters */
    assert_int_equal(run(p.insns, p.n, 'b', 8, 0, M), 0);
    assert_int_equal(run(p.insns, p.n, 'c', 5, 1, R), 0);
    free(p.insns);
}

static void
test_last_match_per_bit(void **state)
{
    (void)state;
    const struct bpfdev_rule rules[] = {
        { 'a', -1, -1, 0, false }, { 'c', 1, 1, R | W, true }, { 'c', 1, 1, W, false },
        { 'c', 1, -1, M, true },   { 'b', -1, -1, R, true },
    };
    struct prog p = assemble(rules, 5);
    assert_int_equal(run(p.insns, p.n, 'c', 1, 1, R), 1);
    assert_int_equal(run(p.insns, p.n, 'c', 1, 1, W), 0);
    assert_int_equal(run(p.insns, p.n, 'c', 1, 1, R | W), 0); /* one bit denied denies all */
    assert_int_equal(run(p.insns, p.n, 'c', 1, 1, M), 1);
    assert_int_equal(run(p.insns, p.n, 'c', 1, 9, M), 1);
    assert_int_equal(run(p.insns, p.n, 'c', 1, 9, R), 0);
    assert_int_equal(run(p.insns, p.n, 'b', 259, 3, R), 1);
    assert_int_equal(run(p.insns, p.n, 'b', 259, 3, R | W), 0);
    free(p.insns);

    /* An 'a' allow after everything opens all; a deny-all after it closes all again. */
    const struct bpfdev_rule open_all[] = { { 'c', 1, 1, W, false }, { 'a', -1, -1, 0, true } };
    p = assemble(open_all, 2);
    assert_int_equal(run(p.insns, p.n, 'c', 1, 1, W), 1);
    assert_int_equal(run(p.insns, p.n, 'b', 8, 0, R | W | M), 1);
    free(p.insns);
    const struct bpfdev_rule close_all[] = { { 'a', -1, -1, 0, true }, { 'a', -1, -1, 0, false } };
    p = assemble(close_all, 2);
    assert_int_equal(run(p.insns, p.n, 'c', 1, 3, R), 0);
    free(p.insns);
}

static void
test_bad_rules(void **state)
{
    (void)state;
    struct bpf_insn *insns = NULL;
    size_t n = 0;
    const struct bpfdev_rule bad_type = { 'x', 1, 1, R, true };
    const struct bpfdev_rule bad_access = { 'c', 1, 1, 8, true };
    const struct bpfdev_rule bad_major = { 'c', (int64_t)1 << 32, 1, R, true };
    assert_int_equal(bpfdev_assemble(&bad_type, 1, &insns, &n), -EINVAL);
    assert_int_equal(bpfdev_assemble(&bad_access, 1, &insns, &n), -EINVAL);
    assert_int_equal(bpfdev_assemble(&bad_major, 1, &insns, &n), -EINVAL);
    assert_int_equal(bpfdev_assemble(base, BPFDEV_MAX_RULES + 1, &insns, &n), -E2BIG);
    assert_null(insns);
}

/* The verifier accepts the largest program we build. */
static void
test_verifier_accepts(void **state)
{
    (void)state;
    if (geteuid() != 0)
        skip();
    struct bpfdev_rule *rules = calloc(BPFDEV_MAX_RULES, sizeof(*rules));
    assert_non_null(rules);
    for (size_t i = 0; i < BPFDEV_MAX_RULES; i++)
        rules[i] = (struct bpfdev_rule){ i % 3 ? 'c' : 'b', (int64_t)i, i % 2 ? -1 : (int64_t)i,
                                         (unsigned)(i % 7) + 1, i % 2 == 0 };
    struct prog p = assemble(rules, BPFDEV_MAX_RULES);
    struct kerr err = KERR_INIT;
    int fd = bpfdev_load(p.insns, p.n, &err);
    assert_true(fd >= 0);
    close(fd);
    /* A broken program is refused with the verifier's words in the error. */
    p.insns[p.n - 1].code = BPF_JMP | BPF_JA;
    fd = bpfdev_load(p.insns, p.n, &err);
    assert_true(fd < 0);
    assert_non_null(strstr(err.msg, "verifier"));
    free(p.insns);
    free(rules);
}

static const char *
cg2_root(void)
{
    struct statfs sf;
    if (statfs("/sys/fs/cgroup/unified", &sf) == 0 && sf.f_type == 0x63677270)
        return "/sys/fs/cgroup/unified";
    if (statfs("/sys/fs/cgroup", &sf) == 0 && sf.f_type == 0x63677270)
        return "/sys/fs/cgroup";
    return NULL;
}

/* install attaches one program and an install over it leaves one (a new one). */
static void
test_install_replaces(void **state)
{
    (void)state;
    const char *root = cg2_root();
    if (geteuid() != 0 || !root)
        skip();
    char dir[256];
    snprintf(dir, sizeof(dir), "%s/kumo-test-bpfdev-%d", root, (int)getpid());
    assert_int_equal(mkdir(dir, 0755), 0);
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    struct kerr err = KERR_INIT;
    uint32_t a[4], b[4];
    size_t na = 0, nb = 0;
    int r1 = fd >= 0 ? bpfdev_install(fd, base, 5, &err) : -1;
    int q1 = fd >= 0 ? bpfdev_query(fd, a, 4, &na, &err) : -1;
    int r2 = fd >= 0 ? bpfdev_install(fd, base, 3, &err) : -1;
    int q2 = fd >= 0 ? bpfdev_query(fd, b, 4, &nb, &err) : -1;
    if (fd >= 0)
        close(fd);
    /* rmdir frees the attached programs; do it before any assertion can fail. */
    assert_int_equal(rmdir(dir), 0);
    assert_int_equal(r1, 0);
    assert_int_equal(q1, 0);
    assert_int_equal(na, 1);
    assert_int_equal(r2, 0);
    assert_int_equal(q2, 0);
    assert_int_equal(nb, 1);
    assert_int_not_equal(a[0], b[0]);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty_denies),       cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_last_match_per_bit), cmocka_unit_test(test_bad_rules),
        cmocka_unit_test(test_verifier_accepts),   cmocka_unit_test(test_install_replaces),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
