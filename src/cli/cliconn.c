/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Shared connection options of kumo ps/top/kill. The token is copied and
 * wiped when freed; it is never printed. Main thread, argument parsing.
 */
#include "cliconn.h"
#include "cleanup.h"
#include "kerr.h"
#include "util.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define TOKEN_MAX 4096

int
cliconn_parse_timeout(const char *s, uint64_t *ret_usec)
{
    char *end = NULL;
    if (!s || !*s)
        return -EINVAL;
    if (strspn(s, "0123456789.") == strlen(s)) {
        errno = 0;
        double d = strtod(s, &end);
        if (errno || *end || !isfinite(d) || d <= 0 || d > 3600)
            return -EINVAL;
        *ret_usec = (uint64_t)(d * 1e6);
        return 0;
    }
    uint64_t u;
    int r = parse_duration_usec(s, &u);
    if (r < 0)
        return r;
    if (u == 0 || u > 3600ULL * 1000000)
        return -ERANGE;
    *ret_usec = u;
    return 0;
}

static int
set_token(struct cliconn *c, const char *tok, const char *origin, struct kerr *err)
{
    size_t len = strlen(tok);
    while (len && (tok[len - 1] == '\n' || tok[len - 1] == '\r' || tok[len - 1] == ' '))
        len--;
    if (len == 0)
        return kerr_setf(err, EINVAL, "%s: empty token", origin);
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)tok[i] <= ' ' || (unsigned char)tok[i] == 0x7f)
            return kerr_setf(err, EINVAL, "%s: token contains blanks or control characters",
                             origin);
    char *t = strndup(tok, len);
    if (!t)
        return kerr_set(err, ENOMEM, "token");
    if (c->token) {
        explicit_bzero(c->token, strlen(c->token));
        free(c->token);
    }
    c->token = t;
    c->fo.token = t;
    return 0;
}

int
cliconn_option(struct cliconn *c, int opt, const char *arg, struct kerr *err)
{
    int r;
    switch (opt) {
    case 'H':
        r = hosts_add_text(&c->hosts, arg, "-H", err);
        return r < 0 ? r : 1;
    case CLICONN_OPT_HOSTS_FILE:
        r = hosts_add_file(&c->hosts, arg, err);
        return r < 0 ? r : 1;
    case CLICONN_OPT_TIMEOUT:
        if (cliconn_parse_timeout(arg, &c->fo.timeout_usec) < 0)
            return kerr_setf(err, EINVAL, "bad --timeout '%s' (e.g. 2, 0.5, 300ms)", arg);
        return 1;
    case CLICONN_OPT_TOKEN:
        r = set_token(c, arg, "--token", err);
        return r < 0 ? r : 1;
    case CLICONN_OPT_TOKEN_FILE: {
        cleanup_free char *buf = NULL;
        r = read_file_alloc(arg, TOKEN_MAX, &buf, NULL);
        if (r < 0)
            return kerr_set(err, -r, "token file '%s'", arg);
        r = set_token(c, buf, "token file", err);
        explicit_bzero(buf, strlen(buf));
        return r < 0 ? r : 1;
    }
    case CLICONN_OPT_INSECURE:
        c->fo.insecure = true;
        return 1;
    case CLICONN_OPT_CACERT:
        c->fo.cacert = arg;
        return 1;
    default:
        return 0;
    }
}

int
cliconn_finish(struct cliconn *c, struct kerr *err)
{
    int r;
    if (!c->token) {
        const char *t = getenv("KUMO_TOKEN");
        if (t && *t && (r = set_token(c, t, "$KUMO_TOKEN", err)) < 0)
            return r;
    }
    if (c->hosts.n == 0) {
        const char *env = getenv("KUMO_HOSTS");
        if (env && *env && (r = hosts_add_text(&c->hosts, env, "$KUMO_HOSTS", err)) < 0)
            return r;
    }
    if (c->hosts.n == 0 && (r = hosts_add(&c->hosts, "localhost", err)) < 0)
        return r;
    if (c->fo.timeout_usec == 0) {
        const char *t = getenv("KUMO_TIMEOUT");
        if (t && *t && cliconn_parse_timeout(t, &c->fo.timeout_usec) < 0)
            return kerr_setf(err, EINVAL, "bad $KUMO_TIMEOUT '%.40s' (e.g. 2, 0.5, 300ms)", t);
    }
    if (c->fo.timeout_usec == 0)
        c->fo.timeout_usec = 2000000;
    return 0;
}

void
cliconn_free(struct cliconn *c)
{
    hosts_free(&c->hosts);
    if (c->token) {
        explicit_bzero(c->token, strlen(c->token));
        free(c->token);
    }
    c->token = NULL;
    c->fo.token = NULL;
}
