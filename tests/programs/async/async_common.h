/* SPDX-License-Identifier: Apache-2.0
 * async_common.h — shared by the asynchronous-error programs: loading the kernels' PTX, a correct
 * kernel checked against the host (to prove a fresh context works after a fault), and capturing what
 * a call writes to stdout or stderr. The checks are programs_common.h's, fatal ones (REQUIRE). */
#ifndef ASYNC_COMMON_H
#define ASYNC_COMMON_H

#include "programs_common.h" /* CHECK, REQUIRE, REQUIRE_CU, cu_name, read_file */

#include <unistd.h>

static inline CUmodule load_module(void) {
    char *ptx = read_file(ASYNC_PTX, NULL); /* the PTX nvcc built from async_kernels.cu */
    CUmodule m;
    CHECK(cuModuleLoadData(&m, ptx));
    free(ptx);
    return m;
}

/* out = 3 * in + 1 on the current context, compared with the host: the context works. */
static inline void scale_works(CUmodule m, const char *when) {
    enum { N = 1000 };
    float in[N], out[N];
    for (int i = 0; i < N; i++)
        in[i] = (float)i * 0.5f - 100.0f;
    CUfunction f;
    CHECK(cuModuleGetFunction(&f, m, "scale"));
    CUdeviceptr din, dout;
    CHECK(cuMemAlloc(&din, sizeof in));
    CHECK(cuMemAlloc(&dout, sizeof out));
    CHECK(cuMemcpyHtoD(din, in, sizeof in));
    float a = 3.0f;
    int n = N;
    void *args[] = {&dout, &din, &a, &n};
    CHECK(cuLaunchKernel(f, (N + 127) / 128, 1, 1, 128, 1, 1, 0, NULL, args, NULL));
    CHECK(cuCtxSynchronize());
    CHECK(cuMemcpyDtoH(out, dout, sizeof out));
    for (int i = 0; i < N; i++)
        REQUIRE(out[i] == 3.0f * in[i] + 1.0f, "%s: out[%d] = %g, want %g", when, i, (double)out[i],
                (double)(3.0f * in[i] + 1.0f));
    CHECK(cuMemFree(din));
    CHECK(cuMemFree(dout));
}

/* Sends file descriptor fd (1 or 2) to a temporary file until capture_end, which returns what was
 * written there (free it). */
typedef struct capture {
    int fd, saved;
    FILE *tmp;
} capture;

static inline void capture_begin(capture *c, int fd) {
    fflush(fd == 1 ? stdout : stderr);
    c->fd = fd;
    c->tmp = tmpfile();
    REQUIRE(c->tmp != NULL, "tmpfile failed");
    c->saved = dup(fd);
    REQUIRE(c->saved >= 0 && dup2(fileno(c->tmp), fd) >= 0, "cannot redirect fd %d", fd);
}

static inline char *capture_end(capture *c) {
    fflush(c->fd == 1 ? stdout : stderr);
    dup2(c->saved, c->fd);
    close(c->saved);
    long n = ftell(c->tmp);
    char *s = malloc(n > 0 ? (size_t)n + 1 : 1);
    REQUIRE(s != NULL, "out of memory");
    rewind(c->tmp);
    size_t got = n > 0 ? fread(s, 1, (size_t)n, c->tmp) : 0;
    s[got] = 0;
    fclose(c->tmp);
    /* show what was captured, so a failing run can be read */
    fprintf(c->fd == 1 ? stdout : stderr, "%s", s);
    return s;
}

#endif
