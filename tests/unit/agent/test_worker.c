/* test_worker.c — a lepton-worker process against the CPU driver, over raw HTTP: info, buffers
 * (a few MiB round trip with a pattern), modules (PTX upload, content addressing, JIT errors), jobs
 * (write + launch + read with checked results, seq order, retries, argument checks), batches of
 * jobs (POST /v1/jobs/batch: per-job results, retries, request-level faults), tokens
 * (401/403), oversized and malformed bodies (4xx, worker still healthy), and a sticky CUDA error
 * (the worker exits 3; a replacement reloads the module and answers 410 for lost buffers), the
 * poisoned worker's answers in between (503 worker_restarting to everything, the jobs queued behind
 * the fault included, whose seqs the replacement then runs), and the bound on the bytes of queued
 * jobs (--job-queue-bytes: 503 queue_full before the body is read, the due job always taken).
 *
 *   test_worker WORKER_EXE CUDAEMU_LIBCUDA PTX_FILE */
#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "cuda_api.h"
#include "http.h"
#include "lease_token.h"
#include "rand.h"
#include "sha256.h"
#include "worker_fixture.h"

static int g_port;
static char g_auth[2048];
static const char *g_queue_bytes; /* --job-queue-bytes of the workers started next (NULL: the default) */

typedef tc_http_resp resp; /* status -1: no answer */

/* One request; auth NULL = g_auth, "" = none. */
static resp req(const char *method, const char *path, const void *body, size_t len, const char *ctype,
                const char *auth) {
    char url[600];
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", g_port, path);
    tc_http_req q = {.method = method,
                     .url = url,
                     .auth = auth ? auth : g_auth,
                     .content_type = ctype,
                     .body = body,
                     .body_len = len,
                     .timeout_ms = 120000,
                     .expect = TC_EXPECT_NEVER};
    resp r;
    if (tc_http(NULL, &q, &r) != 0) r.status = -1;
    return r;
}

static json_t *as_json(const resp *r) { return json_loadb(r->body, r->len, 0, NULL); }

static const char *err_code(const resp *r, char *buf, size_t n) {
    json_t *j = as_json(r);
    snprintf(buf, n, "%s", json_string_value(json_object_get(json_object_get(j, "error"), "code")) ?: "");
    json_decref(j);
    return buf;
}

/* Raw request head with a Content-Length but (almost) no body: the answer must come early. */
static long raw_status(const char *head) { return tc_http_ask(g_port, head, strlen(head), 10000); }

#define BATCH_MAX 256 /* jobs of one POST /v1/jobs/batch */

/* Job framing: u32 LE length + JSON + write bytes. */
static char *job_body(const char *json, const void *data, size_t dlen, size_t *len) {
    size_t n = strlen(json);
    char *b = malloc(4 + n + dlen);
    put_le32(b, n);
    memcpy(b + 4, json, n);
    if (dlen) memcpy(b + 4 + n, data, dlen);
    *len = 4 + n + dlen;
    return b;
}

typedef struct job_result {
    long http;
    json_t *res;
    char *data;
    size_t dlen;
    resp raw;
} job_result;

static job_result run_job(const char *json, const void *data, size_t dlen) {
    size_t len;
    char *b = job_body(json, data, dlen, &len);
    job_result jr = {0};
    jr.raw = req("POST", "/v1/jobs", b, len, "application/octet-stream", NULL);
    free(b);
    jr.http = jr.raw.status;
    if (jr.http == 200 && jr.raw.len >= 4) {
        size_t n = get_le32(jr.raw.body);
        if (4 + n <= jr.raw.len) {
            jr.res = json_loadb(jr.raw.body + 4, n, 0, NULL);
            jr.data = jr.raw.body + 4 + n;
            jr.dlen = jr.raw.len - 4 - n;
        }
    }
    return jr;
}

static const char *job_status(const job_result *j) {
    const char *s = json_string_value(json_object_get(j->res, "status"));
    return s ? s : "(none)";
}

static void job_free(job_result *j) {
    json_decref(j->res);
    free(j->raw.body);
}

/* ---- requests with an extra header, answers with their headers ---- */
/* One request with the lease token and an optional extra header line; the answer's headers go to
 * *head (freed by the caller). */
static resp req_h(const char *method, const char *path, const void *body, size_t len, const char *extra,
                  resp *head) {
    char url[600];
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", g_port, path);
    tc_http_req q = {.method = method,
                     .url = url,
                     .auth = g_auth,
                     .content_type = "application/octet-stream",
                     .body = body,
                     .body_len = len,
                     .extra_header = extra,
                     .timeout_ms = 30000,
                     .want_head = head != NULL,
                     .expect = TC_EXPECT_NEVER};
    resp r;
    if (tc_http(NULL, &q, &r) != 0) r.status = -1;
    if (head) { /* the header lines, as a body of their own */
        memset(head, 0, sizeof *head);
        head->body = r.head;
        head->len = r.head_len;
        r.head = NULL;
    }
    return r;
}

/* The value of a metric of GET /metrics (the worker's only series of that name), or -1. */
static long long metric(const char *name) {
    resp r = req("GET", "/metrics", NULL, 0, NULL, "");
    long long v = -1;
    char key[128];
    snprintf(key, sizeof key, "\n%s{", name);
    const char *p = r.status == 200 ? strstr(r.body, key) : NULL;
    if (p && (p = strchr(p, '}'))) v = strtoll(p + 1, NULL, 10);
    free(r.body);
    return v;
}

/* Polls a metric until it reaches want (up to 10 s). */
static int metric_reaches(const char *name, long long want) {
    for (int i = 0; i < 1000; i++) {
        if (metric(name) == want) return 1;
        usleep(10000);
    }
    return 0;
}

typedef struct sized_job {
    char json[512];
    const char *data;
    size_t dlen;
    char extra[64];
    job_result r;
} sized_job;

static job_result run_job_h(const char *json, const void *data, size_t dlen, const char *extra, resp *head) {
    size_t len;
    char *b = job_body(json, data, dlen, &len);
    job_result jr = {0};
    jr.raw = req_h("POST", "/v1/jobs", b, len, extra, head);
    free(b);
    jr.http = jr.raw.status;
    if (jr.http == 200 && jr.raw.len >= 4) {
        size_t n = get_le32(jr.raw.body);
        if (4 + n <= jr.raw.len) {
            jr.res = json_loadb(jr.raw.body + 4, n, 0, NULL);
            jr.data = jr.raw.body + 4 + n;
            jr.dlen = jr.raw.len - 4 - n;
        }
    }
    return jr;
}

/* ---- job sessions (docs/dataplane.md, Jobs: Sessions) ---- */
static void *sized_thread(void *p);
/* A job of session `session` (0: no header). */
static job_result session_job(unsigned long long session, const char *json, const void *data, size_t dlen) {
    char extra[64];
    snprintf(extra, sizeof extra, "Lepton-Job-Session: %llu", session);
    return run_job_h(json, data, dlen, session ? extra : NULL, NULL);
}

/* The int a job read (its 4 data bytes), or -1. */
static int job_int(const job_result *j) {
    int v = -1;
    if (!strcmp(job_status(j), "ok") && j->dlen == 4) memcpy(&v, j->data, 4);
    return v;
}

/* Each session is a seq space of its own: session 5's seq 1 runs although session 0's seq 1 ran
 * long ago, retries are answered from their own session's memory, and a session waiting for a
 * missing seq holds up neither session 0 nor another one. Session 0 goes on at seq; returns its
 * next seq. */
static long long test_sessions(long long seq) {
    resp r = req("POST", "/v1/buffers", "{\"size\": 4}", 11, "application/json", NULL);
    CHECK_EQ_INT(r.status, 201);
    json_t *bj = as_json(&r);
    long long b = json_integer_value(json_object_get(bj, "buffer"));
    json_decref(bj);
    free(r.body);
    char put[256], get[256];
    snprintf(get, sizeof get, "{\"seq\": %lld, \"steps\": [{\"read\": {\"buffer\": %lld, \"size\": 4}}]}",
             seq, b);

    int v = 501;
    snprintf(put, sizeof put,
             "{\"seq\": 1, \"steps\": [{\"write\": {\"buffer\": %lld, \"size\": 4}}, {\"read\": {\"buffer\": "
             "%lld, \"size\": 4}}]}",
             b, b);
    job_result a = session_job(5, put, &v, 4);
    CHECK_EQ_INT(a.http, 200);
    CHECK_EQ_INT(job_int(&a), 501); /* ran: session 0's seq 1 read 400,000 bytes */
    CHECK_EQ_INT(json_integer_value(json_object_get(a.res, "seq")), 1);
    v = 999;
    job_result again = session_job(5, put, &v, 4); /* a retry: from memory, not run again */
    CHECK(again.raw.len == a.raw.len && !memcmp(again.raw.body, a.raw.body, a.raw.len));
    job_free(&again);
    job_free(&a);
    job_result z = session_job(0, get, NULL, 0); /* session 0 goes on with its own seqs */
    CHECK_EQ_INT(job_int(&z), 501);
    job_result z2 = session_job(0, get, NULL, 0); /* and its retries are its own */
    CHECK(z2.raw.len == z.raw.len && !memcmp(z2.raw.body, z.raw.body, z.raw.len));
    job_free(&z2);
    job_free(&z);
    seq++;

    /* session 7's seq 3 arrives first and waits for its seq 2; sessions 0 and 5 run meanwhile */
    sized_job s3 = {.data = NULL};
    snprintf(s3.json, sizeof s3.json,
             "{\"seq\": 3, \"steps\": [{\"read\": {\"buffer\": %lld, \"size\": 4}}]}", b);
    snprintf(s3.extra, sizeof s3.extra, "Lepton-Job-Session: 7");
    job_result first = session_job(7, "{\"seq\": 1, \"steps\": []}", NULL, 0);
    CHECK(!strcmp(job_status(&first), "ok"));
    job_free(&first);
    pthread_t th;
    pthread_create(&th, NULL, sized_thread, &s3);
    CHECK(metric_reaches("lepton_worker_queued_jobs", 1));
    v = 502;
    snprintf(put, sizeof put,
             "{\"seq\": 2, \"steps\": [{\"write\": {\"buffer\": %lld, \"size\": 4}}, {\"read\": {\"buffer\": "
             "%lld, \"size\": 4}}]}",
             b, b);
    a = session_job(5, put, &v, 4);
    CHECK_EQ_INT(job_int(&a), 502);
    job_free(&a);
    snprintf(get, sizeof get, "{\"seq\": %lld, \"steps\": [{\"read\": {\"buffer\": %lld, \"size\": 4}}]}",
             seq++, b);
    z = session_job(0, get, NULL, 0);
    CHECK_EQ_INT(job_int(&z), 502);
    job_free(&z);
    CHECK_EQ_INT(metric("lepton_worker_queued_jobs"), 1); /* session 7's seq 3 still waits */
    v = 703;
    a = session_job(7, put, &v, 4); /* session 7's seq 2: then its seq 3 runs, after it */
    CHECK_EQ_INT(job_int(&a), 703);
    job_free(&a);
    pthread_join(th, NULL);
    CHECK_EQ_INT(job_int(&s3.r), 703);
    job_free(&s3.r);

    /* a session that is not a decimal number is refused */
    a = run_job_h(get, NULL, 0, "Lepton-Job-Session: 7x", NULL);
    CHECK_EQ_INT(a.http, 400);
    job_free(&a);
    snprintf(get, sizeof get, "/v1/buffers/%lld", b);
    r = req("DELETE", get, NULL, 0, NULL, NULL);
    free(r.body);
    return seq;
}

static void *sized_thread(void *p) {
    sized_job *j = p;
    j->r = run_job_h(j->json, j->data, j->dlen, j->extra[0] ? j->extra : NULL, NULL);
    return NULL;
}

static void b64(const void *p, size_t n, char *out) { lp_b64url_encode(p, n, out); }

/* ---- device printf (docs/dataplane.md, Device output) ---- */
static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* The lines kernel hello(tag) prints on grid x block threads, sorted, joined; and their bytes. */
static char *hello_lines(int tag, int grid, int block, size_t *bytes) {
    size_t n = (size_t)grid * (size_t)block, at = 0;
    char **l = calloc(n, sizeof *l), *all = malloc(n * 64 + 1);
    for (int b = 0; b < grid; b++)
        for (int t = 0; t < block; t++) {
            char line[64]; /* room for three ints of any value: no truncation to warn about */
            snprintf(line, sizeof line, "hello %d from block %d thread %d\n", tag, b, t);
            l[(size_t)b * (size_t)block + (size_t)t] = strdup(line);
        }
    qsort(l, n, sizeof *l, cmp_str);
    for (size_t i = 0; i < n; i++) {
        size_t k = strlen(l[i]);
        memcpy(all + at, l[i], k);
        at += k;
        free(l[i]);
    }
    all[at] = 0;
    free(l);
    *bytes = at;
    return all;
}

/* text (len bytes) with its lines sorted (the order of threads within a launch is the GPU's). */
static char *sorted_lines(const char *text, size_t len) {
    char *copy = strndup(text, len), *out = calloc(1, len + 1), **l = calloc(len + 1, sizeof *l),
         *save = NULL;
    size_t n = 0, at = 0;
    for (char *p = strtok_r(copy, "\n", &save); p; p = strtok_r(NULL, "\n", &save))
        l[n++] = p;
    qsort(l, n, sizeof *l, cmp_str);
    for (size_t i = 0; i < n; i++)
        at += (size_t)sprintf(out + at, "%s\n", l[i]);
    free(l);
    free(copy);
    return out;
}

/* GET /v1/output of a session (0: no header). */
static resp get_output(unsigned long long session) {
    char extra[64];
    snprintf(extra, sizeof extra, "Lepton-Job-Session: %llu", session);
    return req_h("GET", "/v1/output", NULL, 0, session ? extra : NULL, NULL);
}

/* GET /v1/output of a session answers want (its lines in any order; "": nothing). */
static void check_output(unsigned long long session, const char *want) {
    resp r = get_output(session);
    char *got = sorted_lines(r.body, r.len);
    CHECK_EQ_INT(r.status, 200);
    CHECK(!strcmp(got, want));
    if (strcmp(got, want))
        fprintf(stderr, "device output of session %llu:\n%s\nexpected:\n%s", session, got, want);
    free(got);
    free(r.body);
}

static job_result hello_job(unsigned long long session, long long seq, const char *sha, int tag, int grid,
                            int block) {
    char json[600], tv[16];
    b64(&tag, 4, tv);
    snprintf(json, sizeof json,
             "{\"seq\": %lld, \"steps\": [{\"launch\": {\"module\": \"%s\", \"function\": \"hello\", "
             "\"grid\": [%d],"
             " \"block\": [%d], \"args\": [{\"value\": \"%s\"}]}}]}",
             seq, sha, grid, block, tv);
    return session_job(session, json, NULL, 0);
}

/* A kernel's printf reaches the job's session once: the job's result says how many bytes wait
 * ("output", absent when none), GET /v1/output hands them over and empties them; other sessions see
 * none of it; a job without launches leaves them pending; past WK_OUTPUT_MAX the newest are kept
 * after a line saying how many were dropped. Session 0 goes on at seq; returns its next seq. */
static long long test_output(const char *sha, long long seq, long long buffer) {
    check_output(0, ""); /* nothing printed yet */
    size_t want_len;
    char *want = hello_lines(7, 2, 3, &want_len);
    job_result jr = hello_job(0, seq++, sha, 7, 2, 3);
    CHECK(!strcmp(job_status(&jr), "ok"));
    CHECK_EQ_INT(json_integer_value(json_object_get(jr.res, "output")), (long long)want_len);
    job_free(&jr);
    /* a job without launches prints nothing and leaves the output pending */
    char json[600];
    snprintf(json, sizeof json, "{\"seq\": %lld, \"steps\": [{\"read\": {\"buffer\": %lld, \"size\": 4}}]}",
             seq++, buffer);
    jr = run_job(json, NULL, 0);
    CHECK(!strcmp(job_status(&jr), "ok"));
    CHECK_EQ_INT(json_integer_value(json_object_get(jr.res, "output")), (long long)want_len);
    job_free(&jr);
    check_output(31, ""); /* another session has none of it */
    check_output(0, want);
    free(want);
    check_output(0, ""); /* once */
    /* the driver's stderr is a stream of its own (nothing there: no assertion failed) */
    resp r = req_h("GET", "/v1/output?stream=stderr", NULL, 0, NULL, NULL);
    CHECK(r.status == 200 && r.len == 0);
    free(r.body);
    r = req_h("GET", "/v1/output?stream=stdin", NULL, 0, NULL, NULL);
    CHECK_EQ_INT(r.status, 400);
    CHECK_CONTAINS(r.body, "unknown output stream 'stdin'");
    free(r.body);
    r = req("GET", "/v1/output", NULL, 0, NULL, "Bearer nope");
    CHECK_EQ_INT(r.status, 401);
    free(r.body);
    /* a launch that prints nothing: no "output" member */
    char nval[16];
    int one = 1;
    b64(&one, 4, nval);
    snprintf(
        json, sizeof json,
        "{\"seq\": %lld, \"steps\": [{\"launch\": {\"module\": \"%s\", \"function\": \"inc\", \"grid\": [1],"
        " \"block\": [1], \"args\": [{\"buffer\": %lld}, {\"value\": \"%s\"}]}}]}",
        seq++, sha, buffer, nval);
    jr = run_job(json, NULL, 0);
    CHECK(!strcmp(job_status(&jr), "ok"));
    CHECK(!json_object_get(jr.res, "output") && !json_object_get(jr.res, "output_stderr"));
    CHECK(jr.raw.len > 4 && !strstr(jr.raw.body + 4, "\"output\""));
    job_free(&jr);
    /* session 31's kernel: its output is its own */
    want = hello_lines(8, 1, 4, &want_len);
    jr = hello_job(31, 1, sha, 8, 1, 4);
    CHECK(!strcmp(job_status(&jr), "ok"));
    CHECK_EQ_INT(json_integer_value(json_object_get(jr.res, "output")), (long long)want_len);
    job_free(&jr);
    check_output(0, "");
    check_output(31, want);
    free(want);
    /* more than WK_OUTPUT_MAX (1 MiB) between fetches: the newest MiB, after a line counting the rest */
    want = hello_lines(9, 160, 256, &want_len);
    jr = hello_job(0, seq++, sha, 9, 160, 256);
    CHECK(!strcmp(job_status(&jr), "ok"));
    CHECK_EQ_INT(json_integer_value(json_object_get(jr.res, "output")), 1 << 20);
    job_free(&jr);
    r = get_output(0);
    char note[200];
    int nl = snprintf(note, sizeof note, "[lepton: %zu bytes of device printf output were dropped",
                      want_len - (1u << 20));
    CHECK(want_len > (1u << 20) && r.status == 200 && r.len > (size_t)nl &&
          !strncmp(r.body, note, (size_t)nl));
    const char *eol = r.len ? memchr(r.body, '\n', r.len) : NULL;
    CHECK(eol && r.len - (size_t)(eol + 1 - r.body) == 1u << 20);
    free(r.body);
    free(want);
    return seq;
}

typedef struct later {
    char json[512];
    job_result r;
} later;

static void *job_thread(void *p) {
    later *l = p;
    l->r = run_job(l->json, NULL, 0);
    return NULL;
}

/* ---- POST /v1/jobs/batch ---- */
/* Appends a record (u32 LE L + the L bytes of one job body) to a batch body. */
static void batch_add(char **b, size_t *len, const char *json, const void *data, size_t dlen) {
    size_t jl;
    char *jb = job_body(json, data, dlen, &jl);
    *b = realloc(*b, *len + 4 + jl);
    put_le32(*b + *len, jl);
    memcpy(*b + *len + 4, jb, jl);
    *len += 4 + jl;
    free(jb);
}

typedef struct batch_rec {
    json_t *res;
    const char *rec, *data; /* the job's result bytes (u32 n + JSON + data), and its data */
    size_t len, dlen;
} batch_rec;

typedef struct batch_result {
    long http;
    resp raw;
    int n, framed; /* records; framed: they fill the body exactly */
    batch_rec r[BATCH_MAX];
} batch_result;

static void batch_run(const char *body, size_t len, batch_result *br) {
    memset(br, 0, sizeof *br);
    br->raw = req("POST", "/v1/jobs/batch", body ? body : "", len, "application/octet-stream", NULL);
    br->http = br->raw.status;
    if (br->http != 200) return;
    size_t off = 0, total = br->raw.len;
    while (off < total && br->n < BATCH_MAX && total - off >= 4) {
        size_t m = get_le32(br->raw.body + off);
        if (m < 4 || m > total - off - 4) break;
        batch_rec *x = &br->r[br->n++];
        x->rec = br->raw.body + off + 4;
        x->len = m;
        size_t jn = get_le32(x->rec);
        if (4 + jn <= m) {
            x->res = json_loadb(x->rec + 4, jn, 0, NULL);
            x->data = x->rec + 4 + jn;
            x->dlen = m - 4 - jn;
        }
        off += 4 + m;
    }
    br->framed = off == total;
}

static void batch_free(batch_result *br) {
    for (int i = 0; i < br->n; i++)
        json_decref(br->r[i].res);
    free(br->raw.body);
}

static const char *rec_status(const batch_rec *x) {
    const char *s = json_string_value(json_object_get(x->res, "status"));
    return s ? s : "(none)";
}

/* 1 when record x is an ok result of seq whose data are the ints want[0..n) plus add. */
static int rec_ints(const batch_rec *x, long long seq, const int *want, int n, int add) {
    if (strcmp(rec_status(x), "ok") || json_integer_value(json_object_get(x->res, "seq")) != seq ||
        x->dlen != (size_t)n * 4) {
        fprintf(stderr, "batch record of seq %lld: %.400s (%zu data bytes)\n", seq,
                x->len > 4 ? x->rec + 4 : "", x->dlen);
        return 0;
    }
    for (int i = 0; i < n; i++) {
        int v;
        memcpy(&v, x->data + 4 * i, 4);
        if (v != want[i] + add) return 0;
    }
    return 1;
}

/* A job that runs the increment launch inc and reads the whole 256-byte buffer bb. */
static void inc_read(char *json, size_t size, long long seq, const char *inc, long long bb) {
    snprintf(json, size, "{\"seq\": %lld, \"steps\": [%s, {\"read\": {\"buffer\": %lld, \"size\": 256}}]}",
             seq, inc, bb);
}

/* A batch request that must be refused with `status` and a message naming `needle`. */
static void batch_refused(const char *body, size_t len, long status, const char *needle) {
    resp r = req("POST", "/v1/jobs/batch", body ? body : "", len, "application/octet-stream", NULL);
    CHECK_EQ_INT(r.status, status);
    CHECK_CONTAINS(r.body, needle);
    free(r.body);
}

/* Results in request order with host-checked data, a failing job among good ones, retries answered
 * from memory (whole and mixed with a new job), request-level faults that run nothing, a streamed
 * answer, a full batch of 256 and a seq too old to answer. Jobs from seq on; returns the next. */
static long long test_batch(const char *sha, long long seq) {
    resp r = req("POST", "/v1/buffers", "{\"size\": 256}", 13, "application/json", NULL);
    json_t *j = as_json(&r);
    long long bb = json_integer_value(json_object_get(j, "buffer"));
    json_decref(j);
    free(r.body);
    CHECK(bb > 0);
    int host[64], pat[64];
    for (int i = 0; i < 64; i++)
        pat[i] = host[i] = i * 3 - 50;
    int n64 = 64;
    char v64[16], inc[600], json[1200];
    b64(&n64, 4, v64);
    snprintf(inc, sizeof inc,
             "{\"launch\": {\"module\": \"%s\", \"function\": \"inc\", \"block\": [64],"
             " \"args\": [{\"buffer\": %lld}, {\"value\": \"%s\"}]}}",
             sha, bb, v64);

    /* three jobs: write + read back, increment + read, increment + read a window */
    long long s0 = seq;
    char *b1 = NULL;
    size_t l1 = 0;
    snprintf(json, sizeof json,
             "{\"seq\": %lld, \"steps\": [{\"write\": {\"buffer\": %lld, \"size\": 256}},"
             " {\"read\": {\"buffer\": %lld, \"size\": 256}}]}",
             seq++, bb, bb);
    batch_add(&b1, &l1, json, pat, sizeof pat);
    inc_read(json, sizeof json, seq++, inc, bb);
    batch_add(&b1, &l1, json, NULL, 0);
    snprintf(json, sizeof json,
             "{\"seq\": %lld, \"steps\": [%s, {\"read\": {\"buffer\": %lld, \"offset\": 16, \"size\": 64}}]}",
             seq++, inc, bb);
    batch_add(&b1, &l1, json, NULL, 0);
    static batch_result br1, br;
    batch_run(b1, l1, &br1);
    CHECK_EQ_INT(br1.http, 200);
    CHECK(br1.framed && br1.n == 3);
    CHECK(br1.n == 3 && rec_ints(&br1.r[0], s0, host, 64, 0));
    CHECK(br1.n == 3 && rec_ints(&br1.r[1], s0 + 1, host, 64, 1));
    CHECK(br1.n == 3 && rec_ints(&br1.r[2], s0 + 2, host + 4, 16, 2));
    for (int i = 0; i < 64; i++)
        host[i] += 2;

    /* the middle job fails on an unknown buffer; the others run */
    char *b2 = NULL;
    size_t l2 = 0;
    int two[2] = {7, 8};
    snprintf(json, sizeof json,
             "{\"seq\": %lld, \"steps\": [{\"write\": {\"buffer\": %lld, \"size\": 8}},"
             " {\"read\": {\"buffer\": %lld, \"size\": 8}}]}",
             seq++, bb, bb);
    batch_add(&b2, &l2, json, two, sizeof two);
    snprintf(json, sizeof json,
             "{\"seq\": %lld, \"steps\": [{\"read\": {\"buffer\": %lld, \"size\": 4}},"
             " {\"read\": {\"buffer\": 424242, \"size\": 4}}]}",
             seq++, bb);
    batch_add(&b2, &l2, json, NULL, 0);
    long long s_inc = seq;
    char inc_json[1200];
    inc_read(inc_json, sizeof inc_json, seq++, inc, bb);
    batch_add(&b2, &l2, inc_json, NULL, 0);
    batch_run(b2, l2, &br);
    CHECK_EQ_INT(br.http, 200);
    CHECK(br.framed && br.n == 3);
    host[0] = 7;
    host[1] = 8;
    CHECK(br.n == 3 && rec_ints(&br.r[0], s0 + 3, two, 2, 0));
    CHECK(br.n == 3 && !strcmp(rec_status(&br.r[1]), "not_found"));
    CHECK(br.n == 3 && json_integer_value(json_object_get(br.r[1].res, "step")) == 1 && br.r[1].dlen == 0);
    CHECK(br.n == 3 && json_integer_value(json_object_get(br.r[1].res, "seq")) == s0 + 4);
    CHECK(br.n == 3 && rec_ints(&br.r[2], s_inc, host, 64, 1));
    for (int i = 0; i < 64; i++)
        host[i] += 1;
    char *inc_rec = br.n == 3 ? malloc(br.r[2].len) : NULL;
    size_t inc_len = br.n == 3 ? br.r[2].len : 0;
    if (inc_rec) memcpy(inc_rec, br.r[2].rec, inc_len);
    batch_free(&br);

    /* a retried batch is answered from memory, byte for byte, without running again */
    batch_run(b1, l1, &br);
    CHECK(br.http == 200 && br.raw.len == br1.raw.len && !memcmp(br.raw.body, br1.raw.body, br1.raw.len));
    batch_free(&br);
    char path[128];
    snprintf(path, sizeof path, "/v1/buffers/%lld", bb);
    r = req("GET", path, NULL, 0, NULL, NULL);
    CHECK(r.status == 200 && r.len == sizeof host && !memcmp(r.body, host, sizeof host));
    free(r.body);
    /* a retry beside a new job: the old seq from memory, the new one runs */
    char *b3 = NULL;
    size_t l3 = 0;
    batch_add(&b3, &l3, inc_json, NULL, 0);
    inc_read(json, sizeof json, seq++, inc, bb);
    batch_add(&b3, &l3, json, NULL, 0);
    batch_run(b3, l3, &br);
    CHECK(br.http == 200 && br.framed && br.n == 2);
    CHECK(br.n == 2 && inc_rec && br.r[0].len == inc_len && !memcmp(br.r[0].rec, inc_rec, inc_len));
    CHECK(br.n == 2 && rec_ints(&br.r[1], seq - 1, host, 64, 1));
    for (int i = 0; i < 64; i++)
        host[i] += 1;
    batch_free(&br);
    free(b3);
    free(inc_rec);

    /* request-level faults: nothing runs, the next seq is still free */
    char *good = NULL;
    size_t lg = 0;
    inc_read(json, sizeof json, seq, inc, bb);
    batch_add(&good, &lg, json, NULL, 0);
    char *bad = malloc(lg + 1);
    memcpy(bad, good, lg);
    bad[lg] = 'x'; /* a trailing byte */
    batch_refused(bad, lg + 1, 400, "job 1");
    put_le32(bad, lg - 4 + 10); /* a length past the end */
    batch_refused(bad, lg, 400, "job 0");
    batch_refused("\x02\x00\x00\x00xy", 6, 400, "job 0"); /* too short for a job */
    batch_refused(NULL, 0, 400, "at least one job");
    char *b4 = NULL;
    size_t l4 = 0;
    snprintf(json, sizeof json, "{\"seq\": %lld, \"steps\": []}", seq + 1);
    batch_add(&b4, &l4, json, NULL, 0); /* seq + 1, then seq: decreasing */
    b4 = realloc(b4, l4 + lg);
    memcpy(b4 + l4, good, lg);
    batch_refused(b4, l4 + lg, 400, "job 1");
    free(b4);
    b4 = NULL;
    l4 = 0;
    batch_add(&b4, &l4, "{\"seq\": 99999999, \"steps\": []}", NULL, 0);
    batch_add(&b4, &l4, "{\"steps\": []}", NULL, 0); /* no seq */
    batch_refused(b4, l4, 400, "job 1");
    free(b4);
    b4 = NULL;
    l4 = 0;
    for (int i = 0; i <= BATCH_MAX; i++) {
        snprintf(json, sizeof json, "{\"seq\": %lld, \"steps\": []}", seq + 1000 + i);
        batch_add(&b4, &l4, json, NULL, 0);
    }
    batch_refused(b4, l4, 413, "at most 256 jobs");
    free(b4);
    free(bad);
    batch_run(good, lg, &br); /* seq was never taken: it runs now, incrementing once */
    CHECK(br.http == 200 && br.framed && br.n == 1 && rec_ints(&br.r[0], seq, host, 64, 1));
    for (int i = 0; i < 64; i++)
        host[i] += 1;
    seq++;
    batch_free(&br);
    free(good);

    /* an answer over 1 MiB is streamed across the records */
    const size_t big = 600000;
    char *bp = malloc(big);
    for (size_t i = 0; i < big; i++)
        bp[i] = (char)(i * 7 + (i >> 9));
    snprintf(json, sizeof json, "{\"size\": %zu}", big);
    r = req("POST", "/v1/buffers", json, strlen(json), "application/json", NULL);
    j = as_json(&r);
    long long bigb = json_integer_value(json_object_get(j, "buffer"));
    json_decref(j);
    free(r.body);
    snprintf(path, sizeof path, "/v1/buffers/%lld?offset=0", bigb);
    r = req("PUT", path, bp, big, "application/octet-stream", NULL);
    CHECK_EQ_INT(r.status, 204);
    free(r.body);
    char *b5 = NULL;
    size_t l5 = 0;
    for (int i = 0; i < 3; i++) {
        snprintf(json, sizeof json,
                 "{\"seq\": %lld, \"steps\": [{\"read\": {\"buffer\": %lld, \"size\": %zu}}]}", seq++, bigb,
                 big);
        batch_add(&b5, &l5, json, NULL, 0);
    }
    batch_run(b5, l5, &br);
    CHECK(br.http == 200 && br.framed && br.n == 3);
    for (int i = 0; i < br.n; i++)
        CHECK(!strcmp(rec_status(&br.r[i]), "ok") && br.r[i].dlen == big && !memcmp(br.r[i].data, bp, big));
    batch_free(&br);
    free(b5);
    free(bp);

    /* a full batch of 256 jobs; the results it adds push the first batch's out of memory */
    char *b6 = NULL;
    size_t l6 = 0;
    long long s6 = seq;
    for (int i = 0; i < BATCH_MAX; i++) {
        snprintf(json, sizeof json, "{\"seq\": %lld, \"steps\": []}", seq++);
        batch_add(&b6, &l6, json, NULL, 0);
    }
    batch_run(b6, l6, &br);
    CHECK(br.http == 200 && br.framed && br.n == BATCH_MAX);
    int wrong = 0;
    for (int i = 0; i < br.n; i++)
        if (strcmp(rec_status(&br.r[i]), "ok") ||
            json_integer_value(json_object_get(br.r[i].res, "seq")) != s6 + i)
            wrong++;
    CHECK_EQ_INT(wrong, 0);
    batch_free(&br);
    free(b6);

    /* a seq too old to answer gets a conflict record; the job beside it runs */
    char *b7 = NULL;
    size_t l7 = 0;
    snprintf(json, sizeof json, "{\"seq\": %lld, \"steps\": []}", s0);
    batch_add(&b7, &l7, json, NULL, 0);
    snprintf(json, sizeof json, "{\"seq\": %lld, \"steps\": [{\"read\": {\"buffer\": %lld, \"size\": 256}}]}",
             seq++, bb);
    batch_add(&b7, &l7, json, NULL, 0);
    batch_run(b7, l7, &br);
    CHECK(br.http == 200 && br.framed && br.n == 2);
    CHECK(br.n == 2 && !strcmp(rec_status(&br.r[0]), "conflict") && br.r[0].dlen == 0);
    CHECK(br.n == 2 && json_integer_value(json_object_get(br.r[0].res, "seq")) == s0);
    CHECK(br.n == 2 && json_is_null(json_object_get(br.r[0].res, "step")));
    CHECK(br.n == 2 && rec_ints(&br.r[1], seq - 1, host, 64, 0));
    batch_free(&br);
    free(b7);

    batch_free(&br1);
    free(b1);
    free(b2);
    return seq;
}

static double now_s(void) { return tc_now_ms() / 1e3; }

/* A module of 40,000 kernels loads and its last kernel launches in linear time (name lookups are
 * hashed: it took ~30 s with linear searches). The budget is only a guard against quadratic time. */
static long long test_many_entries(long long seq) {
    enum { N = 40000 };
    size_t cap = (size_t)N * 200 + 256, len = 0;
    char *m = malloc(cap);
    len += (size_t)snprintf(m, cap, ".version 7.0\n.target sm_75\n.address_size 64\n");
    for (int i = 0; i < N; i++)
        len +=
            (size_t)snprintf(m + len, cap - len,
                             ".visible .entry k%d(.param .u64 p)\n{\n.reg .b32 %%r<2>;\n.reg .b64 %%rd<3>;\n"
                             "ld.param.u64 %%rd1, [p];\ncvta.to.global.u64 %%rd2, %%rd1;\nmov.u32 %%r1, %d;\n"
                             "st.global.u32 [%%rd2], %%r1;\nret;\n}\n",
                             i, i);
    char sha[65], path[128];
    lp_sha256_hex(m, len, sha);
    snprintf(path, sizeof path, "/v1/modules/%s", sha);
    double t0 = now_s();
    resp r = req("PUT", path, m, len, "application/octet-stream", NULL);
    double t_load = now_s() - t0;
    CHECK_EQ_INT(r.status, 200);
    free(r.body);
    r = req("POST", "/v1/buffers", "{\"size\": 4}", 11, "application/json", NULL);
    CHECK_EQ_INT(r.status, 201);
    json_t *j = as_json(&r);
    long long buf = json_integer_value(json_object_get(j, "buffer"));
    json_decref(j);
    free(r.body);
    char json[1024];
    snprintf(
        json, sizeof json,
        "{\"seq\": %lld, \"steps\": [{\"launch\": {\"module\": \"%s\", \"function\": \"k%d\", \"grid\": [1],"
        " \"block\": [1], \"args\": [{\"buffer\": %lld}]}}, {\"read\": {\"buffer\": %lld, \"size\": 4}}]}",
        seq, sha, N - 1, buf, buf);
    t0 = now_s();
    job_result jr = run_job(json, NULL, 0);
    double t_launch = now_s() - t0;
    CHECK_EQ_INT(jr.http, 200);
    CHECK(!strcmp(job_status(&jr), "ok"));
    if (strcmp(job_status(&jr), "ok"))
        fprintf(stderr, "job: %.600s\n", jr.raw.len > 4 ? jr.raw.body + 4 : "(no result)");
    int got = -1;
    if (jr.dlen == 4) memcpy(&got, jr.data, 4);
    CHECK_EQ_INT(got, N - 1);
    job_free(&jr);
    printf("module of %d kernels (%zu bytes): PUT %.2f s, launch of the last %.3f s\n", N, len, t_load,
           t_launch);
    CHECK(t_load + t_launch < 20.0);
    r = req("DELETE", path, NULL, 0, NULL, NULL);
    free(r.body);
    free(m);
    return seq + 1;
}

/* ---- the bound on queued job bytes (--job-queue-bytes 2 MiB): jobs of 700 KiB that wait for an
 * earlier seq fill it; the next is refused with 503 queue_full before its body is read, the job
 * they wait for is taken anyway, and once they have run the refused one is taken again. ---- */
static void test_queue(const char *exe, const char *lib, const char *uuid, const char *keyhex) {
    char dir[] = "/tmp/lepton-worker-queue-XXXXXX";
    if (!mkdtemp(dir)) return;
    g_port = tc_free_port();
    g_queue_bytes = "2097152";
    pid_t pid = fx_start_worker(exe, lib, uuid, dir, keyhex, g_port, g_queue_bytes);
    g_queue_bytes = NULL;
    CHECK(pid > 0);
    if (pid <= 0) return;
    CHECK_EQ_INT(metric("lepton_worker_queue_limit_bytes"), 2097152);
    CHECK_EQ_INT(metric("lepton_worker_queued_bytes"), 0);
    const size_t W = 700u << 10;
    char *data = malloc(W);
    for (size_t i = 0; i < W; i++)
        data[i] = (char)(i * 7);
    resp r = req("POST", "/v1/buffers", "{\"size\": 4194304}", 17, "application/json", NULL);
    CHECK_EQ_INT(r.status, 201);
    json_t *jb = as_json(&r);
    long long buf = json_integer_value(json_object_get(jb, "buffer"));
    json_decref(jb);
    free(r.body);
    /* seqs 2 and 3 arrive first and wait for seq 1: 1.4 MiB held */
    sized_job early[2];
    pthread_t th[2];
    for (int k = 0; k < 2; k++) {
        memset(&early[k], 0, sizeof early[k]);
        snprintf(
            early[k].json, sizeof early[k].json,
            "{\"seq\": %d, \"steps\": [{\"write\": {\"buffer\": %lld, \"offset\": %zu, \"size\": %zu}}]}",
            k + 2, buf, (size_t)(k + 1) * W, W);
        early[k].data = data;
        early[k].dlen = W;
        snprintf(early[k].extra, sizeof early[k].extra, "Lepton-Job-Seq: %d", k + 2);
        pthread_create(&th[k], NULL, sized_thread, &early[k]);
        CHECK(metric_reaches("lepton_worker_queued_jobs", k + 1));
    }
    long long held = metric("lepton_worker_queued_bytes");
    CHECK(held >= (long long)(2 * W) && held < 2097152);
    /* seq 4 would pass the bound: refused before its body is read, with its error body and Retry-After */
    char json[512], code[64];
    snprintf(json, sizeof json,
             "{\"seq\": 4, \"steps\": [{\"write\": {\"buffer\": %lld, \"offset\": %zu, \"size\": %zu}}]}",
             buf, 3 * W, W);
    resp head;
    job_result jr = run_job_h(json, data, W, "Lepton-Job-Seq: 4", &head);
    CHECK_EQ_INT(jr.http, 503);
    CHECK(!strcmp(err_code(&jr.raw, code, sizeof code), "queue_full"));
    CHECK_CONTAINS(jr.raw.body, "--job-queue-bytes");
    CHECK_CONTAINS(head.body, "Retry-After: 1");
    printf("queue_full answer: %.400s\n", jr.raw.body);
    free(head.body);
    job_free(&jr);
    jr = run_job_h(json, data, W, NULL, NULL); /* without the seq header: the same */
    CHECK_EQ_INT(jr.http, 503);
    job_free(&jr);
    /* a raw request head that waits for "100 Continue": the answer comes before the body is sent
     * (the requests above sent theirs at once: read and dropped, then answered) */
    char raw[2600];
    snprintf(raw, sizeof raw,
             "POST /v1/jobs HTTP/1.1\r\nHost: x\r\nAuthorization: %s\r\nLepton-Job-Seq: 4\r\n"
             "Expect: 100-continue\r\nContent-Length: %zu\r\n\r\n",
             g_auth, W + 200);
    CHECK_EQ_INT(raw_status(raw), 503);
    CHECK_EQ_INT(metric("lepton_worker_queue_full_total"), 3);
    CHECK_EQ_INT(metric("lepton_worker_queued_jobs"), 2);
    /* seq 1, the one they wait for, is taken past the bound; then all three run */
    snprintf(json, sizeof json, "{\"seq\": 1, \"steps\": [{\"write\": {\"buffer\": %lld, \"size\": %zu}}]}",
             buf, W);
    jr = run_job_h(json, data, W, "Lepton-Job-Seq: 1", NULL);
    CHECK_EQ_INT(jr.http, 200);
    CHECK(!strcmp(job_status(&jr), "ok"));
    job_free(&jr);
    for (int k = 0; k < 2; k++) {
        pthread_join(th[k], NULL);
        CHECK_EQ_INT(early[k].r.http, 200);
        CHECK(!strcmp(job_status(&early[k].r), "ok"));
        job_free(&early[k].r);
    }
    CHECK_EQ_INT(metric("lepton_worker_queued_bytes"), 0);
    CHECK_EQ_INT(metric("lepton_worker_queued_jobs"), 0);
    /* drained: seq 4 is taken now */
    snprintf(json, sizeof json,
             "{\"seq\": 4, \"steps\": [{\"write\": {\"buffer\": %lld, \"offset\": %zu, \"size\": %zu}}, "
             "{\"read\": {\"buffer\": %lld, \"size\": %zu}}]}",
             buf, 3 * W, W, buf, 4 * W);
    jr = run_job_h(json, data, W, "Lepton-Job-Seq: 4", NULL);
    CHECK_EQ_INT(jr.http, 200);
    CHECK(!strcmp(job_status(&jr), "ok"));
    size_t n = jr.raw.len >= 4 ? get_le32(jr.raw.body) : 0;
    int same = jr.raw.len == 4 + n + 4 * W;
    for (size_t k = 0; same && k < 4; k++)
        same = !memcmp(jr.raw.body + 4 + n + k * W, data, W);
    CHECK(same); /* every write landed */
    job_free(&jr);
    free(data);
    kill(pid, SIGTERM);
    CHECK_EQ_INT(tc_proc_wait_exit(pid, 10000), 0);
    tc_remove_dir(dir);
}

int main(int argc, char **argv) {
    if (fx_no_driver(argc, argv)) return CHECK_SKIP;
    const char *exe = argv[1], *lib = argv[2];
    signal(SIGPIPE, SIG_IGN);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    fx_env("2000");

    /* the GPU's UUID, as the agent would learn it; a node key and lease tokens signed with it, as
     * the broker does */
    fx_keys keys;
    if (fx_keys_make(&keys, lib) != 0) return 1;
    const char *uuid = keys.uuid, *keyhex = keys.keyhex;
    snprintf(g_auth, sizeof g_auth, "Bearer %s", keys.tok);
    char payload[512];
    snprintf(payload, sizeof payload,
             "{\"lease\":\"ls_other\",\"node\":\"node-t\",\"gpus\":[\"%s\"],\"expires_at\":1}", uuid);
    char *tok_newer_lease = lp_lease_token_sign(keys.key, payload);
    char *tok_other_lease =
        lp_lease_token_sign(keys.key, "{\"lease\":\"ls_test\",\"node\":\"node-t\",\"gpus\":[\"GPU-x\"]}");
    char a_newer[2048];
    snprintf(a_newer, sizeof a_newer, "Bearer %s", tok_newer_lease);
    char a_bad[2048], a_other[2048];
    snprintf(a_bad, sizeof a_bad, "Bearer %s", keys.tok_bad_sig);
    snprintf(a_other, sizeof a_other, "Bearer %s", tok_other_lease);

    char dir[] = "/tmp/lepton-worker-test-XXXXXX";
    if (!mkdtemp(dir)) return 1;
    g_port = tc_free_port();
    pid_t pid = fx_start_worker(exe, lib, uuid, dir, keyhex, g_port, g_queue_bytes);
    if (pid < 0) {
        fprintf(stderr, "the worker did not come up on port %d\n", g_port);
        return 1;
    }
    char code[64];

    /* ---- tokens ---- */
    resp r = req("GET", "/v1/info", NULL, 0, NULL, "");
    CHECK_EQ_INT(r.status, 401);
    free(r.body);
    r = req("GET", "/v1/info", NULL, 0, NULL, a_bad);
    CHECK_EQ_INT(r.status, 401);
    free(r.body);
    r = req("GET", "/v1/info", NULL, 0, NULL, "Bearer garbage");
    CHECK_EQ_INT(r.status, 401);
    free(r.body);
    r = req("GET", "/v1/info", NULL, 0, NULL, a_other); /* genuine, for another GPU */
    CHECK_EQ_INT(r.status, 403);
    free(r.body);
    r = req("GET", "/v1/info", NULL, 0, NULL, a_newer); /* genuine, this GPU granted to a newer lease */
    CHECK_EQ_INT(r.status, 503);
    CHECK(!strcmp(err_code(&r, code, sizeof code), "worker_starting"));
    free(r.body);
    r = req("POST", "/v1/buffers", "{\"size\": 16}", 12, "application/json", a_other);
    CHECK_EQ_INT(r.status, 403);
    free(r.body);

    /* ---- info ---- */
    r = req("GET", "/v1/info", NULL, 0, NULL, NULL);
    CHECK_EQ_INT(r.status, 200);
    json_t *info = as_json(&r);
    CHECK(!strcmp(json_string_value(json_object_get(info, "uuid")) ?: "", uuid));
    CHECK(!strcmp(json_string_value(json_object_get(info, "lease")) ?: "", "ls_test"));
    CHECK_EQ_INT(json_integer_value(json_object_get(info, "index")), 0);
    CHECK(json_integer_value(json_object_get(info, "memory_total")) > 0);
    CHECK(json_integer_value(json_object_get(info, "memory_free")) > 0);
    CHECK(json_integer_value(json_object_get(info, "driver_version")) > 0);
    CHECK(json_string_length(json_object_get(info, "name")) > 0);
    json_decref(info);
    free(r.body);

    /* ---- buffers: a few MiB round trip ---- */
    const size_t N = (3u << 20) + 12345;
    unsigned char *pat = malloc(N);
    for (size_t i = 0; i < N; i++)
        pat[i] = (unsigned char)(i * 31 + (i >> 11));
    char jb[128];
    snprintf(jb, sizeof jb, "{\"size\": %zu}", N);
    r = req("POST", "/v1/buffers", jb, strlen(jb), "application/json", NULL);
    CHECK_EQ_INT(r.status, 201);
    json_t *jbuf = as_json(&r);
    long long bid = json_integer_value(json_object_get(jbuf, "buffer"));
    CHECK(bid > 0);
    CHECK_EQ_INT(json_integer_value(json_object_get(jbuf, "size")), N);
    json_decref(jbuf);
    free(r.body);
    char path[256];
    snprintf(path, sizeof path, "/v1/buffers/%lld?offset=0", bid);
    r = req("PUT", path, pat, N, "application/octet-stream", NULL);
    CHECK_EQ_INT(r.status, 204);
    free(r.body);
    snprintf(path, sizeof path, "/v1/buffers/%lld", bid);
    r = req("GET", path, NULL, 0, NULL, NULL);
    CHECK_EQ_INT(r.status, 200);
    CHECK_EQ_INT(r.len, N);
    CHECK(r.len == N && memcmp(r.body, pat, N) == 0);
    free(r.body);
    /* a window, and a write at an offset */
    snprintf(path, sizeof path, "/v1/buffers/%lld?offset=1000&size=5000", bid);
    r = req("GET", path, NULL, 0, NULL, NULL);
    CHECK_EQ_INT(r.status, 200);
    CHECK(r.len == 5000 && memcmp(r.body, pat + 1000, 5000) == 0);
    free(r.body);
    snprintf(path, sizeof path, "/v1/buffers/%lld?offset=%zu", bid, N - 4);
    r = req("PUT", path, "WXYZ", 4, "application/octet-stream", NULL);
    CHECK_EQ_INT(r.status, 204);
    free(r.body);
    snprintf(path, sizeof path, "/v1/buffers/%lld?offset=%zu&size=4", bid, N - 4);
    r = req("GET", path, NULL, 0, NULL, NULL);
    CHECK(r.status == 200 && r.len == 4 && !memcmp(r.body, "WXYZ", 4));
    free(r.body);
    /* out of range, unknown buffer, bad ids */
    snprintf(path, sizeof path, "/v1/buffers/%lld?offset=%zu", bid, N - 2);
    r = req("PUT", path, "WXYZ", 4, "application/octet-stream", NULL);
    CHECK_EQ_INT(r.status, 400);
    free(r.body);
    snprintf(path, sizeof path, "/v1/buffers/%lld?offset=0&size=%zu", bid, N + 1);
    r = req("GET", path, NULL, 0, NULL, NULL);
    CHECK_EQ_INT(r.status, 400);
    free(r.body);
    r = req("GET", "/v1/buffers/999999", NULL, 0, NULL, NULL);
    CHECK_EQ_INT(r.status, 404);
    free(r.body);
    r = req("GET", "/v1/buffers/-1", NULL, 0, NULL, NULL);
    CHECK_EQ_INT(r.status, 400);
    free(r.body);
    snprintf(path, sizeof path, "/v1/buffers/%lld?offset=x", bid);
    r = req("GET", path, NULL, 0, NULL, NULL);
    CHECK_EQ_INT(r.status, 400);
    free(r.body);
    /* out of memory */
    r = req("POST", "/v1/buffers", "{\"size\": 4398046511104}", 23, "application/json", NULL);
    CHECK_EQ_INT(r.status, 507);
    CHECK(!strcmp(err_code(&r, code, sizeof code), "out_of_memory"));
    free(r.body);
    /* free */
    snprintf(path, sizeof path, "/v1/buffers/%lld", bid);
    r = req("DELETE", path, NULL, 0, NULL, NULL);
    CHECK_EQ_INT(r.status, 204);
    free(r.body);
    r = req("GET", path, NULL, 0, NULL, NULL);
    CHECK_EQ_INT(r.status, 404);
    free(r.body);

    /* ---- malformed and oversized bodies ---- */
    r = req("POST", "/v1/buffers", "not json", 8, "application/json", NULL);
    CHECK_EQ_INT(r.status, 400);
    free(r.body);
    r = req("POST", "/v1/buffers", "{\"size\": -1}", 12, "application/json", NULL);
    CHECK_EQ_INT(r.status, 400);
    free(r.body);
    r = req("POST", "/v1/buffers", "{}", 2, "application/json", NULL);
    CHECK_EQ_INT(r.status, 400);
    free(r.body);
    char head[4096];
    snprintf(head, sizeof head,
             "POST /v1/buffers HTTP/1.1\r\nHost: x\r\nAuthorization: %s\r\nContent-Type: application/json\r\n"
             "Content-Length: 200000\r\nExpect: 100-continue\r\n\r\n",
             g_auth);
    CHECK_EQ_INT(raw_status(head), 413);
    snprintf(head, sizeof head,
             "PUT /v1/modules/%064d HTTP/1.1\r\nHost: x\r\nAuthorization: %s\r\nContent-Length: "
             "100000000\r\n\r\nabc",
             0, g_auth);
    CHECK_EQ_INT(raw_status(head), 413);
    snprintf(head, sizeof head,
             "POST /v1/jobs HTTP/1.1\r\nHost: x\r\nAuthorization: %s\r\nContent-Length: 999999999\r\n\r\n",
             g_auth);
    CHECK_EQ_INT(raw_status(head), 413);
    r = req("POST", "/v1/jobs", "xx", 2, "application/octet-stream", NULL);
    CHECK_EQ_INT(r.status, 400);
    free(r.body);
    size_t jl;
    char *jbad = job_body("{\"seq\": ", NULL, 0, &jl);
    r = req("POST", "/v1/jobs", jbad, jl, "application/octet-stream", NULL);
    CHECK_EQ_INT(r.status, 400);
    free(r.body);
    free(jbad);
    jbad = job_body("{\"steps\": []}", NULL, 0, &jl);
    r = req("POST", "/v1/jobs", jbad, jl, "application/octet-stream", NULL);
    CHECK_EQ_INT(r.status, 400);
    free(r.body);
    free(jbad);
    r = req("GET", "/healthz", NULL, 0, NULL, "");
    CHECK_EQ_INT(r.status, 200);
    free(r.body);

    /* ---- modules ---- */
    size_t plen = 0;
    char *ptx = tc_read_file(argv[3], &plen);
    CHECK(ptx != NULL);
    char sha[65];
    lp_sha256_hex(ptx, plen, sha);
    char mpath[128];
    snprintf(mpath, sizeof mpath, "/v1/modules/%s", sha);
    r = req("GET", mpath, NULL, 0, NULL, NULL);
    CHECK_EQ_INT(r.status, 404);
    free(r.body);
    char wrong[128];
    snprintf(wrong, sizeof wrong, "/v1/modules/%064d", 7);
    r = req("PUT", wrong, ptx, plen, "application/octet-stream", NULL);
    CHECK_EQ_INT(r.status, 400);
    CHECK_CONTAINS(r.body, sha);
    free(r.body);
    r = req("GET", "/v1/modules/XYZ", NULL, 0, NULL, NULL);
    CHECK_EQ_INT(r.status, 400);
    free(r.body);
    const char *broken =
        ".version 7.0\n.target sm_75\n.address_size 64\n.visible .entry f() { bogus.instruction; }\n";
    char bsha[65], bpath[128];
    lp_sha256_hex(broken, strlen(broken), bsha);
    snprintf(bpath, sizeof bpath, "/v1/modules/%s", bsha);
    r = req("PUT", bpath, broken, strlen(broken), "application/octet-stream", NULL);
    CHECK_EQ_INT(r.status, 400);
    CHECK(!strcmp(err_code(&r, code, sizeof code), "cuda_error"));
    CHECK_CONTAINS(r.body, "CUDA_ERROR_");
    printf("JIT failure answer: %.300s\n", r.body);
    free(r.body);
    /* PTX that ends early (a bare .section, a cut directive, a cut instruction): each upload fails
     * with a clear error that quotes nothing of an earlier upload, and the worker stays up (three
     * crashes used to fail the lease) */
    {
        static const char *marker = "STALE_MARKER_OF_AN_EARLIER_UPLOAD";
        char big[8192];
        int bl = snprintf(big, sizeof big,
                          ".version 7.0\n.target sm_75\n.address_size 64\n.visible .entry %s() { ret; }\n"
                          "// %s %s %s %s\n",
                          marker, marker, marker, marker, marker);
        const char *cut[] = {".version 7.0\n.target sm_75\n.address_size 64\n.section",
                             ".version 7.0\n.target sm_75\n.address_size 64\n.visible .entry",
                             ".version 7.0\n.target sm_75\n.address_size 64\n.visible .entry f() { .reg .b32 "
                             "%r<2>; mov.u32 %r1,"};
        for (int k = 0; k < 3; k++) {
            char s2[65], p2[128];
            lp_sha256_hex(big, (size_t)bl, s2);
            snprintf(p2, sizeof p2, "/v1/modules/%s", s2);
            r = req("PUT", p2, big, (size_t)bl, "application/octet-stream", NULL);
            CHECK_EQ_INT(r.status, 200);
            free(r.body);
            r = req("DELETE", p2, NULL, 0, NULL, NULL);
            free(r.body);
            lp_sha256_hex(cut[k], strlen(cut[k]), s2);
            snprintf(p2, sizeof p2, "/v1/modules/%s", s2);
            r = req("PUT", p2, cut[k], strlen(cut[k]), "application/octet-stream", NULL);
            CHECK_EQ_INT(r.status, 400);
            CHECK(!strcmp(err_code(&r, code, sizeof code), "cuda_error"));
            CHECK_CONTAINS(r.body, "CUDA_ERROR_INVALID_PTX");
            CHECK_CONTAINS(r.body, "line ");
            CHECK(r.body && !strstr(r.body, "STALE_MARKER"));
            printf("truncated upload %d: %.300s\n", k, r.body ? r.body : "");
            free(r.body);
            bl += snprintf(big + bl, sizeof big - (size_t)bl, "// %d\n", k); /* another module next time */
        }
        CHECK_EQ_INT(waitpid(pid, NULL, WNOHANG), 0); /* the worker is still running */
        r = req("GET", "/healthz", NULL, 0, NULL, "");
        CHECK_EQ_INT(r.status, 200);
        free(r.body);
    }
    r = req("PUT", mpath, ptx, plen, "application/octet-stream", NULL);
    CHECK_EQ_INT(r.status, 200);
    json_t *mod = as_json(&r);
    CHECK(!strcmp(json_string_value(json_object_get(mod, "module")) ?: "", sha));
    json_t *fns = json_object_get(mod, "functions");
    int seen_vadd = 0;
    for (size_t i = 0; i < json_array_size(fns); i++) {
        json_t *f = json_array_get(fns, i);
        if (!strcmp(json_string_value(json_object_get(f, "name")) ?: "", "vadd")) {
            seen_vadd = 1;
            json_t *ps = json_object_get(f, "params");
            CHECK_EQ_INT(json_array_size(ps), 4);
            CHECK_EQ_INT(json_integer_value(json_object_get(json_array_get(ps, 0), "size")), 8);
            CHECK_EQ_INT(json_integer_value(json_object_get(json_array_get(ps, 3), "size")), 4);
        }
    }
    CHECK(seen_vadd);
    json_decref(mod);
    free(r.body);
    r = req("GET", mpath, NULL, 0, NULL, NULL); /* content-addressed: known now */
    CHECK_EQ_INT(r.status, 200);
    free(r.body);
    r = req("PUT", mpath, ptx, plen, "application/octet-stream", NULL); /* again: the same answer */
    CHECK_EQ_INT(r.status, 200);
    free(r.body);

    /* ---- jobs ---- */
    const int n = 100000;
    size_t vb = (size_t)n * 4;
    long long ids[3];
    for (int i = 0; i < 3; i++) {
        snprintf(jb, sizeof jb, "{\"size\": %zu}", vb);
        r = req("POST", "/v1/buffers", jb, strlen(jb), "application/json", NULL);
        json_t *j = as_json(&r);
        ids[i] = json_integer_value(json_object_get(j, "buffer"));
        json_decref(j);
        free(r.body);
    }
    float *ab = malloc(2 * vb);
    for (int i = 0; i < n; i++) {
        ab[i] = (float)i * 0.5f;
        ab[n + i] = 1000.0f - (float)i;
    }
    char nval[16];
    b64(&n, 4, nval);
    char json[2048];
    snprintf(
        json, sizeof json,
        "{\"seq\": 1, \"steps\": ["
        "{\"write\": {\"buffer\": %lld, \"offset\": 0, \"size\": %zu}},"
        "{\"write\": {\"buffer\": %lld, \"size\": %zu}},"
        "{\"launch\": {\"module\": \"%s\", \"function\": \"vadd\", \"grid\": [%d], \"block\": [256, 1, 1],"
        " \"args\": [{\"buffer\": %lld}, {\"buffer\": %lld, \"offset\": 0}, {\"buffer\": %lld}, {\"value\": "
        "\"%s\"}]}},"
        "{\"read\": {\"buffer\": %lld, \"offset\": 0, \"size\": %zu}}]}",
        ids[0], vb, ids[1], vb, sha, (n + 255) / 256, ids[0], ids[1], ids[2], nval, ids[2], vb);
    job_result jr = run_job(json, ab, 2 * vb);
    CHECK_EQ_INT(jr.http, 200);
    int kernels = 1;
    const char *jerr = json_string_value(json_object_get(jr.res, "error"));
    if (!strcmp(job_status(&jr), "cuda_error") && jerr &&
        (strstr(jerr, "NOT_SUPPORTED") || strstr(jerr, "NOT_IMPLEMENTED"))) {
        kernels = 0;
        printf("the CPU driver cannot run kernels yet (%s)\n", jerr);
    }
    if (kernels) {
        CHECK(!strcmp(job_status(&jr), "ok"));
        if (strcmp(job_status(&jr), "ok"))
            fprintf(stderr, "job 1: %.600s\n", jr.raw.len > 4 ? jr.raw.body + 4 : "(no result)");
        CHECK_EQ_INT(jr.dlen, vb);
        int bad = 0;
        float *c = malloc(vb); /* the result bytes need not be aligned */
        if (jr.dlen == vb) memcpy(c, jr.data, vb);
        for (int i = 0; jr.dlen == vb && i < n; i++)
            if (c[i] != ab[i] + ab[n + i]) bad++;
        free(c);
        CHECK_EQ_INT(bad, 0);
        CHECK(json_integer_value(json_object_get(jr.res, "ended_ns")) >=
              json_integer_value(json_object_get(jr.res, "started_ns")));
        CHECK_EQ_INT(json_integer_value(json_object_get(jr.res, "seq")), 1);
    }
    /* a retried seq is answered from memory, byte for byte */
    job_result again = run_job(json, ab, 2 * vb);
    CHECK(again.raw.len == jr.raw.len && !memcmp(again.raw.body, jr.raw.body, jr.raw.len));
    job_free(&again);
    job_free(&jr);

    /* seq order: seq 3 (increment + read) arrives before seq 2 (zero the buffer) and runs after it */
    int *zeros = calloc((size_t)n, 4);
    later l3;
    snprintf(l3.json, sizeof l3.json,
             "{\"seq\": 3, \"steps\": [{\"launch\": {\"module\": \"%s\", \"function\": \"inc\", \"grid\": "
             "[%d], \"block\": [256],"
             " \"args\": [{\"buffer\": %lld}, {\"value\": \"%s\"}]}}, {\"read\": {\"buffer\": %lld, "
             "\"size\": %zu}}]}",
             sha, (n + 255) / 256, ids[0], nval, ids[0], vb);
    pthread_t th;
    pthread_create(&th, NULL, job_thread, &l3);
    usleep(300000);
    snprintf(json, sizeof json, "{\"seq\": 2, \"steps\": [{\"write\": {\"buffer\": %lld, \"size\": %zu}}]}",
             ids[0], vb);
    jr = run_job(json, zeros, vb);
    CHECK(!strcmp(job_status(&jr), "ok"));
    job_free(&jr);
    pthread_join(th, NULL);
    if (kernels) {
        CHECK(!strcmp(job_status(&l3.r), "ok"));
        int bad = 0;
        int *v = malloc(vb);
        if (l3.r.dlen == vb) memcpy(v, l3.r.data, vb);
        for (int i = 0; l3.r.dlen == vb && i < n; i++)
            if (v[i] != 1) bad++;
        free(v);
        CHECK(l3.r.dlen == vb && bad == 0);
        /* and its retry did not increment twice */
        job_result rr = run_job(l3.json, NULL, 0);
        CHECK(rr.raw.len == l3.r.raw.len && !memcmp(rr.raw.body, l3.r.raw.body, rr.raw.len));
        job_free(&rr);
        snprintf(path, sizeof path, "/v1/buffers/%lld?size=8", ids[0]);
        r = req("GET", path, NULL, 0, NULL, NULL);
        CHECK(r.len == 8 && ((int *)r.body)[0] == 1 && ((int *)r.body)[1] == 1);
        free(r.body);
    }
    job_free(&l3.r);
    free(zeros);

    /* arguments checked against the kernel's parameters; unknown kernel; lost seq; bad buffer */
    snprintf(json, sizeof json,
             "{\"seq\": 4, \"steps\": [{\"launch\": {\"module\": \"%s\", \"function\": \"vadd\", \"grid\": "
             "[1], \"block\": [1],"
             " \"args\": [{\"buffer\": %lld}, {\"buffer\": %lld}, {\"buffer\": %lld}]}}]}",
             sha, ids[0], ids[1], ids[2]);
    jr = run_job(json, NULL, 0);
    CHECK(!strcmp(job_status(&jr), "invalid_request"));
    CHECK_CONTAINS(json_string_value(json_object_get(jr.res, "error")), "takes 4 arguments");
    CHECK_EQ_INT(json_integer_value(json_object_get(jr.res, "step")), 0);
    job_free(&jr);
    char v2[16];
    short two = 2;
    b64(&two, 2, v2);
    snprintf(
        json, sizeof json,
        "{\"seq\": 5, \"steps\": [{\"launch\": {\"module\": \"%s\", \"function\": \"vadd\", \"grid\": [1], "
        "\"block\": [1],"
        " \"args\": [{\"buffer\": %lld}, {\"buffer\": %lld}, {\"buffer\": %lld}, {\"value\": \"%s\"}]}}]}",
        sha, ids[0], ids[1], ids[2], v2);
    jr = run_job(json, NULL, 0);
    CHECK(!strcmp(job_status(&jr), "invalid_request"));
    CHECK_CONTAINS(json_string_value(json_object_get(jr.res, "error")), "4 bytes");
    job_free(&jr);
    snprintf(
        json, sizeof json,
        "{\"seq\": 6, \"steps\": [{\"launch\": {\"module\": \"%s\", \"function\": \"nope\", \"args\": []}}]}",
        sha);
    jr = run_job(json, NULL, 0);
    CHECK(!strcmp(job_status(&jr), "not_found"));
    job_free(&jr);
    snprintf(json, sizeof json, "{\"seq\": 7, \"steps\": [{\"read\": {\"buffer\": 424242, \"size\": 4}}]}");
    jr = run_job(json, NULL, 0);
    CHECK(!strcmp(job_status(&jr), "not_found"));
    job_free(&jr);
    snprintf(json, sizeof json, "{\"seq\": 8, \"steps\": [{\"write\": {\"buffer\": %lld, \"size\": 8}}]}",
             ids[0]);
    jr = run_job(json, "1234", 4); /* the body is shorter than the step says */
    CHECK(!strcmp(job_status(&jr), "invalid_request"));
    job_free(&jr);
    snprintf(json, sizeof json, "{\"seq\": 9, \"steps\": [{\"frobnicate\": {}}]}");
    jr = run_job(json, NULL, 0);
    CHECK(!strcmp(job_status(&jr), "invalid_request"));
    job_free(&jr);

    /* ---- many jobs in flight, arriving in any order, run in seq order ---- */
    int seq = 10;
    if (kernels) {
        r = req("POST", "/v1/buffers", "{\"size\": 4}", 11, "application/json", NULL);
        json_t *j = as_json(&r);
        long long counter = json_integer_value(json_object_get(j, "buffer"));
        json_decref(j);
        free(r.body);
        int zero = 0;
        snprintf(json, sizeof json,
                 "{\"seq\": %d, \"steps\": [{\"write\": {\"buffer\": %lld, \"size\": 4}}]}", seq++, counter);
        jr = run_job(json, &zero, 4);
        CHECK(!strcmp(job_status(&jr), "ok"));
        job_free(&jr);
        enum { K = 40 };
        static later many[K];
        pthread_t th_many[K];
        int order[K];
        for (int k = 0; k < K; k++)
            order[k] = k;
        for (int k = K - 1; k > 0; k--) { /* a fixed shuffle: later seqs often arrive first */
            int m = (k * 7 + 3) % (k + 1), tmp = order[k];
            order[k] = order[m];
            order[m] = tmp;
        }
        char one[16];
        int n1 = 1;
        b64(&n1, 4, one);
        for (int k = 0; k < K; k++)
            snprintf(
                many[k].json, sizeof many[k].json,
                "{\"seq\": %d, \"steps\": [{\"launch\": {\"module\": \"%s\", \"function\": \"inc\", "
                "\"args\": "
                "[{\"buffer\": %lld}, {\"value\": \"%s\"}]}}, {\"read\": {\"buffer\": %lld, \"size\": 4}}]}",
                seq + k, sha, counter, one, counter);
        for (int k = 0; k < K; k++)
            pthread_create(&th_many[order[k]], NULL, job_thread, &many[order[k]]);
        int bad = 0;
        for (int k = 0; k < K; k++) {
            pthread_join(th_many[k], NULL);
            int v = -1;
            if (many[k].r.dlen == 4) memcpy(&v, many[k].r.data, 4);
            if (strcmp(job_status(&many[k].r), "ok") || v != k + 1) {
                if (bad++ < 5)
                    fprintf(stderr, "job seq %d read %d, expected %d (%s)\n", seq + k, v, k + 1,
                            job_status(&many[k].r));
            }
            job_free(&many[k].r);
        }
        CHECK_EQ_INT(bad, 0);
        seq += K;
    }
    seq = (int)test_sessions(seq);
    if (kernels) seq = (int)test_output(sha, seq, ids[0]);

    /* ---- a sticky CUDA error: the job fails, the worker exits 3, a replacement takes over ---- */
    int sticky_ok = 0;
    later behind;
    memset(&behind, 0, sizeof behind);
    if (kernels) {
        unsigned long long bad_addr = 0x10;
        char av[32];
        b64(&bad_addr, 8, av);
        /* the fault surfaces at the read behind the launch, as on a GPU: the job's error is the
         * kernel's, at its step, and says where it was reported */
        snprintf(json, sizeof json,
                 "{\"seq\": %d, \"steps\": [{\"launch\": {\"module\": \"%s\", \"function\": \"poke\", "
                 "\"args\": [{\"value\": \"%s\"}]}},"
                 " {\"read\": {\"buffer\": %lld, \"size\": 8}}]}",
                 seq++, sha, av, ids[0]);
        /* a job that arrived first and waits behind the one that faults */
        snprintf(behind.json, sizeof behind.json, "{\"seq\": %d, \"steps\": []}", seq);
        pthread_t th_behind;
        pthread_create(&th_behind, NULL, job_thread, &behind);
        CHECK(metric_reaches("lepton_worker_queued_jobs", 1));
        jr = run_job(json, NULL, 0);
        CHECK(!strcmp(job_status(&jr), "cuda_error"));
        CHECK_CONTAINS(json_string_value(json_object_get(jr.res, "error")), "CUDA_ERROR_ILLEGAL_ADDRESS");
        CHECK_CONTAINS(json_string_value(json_object_get(jr.res, "error")),
                       "running kernel poke (reported at step 1, reading buffer");
        CHECK_EQ_INT(json_integer_value(json_object_get(jr.res, "step")), 0);
        CHECK(json_is_true(json_object_get(jr.res, "restarting")));
        printf("sticky fault answer: %.300s\n", jr.raw.len > 4 ? jr.raw.body + 4 : "");
        job_free(&jr);
        /* only the faulting job reports the error: the one behind it, and every request from now
         * on, is answered 503 worker_restarting with Retry-After */
        pthread_join(th_behind, NULL);
        CHECK_EQ_INT(behind.r.http, 503);
        CHECK(!strcmp(err_code(&behind.r.raw, code, sizeof code), "worker_restarting"));
        job_free(&behind.r);
        resp rh;
        r = req_h("GET", "/v1/info", NULL, 0, NULL, &rh);
        CHECK_EQ_INT(r.status, 503);
        CHECK(!strcmp(err_code(&r, code, sizeof code), "worker_restarting"));
        CHECK_CONTAINS(r.body, "CUDA_ERROR_ILLEGAL_ADDRESS");
        CHECK_CONTAINS(rh.body, "Retry-After: 1");
        printf("restarting answer: %.300s\n", r.body);
        free(rh.body);
        free(r.body);
        r = req("POST", "/v1/buffers", "{\"size\": 64}", 12, "application/json", NULL);
        CHECK_EQ_INT(r.status, 503);
        CHECK(!strcmp(err_code(&r, code, sizeof code), "worker_restarting"));
        free(r.body);
        snprintf(path, sizeof path, "/v1/buffers/%lld", ids[0]);
        r = req("GET", path, NULL, 0, NULL, NULL);
        CHECK_EQ_INT(r.status, 503);
        free(r.body);
        r = req("PUT", mpath, ptx, plen, "application/octet-stream", NULL);
        CHECK_EQ_INT(r.status, 503);
        free(r.body);
        r = req("GET", "/v1/info", NULL, 0, NULL, ""); /* whatever the token */
        CHECK_EQ_INT(r.status, 503);
        free(r.body);
        jr = run_job(behind.json, NULL, 0);
        CHECK_EQ_INT(jr.http, 503);
        CHECK(!strcmp(err_code(&jr.raw, code, sizeof code), "worker_restarting"));
        job_free(&jr);
        r = req("GET", "/healthz", NULL, 0, NULL, "");
        CHECK_EQ_INT(r.status, 503);
        free(r.body);
        CHECK(metric("lepton_worker_restarting_total") >= 7);
        int code3 = tc_proc_wait_exit(pid, 5000);
        CHECK_EQ_INT(code3, 3);
        pid = fx_start_worker(exe, lib, uuid, dir, keyhex, g_port, g_queue_bytes);
        CHECK(pid > 0);
        sticky_ok = pid > 0;
    }
    if (sticky_ok) {
        snprintf(path, sizeof path, "/v1/buffers/%lld", ids[0]);
        r = req("GET", path, NULL, 0, NULL, NULL);
        CHECK_EQ_INT(r.status, 410);
        CHECK(!strcmp(err_code(&r, code, sizeof code), "buffer_lost"));
        char lostmsg[200];
        snprintf(lostmsg, sizeof lostmsg,
                 "buffer %lld was lost when the worker restarted after CUDA_ERROR_ILLEGAL_ADDRESS", ids[0]);
        CHECK_CONTAINS(r.body, lostmsg);
        free(r.body);
        r = req("GET", mpath, NULL, 0, NULL, NULL); /* reloaded from the lease's state directory */
        CHECK_EQ_INT(r.status, 200);
        free(r.body);
        jr = run_job("{\"seq\": 1, \"steps\": []}", NULL, 0); /* it went on from its predecessor's seq */
        CHECK_EQ_INT(jr.http, 409);
        job_free(&jr);
        jr = run_job(behind.json, NULL, 0); /* the job answered 503 runs here, as the next seq */
        CHECK_EQ_INT(jr.http, 200);
        CHECK(!strcmp(job_status(&jr), "ok"));
        job_free(&jr);
        seq++;
        snprintf(json, sizeof json, "{\"seq\": %d, \"steps\": [{\"read\": {\"buffer\": %lld, \"size\": 4}}]}",
                 seq++, ids[1]);
        jr = run_job(json, NULL, 0);
        CHECK(!strcmp(job_status(&jr), "buffer_lost"));
        job_free(&jr);
        r = req("POST", "/v1/buffers", "{\"size\": 64}", 12, "application/json", NULL);
        CHECK_EQ_INT(r.status, 201);
        json_t *j = as_json(&r);
        CHECK(json_integer_value(json_object_get(j, "buffer")) > ids[2]); /* ids are never reused */
        json_decref(j);
        free(r.body);
        snprintf(path, sizeof path, "/v1/buffers/%lld", ids[2]);
        r = req("DELETE", path, NULL, 0, NULL, NULL); /* freeing a lost buffer is fine */
        CHECK_EQ_INT(r.status, 204);
        free(r.body);
        /* a session new to a replacement worker starts at the first seq it sees (its earlier jobs
         * may have run on the predecessor), without waiting for seqs that will never come */
        int64_t t0 = (int64_t)(now_s() * 1000);
        jr = session_job(9, "{\"seq\": 4, \"steps\": []}", NULL, 0);
        CHECK(!strcmp(job_status(&jr), "ok"));
        CHECK((int64_t)(now_s() * 1000) - t0 < 5000);
        job_free(&jr);
        jr = session_job(9, "{\"seq\": 3, \"steps\": []}", NULL, 0);
        CHECK_EQ_INT(jr.http, 502); /* before the first it ran here: lost with the predecessor */
        CHECK_CONTAINS(jr.raw.body, "node_lost");
        job_free(&jr);
        /* batches on this worker, whose clean exit below also checks them for leaks */
        seq = (int)test_batch(sha, seq);
        /* the seq record a replacement worker reads: the last finished and the highest accepted seq */
        char spath[700], *rec;
        size_t slen = 0;
        unsigned long long done = 0, recv = 0;
        snprintf(spath, sizeof spath, "%s/%s.seq", dir, uuid);
        rec = tc_read_file(spath, &slen);
        CHECK(rec && slen == 42 && sscanf(rec, "%llu %llu", &done, &recv) == 2);
        CHECK_EQ_INT(done, seq - 1);
        CHECK_EQ_INT(recv, seq - 1);
        free(rec);
        seq = test_many_entries(seq);
    }

    /* ---- clean stop ---- */
    r = req("GET", "/healthz", NULL, 0, NULL, "");
    CHECK_EQ_INT(r.status, 200);
    free(r.body);
    kill(pid, SIGTERM);
    CHECK_EQ_INT(tc_proc_wait_exit(pid, 10000), 0);

    tc_remove_dir(dir);
    test_queue(exe, lib, uuid, keyhex);
    free(ptx);
    free(pat);
    free(ab);
    fx_keys_free(&keys);
    free(tok_other_lease);
    free(tok_newer_lease);
    curl_global_cleanup();
    if (!kernels) {
        if (check_failures) return check_done("unit.agent.worker");
        printf("SKIPPED: the CPU driver cannot run kernels yet; the module/launch checks did not run\n");
        return CHECK_SKIP;
    }
    return check_done("unit.agent.worker");
}
