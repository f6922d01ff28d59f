/* test_ptx.c — cudaemu's PTX loader on hostile input: every token prefix of real modules (and of
 * hand-written directives) loads or fails with a "line N:" message, never reads past its input nor
 * quotes bytes of an earlier module; out-of-range literals, immediates wider than their type,
 * unknown .target architectures and calls with missing arguments are refused naming the line. */
#include "ptx.h"
#include "ptx_lex.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "proc.h"

static uint64_t g_next_addr = 0x10000;
static int alloc_var(void *ud, ptx_var *v) {
    (void)ud;
    v->addr = g_next_addr;
    g_next_addr += (v->size + 255) & ~255ull;
    return 0;
}

/* Loads exactly len bytes from a buffer of exactly that size (no NUL after it: a read past the end
 * shows under ASan). Returns the rc; log receives the message. */
static int load(const char *text, size_t len, char *log, size_t logsz) {
    char *exact = malloc(len ? len : 1);
    if (!exact) abort();
    memcpy(exact, text, len);
    ptx_module *m = NULL;
    int rc = ptx_load(exact, len, alloc_var, NULL, log, logsz, &m);
    ptx_free(m);
    free(exact);
    return rc;
}

/* A failed load names a line and quotes nothing of `forbidden` (an earlier module's marker). */
static void check_failure_text(const char *what, size_t cut, const char *log, const char *forbidden) {
    CHECKF(strncmp(log, "ptxas (cudaemu): ", 17) == 0, "%s cut at %zu: log '%s'", what, cut, log);
    CHECKF(strstr(log, "line ") != NULL, "%s cut at %zu: no line in '%s'", what, cut, log);
    if (forbidden)
        CHECKF(strstr(log, forbidden) == NULL, "%s cut at %zu: stale bytes in '%s'", what, cut, log);
}

/* Every prefix of text that ends at a token boundary (and one byte into each token). */
static void truncations(const char *what, const char *text, size_t len, const char *forbidden) {
    ptx_tok *t = NULL;
    char err[256];
    int n = ptx_lex(text, len, &t, err, sizeof err);
    CHECKF(n > 0, "%s does not lex: %s", what, err);
    if (n <= 0) return;
    int loaded = 0, failed = 0;
    for (int k = 0; k < n; k++) {
        if (t[k].kind == TK_EOF) break;
        size_t begin = (size_t)(t[k].s - text), end = begin + t[k].len;
        size_t cuts[2] = {end, begin + 1};
        for (int c = 0; c < (t[k].len > 1 ? 2 : 1); c++) {
            char log[1024] = "";
            /* a big earlier upload whose bytes must never show up in this one's message */
            if (forbidden && k % 50 == 0) {
                char big[4096];
                int bl = snprintf(big, sizeof big,
                                  ".version 8.0\n.target sm_80\n.address_size 64\n"
                                  ".visible .entry %s() { %s %s %s }\n",
                                  forbidden, forbidden, forbidden, forbidden);
                char l2[256];
                load(big, (size_t)bl, l2, sizeof l2);
            }
            if (load(text, cuts[c], log, sizeof log) == 0) {
                loaded++;
            } else {
                failed++;
                check_failure_text(what, cuts[c], log, forbidden);
            }
        }
    }
    free(t);
    printf("%s: %d token prefixes loaded, %d failed cleanly\n", what, loaded, failed);
}

static const char *HDR = ".version 8.0\n.target sm_80\n.address_size 64\n";

/* Directives and statements cut at every byte: each must fail (or load) cleanly. */
static void directive_cuts(void) {
    static const char *tails[] = {
        ".section .debug_info { .b8 1, 2, 3 }\n",
        ".section",
        ".pragma \"nounroll\";\n",
        ".visible .entry k(.param .u64 p) .maxntid 128, 1, 1 .minnctapersm 2 { ret; }\n",
        ".func (.param .b32 r) f(.param .b32 a) { .reg .b32 %r<2>; ld.param.b32 %r1, [a]; "
        "st.param.b32 [r], %r1; ret; }\n",
        ".global .align 4 .b32 g[4] = {1, 2, 3, 4};\n",
        ".extern .shared .align 16 .b8 dyn[];\n",
        ".visible .entry k() { .reg .pred %p<2>; .reg .b32 %r<3>; L1: @!%p1 bra L1; "
        "{ .reg .b32 t; mov.b32 t, 1; } mov.u32 %r1, %tid.x; ret; }\n",
        ".visible .entry k() { .local .align 8 .b8 d[16]; .reg .b64 %rd<2>; mov.u64 %rd1, d; "
        "prot: .callprototype (.param .b32 _) _ (.param .b32 _); ret; }\n",
        ".file 1 \"x.cu\"\n.loc 1 2 3\n",
    };
    for (size_t i = 0; i < sizeof tails / sizeof tails[0]; i++) {
        char buf[1024];
        int n = snprintf(buf, sizeof buf, "%s%s", HDR, tails[i]);
        for (size_t cut = strlen(HDR); cut <= (size_t)n; cut++) {
            char log[1024] = "";
            if (load(buf, cut, log, sizeof log) != 0) check_failure_text(tails[i], cut, log, NULL);
        }
    }
    /* the case from the issue: a module that ends in a bare .section */
    char buf[256], log[512] = "";
    int n = snprintf(buf, sizeof buf, "%s.section", HDR);
    CHECKF(load(buf, (size_t)n, log, sizeof log) != 0, "bare .section loads");
    CHECKF(strstr(log, "end of input") || strstr(log, "line"), "bare .section: '%s'", log);
}

/* src must fail with a message containing want. */
static void refuse(const char *body, const char *want) {
    char buf[2048], log[1024] = "";
    int n = snprintf(buf, sizeof buf, "%s", body);
    int rc = load(buf, (size_t)n, log, sizeof log);
    CHECKF(rc != 0, "loads: %s", body);
    CHECKF(strstr(log, want) != NULL, "'%s' does not contain '%s'", log, want);
}

static void accept(const char *body) {
    char log[1024] = "";
    int rc = load(body, strlen(body), log, sizeof log);
    CHECKF(rc == 0, "refused (%s): %s", log, body);
}

#define K(body)                                                                                              \
    ".version 8.0\n.target sm_80\n.address_size 64\n.visible .entry k(.param .u64 p)\n{\n"                   \
    ".reg .b16 %rs<4>;\n.reg .b32 %r<4>;\n.reg .b64 %rd<4>;\n.reg .f32 %f<4>;\n" body "\nret;\n}\n"

static void literals(void) {
    /* line 10 is the first line of body */
    refuse(K("mov.u8 %rs1, 300;"), "line 10: immediate 300 does not fit .u8");
    refuse(K("add.s16 %rs1, %rs2, 70000;"), "line 10: immediate 70000 does not fit .s16");
    refuse(K("add.u32 %r1, %r2, 4294967296;"), "line 10: immediate 4294967296 does not fit .u32");
    refuse(K("add.s32 %r1, %r2, -2147483649;"), "line 10: immediate -2147483649 does not fit .s32");
    accept(K("add.u32 %r1, %r2, -1;\nadd.s32 %r1, %r2, -2147483648;\nmov.b16 %rs1, 0xffff;\n"
             "mov.u8 %rs1, 255;\nadd.u64 %rd1, %rd2, 18446744073709551615;"));
    /* floats where an integer is needed: NaN/huge/fractional are refused, not converted (UB) */
    refuse(K("add.s32 %r1, %r2, 1e300;"), "line 10: immediate 1e+300 does not fit .s32");
    refuse(K("add.u64 %rd1, %rd2, 1.0e30;"), "does not fit .u64");
    refuse(K("add.s32 %r1, %r2, 2.5;"), "line 10: immediate 2.5 does not fit .s32");
    accept(K("add.s32 %r1, %r2, 2.0;\nadd.f32 %f1, %f2, 1e300;\nadd.f32 %f1, %f2, 0f7FC00000;\n"
             "mov.b32 %r1, 0fFFFFFFFF;\nadd.f32 %f1, %f2, -1e39;"));
    /* integers over 64 bits, bad octal, malformed hex floats */
    refuse(K("add.u64 %rd1, %rd2, 18446744073709551616;"),
           "line 10: integer literal '18446744073709551616' does not fit in 64 bits");
    refuse(K("add.u64 %rd1, %rd2, 99999999999999999999999999;"), "does not fit in 64 bits");
    refuse(K("add.u32 %r1, %r2, 0777777777777777777777777;"), "does not fit in 64 bits");
    refuse(K("add.u32 %r1, %r2, 0x1ffffffffffffffff;"), "line 10: malformed hex literal");
    refuse(K("add.f32 %f1, %f2, 0f3f80;"), "line 10: malformed float literal");
    refuse(K("add.f64 %f1, %f2, 0d3ff00000000000000;"), "line 10: malformed float literal");
    /* fma has no integer form; the packed-integer and bit-mask forms of PTX 7.6/8.0 load */
    refuse(K("fma.rn.s32 %r1, %r2, %r3, %r2;"), "line 10: 'fma.rn.s32' needs a floating-point type");
    accept(K("fma.rn.f32 %f1, %f2, %f3, %f2;\nmin.s16x2 %r1, %r2, %r3;\nmax.relu.s16x2 %r1, %r2, %r3;\n"
             "min.u16x2 %r1, %r2, %r3;\nbmsk.clamp.b32 %r1, %r2, %r3;\nbmsk.wrap.b32 %r1, 1, 2;"));
    refuse(K("min.relu.u16x2 %r1, %r2, %r3;"), "line 10: 'min.relu.u16x2': .relu needs .s16x2");
    refuse(K("bmsk.b32 %r1, %r2, %r3;"), "line 10: bmsk needs .clamp or .wrap");
    refuse(".version 1e300\n.target sm_80\n.address_size 64\n", "line 1: bad .version");
    refuse(".version 99999999999\n.target sm_80\n.address_size 64\n", "line 1: bad .version");
}

static void targets(void) {
    refuse(".version 8.0\n.target sm_9999\n.address_size 64\n", "line 2: unknown .target 'sm_9999'");
    refuse(".version 8.0\n.target garbage\n.address_size 64\n", "line 2: unknown .target 'garbage'");
    refuse(".version 8.0\n.target sm_80, bogus\n.address_size 64\n", "line 2: unknown .target 'bogus'");
    refuse(".version 8.0\n.target sm_\n.address_size 64\n", "unknown .target 'sm_'");
    refuse(".version 8.0\n.target sm_8x\n.address_size 64\n", "unknown .target 'sm_8x'");
    refuse(".version 8.0\n.target\n.address_size 64\n", "line 2: .target names no target");
    accept(".version 8.0\n.target sm_90a\n.address_size 64\n");
    accept(".version 8.0\n.target sm_75, texmode_independent, debug\n.address_size 64\n");
    accept(".version 8.0\n.target sm_100f\n.address_size 64\n");
}

static void calls(void) {
    static const char *F = ".version 8.0\n.target sm_80\n.address_size 64\n"
                           ".func (.param .b32 r) f(.param .b32 a, .param .b32 b)\n{\nret;\n}\n"
                           ".func g()\n{\nret;\n}\n"
                           ".visible .entry k()\n{\n.param .b32 x;\n.param .b32 y;\n.param .b32 z;\n";
    char buf[2048];
    snprintf(buf, sizeof buf, "%scall (z), f, (x);\nret;\n}\n", F);
    refuse(buf, "line 17: call to 'f' passes 1 argument; it takes 2");
    snprintf(buf, sizeof buf, "%scall (z), f;\nret;\n}\n", F);
    refuse(buf, "line 17: call to 'f' passes 0 arguments; it takes 2");
    snprintf(buf, sizeof buf, "%scall (z), f, (x, y, z);\nret;\n}\n", F);
    refuse(buf, "line 17: call to 'f' passes 3 arguments; it takes 2");
    snprintf(buf, sizeof buf, "%scall (z), g;\nret;\n}\n", F);
    refuse(buf, "line 17: call to 'g' expects a return value");
    snprintf(buf, sizeof buf, "%scall (z), f, (x, y);\ncall g;\ncall g, ();\nret;\n}\n", F);
    accept(buf);
}

int main(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        size_t len;
        char *text = tc_read_file(argv[i], &len);
        if (!text) {
            fprintf(stderr, "cannot read %s\n", argv[i]);
            return 1;
        }
        char log[1024] = "";
        CHECKF(load(text, len, log, sizeof log) == 0, "%s does not load: %s", argv[i], log);
        truncations(argv[i], text, len, i == 1 ? "STALE_MARKER_XYZZY" : NULL);
        free(text);
    }
    directive_cuts();
    literals();
    targets();
    calls();
    return check_done("unit.cudaemu.ptx");
}
