/* SPDX-License-Identifier: Apache-2.0
 * jl_common.h — the check the jitlink programs share: a linked axpy_poly-style kernel
 * (y[i] = a * poly(x[i]) * (i % 3 == 0 ? 2 : 1) + y[i], poly from jl_poly.cu) loaded from its image
 * with cuModuleLoadData, launched, and compared with the host. */
#ifndef JL_COMMON_H
#define JL_COMMON_H

#include "programs_common.h" /* CHECK, read_file, g_failures */

#include <math.h>

#define JL_N 1000
#define JL_A 1.5f

static inline float jl_poly(float x) { return (0.5f * x + 2.0f) * x - 1.0f; }

/* Runs kernel `name` of image in the current context; returns how many elements differ from the host. */
static inline int jl_run(const void *image, const char *name, const char *what) {
    CUmodule mod;
    CUfunction fn;
    CHECK(cuModuleLoadData(&mod, image));
    CHECK(cuModuleGetFunction(&fn, mod, name));
    static float hx[JL_N], hy[JL_N], out[JL_N];
    for (int i = 0; i < JL_N; i++) {
        hx[i] = (float)(i % 37) * 0.25f - 3.0f;
        hy[i] = (float)(i % 11) - 5.0f;
    }
    CUdeviceptr dx, dy;
    CHECK(cuMemAlloc(&dx, sizeof hx));
    CHECK(cuMemAlloc(&dy, sizeof hy));
    CHECK(cuMemcpyHtoD(dx, hx, sizeof hx));
    CHECK(cuMemcpyHtoD(dy, hy, sizeof hy));
    float a = JL_A;
    int n = JL_N;
    void *args[] = {&dx, &dy, &a, &n};
    CHECK(cuLaunchKernel(fn, (JL_N + 127) / 128, 1, 1, 128, 1, 1, 0, NULL, args, NULL));
    CHECK(cuMemcpyDtoH(out, dy, sizeof out));
    int bad = 0;
    for (int i = 0; i < JL_N; i++) {
        float want = JL_A * jl_poly(hx[i]) * (i % 3 == 0 ? 2.0f : 1.0f) + hy[i];
        if (fabsf(out[i] - want) > 1e-4f * fmaxf(1.0f, fabsf(want)) && bad++ < 5)
            fprintf(stderr, "%s: y[%d] = %g, host %g\n", what, i, (double)out[i], (double)want);
    }
    printf("%s: %d/%d elements match the host\n", what, JL_N - bad, JL_N);
    CHECK(cuMemFree(dx));
    CHECK(cuMemFree(dy));
    CHECK(cuModuleUnload(mod));
    return bad;
}

#endif
