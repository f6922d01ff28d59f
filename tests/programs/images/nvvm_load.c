/* nvvm_load.c — the libNVVM path of compilers that emit NVVM IR (Numba, Julia, ...): a kernel in
 * NVVM IR text is compiled to PTX with nvvmCompileProgram and loaded with cuModuleLoadData. */
#include "images_common.h"

#include <nvvm.h>

/* a[i] = b[i] + s * c[i] (STREAM triad) */
static const char *ir = NVVM_IR_HEADER "\n"
                                       "declare i32 @llvm.nvvm.read.ptx.sreg.tid.x()\n"
                                       "declare i32 @llvm.nvvm.read.ptx.sreg.ctaid.x()\n"
                                       "declare i32 @llvm.nvvm.read.ptx.sreg.ntid.x()\n"
                                       "\n"
                                       "define void @triad(float addrspace(1)* %a, float addrspace(1)* %b, "
                                       "float addrspace(1)* %c, float %s, i32 %n) {\n"
                                       "entry:\n"
                                       "  %tid = call i32 @llvm.nvvm.read.ptx.sreg.tid.x()\n"
                                       "  %cta = call i32 @llvm.nvvm.read.ptx.sreg.ctaid.x()\n"
                                       "  %ntid = call i32 @llvm.nvvm.read.ptx.sreg.ntid.x()\n"
                                       "  %base = mul i32 %cta, %ntid\n"
                                       "  %i = add i32 %base, %tid\n"
                                       "  %inb = icmp slt i32 %i, %n\n"
                                       "  br i1 %inb, label %body, label %done\n"
                                       "body:\n"
                                       "  %idx = sext i32 %i to i64\n"
                                       "  %pb = getelementptr float, float addrspace(1)* %b, i64 %idx\n"
                                       "  %pc = getelementptr float, float addrspace(1)* %c, i64 %idx\n"
                                       "  %pa = getelementptr float, float addrspace(1)* %a, i64 %idx\n"
                                       "  %vb = load float, float addrspace(1)* %pb, align 4\n"
                                       "  %vc = load float, float addrspace(1)* %pc, align 4\n"
                                       "  %m = fmul float %s, %vc\n"
                                       "  %r = fadd float %vb, %m\n"
                                       "  store float %r, float addrspace(1)* %pa, align 4\n"
                                       "  br label %done\n"
                                       "done:\n"
                                       "  ret void\n"
                                       "}\n"
                                       "\n"
                                       "!nvvm.annotations = !{!0}\n"
                                       "!0 = !{void (float addrspace(1)*, float addrspace(1)*, float "
                                       "addrspace(1)*, float, i32)* @triad, !\"kernel\", i32 1}\n"
                                       "!nvvmir.version = !{!1}\n"
                                       "!1 = !{i32 2, i32 0, i32 3, i32 1}\n";

int main(void) {
    make_context();
    int maj, mn, irmaj, irmn, dbgmaj, dbgmn;
    NVVM_CHECK(nvvmVersion(&maj, &mn));
    NVVM_CHECK(nvvmIRVersion(&irmaj, &irmn, &dbgmaj, &dbgmn));
    nvvmProgram prog;
    NVVM_CHECK(nvvmCreateProgram(&prog));
    NVVM_CHECK(nvvmAddModuleToProgram(prog, ir, strlen(ir), "triad.ll"));
    const char *opts[] = {"-arch=compute_80"};
    nvvmResult cr = nvvmCompileProgram(prog, 1, opts);
    if (cr != NVVM_SUCCESS) {
        size_t ls;
        nvvmGetProgramLogSize(prog, &ls);
        char *log = malloc(ls);
        nvvmGetProgramLog(prog, log);
        fprintf(stderr, "nvvmCompileProgram: %s\n%s\n", nvvmGetErrorString(cr), log);
        return 1;
    }
    size_t ptxsz;
    NVVM_CHECK(nvvmGetCompiledResultSize(prog, &ptxsz));
    char *ptx = malloc(ptxsz);
    NVVM_CHECK(nvvmGetCompiledResult(prog, ptx));
    NVVM_CHECK(nvvmDestroyProgram(&prog));

    CUmodule mod;
    CUfunction f;
    CHECK(cuModuleLoadData(&mod, ptx));
    CHECK(cuModuleGetFunction(&f, mod, "triad"));
    int n = 5000;
    float s = 0.375f;
    size_t bytes = sizeof(float) * (size_t)n;
    float *a = malloc(bytes), *b = malloc(bytes), *c = malloc(bytes);
    for (int i = 0; i < n; i++) {
        b[i] = (float)(i % 101) - 50.0f;
        c[i] = (float)(i % 37) * 0.5f;
    }
    CUdeviceptr da, db, dc;
    CHECK(cuMemAlloc(&da, bytes));
    CHECK(cuMemAlloc(&db, bytes));
    CHECK(cuMemAlloc(&dc, bytes));
    CHECK(cuMemcpyHtoD(db, b, bytes));
    CHECK(cuMemcpyHtoD(dc, c, bytes));
    void *args[] = {&da, &db, &dc, &s, &n};
    CHECK(cuLaunchKernel(f, (unsigned)(n + 127) / 128, 1, 1, 128, 1, 1, 0, NULL, args, NULL));
    CHECK(cuMemcpyDtoH(a, da, bytes));
    for (int i = 0; i < n; i++) {
        float want = b[i] + s * c[i];
        if (fabsf(a[i] - want) > 1e-6f * fabsf(want) + 1e-6f) {
            fprintf(stderr, "triad: a[%d] = %g, host says %g\n", i, a[i], want);
            return 1;
        }
    }
    CHECK(cuMemFree(da));
    CHECK(cuMemFree(db));
    CHECK(cuMemFree(dc));
    CHECK(cuModuleUnload(mod));
    printf("libNVVM %d.%d (IR %d.%d): %zu bytes of PTX: ok\n", maj, mn, irmaj, irmn, ptxsz);
    free(a);
    free(b);
    free(c);
    free(ptx);
    return 0;
}
