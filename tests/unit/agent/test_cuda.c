/* test_cuda.c — the CUDA loader against the CPU driver: two emulated GPUs with names, UUIDs and
 * memory; a missing library is a clear error. argv[1]: path of cudaemu's libcuda.so.1. */
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "cuda_api.h"

int main(int argc, char **argv) {
    if (argc < 2 || access(argv[1], R_OK) != 0) {
        printf("SKIPPED: the CPU driver (cudaemu libcuda.so.1) is not built at %s\n",
               argc > 1 ? argv[1] : "?");
        return CHECK_SKIP;
    }
    lp_cuda cu;
    char err[600];
    CHECK_EQ_INT(lp_cuda_open(&cu, "/nonexistent/libcuda.so.1", err, sizeof err), -1);
    CHECK_CONTAINS(err, "/nonexistent/libcuda.so.1");

    /* named devices, in a child that has not loaded the driver yet (a driver is loaded once per process,
     * never unloaded) */
    pid_t pid = fork();
    if (pid == 0) {
        lp_gpu_desc *g = NULL;
        int n = 0;
        setenv("CUDAEMU_DEVICES", "Lepton Test GPU:2G", 1);
        unsetenv("CUDAEMU_DEVICE_COUNT");
        int bad = lp_cuda_open(&cu, argv[1], err, sizeof err) != 0 ||
                  lp_cuda_list_gpus(&cu, &g, &n, err, sizeof err) != 0 || n != 1 ||
                  strcmp(g[0].name, "Lepton Test GPU") != 0 || g[0].memory != 2ull << 30;
        if (bad)
            fprintf(stderr, "named device: %d GPUs, first '%s' %llu bytes %s\n", n, n > 0 ? g[0].name : "",
                    n > 0 ? (unsigned long long)g[0].memory : 0ull, err);
        free(g);
        _exit(bad);
    }
    int ws = 0;
    waitpid(pid, &ws, 0);
    CHECK(WIFEXITED(ws) && WEXITSTATUS(ws) == 0);

    unsetenv("CUDAEMU_DEVICES");
    setenv("CUDAEMU_DEVICE_COUNT", "2", 1);
    if (lp_cuda_open(&cu, argv[1], err, sizeof err) != 0) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    printf("loaded %s, driver API %d, resolver %d\n", cu.path, cu.driver_version, cu.resolver);
    CHECK(cu.driver_version >= 12000);
    CHECK(cu.cuMemAlloc && cu.cuLaunchKernel && cu.cuModuleLoadDataEx);
    lp_gpu_desc *g = NULL;
    int n = 0;
    CHECK_EQ_INT(lp_cuda_list_gpus(&cu, &g, &n, err, sizeof err), 0);
    CHECK_EQ_INT(n, 2);
    for (int i = 0; i < n; i++) {
        printf("GPU %d: %s %s %llu bytes\n", i, g[i].name, g[i].uuid, (unsigned long long)g[i].memory);
        CHECK(g[i].name[0] != 0);
        CHECK_EQ_INT(strlen(g[i].uuid), 40);
        CHECK(!strncmp(g[i].uuid, "GPU-", 4));
        CHECK(g[i].uuid[12] == '-' && g[i].uuid[17] == '-' && g[i].uuid[22] == '-' && g[i].uuid[27] == '-');
        CHECK(g[i].memory > 0);
        CHECK_EQ_INT(g[i].ordinal, i);
    }
    if (n == 2) CHECK(strcmp(g[0].uuid, g[1].uuid) != 0);
    char nb[64];
    CHECK(!strcmp(lp_cuda_error_name(&cu, 700, nb, sizeof nb), "CUDA_ERROR_ILLEGAL_ADDRESS"));
    CHECK(lp_cuda_error_is_sticky(700) && !lp_cuda_error_is_sticky(1));
    free(g);
    lp_cuda_close(&cu);

    return check_done("unit.agent.cuda");
}
