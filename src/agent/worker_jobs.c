/* worker_jobs.c — POST /v1/jobs and POST /v1/jobs/batch (docs/dataplane.md "Jobs"): the request
 * bodies as they arrive, their admission against the queue limit, and the answers. Decoding is
 * worker_job_codec.c's, the order jobs run in worker_job_queue.c's, running one worker_job_run.c's.
 *
 * A batch (K <= 256 records of u32 LE L + L bytes of one job body) cuts the per-request cost of
 * many small jobs: its jobs are all checked, then all entered into the table, then driven in order
 * by its request thread. Each answers as it would alone; the response holds K records of u32 LE M
 * + the M bytes of that job's result (a refused job — seq too old, worker stopping — gets a result
 * JSON with its error code and no data). A request-level fault (framing, no usable seq, seqs not
 * increasing) runs nothing.
 *
 * Memory: the bytes of job requests held for jobs not yet run (bodies arriving, and jobs waiting
 * for an earlier seq) are counted against the worker's queue limit (--job-queue-bytes). A request
 * that would pass it is refused with 503 queue_full before its body is read, unless its seq (the
 * Lepton-Job-Seq header) is the next to run: that one is always taken, so the queue always drains.
 * (A client that is sending its body without waiting for "100 Continue" gets the answer after its
 * body, which is read and dropped: answering at once would reset its connection.) */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "clock.h"
#include "wire.h"
#include "worker.h"

typedef struct body_ctx {
    lp_worker *w;
    wk_jobq *q;       /* the request's session (held), or NULL when it could not be had */
    const char *what; /* "job" or "batch", for messages */
    char *buf;
    size_t len, cap;
    uint64_t arriving; /* the seq announced as arriving (0 = none) */
    uint64_t held;     /* bytes counted in w->queued_bytes for this request */
    uint64_t dropped;  /* refused (queue full): bytes of its body read and dropped */
    int looked;
    int refused;
} body_ctx;

int wk_job_session(lp_http_req *r, uint64_t *session, wk_err *e) {
    const char *h = lp_http_header(r, WK_SESSION_HEADER);
    char *end = NULL;
    *session = 0;
    if (!h) return 0;
    errno = 0;
    unsigned long long v = strtoull(h, &end, 10);
    if (end == h || *end || errno || *h == '-' || *h == '+') {
        wk_err_set(e, WIRE_INVALID, "send the session as a decimal number (docs/dataplane.md, Jobs)",
                   "the " WK_SESSION_HEADER " header '%.40s' is not a decimal number below 2^64", h);
        return -1;
    }
    *session = v;
    return 0;
}

/* Gives back the bytes a request counted against the queue limit (its job has run, or it ends). */
static void queue_release(body_ctx *c) {
    wk_job_release(c->w, c->held);
    c->held = 0;
}

/* Counts a request of len bytes against the queue limit, before its body is read. Refuses (0)
 * when it would pass the limit, unless nothing else is held (a job larger than the limit still
 * runs, alone) or its seq, from the Lepton-Job-Seq header, is its session's next to run or one
 * already run (a retry): the job every other of its session waits for is never refused. */
static int queue_admit(lp_worker *w, wk_jobq *q, lp_http_req *r, uint64_t len) {
    const char *hs = lp_http_header(r, WK_SEQ_HEADER);
    char *end = NULL;
    unsigned long long seq = hs ? strtoull(hs, &end, 10) : 0;
    return wk_job_admit(w, q, hs && end != hs && !*end ? seq : 0, len);
}

/* Once a large job's descriptor is in, tells later jobs that this seq is on its way, so that a
 * slow upload is never taken for a missing job. */
static void announce(body_ctx *c) {
    if (c->looked || c->len < 4) return;
    uint32_t n = wire_get_le32(c->buf);
    if (n > WK_JOB_JSON_MAX || c->len < 4 + (size_t)n) {
        c->looked = n > WK_JOB_JSON_MAX;
        return;
    }
    c->looked = 1;
    if (c->len == c->cap) return; /* the whole body is here already */
    json_t *d = json_loadb(c->buf + 4, n, 0, NULL);
    json_int_t seq = json_integer_value(json_object_get(d, "seq"));
    json_decref(d);
    if (seq >= 1 && wk_job_announce(c->q, (uint64_t)seq)) c->arriving = (uint64_t)seq;
}

static void body_ctx_free(void *p) {
    body_ctx *c = p;
    if (!c) return;
    queue_release(c);
    if (c->arriving) wk_job_arrived(c->q, c->arriving);
    wk_jobq_put(c->q);
    free(c->buf);
    free(c);
}

/* Answers a request refused before its body was read: 503 queue_full, for a full queue or for a
 * session the worker has no room for. */
static void reply_refused(body_ctx *c, lp_http_req *r) {
    wk_err e;
    if (c->q)
        wk_err_queue_full(c->w, c->dropped, &e);
    else
        wk_err_sessions_full(c->w, &e);
    wk_reply_err(r, &e);
}

/* The request's body so far; on its first call checks the token, the session and the
 * Content-Length. NULL after answering an error. */
static body_ctx *body_begin(lp_worker *w, lp_http_req *r, const char *what) {
    body_ctx *c = lp_http_ctx(r);
    if (c) return c;
    if (wk_authorized(w, r) != 0) return NULL;
    const char *cl = lp_http_header(r, "Content-Length");
    unsigned long long len = cl ? strtoull(cl, NULL, 10) : 0;
    if (len > WK_JOB_MAX) {
        lp_http_reply_error(r, WIRE_TOO_LARGE, "move large data with PUT /v1/buffers/ID",
                            "a %s of %llu bytes exceeds the limit of %u bytes", what, len, WK_JOB_MAX);
        return NULL;
    }
    uint64_t session;
    wk_err e;
    if (wk_job_session(r, &session, &e) != 0) {
        wk_reply_err(r, &e);
        return NULL;
    }
    wk_jobq *q = wk_jobq_take(w, session); /* NULL: too many busy sessions, refused as a full queue */
    int admitted = queue_admit(w, q, r, len);
    const char *expect = lp_http_header(r, "Expect");
    if (!admitted && (!len || (expect && !strcasecmp(expect, "100-continue")))) {
        body_ctx refused = {.w = w, .q = q, .dropped = len};
        reply_refused(&refused, r); /* the client waits for "100 Continue": it sends no body */
        wk_jobq_put(q);
        return NULL;
    }
    c = calloc(1, sizeof *c);
    if (!c) {
        if (admitted) wk_job_release(w, len);
        wk_jobq_put(q);
        lp_http_reply_error(r, WIRE_INTERNAL, NULL, "out of memory");
        return NULL;
    }
    c->w = w;
    c->q = q;
    c->what = what;
    lp_http_set_ctx(r, c, body_ctx_free);
    if (!admitted) {
        /* A client already sending its body would have the connection reset under it if answered
         * now (unread bytes in the socket): its body is read and dropped, never held, and the
         * answer goes when it has ended. */
        c->refused = 1;
        return c;
    }
    c->held = len;
    c->cap = len ? (size_t)len : 0;
    if (c->cap && !(c->buf = malloc(c->cap))) {
        lp_http_reply_error(r, WIRE_NO_MEMORY, NULL, "cannot hold a %s of %llu bytes", what, len);
        return NULL; /* body_ctx_free gives the bytes back */
    }
    return c;
}

static int body_add(body_ctx *c, lp_http_req *r, const char *data, size_t size) {
    if (!size) return 0;
    if (c->refused) {
        c->dropped += size;
        return 0;
    }
    if (c->len + size > WK_JOB_MAX) {
        lp_http_reply_error(r, WIRE_TOO_LARGE, NULL, "a %s exceeds the limit of %u bytes", c->what,
                            WK_JOB_MAX);
        return -1;
    }
    if (c->len + size > c->cap) {
        size_t cap = c->cap ? c->cap : 4096;
        while (cap < c->len + size)
            cap *= 2;
        char *nb = realloc(c->buf, cap);
        if (!nb) {
            lp_http_reply_error(r, WIRE_NO_MEMORY, NULL, "out of memory");
            return -1;
        }
        c->buf = nb;
        c->cap = cap;
    }
    memcpy(c->buf + c->len, data, size);
    c->len += size;
    if (c->len > c->held) { /* a body without a Content-Length: counted as it comes */
        pthread_mutex_lock(&c->w->job_mu);
        c->w->queued_bytes += c->len - c->held;
        pthread_mutex_unlock(&c->w->job_mu);
        c->held = c->len;
    }
    return 0;
}

static int job_body(lp_http_req *r, const char *data, size_t size, void *user) {
    body_ctx *c = body_begin(user, r, "job");
    if (!c || body_add(c, r, data, size) != 0) return -1;
    if (!c->refused) announce(c);
    return 0;
}

/* A batch is not announced while it arrives: its jobs are small. */
static int batch_body(lp_http_req *r, const char *data, size_t size, void *user) {
    body_ctx *c = body_begin(user, r, "batch");
    return c ? body_add(c, r, data, size) : -1;
}

/* A response body in pieces: the jobs' results (kept alive by the references it holds) and bytes
 * of its own (the records' lengths and refusal records). */
typedef struct piece {
    const char *p;
    size_t len;
} piece;

typedef struct reply_src {
    lp_worker *w;
    size_t njobs, npieces;
    wk_job **jobs;       /* [njobs] references dropped when the response is done (NULL: none) */
    char **own;          /* [njobs] refusal records */
    piece *pieces;       /* [2 njobs] */
    unsigned char *lens; /* [4 njobs] the records' u32 LE lengths */
    uint64_t total;
    size_t at; /* reading cursor: piece `at` begins at byte at_pos of the body */
    uint64_t at_pos;
} reply_src;

static reply_src *reply_new(lp_worker *w, size_t njobs) {
    size_t each = sizeof(wk_job *) + sizeof(char *) + 2 * sizeof(piece) + 4;
    reply_src *s = calloc(1, sizeof *s + njobs * each); /* one block: the arrays follow the struct */
    if (!s) return NULL;
    s->w = w;
    s->njobs = njobs;
    s->jobs = (wk_job **)(s + 1);
    s->own = (char **)(s->jobs + njobs);
    s->pieces = (piece *)(s->own + njobs);
    s->lens = (unsigned char *)(s->pieces + 2 * njobs);
    return s;
}

static void reply_free(void *cls) {
    reply_src *s = cls;
    if (!s) return;
    for (size_t i = 0; i < s->njobs; i++) {
        if (s->jobs[i]) wk_job_put(s->w, s->jobs[i]);
        free(s->own[i]);
    }
    free(s);
}

static void add_piece(reply_src *s, const char *p, size_t len) {
    s->pieces[s->npieces].p = p;
    s->pieces[s->npieces].len = len;
    s->npieces++;
    s->total += len;
}

static long reply_read(void *cls, uint64_t pos, char *buf, size_t max) {
    reply_src *s = cls;
    if (pos < s->at_pos) { /* reads go forward; start over if not */
        s->at = 0;
        s->at_pos = 0;
    }
    while (s->at < s->npieces && pos >= s->at_pos + s->pieces[s->at].len)
        s->at_pos += s->pieces[s->at++].len;
    size_t n = 0, skip = (size_t)(pos - s->at_pos);
    for (size_t i = s->at; i < s->npieces && n < max; i++, skip = 0) {
        size_t k = s->pieces[i].len - skip < max - n ? s->pieces[i].len - skip : max - n;
        memcpy(buf + n, s->pieces[i].p + skip, k);
        n += k;
    }
    return n ? (long)n : -1;
}

/* Answers 200 with the pieces (taking s): one copy when the body is at most `small` bytes, since a
 * streamed response costs more; else streamed, so that large results are never copied whole. */
static void reply_send(lp_http_req *r, reply_src *s, uint64_t small) {
    if (s->total > small) {
        /* the server allocates a block per response: small bodies get a small one */
        size_t block = s->total < (1u << 20) ? (size_t)s->total : (1u << 20);
        lp_http_reply_stream(r, 200, "application/octet-stream", s->total, block, reply_read, s, reply_free);
        return;
    }
    char *one = s->npieces > 1 ? malloc((size_t)s->total) : NULL;
    if (s->npieces == 1)
        lp_http_reply_bytes(r, 200, "application/octet-stream", s->pieces[0].p, s->pieces[0].len);
    else if (one && reply_read(s, 0, one, (size_t)s->total) == (long)s->total)
        lp_http_reply_bytes(r, 200, "application/octet-stream", one, (size_t)s->total);
    else
        lp_http_reply_error(r, WIRE_INTERNAL, NULL, "out of memory");
    free(one);
    reply_free(s);
}

static void h_job(lp_http_req *r, void *user) {
    lp_worker *w = user;
    int64_t now = lp_mono_ns();
    body_ctx *c = body_begin(w, r, "job");
    if (!c) return;
    if (c->refused) {
        reply_refused(c, r);
        return;
    }
    char *body = c->buf;
    c->buf = NULL; /* the job owns it now */
    wk_job_answer a;
    int rc = wk_job_run(c->q, body, c->len, now, &a);
    queue_release(c); /* it has run (or never will here) */
    if (rc != 0) {
        wk_reply_err(r, &a.err);
        return;
    }
    reply_src *s = reply_new(w, 1);
    if (!s) {
        wk_job_answer_done(w, &a);
        lp_http_reply_error(r, WIRE_INTERNAL, NULL, "out of memory");
        return;
    }
    s->jobs[0] = a.job; /* s drops the reference */
    add_piece(s, a.res, a.len);
    reply_send(r, s, 65536);
}

static size_t batch_count(lp_http_req *r, const char *buf, size_t len) {
    const char *code, *hint;
    char msg[300];
    size_t k = wk_batch_frame(buf, len, &code, &hint, msg, sizeof msg);
    if (!k) lp_http_reply_error(r, code, hint, "%s", msg);
    return k;
}

static int batch_parse(lp_http_req *r, const char *buf, size_t k, int64_t now, wk_job **jobs) {
    const char *code;
    char msg[480];
    if (wk_batch_jobs_decode(buf, k, now, jobs, &code, msg, sizeof msg) == 0) return 0;
    lp_http_reply_error(r, code, !strcmp(code, WIRE_INVALID) ? WK_JOBS_HINT : NULL, "%s", msg);
    return -1;
}

/* POST /v1/jobs/batch: K jobs in one request, each as POST /v1/jobs would run it; the answer holds
 * their results in request order (u32 LE M + the M bytes of the job's result). */
static void h_batch(lp_http_req *r, void *user) {
    lp_worker *w = user;
    int64_t now = lp_mono_ns();
    body_ctx *c = body_begin(w, r, "batch");
    if (!c) return;
    if (c->refused) {
        reply_refused(c, r);
        return;
    }
    size_t k = batch_count(r, c->buf, c->len);
    if (!k) return;
    wk_job **jobs = calloc(k, sizeof *jobs);
    wk_refusal *why = calloc(k, sizeof *why);
    reply_src *s = jobs && why ? reply_new(w, k) : NULL; /* before running anything: no failure after */
    if (!s) {
        lp_http_reply_error(r, WIRE_INTERNAL, NULL, "out of memory");
    } else if (batch_parse(r, c->buf, k, now, jobs) != 0) {
        reply_free(s);
        s = NULL;
    }
    free(c->buf); /* the jobs have their copies */
    c->buf = NULL;
    if (s) {
        wk_jobs_submit(c->q, jobs, why, k);
        queue_release(c);
        for (size_t i = 0; i < k; i++) {
            size_t len = jobs[i] ? jobs[i]->res_len : 0;
            const char *rec = jobs[i] ? jobs[i]->res : (s->own[i] = wk_refusal_record(w, &why[i], &len));
            s->jobs[i] = jobs[i]; /* s drops the references */
            if (!rec) continue;
            wire_put_le32(s->lens + 4 * i, (uint32_t)len);
            add_piece(s, (const char *)s->lens + 4 * i, 4);
            add_piece(s, rec, len);
        }
        if (s->npieces == 2 * k) {
            reply_send(r, s, 1u << 20);
        } else {
            reply_free(s);
            lp_http_reply_error(r, WIRE_INTERNAL, NULL, "out of memory");
        }
    }
    free(jobs);
    free(why);
}

int wk_jobs_route(lp_worker *w, lp_http_server *s) {
    int rc = lp_http_server_route_stream(s, "POST", "/v1/jobs", job_body, h_job, w);
    rc |= lp_http_server_route_stream(s, "POST", "/v1/jobs/batch", batch_body, h_batch, w);
    rc |= wk_output_route(w, s);
    return rc;
}
