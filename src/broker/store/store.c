/* store.c — backend-independent parts of the store: opening by URL, redacting a URL for logs. */
#include "store.h"

#include <stdio.h>
#include <string.h>

#include "wire.h"

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
