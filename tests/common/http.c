/* http.c — see http.h. */
#include "http.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct sink {
    char **p;
    size_t *n;
    size_t cap;
} sink;

static size_t collect(char *ptr, size_t size, size_t nmemb, void *user) {
    sink *s = user;
    size_t k = size * nmemb;
    if (*s->n + k + 1 > s->cap) {
        size_t cap = s->cap ? s->cap : 4096;
        while (cap < *s->n + k + 1)
            cap *= 2;
        char *q = realloc(*s->p, cap);
        if (!q) return 0; /* the transfer fails */
        *s->p = q;
        s->cap = cap;
    }
    memcpy(*s->p + *s->n, ptr, k);
    *s->n += k;
    (*s->p)[*s->n] = '\0';
    return k;
}

int tc_http(CURL *c, const tc_http_req *q, tc_http_resp *out) {
    memset(out, 0, sizeof *out);
    CURL *own = NULL;
    if (c)
        curl_easy_reset(c);
    else
        c = own = curl_easy_init();
    if (!c) {
        out->error = "curl_easy_init failed";
        out->code = CURLE_FAILED_INIT;
        out->body = calloc(1, 1);
        return -1;
    }
    struct curl_slist *hdrs = NULL;
    char line[2200];
    if (q->bearer) {
        snprintf(line, sizeof line, "Authorization: Bearer %s", q->bearer);
        hdrs = curl_slist_append(hdrs, line);
    } else if (q->auth && *q->auth) {
        snprintf(line, sizeof line, "Authorization: %s", q->auth);
        hdrs = curl_slist_append(hdrs, line);
    }
    if (q->content_type) {
        snprintf(line, sizeof line, "Content-Type: %s", q->content_type);
        hdrs = curl_slist_append(hdrs, line);
    }
    if (q->expect == TC_EXPECT_NEVER) hdrs = curl_slist_append(hdrs, "Expect:");
    if (q->expect == TC_EXPECT_LARGE) {
        int large = q->body && q->body_len > (1u << 20);
        hdrs = curl_slist_append(hdrs, large ? "Expect: 100-continue" : "Expect:");
        if (large) curl_easy_setopt(c, CURLOPT_EXPECT_100_TIMEOUT_MS, 30000L);
    }
    if (q->extra_header) hdrs = curl_slist_append(hdrs, q->extra_header);
    if (q->body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, q->body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)q->body_len);
    }
    sink body = {&out->body, &out->len, 0}, head = {&out->head, &out->head_len, 0};
    curl_easy_setopt(c, CURLOPT_URL, q->url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, q->method ? q->method : "GET");
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &body);
    if (q->want_head) {
        curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, collect);
        curl_easy_setopt(c, CURLOPT_HEADERDATA, &head);
    }
    if (q->timeout_ms > 0) curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, q->timeout_ms);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    if (q->ca_file) curl_easy_setopt(c, CURLOPT_CAINFO, q->ca_file);
    CURLcode rc = out->code = curl_easy_perform(c);
    if (rc == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &out->status);
    else
        out->error = curl_easy_strerror(rc);
    curl_slist_free_all(hdrs);
    if (own) curl_easy_cleanup(own);
    if (!out->body) out->body = calloc(1, 1);
    if (q->want_head && !out->head) out->head = calloc(1, 1);
    return rc == CURLE_OK ? 0 : -1;
}

void tc_http_resp_free(tc_http_resp *r) {
    free(r->body);
    free(r->head);
    memset(r, 0, sizeof *r);
}
