/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz k2i's request handling: the path router, pid parsing, the query
 * string parser, the Authorization header and the signal body, all through
 * api_handle(), over the fake /proc tree in tests/unit/k2i/fixtures/proc
 * (so it is fast and deterministic) with privileged operations stubbed.
 *
 * Input layout: byte 0 picks the method, then NUL-separated fields:
 * request target, Authorization header, body.
 */
#include "api.h"
#include "k2i.h"

#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int
stub_signal(void *ctx, const char *token, int pid, int signo, char *msg, size_t cap)
{
    return 200;
}

static int
stub_environ(void *ctx, const char *token, int pid, int *ret_fd, char *msg, size_t cap)
{
    *ret_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    return *ret_fd >= 0 ? 200 : 500;
}

static int
stub_ns(void *ctx, const char *token, const int *ids, size_t n, uint64_t (*ret)[PROCFS_NS_COUNT])
{
    for (size_t i = 0; i < n; i++)
        for (int j = 0; j < PROCFS_NS_COUNT; j++)
            ret[i][j] = 4026531835u + (unsigned)j;
    return 200;
}

static const struct k2i_privops stub_ops = { stub_signal, stub_environ, stub_ns };

static struct k2i_config cfg;
static struct k2i k;
static int procfd = -1;

static void
setup(void)
{
    if (procfd >= 0)
        return;
    k2i_config_init(&cfg);
    /* One token with every scope: "fuzz-token-0123456789". */
    const char *conf = "{\"tokens\":[{\"name\":\"all\",\"token\":\"fuzz-token-0123456789\","
                       "\"scopes\":[\"read\",\"signal\",\"environ\"]}]}";
    k2i_config_parse(&cfg, conf, strlen(conf), NULL);
    k2i_config_add_listen(&cfg, "127.0.0.1:0", NULL);
    procfd = open(K2I_FIXTURES "/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (procfd < 0)
        abort();
    if (api_init(&k, &cfg, procfd, NULL, &stub_ops, NULL) < 0)
        abort();
    k.ns_via_priv = true;
    /* Small, so that fuzzed listings also fill it up and sweep it. */
    k.fdcache = procfs_fdcache_new(2);
    k.fdcache_max = 2;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const methods[] = { "GET", "POST", "HEAD", "PUT", "DELETE", "OPTIONS" };
    setup();
    if (size < 1)
        return 0;
    const char *method = methods[data[0] % 6];
    char *buf = malloc(size);
    if (!buf)
        return 0;
    memcpy(buf, data + 1, size - 1);
    buf[size - 1] = '\0';
    size_t n = size - 1;

    /* Split into target, authorization, body at the first two NULs. */
    char *target = buf;
    size_t tlen = strnlen(target, n);
    char *auth = NULL, *body = NULL;
    size_t blen = 0;
    if (tlen < n) {
        auth = target + tlen + 1;
        size_t alen = strnlen(auth, n - tlen - 1);
        if (tlen + 1 + alen < n) {
            body = auth + alen + 1;
            blen = n - (tlen + 1 + alen + 1);
        }
    }
    struct api_request req = {
        .method = method,
        .uri = target,
        .uri_len = tlen,
        .authorization = auth && *auth ? auth : NULL,
        .body = body,
        .body_len = blen,
    };
    struct api_response resp;
    memset(&resp, 0, sizeof(resp));
    api_handle(&k, &req, &resp);
    if (resp.status < 200 || resp.status > 599 || !resp.body.data)
        abort();
    /* Every error must be JSON with the status in it. */
    if (resp.status >= 400 && strncmp(resp.body.data, "{\"error\":{\"code\":", 17) != 0)
        abort();
    sbuf_free(&resp.body);
    free(buf);
    return 0;
}
