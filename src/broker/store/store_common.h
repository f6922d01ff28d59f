/* store_common.h — what every store backend shares beyond store.h: the lease rows' GPU list codec.
 * The lease rules the backends follow are in lease/rules.h. */
#ifndef LEPTON_BROKER_STORE_COMMON_H
#define LEPTON_BROKER_STORE_COMMON_H

#include "rules.h"
#include "store.h"

/* The GPUs of a lease as stored in its row: a JSON array of [index, uuid, address]. */
char *lp_lease_gpus_json(const lp_lease_gpu *g, uint32_t n); /* malloc'd; NULL when out of memory */
int lp_lease_gpus_parse(const char *text, lp_lease *l);      /* fills l->gpus; -1 when corrupt */

#endif
