/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Plain-text tables laid out like procps: one space between columns,
 * numbers right-aligned, widths from the widest cell, no trailing blanks,
 * and optionally the last column cut to the terminal width. Cells are
 * sanitised: control characters (from process names an attacker chose)
 * become '?', so a table can never move the cursor or retitle the terminal.
 */
#ifndef KUMO_CLI_TABLE_H
#define KUMO_CLI_TABLE_H

#include "sbuf.h"

#include <stdbool.h>
#include <stddef.h>

struct table;

/* New table with ncols columns (1..64). NULL on OOM or bad ncols. */
struct table *table_new(size_t ncols);

/* Header text and alignment of column i (text copied). 0 or -ENOMEM/-EINVAL. */
int table_set_column(struct table *t, size_t i, const char *header, bool left);

/* Append a row: ncols cells (copied and sanitised). 0 or -ENOMEM. */
int table_add_row(struct table *t, const char *const *cells);

/* Number of data rows. */
size_t table_rows(const struct table *t);

/*
 * Render header and rows into out. width > 0 cuts every line to that many
 * display columns (the last column loses its tail, as ps does on a tty);
 * 0 means no limit. skip/max select a window of data rows (for top's
 * scrolling; max 0 = all). 0 or -ENOMEM.
 */
int table_render(const struct table *t, size_t width, size_t skip, size_t max, struct sbuf *out);

/* Display width of a UTF-8 string (code points; no wide-char tables). */
size_t table_display_width(const char *s);

/* Frees t; accepts NULL; returns NULL. */
struct table *table_free(struct table *t);

/* Width of the terminal on fd, or 0 when fd is not a terminal. */
size_t table_term_width(int fd);

#endif
