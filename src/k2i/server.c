/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libmicrohttpd front end of k2i (see server.h). MHD parses HTTP; we take
 * the raw request target from its URI log callback (so the router sees
 * exactly what the client sent, before MHD's own unescaping), collect
 * bodies up to API_BODY_MAX, and hand everything to api_handle(). MHD's
 * per-connection memory limit bounds what a client can make us buffer;
 * requests that exceed it are refused by MHD itself (431/414) before they
 * reach us, those below it but over our own caps get JSON errors.
 */
#include "server.h"
#include "kerr.h"
#include "log.h"

#include <errno.h>
#include <microhttpd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct server {
    struct k2i *k;
    struct MHD_Daemon *d[K2I_MAX_LISTEN];
    size_t n;
};

struct conn {
    char *uri;
    size_t uri_len;
    bool started;
    bool too_large;
    char *body;
    size_t body_len;
};

static void *
on_uri(void *cls, const char *uri, struct MHD_Connection *c)
{
    struct conn *cn = calloc(1, sizeof(*cn));
    if (cn && uri) {
        size_t n = strnlen(uri, API_URI_MAX + 1);
        cn->uri = malloc(n + 1);
        if (cn->uri) {
            memcpy(cn->uri, uri, n);
            cn->uri[n] = '\0';
            /* Over-long targets are kept as a marker length only. */
            cn->uri_len = n > API_URI_MAX ? strlen(uri) : n;
        }
    }
    return cn;
}

static void
on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
             enum MHD_RequestTerminationCode toe)
{
    struct conn *cn = *con_cls;
    if (cn) {
        free(cn->uri);
        free(cn->body);
        free(cn);
        *con_cls = NULL;
    }
}

static enum MHD_Result
count_header(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
    size_t *n = cls;
    *n += strlen(key) + (value ? strlen(value) : 0) + 4;
    return MHD_YES;
}

static enum MHD_Result
send_response(struct MHD_Connection *c, struct api_response *resp)
{
    size_t len = resp->body.len;
    char *data = sbuf_take(&resp->body);
    if (!data)
        return MHD_NO;
    struct MHD_Response *r = MHD_create_response_from_buffer(len, data, MHD_RESPMEM_MUST_FREE);
    if (!r) {
        free(data);
        return MHD_NO;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, resp->content_type);
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    if (resp->allow)
        MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, resp->allow);
    if (resp->www_authenticate)
        MHD_add_response_header(r, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer realm=\"k2i\"");
    enum MHD_Result ret = MHD_queue_response(c, (unsigned)resp->status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result
on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
           const char *version, const char *upload_data, size_t *upload_data_size, void **con_cls)
{
    struct server *s = cls;
    struct conn *cn = *con_cls;
    if (!cn)
        return MHD_NO;
    bool has_body =
        strcmp(method, "POST") == 0 || strcmp(method, "PUT") == 0 || strcmp(method, "PATCH") == 0;
    if (!cn->started) {
        /*
         * Answer only from the second call, once MHD has the whole request
         * (possibly an empty body): a response queued earlier makes MHD
         * close the connection instead of keeping it alive.
         */
        cn->started = true;
        if (has_body) {
            const char *cl =
                MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
            if (cl && strtoull(cl, NULL, 10) > API_BODY_MAX)
                cn->too_large = true;
        }
        if (!cn->too_large)
            return MHD_YES;
    }
    if (*upload_data_size) {
        size_t n = *upload_data_size;
        *upload_data_size = 0;
        if (!cn->too_large) {
            if (cn->body_len + n > API_BODY_MAX) {
                cn->too_large = true;
            } else {
                char *nb = realloc(cn->body, cn->body_len + n + 1);
                if (!nb)
                    return MHD_NO;
                memcpy(nb + cn->body_len, upload_data, n);
                cn->body = nb;
                cn->body_len += n;
                nb[cn->body_len] = '\0';
                return MHD_YES;
            }
        }
        if (!cn->too_large)
            return MHD_YES;
    }

    struct api_request req = {
        .method = method,
        .uri = cn->uri ? cn->uri : url,
        .uri_len = cn->uri ? cn->uri_len : strlen(url),
        .authorization =
            MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION),
        .body = cn->body,
        .body_len = cn->body_len,
        .body_too_large = cn->too_large,
    };
    MHD_get_connection_values(c, MHD_HEADER_KIND, count_header, &req.header_bytes);
    struct api_response resp;
    memset(&resp, 0, sizeof(resp));
    if (cn->too_large && has_body)
        api_error(&resp, 413, "request body larger than %d bytes", API_BODY_MAX);
    else
        api_handle(s->k, &req, &resp);
    if (resp.status >= 500 || log_get_level() >= LOG_LEVEL_DEBUG)
        log_msg(resp.status >= 500 ? LOG_LEVEL_WARN : LOG_LEVEL_DEBUG, "%s %.200s -> %d", method,
                req.uri, resp.status);
    enum MHD_Result r = send_response(c, &resp);
    sbuf_free(&resp.body);
    return r;
}

static void mhd_log(void *cls, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));

static void
mhd_log(void *cls, const char *fmt, va_list ap)
{
    char buf[512];
    vsnprintf(buf, sizeof(buf), fmt, ap);
    size_t n = strlen(buf);
    while (n > 0 && buf[n - 1] == '\n')
        buf[--n] = '\0';
    log_debug("http: %s", buf);
}

struct server *
server_start(struct k2i *k, const int *fds, size_t nfds, const char *cert_pem, const char *key_pem,
             struct kerr *err)
{
    struct server *s = calloc(1, sizeof(*s));
    if (!s) {
        for (size_t i = 0; i < nfds; i++)
            close(fds[i]);
        kerr_set(err, ENOMEM, "server");
        return NULL;
    }
    s->k = k;
    const struct k2i_config *cfg = k->cfg;
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG;
    if (MHD_is_feature_supported(MHD_FEATURE_EPOLL) == MHD_YES)
        flags |= MHD_USE_EPOLL;
    if (cert_pem) {
        if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
            kerr_setf(err, ENOTSUP, "TLS: libmicrohttpd was built without TLS support");
            goto fail;
        }
        flags |= MHD_USE_TLS;
    }
    for (size_t i = 0; i < nfds; i++) {
        struct MHD_OptionItem opts[16];
        int o = 0;
        opts[o++] = (struct MHD_OptionItem){ MHD_OPTION_LISTEN_SOCKET, fds[i], NULL };
        opts[o++] = (struct MHD_OptionItem){ MHD_OPTION_URI_LOG_CALLBACK, (intptr_t)on_uri, NULL };
        opts[o++] =
            (struct MHD_OptionItem){ MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)on_completed, NULL };
        opts[o++] = (struct MHD_OptionItem){ MHD_OPTION_CONNECTION_MEMORY_LIMIT,
                                             (intptr_t)cfg->connection_memory_limit, NULL };
        opts[o++] = (struct MHD_OptionItem){ MHD_OPTION_CONNECTION_LIMIT,
                                             (intptr_t)cfg->max_connections, NULL };
        opts[o++] = (struct MHD_OptionItem){ MHD_OPTION_CONNECTION_TIMEOUT,
                                             (intptr_t)cfg->connection_timeout_sec, NULL };
        opts[o++] = (struct MHD_OptionItem){ MHD_OPTION_EXTERNAL_LOGGER, (intptr_t)mhd_log, NULL };
        if (cfg->threads > 1)
            opts[o++] = (struct MHD_OptionItem){ MHD_OPTION_THREAD_POOL_SIZE,
                                                 (intptr_t)cfg->threads, NULL };
        if (cert_pem) {
            opts[o++] = (struct MHD_OptionItem){ MHD_OPTION_HTTPS_MEM_CERT, 0, (void *)cert_pem };
            opts[o++] = (struct MHD_OptionItem){ MHD_OPTION_HTTPS_MEM_KEY, 0, (void *)key_pem };
        }
        opts[o++] = (struct MHD_OptionItem){ MHD_OPTION_END, 0, NULL };
        s->d[i] = MHD_start_daemon(flags, 0, NULL, NULL, on_request, s, MHD_OPTION_ARRAY, opts,
                                   MHD_OPTION_END);
        if (!s->d[i]) {
            kerr_setf(err, EIO, "start HTTP server on listener %zu (bad TLS key or certificate?)",
                      i);
            for (size_t j = i; j < nfds; j++)
                close(fds[j]);
            return server_free(s);
        }
        s->n++;
    }
    return s;
fail:
    for (size_t i = 0; i < nfds; i++)
        close(fds[i]);
    free(s);
    return NULL;
}

struct server *
server_free(struct server *s)
{
    if (!s)
        return NULL;
    for (size_t i = 0; i < s->n; i++)
        MHD_stop_daemon(s->d[i]);
    free(s);
    return NULL;
}
