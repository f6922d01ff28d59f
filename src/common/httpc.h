/* httpc.h — Lepton's one HTTP client over libcurl, used by liblepton (to the broker and, through
 * its handles and pools, to the lease workers), by leptond (to the broker) and by the CLI: one
 * global init, pooled easy handles (kept connections), deadlines (connect and total), TLS (a CA
 * file), the bearer token, the answer's body into one lp_buf with a cap, and the reading of the
 * error body {"error": {"code", "message", "hint"}} that every Lepton server answers.
 *
 * Each caller words its own messages (what it was doing, what the user should do): this module
 * says what happened (curl's code and text, the HTTP status, the parsed body), never to whom. */
#ifndef LEPTON_COMMON_HTTPC_H
#define LEPTON_COMMON_HTTPC_H

#include <curl/curl.h>
#include <jansson.h>
#include <pthread.h>
#include <stdint.h>

#include "buf.h"

/* curl_global_init, once per process and safe to race with itself; its result. Never undone: a
 * library cannot know that no other user of libcurl remains. Every lp_httpc_new calls it. */
CURLcode lp_curl_init(void);

typedef struct lp_httpc lp_httpc;

/* One pooled easy handle. Used by one thread at a time; its connection stays open between uses. */
typedef struct lp_http_conn {
    struct lp_http_conn *next;
    CURL *curl;
    lp_buf body;                  /* the answer of lp_httpc_call (reused across requests) */
    int body_error;               /* LP_BUF_FULL or LP_BUF_NOMEM when the answer was cut */
    size_t max_body;              /* the cap of body */
    char errbuf[CURL_ERROR_SIZE]; /* curl's message of the last transfer ("" when none) */
} lp_http_conn;

/* Idle handles, most recently used first (its connection is the warmest). The mutex is held only
 * to pop or push. */
typedef struct lp_http_pool {
    pthread_mutex_t lock;
    lp_http_conn *idle;
    unsigned count, max; /* max: idle handles kept (0: all) */
} lp_http_pool;

typedef struct lp_httpc_options {
    const char *base;       /* "http(s)://host[:port]", trailing '/' dropped; NULL: paths are whole URLs */
    const char *token;      /* bearer token (NULL or "": none); kept only in the header list, wiped on free */
    const char *ca_file;    /* PEM CA bundle verifying https (NULL or "": the system's) */
    const char *user_agent; /* NULL: no User-Agent header */
    long connect_timeout_ms; /* a request's default connect deadline (0: libcurl's) */
    unsigned pool_max;       /* idle handles kept by the client's own pool (0: 1) */
    size_t max_answer;       /* cap of an answer's body (an LP_CAP_* of buf.h) */
} lp_httpc_options;
#define LP_HTTPC_OPTIONS_INIT                                                                                \
    { NULL, NULL, NULL, NULL, 0, 0, LP_CAP_CLIENT_ANSWER }

/* A header list: "Authorization: Bearer TOKEN" (token NULL or "": none) then the n lines (an
 * empty line is skipped). NULL out of memory. Free with lp_http_headers_free, which wipes it (the
 * token is a secret). */
struct curl_slist *lp_http_headers(const char *token, const char *const *lines, size_t n);
void lp_http_headers_free(struct curl_slist *list);

/* A client; NULL with the reason in err[n] (curl_global_init failed, out of memory). */
lp_httpc *lp_httpc_new(const lp_httpc_options *o, char *err, size_t n);
/* Closes every pooled connection and frees the client. NULL-safe. */
void lp_httpc_free(lp_httpc *h);
const char *lp_httpc_base(const lp_httpc *h);    /* as given, without trailing '/'; "" when none */
const char *lp_httpc_ca_file(const lp_httpc *h); /* NULL: the system's store */

/* Flags of lp_http_conn_new. */
#define LP_HTTP_BULK                                                                                         \
    1 /* the data plane: keep-alive probes after 10 s (a long job is found dead by                           \
         them, not by a deadline), large upload and download buffers */

/* A new handle with the client's options (CA, proxy rule, user agent, connect deadline): NULL out
 * of memory. For callers that drive transfers themselves (the data plane); free with
 * lp_http_conn_free or give it to a pool. */
lp_http_conn *lp_http_conn_new(const lp_httpc *h, int flags);
void lp_http_conn_free(lp_http_conn *k);

void lp_http_pool_init(lp_http_pool *p, unsigned max);
/* Frees every idle handle and the mutex. */
void lp_http_pool_free(lp_http_pool *p);
/* An idle handle of p (its errbuf cleared), or a new one (lp_http_conn_new(h, flags)); NULL out of
 * memory. */
lp_http_conn *lp_http_pool_take(lp_http_pool *p, const lp_httpc *h, int flags);
/* Returns k to p (freed when p is full); a large body buffer is released first. NULL-safe. */
void lp_http_pool_give(lp_http_pool *p, lp_http_conn *k);

/* Flags of lp_http_req.flags. */
#define LP_HTTP_RETRY                                                                                        \
    1 /* repeating the request is harmless: send it once more when the connection                            \
         broke before an answer came (lp_http_broken) */

typedef struct lp_http_req {
    const char *method; /* "GET", "POST", "PUT", "DELETE" */
    const char *path;   /* appended to the base ("/v1/leases") */
    const char *body;   /* request body (borrowed), or NULL: none (a POST then sends an empty one) */
    size_t body_len;
    int64_t timeout_ms;      /* the whole request's deadline, a retry included (> 0) */
    long connect_timeout_ms; /* 0: the client's */
    int flags;
    const int *abort_flag; /* the transfer ends (CURLE_ABORTED_BY_CALLBACK) once *abort_flag != 0 */
    void (*on_retry)(void *user, const char *why); /* told before a retry (e.g. to log it) */
    void *user;
} lp_http_req;

#define LP_HTTP_URL_MAX 1536

typedef struct lp_http_res {
    long status;                 /* the HTTP status; 0 when no answer came */
    CURLcode cc;                 /* the transfer's result */
    int body_error;              /* LP_BUF_FULL (the answer exceeds the cap) or LP_BUF_NOMEM, else 0 */
    size_t max_answer;           /* the cap, for messages */
    char url[LP_HTTP_URL_MAX];   /* the URL asked */
    char error[CURL_ERROR_SIZE]; /* curl's message when cc != CURLE_OK (its code's text if curl gave none) */
    json_t *json;       /* the body parsed as JSON, any type (NULL: empty or not JSON); the caller's */
    size_t body_len;    /* bytes of the answer's body */
    char excerpt[200];  /* a printable start of the body (lp_excerpt) unless it is a 2xx JSON object */
    int64_t elapsed_us; /* the whole call */
} lp_http_res;

/* Results of lp_httpc_call. */
#define LP_HTTP_ANSWERED 0 /* an answer came: res->status, res->json */
#define LP_HTTP_NO_ANSWER                                                                                    \
    (-1) /* the transfer failed (res->cc, res->error) or its body was cut (res->body_error) */
#define LP_HTTP_EURL (-2)   /* base + path exceed LP_HTTP_URL_MAX (res->url is empty) */
#define LP_HTTP_ENOMEM (-3) /* no handle could be made */

/* Sends r on a handle of the client's pool and reads the whole answer. Always sets *res (json
 * NULL unless an answer came). */
int lp_httpc_call(lp_httpc *h, const lp_http_req *r, lp_http_res *res);

/* ---- reading outcomes ---- */

/* A Lepton error body, borrowed from the JSON it was read from. */
typedef struct lp_http_error {
    const char *code, *message, *hint; /* each NULL when absent */
    int status;                        /* wire_code_to_status(code, http) */
} lp_http_error;
/* 1 when body is {"error": {...}} with a code or a message (e filled in), else 0 (e's fields
 * NULL, status from the HTTP status alone). */
int lp_http_error_of(const json_t *body, long http, lp_http_error *e);

/* What a TLS failure was (lp_http_tls_failure), so that each caller can say what to do. */
#define LP_TLS_NONE 0
#define LP_TLS_UNTRUSTED 1 /* the server's certificate is not signed by a CA trusted here */
#define LP_TLS_CA_FILE 2   /* the CA file cannot be read or parsed */
#define LP_TLS_HANDSHAKE 3 /* the handshake failed (not https on that port, wrong scheme) */
int lp_http_tls_failure(CURLcode cc);
/* 1 when the connection broke after the request may have been sent (repeat only what is safe to
 * repeat). A refused connection is not one: nothing listens. */
int lp_http_broken(CURLcode cc);

#endif
