/* dataplane.h — the client side of the data plane (docs/dataplane.md): the lease's workers and
 * their HTTP transport (dp_http.c), modules and buffers (dataplane.c), and jobs and tasks (the job
 * transport: dp_submit.c, dp_task.c, dp_result.c, dp_http_jobs.c, dp_stream_jobs.c, dp_drive.c,
 * which share dp_jobs_internal.h; its design is dp_drive.c's first comment). Internal to liblepton.
 *
 * Locking: `lc_dp.lock` guards the lease's lists of modules and buffers and the job queues (the
 * pools of curl handles have their own locks, lp_http_pool); it is never held during network I/O
 * or a log call. A task has its own
 * mutex and condition variable, so waiting on one task never contends with submitting others. */
#ifndef LEPTON_CLIENT_DATAPLANE_H
#define LEPTON_CLIENT_DATAPLANE_H

#include <curl/curl.h>
#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "buf.h"
#include "httpc.h"
#include "lc_raw.h"
#include "lepton/lepton.h"
#include "wire_job.h"

/* The header naming a handle's job session (lepton_lease.session) when it is not 0. */
#define LC_SESSION_HEADER "Lepton-Job-Session"

#define LC_DP_SPIN_US 50              /* default of LEPTON_DP_SPIN_US */
#define LC_DP_CORK_US 50              /* default of LEPTON_DP_CORK_US */
#define LC_DP_CONNS 8                 /* connections (requests on the wire) per worker */
#define LC_DP_BATCH_JOBS 64           /* jobs in one batched request (≤ WIRE_JOB_MAX_BATCH) */
#define LC_DP_BATCH_JOB (64u << 10)   /* a job sending or reading more than this goes alone */
#define LC_DP_BATCH_BYTES (1u << 20)  /* bytes of one batched request */
#define LC_DP_BATCH_AFTER 2           /* requests of small jobs on the wire per worker */
#define LC_DP_MAX_JSON LP_CAP_DP_JSON /* a JSON answer larger than this is malformed (buf.h) */
#define LC_DP_MAX_MODULE (64u << 20)  /* docs/dataplane.md: images up to 64 MiB */
/* The job contract's limits (steps, arguments, value bytes, descriptor) live in wire_job.h, shared
 * with the worker; these two names stay for the module answer's parameter lists (dataplane.c). */
#define LC_DP_MAX_ARGS WIRE_JOB_MAX_ARGS   /* parameters of one kernel */
#define LC_DP_MAX_VALUE WIRE_JOB_MAX_VALUE /* bytes of one kernel parameter */

struct lc_image;
struct lc_stream;
struct lc_sop;

/* A request sent on a worker's stream and awaiting its answer: a job (task) or a buffer read or
 * write (op). */
typedef struct lc_sent {
    struct lc_sent *next;
    uint8_t kind; /* WS_JOB, WS_WRITE, WS_READ */
    uint32_t tag;
    uint64_t bytes; /* counted in the stream's inflight */
    struct lepton_task *task;
    struct lc_sop *op;
} lc_sent;

/* A worker's stream (docs/dataplane.md "The stream"): the connection and the requests awaiting
 * answers belong to the holder of the lease's driver role (dp_drive.c); `ops` is guarded by
 * lc_dp.lock. */
typedef struct lc_wstream {
    struct lc_stream *conn; /* NULL while down */
    int64_t retry_ns;       /* not opened again before this */
    int64_t backoff_ms;
    lc_sent *head, *tail; /* sent, in order; answers come in this order */
    uint64_t inflight;    /* request bytes awaiting answers (jobs taken to be sent included) */
    lc_sent *sending;     /* the request whose frame is being written */
    int64_t rx_ns;        /* when answer bytes last came (or the FIFO last became non-empty) */
    uint32_t next_tag;
    /* The answer being read. */
    unsigned char hdr[16];
    size_t hdr_got;
    uint64_t left; /* payload bytes of the current answer still to come */
    int in_payload;
    uint16_t status;
    unsigned char *rbuf; /* received, not yet taken */
    size_t rpos, rlen;
    struct lc_sop *ops, *ops_tail; /* buffer reads and writes waiting to be sent (lc_dp.lock) */
} lc_wstream;

/* One worker: the lease worker of one GPU of the lease. */
typedef struct lc_worker {
    char *url;       /* "http://host:port", no trailing slash */
    char *jobs_url;  /* url + "/v1/jobs" */
    char *batch_url; /* url + "/v1/jobs/batch" */
    atomic_int up;   /* it has answered at least once: a refusal now means it failed */
    /* Job queue, guarded by lc_dp.lock. */
    uint64_t next_seq;               /* the last seq handed out */
    struct lepton_task *head, *tail; /* queued, not yet on the wire, in seq order */
    int in_flight;                   /* on the wire */
    int64_t retry_at_ns;             /* no new job is sent before this (worker starting) */
    int64_t progress_ns;             /* when a job result last came from it (the driver role's) */
    int64_t queue_full_ns;           /* when it last answered 503 queue_full (the driver role's) */
    int64_t backoff_ms;
    lp_http_pool idle; /* blocking-call handles with a connection to this worker */
    lc_wstream st;     /* the stream (dp_stream_jobs.c, dp_stream.c) */
} lc_worker;

/* The data-plane state of a lease; created with the lease, freed by its close. */
typedef struct lc_dp {
    struct lepton_lease *lease;
    const char *fn_none; /* why there is no data plane (NULL when there is one) */
    int32_t timeout_ms;  /* the client's request timeout */
    uint32_t nworkers;   /* = the lease's gpu_count when there is a data plane, else 0 */
    lc_worker *workers;
    struct curl_slist *json_headers, *raw_headers; /* Authorization + Content-Type + Expect: */
    struct curl_slist *expect_headers; /* the same as raw_headers with "Expect: 100-continue" (large jobs) */
    pthread_mutex_t lock;
    struct lc_image *images;       /* modules loaded on the lease (shared by handles) */
    struct lepton_module *modules; /* open handles, doubly linked */
    struct lepton_buffer *buffers; /* open handles, doubly linked */
    /* Job transport: created by the first lepton_submit. The multi handle is used by one thread
     * at a time, the holder of the driver role (`driver`): a submitting or waiting thread when
     * the role is free (the fast path: no thread hop), else the lease's I/O thread. */
    CURLM *multi;
    int wake[2]; /* a pipe: a byte wakes the role's holder from its wait (with the multi handle) */
    pthread_t io;
    int io_started;
    int stopping;               /* lease close: no new jobs; the I/O thread ends */
    unsigned pending;           /* jobs queued or on the wire, all workers */
    lp_http_pool job_idle;      /* job handles not in use */
    struct lepton_task *active; /* jobs on the wire (the driver's) */
    int driver;                 /* who holds the driver role (LC_ROLE_*) */
    pthread_cond_t io_cv;       /* wakes the I/O thread */
    pthread_cond_t role_cv;     /* the role was released */
    int io_parked;              /* the I/O thread waits for a signal */
    int handoff;                /* jobs left and someone waits: the I/O thread takes over now */
    int want_role;              /* callers waiting for the I/O thread to give the role back */
    atomic_int sleepers;        /* waiters asleep on a task of this lease (not driving) */
    int ended;                  /* the broker said the lease has ended (cached) */
    int ended_status;           /* LEPTON_EEXPIRED, or LEPTON_ENODELOST when it failed */
    char ended_why[160];
    int64_t undriven_since; /* jobs pending and nobody driving, since (I/O thread's view) */
    int64_t corked_since;   /* a job was corked (LEPTON_DP_CORK) and no drive has taken it yet, since */
    int stream_off;         /* LEPTON_DP_STREAM=0: HTTP only */
    int64_t spin_ns;        /* LEPTON_DP_SPIN_US: a wait for a stream's answer polls this long first */
    int cork;               /* LEPTON_DP_CORK (default 1): a job submitted behind answers awaited on
                               its stream waits for the next drive, to share its write */
    int64_t cork_ns;        /* LEPTON_DP_CORK_US (default 50): corked jobs nobody drives are sent by the
                               I/O thread this long after the first */
    lc_gpu_facts **facts;   /* [nworkers] GET /v1/info's device facts, fetched once (lc_raw.c; lock) */
} lc_dp;

enum { LC_ROLE_NONE, LC_ROLE_IO, LC_ROLE_CALLER, LC_ROLE_CLOSE };

/* A kernel of a module, from the worker's module answer: its parameter list (offsets and sizes)
 * and attributes; the remote driver reads it as it is (lc_raw_module_functions). */
typedef lc_raw_function lc_function;

/* A module image loaded on every GPU of the lease; shared by the handles that loaded it. */
typedef struct lc_image {
    struct lc_image *next;
    char sha[65];
    int refs;
    size_t nfunctions;
    lc_function *functions;
} lc_image;

struct lepton_module {
    struct lepton_lease *lease;
    lc_image *image;
    struct lepton_module *prev, *next;
};

struct lepton_buffer {
    struct lepton_lease *lease;
    uint32_t gpu;
    uint64_t id;
    uint64_t size;
    uint64_t address; /* its first byte's device address on the worker (0 if the worker did not say) */
    struct lepton_buffer *prev, *next;
};

/* One host-memory segment of a job: a WRITE's source or a READ's destination. */
typedef struct lc_seg {
    char *host;
    size_t size;
} lc_seg;

struct lepton_task {
    atomic_int refs; /* the caller's handle + the transport's while the job is queued or on the wire */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    /* Guarded by mu. */
    int32_t state, status;
    int64_t queued_ns, started_ns, ended_ns;
    char error[256];
    int32_t timeout_ms;           /* the client's timeout (lepton_wait's negative timeout) */
    struct curl_slist seq_header; /* "Lepton-Job-Seq: N" ahead of the lease's headers (not copied) */
    char seq_line[48];

    /* Transport state: guarded by lc_dp.lock while queued, then the I/O thread's alone. */
    struct lepton_task *next, *prev;
    lc_dp *dp;
    uint32_t worker;
    uint64_t seq;
    int64_t deadline_ns; /* a worker that is still starting is retried until then */
    lp_http_conn *easy;
    /* The request: head (u32 + descriptor, the binary form) then the WRITE segments. */
    char *head;
    size_t head_len;
    lp_buf http_head; /* the head in the JSON form, made when the job first goes over HTTP (a worker
                         that predates the stream reads JSON only; wire_job_json_of) */
    uint32_t nwrite, nread;
    lc_seg *segs; /* nwrite WRITE segments, then nread READ segments */
    uint64_t body_len;
    size_t sent_seg, sent_off; /* read position: segment (0 = head) and offset */
    /* The answer. */
    int json_answer; /* a plain JSON answer (error body), not a framed result */
    unsigned char len_bytes[4];
    size_t len_got;
    uint32_t result_len;
    lp_buf result;             /* the framed result's JSON, or a JSON answer */
    size_t recv_seg, recv_off; /* READ data position */
    uint64_t read_got, read_total;
    int bad_answer; /* the callback stopped the transfer: see `error` */
    char bad_text[160];
    /* Batching: queued small jobs of one worker travel in one request when that worker has
     * requests on the wire already. The first task of a batch (its head) holds the curl handle,
     * the request body and the framing state; the others hang off batch_next. */
    struct lepton_task *batch_next;
    uint32_t batch_n;        /* head: jobs in the batch (0 or 1 = a single job) */
    char *batch_body;        /* head: the request body (records of u32 length + job body) */
    struct lepton_task *rcv; /* head: the task whose result record is arriving */
    unsigned char rec_bytes[4];
    size_t rec_got;    /* head: bytes of the current record's length prefix */
    uint64_t rec_left; /* head: bytes of the current record still to come */
    int rec_complete;  /* this task's result record arrived whole */
    int64_t sent_ns;   /* head: when its request was started */
    int first_in_line; /* head: nothing before it on its GPU was unfinished when it was sent */
    /* The stream: the job's place among the requests awaiting answers, its frame's fixed part
     * (header + seq), and whether it goes over HTTP from now on (after trouble on the stream). */
    lc_sent sent;
    unsigned char frame[24];
    int no_stream;
    /* Jobs of lc_raw_submit: their error text starts with the worker's (a CUDA error's name
     * first); the step at fault and the EVENT steps' clock readings are kept (under mu). */
    int raw;
    long step;
    size_t nevents;
    int64_t *events;    /* room for WIRE_JOB_MAX_EVENTS in the task's allocation (raw jobs), else NULL */
    int64_t instance;   /* the instance of the worker that ran it (0: not said) */
    uint64_t output[2]; /* device output bytes its worker held for the session when it ended, on
                           stdout and stderr (0: none) */
};

/* A condition variable whose timed waits use CLOCK_MONOTONIC. */
static inline void lc_cond_init_mono(pthread_cond_t *cv) {
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(cv, &ca);
    pthread_condattr_destroy(&ca);
}

/* An absolute CLOCK_MONOTONIC time `ns` as a timespec. */
static inline struct timespec lc_timespec(int64_t ns) {
    struct timespec ts = {(time_t)(ns / 1000000000), (long)(ns % 1000000000)};
    return ts;
}

/* ---- dp_http.c ---- */

/* Builds the lease's data-plane state from its broker JSON (lease object). Never fails for
 * a missing or unusable data_plane (dp->fn_none then says why and calls fail later); NULL only
 * when out of memory. */
lc_dp *lc_dp_new(struct lepton_lease *l, const json_t *lease);
/* Ends the lease's data plane: cancels queued jobs, fails those on the wire with
 * LEPTON_EEXPIRED, stops the I/O thread and frees every module and buffer handle. */
void lc_dp_shutdown(lc_dp *dp);
/* Frees what lc_dp_new made (after lc_dp_shutdown). */
void lc_dp_free(lc_dp *dp);
/* LEPTON_OK when the lease has a data plane, else a failure naming `fn`. */
int lc_dp_usable(lc_dp *dp, const char *fn);
/* LEPTON_OK, or the failure of a lease already known to have ended (the broker said so to a call
 * of this process): its data plane is not asked again. */
int lc_dp_check_ended(lc_dp *dp, const char *fn);
/* Records that the broker reported the lease ended (state LEPTON_LEASE_CLOSED..FAILED, reason). */
void lc_dp_note_ended(lc_dp *dp, int state, const char *why);

/* A blocking request to one worker. */
typedef struct lc_xfer {
    uint32_t worker;
    const char *method; /* GET, PUT, POST, DELETE */
    char path[1280];    /* a kernel or global's name may be long (WIRE_JOB_MAX_FUNCTION) */
    int raw;            /* the body is application/octet-stream (bulk: progress deadline) */
    const char *body;   /* request body, or NULL */
    size_t body_len, body_off;
    char *sink; /* a 2xx answer's body goes here (exactly sink_len bytes), or NULL */
    size_t sink_len, sink_got;
    lp_buf answer; /* the answer otherwise (JSON), owned; freed by lc_xfer_done */
    long http;     /* HTTP status; 0 = no answer */
    CURLcode cc;
    int overflow, oom;
    lp_http_conn *easy;
} lc_xfer;

/* Runs the transfers at once (in parallel when n > 1) and retries those whose worker is still
 * starting (refused before it ever answered, or 503 worker_starting), restarting (503
 * worker_restarting, then refused until the fresh one is up) or full (503 queue_full) with a
 * short back-off up to the client's timeout. Each transfer's outcome is left in it; check it with
 * lc_xfer_status. */
void lc_dp_run(lc_dp *dp, lc_xfer *x, size_t n);
/* The status of a finished transfer: LEPTON_OK for 2xx (and `ok_also`, e.g. 404, if not 0), else
 * the mapped failure with a message "fn: what: …" as the last error. */
int lc_xfer_status(lc_dp *dp, const char *fn, const char *what, lc_xfer *x, long ok_also);
void lc_xfer_done(lc_xfer *x);

/* What a 503 of a worker asks for: send the request again after a back-off (lc_dp_error_text). */
#define LC_RETRY_STARTING 1   /* 503 worker_starting: the worker is not up yet */
#define LC_RETRY_QUEUE_FULL 2 /* 503 queue_full: too many bytes of jobs wait there */
#define LC_RETRY_RESTARTING 3 /* 503 worker_restarting: a sticky CUDA error; a fresh worker comes up */

/* Maps a worker's error answer (HTTP status + body) to a status and a message in out[n].
 * *starting is set to an LC_RETRY_* when the worker asks for the request to be sent again
 * (still starting, queue full, restarting), else 0. */
int lc_dp_error_text(long http, const char *body, size_t len, char *out, size_t n, int *starting);
/* Notes what a worker's answer says of it: it is up (answers), or it is being replaced (its next
 * refused connections are the replacement not being up yet, and are retried). */
void lc_dp_note_answer(lc_worker *w, int retry_kind);
/* 1 for a curl result that means the connection was refused or broke before an answer: retried
 * while the worker has not answered this lease yet. */
int lc_dp_conn_failure(int curl_code);

/* The status and message of a transport failure (curl code `cc`, curl's message `err`) talking
 * to worker `w`: a refusal after the worker has answered, or a connection broken mid-request,
 * is LEPTON_ENODELOST (the worker failed); an unreachable node is LEPTON_ENET. */
int lc_dp_transport_text(const lc_dp *dp, const lc_worker *w, CURLcode cc, char *out, size_t n,
                         const char *err);

/* Refines a LEPTON_ENODELOST from a worker that stopped answering: when the broker says the
 * lease has ended (TTL, cost cap, closed elsewhere; the agent then stops its workers), returns
 * LEPTON_EEXPIRED and prefixes text[n] with the reason. Asks the broker once per lease (the
 * answer is cached once the lease is over). Keeps the caller's last error. */
int lc_dp_refine_lost(lc_dp *dp, int status, char *text, size_t n);
/* 1 when the broker has been seen to end the lease (no request). */
int lc_dp_ended_cached(lc_dp *dp);
/* Asks the broker (once; the answer is cached) whether the lease has ended; 1 when it has. */
int lc_dp_lease_ended(lc_dp *dp);

/* Data-plane handles: the client's options (src/common/httpc.h) tuned for bulk transfers
 * (LP_HTTP_BULK), from `pool` (NULL: a fresh handle, e.g. for a stream connection). */
lp_http_conn *lc_easy_take(lc_dp *dp, lp_http_pool *pool);
void lc_easy_give(lp_http_pool *pool, lp_http_conn *e);

/* ---- dp_stream.c: one stream connection (used by the driver role's holder only) ---- */

typedef struct lc_stream lc_stream;
/* Connects to worker `worker` and upgrades to the stream. NULL on failure, with why[n] and *http
 * the status of a refused upgrade (0 when there was no HTTP answer). */
lc_stream *lc_stream_open(lc_dp *dp, uint32_t worker, char *why, size_t n, int *http);
void lc_stream_close(lc_stream *s);
int lc_stream_fd(const lc_stream *s);
/* Up to n received bytes without blocking: > 0 bytes, 0 none yet, -1 the connection ended. */
ssize_t lc_stream_recv(lc_stream *s, void *p, size_t n);
/* Sends every byte of iov (modified); while the socket is full, calls pump(user) when answers
 * are readable (a non-zero return ends the send as failed). 0, or -1 when the connection broke or
 * made no progress for idle_ns. */
struct iovec;
int lc_stream_send(lc_stream *s, struct iovec *iov, int n, int (*pump)(void *), void *user, int64_t idle_ns);

/* ---- dp_stream_jobs.c ---- */

/* Runs a buffer write (WS_WRITE, from p) or read (WS_READ, into p) on the worker's stream when it
 * is up. Returns 1 with x's outcome filled in (http, answer, sink_got; cc CURLE_OK), or 0 when the
 * caller must use HTTP (stream off or down, or trouble on it: the HTTP path then applies its
 * retry rules). */
int lc_stream_xfer(lc_dp *dp, lc_xfer *x, int kind, uint64_t buffer, uint64_t offset, void *p, size_t size);

/* ---- dp_drive.c ---- */

/* Called by lc_dp_shutdown: ends the job transport of the lease. */
void lc_jobs_shutdown(lc_dp *dp);

/* ---- dp_submit.c ---- */

/* LEPTON_OK when jobs can be submitted to GPU `gpu` of l, else fn's failure (no data plane, a GPU
 * the lease does not have). */
int lc_job_target(const char *fn, const lepton_lease *l, uint32_t gpu);
/* Fills the job's host segments: nwrite WRITE sources then nread READ destinations, in step order. */
typedef void (*lc_seg_fill)(lc_seg *segs, const void *ctx);
/* Submits a job encoded and finished in d (consumed whatever the outcome) to GPU `gpu` of l
 * (lc_job_target checked): numbers it, queues it and sends it as lepton_submit does. `raw`: a job
 * of lc_raw_submit (its events and step are kept). */
int lc_job_enqueue(const char *fn, lepton_lease *l, uint32_t gpu, wire_job_enc *d, lc_seg_fill fill,
                   const void *ctx, int raw, lepton_task **out);

/* ---- dataplane.c ---- */

/* Frees the image table and the cached GPU facts (no network). */
void lc_images_free(lc_dp *dp);
/* A new handle of buffer {"buffer": ID, "address": A, "size": N} (the worker's answer to `what`)
 * on GPU `gpu` of l, listed with the lease's buffers; `size` 0: the answer's. */
int lc_buffer_from_answer(const char *fn, const char *what, struct lepton_lease *l, uint32_t gpu,
                          const lp_buf *answer, uint64_t size, lepton_buffer **out);
/* Looks up a kernel of a module; NULL when the module has no such function. */
const lc_function *lc_module_function(const lepton_module *m, const char *name);

#endif
