/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The model behind `kumo top`: options, one refresh (ask every agent for
 * its host figures and processes, merge, filter, sort, lay out), and the
 * signal action. Both the batch mode (cmd-top.c) and the ncurses screen
 * (topui.c) drive it; it does no terminal I/O itself.
 */
#ifndef KUMO_CLI_TOP_H
#define KUMO_CLI_TOP_H

#include "cliconn.h"
#include "cols.h"
#include "fanout.h"
#include "fetch.h"
#include "proclist.h"
#include "sbuf.h"
#include "table.h"

#include <stdbool.h>
#include <stdint.h>

#define TOP_DEFAULT_COLS "host,pid,user,pri,ni,vsz,rss,stat,rcpu,%mem,time+,comm"

struct top {
    /* Options. */
    struct cliconn conn;
    struct col cols[COLS_MAX];
    size_t ncols;
    struct sortkey sort[2]; /* the chosen key, then pid as a tie-break */
    struct procfilter filter;
    uint64_t delay_usec;
    long iterations; /* batch: how many refreshes (0 = forever) */
    bool batch;
    size_t limit;

    /* Last refresh. */
    struct fanout *f;
    struct proclist pl;
    struct fetch_host *res; /* conn.hosts.n entries */
    int failed;             /* hosts that failed in the last refresh */
    int ever_failed;        /* hosts that failed at least once (batch exit status) */
    bool *host_failed;
    bool any_ok;        /* some host answered at least once */
    struct sbuf header; /* summary + per-host lines */
    struct table *table;
};

/* Set defaults (columns, sort by recent %CPU). 0 or -errno. */
int top_init(struct top *t, struct kerr *err);

/* Create the HTTP client once options are final. 0 or -errno. */
int top_start(struct top *t, struct kerr *err);

/*
 * One refresh: fetch from every host, then top_relayout(). Per-host errors
 * end up in t->res[i].err and the header; returns 0 or -errno for a
 * failure of the whole round.
 */
int top_refresh(struct top *t, struct kerr *err);

/* The agent request path for the current options (new string, free()). 0 or -ENOMEM. */
int top_query(const struct top *t, char **ret_path);

/*
 * Take in a finished round whose rows and host results are already in
 * t->pl and t->res (failed = hosts that failed): update the failure
 * bookkeeping and the layout. 0 or -ENOMEM.
 */
int top_absorb(struct top *t, int failed);

/* Re-filter, re-sort and rebuild header and table from the last data. */
int top_relayout(struct top *t);

/* Make column i (index into cols) the sort key; desc as given. */
void top_sort_by(struct top *t, const struct coldef *def, bool desc);

/* Index of the current sort column in cols, or -1. */
int top_sort_index(const struct top *t);

/*
 * Send signal sig (a name) to target "HOST:PID" through its agent. Writes
 * a one-line outcome into msg. Returns 0 when delivered, -errno otherwise.
 */
int top_signal(struct top *t, const char *target, const char *sig, char *msg, size_t cap);

void top_free(struct top *t);

#endif
