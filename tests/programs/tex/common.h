/* SPDX-License-Identifier: Apache-2.0
 * common.h — helpers shared by the texture/surface programs: checked driver calls, module loading
 * from TEX_PTX_DIR, a one-dimensional launch, and a failure counter. */
#ifndef TEX_COMMON_H
#define TEX_COMMON_H

#include <cuda.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int g_failures;

#define UNUSED_OK __attribute__((unused))

UNUSED_OK static const char *cu_name(CUresult r)
{
    const char *s = NULL;
    return cuGetErrorName(r, &s) == CUDA_SUCCESS && s ? s : "(unknown)";
}

#define CHECK(call)                                                                                \
    do {                                                                                           \
        CUresult r_ = (call);                                                                      \
        if (r_ != CUDA_SUCCESS) {                                                                  \
            fprintf(stderr, "%s:%d: %s failed: %s\n", __FILE__, __LINE__, #call, cu_name(r_));    \
            exit(1);                                                                               \
        }                                                                                          \
    } while (0)

#define EXPECT_CU(call, want)                                                                      \
    do {                                                                                           \
        CUresult r_ = (call);                                                                      \
        if (r_ != (want)) {                                                                        \
            fprintf(stderr, "%s:%d: %s returned %s, want %s\n", __FILE__, __LINE__, #call,         \
                    cu_name(r_), cu_name(want));                                                   \
            g_failures++;                                                                          \
        }                                                                                          \
    } while (0)

#define EXPECT(cond, ...)                                                                          \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: ", __FILE__, __LINE__);                                        \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fputc('\n', stderr);                                                                   \
            g_failures++;                                                                          \
        }                                                                                          \
    } while (0)

UNUSED_OK static CUcontext setup(void)
{
    CUdevice dev;
    CUcontext ctx;
    CHECK(cuInit(0));
    CHECK(cuDeviceGet(&dev, 0));
    CHECK(cuDevicePrimaryCtxRetain(&ctx, dev));
    CHECK(cuCtxSetCurrent(ctx));
    return ctx;
}

UNUSED_OK static CUmodule load_ptx(const char *name)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", TEX_PTX_DIR, name);
    CUmodule m;
    CUresult r = cuModuleLoad(&m, path);
    if (r != CUDA_SUCCESS) {
        fprintf(stderr, "cuModuleLoad(%s): %s\n", path, cu_name(r));
        exit(1);
    }
    return m;
}

UNUSED_OK static CUresult launch1d(CUfunction f, unsigned n, void **args)
{
    unsigned block = n < 128 ? n : 128;
    return cuLaunchKernel(f, (n + block - 1) / block, 1, 1, block, 1, 1, 0, NULL, args, NULL);
}

UNUSED_OK static int finish(const char *prog)
{
    if (g_failures) {
        fprintf(stderr, "%s: %d check(s) failed\n", prog, g_failures);
        return 1;
    }
    printf("%s: ok\n", prog);
    return 0;
}

#endif
