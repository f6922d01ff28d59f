/* SPDX-License-Identifier: Apache-2.0
 * Tests of the CUDA driver API outside kernel execution, and of its error paths: initialization,
 * versions, devices and attributes, primary and created contexts, modules and the JIT log, function
 * attributes and parameter info, memory (allocation, memsets, copies, async copies, errors),
 * streams and events, bad launch configurations, error names/strings, cuGetProcAddress.
 *
 *   lepton_test_driver_api [--gpu] PTX_DIR [TEST...]
 *
 * With TEST names only those run (cuInit first, except for not_initialized); --list names them.
 * PTX_DIR holds the corpus PTX (vector_add.sm_75.ptx, matmul_tiled.sm_75.ptx, param_struct.sm_75.ptx).
 * When CUDAEMU_DEVICES ("NAME:80G;NAME:80G") or CUDAEMU_DEVICE_COUNT is set (and --gpu is not given)
 * the devices reported must match it. Expected CUresults are the ones the CUDA driver API
 * documentation (cuda.h) gives; where the real driver's code is not documented precisely, the test
 * asserts only "not CUDA_SUCCESS" and says so. Prints "ok"/"not ok" per test; exits 1 on any failure. */
#include <cuda.h>

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *g_ptx_dir;
static int g_gpu;
static char g_why[1024];
static char *g_vector_add_ptx, *g_matmul_ptx, *g_param_ptx;

static const char *errname(CUresult r) {
    const char *s = NULL;
    if (cuGetErrorName(r, &s) != CUDA_SUCCESS || s == NULL) return "(unknown)";
    return s;
}

static int failf(int line, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int failf(int line, const char *fmt, ...) {
    va_list ap;
    int n = snprintf(g_why, sizeof g_why, "line %d: ", line);
    va_start(ap, fmt);
    vsnprintf(g_why + n, sizeof g_why - (size_t)n, fmt, ap);
    va_end(ap);
    return 1;
}

#define EXPECT_CU(call, want)                                                                                \
    do {                                                                                                     \
        CUresult r_ = (call);                                                                                \
        if (r_ != (want))                                                                                    \
            return failf(__LINE__, "%s returned %s (%d), want %s", #call, errname(r_), (int)r_,              \
                         errname(want));                                                                     \
    } while (0)
#define OK(call) EXPECT_CU(call, CUDA_SUCCESS)
/* For error paths whose exact code the documentation does not pin down. */
#define EXPECT_FAIL(call)                                                                                    \
    do {                                                                                                     \
        CUresult r_ = (call);                                                                                \
        if (r_ == CUDA_SUCCESS) return failf(__LINE__, "%s succeeded, want an error", #call);                \
    } while (0)
#define EXPECT(cond, ...)                                                                                    \
    do {                                                                                                     \
        if (!(cond)) return failf(__LINE__, __VA_ARGS__);                                                    \
    } while (0)

static char *read_ptx(const char *name) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", g_ptx_dir, name);
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        fprintf(stderr, "cannot open %s: %s\n", path, strerror(errno));
        return NULL;
    }
    char *buf = NULL;
    long len = -1;
    if (fseek(f, 0, SEEK_END) == 0) len = ftell(f);
    if (len >= 0 && fseek(f, 0, SEEK_SET) == 0 && (buf = malloc((size_t)len + 1)) != NULL) {
        if (fread(buf, 1, (size_t)len, f) != (size_t)len) {
            free(buf);
            buf = NULL;
        } else {
            buf[len] = '\0';
        }
    }
    fclose(f);
    return buf;
}

/* Makes the primary context of device 0 current. */
static CUresult primary_begin(CUdevice *dev) {
    CUcontext c;
    CUresult r = cuDeviceGet(dev, 0);
    if (r == CUDA_SUCCESS) r = cuDevicePrimaryCtxRetain(&c, *dev);
    if (r == CUDA_SUCCESS) r = cuCtxSetCurrent(c);
    return r;
}

static void primary_end(CUdevice dev) {
    (void)cuCtxSetCurrent(NULL);
    (void)cuDevicePrimaryCtxRelease(dev);
}

/* ---- tests ---------------------------------------------------------------------------------- */

static int t_not_initialized(void) {
    int n = -1;
    CUdevice d;
    EXPECT_CU(cuDeviceGetCount(&n), CUDA_ERROR_NOT_INITIALIZED);
    EXPECT_CU(cuDeviceGet(&d, 0), CUDA_ERROR_NOT_INITIALIZED);
    return 0;
}

static int t_init(void) {
    OK(cuInit(0));
    OK(cuInit(0)); /* idempotent */
    /* Flags must be 0; the documented code is not specific. */
    EXPECT_FAIL(cuInit(1));
    OK(cuInit(0));
    return 0;
}

static int t_version(void) {
    int v = 0;
    OK(cuDriverGetVersion(&v));
    EXPECT(v >= 12000 && v % 10 == 0, "cuDriverGetVersion = %d, want a 12.0+ version (1000*major + 10*minor)",
           v);
    EXPECT_CU(cuDriverGetVersion(NULL), CUDA_ERROR_INVALID_VALUE);
    printf("# driver version %d.%d\n", v / 1000, (v % 1000) / 10);
    return 0;
}

static unsigned long long parse_size(const char *s) {
    char *end = NULL;
    unsigned long long v = strtoull(s, &end, 10);
    switch (end ? *end : '\0') {
    case 'T':
    case 't':
        return v << 40;
    case 'G':
    case 'g':
        return v << 30;
    case 'M':
    case 'm':
        return v << 20;
    case 'K':
    case 'k':
        return v << 10;
    default:
        return v;
    }
}

static int t_devices(void) {
    int n = 0;
    OK(cuDeviceGetCount(&n));
    EXPECT(n >= 1, "cuDeviceGetCount = %d", n);
    EXPECT_CU(cuDeviceGetCount(NULL), CUDA_ERROR_INVALID_VALUE);
    CUdevice bad;
    EXPECT_CU(cuDeviceGet(&bad, n), CUDA_ERROR_INVALID_DEVICE);
    EXPECT_CU(cuDeviceGet(&bad, -1), CUDA_ERROR_INVALID_DEVICE);

    const char *spec = g_gpu ? NULL : getenv("CUDAEMU_DEVICES");
    const char *count_env = g_gpu ? NULL : getenv("CUDAEMU_DEVICE_COUNT");
    char specbuf[1024] = "";
    char *entries[64];
    int nentries = 0;
    if (spec != NULL && *spec) {
        snprintf(specbuf, sizeof specbuf, "%s", spec);
        for (char *save = NULL, *tok = strtok_r(specbuf, ";", &save); tok && nentries < 64;
             tok = strtok_r(NULL, ";", &save))
            entries[nentries++] = tok;
        EXPECT(n == nentries, "CUDAEMU_DEVICES names %d devices, cuDeviceGetCount says %d", nentries, n);
    } else if (count_env != NULL && *count_env) {
        EXPECT(n == atoi(count_env), "CUDAEMU_DEVICE_COUNT=%s, cuDeviceGetCount says %d", count_env, n);
    }

    CUuuid uuids[64];
    for (int i = 0; i < n && i < 64; ++i) {
        CUdevice d;
        char name[256] = "";
        size_t mem = 0;
        OK(cuDeviceGet(&d, i));
        OK(cuDeviceGetName(name, sizeof name, d));
        EXPECT(name[0] != '\0', "device %d has an empty name", i);
        EXPECT_CU(cuDeviceGetName(name, sizeof name, (CUdevice)n + 5), CUDA_ERROR_INVALID_DEVICE);
        OK(cuDeviceTotalMem(&mem, d));
        EXPECT(mem > 0, "device %d: total memory 0", i);
        OK(cuDeviceGetUuid(&uuids[i], d));
        static const CUuuid zero;
        EXPECT(memcmp(&uuids[i], &zero, sizeof zero) != 0, "device %d: all-zero UUID", i);
        for (int j = 0; j < i; ++j)
            EXPECT(memcmp(&uuids[i], &uuids[j], sizeof zero) != 0, "devices %d and %d share a UUID", j, i);
        printf("# device %d: %s, %zu MiB\n", i, name, mem >> 20);
        if (i < nentries) {
            char *colon = strrchr(entries[i], ':');
            EXPECT(colon != NULL, "bad CUDAEMU_DEVICES entry '%s'", entries[i]);
            *colon = '\0';
            EXPECT(strcmp(name, entries[i]) == 0, "device %d is named '%s', CUDAEMU_DEVICES says '%s'", i,
                   name, entries[i]);
            unsigned long long want = parse_size(colon + 1);
            EXPECT(mem == want, "device %d has %zu bytes, CUDAEMU_DEVICES says %llu", i, mem, want);
        }

        struct {
            CUdevice_attribute a;
            int lo, hi;
            const char *what;
        } attrs[] = {
            {CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_BLOCK, 1024, 1024, "max threads per block"},
            {CU_DEVICE_ATTRIBUTE_MAX_BLOCK_DIM_X, 1024, 1024, "max block x"},
            {CU_DEVICE_ATTRIBUTE_MAX_BLOCK_DIM_Y, 1024, 1024, "max block y"},
            {CU_DEVICE_ATTRIBUTE_MAX_BLOCK_DIM_Z, 64, 64, "max block z"},
            {CU_DEVICE_ATTRIBUTE_MAX_GRID_DIM_X, 2147483647, 2147483647, "max grid x"},
            {CU_DEVICE_ATTRIBUTE_MAX_GRID_DIM_Y, 65535, 65535, "max grid y"},
            {CU_DEVICE_ATTRIBUTE_MAX_GRID_DIM_Z, 65535, 65535, "max grid z"},
            {CU_DEVICE_ATTRIBUTE_WARP_SIZE, 32, 32, "warp size"},
            {CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK, 49152, 49152, "shared memory per block"},
            {CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT, 1, 1000000, "SM count"},
            {CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, 7, 100, "compute capability major"},
            {CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, 0, 9, "compute capability minor"},
            {CU_DEVICE_ATTRIBUTE_UNIFIED_ADDRESSING, 1, 1, "unified addressing"},
            {CU_DEVICE_ATTRIBUTE_TOTAL_CONSTANT_MEMORY, 65536, 65536, "constant memory"},
            {CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN, 49152, 1 << 20, "opt-in shared memory"},
        };
        for (size_t a = 0; a < sizeof attrs / sizeof attrs[0]; ++a) {
            int v = -1;
            OK(cuDeviceGetAttribute(&v, attrs[a].a, d));
            EXPECT(v >= attrs[a].lo && v <= attrs[a].hi, "device %d: %s = %d, want [%d, %d]", i,
                   attrs[a].what, v, attrs[a].lo, attrs[a].hi);
        }
        int v = 0;
        EXPECT_CU(cuDeviceGetAttribute(&v, (CUdevice_attribute)100000, d), CUDA_ERROR_INVALID_VALUE);
        EXPECT_CU(cuDeviceGetAttribute(&v, CU_DEVICE_ATTRIBUTE_WARP_SIZE, (CUdevice)n + 5),
                  CUDA_ERROR_INVALID_DEVICE);
    }
    return 0;
}

static int t_primary_context(void) {
    CUdevice dev;
    CUcontext a = NULL, b = NULL, cur = (CUcontext)1;
    unsigned flags = 99;
    int active = -1;
    OK(cuDeviceGet(&dev, 0));
    OK(cuDevicePrimaryCtxGetState(dev, &flags, &active));
    EXPECT(active == 0, "primary context active before any retain");
    EXPECT_CU(cuDevicePrimaryCtxRelease(dev), CUDA_ERROR_INVALID_CONTEXT); /* documented */
    OK(cuDevicePrimaryCtxSetFlags(dev, CU_CTX_SCHED_BLOCKING_SYNC));
    OK(cuDevicePrimaryCtxRetain(&a, dev));
    OK(cuDevicePrimaryCtxRetain(&b, dev));
    EXPECT(a != NULL && a == b, "two retains gave different contexts");
    OK(cuDevicePrimaryCtxGetState(dev, &flags, &active));
    EXPECT(active == 1, "primary context not active after retain");
    EXPECT((flags & CU_CTX_SCHED_MASK) == CU_CTX_SCHED_BLOCKING_SYNC,
           "primary flags 0x%x, want blocking sync", flags);
    OK(cuCtxGetCurrent(&cur));
    EXPECT(cur == NULL, "retain made the primary context current");
    OK(cuCtxSetCurrent(a));
    OK(cuCtxGetCurrent(&cur));
    EXPECT(cur == a, "cuCtxSetCurrent did not take");
    CUdevice got = -1;
    OK(cuCtxGetDevice(&got));
    EXPECT(got == dev, "cuCtxGetDevice = %d", (int)got);
    OK(cuCtxSynchronize());
    OK(cuCtxSetCurrent(NULL));
    OK(cuDevicePrimaryCtxRelease(dev));
    OK(cuDevicePrimaryCtxRelease(dev));
    OK(cuDevicePrimaryCtxGetState(dev, &flags, &active));
    EXPECT(active == 0, "primary context still active after the last release");
    OK(cuDevicePrimaryCtxSetFlags(dev, 0));
    OK(cuDevicePrimaryCtxReset(dev));
    return 0;
}

static int t_contexts(void) {
    CUdevice dev;
    CUcontext c1 = NULL, c2 = NULL, cur = NULL, popped = NULL;
    OK(cuDeviceGet(&dev, 0));
    OK(cuCtxGetCurrent(&cur));
    EXPECT(cur == NULL, "a context is current at the start");
    EXPECT_CU(cuCtxSynchronize(), CUDA_ERROR_INVALID_CONTEXT);
    CUdeviceptr p;
    EXPECT_CU(cuMemAlloc(&p, 64), CUDA_ERROR_INVALID_CONTEXT);
    EXPECT_CU(cuCtxPopCurrent(&popped), CUDA_ERROR_INVALID_CONTEXT);

    OK(cuCtxCreate(&c1, NULL, 0, dev));
    OK(cuCtxGetCurrent(&cur));
    EXPECT(cur == c1, "cuCtxCreate did not make the context current");
    OK(cuCtxCreate(&c2, NULL, 0, dev));
    EXPECT(c2 != c1, "two created contexts are the same");
    OK(cuCtxGetCurrent(&cur));
    EXPECT(cur == c2, "the second context is not current");
    OK(cuCtxPopCurrent(&popped));
    EXPECT(popped == c2, "popped the wrong context");
    OK(cuCtxGetCurrent(&cur));
    EXPECT(cur == c1, "after the pop the first context is not current");
    OK(cuCtxPushCurrent(c2));
    OK(cuCtxGetCurrent(&cur));
    EXPECT(cur == c2, "cuCtxPushCurrent did not take");
    unsigned ver = 0;
    OK(cuCtxGetApiVersion(c2, &ver));
    EXPECT(ver >= 3020, "cuCtxGetApiVersion = %u", ver);
    OK(cuCtxSynchronize());
    /* Memory belongs to the context it was allocated in, and is usable from it. */
    OK(cuMemAlloc(&p, 256));
    OK(cuMemsetD8(p, 0x5a, 256));
    unsigned char back[256];
    OK(cuMemcpyDtoH(back, p, sizeof back));
    EXPECT(back[0] == 0x5a && back[255] == 0x5a, "memset in a created context");
    OK(cuMemFree(p));
    OK(cuCtxDestroy(c2)); /* current: destroying pops it */
    OK(cuCtxGetCurrent(&cur));
    EXPECT(cur == c1, "after destroying the current context the previous one is not current");
    OK(cuCtxDestroy(c1));
    OK(cuCtxGetCurrent(&cur));
    EXPECT(cur == NULL, "a context is still current after destroying both");
    return 0;
}

static int t_modules(void) {
    CUdevice dev;
    CUmodule m = NULL, bad = NULL;
    CUfunction f = NULL;
    OK(primary_begin(&dev));
    OK(cuModuleLoadData(&m, g_vector_add_ptx));
    OK(cuModuleGetFunction(&f, m, "vector_add"));
    EXPECT(f != NULL, "NULL function handle");
    EXPECT_CU(cuModuleGetFunction(&f, m, "no_such_kernel"), CUDA_ERROR_NOT_FOUND);
    OK(cuModuleUnload(m));

    /* Syntactically broken PTX: CUDA_ERROR_INVALID_PTX and a non-empty error log. */
    static const char broken[] =
        ".version 8.0\n.target sm_75\n.address_size 64\n"
        ".visible .entry broken(.param .u64 p)\n{\n  frobnicate.u32 %r1, 7;\n  ret;\n}\n";
    char log[4096] = "";
    CUjit_option o[2] = {CU_JIT_ERROR_LOG_BUFFER, CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES};
    void *v[2] = {log, (void *)(uintptr_t)sizeof log};
    EXPECT_CU(cuModuleLoadDataEx(&bad, broken, 2, o, v), CUDA_ERROR_INVALID_PTX);
    EXPECT(log[0] != '\0', "the JIT error log is empty after a failed load");
    printf("# JIT log for broken PTX: %.200s\n", log);
    /* Not PTX at all: the driver's code for unrecognizable images is not documented precisely
     * (CUDA_ERROR_INVALID_IMAGE or CUDA_ERROR_INVALID_PTX), so only failure is asserted. */
    static const char garbage[] = "\x7f\x01 this is not a module image at all \xff\xfe";
    EXPECT_FAIL(cuModuleLoadData(&bad, garbage));
    EXPECT_FAIL(cuModuleLoadData(&bad, NULL));

    /* The context still works after failed loads. */
    OK(cuModuleLoadData(&m, g_vector_add_ptx));
    OK(cuModuleUnload(m));
    primary_end(dev);
    return 0;
}

static int t_function_info(void) {
    CUdevice dev;
    CUmodule m1 = NULL, m2 = NULL, m3 = NULL;
    CUfunction va, mm, ps;
    OK(primary_begin(&dev));
    OK(cuModuleLoadData(&m1, g_vector_add_ptx));
    OK(cuModuleLoadData(&m2, g_matmul_ptx));
    OK(cuModuleLoadData(&m3, g_param_ptx));
    OK(cuModuleGetFunction(&va, m1, "vector_add"));
    OK(cuModuleGetFunction(&mm, m2, "matmul_tiled"));
    OK(cuModuleGetFunction(&ps, m3, "param_struct"));
    int v = -1;
    OK(cuFuncGetAttribute(&v, CU_FUNC_ATTRIBUTE_MAX_THREADS_PER_BLOCK, va));
    EXPECT(v > 0 && v <= 1024, "MAX_THREADS_PER_BLOCK = %d", v);
    OK(cuFuncGetAttribute(&v, CU_FUNC_ATTRIBUTE_SHARED_SIZE_BYTES, va));
    EXPECT(v == 0, "vector_add static shared = %d, want 0", v);
    OK(cuFuncGetAttribute(&v, CU_FUNC_ATTRIBUTE_SHARED_SIZE_BYTES, mm));
    EXPECT(v == 2 * 16 * 16 * 4, "matmul_tiled static shared = %d, want 2048", v);
    OK(cuFuncGetAttribute(&v, CU_FUNC_ATTRIBUTE_NUM_REGS, va));
    EXPECT(v >= 0, "NUM_REGS = %d", v);
    OK(cuFuncGetAttribute(&v, CU_FUNC_ATTRIBUTE_PTX_VERSION, va));
    EXPECT(v > 0, "PTX_VERSION = %d", v);
    OK(cuFuncGetAttribute(&v, CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES, va));
    EXPECT(v >= 0, "MAX_DYNAMIC_SHARED_SIZE_BYTES = %d", v);
    EXPECT_CU(cuFuncGetAttribute(&v, (CUfunction_attribute)10000, va), CUDA_ERROR_INVALID_VALUE);

    /* vector_add(const float *, const float *, float *, int) */
    static const size_t va_off[] = {0, 8, 16, 24}, va_size[] = {8, 8, 8, 4};
    for (size_t i = 0; i < 4; ++i) {
        size_t off = 99, size = 99;
        OK(cuFuncGetParamInfo(va, i, &off, &size));
        EXPECT(off == va_off[i] && size == va_size[i],
               "vector_add param %zu: offset %zu size %zu, want %zu %zu", i, off, size, va_off[i],
               va_size[i]);
    }
    size_t off = 0, size = 0;
    EXPECT_CU(cuFuncGetParamInfo(va, 4, &off, &size), CUDA_ERROR_INVALID_VALUE);
    OK(cuFuncGetParamInfo(va, 1, &off, NULL)); /* size is optional */
    /* param_struct(char, short, struct{char; double; int[3]}, double, long long, 16-aligned float4 struct,
     * double *) */
    static const size_t ps_off[] = {0, 2, 8, 40, 48, 64, 80}, ps_size[] = {1, 2, 32, 8, 8, 16, 8};
    for (size_t i = 0; i < 7; ++i) {
        OK(cuFuncGetParamInfo(ps, i, &off, &size));
        EXPECT(off == ps_off[i] && size == ps_size[i],
               "param_struct param %zu: offset %zu size %zu, want %zu %zu", i, off, size, ps_off[i],
               ps_size[i]);
    }
    OK(cuModuleUnload(m1));
    OK(cuModuleUnload(m2));
    OK(cuModuleUnload(m3));
    primary_end(dev);
    return 0;
}

static int t_memory(void) {
    CUdevice dev;
    OK(primary_begin(&dev));
    size_t free_b = 0, total_b = 0, dev_total = 0;
    OK(cuMemGetInfo(&free_b, &total_b));
    OK(cuDeviceTotalMem(&dev_total, dev));
    EXPECT(total_b == dev_total && free_b <= total_b, "cuMemGetInfo free %zu total %zu, device total %zu",
           free_b, total_b, dev_total);

    enum { N = 4096 };
    static unsigned char host[N], back[N], want[N];
    CUdeviceptr a, b;
    OK(cuMemAlloc(&a, N));
    OK(cuMemAlloc(&b, N));
    EXPECT(a != 0 && b != 0 && a != b, "bad allocations 0x%llx 0x%llx", (unsigned long long)a,
           (unsigned long long)b);
    EXPECT(a % 256 == 0 && b % 256 == 0, "cuMemAlloc pointers not 256-byte aligned");
    CUdeviceptr base = 0;
    size_t range = 0;
    OK(cuMemGetAddressRange(&base, &range, a + 100));
    EXPECT(base == a && range == N, "cuMemGetAddressRange: base 0x%llx size %zu", (unsigned long long)base,
           range);

    for (int i = 0; i < N; ++i)
        host[i] = (unsigned char)(i * 7 + 3);
    /* HtoD whole, memsets of every width at offsets, DtoD with offsets, DtoH. */
    OK(cuMemcpyHtoD(a, host, N));
    memcpy(want, host, N);
    OK(cuMemsetD8(a + 3, 0xab, 1001));
    memset(want + 3, 0xab, 1001);
    OK(cuMemsetD16(a + 1200, 0xbeef, 100));
    for (int i = 0; i < 100; ++i) {
        want[1200 + 2 * i] = 0xef;
        want[1200 + 2 * i + 1] = 0xbe;
    }
    OK(cuMemsetD32(a + 2048, 0x01020304u, 64));
    for (int i = 0; i < 64; ++i) {
        want[2048 + 4 * i + 0] = 0x04;
        want[2048 + 4 * i + 1] = 0x03;
        want[2048 + 4 * i + 2] = 0x02;
        want[2048 + 4 * i + 3] = 0x01;
    }
    OK(cuMemcpyDtoH(back, a, N));
    EXPECT(memcmp(back, want, N) == 0, "HtoD + memsets D8/D16/D32 read back wrong");
    OK(cuMemsetD8(b, 0, N));
    OK(cuMemcpyDtoD(b + 17, a + 5, 3000));
    memset(back, 0, N);
    OK(cuMemcpyDtoH(back, b, N));
    for (int i = 0; i < N; ++i) {
        unsigned char w = (i >= 17 && i < 3017) ? want[i - 17 + 5] : 0;
        EXPECT(back[i] == w, "DtoD: byte %d is 0x%02x, want 0x%02x", i, back[i], w);
    }
    OK(cuMemcpyDtoH(back, a + 4000, 96));
    EXPECT(memcmp(back, want + 4000, 96) == 0, "DtoH at an offset");

    /* Async versions on a stream, completed by cuStreamSynchronize. */
    CUstream s;
    OK(cuStreamCreate(&s, CU_STREAM_NON_BLOCKING));
    OK(cuMemsetD32Async(b, 0xcafef00du, N / 4, s));
    OK(cuMemcpyHtoDAsync(b + 64, host, 512, s));
    OK(cuMemcpyDtoDAsync(a, b, N, s));
    OK(cuMemsetD8Async(a + 1, 0x11, 2, s));
    OK(cuMemsetD16Async(a + 8, 0x2233, 2, s));
    memset(back, 0, N);
    OK(cuMemcpyDtoHAsync(back, a, N, s));
    OK(cuStreamSynchronize(s));
    for (int i = 0; i < N; ++i) {
        static const unsigned char pat[4] = {0x0d, 0xf0, 0xfe, 0xca};
        unsigned char w = (i >= 64 && i < 576) ? host[i - 64] : pat[i % 4];
        if (i == 1 || i == 2) w = 0x11;
        if (i == 8 || i == 10) w = 0x33;
        if (i == 9 || i == 11) w = 0x22;
        EXPECT(back[i] == w, "async copies/memsets: byte %d is 0x%02x, want 0x%02x", i, back[i], w);
    }
    OK(cuStreamDestroy(s));
    OK(cuMemFree(a));
    OK(cuMemFree(b));
    primary_end(dev);
    return 0;
}

static int t_memory_errors(void) {
    CUdevice dev;
    OK(primary_begin(&dev));
    CUdeviceptr p = 0, q = 0;
    EXPECT_CU(cuMemAlloc(&p, 0), CUDA_ERROR_INVALID_VALUE); /* documented for a size of 0 */
    EXPECT_CU(cuMemAlloc(&p, (size_t)1 << 50), CUDA_ERROR_OUT_OF_MEMORY);
    size_t total = 0;
    OK(cuDeviceTotalMem(&total, dev));
    EXPECT_CU(cuMemAlloc(&p, total + ((size_t)1 << 30)), CUDA_ERROR_OUT_OF_MEMORY);
    /* An out-of-memory error is not sticky. */
    OK(cuMemAlloc(&p, 1024));
    OK(cuMemAlloc(&q, 1024));
    OK(cuMemFree(p));
    /* Double free and a pointer that was never allocated: cuda.h lists CUDA_ERROR_INVALID_VALUE. */
    EXPECT_CU(cuMemFree(p), CUDA_ERROR_INVALID_VALUE);
    EXPECT_CU(cuMemFree(q + 8), CUDA_ERROR_INVALID_VALUE);
    /* Copies outside any allocation or past the end of one fail (the exact code is not documented),
     * and do not break the context. */
    unsigned char buf[64] = {0};
    EXPECT_FAIL(cuMemcpyHtoD(q + 1000, buf, 64));
    EXPECT_FAIL(cuMemcpyDtoH(buf, (CUdeviceptr)0x10, 16));
    OK(cuMemcpyHtoD(q, buf, 64));
    OK(cuCtxSynchronize());
    OK(cuMemFree(q));
    primary_end(dev);
    return 0;
}

/* Launches vector_add over n floats on `s` with data already on the device. */
static CUresult launch_add(CUfunction f, CUstream s, CUdeviceptr x, CUdeviceptr y, CUdeviceptr out, int n) {
    void *args[] = {&x, &y, &out, &n};
    return cuLaunchKernel(f, (unsigned)(n + 127) / 128, 1, 1, 128, 1, 1, 0, s, args, NULL);
}

static int t_streams_events(void) {
    CUdevice dev;
    CUmodule m;
    CUfunction f;
    OK(primary_begin(&dev));
    OK(cuModuleLoadData(&m, g_vector_add_ptx));
    OK(cuModuleGetFunction(&f, m, "vector_add"));
    enum { N = 3000 };
    static float a[N], b[N], out[N];
    for (int i = 0; i < N; ++i) {
        a[i] = (float)i;
        b[i] = (float)(3 * i);
    }
    CUdeviceptr da, db, dc, dd;
    OK(cuMemAlloc(&da, sizeof a));
    OK(cuMemAlloc(&db, sizeof b));
    OK(cuMemAlloc(&dc, sizeof a));
    OK(cuMemAlloc(&dd, sizeof a));
    CUstream s, s2;
    CUevent e1, e2, enotime, never;
    OK(cuStreamCreate(&s, CU_STREAM_DEFAULT));
    OK(cuStreamCreate(&s2, CU_STREAM_NON_BLOCKING));
    OK(cuEventCreate(&e1, CU_EVENT_DEFAULT));
    OK(cuEventCreate(&e2, CU_EVENT_BLOCKING_SYNC));
    OK(cuEventCreate(&enotime, CU_EVENT_DISABLE_TIMING));
    OK(cuEventCreate(&never, CU_EVENT_DEFAULT));
    OK(cuStreamQuery(s));

    /* In-order on one stream: copy in, c = a + b, d = c + c, copy out. */
    OK(cuEventRecord(e1, s));
    OK(cuMemcpyHtoDAsync(da, a, sizeof a, s));
    OK(cuMemcpyHtoDAsync(db, b, sizeof b, s));
    OK(launch_add(f, s, da, db, dc, N));
    OK(launch_add(f, s, dc, dc, dd, N));
    OK(cuMemcpyDtoHAsync(out, dd, sizeof out, s));
    OK(cuEventRecord(e2, s));
    OK(cuEventRecord(enotime, s));
    OK(cuEventSynchronize(e2));
    OK(cuEventQuery(e2));
    for (int i = 0; i < N; ++i)
        EXPECT(out[i] == (float)(8 * i), "stream ordering: out[%d] = %g, want %d", i, (double)out[i], 8 * i);
    float ms = -1.0f;
    OK(cuEventElapsedTime(&ms, e1, e2));
    EXPECT(ms >= 0.0f, "elapsed time %g ms", (double)ms);
    EXPECT_CU(cuEventElapsedTime(&ms, e1, enotime), CUDA_ERROR_INVALID_HANDLE); /* documented */
    EXPECT_CU(cuEventElapsedTime(&ms, e1, never), CUDA_ERROR_INVALID_HANDLE);   /* documented */

    /* Cross-stream dependency through an event. */
    OK(cuMemsetD32Async(dc, 0, N, s));
    OK(cuEventRecord(e1, s));
    OK(cuStreamWaitEvent(s2, e1, 0));
    OK(launch_add(f, s2, da, dc, dd, N)); /* d = a + 0 */
    OK(cuStreamSynchronize(s2));
    OK(cuStreamQuery(s2));
    OK(cuMemcpyDtoH(out, dd, sizeof out));
    for (int i = 0; i < N; ++i)
        EXPECT(out[i] == (float)i, "cross-stream wait: out[%d] = %g, want %d", i, (double)out[i], i);

    /* The NULL (legacy default) stream. */
    OK(launch_add(f, NULL, da, da, dd, N));
    OK(cuStreamSynchronize(NULL));
    OK(cuMemcpyDtoH(out, dd, sizeof out));
    EXPECT(out[N - 1] == (float)(2 * (N - 1)), "default stream launch");

    OK(cuEventDestroy(e1));
    OK(cuEventDestroy(e2));
    OK(cuEventDestroy(enotime));
    OK(cuEventDestroy(never));
    OK(cuStreamDestroy(s));
    OK(cuStreamDestroy(s2));
    OK(cuMemFree(da));
    OK(cuMemFree(db));
    OK(cuMemFree(dc));
    OK(cuMemFree(dd));
    OK(cuModuleUnload(m));
    primary_end(dev);
    return 0;
}

static int t_launch_errors(void) {
    CUdevice dev;
    CUmodule m;
    CUfunction f;
    OK(primary_begin(&dev));
    OK(cuModuleLoadData(&m, g_vector_add_ptx));
    OK(cuModuleGetFunction(&f, m, "vector_add"));
    enum { N = 256 };
    float a[N], out[N];
    for (int i = 0; i < N; ++i)
        a[i] = (float)i;
    CUdeviceptr da, dc;
    OK(cuMemAlloc(&da, sizeof a));
    OK(cuMemAlloc(&dc, sizeof a));
    OK(cuMemcpyHtoD(da, a, sizeof a));
    int n = N;
    void *args[] = {&da, &da, &dc, &n};
    /* Invalid configurations are refused with CUDA_ERROR_INVALID_VALUE before anything runs. */
    EXPECT_CU(cuLaunchKernel(f, 1, 1, 1, 2048, 1, 1, 0, NULL, args, NULL), CUDA_ERROR_INVALID_VALUE);
    EXPECT_CU(cuLaunchKernel(f, 1, 1, 1, 32, 32, 2, 0, NULL, args, NULL),
              CUDA_ERROR_INVALID_VALUE); /* 2048 threads */
    EXPECT_CU(cuLaunchKernel(f, 1, 1, 1, 1, 1, 65, 0, NULL, args, NULL),
              CUDA_ERROR_INVALID_VALUE); /* z > 64 */
    EXPECT_CU(cuLaunchKernel(f, 0, 1, 1, 128, 1, 1, 0, NULL, args, NULL), CUDA_ERROR_INVALID_VALUE);
    EXPECT_CU(cuLaunchKernel(f, 1, 0, 1, 128, 1, 1, 0, NULL, args, NULL), CUDA_ERROR_INVALID_VALUE);
    EXPECT_CU(cuLaunchKernel(f, 1, 1, 1, 0, 1, 1, 0, NULL, args, NULL), CUDA_ERROR_INVALID_VALUE);
    EXPECT_CU(cuLaunchKernel(f, 1, 1, 65536, 128, 1, 1, 0, NULL, args, NULL), CUDA_ERROR_INVALID_VALUE);
    EXPECT_CU(cuLaunchKernel(f, 1, 1, 1, 128, 1, 1, 1u << 20, NULL, args, NULL), CUDA_ERROR_INVALID_VALUE);
    /* Parameters in both kernelParams and extra: documented CUDA_ERROR_INVALID_VALUE. */
    size_t argsize = 32;
    unsigned char argbuf[32];
    memset(argbuf, 0, sizeof argbuf);
    memcpy(argbuf + 0, &da, 8);
    memcpy(argbuf + 8, &da, 8);
    memcpy(argbuf + 16, &dc, 8);
    memcpy(argbuf + 24, &n, 4);
    void *extra[] = {CU_LAUNCH_PARAM_BUFFER_POINTER, argbuf, CU_LAUNCH_PARAM_BUFFER_SIZE, &argsize,
                     CU_LAUNCH_PARAM_END};
    EXPECT_CU(cuLaunchKernel(f, 1, 1, 1, 128, 1, 1, 0, NULL, args, extra), CUDA_ERROR_INVALID_VALUE);
    EXPECT_FAIL(cuLaunchKernel(NULL, 1, 1, 1, 128, 1, 1, 0, NULL, args, NULL));
    /* None of that is sticky: a correct launch still works. */
    OK(cuCtxSynchronize());
    OK(cuLaunchKernel(f, 2, 1, 1, 128, 1, 1, 0, NULL, args, NULL));
    OK(cuCtxSynchronize());
    OK(cuMemcpyDtoH(out, dc, sizeof out));
    for (int i = 0; i < N; ++i)
        EXPECT(out[i] == (float)(2 * i), "launch after errors: out[%d] = %g", i, (double)out[i]);
    /* The documented `extra` form alone: a packed parameter buffer. */
    OK(cuMemsetD32(dc, 0, N));
    OK(cuLaunchKernel(f, 2, 1, 1, 128, 1, 1, 0, NULL, NULL, extra));
    OK(cuCtxSynchronize());
    OK(cuMemcpyDtoH(out, dc, sizeof out));
    for (int i = 0; i < N; ++i)
        EXPECT(out[i] == (float)(2 * i), "launch with extra: out[%d] = %g", i, (double)out[i]);
    OK(cuMemFree(da));
    OK(cuMemFree(dc));
    OK(cuModuleUnload(m));
    primary_end(dev);
    return 0;
}

static int t_error_strings(void) {
    static const struct {
        CUresult r;
        const char *name, *text;
    } e[] = {
        {CUDA_SUCCESS, "CUDA_SUCCESS", "no error"},
        {CUDA_ERROR_INVALID_VALUE, "CUDA_ERROR_INVALID_VALUE", "invalid argument"},
        {CUDA_ERROR_OUT_OF_MEMORY, "CUDA_ERROR_OUT_OF_MEMORY", "out of memory"},
        {CUDA_ERROR_NOT_INITIALIZED, "CUDA_ERROR_NOT_INITIALIZED", "initialization error"},
        {CUDA_ERROR_INVALID_DEVICE, "CUDA_ERROR_INVALID_DEVICE", "invalid device ordinal"},
        {CUDA_ERROR_INVALID_CONTEXT, "CUDA_ERROR_INVALID_CONTEXT", "invalid device context"},
        {CUDA_ERROR_INVALID_HANDLE, "CUDA_ERROR_INVALID_HANDLE", "invalid resource handle"},
        {CUDA_ERROR_NOT_FOUND, "CUDA_ERROR_NOT_FOUND", "named symbol not found"},
        {CUDA_ERROR_INVALID_PTX, "CUDA_ERROR_INVALID_PTX", "a PTX JIT compilation failed"},
        {CUDA_ERROR_ILLEGAL_ADDRESS, "CUDA_ERROR_ILLEGAL_ADDRESS",
         "an illegal memory access was encountered"},
        {CUDA_ERROR_LAUNCH_TIMEOUT, "CUDA_ERROR_LAUNCH_TIMEOUT", "the launch timed out and was terminated"},
        {CUDA_ERROR_INVALID_IMAGE, "CUDA_ERROR_INVALID_IMAGE", NULL},
        {CUDA_ERROR_NOT_READY, "CUDA_ERROR_NOT_READY", NULL},
        {CUDA_ERROR_LAUNCH_FAILED, "CUDA_ERROR_LAUNCH_FAILED", NULL},
        {CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES, "CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES", NULL},
        {CUDA_ERROR_NOT_SUPPORTED, "CUDA_ERROR_NOT_SUPPORTED", NULL},
        {CUDA_ERROR_UNKNOWN, "CUDA_ERROR_UNKNOWN", NULL},
    };
    for (size_t i = 0; i < sizeof e / sizeof e[0]; ++i) {
        const char *s = NULL;
        OK(cuGetErrorName(e[i].r, &s));
        EXPECT(s != NULL && strcmp(s, e[i].name) == 0, "cuGetErrorName(%d) = '%s', want '%s'", (int)e[i].r,
               s ? s : "(null)", e[i].name);
        s = NULL;
        OK(cuGetErrorString(e[i].r, &s));
        EXPECT(s != NULL && s[0] != '\0', "cuGetErrorString(%d) is empty", (int)e[i].r);
        if (e[i].text != NULL)
            EXPECT(strcmp(s, e[i].text) == 0, "cuGetErrorString(%s) = '%s', want '%s'", e[i].name, s,
                   e[i].text);
    }
    const char *s = "x";
    EXPECT_CU(cuGetErrorName((CUresult)987654, &s), CUDA_ERROR_INVALID_VALUE);
    EXPECT(s == NULL, "cuGetErrorName(unknown) left a non-NULL string");
    s = "x";
    EXPECT_CU(cuGetErrorString((CUresult)987654, &s), CUDA_ERROR_INVALID_VALUE);
    EXPECT(s == NULL, "cuGetErrorString(unknown) left a non-NULL string");
    return 0;
}

typedef CUresult (*mem_alloc_fn)(CUdeviceptr *, size_t);
typedef CUresult (*mem_free_fn)(CUdeviceptr);

static int t_proc_address(void) {
    CUdevice dev;
    OK(primary_begin(&dev));
    void *pa = NULL, *pf = NULL;
    CUdriverProcAddressQueryResult st = CU_GET_PROC_ADDRESS_SYMBOL_NOT_FOUND;
    OK(cuGetProcAddress("cuMemAlloc", &pa, 3020, CU_GET_PROC_ADDRESS_DEFAULT, &st));
    EXPECT(pa != NULL && st == CU_GET_PROC_ADDRESS_SUCCESS, "cuMemAlloc@3020: pfn %p status %d", pa, (int)st);
    OK(cuGetProcAddress("cuMemFree", &pf, 3020, CU_GET_PROC_ADDRESS_DEFAULT, &st));
    EXPECT(pf != NULL, "cuMemFree@3020 not found");
    mem_alloc_fn alloc_fn;
    mem_free_fn free_fn;
    memcpy(&alloc_fn, &pa, sizeof pa);
    memcpy(&free_fn, &pf, sizeof pf);
    CUdeviceptr p = 0;
    OK(alloc_fn(&p, 4096));
    OK(cuMemsetD32(p, 7, 1024));
    unsigned v = 0;
    OK(cuMemcpyDtoH(&v, p + 4092, 4));
    EXPECT(v == 7, "memory from cuMemAlloc@3020 reads %u", v);
    OK(free_fn(p));

    void *fn = NULL;
    OK(cuGetProcAddress("cuLaunchKernel", &fn, 4000, CU_GET_PROC_ADDRESS_DEFAULT, &st));
    EXPECT(fn != NULL, "cuLaunchKernel@4000 not found");
    OK(cuGetProcAddress("cuGetProcAddress", &fn, 12000, CU_GET_PROC_ADDRESS_DEFAULT, &st));
    EXPECT(fn != NULL, "cuGetProcAddress@12000 not found");
    /* Unknown symbols and versions older than the symbol: cuda.h says CUDA_SUCCESS with a NULL
     * pointer and the status telling why; drivers have also been seen to return
     * CUDA_ERROR_NOT_FOUND, so either code is accepted, the pointer and status are not. */
    fn = (void *)&st;
    CUresult r = cuGetProcAddress("cuNoSuchEntryPoint", &fn, 12000, CU_GET_PROC_ADDRESS_DEFAULT, &st);
    EXPECT((r == CUDA_SUCCESS || r == CUDA_ERROR_NOT_FOUND) && fn == NULL &&
               st == CU_GET_PROC_ADDRESS_SYMBOL_NOT_FOUND,
           "unknown symbol: %s, pfn %p, status %d", errname(r), fn, (int)st);
    fn = (void *)&st;
    r = cuGetProcAddress("cuFuncGetParamInfo", &fn, 12000, CU_GET_PROC_ADDRESS_DEFAULT,
                         &st); /* added in 12.4 */
    EXPECT((r == CUDA_SUCCESS || r == CUDA_ERROR_NOT_FOUND) && fn == NULL &&
               st == CU_GET_PROC_ADDRESS_VERSION_NOT_SUFFICIENT,
           "cuFuncGetParamInfo@12000: %s, pfn %p, status %d", errname(r), fn, (int)st);
    int drv = 0;
    OK(cuDriverGetVersion(&drv));
    /* Asking for a version newer than the driver: documented CUDA_ERROR_INVALID_VALUE. */
    EXPECT_CU(cuGetProcAddress("cuMemAlloc", &fn, drv + 1000, CU_GET_PROC_ADDRESS_DEFAULT, &st),
              CUDA_ERROR_INVALID_VALUE);
    primary_end(dev);
    return 0;
}

/* Every device: its own primary context, a launch, and results; contexts and pointers differ. */
static int t_multi_device(void) {
    int n = 0;
    OK(cuDeviceGetCount(&n));
    CUcontext ctxs[8] = {NULL};
    CUdeviceptr ptrs[8] = {0};
    for (int d = 0; d < n && d < 8; ++d) {
        CUdevice dev;
        CUmodule m;
        CUfunction f;
        OK(cuDeviceGet(&dev, d));
        OK(cuDevicePrimaryCtxRetain(&ctxs[d], dev));
        OK(cuCtxSetCurrent(ctxs[d]));
        CUdevice got = -1;
        OK(cuCtxGetDevice(&got));
        EXPECT(got == dev, "device %d: cuCtxGetDevice = %d", d, (int)got);
        for (int e = 0; e < d; ++e)
            EXPECT(ctxs[e] != ctxs[d], "devices %d and %d share a primary context", e, d);
        OK(cuModuleLoadData(&m, g_vector_add_ptx));
        OK(cuModuleGetFunction(&f, m, "vector_add"));
        enum { N = 500 };
        float a[N], out[N];
        for (int i = 0; i < N; ++i)
            a[i] = (float)(i + d * 1000);
        OK(cuMemAlloc(&ptrs[d], sizeof a));
        for (int e = 0; e < d; ++e)
            EXPECT(ptrs[e] != ptrs[d], "devices %d and %d returned the same device pointer", e, d);
        OK(cuMemcpyHtoD(ptrs[d], a, sizeof a));
        int nn = N;
        void *args[] = {&ptrs[d], &ptrs[d], &ptrs[d], &nn};
        OK(cuLaunchKernel(f, (N + 127) / 128, 1, 1, 128, 1, 1, 0, NULL, args, NULL));
        OK(cuCtxSynchronize());
        OK(cuMemcpyDtoH(out, ptrs[d], sizeof out));
        for (int i = 0; i < N; ++i)
            EXPECT(out[i] == 2.0f * a[i], "device %d: out[%d] = %g", d, i, (double)out[i]);
        OK(cuModuleUnload(m));
    }
    for (int d = 0; d < n && d < 8; ++d) {
        CUdevice dev;
        OK(cuDeviceGet(&dev, d));
        OK(cuCtxSetCurrent(ctxs[d]));
        OK(cuMemFree(ptrs[d]));
        OK(cuCtxSetCurrent(NULL));
        OK(cuDevicePrimaryCtxRelease(dev));
    }
    return 0;
}

typedef struct thread_job {
    CUcontext ctx;
    CUfunction f;
    CUdeviceptr buf;
    int n;
    CUcontext seen_before;
    CUresult r;
} thread_job;

static void *thread_main(void *arg) {
    thread_job *j = arg;
    j->seen_before = (CUcontext)1;
    j->r = cuCtxGetCurrent(&j->seen_before);
    if (j->r != CUDA_SUCCESS) return NULL;
    CUstream s;
    if ((j->r = cuCtxSetCurrent(j->ctx)) != CUDA_SUCCESS ||
        (j->r = cuStreamCreate(&s, CU_STREAM_NON_BLOCKING)) != CUDA_SUCCESS)
        return NULL;
    void *args[] = {&j->buf, &j->buf, &j->buf, &j->n};
    for (int rep = 0; rep < 3 && j->r == CUDA_SUCCESS; ++rep) /* doubles the buffer three times */
        j->r = cuLaunchKernel(j->f, (unsigned)(j->n + 127) / 128, 1, 1, 128, 1, 1, 0, s, args, NULL);
    if (j->r == CUDA_SUCCESS) j->r = cuStreamSynchronize(s);
    CUresult r2 = cuStreamDestroy(s);
    if (j->r == CUDA_SUCCESS) j->r = r2;
    return NULL;
}

/* The current context is per host thread; two threads launch into one context concurrently. */
static int t_threads(void) {
    CUdevice dev;
    CUmodule m;
    CUfunction f;
    CUcontext ctx;
    OK(primary_begin(&dev));
    OK(cuCtxGetCurrent(&ctx));
    OK(cuModuleLoadData(&m, g_vector_add_ptx));
    OK(cuModuleGetFunction(&f, m, "vector_add"));
    enum { N = 2000 };
    float a[N], out[N];
    thread_job jobs[2];
    pthread_t th[2];
    for (int t = 0; t < 2; ++t) {
        for (int i = 0; i < N; ++i)
            a[i] = (float)(i * (t + 1));
        jobs[t] = (thread_job){ctx, f, 0, N, NULL, CUDA_SUCCESS};
        OK(cuMemAlloc(&jobs[t].buf, sizeof a));
        OK(cuMemcpyHtoD(jobs[t].buf, a, sizeof a));
    }
    for (int t = 0; t < 2; ++t)
        EXPECT(pthread_create(&th[t], NULL, thread_main, &jobs[t]) == 0, "pthread_create");
    for (int t = 0; t < 2; ++t)
        pthread_join(th[t], NULL);
    for (int t = 0; t < 2; ++t) {
        EXPECT(jobs[t].seen_before == NULL, "a new thread started with a current context");
        EXPECT(jobs[t].r == CUDA_SUCCESS, "thread %d: %s", t, errname(jobs[t].r));
        OK(cuMemcpyDtoH(out, jobs[t].buf, sizeof out));
        for (int i = 0; i < N; ++i)
            EXPECT(out[i] == (float)(8 * i * (t + 1)), "thread %d: out[%d] = %g", t, i, (double)out[i]);
        OK(cuMemFree(jobs[t].buf));
    }
    CUcontext cur = NULL;
    OK(cuCtxGetCurrent(&cur));
    EXPECT(cur == ctx, "another thread changed this thread's current context");
    OK(cuModuleUnload(m));
    primary_end(dev);
    return 0;
}

typedef struct host_fn_state {
    int order[4];
    int count;
    const float *probe; /* host copy filled by a preceding async DtoH */
    float seen;
} host_fn_state;

static void CUDA_CB host_fn(void *p) {
    host_fn_state *st = p;
    if (st->count < 4) st->order[st->count] = st->count + 1;
    st->count++;
    st->seen = st->probe[0];
}

/* cuLaunchHostFunc runs in stream order: after the copy before it, before the work after it. */
static int t_host_func(void) {
    CUdevice dev;
    CUstream s;
    OK(primary_begin(&dev));
    OK(cuStreamCreate(&s, CU_STREAM_NON_BLOCKING));
    static float host_out[256];
    host_fn_state st = {{0}, 0, host_out, -1.0f};
    CUdeviceptr p;
    OK(cuMemAlloc(&p, sizeof host_out));
    OK(cuMemsetD32Async(p, 0x40490fdbu /* 3.14159274f */, 256, s));
    OK(cuMemcpyDtoHAsync(host_out, p, sizeof host_out, s));
    OK(cuLaunchHostFunc(s, host_fn, &st));
    OK(cuLaunchHostFunc(s, host_fn, &st));
    OK(cuStreamSynchronize(s));
    EXPECT(st.count == 2 && st.order[0] == 1 && st.order[1] == 2, "host functions ran %d times", st.count);
    EXPECT(st.seen == 3.14159274f, "the host function ran before the copy ahead of it finished (saw %g)",
           (double)st.seen);
    OK(cuStreamDestroy(s));
    OK(cuMemFree(p));
    primary_end(dev);
    return 0;
}

/* Page-locked host memory, cuMemcpy on unified addresses and pointer attributes. */
static int t_host_memory(void) {
    CUdevice dev;
    OK(primary_begin(&dev));
    void *pinned = NULL, *pinned2 = NULL;
    OK(cuMemAllocHost(&pinned, 4096));
    OK(cuMemHostAlloc(&pinned2, 4096, CU_MEMHOSTALLOC_PORTABLE));
    EXPECT(pinned != NULL && pinned2 != NULL, "NULL pinned allocation");
    memset(pinned, 0x3c, 4096);
    CUdeviceptr d;
    OK(cuMemAlloc(&d, 4096));
    CUstream s;
    OK(cuStreamCreate(&s, CU_STREAM_NON_BLOCKING));
    OK(cuMemcpyHtoDAsync(d, pinned, 4096, s));
    OK(cuMemcpyDtoHAsync(pinned2, d, 4096, s));
    OK(cuStreamSynchronize(s));
    EXPECT(memcmp(pinned, pinned2, 4096) == 0, "pinned round trip");
    /* cuMemcpy infers directions from unified addresses. */
    unsigned char back[64];
    OK(cuMemsetD8(d, 0x77, 64));
    OK(cuMemcpy((CUdeviceptr)(uintptr_t)back, d, 64));
    EXPECT(back[0] == 0x77 && back[63] == 0x77, "cuMemcpy device -> host");
    unsigned int mtype = 0;
    int ordinal = -1;
    CUcontext pctx = NULL, cur = NULL;
    OK(cuPointerGetAttribute(&mtype, CU_POINTER_ATTRIBUTE_MEMORY_TYPE, d + 10));
    EXPECT(mtype == CU_MEMORYTYPE_DEVICE, "memory type of a device pointer: %u", mtype);
    OK(cuPointerGetAttribute(&ordinal, CU_POINTER_ATTRIBUTE_DEVICE_ORDINAL, d));
    EXPECT(ordinal == 0, "device ordinal %d", ordinal);
    OK(cuPointerGetAttribute(&pctx, CU_POINTER_ATTRIBUTE_CONTEXT, d));
    OK(cuCtxGetCurrent(&cur));
    EXPECT(pctx == cur, "pointer context differs from the allocating context");
    OK(cuStreamDestroy(s));
    OK(cuMemFree(d));
    OK(cuMemFreeHost(pinned));
    OK(cuMemFreeHost(pinned2));
    primary_end(dev);
    return 0;
}

/* Context limits, opt-in dynamic shared memory and cuLaunchKernelEx. */
static int t_launch_config(void) {
    CUdevice dev;
    OK(primary_begin(&dev));
    size_t stack = 0;
    OK(cuCtxGetLimit(&stack, CU_LIMIT_STACK_SIZE));
    EXPECT(stack > 0, "stack limit 0");
    OK(cuCtxSetLimit(CU_LIMIT_STACK_SIZE, stack + 1024));
    size_t stack2 = 0;
    OK(cuCtxGetLimit(&stack2, CU_LIMIT_STACK_SIZE));
    EXPECT(stack2 >= stack + 1024, "stack limit %zu after asking for %zu", stack2, stack + 1024);

    char *ptx = read_ptx("dynamic_smem.sm_75.ptx");
    EXPECT(ptx != NULL, "dynamic_smem.sm_75.ptx missing");
    CUmodule m;
    CUfunction f;
    CUresult r = cuModuleLoadData(&m, ptx);
    free(ptx);
    OK(r);
    OK(cuModuleGetFunction(&f, m, "dynamic_smem"));
    int optin = 0;
    OK(cuDeviceGetAttribute(&optin, CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN, dev));
    enum { N = 1024 };
    static float in[N], out[N];
    for (int i = 0; i < N; ++i)
        in[i] = (float)i;
    CUdeviceptr din, dout;
    OK(cuMemAlloc(&din, sizeof in));
    OK(cuMemAlloc(&dout, sizeof out));
    OK(cuMemcpyHtoD(din, in, sizeof in));
    int n = N;
    void *args[] = {&din, &dout, &n};
    unsigned block = 256, need = 256 * 12;
    unsigned big = 80 * 1024; /* more than the 48 KiB default, needs the opt-in */
    if (optin >= (int)big) {
        EXPECT_CU(cuLaunchKernel(f, N / 256, 1, 1, block, 1, 1, big, NULL, args, NULL),
                  CUDA_ERROR_INVALID_VALUE);
        OK(cuFuncSetAttribute(f, CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES, (int)big));
        int v = 0;
        OK(cuFuncGetAttribute(&v, CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES, f));
        EXPECT(v == (int)big, "MAX_DYNAMIC_SHARED_SIZE_BYTES = %d after setting %u", v, big);
        OK(cuLaunchKernel(f, N / 256, 1, 1, block, 1, 1, big, NULL, args, NULL));
        OK(cuCtxSynchronize());
    } else {
        printf("# opt-in shared memory is %d bytes: opt-in launch not tried\n", optin);
    }
    /* cuLaunchKernelEx with a plain configuration and no attributes. */
    OK(cuMemsetD32(dout, 0, N));
    CUlaunchConfig cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.gridDimX = N / 256;
    cfg.gridDimY = cfg.gridDimZ = 1;
    cfg.blockDimX = block;
    cfg.blockDimY = cfg.blockDimZ = 1;
    cfg.sharedMemBytes = need;
    OK(cuLaunchKernelEx(&cfg, f, args, NULL));
    OK(cuCtxSynchronize());
    OK(cuMemcpyDtoH(out, dout, sizeof out));
    for (int i = 0; i < N; ++i) {
        int b0 = i / 256 * 256, t = i % 256;
        float want = in[b0 + 255 - t] + (float)((double)in[b0 + (t + 1) % 256] * 2.0);
        EXPECT(out[i] == want, "cuLaunchKernelEx: out[%d] = %g, want %g", i, (double)out[i], (double)want);
    }
    OK(cuMemFree(din));
    OK(cuMemFree(dout));
    OK(cuModuleUnload(m));
    primary_end(dev);
    return 0;
}

typedef CUresult (*occupancy_fn)(int *, CUfunction, int, size_t);

/* Occupancy through cuGetProcAddress, the way the worker resolves every entry point. */
static int t_occupancy(void) {
    CUdevice dev;
    CUmodule m;
    CUfunction f;
    OK(primary_begin(&dev));
    OK(cuModuleLoadData(&m, g_vector_add_ptx));
    OK(cuModuleGetFunction(&f, m, "vector_add"));
    void *fn = NULL;
    CUdriverProcAddressQueryResult st;
    CUresult r = cuGetProcAddress("cuOccupancyMaxActiveBlocksPerMultiprocessor", &fn, 6050,
                                  CU_GET_PROC_ADDRESS_DEFAULT, &st);
    EXPECT(r == CUDA_SUCCESS && fn != NULL,
           "cuOccupancyMaxActiveBlocksPerMultiprocessor is not provided (%s, status %d)", errname(r),
           (int)st);
    occupancy_fn occ;
    memcpy(&occ, &fn, sizeof fn);
    int blocks = 0;
    OK(occ(&blocks, f, 256, 0));
    EXPECT(blocks >= 1 && blocks <= 64, "max active blocks per SM for 256 threads: %d", blocks);
    OK(cuModuleUnload(m));
    primary_end(dev);
    return 0;
}

/* Hundreds of dependent launches on one stream: y += x each time, in order, nothing lost. */
static int t_many_launches(void) {
    CUdevice dev;
    CUmodule m;
    CUfunction f;
    OK(primary_begin(&dev));
    OK(cuModuleLoadData(&m, g_vector_add_ptx));
    OK(cuModuleGetFunction(&f, m, "vector_add"));
    enum { N = 1024, LAUNCHES = 300 };
    static float ones[N], out[N];
    for (int i = 0; i < N; ++i)
        ones[i] = 1.0f;
    CUdeviceptr x, y;
    CUstream s;
    CUevent e;
    OK(cuMemAlloc(&x, sizeof ones));
    OK(cuMemAlloc(&y, sizeof ones));
    OK(cuMemcpyHtoD(x, ones, sizeof ones));
    OK(cuMemsetD32(y, 0, N));
    OK(cuStreamCreate(&s, CU_STREAM_NON_BLOCKING));
    OK(cuEventCreate(&e, CU_EVENT_DISABLE_TIMING));
    for (int l = 0; l < LAUNCHES; ++l) {
        OK(launch_add(f, s, y, x, y, N));
        if (l % 50 == 49) {
            OK(cuEventRecord(e, s));
            CUresult q = cuEventQuery(e);
            EXPECT(q == CUDA_SUCCESS || q == CUDA_ERROR_NOT_READY, "cuEventQuery: %s", errname(q));
        }
    }
    OK(cuStreamSynchronize(s));
    OK(cuEventQuery(e));
    OK(cuMemcpyDtoH(out, y, sizeof out));
    for (int i = 0; i < N; ++i)
        EXPECT(out[i] == (float)LAUNCHES, "after %d launches out[%d] = %g", LAUNCHES, i, (double)out[i]);
    OK(cuEventDestroy(e));
    OK(cuStreamDestroy(s));
    OK(cuMemFree(x));
    OK(cuMemFree(y));
    OK(cuModuleUnload(m));
    primary_end(dev);
    return 0;
}

/* A 256 MiB allocation: accounted in cuMemGetInfo, writable to its last byte, given back on free. */
static int t_large_alloc(void) {
    CUdevice dev;
    OK(primary_begin(&dev));
    const size_t big = (size_t)256 << 20;
    size_t free0 = 0, free1 = 0, free2 = 0, total = 0;
    OK(cuMemGetInfo(&free0, &total));
    CUdeviceptr p;
    OK(cuMemAlloc(&p, big));
    OK(cuMemGetInfo(&free1, &total));
    EXPECT(free1 + big <= free0, "free memory went from %zu to %zu after a %zu-byte allocation", free0, free1,
           big);
    OK(cuMemsetD32(p, 0xa5a5a5a5u, big / 4));
    uint32_t tail[4] = {1, 2, 3, 4}, back[4] = {0};
    OK(cuMemcpyHtoD(p + big - 8, tail, 8));
    OK(cuMemcpyDtoH(back, p + big - 16, 16));
    EXPECT(back[0] == 0xa5a5a5a5u && back[1] == 0xa5a5a5a5u && back[2] == 1 && back[3] == 2,
           "end of the allocation reads %08x %08x %08x %08x", back[0], back[1], back[2], back[3]);
    OK(cuMemcpyDtoH(back, p + big / 2, 16));
    EXPECT(back[0] == 0xa5a5a5a5u && back[3] == 0xa5a5a5a5u, "middle of the allocation not set");
    OK(cuMemFree(p));
    OK(cuMemGetInfo(&free2, &total));
    EXPECT(free2 >= free1 + big, "free memory %zu after freeing, %zu before", free2, free1);
    primary_end(dev);
    return 0;
}

/* A kernel's execution error, as on a GPU: its launch succeeds, the synchronising calls report it,
 * sticky; a stream callback behind it runs once with the error; destroying the context succeeds.
 * On cudaemu also: a poisoned context does not affect another one, and cuCtxSynchronize_v2 names
 * the context it checks. */
typedef struct async_cb {
    int calls;
    CUresult status;
} async_cb;

static void CUDA_CB async_cb_fn(CUstream s, CUresult status, void *user) {
    (void)s;
    async_cb *cb = user;
    cb->calls++;
    cb->status = status;
}

static int t_async_errors(void) {
    CUdevice dev;
    CUcontext a, b;
    OK(cuDeviceGet(&dev, 0));
    char *ptx = read_ptx("oob_write.sm_75.ptx");
    EXPECT(ptx != NULL, "no oob_write PTX");
    OK(cuCtxCreate(&b, NULL, 0, dev));
    OK(cuCtxCreate(&a, NULL, 0, dev)); /* current */
    CUmodule m;
    CUfunction f;
    OK(cuModuleLoadData(&m, ptx));
    free(ptx);
    OK(cuModuleGetFunction(&f, m, "oob_write"));
    CUdeviceptr buf;
    OK(cuMemAlloc(&buf, 1024 * sizeof(int)));
    int n = 1024;
    long long far = (long long)n + (1LL << 30);
    void *args[] = {&buf, &n, &far};
    CUstream s;
    CUevent ev;
    OK(cuStreamCreate(&s, CU_STREAM_NON_BLOCKING));
    OK(cuEventCreate(&ev, 0));
    OK(cuLaunchKernel(f, 4, 1, 1, 256, 1, 1, 0, s, args, NULL));
    async_cb cb = {0, CUDA_SUCCESS};
    CUresult add = cuStreamAddCallback(s, async_cb_fn, &cb, 0);
    EXPECT(add == CUDA_SUCCESS || add == CUDA_ERROR_ILLEGAL_ADDRESS, "cuStreamAddCallback returned %s",
           errname(add));
    EXPECT_CU(cuStreamSynchronize(s), CUDA_ERROR_ILLEGAL_ADDRESS);
    if (add == CUDA_SUCCESS)
        EXPECT(cb.calls == 1 && cb.status == CUDA_ERROR_ILLEGAL_ADDRESS, "callback ran %d times, status %s",
               cb.calls, errname(cb.status));
    if (!g_gpu) EXPECT(add == CUDA_SUCCESS, "cudaemu refused the callback behind the fault");
    EXPECT_CU(cuStreamQuery(s), CUDA_ERROR_ILLEGAL_ADDRESS);
    EXPECT_CU(cuEventRecord(ev, s), CUDA_ERROR_ILLEGAL_ADDRESS);
    EXPECT_CU(cuEventSynchronize(ev), CUDA_ERROR_ILLEGAL_ADDRESS);
    EXPECT_CU(cuCtxSynchronize(), CUDA_ERROR_ILLEGAL_ADDRESS);
    CUdeviceptr p;
    EXPECT_CU(cuMemAlloc(&p, 64), CUDA_ERROR_ILLEGAL_ADDRESS);
    /* calls that use no context */
    CUcontext cur = NULL;
    OK(cuCtxGetCurrent(&cur));
    EXPECT(cur == a, "the current context changed");
    CUdevice d2;
    OK(cuCtxGetDevice(&d2));
    int cc = 0;
    OK(cuDeviceGetAttribute(&cc, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, dev));
    if (!g_gpu) {
        /* the other context is untouched, and cuCtxSynchronize_v2 checks the one it is given */
        OK(cuCtxPushCurrent(b));
        OK(cuCtxSynchronize());
        EXPECT_CU(cuCtxSynchronize_v2(a), CUDA_ERROR_ILLEGAL_ADDRESS);
        OK(cuCtxSynchronize_v2(b));
        CUmodule mv;
        CUfunction fv;
        OK(cuModuleLoadData(&mv, g_vector_add_ptx));
        OK(cuModuleGetFunction(&fv, mv, "vector_add"));
        float ha[64], hb[64], hc[64];
        for (int i = 0; i < 64; i++) {
            ha[i] = (float)i;
            hb[i] = (float)(2 * i + 1);
        }
        CUdeviceptr da, db, dc;
        OK(cuMemAlloc(&da, sizeof ha));
        OK(cuMemAlloc(&db, sizeof hb));
        OK(cuMemAlloc(&dc, sizeof hc));
        OK(cuMemcpyHtoD(da, ha, sizeof ha));
        OK(cuMemcpyHtoD(db, hb, sizeof hb));
        int nn = 64;
        void *vargs[] = {&da, &db, &dc, &nn};
        OK(cuLaunchKernel(fv, 1, 1, 1, 64, 1, 1, 0, NULL, vargs, NULL));
        OK(cuMemcpyDtoH(hc, dc, sizeof hc));
        for (int i = 0; i < 64; i++)
            EXPECT(hc[i] == ha[i] + hb[i], "vector_add[%d] = %g in the other context", i, (double)hc[i]);
        OK(cuCtxPopCurrent(&cur));
        EXPECT(cur == b, "popped another context");
    }
    OK(cuCtxDestroy(a));
    OK(cuCtxDestroy(b));
    return 0;
}

int main(int argc, char **argv) {
    static const struct {
        const char *name;
        int (*fn)(void);
    } tests[] = {
        {"not_initialized", t_not_initialized}, /* must run first */
        {"init", t_init},
        {"version", t_version},
        {"devices", t_devices},
        {"primary_context", t_primary_context},
        {"contexts", t_contexts},
        {"modules", t_modules},
        {"function_info", t_function_info},
        {"memory", t_memory},
        {"memory_errors", t_memory_errors},
        {"streams_events", t_streams_events},
        {"launch_errors", t_launch_errors},
        {"error_strings", t_error_strings},
        {"proc_address", t_proc_address},
        {"multi_device", t_multi_device},
        {"threads", t_threads},
        {"host_func", t_host_func},
        {"host_memory", t_host_memory},
        {"launch_config", t_launch_config},
        {"occupancy", t_occupancy},
        {"many_launches", t_many_launches},
        {"large_alloc", t_large_alloc},
        {"async_errors", t_async_errors},
    };
    const size_t ntests = sizeof tests / sizeof tests[0];
    unsigned char want[sizeof tests / sizeof tests[0]] = {0};
    int selected = 0;
    for (int i = 1; i < argc; ++i) {
        if (strcmp(argv[i], "--gpu") == 0) {
            g_gpu = 1;
        } else if (strcmp(argv[i], "--list") == 0) {
            for (size_t t = 0; t < ntests; ++t)
                printf("%s\n", tests[t].name);
            return 0;
        } else if (argv[i][0] == '-') {
            fprintf(stderr, "usage: lepton_test_driver_api [--gpu] [--list] PTX_DIR [TEST...]\n");
            return 2;
        } else if (g_ptx_dir == NULL) {
            g_ptx_dir = argv[i];
        } else {
            size_t t = 0;
            while (t < ntests && strcmp(tests[t].name, argv[i]) != 0)
                ++t;
            if (t == ntests) {
                fprintf(stderr, "unknown test '%s' (see --list)\n", argv[i]);
                return 2;
            }
            want[t] = 1;
            selected = 1;
        }
    }
    if (g_ptx_dir == NULL) {
        fprintf(stderr, "usage: lepton_test_driver_api [--gpu] [--list] PTX_DIR [TEST...]\n");
        return 2;
    }
    g_vector_add_ptx = read_ptx("vector_add.sm_75.ptx");
    g_matmul_ptx = read_ptx("matmul_tiled.sm_75.ptx");
    g_param_ptx = read_ptx("param_struct.sm_75.ptx");
    if (!g_vector_add_ptx || !g_matmul_ptx || !g_param_ptx) return 2;
    if (!selected)
        memset(want, 1, sizeof want);
    else if (!want[0] && cuInit(0) != CUDA_SUCCESS) {
        printf("not ok - cuInit failed\n");
        return 1;
    }

    int failed = 0, ran = 0;
    for (size_t i = 0; i < ntests; ++i) {
        if (!want[i]) continue;
        ++ran;
        g_why[0] = '\0';
        int rc = tests[i].fn();
        if (rc == 0) {
            printf("ok %zu - %s\n", i + 1, tests[i].name);
        } else {
            printf("not ok %zu - %s: %s\n", i + 1, tests[i].name, g_why);
            ++failed;
            /* Leave no context current for the next test. */
            CUcontext c = NULL;
            while (cuCtxGetCurrent(&c) == CUDA_SUCCESS && c != NULL && cuCtxPopCurrent(&c) == CUDA_SUCCESS)
                ;
        }
        fflush(stdout);
    }
    printf("%d of %d driver API tests failed\n", failed, ran);
    free(g_vector_add_ptx);
    free(g_matmul_ptx);
    free(g_param_ptx);
    return failed ? 1 : 0;
}
