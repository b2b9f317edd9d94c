/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Privileged operations of k2i and the channel to them (see privsep.h).
 * priv_handle() is the one place that decides whether a signal may be sent
 * or an environment read; the parent runs it for the child's requests, the
 * unseparated daemon runs it in-process. The parent is single-threaded; the
 * child side serialises its HTTP threads on a mutex per request/answer pair.
 */
#include "privsep.h"
#include "kerr.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_pidfd_send_signal
#define SYS_pidfd_send_signal 424
#endif

/* Scopes of a token given in clear text; -1 when it is not a known token. */
static int
token_scopes(const struct k2i_config *cfg, const char *token)
{
    size_t n = strnlen(token, K2I_TOKEN_MAX + 1);
    if (n == 0 || n > K2I_TOKEN_MAX)
        return -1;
    uint8_t h[32];
    k2i_token_hash(token, n, h);
    int scopes = -1;
    for (size_t i = 0; i < cfg->ntokens; i++) {
        uint8_t d = 0;
        for (int j = 0; j < 32; j++)
            d |= h[j] ^ cfg->tokens[i].hash[j];
        if (d == 0 && scopes < 0)
            scopes = (int)cfg->tokens[i].scopes;
    }
    return scopes;
}

static void fail(struct priv_resp *resp, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
fail(struct priv_resp *resp, int status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    resp->status = status;
    vsnprintf(resp->msg, sizeof(resp->msg), fmt, ap);
    va_end(ap);
}

static bool
pid_ok(int pid)
{
    return pid >= 1 && pid <= PROCFS_PID_MAX;
}

static int
require_scope(const struct priv_state *ps, const char *token, unsigned scope, const char *name,
              struct priv_resp *resp)
{
    int scopes = token_scopes(ps->cfg, token);
    if (scopes < 0) {
        fail(resp, 401, "this needs a bearer token with scope '%s'", name);
        return -1;
    }
    if (!((unsigned)scopes & scope)) {
        fail(resp, 403, "token lacks scope '%s'", name);
        return -1;
    }
    return 0;
}

static void
do_signal(const struct priv_state *ps, const struct priv_req *req, struct priv_resp *resp)
{
    int pid = req->ids[0];
    if (require_scope(ps, req->token, K2I_SCOPE_SIGNAL, "signal", resp) < 0)
        return;
    if (req->count != 1 || !pid_ok(pid)) {
        fail(resp, 400, "bad pid");
        return;
    }
    if (req->signo < 0 || req->signo > SIGRTMAX) {
        fail(resp, 400, "bad signal number %d", req->signo);
        return;
    }
    if (pid == 1) {
        fail(resp, 403, "refusing to signal pid 1 (init)");
        return;
    }
    for (int i = 0; i < 2; i++) {
        if (ps->self_pids[i] && pid == ps->self_pids[i]) {
            fail(resp, 403, "refusing to signal k2i itself (pid %d)", pid);
            return;
        }
    }
    /* pidfd_open only accepts thread-group leaders: threads are not targets. */
    int pfd = (int)syscall(SYS_pidfd_open, pid, 0);
    if (pfd < 0) {
        if (errno == ESRCH || errno == EINVAL)
            fail(resp, 404, "no process with pid %d", pid);
        else
            fail(resp, 500, "pidfd_open %d: %s", pid, strerror(errno));
        return;
    }
    /* Kernel threads ignore most signals; say so instead of pretending. */
    char path[64], buf[1024];
    snprintf(path, sizeof(path), "%d/stat", pid);
    int fd = openat(ps->procfd, path, O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        ssize_t n = read(fd, buf, sizeof(buf) - 1);
        close(fd);
        struct procfs_stat st;
        if (n > 0 && procfs_parse_stat(buf, (size_t)n, &st) == 0 &&
            (st.flags & PROCFS_PF_KTHREAD)) {
            close(pfd);
            fail(resp, 403, "refusing to signal kernel thread %d (%s)", pid, st.comm);
            return;
        }
    }
    int r = (int)syscall(SYS_pidfd_send_signal, pfd, req->signo, NULL, 0);
    int e = errno;
    close(pfd);
    if (r < 0) {
        if (e == ESRCH)
            fail(resp, 404, "no process with pid %d", pid);
        else if (e == EPERM)
            fail(resp, 403, "not permitted to signal pid %d", pid);
        else
            fail(resp, 500, "signal %d to pid %d: %s", req->signo, pid, strerror(e));
        return;
    }
    resp->status = 200;
}

static void
do_environ(const struct priv_state *ps, const struct priv_req *req, struct priv_resp *resp,
           int *ret_fd)
{
    int pid = req->ids[0];
    if (require_scope(ps, req->token, K2I_SCOPE_ENVIRON, "environ", resp) < 0)
        return;
    if (req->count != 1 || !pid_ok(pid)) {
        fail(resp, 400, "bad pid");
        return;
    }
    char path[64];
    snprintf(path, sizeof(path), "%d/environ", pid);
    int fd = openat(ps->procfd, path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        fail(resp, errno == ENOENT || errno == ESRCH ? 404 : 403, "open environ of %d: %s", pid,
             strerror(errno));
        return;
    }
    resp->status = 200;
    *ret_fd = fd;
}

static void
do_ns(const struct priv_state *ps, const struct priv_req *req, struct priv_resp *resp)
{
    if (ps->cfg->read_requires_token && token_scopes(ps->cfg, req->token) < 0) {
        fail(resp, 401, "reading needs a bearer token");
        return;
    }
    if (req->count == 0 || req->count > PRIVOPS_NS_BATCH) {
        fail(resp, 400, "bad pid count");
        return;
    }
    for (uint32_t i = 0; i < req->count; i++) {
        if (!pid_ok(req->ids[i])) {
            fail(resp, 400, "bad pid");
            return;
        }
    }
    for (uint32_t i = 0; i < req->count; i++)
        procfs_read_ns(ps->procfd, req->ids[i], resp->ns[i]);
    resp->count = req->count;
    resp->status = 200;
}

void
priv_handle(const struct priv_state *ps, const struct priv_req *req, struct priv_resp *resp,
            int *ret_fd)
{
    memset(resp, 0, sizeof(*resp));
    *ret_fd = -1;
    if (memchr(req->token, '\0', sizeof(req->token)) == NULL) {
        fail(resp, 400, "malformed request");
        return;
    }
    switch (req->type) {
    case PRIV_SIGNAL:
        do_signal(ps, req, resp);
        break;
    case PRIV_ENVIRON:
        do_environ(ps, req, resp, ret_fd);
        break;
    case PRIV_NS:
        do_ns(ps, req, resp);
        break;
    default:
        fail(resp, 400, "unknown request type %u", req->type);
        break;
    }
}

/* ---- in-process ops ---- */

static void
fill_req(struct priv_req *req, uint32_t type, const char *token)
{
    memset(req, 0, sizeof(*req));
    req->type = type;
    if (token)
        snprintf(req->token, sizeof(req->token), "%s", token);
}

static int
direct_signal(void *ctx, const char *token, int pid, int signo, char *msg, size_t cap)
{
    struct priv_req req;
    struct priv_resp resp;
    int fd;
    fill_req(&req, PRIV_SIGNAL, token);
    req.count = 1;
    req.ids[0] = pid;
    req.signo = signo;
    priv_handle(ctx, &req, &resp, &fd);
    snprintf(msg, cap, "%s", resp.msg);
    return resp.status;
}

static int
direct_environ(void *ctx, const char *token, int pid, int *ret_fd, char *msg, size_t cap)
{
    struct priv_req req;
    struct priv_resp resp;
    fill_req(&req, PRIV_ENVIRON, token);
    req.count = 1;
    req.ids[0] = pid;
    priv_handle(ctx, &req, &resp, ret_fd);
    snprintf(msg, cap, "%s", resp.msg);
    return resp.status;
}

static int
direct_ns(void *ctx, const char *token, const int *ids, size_t n, uint64_t (*ret)[PROCFS_NS_COUNT])
{
    const struct priv_state *ps = ctx;
    for (size_t i = 0; i < n; i++)
        procfs_read_ns(ps->procfd, ids[i], ret[i]);
    return 200;
}

const struct k2i_privops priv_direct_ops = {
    .signal = direct_signal,
    .environ_fd = direct_environ,
    .ns = direct_ns,
};

/* ---- child side of the channel ---- */

static int
client_call(struct priv_client *c, const struct priv_req *req, struct priv_resp *resp, int *ret_fd)
{
    if (ret_fd)
        *ret_fd = -1;
    pthread_mutex_lock(&c->lock);
    ssize_t n;
    do
        n = send(c->fd, req, sizeof(*req), MSG_NOSIGNAL);
    while (n < 0 && errno == EINTR);
    if (n != (ssize_t)sizeof(*req)) {
        pthread_mutex_unlock(&c->lock);
        memset(resp, 0, sizeof(*resp));
        fail(resp, 503, "privileged helper unavailable");
        return -EIO;
    }
    union {
        struct cmsghdr h;
        char buf[CMSG_SPACE(sizeof(int))];
    } cm;
    struct iovec iov = { resp, sizeof(*resp) };
    struct msghdr mh = {
        .msg_iov = &iov, .msg_iovlen = 1, .msg_control = &cm, .msg_controllen = sizeof(cm)
    };
    do
        n = recvmsg(c->fd, &mh, MSG_CMSG_CLOEXEC);
    while (n < 0 && errno == EINTR);
    pthread_mutex_unlock(&c->lock);

    int fd = -1;
    for (struct cmsghdr *h = CMSG_FIRSTHDR(&mh); h; h = CMSG_NXTHDR(&mh, h))
        if (h->cmsg_level == SOL_SOCKET && h->cmsg_type == SCM_RIGHTS &&
            h->cmsg_len == CMSG_LEN(sizeof(int)))
            memcpy(&fd, CMSG_DATA(h), sizeof(int));
    if (n != (ssize_t)sizeof(*resp) || (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC))) {
        if (fd >= 0)
            close(fd);
        memset(resp, 0, sizeof(*resp));
        fail(resp, 503, "privileged helper unavailable");
        return -EIO;
    }
    resp->msg[sizeof(resp->msg) - 1] = '\0';
    if (ret_fd)
        *ret_fd = fd;
    else if (fd >= 0)
        close(fd);
    return 0;
}

static int
client_signal(void *ctx, const char *token, int pid, int signo, char *msg, size_t cap)
{
    struct priv_req req;
    struct priv_resp resp;
    fill_req(&req, PRIV_SIGNAL, token);
    req.count = 1;
    req.ids[0] = pid;
    req.signo = signo;
    client_call(ctx, &req, &resp, NULL);
    snprintf(msg, cap, "%s", resp.msg);
    return resp.status;
}

static int
client_environ(void *ctx, const char *token, int pid, int *ret_fd, char *msg, size_t cap)
{
    struct priv_req req;
    struct priv_resp resp;
    int fd;
    fill_req(&req, PRIV_ENVIRON, token);
    req.count = 1;
    req.ids[0] = pid;
    client_call(ctx, &req, &resp, &fd);
    snprintf(msg, cap, "%s", resp.msg);
    if (resp.status == 200 && fd < 0)
        return 500;
    if (resp.status != 200 && fd >= 0)
        close(fd);
    *ret_fd = resp.status == 200 ? fd : -1;
    return resp.status;
}

static int
client_ns(void *ctx, const char *token, const int *ids, size_t n, uint64_t (*ret)[PROCFS_NS_COUNT])
{
    struct priv_req req;
    struct priv_resp *resp = malloc(sizeof(*resp));
    if (!resp || n > PRIVOPS_NS_BATCH) {
        free(resp);
        return 500;
    }
    fill_req(&req, PRIV_NS, token);
    req.count = (uint32_t)n;
    memcpy(req.ids, ids, n * sizeof(int));
    client_call(ctx, &req, resp, NULL);
    int st = resp->status;
    if (st == 200 && resp->count == n)
        memcpy(ret, resp->ns, n * sizeof(resp->ns[0]));
    free(resp);
    return st;
}

const struct k2i_privops priv_client_ops = {
    .signal = client_signal,
    .environ_fd = client_environ,
    .ns = client_ns,
};

/* ---- parent ---- */

static void
reply(int fd, const struct priv_resp *resp, int pass_fd)
{
    union {
        struct cmsghdr h;
        char buf[CMSG_SPACE(sizeof(int))];
    } cm;
    struct iovec iov = { (void *)resp, sizeof(*resp) };
    struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
    if (pass_fd >= 0) {
        memset(&cm, 0, sizeof(cm));
        mh.msg_control = &cm;
        mh.msg_controllen = sizeof(cm);
        struct cmsghdr *h = CMSG_FIRSTHDR(&mh);
        h->cmsg_level = SOL_SOCKET;
        h->cmsg_type = SCM_RIGHTS;
        h->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(h), &pass_fd, sizeof(int));
    }
    ssize_t n;
    do
        n = sendmsg(fd, &mh, MSG_NOSIGNAL);
    while (n < 0 && errno == EINTR);
}

static int
child_status(int status)
{
    if (WIFEXITED(status))
        return WEXITSTATUS(status);
    if (WIFSIGNALED(status) && WTERMSIG(status) == SIGTERM)
        return 0;
    return 1;
}

int
priv_parent_loop(const struct priv_state *ps, int fd, int sigfd, pid_t child)
{
    struct priv_req *req = malloc(sizeof(*req));
    struct priv_resp *resp = malloc(sizeof(*resp));
    bool stopping = false;
    int rc = 1;
    if (!req || !resp) {
        kill(child, SIGTERM);
        stopping = true;
    }
    for (;;) {
        struct pollfd pfd[2] = { { sigfd, POLLIN, 0 }, { fd, POLLIN, 0 } };
        if (poll(pfd, fd >= 0 && req && resp ? 2 : 1, -1) < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        if (pfd[0].revents & POLLIN) {
            struct signalfd_siginfo si;
            if (read(sigfd, &si, sizeof(si)) == sizeof(si)) {
                if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT) {
                    stopping = true;
                    kill(child, SIGTERM);
                } else if (si.ssi_signo == SIGHUP) {
                    kill(child, SIGHUP);
                }
            }
            /* SIGCHLDs coalesce: look every time. */
            int status;
            if (waitpid(child, &status, WNOHANG) == child) {
                rc = child_status(status);
                if (stopping && WIFSIGNALED(status) && WTERMSIG(status) == SIGTERM)
                    rc = 0;
                break;
            }
        }
        if (fd >= 0 && (pfd[1].revents & (POLLIN | POLLHUP | POLLERR))) {
            ssize_t got;
            do
                got = recv(fd, req, sizeof(*req), MSG_TRUNC);
            while (got < 0 && errno == EINTR);
            if (got <= 0) {
                /* The child closed its end: it is exiting; SIGCHLD follows. */
                close(fd);
                fd = -1;
                continue;
            }
            int pass = -1;
            if ((size_t)got != sizeof(*req)) {
                memset(resp, 0, sizeof(*resp));
                fail(resp, 400, "malformed request");
            } else {
                priv_handle(ps, req, resp, &pass);
            }
            reply(fd, resp, pass);
            if (pass >= 0)
                close(pass);
        }
    }
    if (fd >= 0)
        close(fd);
    free(req);
    free(resp);
    return rc;
}

int
priv_drop(uid_t uid, gid_t gid, struct kerr *err)
{
    /* Empty the bounding set first: that needs CAP_SETPCAP, lost with setuid. */
    for (int cap = 0; cap <= 63; cap++) {
        if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 && errno != EINVAL)
            return kerr_set(err, errno, "drop capability %d from the bounding set", cap);
    }
    if (setgroups(0, NULL) < 0)
        return kerr_set(err, errno, "setgroups");
    if (setresgid(gid, gid, gid) < 0)
        return kerr_set(err, errno, "setresgid %u", (unsigned)gid);
    if (setresuid(uid, uid, uid) < 0)
        return kerr_set(err, errno, "setresuid %u", (unsigned)uid);
    /* Ambient capabilities are cleared by setuid; make sure nothing is left. */
    struct __user_cap_header_struct hdr = { _LINUX_CAPABILITY_VERSION_3, 0 };
    struct __user_cap_data_struct data[2];
    memset(data, 0, sizeof(data));
    if (syscall(SYS_capset, &hdr, data) < 0)
        return kerr_set(err, errno, "clear capabilities");
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
        return kerr_set(err, errno, "set no_new_privs");
    if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
        return kerr_set(err, errno, "clear dumpable");
    if (uid != 0 && (setuid(0) == 0 || seteuid(0) == 0))
        return kerr_setf(err, EPERM, "could regain root after dropping privileges");
    return 0;
}
