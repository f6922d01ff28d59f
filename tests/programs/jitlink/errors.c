/* SPDX-License-Identifier: Apache-2.0
 * errors.c — what Lepton's nvJitLink refuses, and how: cubin inputs (the CPU driver runs PTX only:
 * NVJITLINK_ERROR_UNRECOGNIZED_INPUT and a log saying how to compile for it), LTO-IR without -lto
 * (NVJITLINK_ERROR_LTO_NOT_ENABLED, as the toolkit's library answers), LTO-IR the toolkit's library
 * cannot lower (its error log copied into ours), a function that link-time optimisation removed
 * although a PTX input calls it, unknown options and -O values, a missing -arch, a declared type
 * the bytes do not match, an unresolved -rdc extern function at nvJitLinkComplete, NULL, foreign
 * and destroyed handles; the error log's size (text plus NUL, 0 when empty) and its accumulation;
 * nothing of a refused input reaches the link. No CUDA driver call is made.
 * Argument: the directory holding kernel.ptx, poly.ltoir, poly.cubin; with a second argument
 * "no-toolkit" (run with CUDA_HOME naming a directory without nvJitLink) it checks only that LTO-IR
 * is then refused with a log saying where the toolkit's nvJitLink was looked for. */
#include "programs_common.h" /* EXPECT, g_failures */

#include <nvJitLink.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The error log, checked for the size contract: strlen + 1, or 0 when empty. */
static char *error_log(nvJitLinkHandle h) {
    size_t n = 12345;
    nvJitLinkResult r = nvJitLinkGetErrorLogSize(h, &n);
    EXPECT(r == NVJITLINK_SUCCESS, "GetErrorLogSize = %d", (int)r);
    char *log = calloc(1, n + 1);
    if (n) {
        r = nvJitLinkGetErrorLog(h, log);
        EXPECT(r == NVJITLINK_SUCCESS, "GetErrorLog = %d", (int)r);
        EXPECT(strlen(log) + 1 == n, "log size %zu for %zu characters", n, strlen(log));
    }
    return log;
}

static void expect_log(nvJitLinkHandle h, const char *what, const char *needle) {
    char *log = error_log(h);
    EXPECT(strstr(log, needle) != NULL, "%s: error log lacks \"%s\":\n%s", what, needle, log);
    free(log);
}

static nvJitLinkHandle create(const char *o1, const char *o2, nvJitLinkResult want, const char *needle) {
    const char *opts[2] = {o1, o2};
    nvJitLinkHandle h = NULL;
    nvJitLinkResult r = nvJitLinkCreate(&h, o2 ? 2 : 1, opts);
    EXPECT(r == want, "nvJitLinkCreate(%s %s) = %d, want %d", o1, o2 ? o2 : "", (int)r, (int)want);
    EXPECT(h != NULL, "no handle to read the log from");
    if (h && needle) expect_log(h, o2 ? o2 : o1, needle);
    return h;
}

static void destroy(nvJitLinkHandle *h) {
    nvJitLinkResult r = nvJitLinkDestroy(h);
    EXPECT(r == NVJITLINK_SUCCESS && *h == NULL, "nvJitLinkDestroy = %d", (int)r);
}

/* CUDA_HOME names no toolkit: LTO-IR cannot be lowered, and the refusal says where it looked. */
static int no_toolkit(const char *lpath, const char *kpath) {
    const char *home = getenv("CUDA_HOME");
    nvJitLinkHandle h = create("-arch=sm_90", "-lto", NVJITLINK_SUCCESS, NULL);
    nvJitLinkResult r = nvJitLinkAddFile(h, NVJITLINK_INPUT_LTOIR, lpath);
    EXPECT(r == NVJITLINK_ERROR_UNRECOGNIZED_INPUT, "LTO-IR without the toolkit's nvJitLink = %d", (int)r);
    expect_log(h, "no toolkit",
               "LTO-IR needs the CUDA toolkit's nvJitLink to lower it to PTX; none found under CUDA_HOME=");
    if (home) expect_log(h, "no toolkit", home);
    /* nothing of it was kept: the PTX alone links (and its extern poly() stays unresolved) */
    r = nvJitLinkAddFile(h, NVJITLINK_INPUT_PTX, kpath);
    EXPECT(r == NVJITLINK_SUCCESS, "kernel PTX = %d", (int)r);
    r = nvJitLinkComplete(h);
    EXPECT(r == NVJITLINK_ERROR_PTX_COMPILE, "unresolved extern = %d", (int)r);
    destroy(&h);
    puts(g_failures ? "FAILED" : "PASSED");
    return g_failures != 0;
}

int main(int argc, char **argv) {
    if (argc == 3 && strcmp(argv[2], "no-toolkit") == 0) {
        char kp[4096], lp[4096];
        snprintf(kp, sizeof kp, "%s/kernel.ptx", argv[1]);
        snprintf(lp, sizeof lp, "%s/poly.ltoir", argv[1]);
        return no_toolkit(lp, kp);
    }
    if (argc != 2) {
        fprintf(stderr, "usage: %s <dir with kernel.ptx, poly.ltoir, poly.cubin>\n", argv[0]);
        return 2;
    }
    char kpath[4096], lpath[4096], cpath[4096];
    snprintf(kpath, sizeof kpath, "%s/kernel.ptx", argv[1]);
    snprintf(lpath, sizeof lpath, "%s/poly.ltoir", argv[1]);
    snprintf(cpath, sizeof cpath, "%s/poly.cubin", argv[1]);

    /* options */
    nvJitLinkHandle h =
        create("-arch=sm_90", "-bogus", NVJITLINK_ERROR_UNRECOGNIZED_OPTION, "unrecognized option: -bogus");
    destroy(&h);
    h = create("-arch=sm_90", "-O2", NVJITLINK_ERROR_UNRECOGNIZED_OPTION, "Only 0 and 3");
    destroy(&h);
    h = create("-arch=sm_9x", NULL, NVJITLINK_ERROR_UNRECOGNIZED_OPTION, "-arch=sm_9x");
    destroy(&h);
    h = create("-O3", NULL, NVJITLINK_ERROR_MISSING_ARCH, "-arch=sm_NN is required");
    destroy(&h);
    h = create("-arch=compute_90", NULL, NVJITLINK_ERROR_INCOMPATIBLE_OPTIONS, "requires -ptx");
    destroy(&h);
    h = create("-arch=sm_90", "-maxrregcount=64", NVJITLINK_SUCCESS, NULL);
    char *log = error_log(h);
    EXPECT(log[0] == 0, "accepted options left an error log: %s", log);
    free(log);
    size_t n = 1;
    EXPECT(nvJitLinkGetInfoLogSize(h, &n) == NVJITLINK_SUCCESS && n == 0, "empty info log has size %zu", n);
    destroy(&h);

    /* inputs (without -lto, LTO-IR is refused as the toolkit's library refuses it) */
    h = create("-arch=sm_90", NULL, NVJITLINK_SUCCESS, NULL);
    nvJitLinkResult r = nvJitLinkAddFile(h, NVJITLINK_INPUT_LTOIR, lpath);
    EXPECT(r == NVJITLINK_ERROR_LTO_NOT_ENABLED, "LTO-IR input without -lto = %d", (int)r);
    expect_log(h, "LTO-IR", "LTO-IR input cannot be used without LTO enabled (-lto)");
    r = nvJitLinkAddFile(h, NVJITLINK_INPUT_ANY, lpath);
    EXPECT(r == NVJITLINK_ERROR_LTO_NOT_ENABLED, "LTO-IR as ANY without -lto = %d", (int)r);
    r = nvJitLinkAddFile(h, NVJITLINK_INPUT_CUBIN, cpath);
    EXPECT(r == NVJITLINK_ERROR_UNRECOGNIZED_INPUT, "cubin input = %d", (int)r);
    expect_log(h, "cubin", "is a cubin (SASS machine code)");
    expect_log(h, "cubin", "nvcc -ptx -rdc=true");
    r = nvJitLinkAddFile(h, NVJITLINK_INPUT_LTOIR, kpath);
    EXPECT(r == NVJITLINK_ERROR_INCORRECT_INPUT_TYPE, "PTX declared LTO-IR = %d", (int)r);
    expect_log(h, "PTX as LTO-IR", "does not match type NVJITLINK_INPUT_LTOIR");
    r = nvJitLinkAddData(h, NVJITLINK_INPUT_ANY, "not a device image", 18, "junk");
    EXPECT(r == NVJITLINK_ERROR_UNRECOGNIZED_INPUT, "junk as ANY = %d", (int)r);
    expect_log(h, "junk", "unrecognized input type: junk");
    r = nvJitLinkAddData(h, (nvJitLinkInputType)42, "x", 1, "t42");
    EXPECT(r == NVJITLINK_ERROR_INCORRECT_INPUT_TYPE, "input type 42 = %d", (int)r);
    r = nvJitLinkAddFile(h, NVJITLINK_INPUT_PTX, "/nonexistent/jitlink.ptx");
    EXPECT(r == NVJITLINK_ERROR_INVALID_INPUT, "missing file = %d", (int)r);
    expect_log(h, "missing file", "no such file: /nonexistent/jitlink.ptx");
    /* the log accumulates one line per refusal: the first is still there */
    expect_log(h, "accumulated", "without LTO enabled");
    size_t cs = 0;
    r = nvJitLinkGetLinkedCubinSize(h, &cs);
    EXPECT(r == NVJITLINK_ERROR_INTERNAL, "cubin size before nvJitLinkComplete = %d", (int)r);
    /* none of the refused inputs was added: with only the kernel, poly() is unresolved */
    r = nvJitLinkAddFile(h, NVJITLINK_INPUT_PTX, kpath);
    EXPECT(r == NVJITLINK_SUCCESS, "kernel PTX = %d", (int)r);
    r = nvJitLinkComplete(h);
    EXPECT(r == NVJITLINK_ERROR_PTX_COMPILE, "unresolved extern = %d", (int)r);
    expect_log(h, "unresolved", "poly");
    destroy(&h);

    /* with -lto, LTO-IR is lowered by the toolkit's nvJitLink: poly.ltoir holds no kernel, so
     * link-time optimisation drops poly() although kernel.ptx calls it, and the log says so */
    h = create("-arch=sm_90", "-lto", NVJITLINK_SUCCESS, NULL);
    r = nvJitLinkAddFile(h, NVJITLINK_INPUT_ANY, lpath);
    EXPECT(r == NVJITLINK_SUCCESS, "LTO-IR under -lto = %d", (int)r);
    r = nvJitLinkAddFile(h, NVJITLINK_INPUT_PTX, kpath);
    EXPECT(r == NVJITLINK_SUCCESS, "kernel PTX = %d", (int)r);
    r = nvJitLinkComplete(h);
    EXPECT(r == NVJITLINK_ERROR_PTX_COMPILE, "function only PTX calls, removed by LTO = %d", (int)r);
    expect_log(h, "removed by LTO", "a function there that only PTX inputs call is removed");
    destroy(&h);
    /* LTO-IR for sm_80 cannot be lowered for sm_75: the toolkit's refusal and log come through */
    h = create("-arch=sm_75", "-lto", NVJITLINK_SUCCESS, NULL);
    r = nvJitLinkAddFile(h, NVJITLINK_INPUT_LTOIR, lpath);
    EXPECT(r == NVJITLINK_SUCCESS, "LTO-IR under -lto = %d", (int)r);
    r = nvJitLinkComplete(h);
    EXPECT(r == NVJITLINK_ERROR_ARCH_MISMATCH, "LTO-IR for sm_80 linked for sm_75 = %d", (int)r);
    expect_log(h, "arch mismatch", "LTOIR arch newer than target arch");
    expect_log(h, "arch mismatch",
               "the CUDA toolkit's nvJitLink could not lower the 1 LTO-IR input(s) to PTX");
    destroy(&h);

    /* handles */
    EXPECT(nvJitLinkComplete(NULL) == NVJITLINK_ERROR_NULL_INPUT, "NULL handle");
    EXPECT(nvJitLinkDestroy(NULL) == NVJITLINK_ERROR_NULL_INPUT, "Destroy(NULL)");
    nvJitLinkHandle none = NULL;
    EXPECT(nvJitLinkDestroy(&none) == NVJITLINK_ERROR_NULL_INPUT, "Destroy(&NULL)");
    EXPECT(nvJitLinkCreate(NULL, 0, NULL) == NVJITLINK_ERROR_NULL_INPUT, "Create(NULL)");
    long fake[64] = {0};
    nvJitLinkHandle foreign = (nvJitLinkHandle)(void *)fake;
    EXPECT(nvJitLinkGetErrorLogSize(foreign, &n) == NVJITLINK_ERROR_INVALID_INPUT, "foreign handle");
    EXPECT(nvJitLinkDestroy(&foreign) == NVJITLINK_ERROR_INVALID_INPUT, "Destroy(foreign)");
    h = create("-arch=sm_90", NULL, NVJITLINK_SUCCESS, NULL);
    nvJitLinkHandle stale = h;
    destroy(&h);
    EXPECT(nvJitLinkComplete(stale) == NVJITLINK_ERROR_INVALID_INPUT, "destroyed handle");
    EXPECT(nvJitLinkGetErrorLogSize(stale, NULL) != NVJITLINK_SUCCESS, "NULL size");
    unsigned maj, mnr;
    EXPECT(nvJitLinkVersion(NULL, &mnr) == NVJITLINK_ERROR_NULL_INPUT, "Version(NULL)");
    EXPECT(nvJitLinkVersion(&maj, &mnr) == NVJITLINK_SUCCESS && maj == 13, "Version");

    puts(g_failures ? "FAILED" : "PASSED");
    return g_failures != 0;
}
