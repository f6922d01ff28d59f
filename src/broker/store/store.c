/* store.c — backend-independent parts of the store: opening by URL, errors, the owned lists' cleanup. */
#include "store.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wire.h"

void lp_err_set(lp_err *e, const char *code, const char *hint, const char *fmt, ...) {
    if (!e) return;
    e->code = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->message, sizeof e->message, fmt, ap);
    va_end(ap);
    snprintf(e->hint, sizeof e->hint, "%s", hint ? hint : "");
}

void lp_node_clear(lp_node *n) {
    if (!n) return;
    free(n->gpus);
    n->gpus = NULL;
    n->gpu_count = 0;
}

void lp_node_list_clear(lp_node_list *l) {
    for (size_t i = 0; i < l->n; i++)
        lp_node_clear(&l->v[i]);
    free(l->v);
    l->v = NULL;
    l->n = 0;
}

void lp_lease_clear(lp_lease *l) {
    if (!l) return;
    free(l->gpus);
    l->gpus = NULL;
}

void lp_lease_list_clear(lp_lease_list *l) {
    for (size_t i = 0; i < l->n; i++)
        lp_lease_clear(&l->v[i]);
    free(l->v);
    l->v = NULL;
    l->n = 0;
}

void lp_offer_list_clear(lp_offer_list *l) {
    free(l->v);
    l->v = NULL;
    l->n = 0;
}

void lp_event_list_clear(lp_event_list *l) {
    free(l->v);
    l->v = NULL;
    l->n = l->cap = 0;
}

int lp_event_list_push(lp_event_list *l, const lp_event *e) {
    if (!l) return 0;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 8;
        lp_event *nv = realloc(l->v, cap * sizeof *nv);
        if (!nv) return -1;
        l->v = nv;
        l->cap = cap;
    }
    l->v[l->n++] = *e;
    return 0;
}

int lp_store_open(const char *url, lp_store **out, lp_err *e) {
    *out = NULL;
    if (!url || !*url) {
        lp_err_set(e, WIRE_INVALID, "pass --db PATH", "no database given");
        return -1;
    }
    if (!strncmp(url, "postgres://", 11) || !strncmp(url, "postgresql://", 13))
        return lp_store_pg_open(url, out, e);
    const char *path = url;
    if (!strncmp(path, "sqlite://", 9)) path += 9;
    return lp_store_sqlite_open(path, out, e);
}

/* Copies a libpq URL without its password (user:password@host → user@host, ?password=… dropped). */
void lp_store_url_redact(const char *url, char *out, size_t n) {
    const char *auth = strstr(url, "://");
    auth = auth ? auth + 3 : url;
    const char *auth_end = auth + strcspn(auth, "/?#");
    const char *at = NULL, *colon = NULL;
    for (const char *c = auth; c < auth_end; c++)
        if (*c == '@') at = c;
    if (at) colon = memchr(auth, ':', (size_t)(at - auth));
    size_t k = 0;
    for (const char *c = url; *c && k + 1 < n;) {
        if (colon && c == colon) {
            c = at;
            continue;
        }
        if (c > auth_end && (c[-1] == '?' || c[-1] == '&') && !strncmp(c, "password=", 9)) {
            c += strcspn(c, "&#");
            if (*c == '&') c++;
            continue;
        }
        out[k++] = *c++;
    }
    out[k] = '\0';
}

void lp_token_list_clear(lp_token_list *l) {
    free(l->v);
    l->v = NULL;
    l->n = 0;
}

void lp_token_id(const char *hash_hex, char out[LP_TOKEN_ID_MAX]) {
    snprintf(out, LP_TOKEN_ID_MAX, "tk_%.16s", hash_hex);
}
