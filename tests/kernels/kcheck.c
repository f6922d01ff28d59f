/* SPDX-License-Identifier: Apache-2.0
 * Helpers shared by the corpus checkers (see kcheck.h). */
#include "kcheck.h"

#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int kc_fail(kc *k, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(k->why, sizeof k->why, fmt, ap);
    va_end(ap);
    return KC_FAIL;
}

const char *kc_errname(CUresult r) {
    const char *s = NULL;
    if (cuGetErrorName(r, &s) != CUDA_SUCCESS || s == NULL) return "(unknown CUresult)";
    return s;
}

int kc_cufail(kc *k, CUresult r, const char *expr, const char *file, int line) {
    const char *base = strrchr(file, '/');
    return kc_fail(k, "%s returned %s (%d) at %s:%d", expr, kc_errname(r), (int)r, base ? base + 1 : file,
                   line);
}

void *kc_host(kc *k, size_t bytes) {
    if (k->nhost >= KC_MAX_ALLOCS) {
        fprintf(stderr, "kc_host: too many host allocations in case %s\n", k->name);
        abort();
    }
    void *p = calloc(1, bytes ? bytes : 1);
    if (p == NULL) {
        fprintf(stderr, "kc_host: out of memory (%zu bytes)\n", bytes);
        abort();
    }
    k->host[k->nhost++] = p;
    return p;
}

CUresult kc_dalloc(kc *k, CUdeviceptr *p, size_t bytes) {
    if (k->ndev >= KC_MAX_ALLOCS) return CUDA_ERROR_OUT_OF_MEMORY;
    CUresult r = cuMemAlloc(p, bytes);
    if (r == CUDA_SUCCESS) k->devp[k->ndev++] = *p;
    return r;
}

CUresult kc_dup(kc *k, CUdeviceptr *p, const void *src, size_t bytes) {
    CUresult r = kc_dalloc(k, p, bytes);
    if (r == CUDA_SUCCESS) r = cuMemcpyHtoD(*p, src, bytes);
    return r;
}

void kc_release(kc *k) {
    for (int i = 0; i < k->ndev; ++i)
        (void)cuMemFree(k->devp[i]);
    k->ndev = 0;
    for (int i = 0; i < k->nhost; ++i)
        free(k->host[i]);
    k->nhost = 0;
}

CUresult kc_launch(kc *k, const char *fn, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by,
                   unsigned bz, unsigned shmem, void **args) {
    CUfunction f;
    CUresult r = cuModuleGetFunction(&f, k->mod, fn);
    if (r != CUDA_SUCCESS) return r;
    r = cuLaunchKernel(f, gx, gy, gz, bx, by, bz, shmem, NULL, args, NULL);
    if (r != CUDA_SUCCESS) return r;
    return cuCtxSynchronize();
}

int kc_run1d(kc *k, const char *fn, unsigned grid, unsigned block, unsigned shmem, void **args) {
    CUresult r = kc_launch(k, fn, grid, 1, 1, block, 1, 1, shmem, args);
    if (r != CUDA_SUCCESS)
        return kc_fail(k, "launch of %s<<<%u, %u, %u>>> failed: %s (%d)", fn, grid, block, shmem,
                       kc_errname(r), (int)r);
    return KC_PASS;
}

uint64_t kc_rand(kc *k) {
    uint64_t z = (k->rng += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

uint32_t kc_rand32(kc *k) { return (uint32_t)(kc_rand(k) >> 32); }

float kc_randf(kc *k, float lo, float hi) {
    float u = (float)(kc_rand(k) >> 40) * (1.0f / 16777216.0f); /* [0,1) with 24 bits */
    return lo + (hi - lo) * u;
}

uint32_t kc_f2u(float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

float kc_u2f(uint32_t u) {
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

uint64_t kc_d2u(double d) {
    uint64_t u;
    memcpy(&u, &d, sizeof u);
    return u;
}

double kc_u2d(uint64_t u) {
    double d;
    memcpy(&d, &u, sizeof d);
    return d;
}

static int64_t ordered_f(float f) {
    uint32_t u = kc_f2u(f);
    return (u & 0x80000000u) ? -(int64_t)(u & 0x7fffffffu) : (int64_t)u;
}

static int64_t ordered_d(double d) {
    uint64_t u = kc_d2u(d);
    /* |magnitude| < 2^63, so negation cannot overflow. */
    return (u >> 63) ? -(int64_t)(u & 0x7fffffffffffffffull) : (int64_t)u;
}

uint64_t kc_ulp_f(float a, float b) {
    if (isnan(a) || isnan(b)) return (isnan(a) && isnan(b)) ? 0 : UINT64_MAX;
    int64_t d = ordered_f(a) - ordered_f(b);
    return d < 0 ? (uint64_t)(-d) : (uint64_t)d;
}

uint64_t kc_ulp_d(double a, double b) {
    if (isnan(a) || isnan(b)) return (isnan(a) && isnan(b)) ? 0 : UINT64_MAX;
    int64_t oa = ordered_d(a), ob = ordered_d(b);
    /* Opposite signs: distances add up through zero; compute in unsigned to avoid overflow. */
    if ((oa < 0) != (ob < 0)) {
        uint64_t ua = oa < 0 ? (uint64_t)(-oa) : (uint64_t)oa;
        uint64_t ub = ob < 0 ? (uint64_t)(-ob) : (uint64_t)ob;
        return ua + ub;
    }
    return oa > ob ? (uint64_t)(oa - ob) : (uint64_t)(ob - oa);
}

int kc_cmp_u32(kc *k, const char *what, const uint32_t *got, const uint32_t *want, size_t n) {
    size_t bad = 0, first = 0;
    for (size_t i = 0; i < n; ++i)
        if (got[i] != want[i] && bad++ == 0) first = i;
    if (bad)
        return kc_fail(k,
                       "%s: %zu of %zu differ; first at [%zu]: got 0x%08" PRIx32 " (%" PRId32
                       ") want 0x%08" PRIx32 " (%" PRId32 ")",
                       what, bad, n, first, got[first], (int32_t)got[first], want[first],
                       (int32_t)want[first]);
    return KC_PASS;
}

int kc_cmp_u64(kc *k, const char *what, const uint64_t *got, const uint64_t *want, size_t n) {
    size_t bad = 0, first = 0;
    for (size_t i = 0; i < n; ++i)
        if (got[i] != want[i] && bad++ == 0) first = i;
    if (bad)
        return kc_fail(k, "%s: %zu of %zu differ; first at [%zu]: got 0x%016" PRIx64 " want 0x%016" PRIx64,
                       what, bad, n, first, got[first], want[first]);
    return KC_PASS;
}

int kc_cmp_f32(kc *k, const char *what, const float *got, const float *want, size_t n, uint64_t max_ulp) {
    size_t bad = 0, first = 0;
    for (size_t i = 0; i < n; ++i) {
        int mismatch = max_ulp == 0 ? kc_f2u(got[i]) != kc_f2u(want[i]) : kc_ulp_f(got[i], want[i]) > max_ulp;
        if (mismatch && bad++ == 0) first = i;
    }
    if (bad)
        return kc_fail(k,
                       "%s: %zu of %zu beyond %" PRIu64 " ulp; first at [%zu]: got %.9g (0x%08" PRIx32
                       ") want %.9g (0x%08" PRIx32 "), %" PRIu64 " ulp",
                       what, bad, n, max_ulp, first, (double)got[first], kc_f2u(got[first]),
                       (double)want[first], kc_f2u(want[first]), kc_ulp_f(got[first], want[first]));
    return KC_PASS;
}

int kc_cmp_f64(kc *k, const char *what, const double *got, const double *want, size_t n, uint64_t max_ulp) {
    size_t bad = 0, first = 0;
    for (size_t i = 0; i < n; ++i) {
        int mismatch = max_ulp == 0 ? kc_d2u(got[i]) != kc_d2u(want[i]) : kc_ulp_d(got[i], want[i]) > max_ulp;
        if (mismatch && bad++ == 0) first = i;
    }
    if (bad)
        return kc_fail(
            k, "%s: %zu of %zu beyond %" PRIu64 " ulp; first at [%zu]: got %.17g want %.17g, %" PRIu64 " ulp",
            what, bad, n, max_ulp, first, got[first], want[first], kc_ulp_d(got[first], want[first]));
    return KC_PASS;
}

void kc_opfail(kc_opfails *f, int op, const char *fmt, ...) {
    if (op >= 0 && op < 64) {
        if (f->seen[op]) return;
        f->seen[op] = 1;
    }
    size_t used = strlen(f->text);
    if (used + 4 < sizeof f->text) {
        if (f->count > 0) used += (size_t)snprintf(f->text + used, sizeof f->text - used, "; ");
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(f->text + used, sizeof f->text - used, fmt, ap);
        va_end(ap);
    }
    f->count++;
}

int kc_opfail_finish(kc *k, const kc_opfails *f) {
    if (f->count == 0) return KC_PASS;
    return kc_fail(k, "%d operation(s) wrong: %s", f->count, f->text);
}
