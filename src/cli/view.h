/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Turning merged process lists and host objects into text: the process
 * table of ps/top and the per-host summary lines at the top of `kumo top`.
 * Shared by ps, top's batch mode and top's ncurses screen.
 */
#ifndef KUMO_CLI_VIEW_H
#define KUMO_CLI_VIEW_H

#include "cols.h"
#include "fetch.h"
#include "proclist.h"
#include "sbuf.h"
#include "table.h"

#include <jansson.h>
#include <stdio.h>
#include <time.h>

/* A table of pl's rows in the given columns. NULL on OOM. */
struct table *view_table(const struct col *cols, size_t ncols, const struct proclist *pl,
                         time_t now);

/*
 * top's header: a summary line, then one line per host with load, CPUs,
 * CPU usage, memory and process count from its /v1/host object, or its
 * error. 0 or -ENOMEM.
 */
int view_top_header(const struct hostlist *hosts, const struct fetch_host *res, size_t nrows,
                    time_t now, struct sbuf *out);

/*
 * Write pl as a JSON array of process objects, each with a "host" key
 * naming its agent, one object per line. 0 or -errno (write error).
 */
int view_json(const struct proclist *pl, FILE *out);

#endif
