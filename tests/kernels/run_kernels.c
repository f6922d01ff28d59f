/* SPDX-License-Identifier: Apache-2.0
 * Runs the kernel corpus through the CUDA driver API: for each case x arch it loads
 * <ptx-dir>/<case>.<arch>.ptx, runs the case's checker (inputs, launch, host reference) and prints
 * one line: "PASS <case> <arch> ..." or "FAIL <case> <arch>: <why>". Exits non-zero if any case fails.
 *
 *   lepton_run_kernels [--ptx-dir DIR] [--arch sm_XX]... [--gpu] [--list] [--no-fork] [CASE...]
 *
 * With no CASE every case runs. With more than one case x arch each runs in a child process forked
 * before any CUDA call, so a sticky error or a crash in one case cannot hide the others.
 * --gpu: real-GPU mode: emulator-only cases (the watchdog) are skipped, and an arch newer than the
 * device's compute capability is skipped. The default archs are sm_75 and sm_90. */
#include "kcheck.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef LEPTON_KERNELS_PTX_DIR
#define LEPTON_KERNELS_PTX_DIR "ptx"
#endif

enum { CASE_EMU_ONLY = 1 };

typedef struct kcase {
    const char *name;
    int (*check)(kc *k);
    unsigned flags;
} kcase;

static const kcase cases[] = {
    {"vector_add", check_vector_add, 0},
    {"saxpy", check_saxpy, 0},
    {"matmul_tiled", check_matmul_tiled, 0},
    {"block_reduce", check_block_reduce, 0},
    {"warp_reduce", check_warp_reduce, 0},
    {"histogram", check_histogram, 0},
    {"prefix_scan", check_prefix_scan, 0},
    {"divergence", check_divergence, 0},
    {"device_funcs", check_device_funcs, 0},
    {"int_ops", check_int_ops, 0},
    {"float_math", check_float_math, 0},
    {"conversions", check_conversions, 0},
    {"atomics", check_atomics, 0},
    {"vote", check_vote, 0},
    {"shuffles", check_shuffles, 0},
    {"warp_divergent_sync", check_warp_divergent_sync, 0},
    {"dynamic_smem", check_dynamic_smem, 0},
    {"const_mem", check_const_mem, 0},
    {"device_global", check_device_global, 0},
    {"local_array", check_local_array, 0},
    {"vector_loads", check_vector_loads, 0},
    {"grid3d", check_grid3d, 0},
    {"grid_stride", check_grid_stride, 0},
    {"param_struct", check_param_struct, 0},
    {"rounding_modes", check_rounding_modes, 0},
    {"float_special", check_float_special, 0},
    {"wide_int", check_wide_int, 0},
    {"block_sync", check_block_sync, 0},
    {"indirect_calls", check_indirect_calls, 0},
    {"half_precision", check_half_precision, 0},
    {"tensor_core", check_tensor_core, 0},
    {"memory_spaces", check_memory_spaces, 0},
    {"float_library", check_float_library, 0},
    {"int_misc", check_int_misc, 0},
    {"oob_write", check_oob_write, 0},
    {"bitonic_sort", check_bitonic_sort, 0},
    {"grid_stop", check_grid_stop, CASE_EMU_ONLY},
    {"grid_spin", check_grid_spin, CASE_EMU_ONLY},
    {"watchdog_spin", check_watchdog_spin, CASE_EMU_ONLY},
};
#define NCASES (sizeof cases / sizeof cases[0])

typedef struct opts {
    const char *ptx_dir;
    const char *archs[8];
    int narchs;
    int gpu;
    int fork_each;
} opts;

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static char *read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (f == NULL) return NULL;
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    while (buf != NULL) {
        size_t got = fread(buf + n, 1, cap - n - 1, f);
        n += got;
        if (n < cap - 1) break;
        char *nb = realloc(buf, cap * 2);
        if (nb == NULL) {
            free(buf);
            buf = NULL;
            break;
        }
        buf = nb;
        cap *= 2;
    }
    int err = ferror(f);
    fclose(f);
    if (buf == NULL || err) {
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    *len = n;
    return buf;
}

static uint64_t seed_of(const char *name, const char *arch) {
    /* FNV-1a of the case name only: both archs see the same inputs. */
    (void)arch;
    uint64_t h = 0xcbf29ce484222325ull;
    for (const char *p = name; *p; ++p)
        h = (h ^ (unsigned char)*p) * 0x100000001b3ull;
    return h;
}

/* Loads the PTX with the JIT logs attached; prints the error log on failure. */
static int load_module(kc *k, const char *ptx) {
    char info[4096] = "", err[8192] = "";
    CUjit_option o[5] = {CU_JIT_INFO_LOG_BUFFER, CU_JIT_INFO_LOG_BUFFER_SIZE_BYTES, CU_JIT_ERROR_LOG_BUFFER,
                         CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES, CU_JIT_LOG_VERBOSE};
    void *v[5] = {info, (void *)(uintptr_t)sizeof info, err, (void *)(uintptr_t)sizeof err,
                  (void *)(uintptr_t)0};
    CUresult r = cuModuleLoadDataEx(&k->mod, ptx, 5, o, v);
    if (r != CUDA_SUCCESS) {
        err[sizeof err - 1] = '\0';
        fprintf(stderr, "JIT error log for %s.%s:\n%s\n", k->name, k->arch, err);
        return kc_fail(k, "cuModuleLoadDataEx returned %s (%d); JIT log: %.300s", kc_errname(r), (int)r, err);
    }
    return KC_PASS;
}

static int arch_number(const char *arch) { return (strncmp(arch, "sm_", 3) == 0) ? atoi(arch + 3) : 0; }

/* Runs one case in this process; prints its line and returns KC_PASS/KC_FAIL/KC_SKIP. */
static int run_case(const opts *o, const kcase *c, const char *arch) {
    kc k;
    memset(&k, 0, sizeof k);
    k.name = c->name;
    k.arch = arch;
    k.gpu = o->gpu;
    k.rng = seed_of(c->name, arch);
    const char *skip = NULL;
    int rc = KC_FAIL;
    double t0 = now_ms();
    char path[4096];
    size_t len = 0;
    char *ptx = NULL;
    CUcontext ctx = NULL;

    if (o->gpu && (c->flags & CASE_EMU_ONLY)) {
        skip = "emulator-only case";
        rc = KC_SKIP;
        goto out;
    }
    snprintf(path, sizeof path, "%s/%s.%s.ptx", o->ptx_dir, c->name, arch);
    ptx = read_file(path, &len);
    if (ptx == NULL) {
        rc = kc_fail(&k, "cannot read %s: %s", path, strerror(errno));
        goto out;
    }
    CUresult r = cuInit(0);
    if (r == CUDA_SUCCESS) r = cuDeviceGet(&k.dev, 0);
    if (r != CUDA_SUCCESS) {
        rc = kc_fail(&k, "cuInit/cuDeviceGet: %s (%d)", kc_errname(r), (int)r);
        goto out;
    }
    if (o->gpu) {
        int maj = 0, min = 0;
        cuDeviceGetAttribute(&maj, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, k.dev);
        cuDeviceGetAttribute(&min, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, k.dev);
        if (arch_number(arch) > maj * 10 + min) {
            skip = "arch newer than the device";
            rc = KC_SKIP;
            goto out;
        }
    }
    r = cuDevicePrimaryCtxRetain(&ctx, k.dev);
    if (r == CUDA_SUCCESS) r = cuCtxSetCurrent(ctx);
    if (r != CUDA_SUCCESS) {
        rc = kc_fail(&k, "primary context: %s (%d)", kc_errname(r), (int)r);
        goto out;
    }
    rc = load_module(&k, ptx);
    if (rc == KC_PASS) rc = c->check(&k);
out:
    kc_release(&k);
    if (k.mod != NULL) (void)cuModuleUnload(k.mod);
    if (ctx != NULL) {
        (void)cuCtxSetCurrent(NULL);
        (void)cuDevicePrimaryCtxRelease(k.dev);
    }
    free(ptx);
    double ms = now_ms() - t0;
    if (rc == KC_PASS)
        printf("PASS %s %s (%.1f ms)\n", c->name, arch, ms);
    else if (rc == KC_SKIP)
        printf("SKIP %s %s (%s)\n", c->name, arch, skip ? skip : k.why);
    else
        printf("FAIL %s %s: %s\n", c->name, arch, k.why);
    fflush(stdout);
    return rc;
}

static int run_forked(const opts *o, const kcase *c, const char *arch) {
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) {
        printf("FAIL %s %s: fork: %s\n", c->name, arch, strerror(errno));
        return KC_FAIL;
    }
    if (pid == 0) _exit(run_case(o, c, arch));
    int st = 0;
    while (waitpid(pid, &st, 0) < 0) {
        if (errno != EINTR) {
            printf("FAIL %s %s: waitpid: %s\n", c->name, arch, strerror(errno));
            return KC_FAIL;
        }
    }
    if (WIFEXITED(st) && WEXITSTATUS(st) <= KC_SKIP) return WEXITSTATUS(st);
    if (WIFSIGNALED(st))
        printf("FAIL %s %s: crashed with signal %d\n", c->name, arch, WTERMSIG(st));
    else
        printf("FAIL %s %s: exited with status %d\n", c->name, arch, WEXITSTATUS(st));
    return KC_FAIL;
}

static void usage(FILE *f) {
    fprintf(f, "usage: lepton_run_kernels [--ptx-dir DIR] [--arch sm_XX]... [--gpu] [--list] [--no-fork] "
               "[CASE...]\n");
}

int main(int argc, char **argv) {
    opts o = {LEPTON_KERNELS_PTX_DIR, {NULL}, 0, 0, 1};
    const kcase *sel[NCASES];
    size_t nsel = 0;
    int list = 0;

    for (int i = 1; i < argc; ++i) {
        const char *a = argv[i];
        if (strcmp(a, "--ptx-dir") == 0 && i + 1 < argc) {
            o.ptx_dir = argv[++i];
        } else if (strcmp(a, "--arch") == 0 && i + 1 < argc) {
            if (o.narchs == (int)(sizeof o.archs / sizeof o.archs[0])) {
                fprintf(stderr, "too many --arch\n");
                return 2;
            }
            o.archs[o.narchs++] = argv[++i];
        } else if (strcmp(a, "--gpu") == 0) {
            o.gpu = 1;
        } else if (strcmp(a, "--list") == 0) {
            list = 1;
        } else if (strcmp(a, "--no-fork") == 0) {
            o.fork_each = 0;
        } else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return 0;
        } else if (a[0] == '-') {
            usage(stderr);
            return 2;
        } else {
            size_t j = 0;
            while (j < NCASES && strcmp(cases[j].name, a) != 0)
                ++j;
            if (j == NCASES) {
                fprintf(stderr, "unknown case '%s' (see --list)\n", a);
                return 2;
            }
            if (nsel < NCASES) sel[nsel++] = &cases[j];
        }
    }
    if (list) {
        for (size_t j = 0; j < NCASES; ++j)
            printf("%s%s\n", cases[j].name, (cases[j].flags & CASE_EMU_ONLY) ? " (emulator-only)" : "");
        return 0;
    }
    if (nsel == 0)
        for (size_t j = 0; j < NCASES; ++j)
            sel[nsel++] = &cases[j];
    if (o.narchs == 0) {
        o.archs[0] = "sm_75";
        o.archs[1] = "sm_90";
        o.narchs = 2;
    }
    /* The watchdog case needs a short limit; a value already in the environment wins. */
    if (!o.gpu) setenv("CUDAEMU_WATCHDOG_MS", "300", 0);

    int runs = (int)nsel * o.narchs, npass = 0, nfail = 0, nskip = 0;
    for (size_t j = 0; j < nsel; ++j) {
        for (int a = 0; a < o.narchs; ++a) {
            int rc = (o.fork_each && runs > 1) ? run_forked(&o, sel[j], o.archs[a])
                                               : run_case(&o, sel[j], o.archs[a]);
            if (rc == KC_PASS)
                ++npass;
            else if (rc == KC_SKIP)
                ++nskip;
            else
                ++nfail;
        }
    }
    if (runs > 1) printf("%d passed, %d failed, %d skipped\n", npass, nfail, nskip);
    return nfail ? 1 : 0;
}
