/* worker.h — the lease worker: one process serving one leased GPU's data plane (docs/dataplane.md).
 * State shared by its parts: the CUDA context, device buffers, modules, the in-order job executor
 * and the small journal in the lease's state directory that a replacement worker reads back. */
#ifndef LEPTON_AGENT_WORKER_H
#define LEPTON_AGENT_WORKER_H

#include <jansson.h>
#include <pthread.h>
#include <stdint.h>

#include "cuda_api.h"
#include "http_server.h"
#include "token.h"
#include "wire_job.h"

/* Exit statuses the agent tells apart. */
#define LP_WORKER_EXIT_OK 0
#define LP_WORKER_EXIT_USAGE 2  /* bad arguments: restarting will not help */
#define LP_WORKER_EXIT_STICKY 3 /* a sticky CUDA error poisoned the context: replace the worker */
#define LP_WORKER_EXIT_START 4  /* CUDA or the listen socket could not be set up */
#define LP_WORKER_EXIT_TLS 5    /* its TLS certificate or key was refused: restarting will not help */

#define WK_MODULE_MAX (64u << 20) /* bytes of one module image */
/* The job contract's limits are wire_job.h's (shared with liblepton, reasons there). */
#define WK_JOB_MAX WIRE_JOB_MAX_BODY            /* bytes of one job request */
#define WK_JOB_JSON_MAX WIRE_JOB_MAX_DESCRIPTOR /* bytes of a job's JSON descriptor */
#define WK_BATCH_MAX_JOBS                                                                                    \
    WIRE_JOB_MAX_BATCH /* jobs of one POST /v1/jobs/batch (its body is at most WK_JOB_MAX) */
#define WK_MAX_STEPS WIRE_JOB_MAX_STEPS
#define WK_MAX_ARGS WIRE_JOB_MAX_ARGS
#define WK_BUFFER_MAX WIRE_JOB_MAX_BUFFER /* bytes of one buffer */
#define WK_QUEUE_DEFAULT                                                                                     \
    (256ull << 20) /* bytes of job bodies held for jobs not yet run (--job-queue-bytes) */
#define WK_SEQ_HEADER                                                                                        \
    "Lepton-Job-Seq" /* request header: the (first) seq of a job request, read before its body */
#define WK_SESSION_HEADER "Lepton-Job-Session" /* request header: the job session (absent: 0) */
#define WK_SESSIONS_MAX 256                    /* sessions other than 0 kept at once */

typedef struct wk_buffer {
    uint64_t id;
    lp_cu_dptr ptr;
    uint64_t size;
    int refs; /* the table's (while live) + requests using it */
    int live;
    /* A borrowed buffer: a module's global variable (GET /v1/modules/{sha}/globals/{name}). Its
     * memory is the module's: never freed here; the buffer holds a reference on the module, and
     * unloading the module drops the table's entry. NULL for an allocation. */
    struct wk_module *module;
    char *global; /* the variable's name */
    struct wk_buffer *next;
} wk_buffer;

typedef struct wk_func {
    char *name;
    lp_cu_function f;
    int nparams; /* -1 when the driver cannot tell (no cuFuncGetParamInfo) */
    size_t *offset, *size;
    struct wk_func *next;
} wk_func;

typedef struct wk_module {
    char sha[65];
    lp_cu_module mod;
    char *info; /* the module answer's JSON text, {"module", "functions": [...]} (immutable) */
    size_t info_len;
    wk_func *funcs;
    wk_func **fidx;      /* funcs by name: open addressing, NULL = empty (a module may hold 40,000 kernels) */
    size_t fcap, nfuncs; /* fcap: a power of two > 2 nfuncs, or 0 */
    int refs;
    /* The job sessions that loaded or looked it up and have not freed it (mod_mu): a DELETE unloads
     * it only when the last of them lets go, so one handle freeing a module never takes it from
     * another handle of the lease that loaded the same image. */
    uint64_t *holders;
    size_t nholders, capholders;
    struct wk_module *next;
} wk_module;

typedef struct wk_job wk_job;
struct lp_worker;

/* Device output of a session not fetched yet: the newest WK_OUTPUT_MAX bytes, and how many older
 * ones were dropped to keep within it. Under job_mu; len is also read without it (atomically). */
typedef struct wk_output {
    char *p;
    size_t len, cap;
    uint64_t dropped;
} wk_output;
enum { WK_STDOUT = 0, WK_STDERR = 1 };

/* One session's jobs (docs/dataplane.md "Jobs", sessions): the seq space of one client handle.
 * Its jobs run in seq order; a retried seq is answered from its remembered results. Session 0
 * (the lease's own handle) is lp_worker.q0, journaled; other sessions are made on first sight and
 * freed when idle. Under job_mu. */
typedef struct wk_jobq {
    struct lp_worker *w;
    uint64_t session;
    wk_job *jobs;           /* pending and remembered jobs, sorted by seq: the finished ones first */
    wk_job *jobs_tail;      /* the last of them (new jobs usually go after it) */
    wk_job *undone;         /* the first unfinished one (the next to run when its seq is due), or NULL */
    uint64_t arriving[256]; /* seqs of jobs whose bodies are still streaming in */
    size_t narriving;
    uint64_t next_seq;
    uint64_t seq_done, seq_recv; /* the last finished and the highest accepted seq (journaled: q0) */
    uint64_t lost_lo, lost_hi;   /* seqs a predecessor accepted but never finished: lost with it */
    size_t remembered, remembered_bytes;
    int floating; /* a session new to a replacement worker: its earliest job sets next_seq until one runs */
    int users;    /* requests and streams holding it (wk_jobq_take): never freed while > 0 */
    int64_t used_ns; /* when it was last taken */
    /* Device output of its jobs not fetched yet (worker_output.c): [WK_STDOUT] kernels' printf,
     * [WK_STDERR] what the driver wrote on stderr (device assertions) */
    wk_output out[2];
    struct wk_jobq *next;
} wk_jobq;

/* Default of LEPTON_WORKER_HOLD_US (lp_worker.hold_ns): the longest a stream holds a finished answer
 * to send it with the next ones. Measured (lepton-bench --scenario pipeline, 2-vCPU VM, alternated):
 * 64 empty jobs in flight ran at 210-310k/s with 50 us, 340-420k/s with 100 us, no better with
 * 150-400 us, and far slower below 50 us (65k/s at 10 us: answers went out in small groups, and the
 * client's next jobs then came in small groups too). 1 in flight never holds (no next frame waits). */
#define WK_HOLD_US 100

typedef struct lp_worker {
    /* identity */
    char lease[128], node[128], uuid[64], listen[128], state_dir[512], cuda_path[512];
    char tls_cert[512], tls_key[512]; /* PEM files: serve HTTPS; "" → plain HTTP */
    int index;                        /* position of this GPU within the lease */
    lp_token_scope scope;
    /* CUDA */
    lp_cuda cu;
    lp_cu_device dev;
    lp_cu_ctx ctx;
    char gpu_name[256];
    size_t memory_total;
    /* buffers (mu) */
    pthread_mutex_t mu;
    wk_buffer *buffers;
    uint64_t next_buffer_id;
    uint64_t *lost;        /* ids that lived on a previous worker of this GPU */
    signed char *lost_why; /* [nlost] index into lost_reasons + 1; 0 = not known (yet); -1 = none */
    size_t nlost;
    char lost_reasons[8][64]; /* CUDA error names that made predecessors restart */
    int nreasons;
    int journal_fd;
    /* device output (worker_output.c): fds 1 and 2 when they collect it (-1: not) and their files'
     * mapped first pages; log_fd: the worker's log (its first stderr) */
    int out_fd[2], log_fd;
    const unsigned char *out_map[2];
    /* modules (mod_mu; loads are serialized by it) */
    pthread_mutex_t mod_mu;
    wk_module *modules;
    /* staging buffers (mu) */
    void *staging[4];
    int nstaging;
    /* jobs (job_mu) */
    pthread_mutex_t job_mu;
    wk_jobq q0;        /* session 0 */
    wk_jobq *sessions; /* the other sessions' queues (at most WK_SESSIONS_MAX) */
    size_t nsessions;
    struct {
        uint64_t session, next_seq;
    } retired[256]; /* sessions freed while idle: where they go on when they come back */
    size_t nretired;
    int replacement;           /* a predecessor served this GPU: sessions new here may have run there */
    uint64_t remembered_bytes; /* bytes of the finished jobs' results kept, all sessions together */
    int running;               /* a job is running (at most one at a time, across sessions) */
    int seq_fd;
    char *seq_map;             /* the seq record mapped from seq_fd (NULL: written with pwrite) */
    uint64_t queue_limit;      /* bytes of job bodies held for jobs not yet run (0 → WK_QUEUE_DEFAULT) */
    uint64_t queued_bytes;     /* held now: bodies arriving or waiting for their turn */
    uint64_t queued_jobs;      /* jobs entered and not run yet */
    uint64_t queue_full_total; /* requests refused with 503 queue_full */
    int64_t queue_full_ns;     /* when the last was (a refused job comes back: it is not missing) */
    uint64_t restarting_total; /* requests answered 503 worker_restarting */
    int64_t spin_ns;           /* LEPTON_WORKER_SPIN_US: a stream polls this long before it sleeps */
    int64_t hold_ns;           /* LEPTON_WORKER_HOLD_US: how long a stream may hold a finished answer
                                  to send it with the next (0: each answer is sent on its own) */
    int64_t instance;          /* drawn at random (> 0) when the process starts: "instance" in /v1/info and
                                  every job result, so a client sees a replacement worker (memory gone) */
    uint64_t stream_frames[4]; /* atomic: frames received on streams, by kind (WS_JOB .. WS_PING) - 1 */
    uint64_t stream_sends;     /* atomic: sendmsg calls of streams (several answers may share one) */
    int stopping;
    int poisoned; /* set once a sticky error hit; the worker then exits */
    char poison[256];
    /* HTTP */
    lp_http_server *http;
    struct lp_prom_http *http_metrics; /* request durations (prom.h), made by wk_http_routes */
} lp_worker;

/* worker_state.c */
int wk_state_open(lp_worker *w, char *err, size_t err_size); /* journal, lost buffers, next seq */
void wk_state_close(lp_worker *w);                           /* frees buffers and modules */
int wk_bind(lp_worker *w);                                   /* makes the context current on this thread */
/* Buffers: lookups take a reference (drop it with wk_buffer_put). Status: 0, 404 or 410. */
int wk_buffer_get(lp_worker *w, uint64_t id, wk_buffer **out);
void wk_buffer_put(lp_worker *w, wk_buffer *b);
/* Allocates: 0 with its id and device address, or 507 (out of memory) / 500 with *cr. */
int wk_buffer_alloc(lp_worker *w, uint64_t size, uint64_t *id, lp_cu_dptr *address, lp_cu_result *cr);
int wk_buffer_free(lp_worker *w, uint64_t id); /* 0 or 404; a borrowed buffer's memory stays */
/* The borrowed buffer of global `name` of module m (the same id while it lives), with a
 * reference for the caller. 0; 404 when the module has no such global; 500 with *cr (a CUDA
 * failure) or out of memory (*cr LP_CUDA_SUCCESS). */
int wk_buffer_global(lp_worker *w, struct wk_module *m, const char *name, wk_buffer **out, lp_cu_result *cr);
/* A staging buffer of *size bytes (pinned host memory, pooled), or NULL with *cr (the allocation's
 * CUDA result; LP_CUDA_ERROR_NOT_INITIALIZED when the context could not be bound). */
void *wk_staging_take(lp_worker *w, size_t *size, lp_cu_result *cr);
void wk_staging_give(lp_worker *w, void *p);
/* Modules: lookups take a reference (wk_module_put). wk_module_get loads a saved image on demand.
 * Status 0, 404, or 400 with the driver's log in msg. */
int wk_module_get(lp_worker *w, const char *sha, wk_module **out, char *msg, size_t msg_size);
void wk_module_put(lp_worker *w, wk_module *m);
/* Loads an image that hashes to sha (saving it in the state dir). 0, or 400/507 with msg (JIT log). */
int wk_module_load(lp_worker *w, const char *sha, const char *image, size_t size, wk_module **out, char *msg,
                   size_t msg_size);
void wk_module_unload(lp_worker *w, const char *sha);
/* Records that job session `session` holds module m (GET/PUT of the module). 0, or -1 out of memory. */
int wk_module_hold(lp_worker *w, wk_module *m, uint64_t session);
/* Session `session` lets go of module sha (DELETE): unloads it when no session holds it any more
 * (also when none was recorded: a module a replacement worker loaded from its saved image). */
void wk_module_release(lp_worker *w, const char *sha, uint64_t session);
/* Finds a kernel of a module (cached). Returns NULL with msg when it does not exist. */
const wk_func *wk_module_func(lp_worker *w, wk_module *m, const char *name, char *msg, size_t msg_size);
/* Journals the seq counters (under job_mu): a replacement worker goes on after the highest seq its
 * predecessor accepted, since whatever it had not finished died with it. */
void wk_seq_save(lp_worker *w);
/* Marks the context lost after a sticky error (the worker then answers 503 worker_restarting to
 * everything and exits). why starts with the driver's error name (CUDA_ERROR_...): it is kept in
 * the buffer journal so that the replacement can say why the buffers were lost. */
void wk_poison(lp_worker *w, const char *why);
/* The message for a buffer that died with a predecessor ("buffer N was lost when ..."). */
void wk_lost_text(lp_worker *w, uint64_t id, char *out, size_t n);
static inline int wk_is_poisoned(lp_worker *w) { return __atomic_load_n(&w->poisoned, __ATOMIC_ACQUIRE); }

/* worker_job_queue.c (wk_jobs_route: worker_jobs.c) */
void wk_jobs_stop(lp_worker *w); /* wakes the waiting requests: they answer 502 */
void wk_jobs_wake(lp_worker *w); /* after wk_poison: the waiting requests answer 503 worker_restarting */
void wk_jobs_free(lp_worker *w); /* after the HTTP server is gone */
int wk_jobs_route(lp_worker *w, lp_http_server *s); /* POST /v1/jobs and POST /v1/jobs/batch */

/* An error answer without a request: the same status, wire code, hint and message whether it goes
 * out over HTTP or on the stream (as its JSON error body). */
typedef struct wk_err {
    int status;
    const char *code;
    const char *hint; /* NULL: none */
    char msg[600];
} wk_err;

/* worker_http.c: the routes, and the observer of their durations (w->http_metrics) */
int wk_http_routes(lp_worker *w, lp_http_server *s);
/* worker_metrics.c: answers GET /metrics */
void wk_metrics_reply(lp_worker *w, lp_http_req *r);
/* Sets e to code (status wire_http_status(code)), hint and the formatted message. */
void wk_err_set(wk_err *e, const char *code, const char *hint, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* 503 worker_restarting (counted), 503 queue_full for a job request of len bytes, and 410
 * buffer_lost / 404 not_found for a buffer status of wk_buffer_get. */
void wk_err_restarting(lp_worker *w, wk_err *e);
void wk_err_queue_full(lp_worker *w, uint64_t len, wk_err *e);
void wk_err_buffer_status(lp_worker *w, uint64_t id, int status, wk_err *e);
/* Answers e over HTTP (a 503 with Retry-After). */
void wk_reply_err(lp_http_req *r, const wk_err *e);

/* Buffer bytes, shared by PUT/GET /v1/buffers/{id} and the stream's WRITE/READ (worker_http.c).
 * wk_buffer_span takes a reference on buffer id once [offset, offset + len) lies within it (only
 * the offset is checked when has_len is 0); 0, or an error in e (404, 410, 400 overrun). */
int wk_buffer_span(lp_worker *w, uint64_t id, uint64_t offset, uint64_t len, int has_len, int writing,
                   wk_buffer **b, wk_err *e);
/* Bulk transfers overlap the socket with the device copies: a transfer larger than one chunk
 * (its staging buffer split in WK_SLOTS chunks) gets a copier, a thread of its own with the CUDA
 * context current, which copies chunk k into device memory while the caller receives chunk k + 1
 * into the next one (writes), or fetches chunk k + 1 from the device while the caller sends chunk
 * k (reads). On a GPU the copy engine then runs under the network transfer; on the CPU driver the
 * copy runs on another core. The copier lives as long as its transfer: wk_put_end / wk_get_end stop
 * it (after the copy in progress, if any) and wait for it, so neither memory nor thread outlives
 * the transfer whatever ended it (an error, a failed copy, a client gone). A transfer of one chunk
 * or less, or one whose thread cannot be started, copies on the calling thread as before. */
#ifndef WK_SLOTS
#define WK_SLOTS 4 /* chunks per staging buffer (4 MiB): 1 MiB chunks, chosen by measurement */
#endif
typedef struct wk_pipe wk_pipe; /* the copier of one transfer (worker_http.c) */

/* Bytes on their way into buffer b at offset, through a pinned staging buffer copied into device
 * memory chunk by chunk. Zero-initialise, set w, b (its reference is the writer's) and offset.
 * Used by one thread at a time (the copier is internal). */
typedef struct wk_put {
    lp_worker *w;
    wk_buffer *b;
    uint64_t offset, written; /* written: bytes handed to the device copies (done or in flight) */
    char *stage;              /* the staging buffer (wk_staging_take) */
    size_t stage_size, chunk; /* its size and the size of one chunk of it */
    char *at;                 /* the chunk being filled */
    size_t fill;              /* its bytes so far */
    wk_pipe *pipe;            /* the copier, once the body outgrew one chunk (NULL: copies inline) */
    int no_pipe;              /* its thread could not be started: copies inline to the end */
} wk_put;
/* Room for the next bytes: *room (> 0) bytes at the returned pointer, or NULL with e (413 when the
 * buffer's end is reached, 500 without staging memory, the CUDA error of a failed chunk). */
char *wk_put_room(wk_put *p, size_t *room, wk_err *e);
/* n bytes were placed at wk_put_room's pointer; a full chunk goes to the device (to the copier: this
 * returns once the next chunk is free). wk_put_flush sends what is left and waits until every byte
 * is in device memory. 0, or -1 with e (a sticky CUDA error poisons the worker). */
int wk_put_commit(wk_put *p, size_t n, wk_err *e);
int wk_put_flush(wk_put *p, wk_err *e);
/* Copies size bytes (which must fit: 413 otherwise, nothing copied). 0 or -1 with e. */
int wk_put_add(wk_put *p, const char *data, size_t size, wk_err *e);
/* Stops the copier, gives the staging buffer and the buffer reference back. */
void wk_put_end(wk_put *p);
/* Copies n bytes of b at offset off into host memory. 0, or -1 with e (a sticky error poisons). */
int wk_get_bytes(lp_worker *w, wk_buffer *b, uint64_t off, void *buf, size_t n, wk_err *e);
/* Bytes [offset, offset + size) of buffer b (borrowed: the caller's reference must outlive
 * wk_get_end) on their way out, chunk by chunk, in order, fetched ahead by a copier when there is
 * more than one chunk. Used by one thread at a time. */
typedef struct wk_get {
    lp_worker *w;
    wk_buffer *b;
    uint64_t offset, size, done; /* done: bytes handed out by wk_get_next */
    char *stage;
    size_t stage_size, chunk;
    wk_pipe *pipe;
} wk_get;
/* 0, or -1 with e (500 without staging memory). size > 0. */
int wk_get_begin(wk_get *g, lp_worker *w, wk_buffer *b, uint64_t offset, uint64_t size, wk_err *e);
/* The next *n (> 0) bytes, valid until the next call or wk_get_end; NULL with e when their copy
 * failed (a sticky error poisons). Call only while done < size. */
const char *wk_get_next(wk_get *g, size_t *n, wk_err *e);
/* Stops the copier and gives the staging buffer back (not the buffer reference). */
void wk_get_end(wk_get *g);
/* Checks the request's lease token; on failure answers 401/403 and returns -1. A poisoned worker
 * answers 503 worker_restarting instead, whatever the token. */
int wk_authorized(lp_worker *w, lp_http_req *r);
/* The token check of wk_authorized alone, also on a poisoned worker (for what is still worth
 * answering while it lingers: the output its last kernels printed). */
int wk_token_ok(lp_worker *w, lp_http_req *r);
/* Answers 410 buffer_lost / 404 not_found for a buffer status of wk_buffer_get. */
void wk_reply_buffer_status(lp_worker *w, lp_http_req *r, uint64_t id, int status);
/* 503 worker_restarting (the context is lost; a fresh worker comes up on the same address), with
 * Retry-After. */
void wk_reply_restarting(lp_worker *w, lp_http_req *r);

/* worker_job_queue.c (wk_job_session: worker_jobs.c): one job request as POST /v1/jobs takes it,
 * for the stream too (worker_stream.c).
 * wk_job_admit applies the queue limit (docs/dataplane.md "Queue limit") to a job request of len
 * bytes whose seq is known (0: not known): 1 admitted, its bytes counted until wk_job_release; 0
 * refused (and counted as a refusal). wk_job_run parses body (taken), enters the job, waits for its
 * turn and runs it on the calling thread when it is due; 0 with the result bytes (res, len: a
 * reference on the job keeps them until wk_job_answer_done), or -1 with the error to answer. */
typedef struct wk_job_answer {
    wk_job *job;
    const char *res;
    size_t len;
    wk_err err;
} wk_job_answer;
/* The job session a request names (WK_SESSION_HEADER; 0 without it): 0, or -1 with e (400). */
int wk_job_session(lp_http_req *r, uint64_t *session, wk_err *e);
/* The queue of a session, held until wk_jobq_put (made on first sight); NULL, counted as a
 * queue_full refusal, when WK_SESSIONS_MAX sessions are all busy: answer wk_err_sessions_full
 * (wk_job_admit refuses a NULL queue). wk_jobq_put(NULL) is a no-op. */
wk_jobq *wk_jobq_take(lp_worker *w, uint64_t session);
void wk_jobq_put(wk_jobq *q);
void wk_err_sessions_full(lp_worker *w, wk_err *e); /* 503 queue_full: no room for another session */
int wk_job_admit(lp_worker *w, wk_jobq *q, uint64_t seq, uint64_t len);
void wk_job_release(lp_worker *w, uint64_t len);
/* While a job's body streams in slowly, later jobs must not take its seq for a missing one:
 * wk_job_announce (1 when it was noted) ... wk_job_arrived. */
int wk_job_announce(wk_jobq *q, uint64_t seq);
void wk_job_arrived(wk_jobq *q, uint64_t seq);
int wk_job_run(wk_jobq *q, char *body, size_t len, int64_t queued_ns, wk_job_answer *a);
void wk_job_answer_done(lp_worker *w, wk_job_answer *a);

/* worker_output.c: device output (docs/dataplane.md "Device output"). The GPU driver prints a
 * kernel's printf on the process's stdout and device assertions on its stderr; wk_output_open
 * points fds 1 and 2 at anonymous files (call it once, before any thread starts; from then on the
 * worker's own lines go to a copy of the first stderr, through lp_log). */
/* bytes of unfetched output kept per session and stream, as CUDA's printf FIFO */
#define WK_OUTPUT_MAX (1u << 20)
void wk_output_open(lp_worker *w);
/* After a job of session q that launched kernels (synchronised, whatever its outcome): moves what
 * was written on both streams into q's output (no system call when nothing was). Sets pending[2]:
 * q's bytes pending per stream (the job result's "output" and "output_stderr"). Not under job_mu. */
void wk_output_collect(lp_worker *w, wk_jobq *q, uint64_t pending[2]);
/* q's bytes pending, without collecting. */
static inline void wk_output_pending(const wk_jobq *q, uint64_t pending[2]) {
    for (int i = 0; i < 2; i++)
        pending[i] = __atomic_load_n(&q->out[i].len, __ATOMIC_RELAXED);
}
/* Frees q's output (the session ends). Under job_mu. */
void wk_output_drop_locked(wk_jobq *q);
int wk_output_route(lp_worker *w, lp_http_server *s); /* GET /v1/output */

/* worker_stream.c: GET /v1/stream (docs/dataplane.md "The stream") */
int wk_stream_route(lp_worker *w, lp_http_server *s);

/* worker_job_codec.c: the decoders of POST /v1/jobs and /v1/jobs/batch bodies without a request or a
 * GPU (tests/fuzz). wk_job_decode: 0 a well-formed job, 1 a job that fails in its turn (msg says
 * why), -1 refused outright. wk_batch_decode: 0 or -1 (msg says why). */
int wk_job_decode(const char *body, size_t len, char *msg, size_t ms);
int wk_batch_decode(const char *buf, size_t len, char *msg, size_t ms);

/* ---- what the job files share: worker_jobs.c (the endpoints), worker_job_queue.c (sessions and
 * the order jobs run in), worker_job_run.c (one job on the GPU), worker_job_codec.c (the bytes of
 * jobs, batches and results) ---- */
#define WK_RESTARTING "worker_restarting" /* a job refused because the context was lost before its turn */
#define WK_JOBS_HINT "see docs/dataplane.md, Jobs"

/* A decoded job's steps and arguments (wire_job.h owns the contract). */
typedef wire_job_arg wk_arg;
typedef wire_job_step wk_step;

struct wk_job {
    uint64_t seq;
    int refs;
    int done;
    pthread_cond_t cv; /* its waiters: done, or due */
    char *body;
    wire_job wire; /* the decoded descriptor (steps point into body) */
    wk_step *steps;
    size_t nsteps;
    uint64_t read_total;
    char pre_code[32]; /* a fault found while parsing: the job fails in its turn without running */
    int binary;        /* its descriptor came in the binary form: so does its result (wire_job.h) */
    char pre_msg[512];
    long pre_step;
    int64_t queued_ns, started_ns, ended_ns;
    char *res_base, *res;
    size_t res_len;
    struct wk_job *next;
};

/* Why a job got no result of its own to answer with. */
typedef struct wk_refusal {
    uint64_t seq;
    const char *code; /* NULL: not refused */
    const char *hint;
    char msg[200];
} wk_refusal;

/* worker_job_codec.c */
void wk_job_free(wk_job *j);              /* whatever its references */
void wk_job_put(lp_worker *w, wk_job *j); /* drops a reference (takes job_mu); frees it with the last */
wk_job *wk_job_parse_new(char *body, size_t len, int64_t now, const char **code, char *msg, size_t ms);
size_t wk_job_result_json(const lp_worker *w, char *out, size_t cap, uint64_t seq, const char *status,
                          const char *error, long step, int64_t queued_ns, int64_t started_ns,
                          int64_t ended_ns, int restarting, const int64_t *events, size_t nevents,
                          const uint64_t *output, int binary);
char *wk_refusal_record(const lp_worker *w, const wk_refusal *why, size_t *len);
size_t wk_batch_frame(const char *buf, size_t len, const char **code, const char **hint, char *msg,
                      size_t ms);
int wk_batch_jobs_decode(const char *buf, size_t k, int64_t now, wk_job **jobs, const char **code_out,
                         char *out, size_t outsz);
/* worker_job_run.c: runs j (its turn has come; not under job_mu) and leaves its result in j->res,
 * res_len (res NULL when out of memory); frees its body. */
void wk_job_execute(lp_worker *w, wk_jobq *q, wk_job *j);
/* worker_job_queue.c */
void wk_jobs_submit(wk_jobq *q, wk_job **jobs, wk_refusal *why, size_t n);

#endif
