/* nvrtc_load.c — runtime compilation as in NVIDIA's NVRTC samples: the process uses the driver
 * (cudaemu) first, then NVRTC compiles CUDA C++ to PTX (NVRTC probes the driver it finds in the
 * process, cuGetExportTable included), and cuModuleLoadDataEx loads the result. */
#include "images_common.h"

#include <nvrtc.h>
#include <stdint.h>

static const char *source = "template <typename T> __device__ T cube(T v) { return v * v * v; }\n"
                            "extern \"C\" __global__ void cubes(const int *in, long long *out, int n)\n"
                            "{\n"
                            "    int i = blockIdx.x * blockDim.x + threadIdx.x;\n"
                            "    if (i < n) out[i] = cube<long long>(in[i]) - i;\n"
                            "}\n";

int main(void) {
    make_context();
    int major = 0, minor = 0;
    NVRTC_CHECK(nvrtcVersion(&major, &minor));
    nvrtcProgram prog;
    NVRTC_CHECK(nvrtcCreateProgram(&prog, source, "cubes.cu", 0, NULL, NULL));
    const char *opts[] = {"--gpu-architecture=compute_80", "-default-device"};
    nvrtcResult cr = nvrtcCompileProgram(prog, 2, opts);
    size_t logsz;
    NVRTC_CHECK(nvrtcGetProgramLogSize(prog, &logsz));
    char *log = malloc(logsz + 1);
    NVRTC_CHECK(nvrtcGetProgramLog(prog, log));
    if (cr != NVRTC_SUCCESS) {
        fprintf(stderr, "nvrtc compile failed: %s\n%s\n", nvrtcGetErrorString(cr), log);
        return 1;
    }
    size_t ptxsz;
    NVRTC_CHECK(nvrtcGetPTXSize(prog, &ptxsz));
    char *ptx = malloc(ptxsz);
    NVRTC_CHECK(nvrtcGetPTX(prog, ptx));
    NVRTC_CHECK(nvrtcDestroyProgram(&prog));

    char info[512] = "", err[512] = "";
    CUjit_option jo[] = {CU_JIT_INFO_LOG_BUFFER, CU_JIT_INFO_LOG_BUFFER_SIZE_BYTES, CU_JIT_ERROR_LOG_BUFFER,
                         CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES};
    void *jv[] = {info, (void *)(uintptr_t)sizeof info, err, (void *)(uintptr_t)sizeof err};
    CUmodule mod;
    CUresult r = cuModuleLoadDataEx(&mod, ptx, 4, jo, jv);
    if (r != CUDA_SUCCESS) fprintf(stderr, "JIT error log: %s\n", err);
    CHECK(r);
    CUfunction f;
    CHECK(cuModuleGetFunction(&f, mod, "cubes"));

    int n = 3000;
    int *in = malloc(sizeof(int) * (size_t)n);
    long long *out = malloc(sizeof(long long) * (size_t)n);
    for (int i = 0; i < n; i++)
        in[i] = (i * 7919) % 2001 - 1000;
    CUdeviceptr din, dout;
    CHECK(cuMemAlloc(&din, sizeof(int) * (size_t)n));
    CHECK(cuMemAlloc(&dout, sizeof(long long) * (size_t)n));
    CHECK(cuMemcpyHtoD(din, in, sizeof(int) * (size_t)n));
    void *args[] = {&din, &dout, &n};
    CHECK(cuLaunchKernel(f, (unsigned)(n + 255) / 256, 1, 1, 256, 1, 1, 0, NULL, args, NULL));
    CHECK(cuMemcpyDtoH(out, dout, sizeof(long long) * (size_t)n));
    for (int i = 0; i < n; i++) {
        long long want = (long long)in[i] * in[i] * in[i] - i;
        if (out[i] != want) {
            fprintf(stderr, "cubes: out[%d] = %lld, host says %lld\n", i, out[i], want);
            return 1;
        }
    }
    CHECK(cuMemFree(din));
    CHECK(cuMemFree(dout));
    CHECK(cuModuleUnload(mod));
    printf("nvrtc %d.%d: %zu bytes of PTX, %s: ok\n", major, minor, ptxsz, info);
    free(in);
    free(out);
    free(ptx);
    free(log);
    return 0;
}
