/* token.c — checking lease tokens on the worker (token.h). */
#include "token.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "base64.h"
#include "lease_token.h"
#include "rand.h"

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

/* A token that does not verify with this worker's lease key: either forged, or genuine for another
 * lease (whose key this worker does not hold). Its unverified payload tells which lease it claims:
 * one that ran on this GPU and ended → 410; another lease listing this GPU → the GPU was granted
 * again (503, retry); otherwise 401. Nothing is served on an unverified token. */
static int unverified(const lp_token_scope *sc, const char *tok, char *msg, size_t msg_size) {
    int rc = LP_TOKEN_UNAUTHORIZED;
    snprintf(msg, msg_size,
             "the lease token's signature does not verify with the key of lease %.80s, the lease this "
             "worker serves",
             sc->lease);
    const char *dot = strchr(tok, '.');
    size_t plen = (size_t)(dot - tok);
    char *payload = malloc(plen + 1);
    long m = payload ? lp_b64url_decode(tok, plen, (unsigned char *)payload, plen) : -1;
    json_t *p = m >= 0 ? json_loadb(payload, (size_t)m, JSON_REJECT_DUPLICATES, NULL) : NULL;
    free(payload);
    const char *lease = json_string_value(json_object_get(p, "lease"));
    const json_t *gpus = json_object_get(p, "gpus");
    int listed = 0;
    size_t i;
    const json_t *g;
    json_array_foreach(gpus, i, g) {
        const char *u = json_string_value(g);
        if (u && !strcmp(u, sc->uuid)) listed = 1;
    }
    if (lease && strcmp(lease, sc->lease) != 0) {
        for (int k = 0; k < sc->nended; k++)
            if (!strcmp(sc->ended[k], lease)) {
                snprintf(msg, msg_size, "lease %.80s has ended: GPU %.80s now serves another lease", lease,
                         sc->uuid);
                rc = LP_TOKEN_LEASE_ENDED;
                goto out;
            }
        if (listed) {
            snprintf(msg, msg_size,
                     "GPU %.80s is still being released by lease %.80s; the worker of lease %.80s "
                     "starts in a moment",
                     sc->uuid, sc->lease, lease);
            rc = LP_TOKEN_NEWER_LEASE;
        }
    }
out:
    json_decref(p);
    return rc;
}

int lp_token_check(const lp_token_scope *sc, const char *auth, char *msg, size_t msg_size) {
    if (!auth || !*auth) {
        snprintf(msg, msg_size, "missing Authorization: Bearer <lease token> (the lease's data_plane.token)");
        return LP_TOKEN_UNAUTHORIZED;
    }
    if (!strncasecmp(auth, "Bearer ", 7)) auth += 7;
    while (*auth == ' ')
        auth++;
    if (!*auth || strlen(auth) > MAX_TOKEN || !strchr(auth, '.')) {
        snprintf(msg, msg_size, "the lease token is malformed");
        return LP_TOKEN_UNAUTHORIZED;
    }
    char *payload = lp_lease_token_verify(sc->key, auth);
    if (!payload) return unverified(sc, auth, msg, msg_size);
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
        snprintf(msg, msg_size,
                 "GPU %.80s is still being released by lease %.80s; the worker of lease %.80s starts in a "
                 "moment",
                 sc->uuid, sc->lease, lease);
        rc = LP_TOKEN_NEWER_LEASE;
        goto out;
    }
    rc = LP_TOKEN_OK;
out:
    json_decref(p);
    return rc;
}

int lp_token_grant_text(char *buf, size_t n, const unsigned char key[32], const char (*ended)[128],
                        int nended) {
    char hex[65];
    lp_hex(hex, key, 32);
    int len = snprintf(buf, n, "key %s\n", hex);
    for (int i = 0; len >= 0 && (size_t)len < n && i < nended && i < LP_TOKEN_MAX_ENDED; i++)
        len += snprintf(buf + len, n - (size_t)len, "ended %.127s\n", ended[i]);
    memset(hex, 0, sizeof hex);
    return len < 0 || (size_t)len >= n ? -1 : len;
}

int lp_token_grant_read(lp_token_scope *sc, int fd, char *err, size_t en) {
    char buf[8192];
    size_t got = 0;
    for (;;) {
        ssize_t r = read(fd, buf + got, sizeof buf - 1 - got);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) {
            snprintf(err, en, "cannot read the lease key from fd %d: %s", fd, strerror(errno));
            return -1;
        }
        if (r == 0) break;
        got += (size_t)r;
        if (got == sizeof buf - 1) {
            snprintf(err, en, "the lease key text on fd %d exceeds %zu bytes", fd, sizeof buf - 1);
            return -1;
        }
    }
    buf[got] = 0;
    int have_key = 0;
    sc->nended = 0;
    for (char *line = buf, *nl; line && *line; line = nl) {
        nl = strchr(line, '\n');
        if (nl) *nl++ = 0;
        if (!strncmp(line, "key ", 4)) {
            have_key = lp_node_key_from_hex(line + 4, sc->key) == 0;
        } else if (!strncmp(line, "ended ", 6) && sc->nended < LP_TOKEN_MAX_ENDED && strlen(line + 6) < 128) {
            snprintf(sc->ended[sc->nended++], sizeof sc->ended[0], "%s", line + 6);
        }
    }
    memset(buf, 0, sizeof buf);
    if (!have_key) {
        snprintf(err, en, "fd %d carries no lease key (a line \"key <64 hex digits>\")", fd);
        return -1;
    }
    return 0;
}
