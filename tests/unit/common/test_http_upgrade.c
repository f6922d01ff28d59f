/* test_http_upgrade.c — upgraded connections of the HTTP server wrapper (lp_http_reply_upgrade), over
 * plain HTTP and HTTPS (a self-signed certificate made with openssl at run time; that half is skipped
 * without the openssl command): the 101 and its Upgrade header, the bytes sent right behind the
 * request head handed over first, an echo both ways, a connection that stays open past the idle
 * timeout (busy, not idle), the upgrade function's end when the client closes, and
 * lp_http_server_free ending an open upgraded connection (its function returns, the client sees the
 * connection close), and small writes not held back (a round trip far below the 40 ms of Nagle's
 * algorithm against delayed acknowledgements, which a TLS relay can suffer). The client is
 * libcurl in CONNECT_ONLY mode (raw bytes, over TLS too). */
#include <curl/curl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "clock.h"
#include "http_server.h"

static char dir[] = "/tmp/lepton-upgrade-XXXXXX";
static int ended; /* atomic: upgrade functions that have returned */

static void echo_fn(int fd, const char *extra, size_t n, void *user) {
    (void)user;
    if (n && send(fd, extra, n, MSG_NOSIGNAL) != (ssize_t)n) goto out;
    char buf[4096];
    for (;;) {
        ssize_t k = recv(fd, buf, sizeof buf, 0);
        if (k <= 0 || send(fd, buf, (size_t)k, MSG_NOSIGNAL) != k) break;
    }
out:
    __atomic_fetch_add(&ended, 1, __ATOMIC_RELAXED);
}

static void h_up(lp_http_req *r, void *user) {
    const char *up = lp_http_header(r, "Upgrade");
    if (!up || strcmp(up, "echo/1") != 0) {
        lp_http_reply_json_take(r, 426, lp_http_error_body("invalid_request", "upgrade to echo/1", NULL));
        return;
    }
    lp_http_reply_upgrade(r, "echo/1", echo_fn, user);
}

static lp_http_server *serve(const char *cert, const char *key) {
    lp_http_config cfg = {.listen = "127.0.0.1:0",
                          .log_name = "test",
                          .tls_cert_file = cert,
                          .tls_key_file = key,
                          .idle_timeout_s = 1,
                          .head_timeout_s = 1};
    lp_http_server *s = NULL;
    char err[1024];
    if (lp_http_server_new(&cfg, &s, err, sizeof err) != 0 ||
        lp_http_server_route(s, "GET", "/v1/up", h_up, NULL) != 0 ||
        lp_http_server_start(s, err, sizeof err) != 0) {
        fprintf(stderr, "cannot start the server: %s\n", err);
        lp_http_server_free(s);
        return NULL;
    }
    return s;
}

/* A raw connection (TLS when ca is given). */
static CURL *dial(int port, const char *ca) {
    CURL *c = curl_easy_init();
    char url[128];
    snprintf(url, sizeof url, "%s://127.0.0.1:%d/", ca ? "https" : "http", port);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CONNECT_ONLY, 1L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 10000L);
    if (ca) curl_easy_setopt(c, CURLOPT_CAINFO, ca);
    if (curl_easy_perform(c) != CURLE_OK) {
        curl_easy_cleanup(c);
        return NULL;
    }
    return c;
}

static int wait_sock(CURL *c, short ev, int ms) {
    curl_socket_t fd;
    if (curl_easy_getinfo(c, CURLINFO_ACTIVESOCKET, &fd) != CURLE_OK) return -1;
    struct pollfd p = {fd, ev, 0};
    return poll(&p, 1, ms);
}

static int csend(CURL *c, const char *p, size_t n) {
    while (n) {
        size_t k = 0;
        CURLcode rc = curl_easy_send(c, p, n, &k);
        if (rc == CURLE_AGAIN) {
            if (wait_sock(c, POLLOUT, 5000) <= 0) return -1;
            continue;
        }
        if (rc != CURLE_OK) return -1;
        p += k;
        n -= k;
    }
    return 0;
}

/* Reads until `want` bytes are in (or the connection ends, or 5 s pass). Returns the bytes read. */
static size_t crecv(CURL *c, char *buf, size_t want) {
    size_t n = 0;
    int64_t until = lp_mono_ms() + 5000;
    while (n < want && lp_mono_ms() < until) {
        size_t k = 0;
        CURLcode rc = curl_easy_recv(c, buf + n, want - n, &k);
        if (rc == CURLE_AGAIN) {
            wait_sock(c, POLLIN, 100);
            continue;
        }
        if (rc != CURLE_OK || k == 0) break;
        n += k;
    }
    return n;
}

/* 1 when the server closes the connection within 5 s. */
static int sees_close(CURL *c) {
    char b[64];
    int64_t until = lp_mono_ms() + 5000;
    while (lp_mono_ms() < until) {
        size_t k = 0;
        CURLcode rc = curl_easy_recv(c, b, sizeof b, &k);
        if (rc == CURLE_AGAIN) {
            wait_sock(c, POLLIN, 100);
            continue;
        }
        return rc != CURLE_OK || k == 0;
    }
    return 0;
}

/* Sends the upgrade request plus `extra` and reads the 101 head; returns the connection or NULL. */
static CURL *upgrade(int port, const char *ca, const char *proto, const char *extra, long *status) {
    *status = -1;
    CURL *c = dial(port, ca);
    if (!c) return NULL;
    char req[512];
    int n = snprintf(req, sizeof req,
                     "GET /v1/up HTTP/1.1\r\nHost: t\r\nConnection: Upgrade\r\nUpgrade: %s\r\n\r\n%s", proto,
                     extra);
    if (csend(c, req, (size_t)n) != 0) {
        curl_easy_cleanup(c);
        return NULL;
    }
    char head[1024];
    size_t h = 0;
    while (h < sizeof head - 1 && (h < 4 || memcmp(head + h - 4, "\r\n\r\n", 4) != 0))
        if (crecv(c, head + h, 1) != 1)
            break;
        else
            h++;
    head[h] = 0;
    if (sscanf(head, "HTTP/1.%*d %ld", status) != 1) *status = -1;
    if (*status == 101) CHECK(strstr(head, "Upgrade: echo/1\r\n") != NULL);
    return c;
}

static void run(const char *crt, const char *key, const char *ca) {
    const char *what = ca ? "https" : "http";
    lp_http_server *s = serve(crt, key);
    CHECK(s != NULL);
    if (!s) return;
    int port = lp_http_server_port(s);
    long st;
    CURL *c = upgrade(port, ca, "other/2", "", &st);
    CHECK_EQ_INT(st, 426);
    curl_easy_cleanup(c);

    __atomic_store_n(&ended, 0, __ATOMIC_RELAXED);
    c = upgrade(port, ca, "echo/1", "early-bytes", &st);
    CHECK_EQ_INT(st, 101);
    char buf[64] = "";
    CHECK_EQ_INT(crecv(c, buf, 11), 11);
    CHECK(!memcmp(buf, "early-bytes", 11));
    CHECK(csend(c, "ping-123", 8) == 0);
    CHECK_EQ_INT(crecv(c, buf, 8), 8);
    CHECK(!memcmp(buf, "ping-123", 8));
    /* round trips, for the record */
    int64_t r0 = lp_mono_ns();
    for (int i = 0; i < 500; i++)
        CHECK(csend(c, "0123456789abcdef", 16) == 0 && crecv(c, buf, 16) == 16);
    double rtt_us = (double)(lp_mono_ns() - r0) / 500 / 1000;
    printf("%s: 16-byte echo round trip over an upgraded connection: %.1f us\n", what, rtt_us);
    CHECK(rtt_us < 5000); /* ~5 us plain, ~50 us TLS; delayed small writes (Nagle, cork) cost 40 ms */
    /* past the idle timeout (1 s) and the head deadline: an upgraded connection is never idle */
    usleep(2600 * 1000);
    CHECK(csend(c, "still-there", 11) == 0);
    CHECK_EQ_INT(crecv(c, buf, 11), 11);
    CHECK(!memcmp(buf, "still-there", 11));
    curl_easy_cleanup(c); /* the client closes: the upgrade function returns */
    for (int i = 0; i < 250 && __atomic_load_n(&ended, __ATOMIC_RELAXED) < 1; i++)
        usleep(20000);
    CHECK_EQ_INT(__atomic_load_n(&ended, __ATOMIC_RELAXED), 1);

    /* the server stops with two upgraded connections open */
    CURL *c1 = upgrade(port, ca, "echo/1", "", &st);
    CHECK_EQ_INT(st, 101);
    CURL *c2 = upgrade(port, ca, "echo/1", "x", &st);
    CHECK_EQ_INT(st, 101);
    CHECK_EQ_INT(crecv(c2, buf, 1), 1);
    int64_t t0 = lp_mono_ms();
    lp_http_server_free(s);
    int64_t took = lp_mono_ms() - t0;
    CHECK(took < 3000);
    CHECK_EQ_INT(__atomic_load_n(&ended, __ATOMIC_RELAXED), 3);
    CHECK(sees_close(c1));
    CHECK(sees_close(c2));
    curl_easy_cleanup(c1);
    curl_easy_cleanup(c2);
    printf("%s: upgraded connections checked (server stopped in %lld ms)\n", what, (long long)took);
}

int main(void) {
    curl_global_init(CURL_GLOBAL_DEFAULT);
    run(NULL, NULL, NULL);
    if (system("command -v openssl >/dev/null 2>&1") != 0) {
        printf("the HTTPS half is SKIPPED: the openssl command is not installed\n");
    } else if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    } else {
        char cmd[1024], crt[300], key[300];
        snprintf(crt, sizeof crt, "%s/a.crt", dir);
        snprintf(key, sizeof key, "%s/a.key", dir);
        snprintf(cmd, sizeof cmd,
                 "openssl req -x509 -newkey rsa:2048 -nodes -keyout %s -out %s -days 1 -subj /CN=127.0.0.1 "
                 "-addext subjectAltName=IP:127.0.0.1 >/dev/null 2>&1",
                 key, crt);
        CHECK(system(cmd) == 0);
        run(crt, key, crt);
        unlink(crt);
        unlink(key);
        rmdir(dir);
    }
    curl_global_cleanup();
    return check_done("unit.common.http_upgrade");
}
