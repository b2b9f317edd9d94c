/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kumo kill [-s SIG | -SIG] HOST:PID...: send a signal through each
 * target's k2i agent (POST /v1/proc/PID/signal), all targets at once.
 * Prints one line per target: "HOST:PID SIG sent" on stdout or the reason
 * on stderr. Exit 0 when every signal was delivered, 2 when some were,
 * 1 when none were. Agents require a bearer token with the signal scope.
 */
#include "cli.h"
#include "cliconn.h"
#include "fanout.h"
#include "hosts.h"
#include "kerr.h"
#include "signals.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Targets in one command; more is a runaway script. */
#define KILL_TARGETS_MAX 4096

static void
kill_usage(FILE *out)
{
    fprintf(out, "usage: kumo kill [-s SIG | -SIG] HOST:PID...\n"
                 "       kumo kill -l\n"
                 "Send a signal to processes on any host through its k2i agent.\n"
                 "HOST is written as for -H (host, host:port, [v6]:port, https://host).\n\n"
                 "  -s, --signal SIG       signal name or number (default TERM)\n"
                 "  -l, --list             list signal names\n" CLICONN_HELP
                 "  -h, --help             this text\n\n"
                 "The agents need a token with the 'signal' scope ($KUMO_TOKEN).\n"
                 "exit status: 0 all delivered, 2 some failed, 1 all failed\n");
}

int
cmd_kill(int argc, char **argv)
{
    static const struct option longopts[] = {
        CLICONN_LONGOPTS,
        { "signal", required_argument, NULL, 's' },
        { "list", no_argument, NULL, 'l' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    struct cliconn conn;
    struct kerr err = KERR_INIT;
    const char *sig = "TERM";
    struct host *targets = NULL;
    struct fanout_req *reqs = NULL;
    struct fanout *f = NULL;
    size_t ntargets = 0;
    int rc = CLI_EXIT_ERROR, c, r;

    memset(&conn, 0, sizeof(conn));
    /* "-9", "-KILL", "-SIGKILL" as the first argument, as kill(1) takes it. */
    if (argc > 1 && argv[1][0] == '-' && argv[1][1] && argv[1][1] != '-' &&
        signals_lookup(argv[1] + 1) && strcmp(argv[1], "-l") != 0 && strcmp(argv[1], "-h") != 0 &&
        strcmp(argv[1], "-s") != 0 && strcmp(argv[1], "-H") != 0) {
        sig = signals_lookup(argv[1] + 1);
        argv[1] = argv[0];
        argv++;
        argc--;
    }
    optind = 1;
    while ((c = getopt_long(argc, argv, "+H:s:lh", longopts, NULL)) != -1) {
        r = cliconn_option(&conn, c, optarg, &err);
        if (r < 0) {
            fprintf(stderr, "kumo kill: %s\n", err.msg);
            goto out;
        }
        if (r > 0)
            continue;
        switch (c) {
        case 's':
            sig = signals_lookup(optarg);
            if (!sig) {
                fprintf(stderr, "kumo kill: unknown signal '%s' (see 'kumo kill -l')\n", optarg);
                goto out;
            }
            break;
        case 'l':
            signals_list(stdout);
            rc = CLI_EXIT_OK;
            goto out;
        case 'h':
            kill_usage(stdout);
            rc = CLI_EXIT_OK;
            goto out;
        default:
            fprintf(stderr, "kumo kill: bad option (see 'kumo kill --help')\n");
            goto out;
        }
    }
    if (cliconn_finish(&conn, &err) < 0) {
        fprintf(stderr, "kumo kill: %s\n", err.msg);
        goto out;
    }
    size_t n = (size_t)(argc - optind);
    if (n == 0) {
        fprintf(stderr, "kumo kill: no target (HOST:PID) given\n");
        goto out;
    }
    if (n > KILL_TARGETS_MAX) {
        fprintf(stderr, "kumo kill: more than %d targets\n", KILL_TARGETS_MAX);
        goto out;
    }
    targets = calloc(n, sizeof(*targets));
    reqs = calloc(n, sizeof(*reqs));
    if (!targets || !reqs) {
        fprintf(stderr, "kumo kill: out of memory\n");
        goto out;
    }
    /* Parse every target before sending anything: a typo aborts the whole command. */
    for (size_t i = 0; i < n; i++) {
        int64_t pid;
        kerr_clear(&err);
        if (hosts_parse_target(argv[optind + i], &targets[i], &pid, &err) < 0) {
            fprintf(stderr, "kumo kill: %s\n", err.msg);
            goto out;
        }
        ntargets = i + 1;
        reqs[i].host = &targets[i];
        reqs[i].method = "POST";
        if (asprintf(&reqs[i].path, "/v1/proc/%lld/signal", (long long)pid) < 0 ||
            asprintf(&reqs[i].body, "{\"signal\":\"%s\"}", sig) < 0) {
            fprintf(stderr, "kumo kill: out of memory\n");
            goto out;
        }
    }
    f = fanout_new(&conn.fo);
    if (!f) {
        fprintf(stderr, "kumo kill: cannot set up HTTP client\n");
        goto out;
    }
    kerr_clear(&err);
    int failed = fanout_run(f, reqs, n, &err);
    if (failed < 0) {
        fprintf(stderr, "kumo kill: %s\n", err.msg);
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        const char *t = argv[optind + i];
        if (!reqs[i].err[0]) {
            printf("%s %s sent\n", t, sig);
        } else {
            const char *hint = "";
            if (reqs[i].status == 401 && !conn.token)
                hint = " (set $KUMO_TOKEN or --token-file)";
            fprintf(stderr, "kumo kill: %s: %s%s\n", t, reqs[i].err, hint);
        }
    }
    fflush(stdout);
    rc = failed == 0 ? CLI_EXIT_OK : (size_t)failed == n ? CLI_EXIT_ERROR : CLI_EXIT_PARTIAL;
out:
    if (reqs)
        for (size_t i = 0; i < ntargets; i++)
            fanout_req_clear(&reqs[i]);
    free(reqs);
    for (size_t i = 0; i < ntargets; i++)
        host_clear(&targets[i]);
    free(targets);
    fanout_free(f);
    fanout_global_cleanup();
    cliconn_free(&conn);
    return rc;
}
