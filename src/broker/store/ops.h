/* ops.h — the store's operations written once over the SQL driver (ops.c), and what a backend gives
 * them: its driver's connection (with the schema in place) and its own housekeeping. */
#ifndef LEPTON_BROKER_STORE_OPS_H
#define LEPTON_BROKER_STORE_OPS_H

#include <pthread.h>
#include <stddef.h>

#include "sql.h"
#include "store.h"

/* A store over an SQL connection. A backend's struct starts with it. */
typedef struct lp_sqlstore {
    lp_store base;
    lp_sql *db;         /* owned */
    pthread_mutex_t mu; /* one connection: one operation at a time */
    /* The backend's housekeeping (store.h's maintain), called without the lock: off the request path,
     * on a connection of its own; NULL: none. */
    void (*maintain)(struct lp_sqlstore *s);
    /* Frees what the backend keeps beside db; NULL: nothing. */
    void (*release)(struct lp_sqlstore *s);
} lp_sqlstore;

/* A store over db (taken, also on failure) in a zeroed struct of size bytes (a backend's struct that
 * starts with lp_sqlstore); NULL with e filled. The caller sets the hooks. */
lp_sqlstore *lp_sqlstore_new(lp_sql *db, size_t size, lp_err *e);

#endif
