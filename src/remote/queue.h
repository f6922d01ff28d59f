/* queue.h — the remote driver's per-device work queue (issue 12, "the wire done right").
 *
 * Asynchronous CUDA calls (launches, async copies, memsets, event records, host functions) cost no
 * round trip: they become steps appended to one queue per device in program order (all streams
 * serialised, which is a legal CUDA schedule). A synchronising call submits what is queued as one
 * job and waits for every job submitted before it. The queue also submits by itself, without
 * waiting, when it reaches a bound (RQ_MAX_STEPS steps, RQ_MAX_EVENTS events or RQ_MAX_WRITE_BYTES
 * of queued bytes): liblepton pipelines jobs, and an error of such a job surfaces at the next
 * synchronisation. In forward mode every call is submitted and waited at once (the benchmark's
 * one-round-trip-per-call comparison).
 *
 * The queue talks to the lease through an rq_transport (transport.c encodes the steps on the wire
 * codec and submits them with lc_raw_submit); tests give it a fake. Thread safety: every rq_* call
 * takes the queue's mutex; host functions run after it is released. */
#ifndef LEPTON_REMOTE_QUEUE_H
#define LEPTON_REMOTE_QUEUE_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#define RQ_MAX_STEPS 1024
#define RQ_MAX_EVENTS 32
#define RQ_MAX_WRITE_BYTES (16u << 20)
/* Bytes read back by the queued steps: under the wire's WIRE_JOB_MAX_READ by a wide margin. */
#define RQ_MAX_READ_BYTES (16u << 20)
/* Estimated bytes of the job's JSON descriptor (launch arguments travel base64-encoded in it): well
 * under the wire's WIRE_JOB_MAX_DESCRIPTOR (4 MiB), so 1024 launches with large parameter lists
 * still make a job the worker takes. */
#define RQ_MAX_DESC_BYTES (2u << 20)
/* A queued write or read larger than this is split into steps of this size (so one job stays far
 * below the wire's body limit whatever the caller copies). */
#define RQ_PIECE (16u << 20)
/* What one job's result can report (WIRE_JOB_MAX_EVENTS). */
#define RQ_RESULT_EVENTS 64

/* Results are CUresult values (0 = CUDA_SUCCESS); these two are the driver's own codes. */
#define RQ_OK 0
#define RQ_NOT_READY 600         /* CUDA_ERROR_NOT_READY */
#define RQ_INVALID_VALUE 1       /* CUDA_ERROR_INVALID_VALUE */
#define RQ_OUT_OF_MEMORY 2       /* CUDA_ERROR_OUT_OF_MEMORY */
#define RQ_LAUNCH_FAILED 719     /* CUDA_ERROR_LAUNCH_FAILED */
#define RQ_DEVICE_UNAVAILABLE 46 /* CUDA_ERROR_DEVICE_UNAVAILABLE */

enum rq_kind { RQ_WRITE = 1, RQ_READ, RQ_LAUNCH, RQ_MEMSET, RQ_COPY, RQ_EVENT };

/* A kernel launch with its parameters as raw bytes (each a by-value wire argument). */
typedef struct rq_launch {
    char sha[65];   /* the module's content hash */
    char *function; /* owned */
    uint32_t grid[3], block[3], shared, max_dynamic_shared;
    uint32_t nargs;
    uint32_t *sizes;     /* [nargs], owned */
    unsigned char *data; /* the arguments' bytes back to back, owned */
} rq_launch;

void rq_launch_free(rq_launch *l);

typedef struct rq_event rq_event;

typedef struct rq_step {
    int kind;                /* enum rq_kind */
    uint64_t buffer, offset; /* write/read/memset/copy: the (destination) buffer id and offset */
    uint64_t size;           /* write/read: bytes; copy: bytes per row */
    void *host;              /* write: the source; read: the destination */
    int host_owned;          /* write: host is the queue's copy of pageable memory (freed with the step) */
    uint32_t width, value;   /* memset */
    uint64_t count, pitch, height;              /* memset; copy uses pitch (destination) and height */
    uint64_t src_buffer, src_offset, src_pitch; /* copy */
    rq_launch *launch;                          /* launch: owned */
    rq_event *event;                            /* event: referenced (rq_event_ref) */
} rq_step;

/* What a job came to. */
typedef struct rq_result {
    int status; /* CUresult */
    int lost;   /* the lease or its worker is gone: nothing more can run */
    size_t nevents;
    int64_t events[RQ_RESULT_EVENTS]; /* the worker's clock (ns) at each event step, in order */
    char msg[256];                    /* why it failed */
} rq_result;

#define RQ_RUNNING (-1)
#define RQ_WAIT_FOREVER (-1)

typedef struct rq_transport {
    void *ctx;
    /* Submits steps[n] (n >= 1) as one job. 0 and *ticket, or -1 with r filled (status, lost, msg).
     * The steps (and their host bytes) stay valid until release. */
    int (*submit)(void *ctx, const rq_step *steps, size_t n, void **ticket, rq_result *r);
    /* Waits up to timeout_ms (0 = poll, RQ_WAIT_FOREVER = until it ends or the lease is lost) for
     * a job. RQ_RUNNING, or 0 with r filled. */
    int (*wait)(void *ctx, void *ticket, int timeout_ms, rq_result *r);
    void (*release)(void *ctx, void *ticket);
} rq_transport;

/* A CUDA event: the worker's clock at the event step of its latest record. */
enum { RQ_EV_NONE, RQ_EV_QUEUED, RQ_EV_SUBMITTED, RQ_EV_DONE, RQ_EV_FAILED };
struct rq_event {
    int refs;               /* the handle's + one per step or job holding it; guarded by g_rq_event_mu */
    unsigned flags;         /* CU_EVENT_* as created */
    uint64_t seq;           /* records so far */
    int state;              /* RQ_EV_* of the latest record */
    int64_t ns;             /* when state is RQ_EV_DONE */
    struct rq_queue *queue; /* where it was last recorded */
    struct rq_job *job;     /* the submitted job holding the latest record (state SUBMITTED) */
};

rq_event *rq_event_new(unsigned flags);
/* Drops the handle's reference; the event lives on while a queued step or job holds it. */
void rq_event_release(rq_event *ev);

typedef void (*rq_host_fn)(void *user, int status);

typedef struct rq_cb {
    rq_host_fn fn;
    void *user;
} rq_cb;

typedef struct rq_job rq_job;

typedef struct rq_queue {
    pthread_mutex_t mu;
    rq_transport tr;
    int forward;
    /* the steps not yet submitted */
    rq_step *steps;
    size_t nsteps, cap;
    size_t nevents;
    uint64_t write_bytes, read_bytes;
    uint64_t desc_bytes; /* estimated descriptor bytes of the queued steps */
    rq_cb *cbs;          /* host functions after the queued steps */
    size_t ncbs, cbcap;
    /* jobs submitted and not yet waited for, oldest first */
    rq_job *head, *tail;
    int error; /* the first failure not yet reported by a synchronising call */
    char error_msg[256];
    int lost;   /* sticky: the lease or its worker is gone */
    int sticky; /* a sticky CUDA error (the context is corrupt): every later call returns it */
} rq_queue;

/* RQ_OK while the device can take work; else what every call returns now: a sticky CUDA error
 * (an illegal address, ...: the context is corrupt, as on a local GPU), or RQ_DEVICE_UNAVAILABLE
 * once the lease is lost. */
int rq_dead(rq_queue *q);
/* Whether a CUDA error leaves the context unusable (cuda.h's "sticky" errors). */
int rq_error_is_sticky(int status);

void rq_init(rq_queue *q, const rq_transport *tr, int forward);
/* Submits what is queued and waits for all of it at most timeout_ms in all, then frees every
 * job (ones still running are released: liblepton finishes or cancels them). 0, or -1 when another
 * thread held the queue for all of timeout_ms (a call still waiting while the process exits): the
 * queue is then left as it is. */
int rq_destroy(rq_queue *q, int timeout_ms);

/* Enqueueing: RQ_OK, RQ_DEVICE_UNAVAILABLE once the lease is lost, RQ_OUT_OF_MEMORY. */
/* host -> buffer. pinned: host stays valid until the queue has run it (cuMemHostAlloc'd memory,
 * or a blocking call that synchronises before it returns): referenced; else copied now. */
int rq_write(rq_queue *q, uint64_t buffer, uint64_t offset, const void *host, uint64_t size, int pinned);
/* buffer -> host; host must stay valid until the queue has run it. */
int rq_read(rq_queue *q, uint64_t buffer, uint64_t offset, void *host, uint64_t size);
int rq_memset(rq_queue *q, uint64_t buffer, uint64_t offset, uint32_t width, uint32_t value, uint64_t count,
              uint64_t pitch, uint64_t height);
int rq_copy(rq_queue *q, uint64_t dst, uint64_t dst_off, uint64_t src, uint64_t src_off, uint64_t size,
            uint64_t dst_pitch, uint64_t src_pitch, uint64_t height);
/* Takes l (freed on failure too). */
int rq_launch_add(rq_queue *q, rq_launch *l);
int rq_event_record(rq_queue *q, rq_event *ev);
/* fn(user, status) runs once the steps queued before it have completed, at the next
 * synchronisation, with CUDA_SUCCESS or the error they failed with. */
int rq_host_fn_add(rq_queue *q, rq_host_fn fn, void *user);

/* Submits what is queued without waiting. */
int rq_flush(rq_queue *q);
/* Submits what is queued and waits for everything: the first error since the last
 * synchronisation (RQ_LAUNCH_FAILED when the lease was lost meanwhile, RQ_DEVICE_UNAVAILABLE
 * after), else RQ_OK. */
int rq_sync(rq_queue *q);
/* Submits what is queued; RQ_NOT_READY while a job runs, else what rq_sync would return. */
int rq_query(rq_queue *q);
/* The event's latest record: wait for / poll it (RQ_OK when it was never recorded). */
int rq_event_sync(rq_event *ev);
int rq_event_query(rq_event *ev);
/* Milliseconds between two completed records; RQ_NOT_READY while one is pending,
 * RQ_INVALID_VALUE when one was never recorded. */
int rq_event_elapsed(rq_event *start, rq_event *end, float *ms);
/* The message of the last failure the queue reported (for the debug log). */
const char *rq_last_message(rq_queue *q);

/* Counters for LEPTON_REMOTE_STATS=1. */
typedef struct rq_stats {
    uint64_t round_trips, jobs, steps, bytes_up, bytes_down;
} rq_stats;
void rq_stats_get(rq_stats *out);
/* A blocking call outside the queue (allocation, bulk copy, module load): one round trip. */
void rq_stats_round_trip(uint64_t up, uint64_t down);

#endif
