/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kumo ps: one process table across many k2i agents. Parses options,
 * asks every agent at once (fetch.c over fanout.c), merges, filters, sorts
 * and prints (view.c, table.c). A host that fails is reported on stderr as
 * one line and the others are still printed; the exit status is 0 when all
 * answered, 2 when some did, 1 when none did.
 */
#include "cli.h"
#include "cliconn.h"
#include "cols.h"
#include "fetch.h"
#include "kerr.h"
#include "proclist.h"
#include "table.h"
#include "view.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define PS_DEFAULT_COLS     "host,pid,user,%cpu,%mem,vsz,rss,tty,stat,start,time,args"
#define PS_DEFAULT_COLS_THR "host,pid,lwp,user,%cpu,%mem,stat,time,comm"

enum {
    OPT_SORT = 0x2000,
    OPT_JSON,
    OPT_NO_HEADERS,
};

static void
ps_usage(FILE *out)
{
    size_t n;
    const struct coldef *d = cols_all(&n);
    fprintf(out,
            "usage: kumo ps [OPTIONS]\n"
            "List processes of many hosts (k2i agents) as one table with a HOST column.\n\n"
            "  -o, --format COLS      columns, e.g. pid,user,%%cpu,rss,args (name=HEADER renames)\n"
            "      --sort KEYS        sort keys, '-' for descending: --sort -cpu,pid\n"
            "  -u, --user USERS       only these users (names or uids, comma-separated)\n"
            "  -C, --cmd TEXT         only commands containing TEXT (comm or command line)\n"
            "      --state LETTERS    only processes in these states, e.g. R or RD\n"
            "  -p, --pid PIDS         only these pids\n"
            "      --container ID     only processes of kumo container ID ('-': in none)\n"
            "  -n, --limit N          print at most N rows (after sorting)\n"
            "  -L, --threads          one row per thread\n"
            "      --json             JSON array of process objects, each with \"host\"\n"
            "      --no-headers       omit the header line\n"
            "  -w, --wide             do not cut lines to the terminal width\n" CLICONN_HELP
            "  -h, --help             this text\n\n"
            "exit status: 0 all hosts answered, 2 some did not (errors on stderr), 1 none did\n\n"
            "columns:");
    for (size_t i = 0; i < n; i++) {
        const char *bar = strchr(d[i].names, '|');
        fprintf(out, "%s %.*s", i % 10 == 0 ? "\n " : "",
                bar ? (int)(bar - d[i].names) : (int)strlen(d[i].names), d[i].names);
    }
    fprintf(out, "\n");
}

struct ps_args {
    struct cliconn conn;
    struct col cols[COLS_MAX];
    size_t ncols;
    struct sortkey keys[COLS_MAX];
    size_t nkeys;
    struct procfilter filter;
    size_t limit;
    bool json, no_headers, wide, cols_given;
};

static int
ps_parse(struct ps_args *a, int argc, char **argv, struct kerr *err)
{
    static const struct option longopts[] = {
        CLICONN_LONGOPTS,
        { "format", required_argument, NULL, 'o' },
        { "output", required_argument, NULL, 'o' },
        { "sort", required_argument, NULL, OPT_SORT },
        PROCFILTER_LONGOPTS,
        PROCFILTER_STATE_LONGOPT,
        { "limit", required_argument, NULL, 'n' },
        { "json", no_argument, NULL, OPT_JSON },
        { "no-headers", no_argument, NULL, OPT_NO_HEADERS },
        { "wide", no_argument, NULL, 'w' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    int c, r;
    bool cols_given = false;

    optind = 1;
    while ((c = getopt_long(argc, argv, "+H:o:u:C:p:n:Lwh", longopts, NULL)) != -1) {
        r = cliconn_option(&a->conn, c, optarg, err);
        if (r == 0)
            r = procfilter_option(&a->filter, c, optarg, err);
        if (r < 0)
            return r;
        if (r > 0)
            continue;
        switch (c) {
        case 'o':
            cols_given = true;
            r = cols_parse(optarg, a->cols, &a->ncols, err);
            break;
        case OPT_SORT:
            r = cols_parse_sort(optarg, a->keys, &a->nkeys, err);
            break;
        case 'n':
            r = proclist_parse_limit(optarg, &a->limit, err);
            break;
        case OPT_JSON:
            a->json = true;
            break;
        case OPT_NO_HEADERS:
            a->no_headers = true;
            break;
        case 'w':
            a->wide = true;
            break;
        case 'h':
            return 1;
        default:
            return kerr_setf(err, EINVAL, "bad option (see 'kumo ps --help')");
        }
        if (r < 0)
            return r;
    }
    if (optind < argc)
        return kerr_setf(err, EINVAL, "unexpected argument '%s' (see 'kumo ps --help')",
                         argv[optind]);
    if (!cols_given) {
        r = cols_parse(a->filter.threads ? PS_DEFAULT_COLS_THR : PS_DEFAULT_COLS, a->cols,
                       &a->ncols, err);
        if (r < 0)
            return r;
    } else if (cols_ensure_host(a->cols, &a->ncols) < 0) {
        return kerr_setf(err, E2BIG, "more than %d columns", COLS_MAX);
    }
    a->cols_given = cols_given;
    return cliconn_finish(&a->conn, err);
}

int
cmd_ps(int argc, char **argv)
{
    struct ps_args a;
    struct kerr err = KERR_INIT;
    struct proclist pl = { 0 };
    struct sbuf path = SBUF_INIT, out = SBUF_INIT;
    struct fetch_host *res = NULL;
    struct fanout *f = NULL;
    struct table *t = NULL;
    int rc = CLI_EXIT_ERROR, r;

    memset(&a, 0, sizeof(a));
    r = ps_parse(&a, argc, argv, &err);
    if (r > 0) {
        ps_usage(stdout);
        rc = CLI_EXIT_OK;
        goto out;
    }
    if (r < 0) {
        fprintf(stderr, "kumo ps: %s\n", err.msg);
        goto out;
    }

    /* --json without -o asks for whole objects; otherwise only shown keys. */
    if (proclist_query(&path, a.cols, a.ncols, a.keys, a.nkeys, &a.filter, a.limit,
                       a.json && !a.cols_given) < 0) {
        fprintf(stderr, "kumo ps: out of memory\n");
        goto out;
    }
    res = calloc(a.conn.hosts.n, sizeof(*res));
    f = fanout_new(&a.conn.fo);
    if (!res || !f) {
        fprintf(stderr, "kumo ps: cannot set up HTTP client\n");
        goto out;
    }
    int failed = fetch_round(f, &a.conn.hosts, path.data, false, &pl, res, &err);
    if (failed < 0) {
        fprintf(stderr, "kumo ps: %s\n", err.msg);
        goto out;
    }
    for (size_t i = 0; i < a.conn.hosts.n; i++)
        if (res[i].err[0])
            fprintf(stderr, "kumo ps: host %s: %s\n", a.conn.hosts.v[i].name, res[i].err);

    proclist_filter(&pl, &a.filter);
    proclist_sort(&pl, a.keys, a.nkeys);
    proclist_limit(&pl, a.limit);

    if ((size_t)failed < a.conn.hosts.n) {
        if (a.json) {
            if (view_json(&pl, stdout) < 0) {
                fprintf(stderr, "kumo ps: write: %s\n", strerror(errno));
                goto out;
            }
        } else {
            t = view_table(a.cols, a.ncols, &pl, time(NULL));
            size_t width = a.wide ? 0 : table_term_width(STDOUT_FILENO);
            if (!t || table_render(t, width, 0, 0, &out) < 0) {
                fprintf(stderr, "kumo ps: out of memory\n");
                goto out;
            }
            const char *body = out.data;
            if (a.no_headers)
                body = strchr(out.data, '\n') + 1;
            if (fputs(body, stdout) == EOF) {
                fprintf(stderr, "kumo ps: write: %s\n", strerror(errno));
                goto out;
            }
        }
    }
    if (fflush(stdout) == EOF) {
        fprintf(stderr, "kumo ps: write: %s\n", strerror(errno));
        goto out;
    }
    rc = failed == 0                        ? CLI_EXIT_OK
         : (size_t)failed == a.conn.hosts.n ? CLI_EXIT_ERROR
                                            : CLI_EXIT_PARTIAL;
out:
    table_free(t);
    sbuf_free(&out);
    sbuf_free(&path);
    proclist_clear(&pl);
    if (res)
        fetch_hosts_clear(res, a.conn.hosts.n);
    free(res);
    fanout_free(f);
    fanout_global_cleanup();
    procfilter_clear(&a.filter);
    cliconn_free(&a.conn);
    return rc;
}
