/* harness.c — see harness.h. Processes are started with fork/exec and always reaped. */
#include "harness.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "http.h"
#include "pg_testdb.h"
#include "proc.h"

#ifndef LEPTON_BROKER_BIN
#error "LEPTON_BROKER_BIN must name the lepton-broker executable"
#endif

static int split_args(char *buf, char **argv, int max) {
    int n = 0;
    for (char *tok = strtok(buf, " "); tok && n < max; tok = strtok(NULL, " "))
        argv[n++] = tok;
    return n;
}

static int broker_healthy(void *b) { return h_healthy(b); }

static int spawn_broker(h_broker *b) {
    int fds[2];
    if (pipe(fds) != 0) return -1;
    char extra[256];
    snprintf(extra, sizeof extra, "%s", b->extra_args);
    char *argv[40];
    int argc = 0;
    argv[argc++] = (char *)LEPTON_BROKER_BIN;
    argv[argc++] = (char *)"serve";
    char listen[64];
    snprintf(listen, sizeof listen, "127.0.0.1:%d", b->port); /* 0 the first time; the same port on restart */
    argv[argc++] = (char *)"--listen";
    argv[argc++] = listen;
    argv[argc++] = (char *)"--db";
    argv[argc++] = b->db;
    argv[argc++] = (char *)"--test-clock";
    argc += split_args(extra, argv + argc, 30);
    argv[argc] = NULL;
    pid_t pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        /* A test process that dies (an abort, a sanitizer report) must not leave its server behind. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        dup2(fds[1], 1);
        int logfd = open(b->log, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (logfd >= 0) dup2(logfd, 2);
        close(fds[0]);
        close(fds[1]);
        execv(argv[0], argv);
        _exit(127);
    }
    close(fds[1]);
    b->pid = pid;
    /* The first line on stdout names the bound address. */
    char line[512];
    size_t used = 0;
    int64_t waited = 0;
    fcntl(fds[0], F_SETFL, O_NONBLOCK);
    int wanted = b->port;
    b->port = 0;
    while (waited < 10000 && used < sizeof line - 1) {
        ssize_t got = read(fds[0], line + used, sizeof line - 1 - used);
        if (got > 0) {
            used += (size_t)got;
            line[used] = '\0';
            char *p = strstr(line, "127.0.0.1:");
            if (p && strchr(p, '\n')) {
                b->port = atoi(p + strlen("127.0.0.1:"));
                break;
            }
            continue;
        }
        if (got == 0) break;
        tc_sleep_ms(10);
        waited += 10;
    }
    close(fds[0]);
    if (b->port <= 0) {
        fprintf(stderr, "harness: broker did not announce its port (wanted %d; see %s)\n", wanted, b->log);
        h_broker_kill(b);
        return -1;
    }
    snprintf(b->url, sizeof b->url, "http://127.0.0.1:%d", b->port);
    if (tc_proc_wait_ready(b->pid, broker_healthy, b, 2000) == 0) return 0;
    fprintf(stderr, "harness: broker not healthy (see %s)\n", b->log);
    b->pid = 0; /* reaped */
    return -1;
}

/* The PostgreSQL databases made by h_broker_start and not dropped yet (dropped at exit). */
static char g_pg_dbs[16][64];

static void drop_pg_db(const char *name) {
    char copy[64]; /* name may be one of g_pg_dbs, cleared below */
    snprintf(copy, sizeof copy, "%s", name);
    for (size_t i = 0; i < sizeof g_pg_dbs / sizeof g_pg_dbs[0]; i++)
        if (!strcmp(g_pg_dbs[i], copy)) g_pg_dbs[i][0] = '\0';
    const char *admin = getenv("LEPTON_TEST_PG_URL");
    if (admin && *admin && !getenv("LEPTON_KEEP_TEST_DIRS")) pgt_drop(admin, copy);
}

static void drop_pg_dbs_at_exit(void) {
    for (size_t i = 0; i < sizeof g_pg_dbs / sizeof g_pg_dbs[0]; i++)
        if (g_pg_dbs[i][0]) drop_pg_db(g_pg_dbs[i]);
}

/* A fresh database for b on the server LEPTON_TEST_PG_URL names; 0, or -1 with a message. */
static int make_pg_db(h_broker *b, const char *admin) {
    static int registered;
    size_t slot = 0;
    while (slot < sizeof g_pg_dbs / sizeof g_pg_dbs[0] && g_pg_dbs[slot][0])
        slot++;
    if (slot == sizeof g_pg_dbs / sizeof g_pg_dbs[0] ||
        pgt_create(admin, b->pg_db, sizeof b->pg_db, b->db, sizeof b->db) != 0) {
        fprintf(stderr, "harness: cannot create a database on %s\n", admin);
        b->pg_db[0] = '\0';
        return -1;
    }
    snprintf(g_pg_dbs[slot], sizeof g_pg_dbs[slot], "%s", b->pg_db);
    if (!registered) {
        atexit(drop_pg_dbs_at_exit);
        registered = 1;
    }
    return 0;
}

int h_broker_start(h_broker *b, const char *extra_args) {
    memset(b, 0, sizeof *b);
    static int curl_ready;
    if (!curl_ready) {
        curl_global_init(CURL_GLOBAL_DEFAULT);
        curl_ready = 1;
    }
    signal(SIGPIPE, SIG_IGN);
    snprintf(b->dir, sizeof b->dir, "/tmp/lepton-e2e-XXXXXX");
    if (!mkdtemp(b->dir)) return -1;
    snprintf(b->db, sizeof b->db, "%s/broker.db", b->dir);
    snprintf(b->log, sizeof b->log, "%s/broker.log", b->dir);
    const char *pg = getenv("LEPTON_TEST_PG_URL");
    if (pg && *pg && make_pg_db(b, pg) != 0) return -1;
    snprintf(b->extra_args, sizeof b->extra_args, "%s", extra_args ? extra_args : "");
    return spawn_broker(b);
}

int h_broker_restart(h_broker *b) { return spawn_broker(b); }

int h_broker_stop(h_broker *b) {
    if (b->pid <= 0) return -1;
    int status = tc_proc_stop(b->pid, "harness: broker", 5000);
    b->pid = 0;
    return status;
}

void h_broker_kill(h_broker *b) {
    if (b->pid <= 0) return;
    tc_proc_kill(b->pid);
    b->pid = 0;
}

void h_broker_cleanup(h_broker *b) {
    if (b->pid > 0) h_broker_stop(b);
    if (b->pg_db[0]) {
        drop_pg_db(b->pg_db);
        b->pg_db[0] = '\0';
    }
    if (b->dir[0] && !getenv("LEPTON_KEEP_TEST_DIRS")) tc_remove_dir(b->dir);
}

int h_token(h_broker *b, const char *tenant, int node, char *out, size_t out_size) {
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "'%s' token create --db '%s' --tenant '%s'%s 2>>'%s'", LEPTON_BROKER_BIN, b->db,
             tenant, node ? " --node" : "", b->log);
    FILE *p = popen(cmd, "r");
    if (!p) return -1;
    out[0] = '\0';
    if (!fgets(out, (int)out_size, p)) out[0] = '\0';
    int st = pclose(p);
    out[strcspn(out, "\r\n")] = '\0';
    return (st == 0 && out[0]) ? 0 : -1;
}

int h_http(h_broker *b, const char *method, const char *path, const char *token, const char *content_type,
           const char *body, size_t body_len, h_resp *out) {
    memset(out, 0, sizeof *out);
    char url[1024];
    snprintf(url, sizeof url, "%s%s", b->url, path);
    tc_http_req q = {.method = method,
                     .url = url,
                     .bearer = token,
                     .content_type = body ? (content_type ? content_type : "application/json") : NULL,
                     .body = body,
                     .body_len = body_len,
                     .timeout_ms = 30000,
                     .expect = TC_EXPECT_LARGE};
    tc_http_resp r;
    if (tc_http(NULL, &q, &r) != 0) {
        fprintf(stderr, "harness: %s %s: %s\n", method, path, r.error);
        tc_http_resp_free(&r);
        return -1;
    }
    out->status = r.status;
    if (r.len) {
        out->body = r.body;
        out->len = r.len;
        out->json = json_loadb(out->body, out->len, 0, NULL);
    } else {
        free(r.body);
    }
    return 0;
}

int h_httpf(h_broker *b, const char *method, const char *path, const char *token, h_resp *out,
            const char *fmt, ...) {
    char body[8192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(body, sizeof body, fmt, ap);
    va_end(ap);
    return h_http(b, method, path, token, NULL, body, strlen(body), out);
}

void h_resp_free(h_resp *r) {
    free(r->body);
    if (r->json) json_decref(r->json);
    memset(r, 0, sizeof *r);
}

const char *h_err_code(const h_resp *r) {
    const char *s = json_string_value(json_object_get(json_object_get(r->json, "error"), "code"));
    return s ? s : "";
}

long h_register_node(h_broker *b, const char *node_token, const char *name, int n, const char *model,
                     unsigned long long mem, double price) {
    json_t *gpus = json_array();
    for (int i = 0; i < n; i++) {
        char uuid[160];
        snprintf(uuid, sizeof uuid, "GPU-%s-%d", name, i);
        json_array_append_new(
            gpus, json_pack("{s:s, s:s, s:I}", "uuid", uuid, "model", model, "memory", (json_int_t)mem));
    }
    char addr[128];
    snprintf(addr, sizeof addr, "http://127.0.0.1:%d", 20000 + (int)(strlen(name) * 7 % 1000));
    json_t *req = json_pack("{s:s, s:s, s:f, s:o}", "name", name, "address", addr, "price_per_gpu_hour",
                            price, "gpus", gpus);
    char *body = json_dumps(req, JSON_COMPACT);
    json_decref(req);
    h_resp r;
    long st = -1;
    if (h_http(b, "POST", "/v1/nodes", node_token, NULL, body, strlen(body), &r) == 0) st = r.status;
    if (st != 200 && st != 201)
        fprintf(stderr, "harness: register %s: %ld %s\n", name, st, r.body ? r.body : "");
    h_resp_free(&r);
    free(body);
    return st;
}

long h_heartbeat(h_broker *b, const char *node_token, const char *name) {
    char path[256];
    snprintf(path, sizeof path, "/v1/nodes/%s/heartbeat", name);
    h_resp r;
    long st = -1;
    if (h_http(b, "POST", path, node_token, NULL, "{}", 2, &r) == 0) st = r.status;
    h_resp_free(&r);
    return st;
}

int h_advance(h_broker *b, const char *token, long long ms) {
    h_resp r;
    int rc = h_httpf(b, "POST", "/v1/debug/clock", token, &r, "{\"advance_ms\": %lld}", ms);
    long st = r.status;
    h_resp_free(&r);
    if (rc != 0 || st != 200) return -1;
    tc_sleep_ms(350); /* the reaper ticks every ~100 ms */
    return 0;
}

int h_healthy(h_broker *b) {
    h_resp r;
    int ok = h_http(b, "GET", "/healthz", NULL, NULL, NULL, 0, &r) == 0 && r.status == 200;
    h_resp_free(&r);
    return ok;
}
