/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Internals shared by the modules of the container library: the parsed
 * spec (spec.c), cgroups (cgroup.c), the container init (linux.c), hooks
 * (hooks.c) and the lifecycle (container.c). Not part of the public API.
 */
#ifndef KUMO_RUNTIME_INTERNAL_H
#define KUMO_RUNTIME_INTERNAL_H

#include <jansson.h>
#include <sched.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/types.h>

#include "bpfdev.h"
#include "runtime.h"

struct kerr;

#define RT_MAX_NS      8
#define RT_MAX_IDMAPS  340  /* kernel limit of uid_map lines */
#define RT_MAX_ITEMS   4096 /* mounts, devices, paths, args, env entries */
#define RT_MAX_RLIMITS 16

struct rt_ns {
    int flag;         /* CLONE_NEW* */
    const char *path; /* join this namespace (borrowed from the json), NULL = new */
};

struct rt_idmap {
    uint32_t container_id, host_id, size;
};

struct rt_mount {
    const char *destination;
    const char *source; /* may be NULL */
    const char *type;   /* may be NULL */
    unsigned long flags;
    unsigned long propagation; /* MS_SHARED/... (| MS_REC) or 0 */
    unsigned long clear_flags; /* flags to clear on remount, e.g. "rw" after "ro" */
    char *data;                /* comma-joined fs options, owned */
    bool bind;
    /* "rro", "rnosuid"...: MOUNT_ATTR_* for mount_setattr(AT_RECURSIVE) after mounting. */
    uint64_t rec_set, rec_clear;
    /* "idmap"/"ridmap": an idmapped bind mount, prepared by the runtime (mountattr.c). */
    bool idmap, idmap_recursive;
    struct rt_idmap *uid_maps, *gid_maps; /* the mount's own mappings (owned), or none */
    size_t n_uid_maps, n_gid_maps;
};

struct rt_device {
    const char *path;
    char type; /* 'c', 'b', 'u', 'p' */
    int64_t major, minor;
    mode_t mode;
    bool has_mode;
    uid_t uid;
    gid_t gid;
    bool has_uid, has_gid;
};

struct rt_rlimit {
    int resource;
    rlim_t soft, hard;
};

/* process.scheduler, as sched_setattr(2) takes it. */
struct rt_sched {
    uint32_t policy;
    int32_t nice;
    uint32_t priority;
    uint64_t flags;
    uint64_t runtime_nsec, deadline_nsec, period_nsec;
};

struct rt_process {
    bool terminal;
    uid_t uid;
    gid_t gid;
    gid_t *gids; /* additionalGids, owned */
    size_t n_gids;
    bool has_umask;
    mode_t umask;
    char **args; /* NULL-terminated, strings borrowed from the json */
    char **env;  /* NULL-terminated, borrowed strings */
    const char *cwd;
    struct rt_rlimit rlimits[RT_MAX_RLIMITS];
    size_t n_rlimits;
    json_t *capabilities; /* borrowed, may be NULL */
    bool no_new_privileges;
    bool has_oom_score_adj;
    int oom_score_adj;
    int console_width, console_height;
    bool has_sched;
    struct rt_sched sched;
    bool has_ioprio;
    int ioprio; /* IOPRIO_PRIO_VALUE(class, level) for ioprio_set(2) */
    /*
     * execCPUAffinity, for exec'd processes only (the spec: not for the
     * init): the affinity while the process joins the container, and the one
     * it execs with. An empty or absent list is "not set".
     */
    bool has_cpu_initial, has_cpu_final;
    cpu_set_t cpu_initial, cpu_final;
};

/* The config.json we act on; pointers borrow from json (kept alive in here). */
struct rt_spec {
    json_t *json; /* owned reference */
    char *rootfs; /* absolute, owned */
    bool readonly;
    const char *hostname, *domainname;
    struct rt_process process;
    struct rt_mount *mounts;
    size_t n_mounts;
    struct rt_ns ns[RT_MAX_NS];
    size_t n_ns;
    int new_ns_flags; /* CLONE_NEW* of namespaces to create */
    struct rt_idmap uid_maps[RT_MAX_IDMAPS], gid_maps[RT_MAX_IDMAPS];
    size_t n_uid_maps, n_gid_maps;
    struct rt_device *devices;
    size_t n_devices;
    json_t *sysctl;      /* borrowed object or NULL */
    json_t *resources;   /* borrowed linux.resources or NULL */
    json_t *seccomp;     /* borrowed linux.seccomp or NULL */
    json_t *hooks;       /* borrowed hooks or NULL */
    json_t *annotations; /* borrowed or NULL */
    json_t *time_offsets;
    const char **masked_paths;
    size_t n_masked;
    const char **readonly_paths;
    size_t n_readonly;
    unsigned long rootfs_propagation; /* default MS_SLAVE|MS_REC */
    const char *cgroups_path;
    const char *mount_label;
    bool has_personality;
    unsigned long personality; /* linux.personality for personality(2) */
    bool sandbox;              /* annotation org.kumo.type=sandbox */
};

/* spec.c */
int spec__parse(json_t *json, const char *bundle, struct rt_spec *ret, struct kerr *err);
int spec__load(const char *bundle, struct rt_spec *ret, struct kerr *err);
void spec__free(struct rt_spec *s);
int spec__parse_process(json_t *proc, struct rt_process *ret, bool need_args, struct kerr *err);
void spec__free_process(struct rt_process *p);
/*
 * A Linux CPU list ("0-3,7", as in cpuset.cpus) into *ret; a trailing
 * newline is allowed (kernel files end in one). Every CPU must be below
 * CPU_SETSIZE; "" is an empty set. Errors name where: "<where>: bad CPU list
 * '3-1'".
 */
int spec__parse_cpu_list(const char *list, const char *where, cpu_set_t *ret, struct kerr *err);
int spec__mount_options(json_t *options, const char *where, struct rt_mount *m, struct kerr *err);
/*
 * linux.personality of a config (lin may be NULL): *ret_has false when it is
 * not set. Used by spec__parse and by exec, which reads the container's config.
 */
int spec__parse_personality(json_t *lin, bool *ret_has, unsigned long *ret, struct kerr *err);

/* cgroup.c */
enum rt_cg_mode {
    RT_CG_V1 = 1,
    RT_CG_V2,
    RT_CG_HYBRID,
};

#define RT_CG_MAX_HIER 16

struct rt_cgroup {
    enum rt_cg_mode mode;
    char path[512]; /* relative to each hierarchy's root, no leading '/' */
    /* Hierarchies the container joins: mount point + controller names. */
    size_t n;
    struct {
        char mnt[128];
        char ctrls[128]; /* "memory", "cpu,cpuacct", "" for v2/unified */
        bool v2;
    } h[RT_CG_MAX_HIER];
    /*
     * Device rules collected for the cgroup2 BPF program, in order (spec
     * rules, runc's defaults, the spec's devices); dev_filter once the spec
     * has rules, as only then is a program attached.
     */
    size_t n_dev;
    bool dev_filter;
    /*
     * On hybrid hosts the v1 devices controller already enforces the rules;
     * the cgroup2 program is attached too only when the container asks
     * (annotation org.kumo.cgroup2-devices=always), since loading it costs
     * about a millisecond per start.
     */
    bool v2_devices_on_hybrid;
    /*
     * For update: the container's linux.devices (borrowed JSON array), which
     * a replaced cgroup2 program must keep allowing after the defaults.
     */
    json_t *spec_devices;
    struct bpfdev_rule dev[BPFDEV_MAX_RULES];
};

int cgroup__detect(struct rt_cgroup *cg, const char *path, struct kerr *err);
/* mkdir every level; for v1 cpuset copy cpus/mems. Returns 0/-errno, rolls back on failure. */
int cgroup__create(struct rt_cgroup *cg, struct kerr *err);
int cgroup__apply(struct rt_cgroup *cg, json_t *resources, bool update, struct kerr *err);
/* Open the cgroup.procs files to join (fds CLOEXEC, written by the child). */
int cgroup__open_procs(struct rt_cgroup *cg, int *fds, size_t cap, size_t *ret_n, int *ret_v2_dirfd,
                       struct kerr *err);
int cgroup__allow_device(struct rt_cgroup *cg, char type, int64_t major, int64_t minor,
                         struct kerr *err);
/*
 * Attach the collected device rules as a BPF program to the container's
 * cgroup2 directory (pure v2 and hybrid hosts), replacing any program there,
 * when the spec had device rules; a no-op otherwise.
 */
int cgroup__commit_devices(struct rt_cgroup *cg, struct kerr *err);
int cgroup__destroy(struct rt_cgroup *cg, struct kerr *err);
int cgroup__kill_all(struct rt_cgroup *cg, int sig);
int cgroup__pids(struct rt_cgroup *cg, pid_t **ret, size_t *ret_n);
int cgroup__freeze(struct rt_cgroup *cg, bool freeze, struct kerr *err);
int cgroup__is_frozen(struct rt_cgroup *cg);
enum rt_cg_mode cgroup__mode(void);
/*
 * The CPUs the cpuset of the container's cgroup allows (its effective list,
 * "0-3\n") into buf. -ENOENT when no cpuset controller is available.
 */
int cgroup__effective_cpus(const struct rt_cgroup *cg, char *buf, size_t cap);

/* hooks.c: run every hook of hooks.<name> with the state JSON on stdin. */
int hooks__run(json_t *hooks, const char *name, const char *state_json, struct kerr *err);
bool hooks__has(json_t *hooks, const char *name);
/* OCI state JSON text (new string, free()). */
char *hooks__state(const char *id, const char *status, pid_t pid, const char *bundle,
                   json_t *annotations);

/*
 * idmap.c: for every idmapped mount of s (and with all_binds, every bind
 * mount), a detached clone of its source (with the idmap set, if asked), as
 * an fd (O_CLOEXEC) in *ret_fds[i] (-1 for other mounts); *ret_fds is NULL
 * when s has none. Runs in the runtime before clone3; the init attaches the
 * trees. Free with idmap__close_mounts.
 */
int idmap__prepare_mounts(const struct rt_spec *s, const char *bundle, bool all_binds,
                          int **ret_fds, struct kerr *err);
/*
 * A detached recursive clone of s->rootfs (open_tree), as a new fd
 * (O_CLOEXEC), for an init that cannot reach the bundle by path. Errors name
 * root.path.
 */
int idmap__open_rootfs(const struct rt_spec *s, struct kerr *err);
/* Close and free what idmap__prepare_mounts returned (NULL is fine); returns NULL. */
int *idmap__close_mounts(int *fds, size_t n);

/* linux.c: the container init. */
struct rt_init_args {
    struct rt_spec *spec;
    const char *id;
    int sync_fd;    /* socket to the parent */
    int fifo_fd;    /* exec.fifo opened O_RDONLY|O_NONBLOCK, or -1 */
    int console_fd; /* connected console socket or -1 */
    int cg_fds[RT_CG_MAX_HIER];
    size_t n_cg_fds;
    bool no_pivot;
    bool need_userns_sync;
    bool unshare_cgroupns; /* cgroup ns is created after joining the cgroup */
    bool hooks_sync;       /* parent runs createRuntime hooks before pivot */
    int stdio[3];          /* -1 = keep */
    int mntns_fd, userns_fd;
    struct rt_cgroup *cg; /* for cgroup mounts; may be NULL */
    bool cgroupns;        /* the container has its own cgroup namespace */
    const char *bundle;   /* chdir here first: relative paths are bundle-relative */
    char *hook_state;     /* state JSON for in-container hooks, built by the child */
    int preserve_fds;     /* fds 3..3+N-1 survive execve */
    bool start_now;       /* do not wait for start (run) */
    pid_t parent_pid;     /* the runtime that cloned us (outside our pid ns: 0) */
    int *mount_fds;       /* per mount: prepared tree to attach or -1; NULL = none */
    /*
     * The rootfs as a detached tree opened by the runtime (user-namespaced
     * containers), attached by the init instead of a bind by path; or -1.
     */
    int root_tree_fd;
};

/* Runs in the cloned child; never returns. */
__attribute__((noreturn)) void linux__init(struct rt_init_args *a);

/* Shared helpers (linux.c). */
int linux__sync_send(int fd, char tag, int code, const char *msg);
int linux__sync_recv(int fd, char *ret_tag, int *ret_code, char *msg, size_t cap, int timeout_ms);
int linux__write_idmaps(pid_t pid, const struct rt_spec *s, struct kerr *err);
int linux__send_fd(int sock, int fd);
int linux__open_pty(int *ret_master, int *ret_slave, struct kerr *err);
int linux__setup_user(const struct rt_process *p, struct kerr *err);
int linux__resolve_exe(const struct rt_process *p, char *buf, size_t cap, struct kerr *err);
void linux__reset_signals(void);
void linux__preserve_fds(int n);
int linux__finalize_process(const struct rt_process *p, json_t *seccomp, struct kerr *err);
/*
 * personality(2) (NULL: leave it), ioprio_set(2) and sched_setattr(2) of
 * the calling process, from linux.personality and p. Errors name the field.
 */
int linux__apply_process_attrs(const struct rt_process *p, const unsigned long *personality,
                               struct kerr *err);

/* proc helpers (container.c) */
uint64_t rt__proc_starttime(pid_t pid);

#endif
