/* SPDX-License-Identifier: Apache-2.0 */
/*
 * TLS for middlecon connections, over GnuTLS: the few calls the broker
 * (broker.c) and the client library (client.c) share. TLS sits below the
 * frame protocol; a TLS connection carries the same frames as a plaintext
 * one. Internal to middlecon, not installed.
 *
 * Every function returns 0 (or a byte count) on success and -errno on
 * failure, never prints, and is safe to call from any thread on distinct
 * sessions. Credentials are read-only once loaded and may be shared by
 * sessions on many threads.
 */
#ifndef KUMO_MIDDLECON_MCTLS_H
#define KUMO_MIDDLECON_MCTLS_H

#include <gnutls/gnutls.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* The scheme prefix of a TLS address: "tls://HOST:PORT". */
#define MCTLS_SCHEME     "tls://"
#define MCTLS_SCHEME_LEN 6

/* Largest plaintext of one TLS record: what one send can carry. */
#define MCTLS_RECORD_MAX 16384

/*
 * Load credentials. ca_file: certificates to trust (NULL: the system trust
 * store when system_ca, else none); cert_file and key_file: our own
 * certificate chain and key (both or neither). On failure *ret_what names
 * the file that failed (borrowed from the arguments). Returns 0 with
 * *ret (gnutls_certificate_free_credentials() it), -ENOENT, -EINVAL
 * (unreadable or bad PEM), -ENOMEM.
 */
int mctls_creds_load(const char *ca_file, bool system_ca, const char *cert_file,
                     const char *key_file, gnutls_certificate_credentials_t *ret,
                     const char **ret_what);

/* Roles of mctls_session_new(). */
enum {
    MCTLS_SERVER = 1,       /* the accepting side */
    MCTLS_REQUIRE_CERT = 2, /* server: the peer must present a certificate we trust */
    MCTLS_CLIENT = 4,       /* the dialling side: the server's certificate is verified */
};

/*
 * A new session over fd (borrowed; the caller keeps and closes it) with
 * the default priorities. Clients verify the server certificate against
 * the trusted CAs and, when host is not NULL, that it is issued for host
 * (a DNS name or an IP address, matched against the subject alternative
 * names); a DNS name is also sent as SNI. Returns 0 with *ret
 * (gnutls_deinit() it), -ENOMEM or -EINVAL.
 */
int mctls_session_new(gnutls_certificate_credentials_t creds, int fd, int role, const char *host,
                      gnutls_session_t *ret);

/*
 * One step of the handshake on a non-blocking socket. Returns 0 when it is
 * complete, -EAGAIN when it waits for the socket (in the direction
 * gnutls_record_get_direction() tells: 0 read, 1 write), -EKEYREJECTED
 * when the peer's certificate failed verification (or is missing where
 * required), -ECONNRESET when the peer closed, -EPROTO for anything else.
 * On failure msg (cap bytes, may be NULL) gets a one-line reason.
 */
int mctls_handshake(gnutls_session_t s, char *msg, size_t cap);

/*
 * Record I/O on a non-blocking socket. Return bytes moved (recv: 0 = the
 * peer closed), or -EAGAIN, -EINTR, -ECONNRESET, -EPROTO. A send that
 * returned -EAGAIN or -EINTR must be repeated with the same buffer and
 * length (GnuTLS has already encrypted the record and only writes it out).
 */
ssize_t mctls_recv(gnutls_session_t s, void *buf, size_t len);
ssize_t mctls_send(gnutls_session_t s, const void *buf, size_t len);

/*
 * After mctls_recv() failed with -EPROTO: if the peer sent a fatal alert,
 * put "TLS: <alert>" in msg and return -EKEYREJECTED for the alerts that
 * refuse a certificate, -EPROTO for the others; without an alert, -EPROTO
 * and msg untouched.
 */
int mctls_alert_error(gnutls_session_t s, char *msg, size_t cap);

/* Wait (poll) for the direction a -EAGAIN handshake or I/O step needs. 0, -ETIMEDOUT, -errno. */
int mctls_wait(gnutls_session_t s, int fd, int timeout_ms);

#endif
