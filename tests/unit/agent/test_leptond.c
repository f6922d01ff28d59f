/* test_leptond.c — leptond against a real lepton-broker and the CPU driver: registration, a lease
 * granted through the broker starts one worker per GPU (reachable with the lease's token), a
 * crashed worker is replaced, a closed lease ends its workers and removes its state, a lease
 * ends on its own TTL while the broker is frozen, a worker that keeps crashing fails its lease at
 * the broker, and SIGTERM ends the workers and deregisters the node.
 *
 *   test_leptond LEPTOND LEPTON_BROKER CUDAEMU_LIBCUDA */
#include <arpa/inet.h>
#include <curl/curl.h>
#include <jansson.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "http.h"
#include "net.h"
#include "proc.h"

static pid_t g_broker, g_agent;
static char g_dir[64] = "/tmp/leptond-test-XXXXXX";
static char g_broker_url[128], g_agent_url[128], g_tenant[256], g_node[256];
static int g_agent_port;

static void cleanup(void) {
    tc_proc_kill(g_agent);
    g_agent = 0;
    if (g_broker > 0) kill(g_broker, SIGCONT); /* a frozen broker */
    tc_proc_kill(g_broker);
    g_broker = 0;
    if (g_dir[0] == '/' && strstr(g_dir, "leptond-test-")) tc_remove_dir(g_dir);
}

/* One request (a JSON body when json is not NULL); *status: the HTTP status, -1 when no answer.
 * Returns the parsed answer or NULL. */
static json_t *call(const char *method, const char *url, const char *token, const char *json, long *status) {
    tc_http_req q = {.method = method,
                     .url = url,
                     .bearer = token,
                     .content_type = "application/json",
                     .body = json,
                     .body_len = json ? strlen(json) : 0,
                     .timeout_ms = 10000};
    tc_http_resp r;
    long st = tc_http(NULL, &q, &r) == 0 ? r.status : -1;
    if (status) *status = st;
    json_t *j = json_loads(r.body, 0, NULL);
    tc_http_resp_free(&r);
    return j;
}

static json_t *healthz(void) {
    char url[160];
    snprintf(url, sizeof url, "%s/healthz", g_agent_url);
    return call("GET", url, NULL, NULL, NULL);
}

/* The agent's view of its GPU i: worker pid (0 when none) and lease id ("" when free). */
static long gpu_state(int i, char *lease, size_t n) {
    json_t *h = healthz();
    json_t *g = json_array_get(json_object_get(h, "gpus"), (size_t)i);
    long pid = (long)json_integer_value(json_object_get(g, "worker_pid"));
    if (lease) snprintf(lease, n, "%s", json_string_value(json_object_get(g, "lease")) ?: "");
    json_decref(h);
    return pid;
}

/* The agent's lepton_agent_leases_ended_locally_total (GET /metrics); -1 when not found. */
static long ended_locally(void) {
    char url[160];
    snprintf(url, sizeof url, "%s/metrics", g_agent_url);
    tc_http_req q = {.method = "GET", .url = url, .timeout_ms = 10000};
    tc_http_resp r;
    long v = -1;
    if (tc_http(NULL, &q, &r) == 0 && r.status == 200 && r.body) {
        const char *name = "\nlepton_agent_leases_ended_locally_total ";
        const char *p = strstr(r.body, name);
        if (p) v = strtol(p + strlen(name), NULL, 10);
    }
    tc_http_resp_free(&r);
    return v;
}

static char *run_capture(const char *cmd) {
    FILE *p = popen(cmd, "r");
    if (!p) return NULL;
    char buf[512] = "";
    char *ok = fgets(buf, sizeof buf, p);
    pclose(p);
    if (!ok) return NULL;
    buf[strcspn(buf, "\r\n")] = 0;
    return strdup(buf);
}

/* Opens a lease; returns it (caller frees) or NULL. */
static json_t *open_lease(const char *req) {
    char url[200];
    snprintf(url, sizeof url, "%s/v1/leases", g_broker_url);
    for (int i = 0; i < 50; i++) {
        long st;
        json_t *j = call("POST", url, g_tenant, req, &st);
        if (st == 201) {
            json_t *l = json_incref(json_object_get(j, "lease"));
            json_decref(j);
            return l;
        }
        json_decref(j);
        usleep(100000);
    }
    return NULL;
}

static const char *lease_state(const char *id) {
    static char state[32];
    char url[300];
    snprintf(url, sizeof url, "%s/v1/leases/%s", g_broker_url, id);
    json_t *j = call("GET", url, g_tenant, NULL, NULL);
    snprintf(state, sizeof state, "%s",
             json_string_value(json_object_get(json_object_get(j, "lease"), "state")) ?: "?");
    json_decref(j);
    return state;
}

/* The address of the worker of lease index i (data_plane.workers, else agent port + 1 + i). */
static void worker_url(const json_t *lease, size_t i, char *out, size_t n) {
    const json_t *w = json_array_get(json_object_get(json_object_get(lease, "data_plane"), "workers"), i);
    const char *a = json_string_value(json_object_get(w, "address"));
    if (a)
        snprintf(out, n, "%s", a);
    else
        snprintf(out, n, "http://127.0.0.1:%d", g_agent_port + 1 + (int)i);
}

static long worker_info(const json_t *lease, size_t i, json_t **out) {
    char url[200];
    worker_url(lease, i, url, sizeof url);
    strcat(url, "/v1/info");
    const char *tok = json_string_value(json_object_get(json_object_get(lease, "data_plane"), "token"));
    long st;
    json_t *j = call("GET", url, tok, NULL, &st);
    if (out)
        *out = j;
    else
        json_decref(j);
    return st;
}

static int wait_worker(const json_t *lease, size_t i, int timeout_ms) {
    for (double end = tc_now_ms() + timeout_ms; tc_now_ms() < end; usleep(50000))
        if (worker_info(lease, i, NULL) == 200) return 1;
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 4 || access(argv[3], R_OK) != 0 || access(argv[2], X_OK) != 0) {
        printf("SKIPPED: needs lepton-broker and the CPU driver (cudaemu)\n");
        return CHECK_SKIP;
    }
    const char *leptond = argv[1], *broker = argv[2], *lib = argv[3];
    signal(SIGPIPE, SIG_IGN);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    if (!mkdtemp(g_dir)) return 1;
    atexit(cleanup);
    char cmd[1024], db[128];
    snprintf(db, sizeof db, "%s/broker.db", g_dir);
    snprintf(cmd, sizeof cmd, "'%s' token create --db '%s' --tenant acme", broker, db);
    char *t = run_capture(cmd);
    snprintf(cmd, sizeof cmd, "'%s' token create --db '%s' --tenant acme --node", broker, db);
    char *nt = run_capture(cmd);
    if (!t || !nt) {
        fprintf(stderr, "cannot create tokens\n");
        return 1;
    }
    snprintf(g_tenant, sizeof g_tenant, "%s", t);
    snprintf(g_node, sizeof g_node, "%s", nt);
    free(t);
    free(nt);

    /* the broker, on a port of its choosing; its first stdout line names it */
    int fds[2];
    if (pipe(fds) != 0) return 1;
    g_broker = fork();
    if (g_broker == 0) {
        dup2(fds[1], 1);
        close(fds[0]);
        execl(broker, broker, "serve", "--listen", "127.0.0.1:0", "--db", db, "--node-timeout-ms", "20000",
              (char *)NULL);
        _exit(127);
    }
    close(fds[1]);
    FILE *bf = fdopen(fds[0], "r");
    char line[256] = "";
    if (!fgets(line, sizeof line, bf) || !strstr(line, "http://")) {
        fprintf(stderr, "the broker did not start: '%s'\n", line);
        return 1;
    }
    snprintf(g_broker_url, sizeof g_broker_url, "%s", strstr(line, "http://"));
    g_broker_url[strcspn(g_broker_url, "\r\n")] = 0;

    /* the agent: three free ports in a row (its own and two workers) */
    int ports = tc_free_ports(3);
    g_agent_port = ports > 0 ? ports : 0;
    char listen[64], state[128];
    snprintf(listen, sizeof listen, "127.0.0.1:%d", g_agent_port);
    snprintf(g_agent_url, sizeof g_agent_url, "http://%s", listen);
    snprintf(state, sizeof state, "%s/state", g_dir);
    g_agent = fork();
    if (g_agent == 0) {
        setenv("CUDAEMU_DEVICE_COUNT", "2", 1);
        unsetenv("CUDAEMU_DEVICES");
        execl(leptond, leptond, "--broker", g_broker_url, "--token", g_node, "--listen", listen, "--price",
              "3.6", "--name", "test-node", "--cuda-library", lib, "--state-dir", state, (char *)NULL);
        _exit(127);
    }
    int registered = 0;
    for (double end = tc_now_ms() + 10000; tc_now_ms() < end && !registered; usleep(50000)) {
        json_t *h = healthz();
        registered = json_is_true(json_object_get(h, "registered"));
        json_decref(h);
    }
    CHECK(registered);
    if (!registered) return 1;

    /* a lease of both GPUs: one worker each, reachable with the lease's token */
    json_t *lease = open_lease("{\"gpu_count\": 2, \"ttl_seconds\": 120}");
    CHECK(lease != NULL);
    if (!lease) return 1;
    const char *id = json_string_value(json_object_get(lease, "id"));
    CHECK(wait_worker(lease, 0, 5000));
    CHECK(wait_worker(lease, 1, 5000));
    for (size_t i = 0; i < 2; i++) {
        json_t *info;
        CHECK_EQ_INT(worker_info(lease, i, &info), 200);
        const char *want =
            json_string_value(json_object_get(json_array_get(json_object_get(lease, "gpus"), i), "uuid"));
        CHECK(want && !strcmp(json_string_value(json_object_get(info, "uuid")) ?: "", want));
        CHECK_EQ_INT(json_integer_value(json_object_get(info, "index")), i);
        json_decref(info);
    }
    char lid[128];
    long pid1 = gpu_state(1, lid, sizeof lid);
    CHECK(pid1 > 0);
    CHECK(!strcmp(lid, id));

    /* a crashed worker is replaced */
    kill((pid_t)pid1, SIGKILL);
    long pid1b = 0;
    for (double end = tc_now_ms() + 5000; tc_now_ms() < end; usleep(50000)) {
        pid1b = gpu_state(1, NULL, 0);
        if (pid1b > 0 && pid1b != pid1) break;
    }
    CHECK(pid1b > 0 && pid1b != pid1);
    CHECK(wait_worker(lease, 1, 5000));
    char ldir[300];
    snprintf(ldir, sizeof ldir, "%s/leases/%s", state, id);
    struct stat sb;
    CHECK(stat(ldir, &sb) == 0);

    /* closing the lease ends its workers and removes its state */
    char url[300];
    snprintf(url, sizeof url, "%s/v1/leases/%s/close", g_broker_url, id);
    long st;
    json_decref(call("POST", url, g_tenant, "{}", &st));
    CHECK_EQ_INT(st, 200);
    int gone = 0;
    for (double end = tc_now_ms() + 5000; tc_now_ms() < end && !gone; usleep(50000))
        gone = gpu_state(0, NULL, 0) == 0 && gpu_state(1, NULL, 0) == 0 && stat(ldir, &sb) != 0;
    CHECK(gone);
    CHECK(worker_info(lease, 0, NULL) != 200);
    json_decref(lease);

    /* the agent ends a lease at its TTL on its own while the broker does not answer (long before it
     * would fence itself: the node timeout is 20 s) */
    long local0 = ended_locally();
    CHECK(local0 >= 0);
    lease = open_lease("{\"gpu_count\": 1, \"ttl_seconds\": 2}");
    CHECK(lease != NULL);
    if (!lease) return 1;
    CHECK(wait_worker(lease, 0, 5000));
    kill(g_broker, SIGSTOP);
    double t0 = tc_now_ms();
    int ended = 0;
    for (double end = tc_now_ms() + 8000; tc_now_ms() < end && !ended; usleep(50000)) {
        char l[128];
        ended = gpu_state(0, l, sizeof l) == 0 && gpu_state(1, NULL, 0) == 0 &&
                worker_info(lease, 0, NULL) != 200;
    }
    CHECK(ended);
    printf("ended %lld ms after the broker froze (TTL 2 s)\n", (long long)(tc_now_ms() - t0));
    CHECK_EQ_INT(ended_locally(), local0 + 1); /* by the agent, not by fencing */
    kill(g_broker, SIGCONT);
    json_decref(lease);

    /* ... and at its cost cap, which the broker tells it (ends_at, ends_by): $0.002 at $3.60 per
     * GPU-hour is 2 s of one GPU, long before the 120 s TTL; the agent knows no prices */
    lease = open_lease("{\"gpu_count\": 1, \"ttl_seconds\": 120, \"max_cost\": 0.002}");
    CHECK(lease != NULL);
    if (!lease) return 1;
    CHECK(wait_worker(lease, 0, 5000));
    kill(g_broker, SIGSTOP);
    t0 = tc_now_ms();
    ended = 0;
    for (double end = tc_now_ms() + 9000; tc_now_ms() < end && !ended; usleep(50000))
        ended =
            gpu_state(0, NULL, 0) == 0 && gpu_state(1, NULL, 0) == 0 && worker_info(lease, 0, NULL) != 200;
    CHECK(ended);
    double took = tc_now_ms() - t0;
    printf("ended %.0f ms after the broker froze (cost cap: 2 s)\n", took);
    CHECK(took < 8000); /* 2 s of cap (rounded up to the second) + the 1 s grace + ticks; TTL: 120 s */
    CHECK_EQ_INT(ended_locally(), local0 + 2);
    kill(g_broker, SIGCONT);
    json_decref(lease);

    /* a worker that keeps crashing fails its lease at the broker */
    lease = open_lease("{\"gpu_count\": 1, \"ttl_seconds\": 120}");
    CHECK(lease != NULL);
    if (!lease) return 1;
    id = json_string_value(json_object_get(lease, "id"));
    int slot = -1;
    for (double end = tc_now_ms() + 5000; tc_now_ms() < end && slot < 0; usleep(50000))
        for (int i = 0; i < 2; i++) {
            char l[128];
            if (gpu_state(i, l, sizeof l) > 0 && !strcmp(l, id)) slot = i;
        }
    CHECK(slot >= 0);
    for (int k = 0; k < 3 && slot >= 0; k++) {
        long p = 0;
        for (double end = tc_now_ms() + 5000; tc_now_ms() < end && p <= 0; usleep(30000))
            p = gpu_state(slot, NULL, 0);
        if (p > 0) kill((pid_t)p, SIGKILL);
        usleep(100000);
    }
    const char *s = "";
    for (double end = tc_now_ms() + 5000; tc_now_ms() < end; usleep(100000))
        if (!strcmp(s = lease_state(id), "failed")) break;
    CHECK(!strcmp(s, "failed"));
    json_decref(lease);

    /* SIGTERM: workers ended and reaped, node deregistered, exit 0 */
    lease = open_lease("{\"gpu_count\": 1, \"ttl_seconds\": 120}");
    CHECK(lease && wait_worker(lease, 0, 5000));
    long wpid = 0;
    for (int i = 0; i < 2 && wpid <= 0; i++)
        wpid = gpu_state(i, NULL, 0);
    kill(g_agent, SIGTERM);
    int code = tc_proc_wait_exit(g_agent, 10000); /* -1: still running, killed */
    g_agent = 0;
    CHECK_EQ_INT(code, 0);
    CHECK(wpid > 0 && kill((pid_t)wpid, 0) != 0); /* the worker is gone */
    if (lease) CHECK(!strcmp(lease_state(json_string_value(json_object_get(lease, "id"))), "failed"));
    snprintf(url, sizeof url, "%s/v1/nodes", g_broker_url);
    json_t *nodes = call("GET", url, g_tenant, NULL, NULL);
    const char *nstate =
        json_string_value(json_object_get(json_array_get(json_object_get(nodes, "nodes"), 0), "state"));
    CHECK(nstate && strcmp(nstate, "ready") != 0);
    json_decref(nodes);
    json_decref(lease);
    curl_global_cleanup();
    return check_done("unit.agent.leptond");
}
