/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kumo msg: talk on the middlecon bus from a shell, over libmiddlecon.
 *
 *   kumo msg listen ROOM [--name N] [--reply TEXT | --reply-exec CMD] [--json]
 *   kumo msg send ROOM TEXT
 *   kumo msg direct NAME TEXT
 *   kumo msg request ROOM TEXT [--timeout MS] [--any | --session] [--json]
 *   kumo msg who ROOM [--json]
 *   kumo msg stats
 *
 * Common options: --server ADDR (or unix:/path, or tls://HOST:PORT; default
 * $KUMO_MIDDLECON, else 127.0.0.1:4222), --token TOKEN (default
 * $KUMO_MIDDLECON_TOKEN), --name NAME, --tls-ca FILE, --tls-cert FILE,
 * --tls-key FILE. Exit status: 0 success, 1 error, 2 a request where some
 * members did not answer.
 */
#include "cli.h"
#include "cleanup.h"
#include "jw.h"
#include "middlecon.h"
#include "sbuf.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define EXEC_OUTPUT_MAX (1u << 20)
#define EXEC_TIMEOUT_MS 30000

struct msg_opts {
    const char *server;
    const char *token;
    const char *name;
    const char *tls_ca;
    const char *tls_cert;
    const char *tls_key;
    const char *reply;
    const char *reply_exec;
    uint32_t timeout_ms;
    bool json;
    bool any;
    bool session;
};

static volatile sig_atomic_t stop_requested;

static void
on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

static void
usage(FILE *out)
{
    fprintf(out,
            "usage: kumo msg [OPTIONS] VERB ARGS...\n"
            "\n"
            "verbs:\n"
            "  listen ROOM         join ROOM and print what arrives, one line per message\n"
            "  send ROOM TEXT      send TEXT to every other member of ROOM\n"
            "  direct NAME TEXT    send TEXT to the session NAME\n"
            "  request ROOM TEXT   ask every member of ROOM; print each reply and who did not\n"
            "                      answer (exit 2 when someone did not)\n"
            "  who ROOM            list the members of ROOM and their attributes\n"
            "  stats               print the broker's statistics (JSON)\n"
            "\n"
            "options:\n"
            "  --server ADDR       broker address, HOST:PORT, unix:/path or tls://HOST:PORT\n"
            "                      (default $KUMO_MIDDLECON or 127.0.0.1:4222)\n"
            "  --tls-ca FILE       tls://: CAs the broker's certificate must chain to\n"
            "                      (default: the system trust store)\n"
            "  --tls-cert FILE     tls://: client certificate, for brokers that require one\n"
            "  --tls-key FILE      tls://: the key of --tls-cert\n"
            "  --token TOKEN       authentication token (default $KUMO_MIDDLECON_TOKEN)\n"
            "  --name NAME         session name (default: assigned by the broker)\n"
            "  --reply TEXT        listen: answer requests with TEXT\n"
            "  --reply-exec CMD    listen: answer requests with the stdout of 'sh -c CMD',\n"
            "                      run with the request payload on stdin\n"
            "  --timeout MS        request: how long members have to answer (default 2000)\n"
            "  --any               request: ask one member of ROOM (round-robin)\n"
            "  --session           request: ROOM is a session name; ask that session\n"
            "  --json              machine-readable output\n");
}

/* Print data as one line of text: control bytes escaped, so a message is one line. */
static void
print_text(FILE *out, const void *data, size_t len)
{
    const unsigned char *p = data;
    /* One trailing newline is the usual end of a text payload, not part of it. */
    if (len > 0 && p[len - 1] == '\n')
        len--;
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = p[i];
        if (ch == '\n')
            fputs("\\n", out);
        else if (ch == '\\')
            fputs("\\\\", out);
        else if (ch < 0x20 || ch == 0x7f)
            fprintf(out, "\\x%02x", ch);
        else
            fputc(ch, out);
    }
}

static void
json_field(struct sbuf *b, const char *key, const void *val, size_t len, bool comma)
{
    if (comma)
        sbuf_putc(b, ',');
    jw_str(b, key, strlen(key));
    sbuf_putc(b, ':');
    jw_str(b, val, len);
}

static int
fail(struct mc_client *c, const char *what, const char *subject, int r)
{
    char detail[256] = "";
    if (c && (r == -EACCES || r == -EADDRINUSE || r == -ENOENT || r == -ENXIO || r == -EPROTO ||
              r == -ENOSPC))
        mc_last_error(c, detail, sizeof(detail));
    fprintf(stderr, "kumo msg: %s%s%s%s: %s%s%s%s\n", what, subject ? " '" : "",
            subject ? subject : "", subject ? "'" : "", strerror(-r), *detail ? " (broker: " : "",
            detail, *detail ? ")" : "");
    return CLI_EXIT_ERROR;
}

static struct mc_client *
open_client(const struct msg_opts *o, bool reconnect, int *ret_exit)
{
    struct mc_client *c = mc_client_new(o->server);
    if (!c) {
        fprintf(stderr, "kumo msg: out of memory\n");
        *ret_exit = CLI_EXIT_ERROR;
        return NULL;
    }
    char host[256] = "";
    gethostname(host, sizeof(host) - 1);
    char pid[32];
    snprintf(pid, sizeof(pid), "%d", (int)getpid());
    int r;
    if ((r = mc_set_name(c, o->name)) < 0) {
        *ret_exit = fail(NULL, "session name", o->name, r);
        return mc_client_free(c);
    }
    mc_set_token(c, o->token);
    bool tls_opts = o->tls_ca || o->tls_cert || o->tls_key;
    if (tls_opts && strncmp(o->server, "tls://", 6) != 0) {
        /* Asked for a verified broker: never fall back to plaintext (and a token in clear). */
        fprintf(stderr,
                "kumo msg: --tls-ca, --tls-cert and --tls-key need a tls:// server, not '%s'\n",
                o->server);
        *ret_exit = CLI_EXIT_ERROR;
        return mc_client_free(c);
    }
    if (tls_opts && (r = mc_set_tls(c, o->tls_ca, o->tls_cert, o->tls_key)) < 0) {
        fprintf(stderr, "kumo msg: TLS files (--tls-ca %s, --tls-cert %s, --tls-key %s): %s\n",
                o->tls_ca ? o->tls_ca : "-", o->tls_cert ? o->tls_cert : "-",
                o->tls_key ? o->tls_key : "-", strerror(-r));
        *ret_exit = CLI_EXIT_ERROR;
        return mc_client_free(c);
    }
    if (*host)
        mc_set_attr(c, "host", host);
    mc_set_attr(c, "pid", pid);
    mc_set_attr(c, "role", "kumo-msg");
    if (reconnect)
        mc_set_reconnect(c, 100, 2000);
    else
        mc_set_reconnect(c, 0, 0);
    r = mc_connect(c, 5000);
    if (r < 0) {
        char detail[256] = "";
        mc_last_error(c, detail, sizeof(detail));
        /* A TLS failure is ours to explain, not the broker's. */
        bool tls = strncmp(detail, "TLS", 3) == 0;
        fprintf(stderr, "kumo msg: connect to '%s': %s%s%s%s\n", o->server, strerror(-r),
                !*detail ? ""
                : tls    ? " ("
                         : " (broker: ",
                detail, *detail ? ")" : "");
        *ret_exit = CLI_EXIT_ERROR;
        return mc_client_free(c);
    }
    return c;
}

/*
 * Run `sh -c cmd` with payload on its stdin and collect its stdout (at most
 * EXEC_OUTPUT_MAX bytes, EXEC_TIMEOUT_MS). Returns 0 with a new buffer.
 */
static int
run_reply_exec(const char *cmd, const struct mc_event *ev, char **ret_out, size_t *ret_len)
{
    int in[2], out[2];
    if (pipe2(in, O_CLOEXEC) < 0)
        return -errno;
    if (pipe2(out, O_CLOEXEC) < 0) {
        int e = -errno;
        close(in[0]);
        close(in[1]);
        return e;
    }
    pid_t pid = fork();
    if (pid < 0) {
        int e = -errno;
        close(in[0]), close(in[1]), close(out[0]), close(out[1]);
        return e;
    }
    if (pid == 0) {
        dup2(in[0], 0);
        dup2(out[1], 1);
        setenv("KUMO_MSG_FROM", ev->from, 1);
        setenv("KUMO_MSG_ROOM", ev->room, 1);
        signal(SIGPIPE, SIG_DFL);
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    close(in[0]);
    close(out[1]);
    fcntl(in[1], F_SETFL, O_NONBLOCK);
    struct sbuf b = SBUF_INIT;
    const char *data = ev->data;
    size_t left = ev->len;
    int wfd = in[1], rfd = out[0], r = 0;
    if (left == 0)
        wfd = safe_close(wfd);
    uint64_t deadline = now_mono_usec() + EXEC_TIMEOUT_MS * 1000ull;
    while (rfd >= 0) {
        struct pollfd pf[2] = { { rfd, POLLIN, 0 }, { wfd, POLLOUT, 0 } };
        uint64_t now = now_mono_usec();
        if (now >= deadline) {
            r = -ETIMEDOUT;
            kill(pid, SIGKILL);
            break;
        }
        if (poll(pf, wfd >= 0 ? 2 : 1, (int)((deadline - now) / 1000 + 1)) < 0) {
            if (errno == EINTR)
                continue;
            r = -errno;
            break;
        }
        if (wfd >= 0 && (pf[1].revents & (POLLOUT | POLLERR | POLLHUP))) {
            ssize_t n = write(wfd, data, left);
            if (n > 0) {
                data += n;
                left -= (size_t)n;
            }
            if ((n < 0 && errno != EAGAIN) || left == 0)
                wfd = safe_close(wfd);
        }
        if (pf[0].revents & (POLLIN | POLLHUP | POLLERR)) {
            char buf[4096];
            ssize_t n = read(rfd, buf, sizeof(buf));
            if (n <= 0) {
                rfd = safe_close(rfd);
            } else if (b.len + (size_t)n > EXEC_OUTPUT_MAX) {
                r = -EMSGSIZE;
                kill(pid, SIGKILL);
                break;
            } else if (sbuf_append(&b, buf, (size_t)n) < 0) {
                r = -ENOMEM;
                break;
            }
        }
    }
    safe_close(wfd);
    safe_close(rfd);
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (r < 0) {
        sbuf_free(&b);
        return r;
    }
    *ret_len = b.len;
    *ret_out = b.data ? sbuf_take(&b) : strdup("");
    return *ret_out ? 0 : -ENOMEM;
}

static const char *
event_name(enum mc_event_type t)
{
    switch (t) {
    case MC_EVENT_MESSAGE:
        return "message";
    case MC_EVENT_DIRECT:
        return "direct";
    case MC_EVENT_REQUEST:
        return "request";
    case MC_EVENT_JOIN:
        return "join";
    case MC_EVENT_LEAVE:
        return "leave";
    case MC_EVENT_CONNECTED:
        return "connected";
    case MC_EVENT_DISCONNECTED:
        return "disconnected";
    }
    return "?";
}

static void
print_event(const struct msg_opts *o, const struct mc_event *ev)
{
    if (o->json) {
        struct sbuf b = SBUF_INIT;
        const char *t = event_name(ev->type);
        sbuf_puts(&b, "{");
        json_field(&b, "type", t, strlen(t), false);
        json_field(&b, "room", ev->room, strlen(ev->room), true);
        json_field(&b, "from", ev->from, strlen(ev->from), true);
        if (ev->data)
            json_field(&b, "data", ev->data, ev->len, true);
        sbuf_puts(&b, "}\n");
        if (b.data)
            fputs(b.data, stdout);
        sbuf_free(&b);
        return;
    }
    switch (ev->type) {
    case MC_EVENT_MESSAGE:
    case MC_EVENT_DIRECT:
    case MC_EVENT_REQUEST:
        printf("%s", ev->from);
        if (ev->type != MC_EVENT_MESSAGE)
            printf(" (%s)", event_name(ev->type));
        fputs(": ", stdout);
        print_text(stdout, ev->data, ev->len);
        fputc('\n', stdout);
        break;
    case MC_EVENT_JOIN:
    case MC_EVENT_LEAVE:
        printf("* %s %s %s\n", ev->from, ev->type == MC_EVENT_JOIN ? "joined" : "left", ev->room);
        break;
    default:
        break;
    }
}

static int
do_listen(const struct msg_opts *o, const char *room)
{
    int ex;
    struct mc_client *c = open_client(o, true, &ex);
    if (!c)
        return ex;
    int r = mc_join(c, room);
    if (r < 0) {
        ex = fail(c, "join", room, r);
        mc_client_free(c);
        return ex;
    }
    char name[256] = "";
    mc_get_name(c, name, sizeof(name));
    fprintf(stderr, "kumo msg: listening on '%s' as '%s'\n", room, name);

    struct sigaction sa = { .sa_handler = on_signal };
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    ex = CLI_EXIT_OK;
    while (!stop_requested) {
        struct mc_event *ev = NULL;
        r = mc_recv(c, 200, &ev);
        if (r == -ETIMEDOUT || r == -EINTR)
            continue;
        if (r < 0) {
            ex = fail(c, "receive on", room, r);
            break;
        }
        switch (ev->type) {
        case MC_EVENT_DISCONNECTED:
            fprintf(stderr, "kumo msg: connection to '%s' lost; reconnecting\n", o->server);
            break;
        case MC_EVENT_CONNECTED:
            fprintf(stderr, "kumo msg: reconnected to '%s' as '%s'\n", o->server, ev->from);
            break;
        default:
            print_event(o, ev);
            break;
        }
        if (ev->type == MC_EVENT_REQUEST && (o->reply || o->reply_exec)) {
            if (o->reply) {
                r = mc_reply(c, ev, o->reply, strlen(o->reply));
            } else {
                char *out = NULL;
                size_t len = 0;
                r = run_reply_exec(o->reply_exec, ev, &out, &len);
                if (r < 0)
                    fprintf(stderr, "kumo msg: --reply-exec '%s': %s\n", o->reply_exec,
                            strerror(-r));
                else
                    r = mc_reply(c, ev, out, len);
                free(out);
            }
            if (r < 0 && r != -ECONNRESET)
                fprintf(stderr, "kumo msg: reply to '%s': %s\n", ev->from, strerror(-r));
        }
        mc_event_free(ev);
        /* Nobody reads our output any more (`| head -1`): stop listening. */
        if (fflush(stdout) != 0 && errno == EPIPE)
            break;
    }
    mc_client_free(c);
    return ex;
}

static int
do_send(const struct msg_opts *o, bool direct, const char *target, const char *text)
{
    int ex;
    struct mc_client *c = open_client(o, false, &ex);
    if (!c)
        return ex;
    int r =
        direct ? mc_direct(c, target, text, strlen(text)) : mc_send(c, target, text, strlen(text));
    /* Wait until the broker has handled it: closing right away could lose it. */
    if (r >= 0)
        r = mc_flush(c, 5000);
    ex = r < 0 ? fail(c, direct ? "direct to" : "send to", target, r) : CLI_EXIT_OK;
    mc_client_free(c);
    return ex;
}

static void
print_result_json(const char *room, const struct mc_result *res)
{
    struct sbuf b = SBUF_INIT;
    sbuf_puts(&b, "{");
    json_field(&b, "room", room, strlen(room), false);
    sbuf_puts(&b, ",\"replies\":[");
    for (size_t i = 0; i < res->nreplies; i++) {
        sbuf_puts(&b, i ? ",{" : "{");
        json_field(&b, "from", res->replies[i].from, strlen(res->replies[i].from), false);
        json_field(&b, "data", res->replies[i].data, res->replies[i].len, true);
        sbuf_puts(&b, "}");
    }
    sbuf_puts(&b, "],\"missing\":[");
    for (size_t i = 0; i < res->nmissing; i++) {
        const char *why = mc_reason_name(res->missing[i].reason);
        sbuf_puts(&b, i ? ",{" : "{");
        json_field(&b, "name", res->missing[i].name, strlen(res->missing[i].name), false);
        json_field(&b, "reason", why, strlen(why), true);
        sbuf_puts(&b, "}");
    }
    sbuf_puts(&b, "]}\n");
    if (b.data)
        fputs(b.data, stdout);
    sbuf_free(&b);
}

static int
do_request(const struct msg_opts *o, const char *target, const char *text)
{
    int ex;
    struct mc_client *c = open_client(o, false, &ex);
    if (!c)
        return ex;
    struct mc_result *res = NULL;
    int r;
    if (o->session)
        r = mc_request_session(c, target, text, strlen(text), o->timeout_ms, &res);
    else if (o->any)
        r = mc_request_any(c, target, text, strlen(text), o->timeout_ms, &res);
    else
        r = mc_request(c, target, text, strlen(text), o->timeout_ms, &res);
    if (r < 0) {
        ex = fail(c, "request to", target, r);
        mc_client_free(c);
        return ex;
    }
    if (o->json) {
        print_result_json(target, res);
    } else {
        for (size_t i = 0; i < res->nreplies; i++) {
            printf("%s: ", res->replies[i].from);
            print_text(stdout, res->replies[i].data, res->replies[i].len);
            fputc('\n', stdout);
        }
        for (size_t i = 0; i < res->nmissing; i++)
            printf("%s: (no answer: %s)\n", res->missing[i].name,
                   mc_reason_name(res->missing[i].reason));
        if (res->nreplies + res->nmissing == 0)
            fprintf(stderr, "kumo msg: '%s' has no other members\n", target);
        else if (res->nmissing)
            fprintf(stderr, "kumo msg: %zu of %zu members did not answer\n", res->nmissing,
                    res->nmissing + res->nreplies);
    }
    ex = res->nmissing ? CLI_EXIT_PARTIAL : CLI_EXIT_OK;
    mc_result_free(res);
    mc_client_free(c);
    return ex;
}

static int
do_who(const struct msg_opts *o, const char *room)
{
    int ex;
    struct mc_client *c = open_client(o, false, &ex);
    if (!c)
        return ex;
    struct mc_who *w = NULL;
    int r = mc_who(c, room, &w);
    if (r < 0) {
        ex = fail(c, "who", room, r);
        mc_client_free(c);
        return ex;
    }
    struct sbuf b = SBUF_INIT;
    if (o->json) {
        sbuf_puts(&b, "{");
        json_field(&b, "room", room, strlen(room), false);
        sbuf_puts(&b, ",\"members\":[");
        for (size_t i = 0; i < w->count; i++) {
            const struct mc_member *m = &w->members[i];
            sbuf_puts(&b, i ? ",{" : "{");
            json_field(&b, "name", m->name, strlen(m->name), false);
            sbuf_puts(&b, ",\"attrs\":{");
            for (size_t k = 0; k < m->nattrs; k++)
                json_field(&b, m->attrs[k].key, m->attrs[k].value, strlen(m->attrs[k].value),
                           k > 0);
            sbuf_puts(&b, "}}");
        }
        sbuf_puts(&b, "]}\n");
    } else {
        size_t width = 4;
        for (size_t i = 0; i < w->count; i++)
            if (strlen(w->members[i].name) > width)
                width = strlen(w->members[i].name);
        sbuf_printf(&b, "%-*s  ATTRIBUTES\n", (int)width, "NAME");
        for (size_t i = 0; i < w->count; i++) {
            const struct mc_member *m = &w->members[i];
            sbuf_printf(&b, "%-*s ", (int)width, m->name);
            for (size_t k = 0; k < m->nattrs; k++)
                sbuf_printf(&b, " %s=%s", m->attrs[k].key, m->attrs[k].value);
            sbuf_putc(&b, '\n');
        }
    }
    if (b.data)
        fputs(b.data, stdout);
    sbuf_free(&b);
    mc_who_free(w);
    mc_client_free(c);
    return CLI_EXIT_OK;
}

static int
do_stats(const struct msg_opts *o)
{
    int ex;
    struct mc_client *c = open_client(o, false, &ex);
    if (!c)
        return ex;
    char *json = NULL;
    int r = mc_stats(c, &json);
    if (r < 0) {
        ex = fail(c, "stats", NULL, r);
    } else {
        fputs(json, stdout);
        if (!*json || json[strlen(json) - 1] != '\n')
            fputc('\n', stdout);
        ex = CLI_EXIT_OK;
    }
    free(json);
    mc_client_free(c);
    return ex;
}

static int
need_args(const char *verb, int have, int want, const char *what)
{
    if (have == want)
        return 0;
    fprintf(stderr, "kumo msg %s: expected %s (see 'kumo msg --help')\n", verb, what);
    return -1;
}

int
cmd_msg(int argc, char **argv)
{
    enum {
        OPT_SERVER = 256,
        OPT_TOKEN,
        OPT_NAME,
        OPT_REPLY,
        OPT_EXEC,
        OPT_TIMEOUT,
        OPT_JSON,
        OPT_ANY,
        OPT_SESSION,
        OPT_TLS_CA,
        OPT_TLS_CERT,
        OPT_TLS_KEY,
        OPT_HELP
    };
    static const struct option longopts[] = {
        { "server", required_argument, NULL, OPT_SERVER },
        { "token", required_argument, NULL, OPT_TOKEN },
        { "name", required_argument, NULL, OPT_NAME },
        { "reply", required_argument, NULL, OPT_REPLY },
        { "reply-exec", required_argument, NULL, OPT_EXEC },
        { "timeout", required_argument, NULL, OPT_TIMEOUT },
        { "json", no_argument, NULL, OPT_JSON },
        { "any", no_argument, NULL, OPT_ANY },
        { "session", no_argument, NULL, OPT_SESSION },
        { "tls-ca", required_argument, NULL, OPT_TLS_CA },
        { "tls-cert", required_argument, NULL, OPT_TLS_CERT },
        { "tls-key", required_argument, NULL, OPT_TLS_KEY },
        { "help", no_argument, NULL, OPT_HELP },
        { NULL, 0, NULL, 0 },
    };
    struct msg_opts o = { .timeout_ms = 2000 };
    o.server = getenv("KUMO_MIDDLECON");
    if (!o.server || !*o.server)
        o.server = "127.0.0.1:4222";
    o.token = getenv("KUMO_MIDDLECON_TOKEN");
    optind = 1;
    opterr = 0;
    int ch;
    while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        uint64_t v;
        switch (ch) {
        case OPT_SERVER:
            o.server = optarg;
            break;
        case OPT_TOKEN:
            o.token = optarg;
            break;
        case OPT_NAME:
            o.name = optarg;
            break;
        case OPT_REPLY:
            o.reply = optarg;
            break;
        case OPT_EXEC:
            o.reply_exec = optarg;
            break;
        case OPT_TIMEOUT:
            if (parse_uint64(optarg, 600000, &v) < 0 || v == 0) {
                fprintf(stderr, "kumo msg: --timeout '%s': expected 1..600000 ms\n", optarg);
                return CLI_EXIT_ERROR;
            }
            o.timeout_ms = (uint32_t)v;
            break;
        case OPT_JSON:
            o.json = true;
            break;
        case OPT_ANY:
            o.any = true;
            break;
        case OPT_SESSION:
            o.session = true;
            break;
        case OPT_TLS_CA:
            o.tls_ca = optarg;
            break;
        case OPT_TLS_CERT:
            o.tls_cert = optarg;
            break;
        case OPT_TLS_KEY:
            o.tls_key = optarg;
            break;
        case 'h':
        case OPT_HELP:
            usage(stdout);
            return CLI_EXIT_OK;
        default:
            fprintf(stderr, "kumo msg: unknown or incomplete option '%s' (see 'kumo msg --help')\n",
                    argv[optind - 1]);
            return CLI_EXIT_ERROR;
        }
    }
    if (o.reply && o.reply_exec) {
        fprintf(stderr, "kumo msg: --reply and --reply-exec exclude each other\n");
        return CLI_EXIT_ERROR;
    }
    int n = argc - optind;
    char **a = argv + optind;
    if (n < 1) {
        usage(stderr);
        return CLI_EXIT_ERROR;
    }
    const char *verb = a[0];
    if (strcmp(verb, "listen") == 0)
        return need_args(verb, n, 2, "ROOM") < 0 ? CLI_EXIT_ERROR : do_listen(&o, a[1]);
    if (strcmp(verb, "send") == 0)
        return need_args(verb, n, 3, "ROOM TEXT") < 0 ? CLI_EXIT_ERROR
                                                      : do_send(&o, false, a[1], a[2]);
    if (strcmp(verb, "direct") == 0)
        return need_args(verb, n, 3, "NAME TEXT") < 0 ? CLI_EXIT_ERROR
                                                      : do_send(&o, true, a[1], a[2]);
    if (strcmp(verb, "request") == 0)
        return need_args(verb, n, 3, "ROOM TEXT") < 0 ? CLI_EXIT_ERROR : do_request(&o, a[1], a[2]);
    if (strcmp(verb, "who") == 0)
        return need_args(verb, n, 2, "ROOM") < 0 ? CLI_EXIT_ERROR : do_who(&o, a[1]);
    if (strcmp(verb, "stats") == 0)
        return need_args(verb, n, 1, "no arguments") < 0 ? CLI_EXIT_ERROR : do_stats(&o);
    fprintf(stderr, "kumo msg: unknown verb '%s' (see 'kumo msg --help')\n", verb);
    return CLI_EXIT_ERROR;
}
