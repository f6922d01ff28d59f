/* lc_raw.c — lc_raw.h: what the remote driver (src/remote) needs of liblepton beyond the public
 * API: a GPU's facts (GET /v1/info, fetched once per lease handle and GPU), device addresses of
 * buffers, kernels' parameter layouts and attributes (kept from the module answer, dataplane.c),
 * module globals as borrowed buffers, and jobs encoded by the caller on the wire codec, queued
 * like lepton_submit's (dp_submit.c's lc_job_enqueue) with their EVENT readings and step at fault
 * kept on the task, and the device output (kernels' printf) fetched from a GPU's worker.
 *
 * Thread safety: the facts cache lives in the lease's data plane under lc_dp.lock (a fetch runs
 * unlocked; the first one stored wins); everything else reads immutable handles or a task under
 * its own mutex. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client.h"
#include "dataplane.h"
#include "errors.h"
#include "lc_raw.h"
#include "lease.h"

/* ---- GET /v1/info ---- */

/* LEPTON_OK when a request can go to GPU `gpu` of the lease of dp, else fn's failure. */
static int gpu_usable(const char *fn, lc_dp *dp, uint32_t gpu) {
    int rc = lc_dp_usable(dp, fn);
    if (rc) return rc;
    if (gpu >= dp->nworkers)
        return lc_fail(LEPTON_EINVAL, "%s: gpu %u is not a GPU of the lease (it has %u: 0 to %u)", fn, gpu,
                       dp->nworkers, dp->nworkers - 1);
    return lc_dp_check_ended(dp, fn);
}

/* GET /v1/info on GPU `gpu` of l, parsed: *out is a new JSON object (the caller's). */
static int fetch_info(const char *fn, lepton_lease *l, uint32_t gpu, json_t **out) {
    *out = NULL;
    if (!l) return lc_fail(LEPTON_EINVAL, "%s: l is NULL", fn);
    lc_dp *dp = l->dp;
    int rc = gpu_usable(fn, dp, gpu);
    if (rc) return rc;
    lc_xfer x = {.worker = gpu, .method = "GET", .path = "/v1/info"};
    lc_dp_run(dp, &x, 1);
    char what[64];
    snprintf(what, sizeof what, "GET /v1/info on GPU %u", gpu);
    rc = lc_xfer_status(dp, fn, what, &x, 0);
    if (!rc) {
        *out = x.answer.len ? json_loadb(x.answer.p, x.answer.len, 0, NULL) : NULL;
        if (!json_is_object(*out)) {
            json_decref(*out);
            *out = NULL;
            rc = lc_fail(LEPTON_EPROTO, "%s: the worker's answer to %s is not a JSON object", fn, what);
        }
    }
    lc_xfer_done(&x);
    return rc;
}

static int hex_digit(char c) {
    return c >= '0' && c <= '9'   ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                  : -1;
}

/* The 16 bytes of "GPU-xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx" (dashes skipped); 0 or -1. */
static int uuid_bytes(const char *s, unsigned char out[16]) {
    if (strncmp(s, "GPU-", 4) == 0) s += 4;
    int n = 0;
    for (; *s && n < 32; s++) {
        if (*s == '-') continue;
        int d = hex_digit(*s);
        if (d < 0) return -1;
        if (n % 2 == 0)
            out[n / 2] = (unsigned char)(d << 4);
        else
            out[n / 2] |= (unsigned char)d;
        n++;
    }
    return n == 32 && !*s ? 0 : -1;
}

static int32_t int_or_unknown(const json_t *v) {
    if (!json_is_integer(v)) return LC_RAW_ATTR_UNKNOWN;
    json_int_t i = json_integer_value(v);
    return i > INT32_MIN && i <= INT32_MAX ? (int32_t)i : LC_RAW_ATTR_UNKNOWN;
}

static int parse_facts(const char *fn, uint32_t gpu, const json_t *j, lc_gpu_facts *f) {
    const char *name = json_string_value(json_object_get(j, "name"));
    const char *uuid = json_string_value(json_object_get(j, "uuid"));
    const json_t *total = json_object_get(j, "memory_total");
    if (!name || !uuid || !json_is_integer(total) || json_integer_value(total) < 0)
        return lc_fail(LEPTON_EPROTO, "%s: GPU %u's /v1/info answer lacks name, uuid or memory_total", fn,
                       gpu);
    snprintf(f->name, sizeof f->name, "%s", name);
    snprintf(f->uuid, sizeof f->uuid, "%s", uuid);
    if (uuid_bytes(uuid, f->uuid_bytes) != 0)
        return lc_fail(LEPTON_EPROTO, "%s: GPU %u's uuid \"%.60s\" is not GPU- and 32 hex digits", fn, gpu,
                       uuid);
    f->memory_total = (uint64_t)json_integer_value(total);
    const json_t *inst = json_object_get(j, "instance");
    f->instance =
        json_is_integer(inst) && json_integer_value(inst) > 0 ? (int64_t)json_integer_value(inst) : 0;
    int32_t dv = int_or_unknown(json_object_get(j, "driver_version"));
    f->driver_version = dv == LC_RAW_ATTR_UNKNOWN ? 0 : dv;
    const json_t *attrs = json_object_get(j, "attributes");
    for (size_t a = 0; a < LC_RAW_DEV_ATTRS; a++)
        f->attrs[a] = int_or_unknown(json_array_get(attrs, a));
    /* compute_capability, else the attributes 75 and 76 (CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_*) */
    const json_t *cc = json_object_get(j, "compute_capability");
    f->cc_major = int_or_unknown(json_array_get(cc, 0));
    f->cc_minor = int_or_unknown(json_array_get(cc, 1));
    if (f->cc_major == LC_RAW_ATTR_UNKNOWN) f->cc_major = f->attrs[75];
    if (f->cc_minor == LC_RAW_ATTR_UNKNOWN) f->cc_minor = f->attrs[76];
    if (f->cc_major == LC_RAW_ATTR_UNKNOWN || f->cc_minor == LC_RAW_ATTR_UNKNOWN)
        return lc_fail(LEPTON_EPROTO,
                       "%s: GPU %u's worker does not report its compute capability (a worker older than the "
                       "remote driver: upgrade the node's lepton-worker)",
                       fn, gpu);
    return LEPTON_OK;
}

int lc_raw_gpu_facts(lepton_lease *l, uint32_t gpu, const lc_gpu_facts **out) {
    static const char fn[] = "lc_raw_gpu_facts";
    if (!out) return lc_fail(LEPTON_EINVAL, "%s: out is NULL", fn);
    *out = NULL;
    if (l && l->dp && gpu < l->dp->nworkers) {
        pthread_mutex_lock(&l->dp->lock);
        *out = l->dp->facts ? l->dp->facts[gpu] : NULL;
        pthread_mutex_unlock(&l->dp->lock);
        if (*out) return LEPTON_OK;
    }
    json_t *j;
    int rc = fetch_info(fn, l, gpu, &j);
    if (rc) return rc;
    lc_gpu_facts *f = calloc(1, sizeof *f);
    if (!f)
        rc = lc_fail(LEPTON_ENOMEM, "%s: out of memory", fn);
    else
        rc = parse_facts(fn, gpu, j, f);
    json_decref(j);
    if (rc) {
        free(f);
        return rc;
    }
    lc_dp *dp = l->dp;
    pthread_mutex_lock(&dp->lock);
    if (!dp->facts) dp->facts = calloc(dp->nworkers, sizeof *dp->facts);
    if (dp->facts && !dp->facts[gpu]) {
        dp->facts[gpu] = f;
        f = NULL;
    }
    *out = dp->facts ? dp->facts[gpu] : NULL;
    pthread_mutex_unlock(&dp->lock);
    free(f); /* another thread stored its copy first */
    return *out ? LEPTON_OK : lc_fail(LEPTON_ENOMEM, "%s: out of memory", fn);
}

int lc_raw_mem_info(lepton_lease *l, uint32_t gpu, uint64_t *free_bytes, uint64_t *total_bytes) {
    static const char fn[] = "lc_raw_mem_info";
    if (!free_bytes || !total_bytes)
        return lc_fail(LEPTON_EINVAL, "%s: free_bytes or total_bytes is NULL", fn);
    json_t *j;
    int rc = fetch_info(fn, l, gpu, &j);
    if (rc) return rc;
    const json_t *fr = json_object_get(j, "memory_free"), *total = json_object_get(j, "memory_total");
    if (!json_is_integer(fr) || !json_is_integer(total) || json_integer_value(fr) < 0 ||
        json_integer_value(total) < 0)
        rc =
            lc_fail(LEPTON_EPROTO, "%s: GPU %u's /v1/info answer lacks memory_free or memory_total", fn, gpu);
    else {
        *free_bytes = (uint64_t)json_integer_value(fr);
        *total_bytes = (uint64_t)json_integer_value(total);
    }
    json_decref(j);
    return rc;
}

/* ---- buffers, kernels, globals ---- */

uint64_t lc_raw_buffer_address(const lepton_buffer *b) { return b ? b->address : 0; }

uint64_t lc_raw_buffer_id(const lepton_buffer *b) { return b ? b->id : 0; }
uint64_t lc_raw_buffer_size(const lepton_buffer *b) { return b ? b->size : 0; }

const lc_raw_function *lc_raw_module_functions(const lepton_module *m, size_t *count) {
    if (count) *count = m ? m->image->nfunctions : 0;
    return m ? m->image->functions : NULL;
}

/* Appends s percent-encoded (RFC 3986: all but the unreserved characters) to out[n] at *at;
 * -1 when it does not fit. */
static int path_escape(char *out, size_t n, size_t *at, const char *s) {
    static const char hex[] = "0123456789ABCDEF";
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        int plain = (*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
                    *p == '-' || *p == '.' || *p == '_' || *p == '~';
        if (*at + (plain ? 1 : 3) >= n) return -1;
        if (plain) {
            out[(*at)++] = (char)*p;
        } else {
            out[(*at)++] = '%';
            out[(*at)++] = hex[*p >> 4];
            out[(*at)++] = hex[*p & 15];
        }
    }
    out[*at] = 0;
    return 0;
}

int lc_raw_module_global(lepton_module *m, uint32_t gpu, const char *name, lepton_buffer **out) {
    static const char fn[] = "lc_raw_module_global";
    if (out) *out = NULL;
    if (!m) return lc_fail(LEPTON_EINVAL, "%s: m is NULL", fn);
    if (!name || !*name) return lc_fail(LEPTON_EINVAL, "%s: name is NULL or empty", fn);
    if (!out) return lc_fail(LEPTON_EINVAL, "%s: out is NULL", fn);
    lepton_lease *l = m->lease;
    lc_dp *dp = l->dp;
    int rc = gpu_usable(fn, dp, gpu);
    if (rc) return rc;
    lc_xfer x = {.worker = gpu, .method = "GET"};
    size_t at = (size_t)snprintf(x.path, sizeof x.path, "/v1/modules/%s/globals/", m->image->sha);
    if (path_escape(x.path, sizeof x.path, &at, name) != 0)
        return lc_fail(LEPTON_EINVAL, "%s: the global's name is too long (%zu bytes)", fn, strlen(name));
    lc_dp_run(dp, &x, 1);
    char what[160];
    snprintf(what, sizeof what, "global \"%.80s\" of module %.12s… on GPU %u", name, m->image->sha, gpu);
    rc = lc_xfer_status(dp, fn, what, &x, 0);
    /* a handle like lepton_buffer_alloc's: lepton_buffer_free's DELETE drops the worker's entry,
     * which never frees a borrowed buffer's memory */
    if (!rc) rc = lc_buffer_from_answer(fn, what, l, gpu, &x.answer, 0, out);
    lc_xfer_done(&x);
    return rc;
}

/* ---- jobs ---- */

typedef struct raw_segs {
    const lc_raw_seg *writes, *reads;
    uint32_t nwrite, nread;
} raw_segs;

static void raw_fill(lc_seg *segs, const void *ctx) {
    const raw_segs *r = ctx;
    for (uint32_t i = 0; i < r->nwrite; i++)
        segs[i] = (lc_seg){r->writes[i].host, r->writes[i].size};
    for (uint32_t i = 0; i < r->nread; i++)
        segs[r->nwrite + i] = (lc_seg){r->reads[i].host, r->reads[i].size};
}

/* The segments agree with the encoded job: as many as its steps, of the bytes they move. */
static int check_segs(const char *fn, const char *what, const lc_raw_seg *s, uint32_t n, uint32_t steps,
                      uint64_t total) {
    if (n != steps)
        return lc_fail(LEPTON_EINVAL, "%s: %u %s segments for %u %s steps", fn, n, what, steps, what);
    if (n && !s) return lc_fail(LEPTON_EINVAL, "%s: the %s segments are NULL", fn, what);
    uint64_t sum = 0;
    for (uint32_t i = 0; i < n; i++) {
        if (!s[i].host && s[i].size)
            return lc_fail(LEPTON_EINVAL, "%s: %s segment %u's host is NULL", fn, what, i);
        sum += s[i].size;
    }
    if (sum != total)
        return lc_fail(LEPTON_EINVAL,
                       "%s: the %s segments hold %" PRIu64 " bytes; the job's %s steps move %" PRIu64, fn,
                       what, sum, what, total);
    return LEPTON_OK;
}

int lc_raw_submit(lepton_lease *l, uint32_t gpu, wire_job_enc *enc, const lc_raw_seg *writes, uint32_t nwrite,
                  const lc_raw_seg *reads, uint32_t nread, lepton_task **out) {
    static const char fn[] = "lc_raw_submit";
    if (out) *out = NULL;
    if (!enc) return lc_fail(LEPTON_EINVAL, "%s: enc is NULL", fn);
    int rc = LEPTON_OK;
    if (!l)
        rc = lc_fail(LEPTON_EINVAL, "%s: l is NULL", fn);
    else if (!out)
        rc = lc_fail(LEPTON_EINVAL, "%s: out is NULL", fn);
    else if (!enc->finished || enc->failed)
        rc = lc_fail(LEPTON_EINVAL, "%s: the job is not finished (wire_job_enc_finish must return 0 first)",
                     fn);
    else if (!enc->nsteps)
        rc = lc_fail(LEPTON_EINVAL, "%s: the job has no steps", fn);
    else if (!(rc = check_segs(fn, "write", writes, nwrite, enc->nwrite, enc->write_total)))
        rc = check_segs(fn, "read", reads, nread, enc->nread, enc->read_total);
    if (!rc) rc = lc_job_target(fn, l, gpu);
    if (rc) {
        wire_job_enc_free(enc);
        return rc;
    }
    raw_segs ctx = {writes, reads, nwrite, nread};
    return lc_job_enqueue(fn, l, gpu, enc, raw_fill, &ctx, 1, out);
}

size_t lc_raw_task_events(lepton_task *t, int64_t *ns, size_t n) {
    if (!t) return 0;
    pthread_mutex_lock(&t->mu);
    size_t have = t->raw ? t->nevents : 0;
    if (ns && have && n) memcpy(ns, t->events, (have < n ? have : n) * sizeof *ns);
    pthread_mutex_unlock(&t->mu);
    return have;
}

int64_t lc_raw_task_instance(lepton_task *t) {
    if (!t) return 0;
    pthread_mutex_lock(&t->mu);
    int64_t v = t->raw ? t->instance : 0;
    pthread_mutex_unlock(&t->mu);
    return v;
}

long lc_raw_task_step(lepton_task *t) {
    if (!t) return -1;
    pthread_mutex_lock(&t->mu);
    long step = t->raw ? t->step : -1;
    pthread_mutex_unlock(&t->mu);
    return step;
}

uint64_t lc_raw_task_output(lepton_task *t, int stream) {
    if (!t || (stream != LC_RAW_STDOUT && stream != LC_RAW_STDERR)) return 0;
    pthread_mutex_lock(&t->mu);
    uint64_t v = t->raw ? t->output[stream] : 0;
    pthread_mutex_unlock(&t->mu);
    return v;
}

/* ---- device output ---- */

int lc_raw_output(lepton_lease *l, uint32_t gpu, int stream, char **out, size_t *len) {
    static const char fn[] = "lc_raw_output";
    if (out) *out = NULL;
    if (len) *len = 0;
    if (!l) return lc_fail(LEPTON_EINVAL, "%s: l is NULL", fn);
    if (!out || !len) return lc_fail(LEPTON_EINVAL, "%s: out or len is NULL", fn);
    if (stream != LC_RAW_STDOUT && stream != LC_RAW_STDERR)
        return lc_fail(LEPTON_EINVAL, "%s: stream %d is neither LC_RAW_STDOUT nor LC_RAW_STDERR", fn, stream);
    lc_dp *dp = l->dp;
    int rc = gpu_usable(fn, dp, gpu);
    if (rc) return rc;
    lc_xfer x = {.worker = gpu, .method = "GET"};
    snprintf(x.path, sizeof x.path, "/v1/output?stream=%s", stream == LC_RAW_STDOUT ? "stdout" : "stderr");
    lc_dp_run(dp, &x, 1);
    char what[80];
    snprintf(what, sizeof what, "GET /v1/output?stream=%s on GPU %u",
             stream == LC_RAW_STDOUT ? "stdout" : "stderr", gpu);
    rc = lc_xfer_status(dp, fn, what, &x, 0);
    if (!rc && x.answer.len) { /* the answer's buffer becomes the caller's */
        *out = x.answer.p;
        *len = x.answer.len;
        x.answer = (lp_buf)LP_BUF_INIT;
    }
    lc_xfer_done(&x);
    return rc;
}
