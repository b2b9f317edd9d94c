/* SPDX-License-Identifier: Apache-2.0 */
/*
 * middlecon: the bus daemon. Parses arguments and the optional config file,
 * starts the broker library (broker.c) and, with --http, a libmicrohttpd
 * responder for GET /stats and GET /metrics; then waits for SIGTERM/SIGINT
 * on the main thread and shuts down cleanly (exit 0).
 */
#include "broker.h"
#include "cleanup.h"
#include "kerr.h"
#include "kumo-config.h"
#include "log.h"
#include "sbuf.h"
#include "util.h"

#include <errno.h>
#include <getopt.h>
#include <microhttpd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

static void
usage(FILE *f)
{
    fprintf(f, "Usage: middlecon [OPTIONS]\n"
               "The kumo message bus broker (docs/middlecon.md).\n\n"
               "  --listen ADDR       listen on ADDR (host:port or unix:/path; tls://host:port\n"
               "                      for TLS sessions), repeatable; default 127.0.0.1:4222\n"
               "  --peer ADDR         a cluster peer broker (tls://host:port: over TLS),\n"
               "                      repeatable\n"
               "  --tls-cert FILE     certificate chain (PEM) of tls:// listeners, also shown\n"
               "                      to TLS peers that ask for one\n"
               "  --tls-key FILE      private key (PEM) of --tls-cert\n"
               "  --tls-client-ca FILE  tls:// listeners require a client certificate issued\n"
               "                      by a CA in FILE\n"
               "  --tls-ca FILE       CAs that tls:// peers' certificates must chain to\n"
               "                      (default: the system trust store)\n"
               "  --token TOKEN       accept sessions presenting TOKEN, repeatable\n"
               "                      (none: no authentication)\n"
               "  --peer-token TOKEN  peer brokers must present TOKEN (and client tokens\n"
               "                      no longer make a peer), repeatable; the first is\n"
               "                      the one this broker presents to its --peer list\n"
               "  --http ADDR         serve GET /stats (JSON) and GET /metrics (Prometheus)\n"
               "  --threads N         worker threads (default: number of CPUs)\n"
               "  --name ID           broker id (default: host/first-listen-address)\n"
               "  --max-frame SIZE    maximum frame size (default 1M, at most 16M)\n"
               "  --max-outbuf SIZE   output buffer bound per session (default 4M)\n"
               "  --keepalive DUR     idle time before a PING (default 30s; 0 = off)\n"
               "  --max-sessions N    session limit (default 100000)\n"
               "  --presence-limit N  rooms with more members send no join/leave events\n"
               "                      (default 1000; 0 = no limit)\n"
               "  --config FILE       read options from FILE ('key value' lines, keys as\n"
               "                      the long options without dashes, '#' comments)\n"
               "  --log-level LEVEL   error, warn, info (default) or debug\n"
               "  --help, --version\n");
}

enum {
    OPT_LISTEN = 256,
    OPT_PEER,
    OPT_TLS_CERT,
    OPT_TLS_KEY,
    OPT_TLS_CLIENT_CA,
    OPT_TLS_CA,
    OPT_TOKEN,
    OPT_PEER_TOKEN,
    OPT_HTTP,
    OPT_THREADS,
    OPT_NAME,
    OPT_MAX_FRAME,
    OPT_MAX_OUTBUF,
    OPT_KEEPALIVE,
    OPT_MAX_SESSIONS,
    OPT_PRESENCE_LIMIT,
    OPT_CONFIG,
    OPT_LOG_LEVEL,
    OPT_HELP,
    OPT_VERSION,
};

static const struct option longopts[] = {
    { "listen", required_argument, NULL, OPT_LISTEN },
    { "peer", required_argument, NULL, OPT_PEER },
    { "tls-cert", required_argument, NULL, OPT_TLS_CERT },
    { "tls-key", required_argument, NULL, OPT_TLS_KEY },
    { "tls-client-ca", required_argument, NULL, OPT_TLS_CLIENT_CA },
    { "tls-ca", required_argument, NULL, OPT_TLS_CA },
    { "token", required_argument, NULL, OPT_TOKEN },
    { "peer-token", required_argument, NULL, OPT_PEER_TOKEN },
    { "http", required_argument, NULL, OPT_HTTP },
    { "threads", required_argument, NULL, OPT_THREADS },
    { "name", required_argument, NULL, OPT_NAME },
    { "max-frame", required_argument, NULL, OPT_MAX_FRAME },
    { "max-outbuf", required_argument, NULL, OPT_MAX_OUTBUF },
    { "keepalive", required_argument, NULL, OPT_KEEPALIVE },
    { "max-sessions", required_argument, NULL, OPT_MAX_SESSIONS },
    { "presence-limit", required_argument, NULL, OPT_PRESENCE_LIMIT },
    { "config", required_argument, NULL, OPT_CONFIG },
    { "log-level", required_argument, NULL, OPT_LOG_LEVEL },
    { "help", no_argument, NULL, OPT_HELP },
    { "version", no_argument, NULL, OPT_VERSION },
    { NULL, 0, NULL, 0 },
};

struct opts {
    struct broker_config cfg;
    char *http;
};

/* Replace a file-name setting (the last one given wins). */
static int
set_path(char **field, const char *val, struct kerr *err)
{
    char *v = strdup(val);
    if (!v)
        return kerr_set(err, ENOMEM, "copy '%s'", val);
    free(*field);
    *field = v;
    return 0;
}

static int
apply(struct opts *o, int opt, const char *val, struct kerr *err)
{
    struct broker_config *c = &o->cfg;
    uint64_t u;
    switch (opt) {
    case OPT_LISTEN:
        if (c->nlisten >= BROKER_MAX_LISTEN)
            return kerr_setf(err, EINVAL, "more than %d --listen addresses", BROKER_MAX_LISTEN);
        if (broker_addr_parse(val, 4222, &c->listen[c->nlisten], &c->listen_tls[c->nlisten], err) <
            0)
            return kerr_prefix(err, "--listen");
        c->nlisten++;
        return 0;
    case OPT_PEER: {
        struct addr a;
        bool tls;
        if (c->npeers >= BROKER_MAX_PEERS)
            return kerr_setf(err, EINVAL, "more than %d --peer addresses", BROKER_MAX_PEERS);
        if (broker_addr_parse(val, 4222, &a, &tls, err) < 0)
            return kerr_prefix(err, "--peer");
        if (!(c->peers[c->npeers] = strdup(val)))
            return kerr_set(err, ENOMEM, "--peer");
        c->npeers++;
        return 0;
    }
    case OPT_TLS_CERT:
        return set_path(&c->tls_cert, val, err);
    case OPT_TLS_KEY:
        return set_path(&c->tls_key, val, err);
    case OPT_TLS_CLIENT_CA:
        return set_path(&c->tls_client_ca, val, err);
    case OPT_TLS_CA:
        return set_path(&c->tls_ca, val, err);
    case OPT_TOKEN:
        if (c->ntokens >= BROKER_MAX_TOKENS)
            return kerr_setf(err, EINVAL, "more than %d tokens", BROKER_MAX_TOKENS);
        if (strlen(val) > 1024)
            return kerr_setf(err, EINVAL, "token longer than 1024 bytes");
        if (!(c->tokens[c->ntokens] = strdup(val)))
            return kerr_set(err, ENOMEM, "--token");
        c->ntokens++;
        return 0;
    case OPT_PEER_TOKEN:
        if (c->npeer_tokens >= BROKER_MAX_TOKENS)
            return kerr_setf(err, EINVAL, "more than %d peer tokens", BROKER_MAX_TOKENS);
        if (!*val || strlen(val) > 1024)
            return kerr_setf(err, EINVAL, "peer token: expected 1..1024 bytes");
        if (!(c->peer_tokens[c->npeer_tokens] = strdup(val)))
            return kerr_set(err, ENOMEM, "--peer-token");
        c->npeer_tokens++;
        return 0;
    case OPT_HTTP:
        return set_path(&o->http, val, err);
    case OPT_THREADS:
        if (parse_uint64(val, 256, &u) < 0 || u == 0)
            return kerr_setf(err, EINVAL, "--threads '%s': expected 1..256", val);
        c->threads = (unsigned)u;
        return 0;
    case OPT_NAME:
        if (!*val || strlen(val) > 255)
            return kerr_setf(err, EINVAL, "--name '%s': expected 1..255 characters", val);
        return set_path(&c->name, val, err);
    case OPT_MAX_FRAME:
        if (parse_size(val, &u) < 0 || u < 4096 || u > (16u << 20))
            return kerr_setf(err, EINVAL, "--max-frame '%s': expected 4k..16M", val);
        c->max_frame = (uint32_t)u;
        return 0;
    case OPT_MAX_OUTBUF:
        if (parse_size(val, &u) < 0 || u < 4096 || u > (1ull << 32))
            return kerr_setf(err, EINVAL, "--max-outbuf '%s': expected 4k..4G", val);
        c->max_outbuf = (size_t)u;
        return 0;
    case OPT_KEEPALIVE:
        if (parse_duration_usec(val, &u) < 0 || u / 1000 > 86400000)
            return kerr_setf(err, EINVAL, "--keepalive '%s': not a duration", val);
        c->keepalive_ms = (uint32_t)(u / 1000);
        return 0;
    case OPT_MAX_SESSIONS:
        if (parse_uint64(val, 10000000, &u) < 0 || u == 0)
            return kerr_setf(err, EINVAL, "--max-sessions '%s': expected 1..10000000", val);
        c->max_sessions = (uint32_t)u;
        return 0;
    case OPT_PRESENCE_LIMIT:
        if (parse_uint64(val, 10000000, &u) < 0)
            return kerr_setf(err, EINVAL, "--presence-limit '%s': expected 0..10000000", val);
        c->presence_limit = (uint32_t)u;
        return 0;
    case OPT_LOG_LEVEL: {
        enum log_level l;
        if (log_parse_level(val, &l) < 0)
            return kerr_setf(err, EINVAL, "--log-level '%s': expected error, warn, info, debug",
                             val);
        log_set_level(l);
        return 0;
    }
    }
    return kerr_setf(err, EINVAL, "unknown option");
}

static int
load_config(struct opts *o, const char *path, struct kerr *err)
{
    cleanup_free char *text = NULL;
    int r = read_file_alloc(path, 1 << 20, &text, NULL);
    if (r < 0)
        return kerr_set(err, -r, "read config '%s'", path);
    int lineno = 0;
    char *save = NULL;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        lineno++;
        char *p = line + strspn(line, " \t");
        char *hash = strchr(p, '#');
        if (hash)
            *hash = '\0';
        size_t len = strlen(p);
        while (len && (p[len - 1] == ' ' || p[len - 1] == '\t' || p[len - 1] == '\r'))
            p[--len] = '\0';
        if (!*p)
            continue;
        char *key = p;
        char *val = p + strcspn(p, " \t=");
        if (*val) {
            *val++ = '\0';
            val += strspn(val, " \t=");
        }
        int opt = 0;
        for (const struct option *lo = longopts; lo->name; lo++)
            if (strcmp(lo->name, key) == 0 && lo->has_arg == required_argument &&
                lo->val != OPT_CONFIG)
                opt = lo->val;
        if (!opt)
            return kerr_setf(err, EINVAL, "config '%s' line %d: unknown key '%s'", path, lineno,
                             key);
        if (apply(o, opt, val, err) < 0)
            return kerr_prefix(err, "config '%s' line %d", path, lineno);
    }
    return 0;
}

static enum MHD_Result
http_handler(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
             const char *version, const char *upload_data, size_t *upload_data_size, void **req_cls)
{
    struct broker *b = cls;
    struct sbuf body = SBUF_INIT;
    unsigned status = MHD_HTTP_OK;
    const char *ctype = "application/json";
    int r = 0;
    if (strcmp(method, "GET") != 0) {
        status = MHD_HTTP_METHOD_NOT_ALLOWED;
        r = sbuf_puts(&body, "{\"error\":\"only GET is supported\"}\n");
    } else if (strcmp(url, "/stats") == 0) {
        r = broker_stats_json(b, &body);
    } else if (strcmp(url, "/metrics") == 0) {
        ctype = "text/plain; version=0.0.4";
        r = broker_stats_prometheus(b, &body);
    } else {
        status = MHD_HTTP_NOT_FOUND;
        r = sbuf_puts(&body, "{\"error\":\"not found; try /stats or /metrics\"}\n");
    }
    if (r < 0) {
        sbuf_free(&body);
        return MHD_NO;
    }
    size_t len = body.len;
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(len, sbuf_take(&body), MHD_RESPMEM_MUST_FREE);
    if (!resp)
        return MHD_NO;
    MHD_add_response_header(resp, "Content-Type", ctype);
    enum MHD_Result ret = MHD_queue_response(conn, status, resp);
    MHD_destroy_response(resp);
    return ret;
}

int
main(int argc, char **argv)
{
    log_init("middlecon");
    struct kerr err = KERR_INIT;
    struct opts o = { 0 };
    broker_config_init(&o.cfg);

    int c;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (c) {
        case OPT_HELP:
            usage(stdout);
            return 0;
        case OPT_VERSION:
            printf("middlecon %s\n", KUMO_VERSION);
            return 0;
        case OPT_CONFIG:
            if (load_config(&o, optarg, &err) < 0)
                goto fail;
            break;
        case '?':
            usage(stderr);
            return 1;
        default:
            if (apply(&o, c, optarg, &err) < 0)
                goto fail;
        }
    }
    if (optind < argc) {
        kerr_setf(&err, EINVAL, "unexpected argument '%s'", argv[optind]);
        goto fail;
    }
    if (o.cfg.nlisten == 0 && apply(&o, OPT_LISTEN, "127.0.0.1:4222", &err) < 0)
        goto fail;

    /* Signals are taken synchronously by the main thread; the workers
     * inherit the mask. Writes to dead sockets report EPIPE instead. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    /* Every session is an fd: take the hard limit rather than the usual
     * soft 1024, up to what --max-sessions can use. */
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rlim_t want = (rlim_t)o.cfg.max_sessions + 1024;
        rl.rlim_cur = want < rl.rlim_max ? want : rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
            log_warn("raise RLIMIT_NOFILE to %llu: %m", (unsigned long long)rl.rlim_cur);
    }

    struct broker *b = NULL;
    if (broker_new(&o.cfg, &b, &err) < 0) {
        broker_free(b);
        goto fail;
    }

    struct MHD_Daemon *mhd = NULL;
    struct addr http_addr;
    if (o.http) {
        int hfd = -1;
        if (addr_parse(o.http, 0, &http_addr, &err) < 0 ||
            addr_listen(&http_addr, 64, &hfd, &err) < 0) {
            kerr_prefix(&err, "--http");
            broker_free(b);
            goto fail;
        }
        mhd = MHD_start_daemon(MHD_USE_EPOLL_INTERNAL_THREAD | MHD_USE_ERROR_LOG, 0, NULL, NULL,
                               http_handler, b, MHD_OPTION_LISTEN_SOCKET, hfd,
                               MHD_OPTION_CONNECTION_LIMIT, 64u, MHD_OPTION_CONNECTION_TIMEOUT, 10u,
                               MHD_OPTION_END);
        if (!mhd) {
            close(hfd);
            kerr_setf(&err, EIO, "--http '%s': cannot start the HTTP server", o.http);
            broker_free(b);
            goto fail;
        }
    }

    if (broker_start(b, &err) < 0) {
        broker_stop(b);
        if (mhd)
            MHD_stop_daemon(mhd);
        broker_free(b);
        goto fail;
    }
    log_info("broker '%s' up with %u threads, %zu peers", broker_id(b), o.cfg.threads,
             o.cfg.npeers);
    for (size_t i = 0; i < o.cfg.nlisten; i++) {
        char name[160];
        addr_format(&o.cfg.listen[i], name, sizeof(name));
        printf("middlecon: listening on %s%s\n", o.cfg.listen_tls[i] ? "tls://" : "", name);
    }
    if (mhd) {
        char name[160];
        addr_format(&http_addr, name, sizeof(name));
        printf("middlecon: stats on http://%s/stats\n", name);
    }
    fflush(stdout);

    int sig = 0;
    while (sigwait(&set, &sig) != 0)
        ;
    log_info("signal %d: shutting down", sig);
    if (mhd)
        MHD_stop_daemon(mhd);
    broker_stop(b);
    broker_free(b);
    broker_config_free(&o.cfg);
    free(o.http);
    return 0;

fail:
    fprintf(stderr, "middlecon: %s\n", err.msg);
    broker_config_free(&o.cfg);
    free(o.http);
    return 1;
}
