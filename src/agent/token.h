/* token.h — the lease worker's check of a data-plane lease token (docs/dataplane.md "Lease tokens"):
 * the signature must verify with the node key, the lease must be the worker's, and the worker's GPU
 * UUID must be listed. Signing and the token format live in src/common/lease_token.h. */
#ifndef LEPTON_AGENT_TOKEN_H
#define LEPTON_AGENT_TOKEN_H

#include <stddef.h>

enum {
    LP_TOKEN_OK = 0,
    LP_TOKEN_UNAUTHORIZED = 401, /* missing, malformed, or not signed with the node key */
    LP_TOKEN_FORBIDDEN = 403,    /* genuine, but not for this GPU (or node) */
    LP_TOKEN_NEWER_LEASE = 503,  /* genuine and for this GPU, but for another lease: the broker has
                                    granted the GPU again, so this worker's lease is over and the
                                    new lease's worker is about to replace it (retry shortly) */
};

/* What a worker serves. */
typedef struct lp_token_scope {
    unsigned char key[32]; /* node key (raw bytes) */
    const char *lease;     /* lease id */
    const char *node;      /* node name; NULL skips the check */
    const char *uuid;      /* this worker's GPU UUID */
} lp_token_scope;

/* Decodes the 64 hex digits of a node key as the broker sends it. Returns 0 or -1. */
int lp_node_key_from_hex(const char *hex, unsigned char key[32]);
/* Checks an Authorization header value ("Bearer TOKEN"; a bare token is accepted too).
 * Returns one of the LP_TOKEN_* values, with a reason in msg when not LP_TOKEN_OK. */
int lp_token_check(const lp_token_scope *scope, const char *authorization, char *msg, size_t msg_size);

#endif
