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

int
fetch_round(struct fanout *f, const struct hostlist *hosts, const char *path, bool want_info,
            struct proclist *pl, struct fetch_host *res, struct kerr *err)
{
    size_t per = want_info ? 2 : 1, n = hosts->n * per;
    struct fanout_req *reqs = calloc(n, sizeof(*reqs));
    if (!reqs)
        return kerr_set(err, ENOMEM, "requests");

    int r = 0;
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

    r = fanout_run(f, reqs, n, err);
    if (r < 0)
        goto out;

    int failed = 0;
    for (size_t i = 0; i < hosts->n; i++) {
        struct fanout_req *lr = &reqs[i * per];
        struct fetch_host *h = &res[i];
        h->elapsed_usec = lr->elapsed_usec;
        if (lr->status == 400 && strstr(lr->err, "unknown user")) {
            /*
             * user= names a user this host does not have: it has no
             * processes of that user, which is an answer, not a failure.
             */
        } else if (lr->err[0]) {
            strlcpy_k(h->err, lr->err, sizeof(h->err));
        } else {
            struct kerr perr = KERR_INIT;
            if (proclist_add_response(pl, &hosts->v[i], i, lr->resp.data ? lr->resp.data : "",
                                      lr->resp.len, &perr) < 0)
                strlcpy_k(h->err, perr.msg, sizeof(h->err));
        }
        if (want_info && !h->err[0]) {
            struct fanout_req *ir = &reqs[i * per + 1];
            if (ir->err[0]) {
                snprintf(h->err, sizeof(h->err), "/v1/host: %s", ir->err);
            } else {
                json_error_t jerr;
                h->info = json_loadb(ir->resp.data ? ir->resp.data : "", ir->resp.len, 0, &jerr);
                if (!json_is_object(h->info)) {
                    json_decref(h->info);
                    h->info = NULL;
                    snprintf(h->err, sizeof(h->err), "/v1/host: bad JSON from agent");
                }
            }
        }
        if (h->err[0])
            failed++;
    }
    r = failed;
out:
    for (size_t i = 0; i < n; i++)
        fanout_req_clear(&reqs[i]);
    free(reqs);
    return r;
}
