/* SPDX-License-Identifier: Apache-2.0
 * hello_printf.cu — device printf, the first CUDA program everybody writes: kernels print a line per
 * thread from several blocks, in two launches each followed by a synchronising call
 * (cudaDeviceSynchronize, then a cudaMemcpy), and a third launch that prints nothing.
 *
 * By default the program checks itself: it points its stdout at a temporary file, and after each
 * synchronising call the file must hold exactly the lines the kernels printed so far (in any order
 * within a launch), as CUDA promises (device printf is flushed when the host synchronises). That
 * holds on a GPU, on cudaemu and through `lepton exec`, where the lines come from the worker.
 *   --print   prints the lines without checking (tests/e2e/exec compares exec's stdout)
 *   --silent  the same calls, but the kernels print nothing (for counting round trips)
 *   --assert  a kernel prints a line per block, then thread 0 of block 1 fails an assert: the
 *             synchronisation returns cudaErrorAssert, the lines are on stdout and the driver's
 *             assertion message on stderr (tests/e2e/exec checks both through exec) */
#include "rt_common.h"

#include <assert.h>
#include <string.h>
#include <unistd.h>

__global__ void hello_assert(int limit)
{
    if (threadIdx.x == 0) printf("block %d before the assert\n", blockIdx.x);
    __syncthreads();
    assert(blockIdx.x != 1 || threadIdx.x != 0 || limit < 0);
}

static int assert_mode(void)
{
    hello_assert<<<2, 2>>>(1);
    RT_CHECK(cudaGetLastError());
    cudaError_t e = cudaDeviceSynchronize();
    printf("assert: %s\n", cudaGetErrorName(e));
    EXPECT(e == cudaErrorAssert, "the synchronisation after the assert returned %s", cudaGetErrorName(e));
    return rt_finish("hello_printf --assert");
}

__global__ void hello(int launch, int print, int *count)
{
    if (print) printf("hello from block %d thread %d (launch %d)\n", blockIdx.x, threadIdx.x, launch);
    atomicAdd(count, 1);
}

static int cmp_lines(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Sorts text's lines (in place) and compares them with the sorted lines of want[n]. */
static int same_lines(char *text, char **want, int n)
{
    char *lines[64];
    int k = 0;
    for (char *save = NULL, *l = strtok_r(text, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
        if (k == 64) return 0;
        lines[k++] = l;
    }
    if (k != n) return 0;
    qsort(lines, k, sizeof *lines, cmp_lines);
    qsort(want, n, sizeof *want, cmp_lines);
    for (int i = 0; i < n; i++)
        if (strcmp(lines[i], want[i])) return 0;
    return 1;
}

int main(int argc, char **argv)
{
    if (argc > 1 && !strcmp(argv[1], "--assert")) return assert_mode();
    int print = !(argc > 1 && !strcmp(argv[1], "--silent"));
    int check = !(argc > 1 && (!strcmp(argv[1], "--print") || !strcmp(argv[1], "--silent")));
    static char want_text[64][80];
    char *want[64];
    int nwant = 0;
    int saved = -1;
    FILE *cap = NULL;
    if (check) { /* stdout becomes a file we read back */
        fflush(stdout);
        saved = dup(1);
        cap = tmpfile();
        if (saved < 0 || !cap || dup2(fileno(cap), 1) < 0) {
            fprintf(stderr, "hello_printf: cannot capture stdout\n");
            return 1;
        }
    }
    int *count;
    RT_CHECK(cudaMalloc((void **)&count, sizeof(int)));
    RT_CHECK(cudaMemset(count, 0, sizeof(int)));
    const int grids[2] = {3, 2}, blocks[2] = {4, 3};
    int host_count = 0;
    for (int launch = 1; launch <= 3; launch++) {
        int g = launch <= 2 ? grids[launch - 1] : 2, b = launch <= 2 ? blocks[launch - 1] : 2;
        int p = print && launch <= 2;
        hello<<<g, b>>>(launch, p, count);
        RT_CHECK(cudaGetLastError());
        if (launch == 2)
            RT_CHECK(cudaMemcpy(&host_count, count, sizeof(int), cudaMemcpyDeviceToHost));
        else
            RT_CHECK(cudaDeviceSynchronize());
        for (int x = 0; p && x < g; x++)
            for (int y = 0; y < b; y++) {
                snprintf(want_text[nwant], sizeof want_text[nwant], "hello from block %d thread %d (launch %d)", x,
                         y, launch);
                want[nwant] = want_text[nwant];
                nwant++;
            }
        if (!check) continue;
        /* everything printed so far is there once the synchronising call has returned */
        fflush(stdout);
        long size = lseek(1, 0, SEEK_END);
        char *text = (char *)calloc(1, size > 0 ? (size_t)size + 1 : 1);
        if (size > 0 && pread(1, text, (size_t)size, 0) != size) size = -1;
        char *copy[64];
        memcpy(copy, want, sizeof copy);
        EXPECT(size >= 0 && same_lines(text, copy, nwant), "after launch %d: %d lines expected, the output is:\n%s",
               launch, nwant, size > 0 ? text : "(nothing)");
        free(text);
    }
    RT_CHECK(cudaMemcpy(&host_count, count, sizeof(int), cudaMemcpyDeviceToHost));
    EXPECT(host_count == 12 + 6 + 4, "%d threads ran, expected 22", host_count);
    RT_CHECK(cudaFree(count));
    if (check) { /* stdout back, with what the kernels printed */
        fflush(stdout);
        dup2(saved, 1);
        close(saved);
        rewind(cap);
        char line[128];
        while (fgets(line, sizeof line, cap)) fputs(line, stdout);
        fclose(cap);
    }
    printf("hello_printf: %d lines from 2 launches%s\n", nwant, check ? ", each there after its synchronising call" : "");
    return rt_finish("hello_printf");
}
