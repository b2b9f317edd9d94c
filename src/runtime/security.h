/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Security pieces of the container runtime: seccomp filters, capability
 * sets, Landlock and the hardening of the `sandbox` execution type.
 *
 * Every json_t argument is BORROWED: the functions never take a reference
 * and never keep a pointer after they return (rt_sandbox_harden edits the
 * object it is given in place). Errors are -errno with a struct kerr naming
 * the offending field, e.g. "linux.seccomp.syscalls[3].action: unknown
 * action 'SCMP_ACT_FOO'". Nothing here logs.
 *
 * Where each call belongs in `create`:
 *
 *   parent, before any fork:
 *       rt_sandbox_harden(config)            (no-op unless org.kumo.type=sandbox)
 *       rt_caps_validate(process.capabilities)
 *       rt_seccomp_validate(linux.seccomp)
 *   exec, parent: rt_sandbox_harden_process(config, process)
 *   container init (and exec child), after pivot_root/setns, mounts, hostname, sysctls:
 *       rt_sandbox_enter(config)             (no-op unless sandbox)
 *       setgroups/setresgid/setresuid with PR_SET_KEEPCAPS set before
 *       rt_caps_apply(process.capabilities)
 *       prctl(PR_SET_NO_NEW_PRIVS) when process.noNewPrivileges
 *       rt_seccomp_load(linux.seccomp)       (last, right before execve)
 */
#ifndef KUMO_RUNTIME_SECURITY_H
#define KUMO_RUNTIME_SECURITY_H

#include <stdbool.h>

#include <jansson.h>

#include "kerr.h"

/* Annotations read or written by the sandbox hardening. */
#define RT_ANNOT_TYPE             "org.kumo.type"
#define RT_ANNOT_SANDBOX_LANDLOCK "org.kumo.sandbox.landlock"
#define RT_ANNOT_SANDBOX_SECCOMP  "org.kumo.sandbox.seccomp"
#define RT_ANNOT_SANDBOX_IDBASE   "org.kumo.sandbox.idbase"

/* Default first host uid/gid of a sandbox's 65536-id user namespace range. */
#define RT_SANDBOX_IDBASE_DEFAULT 100000u
#define RT_SANDBOX_IDRANGE        65536u

/*
 * Check an OCI `linux.seccomp` object without loading it: types, actions,
 * operators, architectures, flags, argument indices. NULL (absent) is valid.
 * Syscall names unknown to libseccomp are accepted (they are skipped at load
 * time, as runc does). A valid profile is also compiled once and its BPF
 * program kept in a small per-process cache (8 profiles, thread-safe), so
 * that rt_seccomp_load in a child forked afterwards only hands it to the
 * kernel: call it in the parent before forking. 0 or -EINVAL.
 */
int rt_seccomp_validate(json_t *seccomp, struct kerr *err);

/*
 * Build the filter described by `linux.seccomp` and load it into the calling
 * process (all threads with the TSYNC flag). NULL is a no-op. Call it in the
 * container init as the very last step before execve: from then on the
 * filter governs every syscall, including the init's own.
 *
 * The kernel accepts a filter only from a process with no_new_privs set or
 * CAP_SYS_ADMIN in its user namespace; this function never sets
 * no_new_privs itself (that is process.noNewPrivileges' job). When the
 * container keeps no_new_privs off and drops CAP_SYS_ADMIN, call it before
 * rt_caps_apply, as runc does. Returns 0, -EINVAL (bad spec) or -errno of
 * the load (-EACCES in the case above).
 */
int rt_seccomp_load(json_t *linux_seccomp, struct kerr *err);

/*
 * Check an OCI `process.capabilities` object: five optional arrays of
 * "CAP_*" strings. An unknown name is an error naming it; a name libcap
 * knows but the running kernel lacks is accepted (and skipped when applied).
 * NULL is valid. 0 or -EINVAL.
 */
int rt_caps_validate(json_t *caps, struct kerr *err);

/*
 * Apply `process.capabilities` to the calling process: drop from the
 * bounding set everything not listed (PR_CAPBSET_DROP, needs CAP_SETPCAP,
 * which it raises from the permitted set first), set effective, permitted
 * and inheritable, then clear and raise the ambient set. A missing set means
 * empty; a NULL object means "drop everything". Call it in the container
 * init after the uid/gid switch (with PR_SET_KEEPCAPS set before setresuid
 * so the permitted set survives it) and before execve. 0 or -errno.
 */
int rt_caps_apply(json_t *process_capabilities, struct kerr *err);

/*
 * Confine the calling process and its future children with a Landlock
 * ruleset: read and execute beneath every ro_paths entry, full access except
 * creating device nodes beneath every rw_paths entry, nothing elsewhere.
 * Both lists are NULL-terminated arrays (either may be NULL); entries that
 * do not exist are skipped. On ABI >= 6 it also scopes signals and abstract
 * Unix sockets to the domain. Sets no_new_privs (Landlock requires it).
 * Call it in the container init after pivot_root and the last mount.
 *
 * Returns 0, -EOPNOTSUPP when the kernel has no Landlock (not built, or
 * disabled at boot) so the caller decides whether that is fatal (kerr is
 * filled with the reason either way), or another -errno.
 */
int rt_landlock_apply(const char *const *rw_paths, const char *const *ro_paths, struct kerr *err);

/* Landlock ABI version of the running kernel, or -EOPNOTSUPP. */
int rt_landlock_abi(void);

/* True when the config's annotation org.kumo.type is "sandbox". */
bool rt_config_is_sandbox(json_t *config);

/*
 * For a sandbox config (see docs/sandbox.md), rewrite the OCI config in
 * place before the runtime acts on it: user namespace with an unprivileged
 * mapping (base from annotation org.kumo.sandbox.idbase, default 100000),
 * private mount/pid/ipc/uts/cgroup namespaces, no capabilities,
 * noNewPrivileges, readonly root, masked and readonly /proc paths, no
 * cgroupfs mounts, the kumo seccomp profile (in linux.seccomp, or in the
 * annotation org.kumo.sandbox.seccomp when the spec brings its own filter,
 * so both are stacked), and the Landlock path lists in the annotation
 * org.kumo.sandbox.landlock. Idempotent. A non-sandbox config is left alone
 * (returns 0). Call it in the parent right after parsing, before
 * validation. 0, -EINVAL (a spec that cannot be sandboxed, e.g. a mapping
 * to host uid 0) or -ENOMEM.
 */
int rt_sandbox_harden(json_t *config, struct kerr *err);

/*
 * For `exec` into a sandbox: force the extra process's OCI `process` object
 * (borrowed, edited in place) to no capabilities and noNewPrivileges, as
 * rt_sandbox_harden did for the container's own process. Call it in the
 * parent before validating the process; in the exec child, call
 * rt_sandbox_enter(config) after joining the namespaces and chdir, before
 * the uid switch, so the extra process gets the same Landlock domain rules
 * and stacked filter. No-op (0) unless config is a sandbox. 0 or -ENOMEM /
 * -EINVAL (process is not an object).
 */
int rt_sandbox_harden_process(json_t *config, json_t *process, struct kerr *err);

/*
 * In the container init of a sandbox, after pivot_root and the last mount
 * and before rt_caps_apply: set no_new_privs, apply the Landlock lists
 * recorded by rt_sandbox_harden (a kernel without Landlock is tolerated:
 * the other layers still hold, see docs/sandbox.md) and load the stacked
 * kumo seccomp filter when the spec had its own. No-op for other configs.
 * Afterwards the process can no longer open, by path, anything outside the
 * container's tree or write outside its writable mounts (fds opened before
 * keep working): open host files such as exec.fifo before calling it.
 * 0 or -errno.
 */
int rt_sandbox_enter(json_t *config, struct kerr *err);

#endif
