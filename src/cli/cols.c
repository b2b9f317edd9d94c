/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Column table and cell formatting for kumo ps/top. Values come from k2i
 * process objects, which are untrusted: every accessor checks the JSON type
 * and prints "-" for anything missing or of the wrong kind, and text cells
 * are cut at COL_CELL_MAX (control bytes are replaced later, by the table).
 * Called from the CLI's main thread.
 */
#include "cols.h"
#include "hosts.h"
#include "kerr.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

static const struct coldef defs[] = {
    { COL_HOST, "host|node", "HOST", "", true, false, NULL },
    { COL_PID, "pid|tgid", "PID", "pid", false, true, "pid" },
    { COL_TID, "tid|lwp|spid", "LWP", "tid,pid", false, true, "tid" },
    { COL_PPID, "ppid", "PPID", "ppid", false, true, "ppid" },
    { COL_PGID, "pgid|pgrp", "PGID", "pgrp", false, true, "pgrp" },
    { COL_SID, "sid|sess|session", "SID", "sid", false, true, "sid" },
    { COL_TTY, "tty|tt|tname", "TT", "tty", true, false, NULL },
    { COL_STAT, "stat|state|s", "STAT", "state", true, false, NULL },
    { COL_USER, "user|uname|euser", "USER", "user,uid", true, false, NULL },
    { COL_UID, "uid|euid", "UID", "uid", false, true, "uid" },
    { COL_GID, "gid|egid", "GID", "gid", false, true, "gid" },
    { COL_COMM, "comm|ucomm|ucmd", "COMMAND", "comm", true, false, NULL },
    { COL_ARGS, "args|cmd|command|cmdline", "COMMAND", "cmdline,comm", true, false, NULL },
    { COL_NLWP, "nlwp|thcount|threads", "NLWP", "threads", false, true, "threads" },
    { COL_TIME, "time|cputime", "TIME", "utime,stime", false, true, "time" },
    { COL_TIMEPLUS, "time+", "TIME+", "utime,stime", false, true, "time" },
    { COL_START, "start|stime|start_time|lstart", "START", "start_time", false, true,
      "start_time" },
    { COL_ETIME, "etime|elapsed", "ELAPSED", "start_time", false, true, "elapsed" },
    { COL_PCPU, "%cpu|pcpu|cpu", "%CPU", "cpu", false, true, "cpu" },
    { COL_RCPU, "rcpu|cpu_recent", "%CPU", "cpu_recent", false, true, "cpu_recent" },
    { COL_PMEM, "%mem|pmem|mem", "%MEM", "mem", false, true, "mem" },
    { COL_RSS, "rss|rssize|rsz|res", "RSS", "rss", false, true, "rss" },
    { COL_VSZ, "vsz|vsize|virt", "VSZ", "vsz", false, true, "vsz" },
    { COL_NI, "ni|nice", "NI", "nice", false, true, "nice" },
    { COL_PRI, "pri|priority|pr", "PRI", "priority", false, true, "priority" },
    { COL_PSR, "psr|processor", "PSR", "processor", false, true, "processor" },
    { COL_MINFLT, "min_flt|minflt", "MINFL", "minflt", false, true, "minflt" },
    { COL_MAJFLT, "maj_flt|majflt", "MAJFL", "majflt", false, true, "majflt" },
    { COL_CONTAINER, "container", "CONTAINER", "container", true, false, NULL },
};

const struct coldef *
cols_all(size_t *ret_n)
{
    *ret_n = sizeof(defs) / sizeof(defs[0]);
    return defs;
}

/* True if name is one of the '|'-separated names. */
static bool
names_match(const char *names, const char *name, size_t len)
{
    const char *p = names;
    while (*p) {
        const char *end = strchr(p, '|');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        if (n == len && strncasecmp(p, name, len) == 0)
            return true;
        if (!end)
            break;
        p = end + 1;
    }
    return false;
}

static const struct coldef *
find_n(const char *name, size_t len)
{
    for (size_t i = 0; i < sizeof(defs) / sizeof(defs[0]); i++)
        if (names_match(defs[i].names, name, len))
            return &defs[i];
    return NULL;
}

const struct coldef *
cols_find(const char *name)
{
    return find_n(name, strlen(name));
}

static bool
is_sep(char c)
{
    return c == ',' || isspace((unsigned char)c);
}

const char *
cols__next_item(const char **p, size_t *ret_len)
{
    const char *s = *p;
    while (is_sep(*s))
        s++;
    size_t len = 0;
    while (s[len] && !is_sep(s[len]))
        len++;
    *p = s + len;
    if (len == 0)
        return NULL;
    *ret_len = len;
    return s;
}

int
cols_parse(const char *spec, struct col *cols, size_t *n, struct kerr *err)
{
    const char *p;
    size_t len;
    while ((p = cols__next_item(&spec, &len))) {
        const char *eq = memchr(p, '=', len);
        size_t namelen = eq ? (size_t)(eq - p) : len;
        const struct coldef *d = find_n(p, namelen);
        if (!d)
            return kerr_setf(err, EINVAL, "unknown column '%.*s' (try --help)", (int)namelen, p);
        if (*n >= COLS_MAX)
            return kerr_setf(err, E2BIG, "more than %d columns", COLS_MAX);
        struct col *c = &cols[(*n)++];
        c->def = d;
        if (eq)
            snprintf(c->header, sizeof(c->header), "%.*s", (int)(len - namelen - 1), eq + 1);
        else
            snprintf(c->header, sizeof(c->header), "%s", d->header);
    }
    return 0;
}

int
cols_ensure_host(struct col *cols, size_t *n)
{
    for (size_t i = 0; i < *n; i++)
        if (cols[i].def->id == COL_HOST)
            return 0;
    if (*n >= COLS_MAX)
        return -E2BIG;
    memmove(&cols[1], &cols[0], *n * sizeof(cols[0]));
    (*n)++;
    cols[0].def = cols_find("host");
    snprintf(cols[0].header, sizeof(cols[0].header), "HOST");
    return 0;
}

int
cols_parse_sort(const char *spec, struct sortkey *keys, size_t *n, struct kerr *err)
{
    const char *p;
    size_t len;
    while ((p = cols__next_item(&spec, &len))) {
        bool desc = false;
        if (*p == '-' || *p == '+') {
            desc = *p == '-';
            p++;
            len--;
        }
        const struct coldef *d = len ? find_n(p, len) : NULL;
        if (!d)
            return kerr_setf(err, EINVAL, "unknown sort key '%.*s' (try --help)", (int)len, p);
        if (*n >= COLS_MAX)
            return kerr_setf(err, E2BIG, "more than %d sort keys", COLS_MAX);
        keys[*n].def = d;
        keys[*n].desc = desc;
        (*n)++;
    }
    return 0;
}

static bool
get_num(json_t *obj, const char *key, double *ret)
{
    json_t *v = json_object_get(obj, key);
    if (!json_is_number(v))
        return false;
    double d = json_number_value(v);
    if (!isfinite(d))
        return false;
    *ret = d;
    return true;
}

static const char *
get_str(json_t *obj, const char *key)
{
    return json_string_value(json_object_get(obj, key));
}

bool
cols_number(const struct coldef *def, const struct proc_row *row, double *ret)
{
    json_t *o = row->obj;
    double a, b;
    switch (def->id) {
    case COL_TID:
        return get_num(o, "tid", ret) || get_num(o, "pid", ret);
    case COL_TIME:
    case COL_TIMEPLUS:
        if (!get_num(o, "utime", &a) || !get_num(o, "stime", &b))
            return false;
        *ret = a + b;
        return true;
    case COL_ETIME:
        /* Sorted by start time, latest first = shortest elapsed: negate. */
        if (!get_num(o, "start_time", &a))
            return false;
        *ret = -a;
        return true;
    default:
        if (!def->numeric || !def->keys[0])
            return false;
        {
            char key[32];
            const char *comma = strchr(def->keys, ',');
            size_t len = comma ? (size_t)(comma - def->keys) : strlen(def->keys);
            snprintf(key, sizeof(key), "%.*s", (int)len, def->keys);
            return get_num(o, key, ret);
        }
    }
}

void
cols_fmt_time(double secs, char *buf, size_t cap)
{
    if (secs < 0)
        secs = 0;
    unsigned long long t = (unsigned long long)secs;
    unsigned long long d = t / 86400, h = (t / 3600) % 24, m = (t / 60) % 60, s = t % 60;
    if (d)
        snprintf(buf, cap, "%llu-%02llu:%02llu:%02llu", d, h, m, s);
    else
        snprintf(buf, cap, "%02llu:%02llu:%02llu", h, m, s);
}

static void
fmt_timeplus(double secs, char *buf, size_t cap)
{
    if (secs < 0)
        secs = 0;
    unsigned long long cs = (unsigned long long)(secs * 100.0);
    snprintf(buf, cap, "%llu:%02llu.%02llu", cs / 6000, (cs / 100) % 60, cs % 100);
}

/* ps ELAPSED: as TIME from the first hour on, MM:SS before. */
static void
fmt_etime(double secs, char *buf, size_t cap)
{
    if (secs >= 3600) {
        cols_fmt_time(secs, buf, cap);
        return;
    }
    if (secs < 0)
        secs = 0;
    unsigned long long t = (unsigned long long)secs;
    snprintf(buf, cap, "%02llu:%02llu", t / 60, t % 60);
}

/* ps START: HH:MM within a day, MonDD within a year, else the year. */
static void
fmt_start(double start, time_t now, char *buf, size_t cap)
{
    time_t t = (time_t)start;
    struct tm tm;
    if (!localtime_r(&t, &tm)) {
        snprintf(buf, cap, "-");
        return;
    }
    size_t n;
    if (now - t < 24 * 3600)
        n = strftime(buf, cap, "%H:%M", &tm);
    else if (now - t < 365 * 24 * 3600)
        n = strftime(buf, cap, "%b%d", &tm);
    else
        n = strftime(buf, cap, "%Y", &tm);
    if (n == 0)
        snprintf(buf, cap, "-");
}

static void
fmt_args(json_t *o, char *buf, size_t cap)
{
    json_t *argv = json_object_get(o, "cmdline");
    size_t pos = 0;
    buf[0] = '\0';
    if (json_is_array(argv)) {
        size_t i;
        json_t *a;
        json_array_foreach (argv, i, a) {
            const char *s = json_string_value(a);
            if (!s)
                continue;
            int w = snprintf(buf + pos, cap - pos, "%s%s", pos ? " " : "", s);
            if (w < 0 || (size_t)w >= cap - pos) {
                pos = cap - 1;
                break;
            }
            pos += (size_t)w;
        }
    }
    if (pos == 0) {
        /* Kernel threads and zombies have no command line: ps shows [comm]. */
        const char *c = get_str(o, "comm");
        snprintf(buf, cap, "[%s]", c ? c : "?");
    }
}

void
cols_format(const struct coldef *def, const struct proc_row *row, time_t now, char *buf, size_t cap)
{
    json_t *o = row->obj;
    double v;
    const char *s;

    if (cap == 0)
        return;
    switch (def->id) {
    case COL_HOST:
        snprintf(buf, cap, "%s", row->host ? row->host->name : "-");
        return;
    case COL_TTY: {
        s = get_str(o, "tty");
        snprintf(buf, cap, "%s", s && *s ? s : "?");
        return;
    }
    case COL_USER:
        s = get_str(o, "user");
        if (s)
            snprintf(buf, cap, "%s", s);
        else if (get_num(o, "uid", &v))
            snprintf(buf, cap, "%.0f", v);
        else
            snprintf(buf, cap, "-");
        return;
    case COL_STAT:
    case COL_COMM:
    case COL_CONTAINER:
        s = get_str(o, def->keys);
        snprintf(buf, cap, "%s", s && *s ? s : "-");
        return;
    case COL_ARGS:
        fmt_args(o, buf, cap);
        return;
    case COL_TIME:
    case COL_TIMEPLUS:
    case COL_START:
    case COL_ETIME:
        if (!cols_number(def, row, &v)) {
            snprintf(buf, cap, "-");
            return;
        }
        if (def->id == COL_TIME)
            cols_fmt_time(v, buf, cap);
        else if (def->id == COL_TIMEPLUS)
            fmt_timeplus(v, buf, cap);
        else if (def->id == COL_START)
            fmt_start(v, now, buf, cap);
        else
            fmt_etime((double)now + v, buf, cap);
        return;
    case COL_PCPU:
    case COL_RCPU:
    case COL_PMEM:
        if (cols_number(def, row, &v))
            snprintf(buf, cap, "%.1f", v);
        else
            snprintf(buf, cap, "-");
        return;
    default:
        if (cols_number(def, row, &v))
            snprintf(buf, cap, "%.0f", v);
        else
            snprintf(buf, cap, "-");
        return;
    }
}

static int
cmp_double(double a, double b)
{
    return a < b ? -1 : a > b ? 1 : 0;
}

static int
compare_one(const struct coldef *d, const struct proc_row *a, const struct proc_row *b)
{
    if (d->id == COL_HOST)
        return a->host_index < b->host_index ? -1 : a->host_index > b->host_index ? 1 : 0;
    if (d->numeric) {
        double x, y;
        bool hx = cols_number(d, a, &x), hy = cols_number(d, b, &y);
        if (hx != hy)
            return hx ? 1 : -1; /* missing values sort first */
        return hx ? cmp_double(x, y) : 0;
    }
    char bx[256], by[256];
    cols_format(d, a, 0, bx, sizeof(bx));
    cols_format(d, b, 0, by, sizeof(by));
    return strcmp(bx, by);
}

int
cols_compare(const struct sortkey *keys, size_t n, const struct proc_row *a,
             const struct proc_row *b)
{
    for (size_t i = 0; i < n; i++) {
        int c = compare_one(keys[i].def, a, b);
        if (c)
            return keys[i].desc ? -c : c;
    }
    if (a->host_index != b->host_index)
        return a->host_index < b->host_index ? -1 : 1;
    double x = 0, y = 0;
    static const struct coldef tid = { COL_TID, "tid", "LWP", "tid,pid", false, true, NULL };
    cols_number(&tid, a, &x);
    cols_number(&tid, b, &y);
    return cmp_double(x, y);
}
