/* wire_job.c — the job contract's codecs (wire_job.h): descriptors encoded in the binary form into
 * one growable buffer (a small job never allocates) and decoded, from either form (binary, or JSON
 * by a parser for its one schema), into one arena per job; results encoded into the caller's buffer
 * in the form the job came in and decoded from either. No JSON tree on either end: this is on the
 * path of every job's round trip (tests/unit/common/bench_wire_job prints the timings).
 *
 * Every limit check lives in one place per limit and is written once as a message function used by
 * both the encoder and the decoder, so a refusal reads the same on the client and on the worker.
 * No state is shared: thread-safe. */
#include "wire_job.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdint.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base64.h"
#include "buf.h"
#include "rand.h"
#include "wire.h"

const char *wire_job_code(int rc) {
    switch (rc) {
    case 0:
        return "ok";
    case WIRE_JOB_ETOOLARGE:
        return WIRE_TOO_LARGE;
    case WIRE_JOB_ENOMEM:
        return WIRE_NO_MEMORY;
    default:
        return WIRE_INVALID;
    }
}

static int say(char *msg, size_t ms, int rc, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static int say(char *msg, size_t ms, int rc, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    if (ms) vsnprintf(msg, ms, fmt, ap);
    va_end(ap);
    return rc;
}

/* ---- the limits' messages (one text per limit, both ends) ---- */

static int too_many_steps(char *msg, size_t ms) {
    return say(msg, ms, WIRE_JOB_ETOOLARGE,
               "the job has more than %d steps (WIRE_JOB_MAX_STEPS); split it into several jobs",
               WIRE_JOB_MAX_STEPS);
}

static int too_many_args(char *msg, size_t ms, size_t step, size_t n) {
    return say(msg, ms, WIRE_JOB_ETOOLARGE,
               "steps[%zu].launch: %zu arguments; a launch takes at most %d (WIRE_JOB_MAX_ARGS)", step, n,
               WIRE_JOB_MAX_ARGS);
}

static int bad_value_size(char *msg, size_t ms, size_t step, size_t k, uint64_t n) {
    if (n == 0)
        return say(msg, ms, WIRE_JOB_EINVAL,
                   "steps[%zu].launch.args[%zu]: a by-value argument has 1 to %d bytes; it has none", step, k,
                   WIRE_JOB_MAX_VALUE);
    return say(msg, ms, WIRE_JOB_ETOOLARGE,
               "steps[%zu].launch.args[%zu]: a by-value argument of %" PRIu64
               " bytes is past the limit of %d bytes (WIRE_JOB_MAX_VALUE, CUDA's kernel parameter space)",
               step, k, n, WIRE_JOB_MAX_VALUE);
}

static size_t utf8_seq(const unsigned char *s, size_t n);

/* n bytes of text the JSON form could carry: UTF-8, no NUL byte (JSON refuses \u0000). */
static int text_ok(const char *s, size_t n) {
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = 0; i < n;) {
        size_t k = u[i] == 0 ? 0 : u[i] < 0x80 ? 1 : utf8_seq(u + i, n - i);
        if (!k) return 0;
        i += k;
    }
    return 1;
}

/* Copies text in[0..n) into out[0..room), cut at a character; returns the bytes written. Valid
 * UTF-8 is kept, a NUL or any other byte becomes '?'; with json, quotes, backslashes and control
 * characters are escaped for the inside of a JSON string. */
static size_t text_copy(char *out, size_t room, const unsigned char *in, size_t n, int json) {
    static const char hex[] = "0123456789abcdef";
    size_t k = 0;
    for (size_t i = 0; i < n;) {
        unsigned char c = in[i];
        char e[6];
        const char *src = e;
        size_t el = 1, adv = 1;
        if (c == 0) {
            e[0] = '?';
        } else if (json && (c == '"' || c == '\\')) {
            e[0] = '\\', e[1] = (char)c, el = 2;
        } else if (json && c < 0x20) {
            memcpy(e, "\\u00", 4);
            e[4] = hex[c >> 4], e[5] = hex[c & 15], el = 6;
        } else if (c < 0x80) {
            e[0] = (char)c;
        } else if ((adv = utf8_seq(in + i, n - i)) != 0) {
            src = (const char *)in + i, el = adv;
        } else {
            e[0] = '?', adv = 1;
        }
        if (el > room - k) break;
        memcpy(out + k, src, el);
        k += el;
        i += adv;
    }
    return k;
}

/* A kernel name: 1..WIRE_JOB_MAX_FUNCTION bytes of text a JSON string carries (s NULL: known to
 * be text already, it came from one). */
static int name_ok(const char *s, size_t n) {
    return n && n <= WIRE_JOB_MAX_FUNCTION && (!s || text_ok(s, n));
}

/* Why a name of n bytes is not name_ok. */
static int bad_function(char *msg, size_t ms, size_t step, size_t n) {
    if (n == 0) return say(msg, ms, WIRE_JOB_EINVAL, "steps[%zu].launch.function must name a kernel", step);
    if (n > WIRE_JOB_MAX_FUNCTION)
        return say(msg, ms, WIRE_JOB_ETOOLARGE,
                   "steps[%zu].launch.function: a kernel name of %zu bytes is past the limit of %d bytes "
                   "(WIRE_JOB_MAX_FUNCTION)",
                   step, n, WIRE_JOB_MAX_FUNCTION);
    return say(msg, ms, WIRE_JOB_EINVAL, "steps[%zu].launch.function must be UTF-8 text without NUL bytes",
               step);
}

static int bad_dim(char *msg, size_t ms, size_t step, const char *field, int i, int64_t v) {
    return say(msg, ms, WIRE_JOB_EINVAL,
               "steps[%zu].launch.%s[%d] is %" PRId64 "; it must be in 0..%u (WIRE_JOB_MAX_DIM; 0 means 1)",
               step, field, i, v, WIRE_JOB_MAX_DIM);
}

/* launch.shared and launch.max_dynamic_shared (`key`): bytes of shared memory. */
static int bad_shared(char *msg, size_t ms, size_t step, const char *key, int64_t v) {
    return say(msg, ms, WIRE_JOB_EINVAL,
               "steps[%zu].launch.%s is %" PRId64 "; it must be in 0..%u (WIRE_JOB_MAX_SHARED)", step, key, v,
               WIRE_JOB_MAX_SHARED);
}

static int too_much_read(char *msg, size_t ms, size_t step) {
    return say(
        msg, ms, WIRE_JOB_ETOOLARGE,
        "steps[%zu].read: the job reads more than %u bytes (WIRE_JOB_MAX_READ); read large buffers with "
        "lepton_buffer_read (GET /v1/buffers/ID)",
        step, WIRE_JOB_MAX_READ);
}

static int too_large_body(char *msg, size_t ms, uint64_t n) {
    return say(msg, ms, WIRE_JOB_ETOOLARGE,
               "the job's request is %" PRIu64
               " bytes; the limit is %u (WIRE_JOB_MAX_BODY); write large buffers with lepton_buffer_write "
               "(PUT /v1/buffers/ID)",
               n, WIRE_JOB_MAX_BODY);
}

static int too_large_descriptor(char *msg, size_t ms, uint64_t n) {
    return say(msg, ms, WIRE_JOB_ETOOLARGE,
               "the job's descriptor is %" PRIu64 " bytes; the limit is %u (WIRE_JOB_MAX_DESCRIPTOR)", n,
               WIRE_JOB_MAX_DESCRIPTOR);
}

static int too_many_events(char *msg, size_t ms, size_t step) {
    return say(msg, ms, WIRE_JOB_ETOOLARGE,
               "steps[%zu].event: the job has more than %d event steps (WIRE_JOB_MAX_EVENTS); split it into "
               "several jobs",
               step, WIRE_JOB_MAX_EVENTS);
}

static int bad_width(char *msg, size_t ms, size_t step, uint64_t v) {
    return say(msg, ms, WIRE_JOB_EINVAL,
               "steps[%zu].memset.width is %" PRIu64 "; it must be 1, 2 or 4 (bytes)", step, v);
}

/* The rows of a memset or a copy end (`side`: "" or "src_") within WIRE_JOB_MAX_BUFFER and, when
 * there are several, do not overlap: 0, or the refusal. (Whether they fit the buffer is the
 * worker's check: only it knows the buffer's size.) */
static int bad_rows(char *msg, size_t ms, size_t step, const char *kind, const char *side, uint64_t off,
                    uint64_t row, uint64_t pitch, uint64_t height) {
    if (height > 1 && pitch < row)
        return say(msg, ms, WIRE_JOB_EINVAL,
                   "steps[%zu].%s.%spitch is %" PRIu64 "; with %" PRIu64
                   " rows it must be at least a row's %" PRIu64 " bytes",
                   step, kind, side, pitch, height, row);
    if (row > WIRE_JOB_MAX_BUFFER || (height > 1 && pitch && height - 1 > WIRE_JOB_MAX_BUFFER / pitch) ||
        off + (height - 1) * pitch + row > WIRE_JOB_MAX_BUFFER)
        return say(msg, ms, WIRE_JOB_EINVAL,
                   "steps[%zu].%s: %" PRIu64 " rows of %" PRIu64 " bytes %" PRIu64
                   " apart from %soffset %" PRIu64 " end past %llu (WIRE_JOB_MAX_BUFFER)",
                   step, kind, height, row, pitch, side, off, WIRE_JOB_MAX_BUFFER);
    return 0;
}

/* ---- encoding: the binary descriptor (wire_job.h) ---- */

static int enc_room(wire_job_enc *e, size_t n) {
    if (e->len + n <= e->cap) return 1;
    if (e->failed) return 0;
    size_t cap = e->cap * 2;
    while (cap < e->len + n)
        cap *= 2;
    char *q = e->p == e->inline_buf ? malloc(cap) : realloc(e->p, cap);
    if (!q) {
        e->failed = 1;
        say(e->msg, sizeof e->msg, WIRE_JOB_ENOMEM, "out of memory encoding the job");
        return 0;
    }
    if (e->p == e->inline_buf) memcpy(q, e->inline_buf, e->len);
    e->p = q;
    e->cap = cap;
    return 1;
}

static void enc_mem(wire_job_enc *e, const void *p, size_t n) {
    if (!enc_room(e, n)) return;
    memcpy(e->p + e->len, p, n);
    e->len += n;
}

/* The low n bytes of v, little-endian. */
static void enc_le(wire_job_enc *e, uint64_t v, int n) {
    if (!enc_room(e, (size_t)n)) return;
    unsigned char *u = (unsigned char *)e->p + e->len;
    for (int i = 0; i < n; i++)
        u[i] = (unsigned char)(v >> (8 * i));
    e->len += (size_t)n;
}

/* Writes the decimal digits of v so that they end at `end`; returns where they start (the result
 * JSON's numbers: this is the hot path, no snprintf). */
static char *digits(uint64_t v, char *end) {
    do {
        *--end = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    return end;
}

/* n u64 fields in order. */
static void enc_u64s(wire_job_enc *e, const uint64_t *v, int n) {
    for (int k = 0; k < n; k++)
        enc_le(e, v[k], 8);
}

/* Where the descriptor's u64 seq and u32 step count are. */
#define BIN_SEQ_AT 4
#define BIN_NSTEPS_AT 12
#define BIN_HEAD 16

void wire_job_enc_init(wire_job_enc *e) {
    e->p = e->inline_buf;
    e->len = 0;
    e->cap = sizeof e->inline_buf;
    e->nsteps = 0;
    e->args_left = e->nargs = 0;
    e->launch_opt_at = 0;
    e->nevents = 0;
    e->nwrite = e->nread = 0;
    e->finished = 0;
    e->write_total = e->read_total = 0;
    e->failed = 0;
    e->msg[0] = 0;
    memcpy(e->p, WIRE_JOB_BIN_MAGIC, 4);
    memset(e->p + 4, 0, BIN_HEAD - 4); /* seq and step count: filled in later */
    e->len = BIN_HEAD;
    e->seq_at = BIN_SEQ_AT;
}

void wire_job_enc_free(wire_job_enc *e) {
    if (e->p != e->inline_buf) free(e->p);
    e->p = e->inline_buf;
    e->len = 0;
}

static int enc_fail(wire_job_enc *e, int rc) {
    e->failed = 1;
    return rc;
}

/* Checks that a launch's arguments are complete, then opens step e->nsteps (its kind byte is
 * written once its fields passed their checks). */
static int enc_step(wire_job_enc *e) {
    if (e->failed) return WIRE_JOB_EINVAL;
    if (e->finished)
        return enc_fail(
            e, say(e->msg, sizeof e->msg, WIRE_JOB_EINVAL, "a step added after wire_job_enc_finish"));
    if (e->args_left)
        return enc_fail(e, say(e->msg, sizeof e->msg, WIRE_JOB_EINVAL,
                               "steps[%zu].launch: %u arguments announced, %u given", e->nsteps - 1, e->nargs,
                               e->nargs - e->args_left));
    if (e->nsteps == WIRE_JOB_MAX_STEPS) return enc_fail(e, too_many_steps(e->msg, sizeof e->msg));
    e->launch_opt_at = 0;
    e->nsteps++;
    return 0;
}

int wire_job_enc_rw(wire_job_enc *e, int write, uint64_t buffer, uint64_t offset, uint64_t size) {
    int rc = enc_step(e);
    if (rc) return rc;
    size_t i = e->nsteps - 1;
    const char *what = write ? "write" : "read";
    if (buffer > INT64_MAX || offset > WIRE_JOB_MAX_BUFFER || size > WIRE_JOB_MAX_BUFFER)
        return enc_fail(e, say(e->msg, sizeof e->msg, WIRE_JOB_EINVAL,
                               "steps[%zu].%s: buffer %" PRIu64 ", offset %" PRIu64 ", size %" PRIu64
                               ": offsets and sizes are at most %llu (WIRE_JOB_MAX_BUFFER)",
                               i, what, buffer, offset, size, WIRE_JOB_MAX_BUFFER));
    if (!write && e->read_total + size > WIRE_JOB_MAX_READ)
        return enc_fail(e, too_much_read(e->msg, sizeof e->msg, i));
    enc_le(e, write ? 'w' : 'r', 1);
    if (write) {
        e->write_total += size;
        e->nwrite++;
    } else {
        e->read_total += size;
        e->nread++;
    }
    enc_u64s(e, (const uint64_t[]){buffer, offset, size}, 3);
    return 0;
}

static uint32_t dim1(uint32_t v) { return v ? v : 1; }

static int hexval(char c) { return c >= '0' && c <= '9' ? c - '0' : c - 'a' + 10; }

int wire_job_enc_launch(wire_job_enc *e, const char *sha, const char *function, const uint32_t grid[3],
                        const uint32_t block[3], uint32_t shared, size_t nargs) {
    int rc = enc_step(e);
    if (rc) return rc;
    size_t i = e->nsteps - 1;
    if (!sha || strlen(sha) != 64 || strspn(sha, "0123456789abcdef") != 64)
        return enc_fail(
            e, say(e->msg, sizeof e->msg, WIRE_JOB_EINVAL,
                   "steps[%zu].launch.module must be the module's SHA-256 (64 lowercase hex digits)", i));
    size_t fl = function ? strlen(function) : 0;
    if (!name_ok(function, fl)) return enc_fail(e, bad_function(e->msg, sizeof e->msg, i, fl));
    for (int d = 0; d < 3; d++) {
        if (grid[d] > WIRE_JOB_MAX_DIM)
            return enc_fail(e, bad_dim(e->msg, sizeof e->msg, i, "grid", d, grid[d]));
        if (block[d] > WIRE_JOB_MAX_DIM)
            return enc_fail(e, bad_dim(e->msg, sizeof e->msg, i, "block", d, block[d]));
    }
    if (shared > WIRE_JOB_MAX_SHARED)
        return enc_fail(e, bad_shared(e->msg, sizeof e->msg, i, "shared", shared));
    if (nargs > WIRE_JOB_MAX_ARGS) return enc_fail(e, too_many_args(e->msg, sizeof e->msg, i, nargs));
    enc_le(e, 'l', 1);
    unsigned char raw[32];
    for (int k = 0; k < 32; k++)
        raw[k] = (unsigned char)(hexval(sha[2 * k]) << 4 | hexval(sha[2 * k + 1]));
    enc_mem(e, raw, sizeof raw);
    for (int d = 0; d < 3; d++)
        enc_le(e, dim1(grid[d]), 4);
    for (int d = 0; d < 3; d++)
        enc_le(e, dim1(block[d]), 4);
    enc_le(e, shared, 4);
    size_t opt_at = e->len;
    enc_le(e, 0, 4); /* max_dynamic_shared: wire_job_enc_launch_opt */
    enc_le(e, nargs, 2);
    enc_le(e, fl, 2);
    enc_mem(e, function, fl);
    if (!e->failed) e->launch_opt_at = opt_at;
    e->nargs = e->args_left = (uint32_t)nargs;
    return 0;
}

/* Checks that an argument of the open launch is due. */
static int enc_arg(wire_job_enc *e) {
    if (e->failed) return WIRE_JOB_EINVAL;
    if (!e->args_left)
        return enc_fail(e, say(e->msg, sizeof e->msg, WIRE_JOB_EINVAL,
                               "steps[%zu]: an argument that no launch announced",
                               e->nsteps ? e->nsteps - 1 : 0));
    return 0;
}

int wire_job_enc_arg_buffer(wire_job_enc *e, uint64_t buffer, uint64_t offset) {
    int rc = enc_arg(e);
    if (rc) return rc;
    if (buffer > INT64_MAX || offset > WIRE_JOB_MAX_BUFFER)
        return enc_fail(e, say(e->msg, sizeof e->msg, WIRE_JOB_EINVAL,
                               "steps[%zu].launch.args[%u]: offset %" PRIu64
                               " is past %llu (WIRE_JOB_MAX_BUFFER)",
                               e->nsteps - 1, e->nargs - e->args_left, offset, WIRE_JOB_MAX_BUFFER));
    enc_le(e, 'b', 1);
    enc_u64s(e, (const uint64_t[]){buffer, offset}, 2);
    e->launch_opt_at = 0;
    e->args_left--;
    return 0;
}

int wire_job_enc_arg_value(wire_job_enc *e, const void *value, size_t size) {
    int rc = enc_arg(e);
    if (rc) return rc;
    if (size == 0 || size > WIRE_JOB_MAX_VALUE)
        return enc_fail(e,
                        bad_value_size(e->msg, sizeof e->msg, e->nsteps - 1, e->nargs - e->args_left, size));
    enc_le(e, 'v', 1);
    enc_le(e, size, 4);
    enc_mem(e, value, size);
    e->launch_opt_at = 0;
    e->args_left--;
    return 0;
}

int wire_job_enc_launch_opt(wire_job_enc *e, uint32_t max_dynamic_shared) {
    if (e->failed) return WIRE_JOB_EINVAL;
    if (!e->launch_opt_at)
        return enc_fail(e, say(e->msg, sizeof e->msg, WIRE_JOB_EINVAL,
                               "steps[%zu]: launch options must follow a launch, before its arguments",
                               e->nsteps ? e->nsteps - 1 : 0));
    if (max_dynamic_shared > WIRE_JOB_MAX_SHARED)
        return enc_fail(
            e, bad_shared(e->msg, sizeof e->msg, e->nsteps - 1, "max_dynamic_shared", max_dynamic_shared));
    wire_put_le32(e->p + e->launch_opt_at, max_dynamic_shared);
    e->launch_opt_at = 0; /* once per launch */
    return 0;
}

int wire_job_enc_memset(wire_job_enc *e, uint64_t buffer, uint64_t offset, uint32_t width, uint32_t value,
                        uint64_t count, uint64_t pitch, uint64_t height) {
    int rc = enc_step(e);
    if (rc) return rc;
    size_t i = e->nsteps - 1;
    if (buffer > INT64_MAX || offset > WIRE_JOB_MAX_BUFFER || count > WIRE_JOB_MAX_BUFFER ||
        pitch > WIRE_JOB_MAX_BUFFER || height > WIRE_JOB_MAX_BUFFER)
        return enc_fail(e, say(e->msg, sizeof e->msg, WIRE_JOB_EINVAL,
                               "steps[%zu].memset: buffer %" PRIu64 ", offset %" PRIu64 ", count %" PRIu64
                               ", pitch %" PRIu64 ", height %" PRIu64
                               ": each is at most %llu (WIRE_JOB_MAX_BUFFER)",
                               i, buffer, offset, count, pitch, height, WIRE_JOB_MAX_BUFFER));
    if (width != 1 && width != 2 && width != 4)
        return enc_fail(e, bad_width(e->msg, sizeof e->msg, i, width));
    uint64_t row = count * width;
    if (!height) height = 1;
    if (!pitch) pitch = row;
    if ((rc = bad_rows(e->msg, sizeof e->msg, i, "memset", "", offset, row, pitch, height)))
        return enc_fail(e, rc);
    enc_le(e, 'm', 1);
    enc_u64s(e, (const uint64_t[]){buffer, offset}, 2);
    enc_le(e, width, 4);
    enc_le(e, value, 4);
    enc_u64s(e, (const uint64_t[]){count, pitch, height}, 3);
    return 0;
}

int wire_job_enc_copy(wire_job_enc *e, uint64_t dst, uint64_t dst_off, uint64_t src, uint64_t src_off,
                      uint64_t size, uint64_t dst_pitch, uint64_t src_pitch, uint64_t height) {
    int rc = enc_step(e);
    if (rc) return rc;
    size_t i = e->nsteps - 1;
    if (dst > INT64_MAX || src > INT64_MAX || dst_off > WIRE_JOB_MAX_BUFFER ||
        src_off > WIRE_JOB_MAX_BUFFER || size > WIRE_JOB_MAX_BUFFER || dst_pitch > WIRE_JOB_MAX_BUFFER ||
        src_pitch > WIRE_JOB_MAX_BUFFER || height > WIRE_JOB_MAX_BUFFER)
        return enc_fail(
            e, say(e->msg, sizeof e->msg, WIRE_JOB_EINVAL,
                   "steps[%zu].copy: buffer %" PRIu64 " offset %" PRIu64 " pitch %" PRIu64
                   ", src_buffer %" PRIu64 " src_offset %" PRIu64 " src_pitch %" PRIu64 ", size %" PRIu64
                   ", height %" PRIu64 ": offsets, sizes and pitches are at most %llu (WIRE_JOB_MAX_BUFFER)",
                   i, dst, dst_off, dst_pitch, src, src_off, src_pitch, size, height, WIRE_JOB_MAX_BUFFER));
    if (!height) height = 1;
    if (!dst_pitch) dst_pitch = size;
    if (!src_pitch) src_pitch = size;
    if ((rc = bad_rows(e->msg, sizeof e->msg, i, "copy", "", dst_off, size, dst_pitch, height)) ||
        (rc = bad_rows(e->msg, sizeof e->msg, i, "copy", "src_", src_off, size, src_pitch, height)))
        return enc_fail(e, rc);
    enc_le(e, 'c', 1);
    enc_u64s(e, (const uint64_t[]){dst, dst_off, src, src_off, size, dst_pitch, src_pitch, height}, 8);
    return 0;
}

int wire_job_enc_event(wire_job_enc *e) {
    int rc = enc_step(e);
    if (rc) return rc;
    if (e->nevents == WIRE_JOB_MAX_EVENTS)
        return enc_fail(e, too_many_events(e->msg, sizeof e->msg, e->nsteps - 1));
    enc_le(e, 'e', 1);
    e->nevents++;
    return 0;
}

int wire_job_enc_finish(wire_job_enc *e) {
    if (e->failed) return e->msg[0] && strstr(e->msg, "out of memory") ? WIRE_JOB_ENOMEM : WIRE_JOB_EINVAL;
    if (e->args_left)
        return enc_fail(e, say(e->msg, sizeof e->msg, WIRE_JOB_EINVAL,
                               "steps[%zu].launch: %u arguments announced, %u given", e->nsteps - 1, e->nargs,
                               e->nargs - e->args_left));
    wire_put_le32(e->p + BIN_NSTEPS_AT, (uint32_t)e->nsteps);
    if (e->len > WIRE_JOB_MAX_DESCRIPTOR)
        return enc_fail(e, too_large_descriptor(e->msg, sizeof e->msg, e->len));
    /* The limit holds for the JSON form too (the HTTP path sends it, and a 1.0 worker reads only
     * that), so that a job lepton_submit takes runs on either path. The JSON form is at most
     * WIRE_JOB_JSON_GROWTH times the binary one plus WIRE_JOB_JSON_EXTRA: rendered and measured only
     * when that bound passes the limit, which no common job comes near. */
    if ((uint64_t)e->len * WIRE_JOB_JSON_GROWTH + WIRE_JOB_JSON_EXTRA > WIRE_JOB_MAX_DESCRIPTOR) {
        lp_buf js = LP_BUF_INIT;
        int jrc = wire_job_json_of(e->p, e->len, &js);
        size_t jn = js.len;
        lp_buf_free(&js);
        if (jrc == WIRE_JOB_ENOMEM)
            return enc_fail(e, say(e->msg, sizeof e->msg, WIRE_JOB_ENOMEM, "out of memory encoding the job"));
        if (jrc == 0 && jn > WIRE_JOB_MAX_DESCRIPTOR)
            return enc_fail(e, too_large_descriptor(e->msg, sizeof e->msg, jn));
    }
    uint64_t body = 4 + (uint64_t)e->len + e->write_total;
    if (body > WIRE_JOB_MAX_BODY) return enc_fail(e, too_large_body(e->msg, sizeof e->msg, body));
    e->finished = 1;
    return 0;
}

void wire_job_enc_seq(char *desc, size_t seq_at, uint64_t seq) { wire_put_le64(desc + seq_at, seq); }

/* ---- decoding ----
 * A parser for this one schema, straight from the bytes into the job: no JSON tree, no allocation
 * but the job's arena (steps, arguments, names and values grow in small inline vectors and are
 * copied into one block at the end). It reads the whole of JSON (RFC 8259: strings with escapes
 * and UTF-8 checked, numbers, nesting up to 2048 levels as jansson), so a descriptor is refused
 * as malformed exactly when it is not JSON; a member the schema does not know is read and
 * skipped. Duplicate members of the schema are refused (what jansson's JSON_REJECT_DUPLICATES
 * did); duplicates inside skipped members are not looked for. A NUL byte is malformed (jansson
 * skipped those). tests/fuzz/fuzz_job compares it
 * with the jansson decoder it replaced (tests/fuzz/job_ref.c).
 *
 * A fault of the JSON itself stops the parse (the request is refused, as before: its seq cannot
 * be trusted). A fault of a member's value (a wrong type, a value out of range, a limit) is
 * remembered — the first one wins — and the parse goes on, so that a seq anywhere in the
 * descriptor still numbers the job, which then fails in its turn with that fault. */

/* Bytes a base64 (or base64url) text of n characters decodes to. */
static size_t b64_len(const char *s, size_t n) {
    while (n && s[n - 1] == '=')
        n--;
    return n / 4 * 3 + (n % 4 ? n % 4 - 1 : 0);
}

#define R8(n) (((n) + 7) & ~(size_t)7) /* every piece of the arena stays 8-byte aligned */
#define JR_MAX_DEPTH 2048

/* A growable vector that starts in the parser's own (stack) storage. */
typedef struct vec {
    char *p;
    size_t len, cap;
    char *inl;
} vec;

static int vec_room(vec *v, size_t n) {
    if (v->cap - v->len >= n) return 0;
    size_t cap = v->cap * 2;
    while (cap - v->len < n)
        cap *= 2;
    char *q = v->p == v->inl ? malloc(cap) : realloc(v->p, cap);
    if (!q) return -1;
    if (v->p == v->inl && v->len) memcpy(q, v->inl, v->len);
    v->p = q;
    v->cap = cap;
    return 0;
}

static void vec_free(vec *v) {
    if (v->p != v->inl) free(v->p);
}

typedef struct jr {
    const char *p, *end, *start;
    int depth;
    int syntax; /* the JSON is malformed: stop */
    int rc;     /* the first fault of a value (0: none) */
    long rc_step;
    char *msg;
    size_t ms;
    lp_buf scratch; /* unescaped strings (never longer than the input they come from) */
    /* the job being built: steps, args and bytes hold offsets until the end */
    vec steps, args, bytes;
    size_t nsteps; /* steps seen (may pass the limit: then not stored) */
    long cur;      /* the step being read, for faults */
} jr;

static int jr_syntax(jr *r, const char *what) {
    if (!r->syntax) {
        r->syntax = 1;
        say(r->msg, r->ms, WIRE_JOB_EINVAL, "the job descriptor is not a JSON object: %s at byte %zu", what,
            (size_t)(r->p - r->start));
    }
    return -1;
}

/* A fault of a value: the first one is kept (with the step it is in) and the parse goes on; after
 * it the job is not built any further (LIVE is false), only read. */
#define LIVE(r) (!(r)->rc)
#define JR_FAULT(r, fn, ...)                                                                                 \
    ((r)->rc ? 0 : ((r)->rc = fn((r)->msg, (r)->ms, __VA_ARGS__), (r)->rc_step = (r)->cur, 0))

static void ws(jr *r) {
    while (r->p < r->end && (*r->p == ' ' || *r->p == '\n' || *r->p == '\r' || *r->p == '\t'))
        r->p++;
}

static int peek(jr *r) {
    ws(r);
    return r->p < r->end ? (unsigned char)*r->p : -1;
}

static int expect(jr *r, char c) {
    if (peek(r) != c) {
        char what[32];
        snprintf(what, sizeof what, "'%c' expected", c);
        return jr_syntax(r, what);
    }
    r->p++;
    return 0;
}

static int hex4(const char *s, uint32_t *v) {
    *v = 0;
    for (int i = 0; i < 4; i++) {
        char c = s[i];
        int d = c >= '0' && c <= '9'   ? c - '0'
                : c >= 'a' && c <= 'f' ? c - 'a' + 10
                : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                       : -1;
        if (d < 0) return -1;
        *v = *v << 4 | (uint32_t)d;
    }
    return 0;
}

/* Reads a string. *s and *n: its text — the raw bytes between the quotes when it has no escape,
 * else its unescaped form in r->scratch (valid until the next string). */
static int jr_string(jr *r, const char **s, size_t *n) {
    if (peek(r) != '"') return jr_syntax(r, "a string expected");
    const char *b = ++r->p;
    int esc = 0;
    while (r->p < r->end) {
        unsigned char c = (unsigned char)*r->p;
        if (c == '"') break;
        if (c < 0x20) return jr_syntax(r, "a control character in a string");
        if (c == '\\') {
            esc = 1;
            if (r->end - r->p < 2) return jr_syntax(r, "a string ends in an escape");
            char e = r->p[1];
            if (e == 'u') {
                uint32_t u;
                if (r->end - r->p < 6 || hex4(r->p + 2, &u)) return jr_syntax(r, "a bad \\u escape");
                if (u == 0) return jr_syntax(r, "\\u0000 in a string");
                r->p += 6;
                if (u >= 0xdc00 && u <= 0xdfff) return jr_syntax(r, "a lone low surrogate");
                if (u >= 0xd800 && u <= 0xdbff) {
                    uint32_t lo;
                    if (r->end - r->p < 6 || r->p[0] != '\\' || r->p[1] != 'u' || hex4(r->p + 2, &lo) ||
                        lo < 0xdc00 || lo > 0xdfff)
                        return jr_syntax(r, "a lone high surrogate");
                    r->p += 6;
                }
                continue;
            }
            if (!strchr("\"\\/bfnrt", e) || !e) return jr_syntax(r, "a bad escape");
            r->p += 2;
            continue;
        }
        if (c < 0x80) {
            r->p++;
            continue;
        }
        size_t k = utf8_seq((const unsigned char *)r->p, (size_t)(r->end - r->p));
        if (!k) return jr_syntax(r, "a string that is not UTF-8");
        r->p += k;
    }
    if (r->p >= r->end) return jr_syntax(r, "an unterminated string");
    size_t raw = (size_t)(r->p - b);
    r->p++;
    if (!esc) {
        *s = b;
        *n = raw;
        return 0;
    }
    lp_buf_reset(&r->scratch);
    if (lp_buf_reserve(&r->scratch, raw, raw)) return jr_syntax(r, "out of memory");
    char *o = r->scratch.p;
    for (const char *q = b; q < b + raw;) {
        if (*q != '\\') {
            *o++ = *q++;
            continue;
        }
        char e = q[1];
        if (e != 'u') {
            *o++ = e == 'b'   ? '\b'
                   : e == 'f' ? '\f'
                   : e == 'n' ? '\n'
                   : e == 'r' ? '\r'
                   : e == 't' ? '\t'
                              : e;
            q += 2;
            continue;
        }
        uint32_t u, lo;
        hex4(q + 2, &u);
        q += 6;
        if (u >= 0xd800 && u <= 0xdbff) {
            hex4(q + 2, &lo);
            q += 6;
            u = 0x10000 + ((u - 0xd800) << 10) + (lo - 0xdc00);
        }
        if (u < 0x80) {
            *o++ = (char)u;
        } else if (u < 0x800) {
            *o++ = (char)(0xc0 | u >> 6);
            *o++ = (char)(0x80 | (u & 0x3f));
        } else if (u < 0x10000) {
            *o++ = (char)(0xe0 | u >> 12);
            *o++ = (char)(0x80 | (u >> 6 & 0x3f));
            *o++ = (char)(0x80 | (u & 0x3f));
        } else {
            *o++ = (char)(0xf0 | u >> 18);
            *o++ = (char)(0x80 | (u >> 12 & 0x3f));
            *o++ = (char)(0x80 | (u >> 6 & 0x3f));
            *o++ = (char)(0x80 | (u & 0x3f));
        }
    }
    *o = 0;
    *s = r->scratch.p;
    *n = (size_t)(o - r->scratch.p);
    return 0;
}

/* Reads a number. *is_int: it is an integer (no fraction or exponent), its value in *v. An
 * integer past int64 is malformed (as jansson has it). */
static int jr_number(jr *r, int *is_int, int64_t *v) {
    const char *b = r->p;
    int neg = 0;
    if (r->p < r->end && *r->p == '-') neg = 1, r->p++;
    if (r->p >= r->end || *r->p < '0' || *r->p > '9') return jr_syntax(r, "a bad number");
    uint64_t acc = 0;
    int over = 0;
    if (*r->p == '0') {
        r->p++;
    } else {
        while (r->p < r->end && *r->p >= '0' && *r->p <= '9') {
            unsigned d = (unsigned)(*r->p++ - '0');
            if (acc > (UINT64_MAX - d) / 10)
                over = 1;
            else
                acc = acc * 10 + d;
        }
    }
    *is_int = 1;
    if (r->p < r->end && *r->p == '.') {
        r->p++;
        if (r->p >= r->end || *r->p < '0' || *r->p > '9') return jr_syntax(r, "a bad number");
        while (r->p < r->end && *r->p >= '0' && *r->p <= '9')
            r->p++;
        *is_int = 0;
    }
    if (r->p < r->end && (*r->p == 'e' || *r->p == 'E')) {
        r->p++;
        if (r->p < r->end && (*r->p == '+' || *r->p == '-')) r->p++;
        if (r->p >= r->end || *r->p < '0' || *r->p > '9') return jr_syntax(r, "a bad number");
        while (r->p < r->end && *r->p >= '0' && *r->p <= '9')
            r->p++;
        *is_int = 0;
    }
    if (!*is_int) {
        /* a real that overflows a double is malformed too (jansson: "real number overflow") */
        size_t n = (size_t)(r->p - b);
        char tmp[64], *t = n < sizeof tmp ? tmp : malloc(n + 1);
        if (!t) return jr_syntax(r, "out of memory");
        memcpy(t, b, n);
        t[n] = 0;
        errno = 0;
        double d = strtod(t, NULL);
        int bad = (d == HUGE_VAL || d == -HUGE_VAL) && errno == ERANGE;
        if (t != tmp) free(t);
        if (bad) {
            r->p = b;
            return jr_syntax(r, "a real number past a double");
        }
        return 0;
    }
    {
        if (over || acc > (uint64_t)INT64_MAX + (uint64_t)neg) {
            r->p = b;
            return jr_syntax(r, "an integer past 64 bits");
        }
        *v = neg ? (int64_t)(0 - acc) : (int64_t)acc;
    }
    return 0;
}

static int jr_literal(jr *r, const char *word) {
    size_t n = strlen(word);
    if ((size_t)(r->end - r->p) < n || memcmp(r->p, word, n)) return jr_syntax(r, "a bad literal");
    r->p += n;
    return 0;
}

/* Reads and drops any value. */
static int jr_skip(jr *r) {
    int c = peek(r);
    if (c == '"') {
        const char *s;
        size_t n;
        return jr_string(r, &s, &n);
    }
    if (c == '{' || c == '[') {
        if (++r->depth > JR_MAX_DEPTH) return jr_syntax(r, "nested too deeply");
        r->p++;
        char close = c == '{' ? '}' : ']';
        if (peek(r) == close) {
            r->p++;
            r->depth--;
            return 0;
        }
        for (;;) {
            if (c == '{') {
                const char *s;
                size_t n;
                if (jr_string(r, &s, &n) || expect(r, ':')) return -1;
            }
            if (jr_skip(r)) return -1;
            int d = peek(r);
            if (d == ',') {
                r->p++;
                continue;
            }
            if (d != close) return jr_syntax(r, c == '{' ? "',' or '}' expected" : "',' or ']' expected");
            r->p++;
            r->depth--;
            return 0;
        }
    }
    if (c == 't') return jr_literal(r, "true");
    if (c == 'f') return jr_literal(r, "false");
    if (c == 'n') return jr_literal(r, "null");
    if (c != '-' && (c < '0' || c > '9')) return jr_syntax(r, "a value expected");
    int is_int;
    int64_t v;
    return jr_number(r, &is_int, &v);
}

/* Reads a member name and its ':'; *key is the name (raw: names of the schema have no escapes). */
static int jr_key(jr *r, const char **key, size_t *n) {
    if (jr_string(r, key, n)) return -1;
    return expect(r, ':');
}

static int key_is(const char *k, size_t n, const char *name) {
    return strlen(name) == n && !memcmp(k, name, n);
}

/* A member of the schema seen twice in one object: malformed (jansson's JSON_REJECT_DUPLICATES). */
static int seen(jr *r, unsigned *mask, unsigned bit) {
    if (*mask & bit) return jr_syntax(r, "a duplicate member");
    *mask |= bit;
    return 0;
}

/* Iterates the members of an object: call with *first = 1; returns 1 with the next member's name,
 * 0 at the end, -1 malformed. */
static int jr_member(jr *r, int *first, const char **key, size_t *n) {
    int c = peek(r);
    if (*first) {
        *first = 0;
        if (c == '}') {
            r->p++;
            return 0;
        }
    } else {
        if (c == '}') {
            r->p++;
            return 0;
        }
        if (c != ',') return jr_syntax(r, "',' or '}' expected");
        r->p++;
    }
    return jr_key(r, key, n) ? -1 : 1;
}

/* Iterates the elements of an array the same way (1: an element follows). */
static int jr_element(jr *r, int *first) {
    int c = peek(r);
    if (c == ']') {
        r->p++;
        return 0;
    }
    if (!*first) {
        if (c != ',') return jr_syntax(r, "',' or ']' expected");
        r->p++;
    }
    *first = 0;
    return 1;
}

static int jr_open(jr *r, char c) {
    if (++r->depth > JR_MAX_DEPTH) return jr_syntax(r, "nested too deeply");
    return expect(r, c);
}

/* Where a member is, for a fault: "steps[i].write", "steps[i].read" or "steps[i].launch.args[k]"
 * (formatted only when there is a fault to report). */
typedef struct at {
    size_t i;
    long k; /* the argument; -1: a write or read step */
    const char *kind;
} at;

static int say_at(char *msg, size_t ms, const at *w, const char *key, const char *what, uint64_t max) {
    char where[64];
    if (w->k < 0)
        snprintf(where, sizeof where, "steps[%zu].%s", w->i, w->kind);
    else
        snprintf(where, sizeof where, "steps[%zu].launch.args[%ld]", w->i, w->k);
    if (!what) return say(msg, ms, WIRE_JOB_EINVAL, "%s: field '%s' is required", where, key);
    return say(msg, ms, WIRE_JOB_EINVAL, "%s: field '%s' %s%" PRIu64, where, key, what, max);
}

/* An integer member in 0..max; null is absent (*present 0). */
static int jr_uint(jr *r, const at *where, const char *key, uint64_t max, uint64_t *out, int *present) {
    int c = peek(r);
    *present = 0;
    if (c == 'n') return jr_literal(r, "null");
    *present = 1;
    if (c == '-' || (c >= '0' && c <= '9')) {
        int is_int;
        int64_t v = 0;
        if (jr_number(r, &is_int, &v)) return -1;
        if (is_int && v >= 0 && (uint64_t)v <= max) {
            *out = (uint64_t)v;
            return 0;
        }
    } else if (jr_skip(r)) {
        return -1;
    }
    JR_FAULT(r, say_at, where, key, "must be an integer in 0..", max);
    return 0;
}

static int jr_dim3(jr *r, size_t i, const char *key, uint32_t d[3]) {
    d[0] = d[1] = d[2] = 1;
    int c = peek(r);
    if (c == 'n') return jr_literal(r, "null");
    if (c != '[') {
        JR_FAULT(r, say, WIRE_JOB_EINVAL, "steps[%zu].launch.%s must be an array of 1 to 3 integers", i, key);
        return jr_skip(r);
    }
    if (jr_open(r, '[')) return -1;
    int first = 1, k = 0, more;
    while ((more = jr_element(r, &first)) == 1) {
        c = peek(r);
        int is_int = 0;
        int64_t v = 0;
        if (c == '-' || (c >= '0' && c <= '9')) {
            if (jr_number(r, &is_int, &v)) return -1;
        } else if (jr_skip(r)) {
            return -1;
        }
        if (k >= 3)
            JR_FAULT(r, say, WIRE_JOB_EINVAL, "steps[%zu].launch.%s must be an array of 1 to 3 integers", i,
                     key);
        else if (!is_int)
            JR_FAULT(r, say, WIRE_JOB_EINVAL, "steps[%zu].launch.%s[%d] must be an integer", i, key, k);
        else if (v < 0 || (uint64_t)v > WIRE_JOB_MAX_DIM)
            JR_FAULT(r, bad_dim, i, key, k, v);
        else
            d[k] = v ? (uint32_t)v : 1;
        k++;
    }
    r->depth--;
    return more;
}

/* The vectors hold offsets while they grow; the job's pointers are set once they stop moving. */
#define AS_PTR(off) ((void *)(uintptr_t)(off))
#define AS_OFF(ptr) ((size_t)(uintptr_t)(ptr))

/* Appends n bytes (8-byte aligned) to the byte vector; its offset, or (size_t)-1 out of memory. */
static size_t jr_bytes(jr *r, size_t n) {
    if (vec_room(&r->bytes, R8(n))) return (size_t)-1;
    size_t off = r->bytes.len;
    r->bytes.len += R8(n);
    return off;
}

static int oom(char *msg, size_t ms, int unused) {
    (void)unused;
    return say(msg, ms, WIRE_JOB_ENOMEM, "out of memory decoding the job");
}

/* One element of launch.args (the step's k-th). */
static int jr_arg(jr *r, size_t i, size_t k, wire_job_arg *x) {
    memset(x, 0, sizeof *x);
    if (peek(r) != '{') {
        JR_FAULT(r, say, WIRE_JOB_EINVAL,
                 "steps[%zu].launch.args[%zu] must be {\"buffer\": ID, \"offset\": N} or {\"value\": BASE64}",
                 i, k);
        return jr_skip(r);
    }
    if (jr_open(r, '{')) return -1;
    at where = {i, (long)k, "launch"};
    unsigned mask = 0;
    int first = 1, more, has_buffer = 0, has_offset = 0;
    const char *key;
    size_t kn;
    while ((more = jr_member(r, &first, &key, &kn)) == 1) {
        if (key_is(key, kn, "value")) {
            if (seen(r, &mask, 1)) return -1;
            if (peek(r) != '"') {
                JR_FAULT(r, say, WIRE_JOB_EINVAL, "steps[%zu].launch.args[%zu].value must be a base64 string",
                         i, k);
                if (jr_skip(r)) return -1;
                continue;
            }
            const char *b64;
            size_t bl;
            if (jr_string(r, &b64, &bl)) return -1;
            size_t dl = b64_len(b64, bl);
            if (!LIVE(r)) continue;
            if (dl == 0 || dl > WIRE_JOB_MAX_VALUE) {
                JR_FAULT(r, bad_value_size, i, k, dl);
                continue;
            }
            size_t off = jr_bytes(r, dl + 3);
            if (off == (size_t)-1) {
                JR_FAULT(r, oom, 0);
                continue;
            }
            long got = lp_b64_decode_any(b64, bl, (unsigned char *)r->bytes.p + off, dl + 3);
            if (got <= 0 || (size_t)got != dl) {
                JR_FAULT(r, say, WIRE_JOB_EINVAL, "steps[%zu].launch.args[%zu].value is not base64", i, k);
                continue;
            }
            x->value = AS_PTR(off);
            x->len = dl;
        } else if (key_is(key, kn, "buffer")) {
            if (seen(r, &mask, 2) || jr_uint(r, &where, "buffer", INT64_MAX, &x->buffer, &has_buffer))
                return -1;
        } else if (key_is(key, kn, "offset")) {
            if (seen(r, &mask, 4) ||
                jr_uint(r, &where, "offset", WIRE_JOB_MAX_BUFFER, &x->offset, &has_offset))
                return -1;
        } else if (jr_skip(r)) {
            return -1;
        }
    }
    if (more < 0) return -1;
    r->depth--;
    if (mask & 1) return 0; /* a value argument (a value wins over a buffer) */
    if (!(mask & 2)) {
        JR_FAULT(r, say, WIRE_JOB_EINVAL,
                 "steps[%zu].launch.args[%zu] must be {\"buffer\": ID, \"offset\": N} or {\"value\": BASE64}",
                 i, k);
        return 0;
    }
    x->is_buffer = 1;
    if (!has_buffer) JR_FAULT(r, say_at, &where, "buffer", NULL, 0);
    return 0;
}

static int jr_args(jr *r, size_t i, wire_job_step *s) {
    int c = peek(r);
    if (c == 'n') return jr_literal(r, "null");
    if (c != '[') {
        JR_FAULT(r, say, WIRE_JOB_EINVAL, "steps[%zu].launch.args must be an array", i);
        return jr_skip(r);
    }
    if (jr_open(r, '[')) return -1;
    size_t first_arg = r->args.len / sizeof(wire_job_arg), n = 0;
    int first = 1, more;
    while ((more = jr_element(r, &first)) == 1) {
        wire_job_arg x;
        if (jr_arg(r, i, n, &x)) return -1;
        if (LIVE(r) && n < WIRE_JOB_MAX_ARGS) {
            if (vec_room(&r->args, sizeof x)) {
                JR_FAULT(r, oom, 0);
            } else {
                memcpy(r->args.p + r->args.len, &x, sizeof x);
                r->args.len += sizeof x;
            }
        }
        n++;
    }
    if (more < 0) return -1;
    r->depth--;
    if (n > WIRE_JOB_MAX_ARGS) JR_FAULT(r, too_many_args, i, n);
    s->args = AS_PTR(first_arg);
    s->nargs = n;
    return 0;
}

static int is_sha(const char *s, size_t n) {
    if (n != 64) return 0;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) return 0;
    return 1;
}

/* launch.shared or launch.max_dynamic_shared (`key`): an integer in 0..WIRE_JOB_MAX_SHARED; null is
 * absent (0). */
static int jr_shared(jr *r, size_t i, const char *key, uint32_t *out) {
    int c = peek(r);
    if (c == 'n') return jr_literal(r, "null");
    int is_int = 0;
    int64_t v = 0;
    if (c == '-' || (c >= '0' && c <= '9')) {
        if (jr_number(r, &is_int, &v)) return -1;
    } else if (jr_skip(r)) {
        return -1;
    }
    if (!is_int)
        JR_FAULT(r, say, WIRE_JOB_EINVAL, "steps[%zu].launch.%s must be an integer", i, key);
    else if (v < 0 || (uint64_t)v > WIRE_JOB_MAX_SHARED)
        JR_FAULT(r, bad_shared, i, key, v);
    else
        *out = (uint32_t)v;
    return 0;
}

static int jr_launch(jr *r, size_t i, wire_job_step *s) {
    s->kind = 'l';
    s->grid[0] = s->grid[1] = s->grid[2] = s->block[0] = s->block[1] = s->block[2] = 1;
    if (peek(r) != '{') {
        JR_FAULT(r, say, WIRE_JOB_EINVAL, "steps[%zu].launch must be an object", i);
        return jr_skip(r);
    }
    if (jr_open(r, '{')) return -1;
    unsigned mask = 0;
    int first = 1, more, module_ok = 0;
    size_t fn_len = 0, fn_off = (size_t)-1;
    const char *key;
    size_t kn;
    while ((more = jr_member(r, &first, &key, &kn)) == 1) {
        if (key_is(key, kn, "module")) {
            if (seen(r, &mask, 1)) return -1;
            if (peek(r) == '"') {
                const char *m;
                size_t mn;
                if (jr_string(r, &m, &mn)) return -1;
                if ((module_ok = is_sha(m, mn)) != 0) {
                    memcpy(s->module, m, 64);
                    s->module[64] = 0;
                }
            } else if (jr_skip(r)) {
                return -1;
            }
        } else if (key_is(key, kn, "function")) {
            if (seen(r, &mask, 2)) return -1;
            if (peek(r) == '"') {
                const char *f;
                if (jr_string(r, &f, &fn_len)) return -1;
                if (LIVE(r) && name_ok(NULL, fn_len)) {
                    fn_off = jr_bytes(r, fn_len + 1);
                    if (fn_off == (size_t)-1) {
                        JR_FAULT(r, oom, 0);
                    } else {
                        memcpy(r->bytes.p + fn_off, f, fn_len);
                        r->bytes.p[fn_off + fn_len] = 0;
                    }
                }
            } else if (jr_skip(r)) {
                return -1;
            }
        } else if (key_is(key, kn, "grid")) {
            if (seen(r, &mask, 4) || jr_dim3(r, i, "grid", s->grid) < 0) return -1;
        } else if (key_is(key, kn, "block")) {
            if (seen(r, &mask, 8) || jr_dim3(r, i, "block", s->block) < 0) return -1;
        } else if (key_is(key, kn, "shared")) {
            if (seen(r, &mask, 16) || jr_shared(r, i, "shared", &s->shared)) return -1;
        } else if (key_is(key, kn, "max_dynamic_shared")) {
            if (seen(r, &mask, 64) || jr_shared(r, i, "max_dynamic_shared", &s->max_dynamic_shared))
                return -1;
        } else if (key_is(key, kn, "args")) {
            if (seen(r, &mask, 32) || jr_args(r, i, s)) return -1;
        } else if (jr_skip(r)) {
            return -1;
        }
    }
    if (more < 0) return -1;
    r->depth--;
    if (!module_ok)
        JR_FAULT(r, say, WIRE_JOB_EINVAL,
                 "steps[%zu].launch.module must be the module's SHA-256 (64 lowercase hex digits)", i);
    if (!name_ok(NULL, fn_len)) JR_FAULT(r, bad_function, i, fn_len);
    s->function = AS_PTR(fn_off);
    return 0;
}

/* A write or read step's object. */
static int jr_rw(jr *r, size_t i, wire_job_step *s, int write) {
    at where = {i, -1, write ? "write" : "read"};
    s->kind = write ? 'w' : 'r';
    if (peek(r) != '{') {
        JR_FAULT(r, say, WIRE_JOB_EINVAL, "steps[%zu].%s must be an object", i, where.kind);
        return jr_skip(r);
    }
    if (jr_open(r, '{')) return -1;
    unsigned mask = 0;
    int first = 1, more, has_buffer = 0, has_offset = 0, has_size = 0;
    const char *key;
    size_t kn;
    while ((more = jr_member(r, &first, &key, &kn)) == 1) {
        if (key_is(key, kn, "buffer")) {
            if (seen(r, &mask, 1) || jr_uint(r, &where, "buffer", INT64_MAX, &s->buffer, &has_buffer))
                return -1;
        } else if (key_is(key, kn, "offset")) {
            if (seen(r, &mask, 2) ||
                jr_uint(r, &where, "offset", WIRE_JOB_MAX_BUFFER, &s->offset, &has_offset))
                return -1;
        } else if (key_is(key, kn, "size")) {
            if (seen(r, &mask, 4) || jr_uint(r, &where, "size", WIRE_JOB_MAX_BUFFER, &s->size, &has_size))
                return -1;
        } else if (jr_skip(r)) {
            return -1;
        }
    }
    if (more < 0) return -1;
    r->depth--;
    if (!has_buffer) JR_FAULT(r, say_at, &where, "buffer", NULL, 0);
    if (!has_size) JR_FAULT(r, say_at, &where, "size", NULL, 0);
    return 0;
}

/* A memset step's width checked and its defaults (pitch: a row, height: 1; 0 is the default too)
 * resolved, its rows checked against WIRE_JOB_MAX_BUFFER: both forms' decoders end a memset so.
 * A fault is the job's first (the callers checked LIVE). */
static void memset_finish(jr *r, size_t i, wire_job_step *s, uint64_t width) {
    if (width != 1 && width != 2 && width != 4) {
        JR_FAULT(r, bad_width, i, width);
        return;
    }
    s->width = (uint32_t)width;
    if (!s->height) s->height = 1;
    if (!s->pitch) s->pitch = s->count * width; /* as the encoder has it */
    int rc = bad_rows(r->msg, r->ms, i, "memset", "", s->offset, s->count * width, s->pitch, s->height);
    if (rc) { /* bad_rows wrote the message */
        r->rc = rc;
        r->rc_step = r->cur;
    }
}

/* The same for a copy step (pitches: a row, height: 1). */
static void copy_finish(jr *r, size_t i, wire_job_step *s) {
    if (!s->height) s->height = 1;
    if (!s->pitch) s->pitch = s->size;
    if (!s->src_pitch) s->src_pitch = s->size;
    int rc = bad_rows(r->msg, r->ms, i, "copy", "", s->offset, s->size, s->pitch, s->height);
    if (!rc) rc = bad_rows(r->msg, r->ms, i, "copy", "src_", s->src_offset, s->size, s->src_pitch, s->height);
    if (rc) {
        r->rc = rc;
        r->rc_step = r->cur;
    }
}

/* A memset step's object; the defaults (pitch: a row, height: 1; 0 is the default too) are
 * resolved here. */
static int jr_memset(jr *r, size_t i, wire_job_step *s) {
    at where = {i, -1, "memset"};
    s->kind = 'm';
    if (peek(r) != '{') {
        JR_FAULT(r, say, WIRE_JOB_EINVAL, "steps[%zu].memset must be an object", i);
        return jr_skip(r);
    }
    if (jr_open(r, '{')) return -1;
    unsigned mask = 0;
    int first = 1, more, has[7] = {0};
    uint64_t width = 0, value = 0;
    const char *key;
    size_t kn;
    while ((more = jr_member(r, &first, &key, &kn)) == 1) {
        int rc;
        if (key_is(key, kn, "buffer"))
            rc = seen(r, &mask, 1) || jr_uint(r, &where, "buffer", INT64_MAX, &s->buffer, &has[0]);
        else if (key_is(key, kn, "offset"))
            rc = seen(r, &mask, 2) || jr_uint(r, &where, "offset", WIRE_JOB_MAX_BUFFER, &s->offset, &has[1]);
        else if (key_is(key, kn, "width"))
            rc = seen(r, &mask, 4) || jr_uint(r, &where, "width", 4, &width, &has[2]);
        else if (key_is(key, kn, "value"))
            rc = seen(r, &mask, 8) || jr_uint(r, &where, "value", UINT32_MAX, &value, &has[3]);
        else if (key_is(key, kn, "count"))
            rc = seen(r, &mask, 16) || jr_uint(r, &where, "count", WIRE_JOB_MAX_BUFFER, &s->count, &has[4]);
        else if (key_is(key, kn, "pitch"))
            rc = seen(r, &mask, 32) || jr_uint(r, &where, "pitch", WIRE_JOB_MAX_BUFFER, &s->pitch, &has[5]);
        else if (key_is(key, kn, "height"))
            rc = seen(r, &mask, 64) || jr_uint(r, &where, "height", WIRE_JOB_MAX_BUFFER, &s->height, &has[6]);
        else
            rc = jr_skip(r);
        if (rc) return -1;
    }
    if (more < 0) return -1;
    r->depth--;
    if (!has[0]) JR_FAULT(r, say_at, &where, "buffer", NULL, 0);
    if (!has[2]) JR_FAULT(r, say_at, &where, "width", NULL, 0);
    if (!has[4]) JR_FAULT(r, say_at, &where, "count", NULL, 0);
    if (!LIVE(r)) return 0;
    s->value = (uint32_t)value;
    memset_finish(r, i, s, width);
    return 0;
}

/* A copy step's object; the defaults (pitches: a row, height: 1) are resolved here. */
static int jr_copy(jr *r, size_t i, wire_job_step *s) {
    at where = {i, -1, "copy"};
    s->kind = 'c';
    if (peek(r) != '{') {
        JR_FAULT(r, say, WIRE_JOB_EINVAL, "steps[%zu].copy must be an object", i);
        return jr_skip(r);
    }
    if (jr_open(r, '{')) return -1;
    unsigned mask = 0;
    int first = 1, more, has[8] = {0};
    const char *key;
    size_t kn;
    while ((more = jr_member(r, &first, &key, &kn)) == 1) {
        int rc;
        if (key_is(key, kn, "buffer"))
            rc = seen(r, &mask, 1) || jr_uint(r, &where, "buffer", INT64_MAX, &s->buffer, &has[0]);
        else if (key_is(key, kn, "offset"))
            rc = seen(r, &mask, 2) || jr_uint(r, &where, "offset", WIRE_JOB_MAX_BUFFER, &s->offset, &has[1]);
        else if (key_is(key, kn, "src_buffer"))
            rc = seen(r, &mask, 4) || jr_uint(r, &where, "src_buffer", INT64_MAX, &s->src_buffer, &has[2]);
        else if (key_is(key, kn, "src_offset"))
            rc = seen(r, &mask, 8) ||
                 jr_uint(r, &where, "src_offset", WIRE_JOB_MAX_BUFFER, &s->src_offset, &has[3]);
        else if (key_is(key, kn, "size"))
            rc = seen(r, &mask, 16) || jr_uint(r, &where, "size", WIRE_JOB_MAX_BUFFER, &s->size, &has[4]);
        else if (key_is(key, kn, "pitch"))
            rc = seen(r, &mask, 32) || jr_uint(r, &where, "pitch", WIRE_JOB_MAX_BUFFER, &s->pitch, &has[5]);
        else if (key_is(key, kn, "src_pitch"))
            rc = seen(r, &mask, 64) ||
                 jr_uint(r, &where, "src_pitch", WIRE_JOB_MAX_BUFFER, &s->src_pitch, &has[6]);
        else if (key_is(key, kn, "height"))
            rc =
                seen(r, &mask, 128) || jr_uint(r, &where, "height", WIRE_JOB_MAX_BUFFER, &s->height, &has[7]);
        else
            rc = jr_skip(r);
        if (rc) return -1;
    }
    if (more < 0) return -1;
    r->depth--;
    if (!has[0]) JR_FAULT(r, say_at, &where, "buffer", NULL, 0);
    if (!has[2]) JR_FAULT(r, say_at, &where, "src_buffer", NULL, 0);
    if (!has[4]) JR_FAULT(r, say_at, &where, "size", NULL, 0);
    if (LIVE(r)) copy_finish(r, i, s);
    return 0;
}

/* An event step: {} (members are read and ignored). */
static int jr_event(jr *r, size_t i, wire_job_step *s) {
    s->kind = 'e';
    if (peek(r) != '{') {
        JR_FAULT(r, say, WIRE_JOB_EINVAL, "steps[%zu].event must be an object", i);
        return jr_skip(r);
    }
    return jr_skip(r);
}

#define STEP_KINDS "steps[%zu] must be an object with one of write, launch, read, memset, copy, event"

static int jr_step(jr *r, size_t i, wire_job_step *s) {
    memset(s, 0, sizeof *s);
    if (peek(r) != '{') {
        JR_FAULT(r, say, WIRE_JOB_EINVAL, STEP_KINDS, i);
        return jr_skip(r);
    }
    if (jr_open(r, '{')) return -1;
    static const char *const kinds_of[] = {"write", "read", "launch", "memset", "copy", "event"};
    unsigned mask = 0;
    int first = 1, more, kinds = 0;
    const char *key;
    size_t kn;
    while ((more = jr_member(r, &first, &key, &kn)) == 1) {
        int k = 0;
        while (k < 6 && !key_is(key, kn, kinds_of[k]))
            k++;
        if (k == 6) {
            if (jr_skip(r)) return -1;
            continue;
        }
        if (seen(r, &mask, 1u << k)) return -1;
        if (++kinds > 1) {
            JR_FAULT(r, say, WIRE_JOB_EINVAL, STEP_KINDS, i);
            if (jr_skip(r)) return -1;
            continue;
        }
        int rc = k < 2    ? jr_rw(r, i, s, k == 0)
                 : k == 2 ? jr_launch(r, i, s)
                 : k == 3 ? jr_memset(r, i, s)
                 : k == 4 ? jr_copy(r, i, s)
                          : jr_event(r, i, s);
        if (rc) return -1;
    }
    if (more < 0) return -1;
    r->depth--;
    if (!kinds) JR_FAULT(r, say, WIRE_JOB_EINVAL, STEP_KINDS, i);
    return 0;
}

/* The descriptor's "seq": *seq_ok when it is an integer >= 1 (anything else is skipped and stays
 * not ok). 0, or -1 on a syntax error. */
static int dec_seq(jr *r, uint64_t *seq, int *seq_ok) {
    int c = peek(r), is_int = 0;
    int64_t v = 0;
    if (c == '-' || (c >= '0' && c <= '9')) {
        if (jr_number(r, &is_int, &v)) return -1;
    } else if (jr_skip(r)) {
        return -1;
    }
    *seq_ok = is_int && v >= 1;
    *seq = *seq_ok ? (uint64_t)v : 0;
    return 0;
}

/* Accounts step i of the job: a WRITE takes its bytes from *data (advanced; the body ends at end),
 * an event counts against the limit, a READ gets its offset in the job's read-back. 0 when the
 * step is kept, 1 when it faulted (recorded in r; the step is dropped). */
static int dec_step_account(jr *r, wire_job *j, wire_job_step *s, size_t i, const char **data,
                            const char *end) {
    if (s->kind == 'w') {
        if (s->size > (uint64_t)(end - *data)) {
            JR_FAULT(r, say, WIRE_JOB_EINVAL,
                     "steps[%zu].write needs %" PRIu64 " bytes; the body has %zu left", i, s->size,
                     (size_t)(end - *data));
            return 1;
        }
        s->data = *data;
        *data += s->size;
        j->write_total += s->size;
    } else if (s->kind == 'e') {
        if (++j->nevents > WIRE_JOB_MAX_EVENTS) {
            JR_FAULT(r, too_many_events, i);
            return 1;
        }
    } else if (s->kind == 'r') {
        s->out_off = j->read_total;
        j->read_total += s->size;
        if (j->read_total > WIRE_JOB_MAX_READ) {
            JR_FAULT(r, too_much_read, i);
            return 1;
        }
    }
    return 0;
}

/* Keeps decoded step i (both forms): accounted, then appended to r->steps, unless the job has a
 * fault already or is past WIRE_JOB_MAX_STEPS (the steps are still read, not kept). */
static void dec_step_keep(jr *r, wire_job *j, wire_job_step *s, size_t i, const char **data,
                          const char *end) {
    if (!LIVE(r) || i >= WIRE_JOB_MAX_STEPS) return;
    if (dec_step_account(r, j, s, i, data, end)) return;
    if (vec_room(&r->steps, sizeof *s)) {
        JR_FAULT(r, oom, 0);
        return;
    }
    memcpy(r->steps.p + r->steps.len, s, sizeof *s);
    r->steps.len += sizeof *s;
}

/* The descriptor's "steps" (an array, or null): each step decoded and accounted into r->steps.
 * 0, or -1 on a syntax error. */
static int dec_steps(jr *r, wire_job *j, const char **data, const char *end) {
    int c = peek(r);
    if (c == 'n') return jr_literal(r, "null") ? -1 : 0;
    if (c != '[') {
        r->cur = -1;
        JR_FAULT(r, say, WIRE_JOB_EINVAL, "field 'steps' must be an array");
        return jr_skip(r) ? -1 : 0;
    }
    if (jr_open(r, '[')) return -1;
    int first = 1, more;
    while ((more = jr_element(r, &first)) == 1) {
        size_t i = r->nsteps++;
        wire_job_step s;
        r->cur = (long)i;
        if (jr_step(r, i, &s)) return -1;
        dec_step_keep(r, j, &s, i, data, end);
    }
    if (more < 0) return -1;
    r->depth--;
    return 0;
}

/* One block for the decoded job: steps, then arguments, then names and values; the offsets the
 * decoder recorded become pointers into it. 0, or an error code with msg. */
static int dec_arena(jr *r, wire_job *j, char *msg, size_t ms) {
    size_t total = r->steps.len + r->args.len + r->bytes.len;
    char *a = total ? malloc(total) : NULL;
    if (total && !a)
        return say(msg, ms, WIRE_JOB_ENOMEM, "out of memory (%zu bytes for the job's steps)", total);
    if (total) { /* an empty step list has no arena */
        memcpy(a, r->steps.p, r->steps.len);
        memcpy(a + r->steps.len, r->args.p, r->args.len);
        memcpy(a + r->steps.len + r->args.len, r->bytes.p, r->bytes.len);
    }
    j->arena = a;
    j->steps = r->nsteps ? (wire_job_step *)a : NULL;
    j->nsteps = r->nsteps;
    wire_job_arg *args = a ? (wire_job_arg *)(a + r->steps.len) : NULL;
    char *bytes = a ? a + r->steps.len + r->args.len : NULL;
    for (size_t i = 0; i < j->nsteps; i++) {
        wire_job_step *s = &j->steps[i];
        if (s->kind != 'l') continue;
        s->function = bytes + AS_OFF(s->function);
        s->args = s->nargs ? args + AS_OFF(s->args) : NULL;
        for (size_t k = 0; k < s->nargs; k++)
            if (!s->args[k].is_buffer) s->args[k].value = (unsigned char *)bytes + AS_OFF(s->args[k].value);
    }
    return 0;
}

/* The JSON descriptor: its seq and steps (dec_steps). 0, or -1 when malformed. */
static int dec_json(jr *r, wire_job *j, uint64_t *seq, int *seq_ok, const char **data, const char *end) {
    unsigned mask = 0;
    if (peek(r) != '{') return jr_syntax(r, "'{' expected");
    if (jr_open(r, '{')) return -1;
    int first = 1, more;
    const char *key;
    size_t kn;
    while ((more = jr_member(r, &first, &key, &kn)) == 1) {
        if (key_is(key, kn, "seq")) {
            if (seen(r, &mask, 1) || dec_seq(r, seq, seq_ok)) return -1;
        } else if (key_is(key, kn, "steps")) {
            if (seen(r, &mask, 2) || dec_steps(r, j, data, end)) return -1;
        } else if (jr_skip(r)) {
            return -1;
        }
    }
    if (more < 0) return -1;
    r->depth--;
    if (peek(r) != -1) return jr_syntax(r, "bytes after the descriptor's object");
    return 0;
}

/* ---- decoding the binary form (wire_job.h): the same job, the same faults and words as the
 * JSON form; only its framing differs. A descriptor cut short, an unknown step kind or argument
 * type, or bytes after the last step make it malformed (refused outright, as a JSON syntax
 * error); a value out of its range fails the job in its turn. ---- */

static int bin_bad(jr *r, const char *what) {
    if (!r->syntax) {
        r->syntax = 1;
        say(r->msg, r->ms, WIRE_JOB_EINVAL, "the binary job descriptor is malformed: %s at byte %zu", what,
            (size_t)(r->p - r->start));
    }
    return -1;
}

static int bin_has(const jr *r, size_t n) { return (size_t)(r->end - r->p) >= n; }

/* The next n (<= 8) bytes, little-endian (the caller checked they are there). */
static uint64_t bin_le(jr *r, int n) {
    const unsigned char *u = (const unsigned char *)r->p;
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v |= (uint64_t)u[i] << (8 * i);
    r->p += n;
    return v;
}

/* u64 fields of step i (`where`), each checked against its maximum; the first fault is kept. */
static void bin_u64s(jr *r, const at *where, const char *const *keys, const uint64_t *max, uint64_t **out,
                     int n) {
    for (int k = 0; k < n; k++) {
        uint64_t v = bin_le(r, 8);
        if (v > max[k])
            JR_FAULT(r, say_at, where, keys[k], "must be an integer in 0..", max[k]);
        else
            *out[k] = v;
    }
}

#define MB WIRE_JOB_MAX_BUFFER

static int bin_rw(jr *r, size_t i, wire_job_step *s, int write) {
    at where = {i, -1, write ? "write" : "read"};
    s->kind = write ? 'w' : 'r';
    if (!bin_has(r, 24)) return bin_bad(r, "a write or read step cut short");
    static const char *const keys[] = {"buffer", "offset", "size"};
    static const uint64_t max[] = {INT64_MAX, MB, MB};
    uint64_t *out[] = {&s->buffer, &s->offset, &s->size};
    bin_u64s(r, &where, keys, max, out, 3);
    return 0;
}

static int bin_memset(jr *r, size_t i, wire_job_step *s) {
    at where = {i, -1, "memset"};
    s->kind = 'm';
    if (!bin_has(r, 48)) return bin_bad(r, "a memset step cut short");
    static const char *const k1[] = {"buffer", "offset"}, *const k2[] = {"count", "pitch", "height"};
    static const uint64_t m1[] = {INT64_MAX, MB}, m2[] = {MB, MB, MB};
    uint64_t *o1[] = {&s->buffer, &s->offset}, *o2[] = {&s->count, &s->pitch, &s->height};
    bin_u64s(r, &where, k1, m1, o1, 2);
    uint32_t width = (uint32_t)bin_le(r, 4);
    s->value = (uint32_t)bin_le(r, 4);
    bin_u64s(r, &where, k2, m2, o2, 3);
    if (LIVE(r)) memset_finish(r, i, s, width);
    return 0;
}

static int bin_copy(jr *r, size_t i, wire_job_step *s) {
    at where = {i, -1, "copy"};
    s->kind = 'c';
    if (!bin_has(r, 64)) return bin_bad(r, "a copy step cut short");
    static const char *const keys[] = {"buffer", "offset", "src_buffer", "src_offset",
                                       "size",   "pitch",  "src_pitch",  "height"};
    static const uint64_t max[] = {INT64_MAX, MB, INT64_MAX, MB, MB, MB, MB, MB};
    uint64_t *out[] = {&s->buffer, &s->offset, &s->src_buffer, &s->src_offset,
                       &s->size,   &s->pitch,  &s->src_pitch,  &s->height};
    bin_u64s(r, &where, keys, max, out, 8);
    if (LIVE(r)) copy_finish(r, i, s);
    return 0;
}

/* Argument k of launch step i into *x. */
static int bin_arg(jr *r, size_t i, size_t k, wire_job_arg *x) {
    memset(x, 0, sizeof *x);
    if (!bin_has(r, 1)) return bin_bad(r, "a launch argument cut short");
    char type = *r->p++;
    if (type == 'b') {
        at where = {i, (long)k, "launch"};
        if (!bin_has(r, 16)) return bin_bad(r, "a buffer argument cut short");
        static const char *const keys[] = {"buffer", "offset"};
        static const uint64_t max[] = {INT64_MAX, MB};
        uint64_t *out[] = {&x->buffer, &x->offset};
        bin_u64s(r, &where, keys, max, out, 2);
        x->is_buffer = 1;
        return 0;
    }
    if (type != 'v') return bin_bad(r, "an argument type other than 'b' or 'v'");
    if (!bin_has(r, 4)) return bin_bad(r, "a value argument cut short");
    size_t n = (size_t)bin_le(r, 4);
    if (!bin_has(r, n)) return bin_bad(r, "a value argument's bytes cut short");
    const char *v = r->p;
    r->p += n;
    if (!LIVE(r)) return 0;
    if (n == 0 || n > WIRE_JOB_MAX_VALUE) {
        JR_FAULT(r, bad_value_size, i, k, n);
        return 0;
    }
    size_t off = jr_bytes(r, n);
    if (off == (size_t)-1) {
        JR_FAULT(r, oom, 0);
        return 0;
    }
    memcpy(r->bytes.p + off, v, n);
    x->value = AS_PTR(off);
    x->len = n;
    return 0;
}

static int bin_launch(jr *r, size_t i, wire_job_step *s) {
    s->kind = 'l';
    if (!bin_has(r, 32 + 8 * 4 + 4)) return bin_bad(r, "a launch step cut short");
    lp_hex(s->module, (const unsigned char *)r->p, 32);
    r->p += 32;
    for (int g = 0; g < 2; g++)
        for (int d = 0; d < 3; d++) {
            uint32_t v = (uint32_t)bin_le(r, 4), *to = g ? &s->block[d] : &s->grid[d];
            if (v > WIRE_JOB_MAX_DIM) JR_FAULT(r, bad_dim, i, g ? "block" : "grid", d, v);
            *to = v ? v : 1;
        }
    uint32_t shared = (uint32_t)bin_le(r, 4), mds = (uint32_t)bin_le(r, 4);
    if (shared > WIRE_JOB_MAX_SHARED) JR_FAULT(r, bad_shared, i, "shared", shared);
    if (mds > WIRE_JOB_MAX_SHARED) JR_FAULT(r, bad_shared, i, "max_dynamic_shared", mds);
    s->shared = shared;
    s->max_dynamic_shared = mds;
    size_t nargs = (size_t)bin_le(r, 2), fl = (size_t)bin_le(r, 2), fn_off = (size_t)-1;
    if (!bin_has(r, fl)) return bin_bad(r, "a kernel name cut short");
    if (!name_ok(r->p, fl)) {
        JR_FAULT(r, bad_function, i, fl);
    } else if (LIVE(r)) {
        if ((fn_off = jr_bytes(r, fl + 1)) == (size_t)-1) {
            JR_FAULT(r, oom, 0);
        } else {
            memcpy(r->bytes.p + fn_off, r->p, fl);
            r->bytes.p[fn_off + fl] = 0;
        }
    }
    r->p += fl;
    s->function = AS_PTR(fn_off);
    size_t first_arg = r->args.len / sizeof(wire_job_arg);
    for (size_t k = 0; k < nargs; k++) {
        wire_job_arg x;
        if (bin_arg(r, i, k, &x)) return -1;
        if (!LIVE(r) || k >= WIRE_JOB_MAX_ARGS) continue;
        if (vec_room(&r->args, sizeof x)) {
            JR_FAULT(r, oom, 0);
            continue;
        }
        memcpy(r->args.p + r->args.len, &x, sizeof x);
        r->args.len += sizeof x;
    }
    if (nargs > WIRE_JOB_MAX_ARGS) JR_FAULT(r, too_many_args, i, nargs);
    s->args = AS_PTR(first_arg);
    s->nargs = nargs;
    return 0;
}

#undef MB

/* The binary descriptor after its magic: the seq, then the steps decoded and accounted into
 * r->steps as dec_steps does. 0, or -1 when malformed. */
static int bin_desc(jr *r, wire_job *j, uint64_t *seq, int *seq_ok, const char **data, const char *end) {
    if (!bin_has(r, 12)) return bin_bad(r, "the seq and step count cut short");
    uint64_t v = bin_le(r, 8);
    *seq_ok = v >= 1 && v <= INT64_MAX;
    *seq = *seq_ok ? v : 0;
    uint64_t n = bin_le(r, 4);
    for (uint64_t k = 0; k < n; k++) {
        if (!bin_has(r, 1)) return bin_bad(r, "the steps cut short");
        size_t i = r->nsteps++;
        wire_job_step s;
        memset(&s, 0, sizeof s);
        r->cur = (long)i;
        char kind = *r->p++;
        int rc = kind == 'w' || kind == 'r' ? bin_rw(r, i, &s, kind == 'w')
                 : kind == 'l'              ? bin_launch(r, i, &s)
                 : kind == 'm'              ? bin_memset(r, i, &s)
                 : kind == 'c'              ? bin_copy(r, i, &s)
                 : kind == 'e'              ? (s.kind = 'e', 0)
                                            : bin_bad(r, "a step kind other than w, r, l, m, c, e");
        if (rc) return -1;
        dec_step_keep(r, j, &s, i, data, end);
    }
    if (r->p != r->end) return bin_bad(r, "bytes after the last step");
    return 0;
}

/* ---- the JSON form of a binary descriptor (liblepton's HTTP path: workers before the stream
 * read JSON only) ---- */

static int jo_put(lp_buf *o, const char *s, size_t n) {
    return lp_buf_append(o, s, n, WIRE_JOB_MAX_BODY) == 0 ? 0 : WIRE_JOB_ENOMEM;
}

static int jo_str(lp_buf *o, const char *s) { return jo_put(o, s, strlen(s)); }

static int jo_u64(lp_buf *o, uint64_t v) {
    char d[20], *b = digits(v, d + sizeof d);
    return jo_put(o, b, (size_t)(d + sizeof d - b));
}

/* `"key":v` for each of n u64 fields read from r, comma-separated. */
static int jo_fields(lp_buf *o, jr *r, const char *const *keys, int n, int width) {
    int rc = 0;
    for (int k = 0; k < n && !rc; k++) {
        char key[40];
        snprintf(key, sizeof key, "%s\"%s\":", k ? "," : "", keys[k]);
        rc = jo_str(o, key) || jo_u64(o, bin_le(r, width)) ? WIRE_JOB_ENOMEM : 0;
    }
    return rc;
}

/* One launch step (after its kind byte). */
static int jo_launch(lp_buf *o, jr *r) {
    if (!bin_has(r, 32 + 8 * 4 + 4)) return WIRE_JOB_EINVAL;
    char sha[65];
    lp_hex(sha, (const unsigned char *)r->p, 32);
    r->p += 32;
    uint64_t d[8];
    for (int k = 0; k < 8; k++)
        d[k] = bin_le(r, 4);
    size_t nargs = (size_t)bin_le(r, 2), fl = (size_t)bin_le(r, 2);
    if (!bin_has(r, fl)) return WIRE_JOB_EINVAL;
    int rc = jo_str(o, "{\"launch\":{\"module\":\"") || jo_str(o, sha) || jo_str(o, "\",\"function\":\"") ||
             lp_buf_reserve(o, 6 * fl, WIRE_JOB_MAX_BODY);
    if (!rc) {
        o->len += text_copy(o->p + o->len, 6 * fl, (const unsigned char *)r->p, fl, 1);
        o->p[o->len] = 0;
    }
    r->p += fl;
    if (!rc) rc = jo_str(o, "\"");
    static const char *const keys[] = {"grid", "block"};
    for (int g = 0; g < 2 && !rc; g++) {
        char t[96];
        snprintf(t, sizeof t, ",\"%s\":[%" PRIu64 ",%" PRIu64 ",%" PRIu64 "]", keys[g], d[3 * g],
                 d[3 * g + 1], d[3 * g + 2]);
        rc = jo_str(o, t);
    }
    if (!rc) rc = jo_str(o, ",\"shared\":") || jo_u64(o, d[6]);
    if (!rc && d[7]) rc = jo_str(o, ",\"max_dynamic_shared\":") || jo_u64(o, d[7]);
    if (!rc) rc = jo_str(o, ",\"args\":[");
    for (size_t k = 0; k < nargs && !rc; k++) {
        if (!bin_has(r, 1)) return WIRE_JOB_EINVAL;
        char type = *r->p++;
        if (k) rc = jo_str(o, ",");
        if (rc) break;
        if (type == 'b') {
            static const char *const bk[] = {"buffer", "offset"};
            if (!bin_has(r, 16)) return WIRE_JOB_EINVAL;
            rc = jo_str(o, "{") || jo_fields(o, r, bk, 2, 8) || jo_str(o, "}");
        } else if (type == 'v') {
            if (!bin_has(r, 4)) return WIRE_JOB_EINVAL;
            size_t n = (size_t)bin_le(r, 4);
            if (!bin_has(r, n)) return WIRE_JOB_EINVAL;
            rc = jo_str(o, "{\"value\":\"") || lp_buf_reserve(o, (n + 2) / 3 * 4 + 1, WIRE_JOB_MAX_BODY);
            if (!rc) o->len += lp_b64_encode((const unsigned char *)r->p, n, o->p + o->len);
            r->p += n;
            if (!rc) rc = jo_str(o, "\"}");
        } else {
            return WIRE_JOB_EINVAL;
        }
    }
    return rc || jo_str(o, "]}}") ? WIRE_JOB_ENOMEM : 0;
}

int wire_job_json_of(const char *desc, size_t n, lp_buf *out) {
    jr r = {.p = desc, .end = desc + n, .start = desc};
    if (n < BIN_HEAD || memcmp(desc, WIRE_JOB_BIN_MAGIC, 4)) return WIRE_JOB_EINVAL;
    r.p += 4;
    uint64_t seq = bin_le(&r, 8), nsteps = bin_le(&r, 4);
    int rc =
        jo_str(out, "{\"seq\":") || jo_u64(out, seq) || jo_str(out, ",\"steps\":[") ? WIRE_JOB_ENOMEM : 0;
    static const char *const rw[] = {"buffer", "offset", "size"};
    static const char *const m1[] = {"buffer", "offset"}, *const m2[] = {"width", "value"},
                             *const m3[] = {"count", "pitch", "height"};
    static const char *const cp[] = {"buffer", "offset", "src_buffer", "src_offset",
                                     "size",   "pitch",  "src_pitch",  "height"};
    for (uint64_t i = 0; i < nsteps && !rc; i++) {
        if (!bin_has(&r, 1)) return WIRE_JOB_EINVAL;
        char kind = *r.p++;
        if (i && jo_str(out, ",")) return WIRE_JOB_ENOMEM;
        switch (kind) {
        case 'w':
        case 'r':
            if (!bin_has(&r, 24)) return WIRE_JOB_EINVAL;
            rc = jo_str(out, kind == 'w' ? "{\"write\":{" : "{\"read\":{") || jo_fields(out, &r, rw, 3, 8) ||
                 jo_str(out, "}}");
            break;
        case 'l':
            rc = jo_launch(out, &r);
            break;
        case 'm':
            if (!bin_has(&r, 48)) return WIRE_JOB_EINVAL;
            rc = jo_str(out, "{\"memset\":{") || jo_fields(out, &r, m1, 2, 8) || jo_str(out, ",") ||
                 jo_fields(out, &r, m2, 2, 4) || jo_str(out, ",") || jo_fields(out, &r, m3, 3, 8) ||
                 jo_str(out, "}}");
            break;
        case 'c':
            if (!bin_has(&r, 64)) return WIRE_JOB_EINVAL;
            rc = jo_str(out, "{\"copy\":{") || jo_fields(out, &r, cp, 8, 8) || jo_str(out, "}}");
            break;
        case 'e':
            rc = jo_str(out, "{\"event\":{}}");
            break;
        default:
            return WIRE_JOB_EINVAL;
        }
        if (rc) rc = rc == WIRE_JOB_EINVAL ? rc : WIRE_JOB_ENOMEM;
    }
    if (rc) return rc;
    if (r.p != r.end) return WIRE_JOB_EINVAL;
    return jo_str(out, "]}") ? WIRE_JOB_ENOMEM : 0;
}

int wire_job_decode(const char *body, size_t len, wire_job *j, long *step, char *msg, size_t ms) {
    memset(j, 0, sizeof *j);
    *step = -1;
    if (len > WIRE_JOB_MAX_BODY) return too_large_body(msg, ms, len);
    if (len < 4)
        return say(msg, ms, WIRE_JOB_EINVAL,
                   "a job body starts with a 4-byte little-endian length of its JSON descriptor");
    uint32_t n = wire_get_le32(body);
    /* a length past the body is a malformed body (400) before it is a large descriptor (413) */
    if (n == 0 || n > len - 4)
        return say(msg, ms, WIRE_JOB_EINVAL,
                   "the job descriptor length %" PRIu32 " does not fit the body of %zu bytes", n, len);
    if (n > WIRE_JOB_MAX_DESCRIPTOR) return too_large_descriptor(msg, ms, n);
    /* inline room for a small job: no allocation until the arena */
    char steps_inl[4 * sizeof(wire_job_step)], args_inl[8 * sizeof(wire_job_arg)], bytes_inl[256];
    jr r = {.p = body + 4, .end = body + 4 + n, .start = body + 4, .msg = msg, .ms = ms, .cur = -1};
    r.steps = (vec){steps_inl, 0, sizeof steps_inl, steps_inl};
    r.args = (vec){args_inl, 0, sizeof args_inl, args_inl};
    r.bytes = (vec){bytes_inl, 0, sizeof bytes_inl, bytes_inl};
    const char *data = r.end, *end = body + len;
    uint64_t seq = 0;
    int seq_ok = 0, rc = 0;
    if (n >= 4 && !memcmp(r.p, WIRE_JOB_BIN_MAGIC, 4)) {
        j->binary = 1;
        r.p += 4;
        if (bin_desc(&r, j, &seq, &seq_ok, &data, end)) goto fail;
    } else if (dec_json(&r, j, &seq, &seq_ok, &data, end)) {
        goto fail;
    }
    if (!seq_ok) {
        say(msg, ms, WIRE_JOB_EINVAL, "field 'seq' is required: the job's number on this GPU, from 1");
        goto fail;
    }
    /* From here on the job has a seq: a fault fails it in its turn. */
    j->seq = seq;
    if (r.nsteps > WIRE_JOB_MAX_STEPS) { /* this limit wins over any fault in the steps */
        r.rc = too_many_steps(msg, ms);
        r.rc_step = -1;
    }
    if (!r.rc && data != end) {
        r.rc = say(msg, ms, WIRE_JOB_EINVAL,
                   "the body holds %zu bytes after the descriptor; the write steps take %zu",
                   (size_t)(end - (body + 4 + n)), (size_t)(data - (body + 4 + n)));
        r.rc_step = -1;
    }
    if (r.rc) {
        rc = r.rc;
        *step = r.rc_step;
    } else {
        rc = dec_arena(&r, j, msg, ms);
    }
    goto out;
fail:
    rc = WIRE_JOB_EINVAL;
    j->seq = 0;
    j->write_total = j->read_total = 0;
out:
    if (rc) {
        j->write_total = j->read_total = 0;
        j->nevents = 0;
        if (!j->seq) *step = -1;
    }
    vec_free(&r.steps);
    vec_free(&r.args);
    vec_free(&r.bytes);
    lp_buf_free(&r.scratch);
    return rc;
}

void wire_job_free(wire_job *j) {
    if (!j) return;
    free(j->arena);
    memset(j, 0, sizeof *j);
}

/* ---- results ---- */

/* Length of a valid UTF-8 sequence at s (n bytes left), or 0. */
static size_t utf8_seq(const unsigned char *s, size_t n) {
    size_t k;
    uint32_t cp;
    if (s[0] < 0xc2) return 0;
    if (s[0] < 0xe0)
        k = 2, cp = s[0] & 0x1f;
    else if (s[0] < 0xf0)
        k = 3, cp = s[0] & 0x0f;
    else if (s[0] < 0xf5)
        k = 4, cp = s[0] & 0x07;
    else
        return 0;
    if (n < k) return 0;
    for (size_t i = 1; i < k; i++) {
        if ((s[i] & 0xc0) != 0x80) return 0;
        cp = cp << 6 | (s[i] & 0x3f);
    }
    if ((k == 3 && cp < 0x800) || (k == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
        (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return k;
}

typedef struct outbuf {
    char *p;
    size_t len, cap;
    int full;
} outbuf;

static void out_mem(outbuf *o, const char *s, size_t n) {
    if (o->full || o->cap - o->len < n) {
        o->full = 1;
        return;
    }
    memcpy(o->p + o->len, s, n);
    o->len += n;
}

#define OUT_LIT(o, s) out_mem((o), (s), sizeof(s) - 1)

static void out_int(outbuf *o, int64_t v) {
    char d[24], *b = digits(v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v, d + sizeof d);
    if (v < 0) *--b = '-';
    out_mem(o, b, (size_t)(d + sizeof d - b));
}

/* A JSON string of s, cut (at a character) to leave `keep` bytes of the buffer free. */
static void out_string(outbuf *o, const char *s, size_t keep) {
    OUT_LIT(o, "\"");
    if (!o->full) {
        size_t room = o->cap - o->len > keep ? o->cap - o->len - keep : 0;
        o->len += text_copy(o->p + o->len, room, (const unsigned char *)s, strlen(s), 1);
    }
    OUT_LIT(o, "\"");
}

/* Bytes of the binary result before its status, error and events (wire_job.h). */
#define RES_BIN_FIXED 73
/* Bytes of a result's error text that a reader keeps (wire_job_result.error_buf). */
#define RES_ERROR_MAX (sizeof((wire_job_result *)0)->error_buf - 1)

static size_t result_bin_encode(const wire_job_result *r, char *out, size_t cap) {
    const char *st = r->status ? r->status : "internal", *err = r->error ? r->error : "";
    size_t sl = strlen(st), nev = r->nevents < WIRE_JOB_MAX_EVENTS ? r->nevents : WIRE_JOB_MAX_EVENTS;
    if (sl > 255) sl = 255;
    if (cap < RES_BIN_FIXED + sl + 8 * nev) return 0;
    /* the error text: valid UTF-8 kept, other bytes '?', cut at a character to fit */
    size_t room = cap - RES_BIN_FIXED - sl - 8 * nev, n = strlen(err);
    if (room > RES_ERROR_MAX) room = RES_ERROR_MAX;
    size_t el = text_copy(out + RES_BIN_FIXED + sl, room, (const unsigned char *)err, n, 0);
    memcpy(out, WIRE_JOB_RES_MAGIC, 4);
    int64_t f[8] = {(int64_t)(r->seq > INT64_MAX ? 0 : r->seq),
                    r->step >= 0 ? (int64_t)r->step : -1,
                    r->queued_ns,
                    r->started_ns,
                    r->ended_ns,
                    r->instance > 0 ? r->instance : 0,
                    (int64_t)(r->output > INT64_MAX ? INT64_MAX : r->output),
                    (int64_t)(r->output_stderr > INT64_MAX ? INT64_MAX : r->output_stderr)};
    for (int k = 0; k < 8; k++)
        wire_put_le64(out + 4 + 8 * k, (uint64_t)f[k]);
    out[68] = (char)(r->restarting ? 1 : 0);
    out[69] = (char)nev;
    out[70] = (char)sl;
    out[71] = (char)(el & 0xff);
    out[72] = (char)(el >> 8);
    memcpy(out + RES_BIN_FIXED, st, sl);
    for (size_t k = 0; k < nev; k++)
        wire_put_le64(out + RES_BIN_FIXED + sl + el + 8 * k, (uint64_t)r->events[k]);
    return RES_BIN_FIXED + sl + el + 8 * nev;
}

size_t wire_job_result_encode(const wire_job_result *r, char *out, size_t cap) {
    if (r->binary) return result_bin_encode(r, out, cap);
    outbuf o = {out, 0, cap, 0};
    OUT_LIT(&o, "{\"seq\":");
    out_int(&o, (int64_t)(r->seq > INT64_MAX ? 0 : r->seq));
    OUT_LIT(&o, ",\"status\":");
    out_string(&o, r->status ? r->status : "internal", 0);
    OUT_LIT(&o, ",\"error\":");
    /* what follows the error is at most ~240 bytes, and 21 per event: keep room for it */
    size_t nev = r->nevents < WIRE_JOB_MAX_EVENTS ? r->nevents : WIRE_JOB_MAX_EVENTS;
    out_string(&o, r->error ? r->error : "", 272 + (nev ? 12 + 21 * nev : 0));
    OUT_LIT(&o, ",\"step\":");
    if (r->step >= 0)
        out_int(&o, r->step);
    else
        OUT_LIT(&o, "null");
    OUT_LIT(&o, ",\"queued_ns\":");
    out_int(&o, r->queued_ns);
    OUT_LIT(&o, ",\"started_ns\":");
    out_int(&o, r->started_ns);
    OUT_LIT(&o, ",\"ended_ns\":");
    out_int(&o, r->ended_ns);
    if (r->restarting) OUT_LIT(&o, ",\"restarting\":true");
    if (r->instance > 0) {
        OUT_LIT(&o, ",\"instance\":");
        out_int(&o, r->instance);
    }
    if (r->output) {
        OUT_LIT(&o, ",\"output\":");
        out_int(&o, (int64_t)(r->output > INT64_MAX ? INT64_MAX : r->output));
    }
    if (r->output_stderr) {
        OUT_LIT(&o, ",\"output_stderr\":");
        out_int(&o, (int64_t)(r->output_stderr > INT64_MAX ? INT64_MAX : r->output_stderr));
    }
    if (nev) {
        OUT_LIT(&o, ",\"events\":[");
        for (size_t i = 0; i < nev; i++) {
            if (i) OUT_LIT(&o, ",");
            out_int(&o, r->events[i]);
        }
        OUT_LIT(&o, "]");
    }
    OUT_LIT(&o, "}");
    return o.full ? 0 : o.len;
}

/* An integer member's value when it is one (else *is 0); anything else is read and dropped. */
static int jr_any_int(jr *r, int *is, int64_t *v) {
    int c = peek(r);
    *is = 0;
    if (c == '-' || (c >= '0' && c <= '9')) return jr_number(r, is, v);
    return jr_skip(r);
}

/* "events": an array of at most WIRE_JOB_MAX_EVENTS integers; anything else counts as absent. */
static int jr_events(jr *p, wire_job_result *r) {
    r->nevents = 0;
    if (peek(p) != '[') return jr_skip(p);
    if (jr_open(p, '[')) return -1;
    int first = 1, more, ok = 1;
    size_t n = 0;
    while ((more = jr_element(p, &first)) == 1) {
        int is = 0;
        int64_t v = 0;
        if (jr_any_int(p, &is, &v)) return -1;
        if (!is || n == WIRE_JOB_MAX_EVENTS)
            ok = 0;
        else
            r->events[n++] = v;
    }
    if (more < 0) return -1;
    p->depth--;
    r->nevents = ok ? n : 0;
    return 0;
}

/* The result's JSON, read by the same parser as descriptors (no tree). As the jansson reader it
 * replaced: a member seen twice counts its last value, a member of the wrong type counts as
 * absent (times 0, step -1, error "", no events), and only "status" is required. */
/* The binary result (wire_job.h), read with the JSON reader's rules: times, seq and instance
 * that are not positive count as absent, a step outside 0..INT32_MAX is none. */
static int result_bin_decode(const char *b, size_t n, wire_job_result *r, char *msg, size_t ms) {
    const unsigned char *u = (const unsigned char *)b;
    if (n < RES_BIN_FIXED) return say(msg, ms, WIRE_JOB_EINVAL, "the binary job result is cut short");
    size_t nev = u[69], sl = u[70], el = (size_t)u[71] | (size_t)u[72] << 8;
    if (nev > WIRE_JOB_MAX_EVENTS || n != RES_BIN_FIXED + sl + el + 8 * nev)
        return say(msg, ms, WIRE_JOB_EINVAL,
                   "the binary job result's lengths (status %zu, error %zu, %zu events) do not add up to its "
                   "%zu bytes",
                   sl, el, nev, n);
    int64_t f[8];
    for (int k = 0; k < 8; k++)
        f[k] = (int64_t)wire_get_le64(b + 4 + 8 * k);
    r->seq = f[0] > 0 ? (uint64_t)f[0] : 0;
    r->step = f[1] >= 0 && f[1] <= INT32_MAX ? (long)f[1] : -1;
    r->queued_ns = f[2] > 0 ? f[2] : 0;
    r->started_ns = f[3] > 0 ? f[3] : 0;
    r->ended_ns = f[4] > 0 ? f[4] : 0;
    r->instance = f[5] > 0 ? f[5] : 0;
    r->output = f[6] > 0 ? (uint64_t)f[6] : 0;
    r->output_stderr = f[7] > 0 ? (uint64_t)f[7] : 0;
    r->restarting = u[68] != 0;
    r->binary = 1;
    if (!sl || sl >= sizeof r->status_buf || !text_ok(b + RES_BIN_FIXED, sl))
        return say(msg, ms, WIRE_JOB_EINVAL, "the job result has no usable \"status\"");
    memcpy(r->status_buf, b + RES_BIN_FIXED, sl);
    r->status_buf[sl] = 0;
    /* the error as the JSON form could carry it: a NUL or a byte that is not UTF-8 becomes '?' */
    r->error_buf[text_copy(r->error_buf, RES_ERROR_MAX, u + RES_BIN_FIXED + sl, el, 0)] = 0;
    const char *ev = b + RES_BIN_FIXED + sl + el;
    for (size_t i = 0; i < nev; i++)
        r->events[i] = (int64_t)wire_get_le64(ev + 8 * i);
    r->nevents = nev;
    return 0;
}

int wire_job_result_decode(const char *json, size_t n, wire_job_result *r, char *msg, size_t ms) {
    memset(r, 0, offsetof(wire_job_result, status_buf));
    r->status_buf[0] = r->error_buf[0] = 0;
    r->status = r->status_buf;
    r->error = r->error_buf;
    r->step = -1;
    if (n > WIRE_JOB_MAX_RESULT)
        return say(msg, ms, WIRE_JOB_EINVAL,
                   "the job result is %zu bytes; the limit is %d (WIRE_JOB_MAX_RESULT)", n,
                   WIRE_JOB_MAX_RESULT);
    if (n >= 4 && !memcmp(json, WIRE_JOB_RES_MAGIC, 4)) return result_bin_decode(json, n, r, msg, ms);
    char why[160];
    jr p = {.p = json, .end = json + n, .start = json, .msg = why, .ms = sizeof why, .cur = -1};
    int status_ok = 0, first = 1, more = -1;
    const char *key;
    size_t kn;
    if (peek(&p) != '{' || jr_open(&p, '{')) goto bad;
    while ((more = jr_member(&p, &first, &key, &kn)) == 1) {
        int is = 0;
        int64_t v = 0;
        if (key_is(key, kn, "status") || key_is(key, kn, "error")) {
            int st = key[0] == 's';
            if (peek(&p) != '"') {
                if (jr_skip(&p)) goto bad;
                if (st)
                    status_ok = 0;
                else
                    r->error_buf[0] = 0;
                continue;
            }
            const char *t;
            size_t tn;
            if (jr_string(&p, &t, &tn)) goto bad;
            if (st) {
                status_ok = tn && tn < sizeof r->status_buf;
                if (status_ok) memcpy(r->status_buf, t, tn), r->status_buf[tn] = 0;
            } else {
                size_t k = tn < sizeof r->error_buf - 1 ? tn : sizeof r->error_buf - 1;
                memcpy(r->error_buf, t, k);
                r->error_buf[k] = 0;
            }
        } else if (key_is(key, kn, "seq")) {
            if (jr_any_int(&p, &is, &v)) goto bad;
            r->seq = is && v > 0 ? (uint64_t)v : 0;
        } else if (key_is(key, kn, "step")) {
            if (jr_any_int(&p, &is, &v)) goto bad;
            r->step = is && v >= 0 && v <= INT32_MAX ? (long)v : -1;
        } else if (key_is(key, kn, "queued_ns") || key_is(key, kn, "started_ns") ||
                   key_is(key, kn, "ended_ns")) {
            if (jr_any_int(&p, &is, &v)) goto bad;
            int64_t *to = key[0] == 'q' ? &r->queued_ns : key[0] == 's' ? &r->started_ns : &r->ended_ns;
            *to = is && v > 0 ? v : 0;
        } else if (key_is(key, kn, "restarting")) {
            r->restarting = peek(&p) == 't';
            if (jr_skip(&p)) goto bad;
        } else if (key_is(key, kn, "events")) {
            if (jr_events(&p, r)) goto bad;
        } else if (key_is(key, kn, "instance")) {
            if (jr_any_int(&p, &is, &v)) goto bad;
            r->instance = is && v > 0 ? v : 0;
        } else if (key_is(key, kn, "output") || key_is(key, kn, "output_stderr")) {
            uint64_t *to = kn == 6 ? &r->output : &r->output_stderr;
            if (jr_any_int(&p, &is, &v)) goto bad;
            *to = is && v > 0 ? (uint64_t)v : 0;
        } else if (jr_skip(&p)) {
            goto bad;
        }
    }
    if (more < 0 || peek(&p) != -1) goto bad;
    lp_buf_free(&p.scratch);
    if (!status_ok) return say(msg, ms, WIRE_JOB_EINVAL, "the job result has no usable \"status\"");
    return 0;
bad:
    lp_buf_free(&p.scratch);
    return say(msg, ms, WIRE_JOB_EINVAL, "the job result is not a JSON object");
}
