/* tls_stream_probe.c — liblepton's stream over TLS (test_tls.sh): opens a one-GPU lease trusting
 * the fleet's self-signed certificate (--ca-file), writes a buffer, runs N saxpy jobs that read
 * their result back one at a time, then 64 in flight together (answers the worker coalesces), checks
 * every result against the host, then asks the lease worker's /metrics
 * (over https, same CA) how many job frames came on its stream: N unless LEPTON_DP_STREAM=0 (then
 * 0). The worker's address comes from the broker's lease JSON (data_plane.workers).
 * usage: tls_stream_probe ENDPOINT TOKEN CA_FILE SAXPY_PTX   (exit 0 ok, 1 failed) */
#include <curl/curl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lepton/lepton.h"

#define JOBS 50
#define N 1024

typedef struct body {
    char *p;
    size_t len;
} body;

static size_t sink(char *p, size_t size, size_t n, void *user) {
    body *b = user;
    char *q = realloc(b->p, b->len + size * n + 1);
    if (!q) return 0;
    memcpy(q + b->len, p, size * n);
    b->len += size * n;
    q[b->len] = '\0';
    b->p = q;
    return size * n;
}

/* GET url (with the CA and, if given, a bearer token); the body, or NULL. */
static char *get(const char *url, const char *ca, const char *token) {
    CURL *e = curl_easy_init();
    body b = {NULL, 0};
    struct curl_slist *h = NULL;
    char auth[2200];
    if (token) {
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", token);
        h = curl_slist_append(h, auth);
    }
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_CAINFO, ca);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, sink);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(e, CURLOPT_TIMEOUT, 10L);
    long code = 0;
    if (curl_easy_perform(e) != CURLE_OK ||
        (curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &code), code != 200)) {
        fprintf(stderr, "GET %s failed (HTTP %ld)\n", url, code);
        free(b.p);
        b.p = NULL;
    }
    curl_slist_free_all(h);
    curl_easy_cleanup(e);
    return b.p;
}

/* lepton_worker_stream_frames_total{...,kind="job"} in a /metrics text, or -1. */
static long long job_frames(const char *text) {
    for (const char *p = text; p && (p = strstr(p, "lepton_worker_stream_frames_total{")); p++) {
        const char *eol = strchr(p, '\n'), *k = strstr(p, "kind=\"job\"}");
        if (k && (!eol || k < eol)) return strtoll(k + strlen("kind=\"job\"}"), NULL, 10);
    }
    return -1;
}

/* lepton_worker_stream_sends_total: the worker's sendmsg calls of stream answers; -1 if absent. */
static long long stream_sends(const char *text) {
    const char *p = strstr(text, "\nlepton_worker_stream_sends_total{");
    p = p ? strchr(p, '}') : NULL;
    return p ? strtoll(p + 1, NULL, 10) : -1;
}

#define FAIL(...) (fprintf(stderr, __VA_ARGS__), fprintf(stderr, " (%s)\n", lepton_last_error()), rc = 1)

int main(int argc, char **argv) {
    if (argc != 5) {
        fprintf(stderr, "usage: %s ENDPOINT TOKEN CA_FILE SAXPY_PTX\n", argv[0]);
        return 2;
    }
    const char *endpoint = argv[1], *token = argv[2], *ca = argv[3];
    FILE *f = fopen(argv[4], "rb");
    static char ptx[1 << 20];
    size_t ptx_len = f ? fread(ptx, 1, sizeof ptx, f) : 0;
    if (f) fclose(f);
    if (!ptx_len) return fprintf(stderr, "cannot read %s\n", argv[4]), 1;
    int rc = 0;
    lepton_client_options o = LEPTON_CLIENT_OPTIONS_INIT;
    o.endpoint = endpoint;
    o.token = token;
    o.ca_file = ca;
    o.timeout_ms = 10000;
    lepton_client *c = NULL;
    lepton_lease *l = NULL;
    lepton_module *m = NULL;
    lepton_buffer *bx = NULL, *by = NULL;
    if (lepton_client_open(&c, &o)) return FAIL("client open"), 1;
    lepton_lease_request r = LEPTON_LEASE_REQUEST_INIT;
    r.gpu_count = 1;
    r.ttl_seconds = 300;
    r.wait_ms = 5000;
    if (lepton_lease_open(c, &r, &l)) {
        FAIL("lease open");
        goto out;
    }
    lepton_lease_info li = LEPTON_LEASE_INFO_INIT;
    lepton_lease_get_info(l, &li);
    char url[512];
    snprintf(url, sizeof url, "%s/v1/leases/%s", endpoint, li.id);
    char *lease = get(url, ca, token);
    json_t *j = lease ? json_loads(lease, 0, NULL) : NULL;
    free(lease);
    json_t *lj = json_object_get(j, "lease") ? json_object_get(j, "lease") : j;
    const char *worker = json_string_value(json_object_get(
        json_array_get(json_object_get(json_object_get(lj, "data_plane"), "workers"), 0), "address"));
    char metrics[512];
    snprintf(metrics, sizeof metrics, "%s/metrics", worker ? worker : "");
    json_decref(j);
    if (!worker || strncmp(metrics, "https://", 8)) {
        FAIL("the lease's worker address is not https: %s", metrics);
        goto out;
    }
    if (lepton_module_load(l, ptx, ptx_len, &m) || lepton_buffer_alloc(l, 0, N * sizeof(float), &bx) ||
        lepton_buffer_alloc(l, 0, N * sizeof(float), &by)) {
        FAIL("module or buffers");
        goto out;
    }
    /* the worker is up once the module is loaded */
    char *text = get(metrics, ca, NULL);
    long long before = text ? job_frames(text) : -1, sends0 = text ? stream_sends(text) : -1;
    free(text);
    static float x[N], y[N], out[N];
    for (int i = 0; i < N; i++)
        x[i] = (float)i;
    if (lepton_buffer_write(bx, 0, x, sizeof x)) FAIL("buffer write");
    int n = N, bad = 0;
    for (int k = 0; k < JOBS && !rc; k++) {
        float a = (float)k;
        for (int i = 0; i < N; i++)
            y[i] = 1.0f;
        lepton_arg args[] = {LEPTON_ARG_VAL(n), LEPTON_ARG_VAL(a), LEPTON_ARG_BUF(bx), LEPTON_ARG_BUF(by)};
        lepton_launch L = {m, "saxpy", {N / 256}, {256}, 0, args, 4};
        lepton_step s[] = {{LEPTON_STEP_WRITE, by, 0, y, sizeof y, NULL},
                           {LEPTON_STEP_LAUNCH, NULL, 0, NULL, 0, &L},
                           {LEPTON_STEP_READ, by, 0, out, sizeof out, NULL}};
        lepton_job job = LEPTON_JOB_INIT;
        job.steps = s;
        job.step_count = 3;
        lepton_task *t = NULL;
        if (lepton_submit(l, &job, &t) || lepton_wait(t, 20000)) FAIL("job %d", k);
        lepton_task_free(t);
        for (int i = 0; i < N; i++)
            bad += out[i] != a * (float)i + 1.0f;
    }
    /* PIPE jobs in flight at once: their answers (small: a slice read back) are held by the worker
     * while the next frame is read ahead and sent together through the TLS relay */
    enum { PIPE = 64, PN = 16 }; /* small frames and answers: several in one read of the TLS relay */
    static float pout[PIPE][PN], pa[PIPE];
    static lepton_arg pargs[PIPE][4];
    static lepton_launch pl[PIPE];
    static lepton_step ps[PIPE][3];
    lepton_task *pt[PIPE] = {0};
    for (int k = 0; k < PIPE && !rc; k++) {
        pa[k] = (float)(100 + k);
        lepton_arg a4[] = {LEPTON_ARG_VAL(n), LEPTON_ARG_VAL(pa[k]), LEPTON_ARG_BUF(bx), LEPTON_ARG_BUF(by)};
        memcpy(pargs[k], a4, sizeof a4);
        pl[k] = (lepton_launch){m, "saxpy", {N / 256}, {256}, 0, pargs[k], 4};
        lepton_step s3[] = {{LEPTON_STEP_WRITE, by, 0, y, PN * sizeof(float), NULL},
                            {LEPTON_STEP_LAUNCH, NULL, 0, NULL, 0, &pl[k]},
                            {LEPTON_STEP_READ, by, 0, pout[k], sizeof pout[k], NULL}};
        memcpy(ps[k], s3, sizeof s3);
        lepton_job job = LEPTON_JOB_INIT;
        job.steps = ps[k];
        job.step_count = 3;
        if (lepton_submit(l, &job, &pt[k])) FAIL("pipelined job %d", k);
    }
    for (int k = 0; k < PIPE; k++) {
        if (pt[k] && lepton_wait(pt[k], 20000)) FAIL("pipelined job %d", k);
        lepton_task_free(pt[k]);
        for (int i = 0; pt[k] && i < PN; i++)
            bad += pout[k][i] != pa[k] * (float)i + 1.0f;
    }
    if (bad) rc = 1, fprintf(stderr, "%d wrong results\n", bad);
    text = get(metrics, ca, NULL);
    long long frames = text ? job_frames(text) - before : -1, sends = text ? stream_sends(text) - sends0 : -1;
    free(text);
    const char *env = getenv("LEPTON_DP_STREAM");
    long long want = env && !strcmp(env, "0") ? 0 : JOBS + PIPE;
    printf("%d jobs over https (the last %d in flight together): %lld came on the worker's stream (expected "
           "%lld), answered in %lld sendmsg calls\n",
           JOBS + PIPE, PIPE, frames, want, sends);
    if (before < 0 || frames != want) rc = 1;
out:
    lepton_buffer_free(bx);
    lepton_buffer_free(by);
    lepton_module_free(m);
    if (l && lepton_lease_close(l)) FAIL("lease close");
    lepton_client_close(c);
    return rc;
}
