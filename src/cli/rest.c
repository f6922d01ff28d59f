/* rest.c — raw calls to the broker's REST API (docs/protocol.md) for what liblepton has no
 * function for: a lease by id (info, extend, close), lease lists, leases that outlive the command
 * (lease open), nodes and usage. Error answers map to lepton_status through the one table of
 * src/common/wire.c. */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "wire.h"

typedef struct rbuf {
    char *p;
    size_t n;
} rbuf;

static size_t on_data(char *ptr, size_t size, size_t nmemb, void *user) {
    rbuf *b = user;
    size_t add = size * nmemb;
    if (b->n + add > (64u << 20)) return 0; /* a broker answer is never this large */
    char *np = realloc(b->p, b->n + add + 1);
    if (!np) return 0;
    memcpy(np + b->n, ptr, add);
    b->p = np;
    b->n += add;
    b->p[b->n] = 0;
    return add;
}

int cli_http(const cli_global *g, const char *method, const char *path, const json_t *body, long timeout_ms,
             json_t **out, char *err, size_t en) {
    *out = NULL;
    CURL *c = curl_easy_init();
    if (!c) {
        snprintf(err, en, "cannot set up libcurl");
        return LEPTON_ENOMEM;
    }
    char url[2048];
    const char *ep = cli_endpoint(g);
    size_t epn = strlen(ep);
    while (epn > 0 && ep[epn - 1] == '/')
        epn--;
    snprintf(url, sizeof url, "%.*s%s", (int)epn, ep, path);
    struct curl_slist *h = NULL;
    char auth[700];
    const char *tok = cli_token(g);
    if (tok) {
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", tok);
        h = curl_slist_append(h, auth);
    }
    char *payload = NULL;
    if (body) {
        payload = json_dumps(body, JSON_COMPACT);
        h = curl_slist_append(h, "Content-Type: application/json");
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, payload ? payload : "{}");
    } else if (!strcmp(method, "POST")) {
        h = curl_slist_append(h, "Content-Type: application/json");
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, "{}");
    }
    rbuf b = {0};
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms > 0 ? timeout_ms : 30000L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    const char *ca = cli_ca_file(g);
    if (ca) curl_easy_setopt(c, CURLOPT_CAINFO, ca);
    char cerr[CURL_ERROR_SIZE] = "";
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, cerr);
    CURLcode cc = curl_easy_perform(c);
    long code = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    curl_easy_cleanup(c);
    curl_slist_free_all(h);
    free(payload);
    int rc = LEPTON_OK;
    if (cc != CURLE_OK) {
        int tls = cc == CURLE_PEER_FAILED_VERIFICATION || cc == CURLE_SSL_CACERT_BADFILE ||
                  cc == CURLE_SSL_CONNECT_ERROR;
        snprintf(err, en, "cannot reach the broker at %.*s: %s (%s)", (int)epn, ep,
                 *cerr ? cerr : curl_easy_strerror(cc),
                 tls ? "its TLS certificate is not trusted here, or it does not speak https: see --ca-file"
                     : "is `lepton dev` running? see --endpoint");
        rc = LEPTON_ENET;
        goto done;
    }
    json_error_t je;
    json_t *j = b.p ? json_loadb(b.p, b.n, 0, &je) : NULL;
    if (code >= 200 && code < 300) {
        if (!j) {
            snprintf(err, en, "the broker's answer to %s %s is not JSON", method, path);
            rc = LEPTON_EPROTO;
            goto done;
        }
        *out = j;
        goto done;
    }
    const json_t *e = json_object_get(j, "error");
    const char *wcode = json_string_value(json_object_get(e, "code"));
    const char *msg = json_string_value(json_object_get(e, "message"));
    const char *hint = json_string_value(json_object_get(e, "hint"));
    rc = wire_code_to_status(wcode, code);
    if (rc == LEPTON_OK) rc = LEPTON_EPROTO;
    if (msg)
        snprintf(err, en, "%s%s%s", msg, hint && *hint ? "; " : "", hint && *hint ? hint : "");
    else
        snprintf(err, en, "HTTP %ld from the broker for %s %s", code, method, path);
    *out = j;
done:
    free(b.p);
    return rc;
}
