/* test_image.c — the remote driver's content-derived image sizes (src/remote/image.c: PTX, ELF
 * cubin, fatbin, nvcc's fatbin wrapper) and its error-text mapping (src/remote/errmap.c). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "errmap.h"
#include "image.h"

static void put(unsigned char *p, uint64_t v, int n) {
    for (int i = 0; i < n; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static void ptx_text(void) {
    const char *ptx = ".version 7.0\n.target sm_70\n";
    const void *data;
    size_t size = 0;
    CHECK(rm_image_extent(ptx, &data, &size) == 0);
    CHECK(data == ptx && size == strlen(ptx) + 1);
    CHECK(rm_image_extent("ab", &data, &size) == 0 && size == 3); /* shorter than a magic */
}

static void fatbin_and_wrapper(void) {
    /* a fatbin: header of 16 bytes announcing 48 bytes of entries, followed by junk */
    unsigned char *fb = calloc(1, 256);
    put(fb, 0xBA55ED50u, 4);
    put(fb + 4, 1, 2);
    put(fb + 6, 16, 2);
    put(fb + 8, 48, 8);
    memset(fb + 64, 0xEE, 100);
    const void *data;
    size_t size = 0;
    CHECK(rm_image_extent(fb, &data, &size) == 0);
    CHECK(data == fb && size == 64);
    /* nvcc's wrapper: magic, version, then the fatbin's address */
    struct {
        uint32_t magic, version;
        const void *data;
        void *filename;
    } w = {0x466243B1u, 1, fb, NULL};
    CHECK(rm_image_extent(&w, &data, &size) == 0);
    CHECK(data == fb && size == 64);
    w.data = "not a fatbin";
    CHECK(rm_image_extent(&w, &data, &size) == -1);
    put(fb + 6, 4, 2); /* a header size below its own 16 bytes */
    CHECK(rm_image_extent(fb, &data, &size) == -1);
    free(fb);
}

static void elf_cubin(void) {
    /* ELF64 LE: 3 sections of 64-byte headers at offset 0x200; section 1 ends at 0x300, section 2
     * is NOBITS (no file bytes) and claims 0x10000 */
    unsigned char *e = calloc(1, 0x400);
    memcpy(e,
           "\x7f"
           "ELF",
           4);
    e[4] = 2;
    e[5] = 1;
    e[6] = 1;
    put(e + 0x28, 0x200, 8); /* e_shoff */
    put(e + 0x3A, 64, 2);    /* e_shentsize */
    put(e + 0x3C, 3, 2);     /* e_shnum */
    unsigned char *sh1 = e + 0x200 + 64, *sh2 = e + 0x200 + 128;
    put(sh1 + 4, 1, 4);
    put(sh1 + 0x18, 0x2C0, 8);
    put(sh1 + 0x20, 0x40, 8);
    put(sh2 + 4, 8, 4);
    put(sh2 + 0x18, 0x300, 8);
    put(sh2 + 0x20, 0x10000, 8);
    const void *data;
    size_t size = 0;
    CHECK(rm_image_extent(e, &data, &size) == 0);
    CHECK(size == 0x300);      /* the section header table (0x200 + 3 * 64) and section 1 both end there */
    put(sh1 + 0x20, 0x140, 8); /* section 1 now ends at 0x400 */
    CHECK(rm_image_extent(e, &data, &size) == 0 && size == 0x400);
    e[4] = 1; /* 32-bit: not a cubin */
    CHECK(rm_image_extent(e, &data, &size) == -1);
    free(e);
}

static void error_text(void) {
    CHECK(rm_error_from_text("CUDA_ERROR_ILLEGAL_ADDRESS: launch step 3: boom", CUDA_ERROR_UNKNOWN) ==
          CUDA_ERROR_ILLEGAL_ADDRESS);
    CHECK(rm_error_from_text("job failed: CUDA_ERROR_INVALID_VALUE: memset step 0", CUDA_ERROR_UNKNOWN) ==
          CUDA_ERROR_INVALID_VALUE);
    CHECK(rm_error_from_text("CUDA_ERROR_NOT_A_CODE then CUDA_ERROR_LAUNCH_TIMEOUT", CUDA_ERROR_UNKNOWN) ==
          CUDA_ERROR_LAUNCH_TIMEOUT);
    CHECK(rm_error_from_text("CUDA_ERROR_ASSERT", CUDA_ERROR_UNKNOWN) == CUDA_ERROR_ASSERT);
    CHECK(rm_error_from_text("worker said no", CUDA_ERROR_LAUNCH_FAILED) == CUDA_ERROR_LAUNCH_FAILED);
    CHECK(rm_error_from_text(NULL, CUDA_ERROR_INVALID_VALUE) == CUDA_ERROR_INVALID_VALUE);
}

int main(int argc, char **argv) {
    static const check_case cases[] = {{"ptx_text", ptx_text},
                                       {"fatbin_and_wrapper", fatbin_and_wrapper},
                                       {"elf_cubin", elf_cubin},
                                       {"error_text", error_text}};
    return check_main(argc, argv, cases, sizeof cases / sizeof cases[0], NULL, NULL);
}
