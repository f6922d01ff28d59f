/* token.h — the lease worker's check of a data-plane lease token (docs/dataplane.md "Lease tokens"):
 * the signature must verify with the worker's lease key, the lease must be the worker's, and the
 * worker's GPU UUID must be listed. A token that does not verify but names a lease that this GPU
 * served before (and that has ended) is told so (410). Also the text on which leptond hands a worker
 * its lease key and those ended leases (--key-fd). Signing, key derivation and the token format live
 * in src/common/lease_token.h. */
#ifndef LEPTON_AGENT_TOKEN_H
#define LEPTON_AGENT_TOKEN_H

#include <stddef.h>

enum {
    LP_TOKEN_OK = 0,
    LP_TOKEN_UNAUTHORIZED = 401, /* missing, malformed, or not signed with the lease key */
    LP_TOKEN_FORBIDDEN = 403,    /* genuine, but not for this GPU (or node) */
    LP_TOKEN_LEASE_ENDED = 410,  /* names a lease that this GPU served and that has ended (the
                                    signature is not checked: the key of that lease is not here) */
    LP_TOKEN_NEWER_LEASE = 503,  /* for another lease of this GPU: the broker has granted the GPU
                                    again, so this worker's lease is over and the new lease's worker
                                    is about to replace it (retry shortly) */
};

#define LP_TOKEN_MAX_ENDED 16 /* ended leases of a GPU a worker is told about (the latest) */

/* What a worker serves. */
typedef struct lp_token_scope {
    unsigned char key[32];               /* the lease key (raw bytes) */
    const char *lease;                   /* lease id */
    const char *node;                    /* node name; NULL skips the check */
    const char *uuid;                    /* this worker's GPU UUID */
    char ended[LP_TOKEN_MAX_ENDED][128]; /* leases that ran on this GPU before and have ended */
    int nended;
} lp_token_scope;

/* Decodes 64 hex digits (a node or lease key). Returns 0 or -1. */
int lp_node_key_from_hex(const char *hex, unsigned char key[32]);
/* Checks an Authorization header value ("Bearer TOKEN"; a bare token is accepted too).
 * Returns one of the LP_TOKEN_* values, with a reason in msg when not LP_TOKEN_OK. */
int lp_token_check(const lp_token_scope *scope, const char *authorization, char *msg, size_t msg_size);

/* The text leptond writes on the worker's --key-fd pipe: "key <64 hex digits>\n", then one
 * "ended <lease id>\n" per ended lease of the GPU. lp_token_grant_text formats it into buf (returns
 * its length, or -1 when it does not fit); lp_token_grant_read reads it from fd to its end into the
 * scope's key and ended list (returns 0, or -1 with err). */
int lp_token_grant_text(char *buf, size_t n, const unsigned char key[32], const char (*ended)[128],
                        int nended);
int lp_token_grant_read(lp_token_scope *scope, int fd, char *err, size_t err_size);

#endif
