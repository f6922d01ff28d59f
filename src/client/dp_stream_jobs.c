/* dp_stream_jobs.c — jobs and buffer calls on a worker's stream (docs/dataplane.md "The stream"):
 * frames on an upgraded worker connection (the connection itself is dp_stream.c's).
 *
 * Every job (and buffer read or write, lc_stream_xfer) whose worker's stream is up travels there
 * as one frame, written by the driver role's holder straight from the caller's memory; answers
 * come in the order of the requests and are read by the holder too (the thread that waits, else
 * the I/O thread), READ bytes straight into the caller's memory. The stream's connection, its
 * requests awaiting answers and its reader belong to the role; `conn` and `retry_ns` are also
 * written under lc_dp.lock (lc_stream_xfer reads them), and the queue of buffer calls (`ops`) is
 * guarded by it. Whatever goes wrong on a stream sends its requests over HTTP (st_down).
 *
 * The job transport's design (ownership, thread safety, lock order, the driver role) is in
 * dp_drive.c's first comment. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#include "client.h"
#include "clock.h"
#include "dataplane.h"
#include "dp_jobs_internal.h"
#include "lease.h"
#include "wire_stream.h"

#define ST_RBUF (256u << 10)    /* bytes received ahead of parsing */
#define ST_DIRECT (32u << 10)   /* READ bytes at least this many go straight to the caller */
#define ST_BACKOFF_FIRST_MS 100 /* a stream that failed is tried again after ... */
#define ST_BACKOFF_MAX_MS 5000  /* ... doubling up to this */
#define ST_UNSUPPORTED_MS 60000 /* a worker that refuses the upgrade is asked again after this */

/* Ends an op: it leaves the pending count, then its caller is woken (and may return at once). */
void lc_sop_done(lc_dp *dp, lc_sop *op, int fallback) {
    pthread_mutex_lock(&dp->lock);
    dp->pending--;
    pthread_mutex_unlock(&dp->lock);
    pthread_mutex_lock(&op->mu);
    op->fallback = fallback;
    op->done = 1;
    pthread_cond_broadcast(&op->cv);
    pthread_mutex_unlock(&op->mu);
}

static void st_push(lc_wstream *st, lc_sent *e) {
    e->next = NULL;
    if (!st->head) st->rx_ns = lp_mono_ns(); /* an answer is awaited from now */
    if (st->tail)
        st->tail->next = e;
    else
        st->head = e;
    st->tail = e;
}

static int st_log_on(const lc_dp *dp) { return dp->lease->client->log != NULL; }

/* Takes worker wi's stream down: its connection closes, every request awaiting an answer goes
 * over HTTP instead (a job with its seq: the worker answers a seq it ran from memory), and the
 * stream is opened again after a back-off (a long one when the worker refused the upgrade). */
static void st_down(lc_dp *dp, uint32_t wi, const char *why, int http) {
    lc_wstream *st = &dp->workers[wi].st;
    lc_sent *list = st->head;
    st->head = st->tail = NULL;
    st->inflight = 0;
    st->hdr_got = 0;
    st->in_payload = 0;
    st->rpos = st->rlen = 0;
    int64_t wait_ms;
    if (http >= 400 && http < 500) {
        wait_ms = ST_UNSUPPORTED_MS;
    } else {
        st->backoff_ms = st->backoff_ms < ST_BACKOFF_FIRST_MS     ? ST_BACKOFF_FIRST_MS
                         : st->backoff_ms * 2 > ST_BACKOFF_MAX_MS ? ST_BACKOFF_MAX_MS
                                                                  : st->backoff_ms * 2;
        wait_ms = st->backoff_ms;
    }
    lc_stream *conn = st->conn;
    pthread_mutex_lock(&dp->lock);
    st->conn = NULL;
    st->retry_ns = lp_mono_ns() + wait_ms * 1000000;
    pthread_mutex_unlock(&dp->lock);
    lc_stream_close(conn);
    if (st_log_on(dp))
        lc_log(dp->lease->client, LEPTON_LOG_DEBUG, "lease %s GPU %u: stream %s: %s; HTTP for %lld ms",
               dp->lease->id, wi, conn ? "down" : "not opened", why, (long long)wait_ms);
    while (list) {
        lc_sent *e = list;
        list = e->next;
        e->next = NULL;
        if (e->task) {
            lepton_task *t = e->task;
            t->no_stream = 1;
            if (lc_job_requeue(dp, t, 0))
                lc_job_fail(
                    dp, t, 0, LEPTON_EEXPIRED,
                    "the lease was closed while the job was on its way or running; its outcome is unknown");
        } else {
            lc_sop_done(dp, e->op, 1);
        }
    }
}

/* Opens worker wi's stream (the role's holder, no lock held). */
static void st_open(lc_dp *dp, uint32_t wi) {
    lc_wstream *st = &dp->workers[wi].st;
    char why[320];
    int http = 0;
    if (!st->rbuf) st->rbuf = malloc(ST_RBUF);
    lc_stream *c = st->rbuf ? lc_stream_open(dp, wi, why, sizeof why, &http) : NULL;
    if (!st->rbuf) snprintf(why, sizeof why, "out of memory");
    if (!c) return st_down(dp, wi, why, http);
    st->hdr_got = 0;
    st->in_payload = 0;
    st->rpos = st->rlen = 0;
    st->backoff_ms = 0;
    pthread_mutex_lock(&dp->lock);
    st->conn = c;
    pthread_mutex_unlock(&dp->lock);
    if (st_log_on(dp))
        lc_log(dp->lease->client, LEPTON_LOG_DEBUG, "lease %s GPU %u: stream open to %s", dp->lease->id, wi,
               dp->workers[wi].url);
}

/* Where the current answer's next bytes go straight to (READ data of a 2xx answer), or NULL. */
static char *st_direct(lc_wstream *st, size_t *room) {
    lc_sent *e = st->head;
    if (st->status < 200 || st->status >= 300) return NULL;
    if (e->op) {
        if (e->op->kind != WS_READ) return NULL;
        *room = e->op->size - e->op->got;
        return e->op->p + e->op->got;
    }
    lepton_task *t = e->task;
    if (t->bad_answer || t->len_got < 4 || t->result.len < t->result_len || t->read_got >= t->read_total)
        return NULL;
    lc_seg *s = &t->segs[t->nwrite + t->recv_seg];
    *room = s->size - t->recv_off;
    return s->host + t->recv_off;
}

/* n bytes landed where st_direct said. */
static void st_direct_done(lc_wstream *st, size_t n) {
    lc_sent *e = st->head;
    if (e->op) {
        e->op->got += n;
        return;
    }
    lepton_task *t = e->task;
    t->recv_off += n;
    t->read_got += n;
    while (t->recv_seg < t->nread && t->recv_off == t->segs[t->nwrite + t->recv_seg].size) {
        t->recv_seg++;
        t->recv_off = 0;
    }
}

/* n bytes of the current answer's payload, from the receive buffer. */
static void st_feed(lc_wstream *st, const char *p, size_t n) {
    lc_sent *e = st->head;
    int ok = st->status >= 200 && st->status < 300;
    if (e->op) {
        if (ok) {
            memcpy(e->op->p + e->op->got, p, n); /* a READ: the length was checked to be its size */
            e->op->got += n;
        } else {
            (void)lp_buf_append(&e->op->x->answer, p, n, LC_DP_MAX_JSON); /* cut: judged by its JSON */
        }
        return;
    }
    lepton_task *t = e->task;
    if (t->bad_answer) return;
    if (ok)
        lc_framed_feed(t, p, n);
    else if (lp_buf_append(&t->result, p, n, LC_DP_MAX_JSON))
        lc_job_bad(t, "the worker's error answer is too large");
}

/* The header of the answer to the request at the FIFO's head; 0, or -1 (protocol error, why). */
static int st_begin(lc_wstream *st, char *why, size_t n) {
    ws_header h;
    ws_unpack(st->hdr, &h);
    lc_sent *e = st->head;
    if (!e) return snprintf(why, n, "an answer (kind %u) came with no request awaiting one", h.kind), -1;
    if (h.kind != (e->kind | WS_REPLY) || h.flags || h.tag != e->tag)
        return snprintf(why, n, "an answer (kind %u, tag %u) does not match its request (kind %u, tag %u)",
                        h.kind, h.tag, e->kind, e->tag),
               -1;
    int ok = h.status >= 200 && h.status < 300;
    uint64_t max = !ok                  ? LC_DP_MAX_JSON
                   : e->task            ? 4 + (uint64_t)LC_DP_MAX_JSON + e->task->read_total
                   : e->kind == WS_READ ? e->op->size
                                        : 0;
    if (h.length > max || (ok && e->kind == WS_READ && h.length != e->op->size))
        return snprintf(why, n, "an answer of %llu bytes to a request that expects %s %llu",
                        (unsigned long long)h.length, ok && e->kind == WS_READ ? "exactly" : "at most",
                        (unsigned long long)max),
               -1;
    st->status = h.status;
    st->left = h.length;
    st->in_payload = 1;
    return 0;
}

/* A job's answer is whole. 0, or -1 when the stream must go down (the worker is being replaced). */
static int st_job_answer(lc_dp *dp, uint32_t wi, lepton_task *t, uint16_t status) {
    lc_worker *w = &dp->workers[wi];
    int64_t now = lp_mono_ns();
    if (status >= 200 && status < 300) {
        atomic_store(&w->up, 1);
        if (t->bad_answer) {
            lc_job_fail(dp, t, 0, LEPTON_EPROTO, "%s", t->bad_text);
            return 0;
        }
        t->no_stream = 1; /* should the result ask for the job again, it goes over HTTP */
        lc_job_result(dp, t, 0);
        return 0;
    }
    char text[512];
    int starting = 0;
    int st =
        lc_dp_error_text(status, t->result.p ? t->result.p : "", t->result.len, text, sizeof text, &starting);
    lc_dp_note_answer(w, starting);
    if (status != 503) {
        lc_job_fail(dp, t, 0, st, "%s", text);
        return 0;
    }
    /* Any 503 on the stream: the job goes over HTTP, where the retry rules apply. */
    if (starting == LC_RETRY_QUEUE_FULL) w->queue_full_ns = now;
    int64_t busy_until = w->progress_ns + (int64_t)dp->timeout_ms * 1000000;
    if (starting == LC_RETRY_QUEUE_FULL && w->progress_ns && busy_until > t->deadline_ns)
        t->deadline_ns = busy_until;
    t->no_stream = 1;
    if (now < t->deadline_ns) {
        if (lc_job_requeue(dp, t, 0))
            lc_job_fail(dp, t, 0, LEPTON_EEXPIRED,
                        "the lease was closed while the job was waiting to be sent again");
    } else {
        lc_job_fail(dp, t, 0, st, "%s", text);
    }
    return starting == LC_RETRY_RESTARTING ? -1 : 0;
}

/* A buffer call's answer is whole. 0, or -1 when the stream must go down. */
static int st_op_answer(lc_dp *dp, uint32_t wi, lc_sop *op, uint16_t status) {
    lc_xfer *x = op->x;
    x->http = status;
    x->cc = CURLE_OK;
    x->sink_got = op->kind == WS_READ && status >= 200 && status < 300 ? op->got : 0;
    int starting = 0;
    if (status >= 200 && status < 300) {
        atomic_store(&dp->workers[wi].up, 1);
    } else {
        char text[8];
        lc_dp_error_text(status, x->answer.p ? x->answer.p : "", x->answer.len, text, sizeof text, &starting);
        lc_dp_note_answer(&dp->workers[wi], starting);
    }
    lc_sop_done(dp, op, status == 503); /* 503: over HTTP, with its retry rules */
    return starting == LC_RETRY_RESTARTING ? -1 : 0;
}

/* Reads what has arrived on worker wi's stream and completes the answers that are whole.
 * Returns how many, or -1 when the stream broke (why; the caller takes it down). */
static int st_pump(lc_dp *dp, uint32_t wi, char *why, size_t n) {
    lc_wstream *st = &dp->workers[wi].st;
    int done = 0;
    for (;;) {
        if (!st->in_payload) {
            if (!st->head && st->rpos == st->rlen) return done;
            if (st->rpos == st->rlen) {
                ssize_t k = lc_stream_recv(st->conn, st->rbuf, ST_RBUF);
                if (k < 0) return snprintf(why, n, "the worker closed the stream"), -1;
                if (k == 0) return done;
                st->rx_ns = lp_mono_ns();
                st->rpos = 0;
                st->rlen = (size_t)k;
            }
            size_t k = WS_HEADER - st->hdr_got;
            if (k > st->rlen - st->rpos) k = st->rlen - st->rpos;
            memcpy(st->hdr + st->hdr_got, st->rbuf + st->rpos, k);
            st->hdr_got += k;
            st->rpos += k;
            if (st->hdr_got < WS_HEADER) continue;
            st->hdr_got = 0;
            if (st->head == st->sending)
                return snprintf(why, n, "the worker answered a request before it was sent whole"), -1;
            if (st_begin(st, why, n)) return -1;
        } else if (st->left) {
            if (st->rpos < st->rlen) {
                size_t k = st->rlen - st->rpos < st->left ? st->rlen - st->rpos : (size_t)st->left;
                st_feed(st, (const char *)st->rbuf + st->rpos, k);
                st->rpos += k;
                st->left -= k;
            } else {
                size_t room = 0;
                char *d = st_direct(st, &room);
                if (room > st->left) room = (size_t)st->left;
                ssize_t k;
                if (d && room >= ST_DIRECT) {
                    if ((k = lc_stream_recv(st->conn, d, room)) > 0) st_direct_done(st, (size_t)k);
                    if (k > 0) st->left -= (uint64_t)k;
                } else if ((k = lc_stream_recv(st->conn, st->rbuf, ST_RBUF)) > 0) {
                    st->rpos = 0;
                    st->rlen = (size_t)k;
                }
                if (k < 0) return snprintf(why, n, "the worker closed the stream mid-answer"), -1;
                if (k == 0) return done;
                st->rx_ns = lp_mono_ns();
            }
        }
        if (st->in_payload && !st->left) {
            lc_sent *e = st->head;
            st->head = e->next;
            if (!st->head) st->tail = NULL;
            e->next = NULL;
            st->in_payload = 0;
            st->inflight -= e->bytes;
            done++;
            int rc = e->task ? st_job_answer(dp, wi, e->task, st->status)
                             : st_op_answer(dp, wi, e->op, st->status);
            if (rc) return snprintf(why, n, "the worker is being replaced"), -1;
            if (st->head && st->head->task && dp->workers[wi].in_flight == 0) lc_mark_running(st->head->task);
        }
    }
}

/* Reads every stream that awaits answers; returns the answers completed. A buffer call that has
 * had no answer byte for the client's timeout takes its stream down (it goes over HTTP, whose
 * deadlines apply); a job may run long, as over HTTP. */
int lc_st_pump_all(lc_dp *dp) {
    int done = 0;
    for (uint32_t i = 0; i < dp->nworkers; i++) {
        lc_wstream *st = &dp->workers[i].st;
        if (!st->conn) continue;
        char why[160];
        int k = st_pump(dp, i, why, sizeof why);
        if (k < 0) {
            st_down(dp, i, why, 0);
        } else {
            done += k;
            if (st->head && st->head->op && lp_mono_ns() - st->rx_ns > (int64_t)dp->timeout_ms * 1000000) {
                snprintf(why, sizeof why, "no answer to a buffer %s for %d ms",
                         st->head->kind == WS_READ ? "read" : "write", (int)dp->timeout_ms);
                st_down(dp, i, why, 0);
            }
        }
    }
    return done;
}

typedef struct st_pump_ctx {
    lc_dp *dp;
    uint32_t wi;
    char why[160];
} st_pump_ctx;

/* lc_stream_send's pump: answers are read while a large frame waits for room. */
static int st_pump_cb(void *user) {
    st_pump_ctx *c = user;
    return st_pump(c->dp, c->wi, c->why, sizeof c->why) < 0;
}

/* Writes a request's frame (e pushed first: its answer may come while the frame is written).
 * 0, or -1 with the stream taken down. */
/* Writes frames already recorded as awaiting answers (e: the last of them) on worker wi's stream;
 * answers that arrive meanwhile are read. 0, or -1 with the stream taken down. */
static int st_write(lc_dp *dp, uint32_t wi, lc_sent *e, struct iovec *iov, int niov) {
    lc_wstream *st = &dp->workers[wi].st;
    st->sending = e;
    st_pump_ctx ctx = {dp, wi, ""};
    int rc = lc_stream_send(st->conn, iov, niov, st_pump_cb, &ctx, (int64_t)dp->timeout_ms * 1000000);
    st->sending = NULL;
    if (rc) st_down(dp, wi, ctx.why[0] ? ctx.why : "a frame could not be written", 0);
    return rc;
}

/* Sends one frame (e) and records it as awaiting its answer. */
static int st_send(lc_dp *dp, uint32_t wi, lc_sent *e, struct iovec *iov, int niov) {
    st_push(&dp->workers[wi].st, e);
    return st_write(dp, wi, e, iov, niov);
}

/* Makes a job's WS_JOB frame (header + seq; its body follows from the head and the caller's
 * memory), fills iov[0 .. 2 + nwrite) and records it as awaiting its answer. */
static void st_frame_job(lc_dp *dp, lepton_task *t, struct iovec *iov) {
    lc_wstream *st = &dp->workers[t->worker].st;
    lc_answer_reset(t, 2);
    t->sent_ns = lp_mono_ns();
    t->sent = (lc_sent){NULL, WS_JOB, ++st->next_tag, sizeof t->frame + t->body_len, t, NULL};
    ws_header h = {WS_JOB, 0, 0, t->sent.tag, 8 + t->body_len};
    ws_pack(t->frame, &h);
    ws_put_u64(t->frame + WS_HEADER, t->seq);
    iov[0] = (struct iovec){t->frame, sizeof t->frame};
    iov[1] = (struct iovec){t->head, t->head_len};
    for (uint32_t i = 0; i < t->nwrite; i++)
        iov[2 + i] = (struct iovec){t->segs[i].host, t->segs[i].size};
    if (!st->head && dp->workers[t->worker].in_flight == 0) lc_mark_running(t);
    st_push(st, &t->sent);
}

/* Frames that go out in one write: jobs of one worker with few WRITE steps (a gather list each). */
#define ST_GATHER_JOBS 32
#define ST_GATHER_IOV 64

/* Sends the jobs of *list that are for the first one's worker and fit one gather list (at least
 * the first; a job with many WRITE steps goes alone) with one write; *list advances past them.
 * Every frame awaits its answer from the write on (st_down sends them over HTTP if it fails). */
void lc_st_send_jobs(lc_dp *dp, lepton_task **list) {
    lepton_task *t = *list;
    uint32_t wi = t->worker;
    lc_wstream *st = &dp->workers[wi].st;
    struct iovec stack[ST_GATHER_IOV], *iov = stack;
    int niov = 0, njobs = 0;
    if (2 + (int)t->nwrite > ST_GATHER_IOV) {
        *list = t->next;
        t->next = NULL;
        if (!(iov = malloc((2 + (size_t)t->nwrite) * sizeof *iov))) {
            st->inflight -= sizeof t->frame + t->body_len;
            t->no_stream = 1;
            if (lc_job_requeue(dp, t, 0)) lc_job_fail(dp, t, 0, LEPTON_ENOMEM, "out of memory");
            return;
        }
        st_frame_job(dp, t, iov);
        st_write(dp, wi, &t->sent, iov, 2 + (int)t->nwrite);
        free(iov);
        return;
    }
    lc_sent *last = NULL;
    while ((t = *list) && t->worker == wi && njobs < ST_GATHER_JOBS &&
           niov + 2 + (int)t->nwrite <= ST_GATHER_IOV) {
        *list = t->next;
        t->next = NULL;
        st_frame_job(dp, t, iov + niov);
        niov += 2 + (int)t->nwrite;
        njobs++;
        last = &t->sent;
    }
    st_write(dp, wi, last, iov, niov);
}

void lc_st_send_op(lc_dp *dp, lc_sop *op) {
    lc_wstream *st = &dp->workers[op->worker].st;
    int rd = op->kind == WS_READ;
    op->sent = (lc_sent){NULL, (uint8_t)op->kind, ++st->next_tag, rd ? 0 : op->size, NULL, op};
    st->inflight += op->sent.bytes;
    ws_header h = {(uint8_t)op->kind, 0, 0, op->sent.tag, rd ? 24 : 16 + (uint64_t)op->size};
    ws_pack(op->fixed, &h);
    ws_put_u64(op->fixed + WS_HEADER, op->buffer);
    ws_put_u64(op->fixed + WS_HEADER + 8, op->offset);
    ws_put_u64(op->fixed + WS_HEADER + 16, op->size);
    struct iovec iov[2] = {{op->fixed, WS_HEADER + (rd ? 24 : 16)}, {op->p, rd ? 0 : op->size}};
    st_send(dp, op->worker, &op->sent, iov, 2);
}

/* Opens the streams that have work waiting and may be tried (role held, no lock). */
void lc_st_open_wanted(lc_dp *dp) {
    for (uint32_t from = 0;;) {
        uint32_t open = UINT32_MAX;
        int64_t now = lp_mono_ns();
        pthread_mutex_lock(&dp->lock);
        for (uint32_t i = from; i < dp->nworkers && !dp->stopping; i++) {
            lc_worker *w = &dp->workers[i];
            if (w->st.conn || now < w->st.retry_ns) continue;
            if (w->st.ops || (w->head && !w->head->no_stream && w->retry_at_ns <= now)) {
                open = i;
                break;
            }
        }
        pthread_mutex_unlock(&dp->lock);
        if (open == UINT32_MAX) return;
        st_open(dp, open);
        from = open + 1;
    }
}

/* Closes every stream at the lease's close (the role is LC_ROLE_CLOSE): requests awaiting answers
 * end like the lease's other jobs on the wire; buffer calls go over HTTP (or fail there). */
void lc_st_close_all(lc_dp *dp) {
    for (uint32_t i = 0; i < dp->nworkers; i++) {
        lc_wstream *st = &dp->workers[i].st;
        pthread_mutex_lock(&dp->lock);
        lc_sop *ops = st->ops;
        st->ops = st->ops_tail = NULL;
        pthread_mutex_unlock(&dp->lock);
        for (lc_sop *op = ops, *next; op; op = next) {
            next = op->next;
            lc_sop_done(dp, op, 1);
        }
        if (st->conn) st_down(dp, i, "the lease is closing", 0);
    }
}

int lc_stream_xfer(lc_dp *dp, lc_xfer *x, int kind, uint64_t buffer, uint64_t offset, void *p, size_t size) {
    if (dp->stream_off) return 0;
    lc_worker *w = &dp->workers[x->worker];
    lc_sop op = {
        .worker = x->worker, .kind = kind, .buffer = buffer, .offset = offset, .p = p, .size = size, .x = x};
    pthread_mutex_lock(&dp->lock);
    if (dp->stopping || (!dp->io_started && lc_io_start(dp)) ||
        (!w->st.conn && lp_mono_ns() < w->st.retry_ns)) {
        pthread_mutex_unlock(&dp->lock);
        return 0;
    }
    pthread_mutex_init(&op.mu, NULL);
    lc_cond_init_mono(&op.cv);
    if (w->st.ops_tail)
        w->st.ops_tail->next = &op;
    else
        w->st.ops = &op;
    w->st.ops_tail = &op;
    dp->pending++;
    int drive = dp->driver == LC_ROLE_NONE;
    if (drive) dp->driver = LC_ROLE_CALLER;
    pthread_mutex_unlock(&dp->lock);
    if (!drive) lc_dp_wake(dp);
    /* Like lepton_wait: drive while the role is ours, else sleep until the op is done. */
    for (;;) {
        pthread_mutex_lock(&op.mu);
        int done = op.done;
        if (!done && !drive) {
            struct timespec until = lc_timespec(lp_mono_ns() + LC_DP_GRACE_NS);
            atomic_fetch_add(&dp->sleepers, 1);
            pthread_cond_timedwait(&op.cv, &op.mu, &until);
            atomic_fetch_sub(&dp->sleepers, 1);
            done = op.done;
        }
        pthread_mutex_unlock(&op.mu);
        if (done) break;
        if (drive) {
            lc_drive_once(dp, 1000);
            pthread_mutex_lock(&dp->lock);
            if (dp->stopping) { /* the close takes the role and ends the op */
                lc_role_release_locked(dp);
                drive = 0;
            }
            pthread_mutex_unlock(&dp->lock);
            continue;
        }
        pthread_mutex_lock(&dp->lock);
        if (dp->driver == LC_ROLE_NONE && !dp->stopping) {
            dp->driver = LC_ROLE_CALLER;
            drive = 1;
        }
        pthread_mutex_unlock(&dp->lock);
    }
    if (drive) {
        pthread_mutex_lock(&dp->lock);
        lc_role_release_locked(dp);
        pthread_mutex_unlock(&dp->lock);
    }
    pthread_mutex_destroy(&op.mu);
    pthread_cond_destroy(&op.cv);
    return !op.fallback;
}
