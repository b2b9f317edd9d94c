/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Text and JSON renderings of a fetch round. Values from agents are
 * untrusted: numbers are type-checked, strings go through the table's
 * sanitiser (or, for JSON, jansson's escaping). Main thread only.
 */
#include "view.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

struct table *
view_table(const struct col *cols, size_t ncols, const struct proclist *pl, time_t now)
{
    struct table *t = table_new(ncols);
    if (!t)
        return NULL;
    for (size_t i = 0; i < ncols; i++)
        if (table_set_column(t, i, cols[i].header, cols[i].def->left) < 0)
            return table_free(t);

    char *cells[COLS_MAX];
    char *buf = malloc(ncols * COL_CELL_MAX);
    if (!buf)
        return table_free(t);
    for (size_t i = 0; i < ncols; i++)
        cells[i] = buf + i * COL_CELL_MAX;
    for (size_t r = 0; r < pl->n; r++) {
        for (size_t i = 0; i < ncols; i++)
            cols_format(cols[i].def, &pl->rows[r], now, cells[i], COL_CELL_MAX);
        if (table_add_row(t, (const char *const *)cells) < 0) {
            free(buf);
            return table_free(t);
        }
    }
    free(buf);
    return t;
}

static double
num(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    double d = json_is_number(v) ? json_number_value(v) : NAN;
    return isfinite(d) ? d : NAN;
}

static double
arr_num(json_t *a, size_t i)
{
    json_t *v = json_array_get(a, i);
    double d = json_is_number(v) ? json_number_value(v) : NAN;
    return isfinite(d) ? d : NAN;
}

/* "1.2G" style for KiB amounts. */
static void
fmt_kib(double kib, char *buf, size_t cap)
{
    static const char units[] = "KMGTP";
    size_t u = 0;
    if (!isfinite(kib)) {
        snprintf(buf, cap, "-");
        return;
    }
    while (kib >= 1024 && u + 1 < sizeof(units) - 1) {
        kib /= 1024;
        u++;
    }
    snprintf(buf, cap, u == 0 ? "%.0f%c" : "%.1f%c", kib, units[u]);
}

int
view_top_header(const struct hostlist *hosts, const struct fetch_host *res, size_t nrows,
                time_t now, struct sbuf *out)
{
    struct tm tm;
    char clock[16] = "--:--:--";
    size_t up = 0;
    if (localtime_r(&now, &tm))
        strftime(clock, sizeof(clock), "%H:%M:%S", &tm);
    for (size_t i = 0; i < hosts->n; i++)
        if (!res[i].err[0])
            up++;

    struct table *t = table_new(7);
    if (!t)
        return -ENOMEM;
    int r = 0;
    struct {
        size_t n;
        double cpus, busy, total, used, procs, threads;
    } sum = { 0, 0, 0, 0, 0, 0, 0 };
    static const char *const heads[] = { "HOST",           "LOAD 1/5/15", "CPUS",   "CPU%",
                                         "MEM USED/TOTAL", "PROCS",       "THREADS" };
    for (size_t i = 0; i < 7 && r == 0; i++)
        r = table_set_column(t, i, heads[i], i == 0 || i == 1 || i == 4);
    for (size_t i = 0; i < hosts->n && r == 0; i++) {
        char load[64], cpus[16], cpu[16], mem[64], procs[24], threads[24];
        const char *cells[7] = { hosts->v[i].name, load, cpus, cpu, mem, procs, threads };
        json_t *o = res[i].info;
        if (res[i].err[0] || !o)
            continue; /* listed after the table, so its width stays that of the figures */
        json_t *l = json_object_get(o, "load");
        snprintf(load, sizeof(load), "%.2f %.2f %.2f", arr_num(l, 0), arr_num(l, 1), arr_num(l, 2));
        snprintf(cpus, sizeof(cpus), "%.0f", num(o, "cpus"));
        snprintf(cpu, sizeof(cpu), "%.1f", num(o, "cpu_usage"));
        json_t *m = json_object_get(o, "memory");
        double total = num(m, "total"), avail = num(m, "available");
        char used_s[16], total_s[16];
        fmt_kib(total - avail, used_s, sizeof(used_s));
        fmt_kib(total, total_s, sizeof(total_s));
        if (isfinite(total) && total > 0 && isfinite(avail))
            snprintf(mem, sizeof(mem), "%s/%s (%.0f%%)", used_s, total_s,
                     100.0 * (total - avail) / total);
        else
            snprintf(mem, sizeof(mem), "-");
        snprintf(procs, sizeof(procs), "%.0f", num(o, "processes"));
        snprintf(threads, sizeof(threads), "%.0f", num(o, "threads"));
        r = table_add_row(t, cells);
        sum.n++;
        sum.cpus += isfinite(num(o, "cpus")) ? num(o, "cpus") : 0;
        sum.busy += isfinite(num(o, "cpus") * num(o, "cpu_usage"))
                        ? num(o, "cpus") * num(o, "cpu_usage") / 100.0
                        : 0;
        sum.total += isfinite(total) ? total : 0;
        sum.used += isfinite(total - avail) ? total - avail : 0;
        sum.procs += isfinite(num(o, "processes")) ? num(o, "processes") : 0;
        sum.threads += isfinite(num(o, "threads")) ? num(o, "threads") : 0;
    }
    if (r == 0 && sum.n > 1) {
        /* The DC-wide line: CPU usage weighted by each host's CPU count. */
        char cpus[16], cpu[16], mem[64], procs[24], threads[24], used_s[16], total_s[16];
        const char *cells[7] = { "total", "", cpus, cpu, mem, procs, threads };
        snprintf(cpus, sizeof(cpus), "%.0f", sum.cpus);
        snprintf(cpu, sizeof(cpu), "%.1f", sum.cpus > 0 ? 100.0 * sum.busy / sum.cpus : 0.0);
        fmt_kib(sum.used, used_s, sizeof(used_s));
        fmt_kib(sum.total, total_s, sizeof(total_s));
        snprintf(mem, sizeof(mem), "%s/%s (%.0f%%)", used_s, total_s,
                 sum.total > 0 ? 100.0 * sum.used / sum.total : 0.0);
        snprintf(procs, sizeof(procs), "%.0f", sum.procs);
        snprintf(threads, sizeof(threads), "%.0f", sum.threads);
        r = table_add_row(t, cells);
    }
    if (r == 0)
        r = sbuf_printf(out, "kumo top - %s  %zu hosts, %zu up, %zu rows\n", clock, hosts->n, up,
                        nrows);
    if (r == 0 && up > 0)
        r = table_render(t, 0, 0, 0, out);
    for (size_t i = 0; i < hosts->n && r == 0; i++)
        if (res[i].err[0] || !res[i].info)
            r = sbuf_printf(out, "%s down: %s\n", hosts->v[i].name,
                            res[i].err[0] ? res[i].err : "no data");
    table_free(t);
    return r < 0 ? -ENOMEM : 0;
}

int
view_json(const struct proclist *pl, FILE *out)
{
    if (fputs("[", out) == EOF)
        return -EIO;
    for (size_t i = 0; i < pl->n; i++) {
        json_t *o = pl->rows[i].obj;
        /* The rows' objects are ours to change: they are printed once. */
        json_object_set_new(o, "host", json_string(pl->rows[i].host->name));
        if (fputs(i ? ",\n" : "\n", out) == EOF || json_dumpf(o, out, JSON_COMPACT) < 0)
            return -EIO;
    }
    if (fputs(pl->n ? "\n]\n" : "]\n", out) == EOF)
        return -EIO;
    return 0;
}
