/* lease_token.h — the data-plane lease token: base64url(payload JSON) "." base64url(HMAC-SHA-256).
 * The broker signs with the lease key of the lease, derived from the node key of its node; the
 * node's agent derives the same lease key and gives it to that lease's workers only (on a pipe), so
 * a worker can verify its own lease's tokens and no other's.
 *
 *   node_key  = HMAC-SHA-256(key = broker secret, message = "node:" + node name)  (32 bytes; hex on
 *               the wire, given to the node at registration)
 *   lease_key = HMAC-SHA-256(key = node_key (32 raw bytes), message = "lepton-lease-key:" + lease id)
 *   signature = HMAC-SHA-256(key = lease_key (32 raw bytes), message = the base64url payload text)
 *   payload   = {"lease": id, "node": name, "gpus": [uuid…], "exp": unix seconds, "expires_at": the same}
 *               (the expiry at grant time; extending a lease re-signs with the new expiry)
 */
#ifndef LEPTON_COMMON_LEASE_TOKEN_H
#define LEPTON_COMMON_LEASE_TOKEN_H

#include <stddef.h>

#include "base64.h"

/* node_key = HMAC(secret, "node:" + node name); names longer than 256 bytes are cut there. */
void lp_node_key(const unsigned char *secret, size_t secret_len, const char *node, unsigned char key[32]);
/* lease_key = HMAC(node_key, "lepton-lease-key:" + lease id); ids longer than 256 bytes are cut there. */
void lp_lease_key(const unsigned char node_key[32], const char *lease, unsigned char key[32]);
/* Signs payload (JSON text); returns a malloc'd token or NULL (out of memory). Caller frees. */
char *lp_lease_token_sign(const unsigned char key[32], const char *payload);
/* Verifies a token with key; on success returns a malloc'd copy of the payload JSON (caller frees),
 * else NULL. The caller still checks the payload's expiry and lease id. */
char *lp_lease_token_verify(const unsigned char key[32], const char *token);

#endif
