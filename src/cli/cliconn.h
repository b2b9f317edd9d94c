/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Options every fan-out verb (ps, top, kill) shares: which agents to ask
 * and how to reach them. -H/--hosts, --hosts-file, --timeout, --token,
 * --token-file, --insecure, --cacert, plus $KUMO_HOSTS, $KUMO_TOKEN and
 * $KUMO_TIMEOUT.
 */
#ifndef KUMO_CLI_CLICONN_H
#define KUMO_CLI_CLICONN_H

#include "fanout.h"
#include "hosts.h"

#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>

struct kerr;

enum {
    CLICONN_OPT_HOSTS_FILE = 0x1000,
    CLICONN_OPT_TIMEOUT,
    CLICONN_OPT_TOKEN,
    CLICONN_OPT_TOKEN_FILE,
    CLICONN_OPT_INSECURE,
    CLICONN_OPT_CACERT,
};

/* Entries for a getopt_long table; -H is the short form of --hosts. */
#define CLICONN_LONGOPTS                                                   \
    { "hosts", required_argument, NULL, 'H' },                             \
        { "hosts-file", required_argument, NULL, CLICONN_OPT_HOSTS_FILE }, \
        { "timeout", required_argument, NULL, CLICONN_OPT_TIMEOUT },       \
        { "token", required_argument, NULL, CLICONN_OPT_TOKEN },           \
        { "token-file", required_argument, NULL, CLICONN_OPT_TOKEN_FILE }, \
        { "insecure", no_argument, NULL, CLICONN_OPT_INSECURE },           \
    {                                                                      \
        "cacert", required_argument, NULL, CLICONN_OPT_CACERT              \
    }

#define CLICONN_HELP                                                                     \
    "  -H, --hosts H1,H2,...  agents as host[:port] (port 8000), https://host for TLS\n" \
    "      --hosts-file FILE  one or more hosts per line, '#' comments\n"                \
    "                         (default: $KUMO_HOSTS, else localhost:8000)\n"             \
    "      --timeout T        per-host connect+answer timeout: 2, 0.5, 300ms\n"          \
    "                         (default: $KUMO_TIMEOUT, else 2 s)\n"                      \
    "      --token TOKEN      bearer token (prefer $KUMO_TOKEN or --token-file:\n"       \
    "                         command lines are visible to ps)\n"                        \
    "      --token-file FILE  read the bearer token from FILE\n"                         \
    "      --cacert FILE      CA bundle for https:// agents\n"                           \
    "      --insecure         do not verify agents' TLS certificates\n"

struct cliconn {
    struct hostlist hosts;
    struct fanout_opts fo;
    char *token; /* owned copy, wiped on free */
};

/*
 * Handle one getopt result. Returns 1 if opt was one of ours (handled), 0 if
 * not, or -errno with err set for a bad value.
 */
int cliconn_option(struct cliconn *c, int opt, const char *arg, struct kerr *err);

/* Apply environment defaults after parsing. 0 or -errno. */
int cliconn_finish(struct cliconn *c, struct kerr *err);

/* Parse a timeout: bare number = seconds ("2", "0.5"), else "300ms", "2s". */
int cliconn_parse_timeout(const char *s, uint64_t *ret_usec);

void cliconn_free(struct cliconn *c);

#endif
