/* lease.h — the lease handle (struct lepton_lease) and what the client needs to end leases. */
#ifndef LEPTON_CLIENT_LEASE_H
#define LEPTON_CLIENT_LEASE_H

#include <jansson.h>

#include "lepton/lepton.h"

/* Immutable after lepton_lease_open (or _attach), except prev/next (guarded by the client's lock) and the
 * inside of `dp` (guarded by its own lock), so any number of threads may use a lease at once. */
struct lepton_lease {
    lepton_client *client;
    struct lepton_lease *prev, *next; /* the client's list of open leases */
    char id[64];
    char path[96]; /* "/v1/leases/<id>", built once */
    uint32_t gpu_count;
    struct lc_dp *dp; /* the data plane: workers, modules, buffers, jobs (dataplane.h); has its own lock */
    struct lc_keepalive *keepalive; /* the renew thread (keepalive.h), NULL without keepalive */
    int attached; /* made by lepton_lease_attach: lepton_client_close detaches it instead of closing */
    /* The job session of this handle's jobs and streams (docs/dataplane.md, Jobs): each handle
     * numbers its jobs per GPU from 1, so each needs a seq space of its own on the workers. 0 (the
     * journaled one) for the handle that opened the lease; a random non-zero 63-bit id for one
     * made by lepton_lease_attach. */
    uint64_t session;
};

/* Ends a lease on the broker (unless `offline`), then frees the handle; the caller has already
 * taken it off the client's list. Returns what lepton_lease_close returns. */
int lc_lease_end(lepton_lease *l, int offline);

/* Frees the handle and leaves the lease running on the broker (lepton_lease_detach, and
 * lepton_client_close for attached handles); the caller has already taken it off the client's list. */
void lc_lease_detach(lepton_lease *l);

/* Reads a Lease object of the protocol into a full lepton_lease_info; `end_reason` receives the
 * broker's sentence or NULL. LEPTON_OK or LEPTON_EPROTO (message names the bad field). */
int lc_lease_parse(const char *fn, const json_t *lease, lepton_lease_info *info, const char **end_reason);

#endif
