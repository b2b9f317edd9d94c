/* SPDX-License-Identifier: Apache-2.0 */
/*
 * OCI `linux.seccomp` → libseccomp filter. One walker does both jobs: with no
 * filter context it only checks the JSON (rt_seccomp_validate, called in the
 * runtime's parent before any fork, and by the fuzz target), with one it also
 * adds every rule, so validation and loading can never disagree about what a
 * spec means. rt_seccomp_load runs in the container init, single-threaded,
 * right before execve.
 *
 * Semantics follow runc where the spec is silent: syscall names libseccomp
 * cannot resolve for an architecture are skipped (profiles list syscalls of
 * every arch and every kernel); a rule whose action equals the default action
 * is skipped (libseccomp refuses it and it would change nothing); several
 * conditions on the same argument index are ORed, by adding one rule per
 * condition, while conditions on distinct indices are ANDed in one rule.
 */
#include "security.h"

#include <errno.h>
#include <inttypes.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <seccomp.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "cleanup.h"

/* Caps on what a spec can make us build: the kernel caps a filter at 4096 BPF
 * instructions anyway, these only bound the work spent before that. */
#define SECCOMP_MAX_SYSCALL_RULES 4096
#define SECCOMP_MAX_NAMES         4096
#define SECCOMP_MAX_ERRNO         4095
#define SECCOMP_MAX_ARGS          16

struct action_name {
    const char *name;
    uint32_t action; /* without the errno/trace data */
    bool takes_data;
};

static const struct action_name actions[] = {
    { "SCMP_ACT_KILL", SCMP_ACT_KILL_THREAD, false },
    { "SCMP_ACT_KILL_THREAD", SCMP_ACT_KILL_THREAD, false },
    { "SCMP_ACT_KILL_PROCESS", SCMP_ACT_KILL_PROCESS, false },
    { "SCMP_ACT_TRAP", SCMP_ACT_TRAP, false },
    { "SCMP_ACT_ERRNO", SCMP_ACT_ERRNO(0), true },
    { "SCMP_ACT_TRACE", SCMP_ACT_TRACE(0), true },
    { "SCMP_ACT_ALLOW", SCMP_ACT_ALLOW, false },
    { "SCMP_ACT_LOG", SCMP_ACT_LOG, false },
};

struct op_name {
    const char *name;
    enum scmp_compare op;
};

static const struct op_name ops[] = {
    { "SCMP_CMP_NE", SCMP_CMP_NE },
    { "SCMP_CMP_LT", SCMP_CMP_LT },
    { "SCMP_CMP_LE", SCMP_CMP_LE },
    { "SCMP_CMP_EQ", SCMP_CMP_EQ },
    { "SCMP_CMP_GE", SCMP_CMP_GE },
    { "SCMP_CMP_GT", SCMP_CMP_GT },
    { "SCMP_CMP_MASKED_EQ", SCMP_CMP_MASKED_EQ },
};

/* Reject keys the OCI spec does not define, naming the first one found. */
static int
check_keys(json_t *obj, const char *const *known, const char *where, struct kerr *err)
{
    const char *key;
    json_t *v;
    json_object_foreach (obj, key, v) {
        bool ok = false;
        for (size_t i = 0; known[i]; i++)
            if (strcmp(key, known[i]) == 0)
                ok = true;
        if (!ok)
            return kerr_setf(err, EINVAL, "%s.%s: unknown field", where, key);
    }
    return 0;
}

/* errnoRet/defaultErrnoRet: absent means EPERM, as in runc. */
static int
parse_errno(json_t *v, const char *where, uint16_t *ret, struct kerr *err)
{
    if (!v) {
        *ret = EPERM;
        return 0;
    }
    if (!json_is_integer(v))
        return kerr_setf(err, EINVAL, "%s: must be an integer", where);
    json_int_t n = json_integer_value(v);
    if (n < 0 || n > SECCOMP_MAX_ERRNO)
        return kerr_setf(err, EINVAL, "%s: %" JSON_INTEGER_FORMAT " is not an errno (0..%d)", where,
                         n, SECCOMP_MAX_ERRNO);
    *ret = (uint16_t)n;
    return 0;
}

/*
 * Turn an action name plus its optional errnoRet into a libseccomp action.
 * SCMP_ACT_NOTIFY is refused: it needs a listener (listenerPath) that the
 * runtime does not implement, and silently degrading it would change what
 * the spec asked for.
 */
static int
parse_action(json_t *v, json_t *errno_v, const char *where, const char *errno_where, uint32_t *ret,
             struct kerr *err)
{
    if (!json_is_string(v))
        return kerr_setf(err, EINVAL, "%s: must be a string", where);
    const char *s = json_string_value(v);
    if (strcmp(s, "SCMP_ACT_NOTIFY") == 0)
        return kerr_setf(err, EINVAL, "%s: SCMP_ACT_NOTIFY is not supported", where);
    for (size_t i = 0; i < ARRAY_SIZE(actions); i++) {
        if (strcmp(s, actions[i].name) != 0)
            continue;
        uint32_t a = actions[i].action;
        if (actions[i].takes_data) {
            uint16_t e = 0;
            int r = parse_errno(errno_v, errno_where, &e, err);
            if (r < 0)
                return r;
            a |= e;
        }
        *ret = a;
        return 0;
    }
    return kerr_setf(err, EINVAL, "%s: unknown action '%s'", where, s);
}

/*
 * OCI names architectures "SCMP_ARCH_X86_64"; libseccomp resolves the
 * lower-case suffix ("x86_64"). Returns the token or 0 when unknown.
 */
static uint32_t
arch_token(const char *name)
{
    static const char prefix[] = "SCMP_ARCH_";
    if (strncmp(name, prefix, sizeof(prefix) - 1) != 0)
        return 0;
    char lower[32];
    size_t i = 0;
    for (const char *p = name + sizeof(prefix) - 1; *p; p++) {
        if (i + 1 >= sizeof(lower))
            return 0;
        lower[i++] = (*p >= 'A' && *p <= 'Z') ? (char)(*p - 'A' + 'a') : *p;
    }
    lower[i] = '\0';
    if (i == 0)
        return 0;
    return seccomp_arch_resolve_name(lower);
}

static int
walk_architectures(json_t *arr, scmp_filter_ctx ctx, struct kerr *err)
{
    if (!arr)
        return 0;
    if (!json_is_array(arr))
        return kerr_setf(err, EINVAL, "linux.seccomp.architectures: must be an array");
    size_t i;
    json_t *v;
    json_array_foreach (arr, i, v) {
        if (!json_is_string(v))
            return kerr_setf(err, EINVAL, "linux.seccomp.architectures[%zu]: must be a string", i);
        uint32_t tok = arch_token(json_string_value(v));
        if (tok == 0)
            return kerr_setf(err, EINVAL, "linux.seccomp.architectures[%zu]: unknown '%s'", i,
                             json_string_value(v));
        if (ctx) {
            int r = seccomp_arch_add(ctx, tok);
            /* The native arch is already in a new filter. */
            if (r < 0 && r != -EEXIST)
                return kerr_set(err, -r, "linux.seccomp.architectures[%zu]: add '%s'", i,
                                json_string_value(v));
        }
    }
    return 0;
}

static int
walk_flags(json_t *arr, scmp_filter_ctx ctx, struct kerr *err)
{
    if (!arr)
        return 0;
    if (!json_is_array(arr))
        return kerr_setf(err, EINVAL, "linux.seccomp.flags: must be an array");
    size_t i;
    json_t *v;
    json_array_foreach (arr, i, v) {
        if (!json_is_string(v))
            return kerr_setf(err, EINVAL, "linux.seccomp.flags[%zu]: must be a string", i);
        const char *s = json_string_value(v);
        enum scmp_filter_attr attr;
        if (strcmp(s, "SECCOMP_FILTER_FLAG_TSYNC") == 0)
            attr = SCMP_FLTATR_CTL_TSYNC;
        else if (strcmp(s, "SECCOMP_FILTER_FLAG_LOG") == 0)
            attr = SCMP_FLTATR_CTL_LOG;
        else if (strcmp(s, "SECCOMP_FILTER_FLAG_SPEC_ALLOW") == 0)
            attr = SCMP_FLTATR_CTL_SSB;
        else if (strcmp(s, "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV") == 0)
            /* Only changes how a notify listener is waited for; we have none. */
            continue;
        else
            return kerr_setf(err, EINVAL, "linux.seccomp.flags[%zu]: unknown flag '%s'", i, s);
        if (ctx) {
            int r = seccomp_attr_set(ctx, attr, 1);
            if (r < 0)
                return kerr_set(err, -r, "linux.seccomp.flags[%zu]: set '%s'", i, s);
        }
    }
    return 0;
}

/* One syscalls[].args[] entry → a libseccomp comparison. */
static int
parse_arg(json_t *a, const char *where, struct scmp_arg_cmp *ret, struct kerr *err)
{
    static const char *const known[] = { "index", "value", "valueTwo", "op", NULL };
    if (!json_is_object(a))
        return kerr_setf(err, EINVAL, "%s: must be an object", where);
    int r = check_keys(a, known, where, err);
    if (r < 0)
        return r;

    json_t *index = json_object_get(a, "index");
    if (!json_is_integer(index))
        return kerr_setf(err, EINVAL, "%s.index: %s", where,
                         index ? "must be an integer" : "missing");
    json_int_t idx = json_integer_value(index);
    if (idx < 0 || idx > 5)
        return kerr_setf(err, EINVAL, "%s.index: %" JSON_INTEGER_FORMAT " is not in 0..5", where,
                         idx);

    /* Values are unsigned 64-bit in the kernel; JSON integers are signed, so
     * a negative value stands for its two's complement (-1 = all ones). */
    uint64_t val[2] = { 0, 0 };
    const char *names[2] = { "value", "valueTwo" };
    for (int k = 0; k < 2; k++) {
        json_t *v = json_object_get(a, names[k]);
        if (!v)
            continue;
        if (!json_is_integer(v))
            return kerr_setf(err, EINVAL, "%s.%s: must be an integer", where, names[k]);
        val[k] = (uint64_t)json_integer_value(v);
    }

    json_t *op = json_object_get(a, "op");
    if (!json_is_string(op))
        return kerr_setf(err, EINVAL, "%s.op: %s", where, op ? "must be a string" : "missing");
    for (size_t i = 0; i < ARRAY_SIZE(ops); i++) {
        if (strcmp(json_string_value(op), ops[i].name) == 0) {
            *ret = (struct scmp_arg_cmp){
                .arg = (unsigned)idx, .op = ops[i].op, .datum_a = val[0], .datum_b = val[1]
            };
            return 0;
        }
    }
    return kerr_setf(err, EINVAL, "%s.op: unknown operator '%s'", where, json_string_value(op));
}

/* Add one syscall's rule(s); unknown names and a per-arch refusal are skipped. */
static int
add_syscall_rule(scmp_filter_ctx ctx, const char *name, uint32_t action,
                 const struct scmp_arg_cmp *cmps, unsigned ncmp, bool or_args, const char *where,
                 struct kerr *err)
{
    int nr = seccomp_syscall_resolve_name(name);
    if (nr == __NR_SCMP_ERROR)
        return 0;
    int r;
    if (ncmp == 0 || !or_args) {
        r = seccomp_rule_add_array(ctx, action, nr, ncmp, cmps);
        if (r < 0)
            return kerr_set(err, -r, "%s: add rule for '%s'", where, name);
        return 0;
    }
    for (unsigned i = 0; i < ncmp; i++) {
        r = seccomp_rule_add_array(ctx, action, nr, 1, &cmps[i]);
        if (r < 0)
            return kerr_set(err, -r, "%s: add rule for '%s'", where, name);
    }
    return 0;
}

static int
walk_syscall(json_t *sc, size_t idx, uint32_t default_action, scmp_filter_ctx ctx, size_t *names,
             struct kerr *err)
{
    static const char *const known[] = { "names", "action", "errnoRet", "args", NULL };
    char where[64];
    snprintf(where, sizeof(where), "linux.seccomp.syscalls[%zu]", idx);
    if (!json_is_object(sc))
        return kerr_setf(err, EINVAL, "%s: must be an object", where);
    int r = check_keys(sc, known, where, err);
    if (r < 0)
        return r;

    char w_action[96], w_errno[96];
    snprintf(w_action, sizeof(w_action), "%s.action", where);
    snprintf(w_errno, sizeof(w_errno), "%s.errnoRet", where);
    uint32_t action;
    json_t *act = json_object_get(sc, "action");
    if (!act)
        return kerr_setf(err, EINVAL, "%s: missing", w_action);
    r = parse_action(act, json_object_get(sc, "errnoRet"), w_action, w_errno, &action, err);
    if (r < 0)
        return r;

    json_t *args = json_object_get(sc, "args");
    struct scmp_arg_cmp cmps[SECCOMP_MAX_ARGS];
    unsigned ncmp = 0, per_index[6] = { 0 };
    bool or_args = false;
    if (args) {
        if (!json_is_array(args))
            return kerr_setf(err, EINVAL, "%s.args: must be an array", where);
        /* Conditions beyond six can only repeat an index, and those are
         * ORed (one rule each), so a small cap is enough. */
        if (json_array_size(args) > ARRAY_SIZE(cmps))
            return kerr_setf(err, EINVAL, "%s.args: more than %zu conditions", where,
                             ARRAY_SIZE(cmps));
        size_t i;
        json_t *a;
        json_array_foreach (args, i, a) {
            char w_arg[96];
            snprintf(w_arg, sizeof(w_arg), "%s.args[%zu]", where, i);
            r = parse_arg(a, w_arg, &cmps[ncmp], err);
            if (r < 0)
                return r;
            if (++per_index[cmps[ncmp].arg] > 1)
                or_args = true;
            ncmp++;
        }
    }

    json_t *nm = json_object_get(sc, "names");
    if (!json_is_array(nm))
        return kerr_setf(err, EINVAL, "%s.names: %s", where, nm ? "must be an array" : "missing");
    if (json_array_size(nm) == 0)
        return kerr_setf(err, EINVAL, "%s.names: must not be empty", where);
    size_t i;
    json_t *n;
    json_array_foreach (nm, i, n) {
        if (!json_is_string(n) || json_string_length(n) == 0)
            return kerr_setf(err, EINVAL, "%s.names[%zu]: must be a non-empty string", where, i);
        if (++*names > SECCOMP_MAX_NAMES)
            return kerr_setf(err, E2BIG, "linux.seccomp.syscalls: more than %d names",
                             SECCOMP_MAX_NAMES);
        if (!ctx || action == default_action)
            continue;
        r = add_syscall_rule(ctx, json_string_value(n), action, cmps, ncmp, or_args, where, err);
        if (r < 0)
            return r;
    }
    return 0;
}

/* Check (ctx == NULL) or check and build (ctx != NULL) a seccomp object. */
static int
seccomp_walk(json_t *sec, scmp_filter_ctx *ret_ctx, struct kerr *err)
{
    static const char *const known[] = { "defaultAction",    "defaultErrnoRet",
                                         "architectures",    "flags",
                                         "syscalls",         "listenerPath",
                                         "listenerMetadata", NULL };
    if (!json_is_object(sec))
        return kerr_setf(err, EINVAL, "linux.seccomp: must be an object");
    int r = check_keys(sec, known, "linux.seccomp", err);
    if (r < 0)
        return r;

    json_t *lp = json_object_get(sec, "listenerPath");
    if (lp && !json_is_string(lp))
        return kerr_setf(err, EINVAL, "linux.seccomp.listenerPath: must be a string");
    json_t *lm = json_object_get(sec, "listenerMetadata");
    if (lm && !json_is_string(lm))
        return kerr_setf(err, EINVAL, "linux.seccomp.listenerMetadata: must be a string");

    json_t *da = json_object_get(sec, "defaultAction");
    if (!da)
        return kerr_setf(err, EINVAL, "linux.seccomp.defaultAction: missing");
    uint32_t default_action;
    r = parse_action(da, json_object_get(sec, "defaultErrnoRet"), "linux.seccomp.defaultAction",
                     "linux.seccomp.defaultErrnoRet", &default_action, err);
    if (r < 0)
        return r;

    scmp_filter_ctx ctx = NULL;
    if (ret_ctx) {
        ctx = seccomp_init(default_action);
        if (!ctx)
            return kerr_setf(err, ENOMEM, "linux.seccomp: cannot create a filter");
        /* no_new_privs is process.noNewPrivileges' business, never ours. */
        r = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 0);
        /* Report the kernel's errno on load instead of a generic -ECANCELED. */
        if (r >= 0)
            r = seccomp_attr_set(ctx, SCMP_FLTATR_API_SYSRAWRC, 1);
        if (r < 0) {
            seccomp_release(ctx);
            return kerr_set(err, -r, "linux.seccomp: set filter attributes");
        }
    }

    r = walk_architectures(json_object_get(sec, "architectures"), ctx, err);
    if (r >= 0)
        r = walk_flags(json_object_get(sec, "flags"), ctx, err);
    if (r < 0)
        goto fail;

    json_t *scs = json_object_get(sec, "syscalls");
    if (scs) {
        if (!json_is_array(scs)) {
            r = kerr_setf(err, EINVAL, "linux.seccomp.syscalls: must be an array");
            goto fail;
        }
        if (json_array_size(scs) > SECCOMP_MAX_SYSCALL_RULES) {
            r = kerr_setf(err, E2BIG, "linux.seccomp.syscalls: more than %d entries",
                          SECCOMP_MAX_SYSCALL_RULES);
            goto fail;
        }
        size_t i, names = 0;
        json_t *sc;
        json_array_foreach (scs, i, sc) {
            r = walk_syscall(sc, i, default_action, ctx, &names, err);
            if (r < 0)
                goto fail;
        }
    }
    if (ret_ctx)
        *ret_ctx = ctx;
    return 0;

fail:
    if (ctx)
        seccomp_release(ctx);
    return r;
}

/*
 * Compiled-filter cache. Building a filter with libseccomp costs a few
 * milliseconds (the kumo sandbox profile: ~2 ms of rules plus ~0.6 ms of BPF
 * generation), which would be paid in every container init. Instead
 * rt_seccomp_validate, which the runtime calls in its parent before it
 * forks, compiles each distinct profile once and keeps the BPF program; a
 * forked init inherits the cache and rt_seccomp_load only has to hand the
 * program to seccomp(2). kumod starts many containers with the same profile
 * from one process, so after the first one the filter costs nothing.
 *
 * Entries are keyed by a private deep copy of the profile, compared in full
 * with json_equal (no formatting, key order irrelevant; far cheaper than
 * building the filter). They are immutable once published and never freed (at
 * most BPF_CACHE_SLOTS of them per process; when the slots are full new
 * profiles are simply compiled in the child as before). Publication is an
 * atomic release store, so a child forked at any moment sees each slot either
 * empty or complete, and never needs the lock the parents use among
 * themselves.
 */
#define BPF_CACHE_SLOTS 8

struct bpf_entry {
    json_t *key; /* private deep copy, never modified or freed */
    struct sock_filter *insns;
    unsigned short len;
    unsigned int flags; /* SECCOMP_FILTER_FLAG_* */
};

static struct bpf_entry *_Atomic bpf_cache[BPF_CACHE_SLOTS];
static pthread_mutex_t bpf_cache_lock = PTHREAD_MUTEX_INITIALIZER;

static const struct bpf_entry *
bpf_cache_find(json_t *key)
{
    for (size_t i = 0; i < BPF_CACHE_SLOTS; i++) {
        const struct bpf_entry *e = atomic_load_explicit(&bpf_cache[i], memory_order_acquire);
        if (!e)
            return NULL;
        if (json_equal(e->key, key))
            return e;
    }
    return NULL;
}

/* Filter flags the libseccomp attributes of ctx stand for. */
static unsigned int
ctx_flags(scmp_filter_ctx ctx)
{
    static const struct {
        enum scmp_filter_attr attr;
        unsigned int flag;
    } map[] = {
        { SCMP_FLTATR_CTL_TSYNC, SECCOMP_FILTER_FLAG_TSYNC },
        { SCMP_FLTATR_CTL_LOG, SECCOMP_FILTER_FLAG_LOG },
        { SCMP_FLTATR_CTL_SSB, SECCOMP_FILTER_FLAG_SPEC_ALLOW },
    };
    unsigned int flags = 0;
    for (size_t i = 0; i < ARRAY_SIZE(map); i++) {
        uint32_t v = 0;
        if (seccomp_attr_get(ctx, map[i].attr, &v) == 0 && v)
            flags |= map[i].flag;
    }
    return flags;
}

/* Generate ctx's BPF into a new entry (NULL on any failure: not cached). */
static struct bpf_entry *
bpf_entry_new(scmp_filter_ctx ctx, json_t *key)
{
    cleanup_close int fd = memfd_create("kumo-seccomp-bpf", MFD_CLOEXEC);
    if (fd < 0 || seccomp_export_bpf(ctx, fd) < 0)
        return NULL;
    off_t size = lseek(fd, 0, SEEK_END);
    if (size <= 0 || size % (off_t)sizeof(struct sock_filter) != 0 ||
        size / (off_t)sizeof(struct sock_filter) > BPF_MAXINSNS)
        return NULL;
    struct bpf_entry *e = calloc(1, sizeof(*e));
    struct sock_filter *insns = malloc((size_t)size);
    if (!e || !insns || pread(fd, insns, (size_t)size, 0) != size) {
        free(e);
        free(insns);
        return NULL;
    }
    e->key = key;
    e->insns = insns;
    e->len = (unsigned short)(size / (off_t)sizeof(struct sock_filter));
    e->flags = ctx_flags(ctx);
    return e;
}

/* Compile sec (already validated) into a free cache slot, if any is left. */
static void
bpf_cache_add(json_t *sec)
{
    json_t *key = json_deep_copy(sec);
    if (!key)
        return;
    pthread_mutex_lock(&bpf_cache_lock);
    size_t slot = BPF_CACHE_SLOTS;
    for (size_t i = 0; i < BPF_CACHE_SLOTS && slot == BPF_CACHE_SLOTS; i++) {
        const struct bpf_entry *e = atomic_load_explicit(&bpf_cache[i], memory_order_acquire);
        if (!e)
            slot = i;
        else if (json_equal(e->key, key))
            break; /* already there */
    }
    if (slot < BPF_CACHE_SLOTS) {
        scmp_filter_ctx ctx = NULL;
        struct kerr ignored = KERR_INIT;
        if (seccomp_walk(sec, &ctx, &ignored) == 0) {
            struct bpf_entry *e = bpf_entry_new(ctx, key);
            seccomp_release(ctx);
            if (e) {
                key = NULL; /* owned by the entry now */
                atomic_store_explicit(&bpf_cache[slot], e, memory_order_release);
            }
        }
    }
    pthread_mutex_unlock(&bpf_cache_lock);
    json_decref(key);
}

int
rt_seccomp_validate(json_t *seccomp, struct kerr *err)
{
    if (!seccomp || json_is_null(seccomp))
        return 0;
    int r = seccomp_walk(seccomp, NULL, err);
    if (r < 0)
        return r;
    bpf_cache_add(seccomp);
    return 0;
}

static int
load_error(int r, struct kerr *err)
{
    if (r == -EACCES && prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) != 1)
        return kerr_set(err, EACCES,
                        "load seccomp filter (needs noNewPrivileges or CAP_SYS_ADMIN: "
                        "load it before dropping capabilities)");
    return kerr_set(err, -r, "load seccomp filter");
}

int
rt_seccomp_load(json_t *linux_seccomp, struct kerr *err)
{
    if (!linux_seccomp || json_is_null(linux_seccomp))
        return 0;
    const struct bpf_entry *e = bpf_cache_find(linux_seccomp);
    if (e) {
        struct sock_fprog prog = { .len = e->len, .filter = e->insns };
        long r = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, e->flags, &prog);
        /* With TSYNC a positive result names a thread that could not sync. */
        if (r > 0)
            return kerr_setf(err, EAGAIN, "load seccomp filter: thread %ld cannot sync", r);
        return r < 0 ? load_error(-errno, err) : 0;
    }

    scmp_filter_ctx ctx = NULL;
    int r = seccomp_walk(linux_seccomp, &ctx, err);
    if (r < 0)
        return r;
    r = seccomp_load(ctx);
    seccomp_release(ctx);
    return r < 0 ? load_error(r, err) : 0;
}

/*
 * For the fuzz target and tests: build the filter with libseccomp, then
 * throw it away without loading it, so the rule-adding half of the walker
 * is exercised too. Not part of security.h.
 */
int rt__seccomp_compile(json_t *seccomp, struct kerr *err);

int
rt__seccomp_compile(json_t *seccomp, struct kerr *err)
{
    if (!seccomp || json_is_null(seccomp))
        return 0;
    scmp_filter_ctx ctx = NULL;
    int r = seccomp_walk(seccomp, &ctx, err);
    if (r < 0)
        return r;
    seccomp_release(ctx);
    return 0;
}

/* For tests: whether rt_seccomp_load would use a cached program for sec. */
bool rt__seccomp_cached(json_t *seccomp);

bool
rt__seccomp_cached(json_t *seccomp)
{
    return bpf_cache_find(seccomp) != NULL;
}
