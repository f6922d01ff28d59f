/* test_dataplane.c — end-to-end tests of the whole stack: a real lepton-broker, real leptond agents
 * (two, each with two GPUs of the CPU CUDA driver by default) starting real lepton-worker processes,
 * and liblepton's C API from lease to verified kernel results. One case per run:
 * `test_dataplane CASE`; CTest registers each case separately. Kernel outputs are compared with
 * host computations. With LEPTON_TEST_CUDA_LIBRARY naming a real libcuda.so.1 one agent offers the
 * real GPUs; cases that need more GPUs than it has are skipped (exit 77). */
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "agent_harness.h"
#include "lepton/lepton.h"

#define SKIP 77
#define PRICE_N1 1.5
#define PRICE_N2 2.5

static h_broker B;
static a_agent A1, A2;
static int have_a2;
static char T_TEN[128], T_OTHER[128], T_NODE[128];

/* ---- helpers ------------------------------------------------------------------------------- */
static lepton_client *client_for(const char *token) {
    lepton_client_options o = LEPTON_CLIENT_OPTIONS_INIT;
    o.endpoint = B.url;
    o.token = token;
    o.timeout_ms = 10000;
    lepton_client *c = NULL;
    CHECK_RC(lepton_client_open(&c, &o), LEPTON_OK);
    return c;
}

/* Opens a lease of `gpus` GPUs; model (may be NULL) narrows it to one agent's emulated GPUs. */
static lepton_lease *open_lease(lepton_client *c, uint32_t gpus, const char *model, uint32_t ttl) {
    lepton_lease_request r = LEPTON_LEASE_REQUEST_INIT;
    r.gpu_count = gpus;
    r.gpu_model = a_is_emulator() ? model : NULL;
    r.ttl_seconds = ttl ? ttl : 600;
    r.wait_ms = 5000;
    lepton_lease *l = NULL;
    CHECK_RC(lepton_lease_open(c, &r, &l), LEPTON_OK);
    return l;
}

static lepton_lease_info info_of(lepton_lease *l) {
    lepton_lease_info i = LEPTON_LEASE_INFO_INIT;
    CHECK_RC(lepton_lease_get_info(l, &i), LEPTON_OK);
    return i;
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

static lepton_buffer *alloc(lepton_lease *l, uint32_t gpu, size_t size) {
    lepton_buffer *b = NULL;
    CHECK_RC(lepton_buffer_alloc(l, gpu, size, &b), LEPTON_OK);
    return b;
}

/* Submits a job and waits for it; returns the status of lepton_wait (or of lepton_submit). */
static int run_job(lepton_lease *l, uint32_t gpu, const lepton_step *steps, size_t n) {
    lepton_job j = LEPTON_JOB_INIT;
    j.gpu = gpu;
    j.steps = steps;
    j.step_count = n;
    lepton_task *t = NULL;
    int rc = lepton_submit(l, &j, &t);
    if (rc != LEPTON_OK) return rc;
    rc = lepton_wait(t, 20000);
    lepton_task_free(t);
    return rc;
}

static lepton_step launch_step(const lepton_launch *L) {
    return (lepton_step){LEPTON_STEP_LAUNCH, NULL, 0, NULL, 0, L};
}
static lepton_step write_step(lepton_buffer *b, const void *p, size_t n) {
    return (lepton_step){LEPTON_STEP_WRITE, b, 0, (void *)p, n, NULL};
}
static lepton_step read_step(lepton_buffer *b, void *p, size_t n) {
    return (lepton_step){LEPTON_STEP_READ, b, 0, p, n, NULL};
}

/* liblepton sends jobs and buffer calls on the workers' streams unless LEPTON_DP_STREAM=0. */
static int stream_on(void) {
    const char *e = getenv("LEPTON_DP_STREAM");
    return !(e && !strcmp(e, "0"));
}

static uint32_t rng_state = 12345;
static uint32_t rnd(void) {
    rng_state = rng_state * 1664525u + 1013904223u;
    return rng_state >> 8;
}

/* The broker's JSON for a lease (raw HTTP with the tenant token); caller decrefs. */
static json_t *lease_json(const char *token, const char *id) {
    char path[256];
    snprintf(path, sizeof path, "/v1/leases/%s", id);
    h_resp r;
    json_t *j = NULL;
    if (h_http(&B, "GET", path, token, NULL, NULL, 0, &r) == 0 && r.status == 200)
        j = json_incref(json_object_get(r.json, "lease"));
    h_resp_free(&r);
    return j;
}

typedef struct dp_view {
    char token[2048];
    char worker[A_MAX_GPUS][128];
    int nworkers;
} dp_view;

static int dp_of(const char *token, const char *id, dp_view *v) {
    memset(v, 0, sizeof *v);
    json_t *j = lease_json(token, id);
    json_t *dp = json_object_get(j, "data_plane");
    const char *tok = json_string_value(json_object_get(dp, "token"));
    json_t *ws = json_object_get(dp, "workers");
    if (tok) snprintf(v->token, sizeof v->token, "%s", tok);
    for (size_t i = 0; i < json_array_size(ws) && i < A_MAX_GPUS; i++) {
        const char *addr = json_string_value(json_object_get(json_array_get(ws, i), "address"));
        snprintf(v->worker[i], sizeof v->worker[i], "%s", addr ? addr : "");
        v->nworkers++;
    }
    json_decref(j);
    return tok && v->nworkers > 0 ? 0 : -1;
}

static const char *lease_state(const char *token, const char *id, char *out, size_t n) {
    json_t *j = lease_json(token, id);
    snprintf(out, n, "%s", json_string_value(json_object_get(j, "state")) ?: "?");
    json_decref(j);
    return out;
}

static a_agent *agent_named(const char *node) {
    if (!strcmp(node, A1.name)) return &A1;
    if (have_a2 && !strcmp(node, A2.name)) return &A2;
    return NULL;
}

/* The agent slot (GPU index on its node) that serves lease GPU `gpu`. */
static int slot_of(a_agent *a, const dp_view *v, int gpu) {
    const char *p = strrchr(v->worker[gpu], ':');
    return p ? atoi(p + 1) - a->port - 1 : -1;
}

/* A lease of the tenant's (T_TEN) on its own client, and what the cases look up about it: its
 * info, its data plane (token and workers), and with an agent wanted the agent serving it, the
 * agent slot of lease GPU 0 and the worker there when the lease came up. */
typedef struct t_lease {
    lepton_client *c;
    lepton_lease *l;
    lepton_lease_info li;
    dp_view v;
    a_agent *ag;   /* NULL unless wanted */
    int slot0;     /* -1 unless an agent is wanted */
    pid_t worker0; /* 0 unless an agent is wanted (or its worker did not come) */
} t_lease;

/* Opens a lease of `gpus` GPUs (ttl 0: the default) and looks it up; with want_agent also its
 * agent, GPU 0's slot and worker. 0, or -1 (a check failed) with nothing left open. */
static int t_lease_open(t_lease *x, uint32_t gpus, uint32_t ttl, int want_agent) {
    memset(x, 0, sizeof *x);
    x->slot0 = -1;
    x->c = client_for(T_TEN);
    x->l = open_lease(x->c, gpus, NULL, ttl);
    if (!x->l) {
        lepton_client_close(x->c);
        return -1;
    }
    x->li = info_of(x->l);
    CHECK(dp_of(T_TEN, x->li.id, &x->v) == 0);
    if (!want_agent) return 0;
    x->ag = agent_named(x->li.node);
    CHECK(x->ag != NULL);
    if (!x->ag) {
        lepton_lease_close(x->l);
        lepton_client_close(x->c);
        return -1;
    }
    x->slot0 = slot_of(x->ag, &x->v, 0);
    x->worker0 = a_wait_worker(x->ag, x->slot0, 0, 5000);
    return 0;
}

/* Closes the lease, which must close cleanly, and its client. */
static void t_lease_close(t_lease *x) {
    CHECK_RC(lepton_lease_close(x->l), LEPTON_OK);
    lepton_client_close(x->c);
}

/* Allocates on GPU 0 the two one-float buffers of counter_jobs: `ones` holding 1, `counter` 0. */
static void counter_bufs(lepton_lease *l, lepton_buffer **ones, lepton_buffer **counter) {
    float one = 1.0f, zero = 0.0f;
    *ones = alloc(l, 0, sizeof(float));
    *counter = alloc(l, 0, sizeof(float));
    CHECK_RC(lepton_buffer_write(*ones, 0, &one, sizeof one), LEPTON_OK);
    CHECK_RC(lepton_buffer_write(*counter, 0, &zero, sizeof zero), LEPTON_OK);
}

static void saxpy_works(lepton_lease *l, lepton_module *m, uint32_t gpu, const char *what);

static int need_gpus(int n) {
    if (A1.gpus >= n) return 0;
    printf("skipped: needs %d GPUs on one node, the driver offers %d\n", n, A1.gpus);
    return 1;
}

/* ---- kernels: the corpus through the whole path -------------------------------------------- */
static void check_vector_add(lepton_lease *l, uint32_t gpu) {
    lepton_module *m = load(l, "vector_add");
    const int n = 10000;
    size_t bytes = (size_t)n * sizeof(float);
    float *a = malloc(bytes), *b = malloc(bytes), *c = malloc(bytes);
    for (int i = 0; i < n; i++)
        a[i] = (float)(rnd() % 1000) * 0.25f, b[i] = (float)(rnd() % 1000) * 0.5f;
    lepton_buffer *da = alloc(l, gpu, bytes), *db = alloc(l, gpu, bytes), *dc = alloc(l, gpu, bytes);
    int nn = n;
    lepton_arg args[] = {LEPTON_ARG_BUF(da), LEPTON_ARG_BUF(db), LEPTON_ARG_BUF(dc), LEPTON_ARG_VAL(nn)};
    lepton_launch L = {m, "vector_add", {(uint32_t)(n + 255) / 256}, {256}, 0, args, 4};
    lepton_step s[] = {write_step(da, a, bytes), write_step(db, b, bytes), launch_step(&L),
                       read_step(dc, c, bytes)};
    CHECK_RC(run_job(l, gpu, s, 4), LEPTON_OK);
    int bad = 0;
    for (int i = 0; i < n; i++)
        bad += c[i] != a[i] + b[i];
    CHECK_EQ_INT(bad, 0);
    lepton_buffer_free(da), lepton_buffer_free(db), lepton_buffer_free(dc);
    lepton_module_free(m);
    free(a), free(b), free(c);
}

static void check_saxpy(lepton_lease *l, uint32_t gpu) {
    lepton_module *m = load(l, "saxpy");
    const int n = 1 << 14;
    size_t bytes = (size_t)n * sizeof(float);
    float *x = malloc(bytes), *y = malloc(bytes), *out = malloc(bytes);
    for (int i = 0; i < n; i++)
        x[i] = (float)i * 0.5f, y[i] = (float)(n - i);
    lepton_buffer *dx = alloc(l, gpu, bytes), *dy = alloc(l, gpu, bytes);
    /* Blocking transfers here, the read-back in the job. */
    CHECK_RC(lepton_buffer_write(dx, 0, x, bytes), LEPTON_OK);
    CHECK_RC(lepton_buffer_write(dy, 0, y, bytes), LEPTON_OK);
    float a = 3.0f;
    int nn = n;
    lepton_arg args[] = {LEPTON_ARG_VAL(nn), LEPTON_ARG_VAL(a), LEPTON_ARG_BUF(dx), LEPTON_ARG_BUF(dy)};
    lepton_launch L = {m, "saxpy", {(uint32_t)n / 256}, {256}, 0, args, 4};
    lepton_step s[] = {launch_step(&L), read_step(dy, out, bytes)};
    CHECK_RC(run_job(l, gpu, s, 2), LEPTON_OK);
    int bad = 0;
    for (int i = 0; i < n; i++)
        bad += fabsf(out[i] - (a * x[i] + y[i])) > 1e-6f * fabsf(a * x[i] + y[i]);
    CHECK_EQ_INT(bad, 0);
    /* and with the blocking read */
    memset(out, 0, bytes);
    CHECK_RC(lepton_buffer_read(dy, 0, out, bytes), LEPTON_OK);
    CHECK(fabsf(out[n - 1] - (a * x[n - 1] + y[n - 1])) <= 1e-3f);
    lepton_buffer_free(dx), lepton_buffer_free(dy);
    lepton_module_free(m);
    free(x), free(y), free(out);
}

static void check_matmul(lepton_lease *l, uint32_t gpu) {
    lepton_module *m = load(l, "matmul_tiled");
    const int M = 45, N = 38, K = 53; /* not multiples of the tile: the edges count */
    float *A = malloc(sizeof(float) * M * K), *Bm = malloc(sizeof(float) * K * N),
          *C = malloc(sizeof(float) * M * N);
    for (int i = 0; i < M * K; i++)
        A[i] = (float)((int)(rnd() % 17) - 8);
    for (int i = 0; i < K * N; i++)
        Bm[i] = (float)((int)(rnd() % 13) - 6);
    lepton_buffer *dA = alloc(l, gpu, sizeof(float) * M * K), *dB = alloc(l, gpu, sizeof(float) * K * N),
                  *dC = alloc(l, gpu, sizeof(float) * M * N);
    int mm = M, nn = N, kk = K;
    lepton_arg args[] = {LEPTON_ARG_BUF(dA), LEPTON_ARG_BUF(dB), LEPTON_ARG_BUF(dC),
                         LEPTON_ARG_VAL(mm), LEPTON_ARG_VAL(nn), LEPTON_ARG_VAL(kk)};
    lepton_launch L = {
        m, "matmul_tiled", {(uint32_t)(N + 15) / 16, (uint32_t)(M + 15) / 16, 1}, {16, 16, 1}, 0, args, 6};
    lepton_step s[] = {write_step(dA, A, sizeof(float) * M * K), write_step(dB, Bm, sizeof(float) * K * N),
                       launch_step(&L), read_step(dC, C, sizeof(float) * M * N)};
    CHECK_RC(run_job(l, gpu, s, 4), LEPTON_OK);
    int bad = 0;
    for (int r = 0; r < M; r++)
        for (int c = 0; c < N; c++) {
            float acc = 0; /* small integers: exact in any order */
            for (int k = 0; k < K; k++)
                acc += A[r * K + k] * Bm[k * N + c];
            bad += C[r * N + c] != acc;
        }
    CHECK_EQ_INT(bad, 0);
    lepton_buffer_free(dA), lepton_buffer_free(dB), lepton_buffer_free(dC);
    lepton_module_free(m);
    free(A), free(Bm), free(C);
}

/* block_reduce over n ints on `gpu`: submits the job and returns the task (the caller waits), the
 * expected sum in *expect and the partial sums land in partial[]. */
typedef struct reduce_job {
    int n, blocks;
    int *in, *partial;
    long long expect;
    lepton_buffer *din, *dpart;
    lepton_arg args[3];
    lepton_launch L;
    lepton_step s[3];
    lepton_task *t;
} reduce_job;

static int reduce_submit(lepton_lease *l, lepton_module *m, uint32_t gpu, int n, int seed, reduce_job *r) {
    memset(r, 0, sizeof *r);
    r->n = n;
    r->blocks = (n + 511) / 512;
    r->in = malloc(sizeof(int) * (size_t)n);
    r->partial = calloc((size_t)r->blocks, sizeof(int));
    for (int i = 0; i < n; i++) {
        r->in[i] = (int)((unsigned)(i * 2654435761u + (unsigned)seed) % 2001u) - 1000;
        r->expect += r->in[i];
    }
    r->din = alloc(l, gpu, sizeof(int) * (size_t)n);
    r->dpart = alloc(l, gpu, sizeof(int) * (size_t)r->blocks);
    r->args[0] = LEPTON_ARG_BUF(r->din);
    r->args[1] = LEPTON_ARG_BUF(r->dpart);
    r->args[2] = LEPTON_ARG_VAL(r->n);
    r->L = (lepton_launch){m, "block_reduce", {(uint32_t)r->blocks}, {256}, 0, r->args, 3};
    r->s[0] = write_step(r->din, r->in, sizeof(int) * (size_t)n);
    r->s[1] = launch_step(&r->L);
    r->s[2] = read_step(r->dpart, r->partial, sizeof(int) * (size_t)r->blocks);
    lepton_job j = LEPTON_JOB_INIT;
    j.gpu = gpu;
    j.steps = r->s;
    j.step_count = 3;
    return lepton_submit(l, &j, &r->t);
}

static long long reduce_result(reduce_job *r) {
    long long sum = 0;
    for (int b = 0; b < r->blocks; b++)
        sum += r->partial[b];
    return sum;
}

static void reduce_free(reduce_job *r) {
    lepton_task_free(r->t);
    lepton_buffer_free(r->din);
    lepton_buffer_free(r->dpart);
    free(r->in);
    free(r->partial);
}

static void check_warp_reduce(lepton_lease *l, uint32_t gpu) {
    lepton_module *m = load(l, "warp_reduce");
    const int n = 4096;
    float *in = malloc(sizeof(float) * n), *out = malloc(sizeof(float) * (n / 32));
    for (int i = 0; i < n; i++)
        in[i] = (float)((int)(rnd() % 201) - 100);
    lepton_buffer *din = alloc(l, gpu, sizeof(float) * n), *dout = alloc(l, gpu, sizeof(float) * (n / 32));
    int nn = n;
    lepton_arg args[] = {LEPTON_ARG_BUF(din), LEPTON_ARG_BUF(dout), LEPTON_ARG_VAL(nn)};
    lepton_launch L = {m, "warp_reduce", {n / 256}, {256}, 0, args, 3};
    lepton_step s[] = {write_step(din, in, sizeof(float) * n), launch_step(&L),
                       read_step(dout, out, sizeof(float) * (n / 32))};
    CHECK_RC(run_job(l, gpu, s, 3), LEPTON_OK);
    int bad = 0;
    for (int w = 0; w < n / 32; w++) {
        float e = 0;
        for (int k = 0; k < 32; k++)
            e += in[w * 32 + k];
        bad += out[w] != e;
    }
    CHECK_EQ_INT(bad, 0);
    lepton_buffer_free(din), lepton_buffer_free(dout);
    lepton_module_free(m);
    free(in), free(out);
}

static void case_kernels(void) {
    lepton_client *c = client_for(T_TEN);
    lepton_lease *l = open_lease(c, 1, NULL, 0);
    if (!l) return lepton_client_close(c);
    check_vector_add(l, 0);
    check_saxpy(l, 0);
    check_matmul(l, 0);
    check_warp_reduce(l, 0);
    lepton_module *m = load(l, "block_reduce");
    reduce_job r;
    CHECK_RC(reduce_submit(l, m, 0, 100000, 7, &r), LEPTON_OK);
    CHECK_RC(lepton_wait(r.t, 20000), LEPTON_OK);
    CHECK_EQ_INT(reduce_result(&r), r.expect);
    lepton_task_info ti = LEPTON_TASK_INFO_INIT;
    CHECK_RC(lepton_task_get_info(r.t, &ti), LEPTON_OK);
    CHECK_EQ_INT(ti.state, LEPTON_TASK_DONE);
    CHECK_EQ_INT(ti.status, LEPTON_OK);
    CHECK(ti.queued_ns <= ti.started_ns && ti.started_ns <= ti.ended_ns && ti.ended_ns > 0);
    reduce_free(&r);
    lepton_module_free(m);
    CHECK_RC(lepton_lease_close(l), LEPTON_OK);
    lepton_client_close(c);
}

/* ---- two GPUs: a reduction on each, and the lease's cost ------------------------------------ */
static void case_two_gpus(void) {
    if (need_gpus(2)) exit(SKIP);
    lepton_client *c = client_for(T_TEN);
    lepton_lease *l = open_lease(c, 2, NULL, 0);
    if (!l) return lepton_client_close(c);
    lepton_lease_info i0 = info_of(l);
    CHECK_EQ_INT(i0.gpu_count, 2);
    CHECK_EQ_INT(i0.state, LEPTON_LEASE_ACTIVE);
    lepton_module *m = load(l, "block_reduce");
    reduce_job r[2];
    /* both in flight at once, one per GPU */
    CHECK_RC(reduce_submit(l, m, 0, 200000, 1, &r[0]), LEPTON_OK);
    CHECK_RC(reduce_submit(l, m, 1, 150001, 2, &r[1]), LEPTON_OK);
    for (int g = 0; g < 2; g++) {
        CHECK_RC(lepton_wait(r[g].t, 20000), LEPTON_OK);
        CHECK_EQ_INT(reduce_result(&r[g]), r[g].expect);
        reduce_free(&r[g]);
    }
    CHECK(r[0].expect != r[1].expect);
    /* a job on a GPU the lease does not have */
    lepton_job j = LEPTON_JOB_INIT;
    j.gpu = 2;
    lepton_task *t = NULL;
    CHECK_RC(lepton_submit(l, &j, &t), LEPTON_EINVAL);
    CHECK(t == NULL);
    /* cost: 2 GPUs × the agreed price, per started second; 30 s more on the broker's clock */
    CHECK(h_advance(&B, T_TEN, 30000) == 0);
    lepton_lease_info i1 = info_of(l);
    double per_s = 2 * i1.price_per_gpu_hour / 3600.0;
    CHECK(i1.price_per_gpu_hour > 0);
    CHECK(i1.cost >= 30 * per_s - 1e-9 && i1.cost <= 40 * per_s + 1e-9);
    lepton_module_free(m);
    CHECK_RC(lepton_lease_close(l), LEPTON_OK);
    lepton_client_close(c);
}

/* ---- a broker whose node timeout (and so heartbeat interval) is long: the agent must still
 * heartbeat within the broker's limits (wait_ms <= 600000) and so learn of its grants --------- */
static void case_long_node_timeout(void) {
    lepton_client_options o = LEPTON_CLIENT_OPTIONS_INIT;
    o.endpoint = B.url;
    o.token = T_TEN;
    o.timeout_ms = 3000; /* fail fast: without heartbeats the worker never starts */
    lepton_client *c = NULL;
    CHECK_RC(lepton_client_open(&c, &o), LEPTON_OK);
    lepton_lease *l = open_lease(c, 1, NULL, 0);
    if (!l) return lepton_client_close(c);
    lepton_module *m = load(l, "saxpy");
    saxpy_works(l, m, 0, "with a long node timeout");
    lepton_module_free(m);
    CHECK_RC(lepton_lease_close(l), LEPTON_OK);
    lepton_client_close(c);
}

/* ---- several leases on one node, each isolated ---------------------------------------------- */
static void case_isolation(void) {
    if (need_gpus(2)) exit(SKIP);
    lepton_client *ca = client_for(T_TEN), *cb = client_for(T_OTHER);
    lepton_lease *la = open_lease(ca, 1, "Emu n1", 0), *lb = open_lease(cb, 1, "Emu n1", 0);
    if (!la || !lb) goto out;
    lepton_lease_info ia = info_of(la), ib = info_of(lb);
    CHECK(!strcmp(ia.node, ib.node));
    dp_view va, vb;
    CHECK(dp_of(T_TEN, ia.id, &va) == 0);
    CHECK(dp_of(T_OTHER, ib.id, &vb) == 0);
    CHECK(strcmp(va.worker[0], vb.worker[0]) != 0);
    CHECK(strcmp(va.token, vb.token) != 0);
    /* both run at once, each with its own data */
    lepton_module *ma = load(la, "block_reduce"), *mb = load(lb, "block_reduce");
    reduce_job ra, rb;
    CHECK_RC(reduce_submit(la, ma, 0, 50000, 11, &ra), LEPTON_OK);
    CHECK_RC(reduce_submit(lb, mb, 0, 60000, 12, &rb), LEPTON_OK);
    CHECK_RC(lepton_wait(ra.t, 20000), LEPTON_OK);
    CHECK_RC(lepton_wait(rb.t, 20000), LEPTON_OK);
    CHECK_EQ_INT(reduce_result(&ra), ra.expect);
    CHECK_EQ_INT(reduce_result(&rb), rb.expect);

    /* A's token on B's worker, and the reverse: refused, whatever the request */
    h_resp r;
    static const char *paths[][2] = {{"GET", "/v1/info"},
                                     {"POST", "/v1/buffers"},
                                     {"GET", "/v1/buffers/1?offset=0&size=4"},
                                     {"POST", "/v1/jobs"},
                                     {"DELETE", "/v1/buffers/1"}};
    for (size_t k = 0; k < sizeof paths / sizeof paths[0]; k++) {
        const char *body = !strcmp(paths[k][0], "POST") ? "{\"size\": 64}" : NULL;
        CHECK(a_http(vb.worker[0], paths[k][0], paths[k][1], va.token, NULL, body, body ? strlen(body) : 0,
                     &r) == 0);
        if (r.status != 401 && r.status != 403)
            fprintf(stderr, "%s %s with another lease's token: %ld %s\n", paths[k][0], paths[k][1], r.status,
                    r.body);
        CHECK(r.status == 401 || r.status == 403);
        h_resp_free(&r);
        CHECK(a_http(va.worker[0], paths[k][0], paths[k][1], vb.token, NULL, body, body ? strlen(body) : 0,
                     &r) == 0);
        CHECK(r.status == 401 || r.status == 403);
        h_resp_free(&r);
    }
    /* no token, a forged one (A's payload with B's signature), a tenant's broker token */
    CHECK(a_http(vb.worker[0], "GET", "/v1/info", NULL, NULL, NULL, 0, &r) == 0);
    CHECK_EQ_INT(r.status, 401);
    h_resp_free(&r);
    char forged[4200];
    const char *dot_a = strchr(va.token, '.'), *dot_b = strchr(vb.token, '.');
    CHECK(dot_a && dot_b);
    if (dot_a && dot_b) {
        snprintf(forged, sizeof forged, "%.*s%s", (int)(dot_a - va.token), va.token, dot_b);
        CHECK(a_http(vb.worker[0], "GET", "/v1/info", forged, NULL, NULL, 0, &r) == 0);
        CHECK_EQ_INT(r.status, 401);
        h_resp_free(&r);
    }
    CHECK(a_http(vb.worker[0], "GET", "/v1/info", T_OTHER, NULL, NULL, 0, &r) == 0);
    CHECK_EQ_INT(r.status, 401);
    h_resp_free(&r);
    /* each token on its own worker: the right lease */
    CHECK(a_http(va.worker[0], "GET", "/v1/info", va.token, NULL, NULL, 0, &r) == 0);
    CHECK_EQ_INT(r.status, 200);
    CHECK(!strcmp(json_string_value(json_object_get(r.json, "lease")) ?: "", ia.id));
    h_resp_free(&r);
    /* B's buffer is untouched and B still works */
    int back[4] = {0};
    CHECK_RC(lepton_buffer_read(rb.din, 0, back, sizeof back), LEPTON_OK);
    CHECK(!memcmp(back, rb.in, sizeof back));
    reduce_free(&ra);
    reduce_free(&rb);
    lepton_module_free(ma);
    lepton_module_free(mb);
    /* a buffer handle of lease A in a job of lease B: refused by the client */
    lepton_buffer *bufa = alloc(la, 0, 64);
    lepton_module *sb = load(lb, "saxpy");
    int one = 1;
    float f = 1;
    lepton_arg args[] = {LEPTON_ARG_VAL(one), LEPTON_ARG_VAL(f), LEPTON_ARG_BUF(bufa), LEPTON_ARG_BUF(bufa)};
    lepton_launch L = {sb, "saxpy", {1}, {1}, 0, args, 4};
    lepton_step s = launch_step(&L);
    CHECK_RC(run_job(lb, 0, &s, 1), LEPTON_EINVAL);
    lepton_buffer_free(bufa);
    lepton_module_free(sb);
out:
    if (la) CHECK_RC(lepton_lease_close(la), LEPTON_OK);
    if (lb) CHECK_RC(lepton_lease_close(lb), LEPTON_OK);
    lepton_client_close(ca);
    lepton_client_close(cb);
}

/* ---- pipelined jobs from several threads: per-GPU order -------------------------------------- */
#define PIPE_THREADS 4
#define PIPE_JOBS 40 /* per thread */
typedef struct pipe_ctx {
    lepton_lease *l;
    lepton_module *m;
    lepton_buffer *ones[2], *counter[2];
    int ng;
    pthread_mutex_t order[2];
    int next[2];                             /* submissions per GPU so far */
    int seen_index[PIPE_THREADS][PIPE_JOBS]; /* per-GPU submit index of each job */
    float value[PIPE_THREADS][PIPE_JOBS];    /* counter read back by each job */
    int status[PIPE_THREADS][PIPE_JOBS];
} pipe_ctx;
typedef struct pipe_arg {
    pipe_ctx *p;
    int id;
} pipe_arg;

static void *pipe_thread(void *arg) {
    pipe_arg *pa = arg;
    pipe_ctx *p = pa->p;
    int one = 1;
    float a = 1.0f;
    lepton_arg args[2][4];
    lepton_launch L[2];
    for (int g = 0; g < p->ng; g++) {
        args[g][0] = LEPTON_ARG_VAL(one);
        args[g][1] = LEPTON_ARG_VAL(a);
        args[g][2] = LEPTON_ARG_BUF(p->ones[g]);
        args[g][3] = LEPTON_ARG_BUF(p->counter[g]);
        L[g] = (lepton_launch){p->m, "saxpy", {1}, {1}, 0, args[g], 4};
    }
    lepton_step steps[PIPE_JOBS][2];
    lepton_task *t[PIPE_JOBS] = {0};
    const int window = 8; /* jobs in flight per thread */
    for (int k = 0, done = 0; done < PIPE_JOBS;) {
        if (k < PIPE_JOBS && k - done < window) {
            int g = (k + pa->id) % p->ng;
            steps[k][0] = launch_step(&L[g]);
            steps[k][1] = read_step(p->counter[g], &p->value[pa->id][k], sizeof(float));
            lepton_job j = LEPTON_JOB_INIT;
            j.gpu = (uint32_t)g;
            j.steps = steps[k];
            j.step_count = 2;
            /* the lock makes "the order the calls return" observable */
            pthread_mutex_lock(&p->order[g]);
            p->status[pa->id][k] = lepton_submit(p->l, &j, &t[k]);
            p->seen_index[pa->id][k] = p->next[g]++;
            pthread_mutex_unlock(&p->order[g]);
            k++;
        } else {
            if (t[done]) {
                int rc = lepton_wait(t[done], 20000);
                if (p->status[pa->id][done] == LEPTON_OK) p->status[pa->id][done] = rc;
                lepton_task_free(t[done]);
            }
            done++;
        }
    }
    return NULL;
}

/* One round: PIPE_THREADS threads pipeline PIPE_JOBS jobs each on lease l; checks every job's
 * status, the per-GPU order and the counters' final values. */
static void pipeline_round(lepton_lease *l, int ng) {
    pipe_ctx *p = calloc(1, sizeof *p);
    p->l = l;
    p->ng = ng;
    p->m = load(l, "saxpy");
    float one = 1.0f, zero = 0.0f;
    for (int g = 0; g < ng; g++) {
        p->ones[g] = alloc(l, (uint32_t)g, sizeof(float));
        p->counter[g] = alloc(l, (uint32_t)g, sizeof(float));
        CHECK_RC(lepton_buffer_write(p->ones[g], 0, &one, sizeof one), LEPTON_OK);
        CHECK_RC(lepton_buffer_write(p->counter[g], 0, &zero, sizeof zero), LEPTON_OK);
        pthread_mutex_init(&p->order[g], NULL);
    }
    pthread_t th[PIPE_THREADS];
    pipe_arg pa[PIPE_THREADS];
    for (int i = 0; i < PIPE_THREADS; i++) {
        pa[i] = (pipe_arg){p, i};
        pthread_create(&th[i], NULL, pipe_thread, &pa[i]);
    }
    for (int i = 0; i < PIPE_THREADS; i++)
        pthread_join(th[i], NULL);
    int bad_status = 0, out_of_order = 0;
    for (int i = 0; i < PIPE_THREADS; i++)
        for (int k = 0; k < PIPE_JOBS; k++) {
            if (p->status[i][k] != LEPTON_OK) bad_status++;
            /* job number s on its GPU (from 0) must see the counter at s + 1 */
            else if (p->value[i][k] != (float)(p->seen_index[i][k] + 1)) {
                if (!out_of_order)
                    fprintf(stderr, "thread %d job %d: submit index %d on its GPU, read back %g\n", i, k,
                            p->seen_index[i][k], (double)p->value[i][k]);
                out_of_order++;
            }
        }
    CHECK_EQ_INT(bad_status, 0);
    CHECK_EQ_INT(out_of_order, 0);
    for (int g = 0; g < ng; g++) {
        float final = 0;
        CHECK_RC(lepton_buffer_read(p->counter[g], 0, &final, sizeof final), LEPTON_OK);
        CHECK_EQ_INT((int) final, p->next[g]);
        pthread_mutex_destroy(&p->order[g]);
    }
    CHECK_EQ_INT(p->next[0] + (ng > 1 ? p->next[1] : 0), PIPE_THREADS * PIPE_JOBS);
    for (int g = 0; g < ng; g++) {
        lepton_buffer_free(p->ones[g]);
        lepton_buffer_free(p->counter[g]);
    }
    lepton_module_free(p->m);
    free(p);
}

static void pipeline_rounds(int rounds) {
    int ng = A1.gpus >= 2 ? 2 : 1; /* a real host may have one GPU */
    lepton_client *c = client_for(T_TEN);
    lepton_lease *l = open_lease(c, (uint32_t)ng, NULL, 0);
    if (!l) return lepton_client_close(c);
    for (int r = 0; r < rounds && !check_failures; r++)
        pipeline_round(l, ng);
    CHECK_RC(lepton_lease_close(l), LEPTON_OK);
    lepton_client_close(c);
}

static void case_pipeline(void) { pipeline_rounds(1); }

/* The driver role changing hands as fast as it can: the pipeline again and again, with corked
 * jobs handed to the I/O thread at once (CTest sets LEPTON_DP_CORK_US=0). A waiter asking the I/O
 * thread for the role while a corked job was due once made that thread take the role and give it
 * up in a loop, holding the lease's lock, and every thread of the lease hung. */
static void case_role_churn(void) { pipeline_rounds(25); }

/* ---- a deep pipeline from one thread: small jobs travel in batches ---------------------------- */
/* Job k writes k into `x`, adds it to `counter` (saxpy with n = 1, a = 1) and reads the counter
 * back, so each result shows that every earlier job ran once, in order. Every 50th job also moves
 * 256 KiB (too large to be batched) through `big`; job 101 asks for more shared memory than a
 * block may have, so it fails alone (a non-sticky CUDA error) while the jobs batched with it
 * succeed. The library's debug log shows the batches. */
#define BATCH_JOBS 400
#define BATCH_WINDOW 64
#define BATCH_BIG (256u << 10)
#define BATCH_BAD 101
typedef struct batch_log {
    pthread_mutex_t mu;
    int batches, max_jobs, batched_jobs;
} batch_log;

static void batch_log_fn(int level, const char *msg, void *user) {
    batch_log *bl = user;
    const char *p = strstr(msg, "/v1/jobs/batch (");
    if (level != LEPTON_LOG_DEBUG || !p) return;
    const char *q = strstr(p, ", ");
    int n = q ? atoi(q + 2) : 0;
    pthread_mutex_lock(&bl->mu);
    bl->batches++;
    bl->batched_jobs += n;
    if (n > bl->max_jobs) bl->max_jobs = n;
    pthread_mutex_unlock(&bl->mu);
}

static void case_batch(void) {
    batch_log bl = {PTHREAD_MUTEX_INITIALIZER, 0, 0, 0};
    lepton_client_options o = LEPTON_CLIENT_OPTIONS_INIT;
    o.endpoint = B.url;
    o.token = T_TEN;
    o.timeout_ms = 10000;
    o.log = batch_log_fn;
    o.log_user = &bl;
    lepton_client *c = NULL;
    CHECK_RC(lepton_client_open(&c, &o), LEPTON_OK);
    if (!c) return;
    lepton_lease *l = open_lease(c, 1, NULL, 0);
    if (!l) return lepton_client_close(c);
    lepton_module *m = load(l, "saxpy");
    lepton_buffer *x = alloc(l, 0, sizeof(float)), *counter = alloc(l, 0, sizeof(float)),
                  *big = alloc(l, 0, BATCH_BIG);
    float zero = 0;
    CHECK_RC(lepton_buffer_write(counter, 0, &zero, sizeof zero), LEPTON_OK);
    static float xs[BATCH_JOBS], got[BATCH_JOBS];
    static lepton_step steps[BATCH_JOBS][5];
    static lepton_task *t[BATCH_JOBS];
    static int rcs[BATCH_JOBS];
    unsigned char *big_out = malloc(BATCH_BIG), *big_in = malloc(BATCH_BIG);
    for (size_t i = 0; i < BATCH_BIG; i++)
        big_out[i] = (unsigned char)(i * 7 + 3);
    int one = 1;
    float a = 1.0f;
    lepton_arg args[4] = {LEPTON_ARG_VAL(one), LEPTON_ARG_VAL(a), LEPTON_ARG_BUF(x), LEPTON_ARG_BUF(counter)};
    lepton_launch L = {m, "saxpy", {1}, {1}, 0, args, 4};
    lepton_launch Lbad = L;
    Lbad.shared_bytes = 1u << 20;
    for (int k = 0, done = 0; done < BATCH_JOBS;) {
        if (k < BATCH_JOBS && k - done < BATCH_WINDOW) {
            xs[k] = (float)k;
            size_t n = 0;
            steps[k][n++] = write_step(x, &xs[k], sizeof(float));
            steps[k][n++] = launch_step(k == BATCH_BAD ? &Lbad : &L);
            steps[k][n++] = read_step(counter, &got[k], sizeof(float));
            if (k % 50 == 49) {
                steps[k][n++] = write_step(big, big_out, BATCH_BIG);
                steps[k][n++] = read_step(big, big_in, BATCH_BIG);
            }
            lepton_job j = LEPTON_JOB_INIT;
            j.steps = steps[k];
            j.step_count = n;
            rcs[k] = lepton_submit(l, &j, &t[k]);
            k++;
        } else {
            if (rcs[done] == LEPTON_OK) {
                rcs[done] = lepton_wait(t[done], 20000);
                if (done == BATCH_BAD) CHECK(strstr(lepton_last_error(), "CUDA_ERROR_INVALID_VALUE") != NULL);
            }
            lepton_task_free(t[done]);
            done++;
        }
    }
    int bad = 0;
    double sum = 0;
    for (int k = 0; k < BATCH_JOBS; k++) {
        if (k == BATCH_BAD) {
            CHECK_RC(rcs[k], LEPTON_ECUDA);
            continue;
        }
        sum += k;
        if (rcs[k] != LEPTON_OK || got[k] != (float)sum) {
            if (!bad)
                fprintf(stderr, "job %d: status %d, counter %g, expected %g\n", k, rcs[k], (double)got[k],
                        sum);
            bad++;
        }
    }
    CHECK_EQ_INT(bad, 0);
    CHECK(memcmp(big_in, big_out, BATCH_BIG) == 0);
    fprintf(stderr, "batch: %d batched requests, %d jobs in them, the largest %d jobs\n", bl.batches,
            bl.batched_jobs, bl.max_jobs);
    if (stream_on()) {
        CHECK_EQ_INT(bl.batches, 0); /* on the stream every job is one frame, pipelined */
    } else {
        CHECK(bl.batches > 0);
        CHECK(bl.max_jobs >= 2);
    }
    free(big_out);
    free(big_in);
    lepton_buffer_free(big);
    lepton_buffer_free(x);
    lepton_buffer_free(counter);
    lepton_module_free(m);
    CHECK_RC(lepton_lease_close(l), LEPTON_OK);
    lepton_client_close(c);
}

/* ---- a sticky CUDA error: the GPU's worker is replaced, the lease goes on -------------------- */
static void saxpy_works(lepton_lease *l, lepton_module *m, uint32_t gpu, const char *what) {
    const int n = 512;
    float x[512], y[512], out[512];
    for (int i = 0; i < n; i++)
        x[i] = (float)i, y[i] = 2.0f;
    lepton_buffer *dx = alloc(l, gpu, sizeof x), *dy = alloc(l, gpu, sizeof y);
    float a = 2.0f;
    int nn = n;
    lepton_arg args[] = {LEPTON_ARG_VAL(nn), LEPTON_ARG_VAL(a), LEPTON_ARG_BUF(dx), LEPTON_ARG_BUF(dy)};
    lepton_launch L = {m, "saxpy", {2}, {256}, 0, args, 4};
    lepton_step s[] = {write_step(dx, x, sizeof x), write_step(dy, y, sizeof y), launch_step(&L),
                       read_step(dy, out, sizeof out)};
    int rc = run_job(l, gpu, s, 4);
    if (rc != LEPTON_OK)
        fprintf(stderr, "saxpy %s: %s: %s\n", what, lepton_status_name(rc), lepton_last_error());
    CHECK_EQ_INT(rc, LEPTON_OK);
    int bad = 0;
    for (int i = 0; i < n; i++)
        bad += out[i] != 2.0f * (float)i + 2.0f;
    CHECK_EQ_INT(bad, 0);
    lepton_buffer_free(dx);
    lepton_buffer_free(dy);
}

static void case_fault(void) {
    int two = A1.gpus >= 2; /* with one GPU, the checks of the other GPU are left out */
    t_lease tl;
    if (t_lease_open(&tl, two ? 2 : 1, 0, 1)) return;
    lepton_lease *l = tl.l;
    a_agent *ag = tl.ag;
    int slot0 = tl.slot0;
    pid_t old = tl.worker0;
    lepton_module *sm = load(l, "saxpy"), *om = load(l, "oob_write");
    int pattern[256];
    for (int i = 0; i < 256; i++)
        pattern[i] = i * 7 + 1;
    lepton_buffer *b0 = alloc(l, 0, sizeof pattern), *b1 = two ? alloc(l, 1, sizeof pattern) : NULL;
    CHECK_RC(lepton_buffer_write(b0, 0, pattern, sizeof pattern), LEPTON_OK);
    if (two) CHECK_RC(lepton_buffer_write(b1, 0, pattern, sizeof pattern), LEPTON_OK);

    int n = 4;
    long long far = 1LL << 40;
    lepton_arg fa[] = {LEPTON_ARG_BUF(b0), LEPTON_ARG_VAL(n), LEPTON_ARG_VAL(far)};
    lepton_launch F = {om, "oob_write", {1}, {32}, 0, fa, 3};
    lepton_step fs = launch_step(&F);
    lepton_job j = LEPTON_JOB_INIT;
    j.steps = &fs;
    j.step_count = 1;
    lepton_task *t = NULL;
    CHECK_RC(lepton_submit(l, &j, &t), LEPTON_OK);
    int rc = lepton_wait(t, 20000);
    CHECK_EQ_INT(rc, LEPTON_ECUDA);
    CHECK(strstr(lepton_last_error(), "CUDA_ERROR_ILLEGAL_ADDRESS") != NULL);
    lepton_task_info ti = LEPTON_TASK_INFO_INIT;
    CHECK_RC(lepton_task_get_info(t, &ti), LEPTON_OK);
    CHECK_EQ_INT(ti.state, LEPTON_TASK_FAILED);
    CHECK_EQ_INT(ti.status, LEPTON_ECUDA);
    CHECK(strstr(ti.error, "CUDA_ERROR_ILLEGAL_ADDRESS") != NULL);
    if (!strstr(ti.error, "CUDA_ERROR_ILLEGAL_ADDRESS")) fprintf(stderr, "task error: %s\n", ti.error);
    lepton_task_free(t);

    /* the lease survives; its other GPU keeps its buffer and works */
    CHECK_EQ_INT(info_of(l).state, LEPTON_LEASE_ACTIVE);
    int back[256] = {0};
    if (two) {
        CHECK_RC(lepton_buffer_read(b1, 0, back, sizeof back), LEPTON_OK);
        CHECK(!memcmp(back, pattern, sizeof back));
        saxpy_works(l, sm, 1, "on the other GPU");
    }

    /* the agent replaces GPU 0's worker */
    pid_t fresh = a_wait_worker(ag, slot0, old, 10000);
    CHECK(fresh > 0 && fresh != old);
    a_slot s[A_MAX_GPUS];
    CHECK(a_agent_slots(ag, s, A_MAX_GPUS) > slot0);
    CHECK(s[slot0].restarts >= 1);
    /* old buffers there are lost; modules work without being loaded again */
    CHECK_RC(lepton_buffer_read(b0, 0, back, sizeof back), LEPTON_ENODELOST);
    CHECK_RC(lepton_buffer_write(b0, 0, pattern, sizeof pattern), LEPTON_ENODELOST);
    saxpy_works(l, sm, 0, "on the replaced worker");
    if (two) {
        saxpy_works(l, sm, 1, "on the other GPU, again");
        CHECK_RC(lepton_buffer_read(b1, 0, back, sizeof back), LEPTON_OK);
        CHECK(!memcmp(back, pattern, sizeof back));
    }
    CHECK_EQ_INT(info_of(l).state, LEPTON_LEASE_ACTIVE);
    lepton_buffer_free(b0);
    lepton_buffer_free(b1);
    lepton_module_free(sm);
    lepton_module_free(om);
    t_lease_close(&tl);
}

/* ---- right after a sticky fault: the next calls wait for the fresh worker, then work -------- */
static void case_fault_restart(void) {
    t_lease tl;
    if (t_lease_open(&tl, 1, 0, 1)) return;
    lepton_lease *l = tl.l;
    a_agent *ag = tl.ag;
    int slot0 = tl.slot0;
    pid_t old = tl.worker0;
    lepton_module *sm = load(l, "saxpy"), *om = load(l, "oob_write");
    int pattern[256];
    for (int i = 0; i < 256; i++)
        pattern[i] = i * 3 + 1;
    lepton_buffer *b0 = alloc(l, 0, sizeof pattern);
    CHECK_RC(lepton_buffer_write(b0, 0, pattern, sizeof pattern), LEPTON_OK);

    /* the faulting job, and a job submitted right behind it (it waits there for its turn) */
    int n = 4;
    long long far = 1LL << 40;
    lepton_arg fa[] = {LEPTON_ARG_BUF(b0), LEPTON_ARG_VAL(n), LEPTON_ARG_VAL(far)};
    lepton_launch F = {om, "oob_write", {1}, {32}, 0, fa, 3};
    lepton_step fs = launch_step(&F);
    lepton_job j = LEPTON_JOB_INIT;
    j.steps = &fs;
    j.step_count = 1;
    lepton_task *t = NULL, *behind = NULL;
    CHECK_RC(lepton_submit(l, &j, &t), LEPTON_OK);
    lepton_step ws = write_step(b0, pattern, sizeof pattern);
    lepton_job jb = LEPTON_JOB_INIT;
    jb.steps = &ws;
    jb.step_count = 1;
    CHECK_RC(lepton_submit(l, &jb, &behind), LEPTON_OK);
    /* only the job that faulted reports the CUDA error */
    CHECK_RC(lepton_wait(t, 20000), LEPTON_ECUDA);
    CHECK(strstr(lepton_last_error(), "CUDA_ERROR_ILLEGAL_ADDRESS") != NULL);
    lepton_task_free(t);

    /* at once, without waiting for the agent: a new buffer and a saxpy on the same GPU work (they
     * wait for the fresh worker) */
    lepton_buffer *nb = NULL;
    int rc = lepton_buffer_alloc(l, 0, 4096, &nb);
    if (rc != LEPTON_OK)
        fprintf(stderr, "alloc right after the fault: %s: %s\n", lepton_status_name(rc), lepton_last_error());
    CHECK_EQ_INT(rc, LEPTON_OK);
    if (nb) {
        CHECK_RC(lepton_buffer_write(nb, 0, pattern, sizeof pattern), LEPTON_OK);
        int back[256] = {0};
        CHECK_RC(lepton_buffer_read(nb, 0, back, sizeof back), LEPTON_OK);
        CHECK(!memcmp(back, pattern, sizeof back));
        lepton_buffer_free(nb);
    }
    saxpy_works(l, sm, 0, "right after the fault");
    pid_t fresh = a_wait_worker(ag, slot0, old, 10000);
    CHECK(fresh > 0 && fresh != old);

    /* the job behind the fault ran on the fresh worker: its buffer was lost, and it says so */
    char lost[200];
    uint64_t bid = 0;
    rc = lepton_wait(behind, 20000);
    CHECK_EQ_INT(rc, LEPTON_ENODELOST);
    lepton_task_info ti = LEPTON_TASK_INFO_INIT;
    CHECK_RC(lepton_task_get_info(behind, &ti), LEPTON_OK);
    CHECK(sscanf(strstr(ti.error, "buffer ") ? strstr(ti.error, "buffer ") : "", "buffer %" SCNu64, &bid) ==
          1);
    snprintf(lost, sizeof lost,
             "buffer %" PRIu64 " was lost when the worker restarted after CUDA_ERROR_ILLEGAL_ADDRESS", bid);
    CHECK(strstr(ti.error, lost) != NULL);
    if (!strstr(ti.error, lost)) fprintf(stderr, "job behind the fault: %s\n", ti.error);
    lepton_task_free(behind);
    /* so does every call on the old buffer */
    int back[256];
    CHECK_RC(lepton_buffer_read(b0, 0, back, sizeof back), LEPTON_ENODELOST);
    CHECK(strstr(lepton_last_error(), lost) != NULL);
    if (!strstr(lepton_last_error(), lost))
        fprintf(stderr, "read of the old buffer: %s\n", lepton_last_error());
    CHECK_RC(lepton_buffer_write(b0, 0, pattern, sizeof pattern), LEPTON_ENODELOST);
    CHECK_EQ_INT(info_of(l).state, LEPTON_LEASE_ACTIVE);
    lepton_buffer_free(b0);
    lepton_module_free(sm);
    lepton_module_free(om);
    t_lease_close(&tl);
}

/* ---- more bytes of jobs in flight than a worker holds (256 MiB by default) ------------------ */
/* The value of a metric in a worker's GET /metrics, or -1. */
static long long worker_metric(const char *address, const char *name) {
    h_broker wb = B; /* h_http talks to wb.url: point it at the worker */
    snprintf(wb.url, sizeof wb.url, "%s", address);
    h_resp r;
    long long v = -1;
    char key[128];
    snprintf(key, sizeof key, "\n%s{", name);
    if (h_http(&wb, "GET", "/metrics", NULL, NULL, NULL, 0, &r) == 0 && r.status == 200 && r.body) {
        const char *p = strstr(r.body, key);
        if (p && (p = strchr(p, '}'))) v = strtoll(p + 1, NULL, 10);
    }
    h_resp_free(&r);
    return v;
}

static void case_queue_bound(void) {
    t_lease tl;
    if (t_lease_open(&tl, 1, 0, 0)) return;
    lepton_lease *l = tl.l;
    const dp_view v = tl.v;
    /* six jobs of 96 MiB each, on up to 8 connections at once: they cannot all wait in the worker */
    enum { K = 6 };
    const size_t N = 96u << 20;
    unsigned char *src = malloc(N), *dst[K];
    for (size_t i = 0; i < N; i++)
        src[i] = (unsigned char)(i * 13 + (i >> 20));
    lepton_buffer *b = alloc(l, 0, N);
    lepton_task *t[K];
    for (int k = 0; k < K; k++) {
        dst[k] = malloc(4096);
        lepton_step s[2] = {write_step(b, src, N), read_step(b, dst[k], 4096)};
        lepton_job j = LEPTON_JOB_INIT;
        j.steps = s;
        j.step_count = 2;
        CHECK_RC(lepton_submit(l, &j, &t[k]), LEPTON_OK);
    }
    for (int k = 0; k < K; k++) {
        CHECK_RC(lepton_wait(t[k], 60000), LEPTON_OK);
        CHECK(!memcmp(dst[k], src, 4096));
        lepton_task_free(t[k]);
        free(dst[k]);
    }
    long long refused = worker_metric(v.worker[0], "lepton_worker_queue_full_total");
    printf("queue_bound: %d jobs of %zu MiB: %lld refused with 503 queue_full and sent again\n", K, N >> 20,
           refused);
    CHECK(refused >= 0);
    CHECK_EQ_INT(worker_metric(v.worker[0], "lepton_worker_queued_bytes"), 0);
    CHECK_EQ_INT(worker_metric(v.worker[0], "lepton_worker_queue_limit_bytes"), 256ll << 20);
    lepton_buffer_free(b);
    free(src);
    t_lease_close(&tl);
}

/* ---- kill -9 of a worker in the middle of a job ------------------------------------------- */
typedef struct spin_job {
    lepton_buffer *flag, *out;
    int spin;
    lepton_arg args[3];
    lepton_launch L;
    lepton_step s;
    lepton_task *t;
} spin_job;

/* Submits a kernel that spins until its flag (0) changes: it runs until its worker ends. */
static int spin_submit(lepton_lease *l, lepton_module *m, uint32_t gpu, spin_job *sj) {
    memset(sj, 0, sizeof *sj);
    int zero[32] = {0};
    sj->flag = alloc(l, gpu, sizeof zero);
    sj->out = alloc(l, gpu, sizeof zero);
    CHECK_RC(lepton_buffer_write(sj->flag, 0, zero, sizeof zero), LEPTON_OK);
    sj->spin = 1;
    sj->args[0] = LEPTON_ARG_BUF(sj->flag);
    sj->args[1] = LEPTON_ARG_VAL(sj->spin);
    sj->args[2] = LEPTON_ARG_BUF(sj->out);
    sj->L = (lepton_launch){m, "watchdog_spin", {1}, {1}, 0, sj->args, 3};
    sj->s = launch_step(&sj->L);
    lepton_job j = LEPTON_JOB_INIT;
    j.gpu = gpu;
    j.steps = &sj->s;
    j.step_count = 1;
    int rc = lepton_submit(l, &j, &sj->t);
    if (rc != LEPTON_OK) return rc;
    /* it is running once a short wait times out */
    tc_sleep_ms(300);
    return lepton_wait(sj->t, 0) == LEPTON_ETIMEDOUT ? LEPTON_OK : -1;
}

static void case_kill_worker(void) {
    int two = A1.gpus >= 2; /* with one GPU, the checks of the other GPU are left out */
    t_lease tl;
    if (t_lease_open(&tl, two ? 2 : 1, 0, 1)) return;
    lepton_lease *l = tl.l;
    a_agent *ag = tl.ag;
    int slot0 = tl.slot0;
    lepton_module *sm = load(l, "saxpy"), *wm = load(l, "watchdog_spin");
    int pattern[64];
    for (int i = 0; i < 64; i++)
        pattern[i] = 1000 - i;
    lepton_buffer *b0 = alloc(l, 0, sizeof pattern), *b1 = two ? alloc(l, 1, sizeof pattern) : NULL;
    CHECK_RC(lepton_buffer_write(b0, 0, pattern, sizeof pattern), LEPTON_OK);
    if (two) CHECK_RC(lepton_buffer_write(b1, 0, pattern, sizeof pattern), LEPTON_OK);
    pid_t victim = tl.worker0;
    CHECK(victim > 0);
    /* the agent's word for it, and the kernel's: the process listening on the worker's port */
    CHECK_EQ_INT(a_port_owner(ag->port + 1 + slot0), victim);
    spin_job sj;
    CHECK_RC(spin_submit(l, wm, 0, &sj), LEPTON_OK);
    if (victim > 0) kill(victim, SIGKILL);
    double t0 = tc_now_ms();
    int rc = lepton_wait(sj.t, 10000);
    double took = tc_now_ms() - t0;
    CHECK_EQ_INT(rc, LEPTON_ENODELOST);
    if (took >= 3000) fprintf(stderr, "the waiting client learned of the lost worker after %.0f ms\n", took);
    CHECK(took < 3000);
    lepton_task_free(sj.t);

    pid_t fresh = a_wait_worker(ag, slot0, victim, 10000);
    CHECK(fresh > 0 && fresh != victim);
    CHECK(!a_worker_exists(victim)); /* reaped by the agent */
    CHECK_EQ_INT(info_of(l).state, LEPTON_LEASE_ACTIVE);
    int back[64] = {0};
    CHECK_RC(lepton_buffer_read(b0, 0, back, sizeof back), LEPTON_ENODELOST);
    CHECK_RC(lepton_buffer_read(sj.flag, 0, back, 4), LEPTON_ENODELOST);
    if (two) {
        CHECK_RC(lepton_buffer_read(b1, 0, back, sizeof back), LEPTON_OK);
        CHECK(!memcmp(back, pattern, sizeof back));
    }
    /* the first job on the replacement runs at once (the lost job's seq is not awaited) */
    double t1 = tc_now_ms();
    saxpy_works(l, sm, 0, "on the replacement worker");
    double first = tc_now_ms() - t1;
    if (first >= 2000) fprintf(stderr, "the first job on the replacement worker took %.0f ms\n", first);
    CHECK(first < 2000);
    if (two) saxpy_works(l, sm, 1, "on the untouched GPU");
    lepton_buffer_free(sj.flag);
    lepton_buffer_free(sj.out);
    lepton_buffer_free(b0);
    lepton_buffer_free(b1);
    lepton_module_free(sm);
    lepton_module_free(wm);
    t_lease_close(&tl);
}

/* ---- kill -9 of an agent: the node is lost, its leases fail, billing stops ------------------ */
static void case_kill_agent(void) {
    /* with a real driver there is one agent: the checks of the other node are left out */
    uint32_t ng = A1.gpus >= 2 ? 2 : 1;
    lepton_client *c = client_for(T_TEN);
    lepton_lease *l = open_lease(c, ng, "Emu n1", 0), *other = have_a2 ? open_lease(c, 2, "Emu n2", 0) : NULL;
    if (!l || (have_a2 && !other)) goto out;
    lepton_lease_info li = info_of(l);
    CHECK(!strcmp(li.node, A1.name));
    lepton_module *m = load(l, "saxpy"), *mo = other ? load(other, "saxpy") : NULL;
    saxpy_works(l, m, 0, "before the agent dies");
    lepton_buffer *b = alloc(l, ng - 1, 64);
    a_slot s[A_MAX_GPUS];
    int n = a_agent_slots(&A1, s, A_MAX_GPUS);
    pid_t workers[A_MAX_GPUS] = {0};
    for (int i = 0; i < n; i++)
        workers[i] = s[i].worker_pid;

    a_agent_kill(&A1);
    /* its workers end with it (parent-death signal) and their ports close */
    double until = tc_now_ms() + 8000;
    int alive = 1;
    while (alive && tc_now_ms() < until) {
        a_reap_orphans();
        alive = 0;
        for (int i = 0; i < n; i++)
            alive |= a_worker_exists(workers[i]) || tc_port_open(A1.port + 1 + i);
        if (alive) tc_sleep_ms(50);
    }
    CHECK(!alive);
    /* the broker marks the node lost (--node-timeout-ms 1500) and fails its lease */
    char st[32] = "";
    until = tc_now_ms() + 8000;
    while (strcmp(lease_state(T_TEN, li.id, st, sizeof st), "failed") && tc_now_ms() < until)
        tc_sleep_ms(100);
    CHECK(!strcmp(st, "failed"));
    h_resp r;
    CHECK(h_http(&B, "GET", "/v1/nodes", T_TEN, NULL, NULL, 0, &r) == 0);
    size_t i;
    json_t *nd;
    int lost = 0;
    json_array_foreach(json_object_get(r.json, "nodes"), i, nd) {
        if (!strcmp(json_string_value(json_object_get(nd, "name")) ?: "", A1.name))
            lost = !strcmp(json_string_value(json_object_get(nd, "state")) ?: "", "lost");
    }
    CHECK(lost);
    h_resp_free(&r);

    lepton_lease_info after = info_of(l);
    CHECK_EQ_INT(after.state, LEPTON_LEASE_FAILED);
    int x = 0;
    int rc = lepton_buffer_read(b, 0, &x, sizeof x);
    CHECK(rc == LEPTON_ENODELOST || rc == LEPTON_EEXPIRED);
    if (rc != LEPTON_ENODELOST)
        fprintf(stderr, "read on the lost node's lease: %s (want LEPTON_ENODELOST)\n",
                lepton_status_name(rc));
    lepton_buffer *nb = NULL;
    CHECK(lepton_buffer_alloc(l, 0, 64, &nb) != LEPTON_OK);
    /* the other node is not disturbed */
    double other_cost = 0;
    if (other) {
        saxpy_works(other, mo, 1, "on the other node");
        other_cost = info_of(other).cost;
    }
    /* nothing is billed after the end: real time and the broker's clock move on */
    tc_sleep_ms(1200);
    CHECK(info_of(l).cost == after.cost);
    CHECK(h_advance(&B, T_TEN, 3600 * 1000LL) == 0);
    lepton_lease_info later = info_of(l);
    CHECK(later.cost == after.cost);
    CHECK(after.cost > 0);
    if (other) CHECK(info_of(other).cost >= other_cost);
    h_resp u;
    CHECK(h_http(&B, "GET", "/v1/usage", T_TEN, NULL, NULL, 0, &u) == 0);
    json_t *le;
    int listed = 0;
    json_array_foreach(json_object_get(u.json, "leases"), i, le) {
        if (strcmp(json_string_value(json_object_get(le, "lease_id")) ?: "", li.id)) continue;
        listed = 1;
        CHECK(fabs(json_number_value(json_object_get(le, "cost")) - after.cost) < 1e-9);
    }
    CHECK(listed);
    h_resp_free(&u);
    lepton_buffer_free(b);
    lepton_module_free(m);
    lepton_module_free(mo);
out:
    if (l) lepton_lease_close(l); /* already failed: its status is not the point */
    if (other) lepton_lease_close(other);
    lepton_client_close(c);
}

/* ---- lease expiry and close while a job runs ------------------------------------------------ */
static void check_workers_gone(a_agent *ag, const pid_t *pids, const int *slots, int n) {
    double until = tc_now_ms() + 9000;
    int alive = 1;
    while (alive && tc_now_ms() < until) {
        alive = 0;
        /* ended and reaped by the agent, and the port closed */
        for (int i = 0; i < n; i++)
            alive |= a_worker_exists(pids[i]) || tc_port_open(ag->port + 1 + slots[i]);
        if (alive) tc_sleep_ms(50);
    }
    CHECK(!alive);
    a_slot s[A_MAX_GPUS];
    int ns = a_agent_slots(ag, s, A_MAX_GPUS);
    for (int i = 0; i < n; i++) {
        CHECK(slots[i] < ns);
        if (slots[i] < ns) {
            CHECK_EQ_INT(s[slots[i]].worker_pid, 0);
            CHECK(!strcmp(s[slots[i]].state, "free"));
        }
    }
}

static void end_while_running(int by_close) {
    t_lease tl;
    if (t_lease_open(&tl, 1, by_close ? 600 : 3, 1)) return;
    lepton_lease *l = tl.l;
    const lepton_lease_info li = tl.li;
    CHECK(tl.worker0 > 0);
    lepton_module *wm = load(l, "watchdog_spin");
    spin_job sj;
    CHECK_RC(spin_submit(l, wm, 0, &sj), LEPTON_OK);
    double t0 = tc_now_ms();
    if (by_close) {
        char path[256];
        snprintf(path, sizeof path, "/v1/leases/%s/close", li.id);
        h_resp r;
        CHECK(h_http(&B, "POST", path, T_TEN, NULL, "{}", 2, &r) == 0);
        CHECK_EQ_INT(r.status, 200);
        h_resp_free(&r);
    }
    int rc = lepton_wait(sj.t, 20000);
    double took = tc_now_ms() - t0;
    CHECK_EQ_INT(rc, LEPTON_EEXPIRED);
    /* promptly: a close at once, an expiry within a few seconds of the TTL (3 s) */
    if (took >= (by_close ? 3000 : 6000))
        fprintf(stderr, "the waiting client got %s after %.0f ms\n", lepton_status_name(rc), took);
    CHECK(took < (by_close ? 3000 : 6000));
    lepton_task_free(sj.t);
    check_workers_gone(tl.ag, &tl.worker0, &tl.slot0, 1);
    char st[32];
    CHECK(!strcmp(lease_state(T_TEN, li.id, st, sizeof st), by_close ? "closed" : "expired"));
    CHECK_EQ_INT(info_of(l).state, by_close ? LEPTON_LEASE_CLOSED : LEPTON_LEASE_EXPIRED);
    /* every call on the ended lease says so */
    lepton_buffer *nb = NULL;
    CHECK_RC(lepton_buffer_alloc(l, 0, 64, &nb), LEPTON_EEXPIRED);
    int x;
    CHECK_RC(lepton_buffer_read(sj.flag, 0, &x, sizeof x), LEPTON_EEXPIRED);
    lepton_buffer_free(sj.flag);
    lepton_buffer_free(sj.out);
    lepton_module_free(wm);
    int crc = lepton_lease_close(l);
    CHECK(crc == LEPTON_OK || crc == LEPTON_EEXPIRED);
    lepton_client_close(tl.c);
}

static void case_expiry(void) { end_while_running(0); }

static void case_close(void) {
    end_while_running(1);
    /* lepton_lease_close itself with a job still running (its task handle freed first) */
    t_lease tl;
    if (t_lease_open(&tl, 1, 0, 1)) return;
    lepton_lease *l = tl.l;
    lepton_module *wm = load(l, "watchdog_spin");
    spin_job sj;
    CHECK_RC(spin_submit(l, wm, 0, &sj), LEPTON_OK);
    lepton_task_free(sj.t);
    double t0 = tc_now_ms();
    CHECK_RC(lepton_lease_close(l), LEPTON_OK);
    double took = tc_now_ms() - t0;
    CHECK(took < 5000);
    check_workers_gone(tl.ag, &tl.worker0, &tl.slot0, 1);
    char st[32];
    CHECK(!strcmp(lease_state(T_TEN, tl.li.id, st, sizeof st), "closed"));
    lepton_client_close(tl.c);
}

/* ---- the GPUs of a lease closed while its jobs run are at once usable by the next lease ------ */
static void case_reuse(void) {
    if (need_gpus(2)) exit(SKIP);
    lepton_client *c = client_for(T_TEN);
    lepton_lease *l = open_lease(c, 2, "Emu n1", 0);
    if (!l) return lepton_client_close(c);
    lepton_module *wm = load(l, "watchdog_spin");
    spin_job sj[2];
    for (uint32_t g = 0; g < 2; g++) {
        CHECK_RC(spin_submit(l, wm, g, &sj[g]), LEPTON_OK);
        lepton_task_free(sj[g].t);
    }
    CHECK_RC(lepton_lease_close(l), LEPTON_OK);
    /* the same two GPUs for the next lease, right away */
    double t0 = tc_now_ms();
    lepton_lease *next = open_lease(c, 2, "Emu n1", 0);
    if (next) {
        CHECK(!strcmp(info_of(next).node, A1.name));
        lepton_module *m = load(next, "saxpy");
        saxpy_works(next, m, 0, "on a GPU just released");
        saxpy_works(next, m, 1, "on a GPU just released");
        double took = tc_now_ms() - t0;
        if (took >= 3000) fprintf(stderr, "the next lease's first jobs took %.0f ms\n", took);
        CHECK(took < 3000);
        CHECK_EQ_INT(info_of(next).state, LEPTON_LEASE_ACTIVE);
        lepton_module_free(m);
        CHECK_RC(lepton_lease_close(next), LEPTON_OK);
    }
    lepton_client_close(c);
}

/* ---- malformed requests, wrong tokens, oversized bodies, argument mismatches ---------------- */
static long raw_status(const char *base, const char *method, const char *path, const char *token,
                       const void *body, size_t len, const char *ct, char *code, size_t code_size) {
    h_resp r;
    long st = -1;
    if (a_http(base, method, path, token, ct, body, len, &r) == 0) st = r.status;
    if (code) snprintf(code, code_size, "%s", h_err_code(&r));
    /* a clear error: {"error": {"code", "message"}} with a message */
    const char *msg = json_string_value(json_object_get(json_object_get(r.json, "error"), "message"));
    if (st >= 400 && (!msg || !*msg || !h_err_code(&r)[0])) {
        fprintf(stderr, "%s %s → %ld without an error body: %s\n", method, path, st, r.body ? r.body : "");
        check_failures++;
    }
    h_resp_free(&r);
    return st;
}

static void case_malformed(void) {
    int two = A1.gpus >= 2; /* with one GPU, the cross-GPU checks are left out */
    lepton_client *c = client_for(T_TEN);
    lepton_lease *l = open_lease(c, two ? 2 : 1, NULL, 0);
    if (!l) return lepton_client_close(c);
    lepton_lease_info li = info_of(l);
    a_agent *ag = agent_named(li.node);
    dp_view v;
    CHECK(dp_of(T_TEN, li.id, &v) == 0);
    if (!ag) goto out;
    int slot0 = slot_of(ag, &v, 0);
    pid_t pid0 = a_wait_worker(ag, slot0, 0, 5000);
    lepton_module *sm = load(l, "saxpy");
    saxpy_works(l, sm, 0, "before the bad requests");
    const char *w = v.worker[0], *tok = v.token;
    char code[64];

    /* tokens */
    CHECK_EQ_INT(raw_status(w, "GET", "/v1/info", NULL, NULL, 0, NULL, code, sizeof code), 401);
    CHECK_EQ_INT(raw_status(w, "GET", "/v1/info", "not-a-token", NULL, 0, NULL, NULL, 0), 401);
    CHECK_EQ_INT(raw_status(w, "GET", "/v1/info", "abc.def", NULL, 0, NULL, NULL, 0), 401);
    char tampered[2100];
    snprintf(tampered, sizeof tampered, "%s", tok);
    size_t tl = strlen(tampered);
    if (tl > 3) tampered[tl - 2] = tampered[tl - 2] == 'A' ? 'B' : 'A';
    CHECK_EQ_INT(raw_status(w, "GET", "/v1/info", tampered, NULL, 0, NULL, NULL, 0), 401);
    CHECK_EQ_INT(raw_status(w, "GET", "/v1/info", tok, NULL, 0, NULL, NULL, 0), 200);

    /* malformed bodies and paths */
    CHECK_EQ_INT(raw_status(w, "POST", "/v1/jobs", tok, "garbage", 7, "application/octet-stream", NULL, 0),
                 400);
    unsigned char shortjob[8] = {200, 0, 0, 0, '{', '}', 0, 0}; /* says 200 bytes of JSON, has 4 */
    CHECK_EQ_INT(raw_status(w, "POST", "/v1/jobs", tok, shortjob, sizeof shortjob, "application/octet-stream",
                            NULL, 0),
                 400);
    /* a descriptor without a valid seq (a valid seq would be remembered and clash with the client's) */
    static const char *no_seq[] = {"{\"steps\": []}", "{\"seq\": 0, \"steps\": []}", "{\"seq\": \"1\"}",
                                   "[1, 2]"};
    for (size_t k = 0; k < sizeof no_seq / sizeof no_seq[0]; k++) {
        unsigned char job[64];
        uint32_t jl = (uint32_t)strlen(no_seq[k]);
        memcpy(job, &jl, 4); /* little-endian hosts only, like the wire */
        memcpy(job + 4, no_seq[k], jl);
        CHECK_EQ_INT(raw_status(w, "POST", "/v1/jobs", tok, job, 4 + jl, "application/octet-stream", NULL, 0),
                     400);
    }
    CHECK_EQ_INT(raw_status(w, "POST", "/v1/buffers", tok, "{\"size\": -1}", 12, NULL, NULL, 0), 400);
    CHECK_EQ_INT(raw_status(w, "POST", "/v1/buffers", tok, "{\"size\": \"x\"}", 13, NULL, NULL, 0), 400);
    CHECK_EQ_INT(raw_status(w, "POST", "/v1/buffers", tok, "{not json", 9, NULL, NULL, 0), 400);
    long st = raw_status(w, "POST", "/v1/buffers", tok, "{\"size\": 1152921504606846976}", 29, NULL, code,
                         sizeof code);
    CHECK(st == 507 || st == 400 || st == 413);
    CHECK_EQ_INT(raw_status(w, "GET", "/v1/buffers/987654?offset=0&size=4", tok, NULL, 0, NULL, NULL, 0),
                 404);
    CHECK_EQ_INT(raw_status(w, "GET", "/v1/buffers/xyz?offset=0&size=4", tok, NULL, 0, NULL, NULL, 0) / 100,
                 4);
    CHECK_EQ_INT(raw_status(w, "GET", "/v1/no-such-thing", tok, NULL, 0, NULL, NULL, 0), 404);
    char sha_path[128];
    snprintf(sha_path, sizeof sha_path, "/v1/modules/%064d", 0);
    CHECK_EQ_INT(
        raw_status(w, "PUT", sha_path, tok, ".version 7.0\n", 13, "application/octet-stream", NULL, 0), 400);
    CHECK_EQ_INT(
        raw_status(w, "PUT", "/v1/modules/nothex", tok, "x", 1, "application/octet-stream", NULL, 0) / 100,
        4);
    /* oversized: a module image past 64 MiB */
    size_t big = (64u << 20) + 4096;
    char *huge = malloc(big);
    memset(huge, ' ', big);
    st = raw_status(w, "PUT", sha_path, tok, huge, big, "application/octet-stream", NULL, 0);
    CHECK_EQ_INT(st, 413);
    free(huge);
    /* and through the API */
    huge = malloc(big);
    memset(huge, ' ', big);
    lepton_module *hm = NULL;
    CHECK_RC(lepton_module_load(l, huge, big, &hm), LEPTON_ETOOLARGE);
    free(huge);

    /* API misuse: clear errors before anything reaches the GPU */
    lepton_module *bad = NULL;
    const char junk[] = ".version 7.0\n.target sm_75\nthis is not ptx\n";
    int rc = lepton_module_load(l, junk, sizeof junk - 1, &bad);
    CHECK(rc == LEPTON_ECUDA || rc == LEPTON_EINVAL);
    CHECK(bad == NULL);
    CHECK(strlen(lepton_last_error()) > 0);
    lepton_buffer *b0 = alloc(l, 0, 256), *b1 = alloc(l, two ? 1 : 0, 256);
    char host[512] = {0};
    CHECK_RC(lepton_buffer_write(b0, 200, host, 100), LEPTON_EINVAL); /* past the end */
    CHECK_RC(lepton_buffer_read(b0, 0, host, 257), LEPTON_EINVAL);
    lepton_buffer *nb = NULL;
    CHECK_RC(lepton_buffer_alloc(l, 5, 64, &nb), LEPTON_EINVAL); /* no such GPU in the lease */
    int nn = 64;
    float a = 1.0f;
    double ad = 1.0;
    lepton_arg three[] = {LEPTON_ARG_VAL(nn), LEPTON_ARG_VAL(a), LEPTON_ARG_BUF(b0)};
    lepton_launch L = {sm, "saxpy", {1}, {64}, 0, three, 3};
    lepton_step s = launch_step(&L);
    CHECK_RC(run_job(l, 0, &s, 1), LEPTON_EINVAL); /* too few */
    lepton_arg wrong_size[] = {LEPTON_ARG_VAL(nn), LEPTON_ARG_VAL(ad), LEPTON_ARG_BUF(b0),
                               LEPTON_ARG_BUF(b0)};
    L.args = wrong_size;
    L.arg_count = 4;
    CHECK_RC(run_job(l, 0, &s, 1), LEPTON_EINVAL); /* a double where a float goes */
    lepton_arg five[] = {LEPTON_ARG_VAL(nn), LEPTON_ARG_VAL(a), LEPTON_ARG_BUF(b0), LEPTON_ARG_BUF(b0),
                         LEPTON_ARG_VAL(nn)};
    L.args = five;
    L.arg_count = 5;
    CHECK_RC(run_job(l, 0, &s, 1), LEPTON_EINVAL); /* too many */
    lepton_arg other_gpu[] = {LEPTON_ARG_VAL(nn), LEPTON_ARG_VAL(a), LEPTON_ARG_BUF(b1), LEPTON_ARG_BUF(b0)};
    L.args = other_gpu;
    L.arg_count = 4;
    if (two) CHECK_RC(run_job(l, 0, &s, 1), LEPTON_EINVAL); /* a buffer of GPU 1 in a job on GPU 0 */
    lepton_arg ok_args[] = {LEPTON_ARG_VAL(nn), LEPTON_ARG_VAL(a), LEPTON_ARG_BUF(b0), LEPTON_ARG_BUF(b0)};
    L.args = ok_args;
    L.function = "no_such_kernel";
    rc = run_job(l, 0, &s, 1);
    CHECK(rc == LEPTON_EINVAL || rc == LEPTON_ENOTFOUND);
    L.function = "saxpy";
    lepton_step past = read_step(b0, host, 512);
    CHECK_RC(run_job(l, 0, &past, 1), LEPTON_EINVAL);
    lepton_step cross = read_step(b1, host, 16);
    if (two) CHECK_RC(run_job(l, 0, &cross, 1), LEPTON_EINVAL);

    /* nothing else was disturbed: the same workers, still working */
    pid_t now0 = a_wait_worker(ag, slot0, 0, 2000);
    CHECK_EQ_INT(now0, pid0);
    a_slot sl[A_MAX_GPUS];
    CHECK(a_agent_slots(ag, sl, A_MAX_GPUS) > slot0);
    CHECK_EQ_INT(sl[slot0].restarts, 0);
    saxpy_works(l, sm, 0, "after the bad requests");
    if (two) saxpy_works(l, sm, 1, "after the bad requests");
    CHECK_EQ_INT(info_of(l).state, LEPTON_LEASE_ACTIVE);
    lepton_buffer_free(b0);
    lepton_buffer_free(b1);
    lepton_module_free(sm);
out:
    CHECK_RC(lepton_lease_close(l), LEPTON_OK);
    lepton_client_close(c);
}

/* ---- a module the driver refuses: the client's error names the PTX line, each prefix once ---- */
static void case_bad_module(void) {
    lepton_client *c = client_for(T_TEN);
    lepton_lease *l = open_lease(c, 1, NULL, 0);
    if (!l) return lepton_client_close(c);
    static const char bad[] = ".version 7.0\n.target sm_75\n.address_size 64\n"
                              ".visible .entry broken(.param .u64 p)\n{\n    .reg .b32 %r<4>;\n"
                              "    frobnicate.u32 %r1, %r2;\n    ret;\n}\n";
    lepton_module *m = NULL;
    int rc = lepton_module_load(l, bad, sizeof bad - 1, &m);
    const char *e = lepton_last_error();
    fprintf(stderr, "bad module: %s: %s\n", lepton_status_name(rc), e);
    CHECK(rc != LEPTON_OK && m == NULL);
    CHECK(strstr(e, "CUDA_ERROR_INVALID_PTX") != NULL);
    CHECK(strstr(e, "line 7") != NULL);
    CHECK(strstr(e, "fix the PTX at the line") != NULL); /* what to do */
    /* no layer repeats the one before it ("cudaemu: cudaemu: ...", "lepton_module_load: lepton_module_load:")
     */
    CHECK(strstr(e, "cudaemu: cudaemu:") == NULL);
    const char *colon = strchr(e, ':');
    if (colon) {
        char head[128];
        snprintf(head, sizeof head, "%.*s:", (int)(colon - e < 100 ? colon - e : 100), e);
        CHECK(strstr(colon + 1, head) == NULL);
    }
    const char *name = strstr(e, "CUDA_ERROR_INVALID_PTX");
    CHECK(name && !strstr(name + 1, "CUDA_ERROR_INVALID_PTX")); /* the error is named once */
    /* the lease goes on: a good module loads */
    lepton_module *sm = load(l, "saxpy");
    saxpy_works(l, sm, 0, "after a refused module");
    /* a kernel that faults, read behind it: the fault surfaces at the read (as on a GPU) and the
     * client's error names the kernel and its step, and the step that reported it */
    lepton_module *om = load(l, "oob_write");
    lepton_buffer *b0 = alloc(l, 0, 1024);
    int n = 4, back[4];
    long long far = 1LL << 40;
    lepton_arg fa[] = {LEPTON_ARG_BUF(b0), LEPTON_ARG_VAL(n), LEPTON_ARG_VAL(far)};
    lepton_launch F = {om, "oob_write", {1}, {32}, 0, fa, 3};
    lepton_step fs[] = {launch_step(&F), read_step(b0, back, sizeof back)};
    lepton_job j = LEPTON_JOB_INIT;
    j.steps = fs;
    j.step_count = 2;
    lepton_task *t = NULL;
    CHECK_RC(lepton_submit(l, &j, &t), LEPTON_OK);
    CHECK_EQ_INT(lepton_wait(t, 20000), LEPTON_ECUDA);
    lepton_task_info ti = LEPTON_TASK_INFO_INIT;
    CHECK_RC(lepton_task_get_info(t, &ti), LEPTON_OK);
    fprintf(stderr, "faulting job: %s\n", ti.error);
    CHECK(strstr(ti.error,
                 "step 0: CUDA_ERROR_ILLEGAL_ADDRESS: running kernel oob_write (reported at step 1") != NULL);
    const char *first = strstr(ti.error, "CUDA_ERROR_ILLEGAL_ADDRESS");
    CHECK(first && !strstr(first + 1, "CUDA_ERROR_ILLEGAL_ADDRESS"));
    lepton_task_free(t);
    lepton_buffer_free(b0);
    lepton_module_free(om);
    lepton_module_free(sm);
    CHECK_RC(lepton_lease_close(l), LEPTON_OK);
    lepton_client_close(c);
}

/* ---- by-value arguments up to the wire's limit (WIRE_JOB_MAX_VALUE, CUDA's 32,764 bytes) ----
 * One at the limit runs end to end and the kernel sees its bytes; one byte more is refused by
 * lepton_submit (before anything is sent), not by the worker at lepton_wait. A 5,000-byte
 * argument, once accepted by lepton_submit and refused by the worker, runs. The kernel's own
 * parameter space (8 + 32,764 bytes) passes what a real GPU takes: emulator only. */
static const char BIG_PARAM_PTX[] =
    ".version 7.0\n.target sm_75\n.address_size 64\n"
    /* all of CUDA's parameter space: no room for an output pointer, so the kernel checks three
     * words of its argument and traps (failing the job) when one is not what the test sent */
    ".visible .entry big_param(.param .align 4 .b8 big[32764])\n{\n"
    "    .reg .b32 %r<4>;\n    .reg .pred %p<4>;\n"
    "    ld.param.u32 %r1, [big];\n    ld.param.u32 %r2, [big+16380];\n    ld.param.u32 %r3, [big+32760];\n"
    "    setp.ne.u32 %p1, %r1, -1582119980;\n    @%p1 trap;\n"
    "    setp.ne.u32 %p2, %r2, 16909060;\n    @%p2 trap;\n"
    "    setp.ne.u32 %p3, %r3, -889262067;\n    @%p3 trap;\n"
    "    ret;\n}\n"
    ".visible .entry param5000(.param .u64 out, .param .align 4 .b8 v[5000])\n{\n"
    "    .reg .b32 %r<3>;\n    .reg .b64 %rd<3>;\n"
    "    ld.param.u64 %rd1, [out];\n    cvta.to.global.u64 %rd2, %rd1;\n"
    "    ld.param.u32 %r1, [v];\n    ld.param.u32 %r2, [v+4996];\n"
    "    st.global.u32 [%rd2], %r1;\n    st.global.u32 [%rd2+4], %r2;\n    ret;\n}\n";

static void case_value_limit(void) {
    if (!a_is_emulator()) {
        fprintf(stderr, "value_limit: the kernel's parameter space passes a real GPU's; skipped\n");
        exit(SKIP);
    }
    lepton_client *c = client_for(T_TEN);
    lepton_lease *l = open_lease(c, 1, NULL, 0);
    if (!l) return lepton_client_close(c);
    lepton_module *m = NULL;
    CHECK_RC(lepton_module_load(l, BIG_PARAM_PTX, sizeof BIG_PARAM_PTX - 1, &m), LEPTON_OK);
    lepton_buffer *out = alloc(l, 0, 16);
    if (!m || !out) goto done;
    static uint32_t big[32768 / 4 + 1];
    for (size_t i = 0; i < sizeof big / 4; i++)
        big[i] = (uint32_t)(i * 2654435761u);
    big[0] = 0xA1B2C3D4u; /* the words the kernel checks */
    big[16380 / 4] = 0x01020304u;
    big[32760 / 4] = 0xCAFEF00Du;
    lepton_arg a[1] = {{LEPTON_ARG_VALUE, NULL, 0, big, 32764}};
    lepton_launch L = {m, "big_param", {1}, {1}, 0, a, 1};
    lepton_step s[1] = {launch_step(&L)};
    /* at the limit: runs, and the kernel sees its first, middle and last words */
    CHECK_RC(run_job(l, 0, s, 1), LEPTON_OK);
    /* one byte past it: lepton_submit refuses, naming the limit; nothing reaches the worker */
    a[0].size = 32765;
    lepton_job j = LEPTON_JOB_INIT;
    j.steps = s;
    j.step_count = 1;
    lepton_task *t = (lepton_task *)&t;
    CHECK_RC(lepton_submit(l, &j, &t), LEPTON_ETOOLARGE);
    CHECK(t == NULL);
    const char *e = lepton_last_error();
    fprintf(stderr, "one byte past the limit: %s\n", e);
    CHECK(strstr(e, "lepton_submit: steps[0].launch.args[0]: a by-value argument of 32765 bytes") != NULL);
    CHECK(strstr(e, "limit of 32764 bytes (WIRE_JOB_MAX_VALUE") != NULL);
    /* 5,000 bytes (past the worker's old 4 KiB): runs */
    uint32_t back2[2] = {0, 0};
    lepton_arg a2[2] = {LEPTON_ARG_BUF(out), {LEPTON_ARG_VALUE, NULL, 0, big, 5000}};
    lepton_launch L2 = {m, "param5000", {1}, {1}, 0, a2, 2};
    lepton_step s2[2] = {launch_step(&L2), read_step(out, back2, sizeof back2)};
    CHECK_RC(run_job(l, 0, s2, 2), LEPTON_OK);
    CHECK(back2[0] == big[0] && back2[1] == big[4996 / 4]);
done:
    lepton_buffer_free(out);
    lepton_module_free(m);
    CHECK_RC(lepton_lease_close(l), LEPTON_OK);
    lepton_client_close(c);
}

/* ---- driver --------------------------------------------------------------------------------- */
/* ---- the stream (docs/dataplane.md "The stream"): jobs and buffer calls travel on it ---------- */

/* lepton_worker_stream_frames_total{...,kind="KIND"} of a worker, or -1 when it has none. */
static long long stream_frames(const char *address, const char *kind) {
    h_broker wb = B;
    snprintf(wb.url, sizeof wb.url, "%s", address);
    h_resp r;
    long long v = -1;
    char label[48];
    snprintf(label, sizeof label, "kind=\"%s\"}", kind);
    if (h_http(&wb, "GET", "/metrics", NULL, NULL, NULL, 0, &r) == 0 && r.status == 200 && r.body) {
        for (const char *p = r.body; (p = strstr(p, "\nlepton_worker_stream_frames_total{")); p++) {
            const char *eol = strchr(p + 1, '\n'), *k = strstr(p, label);
            if (k && (!eol || k < eol)) {
                v = strtoll(k + strlen(label), NULL, 10);
                break;
            }
        }
    }
    h_resp_free(&r);
    return v;
}

/* K pipelined counter jobs on GPU 0 (job k adds 1 to `counter` and reads it back: k + 1 + base when
 * every earlier job ran once, in order); returns how many came back wrong. */
#define STREAM_JOBS 200

/* Submits n jobs on GPU 0, job k launching L (F at fault_at) and reading `counter` into got[k];
 * the tasks in t, each submit's status in rcs. */
static void counter_submit(lepton_lease *l, lepton_launch *L, lepton_launch *F, int fault_at,
                           lepton_buffer *counter, int n, float *got, lepton_step (*steps)[2],
                           lepton_task **t, int *rcs) {
    for (int k = 0; k < n; k++) {
        got[k] = -1;
        steps[k][0] = launch_step(k == fault_at ? F : L);
        steps[k][1] = read_step(counter, &got[k], sizeof(float));
        lepton_job j = LEPTON_JOB_INIT;
        j.steps = steps[k];
        j.step_count = 2;
        rcs[k] = lepton_submit(l, &j, &t[k]);
    }
}

static int counter_jobs(lepton_lease *l, lepton_module *m, lepton_buffer *ones, lepton_buffer *counter,
                        int base, int k_jobs, int fault_at, lepton_launch *F, int *rcs, char (*errs)[256]) {
    static float got[STREAM_JOBS];
    static lepton_step steps[STREAM_JOBS][2];
    static lepton_task *t[STREAM_JOBS];
    int one = 1;
    float a = 1.0f;
    lepton_arg args[4] = {LEPTON_ARG_VAL(one), LEPTON_ARG_VAL(a), LEPTON_ARG_BUF(ones),
                          LEPTON_ARG_BUF(counter)};
    lepton_launch L = {m, "saxpy", {1}, {1}, 0, args, 4};
    counter_submit(l, &L, F, fault_at, counter, k_jobs, got, steps, t, rcs);
    int bad = 0;
    for (int k = 0; k < k_jobs; k++) {
        if (rcs[k] == LEPTON_OK) {
            rcs[k] = lepton_wait(t[k], 30000);
            lepton_task_info ti = LEPTON_TASK_INFO_INIT;
            lepton_task_get_info(t[k], &ti);
            if (errs) snprintf(errs[k], sizeof errs[k], "%s", ti.error);
            lepton_task_free(t[k]);
        }
        if (fault_at >= 0 && k >= fault_at) continue;
        if (rcs[k] != LEPTON_OK || got[k] != (float)(base + k + 1)) {
            if (!bad)
                fprintf(stderr, "job %d: %s, counter %g, expected %d\n", k, lepton_status_name(rcs[k]),
                        (double)got[k], base + k + 1);
            bad++;
        }
    }
    return bad;
}

/* A deep pipeline that nobody waits for while it runs: jobs submitted behind answers awaited on
 * the stream are corked (LEPTON_DP_CORK: they share the next write) and the lease's I/O thread sends
 * them when no wait comes. Every job ends on its own, in order (each sees the counter once per
 * earlier job), polled with lepton_task_get_info alone; then the same with waits in between. */
static void case_cork(void) {
    t_lease tl;
    if (t_lease_open(&tl, 1, 0, 0)) return;
    lepton_lease *l = tl.l;
    lepton_module *m = load(l, "saxpy");
    lepton_buffer *ones, *counter;
    counter_bufs(l, &ones, &counter);
    enum { CORK_JOBS = 400 };
    static float got[CORK_JOBS];
    static lepton_step steps[CORK_JOBS][2];
    static lepton_task *t[CORK_JOBS];
    int one = 1;
    float a = 1.0f;
    lepton_arg args[4] = {LEPTON_ARG_VAL(one), LEPTON_ARG_VAL(a), LEPTON_ARG_BUF(ones),
                          LEPTON_ARG_BUF(counter)};
    lepton_launch L = {m, "saxpy", {1}, {1}, 0, args, 4};
    double t0 = tc_now_ms();
    static int sub_rc[CORK_JOBS];
    counter_submit(l, &L, NULL, -1, counter, CORK_JOBS, got, steps, t, sub_rc);
    for (int k = 0; k < CORK_JOBS; k++)
        CHECK_RC(sub_rc[k], LEPTON_OK);
    /* no lepton_wait: the last job ends anyway (it ends after every earlier one) */
    lepton_task_info ti = LEPTON_TASK_INFO_INIT;
    for (double end = tc_now_ms() + 20000; tc_now_ms() < end; usleep(200)) {
        CHECK_RC(lepton_task_get_info(t[CORK_JOBS - 1], &ti), LEPTON_OK);
        if (ti.state == LEPTON_TASK_DONE || ti.state == LEPTON_TASK_FAILED ||
            ti.state == LEPTON_TASK_CANCELED)
            break;
    }
    double took = tc_now_ms() - t0;
    CHECK_EQ_INT(ti.state, LEPTON_TASK_DONE);
    int bad = 0;
    for (int k = 0; k < CORK_JOBS; k++) {
        lepton_task_info tk = LEPTON_TASK_INFO_INIT;
        CHECK_RC(lepton_task_get_info(t[k], &tk), LEPTON_OK);
        if (tk.state != LEPTON_TASK_DONE || got[k] != (float)(k + 1)) {
            if (!bad)
                fprintf(stderr, "job %d: state %d, counter %g, expected %d\n", k, tk.state, (double)got[k],
                        k + 1);
            bad++;
        }
        lepton_task_free(t[k]);
    }
    CHECK_EQ_INT(bad, 0);
    fprintf(stderr, "cork: %d jobs nobody waited for ended in %.1f ms\n", CORK_JOBS, took);
    /* and a submit/wait alternation 64 deep, as the benchmark's pipeline runs it */
    static int rcs[STREAM_JOBS];
    float zero = 0.0f;
    CHECK_RC(lepton_buffer_write(counter, 0, &zero, sizeof zero), LEPTON_OK);
    CHECK_EQ_INT(counter_jobs(l, m, ones, counter, 0, STREAM_JOBS, -1, NULL, rcs, NULL), 0);
    lepton_buffer_free(ones);
    lepton_buffer_free(counter);
    lepton_module_free(m);
    t_lease_close(&tl);
}

/* N jobs and buffer calls on one GPU: the worker counts them as stream frames (kind job, write,
 * read), one each, and every result is right. With LEPTON_DP_STREAM=0 none travel there. */
static void case_stream(void) {
    t_lease tl;
    if (t_lease_open(&tl, 1, 0, 0)) return;
    lepton_lease *l = tl.l;
    const dp_view v = tl.v;
    lepton_module *m = load(l, "saxpy");
    long long jobs0 = stream_frames(v.worker[0], "job"), writes0 = stream_frames(v.worker[0], "write"),
              reads0 = stream_frames(v.worker[0], "read");
    lepton_buffer *ones, *counter;
    counter_bufs(l, &ones, &counter);
    static int rcs[STREAM_JOBS];
    CHECK_EQ_INT(counter_jobs(l, m, ones, counter, 0, STREAM_JOBS, -1, NULL, rcs, NULL), 0);
    /* a large write and read: bytes straight from and into the caller's memory */
    const size_t N = 8u << 20;
    unsigned char *src = malloc(N), *dst = malloc(N);
    for (size_t i = 0; i < N; i++)
        src[i] = (unsigned char)(i * 31 + (i >> 12));
    lepton_buffer *big = alloc(l, 0, N);
    CHECK_RC(lepton_buffer_write(big, 0, src, N), LEPTON_OK);
    memset(dst, 0, N);
    CHECK_RC(lepton_buffer_read(big, 0, dst, N), LEPTON_OK);
    CHECK(memcmp(src, dst, N) == 0);
    float final = 0;
    CHECK_RC(lepton_buffer_read(counter, 0, &final, sizeof final), LEPTON_OK);
    CHECK_EQ_INT((int) final, STREAM_JOBS);
    long long jobs = stream_frames(v.worker[0], "job") - jobs0,
              writes = stream_frames(v.worker[0], "write") - writes0,
              reads = stream_frames(v.worker[0], "read") - reads0;
    fprintf(stderr, "stream: %lld job, %lld write, %lld read frames (stream %s)\n", jobs, writes, reads,
            stream_on() ? "on" : "off");
    CHECK(jobs0 >= 0); /* the worker counts stream frames */
    if (stream_on()) {
        CHECK_EQ_INT(jobs, STREAM_JOBS);
        CHECK_EQ_INT(writes, 3);
        CHECK_EQ_INT(reads, 2);
    } else {
        CHECK_EQ_INT(jobs + writes + reads, 0);
    }
    free(src);
    free(dst);
    lepton_buffer_free(big);
    lepton_buffer_free(ones);
    lepton_buffer_free(counter);
    lepton_module_free(m);
    t_lease_close(&tl);
}

/* A sticky fault in the middle of a deep pipeline on the stream: the poisoned worker answers the
 * jobs behind it 503 and exits (the stream breaks); they go over HTTP to the fresh worker. No job
 * is lost or run twice: every job before the fault saw the counter exactly once per earlier job,
 * the faulting job alone reports the CUDA error, each job behind it ends (the buffer it used was
 * lost with the old worker); then the stream opens again to the fresh worker. */
static void case_stream_fault(void) {
    t_lease tl;
    if (t_lease_open(&tl, 1, 0, 1)) return;
    lepton_lease *l = tl.l;
    const dp_view v = tl.v;
    pid_t old = tl.worker0;
    lepton_module *m = load(l, "saxpy"), *om = load(l, "oob_write");
    lepton_buffer *ones, *counter;
    counter_bufs(l, &ones, &counter);
    int n = 4;
    long long far = 1LL << 40;
    lepton_arg fa[] = {LEPTON_ARG_BUF(ones), LEPTON_ARG_VAL(n), LEPTON_ARG_VAL(far)};
    lepton_launch F = {om, "oob_write", {1}, {32}, 0, fa, 3};
    enum { FAULT_AT = 120 };
    static int rcs[STREAM_JOBS];
    static char errs[STREAM_JOBS][256];
    long long jobs0 = stream_frames(v.worker[0], "job");
    CHECK_EQ_INT(counter_jobs(l, m, ones, counter, 0, STREAM_JOBS, FAULT_AT, &F, rcs, errs), 0);
    CHECK_EQ_INT(rcs[FAULT_AT], LEPTON_ECUDA);
    CHECK(strstr(errs[FAULT_AT], "CUDA_ERROR_ILLEGAL_ADDRESS") != NULL);
    int lost = 0, other = 0;
    for (int k = FAULT_AT + 1; k < STREAM_JOBS; k++) {
        if (rcs[k] == LEPTON_ENODELOST && strstr(errs[k], "was lost when the worker restarted")) {
            lost++;
        } else {
            if (!other)
                fprintf(stderr, "job %d behind the fault: %s: %s\n", k, lepton_status_name(rcs[k]), errs[k]);
            other++;
        }
    }
    fprintf(stderr,
            "stream_fault: %lld job frames before the restart; %d jobs behind the fault lost their buffer\n",
            jobs0 >= 0 ? stream_frames(v.worker[0], "job") - jobs0 : -1, lost);
    CHECK_EQ_INT(other, 0);
    pid_t fresh = a_wait_worker(tl.ag, tl.slot0, old, 10000);
    CHECK(fresh > 0 && fresh != old);
    /* the lease goes on: new buffers and jobs on the fresh worker, over a new stream */
    lepton_buffer *ones2, *counter2;
    counter_bufs(l, &ones2, &counter2);
    tc_sleep_ms(400); /* past the stream's first back-off */
    long long fresh0 = stream_frames(v.worker[0], "job");
    CHECK_EQ_INT(counter_jobs(l, m, ones2, counter2, 0, 50, -1, NULL, rcs, NULL), 0);
    long long fresh_jobs = stream_frames(v.worker[0], "job") - fresh0;
    fprintf(stderr, "stream_fault: %lld of 50 jobs on the fresh worker's stream\n", fresh_jobs);
    if (stream_on()) CHECK(fresh_jobs >= 40); /* the stream is back (the first may precede it) */
    /* an error answer on the stream is final, as over HTTP: the old buffers are lost */
    float back = 0;
    CHECK_RC(lepton_buffer_read(counter, 0, &back, sizeof back), LEPTON_ENODELOST);
    CHECK(strstr(lepton_last_error(), "was lost when the worker restarted") != NULL);
    CHECK_RC(lepton_buffer_read(counter2, 0, &back, sizeof back), LEPTON_OK);
    CHECK_EQ_INT((int)back, 50);
    lepton_buffer_free(ones);
    lepton_buffer_free(counter);
    lepton_buffer_free(ones2);
    lepton_buffer_free(counter2);
    lepton_module_free(m);
    lepton_module_free(om);
    t_lease_close(&tl);
}

/* ---- driver --------------------------------------------------------------------------------- */
/* The stream's connection cut mid-pipeline (`ss -K` aborts the client's sockets to the worker; the
 * worker sees a reset): the jobs awaiting answers go over HTTP with their seqs, the worker answers
 * those it ran from memory, and no job is lost or run twice (job k reads the counter at k + 1);
 * the stream is opened again later. Skipped where `ss -K` cannot (no ss, no SOCK_DESTROY). */
#define KILL_JOBS 40
static void case_stream_kill(void) {
    if (system("command -v ss >/dev/null 2>&1") != 0) {
        fprintf(stderr, "skipped: no ss (iproute2) to cut the stream\n");
        exit(SKIP);
    }
    t_lease tl;
    if (t_lease_open(&tl, 1, 0, 0)) return;
    lepton_lease *l = tl.l;
    const dp_view v = tl.v;
    const char *colon = strrchr(v.worker[0], ':');
    int port = colon ? atoi(colon + 1) : 0;
    CHECK(port > 0);
    lepton_module *m = load(l, "saxpy");
    enum { HEAVY = 1 << 18 }; /* a launch the CPU driver takes a few ms over: jobs stay in flight */
    lepton_buffer *ones, *counter;
    counter_bufs(l, &ones, &counter);
    lepton_buffer *hx = alloc(l, 0, HEAVY * sizeof(float)), *hy = alloc(l, 0, HEAVY * sizeof(float));
    int cn = 1, hn = HEAVY;
    float a = 1.0f;
    lepton_arg cargs[4] = {LEPTON_ARG_VAL(cn), LEPTON_ARG_VAL(a), LEPTON_ARG_BUF(ones),
                           LEPTON_ARG_BUF(counter)};
    lepton_arg hargs[4] = {LEPTON_ARG_VAL(hn), LEPTON_ARG_VAL(a), LEPTON_ARG_BUF(hx), LEPTON_ARG_BUF(hy)};
    lepton_launch CL = {m, "saxpy", {1}, {1}, 0, cargs, 4},
                  HL = {m, "saxpy", {HEAVY / 256}, {256}, 0, hargs, 4};
    static float got[KILL_JOBS];
    static lepton_step steps[KILL_JOBS][3];
    static lepton_task *t[KILL_JOBS];
    int rcs[KILL_JOBS];
    long long f0 = stream_frames(v.worker[0], "job");
    for (int k = 0; k < KILL_JOBS; k++) {
        got[k] = -1;
        steps[k][0] = launch_step(&HL);
        steps[k][1] = launch_step(&CL);
        steps[k][2] = read_step(counter, &got[k], sizeof(float));
        lepton_job j = LEPTON_JOB_INIT;
        j.steps = steps[k];
        j.step_count = 3;
        rcs[k] = lepton_submit(l, &j, &t[k]);
    }
    tc_sleep_ms(30);
    int done_before = 0;
    for (int k = 0; k < KILL_JOBS; k++)
        done_before += rcs[k] == LEPTON_OK && lepton_wait(t[k], 0) != LEPTON_ETIMEDOUT;
    char cmd[160];
    snprintf(cmd, sizeof cmd, "ss -K dst 127.0.0.1 dport = :%d >/dev/null 2>&1", port);
    if (system(cmd) != 0) {
        fprintf(stderr, "skipped: `%s` failed (no SOCK_DESTROY here)\n", cmd);
        exit(SKIP);
    }
    int bad = 0;
    for (int k = 0; k < KILL_JOBS; k++) {
        if (rcs[k] == LEPTON_OK) rcs[k] = lepton_wait(t[k], 30000);
        if (rcs[k] != LEPTON_OK || got[k] != (float)(k + 1)) {
            if (!bad)
                fprintf(stderr, "job %d: %s (%s), counter %g, expected %d\n", k, lepton_status_name(rcs[k]),
                        rcs[k] ? lepton_last_error() : "", (double)got[k], k + 1);
            bad++;
        }
        lepton_task_free(t[k]);
    }
    long long f1 = stream_frames(v.worker[0], "job");
    fprintf(stderr, "stream_kill: %d of %d jobs done when the stream was cut; %lld job frames came on it\n",
            done_before, KILL_JOBS, f1 - f0);
    CHECK_EQ_INT(bad, 0);
    CHECK(done_before < KILL_JOBS); /* the cut came while jobs were in flight */
    float final = 0;
    CHECK_RC(lepton_buffer_read(counter, 0, &final, sizeof final), LEPTON_OK);
    CHECK_EQ_INT((int) final, KILL_JOBS);
    /* the stream comes back after its back-off */
    tc_sleep_ms(400);
    static int rcs2[STREAM_JOBS];
    long long f2 = stream_frames(v.worker[0], "job");
    CHECK_EQ_INT(counter_jobs(l, m, ones, counter, KILL_JOBS, 20, -1, NULL, rcs2, NULL), 0);
    long long again = stream_frames(v.worker[0], "job") - f2;
    fprintf(stderr, "stream_kill: %lld of 20 later jobs on the stream\n", again);
    if (stream_on()) CHECK(again >= 19);
    lepton_buffer_free(hx);
    lepton_buffer_free(hy);
    lepton_buffer_free(ones);
    lepton_buffer_free(counter);
    lepton_module_free(m);
    t_lease_close(&tl);
}

/* ---- attach: a second client of the tenant attaches to a lease and runs jobs on its GPU -------- */
static void case_attach(void) {
    lepton_client *owner = client_for(T_TEN), *other = client_for(T_TEN), *stranger = client_for(T_OTHER);
    lepton_lease *l = open_lease(owner, 1, "Emu n1", 0);
    if (!l) {
        lepton_client_close(stranger), lepton_client_close(other), lepton_client_close(owner);
        return;
    }
    lepton_lease_info i = info_of(l);
    lepton_lease *a = NULL;
    CHECK_RC(lepton_lease_attach(other, i.id, &a), LEPTON_OK);
    if (a) {
        lepton_lease_info j = info_of(a);
        CHECK(!strcmp(j.id, i.id) && !strcmp(j.node, i.node));
        CHECK_EQ_INT(j.state, LEPTON_LEASE_ACTIVE);
        /* the data plane as the owner gets it: a module load and jobs checked against the host */
        check_vector_add(a, 0);
        check_saxpy(a, 0);
        CHECK_RC(lepton_lease_detach(a), LEPTON_OK);
    }
    char st[32];
    CHECK(!strcmp(lease_state(T_TEN, i.id, st, sizeof st), "active"));
    CHECK_EQ_INT(info_of(l).state, LEPTON_LEASE_ACTIVE);
    /* another tenant cannot attach */
    lepton_lease *x = NULL;
    CHECK_RC(lepton_lease_attach(stranger, i.id, &x), LEPTON_ENOTFOUND);
    CHECK(x == NULL);
    /* the attached handle closes the lease; the owner's handle then sees it ended */
    CHECK_RC(lepton_lease_attach(other, i.id, &a), LEPTON_OK);
    CHECK_RC(lepton_lease_close(a), LEPTON_OK);
    CHECK(!strcmp(lease_state(T_TEN, i.id, st, sizeof st), "closed"));
    CHECK_EQ_INT(info_of(l).state, LEPTON_LEASE_CLOSED);
    CHECK_RC(lepton_lease_close(l), LEPTON_OK);
    lepton_client_close(stranger);
    lepton_client_close(other);
    lepton_client_close(owner);
}

/* ---- attach_seq: handles that follow each other on one GPU each get their own jobs' results -----
 * Each handle numbers its jobs per GPU from 1, and a worker answers a number it has run already with
 * the remembered result: without a job session per handle (docs/dataplane.md, Jobs) the second
 * handle's job got the first one's result (9997 of 10000 elements wrong). */
static void case_attach_seq(void) {
    lepton_client *owner = client_for(T_TEN), *other = client_for(T_TEN);
    lepton_lease *l = open_lease(owner, 1, "Emu n1", 0);
    if (!l) {
        lepton_client_close(other), lepton_client_close(owner);
        return;
    }
    check_vector_add(l, 0); /* the opener's jobs first */
    lepton_lease *a = NULL;
    CHECK_RC(lepton_lease_attach(other, info_of(l).id, &a), LEPTON_OK);
    if (a) {
        check_vector_add(a, 0); /* then a second handle's, which must run, not be answered from memory */
        CHECK_RC(lepton_lease_detach(a), LEPTON_OK);
    }
    CHECK_RC(lepton_lease_attach(other, info_of(l).id, &a), LEPTON_OK);
    if (a) {
        check_saxpy(a, 0); /* and a third's */
        CHECK_RC(lepton_lease_detach(a), LEPTON_OK);
    }
    CHECK_RC(lepton_lease_close(l), LEPTON_OK);
    lepton_client_close(other);
    lepton_client_close(owner);
}

/* ---- module_shared: two handles that load the same image; one frees it, the other's launches go
 * on (a worker holds one module per image, unloaded only when the last session holding it frees it) */
static void case_module_shared(void) {
    lepton_client *owner = client_for(T_TEN), *other = client_for(T_TEN);
    lepton_lease *l = open_lease(owner, 1, "Emu n1", 0);
    lepton_lease *a = NULL;
    if (l) CHECK_RC(lepton_lease_attach(other, info_of(l).id, &a), LEPTON_OK);
    if (l && a) {
        lepton_module *mo = load(l, "saxpy"), *ma = load(a, "saxpy");
        if (mo && ma) {
            saxpy_works(a, ma, 0, "attached, both holding the module");
            lepton_module_free(mo); /* the opener lets go: the attached handle still holds it */
            saxpy_works(a, ma, 0, "attached, after the opener freed the same image");
            lepton_module_free(ma); /* the last holder: unloaded now */
            mo = load(l, "saxpy");  /* and loaded again when asked */
            if (mo) saxpy_works(l, mo, 0, "opener, the image loaded again");
        }
        lepton_module_free(mo);
        CHECK_RC(lepton_lease_detach(a), LEPTON_OK);
    }
    if (l) CHECK_RC(lepton_lease_close(l), LEPTON_OK);
    lepton_client_close(other);
    lepton_client_close(owner);
}

/* ---- handles submitting to one GPU at once (job sessions) ---------------------------------- */
/* Three handles on one lease — the opener's and two attached ones — each add their own step to a
 * counter of their own, SESS_JOBS times, up to SESS_WINDOW jobs in flight (so that small jobs go in
 * batches and on streams), from three threads at once. Job k of handle h reads back (k + 1) * (h + 1):
 * a job answered with another handle's result (the same seq in one seq space) reads a wrong value. */
#define SESS_HANDLES 3
#define SESS_JOBS 200
#define SESS_WINDOW 32
typedef struct sess_arg {
    lepton_lease *l;
    lepton_module *m; /* freed once every handle is done (module_shared tests freeing it early) */
    int h;
    int bad_status, wrong; /* jobs that failed, jobs that read a wrong value */
    float got[SESS_JOBS];
} sess_arg;

static void *sess_thread(void *p) {
    sess_arg *a = p;
    lepton_module *m = a->m = load(a->l, "saxpy");
    lepton_buffer *x = alloc(a->l, 0, sizeof(float)), *counter = alloc(a->l, 0, sizeof(float));
    float one = 1.0f, zero = 0.0f, step = (float)(a->h + 1);
    if (!m || !x || !counter || lepton_buffer_write(x, 0, &one, sizeof one) != LEPTON_OK ||
        lepton_buffer_write(counter, 0, &zero, sizeof zero) != LEPTON_OK) {
        a->bad_status = SESS_JOBS;
        goto out;
    }
    int n = 1;
    lepton_arg args[] = {LEPTON_ARG_VAL(n), LEPTON_ARG_VAL(step), LEPTON_ARG_BUF(x), LEPTON_ARG_BUF(counter)};
    lepton_launch L = {m, "saxpy", {1}, {1}, 0, args, 4};
    lepton_task *t[SESS_JOBS] = {0};
    for (int k = 0; k < SESS_JOBS + SESS_WINDOW; k++) {
        int w = k - SESS_WINDOW; /* the job to wait for before the next goes */
        if (w >= 0 && t[w]) {
            if (lepton_wait(t[w], 30000) != LEPTON_OK && !a->bad_status++)
                fprintf(stderr, "handle %d job %d: %s\n", a->h, w, lepton_last_error());
            lepton_task_free(t[w]);
            t[w] = NULL;
        }
        if (k >= SESS_JOBS) continue;
        lepton_step s[] = {launch_step(&L), read_step(counter, &a->got[k], sizeof(float))};
        lepton_job j = LEPTON_JOB_INIT;
        j.gpu = 0;
        j.steps = s;
        j.step_count = 2;
        if (lepton_submit(a->l, &j, &t[k]) != LEPTON_OK && !a->bad_status++)
            fprintf(stderr, "handle %d job %d: %s\n", a->h, k, lepton_last_error());
    }
    for (int k = 0; k < SESS_JOBS; k++)
        if (a->got[k] != (float)(k + 1) * step) {
            if (!a->wrong)
                fprintf(stderr, "handle %d job %d read %g, expected %g\n", a->h, k, (double)a->got[k],
                        (double)((float)(k + 1) * step));
            a->wrong++;
        }
out:
    lepton_buffer_free(x), lepton_buffer_free(counter);
    return NULL;
}

static void case_attach_concurrent(void) {
    lepton_client *owner = client_for(T_TEN), *other = client_for(T_TEN);
    lepton_lease *l = open_lease(owner, 1, "Emu n1", 0);
    if (!l) {
        lepton_client_close(other), lepton_client_close(owner);
        return;
    }
    static sess_arg a[SESS_HANDLES];
    memset(a, 0, sizeof a);
    a[0].l = l;
    for (int h = 1; h < SESS_HANDLES; h++)
        CHECK_RC(lepton_lease_attach(other, info_of(l).id, &a[h].l), LEPTON_OK);
    pthread_t th[SESS_HANDLES];
    for (int h = 0; h < SESS_HANDLES; h++) {
        a[h].h = h;
        if (a[h].l) pthread_create(&th[h], NULL, sess_thread, &a[h]);
    }
    for (int h = 0; h < SESS_HANDLES; h++) {
        if (!a[h].l) continue;
        pthread_join(th[h], NULL);
        CHECK_EQ_INT(a[h].bad_status, 0);
        CHECK_EQ_INT(a[h].wrong, 0);
    }
    for (int h = 0; h < SESS_HANDLES; h++) {
        lepton_module_free(a[h].m);
        if (h && a[h].l) CHECK_RC(lepton_lease_detach(a[h].l), LEPTON_OK);
    }
    CHECK_RC(lepton_lease_close(l), LEPTON_OK);
    lepton_client_close(other);
    lepton_client_close(owner);
}

static const struct {
    const char *name;
    void (*fn)(void);
    const char *broker_args;
} CASES[] = {
    {"kernels", case_kernels, NULL},
    {"two_gpus", case_two_gpus, "--node-timeout-ms 1200000"},
    {"long_node_timeout", case_long_node_timeout, "--node-timeout-ms 100000000"},
    {"isolation", case_isolation, NULL},
    {"pipeline", case_pipeline, NULL},
    {"role_churn", case_role_churn, NULL},
    {"batch", case_batch, NULL},
    {"fault", case_fault, NULL},
    {"fault_restart", case_fault_restart, NULL},
    {"queue_bound", case_queue_bound, NULL},
    {"kill_worker", case_kill_worker, NULL},
    {"kill_agent", case_kill_agent, "--node-timeout-ms 1500"},
    {"expiry", case_expiry, NULL},
    {"close", case_close, NULL},
    {"reuse", case_reuse, NULL},
    {"malformed", case_malformed, NULL},
    {"bad_module", case_bad_module, NULL},
    {"value_limit", case_value_limit, NULL},
    {"stream", case_stream, NULL},
    {"cork", case_cork, NULL},
    {"stream_fault", case_stream_fault, NULL},
    {"stream_kill", case_stream_kill, NULL},
    {"attach", case_attach, NULL},
    {"attach_seq", case_attach_seq, NULL},
    {"module_shared", case_module_shared, NULL},
    {"attach_concurrent", case_attach_concurrent, NULL},
};

static int setup(const char *broker_args) {
    if (h_broker_start(&B, broker_args) != 0) return -1;
    if (h_token(&B, "acme", 0, T_TEN, sizeof T_TEN) || h_token(&B, "globex", 0, T_OTHER, sizeof T_OTHER) ||
        h_token(&B, "fleet", 1, T_NODE, sizeof T_NODE)) {
        fprintf(stderr, "token create failed (see %s)\n", B.log);
        return -1;
    }
    if (a_agent_start(&A1, &B, T_NODE, "n1", 2, PRICE_N1) != 0) return -1;
    /* a real GPU is offered by one agent only: two would offer the same device twice */
    if (a_is_emulator()) {
        if (a_agent_start(&A2, &B, T_NODE, "n2", 2, PRICE_N2) != 0) return -1;
        have_a2 = 1;
    }
    return 0;
}

static void teardown(void) {
    a_agent_cleanup(&A1);
    if (have_a2) a_agent_cleanup(&A2);
    a_finish(&B);
}

static void on_exit_cleanup(void) {
    /* a skipped case exits from inside; the processes still end */
    if (A1.pid > 0 || A2.pid > 0 || B.pid > 0) teardown();
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s CASE|--list\n", argv[0]);
        return 2;
    }
    for (size_t k = 0; k < sizeof CASES / sizeof CASES[0]; k++) {
        if (!strcmp(argv[1], "--list")) {
            printf("%s\n", CASES[k].name);
            continue;
        }
        if (strcmp(argv[1], CASES[k].name)) continue;
        fprintf(stderr, "driver: %s, PTX %s/*.%s.ptx\n", a_cuda_library(), a_ptx_dir(), a_ptx_arch());
        atexit(on_exit_cleanup);
        if (setup(CASES[k].broker_args) != 0) {
            check_failures++;
            teardown();
            return 1;
        }
        CASES[k].fn();
        CHECK(h_healthy(&B));
        if (A1.pid > 0) {
            a_slot s[A_MAX_GPUS];
            CHECK(a_agent_slots(&A1, s, A_MAX_GPUS) == A1.gpus); /* the agent still answers */
        }
        teardown();
        return check_done(CASES[k].name);
    }
    if (!strcmp(argv[1], "--list")) return 0;
    fprintf(stderr, "unknown case %s\n", argv[1]);
    return 2;
}
