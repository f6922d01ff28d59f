/* dp_stream.c — one connection of the data plane's stream (docs/dataplane.md "The stream"): a
 * curl easy handle set up like every other data-plane handle (dp_http.c: same TLS and CA options,
 * TCP_NODELAY, keep-alive probes) connects with CURLOPT_CONNECT_ONLY, sends the upgrade request
 * `GET /v1/stream` and reads the 101; from then on bytes move without curl's HTTP layer. In
 * plaintext the socket itself is used (writev and recv straight from and into the caller's
 * memory); over TLS, curl_easy_send and curl_easy_recv.
 *
 * This file only moves bytes; the frames, the requests awaiting answers and the fallback to HTTP
 * are dp_stream_jobs.c's. A connection is used by one thread at a time: the holder of the lease's
 * driver role (dp_drive.c), which owns the worker's lc_wstream. */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "clock.h"
#include "dataplane.h"
#include "lease.h"
#include "wire_stream.h"

#define ST_HANDSHAKE_MS 3000 /* connect + upgrade answer, at most (the HTTP path covers a slow worker) */
#define ST_SOCKBUF (4 << 20) /* socket buffers: a 256 MiB write moves in few system calls */
#define ST_ANSWER_MAX 8192   /* the upgrade's answer head */

struct lc_stream {
    lp_http_conn *easy;
    CURL *curl;
    int fd;
    int tls;
    /* Bytes that came with the upgrade's answer past its head (the worker sends none before a
     * request, but nothing is lost if it did). */
    unsigned char *pre;
    size_t pre_len, pre_pos;
};

int lc_stream_fd(const lc_stream *s) { return s->fd; }

void lc_stream_close(lc_stream *s) {
    if (!s) return;
    lp_http_conn_free(s->easy); /* closes the connection */
    free(s->pre);
    free(s);
}

/* Waits until the socket is ready for `events` or ms pass; 1 ready, 0 timeout, -1 error. */
static int wait_fd(int fd, short events, int ms) {
    struct pollfd p = {fd, events, 0};
    for (;;) {
        int n = poll(&p, 1, ms);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return -1;
        return n > 0;
    }
}

/* Sends n bytes with curl (the upgrade request, or TLS data); 0 or -1. */
static int curl_send_all(lc_stream *s, const char *p, size_t n, int64_t deadline_ns) {
    while (n) {
        size_t sent = 0;
        CURLcode cc = curl_easy_send(s->curl, p, n, &sent);
        if (cc == CURLE_AGAIN) {
            int64_t left = deadline_ns - lp_mono_ns();
            if (left <= 0 || wait_fd(s->fd, POLLOUT, (int)(left / 1000000) + 1) < 0) return -1;
            continue;
        }
        if (cc != CURLE_OK) return -1;
        p += sent;
        n -= sent;
    }
    return 0;
}

lc_stream *lc_stream_open(lc_dp *dp, uint32_t worker, char *why, size_t n, int *http) {
    lc_worker *w = &dp->workers[worker];
    *http = 0;
    lc_stream *s = calloc(1, sizeof *s);
    if (!s || !(s->easy = lc_easy_take(dp, NULL))) {
        free(s);
        snprintf(why, n, "out of memory");
        return NULL;
    }
    s->curl = s->easy->curl;
    s->tls = !strncmp(w->url, "https://", 8);
    long connect_ms = dp->timeout_ms < ST_HANDSHAKE_MS ? dp->timeout_ms : ST_HANDSHAKE_MS;
    curl_easy_setopt(s->curl, CURLOPT_URL, w->url);
    curl_easy_setopt(s->curl, CURLOPT_CONNECT_ONLY, 1L);
    curl_easy_setopt(s->curl, CURLOPT_CONNECTTIMEOUT_MS, connect_ms);
    CURLcode cc = curl_easy_perform(s->curl);
    curl_socket_t sock = CURL_SOCKET_BAD;
    if (cc == CURLE_OK) cc = curl_easy_getinfo(s->curl, CURLINFO_ACTIVESOCKET, &sock);
    if (cc != CURLE_OK || sock == CURL_SOCKET_BAD) {
        const char *e = s->easy->errbuf;
        snprintf(why, n, "cannot connect: %s", e && *e ? e : curl_easy_strerror(cc));
        lc_stream_close(s);
        return NULL;
    }
    s->fd = (int)sock;
    int one = 1, buf = ST_SOCKBUF;
    setsockopt(s->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    setsockopt(s->fd, SOL_SOCKET, SO_SNDBUF, &buf, sizeof buf);
    setsockopt(s->fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof buf);

    /* The upgrade: the token is checked once, here. The Authorization line is the lease's
     * (dp->raw_headers' first line), so it is never copied into another long-lived place. */
    const char *auth = dp->raw_headers ? dp->raw_headers->data : "";
    const char *host = strstr(w->url, "://");
    host = host ? host + 3 : w->url;
    char session[64] = ""; /* the stream's jobs belong to the handle's session (0: no header) */
    if (dp->lease->session)
        snprintf(session, sizeof session, LC_SESSION_HEADER ": %" PRIu64 "\r\n", dp->lease->session);
    char req[1536];
    int len = snprintf(req, sizeof req,
                       "GET " WS_PATH " HTTP/1.1\r\nHost: %s\r\n%s\r\n%sConnection: Upgrade\r\n"
                       "Upgrade: " WS_PROTOCOL "\r\nUser-Agent: liblepton/" LEPTON_LIBRARY_VERSION "\r\n\r\n",
                       host, auth, session);
    int64_t deadline = lp_mono_ns() + (int64_t)connect_ms * 1000000;
    if (len <= 0 || (size_t)len >= sizeof req || curl_send_all(s, req, (size_t)len, deadline)) {
        memset(req, 0, sizeof req);
        snprintf(why, n, "cannot send the upgrade request");
        lc_stream_close(s);
        return NULL;
    }
    memset(req, 0, sizeof req); /* it held the token */

    char head[ST_ANSWER_MAX + 1];
    size_t got = 0;
    char *end = NULL;
    while (!end) {
        if (got == ST_ANSWER_MAX) {
            snprintf(why, n, "the upgrade's answer has no end of headers in %d bytes", ST_ANSWER_MAX);
            goto fail;
        }
        size_t k = 0;
        cc = curl_easy_recv(s->curl, head + got, ST_ANSWER_MAX - got, &k);
        if (cc == CURLE_AGAIN) {
            int64_t left = deadline - lp_mono_ns();
            if (left <= 0 || wait_fd(s->fd, POLLIN, (int)(left / 1000000) + 1) <= 0) {
                snprintf(why, n, "no answer to the upgrade within %ld ms", connect_ms);
                goto fail;
            }
            continue;
        }
        if (cc != CURLE_OK || k == 0) {
            snprintf(why, n, "the connection closed during the upgrade (%s)",
                     cc == CURLE_OK ? "end of stream" : curl_easy_strerror(cc));
            goto fail;
        }
        got += k;
        head[got] = '\0';
        end = strstr(head, "\r\n\r\n");
    }
    int code = 0;
    if (sscanf(head, "HTTP/1.%*d %d", &code) != 1) code = 0;
    *http = code;
    if (code != 101) {
        char line[120];
        size_t ll = strcspn(head, "\r\n");
        snprintf(line, sizeof line, "%.*s", (int)(ll < 100 ? ll : 100), head);
        snprintf(why, n, "the worker refused the upgrade: \"%s\"", line);
        goto fail;
    }
    size_t used = (size_t)(end + 4 - head);
    if (got > used) {
        s->pre = malloc(got - used);
        if (!s->pre) {
            snprintf(why, n, "out of memory");
            goto fail;
        }
        memcpy(s->pre, head + used, got - used);
        s->pre_len = got - used;
    }
    return s;
fail:
    lc_stream_close(s);
    return NULL;
}

ssize_t lc_stream_recv(lc_stream *s, void *p, size_t n) {
    if (s->pre_pos < s->pre_len) {
        size_t k = s->pre_len - s->pre_pos < n ? s->pre_len - s->pre_pos : n;
        memcpy(p, s->pre + s->pre_pos, k);
        s->pre_pos += k;
        return (ssize_t)k;
    }
    if (n > SSIZE_MAX) n = SSIZE_MAX;
    if (!s->tls) {
        for (;;) {
            ssize_t k = recv(s->fd, p, n, MSG_DONTWAIT);
            if (k > 0) return k;
            if (k == 0) return -1; /* closed */
            if (errno == EINTR) continue;
            return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -1;
        }
    }
    size_t k = 0;
    CURLcode cc = curl_easy_recv(s->curl, p, n, &k);
    if (cc == CURLE_AGAIN) return 0;
    if (cc != CURLE_OK || k == 0) return -1;
    return (ssize_t)k;
}

/* Writes some of iov; returns bytes written, 0 when the socket is full, -1 broken. */
static ssize_t send_some(lc_stream *s, const struct iovec *iov, int n) {
    if (!s->tls) {
        for (;;) {
            ssize_t k = writev(s->fd, iov, n > IOV_MAX ? IOV_MAX : n);
            if (k >= 0) return k;
            if (errno == EINTR) continue;
            return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -1;
        }
    }
    size_t sent = 0;
    CURLcode cc = curl_easy_send(s->curl, iov[0].iov_base, iov[0].iov_len, &sent);
    if (cc == CURLE_AGAIN) return 0;
    return cc == CURLE_OK ? (ssize_t)sent : -1;
}

int lc_stream_send(lc_stream *s, struct iovec *iov, int n, int (*pump)(void *), void *user, int64_t idle_ns) {
    int64_t last = lp_mono_ns();
    while (n > 0) {
        if (iov->iov_len == 0) {
            iov++;
            n--;
            continue;
        }
        ssize_t k = send_some(s, iov, n);
        if (k < 0) return -1;
        if (k == 0) {
            /* The socket is full: the worker may be writing answers that nobody reads. Read
             * them (pump) while waiting, so both ends never wait on each other. */
            if (lp_mono_ns() - last > idle_ns) return -1;
            struct pollfd p = {s->fd, POLLOUT | POLLIN, 0};
            int r = poll(&p, 1, 100);
            if (r < 0 && errno != EINTR) return -1;
            if (r > 0 && (p.revents & POLLIN) && pump && pump(user)) return -1;
            if (r > 0 && (p.revents & (POLLERR | POLLHUP | POLLNVAL)) && !(p.revents & POLLOUT)) return -1;
            continue;
        }
        last = lp_mono_ns();
        ws_iov_advance(&iov, &n, (size_t)k);
    }
    return 0;
}
