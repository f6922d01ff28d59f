/* SPDX-License-Identifier: Apache-2.0
 * rdc.c — links a separately compiled (-rdc=true) program with nvJitLink, the way a JIT pipeline does:
 * the kernel's PTX (jl_kernel.cu) and the PTX of its device functions (jl_poly.cu), as files and as
 * in-memory data with NVJITLINK_INPUT_ANY (the functions from a fatbin holding PTX), all before any
 * CUDA call; then loads each linked image with cuModuleLoadData, launches axpy_poly and compares with
 * the host. Where the image is PTX text (Lepton's nvJitLink), it must be the image cuLink* makes from
 * the same inputs. Argument: the directory holding kernel.ptx, poly.ptx, poly.fatbin. */
#include "jl_common.h" /* CHECK, read_file, jl_run, g_failures */

#include <cuda.h>
#include <nvJitLink.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK_NVJ(call)                                                                                      \
    do {                                                                                                     \
        nvJitLinkResult r_ = (call);                                                                         \
        if (r_ != NVJITLINK_SUCCESS) {                                                                       \
            fprintf(stderr, "%s:%d: %s = %d\n", __FILE__, __LINE__, #call, (int)r_);                         \
            exit(1);                                                                                         \
        }                                                                                                    \
    } while (0)

static void print_log(nvJitLinkHandle h) {
    size_t n = 0;
    if (nvJitLinkGetErrorLogSize(h, &n) == NVJITLINK_SUCCESS && n) {
        char *log = malloc(n);
        if (log && nvJitLinkGetErrorLog(h, log) == NVJITLINK_SUCCESS)
            fprintf(stderr, "nvJitLink error log:\n%s", log);
        free(log);
    }
}

/* Completes the link (printing the error log on failure) and returns a copy of the linked cubin. */
static void *complete(nvJitLinkHandle h, int added, size_t *size) {
    if (!added || nvJitLinkComplete(h) != NVJITLINK_SUCCESS) {
        print_log(h);
        exit(1);
    }
    CHECK_NVJ(nvJitLinkGetLinkedCubinSize(h, size));
    void *cubin = malloc(*size);
    CHECK_NVJ(nvJitLinkGetLinkedCubin(h, cubin));
    return cubin;
}

/* The two PTX files with nvJitLinkAddFile; *info gets the -verbose/-time info log. */
static void *link_files(const char *kernel, const char *poly, size_t *size, char **info) {
    const char *opts[] = {"-arch=sm_90", "-O3", "-verbose", "-time"};
    nvJitLinkHandle h = NULL;
    CHECK_NVJ(nvJitLinkCreate(&h, 4, opts));
    void *cubin = complete(h,
                           nvJitLinkAddFile(h, NVJITLINK_INPUT_PTX, kernel) == NVJITLINK_SUCCESS &&
                               nvJitLinkAddFile(h, NVJITLINK_INPUT_PTX, poly) == NVJITLINK_SUCCESS,
                           size);
    size_t in = 0;
    CHECK_NVJ(nvJitLinkGetInfoLogSize(h, &in));
    *info = calloc(1, in + 1);
    if (in) CHECK_NVJ(nvJitLinkGetInfoLog(h, *info));
    CHECK_NVJ(nvJitLinkDestroy(&h));
    if (h != NULL) {
        fprintf(stderr, "nvJitLinkDestroy left the handle set\n");
        g_failures++;
    }
    return cubin;
}

/* The kernel's PTX and the fatbin in memory, both as NVJITLINK_INPUT_ANY. */
static void *link_data(const char *kernel, size_t klen, const char *fatbin, size_t flen, size_t *size) {
    const char *opts[] = {"-arch=sm_90"};
    nvJitLinkHandle h = NULL;
    CHECK_NVJ(nvJitLinkCreate(&h, 1, opts));
    void *cubin = complete(
        h,
        nvJitLinkAddData(h, NVJITLINK_INPUT_ANY, kernel, klen, "kernel.ptx") == NVJITLINK_SUCCESS &&
            nvJitLinkAddData(h, NVJITLINK_INPUT_ANY, fatbin, flen, "poly.fatbin") == NVJITLINK_SUCCESS,
        size);
    /* Lepton's "cubin" is the linked PTX: nvJitLinkGetLinkedPtx hands the same text */
    size_t psize = 0;
    if (nvJitLinkGetLinkedPtxSize(h, &psize) == NVJITLINK_SUCCESS) {
        char *ptx = malloc(psize);
        CHECK_NVJ(nvJitLinkGetLinkedPtx(h, ptx));
        if (psize != *size || memcmp(ptx, cubin, psize) != 0 || ptx[psize - 1] != 0) {
            fprintf(stderr, "linked PTX (%zu bytes) differs from the linked image (%zu bytes)\n", psize,
                    *size);
            g_failures++;
        }
        free(ptx);
    }
    CHECK_NVJ(nvJitLinkDestroy(&h));
    return cubin;
}

static void run(const void *image, const char *what) {
    if (jl_run(image, "axpy_poly", what)) g_failures++;
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s <dir with kernel.ptx, poly.ptx, poly.fatbin>\n", argv[0]);
        return 2;
    }
    char kpath[4096], ppath[4096], fpath[4096];
    snprintf(kpath, sizeof kpath, "%s/kernel.ptx", argv[1]);
    snprintf(ppath, sizeof ppath, "%s/poly.ptx", argv[1]);
    snprintf(fpath, sizeof fpath, "%s/poly.fatbin", argv[1]);
    unsigned maj = 0, mnr = 0;
    CHECK_NVJ(nvJitLinkVersion(&maj, &mnr));
    printf("nvJitLink %u.%u\n", maj, mnr);

    /* the links need no CUDA context: nothing of the driver has been called yet */
    size_t s1, s2, klen, flen;
    char *info;
    void *img1 = link_files(kpath, ppath, &s1, &info);
    char *kernel = read_file(kpath, &klen);
    char *fatbin = read_file(fpath, &flen);
    void *img2 = link_data(kernel, klen, fatbin, flen, &s2);
    int lepton = s1 > 0 && memcmp(img1, "\177ELF", 4) != 0;
    printf("linked images: %zu and %zu bytes (%s)\n", s1, s2,
           lepton ? "PTX text: Lepton's nvJitLink" : "cubin");
    if (lepton && !strstr(info, "linked 2 input(s)")) {
        fprintf(stderr, "-verbose info log lacks the link summary:\n%s\n", info);
        g_failures++;
    }

    CUdevice dev;
    CUcontext ctx;
    CHECK(cuInit(0));
    CHECK(cuDeviceGet(&dev, 0));
    CHECK(cuCtxCreate(&ctx, NULL, 0, dev));
    run(img1, "nvJitLinkAddFile(PTX, PTX)");
    run(img2, "nvJitLinkAddData(ANY: PTX, fatbin)");

    /* cuLink* joins the same inputs with the same code: the same image (on cudaemu, whose cuLink*
     * makes PTX text; a GPU's driver makes a cubin) */
    if (lepton && programs_on_cudaemu()) {
        CUlinkState ls;
        void *cimg;
        size_t csize;
        CHECK(cuLinkCreate(0, NULL, NULL, &ls));
        CHECK(cuLinkAddFile(ls, CU_JIT_INPUT_PTX, kpath, 0, NULL, NULL));
        CHECK(cuLinkAddFile(ls, CU_JIT_INPUT_PTX, ppath, 0, NULL, NULL));
        CHECK(cuLinkComplete(ls, &cimg, &csize));
        if (csize != s1 || memcmp(cimg, img1, s1) != 0) {
            fprintf(stderr, "cuLinkComplete's image (%zu bytes) differs from nvJitLink's (%zu bytes)\n",
                    csize, s1);
            g_failures++;
        } else {
            printf("cuLinkComplete made the same %zu-byte image\n", csize);
        }
        run(cimg, "cuLinkAddFile(PTX, PTX)");
        CHECK(cuLinkDestroy(ls));
    }
    CHECK(cuCtxDestroy(ctx));
    free(img1);
    free(img2);
    free(info);
    free(kernel);
    free(fatbin);
    puts(g_failures ? "FAILED" : "PASSED");
    return g_failures != 0;
}
