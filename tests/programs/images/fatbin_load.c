/* fatbin_load.c — loads a fatbin made by `nvcc -fatbin` (argv[1]) the three ways programs do
 * (cuModuleLoad on the file, cuModuleLoadDataEx with JIT logs on its bytes, cuModuleLoadFatBinary)
 * and runs its kernel. argv[2] says whether nvcc compressed the PTX entry ("compressed"/"plain"),
 * checked from the container itself so the test covers what it claims. */
#include "images_common.h"

#include <stdint.h>

static uint32_t rd32(const unsigned char *p) { return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24; }
static uint64_t rd64(const unsigned char *p) { return rd32(p) | (uint64_t)rd32(p + 4) << 32; }

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s FATBIN compressed|plain\n", argv[0]);
        return 2;
    }
    size_t len;
    unsigned char *img = (unsigned char *)read_file(argv[1], &len);
    REQUIRE(len > 16 && rd32(img) == 0xBA55ED50u);
    /* the container: 16-byte header, then entries {kind u16, ..., header size u32 @4, payload u64 @8,
     * arch u32 @28, flags u64 @40}; kind 1 is PTX, 2 is ELF; flags 0x2000 LZ4, 0x8000 ZSTD */
    int ptx_entries = 0, compressed = 0;
    for (uint64_t off = rd32(img + 4) >> 16, end = off + rd64(img + 8); off < end;) {
        const unsigned char *e = img + off;
        if ((e[0] | e[1] << 8) == 1) {
            ptx_entries++;
            compressed |= (rd64(e + 40) & 0xa000u) != 0;
            REQUIRE(rd32(e + 28) == 80);
        }
        off += rd32(e + 4) + rd64(e + 8);
    }
    REQUIRE(ptx_entries == 1);
    REQUIRE(compressed == (strcmp(argv[2], "compressed") == 0));

    make_context();
    CUmodule m1, m2, m3;
    CUfunction f;
    CHECK(cuModuleLoad(&m1, argv[1]));
    CHECK(cuModuleGetFunction(&f, m1, "scale"));
    run_scale(f, 1000, 1.5f);

    char info[1024] = "", err[1024] = "x";
    float wall = -1.0f;
    CUjit_option opts[] = {CU_JIT_INFO_LOG_BUFFER,   CU_JIT_INFO_LOG_BUFFER_SIZE_BYTES,
                           CU_JIT_ERROR_LOG_BUFFER,  CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES,
                           CU_JIT_WALL_TIME,         CU_JIT_LOG_VERBOSE,
                           CU_JIT_OPTIMIZATION_LEVEL};
    void *vals[] = {
        info, (void *)(uintptr_t)sizeof info, err, (void *)(uintptr_t)sizeof err, NULL, (void *)1, (void *)4};
    CHECK(cuModuleLoadDataEx(&m2, img, 7, opts, vals));
    memcpy(&wall, &vals[4], sizeof wall);
    printf("info log: %s (wall %.3f ms)\n", info, wall);
    REQUIRE(wall >= 0.0f);
    REQUIRE(err[0] == 0);
    REQUIRE(strstr(info, "scale") != NULL); /* CU_JIT_LOG_VERBOSE: the info log names the kernels */
    CHECK(cuModuleGetFunction(&f, m2, "scale"));
    run_scale(f, 4099, -0.75f);

    CHECK(cuModuleLoadFatBinary(&m3, img));
    CHECK(cuModuleGetFunction(&f, m3, "scale"));
    run_scale(f, 33, 3.0f);

    CHECK(cuModuleUnload(m1));
    CHECK(cuModuleUnload(m2));
    CHECK(cuModuleUnload(m3));
    free(img);
    printf("fatbin_load %s (%s): ok\n", argv[1], argv[2]);
    return 0;
}
