/* images_common.h — the scale kernel of the image-loading programs run and checked against the host.
 * The checks, file reading and context are programs_common.h's. */
#ifndef IMAGES_COMMON_H
#define IMAGES_COMMON_H

#include "programs_common.h" /* CHECK, REQUIRE, read_file, make_context */

#include <math.h>

/* Runs scale(x, y, a, n) from f (a CUfunction, or a CUkernel cast to one) and compares with the host. */
static inline void run_scale(CUfunction f, int n, float a) {
    float *x = malloc(sizeof(float) * (size_t)n), *y = malloc(sizeof(float) * (size_t)n);
    for (int i = 0; i < n; i++)
        x[i] = (float)(i % 17) * 0.25f - 2.0f;
    CUdeviceptr dx, dy;
    CHECK(cuMemAlloc(&dx, sizeof(float) * (size_t)n));
    CHECK(cuMemAlloc(&dy, sizeof(float) * (size_t)n));
    CHECK(cuMemcpyHtoD(dx, x, sizeof(float) * (size_t)n));
    CHECK(cuMemsetD32(dy, 0, (size_t)n));
    void *args[] = {&dx, &dy, &a, &n};
    CHECK(cuLaunchKernel(f, (unsigned)(n + 127) / 128, 1, 1, 128, 1, 1, 0, NULL, args, NULL));
    CHECK(cuCtxSynchronize());
    CHECK(cuMemcpyDtoH(y, dy, sizeof(float) * (size_t)n));
    for (int i = 0; i < n; i++) {
        float want = a * x[i] + (float)i;
        if (fabsf(y[i] - want) > 1e-5f * fabsf(want) + 1e-6f) {
            fprintf(stderr, "scale: y[%d] = %g, host says %g\n", i, y[i], want);
            exit(1);
        }
    }
    CHECK(cuMemFree(dx));
    CHECK(cuMemFree(dy));
    free(x);
    free(y);
}

#endif
