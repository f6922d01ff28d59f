/* test_export_tables.c — the CUDA runtime's private tables as cudaemu serves them
 * (src/cudaemu/export_tables.c), called the way cudart calls them, in process (cudaemu's objects are
 * linked in): unknown tables and slots answer NOT_FOUND / NOT_SUPPORTED and say so in the log; the
 * cudart interface retains the primary context and loads the fatbin nvcc wraps; context-local
 * storage keeps a value per context and runs its destructor once when the context ends (destroy,
 * primary reset, last release); the integrity check answers the fixed values for versions ending in
 * 0 and 1 and an HMAC-MD2 otherwise; MD2 matches RFC 1319's test vectors.
 * usage: cudaemu_test_export_tables FATBIN (a fatbin with an extern "C" vec_add kernel) */
#include "export_tables.h"
#include "check.h"
#include "proc.h"

#include <cuda.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const CUuuid k_cudart = {
    {0x6b, 0xd5, 0xfb, 0x6c, 0x5b, 0xf4, 0xe7, 0x4a, 0x89, 0x87, 0xd9, 0x39, 0x12, 0xfd, 0x9d, 0xf9}};
static const CUuuid k_storage = {
    {0xc6, 0x93, 0x33, 0x6e, 0x11, 0x21, 0xdf, 0x11, 0xa8, 0xc3, 0x68, 0xf3, 0x55, 0xd8, 0x95, 0x93}};
static const CUuuid k_integrity = {
    {0xd4, 0x08, 0x20, 0x55, 0xbd, 0xe6, 0x70, 0x4b, 0x8d, 0x34, 0xba, 0x12, 0x3c, 0x66, 0xe1, 0xf2}};
static const CUuuid k_identity = {
    {0x21, 0x31, 0x8c, 0x60, 0x97, 0x14, 0x32, 0x48, 0x8c, 0xa6, 0x41, 0xff, 0x73, 0x24, 0xc8, 0xf2}};
static const CUuuid k_hooks = {
    {0xa0, 0x94, 0x79, 0x8c, 0x2e, 0x74, 0x2e, 0x74, 0x93, 0xf2, 0x08, 0x00, 0x20, 0x0c, 0x0a, 0x66}};
static const CUuuid k_unknown = {
    {0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef, 0xfe, 0xdc, 0xba, 0x98, 0x76, 0x54, 0x32, 0x10}};
/* cudart 13's first question, declined quietly (NOT_FOUND makes it start the usual way) */
static const CUuuid k_declined = {
    {0xf8, 0xcf, 0xf9, 0x51, 0x21, 0x46, 0x8b, 0x4e, 0xb9, 0xe2, 0xfb, 0x46, 0x9e, 0x7c, 0x0d, 0xd9}};

typedef CUresult (*fn_primary)(CUcontext *, CUdevice);
typedef CUresult (*fn_module)(CUmodule *, const void *);
typedef CUresult (*fn_void)(void);
typedef void (*fn_dtor)(CUcontext, void *, void *);
typedef CUresult (*fn_put)(CUcontext, void *, void *, fn_dtor);
typedef CUresult (*fn_del)(CUcontext, void *);
typedef CUresult (*fn_get)(void **, CUcontext, void *);
typedef CUresult (*fn_integrity)(uint32_t, uint64_t, uint64_t[2]);
typedef void (*fn_buffer)(void **, size_t *);
typedef CUresult (*fn_ctx_id)(CUcontext, unsigned long long *);

/* What cudaemu wrote to stderr (its CUDAEMU_LOG lines) while fn ran. */
static char g_log[4096];
static CUresult logged(CUresult (*fn)(void *), void *arg) {
    fflush(stderr);
    FILE *tmp = tmpfile();
    int saved = dup(2);
    dup2(fileno(tmp), 2);
    CUresult r = fn(arg);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    rewind(tmp);
    size_t n = fread(g_log, 1, sizeof g_log - 1, tmp);
    g_log[n] = 0;
    fclose(tmp);
    return r;
}
static CUresult call_unknown_table(void *arg) {
    const void **t = arg;
    return cuGetExportTable(t, &k_unknown);
}
static CUresult call_slot(void *arg) { return ((fn_void)arg)(); }

static int g_dtor_calls;
static CUcontext g_dtor_ctx;
static void *g_dtor_key, *g_dtor_value;
static void dtor(CUcontext ctx, void *key, void *value) {
    g_dtor_calls++;
    g_dtor_ctx = ctx, g_dtor_key = key, g_dtor_value = value;
}

static void hex(const unsigned char d[16], char out[33]) {
    for (int i = 0; i < 16; i++)
        sprintf(out + 2 * i, "%02x", d[i]);
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s FATBIN\n", argv[0]);
        return 2;
    }
    setenv("CUDAEMU_LOG", "1", 1);
    CHECK(cuInit(0) == CUDA_SUCCESS);
    const void *t = (const void *)1;

    /* bad arguments; an unknown table: NOT_FOUND, NULL, and a log line naming the UUID */
    CHECK(cuGetExportTable(NULL, &k_cudart) == CUDA_ERROR_INVALID_VALUE);
    CHECK(cuGetExportTable(&t, NULL) == CUDA_ERROR_INVALID_VALUE);
    CHECK(logged(call_unknown_table, &t) == CUDA_ERROR_NOT_FOUND);
    CHECK(t == NULL);
    CHECK(strstr(g_log, "01234567-89ab-cdef-fedc-ba9876543210") != NULL);
    t = (const void *)1;
    CHECK(cuGetExportTable(&t, &k_declined) == CUDA_ERROR_NOT_FOUND && t == NULL);

    /* MD2, RFC 1319's vectors (the tables must have been asked for once: they build its S-box) */
    static const struct {
        const char *in, *md;
    } vec[] = {
        {"", "8350e5a3e24c153df2275c9f80692773"},
        {"a", "32ec01ec4a6dac72c0ab96fb34c0b5d1"},
        {"abc", "da853b0d3f88d99b30283a69e6ded6bb"},
        {"message digest", "ab4f496bfb2a530b219ff33031fe06b0"},
        {"abcdefghijklmnopqrstuvwxyz", "4e8ddff3650292ab5a4108c3aa47940b"},
        {"12345678901234567890123456789012345678901234567890123456789012345678901234567890",
         "d5976f79d83d3a0dc9806c3c66f3efd8"},
    };
    for (size_t i = 0; i < sizeof vec / sizeof vec[0]; i++) {
        unsigned char d[16];
        char h[33];
        xt_md2_digest(vec[i].in, strlen(vec[i].in), d);
        hex(d, h);
        if (strcmp(h, vec[i].md) != 0)
            fprintf(stderr, "MD2(\"%s\") = %s, want %s\n", vec[i].in, h, vec[i].md);
        CHECK(strcmp(h, vec[i].md) == 0);
    }

    /* the cudart interface */
    const void *const *c = NULL;
    CHECK(cuGetExportTable((const void **)&c, &k_cudart) == CUDA_SUCCESS && c);
    if (!c) return check_done("unit.cudaemu.export_tables");
    CHECK((uintptr_t)c[0] == 13 * sizeof(void *));
    CUcontext primary = NULL;
    CHECK(((fn_primary)c[2])(&primary, 0) == CUDA_SUCCESS && primary);
    unsigned flags = 0;
    int active = 0;
    CHECK(cuDevicePrimaryCtxGetState(0, &flags, &active) == CUDA_SUCCESS && active == 1);
    CHECK(((fn_primary)c[2])(&primary, 99) == CUDA_ERROR_INVALID_DEVICE);
    CHECK(cuCtxSetCurrent(primary) == CUDA_SUCCESS);
    size_t n = 0;
    void *fatbin = tc_read_file(argv[1], &n);
    CHECK(fatbin != NULL);
    struct {
        int magic, version;
        const void *data, *prelinked;
    } wrapper = {0x466243b1, 1, fatbin, NULL};
    CUmodule mod = NULL;
    CUfunction f = NULL;
    CHECK(((fn_module)c[1])(&mod, &wrapper) == CUDA_SUCCESS && mod);
    CHECK(cuModuleGetFunction(&f, mod, "vec_add") == CUDA_SUCCESS && f);
    CHECK(cuModuleUnload(mod) == CUDA_SUCCESS);
    wrapper.magic = 0x12345678;
    CHECK(((fn_module)c[1])(&mod, &wrapper) == CUDA_ERROR_INVALID_IMAGE);
    CHECK(((fn_module)c[1])(NULL, &wrapper) == CUDA_ERROR_INVALID_VALUE);
    /* a slot nobody understood: NOT_SUPPORTED, and the log names the table and the slot */
    CHECK(logged(call_slot, (void *)c[3]) == CUDA_ERROR_NOT_SUPPORTED);
    CHECK(strstr(g_log, "slot 3 of the cudart table") != NULL);
    if (!strstr(g_log, "slot 3 of the cudart table")) fprintf(stderr, "log: %s\n", g_log);

    /* the callback hooks' scratch buffers */
    const void *const *h = NULL;
    CHECK(cuGetExportTable((const void **)&h, &k_hooks) == CUDA_SUCCESS && h);
    void *buf = NULL;
    size_t bufsz = 0;
    ((fn_buffer)h[2])(&buf, &bufsz);
    CHECK(buf != NULL && bufsz == 1024);
    memset(buf, 0xab, bufsz); /* writable, all of it */

    /* context-local storage */
    const void *const *s = NULL;
    CHECK(cuGetExportTable((const void **)&s, &k_storage) == CUDA_SUCCESS && s);
    fn_put put = (fn_put)s[0];
    fn_del del = (fn_del)s[1];
    fn_get get = (fn_get)s[2];
    int key1, key2, v1, v2;
    void *v = (void *)1;
    CHECK(get(&v, primary, &key1) == CUDA_ERROR_INVALID_HANDLE && v == NULL);
    CHECK(put(primary, &key1, &v1, dtor) == CUDA_SUCCESS);
    CHECK(put(NULL, &key2, &v2, NULL) == CUDA_SUCCESS); /* NULL: the current context */
    CHECK(get(&v, NULL, &key1) == CUDA_SUCCESS && v == &v1);
    CHECK(get(&v, primary, &key2) == CUDA_SUCCESS && v == &v2);
    CHECK(put(primary, &key2, &v1, NULL) == CUDA_SUCCESS); /* replaces */
    CHECK(get(&v, primary, &key2) == CUDA_SUCCESS && v == &v1);
    CHECK(del(primary, &key2) == CUDA_SUCCESS);
    CHECK(get(&v, primary, &key2) == CUDA_ERROR_INVALID_HANDLE);
    /* another context: its own values, its destructor at cuCtxDestroy, once */
    CUcontext other = NULL;
    CUdevice dev = 0;
    CHECK(cuDeviceGet(&dev, 0) == CUDA_SUCCESS);
    CHECK(cuCtxCreate(&other, NULL, 0, dev) == CUDA_SUCCESS);
    CHECK(get(&v, other, &key1) == CUDA_ERROR_INVALID_HANDLE);
    CHECK(put(other, &key1, &v2, dtor) == CUDA_SUCCESS);
    CHECK(cuCtxDestroy(other) == CUDA_SUCCESS);
    CHECK(g_dtor_calls == 1 && g_dtor_ctx == other && g_dtor_key == &key1 && g_dtor_value == &v2);
    CHECK(get(&v, primary, &key1) == CUDA_SUCCESS && v == &v1); /* the primary's value is untouched */
    /* the primary context: its destructor runs at cuDevicePrimaryCtxReset */
    CHECK(cuCtxSetCurrent(primary) == CUDA_SUCCESS);
    CHECK(cuDevicePrimaryCtxReset(0) == CUDA_SUCCESS);
    CHECK(g_dtor_calls == 2 && g_dtor_ctx == primary && g_dtor_key == &key1 && g_dtor_value == &v1);
    CHECK(get(&v, primary, &key1) == CUDA_ERROR_INVALID_HANDLE);
    /* ... and at its last release */
    CHECK(cuDevicePrimaryCtxRetain(&primary, 0) == CUDA_SUCCESS);
    CHECK(put(primary, &key1, &v2, dtor) == CUDA_SUCCESS);
    CHECK(cuDevicePrimaryCtxRelease(0) == CUDA_SUCCESS); /* one retain left (slot 2's) */
    CHECK(g_dtor_calls == 2);
    CHECK(cuDevicePrimaryCtxRelease(0) == CUDA_SUCCESS);
    CHECK(g_dtor_calls == 3 && g_dtor_value == &v2);

    /* context identity: cudart 13.5 will not start without the table; slot 4 is cuCtxGetId */
    const void *const *ci = NULL;
    CHECK(cuGetExportTable((const void **)&ci, &k_identity) == CUDA_SUCCESS && ci);
    CHECK((uintptr_t)ci[0] >= 5 * sizeof(void *));
    unsigned long long id1 = 0, id2 = 1;
    CHECK(cuDevicePrimaryCtxRetain(&primary, 0) == CUDA_SUCCESS);
    CHECK(((fn_ctx_id)ci[4])(primary, &id1) == CUDA_SUCCESS && cuCtxGetId(primary, &id2) == CUDA_SUCCESS &&
          id1 == id2);
    CHECK(cuDevicePrimaryCtxRelease(0) == CUDA_SUCCESS);

    /* the integrity check */
    const void *const *ic = NULL;
    CHECK(cuGetExportTable((const void **)&ic, &k_integrity) == CUDA_SUCCESS && ic);
    CHECK((uintptr_t)ic[0] == 3 * sizeof(void *));
    fn_integrity check = (fn_integrity)ic[1];
    uint64_t r1[2], r2[2], r3[2];
    CHECK(check(13000, 1700000000, r1) == CUDA_SUCCESS);
    CHECK(r1[0] == UINT64_C(0x3341181c03cb675c) && r1[1] == UINT64_C(0x8ed383aa1f4cd1e8));
    CHECK(check(12001, 1700000000, r1) == CUDA_SUCCESS);
    CHECK(r1[0] == UINT64_C(0x1841181c03cb675c) && r1[1] == UINT64_C(0x8ed383aa1f4cd1e8));
    CHECK(check(13002, 1700000000, r1) == CUDA_SUCCESS);
    CHECK(check(13002, 1700000000, r2) == CUDA_SUCCESS);
    CHECK(check(13002, 1700000001, r3) == CUDA_SUCCESS);
    CHECK(r1[0] == r2[0] && r1[1] == r2[1]); /* a function of its inputs */
    CHECK(r1[0] != r3[0] || r1[1] != r3[1]); /* of the time among them */
    CHECK(check(13002, 0, NULL) == CUDA_ERROR_INVALID_VALUE);
    free(fatbin);
    return check_done("unit.cudaemu.export_tables");
}
