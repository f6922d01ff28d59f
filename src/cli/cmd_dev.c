/* cmd_dev.c — `lepton dev`: the broker and a node agent in this one process on loopback, with an
 * embedded SQLite store in a data directory, a dev tenant that requests without a token act as,
 * and the local GPUs — or, where there are none, the CPU CUDA driver (cudaemu) with N emulated
 * GPUs, said loudly. Ctrl-C / SIGTERM ends every active lease (billed), stops every worker and
 * exits 0. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent.h"
#include "broker.h"
#include "cli.h"
#include "clock.h"
#include "cuda_api.h"
#include "log.h"
#include "sha256.h"
#include "store.h"

#define DEV_TENANT "dev"
#define DEV_NODE "dev"

const char cli_help_dev[] =
    "usage: lepton dev [--port 7700] [--emulate N] [--price USD] [--data DIR] [--log-level LEVEL]\n"
    "\n"
    "Runs a broker and a node agent in this process, on loopback only, for development:\n"
    "  - the broker on 127.0.0.1:PORT with its SQLite store in DIR (default $XDG_DATA_HOME/lepton,\n"
    "    else ~/.local/share/lepton); usage history survives restarts on the same DIR;\n"
    "  - requests without a token act as the dev tenant \"dev\"; a dev token is printed too;\n"
    "  - the agent on 127.0.0.1:PORT+10, its lease workers on PORT+11, PORT+12, ...;\n"
    "  - this machine's GPUs through libcuda.so.1 when it loads and shows devices; otherwise (or\n"
    "    with --emulate N) the CPU CUDA driver with N emulated GPUs (default 2), said loudly.\n"
    "Ctrl-C or SIGTERM ends (and bills) every active lease, stops every worker and exits 0.\n"
    "\n"
    "  --port PORT    broker port (default 7700)\n"
    "  --emulate N    use the CPU driver with N emulated GPUs even where GPUs exist (1 to 16)\n"
    "  --price USD    price per GPU-hour of the dev node (default 1.00)\n"
    "  --data DIR     data directory (store, tokens, agent state)\n"
    "  --log-level L  error | warn | info | debug (default $LEPTON_LOG_LEVEL, else info)\n"
    "\n"
    "environment: LEPTON_CUDAEMU_LIBRARY (the CPU driver to use), LEPTON_CUDA_LIBRARY (the GPU\n"
    "driver), LEPTON_WORKER (the lepton-worker executable), LEPTON_LOG_LEVEL\n"
    "\n"
    "example:\n"
    "  lepton dev --emulate 2 --data /tmp/lepton-dev &\n"
    "  lepton quote && lepton usage\n";

static int mkdirs(const char *path) {
    char buf[1024];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/') continue;
        *p = 0;
        if (mkdir(buf, 0700) != 0 && errno != EEXIST) return -1;
        *p = '/';
    }
    if (mkdir(buf, 0700) != 0 && errno != EEXIST) return -1;
    return 0;
}

static int exe_dir(char *out, size_t n) {
    char self[1024];
    ssize_t k = readlink("/proc/self/exe", self, sizeof self - 1);
    if (k <= 0) return -1;
    self[k] = 0;
    char *slash = strrchr(self, '/');
    if (!slash) return -1;
    *slash = 0;
    if ((size_t)(slash - self) >= n) return -1;
    memcpy(out, self, (size_t)(slash - self) + 1);
    return 0;
}

/* 1 when DIR (this executable's directory) is the build tree's src/cli: only then are the build
 * tree's CPU driver and worker this lepton's own. Compared after realpath(), so a build directory
 * reached through a symbolic link still counts, and an installation under the build directory does
 * not. */
static int is_build_tree(const char *dir) {
    char a[PATH_MAX], b[PATH_MAX];
    return realpath(dir, a) && realpath(LEPTON_CLI_BUILD_DIR, b) && !strcmp(a, b);
}

/* The first readable (or, with want_exec, executable) path of cand[0..nc) into out, normalised
 * with realpath() so that the agent's log names it plainly; 0, or -1 when none is. */
static int first_present(const char *const *cand, size_t nc, int want_exec, char *out, size_t n) {
    for (size_t i = 0; i < nc; i++) {
        if (access(cand[i], want_exec ? X_OK : R_OK) != 0) continue;
        char real[PATH_MAX];
        const char *path = realpath(cand[i], real) ? real : cand[i];
        if ((size_t)snprintf(out, n, "%s", path) >= n) continue; /* too long to pass on: skip it */
        return 0;
    }
    return -1;
}

/* The CPU driver: $LEPTON_CUDAEMU_LIBRARY; then this lepton's own: the build tree's for the build
 * tree's lepton, else <bindir>/LEPTON_BIN_TO_LIBDIR/lepton/libcuda.so.1 found from this executable
 * (an installation moved elsewhere uses its own driver, never the build tree's); then the
 * install location compiled in. */
static int find_cudaemu(char *out, size_t n) {
    const char *env = getenv("LEPTON_CUDAEMU_LIBRARY");
    if (env && *env) {
        if (access(env, R_OK) != 0) {
            cli_err("LEPTON_CUDAEMU_LIBRARY=%s: %s", env, strerror(errno));
            return -1;
        }
        snprintf(out, n, "%s", env);
        return 0;
    }
    char dir[900], own[1100];
    const char *cand[2] = {NULL, NULL};
    size_t nc = 0;
    if (exe_dir(dir, sizeof dir) == 0) {
        if (is_build_tree(dir))
            snprintf(own, sizeof own, "%s", LEPTON_CUDAEMU_BUILD_PATH);
        else
            snprintf(own, sizeof own, "%s/%s/lepton/libcuda.so.1", dir, LEPTON_BIN_TO_LIBDIR);
        cand[nc++] = own;
    }
    cand[nc++] = LEPTON_CUDAEMU_INSTALL_PATH;
    if (first_present(cand, nc, 0, out, n) == 0) return 0;
    cli_err("cannot find the CPU CUDA driver (tried %s%s%s); set "
            "LEPTON_CUDAEMU_LIBRARY=/path/to/cudaemu/libcuda.so.1",
            cand[0], nc > 1 ? " and " : "", nc > 1 ? cand[1] : "");
    return -1;
}

/* lepton-worker: $LEPTON_WORKER; next to this executable (an installation); the build tree's for
 * the build tree's lepton. */
static int find_worker(char *out, size_t n) {
    const char *env = getenv("LEPTON_WORKER");
    if (env && *env) {
        snprintf(out, n, "%s", env);
        return 0;
    }
    char dir[900], own[1100];
    const char *cand[2] = {NULL, NULL};
    size_t nc = 0;
    if (exe_dir(dir, sizeof dir) == 0) {
        snprintf(own, sizeof own, "%s/lepton-worker", dir);
        cand[nc++] = own;
        if (is_build_tree(dir)) cand[nc++] = LEPTON_WORKER_BUILD_PATH;
    }
    if (first_present(cand, nc, 1, out, n) == 0) return 0;
    cli_err("cannot find lepton-worker next to lepton%s; set LEPTON_WORKER=/path/to/lepton-worker",
            nc ? "" : " (/proc/self/exe is unreadable)");
    return -1;
}

/* Counts the GPUs of the real driver in a child process, so that a driver that crashes or hangs
 * cannot take `lepton dev` along and none stays loaded here. Returns the count (0 when none or no
 * driver) and the first GPU's name. */
typedef struct probe_answer {
    int count;
    char name[256];
    char err[256];
} probe_answer;

static int probe_gpus(char *model, size_t mn, char *why, size_t wn) {
    int fds[2];
    *model = *why = 0;
    if (pipe(fds) != 0) return 0;
    pid_t pid = fork();
    if (pid < 0) {
        close(fds[0]);
        close(fds[1]);
        return 0;
    }
    if (pid == 0) {
        close(fds[0]);
        probe_answer r = {0, "", ""};
        lp_cuda cu;
        char err[600] = "";
        if (lp_cuda_open(&cu, NULL, err, sizeof err) == 0) {
            lp_gpu_desc *g = NULL;
            int count = 0;
            if (lp_cuda_list_gpus(&cu, &g, &count, err, sizeof err) == 0 && count > 0) {
                r.count = count;
                snprintf(r.name, sizeof r.name, "%.255s", g[0].name);
            }
            free(g);
        }
        snprintf(r.err, sizeof r.err, "%.255s", err);
        ssize_t w = write(fds[1], &r, sizeof r);
        _exit(w == (ssize_t)sizeof r ? 0 : 1);
    }
    close(fds[1]);
    probe_answer r = {0, "", ""};
    struct pollfd p = {fds[0], POLLIN, 0};
    int count = 0;
    if (poll(&p, 1, 20000) == 1 && read(fds[0], &r, sizeof r) == (ssize_t)sizeof r) {
        count = r.count;
        r.name[sizeof r.name - 1] = r.err[sizeof r.err - 1] = 0;
        snprintf(model, mn, "%s", r.name);
        snprintf(why, wn, "%s", r.err);
    } else {
        kill(pid, SIGKILL);
        snprintf(why, wn, "the CUDA driver did not answer within 20 s");
    }
    close(fds[0]);
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {
    }
    return count;
}

/* A token kept in DIR/NAME (mode 0600) and reused while the store still knows it; else a new one. */
static int dev_token(const char *dir, const char *file, const char *db, int is_node, char *tok, size_t tn) {
    char path[1100], err[1024];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    FILE *f = fopen(path, "r");
    if (f) {
        char buf[256] = "";
        if (fgets(buf, sizeof buf, f)) {
            buf[strcspn(buf, "\r\n")] = 0;
            lp_store *s;
            lp_err e = {0};
            if (*buf && lp_store_open(db, &s, &e) == 0) {
                char hash[65];
                lp_principal who;
                lp_sha256_hex(buf, strlen(buf), hash);
                int ok = s->ops->token_lookup(s, hash, &who, &e) == 0 && who.is_node == is_node &&
                         !strcmp(who.tenant, DEV_TENANT);
                lp_store_close(s);
                if (ok) {
                    fclose(f);
                    snprintf(tok, tn, "%s", buf);
                    return 0;
                }
            }
        }
        fclose(f);
    }
    if (lp_broker_token_create(db, DEV_TENANT, is_node, tok, tn, err, sizeof err) != 0) {
        cli_err("dev: cannot create a token in %s: %s", db, err);
        return -1;
    }
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd >= 0) {
        FILE *w = fdopen(fd, "w");
        if (w) {
            fprintf(w, "%s\n", tok);
            fclose(w);
        } else {
            close(fd);
        }
    }
    return 0;
}

/* Ends every active lease, of every tenant, through the store: the lease is billed up to now. */
static void end_all_leases(const char *db) {
    lp_store *s;
    lp_err e = {0};
    if (lp_store_open(db, &s, &e) != 0) {
        cli_err("dev: cannot open %s to end the leases: %s (they end when the agent deregisters)", db,
                e.message);
        return;
    }
    lp_node_list nl = {0};
    if (s->ops->node_list(s, &nl, &e) == 0) {
        for (size_t i = 0; i < nl.n; i++)
            for (size_t k = 0; k < nl.v[i].gpu_count; k++) {
                const char *id = nl.v[i].gpus[k].lease_id;
                if (!*id) continue;
                lp_lease l;
                memset(&l, 0, sizeof l);
                lp_err le = {0};
                if (s->ops->lease_end(s, NULL, id, LS_CLOSED, "closed by lepton dev shutting down",
                                      lp_wall_ms(), &l, &le) == 0)
                    printf("lepton dev: lease %s of tenant %s ended and billed\n", l.id, l.tenant);
                lp_lease_clear(&l);
            }
    }
    lp_node_list_clear(&nl);
    lp_store_close(s);
    fflush(stdout);
}

/* What answers on the broker port: 2 a `lepton dev` (a Lepton broker that answers without a token),
 * 1 another Lepton broker, 0 none or something else. */
static int dev_port_probe(uint32_t port) {
    char url[64], e2[256];
    snprintf(url, sizeof url, "http://127.0.0.1:%u", port);
    cli_global probe = {url, NULL, NULL, NULL, NULL, NULL};
    json_t *ans = NULL;
    int lepton = cli_http(&probe, "GET", "/healthz", NULL, 2000, &ans, e2, sizeof e2) == LEPTON_OK &&
                 json_string_value(json_object_get(ans, "version")) != NULL;
    json_decref(ans);
    ans = NULL;
    int dev = lepton && cli_http(&probe, "GET", "/v1/nodes", NULL, 2000, &ans, e2, sizeof e2) == LEPTON_OK;
    json_decref(ans);
    return dev ? 2 : lepton;
}

/* Says why `lepton dev` could not start (what: "the broker on 127.0.0.1:7700", err: the socket's
 * words); when the port answers like a Lepton broker, says so and what to do from here: another
 * `lepton dev` is the likely one. */
static void dev_start_failed(const char *what, uint32_t port, const char *err) {
    int who = dev_port_probe(port);
    if (who == 2)
        cli_err("dev: another `lepton dev` is already running on 127.0.0.1:%u (port in use): use it (export "
                "LEPTON_ENDPOINT=http://127.0.0.1:%u), stop it, or start this one with --port N",
                port, port);
    else if (who == 1)
        cli_err("dev: a Lepton broker is already running on 127.0.0.1:%u (port in use): stop it, or start "
                "this one with --port N",
                port);
    else
        cli_err("dev: cannot start %s: %s%s", what, err,
                strstr(err, "in use") ? "; another program has the port: start this one with --port N" : "");
}

typedef struct agent_thread {
    lp_agent *agent;
    int rc;
    int done; /* atomic */
} agent_thread;

static void *agent_main(void *p) {
    agent_thread *t = p;
    t->rc = lp_agent_run(t->agent);
    __atomic_store_n(&t->done, 1, __ATOMIC_RELEASE);
    return NULL;
}

/* Waits until the dev node is registered and ready: 0; -1 when the agent gave up or took too long;
 * 1 when a stop signal came first. */
static int wait_ready(const cli_global *g, agent_thread *t, const sigset_t *sigs, int *ngpus) {
    int64_t until = lp_mono_ms() + 30000;
    while (lp_mono_ms() < until && !__atomic_load_n(&t->done, __ATOMIC_ACQUIRE)) {
        struct timespec zero = {0, 0};
        if (sigtimedwait(sigs, NULL, &zero) > 0) return 1;
        json_t *ans = NULL;
        char err[512];
        if (cli_http(g, "GET", "/v1/nodes", NULL, 2000, &ans, err, sizeof err) == LEPTON_OK) {
            size_t i;
            json_t *n;
            json_array_foreach(json_object_get(ans, "nodes"), i, n) {
                const char *name = json_string_value(json_object_get(n, "name"));
                const char *st = json_string_value(json_object_get(n, "state"));
                if (name && st && !strcmp(name, DEV_NODE) && !strcmp(st, "ready")) {
                    *ngpus = (int)json_integer_value(json_object_get(n, "gpus_total"));
                    json_decref(ans);
                    return 0;
                }
            }
        }
        json_decref(ans);
        lp_sleep_ms(50);
    }
    return -1;
}

/* ---- the steps of `lepton dev` ---- */

/* The command line of `lepton dev`. */
typedef struct dev_opts {
    uint32_t port, emulate; /* emulate: --emulate N; 0: the real GPUs where there are some */
    int log_level;          /* --log-level; -1: $LEPTON_LOG_LEVEL, else info */
    double price;
    const char *data; /* --data, or NULL */
} dev_opts;

/* The paths and tokens that the broker and the agent are started with. */
typedef struct dev_env {
    char dir[1024], db[1100], state[1100];
    char cuda_lib[1024]; /* the CPU driver, "" for the real one */
    char worker[1024];
    char token[256], node_token[256];
} dev_env;

/* The broker and the agent (on its own thread) while they run. */
typedef struct dev_server {
    char broker_url[64], agent_listen[64], listen[64];
    lp_agent *agent;
    lp_broker *broker;
    agent_thread at;
    pthread_t th;
} dev_server;

/* dev_parse_flags' answer after printing --help. */
#define DEV_HELP (-1)

/* Parses the command line into d: 0, DEV_HELP after printing the help, or CLI_EXIT_USAGE after a
 * message. */
static int dev_parse_flags(dev_opts *d, int argc, char **argv) {
    *d = (dev_opts){.port = 7700, .emulate = 0, .log_level = -1, .price = 1.0, .data = NULL};
    cli_opts o;
    cli_opts_init(&o, "dev", argc, argv);
    const char *v, *pos;
    int k;
    while ((k = cli_opt_next(&o, &pos))) {
        if (k == 2) return cli_usage_error("dev", "unexpected argument '%s'", pos);
        if (cli_opt_is(&o, "--help")) {
            fputs(cli_help_dev, stdout);
            return DEV_HELP;
        }
        if (!cli_opt_is(&o, "--port") && !cli_opt_is(&o, "--emulate") && !cli_opt_is(&o, "--price") &&
            !cli_opt_is(&o, "--data") && !cli_opt_is(&o, "--log-level"))
            return cli_usage_error("dev", "unknown flag '%s'", o.flag);
        if (!(v = cli_opt_value(&o))) return CLI_EXIT_USAGE;
        if (cli_opt_is(&o, "--port")) {
            if (cli_parse_u32("dev", "--port", v, 1, 65400, &d->port)) return CLI_EXIT_USAGE;
        } else if (cli_opt_is(&o, "--emulate")) {
            if (cli_parse_u32("dev", "--emulate", v, 1, 16, &d->emulate)) return CLI_EXIT_USAGE;
        } else if (cli_opt_is(&o, "--price")) {
            if (cli_parse_money("dev", "--price", v, &d->price)) return CLI_EXIT_USAGE;
        } else if (cli_opt_is(&o, "--log-level")) {
            if ((d->log_level = lp_log_parse_level(v)) < 0)
                return cli_usage_error("dev", "--log-level: '%s' is not one of error, warn, info, debug", v);
        } else {
            if (!*v) return cli_usage_error("dev", "--data: empty directory name");
            d->data = v;
        }
    }
    return 0;
}

/* Applies --log-level (also to the workers) or checks $LEPTON_LOG_LEVEL, and refuses the global
 * flags that are for the other verbs: 0, or CLI_EXIT_USAGE after a message. */
static int dev_settings(const cli_global *gl, const dev_opts *d) {
    char lerr[200];
    if (d->log_level >= 0) {
        lp_log_set_level(d->log_level);
        static char env[40]; /* the workers log at the same level (they read the environment) */
        snprintf(env, sizeof env, "%s", (const char *[]){"error", "warn", "info", "debug"}[d->log_level]);
        setenv("LEPTON_LOG_LEVEL", env, 1);
    } else if (lp_log_check_env(lerr, sizeof lerr) != 0) {
        return cli_usage_error("dev", "%s (or give --log-level)", lerr);
    }
    if (gl->endpoint || gl->token || gl->ca_file)
        return cli_usage_error(
            "dev", "--endpoint, --token and --ca-file are for the other commands (dev serves --port)");
    return 0;
}

/* The data directory (--data, else under $XDG_DATA_HOME or ~/.local/share), created, and the
 * store's and the agent's paths in it: 0, or an exit code after a message. */
static int dev_data_dir(const char *data, dev_env *e) {
    const char *xdg = getenv("XDG_DATA_HOME"), *home = getenv("HOME");
    if (data)
        snprintf(e->dir, sizeof e->dir, "%s", data);
    else if (xdg && *xdg)
        snprintf(e->dir, sizeof e->dir, "%s/lepton", xdg);
    else if (home && *home)
        snprintf(e->dir, sizeof e->dir, "%s/.local/share/lepton", home);
    else
        return cli_usage_error("dev",
                               "no data directory: give --data DIR (neither XDG_DATA_HOME nor HOME is set)");
    if (mkdirs(e->dir) != 0) {
        cli_err("dev: cannot create the data directory %s: %s", e->dir, strerror(errno));
        return CLI_EXIT_LOCAL;
    }
    snprintf(e->db, sizeof e->db, "%s/lepton.db", e->dir);
    snprintf(e->state, sizeof e->state, "%s/agent", e->dir);
    return 0;
}

/* The GPUs: this machine's unless --emulate, else (or where there are none) the CPU driver with
 * N emulated GPUs (e->cuda_lib set), said loudly. 0, or CLI_EXIT_LOCAL after a message. */
static int dev_gpus(uint32_t emulate, dev_env *e) {
    char model[256], why[256] = "";
    int real = 0;
    if (!emulate) {
        real = probe_gpus(model, sizeof model, why, sizeof why);
        if (!real) emulate = 2;
    }
    if (emulate) {
        if (find_cudaemu(e->cuda_lib, sizeof e->cuda_lib)) return CLI_EXIT_LOCAL;
        char devs[2048] = "";
        for (uint32_t i = 0; i < emulate; i++) {
            size_t len = strlen(devs);
            snprintf(devs + len, sizeof devs - len, "%sLepton CPU Device (emulated):16G", i ? ";" : "");
        }
        setenv("CUDAEMU_DEVICES", devs, 1);
        static const char *const banner =
            "*** NO GPU: running CUDA on the CPU driver (cudaemu) with %u emulated GPU%s ***\n";
        printf(banner, emulate, emulate == 1 ? "" : "s");
        fprintf(stderr, banner, emulate, emulate == 1 ? "" : "s");
        printf("*** kernels run on the CPU here: results are real, timings are not GPU timings ***\n");
        if (real == 0 && *why) printf("lepton dev: (no GPU driver: %s)\n", why);
    } else {
        printf("lepton dev: %d GPU%s through the CUDA driver (%s%s)\n", real, real == 1 ? "" : "s", model,
               real > 1 ? ", ..." : "");
    }
    fflush(stdout);
    return 0;
}

/* Everything the broker and the agent need before they start: the data directory, the GPUs, the
 * worker and the tokens (the dev tenant's, printed later, and the embedded node's). 0, or an exit
 * code after a message. */
static int dev_prepare(const dev_opts *d, dev_env *e) {
    int rc = dev_data_dir(d->data, e);
    if (rc) return rc;
    if ((rc = dev_gpus(d->emulate, e))) return rc;
    if (find_worker(e->worker, sizeof e->worker)) return CLI_EXIT_LOCAL;
    if (dev_token(e->dir, "dev-token", e->db, 0, e->token, sizeof e->token) ||
        dev_token(e->dir, "node-token", e->db, 1, e->node_token, sizeof e->node_token))
        return CLI_EXIT_LOCAL;
    return 0;
}

/* Creates the embedded node agent (s->agent) with the settings its command line would give:
 * 0, or CLI_EXIT_LOCAL after a message. */
static int dev_agent_new(const dev_opts *d, dev_env *e, dev_server *s) {
    char price_s[64], err[1024];
    snprintf(price_s, sizeof price_s, "%.6f", d->price);
    char *aargv[] = {"lepton-dev",  "--broker", s->broker_url,   "--token",
                     e->node_token, "--listen", s->agent_listen, "--price",
                     price_s,       "--name",   DEV_NODE,        "--state-dir",
                     e->state,      "--worker", e->worker,       e->cuda_lib[0] ? "--cuda-library" : NULL,
                     e->cuda_lib,   NULL};
    int aargc = e->cuda_lib[0] ? 17 : 15;
    lp_agent_config acfg;
    if (lp_agent_config_parse(&acfg, aargc, aargv, err, sizeof err) != 0) {
        cli_err("dev: agent settings: %s", err);
        return CLI_EXIT_LOCAL;
    }
    acfg.embedded = 1;
    if (lp_agent_new(&acfg, &s->agent, err, sizeof err) != 0) {
        dev_start_failed("the node agent", d->port, err);
        return CLI_EXIT_LOCAL;
    }
    return 0;
}

/* Starts the agent (on its own thread) and the broker on loopback: 0 with both running, or
 * CLI_EXIT_LOCAL after a message with neither. */
static int dev_start(const dev_opts *d, dev_env *e, dev_server *s) {
    char err[1024];
    snprintf(s->broker_url, sizeof s->broker_url, "http://127.0.0.1:%u", d->port);
    snprintf(s->agent_listen, sizeof s->agent_listen, "127.0.0.1:%u", d->port + 10);
    int rc = dev_agent_new(d, e, s);
    if (rc) return rc;
    snprintf(s->listen, sizeof s->listen, "127.0.0.1:%u", d->port);
    lp_broker_config bcfg = {0};
    bcfg.listen = s->listen;
    bcfg.db = e->db;
    bcfg.dev_tenant = DEV_TENANT;
    if (lp_broker_start(&bcfg, &s->broker, err, sizeof err) != 0) {
        char what[96];
        snprintf(what, sizeof what, "the broker on %s", s->listen);
        dev_start_failed(what, d->port, err);
        lp_agent_free(s->agent);
        return CLI_EXIT_LOCAL;
    }
    s->at = (agent_thread){s->agent, 0, 0};
    if (pthread_create(&s->th, NULL, agent_main, &s->at) != 0) {
        cli_err("dev: cannot start the agent thread");
        lp_agent_free(s->agent);
        lp_broker_stop(s->broker);
        return CLI_EXIT_LOCAL;
    }
    return 0;
}

/* Says on stdout where everything is, once the node is ready. */
static void dev_say_ready(const dev_opts *d, const dev_env *e, const dev_server *s, int ngpus) {
    printf("lepton dev: broker   %s  (store %s)\n", s->broker_url, e->db);
    char pricefmt[48];
    cli_fmt_money(d->price, pricefmt, sizeof pricefmt);
    printf("lepton dev: node     %s: %d GPU%s at %s per GPU-hour, agent on %s\n", DEV_NODE, ngpus,
           ngpus == 1 ? "" : "s", pricefmt, s->agent_listen);
    printf("lepton dev: token    %s  (optional here: requests without one act as tenant \"%s\")\n", e->token,
           DEV_TENANT);
    printf("lepton dev: env      export LEPTON_ENDPOINT=%s LEPTON_TOKEN=%s\n", s->broker_url, e->token);
    printf("lepton dev: try      lepton run --ptx examples/kernels/saxpy.ptx --kernel saxpy --grid 4 "
           "--block 256 "
           "u32:1024 f32:2.0 in:x.bin inout:y.bin\n");
    printf("lepton dev: ready; Ctrl-C stops it (every lease is ended and billed)\n");
    fflush(stdout);
}

/* Serves until SIGINT or SIGTERM (0) or until the agent stops on its own (CLI_EXIT_LOCAL). */
static int dev_wait_stop(const dev_server *s, const sigset_t *sigs) {
    for (;;) {
        struct timespec ts = {0, 200 * 1000 * 1000};
        int sig = sigtimedwait(sigs, NULL, &ts);
        if (sig == SIGINT || sig == SIGTERM) {
            printf("lepton dev: %s: ending the leases and stopping\n", sig == SIGINT ? "SIGINT" : "SIGTERM");
            fflush(stdout);
            return 0;
        }
        if (__atomic_load_n(&s->at.done, __ATOMIC_ACQUIRE)) {
            cli_err("dev: the node agent stopped (see the log above)");
            return CLI_EXIT_LOCAL;
        }
    }
}

/* Waits for the node to be ready, says so and serves until a stop signal: 0, or CLI_EXIT_LOCAL
 * when the agent did not come up or stopped. */
static int dev_serve(const dev_opts *d, const dev_env *e, dev_server *s, const sigset_t *sigs) {
    cli_global g = {s->broker_url, NULL, NULL, NULL, NULL, NULL};
    int ngpus = 0;
    int ready = wait_ready(&g, &s->at, sigs, &ngpus);
    if (ready < 0) {
        cli_err("dev: the node agent did not come up (see the log above)");
        return CLI_EXIT_LOCAL;
    }
    if (ready > 0) {
        printf("lepton dev: stopped before it was ready\n");
        return 0;
    }
    dev_say_ready(d, e, s, ngpus);
    return dev_wait_stop(s, sigs);
}

/* Stops what dev_start started: leases first (billed to now), then the agent (its workers end and
 * are reaped), then the broker. */
static void dev_stop(dev_server *s, const char *db) {
    end_all_leases(db);
    lp_agent_stop(s->agent);
    pthread_join(s->th, NULL);
    lp_agent_free(s->agent);
    end_all_leases(db); /* one granted while stopping ended failed at deregistration; nothing left */
    lp_broker_stop(s->broker);
    printf("lepton dev: stopped\n");
    fflush(stdout);
}

int cmd_dev(const cli_global *gl, int argc, char **argv) {
    dev_opts d;
    int rc = dev_parse_flags(&d, argc, argv);
    if (rc) return rc == DEV_HELP ? 0 : rc;
    if ((rc = dev_settings(gl, &d))) return rc;
    dev_env e = {0};
    if ((rc = dev_prepare(&d, &e))) return rc;

    /* signals: taken by this thread only, after every other thread has them blocked */
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    lp_log_set_prefix("lepton dev");

    dev_server s = {0};
    if ((rc = dev_start(&d, &e, &s))) return rc;
    rc = dev_serve(&d, &e, &s, &sigs);
    dev_stop(&s, e.db);
    return rc;
}
