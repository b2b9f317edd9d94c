/* SPDX-License-Identifier: Apache-2.0 */
/* kumo-runtime exec: run an extra process inside a running container (runc exec). */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <signal.h>
#include <sys/wait.h>

#include "cli-tty.h"
#include "cli.h"
#include "kerr.h"
#include "runtime.h"
#include <limits.h>

static int
set_env(json_t *env, const char *kv)
{
    size_t eq = strcspn(kv, "="), i;
    json_t *v;
    json_array_foreach (env, i, v) {
        const char *s = json_string_value(v);
        if (s && strncmp(s, kv, eq) == 0 && s[eq] == '=')
            return json_array_set_new(env, i, json_string(kv));
    }
    return json_array_append_new(env, json_string(kv));
}

int
cmd_exec(struct cli *g, int argc, char **argv)
{
    static const struct option opts[] = {
        { "process", required_argument, NULL, 'p' },
        { "tty", no_argument, NULL, 't' },
        { "detach", no_argument, NULL, 'd' },
        { "pid-file", required_argument, NULL, 'P' },
        { "console-socket", required_argument, NULL, 'c' },
        { "env", required_argument, NULL, 'e' },
        { "cwd", required_argument, NULL, 'w' },
        { "user", required_argument, NULL, 'u' },
        { "no-new-privs", no_argument, NULL, 'N' },
        { "preserve-fds", required_argument, NULL, 'f' },
        { NULL, 0, NULL, 0 },
    };
    struct rt_exec_opts o = { .inherit_stdio = true };
    struct kerr err = KERR_INIT;
    const char *process_file = NULL, *cwd = NULL, *user = NULL;
    const char *envs[64];
    size_t n_env = 0;
    bool tty = false, nnp = false;
    int c;
    while ((c = getopt_long(argc, argv, "+p:tde:w:u:", opts, NULL)) != -1) {
        switch (c) {
        case 'p':
            process_file = optarg;
            break;
        case 't':
            tty = true;
            break;
        case 'd':
            o.detach = true;
            break;
        case 'P':
            o.pid_file = optarg;
            break;
        case 'c':
            o.console_socket = optarg;
            break;
        case 'e':
            if (n_env == sizeof(envs) / sizeof(envs[0]) || !strchr(optarg, '='))
                return cli_errorf(g, "exec: bad or too many -e NAME=VALUE ('%s')", optarg);
            envs[n_env++] = optarg;
            break;
        case 'w':
            cwd = optarg;
            break;
        case 'u':
            user = optarg;
            break;
        case 'N':
            nnp = true;
            break;
        case 'f':
            o.preserve_fds = atoi(optarg);
            break;
        default:
            return 2;
        }
    }
    if (optind >= argc)
        return cli_errorf(g, "exec: usage: kumo-runtime exec [options] <id> [command...]");
    const char *id = argv[optind++];
    struct rt_container *ct = NULL;
    if (rt_container_open(g->root, id, &ct, &err) < 0)
        return cli_error(g, "exec", id, &err);
    json_t *proc;
    if (process_file) {
        proc = cli_load_json(process_file, &err);
        if (!proc) {
            rt_container_free(ct);
            return cli_error(g, "exec", id, &err);
        }
    } else {
        if (optind >= argc) {
            rt_container_free(ct);
            return cli_errorf(g, "exec '%s': no command given (and no --process)", id);
        }
        json_t *cfg = rt_container_config(ct, &err);
        json_t *base = json_object_get(cfg, "process");
        proc = base ? json_deep_copy(base) : json_object();
        json_t *args = json_array();
        for (int i = optind; i < argc; i++)
            json_array_append_new(args, json_string(argv[i]));
        json_object_set_new(proc, "args", args);
        json_object_set_new(proc, "terminal", json_boolean(tty));
        json_object_del(proc, "consoleSize");
        if (cwd)
            json_object_set_new(proc, "cwd", json_string(cwd));
        if (nnp)
            json_object_set_new(proc, "noNewPrivileges", json_true());
        if (user) {
            unsigned uid = 0, gid = 0;
            int n = sscanf(user, "%u:%u", &uid, &gid);
            if (n < 1) {
                json_decref(proc);
                rt_container_free(ct);
                return cli_errorf(g, "exec '%s': --user '%s' is not UID[:GID]", id, user);
            }
            json_object_set_new(
                proc, "user",
                json_pack("{s:i, s:i}", "uid", (int)uid, "gid", n == 2 ? (int)gid : 0));
        }
        json_t *env = json_object_get(proc, "env");
        if (!json_is_array(env)) {
            env = json_array();
            json_object_set_new(proc, "env", env);
        }
        for (size_t i = 0; i < n_env; i++)
            set_env(env, envs[i]);
    }
    pid_t pid = 0;
    int code = 0;
    /*
     * A terminal in the foreground without --console-socket: we are the
     * console. The library starts the process detached (still our child) and
     * we proxy the pty until it exits, forwarding signals as `run` does.
     */
    struct cli_tty con;
    bool own_console =
        !o.detach && !o.console_socket && json_is_true(json_object_get(proc, "terminal"));
    sigset_t fwd, old;
    if (own_console) {
        if (cli_tty_open(&con, &err) < 0) {
            json_decref(proc);
            rt_container_free(ct);
            return cli_error(g, "exec", id, &err);
        }
        o.has_console_fd = true;
        o.console_fd = con.sock[1];
        o.detach = true;
        sigfillset(&fwd);
        sigdelset(&fwd, SIGSEGV);
        sigdelset(&fwd, SIGBUS);
        sigdelset(&fwd, SIGFPE);
        sigdelset(&fwd, SIGILL);
        sigprocmask(SIG_BLOCK, &fwd, &old);
    }
    int r = rt_container_exec(ct, proc, &o, &pid, &code, &err);
    json_decref(proc);
    rt_container_free(ct);
    if (own_console) {
        if (r >= 0 && (r = cli_tty_accept(&con, &err)) == 0)
            r = kerr_setf(&err, EIO, "console: the process sent no terminal");
        if (r > 0 && (r = cli_tty_proxy(&con, pid, &fwd, &code)) < 0)
            kerr_set(&err, -r, "console: proxy the terminal");
        if (r < 0 && pid > 0) {
            kill(pid, SIGKILL);
            waitpid(pid, NULL, 0);
        }
        cli_tty_close(&con);
        sigprocmask(SIG_SETMASK, &old, NULL);
        return r < 0 ? cli_error(g, "exec", id, &err) : code;
    }
    if (r < 0)
        return cli_error(g, "exec", id, &err);
    return o.detach ? 0 : code;
}
