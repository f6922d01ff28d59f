/* SPDX-License-Identifier: Apache-2.0
 * common.h — helpers shared by the texture/surface programs: module loading from TEX_PTX_DIR, a
 * one-dimensional launch, and the verdict from programs_common.h's failure counter. */
#ifndef TEX_COMMON_H
#define TEX_COMMON_H

#include "programs_common.h" /* CHECK, EXPECT, EXPECT_CU, g_failures, cu_name, make_context */

#define UNUSED_OK __attribute__((unused))

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
