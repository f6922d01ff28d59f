/* fatbin_errors.c — images cudaemu cannot run are refused the way the driver refuses them: a fatbin
 * with machine code only (nvcc -gencode arch=compute_80,code=sm_80, argv[1]), one with LTO IR only
 * (code=lto_80, argv[3]) and a bare cubin give CUDA_ERROR_NO_BINARY_FOR_GPU with a JIT error log
 * naming the fix; a truncated or corrupted fatbin (made from argv[2], a compressed one) gives
 * CUDA_ERROR_INVALID_IMAGE. Afterwards the context still loads and runs the good image.
 * On another driver than cudaemu (a GPU's, programs_on_cudaemu() == 0) only what does not depend on
 * the driver's choices is checked: sm_80 machine code is refused with CUDA_ERROR_NO_BINARY_FOR_GPU on
 * a GPU that cannot run it (compute capability not 8.x), a truncated fatbin is refused, and the good
 * image runs; the log texts, the LTO-only image and the corrupted PTX entry (a GPU of 8.x takes the
 * SASS beside it) are cudaemu's. */
#include "images_common.h"

#include <stdint.h>
#include <unistd.h>

static uint32_t rd32(const unsigned char *p) { return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24; }
static uint64_t rd64(const unsigned char *p) { return rd32(p) | (uint64_t)rd32(p + 4) << 32; }

/* The entry of the given kind (1 PTX, 2 ELF) in a fatbin. */
static unsigned char *entry(unsigned char *img, int kind) {
    for (uint64_t off = 16, end = 16 + rd64(img + 8); off < end;) {
        unsigned char *e = img + off;
        if ((e[0] | e[1] << 8) == kind) return e;
        off += rd32(e + 4) + rd64(e + 8);
    }
    return NULL;
}

static void expect_log(const char *log, const char *want) {
    if (!strstr(log, want)) {
        fprintf(stderr, "error log \"%s\" lacks \"%s\"\n", log, want);
        exit(1);
    }
}

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: %s SASS_ONLY_FATBIN COMPRESSED_FATBIN LTO_ONLY_FATBIN\n", argv[0]);
        return 2;
    }
    size_t slen, glen;
    unsigned char *sass = (unsigned char *)read_file(argv[1], &slen);
    unsigned char *good = (unsigned char *)read_file(argv[2], &glen);
    REQUIRE(entry(sass, 2) && !entry(sass, 1));
    CUdevice dev;
    make_context_dev(&dev);
    CUmodule m;
    if (!programs_on_cudaemu()) {
        int major = 0;
        CHECK(cuDeviceGetAttribute(&major, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, dev));
        printf("not cudaemu (compute capability %d.x): driver-independent checks only\n", major);
        if (major != 8) REQUIRE(cuModuleLoadData(&m, sass) == CUDA_ERROR_NO_BINARY_FOR_GPU);
        char tpath[] = "/tmp/lepton_images_truncXXXXXX";
        int tfd = mkstemp(tpath);
        REQUIRE(tfd >= 0);
        REQUIRE(write(tfd, good, glen / 2) == (ssize_t)(glen / 2));
        close(tfd);
        CUresult tr = cuModuleLoad(&m, tpath);
        unlink(tpath);
        REQUIRE(tr != CUDA_SUCCESS, "a truncated fatbin was loaded");
        CUfunction gf;
        CHECK(cuModuleLoadData(&m, good));
        CHECK(cuModuleGetFunction(&gf, m, "scale"));
        run_scale(gf, 257, 2.5f);
        CHECK(cuModuleUnload(m));
        free(sass);
        free(good);
        printf("fatbin_errors: ok\n");
        return 0;
    }

    char err[1024] = "";
    CUjit_option opts[] = {CU_JIT_ERROR_LOG_BUFFER, CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES};
    void *vals[] = {err, (void *)(uintptr_t)sizeof err};
    REQUIRE(cuModuleLoadDataEx(&m, sass, 2, opts, vals) == CUDA_ERROR_NO_BINARY_FOR_GPU);
    printf("error log: %s\n", err);
    expect_log(err, "this image holds only machine code for sm_80");
    expect_log(err, "the CPU driver needs PTX (compile with -gencode arch=compute_80,code=compute_80)");
    REQUIRE((uintptr_t)vals[1] == strlen(err) + 1);
    REQUIRE(cuModuleLoad(&m, argv[1]) == CUDA_ERROR_NO_BINARY_FOR_GPU);
    CUlibrary lib;
    REQUIRE(cuLibraryLoadData(&lib, sass, NULL, NULL, 0, NULL, NULL, 0) == CUDA_ERROR_NO_BINARY_FOR_GPU);

    /* LTO IR only (code=lto_80): no PTX either */
    err[0] = 0;
    vals[1] = (void *)(uintptr_t)sizeof err;
    size_t llen;
    char *lto = read_file(argv[3], &llen);
    REQUIRE(cuModuleLoadDataEx(&m, lto, 2, opts, vals) == CUDA_ERROR_NO_BINARY_FOR_GPU);
    expect_log(err, "only LTO IR for compute_80");
    free(lto);

    /* the bare cubin inside it */
    unsigned char *elf = entry(sass, 2);
    const unsigned char *cubin = elf + rd32(elf + 4);
    REQUIRE(memcmp(cubin, "\177ELF", 4) == 0);
    err[0] = 0;
    vals[1] = (void *)(uintptr_t)sizeof err;
    REQUIRE(cuModuleLoadDataEx(&m, cubin, 2, opts, vals) == CUDA_ERROR_NO_BINARY_FOR_GPU);
    expect_log(err, "only machine code for sm_80");

    /* truncated: half of a good fatbin in a file */
    char path[] = "/tmp/lepton_images_truncXXXXXX";
    int fd = mkstemp(path);
    REQUIRE(fd >= 0);
    REQUIRE(write(fd, good, glen / 2) == (ssize_t)(glen / 2));
    close(fd);
    REQUIRE(cuModuleLoad(&m, path) == CUDA_ERROR_INVALID_IMAGE);
    REQUIRE(cuLibraryLoadFromFile(&lib, path, NULL, NULL, 0, NULL, NULL, 0) == CUDA_ERROR_INVALID_IMAGE);
    unlink(path);

    /* corrupted compressed PTX: wrong decompressed size, then a damaged stream */
    unsigned char *ptx = entry(good, 1);
    REQUIRE(ptx && (rd64(ptx + 40) & 0xa000u));
    unsigned char *bad = malloc(glen);
    memcpy(bad, good, glen);
    unsigned char *bp = bad + (ptx - good);
    bp[56]++;
    REQUIRE(cuModuleLoadData(&m, bad) == CUDA_ERROR_INVALID_IMAGE);
    memcpy(bad, good, glen);
    memset(bp + rd32(bp + 4), 0, 4);
    REQUIRE(cuModuleLoadData(&m, bad) == CUDA_ERROR_INVALID_IMAGE);
    memcpy(bad, good, glen);
    bp[8] = 0xff; /* payload size beyond the container */
    bp[12] = 0x7f;
    REQUIRE(cuModuleLoadData(&m, bad) == CUDA_ERROR_INVALID_IMAGE);

    /* nothing broke: the good image loads and runs */
    CUfunction f;
    CHECK(cuModuleLoadData(&m, good));
    CHECK(cuModuleGetFunction(&f, m, "scale"));
    run_scale(f, 257, 2.5f);
    CHECK(cuModuleUnload(m));
    free(bad);
    free(sass);
    free(good);
    printf("fatbin_errors: ok\n");
    return 0;
}
