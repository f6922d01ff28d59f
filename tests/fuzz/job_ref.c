/* job_ref.c — the reference decoder of a job body for fuzz_job: the jansson-based decoder that
 * wire_job.c used before its hand-written parser. fuzz_job checks that both agree on every input
 * jansson reads as JSON without duplicate keys (tests only; messages are not compared). */
#include <inttypes.h>
#include <stddef.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base64.h"
#include "job_ref.h"

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
               "steps[%zu].launch.%s[%d] is %" PRId64 "; it must be in 0..%u (WIRE_JOB_MAX_DIM; 0 means 1)",
               step, field, i, v, WIRE_JOB_MAX_DIM);
}

static int bad_shared(char *msg, size_t ms, size_t step, int64_t v) {
    return say(msg, ms, WIRE_JOB_EINVAL,
               "steps[%zu].launch.shared is %" PRId64 "; it must be in 0..%u (WIRE_JOB_MAX_SHARED)", step, v,
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
               "steps[%zu].event: more than %d event steps (WIRE_JOB_MAX_EVENTS)", step, WIRE_JOB_MAX_EVENTS);
}

/* The rows of a memset or a copy: within WIRE_JOB_MAX_BUFFER, not overlapping (as wire_job.c). */
static int check_rows(char *msg, size_t ms, const char *where, uint64_t off, uint64_t row, uint64_t pitch,
                      uint64_t height) {
    if (height > 1 && pitch < row)
        return say(msg, ms, WIRE_JOB_EINVAL, "%s: a pitch smaller than a row", where);
    /* computed in 128 bits: no overflow to reason about */
    unsigned __int128 end = (unsigned __int128)off + (unsigned __int128)(height - 1) * pitch + row;
    if (end > WIRE_JOB_MAX_BUFFER)
        return say(msg, ms, WIRE_JOB_EINVAL, "%s: rows past WIRE_JOB_MAX_BUFFER", where);
    return 0;
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
        return say(msg, ms, WIRE_JOB_EINVAL, "%s: field '%s' must be an integer in 0..%" PRIu64, where, k,
                   max);
    *out = (uint64_t)json_integer_value(v);
    return 0;
}

static int get_dim3(const json_t *o, const char *k, uint32_t d[3], size_t step, char *msg, size_t ms) {
    d[0] = d[1] = d[2] = 1;
    const json_t *a = json_object_get(o, k);
    if (!a || json_is_null(a)) return 0;
    if (!json_is_array(a) || json_array_size(a) > 3)
        return say(msg, ms, WIRE_JOB_EINVAL, "steps[%zu].launch.%s must be an array of 1 to 3 integers", step,
                   k);
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
        if (!json_is_integer(sv))
            return say(msg, ms, WIRE_JOB_EINVAL, "steps[%zu].launch.shared must be an integer", i);
        if (json_integer_value(sv) < 0 || (uint64_t)json_integer_value(sv) > WIRE_JOB_MAX_SHARED)
            return bad_shared(msg, ms, i, (int64_t)json_integer_value(sv));
        shared = (uint64_t)json_integer_value(sv);
    }
    s->shared = (uint32_t)shared;
    const json_t *mv2 = json_object_get(l, "max_dynamic_shared");
    if (mv2 && !json_is_null(mv2)) {
        if (!json_is_integer(mv2) || json_integer_value(mv2) < 0 ||
            (uint64_t)json_integer_value(mv2) > WIRE_JOB_MAX_SHARED)
            return say(msg, ms, WIRE_JOB_EINVAL, "steps[%zu].launch.max_dynamic_shared is out of range", i);
        s->max_dynamic_shared = (uint32_t)json_integer_value(mv2);
    }
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
            return say(
                msg, ms, WIRE_JOB_EINVAL,
                "steps[%zu].launch.args[%zu] must be {\"buffer\": ID, \"offset\": N} or {\"value\": BASE64}",
                i, k);
        if (val) {
            const char *b64 = json_string_value(val);
            if (!b64)
                return say(msg, ms, WIRE_JOB_EINVAL,
                           "steps[%zu].launch.args[%zu].value must be a base64 string", i, k);
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

int wire_job_decode_ref(const char *body, size_t len, wire_job *j, long *step, char *msg, size_t ms) {
    memset(j, 0, sizeof *j);
    *step = -1;
    if (len > WIRE_JOB_MAX_BODY) return too_large_body(msg, ms, len);
    if (len < 4)
        return say(msg, ms, WIRE_JOB_EINVAL,
                   "a job body starts with a 4-byte little-endian length of its JSON descriptor");
    uint32_t n = le32(body);
    if (n > WIRE_JOB_MAX_DESCRIPTOR) return too_large_descriptor(msg, ms, n);
    if (n == 0 || n > len - 4)
        return say(msg, ms, WIRE_JOB_EINVAL,
                   "the job descriptor length %" PRIu32 " does not fit the body of %zu bytes", n, len);
    json_error_t je;
    json_t *d = json_loadb(body + 4, n, JSON_REJECT_DUPLICATES, &je);
    if (!json_is_object(d)) {
        say(msg, ms, WIRE_JOB_EINVAL, "the job descriptor is not a JSON object: %s",
            d ? "wrong type" : je.text);
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
                     *la = json_object_get(st, "launch"), *ms_ = json_object_get(st, "memset"),
                     *cp = json_object_get(st, "copy"), *ev = json_object_get(st, "event");
        *step = (long)i;
        if (!json_is_object(st) || (!!wr + !!rd + !!la + !!ms_ + !!cp + !!ev) != 1) {
            rc = say(msg, ms, WIRE_JOB_EINVAL,
                     "steps[%zu] must be an object with one of write, launch, read, memset, copy, event", i);
            goto out;
        }
        if (ms_ || cp) {
            const json_t *o = ms_ ? ms_ : cp;
            char where[48];
            snprintf(where, sizeof where, "steps[%zu].%s", i, ms_ ? "memset" : "copy");
            if (!json_is_object(o)) {
                rc = say(msg, ms, WIRE_JOB_EINVAL, "%s must be an object", where);
                goto out;
            }
            if ((rc = get_u64(o, "buffer", 1, INT64_MAX, &s->buffer, msg, ms, where)) ||
                (rc = get_u64(o, "offset", 0, WIRE_JOB_MAX_BUFFER, &s->offset, msg, ms, where)) ||
                (rc = get_u64(o, "pitch", 0, WIRE_JOB_MAX_BUFFER, &s->pitch, msg, ms, where)) ||
                (rc = get_u64(o, "height", 0, WIRE_JOB_MAX_BUFFER, &s->height, msg, ms, where)))
                goto out;
            if (!s->height) s->height = 1;
            if (ms_) {
                uint64_t width, value;
                s->kind = 'm';
                if ((rc = get_u64(o, "width", 1, 4, &width, msg, ms, where)) ||
                    (rc = get_u64(o, "value", 0, UINT32_MAX, &value, msg, ms, where)) ||
                    (rc = get_u64(o, "count", 1, WIRE_JOB_MAX_BUFFER, &s->count, msg, ms, where)))
                    goto out;
                if (width != 1 && width != 2 && width != 4) {
                    rc = say(msg, ms, WIRE_JOB_EINVAL, "%s.width must be 1, 2 or 4", where);
                    goto out;
                }
                s->width = (uint32_t)width;
                s->value = (uint32_t)value;
                if (!s->pitch) s->pitch = s->count * width;
                if ((rc = check_rows(msg, ms, where, s->offset, s->count * width, s->pitch, s->height)))
                    goto out;
            } else {
                s->kind = 'c';
                if ((rc = get_u64(o, "src_buffer", 1, INT64_MAX, &s->src_buffer, msg, ms, where)) ||
                    (rc = get_u64(o, "src_offset", 0, WIRE_JOB_MAX_BUFFER, &s->src_offset, msg, ms, where)) ||
                    (rc = get_u64(o, "src_pitch", 0, WIRE_JOB_MAX_BUFFER, &s->src_pitch, msg, ms, where)) ||
                    (rc = get_u64(o, "size", 1, WIRE_JOB_MAX_BUFFER, &s->size, msg, ms, where)))
                    goto out;
                if (!s->pitch) s->pitch = s->size;
                if (!s->src_pitch) s->src_pitch = s->size;
                if ((rc = check_rows(msg, ms, where, s->offset, s->size, s->pitch, s->height)) ||
                    (rc = check_rows(msg, ms, where, s->src_offset, s->size, s->src_pitch, s->height)))
                    goto out;
            }
            continue;
        }
        if (ev) {
            s->kind = 'e';
            if (!json_is_object(ev)) {
                rc = say(msg, ms, WIRE_JOB_EINVAL, "steps[%zu].event must be an object", i);
                goto out;
            }
            if (++j->nevents > WIRE_JOB_MAX_EVENTS) {
                rc = too_many_events(msg, ms, i);
                goto out;
            }
            continue;
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
                rc = say(msg, ms, WIRE_JOB_EINVAL,
                         "steps[%zu].write needs %" PRIu64 " bytes; the body has %zu left", i, s->size,
                         (size_t)(end - data));
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
        rc = say(msg, ms, WIRE_JOB_EINVAL,
                 "the body holds %zu bytes after the descriptor; the write steps take %zu",
                 (size_t)(end - (body + 4 + n)), (size_t)(data - (body + 4 + n)));
    }
out:
    json_decref(d);
    return rc;
}

/* ---- the result ---- */

static int64_t get_ns(const json_t *o, const char *k) {
    json_int_t v = json_integer_value(json_object_get(o, k));
    return v > 0 ? (int64_t)v : 0;
}

int wire_job_result_decode_ref(const char *json, size_t n, wire_job_result *r, char *msg, size_t ms) {
    memset(r, 0, offsetof(wire_job_result, status_buf));
    r->status_buf[0] = r->error_buf[0] = 0;
    r->status = r->status_buf;
    r->error = r->error_buf;
    r->step = -1;
    if (n > WIRE_JOB_MAX_RESULT)
        return say(msg, ms, WIRE_JOB_EINVAL,
                   "the job result is %zu bytes; the limit is %d (WIRE_JOB_MAX_RESULT)", n,
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
    r->output = (uint64_t)get_ns(o, "output");
    r->output_stderr = (uint64_t)get_ns(o, "output_stderr");
    const json_t *ev = json_object_get(o, "events");
    size_t nev = json_array_size(ev), k;
    if (nev <= WIRE_JOB_MAX_EVENTS) {
        for (k = 0; k < nev && json_is_integer(json_array_get(ev, k)); k++)
            r->events[k] = (int64_t)json_integer_value(json_array_get(ev, k));
        r->nevents = k == nev ? nev : 0;
    }
    json_decref(o);
    return 0;
}
