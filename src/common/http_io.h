/* http_io.h — the byte transport under the HTTP server (http_server.c): one accepted TCP socket,
 * plain or TLS (GnuTLS with a PEM certificate and key), read with a deadline and written whole.
 * Every wait has an end: reads take a deadline; writes end with the socket's send timeout
 * (SO_SNDTIMEO, set by the server) or when another thread shuts the socket down. */
#ifndef LEPTON_COMMON_HTTP_IO_H
#define LEPTON_COMMON_HTTP_IO_H

#include <stddef.h>
#include <stdint.h>

/* A certificate (chain) and its private key, parsed and checked to be a pair. */
typedef struct lp_tls_creds lp_tls_creds;

/* Parses PEM texts (NUL-terminated) into credentials. Returns 0, or -1 with GnuTLS's reason in err
 * (not PEM, or the key does not belong to the certificate). */
int lp_tls_creds_new(const char *cert_pem, const char *key_pem, lp_tls_creds **out, char *err, size_t en);
void lp_tls_creds_free(lp_tls_creds *c);

typedef struct lp_io {
    int fd;
    void *tls; /* gnutls_session_t, or NULL for plain TCP */
} lp_io;

enum { LP_IO_EOF = 0, LP_IO_ERR = -1, LP_IO_TIMEOUT = -2 };

/* Makes io a TLS server session on fd and runs the handshake until deadline_ns (lp_mono_ns time).
 * The socket must have a short receive timeout (SO_RCVTIMEO) so that a silent peer cannot hold a
 * read past the deadline. Returns 0, or -1 (io stays plain; the caller closes the socket). */
int lp_io_tls_begin(lp_io *io, lp_tls_creds *creds, int64_t deadline_ns);
/* Reads up to cap bytes (at least one), waiting until deadline_ns at most. Returns the count, or
 * LP_IO_EOF (the peer closed), LP_IO_ERR, LP_IO_TIMEOUT. */
long lp_io_read(lp_io *io, void *buf, size_t cap, int64_t deadline_ns);
/* Writes a (an bytes) then b (bn bytes; b may be NULL), all of them, as one piece where the
 * transport allows. Returns 0, or -1 when the connection failed or the send timed out. */
int lp_io_write2(lp_io *io, const void *a, size_t an, const void *b, size_t bn);
/* Ends the TLS session (close_notify, without waiting for the peer's) and frees it; a no-op on plain
 * TCP. Does not close the socket. */
void lp_io_end(lp_io *io);

#endif
