/* fake_worker.c — the fake lease worker of the client's unit tests (fake_worker.h). One thread
 * per connection, blocking I/O, whole bodies in memory: simple rather than fast, but quick enough
 * on loopback to show the client's own overhead. */
#include "fake_worker.h"
#include "buf.h"
#include "wire_job.h"

#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "net.h"
#include "proc.h"
#include "server.h"

#define FW_MAX_BUFFERS 256
#define FW_MAX_MODULES 32
#define FW_MAX_EXEC 100000

typedef struct fw_buffer {
    unsigned char *mem;
    uint64_t size;
    int lost;
} fw_buffer;

struct fake_worker {
    tc_server *srv;
    int port;
    char url[64];
    char auth[512];
    pthread_mutex_t lock;
    pthread_cond_t seq_cv;
    int stopping;
    int dead; /* crash(): refuse everything from now on */
    fw_counts counts;
    int starting, queue_full, restarting;
    char modules[FW_MAX_MODULES][65];
    int nmodules;
    fw_buffer buffers[FW_MAX_BUFFERS]; /* id = index + 1 */
    int nbuffers;
    uint64_t next_seq;
    uint64_t *exec_seqs, *exec_tags;
    int nexec;
    char last_desc[8192];
};

static void reply(int fd, int status, const char *ctype, const void *body, size_t len) {
    char head[4096];
    int n = snprintf(head, sizeof head, "HTTP/1.1 %d X\r\nContent-Type: %s\r\nContent-Length: %zu\r\n\r\n",
                     status, ctype, len);
    if (len <= sizeof head - (size_t)n) { /* small answers in one segment, as a real server does */
        memcpy(head + n, body, len);
        tc_send_all(fd, head, (size_t)n + len);
        return;
    }
    if (tc_send_all(fd, head, (size_t)n) == 0 && len) tc_send_all(fd, body, len);
}

static void reply_json(int fd, int status, const char *json) {
    reply(fd, status, "application/json", json, strlen(json));
}

static void reply_error(int fd, int status, const char *code, const char *msg) {
    json_t *j = json_pack("{s:{s:s, s:s}}", "error", "code", code, "message", msg);
    char *text = json_dumps(j, JSON_COMPACT);
    reply_json(fd, status, text);
    free(text);
    json_decref(j);
}

/* A 503 with Retry-After, as the real worker answers queue_full and worker_restarting. */
static void reply_retry(int fd, const char *code, const char *msg) {
    json_t *j = json_pack("{s:{s:s, s:s}}", "error", "code", code, "message", msg);
    char *text = json_dumps(j, JSON_COMPACT);
    char head[1024];
    int n = snprintf(
        head, sizeof head,
        "HTTP/1.1 503 X\r\nContent-Type: application/json\r\nRetry-After: 1\r\nContent-Length: %zu\r\n\r\n%s",
        strlen(text), text);
    tc_send_all(fd, head, (size_t)n);
    free(text);
    json_decref(j);
}

static const char *functions_json =
    "{\"module\": \"m\", \"functions\": ["
    "{\"name\": \"empty\", \"params\": []},"
    "{\"name\": \"add_one\", \"params\": [{\"offset\": 0, \"size\": 8}, {\"offset\": 8, \"size\": 4}]},"
    "{\"name\": \"sleep\", \"params\": [{\"offset\": 0, \"size\": 4}]},"
    "{\"name\": \"fault\", \"params\": []},"
    "{\"name\": \"crash\", \"params\": []}]}";

/* Resolves a buffer id under the lock: NULL with *status 404 or 410. */
static fw_buffer *buffer_get(fake_worker *w, json_int_t id, int *status) {
    if (id < 1 || id > w->nbuffers || !w->buffers[id - 1].mem) {
        *status = 404;
        return NULL;
    }
    fw_buffer *b = &w->buffers[id - 1];
    if (b->lost) {
        *status = 410;
        return NULL;
    }
    return b;
}

static int64_t mono_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* A job's answer: sent at once (rec NULL), or kept as a batch record (rec set). */
typedef struct fw_rec {
    unsigned char *p;
    size_t len;
} fw_rec;

static void job_answer(int fd, fw_rec *rec, unsigned char *framed, size_t len) {
    if (rec) {
        rec->p = framed;
        rec->len = len;
        return;
    }
    reply(fd, 200, "application/octet-stream", framed, len);
    free(framed);
}

static unsigned char *framed_result(json_t *res, const unsigned char *data, size_t data_len, size_t *total) {
    char *text = json_dumps(res, JSON_COMPACT);
    json_decref(res);
    size_t tl = strlen(text);
    *total = 4 + tl + data_len;
    unsigned char *resp = malloc(*total);
    resp[0] = (unsigned char)tl;
    resp[1] = (unsigned char)(tl >> 8);
    resp[2] = (unsigned char)(tl >> 16);
    resp[3] = (unsigned char)(tl >> 24);
    memcpy(resp + 4, text, tl);
    if (data_len) memcpy(resp + 4 + tl, data, data_len);
    free(text);
    return resp;
}

/* A job refused before it ran: an HTTP error alone, a result record in a batch. */
static void job_refuse(int fd, fw_rec *rec, int status, const char *code, const char *msg, json_int_t seq) {
    if (!rec) return reply_error(fd, status, code, msg);
    size_t total;
    unsigned char *r = framed_result(
        json_pack("{s:I, s:s, s:s, s:n}", "seq", seq, "status", code, "error", msg, "step"), NULL, 0, &total);
    job_answer(fd, rec, r, total);
}

/* The descriptor that arrived, as text for the tests: JSON as it came, a binary one (which
 * liblepton must not send over HTTP: workers before 1.1 read JSON only) as "(binary) " and its
 * JSON form. */
static void keep_descriptor(const unsigned char *body, char *out, size_t cap) {
    uint32_t n = wire_get_le32(body);
    const char *d = (const char *)body + 4;
    if (n < 4 || memcmp(d, WIRE_JOB_BIN_MAGIC, 4)) {
        snprintf(out, cap, "%.*s", (int)n, d);
        return;
    }
    lp_buf js = LP_BUF_INIT;
    snprintf(out, cap, "(binary) %s", wire_job_json_of(d, n, &js) == 0 ? js.p : "?");
    lp_buf_free(&js);
}

/* Runs a job; returns -1 when the connection must be dropped (crash). */
static int run_job(fake_worker *w, int fd, const unsigned char *body, size_t len, fw_rec *rec) {
    int64_t queued = mono_ns();
    wire_job j;
    long bad_step;
    char why[300];
    int drc = wire_job_decode((const char *)body, len, &j, &bad_step, why, sizeof why);
    json_int_t seq = (json_int_t)j.seq;
    if (drc) {
        wire_job_free(&j);
        job_refuse(fd, rec, 400, "invalid_request", "bad descriptor", seq);
        return 0;
    }
    pthread_mutex_lock(&w->lock);
    keep_descriptor(body, w->last_desc, sizeof w->last_desc);
    /* In seq order; a job that arrives early waits for its predecessors. */
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 10;
    while ((uint64_t)seq != w->next_seq && !w->stopping && !w->dead)
        if (pthread_cond_timedwait(&w->seq_cv, &w->lock, &until)) break;
    if (w->dead) { /* died meanwhile: no answer */
        pthread_mutex_unlock(&w->lock);
        wire_job_free(&j);
        return -1;
    }
    if ((uint64_t)seq != w->next_seq) {
        pthread_mutex_unlock(&w->lock);
        wire_job_free(&j);
        job_refuse(fd, rec, 409, "conflict", "seq out of order", seq);
        return 0;
    }
    int64_t started = mono_ns();
    const char *code = NULL;
    char msg[256] = "";
    long failed_step = -1;
    unsigned char *out = NULL;
    size_t out_len = 0;
    uint64_t tag = 0;
    int nwrites = 0, drop = 0;
    for (size_t i = 0; i < j.nsteps; i++) {
        const wire_job_step *s = &j.steps[i];
        int st = 0;
        if (s->kind == 'w' || s->kind == 'r') {
            fw_buffer *b = buffer_get(w, (json_int_t)s->buffer, &st);
            if (!b) {
                code = st == 410 ? "buffer_lost" : "not_found";
                snprintf(msg, sizeof msg, "buffer %s", st == 410 ? "lost" : "unknown");
            } else if (s->offset + s->size > b->size) {
                code = "invalid_request";
                snprintf(msg, sizeof msg, "range past the buffer");
            } else if (s->kind == 'w') {
                if (nwrites++ == 0 && s->size >= 8) memcpy(&tag, s->data, 8);
                memcpy(b->mem + s->offset, s->data, s->size);
            } else {
                out = realloc(out, out_len + s->size + 1);
                memcpy(out + out_len, b->mem + s->offset, s->size);
                out_len += s->size;
            }
        } else if (s->kind == 'l') {
            const char *fn = s->function;
            const wire_job_arg *args = s->args;
            if (!strcmp(fn, "add_one") && s->nargs == 2 && args[0].is_buffer && args[1].len == 4) {
                fw_buffer *b = buffer_get(w, (json_int_t)args[0].buffer, &st);
                uint64_t off = args[0].offset;
                uint32_t n;
                memcpy(&n, args[1].value, 4);
                if (!b) {
                    code = st == 410 ? "buffer_lost" : "not_found";
                    snprintf(msg, sizeof msg, "buffer %s", st == 410 ? "lost" : "unknown");
                } else {
                    for (uint64_t k = 0; k < n && off + k < b->size; k++)
                        b->mem[off + k]++;
                }
            } else if (!strcmp(fn, "sleep") && s->nargs == 1 && args[0].len == 4) {
                uint32_t ms;
                memcpy(&ms, args[0].value, 4);
                pthread_mutex_unlock(&w->lock);
                tc_sleep_ms(ms);
                pthread_mutex_lock(&w->lock);
            } else if (!strcmp(fn, "fault")) {
                code = "cuda_error";
                snprintf(msg, sizeof msg,
                         "CUDA_ERROR_ILLEGAL_ADDRESS: an illegal memory access was encountered (running the "
                         "kernel)");
            } else if (!strcmp(fn, "crash")) {
                drop = 1;
                break;
            }
        }
        if (code) {
            failed_step = (long)i;
            break;
        }
    }
    if (drop) {
        /* Like a process that died: every connection closes, nothing listens any more. */
        w->dead = 1;
        tc_server_kill(w->srv);
        pthread_cond_broadcast(&w->seq_cv);
        pthread_mutex_unlock(&w->lock);
        wire_job_free(&j);
        free(out);
        return -1;
    }
    if (w->nexec < FW_MAX_EXEC) {
        w->exec_seqs[w->nexec] = (uint64_t)seq;
        w->exec_tags[w->nexec++] = tag;
    }
    w->next_seq++;
    pthread_cond_broadcast(&w->seq_cv);
    pthread_mutex_unlock(&w->lock);
    json_t *res =
        json_pack("{s:I, s:s, s:s, s:o, s:I, s:I, s:I}", "seq", seq, "status", code ? code : "ok", "error",
                  msg, "step", failed_step >= 0 ? json_integer(failed_step) : json_null(), "queued_ns",
                  (json_int_t)queued, "started_ns", (json_int_t)started, "ended_ns", (json_int_t)mono_ns());
    wire_job_free(&j);
    size_t total;
    unsigned char *resp = framed_result(res, out, code ? 0 : out_len, &total);
    job_answer(fd, rec, resp, total);
    free(out);
    return 0;
}

static uint32_t le32(const unsigned char *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* POST /v1/jobs/batch: records of u32 LE length + a job body, answered by records of u32 LE
 * length + that job's result, in order. */
static int run_batch(fake_worker *w, int fd, unsigned char *body, size_t len) {
    size_t k = 0, at = 0;
    while (at < len) {
        if (len - at < 4 || le32(body + at) > len - at - 4) {
            reply_error(fd, 400, "invalid_request", "batch records do not add up");
            return 0;
        }
        at += 4 + le32(body + at);
        k++;
    }
    if (!k) {
        reply_error(fd, 400, "invalid_request", "empty batch");
        return 0;
    }
    pthread_mutex_lock(&w->lock);
    w->counts.batches++;
    w->counts.jobs += (int)k;
    if ((int)k > w->counts.largest_batch) w->counts.largest_batch = (int)k;
    pthread_mutex_unlock(&w->lock);
    fw_rec *recs = calloc(k, sizeof *recs);
    size_t total = 0;
    int rc = 0;
    at = 0;
    for (size_t i = 0; i < k && rc == 0; i++) {
        uint32_t l = le32(body + at);
        rc = run_job(w, fd, body + at + 4, l, &recs[i]);
        at += 4 + l;
        total += 4 + recs[i].len;
    }
    unsigned char *out = rc ? NULL : malloc(total ? total : 1);
    size_t o = 0;
    for (size_t i = 0; i < k; i++) {
        if (out) {
            uint32_t l = (uint32_t)recs[i].len;
            unsigned char le[4] = {(unsigned char)l, (unsigned char)(l >> 8), (unsigned char)(l >> 16),
                                   (unsigned char)(l >> 24)};
            memcpy(out + o, le, 4);
            memcpy(out + o + 4, recs[i].p, recs[i].len);
            o += 4 + recs[i].len;
        }
        free(recs[i].p);
    }
    free(recs);
    if (rc) return rc;
    reply(fd, 200, "application/octet-stream", out, total);
    free(out);
    return 0;
}

/* Handles one request; returns -1 to drop the connection. */
static int handle(fake_worker *w, int fd, const char *method, const char *path, const char *headers,
                  unsigned char *body, size_t len) {
    pthread_mutex_lock(&w->lock);
    if (w->dead) { /* a dead worker answers nothing, on any connection */
        pthread_mutex_unlock(&w->lock);
        return -1;
    }
    w->counts.requests++;
    const char *a = strcasestr(headers, "\r\nAuthorization: ");
    int authorized = a && !strncmp(a + 17, w->auth, strlen(w->auth)) && a[17 + strlen(w->auth)] == '\r';
    if (!authorized) w->counts.unauthorized++;
    int starting = w->starting > 0;
    if (starting) w->starting--;
    int is_job = !strcmp(method, "POST") && !strncmp(path, "/v1/jobs", 8);
    if (is_job) {
        const char *sh = strcasestr(headers, "\r\nLepton-Job-Seq: ");
        w->counts.last_seq_header = sh ? strtoull(sh + 18, NULL, 10) : 0;
    }
    int full = !starting && is_job && w->queue_full > 0;
    if (full) w->queue_full--;
    int restarting = !starting && !full && w->restarting > 0;
    if (restarting) w->restarting--;
    if (full || restarting) w->counts.refused++;
    pthread_mutex_unlock(&w->lock);
    if (starting) {
        reply_error(fd, 503, "worker_starting", "the lease worker is starting");
        return 0;
    }
    if (full) {
        reply_retry(fd, "queue_full", "the worker holds too many bytes of jobs waiting for their turn");
        return 0;
    }
    if (restarting) {
        reply_retry(fd, "worker_restarting", "the worker is restarting after CUDA_ERROR_ILLEGAL_ADDRESS");
        return 0;
    }
    if (!authorized) {
        reply_error(fd, 401, "unauthorized", "bad lease token");
        return 0;
    }
    char sha[80];
    unsigned long long id = 0, off = 0, size = 0;
    if (sscanf(path, "/v1/modules/%79s", sha) == 1) {
        pthread_mutex_lock(&w->lock);
        int found = -1;
        for (int i = 0; i < w->nmodules; i++)
            if (!strcmp(w->modules[i], sha)) found = i;
        if (!strcmp(method, "GET")) {
            w->counts.module_gets++;
            pthread_mutex_unlock(&w->lock);
            if (found >= 0)
                reply_json(fd, 200, functions_json);
            else
                reply_error(fd, 404, "not_found", "no such module");
            return 0;
        }
        if (!strcmp(method, "PUT")) {
            w->counts.module_puts++;
            int bad = memmem(body, len, "syntax error", 12) != NULL;
            if (!bad && found < 0 && w->nmodules < FW_MAX_MODULES)
                snprintf(w->modules[w->nmodules++], 65, "%.64s", sha);
            pthread_mutex_unlock(&w->lock);
            if (bad)
                reply_error(
                    fd, 400, "cuda_error",
                    "CUDA_ERROR_INVALID_PTX: ptxas application ptx input, line 3; fatal : Parsing error near "
                    "'syntax': syntax error");
            else
                reply_json(fd, 200, functions_json);
            return 0;
        }
        if (!strcmp(method, "DELETE")) {
            w->counts.module_deletes++;
            if (found >= 0) memcpy(w->modules[found], w->modules[--w->nmodules], 65);
            pthread_mutex_unlock(&w->lock);
            reply(fd, 204, "application/json", "", 0);
            return 0;
        }
        pthread_mutex_unlock(&w->lock);
    }
    if (!strcmp(method, "POST") && !strcmp(path, "/v1/buffers")) {
        json_t *j = json_loadb((const char *)body, len, 0, NULL);
        json_int_t n = json_integer_value(json_object_get(j, "size"));
        json_decref(j);
        pthread_mutex_lock(&w->lock);
        w->counts.buffer_allocs++;
        if (n <= 0 || n > (1ll << 31) || w->nbuffers == FW_MAX_BUFFERS) {
            pthread_mutex_unlock(&w->lock);
            reply_error(fd, 507, "out_of_memory", "the GPU has not that much free");
            return 0;
        }
        fw_buffer *b = &w->buffers[w->nbuffers++];
        b->mem = calloc(1, (size_t)n);
        b->size = (uint64_t)n;
        char text[96];
        snprintf(text, sizeof text, "{\"buffer\": %d, \"size\": %lld}", w->nbuffers, (long long)n);
        pthread_mutex_unlock(&w->lock);
        reply_json(fd, 201, text);
        return 0;
    }
    if (sscanf(path, "/v1/buffers/%llu", &id) == 1) {
        const char *q = strchr(path, '?');
        if (q) {
            const char *o = strstr(q, "offset=");
            const char *s = strstr(q, "size=");
            if (o) off = strtoull(o + 7, NULL, 10);
            if (s) size = strtoull(s + 5, NULL, 10);
        }
        pthread_mutex_lock(&w->lock);
        int st = 0;
        fw_buffer *b = buffer_get(w, (json_int_t)id, &st);
        if (!b) {
            pthread_mutex_unlock(&w->lock);
            reply_error(fd, st, st == 410 ? "buffer_lost" : "not_found",
                        st == 410 ? "buffer 1 was lost with the worker it lived on" : "no such buffer");
            return 0;
        }
        if (!strcmp(method, "PUT")) {
            w->counts.buffer_writes++;
            if (off + len > b->size) {
                pthread_mutex_unlock(&w->lock);
                reply_error(fd, 400, "invalid_request", "past the end");
                return 0;
            }
            memcpy(b->mem + off, body, len);
            pthread_mutex_unlock(&w->lock);
            reply(fd, 204, "application/json", "", 0);
            return 0;
        }
        if (!strcmp(method, "GET")) {
            w->counts.buffer_reads++;
            if (off + size > b->size) {
                pthread_mutex_unlock(&w->lock);
                reply_error(fd, 400, "invalid_request", "past the end");
                return 0;
            }
            unsigned char *copy = malloc(size + 1);
            memcpy(copy, b->mem + off, size);
            pthread_mutex_unlock(&w->lock);
            reply(fd, 200, "application/octet-stream", copy, size);
            free(copy);
            return 0;
        }
        if (!strcmp(method, "DELETE")) {
            w->counts.buffer_frees++;
            free(b->mem);
            b->mem = NULL;
            pthread_mutex_unlock(&w->lock);
            reply(fd, 204, "application/json", "", 0);
            return 0;
        }
        pthread_mutex_unlock(&w->lock);
    }
    if (!strcmp(method, "POST") && !strcmp(path, "/v1/jobs")) {
        pthread_mutex_lock(&w->lock);
        w->counts.jobs++;
        pthread_mutex_unlock(&w->lock);
        return run_job(w, fd, body, len, NULL);
    }
    if (!strcmp(method, "POST") && !strcmp(path, "/v1/jobs/batch")) return run_batch(w, fd, body, len);
    reply_error(fd, 404, "not_found", "no such route");
    return 0;
}

static int serve(int fd, const tc_server_req *r, void *user) {
    return handle(user, fd, r->method, r->path, r->head, r->body, r->body_len);
}

fake_worker *fw_start(const char *token, int port, int listen_after_ms) {
    fake_worker *w = calloc(1, sizeof *w);
    w->exec_seqs = calloc(FW_MAX_EXEC, sizeof *w->exec_seqs);
    w->exec_tags = calloc(FW_MAX_EXEC, sizeof *w->exec_tags);
    snprintf(w->auth, sizeof w->auth, "Bearer %s", token);
    w->next_seq = 1;
    pthread_mutex_init(&w->lock, NULL);
    pthread_cond_init(&w->seq_cv, NULL);
    w->srv = tc_server_start(port, listen_after_ms, 0, serve, w);
    if (!w->srv) return NULL;
    w->port = tc_server_port(w->srv);
    snprintf(w->url, sizeof w->url, "http://127.0.0.1:%d", w->port);
    return w;
}

void fw_stop(fake_worker *w) {
    if (!w) return;
    pthread_mutex_lock(&w->lock);
    w->stopping = 1;
    pthread_cond_broadcast(&w->seq_cv);
    pthread_mutex_unlock(&w->lock);
    tc_server_stop(w->srv);
    for (int i = 0; i < w->nbuffers; i++)
        free(w->buffers[i].mem);
    free(w->exec_seqs);
    free(w->exec_tags);
    pthread_cond_destroy(&w->seq_cv);
    pthread_mutex_destroy(&w->lock);
    free(w);
}

const char *fw_url(const fake_worker *w) { return w->url; }
int fw_port(const fake_worker *w) { return w->port; }

fw_counts fw_get_counts(fake_worker *w) {
    pthread_mutex_lock(&w->lock);
    fw_counts c = w->counts;
    pthread_mutex_unlock(&w->lock);
    c.connections = tc_server_connections(w->srv);
    return c;
}

void fw_add_module(fake_worker *w, const char *sha) {
    pthread_mutex_lock(&w->lock);
    snprintf(w->modules[w->nmodules++], 65, "%.64s", sha);
    pthread_mutex_unlock(&w->lock);
}

void fw_queue_full(fake_worker *w, int n) {
    pthread_mutex_lock(&w->lock);
    w->queue_full = n;
    pthread_mutex_unlock(&w->lock);
}

void fw_restarting(fake_worker *w, int n) {
    pthread_mutex_lock(&w->lock);
    w->restarting = n;
    pthread_mutex_unlock(&w->lock);
}

void fw_starting(fake_worker *w, int n) {
    pthread_mutex_lock(&w->lock);
    w->starting = n;
    pthread_mutex_unlock(&w->lock);
}

void fw_lose_buffer(fake_worker *w, uint64_t id) {
    pthread_mutex_lock(&w->lock);
    if (id >= 1 && id <= (uint64_t)w->nbuffers) w->buffers[id - 1].lost = 1;
    pthread_mutex_unlock(&w->lock);
}

int fw_executed(fake_worker *w, uint64_t *seqs, uint64_t *tags, int max) {
    pthread_mutex_lock(&w->lock);
    int n = w->nexec < max ? w->nexec : max;
    memcpy(seqs, w->exec_seqs, (size_t)n * sizeof *seqs);
    memcpy(tags, w->exec_tags, (size_t)n * sizeof *tags);
    pthread_mutex_unlock(&w->lock);
    return n;
}

void fw_last_descriptor(fake_worker *w, char *out, size_t n) {
    pthread_mutex_lock(&w->lock);
    snprintf(out, n, "%s", w->last_desc);
    pthread_mutex_unlock(&w->lock);
}
