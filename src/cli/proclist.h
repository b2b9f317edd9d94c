/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The merged process list of kumo ps/top: the k2i list responses of many
 * hosts parsed into one array of rows, filtered, sorted and cut. Also
 * builds the k2i query that asks each agent for only what is shown, so the
 * agents read and send less. Single-threaded.
 */
#ifndef KUMO_CLI_PROCLIST_H
#define KUMO_CLI_PROCLIST_H

#include "cols.h"
#include "sbuf.h"

#include <getopt.h>
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct kerr;
struct host;

/* Caps on what an untrusted agent can make us hold. */
#define PROCLIST_HOST_MAX  (1u << 20) /* processes from one host */
#define PROCLIST_TOTAL_MAX (1u << 24) /* rows in all */
#define PROCFILTER_MAX     256        /* users or pids in one filter */

struct procfilter {
    char *users[PROCFILTER_MAX]; /* names or numeric uids; owned */
    size_t nusers;
    char *cmd;       /* substring of comm or command line; owned */
    char *states;    /* state letters, e.g. "RD"; owned */
    char *container; /* kumo container id, "-" for none; owned */
    int64_t pids[PROCFILTER_MAX];
    size_t npids;
    bool threads; /* list threads instead of processes */
};

struct proclist {
    struct proc_row *rows;
    size_t n, cap;
    json_t **docs; /* one parsed response per host; rows borrow from them */
    size_t ndocs;
};

/*
 * Parse one host's k2i list response ({"processes":[…]}) and append its
 * processes as rows. host is borrowed for the list's lifetime. Returns 0,
 * or -EBADMSG / -E2BIG with err saying what was wrong with the response
 * (nothing is appended then).
 */
int proclist_add_response(struct proclist *pl, const struct host *host, size_t host_index,
                          const char *body, size_t len, struct kerr *err);

/* Drop rows that do not match f (f NULL keeps all). */
void proclist_filter(struct proclist *pl, const struct procfilter *f);

/* Sort rows by the keys (see cols_compare). */
void proclist_sort(struct proclist *pl, const struct sortkey *keys, size_t nkeys);

/* Keep the first limit rows (0 = all). */
void proclist_limit(struct proclist *pl, size_t limit);

/* Free rows and responses; the list can be reused. */
void proclist_clear(struct proclist *pl);

/* True if the process object matches every part of the filter. */
bool procfilter_match(const struct procfilter *f, json_t *obj);

/* Add "-u" values "root,1000" / "-C" / "--state" / "-p 1,2" to a filter. 0 or -errno. */
int procfilter_add_users(struct procfilter *f, const char *list, struct kerr *err);
int procfilter_add_pids(struct procfilter *f, const char *list, struct kerr *err);
int procfilter_set_cmd(struct procfilter *f, const char *cmd, struct kerr *err);
int procfilter_set_states(struct procfilter *f, const char *states, struct kerr *err);
/* "--container ID": a container id (as kumo-runtime takes it) or "-" for none. */
int procfilter_set_container(struct procfilter *f, const char *id, struct kerr *err);
void procfilter_clear(struct procfilter *f);

/* getopt_long value of --state, apart from CLICONN_OPT_* and the verbs' own. */
enum {
    PROCFILTER_OPT_STATE = 0x1800,
    PROCFILTER_OPT_CONTAINER,
};

/*
 * getopt_long entries of the filters ps and top share: -u/--user,
 * -C/--cmd, -p/--pid, --container and -L/--threads. --state (ps only) is
 * PROCFILTER_STATE_LONGOPT.
 */
/* clang-format off */
#define PROCFILTER_LONGOPTS                    \
    { "user", required_argument, NULL, 'u' },  \
    { "cmd", required_argument, NULL, 'C' },   \
    { "pid", required_argument, NULL, 'p' },   \
    { "container", required_argument, NULL, PROCFILTER_OPT_CONTAINER }, \
    { "threads", no_argument, NULL, 'L' }
#define PROCFILTER_STATE_LONGOPT \
    { "state", required_argument, NULL, PROCFILTER_OPT_STATE }
/* clang-format on */

/*
 * Handle one getopt result: -u, -C, -p, -L, --container or --state go into
 * the filter. Returns 1 if opt was one of these (handled), 0 if not, or
 * -errno with err set for a bad value.
 */
int procfilter_option(struct procfilter *f, int opt, const char *arg, struct kerr *err);

/* Parse a --limit value: 1 .. PROCLIST_TOTAL_MAX rows. 0 or -EINVAL with err set. */
int proclist_parse_limit(const char *arg, size_t *ret_limit, struct kerr *err);

/*
 * Build the agent request path: "/v1/proc?fields=…&user=…&sort=…&limit=…".
 * fields are the keys the columns, sort keys and filter need (all keys when
 * all_fields, as for --json without -o). The agent sorts and cuts only when
 * limit > 0 and the first sort key maps to one k2i key; the merge re-sorts
 * anyway. Appends to path; 0 or -ENOMEM.
 */
int proclist_query(struct sbuf *path, const struct col *cols, size_t ncols,
                   const struct sortkey *keys, size_t nkeys, const struct procfilter *f,
                   size_t limit, bool all_fields);

#endif
