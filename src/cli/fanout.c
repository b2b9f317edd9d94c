/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libcurl-multi fan-out for the kumo CLI: one easy handle per request, all
 * driven by one multi handle until every transfer has completed or hit its
 * own timeout. Called from the CLI's main thread only.
 *
 * Why the multi interface rather than threads: the work is pure waiting on
 * sockets, and curl multiplexes any number of connections in one poll loop
 * with per-transfer timeouts, which is what "a slow host never blocks the
 * others" needs.
 */
#include "fanout.h"
#include "cleanup.h"
#include "hosts.h"
#include "kerr.h"
#include "util.h"

#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>

struct fanout {
    CURLM *multi;
    struct fanout_opts opts;
    char *auth_header;        /* "Authorization: Bearer …" */
    int epfd;                 /* the sockets curl asks us to watch */
    uint64_t deadline_usec;   /* curl's next timeout (monotonic), 0 = none */
    const atomic_bool *abort; /* set by another thread to stop a run */
};

static bool curl_ready;

/*
 * One socket per host: thousands of hosts exceed the usual soft limit of
 * 1024 fds. Raise it to the hard limit (as a CLI may); if that fails, curl
 * reports the hosts it could not reach, each on its own line.
 */
static void
raise_fd_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        rlim_t want = rl.rlim_max > 65536 ? 65536 : rl.rlim_max;
        if (want > rl.rlim_cur) {
            rl.rlim_cur = want;
            setrlimit(RLIMIT_NOFILE, &rl);
        }
    }
}

/*
 * curl's socket callback: mirror the sockets curl wants watched into our
 * epoll set. With thousands of hosts, the event-driven interface touches
 * only the transfers that have activity, where curl_multi_perform() would
 * walk every transfer on every wake-up.
 */
static int
socket_cb(CURL *easy, curl_socket_t s, int what, void *userp, void *socketp)
{
    struct fanout *f = userp;
    struct epoll_event ev;

    memset(&ev, 0, sizeof(ev));
    if (what == CURL_POLL_REMOVE) {
        /* Errors are fine: the kernel drops a closed fd from the set itself. */
        epoll_ctl(f->epfd, EPOLL_CTL_DEL, s, NULL);
        return 0;
    }
    ev.events = ((what & CURL_POLL_IN) ? EPOLLIN : 0) | ((what & CURL_POLL_OUT) ? EPOLLOUT : 0);
    ev.data.fd = s;
    if (epoll_ctl(f->epfd, EPOLL_CTL_MOD, s, &ev) < 0 &&
        epoll_ctl(f->epfd, EPOLL_CTL_ADD, s, &ev) < 0)
        return -1;
    return 0;
}

static int
timer_cb(CURLM *multi, long timeout_ms, void *userp)
{
    struct fanout *f = userp;
    f->deadline_usec = timeout_ms < 0 ? 0 : now_mono_usec() + (uint64_t)timeout_ms * 1000 + 1;
    return 0;
}

struct fanout *
fanout_new(const struct fanout_opts *opts)
{
    raise_fd_limit();
    if (!curl_ready) {
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
            return NULL;
        curl_ready = true;
    }
    struct fanout *f = calloc(1, sizeof(*f));
    if (!f)
        return NULL;
    f->opts = *opts;
    if (f->opts.timeout_usec == 0)
        f->opts.timeout_usec = 2000000;
    if (f->opts.body_max == 0)
        f->opts.body_max = FANOUT_BODY_MAX;
    if (opts->token && asprintf(&f->auth_header, "Authorization: Bearer %s", opts->token) < 0) {
        free(f);
        return NULL;
    }
    f->epfd = epoll_create1(EPOLL_CLOEXEC);
    f->multi = f->epfd >= 0 ? curl_multi_init() : NULL;
    if (!f->multi) {
        safe_close(f->epfd);
        free(f->auth_header);
        free(f);
        return NULL;
    }
    curl_multi_setopt(f->multi, CURLMOPT_SOCKETFUNCTION, socket_cb);
    curl_multi_setopt(f->multi, CURLMOPT_SOCKETDATA, f);
    curl_multi_setopt(f->multi, CURLMOPT_TIMERFUNCTION, timer_cb);
    curl_multi_setopt(f->multi, CURLMOPT_TIMERDATA, f);
    return f;
}

struct fanout *
fanout_free(struct fanout *f)
{
    if (!f)
        return NULL;
    curl_multi_cleanup(f->multi);
    safe_close(f->epfd);
    if (f->auth_header) {
        /* The token is a secret: do not leave it in freed heap memory. */
        explicit_bzero(f->auth_header, strlen(f->auth_header));
        free(f->auth_header);
    }
    free(f);
    return NULL;
}

void
fanout_set_abort(struct fanout *f, const atomic_bool *flag)
{
    f->abort = flag;
}

void
fanout_global_cleanup(void)
{
    if (curl_ready) {
        curl_global_cleanup();
        curl_ready = false;
    }
}

void
fanout_req_clear(struct fanout_req *r)
{
    free(r->path);
    free(r->body);
    r->path = r->body = NULL;
    sbuf_free(&r->resp);
    r->status = 0;
    r->err[0] = '\0';
}

int
fanout_urlencode(struct sbuf *b, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        int r;
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '_' || c == '.' || c == '~') {
            r = sbuf_putc(b, (char)c);
        } else {
            char enc[3] = { '%', hex[c >> 4], hex[c & 15] };
            r = sbuf_append(b, enc, 3);
        }
        if (r < 0)
            return r;
    }
    return 0;
}

/* Per-transfer state curl's callbacks see. */
struct xfer {
    struct fanout_req *req;
    size_t body_max;
    bool too_big;
    struct curl_slist *headers;
    char errbuf[CURL_ERROR_SIZE]; /* curl's detail: "SSL certificate problem: …" */
};

static size_t
write_cb(char *data, size_t size, size_t nmemb, void *userdata)
{
    struct xfer *x = userdata;
    size_t n = size * nmemb;
    if (x->req->resp.len + n > x->body_max) {
        x->too_big = true;
        return 0; /* makes curl abort this transfer with CURLE_WRITE_ERROR */
    }
    if (sbuf_append(&x->req->resp, data, n) < 0)
        return 0;
    return n;
}

/* Copy at most one line of an untrusted message, replacing control bytes. */
static void
copy_line(char *dst, size_t cap, const char *src)
{
    size_t i = 0;
    for (; src[i] && i + 1 < cap; i++) {
        unsigned char c = (unsigned char)src[i];
        dst[i] = (c < 0x20 || c == 0x7f) ? ' ' : (char)c;
    }
    dst[i] = '\0';
}

/* "HTTP 403: token lacks scope 'signal'" from a k2i error body, if it has one. */
static void
describe_http_error(struct fanout_req *r)
{
    char msg[200] = "";
    if (r->resp.len > 0) {
        json_error_t jerr;
        json_t *doc = json_loadb(r->resp.data, r->resp.len, 0, &jerr);
        json_t *e = doc ? json_object_get(doc, "error") : NULL;
        const char *m = e ? json_string_value(json_object_get(e, "message")) : NULL;
        if (m)
            copy_line(msg, sizeof(msg), m);
        json_decref(doc);
    }
    if (msg[0])
        snprintf(r->err, sizeof(r->err), "HTTP %ld: %s", r->status, msg);
    else
        snprintf(r->err, sizeof(r->err), "HTTP %ld", r->status);
}

static void
describe_curl_error(struct fanout_req *r, CURL *h, CURLcode rc, const struct xfer *x,
                    uint64_t timeout_usec)
{
    long oserr = 0;
    curl_easy_getinfo(h, CURLINFO_OS_ERRNO, &oserr);
    switch (rc) {
    case CURLE_OPERATION_TIMEDOUT:
        snprintf(r->err, sizeof(r->err), "no answer within %.1f s", timeout_usec / 1e6);
        break;
    case CURLE_COULDNT_CONNECT:
        if (oserr == ECONNREFUSED)
            snprintf(r->err, sizeof(r->err), "connection refused");
        else if (oserr)
            snprintf(r->err, sizeof(r->err), "cannot connect: %s", strerror((int)oserr));
        else
            snprintf(r->err, sizeof(r->err), "cannot connect");
        break;
    case CURLE_COULDNT_RESOLVE_HOST:
        snprintf(r->err, sizeof(r->err), "cannot resolve host name");
        break;
    case CURLE_GOT_NOTHING:
        snprintf(r->err, sizeof(r->err), "empty answer%s",
                 strncmp(r->host->base, "http://", 7) == 0 ? " (is it an https:// agent?)" : "");
        break;
    default:
        if (rc == CURLE_WRITE_ERROR && x->too_big)
            snprintf(r->err, sizeof(r->err), "response larger than %zu bytes", x->body_max);
        else if (x->errbuf[0])
            copy_line(r->err, sizeof(r->err), x->errbuf);
        else
            snprintf(r->err, sizeof(r->err), "%s", curl_easy_strerror(rc));
        break;
    }
}

static int
setup_easy(struct fanout *f, struct fanout_req *r, struct xfer *x, CURL **ret, struct kerr *err)
{
    CURL *h = curl_easy_init();
    if (!h)
        return kerr_set(err, ENOMEM, "curl handle");

    cleanup_free char *url = NULL;
    if (asprintf(&url, "%s%s", r->host->base, r->path ? r->path : "/") < 0) {
        url = NULL;
        curl_easy_cleanup(h);
        return kerr_set(err, ENOMEM, "url");
    }
    long timeout_ms = (long)(f->opts.timeout_usec / 1000);
    if (timeout_ms < 1)
        timeout_ms = 1;

    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_PRIVATE, x);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, x->errbuf);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, write_cb);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, x);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "kumo-cli");
    curl_easy_setopt(h, CURLOPT_ACCEPT_ENCODING, "");
    /* Agents are usually on the next rack: skip Nagle for small requests. */
    curl_easy_setopt(h, CURLOPT_TCP_NODELAY, 1L);
    /*
     * No DNS cache: curl prunes its whole cache each time a transfer ends,
     * which makes thousands of hosts quadratic; established connections are
     * still reused, and names resolve once per connection.
     */
    curl_easy_setopt(h, CURLOPT_DNS_CACHE_TIMEOUT, 0L);
    if (f->opts.insecure) {
        curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
    }
    if (f->opts.cacert)
        curl_easy_setopt(h, CURLOPT_CAINFO, f->opts.cacert);

    x->headers = curl_slist_append(NULL, "Accept: application/json");
    if (x->headers && f->auth_header)
        x->headers = curl_slist_append(x->headers, f->auth_header);
    if (r->body && x->headers)
        x->headers = curl_slist_append(x->headers, "Content-Type: application/json");
    if (!x->headers) {
        curl_easy_cleanup(h);
        return kerr_set(err, ENOMEM, "curl headers");
    }
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, x->headers);

    if (r->method && strcmp(r->method, "POST") == 0) {
        curl_easy_setopt(h, CURLOPT_POST, 1L);
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, r->body ? r->body : "");
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)(r->body ? strlen(r->body) : 0));
    } else if (r->method && strcmp(r->method, "GET") != 0) {
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, r->method);
    }
    *ret = h;
    return 0;
}

int
fanout_run(struct fanout *f, struct fanout_req *reqs, size_t n, struct kerr *err)
{
    return fanout_run_cb(f, reqs, n, NULL, NULL, err);
}

int
fanout_run_cb(struct fanout *f, struct fanout_req *reqs, size_t n, fanout_done_fn done,
              void *userdata, struct kerr *err)
{
    if (n == 0)
        return 0;
    cleanup_free struct xfer *xs = calloc(n, sizeof(*xs));
    cleanup_free CURL **hs = calloc(n, sizeof(*hs));
    if (!xs || !hs)
        return kerr_set(err, ENOMEM, "fan-out of %zu requests", n);

    int r = 0;
    size_t added = 0;
    uint64_t start = now_mono_usec();
    for (size_t i = 0; i < n; i++) {
        sbuf_reset(&reqs[i].resp);
        reqs[i].status = 0;
        reqs[i].err[0] = '\0';
        reqs[i].elapsed_usec = 0;
        xs[i].req = &reqs[i];
        xs[i].body_max = f->opts.body_max;
        r = setup_easy(f, &reqs[i], &xs[i], &hs[i], err);
        if (r < 0)
            goto out;
        if (curl_multi_add_handle(f->multi, hs[i]) != CURLM_OK) {
            r = kerr_set(err, ENOMEM, "curl multi");
            goto out;
        }
        added = i + 1;
    }

    int running = 0;
    CURLMcode mc = curl_multi_socket_action(f->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    for (;;) {
        if (mc != CURLM_OK) {
            r = kerr_setf(err, EIO, "curl: %s", curl_multi_strerror(mc));
            goto out;
        }
        CURLMsg *m;
        int left;
        while ((m = curl_multi_info_read(f->multi, &left))) {
            if (m->msg != CURLMSG_DONE)
                continue;
            struct xfer *x = NULL;
            curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&x);
            x->req->elapsed_usec = now_mono_usec() - start;
            if (m->data.result != CURLE_OK) {
                describe_curl_error(x->req, m->easy_handle, m->data.result, x,
                                    f->opts.timeout_usec);
            } else {
                curl_easy_getinfo(m->easy_handle, CURLINFO_RESPONSE_CODE, &x->req->status);
                if (x->req->status < 200 || x->req->status >= 300)
                    describe_http_error(x->req);
            }
            if (done)
                done(x->req, userdata);
        }
        if (!running)
            break;
        if (f->abort && atomic_load(f->abort)) {
            r = kerr_setf(err, ECANCELED, "cancelled");
            goto out;
        }

        /* Sleep until a socket is ready or curl's timer is due (at most 1 s). */
        int wait_ms = f->abort ? 100 : 1000;
        if (f->deadline_usec) {
            uint64_t now = now_mono_usec();
            uint64_t left_us = f->deadline_usec > now ? f->deadline_usec - now : 0;
            if (left_us / 1000 < (uint64_t)wait_ms)
                wait_ms = (int)((left_us + 999) / 1000);
        }
        struct epoll_event evs[256];
        int ne = epoll_wait(f->epfd, evs, 256, wait_ms);
        if (ne < 0 && errno != EINTR) {
            r = kerr_set(err, errno, "epoll_wait");
            goto out;
        }
        mc = CURLM_OK;
        for (int i = 0; i < ne && mc == CURLM_OK; i++) {
            int flags = ((evs[i].events & EPOLLIN) ? CURL_CSELECT_IN : 0) |
                        ((evs[i].events & EPOLLOUT) ? CURL_CSELECT_OUT : 0) |
                        ((evs[i].events & (EPOLLERR | EPOLLHUP)) ? CURL_CSELECT_ERR : 0);
            mc = curl_multi_socket_action(f->multi, evs[i].data.fd, flags, &running);
        }
        if (mc == CURLM_OK && f->deadline_usec && now_mono_usec() >= f->deadline_usec) {
            f->deadline_usec = 0;
            mc = curl_multi_socket_action(f->multi, CURL_SOCKET_TIMEOUT, 0, &running);
        }
    }

    r = 0;
    for (size_t i = 0; i < n; i++)
        if (reqs[i].err[0])
            r++;
out:
    for (size_t i = 0; i < n; i++) {
        if (hs[i]) {
            if (i < added)
                curl_multi_remove_handle(f->multi, hs[i]);
            curl_easy_cleanup(hs[i]);
        }
        curl_slist_free_all(xs[i].headers);
    }
    return r;
}
