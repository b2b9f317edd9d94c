/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The list of k2i agents a CLI verb talks to. Hosts are written as
 * "host", "host:port", "[v6]:port", optionally with "http://" or "https://"
 * in front; the port defaults to 8000. They come from -H a,b,c, a hosts file
 * (one or more per line, '#' starts a comment), $KUMO_HOSTS, or default to
 * localhost:8000.
 */
#ifndef KUMO_CLI_HOSTS_H
#define KUMO_CLI_HOSTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct kerr;

#define HOSTS_DEFAULT_PORT 8000
/* More agents than this in one command is a typo or a runaway file. */
#define HOSTS_MAX 4096
/* A hosts file larger than this is refused. */
#define HOSTS_FILE_MAX (1024 * 1024)

struct host {
    char *name; /* "10.0.0.3:8000", "[::1]:8000", "https://h:8443": HOST column, errors */
    char *base; /* "http://10.0.0.3:8000": URL prefix for requests */
};

struct hostlist {
    struct host *v;
    size_t n;
};

/*
 * Parse one host spec into a new struct host (strings freed by hosts_free()).
 * Returns 0 or -EINVAL with err naming the bad spec.
 */
int hosts_parse(const char *spec, struct host *ret, struct kerr *err);

/* Append one host spec; a host already in the list is skipped. 0 or -errno. */
int hosts_add(struct hostlist *l, const char *spec, struct kerr *err);

/*
 * Append every host in text: specs separated by commas, blanks or newlines;
 * '#' comments out the rest of a line. origin names the source in errors
 * ("-H", "hosts file 'x'"). 0 or -errno.
 */
int hosts_add_text(struct hostlist *l, const char *text, const char *origin, struct kerr *err);

/* hosts_add_text() on a whole file (at most HOSTS_FILE_MAX bytes). */
int hosts_add_file(struct hostlist *l, const char *path, struct kerr *err);

/* Find a host by its name; NULL if absent. */
const struct host *hosts_find(const struct hostlist *l, const char *name);

/*
 * Split a kill target "HOST:PID" (HOST as in hosts_parse, so "h:8000:123",
 * "[::1]:42", "https://h:8443:7" all work) into a host and a pid > 0.
 * ret_host is filled as by hosts_parse(). 0 or -EINVAL.
 */
int hosts_parse_target(const char *text, struct host *ret_host, int64_t *ret_pid, struct kerr *err);

void host_clear(struct host *h);
void hosts_free(struct hostlist *l);

#endif
