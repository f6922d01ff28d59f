/* test_sql.c — the store's SQL driver (sql.h) on SQLite and on PostgreSQL: the one dialect ops.c is
 * written in (?N parameters, repeated; a '?' inside a literal; strpos; the collation "C"), every
 * parameter type and NULL, rows and columns, changed-row counts, transactions that commit, roll back
 * or fail with a unique violation classified for the retry policy, and the runner's retry.
 *
 * `broker_test_sql`: SQLite in a temporary directory; with LEPTON_TEST_PG_URL (pg_fixture.sh sets it)
 * the same cases run on a fresh PostgreSQL database as well. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "pg_testdb.h"
#include "proc.h"
#include "sql.h"

static const char SQL_T[] = "CREATE TABLE t(k TEXT COLLATE \"C\" PRIMARY KEY, n BIGINT, d DOUBLE PRECISION)";
static const char SQL_PUT[] = "INSERT INTO t(k, n, d) VALUES (?1, ?2, ?3)";
static const char SQL_GET[] = "SELECT k, n, d, CASE WHEN n IS NULL THEN 1 ELSE 0 END FROM t WHERE k = ?1";
static const char SQL_DIALECT[] =
    "SELECT '?1' || CAST(?1 AS TEXT), strpos(lower(CAST(?2 AS TEXT) COLLATE \"C\"), ?3), ?4 + ?4";
static const char SQL_BUMP[] = "UPDATE t SET n = n + 1 WHERE n >= ?1";
static const char SQL_ORDER[] = "SELECT k FROM t ORDER BY k COLLATE \"C\"";
static const char SQL_B[] = "CREATE TABLE b(k TEXT PRIMARY KEY, v BYTEA)"; /* BYTEA: a blob in SQLite */
static const char SQL_B_PUT[] = "INSERT INTO b(k, v) VALUES (?1, ?2)";
static const char SQL_B_GET[] = "SELECT v, k FROM b WHERE k = ?1";

static int put(lp_sql *db, const char *k, int64_t n, double d, lp_err *e) {
    lp_sql_args a = {0};
    lp_sql_arg_text(&a, k);
    lp_sql_arg_i64(&a, n);
    lp_sql_arg_double(&a, d);
    return lp_sql_run(db, SQL_PUT, &a, "adding a row", e) == 1 ? 0 : -1;
}

static int put_body(lp_sql *db, void *ctx, lp_err *e) {
    int *runs = ctx;
    ++*runs;
    if (put(db, "tx", 7, 0.5, e) != 0) return -1;
    return *runs == 1 ? -1 : 0; /* the first run fails after its insert: rolled back */
}

static int dup_body(lp_sql *db, void *ctx, lp_err *e) {
    int *runs = ctx;
    ++*runs;
    return put(db, "a", 1, 1.0, e); /* "a" exists: a unique violation, every time */
}

static void cases(lp_sql *db) {
    lp_err e = {0};
    CHECK_EQ_INT(lp_sql_run(db, SQL_T, NULL, "creating a table", &e), 0);
    CHECK_EQ_INT(put(db, "a", 1, 1.5, &e), 0);
    CHECK_EQ_INT(put(db, "B", 2, -2.25, &e), 0);
    lp_sql_args a = {0};
    lp_sql_arg_text(&a, "n");
    lp_sql_arg_text(&a, NULL);
    lp_sql_arg_double(&a, 0);
    CHECK_EQ_INT(lp_sql_run(db, SQL_PUT, &a, "adding a row", &e), 1);

    /* columns, and NULL from a NULL parameter */
    a.n = 0;
    lp_sql_arg_text(&a, "B");
    lp_sql_stmt *st = lp_sql_query(db, SQL_GET, &a, "reading a row", &e);
    CHECK(st != NULL);
    CHECK_EQ_INT(lp_sql_step(db, st, &e), 1);
    CHECK_STR(lp_sql_text(db, st, 0), "B");
    CHECK_EQ_INT(lp_sql_i64(db, st, 1), 2);
    CHECK_NEAR(lp_sql_double(db, st, 2), -2.25);
    CHECK_EQ_INT(lp_sql_step(db, st, &e), 0);
    lp_sql_finish(db, st);
    int64_t isnull = 0;
    a.n = 0;
    lp_sql_arg_text(&a, "n");
    CHECK_EQ_INT(lp_sql_one_i64(db, SQL_GET, &a, &isnull, "reading a row", &e), 1);
    st = lp_sql_query(db, SQL_GET, &a, "reading a row", &e);
    CHECK_EQ_INT(lp_sql_step(db, st, &e), 1);
    CHECK_EQ_INT(lp_sql_i64(db, st, 3), 1);
    lp_sql_finish(db, st);
    a.n = 0;
    lp_sql_arg_text(&a, "nothing");
    CHECK_EQ_INT(lp_sql_one_i64(db, SQL_GET, &a, &isnull, "reading a row", &e), 0);

    /* the dialect: '?1' stays a literal, ?4 repeats, strpos is 1-based */
    a.n = 0;
    lp_sql_arg_text(&a, "x");
    lp_sql_arg_text(&a, "A100-SXM");
    lp_sql_arg_text(&a, "sxm");
    lp_sql_arg_i64(&a, 21);
    st = lp_sql_query(db, SQL_DIALECT, &a, "the dialect", &e);
    CHECKF(st != NULL, "%s", e.message);
    if (st) {
        CHECK_EQ_INT(lp_sql_step(db, st, &e), 1);
        CHECK_STR(lp_sql_text(db, st, 0), "?1x");
        CHECK_EQ_INT(lp_sql_i64(db, st, 1), 6);
        CHECK_EQ_INT(lp_sql_i64(db, st, 2), 42);
        lp_sql_finish(db, st);
    }

    /* the collation "C": bytewise, upper case first */
    st = lp_sql_query(db, SQL_ORDER, NULL, "ordering", &e);
    CHECK_EQ_INT(lp_sql_step(db, st, &e), 1);
    CHECK_STR(lp_sql_text(db, st, 0), "B");
    CHECK_EQ_INT(lp_sql_step(db, st, &e), 1);
    CHECK_STR(lp_sql_text(db, st, 0), "a");
    lp_sql_finish(db, st);

    /* blobs, NUL bytes and all; a text column read as bytes */
    static const unsigned char bytes[5] = {0, 1, 0xff, 0, 7};
    int64_t made = lp_sql_run(db, SQL_B, NULL, "creating a table", &e);
    CHECKF(made == 0, "%lld: %s", (long long)made, e.message);
    a.n = 0;
    lp_sql_arg_text(&a, "k");
    lp_sql_arg_blob(&a, bytes, sizeof bytes);
    CHECK_EQ_INT(lp_sql_run(db, SQL_B_PUT, &a, "adding a blob", &e), 1);
    a.n = 1;
    st = lp_sql_query(db, SQL_B_GET, &a, "reading a blob", &e);
    CHECK_EQ_INT(lp_sql_step(db, st, &e), 1);
    size_t len = 0;
    const void *got = db->drv->col_blob(st, 0, &len);
    CHECK_EQ_INT(len, sizeof bytes);
    CHECK(got && !memcmp(got, bytes, sizeof bytes));
    got = db->drv->col_blob(st, 1, &len);
    CHECK_EQ_INT(len, 1);
    CHECK(got && !memcmp(got, "k", 1));
    lp_sql_finish(db, st);

    /* changed rows */
    a.n = 0;
    lp_sql_arg_i64(&a, 1);
    CHECK_EQ_INT(lp_sql_run(db, SQL_BUMP, &a, "bumping", &e), 2);

    /* a body that fails is rolled back; the runner does not run it again for an error of its own */
    int runs = 0;
    CHECK_EQ_INT(lp_sql_transact(db, LP_SQL_TX_WRITE, put_body, &runs, &e), -1);
    CHECK_EQ_INT(runs, 1);
    a.n = 0;
    lp_sql_arg_text(&a, "tx");
    int64_t v = 0;
    CHECK_EQ_INT(lp_sql_one_i64(db, SQL_GET, &a, &v, "reading a row", &e), 0);
    CHECK_EQ_INT(lp_sql_transact(db, LP_SQL_TX_WRITE, put_body, &runs, &e), 0);
    CHECK_EQ_INT(runs, 2);
    CHECK_EQ_INT(lp_sql_one_i64(db, SQL_GET, &a, &v, "reading a row", &e), 1);

    /* a unique violation is classified, and run again a bounded number of times (a concurrent insert
     * of the same key shows on the next run) before the error is returned */
    runs = 0;
    CHECK_EQ_INT(lp_sql_transact(db, LP_SQL_TX_WRITE, dup_body, &runs, &e), -1);
    CHECK_EQ_INT(db->fail, LP_SQL_FAIL_UNIQUE);
    CHECK_EQ_INT(runs, 4);
    CHECK_CONTAINS(e.message, "database error while adding a row");

    /* a statement that does not parse names what was being done */
    st = lp_sql_query(db, "SELEC 1", NULL, "reading nonsense", &e);
    CHECK(st == NULL);
    CHECK_CONTAINS(e.message, "database error while reading nonsense");
}

int main(void) {
    char dir[] = "/tmp/lepton-sql-test-XXXXXX";
    if (!mkdtemp(dir)) return 1;
    char path[300];
    snprintf(path, sizeof path, "%s/t.db", dir);
    lp_err e = {0};
    lp_sql *db = lp_sql_sqlite_open(path, &e);
    CHECKF(db != NULL, "%s", e.message);
    if (db) cases(db);
    lp_sql_close(db);
    tc_remove_dir(dir);

    const char *pg = getenv("LEPTON_TEST_PG_URL");
    if (pg && *pg) {
        char name[64], url[512];
        CHECK_EQ_INT(pgt_create(pg, name, sizeof name, url, sizeof url), 0);
        db = lp_sql_pg_open(url, &e);
        CHECKF(db != NULL, "%s", e.message);
        if (db) cases(db);
        lp_sql_close(db);
        pgt_drop(pg, name);
    }
    return check_done(pg && *pg ? "unit.broker.sql_pg" : "unit.broker.sql");
}
