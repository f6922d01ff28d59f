/* auth.c — bearer-token authentication: hash the token, look it up (the store refuses a revoked one),
 * refuse it past its expiry, check the role (tenant or node); the dev tenant when no token is sent and
 * the broker runs in dev mode. Every request reads the token's row: nothing is cached, so a
 * revocation applies to the very next request. */
#include <string.h>
#include <strings.h>

#include "broker_internal.h"
#include "sha256.h"
#include "wire.h"

int lp_auth(lp_broker *b, lp_http_req *r, int need, lp_principal *out) {
    memset(out, 0, sizeof *out);
    const char *h = lp_http_header(r, "Authorization");
    if (!h || !*h) {
        if (b->has_dev_tenant) {
            memcpy(out->tenant, b->dev_tenant, sizeof out->tenant);
            out->is_dev = 1;
            return 0;
        }
        lp_http_reply_error(r, WIRE_UNAUTHORIZED,
                            "create a token with: lepton-broker token create --db DB --tenant NAME",
                            "missing Authorization: Bearer <token> header");
        return -1;
    }
    if (strncasecmp(h, "Bearer ", 7) != 0) {
        lp_http_reply_error(r, WIRE_UNAUTHORIZED, NULL, "the Authorization header must be 'Bearer <token>'");
        return -1;
    }
    const char *tok = h + 7;
    while (*tok == ' ')
        tok++;
    size_t n = strlen(tok);
    while (n && tok[n - 1] == ' ')
        n--;
    if (!n || n > 512) {
        lp_http_reply_error(r, WIRE_UNAUTHORIZED, NULL, "empty or oversized bearer token");
        return -1;
    }
    char hash[65];
    lp_sha256_hex(tok, n, hash);
    lp_err e = {0};
    if (b->store->ops->token_lookup(b->store, hash, out, &e) != 0) {
        lp_reply_err(r, &e);
        return -1;
    }
    int64_t now = lp_broker_now(b);
    if (out->expires_ms && now >= out->expires_ms) {
        char when[LP_BROKER_TIME_TEXT_MAX];
        lp_broker_time_text(out->expires_ms, when);
        lp_http_reply_error(r, WIRE_UNAUTHORIZED,
                            "ask the operator for a new token (lepton-broker token create)",
                            "token expired at %s: token %s of tenant %s", when, out->token_id, out->tenant);
        return -1;
    }
    if ((need & AUTH_NODE) && !(need & AUTH_TENANT) && !out->is_node) {
        lp_http_reply_error(r, WIRE_FORBIDDEN, "create one with: lepton-broker token create --node ...",
                            "this endpoint needs a node token; tenant %s presented a tenant token",
                            out->tenant);
        return -1;
    }
    if ((need & AUTH_TENANT) && !(need & AUTH_NODE) && out->is_node) {
        lp_http_reply_error(r, WIRE_FORBIDDEN, NULL, "a node token cannot be used on tenant endpoints");
        return -1;
    }
    return 0;
}
