/* test_http_guard.c — the HTTP server's defences (src/common/http_server.c) over raw sockets: idle
 * and trickling connections are dropped after the head deadline, a client address holds at most
 * its share, a full server evicts sockets that sent nothing so a real client is served; NUL bytes in
 * the path, a header or a JSON body, Content-Length with Transfer-Encoding, and non-object JSON
 * bodies are refused with the JSON error before any handler runs; a streamed upload refused midway,
 * an absurd chunk size (at once) and a chunk that never arrives (after the stall time) get a JSON
 * answer. */
#include <errno.h>
#include <poll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "clock.h"
#include "http_server.h"
#include "net.h"
#include "wire.h"

static int g_port;
#define LOCALHOST 0x7f000001u /* 127.0.0.1, host order */
static int g_handled;         /* atomic: how many times h_count ran */

static void h_count(lp_http_req *r, void *user) {
    (void)user;
    __atomic_add_fetch(&g_handled, 1, __ATOMIC_SEQ_CST);
    json_t *j = lp_http_json_body(r);
    if (!j) return;
    lp_http_reply_json_take(r, 200, j);
}

/* a streamed upload that refuses its body past 1000 bytes, as the worker does past a buffer's end */
static int on_chunk(lp_http_req *r, const char *data, size_t n, void *user) {
    (void)data;
    (void)user;
    size_t *got = lp_http_ctx(r);
    if (!got) {
        got = calloc(1, sizeof *got);
        lp_http_set_ctx(r, got, free);
    }
    *got += n;
    if (*got > 1000) {
        lp_http_reply_error(r, WIRE_TOO_LARGE, NULL, "the body exceeds 1000 bytes");
        return -1;
    }
    return 0;
}

static void h_upload(lp_http_req *r, void *user) {
    (void)user;
    size_t *got = lp_http_ctx(r);
    lp_http_reply_json_take(r, 200, json_pack("{s:I}", "bytes", (json_int_t)(got ? *got : 0)));
}

/* Sends raw bytes as one request on a new connection from 127.0.0.1 and returns the answer. */
static long raw(const char *req, size_t len, char *out, size_t cap, int timeout_ms) {
    int fd = tc_dial(LOCALHOST, g_port, 0);
    if (fd < 0) return -1;
    if (send(fd, req, len, MSG_NOSIGNAL) != (ssize_t)len) {
        close(fd);
        return -1;
    }
    long n = tc_read_until_close(fd, out, cap, timeout_ms);
    close(fd);
    return n;
}

#define RAW(lit, out) raw(lit, sizeof(lit) - 1, out, sizeof out, 3000)

static void test_request_checks(void) {
    char a[4096];
    int before = g_handled;
    /* a NUL in the path: refused whole, not cut at the NUL */
    RAW("GET /v1/count\0/x HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n", a);
    CHECK_EQ_INT(tc_http_status(a), 400);
    CHECK_CONTAINS(a, "\"code\":\"invalid_request\"");
    CHECK_CONTAINS(a, "NUL byte");
    CHECK_CONTAINS(a, "Content-Type: application/json");
    /* a NUL in a header value, in the middle or last */
    RAW("GET /v1/count HTTP/1.1\r\nHost: t\r\nX-A: a\0b\r\nConnection: close\r\n\r\n", a);
    CHECK_EQ_INT(tc_http_status(a), 400);
    CHECK_CONTAINS(a, "NUL byte");
    RAW("GET /v1/count HTTP/1.1\r\nHost: t\r\nConnection: close\r\nX-A: a\0bc\r\n\r\n", a);
    CHECK_EQ_INT(tc_http_status(a), 400);
    RAW("GET /v1/count HTTP/1.1\nHost: t\nConnection: close\nX-A: a\0bc\n\n", a);
    CHECK_EQ_INT(tc_http_status(a), 400);
    /* ordinary heads still pass: LF-only lines, trailing blanks, an empty value, %00 in the query */
    RAW("GET /v1/count?x=%00 HTTP/1.1\nHost: t\nX-E:\nX-B: b  \nConnection: close\n\n", a);
    CHECK_EQ_INT(tc_http_status(a), 200);
    RAW("GET /v1/count HTTP/1.1\r\nHost: t\r\nX-E: \r\nConnection: close\r\nX-B: b \t\r\n\r\n", a);
    CHECK_EQ_INT(tc_http_status(a), 200);
    CHECK_EQ_INT(g_handled - before, 2);
    /* both Content-Length and Transfer-Encoding: refused and the connection closed */
    before = g_handled;
    RAW("POST /v1/count HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: 2\r\n"
        "Transfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n",
        a);
    CHECK_EQ_INT(tc_http_status(a), 400);
    CHECK_CONTAINS(a, "Connection: close");
    CHECK_CONTAINS(a, "ambiguous");
    RAW("POST /v1/count HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip\r\nConnection: close\r\n\r\n", a);
    CHECK_EQ_INT(tc_http_status(a), 400);
    /* a body of NUL bytes is not {} */
    RAW("POST /v1/count HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: 4\r\n"
        "Connection: close\r\n\r\n\0\0\0\0",
        a);
    CHECK_EQ_INT(tc_http_status(a), 400);
    CHECK_CONTAINS(a, "NUL byte");
    RAW("POST /v1/count HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: 4\r\n"
        "Connection: close\r\n\r\n{}\0 ",
        a);
    CHECK_EQ_INT(tc_http_status(a), 400);
    /* non-object JSON is refused before the handler runs */
    RAW("POST /v1/count HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: 11\r\n"
        "Connection: close\r\n\r\n[null,null]",
        a);
    CHECK_EQ_INT(tc_http_status(a), 400);
    CHECK_CONTAINS(a, "must be a JSON object, not an array");
    RAW("POST /v1/count HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: 4\r\n"
        "Connection: close\r\n\r\nnull",
        a);
    CHECK_EQ_INT(tc_http_status(a), 400);
    CHECK_EQ_INT(g_handled - before, 0);
    /* whitespace-only and object bodies still reach the handler */
    RAW("POST /v1/count HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: 3\r\n"
        "Connection: close\r\n\r\n \r\n",
        a);
    CHECK_EQ_INT(tc_http_status(a), 200);
    RAW("POST /v1/count HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: 7\r\n"
        "Connection: close\r\n\r\n{\"a\":1}",
        a);
    CHECK_EQ_INT(tc_http_status(a), 200);
    CHECK_CONTAINS(a, "{\"a\":1}");
    CHECK_EQ_INT(g_handled - before, 2);
}

static void test_uploads(void) {
    char a[4096];
    /* a chunked upload refused midway is answered (413, JSON) once its body is read, not cut */
    char req[8192];
    int n = snprintf(req, sizeof req,
                     "PUT /v1/upload HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n"
                     "Connection: close\r\n\r\n");
    for (int i = 0; i < 6; i++) {
        n += snprintf(req + n, sizeof req - (size_t)n, "1f4\r\n");
        memset(req + n, 'x', 500);
        n += 500;
        n += snprintf(req + n, sizeof req - (size_t)n, "\r\n");
    }
    n += snprintf(req + n, sizeof req - (size_t)n, "0\r\n\r\n");
    CHECK(raw(req, (size_t)n, a, sizeof a, 3000) > 0);
    CHECK_EQ_INT(tc_http_status(a), 413);
    CHECK_CONTAINS(a, "\"code\":\"too_large\"");
    /* an absurd chunk size sent with the head: answered 413 (JSON) at once */
    int64_t t0 = lp_mono_ns();
    RAW("PUT /v1/upload HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
        "ffffffffffffffff\r\nabc\r\n0\r\n\r\n",
        a);
    double secs = (double)(lp_mono_ns() - t0) / 1e9;
    CHECK_EQ_INT(tc_http_status(a), 413);
    CHECK_CONTAINS(a, "\"code\":\"too_large\"");
    CHECK(secs < 1.0);
    fprintf(stderr, "absurd chunk size answered 413 after %.2f s\n", secs);
    /* a plausible chunk size whose bytes never come: answered 400 (JSON) after the stall time, not
     * after the idle timeout */
    t0 = lp_mono_ns();
    RAW("PUT /v1/upload HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
        "ffff\r\nabc\r\n0\r\n\r\n",
        a);
    secs = (double)(lp_mono_ns() - t0) / 1e9;
    CHECK_EQ_INT(tc_http_status(a), 400);
    CHECK_CONTAINS(a, "stalled");
    CHECK(secs < 2.9);
    fprintf(stderr, "a chunk that never arrives answered 400 after %.2f s\n", secs);
}

static void test_guard(void) {
    char a[4096];
    /* the head deadline (1 s here): an idle socket and a trickling one are both dropped */
    int idle = tc_dial(LOCALHOST, g_port, 0);
    int trickle = tc_dial(LOCALHOST, g_port, 0);
    CHECK(idle >= 0 && trickle >= 0);
    int64_t t0 = lp_mono_ns();
    const char *head = "GET /v1/count HTTP/1.1\r\nHost: t\r\n";
    int trickle_closed = 0;
    for (size_t i = 0; i < strlen(head) && !trickle_closed; i++) {
        if (send(trickle, head + i, 1, MSG_NOSIGNAL) != 1)
            trickle_closed = 1;
        else
            trickle_closed = tc_closed_within(trickle, 150);
    }
    CHECK(trickle_closed);
    CHECK(tc_closed_within(idle, 3000));
    double secs = (double)(lp_mono_ns() - t0) / 1e9;
    CHECK(secs < 3.0);
    fprintf(stderr, "idle and trickling sockets dropped after %.2f s\n", secs);
    close(idle);
    close(trickle);

    /* per address: 127.0.0.2 holds at most 20 (the limit here); the 21st is closed at once */
    enum { PER_IP = 20, ADDRS = 4 };
    int fds[ADDRS * PER_IP + 1];
    int held = 0;
    for (int k = 0; k < ADDRS; k++) {
        uint32_t from = LOCALHOST + 1 + (uint32_t)k; /* 127.0.0.2.. */
        for (int i = 0; i < PER_IP; i++) {
            int fd = tc_dial(from, g_port, 0);
            CHECK(fd >= 0);
            if (fd >= 0) fds[held++] = fd;
        }
        if (k == 0) {
            usleep(100000);
            int extra = tc_dial(from, g_port, 0);
            CHECK(extra >= 0);
            CHECK(tc_closed_within(extra, 1000)); /* refused: over the per-address limit */
            close(extra);
        }
    }
    /* 80 idle sockets against a limit of 50: the oldest were evicted, and a real client is served */
    usleep(100000);
    t0 = lp_mono_ns();
    RAW("POST /v1/count HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: 7\r\n"
        "Connection: close\r\n\r\n{\"a\":2}",
        a);
    secs = (double)(lp_mono_ns() - t0) / 1e9;
    CHECK_EQ_INT(tc_http_status(a), 200);
    CHECK_CONTAINS(a, "{\"a\":2}");
    CHECK(secs < 0.5);
    int still_open = 0;
    for (int i = 0; i < held; i++) {
        struct pollfd p = {fds[i], POLLIN, 0};
        if (poll(&p, 1, 0) == 0) still_open++;
    }
    CHECK(still_open <= 50);
    fprintf(stderr,
            "%d idle sockets from %d addresses (%d still open, limit 50): a request served in %.1f ms\n",
            held, ADDRS, still_open, secs * 1e3);
    for (int i = 0; i < held; i++)
        close(fds[i]);
}

int main(void) {
    lp_http_config cfg = {.listen = "127.0.0.1:0",
                          .max_body = 1024,
                          .log_name = "guard",
                          .max_connections = 50,
                          .max_per_ip = 20,
                          .head_timeout_s = 1};
    lp_http_server *s;
    char err[256];
    CHECK_EQ_INT(lp_http_server_new(&cfg, &s, err, sizeof err), 0);
    CHECK_EQ_INT(lp_http_server_route(s, "GET", "/v1/count", h_count, NULL), 0);
    CHECK_EQ_INT(lp_http_server_route(s, "POST", "/v1/count", h_count, NULL), 0);
    CHECK_EQ_INT(lp_http_server_route_stream(s, "PUT", "/v1/upload", on_chunk, h_upload, NULL), 0);
    CHECK_EQ_INT(lp_http_server_start(s, err, sizeof err), 0);
    g_port = lp_http_server_port(s);
    test_request_checks();
    test_uploads();
    test_guard();
    lp_http_server_free(s);
    fprintf(stderr, "%s test_http_guard\n", check_failures ? "FAIL" : "ok  ");
    return check_done("unit.broker.http_guard");
}
