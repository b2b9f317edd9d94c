/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ncurses front end of kumo top. Draws the header (one line per host),
 * a status line, and a scrolling process table from struct top; reads keys
 * with a short timeout so that refreshes happen every delay while the
 * screen stays responsive. A refresh blocks for at most the per-host
 * timeout, since slow hosts are cut off by the fan-out. Main thread only.
 */
#include "topui.h"
#include "cleanup.h"
#include "cli.h"
#include "kerr.h"
#include "signals.h"
#include "util.h"

#include <curses.h>
#include <errno.h>
#include <locale.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/eventfd.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct ui {
    struct top *t;
    size_t scroll;
    char status[512];
    bool show_help;
};

/* Print one line of s (up to '\n') at row y, cut at the screen width. */
static const char *
put_line(int y, const char *s, int attr)
{
    const char *nl = strchr(s, '\n');
    size_t len = nl ? (size_t)(nl - s) : strlen(s);
    move(y, 0);
    clrtoeol();
    if (attr)
        attron(attr);
    /* The table already cut lines at COLS display columns. */
    addnstr(s, (int)len);
    if (attr) {
        for (int x = getcurx(stdscr); x < COLS; x++)
            addch(' ');
        attroff(attr);
    }
    return nl ? nl + 1 : s + len;
}

static int
count_lines(const char *s)
{
    int n = 0;
    for (; s && *s; s++)
        n += *s == '\n';
    return n;
}

static void
draw(struct ui *u)
{
    struct top *t = u->t;
    int y = 0, max_header = LINES / 2;
    erase();

    const char *h = t->header.data ? t->header.data : "";
    int hl = count_lines(h);
    for (int i = 0; i < hl && y < max_header; i++)
        h = put_line(y++, h, i == 0 ? A_BOLD : 0);
    if (hl > max_header) {
        mvprintw(y - 1, 0, "... %d more hosts", hl - max_header + 1);
        clrtoeol();
    }

    char filt[256] = "";
    size_t fl = 0;
    if (t->filter.cmd)
        fl += (size_t)snprintf(filt + fl, sizeof(filt) - fl, " cmd~%.40s", t->filter.cmd);
    if (t->filter.nusers && fl < sizeof(filt))
        snprintf(filt + fl, sizeof(filt) - fl, " user=%.40s", t->filter.users[0]);
    int si = top_sort_index(t);
    char line[768];
    if (u->show_help)
        snprintf(line, sizeof(line),
                 "P/M/N/T sort cpu/mem/pid/time  </> sort column  R reverse  / filter cmd  "
                 "u user  k signal  H threads  arrows scroll  q quit");
    else if (u->status[0])
        snprintf(line, sizeof(line), "%s", u->status);
    else
        snprintf(line, sizeof(line), "sort %s%s  threads %s%s%s  (h help, q quit)",
                 t->sort[0].desc ? "-" : "+", si >= 0 ? t->cols[si].header : "?",
                 t->filter.threads ? "on" : "off", filt[0] ? "  filter" : "", filt);
    for (char *p = line; *p; p++)
        if ((unsigned char)*p < 0x20)
            *p = '?';
    move(y, 0);
    clrtoeol();
    addnstr(line, COLS);
    y++;

    int rows = LINES - y - 1;
    if (rows < 0)
        rows = 0;
    size_t n = t->table ? table_rows(t->table) : 0;
    if (n > (size_t)rows && u->scroll > n - (size_t)rows)
        u->scroll = n - (size_t)rows;
    if (n <= (size_t)rows)
        u->scroll = 0;
    struct sbuf out = SBUF_INIT;
    if (t->table && table_render(t->table, (size_t)COLS, u->scroll, (size_t)rows, &out) == 0) {
        const char *p = out.data;
        int first = 1;
        while (p && *p && y < LINES) {
            p = put_line(y++, p, first ? A_REVERSE : 0);
            first = 0;
        }
    }
    sbuf_free(&out);
    refresh();
}

/* Read a line at the status row; false when cancelled or empty. */
static bool
prompt(struct ui *u, const char *label, char *buf, size_t cap)
{
    int y = LINES / 2 < count_lines(u->t->header.data) ? LINES / 2 : count_lines(u->t->header.data);
    move(y, 0);
    clrtoeol();
    attron(A_BOLD);
    addstr(label);
    attroff(A_BOLD);
    refresh();
    echo();
    curs_set(1);
    timeout(-1);
    int r = getnstr(buf, (int)cap - 1);
    noecho();
    curs_set(0);
    timeout(0);
    if (r == ERR || buf[0] == '\0')
        return false;
    return true;
}

static void
do_signal(struct ui *u)
{
    struct top *t = u->t;
    char target[600] = "", def[600] = "", sigbuf[32] = "";
    if (t->pl.n > u->scroll) {
        json_t *pid = json_object_get(t->pl.rows[u->scroll].obj, "pid");
        if (json_is_integer(pid))
            snprintf(def, sizeof(def), "%s:%lld", t->pl.rows[u->scroll].host->name,
                     (long long)json_integer_value(pid));
    }
    char label[700];
    snprintf(label, sizeof(label), "signal HOST:PID [%s]: ", def);
    if (!prompt(u, label, target, sizeof(target))) {
        if (!def[0]) {
            snprintf(u->status, sizeof(u->status), "signal: cancelled");
            return;
        }
        snprintf(target, sizeof(target), "%s", def);
    }
    const char *sig = "TERM";
    if (prompt(u, "signal [TERM]: ", sigbuf, sizeof(sigbuf))) {
        sig = signals_lookup(sigbuf);
        if (!sig) {
            snprintf(u->status, sizeof(u->status), "unknown signal '%.20s'", sigbuf);
            return;
        }
    }
    top_signal(t, target, sig, u->status, sizeof(u->status));
}

static void
set_cmd_filter(struct ui *u)
{
    char buf[256] = "";
    struct top *t = u->t;
    if (prompt(u, "filter command (empty clears): ", buf, sizeof(buf))) {
        procfilter_set_cmd(&t->filter, buf, NULL);
    } else {
        free(t->filter.cmd);
        t->filter.cmd = NULL;
    }
}

static void
set_user_filter(struct ui *u)
{
    char buf[256] = "";
    struct top *t = u->t;
    for (size_t i = 0; i < t->filter.nusers; i++)
        free(t->filter.users[i]);
    t->filter.nusers = 0;
    if (prompt(u, "user (empty clears): ", buf, sizeof(buf)))
        procfilter_add_users(&t->filter, buf, NULL);
}

/*
 * A refresh runs on a worker thread so that keys are handled while slow
 * hosts are awaited. Hand-off without locks: the worker owns job->f,
 * job->path, job->pl and job->res from job_start() until the main thread
 * has joined it in job_finish(); it only reads t->conn (never changed
 * while the screen runs). It reports completion through an eventfd that
 * the main loop polls next to the terminal.
 */
struct job {
    struct top *t;
    pthread_t th;
    bool running;
    int efd;
    struct fanout *f;
    char *path;
    struct proclist pl;
    struct fetch_host *res;
    int result;
    struct kerr err;
    atomic_bool stop; /* set on quit: the worker's fan-out gives up */
};

static void *
job_main(void *arg)
{
    struct job *j = arg;
    uint64_t one = 1;
    j->result = fetch_round(j->f, &j->t->conn.hosts, j->path, true, &j->pl, j->res, &j->err);
    while (write(j->efd, &one, sizeof(one)) < 0 && errno == EINTR)
        ;
    return NULL;
}

static int
job_init(struct job *j, struct top *t)
{
    memset(j, 0, sizeof(*j));
    j->t = t;
    j->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    j->f = fanout_new(&t->conn.fo);
    j->res = calloc(t->conn.hosts.n, sizeof(*j->res));
    if (j->efd < 0 || !j->f || !j->res)
        return -ENOMEM;
    atomic_init(&j->stop, false);
    fanout_set_abort(j->f, &j->stop);
    return 0;
}

static int
job_start(struct job *j)
{
    free(j->path);
    j->path = NULL;
    int r = top_query(j->t, &j->path);
    if (r < 0)
        return r;
    kerr_clear(&j->err);
    r = pthread_create(&j->th, NULL, job_main, j);
    if (r != 0)
        return -r;
    j->running = true;
    return 0;
}

/* Join the finished worker and swap its round in as the one shown. */
static void
job_finish(struct job *j, struct ui *u)
{
    struct top *t = j->t;
    uint64_t v;
    pthread_join(j->th, NULL);
    j->running = false;
    while (read(j->efd, &v, sizeof(v)) < 0 && errno == EINTR)
        ;
    if (j->result < 0) {
        snprintf(u->status, sizeof(u->status), "refresh failed: %.400s", j->err.msg);
        return;
    }
    struct proclist pl = t->pl;
    t->pl = j->pl;
    j->pl = pl;
    struct fetch_host *res = t->res;
    t->res = j->res;
    j->res = res;
    /* The old round's documents go now, while no thread uses them. */
    proclist_clear(&j->pl);
    fetch_hosts_clear(j->res, t->conn.hosts.n);
    if (top_absorb(t, j->result) < 0)
        snprintf(u->status, sizeof(u->status), "refresh failed: out of memory");
}

static void
job_free(struct job *j)
{
    if (j->running) {
        atomic_store(&j->stop, true);
        pthread_join(j->th, NULL); /* within ~100 ms: the fan-out checks stop */
    }
    proclist_clear(&j->pl);
    if (j->res)
        fetch_hosts_clear(j->res, j->t->conn.hosts.n);
    free(j->res);
    free(j->path);
    fanout_free(j->f);
    safe_close(j->efd);
}

int
topui_run(struct top *t)
{
    struct ui u = { .t = t };

    struct job job;
    if (job_init(&job, t) < 0) {
        job_free(&job);
        fprintf(stderr, "kumo top: cannot set up HTTP client\n");
        return CLI_EXIT_ERROR;
    }

    setlocale(LC_ALL, "");
    if (!initscr()) {
        job_free(&job);
        return CLI_EXIT_ERROR;
    }
    cbreak();
    noecho();
    keypad(stdscr, TRUE);
    curs_set(0);
    timeout(0);

    uint64_t next = 0;
    bool quit = false, pending = false;
    snprintf(u.status, sizeof(u.status), "asking %zu hosts...", t->conn.hosts.n);
    draw(&u);
    while (!quit) {
        uint64_t now = now_mono_usec();
        if (!job.running && now >= next) {
            if (job_start(&job) < 0) {
                snprintf(u.status, sizeof(u.status), "refresh failed: cannot start");
                next = now + t->delay_usec;
                draw(&u);
            }
        }
        int wait_ms = 1000;
        if (!job.running && next > now)
            wait_ms = (next - now) / 1000 < 1000 ? (int)((next - now) / 1000) + 1 : 1000;
        struct pollfd pfd[2] = { { STDIN_FILENO, POLLIN, 0 }, { job.efd, POLLIN, 0 } };
        if (poll(pfd, 2, wait_ms) < 0 && errno != EINTR)
            break;
        if (job.running && (pfd[1].revents & POLLIN)) {
            if (strncmp(u.status, "asking ", 7) == 0)
                u.status[0] = '\0';
            job_finish(&job, &u);
            next = pending ? 0 : now_mono_usec() + t->delay_usec;
            pending = false;
            draw(&u);
        }
        int ch;
        while (!quit && (ch = getch()) != ERR) {
            int page = LINES / 2 > 1 ? LINES / 2 : 1;
            bool refetch = false, relayout = false;
            u.status[0] = '\0';
            u.show_help = false;
            switch (ch) {
            case 'q':
            case 'Q':
                quit = true;
                break;
            case 'P':
                top_sort_by(t, cols_find("rcpu"), true);
                relayout = true;
                break;
            case 'M':
                top_sort_by(t, cols_find("rss"), true);
                relayout = true;
                break;
            case 'N':
                top_sort_by(t, cols_find("pid"), true);
                relayout = true;
                break;
            case 'T':
                top_sort_by(t, cols_find("time+"), true);
                relayout = true;
                break;
            case 'R':
                t->sort[0].desc = !t->sort[0].desc;
                relayout = true;
                break;
            case '<':
            case '>': {
                int i = top_sort_index(t);
                if (i < 0)
                    i = 0;
                else if (ch == '<' && i > 0)
                    i--;
                else if (ch == '>' && (size_t)i + 1 < t->ncols)
                    i++;
                top_sort_by(t, t->cols[i].def, t->sort[0].desc);
                relayout = true;
                break;
            }
            case '/':
            case 'o':
                set_cmd_filter(&u);
                refetch = true;
                break;
            case 'u':
                set_user_filter(&u);
                refetch = true;
                break;
            case 'H':
                t->filter.threads = !t->filter.threads;
                refetch = true;
                break;
            case 'k':
                do_signal(&u);
                refetch = true;
                break;
            case 'h':
            case '?':
                u.show_help = true;
                break;
            case ' ':
                refetch = true;
                break;
            case KEY_UP:
                if (u.scroll > 0)
                    u.scroll--;
                break;
            case KEY_DOWN:
                u.scroll++;
                break;
            case KEY_PPAGE:
                u.scroll = u.scroll > (size_t)page ? u.scroll - (size_t)page : 0;
                break;
            case KEY_NPAGE:
                u.scroll += (size_t)page;
                break;
            case KEY_HOME:
                u.scroll = 0;
                break;
            case KEY_END:
                u.scroll = (size_t)-1 / 2;
                break;
            case KEY_RESIZE:
                break;
            default:
                snprintf(u.status, sizeof(u.status), "unknown key (h for help)");
                break;
            }
            if (refetch) {
                if (job.running)
                    pending = true; /* the round in flight used the old options */
                else
                    next = 0;
            } else if (relayout) {
                top_relayout(t);
            }
            if (!quit)
                draw(&u);
        }
    }
    endwin();
    job_free(&job);
    return t->any_ok ? CLI_EXIT_OK : CLI_EXIT_ERROR;
}
