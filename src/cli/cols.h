/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Output columns of kumo ps/top, named as in procps where a name exists
 * (pid ppid pgid sid tty stat user uid comm args nlwp time start %cpu %mem
 * rss vsz ni pri psr, and their aliases), each mapped to the k2i keys it
 * needs. Parses `-o` column lists and `--sort` key lists and formats one
 * cell of a process object. No I/O, no allocation except where stated.
 */
#ifndef KUMO_CLI_COLS_H
#define KUMO_CLI_COLS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <time.h>

struct kerr;
struct host;

/* More columns or sort keys than this is not a table anyone reads. */
#define COLS_MAX     64
#define COL_CELL_MAX 4096

enum col_id {
    COL_HOST,
    COL_PID,
    COL_TID,
    COL_PPID,
    COL_PGID,
    COL_SID,
    COL_TTY,
    COL_STAT,
    COL_USER,
    COL_UID,
    COL_GID,
    COL_COMM,
    COL_ARGS,
    COL_NLWP,
    COL_TIME,
    COL_TIMEPLUS,
    COL_START,
    COL_ETIME,
    COL_PCPU,
    COL_RCPU,
    COL_PMEM,
    COL_RSS,
    COL_VSZ,
    COL_NI,
    COL_PRI,
    COL_PSR,
    COL_MINFLT,
    COL_MAJFLT,
    COL_CONTAINER,
};

struct coldef {
    enum col_id id;
    const char *names;      /* "args|cmd|command": first is canonical, then aliases */
    const char *header;     /* "COMMAND" */
    const char *keys;       /* k2i keys the cell needs: "cmdline,comm" ("" for HOST) */
    bool left;              /* left-aligned text; numbers are right-aligned */
    bool numeric;           /* sorts by number (else by text) */
    const char *agent_sort; /* k2i sort= key with the same order, NULL if none */
};

/* One chosen output column: its definition and the header to print. */
struct col {
    const struct coldef *def;
    char header[64];
};

struct sortkey {
    const struct coldef *def;
    bool desc;
};

/* Everything a cell can show: a process object and the host it came from. */
struct proc_row {
    const struct host *host; /* borrowed */
    size_t host_index;       /* position of the host in the command's list */
    json_t *obj;             /* borrowed from the host's response */
};

/* Look up a column by any of its names; NULL if unknown. */
const struct coldef *cols_find(const char *name);

/* All definitions (for --help and tests). */
const struct coldef *cols_all(size_t *ret_n);

/*
 * The next item of a list separated by commas and blanks, as -o, --sort,
 * -u and -p take: skips separators at *p, returns where the item starts
 * (borrowed from the list) with its length in *ret_len and moves *p past
 * it. NULL when the list has no more items.
 */
const char *cols__next_item(const char **p, size_t *ret_len);

/*
 * Parse a column list "pid,user,%cpu,args" (also "pid=ID" to rename a
 * header) and append to cols[*n] (capacity COLS_MAX). Blanks separate too.
 * Returns 0 or -EINVAL naming the unknown column.
 */
int cols_parse(const char *spec, struct col *cols, size_t *n, struct kerr *err);

/*
 * Make sure the columns show HOST: the table is DC-wide, so HOST goes first
 * unless the list already places it. Returns 0, or -E2BIG when HOST is
 * missing and there is no room for it (the list is left as it was).
 */
int cols_ensure_host(struct col *cols, size_t *n);

/* Same for "--sort -cpu,+pid,rss" (leading '-' = descending). */
int cols_parse_sort(const char *spec, struct sortkey *keys, size_t *n, struct kerr *err);

/*
 * Format one cell into buf (always NUL-terminated, truncated at cap).
 * now is the reference time for START and ELAPSED. Missing keys print "-".
 */
void cols_format(const struct coldef *def, const struct proc_row *row, time_t now, char *buf,
                 size_t cap);

/* Numeric value for sorting; false when the process lacks the key. */
bool cols_number(const struct coldef *def, const struct proc_row *row, double *ret);

/*
 * Compare two rows by the keys in order; ties fall back to host position
 * then pid, so the order is total and stable across runs.
 */
int cols_compare(const struct sortkey *keys, size_t n, const struct proc_row *a,
                 const struct proc_row *b);

/* Format seconds as ps TIME "[DD-]HH:MM:SS". */
void cols_fmt_time(double secs, char *buf, size_t cap);

#endif
