/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Privilege separation for k2i, OpenBSD style. The daemon starts as root,
 * binds its listeners and reads its config and TLS key, then forks:
 *
 *   parent (root)      keeps /proc open and waits on a socketpair for typed,
 *                      fixed-size requests: SIGNAL, ENVIRON (answered with an
 *                      fd of /proc/PID/environ), NS (namespace inodes of up
 *                      to 64 pids). It re-checks the bearer token and its
 *                      scope against the token hashes, validates every pid
 *                      and signal, applies the signal policy, and acts.
 *   child (nobody)     no supplementary groups, no capabilities (bounding
 *                      set emptied), no_new_privs; parses HTTP and serves
 *                      everything it can read itself (stat, status, cmdline,
 *                      cgroup are world-readable), asking the parent only for
 *                      the root-only parts.
 *
 * Without root (or with privsep off) the same request handler runs
 * in-process behind the same interface, so policy lives in one place.
 */
#ifndef KUMO_K2I_PRIVSEP_H
#define KUMO_K2I_PRIVSEP_H

#include "api.h"
#include "k2i.h"
#include "procfs.h"

#include <stdint.h>
#include <sys/types.h>

enum priv_type {
    PRIV_SIGNAL = 1,
    PRIV_ENVIRON = 2,
    PRIV_NS = 3,
};

/* Child -> parent. Every message has exactly this size. */
struct priv_req {
    uint32_t type;
    int32_t signo;
    uint32_t count;
    int32_t ids[PRIVOPS_NS_BATCH];
    char token[K2I_TOKEN_MAX + 1];
};

/* Parent -> child; ENVIRON success carries an fd (SCM_RIGHTS). */
struct priv_resp {
    int32_t status; /* HTTP status: 200 or 4xx/5xx */
    uint32_t count;
    char msg[API_MSG_MAX];
    uint64_t ns[PRIVOPS_NS_BATCH][PROCFS_NS_COUNT];
};

/* What the privileged side needs to decide. */
struct priv_state {
    const struct k2i_config *cfg;
    int procfd;
    pid_t self_pids[2]; /* never signalled: parent and child (0 = unused) */
};

/*
 * Validate and perform one request. Returns nothing; resp->status says the
 * outcome. For ENVIRON success *ret_fd is an fd the caller passes on and
 * closes (else -1). Used by the parent loop and by the in-process ops.
 */
void priv_handle(const struct priv_state *ps, const struct priv_req *req, struct priv_resp *resp,
                 int *ret_fd);

/* The in-process privops (no privsep): ctx is a struct priv_state. */
extern const struct k2i_privops priv_direct_ops;

/* The child's privops: ctx is a struct priv_client. */
struct priv_client {
    int fd; /* our end of the socketpair */
    pthread_mutex_t lock;
};
extern const struct k2i_privops priv_client_ops;

/*
 * Parent loop: serve requests on fd until the child exits or a
 * SIGTERM/SIGINT (delivered through sigfd, a signalfd) asks us to stop, in
 * which case the child gets SIGTERM and is reaped. Returns the exit status
 * for the daemon (0 when the child exited cleanly).
 */
int priv_parent_loop(const struct priv_state *ps, int fd, int sigfd, pid_t child);

/*
 * Drop to uid/gid: no supplementary groups, empty capability bounding set,
 * no_new_privs, not dumpable. Returns 0 or -errno with err set.
 */
int priv_drop(uid_t uid, gid_t gid, struct kerr *err);

#endif
