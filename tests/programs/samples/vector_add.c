/* vector_add.c — vectorAddDrv's shape: a fatbin from a file (sm_90 machine code + compute_75 PTX: the
 * driver picks what runs), cuMemAlloc, blocking copies, cuLaunchKernel with a packed argument array,
 * and a host check of every element. argv[1]: the fatbin; argv[2] (optional): the element count. */
#include "programs_common.h"

int main(int argc, char **argv) {
    REQUIRE(argc >= 2, "usage: vector_add FATBIN [N]");
    int n = argc > 2 ? atoi(argv[2]) : 50000;
    REQUIRE(n > 0);
    make_context();
    size_t len;
    char *image = read_file(argv[1], &len);
    CUmodule mod;
    CHECK(cuModuleLoadData(&mod, image));
    free(image); /* the driver keeps what it needs */
    CUfunction f;
    CHECK(cuModuleGetFunction(&f, mod, "vec_add"));

    size_t bytes = sizeof(float) * (size_t)n;
    float *a = malloc(bytes), *b = malloc(bytes), *c = malloc(bytes);
    REQUIRE(a && b && c);
    for (int i = 0; i < n; i++) {
        a[i] = (float)(i % 1000) * 0.5f;
        b[i] = (float)((i * 7) % 333) - 100.0f;
        c[i] = -1.0f;
    }
    CUdeviceptr da, db, dc;
    CHECK(cuMemAlloc(&da, bytes));
    CHECK(cuMemAlloc(&db, bytes));
    CHECK(cuMemAlloc(&dc, bytes));
    CHECK(cuMemcpyHtoD(da, a, bytes));
    CHECK(cuMemcpyHtoD(db, b, bytes));
    int threads = 256, blocks = (n + threads - 1) / threads;
    void *args[] = {&da, &db, &dc, &n};
    CHECK(cuLaunchKernel(f, (unsigned)blocks, 1, 1, (unsigned)threads, 1, 1, 0, NULL, args, NULL));
    CHECK(cuMemcpyDtoH(c, dc, bytes));
    int bad = 0;
    for (int i = 0; i < n; i++)
        if (c[i] != a[i] + b[i] && bad++ < 5) fprintf(stderr, "c[%d] = %g, want %g\n", i, c[i], a[i] + b[i]);
    EXPECT(bad == 0, "%d wrong elements of %d", bad, n);
    CHECK(cuMemFree(da));
    CHECK(cuMemFree(db));
    CHECK(cuMemFree(dc));
    CHECK(cuModuleUnload(mod));
    free(a);
    free(b);
    free(c);
    if (g_failures) return 1;
    printf("vector_add: %d elements, PASS\n", n);
    return 0;
}
