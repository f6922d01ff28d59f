// SPDX-License-Identifier: Apache-2.0
// Corpus kernel: state spaces and cache operators: loads and stores with cache hints (__ldcg,
// __ldca, __ldcs, __ldlu, __ldcv, __stcg, __stcs, __stwt, __stwb), prefetch, one __noinline__
// function reading through generic pointers into shared, local and global memory, the space
// predicates (isspacep), cvta between generic and shared addresses, and cp.async (sm_80+).
// blockDim.x = 128; n is a multiple of 8. MS_N results per thread.
#include <cuda_pipeline.h>
#define MS_N 10

__device__ __noinline__ float sum8_generic(const float *p)
{
    float s = 0.0f;
    for (int k = 0; k < 8; ++k)
        s += p[k];
    return s;
}

extern "C" __global__ void memory_spaces(const float *in, float *out, unsigned *flags, int n)
{
    __shared__ float sm[128];
    __shared__ float sm2[128];
    float loc[8];
    int t = threadIdx.x;
    int i = blockIdx.x * blockDim.x + t;
    int j = i < n ? i : n - 1;
    const float *p = in + j;
    asm volatile("prefetch.global.L2 [%0];" ::"l"(p));
    float v = __ldcg(p) + __ldca(p) + __ldcs(p) + __ldlu(p) + __ldcv(p);
    sm[t] = in[j];
    for (int k = 0; k < 8; ++k)
        loc[k] = in[j] * (float)k;
#if __CUDA_ARCH__ >= 800
    __pipeline_memcpy_async(&sm2[t], &in[j], sizeof(float));
    __pipeline_commit();
    __pipeline_wait_prior(0);
#else
    sm2[t] = in[j];
#endif
    __syncthreads();
    float s_shared = sum8_generic(&sm[t & ~7]);
    float s_local = sum8_generic(loc);
    float s_global = sum8_generic(in + (j & ~7));
    unsigned f = (__isShared(sm) ? 1u : 0u) | (__isGlobal(in) ? 2u : 0u) | (__isLocal(loc) ? 4u : 0u) |
                 (__isGlobal(sm) ? 8u : 0u) | (__isShared(in) ? 16u : 0u);
    size_t s0 = __cvta_generic_to_shared(&sm[0]), st = __cvta_generic_to_shared(&sm[t]);
    f |= (st - s0 == (size_t)t * 4u) ? 32u : 0u;
    f |= (__cvta_shared_to_generic(st) == (void *)&sm[t]) ? 64u : 0u;
    if (i < n) {
        float *o = out + (size_t)i * MS_N;
        __stcg(&o[0], v);
        __stcs(&o[1], s_shared);
        __stwt(&o[2], s_local);
        __stwb(&o[3], s_global);
        o[4] = sm2[t ^ 1];
        o[5] = sm[(t + 64) & 127];
        o[6] = loc[(unsigned)i % 8u];
        o[7] = __ldg(&in[(j + 8) % n]);
        o[8] = 0.0f;
        o[9] = 0.0f;
        flags[i] = f;
    }
}
