/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of mctls.c, the TLS helpers of the broker and libmiddlecon:
 * credential errors, a non-blocking handshake between two sessions over a
 * socketpair, host name verification, input left pending inside GnuTLS, and
 * a send that hits EAGAIN being completed by offering the same buffer again.
 * Certificates are made with openssl in a temporary directory (skipped, exit
 * 77, when openssl is missing).
 */
#include "mctls.h"

#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

static char dir[] = "/tmp/test-mctls.XXXXXX";

static const char *
path(const char *name)
{
    static char buf[4][256];
    static int i;
    i = (i + 1) % 4;
    snprintf(buf[i], sizeof(buf[i]), "%s/%s", dir, name);
    return buf[i];
}

static int
make_certs(void)
{
    char cmd[2048];
    snprintf(cmd, sizeof(cmd),
             "(cd %s && "
             "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
             "-keyout ca.key -out ca.pem -days 2 -subj /CN=ca && "
             "openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
             "-keyout srv.key -out srv.csr -subj /CN=srv && "
             "echo subjectAltName=IP:127.0.0.1,DNS:localhost > srv.ext && "
             "openssl x509 -req -in srv.csr -CA ca.pem -CAkey ca.key -CAcreateserial "
             "-out srv.pem -days 2 -extfile srv.ext && : > empty.pem) >/dev/null 2>&1",
             dir);
    return system(cmd) == 0 ? 0 : -1;
}

static void
test_creds_errors(void **state)
{
    (void)state;
    gnutls_certificate_credentials_t cr = NULL;
    const char *what = NULL;
    assert_int_equal(mctls_creds_load("/nonexistent/ca.pem", false, NULL, NULL, &cr, &what),
                     -ENOENT);
    assert_string_equal(what, "/nonexistent/ca.pem");
    /* A CA file without a certificate is an error, not "trust nothing". */
    assert_int_equal(mctls_creds_load(path("empty.pem"), false, NULL, NULL, &cr, &what), -EINVAL);
    assert_int_equal(mctls_creds_load(NULL, false, path("srv.pem"), NULL, &cr, &what), -EINVAL);
    /* A key that does not belong to the certificate. */
    assert_int_equal(mctls_creds_load(NULL, false, path("srv.pem"), path("ca.key"), &cr, &what),
                     -EINVAL);
    assert_null(cr);
    assert_int_equal(mctls_creds_load(path("ca.pem"), false, NULL, NULL, &cr, &what), 0);
    gnutls_certificate_free_credentials(cr);
}

struct pair {
    int fd[2];
    gnutls_certificate_credentials_t scr, ccr;
    gnutls_session_t s, c;
};

static void
pair_open(struct pair *p, const char *host)
{
    const char *what;
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, p->fd), 0);
    assert_int_equal(
        mctls_creds_load(NULL, false, path("srv.pem"), path("srv.key"), &p->scr, &what), 0);
    assert_int_equal(mctls_creds_load(path("ca.pem"), false, NULL, NULL, &p->ccr, &what), 0);
    assert_int_equal(mctls_session_new(p->scr, p->fd[0], MCTLS_SERVER, NULL, &p->s), 0);
    assert_int_equal(mctls_session_new(p->ccr, p->fd[1], MCTLS_CLIENT, host, &p->c), 0);
}

static void
pair_close(struct pair *p)
{
    gnutls_deinit(p->s);
    gnutls_deinit(p->c);
    gnutls_certificate_free_credentials(p->scr);
    gnutls_certificate_free_credentials(p->ccr);
    close(p->fd[0]);
    close(p->fd[1]);
}

/*
 * Open a pair whose client expects host, and step both handshakes in turn
 * until neither waits. Returns the client's result; the server's in *ret_server.
 */
static int
handshake(struct pair *p, const char *host, int *ret_server, char *msg, size_t cap)
{
    pair_open(p, host);
    int rs = -EAGAIN, rc = -EAGAIN;
    for (int i = 0; i < 100 && (rs == -EAGAIN || rc == -EAGAIN); i++) {
        if (rc == -EAGAIN)
            rc = mctls_handshake(p->c, msg, cap);
        if (rs == -EAGAIN)
            rs = mctls_handshake(p->s, NULL, 0);
    }
    *ret_server = rs;
    return rc;
}

static void
test_handshake_pending_and_again(void **state)
{
    (void)state;
    struct pair p;
    int rs;
    assert_int_equal(handshake(&p, "127.0.0.1", &rs, NULL, 0), 0);
    assert_int_equal(rs, 0);

    /* One 1000-byte record read 100 bytes at a time: the rest waits in
     * GnuTLS, where only gnutls_record_check_pending() sees it. */
    uint8_t out[1000], in[1000];
    for (size_t i = 0; i < sizeof(out); i++)
        out[i] = (uint8_t)i;
    assert_int_equal(mctls_send(p.c, out, sizeof(out)), (ssize_t)sizeof(out));
    assert_int_equal(mctls_recv(p.s, in, 100), 100);
    assert_int_equal(gnutls_record_check_pending(p.s), 900);
    assert_int_equal(mctls_recv(p.s, in + 100, 900), 900);
    assert_memory_equal(in, out, sizeof(out));
    assert_int_equal(mctls_recv(p.s, in, 100), -EAGAIN);

    /* Fill the socket until a send would block, then offer the same
     * buffer again once the reader made room: it completes. */
    static uint8_t big[MCTLS_RECORD_MAX];
    memset(big, 'x', sizeof(big));
    ssize_t n;
    size_t sent = 0;
    while ((n = mctls_send(p.c, big, sizeof(big))) > 0)
        sent += (size_t)n;
    assert_int_equal(n, -EAGAIN);
    static uint8_t sink[1 << 16];
    size_t got = 0;
    while ((n = mctls_recv(p.s, sink, sizeof(sink))) > 0)
        got += (size_t)n;
    assert_int_equal(got, sent);
    assert_int_equal(mctls_send(p.c, big, sizeof(big)), (ssize_t)sizeof(big));
    got = 0;
    while ((n = mctls_recv(p.s, sink, sizeof(sink))) > 0)
        got += (size_t)n;
    assert_int_equal(got, sizeof(big));

    /* close_notify reads as end of stream. */
    gnutls_bye(p.c, GNUTLS_SHUT_WR);
    assert_int_equal(mctls_recv(p.s, sink, sizeof(sink)), 0);
    pair_close(&p);
}

static void
test_wrong_host_is_rejected(void **state)
{
    (void)state;
    struct pair p;
    int rs;
    char msg[256] = "";
    assert_int_equal(handshake(&p, "elsewhere.example", &rs, msg, sizeof(msg)), -EKEYREJECTED);
    assert_non_null(strstr(msg, "TLS handshake:"));
    assert_non_null(strstr(msg, "does not match"));
    assert_int_not_equal(rs, 0);
    pair_close(&p);
}

static void
test_not_tls_is_a_protocol_error(void **state)
{
    (void)state;
    struct pair p;
    pair_open(&p, NULL);
    /* A plaintext middlecon HELLO where a ClientHello belongs. */
    static const uint8_t hello[] = { 0, 0, 0, 20, 1, 0, 0, 0, 0, 0, 0, 1, 0, 1, 0, 0, 0, 0, 0, 0 };
    assert_int_equal(write(p.fd[1], hello, sizeof(hello)), (ssize_t)sizeof(hello));
    char msg[256] = "";
    int r = mctls_handshake(p.s, msg, sizeof(msg));
    assert_true(r == -EPROTO || r == -ECONNRESET);
    pair_close(&p);
}

int
main(void)
{
    if (!mkdtemp(dir))
        return 1;
    if (make_certs() < 0) {
        fprintf(stderr, "openssl could not make the test certificates: skipped\n");
        return 77;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_creds_errors),
        cmocka_unit_test(test_handshake_pending_and_again),
        cmocka_unit_test(test_wrong_host_is_rejected),
        cmocka_unit_test(test_not_tls_is_a_protocol_error),
    };
    int r = cmocka_run_group_tests(tests, NULL, NULL);
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    if (system(cmd) != 0)
        r = r ? r : 1;
    return r;
}
