/* http_io.c — plain and TLS (GnuTLS) reads with deadlines and whole writes on one accepted socket
 * (http_io.h); the TLS credentials made from PEM texts. */
#include "http_io.h"

#include <errno.h>
#include <gnutls/gnutls.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "clock.h"
#include "strutil.h"

struct lp_tls_creds {
    gnutls_certificate_credentials_t cred;
    gnutls_priority_t prio;
};

int lp_tls_creds_new(const char *cert_pem, const char *key_pem, lp_tls_creds **out, char *err, size_t en) {
    *out = NULL;
    lp_tls_creds *c = calloc(1, sizeof *c);
    if (!c) {
        lp_set_err(err, en, "out of memory");
        return -1;
    }
    int rc = gnutls_certificate_allocate_credentials(&c->cred);
    if (rc < 0) {
        free(c);
        lp_set_err(err, en, "GnuTLS: %s", gnutls_strerror(rc));
        return -1;
    }
    gnutls_datum_t cert = {(unsigned char *)(uintptr_t)cert_pem, (unsigned)strlen(cert_pem)};
    gnutls_datum_t key = {(unsigned char *)(uintptr_t)key_pem, (unsigned)strlen(key_pem)};
    rc = gnutls_certificate_set_x509_key_mem2(c->cred, &cert, &key, GNUTLS_X509_FMT_PEM, NULL, 0);
    if (rc >= 0) rc = gnutls_priority_init(&c->prio, NULL, NULL); /* the system's default */
    if (rc < 0) {
        lp_set_err(err, en, "GnuTLS: %s", gnutls_strerror(rc));
        gnutls_certificate_free_credentials(c->cred);
        free(c);
        return -1;
    }
    *out = c;
    return 0;
}

void lp_tls_creds_free(lp_tls_creds *c) {
    if (!c) return;
    gnutls_priority_deinit(c->prio);
    gnutls_certificate_free_credentials(c->cred);
    free(c);
}

/* Milliseconds left until deadline_ns, at least 1 while any time is left, 0 after. */
static int ms_left(int64_t deadline_ns) {
    int64_t left = deadline_ns - lp_mono_ns();
    if (left <= 0) return 0;
    int64_t ms = (left + 999999) / 1000000;
    return ms > 1000000000 ? 1000000000 : (int)ms;
}

int lp_io_tls_begin(lp_io *io, lp_tls_creds *creds, int64_t deadline_ns) {
    gnutls_session_t s;
    if (gnutls_init(&s, GNUTLS_SERVER | GNUTLS_NO_SIGNAL) < 0) return -1;
    if (gnutls_priority_set(s, creds->prio) < 0 ||
        gnutls_credentials_set(s, GNUTLS_CRD_CERTIFICATE, creds->cred) < 0) {
        gnutls_deinit(s);
        return -1;
    }
    gnutls_certificate_server_set_request(s, GNUTLS_CERT_IGNORE);
    gnutls_transport_set_int(s, io->fd);
    for (;;) {
        int ms = ms_left(deadline_ns);
        if (!ms) break;
        gnutls_handshake_set_timeout(s, (unsigned)ms);
        int rc = gnutls_handshake(s);
        if (rc == GNUTLS_E_SUCCESS) {
            io->tls = s;
            return 0;
        }
        if (rc != GNUTLS_E_AGAIN && rc != GNUTLS_E_INTERRUPTED) break;
    }
    gnutls_deinit(s);
    return -1;
}

long lp_io_read(lp_io *io, void *buf, size_t cap, int64_t deadline_ns) {
    if (io->tls) {
        gnutls_session_t s = io->tls;
        for (;;) {
            if (!gnutls_record_check_pending(s)) {
                int ms = ms_left(deadline_ns);
                if (!ms) return LP_IO_TIMEOUT;
                gnutls_record_set_timeout(s, (unsigned)ms);
            }
            ssize_t r = gnutls_record_recv(s, buf, cap);
            if (r > 0) return (long)r;
            if (r == 0 || r == GNUTLS_E_PREMATURE_TERMINATION) return LP_IO_EOF;
            if (r == GNUTLS_E_TIMEDOUT) return LP_IO_TIMEOUT;
            if (r != GNUTLS_E_AGAIN && r != GNUTLS_E_INTERRUPTED) return LP_IO_ERR;
            if (lp_mono_ns() >= deadline_ns) return LP_IO_TIMEOUT;
        }
    }
    for (;;) {
        /* what is there already is taken without a poll (the common case of a busy connection) */
        ssize_t r = recv(io->fd, buf, cap, MSG_DONTWAIT);
        if (r > 0) return (long)r;
        if (r == 0) return LP_IO_EOF;
        if (errno == EINTR) continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK) return errno == ECONNRESET ? LP_IO_EOF : LP_IO_ERR;
        int ms = ms_left(deadline_ns);
        if (!ms) return LP_IO_TIMEOUT;
        struct pollfd p = {io->fd, POLLIN, 0};
        int pr = poll(&p, 1, ms);
        if (pr < 0 && errno != EINTR) return LP_IO_ERR;
        if (pr == 0 && !ms_left(deadline_ns)) return LP_IO_TIMEOUT;
    }
}

static int tls_send_all(gnutls_session_t s, const char *p, size_t n) {
    while (n) {
        ssize_t w = gnutls_record_send(s, p, n);
        if (w == GNUTLS_E_INTERRUPTED) continue;
        if (w <= 0) return -1; /* GNUTLS_E_AGAIN: the send timeout passed */
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

int lp_io_write2(lp_io *io, const void *a, size_t an, const void *b, size_t bn) {
    if (!b) bn = 0;
    if (io->tls) {
        gnutls_session_t s = io->tls;
        if (an + bn <= 16384) { /* one record */
            gnutls_record_cork(s);
            if (tls_send_all(s, a, an) != 0 || tls_send_all(s, b, bn) != 0) return -1;
            for (;;) {
                int rc = gnutls_record_uncork(s, GNUTLS_RECORD_WAIT);
                if (rc >= 0) return 0;
                if (rc != GNUTLS_E_INTERRUPTED) return -1;
            }
        }
        return tls_send_all(s, a, an) == 0 && tls_send_all(s, b, bn) == 0 ? 0 : -1;
    }
    struct iovec iov[2] = {{(void *)(uintptr_t)a, an}, {(void *)(uintptr_t)b, bn}};
    int k = 0, cnt = bn ? 2 : 1;
    if (!an) k = 1;
    while (k < cnt) {
        struct msghdr m = {.msg_iov = iov + k, .msg_iovlen = (size_t)(cnt - k)};
        ssize_t w = sendmsg(io->fd, &m, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EINTR) continue;
            return -1; /* EAGAIN: the send timeout passed */
        }
        size_t left = (size_t)w;
        while (k < cnt && left >= iov[k].iov_len) {
            left -= iov[k].iov_len;
            k++;
        }
        if (k < cnt) {
            iov[k].iov_base = (char *)iov[k].iov_base + left;
            iov[k].iov_len -= left;
        }
    }
    return 0;
}

void lp_io_end(lp_io *io) {
    if (!io->tls) return;
    (void)gnutls_bye(io->tls, GNUTLS_SHUT_WR);
    gnutls_deinit(io->tls);
    io->tls = NULL;
}
