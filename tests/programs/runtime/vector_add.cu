/* SPDX-License-Identifier: Apache-2.0
 * vector_add.cu — the runtime API's first program: cudaMalloc, cudaMemcpy, a <<<>>> launch sized
 * from the element count, cudaGetLastError, the result checked element by element on the host.
 * Built twice (tests/programs/runtime/CMakeLists.txt): static cudart (nvcc's default) and
 * -cudart shared. */
#include "rt_common.h"

__global__ void vector_add(const float *a, const float *b, float *c, int n)
{
    int i = blockDim.x * blockIdx.x + threadIdx.x;
    if (i < n) c[i] = a[i] + b[i] * 0.5f;
}

int main(void)
{
    const int n = 50000;
    size_t bytes = n * sizeof(float);
    float *a = (float *)malloc(bytes), *b = (float *)malloc(bytes), *c = (float *)malloc(bytes);
    for (int i = 0; i < n; i++) {
        a[i] = (float)(i % 977) / 7.0f;
        b[i] = (float)((i * 31) % 1013) - 500.0f;
    }
    float *da, *db, *dc;
    RT_CHECK(cudaMalloc((void **)&da, bytes));
    RT_CHECK(cudaMalloc((void **)&db, bytes));
    RT_CHECK(cudaMalloc((void **)&dc, bytes));
    RT_CHECK(cudaMemcpy(da, a, bytes, cudaMemcpyHostToDevice));
    RT_CHECK(cudaMemcpy(db, b, bytes, cudaMemcpyHostToDevice));
    RT_CHECK(cudaMemset(dc, 0xff, bytes));
    int threads = 256, blocks = (n + threads - 1) / threads;
    vector_add<<<blocks, threads>>>(da, db, dc, n);
    RT_CHECK(cudaGetLastError());
    RT_CHECK(cudaMemcpy(c, dc, bytes, cudaMemcpyDeviceToHost));
    int bad = 0;
    for (int i = 0; i < n; i++)
        if (c[i] != a[i] + b[i] * 0.5f && bad++ < 5) fprintf(stderr, "c[%d] = %g, want %g\n", i, c[i], a[i] + b[i] * 0.5f);
    EXPECT(bad == 0, "%d of %d elements wrong", bad, n);
    RT_CHECK(cudaFree(da));
    RT_CHECK(cudaFree(db));
    RT_CHECK(cudaFree(dc));
    free(a), free(b), free(c);
    printf("vector_add: %d elements, %d blocks of %d threads\n", n, blocks, threads);
    return rt_finish("vector_add");
}
