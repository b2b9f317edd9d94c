/* SPDX-License-Identifier: Apache-2.0 */
/*
 * TLS helpers shared by the broker and the client library (see mctls.h):
 * credential loading, session set-up, and GnuTLS return codes mapped to
 * -errno so the callers' I/O paths look like their plaintext ones. Called
 * from broker workers, the broker's peer connector, and client threads.
 */
#include "mctls.h"

#include <errno.h>
#include <gnutls/x509.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static int
load_errno(int rc)
{
    if (rc == GNUTLS_E_FILE_ERROR)
        return -ENOENT;
    if (rc == GNUTLS_E_MEMORY_ERROR)
        return -ENOMEM;
    return -EINVAL;
}

int
mctls_creds_load(const char *ca_file, bool system_ca, const char *cert_file, const char *key_file,
                 gnutls_certificate_credentials_t *ret, const char **ret_what)
{
    gnutls_certificate_credentials_t cr;
    if ((cert_file == NULL) != (key_file == NULL)) {
        *ret_what = cert_file ? cert_file : key_file;
        return -EINVAL;
    }
    if (gnutls_certificate_allocate_credentials(&cr) < 0)
        return -ENOMEM;
    int rc = 0;
    if (ca_file) {
        rc = gnutls_certificate_set_x509_trust_file(cr, ca_file, GNUTLS_X509_FMT_PEM);
        /* A file without a single certificate in it is a mistake, not "trust nothing". */
        if (rc == 0)
            rc = GNUTLS_E_BASE64_DECODING_ERROR;
        if (rc < 0)
            *ret_what = ca_file;
    } else if (system_ca) {
        rc = gnutls_certificate_set_x509_system_trust(cr);
        if (rc < 0)
            *ret_what = "system trust store";
    }
    if (rc >= 0 && cert_file) {
        rc = gnutls_certificate_set_x509_key_file(cr, cert_file, key_file, GNUTLS_X509_FMT_PEM);
        if (rc < 0)
            *ret_what = cert_file;
    }
    if (rc < 0) {
        gnutls_certificate_free_credentials(cr);
        return load_errno(rc);
    }
    *ret = cr;
    return 0;
}

int
mctls_session_new(gnutls_certificate_credentials_t creds, int fd, int role, const char *host,
                  gnutls_session_t *ret)
{
    gnutls_session_t s;
    /* A write to a closed connection must fail with EPIPE, not kill the
     * program: the library cannot assume its caller ignores SIGPIPE. */
    unsigned flags = GNUTLS_NONBLOCK | GNUTLS_NO_SIGNAL;
    if (role & MCTLS_SERVER)
        /* No session tickets: nothing resumes, and they would cost a write
         * after the handshake from a thread that does not own the output. */
        flags |= GNUTLS_SERVER | GNUTLS_NO_TICKETS;
    else
        flags |= GNUTLS_CLIENT;
    if (gnutls_init(&s, flags) < 0)
        return -ENOMEM;
    if (gnutls_set_default_priority(s) < 0 ||
        gnutls_credentials_set(s, GNUTLS_CRD_CERTIFICATE, creds) < 0)
        goto fail;
    if (role & MCTLS_SERVER) {
        if (role & MCTLS_REQUIRE_CERT) {
            gnutls_certificate_server_set_request(s, GNUTLS_CERT_REQUIRE);
            gnutls_session_set_verify_cert(s, NULL, 0);
        }
    } else {
        unsigned char ip[16];
        bool is_ip =
            host && (inet_pton(AF_INET, host, ip) == 1 || inet_pton(AF_INET6, host, ip) == 1);
        /* SNI carries DNS names only (RFC 6066); an IP is still verified. */
        if (host && !is_ip && gnutls_server_name_set(s, GNUTLS_NAME_DNS, host, strlen(host)) < 0)
            goto fail;
        gnutls_session_set_verify_cert(s, host, 0);
    }
    gnutls_transport_set_int(s, fd);
    *ret = s;
    return 0;
fail:
    gnutls_deinit(s);
    return -EINVAL;
}

/* Alerts by which a peer says it does not accept a certificate (or its absence). */
static bool
cert_alert(gnutls_alert_description_t a)
{
    return a == GNUTLS_A_BAD_CERTIFICATE || a == GNUTLS_A_CERTIFICATE_REQUIRED ||
           a == GNUTLS_A_UNKNOWN_CA || a == GNUTLS_A_CERTIFICATE_UNKNOWN ||
           a == GNUTLS_A_UNSUPPORTED_CERTIFICATE || a == GNUTLS_A_CERTIFICATE_EXPIRED ||
           a == GNUTLS_A_CERTIFICATE_REVOKED;
}

int
mctls_handshake(gnutls_session_t s, char *msg, size_t cap)
{
    int rc = gnutls_handshake(s);
    if (rc == GNUTLS_E_SUCCESS)
        return 0;
    if (rc == GNUTLS_E_AGAIN || rc == GNUTLS_E_INTERRUPTED || !gnutls_error_is_fatal(rc))
        return -EAGAIN;
    /* Tell the peer why (best effort, never waiting), so it can say so too. */
    gnutls_alert_send_appropriate(s, rc);
    int err = -EPROTO;
    const char *what = gnutls_strerror(rc);
    gnutls_datum_t out = { NULL, 0 };
    if (rc == GNUTLS_E_CERTIFICATE_VERIFICATION_ERROR) {
        err = -EKEYREJECTED;
        unsigned status = gnutls_session_get_verify_cert_status(s);
        if (gnutls_certificate_verification_status_print(status, GNUTLS_CRT_X509, &out, 0) == 0)
            what = (const char *)out.data;
    } else if (rc == GNUTLS_E_NO_CERTIFICATE_FOUND || rc == GNUTLS_E_CERTIFICATE_REQUIRED ||
               rc == GNUTLS_E_CERTIFICATE_ERROR) {
        err = -EKEYREJECTED;
    } else if (rc == GNUTLS_E_PREMATURE_TERMINATION || rc == GNUTLS_E_PUSH_ERROR ||
               rc == GNUTLS_E_PULL_ERROR) {
        err = -ECONNRESET;
    } else if (rc == GNUTLS_E_FATAL_ALERT_RECEIVED) {
        what = gnutls_alert_get_name(gnutls_alert_get(s));
        if (cert_alert(gnutls_alert_get(s)))
            err = -EKEYREJECTED;
    }
    if (msg && cap) {
        snprintf(msg, cap, "TLS handshake: %s", what ? what : "failed");
        size_t n = strlen(msg);
        while (n > 0 && msg[n - 1] == ' ')
            msg[--n] = 0;
    }
    gnutls_free(out.data);
    return err;
}

int
mctls_alert_error(gnutls_session_t s, char *msg, size_t cap)
{
    const char *name = gnutls_alert_get_name(gnutls_alert_get(s));
    if (!name || gnutls_alert_get(s) == GNUTLS_A_CLOSE_NOTIFY)
        return -EPROTO;
    if (msg && cap)
        snprintf(msg, cap, "TLS: %s", name);
    return cert_alert(gnutls_alert_get(s)) ? -EKEYREJECTED : -EPROTO;
}

static ssize_t
io_errno(ssize_t rc)
{
    if (rc >= 0)
        return rc;
    switch (rc) {
    case GNUTLS_E_AGAIN:
        return -EAGAIN;
    case GNUTLS_E_INTERRUPTED:
        return -EINTR;
    case GNUTLS_E_PREMATURE_TERMINATION:
    case GNUTLS_E_PUSH_ERROR:
    case GNUTLS_E_PULL_ERROR:
        return -ECONNRESET;
    default:
        /* Renegotiation requests, bad records, alerts: end the connection. */
        return -EPROTO;
    }
}

ssize_t
mctls_recv(gnutls_session_t s, void *buf, size_t len)
{
    return io_errno(gnutls_record_recv(s, buf, len));
}

ssize_t
mctls_send(gnutls_session_t s, const void *buf, size_t len)
{
    return io_errno(gnutls_record_send(s, buf, len));
}

int
mctls_wait(gnutls_session_t s, int fd, int timeout_ms)
{
    struct pollfd pf = { .fd = fd, .events = gnutls_record_get_direction(s) ? POLLOUT : POLLIN };
    int r = poll(&pf, 1, timeout_ms);
    if (r < 0)
        return errno == EINTR ? 0 : -errno;
    return r == 0 ? -ETIMEDOUT : 0;
}
