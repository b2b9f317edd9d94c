/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kumo top: a live process view across many k2i agents. Parses options
 * into struct top, then runs either the ncurses screen (topui.c) or, with
 * -b, plain-text batch output like `top -b -n N`: N refreshes `-d` seconds
 * apart, each a header (per-host load, CPUs, CPU usage, memory) and the
 * merged table. Batch exit status: 0 when every host answered every time,
 * 2 when some host failed at least once, 1 when none ever answered.
 */
#include "cli.h"
#include "kerr.h"
#include "top.h"
#include "topui.h"
#include "util.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum {
    OPT_SORT = 0x2000,
    OPT_LIMIT,
};

static void
top_usage(FILE *out)
{
    fprintf(out, "usage: kumo top [OPTIONS]\n"
                 "Live process view of many hosts (k2i agents), merged into one table.\n\n"
                 "  -d, --delay SECS       time between refreshes (default 2)\n"
                 "  -b, --batch            plain text, no screen control (for pipes, logs)\n"
                 "  -n, --iterations N     batch: stop after N refreshes\n"
                 "  -o, --format COLS      columns (as kumo ps -o; rcpu = recent %%CPU)\n"
                 "      --sort KEY         initial sort, e.g. -rcpu (default), -rss, pid\n"
                 "  -u, --user USERS       only these users\n"
                 "  -C, --cmd TEXT         only commands containing TEXT\n"
                 "  -p, --pid PIDS         only these pids\n"
                 "      --container ID     only processes of kumo container ID ('-': in none)\n"
                 "  -L, --threads          one row per thread\n"
                 "      --limit N          at most N rows\n" CLICONN_HELP
                 "  -h, --help             this text\n\n"
                 "keys: P M N T sort by cpu, mem, pid, time; < > sort column; R reverse;\n"
                 "      / or o filter command; u filter user; k signal HOST:PID; H threads;\n"
                 "      arrows, PgUp, PgDn scroll; space refresh; q quit\n");
}

static int
top_parse(struct top *t, int argc, char **argv, struct kerr *err)
{
    static const struct option longopts[] = {
        CLICONN_LONGOPTS,
        { "delay", required_argument, NULL, 'd' },
        { "batch", no_argument, NULL, 'b' },
        { "iterations", required_argument, NULL, 'n' },
        { "format", required_argument, NULL, 'o' },
        { "sort", required_argument, NULL, OPT_SORT },
        PROCFILTER_LONGOPTS,
        { "limit", required_argument, NULL, OPT_LIMIT },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    int c, r;
    int64_t v;
    bool cols_given = false;

    optind = 1;
    while ((c = getopt_long(argc, argv, "+H:d:bn:o:u:C:p:Lh", longopts, NULL)) != -1) {
        r = cliconn_option(&t->conn, c, optarg, err);
        if (r == 0)
            r = procfilter_option(&t->filter, c, optarg, err);
        if (r < 0)
            return r;
        if (r > 0)
            continue;
        r = 0;
        switch (c) {
        case 'd':
            if (cliconn_parse_timeout(optarg, &t->delay_usec) < 0 || t->delay_usec < 100000)
                return kerr_setf(err, EINVAL, "bad --delay '%s' (seconds, at least 0.1)", optarg);
            break;
        case 'b':
            t->batch = true;
            break;
        case 'n':
            if (parse_int64(optarg, 1, 1000000, &v) < 0)
                return kerr_setf(err, EINVAL, "bad --iterations '%s'", optarg);
            t->iterations = (long)v;
            break;
        case 'o':
            if (!cols_given)
                t->ncols = 0;
            cols_given = true;
            r = cols_parse(optarg, t->cols, &t->ncols, err);
            break;
        case OPT_SORT: {
            struct sortkey keys[COLS_MAX];
            size_t n = 0;
            r = cols_parse_sort(optarg, keys, &n, err);
            if (r == 0 && n > 0)
                top_sort_by(t, keys[0].def, keys[0].desc);
            break;
        }
        case OPT_LIMIT:
            r = proclist_parse_limit(optarg, &t->limit, err);
            break;
        case 'h':
            return 1;
        default:
            return kerr_setf(err, EINVAL, "bad option (see 'kumo top --help')");
        }
        if (r < 0)
            return r;
    }
    if (optind < argc)
        return kerr_setf(err, EINVAL, "unexpected argument '%s' (see 'kumo top --help')",
                         argv[optind]);
    /* With no room for HOST, the table goes without it. */
    if (cols_given)
        (void)cols_ensure_host(t->cols, &t->ncols);
    return cliconn_finish(&t->conn, err);
}

/* Sleep for usec, resuming after signals. */
static void
sleep_usec(uint64_t usec)
{
    struct timespec ts = { (time_t)(usec / 1000000), (long)(usec % 1000000) * 1000 };
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

static int
top_batch(struct top *t)
{
    struct kerr err = KERR_INIT;
    long n = t->iterations > 0 ? t->iterations : 0;
    size_t width = table_term_width(STDOUT_FILENO);

    for (long i = 0; n == 0 || i < n; i++) {
        uint64_t start = now_mono_usec();
        kerr_clear(&err);
        if (top_refresh(t, &err) < 0) {
            fprintf(stderr, "kumo top: %s\n", err.msg);
            return CLI_EXIT_ERROR;
        }
        for (size_t h = 0; h < t->conn.hosts.n; h++)
            if (t->res[h].err[0])
                fprintf(stderr, "kumo top: host %s: %s\n", t->conn.hosts.v[h].name, t->res[h].err);
        struct sbuf out = SBUF_INIT;
        int r = sbuf_puts(&out, t->header.data ? t->header.data : "");
        if (r == 0)
            r = sbuf_putc(&out, '\n');
        if (r == 0)
            r = table_render(t->table, width, 0, 0, &out);
        if (r == 0 && (n == 0 || i + 1 < n))
            r = sbuf_putc(&out, '\n');
        if (r < 0 || fputs(out.data, stdout) == EOF || fflush(stdout) == EOF) {
            sbuf_free(&out);
            fprintf(stderr, "kumo top: write: %s\n", r < 0 ? "out of memory" : strerror(errno));
            return CLI_EXIT_ERROR;
        }
        sbuf_free(&out);
        if (n == 0 || i + 1 < n) {
            uint64_t spent = now_mono_usec() - start;
            if (spent < t->delay_usec)
                sleep_usec(t->delay_usec - spent);
        }
    }
    if (!t->any_ok)
        return CLI_EXIT_ERROR;
    return t->ever_failed ? CLI_EXIT_PARTIAL : CLI_EXIT_OK;
}

int
cmd_top(int argc, char **argv)
{
    struct top t;
    struct kerr err = KERR_INIT;
    int rc = CLI_EXIT_ERROR;

    int r = top_init(&t, &err);
    if (r == 0)
        r = top_parse(&t, argc, argv, &err);
    if (r > 0) {
        top_usage(stdout);
        rc = CLI_EXIT_OK;
        goto out;
    }
    if (r < 0) {
        fprintf(stderr, "kumo top: %s\n", err.msg);
        goto out;
    }
    if (!t.batch && (!isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO))) {
        fprintf(stderr, "kumo top: not a terminal (use -b for batch output)\n");
        goto out;
    }
    if (top_start(&t, &err) < 0) {
        fprintf(stderr, "kumo top: %s\n", err.msg);
        goto out;
    }
    rc = t.batch ? top_batch(&t) : topui_run(&t);
out:
    top_free(&t);
    fanout_global_cleanup();
    return rc;
}
