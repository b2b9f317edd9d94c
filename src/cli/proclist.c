/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Merging k2i process lists. The agents' responses are untrusted input:
 * the shape is checked (an object with a "processes" array of objects),
 * counts are capped before anything is allocated for them, and rows only
 * point into the parsed documents. Filters are applied again here even
 * though they are also sent to the agents, so the result does not depend
 * on which query parameters an agent version honours. Main thread only.
 */
#include "proclist.h"
#include "fanout.h"
#include "kerr.h"
#include "util.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

int
proclist_add_response(struct proclist *pl, const struct host *host, size_t host_index,
                      const char *body, size_t len, struct kerr *err)
{
    json_error_t jerr;
    json_t *doc = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!doc)
        return kerr_setf(err, EBADMSG, "bad JSON from agent: %s (line %d)", jerr.text, jerr.line);
    json_t *procs = json_object_get(doc, "processes");
    if (!json_is_object(doc) || !json_is_array(procs)) {
        json_decref(doc);
        return kerr_setf(err, EBADMSG, "agent answer has no \"processes\" array");
    }
    size_t n = json_array_size(procs);
    if (n > PROCLIST_HOST_MAX || pl->n + n > PROCLIST_TOTAL_MAX) {
        json_decref(doc);
        return kerr_setf(err, E2BIG, "agent sent %zu processes, more than the cap", n);
    }
    for (size_t i = 0; i < n; i++) {
        if (!json_is_object(json_array_get(procs, i))) {
            json_decref(doc);
            return kerr_setf(err, EBADMSG, "agent answer: process %zu is not an object", i);
        }
    }
    json_t **docs = realloc(pl->docs, (pl->ndocs + 1) * sizeof(*docs));
    if (!docs) {
        json_decref(doc);
        return kerr_set(err, ENOMEM, "process list");
    }
    pl->docs = docs;
    if (pl->n + n > pl->cap) {
        size_t cap = pl->cap ? pl->cap : 256;
        while (cap < pl->n + n)
            cap *= 2;
        struct proc_row *rows = realloc(pl->rows, cap * sizeof(*rows));
        if (!rows) {
            json_decref(doc);
            return kerr_set(err, ENOMEM, "process list");
        }
        pl->rows = rows;
        pl->cap = cap;
    }
    pl->docs[pl->ndocs++] = doc;
    for (size_t i = 0; i < n; i++) {
        struct proc_row *r = &pl->rows[pl->n++];
        r->host = host;
        r->host_index = host_index;
        r->obj = json_array_get(procs, i);
    }
    return 0;
}

void
proclist_clear(struct proclist *pl)
{
    for (size_t i = 0; i < pl->ndocs; i++)
        json_decref(pl->docs[i]);
    free(pl->docs);
    free(pl->rows);
    memset(pl, 0, sizeof(*pl));
}

/* Does the command (comm or the joined command line) contain needle? */
static bool
cmd_contains(json_t *obj, const char *needle)
{
    const char *comm = json_string_value(json_object_get(obj, "comm"));
    if (comm && strstr(comm, needle))
        return true;
    json_t *argv = json_object_get(obj, "cmdline");
    if (!json_is_array(argv))
        return false;
    struct sbuf b = SBUF_INIT;
    size_t i;
    json_t *a;
    bool found = false;
    json_array_foreach (argv, i, a) {
        const char *s = json_string_value(a);
        if (!s)
            continue;
        if ((i && sbuf_putc(&b, ' ') < 0) || sbuf_puts(&b, s) < 0)
            break;
    }
    found = b.data && strstr(b.data, needle);
    sbuf_free(&b);
    return found;
}

bool
procfilter_match(const struct procfilter *f, json_t *obj)
{
    if (!f)
        return true;
    if (f->nusers) {
        const char *user = json_string_value(json_object_get(obj, "user"));
        json_t *uid = json_object_get(obj, "uid");
        char uidbuf[32] = "";
        if (json_is_integer(uid))
            snprintf(uidbuf, sizeof(uidbuf), "%lld", (long long)json_integer_value(uid));
        bool ok = false;
        for (size_t i = 0; i < f->nusers && !ok; i++)
            ok = (user && strcmp(user, f->users[i]) == 0) || strcmp(uidbuf, f->users[i]) == 0;
        if (!ok)
            return false;
    }
    if (f->cmd && !cmd_contains(obj, f->cmd))
        return false;
    if (f->states) {
        const char *st = json_string_value(json_object_get(obj, "state"));
        if (!st || !st[0] || !strchr(f->states, st[0]))
            return false;
    }
    if (f->container) {
        const char *id = json_string_value(json_object_get(obj, "container"));
        if (strcmp(f->container, "-") == 0 ? id != NULL : !id || strcmp(id, f->container) != 0)
            return false;
    }
    if (f->npids) {
        json_t *pid = json_object_get(obj, "pid");
        if (!json_is_integer(pid))
            return false;
        bool ok = false;
        for (size_t i = 0; i < f->npids && !ok; i++)
            ok = json_integer_value(pid) == f->pids[i];
        if (!ok)
            return false;
    }
    return true;
}

void
proclist_filter(struct proclist *pl, const struct procfilter *f)
{
    size_t w = 0;
    for (size_t i = 0; i < pl->n; i++)
        if (procfilter_match(f, pl->rows[i].obj))
            pl->rows[w++] = pl->rows[i];
    pl->n = w;
}

/* qsort has no context argument; sorting is single-threaded, so a static is fine. */
static const struct sortkey *sort_keys;
static size_t sort_nkeys;

static int
row_cmp(const void *a, const void *b)
{
    return cols_compare(sort_keys, sort_nkeys, a, b);
}

void
proclist_sort(struct proclist *pl, const struct sortkey *keys, size_t nkeys)
{
    sort_keys = keys;
    sort_nkeys = nkeys;
    if (pl->n > 1)
        qsort(pl->rows, pl->n, sizeof(pl->rows[0]), row_cmp);
    sort_keys = NULL;
    sort_nkeys = 0;
}

void
proclist_limit(struct proclist *pl, size_t limit)
{
    if (limit && pl->n > limit)
        pl->n = limit;
}

void
procfilter_clear(struct procfilter *f)
{
    for (size_t i = 0; i < f->nusers; i++)
        free(f->users[i]);
    free(f->cmd);
    free(f->states);
    free(f->container);
    memset(f, 0, sizeof(*f));
}

int
procfilter_add_users(struct procfilter *f, const char *list, struct kerr *err)
{
    const char *p;
    size_t len;
    while ((p = cols__next_item(&list, &len))) {
        if (f->nusers >= PROCFILTER_MAX)
            return kerr_setf(err, E2BIG, "more than %d users", PROCFILTER_MAX);
        char *u = strndup(p, len);
        if (!u)
            return kerr_set(err, ENOMEM, "user filter");
        f->users[f->nusers++] = u;
    }
    return 0;
}

int
procfilter_add_pids(struct procfilter *f, const char *list, struct kerr *err)
{
    const char *p;
    size_t len;
    while ((p = cols__next_item(&list, &len))) {
        char buf[24];
        int64_t pid;
        if (len >= sizeof(buf))
            return kerr_setf(err, EINVAL, "bad pid '%.*s'", (int)len, p);
        memcpy(buf, p, len);
        buf[len] = '\0';
        if (parse_int64(buf, 1, INT32_MAX, &pid) < 0)
            return kerr_setf(err, EINVAL, "bad pid '%s'", buf);
        if (f->npids >= PROCFILTER_MAX)
            return kerr_setf(err, E2BIG, "more than %d pids", PROCFILTER_MAX);
        f->pids[f->npids++] = pid;
    }
    return 0;
}

/* Replace the owned *slot with a copy of text, which must not be empty. */
static int
set_text(char **slot, const char *text, const char *what, struct kerr *err)
{
    if (!*text)
        return kerr_setf(err, EINVAL, "empty %s filter", what);
    char *c = strdup(text);
    if (!c)
        return kerr_set(err, ENOMEM, "%s filter", what);
    free(*slot);
    *slot = c;
    return 0;
}

int
procfilter_set_cmd(struct procfilter *f, const char *cmd, struct kerr *err)
{
    return set_text(&f->cmd, cmd, "command", err);
}

int
procfilter_set_states(struct procfilter *f, const char *states, struct kerr *err)
{
    for (const char *p = states; *p; p++)
        if (!isalpha((unsigned char)*p))
            return kerr_setf(err, EINVAL, "bad state '%c' (letters like R, S, D, Z)",
                             isprint((unsigned char)*p) ? *p : '?');
    return set_text(&f->states, states, "state", err);
}

int
procfilter_set_container(struct procfilter *f, const char *id, struct kerr *err)
{
    /* What kumo-runtime accepts as an id and k2i reports (a cgroup name); "-" is one too. */
    if (strlen(id) > 255)
        return kerr_setf(err, EINVAL, "bad --container: longer than 255 characters");
    for (const char *p = id; *p; p++)
        if (!container_id_char(*p))
            return kerr_setf(err, EINVAL,
                             "bad --container '%.64s': '%c' is not a letter, digit, _ . + or -", id,
                             isprint((unsigned char)*p) ? *p : '?');
    return set_text(&f->container, id, "container", err);
}

int
procfilter_option(struct procfilter *f, int opt, const char *arg, struct kerr *err)
{
    int r;
    switch (opt) {
    case 'u':
        r = procfilter_add_users(f, arg, err);
        break;
    case 'C':
        r = procfilter_set_cmd(f, arg, err);
        break;
    case PROCFILTER_OPT_STATE:
        r = procfilter_set_states(f, arg, err);
        break;
    case 'p':
        r = procfilter_add_pids(f, arg, err);
        break;
    case PROCFILTER_OPT_CONTAINER:
        r = procfilter_set_container(f, arg, err);
        break;
    case 'L':
        f->threads = true;
        r = 0;
        break;
    default:
        return 0;
    }
    return r < 0 ? r : 1;
}

int
proclist_parse_limit(const char *arg, size_t *ret_limit, struct kerr *err)
{
    int64_t v;
    if (parse_int64(arg, 1, PROCLIST_TOTAL_MAX, &v) < 0)
        return kerr_setf(err, EINVAL, "bad --limit '%s'", arg);
    *ret_limit = (size_t)v;
    return 0;
}

/* Append the comma-separated keys in list to fields unless already there. */
static int
add_keys(struct sbuf *fields, const char *list)
{
    const char *p = list;
    while (*p) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        bool have = false;
        if (fields->data) {
            const char *q = fields->data;
            while (*q && !have) {
                const char *c2 = strchr(q, ',');
                size_t l2 = c2 ? (size_t)(c2 - q) : strlen(q);
                have = l2 == len && strncmp(q, p, len) == 0;
                q = c2 ? c2 + 1 : q + l2;
            }
        }
        if (len && !have) {
            if ((fields->len && sbuf_putc(fields, ',') < 0) || sbuf_append(fields, p, len) < 0)
                return -ENOMEM;
        }
        p = comma ? comma + 1 : p + len;
    }
    return 0;
}

int
proclist_query(struct sbuf *path, const struct col *cols, size_t ncols, const struct sortkey *keys,
               size_t nkeys, const struct procfilter *f, size_t limit, bool all_fields)
{
    struct sbuf fields = SBUF_INIT;
    int r = 0;
    char sep = '?';

#define PUT(expr)         \
    do {                  \
        if ((expr) < 0) { \
            r = -ENOMEM;  \
            goto out;     \
        }                 \
    } while (0)
#define PARAM(name)                     \
    do {                                \
        PUT(sbuf_putc(path, sep));      \
        PUT(sbuf_puts(path, name "=")); \
        sep = '&';                      \
    } while (0)

    PUT(sbuf_puts(path, "/v1/proc"));
    if (!all_fields) {
        PUT(add_keys(&fields, "pid"));
        if (f && f->threads)
            PUT(add_keys(&fields, "tid"));
        for (size_t i = 0; i < ncols; i++)
            PUT(add_keys(&fields, cols[i].def->keys));
        for (size_t i = 0; i < nkeys; i++)
            PUT(add_keys(&fields, keys[i].def->keys));
        if (f && f->nusers)
            PUT(add_keys(&fields, "user,uid"));
        if (f && f->cmd)
            PUT(add_keys(&fields, "comm,cmdline"));
        if (f && f->states)
            PUT(add_keys(&fields, "state"));
        if (f && f->container)
            PUT(add_keys(&fields, "container"));
        PARAM("fields");
        PUT(sbuf_puts(path, fields.data));
    }
    if (f && f->nusers == 1) {
        PARAM("user");
        PUT(fanout_urlencode(path, f->users[0]));
    }
    if (f && f->cmd) {
        PARAM("cmd");
        PUT(fanout_urlencode(path, f->cmd));
    }
    if (f && f->states) {
        PARAM("state");
        PUT(fanout_urlencode(path, f->states));
    }
    if (f && f->container) {
        PARAM("container");
        PUT(fanout_urlencode(path, f->container));
    }
    if (f && f->npids) {
        PARAM("pid");
        for (size_t i = 0; i < f->npids; i++)
            PUT(sbuf_printf(path, "%s%lld", i ? "," : "", (long long)f->pids[i]));
    }
    if (f && f->threads) {
        PARAM("threads");
        PUT(sbuf_puts(path, "true"));
    }
    /*
     * A global top-N needs each host's top-N by the same key; without a
     * sort key the agent knows, the agents must send everything. Only the
     * first key goes down: ties at the cut may then differ from a full
     * sort, which a top-N view tolerates.
     */
    if (limit && nkeys > 0 && keys[0].def->agent_sort) {
        PARAM("sort");
        PUT(sbuf_printf(path, "%s%s", keys[0].desc ? "-" : "", keys[0].def->agent_sort));
        PARAM("limit");
        PUT(sbuf_printf(path, "%zu", limit));
    }
out:
#undef PARAM
#undef PUT
    sbuf_free(&fields);
    return r;
}
