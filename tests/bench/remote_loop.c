/* remote_loop.c — the program of lepton-bench's `remote` scenario: the same unmodified driver-API
 * program run on cudaemu directly, through the remote driver (`lepton exec`'s environment) and
 * through its forward-every-call mode. Each mode prints one JSON line on stdout.
 *   remote_loop PTX launches N R     N launches of an empty kernel then one cuCtxSynchronize, R rounds:
 *                                    {"mode": "launches", "n", "us_per_iter" (median round / N)}
 *   remote_loop PTX launch_sync N R  N x (launch + cuCtxSynchronize), R rounds: per iteration
 *   remote_loop PTX copy MIB R       cuMemcpyHtoD then cuMemcpyDtoH of MIB MiB (pinned host memory),
 *                                    R rounds: {"mode": "copy", "up_gbps", "down_gbps"} (best round),
 *                                    the bytes checked after every round
 *   remote_loop PTX pause 1 1        one launch + cuCtxSynchronize, "remote_loop: paused" on stderr, waits
 *                                    for a line on stdin, then one more launch + cuCtxSynchronize (the
 *                                    e2e tests replace the worker while it waits)
 * Any CUDA error ends it with exit status 3 and the call and the error's name on stderr (the
 * e2e tests kill a worker under it and expect exactly that, not a hang). */
#include <cuda.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void check(CUresult r, const char *what) {
    if (r == CUDA_SUCCESS) return;
    const char *name = NULL;
    cuGetErrorName(r, &name);
    fprintf(stderr, "remote_loop: %s: %s (%d)\n", what, name ? name : "?", (int)r);
    exit(3);
}
#define CK(call) check((call), #call)

static double now_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
    if (argc < 5) {
        fprintf(stderr, "usage: remote_loop PTX launches|launch_sync|copy|pause N R\n");
        return 2;
    }
    const char *mode = argv[2];
    long n = atol(argv[3]), rounds = atol(argv[4]);
    if (n <= 0 || rounds <= 0 || rounds > 1000) {
        fprintf(stderr, "remote_loop: N and R must be positive (R <= 1000)\n");
        return 2;
    }
    CUdevice dev;
    CUcontext ctx;
    CK(cuInit(0));
    CK(cuDeviceGet(&dev, 0));
    CK(cuDevicePrimaryCtxRetain(&ctx, dev));
    CK(cuCtxSetCurrent(ctx));
    FILE *f = fopen(argv[1], "rb");
    if (!f) {
        fprintf(stderr, "remote_loop: cannot open %s\n", argv[1]);
        return 2;
    }
    static char ptx[1 << 16];
    size_t len = fread(ptx, 1, sizeof ptx - 1, f);
    fclose(f);
    ptx[len] = 0;
    CUmodule mod;
    CUfunction fn;
    CK(cuModuleLoadData(&mod, ptx));
    CK(cuModuleGetFunction(&fn, mod, "empty_kernel"));
    double t[1000];
    fprintf(stderr, "remote_loop: running\n");
    if (!strcmp(mode, "launches") || !strcmp(mode, "launch_sync")) {
        int sync_each = !strcmp(mode, "launch_sync");
        for (long r = 0; r < rounds; r++) {
            double t0 = now_us();
            for (long i = 0; i < n; i++) {
                CK(cuLaunchKernel(fn, 1, 1, 1, 1, 1, 1, 0, NULL, NULL, NULL));
                if (sync_each) CK(cuCtxSynchronize());
            }
            if (!sync_each) CK(cuCtxSynchronize());
            t[r] = (now_us() - t0) / (double)n;
        }
        qsort(t, (size_t)rounds, sizeof t[0], cmp);
        printf("{\"mode\": \"%s\", \"n\": %ld, \"rounds\": %ld, \"us_per_iter\": %.3f, \"us_per_iter_min\": "
               "%.3f}\n",
               mode, n, rounds, t[rounds / 2], t[0]);
    } else if (!strcmp(mode, "pause")) {
        CK(cuLaunchKernel(fn, 1, 1, 1, 1, 1, 1, 0, NULL, NULL, NULL));
        CK(cuCtxSynchronize());
        fprintf(stderr, "remote_loop: paused\n");
        char line[64];
        if (!fgets(line, sizeof line, stdin)) return 2;
        CK(cuLaunchKernel(fn, 1, 1, 1, 1, 1, 1, 0, NULL, NULL, NULL));
        CK(cuCtxSynchronize());
        printf("{\"mode\": \"pause\"}\n");
    } else if (!strcmp(mode, "copy")) {
        size_t bytes = (size_t)n << 20;
        unsigned char *host, *back;
        CUdeviceptr d;
        CK(cuMemAllocHost((void **)&host, bytes));
        CK(cuMemAllocHost((void **)&back, bytes));
        CK(cuMemAlloc(&d, bytes));
        double up = 0, down = 0;
        for (long r = 0; r < rounds; r++) {
            for (size_t i = 0; i < bytes; i += 4096)
                host[i] = (unsigned char)(i / 4096 + (size_t)r);
            double t0 = now_us();
            CK(cuMemcpyHtoD(d, host, bytes));
            double t1 = now_us();
            CK(cuMemcpyDtoH(back, d, bytes));
            double t2 = now_us();
            if (memcmp(host, back, bytes) != 0) {
                fprintf(stderr, "remote_loop: round %ld: the bytes read back differ from those written\n", r);
                return 4;
            }
            double gu = (double)bytes / ((t1 - t0) * 1e3), gd = (double)bytes / ((t2 - t1) * 1e3);
            if (gu > up) up = gu;
            if (gd > down) down = gd;
        }
        CK(cuMemFree(d));
        CK(cuMemFreeHost(host));
        CK(cuMemFreeHost(back));
        printf(
            "{\"mode\": \"copy\", \"mib\": %ld, \"rounds\": %ld, \"up_gbps\": %.4f, \"down_gbps\": %.4f}\n",
            n, rounds, up, down);
    } else {
        fprintf(stderr, "remote_loop: unknown mode %s\n", mode);
        return 2;
    }
    CK(cuModuleUnload(mod));
    CK(cuDevicePrimaryCtxRelease(dev));
    return 0;
}
