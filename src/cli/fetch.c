/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A fetch round for kumo ps/top: builds one request per host (two with the
 * host object), runs them through the fan-out, and turns each host's
 * outcome into rows or a one-line error. Main thread only.
 */
#include "fetch.h"
#include "kerr.h"
#include "util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void
fetch_hosts_clear(struct fetch_host *res, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        json_decref(res[i].info);
        res[i].info = NULL;
        res[i].err[0] = '\0';
    }
}

/* What the completion callback needs to file an answer. */
struct round {
    const struct hostlist *hosts;
    struct fanout_req *reqs;
    size_t per; /* requests per host: 1, or 2 with /v1/host */
    struct proclist *pl;
    struct fetch_host *res;
    char (*info_err)[FANOUT_ERR_MAX];
};

/*
 * File one finished request: parse a list into rows, or a host object.
 * Runs while other hosts are still answering, so the merge overlaps with
 * the wait for the slowest host; the raw body is freed right after.
 */
static void
on_done(struct fanout_req *req, void *userdata)
{
    struct round *rd = userdata;
    size_t idx = (size_t)(req - rd->reqs), i = idx / rd->per;
    struct fetch_host *h = &rd->res[i];

    if (idx % rd->per == 0) {
        h->elapsed_usec = req->elapsed_usec;
        if (req->status == 400 && strstr(req->err, "unknown user")) {
            /*
             * user= names a user this host does not have: it has no
             * processes of that user, which is an answer, not a failure.
             */
        } else if (req->err[0]) {
            strlcpy_k(h->err, req->err, sizeof(h->err));
        } else {
            struct kerr perr = KERR_INIT;
            if (proclist_add_response(rd->pl, &rd->hosts->v[i], i,
                                      req->resp.data ? req->resp.data : "", req->resp.len,
                                      &perr) < 0)
                strlcpy_k(h->err, perr.msg, sizeof(h->err));
        }
    } else if (req->err[0]) {
        strlcpy_k(rd->info_err[i], req->err, sizeof(rd->info_err[i]));
    } else {
        json_error_t jerr;
        h->info = json_loadb(req->resp.data ? req->resp.data : "", req->resp.len, 0, &jerr);
        if (!json_is_object(h->info)) {
            json_decref(h->info);
            h->info = NULL;
            strlcpy_k(rd->info_err[i], "bad JSON from agent", sizeof(rd->info_err[i]));
        }
    }
    sbuf_free(&req->resp);
}

int
fetch_round(struct fanout *f, const struct hostlist *hosts, const char *path, bool want_info,
            struct proclist *pl, struct fetch_host *res, struct kerr *err)
{
    size_t per = want_info ? 2 : 1, n = hosts->n * per;
    struct fanout_req *reqs = calloc(n, sizeof(*reqs));
    char(*info_err)[FANOUT_ERR_MAX] = calloc(hosts->n, sizeof(*info_err));
    int r = 0;

    if (!reqs || !info_err) {
        r = kerr_set(err, ENOMEM, "requests");
        goto out;
    }
    proclist_clear(pl);
    fetch_hosts_clear(res, hosts->n);
    for (size_t i = 0; i < hosts->n; i++) {
        reqs[i * per].host = &hosts->v[i];
        reqs[i * per].path = strdup(path);
        if (!reqs[i * per].path) {
            r = kerr_set(err, ENOMEM, "requests");
            goto out;
        }
        if (want_info) {
            reqs[i * per + 1].host = &hosts->v[i];
            reqs[i * per + 1].path = strdup("/v1/host");
            if (!reqs[i * per + 1].path) {
                r = kerr_set(err, ENOMEM, "requests");
                goto out;
            }
        }
    }

    struct round rd = { hosts, reqs, per, pl, res, info_err };
    r = fanout_run_cb(f, reqs, n, on_done, &rd, err);
    if (r < 0)
        goto out;

    int failed = 0;
    for (size_t i = 0; i < hosts->n; i++) {
        struct fetch_host *h = &res[i];
        if (!h->err[0] && info_err[i][0])
            snprintf(h->err, sizeof(h->err), "/v1/host: %s", info_err[i]);
        if (h->err[0])
            failed++;
    }
    r = failed;
out:
    if (reqs)
        for (size_t i = 0; i < n; i++)
            fanout_req_clear(&reqs[i]);
    free(reqs);
    free(info_err);
    return r;
}
