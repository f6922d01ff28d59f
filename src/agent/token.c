/* token.c — checking lease tokens on the worker (token.h). */
#include "token.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lease_token.h"

static int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

int lp_node_key_from_hex(const char *hex, unsigned char key[32]) {
    if (!hex || strlen(hex) != 64) return -1;
    for (int i = 0; i < 32; i++) {
        int hi = hexval(hex[2 * i]), lo = hexval(hex[2 * i + 1]);
        if (hi < 0 || lo < 0) return -1;
        key[i] = (unsigned char)(hi << 4 | lo);
    }
    return 0;
}

#define MAX_TOKEN 8192

int lp_token_check(const lp_token_scope *sc, const char *auth, char *msg, size_t msg_size) {
    if (!auth || !*auth) {
        snprintf(msg, msg_size, "missing Authorization: Bearer <lease token> (the lease's data_plane.token)");
        return LP_TOKEN_UNAUTHORIZED;
    }
    if (!strncasecmp(auth, "Bearer ", 7)) auth += 7;
    while (*auth == ' ') auth++;
    if (!*auth || strlen(auth) > MAX_TOKEN || !strchr(auth, '.')) {
        snprintf(msg, msg_size, "the lease token is malformed");
        return LP_TOKEN_UNAUTHORIZED;
    }
    char *payload = lp_lease_token_verify(sc->key, auth);
    if (!payload) {
        snprintf(msg, msg_size, "the lease token's signature does not verify with this node's key");
        return LP_TOKEN_UNAUTHORIZED;
    }
    json_t *p = json_loads(payload, JSON_REJECT_DUPLICATES, NULL);
    free(payload);
    if (!json_is_object(p)) {
        json_decref(p);
        snprintf(msg, msg_size, "the lease token's payload is not a JSON object");
        return LP_TOKEN_UNAUTHORIZED;
    }
    int rc = LP_TOKEN_FORBIDDEN;
    const char *lease = json_string_value(json_object_get(p, "lease"));
    const char *node = json_string_value(json_object_get(p, "node"));
    const json_t *gpus = json_object_get(p, "gpus");
    if (!lease || !json_is_array(gpus)) {
        snprintf(msg, msg_size, "the lease token lacks its lease or gpus");
        rc = LP_TOKEN_UNAUTHORIZED;
        goto out;
    }
    if (sc->node && node && strcmp(node, sc->node) != 0) {
        snprintf(msg, msg_size, "the lease token is for node %.80s; this is node %.80s", node, sc->node);
        goto out;
    }
    int listed = 0;
    size_t i;
    const json_t *g;
    json_array_foreach(gpus, i, g) {
        const char *u = json_string_value(g);
        if (u && !strcmp(u, sc->uuid)) listed = 1;
    }
    if (!listed) {
        snprintf(msg, msg_size, "lease %.80s does not hold GPU %.80s served here", lease, sc->uuid);
        goto out;
    }
    if (strcmp(lease, sc->lease) != 0) {
        snprintf(msg, msg_size, "GPU %.80s is still being released by lease %.80s; the worker of lease %.80s starts in a "
                 "moment", sc->uuid, sc->lease, lease);
        rc = LP_TOKEN_NEWER_LEASE;
        goto out;
    }
    rc = LP_TOKEN_OK;
out:
    json_decref(p);
    return rc;
}
