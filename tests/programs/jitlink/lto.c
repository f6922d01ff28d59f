/* SPDX-License-Identifier: Apache-2.0
 * lto.c — link-time optimisation the way NVVM-IR compilers do it (numba-cuda's default): two NVVM IR
 * modules compiled by libNVVM with -gen-lto to LTO-IR (the kernel, and a device function it calls),
 * linked by nvJitLink with -lto together with a PTX file (nvcc -rdc=true) defining the other device
 * function the kernel calls; the image is loaded with cuModuleLoadData and the kernel's results are
 * compared with the host. Lepton's nvJitLink lowers the LTO-IR to PTX with the toolkit's nvJitLink
 * and joins it with the PTX; the linked image must be PTX text. The other direction too: the PTX
 * kernel of jl_kernel.cu calling functions defined in LTO-IR (kept by @llvm.used). The same link also runs
 * from four threads at once, and -lto -ptx with the LTO-IR alone must give PTX that leaves the PTX file's
 * function .extern; and a fatbin holding only LTO-IR (nvcc code=lto_80) links too.
 * Argument: the directory holding poly.ptx, kernel.ptx and kernel_lto.fatbin. */
#include "jl_common.h" /* CHECK, read_file, jl_run, g_failures */

#include <cuda.h>
#include <nvJitLink.h>
#include <nvvm.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define THREADS 4

/* y[i] = a * poly(x[i]) * twice_if(i) + y[i]; poly is _Z4polyf of the PTX file (jl_poly.cu),
 * twice_if is in the other LTO-IR module. */
static const char k_kernel_ir[] = NVVM_IR_HEADER
    "declare i32 @llvm.nvvm.read.ptx.sreg.tid.x()\n"
    "declare i32 @llvm.nvvm.read.ptx.sreg.ctaid.x()\n"
    "declare i32 @llvm.nvvm.read.ptx.sreg.ntid.x()\n"
    "declare float @_Z4polyf(float)\n"
    "declare float @twice_if(i32)\n"
    "\n"
    /* what keeps a kernel through link-time optimisation (numba-cuda emits the same) */
    "@llvm.used = appending global [1 x i8*] [i8* bitcast (void (float addrspace(1)*, float addrspace(1)*, "
    "float, i32)* "
    "@lto_axpy_poly to i8*)], section \"llvm.metadata\"\n"
    "\n"
    "define void @lto_axpy_poly(float addrspace(1)* %x, float addrspace(1)* %y, float %a, i32 %n) {\n"
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
    "  %px = getelementptr float, float addrspace(1)* %x, i64 %idx\n"
    "  %py = getelementptr float, float addrspace(1)* %y, i64 %idx\n"
    "  %vx = load float, float addrspace(1)* %px, align 4\n"
    "  %p = call float @_Z4polyf(float %vx)\n"
    "  %t = call float @twice_if(i32 %i)\n"
    "  %ap = fmul float %a, %p\n"
    "  %apt = fmul float %ap, %t\n"
    "  %vy = load float, float addrspace(1)* %py, align 4\n"
    "  %r = fadd float %apt, %vy\n"
    "  store float %r, float addrspace(1)* %py, align 4\n"
    "  br label %done\n"
    "done:\n"
    "  ret void\n"
    "}\n"
    "\n"
    "!nvvm.annotations = !{!0}\n"
    "!0 = !{void (float addrspace(1)*, float addrspace(1)*, float, i32)* @lto_axpy_poly, !\"kernel\", i32 "
    "1}\n"
    "!nvvmir.version = !{!1}\n"
    "!1 = !{i32 2, i32 0, i32 3, i32 1}\n";

static const char k_helper_ir[] =
    NVVM_IR_HEADER "define float @twice_if(i32 %i) {\n"
                   "entry:\n"
                   "  %r = srem i32 %i, 3\n"
                   "  %z = icmp eq i32 %r, 0\n"
                   "  %s = select i1 %z, float 2.000000e+00, float 1.000000e+00\n"
                   "  ret float %s\n"
                   "}\n"
                   "\n"
                   "!nvvmir.version = !{!0}\n"
                   "!0 = !{i32 2, i32 0, i32 3, i32 1}\n";

/* poly() and scale_of() of jl_poly.cu, for the PTX kernel of jl_kernel.cu to call: kept through
 * link-time optimisation by @llvm.used although no LTO-IR kernel calls them. */
static const char k_kept_ir[] =
    NVVM_IR_HEADER "@llvm.used = appending global [2 x i8*] [i8* bitcast (float (float)* @_Z4polyf to i8*), "
                   "i8* bitcast (float (i32)* @_Z8scale_ofi to i8*)], section \"llvm.metadata\"\n"
                   "\n"
                   "define float @_Z4polyf(float %x) {\n"
                   "entry:\n"
                   "  %h = fmul float %x, 5.000000e-01\n"
                   "  %a = fadd float %h, 2.000000e+00\n"
                   "  %m = fmul float %a, %x\n"
                   "  %r = fsub float %m, 1.000000e+00\n"
                   "  ret float %r\n"
                   "}\n"
                   "\n"
                   "define float @_Z8scale_ofi(i32 %i) {\n"
                   "entry:\n"
                   "  %r = srem i32 %i, 3\n"
                   "  %z = icmp eq i32 %r, 0\n"
                   "  %s = select i1 %z, float 2.000000e+00, float 1.000000e+00\n"
                   "  ret float %s\n"
                   "}\n"
                   "\n"
                   "!nvvmir.version = !{!0}\n"
                   "!0 = !{i32 2, i32 0, i32 3, i32 1}\n";

typedef struct blob {
    char *data;
    size_t size;
} blob;

static blob gen_lto(const char *ir, const char *name) {
    nvvmProgram prog;
    NVVM_CHECK(nvvmCreateProgram(&prog));
    NVVM_CHECK(nvvmAddModuleToProgram(prog, ir, strlen(ir), name));
    const char *opts[] = {"-arch=compute_80", "-gen-lto"};
    nvvmResult cr = nvvmCompileProgram(prog, 2, opts);
    if (cr != NVVM_SUCCESS) {
        size_t ls = 0;
        nvvmGetProgramLogSize(prog, &ls);
        char *log = calloc(1, ls + 1);
        nvvmGetProgramLog(prog, log);
        fprintf(stderr, "nvvmCompileProgram(%s, -gen-lto): %s\n%s\n", name, nvvmGetErrorString(cr), log);
        exit(1);
    }
    blob b;
    NVVM_CHECK(nvvmGetCompiledResultSize(prog, &b.size));
    b.data = malloc(b.size);
    NVVM_CHECK(nvvmGetCompiledResult(prog, b.data));
    NVVM_CHECK(nvvmDestroyProgram(&prog));
    return b;
}

static char *nvj_log(nvJitLinkHandle h) {
    size_t n = 0;
    char *log = NULL;
    if (nvJitLinkGetErrorLogSize(h, &n) == NVJITLINK_SUCCESS && n) {
        log = calloc(1, n);
        if (log && nvJitLinkGetErrorLog(h, log) != NVJITLINK_SUCCESS) log[0] = 0;
    }
    return log;
}

typedef struct link_job {
    blob kernel, helper, poly; /* inputs (borrowed) */
    int ptx_only;              /* -ptx, LTO-IR inputs only */
    char *image;               /* out: the linked image */
    size_t size;
    char *why; /* out: what failed */
} link_job;

static void *link_one(void *arg) {
    link_job *j = arg;
    const char *opts[] = {"-arch=sm_90", "-lto", "-O3", "-ptx"};
    nvJitLinkHandle h = NULL;
    nvJitLinkResult r = nvJitLinkCreate(&h, j->ptx_only ? 4 : 3, opts);
    if (r == NVJITLINK_SUCCESS)
        r = nvJitLinkAddData(h, NVJITLINK_INPUT_LTOIR, j->kernel.data, j->kernel.size, "kernel.ltoir");
    if (r == NVJITLINK_SUCCESS)
        r = nvJitLinkAddData(h, NVJITLINK_INPUT_ANY, j->helper.data, j->helper.size, "helper.ltoir");
    if (r == NVJITLINK_SUCCESS && !j->ptx_only)
        r = nvJitLinkAddData(h, NVJITLINK_INPUT_PTX, j->poly.data, j->poly.size, "poly.ptx");
    if (r == NVJITLINK_SUCCESS) r = nvJitLinkComplete(h);
    if (r == NVJITLINK_SUCCESS)
        r = j->ptx_only ? nvJitLinkGetLinkedPtxSize(h, &j->size) : nvJitLinkGetLinkedCubinSize(h, &j->size);
    if (r == NVJITLINK_SUCCESS && (j->image = malloc(j->size)) != NULL)
        r = j->ptx_only ? nvJitLinkGetLinkedPtx(h, j->image) : nvJitLinkGetLinkedCubin(h, j->image);
    if (r != NVJITLINK_SUCCESS) {
        char *log = h ? nvj_log(h) : NULL;
        size_t n = 100 + (log ? strlen(log) : 0);
        j->why = malloc(n);
        snprintf(j->why, n, "nvJitLink result %d; error log:\n%s", (int)r, log ? log : "(empty)");
        free(log);
        free(j->image);
        j->image = NULL;
    }
    if (h) nvJitLinkDestroy(&h);
    return NULL;
}

static void run(const void *image, const char *kernel, const char *what) {
    if (jl_run(image, kernel, what)) g_failures++;
}

/* Two inputs linked with -lto: the image, or NULL after printing why. */
static char *link_two(nvJitLinkInputType t1, const blob *b1, const char *n1, nvJitLinkInputType t2,
                      const blob *b2, const char *n2) {
    const char *opts[] = {"-arch=sm_90", "-lto"};
    nvJitLinkHandle h = NULL;
    nvJitLinkResult r = nvJitLinkCreate(&h, 2, opts);
    if (r == NVJITLINK_SUCCESS) r = nvJitLinkAddData(h, t1, b1->data, b1->size, n1);
    if (r == NVJITLINK_SUCCESS) r = nvJitLinkAddData(h, t2, b2->data, b2->size, n2);
    if (r == NVJITLINK_SUCCESS) r = nvJitLinkComplete(h);
    size_t n = 0;
    char *image = NULL;
    if (r == NVJITLINK_SUCCESS) r = nvJitLinkGetLinkedCubinSize(h, &n);
    if (r == NVJITLINK_SUCCESS && (image = malloc(n)) != NULL) r = nvJitLinkGetLinkedCubin(h, image);
    if (r != NVJITLINK_SUCCESS) {
        char *log = h ? nvj_log(h) : NULL;
        fprintf(stderr, "%s + %s: nvJitLink result %d; error log:\n%s\n", n1, n2, (int)r, log ? log : "");
        free(log);
        free(image);
        image = NULL;
    }
    if (h) nvJitLinkDestroy(&h);
    return image;
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s <dir with poly.ptx, kernel.ptx, kernel_lto.fatbin>\n", argv[0]);
        return 2;
    }
    char ppath[4096], kpath[4096];
    snprintf(ppath, sizeof ppath, "%s/poly.ptx", argv[1]);
    snprintf(kpath, sizeof kpath, "%s/kernel.ptx", argv[1]);
    blob polyptx;
    polyptx.data = read_file(ppath, &polyptx.size);
    blob kernel = gen_lto(k_kernel_ir, "kernel.ll"), helper = gen_lto(k_helper_ir, "helper.ll");
    printf("libNVVM -gen-lto: kernel %zu bytes, helper %zu bytes of LTO-IR\n", kernel.size, helper.size);

    /* the same link from THREADS threads at once, before any CUDA call */
    link_job jobs[THREADS];
    pthread_t tid[THREADS];
    for (int t = 0; t < THREADS; t++) {
        jobs[t] = (link_job){kernel, helper, polyptx, 0, NULL, 0, NULL};
        if (pthread_create(&tid[t], NULL, link_one, &jobs[t]) != 0) {
            fprintf(stderr, "pthread_create failed\n");
            return 1;
        }
    }
    for (int t = 0; t < THREADS; t++)
        pthread_join(tid[t], NULL);
    for (int t = 0; t < THREADS; t++) {
        if (!jobs[t].image) {
            fprintf(stderr, "link in thread %d: %s\n", t, jobs[t].why);
            return 1;
        }
        if (jobs[t].size != jobs[0].size || memcmp(jobs[t].image, jobs[0].image, jobs[0].size) != 0) {
            fprintf(stderr, "thread %d linked a different image (%zu bytes, thread 0: %zu)\n", t,
                    jobs[t].size, jobs[0].size);
            g_failures++;
        }
    }
    const char *img = jobs[0].image;
    if (jobs[0].size < 5 || memcmp(img, "\177ELF", 4) == 0 || !strstr(img, ".entry lto_axpy_poly") ||
        img[jobs[0].size - 1] != 0) {
        fprintf(stderr,
                "the linked image is not PTX text with the kernel (is Lepton's libnvJitLink.so.13 first on "
                "LD_LIBRARY_PATH?)\n");
        return 1;
    }
    printf("linked image: %zu bytes of PTX, the same from %d threads\n", jobs[0].size, THREADS);

    /* -lto -ptx with the LTO-IR only: the toolkit's PTX, poly left for a later link */
    link_job pj = {kernel, helper, polyptx, 1, NULL, 0, NULL};
    link_one(&pj);
    if (!pj.image) {
        fprintf(stderr, "-ptx link: %s\n", pj.why);
        return 1;
    }
    if (!strstr(pj.image, ".extern .func") || !strstr(pj.image, "_Z4polyf") ||
        strstr(pj.image, "twice_if(")) {
        fprintf(stderr, "-lto -ptx: expected poly .extern and twice_if inlined:\n%s\n", pj.image);
        g_failures++;
    }

    make_context(); /* the primary context, kept to the end */
    run(img, "lto_axpy_poly", "LTO-IR (kernel, helper) + PTX (poly)");
    blob kernelptx, kept = gen_lto(k_kept_ir, "kept.ll");
    kernelptx.data = read_file(kpath, &kernelptx.size);
    /* the other direction: the PTX kernel of jl_kernel.cu calling functions of LTO-IR */
    char *img2 =
        link_two(NVJITLINK_INPUT_PTX, &kernelptx, "kernel.ptx", NVJITLINK_INPUT_LTOIR, &kept, "kept.ltoir");
    if (img2)
        run(img2, "axpy_poly", "PTX (kernel) + LTO-IR (poly, scale_of in @llvm.used)");
    else
        g_failures++;
    free(img2);
    /* a fatbin holding only LTO-IR (nvcc code=lto_80): the toolkit's nvJitLink takes it whole */
    blob ltofb;
    char fpath[4096];
    snprintf(fpath, sizeof fpath, "%s/kernel_lto.fatbin", argv[1]);
    ltofb.data = read_file(fpath, &ltofb.size);
    char *img3 = link_two(NVJITLINK_INPUT_FATBIN, &ltofb, "kernel_lto.fatbin", NVJITLINK_INPUT_PTX, &polyptx,
                          "poly.ptx");
    if (img3)
        run(img3, "axpy_poly", "fatbin with LTO-IR (kernel) + PTX (poly)");
    else
        g_failures++;
    free(img3);
    free(ltofb.data);
    free(kernelptx.data);
    free(kept.data);
    for (int t = 0; t < THREADS; t++)
        free(jobs[t].image);
    free(pj.image);
    free(kernel.data);
    free(helper.data);
    free(polyptx.data);
    puts(g_failures ? "FAILED" : "PASSED");
    return g_failures != 0;
}
