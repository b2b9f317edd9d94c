/* SPDX-License-Identifier: Apache-2.0 */
/*
 * config.json parsing and validation (OCI runtime-spec 1.x). Every object
 * we know is checked for unknown keys and every value for its type, so a
 * typo fails loudly with the field's path ("linux.namespaces[2].type:
 * unknown namespace 'netwrk'") instead of being ignored. The parsed struct
 * borrows strings from the json, which it keeps a reference to.
 * Called by container.c on the caller's thread; no global state.
 */
#include <errno.h>
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/personality.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cleanup.h"
#include "internal.h"
#include "kerr.h"
#include "sbuf.h"

#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080
#endif
/* <linux/sched.h> clashes with glibc's <sched.h>; these are its uapi values. */
#ifndef SCHED_FLAG_RESET_ON_FORK
#define SCHED_FLAG_RESET_ON_FORK 0x01
#define SCHED_FLAG_RECLAIM       0x02
#define SCHED_FLAG_DL_OVERRUN    0x04
#define SCHED_FLAG_KEEP_POLICY   0x08
#define SCHED_FLAG_KEEP_PARAMS   0x10
#endif

/*
 * Known keys per object. Vendor extensions live in annotations; anything
 * else in these objects is a mistake we report.
 */
static const char *const keys_top[] = { "ociVersion", "process", "root",    "hostname",
                                        "domainname", "mounts",  "hooks",   "annotations",
                                        "linux",      "vm",      "solaris", "windows",
                                        "zos",        NULL };
static const char *const keys_root[] = { "path", "readonly", NULL };
static const char *const keys_process[] = { "terminal",
                                            "consoleSize",
                                            "cwd",
                                            "env",
                                            "args",
                                            "commandLine",
                                            "rlimits",
                                            "apparmorProfile",
                                            "capabilities",
                                            "noNewPrivileges",
                                            "oomScoreAdj",
                                            "selinuxLabel",
                                            "user",
                                            "scheduler",
                                            "ioPriority",
                                            "execCPUAffinity",
                                            NULL };
static const char *const keys_cpu_affinity[] = { "initial", "final", NULL };
static const char *const keys_user[] = {
    "uid", "gid", "umask", "additionalGids", "username", NULL
};
static const char *const keys_mount[] = { "destination", "source",      "type", "options",
                                          "uidMappings", "gidMappings", NULL };
static const char *const keys_linux[] = {
    "namespaces",        "uidMappings", "gidMappings",   "timeOffsets", "devices",
    "cgroupsPath",       "resources",   "unified",       "sysctl",      "seccomp",
    "rootfsPropagation", "maskedPaths", "readonlyPaths", "mountLabel",  "intelRdt",
    "personality",       NULL
};
static const char *const keys_ns[] = { "type", "path", NULL };
static const char *const keys_idmap[] = { "containerID", "hostID", "size", NULL };
static const char *const keys_device[] = { "type",     "path", "major", "minor",
                                           "fileMode", "uid",  "gid",   NULL };
static const char *const keys_rlimit[] = { "type", "soft", "hard", NULL };
static const char *const keys_hook[] = { "path", "args", "env", "timeout", NULL };
static const char *const keys_hooks[] = {
    "prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop", NULL
};
static const char *const keys_caps[] = { "bounding",  "effective", "inheritable",
                                         "permitted", "ambient",   NULL };
static const char *const keys_resources[] = { "devices", "memory",  "cpu",
                                              "pids",    "blockIO", "hugepageLimits",
                                              "network", "rdma",    "unified",
                                              NULL };

static int
check_keys(json_t *obj, const char *where, const char *const *allowed, struct kerr *err)
{
    const char *key;
    json_t *v;
    json_object_foreach (obj, key, v) {
        bool ok = false;
        for (size_t i = 0; allowed[i]; i++) {
            if (strcmp(key, allowed[i]) == 0) {
                ok = true;
                break;
            }
        }
        if (!ok)
            return kerr_setf(err, EINVAL, "%s%s%s: unknown field", where, *where ? "." : "", key);
    }
    return 0;
}

/* Fetch obj[key] and check its JSON type; absent is fine (NULL). */
static int
get_typed(json_t *obj, const char *where, const char *key, json_type type, json_t **ret,
          struct kerr *err)
{
    static const char *const names[] = { "an object", "an array",  "a string",  "an integer",
                                         "a number",  "a boolean", "a boolean", "null" };
    json_t *v = json_object_get(obj, key);
    *ret = NULL;
    if (!v || json_is_null(v))
        return 0;
    bool ok = json_typeof(v) == type ||
              (type == JSON_TRUE && (json_is_true(v) || json_is_false(v))) ||
              (type == JSON_REAL && json_is_number(v));
    if (!ok)
        return kerr_setf(err, EINVAL, "%s%s%s: expected %s", where, *where ? "." : "", key,
                         names[type]);
    *ret = v;
    return 0;
}

static int
get_str(json_t *obj, const char *where, const char *key, const char **ret, struct kerr *err)
{
    json_t *v;
    int r = get_typed(obj, where, key, JSON_STRING, &v, err);
    if (r < 0)
        return r;
    *ret = v ? json_string_value(v) : NULL;
    if (*ret && strlen(*ret) != json_string_length(v))
        return kerr_setf(err, EINVAL, "%s.%s: string contains a NUL byte", where, key);
    return 0;
}

static int
get_bool(json_t *obj, const char *where, const char *key, bool *ret, struct kerr *err)
{
    json_t *v;
    int r = get_typed(obj, where, key, JSON_TRUE, &v, err);
    if (r < 0)
        return r;
    *ret = v ? json_is_true(v) : false;
    return 0;
}

static int
get_int(json_t *obj, const char *where, const char *key, int64_t min, int64_t max, bool *has,
        int64_t *ret, struct kerr *err)
{
    json_t *v;
    int r = get_typed(obj, where, key, JSON_INTEGER, &v, err);
    if (r < 0)
        return r;
    if (has)
        *has = v != NULL;
    if (!v)
        return 0;
    json_int_t x = json_integer_value(v);
    if (x < min || x > max)
        return kerr_setf(err, ERANGE, "%s.%s: %lld out of range [%lld, %lld]", where, key,
                         (long long)x, (long long)min, (long long)max);
    *ret = x;
    return 0;
}

/* A NULL-terminated vector of the strings of an array (borrowed). */
static int
get_strv(json_t *obj, const char *where, const char *key, char ***ret, size_t *ret_n,
         struct kerr *err)
{
    json_t *arr, *v;
    size_t i;
    int r = get_typed(obj, where, key, JSON_ARRAY, &arr, err);
    if (r < 0)
        return r;
    *ret = NULL;
    if (ret_n)
        *ret_n = 0;
    if (!arr)
        return 0;
    size_t n = json_array_size(arr);
    if (n > RT_MAX_ITEMS)
        return kerr_setf(err, E2BIG, "%s.%s: more than %d entries", where, key, RT_MAX_ITEMS);
    char **vec = calloc(n + 1, sizeof(char *));
    if (!vec)
        return kerr_set(err, ENOMEM, "%s.%s", where, key);
    json_array_foreach (arr, i, v) {
        if (!json_is_string(v) || strlen(json_string_value(v)) != json_string_length(v)) {
            free(vec);
            return kerr_setf(err, EINVAL, "%s.%s[%zu]: expected a string", where, key, i);
        }
        vec[i] = (char *)json_string_value(v);
    }
    *ret = vec;
    if (ret_n)
        *ret_n = n;
    return 0;
}

/*
 * Fields we parse but do not implement: refusing them (when set) is better
 * than running a container that silently lacks what the spec asked for.
 */
static int
refuse_set(json_t *obj, const char *where, const char *key, struct kerr *err)
{
    json_t *v = json_object_get(obj, key);
    if (!v || json_is_null(v) || (json_is_string(v) && !*json_string_value(v)) ||
        (json_is_object(v) && json_object_size(v) == 0) ||
        (json_is_array(v) && json_array_size(v) == 0))
        return 0;
    return kerr_setf(err, ENOTSUP, "%s%s%s: not supported by kumo-runtime", where,
                     *where ? "." : "", key);
}

struct name_val {
    const char *name;
    int val;
};

static const struct name_val ns_names[] = {
    { "pid", CLONE_NEWPID },       { "network", CLONE_NEWNET }, { "mount", CLONE_NEWNS },
    { "ipc", CLONE_NEWIPC },       { "uts", CLONE_NEWUTS },     { "user", CLONE_NEWUSER },
    { "cgroup", CLONE_NEWCGROUP }, { "time", CLONE_NEWTIME },   { NULL, 0 },
};

static const struct name_val rlimit_names[] = {
    { "RLIMIT_AS", RLIMIT_AS },
    { "RLIMIT_CORE", RLIMIT_CORE },
    { "RLIMIT_CPU", RLIMIT_CPU },
    { "RLIMIT_DATA", RLIMIT_DATA },
    { "RLIMIT_FSIZE", RLIMIT_FSIZE },
    { "RLIMIT_LOCKS", RLIMIT_LOCKS },
    { "RLIMIT_MEMLOCK", RLIMIT_MEMLOCK },
    { "RLIMIT_MSGQUEUE", RLIMIT_MSGQUEUE },
    { "RLIMIT_NICE", RLIMIT_NICE },
    { "RLIMIT_NOFILE", RLIMIT_NOFILE },
    { "RLIMIT_NPROC", RLIMIT_NPROC },
    { "RLIMIT_RSS", RLIMIT_RSS },
    { "RLIMIT_RTPRIO", RLIMIT_RTPRIO },
    { "RLIMIT_RTTIME", RLIMIT_RTTIME },
    { "RLIMIT_SIGPENDING", RLIMIT_SIGPENDING },
    { "RLIMIT_STACK", RLIMIT_STACK },
    { NULL, 0 },
};

static const struct name_val *
lookup(const struct name_val *t, const char *name)
{
    for (; t->name; t++)
        if (strcmp(t->name, name) == 0)
            return t;
    return NULL;
}

static int
parse_caps(json_t *caps, const char *where, struct kerr *err)
{
    int r = check_keys(caps, where, keys_caps, err);
    if (r < 0)
        return r;
    for (size_t i = 0; keys_caps[i]; i++) {
        char **v = NULL;
        r = get_strv(caps, where, keys_caps[i], &v, NULL, err);
        if (r < 0)
            return r;
        for (size_t j = 0; v && v[j]; j++) {
            if (strncmp(v[j], "CAP_", 4) != 0) {
                r = kerr_setf(err, EINVAL, "%s.%s[%zu]: '%s' is not a capability name", where,
                              keys_caps[i], j, v[j]);
                free(v);
                return r;
            }
        }
        free(v);
    }
    return 0;
}

static const struct name_val sched_policies[] = {
    { "SCHED_OTHER", SCHED_OTHER },
    { "SCHED_FIFO", SCHED_FIFO },
    { "SCHED_RR", SCHED_RR },
    { "SCHED_BATCH", SCHED_BATCH },
    { "SCHED_IDLE", SCHED_IDLE },
    { "SCHED_DEADLINE", SCHED_DEADLINE },
    { NULL, 0 },
};

static const struct name_val sched_flag_names[] = {
    { "SCHED_FLAG_RESET_ON_FORK", SCHED_FLAG_RESET_ON_FORK },
    { "SCHED_FLAG_RECLAIM", SCHED_FLAG_RECLAIM },
    { "SCHED_FLAG_DL_OVERRUN", SCHED_FLAG_DL_OVERRUN },
    { "SCHED_FLAG_KEEP_POLICY", SCHED_FLAG_KEEP_POLICY },
    { "SCHED_FLAG_KEEP_PARAMS", SCHED_FLAG_KEEP_PARAMS },
    { NULL, 0 },
};

/*
 * process.scheduler. Checks what the kernel would refuse with a bare EINVAL
 * (priority outside the policy's range, deadline parameters out of order),
 * so the error names the field instead.
 */
static int
parse_scheduler(json_t *obj, struct rt_sched *ret, struct kerr *err)
{
    static const char *const keys[] = { "policy",  "nice",     "priority", "flags",
                                        "runtime", "deadline", "period",   NULL };
    const char *w = "process.scheduler";
    const char *policy;
    json_t *flags, *v;
    int64_t x;
    size_t i;
    int r;

    memset(ret, 0, sizeof(*ret));
    if ((r = check_keys(obj, w, keys, err)) < 0 ||
        (r = get_str(obj, w, "policy", &policy, err)) < 0)
        return r;
    if (!policy)
        return kerr_setf(err, EINVAL, "%s.policy: missing", w);
    const struct name_val *nv = lookup(sched_policies, policy);
    if (!nv && strcmp(policy, "SCHED_ISO") == 0)
        return kerr_setf(err, ENOTSUP, "%s.policy: 'SCHED_ISO' is not implemented by Linux", w);
    if (!nv)
        return kerr_setf(err, EINVAL, "%s.policy: unknown policy '%s'", w, policy);
    ret->policy = (uint32_t)nv->val;
    /* The kernel takes sched_nice for these two only; SCHED_IDLE would drop it silently. */
    bool fair = nv->val == SCHED_OTHER || nv->val == SCHED_BATCH;
    bool rt = nv->val == SCHED_FIFO || nv->val == SCHED_RR;
    bool dl = nv->val == SCHED_DEADLINE;

    x = 0;
    if ((r = get_int(obj, w, "nice", -20, 19, NULL, &x, err)) < 0)
        return r;
    if (x != 0 && !fair)
        return kerr_setf(err, EINVAL, "%s.nice: only SCHED_OTHER and SCHED_BATCH take one", w);
    ret->nice = (int32_t)x;
    x = 0;
    if ((r = get_int(obj, w, "priority", 0, 99, NULL, &x, err)) < 0)
        return r;
    if (rt && x == 0)
        return kerr_setf(err, EINVAL, "%s.priority: %s needs a priority in [1, 99]", w, policy);
    if (!rt && x != 0)
        return kerr_setf(err, EINVAL,
                         "%s.priority: must be 0 for %s (only SCHED_FIFO and SCHED_RR)", w, policy);
    ret->priority = (uint32_t)x;

    if ((r = get_typed(obj, w, "flags", JSON_ARRAY, &flags, err)) < 0)
        return r;
    json_array_foreach (flags, i, v) {
        const char *f = json_string_value(v);
        if (!f)
            return kerr_setf(err, EINVAL, "%s.flags[%zu]: expected a string", w, i);
        const struct name_val *fv = lookup(sched_flag_names, f);
        /*
         * The utilisation clamps need values the spec has no field for;
         * passing zeros would clamp the task to no capacity at all.
         */
        if (!fv && strncmp(f, "SCHED_FLAG_UTIL_CLAMP_", 22) == 0)
            return kerr_setf(err, ENOTSUP,
                             "%s.flags[%zu]: '%s' needs clamp values the spec cannot carry; not "
                             "supported by kumo-runtime",
                             w, i, f);
        if (!fv)
            return kerr_setf(err, EINVAL, "%s.flags[%zu]: unknown flag '%s'", w, i, f);
        ret->flags |= (uint64_t)fv->val;
    }

    static const char *const dl_keys[] = { "runtime", "deadline", "period" };
    uint64_t *dl_vals[] = { &ret->runtime_nsec, &ret->deadline_nsec, &ret->period_nsec };
    for (size_t k = 0; k < ARRAY_SIZE(dl_keys); k++) {
        bool has = false;
        x = 0;
        if ((r = get_int(obj, w, dl_keys[k], 0, INT64_MAX, &has, &x, err)) < 0)
            return r;
        if (x != 0 && !dl)
            return kerr_setf(err, EINVAL, "%s.%s: only SCHED_DEADLINE takes one", w, dl_keys[k]);
        *dl_vals[k] = (uint64_t)x;
    }
    if (dl) {
        /* The kernel's rules (sched_dl_overflow/__checkparam_dl): 0 < runtime <= deadline <=
         * period. */
        uint64_t period = ret->period_nsec ? ret->period_nsec : ret->deadline_nsec;
        if (ret->runtime_nsec < 1024)
            return kerr_setf(err, EINVAL, "%s.runtime: SCHED_DEADLINE needs at least 1024 ns", w);
        if (ret->deadline_nsec < ret->runtime_nsec)
            return kerr_setf(err, EINVAL, "%s.deadline: %llu is less than runtime %llu", w,
                             (unsigned long long)ret->deadline_nsec,
                             (unsigned long long)ret->runtime_nsec);
        if (period < ret->deadline_nsec)
            return kerr_setf(err, EINVAL, "%s.period: %llu is less than deadline %llu", w,
                             (unsigned long long)period, (unsigned long long)ret->deadline_nsec);
    }
    return 0;
}

static const struct name_val ioprio_classes[] = {
    { "IOPRIO_CLASS_RT", 1 },
    { "IOPRIO_CLASS_BE", 2 },
    { "IOPRIO_CLASS_IDLE", 3 },
    { NULL, 0 },
};

/* process.ioPriority: the value ioprio_set(2) takes, class << 13 | level. */
static int
parse_ioprio(json_t *obj, int *ret, struct kerr *err)
{
    static const char *const keys[] = { "class", "priority", NULL };
    const char *w = "process.ioPriority";
    const char *cls;
    int64_t level = 0;
    int r;

    if ((r = check_keys(obj, w, keys, err)) < 0 || (r = get_str(obj, w, "class", &cls, err)) < 0)
        return r;
    if (!cls)
        return kerr_setf(err, EINVAL, "%s.class: missing", w);
    const struct name_val *nv = lookup(ioprio_classes, cls);
    if (!nv)
        return kerr_setf(err, EINVAL, "%s.class: unknown class '%s'", w, cls);
    if ((r = get_int(obj, w, "priority", 0, 7, NULL, &level, err)) < 0)
        return r;
    *ret = nv->val << 13 | (int)level;
    return 0;
}

static const struct name_val personality_domains[] = {
    { "LINUX", PER_LINUX },
    { "LINUX32", PER_LINUX32 },
    { NULL, 0 },
};

int
spec__parse_personality(json_t *lin, bool *ret_has, unsigned long *ret, struct kerr *err)
{
    static const char *const keys[] = { "domain", "flags", NULL };
    const char *w = "linux.personality";
    const char *domain;
    json_t *obj, *flags;
    int r;

    if ((r = get_typed(lin, "linux", "personality", JSON_OBJECT, &obj, err)) < 0)
        return r;
    if (!obj) {
        *ret_has = false;
        return 0;
    }
    if ((r = check_keys(obj, w, keys, err)) < 0 ||
        (r = get_str(obj, w, "domain", &domain, err)) < 0)
        return r;
    if (!domain)
        return kerr_setf(err, EINVAL, "%s.domain: missing", w);
    const struct name_val *nv = lookup(personality_domains, domain);
    if (!nv)
        return kerr_setf(err, EINVAL, "%s.domain: unknown domain '%s' (LINUX, LINUX32)", w, domain);
    if ((r = get_typed(obj, w, "flags", JSON_ARRAY, &flags, err)) < 0)
        return r;
    /* The spec defines no flag values yet; one we do not know would be silently dropped. */
    if (json_array_size(flags) > 0) {
        json_t *f = json_array_get(flags, 0);
        return kerr_setf(err, EINVAL, "%s.flags[0]: unknown flag '%s' (the spec defines none)", w,
                         json_is_string(f) ? json_string_value(f) : "?");
    }
    *ret = (unsigned long)nv->val;
    *ret_has = true;
    return 0;
}

int
spec__parse_cpu_list(const char *list, const char *where, cpu_set_t *ret, struct kerr *err)
{
    cpu_set_t set;
    const char *p = list;
    CPU_ZERO(&set);
    if (*p == '\0' || strcmp(p, "\n") == 0) {
        *ret = set;
        return 0;
    }
    for (;;) {
        unsigned long lo, hi;
        char *end;
        /* strtoul would take signs and spaces: only digits start a number. */
        if (*p < '0' || *p > '9')
            goto bad;
        errno = 0;
        lo = hi = strtoul(p, &end, 10);
        if (errno)
            goto bad;
        p = end;
        if (*p == '-') {
            p++;
            if (*p < '0' || *p > '9')
                goto bad;
            errno = 0;
            hi = strtoul(p, &end, 10);
            if (errno)
                goto bad;
            p = end;
        }
        if (hi < lo)
            goto bad;
        if (hi >= CPU_SETSIZE)
            return kerr_setf(err, EINVAL, "%s: bad CPU list '%.64s': CPU %lu is not below %d",
                             where, list, hi, CPU_SETSIZE);
        for (unsigned long c = lo; c <= hi; c++)
            CPU_SET(c, &set);
        if (*p == ',') {
            p++;
            continue;
        }
        if (*p == '\0' || strcmp(p, "\n") == 0)
            break;
        goto bad;
    }
    *ret = set;
    return 0;
bad:
    return kerr_setf(err, EINVAL, "%s: bad CPU list '%.64s'", where, list);
}

/* One list of process.execCPUAffinity; *ret_has false when absent or "". */
static int
parse_cpu_affinity_list(json_t *aff, const char *key, bool *ret_has, cpu_set_t *ret,
                        struct kerr *err)
{
    char where[64];
    const char *list = NULL;
    snprintf(where, sizeof(where), "process.execCPUAffinity.%s", key);
    int r = get_str(aff, "process.execCPUAffinity", key, &list, err);
    if (r < 0)
        return r;
    *ret_has = false;
    if (!list || !*list)
        return 0;
    if ((r = spec__parse_cpu_list(list, where, ret, err)) < 0)
        return r;
    *ret_has = true;
    return 0;
}

void
spec__free_process(struct rt_process *p)
{
    free(p->gids);
    free(p->args);
    free(p->env);
    memset(p, 0, sizeof(*p));
}

int
spec__parse_process(json_t *proc, struct rt_process *p, bool need_args, struct kerr *err)
{
    const char *w = "process";
    json_t *user, *rl, *v, *caps, *cs;
    int64_t x = 0;
    bool has;
    int r;

    memset(p, 0, sizeof(*p));
    if (!json_is_object(proc))
        return kerr_setf(err, EINVAL, "process: expected an object");
    if ((r = check_keys(proc, w, keys_process, err)) < 0)
        return r;
    if ((r = get_bool(proc, w, "terminal", &p->terminal, err)) < 0)
        return r;
    if ((r = get_typed(proc, w, "consoleSize", JSON_OBJECT, &cs, err)) < 0)
        return r;
    if (cs) {
        if ((r = get_int(cs, "process.consoleSize", "width", 0, 65535, NULL, &x, err)) < 0)
            return r;
        p->console_width = (int)x;
        if ((r = get_int(cs, "process.consoleSize", "height", 0, 65535, NULL, &x, err)) < 0)
            return r;
        p->console_height = (int)x;
    }
    if ((r = get_str(proc, w, "cwd", &p->cwd, err)) < 0)
        goto fail;
    if (!p->cwd)
        p->cwd = "/";
    if (p->cwd[0] != '/') {
        r = kerr_setf(err, EINVAL, "process.cwd: '%s' is not an absolute path", p->cwd);
        goto fail;
    }
    if ((r = get_strv(proc, w, "args", &p->args, NULL, err)) < 0)
        goto fail;
    if (need_args && (!p->args || !p->args[0])) {
        r = kerr_setf(err, EINVAL, "process.args: must name a program to run");
        goto fail;
    }
    if ((r = get_strv(proc, w, "env", &p->env, NULL, err)) < 0)
        goto fail;
    if (p->env) {
        for (size_t i = 0; p->env[i]; i++) {
            if (!strchr(p->env[i], '=')) {
                r = kerr_setf(err, EINVAL, "process.env[%zu]: '%s' is not NAME=VALUE", i,
                              p->env[i]);
                goto fail;
            }
        }
    }
    if ((r = get_typed(proc, w, "user", JSON_OBJECT, &user, err)) < 0)
        goto fail;
    if (user) {
        const char *uw = "process.user";
        if ((r = check_keys(user, uw, keys_user, err)) < 0)
            goto fail;
        if ((r = get_int(user, uw, "uid", 0, UINT32_MAX - 1, NULL, &x, err)) < 0)
            goto fail;
        p->uid = (uid_t)x;
        x = 0;
        if ((r = get_int(user, uw, "gid", 0, UINT32_MAX - 1, NULL, &x, err)) < 0)
            goto fail;
        p->gid = (gid_t)x;
        if ((r = get_int(user, uw, "umask", 0, 07777, &p->has_umask, &x, err)) < 0)
            goto fail;
        p->umask = (mode_t)x;
        json_t *g;
        if ((r = get_typed(user, uw, "additionalGids", JSON_ARRAY, &g, err)) < 0)
            goto fail;
        if (g) {
            size_t i, n = json_array_size(g);
            if (n > 65536) {
                r = kerr_setf(err, E2BIG, "process.user.additionalGids: too many entries");
                goto fail;
            }
            p->gids = calloc(n ? n : 1, sizeof(gid_t));
            if (!p->gids) {
                r = -ENOMEM;
                goto fail;
            }
            json_array_foreach (g, i, v) {
                if (!json_is_integer(v) || json_integer_value(v) < 0 ||
                    json_integer_value(v) > UINT32_MAX - 1) {
                    r = kerr_setf(err, EINVAL, "process.user.additionalGids[%zu]: expected a gid",
                                  i);
                    goto fail;
                }
                p->gids[i] = (gid_t)json_integer_value(v);
            }
            p->n_gids = n;
        }
    }
    if ((r = get_typed(proc, w, "rlimits", JSON_ARRAY, &rl, err)) < 0)
        goto fail;
    if (rl) {
        size_t i;
        json_array_foreach (rl, i, v) {
            char where[64];
            const char *type;
            snprintf(where, sizeof(where), "process.rlimits[%zu]", i);
            if (!json_is_object(v)) {
                r = kerr_setf(err, EINVAL, "%s: expected an object", where);
                goto fail;
            }
            if ((r = check_keys(v, where, keys_rlimit, err)) < 0)
                goto fail;
            if ((r = get_str(v, where, "type", &type, err)) < 0)
                goto fail;
            const struct name_val *nv = type ? lookup(rlimit_names, type) : NULL;
            if (!nv) {
                r = kerr_setf(err, EINVAL, "%s.type: unknown rlimit '%s'", where,
                              type ? type : "(missing)");
                goto fail;
            }
            if (p->n_rlimits >= RT_MAX_RLIMITS) {
                r = kerr_setf(err, E2BIG, "%s: too many rlimits", where);
                goto fail;
            }
            json_t *s = json_object_get(v, "soft"), *h = json_object_get(v, "hard");
            if (!json_is_integer(s) || !json_is_integer(h)) {
                r = kerr_setf(err, EINVAL, "%s: soft and hard must be integers", where);
                goto fail;
            }
            struct rt_rlimit *l = &p->rlimits[p->n_rlimits++];
            l->resource = nv->val;
            /* JSON integers are signed 64-bit; -1 (and 2^64-1 that wrapped) mean infinity. */
            l->soft = json_integer_value(s) < 0 ? RLIM_INFINITY : (rlim_t)json_integer_value(s);
            l->hard = json_integer_value(h) < 0 ? RLIM_INFINITY : (rlim_t)json_integer_value(h);
        }
    }
    if ((r = get_typed(proc, w, "capabilities", JSON_OBJECT, &caps, err)) < 0)
        goto fail;
    if (caps && (r = parse_caps(caps, "process.capabilities", err)) < 0)
        goto fail;
    p->capabilities = caps;
    if ((r = get_bool(proc, w, "noNewPrivileges", &p->no_new_privileges, err)) < 0)
        goto fail;
    x = 0;
    if ((r = get_int(proc, w, "oomScoreAdj", -1000, 1000, &has, &x, err)) < 0)
        goto fail;
    p->has_oom_score_adj = has;
    p->oom_score_adj = (int)x;
    json_t *o;
    if ((r = get_typed(proc, w, "scheduler", JSON_OBJECT, &o, err)) < 0)
        goto fail;
    if (o && (r = parse_scheduler(o, &p->sched, err)) < 0)
        goto fail;
    p->has_sched = o != NULL;
    if ((r = get_typed(proc, w, "ioPriority", JSON_OBJECT, &o, err)) < 0)
        goto fail;
    if (o && (r = parse_ioprio(o, &p->ioprio, err)) < 0)
        goto fail;
    p->has_ioprio = o != NULL;
    if ((r = get_typed(proc, w, "execCPUAffinity", JSON_OBJECT, &o, err)) < 0)
        goto fail;
    if (o && ((r = check_keys(o, "process.execCPUAffinity", keys_cpu_affinity, err)) < 0 ||
              (r = parse_cpu_affinity_list(o, "initial", &p->has_cpu_initial, &p->cpu_initial,
                                           err)) < 0 ||
              (r = parse_cpu_affinity_list(o, "final", &p->has_cpu_final, &p->cpu_final, err)) < 0))
        goto fail;
    static const char *const unsupported[] = { "apparmorProfile", "selinuxLabel" };
    for (size_t i = 0; i < ARRAY_SIZE(unsupported); i++)
        if ((r = refuse_set(proc, w, unsupported[i], err)) < 0)
            goto fail;
    return 0;
fail:
    spec__free_process(p);
    return r;
}

static const struct {
    const char *name;
    bool clear;
    unsigned long flag;
} mount_flags[] = {
    { "ro", false, MS_RDONLY },
    { "rw", true, MS_RDONLY },
    { "suid", true, MS_NOSUID },
    { "nosuid", false, MS_NOSUID },
    { "dev", true, MS_NODEV },
    { "nodev", false, MS_NODEV },
    { "exec", true, MS_NOEXEC },
    { "noexec", false, MS_NOEXEC },
    { "sync", false, MS_SYNCHRONOUS },
    { "async", true, MS_SYNCHRONOUS },
    { "dirsync", false, MS_DIRSYNC },
    { "remount", false, MS_REMOUNT },
    { "mand", false, MS_MANDLOCK },
    { "nomand", true, MS_MANDLOCK },
    { "atime", true, MS_NOATIME },
    { "noatime", false, MS_NOATIME },
    { "diratime", true, MS_NODIRATIME },
    { "nodiratime", false, MS_NODIRATIME },
    { "relatime", false, MS_RELATIME },
    { "norelatime", true, MS_RELATIME },
    { "strictatime", false, MS_STRICTATIME },
    { "nostrictatime", true, MS_STRICTATIME },
    { "silent", false, MS_SILENT },
    { "loud", true, MS_SILENT },
    { "nosymfollow", false, MS_NOSYMFOLLOW },
    { "symfollow", true, MS_NOSYMFOLLOW },
};

/*
 * Recursive attributes: applied with mount_setattr(AT_RECURSIVE) to the
 * mount and everything below it once it is in place. atime is one field in
 * MOUNT_ATTR__ATIME, not a bit: the options that only say "not X" pick the
 * mode mount(8) means by them (ratime and rnostrictatime: the kernel's
 * default relatime; rnorelatime: strictatime).
 */
static const struct {
    const char *name;
    bool clear;
    uint64_t attr;
} rec_attrs[] = {
    { "rro", false, MOUNT_ATTR_RDONLY },
    { "rrw", true, MOUNT_ATTR_RDONLY },
    { "rnosuid", false, MOUNT_ATTR_NOSUID },
    { "rsuid", true, MOUNT_ATTR_NOSUID },
    { "rnodev", false, MOUNT_ATTR_NODEV },
    { "rdev", true, MOUNT_ATTR_NODEV },
    { "rnoexec", false, MOUNT_ATTR_NOEXEC },
    { "rexec", true, MOUNT_ATTR_NOEXEC },
    { "rnodiratime", false, MOUNT_ATTR_NODIRATIME },
    { "rdiratime", true, MOUNT_ATTR_NODIRATIME },
    { "rnosymfollow", false, MOUNT_ATTR_NOSYMFOLLOW },
    { "rsymfollow", true, MOUNT_ATTR_NOSYMFOLLOW },
};

static const struct {
    const char *name;
    uint64_t mode;
} rec_atime[] = {
    { "rrelatime", MOUNT_ATTR_RELATIME },       { "rnoatime", MOUNT_ATTR_NOATIME },
    { "rstrictatime", MOUNT_ATTR_STRICTATIME }, { "ratime", MOUNT_ATTR_RELATIME },
    { "rnostrictatime", MOUNT_ATTR_RELATIME },  { "rnorelatime", MOUNT_ATTR_STRICTATIME },
};

/* A recursive attribute option: record it in m; false if o is not one. */
static bool
rec_option(const char *o, struct rt_mount *m)
{
    for (size_t k = 0; k < ARRAY_SIZE(rec_attrs); k++) {
        if (strcmp(o, rec_attrs[k].name) != 0)
            continue;
        if (rec_attrs[k].clear) {
            m->rec_set &= ~rec_attrs[k].attr;
            m->rec_clear |= rec_attrs[k].attr;
        } else {
            m->rec_set |= rec_attrs[k].attr;
            m->rec_clear &= ~rec_attrs[k].attr;
        }
        return true;
    }
    for (size_t k = 0; k < ARRAY_SIZE(rec_atime); k++) {
        if (strcmp(o, rec_atime[k].name) != 0)
            continue;
        m->rec_clear |= MOUNT_ATTR__ATIME;
        m->rec_set = (m->rec_set & ~(uint64_t)MOUNT_ATTR__ATIME) | rec_atime[k].mode;
        return true;
    }
    return false;
}

static const struct {
    const char *name;
    unsigned long flag;
} prop_flags[] = {
    { "private", MS_PRIVATE },       { "rprivate", MS_PRIVATE | MS_REC },
    { "shared", MS_SHARED },         { "rshared", MS_SHARED | MS_REC },
    { "slave", MS_SLAVE },           { "rslave", MS_SLAVE | MS_REC },
    { "unbindable", MS_UNBINDABLE }, { "runbindable", MS_UNBINDABLE | MS_REC },
};

int
spec__mount_options(json_t *options, const char *where, struct rt_mount *m, struct kerr *err)
{
    struct sbuf data = SBUF_INIT;
    size_t i;
    json_t *v;

    if (options && !json_is_array(options))
        return kerr_setf(err, EINVAL, "%s.options: expected an array of strings", where);
    json_array_foreach (options, i, v) {
        if (!json_is_string(v)) {
            sbuf_free(&data);
            return kerr_setf(err, EINVAL, "%s.options[%zu]: expected a string", where, i);
        }
        const char *o = json_string_value(v);
        bool done = false;
        if (strcmp(o, "defaults") == 0)
            continue;
        if (strcmp(o, "bind") == 0 || strcmp(o, "rbind") == 0) {
            m->bind = true;
            m->flags |= MS_BIND | (o[0] == 'r' ? MS_REC : 0);
            continue;
        }
        for (size_t k = 0; k < ARRAY_SIZE(mount_flags) && !done; k++) {
            if (strcmp(o, mount_flags[k].name) == 0) {
                if (mount_flags[k].clear) {
                    m->flags &= ~mount_flags[k].flag;
                    m->clear_flags |= mount_flags[k].flag;
                } else {
                    m->flags |= mount_flags[k].flag;
                    m->clear_flags &= ~mount_flags[k].flag;
                }
                done = true;
            }
        }
        for (size_t k = 0; k < ARRAY_SIZE(prop_flags) && !done; k++) {
            if (strcmp(o, prop_flags[k].name) == 0) {
                m->propagation = prop_flags[k].flag;
                done = true;
            }
        }
        if (!done)
            done = rec_option(o, m);
        if (!done && (strcmp(o, "idmap") == 0 || strcmp(o, "ridmap") == 0)) {
            m->idmap = true;
            m->idmap_recursive = o[0] == 'r';
            done = true;
        }
        if (!done && strcmp(o, "tmpcopyup") == 0)
            done = true;
        if (done)
            continue;
        if (data.len && sbuf_putc(&data, ',') < 0)
            goto oom;
        if (sbuf_puts(&data, o) < 0)
            goto oom;
    }
    m->data = sbuf_take(&data);
    return 0;
oom:
    sbuf_free(&data);
    return kerr_set(err, ENOMEM, "%s.options", where);
}

static int parse_idmaps(json_t *arr, const char *where, struct rt_idmap *maps, size_t *ret_n,
                        struct kerr *err);

/*
 * mounts[].uidMappings/gidMappings (runtime-spec 1.1): both or neither, and
 * they make the mount idmapped even without the "idmap" option.
 */
static int
parse_mount_idmaps(json_t *v, const char *where, struct rt_mount *m, struct kerr *err)
{
    static const char *const keys[2] = { "uidMappings", "gidMappings" };
    struct rt_idmap **maps[2] = { &m->uid_maps, &m->gid_maps };
    size_t *ns[2] = { &m->n_uid_maps, &m->n_gid_maps };
    for (int k = 0; k < 2; k++) {
        char w[64];
        json_t *arr;
        int r;
        snprintf(w, sizeof(w), "%s.%s", where, keys[k]);
        if ((r = get_typed(v, where, keys[k], JSON_ARRAY, &arr, err)) < 0)
            return r;
        if (!arr || json_array_size(arr) == 0)
            continue;
        if (json_array_size(arr) > RT_MAX_IDMAPS)
            return kerr_setf(err, E2BIG, "%s: more than %d entries", w, RT_MAX_IDMAPS);
        *maps[k] = calloc(json_array_size(arr), sizeof(struct rt_idmap));
        if (!*maps[k])
            return kerr_set(err, ENOMEM, "%s", w);
        if ((r = parse_idmaps(arr, w, *maps[k], ns[k], err)) < 0)
            return r;
    }
    if (!m->n_uid_maps != !m->n_gid_maps)
        return kerr_setf(err, EINVAL, "%s.%s: an idmapped mount needs both uid and gid mappings",
                         where, m->n_uid_maps ? "gidMappings" : "uidMappings");
    if (m->n_uid_maps)
        m->idmap = true;
    return 0;
}

static int
parse_mounts(json_t *mounts, struct rt_spec *s, struct kerr *err)
{
    size_t i;
    json_t *v;
    size_t n = json_array_size(mounts);

    if (n > RT_MAX_ITEMS)
        return kerr_setf(err, E2BIG, "mounts: more than %d entries", RT_MAX_ITEMS);
    s->mounts = calloc(n ? n : 1, sizeof(*s->mounts));
    if (!s->mounts)
        return -ENOMEM;
    json_array_foreach (mounts, i, v) {
        char where[48];
        struct rt_mount *m = &s->mounts[i];
        int r;
        snprintf(where, sizeof(where), "mounts[%zu]", i);
        s->n_mounts = i + 1;
        if (!json_is_object(v))
            return kerr_setf(err, EINVAL, "%s: expected an object", where);
        if ((r = check_keys(v, where, keys_mount, err)) < 0)
            return r;
        if ((r = get_str(v, where, "destination", &m->destination, err)) < 0)
            return r;
        if (!m->destination || m->destination[0] != '/')
            return kerr_setf(err, EINVAL, "%s.destination: must be an absolute path", where);
        if ((r = get_str(v, where, "source", &m->source, err)) < 0)
            return r;
        if ((r = get_str(v, where, "type", &m->type, err)) < 0)
            return r;
        json_t *o;
        if ((r = get_typed(v, where, "options", JSON_ARRAY, &o, err)) < 0)
            return r;
        if ((r = spec__mount_options(o, where, m, err)) < 0)
            return r;
        if ((r = parse_mount_idmaps(v, where, m, err)) < 0)
            return r;
        if (m->type && strcmp(m->type, "bind") == 0) {
            m->bind = true;
            m->flags |= MS_BIND;
        }
        if (m->bind && !m->source)
            return kerr_setf(err, EINVAL, "%s.source: a bind mount needs a source", where);
        if (!m->bind && !m->type)
            return kerr_setf(err, EINVAL, "%s.type: missing (and not a bind mount)", where);
        if (m->idmap && !m->bind)
            return kerr_setf(err, EINVAL,
                             "%s.options: idmapped mounts ('idmap', 'ridmap', uidMappings) need a "
                             "bind mount",
                             where);
    }
    return 0;
}

static int
parse_idmaps(json_t *arr, const char *where, struct rt_idmap *maps, size_t *ret_n, struct kerr *err)
{
    size_t i;
    json_t *v;
    if (!arr)
        return 0;
    if (!json_is_array(arr))
        return kerr_setf(err, EINVAL, "%s: expected an array", where);
    if (json_array_size(arr) > RT_MAX_IDMAPS)
        return kerr_setf(err, E2BIG, "%s: more than %d entries", where, RT_MAX_IDMAPS);
    json_array_foreach (arr, i, v) {
        char w[64];
        int64_t c = 0, h = 0, sz = 0;
        int r;
        snprintf(w, sizeof(w), "%s[%zu]", where, i);
        if (!json_is_object(v))
            return kerr_setf(err, EINVAL, "%s: expected an object", w);
        if ((r = check_keys(v, w, keys_idmap, err)) < 0)
            return r;
        if ((r = get_int(v, w, "containerID", 0, UINT32_MAX - 1, NULL, &c, err)) < 0 ||
            (r = get_int(v, w, "hostID", 0, UINT32_MAX - 1, NULL, &h, err)) < 0 ||
            (r = get_int(v, w, "size", 1, UINT32_MAX, NULL, &sz, err)) < 0)
            return r;
        if (!json_object_get(v, "size"))
            return kerr_setf(err, EINVAL, "%s.size: missing", w);
        maps[i] = (struct rt_idmap){ (uint32_t)c, (uint32_t)h, (uint32_t)sz };
        *ret_n = i + 1;
    }
    return 0;
}

static int
parse_devices(json_t *arr, struct rt_spec *s, struct kerr *err)
{
    size_t i;
    json_t *v;
    size_t n = json_array_size(arr);
    if (n > RT_MAX_ITEMS)
        return kerr_setf(err, E2BIG, "linux.devices: more than %d entries", RT_MAX_ITEMS);
    s->devices = calloc(n ? n : 1, sizeof(*s->devices));
    if (!s->devices)
        return -ENOMEM;
    json_array_foreach (arr, i, v) {
        char w[48];
        const char *type = NULL;
        struct rt_device *d = &s->devices[i];
        int64_t x = 0;
        int r;
        snprintf(w, sizeof(w), "linux.devices[%zu]", i);
        if (!json_is_object(v))
            return kerr_setf(err, EINVAL, "%s: expected an object", w);
        if ((r = check_keys(v, w, keys_device, err)) < 0)
            return r;
        if ((r = get_str(v, w, "path", &d->path, err)) < 0 ||
            (r = get_str(v, w, "type", &type, err)) < 0)
            return r;
        if (!d->path || d->path[0] != '/' || strstr(d->path, ".."))
            return kerr_setf(err, EINVAL, "%s.path: must be an absolute path without '..'", w);
        if (!type || strlen(type) != 1 || !strchr("cbup", type[0]))
            return kerr_setf(err, EINVAL, "%s.type: must be one of c, b, u, p", w);
        d->type = type[0];
        if ((r = get_int(v, w, "major", 0, UINT32_MAX, NULL, &d->major, err)) < 0 ||
            (r = get_int(v, w, "minor", 0, UINT32_MAX, NULL, &d->minor, err)) < 0)
            return r;
        if (d->type != 'p' && (!json_object_get(v, "major") || !json_object_get(v, "minor")))
            return kerr_setf(err, EINVAL, "%s: major and minor are required", w);
        if ((r = get_int(v, w, "fileMode", 0, 07777, &d->has_mode, &x, err)) < 0)
            return r;
        d->mode = (mode_t)x;
        x = 0;
        if ((r = get_int(v, w, "uid", 0, UINT32_MAX - 1, &d->has_uid, &x, err)) < 0)
            return r;
        d->uid = (uid_t)x;
        x = 0;
        if ((r = get_int(v, w, "gid", 0, UINT32_MAX - 1, &d->has_gid, &x, err)) < 0)
            return r;
        d->gid = (gid_t)x;
        s->n_devices = i + 1;
    }
    return 0;
}

static int
parse_paths(json_t *lin, const char *key, const char ***ret, size_t *ret_n, struct kerr *err)
{
    char **v = NULL;
    size_t n = 0;
    int r = get_strv(lin, "linux", key, &v, &n, err);
    if (r < 0)
        return r;
    for (size_t i = 0; i < n; i++) {
        if (v[i][0] != '/') {
            r = kerr_setf(err, EINVAL, "linux.%s[%zu]: '%s' is not an absolute path", key, i, v[i]);
            free(v);
            return r;
        }
    }
    *ret = (const char **)v;
    *ret_n = n;
    return 0;
}

static int
parse_hooks(json_t *hooks, struct kerr *err)
{
    const char *name;
    json_t *list;
    int r;
    if ((r = check_keys(hooks, "hooks", keys_hooks, err)) < 0)
        return r;
    json_object_foreach (hooks, name, list) {
        size_t i;
        json_t *h;
        if (!json_is_array(list))
            return kerr_setf(err, EINVAL, "hooks.%s: expected an array", name);
        json_array_foreach (list, i, h) {
            char w[64];
            const char *path;
            char **v = NULL;
            int64_t t = 0;
            snprintf(w, sizeof(w), "hooks.%s[%zu]", name, i);
            if (!json_is_object(h))
                return kerr_setf(err, EINVAL, "%s: expected an object", w);
            if ((r = check_keys(h, w, keys_hook, err)) < 0 ||
                (r = get_str(h, w, "path", &path, err)) < 0)
                return r;
            if (!path || path[0] != '/')
                return kerr_setf(err, EINVAL, "%s.path: must be an absolute path", w);
            if ((r = get_strv(h, w, "args", &v, NULL, err)) < 0)
                return r;
            free(v);
            if ((r = get_strv(h, w, "env", &v, NULL, err)) < 0)
                return r;
            free(v);
            if ((r = get_int(h, w, "timeout", 1, 3600, NULL, &t, err)) < 0)
                return r;
        }
    }
    return 0;
}

static int
parse_linux(json_t *lin, struct rt_spec *s, struct kerr *err)
{
    json_t *v, *arr;
    size_t i;
    int r;

    if ((r = check_keys(lin, "linux", keys_linux, err)) < 0)
        return r;
    if ((r = get_typed(lin, "linux", "namespaces", JSON_ARRAY, &arr, err)) < 0)
        return r;
    json_array_foreach (arr, i, v) {
        char w[48];
        const char *type, *path;
        snprintf(w, sizeof(w), "linux.namespaces[%zu]", i);
        if (!json_is_object(v))
            return kerr_setf(err, EINVAL, "%s: expected an object", w);
        if ((r = check_keys(v, w, keys_ns, err)) < 0 ||
            (r = get_str(v, w, "type", &type, err)) < 0 ||
            (r = get_str(v, w, "path", &path, err)) < 0)
            return r;
        const struct name_val *nv = type ? lookup(ns_names, type) : NULL;
        if (!nv)
            return kerr_setf(err, EINVAL, "%s.type: unknown namespace '%s'", w,
                             type ? type : "(missing)");
        for (size_t k = 0; k < s->n_ns; k++)
            if (s->ns[k].flag == nv->val)
                return kerr_setf(err, EINVAL, "%s.type: namespace '%s' listed twice", w, type);
        if (path && path[0] != '/')
            return kerr_setf(err, EINVAL, "%s.path: '%s' is not an absolute path", w, path);
        if (path && *path == '\0')
            path = NULL;
        if (path && access(path, F_OK) < 0)
            return kerr_set(err, errno, "%s.path: namespace '%s'", w, path);
        s->ns[s->n_ns++] = (struct rt_ns){ nv->val, path };
        if (!path)
            s->new_ns_flags |= nv->val;
    }
    if ((r = parse_idmaps(json_object_get(lin, "uidMappings"), "linux.uidMappings", s->uid_maps,
                          &s->n_uid_maps, err)) < 0 ||
        (r = parse_idmaps(json_object_get(lin, "gidMappings"), "linux.gidMappings", s->gid_maps,
                          &s->n_gid_maps, err)) < 0)
        return r;
    if ((s->new_ns_flags & CLONE_NEWUSER) && (!s->n_uid_maps || !s->n_gid_maps))
        return kerr_setf(err, EINVAL,
                         "linux.uidMappings: a new user namespace needs uid and gid mappings");
    if (!(s->new_ns_flags & CLONE_NEWUSER) && (s->n_uid_maps || s->n_gid_maps))
        return kerr_setf(err, EINVAL,
                         "linux.uidMappings: mappings given without a new user namespace");
    if ((r = get_typed(lin, "linux", "devices", JSON_ARRAY, &arr, err)) < 0)
        return r;
    if (arr && (r = parse_devices(arr, s, err)) < 0)
        return r;
    if ((r = get_str(lin, "linux", "cgroupsPath", &s->cgroups_path, err)) < 0)
        return r;
    if (s->cgroups_path && (strstr(s->cgroups_path, "..") || strchr(s->cgroups_path, ':')))
        return kerr_setf(err, EINVAL,
                         "linux.cgroupsPath: '%s' must be a path without '..' (systemd "
                         "slice:prefix:name paths need --systemd-cgroup, not supported)",
                         s->cgroups_path);
    if ((r = get_typed(lin, "linux", "resources", JSON_OBJECT, &s->resources, err)) < 0)
        return r;
    if (s->resources && (r = check_keys(s->resources, "linux.resources", keys_resources, err)) < 0)
        return r;
    if ((r = get_typed(lin, "linux", "sysctl", JSON_OBJECT, &s->sysctl, err)) < 0)
        return r;
    if (s->sysctl) {
        const char *k;
        json_object_foreach (s->sysctl, k, v) {
            if (!json_is_string(v))
                return kerr_setf(err, EINVAL, "linux.sysctl.%s: expected a string", k);
            if (strstr(k, "..") || strchr(k, '/') || !*k)
                return kerr_setf(err, EINVAL, "linux.sysctl: invalid name '%s'", k);
        }
    }
    if ((r = get_typed(lin, "linux", "seccomp", JSON_OBJECT, &s->seccomp, err)) < 0)
        return r;
    if ((r = get_typed(lin, "linux", "timeOffsets", JSON_OBJECT, &s->time_offsets, err)) < 0)
        return r;
    if (s->time_offsets) {
        const char *clk;
        json_object_foreach (s->time_offsets, clk, v) {
            static const char *const keys_off[] = { "secs", "nanosecs", NULL };
            char w[64];
            int64_t x;
            snprintf(w, sizeof(w), "linux.timeOffsets.%.32s", clk);
            if (strcmp(clk, "monotonic") != 0 && strcmp(clk, "boottime") != 0)
                return kerr_setf(err, EINVAL, "%s: only monotonic and boottime can be offset", w);
            if (!json_is_object(v))
                return kerr_setf(err, EINVAL, "%s: expected an object", w);
            if ((r = check_keys(v, w, keys_off, err)) < 0 ||
                (r = get_int(v, w, "secs", INT32_MIN, INT32_MAX, NULL, &x, err)) < 0 ||
                (r = get_int(v, w, "nanosecs", 0, 999999999, NULL, &x, err)) < 0)
                return r;
        }
    }
    const char *prop = NULL;
    if ((r = get_str(lin, "linux", "rootfsPropagation", &prop, err)) < 0)
        return r;
    s->rootfs_propagation = MS_SLAVE | MS_REC;
    if (prop && *prop) {
        bool found = false;
        for (size_t k = 0; k < ARRAY_SIZE(prop_flags); k++) {
            if (strcmp(prop, prop_flags[k].name) == 0) {
                s->rootfs_propagation = prop_flags[k].flag | MS_REC;
                found = true;
            }
        }
        if (!found)
            return kerr_setf(err, EINVAL, "linux.rootfsPropagation: unknown propagation '%s'",
                             prop);
    }
    if ((r = parse_paths(lin, "maskedPaths", &s->masked_paths, &s->n_masked, err)) < 0 ||
        (r = parse_paths(lin, "readonlyPaths", &s->readonly_paths, &s->n_readonly, err)) < 0)
        return r;
    if ((r = get_str(lin, "linux", "mountLabel", &s->mount_label, err)) < 0)
        return r;
    if ((r = spec__parse_personality(lin, &s->has_personality, &s->personality, err)) < 0)
        return r;
    static const char *const unsupported[] = { "intelRdt", "mountLabel" };
    for (size_t k = 0; k < ARRAY_SIZE(unsupported); k++)
        if ((r = refuse_set(lin, "linux", unsupported[k], err)) < 0)
            return r;
    if (s->resources && ((r = refuse_set(s->resources, "linux.resources", "network", err)) < 0 ||
                         (r = refuse_set(s->resources, "linux.resources", "rdma", err)) < 0))
        return r;
    return 0;
}

void
spec__free(struct rt_spec *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->n_mounts; i++) {
        free(s->mounts[i].data);
        free(s->mounts[i].uid_maps);
        free(s->mounts[i].gid_maps);
    }
    free(s->mounts);
    free(s->devices);
    free(s->masked_paths);
    free(s->readonly_paths);
    free(s->rootfs);
    spec__free_process(&s->process);
    if (s->json)
        json_decref(s->json);
    memset(s, 0, sizeof(*s));
}

int
spec__parse(json_t *json, const char *bundle, struct rt_spec *s, struct kerr *err)
{
    json_t *root, *v;
    const char *ver, *path;
    int r;

    memset(s, 0, sizeof(*s));
    s->json = json_incref(json);
    if (!json_is_object(json)) {
        r = kerr_setf(err, EINVAL, "config.json: expected a JSON object");
        goto fail;
    }
    if ((r = check_keys(json, "", keys_top, err)) < 0)
        goto fail;
    if ((r = get_str(json, "", "ociVersion", &ver, err)) < 0)
        goto fail;
    if (!ver) {
        r = kerr_setf(err, EINVAL, "ociVersion: missing");
        goto fail;
    }
    if (strncmp(ver, "1.", 2) != 0) {
        r = kerr_setf(err, EINVAL, "ociVersion: unsupported version '%s' (need 1.x)", ver);
        goto fail;
    }
    if ((r = get_typed(json, "", "root", JSON_OBJECT, &root, err)) < 0)
        goto fail;
    if (!root) {
        r = kerr_setf(err, EINVAL, "root: missing");
        goto fail;
    }
    if ((r = check_keys(root, "root", keys_root, err)) < 0 ||
        (r = get_str(root, "root", "path", &path, err)) < 0 ||
        (r = get_bool(root, "root", "readonly", &s->readonly, err)) < 0)
        goto fail;
    if (!path || !*path) {
        r = kerr_setf(err, EINVAL, "root.path: missing");
        goto fail;
    }
    if (path[0] == '/' || !bundle) {
        s->rootfs = strdup(path);
    } else if (asprintf(&s->rootfs, "%s/%s", bundle, path) < 0) {
        s->rootfs = NULL;
    }
    if (!s->rootfs) {
        r = -ENOMEM;
        goto fail;
    }
    if ((r = get_str(json, "", "hostname", &s->hostname, err)) < 0 ||
        (r = get_str(json, "", "domainname", &s->domainname, err)) < 0)
        goto fail;
    if ((r = get_typed(json, "", "process", JSON_OBJECT, &v, err)) < 0)
        goto fail;
    if (v && (r = spec__parse_process(v, &s->process, true, err)) < 0)
        goto fail;
    if (!v) {
        r = kerr_setf(err, EINVAL, "process: missing");
        goto fail;
    }
    if ((r = get_typed(json, "", "mounts", JSON_ARRAY, &v, err)) < 0)
        goto fail;
    if (v && (r = parse_mounts(v, s, err)) < 0)
        goto fail;
    if ((r = get_typed(json, "", "hooks", JSON_OBJECT, &s->hooks, err)) < 0)
        goto fail;
    if (s->hooks && (r = parse_hooks(s->hooks, err)) < 0)
        goto fail;
    /* The init applies the scheduler before startContainer hooks, which it forks. */
    if (s->process.has_sched && s->process.sched.policy == SCHED_DEADLINE &&
        !(s->process.sched.flags & SCHED_FLAG_RESET_ON_FORK) &&
        hooks__has(s->hooks, "startContainer")) {
        r = kerr_setf(err, EINVAL,
                      "process.scheduler.policy: a SCHED_DEADLINE init cannot fork "
                      "startContainer hooks (add SCHED_FLAG_RESET_ON_FORK)");
        goto fail;
    }
    if ((r = get_typed(json, "", "annotations", JSON_OBJECT, &s->annotations, err)) < 0)
        goto fail;
    if (s->annotations) {
        const char *k;
        json_object_foreach (s->annotations, k, v) {
            if (!json_is_string(v)) {
                r = kerr_setf(err, EINVAL, "annotations.%s: expected a string", k);
                goto fail;
            }
        }
        v = json_object_get(s->annotations, RT_ANNOT_TYPE);
        if (v) {
            const char *t = json_string_value(v);
            if (strcmp(t, "sandbox") == 0) {
                s->sandbox = true;
            } else if (strcmp(t, "process") != 0) {
                r = kerr_setf(err, EINVAL,
                              "annotations.%s: unknown execution type '%s' (process, sandbox)",
                              RT_ANNOT_TYPE, t);
                goto fail;
            }
        }
    }
    if ((r = get_typed(json, "", "linux", JSON_OBJECT, &v, err)) < 0)
        goto fail;
    if (v) {
        if ((r = parse_linux(v, s, err)) < 0)
            goto fail;
    } else {
        s->rootfs_propagation = MS_SLAVE | MS_REC;
    }
    for (size_t i = 0; i < s->n_mounts; i++) {
        const struct rt_mount *m = &s->mounts[i];
        if (m->idmap && !m->n_uid_maps && !(s->new_ns_flags & CLONE_NEWUSER)) {
            r = kerr_setf(err, EINVAL,
                          "mounts[%zu].options: an idmapped mount of '%s' without uidMappings "
                          "and gidMappings takes the container's, but it has no new user "
                          "namespace",
                          i, m->destination);
            goto fail;
        }
    }
    if (s->hostname && *s->hostname && !(s->new_ns_flags & CLONE_NEWUTS)) {
        bool joined = false;
        for (size_t i = 0; i < s->n_ns; i++)
            joined |= s->ns[i].flag == CLONE_NEWUTS;
        if (!joined) {
            r = kerr_setf(err, EINVAL, "hostname: setting it needs a uts namespace");
            goto fail;
        }
    }
    return 0;
fail:
    spec__free(s);
    return r;
}

int
spec__load(const char *bundle, struct rt_spec *s, struct kerr *err)
{
    char path[PATH_MAX];
    json_error_t jerr;
    struct stat st;

    if (snprintf(path, sizeof(path), "%s/config.json", bundle) >= (int)sizeof(path))
        return kerr_setf(err, ENAMETOOLONG, "bundle path '%s' is too long", bundle);
    if (stat(path, &st) < 0)
        return kerr_set(err, errno, "open '%s'", path);
    if ((size_t)st.st_size > RT_CONFIG_MAX)
        return kerr_setf(err, EFBIG, "'%s': larger than %u bytes", path, RT_CONFIG_MAX);
    json_t *j = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
    if (!j)
        return kerr_setf(err, EINVAL, "'%s': line %d column %d: %s", path, jerr.line, jerr.column,
                         jerr.text);
    int r = spec__parse(j, bundle, s, err);
    json_decref(j);
    return r;
}

int
rt_spec_check(const char *text, size_t len, struct kerr *err)
{
    json_error_t jerr;
    struct rt_spec s;
    json_t *j = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!j)
        return kerr_setf(err, EINVAL, "config.json: line %d column %d: %s", jerr.line, jerr.column,
                         jerr.text);
    int r = spec__parse(j, "/bundle", &s, err);
    json_decref(j);
    if (r < 0)
        return r;
    spec__free(&s);
    return 0;
}

json_t *
rt_spec_default(bool rootless)
{
    static const char *const caps[] = { "CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE",
                                        NULL };
    json_t *capset = json_array();
    for (size_t i = 0; caps[i]; i++)
        json_array_append_new(capset, json_string(caps[i]));
    json_t *j = json_pack(
        "{s:s, s:{s:b, s:{s:i, s:i}, s:[s], s:[s, s], s:s, s:{s:O, s:O, s:O, s:O}, "
        "s:[{s:s, s:i, s:i}], s:b}, s:{s:s, s:b}, s:s, "
        "s:[{s:s, s:s, s:s}, {s:s, s:s, s:s, s:[s, s, s]}, "
        "{s:s, s:s, s:s, s:[s, s, s, s, s, s]}, {s:s, s:s, s:s, s:[s, s, s, s, s]}, "
        "{s:s, s:s, s:s, s:[s, s, s, s]}, {s:s, s:s, s:s, s:[s, s, s, s]}, "
        "{s:s, s:s, s:s, s:[s, s, s, s]}]}",
        "ociVersion", RT_OCI_VERSION, "process", "terminal", 0, "user", "uid", 0, "gid", 0, "args",
        "sh", "env", "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "TERM=xterm", "cwd", "/", "capabilities", "bounding", capset, "effective", capset,
        "permitted", capset, "inheritable", capset, "rlimits", "type", "RLIMIT_NOFILE", "hard",
        1024, "soft", 1024, "noNewPrivileges", 1, "root", "path", "rootfs", "readonly", 1,
        "hostname", "kumo", "mounts", "destination", "/proc", "type", "proc", "source", "proc",
        "destination", "/dev", "type", "tmpfs", "source", "tmpfs", "options", "nosuid",
        "strictatime", "mode=755", "destination", "/dev/pts", "type", "devpts", "source", "devpts",
        "options", "nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5",
        "destination", "/dev/shm", "type", "tmpfs", "source", "shm", "options", "nosuid", "noexec",
        "nodev", "mode=1777", "size=65536k", "destination", "/dev/mqueue", "type", "mqueue",
        "source", "mqueue", "options", "nosuid", "noexec", "nodev", "ro", "destination", "/sys",
        "type", "sysfs", "source", "sysfs", "options", "nosuid", "noexec", "nodev", "ro",
        "destination", "/sys/fs/cgroup", "type", "cgroup", "source", "cgroup", "options", "nosuid",
        "noexec", "nodev", "relatime");
    json_decref(capset);
    if (!j)
        return NULL;
    /* The last mount's option list has only 4 entries; add "ro" to it. */
    json_t *mounts = json_object_get(j, "mounts");
    json_array_append_new(json_object_get(json_array_get(mounts, 6), "options"), json_string("ro"));
    json_t *ns = json_pack("[{s:s}, {s:s}, {s:s}, {s:s}, {s:s}]", "type", "pid", "type", "network",
                           "type", "ipc", "type", "uts", "type", "mount");
    json_t *masked =
        json_pack("[s, s, s, s, s, s, s, s, s, s]", "/proc/acpi", "/proc/asound", "/proc/kcore",
                  "/proc/keys", "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats",
                  "/proc/sched_debug", "/sys/firmware", "/proc/scsi");
    json_t *ro = json_pack("[s, s, s, s, s, s]", "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys",
                           "/proc/sysrq-trigger", "/sys/fs/cgroup");
    json_t *lin =
        json_pack("{s:o, s:o, s:o, s:{s:[{s:b, s:s}]}}", "namespaces", ns, "maskedPaths", masked,
                  "readonlyPaths", ro, "resources", "devices", "allow", 0, "access", "rwm");
    if (!lin) {
        json_decref(j);
        return NULL;
    }
    if (rootless) {
        json_array_append_new(ns, json_pack("{s:s}", "type", "user"));
        json_object_set_new(
            lin, "uidMappings",
            json_pack("[{s:i, s:i, s:i}]", "containerID", 0, "hostID", (int)getuid(), "size", 1));
        json_object_set_new(
            lin, "gidMappings",
            json_pack("[{s:i, s:i, s:i}]", "containerID", 0, "hostID", (int)getgid(), "size", 1));
        json_object_del(lin, "resources");
    }
    json_object_set_new(j, "linux", lin);
    return j;
}
