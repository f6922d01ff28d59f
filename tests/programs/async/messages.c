/* SPDX-License-Identifier: Apache-2.0
 * messages — what a program is told when the driver refuses something: the JIT error log of a bad
 * module names the PTX line, and (on cudaemu, with CUDAEMU_LOG=1) every log line says "cudaemu:"
 * once, then the entry point, then what happened and what to do. On cudaemu (programs_on_cudaemu)
 * the cudaemu log lines are required; on another driver only the driver-independent checks apply. */
#include "async_common.h"

static const char bad_ptx[] = ".version 7.0\n"
                              ".target sm_75\n"
                              ".address_size 64\n"
                              ".visible .entry broken(.param .u64 p)\n"
                              "{\n"
                              "    .reg .b32 %r<4>;\n"
                              "    frobnicate.u32 %r1, %r2;\n"
                              "    ret;\n"
                              "}\n";

/* Each line of the log that starts with "cudaemu: " goes on with an entry point ("cu..."). */
static void check_log_lines(const char *log) {
    REQUIRE(!strstr(log, "cudaemu: cudaemu:"), "doubled prefix in the log:\n%s", log);
    for (const char *l = log; *l;) {
        const char *nl = strchr(l, '\n');
        size_t len = nl ? (size_t)(nl - l) : strlen(l);
        if (len >= 9 && !strncmp(l, "cudaemu: ", 9))
            REQUIRE(len > 11 && l[9] == 'c' && l[10] == 'u' && l[11] >= 'A' && l[11] <= 'Z',
                    "log line without an entry point: %.*s", (int)len, l);
        l += len + (nl ? 1 : 0);
    }
}

static int has_line(const char *log, const char *a, const char *b) {
    for (const char *l = log; l && *l;) {
        const char *nl = strchr(l, '\n');
        size_t len = nl ? (size_t)(nl - l) : strlen(l);
        char line[1024];
        snprintf(line, sizeof line, "%.*s", (int)(len < sizeof line - 1 ? len : sizeof line - 1), l);
        if (strstr(line, a) && strstr(line, b)) return 1;
        l = nl ? nl + 1 : NULL;
    }
    return 0;
}

int main(void) {
    int on_cudaemu = programs_on_cudaemu();
    setenv("CUDAEMU_LOG", "1", 1);
    CUdevice dev;
    make_context_dev(&dev);

    capture err;
    capture_begin(&err, 2);
    /* a bad module: the JIT error log names the line */
    char elog[4096] = "";
    CUjit_option opts[] = {CU_JIT_ERROR_LOG_BUFFER, CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES};
    void *vals[] = {elog, (void *)(uintptr_t)sizeof elog};
    CUmodule bad;
    CUresult r = cuModuleLoadDataEx(&bad, bad_ptx, 2, opts, vals);
    /* a binary image of the wrong kind */
    static const unsigned char elf[64] = {0x7f, 'E', 'L', 'F', 2, 1, 1};
    CUresult relf = cuModuleLoadData(&bad, elf);
    /* a launch the configuration refuses, then a kernel that faults */
    CUmodule m = load_module();
    CUfunction scatter;
    CHECK(cuModuleGetFunction(&scatter, m, "scatter"));
    CUdeviceptr dout, didx;
    CHECK(cuMemAlloc(&dout, 64 * sizeof(int)));
    CHECK(cuMemAlloc(&didx, 64 * sizeof(int)));
    int idx[64];
    for (int i = 0; i < 64; i++)
        idx[i] = i == 9 ? 1 << 30 : i;
    CHECK(cuMemcpyHtoD(didx, idx, sizeof idx));
    int n = 64;
    void *args[] = {&dout, &didx, &n};
    CUresult rzero = cuLaunchKernel(scatter, 0, 1, 1, 64, 1, 1, 0, NULL, args, NULL);
    CUresult rlaunch = cuLaunchKernel(scatter, 1, 1, 1, 64, 1, 1, 0, NULL, args, NULL);
    CUresult rsync = cuCtxSynchronize();
    CUdeviceptr p;
    CUresult ralloc = cuMemAlloc(&p, 64);
    char *log = capture_end(&err);

    REQUIRE_CU(r, CUDA_ERROR_INVALID_PTX);
    REQUIRE(strstr(elog, "line 7") != NULL, "the JIT error log does not name line 7: [%s]", elog);
    REQUIRE(!strstr(elog, "cudaemu: cudaemu:"), "doubled prefix in the JIT error log: [%s]", elog);
    REQUIRE(relf != CUDA_SUCCESS, "a bogus ELF image loaded");
    REQUIRE_CU(rzero, CUDA_ERROR_INVALID_VALUE);
    REQUIRE_CU(rlaunch, CUDA_SUCCESS);
    REQUIRE_CU(rsync, CUDA_ERROR_ILLEGAL_ADDRESS);
    REQUIRE_CU(ralloc, CUDA_ERROR_ILLEGAL_ADDRESS);
    check_log_lines(log);
    if (on_cudaemu) {
        REQUIRE_CU(relf, CUDA_ERROR_NO_BINARY_FOR_GPU);
        REQUIRE(has_line(log, "cudaemu: cuModuleLoadData", "PTX line 7: unsupported instruction"),
                "no log line for the bad PTX");
        REQUIRE(has_line(log, "cudaemu: cuModuleLoadData", "needs PTX"), "no log line for the ELF image");
        REQUIRE(has_line(log, "cudaemu: cuLaunchKernel: ", "zero dimension"),
                "no log line for the zero grid");
        REQUIRE(has_line(log, "cudaemu: cuLaunchKernel: kernel scatter: ", "PTX line"),
                "no log line for the fault naming its PTX line");
        REQUIRE(
            has_line(log, "cudaemu: cuCtxSynchronize: CUDA_ERROR_ILLEGAL_ADDRESS", "cuDevicePrimaryCtxReset"),
            "no log line for the error at cuCtxSynchronize");
        REQUIRE(has_line(log, "cudaemu: cuMemAlloc", "kernel scatter"),
                "the sticky refusal of cuMemAlloc does not say which kernel failed");
    }
    free(log);
    CHECK(cuDevicePrimaryCtxReset(dev));
    CHECK(cuDevicePrimaryCtxRelease(dev));
    printf("messages: OK\n");
    return 0;
}
