/* SPDX-License-Identifier: Apache-2.0
 * programs_common.h — what every tests/programs area shares: checks on CUresult and conditions with
 * file:line in the style of the driver-API samples, a failure counter, reading a file whole, and the
 * primary context made current. Two kinds of check:
 *   CHECK(call)              the call must succeed, else the program exits 1;
 *   REQUIRE(cond[, fmt...])  REQUIRE_CU(call, want): the same, fatal (later steps depend on it);
 *   EXPECT(cond[, fmt...])   EXPECT_CU(call, want): counted in g_failures, the program goes on and
 *                            reports at its end (return g_failures != 0).
 * Included by the programs of tests/programs/<area>/ (the CMake helper lepton_program puts this
 * directory on their include path). */
#ifndef PROGRAMS_COMMON_H
#define PROGRAMS_COMMON_H

#include <cuda.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Failed EXPECT / EXPECT_CU checks so far. */
__attribute__((unused)) static int g_failures;

/* The name of r, or "(unknown CUresult)". */
static inline const char *cu_name(CUresult r) {
    const char *s = NULL;
    return cuGetErrorName(r, &s) == CUDA_SUCCESS && s ? s : "(unknown CUresult)";
}

/* The checks below: a CUresult call that must return `want`, and a condition with an optional
 * printf-style message ("file:line: expected cond[: message]"); on failure each prints one line and
 * does `on_fail` (exit, or count). `text` is the check as written. */
#define PC_CU_(call, text, want, on_fail)                                                                    \
    do {                                                                                                     \
        CUresult check_r_ = (call), check_w_ = (want);                                                       \
        if (check_r_ != check_w_) {                                                                          \
            fprintf(stderr, "%s:%d: %s returned %s (%d), want %s\n", __FILE__, __LINE__, text,               \
                    cu_name(check_r_), (int)check_r_, cu_name(check_w_));                                    \
            on_fail;                                                                                         \
        }                                                                                                    \
    } while (0)

#define PC_COND_(ok, text, on_fail, ...)                                                                     \
    do {                                                                                                     \
        if (!(ok)) {                                                                                         \
            fprintf(stderr, "%s:%d: expected %s", __FILE__, __LINE__, text);                                 \
            __VA_OPT__(fputs(": ", stderr); fprintf(stderr, __VA_ARGS__);)                                   \
            fputc('\n', stderr);                                                                             \
            on_fail;                                                                                         \
        }                                                                                                    \
    } while (0)

/* A call that must succeed. */
#define CHECK(call) PC_CU_(call, #call, CUDA_SUCCESS, exit(1))

/* A call that must return exactly `want`: fatal / counted. */
#define REQUIRE_CU(call, want) PC_CU_(call, #call, want, exit(1))
#define EXPECT_CU(call, want) PC_CU_(call, #call, want, g_failures++)

/* A condition, with an optional printf-style message: fatal / counted. */
#define REQUIRE(cond, ...) PC_COND_(cond, #cond, exit(1) __VA_OPT__(, ) __VA_ARGS__)
#define EXPECT(cond, ...) PC_COND_(cond, #cond, g_failures++ __VA_OPT__(, ) __VA_ARGS__)

/* A call of a toolkit library (NVRTC, libNVVM) that must return `ok`; describe(status) names what it
 * returned. */
#define CHECK_STATUS(call, ok, describe)                                                                     \
    do {                                                                                                     \
        int status_ = (int)(call);                                                                           \
        if (status_ != (int)(ok)) {                                                                          \
            fprintf(stderr, "%s:%d: %s: %s\n", __FILE__, __LINE__, #call, describe(status_));                \
            exit(1);                                                                                         \
        }                                                                                                    \
    } while (0)
#define NVRTC_CHECK(call) CHECK_STATUS(call, NVRTC_SUCCESS, nvrtcGetErrorString)
#define NVVM_CHECK(call) CHECK_STATUS(call, NVVM_SUCCESS, nvvmGetErrorString)

/* What begins an NVVM IR module for libNVVM: the data layout and target triple of 64-bit NVPTX. */
#define NVVM_IR_HEADER                                                                                       \
    "target datalayout = "                                                                                   \
    "\"e-p:64:64:64-i1:8:8-i8:8:8-i16:16:16-i32:32:32-i64:64:64-f32:32:32-f64:64:64-v16:16:16-"              \
    "v32:32:32-v64:64:64-v128:128:128-n16:32:64\"\n"                                                         \
    "target triple = \"nvptx64-nvidia-cuda\"\n"

/* The whole of path, NUL-terminated (free it); its size without the NUL in *len when len is not
 * NULL. Exits when the file cannot be read. */
static inline char *read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    REQUIRE(f != NULL, "cannot open %s", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    REQUIRE(n >= 0, "cannot size %s", path);
    char *buf = malloc((size_t)n + 1);
    REQUIRE(buf && fread(buf, 1, (size_t)n, f) == (size_t)n, "cannot read %s", path);
    buf[n] = 0;
    fclose(f);
    if (len) *len = (size_t)n;
    return buf;
}

/* cuInit, device 0's primary context retained and made current; the device in *dev when dev is not
 * NULL. */
static inline CUcontext make_context_dev(CUdevice *dev) {
    CUdevice d;
    CUcontext ctx;
    CHECK(cuInit(0));
    CHECK(cuDeviceGet(&d, 0));
    CHECK(cuDevicePrimaryCtxRetain(&ctx, d));
    CHECK(cuCtxSetCurrent(ctx));
    if (dev) *dev = d;
    return ctx;
}

static inline CUcontext make_context(void) { return make_context_dev(NULL); }

/* 1 when the libcuda.so.1 this process loaded is cudaemu (Lepton's CPU driver), 0 when it is another
 * driver (a GPU's). Decided at run time, whatever the environment says: the driver library mapped
 * into the process (/proc/self/maps, the first file named libcuda.so*) holds the text "cudaemu: "
 * that starts cudaemu's CUDAEMU_LOG lines, which NVIDIA's driver does not. Checks of what only cudaemu
 * does (its log text, its refusal of machine code, its empty export tables) are made only then. */
static inline int programs_on_cudaemu(void) {
    static int known = -1;
    if (known >= 0) return known;
    known = 0;
    char line[4096], path[4096] = "";
    FILE *maps = fopen("/proc/self/maps", "r");
    if (!maps) return known;
    while (!path[0] && fgets(line, sizeof line, maps)) {
        char *file = strchr(line, '/');
        char *base = file ? strrchr(file, '/') : NULL;
        if (base && !strncmp(base, "/libcuda.so", 11)) {
            file[strcspn(file, "\n")] = 0;
            snprintf(path, sizeof path, "%s", file);
        }
    }
    fclose(maps);
    FILE *f = path[0] ? fopen(path, "rb") : NULL;
    if (!f) return known;
    static const char mark[] = "cudaemu: ";
    enum { MARK = sizeof mark - 1, CHUNK = 1 << 16 };
    static char buf[CHUNK + MARK];
    size_t keep = 0, n;
    while (!known && (n = fread(buf + keep, 1, CHUNK, f)) > 0) {
        size_t have = keep + n;
        for (size_t i = 0; i + MARK <= have; i++)
            if (buf[i] == 'c' && !memcmp(buf + i, mark, MARK)) {
                known = 1;
                break;
            }
        keep = have < MARK - 1 ? have : MARK - 1;
        memmove(buf, buf + have - keep, keep);
    }
    fclose(f);
    return known;
}

#endif
