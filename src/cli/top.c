/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kumo top's data side. Every refresh sends two requests per host in one
 * concurrent batch (/v1/proc with only the shown keys, and /v1/host); the
 * fan-out context is kept between refreshes so connections are reused.
 * Main thread only; no terminal I/O here.
 */
#include "top.h"
#include "hosts.h"
#include "kerr.h"
#include "view.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int
top_init(struct top *t, struct kerr *err)
{
    memset(t, 0, sizeof(*t));
    t->delay_usec = 2000000;
    int r = cols_parse(TOP_DEFAULT_COLS, t->cols, &t->ncols, err);
    if (r < 0)
        return r;
    top_sort_by(t, cols_find("rcpu"), true);
    return 0;
}

void
top_sort_by(struct top *t, const struct coldef *def, bool desc)
{
    t->sort[0].def = def;
    t->sort[0].desc = desc;
    t->sort[1].def = cols_find("pid");
    t->sort[1].desc = false;
}

int
top_sort_index(const struct top *t)
{
    for (size_t i = 0; i < t->ncols; i++)
        if (t->cols[i].def == t->sort[0].def)
            return (int)i;
    return -1;
}

int
top_start(struct top *t, struct kerr *err)
{
    t->res = calloc(t->conn.hosts.n, sizeof(*t->res));
    t->host_failed = calloc(t->conn.hosts.n, sizeof(*t->host_failed));
    t->f = fanout_new(&t->conn.fo);
    if (!t->res || !t->host_failed || !t->f)
        return kerr_set(err, ENOMEM, "cannot set up HTTP client");
    return 0;
}

int
top_relayout(struct top *t)
{
    proclist_filter(&t->pl, &t->filter);
    proclist_sort(&t->pl, t->sort, 2);
    proclist_limit(&t->pl, t->limit);
    time_t now = time(NULL);
    t->table = table_free(t->table);
    t->table = view_table(t->cols, t->ncols, &t->pl, now);
    sbuf_reset(&t->header);
    if (!t->table || view_top_header(&t->conn.hosts, t->res, t->pl.n, now, &t->header) < 0)
        return -ENOMEM;
    return 0;
}

int
top_query(const struct top *t, char **ret_path)
{
    struct sbuf path = SBUF_INIT;
    /* The agents cut the list only when a limit is set (sorted by the same key). */
    int r = proclist_query(&path, t->cols, t->ncols, t->sort, 1, &t->filter, t->limit, false);
    if (r < 0) {
        sbuf_free(&path);
        return r;
    }
    *ret_path = sbuf_take(&path);
    return 0;
}

int
top_absorb(struct top *t, int failed)
{
    t->failed = failed;
    for (size_t i = 0; i < t->conn.hosts.n; i++) {
        if (!t->res[i].err[0])
            t->any_ok = true;
        else if (!t->host_failed[i]) {
            t->host_failed[i] = true;
            t->ever_failed++;
        }
    }
    return top_relayout(t);
}

int
top_refresh(struct top *t, struct kerr *err)
{
    char *path = NULL;
    int r = top_query(t, &path);
    if (r < 0)
        return kerr_set(err, -r, "query");
    r = fetch_round(t->f, &t->conn.hosts, path, true, &t->pl, t->res, err);
    free(path);
    if (r < 0)
        return r;
    if (top_absorb(t, r) < 0)
        return kerr_set(err, ENOMEM, "layout");
    return 0;
}

int
top_signal(struct top *t, const char *target, const char *sig, char *msg, size_t cap)
{
    struct kerr err = KERR_INIT;
    struct host h = { NULL, NULL };
    struct fanout_req req;
    int64_t pid;
    int r;

    memset(&req, 0, sizeof(req));
    r = hosts_parse_target(target, &h, &pid, &err);
    if (r < 0) {
        snprintf(msg, cap, "%s", err.msg);
        return r;
    }
    req.host = &h;
    req.method = "POST";
    if (asprintf(&req.path, "/v1/proc/%lld/signal", (long long)pid) < 0 ||
        asprintf(&req.body, "{\"signal\":\"%s\"}", sig) < 0) {
        req.path = req.body = NULL;
        snprintf(msg, cap, "out of memory");
        host_clear(&h);
        return -ENOMEM;
    }
    r = fanout_run(t->f, &req, 1, &err);
    if (r < 0)
        snprintf(msg, cap, "%s", err.msg);
    else if (req.err[0])
        snprintf(msg, cap, "%s: %s", target, req.err);
    else
        snprintf(msg, cap, "%s: %s sent", target, sig);
    r = r < 0 ? r : req.err[0] ? -EIO : 0;
    fanout_req_clear(&req);
    host_clear(&h);
    return r;
}

void
top_free(struct top *t)
{
    proclist_clear(&t->pl);
    if (t->res)
        fetch_hosts_clear(t->res, t->conn.hosts.n);
    free(t->res);
    free(t->host_failed);
    t->table = table_free(t->table);
    sbuf_free(&t->header);
    t->f = fanout_free(t->f);
    procfilter_clear(&t->filter);
    cliconn_free(&t->conn);
}
