/* worker_http.c — the lease worker's HTTP endpoints except jobs: info, health, buffers (bulk bytes
 * streamed between the socket and device memory) and modules (content-addressed images). */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "json_field.h"
#include "log.h"
#include "prom.h"
#include "rand.h"
#include "sha256.h"
#include "wire.h"
#include "worker.h"

static void reply_code(lp_http_req *r, int status, const char *code, const char *hint, const char *msg) {
    lp_http_reply_json_take(r, status, lp_http_error_body(code, msg, hint));
}

/* The last token accepted on this thread: a connection (one thread each) keeps sending the same
 * one, so the signature is checked once per connection rather than once per request. */
static _Thread_local char tl_good[1024];

int wk_authorized(lp_worker *w, lp_http_req *r) {
    if (wk_is_poisoned(w)) {
        wk_reply_restarting(w, r);
        return -1;
    }
    return wk_token_ok(w, r);
}

int wk_token_ok(lp_worker *w, lp_http_req *r) {
    char msg[300];
    const char *auth = lp_http_header(r, "Authorization");
    if (auth && tl_good[0] && !strcmp(auth, tl_good)) return 0;
    int rc = lp_token_check(&w->scope, auth, msg, sizeof msg);
    if (rc == LP_TOKEN_OK) {
        if (strlen(auth) < sizeof tl_good) memcpy(tl_good, auth, strlen(auth) + 1);
        return 0;
    }
    if (rc == LP_TOKEN_LEASE_ENDED)
        lp_http_reply_error(r, WIRE_LEASE_ENDED, "open a new lease", "%s", msg);
    else if (rc == LP_TOKEN_NEWER_LEASE)
        lp_http_reply_json_take(r, 503, lp_http_error_body("worker_starting", msg, "retry in a moment"));
    else if (rc == LP_TOKEN_FORBIDDEN)
        lp_http_reply_error(r, WIRE_FORBIDDEN, NULL, "%s", msg);
    else
        lp_http_reply_error(r, WIRE_UNAUTHORIZED, "send Authorization: Bearer <the lease's data_plane.token>",
                            "%s", msg);
    return -1;
}

#define RETRY_AFTER_S "1"

void wk_err_set(wk_err *e, const char *code, const char *hint, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    va_end(ap);
    e->code = code;
    e->hint = hint;
    e->status = wire_http_status(code);
}

void wk_reply_err(lp_http_req *r, const wk_err *e) {
    if (e->code && !strcmp(e->code, "queue_full")) lp_prom_http_refused(); /* back-pressure, not an error */
    if (e->status == 503) lp_http_add_header(r, "Retry-After", RETRY_AFTER_S);
    reply_code(r, e->status, e->code, e->hint, e->msg);
}

void wk_err_restarting(lp_worker *w, wk_err *e) {
    __atomic_fetch_add(&w->restarting_total, 1, __ATOMIC_RELAXED);
    wk_err_set(e, "worker_restarting", "retry in a moment: buffers allocated before the fault are lost",
               "the worker of GPU %s is restarting after %s; a fresh one comes up at this address", w->uuid,
               w->poison);
    e->status = 503;
}

void wk_err_queue_full(lp_worker *w, uint64_t len, wk_err *e) {
    pthread_mutex_lock(&w->job_mu); /* queued_bytes changes under job_mu only */
    uint64_t held = w->queued_bytes;
    pthread_mutex_unlock(&w->job_mu);
    wk_err_set(e, "queue_full", "send it again once earlier jobs have run",
               "the worker of GPU %s holds %" PRIu64
               " bytes of jobs waiting for their turn; a job of %" PRIu64
               " bytes would pass its limit of %" PRIu64 " bytes (leptond --job-queue-bytes)",
               w->uuid, held, len, w->queue_limit);
    e->status = 503;
}

void wk_err_buffer_status(lp_worker *w, uint64_t id, int status, wk_err *e) {
    if (status == 410) {
        wk_err_set(e, "buffer_lost", "allocate a new buffer and write its contents again", "%s", "");
        wk_lost_text(w, id, e->msg, sizeof e->msg);
        e->status = 410;
    } else {
        wk_err_set(e, WIRE_NOT_FOUND, NULL, "no buffer %" PRIu64 " on this GPU", id);
    }
}

void wk_reply_restarting(lp_worker *w, lp_http_req *r) {
    wk_err e;
    wk_err_restarting(w, &e);
    wk_reply_err(r, &e);
}

void wk_reply_buffer_status(lp_worker *w, lp_http_req *r, uint64_t id, int status) {
    wk_err e;
    wk_err_buffer_status(w, id, status, &e);
    wk_reply_err(r, &e);
}

/* Strict decimal: digits only, no sign, no overflow. */
static int parse_u64(const char *s, uint64_t *out) {
    if (!s || !*s || strlen(s) > 20) return -1;
    for (const char *p = s; *p; p++)
        if (*p < '0' || *p > '9') return -1;
    errno = 0;
    unsigned long long v = strtoull(s, NULL, 10);
    if (errno) return -1;
    *out = v;
    return 0;
}

static int buffer_id(lp_http_req *r, uint64_t *id) {
    const char *s = lp_http_param(r, "id");
    if (parse_u64(s, id) != 0 || *id == 0) {
        lp_http_reply_error(r, WIRE_INVALID, NULL, "'%.64s' is not a buffer id", s ? s : "");
        return -1;
    }
    return 0;
}

static int query_u64(lp_http_req *r, const char *name, uint64_t *out, int *present) {
    const char *s = lp_http_query(r, name);
    *present = s != NULL;
    if (!s) return 0;
    if (parse_u64(s, out) != 0) {
        lp_http_reply_error(r, WIRE_INVALID, NULL, "query parameter %s='%.64s' is not a non-negative integer",
                            name, s);
        return -1;
    }
    return 0;
}

/* ---- info, health ---- */
static void h_healthz(lp_http_req *r, void *user) {
    lp_worker *w = user;
    lp_http_reply_json_take(r, wk_is_poisoned(w) ? 503 : 200,
                            json_pack("{s:s, s:s, s:s}", "status", wk_is_poisoned(w) ? "restarting" : "ok",
                                      "lease", w->lease, "uuid", w->uuid));
}

static void h_metrics(lp_http_req *r, void *user) { wk_metrics_reply(user, r); }

static void h_info(lp_http_req *r, void *user) {
    lp_worker *w = user;
    if (wk_authorized(w, r) != 0) return;
    size_t fr = 0, total = w->memory_total;
    int bound = wk_bind(w) == 0;
    if (bound) w->cu.cuMemGetInfo(&fr, &total);
    /* every device attribute by its CUdevice_attribute number (index 0 is none), null where the
     * driver refuses it, up to the last one it answers: the remote driver answers
     * cuDeviceGetAttribute from this */
    json_t *attrs = json_array();
    size_t known = 1;
    json_array_append_new(attrs, json_null());
    for (int a = 1; a < LP_CU_DEVICE_ATTRIBUTE_LIMIT; a++) {
        int v = 0;
        if (bound && w->cu.cuDeviceGetAttribute(&v, a, w->dev) == LP_CUDA_SUCCESS) {
            json_array_append_new(attrs, json_integer(v));
            known = (size_t)a + 1;
        } else {
            json_array_append_new(attrs, json_null());
        }
    }
    while (json_array_size(attrs) > known)
        json_array_remove(attrs, json_array_size(attrs) - 1);
    json_t *cc = json_array();
    json_array_append(cc, json_array_get(attrs, LP_CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR));
    json_array_append(cc, json_array_get(attrs, LP_CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR));
    lp_http_reply_json_take(r, 200,
                            json_pack("{s:s, s:i, s:s, s:s, s:I, s:I, s:i, s:o, s:o, s:I}", "lease", w->lease,
                                      "index", w->index, "uuid", w->uuid, "name", w->gpu_name, "memory_total",
                                      (json_int_t)total, "memory_free", (json_int_t)fr, "driver_version",
                                      w->cu.driver_version, "compute_capability", cc, "attributes", attrs,
                                      "instance", (json_int_t)w->instance));
}

/* ---- buffers ---- */
static void h_buffer_alloc(lp_http_req *r, void *user) {
    lp_worker *w = user;
    if (wk_authorized(w, r) != 0) return;
    json_t *j = lp_http_json_body(r);
    if (!j) return;
    char err[256];
    int64_t size = 0;
    if (lp_json_int(j, "size", 1, (int64_t)WK_BUFFER_MAX, &size, err, sizeof err) != 0) {
        json_decref(j);
        lp_http_reply_error(r, WIRE_INVALID, NULL, "%s", err);
        return;
    }
    if (size < 1) {
        json_decref(j);
        lp_http_reply_error(r, WIRE_INVALID, NULL, "field 'size' is required: bytes, 1..%llu", WK_BUFFER_MAX);
        return;
    }
    json_decref(j);
    uint64_t id = 0;
    lp_cu_result cr;
    lp_cu_dptr address = 0;
    int st = wk_buffer_alloc(w, (uint64_t)size, &id, &address, &cr);
    if (st != 0) {
        char nb[64];
        if (st == 507) {
            size_t fr = 0, total = 0;
            w->cu.cuMemGetInfo(&fr, &total);
            lp_http_reply_error(r, WIRE_NO_MEMORY, "free buffers first, or lease a GPU with more memory",
                                "cannot allocate %" PRId64 " bytes on GPU %s: %zu of %zu bytes are free",
                                size, w->uuid, fr, total);
        } else {
            const char *name = lp_cuda_error_name(&w->cu, cr, nb, sizeof nb);
            lp_http_reply_error(r, WIRE_CUDA, NULL, "cuMemAlloc failed: %s", name);
            if (lp_cuda_error_is_sticky(cr)) {
                char why[128];
                snprintf(why, sizeof why, "%s in cuMemAlloc", name);
                wk_poison(w, why);
            }
        }
        return;
    }
    lp_log(LP_LOG_DEBUG, "lease %s gpu %s: buffer %" PRIu64 " of %" PRId64 " bytes", w->lease, w->uuid, id,
           size);
    lp_http_reply_json_take(r, 201,
                            json_pack("{s:I, s:I, s:I}", "buffer", (json_int_t)id, "size", (json_int_t)size,
                                      "address", (json_int_t)address));
}

static void h_buffer_free(lp_http_req *r, void *user) {
    lp_worker *w = user;
    uint64_t id;
    if (wk_authorized(w, r) != 0 || buffer_id(r, &id) != 0) return;
    if (wk_buffer_free(w, id) != 0) {
        wk_reply_buffer_status(w, r, id, 404);
        return;
    }
    lp_http_reply_bytes(r, 204, NULL, "", 0);
}

/* ---- buffer bytes (shared with the stream, worker_stream.c) ---- */
int wk_buffer_span(lp_worker *w, uint64_t id, uint64_t offset, uint64_t len, int has_len, int writing,
                   wk_buffer **b, wk_err *e) {
    int st = wk_buffer_get(w, id, b);
    if (st) {
        wk_err_buffer_status(w, id, st, e);
        return -1;
    }
    if (offset > (*b)->size || (has_len && len > (*b)->size - offset)) {
        wk_err_set(e, WIRE_INVALID, NULL,
                   "%s %" PRIu64 " bytes at offset %" PRIu64 " overruns buffer %" PRIu64 " of %" PRIu64
                   " bytes",
                   writing ? "writing" : "reading", len, offset, id, (*b)->size);
        wk_buffer_put(w, *b);
        *b = NULL;
        return -1;
    }
    return 0;
}

static int cuda_err(lp_worker *w, lp_cu_result cr, const char *what, uint64_t id, wk_err *e) {
    char nb[64];
    const char *name = lp_cuda_error_name(&w->cu, cr, nb, sizeof nb);
    wk_err_set(e, WIRE_CUDA, NULL, "%s buffer %" PRIu64 " failed: %s", what, id, name);
    if (lp_cuda_error_is_sticky(cr)) wk_poison(w, name);
    return -1;
}

/* A transfer of buffer id found no staging buffer (cr: wk_staging_take's). On a poisoned worker
 * (a sticky fault before the transfer's first bytes: the pinned allocation then fails too) the
 * answer is the one every request gets there, 503 worker_restarting; otherwise the CUDA error. */
static void staging_err(lp_worker *w, lp_cu_result cr, uint64_t id, wk_err *e) {
    if (wk_is_poisoned(w))
        wk_err_restarting(w, e);
    else
        cuda_err(w, cr, "staging host memory for", id, e);
}

/* ---- the copier (worker.h, wk_put and wk_get) ----
 * A ring of WK_SLOTS chunks of the transfer's staging buffer between the transfer's thread and its
 * copier. Chunk number k sits in slot k % WK_SLOTS. `made` counts the chunks the producing side has
 * filled (the transfer's thread for a write, the copier for a read), `used` those the consuming
 * side is done with; the producer may fill slot made % WK_SLOTS while made - used < WK_SLOTS. The
 * bytes of a slot belong to one side at a time and change hands with the counters, under mu. */
struct wk_pipe {
    lp_worker *w;
    wk_buffer *b;
    int down; /* 1: device → host (a read), 0: host → device (a write) */
    char *stage;
    size_t chunk;
    uint64_t base, total; /* a read: the offset in b of its first chunk, and its bytes */
    uint64_t made, used;
    uint64_t off[WK_SLOTS]; /* each slot's offset in b */
    size_t len[WK_SLOTS];   /* and its bytes */
    lp_cu_result err;       /* the first failed copy (LP_CUDA_SUCCESS: none); a write skips the rest */
    int stop;               /* the transfer is over: the copier ends after the copy in progress */
    pthread_mutex_t mu;
    pthread_cond_t cv; /* both sides wait on it: any change of made, used, err or stop */
    pthread_t th;
};

/* Waits on q->cv at most a second (callers re-check their condition). Under q->mu. */
static void pipe_wait(wk_pipe *q) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += 1;
    pthread_cond_timedwait(&q->cv, &q->mu, &ts);
}

static void *pipe_main(void *arg) {
    wk_pipe *q = arg;
    lp_worker *w = q->w;
    int bound = wk_bind(w) == 0;
    uint64_t nchunks = q->down ? (q->total + q->chunk - 1) / q->chunk : 0;
    pthread_mutex_lock(&q->mu);
    while (!q->stop) {
        if (q->down && (q->err != LP_CUDA_SUCCESS || q->made == nchunks)) break; /* nothing left to fetch */
        int work = q->down ? q->made - q->used < WK_SLOTS : q->used < q->made;
        if (!work) {
            pipe_wait(q);
            continue;
        }
        uint64_t k = q->down ? q->made : q->used;
        unsigned slot = (unsigned)(k % WK_SLOTS);
        if (q->down) {
            uint64_t at = k * q->chunk;
            q->off[slot] = q->base + at;
            q->len[slot] = q->total - at < q->chunk ? (size_t)(q->total - at) : q->chunk;
        }
        uint64_t off = q->off[slot];
        size_t len = q->len[slot];
        int skip = q->err != LP_CUDA_SUCCESS; /* a write after a failed chunk: its bytes are dropped */
        pthread_mutex_unlock(&q->mu);
        lp_cu_result cr = LP_CUDA_SUCCESS;
        if (!skip) {
            char *host = q->stage + (size_t)slot * q->chunk;
            if (!bound)
                cr = LP_CUDA_ERROR_NOT_INITIALIZED;
            else if (q->down)
                cr = w->cu.cuMemcpyDtoH(host, q->b->ptr + off, len);
            else
                cr = w->cu.cuMemcpyHtoD(q->b->ptr + off, host, len);
            if (cr != LP_CUDA_SUCCESS && lp_cuda_error_is_sticky(cr)) {
                /* poisoned here, not only when the transfer's thread looks: it may never (a client gone) */
                char nb[64];
                wk_poison(w, lp_cuda_error_name(&w->cu, cr, nb, sizeof nb));
            }
        }
        pthread_mutex_lock(&q->mu);
        if (cr != LP_CUDA_SUCCESS && q->err == LP_CUDA_SUCCESS) q->err = cr;
        if (!q->down)
            q->used++;
        else if (cr == LP_CUDA_SUCCESS)
            q->made++;
        pthread_cond_broadcast(&q->cv);
    }
    pthread_mutex_unlock(&q->mu);
    return NULL;
}

/* Starts the copier of a transfer; NULL when it cannot (the transfer then copies inline). */
static wk_pipe *pipe_new(lp_worker *w, wk_buffer *b, int down, char *stage, size_t chunk, uint64_t base,
                         uint64_t total) {
    if (WK_SLOTS < 2) return NULL;
    wk_pipe *q = calloc(1, sizeof *q);
    if (!q) return NULL;
    *q =
        (wk_pipe){.w = w, .b = b, .down = down, .stage = stage, .chunk = chunk, .base = base, .total = total};
    pthread_condattr_t ca;
    pthread_attr_t ta;
    int ok = 0;
    if (pthread_condattr_init(&ca) == 0) {
        if (pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) == 0 && pthread_cond_init(&q->cv, &ca) == 0) {
            if (pthread_mutex_init(&q->mu, NULL) == 0) {
                if (pthread_attr_init(&ta) == 0) {
                    pthread_attr_setstacksize(&ta, 256u << 10); /* copies and a log line, no more */
                    ok = pthread_create(&q->th, &ta, pipe_main, q) == 0;
                    if (ok) (void)pthread_setname_np(q->th, "lp-copier"); /* for top -H and perf */
                    pthread_attr_destroy(&ta);
                }
                if (!ok) pthread_mutex_destroy(&q->mu);
            }
            if (!ok) pthread_cond_destroy(&q->cv);
        }
        pthread_condattr_destroy(&ca);
    }
    if (!ok) {
        lp_log(LP_LOG_WARN, "lease %s gpu %s: no copier thread for a transfer: its device copies run inline",
               w->lease, w->uuid);
        free(q);
        return NULL;
    }
    return q;
}

/* Ends the copier (after the copy in progress) and frees it. */
static void pipe_free(wk_pipe *q) {
    if (!q) return;
    pthread_mutex_lock(&q->mu);
    q->stop = 1;
    pthread_cond_broadcast(&q->cv);
    pthread_mutex_unlock(&q->mu);
    pthread_join(q->th, NULL);
    pthread_cond_destroy(&q->cv);
    pthread_mutex_destroy(&q->mu);
    free(q);
}

char *wk_put_room(wk_put *p, size_t *room, wk_err *e) {
    uint64_t left = p->b->size - p->offset - p->written - p->fill;
    if (!left) {
        wk_err_set(e, WIRE_TOO_LARGE, NULL,
                   "the body overruns buffer %" PRIu64 " of %" PRIu64 " bytes at offset %" PRIu64, p->b->id,
                   p->b->size, p->offset);
        return NULL;
    }
    if (!p->stage) {
        lp_cu_result cr;
        if (!(p->stage = wk_staging_take(p->w, &p->stage_size, &cr))) {
            staging_err(p->w, cr, p->b->id, e);
            return NULL;
        }
        p->chunk = p->stage_size / WK_SLOTS;
        p->at = p->stage;
    }
    size_t n = p->chunk - p->fill;
    *room = left < n ? (size_t)left : n;
    return p->at + p->fill;
}

/* Sends the chunk being filled to the device: through the copier (started at the first full chunk
 * unless `last`), or inline. Returns once the next chunk is free; 0, or -1 with e when a chunk
 * failed (this one or an earlier one). */
static int put_send(wk_put *p, int last, wk_err *e) {
    if (!p->fill) return 0;
    lp_worker *w = p->w;
    if (!p->pipe && !last && !p->no_pipe)
        p->no_pipe = !(p->pipe = pipe_new(w, p->b, 0, p->stage, p->chunk, 0, 0));
    wk_pipe *q = p->pipe;
    if (!q) {
        lp_cu_result cr = wk_bind(w) == 0
                              ? w->cu.cuMemcpyHtoD(p->b->ptr + p->offset + p->written, p->at, p->fill)
                              : LP_CUDA_ERROR_NOT_INITIALIZED;
        if (cr != LP_CUDA_SUCCESS) return cuda_err(w, cr, "copying into", p->b->id, e);
        p->written += p->fill;
        p->fill = 0;
        return 0;
    }
    pthread_mutex_lock(&q->mu);
    unsigned slot = (unsigned)(q->made % WK_SLOTS);
    q->off[slot] = p->offset + p->written;
    q->len[slot] = p->fill;
    q->made++;
    pthread_cond_broadcast(&q->cv);
    p->written += p->fill;
    p->fill = 0;
    while (q->err == LP_CUDA_SUCCESS && q->made - q->used >= WK_SLOTS)
        pipe_wait(q);
    lp_cu_result cr = q->err;
    p->at = p->stage + (size_t)(q->made % WK_SLOTS) * p->chunk;
    pthread_mutex_unlock(&q->mu);
    return cr == LP_CUDA_SUCCESS ? 0 : cuda_err(w, cr, "copying into", p->b->id, e);
}

int wk_put_flush(wk_put *p, wk_err *e) {
    if (put_send(p, 1, e) != 0) return -1;
    wk_pipe *q = p->pipe;
    if (!q) return 0;
    pthread_mutex_lock(&q->mu);
    while (q->used < q->made)
        pipe_wait(q); /* a failed copier skips the rest: used catches up */
    lp_cu_result cr = q->err;
    pthread_mutex_unlock(&q->mu);
    return cr == LP_CUDA_SUCCESS ? 0 : cuda_err(p->w, cr, "copying into", p->b->id, e);
}

int wk_put_commit(wk_put *p, size_t n, wk_err *e) {
    p->fill += n;
    return p->fill == p->chunk ? put_send(p, 0, e) : 0;
}

int wk_put_add(wk_put *p, const char *data, size_t size, wk_err *e) {
    if (p->offset + p->written + p->fill + size > p->b->size) {
        wk_err_set(e, WIRE_TOO_LARGE, NULL,
                   "the body overruns buffer %" PRIu64 " of %" PRIu64 " bytes at offset %" PRIu64, p->b->id,
                   p->b->size, p->offset);
        return -1;
    }
    while (size) {
        size_t room;
        char *at = wk_put_room(p, &room, e);
        if (!at) return -1;
        size_t n = room < size ? room : size;
        memcpy(at, data, n);
        data += n;
        size -= n;
        if (wk_put_commit(p, n, e) != 0) return -1;
    }
    return 0;
}

void wk_put_end(wk_put *p) {
    pipe_free(p->pipe); /* before the staging buffer goes: the copier may be copying from it */
    p->pipe = NULL;
    wk_staging_give(p->w, p->stage);
    p->stage = p->at = NULL;
    wk_buffer_put(p->w, p->b);
    p->b = NULL;
}

int wk_get_bytes(lp_worker *w, wk_buffer *b, uint64_t off, void *buf, size_t n, wk_err *e) {
    lp_cu_result cr =
        wk_bind(w) == 0 ? w->cu.cuMemcpyDtoH(buf, b->ptr + off, n) : LP_CUDA_ERROR_NOT_INITIALIZED;
    return cr == LP_CUDA_SUCCESS ? 0 : cuda_err(w, cr, "reading", b->id, e);
}

int wk_get_begin(wk_get *g, lp_worker *w, wk_buffer *b, uint64_t offset, uint64_t size, wk_err *e) {
    *g = (wk_get){.w = w, .b = b, .offset = offset, .size = size};
    lp_cu_result cr;
    if (!(g->stage = wk_staging_take(w, &g->stage_size, &cr))) {
        staging_err(w, cr, b->id, e);
        return -1;
    }
    g->chunk = g->stage_size / WK_SLOTS;
    if (size > g->chunk) g->pipe = pipe_new(w, b, 1, g->stage, g->chunk, offset, size);
    if (!g->pipe) g->chunk = g->stage_size; /* inline: the whole staging buffer per copy */
    return 0;
}

const char *wk_get_next(wk_get *g, size_t *n, wk_err *e) {
    wk_pipe *q = g->pipe;
    if (!q) {
        size_t k = g->size - g->done < g->chunk ? (size_t)(g->size - g->done) : g->chunk;
        if (wk_get_bytes(g->w, g->b, g->offset + g->done, g->stage, k, e) != 0) return NULL;
        g->done += k;
        *n = k;
        return g->stage;
    }
    pthread_mutex_lock(&q->mu);
    if (g->done) { /* the chunk handed out last time is sent: its slot is free again */
        q->used++;
        pthread_cond_broadcast(&q->cv);
    }
    while (q->made == q->used && q->err == LP_CUDA_SUCCESS)
        pipe_wait(q);
    int ready = q->made > q->used;
    unsigned slot = (unsigned)(q->used % WK_SLOTS);
    size_t k = q->len[slot];
    lp_cu_result cr = q->err;
    pthread_mutex_unlock(&q->mu);
    if (!ready) {
        cuda_err(g->w, cr, "reading", g->b->id, e);
        return NULL;
    }
    g->done += k;
    *n = k;
    return g->stage + (size_t)slot * g->chunk;
}

void wk_get_end(wk_get *g) {
    pipe_free(g->pipe);
    g->pipe = NULL;
    wk_staging_give(g->w, g->stage);
    g->stage = NULL;
}

/* A PUT in progress: bytes go through a staging buffer into device memory. */
typedef struct put_ctx {
    wk_put p;
    int failed;
} put_ctx;

static void put_ctx_free(void *v) {
    put_ctx *c = v;
    if (!c) return;
    wk_put_end(&c->p);
    free(c);
}

/* Sets up the PUT at its first chunk (or at its end for an empty body). Returns the context or
 * NULL after answering. */
static put_ctx *put_begin(lp_worker *w, lp_http_req *r) {
    put_ctx *c = lp_http_ctx(r);
    if (c) return c;
    uint64_t id, offset = 0, len = 0;
    int has_off, has_len = 0;
    if (wk_authorized(w, r) != 0 || buffer_id(r, &id) != 0 || query_u64(r, "offset", &offset, &has_off) != 0)
        return NULL;
    const char *cl = lp_http_header(r, "Content-Length");
    if (cl) has_len = parse_u64(cl, &len) == 0;
    wk_buffer *b;
    wk_err e;
    if (wk_buffer_span(w, id, offset, len, has_len, 1, &b, &e) != 0) {
        wk_reply_err(r, &e);
        return NULL;
    }
    c = calloc(1, sizeof *c);
    if (!c) {
        wk_buffer_put(w, b);
        lp_http_reply_error(r, WIRE_INTERNAL, NULL, "out of memory");
        return NULL;
    }
    c->p.w = w;
    c->p.b = b;
    c->p.offset = offset;
    lp_http_set_ctx(r, c, put_ctx_free);
    return c;
}

static int put_body(lp_http_req *r, const char *data, size_t size, void *user) {
    lp_worker *w = user;
    put_ctx *c = put_begin(w, r);
    if (!c) return -1;
    wk_err e = {0};
    if (size && wk_put_add(&c->p, data, size, &e) != 0) {
        c->failed = 1;
        wk_reply_err(r, &e);
        return -1;
    }
    return 0;
}

static void h_buffer_put(lp_http_req *r, void *user) {
    lp_worker *w = user;
    put_ctx *c = put_begin(w, r);
    if (!c || c->failed) return;
    wk_err e;
    if (wk_put_flush(&c->p, &e) != 0) {
        wk_reply_err(r, &e);
        return;
    }
    lp_http_reply_bytes(r, 204, NULL, "", 0);
}

typedef struct get_ctx {
    lp_worker *w;
    wk_buffer *b;
    uint64_t offset;
} get_ctx;

static long get_read(void *cls, uint64_t pos, char *buf, size_t max) {
    get_ctx *g = cls;
    wk_err e;
    if (wk_get_bytes(g->w, g->b, g->offset + pos, buf, max, &e) != 0) {
        lp_log(LP_LOG_WARN, "lease %s gpu %s: %s", g->w->lease, g->w->uuid, e.msg);
        return -1;
    }
    return (long)max;
}

static void get_free(void *cls) {
    get_ctx *g = cls;
    wk_buffer_put(g->w, g->b);
    free(g);
}

static void h_buffer_get(lp_http_req *r, void *user) {
    lp_worker *w = user;
    uint64_t id, offset = 0, size = 0;
    int has_off, has_size;
    if (wk_authorized(w, r) != 0 || buffer_id(r, &id) != 0 ||
        query_u64(r, "offset", &offset, &has_off) != 0 || query_u64(r, "size", &size, &has_size) != 0)
        return;
    wk_buffer *b;
    wk_err e;
    if (wk_buffer_span(w, id, offset, size, has_size, 0, &b, &e) != 0) {
        wk_reply_err(r, &e);
        return;
    }
    if (!has_size) size = b->size - offset;
    get_ctx *g = malloc(sizeof *g);
    if (!g) {
        wk_buffer_put(w, b);
        lp_http_reply_error(r, WIRE_INTERNAL, NULL, "out of memory");
        return;
    }
    g->w = w;
    g->b = b;
    g->offset = offset;
    size_t block = size < (1u << 20) ? (size ? (size_t)size : 1) : (1u << 20);
    lp_http_reply_stream(r, 200, "application/octet-stream", size, block, get_read, g, get_free);
}

/* ---- modules ---- */
static int module_sha(lp_http_req *r, const char **sha) {
    const char *s = lp_http_param(r, "sha256");
    int ok = s && strlen(s) == 64;
    for (int i = 0; ok && i < 64; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) ok = 0;
    if (!ok) {
        lp_http_reply_error(r, WIRE_INVALID, NULL, "'%.80s' is not a SHA-256 (64 lowercase hex digits)",
                            s ? s : "");
        return -1;
    }
    *sha = s;
    return 0;
}

static void reply_module_error(lp_http_req *r, int st, const char *msg) {
    if (st == 404)
        reply_code(r, 404, WIRE_NOT_FOUND, NULL, msg);
    else if (st == 507)
        reply_code(r, 507, WIRE_NO_MEMORY, NULL, msg);
    else if (st == 400) {
        /* the driver's JIT log is in msg; the hint says what to do about the kind of refusal */
        const char *hint = "the JIT log is in the message; PTX, cubin or fatbin is accepted";
        if (strstr(msg, "CUDA_ERROR_INVALID_PTX") || strstr(msg, "CUDA_ERROR_UNSUPPORTED_PTX_VERSION"))
            hint = "fix the PTX at the line the JIT log names (ptxas -arch=sm_XX file.ptx checks it offline)";
        else if (strstr(msg, "CUDA_ERROR_NO_BINARY_FOR_GPU") || strstr(msg, "CUDA_ERROR_INVALID_IMAGE"))
            hint =
                "the image has no code this GPU runs: send PTX (nvcc -ptx) or a cubin/fatbin built for its "
                "architecture";
        json_t *body = lp_http_error_body(WIRE_CUDA, msg, hint);
        lp_http_reply_json_take(r, 400, body);
    } else
        reply_code(r, 500, WIRE_CUDA, NULL, msg);
}

/* The module the request's path names (loaded on demand), with a reference (wk_module_put); NULL
 * once the refusal is answered. */
static wk_module *path_module(lp_worker *w, lp_http_req *r) {
    const char *sha;
    if (wk_authorized(w, r) != 0 || module_sha(r, &sha) != 0) return NULL;
    wk_module *m;
    char msg[1024];
    int st = wk_module_get(w, sha, &m, msg, sizeof msg);
    if (st) {
        reply_module_error(r, st, msg);
        return NULL;
    }
    return m;
}

/* The module answer (its text, made once at load). */
static void reply_module(lp_http_req *r, const wk_module *m) {
    if (m->info)
        lp_http_reply_bytes(r, 200, "application/json", m->info, m->info_len);
    else
        lp_http_reply_error(r, WIRE_INTERNAL, NULL, "out of memory");
}

/* The requesting session holds m from now on (a module is unloaded when its last holder frees
 * it). 0, or -1 with the refusal answered. */
static int module_hold(lp_worker *w, lp_http_req *r, wk_module *m) {
    uint64_t session;
    wk_err e;
    if (wk_job_session(r, &session, &e) != 0) {
        wk_reply_err(r, &e);
        return -1;
    }
    if (wk_module_hold(w, m, session) != 0) {
        lp_http_reply_error(r, WIRE_INTERNAL, NULL, "out of memory");
        return -1;
    }
    return 0;
}

static void h_module_get(lp_http_req *r, void *user) {
    lp_worker *w = user;
    wk_module *m = path_module(w, r);
    if (!m) return;
    if (module_hold(w, r, m) == 0) reply_module(r, m);
    wk_module_put(w, m);
}

typedef struct mod_ctx {
    lp_buf img; /* at most WK_MODULE_MAX bytes */
    lp_sha256 h;
} mod_ctx;

static void mod_ctx_free(void *p) {
    mod_ctx *c = p;
    if (c) lp_buf_free(&c->img);
    free(c);
}

static mod_ctx *mod_begin(lp_worker *w, lp_http_req *r) {
    mod_ctx *c = lp_http_ctx(r);
    if (c) return c;
    const char *sha;
    if (wk_authorized(w, r) != 0 || module_sha(r, &sha) != 0) return NULL;
    uint64_t len = 0;
    const char *cl = lp_http_header(r, "Content-Length");
    if (cl && parse_u64(cl, &len) == 0 && len > WK_MODULE_MAX) {
        lp_http_reply_error(r, WIRE_TOO_LARGE, NULL,
                            "a module image of %" PRIu64 " bytes exceeds the limit of %u bytes", len,
                            WK_MODULE_MAX);
        return NULL;
    }
    c = calloc(1, sizeof *c);
    if (!c) {
        lp_http_reply_error(r, WIRE_INTERNAL, NULL, "out of memory");
        return NULL;
    }
    lp_sha256_init(&c->h);
    lp_http_set_ctx(r, c, mod_ctx_free);
    return c;
}

static int mod_body(lp_http_req *r, const char *data, size_t size, void *user) {
    mod_ctx *c = mod_begin(user, r);
    if (!c) return -1;
    if (!size) return 0;
    int rc = lp_buf_append(&c->img, data, size, WK_MODULE_MAX);
    if (rc == LP_BUF_FULL) {
        lp_http_reply_error(r, WIRE_TOO_LARGE, NULL, "a module image exceeds the limit of %u bytes",
                            WK_MODULE_MAX);
        return -1;
    }
    if (rc != LP_BUF_OK) {
        lp_http_reply_error(r, WIRE_INTERNAL, NULL, "out of memory");
        return -1;
    }
    lp_sha256_update(&c->h, data, size);
    return 0;
}

static void h_module_put(lp_http_req *r, void *user) {
    lp_worker *w = user;
    mod_ctx *c = mod_begin(w, r);
    if (!c) return;
    const char *sha = lp_http_param(r, "sha256");
    if (!c->img.len) {
        lp_http_reply_error(r, WIRE_INVALID, NULL,
                            "the body is empty; send the module image (PTX, cubin or fatbin)");
        return;
    }
    unsigned char d[32];
    char hex[65];
    lp_sha256_final(&c->h, d);
    lp_hex(hex, d, 32);
    if (strcmp(hex, sha) != 0) {
        lp_http_reply_error(r, WIRE_INVALID, "the path names the image's SHA-256",
                            "the body's SHA-256 is %s, not %s", hex, sha);
        return;
    }
    wk_module *m;
    char msg[16384 + 128];
    int st = wk_module_load(w, sha, c->img.p, c->img.len, &m, msg, sizeof msg);
    if (st) {
        lp_log(LP_LOG_INFO, "lease %s gpu %s: module %s does not load: %.300s", w->lease, w->uuid, sha, msg);
        reply_module_error(r, st, msg);
        return;
    }
    if (module_hold(w, r, m) == 0) reply_module(r, m);
    wk_module_put(w, m);
}

/* GET /v1/modules/{sha}/globals/{name}: a module's global variable as a (borrowed) buffer. */
static void h_module_global(lp_http_req *r, void *user) {
    lp_worker *w = user;
    const char *name = lp_http_param(r, "name");
    if (!name) name = "";
    wk_module *m = path_module(w, r);
    if (!m) return;
    wk_buffer *b;
    lp_cu_result cr;
    int st = wk_buffer_global(w, m, name, &b, &cr);
    if (st == 404) {
        lp_http_reply_error(r, WIRE_NOT_FOUND, NULL, "module %s has no global named \"%.200s\"", m->sha,
                            name);
    } else if (st) {
        char nb[64];
        lp_http_reply_error(r, WIRE_CUDA, NULL, "cuModuleGetGlobal(\"%.200s\") failed: %s", name,
                            cr == LP_CUDA_SUCCESS ? "out of memory"
                                                  : lp_cuda_error_name(&w->cu, cr, nb, sizeof nb));
    } else {
        lp_http_reply_json_take(r, 200,
                                json_pack("{s:I, s:I, s:I}", "buffer", (json_int_t)b->id, "address",
                                          (json_int_t)b->ptr, "size", (json_int_t)b->size));
        wk_buffer_put(w, b);
    }
    wk_module_put(w, m);
}

static void h_module_delete(lp_http_req *r, void *user) {
    lp_worker *w = user;
    const char *sha;
    if (wk_authorized(w, r) != 0 || module_sha(r, &sha) != 0) return;
    uint64_t session;
    wk_err e;
    if (wk_job_session(r, &session, &e) != 0) {
        wk_reply_err(r, &e);
        return;
    }
    wk_module_release(w, sha, session);
    lp_http_reply_bytes(r, 204, NULL, "", 0);
}

int wk_http_routes(lp_worker *w, lp_http_server *s) {
    w->http_metrics = lp_prom_http_new();
    if (!w->http_metrics) return -1;
    lp_http_server_set_observer(s, lp_prom_http_observe, w->http_metrics);
    int rc = lp_http_server_route(s, "GET", "/healthz", h_healthz, w);
    rc |= lp_http_server_route(s, "GET", "/v1/info", h_info, w);
    rc |= lp_http_server_route(s, "GET", "/metrics", h_metrics, w);
    rc |= lp_http_server_route(s, "POST", "/v1/buffers", h_buffer_alloc, w);
    rc |= lp_http_server_route_stream(s, "PUT", "/v1/buffers/{id}", put_body, h_buffer_put, w);
    rc |= lp_http_server_route(s, "GET", "/v1/buffers/{id}", h_buffer_get, w);
    rc |= lp_http_server_route(s, "DELETE", "/v1/buffers/{id}", h_buffer_free, w);
    rc |= lp_http_server_route(s, "GET", "/v1/modules/{sha256}", h_module_get, w);
    rc |= lp_http_server_route_stream(s, "PUT", "/v1/modules/{sha256}", mod_body, h_module_put, w);
    rc |= lp_http_server_route(s, "DELETE", "/v1/modules/{sha256}", h_module_delete, w);
    rc |= lp_http_server_route(s, "GET", "/v1/modules/{sha256}/globals/{name}", h_module_global, w);
    return rc;
}
