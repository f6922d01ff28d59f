/* fatbin_embedded.c — a fatbin compiled into the executable (bin2c output of `nvcc -fatbin`, as
 * nvcc itself embeds one), loaded as raw bytes with cuModuleLoadData, through a
 * __fatBinC_Wrapper_t-shaped struct (what nvcc-generated host code hands to the driver) with
 * cuModuleLoadFatBinary and cuModuleLoadData, and with cuLibraryLoadData. */
#include "images_common.h"
#include "scale_fatbin.h"

/* The layout of fatbinary_section.h's __fatBinC_Wrapper_t. */
typedef struct {
    int magic;
    int version;
    const unsigned long long *data;
    void *filename_or_fatbins;
} fatbin_wrapper;

int main(void) {
    make_context();
    CUmodule m;
    CUfunction f;
    CHECK(cuModuleLoadData(&m, scale_fatbin));
    CHECK(cuModuleGetFunction(&f, m, "scale"));
    run_scale(f, 500, 2.0f);
    CHECK(cuModuleUnload(m));

    const fatbin_wrapper w = {0x466243b1, 1, scale_fatbin, NULL};
    CHECK(cuModuleLoadFatBinary(&m, &w));
    CHECK(cuModuleGetFunction(&f, m, "scale"));
    run_scale(f, 777, -1.25f);
    CHECK(cuModuleUnload(m));

    CHECK(cuModuleLoadData(&m, &w));
    CHECK(cuModuleGetFunction(&f, m, "scale"));
    run_scale(f, 64, 0.5f);
    CHECK(cuModuleUnload(m));

    CUlibrary lib;
    CUkernel k;
    CHECK(cuLibraryLoadData(&lib, &w, NULL, NULL, 0, NULL, NULL, 0));
    CHECK(cuLibraryGetKernel(&k, lib, "scale"));
    run_scale((CUfunction)k, 300, 4.0f);
    CHECK(cuLibraryUnload(lib));

    /* a wrapper with a bad version is refused, not followed */
    const fatbin_wrapper bad = {0x466243b1, 7, scale_fatbin, NULL};
    REQUIRE(cuModuleLoadData(&m, &bad) == CUDA_ERROR_INVALID_IMAGE);
    printf("fatbin_embedded: ok\n");
    return 0;
}
