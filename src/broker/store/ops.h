/* ops.h — the store's operations written once over the SQL driver (ops.c), and what a backend gives
 * them: its driver's connection, a lock, and its own housekeeping. */
#ifndef LEPTON_BROKER_STORE_OPS_H
#define LEPTON_BROKER_STORE_OPS_H

#include <pthread.h>

#include "sql.h"
#include "store.h"

/* A store over an SQL connection. Backends start their struct with it. */
typedef struct lp_sqlstore {
    lp_store base;
    lp_sql *db;         /* owned */
    pthread_mutex_t mu; /* one connection: one operation at a time */
} lp_sqlstore;

#endif
