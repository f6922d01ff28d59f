/* exit_wait.c — process exit while another thread waits in the remote driver (e2e.remote.smoke):
 * a kernel that spins, a thread blocked in cuCtxSynchronize on it, and main calling exit(). The
 * driver's exit handler must not hang on the waiting thread: it waits a bounded time, then leaves
 * the lease to its keepalive.
 * usage: exit_wait WATCHDOG_SPIN_PTX */
#include <cuda.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static CUcontext g_ctx;

static void *waiter(void *arg) {
    (void)arg;
    cuCtxSetCurrent(g_ctx);
    cuCtxSynchronize(); /* never returns: the kernel spins */
    return NULL;
}

int main(int argc, char **argv) {
    if (argc < 2) return 2;
    CUdevice dev;
    CUmodule mod;
    CUfunction fn;
    CUdeviceptr flag, out;
    static char ptx[1 << 20];
    FILE *f = fopen(argv[1], "rb");
    if (!f) return 2;
    size_t n = fread(ptx, 1, sizeof ptx - 1, f);
    fclose(f);
    ptx[n] = 0;
    if (cuInit(0) || cuDeviceGet(&dev, 0) || cuDevicePrimaryCtxRetain(&g_ctx, dev) ||
        cuCtxSetCurrent(g_ctx) || cuModuleLoadData(&mod, ptx) ||
        cuModuleGetFunction(&fn, mod, "watchdog_spin") || cuMemAlloc(&flag, 4) || cuMemAlloc(&out, 4) ||
        cuMemsetD32(flag, 0, 1)) {
        fprintf(stderr, "exit_wait: setup failed\n");
        return 1;
    }
    int spin = 1;
    void *params[] = {&flag, &spin, &out};
    if (cuLaunchKernel(fn, 1, 1, 1, 1, 1, 1, 0, NULL, params, NULL)) return 1;
    pthread_t t;
    pthread_create(&t, NULL, waiter, NULL);
    sleep(1);
    printf("exit_wait: exiting with a thread in cuCtxSynchronize\n");
    fflush(stdout);
    exit(0);
}
