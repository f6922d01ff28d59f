/* sql.c — the driver-independent part of sql.h: parameter lists, running a statement to its end, and
 * the one transaction runner with its retry policy. */
#include "sql.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "rand.h"
#include "wire.h"

#define MAX_ATTEMPTS 40 /* runs of one transaction that meets serialization failures */
#define MAX_UNIQUE_RETRIES 3

static int arg_slot(lp_sql_args *a) {
    /* more parameters than any statement of ours has is a bug: bind NULLs past the end instead of
     * writing out of bounds, and let the statement fail */
    return a->n < LP_SQL_MAX_ARGS ? a->n++ : LP_SQL_MAX_ARGS - 1;
}

void lp_sql_arg_i64(lp_sql_args *a, int64_t v) {
    int i = arg_slot(a);
    a->v[i].type = LP_SQL_I64;
    a->v[i].i64 = v;
}

void lp_sql_arg_double(lp_sql_args *a, double v) {
    int i = arg_slot(a);
    a->v[i].type = LP_SQL_DOUBLE;
    a->v[i].dbl = v;
}

void lp_sql_arg_text(lp_sql_args *a, const char *v) {
    int i = arg_slot(a);
    a->v[i].type = v ? LP_SQL_TEXT : LP_SQL_NULL;
    a->v[i].text = v;
}

void lp_sql_arg_text_or_null(lp_sql_args *a, const char *v) { lp_sql_arg_text(a, v && *v ? v : NULL); }

void lp_sql_arg_blob(lp_sql_args *a, const void *v, size_t len) {
    int i = arg_slot(a);
    a->v[i].type = LP_SQL_BLOB;
    a->v[i].text = v;
    a->v[i].len = len;
}

lp_sql *lp_sql_alloc(size_t size, const lp_sql_driver *drv, const char *where, lp_err *e) {
    lp_sql *db = size >= sizeof *db ? calloc(1, size) : NULL;
    if (!db) {
        lp_err_set(e, WIRE_INTERNAL, NULL, "out of memory opening database %s", where);
        return NULL;
    }
    db->drv = drv;
    snprintf(db->where, sizeof db->where, "%s", where);
    return db;
}

void lp_sql_close(lp_sql *db) {
    if (db) db->drv->close(db);
}

int64_t lp_sql_run(lp_sql *db, const char *sql, const lp_sql_args *a, const char *what, lp_err *e) {
    lp_sql_stmt *st = lp_sql_query(db, sql, a, what, e);
    if (!st) return -1;
    int r;
    while ((r = lp_sql_step(db, st, e)) == 1) {
    }
    int64_t n = r == 0 ? db->drv->changes(st) : -1;
    lp_sql_finish(db, st);
    return n;
}

int lp_sql_one_i64(lp_sql *db, const char *sql, const lp_sql_args *a, int64_t *out, const char *what,
                   lp_err *e) {
    lp_sql_stmt *st = lp_sql_query(db, sql, a, what, e);
    if (!st) return -1;
    int r = lp_sql_step(db, st, e);
    if (r == 1) *out = lp_sql_i64(db, st, 0);
    lp_sql_finish(db, st);
    return r;
}

void lp_sql_text_copy(lp_sql *db, lp_sql_stmt *st, int col, char *out, size_t n) {
    snprintf(out, n, "%s", lp_sql_text(db, st, col));
}

static void backoff(int attempt) {
    unsigned r = 0;
    lp_random_bytes(&r, sizeof r);
    long cap_ms = attempt < 6 ? 1L << attempt : 64;
    long us = (long)(r % (unsigned)(cap_ms * 1000)) + 200;
    struct timespec ts = {0, us * 1000L};
    nanosleep(&ts, NULL);
}

int lp_sql_transact(lp_sql *db, int mode, lp_sql_body body, void *ctx, lp_err *e) {
    int reconnected = 0, uniques = 0;
    for (int attempt = 1;; attempt++) {
        memset(e, 0, sizeof *e);
        db->fail = LP_SQL_FAIL_NONE;
        if (db->drv->reconnect(db, &reconnected, e) != 0) return -1;
        int r = -1;
        if (mode == LP_SQL_TX_NONE || db->drv->begin(db, mode, e) == 0) {
            r = body(db, ctx, e);
            if (r >= 0 && mode != LP_SQL_TX_NONE) {
                lp_err ce = {0};
                if (db->drv->commit(db, &ce) != 0) {
                    if (db->fail == LP_SQL_FAIL_LOST) {
                        lp_err_set(e, WIRE_INTERNAL, "retry; an idempotency key makes the retry safe",
                                   "lost the connection to database %s while committing; the outcome is "
                                   "unknown",
                                   db->where);
                        return -1;
                    }
                    *e = ce;
                    r = -1;
                }
            }
        }
        if (r >= 0) return r;
        int fail = db->fail;
        if (mode != LP_SQL_TX_NONE && fail != LP_SQL_FAIL_LOST) db->drv->rollback(db);
        if (fail == LP_SQL_FAIL_LOST && !reconnected) continue; /* the driver reconnects, once */
        int retry =
            fail == LP_SQL_FAIL_RETRY || (fail == LP_SQL_FAIL_UNIQUE && ++uniques <= MAX_UNIQUE_RETRIES);
        if (!retry) return -1;
        if (attempt >= MAX_ATTEMPTS) {
            size_t len = strlen(e->message);
            snprintf(e->message + len, sizeof e->message - len, " (gave up after %d attempts)", attempt);
            return -1;
        }
        lp_log(LP_LOG_DEBUG, "store: %s; running the transaction again (attempt %d)", e->message,
               attempt + 1);
        backoff(attempt);
    }
}
