/* sql.h — the small SQL driver the store's operations (ops.c) are written over, once for every
 * database: run a statement with positional parameters, step through its rows, read columns, run a
 * transaction again when the database could not serialize it. sql_sqlite.c and sql_pg.c implement it
 * (like libgit2's odb backends or curl's vtls).
 *
 * Statements are written once, in the dialect both databases accept, with numbered parameters ?1, ?2,
 * … (a number may repeat); the PostgreSQL driver sends them as $1, $2, …. Both drivers know `strpos`
 * and the collation "C" (SQLite through functions the driver registers). Errors fill an lp_err
 * ("database error while WHAT: the database's message") and classify themselves in db->fail. */
#ifndef LEPTON_BROKER_STORE_SQL_H
#define LEPTON_BROKER_STORE_SQL_H

#include <stddef.h>
#include <stdint.h>

#include "store.h"

#define LP_SQL_MAX_ARGS 24

/* A statement's parameters, in order (?1 is v[0]). Build with the lp_sql_arg_* helpers. */
typedef struct lp_sql_args {
    int n;
    struct {
        enum { LP_SQL_NULL, LP_SQL_I64, LP_SQL_DOUBLE, LP_SQL_TEXT, LP_SQL_BLOB } type;
        int64_t i64;
        double dbl;
        const void *text; /* text or blob, borrowed: alive until the statement is finished */
        size_t len;       /* blob length */
    } v[LP_SQL_MAX_ARGS];
} lp_sql_args;
void lp_sql_arg_i64(lp_sql_args *a, int64_t v);
void lp_sql_arg_double(lp_sql_args *a, double v);
void lp_sql_arg_text(lp_sql_args *a, const char *v);         /* NULL → SQL NULL */
void lp_sql_arg_text_or_null(lp_sql_args *a, const char *v); /* "" → SQL NULL too */
void lp_sql_arg_blob(lp_sql_args *a, const void *v, size_t len);

/* How the last error may be handled: run the transaction again (busy, serialization failure,
 * deadlock), a unique violation (a concurrent insert of the same key), the connection was lost. */
enum { LP_SQL_FAIL_NONE = 0, LP_SQL_FAIL_OTHER, LP_SQL_FAIL_RETRY, LP_SQL_FAIL_UNIQUE, LP_SQL_FAIL_LOST };

/* Transactions: WRITE is serializable and takes the write lock at once where the database has one
 * (SQLite's BEGIN IMMEDIATE); READ is a read-only snapshot; PLAIN is the database's default (each
 * statement sees what committed before it); NONE runs each statement on its own. */
enum { LP_SQL_TX_NONE = 0, LP_SQL_TX_WRITE, LP_SQL_TX_READ, LP_SQL_TX_PLAIN };

typedef struct lp_sql lp_sql;
typedef struct lp_sql_stmt lp_sql_stmt;

typedef struct lp_sql_driver {
    const char *name;
    void (*close)(lp_sql *db);
    /* Runs several statements without parameters (a schema). */
    int (*exec)(lp_sql *db, const char *script, const char *what, lp_err *e);
    /* Prepares (or finds prepared) sql and binds a; NULL with e filled. Finish what it returns. */
    lp_sql_stmt *(*query)(lp_sql *db, const char *sql, const lp_sql_args *a, const char *what, lp_err *e);
    /* 1: a row is there to read; 0: no more rows; -1: error (e filled). */
    int (*step)(lp_sql_stmt *st, lp_err *e);
    int64_t (*col_i64)(lp_sql_stmt *st, int col);
    double (*col_double)(lp_sql_stmt *st, int col);
    const char *(*col_text)(lp_sql_stmt *st, int col); /* "" for NULL; valid until the next step */
    /* A BLOB (SQLite) or BYTEA (PostgreSQL) column's bytes, or a text column's; valid until the next
     * step. */
    const void *(*col_blob)(lp_sql_stmt *st, int col, size_t *len);
    /* Rows an INSERT, UPDATE or DELETE changed (after its step). */
    int64_t (*changes)(lp_sql_stmt *st);
    void (*finish)(lp_sql_stmt *st);
    int (*begin)(lp_sql *db, int mode, lp_err *e);
    int (*commit)(lp_sql *db, lp_err *e);
    void (*rollback)(lp_sql *db); /* no-op outside a transaction */
    /* 0 when connected, after reconnecting if the connection was lost and *reconnected was 0 (it
     * becomes 1: once per operation); -1 with e filled. */
    int (*reconnect)(lp_sql *db, int *reconnected, lp_err *e);
} lp_sql_driver;

/* A driver's table from its functions P_close, P_exec, P_query, P_step, P_i64, P_double, P_text,
 * P_blob, P_changes, P_finish, P_begin, P_commit, P_rollback and P_reconnect. */
#define LP_SQL_DRIVER(name_, P)                                                                              \
    {                                                                                                        \
        .name = name_, .close = P##_close, .exec = P##_exec, .query = P##_query, .step = P##_step,           \
        .col_i64 = P##_i64, .col_double = P##_double, .col_text = P##_text, .col_blob = P##_blob,            \
        .changes = P##_changes, .finish = P##_finish, .begin = P##_begin, .commit = P##_commit,              \
        .rollback = P##_rollback, .reconnect = P##_reconnect                                                 \
    }

struct lp_sql {
    const lp_sql_driver *drv;
    int fail;        /* LP_SQL_FAIL_* of the last error */
    char where[512]; /* the database, for messages (a URL without its password, a path) */
};

/* The SQLite driver over a database file (path as sqlite3_open_v2 takes it), and the PostgreSQL one
 * over a libpq connection string; NULL with e filled. lp_sql_close frees either. */
lp_sql *lp_sql_sqlite_open(const char *path, lp_err *e);
lp_sql *lp_sql_pg_open(const char *url, lp_err *e);
void lp_sql_close(lp_sql *db);
/* For drivers: a zeroed connection struct of size bytes (starting with lp_sql) of drv, naming where
 * (the database, for messages); NULL with e filled. */
lp_sql *lp_sql_alloc(size_t size, const lp_sql_driver *drv, const char *where, lp_err *e);

/* Runs a statement to its end (no rows wanted); returns the rows it changed, or -1. */
int64_t lp_sql_run(lp_sql *db, const char *sql, const lp_sql_args *a, const char *what, lp_err *e);
/* Runs a statement and reads the first column of its first row as an integer: 1 found (*out set),
 * 0 no row, -1 error. */
int lp_sql_one_i64(lp_sql *db, const char *sql, const lp_sql_args *a, int64_t *out, const char *what,
                   lp_err *e);
static inline lp_sql_stmt *lp_sql_query(lp_sql *db, const char *sql, const lp_sql_args *a, const char *what,
                                        lp_err *e) {
    return db->drv->query(db, sql, a, what, e);
}
static inline int lp_sql_step(lp_sql *db, lp_sql_stmt *st, lp_err *e) { return db->drv->step(st, e); }
static inline void lp_sql_finish(lp_sql *db, lp_sql_stmt *st) {
    if (st) db->drv->finish(st);
}
static inline int64_t lp_sql_i64(lp_sql *db, lp_sql_stmt *st, int col) { return db->drv->col_i64(st, col); }
static inline double lp_sql_double(lp_sql *db, lp_sql_stmt *st, int col) {
    return db->drv->col_double(st, col);
}
static inline const char *lp_sql_text(lp_sql *db, lp_sql_stmt *st, int col) {
    return db->drv->col_text(st, col);
}
/* Copies a text column into out (truncating to n - 1 bytes). */
void lp_sql_text_copy(lp_sql *db, lp_sql_stmt *st, int col, char *out, size_t n);

/* A transaction's body: 0 commit and succeed; 1 commit, but the operation fails with the error the
 * body set (what it found is persisted and returned); -1 roll back and fail. A body may run several
 * times: it starts by resetting its outputs. */
typedef int (*lp_sql_body)(lp_sql *db, void *ctx, lp_err *e);
/* Runs body in a transaction of kind mode, again (after a short random backoff, a bounded number of
 * times) when the database could not serialize it or a concurrent insert of the same key got there
 * first, and once more after a reconnect when the connection was lost (not after an ambiguous
 * COMMIT, whose outcome is unknown). Returns what the body returned (-1 also for a database error). */
int lp_sql_transact(lp_sql *db, int mode, lp_sql_body body, void *ctx, lp_err *e);

#endif
