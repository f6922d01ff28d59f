/* cmd_run.c — `lepton run`: lease one GPU, load a PTX module, fill device buffers from files, launch
 * one kernel, write the output buffers to files, print timing and cost, close the lease. Everything
 * goes through liblepton; only the final cost of the closed lease is read back over REST (the
 * handle is gone by then). The lease has a keepalive (30 s unless --keepalive), so a killed run
 * stops billing soon; SIGINT and SIGTERM close the lease at once (a signal thread, over REST by id)
 * and exit 130 / 143. With --lease ID it attaches to that lease instead (lepton_lease_attach),
 * runs on its GPU 0 and detaches: the lease keeps running, also after a signal. */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "clock.h"
#include "lc_raw.h"
#include "ptx_text.h"

const char cli_help_run[] =
    "usage: lepton run --ptx FILE --kernel NAME --grid X[,Y,Z] --block X[,Y,Z] [options] ARG...\n"
    "\n"
    "Leases one GPU, loads the module, allocates and fills device buffers from the arguments,\n"
    "launches the kernel once, writes the output buffers to files, prints timing and cost and\n"
    "closes the lease. ARGs are the kernel's parameters in order (also accepted as --arg ARG):\n"
    "  i8:V u8:V i16:V u16:V i32:V u32:V i64:V u64:V f32:V f64:V   a value of that type\n"
    "  in:FILE              a buffer holding FILE's bytes (the kernel reads it)\n"
    "  out:FILE:SIZE        a zeroed buffer of SIZE bytes (4096, 64K, 1M), written to FILE afterwards\n"
    "  inout:FILE[:OUTFILE] a buffer holding FILE's bytes, written back to OUTFILE (default FILE)\n"
    "  zero:SIZE            a zeroed scratch buffer of SIZE bytes, not written anywhere\n"
    "Buffer arguments pass the buffer's device address (a .u64 parameter).\n"
    "\n"
    "options:\n"
    "  --lease ID         run on GPU 0 of this lease of yours (e.g. from `lepton lease open`)\n"
    "                     instead of leasing one; it is left running afterwards (the request\n"
    "                     flags below do not apply then)\n"
    "  --shared BYTES     dynamic shared memory per block (default 0)\n"
    "  --gpu-model M      a GPU whose model name contains M\n"
    "  --min-memory SIZE  memory per GPU\n"
    "  --max-price P      at most P USD per GPU-hour\n"
    "  --max-cost C       end the lease when it has cost C USD\n"
    "  --ttl S            lease TTL in seconds (default 3600, as `lepton lease open`)\n"
    "  --wait S           wait up to S seconds for a free GPU (default 0: answer now, as\n"
    "                     `lepton lease open`), saying \"waiting for capacity…\" on stderr meanwhile\n"
    "  --keepalive S      the broker ends the lease when this process has not renewed it for S\n"
    "                     seconds, e.g. after a crash (default 30; 0 = none: it runs to its TTL)\n"
    "  --timeout S        give up on the kernel after S seconds (default 600)\n"
    "  --json             print {lease, kernel, timing, cost, outputs, output, output_stderr} as\n"
    "                     JSON on stdout (output: what the kernel printed)\n"
    "\n"
    "What the kernel prints (device printf) comes out on stdout before the summary; device\n"
    "assertions on stderr. A kernel that runs longer than 5 s is reported on stderr every 10 s.\n"
    "The arguments are checked against the kernel's PTX signature before anything is leased:\n"
    "their number, and each one's type (f32:1.5 for a .u32 parameter is refused).\n"
    "\n"
    "exit codes: 0 ok, 2 bad command line, 1 a file could not be read or written, 5 no capacity,\n"
    "            6 over budget, 9 CUDA error (the message names it), other LEPTON_E* as -status;\n"
    "            130 on SIGINT (Ctrl-C), 143 on SIGTERM: the lease is closed first\n"
    "\n"
    "example (y = 2*x + y over 1M floats, examples/kernels/saxpy.ptx):\n"
    "  lepton run --ptx examples/kernels/saxpy.ptx --kernel saxpy --grid 4096 --block 256 \\\n"
    "      u32:1048576 f32:2.0 in:x.bin inout:y.bin:y_out.bin\n";

enum { A_VALUE, A_IN, A_OUT, A_INOUT, A_ZERO };

typedef struct run_arg {
    int kind;
    const char *text; /* as typed */
    char type[8];     /* A_VALUE: "u32", "f32", ... */
    unsigned char value[8];
    size_t size;         /* value bytes or buffer bytes */
    const char *in_path; /* in, inout */
    char out_path[1024]; /* out, inout */
    void *host;          /* buffer contents */
    lepton_buffer *buf;
} run_arg;

static double now_s(void) { return (double)lp_mono_ns() / 1e9; }

static int parse_value(const char *type, const char *v, run_arg *a) {
    char *end;
    errno = 0;
    if (!strcmp(type, "f32") || !strcmp(type, "f64")) {
        double d = strtod(v, &end);
        if (!*v || *end || (errno && !isfinite(d)))
            return cli_usage_error("run", "%s:%s: '%s' is not a number", type, v, v);
        if (type[1] == '3') {
            float f = (float)d;
            memcpy(a->value, &f, 4);
            a->size = 4;
        } else {
            memcpy(a->value, &d, 8);
            a->size = 8;
        }
        return 0;
    }
    int sign = type[0] == 'i';
    int bits = atoi(type + 1);
    if ((type[0] != 'i' && type[0] != 'u') || (bits != 8 && bits != 16 && bits != 32 && bits != 64))
        return cli_usage_error(
            "run",
            "'%s:%s': unknown type '%s' (i8 u8 i16 u16 i32 u32 i64 u64 f32 f64, or a buffer: "
            "in out inout zero)",
            type, v, type);
    if (!*v) return cli_usage_error("run", "%s: missing value", type);
    uint64_t bitsv;
    if (sign) {
        long long n = strtoll(v, &end, 0);
        long long lim = bits == 64 ? INT64_MAX : (1LL << (bits - 1)) - 1;
        if (*end) return cli_usage_error("run", "%s:%s: '%s' is not a number", type, v, v);
        if (errno || n > lim || n < -lim - 1) return cli_usage_error("run", "%s:%s is out of range", type, v);
        bitsv = (uint64_t)n;
    } else {
        if (*v == '-') return cli_usage_error("run", "%s:%s is negative", type, v);
        unsigned long long n = strtoull(v, &end, 0);
        uint64_t lim = bits == 64 ? UINT64_MAX : (1ULL << bits) - 1;
        if (*end) return cli_usage_error("run", "%s:%s: '%s' is not a number", type, v, v);
        if (errno || n > lim) return cli_usage_error("run", "%s:%s is out of range", type, v);
        bitsv = n;
    }
    a->size = (size_t)bits / 8;
    /* little-endian bytes of the value's width, as the kernel's .param expects */
    for (size_t i = 0; i < a->size; i++)
        a->value[i] = (unsigned char)(bitsv >> (8 * i));
    return 0;
}

static int parse_arg(const char *s, run_arg *a) {
    memset(a, 0, sizeof *a);
    a->text = s;
    const char *colon = strchr(s, ':');
    if (!colon)
        return cli_usage_error("run",
                               "argument '%s' is not TYPE:VALUE or a buffer (in:FILE, out:FILE:SIZE, "
                               "inout:FILE, zero:SIZE)",
                               s);
    char type[16];
    snprintf(type, sizeof type, "%.*s", (int)(colon - s), s);
    const char *rest = colon + 1;
    if (!strcmp(type, "in") || !strcmp(type, "buf")) {
        if (!*rest) return cli_usage_error("run", "'%s': missing FILE", s);
        a->kind = A_IN;
        a->in_path = rest;
        return 0;
    }
    if (!strcmp(type, "inout")) {
        if (!*rest) return cli_usage_error("run", "'%s': missing FILE", s);
        a->kind = A_INOUT;
        const char *c2 = strchr(rest, ':');
        static char paths[64][1024]; /* the input path must outlive this call */
        static int npaths;
        if (c2) {
            if (npaths >= 64) return cli_usage_error("run", "too many inout arguments");
            snprintf(paths[npaths], sizeof paths[npaths], "%.*s", (int)(c2 - rest), rest);
            a->in_path = paths[npaths++];
            snprintf(a->out_path, sizeof a->out_path, "%s", c2 + 1);
            if (!c2[1]) return cli_usage_error("run", "'%s': empty OUTFILE", s);
        } else {
            a->in_path = rest;
            snprintf(a->out_path, sizeof a->out_path, "%s", rest);
        }
        return 0;
    }
    if (!strcmp(type, "out")) {
        const char *c2 = strrchr(rest, ':');
        if (!c2 || c2 == rest)
            return cli_usage_error("run", "'%s' is not out:FILE:SIZE (e.g. out:y.bin:4096)", s);
        uint64_t n;
        if (cli_parse_size("run", s, c2 + 1, &n)) return CLI_EXIT_USAGE;
        a->kind = A_OUT;
        a->size = (size_t)n;
        snprintf(a->out_path, sizeof a->out_path, "%.*s", (int)(c2 - rest), rest);
        return 0;
    }
    if (!strcmp(type, "zero")) {
        uint64_t n;
        if (cli_parse_size("run", s, rest, &n)) return CLI_EXIT_USAGE;
        a->kind = A_ZERO;
        a->size = (size_t)n;
        return 0;
    }
    a->kind = A_VALUE;
    a->text = s;
    snprintf(a->type, sizeof a->type, "%.7s", type);
    return parse_value(type, rest, a);
}

/* The `lepton run` type that writes a value of PTX parameter p ("u32:", "i32:", "f32:"). */
static void cli_type_of(const lp_ptx_param *p, char *out, size_t n) {
    if (p->kind == 'f')
        snprintf(out, n, "f%u", p->size * 8);
    else if (p->kind == 's')
        snprintf(out, n, "i%u", p->size * 8);
    else
        snprintf(out, n, "u%u", p->size * 8);
}

/* Checks the arguments against kernel's parameters as the PTX declares them, before anything is
 * leased: their number, and for each one whether it fits (a buffer is a 64-bit address; a value
 * has the parameter's size and kind: an f32 is no .u32). Returns 0 when they fit or the image is
 * not PTX text (the driver checks then), else CLI_EXIT_USAGE after saying which one does not. */
static int check_signature(const char *ptx, const void *image, size_t size, const char *kernel,
                           const run_arg *args, size_t nargs) {
    lp_ptx_param *ps = NULL;
    size_t np = 0;
    char err[700];
    int r = lp_ptx_signature(image, size, kernel, &ps, &np, err, sizeof err);
    if (r == 1) return 0;
    if (r < 0) return cli_usage_error("run", "--kernel %s: %s: %s", kernel, ptx, err);
    char sig[1024] = "";
    for (size_t i = 0; i < np; i++) {
        size_t len = strlen(sig);
        snprintf(sig + len, sizeof sig - len, "%s%s .%s%s", i ? ", " : "", ps[i].name,
                 ps[i].type[0] ? ps[i].type : "b8", ps[i].count != 1 ? "[]" : "");
    }
    int rc = 0;
    if (np != nargs) {
        rc = cli_usage_error("run", "kernel %s takes %zu argument%s (%s); %zu given", kernel, np,
                             np == 1 ? "" : "s", sig, nargs);
        goto out;
    }
    for (size_t i = 0; i < nargs; i++) {
        const lp_ptx_param *p = &ps[i];
        const run_arg *a = &args[i];
        if (!p->size) continue; /* a type this reader does not know: the driver checks it */
        char want[16];
        cli_type_of(p, want, sizeof want);
        if (a->kind != A_VALUE) {
            if (p->size != 8 || p->kind == 'f' || !p->kind) {
                rc = cli_usage_error(
                    "run",
                    "argument %zu '%s' is a buffer (a 64-bit device address), but parameter %zu "
                    "of %s, %s, is .%s%s: give %s:VALUE",
                    i + 1, a->text, i + 1, kernel, p->name, p->type, p->count != 1 ? "[]" : "",
                    p->kind ? want : "a value of that size");
                goto out;
            }
            continue;
        }
        int a_float = a->type[0] == 'f';
        if (!p->kind) {
            if (a->size != p->size) {
                rc = cli_usage_error("run",
                                     "argument %zu '%s' has %zu bytes, but parameter %zu of %s, %s, has %u",
                                     i + 1, a->text, a->size, i + 1, kernel, p->name, p->size);
                goto out;
            }
            continue;
        }
        if (a->size != p->size || a_float != (p->kind == 'f')) {
            rc = cli_usage_error(
                "run", "argument %zu '%s' does not fit parameter %zu of %s, %s (.%s): give %s:VALUE", i + 1,
                a->text, i + 1, kernel, p->name, p->type, want);
            goto out;
        }
    }
out:
    free(ps);
    return rc;
}

/* Transfers up to this many bytes travel in one job with the others (one round trip); larger ones
 * buffer by buffer, as a job's body is limited (WIRE_JOB_MAX_BODY). */
#define RUN_JOB_BYTES (64u << 20)

/* Seconds after which a running kernel is reported on stderr, and then every PROGRESS_EVERY_S. */
#define PROGRESS_FIRST_S 5
#define PROGRESS_EVERY_S 10

/* Waits for task t until deadline; `kernel` (NULL for a transfer) names the kernel for the progress
 * lines printed on stderr while it runs longer than PROGRESS_FIRST_S. */
static int wait_task(lepton_task *t, double deadline, const char *what, const char *kernel,
                     uint32_t timeout_s) {
    double t0 = now_s(), next = t0 + PROGRESS_FIRST_S;
    for (;;) {
        int rc = lepton_wait(t, 1000);
        if (rc != LEPTON_ETIMEDOUT) {
            if (rc) {
                lepton_task_info ti = LEPTON_TASK_INFO_INIT;
                lepton_task_get_info(t, &ti);
                return cli_fail(rc, what, ti.error[0] ? ti.error : lepton_last_error());
            }
            return 0;
        }
        double now = now_s();
        if (now > deadline) return cli_fail(LEPTON_ETIMEDOUT, what, "gave up waiting (see --timeout)");
        if (kernel && now >= next) {
            fprintf(stderr, "lepton: kernel %s still running: %.0f s (gives up after --timeout %u s)\n",
                    kernel, now - t0, timeout_s);
            next = now + PROGRESS_EVERY_S;
        }
    }
}

/* ---- SIGINT / SIGTERM: close the lease now, exit 128 + signal ---- */
static pthread_mutex_t sig_mu = PTHREAD_MUTEX_INITIALIZER;
static char sig_lease[64];      /* the open lease's id ("" when none); under sig_mu */
static int sig_attached;        /* sig_lease was attached (--lease): left running */
static const cli_global *sig_g; /* set before the thread starts */
static sigset_t sig_set;

/* The signal thread: waits for SIGINT or SIGTERM (blocked in every other thread), closes the open
 * lease by id over REST (the main thread may be inside a liblepton call on the handle) and exits. */
static void *signal_main(void *arg) {
    (void)arg;
    int sig = 0;
    if (sigwait(&sig_set, &sig) != 0) return NULL;
    const char *name = sig == SIGINT ? "SIGINT" : "SIGTERM";
    pthread_mutex_lock(&sig_mu); /* held to the end: the main thread cannot start closing meanwhile */
    if (*sig_lease && sig_attached) {
        fprintf(stderr, "lepton: %s: stopping; lease %s (--lease) is left running\n", name, sig_lease);
    } else if (*sig_lease) {
        char path[128], err[1024];
        json_t *ans = NULL;
        snprintf(path, sizeof path, "/v1/leases/%s/close", sig_lease);
        int rc = cli_http(sig_g, "POST", path, NULL, 10000, &ans, err, sizeof err);
        json_t *l = json_object_get(ans, "lease");
        if (rc == LEPTON_OK || rc == LEPTON_EEXPIRED) {
            char cost[48];
            cli_fmt_money(json_number_value(json_object_get(l, "cost")), cost, sizeof cost);
            fprintf(stderr, "lepton: %s: lease %s %s; cost %s\n", name, sig_lease,
                    rc == LEPTON_OK ? "closed" : "had already ended", cost);
        } else {
            fprintf(stderr, "lepton: %s: lease %s: close failed (%s); its keepalive or TTL ends it\n", name,
                    sig_lease, err);
        }
        json_decref(ans);
    } else {
        fprintf(stderr, "lepton: %s: stopping (no lease open)\n", name);
    }
    fflush(NULL);
    _exit(128 + sig);
}

/* Blocks SIGINT and SIGTERM in this thread (and the threads it starts later) and starts the
 * thread that takes them. */
static void signals_start(const cli_global *g) {
    sig_g = g;
    sigemptyset(&sig_set);
    sigaddset(&sig_set, SIGINT);
    sigaddset(&sig_set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &sig_set, NULL);
    pthread_t t;
    if (pthread_create(&t, NULL, signal_main, NULL) == 0) pthread_detach(t);
}

/* Records the open lease (id; attached or opened here) or its end (NULL) for the signal thread. */
static void signals_lease(const char *id, int attached) {
    pthread_mutex_lock(&sig_mu);
    snprintf(sig_lease, sizeof sig_lease, "%s", id ? id : "");
    sig_attached = attached;
    pthread_mutex_unlock(&sig_mu);
}

/* ---- the steps of `lepton run` ---- */

/* The command line, parsed and checked. rawargs (the ARGs as typed) is owned by cmd_run. */
typedef struct run_opts {
    lepton_lease_request req;
    uint32_t wait_s; /* --wait: seconds for cli_lease_open_waiting */
    const char *ptx, *kernel, *attach_id;
    uint32_t grid[3], block[3], shared, timeout_s;
    int json;
    const char **rawargs;
    size_t nargs;
} run_opts;

/* The inputs, read before anything is leased: the module's image and the arguments (their host
 * buffers read from files or zeroed). Owned by cmd_run; run_inputs_free ends them. */
typedef struct run_inputs {
    void *image;
    size_t image_size;
    run_arg *args;
    lepton_arg *largs;
    size_t nargs; /* of args and largs (0 until they are allocated) */
    size_t up_bytes, down_bytes;
} run_inputs;

/* What the run measured and what the kernel printed (kout: stdout, stderr; freed by run_on_client). */
typedef struct run_report {
    double t_start, t_leased, t_up0, t_up1, t_k1, t_down1, t_end;
    int64_t kernel_ns;
    char *kout[2];
    size_t kout_len[2];
    char lease_id[64];
    double cost;
    int64_t gpu_seconds;
} run_report;

/* run_parse_flags' answer after printing --help. */
#define RUN_HELP (-1)

static int run_is_output(const run_arg *a) { return a->kind == A_OUT || a->kind == A_INOUT; }

/* One flag that takes a value and is run's own (not a lease request flag): 0, or CLI_EXIT_USAGE
 * after a message. */
static int run_value_flag(run_opts *ro, cli_opts *o, int *have_grid, int *have_block) {
    const char *v = cli_opt_value(o);
    if (!v) return CLI_EXIT_USAGE;
    if (cli_opt_is(o, "--ptx"))
        ro->ptx = v;
    else if (cli_opt_is(o, "--lease"))
        ro->attach_id = v;
    else if (cli_opt_is(o, "--kernel"))
        ro->kernel = v;
    else if (cli_opt_is(o, "--grid")) {
        if (cli_parse_dims("run", "--grid", v, ro->grid)) return CLI_EXIT_USAGE;
        *have_grid = 1;
    } else if (cli_opt_is(o, "--block")) {
        if (cli_parse_dims("run", "--block", v, ro->block)) return CLI_EXIT_USAGE;
        *have_block = 1;
    } else if (cli_opt_is(o, "--shared")) {
        if (cli_parse_u32("run", "--shared", v, 0, UINT32_MAX, &ro->shared)) return CLI_EXIT_USAGE;
    } else if (cli_opt_is(o, "--timeout")) {
        if (cli_parse_u32("run", "--timeout", v, 1, 86400, &ro->timeout_s)) return CLI_EXIT_USAGE;
    } else if (cli_opt_is(o, "--arg")) {
        ro->rawargs[ro->nargs++] = v;
    } else {
        return cli_usage_error("run", "unknown flag '%s'", o->flag);
    }
    return 0;
}

/* Parses the command line into ro (rawargs: room for argc ARGs): 0, RUN_HELP after printing the
 * help, or CLI_EXIT_USAGE after a message. */
static int run_parse_flags(run_opts *ro, const char **rawargs, int argc, char **argv) {
    *ro = (run_opts){.req = LEPTON_LEASE_REQUEST_INIT, .wait_s = CLI_DEFAULT_WAIT_S, .timeout_s = 600};
    ro->req.ttl_seconds = CLI_DEFAULT_TTL_S;
    ro->req.keepalive_seconds = CLI_HOLDER_KEEPALIVE_S;
    ro->rawargs = rawargs;
    cli_opts o;
    cli_opts_init(&o, "run", argc, argv);
    const char *req_flag = NULL, *pos;
    int have_grid = 0, have_block = 0, k;
    while ((k = cli_opt_next(&o, &pos))) {
        if (k == 2) {
            rawargs[ro->nargs++] = pos;
            continue;
        }
        if (cli_opt_is(&o, "--help")) {
            fputs(cli_help_run, stdout);
            return RUN_HELP;
        }
        if (cli_opt_is(&o, "--json")) {
            if (cli_opt_no_value(&o)) return CLI_EXIT_USAGE;
            ro->json = 1;
            continue;
        }
        if (cli_opt_is(&o, "--gpus"))
            return cli_usage_error("run",
                                   "--gpus: `lepton run` runs one kernel on one GPU; for N GPUs, split the "
                                   "data into N parts and start one `lepton run` per part (they may run "
                                   "at once), or run a multi-GPU program with `lepton exec --gpus N`");
        const char *flag = o.flag;
        int r = cli_lease_request_flag(&o, &ro->req, &ro->wait_s);
        if (r == CLI_REQ_BAD) return CLI_EXIT_USAGE;
        if (r == 1) {
            if (!req_flag) req_flag = flag;
            continue;
        }
        if (run_value_flag(ro, &o, &have_grid, &have_block)) return CLI_EXIT_USAGE;
    }
    if (!ro->ptx) return cli_usage_error("run", "missing --ptx FILE");
    if (!ro->kernel) return cli_usage_error("run", "missing --kernel NAME");
    if (!have_grid || !have_block)
        return cli_usage_error("run", "missing --%s X[,Y,Z]", have_grid ? "block" : "grid");
    if (ro->attach_id && req_flag)
        return cli_usage_error("run",
                               "%s shapes a new lease; with --lease %s the run uses that lease as it is",
                               req_flag, ro->attach_id);
    return 0;
}

/* Allocates in's arguments and parses the ARGs into them: 0, or an exit code after a message. */
static int run_args_parse(const run_opts *ro, run_inputs *in) {
    size_t n = ro->nargs;
    in->args = calloc(n ? n : 1, sizeof *in->args);
    in->largs = calloc(n ? n : 1, sizeof *in->largs);
    if (!in->args || !in->largs) return cli_fail(LEPTON_ENOMEM, "run", "out of memory");
    in->nargs = n;
    for (size_t i = 0; i < n; i++)
        if (parse_arg(ro->rawargs[i], &in->args[i])) return CLI_EXIT_USAGE;
    return 0;
}

/* Fills the host buffers of the buffer arguments (in:/inout: from their files, out:/zero: with
 * zeros) and counts the bytes to upload and download: 0, or CLI_EXIT_LOCAL after a message. */
static int run_host_buffers(run_inputs *in) {
    for (size_t i = 0; i < in->nargs; i++) {
        run_arg *a = &in->args[i];
        if (a->kind == A_IN || a->kind == A_INOUT) {
            if (cli_read_file(a->in_path, &a->host, &a->size)) return CLI_EXIT_LOCAL;
            if (a->size == 0) {
                cli_err("%s is empty; a buffer needs at least one byte", a->in_path);
                return CLI_EXIT_LOCAL;
            }
            in->up_bytes += a->size;
        } else if (a->kind == A_OUT || a->kind == A_ZERO) {
            a->host = calloc(1, a->size);
            if (!a->host) {
                cli_err("out of memory for a %zu-byte buffer", a->size);
                return CLI_EXIT_LOCAL;
            }
            in->up_bytes += a->size;
        }
        if (run_is_output(a)) in->down_bytes += a->size;
    }
    return 0;
}

/* Reads every local input, so that a missing file or a wrong argument costs no lease: the ARGs,
 * the module (checked against the ARGs) and the buffers' files. 0, or an exit code after a message. */
static int run_inputs_read(const run_opts *ro, run_inputs *in) {
    int rc = run_args_parse(ro, in);
    if (rc) return rc;
    if (cli_read_file(ro->ptx, &in->image, &in->image_size)) return CLI_EXIT_LOCAL;
    rc = check_signature(ro->ptx, in->image, in->image_size, ro->kernel, in->args, in->nargs);
    if (rc) return rc;
    return run_host_buffers(in);
}

static void run_inputs_free(run_inputs *in) {
    free(in->image);
    for (size_t i = 0; i < in->nargs; i++)
        free(in->args[i].host);
    free(in->args);
    free(in->largs);
}

/* Attaches to --lease or opens a new lease (waiting up to --wait): 0 with *l set, or an exit code
 * after a message. */
static int run_lease_open(lepton_client *c, run_opts *ro, lepton_lease **l) {
    return cli_lease_get(c, "run", ro->attach_id, &ro->req, ro->wait_s, l);
}

/* Says on stderr which lease (and GPU) the run got. */
static void run_say_lease(const run_opts *ro, const lepton_lease_info *li) {
    char price[48];
    cli_fmt_money(li->price_per_gpu_hour, price, sizeof price);
    if (ro->attach_id)
        fprintf(stderr, "lepton: lease %s (attached): GPU 0 of %u x %s on %s at %s per GPU-hour\n", li->id,
                li->gpu_count, li->gpu_model, li->node, price);
    else
        fprintf(stderr, "lepton: lease %s: 1 x %s on %s at %s per GPU-hour\n", li->id, li->gpu_model,
                li->node, price);
}

/* Allocates a device buffer for each buffer argument and sets the launch arguments: 0, or an exit
 * code after a message. The buffers allocated are freed by the caller, also on failure. */
static int run_buffers_alloc(lepton_lease *l, run_inputs *in) {
    for (size_t i = 0; i < in->nargs; i++) {
        run_arg *a = &in->args[i];
        if (a->kind == A_VALUE) {
            in->largs[i] = (lepton_arg){LEPTON_ARG_VALUE, NULL, 0, a->value, a->size};
            continue;
        }
        int s = lepton_buffer_alloc(l, 0, a->size, &a->buf);
        if (s) {
            char what[600];
            snprintf(what, sizeof what, "run: allocating %zu bytes for argument %zu", a->size, i + 1);
            return cli_fail(s, what, lepton_last_error());
        }
        in->largs[i] = (lepton_arg){LEPTON_ARG_BUFFER, a->buf, 0, NULL, 0};
    }
    return 0;
}

/* Phase 0 (upload) or 2 (download) of transfers too large for one job: buffer by buffer
 * (lepton_buffer_write/read stream them). 0, or an exit code after a message. */
static int run_phase_stream(run_inputs *in, int phase) {
    for (size_t i = 0; i < in->nargs; i++) {
        run_arg *a = &in->args[i];
        int s;
        if (phase == 0 && a->kind != A_VALUE && (s = lepton_buffer_write(a->buf, 0, a->host, a->size)))
            return cli_fail(s, "run: uploading the inputs", lepton_last_error());
        if (phase == 2 && run_is_output(a) && (s = lepton_buffer_read(a->buf, 0, a->host, a->size)))
            return cli_fail(s, "run: downloading the outputs", lepton_last_error());
    }
    return 0;
}

/* After the kernel's job (rc: how it went): fetches what the kernel printed (device printf on
 * stdout, assertions on stderr), whether it succeeded or not: the worker keeps it for this
 * handle's session until asked (a task of lepton_submit does not say whether there is any: ask for
 * both). Assertions go to stderr at once, also in --json mode; printf to the user's stdout. Reads
 * the kernel's own time from the task when it succeeded. */
static void run_kernel_output(const run_opts *ro, lepton_lease *l, lepton_task *t, int rc, run_report *r) {
    for (int st = 0; st < 2; st++)
        if (lc_raw_output(l, 0, st == 0 ? LC_RAW_STDOUT : LC_RAW_STDERR, &r->kout[st], &r->kout_len[st]) !=
            LEPTON_OK)
            cli_err("run: the kernel's %s output could not be fetched: %s", st ? "stderr" : "stdout",
                    lepton_last_error());
    if (r->kout_len[1]) {
        fwrite(r->kout[1], 1, r->kout_len[1], stderr);
        fflush(stderr);
    }
    if (r->kout_len[0] && (!ro->json || rc)) {
        fwrite(r->kout[0], 1, r->kout_len[0], rc && ro->json ? stderr : stdout);
        fflush(stdout);
    }
    if (!rc) {
        lepton_task_info ti = LEPTON_TASK_INFO_INIT;
        if (lepton_task_get_info(t, &ti) == LEPTON_OK && ti.ended_ns > ti.started_ns && ti.started_ns > 0)
            r->kernel_ns = ti.ended_ns - ti.started_ns;
    }
}

/* Phase 0 (upload), 1 (kernel) or 2 (download) as one job built in steps (room for nargs + 1),
 * waited for until deadline: 0, or an exit code after a message. A phase with nothing to do
 * submits nothing. */
static int run_phase_job(const run_opts *ro, run_inputs *in, lepton_lease *l, const lepton_launch *launch,
                         int phase, lepton_step *steps, double deadline, run_report *r) {
    static const char *const names[] = {"run: uploading the inputs", "run: kernel",
                                        "run: downloading the outputs"};
    size_t ns = 0;
    for (size_t i = 0; phase != 1 && i < in->nargs; i++) {
        run_arg *a = &in->args[i];
        if (phase == 0 && a->kind != A_VALUE)
            steps[ns++] = (lepton_step){LEPTON_STEP_WRITE, a->buf, 0, a->host, a->size, NULL};
        if (phase == 2 && run_is_output(a))
            steps[ns++] = (lepton_step){LEPTON_STEP_READ, a->buf, 0, a->host, a->size, NULL};
    }
    if (phase == 1) steps[ns++] = (lepton_step){LEPTON_STEP_LAUNCH, NULL, 0, NULL, 0, launch};
    if (ns == 0) return 0;
    lepton_job job = LEPTON_JOB_INIT;
    job.steps = steps;
    job.step_count = ns;
    lepton_task *t = NULL;
    int rc, s = lepton_submit(l, &job, &t);
    if (s) {
        rc = cli_fail(s, names[phase], lepton_last_error());
    } else {
        rc = wait_task(t, deadline, names[phase], phase == 1 ? ro->kernel : NULL, ro->timeout_s);
        if (phase == 1) run_kernel_output(ro, l, t, rc, r);
    }
    lepton_task_free(t);
    return rc;
}

/* Uploads, launches, downloads: three jobs so that the kernel's own time is measured apart from
 * the transfers; transfers larger than one job carries go buffer by buffer. Records the times in
 * r. 0, or an exit code after a message. */
static int run_phases(const run_opts *ro, run_inputs *in, lepton_lease *l, const lepton_launch *launch,
                      double deadline, run_report *r) {
    lepton_step *steps = calloc(in->nargs + 1, sizeof *steps);
    if (!steps) return cli_fail(LEPTON_ENOMEM, "run", "out of memory");
    r->t_up0 = now_s();
    int big[3] = {in->up_bytes > RUN_JOB_BYTES, 0, in->down_bytes > RUN_JOB_BYTES};
    int rc = 0;
    for (int phase = 0; phase < 3; phase++) {
        rc = big[phase] ? run_phase_stream(in, phase)
                        : run_phase_job(ro, in, l, launch, phase, steps, deadline, r);
        if (rc) break;
        if (phase == 0) r->t_up1 = now_s();
        if (phase == 1) r->t_k1 = now_s();
        if (phase == 2) r->t_down1 = now_s();
    }
    free(steps);
    return rc;
}

/* Writes every output buffer to its file: 0, or CLI_EXIT_LOCAL when one could not be written
 * (the others are still written). */
static int run_write_outputs(const run_inputs *in) {
    int rc = 0;
    for (size_t i = 0; i < in->nargs; i++)
        if (run_is_output(&in->args[i]))
            if (cli_write_file(in->args[i].out_path, in->args[i].host, in->args[i].size)) rc = CLI_EXIT_LOCAL;
    return rc;
}

/* Everything done on the lease: loads the module, allocates the buffers, runs the phases and
 * writes the outputs; frees the module and the buffers again on every path. 0, or an exit code
 * after a message. */
static int run_on_lease(const run_opts *ro, run_inputs *in, lepton_lease *l, run_report *r) {
    lepton_module *m = NULL;
    double deadline = now_s() + ro->timeout_s;
    int rc, s = lepton_module_load(l, in->image, in->image_size, &m);
    if (s) {
        char what[600];
        snprintf(what, sizeof what, "run: loading %s", ro->ptx);
        rc = cli_fail(s, what, lepton_last_error());
    } else if (!(rc = run_buffers_alloc(l, in))) {
        lepton_launch launch = {m,
                                ro->kernel,
                                {ro->grid[0], ro->grid[1], ro->grid[2]},
                                {ro->block[0], ro->block[1], ro->block[2]},
                                ro->shared,
                                in->largs,
                                in->nargs};
        rc = run_phases(ro, in, l, &launch, deadline, r);
        if (!rc) rc = run_write_outputs(in);
    }
    lepton_module_free(m);
    for (size_t i = 0; i < in->nargs; i++)
        lepton_buffer_free(in->args[i].buf), in->args[i].buf = NULL;
    return rc;
}

/* The final bill of the closed lease into r (the handle is gone: ask the broker by id); r keeps
 * what it has when the broker does not answer. */
static void run_final_bill(const cli_global *g, run_report *r) {
    char path[128], err[512];
    json_t *ans = NULL;
    snprintf(path, sizeof path, "/v1/leases/%s", r->lease_id);
    if (cli_http(g, "GET", path, NULL, 0, &ans, err, sizeof err) == LEPTON_OK) {
        json_t *lj = json_object_get(ans, "lease");
        r->cost = json_number_value(json_object_get(lj, "cost"));
        r->gpu_seconds = (int64_t)json_integer_value(json_object_get(lj, "gpu_seconds"));
    }
    json_decref(ans);
}

/* Closes (or, attached, detaches) the lease l and reads its final bill into r: the status of the
 * close. */
static int run_lease_end(const cli_global *g, const run_opts *ro, lepton_lease *l,
                         const lepton_lease_info *li, run_report *r) {
    snprintf(r->lease_id, sizeof r->lease_id, "%s", li->id);
    /* under the lock: a signal now waits for this close, then finds no lease */
    pthread_mutex_lock(&sig_mu);
    int close_rc = ro->attach_id ? lepton_lease_detach(l) : lepton_lease_close(l);
    sig_lease[0] = '\0';
    pthread_mutex_unlock(&sig_mu);
    r->t_end = now_s();
    r->cost = li->cost;
    r->gpu_seconds = -1;
    if (*r->lease_id) run_final_bill(g, r);
    return close_rc;
}

/* The kernel's time: as the worker measured it, else as seen from here. */
static double run_kernel_ms(const run_report *r) {
    return r->kernel_ns ? (double)r->kernel_ns / 1e6 : (r->t_k1 - r->t_up1) * 1e3;
}

/* --json: the summary of a run that succeeded as one JSON object on stdout. */
static void run_print_json(const run_opts *ro, const run_inputs *in, const lepton_lease_info *li,
                           const run_report *r) {
    json_t *outs = json_array();
    for (size_t i = 0; i < in->nargs; i++)
        if (run_is_output(&in->args[i]))
            json_array_append_new(outs, json_pack("{s:s, s:I}", "file", in->args[i].out_path, "bytes",
                                                  (json_int_t)in->args[i].size));
    json_t *j = json_pack(
        "{s:s, s:s, s:s, s:i, s:f, s:s, s:[i,i,i], s:[i,i,i], s:{s:f, s:f, s:f, s:f, s:f}, s:I, s:I, "
        "s:f, s:I, s:o}",
        "lease", r->lease_id, "node", li->node, "gpu_model", li->gpu_model, "gpu_count", (int)li->gpu_count,
        "price_per_gpu_hour", li->price_per_gpu_hour, "kernel", ro->kernel, "grid", (int)ro->grid[0],
        (int)ro->grid[1], (int)ro->grid[2], "block", (int)ro->block[0], (int)ro->block[1], (int)ro->block[2],
        "timing_ms", "lease", (r->t_leased - r->t_start) * 1e3, "upload", (r->t_up1 - r->t_up0) * 1e3,
        "kernel", run_kernel_ms(r), "download", (r->t_down1 - r->t_k1) * 1e3, "total",
        (r->t_end - r->t_start) * 1e3, "bytes_up", (json_int_t)in->up_bytes, "bytes_down",
        (json_int_t)in->down_bytes, "cost", r->cost, "gpu_seconds", (json_int_t)r->gpu_seconds, "outputs",
        outs);
    if (j && ro->attach_id) json_object_set_new(j, "lease_state", json_string("active"));
    if (j) json_object_set_new(j, "output", json_stringn(r->kout[0] ? r->kout[0] : "", r->kout_len[0]));
    if (j)
        json_object_set_new(j, "output_stderr", json_stringn(r->kout[1] ? r->kout[1] : "", r->kout_len[1]));
    cli_print_json(j);
    json_decref(j);
}

/* The summary of a run that succeeded, for a person, on stdout. */
static void run_print_text(const run_opts *ro, const run_inputs *in, const lepton_lease_info *li,
                           const run_report *r) {
    char ub[32], db[32];
    cli_fmt_bytes(in->up_bytes, ub, sizeof ub);
    cli_fmt_bytes(in->down_bytes, db, sizeof db);
    printf("kernel %s<<<(%u,%u,%u), (%u,%u,%u)>>> on %s: %.3f ms\n", ro->kernel, ro->grid[0], ro->grid[1],
           ro->grid[2], ro->block[0], ro->block[1], ro->block[2], li->gpu_model, run_kernel_ms(r));
    printf("timing: lease %.1f ms, upload %s in %.1f ms, download %s in %.1f ms, total %.1f ms\n",
           (r->t_leased - r->t_start) * 1e3, ub, (r->t_up1 - r->t_up0) * 1e3, db,
           (r->t_down1 - r->t_k1) * 1e3, (r->t_end - r->t_start) * 1e3);
    for (size_t i = 0; i < in->nargs; i++)
        if (run_is_output(&in->args[i]))
            printf("wrote %s (%zu bytes)\n", in->args[i].out_path, in->args[i].size);
    char cb[48];
    cli_fmt_money(r->cost, cb, sizeof cb);
    printf(ro->attach_id ? "lease %s left running; cost so far %s" : "lease %s closed; cost %s", r->lease_id,
           cb);
    char pb[48];
    cli_fmt_money(li->price_per_gpu_hour, pb, sizeof pb);
    char gs[48];
    cli_fmt_gpu_seconds(r->gpu_seconds, gs, sizeof gs);
    if (r->gpu_seconds >= 0) printf(" (%s at %s per GPU-hour)", gs, pb);
    putchar('\n');
}

/* The run from the lease on: opens (or attaches to) the lease, runs on it, ends it and prints the
 * summary. 0, or an exit code after a message. */
static int run_on_client(const cli_global *g, run_opts *ro, run_inputs *in, lepton_client *c) {
    run_report r = {.t_start = now_s()};
    lepton_lease *l = NULL;
    int rc = run_lease_open(c, ro, &l);
    if (rc) return rc;
    r.t_leased = r.t_up0 = r.t_up1 = r.t_k1 = r.t_down1 = now_s();
    lepton_lease_info li = LEPTON_LEASE_INFO_INIT;
    lepton_lease_get_info(l, &li);
    signals_lease(li.id, ro->attach_id != NULL);
    if (!ro->json) run_say_lease(ro, &li);
    rc = run_on_lease(ro, in, l, &r);
    int close_rc = run_lease_end(g, ro, l, &li, &r);
    if (close_rc && close_rc != LEPTON_EEXPIRED && !rc)
        rc = cli_fail(close_rc, "run: closing the lease", lepton_last_error());
    if (rc == 0) {
        if (ro->json)
            run_print_json(ro, in, &li, &r);
        else
            run_print_text(ro, in, &li, &r);
    }
    free(r.kout[0]);
    free(r.kout[1]);
    return rc;
}

/* The run once the command line is known: local inputs first (a missing file must not cost a
 * lease), then the signal thread, the client and the lease. */
static int run_with_opts(const cli_global *g, run_opts *ro) {
    run_inputs in = {0};
    int rc = run_inputs_read(ro, &in);
    if (!rc) {
        signals_start(g); /* before liblepton starts any thread */
        lepton_client *c;
        if (!(rc = cli_client_open(g, &c))) {
            rc = run_on_client(g, ro, &in, c);
            lepton_client_close(c);
        }
    }
    run_inputs_free(&in);
    return rc;
}

int cmd_run(const cli_global *g, int argc, char **argv) {
    const char **rawargs = calloc((size_t)argc + 1, sizeof *rawargs);
    if (!rawargs) return cli_fail(LEPTON_ENOMEM, "run", "out of memory");
    run_opts ro;
    int rc = run_parse_flags(&ro, rawargs, argc, argv);
    if (rc == RUN_HELP)
        rc = 0;
    else if (rc == 0)
        rc = run_with_opts(g, &ro);
    free(rawargs);
    return rc;
}
