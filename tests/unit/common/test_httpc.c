/* test_httpc.c — the one growable buffer (src/common/buf.h) and the one HTTP client
 * (src/common/httpc.h) against a local server (tests/common/server.h): answers and error bodies,
 * bodies past the cap, deadlines, the one retry, connection reuse, the abort flag, TLS codes. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "check.h"
#include "clock.h"
#include "httpc.h"
#include "lepton/lepton.h"
#include "net.h"
#include "server.h"

/* ---- the buffer ---- */

static void buf_basics(void) {
    lp_buf b = LP_BUF_INIT;
    CHECK(b.p == NULL && b.len == 0);
    CHECK_EQ_INT(lp_buf_append(&b, "hello", 5, 100), LP_BUF_OK);
    CHECK_EQ_INT(lp_buf_append(&b, " world", 6, 100), LP_BUF_OK);
    CHECK_STR(b.p, "hello world");
    CHECK_EQ_INT(b.len, 11);
    lp_buf_reset(&b);
    CHECK_EQ_INT(b.len, 0);
    CHECK_STR(b.p, "");
    CHECK(b.cap > 0); /* the memory stays for reuse */
    /* growth keeps earlier content */
    char chunk[1000];
    memset(chunk, 'x', sizeof chunk);
    for (int i = 0; i < 100; i++)
        CHECK_EQ_INT(lp_buf_append(&b, chunk, sizeof chunk, 1u << 20), LP_BUF_OK);
    CHECK_EQ_INT(b.len, 100000);
    CHECK(b.p[99999] == 'x' && b.p[100000] == '\0');
    size_t n = 0;
    char *taken = lp_buf_take(&b, &n);
    CHECK_EQ_INT(n, 100000);
    CHECK(taken && taken[0] == 'x');
    CHECK(b.p == NULL && b.len == 0 && b.cap == 0);
    free(taken);
    CHECK(lp_buf_take(&b, &n) == NULL && n == 0);
    lp_buf_free(&b);
    lp_buf_free(NULL);
}

/* the growable array rule (lp_grow): doubling from `first`, contents kept, no overflow */
static void buf_grow(void) {
    typedef struct pt {
        int x, y;
    } pt;
    pt *v = NULL;
    size_t cap = 0, n = 0;
    for (int i = 0; i < 1000; i++) {
        pt *nv = lp_grow(v, &cap, n + 1, sizeof *v, 16);
        CHECK(nv != NULL);
        if (!nv) break;
        v = nv;
        v[n++] = (pt){i, -i};
    }
    CHECK_EQ_INT(n, 1000);
    CHECK_EQ_INT(cap, 1024); /* 16, 32, …, 1024 */
    int bad = 0;
    for (size_t i = 0; i < n; i++)
        bad += v[i].x != (int)i || v[i].y != -(int)i;
    CHECK_EQ_INT(bad, 0);
    CHECK(lp_grow(v, &cap, 10, sizeof *v, 16) == v); /* large enough: the same array */
    CHECK_EQ_INT(cap, 1024);
    size_t before = cap;
    CHECK(lp_grow(v, &cap, (size_t)-1 / 2, sizeof *v, 16) == NULL); /* bytes would overflow */
    CHECK_EQ_INT(cap, before);                                      /* v and cap untouched */
    CHECK(v[999].x == 999);
    free(v);
    size_t c0 = 0;
    char *one = lp_grow(NULL, &c0, 1, 1, 0); /* first 0: grows to what is needed */
    CHECK(one != NULL && c0 == 1);
    free(one);
}

static void buf_cap(void) {
    lp_buf b = LP_BUF_INIT;
    CHECK_EQ_INT(lp_buf_append(&b, "0123456789", 10, 10), LP_BUF_OK); /* exactly the cap */
    CHECK_EQ_INT(lp_buf_append(&b, "x", 1, 10), LP_BUF_FULL);         /* one past it */
    CHECK_EQ_INT(b.len, 10);                                          /* nothing added */
    CHECK_STR(b.p, "0123456789");
    CHECK_EQ_INT(lp_buf_reserve(&b, (size_t)-1, (size_t)-1), LP_BUF_FULL); /* no size overflow */
    CHECK_CONTAINS(lp_buf_strerror(LP_BUF_FULL), "cap");
    CHECK_CONTAINS(lp_buf_strerror(LP_BUF_NOMEM), "memory");
    /* trim: a small buffer is kept, a large one released */
    lp_buf_trim(&b, 1 << 20);
    CHECK(b.p != NULL && b.len == 0);
    CHECK_EQ_INT(lp_buf_reserve(&b, 100000, 1 << 20), LP_BUF_OK);
    CHECK(b.cap >= 100001);
    lp_buf_trim(&b, LP_BUF_KEEP);
    CHECK(b.p == NULL && b.cap == 0);
    lp_buf_free(&b);
}

/* ---- a scripted server ---- */

typedef struct script {
    atomic_int requests;
    atomic_int drop_first; /* close the first connection without an answer */
    char last_head[4096];
    char last_body[4096];
    char last_method[16];
    pthread_mutex_t lock;
    tc_server *srv;
} script;

static script S;

static int answer(int fd, int status, const char *ctype, const char *body, size_t len) {
    char head[256];
    int n = snprintf(head, sizeof head, "HTTP/1.1 %d X\r\nContent-Type: %s\r\nContent-Length: %zu\r\n\r\n",
                     status, ctype, len);
    return tc_send_all(fd, head, (size_t)n) == 0 && tc_send_all(fd, body, len) == 0 ? 0 : -1;
}

static int serve(int fd, const tc_server_req *r, void *user) {
    (void)user;
    atomic_fetch_add(&S.requests, 1);
    pthread_mutex_lock(&S.lock);
    snprintf(S.last_head, sizeof S.last_head, "%s", r->head);
    snprintf(S.last_body, sizeof S.last_body, "%s", (const char *)r->body);
    snprintf(S.last_method, sizeof S.last_method, "%s", r->method);
    pthread_mutex_unlock(&S.lock);
    if (!strcmp(r->path, "/drop")) {
        if (atomic_exchange(&S.drop_first, 0)) return -1; /* closed, unanswered */
        return answer(fd, 200, "application/json", "{\"again\":true}", 14);
    }
    if (!strcmp(r->path, "/ok")) return answer(fd, 200, "application/json", "{\"ok\":1}", 8);
    if (!strcmp(r->path, "/echo")) {
        char b[4200];
        int n = snprintf(b, sizeof b, "{\"method\":\"%s\",\"len\":%zu}", r->method, r->body_len);
        return answer(fd, 200, "application/json", b, (size_t)n);
    }
    if (!strcmp(r->path, "/missing")) {
        const char *b =
            "{\"error\":{\"code\":\"not_found\",\"message\":\"no lease ls_9\",\"hint\":\"list them\"}}";
        return answer(fd, 404, "application/json", b, strlen(b));
    }
    if (!strcmp(r->path, "/html")) return answer(fd, 502, "text/html", "<html>bad gateway</html>", 24);
    if (!strcmp(r->path, "/array")) return answer(fd, 200, "application/json", "[1,2]", 5);
    if (!strcmp(r->path, "/big")) {
        size_t len = 64 * 1024;
        char *b = malloc(len);
        if (!b) return -1;
        memset(b, ' ', len);
        b[0] = '[';
        b[len - 1] = ']';
        int rc = answer(fd, 200, "application/json", b, len);
        free(b);
        return rc;
    }
    if (!strcmp(r->path, "/slow")) {
        if (tc_server_sleep(S.srv, 3000)) return -1;
        return answer(fd, 200, "application/json", "{}", 2);
    }
    return answer(fd, 404, "text/plain", "no", 2);
}

static lp_httpc *client(int port, size_t cap, const char *token) {
    char base[64];
    snprintf(base, sizeof base, "http://127.0.0.1:%d/", port); /* the trailing '/' is dropped */
    lp_httpc_options o = LP_HTTPC_OPTIONS_INIT;
    o.base = base;
    o.token = token;
    o.user_agent = "test_httpc/1";
    o.connect_timeout_ms = 2000;
    o.pool_max = 2;
    o.max_answer = cap;
    char err[128] = "";
    lp_httpc *h = lp_httpc_new(&o, err, sizeof err);
    CHECKF(h != NULL, "lp_httpc_new: %s", err);
    return h;
}

static lp_http_req get(const char *path) {
    lp_http_req r = {.method = "GET", .path = path, .timeout_ms = 5000};
    return r;
}

static void http_answers(void) {
    lp_httpc *h = client(tc_server_port(S.srv), LP_CAP_CLIENT_ANSWER, "sekret");
    if (!h) return;
    lp_http_res res;
    lp_http_req r = get("/ok");
    CHECK_EQ_INT(lp_httpc_call(h, &r, &res), LP_HTTP_ANSWERED);
    CHECK_EQ_INT(res.status, 200);
    CHECK(json_is_object(res.json));
    CHECK_EQ_INT(json_integer_value(json_object_get(res.json, "ok")), 1);
    CHECK_STR(res.excerpt, ""); /* a 2xx JSON object needs no excerpt */
    CHECK_CONTAINS(res.url, "127.0.0.1");
    CHECK(strstr(res.url, "//ok") == NULL);
    json_decref(res.json);
    pthread_mutex_lock(&S.lock);
    CHECK_CONTAINS(S.last_head, "Authorization: Bearer sekret");
    CHECK_CONTAINS(S.last_head, "Accept: application/json");
    CHECK_CONTAINS(S.last_head, "User-Agent: test_httpc/1");
    pthread_mutex_unlock(&S.lock);

    /* POST with a body, POST without one (an empty body), DELETE */
    lp_http_req p = {
        .method = "POST", .path = "/echo", .body = "{\"a\":12345}", .body_len = 11, .timeout_ms = 5000};
    CHECK_EQ_INT(lp_httpc_call(h, &p, &res), LP_HTTP_ANSWERED);
    CHECK_STR(json_string_value(json_object_get(res.json, "method")), "POST");
    CHECK_EQ_INT(json_integer_value(json_object_get(res.json, "len")), 11);
    json_decref(res.json);
    pthread_mutex_lock(&S.lock);
    CHECK_STR(S.last_body, "{\"a\":12345}");
    pthread_mutex_unlock(&S.lock);
    p.body = NULL;
    CHECK_EQ_INT(lp_httpc_call(h, &p, &res), LP_HTTP_ANSWERED);
    CHECK_EQ_INT(json_integer_value(json_object_get(res.json, "len")), 0);
    json_decref(res.json);
    lp_http_req d = {.method = "DELETE", .path = "/echo", .timeout_ms = 5000};
    CHECK_EQ_INT(lp_httpc_call(h, &d, &res), LP_HTTP_ANSWERED);
    CHECK_STR(json_string_value(json_object_get(res.json, "method")), "DELETE");
    json_decref(res.json);
    /* a GET after a POST on the same handle is a GET again */
    r = get("/echo");
    CHECK_EQ_INT(lp_httpc_call(h, &r, &res), LP_HTTP_ANSWERED);
    CHECK_STR(json_string_value(json_object_get(res.json, "method")), "GET");
    json_decref(res.json);
    lp_httpc_free(h);
}

static void http_reuse(void) {
    tc_server *srv = tc_server_start(0, 0, 0, serve, NULL);
    if (!srv) {
        CHECK(srv != NULL);
        return;
    }
    lp_httpc *h = client(tc_server_port(srv), LP_CAP_CLIENT_ANSWER, NULL);
    lp_http_res res;
    lp_http_req r = get("/ok");
    for (int i = 0; h && i < 5; i++) {
        CHECK_EQ_INT(lp_httpc_call(h, &r, &res), LP_HTTP_ANSWERED);
        json_decref(res.json);
    }
    CHECK_EQ_INT(tc_server_connections(srv), 1); /* one kept connection for five calls */
    if (h) {
        pthread_mutex_lock(&S.lock);
        CHECK(strstr(S.last_head, "Authorization:") == NULL); /* no token, no header */
        pthread_mutex_unlock(&S.lock);
    }
    lp_httpc_free(h);
    tc_server_stop(srv);
}

static void http_errors(void) {
    lp_httpc *h = client(tc_server_port(S.srv), LP_CAP_CLIENT_ANSWER, NULL);
    if (!h) return;
    lp_http_res res;
    lp_http_req r = get("/missing");
    CHECK_EQ_INT(lp_httpc_call(h, &r, &res), LP_HTTP_ANSWERED);
    CHECK_EQ_INT(res.status, 404);
    lp_http_error e;
    CHECK_EQ_INT(lp_http_error_of(res.json, res.status, &e), 1);
    CHECK_STR(e.code, "not_found");
    CHECK_STR(e.message, "no lease ls_9");
    CHECK_STR(e.hint, "list them");
    CHECK_EQ_INT(e.status, LEPTON_ENOTFOUND);
    json_decref(res.json);

    r = get("/html"); /* not the error shape: the status of the HTTP code, an excerpt to show */
    CHECK_EQ_INT(lp_httpc_call(h, &r, &res), LP_HTTP_ANSWERED);
    CHECK_EQ_INT(res.status, 502);
    CHECK(res.json == NULL);
    CHECK_CONTAINS(res.excerpt, "bad gateway");
    CHECK_EQ_INT(lp_http_error_of(res.json, res.status, &e), 0);
    CHECK(e.code == NULL && e.message == NULL);
    CHECK_EQ_INT(e.status, LEPTON_ENODELOST);

    r = get("/array"); /* JSON but not an object: parsed, and excerpted for a message */
    CHECK_EQ_INT(lp_httpc_call(h, &r, &res), LP_HTTP_ANSWERED);
    CHECK(json_is_array(res.json));
    CHECK_STR(res.excerpt, "[1,2]");
    json_decref(res.json);

    /* a path that makes the URL too long */
    char path[LP_HTTP_URL_MAX + 10];
    memset(path, 'a', sizeof path - 1);
    path[0] = '/';
    path[sizeof path - 1] = '\0';
    r = get(path);
    CHECK_EQ_INT(lp_httpc_call(h, &r, &res), LP_HTTP_EURL);
    CHECK(res.json == NULL);
    lp_httpc_free(h);
}

static void http_cap(void) {
    lp_httpc *h = client(tc_server_port(S.srv), 1000, NULL); /* /big is 64 KiB */
    if (!h) return;
    lp_http_res res;
    lp_http_req r = get("/big");
    CHECK_EQ_INT(lp_httpc_call(h, &r, &res), LP_HTTP_NO_ANSWER);
    CHECK_EQ_INT(res.body_error, LP_BUF_FULL);
    CHECK_EQ_INT(res.max_answer, 1000);
    CHECK_EQ_INT(res.cc, CURLE_WRITE_ERROR);
    CHECK(res.json == NULL);
    /* the handle that was cut is fine for the next call */
    r = get("/ok");
    CHECK_EQ_INT(lp_httpc_call(h, &r, &res), LP_HTTP_ANSWERED);
    CHECK_EQ_INT(res.status, 200);
    json_decref(res.json);
    lp_httpc_free(h);
    /* under a cap it is big enough for, the same answer comes whole */
    h = client(tc_server_port(S.srv), 1u << 20, NULL);
    if (!h) return;
    r = get("/big");
    CHECK_EQ_INT(lp_httpc_call(h, &r, &res), LP_HTTP_ANSWERED);
    CHECK_EQ_INT(res.body_len, 64 * 1024);
    CHECK(json_is_array(res.json));
    json_decref(res.json);
    lp_httpc_free(h);
}

static void http_deadline(void) {
    lp_httpc *h = client(tc_server_port(S.srv), LP_CAP_CLIENT_ANSWER, NULL);
    if (!h) return;
    lp_http_res res;
    lp_http_req r = get("/slow");
    r.timeout_ms = 300;
    int64_t t0 = lp_mono_ms();
    CHECK_EQ_INT(lp_httpc_call(h, &r, &res), LP_HTTP_NO_ANSWER);
    int64_t took = lp_mono_ms() - t0;
    CHECK_EQ_INT(res.cc, CURLE_OPERATION_TIMEDOUT);
    CHECKF(took >= 250 && took < 2000, "a 300 ms deadline took %lld ms", (long long)took);
    CHECK(res.error[0] != '\0');
    CHECK_EQ_INT(res.status, 0);
    lp_httpc_free(h);
}

static atomic_int g_retries;
static void count_retry(void *user, const char *why) {
    (void)user;
    CHECK(why && *why);
    atomic_fetch_add(&g_retries, 1);
}

static void http_retry(void) {
    lp_httpc *h = client(tc_server_port(S.srv), LP_CAP_CLIENT_ANSWER, NULL);
    if (!h) return;
    lp_http_res res;
    lp_http_req r = get("/drop");
    r.on_retry = count_retry;
    /* not marked safe to repeat: the broken connection is the answer */
    atomic_store(&S.drop_first, 1);
    CHECK_EQ_INT(lp_httpc_call(h, &r, &res), LP_HTTP_NO_ANSWER);
    CHECKF(lp_http_broken(res.cc), "curl code %d", (int)res.cc);
    CHECK_EQ_INT(atomic_load(&g_retries), 0);
    lp_httpc_free(h);
    /* marked: sent once more, answered (a fresh client: libcurl itself repeats a request whose
     * reused connection died, which is not what is tested here) */
    h = client(tc_server_port(S.srv), LP_CAP_CLIENT_ANSWER, NULL);
    if (!h) return;
    atomic_store(&S.drop_first, 1);
    r.flags = LP_HTTP_RETRY;
    int before = atomic_load(&S.requests);
    CHECK_EQ_INT(lp_httpc_call(h, &r, &res), LP_HTTP_ANSWERED);
    CHECK_EQ_INT(res.status, 200);
    CHECK(json_is_true(json_object_get(res.json, "again")));
    json_decref(res.json);
    CHECK_EQ_INT(atomic_load(&g_retries), 1);
    CHECK_EQ_INT(atomic_load(&S.requests) - before, 2);
    lp_httpc_free(h);

    /* a refused connection is not retried: nothing listens */
    int port = tc_free_port();
    h = client(port, LP_CAP_CLIENT_ANSWER, NULL);
    if (!h) return;
    r = get("/ok");
    r.flags = LP_HTTP_RETRY;
    r.on_retry = count_retry;
    CHECK_EQ_INT(lp_httpc_call(h, &r, &res), LP_HTTP_NO_ANSWER);
    CHECK_EQ_INT(res.cc, CURLE_COULDNT_CONNECT);
    CHECK_EQ_INT(atomic_load(&g_retries), 1);
    CHECK_CONTAINS(res.url, "/ok");
    lp_httpc_free(h);
}

static int g_abort;
static void *set_abort(void *arg) {
    (void)arg;
    lp_sleep_ms(200);
    __atomic_store_n(&g_abort, 1, __ATOMIC_RELAXED);
    return NULL;
}

static void http_abort(void) {
    lp_httpc *h = client(tc_server_port(S.srv), LP_CAP_CLIENT_ANSWER, NULL);
    if (!h) return;
    lp_http_res res;
    lp_http_req r = get("/slow");
    r.abort_flag = &g_abort;
    pthread_t t;
    pthread_create(&t, NULL, set_abort, NULL);
    int64_t t0 = lp_mono_ms();
    CHECK_EQ_INT(lp_httpc_call(h, &r, &res), LP_HTTP_NO_ANSWER);
    int64_t took = lp_mono_ms() - t0;
    pthread_join(t, NULL);
    CHECK_EQ_INT(res.cc, CURLE_ABORTED_BY_CALLBACK);
    CHECKF(took < 2500, "the abort took %lld ms", (long long)took);
    lp_httpc_free(h);
}

static void http_outcomes(void) {
    CHECK_EQ_INT(lp_http_tls_failure(CURLE_PEER_FAILED_VERIFICATION), LP_TLS_UNTRUSTED);
    CHECK_EQ_INT(lp_http_tls_failure(CURLE_SSL_CACERT_BADFILE), LP_TLS_CA_FILE);
    CHECK_EQ_INT(lp_http_tls_failure(CURLE_SSL_CONNECT_ERROR), LP_TLS_HANDSHAKE);
    CHECK_EQ_INT(lp_http_tls_failure(CURLE_COULDNT_CONNECT), LP_TLS_NONE);
    CHECK(lp_http_broken(CURLE_GOT_NOTHING) && lp_http_broken(CURLE_RECV_ERROR));
    CHECK(!lp_http_broken(CURLE_COULDNT_CONNECT) && !lp_http_broken(CURLE_OPERATION_TIMEDOUT));
    /* an error body with a message but no code: the HTTP status decides */
    json_t *j = json_loads("{\"error\":{\"message\":\"slow down\"}}", 0, NULL);
    lp_http_error e;
    CHECK_EQ_INT(lp_http_error_of(j, 504, &e), 1);
    CHECK_STR(e.message, "slow down");
    CHECK(e.code == NULL);
    CHECK_EQ_INT(e.status, LEPTON_ETIMEDOUT);
    json_decref(j);
    CHECK_EQ_INT(lp_http_error_of(NULL, 409, &e), 0);
    /* header lists: the token first, empty lines skipped */
    const char *lines[] = {"X-One: 1", "", "X-Two: 2"};
    struct curl_slist *l = lp_http_headers("tok", lines, 3);
    CHECK(l != NULL);
    int n = 0;
    for (struct curl_slist *p = l; p; p = p->next)
        n++;
    CHECK_EQ_INT(n, 3);
    if (l) CHECK_STR(l->data, "Authorization: Bearer tok");
    lp_http_headers_free(l);
    l = lp_http_headers(NULL, lines, 1);
    if (l) CHECK_STR(l->data, "X-One: 1");
    lp_http_headers_free(l);
    /* a CA file that does not exist is the TLS code for it, for an https URL */
    lp_httpc_options o = LP_HTTPC_OPTIONS_INIT;
    char base[64];
    snprintf(base, sizeof base, "https://127.0.0.1:%d", tc_server_port(S.srv));
    o.base = base;
    o.ca_file = "/nonexistent/ca.pem";
    char err[128];
    lp_httpc *h = lp_httpc_new(&o, err, sizeof err);
    CHECK(h != NULL);
    if (h) {
        CHECK_STR(lp_httpc_ca_file(h), "/nonexistent/ca.pem");
        lp_http_req r = get("/ok");
        lp_http_res res;
        CHECK_EQ_INT(lp_httpc_call(h, &r, &res), LP_HTTP_NO_ANSWER);
        int kind = lp_http_tls_failure(res.cc);
        CHECKF(kind == LP_TLS_CA_FILE || kind == LP_TLS_HANDSHAKE, "curl code %d (%s)", (int)res.cc,
               res.error);
        lp_httpc_free(h);
    }
}

static void http_threads_run(lp_httpc *h, int *ok) {
    for (int i = 0; i < 20; i++) {
        lp_http_res res;
        lp_http_req r = get("/ok");
        if (lp_httpc_call(h, &r, &res) == LP_HTTP_ANSWERED && res.status == 200) (*ok)++;
        json_decref(res.json);
    }
}

typedef struct thread_arg {
    lp_httpc *h;
    int ok;
} thread_arg;
static void *thread_main(void *p) {
    thread_arg *a = p;
    http_threads_run(a->h, &a->ok);
    return NULL;
}

static void http_threads(void) {
    lp_httpc *h = client(tc_server_port(S.srv), LP_CAP_CLIENT_ANSWER, NULL);
    if (!h) return;
    thread_arg a[4];
    pthread_t t[4];
    for (int i = 0; i < 4; i++) {
        a[i] = (thread_arg){h, 0};
        pthread_create(&t[i], NULL, thread_main, &a[i]);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        CHECK_EQ_INT(a[i].ok, 20);
    }
    lp_httpc_free(h);
}

static int setup(void) {
    memset(&S, 0, sizeof S);
    pthread_mutex_init(&S.lock, NULL);
    S.srv = tc_server_start(0, 0, 0, serve, NULL);
    return S.srv ? 0 : 1;
}

static void teardown(void) {
    tc_server_stop(S.srv);
    S.srv = NULL;
}

int main(int argc, char **argv) {
    static const check_case cases[] = {
        {"buf_basics", buf_basics},       {"buf_cap", buf_cap},
        {"buf_grow", buf_grow},           {"http_answers", http_answers},
        {"http_reuse", http_reuse},       {"http_errors", http_errors},
        {"http_cap", http_cap},           {"http_deadline", http_deadline},
        {"http_retry", http_retry},       {"http_abort", http_abort},
        {"http_outcomes", http_outcomes}, {"http_threads", http_threads},
    };
    return check_main(argc, argv, cases, sizeof cases / sizeof cases[0], setup, teardown);
}
