/* SPDX-License-Identifier: Apache-2.0 */
/*
 * k2i_run(): the daemon's life. In the privileged parent: bind listeners,
 * read the TLS key, open /proc, fork the HTTP process and serve its
 * privileged requests until it exits. In the HTTP process: drop privileges,
 * start the sampler and the HTTP server, print the listening lines, wait
 * for SIGTERM/SIGINT, shut down cleanly. See privsep.h for the split.
 */
#include "addr.h"
#include "api.h"
#include "cleanup.h"
#include "k2i.h"
#include "kerr.h"
#include "log.h"
#include "privsep.h"
#include "sampler.h"
#include "sandbox.h"
#include "server.h"
#include "users.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

struct listeners {
    int fds[K2I_MAX_LISTEN];
    struct addr addrs[K2I_MAX_LISTEN];
    size_t n;
};

static void
close_listeners(struct listeners *l)
{
    for (size_t i = 0; i < l->n; i++)
        l->fds[i] = safe_close(l->fds[i]);
}

static void
unlink_unix(const struct listeners *l)
{
    for (size_t i = 0; i < l->n; i++) {
        if (l->addrs[i].is_unix) {
            const struct sockaddr_un *un = (const struct sockaddr_un *)&l->addrs[i].ss;
            unlink(un->sun_path);
        }
    }
}

/*
 * Sanitizer runtimes need syscalls the filter refuses (LeakSanitizer stops
 * the world with ptrace at exit), so sanitizer builds run without it.
 */
static bool
sanitized(void)
{
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
    return true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
    return true;
#else
    return false;
#endif
#else
    return false;
#endif
}

/* The HTTP-facing side; runs until SIGTERM/SIGINT. Returns 0 or -errno. */
static int
serve(struct k2i_config *cfg, int procfd, struct listeners *l, const char *cert, const char *key,
      const struct k2i_privops *ops, void *ops_ctx, pid_t parent, sigset_t *sigs, struct kerr *err)
{
    /*
     * Listings build ~0.5 MB answers per 1,000 processes; keep such buffers
     * in the heap between requests instead of mmap/munmap (and page faults)
     * every time.
     */
    mallopt(M_MMAP_THRESHOLD, 8 << 20);
    mallopt(M_TRIM_THRESHOLD, 16 << 20);
    struct k2i k;
    int r = api_init(&k, cfg, procfd, NULL, ops, ops_ctx);
    if (r < 0) {
        close_listeners(l);
        return kerr_set(err, -r, "initialise");
    }
    k.parent_pid = parent;
    /* Set before any request can read it; sandbox_apply() failing exits. */
    k.seccomp = parent != 0 && cfg->seccomp && !sanitized();
    k.ns_via_priv = parent != 0 && geteuid() != 0;
    /*
     * Kept /proc fds: 3 per process, within the fd limit (raised to the hard
     * limit by k2i_run) minus room for connections and the rest.
     */
    struct rlimit rl;
    size_t fdmax = cfg->fd_cache;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY) {
        size_t room = rl.rlim_cur > (rlim_t)cfg->max_connections + 256
                          ? (size_t)(rl.rlim_cur - cfg->max_connections - 256) / 3
                          : 0;
        if (fdmax > room)
            fdmax = room;
    }
    k.fdcache = procfs_fdcache_new(fdmax);
    k.fdcache_max = k.fdcache ? fdmax : 0;
    struct sampler *smp = sampler_new(procfd, cfg->sample_interval_usec);
    if (smp)
        sampler_set_fdcache(smp, k.fdcache);
    if (!smp || (r = sampler_start(smp)) < 0) {
        sampler_free(smp);
        k.fdcache = procfs_fdcache_free(k.fdcache);
        api_fini(&k);
        close_listeners(l);
        return kerr_set(err, smp ? -r : ENOMEM, "start the CPU sampler");
    }
    k.sampler = smp;
    struct server *srv = server_start(&k, l->fds, l->n, cert, key, err);
    for (size_t i = 0; i < l->n; i++)
        l->fds[i] = -1; /* taken by server_start */
    if (!srv) {
        sampler_free(smp);
        procfs_fdcache_free(k.fdcache);
        api_fini(&k);
        return -EIO;
    }
    /*
     * Everything is set up: threads run, TLS is loaded. In the privilege-
     * separated HTTP process, allow from now on only what serving needs.
     */
    if (k.seccomp) {
        if ((r = sandbox_apply(err)) < 0) {
            server_free(srv);
            sampler_free(smp);
            procfs_fdcache_free(k.fdcache);
            api_fini(&k);
            return r;
        }
    }
    for (size_t i = 0; i < l->n; i++) {
        char buf[160];
        addr_format(&l->addrs[i], buf, sizeof(buf));
        printf("k2i: listening on %s%s\n", cert ? "https://" : "", buf);
    }
    fflush(stdout);
    log_info("ready: %zu listener(s), privsep %s, seccomp %s, uid %u, sampling every %llu ms, "
             "fds kept for up to %zu processes",
             l->n, parent ? "on" : "off", k.seccomp ? "on" : "off", (unsigned)geteuid(),
             (unsigned long long)(cfg->sample_interval_usec / 1000), k.fdcache_max);

    for (;;) {
        siginfo_t si;
        int sig = sigwaitinfo(sigs, &si);
        if (sig < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        if (sig == SIGTERM || sig == SIGINT)
            break;
        if (sig == SIGHUP) {
            users_flush();
            log_info("SIGHUP: user name cache flushed");
        }
    }
    log_info("shutting down");
    server_free(srv);
    sampler_free(smp);
    procfs_fdcache_free(k.fdcache);
    api_fini(&k);
    return 0;
}

static int
read_pem(const char *path, const char *what, char **ret, struct kerr *err)
{
    size_t len;
    int r = read_file_alloc(path, 1 << 20, ret, &len);
    if (r < 0)
        return kerr_set(err, -r, "TLS %s '%s'", what, path);
    return 0;
}

int
k2i_run(struct k2i_config *cfg, struct kerr *err)
{
    int r;
    if (cfg->nlisten == 0 && (r = k2i_config_add_listen(cfg, "127.0.0.1:8000", err)) < 0)
        return r;

    struct listeners l;
    memset(&l, 0, sizeof(l));
    for (size_t i = 0; i < cfg->nlisten; i++) {
        if ((r = addr_parse(cfg->listen[i], 8000, &l.addrs[i], err)) < 0 ||
            (r = addr_listen(&l.addrs[i], 128, &l.fds[i], err)) < 0) {
            close_listeners(&l);
            unlink_unix(&l);
            return kerr_prefix(err, "listen on '%s'", cfg->listen[i]);
        }
        l.n++;
    }

    cleanup_free char *cert = NULL;
    char *key = NULL;
    if (cfg->tls_cert && ((r = read_pem(cfg->tls_cert, "certificate", &cert, err)) < 0 ||
                          (r = read_pem(cfg->tls_key, "key", &key, err)) < 0)) {
        close_listeners(&l);
        unlink_unix(&l);
        return r;
    }

    cleanup_close int procfd = open("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (procfd < 0) {
        r = kerr_set(err, errno, "open /proc");
        goto out;
    }

    /* Signals are taken synchronously: blocked here, before any thread. */
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGHUP);
    sigaddset(&sigs, SIGCHLD);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);

    /* Kept /proc fds need more than the usual 1024 fds. */
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }

    bool privsep = cfg->privsep && geteuid() == 0;
    if (cfg->privsep && !privsep)
        log_info("not running as root: privilege separation off, signals only to own processes");
    if (!privsep) {
        struct priv_state st = { cfg, procfd, { getpid(), 0 } };
        r = serve(cfg, procfd, &l, cert, key, &priv_direct_ops, &st, 0, &sigs, err);
        goto out;
    }

    struct passwd *pw = getpwnam(cfg->user);
    if (!pw) {
        r = kerr_setf(err, ENOENT, "privsep user '%s' does not exist", cfg->user);
        goto out;
    }
    uid_t uid = pw->pw_uid;
    gid_t gid = pw->pw_gid;
    int sp[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) < 0) {
        r = kerr_set(err, errno, "socketpair");
        goto out;
    }
    pid_t parent = getpid();
    fflush(stdout);
    fflush(stderr);
    pid_t child = fork();
    if (child < 0) {
        r = kerr_set(err, errno, "fork");
        close(sp[0]);
        close(sp[1]);
        goto out;
    }
    if (child == 0) {
        close(sp[0]);
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        if (getppid() != parent) /* the parent died before the line above */
            return kerr_setf(err, ESRCH, "privileged parent exited");
        if ((r = priv_drop(uid, gid, err)) < 0) {
            close_listeners(&l);
            return kerr_prefix(err, "drop privileges to '%s'", cfg->user);
        }
        struct priv_client client = { .fd = sp[1] };
        pthread_mutex_init(&client.lock, NULL);
        r = serve(cfg, procfd, &l, cert, key, &priv_client_ops, &client, parent, &sigs, err);
        if (key) {
            explicit_bzero(key, strlen(key));
            free(key);
        }
        close(sp[1]);
        return r;
    }

    /* Parent: the child owns the listeners and the TLS key now. */
    close(sp[1]);
    for (size_t i = 0; i < l.n; i++)
        l.fds[i] = safe_close(l.fds[i]);
    if (key) {
        explicit_bzero(key, strlen(key));
        free(key);
        key = NULL;
    }
    int sigfd = signalfd(-1, &sigs, SFD_CLOEXEC);
    if (sigfd < 0) {
        r = kerr_set(err, errno, "signalfd");
        kill(child, SIGTERM);
        close(sp[0]);
        goto out;
    }
    struct priv_state st = { cfg, procfd, { parent, child } };
    int rc = priv_parent_loop(&st, sp[0], sigfd, child);
    close(sigfd);
    unlink_unix(&l);
    if (rc != 0)
        return kerr_setf(err, EIO, "HTTP process exited with status %d", rc);
    return 0;

out:
    close_listeners(&l);
    unlink_unix(&l);
    if (key) {
        explicit_bzero(key, strlen(key));
        free(key);
    }
    return r;
}
