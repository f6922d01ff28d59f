/* SPDX-License-Identifier: Apache-2.0
 * rt_common.h — checks for the CUDA runtime-API programs of tests/programs/runtime, in the style of
 * NVIDIA's samples (checkCudaErrors): a cudaError_t call that must succeed (else the program prints
 * file:line, the error's name and text, and exits 1), and the EXPECT counters of programs_common.h.
 * The programs are whole nvcc builds (host and device code, cudart static or shared); they never
 * include cuda.h or call the driver API themselves. */
#ifndef RT_COMMON_H
#define RT_COMMON_H

#include <cuda_runtime.h>

#include <stdio.h>
#include <stdlib.h>

static int g_failures;

#define RT_CHECK(call)                                                                                       \
    do {                                                                                                     \
        cudaError_t rt_e_ = (call);                                                                          \
        if (rt_e_ != cudaSuccess) {                                                                          \
            fprintf(stderr, "%s:%d: %s returned %s (%d): %s\n", __FILE__, __LINE__, #call,                   \
                    cudaGetErrorName(rt_e_), (int)rt_e_, cudaGetErrorString(rt_e_));                         \
            exit(1);                                                                                         \
        }                                                                                                    \
    } while (0)

/* A condition counted in g_failures (the program goes on and fails at its end). */
#define EXPECT(cond, ...)                                                                                    \
    do {                                                                                                     \
        if (!(cond)) {                                                                                       \
            fprintf(stderr, "%s:%d: expected %s: ", __FILE__, __LINE__, #cond);                              \
            fprintf(stderr, __VA_ARGS__);                                                                    \
            fputc('\n', stderr);                                                                             \
            g_failures++;                                                                                    \
        }                                                                                                    \
    } while (0)

/* Exit status of a program: prints PASS or FAIL with the count and returns 0 or 1. */
static inline int rt_finish(const char *name) {
    if (g_failures) {
        printf("%s: FAIL (%d checks failed)\n", name, g_failures);
        return 1;
    }
    printf("%s: PASS\n", name);
    return 0;
}

#endif
