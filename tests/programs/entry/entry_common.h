/* entry_common.h — shared by the tests/programs/entry programs: the kernels as hand-written PTX
 * (grid-stride loops, 64-bit and 32-bit pointer forms) and module loading. The checks are
 * programs_common.h's: EXPECT and EXPECT_CU count failures in g_failures. */
#ifndef ENTRY_COMMON_H
#define ENTRY_COMMON_H

#include "programs_common.h" /* CHECK, EXPECT, EXPECT_CU, g_failures, make_context */

/* axpb(p, n, a, b, c): p[i] = p[i]*a + b + i*c for i < n, grid-stride (u32 elements).
 * axpb32(p, n, a, b): the same with a 32-bit pointer and count (legacy programs, v1 CUdeviceptr).
 * scalef32(p, n, s): float p[i] = p[i]*s + i, 32-bit pointer (cuParamSetf). */
static const char ENTRY_PTX[] =
    ".version 7.0\n"
    ".target sm_50\n"
    ".address_size 64\n"
    ".visible .global .u32 entry_counter;\n"
    ".visible .entry axpb(.param .u64 p, .param .u64 n, .param .u32 a, .param .u32 b, .param .u32 c)\n"
    "{\n"
    "  .reg .pred %p<2>;\n"
    "  .reg .b32 %r<12>;\n"
    "  .reg .b64 %rd<8>;\n"
    "  ld.param.u64 %rd1, [p];\n"
    "  ld.param.u64 %rd2, [n];\n"
    "  ld.param.u32 %r1, [a];\n"
    "  ld.param.u32 %r2, [b];\n"
    "  ld.param.u32 %r3, [c];\n"
    "  cvta.to.global.u64 %rd1, %rd1;\n"
    "  mov.u32 %r4, %ctaid.x;\n"
    "  mov.u32 %r5, %ntid.x;\n"
    "  mov.u32 %r6, %tid.x;\n"
    "  mad.lo.u32 %r7, %r4, %r5, %r6;\n"
    "  cvt.u64.u32 %rd3, %r7;\n"
    "  mov.u32 %r8, %nctaid.x;\n"
    "  mul.lo.u32 %r9, %r8, %r5;\n"
    "  cvt.u64.u32 %rd4, %r9;\n"
    "LOOP:\n"
    "  setp.ge.u64 %p1, %rd3, %rd2;\n"
    "  @%p1 bra DONE;\n"
    "  shl.b64 %rd5, %rd3, 2;\n"
    "  add.u64 %rd6, %rd1, %rd5;\n"
    "  ld.global.u32 %r10, [%rd6];\n"
    "  cvt.u32.u64 %r11, %rd3;\n"
    "  mul.lo.u32 %r10, %r10, %r1;\n"
    "  add.u32 %r10, %r10, %r2;\n"
    "  mad.lo.u32 %r10, %r11, %r3, %r10;\n"
    "  st.global.u32 [%rd6], %r10;\n"
    "  add.u64 %rd3, %rd3, %rd4;\n"
    "  bra LOOP;\n"
    "DONE:\n"
    "  ret;\n"
    "}\n"
    ".visible .entry axpb32(.param .u32 p, .param .u32 n, .param .u32 a, .param .u32 b)\n"
    "{\n"
    "  .reg .pred %p<2>;\n"
    "  .reg .b32 %r<12>;\n"
    "  .reg .b64 %rd<4>;\n"
    "  ld.param.u32 %r1, [p];\n"
    "  ld.param.u32 %r2, [n];\n"
    "  ld.param.u32 %r3, [a];\n"
    "  ld.param.u32 %r4, [b];\n"
    "  mov.u32 %r5, %ctaid.x;\n"
    "  mov.u32 %r6, %ntid.x;\n"
    "  mov.u32 %r7, %tid.x;\n"
    "  mad.lo.u32 %r8, %r5, %r6, %r7;\n"
    "  setp.ge.u32 %p1, %r8, %r2;\n"
    "  @%p1 bra DONE32;\n"
    "  shl.b32 %r9, %r8, 2;\n"
    "  add.u32 %r9, %r1, %r9;\n"
    "  cvt.u64.u32 %rd1, %r9;\n"
    "  ld.global.u32 %r10, [%rd1];\n"
    "  mad.lo.u32 %r10, %r10, %r3, %r4;\n"
    "  st.global.u32 [%rd1], %r10;\n"
    "DONE32:\n"
    "  ret;\n"
    "}\n"
    ".visible .entry scalef32(.param .u32 p, .param .u32 n, .param .f32 s)\n"
    "{\n"
    "  .reg .pred %p<2>;\n"
    "  .reg .b32 %r<10>;\n"
    "  .reg .f32 %f<4>;\n"
    "  .reg .b64 %rd<2>;\n"
    "  ld.param.u32 %r1, [p];\n"
    "  ld.param.u32 %r2, [n];\n"
    "  ld.param.f32 %f1, [s];\n"
    "  mov.u32 %r5, %ctaid.x;\n"
    "  mov.u32 %r6, %ntid.x;\n"
    "  mov.u32 %r7, %tid.x;\n"
    "  mad.lo.u32 %r8, %r5, %r6, %r7;\n"
    "  setp.ge.u32 %p1, %r8, %r2;\n"
    "  @%p1 bra DONEF;\n"
    "  shl.b32 %r9, %r8, 2;\n"
    "  add.u32 %r9, %r1, %r9;\n"
    "  cvt.u64.u32 %rd1, %r9;\n"
    "  ld.global.f32 %f2, [%rd1];\n"
    "  cvt.rn.f32.u32 %f3, %r8;\n"
    "  fma.rn.f32 %f2, %f2, %f1, %f3;\n"
    "  st.global.f32 [%rd1], %f2;\n"
    "DONEF:\n"
    "  ret;\n"
    "}\n";

static inline CUfunction entry_kernel(CUmodule *mod, const char *name) {
    CUfunction f;
    if (!*mod) CHECK(cuModuleLoadData(mod, ENTRY_PTX));
    CHECK(cuModuleGetFunction(&f, *mod, name));
    return f;
}

/* axpb over n u32 elements at d with a fixed launch shape */
static inline CUresult entry_axpb(CUfunction f, CUdeviceptr d, unsigned long long n, unsigned a, unsigned b,
                                  unsigned c, unsigned grid, unsigned block) {
    void *args[] = {&d, &n, &a, &b, &c};
    return cuLaunchKernel(f, grid, 1, 1, block, 1, 1, 0, NULL, args, NULL);
}

#endif
