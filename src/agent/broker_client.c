/* broker_client.c — libcurl behind broker_client.h. */
#include "broker_client.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_ANSWER (16u << 20)

struct lp_broker_client {
    CURL *curl;
    char base[512];
    char ca_file[512]; /* "" → the system's CA bundle */
    struct curl_slist *headers;
    const int *abort_flag;
};

static int on_progress(void *user, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un) {
    const int *flag = user;
    return flag && __atomic_load_n(flag, __ATOMIC_RELAXED) ? 1 : 0;
}

void lp_broker_client_set_abort(lp_broker_client *bc, const int *flag) { bc->abort_flag = flag; }

typedef struct answer {
    char *buf;
    size_t len, cap;
    int too_big;
} answer;

static size_t on_data(char *p, size_t size, size_t n, void *user) {
    answer *a = user;
    size_t k = size * n;
    if (a->len + k > MAX_ANSWER) {
        a->too_big = 1;
        return 0;
    }
    if (a->len + k + 1 > a->cap) {
        size_t cap = a->cap ? a->cap : 4096;
        while (cap < a->len + k + 1)
            cap *= 2;
        char *nb = realloc(a->buf, cap);
        if (!nb) return 0;
        a->buf = nb;
        a->cap = cap;
    }
    memcpy(a->buf + a->len, p, k);
    a->len += k;
    a->buf[a->len] = 0;
    return k;
}

lp_broker_client *lp_broker_client_new(const char *base, const char *token, const char *ca_file) {
    static int global_done;
    if (!global_done) {
        curl_global_init(CURL_GLOBAL_DEFAULT);
        global_done = 1;
    }
    lp_broker_client *bc = calloc(1, sizeof *bc);
    if (!bc) return NULL;
    snprintf(bc->base, sizeof bc->base, "%s", base);
    snprintf(bc->ca_file, sizeof bc->ca_file, "%s", ca_file ? ca_file : "");
    bc->curl = curl_easy_init();
    char auth[600];
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", token);
    bc->headers = curl_slist_append(NULL, auth);
    if (bc->headers) bc->headers = curl_slist_append(bc->headers, "Content-Type: application/json");
    if (bc->headers) bc->headers = curl_slist_append(bc->headers, "Expect:");
    if (!bc->curl || !bc->headers) {
        lp_broker_client_free(bc);
        return NULL;
    }
    return bc;
}

void lp_broker_client_free(lp_broker_client *bc) {
    if (!bc) return;
    if (bc->curl) curl_easy_cleanup(bc->curl);
    curl_slist_free_all(bc->headers);
    free(bc);
}

int lp_broker_call(lp_broker_client *bc, const char *method, const char *path, const json_t *body,
                   long timeout_ms, json_t **out, char *err, size_t err_size) {
    *out = NULL;
    if (err_size) err[0] = 0;
    char url[1200];
    snprintf(url, sizeof url, "%s%s", bc->base, path);
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    answer a = {0};
    char curl_err[CURL_ERROR_SIZE] = "";
    CURL *c = bc->curl;
    curl_easy_reset(c);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, curl_err);
    if (bc->ca_file[0]) curl_easy_setopt(c, CURLOPT_CAINFO, bc->ca_file);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, bc->headers);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms < 3000 ? timeout_ms : 3000L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &a);
    if (bc->abort_flag) {
        curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
        curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
        curl_easy_setopt(c, CURLOPT_XFERINFODATA, (void *)bc->abort_flag);
    }
    if (text) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, text);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(text));
    } else if (!strcmp(method, "POST")) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, "");
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, 0L);
    }
    CURLcode rc = curl_easy_perform(c);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, NULL); /* curl_err ends with this call */
    free(text);
    if (rc == CURLE_PEER_FAILED_VERIFICATION || rc == CURLE_SSL_CACERT_BADFILE) {
        /* say which certificate problem, and what to do */
        snprintf(err, err_size, "%s %s: %s (%s)", method, url,
                 curl_err[0] ? curl_err : curl_easy_strerror(rc),
                 rc == CURLE_SSL_CACERT_BADFILE ? "check --ca-file"
                 : bc->ca_file[0] ? "the broker's certificate is not signed by a CA in --ca-file"
                                  : "give its CA with --ca-file FILE");
        free(a.buf);
        return -1;
    }
    if (rc != CURLE_OK) {
        snprintf(err, err_size, "%s %s: %s", method, url,
                 a.too_big ? "answer too large" : curl_easy_strerror(rc));
        free(a.buf);
        return -1;
    }
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    if (a.len) *out = json_loadb(a.buf, a.len, 0, NULL);
    free(a.buf);
    if (status < 200 || status > 299) {
        const json_t *e = json_object_get(*out, "error");
        const char *code = json_string_value(json_object_get(e, "code"));
        const char *msg = json_string_value(json_object_get(e, "message"));
        snprintf(err, err_size, "%s %s: HTTP %ld %s%s%s", method, path, status, code ? code : "",
                 msg ? ": " : "", msg ? msg : "");
    }
    return (int)status;
}
