/* worker_stream.c — GET /v1/stream, the data plane's fast path (docs/dataplane.md "The stream"):
 * after the token check and the 101, the stream's own thread (an upgraded connection of
 * http_server.c) reads frames (wire_stream.h) and answers each, in order, as the same request over
 * HTTP would be answered: jobs through the code of POST /v1/jobs (wk_job_run: this thread runs its
 * job itself when it is due, binding the CUDA context as the HTTP request threads do), writes and
 * reads through the buffer code of PUT/GET /v1/buffers/{id} (wk_put, wk_get_bytes), pings at once.
 *
 * Reads go through a read-ahead buffer, so a small job's header and payload (and often the frames
 * behind it) come in one recv; large payloads are read straight to where they go (a job's body, the
 * pinned staging buffer of a write). An answer is one sendmsg of its header and its pieces, or, when
 * the next frame has already been read ahead, it is held (copied into the stream's hold) and goes
 * out in one sendmsg with the answers after it: held answers are sent before this thread waits for
 * the socket, and a flusher thread sends them once the oldest is hold_ns old (LEPTON_WORKER_HOLD_US,
 * default WK_HOLD_US, 100 us), so a long job never delays an earlier job's answer by more than that. The
 * flusher sleeps on a timer (a timerfd) that the first held answer arms and an emptied hold disarms: it wakes
 * only when held answers are due, never to look. A READ's bytes come from device memory through a staging
 * buffer, chunk by chunk. The device copies of a WRITE or READ larger than one chunk run on the transfer's
 * copier thread (worker.h, wk_put / wk_get), beside this thread's recv or send of the neighbouring chunk.
 *
 * A frame the worker cannot accept (unknown kind, non-zero flags, a length past the kind's limit or
 * short of its fixed part) is answered 400 and ends the stream. Ownership: the stream's state
 * belongs to its thread, except its hold, which it shares with its flusher under the hold's mutex
 * (the flusher is started with the stream and joined before it ends); the
 * socket belongs to the HTTP server, which closes it when the thread's function returns (and shuts
 * it down to end the stream when the server stops). Sends on the socket: the flusher sends only
 * while answers are held, and then under the mutex, as does the stream thread; with nothing held the
 * stream thread sends alone. */
#include <errno.h>
#include <sched.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"
#include "wire.h"
#include "wire_stream.h"
#include "worker.h"

#define RA_SIZE (64u << 10)     /* bytes of the read-ahead buffer */
#define DIRECT_MIN (16u << 10)  /* reads at least this large skip the read-ahead buffer */
#define DRAIN_MS 2000           /* after a refused frame: how long to read and drop before closing */
#define ANNOUNCE_MIN (1u << 20) /* job bytes still to come that make its seq announced as arriving */
#define HOLD_SIZE (32u << 10)   /* bytes of answers a stream holds at most (about 180 empty jobs' results) */
#define HOLD_ONE_MAX (4u << 10) /* a larger answer is never copied: it goes out at once, held ones first */
#define HOLD_SLACK_NS 5000 /* the flusher's timer slack (Linux's default, 50 us, would double the bound) */

/* Answers held for one sendmsg together, and the flusher thread that bounds how long they wait.
 * Under mu, except that the flusher reads stop without it (atomic). */
typedef struct hold {
    pthread_mutex_t mu;
    int tfd; /* the flusher's timer: armed for since + hold_ns while answers are held */
    char *buf;
    size_t len;    /* bytes held: whole answers, header and payload */
    int64_t since; /* when the oldest held answer was held; 0: none held */
    int armed;     /* tfd is armed */
    int failed;    /* a send failed: the connection is gone, the stream ends at its next send */
    int stop;      /* atomic, written under mu: the stream ends, the flusher returns */
    pthread_t th;
} hold;

/* Arms the flusher's timer for at (CLOCK_MONOTONIC ns; 0 disarms). Under mu. */
static void hold_timer_locked(hold *hd, int64_t at) {
    struct itimerspec its = {{0, 0}, {(time_t)(at / 1000000000), (long)(at % 1000000000)}};
    if (at > 0 || hd->armed) (void)timerfd_settime(hd->tfd, TFD_TIMER_ABSTIME, &its, NULL);
    hd->armed = at > 0;
}

typedef struct stream {
    lp_worker *w;
    wk_jobq *q; /* the session its jobs belong to (the upgrade request's), held until it ends */
    int fd;
    char *ra;
    size_t pos, end; /* unread bytes of ra */
    hold *hd;        /* NULL: every answer goes out on its own (LEPTON_WORKER_HOLD_US=0, or no thread) */
    int maybe_held;  /* this thread held an answer since its last flush (the flusher may have sent it) */
    uint64_t frames, answers; /* for the line logged when the stream ends */
    uint64_t sends;           /* atomic (the flusher sends too): sendmsg calls */
} stream;

static ssize_t recv_flags(int fd, void *p, size_t n, int flags) {
    for (;;) {
        ssize_t k = recv(fd, p, n, flags);
        if (k >= 0 || errno != EINTR) return k;
    }
}

/* Sends all of iov[0..n) (modified). 0 or -1. */
static int send_all(stream *s, struct iovec *iov, int n) {
    while (n > 0) {
        struct msghdr m = {.msg_iov = iov, .msg_iovlen = (size_t)n};
        ssize_t k = sendmsg(s->fd, &m, MSG_NOSIGNAL);
        __atomic_fetch_add(&s->w->stream_sends, 1, __ATOMIC_RELAXED);
        __atomic_fetch_add(&s->sends, 1, __ATOMIC_RELAXED);
        if (k < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        ws_iov_advance(&iov, &n, (size_t)k);
    }
    return 0;
}

/* Sends the held answers, then iov[0..n) (modified; n may be 0), in one sendmsg where the socket
 * takes it all. Under hd->mu. 0 or -1 (and the hold marked failed). */
static int hold_send_locked(stream *s, hold *hd, struct iovec *iov, int n) {
    struct iovec all[4];
    int k = 0;
    if (hd->len) all[k++] = (struct iovec){hd->buf, hd->len};
    for (int i = 0; i < n; i++)
        all[k++] = iov[i];
    int rc = hd->failed ? -1 : send_all(s, all, k);
    hd->len = 0;
    hd->since = 0;
    if (hd->armed) hold_timer_locked(hd, 0);
    if (rc != 0) hd->failed = 1;
    return rc;
}

/* The flusher: sends held answers once the oldest is hold_ns old (the stream thread is running a
 * job, copying, or waiting for its turn). It sleeps on the hold's timer, which fires only when held
 * answers are due (or the stream ends). */
static void *flusher_main(void *arg) {
    stream *s = arg;
    hold *hd = s->hd;
    (void)prctl(PR_SET_TIMERSLACK, (unsigned long)HOLD_SLACK_NS, 0, 0, 0);
    while (!__atomic_load_n(&hd->stop, __ATOMIC_RELAXED)) {
        uint64_t fired;
        ssize_t k = read(hd->tfd, &fired, sizeof fired);
        if (k < 0 && errno != EINTR && errno != EAGAIN) break;
        pthread_mutex_lock(&hd->mu); /* held still (not sent meanwhile, nor held anew)? */
        int64_t now = lp_mono_ns();
        if (hd->len && now - hd->since >= s->w->hold_ns)
            (void)hold_send_locked(s, hd, NULL, 0);
        else if (hd->len)
            hold_timer_locked(hd, hd->since + s->w->hold_ns); /* held anew since it was armed */
        pthread_mutex_unlock(&hd->mu);
    }
    return NULL;
}

/* The hold and its flusher, when the stream starts. 0, or -1 (then the stream sends every answer on
 * its own). */
static int hold_start(stream *s) {
    hold *hd = calloc(1, sizeof *hd);
    if (!hd || !(hd->buf = malloc(HOLD_SIZE))) {
        free(hd);
        return -1;
    }
    hd->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC);
    if (hd->tfd < 0) {
        free(hd->buf);
        free(hd);
        return -1;
    }
    pthread_mutex_init(&hd->mu, NULL);
    s->hd = hd;
    pthread_attr_t at;
    pthread_attr_init(&at);
    pthread_attr_setstacksize(&at, 64u << 10); /* a loop and a sendmsg */
    int ok = pthread_create(&hd->th, &at, flusher_main, s) == 0;
    pthread_attr_destroy(&at);
    if (ok) return 0;
    lp_log(LP_LOG_WARN, "lease %s gpu %s: stream: cannot start a flusher thread; answers go out one by one",
           s->w->lease, s->w->uuid);
    s->hd = NULL;
    close(hd->tfd);
    pthread_mutex_destroy(&hd->mu);
    free(hd->buf);
    free(hd);
    return -1;
}

/* Sends what is held (before this thread waits on the socket). 0 or -1. */
static int flush(stream *s) {
    hold *hd = s->hd;
    s->maybe_held = 0;
    if (!hd) return 0;
    pthread_mutex_lock(&hd->mu);
    int rc = hd->failed ? -1 : hd->len ? hold_send_locked(s, hd, NULL, 0) : 0;
    pthread_mutex_unlock(&hd->mu);
    return rc;
}

/* At the stream's end: what is still held goes out (a client that half-closed waits for it), the
 * flusher returns. */
static void hold_end(stream *s) {
    hold *hd = s->hd;
    if (!hd) return;
    (void)flush(s);
    pthread_mutex_lock(&hd->mu);
    __atomic_store_n(&hd->stop, 1, __ATOMIC_RELAXED);
    hold_timer_locked(hd, 1); /* long past: the flusher wakes at once and sees stop */
    pthread_mutex_unlock(&hd->mu);
    pthread_join(hd->th, NULL);
    close(hd->tfd);
    pthread_mutex_destroy(&hd->mu);
    free(hd->buf);
    free(hd);
    s->hd = NULL;
}

/* Receives what has arrived into the read-ahead, waiting for at least a byte. A stream first polls
 * (yielding the CPU) for the worker's spin_ns (LEPTON_WORKER_SPIN_US, default 50 us) before it
 * sleeps in the kernel: on a VM a sleeping vCPU can take tens of microseconds to wake, which a
 * client's next request would otherwise pay. */
static ssize_t recv_ahead(stream *s) {
    int fd = s->fd, held = s->maybe_held;
    void *p = s->ra;
    size_t n = RA_SIZE;
    int64_t until = s->w->spin_ns > 0 ? lp_mono_ns() + s->w->spin_ns : 0;
    while (held || until) {
        /* frames that have arrived keep held answers held (the flusher bounds their wait); none
         * arrived: they go out before this thread waits */
        ssize_t k = recv(fd, p, n, MSG_DONTWAIT);
        if (k >= 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) return k;
        if (held) {
            held = 0;
            if (flush(s) != 0) return -1;
        }
        if (!until || lp_mono_ns() >= until) break;
        sched_yield();
    }
    return recv_flags(fd, p, n, 0);
}

/* Reads exactly n bytes into dst. 0, or -1 when the connection ended or failed. A large read waits
 * in the kernel for all of it (MSG_WAITALL): one call per chunk rather than one per arrival. */
static int read_exact(stream *s, void *dst, size_t n) {
    char *d = dst;
    size_t have = s->end - s->pos, k = have < n ? have : n;
    if (k) {
        memcpy(d, s->ra + s->pos, k);
        s->pos += k;
        d += k;
        n -= k;
    }
    while (n) {
        if (n >= DIRECT_MIN) {
            if (s->maybe_held && flush(s) != 0) return -1;
            ssize_t r = recv_flags(s->fd, d, n, MSG_WAITALL);
            if (r <= 0) return -1;
            d += r;
            n -= (size_t)r;
            continue;
        }
        ssize_t r = recv_ahead(s);
        if (r <= 0) return -1;
        s->pos = 0;
        s->end = (size_t)r;
        k = s->end < n ? s->end : n;
        memcpy(d, s->ra, k);
        s->pos = k;
        d += k;
        n -= k;
    }
    return 0;
}

/* Reads and drops n bytes (the payload of a refused request). 0 or -1. */
static int skip(stream *s, uint64_t n) {
    for (;;) {
        size_t have = s->end - s->pos, k = have < n ? have : (size_t)n;
        s->pos += k;
        n -= k;
        if (!n) return 0;
        ssize_t r = recv_ahead(s);
        if (r <= 0) return -1;
        s->pos = 0;
        s->end = (size_t)r;
    }
}

/* Answers the request h: status, then `total` payload bytes of which `len` are in p now (the rest
 * follows with send_all). 0 or -1. */
static int answer(stream *s, const ws_header *h, int status, uint64_t total, const void *p, size_t len) {
    unsigned char hdr[WS_HEADER];
    ws_header a = {.kind = (uint8_t)(h->kind | WS_REPLY),
                   .flags = 0,
                   .status = (uint16_t)status,
                   .tag = h->tag,
                   .length = total};
    ws_pack(hdr, &a);
    s->answers++;
    struct iovec iov[2] = {{hdr, WS_HEADER}, {(void *)p, len}};
    /* held when whole, small, and the next frame is here already (this thread goes on to it without
     * waiting on the socket) */
    hold *hd = s->hd;
    if (!hd) return send_all(s, iov, len ? 2 : 1);
    int keep = total == len && len <= HOLD_ONE_MAX && s->end > s->pos;
    pthread_mutex_lock(&hd->mu);
    int rc;
    if (hd->failed) {
        rc = -1;
    } else if (keep && hd->len + WS_HEADER + len <= HOLD_SIZE &&
               (!hd->len || lp_mono_ns() - hd->since < s->w->hold_ns)) {
        /* (past the bound the held answers go now, with this one: the flusher may not have had a
         * CPU while this thread ran fast jobs) */
        if (!hd->len) {
            hd->since = lp_mono_ns();
            hold_timer_locked(hd, hd->since + s->w->hold_ns);
        }
        memcpy(hd->buf + hd->len, hdr, WS_HEADER);
        if (len) memcpy(hd->buf + hd->len + WS_HEADER, p, len);
        hd->len += WS_HEADER + len;
        s->maybe_held = 1;
        rc = 0;
    } else {
        rc = hold_send_locked(s, hd, iov, len ? 2 : 1);
    }
    pthread_mutex_unlock(&hd->mu);
    return rc;
}

/* Answers e's status with its JSON error body, as HTTP would. 0 or -1. */
static int answer_err(stream *s, const ws_header *h, const wk_err *e) {
    json_t *b = lp_http_error_body(e->code, e->msg, e->hint);
    char *text = b ? json_dumps(b, JSON_COMPACT) : NULL;
    json_decref(b);
    static const char oom[] = "{\"error\":{\"code\":\"internal\",\"message\":\"cannot encode the answer\"}}";
    int rc = answer(s, h, text ? e->status : 500, text ? strlen(text) : sizeof oom - 1, text ? text : oom,
                    text ? strlen(text) : sizeof oom - 1);
    free(text);
    return rc;
}

/* Checks a request's framing. 0, or -1 with the 400 to answer before the stream ends. */
static int frame_check(const ws_header *h, wk_err *e) {
    static const char *hint = "see docs/dataplane.md, The stream";
    if (h->flags) {
        wk_err_set(e, WIRE_INVALID, hint, "frame flags must be 0, got 0x%02x (kind %u, tag %" PRIu32 ")",
                   h->flags, h->kind, h->tag);
        return -1;
    }
    uint64_t fixed = 0, max = 0;
    switch (h->kind) {
    case WS_JOB:
        fixed = 8;
        max = 8 + (uint64_t)WK_JOB_MAX;
        break;
    case WS_WRITE:
        fixed = 16;
        max = 16 + WK_BUFFER_MAX;
        break;
    case WS_READ:
        fixed = max = 24;
        break;
    case WS_PING:
        break;
    default:
        wk_err_set(e, WIRE_INVALID, hint,
                   "unknown frame kind %u (tag %" PRIu32 "): 1 job, 2 write, 3 read, 4 ping", h->kind,
                   h->tag);
        return -1;
    }
    if (h->length < fixed || h->length > max) {
        static const char *names[] = {"", "job", "write", "read", "ping"};
        wk_err_set(e, WIRE_INVALID, hint,
                   "a %s frame's payload is %" PRIu64 "..%" PRIu64 " bytes, not %" PRIu64 " (tag %" PRIu32
                   ")",
                   names[h->kind], fixed, max, h->length, h->tag);
        return -1;
    }
    return 0;
}

/* After answering a refused frame: the client may still be sending; read and drop for a moment so
 * that it reads the answer rather than a reset connection. */
static void linger_close(stream *s) {
    if (flush(s) != 0) return;
    (void)shutdown(s->fd, SHUT_WR);
    int64_t until = lp_mono_ms() + DRAIN_MS;
    for (int64_t now = lp_mono_ms(); now < until; now = lp_mono_ms()) {
        struct pollfd p = {s->fd, POLLIN, 0};
        if (poll(&p, 1, (int)(until - now)) <= 0) return;
        if (recv_ahead(s) <= 0) return;
    }
}

static int do_job(stream *s, const ws_header *h) {
    lp_worker *w = s->w;
    unsigned char sq[8];
    if (read_exact(s, sq, 8) != 0) return -1;
    uint64_t seq = ws_get_u64(sq), len = h->length - 8;
    wk_err e;
    if (!wk_job_admit(w, s->q, seq, len)) {
        if (skip(s, len) != 0) return -1;
        wk_err_queue_full(w, len, &e);
        return answer_err(s, h, &e);
    }
    char *body = malloc(len ? (size_t)len : 1);
    if (!body) {
        wk_job_release(w, len);
        if (skip(s, len) != 0) return -1;
        wk_err_set(&e, WIRE_NO_MEMORY, NULL, "cannot hold a job of %" PRIu64 " bytes", len);
        return answer_err(s, h, &e);
    }
    /* a body that is not here yet may take a while: its seq is on its way, not missing */
    size_t buffered = s->end - s->pos;
    int announced = len > buffered && len - buffered >= ANNOUNCE_MIN && wk_job_announce(s->q, seq);
    int got = read_exact(s, body, (size_t)len);
    if (announced) wk_job_arrived(s->q, seq);
    if (got != 0) {
        free(body);
        wk_job_release(w, len);
        return -1;
    }
    wk_job_answer a;
    int rc = wk_job_run(s->q, body, (size_t)len, lp_mono_ns(), &a);
    wk_job_release(w, len); /* it has run (or never will here) */
    if (rc != 0) return answer_err(s, h, &a.err);
    rc = answer(s, h, 200, a.len, a.res, a.len);
    wk_job_answer_done(w, &a);
    return rc;
}

static int do_write(stream *s, const ws_header *h) {
    lp_worker *w = s->w;
    unsigned char fx[16];
    if (read_exact(s, fx, 16) != 0) return -1;
    uint64_t id = ws_get_u64(fx), offset = ws_get_u64(fx + 8), left = h->length - 16;
    wk_err e;
    wk_put p = {.w = w, .offset = offset};
    if (wk_buffer_span(w, id, offset, left, 1, 1, &p.b, &e) != 0) {
        if (skip(s, left) != 0) return -1;
        return answer_err(s, h, &e);
    }
    int failed = 0;
    while (left) {
        size_t room = 0;
        char *at = failed ? NULL : wk_put_room(&p, &room, &e);
        if (!at) {
            failed = 1;
            break;
        }
        size_t k = room < left ? room : (size_t)left;
        if (read_exact(s, at, k) != 0) {
            wk_put_end(&p);
            return -1;
        }
        left -= k;
        if (wk_put_commit(&p, k, &e) != 0) failed = 1;
    }
    if (!failed && wk_put_flush(&p, &e) != 0) failed = 1;
    wk_put_end(&p);
    if (failed) return skip(s, left) != 0 ? -1 : answer_err(s, h, &e);
    return answer(s, h, 204, 0, NULL, 0);
}

static int do_read(stream *s, const ws_header *h) {
    lp_worker *w = s->w;
    unsigned char fx[24];
    if (read_exact(s, fx, 24) != 0) return -1;
    uint64_t id = ws_get_u64(fx), offset = ws_get_u64(fx + 8), size = ws_get_u64(fx + 16);
    wk_err e;
    wk_buffer *b;
    if (wk_buffer_span(w, id, offset, size, 1, 0, &b, &e) != 0) return answer_err(s, h, &e);
    if (!size) {
        wk_buffer_put(w, b);
        return answer(s, h, 200, 0, NULL, 0);
    }
    wk_get g;
    if (wk_get_begin(&g, w, b, offset, size, &e) != 0) {
        wk_buffer_put(w, b);
        return answer_err(s, h, &e);
    }
    /* the first chunk before the header, so that an error can still be answered as such */
    size_t k = 0;
    const char *p = wk_get_next(&g, &k, &e);
    int rc = p ? answer(s, h, 200, size, p, k) : answer_err(s, h, &e);
    while (rc == 0 && p && g.done < size) {
        if (!(p = wk_get_next(&g, &k, &e))) {
            /* the header promised the bytes: the stream cannot go on */
            lp_log(LP_LOG_WARN, "lease %s gpu %s: stream: %s", w->lease, w->uuid, e.msg);
            rc = -1;
            break;
        }
        struct iovec iov = {(void *)p, k};
        rc = send_all(s, &iov, 1);
    }
    wk_get_end(&g);
    wk_buffer_put(w, b);
    return rc;
}

/* The stream's thread: frames until the client closes (or the server shuts the socket). */
static void stream_main(int fd, const char *extra, size_t extra_size, void *user) {
    wk_jobq *q = user;
    stream s = {.w = q->w, .q = q, .fd = fd};
    if (!(s.ra = malloc(extra_size > RA_SIZE ? extra_size : RA_SIZE))) {
        wk_jobq_put(q);
        return;
    }
    if (extra_size) memcpy(s.ra, extra, extra_size);
    s.end = extra_size;
    lp_worker *w = s.w;
    /* the flusher from the start: a thread that has slept gets a busy CPU sooner than a new one */
    if (w->hold_ns > 0) (void)hold_start(&s);
    for (;;) {
        unsigned char raw[WS_HEADER];
        if (s.pos == s.end) { /* nothing read ahead: a clean end of the stream is here */
            ssize_t r = recv_ahead(&s);
            if (r <= 0) break;
            s.pos = 0;
            s.end = (size_t)r;
        }
        if (read_exact(&s, raw, WS_HEADER) != 0) break;
        ws_header h;
        ws_unpack(raw, &h);
        wk_err e;
        if (frame_check(&h, &e) != 0) {
            if (answer_err(&s, &h, &e) == 0) linger_close(&s);
            break;
        }
        __atomic_fetch_add(&w->stream_frames[h.kind - 1], 1, __ATOMIC_RELAXED);
        s.frames++;
        int rc;
        if (wk_is_poisoned(w)) {
            wk_err_restarting(w, &e);
            rc = skip(&s, h.length) != 0 ? -1 : answer_err(&s, &h, &e);
        } else if (h.kind == WS_JOB) {
            rc = do_job(&s, &h);
        } else if (h.kind == WS_WRITE) {
            rc = do_write(&s, &h);
        } else if (h.kind == WS_READ) {
            rc = do_read(&s, &h);
        } else {
            rc = answer(&s, &h, 200, 0, NULL, 0);
        }
        if (rc != 0) break;
    }
    hold_end(&s);
    lp_log(LP_LOG_INFO,
           "lease %s gpu %s: stream ended: %" PRIu64 " frames, %" PRIu64 " answers in %" PRIu64
           " sendmsg calls",
           w->lease, w->uuid, s.frames, s.answers, __atomic_load_n(&s.sends, __ATOMIC_RELAXED));
    free(s.ra);
    wk_jobq_put(q);
}

/* GET /v1/stream: the token as any request's, the session (its jobs' queue, held by the stream
 * from here: a connection that never gets to stream_main leaves it held until the worker ends),
 * then the upgrade. */
static void h_stream(lp_http_req *r, void *user) {
    lp_worker *w = user;
    if (wk_authorized(w, r) != 0) return;
    const char *up = lp_http_header(r, "Upgrade"), *conn = lp_http_header(r, "Connection");
    /* the server sends no 101 to a request whose Connection header does not name upgrade */
    int conn_ok = conn && strcasestr(conn, "upgrade");
    if (!up || strcasecmp(up, WS_PROTOCOL) != 0 || !conn_ok) {
        char msg[200];
        if (up && !strcasecmp(up, WS_PROTOCOL))
            snprintf(msg, sizeof msg,
                     "GET %s upgrades to %s; the request's Connection header does not say Upgrade", WS_PATH,
                     WS_PROTOCOL);
        else
            snprintf(msg, sizeof msg, "GET %s upgrades to %s; the request %s%.64s%s", WS_PATH, WS_PROTOCOL,
                     up ? "asks for '" : "has no Upgrade header", up ? up : "", up ? "'" : "");
        lp_http_add_header(r, "Upgrade", WS_PROTOCOL);
        lp_http_reply_json_take(
            r, 426,
            lp_http_error_body(WIRE_INVALID, msg, "send Connection: Upgrade and Upgrade: " WS_PROTOCOL));
        return;
    }
    uint64_t session;
    wk_err e;
    if (wk_job_session(r, &session, &e) != 0) {
        wk_reply_err(r, &e);
        return;
    }
    wk_jobq *q = wk_jobq_take(w, session);
    if (!q) {
        wk_err_sessions_full(w, &e);
        wk_reply_err(r, &e);
        return;
    }
    lp_http_reply_upgrade(r, WS_PROTOCOL, stream_main, q);
}

int wk_stream_route(lp_worker *w, lp_http_server *s) {
    return lp_http_server_route(s, "GET", WS_PATH, h_stream, w);
}
