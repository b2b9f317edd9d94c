/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kumo-runtime: an OCI runtime CLI, flag-compatible with runc/crun as
 * containerd's runc shim drives it. Parses the global options, dispatches to
 * cmd-<verb>.c and reports errors on stderr and, with --log, to a log file
 * (--log-format json gives the {"level","msg","time"} lines containerd reads).
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "kerr.h"
#include "kumo-config.h"
#include "runtime.h"
#include "util.h"

static struct cli *log_cli;

static void
log_line(struct cli *g, const char *msg)
{
    fprintf(stderr, "kumo-runtime: %s\n", msg);
    if (!g || !g->log_path)
        return;
    FILE *f = fopen(g->log_path, "ae");
    if (!f)
        return;
    if (g->log_json) {
        char ts[64];
        time_t now = time(NULL);
        struct tm tm;
        gmtime_r(&now, &tm);
        strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", &tm);
        json_t *j = json_pack("{s:s, s:s, s:s}", "level", "error", "msg", msg, "time", ts);
        char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
        if (s)
            fprintf(f, "%s\n", s);
        free(s);
        json_decref(j);
    } else {
        fprintf(f, "kumo-runtime: %s\n", msg);
    }
    fclose(f);
}

int
cli_errorf(struct cli *g, const char *fmt, ...)
{
    char buf[KERR_MSG_MAX + 256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    log_line(g ? g : log_cli, buf);
    return 1;
}

int
cli_error(struct cli *g, const char *verb, const char *id, const struct kerr *err)
{
    const char *msg = err->msg[0] ? err->msg : strerror(err->code ? err->code : EIO);
    /* A hostile id must not crowd the reason out of the message. */
    if (id && strlen(id) > 80)
        return cli_errorf(g, "%s '%.80s...': %s", verb, id, msg);
    if (id)
        return cli_errorf(g, "%s '%s': %s", verb, id, msg);
    return cli_errorf(g, "%s: %s", verb, msg);
}

int
cli_parse_signal(const char *s)
{
    int64_t n;
    if (parse_int64(s, 1, NSIG - 1, &n) == 0)
        return (int)n;
    if (strncasecmp(s, "SIG", 3) == 0)
        s += 3;
    for (int i = 1; i < NSIG; i++) {
        const char *abbrev = sigabbrev_np(i);
        if (abbrev && strcasecmp(abbrev, s) == 0)
            return i;
    }
    return -1;
}

json_t *
cli_load_json(const char *path, struct kerr *err)
{
    json_error_t jerr;
    json_t *j =
        strcmp(path, "-") == 0 ? json_loadf(stdin, 0, &jerr) : json_load_file(path, 0, &jerr);
    if (!j)
        kerr_setf(err, EINVAL, "'%s': line %d: %s", path, jerr.line, jerr.text);
    return j;
}

const char *
cli_one_id(struct cli *g, const char *verb, int argc, char **argv, int optind_)
{
    if (argc - optind_ != 1) {
        cli_errorf(g,
                   "%s: expected exactly one container id (usage: kumo-runtime %s [options] "
                   "<id>)",
                   verb, verb);
        return NULL;
    }
    return argv[optind_];
}

static const struct {
    const char *name;
    cli_cmd_fn fn;
    const char *help;
} cmds[] = {
    { "create", cmd_create, "create a container (blocked until start)" },
    { "start", cmd_start, "start a created container" },
    { "state", cmd_state, "print the OCI state of a container" },
    { "kill", cmd_kill, "send a signal to the container's init (or --all)" },
    { "delete", cmd_delete, "delete a container (--force kills it first)" },
    { "run", cmd_run, "create and start a container, wait for it unless --detach" },
    { "exec", cmd_exec, "run a new process inside a container" },
    { "ps", cmd_ps, "list the processes of a container" },
    { "list", cmd_list, "list containers" },
    { "pause", cmd_pause, "freeze every process of a container" },
    { "resume", cmd_resume, "thaw a paused container" },
    { "update", cmd_update, "update a container's resource limits" },
    { "features", cmd_features, "print the runtime's features (JSON)" },
    { "spec", cmd_spec, "write a default config.json" },
};

static void
usage(FILE *f)
{
    fprintf(f, "usage: kumo-runtime [--root DIR] [--log FILE] [--log-format text|json] "
               "[--debug] <command> [options] [id]\n\ncommands:\n");
    for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
        fprintf(f, "  %-9s %s\n", cmds[i].name, cmds[i].help);
}

int
main(int argc, char **argv)
{
    static struct cli g = { .root = RT_DEFAULT_ROOT };
    static const struct option opts[] = {
        { "root", required_argument, NULL, 'r' },
        { "log", required_argument, NULL, 'l' },
        { "log-format", required_argument, NULL, 'f' },
        { "debug", no_argument, NULL, 'd' },
        { "systemd-cgroup", no_argument, NULL, 's' },
        { "rootless", required_argument, NULL, 'R' },
        { "criu", required_argument, NULL, 'C' },
        { "version", no_argument, NULL, 'v' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    int c;
    log_cli = &g;
    while ((c = getopt_long(argc, argv, "+hv", opts, NULL)) != -1) {
        switch (c) {
        case 'r':
            g.root = optarg;
            break;
        case 'l':
            g.log_path = optarg;
            break;
        case 'f':
            if (strcmp(optarg, "json") != 0 && strcmp(optarg, "text") != 0)
                return cli_errorf(&g, "--log-format: '%s' is not text or json", optarg);
            g.log_json = strcmp(optarg, "json") == 0;
            break;
        case 'd':
            g.debug = true;
            break;
        case 's':
            g.systemd_cgroup = true;
            break;
        case 'R':
        case 'C':
            break;
        case 'v':
            printf("kumo-runtime version %s\nspec: %s\n", KUMO_VERSION, RT_OCI_VERSION);
            return 0;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind >= argc) {
        usage(stderr);
        return 2;
    }
    const char *verb = argv[optind];
    if (g.systemd_cgroup)
        return cli_errorf(&g, "--systemd-cgroup is not supported: kumo-runtime manages cgroupfs "
                              "directly (use cgroupsPath like 'kumo/<id>')");
    for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
        if (strcmp(cmds[i].name, verb) == 0) {
            int sub_argc = argc - optind;
            char **sub_argv = argv + optind;
            optind = 0; /* reset getopt for the verb (0 also re-initialises glibc) */
            return cmds[i].fn(&g, sub_argc, sub_argv);
        }
    }
    if (strcmp(verb, "version") == 0) {
        printf("kumo-runtime version %s\nspec: %s\n", KUMO_VERSION, RT_OCI_VERSION);
        return 0;
    }
    return cli_errorf(&g, "unknown command '%s' (see kumo-runtime --help)", verb);
}
