/* sql_pg.c — the PostgreSQL driver of sql.h (libpq): one connection; a statement's ?N parameters sent
 * as $N, integers typed int8 and doubles float8 (text left for the server to infer from its context);
 * every statement with a deadline (statement_timeout); SQLSTATEs classified for the transaction runner
 * (40001 serialization failure and 40P01 deadlock: run again; 23505: unique violation); a lost
 * connection re-established once per operation. */
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "sql.h"
#include "wire.h"

#define MAX_SQL 64 /* translated statements kept */
#define BYTEAOID 17
#define INT8OID 20
#define FLOAT8OID 701

struct lp_sql_stmt {
    struct pgdb *db;
    PGresult *r;
    int row, rows;        /* row: the current row, -1 before the first step */
    unsigned char *bytes; /* the last bytea column read (PQunescapeBytea's), freed at the next */
};

typedef struct pgdb {
    lp_sql base;
    PGconn *conn;
    int down; /* reconnecting failed (logged once until it works again) */
    struct {
        const char *sql;
        char *pg;
    } xl[MAX_SQL];
    int nxl;
} pgdb;

/* libpq's messages end in newlines and may span lines: one line for ours. */
static void one_line(char *out, size_t n, const char *msg) {
    size_t k = 0;
    for (const char *c = msg ? msg : ""; *c && k + 1 < n; c++) {
        int space = *c == '\n' || *c == '\t' || *c == '\r' || *c == ' ';
        if (space && (k == 0 || out[k - 1] == ' ')) continue;
        out[k++] = space ? ' ' : *c;
    }
    while (k && out[k - 1] == ' ')
        k--;
    out[k] = '\0';
}

static void fail(pgdb *s, const PGresult *r, lp_err *e, const char *what) {
    const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
    if (PQstatus(s->conn) != CONNECTION_OK)
        s->base.fail = LP_SQL_FAIL_LOST;
    else if (state && (!strcmp(state, "40001") || !strcmp(state, "40P01")))
        s->base.fail = LP_SQL_FAIL_RETRY;
    else if (state && !strcmp(state, "23505"))
        s->base.fail = LP_SQL_FAIL_UNIQUE;
    else
        s->base.fail = LP_SQL_FAIL_OTHER;
    char msg[600];
    one_line(msg, sizeof msg,
             r && *PQresultErrorMessage(r) ? PQresultErrorMessage(r) : PQerrorMessage(s->conn));
    lp_err_set(e, WIRE_INTERNAL, NULL, "database error while %s: %s", what, msg);
}

/* ?N → $N outside string literals and quoted names. */
static char *translate(const char *sql) {
    size_t n = strlen(sql);
    char *out = malloc(n + 1);
    if (!out) return NULL;
    char quote = 0;
    for (size_t i = 0; i <= n; i++) {
        char c = sql[i];
        if (quote) {
            if (c == quote) quote = 0;
        } else if (c == '\'' || c == '"') {
            quote = c;
        } else if (c == '?') {
            c = '$';
        }
        out[i] = c;
    }
    return out;
}

static const char *pg_sql(pgdb *s, const char *sql) {
    for (int i = 0; i < s->nxl; i++)
        if (s->xl[i].sql == sql) return s->xl[i].pg;
    if (s->nxl == MAX_SQL) { /* more statements than ops.c has: forget the oldest */
        free(s->xl[0].pg);
        memmove(&s->xl[0], &s->xl[1], (MAX_SQL - 1) * sizeof s->xl[0]);
        s->nxl--;
    }
    char *pg = translate(sql);
    if (!pg) return NULL;
    s->xl[s->nxl].sql = sql;
    s->xl[s->nxl].pg = pg;
    s->nxl++;
    return pg;
}

static void pg_close(lp_sql *base) {
    pgdb *s = (pgdb *)base;
    PQfinish(s->conn);
    for (int i = 0; i < s->nxl; i++)
        free(s->xl[i].pg);
    free(s);
}

static int pg_exec(lp_sql *base, const char *script, const char *what, lp_err *e) {
    pgdb *s = (pgdb *)base;
    PGresult *r = PQexec(s->conn, script); /* several statements: the simple query protocol */
    int ok = r && (PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK);
    if (!ok) fail(s, r, e, what);
    PQclear(r);
    return ok ? 0 : -1;
}

static lp_sql_stmt *pg_query(lp_sql *base, const char *sql, const lp_sql_args *a, const char *what,
                             lp_err *e) {
    pgdb *s = (pgdb *)base;
    const char *text = pg_sql(s, sql);
    lp_sql_stmt *h = calloc(1, sizeof *h);
    if (!text || !h) {
        free(h);
        s->base.fail = LP_SQL_FAIL_OTHER;
        lp_err_set(e, WIRE_INTERNAL, NULL, "out of memory while %s", what);
        return NULL;
    }
    const char *vals[LP_SQL_MAX_ARGS];
    unsigned types[LP_SQL_MAX_ARGS];
    int lens[LP_SQL_MAX_ARGS], formats[LP_SQL_MAX_ARGS];
    char buf[LP_SQL_MAX_ARGS][32];
    int n = a ? a->n : 0;
    for (int i = 0; i < n; i++) {
        types[i] = 0;
        lens[i] = formats[i] = 0;
        switch (a->v[i].type) {
        case LP_SQL_I64:
            snprintf(buf[i], sizeof buf[i], "%lld", (long long)a->v[i].i64);
            vals[i] = buf[i];
            types[i] = INT8OID;
            break;
        case LP_SQL_DOUBLE:
            snprintf(buf[i], sizeof buf[i], "%.17g", a->v[i].dbl);
            vals[i] = buf[i];
            types[i] = FLOAT8OID;
            break;
        case LP_SQL_TEXT:
            vals[i] = a->v[i].text;
            break;
        case LP_SQL_BLOB: /* in binary: bytea's text form would need escaping */
            vals[i] = a->v[i].text;
            lens[i] = (int)a->v[i].len;
            formats[i] = 1;
            types[i] = BYTEAOID;
            break;
        default:
            vals[i] = NULL;
            break;
        }
    }
    h->db = s;
    h->row = -1;
    h->r = PQexecParams(s->conn, text, n, types, vals, lens, formats, 0);
    ExecStatusType st = h->r ? PQresultStatus(h->r) : PGRES_FATAL_ERROR;
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        fail(s, h->r, e, what);
        PQclear(h->r);
        free(h);
        return NULL;
    }
    h->rows = PQntuples(h->r);
    return h;
}

static void pg_drop_bytes(lp_sql_stmt *h) {
    PQfreemem(h->bytes);
    h->bytes = NULL;
}

static int pg_step(lp_sql_stmt *h, lp_err *e) {
    (void)e;
    pg_drop_bytes(h);
    if (h->row + 1 >= h->rows) {
        h->row = h->rows;
        return 0;
    }
    h->row++;
    return 1;
}

static int64_t pg_i64(lp_sql_stmt *h, int col) { return strtoll(PQgetvalue(h->r, h->row, col), NULL, 10); }
static double pg_double(lp_sql_stmt *h, int col) { return strtod(PQgetvalue(h->r, h->row, col), NULL); }
static const char *pg_text(lp_sql_stmt *h, int col) { return PQgetvalue(h->r, h->row, col); }
static const void *pg_blob(lp_sql_stmt *h, int col, size_t *len) {
    if (PQftype(h->r, col) != BYTEAOID) {
        *len = (size_t)PQgetlength(h->r, h->row, col);
        return PQgetvalue(h->r, h->row, col);
    }
    pg_drop_bytes(h);
    h->bytes = PQunescapeBytea((const unsigned char *)PQgetvalue(h->r, h->row, col), len);
    if (!h->bytes) *len = 0;
    return h->bytes;
}
static int64_t pg_changes(lp_sql_stmt *h) { return strtoll(PQcmdTuples(h->r), NULL, 10); }

static void pg_finish(lp_sql_stmt *h) {
    pg_drop_bytes(h);
    PQclear(h->r);
    free(h);
}

static int pg_simple(pgdb *s, const char *sql, lp_err *e) {
    lp_sql_stmt *h = pg_query(&s->base, sql, NULL, sql, e);
    if (!h) return -1;
    pg_finish(h);
    return 0;
}

static int pg_begin(lp_sql *base, int mode, lp_err *e) {
    static const char write[] = "BEGIN ISOLATION LEVEL SERIALIZABLE",
                      read[] = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", plain[] = "BEGIN";
    return pg_simple((pgdb *)base,
                     mode == LP_SQL_TX_WRITE  ? write
                     : mode == LP_SQL_TX_READ ? read
                                              : plain,
                     e);
}

static int pg_commit(lp_sql *base, lp_err *e) {
    static const char commit[] = "COMMIT";
    pgdb *s = (pgdb *)base;
    lp_sql_stmt *h = pg_query(base, commit, NULL, "committing", e);
    if (!h) return -1;
    int ok = !strcmp(PQcmdStatus(h->r), "COMMIT"); /* "ROLLBACK": the transaction had failed */
    pg_finish(h);
    if (!ok) {
        s->base.fail = LP_SQL_FAIL_OTHER;
        lp_err_set(e, WIRE_INTERNAL, NULL, "database error while committing: rolled back");
    }
    return ok ? 0 : -1;
}

static void pg_rollback(lp_sql *base) {
    pgdb *s = (pgdb *)base;
    if (PQstatus(s->conn) == CONNECTION_OK && PQtransactionStatus(s->conn) != PQTRANS_IDLE)
        PQclear(PQexec(s->conn, "ROLLBACK"));
}

static void quiet_notices(void *arg, const char *message) {
    (void)arg;
    (void)message; /* "relation already exists, skipping" and the like */
}

/* Settings of every session, also after a reconnect: no statement may block forever. */
static int session_setup(pgdb *s, lp_err *e) {
    PQsetNoticeProcessor(s->conn, quiet_notices, NULL);
    static const char timeout[] = "SET statement_timeout = 30000";
    return lp_sql_run(&s->base, timeout, NULL, "configuring the session", e) < 0 ? -1 : 0;
}

static void conn_err(pgdb *s, lp_err *e, const char *what) {
    char msg[600];
    one_line(msg, sizeof msg, PQerrorMessage(s->conn));
    lp_err_set(e, WIRE_INTERNAL, "check the --db URL, and that the server runs and accepts the connection",
               "%s PostgreSQL database %s: %s", what, s->base.where, msg);
}

static int pg_reconnect(lp_sql *base, int *reconnected, lp_err *e) {
    pgdb *s = (pgdb *)base;
    if (PQstatus(s->conn) == CONNECTION_OK) return 0;
    if (*reconnected) {
        conn_err(s, e, "lost the connection again to");
        return -1;
    }
    *reconnected = 1;
    if (!s->down)
        lp_log(LP_LOG_WARN, "store: lost the connection to PostgreSQL database %s; reconnecting",
               s->base.where);
    PQreset(s->conn);
    if (PQstatus(s->conn) != CONNECTION_OK) {
        conn_err(s, e, "lost the connection to, and cannot reconnect to,");
        s->down = 1;
        return -1;
    }
    if (s->down) lp_log(LP_LOG_INFO, "store: reconnected to PostgreSQL database %s", s->base.where);
    s->down = 0;
    return session_setup(s, e);
}

static const lp_sql_driver PG_DRIVER = LP_SQL_DRIVER("postgresql", pg);

lp_sql *lp_sql_pg_open(const char *url, lp_err *e) {
    char where[512];
    lp_store_url_redact(url, where, sizeof where);
    pgdb *s = (pgdb *)lp_sql_alloc(sizeof *s, &PG_DRIVER, where, e);
    if (!s) return NULL;
    /* the URL comes last: what it says wins over these defaults */
    const char *const keys[] = {"connect_timeout", "application_name", "dbname", NULL};
    const char *const vals[] = {"10", "lepton-broker", url, NULL};
    s->conn = PQconnectdbParams(keys, vals, 1);
    if (!s->conn) {
        lp_err_set(e, WIRE_INTERNAL, NULL, "out of memory connecting to PostgreSQL");
        goto fail;
    }
    if (PQstatus(s->conn) != CONNECTION_OK) {
        conn_err(s, e, "cannot connect to");
        goto fail;
    }
    if (session_setup(s, e) != 0) goto fail;
    return &s->base;
fail:
    pg_close(&s->base);
    return NULL;
}
