/* broker_call.h — one HTTP request to the broker under test, for the broker unit tests that talk to
 * it over the wire (test_api, test_heartbeat, test_trust). */
#ifndef LEPTON_TEST_BROKER_CALL_H
#define LEPTON_TEST_BROKER_CALL_H

#include <curl/curl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct bt_body {
    char *p;
    size_t n, cap;
} bt_body;

static size_t bt_sink(char *p, size_t s, size_t n, void *u) {
    bt_body *b = u;
    size_t k = s * n;
    if (b->n + k + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->n + k + 1) cap *= 2;
        char *q = realloc(b->p, cap);
        if (!q) return 0; /* the transfer fails */
        b->p = q;
        b->cap = cap;
    }
    memcpy(b->p + b->n, p, k);
    b->n += k;
    b->p[b->n] = 0;
    return k;
}

/* `method` base+path on handle c (kept alive between calls); a bearer token when tok is not NULL;
 * a JSON body when body is not NULL. *status is the HTTP status (0 when the request failed). Returns
 * the parsed answer (NULL when it is not JSON); the raw body goes to *raw (malloc'd, the caller
 * frees it) when raw is not NULL. */
static json_t *bt_call(CURL *c, const char *base, const char *method, const char *path, const char *tok,
                       const char *body, long *status, char **raw) {
    bt_body b = {0};
    char url[256], auth[200];
    snprintf(url, sizeof url, "%s%s", base, path);
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
    if (tok) {
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", tok);
        h = curl_slist_append(h, auth);
    }
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, bt_sink);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_HTTPGET, body ? 0L : 1L); /* a handle's earlier POST fields are dropped */
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    *status = 0;
    if (curl_easy_perform(c) == CURLE_OK) curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
    curl_slist_free_all(h);
    json_t *j = json_loads(b.p ? b.p : "", 0, NULL);
    if (raw)
        *raw = b.p ? b.p : strdup("");
    else
        free(b.p);
    return j;
}

#endif
