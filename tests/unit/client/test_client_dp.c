/* test_client_dp.c — liblepton's data plane against fake lease workers on loopback: module
 * upload only where missing, launch checks before anything is sent, buffers through the streaming
 * path, the job wire format, seq order from many threads, wait timeouts, worker failures (dropped
 * connection, buffer_lost, CUDA errors, a worker still starting) and lease close with jobs in
 * flight. `bench` (not run by CTest) prints the round trip and bulk figures. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "lepton/lepton.h"
#include "net.h"
#include "proc.h"
#include "fake_broker.h"
#include "fake_worker.h"

#define TOKEN "lease-token-1"

typedef struct env {
    fb_mini *m;
    fake_broker *fb;
    fake_worker *w[2];
    lepton_client *c;
    lepton_lease *l;
    char dp[1024];
} env;

/* A lease on `gpus` fake workers (data_plane.workers), with the client's timeout. */
static void env_open(env *e, int gpus, int32_t timeout_ms, int listen_after_ms) {
    memset(e, 0, sizeof *e);
    int n = snprintf(
        e->dp, sizeof e->dp,
        "\"data_plane\": {\"address\": \"http://127.0.0.1:1\", \"token\": \"%s\", \"workers\": [", TOKEN);
    for (int i = 0; i < gpus; i++) {
        e->w[i] = fw_start(TOKEN, 0, listen_after_ms);
        n += snprintf(e->dp + n, sizeof e->dp - (size_t)n,
                      "%s{\"index\": %d, \"uuid\": \"GPU-%d\", \"address\": \"%s\"}", i ? ", " : "", i, i,
                      fw_url(e->w[i]));
    }
    snprintf(e->dp + n, sizeof e->dp - (size_t)n, "]}");
    e->m = calloc(1, sizeof *e->m);
    e->m->gpu_count = gpus;
    e->m->data_plane = e->dp;
    e->fb = fb_start(fb_mini_handler, e->m);
    lepton_client_options o = LEPTON_CLIENT_OPTIONS_INIT;
    o.endpoint = fb_url(e->fb);
    o.token = "t0ken";
    o.timeout_ms = timeout_ms;
    CHECK_RC(lepton_client_open(&e->c, &o), LEPTON_OK);
    CHECK_RC(lepton_lease_open(e->c, &(lepton_lease_request)LEPTON_LEASE_REQUEST_INIT, &e->l), LEPTON_OK);
}

static void env_close(env *e) {
    if (e->l) lepton_lease_close(e->l);
    lepton_client_close(e->c);
    fb_stop(e->fb);
    for (int i = 0; i < 2; i++)
        fw_stop(e->w[i]);
    free(e->m);
}

static const char image[] =
    ".version 8.0\n.target sm_80\n.visible .entry add_one(.param .u64 p, .param .u32 n) {}\n";

/* sha256 of `image`, computed the way the library does (through a module the fake records). */
static lepton_module *load(env *e) {
    lepton_module *m = NULL;
    CHECK_RC(lepton_module_load(e->l, image, sizeof image - 1, &m), LEPTON_OK);
    return m;
}

static lepton_task *submit(lepton_lease *l, uint32_t gpu, const lepton_step *steps, size_t n) {
    lepton_job job = LEPTON_JOB_INIT;
    job.gpu = gpu;
    job.steps = steps;
    job.step_count = n;
    lepton_task *t = NULL;
    CHECK_RC(lepton_submit(l, &job, &t), LEPTON_OK);
    return t;
}

static lepton_launch launch_of(lepton_module *m, const char *fn, const lepton_arg *args, size_t n) {
    lepton_launch L = {m, fn, {1, 0, 0}, {1, 0, 0}, 0, args, n};
    return L;
}

/* ---- cases ---- */

static void module_upload(void) {
    env e;
    env_open(&e, 2, 0, 0);
    /* GPU 1's worker has the image already: it gets a GET only; GPU 0 gets GET + PUT. */
    lepton_module *probe = load(&e);
    fw_counts c0 = fw_get_counts(e.w[0]), c1 = fw_get_counts(e.w[1]);
    CHECK(c0.module_gets == 1 && c0.module_puts == 1);
    CHECK(c1.module_gets == 1 && c1.module_puts == 1);
    CHECK(c0.unauthorized == 0 && c1.unauthorized == 0); /* the lease token is sent */
    lepton_module_free(probe);                           /* unloads it from both */
    c0 = fw_get_counts(e.w[0]);
    c1 = fw_get_counts(e.w[1]);
    CHECK(c0.module_deletes == 1 && c1.module_deletes == 1);

    /* Now preload it on GPU 1 only (its sha from the descriptor of a job, below). */
    lepton_module *m = load(&e);
    lepton_buffer *b;
    CHECK_RC(lepton_buffer_alloc(e.l, 0, 64, &b), LEPTON_OK);
    uint32_t n = 4;
    lepton_arg args[2] = {LEPTON_ARG_BUF(b), LEPTON_ARG_VAL(n)};
    lepton_launch L = launch_of(m, "add_one", args, 2);
    lepton_step s = {LEPTON_STEP_LAUNCH, NULL, 0, NULL, 0, &L};
    lepton_task *t = submit(e.l, 0, &s, 1);
    CHECK_RC(lepton_wait(t, -1), LEPTON_OK);
    lepton_task_free(t);
    char desc[8192], sha[65] = "";
    fw_last_descriptor(e.w[0], desc, sizeof desc);
    const char *p = strstr(desc, "\"module\":\"");
    if (p) snprintf(sha, sizeof sha, "%.64s", p + 10);
    CHECK(strlen(sha) == 64);
    lepton_module_free(m);
    fw_add_module(e.w[1], sha);
    c0 = fw_get_counts(e.w[0]);
    c1 = fw_get_counts(e.w[1]);
    m = load(&e);
    fw_counts d0 = fw_get_counts(e.w[0]), d1 = fw_get_counts(e.w[1]);
    CHECK(d0.module_gets == c0.module_gets + 1 && d0.module_puts == c0.module_puts + 1);
    CHECK(d1.module_gets == c1.module_gets + 1 && d1.module_puts == c1.module_puts); /* skipped */

    /* The same image again on the lease: no request at all. */
    lepton_module *m2 = load(&e);
    fw_counts f0 = fw_get_counts(e.w[0]), f1 = fw_get_counts(e.w[1]);
    CHECK(f0.requests == d0.requests && f1.requests == d1.requests);
    lepton_module_free(m2); /* m still holds it: nothing unloaded */
    CHECK(fw_get_counts(e.w[0]).module_deletes == d0.module_deletes);

    /* A JIT failure: ECUDA with the log. */
    static const char bad[] = ".version 8.0\nthis is a syntax error\n";
    lepton_module *mb = (lepton_module *)&mb;
    CHECK_RC(lepton_module_load(e.l, bad, sizeof bad - 1, &mb), LEPTON_ECUDA);
    CHECK_LAST_ERROR("CUDA_ERROR_INVALID_PTX");
    CHECK_LAST_ERROR("syntax error");
    CHECK(mb == NULL);
    CHECK_RC(lepton_module_load(e.l, bad, 0, &mb), LEPTON_EINVAL);
    CHECK_RC(lepton_module_load(e.l, NULL, 3, &mb), LEPTON_EINVAL);
    CHECK_RC(lepton_module_load(NULL, bad, 3, &mb), LEPTON_EINVAL);
    /* m and b are freed by the lease's close (ASan would see a leak otherwise). */
    env_close(&e);
}

static void param_checks(void) {
    env e;
    env_open(&e, 2, 0, 0);
    lepton_module *m = load(&e);
    lepton_buffer *b, *b1;
    CHECK_RC(lepton_buffer_alloc(e.l, 0, 64, &b), LEPTON_OK);
    CHECK_RC(lepton_buffer_alloc(e.l, 1, 64, &b1), LEPTON_OK);
    int sent0 = fw_get_counts(e.w[0]).requests, sent1 = fw_get_counts(e.w[1]).requests;
    uint32_t n = 4;
    uint64_t wide = 4;
    lepton_task *t = (lepton_task *)&t;
    lepton_job job = LEPTON_JOB_INIT;
    lepton_arg args[3] = {LEPTON_ARG_BUF(b), LEPTON_ARG_VAL(n), LEPTON_ARG_VAL(n)};
    lepton_launch L = launch_of(m, "add_one", args, 2);
    lepton_step s = {LEPTON_STEP_LAUNCH, NULL, 0, NULL, 0, &L};
    job.steps = &s;
    job.step_count = 1;
#define BAD(edit, want, mention)                                                                             \
    do {                                                                                                     \
        lepton_arg a_[3] = {LEPTON_ARG_BUF(b), LEPTON_ARG_VAL(n), LEPTON_ARG_VAL(n)};                        \
        memcpy(args, a_, sizeof a_);                                                                         \
        L = launch_of(m, "add_one", args, 2);                                                                \
        s = (lepton_step){LEPTON_STEP_LAUNCH, NULL, 0, NULL, 0, &L};                                         \
        job = (lepton_job)LEPTON_JOB_INIT;                                                                   \
        job.steps = &s;                                                                                      \
        job.step_count = 1;                                                                                  \
        edit;                                                                                                \
        t = (lepton_task *)&t;                                                                               \
        CHECK_RC(lepton_submit(e.l, &job, &t), want);                                                        \
        CHECK_LAST_ERROR(mention);                                                                           \
        CHECK(t == NULL);                                                                                    \
    } while (0)
    BAD(L.arg_count = 3, LEPTON_EINVAL, "kernel add_one takes 2 arguments; 3 given");
    BAD(L.arg_count = 1, LEPTON_EINVAL, "kernel add_one takes 2 arguments; 1 given");
    BAD(args[1] = LEPTON_ARG_VAL(wide), LEPTON_EINVAL,
        "kernel add_one: argument 1 has 8 bytes; the kernel's parameter 1 has 4 bytes");
    BAD(args[1] = LEPTON_ARG_BUF(b), LEPTON_EINVAL,
        "argument 1 is a buffer (an 8-byte device pointer) but the kernel's parameter 1 has 4 bytes");
    BAD(args[0] = LEPTON_ARG_VAL(n), LEPTON_EINVAL,
        "argument 0 has 4 bytes; the kernel's parameter 0 has 8 bytes");
    BAD(args[0].buffer = b1, LEPTON_EINVAL, "is on GPU 1 of the lease; the job runs on GPU 0");
    BAD(args[0].buffer = NULL, LEPTON_EINVAL, "argument 0's buffer is NULL");
    BAD(args[0].offset = 65, LEPTON_EINVAL, "offset 65 is past the end");
    BAD(args[1].kind = 7, LEPTON_EINVAL, "argument 1 has kind 7");
    BAD(args[1].value = NULL, LEPTON_EINVAL, "value is NULL");
    BAD(L.function = "nope", LEPTON_ENOTFOUND, "no kernel named \"nope\"");
    BAD(L.function = NULL, LEPTON_EINVAL, "launch->function is NULL");
    BAD(L.module = NULL, LEPTON_EINVAL, "launch->module is NULL");
    BAD(s.launch = NULL, LEPTON_EINVAL, "its launch is NULL");
    BAD(s.kind = 9, LEPTON_EINVAL, "step 0 has kind 9");
    BAD(job.version = 0, LEPTON_EINVAL, "job->version 0");
    BAD(job.version = 2, LEPTON_EINVAL, "job->version 2");
    BAD(job.gpu = 2, LEPTON_EINVAL, "job->gpu 2 is not a GPU of the lease (it has 2: 0 to 1)");
    BAD(job.step_count = 0, LEPTON_EINVAL, "job->step_count is 0");
    BAD(job.steps = NULL, LEPTON_EINVAL, "job->steps is NULL");
    char host[128];
    BAD((s = (lepton_step){LEPTON_STEP_WRITE, b, 60, host, 8, NULL}), LEPTON_EINVAL,
        "step 0: offset 60 + size 8 is past the end of buffer 1 (64 bytes)");
    BAD((s = (lepton_step){LEPTON_STEP_READ, b, 0, NULL, 8, NULL}), LEPTON_EINVAL, "step 0: host is NULL");
    BAD((s = (lepton_step){LEPTON_STEP_READ, b1, 0, host, 8, NULL}), LEPTON_EINVAL, "is on GPU 1");
#undef BAD
    CHECK_RC(lepton_submit(NULL, &job, &t), LEPTON_EINVAL);
    CHECK_RC(lepton_submit(e.l, NULL, &t), LEPTON_EINVAL);
    CHECK_RC(lepton_submit(e.l, &job, NULL), LEPTON_EINVAL);
    /* Nothing above reached a worker. */
    CHECK(fw_get_counts(e.w[0]).requests == sent0);
    CHECK(fw_get_counts(e.w[1]).requests == sent1);

    /* Buffers: bad arguments. */
    lepton_buffer *x = (lepton_buffer *)&x;
    CHECK_RC(lepton_buffer_alloc(e.l, 2, 64, &x), LEPTON_EINVAL);
    CHECK_LAST_ERROR("gpu 2 is not a GPU of the lease");
    CHECK(x == NULL);
    CHECK_RC(lepton_buffer_alloc(e.l, 0, 0, &x), LEPTON_EINVAL);
    CHECK_LAST_ERROR("size is 0");
    CHECK_RC(lepton_buffer_write(b, 60, host, 8), LEPTON_EINVAL);
    CHECK_LAST_ERROR("offset 60 + size 8 is past the end of buffer 1 (64 bytes)");
    CHECK_RC(lepton_buffer_read(b, 0, NULL, 8), LEPTON_EINVAL);
    CHECK_LAST_ERROR("dst is NULL");
    CHECK_RC(lepton_buffer_write(NULL, 0, host, 8), LEPTON_EINVAL);
    CHECK(fw_get_counts(e.w[0]).requests == sent0);
    /* The device says no: ENOMEM. */
    CHECK_RC(lepton_buffer_alloc(e.l, 0, (size_t)1 << 40, &x), LEPTON_ENOMEM);
    CHECK_LAST_ERROR("not that much free");
    env_close(&e);
}

static void buffer_roundtrip(void) {
    env e;
    env_open(&e, 1, 0, 0);
    size_t n = 8u << 20;
    unsigned char *src = malloc(n), *dst = malloc(n);
    for (size_t i = 0; i < n; i++)
        src[i] = (unsigned char)(i * 2654435761u >> 13);
    lepton_buffer *b;
    CHECK_RC(lepton_buffer_alloc(e.l, 0, n, &b), LEPTON_OK);
    CHECK_RC(lepton_buffer_write(b, 0, src, n), LEPTON_OK);
    memset(dst, 0, n);
    CHECK_RC(lepton_buffer_read(b, 0, dst, n), LEPTON_OK);
    CHECK(memcmp(src, dst, n) == 0);
    /* Part of it, at an offset. */
    memset(dst, 0, n);
    CHECK_RC(lepton_buffer_read(b, 12345, dst, 1000), LEPTON_OK);
    CHECK(memcmp(src + 12345, dst, 1000) == 0);
    CHECK_RC(lepton_buffer_write(b, 100, "abc", 3), LEPTON_OK);
    CHECK_RC(lepton_buffer_read(b, 99, dst, 5), LEPTON_OK);
    CHECK(dst[0] == src[99] && !memcmp(dst + 1, "abc", 3) && dst[4] == src[103]);
    CHECK_RC(lepton_buffer_write(b, 0, src, 0), LEPTON_OK); /* nothing to do */
    fw_counts c = fw_get_counts(e.w[0]);
    CHECK(c.buffer_writes == 2 && c.buffer_reads == 3);
    CHECK(c.connections == 1); /* one keep-alive connection for all of it */
    lepton_buffer_free(b);
    CHECK(fw_get_counts(e.w[0]).buffer_frees == 1);
    lepton_buffer_free(NULL);
    free(src);
    free(dst);
    env_close(&e);
}

static void job_roundtrip(void) {
    env e;
    env_open(&e, 1, 0, 0);
    lepton_module *m = load(&e);
    lepton_buffer *b;
    CHECK_RC(lepton_buffer_alloc(e.l, 0, 8192, &b), LEPTON_OK);
    unsigned char in[4096], out[4096], out2[100];
    for (int i = 0; i < 4096; i++)
        in[i] = (unsigned char)(i % 251);
    uint32_t n = 4000;
    lepton_arg args[2] = {LEPTON_ARG_BUF(b), LEPTON_ARG_VAL(n)};
    args[0].offset = 1000;
    lepton_launch L = launch_of(m, "add_one", args, 2);
    lepton_step steps[4] = {
        {LEPTON_STEP_WRITE, b, 1000, in, sizeof in, NULL},
        {LEPTON_STEP_LAUNCH, NULL, 0, NULL, 0, &L},
        {LEPTON_STEP_READ, b, 1000, out, sizeof out, NULL},
        {LEPTON_STEP_READ, b, 0, out2, sizeof out2, NULL},
    };
    memset(out, 0, sizeof out);
    memset(out2, 0xee, sizeof out2);
    lepton_task *t = submit(e.l, 0, steps, 4);
    CHECK_RC(lepton_wait(t, -1), LEPTON_OK);
    for (int i = 0; i < 4096; i++)
        if (out[i] != (unsigned char)(i < 4000 ? in[i] + 1 : in[i])) {
            CHECK(!"READ data differs");
            break;
        }
    for (int i = 0; i < 100; i++)
        CHECK(out2[i] == 0);
    lepton_task_info info = LEPTON_TASK_INFO_INIT;
    CHECK_RC(lepton_task_get_info(t, &info), LEPTON_OK);
    CHECK(info.state == LEPTON_TASK_DONE && info.status == LEPTON_OK);
    CHECK(info.queued_ns > 0 && info.started_ns >= info.queued_ns && info.ended_ns >= info.started_ns);
    CHECK(info.error[0] == '\0');
    info.version = 0;
    CHECK_RC(lepton_task_get_info(t, &info), LEPTON_EINVAL);
    CHECK_LAST_ERROR("out->version 0");
    CHECK_RC(lepton_wait(t, 0), LEPTON_OK); /* again: still done */
    lepton_task_free(t);
    /* The descriptor as docs/dataplane.md spells it. */
    char desc[8192];
    fw_last_descriptor(e.w[0], desc, sizeof desc);
    CHECK(strstr(desc, "{\"write\":{\"buffer\":1,\"offset\":1000,\"size\":4096}}") != NULL);
    CHECK(strstr(desc, "\"function\":\"add_one\",\"grid\":[1,1,1],\"block\":[1,1,1],\"shared\":0,"
                       "\"args\":[{\"buffer\":1,\"offset\":1000},{\"value\":\"oA8AAA==\"}]") != NULL);
    CHECK(strstr(desc, "{\"read\":{\"buffer\":1,\"offset\":0,\"size\":100}}") != NULL);
    CHECK(!strncmp(desc, "{\"seq\":1,", 9));

    /* A CUDA error: ECUDA, the driver's name in the message and in the task's error. */
    lepton_launch F = launch_of(m, "fault", NULL, 0);
    lepton_step fs[2] = {{LEPTON_STEP_LAUNCH, NULL, 0, NULL, 0, &F},
                         {LEPTON_STEP_READ, b, 0, out2, 10, NULL}};
    t = submit(e.l, 0, fs, 2);
    CHECK_RC(lepton_wait(t, -1), LEPTON_ECUDA);
    CHECK_LAST_ERROR("CUDA_ERROR_ILLEGAL_ADDRESS");
    CHECK_LAST_ERROR("step 0");
    CHECK_RC(lepton_task_get_info(t, &(lepton_task_info)LEPTON_TASK_INFO_INIT), LEPTON_OK);
    info = (lepton_task_info)LEPTON_TASK_INFO_INIT;
    lepton_task_get_info(t, &info);
    CHECK(info.state == LEPTON_TASK_FAILED && info.status == LEPTON_ECUDA);
    CHECK(strstr(info.error, "CUDA_ERROR_ILLEGAL_ADDRESS") != NULL);
    lepton_task_free(t);
    CHECK_RC(lepton_wait(NULL, 0), LEPTON_EINVAL);
    CHECK_RC(lepton_task_get_info(NULL, &info), LEPTON_EINVAL);
    lepton_task_free(NULL);
    env_close(&e);
}

/* Many threads submit to one GPU: the worker sees seqs 1..N, each once, and every thread's jobs
 * in the order that thread submitted them. */
#define SEQ_THREADS 8
#define SEQ_JOBS 60
static env seq_env;
static lepton_buffer *seq_buf;
static atomic_int seq_failures;
static void *seq_thread(void *arg) {
    uint64_t id = (uint64_t)(uintptr_t)arg;
    uint64_t tags[SEQ_JOBS];
    lepton_task *tasks[SEQ_JOBS];
    for (int i = 0; i < SEQ_JOBS; i++) {
        tags[i] = id << 32 | (uint64_t)i;
        lepton_step s = {LEPTON_STEP_WRITE, seq_buf, id * 8, &tags[i], 8, NULL};
        lepton_job job = LEPTON_JOB_INIT;
        job.steps = &s;
        job.step_count = 1;
        if (lepton_submit(seq_env.l, &job, &tasks[i])) {
            seq_failures++;
            tasks[i] = NULL;
        }
    }
    for (int i = 0; i < SEQ_JOBS; i++) {
        if (!tasks[i]) continue;
        if (i % 3 == 0) { /* some are freed without waiting: they still run */
            lepton_task_free(tasks[i]);
            continue;
        }
        if (lepton_wait(tasks[i], -1)) seq_failures++;
        lepton_task_free(tasks[i]);
    }
    return NULL;
}
static void seq_threads(void) {
    env_open(&seq_env, 1, 0, 0);
    CHECK_RC(lepton_buffer_alloc(seq_env.l, 0, 8 * SEQ_THREADS, &seq_buf), LEPTON_OK);
    pthread_t th[SEQ_THREADS];
    for (int i = 0; i < SEQ_THREADS; i++)
        pthread_create(&th[i], NULL, seq_thread, (void *)(uintptr_t)i);
    for (int i = 0; i < SEQ_THREADS; i++)
        pthread_join(th[i], NULL);
    CHECK(seq_failures == 0);
    /* The jobs freed unwaited may still be running: a last job behind them all. */
    lepton_step s = {LEPTON_STEP_READ, seq_buf, 0, (uint64_t[1]){0}, 8, NULL};
    lepton_task *t = submit(seq_env.l, 0, &s, 1);
    CHECK_RC(lepton_wait(t, -1), LEPTON_OK);
    lepton_task_free(t);
    int total = SEQ_THREADS * SEQ_JOBS + 1;
    uint64_t *seqs = calloc((size_t)total, 8), *tags = calloc((size_t)total, 8);
    int n = fw_executed(seq_env.w[0], seqs, tags, total);
    CHECK(n == total);
    uint64_t last[SEQ_THREADS];
    memset(last, 0xff, sizeof last);
    for (int i = 0; i < n; i++) {
        if (seqs[i] != (uint64_t)i + 1) {
            fprintf(stderr, "execution %d has seq %llu\n", i, (unsigned long long)seqs[i]);
            CHECK(!"seqs run 1..N in order");
            break;
        }
        if (i == n - 1) break; /* the last READ job has no tag */
        uint64_t th_id = tags[i] >> 32, idx = tags[i] & 0xffffffff;
        CHECK(th_id < SEQ_THREADS);
        if (th_id >= SEQ_THREADS) break;
        CHECK(last[th_id] == UINT64_MAX ? idx == 0 : idx == last[th_id] + 1);
        last[th_id] = idx;
    }
    fw_counts c = fw_get_counts(seq_env.w[0]);
    CHECK(c.connections <= 8 + 1); /* ≤ 8 for jobs, 1 for the blocking calls */
    fprintf(stderr, "seq_threads: %d jobs on %d connections\n", c.jobs, c.connections);
    free(seqs);
    free(tags);
    env_close(&seq_env);
}

/* Small jobs queued behind requests on the wire travel together (POST /v1/jobs/batch): each
 * job's result reaches its own task, a failing job fails alone, a batch refused while the worker
 * starts is sent again, and a worker that dies under a batch fails its jobs at once. */
#define NB 40
static void batches(void) {
    env e;
    env_open(&e, 1, 5000, 0);
    lepton_module *m = load(&e);
    lepton_buffer *b;
    CHECK_RC(lepton_buffer_alloc(e.l, 0, 4 * NB, &b), LEPTON_OK);
    uint32_t ms = 200;
    lepton_arg sa[1] = {LEPTON_ARG_VAL(ms)};
    lepton_launch S = launch_of(m, "sleep", sa, 1);
    lepton_launch F = launch_of(m, "fault", NULL, 0);
    lepton_launch C = launch_of(m, "crash", NULL, 0);
    uint32_t vals[NB], outs[NB];
    lepton_step steps[NB][2];
    lepton_task *t[NB];
    /* Job 0 sleeps (alone on the wire), job 1 goes alone too, 2.. wait and then go together. */
    steps[0][0] = (lepton_step){LEPTON_STEP_LAUNCH, NULL, 0, NULL, 0, &S};
    t[0] = submit(e.l, 0, steps[0], 1);
    for (int i = 1; i < NB; i++) {
        vals[i] = (uint32_t)i * 7 + 1;
        outs[i] = 0;
        if (i == 20)
            steps[i][0] = (lepton_step){LEPTON_STEP_LAUNCH, NULL, 0, NULL, 0, &F};
        else
            steps[i][0] = (lepton_step){LEPTON_STEP_WRITE, b, 4u * (uint64_t)i, &vals[i], 4, NULL};
        steps[i][1] = (lepton_step){LEPTON_STEP_READ, b, 4u * (uint64_t)i, &outs[i], 4, NULL};
        t[i] = submit(e.l, 0, steps[i], 2);
    }
    for (int i = 0; i < NB; i++) {
        if (i == 20) {
            CHECK_RC(lepton_wait(t[i], -1), LEPTON_ECUDA);
            CHECK_LAST_ERROR("CUDA_ERROR_ILLEGAL_ADDRESS");
        } else {
            CHECK_RC(lepton_wait(t[i], -1), LEPTON_OK);
            if (i) CHECK(outs[i] == vals[i]);
        }
        lepton_task_free(t[i]);
    }
    fw_counts c = fw_get_counts(e.w[0]);
    fprintf(stderr, "batches: %d jobs, %d batches, the largest %d jobs\n", c.jobs, c.batches,
            c.largest_batch);
    CHECK(c.jobs == NB);
    CHECK(c.batches >= 1 && c.largest_batch >= 2);

    /* Refused while the worker starts (503): sent again, each job run once, in order. */
    fw_starting(e.w[0], 4);
    for (int i = 1; i < NB; i++) {
        steps[i][0] = (lepton_step){LEPTON_STEP_WRITE, b, 4u * (uint64_t)i, &vals[i], 4, NULL};
        t[i] = submit(e.l, 0, steps[i], 1);
    }
    for (int i = 1; i < NB; i++) {
        CHECK_RC(lepton_wait(t[i], -1), LEPTON_OK);
        lepton_task_free(t[i]);
    }
    uint64_t seqs[2 * NB + 1], tags[2 * NB + 1];
    int n = fw_executed(e.w[0], seqs, tags, 2 * NB + 1);
    CHECK(n == 2 * NB - 1);
    for (int i = 0; i < n; i++)
        if (seqs[i] != (uint64_t)i + 1) {
            CHECK(!"each job ran once, in seq order");
            break;
        }

    /* The worker dies in the middle of a batch: its jobs fail with ENODELOST, promptly. */
    t[0] = submit(e.l, 0, steps[0], 1); /* sleeps: the next ones queue up */
    for (int i = 1; i < 12; i++) {
        if (i == 6) steps[i][0] = (lepton_step){LEPTON_STEP_LAUNCH, NULL, 0, NULL, 0, &C};
        t[i] = submit(e.l, 0, steps[i], i == 6 ? 1 : 2);
    }
    double t0 = tc_now_ms();
    /* job 0 ran, but the crash (job 6, next in seq order) may close its connection before its answer
     * is out: then it is lost as well, as with a worker process that dies at that moment */
    int rc0 = lepton_wait(t[0], -1);
    if (rc0 != LEPTON_OK && rc0 != LEPTON_ENODELOST) CHECK_RC(rc0, LEPTON_ENODELOST);
    fprintf(stderr, "job 0 (sleeping) before the crash: %s\n", lepton_status_name(rc0));
    c = fw_get_counts(e.w[0]);
    fprintf(stderr, "batches: %d jobs, %d batches, the largest %d jobs\n", c.jobs, c.batches,
            c.largest_batch);
    for (int i = 1; i < 12; i++) {
        int rc = lepton_wait(t[i], -1);
        if (i < 6) {
            if (rc != LEPTON_OK && rc != LEPTON_ENODELOST)
                CHECK_RC(rc, LEPTON_ENODELOST); /* ran, or cut off */
            fprintf(stderr, "job %d before the crash: %s\n", i, lepton_status_name(rc));
        } else {
            CHECK_RC(rc, LEPTON_ENODELOST);
        }
        lepton_task_free(t[i]);
    }
    CHECK(tc_now_ms() - t0 < 3000);
    lepton_task_free(t[0]);
    env_close(&e);
}

/* QUEUED while an earlier job of its GPU is unfinished, RUNNING once it is the node's, then DONE. */
static int state_of(lepton_task *t) {
    lepton_task_info info = LEPTON_TASK_INFO_INIT;
    CHECK_RC(lepton_task_get_info(t, &info), LEPTON_OK);
    return info.state;
}

static void task_states(void) {
    env e;
    env_open(&e, 1, 0, 0);
    lepton_module *m = load(&e);
    uint32_t ms = 300;
    lepton_arg a = LEPTON_ARG_VAL(ms);
    lepton_launch L = launch_of(m, "sleep", &a, 1);
    lepton_step s = {LEPTON_STEP_LAUNCH, NULL, 0, NULL, 0, &L};
    lepton_task *t1 = submit(e.l, 0, &s, 1), *t2 = submit(e.l, 0, &s, 1);
    CHECK(state_of(t1) == LEPTON_TASK_RUNNING);
    CHECK(state_of(t2) == LEPTON_TASK_QUEUED);
    CHECK_RC(lepton_wait(t1, -1), LEPTON_OK);
    CHECK(state_of(t1) == LEPTON_TASK_DONE);
    int st = state_of(t2);
    for (int i = 0; i < 100 && st == LEPTON_TASK_QUEUED; i++) { /* another thread may drive */
        tc_sleep_ms(5);
        st = state_of(t2);
    }
    CHECK(st == LEPTON_TASK_RUNNING);
    CHECK_RC(lepton_wait(t2, -1), LEPTON_OK);
    CHECK(state_of(t2) == LEPTON_TASK_DONE);
    lepton_task_free(t1);
    lepton_task_free(t2);
    env_close(&e);
}

static void wait_timeouts(void) {
    env e;
    env_open(&e, 1, 0, 0);
    lepton_module *m = load(&e);
    uint32_t ms = 300;
    lepton_arg a = LEPTON_ARG_VAL(ms);
    lepton_launch L = launch_of(m, "sleep", &a, 1);
    lepton_step s = {LEPTON_STEP_LAUNCH, NULL, 0, NULL, 0, &L};
    double t0 = tc_now_ms();
    lepton_task *t = submit(e.l, 0, &s, 1);
    CHECK(tc_now_ms() - t0 < 100); /* submit returns once queued */
    CHECK_RC(lepton_wait(t, 0), LEPTON_ETIMEDOUT);
    CHECK_LAST_ERROR("still queued or running");
    double t1 = tc_now_ms();
    CHECK_RC(lepton_wait(t, 50), LEPTON_ETIMEDOUT);
    double took = tc_now_ms() - t1;
    CHECK(took >= 45 && took < 250);
    lepton_task_info info = LEPTON_TASK_INFO_INIT;
    CHECK_RC(lepton_task_get_info(t, &info), LEPTON_OK);
    CHECK(info.state == LEPTON_TASK_QUEUED || info.state == LEPTON_TASK_RUNNING);
    CHECK(info.ended_ns == 0);
    CHECK_RC(lepton_wait(t, -1), LEPTON_OK);
    CHECK(tc_now_ms() - t0 >= 290);
    lepton_task_free(t);
    /* A task freed while it runs keeps running; the next job runs after it. */
    t = submit(e.l, 0, &s, 1);
    lepton_task_free(t);
    ms = 0;
    t = submit(e.l, 0, &s, 1);
    CHECK_RC(lepton_wait(t, 5000), LEPTON_OK);
    CHECK(fw_get_counts(e.w[0]).jobs == 3);
    lepton_task_free(t);
    env_close(&e);
}

static void node_lost(void) {
    env e;
    env_open(&e, 1, 10000, 0);
    lepton_module *m = load(&e);
    lepton_launch L = launch_of(m, "empty", NULL, 0);
    lepton_launch C = launch_of(m, "crash", NULL, 0);
    lepton_step s = {LEPTON_STEP_LAUNCH, NULL, 0, NULL, 0, &L};
    lepton_step c = {LEPTON_STEP_LAUNCH, NULL, 0, NULL, 0, &C};
    lepton_task *t = submit(e.l, 0, &s, 1);
    CHECK_RC(lepton_wait(t, -1), LEPTON_OK);
    lepton_task_free(t);
    /* The worker dies mid-job: ENODELOST at once, not after the 10 s timeout. */
    double t0 = tc_now_ms();
    t = submit(e.l, 0, &c, 1);
    lepton_task *after = submit(e.l, 0, &s, 1);
    CHECK_RC(lepton_wait(t, -1), LEPTON_ENODELOST);
    CHECK_LAST_ERROR("it has failed");
    CHECK_RC(lepton_wait(after, -1), LEPTON_ENODELOST);
    CHECK(tc_now_ms() - t0 < 2000);
    lepton_task_free(t);
    lepton_task_free(after);
    /* Blocking calls too: the refusal of a worker that was up means it failed. */
    lepton_buffer *b = (lepton_buffer *)&b;
    t0 = tc_now_ms();
    CHECK_RC(lepton_buffer_alloc(e.l, 0, 64, &b), LEPTON_ENODELOST);
    CHECK_LAST_ERROR("refused the connection");
    CHECK(tc_now_ms() - t0 < 2000);
    /* A worker that stops answering because the lease ended (the agent stops its workers then):
     * the broker says so, and the calls report EEXPIRED with the reason. */
    e.m->leases[1].open = 0;
    e.m->leases[1].ended = "expired";
    CHECK_RC(lepton_buffer_alloc(e.l, 0, 64, &b), LEPTON_EEXPIRED);
    CHECK_LAST_ERROR("lease ls_1 has ended (ended)");
    t = submit(e.l, 0, &s, 1);
    CHECK_RC(lepton_wait(t, -1), LEPTON_EEXPIRED);
    CHECK_LAST_ERROR("has ended");
    lepton_task_free(t);
    env_close(&e);
}

/* Once lepton_lease_get_info has shown the lease ended, data-plane calls fail with EEXPIRED at
 * once, without asking the worker (which may live a moment longer). */
static void ended_seen(void) {
    env e;
    env_open(&e, 1, 5000, 0);
    lepton_buffer *b;
    CHECK_RC(lepton_buffer_alloc(e.l, 0, 64, &b), LEPTON_OK);
    e.m->leases[1].open = 0;
    e.m->leases[1].ended = "expired";
    lepton_lease_info info = LEPTON_LEASE_INFO_INIT;
    CHECK_RC(lepton_lease_get_info(e.l, &info), LEPTON_OK);
    CHECK(info.state >= LEPTON_LEASE_CLOSED);
    int before = fw_get_counts(e.w[0]).requests;
    lepton_buffer *b2 = NULL;
    CHECK_RC(lepton_buffer_alloc(e.l, 0, 64, &b2), LEPTON_EEXPIRED);
    CHECK_LAST_ERROR("has ended");
    CHECK(b2 == NULL);
    char host[64] = {0};
    CHECK_RC(lepton_buffer_write(b, 0, host, sizeof host), LEPTON_EEXPIRED);
    CHECK_RC(lepton_buffer_read(b, 0, host, sizeof host), LEPTON_EEXPIRED);
    lepton_step s = {LEPTON_STEP_READ, b, 0, host, 64, NULL};
    lepton_job job = LEPTON_JOB_INIT;
    job.steps = &s;
    job.step_count = 1;
    lepton_task *t = NULL;
    CHECK_RC(lepton_submit(e.l, &job, &t), LEPTON_OK); /* a task failed at once */
    CHECK_RC(lepton_wait(t, 0), LEPTON_EEXPIRED);
    CHECK_LAST_ERROR("has ended");
    lepton_task_free(t);
    CHECK(fw_get_counts(e.w[0]).requests == before); /* the worker was not asked */
    env_close(&e);
}

static void buffer_lost(void) {
    env e;
    env_open(&e, 1, 0, 0);
    lepton_buffer *b;
    CHECK_RC(lepton_buffer_alloc(e.l, 0, 64, &b), LEPTON_OK);
    fw_lose_buffer(e.w[0], 1);
    char host[64];
    CHECK_RC(lepton_buffer_read(b, 0, host, 64), LEPTON_ENODELOST);
    CHECK_LAST_ERROR("replaced");
    CHECK_RC(lepton_buffer_write(b, 0, host, 64), LEPTON_ENODELOST);
    lepton_step s = {LEPTON_STEP_READ, b, 0, host, 64, NULL};
    lepton_task *t = submit(e.l, 0, &s, 1);
    CHECK_RC(lepton_wait(t, -1), LEPTON_ENODELOST);
    CHECK_LAST_ERROR("replaced");
    lepton_task_free(t);
    lepton_buffer_free(b); /* 410 on DELETE: gone already, no complaint */
    env_close(&e);
}

static void worker_starting(void) {
    /* 503 worker_starting three times, then it answers. */
    env e;
    env_open(&e, 1, 5000, 0);
    fw_starting(e.w[0], 3);
    lepton_buffer *b;
    CHECK_RC(lepton_buffer_alloc(e.l, 0, 64, &b), LEPTON_OK);
    CHECK(fw_get_counts(e.w[0]).requests == 4);
    fw_starting(e.w[0], 2); /* a job is retried the same way */
    lepton_step s = {LEPTON_STEP_WRITE, b, 0, "12345678", 8, NULL};
    lepton_task *t = submit(e.l, 0, &s, 1);
    CHECK_RC(lepton_wait(t, -1), LEPTON_OK);
    lepton_task_free(t);
    env_close(&e);
    /* Nothing listens for the first 300 ms: refused, retried, then served. */
    env_open(&e, 1, 5000, 300);
    double t0 = tc_now_ms();
    lepton_module *m = load(&e);
    CHECK(tc_now_ms() - t0 >= 250);
    lepton_launch L = launch_of(m, "empty", NULL, 0);
    lepton_step ls = {LEPTON_STEP_LAUNCH, NULL, 0, NULL, 0, &L};
    t = submit(e.l, 0, &ls, 1);
    CHECK_RC(lepton_wait(t, -1), LEPTON_OK);
    lepton_task_free(t);
    env_close(&e);
    /* A worker that never comes up: ENODELOST after the client's timeout. */
    env_open(&e, 1, 400, 100000);
    t0 = tc_now_ms();
    CHECK_RC(lepton_buffer_alloc(e.l, 0, 64, &b), LEPTON_ENODELOST);
    CHECK_LAST_ERROR("did not come up within 400 ms");
    CHECK(tc_now_ms() - t0 >= 300 && tc_now_ms() - t0 < 2000);
    env_close(&e);
}

static void queue_full(void) {
    /* 503 queue_full (a worker holding too many bytes of waiting jobs): the job is sent again
     * after a back-off and succeeds; each request names its seq in Lepton-Job-Seq. */
    env e;
    env_open(&e, 1, 5000, 0);
    lepton_buffer *b;
    CHECK_RC(lepton_buffer_alloc(e.l, 0, 64, &b), LEPTON_OK);
    fw_queue_full(e.w[0], 3);
    lepton_step s = {LEPTON_STEP_WRITE, b, 0, "12345678", 8, NULL};
    lepton_task *t = submit(e.l, 0, &s, 1);
    CHECK_RC(lepton_wait(t, -1), LEPTON_OK);
    lepton_task_free(t);
    fw_counts c = fw_get_counts(e.w[0]);
    CHECK(c.refused == 3);
    CHECK(c.jobs == 1); /* run once */
    CHECK(c.last_seq_header == 1);
    char back[8] = "";
    CHECK_RC(lepton_buffer_read(b, 0, back, 8), LEPTON_OK);
    CHECK(!memcmp(back, "12345678", 8));
    /* a queue that stays full: the job fails with the worker's message after the client's timeout */
    env_close(&e);
    env_open(&e, 1, 400, 0);
    CHECK_RC(lepton_buffer_alloc(e.l, 0, 64, &b), LEPTON_OK);
    fw_queue_full(e.w[0], 1000000);
    lepton_step s2 = {LEPTON_STEP_WRITE, b, 0, "12345678", 8, NULL};
    double t0 = tc_now_ms();
    t = submit(e.l, 0, &s2, 1);
    CHECK_RC(lepton_wait(t, 3000), LEPTON_ENOCAPACITY); /* the job's own deadline ends it */
    CHECK_LAST_ERROR("too many bytes of jobs");
    CHECK(tc_now_ms() - t0 >= 300 && tc_now_ms() - t0 < 3000);
    lepton_task_free(t);
    env_close(&e);
}

static void worker_restarting(void) {
    /* 503 worker_restarting (after a sticky CUDA error): buffer calls and jobs wait and then work. */
    env e;
    env_open(&e, 1, 5000, 0);
    lepton_module *m = load(&e);
    fw_restarting(e.w[0], 3);
    lepton_buffer *b;
    CHECK_RC(lepton_buffer_alloc(e.l, 0, 64, &b), LEPTON_OK);
    CHECK(fw_get_counts(e.w[0]).refused == 3);
    fw_restarting(e.w[0], 2);
    lepton_launch L = launch_of(m, "empty", NULL, 0);
    lepton_step ls = {LEPTON_STEP_LAUNCH, NULL, 0, NULL, 0, &L};
    lepton_task *t = submit(e.l, 0, &ls, 1);
    CHECK_RC(lepton_wait(t, -1), LEPTON_OK);
    lepton_task_free(t);
    CHECK(fw_get_counts(e.w[0]).refused == 5);
    env_close(&e);
}

static void close_in_flight(void) {
    env e;
    env_open(&e, 1, 0, 0);
    lepton_module *m = load(&e);
    uint32_t ms = 2000;
    lepton_arg a = LEPTON_ARG_VAL(ms);
    lepton_launch L = launch_of(m, "sleep", &a, 1);
    lepton_step s = {LEPTON_STEP_LAUNCH, NULL, 0, NULL, 0, &L};
    lepton_task *t[20];
    for (int i = 0; i < 20; i++)
        t[i] = submit(e.l, 0, &s, 1);
    lepton_task_free(t[19]); /* freed while pending: the close must not leak it */
    usleep(100 * 1000);
    double t0 = tc_now_ms();
    CHECK_RC(lepton_lease_close(e.l), LEPTON_OK);
    e.l = NULL;
    CHECK(tc_now_ms() - t0 < 1000); /* does not wait for the 2 s kernel */
    int expired = 0, canceled = 0;
    for (int i = 0; i < 19; i++) {
        int rc = lepton_wait(t[i], 0);
        CHECK(rc == LEPTON_EEXPIRED || rc == LEPTON_ECANCELED);
        lepton_task_info info = LEPTON_TASK_INFO_INIT;
        CHECK_RC(lepton_task_get_info(t[i], &info), LEPTON_OK);
        if (rc == LEPTON_EEXPIRED) {
            expired++;
            CHECK(info.state == LEPTON_TASK_FAILED);
        } else if (rc == LEPTON_ECANCELED) {
            canceled++;
            CHECK(info.state == LEPTON_TASK_CANCELED);
        }
        lepton_task_free(t[i]);
    }
    CHECK(expired >= 1 && expired <= 8 && canceled >= 11);
    env_close(&e);
}

/* lepton_client_close with jobs in flight and handles open: every task completes, nothing leaks
 * (ASan), and a module freed while its jobs are pending is not unloaded under them. */
static void client_close_in_flight(void) {
    env e;
    env_open(&e, 1, 0, 0);
    lepton_module *m = load(&e);
    uint32_t ms = 200;
    lepton_arg a = LEPTON_ARG_VAL(ms);
    lepton_launch L = launch_of(m, "sleep", &a, 1);
    lepton_step s = {LEPTON_STEP_LAUNCH, NULL, 0, NULL, 0, &L};
    lepton_task *t1 = submit(e.l, 0, &s, 1);
    lepton_module_free(m); /* t1 still uses it */
    CHECK(fw_get_counts(e.w[0]).module_deletes == 0);
    CHECK_RC(lepton_wait(t1, -1), LEPTON_OK);
    lepton_task_free(t1);
    m = load(&e); /* still on the worker: no PUT */
    CHECK(fw_get_counts(e.w[0]).module_puts == 1);
    L.module = m;
    lepton_buffer *b;
    CHECK_RC(lepton_buffer_alloc(e.l, 0, 64, &b), LEPTON_OK);
    lepton_task *t[5];
    for (int i = 0; i < 5; i++)
        t[i] = submit(e.l, 0, &s, 1);
    lepton_client_close(e.c); /* closes the lease: frees m and b; the tasks end */
    e.c = NULL;
    e.l = NULL;
    for (int i = 0; i < 5; i++) {
        int rc = lepton_wait(t[i], 0);
        CHECK(rc == LEPTON_EEXPIRED || rc == LEPTON_ECANCELED);
        lepton_task_free(t[i]);
    }
    env_close(&e);
}

/* Only data_plane.address: worker i at the address's port + 1 + gpus[i].index. */
static void derived_address(void) {
    fake_worker *w = fw_start(TOKEN, 0, 0);
    char dp[512];
    snprintf(dp, sizeof dp,
             "\"gpus\": [{\"index\": 3, \"uuid\": \"GPU-3\"}], \"data_plane\": {\"address\": "
             "\"http://127.0.0.1:%d\", \"token\": \"%s\"}",
             fw_port(w) - 4, TOKEN);
    fb_mini *mini = calloc(1, sizeof *mini);
    mini->gpu_count = 1;
    mini->data_plane = dp;
    fake_broker *fb = fb_start(fb_mini_handler, mini);
    lepton_client_options o = LEPTON_CLIENT_OPTIONS_INIT;
    o.endpoint = fb_url(fb);
    lepton_client *c;
    lepton_lease *l;
    CHECK_RC(lepton_client_open(&c, &o), LEPTON_OK);
    CHECK_RC(lepton_lease_open(c, &(lepton_lease_request)LEPTON_LEASE_REQUEST_INIT, &l), LEPTON_OK);
    lepton_buffer *b;
    CHECK_RC(lepton_buffer_alloc(l, 0, 16, &b), LEPTON_OK);
    CHECK(fw_get_counts(w).buffer_allocs == 1);
    lepton_client_close(c); /* closes the lease and frees b */
    fb_stop(fb);

    /* No data plane at all: the data-plane calls say so. */
    mini->data_plane = "\"data_plane\": null";
    fb = fb_start(fb_mini_handler, mini);
    o.endpoint = fb_url(fb);
    CHECK_RC(lepton_client_open(&c, &o), LEPTON_OK);
    CHECK_RC(lepton_lease_open(c, &(lepton_lease_request)LEPTON_LEASE_REQUEST_INIT, &l), LEPTON_OK);
    CHECK_RC(lepton_buffer_alloc(l, 0, 16, &b), LEPTON_EPROTO);
    CHECK_LAST_ERROR("no data plane");
    lepton_client_close(c);
    fb_stop(fb);
    fw_stop(w);
    free(mini);
}

/* ---- figures (run by hand: test_client_dp bench) ---- */

static void *echo_main(void *arg) {
    int fd = (int)(intptr_t)arg;
    char ch;
    while (read(fd, &ch, 1) == 1)
        if (write(fd, &ch, 1) != 1) break;
    return NULL;
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* p50 of a 1-byte round trip over a loopback TCP socket pair (the rtt baseline). */
static double tcp_rtt_us(int rounds) {
    int port = 0, ls = tc_listen(&port, 1);
    if (ls < 0) return 0;
    int a = tc_dial(0, port, 0);
    if (a < 0) return 0;
    int b = accept(ls, NULL, NULL);
    int one = 1;
    setsockopt(a, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    setsockopt(b, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    double *v = calloc((size_t)rounds, sizeof *v);
    pthread_t echo;
    pthread_create(&echo, NULL, echo_main, (void *)(intptr_t)b);
    char ch = 'x';
    for (int i = 0; i < rounds; i++) {
        double t0 = tc_now_ms();
        if (write(a, &ch, 1) != 1 || read(a, &ch, 1) != 1) break;
        v[i] = (tc_now_ms() - t0) * 1000;
    }
    close(a);
    pthread_join(echo, NULL);
    close(b);
    close(ls);
    qsort(v, (size_t)rounds, sizeof *v, cmp);
    double p50 = v[rounds / 2];
    free(v);
    return p50;
}

static void bench(void) {
    env e;
    env_open(&e, 1, 0, 0);
    lepton_module *m = load(&e);
    lepton_launch L = launch_of(m, "empty", NULL, 0);
    lepton_step s = {LEPTON_STEP_LAUNCH, NULL, 0, NULL, 0, &L};
    int rounds = 2000;
    double *v = calloc((size_t)rounds, sizeof *v);
    double sub = 0;
    for (int i = 0; i < rounds; i++) {
        double t0 = tc_now_ms();
        lepton_task *t = submit(e.l, 0, &s, 1);
        sub += tc_now_ms() - t0;
        lepton_wait(t, -1);
        lepton_task_free(t);
        v[i] = (tc_now_ms() - t0) * 1000;
    }
    fprintf(stderr, "submit alone: mean %.1f us\n", sub * 1000 / rounds);
    qsort(v, (size_t)rounds, sizeof *v, cmp);
    double base = tcp_rtt_us(rounds);
    {
        /* The blocking path (no I/O thread) for comparison: an 8-byte buffer read. */
        lepton_buffer *b8;
        char x8[8];
        CHECK_RC(lepton_buffer_alloc(e.l, 0, 8, &b8), LEPTON_OK);
        double *r = calloc((size_t)rounds, sizeof *r);
        for (int i = 0; i < rounds; i++) {
            double t0 = tc_now_ms();
            lepton_buffer_read(b8, 0, x8, 8);
            r[i] = (tc_now_ms() - t0) * 1000;
        }
        qsort(r, (size_t)rounds, sizeof *r, cmp);
        fprintf(stderr, "blocking 8-byte buffer read: p50 %.1f us\n", r[rounds / 2]);
        free(r);
    }
    fprintf(stderr,
            "rtt: submit+wait p50 %.1f us, p99 %.1f us; TCP 1-byte round trip p50 %.1f us; ratio %.2f\n",
            v[rounds / 2], v[rounds * 99 / 100], base, v[rounds / 2] / base);
    /* pipeline: 64 in flight vs 1 */
    lepton_task *ts[64];
    double t0 = tc_now_ms();
    int jobs = 0;
    for (int r = 0; r < 50; r++) {
        for (int i = 0; i < 64; i++)
            ts[i] = submit(e.l, 0, &s, 1);
        for (int i = 0; i < 64; i++) {
            lepton_wait(ts[i], -1);
            lepton_task_free(ts[i]);
        }
        jobs += 64;
    }
    double per64 = jobs / ((tc_now_ms() - t0) / 1000);
    fprintf(stderr, "pipeline: %d connections to the worker so far\n", fw_get_counts(e.w[0]).connections);
    fprintf(stderr, "pipeline: %.0f jobs/s with 64 in flight, %.0f with 1 (x%.2f)\n", per64,
            1e6 / v[rounds / 2], per64 / (1e6 / v[rounds / 2]));
    size_t n = 256u << 20;
    char *buf = malloc(n);
    memset(buf, 7, n);
    lepton_buffer *b;
    CHECK_RC(lepton_buffer_alloc(e.l, 0, n, &b), LEPTON_OK);
    t0 = tc_now_ms();
    CHECK_RC(lepton_buffer_write(b, 0, buf, n), LEPTON_OK);
    double up = (double)n / ((tc_now_ms() - t0) / 1000) / 1e9;
    t0 = tc_now_ms();
    CHECK_RC(lepton_buffer_read(b, 0, buf, n), LEPTON_OK);
    double down = (double)n / ((tc_now_ms() - t0) / 1000) / 1e9;
    fprintf(stderr, "upload %.2f GB/s, download %.2f GB/s (256 MiB; the fake worker copies whole bodies)\n",
            up, down);
    free(buf);
    free(v);
    env_close(&e);
}

int main(int argc, char **argv) {
    static const check_case cases[] = {
        {"module_upload", module_upload},
        {"param_checks", param_checks},
        {"buffer_roundtrip", buffer_roundtrip},
        {"job_roundtrip", job_roundtrip},
        {"seq_threads", seq_threads},
        {"batches", batches},
        {"task_states", task_states},
        {"ended_seen", ended_seen},
        {"wait_timeouts", wait_timeouts},
        {"node_lost", node_lost},
        {"buffer_lost", buffer_lost},
        {"worker_starting", worker_starting},
        {"queue_full", queue_full},
        {"worker_restarting", worker_restarting},
        {"close_in_flight", close_in_flight},
        {"client_close_in_flight", client_close_in_flight},
        {"derived_address", derived_address},
    };
    if (argc > 1 && !strcmp(argv[1], "rtt")) { /* only the round trip, for profiling */
        env e;
        env_open(&e, 1, 0, 0);
        lepton_module *m = load(&e);
        lepton_launch L = launch_of(m, "empty", NULL, 0);
        lepton_step s = {LEPTON_STEP_LAUNCH, NULL, 0, NULL, 0, &L};
        int rounds = argc > 2 ? atoi(argv[2]) : 20000;
        double *v = calloc((size_t)rounds, sizeof *v), sub = 0;
        for (int i = 0; i < rounds; i++) {
            double t0 = tc_now_ms();
            lepton_task *t = submit(e.l, 0, &s, 1);
            sub += tc_now_ms() - t0;
            lepton_wait(t, -1);
            lepton_task_free(t);
            v[i] = (tc_now_ms() - t0) * 1000;
        }
        qsort(v, (size_t)rounds, sizeof *v, cmp);
        fprintf(stderr, "rtt p50 %.1f us (submit mean %.1f us), TCP %.1f us\n", v[rounds / 2],
                sub * 1000 / rounds, tcp_rtt_us(2000));
        free(v);
        env_close(&e);
        return 0;
    }
    if (argc > 1 && !strcmp(argv[1], "bench")) {
        bench();
        return check_failures ? 1 : 0;
    }
    return check_main(argc, argv, cases, sizeof cases / sizeof cases[0], NULL, NULL);
}
