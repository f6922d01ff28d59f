/* bench_emu.c — the `emu` benchmark (PERFORMANCE.md): PTX thread-instructions per second of the
 * cudaemu interpreter on a vector add and a shared-memory reduction (one host thread, wall and
 * CPU-time rates), against the same loops compiled natively, and the wall time of one 640x640
 * tiled matrix multiply (32x32 tiles, 1024-thread blocks) with the default CUDAEMU_THREADS (every
 * CPU) and with one thread; one JSON object per figure. Exits non-zero only on errors. */
#include <cuda.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern uint64_t g_emu_thread_instrs; /* interpreter counter (src/cudaemu/interp.c) */

#define CK(call)                                                                                             \
    do {                                                                                                     \
        CUresult r_ = (call);                                                                                \
        if (r_ != CUDA_SUCCESS) {                                                                            \
            const char *n_ = NULL;                                                                           \
            cuGetErrorName(r_, &n_);                                                                         \
            fprintf(stderr, "lepton-bench-emu: %s failed: %s\n", #call, n_ ? n_ : "?");                      \
            exit(1);                                                                                         \
        }                                                                                                    \
    } while (0)

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static double cpu_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static char *read_file(const char *path) {
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

static double native_vadd(const float *a, const float *b, float *c, int n, int reps) {
    double t0 = now_s();
    for (int r = 0; r < reps; r++) {
        for (int i = 0; i < n; i++)
            c[i] = a[i] + b[i];
        g_sink = c[r % n];
    }
    return now_s() - t0;
}

static double native_reduce(const float *in, float *out, int n, int reps) {
    float s[256];
    double t0 = now_s();
    for (int r = 0; r < reps; r++) {
        for (int blk = 0; blk < n / 256; blk++) {
            for (int t = 0; t < 256; t++)
                s[t] = in[blk * 256 + t];
            for (int k = 128; k > 0; k >>= 1)
                for (int t = 0; t < k; t++)
                    s[t] += s[t + k];
            out[blk] = s[0];
        }
        g_sink = out[r % (n / 256)];
    }
    return now_s() - t0;
}

static void emit(const char *metric, double value, double baseline) {
    printf(
        "{\"scenario\": \"emu\", \"metric\": \"%s\", \"value\": %.4g, \"baseline\": %.4g, \"ratio\": %.4g, "
        "\"target\": \">= 1e8 per core\"}\n",
        metric, value, baseline, baseline > 0 ? value / baseline : 0.0);
    fflush(stdout);
}

/* One launch of bench_matmul on n x n matrices, checked
 * against a host product of the same float operations in the same order. Returns wall seconds. */
static double run_matmul(const char *ptx, int n, const char *label) {
    CUdevice dev;
    CUcontext ctx;
    CUmodule mod;
    CUfunction f;
    CK(cuInit(0));
    CK(cuDeviceGet(&dev, 0));
    CK(cuDevicePrimaryCtxRetain(&ctx, dev));
    CK(cuCtxSetCurrent(ctx));
    CK(cuModuleLoadData(&mod, ptx));
    CK(cuModuleGetFunction(&f, mod, "bench_matmul"));
    size_t nn = (size_t)n * n, bytes = nn * sizeof(float);
    float *a = malloc(bytes), *b = malloc(bytes), *c = malloc(bytes);
    if (!a || !b || !c) exit(1);
    for (size_t i = 0; i < nn; i++) {
        a[i] = (float)((i * 7) % 13) * 0.25f - 1.0f;
        b[i] = (float)((i * 5) % 11) * 0.5f - 2.0f;
    }
    CUdeviceptr da, db, dc;
    CK(cuMemAlloc(&da, bytes));
    CK(cuMemAlloc(&db, bytes));
    CK(cuMemAlloc(&dc, bytes));
    CK(cuMemcpyHtoD(da, a, bytes));
    CK(cuMemcpyHtoD(db, b, bytes));
    void *args[] = {&da, &db, &dc, &n};
    double t0 = now_s();
    CK(cuLaunchKernel(f, (unsigned)n / 32, (unsigned)n / 32, 1, 32, 32, 1, 0, NULL, args, NULL));
    CK(cuCtxSynchronize());
    double t = now_s() - t0;
    CK(cuMemcpyDtoH(c, dc, bytes));
    for (int r = 0; r < n; r += 37)
        for (int col = 0; col < n; col += 29) {
            float acc = 0.0f;
            for (int k = 0; k < n; k++)
                acc = __builtin_fmaf(a[(size_t)r * n + k], b[(size_t)k * n + col], acc);
            if (acc != c[(size_t)r * n + col]) {
                fprintf(stderr, "lepton-bench-emu: matmul (%s) wrong at (%d,%d): %g vs %g\n", label, r, col,
                        (double)c[(size_t)r * n + col], (double)acc);
                exit(1);
            }
        }
    CK(cuMemFree(da));
    CK(cuMemFree(db));
    CK(cuMemFree(dc));
    CK(cuModuleUnload(mod));
    CK(cuDevicePrimaryCtxRelease(dev));
    free(a);
    free(b);
    free(c);
    return t;
}

/* The matmul in a child process, so that it sees CUDAEMU_THREADS as given (or unset). */
static int matmul_child(const char *ptx, int n, const char *threads) {
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        if (threads)
            setenv("CUDAEMU_THREADS", threads, 1);
        else
            unsetenv("CUDAEMU_THREADS");
        const char *label = threads ? "threads_1" : "default_threads";
        double t = run_matmul(ptx, n, label);
        long cpus = sysconf(_SC_NPROCESSORS_ONLN);
        printf("{\"scenario\": \"emu\", \"metric\": \"matmul%d_wall_s_%s\", \"value\": %.4g, "
               "\"online_cpus\": %ld}\n",
               n, label, t, cpus);
        fflush(stdout);
        _exit(0);
    }
    int st = 0;
    if (waitpid(pid, &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) return -1;
    return 0;
}

int main(int argc, char **argv) {
    int quick = 0, matmul = 1, matmul1 = 1, only_matmul = 0;
    const char *ptx_path = BENCH_EMU_PTX;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--quick") == 0)
            quick = 1;
        else if (strcmp(argv[i], "--no-matmul") == 0)
            matmul = 0;
        else if (strcmp(argv[i], "--matmul-only") == 0)
            only_matmul = 1;
        else if (strcmp(argv[i], "--ptx") == 0 && i + 1 < argc)
            ptx_path = argv[++i];
        else {
            fprintf(stderr, "usage: lepton-bench-emu [--quick] [--no-matmul] [--matmul-only] [--ptx FILE]\n");
            return 2;
        }
    }
    char *ptx = read_file(ptx_path);
    if (!ptx) {
        fprintf(stderr, "lepton-bench-emu: cannot read %s\n", ptx_path);
        return 1;
    }
    if (quick) matmul1 = 0; /* one thread takes seconds */
    if (matmul || only_matmul) {
        if (matmul_child(ptx, 640, getenv("CUDAEMU_THREADS")) ||
            ((matmul1 || only_matmul) && matmul_child(ptx, 640, "1"))) {
            fprintf(stderr, "lepton-bench-emu: matmul failed\n");
            return 1;
        }
        if (only_matmul) {
            free(ptx);
            return 0;
        }
    }
    setenv("CUDAEMU_THREADS", "1", 1); /* figures are per core */
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
    double t0 = now_s(), c0 = cpu_s();
    for (int r = 0; r < reps; r++)
        CK(cuLaunchKernel(fvadd, blocks, 1, 1, 256, 1, 1, 0, NULL, vargs, NULL));
    CK(cuCtxSynchronize());
    double t_emu = now_s() - t0, c_emu = cpu_s() - c0;
    double instrs = (double)(g_emu_thread_instrs - i0);
    CK(cuMemcpyDtoH(c, dc, bytes));
    for (int i = 0; i < n; i++)
        if (c[i] != a[i] + b[i]) {
            fprintf(stderr, "lepton-bench-emu: vector add wrong at %d\n", i);
            return 1;
        }
    double t_nat = native_vadd(a, b, c, n, reps * 20) / 20.0;
    emit("vecadd_thread_instr_per_s", instrs / t_emu, instrs / t_nat);
    emit("vecadd_thread_instr_per_cpu_s", instrs / c_emu, instrs / t_nat);

    /* shared-memory reduction */
    void *rargs[] = {&da, &dp, &n};
    CK(cuLaunchKernel(fred, blocks, 1, 1, 256, 1, 1, 0, NULL, rargs, NULL));
    i0 = g_emu_thread_instrs;
    t0 = now_s();
    c0 = cpu_s();
    for (int r = 0; r < reps; r++)
        CK(cuLaunchKernel(fred, blocks, 1, 1, 256, 1, 1, 0, NULL, rargs, NULL));
    CK(cuCtxSynchronize());
    t_emu = now_s() - t0;
    c_emu = cpu_s() - c0;
    instrs = (double)(g_emu_thread_instrs - i0);
    CK(cuMemcpyDtoH(part, dp, blocks * sizeof(float)));
    native_reduce(a, c, n, 1);
    for (unsigned k = 0; k < blocks; k++)
        if (part[k] != c[k]) {
            fprintf(stderr, "lepton-bench-emu: reduction wrong in block %u (%g vs %g)\n", k, (double)part[k],
                    (double)c[k]);
            return 1;
        }
    t_nat = native_reduce(a, c, n, reps * 20) / 20.0;
    emit("reduce_thread_instr_per_s", instrs / t_emu, instrs / t_nat);
    emit("reduce_thread_instr_per_cpu_s", instrs / c_emu, instrs / t_nat);
    printf("{\"scenario\": \"emu\", \"metric\": \"reduce_ns_per_thread_instr_cpu\", \"value\": %.4g}\n",
           1e9 * c_emu / instrs);

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
