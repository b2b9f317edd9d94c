/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kumo container library: OCI runtime-spec bundles run as Linux containers
 * (namespaces, cgroups v1/v2/hybrid, pivot_root, hooks, seccomp, caps).
 *
 * Two ways to use it:
 *   - the kumo-runtime CLI (runc/crun compatible, for containerd) calls the
 *     verb functions below, one process per verb, like runc;
 *   - kumod calls it in-process: rt_container_create() returns a handle that
 *     keeps a sync socket to the blocked container init, so
 *     rt_container_start() is one write(2) plus a state file update.
 *
 * Containers live under a state root (default RT_DEFAULT_ROOT), one
 * directory per id holding state.json, a copy of config.json and the
 * exec.fifo that blocks a created container until start. Any process may
 * operate on any container of the root; the state on disk is the truth.
 *
 * Every function returns >= 0 on success or -errno, filling err (if not
 * NULL) with a message naming what failed. Functions block only on the
 * kernel and on hooks (bounded by their timeouts). Not async-signal-safe;
 * callable from any thread, but one thread must not create containers while
 * another forks without exec (the create path uses per-thread setns).
 */
#ifndef KUMO_RUNTIME_RUNTIME_H
#define KUMO_RUNTIME_RUNTIME_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct kerr;

#define RT_DEFAULT_ROOT  "/run/kumo-runtime"
#define RT_OCI_VERSION   "1.1.0"
#define RT_ID_MAX        1024
#define RT_CONFIG_MAX    (16u << 20) /* bytes of config.json we accept */
#define RT_ANNOT_TYPE    "org.kumo.type"
#define RT_CGROUP_PREFIX "kumo" /* default cgroup: kumo/<id> */

/* OCI status, plus RT_STATUS_PAUSED (runc's extension). */
enum rt_status {
    RT_STATUS_CREATING = 0,
    RT_STATUS_CREATED,
    RT_STATUS_RUNNING,
    RT_STATUS_STOPPED,
    RT_STATUS_PAUSED,
};

const char *rt_status_name(enum rt_status s);

/* Options of create/run. Zero-initialise; all fields optional. */
struct rt_create_opts {
    const char *pid_file;       /* write the init's pid here */
    const char *console_socket; /* AF_UNIX path: receives the pty master (SCM_RIGHTS) */
    /* Or an already connected socket for the master (borrowed), if has_console_fd. */
    bool has_console_fd;
    int console_fd;
    bool no_pivot;       /* MS_MOVE + chroot instead of pivot_root */
    bool no_new_keyring; /* accepted for runc compatibility; no-op */
    /*
     * Inherit our stdin/stdout/stderr (CLI); when false the container's
     * stdio is /dev/null unless fds below are set.
     */
    bool inherit_stdio;
    bool set_stdio; /* give stdio_fds (borrowed) to the container as 0/1/2 */
    int stdio_fds[3];
    int preserve_fds; /* pass fds 3 .. 3+N-1 on to the container process */
    /*
     * run: the init goes on to execve as soon as it is set up, without
     * exec.fifo or a start round trip; rt_container_start() then only runs
     * the poststart hooks.
     */
    bool start_now;
};

/* A container handle. Opaque; rt_container_free() releases it (the container lives on). */
struct rt_container;

/*
 * Create container id from the bundle directory (config.json + rootfs): all
 * namespaces, mounts, cgroups and createRuntime/createContainer hooks are
 * done; the init is blocked before execve until start. On failure nothing
 * is left (no cgroup, mount, state dir, process). *ret_c gets a handle
 * (free with rt_container_free) if ret_c is not NULL.
 */
int rt_container_create(const char *root, const char *id, const char *bundle,
                        const struct rt_create_opts *opts, struct rt_container **ret_c,
                        struct kerr *err);

/*
 * Open an existing container by id (reads state.json). Returns -ENOENT with
 * err "container 'x' does not exist" when absent.
 */
int rt_container_open(const char *root, const char *id, struct rt_container **ret_c,
                      struct kerr *err);

/* Release the handle (NULL ok). Does not touch the container. Returns NULL. */
struct rt_container *rt_container_free(struct rt_container *c);

/* Let the created container run its process (startContainer + poststart hooks). */
int rt_container_start(struct rt_container *c, struct kerr *err);

/* Current status and the init's pid (0 when stopped/unknown). */
int rt_container_status(struct rt_container *c, enum rt_status *ret_status, pid_t *ret_pid);

/* OCI state JSON (new reference, json_decref). */
int rt_container_state_json(struct rt_container *c, json_t **ret, struct kerr *err);

/* Signal the init (all=false) or every process of the container's cgroup. */
int rt_container_kill(struct rt_container *c, int sig, bool all, struct kerr *err);

/*
 * Delete: refuses a running container unless force (then SIGKILLs it and
 * everything in its cgroup), removes the cgroup, runs poststop hooks and
 * removes the state dir. Works on half-created containers of a crashed
 * runtime. The handle stays valid only for rt_container_free().
 */
int rt_container_delete(struct rt_container *c, bool force, struct kerr *err);

/* Wait for the init to exit if it is our child; returns its exit status (128+sig if killed). */
int rt_container_wait(struct rt_container *c, int *ret_exit, struct kerr *err);

/* Tell the handle its init was reaped by the caller (e.g. a SIGCHLD loop). */
void rt_container_mark_exited(struct rt_container *c);

/* Freeze / thaw every process of the container (freezer cgroup). */
int rt_container_pause(struct rt_container *c, struct kerr *err);
int rt_container_resume(struct rt_container *c, struct kerr *err);

/* Apply OCI linux.resources (borrowed) to the container's cgroup. */
int rt_container_update(struct rt_container *c, json_t *resources, struct kerr *err);

/* Pids of every process in the container's cgroup (new array, free()). */
int rt_container_pids(struct rt_container *c, pid_t **ret_pids, size_t *ret_n, struct kerr *err);

/* The container's config.json as created (sandbox hardening applied); borrowed. */
json_t *rt_container_config(struct rt_container *c, struct kerr *err);

pid_t rt_container_pid(const struct rt_container *c);
const char *rt_container_id(const struct rt_container *c);
const char *rt_container_bundle(const struct rt_container *c);

/* Options of exec. */
struct rt_exec_opts {
    const char *pid_file;
    const char *console_socket;
    bool has_console_fd; /* as in rt_create_opts */
    int console_fd;
    bool detach;        /* return once the process was exec'd */
    bool inherit_stdio; /* as in rt_create_opts */
    int preserve_fds;   /* as in rt_create_opts */
};

/*
 * Run an extra process in the container. process is an OCI "process"
 * object (borrowed). Foreground: *ret_exit gets its exit status; detached:
 * *ret_pid gets its pid. Either pointer may be NULL.
 */
int rt_container_exec(struct rt_container *c, json_t *process, const struct rt_exec_opts *opts,
                      pid_t *ret_pid, int *ret_exit, struct kerr *err);

/* Ids of every container under root (new array of new strings; free each and the array). */
int rt_list(const char *root, char ***ret_ids, size_t *ret_n, struct kerr *err);

/* Check a container id: [A-Za-z0-9_.+-], 1..RT_ID_MAX chars, not "." or "..". */
int rt_id_validate(const char *id, struct kerr *err);

/* Default config.json (like `runc spec`), new reference. rootless: user ns + mappings for uid. */
json_t *rt_spec_default(bool rootless);

/* Runtime features document (runtime-spec features.md), new reference. */
json_t *rt_features(void);

/*
 * Parse and validate a config.json text without acting on it (used by the
 * fuzz target and tests). Errors name the field: "process.args: expected an
 * array of strings". Returns 0 or -EINVAL.
 */
int rt_spec_check(const char *text, size_t len, struct kerr *err);

#endif
