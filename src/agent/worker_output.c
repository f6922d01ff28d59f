/* worker_output.c — device output through the data plane (docs/dataplane.md "Device output").
 *
 * The GPU driver prints what kernels printf on the process's stdout (cudaemu as it runs them,
 * NVIDIA's driver at synchronisation points) and device assertions on its stderr, which nobody
 * reads on a node: the program that launched the kernels runs elsewhere. So fd 1 of the worker is
 * an anonymous in-memory file (memfd: a kernel that prints a lot never blocks on a pipe), and fd 2
 * is another one while a job with launches runs (only then: what a failing worker writes on stderr
 * otherwise — glibc's and the sanitizers' reports — stays in its log; the worker's own lines always
 * go to a copy of the first stderr). After each job that launched kernels, what the files hold
 * moves into the output of the job's session, kept up to WK_OUTPUT_MAX bytes per stream (the
 * newest; older bytes are dropped and counted, like a full printf FIFO on a GPU). The job's result
 * says how many bytes are pending ("output", "output_stderr"); GET /v1/output hands them over
 * once. Jobs run one at a time and a job with launches synchronises before it ends, so what the
 * files hold after a job is that job's output (stdout: and whatever the driver printed outside jobs
 * since).
 *
 * A job without launches costs nothing here. A job with launches costs two dup2 and two lseek
 * calls when nothing was written. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* memfd_create */
#endif
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "log.h"
#include "wire.h"
#include "worker.h"

/* A memfd (O_APPEND: whoever writes, stdio or a driver's own write, lands at the end, also right
 * after the file was emptied), or -1 with errno. */
static int memfd(const char *name) {
    int fd = memfd_create(name, MFD_CLOEXEC);
    if (fd >= 0 && fcntl(fd, F_SETFL, O_APPEND) != 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

/* The sanitizers' runtimes (when linked in) write their reports on fd 2 unless told otherwise. */
extern void __sanitizer_set_report_fd(void *fd) __attribute__((weak));

void wk_output_open(lp_worker *w) {
    w->out_fd[WK_STDOUT] = w->out_fd[WK_STDERR] = w->log_fd = -1;
    fflush(stdout);
    int fd = memfd("lepton-worker-stdout");
    if (fd >= 0 && dup2(fd, STDOUT_FILENO) >= 0) w->out_fd[WK_STDOUT] = STDOUT_FILENO;
    if (w->out_fd[WK_STDOUT] < 0)
        lp_log(LOG_WARN,
               "lease %s gpu %s: cannot collect device printf (memfd_create/dup2: %s); kernels' output goes "
               "to the worker's stdout",
               w->lease, w->uuid, strerror(errno));
    if (fd >= 0) close(fd);
    w->log_fd = fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 3);
    if (w->log_fd >= 0) {
        lp_log_set_fd(w->log_fd);
        if (__sanitizer_set_report_fd) __sanitizer_set_report_fd((void *)(intptr_t)w->log_fd);
        w->out_fd[WK_STDERR] = memfd("lepton-worker-stderr");
    }
    if (w->out_fd[WK_STDERR] < 0)
        lp_log(LOG_WARN,
               "lease %s gpu %s: cannot collect the driver's stderr (device assertions): %s; it stays the "
               "worker's log",
               w->lease, w->uuid, strerror(errno));
}

void wk_output_begin(lp_worker *w) {
    if (w->out_fd[WK_STDERR] < 0) return;
    fflush(stderr);
    if (dup2(w->out_fd[WK_STDERR], STDERR_FILENO) < 0)
        lp_log(LOG_WARN, "lease %s gpu %s: cannot collect the driver's stderr for a job: %s", w->lease,
               w->uuid, strerror(errno));
}

/* Appends n bytes (after `skipped` bytes that were dropped before them) to output q, keeping the
 * newest WK_OUTPUT_MAX. Under job_mu. */
static void append_locked(wk_output *q, const char *p, size_t n, uint64_t skipped) {
    q->dropped += skipped;
    if (n > WK_OUTPUT_MAX) { /* cannot happen (the caller reads at most that much); be safe */
        q->dropped += n - WK_OUTPUT_MAX;
        p += n - WK_OUTPUT_MAX;
        n = WK_OUTPUT_MAX;
    }
    if (q->len + n > WK_OUTPUT_MAX) {
        size_t cut = q->len + n - WK_OUTPUT_MAX; /* <= len */
        memmove(q->p, q->p + cut, q->len - cut);
        q->dropped += cut;
        __atomic_store_n(&q->len, q->len - cut, __ATOMIC_RELAXED);
    }
    if (q->len + n > q->cap) {
        size_t cap = q->cap ? q->cap : 4096;
        while (cap < q->len + n)
            cap *= 2;
        if (cap > WK_OUTPUT_MAX) cap = WK_OUTPUT_MAX;
        char *grown = realloc(q->p, cap);
        if (!grown) {
            q->dropped += n;
            return;
        }
        q->p = grown;
        q->cap = cap;
    }
    memcpy(q->p + q->len, p, n);
    __atomic_store_n(&q->len, q->len + n, __ATOMIC_RELAXED);
}

/* Takes what file fd holds (the newest WK_OUTPUT_MAX bytes) and empties it: *buf (malloc'd, or
 * NULL), *got bytes of it, *skipped bytes before them not taken. */
static void take(lp_worker *w, int fd, char **buf, size_t *got, uint64_t *skipped) {
    *buf = NULL;
    *got = 0;
    *skipped = 0;
    off_t size = lseek(fd, 0, SEEK_END);
    if (size <= 0) return;
    size_t want = (uint64_t)size > WK_OUTPUT_MAX ? WK_OUTPUT_MAX : (size_t)size;
    *buf = malloc(want);
    while (*buf && *got < want) {
        ssize_t n = pread(fd, *buf + *got, want - *got, (off_t)((size_t)size - want + *got));
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        *got += (size_t)n;
    }
    *skipped = (uint64_t)size - *got;
    if (ftruncate(fd, 0) != 0 || lseek(fd, 0, SEEK_SET) < 0)
        lp_log(LOG_WARN, "lease %s gpu %s: cannot empty the device output file: %s", w->lease, w->uuid,
               strerror(errno));
}

void wk_output_collect(lp_worker *w, wk_jobq *q, uint64_t pending[2]) {
    char *buf[2];
    size_t got[2];
    uint64_t skipped[2];
    fflush(stdout); /* what stdio holds of cudaemu's (or the driver's) printf */
    fflush(stderr);
    if (w->out_fd[WK_STDERR] >= 0 && dup2(w->log_fd, STDERR_FILENO) < 0)
        lp_log(LOG_WARN, "lease %s gpu %s: cannot point stderr back at the log: %s", w->lease, w->uuid,
               strerror(errno));
    for (int i = 0; i < 2; i++)
        if (w->out_fd[i] >= 0)
            take(w, w->out_fd[i], &buf[i], &got[i], &skipped[i]);
        else
            buf[i] = NULL, got[i] = 0, skipped[i] = 0;
    if (got[0] || skipped[0] || got[1] || skipped[1]) {
        pthread_mutex_lock(&w->job_mu);
        for (int i = 0; i < 2; i++)
            if (got[i] || skipped[i]) append_locked(&q->out[i], buf[i], got[i], skipped[i]);
        pthread_mutex_unlock(&w->job_mu);
    }
    free(buf[0]);
    free(buf[1]);
    wk_output_pending(q, pending);
    /* all of it was dropped (no memory): the line saying so is still there to fetch */
    for (int i = 0; i < 2; i++)
        if (!pending[i] && skipped[i]) pending[i] = 1;
}

void wk_output_drop_locked(wk_jobq *q) {
    for (int i = 0; i < 2; i++) {
        free(q->out[i].p);
        q->out[i].p = NULL;
        q->out[i].cap = q->out[i].dropped = 0;
        __atomic_store_n(&q->out[i].len, 0, __ATOMIC_RELAXED);
    }
}

/* The queue of session `session` if the worker has one (never made here). Under job_mu. */
static wk_jobq *find_locked(lp_worker *w, uint64_t session) {
    if (!session) return &w->q0;
    for (wk_jobq *q = w->sessions; q; q = q->next)
        if (q->session == session) return q;
    return NULL;
}

/* GET /v1/output[?stream=stdout|stderr]: the session's pending output of that stream
 * (application/octet-stream), emptied. When bytes were dropped, a line saying how many comes first,
 * where they were. */
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
    const char *sn = lp_http_query(r, "stream");
    int si = !sn || !strcmp(sn, "stdout") ? WK_STDOUT : !strcmp(sn, "stderr") ? WK_STDERR : -1;
    if (si < 0) {
        lp_http_reply_error(r, WIRE_INVALID, "ask for stream=stdout (the default) or stream=stderr",
                            "unknown output stream '%.40s'", sn);
        return;
    }
    pthread_mutex_lock(&w->job_mu);
    wk_jobq *q = find_locked(w, session);
    wk_output o = q ? q->out[si] : (wk_output){0};
    if (q) {
        q->out[si].p = NULL;
        q->out[si].cap = q->out[si].dropped = 0;
        __atomic_store_n(&q->out[si].len, 0, __ATOMIC_RELAXED);
    }
    pthread_mutex_unlock(&w->job_mu);
    if (!o.dropped) {
        lp_http_reply_bytes(r, 200, "application/octet-stream", o.p, o.len);
        free(o.p);
        return;
    }
    char note[200];
    int nl =
        snprintf(note, sizeof note,
                 "[lepton: %" PRIu64 " bytes of device %s output were dropped: the worker keeps at most %u "
                 "bytes per session between fetches]\n",
                 o.dropped, si == WK_STDOUT ? "printf" : "stderr", WK_OUTPUT_MAX);
    char *all = malloc((size_t)nl + o.len + 1);
    if (!all) {
        free(o.p);
        lp_http_reply_error(r, WIRE_INTERNAL, NULL, "out of memory");
        return;
    }
    memcpy(all, note, (size_t)nl);
    if (o.len) memcpy(all + nl, o.p, o.len);
    lp_http_reply_bytes(r, 200, "application/octet-stream", all, (size_t)nl + o.len);
    free(all);
    free(o.p);
    lp_log(LOG_INFO, "lease %s gpu %s: session %" PRIu64 ": %" PRIu64 " bytes of device %s output dropped",
           w->lease, w->uuid, session, o.dropped, si == WK_STDOUT ? "printf" : "stderr");
}

int wk_output_route(lp_worker *w, lp_http_server *s) {
    return lp_http_server_route(s, "GET", "/v1/output", h_output, w);
}
