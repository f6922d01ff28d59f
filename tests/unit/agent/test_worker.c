/* test_worker.c — a lepton-worker process against the CPU driver, over raw HTTP: info, buffers
 * (a few MiB round trip with a pattern), modules (PTX upload, content addressing, JIT errors), jobs
 * (write + launch + read with checked results, seq order, retries, argument checks), tokens
 * (401/403), oversized and malformed bodies (4xx, worker still healthy), and a sticky CUDA error
 * (the worker exits 3; a replacement reloads the module and answers 410 for lost buffers).
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
#include "lease_token.h"
#include "rand.h"
#include "sha256.h"

static int g_port;
static char g_auth[2048];

typedef struct resp {
    long status;
    char *body;
    size_t len, cap;
} resp;

static size_t on_data(char *p, size_t s, size_t n, void *u) {
    resp *r = u;
    size_t k = s * n;
    if (r->len + k + 1 > r->cap) {
        size_t cap = r->cap ? r->cap : 4096;
        while (cap < r->len + k + 1) cap *= 2;
        r->body = realloc(r->body, cap);
        r->cap = cap;
    }
    memcpy(r->body + r->len, p, k);
    r->len += k;
    r->body[r->len] = 0;
    return k;
}

/* One request; auth NULL = g_auth, "" = none. */
static resp req(const char *method, const char *path, const void *body, size_t len, const char *ctype, const char *auth) {
    resp r = {0};
    CURL *c = curl_easy_init();
    char url[600];
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", g_port, path);
    struct curl_slist *h = NULL;
    char hb[2200];
    if (!auth) auth = g_auth;
    if (*auth) {
        snprintf(hb, sizeof hb, "Authorization: %s", auth);
        h = curl_slist_append(h, hb);
    }
    h = curl_slist_append(h, "Expect:");
    if (ctype) {
        snprintf(hb, sizeof hb, "Content-Type: %s", ctype);
        h = curl_slist_append(h, hb);
    }
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &r);
    if (body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    }
    if (curl_easy_perform(c) != CURLE_OK) r.status = -1;
    else curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    if (!r.body) r.body = calloc(1, 1);
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
static long raw_status(const char *head) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)g_port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        close(fd);
        return -1;
    }
    struct timeval tv = {10, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    if (write(fd, head, strlen(head)) < 0) {
        close(fd);
        return -1;
    }
    char buf[512] = "";
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    long st = -1;
    if (n > 12) sscanf(buf, "HTTP/1.%*d %ld", &st);
    return st;
}

/* Job framing: u32 LE length + JSON + write bytes. */
static char *job_body(const char *json, const void *data, size_t dlen, size_t *len) {
    size_t n = strlen(json);
    char *b = malloc(4 + n + dlen);
    b[0] = (char)(n & 0xff);
    b[1] = (char)(n >> 8 & 0xff);
    b[2] = (char)(n >> 16 & 0xff);
    b[3] = (char)(n >> 24 & 0xff);
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
        const unsigned char *u = (const unsigned char *)jr.raw.body;
        size_t n = (size_t)u[0] | (size_t)u[1] << 8 | (size_t)u[2] << 16 | (size_t)u[3] << 24;
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

static pid_t start_worker(const char *exe, const char *lib, const char *uuid, const char *dir, const char *keyhex) {
    char listen[64];
    snprintf(listen, sizeof listen, "127.0.0.1:%d", g_port);
    pid_t pid = fork();
    if (pid == 0) {
        setenv("LEPTON_NODE_KEY", keyhex, 1);
        execl(exe, exe, "--listen", listen, "--lease", "ls_test", "--uuid", uuid, "--state-dir", dir, "--node", "node-t",
              "--index", "0", "--cuda-library", lib, (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < 200; i++) { /* up to 10 s */
        resp r = req("GET", "/healthz", NULL, 0, NULL, "");
        long st = r.status;
        free(r.body);
        if (st == 200) return pid;
        int ws;
        if (waitpid(pid, &ws, WNOHANG) == pid) return -1;
        usleep(50000);
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    return -1;
}

static int wait_exit(pid_t pid, int timeout_ms) {
    for (int t = 0; t < timeout_ms; t += 20) {
        int ws;
        if (waitpid(pid, &ws, WNOHANG) == pid) return WIFEXITED(ws) ? WEXITSTATUS(ws) : 128 + WTERMSIG(ws);
        usleep(20000);
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    return -1;
}

static int free_port(void) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(fd, (struct sockaddr *)&sa, sizeof sa);
    socklen_t sl = sizeof sa;
    getsockname(fd, (struct sockaddr *)&sa, &sl);
    close(fd);
    return ntohs(sa.sin_port);
}

static char *read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)n + 1);
    if (fread(b, 1, (size_t)n, f) != (size_t)n) n = 0;
    b[n] = 0;
    fclose(f);
    *len = (size_t)n;
    return b;
}

static void b64(const void *p, size_t n, char *out) { lp_b64url_encode(p, n, out); }

typedef struct later {
    char json[512];
    job_result r;
} later;

static void *job_thread(void *p) {
    later *l = p;
    l->r = run_job(l->json, NULL, 0);
    return NULL;
}

int main(int argc, char **argv) {
    if (argc < 4 || access(argv[2], R_OK) != 0) {
        printf("SKIPPED: the CPU driver (cudaemu libcuda.so.1) is not built at %s\n", argc > 2 ? argv[2] : "?");
        return SKIP_CODE;
    }
    const char *exe = argv[1], *lib = argv[2];
    signal(SIGPIPE, SIG_IGN);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    setenv("CUDAEMU_DEVICE_COUNT", "1", 1);
    unsetenv("CUDAEMU_DEVICES");
    setenv("CUDAEMU_WATCHDOG_MS", "10000", 1);

    /* the GPU's UUID, as the agent would learn it */
    lp_cuda cu;
    char err[600];
    lp_gpu_desc *gpus = NULL;
    int ngpu = 0;
    if (lp_cuda_open(&cu, lib, err, sizeof err) != 0 || lp_cuda_list_gpus(&cu, &gpus, &ngpu, err, sizeof err) != 0 ||
        ngpu < 1) {
        fprintf(stderr, "cannot list the emulated GPU: %s\n", err);
        return 1;
    }
    char uuid[64];
    snprintf(uuid, sizeof uuid, "%s", gpus[0].uuid);
    free(gpus);
    lp_cuda_close(&cu);

    /* a node key and lease tokens signed with it, as the broker does */
    unsigned char key[32], other_key[32];
    lp_random_bytes(key, 32);
    lp_random_bytes(other_key, 32);
    char keyhex[65];
    lp_hex(keyhex, key, 32);
    char payload[512];
    snprintf(payload, sizeof payload, "{\"lease\":\"ls_test\",\"node\":\"node-t\",\"gpus\":[\"%s\"],\"expires_at\":1}", uuid);
    char *tok = lp_lease_token_sign(key, payload);
    snprintf(g_auth, sizeof g_auth, "Bearer %s", tok);
    char *tok_bad_sig = lp_lease_token_sign(other_key, payload);
    snprintf(payload, sizeof payload, "{\"lease\":\"ls_other\",\"node\":\"node-t\",\"gpus\":[\"%s\"],\"expires_at\":1}", uuid);
    char *tok_newer_lease = lp_lease_token_sign(key, payload);
    char *tok_other_lease = lp_lease_token_sign(key, "{\"lease\":\"ls_test\",\"node\":\"node-t\",\"gpus\":[\"GPU-x\"]}");
    char a_newer[2048];
    snprintf(a_newer, sizeof a_newer, "Bearer %s", tok_newer_lease);
    char a_bad[2048], a_other[2048];
    snprintf(a_bad, sizeof a_bad, "Bearer %s", tok_bad_sig);
    snprintf(a_other, sizeof a_other, "Bearer %s", tok_other_lease);

    char dir[] = "/tmp/lepton-worker-test-XXXXXX";
    if (!mkdtemp(dir)) return 1;
    g_port = free_port();
    pid_t pid = start_worker(exe, lib, uuid, dir, keyhex);
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
    for (size_t i = 0; i < N; i++) pat[i] = (unsigned char)(i * 31 + (i >> 11));
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
             "PUT /v1/modules/%064d HTTP/1.1\r\nHost: x\r\nAuthorization: %s\r\nContent-Length: 100000000\r\n\r\nabc", 0,
             g_auth);
    CHECK_EQ_INT(raw_status(head), 413);
    snprintf(head, sizeof head, "POST /v1/jobs HTTP/1.1\r\nHost: x\r\nAuthorization: %s\r\nContent-Length: 999999999\r\n\r\n",
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
    char *ptx = read_file(argv[3], &plen);
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
    const char *broken = ".version 7.0\n.target sm_75\n.address_size 64\n.visible .entry f() { bogus.instruction; }\n";
    char bsha[65], bpath[128];
    lp_sha256_hex(broken, strlen(broken), bsha);
    snprintf(bpath, sizeof bpath, "/v1/modules/%s", bsha);
    r = req("PUT", bpath, broken, strlen(broken), "application/octet-stream", NULL);
    CHECK_EQ_INT(r.status, 400);
    CHECK(!strcmp(err_code(&r, code, sizeof code), "cuda_error"));
    CHECK_CONTAINS(r.body, "CUDA_ERROR_");
    printf("JIT failure answer: %.300s\n", r.body);
    free(r.body);
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
    snprintf(json, sizeof json,
             "{\"seq\": 1, \"steps\": ["
             "{\"write\": {\"buffer\": %lld, \"offset\": 0, \"size\": %zu}},"
             "{\"write\": {\"buffer\": %lld, \"size\": %zu}},"
             "{\"launch\": {\"module\": \"%s\", \"function\": \"vadd\", \"grid\": [%d], \"block\": [256, 1, 1],"
             " \"args\": [{\"buffer\": %lld}, {\"buffer\": %lld, \"offset\": 0}, {\"buffer\": %lld}, {\"value\": \"%s\"}]}},"
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
        if (strcmp(job_status(&jr), "ok")) fprintf(stderr, "job 1: %.600s\n", jr.raw.len > 4 ? jr.raw.body + 4 : "(no result)");
        CHECK_EQ_INT(jr.dlen, vb);
        int bad = 0;
        float *c = malloc(vb); /* the result bytes need not be aligned */
        if (jr.dlen == vb) memcpy(c, jr.data, vb);
        for (int i = 0; jr.dlen == vb && i < n; i++)
            if (c[i] != ab[i] + ab[n + i]) bad++;
        free(c);
        CHECK_EQ_INT(bad, 0);
        CHECK(json_integer_value(json_object_get(jr.res, "ended_ns")) >= json_integer_value(json_object_get(jr.res, "started_ns")));
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
             "{\"seq\": 3, \"steps\": [{\"launch\": {\"module\": \"%s\", \"function\": \"inc\", \"grid\": [%d], \"block\": [256],"
             " \"args\": [{\"buffer\": %lld}, {\"value\": \"%s\"}]}}, {\"read\": {\"buffer\": %lld, \"size\": %zu}}]}",
             sha, (n + 255) / 256, ids[0], nval, ids[0], vb);
    pthread_t th;
    pthread_create(&th, NULL, job_thread, &l3);
    usleep(300000);
    snprintf(json, sizeof json, "{\"seq\": 2, \"steps\": [{\"write\": {\"buffer\": %lld, \"size\": %zu}}]}", ids[0], vb);
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
             "{\"seq\": 4, \"steps\": [{\"launch\": {\"module\": \"%s\", \"function\": \"vadd\", \"grid\": [1], \"block\": [1],"
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
    snprintf(json, sizeof json,
             "{\"seq\": 5, \"steps\": [{\"launch\": {\"module\": \"%s\", \"function\": \"vadd\", \"grid\": [1], \"block\": [1],"
             " \"args\": [{\"buffer\": %lld}, {\"buffer\": %lld}, {\"buffer\": %lld}, {\"value\": \"%s\"}]}}]}",
             sha, ids[0], ids[1], ids[2], v2);
    jr = run_job(json, NULL, 0);
    CHECK(!strcmp(job_status(&jr), "invalid_request"));
    CHECK_CONTAINS(json_string_value(json_object_get(jr.res, "error")), "4 bytes");
    job_free(&jr);
    snprintf(json, sizeof json,
             "{\"seq\": 6, \"steps\": [{\"launch\": {\"module\": \"%s\", \"function\": \"nope\", \"args\": []}}]}", sha);
    jr = run_job(json, NULL, 0);
    CHECK(!strcmp(job_status(&jr), "not_found"));
    job_free(&jr);
    snprintf(json, sizeof json, "{\"seq\": 7, \"steps\": [{\"read\": {\"buffer\": 424242, \"size\": 4}}]}");
    jr = run_job(json, NULL, 0);
    CHECK(!strcmp(job_status(&jr), "not_found"));
    job_free(&jr);
    snprintf(json, sizeof json, "{\"seq\": 8, \"steps\": [{\"write\": {\"buffer\": %lld, \"size\": 8}}]}", ids[0]);
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
        snprintf(json, sizeof json, "{\"seq\": %d, \"steps\": [{\"write\": {\"buffer\": %lld, \"size\": 4}}]}", seq++,
                 counter);
        jr = run_job(json, &zero, 4);
        CHECK(!strcmp(job_status(&jr), "ok"));
        job_free(&jr);
        enum { K = 40 };
        static later many[K];
        pthread_t th_many[K];
        int order[K];
        for (int k = 0; k < K; k++) order[k] = k;
        for (int k = K - 1; k > 0; k--) { /* a fixed shuffle: later seqs often arrive first */
            int m = (k * 7 + 3) % (k + 1), tmp = order[k];
            order[k] = order[m];
            order[m] = tmp;
        }
        char one[16];
        int n1 = 1;
        b64(&n1, 4, one);
        for (int k = 0; k < K; k++)
            snprintf(many[k].json, sizeof many[k].json,
                     "{\"seq\": %d, \"steps\": [{\"launch\": {\"module\": \"%s\", \"function\": \"inc\", \"args\": "
                     "[{\"buffer\": %lld}, {\"value\": \"%s\"}]}}, {\"read\": {\"buffer\": %lld, \"size\": 4}}]}",
                     seq + k, sha, counter, one, counter);
        for (int k = 0; k < K; k++) pthread_create(&th_many[order[k]], NULL, job_thread, &many[order[k]]);
        int bad = 0;
        for (int k = 0; k < K; k++) {
            pthread_join(th_many[k], NULL);
            int v = -1;
            if (many[k].r.dlen == 4) memcpy(&v, many[k].r.data, 4);
            if (strcmp(job_status(&many[k].r), "ok") || v != k + 1) {
                if (bad++ < 5) fprintf(stderr, "job seq %d read %d, expected %d (%s)\n", seq + k, v, k + 1, job_status(&many[k].r));
            }
            job_free(&many[k].r);
        }
        CHECK_EQ_INT(bad, 0);
        seq += K;
    }

    /* ---- a sticky CUDA error: the job fails, the worker exits 3, a replacement takes over ---- */
    int sticky_ok = 0;
    if (kernels) {
        unsigned long long bad_addr = 0x10;
        char av[32];
        b64(&bad_addr, 8, av);
        snprintf(json, sizeof json,
                 "{\"seq\": %d, \"steps\": [{\"launch\": {\"module\": \"%s\", \"function\": \"poke\", \"args\": [{\"value\": \"%s\"}]}}]}",
                 seq++, sha, av);
        jr = run_job(json, NULL, 0);
        CHECK(!strcmp(job_status(&jr), "cuda_error"));
        CHECK_CONTAINS(json_string_value(json_object_get(jr.res, "error")), "CUDA_ERROR_");
        printf("sticky fault answer: %.300s\n", jr.raw.len > 4 ? jr.raw.body + 4 : "");
        job_free(&jr);
        int code3 = wait_exit(pid, 5000);
        CHECK_EQ_INT(code3, 3);
        pid = start_worker(exe, lib, uuid, dir, keyhex);
        CHECK(pid > 0);
        sticky_ok = pid > 0;
    }
    if (sticky_ok) {
        snprintf(path, sizeof path, "/v1/buffers/%lld", ids[0]);
        r = req("GET", path, NULL, 0, NULL, NULL);
        CHECK_EQ_INT(r.status, 410);
        CHECK(!strcmp(err_code(&r, code, sizeof code), "buffer_lost"));
        free(r.body);
        r = req("GET", mpath, NULL, 0, NULL, NULL); /* reloaded from the lease's state directory */
        CHECK_EQ_INT(r.status, 200);
        free(r.body);
        snprintf(json, sizeof json, "{\"seq\": %d, \"steps\": [{\"read\": {\"buffer\": %lld, \"size\": 4}}]}", seq++, ids[1]);
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
    }

    /* ---- clean stop ---- */
    r = req("GET", "/healthz", NULL, 0, NULL, "");
    CHECK_EQ_INT(r.status, 200);
    free(r.body);
    kill(pid, SIGTERM);
    CHECK_EQ_INT(wait_exit(pid, 10000), 0);

    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "cannot remove %s\n", dir);
    free(ptx);
    free(pat);
    free(ab);
    free(tok);
    free(tok_bad_sig);
    free(tok_other_lease);
    free(tok_newer_lease);
    curl_global_cleanup();
    if (!kernels) {
        if (check_failures) CHECK_DONE();
        printf("SKIPPED: the CPU driver cannot run kernels yet; the module/launch checks did not run\n");
        return SKIP_CODE;
    }
    CHECK_DONE();
}
