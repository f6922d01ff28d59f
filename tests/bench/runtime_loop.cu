/* runtime_loop.cu — the runtime-API twin of remote_loop.c for lepton-bench's `remote` scenario: the
 * same loops written the way most CUDA code is (nvcc, <<<>>>, cudart linked statically), run on the
 * agent's driver directly and through the remote driver, so the cost the CUDA runtime adds on top of
 * the driver API is measured, not assumed.
 *   runtime_loop IGNORED launches N R     N <<<1,1>>> launches of an empty kernel, one
 *                                         cudaDeviceSynchronize; R rounds: microseconds per launch
 *   runtime_loop IGNORED launch_sync N R  N x (launch + cudaDeviceSynchronize): per iteration
 * (the first argument is remote_loop's PTX path, unused: the kernel is compiled in). Prints one JSON
 * line with the median and the best round, as remote_loop does. */
#include <cuda_runtime.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

__global__ void empty_kernel(void) {}

static double now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

#define CK(call)                                                                                         \
    do {                                                                                                 \
        cudaError_t e_ = (call);                                                                         \
        if (e_ != cudaSuccess) {                                                                         \
            fprintf(stderr, "runtime_loop: %s: %s\n", #call, cudaGetErrorName(e_));                      \
            return 3;                                                                                    \
        }                                                                                                \
    } while (0)

int main(int argc, char **argv)
{
    if (argc < 5) {
        fprintf(stderr, "usage: runtime_loop IGNORED launches|launch_sync N R\n");
        return 2;
    }
    const char *mode = argv[2];
    long n = atol(argv[3]), rounds = atol(argv[4]);
    int sync_each = !strcmp(mode, "launch_sync");
    if (n <= 0 || rounds <= 0 || rounds > 1000 || (!sync_each && strcmp(mode, "launches"))) {
        fprintf(stderr, "runtime_loop: launches|launch_sync, N and R positive (R <= 1000)\n");
        return 2;
    }
    empty_kernel<<<1, 1>>>(); /* starts the runtime and loads the module before timing */
    CK(cudaDeviceSynchronize());
    double t[1000];
    for (long r = 0; r < rounds; r++) {
        double t0 = now_us();
        for (long i = 0; i < n; i++) {
            empty_kernel<<<1, 1>>>();
            if (sync_each) CK(cudaDeviceSynchronize());
        }
        CK(cudaGetLastError());
        if (!sync_each) CK(cudaDeviceSynchronize());
        t[r] = (now_us() - t0) / (double)n;
    }
    qsort(t, (size_t)rounds, sizeof t[0], cmp);
    printf("{\"mode\": \"%s\", \"n\": %ld, \"rounds\": %ld, \"us_per_iter\": %.3f, \"us_per_iter_min\": %.3f}\n", mode,
           n, rounds, t[rounds / 2], t[0]);
    return 0;
}
