/* test_http_server.c — the HTTP server wrapper (src/common/http_server.c) on its own: port 0,
 * path parameters, query and headers, 404/405/413, a streamed raw body, keep-alive, clean stop. */
#include "check.h"
#include "http.h"
#include "http_server.h"
#include "wire.h"

typedef struct resp {
    char body[8192];
    size_t n;
} resp;

/* method url on handle c; a body of body_len bytes (-1: strlen) as JSON unless extra_header names
 * another Content-Type. Returns the HTTP status (0: no answer); the body's start goes to out. */
static long call(CURL *c, const char *method, const char *url, const char *body, long body_len,
                 const char *extra_header, resp *out) {
    int own_type = extra_header && !strncmp(extra_header, "Content-Type:", 13);
    tc_http_req q = {.method = method,
                     .url = url,
                     .content_type = own_type ? NULL : "application/json",
                     .body = body,
                     .body_len = body && body_len < 0 ? strlen(body) : (size_t)body_len,
                     .extra_header = extra_header};
    tc_http_resp r;
    tc_http(c, &q, &r);
    memset(out, 0, sizeof *out);
    out->n = r.len < sizeof out->body ? r.len : 0; /* an answer too large for out is not kept */
    memcpy(out->body, r.body, out->n);
    out->body[out->n] = '\0';
    long st = r.status;
    tc_http_resp_free(&r);
    return st;
}

static void h_item(lp_http_req *r, void *user) {
    const char *q = lp_http_query(r, "x");
    const char *hdr = lp_http_header(r, "X-Test");
    lp_http_reply_json_take(r, 200,
                            json_pack("{s:s, s:s, s:s, s:s}", "a", lp_http_param(r, "a"), "b",
                                      lp_http_param(r, "b"), "x", q ? q : "", "h", hdr ? hdr : ""));
}

static void h_echo(lp_http_req *r, void *user) {
    json_t *j = lp_http_json_body(r);
    if (!j) return;
    lp_http_reply_json_take(r, 201, j);
}

static void h_silent(lp_http_req *r, void *user) {}

typedef struct counter {
    size_t bytes;
    unsigned sum;
} counter;

static int on_chunk(lp_http_req *r, const char *data, size_t n, void *user) {
    counter *c = lp_http_ctx(r);
    if (!c) {
        c = calloc(1, sizeof *c);
        lp_http_set_ctx(r, c, free);
    }
    c->bytes += n;
    for (size_t i = 0; i < n; i++)
        c->sum += (unsigned char)data[i];
    return 0;
}

static void h_upload(lp_http_req *r, void *user) {
    counter *c = lp_http_ctx(r);
    lp_http_reply_json_take(r, 200,
                            json_pack("{s:I, s:I}", "bytes", (json_int_t)(c ? c->bytes : 0), "sum",
                                      (json_int_t)(c ? c->sum : 0)));
}

int main(void) {
    lp_http_config cfg = {.listen = "127.0.0.1:0", .max_body = 1024, .log_name = "test"};
    lp_http_server *s;
    char err[256];
    CHECK_EQ_INT(lp_http_server_new(&cfg, &s, err, sizeof err), 0);
    CHECK_EQ_INT(lp_http_server_route(s, "GET", "/v1/items/{a}/sub/{b}", h_item, NULL), 0);
    CHECK_EQ_INT(lp_http_server_route(s, "POST", "/v1/echo", h_echo, NULL), 0);
    CHECK_EQ_INT(lp_http_server_route(s, "GET", "/v1/silent", h_silent, NULL), 0);
    CHECK_EQ_INT(lp_http_server_route_stream(s, "PUT", "/v1/upload", on_chunk, h_upload, NULL), 0);
    CHECK_EQ_INT(lp_http_server_port(s), 0);
    CHECK_EQ_INT(lp_http_server_start(s, err, sizeof err), 0);
    int port = lp_http_server_port(s);
    CHECK(port > 0);
    lp_http_config bad = {.listen = "127.0.0.1:nope"};
    lp_http_server *s2;
    CHECK_EQ_INT(lp_http_server_new(&bad, &s2, err, sizeof err), 0);
    CHECK_EQ_INT(lp_http_server_start(s2, err, sizeof err), -1);
    CHECK_CONTAINS(err, "bad port");
    lp_http_server_free(s2);

    curl_global_init(CURL_GLOBAL_DEFAULT);
    CURL *c = curl_easy_init();
    char url[256];
    resp r;
    snprintf(url, sizeof url, "http://127.0.0.1:%d/v1/items/one/sub/two?x=42", port);
    CHECK_EQ_INT(call(c, "GET", url, NULL, 0, "X-Test: hello", &r), 200);
    CHECK_STR(r.body, "{\"a\":\"one\",\"b\":\"two\",\"x\":\"42\",\"h\":\"hello\"}");
    snprintf(url, sizeof url, "http://127.0.0.1:%d/v1/items/one", port);
    CHECK_EQ_INT(call(c, "GET", url, NULL, 0, NULL, &r), 404);
    CHECK_CONTAINS(r.body, "\"code\":\"not_found\"");
    snprintf(url, sizeof url, "http://127.0.0.1:%d/v1/echo", port);
    CHECK_EQ_INT(call(c, "GET", url, NULL, 0, NULL, &r), 405);
    CHECK_CONTAINS(r.body, "\"code\":\"method_not_allowed\"");
    CHECK_EQ_INT(call(c, "POST", url, "{\"k\":[1,2]}", -1, NULL, &r), 201);
    CHECK_STR(r.body, "{\"k\":[1,2]}");
    CHECK_EQ_INT(call(c, "POST", url, "", 0, NULL, &r), 201);
    CHECK_STR(r.body, "{}");
    CHECK_EQ_INT(call(c, "POST", url, "[1]", -1, NULL, &r), 400);
    CHECK_EQ_INT(call(c, "POST", url, "{\"k\":", -1, NULL, &r), 400);
    CHECK_EQ_INT(call(c, "POST", url, "{}", -1, "Content-Type: text/plain", &r), 415);
    char big[2048];
    memset(big, 'x', sizeof big);
    CHECK_EQ_INT(call(c, "POST", url, big, sizeof big, NULL, &r), 413);
    CHECK_CONTAINS(r.body, "\"code\":\"too_large\"");
    CHECK_EQ_INT(call(c, "POST", url, big, sizeof big, "Transfer-Encoding: chunked", &r), 413);
    snprintf(url, sizeof url, "http://127.0.0.1:%d/v1/silent", port);
    CHECK_EQ_INT(call(c, "GET", url, NULL, 0, NULL, &r), 500); /* a handler that forgets to answer */
    /* a streamed body has no size limit and arrives whole */
    size_t n = 300000;
    char *data = malloc(n);
    unsigned sum = 0;
    for (size_t i = 0; i < n; i++) {
        data[i] = (char)(i * 7);
        sum += (unsigned char)data[i];
    }
    snprintf(url, sizeof url, "http://127.0.0.1:%d/v1/upload", port);
    CHECK_EQ_INT(call(c, "PUT", url, data, (long)n, "Content-Type: application/octet-stream", &r), 200);
    char want[128];
    snprintf(want, sizeof want, "{\"bytes\":%zu,\"sum\":%u}", n, sum);
    CHECK_STR(r.body, want);
    free(data);
    long conns = -1;
    curl_easy_getinfo(c, CURLINFO_NUM_CONNECTS, &conns);
    CHECK_EQ_INT(conns, 0); /* the last request reused the keep-alive connection */
    lp_http_server_free(s); /* with the client's connection still open */
    curl_easy_cleanup(c);
    curl_global_cleanup();
    fprintf(stderr, "%s test_http_server\n", check_failures ? "FAIL" : "ok  ");
    return check_done("unit.broker.http_server");
}
