/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The CLI as the console of a foreground `run`/`exec` with a terminal and no
 * --console-socket (cli-tty.c). Use: cli_tty_open, pass t.sock[1] as the
 * library's console_fd, create/exec, cli_tty_accept (1: the process has a
 * terminal), cli_tty_proxy until it exits, cli_tty_close (always).
 */
#ifndef KUMO_RUNTIME_CLI_TTY_H
#define KUMO_RUNTIME_CLI_TTY_H

#include <signal.h>
#include <stdbool.h>
#include <sys/types.h>
#include <termios.h>

struct kerr;

struct cli_tty {
    int sock[2]; /* [1] goes to the library, the master arrives on [0] */
    int master;
    bool raw; /* stdin is a terminal put in raw mode; restored by close */
    struct termios saved;
};

/* Make the socketpair. */
int cli_tty_open(struct cli_tty *t, struct kerr *err);
/*
 * After create/exec: take the pty master the container sent (1), or find
 * none because the process has no terminal (0); closes the socketpair. With
 * a master, stdin's terminal goes raw and lends its window size.
 */
int cli_tty_accept(struct cli_tty *t, struct kerr *err);
/* Give the master stdin's window size (on SIGWINCH). */
void cli_tty_resize(struct cli_tty *t);
/*
 * Copy stdin to the master and the master to stdout until pid (our child)
 * exits; the signals in fwd (blocked by the caller) are forwarded to pid,
 * except SIGWINCH (resize) and SIGCHLD (reap). *ret_exit: its exit status
 * (128+signal if killed). Returns 0 or -errno.
 */
int cli_tty_proxy(struct cli_tty *t, pid_t pid, const sigset_t *fwd, int *ret_exit);
/* Restore the terminal, close and remove everything. Safe to call twice. */
void cli_tty_close(struct cli_tty *t);

#endif
