/* SPDX-License-Identifier: Apache-2.0 */
/*
 * k2i's router and handlers through api_handle(), over the fixture /proc
 * tree, with the privileged operations stubbed (they record what they were
 * asked). Every error must be JSON with the right status.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <fcntl.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api.h"
#include "k2i.h"
#include "kerr.h"

#define TOK_ALL  "all-token-0123456789"
#define TOK_READ "read-token-0123456789"

static int last_signal_pid, last_signo;
static char last_token[K2I_TOKEN_MAX + 1];

static int
stub_signal(void *ctx, const char *token, int pid, int signo, char *msg, size_t cap)
{
    last_signal_pid = pid;
    last_signo = signo;
    snprintf(last_token, sizeof(last_token), "%s", token);
    return 200;
}

static int
stub_environ(void *ctx, const char *token, int pid, int *ret_fd, char *msg, size_t cap)
{
    char path[128];
    snprintf(path, sizeof(path), "%s/environ", K2I_FIXTURES);
    *ret_fd = open(path, O_RDONLY | O_CLOEXEC);
    return *ret_fd >= 0 ? 200 : 500;
}

static int
stub_ns(void *ctx, const char *token, const int *ids, size_t n, uint64_t (*ret)[PROCFS_NS_COUNT])
{
    for (size_t i = 0; i < n; i++)
        for (int j = 0; j < PROCFS_NS_COUNT; j++)
            ret[i][j] = 4026531800u + (unsigned)j;
    return 200;
}

static const struct k2i_privops ops = { stub_signal, stub_environ, stub_ns };

struct fx {
    struct k2i_config cfg;
    struct k2i k;
    int procfd;
};

static int
setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    k2i_config_init(&f->cfg);
    const char *conf = "{\"tokens\":[{\"name\":\"all\",\"token\":\"" TOK_ALL "\","
                       "\"scopes\":[\"signal\",\"environ\"]},"
                       "{\"name\":\"ro\",\"token\":\"" TOK_READ "\"}]}";
    struct kerr err = KERR_INIT;
    if (k2i_config_parse(&f->cfg, conf, strlen(conf), &err) < 0)
        return -1;
    f->procfd = open(K2I_FIXTURES "/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (f->procfd < 0 || api_init(&f->k, &f->cfg, f->procfd, NULL, &ops, NULL) < 0)
        return -1;
    f->k.ns_via_priv = true;
    *state = f;
    return 0;
}

static int
teardown(void **state)
{
    struct fx *f = *state;
    api_fini(&f->k);
    close(f->procfd);
    k2i_config_free(&f->cfg);
    free(f);
    return 0;
}

/* Make a request; returns the parsed JSON body (caller decrefs). */
static json_t *
req_full(struct fx *f, const char *method, const char *uri, const char *auth, const char *body,
         int want_status, struct api_response *keep)
{
    struct api_request rq = {
        .method = method,
        .uri = uri,
        .uri_len = strlen(uri),
        .authorization = auth,
        .body = body,
        .body_len = body ? strlen(body) : 0,
    };
    struct api_response resp;
    memset(&resp, 0, sizeof(resp));
    api_handle(&f->k, &rq, &resp);
    if (resp.status != want_status)
        fail_msg("%s %s: status %d, want %d: %s", method, uri, resp.status, want_status,
                 resp.body.data);
    json_t *j = NULL;
    if (strcmp(resp.content_type, "application/json") == 0) {
        json_error_t e;
        j = json_loadb(resp.body.data, resp.body.len, 0, &e);
        if (!j)
            fail_msg("%s %s: not JSON (%s): %s", method, uri, e.text, resp.body.data);
        if (want_status >= 400) {
            json_t *code = json_object_get(json_object_get(j, "error"), "code");
            assert_int_equal(json_integer_value(code), want_status);
            assert_true(json_is_string(json_object_get(json_object_get(j, "error"), "message")));
        }
    }
    if (keep)
        *keep = resp;
    else
        sbuf_free(&resp.body);
    return j;
}

static json_t *
get(struct fx *f, const char *uri, int want)
{
    return req_full(f, "GET", uri, NULL, NULL, want, NULL);
}

static const char *
errmsg(json_t *j)
{
    return json_string_value(json_object_get(json_object_get(j, "error"), "message"));
}

static void
test_info_host_config(void **state)
{
    struct fx *f = *state;
    json_t *j = get(f, "/v1/", 200);
    assert_string_equal(json_string_value(json_object_get(j, "name")), "k2i");
    json_decref(j);
    j = get(f, "/v1", 200);
    json_decref(j);
    j = get(f, "/v1/host", 200);
    assert_true(json_integer_value(json_object_get(j, "cpus")) >= 1);
    assert_int_equal(json_integer_value(json_object_get(j, "processes")), 4);
    assert_true(json_is_object(json_object_get(j, "memory")));
    assert_int_equal(json_array_size(json_object_get(j, "load")), 3);
    json_decref(j);
    j = get(f, "/v1/config", 200);
    json_t *toks = json_object_get(j, "tokens");
    assert_int_equal(json_array_size(toks), 2);
    /* Never the token values, nor their hashes. */
    char *dump = json_dumps(j, 0);
    assert_null(strstr(dump, TOK_ALL));
    assert_null(strstr(dump, "hash"));
    free(dump);
    json_decref(j);
    j = get(f, "/v1/hello", 200);
    json_decref(j);
}

static void
test_list(void **state)
{
    struct fx *f = *state;
    json_t *j = get(f, "/v1/proc", 200);
    json_t *ps = json_object_get(j, "processes");
    assert_int_equal(json_array_size(ps), 4);
    assert_int_equal(json_integer_value(json_object_get(j, "count")), 4);
    json_t *p = json_array_get(ps, 3);
    assert_int_equal(json_integer_value(json_object_get(p, "pid")), 4242);
    assert_string_equal(json_string_value(json_object_get(p, "comm")), "my (weird) proc");
    assert_string_equal(json_string_value(json_object_get(p, "state")), "R");
    assert_int_equal(json_integer_value(json_object_get(p, "uid")), 1000);
    assert_int_equal(json_integer_value(json_object_get(p, "euid")), 1001);
    assert_int_equal(json_integer_value(json_object_get(p, "nice")), 5);
    assert_int_equal(json_integer_value(json_object_get(p, "threads")), 2);
    /* VmRSS from status (exact), not stat's 2560 pages. */
    assert_int_equal(json_integer_value(json_object_get(p, "rss")), 10244);
    json_decref(j);
    /* A stat-only listing uses stat's rss (pages x page size). */
    j = get(f, "/v1/proc?pid=4242&fields=pid,rss", 200);
    p = json_array_get(json_object_get(j, "processes"), 0);
    assert_int_equal(json_integer_value(json_object_get(p, "rss")), 2560 * f->k.page_kb);
    json_decref(j);
    j = get(f, "/v1/proc", 200);
    ps = json_object_get(j, "processes");
    p = json_array_get(ps, 3);
    assert_int_equal(json_integer_value(json_object_get(p, "vsz")), 102400);
    assert_true(json_real_value(json_object_get(p, "utime")) == 1500.0 / (double)f->k.hz);
    json_t *cl = json_object_get(p, "cmdline");
    assert_int_equal(json_array_size(cl), 5);
    assert_string_equal(json_string_value(json_array_get(cl, 4)), "caf\xc3\xa9 \"quoted\"");
    assert_true(json_is_null(json_object_get(p, "tty")));
    /* Not in the default set. */
    assert_null(json_object_get(p, "container"));
    assert_null(json_object_get(p, "namespaces"));
    assert_null(json_object_get(p, "environ"));
    assert_null(json_object_get(p, "tid"));
    p = json_array_get(ps, 2);
    assert_string_equal(json_string_value(json_object_get(p, "tty")), "pts/3");
    cl = json_object_get(p, "cmdline");
    assert_string_equal(json_string_value(json_array_get(cl, 1)), "\xef\xbf\xbd\xef\xbf\xbd");
    json_decref(j);

    j = get(f, "/v1/proc?fields=pid,comm,container,namespaces&sort=-pid&limit=2", 200);
    ps = json_object_get(j, "processes");
    assert_int_equal(json_array_size(ps), 2);
    p = json_array_get(ps, 0);
    assert_int_equal(json_integer_value(json_object_get(p, "pid")), 4242);
    assert_string_equal(json_string_value(json_object_get(p, "container")), "web-1");
    assert_int_equal(json_object_size(p), 4);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(p, "namespaces"), "net")),
                     4026531803u);
    p = json_array_get(ps, 1);
    assert_int_equal(json_integer_value(json_object_get(p, "pid")), 777);
    assert_true(json_is_null(json_object_get(p, "container")));
    json_decref(j);

    /* Filters. */
    j = get(f, "/v1/proc?state=S&fields=pid", 200);
    assert_int_equal(json_array_size(json_object_get(j, "processes")), 2);
    json_decref(j);
    j = get(f, "/v1/proc?user=1001&fields=pid", 200);
    assert_int_equal(json_array_size(json_object_get(j, "processes")), 1);
    json_decref(j);
    j = get(f, "/v1/proc?user=root&fields=pid", 200);
    assert_int_equal(json_array_size(json_object_get(j, "processes")), 3);
    json_decref(j);
    j = get(f, "/v1/proc?cmd=--port+8080&fields=pid", 200);
    assert_int_equal(json_array_size(json_object_get(j, "processes")), 1);
    json_decref(j);
    j = get(f, "/v1/proc?container=web-1&fields=pid", 200);
    assert_int_equal(json_array_size(json_object_get(j, "processes")), 1);
    json_decref(j);
    j = get(f, "/v1/proc?container=-&fields=pid", 200);
    assert_int_equal(json_array_size(json_object_get(j, "processes")), 3);
    json_decref(j);
    j = get(f, "/v1/proc?pid=2,777,5&fields=pid&sort=comm", 200);
    ps = json_object_get(j, "processes");
    assert_int_equal(json_array_size(ps), 2);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(ps, 0), "pid")), 777);
    json_decref(j);
    j = get(f, "/v1/proc?threads=true&fields=pid,tid,comm", 200);
    assert_int_equal(json_array_size(json_object_get(j, "processes")), 5);
    json_decref(j);
    j = get(f, "/v1/proc/4242/threads?sort=-tid", 200);
    ps = json_object_get(j, "processes");
    assert_int_equal(json_array_size(ps), 2);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(ps, 0), "tid")), 4243);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(ps, 0), "pid")), 4242);
    json_decref(j);
    j = get(f, "/v1/proc/cmd/caf%C3%A9", 200);
    assert_int_equal(json_array_size(json_object_get(j, "processes")), 1);
    json_decref(j);
    j = get(f, "/v1/proc/cmd/kthread", 200);
    assert_int_equal(json_array_size(json_object_get(j, "processes")), 1);
    json_decref(j);
    j = get(f, "/v1/proc/cmd/nothing-matches-this", 200);
    assert_int_equal(json_array_size(json_object_get(j, "processes")), 0);
    json_decref(j);
}

static void
test_one(void **state)
{
    struct fx *f = *state;
    json_t *j = get(f, "/v1/proc/4242", 200);
    assert_string_equal(json_string_value(json_object_get(j, "container")), "web-1");
    assert_int_equal(json_array_size(json_object_get(j, "cgroups")), 3);
    json_t *cg = json_array_get(json_object_get(j, "cgroups"), 1);
    assert_int_equal(json_integer_value(json_object_get(cg, "id")), 4);
    assert_string_equal(json_string_value(json_object_get(cg, "controllers")), "memory");
    assert_string_equal(json_string_value(json_object_get(cg, "path")), "/kumo/web-1/sub");
    assert_true(json_is_object(json_object_get(j, "namespaces")));
    assert_null(json_object_get(j, "environ"));
    json_decref(j);
    j = get(f, "/v1/proc/4242?fields=pid,rss", 200);
    assert_int_equal(json_object_size(j), 2);
    json_decref(j);
    j = get(f, "/v1/proc/4242/", 200);
    json_decref(j);
    j = get(f, "/v1/proc/31337", 404);
    assert_non_null(strstr(errmsg(j), "no process with pid 31337"));
    json_decref(j);
    j = get(f, "/v1/proc/4242?sort=pid", 400);
    json_decref(j);
}

static void
test_bad_input(void **state)
{
    struct fx *f = *state;
    static const struct {
        const char *uri;
        int status;
        const char *msg;
    } cases[] = {
        { "/v1/proc/-1", 400, "bad pid '-1'" },
        { "/v1/proc/0", 400, "bad pid '0'" },
        { "/v1/proc/abc", 400, "bad pid 'abc'" },
        { "/v1/proc/99999999999", 400, "bad pid '99999999999'" },
        { "/v1/proc/4194305", 400, "bad pid" },
        { "/v1/proc/0042", 400, "bad pid" },
        { "/v1/proc/%34%32", 404, "no process with pid 42" },
        { "/v1/proc/../..", 400, "'..'" },
        { "/v1/proc/%2e%2e/x", 400, "'..'" },
        { "/v1/./proc", 400, "'.'" },
        { "/v1//proc", 400, "empty segment" },
        { "/v1/proc/%zz", 400, "percent" },
        { "/v1/proc/%00", 400, "percent" },
        { "v1/proc", 400, "absolute path" },
        { "", 400, "absolute path" },
        { "/", 404, "no such endpoint" },
        { "/v2/proc", 404, "no such endpoint" },
        { "/v1/proc/4242/bogus", 404, "no such endpoint" },
        { "/v1/proc/cmd", 404, "command name" },
        { "/v1/proc/1/2/3/4/5/6/7", 404, "no such endpoint" },
        { "/v1/proc?bogus=1", 400, "unknown parameter 'bogus'" },
        { "/v1/host?x=1", 400, "unknown parameter 'x'" },
        { "/metrics?x", 400, "unknown parameter" },
        { "/v1/proc?fields=environ", 401, "environ" },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json_t *j = get(f, cases[i].uri, cases[i].status);
        if (cases[i].msg && !strstr(errmsg(j), cases[i].msg))
            fail_msg("%s: message '%s' lacks '%s'", cases[i].uri, errmsg(j), cases[i].msg);
        json_decref(j);
    }
    /* Methods. */
    struct api_response resp;
    json_t *j = req_full(f, "DELETE", "/v1/proc", NULL, NULL, 405, &resp);
    assert_string_equal(resp.allow, "GET, HEAD");
    sbuf_free(&resp.body);
    json_decref(j);
    j = req_full(f, "GET", "/v1/proc/4242/signal", NULL, NULL, 405, &resp);
    assert_string_equal(resp.allow, "POST");
    sbuf_free(&resp.body);
    json_decref(j);
    j = req_full(f, "HEAD", "/v1/proc", NULL, NULL, 200, NULL);
    json_decref(j);
    /* Sizes. */
    char *big = malloc(API_URI_MAX + 64);
    strcpy(big, "/v1/proc?cmd=");
    memset(big + 13, 'a', API_URI_MAX + 10);
    big[API_URI_MAX + 23] = '\0';
    j = get(f, big, 414);
    json_decref(j);
    free(big);
    struct api_request rq = {
        .method = "GET", .uri = "/v1/proc", .uri_len = 8, .header_bytes = API_HEADERS_MAX + 1
    };
    memset(&resp, 0, sizeof(resp));
    api_handle(&f->k, &rq, &resp);
    assert_int_equal(resp.status, 431);
    sbuf_free(&resp.body);
}

static void
test_auth_and_signal(void **state)
{
    struct fx *f = *state;
    const char *body = "{\"signal\":\"TERM\"}";
    json_t *j;
    struct api_response resp;
    j = req_full(f, "POST", "/v1/proc/4242/signal", NULL, body, 401, &resp);
    assert_true(resp.www_authenticate);
    sbuf_free(&resp.body);
    json_decref(j);
    j = req_full(f, "POST", "/v1/proc/4242/signal", "Bearer wrong-token-0123456789", body, 401,
                 NULL);
    json_decref(j);
    j = req_full(f, "POST", "/v1/proc/4242/signal", "Basic Zm9vOmJhcg==", body, 401, NULL);
    json_decref(j);
    j = req_full(f, "POST", "/v1/proc/4242/signal", "Bearer " TOK_READ, body, 403, NULL);
    assert_non_null(strstr(errmsg(j), "lacks scope 'signal'"));
    json_decref(j);

    last_signal_pid = 0;
    j = req_full(f, "POST", "/v1/proc/4242/signal", "Bearer " TOK_ALL, body, 200, NULL);
    assert_int_equal(last_signal_pid, 4242);
    assert_int_equal(last_signo, SIGTERM);
    /* The privileged side gets the token to check again. */
    assert_string_equal(last_token, TOK_ALL);
    assert_string_equal(json_string_value(json_object_get(j, "signal")), "TERM");
    json_decref(j);

    static const struct {
        const char *body;
        int status;
        int signo;
    } bodies[] = {
        { "{\"signal\":\"SIGKILL\"}", 200, SIGKILL },
        { "{\"signal\":\"hup\"}", 200, SIGHUP },
        { "{\"signal\":9}", 200, 9 },
        { "{\"signal\":\"10\"}", 200, 10 },
        { "{\"signal\":\"RTMIN+2\"}", 200, 0 },
        { "{\"signal\":0}", 200, 0 },
        { "{\"signal\":\"BOGUS\"}", 400, -1 },
        { "{\"signal\":65}", 400, -1 },
        { "{\"signal\":-1}", 400, -1 },
        { "{\"signal\":\"RTMIN+99\"}", 400, -1 },
        { "{\"signal\":null}", 400, -1 },
        { "{\"signal\":\"TERM\",\"x\":1}", 400, -1 },
        { "{\"signal\":\"TERM\",\"signal\":\"KILL\"}", 400, -1 },
        { "{}", 400, -1 },
        { "[]", 400, -1 },
        { "{\"signal\":", 400, -1 },
        { "", 400, -1 },
        { "\"TERM\"", 400, -1 },
    };
    for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
        last_signo = -2;
        j = req_full(f, "POST", "/v1/proc/777/signal", "Bearer " TOK_ALL, bodies[i].body,
                     bodies[i].status, NULL);
        if (bodies[i].status == 200 && bodies[i].signo > 0)
            assert_int_equal(last_signo, bodies[i].signo);
        if (bodies[i].status != 200)
            assert_int_equal(last_signo, -2);
        json_decref(j);
    }
    j = req_full(f, "POST", "/v1/proc/abc/signal", "Bearer " TOK_ALL, body, 400, NULL);
    json_decref(j);
    struct api_request rq = { .method = "POST",
                              .uri = "/v1/proc/777/signal",
                              .uri_len = 19,
                              .authorization = "Bearer " TOK_ALL,
                              .body_too_large = true };
    memset(&resp, 0, sizeof(resp));
    api_handle(&f->k, &rq, &resp);
    assert_int_equal(resp.status, 413);
    sbuf_free(&resp.body);

    /* Environment: only by name, only with the scope. */
    j = req_full(f, "GET", "/v1/proc/4242?fields=pid,environ", "Bearer " TOK_READ, NULL, 403, NULL);
    json_decref(j);
    j = req_full(f, "GET", "/v1/proc/4242?fields=pid,environ", "Bearer " TOK_ALL, NULL, 200, NULL);
    json_t *env = json_object_get(j, "environ");
    assert_true(json_is_object(env));
    assert_string_equal(json_string_value(json_object_get(env, "HOME")), "/root");
    assert_string_equal(json_string_value(json_object_get(env, "EMPTY")), "");
    json_decref(j);
    j = req_full(f, "GET", "/v1/proc/4242?fields=all", "Bearer " TOK_ALL, NULL, 200, NULL);
    assert_null(json_object_get(j, "environ"));
    json_decref(j);

    /* Reads open by default, but a wrong token is still refused. */
    j = req_full(f, "GET", "/v1/proc", "Bearer nope-nope-nope-nope", NULL, 401, NULL);
    json_decref(j);
    f->cfg.read_requires_token = true;
    j = get(f, "/v1/proc", 401);
    json_decref(j);
    j = req_full(f, "GET", "/v1/proc?fields=pid", "Bearer " TOK_READ, NULL, 200, NULL);
    json_decref(j);
    f->cfg.read_requires_token = false;
}

static void
test_metrics(void **state)
{
    struct fx *f = *state;
    struct api_response resp;
    memset(&resp, 0, sizeof(resp));
    struct api_request rq = { .method = "GET", .uri = "/metrics", .uri_len = 8 };
    api_handle(&f->k, &rq, &resp);
    assert_int_equal(resp.status, 200);
    assert_non_null(strstr(resp.content_type, "text/plain"));
    const char *b = resp.body.data;
    char want[160];
    snprintf(want, sizeof(want),
             "k2i_process_cpu_seconds_total{pid=\"4242\",comm=\"my (weird) proc\"} %.2f\n",
             1750.0 / (double)f->k.hz);
    assert_non_null(strstr(b, want));
    assert_non_null(strstr(b, "# TYPE k2i_process_cpu_seconds_total counter\n"));
    assert_non_null(strstr(b, "# TYPE k2i_host_memory_total_bytes gauge\n"));
    assert_non_null(strstr(b, "k2i_process_threads{pid=\"4242\",comm=\"my (weird) proc\"} 2\n"));
    sbuf_free(&resp.body);
}

static void
test_signal_names(void **state)
{
    assert_int_equal(api_signal_parse("TERM"), SIGTERM);
    assert_int_equal(api_signal_parse("sigterm"), SIGTERM);
    assert_int_equal(api_signal_parse("RTMIN"), SIGRTMIN);
    assert_int_equal(api_signal_parse("RTMAX-1"), SIGRTMAX - 1);
    assert_int_equal(api_signal_parse("RTMAX+1"), -1);
    assert_int_equal(api_signal_parse(""), -1);
    assert_int_equal(api_signal_parse("SIG"), -1);
    assert_int_equal(api_signal_parse("99"), -1);
    assert_string_equal(api_signal_name(SIGKILL), "KILL");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_info_host_config),
        cmocka_unit_test(test_list),
        cmocka_unit_test(test_one),
        cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_auth_and_signal),
        cmocka_unit_test(test_metrics),
        cmocka_unit_test(test_signal_names),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
