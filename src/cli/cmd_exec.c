/* cmd_exec.c — `lepton exec`: run an unmodified CUDA program with a lease's GPUs as its devices.
 * Opens a lease (with a keepalive, renewed by liblepton while the program runs) or attaches to one
 * (--lease), starts PROGRAM with the remote driver's directory first in LD_LIBRARY_PATH and the
 * lease named in LEPTON_REMOTE_LEASE (the remote driver attaches to it at cuInit), forwards the
 * signals sent to lepton, reaps PROGRAM, then closes the lease it opened (printing its cost) or
 * detaches from the one it attached. Exit status: PROGRAM's (docs/exec.md). */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

extern char **environ;

const char cli_help_exec[] =
    "usage: lepton exec [--gpus N] [--gpu-model M] [--min-memory X] [--max-price P] [--max-cost C]\n"
    "                   [--ttl S] [--wait S] [--keepalive S] [--lease ID] -- PROGRAM [ARGS...]\n"
    "\n"
    "Runs an unmodified CUDA program with the GPUs of a lease as its devices: PROGRAM finds the\n"
    "remote driver (a libcuda.so.1 that sends every CUDA call to the lease's GPUs) first in\n"
    "LD_LIBRARY_PATH. Without --lease, leases the GPUs first and closes the lease when PROGRAM ends\n"
    "(or is killed), printing its cost on stderr. stdin, stdout and stderr are PROGRAM's.\n"
    "\n"
    "options:\n"
    "  --gpus N          GPUs on one node (default 1)\n"
    "  --gpu-model M     a GPU whose model name contains M, e.g. H100\n"
    "  --min-memory X    memory per GPU, e.g. 40G\n"
    "  --max-price P     at most P USD per GPU-hour\n"
    "  --max-cost C      end the lease when it has cost C USD\n"
    "  --ttl S           the lease ends by itself after S seconds (default 3600)\n"
    "  --wait S          wait up to S seconds for free GPUs (default 0: answer now)\n"
    "  --keepalive S     the broker ends the lease S seconds after lepton stops renewing it, e.g.\n"
    "                    when it is killed (default 30; 0 = none: it runs to its TTL)\n"
    "  --labels K=V,...  free-form labels kept with the lease\n"
    "  --lease ID        use this lease of yours instead (e.g. from `lepton lease open`); it is\n"
    "                    left running afterwards and no cost is printed\n"
    "\n"
    "PROGRAM gets LEPTON_REMOTE_LEASE=<lease id>, LEPTON_ENDPOINT, LEPTON_TOKEN (and LEPTON_CA_FILE)\n"
    "and LD_LIBRARY_PATH=<driver dir>:$LD_LIBRARY_PATH; on emulated GPUs (the CPU driver, which\n"
    "runs PTX only) also CUPY_COMPILE_WITH_PTX=1 unless it is set. The driver dir is\n"
    "$LEPTON_REMOTE_LIBDIR if set, else the build tree's remote/ when lepton runs from its build\n"
    "tree, else <libdir>/lepton/remote. SIGINT, SIGTERM, SIGHUP and SIGQUIT sent to lepton are\n"
    "passed on to PROGRAM (those a terminal sends reach PROGRAM directly). docs/exec.md has the\n"
    "details.\n"
    "\n"
    "exit status: PROGRAM's; 128+N when it died of signal N; 127 when it could not be run;\n"
    "             2 bad command line; 1 the remote driver is missing; else -lepton_status of the\n"
    "             failed lease call (5 no capacity, 7 the lease has ended, 13 no such lease, ...)\n"
    "\n"
    "examples:\n"
    "  lepton exec --gpus 2 -- ./my_cuda_app --size 4096\n"
    "  ID=$(lepton lease open --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[\"id\"])')\n"
    "  lepton exec --lease \"$ID\" -- python3 train.py\n";

/* The signals passed on to PROGRAM. */
static const int FORWARDED[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT};
#define NFORWARDED (sizeof FORWARDED / sizeof FORWARDED[0])

/* The directory of this executable (no trailing slash); -1 when unknown. */
static int exe_dir(char *out, size_t n) {
    char self[1024];
    ssize_t k = readlink("/proc/self/exe", self, sizeof self - 1);
    if (k <= 0) return -1;
    self[k] = 0;
    char *slash = strrchr(self, '/');
    if (!slash || (size_t)(slash - self) >= n) return -1;
    *slash = 0;
    memcpy(out, self, (size_t)(slash - self) + 1);
    return 0;
}

/* The remote driver's directory (docs/exec.md): $LEPTON_REMOTE_LIBDIR; then this lepton's own:
 * the build tree's remote/ for the build tree's lepton (its directory is LEPTON_CLI_BUILD_DIR, after
 * realpath()), else <bindir>/LEPTON_BIN_TO_LIBDIR/lepton/remote found from this executable (a
 * moved installation uses its own); then the install location compiled in. Returns 0 with dir set
 * when DIR/libcuda.so.1 exists, else prints why and returns -1. */
static int find_remote_dir(char *dir, size_t n) {
    const char *env = getenv("LEPTON_REMOTE_LIBDIR");
    char self[1024] = "";
    int have_self = exe_dir(self, sizeof self) == 0;
    if (env && *env) {
        snprintf(dir, n, "%s", env);
    } else {
        char a[PATH_MAX], b[PATH_MAX], path[1200];
        if (have_self && realpath(self, a) && realpath(LEPTON_CLI_BUILD_DIR, b) && !strcmp(a, b))
            snprintf(dir, n, "%s", LEPTON_REMOTE_BUILD_DIR);
        else if (have_self)
            snprintf(dir, n, "%s/%s/lepton/remote", self, LEPTON_BIN_TO_LIBDIR);
        else
            snprintf(dir, n, "%s", LEPTON_REMOTE_INSTALL_DIR);
        snprintf(path, sizeof path, "%s/libcuda.so.1", dir);
        if (access(path, R_OK) != 0)
            snprintf(dir, n, "%s", LEPTON_REMOTE_INSTALL_DIR);
        else if (realpath(dir, a) && strlen(a) < n)
            memcpy(dir, a, strlen(a) + 1);
    }
    size_t len = strlen(dir);
    while (len > 1 && dir[len - 1] == '/')
        dir[--len] = '\0';
    char path[1200];
    snprintf(path, sizeof path, "%s/libcuda.so.1", dir);
    if (access(path, R_OK) != 0) {
        fprintf(stderr, "lepton exec: the remote driver is not at %s (set LEPTON_REMOTE_LIBDIR)\n", path);
        return -1;
    }
    return 0;
}

/* 1 when `prog` names an executable file, directly (with a '/') or through $PATH, as execvp
 * would find it: checked before a lease is opened, so a typo costs nothing. */
static int program_found(const char *prog) {
    if (strchr(prog, '/')) return access(prog, X_OK) == 0;
    const char *path = getenv("PATH");
    if (!path || !*path) path = "/bin:/usr/bin";
    for (const char *p = path;; p++) {
        const char *end = strchr(p, ':');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        char full[4096];
        if (snprintf(full, sizeof full, "%.*s%s%s", (int)n, n ? p : ".", "/", prog) < (int)sizeof full &&
            access(full, X_OK) == 0)
            return 1;
        if (!end) return 0;
        p = end;
    }
}

/* PROGRAM's environment: lepton's, with the variables of `set` (NAME=VALUE) replacing those of the
 * same names and those named in `unset` left out. NULL when out of memory; free with env_free. */
static char **env_build(char *const *set, size_t nset, const char *const *unset, size_t nunset) {
    size_t n = 0;
    while (environ[n])
        n++;
    char **env = calloc(n + nset + 1, sizeof *env);
    if (!env) return NULL;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        const char *e = environ[i];
        const char *eq = strchr(e, '=');
        size_t nl = eq ? (size_t)(eq - e) : strlen(e);
        int drop = 0;
        for (size_t j = 0; j < nset && !drop; j++)
            drop = !strncmp(set[j], e, nl) && set[j][nl] == '=';
        for (size_t j = 0; j < nunset && !drop; j++)
            drop = strlen(unset[j]) == nl && !strncmp(unset[j], e, nl);
        if (!drop) env[k++] = (char *)e;
    }
    for (size_t j = 0; j < nset; j++)
        env[k++] = set[j];
    env[k] = NULL;
    return env;
}

/* "NAME=VALUE", malloc'd (NULL when out of memory). */
static char *env_pair(const char *name, const char *value) {
    size_t n = strlen(name) + strlen(value) + 2;
    char *p = malloc(n);
    if (p) snprintf(p, n, "%s=%s", name, value);
    return p;
}

/* Starts PROGRAM with env, with the default signal dispositions and an empty mask. Returns its
 * pid, or -1 after printing why it could not be run. */
static pid_t spawn(char **argv, char **env) {
    posix_spawnattr_t at;
    if (posix_spawnattr_init(&at) != 0) {
        fprintf(stderr, "lepton exec: cannot run %s: out of memory\n", argv[0]);
        return -1;
    }
    sigset_t none, dfl;
    sigemptyset(&none);
    sigemptyset(&dfl);
    for (size_t i = 0; i < NFORWARDED; i++)
        sigaddset(&dfl, FORWARDED[i]);
    sigaddset(&dfl, SIGPIPE); /* lepton ignores it; PROGRAM must not inherit that */
    posix_spawnattr_setsigmask(&at, &none);
    posix_spawnattr_setsigdefault(&at, &dfl);
    posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    pid_t pid = -1;
    int err = posix_spawnp(&pid, argv[0], NULL, &at, argv, env);
    posix_spawnattr_destroy(&at);
    if (err) {
        fprintf(stderr, "lepton exec: cannot run %s: %s\n", argv[0], strerror(err));
        return -1;
    }
    return pid;
}

/* The exit status that reflects PROGRAM's wait status. */
static int exit_status_of(int status) {
    if (WIFEXITED(status)) return WEXITSTATUS(status);
    if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
    return 1;
}

/* ---- signals: one thread takes SIGINT, SIGTERM, SIGHUP and SIGQUIT (blocked in every other
 * thread, liblepton's included) for the whole command ---- */
static pthread_mutex_t sig_mu = PTHREAD_MUTEX_INITIALIZER;
static sigset_t sig_set;
static const cli_global *sig_g;
static pid_t sig_child;    /* PROGRAM, once started (under sig_mu) */
static int sig_child_done; /* PROGRAM has ended (under sig_mu) */
static char sig_lease[64]; /* the lease lepton opened, once open ("" when none or attached) */

/* Before PROGRAM runs, a signal stops lepton: the lease it opened is closed by id over REST (the
 * main thread may be inside a liblepton call) and lepton exits 128 + signal. While PROGRAM runs,
 * a signal is passed on to it, unless the kernel sent it (a terminal's Ctrl-C, Ctrl-\ or hang-up):
 * that one reached PROGRAM already, which is in lepton's process group. */
static void *signal_main(void *arg) {
    (void)arg;
    for (;;) {
        siginfo_t si;
        int sig = sigwaitinfo(&sig_set, &si);
        if (sig <= 0) continue;
        pthread_mutex_lock(&sig_mu);
        if (sig_child > 0) {
            if (!sig_child_done && si.si_code != SI_KERNEL) kill(sig_child, sig);
            pthread_mutex_unlock(&sig_mu);
            continue;
        }
        /* held to the end: PROGRAM cannot start meanwhile */
        if (*sig_lease) {
            char path[128], err[1024];
            json_t *ans = NULL;
            snprintf(path, sizeof path, "/v1/leases/%s/close", sig_lease);
            int rc = cli_http(sig_g, "POST", path, NULL, 10000, &ans, err, sizeof err);
            fprintf(stderr, "lepton exec: %s before the program started: lease %s %s\n", strsignal(sig),
                    sig_lease,
                    rc == LEPTON_OK         ? "closed"
                    : rc == LEPTON_EEXPIRED ? "had already ended"
                                            : "not closed (its keepalive or TTL ends it)");
            json_decref(ans);
        } else {
            fprintf(stderr, "lepton exec: %s before the program started: stopping\n", strsignal(sig));
        }
        fflush(NULL);
        _exit(128 + sig);
    }
    return NULL;
}

/* Blocks the forwarded signals in this thread (and the threads it starts later) and starts the
 * thread that takes them. */
static void signals_start(const cli_global *g) {
    sig_g = g;
    sigemptyset(&sig_set);
    for (size_t i = 0; i < NFORWARDED; i++)
        sigaddset(&sig_set, FORWARDED[i]);
    pthread_sigmask(SIG_BLOCK, &sig_set, NULL);
    pthread_t t;
    if (pthread_create(&t, NULL, signal_main, NULL) == 0) pthread_detach(t);
}

/* Starts PROGRAM under the signal lock (a signal then finds either no PROGRAM and stops lepton
 * before it starts, or PROGRAM running) and waits for it. Returns the exit status for it. */
static int run_program(char **argv, char **env) {
    pthread_mutex_lock(&sig_mu);
    pid_t pid = spawn(argv, env);
    sig_child = pid;
    pthread_mutex_unlock(&sig_mu);
    if (pid < 0) return 127;
    int status = 0;
    pid_t r;
    while ((r = waitpid(pid, &status, 0)) < 0 && errno == EINTR) {
    }
    pthread_mutex_lock(&sig_mu);
    sig_child_done = 1; /* reaped: its pid may be reused, no signal goes there any more */
    pthread_mutex_unlock(&sig_mu);
    if (r < 0) {
        fprintf(stderr, "lepton exec: waiting for %s (pid %d): %s\n", argv[0], (int)pid, strerror(errno));
        return 1;
    }
    return exit_status_of(status);
}

/* Closes the lease lepton opened and prints its bill:
 * "lepton exec: lease ID closed: S s, N GPUs at $P per GPU-hour = $C" (money and GPU-hours said the
 * way every verb says them). */
static void close_and_bill(const cli_global *g, lepton_lease *l, const lepton_lease_info *li) {
    int rc = lepton_lease_close(l);
    char close_err[1024];
    snprintf(close_err, sizeof close_err, "%s", lepton_last_error());
    /* the final bill of the lease (the handle is gone: ask the broker by id) */
    char path[128], err[512];
    json_t *ans = NULL;
    snprintf(path, sizeof path, "/v1/leases/%s", li->id);
    int got = cli_http(g, "GET", path, NULL, 0, &ans, err, sizeof err) == LEPTON_OK;
    json_t *lj = json_object_get(ans, "lease");
    double cost = got ? json_number_value(json_object_get(lj, "cost")) : li->cost;
    long long secs = got ? (long long)json_integer_value(json_object_get(lj, "billed_seconds")) : -1;
    const char *state = got ? json_string_value(json_object_get(lj, "state")) : NULL;
    const char *why = got ? json_string_value(json_object_get(lj, "end_reason")) : NULL;
    char price[48], total[48];
    cli_fmt_money(li->price_per_gpu_hour, price, sizeof price);
    cli_fmt_money(cost, total, sizeof total);
    char head[1400];
    if (rc == LEPTON_OK)
        snprintf(head, sizeof head, "lease %s closed", li->id);
    else if (rc == LEPTON_EEXPIRED)
        snprintf(head, sizeof head, "lease %s had already ended (%s)", li->id,
                 why     ? why
                 : state ? state
                         : "ended");
    else
        snprintf(head, sizeof head, "lease %s: close failed (%s: %s); its keepalive or TTL ends it, so far",
                 li->id, lepton_status_name(rc), close_err);
    if (secs >= 0)
        fprintf(stderr, "lepton exec: %s: %lld s, %u GPU%s at %s per GPU-hour = %s\n", head, secs,
                li->gpu_count, li->gpu_count == 1 ? "" : "s", price, total);
    else
        fprintf(
            stderr,
            "lepton exec: %s: %u GPU%s at %s per GPU-hour = %s (the broker did not give its seconds: %s)\n",
            head, li->gpu_count, li->gpu_count == 1 ? "" : "s", price, total, err);
    json_decref(ans);
}

/* Whether the lease's GPUs are the CPU driver's (cudaemu behind the workers): the broker knows a
 * GPU by its model name only, and cudaemu names its devices "Lepton CPU Device" unless told
 * otherwise, which `lepton dev` does as "Lepton CPU Device (emulated)". */
static int gpus_emulated(const lepton_lease_info *li) {
    static const char CPU_DEVICE[] = "Lepton CPU Device";
    return strstr(li->gpu_model, "(emulated)") != NULL ||
           strncmp(li->gpu_model, CPU_DEVICE, sizeof CPU_DEVICE - 1) == 0;
}

/* The command line of `lepton exec`. */
typedef struct exec_opts {
    lepton_lease_request req;
    uint32_t wait_s;      /* --wait: seconds for cli_lease_open_waiting */
    const char *lease_id; /* --lease, or NULL */
    char **prog;          /* PROGRAM [ARGS...], NULL-terminated (in argv) */
} exec_opts;

/* exec_parse_flags' answer after printing --help. */
#define EXEC_HELP (-1)

/* Parses the command line into x: 0, EXEC_HELP after printing the help, or CLI_EXIT_USAGE after a
 * message. */
static int exec_parse_flags(exec_opts *x, int argc, char **argv) {
    *x = (exec_opts){.req = LEPTON_LEASE_REQUEST_INIT, .wait_s = CLI_DEFAULT_WAIT_S};
    x->req.ttl_seconds = CLI_DEFAULT_TTL_S;
    x->req.keepalive_seconds = CLI_HOLDER_KEEPALIVE_S;
    cli_opts o;
    cli_opts_init(&o, "exec", argc, argv);
    const char *req_flag = NULL, *pos, *v;
    int k;
    while ((k = cli_opt_next(&o, &pos))) {
        if (k == 2) { /* PROGRAM: it and everything after it are the command */
            x->prog = argv + o.i - 1;
            break;
        }
        if (cli_opt_is(&o, "--help")) {
            fputs(cli_help_exec, stdout);
            return EXEC_HELP;
        }
        const char *flag = o.flag;
        int r = cli_lease_request_flag(&o, &x->req, &x->wait_s);
        if (r == CLI_REQ_BAD) return CLI_EXIT_USAGE;
        if (r == 1) {
            if (!req_flag && strcmp(flag, "--keepalive") != 0) req_flag = flag;
            continue;
        }
        if (cli_opt_is(&o, "--lease")) {
            if (!(v = cli_opt_value(&o))) return CLI_EXIT_USAGE;
            x->lease_id = v;
            continue;
        }
        return cli_usage_error("exec", "unknown flag '%s' (the program comes after --)", o.flag);
    }
    if (!x->prog || !*x->prog[0])
        return cli_usage_error("exec", "missing PROGRAM: lepton exec [options] -- PROGRAM [ARGS...]");
    if (x->lease_id && req_flag)
        return cli_usage_error("exec",
                               "%s shapes a new lease; with --lease %s the program uses that lease as it is",
                               req_flag, x->lease_id);
    return 0;
}

/* Attaches to --lease or opens a new lease (waiting up to --wait): 0 with *l set, or an exit code
 * after a message. */
static int exec_lease_open(lepton_client *c, exec_opts *x, lepton_lease **l) {
    return cli_lease_get(c, "exec", x->lease_id, &x->req, x->wait_s, l);
}

/* Runs PROGRAM with its environment: the remote driver's directory dir first in LD_LIBRARY_PATH,
 * the lease li named, the broker settings of g (unset where g has none). Returns PROGRAM's exit
 * status (exit_status_of), or CLI_EXIT_LOCAL when the environment could not be built. */
static int exec_program(const cli_global *g, const char *dir, const lepton_lease_info *li, char **prog) {
    const char *old_path = getenv("LD_LIBRARY_PATH");
    char *ld = NULL;
    size_t ldn = strlen(dir) + (old_path ? strlen(old_path) : 0) + 2;
    if ((ld = malloc(ldn)))
        snprintf(ld, ldn, "%s%s%s", dir, old_path && *old_path ? ":" : "", old_path ? old_path : "");
    const char *token = cli_token(g), *ca = cli_ca_file(g);
    char *set_vars[6];
    size_t nset = 0;
    set_vars[nset++] = env_pair("LEPTON_REMOTE_LEASE", li->id);
    set_vars[nset++] = ld ? env_pair("LD_LIBRARY_PATH", ld) : NULL;
    set_vars[nset++] = env_pair("LEPTON_ENDPOINT", cli_endpoint(g));
    const char *unset_vars[2];
    size_t nunset = 0;
    if (token)
        set_vars[nset++] = env_pair("LEPTON_TOKEN", token);
    else
        unset_vars[nunset++] = "LEPTON_TOKEN";
    if (ca)
        set_vars[nset++] = env_pair("LEPTON_CA_FILE", ca);
    else
        unset_vars[nunset++] = "LEPTON_CA_FILE";
    /* an emulated GPU runs PTX only, while CuPy asks NVRTC for machine code unless told otherwise */
    if (gpus_emulated(li) && !getenv("CUPY_COMPILE_WITH_PTX"))
        set_vars[nset++] = env_pair("CUPY_COMPILE_WITH_PTX", "1");
    free(ld);
    int oom = 0;
    for (size_t i = 0; i < nset; i++)
        oom |= set_vars[i] == NULL;
    char **env = oom ? NULL : env_build(set_vars, nset, unset_vars, nunset);

    int status_code;
    if (!env) {
        fprintf(stderr, "lepton exec: out of memory\n");
        status_code = CLI_EXIT_LOCAL;
    } else {
        fflush(NULL);
        status_code = run_program(prog, env);
    }
    free(env);
    for (size_t i = 0; i < nset; i++)
        free(set_vars[i]);
    return status_code;
}

int cmd_exec(const cli_global *g, int argc, char **argv) {
    exec_opts x;
    int rc = exec_parse_flags(&x, argc, argv);
    if (rc) return rc == EXEC_HELP ? 0 : rc;

    /* local checks first: a missing driver or program must not cost a lease */
    char dir[1024];
    if (find_remote_dir(dir, sizeof dir)) return CLI_EXIT_LOCAL;
    if (!program_found(x.prog[0])) {
        fprintf(stderr, "lepton exec: cannot run %s: %s\n", x.prog[0],
                strchr(x.prog[0], '/') ? strerror(errno) : "not found in $PATH");
        return 127;
    }

    signals_start(g); /* before liblepton starts any thread */
    lepton_client *c = NULL;
    if ((rc = cli_client_open(g, &c))) return rc;
    lepton_lease *l = NULL;
    if ((rc = exec_lease_open(c, &x, &l))) {
        lepton_client_close(c);
        return rc;
    }
    lepton_lease_info li = LEPTON_LEASE_INFO_INIT;
    int info_rc = lepton_lease_get_info(l, &li);
    if (!x.lease_id) {
        pthread_mutex_lock(&sig_mu);
        snprintf(sig_lease, sizeof sig_lease, "%s", li.id);
        pthread_mutex_unlock(&sig_mu);
    }
    if (info_rc) { /* the id is needed by PROGRAM: without it there is nothing to run on */
        rc = cli_fail(info_rc, "exec: lease info", lepton_last_error());
        if (x.lease_id)
            lepton_lease_detach(l);
        else
            lepton_lease_close(l);
        lepton_client_close(c);
        return rc;
    }

    int status_code = exec_program(g, dir, &li, x.prog);
    if (x.lease_id)
        lepton_lease_detach(l);
    else
        close_and_bill(g, l, &li);
    lepton_client_close(c);
    fflush(NULL);
    return status_code;
}
