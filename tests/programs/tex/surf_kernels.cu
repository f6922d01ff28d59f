// SPDX-License-Identifier: Apache-2.0
// Surface-object kernels for surfaces.c (x coordinates are in bytes, as the hardware takes them).
#include <cuda_runtime.h>

// out = 255 - in on RGBA8 2D surfaces (surf2Dread/surf2Dwrite, .trap)
extern "C" __global__ void invert(cudaSurfaceObject_t in, cudaSurfaceObject_t out, int w, int h)
{
    int x = blockIdx.x * blockDim.x + threadIdx.x, y = blockIdx.y * blockDim.y + threadIdx.y;
    if (x >= w || y >= h) return;
    uchar4 p = surf2Dread<uchar4>(in, x * 4, y);
    surf2Dwrite(make_uchar4(255 - p.x, 255 - p.y, 255 - p.z, 255 - p.w), out, x * 4, y);
}

// 3D float2 surface: v(x, y, z) = v * 2 + (x + 10 y + 100 z)
extern "C" __global__ void scale3d(cudaSurfaceObject_t s, int w, int h, int d)
{
    int x = threadIdx.x, y = threadIdx.y, z = blockIdx.x;
    if (x >= w || y >= h || z >= d) return;
    float2 v = surf3Dread<float2>(s, x * 8, y, z);
    float k = (float)(x + 10 * y + 100 * z);
    surf3Dwrite(make_float2(v.x * 2 + k, v.y * 2 - k), s, x * 8, y, z);
}

// 2D layered short surface: v += layer
extern "C" __global__ void add_layer(cudaSurfaceObject_t s, int w, int h, int layers)
{
    int x = threadIdx.x, y = threadIdx.y, l = blockIdx.x;
    if (x >= w || y >= h || l >= layers) return;
    short v = surf2DLayeredread<short>(s, x * 2, y, l);
    surf2DLayeredwrite((short)(v + l), s, x * 2, y, l);
}

// 1D int surface read at x = i - 2 .. with clamp and zero boundary modes
extern "C" __global__ void boundary(cudaSurfaceObject_t s, int *clamp_out, int *zero_out, int n)
{
    int i = threadIdx.x;
    if (i >= n) return;
    int x = (i - 2) * 4;
    clamp_out[i] = surf1Dread<int>(s, x, cudaBoundaryModeClamp);
    zero_out[i] = surf1Dread<int>(s, x, cudaBoundaryModeZero);
}

// 1D long long surface (suld.b64/sust.b64), zero-mode writes past the end are dropped
extern "C" __global__ void rw64(cudaSurfaceObject_t s, int n)
{
    int i = threadIdx.x;
    long long v = surf1Dread<long long>(s, i * 8, cudaBoundaryModeZero);
    surf1Dwrite(v * 3 + i, s, i * 8, cudaBoundaryModeZero);
}

// an access past the end with the default .trap mode: the launch faults
extern "C" __global__ void trap_oob(cudaSurfaceObject_t s, int x)
{
    surf1Dwrite(1, s, x * 4);
}

// suq
extern "C" __global__ void squery(cudaSurfaceObject_t s, int *out)
{
    asm("suq.width.b32 %0, [%1];" : "=r"(out[0]) : "l"(s));
    asm("suq.height.b32 %0, [%1];" : "=r"(out[1]) : "l"(s));
}
