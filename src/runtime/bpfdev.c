/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cgroup v2 device filtering. v2 has no devices.allow/deny files: the kernel
 * asks a BPF_PROG_TYPE_CGROUP_DEVICE program attached to the cgroup (and to
 * each ancestor, all of which must allow). We assemble that program from the
 * OCI rules with raw instructions and load and attach it with bpf(2), so no
 * libbpf is needed. Called by cgroup.c from create and update; no state.
 *
 * Program shape (ctx is struct bpf_cgroup_dev_ctx):
 *   r2 = device type (low 16 bits), r3 = requested access (high 16 bits),
 *   r4 = major, r5 = minor, r6 = access bits not yet allowed;
 *   then one block per rule, the last rule first: when type/major/minor
 *   match and the rule covers one of the bits in r6, a deny rule returns 0
 *   and an allow rule clears its bits from r6, returning 1 once r6 is empty;
 *   the end returns 0. This gives each access bit its last matching rule,
 *   which is what the v1 devices controller does with the same rule list.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "bpfdev.h"
#include "cleanup.h"
#include "kerr.h"
#include "util.h"

#define INSN(c, d, s, o, i) \
    ((struct bpf_insn){ .code = (c), .dst_reg = (d), .src_reg = (s), .off = (o), .imm = (i) })
#define LDX_W(d, s, o)       INSN(BPF_LDX | BPF_MEM | BPF_W, d, s, o, 0)
#define ALU32_K(op, d, k)    INSN(BPF_ALU | (op) | BPF_K, d, 0, 0, k)
#define MOV64_X(d, s)        INSN(BPF_ALU64 | BPF_MOV | BPF_X, d, s, 0, 0)
#define MOV32_X(d, s)        INSN(BPF_ALU | BPF_MOV | BPF_X, d, s, 0, 0)
#define JMP32_K(op, d, k, o) INSN(BPF_JMP32 | (op) | BPF_K, d, 0, o, k)
#define EXIT_INSN()          INSN(BPF_JMP | BPF_EXIT, 0, 0, 0, 0)

/* Longest block one rule assembles to. */
#define BLOCK_MAX 10
#define PROLOGUE  7

static long
sys_bpf(int cmd, union bpf_attr *attr)
{
    return syscall(SYS_bpf, cmd, attr, sizeof(*attr));
}

static bool
rule_valid(const struct bpfdev_rule *r)
{
    if (r->type == 'a')
        return true;
    return (r->type == 'b' || r->type == 'c') && r->major >= -1 && r->major <= UINT32_MAX &&
           r->minor >= -1 && r->minor <= UINT32_MAX && r->access && !(r->access & ~BPFDEV_ALL);
}

int
bpfdev_assemble(const struct bpfdev_rule *rules, size_t n, struct bpf_insn **ret, size_t *ret_n)
{
    if (n > BPFDEV_MAX_RULES)
        return -E2BIG;
    for (size_t i = 0; i < n; i++)
        if (!rule_valid(&rules[i]))
            return -EINVAL;
    struct bpf_insn *p = calloc(PROLOGUE + n * BLOCK_MAX + 2, sizeof(*p));
    if (!p)
        return -ENOMEM;
    size_t k = 0;
    p[k++] = LDX_W(2, 1, 0);
    p[k++] = ALU32_K(BPF_AND, 2, 0xffff);
    p[k++] = LDX_W(3, 1, 0);
    p[k++] = ALU32_K(BPF_RSH, 3, 16);
    p[k++] = LDX_W(4, 1, 4);
    p[k++] = LDX_W(5, 1, 8);
    p[k++] = MOV64_X(6, 3);
    for (size_t i = n; i-- > 0;) {
        const struct bpfdev_rule *r = &rules[i];
        size_t start = k;
        unsigned acc = r->type == 'a' ? BPFDEV_ALL : r->access;
        /* Jumps to the next block get off = -1 here and are patched below. */
        if (r->type != 'a') {
            p[k++] =
                JMP32_K(BPF_JNE, 2, r->type == 'b' ? BPF_DEVCG_DEV_BLOCK : BPF_DEVCG_DEV_CHAR, -1);
            if (r->major >= 0)
                p[k++] = JMP32_K(BPF_JNE, 4, (int32_t)(uint32_t)r->major, -1);
            if (r->minor >= 0)
                p[k++] = JMP32_K(BPF_JNE, 5, (int32_t)(uint32_t)r->minor, -1);
        }
        p[k++] = MOV32_X(0, 6);
        p[k++] = ALU32_K(BPF_AND, 0, (int32_t)acc);
        p[k++] = JMP32_K(BPF_JEQ, 0, 0, -1);
        if (r->allow) {
            p[k++] = ALU32_K(BPF_AND, 6, (int32_t)~acc);
            p[k++] = JMP32_K(BPF_JNE, 6, 0, -1);
            p[k++] = ALU32_K(BPF_MOV, 0, 1);
        } else {
            p[k++] = ALU32_K(BPF_MOV, 0, 0);
        }
        p[k++] = EXIT_INSN();
        for (size_t j = start; j < k; j++)
            if (BPF_CLASS(p[j].code) == BPF_JMP32 && p[j].off == -1)
                p[j].off = (int16_t)(k - j - 1);
    }
    p[k++] = ALU32_K(BPF_MOV, 0, 0);
    p[k++] = EXIT_INSN();
    *ret = p;
    *ret_n = k;
    return 0;
}

int
bpfdev_load(const struct bpf_insn *insns, size_t n, struct kerr *err)
{
    char log[4096];
    union bpf_attr attr;
    memset(&attr, 0, sizeof(attr));
    attr.prog_type = BPF_PROG_TYPE_CGROUP_DEVICE;
    attr.insns = (uint64_t)(uintptr_t)insns;
    attr.insn_cnt = (uint32_t)n;
    attr.license = (uint64_t)(uintptr_t) "Apache-2.0";
    int fd = (int)sys_bpf(BPF_PROG_LOAD, &attr);
    if (fd >= 0)
        return fd;
    int e = errno;
    if (e != EINVAL && e != EACCES)
        return kerr_set(err, e, "bpf: load device program");
    /* Load again with a log so the error says what the verifier refused. */
    log[0] = '\0';
    attr.log_buf = (uint64_t)(uintptr_t)log;
    attr.log_size = sizeof(log);
    attr.log_level = 1;
    fd = (int)sys_bpf(BPF_PROG_LOAD, &attr);
    if (fd >= 0)
        return fd;
    e = errno;
    size_t len = strlen(log);
    while (len && log[len - 1] == '\n')
        log[--len] = '\0';
    const char *last = strrchr(log, '\n');
    return kerr_set(err, e, "bpf: load device program (verifier: %s)", last ? last + 1 : log);
}

int
bpfdev_query(int cgfd, uint32_t *ids, size_t cap, size_t *ret_n, struct kerr *err)
{
    union bpf_attr attr;
    memset(&attr, 0, sizeof(attr));
    attr.query.target_fd = (uint32_t)cgfd;
    attr.query.attach_type = BPF_CGROUP_DEVICE;
    attr.query.prog_ids = (uint64_t)(uintptr_t)ids;
    attr.query.prog_cnt = (uint32_t)cap;
    if (sys_bpf(BPF_PROG_QUERY, &attr) < 0 && errno != ENOSPC)
        return kerr_set(err, errno, "bpf: query device programs");
    *ret_n = attr.query.prog_cnt;
    return 0;
}

static int
detach_id(int cgfd, uint32_t id, struct kerr *err)
{
    union bpf_attr attr;
    memset(&attr, 0, sizeof(attr));
    attr.prog_id = id;
    cleanup_close int fd = (int)sys_bpf(BPF_PROG_GET_FD_BY_ID, &attr);
    if (fd < 0)
        return errno == ENOENT ? 0 : kerr_set(err, errno, "bpf: open device program %u", id);
    memset(&attr, 0, sizeof(attr));
    attr.target_fd = (uint32_t)cgfd;
    attr.attach_bpf_fd = (uint32_t)fd;
    attr.attach_type = BPF_CGROUP_DEVICE;
    if (sys_bpf(BPF_PROG_DETACH, &attr) < 0 && errno != ENOENT)
        return kerr_set(err, errno, "bpf: detach device program %u", id);
    return 0;
}

int
bpfdev_install(int cgfd, const struct bpfdev_rule *rules, size_t n, struct kerr *err)
{
    uint32_t old[64];
    size_t n_old = 0;
    cleanup_free struct bpf_insn *insns = NULL;
    size_t n_insns;
    int r = bpfdev_assemble(rules, n, &insns, &n_insns);
    if (r < 0)
        return kerr_setf(err, -r, "bpf: %zu device rules cannot be assembled", n);
    if ((r = bpfdev_query(cgfd, old, ARRAY_SIZE(old), &n_old, err)) < 0)
        return r;
    if (n_old > ARRAY_SIZE(old))
        return kerr_setf(err, E2BIG, "bpf: %zu device programs already attached", n_old);
    cleanup_close int fd = bpfdev_load(insns, n_insns, err);
    if (fd < 0)
        return fd;
    union bpf_attr attr;
    memset(&attr, 0, sizeof(attr));
    attr.target_fd = (uint32_t)cgfd;
    attr.attach_bpf_fd = (uint32_t)fd;
    attr.attach_type = BPF_CGROUP_DEVICE;
    attr.attach_flags = BPF_F_ALLOW_MULTI;
    if (sys_bpf(BPF_PROG_ATTACH, &attr) < 0)
        return kerr_set(err, errno, "bpf: attach device program");
    for (size_t i = 0; i < n_old; i++)
        if ((r = detach_id(cgfd, old[i], err)) < 0)
            return r;
    return 0;
}
