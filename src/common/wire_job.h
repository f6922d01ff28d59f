/* wire_job.h — the one owner of the job contract of the data plane (docs/dataplane.md "Jobs"):
 * every limit of a job, the descriptor codec (encoded by liblepton, decoded by the lease worker)
 * and the result codec (encoded by the worker, decoded by liblepton). Both ends link this module,
 * so a job the client accepts is a job the worker accepts, and a refusal reads the same on both.
 *
 * Wire format: job body = u32 LE n + n bytes of descriptor + the WRITE steps' bytes; result = u32
 * LE n + n bytes of result + the READ steps' bytes. A descriptor and a result each come in two
 * forms (docs/dataplane.md "Jobs"): JSON, for people and curl, and a binary form that liblepton
 * sends (no text to parse on the hot path), which starts with a magic that JSON cannot start with
 * (a NUL byte). The worker reads both and answers a job in the form it came in; liblepton reads
 * both.
 *
 * Thread safety: no shared state; every call works on the caller's structs only. */
#ifndef LEPTON_COMMON_WIRE_JOB_H
#define LEPTON_COMMON_WIRE_JOB_H

#include <stddef.h>
#include <stdint.h>

/* The u32 LE length prefixes of the job wire: a job body's descriptor, a result's JSON, a batch's
 * records. p holds at least 4 bytes (the caller checked). */
static inline uint32_t wire_get_le32(const void *p) {
    const unsigned char *u = p;
    // NOLINTBEGIN(clang-analyzer-core.UndefinedBinaryOperatorResult)
    return (uint32_t)u[0] | (uint32_t)u[1] << 8 | (uint32_t)u[2] << 16 | (uint32_t)u[3] << 24;
    // NOLINTEND(clang-analyzer-core.UndefinedBinaryOperatorResult)
}
static inline void wire_put_le32(void *p, uint32_t v) {
    unsigned char *u = p;
    for (int i = 0; i < 4; i++)
        u[i] = (unsigned char)(v >> (8 * i));
}
/* The u64 LE fields: a binary descriptor's seq, a binary result's numbers (and the stream's frame
 * header, wire_stream.h). */
static inline uint64_t wire_get_le64(const void *p) {
    const unsigned char *u = p;
    return (uint64_t)wire_get_le32(u) | (uint64_t)wire_get_le32(u + 4) << 32;
}
static inline void wire_put_le64(void *p, uint64_t v) {
    unsigned char *u = p;
    wire_put_le32(u, (uint32_t)v);
    wire_put_le32(u + 4, (uint32_t)(v >> 32));
}

/* The binary forms' first 4 bytes (a NUL byte is never valid JSON). */
#define WIRE_JOB_BIN_MAGIC "\0LJ1"
#define WIRE_JOB_RES_MAGIC "\0LR1"

/* ---- the limits (docs/dataplane.md "Jobs" lists them with the same reasons) ---- */

/* Steps of one job. The worker holds a decoded step per step until the job has run, and a job is
 * run by one request thread from start to end; longer sequences are several jobs, which pipeline. */
#define WIRE_JOB_MAX_STEPS 4096
/* Arguments of one launch. The worker keeps a launch's argument pointers on its stack; real
 * kernels take a few dozen at most. */
#define WIRE_JOB_MAX_ARGS 256
/* Bytes of one by-value argument: CUDA's kernel parameter space is 32,764 bytes from CUDA 12.1 on
 * sm_70 and newer (4,096 before); no single parameter can be larger on any GPU. Whether a
 * kernel's parameter has that size is checked against its parameter list, on both ends. */
#define WIRE_JOB_MAX_VALUE 32764
/* Bytes of a kernel's name (the worker keeps it in a fixed field; mangled C++ names fit). */
#define WIRE_JOB_MAX_FUNCTION 1023
/* Each of grid[3], block[3] (0 means 1) and the dynamic shared memory: CUDA's own bound on a grid
 * dimension (2^31 - 1); the driver refuses what a particular GPU cannot do. */
#define WIRE_JOB_MAX_DIM 0x7fffffffu
#define WIRE_JOB_MAX_SHARED 0x7fffffffu
/* Bytes of one buffer, and so of an offset or a step's size (the worker's allocation limit). */
#define WIRE_JOB_MAX_BUFFER (1ull << 42)
/* Bytes of a job's descriptor, in either form: room for WIRE_JOB_MAX_STEPS launches of ~1 KiB
 * each, or 95 maximal by-value arguments (base64 in the JSON form, which the encoder also measures,
 * so that a job it takes runs over HTTP too); it bounds what the worker parses before it can
 * refuse a job. */
#define WIRE_JOB_MAX_DESCRIPTOR (4u << 20)
/* The JSON form of a binary descriptor of n bytes is at most WIRE_JOB_JSON_GROWTH * n + WIRE_JOB_JSON_EXTRA
 * bytes: a kernel name's byte becomes at most 6 (a control character as \u00XX); every other part at most
 * ~4.1 times its binary bytes (a u64 of 8 bytes: 20 digits and its key; a memset step, the worst: 49 → 199);
 * an event step 1 → 13, at most WIRE_JOB_MAX_EVENTS of them. unit.common.wire_job checks the bound on the
 * worst case of each step kind. */
#define WIRE_JOB_JSON_GROWTH 6u
#define WIRE_JOB_JSON_EXTRA (12u * WIRE_JOB_MAX_EVENTS)
/* Bytes of one job request (length prefix + descriptor + WRITE bytes), and bytes its READ steps
 * return: the worker holds both in memory (the result also for retries); larger transfers go
 * through the buffer routes (PUT/GET /v1/buffers/ID), which stream. */
#define WIRE_JOB_MAX_BODY (256u << 20)
#define WIRE_JOB_MAX_READ (256u << 20)
/* Jobs of one POST /v1/jobs/batch (the batch's body is at most WIRE_JOB_MAX_BODY as well). */
#define WIRE_JOB_MAX_BATCH 256
/* Bytes of a result's JSON: the worker writes it into room reserved in front of the READ bytes so
 * that the answer is one buffer; the error text is cut to fit. */
#define WIRE_JOB_MAX_RESULT 4092
/* EVENT steps of one job: the result carries one clock reading per event step ("events"), and
 * 64 readings of at most 20 digits fit the result's JSON with room to spare. */
#define WIRE_JOB_MAX_EVENTS 64

/* Outcomes of the codec's checks (negative; 0 is success). */
#define WIRE_JOB_EINVAL (-1)    /* malformed, or a value out of its range → invalid_request */
#define WIRE_JOB_ETOOLARGE (-2) /* past one of the limits above → too_large */
#define WIRE_JOB_ENOMEM (-3)

/* The wire code ("invalid_request", "too_large", "out_of_memory") of an outcome above. */
const char *wire_job_code(int rc);

/* ---- encoding a descriptor (the client) ----
 * Steps are added in order; a launch's arguments follow its wire_job_enc_launch. Each call checks
 * its part against the limits and returns 0 or a WIRE_JOB_E* with e->msg saying why, naming the
 * step ("steps[3].launch.args[1]: ..."); after a failure the encoder only needs wire_job_enc_free.
 * The descriptor's seq is left 0 and patched in later with wire_job_enc_seq, so a job can be
 * encoded before its seq is known. The descriptor grows in an inline buffer first: a small job
 * costs no allocation.
 *
 * The encoder writes the binary form (all integers little-endian):
 *   "\0LJ1", u64 seq, u32 nsteps, then per step a kind byte and its fields:
 *   'w' write, 'r' read  u64 buffer, u64 offset, u64 size
 *   'l' launch           32 bytes of the module's SHA-256, u32 grid[3], u32 block[3] (0 means 1),
 *                        u32 shared, u32 max_dynamic_shared, u16 nargs, u16 name length, the name;
 *                        then nargs arguments: 'b' u64 buffer u64 offset, or 'v' u32 n + n bytes
 *   'm' memset           u64 buffer, u64 offset, u32 width, u32 value, u64 count, u64 pitch,
 *                        u64 height
 *   'c' copy             u64 buffer, u64 offset, u64 src_buffer, u64 src_offset, u64 size,
 *                        u64 pitch, u64 src_pitch, u64 height
 *   'e' event            nothing
 * Every field has the range and meaning of its JSON member; the decoder checks the same limits
 * with the same words. */
typedef struct wire_job_enc {
    char *p; /* the descriptor: p[0..len) */
    size_t len, cap;
    size_t seq_at; /* where the seq's digits go */
    size_t nsteps;
    uint32_t args_left;     /* arguments the open launch still expects */
    uint32_t nargs;         /* arguments of the open launch */
    size_t launch_opt_at;   /* where the last step, a launch with no argument given yet, takes its
                             * options (wire_job_enc_launch_opt); 0 when the last step is not one */
    size_t nevents;         /* EVENT steps so far */
    uint32_t nwrite, nread; /* WRITE and READ steps so far */
    int finished;           /* wire_job_enc_finish accepted the job */
    uint64_t write_total, read_total;
    int failed;
    char msg[256];
    char inline_buf[1024];
} wire_job_enc;

void wire_job_enc_init(wire_job_enc *e);
void wire_job_enc_free(wire_job_enc *e);
/* A WRITE (write != 0) or READ step of `size` bytes at `offset` of buffer `buffer`. */
int wire_job_enc_rw(wire_job_enc *e, int write, uint64_t buffer, uint64_t offset, uint64_t size);
/* A launch of kernel `function` of module `sha` (64 lowercase hex digits) taking `nargs`
 * arguments, which the next nargs calls of wire_job_enc_arg_* add. Dimensions of 0 mean 1. */
int wire_job_enc_launch(wire_job_enc *e, const char *sha, const char *function, const uint32_t grid[3],
                        const uint32_t block[3], uint32_t shared, size_t nargs);
int wire_job_enc_arg_buffer(wire_job_enc *e, uint64_t buffer, uint64_t offset);
int wire_job_enc_arg_value(wire_job_enc *e, const void *value, size_t size);
/* Options of the launch just added, called right after wire_job_enc_launch (before its
 * arguments): max_dynamic_shared > 0 makes the worker set the kernel's
 * CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES to it before launching (0..WIRE_JOB_MAX_SHARED). */
int wire_job_enc_launch_opt(wire_job_enc *e, uint32_t max_dynamic_shared);
/* A MEMSET step: `height` rows (0 = 1) `pitch` bytes apart (0 = count * width) from `offset` of
 * buffer `buffer`, each of `count` elements of `width` (1, 2 or 4) bytes set to the low `width`
 * bytes of `value`. A pitch smaller than a row is refused when there are several rows. */
int wire_job_enc_memset(wire_job_enc *e, uint64_t buffer, uint64_t offset, uint32_t width, uint32_t value,
                        uint64_t count, uint64_t pitch, uint64_t height);
/* A device-to-device COPY step: `height` rows (0 = 1) of `size` bytes, row r from src_off +
 * r * src_pitch of buffer `src` to dst_off + r * dst_pitch of buffer `dst` (pitches 0 = size). */
int wire_job_enc_copy(wire_job_enc *e, uint64_t dst, uint64_t dst_off, uint64_t src, uint64_t src_off,
                      uint64_t size, uint64_t dst_pitch, uint64_t src_pitch, uint64_t height);
/* An EVENT step: the worker waits for every step before it and reads its clock (CLOCK_MONOTONIC
 * ns) into the result's "events". At most WIRE_JOB_MAX_EVENTS per job. */
int wire_job_enc_event(wire_job_enc *e);
/* Closes the descriptor and checks the job as a whole (descriptor, body and READ sizes). */
int wire_job_enc_finish(wire_job_enc *e);
/* Writes seq (1..2^63-1) into a finished descriptor `desc` (e->p, or a copy of it). */
void wire_job_enc_seq(char *desc, size_t seq_at, uint64_t seq);
/* Appends the JSON form of the binary descriptor desc[0..n) (seq included) to *out: liblepton's
 * HTTP path sends it, so that a worker that predates the binary form (1.0) still reads the job.
 * 0, WIRE_JOB_EINVAL when desc is not a well-framed binary descriptor, WIRE_JOB_ENOMEM. */
struct lp_buf;
int wire_job_json_of(const char *desc, size_t n, struct lp_buf *out);

/* ---- decoding a job body (the worker) ---- */

typedef struct wire_job_arg {
    int is_buffer;
    size_t len;              /* value: its bytes */
    uint64_t buffer, offset; /* buffer argument */
    unsigned char *value;    /* value argument: len bytes (in the job's arena; mutable for cuLaunchKernel) */
} wire_job_arg;

typedef struct wire_job_step {
    char kind;                     /* 'w' write, 'l' launch, 'r' read, 'm' memset, 'c' copy, 'e' event */
    uint64_t buffer, offset, size; /* copy: the destination, and the bytes of a row */
    uint32_t width, value;         /* memset: element bytes (1, 2, 4) and the value (its low width bytes) */
    uint64_t count;                /* memset: elements per row */
    uint64_t pitch, height;        /* memset and copy: rows (>= 1) and the destination's pitch (defaults
                                    * resolved: count * width, or size) */
    uint64_t src_buffer, src_offset, src_pitch; /* copy: the source */
    uint32_t max_dynamic_shared;                /* launch: 0, or the kernel attribute to set first */
    const char *data;                           /* write: its bytes, inside the body */
    uint64_t out_off;                           /* read: where its bytes go in the result's data */
    char module[65];                            /* launch: the module's SHA-256 */
    const char *function;                       /* launch: NUL-terminated (in the job's arena) */
    uint32_t grid[3], block[3], shared;
    wire_job_arg *args;
    size_t nargs;
} wire_job_step;

typedef struct wire_job {
    uint64_t seq;
    wire_job_step *steps;
    size_t nsteps;
    size_t nevents; /* EVENT steps */
    uint64_t write_total, read_total;
    void *arena; /* steps, arguments, names and values: one allocation */
    int binary;  /* the descriptor came in the binary form (set whatever the outcome) */
} wire_job;

/* Decodes a job body of `len` bytes (it must outlive the job: WRITE steps point into it).
 * Returns:
 *   0 — a well-formed job in *j;
 *   WIRE_JOB_EINVAL / ETOOLARGE / ENOMEM with j->seq set (> 0): the job is malformed or past a
 *     limit; it fails in its turn with that code, msg saying why, *step the step at fault (-1 for
 *     the job as a whole);
 *   and the same codes with j->seq 0: the body has no usable framing or seq (refused outright).
 * Free *j with wire_job_free in every case. */
int wire_job_decode(const char *body, size_t len, wire_job *j, long *step, char *msg, size_t ms);
void wire_job_free(wire_job *j);

/* ---- the result ---- */

typedef struct wire_job_result {
    uint64_t seq;
    const char *status; /* "ok" or a wire code; decode: points into `status_buf` */
    const char *error;  /* "" when none; decode: points into `error_buf` (cut to fit) */
    long step;          /* the step at fault, -1 for none (null on the wire) */
    int64_t queued_ns, started_ns, ended_ns;
    int restarting;         /* the worker is being replaced (sticky CUDA error) */
    int64_t instance;       /* the worker process's instance (> 0; 0 = not said): drawn at random when a
                               worker starts, so a different one means the GPU's worker was replaced and
                               the device memory of the earlier one is gone ("instance" on the wire) */
    uint64_t output;        /* bytes of device output (kernels' printf) the worker holds for the job's
                               session, to fetch with GET /v1/output (0 = none; "output" on the wire,
                               omitted when 0) */
    uint64_t output_stderr; /* the same for what the GPU driver wrote on stderr (device assertions):
                               "output_stderr", GET /v1/output?stream=stderr */
    size_t nevents;         /* the clock (CLOCK_MONOTONIC ns) at each EVENT step, in step order */
    int64_t events[WIRE_JOB_MAX_EVENTS];
    int binary; /* encode: write the binary form (a job that came binary); decode: it was binary */
    char status_buf[48];
    char error_buf[512];
} wire_job_result;

/* Writes the result into out[cap], as JSON or (r->binary) in the binary form (at most
 * WIRE_JOB_MAX_RESULT is ever needed; an error text that does not fit is cut, and bytes that are
 * not UTF-8 become '?'). Returns its length, or 0 when even the shortest form does not fit.
 * The binary form (little-endian): "\0LR1", u64 seq, i64 step (-1 none), i64 queued_ns,
 * started_ns, ended_ns, instance, u64 output, output_stderr, u8 restarting, u8 nevents, u8 status
 * length, u16 error length, the status, the error (at most 511 bytes), nevents i64 clock readings. */
size_t wire_job_result_encode(const wire_job_result *r, char *out, size_t cap);
/* Decodes a result of n bytes in either form; 0, or WIRE_JOB_EINVAL with msg saying why. */
int wire_job_result_decode(const char *json, size_t n, wire_job_result *r, char *msg, size_t ms);

#endif
