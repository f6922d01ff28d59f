/* lease_token.h — the data-plane lease token: base64url(payload JSON) "." base64url(HMAC-SHA-256).
 * The broker signs with the node key of the lease's node; the node verifies with the same key.
 *
 *   node_key  = HMAC-SHA-256(key = broker secret, message = "node:" + node name)  (32 bytes; hex on
 *               the wire, given to the node at registration)
 *   signature = HMAC-SHA-256(key = node_key (32 raw bytes), message = the base64url payload text)
 *   payload   = {"lease": id, "node": name, "gpus": [uuid…], "exp": unix seconds, "expires_at": the same}
 *               (the expiry at grant time; extending a lease re-signs with the new expiry)
 */
#ifndef LEPTON_COMMON_LEASE_TOKEN_H
#define LEPTON_COMMON_LEASE_TOKEN_H

#include <stddef.h>

#include "base64.h"

/* node_key = HMAC(secret, "node:" + node name); names longer than 256 bytes are cut there. */
void lp_node_key(const unsigned char *secret, size_t secret_len, const char *node, unsigned char key[32]);
/* Signs payload (JSON text); returns a malloc'd token or NULL (out of memory). Caller frees. */
char *lp_lease_token_sign(const unsigned char key[32], const char *payload);
/* Verifies a token with key; on success returns a malloc'd copy of the payload JSON (caller frees),
 * else NULL. The caller still checks the payload's expiry and lease id. */
char *lp_lease_token_verify(const unsigned char key[32], const char *token);

#endif
