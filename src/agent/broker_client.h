/* broker_client.h — leptond's calls to the broker's REST API (docs/protocol.md) over the shared client
 * (httpc.h): one reused connection, JSON in and out, a deadline on every call. Used from one thread. */
#ifndef LEPTON_AGENT_BROKER_CLIENT_H
#define LEPTON_AGENT_BROKER_CLIENT_H

#include <jansson.h>
#include <stddef.h>

typedef struct lp_broker_client lp_broker_client;

/* base: "http://HOST:PORT" or "https://..." (no trailing slash); token: the node token; ca_file:
 * a PEM CA bundle that verifies an https:// broker instead of the system's (NULL or "" → the
 * system's). NULL when out of memory. */
lp_broker_client *lp_broker_client_new(const char *base, const char *token, const char *ca_file);
void lp_broker_client_free(lp_broker_client *bc);
/* Makes calls in progress end early (as unreachable) once *flag becomes non-zero (read atomically),
 * so that a long-poll does not hold up a shutdown. flag is borrowed. */
void lp_broker_client_set_abort(lp_broker_client *bc, const int *flag);
/* Sends method path with body (borrowed; NULL → no body) and waits up to timeout_ms.
 * Returns the HTTP status, or -1 when the broker could not be reached (err says why).
 * *out receives the parsed JSON answer (NULL when there is none or it is not JSON; caller frees).
 * For a non-2xx answer err holds "code: message" from the error body. */
int lp_broker_call(lp_broker_client *bc, const char *method, const char *path, const json_t *body,
                   long timeout_ms, json_t **out, char *err, size_t err_size);

#endif
