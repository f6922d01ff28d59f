/* images_common.h — helpers of the image-loading programs: error checks in the style of the CUDA
 * samples, file reading, and the scale kernel run checked against the host. */
#ifndef IMAGES_COMMON_H
#define IMAGES_COMMON_H

#include <cuda.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(call)                                                                                  \
    do {                                                                                             \
        CUresult check_r_ = (call);                                                                  \
        if (check_r_ != CUDA_SUCCESS) {                                                              \
            const char *check_n_ = NULL;                                                             \
            cuGetErrorName(check_r_, &check_n_);                                                     \
            fprintf(stderr, "%s:%d: %s failed: %s\n", __FILE__, __LINE__, #call, check_n_ ? check_n_ : "?"); \
            exit(1);                                                                                 \
        }                                                                                            \
    } while (0)

#define EXPECT(cond)                                                                                 \
    do {                                                                                             \
        if (!(cond)) {                                                                               \
            fprintf(stderr, "%s:%d: expected %s\n", __FILE__, __LINE__, #cond);                      \
            exit(1);                                                                                 \
        }                                                                                            \
    } while (0)

static inline char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "cannot open %s\n", path);
        exit(1);
    }
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    if (!buf || fread(buf, 1, (size_t)n, f) != (size_t)n) {
        fprintf(stderr, "cannot read %s\n", path);
        exit(1);
    }
    buf[n] = 0;
    fclose(f);
    if (len) *len = (size_t)n;
    return buf;
}

static inline CUcontext make_context(void)
{
    CUdevice dev;
    CUcontext ctx;
    CHECK(cuInit(0));
    CHECK(cuDeviceGet(&dev, 0));
    CHECK(cuDevicePrimaryCtxRetain(&ctx, dev));
    CHECK(cuCtxSetCurrent(ctx));
    return ctx;
}

/* Runs scale(x, y, a, n) from f (a CUfunction, or a CUkernel cast to one) and compares with the host. */
static inline void run_scale(CUfunction f, int n, float a)
{
    float *x = malloc(sizeof(float) * (size_t)n), *y = malloc(sizeof(float) * (size_t)n);
    for (int i = 0; i < n; i++) x[i] = (float)(i % 17) * 0.25f - 2.0f;
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
