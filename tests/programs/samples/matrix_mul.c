/* matrix_mul.c — matrixMulDrv's shape with the launch sized by the occupancy API: three tiled kernels
 * (8, 16, 32 wide tiles in shared memory) and the one with the most resident threads per SM is used
 * (cuOccupancyMaxActiveBlocksPerMultiprocessor); then a grid-stride kernel sized by
 * cuOccupancyMaxPotentialBlockSize. Sizes that are not multiples of any tile. argv[1]: the PTX. */
#include "programs_common.h"

#include <math.h>

int main(int argc, char **argv) {
    REQUIRE(argc >= 2, "usage: matrix_mul PTX");
    CUdevice dev;
    make_context_dev(&dev);
    char *ptx = read_file(argv[1], NULL);
    char log[2048] = "";
    CUjit_option jo[] = {CU_JIT_ERROR_LOG_BUFFER, CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES};
    void *jv[] = {log, (void *)(size_t)sizeof log};
    CUmodule mod;
    CUresult lr = cuModuleLoadDataEx(&mod, ptx, 2, jo, jv);
    if (lr != CUDA_SUCCESS) fprintf(stderr, "JIT log: %s\n", log);
    CHECK(lr);
    free(ptx);

    static const int tiles[] = {8, 16, 32};
    static const char *names[] = {"matmul8", "matmul16", "matmul32"};
    int best = -1, best_threads = 0, sms = 0;
    CHECK(cuDeviceGetAttribute(&sms, CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT, dev));
    CUfunction fmm[3];
    for (int t = 0; t < 3; t++) {
        CHECK(cuModuleGetFunction(&fmm[t], mod, names[t]));
        int maxt = 0, nb = 0, sh = 0;
        CHECK(cuFuncGetAttribute(&maxt, CU_FUNC_ATTRIBUTE_MAX_THREADS_PER_BLOCK, fmm[t]));
        CHECK(cuFuncGetAttribute(&sh, CU_FUNC_ATTRIBUTE_SHARED_SIZE_BYTES, fmm[t]));
        EXPECT(sh >= 2 * tiles[t] * (tiles[t] + 1) * 4, "%s: %d bytes of static shared memory", names[t], sh);
        if (tiles[t] * tiles[t] > maxt) continue;
        CHECK(cuOccupancyMaxActiveBlocksPerMultiprocessor(&nb, fmm[t], tiles[t] * tiles[t], 0));
        EXPECT(nb >= 1, "%s: %d resident blocks per SM", names[t], nb);
        printf("%s: %d blocks of %d threads per SM\n", names[t], nb, tiles[t] * tiles[t]);
        if (nb * tiles[t] * tiles[t] >= best_threads) {
            best_threads = nb * tiles[t] * tiles[t];
            best = t;
        }
    }
    REQUIRE(best >= 0, "no tile size fits the device");
    int m = 150, k = 203, n = 121, T = tiles[best];
    float *A = malloc(sizeof(float) * (size_t)(m * k)), *B = malloc(sizeof(float) * (size_t)(k * n));
    float *C = malloc(sizeof(float) * (size_t)(m * n)), *R = malloc(sizeof(float) * (size_t)(m * n));
    for (int i = 0; i < m * k; i++)
        A[i] = (float)((i * 37) % 17) / 8.0f - 1.0f;
    for (int i = 0; i < k * n; i++)
        B[i] = (float)((i * 11) % 23) / 11.0f - 1.0f;
    for (int r = 0; r < m; r++)
        for (int c = 0; c < n; c++) {
            double s = 0;
            for (int j = 0; j < k; j++)
                s += (double)A[r * k + j] * B[j * n + c];
            R[r * n + c] = (float)s;
        }
    CUdeviceptr dA, dB, dC;
    CHECK(cuMemAlloc(&dA, sizeof(float) * (size_t)(m * k)));
    CHECK(cuMemAlloc(&dB, sizeof(float) * (size_t)(k * n)));
    CHECK(cuMemAlloc(&dC, sizeof(float) * (size_t)(m * n)));
    CHECK(cuMemcpyHtoD(dA, A, sizeof(float) * (size_t)(m * k)));
    CHECK(cuMemcpyHtoD(dB, B, sizeof(float) * (size_t)(k * n)));
    void *args[] = {&dA, &dB, &dC, &m, &k, &n};
    CHECK(cuLaunchKernel(fmm[best], (unsigned)((n + T - 1) / T), (unsigned)((m + T - 1) / T), 1, (unsigned)T,
                         (unsigned)T, 1, 0, NULL, args, NULL));
    CHECK(cuCtxSynchronize());

    /* y = C * 0.5 + bias, launched with the block size the occupancy API suggests. */
    CUfunction fb;
    CHECK(cuModuleGetFunction(&fb, mod, "add_bias"));
    int min_grid = 0, block = 0;
    CHECK(cuOccupancyMaxPotentialBlockSize(&min_grid, &block, fb, NULL, 0, 0));
    EXPECT(block >= 32 && block <= 1024 && block % 32 == 0, "suggested block %d", block);
    EXPECT(min_grid >= sms, "suggested grid %d on %d SMs", min_grid, sms);
    if (block < 32) block = 128;
    float bias[7];
    for (int i = 0; i < 7; i++)
        bias[i] = (float)i - 3.0f;
    CUdeviceptr dbias;
    CHECK(cuMemAlloc(&dbias, sizeof bias));
    CHECK(cuMemcpyHtoD(dbias, bias, sizeof bias));
    int nbias = 7, total = m * n;
    float scale = 0.5f;
    void *bargs[] = {&dC, &dbias, &nbias, &scale, &total};
    unsigned grid = (unsigned)(min_grid > 0 ? min_grid : 1);
    CHECK(cuLaunchKernel(fb, grid, 1, 1, (unsigned)block, 1, 1, 0, NULL, bargs, NULL));
    CHECK(cuMemcpyDtoH(C, dC, sizeof(float) * (size_t)(m * n)));
    int bad = 0;
    for (int i = 0; i < m * n; i++) {
        float want = R[i] * 0.5f + bias[i % 7];
        if (fabsf(C[i] - want) > 1e-3f * (1.0f + fabsf(want)) && bad++ < 5)
            fprintf(stderr, "C[%d] = %g, want %g\n", i, C[i], want);
    }
    EXPECT(bad == 0, "%d wrong elements of %d", bad, m * n);
    CHECK(cuMemFree(dA));
    CHECK(cuMemFree(dB));
    CHECK(cuMemFree(dC));
    CHECK(cuMemFree(dbias));
    CHECK(cuModuleUnload(mod));
    free(A);
    free(B);
    free(C);
    free(R);
    if (g_failures) return 1;
    printf("matrix_mul: %dx%d * %dx%d with %dx%d tiles, bias block %d grid %d, PASS\n", m, k, k, n, T, T,
           block, grid);
    return 0;
}
