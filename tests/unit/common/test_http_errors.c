/* test_http_errors.c — every error a client can provoke with a malformed request head gets the
 * protocol's JSON error body (src/common/http_server.c), never an HTML page: a bad request line, an
 * over-long URI (414), an oversized head (431), a header line without a colon, a bad or absurd chunk
 * size (answered at once, not after the stall time), NUL bytes where the head has no room for them,
 * a missing Host, a bad Content-Length, an unknown HTTP version — as a connection's first request
 * and as a later one on a keep-alive connection, over plain HTTP and over HTTPS (a self-signed
 * certificate made with openssl at run time; that half is skipped without the openssl command).
 * Raw sockets (and raw TLS records, through GnuTLS) against the one HTTP server, as the broker, the
 * agent and the workers run it; good requests still pass. */
#include <gnutls/gnutls.h>
#include <jansson.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "check.h"
#include "clock.h"
#include "http_server.h"
#include "net.h"

static int g_port;
/* set: ask() and the keep-alive checks speak TLS (GnuTLS, the server's certificate not verified) */
static int g_tls;
static gnutls_certificate_credentials_t g_cred;
/* bytes of a head the server takes with its default connection memory (64 KiB) */
#define HEAD_OK (24 * 1024)

static void h_echo(lp_http_req *r, void *user) {
    (void)user;
    json_t *j = lp_http_json_body(r);
    if (!j) return;
    lp_http_reply_json_take(r, 200, j);
}

static int on_chunk(lp_http_req *r, const char *data, size_t n, void *user) {
    (void)r;
    (void)data;
    (void)n;
    (void)user;
    return 0;
}

static void h_upload(lp_http_req *r, void *user) {
    (void)user;
    lp_http_reply_json_take(r, 200, json_pack("{s:b}", "ok", 1));
}

typedef struct answer {
    int status;
    int json_type; /* the Content-Type is application/json */
    int closes;    /* "Connection: close" */
    char code[64];
    char message[512];
    double secs;
    char raw[512]; /* the start of the answer, for messages */
} answer;

/* Parses an HTTP answer: status, Content-Type, and a body of the shape {"error": {"code",
 * "message", "hint"?}} (code and message strings, nothing else in "error" but hint). */
static void parse_answer(const char *buf, size_t n, answer *a) {
    memset(a, 0, sizeof *a);
    snprintf(a->raw, sizeof a->raw, "%.*s", (int)(n < 300 ? n : 300), buf);
    if (sscanf(buf, "HTTP/1.%*d %d", &a->status) != 1) a->status = 0;
    const char *body = strstr(buf, "\r\n\r\n");
    if (!body) return;
    a->json_type = strcasestr(buf, "\r\nContent-Type: application/json") != NULL &&
                   strcasestr(buf, "\r\nContent-Type: application/json") < body;
    a->closes =
        strcasestr(buf, "\r\nConnection: close") != NULL && strcasestr(buf, "\r\nConnection: close") < body;
    json_error_t je;
    json_t *j = json_loadb(body + 4, n - (size_t)(body + 4 - buf), 0, &je);
    json_t *e = json_object_get(j, "error");
    const char *code = json_string_value(json_object_get(e, "code"));
    const char *msg = json_string_value(json_object_get(e, "message"));
    int only_known = json_is_object(j) && json_object_size(j) == 1 && json_is_object(e);
    const char *key;
    json_t *v;
    json_object_foreach(e, key, v) {
        if (strcmp(key, "code") && strcmp(key, "message") && !(!strcmp(key, "hint") && json_is_string(v)))
            only_known = 0;
    }
    if (code && msg && *msg && only_known) {
        snprintf(a->code, sizeof a->code, "%s", code);
        snprintf(a->message, sizeof a->message, "%s", msg);
    }
    json_decref(j);
}

/* A client connection: a raw socket, with a TLS session over it when g_tls is set. */
typedef struct client {
    int fd;
    gnutls_session_t tls;
} client;

static int cl_open(client *c) {
    c->tls = NULL;
    c->fd = tc_dial(0, g_port, 0);
    if (c->fd < 0 || !g_tls) return c->fd < 0 ? -1 : 0;
    if (gnutls_init(&c->tls, GNUTLS_CLIENT | GNUTLS_NO_SIGNAL) < 0) {
        c->tls = NULL;
        return -1;
    }
    gnutls_set_default_priority(c->tls);
    gnutls_credentials_set(c->tls, GNUTLS_CRD_CERTIFICATE, g_cred);
    gnutls_transport_set_int(c->tls, c->fd);
    gnutls_handshake_set_timeout(c->tls, 5000);
    int rc;
    do
        rc = gnutls_handshake(c->tls);
    while (rc == GNUTLS_E_AGAIN || rc == GNUTLS_E_INTERRUPTED);
    if (rc < 0) fprintf(stderr, "TLS handshake: %s\n", gnutls_strerror(rc));
    return rc < 0 ? -1 : 0;
}

static void cl_close(client *c) {
    if (c->tls) gnutls_deinit(c->tls);
    if (c->fd >= 0) close(c->fd);
    c->fd = -1;
    c->tls = NULL;
}

/* Sends all n bytes; 0, or -1 when the connection failed first. */
static int cl_send(client *c, const char *p, size_t n) {
    if (!c->tls) return tc_send_all(c->fd, p, n);
    while (n) {
        ssize_t w = gnutls_record_send(c->tls, p, n);
        if (w == GNUTLS_E_AGAIN || w == GNUTLS_E_INTERRUPTED) continue;
        if (w <= 0) return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Reads one whole HTTP answer (head and Content-Length body), or until the connection ends or
 * timeout_ms pass. Returns the bytes read (buf NUL-terminated). */
static size_t cl_read_answer(client *c, char *buf, size_t cap, int timeout_ms) {
    if (!c->tls) return tc_read_http_answer(c->fd, buf, cap, timeout_ms);
    size_t n = 0;
    int64_t end = lp_mono_ns() + (int64_t)timeout_ms * 1000000;
    buf[0] = 0;
    while (n + 1 < cap && lp_mono_ns() < end) {
        if (!gnutls_record_check_pending(c->tls)) {
            struct pollfd p = {c->fd, POLLIN, 0};
            if (poll(&p, 1, (int)((end - lp_mono_ns()) / 1000000) + 1) <= 0) break;
        }
        ssize_t k = gnutls_record_recv(c->tls, buf + n, cap - 1 - n);
        if (k == GNUTLS_E_AGAIN || k == GNUTLS_E_INTERRUPTED) continue;
        if (k <= 0) break;
        n += (size_t)k;
        buf[n] = 0;
        if (tc_http_answer_complete(buf, n)) break;
    }
    buf[n] = 0;
    return n;
}

/* Sends req on a new connection and reads the answer. */
static void ask(const char *req, size_t len, answer *a) {
    static char buf[1 << 16];
    client c;
    int64_t t0 = lp_mono_ns();
    int ok = cl_open(&c) == 0;
    CHECK(ok);
    if (ok) (void)cl_send(&c, req, len); /* the server may answer and close before reading it all */
    size_t n = ok ? cl_read_answer(&c, buf, sizeof buf, 5000) : 0;
    cl_close(&c);
    parse_answer(buf, n, a);
    a->secs = (double)(lp_mono_ns() - t0) / 1e9;
}

/* Sends a head, then after delay_ms the body's first bytes, on one connection; reads the answer. */
static void ask_split(const char *head, const char *body, int delay_ms, answer *a) {
    static char buf[1 << 16];
    int fd = tc_dial(0, g_port, 0);
    CHECK(fd >= 0);
    if (fd < 0) return;
    int64_t t0 = lp_mono_ns();
    CHECK(send(fd, head, strlen(head), MSG_NOSIGNAL) == (ssize_t)strlen(head));
    usleep((useconds_t)delay_ms * 1000);
    (void)send(fd, body, strlen(body), MSG_NOSIGNAL);
    size_t n = tc_read_http_answer(fd, buf, sizeof buf, 5000);
    close(fd);
    parse_answer(buf, n, a);
    a->secs = (double)(lp_mono_ns() - t0) / 1e9;
}

/* One malformed request: answered `status` with the JSON error body of `code`, at once. */
static void expect_error(const char *what, const char *req, size_t len, int status, const char *code) {
    answer a;
    ask(req, len, &a);
    int ok = a.status == status && a.json_type && !strcmp(a.code, code) && a.closes && a.secs < 1.0;
    if (!ok)
        fprintf(stderr,
                "%s: expected %d %s (JSON, Connection: close, < 1 s); got %d %s in %.2f s:\n%s\n---\n", what,
                status, code, a.status, a.code[0] ? a.code : "(no JSON error body)", a.secs, a.raw);
    else
        fprintf(stderr, "ok   %-34s %d %s: %s\n", what, a.status, a.code, a.message);
    CHECK(a.status == status);
    CHECK(a.json_type);
    CHECK(!strcmp(a.code, code));
    CHECK(a.closes);
    CHECK(a.secs < 1.0);
}

#define EXPECT(what, lit, status, code) expect_error(what, lit, sizeof(lit) - 1, status, code)

static void expect_ok(const char *what, const char *req, size_t len) {
    answer a;
    ask(req, len, &a);
    if (a.status != 200) fprintf(stderr, "%s: expected 200; got:\n%s\n---\n", what, a.raw);
    CHECK(a.status == 200);
}

static void test_malformed_heads(void) {
    EXPECT("request line without a version", "GET /v1/echo\r\nHost: t\r\n\r\n", 400, "invalid_request");
    EXPECT("request line of one word", "GARBAGE\r\n\r\n", 400, "invalid_request");
    EXPECT("request line of blanks", "   \r\nHost: t\r\n\r\n", 400, "invalid_request");
    EXPECT("unknown HTTP version", "GET /v1/echo HTTP/7.3\r\nHost: t\r\n\r\n", 505, "invalid_request");
    EXPECT("not HTTP at all", "GET /v1/echo FOO/1.1\r\nHost: t\r\n\r\n", 400, "invalid_request");
    EXPECT("header line without a colon", "GET /v1/echo HTTP/1.1\r\nHost: t\r\nNoColonHere\r\n\r\n", 400,
           "invalid_request");
    EXPECT("header name with a blank", "GET /v1/echo HTTP/1.1\r\nHost: t\r\nX A: b\r\n\r\n", 400,
           "invalid_request");
    EXPECT("NUL in the method", "G\0T /v1/echo HTTP/1.1\r\nHost: t\r\n\r\n", 400, "invalid_request");
    EXPECT("NUL in the version", "GET /v1/echo HTTP/1.1\0\r\nHost: t\r\n\r\n", 400, "invalid_request");
    EXPECT("NUL in a header name", "GET /v1/echo HTTP/1.1\r\nHost: t\r\nX\0A: b\r\n\r\n", 400,
           "invalid_request");
    EXPECT("a missing Host", "GET /v1/echo HTTP/1.1\r\nX-A: b\r\n\r\n", 400, "invalid_request");
    EXPECT("a head of NUL bytes", "\0\0\0\0\0\0\0\0\r\n\r\n", 400, "invalid_request");
    EXPECT("Content-Length not a number",
           "POST /v1/echo HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: "
           "abc\r\n\r\n{}",
           400, "invalid_request");
    EXPECT("Content-Length past 2^64",
           "POST /v1/echo HTTP/1.1\r\nHost: t\r\nContent-Length: 99999999999999999999999\r\n\r\n{}", 413,
           "too_large");

    /* a 10 KB URI: 414; 100 KB of headers: 431 */
    static char big[200 * 1024];
    int n = snprintf(big, sizeof big, "GET /v1/echo?q=");
    memset(big + n, 'a', 10 * 1024);
    n += 10 * 1024;
    n += snprintf(big + n, sizeof big - (size_t)n, " HTTP/1.1\r\nHost: t\r\n\r\n");
    expect_error("a 10 KB URI", big, (size_t)n, 414, "too_large");
    n = snprintf(big, sizeof big, "GET /v1/echo HTTP/1.1\r\nHost: t\r\n");
    for (int i = 0; n < 100 * 1024; i++)
        n += snprintf(big + n, sizeof big - (size_t)n, "X-Filler-%d: %0200d\r\n", i, 0);
    n += snprintf(big + n, sizeof big - (size_t)n, "\r\n");
    expect_error("100 KB of headers", big, (size_t)n, 431, "too_large");
    /* a head that never ends (no blank line) but fills the limit: 431 as well, not a silent drop */
    n = snprintf(big, sizeof big, "GET /v1/echo HTTP/1.1\r\nHost: t\r\nX-Long: ");
    memset(big + n, 'b', 100 * 1024);
    n += 100 * 1024;
    expect_error("one 100 KB header line", big, (size_t)n, 431, "too_large");
    /* one byte over the limit */
    n = snprintf(big, sizeof big, "GET /v1/echo HTTP/1.1\r\nHost: t\r\n");
    n += snprintf(big + n, sizeof big - (size_t)n, "X-Last: %0*d\r\n\r\n", HEAD_OK + 1 - n - 12, 0);
    CHECK(n == HEAD_OK + 1);
    expect_error("a head one byte too long", big, (size_t)n, 431, "too_large");
}

static void test_chunked(void) {
    EXPECT("absurd chunk size (streamed route)",
           "PUT /v1/upload HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: "
           "chunked\r\n\r\nffffffffffffffff\r\nabc\r\n0\r\n\r\n",
           413, "too_large");
    EXPECT("absurd chunk size (JSON route)",
           "POST /v1/echo HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nTransfer-Encoding: "
           "chunked\r\n\r\n"
           "7fffffffffff\r\n{}\r\n0\r\n\r\n",
           413, "too_large");
    EXPECT("chunk size past 2^64",
           "PUT /v1/upload HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: "
           "chunked\r\n\r\n1ffffffffffffffff\r\nabc\r\n0\r\n\r\n",
           413, "too_large");
    EXPECT("chunk size not hexadecimal",
           "PUT /v1/upload HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n",
           400, "invalid_request");
}

/* A chunked body sent apart from its head: the first chunk size is still looked at when it comes
 * soon (an absurd one refused at once), and a body that comes later, or after "100 Continue", is
 * still read. */
static void test_chunked_split(void) {
    static const char put[] =
        "PUT /v1/upload HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n";
    answer a;
    ask_split(put, "ffffffffffffffff\r\nabc\r\n", 30, &a);
    if (a.status != 413) fprintf(stderr, "absurd chunk size after the head: got\n%s\n", a.raw);
    CHECK(a.status == 413 && !strcmp(a.code, "too_large") && a.secs < 1.0);
    fprintf(stderr, "ok   absurd chunk size 30 ms after the head: %d in %.3f s\n", a.status, a.secs);
    ask_split(put, "3\r\nabc\r\n0\r\n\r\n", 30, &a);
    CHECK(a.status == 200);
    ask_split(put, "3\r\nabc\r\n0\r\n\r\n", 250, &a); /* a chunk size that comes late is read as well */
    CHECK(a.status == 200);
    /* a client that waits for 100 Continue gets it at once */
    static const char expect[] = "PUT /v1/upload HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n"
                                 "Expect: 100-continue\r\nConnection: close\r\n\r\n";
    int fd = tc_dial(0, g_port, 0);
    CHECK(fd >= 0);
    if (fd < 0) return;
    int64_t t0 = lp_mono_ns();
    CHECK(send(fd, expect, sizeof expect - 1, MSG_NOSIGNAL) == (ssize_t)(sizeof expect - 1));
    char buf[4096];
    struct pollfd p = {fd, POLLIN, 0};
    CHECK(poll(&p, 1, 3000) == 1);
    ssize_t k = recv(fd, buf, sizeof buf - 1, 0);
    buf[k > 0 ? k : 0] = 0;
    double secs = (double)(lp_mono_ns() - t0) / 1e9;
    CHECK(!strncmp(buf, "HTTP/1.1 100", 12));
    CHECK(secs < 0.05);
    static const char body[] = "3\r\nabc\r\n0\r\n\r\n";
    CHECK(send(fd, body, sizeof body - 1, MSG_NOSIGNAL) == (ssize_t)(sizeof body - 1));
    size_t n = tc_read_http_answer(fd, buf, sizeof buf, 3000);
    parse_answer(buf, n, &a);
    CHECK(a.status == 200);
    close(fd);
}

static void test_good_requests_pass(void) {
    static const char a[] = "POST /v1/echo HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
                            "Content-Length: 7\r\nConnection: close\r\n\r\n{\"a\":1}";
    expect_ok("a plain POST", a, sizeof a - 1);
    static const char b[] = "GET /v1/echo HTTP/1.0\r\n\r\n";
    expect_ok("HTTP/1.0 without Host", b, sizeof b - 1);
    static const char c[] =
        "PUT /v1/upload HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
        "3;ext=1\r\nabc\r\n0\r\n\r\n";
    expect_ok("a chunked upload with an extension", c, sizeof c - 1);
    static const char d[] = "GET /v1/echo?x=1 HTTP/1.1\nHost: t\nX-Empty:\nConnection: close\n\n";
    expect_ok("LF-only lines, an empty value", d, sizeof d - 1);
    /* an 8000-byte URI (RFC 9112's minimum to support) in a head of HEAD_OK bytes, and 100 header
     * lines, still pass */
    static char big[64 * 1024];
    int n = snprintf(big, sizeof big, "GET /v1/echo?q=");
    memset(big + n, 'a', 8000 - 15);
    n += 8000 - 15;
    n += snprintf(big + n, sizeof big - (size_t)n, " HTTP/1.1\r\nHost: t\r\nConnection: close\r\n");
    for (int i = 0; n < HEAD_OK - 400; i++)
        n += snprintf(big + n, sizeof big - (size_t)n, "X-Filler-%d: %0300d\r\n", i, 0);
    n += snprintf(big + n, sizeof big - (size_t)n, "X-Last: %0*d\r\n\r\n", HEAD_OK - n - 12, 0);
    CHECK(n == HEAD_OK);
    expect_ok("a head of HEAD_OK bytes, an 8000-byte URI", big, (size_t)n);
    n = snprintf(big, sizeof big, "GET /v1/echo HTTP/1.1\r\nConnection: close\r\n");
    for (int i = 0; i < 98; i++)
        n += snprintf(big + n, sizeof big - (size_t)n, "X-Filler-%d: %0100d\r\n", i, 0);
    n += snprintf(big + n, sizeof big - (size_t)n, "Host: t\r\n\r\n");
    expect_ok("100 header lines", big, (size_t)n);
    /* a head sent a few bytes at a time is still served */
    static const char e[] = "GET /v1/echo HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
    int fd = tc_dial(0, g_port, 0);
    CHECK(fd >= 0);
    for (size_t i = 0; fd >= 0 && i < sizeof e - 1; i += 7) {
        size_t k = sizeof e - 1 - i < 7 ? sizeof e - 1 - i : 7;
        CHECK(send(fd, e + i, k, MSG_NOSIGNAL) == (ssize_t)k);
        usleep(20000);
    }
    static char buf[4096];
    size_t got = fd >= 0 ? tc_read_http_answer(fd, buf, sizeof buf, 3000) : 0;
    answer ans;
    parse_answer(buf, got, &ans);
    CHECK(ans.status == 200);
    if (fd >= 0) close(fd);
}

/* A malformed head as the third request of a keep-alive connection gets the same JSON error body
 * as a first one, and the connection closes. */
static void expect_later_error(const char *what, const char *bad, size_t len, int status, const char *code) {
    static char buf[1 << 16];
    static const char ka[] = "GET /v1/echo HTTP/1.1\r\nHost: t\r\n\r\n";
    client c;
    answer a;
    int ok = cl_open(&c) == 0;
    CHECK(ok);
    for (int i = 0; ok && i < 2; i++) {
        CHECK(cl_send(&c, ka, sizeof ka - 1) == 0);
        parse_answer(buf, cl_read_answer(&c, buf, sizeof buf, 3000), &a);
        CHECK_EQ_INT(a.status, 200);
        CHECK(!a.closes);
    }
    int64_t t0 = lp_mono_ns();
    if (ok) (void)cl_send(&c, bad, len);
    parse_answer(buf, ok ? cl_read_answer(&c, buf, sizeof buf, 3000) : 0, &a);
    a.secs = (double)(lp_mono_ns() - t0) / 1e9;
    int good = a.status == status && a.json_type && !strcmp(a.code, code) && a.closes && a.secs < 1.0;
    if (!good)
        fprintf(stderr, "%s (3rd request%s): expected %d %s (JSON, Connection: close); got %d %s:\n%s\n---\n",
                what, g_tls ? ", TLS" : "", status, code, a.status,
                a.code[0] ? a.code : "(no JSON error body)", a.raw);
    else
        fprintf(stderr, "ok   %-34s %d %s (3rd request on a keep-alive connection%s)\n", what, a.status,
                a.code, g_tls ? ", TLS" : "");
    CHECK_EQ_INT(a.status, status);
    CHECK(a.json_type);
    CHECK(!strcmp(a.code, code));
    CHECK(a.closes);
    cl_close(&c);
}

#define EXPECT_LATER(what, lit, status, code) expect_later_error(what, lit, sizeof(lit) - 1, status, code)

static void test_later_heads(void) {
    EXPECT_LATER("header line without a colon", "GET /v1/echo HTTP/1.1\r\nHost: t\r\nNoColonHere\r\n\r\n",
                 400, "invalid_request");
    EXPECT_LATER("NUL in a header value", "GET /v1/echo HTTP/1.1\r\nHost: t\r\nX-A: a\0b\r\n\r\n", 400,
                 "invalid_request");
    EXPECT_LATER("NUL in the path", "GET /v1/ec\0ho HTTP/1.1\r\nHost: t\r\n\r\n", 400, "invalid_request");
    EXPECT_LATER("unknown HTTP version", "GET /v1/echo HTTP/7.3\r\nHost: t\r\n\r\n", 505, "invalid_request");
    EXPECT_LATER("request line of one word", "GARBAGE\r\n\r\n", 400, "invalid_request");
    EXPECT_LATER("Content-Length not a number",
                 "POST /v1/echo HTTP/1.1\r\nHost: t\r\nContent-Length: x\r\n\r\n", 400, "invalid_request");
    EXPECT_LATER("a missing Host", "GET /v1/echo HTTP/1.1\r\nX-A: b\r\n\r\n", 400, "invalid_request");
    EXPECT_LATER(
        "absurd chunk size",
        "PUT /v1/upload HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffff\r\nab\r\n",
        413, "too_large");
    EXPECT_LATER(
        "chunk size not hexadecimal",
        "PUT /v1/upload HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nab\r\n0\r\n\r\n", 400,
        "invalid_request");
    static char big[16 * 1024];
    int n = snprintf(big, sizeof big, "GET /v1/echo?q=");
    memset(big + n, 'a', 10 * 1024);
    n += 10 * 1024;
    n += snprintf(big + n, sizeof big - (size_t)n, " HTTP/1.1\r\nHost: t\r\n\r\n");
    expect_later_error("a 10 KB URI", big, (size_t)n, 414, "too_large");
}

/* Over HTTPS: the same malformed heads, first on a connection and later on a keep-alive one. */
static void test_tls(lp_http_server *plain) {
    (void)plain;
    if (system("command -v openssl >/dev/null 2>&1") != 0) {
        fprintf(stderr, "the HTTPS half is SKIPPED: the openssl command is not installed\n");
        return;
    }
    char dir[] = "/tmp/lepton-errors-XXXXXX";
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        CHECK(0);
        return;
    }
    char cmd[1024], crt[300], key[300];
    snprintf(crt, sizeof crt, "%s/a.crt", dir);
    snprintf(key, sizeof key, "%s/a.key", dir);
    snprintf(cmd, sizeof cmd,
             "openssl req -x509 -newkey rsa:2048 -nodes -keyout %s -out %s -days 1 -subj /CN=127.0.0.1 "
             "-addext subjectAltName=IP:127.0.0.1 >/dev/null 2>&1",
             key, crt);
    CHECK(system(cmd) == 0);
    lp_http_config cfg = {.listen = "127.0.0.1:0",
                          .max_body = 1024,
                          .log_name = "errors-tls",
                          .head_timeout_s = 2,
                          .tls_cert_file = crt,
                          .tls_key_file = key};
    lp_http_server *s;
    char err[512];
    CHECK(lp_http_server_new(&cfg, &s, err, sizeof err) == 0);
    CHECK(lp_http_server_route(s, "GET", "/v1/echo", h_echo, NULL) == 0);
    CHECK(lp_http_server_route(s, "POST", "/v1/echo", h_echo, NULL) == 0);
    CHECK(lp_http_server_route_stream(s, "PUT", "/v1/upload", on_chunk, h_upload, NULL) == 0);
    if (lp_http_server_start(s, err, sizeof err) != 0) {
        fprintf(stderr, "cannot start the HTTPS server: %s\n", err);
        CHECK(0);
        lp_http_server_free(s);
        return;
    }
    int port = g_port;
    g_port = lp_http_server_port(s);
    g_tls = 1;
    gnutls_certificate_allocate_credentials(&g_cred);
    static const char a[] = "POST /v1/echo HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
                            "Content-Length: 7\r\nConnection: close\r\n\r\n{\"a\":1}";
    expect_ok("a plain POST over TLS", a, sizeof a - 1);
    test_malformed_heads();
    test_chunked();
    test_later_heads();
    /* a chunk whose bytes never come: 400 after the stall time (2 × head_timeout_s), over TLS too */
    static const char stall[] = "PUT /v1/upload HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
                                "ffff\r\nabc";
    answer st;
    ask(stall, sizeof stall - 1, &st);
    if (st.status != 400) fprintf(stderr, "a stalled chunked body over TLS: got\n%s\n", st.raw);
    CHECK_EQ_INT(st.status, 400);
    CHECK(!strcmp(st.code, "invalid_request") && strstr(st.message, "stalled") != NULL);
    CHECK(st.secs > 3.5 && st.secs < 5.0);
    fprintf(stderr, "ok   a stalled chunked body over TLS: 400 after %.2f s\n", st.secs);
    gnutls_certificate_free_credentials(g_cred);
    g_tls = 0;
    g_port = port;
    lp_http_server_free(s);
    unlink(crt);
    unlink(key);
    rmdir(dir);
}

/* What a client relies on besides error bodies: "100 Continue" for a Content-Length body (curl asks
 * for one before bodies over 1 KiB; an answer wanted at once comes instead of it), HEAD answers
 * without a body, and two pipelined requests answered in order. */
static void test_protocol(void) {
    static char buf[1 << 16];
    answer a;
    static const char post[] = "POST /v1/echo HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
                               "Content-Length: 7\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n";
    int fd = tc_dial(0, g_port, 0);
    CHECK(fd >= 0);
    if (fd < 0) return;
    CHECK(tc_send_all(fd, post, sizeof post - 1) == 0);
    struct pollfd p = {fd, POLLIN, 0};
    CHECK(poll(&p, 1, 3000) == 1);
    ssize_t k = recv(fd, buf, sizeof buf - 1, 0);
    buf[k > 0 ? k : 0] = 0;
    CHECK(!strncmp(buf, "HTTP/1.1 100 Continue\r\n\r\n", 25));
    CHECK(tc_send_all(fd, "{\"a\":5}", 7) == 0);
    parse_answer(buf, tc_read_http_answer(fd, buf, sizeof buf, 3000), &a);
    CHECK_EQ_INT(a.status, 200);
    CHECK(strstr(a.raw, "{\"a\":5}") != NULL);
    close(fd);
    /* over the limit (1024 here): 413 at once instead of 100, before the body is sent */
    static const char big[] = "POST /v1/echo HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
                              "Content-Length: 5000\r\nExpect: 100-continue\r\n\r\n";
    ask(big, sizeof big - 1, &a);
    CHECK_EQ_INT(a.status, 413);
    CHECK(!strcmp(a.code, "too_large"));
    CHECK(a.closes);
    /* HEAD: no route takes it here, so 405 with its length but no body; the connection goes on */
    fd = tc_dial(0, g_port, 0);
    CHECK(fd >= 0);
    if (fd < 0) return;
    static const char two[] = "HEAD /v1/echo HTTP/1.1\r\nHost: t\r\n\r\n"
                              "GET /v1/echo?x=a+b HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
    CHECK(tc_send_all(fd, two, sizeof two - 1) == 0);
    long n = tc_read_until_close(fd, buf, sizeof buf, 3000);
    close(fd);
    CHECK(n > 0);
    const char *second = n > 0 ? strstr(buf + 1, "HTTP/1.1 ") : NULL;
    CHECK(!strncmp(buf, "HTTP/1.1 405", 12));
    CHECK(second != NULL && !strncmp(second, "HTTP/1.1 200", 12));
    if (second) { /* the HEAD answer ends with its head: the next answer follows at once */
        CHECK(second - buf >= 4 && !memcmp(second - 4, "\r\n\r\n", 4));
        CHECK(strstr(second, "\r\n\r\n{}") != NULL);
    }
    fprintf(stderr, "ok   100 Continue, 413 instead of it, HEAD, two pipelined requests\n");
}

int main(void) {
    lp_http_config cfg = {
        .listen = "127.0.0.1:0", .max_body = 1024, .log_name = "errors", .head_timeout_s = 2};
    lp_http_server *s;
    char err[256];
    CHECK(lp_http_server_new(&cfg, &s, err, sizeof err) == 0);
    CHECK(lp_http_server_route(s, "GET", "/v1/echo", h_echo, NULL) == 0);
    CHECK(lp_http_server_route(s, "POST", "/v1/echo", h_echo, NULL) == 0);
    CHECK(lp_http_server_route_stream(s, "PUT", "/v1/upload", on_chunk, h_upload, NULL) == 0);
    if (lp_http_server_start(s, err, sizeof err) != 0) {
        fprintf(stderr, "cannot start: %s\n", err);
        return 1;
    }
    g_port = lp_http_server_port(s);
    test_good_requests_pass();
    test_malformed_heads();
    test_chunked();
    test_chunked_split();
    test_later_heads();
    test_protocol();
    test_tls(s);
    lp_http_server_free(s);
    return check_done("unit.common.http_errors");
}
