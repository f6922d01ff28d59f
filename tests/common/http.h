/* http.h — one HTTP request with libcurl, for the tests that talk to a server under test the way a
 * client would (a raw socket is net.h's job): method, URL, authorization, a body of any bytes, one
 * extra header line, a deadline; the answer's status, body and, when asked, its header lines. */
#ifndef LEPTON_TESTS_COMMON_HTTP_H
#define LEPTON_TESTS_COMMON_HTTP_H

#include <curl/curl.h>
#include <stddef.h>

/* When a body waits for the server's "100 Continue". */
typedef enum tc_http_expect {
    TC_EXPECT_DEFAULT, /* as libcurl chooses */
    TC_EXPECT_NEVER,   /* the body goes at once */
    TC_EXPECT_LARGE,   /* a body over 1 MiB waits (up to 30 s), so that a server that refuses it from its
                        * head answers before it is sent (sending regardless races the server's close);
                        * a smaller one goes at once */
} tc_http_expect;

typedef struct tc_http_req {
    const char *method; /* NULL: GET */
    const char *url;
    const char *bearer;       /* a token sent as "Authorization: Bearer TOKEN"; NULL: none */
    const char *auth;         /* a whole Authorization value (when bearer is NULL); NULL or "": none */
    const char *content_type; /* sent when not NULL, with or without a body */
    const void *body;         /* NULL: no body */
    size_t body_len;
    const char *extra_header; /* one more "Name: value" line, or NULL */
    long timeout_ms;          /* 0: no deadline */
    int want_head;            /* collect the answer's header lines in head */
    const char *ca_file;      /* the CA certificates that HTTPS trusts; NULL: the system's */
    tc_http_expect expect;
} tc_http_req;

typedef struct tc_http_resp {
    long status; /* the HTTP status; 0 when no answer came */
    char *body;  /* NUL-terminated (not counted in len); never NULL after tc_http */
    size_t len;
    char *head; /* the header lines when want_head (NUL-terminated), else NULL */
    size_t head_len;
    const char *error; /* why no answer came (libcurl's words), or NULL */
    CURLcode code;     /* libcurl's code: CURLE_OK when an answer came */
} tc_http_resp;

/* Performs q on handle c, reset first (its connections are kept, so a handle kept between calls
 * reuses them), or on a handle of its own when c is NULL. Returns 0 when an answer arrived, else -1
 * (out->error says why). The caller frees out with tc_http_resp_free. */
int tc_http(CURL *c, const tc_http_req *q, tc_http_resp *out);
void tc_http_resp_free(tc_http_resp *r);

#endif
