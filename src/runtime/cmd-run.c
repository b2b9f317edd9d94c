/* SPDX-License-Identifier: Apache-2.0 */
/* kumo-runtime run: create + start; in the foreground, forward signals, wait, delete and exit with
 * the container's status (runc run). */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli-tty.h"
#include "cli.h"
#include "kerr.h"
#include "runtime.h"
#include <signal.h>
#include <sys/wait.h>

int
cmd_run(struct cli *g, int argc, char **argv)
{
    static const struct option opts[] = {
        CLI_CREATE_LONGOPTS,
        { "detach", no_argument, NULL, 'd' },
        { "keep", no_argument, NULL, 'K' },
        { NULL, 0, NULL, 0 },
    };
    struct rt_create_opts o = { .inherit_stdio = true };
    struct kerr err = KERR_INIT;
    const char *bundle = ".";
    bool detach = false, keep = false;
    int c;
    while ((c = getopt_long(argc, argv, "b:d", opts, NULL)) != -1) {
        if (c == 'd')
            detach = true;
        else if (c == 'K')
            keep = true;
        else if (!cli_create_option(&o, &bundle, c, optarg))
            return 2;
    }
    const char *id = cli_one_id(g, "run", argc, argv, optind);
    if (!id)
        return 2;

    /* Block the signals we forward before the init exists; it resets its mask. */
    sigset_t fwd, old;
    sigfillset(&fwd);
    sigdelset(&fwd, SIGSEGV);
    sigdelset(&fwd, SIGBUS);
    sigdelset(&fwd, SIGFPE);
    sigdelset(&fwd, SIGILL);
    if (!detach)
        sigprocmask(SIG_BLOCK, &fwd, &old);

    /* In the foreground without --console-socket we are the terminal, if there is one. */
    struct cli_tty tty;
    bool own_console = !detach && !o.console_socket;
    if (own_console) {
        if (cli_tty_open(&tty, &err) < 0)
            return cli_error(g, "run", id, &err);
        o.has_console_fd = true;
        o.console_fd = tty.sock[1];
    }
    struct rt_container *ct = NULL;
    o.start_now = true;
    if (rt_container_create(g->root, id, bundle, &o, &ct, &err) < 0) {
        if (own_console)
            cli_tty_close(&tty);
        return cli_error(g, "run", id, &err);
    }
    int has_tty = own_console ? cli_tty_accept(&tty, &err) : 0;
    if (has_tty < 0) {
        struct kerr derr = KERR_INIT;
        cli_error(g, "run", id, &err);
        cli_tty_close(&tty);
        rt_container_delete(ct, true, &derr);
        rt_container_free(ct);
        return 1;
    }
    if (rt_container_start(ct, &err) < 0) {
        struct kerr derr = KERR_INIT;
        if (own_console)
            cli_tty_close(&tty);
        cli_error(g, "run", id, &err);
        rt_container_delete(ct, true, &derr);
        rt_container_free(ct);
        return 1;
    }
    if (detach) {
        rt_container_free(ct);
        return 0;
    }
    pid_t pid = rt_container_pid(ct);
    int code = 255;
    if (has_tty > 0) {
        int r = cli_tty_proxy(&tty, pid, &fwd, &code);
        cli_tty_close(&tty);
        if (r < 0) {
            kerr_set(&err, -r, "console: proxy the terminal");
            cli_error(g, "run", id, &err);
            rt_container_kill(ct, SIGKILL, false, NULL);
            waitpid(pid, NULL, 0);
        }
    } else if (own_console) {
        cli_tty_close(&tty);
    }
    while (has_tty <= 0) {
        siginfo_t si;
        int sig = sigwaitinfo(&fwd, &si);
        if (sig < 0)
            continue;
        if (sig == SIGCHLD) {
            int st;
            pid_t w;
            bool done = false;
            while ((w = waitpid(-1, &st, WNOHANG)) > 0) {
                if (w == pid) {
                    code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
                    done = true;
                }
            }
            if (done)
                break;
            continue;
        }
        kill(pid, sig);
    }
    rt_container_mark_exited(ct);
    if (!keep && rt_container_delete(ct, true, &err) < 0)
        cli_error(g, "run", id, &err);
    rt_container_free(ct);
    return code;
}
