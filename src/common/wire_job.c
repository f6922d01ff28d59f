/* wire_job.c — the job contract's codecs (wire_job.h): descriptors encoded by hand into one growable
 * buffer (no JSON tree; a small job never allocates), decoded with jansson into one arena per job;
 * results encoded by hand into the caller's buffer and decoded with jansson.
 *
 * Every limit check lives in one place per limit and is written once as a message function used by
 * both the encoder and the decoder, so a refusal reads the same on the client and on the worker.
 * No state is shared: thread-safe. */
#include "wire_job.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base64.h"
#include "wire.h"

const char *wire_job_code(int rc) {
    switch (rc) {
    case 0: return "ok";
    case WIRE_JOB_ETOOLARGE: return WIRE_TOO_LARGE;
    case WIRE_JOB_ENOMEM: return WIRE_NO_MEMORY;
    default: return WIRE_INVALID;
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

static int bad_function(char *msg, size_t ms, size_t step, size_t n) {
    if (n == 0) return say(msg, ms, WIRE_JOB_EINVAL, "steps[%zu].launch.function must name a kernel", step);
    return say(msg, ms, WIRE_JOB_ETOOLARGE,
               "steps[%zu].launch.function: a kernel name of %zu bytes is past the limit of %d bytes "
               "(WIRE_JOB_MAX_FUNCTION)",
               step, n, WIRE_JOB_MAX_FUNCTION);
}

static int bad_dim(char *msg, size_t ms, size_t step, const char *field, int i, int64_t v) {
    return say(msg, ms, WIRE_JOB_EINVAL,
               "steps[%zu].launch.%s[%d] is %" PRId64 "; it must be in 0..%u (WIRE_JOB_MAX_DIM; 0 means 1)", step,
               field, i, v, WIRE_JOB_MAX_DIM);
}

static int bad_shared(char *msg, size_t ms, size_t step, int64_t v) {
    return say(msg, ms, WIRE_JOB_EINVAL,
               "steps[%zu].launch.shared is %" PRId64 "; it must be in 0..%u (WIRE_JOB_MAX_SHARED)", step, v,
               WIRE_JOB_MAX_SHARED);
}

static int too_much_read(char *msg, size_t ms, size_t step) {
    return say(msg, ms, WIRE_JOB_ETOOLARGE,
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

/* ---- encoding ---- */

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

#define ENC_LIT(e, s) enc_mem((e), (s), sizeof(s) - 1)

/* Decimal digits of v, without snprintf (this is the hot path). */
static void enc_u64(wire_job_enc *e, uint64_t v) {
    char d[20];
    int n = 0;
    do {
        d[sizeof d - 1 - n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    enc_mem(e, d + sizeof d - n, (size_t)n);
}

static void enc_string(wire_job_enc *e, const char *s, size_t n) {
    static const char hex[] = "0123456789abcdef";
    if (!enc_room(e, n * 6 + 2)) return;
    char *o = e->p + e->len;
    *o++ = '"';
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            *o++ = '\\';
            *o++ = (char)c;
        } else if (c < 0x20) {
            memcpy(o, "\\u00", 4);
            o[4] = hex[c >> 4];
            o[5] = hex[c & 15];
            o += 6;
        } else {
            *o++ = (char)c;
        }
    }
    *o++ = '"';
    e->len = (size_t)(o - e->p);
}

/* Spaces a u64 seq's digits need at most; JSON allows them around a number. */
#define SEQ_DIGITS 20

void wire_job_enc_init(wire_job_enc *e) {
    e->p = e->inline_buf;
    e->len = 0;
    e->cap = sizeof e->inline_buf;
    e->nsteps = 0;
    e->args_left = e->nargs = 0;
    e->write_total = e->read_total = 0;
    e->failed = 0;
    e->msg[0] = 0;
    ENC_LIT(e, "{\"seq\":");
    e->seq_at = e->len;
    memset(e->p + e->len, ' ', SEQ_DIGITS);
    e->len += SEQ_DIGITS;
    ENC_LIT(e, ",\"steps\":[");
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

/* Checks that a launch's arguments are complete, then opens step e->nsteps. */
static int enc_step(wire_job_enc *e) {
    if (e->failed) return WIRE_JOB_EINVAL;
    if (e->args_left)
        return enc_fail(e, say(e->msg, sizeof e->msg, WIRE_JOB_EINVAL,
                               "steps[%zu].launch: %u arguments announced, %u given", e->nsteps - 1,
                               e->nargs, e->nargs - e->args_left));
    if (e->nsteps == WIRE_JOB_MAX_STEPS) return enc_fail(e, too_many_steps(e->msg, sizeof e->msg));
    if (e->nsteps) ENC_LIT(e, ",");
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
    if (write) {
        e->write_total += size;
    } else {
        e->read_total += size;
        if (e->read_total > WIRE_JOB_MAX_READ) return enc_fail(e, too_much_read(e->msg, sizeof e->msg, i));
    }
    if (write)
        ENC_LIT(e, "{\"write\":{\"buffer\":");
    else
        ENC_LIT(e, "{\"read\":{\"buffer\":");
    enc_u64(e, buffer);
    ENC_LIT(e, ",\"offset\":");
    enc_u64(e, offset);
    ENC_LIT(e, ",\"size\":");
    enc_u64(e, size);
    ENC_LIT(e, "}}");
    return 0;
}

static uint32_t dim1(uint32_t v) { return v ? v : 1; }

int wire_job_enc_launch(wire_job_enc *e, const char *sha, const char *function, const uint32_t grid[3],
                        const uint32_t block[3], uint32_t shared, size_t nargs) {
    int rc = enc_step(e);
    if (rc) return rc;
    size_t i = e->nsteps - 1;
    if (!sha || strlen(sha) != 64 || strspn(sha, "0123456789abcdef") != 64)
        return enc_fail(e, say(e->msg, sizeof e->msg, WIRE_JOB_EINVAL,
                               "steps[%zu].launch.module must be the module's SHA-256 (64 lowercase hex digits)",
                               i));
    size_t fl = function ? strlen(function) : 0;
    if (fl == 0 || fl > WIRE_JOB_MAX_FUNCTION) return enc_fail(e, bad_function(e->msg, sizeof e->msg, i, fl));
    for (int d = 0; d < 3; d++) {
        if (grid[d] > WIRE_JOB_MAX_DIM) return enc_fail(e, bad_dim(e->msg, sizeof e->msg, i, "grid", d, grid[d]));
        if (block[d] > WIRE_JOB_MAX_DIM)
            return enc_fail(e, bad_dim(e->msg, sizeof e->msg, i, "block", d, block[d]));
    }
    if (shared > WIRE_JOB_MAX_SHARED) return enc_fail(e, bad_shared(e->msg, sizeof e->msg, i, shared));
    if (nargs > WIRE_JOB_MAX_ARGS) return enc_fail(e, too_many_args(e->msg, sizeof e->msg, i, nargs));
    ENC_LIT(e, "{\"launch\":{\"module\":\"");
    enc_mem(e, sha, 64);
    ENC_LIT(e, "\",\"function\":");
    enc_string(e, function, fl);
    ENC_LIT(e, ",\"grid\":[");
    for (int d = 0; d < 3; d++) {
        if (d) ENC_LIT(e, ",");
        enc_u64(e, dim1(grid[d]));
    }
    ENC_LIT(e, "],\"block\":[");
    for (int d = 0; d < 3; d++) {
        if (d) ENC_LIT(e, ",");
        enc_u64(e, dim1(block[d]));
    }
    ENC_LIT(e, "],\"shared\":");
    enc_u64(e, shared);
    ENC_LIT(e, ",\"args\":[");
    e->nargs = e->args_left = (uint32_t)nargs;
    if (!nargs) ENC_LIT(e, "]}}");
    return 0;
}

/* Opens the next argument of the open launch. */
static int enc_arg(wire_job_enc *e) {
    if (e->failed) return WIRE_JOB_EINVAL;
    if (!e->args_left)
        return enc_fail(e, say(e->msg, sizeof e->msg, WIRE_JOB_EINVAL,
                               "steps[%zu]: an argument that no launch announced", e->nsteps ? e->nsteps - 1 : 0));
    if (e->args_left != e->nargs) ENC_LIT(e, ",");
    return 0;
}

static void enc_arg_done(wire_job_enc *e) {
    if (--e->args_left == 0) ENC_LIT(e, "]}}");
}

int wire_job_enc_arg_buffer(wire_job_enc *e, uint64_t buffer, uint64_t offset) {
    int rc = enc_arg(e);
    if (rc) return rc;
    if (buffer > INT64_MAX || offset > WIRE_JOB_MAX_BUFFER)
        return enc_fail(e, say(e->msg, sizeof e->msg, WIRE_JOB_EINVAL,
                               "steps[%zu].launch.args[%u]: offset %" PRIu64 " is past %llu (WIRE_JOB_MAX_BUFFER)",
                               e->nsteps - 1, e->nargs - e->args_left, offset, WIRE_JOB_MAX_BUFFER));
    ENC_LIT(e, "{\"buffer\":");
    enc_u64(e, buffer);
    ENC_LIT(e, ",\"offset\":");
    enc_u64(e, offset);
    ENC_LIT(e, "}");
    enc_arg_done(e);
    return 0;
}

int wire_job_enc_arg_value(wire_job_enc *e, const void *value, size_t size) {
    int rc = enc_arg(e);
    if (rc) return rc;
    if (size == 0 || size > WIRE_JOB_MAX_VALUE)
        return enc_fail(e, bad_value_size(e->msg, sizeof e->msg, e->nsteps - 1, e->nargs - e->args_left, size));
    ENC_LIT(e, "{\"value\":\"");
    if (enc_room(e, (size + 2) / 3 * 4 + 1)) e->len += lp_b64_encode(value, size, e->p + e->len);
    ENC_LIT(e, "\"}");
    enc_arg_done(e);
    return 0;
}

int wire_job_enc_finish(wire_job_enc *e) {
    if (e->failed) return e->msg[0] && strstr(e->msg, "out of memory") ? WIRE_JOB_ENOMEM : WIRE_JOB_EINVAL;
    if (e->args_left)
        return enc_fail(e, say(e->msg, sizeof e->msg, WIRE_JOB_EINVAL,
                               "steps[%zu].launch: %u arguments announced, %u given", e->nsteps - 1, e->nargs,
                               e->nargs - e->args_left));
    ENC_LIT(e, "]}");
    if (e->failed) return WIRE_JOB_ENOMEM;
    if (e->len > WIRE_JOB_MAX_DESCRIPTOR) return enc_fail(e, too_large_descriptor(e->msg, sizeof e->msg, e->len));
    uint64_t body = 4 + (uint64_t)e->len + e->write_total;
    if (body > WIRE_JOB_MAX_BODY) return enc_fail(e, too_large_body(e->msg, sizeof e->msg, body));
    return 0;
}

void wire_job_enc_seq(char *desc, size_t seq_at, uint64_t seq) {
    char d[SEQ_DIGITS];
    int n = 0;
    do {
        d[SEQ_DIGITS - 1 - n++] = (char)('0' + seq % 10);
        seq /= 10;
    } while (seq);
    memcpy(desc + seq_at, d + SEQ_DIGITS - n, (size_t)n);
}

/* ---- decoding ---- */

static uint32_t le32(const void *p) {
    const unsigned char *u = p;
    return (uint32_t)u[0] | (uint32_t)u[1] << 8 | (uint32_t)u[2] << 16 | (uint32_t)u[3] << 24;
}

/* An integer field in 0..max; absent or null is 0 unless required. */
static int get_u64(const json_t *o, const char *k, int required, uint64_t max, uint64_t *out, char *msg,
                   size_t ms, const char *where) {
    const json_t *v = json_object_get(o, k);
    *out = 0;
    if (!v || json_is_null(v)) {
        if (!required) return 0;
        return say(msg, ms, WIRE_JOB_EINVAL, "%s: field '%s' is required", where, k);
    }
    if (!json_is_integer(v) || json_integer_value(v) < 0 || (uint64_t)json_integer_value(v) > max)
        return say(msg, ms, WIRE_JOB_EINVAL, "%s: field '%s' must be an integer in 0..%" PRIu64, where, k, max);
    *out = (uint64_t)json_integer_value(v);
    return 0;
}

static int get_dim3(const json_t *o, const char *k, uint32_t d[3], size_t step, char *msg, size_t ms) {
    d[0] = d[1] = d[2] = 1;
    const json_t *a = json_object_get(o, k);
    if (!a || json_is_null(a)) return 0;
    if (!json_is_array(a) || json_array_size(a) > 3)
        return say(msg, ms, WIRE_JOB_EINVAL, "steps[%zu].launch.%s must be an array of 1 to 3 integers", step, k);
    for (size_t i = 0; i < json_array_size(a); i++) {
        const json_t *v = json_array_get(a, i);
        if (!json_is_integer(v))
            return say(msg, ms, WIRE_JOB_EINVAL, "steps[%zu].launch.%s[%zu] must be an integer", step, k, i);
        json_int_t x = json_integer_value(v);
        if (x < 0 || (uint64_t)x > WIRE_JOB_MAX_DIM) return bad_dim(msg, ms, step, k, (int)i, (int64_t)x);
        d[i] = x ? (uint32_t)x : 1;
    }
    return 0;
}

/* Bytes a base64 (or base64url) text of n characters decodes to. */
static size_t b64_len(const char *s, size_t n) {
    while (n && s[n - 1] == '=')
        n--;
    return n / 4 * 3 + (n % 4 ? n % 4 - 1 : 0);
}

/* Bytes the arena must hold for job d's steps: a bound computed before anything is checked (every
 * count is capped at its limit, as anything past it is refused before it is stored). */
#define R8(n) (((n) + 7) & ~(size_t)7) /* every piece of the arena stays 8-byte aligned */

typedef struct sizes {
    size_t steps, args, bytes;
} sizes;

static void arena_sizes(const json_t *steps, sizes *z) {
    size_t ns = json_array_size(steps);
    z->steps = ns;
    for (size_t i = 0; i < ns; i++) {
        const json_t *la = json_object_get(json_array_get(steps, i), "launch");
        if (!la) continue;
        const json_t *fv = json_object_get(la, "function");
        if (json_is_string(fv) && json_string_length(fv) <= WIRE_JOB_MAX_FUNCTION)
            z->bytes += R8(json_string_length(fv) + 1);
        const json_t *args = json_object_get(la, "args");
        size_t na = json_array_size(args);
        if (na > WIRE_JOB_MAX_ARGS) na = 0;
        z->args += na;
        for (size_t k = 0; k < na; k++) {
            const json_t *v = json_object_get(json_array_get(args, k), "value");
            size_t bl = json_string_length(v);
            size_t dl = b64_len(json_string_value(v) ? json_string_value(v) : "", bl);
            if (json_is_string(v) && dl <= WIRE_JOB_MAX_VALUE) z->bytes += R8(dl + 3);
        }
    }
}

typedef struct arena {
    char *p;
    size_t used, cap;
} arena;

static void *arena_take(arena *a, size_t n) {
    n = R8(n);
    if (a->cap - a->used < n) return NULL; /* cannot happen: sized by arena_sizes */
    void *p = a->p + a->used;
    a->used += n;
    return p;
}

static int decode_launch(const json_t *l, wire_job_step *s, size_t i, arena *ar, char *msg, size_t ms) {
    const json_t *mv = json_object_get(l, "module"), *fv = json_object_get(l, "function");
    const char *mod = json_string_value(mv);
    if (!mod || json_string_length(mv) != 64 || strspn(mod, "0123456789abcdef") != 64)
        return say(msg, ms, WIRE_JOB_EINVAL,
                   "steps[%zu].launch.module must be the module's SHA-256 (64 lowercase hex digits)", i);
    memcpy(s->module, mod, 65);
    const char *fn = json_string_value(fv);
    size_t fl = fn ? json_string_length(fv) : 0;
    if (fl == 0 || fl > WIRE_JOB_MAX_FUNCTION) return bad_function(msg, ms, i, fl);
    if (strlen(fn) != fl) return say(msg, ms, WIRE_JOB_EINVAL, "steps[%zu].launch.function holds a NUL", i);
    char *name = arena_take(ar, fl + 1);
    if (!name) return say(msg, ms, WIRE_JOB_ENOMEM, "out of memory");
    memcpy(name, fn, fl + 1);
    s->function = name;
    uint64_t shared = 0;
    int rc;
    if ((rc = get_dim3(l, "grid", s->grid, i, msg, ms)) || (rc = get_dim3(l, "block", s->block, i, msg, ms)))
        return rc;
    const json_t *sv = json_object_get(l, "shared");
    if (sv && !json_is_null(sv)) {
        if (!json_is_integer(sv)) return say(msg, ms, WIRE_JOB_EINVAL, "steps[%zu].launch.shared must be an integer", i);
        if (json_integer_value(sv) < 0 || (uint64_t)json_integer_value(sv) > WIRE_JOB_MAX_SHARED)
            return bad_shared(msg, ms, i, (int64_t)json_integer_value(sv));
        shared = (uint64_t)json_integer_value(sv);
    }
    s->shared = (uint32_t)shared;
    const json_t *args = json_object_get(l, "args");
    if (args && !json_is_null(args) && !json_is_array(args))
        return say(msg, ms, WIRE_JOB_EINVAL, "steps[%zu].launch.args must be an array", i);
    size_t n = json_array_size(args);
    if (n > WIRE_JOB_MAX_ARGS) return too_many_args(msg, ms, i, n);
    s->args = n ? arena_take(ar, n * sizeof *s->args) : NULL;
    if (n && !s->args) return say(msg, ms, WIRE_JOB_ENOMEM, "out of memory");
    s->nargs = n;
    for (size_t k = 0; k < n; k++) {
        const json_t *a = json_array_get(args, k);
        wire_job_arg *x = &s->args[k];
        memset(x, 0, sizeof *x);
        const json_t *val = json_is_object(a) ? json_object_get(a, "value") : NULL;
        if (!json_is_object(a) || (!val && !json_object_get(a, "buffer")))
            return say(msg, ms, WIRE_JOB_EINVAL,
                       "steps[%zu].launch.args[%zu] must be {\"buffer\": ID, \"offset\": N} or {\"value\": BASE64}",
                       i, k);
        if (val) {
            const char *b64 = json_string_value(val);
            if (!b64)
                return say(msg, ms, WIRE_JOB_EINVAL, "steps[%zu].launch.args[%zu].value must be a base64 string",
                           i, k);
            size_t bl = json_string_length(val), dl = b64_len(b64, bl);
            if (dl == 0 || dl > WIRE_JOB_MAX_VALUE) return bad_value_size(msg, ms, i, k, dl);
            x->value = arena_take(ar, dl + 3);
            if (!x->value) return say(msg, ms, WIRE_JOB_ENOMEM, "out of memory");
            long got = lp_b64_decode_any(b64, bl, x->value, dl + 3);
            if (got <= 0 || (size_t)got != dl)
                return say(msg, ms, WIRE_JOB_EINVAL, "steps[%zu].launch.args[%zu].value is not base64", i, k);
            x->len = dl;
        } else {
            char where[64];
            snprintf(where, sizeof where, "steps[%zu].launch.args[%zu]", i, k);
            x->is_buffer = 1;
            if ((rc = get_u64(a, "buffer", 1, INT64_MAX, &x->buffer, msg, ms, where)) ||
                (rc = get_u64(a, "offset", 0, WIRE_JOB_MAX_BUFFER, &x->offset, msg, ms, where)))
                return rc;
        }
    }
    return 0;
}

int wire_job_decode(const char *body, size_t len, wire_job *j, long *step, char *msg, size_t ms) {
    memset(j, 0, sizeof *j);
    *step = -1;
    if (len > WIRE_JOB_MAX_BODY) return too_large_body(msg, ms, len);
    if (len < 4)
        return say(msg, ms, WIRE_JOB_EINVAL,
                   "a job body starts with a 4-byte little-endian length of its JSON descriptor");
    uint32_t n = le32(body);
    if (n > WIRE_JOB_MAX_DESCRIPTOR) return too_large_descriptor(msg, ms, n);
    if (n == 0 || n > len - 4)
        return say(msg, ms, WIRE_JOB_EINVAL, "the job descriptor length %" PRIu32 " does not fit the body of %zu bytes",
                   n, len);
    json_error_t je;
    json_t *d = json_loadb(body + 4, n, JSON_REJECT_DUPLICATES, &je);
    if (!json_is_object(d)) {
        say(msg, ms, WIRE_JOB_EINVAL, "the job descriptor is not a JSON object: %s", d ? "wrong type" : je.text);
        json_decref(d);
        return WIRE_JOB_EINVAL;
    }
    const json_t *sq = json_object_get(d, "seq");
    if (!json_is_integer(sq) || json_integer_value(sq) < 1) {
        json_decref(d);
        return say(msg, ms, WIRE_JOB_EINVAL, "field 'seq' is required: the job's number on this GPU, from 1");
    }
    /* From here on the job has a seq: a fault fails it in its turn. */
    j->seq = (uint64_t)json_integer_value(sq);
    int rc = 0;
    const char *data = body + 4 + n, *end = body + len;
    const json_t *steps = json_object_get(d, "steps");
    if (steps && !json_is_null(steps) && !json_is_array(steps)) {
        rc = say(msg, ms, WIRE_JOB_EINVAL, "field 'steps' must be an array");
        goto out;
    }
    size_t ns = json_array_size(steps);
    if (ns > WIRE_JOB_MAX_STEPS) {
        rc = too_many_steps(msg, ms);
        goto out;
    }
    sizes z = {0, 0, 0};
    arena_sizes(steps, &z);
    arena ar = {NULL, 0, z.steps * sizeof(wire_job_step) + z.args * sizeof(wire_job_arg) + z.bytes};
    if (ar.cap && !(ar.p = j->arena = malloc(ar.cap))) {
        rc = say(msg, ms, WIRE_JOB_ENOMEM, "out of memory (%zu bytes for the job's steps)", ar.cap);
        goto out;
    }
    j->steps = ns ? arena_take(&ar, ns * sizeof *j->steps) : NULL;
    if (ns) memset(j->steps, 0, ns * sizeof *j->steps);
    j->nsteps = ns;
    for (size_t i = 0; i < ns; i++) {
        const json_t *st = json_array_get(steps, i);
        wire_job_step *s = &j->steps[i];
        const json_t *wr = json_object_get(st, "write"), *rd = json_object_get(st, "read"),
                     *la = json_object_get(st, "launch");
        *step = (long)i;
        if (!json_is_object(st) || (!!wr + !!rd + !!la) != 1) {
            rc = say(msg, ms, WIRE_JOB_EINVAL, "steps[%zu] must be an object with one of write, launch, read", i);
            goto out;
        }
        if (la) {
            s->kind = 'l';
            if (!json_is_object(la)) {
                rc = say(msg, ms, WIRE_JOB_EINVAL, "steps[%zu].launch must be an object", i);
                goto out;
            }
            if ((rc = decode_launch(la, s, i, &ar, msg, ms))) goto out;
            continue;
        }
        const json_t *o = wr ? wr : rd;
        s->kind = wr ? 'w' : 'r';
        char where[48];
        snprintf(where, sizeof where, "steps[%zu].%s", i, wr ? "write" : "read");
        if (!json_is_object(o)) {
            rc = say(msg, ms, WIRE_JOB_EINVAL, "%s must be an object", where);
            goto out;
        }
        if ((rc = get_u64(o, "buffer", 1, INT64_MAX, &s->buffer, msg, ms, where)) ||
            (rc = get_u64(o, "offset", 0, WIRE_JOB_MAX_BUFFER, &s->offset, msg, ms, where)) ||
            (rc = get_u64(o, "size", 1, WIRE_JOB_MAX_BUFFER, &s->size, msg, ms, where)))
            goto out;
        if (wr) {
            if (s->size > (uint64_t)(end - data)) {
                rc = say(msg, ms, WIRE_JOB_EINVAL, "steps[%zu].write needs %" PRIu64 " bytes; the body has %zu left", i,
                         s->size, (size_t)(end - data));
                goto out;
            }
            s->data = data;
            data += s->size;
            j->write_total += s->size;
        } else {
            s->out_off = j->read_total;
            j->read_total += s->size;
            if (j->read_total > WIRE_JOB_MAX_READ) {
                rc = too_much_read(msg, ms, i);
                goto out;
            }
        }
    }
    if (data != end) {
        *step = -1;
        rc = say(msg, ms, WIRE_JOB_EINVAL, "the body holds %zu bytes after the descriptor; the write steps take %zu",
                 (size_t)(end - (body + 4 + n)), (size_t)(data - (body + 4 + n)));
    }
out:
    json_decref(d);
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
    if (s[0] < 0xe0) k = 2, cp = s[0] & 0x1f;
    else if (s[0] < 0xf0) k = 3, cp = s[0] & 0x0f;
    else if (s[0] < 0xf5) k = 4, cp = s[0] & 0x07;
    else return 0;
    if (n < k) return 0;
    for (size_t i = 1; i < k; i++) {
        if ((s[i] & 0xc0) != 0x80) return 0;
        cp = cp << 6 | (s[i] & 0x3f);
    }
    if ((k == 3 && cp < 0x800) || (k == 4 && (cp < 0x10000 || cp > 0x10ffff)) || (cp >= 0xd800 && cp <= 0xdfff))
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
    char d[24];
    int n = 0;
    uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    do {
        d[sizeof d - 1 - n++] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0) d[sizeof d - 1 - n++] = '-';
    out_mem(o, d + sizeof d - n, (size_t)n);
}

/* A JSON string of s, cut (at a character) to leave `keep` bytes of the buffer free. */
static void out_string(outbuf *o, const char *s, size_t keep) {
    static const char hex[] = "0123456789abcdef";
    OUT_LIT(o, "\"");
    const unsigned char *u = (const unsigned char *)s;
    size_t n = strlen(s);
    for (size_t i = 0; i < n && !o->full;) {
        char e[8];
        size_t el, adv = 1;
        const char *src = e;
        if (u[i] == '"' || u[i] == '\\') {
            e[0] = '\\', e[1] = (char)u[i], el = 2;
        } else if (u[i] < 0x20) {
            memcpy(e, "\\u00", 4);
            e[4] = hex[u[i] >> 4], e[5] = hex[u[i] & 15], el = 6;
        } else if (u[i] < 0x80) {
            e[0] = (char)u[i], el = 1;
        } else if ((adv = utf8_seq(u + i, n - i)) != 0) {
            src = s + i, el = adv;
        } else {
            e[0] = '?', el = 1, adv = 1;
        }
        if (o->cap - o->len < el + keep) break; /* cut: the rest of the JSON must fit */
        out_mem(o, src, el);
        i += adv;
    }
    OUT_LIT(o, "\"");
}

size_t wire_job_result_encode(const wire_job_result *r, char *out, size_t cap) {
    outbuf o = {out, 0, cap, 0};
    OUT_LIT(&o, "{\"seq\":");
    out_int(&o, (int64_t)(r->seq > INT64_MAX ? 0 : r->seq));
    OUT_LIT(&o, ",\"status\":");
    out_string(&o, r->status ? r->status : "internal", 0);
    OUT_LIT(&o, ",\"error\":");
    /* what follows the error is at most ~130 bytes: keep room for it */
    out_string(&o, r->error ? r->error : "", 160);
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
    OUT_LIT(&o, "}");
    return o.full ? 0 : o.len;
}

static int64_t get_ns(const json_t *o, const char *k) {
    json_int_t v = json_integer_value(json_object_get(o, k));
    return v > 0 ? (int64_t)v : 0;
}

int wire_job_result_decode(const char *json, size_t n, wire_job_result *r, char *msg, size_t ms) {
    memset(r, 0, offsetof(wire_job_result, status_buf));
    r->status_buf[0] = r->error_buf[0] = 0;
    r->status = r->status_buf;
    r->error = r->error_buf;
    r->step = -1;
    if (n > WIRE_JOB_MAX_RESULT)
        return say(msg, ms, WIRE_JOB_EINVAL, "the job result is %zu bytes; the limit is %d (WIRE_JOB_MAX_RESULT)", n,
                   WIRE_JOB_MAX_RESULT);
    json_t *o = json_loadb(json, n, 0, NULL);
    if (!json_is_object(o)) {
        json_decref(o);
        return say(msg, ms, WIRE_JOB_EINVAL, "the job result is not a JSON object");
    }
    const json_t *st = json_object_get(o, "status");
    if (!json_is_string(st) || !json_string_length(st) || json_string_length(st) >= sizeof r->status_buf) {
        json_decref(o);
        return say(msg, ms, WIRE_JOB_EINVAL, "the job result has no usable \"status\"");
    }
    memcpy(r->status_buf, json_string_value(st), json_string_length(st) + 1);
    const char *err = json_string_value(json_object_get(o, "error"));
    if (err) snprintf(r->error_buf, sizeof r->error_buf, "%s", err);
    json_int_t seq = json_integer_value(json_object_get(o, "seq"));
    r->seq = seq > 0 ? (uint64_t)seq : 0;
    const json_t *sp = json_object_get(o, "step");
    if (json_is_integer(sp) && json_integer_value(sp) >= 0 && json_integer_value(sp) <= INT32_MAX)
        r->step = (long)json_integer_value(sp);
    r->queued_ns = get_ns(o, "queued_ns");
    r->started_ns = get_ns(o, "started_ns");
    r->ended_ns = get_ns(o, "ended_ns");
    r->restarting = json_is_true(json_object_get(o, "restarting"));
    json_decref(o);
    return 0;
}
