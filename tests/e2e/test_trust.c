/* test_trust.c — end-to-end checks of what a node may do with leases (docs/protocol.md "Heartbeats
 * and fencing", docs/dataplane.md "Lease tokens"): a node cut off from its broker stops serving
 * (fencing) before the broker fails its leases; each worker holds only its own lease's key, passed
 * on a pipe (not in its environment or command line), so tokens of two leases are not
 * interchangeable; and a token of an ended lease presented to the next lease's worker on the same
 * GPU is told that its lease has ended (410 lease_ended), not to retry. A real broker, a real
 * leptond with the CPU CUDA driver, liblepton. One case per run: `test_trust CASE`. */
#include <ctype.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
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
static int dp_of(const char *id, char *token, size_t tn, char *worker, size_t wn) {
    char path[256];
    snprintf(path, sizeof path, "/v1/leases/%s", id);
    h_resp r;
    int rc = -1;
    if (h_http(&B, "GET", path, T_TEN, NULL, NULL, 0, &r) == 0 && r.status == 200) {
        json_t *dp = json_object_get(json_object_get(r.json, "lease"), "data_plane");
        const char *tok = json_string_value(json_object_get(dp, "token"));
        const char *w =
            json_string_value(json_object_get(json_array_get(json_object_get(dp, "workers"), 0), "address"));
        if (tok && w) {
            snprintf(token, tn, "%s", tok);
            snprintf(worker, wn, "%s", w);
            rc = 0;
        }
    }
    h_resp_free(&r);
    return rc;
}

static long worker_status(const char *base, const char *token, char *code, size_t cn, char *msg, size_t mn) {
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

/* ---- a TCP proxy between the agent and the broker that the test can cut (a network partition:
 *      the broker runs on, the agent's connections are closed and new ones refused) ---------- */
static atomic_int proxy_cut, proxy_stop;
static int proxy_listen_fd = -1, proxy_target_port;

typedef struct pipe_pair {
    int a, b;
} pipe_pair;

static void *proxy_session(void *arg) {
    pipe_pair pp = *(pipe_pair *)arg;
    free(arg);
    char buf[16384];
    struct pollfd pf[2] = {{pp.a, POLLIN, 0}, {pp.b, POLLIN, 0}};
    while (!atomic_load(&proxy_cut) && !atomic_load(&proxy_stop)) {
        int n = poll(pf, 2, 50);
        if (n < 0) break;
        int done = 0;
        for (int i = 0; i < 2 && !done; i++) {
            if (!(pf[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
            ssize_t r = read(pf[i].fd, buf, sizeof buf);
            if (r <= 0 || write(pf[1 - i].fd, buf, (size_t)r) != r) done = 1;
        }
        if (done) break;
    }
    close(pp.a);
    close(pp.b);
    return NULL;
}

static void *proxy_main(void *arg) {
    (void)arg;
    while (!atomic_load(&proxy_stop)) {
        struct pollfd pf = {proxy_listen_fd, POLLIN, 0};
        if (poll(&pf, 1, 50) <= 0) continue;
        int c = accept(proxy_listen_fd, NULL, NULL);
        if (c < 0) continue;
        if (atomic_load(&proxy_cut)) {
            close(c);
            continue;
        }
        int u = tc_dial(0, proxy_target_port, 0);
        pipe_pair *pp = malloc(sizeof *pp);
        pthread_t th;
        if (u < 0 || !pp) {
            close(c);
            if (u >= 0) close(u);
            free(pp);
            continue;
        }
        pp->a = c;
        pp->b = u;
        if (pthread_create(&th, NULL, proxy_session, pp) != 0) {
            close(c);
            close(u);
            free(pp);
            continue;
        }
        pthread_detach(th);
    }
    return NULL;
}

/* Listens on a free loopback port forwarding to the broker; returns the port, or -1. */
static int proxy_start(pthread_t *th) {
    int port = tc_free_ports(1);
    if (port < 0 || (proxy_listen_fd = tc_listen(&port, 64)) < 0) return -1;
    proxy_target_port = B.port;
    if (pthread_create(th, NULL, proxy_main, NULL) != 0) return -1;
    return port;
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
    /* while the broker answers, the agent does not fence: the same worker serves a node timeout later */
    tc_sleep_ms(FENCE_TIMEOUT_MS + 500);
    a_slot s[A_MAX_GPUS];
    CHECK(a_agent_slots(&A, s, A_MAX_GPUS) >= 1);
    CHECK_EQ_INT(s[0].worker_pid, worker);
    CHECK(!strcmp(s[0].state, "running"));
    CHECK_RC(saxpy(l, m, dx, dy), LEPTON_OK);

    /* the broker is cut off (stopped: its sockets accept, nothing answers) */
    double t0 = tc_now_ms();
    CHECK(kill(B.pid, SIGSTOP) == 0);
    broker_stopped = 1;
    double gone_ms = -1;
    while (tc_now_ms() - t0 < FENCE_TIMEOUT_MS + 5000) {
        if (!a_worker_exists(worker) && !tc_port_open(A.port + 1)) {
            gone_ms = tc_now_ms() - t0;
            break;
        }
        tc_sleep_ms(20);
    }
    printf("fence: the worker was gone %.0f ms after the broker stopped (node timeout %d ms)\n", gone_ms,
           FENCE_TIMEOUT_MS);
    CHECK(gone_ms >= 0);
    /* before the broker would declare the node lost and fail the lease */
    CHECK(gone_ms < FENCE_TIMEOUT_MS);
    CHECK(a_agent_slots(&A, s, A_MAX_GPUS) >= 1);
    CHECK(!strcmp(s[0].state, "fenced"));
    CHECK_EQ_INT(s[0].worker_pid, 0);

    /* the tenant's next job fails, and says the node is lost */
    double t1 = tc_now_ms();
    int rc = saxpy(l, m, dx, dy);
    double fail_ms = tc_now_ms() - t0;
    CHECK_EQ_INT(rc, LEPTON_ENODELOST);
    printf("fence: the next job failed with %s %.0f ms after the broker stopped (%.0f ms for the call): %s\n",
           lepton_status_name(rc), fail_ms, tc_now_ms() - t1, lepton_last_error());
    CHECK(fail_ms < FENCE_TIMEOUT_MS + 5000);
    /* and the agent does not bring the worker back while the broker is silent */
    tc_sleep_ms(500);
    CHECK(a_agent_slots(&A, s, A_MAX_GPUS) >= 1);
    CHECK_EQ_INT(s[0].worker_pid, 0);
    CHECK(!tc_port_open(A.port + 1));

    /* the broker comes back: it is healthy again and the node serves again (lease failed, or the
     * node was heard in time and the lease goes on: either way nothing hangs) */
    kill(B.pid, SIGCONT);
    broker_stopped = 0;
    double until = tc_now_ms() + 10000;
    while (!h_healthy(&B) && tc_now_ms() < until)
        tc_sleep_ms(100);
    CHECK(h_healthy(&B));
    lepton_buffer_free(dx);
    lepton_buffer_free(dy);
    lepton_module_free(m);
    lepton_lease_close(l); /* failed by now, most likely: its status is not the point */
    lepton_client_close(c);
}

/* ---- a partition: the broker runs on but no longer hears the node. The agent stops its workers
 *      before the broker declares the node lost; the lease ends failed, billed up to the last
 *      answered heartbeat (before the cut); the tenant's next job fails with LEPTON_ENODELOST; when
 *      the network heals the node serves new leases ------------------------------------------------ */
static void case_partition(void) {
    lepton_client *c = client_for(10000);
    lepton_lease *l = open_lease(c);
    if (!l) return lepton_client_close(c);
    lepton_lease_info li = LEPTON_LEASE_INFO_INIT;
    CHECK_RC(lepton_lease_get_info(l, &li), LEPTON_OK);
    lepton_module *m = load(l, "saxpy");
    lepton_buffer *dx = NULL, *dy = NULL;
    CHECK_RC(lepton_buffer_alloc(l, 0, 1024, &dx), LEPTON_OK);
    CHECK_RC(lepton_buffer_alloc(l, 0, 1024, &dy), LEPTON_OK);
    CHECK_RC(saxpy(l, m, dx, dy), LEPTON_OK);
    pid_t worker = a_wait_worker(&A, 0, 0, 5000);
    CHECK(worker > 0);

    double t0 = tc_now_ms();
    long long cut_wall_s = (long long)time(NULL);
    atomic_store(&proxy_cut, 1);
    double gone_ms = -1, failed_ms = -1;
    char path[256];
    snprintf(path, sizeof path, "/v1/leases/%s", li.id);
    long long ended_at = 0;
    while (tc_now_ms() - t0 < FENCE_TIMEOUT_MS + 8000 && (gone_ms < 0 || failed_ms < 0)) {
        if (gone_ms < 0 && !a_worker_exists(worker) && !tc_port_open(A.port + 1)) gone_ms = tc_now_ms() - t0;
        if (failed_ms < 0) {
            h_resp r;
            if (h_http(&B, "GET", path, T_TEN, NULL, NULL, 0, &r) == 0 && r.status == 200) {
                json_t *lj = json_object_get(r.json, "lease");
                if (!strcmp(json_string_value(json_object_get(lj, "state")) ?: "", "failed")) {
                    failed_ms = tc_now_ms() - t0;
                    ended_at = json_integer_value(json_object_get(lj, "ended_at"));
                }
            }
            h_resp_free(&r);
        }
        tc_sleep_ms(20);
    }
    printf("partition: worker gone %.0f ms, lease failed at the broker %.0f ms after the cut (node timeout "
           "%d ms)\n",
           gone_ms, failed_ms, FENCE_TIMEOUT_MS);
    CHECK(gone_ms >= 0 && failed_ms >= 0);
    CHECK(gone_ms < failed_ms); /* never serving a lease the broker has ended */
    /* billed up to the last answered heartbeat, which was before the cut */
    CHECK(ended_at > 0 && ended_at <= cut_wall_s + 1);
    double t1 = tc_now_ms();
    int rc = saxpy(l, m, dx, dy);
    CHECK_EQ_INT(rc, LEPTON_ENODELOST);
    printf("partition: the next job: %s in %.0f ms: %s\n", lepton_status_name(rc), tc_now_ms() - t1,
           lepton_last_error());
    CHECK(tc_now_ms() - t1 < 3000);
    lepton_buffer_free(dx);
    lepton_buffer_free(dy);
    lepton_module_free(m);
    lepton_lease_close(l);

    /* the network heals: the agent is heard again, lifts its fence, and serves a new lease */
    atomic_store(&proxy_cut, 0);
    lepton_lease *l2 = open_lease(c);
    if (l2) {
        lepton_module *m2 = load(l2, "saxpy");
        lepton_buffer *ex = NULL, *ey = NULL;
        CHECK_RC(lepton_buffer_alloc(l2, 0, 1024, &ex), LEPTON_OK);
        CHECK_RC(lepton_buffer_alloc(l2, 0, 1024, &ey), LEPTON_OK);
        CHECK_RC(saxpy(l2, m2, ex, ey), LEPTON_OK);
        lepton_buffer_free(ex);
        lepton_buffer_free(ey);
        lepton_module_free(m2);
        CHECK_RC(lepton_lease_close(l2), LEPTON_OK);
    }
    lepton_client_close(c);
}

/* ---- per-lease keys: two leases on one node; neither's token opens the other's worker; no key
 *      in a worker's environment or command line ------------------------------------------------ */
/* 1 when the file holds a run of 64 or more hex digits (a key) or names LEPTON_NODE_KEY. */
static int holds_key(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    char buf[65536];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    int run = 0;
    for (size_t i = 0; i < n; i++) {
        run = isxdigit((unsigned char)buf[i]) ? run + 1 : 0;
        if (run >= 64) return 1;
    }
    for (size_t i = 0; i + 15 < n; i++)
        if (!memcmp(buf + i, "LEPTON_NODE_KEY", 15)) return 1;
    return 0;
}

static void case_lease_keys(void) {
    lepton_client *c = client_for(10000);
    lepton_lease *la = open_lease(c), *lb = open_lease(c);
    if (!la || !lb) goto out;
    lepton_lease *ls[2] = {la, lb};
    char tok[2][2048], wk[2][128];
    for (int i = 0; i < 2; i++) {
        lepton_module *m = load(ls[i], "saxpy");
        lepton_buffer *dx = NULL, *dy = NULL;
        CHECK_RC(lepton_buffer_alloc(ls[i], 0, 1024, &dx), LEPTON_OK);
        CHECK_RC(lepton_buffer_alloc(ls[i], 0, 1024, &dy), LEPTON_OK);
        CHECK_RC(saxpy(ls[i], m, dx, dy), LEPTON_OK); /* each lease's own token works on its worker */
        lepton_buffer_free(dx);
        lepton_buffer_free(dy);
        lepton_module_free(m);
        lepton_lease_info li = LEPTON_LEASE_INFO_INIT;
        CHECK_RC(lepton_lease_get_info(ls[i], &li), LEPTON_OK);
        CHECK(dp_of(li.id, tok[i], sizeof tok[i], wk[i], sizeof wk[i]) == 0);
    }
    CHECK(strcmp(wk[0], wk[1]) != 0); /* two GPUs of the node */
    char code[64], msg[400];
    CHECK_EQ_INT(worker_status(wk[0], tok[0], code, sizeof code, NULL, 0), 200);
    CHECK_EQ_INT(worker_status(wk[1], tok[1], code, sizeof code, NULL, 0), 200);
    /* the other lease's token, signed with the other lease's key: refused (was 403: it verified) */
    for (int i = 0; i < 2; i++) {
        long st = worker_status(wk[i], tok[1 - i], code, sizeof code, msg, sizeof msg);
        CHECK_EQ_INT(st, 401);
        CHECK(!strcmp(code, "unauthorized"));
        if (st != 401)
            fprintf(stderr, "lease %d's token on worker %d: %ld %s: %s\n", 1 - i, i, st, code, msg);
    }
    /* no key where other processes of the node can read it */
    a_slot s[A_MAX_GPUS];
    int n = a_agent_slots(&A, s, A_MAX_GPUS);
    int checked = 0;
    for (int i = 0; i < n; i++) {
        if (s[i].worker_pid <= 0) continue;
        char path[64];
        snprintf(path, sizeof path, "/proc/%d/environ", (int)s[i].worker_pid);
        CHECK_EQ_INT(holds_key(path), 0);
        snprintf(path, sizeof path, "/proc/%d/cmdline", (int)s[i].worker_pid);
        CHECK_EQ_INT(holds_key(path), 0);
        checked++;
    }
    CHECK_EQ_INT(checked, 2);
out:
    if (la) CHECK_RC(lepton_lease_close(la), LEPTON_OK);
    if (lb) CHECK_RC(lepton_lease_close(lb), LEPTON_OK);
    lepton_client_close(c);
}

/* ---- an ended lease's token on the next lease's worker of the same GPU: 410 lease_ended, at
 *      once (it used to be 503 worker_starting, which clients retry) ---------------------------- */
static void case_lease_ended(void) {
    lepton_client *c = client_for(10000), *c2 = client_for(10000);
    lepton_lease *l1 = open_lease(c);
    if (!l1) goto out;
    lepton_module *m = load(l1, "saxpy");
    lepton_buffer *dx = NULL, *dy = NULL;
    CHECK_RC(lepton_buffer_alloc(l1, 0, 1024, &dx), LEPTON_OK);
    CHECK_RC(lepton_buffer_alloc(l1, 0, 1024, &dy), LEPTON_OK);
    CHECK_RC(saxpy(l1, m, dx, dy), LEPTON_OK);
    lepton_lease_info i1 = LEPTON_LEASE_INFO_INIT;
    CHECK_RC(lepton_lease_get_info(l1, &i1), LEPTON_OK);
    char tok1[2048], w1[128], tok2[2048], w2[128];
    CHECK(dp_of(i1.id, tok1, sizeof tok1, w1, sizeof w1) == 0);
    pid_t p1 = a_wait_worker(&A, 0, 0, 5000);
    /* lease 1 is closed elsewhere (its client does not know), and the GPU goes to lease 2 */
    char path[256];
    snprintf(path, sizeof path, "/v1/leases/%s/close", i1.id);
    h_resp r;
    CHECK(h_http(&B, "POST", path, T_TEN, NULL, "{}", 2, &r) == 0);
    CHECK_EQ_INT(r.status, 200);
    h_resp_free(&r);
    lepton_lease *l2 = open_lease(c2);
    if (l2) {
        lepton_lease_info i2 = LEPTON_LEASE_INFO_INIT;
        CHECK_RC(lepton_lease_get_info(l2, &i2), LEPTON_OK);
        CHECK(dp_of(i2.id, tok2, sizeof tok2, w2, sizeof w2) == 0);
        CHECK(!strcmp(w1, w2)); /* the same GPU */
        lepton_module *m2 = load(l2, "saxpy");
        lepton_buffer *ex = NULL, *ey = NULL;
        CHECK_RC(lepton_buffer_alloc(l2, 0, 1024, &ex), LEPTON_OK);
        CHECK_RC(lepton_buffer_alloc(l2, 0, 1024, &ey), LEPTON_OK);
        CHECK_RC(saxpy(l2, m2, ex, ey), LEPTON_OK);
        CHECK(a_wait_worker(&A, 0, p1, 5000) > 0); /* lease 2's own worker */
        /* lease 1's token at lease 2's worker */
        char code[64], msg[400];
        double t0 = tc_now_ms();
        long st = worker_status(w2, tok1, code, sizeof code, msg, sizeof msg);
        CHECK_EQ_INT(st, 410);
        CHECK(!strcmp(code, "lease_ended"));
        CHECK(strstr(msg, i1.id) != NULL);
        if (st != 410) fprintf(stderr, "lease 1's token on lease 2's worker: %ld %s: %s\n", st, code, msg);
        /* lease 1's client learns it at once: no retries of a "starting" worker */
        int x[4];
        int rc = lepton_buffer_read(dx, 0, x, sizeof x);
        double took = tc_now_ms() - t0;
        CHECK_EQ_INT(rc, LEPTON_EEXPIRED);
        printf("lease_ended: lease 1's read on lease 2's worker: %s after %.0f ms: %s\n",
               lepton_status_name(rc), took, lepton_last_error());
        CHECK(strstr(lepton_last_error(), "ended") != NULL);
        CHECK(took < 2000);
        /* lease 2 is not disturbed */
        CHECK_RC(saxpy(l2, m2, ex, ey), LEPTON_OK);
        lepton_buffer_free(ex);
        lepton_buffer_free(ey);
        lepton_module_free(m2);
        CHECK_RC(lepton_lease_close(l2), LEPTON_OK);
    }
    lepton_buffer_free(dx);
    lepton_buffer_free(dy);
    lepton_module_free(m);
    lepton_lease_close(l1); /* already closed */
out:
    lepton_client_close(c);
    lepton_client_close(c2);
}

/* ---- driver --------------------------------------------------------------------------------- */
static int CASES_GPUS = 1;
static const struct {
    const char *name;
    void (*fn)(void);
    const char *broker_args;
    int gpus;
} CASES[] = {
    {"fence", case_fence, "--node-timeout-ms 3000", 1},
    {"partition", case_partition, "--node-timeout-ms 3000", 1},
    {"lease_keys", case_lease_keys, NULL, 2},
    {"lease_ended", case_lease_ended, NULL, 1},
};

static pthread_t proxy_thread;
static int proxy_running;

/* Starts the agent, through the cuttable proxy when asked. */
static int start_agent(int via_proxy) {
    if (!via_proxy) return a_agent_start(&A, &B, T_NODE, "n1", CASES_GPUS, 1.0);
    int port = proxy_start(&proxy_thread);
    if (port < 0) {
        fprintf(stderr, "cannot start the proxy\n");
        return -1;
    }
    proxy_running = 1;
    h_broker via = B;
    snprintf(via.url, sizeof via.url, "http://127.0.0.1:%d", port);
    return a_agent_start(&A, &via, T_NODE, "n1", CASES_GPUS, 1.0);
}

static void teardown(void) {
    if (broker_stopped && B.pid > 0) kill(B.pid, SIGCONT);
    broker_stopped = 0;
    a_agent_cleanup(&A);
    if (proxy_running) {
        atomic_store(&proxy_stop, 1);
        pthread_join(proxy_thread, NULL);
        close(proxy_listen_fd);
        proxy_running = 0;
    }
    a_finish(&B);
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
        CASES_GPUS = CASES[k].gpus;
        if (h_broker_start(&B, CASES[k].broker_args) != 0 || h_token(&B, "acme", 0, T_TEN, sizeof T_TEN) ||
            h_token(&B, "fleet", 1, T_NODE, sizeof T_NODE) ||
            start_agent(CASES[k].fn == case_partition) != 0) {
            check_failures++;
            teardown();
            return 1;
        }
        CASES[k].fn();
        CHECK(h_healthy(&B));
        teardown();
        return check_done(CASES[k].name);
    }
    fprintf(stderr, "unknown case %s\n", argv[1]);
    return 2;
}
