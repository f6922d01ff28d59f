/* SPDX-License-Identifier: Apache-2.0
 * async_common.h — shared by the asynchronous-error programs: error checks in the style of the
 * driver-API samples, loading the kernels' PTX, a correct kernel checked against the host (to prove
 * a fresh context works after a fault), and capturing what a call writes to stdout or stderr. */
#ifndef ASYNC_COMMON_H
#define ASYNC_COMMON_H

#include <cuda.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static inline const char *err_name(CUresult r)
{
    const char *s = NULL;
    if (cuGetErrorName(r, &s) != CUDA_SUCCESS || !s) return "(unknown CUresult)";
    return s;
}

/* A call that must succeed. */
#define CHECK_CU(call)                                                                                 \
    do {                                                                                               \
        CUresult r_ = (call);                                                                          \
        if (r_ != CUDA_SUCCESS) {                                                                      \
            fprintf(stderr, "FAIL %s:%d: %s returned %s (%d)\n", __FILE__, __LINE__, #call,           \
                    err_name(r_), (int)r_);                                                            \
            exit(1);                                                                                   \
        }                                                                                              \
    } while (0)

/* A call that must return exactly `want`. */
#define EXPECT_CU(call, want)                                                                          \
    do {                                                                                               \
        CUresult r_ = (call), w_ = (want);                                                             \
        if (r_ != w_) {                                                                                \
            fprintf(stderr, "FAIL %s:%d: %s returned %s (%d), want %s\n", __FILE__, __LINE__, #call,  \
                    err_name(r_), (int)r_, err_name(w_));                                              \
            exit(1);                                                                                   \
        }                                                                                              \
    } while (0)

#define EXPECT(cond, ...)                                                                              \
    do {                                                                                               \
        if (!(cond)) {                                                                                 \
            fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);                                       \
            fprintf(stderr, __VA_ARGS__);                                                              \
            fputc('\n', stderr);                                                                       \
            exit(1);                                                                                   \
        }                                                                                              \
    } while (0)

/* The PTX nvcc built from async_kernels.cu, NUL-terminated (free it). */
static inline char *read_ptx(void)
{
    FILE *f = fopen(ASYNC_PTX, "rb");
    EXPECT(f != NULL, "cannot open %s", ASYNC_PTX);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = malloc((size_t)n + 1);
    EXPECT(s && fread(s, 1, (size_t)n, f) == (size_t)n, "cannot read %s", ASYNC_PTX);
    s[n] = 0;
    fclose(f);
    return s;
}

static inline CUmodule load_module(void)
{
    char *ptx = read_ptx();
    CUmodule m;
    CHECK_CU(cuModuleLoadData(&m, ptx));
    free(ptx);
    return m;
}

/* out = 3 * in + 1 on the current context, compared with the host: the context works. */
static inline void scale_works(CUmodule m, const char *when)
{
    enum { N = 1000 };
    float in[N], out[N];
    for (int i = 0; i < N; i++) in[i] = (float)i * 0.5f - 100.0f;
    CUfunction f;
    CHECK_CU(cuModuleGetFunction(&f, m, "scale"));
    CUdeviceptr din, dout;
    CHECK_CU(cuMemAlloc(&din, sizeof in));
    CHECK_CU(cuMemAlloc(&dout, sizeof out));
    CHECK_CU(cuMemcpyHtoD(din, in, sizeof in));
    float a = 3.0f;
    int n = N;
    void *args[] = {&dout, &din, &a, &n};
    CHECK_CU(cuLaunchKernel(f, (N + 127) / 128, 1, 1, 128, 1, 1, 0, NULL, args, NULL));
    CHECK_CU(cuCtxSynchronize());
    CHECK_CU(cuMemcpyDtoH(out, dout, sizeof out));
    for (int i = 0; i < N; i++)
        EXPECT(out[i] == 3.0f * in[i] + 1.0f, "%s: out[%d] = %g, want %g", when, i, (double)out[i],
               (double)(3.0f * in[i] + 1.0f));
    CHECK_CU(cuMemFree(din));
    CHECK_CU(cuMemFree(dout));
}

/* Sends file descriptor fd (1 or 2) to a temporary file until capture_end, which returns what was
 * written there (free it). */
typedef struct capture {
    int fd, saved;
    FILE *tmp;
} capture;

static inline void capture_begin(capture *c, int fd)
{
    fflush(fd == 1 ? stdout : stderr);
    c->fd = fd;
    c->tmp = tmpfile();
    EXPECT(c->tmp != NULL, "tmpfile failed");
    c->saved = dup(fd);
    EXPECT(c->saved >= 0 && dup2(fileno(c->tmp), fd) >= 0, "cannot redirect fd %d", fd);
}

static inline char *capture_end(capture *c)
{
    fflush(c->fd == 1 ? stdout : stderr);
    dup2(c->saved, c->fd);
    close(c->saved);
    long n = ftell(c->tmp);
    char *s = malloc(n > 0 ? (size_t)n + 1 : 1);
    EXPECT(s != NULL, "out of memory");
    rewind(c->tmp);
    size_t got = n > 0 ? fread(s, 1, (size_t)n, c->tmp) : 0;
    s[got] = 0;
    fclose(c->tmp);
    /* show what was captured, so a failing run can be read */
    fprintf(c->fd == 1 ? stdout : stderr, "%s", s);
    return s;
}

#endif
