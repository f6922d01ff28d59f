/* launch_error.c — an error where a GPU reports it: a kernel that writes through a null pointer is
 * launched successfully (the launch is asynchronous), and the fault surfaces at the next
 * synchronisation as CUDA_ERROR_ILLEGAL_ADDRESS, sticky: the context stays unusable. argv[1]: the PTX. */
#include "programs_common.h"

int main(int argc, char **argv) {
    REQUIRE(argc >= 2, "usage: launch_error PTX");
    make_context();
    char *ptx = read_file(argv[1], NULL);
    CUmodule mod;
    CHECK(cuModuleLoadData(&mod, ptx));
    free(ptx);
    CUfunction f;
    CHECK(cuModuleGetFunction(&f, mod, "write_null"));
    CUdeviceptr null_ptr = 0;
    int v = 5;
    void *args[] = {&null_ptr, &v};
    CHECK(cuLaunchKernel(f, 1, 1, 1, 32, 1, 1, 0, NULL, args, NULL));
    CUresult r = cuCtxSynchronize();
    EXPECT(r == CUDA_ERROR_ILLEGAL_ADDRESS, "the synchronisation after the faulting kernel returned %s",
           cu_name(r));
    CUresult again = cuCtxSynchronize();
    EXPECT(again == r, "the error is sticky: the next synchronisation returned %s", cu_name(again));
    if (g_failures) return 1;
    printf("launch_error: %s at the synchronisation, sticky, PASS\n", cu_name(r));
    return 0;
}
