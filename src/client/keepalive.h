/* keepalive.h — the renew thread of a lease handle opened with keepalive_seconds: it renews the
 * lease on the broker every keepalive/3 until the handle is closed, so that the broker ends the
 * lease soon after the process dies instead of at its TTL. */
#ifndef LEPTON_CLIENT_KEEPALIVE_H
#define LEPTON_CLIENT_KEEPALIVE_H

#include <stdint.h>

struct lepton_lease;
typedef struct lc_keepalive lc_keepalive;

/* Starts renewing lease l every seconds/3 (seconds > 0). Returns the thread's state, or NULL
 * when it cannot start (out of memory or threads; the message is set). */
lc_keepalive *lc_keepalive_start(struct lepton_lease *l, uint32_t seconds);
/* Stops the thread, waits for it (an in-flight renewal finishes first) and frees it. NULL is a
 * no-op. */
void lc_keepalive_stop(lc_keepalive *k);

#endif
