/* SPDX-License-Identifier: Apache-2.0
 * Shared helpers of the kernel-corpus runner: the per-case state, tracked host and device
 * allocations, a deterministic PRNG, launch wrappers and exact / ulp-aware comparisons.
 * Uses only the CUDA driver API, so the same binary runs on cudaemu and on a real GPU. */
#ifndef LEPTON_TESTS_KCHECK_H
#define LEPTON_TESTS_KCHECK_H

#include <cuda.h>
#include <stddef.h>
#include <stdint.h>

enum { KC_PASS = 0, KC_FAIL = 1, KC_SKIP = 2 };

#define KC_MAX_ALLOCS 64

typedef struct kc {
    const char *name; /* case name, e.g. "vector_add" */
    const char *arch; /* "sm_75" */
    int gpu;          /* running against a real GPU */
    CUdevice dev;
    CUmodule mod;
    uint64_t rng;   /* deterministic per case */
    char why[4096]; /* reason of the failure */
    void *host[KC_MAX_ALLOCS];
    int nhost;
    CUdeviceptr devp[KC_MAX_ALLOCS];
    int ndev;
} kc;

/* Records a failure reason (printf-style) and returns KC_FAIL. */
int kc_fail(kc *k, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Records a failed driver call and returns KC_FAIL. */
int kc_cufail(kc *k, CUresult r, const char *expr, const char *file, int line);
const char *kc_errname(CUresult r);

#define KC_CU(k, call)                                                                                       \
    do {                                                                                                     \
        CUresult kc_r_ = (call);                                                                             \
        if (kc_r_ != CUDA_SUCCESS) return kc_cufail((k), kc_r_, #call, __FILE__, __LINE__);                  \
    } while (0)

/* Propagates a non-pass result of a helper that already recorded its reason. */
#define KC_TRY(expr)                                                                                         \
    do {                                                                                                     \
        int kc_t_ = (expr);                                                                                  \
        if (kc_t_ != KC_PASS) return kc_t_;                                                                  \
    } while (0)

/* Collects failures of several named operations so that one run reports all of them: note the
 * first mismatch of each operation, then kc_opfail_finish() turns them into the failure reason. */
typedef struct kc_opfails {
    int count;
    char text[3600];
    unsigned char seen[64];
} kc_opfails;
void kc_opfail(kc_opfails *f, int op, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
int kc_opfail_finish(kc *k, const kc_opfails *f);

/* Zeroed host memory, freed when the case ends. Aborts on exhaustion (test program). */
void *kc_host(kc *k, size_t bytes);
/* Device memory, freed when the case ends. */
CUresult kc_dalloc(kc *k, CUdeviceptr *p, size_t bytes);
/* cuMemAlloc + cuMemcpyHtoD of `bytes` from `src`. */
CUresult kc_dup(kc *k, CUdeviceptr *p, const void *src, size_t bytes);
/* Frees what the case allocated (errors ignored: the context may be broken on purpose). */
void kc_release(kc *k);

/* Looks up `fn` in the case's module, launches it and synchronizes the context. */
CUresult kc_launch(kc *k, const char *fn, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by,
                   unsigned bz, unsigned shmem, void **args);
/* kc_launch with failure recording, for the common 1D case. */
int kc_run1d(kc *k, const char *fn, unsigned grid, unsigned block, unsigned shmem, void **args);

/* splitmix64 */
uint64_t kc_rand(kc *k);
uint32_t kc_rand32(kc *k);
/* Uniform in [lo, hi). */
float kc_randf(kc *k, float lo, float hi);

/* Ordered-integer distance in units in the last place; NaN vs NaN is 0, NaN vs number is huge. */
uint64_t kc_ulp_f(float a, float b);
uint64_t kc_ulp_d(double a, double b);
uint32_t kc_f2u(float f);
float kc_u2f(uint32_t u);
uint64_t kc_d2u(double d);
double kc_u2d(uint64_t u);

/* Exact comparisons; report the first mismatch and the number of mismatches. */
int kc_cmp_u32(kc *k, const char *what, const uint32_t *got, const uint32_t *want, size_t n);
int kc_cmp_u64(kc *k, const char *what, const uint64_t *got, const uint64_t *want, size_t n);
/* Float comparisons within max_ulp (0 = bit-exact apart from +0/-0 being distinct). */
int kc_cmp_f32(kc *k, const char *what, const float *got, const float *want, size_t n, uint64_t max_ulp);
int kc_cmp_f64(kc *k, const char *what, const double *got, const double *want, size_t n, uint64_t max_ulp);

/* The corpus: one checker per case. */
int check_vector_add(kc *k);
int check_saxpy(kc *k);
int check_matmul_tiled(kc *k);
int check_block_reduce(kc *k);
int check_warp_reduce(kc *k);
int check_histogram(kc *k);
int check_prefix_scan(kc *k);
int check_divergence(kc *k);
int check_device_funcs(kc *k);
int check_oob_write(kc *k);
int check_int_ops(kc *k);
int check_float_math(kc *k);
int check_conversions(kc *k);
int check_atomics(kc *k);
int check_vote(kc *k);
int check_warp_divergent_sync(kc *k);
int check_shuffles(kc *k);
int check_dynamic_smem(kc *k);
int check_const_mem(kc *k);
int check_device_global(kc *k);
int check_local_array(kc *k);
int check_vector_loads(kc *k);
int check_grid3d(kc *k);
int check_grid_stride(kc *k);
int check_param_struct(kc *k);
int check_watchdog_spin(kc *k);
int check_bitonic_sort(kc *k);
int check_grid_stop(kc *k);
int check_grid_spin(kc *k);
int check_rounding_modes(kc *k);
int check_float_special(kc *k);
int check_wide_int(kc *k);
int check_block_sync(kc *k);
int check_indirect_calls(kc *k);
int check_half_precision(kc *k);
int check_tensor_core(kc *k);
int check_memory_spaces(kc *k);
int check_float_library(kc *k);
int check_int_misc(kc *k);

#endif
