/* SPDX-License-Identifier: Apache-2.0 */
/*
 * seccomp allowlist for k2i's HTTP process, applied once everything is set
 * up (listeners, threads, TLS): from then on it can only do what serving
 * requests needs — read /proc and /etc (user names), talk on its sockets,
 * manage memory and its own threads. Anything else kills the process
 * (and, through the parent, the daemon), which is loud on purpose.
 */
#ifndef KUMO_K2I_SANDBOX_H
#define KUMO_K2I_SANDBOX_H

struct kerr;

/* Load the filter into every thread of the calling process. 0 or -errno. */
int sandbox_apply(struct kerr *err);

#endif
