/* SPDX-License-Identifier: Apache-2.0 */
/*
 * k2i's request router and handlers (see api.h). Every input byte of a
 * request passes through here: the raw request target is split, its path
 * segments percent-decoded and checked (no '.', '..' or empty segments),
 * pids are parsed strictly, query strings go to query.c, bodies to jansson.
 * Every failure becomes a JSON error with a 4xx/5xx status.
 *
 * Runs on HTTP worker threads concurrently; per-thread state is the
 * procfs reader behind k->reader_key.
 */
#include "api.h"
#include "cleanup.h"
#include "jw.h"
#include "kerr.h"
#include "query.h"
#include "signame.h"
#include "render.h"
#include "sampler.h"
#include "users.h"
#include "util.h"

#include <errno.h>
#include <jansson.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <kumo-config.h>

#define JSON_TYPE "application/json"
#define PROM_TYPE "text/plain; version=0.0.4; charset=utf-8"

/* ---- errors ---- */

void
api_error(struct api_response *resp, int status, const char *fmt, ...)
{
    char msg[API_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    sbuf_reset(&resp->body);
    resp->status = status;
    resp->content_type = JSON_TYPE;
    sbuf_puts(&resp->body, "{\"error\":{\"code\":");
    jw_i64(&resp->body, status);
    sbuf_puts(&resp->body, ",\"message\":");
    jw_cstr(&resp->body, msg);
    sbuf_puts(&resp->body, "}}\n");
}

static void
oom(struct api_response *resp)
{
    api_error(resp, 500, "out of memory");
}

/* Print at most 64 bytes of untrusted text into messages. */
#define SHOW(s, n) (int)((n) > 64 ? 64 : (n)), (s)

/* ---- setup ---- */

static void
reader_destroy(void *p)
{
    procfs_reader_free(p);
}

static struct procfs_reader *
thread_reader(struct k2i *k)
{
    struct procfs_reader *r = pthread_getspecific(k->reader_key);
    if (!r) {
        r = procfs_reader_new(k->procfd);
        if (r && pthread_setspecific(k->reader_key, r) != 0)
            r = procfs_reader_free(r);
    }
    return r;
}

void
api_thread_done(struct k2i *k)
{
    struct procfs_reader *r = pthread_getspecific(k->reader_key);
    if (r) {
        pthread_setspecific(k->reader_key, NULL);
        procfs_reader_free(r);
    }
}

static uint64_t
meminfo_value(const char *text, const char *key)
{
    const char *p = strstr(text, key);
    if (!p || (p != text && p[-1] != '\n'))
        return 0;
    p += strlen(key);
    while (*p == ' ')
        p++;
    return strtoull(p, NULL, 10);
}

int
api_init(struct k2i *k, const struct k2i_config *cfg, int procfd, struct sampler *sampler,
         const struct k2i_privops *priv, void *priv_ctx)
{
    memset(k, 0, sizeof(*k));
    k->cfg = cfg;
    k->procfd = procfd;
    k->sampler = sampler;
    k->priv = priv;
    k->priv_ctx = priv_ctx;
    k->self_pid = getpid();
    k->hz = sysconf(_SC_CLK_TCK);
    if (k->hz <= 0)
        k->hz = 100;
    k->page_kb = sysconf(_SC_PAGESIZE) / 1024;
    if (k->page_kb <= 0)
        k->page_kb = 4;
    k->ncpus = (int)sysconf(_SC_NPROCESSORS_ONLN);
    if (k->ncpus <= 0)
        k->ncpus = 1;
    struct utsname u;
    if (uname(&u) == 0)
        strlcpy_k(k->hostname, u.nodename, sizeof(k->hostname));
    k->started_usec = now_real_usec();
    int r = pthread_key_create(&k->reader_key, reader_destroy);
    if (r != 0)
        return -r;
    struct procfs_reader *rd = thread_reader(k);
    if (!rd)
        return -ENOMEM;
    const char *mi = procfs_read_misc(rd, "meminfo", NULL);
    if (mi)
        k->memtotal_kb = meminfo_value(mi, "MemTotal:");
    return 0;
}

void
api_fini(struct k2i *k)
{
    api_thread_done(k);
    pthread_key_delete(k->reader_key);
}

/* ---- auth ---- */

static bool
hash_eq(const uint8_t *a, const uint8_t *b)
{
    uint8_t d = 0;
    for (int i = 0; i < 32; i++)
        d |= a[i] ^ b[i];
    return d == 0;
}

int
api_auth(const struct k2i_config *cfg, const char *authorization, unsigned need,
         char ret_token[K2I_TOKEN_MAX + 1], char *msg, size_t cap)
{
    ret_token[0] = '\0';
    const struct k2i_token *tok = NULL;
    if (authorization && *authorization) {
        const char *p = authorization;
        if (strncasecmp(p, "Bearer ", 7) != 0) {
            snprintf(msg, cap, "malformed Authorization header: want 'Bearer TOKEN'");
            return 401;
        }
        p += 7;
        while (*p == ' ')
            p++;
        size_t n = strlen(p);
        while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t'))
            n--;
        if (n == 0 || n > K2I_TOKEN_MAX) {
            snprintf(msg, cap, "malformed bearer token");
            return 401;
        }
        memcpy(ret_token, p, n);
        ret_token[n] = '\0';
        uint8_t h[32];
        k2i_token_hash(p, n, h);
        /* Compare against every token so timing does not tell which matched. */
        for (size_t i = 0; i < cfg->ntokens; i++)
            if (hash_eq(h, cfg->tokens[i].hash) && !tok)
                tok = &cfg->tokens[i];
        if (!tok) {
            ret_token[0] = '\0';
            snprintf(msg, cap, "invalid bearer token");
            return 401;
        }
    }
    if (need == 0) {
        if (!tok && cfg->read_requires_token) {
            snprintf(msg, cap, "reading needs a bearer token (read_requires_token is set)");
            return 401;
        }
        return 0;
    }
    const char *scope = need == K2I_SCOPE_SIGNAL    ? "signal"
                        : need == K2I_SCOPE_ENVIRON ? "environ"
                                                    : "read";
    if (!tok) {
        snprintf(msg, cap, "this needs a bearer token with scope '%s'", scope);
        return 401;
    }
    if (!(tok->scopes & need)) {
        snprintf(msg, cap, "token '%s' lacks scope '%s'", tok->name, scope);
        return 403;
    }
    return 0;
}

/* ---- signals ---- */

int
api_signal_parse(const char *s)
{
    int r = signame_parse(s);
    return r < 0 ? -1 : r;
}

const char *
api_signal_name(int signo)
{
    return signame_name(signo);
}

/* ---- small endpoints ---- */

static void
json_head(struct api_response *resp)
{
    resp->status = 200;
    resp->content_type = JSON_TYPE;
}

static void
handle_info(struct k2i *k, struct api_response *resp)
{
    struct sbuf *b = &resp->body;
    json_head(resp);
    sbuf_puts(b, "{\"name\":\"k2i\",\"version\":");
    jw_cstr(b, KUMO_VERSION);
    sbuf_puts(b, ",\"hostname\":");
    jw_cstr(b, k->hostname);
    sbuf_puts(b, ",\"pid\":");
    jw_i64(b, k->self_pid);
    sbuf_puts(b, ",\"privsep\":");
    sbuf_puts(b, k->parent_pid ? "true" : "false");
    sbuf_puts(b, ",\"seccomp\":");
    sbuf_puts(b, k->seccomp ? "true" : "false");
    sbuf_puts(b, ",\"api\":[\"/v1/\",\"/v1/config\",\"/v1/host\",\"/v1/proc\","
                 "\"/v1/proc/self\",\"/v1/proc/{pid}\",\"/v1/proc/{pid}/threads\","
                 "\"/v1/proc/cmd/{name}\",\"/v1/proc/{pid}/signal\",\"/metrics\"]}\n");
}

static void
handle_config(struct k2i *k, struct api_response *resp)
{
    const struct k2i_config *c = k->cfg;
    struct sbuf *b = &resp->body;
    json_head(resp);
    sbuf_puts(b, "{\"listen\":[");
    for (size_t i = 0; i < c->nlisten; i++) {
        if (i)
            sbuf_putc(b, ',');
        jw_cstr(b, c->listen[i]);
    }
    sbuf_puts(b, "],\"read_requires_token\":");
    sbuf_puts(b, c->read_requires_token ? "true" : "false");
    sbuf_puts(b, ",\"tokens\":[");
    for (size_t i = 0; i < c->ntokens; i++) {
        if (i)
            sbuf_putc(b, ',');
        sbuf_puts(b, "{\"name\":");
        jw_cstr(b, c->tokens[i].name);
        sbuf_puts(b, ",\"scopes\":[");
        bool first = true;
        static const char *const names[] = { "read", "signal", "environ" };
        for (int s = 0; s < 3; s++) {
            if (!(c->tokens[i].scopes & (1u << s)))
                continue;
            if (!first)
                sbuf_putc(b, ',');
            first = false;
            jw_cstr(b, names[s]);
        }
        sbuf_puts(b, "]}");
    }
    sbuf_puts(b, "],\"tls\":");
    if (c->tls_cert) {
        sbuf_puts(b, "{\"cert\":");
        jw_cstr(b, c->tls_cert);
        sbuf_puts(b, "}");
    } else {
        sbuf_puts(b, "null");
    }
    sbuf_puts(b, ",\"privsep\":");
    sbuf_puts(b, k->parent_pid ? "true" : "false");
    sbuf_puts(b, ",\"seccomp\":");
    sbuf_puts(b, k->seccomp ? "true" : "false");
    sbuf_puts(b, ",\"user\":");
    jw_cstr(b, c->user ? c->user : "");
    sbuf_puts(b, ",\"sample_interval_ms\":");
    jw_u64(b, c->sample_interval_usec / 1000);
    sbuf_puts(b, ",\"threads\":");
    jw_u64(b, c->threads);
    sbuf_puts(b, ",\"max_connections\":");
    jw_u64(b, c->max_connections);
    sbuf_puts(b, ",\"connection_memory_limit\":");
    jw_u64(b, c->connection_memory_limit);
    sbuf_puts(b, ",\"connection_timeout\":");
    jw_u64(b, c->connection_timeout_sec);
    sbuf_puts(b, ",\"fd_cache\":");
    jw_u64(b, k->fdcache ? k->fdcache_max : 0);
    sbuf_puts(b, ",\"config_file\":");
    if (c->config_path)
        jw_cstr(b, c->config_path);
    else
        sbuf_puts(b, "null");
    sbuf_puts(b, "}\n");
}

/* ---- host ---- */

struct host_info {
    double load[3];
    uint64_t running, threads;
    uint64_t mem_total, mem_free, mem_avail, buffers, cached, swap_total, swap_free;
    double cpu_usage;
    bool have_cpu;
    size_t processes;
};

static void
read_host(struct k2i *k, struct procfs_reader *rd, bool want_cpu, struct host_info *h)
{
    memset(h, 0, sizeof(*h));
    const char *t = procfs_read_misc(rd, "loadavg", NULL);
    if (t) {
        unsigned long long run = 0, tot = 0;
        if (sscanf(t, "%lf %lf %lf %llu/%llu", &h->load[0], &h->load[1], &h->load[2], &run, &tot) ==
            5) {
            h->running = run;
            h->threads = tot;
        }
    }
    t = procfs_read_misc(rd, "meminfo", NULL);
    if (t) {
        h->mem_total = meminfo_value(t, "MemTotal:");
        h->mem_free = meminfo_value(t, "MemFree:");
        h->mem_avail = meminfo_value(t, "MemAvailable:");
        h->buffers = meminfo_value(t, "Buffers:");
        h->cached = meminfo_value(t, "Cached:");
        h->swap_total = meminfo_value(t, "SwapTotal:");
        h->swap_free = meminfo_value(t, "SwapFree:");
    }
    if (want_cpu && k->sampler) {
        struct sampler_snap *snap = sampler_acquire(k->sampler, true);
        size_t len;
        t = procfs_read_misc(rd, "stat", &len);
        uint64_t busy, total;
        if (snap && t && sampler_parse_cpu_line(t, len, &busy, &total) == 0 &&
            total > snap->cpu_total && busy >= snap->cpu_busy) {
            h->cpu_usage =
                (double)(busy - snap->cpu_busy) * 100.0 / (double)(total - snap->cpu_total);
            h->have_cpu = true;
        }
        sampler_release(k->sampler, snap);
    }
    int *pids = NULL;
    int n = procfs_list(rd, 0, &pids);
    h->processes = n > 0 ? (size_t)n : 0;
    free(pids);
}

static void
handle_host(struct k2i *k, struct procfs_reader *rd, struct api_response *resp)
{
    struct host_info h;
    struct render_ctx rc;
    read_host(k, rd, true, &h);
    render_ctx_now(&rc);
    struct utsname u;
    memset(&u, 0, sizeof(u));
    uname(&u);
    struct sbuf *b = &resp->body;
    json_head(resp);
    sbuf_puts(b, "{\"hostname\":");
    jw_cstr(b, k->hostname);
    sbuf_puts(b, ",\"os\":");
    jw_cstr(b, u.sysname);
    sbuf_puts(b, ",\"kernel\":");
    jw_cstr(b, u.release);
    sbuf_puts(b, ",\"kernel_version\":");
    jw_cstr(b, u.version);
    sbuf_puts(b, ",\"arch\":");
    jw_cstr(b, u.machine);
    sbuf_puts(b, ",\"uptime\":");
    jw_fixed(b, rc.uptime_sec, 2);
    sbuf_puts(b, ",\"boot_time\":");
    jw_fixed(b, rc.boot_epoch, 2);
    sbuf_puts(b, ",\"load\":[");
    for (int i = 0; i < 3; i++) {
        if (i)
            sbuf_putc(b, ',');
        jw_fixed(b, h.load[i], 2);
    }
    sbuf_puts(b, "],\"cpus\":");
    jw_i64(b, k->ncpus);
    sbuf_puts(b, ",\"cpu_usage\":");
    if (h.have_cpu)
        jw_fixed(b, h.cpu_usage, 2);
    else
        sbuf_puts(b, "null");
    sbuf_puts(b, ",\"memory\":{\"total\":");
    jw_u64(b, h.mem_total);
    sbuf_puts(b, ",\"free\":");
    jw_u64(b, h.mem_free);
    sbuf_puts(b, ",\"available\":");
    jw_u64(b, h.mem_avail);
    sbuf_puts(b, ",\"used\":");
    jw_u64(b, h.mem_total > h.mem_avail ? h.mem_total - h.mem_avail : 0);
    sbuf_puts(b, ",\"buffers\":");
    jw_u64(b, h.buffers);
    sbuf_puts(b, ",\"cached\":");
    jw_u64(b, h.cached);
    sbuf_puts(b, ",\"swap_total\":");
    jw_u64(b, h.swap_total);
    sbuf_puts(b, ",\"swap_free\":");
    jw_u64(b, h.swap_free);
    sbuf_puts(b, "},\"processes\":");
    jw_u64(b, h.processes);
    sbuf_puts(b, ",\"threads\":");
    jw_u64(b, h.threads);
    sbuf_puts(b, ",\"running\":");
    jw_u64(b, h.running);
    sbuf_puts(b, ",\"time\":");
    jw_fixed(b, rc.boot_epoch + rc.uptime_sec, 3);
    sbuf_puts(b, "}\n");
}

/* ---- process listings ---- */

struct skey {
    double num;
    size_t soff, slen;
};

struct entry {
    size_t off, len;
    size_t idx;
    struct skey keys[K2I_Q_MAX_SORT];
};

struct sort_ctx {
    const struct k2i_query *q;
    const char *strs;
};

static int
cmp_entries(const void *a, const void *b, void *arg)
{
    const struct entry *x = a, *y = b;
    const struct sort_ctx *sc = arg;
    for (size_t i = 0; i < sc->q->nsort; i++) {
        int c;
        const struct skey *kx = &x->keys[i], *ky = &y->keys[i];
        if (k2i_fields[sc->q->sort[i].field].kind == K2I_KIND_STRING) {
            size_t n = kx->slen < ky->slen ? kx->slen : ky->slen;
            c = memcmp(sc->strs + kx->soff, sc->strs + ky->soff, n);
            if (c == 0)
                c = (kx->slen > ky->slen) - (kx->slen < ky->slen);
        } else {
            c = (kx->num > ky->num) - (kx->num < ky->num);
        }
        if (c)
            return sc->q->sort[i].desc ? -c : c;
    }
    return (x->idx > y->idx) - (x->idx < y->idx);
}

static bool
cmd_match(const struct proc_sample *ps, const char *needle, size_t nlen)
{
    if (memmem(ps->stat.comm, strlen(ps->stat.comm), needle, nlen))
        return true;
    if (!ps->cmdline || ps->cmdline_len < nlen)
        return false;
    /* Arguments are NUL-separated; match as if joined with spaces. */
    const char *h = ps->cmdline;
    size_t hl = ps->cmdline_len;
    for (size_t i = 0; i + nlen <= hl; i++) {
        size_t j = 0;
        while (j < nlen) {
            char c = h[i + j] ? h[i + j] : ' ';
            if (c != needle[j])
                break;
            j++;
        }
        if (j == nlen)
            return true;
    }
    return false;
}

static bool
passes_filters(const struct k2i_query *q, const struct proc_sample *ps, const struct derived *d,
               const char *cmd_name, size_t cmd_name_len)
{
    if (q->states) {
        char s = ps->stat.state;
        if (s < 'A' || s > 'z' || !(q->states & (UINT64_C(1) << (s - 'A'))))
            return false;
    }
    if (q->nuids) {
        bool ok = false;
        for (size_t i = 0; i < q->nuids; i++)
            ok |= ps->ids.uid[1] == q->uids[i];
        if (!ok)
            return false;
    }
    if (q->has_cmd && !cmd_match(ps, q->cmd, q->cmd_len))
        return false;
    if (cmd_name && !cmd_match(ps, cmd_name, cmd_name_len))
        return false;
    if (q->has_container) {
        if (strcmp(q->container, "-") == 0) {
            if (d->container_len)
                return false;
        } else if (strcmp(q->container, d->container) != 0) {
            return false;
        }
    }
    return true;
}

/* Read a process's environment through the privileged side. */
static int
read_environ(struct k2i *k, const char *token, int pid, char **buf, size_t *len)
{
    char msg[API_MSG_MAX];
    int fd = -1;
    int st = k->priv->environ_fd(k->priv_ctx, token, pid, &fd, msg, sizeof(msg));
    if (st != 200)
        return -EACCES;
    size_t cap = 4096, n = 0;
    char *b = malloc(cap);
    if (!b) {
        close(fd);
        return -ENOMEM;
    }
    for (;;) {
        if (n == cap) {
            char *nb = cap < PROCFS_CMDLINE_MAX ? realloc(b, cap * 2) : NULL;
            if (!nb)
                break; /* served truncated */
            b = nb;
            cap *= 2;
        }
        ssize_t r = read(fd, b + n, cap - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        n += (size_t)r;
    }
    close(fd);
    *buf = b;
    *len = n;
    return 0;
}

struct target {
    int pid, tid;
};

struct listing {
    uint64_t fields;
    unsigned need;
    bool want_environ;
    const char *token;
    const char *cmd_name;
    size_t cmd_name_len;
};

/*
 * List processes (or threads), filter, sort, limit and render. `only_pid`
 * > 0 lists that process's threads.
 */
static void
run_listing(struct k2i *k, struct procfs_reader *rd, const struct k2i_query *q, int only_pid,
            const struct listing *ls, struct api_response *resp)
{
    struct render_ctx rc;
    memset(&rc, 0, sizeof(rc));
    rc.hz = k->hz;
    rc.page_kb = k->page_kb;
    rc.ncpus = k->ncpus;
    rc.memtotal_kb = k->memtotal_kb;

    bool threads = q->threads || only_pid > 0;
    bool recent = (ls->fields & K2I_FIELD_BIT(K2I_F_CPU_RECENT));
    for (size_t i = 0; i < q->nsort; i++)
        recent |= q->sort[i].field == K2I_F_CPU_RECENT;
    struct sampler_snap *snap = NULL;
    if (recent && k->sampler) {
        if (threads)
            sampler_want_threads(k->sampler);
        snap = sampler_acquire(k->sampler, true);
    }
    rc.snap = snap;

    cleanup_free struct target *targets = NULL;
    size_t ntargets = 0, tcap = 0;
    cleanup_free int *pids = NULL;
    int npids;
    if (only_pid > 0) {
        npids = 1;
        pids = malloc(sizeof(int));
        if (pids)
            pids[0] = only_pid;
    } else {
        npids = procfs_list(rd, 0, &pids);
    }
    if (npids < 0 || !pids) {
        sampler_release(k->sampler, snap);
        api_error(resp, 500, "list processes: %s", strerror(npids < 0 ? -npids : ENOMEM));
        return;
    }
    for (int i = 0; i < npids; i++) {
        if (!k2i_query_pid_ok(q, pids[i]))
            continue;
        cleanup_free int *tids = NULL;
        int nt = 1;
        if (threads) {
            nt = procfs_list(rd, pids[i], &tids);
            if (nt < 0) {
                if (only_pid > 0) {
                    sampler_release(k->sampler, snap);
                    api_error(resp, 404, "no process with pid %d", only_pid);
                    return;
                }
                continue;
            }
        }
        if (ntargets + (size_t)nt > tcap) {
            size_t nc = tcap ? tcap * 2 : 1024;
            while (nc < ntargets + (size_t)nt)
                nc *= 2;
            struct target *nt2 = realloc(targets, nc * sizeof(*targets));
            if (!nt2) {
                sampler_release(k->sampler, snap);
                oom(resp);
                return;
            }
            targets = nt2;
            tcap = nc;
        }
        for (int j = 0; j < nt; j++) {
            targets[ntargets].pid = pids[i];
            targets[ntargets].tid = threads ? tids[j] : 0;
            ntargets++;
        }
    }

    /* Namespaces of other users' processes come from the privileged side. */
    unsigned need = ls->need;
    cleanup_free uint64_t(*ns)[PROCFS_NS_COUNT] = NULL;
    if ((need & PROCFS_NEED_NS) && k->ns_via_priv && ntargets > 0) {
        need &= ~(unsigned)PROCFS_NEED_NS;
        ns = calloc(ntargets, sizeof(*ns));
        if (ns) {
            int ids[PRIVOPS_NS_BATCH];
            for (size_t i = 0; i < ntargets; i += PRIVOPS_NS_BATCH) {
                size_t n = ntargets - i < PRIVOPS_NS_BATCH ? ntargets - i : PRIVOPS_NS_BATCH;
                for (size_t j = 0; j < n; j++)
                    ids[j] = targets[i + j].tid ? targets[i + j].tid : targets[i + j].pid;
                k->priv->ns(k->priv_ctx, ls->token, ids, n, ns + i);
            }
        }
    }

    /*
     * Unsorted answers are rendered straight into the response body; sorted
     * ones into `items`, then copied out in order.
     */
    struct sbuf items = SBUF_INIT, strs = SBUF_INIT;
    struct sbuf *b = &resp->body;
    cleanup_free struct entry *entries = NULL;
    size_t nentries = 0, ecap = 0;
    bool sorting = q->nsort > 0;
    size_t limit = q->limit ? q->limit : SIZE_MAX;
    uint64_t dfields = ls->fields;
    for (size_t s = 0; s < q->nsort; s++)
        dfields |= K2I_FIELD_BIT(q->sort[s].field);
    int err = 0;

    render_ctx_now(&rc);
    json_head(resp);
    err |= sbuf_puts(b, "{\"host\":");
    err |= jw_cstr(b, k->hostname);
    err |= sbuf_puts(b, ",\"time\":");
    err |= jw_fixed(b, rc.boot_epoch + rc.uptime_sec, 3);
    err |= sbuf_puts(b, ",\"processes\":[");

    /* Whole-host process listings re-read kept fds (see procfs.h). */
    bool cached = !threads && k->fdcache && procfs_fdcache_acquire(k->fdcache, true);
    if (cached)
        procfs_reader_set_cache(rd, k->fdcache);
    size_t i;
    for (i = 0; i < ntargets && err == 0; i++) {
        if (!sorting && nentries >= limit)
            break;
        struct proc_sample ps;
        int r = procfs_read(rd, targets[i].pid, targets[i].tid, need, &ps);
        if (r < 0)
            continue;
        if (ns && ns[i][PROCFS_NS_PID]) {
            memcpy(ps.ns, ns[i], sizeof(ps.ns));
            ps.have |= PROCFS_NEED_NS;
        }
        struct derived d;
        render_derive(&rc, &ps, dfields, &d);
        if (!passes_filters(q, &ps, &d, ls->cmd_name, ls->cmd_name_len))
            continue;
        char *env = NULL;
        size_t envlen = 0;
        if (ls->want_environ)
            read_environ(k, ls->token, targets[i].tid ? targets[i].tid : targets[i].pid, &env,
                         &envlen);
        if (!sorting) {
            if (nentries)
                err |= sbuf_putc(b, ',');
            err |= render_process(b, &rc, &ps, &d, ls->fields, env ? env : "", envlen);
            free(env);
            nentries++;
            continue;
        }
        if (nentries == ecap) {
            size_t nc = ecap ? ecap * 2 : 256;
            struct entry *ne = realloc(entries, nc * sizeof(*entries));
            if (!ne) {
                free(env);
                err = -ENOMEM;
                break;
            }
            entries = ne;
            ecap = nc;
        }
        struct entry *e = &entries[nentries];
        e->off = items.len;
        e->idx = nentries;
        err = render_process(&items, &rc, &ps, &d, ls->fields, env ? env : "", envlen);
        free(env);
        e->len = items.len - e->off;
        for (size_t s = 0; s < q->nsort && err == 0; s++) {
            const char *str;
            size_t slen;
            render_sort_key(&ps, &d, q->sort[s].field, &rc, &e->keys[s].num, &str, &slen);
            e->keys[s].soff = strs.len;
            e->keys[s].slen = slen;
            if (str && slen)
                err = sbuf_append(&strs, str, slen);
        }
        nentries++;
    }
    if (cached) {
        procfs_reader_set_cache(rd, NULL);
        /* Sweep only after a pass over every process. */
        procfs_fdcache_release(k->fdcache, i == ntargets && q->npids == 0 && only_pid == 0);
    }
    sampler_release(k->sampler, snap);
    size_t count = nentries < limit ? nentries : limit;
    if (sorting && err == 0) {
        struct sort_ctx sc = { q, strs.data };
        if (nentries) /* no match: entries may be NULL, which qsort_r must not get */
            qsort_r(entries, nentries, sizeof(*entries), cmp_entries, &sc);
        err |= sbuf_reserve(b, items.len + count + 64);
        for (size_t j = 0; j < count && err == 0; j++) {
            if (j)
                err |= sbuf_putc(b, ',');
            err |= sbuf_append(b, items.data + entries[j].off, entries[j].len);
        }
    }
    err |= sbuf_puts(b, "],\"count\":");
    err |= jw_u64(b, count);
    err |= sbuf_puts(b, "}\n");
    sbuf_free(&items);
    sbuf_free(&strs);
    if (err)
        oom(resp);
}

static int
resolve_user(void *ud, const char *name, uint32_t *ret)
{
    return users_uid_by_name(name, ret);
}

/* Check the environ field against the token; returns 0 or sets resp. */
static int
check_environ(struct k2i *k, const struct api_request *req, uint64_t fields,
              char token[K2I_TOKEN_MAX + 1], struct api_response *resp)
{
    if (!(fields & K2I_FIELD_BIT(K2I_F_ENVIRON)))
        return 0;
    char msg[API_MSG_MAX];
    int st = api_auth(k->cfg, req->authorization, K2I_SCOPE_ENVIRON, token, msg, sizeof(msg));
    if (st) {
        resp->www_authenticate = st == 401;
        api_error(resp, st, "field 'environ': %s", msg);
        return -1;
    }
    return 0;
}

static void
handle_list(struct k2i *k, struct procfs_reader *rd, const struct api_request *req, const char *qs,
            size_t qlen, unsigned allowed, int only_pid, const char *cmd_name, size_t cmd_name_len,
            char token[K2I_TOKEN_MAX + 1], struct api_response *resp)
{
    struct kerr err = KERR_INIT;
    cleanup_free struct k2i_query *q = malloc(sizeof(*q));
    if (!q) {
        oom(resp);
        return;
    }
    if (k2i_query_parse(qs, qlen, allowed, k2i_fields_default(), resolve_user, NULL, q, &err) < 0) {
        api_error(resp, 400, "%s", err.msg);
        return;
    }
    if (check_environ(k, req, q->fields, token, resp) < 0)
        return;
    struct listing ls = {
        .fields = q->fields,
        .need = k2i_query_need(q),
        .want_environ = (q->fields & K2I_FIELD_BIT(K2I_F_ENVIRON)) != 0,
        .token = token,
        .cmd_name = cmd_name,
        .cmd_name_len = cmd_name_len,
    };
    /* Filters on user= need the names' source even if not rendered. */
    if (q->nuids)
        ls.need |= PROCFS_NEED_STATUS;
    if (cmd_name)
        ls.need |= PROCFS_NEED_CMDLINE;
    run_listing(k, rd, q, only_pid, &ls, resp);
}

static void
handle_one(struct k2i *k, struct procfs_reader *rd, const struct api_request *req, int pid,
           const char *qs, size_t qlen, char token[K2I_TOKEN_MAX + 1], struct api_response *resp)
{
    struct kerr err = KERR_INIT;
    struct k2i_query q;
    if (k2i_query_parse(qs, qlen, K2I_QP_FIELDS, k2i_fields_all(), NULL, NULL, &q, &err) < 0) {
        api_error(resp, 400, "%s", err.msg);
        return;
    }
    if (check_environ(k, req, q.fields, token, resp) < 0)
        return;
    unsigned need = k2i_fields_need(q.fields) | PROCFS_NEED_STATUS;
    bool ns_priv = (need & PROCFS_NEED_NS) && k->ns_via_priv;
    if (ns_priv)
        need &= ~(unsigned)PROCFS_NEED_NS;

    struct sampler_snap *snap = NULL;
    if ((q.fields & K2I_FIELD_BIT(K2I_F_CPU_RECENT)) && k->sampler)
        snap = sampler_acquire(k->sampler, true);
    struct render_ctx rc = { .hz = k->hz,
                             .page_kb = k->page_kb,
                             .ncpus = k->ncpus,
                             .memtotal_kb = k->memtotal_kb,
                             .snap = snap };
    render_ctx_now(&rc);
    struct proc_sample ps;
    int r = procfs_read(rd, pid, 0, need, &ps);
    if (r == 0 && ps.ids.tgid && ps.ids.tgid != pid) {
        sampler_release(k->sampler, snap);
        api_error(resp, 404, "pid %d is a thread of process %d", pid, ps.ids.tgid);
        return;
    }
    if (r < 0) {
        sampler_release(k->sampler, snap);
        if (r == -ENOENT || r == -ESRCH)
            api_error(resp, 404, "no process with pid %d", pid);
        else
            api_error(resp, 500, "read process %d: %s", pid, strerror(-r));
        return;
    }
    if (ns_priv) {
        uint64_t ns[1][PROCFS_NS_COUNT];
        memset(ns, 0, sizeof(ns));
        k->priv->ns(k->priv_ctx, token, &pid, 1, ns);
        if (ns[0][PROCFS_NS_PID]) {
            memcpy(ps.ns, ns[0], sizeof(ps.ns));
            ps.have |= PROCFS_NEED_NS;
        }
    }
    struct derived d;
    render_derive(&rc, &ps, q.fields, &d);
    sampler_release(k->sampler, snap);
    char *env = NULL;
    size_t envlen = 0;
    if (q.fields & K2I_FIELD_BIT(K2I_F_ENVIRON)) {
        if (read_environ(k, token, pid, &env, &envlen) < 0) {
            api_error(resp, 403, "cannot read the environment of pid %d", pid);
            return;
        }
    }
    json_head(resp);
    int e = render_process(&resp->body, &rc, &ps, &d, q.fields, env ? env : "", envlen);
    free(env);
    if (e || sbuf_putc(&resp->body, '\n'))
        oom(resp);
}

static void
handle_signal(struct k2i *k, const struct api_request *req, int pid, struct api_response *resp)
{
    char token[K2I_TOKEN_MAX + 1], msg[API_MSG_MAX];
    int st = api_auth(k->cfg, req->authorization, K2I_SCOPE_SIGNAL, token, msg, sizeof(msg));
    if (st) {
        resp->www_authenticate = st == 401;
        api_error(resp, st, "%s", msg);
        return;
    }
    if (req->body_too_large) {
        api_error(resp, 413, "request body larger than %d bytes", API_BODY_MAX);
        return;
    }
    if (!req->body || req->body_len == 0) {
        api_error(resp, 400, "missing JSON body, want {\"signal\":\"TERM\"}");
        return;
    }
    json_error_t jerr;
    json_t *root = json_loadb(req->body, req->body_len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        api_error(resp, 400, "bad JSON body: %s (line %d, column %d)", jerr.text, jerr.line,
                  jerr.column);
        return;
    }
    int signo = -1;
    char shown[40] = "";
    const char *key;
    json_t *v;
    bool bad = !json_is_object(root), have = false;
    if (bad)
        api_error(resp, 400, "bad JSON body: want an object like {\"signal\":\"TERM\"}");
    json_object_foreach (json_is_object(root) ? root : NULL, key, v) {
        if (strcmp(key, "signal") != 0) {
            api_error(resp, 400, "bad JSON body: unknown key '%.32s'", key);
            bad = true;
            break;
        }
        have = true;
        if (json_is_string(v)) {
            snprintf(shown, sizeof(shown), "%.32s", json_string_value(v));
            signo = api_signal_parse(json_string_value(v));
        } else if (json_is_integer(v)) {
            json_int_t n = json_integer_value(v);
            snprintf(shown, sizeof(shown), "%lld", (long long)n);
            signo = n >= 0 && n <= SIGRTMAX ? (int)n : -1;
        } else {
            snprintf(shown, sizeof(shown), "(not a string or integer)");
        }
    }
    json_decref(root);
    if (bad)
        return;
    if (!have) {
        api_error(resp, 400, "bad JSON body: missing 'signal'");
        return;
    }
    if (signo < 0) {
        api_error(resp, 400, "unknown signal '%s'", shown);
        return;
    }
    st = k->priv->signal(k->priv_ctx, token, pid, signo, msg, sizeof(msg));
    if (st != 200) {
        api_error(resp, st, "%s", msg);
        return;
    }
    const char *name = api_signal_name(signo);
    struct sbuf *b = &resp->body;
    json_head(resp);
    sbuf_puts(b, "{\"pid\":");
    jw_i64(b, pid);
    sbuf_puts(b, ",\"signal\":");
    if (name)
        jw_cstr(b, name);
    else
        jw_i64(b, signo);
    sbuf_puts(b, ",\"signo\":");
    jw_i64(b, signo);
    sbuf_puts(b, ",\"sent\":true}\n");
}

/* ---- /metrics ---- */

static void
prom_head(struct sbuf *b, const char *name, const char *type, const char *help)
{
    sbuf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void
prom_value(struct sbuf *b, const char *name, double v, int decimals)
{
    sbuf_puts(b, name);
    sbuf_putc(b, ' ');
    jw_fixed(b, v, decimals);
    sbuf_putc(b, '\n');
}

static void
handle_metrics(struct k2i *k, struct procfs_reader *rd, struct api_response *resp)
{
    struct host_info h;
    read_host(k, rd, true, &h);
    struct render_ctx rc;
    render_ctx_now(&rc);
    struct sbuf *b = &resp->body;
    resp->status = 200;
    resp->content_type = PROM_TYPE;

    prom_head(b, "k2i_build_info", "gauge", "k2i version, always 1.");
    sbuf_puts(b, "k2i_build_info{version=\"" KUMO_VERSION "\"} 1\n");
    prom_head(b, "k2i_host_cpus", "gauge", "Number of online CPUs.");
    prom_value(b, "k2i_host_cpus", k->ncpus, 0);
    prom_head(b, "k2i_host_boot_time_seconds", "gauge", "Boot time, seconds since the epoch.");
    prom_value(b, "k2i_host_boot_time_seconds", rc.boot_epoch, 2);
    prom_head(b, "k2i_host_uptime_seconds", "gauge", "Seconds since boot.");
    prom_value(b, "k2i_host_uptime_seconds", rc.uptime_sec, 2);
    prom_head(b, "k2i_host_load1", "gauge", "1-minute load average.");
    prom_value(b, "k2i_host_load1", h.load[0], 2);
    prom_head(b, "k2i_host_load5", "gauge", "5-minute load average.");
    prom_value(b, "k2i_host_load5", h.load[1], 2);
    prom_head(b, "k2i_host_load15", "gauge", "15-minute load average.");
    prom_value(b, "k2i_host_load15", h.load[2], 2);
    if (h.have_cpu) {
        prom_head(b, "k2i_host_cpu_usage_ratio", "gauge",
                  "Busy share of all CPUs over the sampling window (0..1).");
        prom_value(b, "k2i_host_cpu_usage_ratio", h.cpu_usage / 100.0, 4);
    }
    prom_head(b, "k2i_host_memory_total_bytes", "gauge", "Total usable RAM.");
    prom_value(b, "k2i_host_memory_total_bytes", (double)h.mem_total * 1024, 0);
    prom_head(b, "k2i_host_memory_available_bytes", "gauge", "RAM available without swapping.");
    prom_value(b, "k2i_host_memory_available_bytes", (double)h.mem_avail * 1024, 0);
    prom_head(b, "k2i_host_memory_free_bytes", "gauge", "Unused RAM.");
    prom_value(b, "k2i_host_memory_free_bytes", (double)h.mem_free * 1024, 0);
    prom_head(b, "k2i_host_processes", "gauge", "Number of processes.");
    prom_value(b, "k2i_host_processes", (double)h.processes, 0);
    prom_head(b, "k2i_host_threads", "gauge", "Number of threads (kernel scheduling entities).");
    prom_value(b, "k2i_host_threads", (double)h.threads, 0);

    /* Per process: one pass over stat files, rendered into four families. */
    struct sbuf fam[4] = { SBUF_INIT, SBUF_INIT, SBUF_INIT, SBUF_INIT };
    static const char *const names[4] = {
        "k2i_process_cpu_seconds_total",
        "k2i_process_resident_memory_bytes",
        "k2i_process_virtual_memory_bytes",
        "k2i_process_threads",
    };
    static const char *const types[4] = { "counter", "gauge", "gauge", "gauge" };
    static const char *const helps[4] = {
        "User and system CPU time used by the process.",
        "Resident set size.",
        "Virtual memory size.",
        "Number of threads.",
    };
    for (int f = 0; f < 4; f++)
        prom_head(&fam[f], names[f], types[f], helps[f]);
    cleanup_free int *pids = NULL;
    int n = procfs_list(rd, 0, &pids);
    int err = 0;
    bool cached = k->fdcache && procfs_fdcache_acquire(k->fdcache, true);
    if (cached)
        procfs_reader_set_cache(rd, k->fdcache);
    for (int i = 0; i < n && err == 0; i++) {
        struct proc_sample ps;
        if (procfs_read(rd, pids[i], 0, PROCFS_NEED_STAT, &ps) < 0)
            continue;
        double vals[4] = {
            (double)(ps.stat.utime + ps.stat.stime) / (double)k->hz,
            (double)ps.stat.rss * (double)k->page_kb * 1024.0,
            (double)ps.stat.vsize,
            (double)ps.stat.num_threads,
        };
        for (int f = 0; f < 4 && err == 0; f++) {
            err |= sbuf_puts(&fam[f], names[f]);
            err |= sbuf_puts(&fam[f], "{pid=\"");
            err |= jw_i64(&fam[f], ps.pid);
            err |= sbuf_puts(&fam[f], "\",comm=\"");
            err |= jw_prom_label(&fam[f], ps.stat.comm, strlen(ps.stat.comm));
            err |= sbuf_puts(&fam[f], "\"} ");
            err |= jw_fixed(&fam[f], vals[f], f == 0 ? 2 : 0);
            err |= sbuf_putc(&fam[f], '\n');
        }
    }
    if (cached) {
        procfs_reader_set_cache(rd, NULL);
        procfs_fdcache_release(k->fdcache, err == 0);
    }
    for (int f = 0; f < 4; f++) {
        if (err == 0)
            err |= sbuf_append(b, fam[f].data, fam[f].len);
        sbuf_free(&fam[f]);
    }
    if (err)
        oom(resp);
}

/* ---- routing ---- */

#define MAX_SEGS 6

struct path {
    char *segs[MAX_SEGS];
    size_t lens[MAX_SEGS];
    size_t n;
};

/*
 * Split and decode the path. Returns 0, or an HTTP status with resp set.
 * Decoded segments live in buf (cap >= path length + MAX_SEGS).
 */
static int
split_path(const char *p, size_t len, char *buf, size_t cap, struct path *ret,
           struct api_response *resp)
{
    memset(ret, 0, sizeof(*ret));
    if (len == 0 || p[0] != '/') {
        api_error(resp, 400, "request target must be an absolute path");
        return 400;
    }
    size_t o = 0;
    size_t i = 1;
    while (i <= len) {
        size_t j = i;
        while (j < len && p[j] != '/')
            j++;
        size_t sl = j - i;
        if (sl == 0) {
            if (j == len) /* one trailing slash */
                break;
            api_error(resp, 400, "empty segment in path");
            return 400;
        }
        if (ret->n == MAX_SEGS) {
            api_error(resp, 404, "no such endpoint");
            return 404;
        }
        int dl = k2i_path_decode(p + i, sl, buf + o, cap - o);
        if (dl < 0) {
            api_error(resp, 400, "bad percent-encoding in path");
            return 400;
        }
        if ((dl == 1 && buf[o] == '.') || (dl == 2 && buf[o] == '.' && buf[o + 1] == '.')) {
            api_error(resp, 400, "path must not contain '.' or '..' segments");
            return 400;
        }
        ret->segs[ret->n] = buf + o;
        ret->lens[ret->n] = (size_t)dl;
        ret->n++;
        o += (size_t)dl + 1;
        i = j + 1;
    }
    return 0;
}

static bool
seg_is(const struct path *p, size_t i, const char *s)
{
    return i < p->n && p->lens[i] == strlen(s) && memcmp(p->segs[i], s, p->lens[i]) == 0;
}

/* Parse a pid segment: 1..PROCFS_PID_MAX, digits only. 0 when bad. */
static int
parse_pid(const char *s, size_t len)
{
    if (len == 0 || len > 10)
        return 0;
    int64_t v = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return 0;
        v = v * 10 + (s[i] - '0');
    }
    if (s[0] == '0' || v < 1 || v > PROCFS_PID_MAX)
        return 0;
    return (int)v;
}

enum route {
    R_NONE,
    R_INFO,
    R_HELLO,
    R_CONFIG,
    R_HOST,
    R_PROC,
    R_SELF,
    R_PID,
    R_THREADS,
    R_CMD,
    R_SIGNAL,
    R_METRICS,
};

static bool
method_is(const char *m, const char *want)
{
    return strcmp(m, want) == 0;
}

void
api_handle(struct k2i *k, const struct api_request *req, struct api_response *resp)
{
    resp->status = 500;
    resp->content_type = JSON_TYPE;
    const char *method = req->method ? req->method : "";

    if (req->uri_len > API_URI_MAX) {
        api_error(resp, 414, "request target longer than %d bytes", API_URI_MAX);
        return;
    }
    if (req->header_bytes > API_HEADERS_MAX) {
        api_error(resp, 431, "request headers larger than %d bytes", API_HEADERS_MAX);
        return;
    }
    const char *uri = req->uri ? req->uri : "";
    size_t ulen = req->uri ? req->uri_len : 0;
    const char *q = memchr(uri, '?', ulen);
    size_t plen = q ? (size_t)(q - uri) : ulen;
    const char *qs = q ? q + 1 : "";
    size_t qlen = q ? ulen - plen - 1 : 0;
    /* A fragment is never sent by clients; treat '#' as the end of the query. */
    const char *hash = memchr(qs, '#', qlen);
    if (hash)
        qlen = (size_t)(hash - qs);

    char pathbuf[API_URI_MAX + MAX_SEGS + 1];
    struct path p;
    if (split_path(uri, plen, pathbuf, sizeof(pathbuf), &p, resp))
        return;

    enum route route = R_NONE;
    int pid = 0;
    const char *allow = "GET, HEAD";
    if (p.n >= 1 && seg_is(&p, 0, "v1")) {
        if (p.n == 1)
            route = R_INFO;
        else if (p.n == 2 && seg_is(&p, 1, "hello"))
            route = R_HELLO;
        else if (p.n == 2 && seg_is(&p, 1, "config"))
            route = R_CONFIG;
        else if (p.n == 2 && seg_is(&p, 1, "host"))
            route = R_HOST;
        else if (seg_is(&p, 1, "proc")) {
            if (p.n == 2)
                route = R_PROC;
            else if (p.n == 3 && seg_is(&p, 2, "self"))
                route = R_SELF;
            else if (p.n == 4 && seg_is(&p, 2, "cmd"))
                route = R_CMD;
            else if (p.n == 3 && seg_is(&p, 2, "cmd")) {
                api_error(resp, 404, "missing command name: use /v1/proc/cmd/{name}");
                return;
            } else if (p.n >= 3 && p.n <= 4) {
                pid = parse_pid(p.segs[2], p.lens[2]);
                if (p.n == 3)
                    route = R_PID;
                else if (seg_is(&p, 3, "threads"))
                    route = R_THREADS;
                else if (seg_is(&p, 3, "signal"))
                    route = R_SIGNAL, allow = "POST";
                if (route != R_NONE && pid == 0) {
                    api_error(resp, 400, "bad pid '%.*s': want an integer 1..%d",
                              SHOW(p.segs[2], p.lens[2]), PROCFS_PID_MAX);
                    return;
                }
            }
        }
    } else if (p.n == 1 && seg_is(&p, 0, "metrics")) {
        route = R_METRICS;
    }
    if (route == R_NONE) {
        api_error(resp, 404, "no such endpoint '%.*s'", SHOW(uri, plen));
        return;
    }
    bool get = method_is(method, "GET") || method_is(method, "HEAD");
    bool ok_method = route == R_SIGNAL ? method_is(method, "POST") : get;
    if (!ok_method) {
        resp->allow = allow;
        api_error(resp, 405, "method %.16s not allowed here (allowed: %s)", method, allow);
        return;
    }
    if (route == R_SIGNAL) {
        if (qlen) {
            api_error(resp, 400, "this endpoint takes no query parameters");
            return;
        }
        handle_signal(k, req, pid, resp);
        return;
    }

    char token[K2I_TOKEN_MAX + 1], msg[API_MSG_MAX];
    int st = api_auth(k->cfg, req->authorization, 0, token, msg, sizeof(msg));
    if (st) {
        resp->www_authenticate = st == 401;
        api_error(resp, st, "%s", msg);
        return;
    }
    struct procfs_reader *rd = thread_reader(k);
    if (!rd) {
        oom(resp);
        return;
    }
    bool no_params = route == R_INFO || route == R_HELLO || route == R_CONFIG || route == R_HOST ||
                     route == R_METRICS;
    if (no_params && qlen) {
        struct kerr err = KERR_INIT;
        struct k2i_query dummy;
        if (k2i_query_parse(qs, qlen, 0, 0, NULL, NULL, &dummy, &err) < 0) {
            api_error(resp, 400, "%s", err.msg);
            return;
        }
    }
    switch (route) {
    case R_INFO:
        handle_info(k, resp);
        break;
    case R_HELLO:
        json_head(resp);
        sbuf_puts(&resp->body, "{\"message\":\"hello!\"}\n");
        break;
    case R_CONFIG:
        handle_config(k, resp);
        break;
    case R_HOST:
        handle_host(k, rd, resp);
        break;
    case R_PROC:
        handle_list(k, rd, req, qs, qlen, K2I_QP_LIST, 0, NULL, 0, token, resp);
        break;
    case R_CMD:
        if (p.lens[3] > K2I_Q_CMD_MAX) {
            api_error(resp, 400, "command name longer than %d bytes", K2I_Q_CMD_MAX);
            break;
        }
        handle_list(k, rd, req, qs, qlen, K2I_QP_LIST & ~(unsigned)K2I_QP_CMD, 0, p.segs[3],
                    p.lens[3], token, resp);
        break;
    case R_THREADS:
        handle_list(k, rd, req, qs, qlen,
                    K2I_QP_FIELDS | K2I_QP_FILTERS | K2I_QP_SORT | K2I_QP_LIMIT | K2I_QP_CMD, pid,
                    NULL, 0, token, resp);
        break;
    case R_SELF:
        handle_one(k, rd, req, k->self_pid, qs, qlen, token, resp);
        break;
    case R_PID:
        handle_one(k, rd, req, pid, qs, qlen, token, resp);
        break;
    case R_METRICS:
        handle_metrics(k, rd, resp);
        break;
    default:
        api_error(resp, 404, "no such endpoint");
        break;
    }
}
