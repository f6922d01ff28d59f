/* bench_emu.c — the `emu` benchmark (PERFORMANCE.md): PTX thread-instructions per second of the
 * cudaemu interpreter on a vector add and a shared-memory reduction, against the same loops
 * compiled natively, printed as one JSON object per figure. Exits non-zero only on errors. */
#include <cuda.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

extern uint64_t g_emu_thread_instrs; /* interpreter counter (src/cudaemu/interp.c) */

#define CK(call)                                                                            \
    do {                                                                                    \
        CUresult r_ = (call);                                                               \
        if (r_ != CUDA_SUCCESS) {                                                           \
            const char *n_ = NULL;                                                          \
            cuGetErrorName(r_, &n_);                                                        \
            fprintf(stderr, "lepton-bench-emu: %s failed: %s\n", #call, n_ ? n_ : "?");     \
            exit(1);                                                                        \
        }                                                                                   \
    } while (0)

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 1 << 16, n = 0;
    char *b = malloc(cap);
    size_t k;
    while (b && (k = fread(b + n, 1, cap - n - 1, f)) > 0) {
        n += k;
        if (n + 1 == cap) {
            char *nb = realloc(b, cap *= 2);
            if (!nb) {
                free(b);
                b = NULL;
            }
            b = nb;
        }
    }
    fclose(f);
    if (b) b[n] = 0;
    return b;
}

/* Native baselines: the same loops, compiled by the host compiler. volatile sinks keep them. */
static volatile float g_sink;

static double native_vadd(const float *a, const float *b, float *c, int n, int reps)
{
    double t0 = now_s();
    for (int r = 0; r < reps; r++) {
        for (int i = 0; i < n; i++) c[i] = a[i] + b[i];
        g_sink = c[r % n];
    }
    return now_s() - t0;
}

static double native_reduce(const float *in, float *out, int n, int reps)
{
    float s[256];
    double t0 = now_s();
    for (int r = 0; r < reps; r++) {
        for (int blk = 0; blk < n / 256; blk++) {
            for (int t = 0; t < 256; t++) s[t] = in[blk * 256 + t];
            for (int k = 128; k > 0; k >>= 1)
                for (int t = 0; t < k; t++) s[t] += s[t + k];
            out[blk] = s[0];
        }
        g_sink = out[r % (n / 256)];
    }
    return now_s() - t0;
}

static void emit(const char *metric, double value, double baseline)
{
    printf("{\"scenario\": \"emu\", \"metric\": \"%s\", \"value\": %.4g, \"baseline\": %.4g, \"ratio\": %.4g, "
           "\"target\": \">= 1e8 per core\"}\n",
           metric, value, baseline, baseline > 0 ? value / baseline : 0.0);
    fflush(stdout);
}

int main(int argc, char **argv)
{
    int quick = 0;
    const char *ptx_path = BENCH_EMU_PTX;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--quick") == 0) quick = 1;
        else if (strcmp(argv[i], "--ptx") == 0 && i + 1 < argc) ptx_path = argv[++i];
        else {
            fprintf(stderr, "usage: lepton-bench-emu [--quick] [--ptx FILE]\n");
            return 2;
        }
    }
    setenv("CUDAEMU_THREADS", "1", 1); /* figures are per core */
    char *ptx = read_file(ptx_path);
    if (!ptx) {
        fprintf(stderr, "lepton-bench-emu: cannot read %s\n", ptx_path);
        return 1;
    }
    int n = quick ? (1 << 18) : (1 << 22);
    int reps = quick ? 2 : 5;
    CUdevice dev;
    CUcontext ctx;
    CUmodule mod;
    CUfunction fvadd, fred;
    CK(cuInit(0));
    CK(cuDeviceGet(&dev, 0));
    CK(cuDevicePrimaryCtxRetain(&ctx, dev));
    CK(cuCtxSetCurrent(ctx));
    CK(cuModuleLoadData(&mod, ptx));
    CK(cuModuleGetFunction(&fvadd, mod, "bench_vadd"));
    CK(cuModuleGetFunction(&fred, mod, "bench_reduce"));

    size_t bytes = (size_t)n * sizeof(float);
    float *a = malloc(bytes), *b = malloc(bytes), *c = malloc(bytes), *part = malloc(bytes / 256 + 4);
    if (!a || !b || !c || !part) return 1;
    for (int i = 0; i < n; i++) {
        a[i] = (float)(i % 1000) * 0.5f;
        b[i] = (float)(i % 7);
    }
    CUdeviceptr da, db, dc, dp;
    CK(cuMemAlloc(&da, bytes));
    CK(cuMemAlloc(&db, bytes));
    CK(cuMemAlloc(&dc, bytes));
    CK(cuMemAlloc(&dp, bytes / 256 + 4));
    CK(cuMemcpyHtoD(da, a, bytes));
    CK(cuMemcpyHtoD(db, b, bytes));

    /* vector add */
    void *vargs[] = {&da, &db, &dc, &n};
    unsigned blocks = (unsigned)((n + 255) / 256);
    CK(cuLaunchKernel(fvadd, blocks, 1, 1, 256, 1, 1, 0, NULL, vargs, NULL)); /* warm-up */
    uint64_t i0 = g_emu_thread_instrs;
    double t0 = now_s();
    for (int r = 0; r < reps; r++) CK(cuLaunchKernel(fvadd, blocks, 1, 1, 256, 1, 1, 0, NULL, vargs, NULL));
    CK(cuCtxSynchronize());
    double t_emu = now_s() - t0;
    double instrs = (double)(g_emu_thread_instrs - i0);
    CK(cuMemcpyDtoH(c, dc, bytes));
    for (int i = 0; i < n; i++)
        if (c[i] != a[i] + b[i]) {
            fprintf(stderr, "lepton-bench-emu: vector add wrong at %d\n", i);
            return 1;
        }
    double t_nat = native_vadd(a, b, c, n, reps * 20) / 20.0;
    emit("vecadd_thread_instr_per_s", instrs / t_emu, instrs / t_nat);

    /* shared-memory reduction */
    void *rargs[] = {&da, &dp, &n};
    CK(cuLaunchKernel(fred, blocks, 1, 1, 256, 1, 1, 0, NULL, rargs, NULL));
    i0 = g_emu_thread_instrs;
    t0 = now_s();
    for (int r = 0; r < reps; r++) CK(cuLaunchKernel(fred, blocks, 1, 1, 256, 1, 1, 0, NULL, rargs, NULL));
    CK(cuCtxSynchronize());
    t_emu = now_s() - t0;
    instrs = (double)(g_emu_thread_instrs - i0);
    CK(cuMemcpyDtoH(part, dp, blocks * sizeof(float)));
    native_reduce(a, c, n, 1);
    for (unsigned k = 0; k < blocks; k++)
        if (part[k] != c[k]) {
            fprintf(stderr, "lepton-bench-emu: reduction wrong in block %u (%g vs %g)\n", k, (double)part[k], (double)c[k]);
            return 1;
        }
    t_nat = native_reduce(a, c, n, reps * 20) / 20.0;
    emit("reduce_thread_instr_per_s", instrs / t_emu, instrs / t_nat);

    CK(cuMemFree(da));
    CK(cuMemFree(db));
    CK(cuMemFree(dc));
    CK(cuMemFree(dp));
    CK(cuModuleUnload(mod));
    CK(cuDevicePrimaryCtxRelease(dev));
    free(a);
    free(b);
    free(c);
    free(part);
    free(ptx);
    return 0;
}
