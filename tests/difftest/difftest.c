/* difftest.c — differential tester for cudaemu: generates random PTX kernels (gen.c, emit.c), runs
 * them through the CUDA driver API (cuModuleLoadDataEx, cuLaunchKernel: cudaemu under CTest, or a
 * real libcuda.so.1) and through the host reference (ref.c), and compares every output word.
 * A failure prints its seed and the program, shrinks the program while it still fails, and prints
 * the smallest failing program with the expected and the produced values.
 *
 *   lepton-difftest [--regress] [--seeds A..B] [--seed N] [--time S] [--mode M] [--print]
 *                   [--no-minimize] [--dump-ptx DIR] [--no-ftz] [--no-new-modifiers] [--quiet]
 * Modes (default: all, chosen per seed): straight, loops, shared, warp, bitonic, all. */
#include "difftest.h"

#include <cuda.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <signal.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static CUcontext g_ctx;
static int g_quiet, g_noftz, g_nonew;

/* A seed that runs longer than this is reported by its number and the run ends (CTest's timeout
 * would kill the process with nothing printed; stdout is a pipe there). */
enum { SEED_ALARM_S = 40 };
static char g_alarm_msg[160];
static size_t g_alarm_len;

static void on_seed_alarm(int sig) {
    (void)sig;
    if (write(2, g_alarm_msg, g_alarm_len) < 0) {
        /* nothing else to do in a signal handler */
    }
    _exit(3);
}

/* Arms the watchdog for one seed (or a regression case) and prepares its message. */
static void seed_alarm_arm(const char *what, uint64_t seed, const char *mode) {
    int n = snprintf(g_alarm_msg, sizeof g_alarm_msg,
                     "HANG %s %" PRIu64 " (mode %s): still running after %d s; replay: lepton-difftest "
                     "--mode %s --seed %" PRIu64 "\n",
                     what, seed, mode, (int)SEED_ALARM_S, mode, seed);
    g_alarm_len = n < 0 ? 0 : (size_t)n >= sizeof g_alarm_msg ? sizeof g_alarm_msg - 1 : (size_t)n;
    alarm(SEED_ALARM_S);
}

static const char *errname(CUresult r) {
    const char *s = NULL;
    cuGetErrorName(r, &s);
    return s ? s : "?";
}

#define CK(call)                                                                                             \
    do {                                                                                                     \
        CUresult r_ = (call);                                                                                \
        if (r_ != CUDA_SUCCESS) {                                                                            \
            snprintf(msg, msgsz, "%s failed: %s", #call, errname(r_));                                       \
            goto fail;                                                                                       \
        }                                                                                                    \
    } while (0)

/* Runs the program on the device; 0 on success, -1 with a message. */
static int run_device(const prog *p, const char *ptx, const uint32_t *in, uint32_t *out, char *msg,
                      size_t msgsz) {
    CUmodule mod = NULL;
    CUdeviceptr din = 0, dout = 0;
    char elog[4096] = "";
    CUjit_option opt[2] = {CU_JIT_ERROR_LOG_BUFFER, CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES};
    void *val[2] = {elog, (void *)(uintptr_t)sizeof elog};
    size_t nthr = (size_t)p->nt * (size_t)p->nblocks;
    size_t isz = nthr * IN_WORDS * 4, osz = nthr * OUT_WORDS * 4;
    CUresult lr = cuModuleLoadDataEx(&mod, ptx, 2, opt, val);
    if (lr != CUDA_SUCCESS) {
        snprintf(msg, msgsz, "cuModuleLoadDataEx: %s: %s", errname(lr), elog);
        return -1;
    }
    CUfunction fn;
    CK(cuModuleGetFunction(&fn, mod, "difftest"));
    CK(cuMemAlloc(&din, isz));
    CK(cuMemAlloc(&dout, osz));
    CK(cuMemcpyHtoD(din, in, isz));
    CK(cuMemsetD8(dout, 0xa5, osz));
    uint32_t param = p->param;
    void *args[3] = {&din, &dout, &param};
    CK(cuLaunchKernel(fn, (unsigned)p->nblocks, 1, 1, (unsigned)p->nt, 1, 1, 0, NULL, args, NULL));
    CK(cuCtxSynchronize());
    CK(cuMemcpyDtoH(out, dout, osz));
    cuMemFree(din);
    cuMemFree(dout);
    cuModuleUnload(mod);
    return 0;
fail:
    if (din) cuMemFree(din);
    if (dout) cuMemFree(dout);
    if (mod) cuModuleUnload(mod);
    return -1;
}

static const char *word_name(int w, char *buf) {
    if (w < NR_OUT)
        sprintf(buf, "%%r%d", w);
    else if (w < NR_OUT + 2 * NQ)
        sprintf(buf, "%%rd%d.%s", (w - NR_OUT) / 2, (w - NR_OUT) & 1 ? "hi" : "lo");
    else if (w == NR_OUT + 2 * NQ)
        sprintf(buf, "predicates");
    else
        sprintf(buf, "shared X[%d]", w - (NR_OUT + 2 * NQ + 1));
    return buf;
}

static void mark_opnd(const opnd *o, uint8_t *m32, uint8_t *m64) {
    if (o->cls == RC_32) m32[o->idx] = 1;
    if (o->cls == RC_64) m64[o->idx] = 1;
}
static void mark_block(const block *b, uint8_t *m32, uint8_t *m64) {
    for (int i = 0; i < b->n; i++) {
        const stmt *s = &b->s[i];
        if (s->kind == S_INSN) {
            const insn *in = &s->in;
            mark_opnd(&in->a, m32, m64);
            mark_opnd(&in->b, m32, m64);
            mark_opnd(&in->c, m32, m64);
            mark_opnd(&in->e, m32, m64);
            mark_opnd(&in->d, m32, m64); /* guarded instructions keep the old value */
        }
        if (s->kind == S_LOOP) m32[s->pred] = 1;
        mark_block(&s->body, m32, m64);
        mark_block(&s->els, m32, m64);
    }
}
/* the inputs of one thread that the program reads */
static void print_inputs(const prog *p, const uint32_t *in, size_t t) {
    uint8_t m32[NR] = {0}, m64[NQ] = {0};
    mark_block(&p->top, m32, m64);
    const uint32_t *w = in + t * IN_WORDS;
    printf("  inputs of block %zu thread %zu:", t / (size_t)p->nt, t % (size_t)p->nt);
    for (int i = 0; i < NR_OUT; i++)
        if (m32[i]) printf(" %%r%d=0x%08" PRIx32, i, w[i]);
    for (int i = 0; i < NQ; i++)
        if (m64[i]) printf(" %%rd%d=0x%08" PRIx32 "%08" PRIx32, i, w[NR_OUT + 2 * i + 1], w[NR_OUT + 2 * i]);
    printf(" preds=0x%02" PRIx32 "\n", w[NR_OUT + 2 * NQ]);
}

/* number of differing words; prints up to `show` of them */
static const uint32_t *g_in; /* inputs of the case being compared (for print_inputs) */
static long compare(const prog *p, const uint32_t *exp, const uint32_t *got, int show) {
    long bad = 0;
    size_t nthr = (size_t)p->nt * (size_t)p->nblocks;
    for (size_t t = 0; t < nthr; t++) {
        const uint32_t *e = exp + t * OUT_WORDS, *g = got + t * OUT_WORDS;
        for (int w = 0; w < OUT_WORDS - 1; w++) {
            int is64, hi;
            int k = out_word_kind(p, w, &is64, &hi);
            int same;
            if (k == K_FLT && !is64) {
                int en = (e[w] & 0x7fffffffu) > 0x7f800000u, gn = (g[w] & 0x7fffffffu) > 0x7f800000u;
                same = (en && gn) || e[w] == g[w];
            } else if (k == K_FLT) {
                int lo = hi ? w - 1 : w;
                uint64_t ev = (uint64_t)e[lo] | (uint64_t)e[lo + 1] << 32,
                         gv = (uint64_t)g[lo] | (uint64_t)g[lo + 1] << 32;
                int en = (ev & 0x7fffffffffffffffull) > 0x7ff0000000000000ull;
                int gn = (gv & 0x7fffffffffffffffull) > 0x7ff0000000000000ull;
                same = (en && gn) || e[w] == g[w];
            } else {
                same = e[w] == g[w];
            }
            if (!same) {
                if (bad == 0 && show && g_in) print_inputs(p, g_in, t);
                if (bad < show) {
                    char nb[32];
                    printf("  block %zu thread %zu %s: expected 0x%08" PRIx32 " got 0x%08" PRIx32 "\n",
                           t / (size_t)p->nt, t % (size_t)p->nt, word_name(w, nb), e[w], g[w]);
                }
                bad++;
            }
        }
    }
    return bad;
}

typedef struct tcase {
    uint64_t seed;
    uint32_t *in, *exp, *got;
} tcase;

/* 1 when the program fails (mismatch or refusal), 0 when it passes */
static int check(const prog *p, tcase *tc, int show, char *msg, size_t msgsz) {
    size_t nthr = (size_t)p->nt * (size_t)p->nblocks;
    free(tc->in);
    free(tc->exp);
    free(tc->got);
    tc->in = calloc(nthr, IN_WORDS * 4);
    tc->exp = calloc(nthr, OUT_WORDS * 4);
    tc->got = calloc(nthr, OUT_WORDS * 4);
    if (!tc->in || !tc->exp || !tc->got) abort();
    gen_inputs(p, tc->seed, tc->in);
    ref_run(p, tc->in, tc->exp);
    g_in = tc->in;
    char *ptx = emit_ptx(p);
    msg[0] = 0;
    int rc = run_device(p, ptx, tc->in, tc->got, msg, msgsz);
    free(ptx);
    if (rc) {
        if (show) printf("  %s\n", msg);
        return 1;
    }
    return compare(p, tc->exp, tc->got, show) != 0;
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Shrinking stops after this many seconds: a candidate can run long (a dropped statement may leave a
 * loop that now runs far longer), and a CI run must still end with the failure printed. */
enum { SHRINK_BUDGET_S = 30 };
static double g_shrink_deadline;

/* 1 while the shrinker may try another candidate; spends one try */
static int shrink_try(int *tries) {
    if (*tries <= 0) return 0;
    if (now_s() > g_shrink_deadline) {
        *tries = 0;
        return 0;
    }
    (*tries)--;
    return 1;
}

/* ---- shrinking: drop statements (and unwrap ifs/loops) while the program still fails ---- */
static int shrink_block(prog *p, block *b, tcase *tc, int *tries) {
    int progress = 0;
    char msg[512];
    for (int i = b->n - 1; i >= 0 && shrink_try(tries); i--) {
        stmt saved = b->s[i];
        memmove(&b->s[i], &b->s[i + 1], (size_t)(b->n - i - 1) * sizeof *b->s);
        b->n--;
        if (check(p, tc, 0, msg, sizeof msg)) {
            block_free(&saved.body);
            block_free(&saved.els);
            progress = 1;
            continue;
        }
        memmove(&b->s[i + 1], &b->s[i], (size_t)(b->n - i) * sizeof *b->s);
        b->s[i] = saved;
        b->n++;
        stmt *s = &b->s[i];
        if ((s->kind == S_IF || s->kind == S_LOOP || s->kind == S_ULOOP) && shrink_try(tries)) {
            /* replace the statement by its body */
            block nb = {0};
            nb.cap = b->n - 1 + s->body.n + 1;
            nb.s = malloc((size_t)nb.cap * sizeof *nb.s);
            if (!nb.s) abort();
            memcpy(nb.s, b->s, (size_t)i * sizeof *b->s);
            memcpy(nb.s + i, s->body.s, (size_t)s->body.n * sizeof *b->s);
            memcpy(nb.s + i + s->body.n, b->s + i + 1, (size_t)(b->n - i - 1) * sizeof *b->s);
            nb.n = b->n - 1 + s->body.n;
            block old = *b;
            *b = nb;
            if (check(p, tc, 0, msg, sizeof msg)) {
                block_free(&saved.els);
                free(saved.body.s);
                free(old.s);
                progress = 1;
                i += 0; /* the hoisted statements are looked at by the next round */
                continue;
            }
            free(nb.s);
            *b = old;
            s = &b->s[i];
        }
        if ((s->kind == S_IF || s->kind == S_LOOP || s->kind == S_ULOOP) && s->els.n && shrink_try(tries)) {
            block e = s->els;
            memset(&s->els, 0, sizeof s->els);
            if (check(p, tc, 0, msg, sizeof msg)) {
                block_free(&e);
                progress = 1;
            } else {
                s->els = e;
            }
        }
    }
    for (int i = 0; i < b->n; i++) {
        progress |= shrink_block(p, &b->s[i].body, tc, tries);
        progress |= shrink_block(p, &b->s[i].els, tc, tries);
    }
    return progress;
}

static void minimize(prog *p, tcase *tc) {
    char msg[512];
    int tries = 600;
    g_shrink_deadline = now_s() + SHRINK_BUDGET_S;
    if (p->nblocks > 1) {
        int nb = p->nblocks;
        p->nblocks = 1;
        if (!check(p, tc, 0, msg, sizeof msg)) p->nblocks = nb;
    }
    for (int round = 0; round < 4 && tries > 0; round++)
        if (!shrink_block(p, &p->top, tc, &tries)) break;
}

static genopts opts_for(const char *mode, uint64_t seed) {
    genopts o = {0, 0, 0, 0, 1, 1, 0};
    static const char *rot[] = {"straight", "loops", "shared", "warp", "all", "all"};
    if (!strcmp(mode, "all")) mode = rot[seed % 6];
    if (!strcmp(mode, "loops"))
        o.loops = o.longloops = 1;
    else if (!strcmp(mode, "shared"))
        o.shared = o.loops = o.longloops = 1;
    else if (!strcmp(mode, "warp"))
        o.warp = 1;
    else if (!strcmp(mode, "bitonic"))
        o.bitonic = o.shared = o.loops = o.longloops = 1;
    else if (!strcmp(mode, "all"))
        o.loops = o.shared = o.warp = 1;
    /* warp operations after long divergent loops: cudaemu runs shfl/vote.sync before every lane of
     * the mask has arrived when a time slice ended mid-divergence (README "Open bugs"); not in the
     * rotation until that is fixed */
    else if (!strcmp(mode, "warpdiv"))
        o.loops = o.shared = o.warp = o.longloops = 1;
    if (g_noftz) o.ftz = 0;
    if (g_nonew) o.newmods = 0;
    return o;
}

static int run_seed(uint64_t seed, const char *mode, int print, int do_min, const char *dump) {
    prog p;
    genopts o = opts_for(mode, seed);
    seed_alarm_arm("seed", seed, mode);
    gen_program(&p, seed, &o);
    if (dump) {
        char path[1024];
        snprintf(path, sizeof path, "%s/seed%" PRIu64 ".ptx", dump, seed);
        char *ptx = emit_ptx(&p);
        FILE *f = fopen(path, "w");
        if (f) {
            fputs(ptx, f);
            fclose(f);
        }
        free(ptx);
    }
    if (print) {
        char *ptx = emit_ptx(&p);
        fputs(ptx, stdout);
        free(ptx);
    }
    tcase tc = {seed, NULL, NULL, NULL};
    char msg[4600];
    int fail = check(&p, &tc, 0, msg, sizeof msg);
    if (fail) {
        alarm(0); /* shrinking runs the program many times: it has its own budget */
        printf("FAIL seed %" PRIu64 " (mode %s, %d statements, %d x %d threads)%s%s\n", seed, mode,
               block_count(&p.top), p.nblocks, p.nt, msg[0] ? ": " : "", msg);
        if (!print) {
            char *ptx = emit_ptx(&p);
            printf("---- program (seed %" PRIu64 ") ----\n%s", seed, ptx);
            free(ptx);
        }
        if (do_min && !msg[0]) {
            minimize(&p, &tc);
            char *ptx = emit_ptx(&p);
            printf("---- smallest failing program found (seed %" PRIu64 ", %d statements) ----\n%s", seed,
                   block_count(&p.top), ptx);
            free(ptx);
            printf("---- differences ----\n");
            check(&p, &tc, 12, msg, sizeof msg);
        }
        printf("replay: lepton-difftest --mode %s --seed %" PRIu64 "\n", mode, seed);
        fflush(stdout);
    } else if (!g_quiet) {
        printf("ok seed %" PRIu64 "\n", seed);
    }
    alarm(0);
    free(tc.in);
    free(tc.exp);
    free(tc.got);
    prog_free(&p);
    return fail;
}

/* the fixed regression programs; number of failures */
static int run_regress(int open) {
    int fails = 0;
    for (int i = 0;; i++) {
        prog p;
        int word = 0;
        uint32_t val = 0;
        const char *name = open ? regress_open_case(i, &p, &word, &val) : regress_case(i, &p, &word, &val);
        if (!name) break;
        tcase tc = {p.seed, NULL, NULL, NULL};
        char msg[4600];
        seed_alarm_arm("regression case", (uint64_t)i, "regress");
        int fail = check(&p, &tc, 8, msg, sizeof msg);
        alarm(0);
        if (tc.exp[word] != val) {
            printf("  the reference gives 0x%08" PRIx32 ", the case expects 0x%08" PRIx32 "\n", tc.exp[word],
                   val);
            fail = 1;
        }
        printf("%s regress%s %d: %s\n", fail ? "FAIL" : "ok", open ? " (open bug)" : "", i, name);
        if (fail) {
            char *ptx = emit_ptx(&p);
            printf("%s", ptx);
            free(ptx);
        }
        fails += fail;
        free(tc.in);
        free(tc.exp);
        free(tc.got);
        prog_free(&p);
    }
    return fails;
}

static void usage(void) {
    fprintf(stderr, "usage: lepton-difftest [--gpu] [--regress] [--regress-open] [--seeds A..B] [--seed N] "
                    "[--time S] [--mode straight|loops|shared|warp|"
                    "bitonic|all|warpdiv] [--print] [--no-minimize] [--dump-ptx DIR] [--no-ftz] "
                    "[--no-new-modifiers] [--quiet]\n");
}

int main(int argc, char **argv) {
    uint64_t s0 = 1, s1 = 0;
    int have_seeds = 0, print = 0, do_min = 1, regress = 0, regress_open = 0, gpu = 0;
    double tlimit = 0;
    const char *mode = "all", *dump = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--seeds") && i + 1 < argc) {
            if (sscanf(argv[++i], "%" SCNu64 "..%" SCNu64, &s0, &s1) != 2 || s1 < s0) {
                usage();
                return 2;
            }
            have_seeds = 1;
        } else if (!strcmp(a, "--seed") && i + 1 < argc) {
            s0 = s1 = strtoull(argv[++i], NULL, 0);
            have_seeds = 1;
        } else if (!strcmp(a, "--time") && i + 1 < argc) {
            tlimit = atof(argv[++i]);
        } else if (!strcmp(a, "--mode") && i + 1 < argc) {
            mode = argv[++i];
        } else if (!strcmp(a, "--dump-ptx") && i + 1 < argc) {
            dump = argv[++i];
        } else if (!strcmp(a, "--gpu")) {
            gpu = 1;
        } else if (!strcmp(a, "--regress")) {
            regress = 1;
        } else if (!strcmp(a, "--regress-open")) {
            regress_open = 1;
        } else if (!strcmp(a, "--print")) {
            print = 1;
        } else if (!strcmp(a, "--no-minimize")) {
            do_min = 0;
        } else if (!strcmp(a, "--no-ftz")) {
            g_noftz = 1;
        } else if (!strcmp(a, "--no-new-modifiers")) {
            g_nonew = 1;
        } else if (!strcmp(a, "--quiet")) {
            g_quiet = 1;
        } else {
            usage();
            return 2;
        }
    }
    static const char *modes[] = {"straight", "loops", "shared", "warp", "bitonic", "all", "warpdiv"};
    int known = 0;
    for (size_t k = 0; k < sizeof modes / sizeof modes[0]; k++)
        known |= !strcmp(mode, modes[k]);
    if (!known) {
        usage();
        return 2;
    }
    if (!have_seeds && tlimit <= 0) s1 = 20;
    setvbuf(stdout, NULL, _IOLBF, 0); /* a failure's lines reach CTest's log even if a later seed hangs */
    signal(SIGALRM, on_seed_alarm);

    CUresult r = cuInit(0);
    CUdevice dev;
    if (r == CUDA_SUCCESS) r = cuDeviceGet(&dev, 0);
    if (r == CUDA_SUCCESS) r = cuDevicePrimaryCtxRetain(&g_ctx, dev);
    if (r == CUDA_SUCCESS) r = cuCtxSetCurrent(g_ctx);
    if (r != CUDA_SUCCESS) {
        if (gpu) { /* tests/gpu convention: safe to call where there is no GPU */
            printf("skipped: no GPU (%s)\n", errname(r));
            return 0;
        }
        fprintf(stderr, "lepton-difftest: no CUDA device (%s)\n", errname(r));
        return 1;
    }
    char name[128] = "";
    cuDeviceGetName(name, sizeof name, dev);
    printf("lepton-difftest on \"%s\", mode %s\n", name, mode);

    int fails = 0;
    long runs = 0;
    if (regress || regress_open) {
        if (regress) fails += run_regress(0);
        if (regress_open) fails += run_regress(1);
        if (!have_seeds && tlimit <= 0) {
            printf("%d failure(s)\n", fails);
            cuDevicePrimaryCtxRelease(dev);
            return fails ? 1 : 0;
        }
    }
    if (have_seeds || tlimit <= 0) {
        for (uint64_t s = s0; s <= s1; s++, runs++)
            fails += run_seed(s, mode, print, do_min, dump);
    }
    if (tlimit > 0) {
        double t0 = now_s();
        uint64_t base = ((uint64_t)time(NULL) * 1000003ull) % 1000000000ull * 1000ull;
        printf("random seeds from %" PRIu64 " for %.0f s\n", base, tlimit);
        for (uint64_t s = base; now_s() - t0 < tlimit; s++, runs++)
            fails += run_seed(s, mode, print, do_min, dump);
    }
    printf("%ld program(s), %d failure(s)\n", runs, fails);
    cuDevicePrimaryCtxRelease(dev);
    return fails ? 1 : 0;
}
