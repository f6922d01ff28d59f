// SPDX-License-Identifier: Apache-2.0
// Texture-object kernels for tex_sampling.c: each fetch kernel reads coordinates from memory and
// writes the four result channels, so the host reference samples at exactly the same coordinates.
#include <cuda_runtime.h>

// simpleTexture-style rotation: out(x, y) = tex(rotated, normalised (x, y)); the coordinates used
// are written to uv.
extern "C" __global__ void rotate(float *out, float2 *uv, cudaTextureObject_t tex, int w, int h, float c, float s)
{
    int x = blockIdx.x * blockDim.x + threadIdx.x, y = blockIdx.y * blockDim.y + threadIdx.y;
    if (x >= w || y >= h) return;
    float u = (float)x / (float)w - 0.5f, v = (float)y / (float)h - 0.5f;
    float tu = u * c - v * s + 0.5f, tv = v * c + u * s + 0.5f;
    uv[y * w + x] = make_float2(tu, tv);
    out[y * w + x] = tex2D<float>(tex, tu, tv);
}

extern "C" __global__ void fetch1d(cudaTextureObject_t t, const float *c, float4 *out, int n)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) out[i] = tex1D<float4>(t, c[i]);
}

extern "C" __global__ void fetch2d(cudaTextureObject_t t, const float2 *c, float4 *out, int n)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) out[i] = tex2D<float4>(t, c[i].x, c[i].y);
}

extern "C" __global__ void fetch3d(cudaTextureObject_t t, const float4 *c, float4 *out, int n)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) out[i] = tex3D<float4>(t, c[i].x, c[i].y, c[i].z);
}

extern "C" __global__ void fetch2d_int(cudaTextureObject_t t, const float2 *c, int4 *out, int n)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) out[i] = tex2D<int4>(t, c[i].x, c[i].y);
}

extern "C" __global__ void fetch2d_uint(cudaTextureObject_t t, const float2 *c, uint4 *out, int n)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) out[i] = tex2D<uint4>(t, c[i].x, c[i].y);
}

// layered: c = (x, y, layer) (a1d uses x and layer)
extern "C" __global__ void fetch_a2d(cudaTextureObject_t t, const float4 *c, float4 *out, int n)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) out[i] = tex2DLayered<float4>(t, c[i].x, c[i].y, (int)c[i].z);
}
extern "C" __global__ void fetch_a1d(cudaTextureObject_t t, const float4 *c, float4 *out, int n)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) out[i] = tex1DLayered<float4>(t, c[i].x, (int)c[i].z);
}

// tex1Dfetch on linear memory, integer indices from idx
extern "C" __global__ void fetch_linear(cudaTextureObject_t t, const int *idx, int4 *out, int n)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) out[i] = tex1Dfetch<int4>(t, idx[i]);
}

// tld4: the four texels of the bilinear footprint, component comp
extern "C" __global__ void gather(cudaTextureObject_t t, const float2 *c, float4 *out, int n, int comp)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    switch (comp) {
    case 0: out[i] = tex2Dgather<float4>(t, c[i].x, c[i].y, 0); break;
    case 1: out[i] = tex2Dgather<float4>(t, c[i].x, c[i].y, 1); break;
    case 2: out[i] = tex2Dgather<float4>(t, c[i].x, c[i].y, 2); break;
    default: out[i] = tex2Dgather<float4>(t, c[i].x, c[i].y, 3); break;
    }
}

// txq: width, height, depth, normalized_coords, filter_mode, addr_mode_0
extern "C" __global__ void query(cudaTextureObject_t t, int *out)
{
    int r[6];
    asm("txq.width.b32 %0, [%1];" : "=r"(r[0]) : "l"(t));
    asm("txq.height.b32 %0, [%1];" : "=r"(r[1]) : "l"(t));
    asm("txq.depth.b32 %0, [%1];" : "=r"(r[2]) : "l"(t));
    asm("txq.normalized_coords.b32 %0, [%1];" : "=r"(r[3]) : "l"(t));
    asm("txq.filter_mode.b32 %0, [%1];" : "=r"(r[4]) : "l"(t));
    asm("txq.addr_mode_0.b32 %0, [%1];" : "=r"(r[5]) : "l"(t));
    for (int k = 0; k < 6; k++) out[k] = r[k];
}
