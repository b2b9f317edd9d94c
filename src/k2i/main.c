/* SPDX-License-Identifier: Apache-2.0 */
/*
 * k2i: per-host process-information agent. Parses flags, loads the config,
 * calls k2i_run(), turns an error into one line and an exit code.
 */
#include "k2i.h"
#include "kerr.h"
#include "log.h"
#include "util.h"

#include <getopt.h>
#include <kumo-config.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void
usage(FILE *out)
{
    fprintf(out,
            "usage: k2i [OPTIONS]\n"
            "Serve this host's processes and threads over HTTP/JSON (see docs/k2i.md).\n"
            "\n"
            "  --listen ADDR:PORT      listen here (repeatable; unix:/path for a Unix socket;\n"
            "                          default 127.0.0.1:8000; port 0 picks a free port)\n"
            "  --config FILE           JSON config: tokens, scopes, TLS, limits\n"
            "  --log-level LEVEL       error, warn, info (default) or debug\n"
            "  --user NAME             unprivileged user of the HTTP process (default nobody)\n"
            "  --no-privsep            one process, no privilege separation (debugging)\n"
            "  --no-seccomp            no syscall filter on the HTTP process (debugging)\n"
            "  --sample-interval DUR   CPU sampling interval, e.g. 1s, 500ms (default 1s)\n"
            "  --threads N             HTTP worker threads per listener (default 2)\n"
            "  --fd-cache N            keep /proc fds open for up to N processes (default\n"
            "                          8192; 0 = off; ~8 KiB kernel memory each)\n"
            "  --tls-cert FILE         serve HTTPS with this certificate (PEM) ...\n"
            "  --tls-key FILE          ... and this key (PEM)\n"
            "  --read-requires-token   reads need a bearer token too\n"
            "  --help                  show this help\n"
            "  --version               show the version\n");
}

enum {
    OPT_LISTEN = 256,
    OPT_CONFIG,
    OPT_LOG_LEVEL,
    OPT_USER,
    OPT_NO_PRIVSEP,
    OPT_NO_SECCOMP,
    OPT_SAMPLE,
    OPT_THREADS,
    OPT_FD_CACHE,
    OPT_TLS_CERT,
    OPT_TLS_KEY,
    OPT_READ_TOKEN,
    OPT_HELP,
    OPT_VERSION,
};

static int
set_path(char **dst, const char *v)
{
    char *s = strdup(v);
    if (!s)
        return -1;
    free(*dst);
    *dst = s;
    return 0;
}

int
main(int argc, char **argv)
{
    static const struct option opts[] = {
        { "listen", required_argument, NULL, OPT_LISTEN },
        { "config", required_argument, NULL, OPT_CONFIG },
        { "log-level", required_argument, NULL, OPT_LOG_LEVEL },
        { "user", required_argument, NULL, OPT_USER },
        { "no-privsep", no_argument, NULL, OPT_NO_PRIVSEP },
        { "no-seccomp", no_argument, NULL, OPT_NO_SECCOMP },
        { "sample-interval", required_argument, NULL, OPT_SAMPLE },
        { "threads", required_argument, NULL, OPT_THREADS },
        { "fd-cache", required_argument, NULL, OPT_FD_CACHE },
        { "tls-cert", required_argument, NULL, OPT_TLS_CERT },
        { "tls-key", required_argument, NULL, OPT_TLS_KEY },
        { "read-requires-token", no_argument, NULL, OPT_READ_TOKEN },
        { "help", no_argument, NULL, OPT_HELP },
        { "version", no_argument, NULL, OPT_VERSION },
        { NULL, 0, NULL, 0 },
    };
    log_init("k2i");
    struct kerr err = KERR_INIT;
    struct k2i_config cfg;
    if (k2i_config_init(&cfg) < 0) {
        fprintf(stderr, "k2i: out of memory\n");
        return 1;
    }

    /* Two passes: the config file first, so flags override it. */
    const char *config = NULL;
    int c;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (c == OPT_CONFIG)
            config = optarg;
        else if (c == OPT_HELP) {
            usage(stdout);
            k2i_config_free(&cfg);
            return 0;
        } else if (c == OPT_VERSION) {
            printf("k2i %s\n", KUMO_VERSION);
            k2i_config_free(&cfg);
            return 0;
        }
    }
    if (config && k2i_config_load(&cfg, config, &err) < 0) {
        fprintf(stderr, "k2i: %s\n", err.msg);
        k2i_config_free(&cfg);
        return 1;
    }

    bool listen_given = false;
    int rc = 0;
    optind = 0;
    opterr = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        uint64_t v;
        enum log_level lvl;
        switch (c) {
        case OPT_LISTEN:
            if (!listen_given) {
                for (size_t i = 0; i < cfg.nlisten; i++)
                    free(cfg.listen[i]);
                cfg.nlisten = 0;
                listen_given = true;
            }
            if (k2i_config_add_listen(&cfg, optarg, &err) < 0) {
                fprintf(stderr, "k2i: --listen: %s\n", err.msg);
                rc = 1;
            }
            break;
        case OPT_CONFIG:
        case OPT_HELP:
        case OPT_VERSION:
            break;
        case OPT_LOG_LEVEL:
            if (log_parse_level(optarg, &lvl) < 0) {
                fprintf(stderr, "k2i: --log-level: unknown level '%s'\n", optarg);
                rc = 1;
            } else {
                log_set_level(lvl);
            }
            break;
        case OPT_USER:
            if (set_path(&cfg.user, optarg) < 0)
                rc = 1;
            break;
        case OPT_NO_PRIVSEP:
            cfg.privsep = false;
            break;
        case OPT_NO_SECCOMP:
            cfg.seccomp = false;
            break;
        case OPT_SAMPLE:
            if (parse_duration_usec(optarg, &v) < 0 || v < 10000 || v > 3600000000ULL) {
                fprintf(stderr, "k2i: --sample-interval: want a duration 10ms..1h, got '%s'\n",
                        optarg);
                rc = 1;
            } else {
                cfg.sample_interval_usec = v;
            }
            break;
        case OPT_THREADS:
            if (parse_uint64(optarg, 64, &v) < 0 || v == 0) {
                fprintf(stderr, "k2i: --threads: want 1..64, got '%s'\n", optarg);
                rc = 1;
            } else {
                cfg.threads = (unsigned)v;
            }
            break;
        case OPT_FD_CACHE:
            if (parse_uint64(optarg, 1000000, &v) < 0) {
                fprintf(stderr, "k2i: --fd-cache: want 0..1000000, got '%s'\n", optarg);
                rc = 1;
            } else {
                cfg.fd_cache = (unsigned)v;
            }
            break;
        case OPT_TLS_CERT:
            if (set_path(&cfg.tls_cert, optarg) < 0)
                rc = 1;
            break;
        case OPT_TLS_KEY:
            if (set_path(&cfg.tls_key, optarg) < 0)
                rc = 1;
            break;
        case OPT_READ_TOKEN:
            cfg.read_requires_token = true;
            break;
        default:
            usage(stderr);
            rc = 1;
            break;
        }
    }
    if (rc == 0 && optind < argc) {
        fprintf(stderr, "k2i: unexpected argument '%s'\n", argv[optind]);
        rc = 1;
    }
    if (rc == 0 && !cfg.tls_cert != !cfg.tls_key) {
        fprintf(stderr, "k2i: give both --tls-cert and --tls-key\n");
        rc = 1;
    }
    if (rc == 0 && k2i_run(&cfg, &err) < 0) {
        fprintf(stderr, "k2i: %s\n", err.msg);
        rc = 1;
    }
    k2i_config_free(&cfg);
    return rc;
}
