/* test_http_tls.c — the HTTP server wrapper (src/common/http_server.c) serving HTTPS: a self-signed
 * certificate made with openssl at run time, requests through libcurl that trust it (200) or do not
 * (certificate error), plain HTTP to the HTTPS port refused, and clear errors for a missing key
 * file, a lone certificate, a certificate and key that do not match, and a file that is not PEM.
 * Skipped (exit 77) where the openssl command is not installed. */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "http.h"
#include "http_server.h"

static char dir[] = "/tmp/lepton-tls-XXXXXX";

static void path_of(char *out, size_t n, const char *name) { snprintf(out, n, "%s/%s", dir, name); }

/* Makes DIR/NAME.crt and DIR/NAME.key, a self-signed certificate for 127.0.0.1. Returns 0 or -1. */
static int make_cert(const char *name) {
    char cmd[1024];
    snprintf(cmd, sizeof cmd,
             "openssl req -x509 -newkey rsa:2048 -nodes -keyout %s/%s.key -out %s/%s.crt -days 1 "
             "-subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 >%s/openssl.log 2>&1",
             dir, name, dir, name, dir);
    return system(cmd) == 0 ? 0 : -1;
}

typedef struct resp {
    char body[4096];
    size_t n;
} resp;

/* GET (or POST when body is given) url; ca NULL → the system's CA bundle. Returns curl's code. */
static CURLcode call(const char *url, const char *ca, const char *body, long *status, resp *out) {
    tc_http_req q = {.method = body ? "POST" : "GET",
                     .url = url,
                     .content_type = "application/json",
                     .body = body,
                     .body_len = body ? strlen(body) : 0,
                     .timeout_ms = 10000,
                     .ca_file = ca};
    tc_http_resp r;
    tc_http(NULL, &q, &r);
    memset(out, 0, sizeof *out);
    out->n = r.len < sizeof out->body ? r.len : 0; /* an answer too large for out is not kept */
    memcpy(out->body, r.body, out->n);
    out->body[out->n] = '\0';
    *status = r.status;
    CURLcode rc = r.code;
    tc_http_resp_free(&r);
    return rc;
}

static void h_hello(lp_http_req *r, void *user) {
    lp_http_reply_json_take(r, 200, json_pack("{s:s}", "hello", (const char *)user));
}

static void h_echo(lp_http_req *r, void *user) {
    json_t *j = lp_http_json_body(r);
    if (j) lp_http_reply_json_take(r, 201, j);
}

/* Starts a server on 127.0.0.1:0 with the given files (NULL = none). Returns it, or NULL with err. */
static lp_http_server *serve(const char *cert, const char *key, char *err, size_t en) {
    lp_http_config cfg = {
        .listen = "127.0.0.1:0", .log_name = "test", .tls_cert_file = cert, .tls_key_file = key};
    lp_http_server *s = NULL;
    err[0] = 0;
    if (lp_http_server_new(&cfg, &s, err, en) != 0) return NULL;
    if (lp_http_server_route(s, "GET", "/v1/hello", h_hello, cert ? "tls" : "plain") != 0 ||
        lp_http_server_route(s, "POST", "/v1/echo", h_echo, NULL) != 0 ||
        lp_http_server_start(s, err, en) != 0) {
        lp_http_server_free(s);
        return NULL;
    }
    return s;
}

static void test_https(const char *crt, const char *key) {
    char err[1024], url[256];
    resp r;
    long st;
    lp_http_server *s = serve(crt, key, err, sizeof err);
    CHECK(s != NULL);
    if (!s) {
        fprintf(stderr, "cannot start the HTTPS server: %s\n", err);
        return;
    }
    CHECK(lp_http_server_is_tls(s) == 1);
    int port = lp_http_server_port(s);
    CHECK(port > 0);
    /* trusting the self-signed certificate */
    snprintf(url, sizeof url, "https://127.0.0.1:%d/v1/hello", port);
    CURLcode rc = call(url, crt, NULL, &st, &r);
    CHECK(rc == CURLE_OK);
    if (rc != CURLE_OK) fprintf(stderr, "https GET: %s\n", curl_easy_strerror(rc));
    CHECK(st == 200);
    CHECK(!strcmp(r.body, "{\"hello\":\"tls\"}"));
    snprintf(url, sizeof url, "https://127.0.0.1:%d/v1/echo", port);
    rc = call(url, crt, "{\"a\":[1,2,3]}", &st, &r);
    CHECK(rc == CURLE_OK && st == 201);
    CHECK(!strcmp(r.body, "{\"a\":[1,2,3]}"));
    snprintf(url, sizeof url, "https://127.0.0.1:%d/v1/nope", port);
    rc = call(url, crt, NULL, &st, &r);
    CHECK(rc == CURLE_OK && st == 404);
    CHECK_CONTAINS(r.body, "\"not_found\"");
    /* not trusting it: a certificate error, never an answer */
    snprintf(url, sizeof url, "https://127.0.0.1:%d/v1/hello", port);
    rc = call(url, NULL, NULL, &st, &r);
    CHECK(rc == CURLE_PEER_FAILED_VERIFICATION || rc == CURLE_SSL_CACERT);
    if (rc != CURLE_PEER_FAILED_VERIFICATION && rc != CURLE_SSL_CACERT)
        fprintf(stderr, "untrusted https GET gave: %s\n", curl_easy_strerror(rc));
    CHECK(st == 0);
    /* plain HTTP to the HTTPS port: refused, not answered (and not hung: the call has a deadline) */
    snprintf(url, sizeof url, "http://127.0.0.1:%d/v1/hello", port);
    rc = call(url, NULL, NULL, &st, &r);
    CHECK(rc != CURLE_OK && rc != CURLE_OPERATION_TIMEDOUT);
    CHECK(st == 0);
    /* the server still answers after those failed handshakes */
    snprintf(url, sizeof url, "https://127.0.0.1:%d/v1/hello", port);
    rc = call(url, crt, NULL, &st, &r);
    CHECK(rc == CURLE_OK && st == 200);
    lp_http_server_free(s);
}

static void test_plain(void) {
    char err[1024], url[256];
    resp r;
    long st;
    lp_http_server *s = serve(NULL, NULL, err, sizeof err);
    CHECK(s != NULL);
    if (!s) return;
    CHECK(lp_http_server_is_tls(s) == 0);
    snprintf(url, sizeof url, "http://127.0.0.1:%d/v1/hello", lp_http_server_port(s));
    CHECK(call(url, NULL, NULL, &st, &r) == CURLE_OK && st == 200);
    CHECK(!strcmp(r.body, "{\"hello\":\"plain\"}"));
    lp_http_server_free(s);
    /* empty strings are "no TLS", as NULL */
    s = serve("", "", err, sizeof err);
    CHECK(s != NULL && !lp_http_server_is_tls(s));
    lp_http_server_free(s);
}

static void test_errors(const char *crt, const char *key, const char *crt2, const char *key2) {
    char err[1024], missing[300], junk[300];
    path_of(missing, sizeof missing, "missing.key");
    path_of(junk, sizeof junk, "junk.pem");
    FILE *f = fopen(junk, "w");
    if (f) {
        fputs("this is not PEM\n", f);
        fclose(f);
    }
    lp_http_config cfg = {.listen = "127.0.0.1:0", .tls_cert_file = crt, .tls_key_file = missing};
    lp_http_server *s = (lp_http_server *)1;
    /* a key file that is not there: refused at once, naming it and why */
    CHECK(lp_http_server_new(&cfg, &s, err, sizeof err) == LP_HTTP_ETLS);
    CHECK(s == NULL);
    CHECK_CONTAINS(err, missing);
    CHECK_CONTAINS(err, "No such file or directory");
    /* only one of the two */
    cfg.tls_key_file = NULL;
    CHECK(lp_http_server_new(&cfg, &s, err, sizeof err) == LP_HTTP_ETLS);
    CHECK_CONTAINS(err, "both a certificate and a key");
    CHECK_CONTAINS(err, crt);
    cfg.tls_cert_file = NULL;
    cfg.tls_key_file = key;
    CHECK(lp_http_server_new(&cfg, &s, err, sizeof err) == LP_HTTP_ETLS);
    CHECK_CONTAINS(err, "both a certificate and a key");
    CHECK_CONTAINS(err, key);
    /* a certificate with another certificate's key: refused when starting */
    CHECK(serve(crt, key2, err, sizeof err) == NULL);
    CHECK_CONTAINS(err, "the certificate or key is not valid PEM, or they do not match");
    CHECK_CONTAINS(err, crt);
    CHECK_CONTAINS(err, key2);
    CHECK(serve(crt2, key, err, sizeof err) == NULL);
    CHECK_CONTAINS(err, "do not match");
    /* files that are not PEM at all */
    CHECK(serve(junk, key, err, sizeof err) == NULL);
    CHECK_CONTAINS(err, "not valid PEM");
    CHECK(serve(crt, junk, err, sizeof err) == NULL);
    CHECK_CONTAINS(err, "not valid PEM");
    /* key and certificate swapped */
    CHECK(serve(key, crt, err, sizeof err) == NULL);
    CHECK_CONTAINS(err, "not valid PEM");
    /* start itself tells a refused pair (LP_HTTP_ETLS) from a busy address (-1) */
    cfg.tls_cert_file = crt;
    cfg.tls_key_file = key2;
    CHECK(lp_http_server_new(&cfg, &s, err, sizeof err) == 0);
    CHECK(lp_http_server_start(s, err, sizeof err) == LP_HTTP_ETLS);
    lp_http_server_free(s);
    lp_http_server *busy = serve(NULL, NULL, err, sizeof err);
    char addr[64];
    snprintf(addr, sizeof addr, "127.0.0.1:%d", lp_http_server_port(busy));
    cfg.listen = addr;
    cfg.tls_key_file = key;
    CHECK(lp_http_server_new(&cfg, &s, err, sizeof err) == 0);
    CHECK(lp_http_server_start(s, err, sizeof err) == -1);
    CHECK_CONTAINS(err, "cannot listen on");
    lp_http_server_free(s);
    lp_http_server_free(busy);
    /* the second pair is fine on its own */
    lp_http_server *ok = serve(crt2, key2, err, sizeof err);
    CHECK(ok != NULL);
    lp_http_server_free(ok);
    unlink(junk);
}

int main(void) {
    if (system("command -v openssl >/dev/null 2>&1") != 0) {
        printf("SKIPPED: the openssl command is not installed (needed to make a test certificate)\n");
        return 77;
    }
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    char crt[300], key[300], crt2[300], key2[300], log[300];
    path_of(crt, sizeof crt, "a.crt");
    path_of(key, sizeof key, "a.key");
    path_of(crt2, sizeof crt2, "b.crt");
    path_of(key2, sizeof key2, "b.key");
    path_of(log, sizeof log, "openssl.log");
    if (make_cert("a") != 0 || make_cert("b") != 0) {
        fprintf(stderr, "openssl could not make a self-signed certificate (see %s)\n", log);
        return 1;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    test_https(crt, key);
    test_plain();
    test_errors(crt, key, crt2, key2);
    curl_global_cleanup();
    unlink(crt);
    unlink(key);
    unlink(crt2);
    unlink(key2);
    unlink(log);
    rmdir(dir);
    return check_done("unit.common.http_tls");
}
