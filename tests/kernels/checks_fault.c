/* SPDX-License-Identifier: Apache-2.0
 * Checkers for the faulting kernels: oob_write (CUDA_ERROR_ILLEGAL_ADDRESS, sticky) and
 * watchdog_spin (CUDA_ERROR_LAUNCH_TIMEOUT under the emulator's watchdog, sticky; emulator-only).
 * cuda.h documents both errors as leaving the process unusable: "any further CUDA work will
 * return the same error", which is what the sticky checks assert. */
#include "kcheck.h"

#include <time.h>

/* As on a GPU: an error the kernel hits while running is not the launch's; the launch returns
 * CUDA_SUCCESS and the next synchronising call reports `want`. */
static int expect_launch_error(kc *k, const char *fn, unsigned grid, unsigned block, void **args,
                               CUresult want) {
    CUfunction f;
    KC_CU(k, cuModuleGetFunction(&f, k->mod, fn));
    CUresult r = cuLaunchKernel(f, grid, 1, 1, block, 1, 1, 0, NULL, args, NULL);
    if (r != CUDA_SUCCESS)
        return kc_fail(k,
                       "cuLaunchKernel returned %s (%d), want CUDA_SUCCESS (the fault surfaces at the "
                       "synchronization)",
                       kc_errname(r), (int)r);
    r = cuCtxSynchronize();
    if (r != want)
        return kc_fail(k, "cuCtxSynchronize returned %s (%d), want %s", kc_errname(r), (int)r,
                       kc_errname(want));
    /* Sticky: later work on the context reports the same error. */
    r = cuCtxSynchronize();
    if (r != want)
        return kc_fail(k, "not sticky: a second cuCtxSynchronize returned %s, want %s", kc_errname(r),
                       kc_errname(want));
    int host = 0;
    CUdeviceptr p = *(CUdeviceptr *)args[0];
    r = cuMemcpyDtoH(&host, p, sizeof host);
    if (r != want)
        return kc_fail(k, "not sticky: cuMemcpyDtoH afterwards returned %s, want %s", kc_errname(r),
                       kc_errname(want));
    /* a later launch of a correct kernel answers the sticky error too */
    r = cuLaunchKernel(f, 1, 1, 1, 1, 1, 1, 0, NULL, args, NULL);
    if (r != want)
        return kc_fail(k, "not sticky: a later cuLaunchKernel returned %s, want %s", kc_errname(r),
                       kc_errname(want));
    return KC_PASS;
}

int check_oob_write(kc *k) {
    int n = 1024;
    long long far = (long long)n + (1LL << 30); /* 4 GiB past the end */
    CUdeviceptr buf;
    KC_CU(k, kc_dalloc(k, &buf, (size_t)n * 4));
    void *args[] = {&buf, &n, &far};
    return expect_launch_error(k, "oob_write", 4, 256, args, CUDA_ERROR_ILLEGAL_ADDRESS);
}

int check_watchdog_spin(kc *k) {
    CUdeviceptr flag, out;
    int spin = 0;
    int32_t got[64];
    KC_CU(k, kc_dalloc(k, &out, sizeof got));
    KC_CU(k, kc_dalloc(k, &flag, 4));
    KC_CU(k, cuMemsetD32(flag, 0, 1));
    void *args[] = {&out, &spin, &out};
    args[0] = &flag;
    /* Not spinning: a normal run first. */
    KC_TRY(kc_run1d(k, "watchdog_spin", 2, 32, 0, args));
    KC_CU(k, cuMemcpyDtoH(got, out, sizeof got));
    for (int i = 0; i < 64; ++i)
        if (got[i] != i * 3 + 1)
            return kc_fail(k, "non-spinning run: out[%d] = %d, want %d", i, got[i], i * 3 + 1);
    spin = 1;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    KC_TRY(expect_launch_error(k, "watchdog_spin", 1, 32, args, CUDA_ERROR_LAUNCH_TIMEOUT));
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    if (s > 30.0) return kc_fail(k, "the watchdog took %.1f s to stop the kernel", s);
    return KC_PASS;
}

static double secs_since(const struct timespec *t0) {
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (double)(t1.tv_sec - t0->tv_sec) + (double)(t1.tv_nsec - t0->tv_nsec) / 1e9;
}

/* The faulting block is the first one, so it runs at once whatever the number of host threads;
 * the others (on other host threads) spin until the fault stops the grid. Expect the fault, well
 * before the watchdog, and no hang. */
int check_grid_stop(kc *k) {
    CUdeviceptr flag, buf;
    int n = 256, bad = 0, delay = 20000;
    long long far = (long long)n + (1LL << 30);
    KC_CU(k, kc_dalloc(k, &flag, 4));
    KC_CU(k, kc_dalloc(k, &buf, (size_t)n * 4));
    KC_CU(k, cuMemsetD32(flag, 0, 1));
    void *args[] = {&flag, &buf, &bad, &far, &delay};
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    KC_TRY(expect_launch_error(k, "grid_stop", 64, 64, args, CUDA_ERROR_ILLEGAL_ADDRESS));
    double s = secs_since(&t0);
    if (s > 10.0) return kc_fail(k, "the fault took %.1f s to stop the grid", s);
    return KC_PASS;
}

/* Every block spins: the watchdog must stop the blocks on every host thread. */
int check_grid_spin(kc *k) {
    CUdeviceptr flag, out;
    KC_CU(k, kc_dalloc(k, &flag, 4));
    KC_CU(k, kc_dalloc(k, &out, 64 * 64 * 4));
    KC_CU(k, cuMemsetD32(flag, 0, 1));
    void *args[] = {&flag, &out};
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    KC_TRY(expect_launch_error(k, "grid_spin", 64, 64, args, CUDA_ERROR_LAUNCH_TIMEOUT));
    double s = secs_since(&t0);
    if (s > 30.0) return kc_fail(k, "the watchdog took %.1f s to stop the grid", s);
    return KC_PASS;
}
