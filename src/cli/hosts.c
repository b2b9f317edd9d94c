/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Host list parsing for kumo ps/top/kill. Pure string work, no network and
 * no name resolution: curl resolves names when the requests go out, so a
 * host that does not resolve is reported like any other unreachable host.
 * Single-threaded, called while the CLI parses its arguments.
 */
#include "hosts.h"
#include "cleanup.h"
#include "kerr.h"
#include "util.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HOST_SPEC_MAX 512

static bool
host_char_ok(char c)
{
    return isalnum((unsigned char)c) || c == '.' || c == '-' || c == '_';
}

void
host_clear(struct host *h)
{
    if (!h)
        return;
    free(h->name);
    free(h->base);
    h->name = h->base = NULL;
}

int
hosts_parse(const char *spec, struct host *ret, struct kerr *err)
{
    const char *s = spec;
    bool tls = false;

    if (!s || !*s)
        return kerr_setf(err, EINVAL, "empty host");
    if (strlen(s) > HOST_SPEC_MAX)
        return kerr_setf(err, EINVAL, "host '%.40s...' is too long", s);
    if (strncmp(s, "http://", 7) == 0) {
        s += 7;
    } else if (strncmp(s, "https://", 8) == 0) {
        s += 8;
        tls = true;
    } else if (strstr(s, "://")) {
        return kerr_setf(err, EINVAL, "host '%s': only http:// and https:// are supported", spec);
    }

    char hostpart[HOST_SPEC_MAX + 1];
    const char *port_text = NULL;
    bool v6 = false;
    size_t hlen;

    if (*s == '[') {
        const char *close = strchr(s, ']');
        if (!close || close == s + 1)
            return kerr_setf(err, EINVAL, "host '%s': unterminated '['", spec);
        hlen = (size_t)(close - s - 1);
        memcpy(hostpart, s + 1, hlen);
        hostpart[hlen] = '\0';
        for (size_t i = 0; i < hlen; i++)
            if (!isxdigit((unsigned char)hostpart[i]) && hostpart[i] != ':' && hostpart[i] != '.')
                return kerr_setf(err, EINVAL, "host '%s': bad IPv6 address", spec);
        v6 = true;
        const char *rest = close + 1;
        if (*rest == ':')
            port_text = rest + 1;
        else if (*rest != '\0' && strcmp(rest, "/") != 0)
            return kerr_setf(err, EINVAL, "host '%s': unexpected '%s' after ']'", spec, rest);
    } else {
        const char *colon = strchr(s, ':');
        if (colon && strchr(colon + 1, ':'))
            return kerr_setf(err, EINVAL, "host '%s': write IPv6 addresses as [addr]:port", spec);
        hlen = colon ? (size_t)(colon - s) : strlen(s);
        if (hlen > 0 && !colon && s[hlen - 1] == '/')
            hlen--; /* "http://h/" */
        memcpy(hostpart, s, hlen);
        hostpart[hlen] = '\0';
        if (hlen == 0)
            return kerr_setf(err, EINVAL, "host '%s': missing host name", spec);
        for (size_t i = 0; i < hlen; i++)
            if (!host_char_ok(hostpart[i]))
                return kerr_setf(err, EINVAL, "host '%s': bad character '%c' in host name", spec,
                                 isprint((unsigned char)hostpart[i]) ? hostpart[i] : '?');
        if (colon)
            port_text = colon + 1;
    }

    int64_t port = HOSTS_DEFAULT_PORT;
    if (port_text) {
        char pbuf[16];
        size_t plen = strlen(port_text);
        if (plen > 0 && port_text[plen - 1] == '/')
            plen--;
        if (plen == 0 || plen >= sizeof(pbuf))
            return kerr_setf(err, EINVAL, "host '%s': bad port", spec);
        memcpy(pbuf, port_text, plen);
        pbuf[plen] = '\0';
        if (parse_int64(pbuf, 1, 65535, &port) < 0)
            return kerr_setf(err, EINVAL, "host '%s': bad port '%s'", spec, pbuf);
    }

    cleanup_free char *name = NULL, *base = NULL;
    const char *lb = v6 ? "[" : "", *rb = v6 ? "]" : "";
    if (asprintf(&name, "%s%s%s%s:%d", tls ? "https://" : "", lb, hostpart, rb, (int)port) < 0) {
        name = NULL;
        return kerr_set(err, ENOMEM, "host '%s'", spec);
    }
    if (asprintf(&base, "%s://%s%s%s:%d", tls ? "https" : "http", lb, hostpart, rb, (int)port) <
        0) {
        base = NULL;
        return kerr_set(err, ENOMEM, "host '%s'", spec);
    }
    ret->name = TAKE_PTR(name);
    ret->base = TAKE_PTR(base);
    return 0;
}

const struct host *
hosts_find(const struct hostlist *l, const char *name)
{
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->v[i].name, name) == 0)
            return &l->v[i];
    return NULL;
}

int
hosts_add(struct hostlist *l, const char *spec, struct kerr *err)
{
    struct host h = { NULL, NULL };
    int r = hosts_parse(spec, &h, err);
    if (r < 0)
        return r;
    if (hosts_find(l, h.name)) {
        host_clear(&h);
        return 0;
    }
    if (l->n >= HOSTS_MAX) {
        host_clear(&h);
        return kerr_setf(err, E2BIG, "more than %d hosts", HOSTS_MAX);
    }
    struct host *v = realloc(l->v, (l->n + 1) * sizeof(*v));
    if (!v) {
        host_clear(&h);
        return kerr_set(err, ENOMEM, "host list");
    }
    l->v = v;
    l->v[l->n++] = h;
    return 0;
}

int
hosts_add_text(struct hostlist *l, const char *text, const char *origin, struct kerr *err)
{
    const char *p = text;
    unsigned line = 1;

    while (*p) {
        if (*p == '#') {
            while (*p && *p != '\n')
                p++;
            continue;
        }
        if (*p == '\n')
            line++;
        if (*p == ',' || isspace((unsigned char)*p)) {
            p++;
            continue;
        }
        size_t len = 0;
        while (p[len] && p[len] != ',' && p[len] != '#' && !isspace((unsigned char)p[len]))
            len++;
        if (len > HOST_SPEC_MAX)
            return kerr_setf(err, EINVAL, "%s line %u: host too long", origin, line);
        char spec[HOST_SPEC_MAX + 1];
        memcpy(spec, p, len);
        spec[len] = '\0';
        int r = hosts_add(l, spec, err);
        if (r < 0)
            return kerr_prefix(err, "%s line %u", origin, line);
        p += len;
    }
    return 0;
}

int
hosts_add_file(struct hostlist *l, const char *path, struct kerr *err)
{
    cleanup_free char *buf = NULL;
    int r = read_file_alloc(path, HOSTS_FILE_MAX, &buf, NULL);
    if (r == -EFBIG)
        return kerr_setf(err, EFBIG, "hosts file '%s': larger than %d bytes", path, HOSTS_FILE_MAX);
    if (r < 0)
        return kerr_set(err, -r, "hosts file '%s'", path);
    char origin[300];
    snprintf(origin, sizeof(origin), "hosts file '%s'", path);
    return hosts_add_text(l, buf, origin, err);
}

int
hosts_parse_target(const char *text, struct host *ret_host, int64_t *ret_pid, struct kerr *err)
{
    const char *colon = strrchr(text, ':');
    if (!colon || colon == text)
        return kerr_setf(err, EINVAL, "target '%s': expected HOST:PID", text);
    int64_t pid;
    if (parse_int64(colon + 1, 1, INT32_MAX, &pid) < 0)
        return kerr_setf(err, EINVAL, "target '%s': bad pid '%s'", text, colon + 1);
    size_t hlen = (size_t)(colon - text);
    if (hlen > HOST_SPEC_MAX)
        return kerr_setf(err, EINVAL, "target '%.40s...': host too long", text);
    char spec[HOST_SPEC_MAX + 1];
    memcpy(spec, text, hlen);
    spec[hlen] = '\0';
    struct host h;
    int r = hosts_parse(spec, &h, err);
    if (r < 0)
        return kerr_prefix(err, "target '%s'", text);
    *ret_host = h;
    *ret_pid = pid;
    return 0;
}

void
hosts_free(struct hostlist *l)
{
    if (!l)
        return;
    for (size_t i = 0; i < l->n; i++)
        host_clear(&l->v[i]);
    free(l->v);
    l->v = NULL;
    l->n = 0;
}
