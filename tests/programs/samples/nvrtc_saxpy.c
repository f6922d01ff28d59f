/* nvrtc_saxpy.c — NVRTC's saxpy sample shape: CUDA C++ compiled at run time for the device's own
 * compute capability (a templated kernel named through a name expression, its lowered name looked
 * up), the PTX loaded with cuModuleLoadDataEx, a launch with a packed argument array, a host check. */
#include "programs_common.h"

#include <nvrtc.h>

static const char *source =
    "template <typename T> __global__ void saxpy(T a, const T *x, const T *y, T *out, size_t n)\n"
    "{\n"
    "    size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x;\n"
    "    if (i < n) out[i] = a * x[i] + y[i];\n"
    "}\n";

int main(void) {
    CUdevice dev;
    make_context_dev(&dev);
    int major = 0, minor = 0;
    CHECK(cuDeviceGetAttribute(&major, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, dev));
    CHECK(cuDeviceGetAttribute(&minor, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, dev));
    nvrtcProgram prog;
    NVRTC_CHECK(nvrtcCreateProgram(&prog, source, "saxpy.cu", 0, NULL, NULL));
    NVRTC_CHECK(nvrtcAddNameExpression(prog, "saxpy<float>"));
    char arch[64];
    snprintf(arch, sizeof arch, "--gpu-architecture=compute_%d%d", major, minor);
    const char *opts[] = {arch, "--fmad=false"};
    nvrtcResult cr = nvrtcCompileProgram(prog, 2, opts);
    if (cr != NVRTC_SUCCESS) {
        size_t n;
        nvrtcGetProgramLogSize(prog, &n);
        char *log = malloc(n + 1);
        nvrtcGetProgramLog(prog, log);
        fprintf(stderr, "nvrtcCompileProgram (%s): %s\n%s\n", arch, nvrtcGetErrorString(cr), log);
        return 1;
    }
    const char *lowered = NULL;
    NVRTC_CHECK(nvrtcGetLoweredName(prog, "saxpy<float>", &lowered));
    char name[256];
    snprintf(name, sizeof name, "%s", lowered);
    size_t ptx_size;
    NVRTC_CHECK(nvrtcGetPTXSize(prog, &ptx_size));
    char *ptx = malloc(ptx_size);
    NVRTC_CHECK(nvrtcGetPTX(prog, ptx));
    NVRTC_CHECK(nvrtcDestroyProgram(&prog));

    CUmodule mod;
    CUjit_option jo[] = {CU_JIT_OPTIMIZATION_LEVEL};
    void *jv[] = {(void *)(size_t)3};
    CHECK(cuModuleLoadDataEx(&mod, ptx, 1, jo, jv));
    free(ptx);
    CUfunction f;
    CHECK(cuModuleGetFunction(&f, mod, name));

    size_t n = 100000, bytes = n * sizeof(float);
    float a = 2.5f, *x = malloc(bytes), *y = malloc(bytes), *out = malloc(bytes);
    for (size_t i = 0; i < n; i++) {
        x[i] = (float)(i % 101) * 0.5f;
        y[i] = (float)(i % 37) - 18.0f;
    }
    CUdeviceptr dx, dy, dout;
    CHECK(cuMemAlloc(&dx, bytes));
    CHECK(cuMemAlloc(&dy, bytes));
    CHECK(cuMemAlloc(&dout, bytes));
    CHECK(cuMemcpyHtoD(dx, x, bytes));
    CHECK(cuMemcpyHtoD(dy, y, bytes));
    void *args[] = {&a, &dx, &dy, &dout, &n};
    CHECK(cuLaunchKernel(f, (unsigned)((n + 127) / 128), 1, 1, 128, 1, 1, 0, NULL, args, NULL));
    CHECK(cuCtxSynchronize());
    CHECK(cuMemcpyDtoH(out, dout, bytes));
    int bad = 0;
    for (size_t i = 0; i < n; i++)
        if (out[i] != a * x[i] + y[i] && bad++ < 5)
            fprintf(stderr, "out[%zu] = %g, want %g\n", i, out[i], a * x[i] + y[i]);
    EXPECT(bad == 0, "%d wrong elements", bad);
    CHECK(cuMemFree(dx));
    CHECK(cuMemFree(dy));
    CHECK(cuMemFree(dout));
    CHECK(cuModuleUnload(mod));
    free(x);
    free(y);
    free(out);
    if (g_failures) return 1;
    printf("nvrtc_saxpy: %s (%s), %zu elements, PASS\n", name, arch, n);
    return 0;
}
