/* dataplane.c — lepton_module_load/_free and lepton_buffer_alloc/_write/_read/_free: the
 * lease's modules (identified by the SHA-256 of their image, sent only to workers that lack it,
 * with each kernel's parameter list kept for lepton_submit's checks) and its device buffers
 * (bulk bodies streamed straight from and into the caller's memory, on the worker's stream when
 * it is up: dp_stream_jobs.c's lc_stream_xfer).
 *
 * Thread safety: handles are immutable once returned; the lease's lists of handles and images
 * are guarded by lc_dp.lock, never held during I/O. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client.h"
#include "dataplane.h"
#include "errors.h"
#include "json_field.h"
#include "lease.h"
#include "sha256.h"
#include "wire_stream.h"

/* ---- modules ---- */

static void image_free(lc_image *im) {
    if (!im) return;
    for (size_t i = 0; i < im->nfunctions; i++) {
        free((char *)im->functions[i].name);
        free((uint32_t *)im->functions[i].offsets); /* one block: offsets, then sizes */
    }
    free(im->functions);
    free(im);
}

void lc_images_free(lc_dp *dp) {
    pthread_mutex_lock(&dp->lock);
    lc_image *im = dp->images;
    dp->images = NULL;
    lc_gpu_facts **facts = dp->facts;
    dp->facts = NULL;
    pthread_mutex_unlock(&dp->lock);
    for (uint32_t i = 0; facts && i < dp->nworkers; i++)
        free(facts[i]);
    free(facts);
    while (im) {
        lc_image *next = im->next;
        image_free(im);
        im = next;
    }
}

const lc_function *lc_module_function(const lepton_module *m, const char *name) {
    const lc_image *im = m->image;
    for (size_t i = 0; i < im->nfunctions; i++)
        if (!strcmp(im->functions[i].name, name)) return &im->functions[i];
    return NULL;
}

/* Reads {"functions": [{"name", "params": [{"offset", "size"}], "attributes": [...]}]} into a new
 * image ("attributes" and "offset" are absent from older workers: unknown, and offsets then
 * follow from the sizes as the ABI lays parameters out). */
static int parse_module(const char *fn, const char *sha, const lp_buf *answer, lc_image **out) {
    *out = NULL;
    json_error_t jerr;
    json_t *j = answer->len ? json_loadb(answer->p, answer->len, 0, &jerr) : NULL;
    const json_t *fns = json_object_get(j, "functions");
    if (!json_is_array(fns)) {
        json_decref(j);
        return lc_fail(LEPTON_EPROTO, "%s: the worker's answer for module %.12s has no \"functions\" array",
                       fn, sha);
    }
    lc_image *im = calloc(1, sizeof *im);
    size_t n = json_array_size(fns);
    if (im) {
        memcpy(im->sha, sha, 65);
        im->functions = calloc(n ? n : 1, sizeof *im->functions);
    }
    if (!im || !im->functions) {
        free(im);
        json_decref(j);
        return lc_fail(LEPTON_ENOMEM, "%s: out of memory", fn);
    }
    int rc = LEPTON_OK;
    for (size_t i = 0; i < n && !rc; i++) {
        const json_t *f = json_array_get(fns, i);
        const char *name = json_string_value(json_object_get(f, "name"));
        const json_t *params = json_object_get(f, "params");
        if (!name || !json_is_array(params) || json_array_size(params) > LC_DP_MAX_ARGS) {
            rc = lc_fail(LEPTON_EPROTO,
                         "%s: the worker's answer for module %.12s has a malformed function %zu", fn, sha, i);
            break;
        }
        lc_function *lf = &im->functions[im->nfunctions++];
        lf->name = strdup(name);
        lf->nparams = (uint32_t)json_array_size(params);
        uint32_t *offsets = calloc(2 * (size_t)(lf->nparams ? lf->nparams : 1), sizeof *offsets);
        uint32_t *sizes = offsets ? offsets + (lf->nparams ? lf->nparams : 1) : NULL;
        lf->offsets = offsets;
        lf->sizes = sizes;
        if (!lf->name || !offsets) {
            rc = lc_fail(LEPTON_ENOMEM, "%s: out of memory", fn);
            break;
        }
        uint32_t next = 0; /* where a parameter without an offset goes: aligned to its size */
        for (uint32_t k = 0; k < lf->nparams; k++) {
            int64_t size = -1, off = -1;
            char err[160];
            const json_t *p = json_array_get(params, k);
            if (lp_json_int(p, "size", 0, LC_DP_MAX_VALUE, &size, err, sizeof err) || size < 0 ||
                lp_json_int(p, "offset", 0, LC_DP_MAX_VALUE, &off, err, sizeof err)) {
                rc = lc_fail(LEPTON_EPROTO, "%s: module %.12s: function %s: parameter %u has no valid size",
                             fn, sha, name, k);
                break;
            }
            if (off < 0) {
                uint32_t align = size >= 8 ? 8 : size >= 4 ? 4 : size >= 2 ? 2 : 1;
                off = (next + align - 1) / align * align;
            }
            sizes[k] = (uint32_t)size;
            offsets[k] = (uint32_t)off;
            next = (uint32_t)off + (uint32_t)size;
        }
        const json_t *attrs = json_object_get(f, "attributes");
        for (size_t a = 0; a < LC_RAW_FUNC_ATTRS; a++) {
            const json_t *v = json_array_get(attrs, a);
            lf->attrs[a] = json_is_integer(v) && json_integer_value(v) >= INT32_MIN + 1 &&
                                   json_integer_value(v) <= INT32_MAX
                               ? (int32_t)json_integer_value(v)
                               : LC_RAW_ATTR_UNKNOWN;
        }
    }
    json_decref(j);
    if (rc) {
        image_free(im);
        return rc;
    }
    *out = im;
    return LEPTON_OK;
}

static lepton_module *module_handle(lepton_lease *l, lc_image *im) {
    lepton_module *m = calloc(1, sizeof *m);
    if (!m) return NULL;
    m->lease = l;
    m->image = im;
    m->next = l->dp->modules;
    if (m->next) m->next->prev = m;
    l->dp->modules = m;
    im->refs++;
    return m;
}

int lepton_module_load(lepton_lease *l, const void *image, size_t size, lepton_module **out) {
    static const char fn[] = "lepton_module_load";
    if (out) *out = NULL;
    if (!l) return lc_fail(LEPTON_EINVAL, "%s: l is NULL", fn);
    if (!out) return lc_fail(LEPTON_EINVAL, "%s: out is NULL", fn);
    if (!image) return lc_fail(LEPTON_EINVAL, "%s: image is NULL", fn);
    if (size == 0) return lc_fail(LEPTON_EINVAL, "%s: size is 0; give the PTX text, cubin or fatbin", fn);
    if (size > LC_DP_MAX_MODULE)
        return lc_fail(LEPTON_ETOOLARGE, "%s: the image is %zu bytes; the limit is %u MiB", fn, size,
                       LC_DP_MAX_MODULE >> 20);
    lc_dp *dp = l->dp;
    int rc = lc_dp_usable(dp, fn);
    if (rc) return rc;
    char sha[65];
    lp_sha256_hex(image, size, sha);

    /* Already loaded on this lease: no request at all. */
    pthread_mutex_lock(&dp->lock);
    for (lc_image *im = dp->images; im; im = im->next)
        if (!strcmp(im->sha, sha)) {
            lepton_module *m = module_handle(l, im);
            pthread_mutex_unlock(&dp->lock);
            if (!m) return lc_fail(LEPTON_ENOMEM, "%s: out of memory", fn);
            *out = m;
            return LEPTON_OK;
        }
    pthread_mutex_unlock(&dp->lock);

    /* Ask every worker whether it has the image, then send it to those that lack it. */
    uint32_t n = dp->nworkers;
    lc_xfer *x = calloc(n, sizeof *x);
    if (!x) return lc_fail(LEPTON_ENOMEM, "%s: out of memory", fn);
    for (uint32_t i = 0; i < n; i++) {
        x[i].worker = i;
        x[i].method = "GET";
        snprintf(x[i].path, sizeof x[i].path, "/v1/modules/%s", sha);
    }
    lc_dp_run(dp, x, n);
    char what[160];
    uint32_t missing = 0;
    for (uint32_t i = 0; i < n && !rc; i++) {
        snprintf(what, sizeof what, "GET /v1/modules/%.12s… on GPU %u", sha, i);
        rc = lc_xfer_status(dp, fn, what, &x[i], 404);
        if (!rc && x[i].http == 404) missing++;
    }
    if (!rc && missing) {
        lc_xfer *put = calloc(missing, sizeof *put);
        if (!put) rc = lc_fail(LEPTON_ENOMEM, "%s: out of memory", fn);
        for (uint32_t i = 0, k = 0; put && i < n; i++) {
            if (x[i].http != 404) continue;
            put[k].worker = i;
            put[k].method = "PUT";
            put[k].raw = 1;
            put[k].body = image;
            put[k].body_len = size;
            memcpy(put[k].path, x[i].path, sizeof put[k].path);
            k++;
        }
        if (put) {
            lc_dp_run(dp, put, missing);
            for (uint32_t k = 0; k < missing && !rc; k++) {
                snprintf(what, sizeof what, "loading the module on GPU %u", put[k].worker);
                rc = lc_xfer_status(dp, fn, what, &put[k], 0);
            }
            /* The answers describe the same image: keep one for the parameter lists. */
            for (uint32_t k = 0; k < missing; k++) {
                lp_buf tmp = x[put[k].worker].answer;
                x[put[k].worker].answer = put[k].answer;
                put[k].answer = tmp;
                lc_xfer_done(&put[k]);
            }
            free(put);
        }
    }
    lc_image *im = NULL;
    if (!rc) rc = parse_module(fn, sha, &x[0].answer, &im);
    for (uint32_t i = 0; i < n; i++)
        lc_xfer_done(&x[i]);
    free(x);
    if (rc) return rc;

    pthread_mutex_lock(&dp->lock);
    /* Another thread may have loaded the same image meanwhile: share its entry. */
    lc_image *same = NULL;
    for (lc_image *e = dp->images; e; e = e->next)
        if (!strcmp(e->sha, sha)) same = e;
    if (same) {
        image_free(im);
        im = same;
    } else {
        im->next = dp->images;
        dp->images = im;
    }
    lepton_module *m = module_handle(l, im);
    pthread_mutex_unlock(&dp->lock);
    if (!m) return lc_fail(LEPTON_ENOMEM, "%s: out of memory", fn);
    *out = m;
    return LEPTON_OK;
}

void lepton_module_free(lepton_module *m) {
    if (!m) return;
    lc_dp *dp = m->lease->dp;
    lc_image *im = m->image, *gone = NULL;
    pthread_mutex_lock(&dp->lock);
    if (m->prev)
        m->prev->next = m->next;
    else
        dp->modules = m->next;
    if (m->next) m->next->prev = m->prev;
    /* The last handle of an image unloads it, unless jobs are queued or running: they may use
     * it (lepton.h: tasks already submitted still complete), so it then stays on the workers
     * until the lease ends. */
    int unload = 0;
    if (--im->refs == 0) {
        for (lc_image **p = &dp->images; *p; p = &(*p)->next)
            if (*p == im) {
                *p = im->next;
                break;
            }
        gone = im;
        unload = dp->pending == 0;
    }
    pthread_mutex_unlock(&dp->lock);
    free(m);
    if (!gone) return;
    if (unload) {
        char saved[4096];
        snprintf(saved, sizeof saved, "%s", lepton_last_error());
        lc_xfer *x = calloc(dp->nworkers, sizeof *x);
        for (uint32_t i = 0; x && i < dp->nworkers; i++) {
            x[i].worker = i;
            x[i].method = "DELETE";
            snprintf(x[i].path, sizeof x[i].path, "/v1/modules/%s", gone->sha);
        }
        if (x) {
            lc_dp_run(dp, x, dp->nworkers);
            for (uint32_t i = 0; i < dp->nworkers; i++) {
                if (lc_xfer_status(dp, "lepton_module_free", "DELETE", &x[i], 404))
                    lc_log(dp->lease->client, LEPTON_LOG_WARN, "lease %s: %s", dp->lease->id,
                           lepton_last_error());
                lc_xfer_done(&x[i]);
            }
            free(x);
        }
        lc_error_set("%s", saved);
    }
    image_free(gone);
}

/* ---- buffers ---- */

int lepton_buffer_alloc(lepton_lease *l, uint32_t gpu, size_t size, lepton_buffer **out) {
    static const char fn[] = "lepton_buffer_alloc";
    if (out) *out = NULL;
    if (!l) return lc_fail(LEPTON_EINVAL, "%s: l is NULL", fn);
    if (!out) return lc_fail(LEPTON_EINVAL, "%s: out is NULL", fn);
    lc_dp *dp = l->dp;
    int rc = lc_dp_usable(dp, fn);
    if (rc) return rc;
    if (gpu >= dp->nworkers)
        return lc_fail(LEPTON_EINVAL, "%s: gpu %u is not a GPU of the lease (it has %u: 0 to %u)", fn, gpu,
                       dp->nworkers, dp->nworkers - 1);
    if (size == 0) return lc_fail(LEPTON_EINVAL, "%s: size is 0", fn);
    if ((uint64_t)size > (uint64_t)INT64_MAX)
        return lc_fail(LEPTON_ENOMEM, "%s: size %zu is larger than any GPU", fn, size);
    char body[64];
    int len = snprintf(body, sizeof body, "{\"size\":%zu}", size);
    lc_xfer x = {
        .worker = gpu, .method = "POST", .path = "/v1/buffers", .body = body, .body_len = (size_t)len};
    lc_dp_run(dp, &x, 1);
    char what[64];
    snprintf(what, sizeof what, "POST /v1/buffers on GPU %u", gpu);
    rc = lc_xfer_status(dp, fn, what, &x, 0);
    if (!rc) rc = lc_buffer_from_answer(fn, what, l, gpu, &x.answer, size, out);
    lc_xfer_done(&x);
    return rc;
}

int lc_buffer_from_answer(const char *fn, const char *what, lepton_lease *l, uint32_t gpu,
                          const lp_buf *answer, uint64_t size, lepton_buffer **out) {
    json_t *j = json_loadb(answer->p ? answer->p : "", answer->len, 0, NULL);
    const json_t *id = json_object_get(j, "buffer"), *addr = json_object_get(j, "address"),
                 *sz = json_object_get(j, "size");
    int rc = LEPTON_OK;
    lepton_buffer *b = NULL;
    if (!json_is_integer(id) || json_integer_value(id) < 0)
        rc = lc_fail(LEPTON_EPROTO, "%s: the worker's answer to %s has no buffer id", fn, what);
    else if (!size && (!json_is_integer(sz) || json_integer_value(sz) < 0))
        rc = lc_fail(LEPTON_EPROTO, "%s: the worker's answer to %s has no size", fn, what);
    else if (!(b = calloc(1, sizeof *b)))
        rc = lc_fail(LEPTON_ENOMEM, "%s: out of memory", fn);
    else {
        b->lease = l;
        b->gpu = gpu;
        b->id = (uint64_t)json_integer_value(id);
        b->size = size ? size : (uint64_t)json_integer_value(sz);
        /* a JSON integer is signed: an address past 2^63 comes back negative */
        b->address = json_is_integer(addr) ? (uint64_t)json_integer_value(addr) : 0;
    }
    json_decref(j);
    if (rc) return rc;
    lc_dp *dp = l->dp;
    pthread_mutex_lock(&dp->lock);
    b->next = dp->buffers;
    if (b->next) b->next->prev = b;
    dp->buffers = b;
    pthread_mutex_unlock(&dp->lock);
    *out = b;
    return LEPTON_OK;
}

static int check_range(const char *fn, const lepton_buffer *b, size_t offset, const void *host, size_t size,
                       const char *host_name) {
    if (!b) return lc_fail(LEPTON_EINVAL, "%s: b is NULL", fn);
    if (!host && size) return lc_fail(LEPTON_EINVAL, "%s: %s is NULL", fn, host_name);
    if (offset > b->size || size > b->size - offset)
        return lc_fail(LEPTON_EINVAL,
                       "%s: offset %zu + size %zu is past the end of buffer %" PRIu64 " (%" PRIu64 " bytes)",
                       fn, offset, size, b->id, b->size);
    return LEPTON_OK;
}

int lepton_buffer_write(lepton_buffer *b, size_t offset, const void *src, size_t size) {
    static const char fn[] = "lepton_buffer_write";
    int rc = check_range(fn, b, offset, src, size, "src");
    if (rc || size == 0) return rc;
    lc_dp *dp = b->lease->dp;
    if ((rc = lc_dp_check_ended(dp, fn))) return rc;
    lc_xfer x = {.worker = b->gpu, .method = "PUT", .raw = 1, .body = src, .body_len = size};
    snprintf(x.path, sizeof x.path, "/v1/buffers/%" PRIu64 "?offset=%zu", b->id, offset);
    /* On the worker's stream when it is up; over HTTP otherwise or after trouble there. */
    if (!lc_stream_xfer(dp, &x, WS_WRITE, b->id, offset, (void *)src, size)) lc_dp_run(dp, &x, 1);
    char what[96];
    snprintf(what, sizeof what, "writing %zu bytes to buffer %" PRIu64 " on GPU %u", size, b->id, b->gpu);
    rc = lc_xfer_status(dp, fn, what, &x, 0);
    lc_xfer_done(&x);
    return rc;
}

int lepton_buffer_read(lepton_buffer *b, size_t offset, void *dst, size_t size) {
    static const char fn[] = "lepton_buffer_read";
    int rc = check_range(fn, b, offset, dst, size, "dst");
    if (rc || size == 0) return rc;
    lc_dp *dp = b->lease->dp;
    if ((rc = lc_dp_check_ended(dp, fn))) return rc;
    lc_xfer x = {.worker = b->gpu, .method = "GET", .sink = dst, .sink_len = size};
    snprintf(x.path, sizeof x.path, "/v1/buffers/%" PRIu64 "?offset=%zu&size=%zu", b->id, offset, size);
    if (!lc_stream_xfer(dp, &x, WS_READ, b->id, offset, dst, size)) lc_dp_run(dp, &x, 1);
    char what[96];
    snprintf(what, sizeof what, "reading %zu bytes of buffer %" PRIu64 " on GPU %u", size, b->id, b->gpu);
    rc = lc_xfer_status(dp, fn, what, &x, 0);
    lc_xfer_done(&x);
    return rc;
}

void lepton_buffer_free(lepton_buffer *b) {
    if (!b) return;
    lc_dp *dp = b->lease->dp;
    pthread_mutex_lock(&dp->lock);
    if (b->prev)
        b->prev->next = b->next;
    else
        dp->buffers = b->next;
    if (b->next) b->next->prev = b->prev;
    pthread_mutex_unlock(&dp->lock);
    char saved[4096];
    snprintf(saved, sizeof saved, "%s", lepton_last_error());
    lc_xfer x = {.worker = b->gpu, .method = "DELETE"};
    snprintf(x.path, sizeof x.path, "/v1/buffers/%" PRIu64, b->id);
    lc_dp_run(dp, &x, 1);
    /* 404 and 410: the buffer is gone already, which is what was asked for. */
    if (x.http != 404 && x.http != 410 && lc_xfer_status(dp, "lepton_buffer_free", "DELETE", &x, 0))
        lc_log(dp->lease->client, LEPTON_LOG_WARN, "lease %s: %s", dp->lease->id, lepton_last_error());
    lc_xfer_done(&x);
    lc_error_set("%s", saved);
    free(b);
}
