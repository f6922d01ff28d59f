/* link_rdc.c — JIT linking of separately compiled device code (nvcc -rdc=true): the kernel of
 * rdc_main.ptx (argv[1]) calls poly(), defined in rdc_helper.ptx (argv[2]) and, as a fatbin, in
 * argv[3]; both carry a .weak copy of an inline template. cuLinkCreate/AddFile/AddData/Complete
 * produce an image cuModuleLoadData loads; the JIT options programs pass (logs, wall time, target,
 * verbosity) are honoured or ignored; inputs the CPU driver cannot link (an object file; a
 * SASS-only fatbin, argv[4]) are refused with a log naming them; an unresolved call fails. */
#include "images_common.h"

#include <stdint.h>

static float poly_host(float x, int k) {
    float r = 1.0f;
    for (int j = 0; j < k; j++)
        r = r * x + (float)(j + 1);
    return r;
}

static void run_poly(CUmodule m) {
    CUfunction f;
    CHECK(cuModuleGetFunction(&f, m, "apply_poly"));
    int n = 2000;
    size_t bytes = sizeof(float) * (size_t)n;
    float *x = malloc(bytes), *y = malloc(bytes);
    for (int i = 0; i < n; i++)
        x[i] = (float)(i % 13) * 0.5f - 3.0f;
    CUdeviceptr dx, dy;
    CHECK(cuMemAlloc(&dx, bytes));
    CHECK(cuMemAlloc(&dy, bytes));
    CHECK(cuMemcpyHtoD(dx, x, bytes));
    void *args[] = {&dx, &dy, &n};
    CHECK(cuLaunchKernel(f, (unsigned)(n + 63) / 64, 1, 1, 64, 1, 1, 0, NULL, args, NULL));
    CHECK(cuMemcpyDtoH(y, dy, bytes));
    for (int i = 0; i < n; i++) {
        float want = poly_host(x[i], i % 4) + 2.0f * x[i];
        if (fabsf(y[i] - want) > 1e-5f * fabsf(want) + 1e-5f) {
            fprintf(stderr, "apply_poly: y[%d] = %g, host says %g\n", i, y[i], want);
            exit(1);
        }
    }
    CHECK(cuMemFree(dx));
    CHECK(cuMemFree(dy));
    free(x);
    free(y);
}

int main(int argc, char **argv) {
    if (argc != 5) {
        fprintf(stderr, "usage: %s MAIN_PTX HELPER_PTX HELPER_FATBIN SASS_ONLY_FATBIN\n", argv[0]);
        return 2;
    }
    make_context();
    size_t hlen, flen;
    char *helper = read_file(argv[2], &hlen);
    char *helper_fatbin = read_file(argv[3], &flen);

    /* the main module alone does not load: poly is only declared there */
    CUmodule m;
    char *main_ptx = read_file(argv[1], NULL);
    REQUIRE(strstr(main_ptx, ".extern .func") != NULL);
    REQUIRE(cuModuleLoadData(&m, main_ptx) != CUDA_SUCCESS);

    for (int round = 0; round < 2; round++) {
        char info[2048] = "", err[2048] = "";
        float wall = -1.0f;
        CUjit_option opts[] = {CU_JIT_INFO_LOG_BUFFER,  CU_JIT_INFO_LOG_BUFFER_SIZE_BYTES,
                               CU_JIT_ERROR_LOG_BUFFER, CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES,
                               CU_JIT_WALL_TIME,        CU_JIT_LOG_VERBOSE,
                               CU_JIT_TARGET,           CU_JIT_GENERATE_DEBUG_INFO};
        void *vals[] = {
            info,      (void *)(uintptr_t)sizeof info,          err,      (void *)(uintptr_t)sizeof err, NULL,
            (void *)1, (void *)(uintptr_t)CU_TARGET_COMPUTE_80, (void *)0};
        CUlinkState ls;
        CHECK(cuLinkCreate(8, opts, vals, &ls));
        CHECK(cuLinkAddFile(ls, CU_JIT_INPUT_PTX, argv[1], 0, NULL, NULL));
        if (round == 0)
            CHECK(cuLinkAddData(ls, CU_JIT_INPUT_PTX, helper, hlen + 1, "rdc_helper.ptx", 0, NULL, NULL));
        else
            CHECK(cuLinkAddData(ls, CU_JIT_INPUT_FATBINARY, helper_fatbin, flen, "rdc_helper.fatbin", 0, NULL,
                                NULL));
        if (programs_on_cudaemu()) { /* a GPU's driver links objects and runs its own machine code */
            /* an input kind the CPU driver cannot link: refused, the link goes on */
            REQUIRE(cuLinkAddData(ls, CU_JIT_INPUT_OBJECT, helper, hlen, "host.o", 0, NULL, NULL) ==
                    CUDA_ERROR_NOT_SUPPORTED);
            REQUIRE(strstr(err, "CU_JIT_INPUT_OBJECT") != NULL);
            /* a fatbin with machine code only: refused with the fix in the error log */
            REQUIRE(cuLinkAddFile(ls, CU_JIT_INPUT_FATBINARY, argv[4], 0, NULL, NULL) ==
                    CUDA_ERROR_NO_BINARY_FOR_GPU);
            REQUIRE(strstr(err, "only machine code for sm_80") &&
                    strstr(err, "arch=compute_80,code=compute_80"));
        }
        void *cubin;
        size_t size;
        CHECK(cuLinkComplete(ls, &cubin, &size));
        memcpy(&wall, &vals[4], sizeof wall);
        printf("round %d: linked image of %zu bytes; info log: %s (%.3f ms)\n", round, size, info, wall);
        REQUIRE(size > 0 && wall >= 0.0f && strstr(info, "apply_poly"));
        CHECK(cuModuleLoadData(&m, cubin));
        CHECK(cuLinkDestroy(ls));
        run_poly(m); /* the module outlives the link state */
        CHECK(cuModuleUnload(m));
    }

    /* unresolved: the main module without its helper */
    char err[2048] = "";
    CUjit_option eo[] = {CU_JIT_ERROR_LOG_BUFFER, CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES};
    void *ev[] = {err, (void *)(uintptr_t)sizeof err};
    CUlinkState ls;
    CHECK(cuLinkCreate_v2(2, eo, ev, &ls));
    CHECK(cuLinkAddFile_v2(ls, CU_JIT_INPUT_PTX, argv[1], 0, NULL, NULL));
    void *cubin;
    size_t size;
    REQUIRE(cuLinkComplete(ls, &cubin, &size) != CUDA_SUCCESS);
    printf("unresolved link: %s\n", err);
    REQUIRE(err[0] != 0);
    CHECK(cuLinkDestroy(ls));
    free(helper);
    free(helper_fatbin);
    free(main_ptx);
    printf("link_rdc: ok\n");
    return 0;
}
