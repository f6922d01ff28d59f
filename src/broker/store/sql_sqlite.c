/* sql_sqlite.c — the SQLite driver of sql.h: one connection, its prepared statements kept for reuse
 * (keyed by the statement's text pointer: ops.c's statements are static strings), SQLite's own ?N
 * parameters, and the two things PostgreSQL has that SQLite lacks registered as SQLite functions:
 * strpos(haystack, needle) and the collation "C" (bytewise). */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sql.h"
#include "wire.h"

#define MAX_STMTS 64

struct lp_sql_stmt {
    struct sqdb *db;
    sqlite3_stmt *st;
    const char *sql; /* the cache key; NULL for a statement prepared because the cached one was busy */
    const char *what;
    int in_use;
    int64_t changes, total0; /* total0: sqlite3_total_changes before the statement ran */
};

typedef struct sqdb {
    lp_sql base;
    sqlite3 *db;
    lp_sql_stmt cache[MAX_STMTS];
    int ncache;
} sqdb;

static void fail(sqdb *s, lp_err *e, const char *what) {
    int code = sqlite3_extended_errcode(s->db);
    /* a snapshot that cannot become a write transaction: run again; other busy errors come after the
     * busy timeout has waited already */
    if (code == SQLITE_BUSY_SNAPSHOT)
        s->base.fail = LP_SQL_FAIL_RETRY;
    else if (code == SQLITE_CONSTRAINT_UNIQUE || code == SQLITE_CONSTRAINT_PRIMARYKEY)
        s->base.fail = LP_SQL_FAIL_UNIQUE;
    else
        s->base.fail = LP_SQL_FAIL_OTHER;
    lp_err_set(e, WIRE_INTERNAL, NULL, "database error while %s: %s", what, sqlite3_errmsg(s->db));
}

static void sq_close(lp_sql *base) {
    sqdb *s = (sqdb *)base;
    for (int i = 0; i < s->ncache; i++)
        sqlite3_finalize(s->cache[i].st);
    sqlite3_close(s->db);
    free(s);
}

static int sq_exec(lp_sql *base, const char *script, const char *what, lp_err *e) {
    sqdb *s = (sqdb *)base;
    char *msg = NULL;
    if (sqlite3_exec(s->db, script, NULL, NULL, &msg) == SQLITE_OK) return 0;
    fail(s, e, what);
    if (msg) lp_err_set(e, WIRE_INTERNAL, NULL, "database error while %s: %s", what, msg);
    sqlite3_free(msg);
    return -1;
}

static int bind(sqlite3_stmt *st, const lp_sql_args *a) {
    for (int i = 0; a && i < a->n; i++) {
        int rc, k = i + 1;
        switch (a->v[i].type) {
        case LP_SQL_I64:
            rc = sqlite3_bind_int64(st, k, a->v[i].i64);
            break;
        case LP_SQL_DOUBLE:
            rc = sqlite3_bind_double(st, k, a->v[i].dbl);
            break;
        case LP_SQL_TEXT:
            rc = sqlite3_bind_text(st, k, a->v[i].text, -1, SQLITE_STATIC);
            break;
        case LP_SQL_BLOB:
            rc = sqlite3_bind_blob(st, k, a->v[i].text, (int)a->v[i].len, SQLITE_STATIC);
            break;
        default:
            rc = sqlite3_bind_null(st, k);
            break;
        }
        if (rc != SQLITE_OK) return -1;
    }
    return 0;
}

static void sq_finish(lp_sql_stmt *h) {
    sqlite3_reset(h->st);
    sqlite3_clear_bindings(h->st);
    h->in_use = 0;
    if (!h->sql) {
        sqlite3_finalize(h->st);
        free(h);
    }
}

static lp_sql_stmt *sq_query(lp_sql *base, const char *sql, const lp_sql_args *a, const char *what,
                             lp_err *e) {
    sqdb *s = (sqdb *)base;
    lp_sql_stmt *h = NULL;
    for (int i = 0; i < s->ncache && !h; i++)
        if (s->cache[i].sql == sql && !s->cache[i].in_use) h = &s->cache[i];
    int cached_busy = 0;
    for (int i = 0; i < s->ncache; i++)
        if (s->cache[i].sql == sql && s->cache[i].in_use) cached_busy = 1;
    if (!h) {
        sqlite3_stmt *st = NULL;
        if (sqlite3_prepare_v3(s->db, sql, -1, cached_busy ? 0 : SQLITE_PREPARE_PERSISTENT, &st, NULL) !=
            SQLITE_OK) {
            fail(s, e, what);
            return NULL;
        }
        if (!cached_busy && s->ncache < MAX_STMTS) {
            h = &s->cache[s->ncache++];
            h->sql = sql;
        } else {
            h = calloc(1, sizeof *h);
            if (!h) {
                sqlite3_finalize(st);
                lp_err_set(e, WIRE_INTERNAL, NULL, "out of memory while %s", what);
                return NULL;
            }
        }
        h->st = st;
        h->db = s;
    }
    h->in_use = 1;
    h->what = what;
    h->changes = 0;
    h->total0 = sqlite3_total_changes64(s->db);
    if (bind(h->st, a) != 0) {
        fail(s, e, what);
        sq_finish(h);
        return NULL;
    }
    return h;
}

static int sq_step(lp_sql_stmt *h, lp_err *e) {
    int rc = sqlite3_step(h->st);
    if (rc == SQLITE_ROW) return 1;
    if (rc == SQLITE_DONE) {
        /* sqlite3_changes is the last INSERT, UPDATE or DELETE's count (without what its triggers
         * changed), also after a statement that is none of these: count only when rows changed */
        h->changes = sqlite3_total_changes64(h->db->db) != h->total0 ? sqlite3_changes64(h->db->db) : 0;
        return 0;
    }
    fail(h->db, e, h->what);
    return -1;
}

static int64_t sq_i64(lp_sql_stmt *h, int col) { return sqlite3_column_int64(h->st, col); }
static double sq_double(lp_sql_stmt *h, int col) { return sqlite3_column_double(h->st, col); }
static const char *sq_text(lp_sql_stmt *h, int col) {
    const unsigned char *t = sqlite3_column_text(h->st, col);
    return t ? (const char *)t : "";
}
static const void *sq_blob(lp_sql_stmt *h, int col, size_t *len) {
    const void *b = sqlite3_column_blob(h->st, col);
    *len = (size_t)sqlite3_column_bytes(h->st, col);
    return b;
}
static int64_t sq_changes(lp_sql_stmt *h) { return h->changes; }

static int sq_simple(sqdb *s, const char *sql, lp_err *e) {
    lp_sql_stmt *h = sq_query(&s->base, sql, NULL, sql, e);
    if (!h) return -1;
    int r = sq_step(h, e);
    sq_finish(h);
    return r < 0 ? -1 : 0;
}

static int sq_begin(lp_sql *base, int mode, lp_err *e) {
    static const char begin_immediate[] = "BEGIN IMMEDIATE", begin[] = "BEGIN";
    return sq_simple((sqdb *)base, mode == LP_SQL_TX_WRITE ? begin_immediate : begin, e);
}

static int sq_commit(lp_sql *base, lp_err *e) {
    static const char commit[] = "COMMIT";
    return sq_simple((sqdb *)base, commit, e);
}

static void sq_rollback(lp_sql *base) {
    static const char rollback[] = "ROLLBACK";
    sqdb *s = (sqdb *)base;
    if (sqlite3_get_autocommit(s->db)) return;
    lp_err ignored;
    int fail_before = s->base.fail;
    sq_simple(s, rollback, &ignored);
    /* sq_simple frees only a statement it made outside the cache, never s */
    s->base.fail = fail_before; // NOLINT(clang-analyzer-unix.Malloc)
}

/* one connection to a local file: never lost */
static int sq_reconnect(lp_sql *db, int *reconnected, lp_err *e) {
    (void)db, (void)reconnected, (void)e;
    return 0;
}

static const lp_sql_driver SQLITE_DRIVER = LP_SQL_DRIVER("sqlite", sq);

/* strpos(haystack, needle): 1 + the byte offset of needle's first occurrence, 0 when absent (as
 * PostgreSQL's; the store compares ASCII-folded model names, so bytes are characters). */
static void fn_strpos(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
    (void)argc;
    const char *h = (const char *)sqlite3_value_text(argv[0]), *n = (const char *)sqlite3_value_text(argv[1]);
    if (!h || !n) {
        sqlite3_result_null(ctx);
        return;
    }
    const char *at = strstr(h, n);
    sqlite3_result_int64(ctx, at ? (sqlite3_int64)(at - h) + 1 : 0);
}

static int collate_c(void *arg, int na, const void *a, int nb, const void *b) {
    (void)arg;
    int r = memcmp(a, b, (size_t)(na < nb ? na : nb));
    return r ? r : na - nb;
}

lp_sql *lp_sql_sqlite_open(const char *path, lp_err *e) {
    sqdb *s = (sqdb *)lp_sql_alloc(sizeof *s, &SQLITE_DRIVER, path, e);
    if (!s) return NULL;
    if (sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                        NULL) != SQLITE_OK) {
        lp_err_set(e, WIRE_INTERNAL, "check the --db path and its directory's permissions",
                   "cannot open database %s: %s", path, s->db ? sqlite3_errmsg(s->db) : "out of memory");
        goto fail;
    }
    /* other processes (`lepton-broker token create` while the broker runs) hold the lock briefly */
    sqlite3_busy_timeout(s->db, 5000);
    if (sqlite3_create_function(s->db, "strpos", 2, SQLITE_UTF8 | SQLITE_DETERMINISTIC, NULL, fn_strpos, NULL,
                                NULL) != SQLITE_OK ||
        sqlite3_create_collation(s->db, "C", SQLITE_UTF8, NULL, collate_c) != SQLITE_OK) {
        lp_err_set(e, WIRE_INTERNAL, NULL, "cannot configure database %s: %s", path, sqlite3_errmsg(s->db));
        goto fail;
    }
    return &s->base;
fail:
    sqlite3_close(s->db);
    free(s);
    return NULL;
}
