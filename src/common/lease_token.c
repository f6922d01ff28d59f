/* lease_token.c — signing and verifying data-plane lease tokens (lease_token.h). */
#include "lease_token.h"

#include <stdlib.h>
#include <string.h>

#include "base64.h"
#include "sha256.h"

void lp_node_key(const unsigned char *secret, size_t secret_len, const char *node, unsigned char key[32]) {
    /* "node:" separates this use of the secret from any other */
    size_t n = strlen(node);
    unsigned char msg[5 + 256];
    if (n > 256) n = 256;
    memcpy(msg, "node:", 5);
    memcpy(msg + 5, node, n);
    lp_hmac_sha256(secret, secret_len, msg, 5 + n, key);
}

void lp_lease_key(const unsigned char node_key[32], const char *lease, unsigned char key[32]) {
    /* the prefix separates this use of the node key from any other */
    static const char prefix[] = "lepton-lease-key:";
    const size_t pn = sizeof prefix - 1;
    size_t n = strlen(lease);
    unsigned char msg[sizeof prefix - 1 + 256];
    if (n > 256) n = 256;
    memcpy(msg, prefix, pn);
    memcpy(msg + pn, lease, n);
    lp_hmac_sha256(node_key, 32, msg, pn + n, key);
}

char *lp_lease_token_sign(const unsigned char key[32], const char *payload) {
    size_t n = strlen(payload);
    size_t cap = (n + 2) / 3 * 4 + 1 + 44 + 1;
    char *tok = malloc(cap);
    if (!tok) return NULL;
    size_t p = lp_b64url_encode((const unsigned char *)payload, n, tok);
    unsigned char mac[32];
    lp_hmac_sha256(key, 32, tok, p, mac);
    tok[p] = '.';
    lp_b64url_encode(mac, 32, tok + p + 1);
    return tok;
}

char *lp_lease_token_verify(const unsigned char key[32], const char *token) {
    const char *dot = strchr(token, '.');
    if (!dot) return NULL;
    size_t plen = (size_t)(dot - token);
    unsigned char mac[32], got[33];
    lp_hmac_sha256(key, 32, token, plen, mac);
    if (lp_b64url_decode(dot + 1, strlen(dot + 1), got, sizeof got) != 32) return NULL;
    if (!lp_const_time_eq(mac, got, 32)) return NULL;
    char *payload = malloc(plen + 1);
    if (!payload) return NULL;
    long m = lp_b64url_decode(token, plen, (unsigned char *)payload, plen);
    if (m < 0) {
        free(payload);
        return NULL;
    }
    payload[m] = 0;
    return payload;
}
