/* worker_output.c — device output through the data plane (docs/dataplane.md "Device output").
 *
 * The GPU driver prints what kernels printf on the process's stdout (cudaemu as it runs them,
 * NVIDIA's driver at synchronisation points) and device assertions on its stderr, which nobody
 * reads on a node: the program that launched the kernels runs elsewhere. So fds 1 and 2 of the
 * worker are anonymous in-memory files (memfd: a kernel that prints a lot never blocks on a pipe),
 * and the worker's own lines go to a copy of the first stderr (lp_log_set_fd; the sanitizers'
 * reports too). After each job that launched kernels, what the files hold moves into the output of
 * the job's session, kept up to WK_OUTPUT_MAX bytes per stream (the newest; older bytes are dropped
 * and counted, like a full printf FIFO on a GPU). The job's result says how many bytes are pending
 * ("output", "output_stderr"); GET /v1/output hands them over once. Jobs run one at a time and a job
 * with launches synchronises before it ends, so what the files hold after a job is that job's
 * output (and whatever was written outside jobs since, e.g. while a module loaded).
 *
 * Cost: a job without launches, nothing; a job with launches that printed nothing, no system call.
 * Each file is written from offset 0 (not appended to) and is one page long when empty, that page
 * mapped here: bytes at its start mean something was written. Only then is it read (pread up to the
 * file offset) and emptied (truncated, grown back to one zero page, offset 0). Output that starts
 * with 8 NUL bytes goes unnoticed until something else is printed.
 *
 * A worker that aborts (glibc's "double free detected", a failed assert) first copies what its
 * stderr file holds into its log: those messages are written on fd 2 just before abort(). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* memfd_create */
#endif
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "log.h"
#include "wire.h"
#include "worker.h"

#define PROBE 4096 /* the mapped first page of each file */

/* The stderr file and the log, for the SIGABRT handler. */
static int g_err_fd = -1, g_log_fd = -1;

/* SIGABRT: what stderr holds (the newest 64 KiB: the reason for the abort comes last) goes to the
 * log, then the signal's default action. Async-signal-safe calls only. */
static void on_abort(int sig) {
    off_t n = lseek(g_err_fd, 0, SEEK_CUR), at = n > 65536 ? n - 65536 : 0;
    char buf[4096];
    while (at < n) {
        size_t want = (size_t)(n - at) < sizeof buf ? (size_t)(n - at) : sizeof buf;
        ssize_t k = pread(g_err_fd, buf, want, at);
        if (k <= 0 || write(g_log_fd, buf, (size_t)k) != k) break;
        at += k;
    }
    struct sigaction dfl = {.sa_handler = SIG_DFL};
    sigaction(sig, &dfl, NULL);
    raise(sig);
}

/* Makes fd `to` (1 or 2) an empty one-page memfd whose page is mapped at *map: `to`, or -1 with
 * errno. */
static int capture(int to, const char *name, const unsigned char **map) {
    int fd = memfd_create(name, MFD_CLOEXEC);
    void *m = MAP_FAILED;
    if (fd >= 0 && ftruncate(fd, PROBE) == 0) m = mmap(NULL, PROBE, PROT_READ, MAP_SHARED, fd, 0);
    if (m == MAP_FAILED || dup2(fd, to) < 0) {
        int e = errno;
        if (m != MAP_FAILED) munmap(m, PROBE);
        if (fd >= 0) close(fd);
        errno = e;
        return -1;
    }
    close(fd);
    *map = m;
    return to;
}

/* The sanitizers' runtimes (when linked in) write their reports on fd 2 unless told otherwise. */
extern void __sanitizer_set_report_fd(void *fd) __attribute__((weak));

void wk_output_open(lp_worker *w) {
    w->out_fd[WK_STDOUT] = w->out_fd[WK_STDERR] = w->log_fd = -1;
    fflush(stdout);
    if ((w->out_fd[WK_STDOUT] = capture(STDOUT_FILENO, "lepton-worker-stdout", &w->out_map[WK_STDOUT])) < 0)
        lp_log(LP_LOG_WARN,
               "lease %s gpu %s: cannot collect device printf (memfd_create/mmap/dup2: %s); kernels' output "
               "goes to the worker's stdout",
               w->lease, w->uuid, strerror(errno));
    w->log_fd = fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 3);
    if (w->log_fd >= 0) {
        lp_log_set_fd(w->log_fd);
        if (__sanitizer_set_report_fd) __sanitizer_set_report_fd((void *)(intptr_t)w->log_fd);
        w->out_fd[WK_STDERR] = capture(STDERR_FILENO, "lepton-worker-stderr", &w->out_map[WK_STDERR]);
    }
    if (w->out_fd[WK_STDERR] < 0) {
        lp_log(LP_LOG_WARN,
               "lease %s gpu %s: cannot collect the driver's stderr (device assertions): %s; it stays the "
               "worker's log",
               w->lease, w->uuid, strerror(errno));
        return;
    }
    g_err_fd = STDERR_FILENO;
    g_log_fd = w->log_fd;
    struct sigaction sa = {.sa_handler = on_abort};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGABRT, &sa, NULL);
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
    off_t size = lseek(fd, 0, SEEK_CUR); /* written from 0: the offset is the length */
    if (size > 0) {
        size_t want = (uint64_t)size > WK_OUTPUT_MAX ? WK_OUTPUT_MAX : (size_t)size;
        *buf = malloc(want);
        while (*buf && *got < want) {
            ssize_t n = pread(fd, *buf + *got, want - *got, (off_t)((size_t)size - want + *got));
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) break;
            *got += (size_t)n;
        }
        *skipped = (uint64_t)size - *got;
    }
    if (ftruncate(fd, 0) != 0 || ftruncate(fd, PROBE) != 0 || lseek(fd, 0, SEEK_SET) < 0)
        lp_log(LP_LOG_WARN, "lease %s gpu %s: cannot empty the device output file: %s", w->lease, w->uuid,
               strerror(errno));
}

/* Something was written on stream i since it was last emptied (its mapped first bytes). */
static int written(const lp_worker *w, int i) {
    uint64_t head;
    if (w->out_fd[i] < 0) return 0;
    memcpy(&head, w->out_map[i], sizeof head);
    return head != 0;
}

void wk_output_collect(lp_worker *w, wk_jobq *q, uint64_t pending[2]) {
    char *buf[2] = {NULL, NULL};
    size_t got[2] = {0, 0};
    uint64_t skipped[2] = {0, 0};
    fflush(stdout); /* what stdio holds of cudaemu's (or the driver's) printf */
    fflush(stderr);
    int any = 0;
    for (int i = 0; i < 2; i++)
        if (written(w, i)) {
            take(w, w->out_fd[i], &buf[i], &got[i], &skipped[i]);
            any = 1;
        }
    if (any) {
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
    lp_log(LP_LOG_INFO, "lease %s gpu %s: session %" PRIu64 ": %" PRIu64 " bytes of device %s output dropped",
           w->lease, w->uuid, session, o.dropped, si == WK_STDOUT ? "printf" : "stderr");
}

int wk_output_route(lp_worker *w, lp_http_server *s) {
    return lp_http_server_route(s, "GET", "/v1/output", h_output, w);
}
