/* pg_testdb.h — throwaway databases for the tests of the PostgreSQL store (header only: the store's
 * unit tests and the end-to-end harness include it). Given the URL of a server (LEPTON_TEST_PG_URL,
 * set by pg_fixture.sh), pgt_create makes a fresh database on it and pgt_drop removes one. */
#ifndef LEPTON_TESTS_PG_TESTDB_H
#define LEPTON_TESTS_PG_TESTDB_H

#include <libpq-fe.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* url with its database (the path) replaced by db; 0, or -1 when out is too small. */
static inline int pgt_url_with_db(const char *url, const char *db, char *out, size_t n) {
    const char *auth = strstr(url, "://");
    auth = auth ? auth + 3 : url;
    const char *path = auth + strcspn(auth, "/?#");
    const char *rest = path + strcspn(path, "?#");
    int k = snprintf(out, n, "%.*s/%s%s", (int)(path - url), url, db, rest);
    return k > 0 && (size_t)k < n ? 0 : -1;
}

/* Runs one statement on the server at url; 0, or -1 with the reason on stderr. */
static inline int pgt_exec(const char *url, const char *sql) {
    PGconn *c = PQconnectdb(url);
    int rc = -1;
    if (PQstatus(c) != CONNECTION_OK) {
        fprintf(stderr, "pg_testdb: cannot connect: %s", PQerrorMessage(c));
    } else {
        PGresult *r = PQexec(c, sql);
        if (PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK)
            rc = 0;
        else
            fprintf(stderr, "pg_testdb: %s: %s", sql, PQresultErrorMessage(r));
        PQclear(r);
    }
    PQfinish(c);
    return rc;
}

/* Creates an empty database lepton_test_<pid>_<n> on the server at admin_url; fills its name and
 * its URL. 0, or -1 with the reason on stderr. */
static inline int pgt_create(const char *admin_url, char *name, size_t name_size, char *url,
                             size_t url_size) {
    static int seq;
    snprintf(name, name_size, "lepton_test_%ld_%d", (long)getpid(), ++seq);
    char sql[128];
    snprintf(sql, sizeof sql, "CREATE DATABASE %.80s", name);
    if (pgt_url_with_db(admin_url, name, url, url_size) != 0) return -1;
    return pgt_exec(admin_url, sql);
}

/* Drops a database made by pgt_create, disconnecting whoever still uses it. */
static inline void pgt_drop(const char *admin_url, const char *name) {
    char sql[128];
    snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS %.80s WITH (FORCE)", name);
    pgt_exec(admin_url, sql);
}

#endif
