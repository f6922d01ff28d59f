/* client.c — lepton_client_open and lepton_client_close: option validation, defaults and
 * environment fallbacks, the client's list of lease handles (lepton_client_close closes those it
 * opened and detaches those it attached), and its log callback.
 *
 * Thread safety: a client's configuration is written once before lepton_client_open returns and
 * only read afterwards; the lease list is guarded by c->lock, which is never held while doing
 * I/O or calling the log callback; HTTP handles are pooled under their own lock (http.c). */
#include "client.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "errors.h"
#include "lease.h"
#include "text.h"

#define LC_DEFAULT_ENDPOINT "http://127.0.0.1:7700"
#define LC_DEFAULT_TIMEOUT_MS 30000
#define LC_ENDPOINT_MAX 1024
/* Sizes of each known version of lepton_client_options (index = version). */
static const size_t options_size[] = {0, sizeof(lepton_client_options)};
#define OPTIONS_VERSION_MAX (sizeof options_size / sizeof options_size[0] - 1)

void lc_log(const lepton_client *c, int level, const char *fmt, ...) {
    if (!c->log) return;
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    /* The callback may call liblepton (e.g. with another client) and so replace this thread's
     * last error, which still has to describe the call being logged: keep it across the call. */
    char saved[4096];
    lc_copy_text(saved, sizeof saved, lepton_last_error());
    c->log(level, msg, c->log_user);
    if (strcmp(saved, lepton_last_error()) != 0) lc_error_set("%s", saved);
}

void lc_client_track(lepton_client *c, lepton_lease *l) {
    pthread_mutex_lock(&c->lock);
    l->prev = NULL;
    l->next = c->leases;
    if (c->leases) c->leases->prev = l;
    c->leases = l;
    pthread_mutex_unlock(&c->lock);
}

void lc_client_untrack(lepton_client *c, lepton_lease *l) {
    pthread_mutex_lock(&c->lock);
    if (l->prev)
        l->prev->next = l->next;
    else if (c->leases == l)
        c->leases = l->next;
    if (l->next) l->next->prev = l->prev;
    l->prev = l->next = NULL;
    pthread_mutex_unlock(&c->lock);
}

/* Checks that `url` is an absolute http(s) URL to which "/v1/..." can be appended, and writes it
 * without trailing slashes into out[LC_ENDPOINT_MAX + 1]. `what` names its source for messages. */
static int check_endpoint(const char *what, const char *url, char *out) {
    size_t n = strlen(url);
    const char *rest = NULL;
    if (!strncasecmp(url, "http://", 7))
        rest = url + 7;
    else if (!strncasecmp(url, "https://", 8))
        rest = url + 8;
    if (!rest)
        return lc_fail(LEPTON_EINVAL, "lepton_client_open: %s \"%.200s\" is not an http:// or https:// URL",
                       what, url);
    if (*rest == '\0' || *rest == '/' || *rest == ':')
        return lc_fail(LEPTON_EINVAL, "lepton_client_open: %s \"%.200s\" names no host", what, url);
    if (n > LC_ENDPOINT_MAX)
        return lc_fail(LEPTON_EINVAL, "lepton_client_open: %s is %zu bytes long; the limit is %d", what, n,
                       LC_ENDPOINT_MAX);
    for (const char *p = url; *p; p++) {
        unsigned char ch = (unsigned char)*p;
        if (ch <= 0x20 || ch == 0x7f)
            return lc_fail(LEPTON_EINVAL,
                           "lepton_client_open: %s \"%.200s\" contains a space or control character", what,
                           url);
        if (ch == '?' || ch == '#')
            return lc_fail(
                LEPTON_EINVAL,
                "lepton_client_open: %s \"%.200s\" has a query or fragment; give the broker's base URL", what,
                url);
    }
    memcpy(out, url, n + 1);
    while (n > 0 && out[n - 1] == '/')
        out[--n] = '\0';
    return LEPTON_OK;
}

static int check_token(const char *what, const char *token) {
    for (size_t i = 0; token[i]; i++) {
        unsigned char ch = (unsigned char)token[i];
        if (ch < 0x20 || ch == 0x7f) /* would split the HTTP header; the token itself is not shown */
            return lc_fail(
                LEPTON_EINVAL,
                "lepton_client_open: %s contains a control character (byte %zu); a token is printable text",
                what, i);
    }
    return LEPTON_OK;
}

int lepton_client_open(lepton_client **out, const lepton_client_options *opts) {
    if (!out) return lc_fail(LEPTON_EINVAL, "lepton_client_open: out is NULL");
    *out = NULL;
    lepton_client_options o = LEPTON_CLIENT_OPTIONS_INIT;
    if (opts) {
        if (opts->version == 0 || opts->version > OPTIONS_VERSION_MAX)
            return lc_fail(
                LEPTON_EINVAL,
                "lepton_client_open: opts->version %u is not supported (this library knows versions 1 "
                "to %zu); initialise the struct with LEPTON_CLIENT_OPTIONS_INIT",
                opts->version, (size_t)OPTIONS_VERSION_MAX);
        memcpy(&o, opts, options_size[opts->version]);
    }

    char endpoint[LC_ENDPOINT_MAX + 1];
    const char *env;
    int rc;
    if (o.endpoint)
        rc = check_endpoint("opts->endpoint", o.endpoint, endpoint);
    else if ((env = getenv("LEPTON_ENDPOINT")) && *env)
        rc = check_endpoint("$LEPTON_ENDPOINT", env, endpoint);
    else
        rc = check_endpoint("the default endpoint", LC_DEFAULT_ENDPOINT, endpoint);
    if (rc) return rc;

    /* An empty token means none, as an unset one does. */
    const char *token = o.token;
    const char *token_src = "opts->token";
    if (!token) {
        token = getenv("LEPTON_TOKEN");
        token_src = "$LEPTON_TOKEN";
    }
    if (token && !*token) token = NULL;
    if (token && (rc = check_token(token_src, token))) return rc;

    if (o.timeout_ms < 0)
        return lc_fail(LEPTON_EINVAL,
                       "lepton_client_open: opts->timeout_ms %d is negative; use 0 for the default of %d ms",
                       (int)o.timeout_ms, LC_DEFAULT_TIMEOUT_MS);
    int32_t timeout_ms = o.timeout_ms ? o.timeout_ms : LC_DEFAULT_TIMEOUT_MS;

    const char *ca_file = o.ca_file && *o.ca_file ? o.ca_file : NULL, *ca_src = "opts->ca_file";
    if (!ca_file) {
        ca_file = getenv("LEPTON_CA_FILE");
        if (ca_file && !*ca_file) ca_file = NULL;
        ca_src = "$LEPTON_CA_FILE";
    }
    if (ca_file && access(ca_file, R_OK) != 0)
        return lc_fail(LEPTON_EINVAL, "lepton_client_open: %s \"%.300s\" cannot be read: %s", ca_src, ca_file,
                       strerror(errno));

    lepton_client *c = calloc(1, sizeof *c);
    if (!c) return lc_fail(LEPTON_ENOMEM, "lepton_client_open: out of memory");
    if ((rc = lc_http_init(&c->http, endpoint, token, ca_file, timeout_ms))) {
        free(c);
        return rc;
    }
    pthread_mutex_init(&c->lock, NULL);
    c->log = o.log;
    c->log_user = o.log_user;
    *out = c;
    return LEPTON_OK;
}

void lepton_client_close(lepton_client *c) {
    if (!c) return;
    /* Take the whole list at once; nobody else may use the client now (lepton.h), but the lock
     * keeps the hand-over visible to this thread whichever thread opened the leases. */
    pthread_mutex_lock(&c->lock);
    lepton_lease *l = c->leases;
    c->leases = NULL;
    pthread_mutex_unlock(&c->lock);
    /* Close them one by one; once the broker proved unreachable, the rest are only freed (they
     * end by their TTL) so that closing a client never takes N network timeouts. */
    int offline = 0;
    while (l) {
        lepton_lease *next = l->next;
        l->prev = l->next = NULL;
        if (l->attached) { /* opened elsewhere: it keeps running (lepton.h) */
            lc_lease_detach(l);
            l = next;
            continue;
        }
        int rc = lc_lease_end(l, offline);
        if (rc == LEPTON_ENET && !offline) {
            offline = 1;
            lc_log(c, LEPTON_LOG_WARN, "broker unreachable; the client's remaining leases end by their TTL");
        }
        l = next;
    }
    lc_http_free(&c->http);
    pthread_mutex_destroy(&c->lock);
    free(c);
}
