/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The terminal of a foreground `run` or `exec` whose process has
 * "terminal": true and no --console-socket was given: as runc does, the CLI
 * becomes the console itself. It gives the library one end of a socketpair
 * as the console connection, receives the pty master the container sends
 * there, puts its own terminal (if stdin is one) in raw mode, and copies
 * stdin to the master and the master to stdout until the process exits.
 * Window size follows SIGWINCH; other signals go to the process as without a
 * terminal. CLI only, single-threaded: runs on the main thread.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "cleanup.h"
#include "cli-tty.h"
#include "kerr.h"
#include "util.h"

int
cli_tty_open(struct cli_tty *t, struct kerr *err)
{
    *t = (struct cli_tty){ .sock = { -1, -1 }, .master = -1 };
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, t->sock) < 0)
        return kerr_set(err, errno, "console: socketpair");
    return 0;
}

/* Receive one fd (SCM_RIGHTS) from sock; -errno on failure. */
static int
recv_fd(int sock)
{
    char byte;
    struct iovec iov = { &byte, 1 };
    union {
        char buf[CMSG_SPACE(sizeof(int))];
        struct cmsghdr align;
    } u;
    struct msghdr msg = {
        .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof(u.buf)
    };
    ssize_t n;
    do
        n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
    while (n < 0 && errno == EINTR);
    /* Nothing queued (or the other end closed without sending): no terminal. */
    if (n < 0)
        return errno == EAGAIN ? -ENOENT : -errno;
    if (n == 0)
        return -ENOENT;
    struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
    if (!c || c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS ||
        c->cmsg_len != CMSG_LEN(sizeof(int)))
        return -EBADMSG;
    int fd;
    memcpy(&fd, CMSG_DATA(c), sizeof(fd));
    return fd;
}

void
cli_tty_resize(struct cli_tty *t)
{
    struct winsize ws;
    if (t->master >= 0 && isatty(STDIN_FILENO) && ioctl(STDIN_FILENO, TIOCGWINSZ, &ws) == 0 &&
        ws.ws_row > 0)
        ioctl(t->master, TIOCSWINSZ, &ws);
}

int
cli_tty_accept(struct cli_tty *t, struct kerr *err)
{
    /* The container sent the master before create (or exec) returned, if it has a terminal. */
    t->sock[1] = safe_close(t->sock[1]);
    int fd = recv_fd(t->sock[0]);
    t->sock[0] = safe_close(t->sock[0]);
    if (fd == -ENOENT)
        return 0;
    if (fd < 0)
        return kerr_set(err, -fd, "console: receive the pty master");
    t->master = fd;
    if (isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &t->saved) == 0) {
        struct termios raw = t->saved;
        cfmakeraw(&raw);
        if (tcsetattr(STDIN_FILENO, TCSANOW, &raw) == 0)
            t->raw = true;
    }
    cli_tty_resize(t);
    return 1;
}

/* Copy what is readable on from to to; returns bytes read, 0 at EOF, -errno. */
static ssize_t
pump(int from, int to)
{
    char buf[8192];
    ssize_t n = read(from, buf, sizeof(buf));
    if (n < 0)
        return errno == EAGAIN || errno == EINTR ? -EAGAIN : -errno;
    if (n > 0 && write_all(to, buf, (size_t)n) < 0)
        return -EPIPE;
    return n;
}

int
cli_tty_proxy(struct cli_tty *t, pid_t pid, const sigset_t *fwd, int *ret_exit)
{
    cleanup_close int sfd = signalfd(-1, fwd, SFD_CLOEXEC | SFD_NONBLOCK);
    if (sfd < 0)
        return -errno;
    /*
     * The master is non-blocking and stdin goes through a buffer: a process
     * that stops reading its terminal while its output is not drained must
     * not block us in a write, or signals (^C, SIGTERM) would no longer get
     * through. While the buffer is full we stop reading stdin.
     */
    int fl = fcntl(t->master, F_GETFL);
    if (fl < 0 || fcntl(t->master, F_SETFL, fl | O_NONBLOCK) < 0)
        return -errno;
    char in[8192];
    size_t in_len = 0;
    bool in_eof = false, master_open = true;
    char last = '\n';
    bool exited = false;
    int code = 255;
    while (!exited) {
        struct pollfd p[3] = {
            { .fd = sfd, .events = POLLIN },
            { .fd = master_open ? t->master : -1, .events = POLLIN | (in_len ? POLLOUT : 0) },
            { .fd = !in_eof && in_len < sizeof(in) ? STDIN_FILENO : -1, .events = POLLIN },
        };
        if (poll(p, 3, -1) < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (p[0].revents) {
            struct signalfd_siginfo si;
            while (read(sfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
                if (si.ssi_signo == SIGWINCH) {
                    cli_tty_resize(t);
                } else if (si.ssi_signo == SIGCHLD) {
                    int st;
                    pid_t w;
                    while ((w = waitpid(-1, &st, WNOHANG)) > 0)
                        if (w == pid) {
                            code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
                            exited = true;
                        }
                } else {
                    kill(pid, (int)si.ssi_signo);
                }
            }
        }
        /* The master reports EIO (POLLHUP) once no process holds the pty open. */
        if (p[1].revents & POLLIN) {
            ssize_t n = pump(t->master, STDOUT_FILENO);
            if (n == 0 || (n < 0 && n != -EAGAIN))
                master_open = false;
        } else if (p[1].revents & (POLLHUP | POLLERR)) {
            master_open = false;
        }
        if (master_open && (p[1].revents & POLLOUT) && in_len) {
            ssize_t n = write(t->master, in, in_len);
            if (n > 0) {
                memmove(in, in + n, in_len - (size_t)n);
                in_len -= (size_t)n;
            } else if (n < 0 && errno != EAGAIN && errno != EINTR) {
                in_len = 0; /* nobody will read it */
            }
        }
        if (!master_open)
            in_len = 0;
        if (p[2].revents) {
            ssize_t n = read(STDIN_FILENO, in + in_len, sizeof(in) - in_len);
            if (n > 0) {
                in_len += (size_t)n;
                last = in[in_len - 1];
            } else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
                in_eof = true;
                /*
                 * End of a piped stdin: EOF as typed on a terminal, a ^D at
                 * the start of a line (a second one ends a partial line).
                 */
                if (n == 0 && !t->raw && master_open && in_len + 2 <= sizeof(in)) {
                    if (last != '\n')
                        in[in_len++] = '\x04';
                    in[in_len++] = '\x04';
                }
            }
        }
    }
    /*
     * What the process wrote just before it exited is still in the pty; a
     * process it left behind may go on writing: take at most 1 MiB.
     */
    for (size_t total = 0; master_open && total < (1u << 20);) {
        ssize_t n = pump(t->master, STDOUT_FILENO);
        if (n <= 0)
            break;
        total += (size_t)n;
    }
    *ret_exit = code;
    return 0;
}

void
cli_tty_close(struct cli_tty *t)
{
    if (t->raw)
        tcsetattr(STDIN_FILENO, TCSANOW, &t->saved);
    t->raw = false;
    t->master = safe_close(t->master);
    t->sock[0] = safe_close(t->sock[0]);
    t->sock[1] = safe_close(t->sock[1]);
}
