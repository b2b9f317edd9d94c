/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Table layout for kumo ps/top. Cells are copied in, sanitised, measured
 * once, and rendered into a buffer so the caller decides where it goes
 * (stdout, an ncurses window, a test). Widths count UTF-8 code points,
 * which is right for the names and command lines ps shows in practice.
 * Main thread only.
 */
#include "table.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#define TABLE_COLS_MAX 64

struct table {
    size_t ncols;
    char **headers;
    bool *left;
    size_t *width;
    char **cells; /* nrows * ncols */
    size_t nrows, cap;
};

struct table *
table_new(size_t ncols)
{
    if (ncols == 0 || ncols > TABLE_COLS_MAX)
        return NULL;
    struct table *t = calloc(1, sizeof(*t));
    if (!t)
        return NULL;
    t->ncols = ncols;
    t->headers = calloc(ncols, sizeof(*t->headers));
    t->left = calloc(ncols, sizeof(*t->left));
    t->width = calloc(ncols, sizeof(*t->width));
    if (!t->headers || !t->left || !t->width)
        return table_free(t);
    return t;
}

struct table *
table_free(struct table *t)
{
    if (!t)
        return NULL;
    if (t->headers)
        for (size_t i = 0; i < t->ncols; i++)
            free(t->headers[i]);
    for (size_t i = 0; i < t->nrows * t->ncols; i++)
        free(t->cells[i]);
    free(t->cells);
    free(t->headers);
    free(t->left);
    free(t->width);
    free(t);
    return NULL;
}

size_t
table_display_width(const char *s)
{
    size_t w = 0;
    for (; *s; s++)
        if (((unsigned char)*s & 0xc0) != 0x80)
            w++;
    return w;
}

/* Copy s replacing control characters (C0, DEL, and C1 written as UTF-8). */
static char *
sanitize(const char *s)
{
    size_t len = strlen(s);
    char *out = malloc(len + 1);
    if (!out)
        return NULL;
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == 0x7f) {
            out[o++] = '?';
        } else if (c == 0xc2 && i + 1 < len && (unsigned char)s[i + 1] >= 0x80 &&
                   (unsigned char)s[i + 1] < 0xa0) {
            out[o++] = '?'; /* U+0080..U+009F: C1 controls such as CSI */
            i++;
        } else {
            out[o++] = (char)c;
        }
    }
    out[o] = '\0';
    return out;
}

int
table_set_column(struct table *t, size_t i, const char *header, bool left)
{
    if (i >= t->ncols)
        return -EINVAL;
    char *h = sanitize(header);
    if (!h)
        return -ENOMEM;
    free(t->headers[i]);
    t->headers[i] = h;
    t->left[i] = left;
    size_t w = table_display_width(h);
    if (w > t->width[i])
        t->width[i] = w;
    return 0;
}

int
table_add_row(struct table *t, const char *const *cells)
{
    if (t->nrows == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 64;
        char **c = realloc(t->cells, cap * t->ncols * sizeof(*c));
        if (!c)
            return -ENOMEM;
        t->cells = c;
        t->cap = cap;
    }
    char **row = t->cells + t->nrows * t->ncols;
    for (size_t i = 0; i < t->ncols; i++) {
        row[i] = sanitize(cells[i] ? cells[i] : "");
        if (!row[i]) {
            for (size_t j = 0; j < i; j++)
                free(row[j]);
            return -ENOMEM;
        }
    }
    for (size_t i = 0; i < t->ncols; i++) {
        size_t w = table_display_width(row[i]);
        if (w > t->width[i])
            t->width[i] = w;
    }
    t->nrows++;
    return 0;
}

size_t
table_rows(const struct table *t)
{
    return t->nrows;
}

/* Append up to room display columns of s; returns the columns used. */
static int
put_cut(struct sbuf *out, const char *s, size_t room, size_t *used)
{
    size_t w = 0, i = 0;
    for (; s[i]; i++) {
        if (((unsigned char)s[i] & 0xc0) != 0x80) {
            if (w == room)
                break;
            w++;
        }
    }
    *used = w;
    return sbuf_append(out, s, i);
}

static int
render_line(const struct table *t, char *const *cells, size_t width, struct sbuf *out)
{
    size_t col = 0; /* display columns written on this line */
    size_t limit = width ? width : (size_t)-1;
    size_t line_start = out->len;

    for (size_t i = 0; i < t->ncols; i++) {
        const char *s = cells[i] ? cells[i] : "";
        size_t w = table_display_width(s);
        bool last = i + 1 == t->ncols;
        size_t pad = t->width[i] > w ? t->width[i] - w : 0;
        size_t used;

        if (i > 0) {
            if (col >= limit)
                break;
            if (sbuf_putc(out, ' ') < 0)
                return -ENOMEM;
            col++;
        }
        if (!t->left[i]) {
            for (; pad > 0 && col < limit; pad--, col++)
                if (sbuf_putc(out, ' ') < 0)
                    return -ENOMEM;
        }
        if (col >= limit)
            break;
        if (put_cut(out, s, limit - col, &used) < 0)
            return -ENOMEM;
        col += used;
        if (t->left[i] && !last) {
            for (; pad > 0 && col < limit; pad--, col++)
                if (sbuf_putc(out, ' ') < 0)
                    return -ENOMEM;
        }
    }
    /* No trailing blanks, as ps. */
    while (out->len > line_start && out->data[out->len - 1] == ' ')
        out->data[--out->len] = '\0';
    return sbuf_putc(out, '\n');
}

int
table_render(const struct table *t, size_t width, size_t skip, size_t max, struct sbuf *out)
{
    int r = render_line(t, t->headers, width, out);
    if (r < 0)
        return r;
    for (size_t i = skip; i < t->nrows && (max == 0 || i < skip + max); i++) {
        r = render_line(t, t->cells + i * t->ncols, width, out);
        if (r < 0)
            return r;
    }
    return 0;
}

size_t
table_term_width(int fd)
{
    struct winsize ws;
    if (!isatty(fd))
        return 0;
    if (ioctl(fd, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
        return ws.ws_col;
    return 80;
}
