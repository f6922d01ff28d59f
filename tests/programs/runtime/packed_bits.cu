/* SPDX-License-Identifier: Apache-2.0
 * packed_bits.cu — two PTX instructions that NVIDIA's own libraries emit (CUB's radix sort uses bmsk;
 * its reductions over 16-bit pairs use min/max.s16x2), written here with inline PTX and checked over
 * a sweep of operands against a host model of the PTX ISA's definition: bmsk.clamp / bmsk.wrap
 * (every position and width 0..40), and min/max.{s16x2,u16x2} with .relu; and two whose details
 * cudaemu once got wrong: mad24.hi.sat.s32's saturation, and testp.normal of +0 and -0 (normal, says
 * the ISA). Built for compute_90. */
#include "rt_common.h"

#include <stdint.h>

__global__ void bits(const uint32_t *a, const uint32_t *b, uint32_t *out, int n)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    uint32_t x = a[i], y = b[i], r[9];
    asm("bmsk.clamp.b32 %0, %1, %2;" : "=r"(r[0]) : "r"(x), "r"(y));
    asm("bmsk.wrap.b32 %0, %1, %2;" : "=r"(r[1]) : "r"(x), "r"(y));
    asm("min.s16x2 %0, %1, %2;" : "=r"(r[2]) : "r"(x), "r"(y));
    asm("max.s16x2 %0, %1, %2;" : "=r"(r[3]) : "r"(x), "r"(y));
    asm("min.u16x2 %0, %1, %2;" : "=r"(r[4]) : "r"(x), "r"(y));
    asm("max.u16x2 %0, %1, %2;" : "=r"(r[5]) : "r"(x), "r"(y));
    asm("min.relu.s16x2 %0, %1, %2;" : "=r"(r[6]) : "r"(x), "r"(y));
    asm("max.relu.s16x2 %0, %1, %2;" : "=r"(r[7]) : "r"(x), "r"(y));
    asm("mad24.hi.sat.s32 %0, %1, %2, %3;" : "=r"(r[8]) : "r"(x), "r"(y), "r"(x ^ y));
    for (int k = 0; k < 9; k++) out[i * 9 + k] = r[k];
}

/* the PTX ISA's definition of bmsk */
static uint32_t host_bmsk(uint32_t a, uint32_t b, int clamp)
{
    uint32_t a1 = a & 0x1f, b1 = b & 0x1f, sum = a1 + b1;
    uint32_t mask0 = ~0u << a1, mask1 = sum >= 32 ? 0 : ~0u << sum;
    int overflow = sum >= 32;
    if (clamp) {
        if (a >= 32) mask0 = 0, overflow = 1;
        if (b >= 32) overflow = 1;
    }
    if (overflow) mask1 = 0;
    else if (b1 == 0) mask1 = ~0u;
    return mask0 & ~mask1;
}

/* mad24.hi.sat.s32: bits 16..47 of the 48-bit product of the sign-extended low 24 bits, plus c,
 * clamped to the 32-bit range */
static uint32_t host_mad24_hi_sat(uint32_t a, uint32_t b, uint32_t c)
{
    int64_t p = (int64_t)((int32_t)(a << 8) >> 8) * (int64_t)((int32_t)(b << 8) >> 8);
    int64_t v = (p >> 16) + (int64_t)(int32_t)c;
    return (uint32_t)(int32_t)(v > INT32_MAX ? INT32_MAX : v < INT32_MIN ? INT32_MIN : v);
}

static uint32_t host_pair(uint32_t x, uint32_t y, int mx, int sg, int relu)
{
    uint32_t r = 0;
    for (int k = 0; k < 2; k++) {
        uint32_t ux = (x >> (16 * k)) & 0xffff, uy = (y >> (16 * k)) & 0xffff;
        int32_t vx = sg ? (int16_t)ux : (int32_t)ux, vy = sg ? (int16_t)uy : (int32_t)uy;
        int32_t v = mx ? (vx > vy ? vx : vy) : (vx < vy ? vx : vy);
        if (relu && v < 0) v = 0;
        r |= ((uint32_t)v & 0xffff) << (16 * k);
    }
    return r;
}

__global__ void classify(const float *x, unsigned *normal, int n)
{
    int i = threadIdx.x;
    if (i < n) {
        unsigned r;
        asm("{ .reg .pred p; testp.normal.f32 p, %1; selp.u32 %0, 1, 0, p; }" : "=r"(r) : "f"(x[i]));
        normal[i] = r;
    }
}

int main(void)
{
    const int nb = 41 * 41, nr = 4096, n = nb + nr;
    uint32_t *a = (uint32_t *)malloc(n * 4), *b = (uint32_t *)malloc(n * 4), *out = (uint32_t *)malloc(n * 36);
    for (int i = 0; i < nb; i++) a[i] = (uint32_t)(i / 41), b[i] = (uint32_t)(i % 41);
    uint32_t s = 7;
    for (int i = nb; i < n; i++) {
        s = s * 1664525u + 1013904223u;
        a[i] = s;
        s = s * 1664525u + 1013904223u;
        b[i] = (i & 1) ? s : (s ^ 0x80008000u);
    }
    a[nb] = 0x7fff8000u, b[nb] = 0x80007fffu; /* the edges of both halves */
    uint32_t *da, *db, *dout;
    RT_CHECK(cudaMalloc((void **)&da, n * 4));
    RT_CHECK(cudaMalloc((void **)&db, n * 4));
    RT_CHECK(cudaMalloc((void **)&dout, n * 36));
    RT_CHECK(cudaMemcpy(da, a, n * 4, cudaMemcpyHostToDevice));
    RT_CHECK(cudaMemcpy(db, b, n * 4, cudaMemcpyHostToDevice));
    bits<<<(n + 127) / 128, 128>>>(da, db, dout, n);
    RT_CHECK(cudaGetLastError());
    RT_CHECK(cudaMemcpy(out, dout, n * 36, cudaMemcpyDeviceToHost));
    static const char *names[9] = {"bmsk.clamp", "bmsk.wrap", "min.s16x2", "max.s16x2", "min.u16x2",
                                   "max.u16x2", "min.relu.s16x2", "max.relu.s16x2", "mad24.hi.sat.s32"};
    int bad[9] = {0};
    for (int i = 0; i < n; i++) {
        uint32_t want[9] = {host_bmsk(a[i], b[i], 1), host_bmsk(a[i], b[i], 0),
                            host_pair(a[i], b[i], 0, 1, 0), host_pair(a[i], b[i], 1, 1, 0),
                            host_pair(a[i], b[i], 0, 0, 0), host_pair(a[i], b[i], 1, 0, 0),
                            host_pair(a[i], b[i], 0, 1, 1), host_pair(a[i], b[i], 1, 1, 1),
                            host_mad24_hi_sat(a[i], b[i], a[i] ^ b[i])};
        for (int k = 0; k < 9; k++)
            if (out[i * 9 + k] != want[k] && bad[k]++ < 3)
                fprintf(stderr, "%s(%#x, %#x) = %#x, want %#x\n", names[k], a[i], b[i], out[i * 9 + k], want[k]);
    }
    for (int k = 0; k < 9; k++) EXPECT(bad[k] == 0, "%s: %d of %d wrong", names[k], bad[k], n);
    /* testp.normal: zeros count as normal; subnormals, infinities and NaN do not */
    const float fx[8] = {0.0f, -0.0f, 1.0f, -3.0e38f, 1e-40f, __builtin_inff(), __builtin_nanf(""), 1.17549435e-38f};
    const unsigned fwant[8] = {1, 1, 1, 1, 0, 0, 0, 1};
    float *dfx;
    unsigned *dcls, cls[8];
    RT_CHECK(cudaMalloc((void **)&dfx, sizeof fx));
    RT_CHECK(cudaMalloc((void **)&dcls, sizeof cls));
    RT_CHECK(cudaMemcpy(dfx, fx, sizeof fx, cudaMemcpyHostToDevice));
    classify<<<1, 8>>>(dfx, dcls, 8);
    RT_CHECK(cudaGetLastError());
    RT_CHECK(cudaMemcpy(cls, dcls, sizeof cls, cudaMemcpyDeviceToHost));
    for (int k = 0; k < 8; k++) EXPECT(cls[k] == fwant[k], "testp.normal(%g) = %u, want %u", fx[k], cls[k], fwant[k]);
    RT_CHECK(cudaFree(dfx));
    RT_CHECK(cudaFree(dcls));
    RT_CHECK(cudaFree(da));
    RT_CHECK(cudaFree(db));
    RT_CHECK(cudaFree(dout));
    free(a), free(b), free(out);
    printf("packed_bits: %d operand pairs x 9 instructions\n", n);
    return rt_finish("packed_bits");
}
