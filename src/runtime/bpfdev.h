/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cgroup v2 device rules as a BPF_PROG_TYPE_CGROUP_DEVICE program, built by
 * hand from OCI linux.resources.devices rules (as runc and crun do) and
 * attached to the container's cgroup2 directory. Used by cgroup.c.
 */
#ifndef KUMO_RUNTIME_BPFDEV_H
#define KUMO_RUNTIME_BPFDEV_H

#include <linux/bpf.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kerr.h"

/* Access bits, the kernel's BPF_DEVCG_ACC_* values. */
#define BPFDEV_MKNOD 1u
#define BPFDEV_READ  2u
#define BPFDEV_WRITE 4u
#define BPFDEV_ALL   (BPFDEV_MKNOD | BPFDEV_READ | BPFDEV_WRITE)

/* Most rules one program holds (each is at most 12 instructions). */
#define BPFDEV_MAX_RULES 256

struct bpfdev_rule {
    char type;       /* 'a' (any, ignores major/minor/access), 'b' or 'c' */
    int64_t major;   /* -1 = any */
    int64_t minor;   /* -1 = any */
    unsigned access; /* BPFDEV_* bits */
    bool allow;
};

/*
 * Assemble the program: the last rule matching a device wins, per access bit
 * (a request for "rw" needs both bits allowed by their last matching rule);
 * nothing matching is denied. Returns a new array (free()) in *ret and its
 * length in *ret_n; -EINVAL for a bad rule, -E2BIG past BPFDEV_MAX_RULES,
 * -ENOMEM.
 */
int bpfdev_assemble(const struct bpfdev_rule *rules, size_t n, struct bpf_insn **ret,
                    size_t *ret_n);

/* Load a program with the verifier; returns a new CLOEXEC fd or -errno (log in err). */
int bpfdev_load(const struct bpf_insn *insns, size_t n, struct kerr *err);

/*
 * IDs of the device programs attached to cgroup directory fd cgfd (at most
 * cap). *ret_n is the number attached, which may exceed cap.
 */
int bpfdev_query(int cgfd, uint32_t *ids, size_t cap, size_t *ret_n, struct kerr *err);

/*
 * Replace the device programs on cgroup directory cgfd by one built from the
 * rules: the new program is attached (BPF_F_ALLOW_MULTI) before the old ones
 * are detached, so the cgroup is never unfiltered. Borrows cgfd.
 */
int bpfdev_install(int cgfd, const struct bpfdev_rule *rules, size_t n, struct kerr *err);

#endif
