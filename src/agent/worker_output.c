/* worker_output.c — device printf through the data plane (docs/dataplane.md "Device output").
 *
 * The GPU driver prints what kernels printf to the process's stdout (cudaemu as it runs them,
 * NVIDIA's driver at synchronisation points), which nobody reads on a node: the program that
 * launched the kernels runs elsewhere. So fd 1 of the worker is an anonymous in-memory file
 * (memfd: a kernel that prints a lot never blocks on a pipe), and after each job that launched
 * kernels, what the file holds moves into the output of the job's session, kept up to
 * WK_OUTPUT_MAX bytes (the newest; older bytes are dropped and counted, like a full printf FIFO on
 * a GPU). The job's result says how many bytes are pending ("output"); GET /v1/output hands them
 * over once. Jobs run one at a time and a job with launches synchronises before it ends, so what
 * the file holds after a job is that job's output.
 *
 * A job without launches cannot print: it costs nothing here. A job with launches costs one
 * lseek when nothing was printed. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* memfd_create */
#endif
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "log.h"
#include "wire.h"
#include "worker.h"

void wk_output_open(lp_worker *w) {
    w->out_fd = -1;
    fflush(stdout);
    int fd = memfd_create("lepton-worker-stdout", MFD_CLOEXEC);
    /* O_APPEND: whoever writes (stdio, or a driver's own write(1, ...)) lands at the end, also
     * right after the file was emptied */
    if (fd < 0 || fcntl(fd, F_SETFL, O_APPEND) != 0 || dup2(fd, STDOUT_FILENO) < 0) {
        lp_log(LOG_WARN,
               "lease %s gpu %s: cannot collect device printf (memfd_create/dup2: %s); kernels' output goes "
               "to the worker's stdout",
               w->lease, w->uuid, strerror(errno));
        if (fd >= 0) close(fd);
        return;
    }
    close(fd);
    w->out_fd = STDOUT_FILENO;
}

/* Appends n bytes (after `skipped` bytes that were dropped before them) to q's output, keeping the
 * newest WK_OUTPUT_MAX. Under job_mu. */
static void append_locked(wk_jobq *q, const char *p, size_t n, uint64_t skipped) {
    q->out_dropped += skipped;
    if (n > WK_OUTPUT_MAX) { /* cannot happen (the caller reads at most that much); be safe */
        q->out_dropped += n - WK_OUTPUT_MAX;
        p += n - WK_OUTPUT_MAX;
        n = WK_OUTPUT_MAX;
    }
    if (q->out_len + n > WK_OUTPUT_MAX) {
        size_t cut = q->out_len + n - WK_OUTPUT_MAX; /* <= out_len */
        memmove(q->out, q->out + cut, q->out_len - cut);
        q->out_dropped += cut;
        __atomic_store_n(&q->out_len, q->out_len - cut, __ATOMIC_RELAXED);
    }
    if (q->out_len + n > q->out_cap) {
        size_t cap = q->out_cap ? q->out_cap : 4096;
        while (cap < q->out_len + n) cap *= 2;
        if (cap > WK_OUTPUT_MAX) cap = WK_OUTPUT_MAX;
        char *grown = realloc(q->out, cap);
        if (!grown) {
            q->out_dropped += n;
            return;
        }
        q->out = grown;
        q->out_cap = cap;
    }
    memcpy(q->out + q->out_len, p, n);
    __atomic_store_n(&q->out_len, q->out_len + n, __ATOMIC_RELAXED);
}

uint64_t wk_output_collect(lp_worker *w, wk_jobq *q) {
    if (w->out_fd < 0) return 0;
    fflush(stdout); /* what stdio holds of cudaemu's (or the driver's) printf */
    off_t size = lseek(w->out_fd, 0, SEEK_END);
    if (size <= 0) return wk_output_pending(q);
    size_t want = (uint64_t)size > WK_OUTPUT_MAX ? WK_OUTPUT_MAX : (size_t)size;
    char *buf = malloc(want);
    size_t got = 0;
    while (buf && got < want) {
        ssize_t n = pread(w->out_fd, buf + got, want - got, (off_t)((size_t)size - want + got));
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        got += (size_t)n;
    }
    if (ftruncate(w->out_fd, 0) != 0 || lseek(w->out_fd, 0, SEEK_SET) < 0)
        lp_log(LOG_WARN, "lease %s gpu %s: cannot empty the device printf file: %s", w->lease, w->uuid,
               strerror(errno));
    pthread_mutex_lock(&w->job_mu);
    append_locked(q, buf, got, (uint64_t)size - got);
    uint64_t pending = q->out_len + (q->out_dropped && !q->out_len ? 1 : 0);
    pthread_mutex_unlock(&w->job_mu);
    free(buf);
    return pending;
}

void wk_output_drop_locked(wk_jobq *q) {
    free(q->out);
    q->out = NULL;
    q->out_cap = q->out_dropped = 0;
    __atomic_store_n(&q->out_len, 0, __ATOMIC_RELAXED);
}

/* The queue of session `session` if the worker has one (never made here). Under job_mu. */
static wk_jobq *find_locked(lp_worker *w, uint64_t session) {
    if (!session) return &w->q0;
    for (wk_jobq *q = w->sessions; q; q = q->next)
        if (q->session == session) return q;
    return NULL;
}

/* GET /v1/output: the session's pending output (application/octet-stream), emptied. When bytes
 * were dropped, a line saying how many comes first, where they were. */
static void h_output(lp_http_req *r, void *user) {
    lp_worker *w = user;
    /* also while a poisoned worker lingers: the kernel that faulted may have printed why */
    if (wk_token_ok(w, r) != 0) return;
    uint64_t session;
    wk_err e;
    if (wk_job_session(r, &session, &e) != 0) {
        wk_reply_err(r, &e);
        return;
    }
    pthread_mutex_lock(&w->job_mu);
    wk_jobq *q = find_locked(w, session);
    char *out = q ? q->out : NULL;
    size_t len = q ? q->out_len : 0;
    uint64_t dropped = q ? q->out_dropped : 0;
    if (q) {
        q->out = NULL;
        q->out_cap = q->out_dropped = 0;
        __atomic_store_n(&q->out_len, 0, __ATOMIC_RELAXED);
    }
    pthread_mutex_unlock(&w->job_mu);
    if (!dropped) {
        lp_http_reply_bytes(r, 200, "application/octet-stream", out, len);
        free(out);
        return;
    }
    char note[200];
    int nl = snprintf(note, sizeof note,
                      "[lepton: %" PRIu64 " bytes of device printf output were dropped: the worker keeps at most "
                      "%u bytes per session between fetches]\n",
                      dropped, WK_OUTPUT_MAX);
    char *all = malloc((size_t)nl + len + 1);
    if (!all) {
        free(out);
        lp_http_reply_error(r, WIRE_INTERNAL, NULL, "out of memory");
        return;
    }
    memcpy(all, note, (size_t)nl);
    if (len) memcpy(all + nl, out, len);
    lp_http_reply_bytes(r, 200, "application/octet-stream", all, (size_t)nl + len);
    free(all);
    free(out);
    lp_log(LOG_INFO, "lease %s gpu %s: session %" PRIu64 ": %" PRIu64 " bytes of device printf output dropped",
           w->lease, w->uuid, session, dropped);
}

int wk_output_route(lp_worker *w, lp_http_server *s) {
    return lp_http_server_route(s, "GET", "/v1/output", h_output, w);
}
