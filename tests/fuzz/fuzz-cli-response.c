/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz what kumo ps/top do with an agent's answer, which is untrusted:
 * parse it as a k2i list (proclist_add_response), filter, sort by every
 * kind of key, lay out the table and the JSON output, and render the top
 * header with the same bytes as a /v1/host object. Also feeds the bytes to
 * the host-list and kill-target parsers (-H, hosts files, HOST:PID).
 */
#include "cols.h"
#include "fetch.h"
#include "hosts.h"
#include "kerr.h"
#include "proclist.h"
#include "table.h"
#include "view.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
fuzz_hosts(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    if (!text)
        return;
    memcpy(text, data, size);
    text[size] = '\0';
    struct hostlist l = { 0 };
    struct kerr err = KERR_INIT;
    hosts_add_text(&l, text, "fuzz", &err);
    hosts_free(&l);
    struct host h;
    int64_t pid;
    kerr_clear(&err);
    if (hosts_parse_target(text, &h, &pid, &err) == 0)
        host_clear(&h);
    free(text);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct host host = { (char *)"fuzz:8000", (char *)"http://fuzz:8000" };
    struct hostlist hosts = { &host, 1 };
    struct proclist pl = { 0 };
    struct kerr err = KERR_INIT;

    fuzz_hosts(data, size);
    if (proclist_add_response(&pl, &host, 0, (const char *)data, size, &err) == 0) {
        struct procfilter f;
        memset(&f, 0, sizeof(f));
        procfilter_add_users(&f, "root,1000", &err);
        procfilter_set_cmd(&f, "a", &err);
        for (size_t i = 0; i < pl.n; i++)
            procfilter_match(&f, pl.rows[i].obj);
        procfilter_clear(&f);

        size_t ndefs;
        const struct coldef *defs = cols_all(&ndefs);
        struct col cols[COLS_MAX];
        struct sortkey keys[COLS_MAX];
        for (size_t i = 0; i < ndefs && i < COLS_MAX; i++) {
            cols[i].def = &defs[i];
            snprintf(cols[i].header, sizeof(cols[i].header), "%s", defs[i].header);
            keys[i].def = &defs[i];
            keys[i].desc = i % 2;
        }
        size_t n = ndefs < COLS_MAX ? ndefs : COLS_MAX;
        proclist_sort(&pl, keys, n);
        struct table *t = view_table(cols, n, &pl, 1764169200);
        struct sbuf out = SBUF_INIT;
        if (t)
            table_render(t, 80, 0, 0, &out);
        table_free(t);
        sbuf_free(&out);

        char *buf = NULL;
        size_t len = 0;
        FILE *mf = open_memstream(&buf, &len);
        if (mf) {
            view_json(&pl, mf);
            fclose(mf);
        }
        free(buf);
    }
    proclist_clear(&pl);

    /* The same bytes as a /v1/host answer in top's header. */
    struct fetch_host res;
    memset(&res, 0, sizeof(res));
    json_error_t jerr;
    res.info = json_loadb((const char *)data, size, 0, &jerr);
    if (json_is_object(res.info)) {
        struct sbuf hdr = SBUF_INIT;
        view_top_header(&hosts, &res, 0, 1764169200, &hdr);
        sbuf_free(&hdr);
    }
    json_decref(res.info);
    return 0;
}
