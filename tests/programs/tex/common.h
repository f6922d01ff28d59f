/* SPDX-License-Identifier: Apache-2.0
 * common.h — helpers shared by the texture/surface programs: module loading from TEX_PTX_DIR and
 * its kernels, array descriptors and whole-array copies, a one-dimensional launch, and the verdict from
 * programs_common.h's failure counter. */
#ifndef TEX_COMMON_H
#define TEX_COMMON_H

#include "programs_common.h" /* CHECK, EXPECT, EXPECT_CU, g_failures, cu_name, make_context */

#define UNUSED_OK __attribute__((unused))

UNUSED_OK static CUmodule load_ptx(const char *name) {
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

/* The module load_ptx gave the program, and its kernel `name`. */
static CUmodule g_mod;
UNUSED_OK static CUfunction fn(const char *name) {
    CUfunction f;
    CHECK(cuModuleGetFunction(&f, g_mod, name));
    return f;
}

/* The descriptor of a CUDA array (Height and Depth 0 where the array has no such dimension). */
UNUSED_OK static CUDA_ARRAY3D_DESCRIPTOR array_desc(CUarray_format f, unsigned nch, size_t w, size_t h,
                                                    size_t d, unsigned flags) {
    CUDA_ARRAY3D_DESCRIPTOR ad;
    memset(&ad, 0, sizeof ad);
    ad.Format = f;
    ad.NumChannels = nch;
    ad.Width = w;
    ad.Height = h;
    ad.Depth = d;
    ad.Flags = flags;
    return ad;
}

/* A resource descriptor naming array a (for texture and surface objects). */
UNUSED_OK static CUDA_RESOURCE_DESC array_resource(CUarray a) {
    CUDA_RESOURCE_DESC rd;
    memset(&rd, 0, sizeof rd);
    rd.resType = CU_RESOURCE_TYPE_ARRAY;
    rd.res.array.hArray = a;
    return rd;
}

/* host <-> the whole of array a through cuMemcpy3D (rows of rowb bytes, h rows, d slices, tightly
 * packed on the host) */
UNUSED_OK static void copy3d(CUarray a, void *host, size_t rowb, size_t h, size_t d, int to_array) {
    CUDA_MEMCPY3D cp;
    memset(&cp, 0, sizeof cp);
    if (to_array) {
        cp.srcMemoryType = CU_MEMORYTYPE_HOST;
        cp.srcHost = host;
        cp.srcPitch = rowb;
        cp.srcHeight = h;
        cp.dstMemoryType = CU_MEMORYTYPE_ARRAY;
        cp.dstArray = a;
    } else {
        cp.srcMemoryType = CU_MEMORYTYPE_ARRAY;
        cp.srcArray = a;
        cp.dstMemoryType = CU_MEMORYTYPE_HOST;
        cp.dstHost = host;
        cp.dstPitch = rowb;
        cp.dstHeight = h;
    }
    cp.WidthInBytes = rowb;
    cp.Height = h;
    cp.Depth = d;
    CHECK(cuMemcpy3D(&cp));
}

UNUSED_OK static CUresult launch1d(CUfunction f, unsigned n, void **args) {
    unsigned block = n < 128 ? n : 128;
    return cuLaunchKernel(f, (n + block - 1) / block, 1, 1, block, 1, 1, 0, NULL, args, NULL);
}

UNUSED_OK static int finish(const char *prog) {
    if (g_failures) {
        fprintf(stderr, "%s: %d check(s) failed\n", prog, g_failures);
        return 1;
    }
    printf("%s: ok\n", prog);
    return 0;
}

#endif
