/* occupancy.c — sizing a launch with the occupancy API the way CUDA samples do: ask
 * cuOccupancyMaxPotentialBlockSize for the block size and minimum grid, launch a grid-stride
 * kernel with them and check the result; the answers are compared with a host-side occupancy
 * calculation from the device limits and the kernel's attributes. */
#include <string.h>

#include "entry_common.h"

static int g_dev_limit[8];
enum { L_SMS, L_THREADS_SM, L_BLOCKS_SM, L_REGS_SM, L_SMEM_SM, L_SMEM_RESERVED, L_SMEM_BLOCK_OPTIN, L_WARP };

/* blocks per SM for one configuration, from the limits the device reports */
static int host_blocks(int bs, size_t dyn, int regs, int static_smem, int max_threads) {
    if (bs <= 0 || bs > max_threads) return 0;
    int warps = (bs + g_dev_limit[L_WARP] - 1) / g_dev_limit[L_WARP];
    int n = g_dev_limit[L_BLOCKS_SM];
    int by_threads = (g_dev_limit[L_THREADS_SM] / g_dev_limit[L_WARP]) / warps;
    if (by_threads < n) n = by_threads;
    int per_warp = (regs * 32 + 255) / 256 * 256;                        /* 256-register allocation unit */
    int by_regs = ((g_dev_limit[L_REGS_SM] / 4 / per_warp) * 4) / warps; /* per sub-partition, 4 per SM */
    if (by_regs < n) n = by_regs;
    size_t smem = (size_t)static_smem + dyn;
    if (smem > (size_t)g_dev_limit[L_SMEM_BLOCK_OPTIN]) return 0;
    size_t per_block = (smem + (size_t)g_dev_limit[L_SMEM_RESERVED] + 127) / 128 * 128;
    int by_smem = (int)((size_t)g_dev_limit[L_SMEM_SM] / per_block);
    if (by_smem < n) n = by_smem;
    return n;
}

static size_t smem_per_thread(int bs) { return (size_t)bs * 160; }

static void host_best(int limit, int use_cb, int regs, int ss, int mt, int *grid, int *block) {
    int maxbs = limit > 0 && limit < mt ? limit : mt, best = 0, bestb = 0, bestn = 0;
    for (int bs = maxbs; bs > 0; bs--) {
        if (bs != maxbs && bs % 32) continue;
        int nb = host_blocks(bs, use_cb ? smem_per_thread(bs) : 0, regs, ss, mt);
        if (nb * bs > best) best = nb * bs, bestb = bs, bestn = nb;
    }
    *grid = bestn * g_dev_limit[L_SMS];
    *block = bestb;
}

int main(void) {
    make_context();
    static const CUdevice_attribute attrs[] = {CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT,
                                               CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_MULTIPROCESSOR,
                                               CU_DEVICE_ATTRIBUTE_MAX_BLOCKS_PER_MULTIPROCESSOR,
                                               CU_DEVICE_ATTRIBUTE_MAX_REGISTERS_PER_MULTIPROCESSOR,
                                               CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_MULTIPROCESSOR,
                                               CU_DEVICE_ATTRIBUTE_RESERVED_SHARED_MEMORY_PER_BLOCK,
                                               CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN,
                                               CU_DEVICE_ATTRIBUTE_WARP_SIZE};
    for (int i = 0; i < 8; i++)
        CHECK(cuDeviceGetAttribute(&g_dev_limit[i], attrs[i], 0));

    CUmodule mod = NULL;
    CUfunction f = entry_kernel(&mod, "axpb");
    int regs, ss, mt;
    CHECK(cuFuncGetAttribute(&regs, CU_FUNC_ATTRIBUTE_NUM_REGS, f));
    CHECK(cuFuncGetAttribute(&ss, CU_FUNC_ATTRIBUTE_SHARED_SIZE_BYTES, f));
    CHECK(cuFuncGetAttribute(&mt, CU_FUNC_ATTRIBUTE_MAX_THREADS_PER_BLOCK, f));

    int grid = 0, block = 0, hg, hb;
    CHECK(cuOccupancyMaxPotentialBlockSize(&grid, &block, f, NULL, 0, 0));
    host_best(0, 0, regs, ss, mt, &hg, &hb);
    EXPECT(grid == hg && block == hb, "potential block size %d x %d, host calculation %d x %d", grid, block,
           hg, hb);
    int per_sm = 0;
    CHECK(cuOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, f, block, 0));
    EXPECT(per_sm * g_dev_limit[L_SMS] == grid, "min grid %d vs %d blocks/SM", grid, per_sm);

    /* with a limit and with dynamic shared memory growing with the block */
    int g2, b2;
    CHECK(cuOccupancyMaxPotentialBlockSize(&g2, &b2, f, NULL, 0, 100));
    host_best(100, 0, regs, ss, mt, &hg, &hb);
    EXPECT(b2 == hb && g2 == hg && b2 <= 100, "limit 100: %d x %d, host %d x %d", g2, b2, hg, hb);
    CHECK(
        cuOccupancyMaxPotentialBlockSizeWithFlags(&g2, &b2, f, smem_per_thread, 0, 0, CU_OCCUPANCY_DEFAULT));
    host_best(0, 1, regs, ss, mt, &hg, &hb);
    EXPECT(b2 == hb && g2 == hg, "smem callback: %d x %d, host %d x %d", g2, b2, hg, hb);
    EXPECT(b2 * g2 < block * grid, "160 B/thread of shared memory must lower the resident threads");
    size_t avail = 0;
    CHECK(cuOccupancyAvailableDynamicSMemPerBlock(&avail, f, 2, 256));
    EXPECT(host_blocks(256, avail, regs, ss, mt) >= 2 && host_blocks(256, avail + 128, regs, ss, mt) < 2,
           "available dynamic smem for 2 blocks of 256: %zu", avail);

    /* cluster queries: clusters are not emulated, cluster size 1 is */
    CUlaunchConfig cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.gridDimX = (unsigned)grid;
    cfg.gridDimY = cfg.gridDimZ = 1;
    cfg.blockDimX = (unsigned)block;
    cfg.blockDimY = cfg.blockDimZ = 1;
    int cs = -1, nc = -1;
    CHECK(cuOccupancyMaxPotentialClusterSize(&cs, f, &cfg));
    CHECK(cuOccupancyMaxActiveClusters(&nc, f, &cfg));
    if (programs_on_cudaemu()) /* a GPU's driver answers with its own cluster limits */
        EXPECT(cs == 1 && nc == grid, "cluster size %d, active clusters %d", cs, nc);
    EXPECT_CU(cuOccupancyMaxPotentialBlockSize(NULL, &b2, f, NULL, 0, 0), CUDA_ERROR_INVALID_VALUE);
    EXPECT_CU(cuOccupancyMaxPotentialBlockSize(&g2, &b2, NULL, NULL, 0, 0), CUDA_ERROR_INVALID_HANDLE);

    /* launch with the suggested shape: a grid-stride loop over more elements than threads */
    size_t n = (size_t)grid * (size_t)block + 12345;
    unsigned *h = malloc(n * 4);
    for (size_t i = 0; i < n; i++)
        h[i] = (unsigned)(i ^ 0x5a5a5a5au);
    CUdeviceptr d;
    CHECK(cuMemAlloc(&d, n * 4));
    CHECK(cuMemcpyHtoD(d, h, n * 4));
    CHECK(entry_axpb(f, d, n, 7, 3, 1, (unsigned)grid, (unsigned)block));
    CHECK(cuCtxSynchronize());
    unsigned *o = malloc(n * 4);
    CHECK(cuMemcpyDtoH(o, d, n * 4));
    size_t bad = 0;
    for (size_t i = 0; i < n; i++)
        bad += o[i] != h[i] * 7u + 3u + (unsigned)i;
    EXPECT(bad == 0, "%zu of %zu results wrong with grid %d block %d", bad, n, grid, block);
    printf("occupancy: block %d, min grid %d (%d blocks/SM, %d regs/thread), %zu elements; %s\n", block, grid,
           per_sm, regs, n, g_failures ? "FAILED" : "ok");
    CHECK(cuMemFree(d));
    free(h);
    free(o);
    return g_failures != 0;
}
