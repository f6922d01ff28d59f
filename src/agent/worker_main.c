/* worker_main.c — lepton-worker: started by leptond (fork/exec) for one GPU of one lease. Sets up
 * the CUDA context on the GPU named by its UUID, serves the data plane until SIGTERM, and exits
 * with LP_WORKER_EXIT_STICKY after a sticky CUDA error so that the agent replaces it.
 *
 *   lepton-worker --listen ADDR:PORT --lease ID --uuid GPU-UUID --state-dir DIR --key-fd N
 *                 [--node NAME] [--index I] [--cuda-library PATH] [--tls-cert FILE --tls-key FILE]
 *                 [--job-queue-bytes N]
 *   fd N: the lease key and the GPU's ended leases (token.h, lp_token_grant_read), read to its end
 *   and closed; the key is never in the command line or the environment.
 *   environment: LEPTON_WORKER_LINGER_MS = how long a poisoned worker answers 503 worker_restarting
 *                before it exits (default 300; tests raise it to observe those answers) */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "lepton/lepton.h"
#include "log.h"
#include "prom.h"
#include "port.h"
#include "rand.h"
#include "strutil.h"
#include "worker.h"

static const char USAGE[] =
    "usage: lepton-worker --listen ADDR:PORT --lease ID --uuid GPU-UUID --state-dir DIR --key-fd N\n"
    "                     [--node NAME] [--index I] [--cuda-library PATH] [--tls-cert FILE --tls-key FILE]\n"
    "                     [--job-queue-bytes N]\n"
    "Serves one leased GPU's data plane (docs/dataplane.md) over HTTP, or HTTPS with --tls-cert and\n"
    "--tls-key (PEM files). Started by leptond, which writes the lease's key on the pipe --key-fd\n"
    "names: \"key <64 hex digits>\\n\", then \"ended <lease id>\\n\" for leases of the GPU that ended.\n"
    "--job-queue-bytes bounds the bytes of job requests held for jobs not yet run (default\n"
    "268435456 = 256 MiB); past it a job is answered 503 queue_full.\n"
    "Its log level is $LEPTON_LOG_LEVEL (error, warn, info, debug), which leptond sets from its own.\n";

static int parse_args(lp_worker *w, int argc, char **argv) {
    int key_fd = -1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help")) {
            fputs(USAGE, stdout);
            exit(0);
        }
        if (!strcmp(a, "--version")) {
            printf("lepton-worker %s\n", LEPTON_VERSION_STRING);
            exit(0);
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "lepton-worker: %s needs a value\n%s", a, USAGE);
            return -1;
        }
        const char *v = argv[++i];
        char *dst = NULL;
        size_t n = 0;
        if (!strcmp(a, "--listen"))
            dst = w->listen, n = sizeof w->listen;
        else if (!strcmp(a, "--lease"))
            dst = w->lease, n = sizeof w->lease;
        else if (!strcmp(a, "--node"))
            dst = w->node, n = sizeof w->node;
        else if (!strcmp(a, "--uuid"))
            dst = w->uuid, n = sizeof w->uuid;
        else if (!strcmp(a, "--state-dir"))
            dst = w->state_dir, n = sizeof w->state_dir;
        else if (!strcmp(a, "--cuda-library"))
            dst = w->cuda_path, n = sizeof w->cuda_path;
        else if (!strcmp(a, "--tls-cert"))
            dst = w->tls_cert, n = sizeof w->tls_cert;
        else if (!strcmp(a, "--tls-key"))
            dst = w->tls_key, n = sizeof w->tls_key;
        else if (!strcmp(a, "--key-fd")) {
            char *end;
            long x = strtol(v, &end, 10);
            if (*end || x < 0 || x > 65535) {
                fprintf(stderr, "lepton-worker: --key-fd '%s' is not a file descriptor\n", v);
                return -1;
            }
            key_fd = (int)x;
            continue;
        } else if (!strcmp(a, "--job-queue-bytes")) {
            char *end;
            errno = 0;
            unsigned long long x = strtoull(v, &end, 10);
            if (*end || !*v || errno || x < 65536 || x > (1ull << 40) || *v == '-') {
                fprintf(stderr, "lepton-worker: --job-queue-bytes '%s' is not a byte count in 65536..2^40\n",
                        v);
                return -1;
            }
            w->queue_limit = x;
            continue;
        } else if (!strcmp(a, "--index")) {
            char *end;
            long x = strtol(v, &end, 10);
            if (*end || x < 0 || x > 1023) {
                fprintf(stderr, "lepton-worker: --index '%s' is not 0..1023\n", v);
                return -1;
            }
            w->index = (int)x;
            continue;
        } else {
            fprintf(stderr, "lepton-worker: unknown option %s\n%s", a, USAGE);
            return -1;
        }
        if (strlen(v) >= n) {
            fprintf(stderr, "lepton-worker: %s is too long\n", a);
            return -1;
        }
        snprintf(dst, n, "%s", v);
    }
    if (!w->listen[0] || !w->lease[0] || !w->uuid[0] || !w->state_dir[0]) {
        fprintf(stderr, "lepton-worker: --listen, --lease, --uuid and --state-dir are required\n%s", USAGE);
        return -1;
    }
    if (!w->tls_cert[0] != !w->tls_key[0]) {
        fprintf(stderr, "lepton-worker: --tls-cert and --tls-key go together (HTTPS needs both)\n");
        return -1;
    }
    char err[300];
    if (key_fd < 0) {
        fprintf(stderr, "lepton-worker: --key-fd is required (the pipe leptond writes the lease key on)\n%s",
                USAGE);
        return -1;
    }
    int krc = lp_token_grant_read(&w->scope, key_fd, err, sizeof err);
    close(key_fd);
    if (krc != 0) {
        fprintf(stderr, "lepton-worker: %s\n", err);
        return -1;
    }
    w->scope.lease = w->lease;
    w->scope.node = w->node[0] ? w->node : NULL;
    w->scope.uuid = w->uuid;
    return 0;
}

/* Finds the device with our UUID and makes its primary context current. */
static int cuda_setup(lp_worker *w, char *err, size_t en) {
    if (lp_cuda_open(&w->cu, w->cuda_path[0] ? w->cuda_path : NULL, err, en) != 0) return -1;
    lp_gpu_desc *g = NULL;
    int n = 0;
    if (lp_cuda_list_gpus(&w->cu, &g, &n, err, en) != 0) return -1;
    int found = -1;
    for (int i = 0; i < n; i++)
        if (!strcmp(g[i].uuid, w->uuid)) {
            found = i;
            snprintf(w->gpu_name, sizeof w->gpu_name, "%s", g[i].name);
            w->memory_total = g[i].memory;
        }
    free(g);
    if (found < 0) {
        snprintf(err, en, "no GPU with UUID %.64s among the %d this driver (%.200s) shows", w->uuid, n,
                 w->cu.path);
        return -1;
    }
    char nb[64];
    lp_cu_result r = w->cu.cuDeviceGet(&w->dev, found);
    if (r == LP_CUDA_SUCCESS) r = w->cu.cuDevicePrimaryCtxRetain(&w->ctx, w->dev);
    if (r == LP_CUDA_SUCCESS) r = w->cu.cuCtxSetCurrent(w->ctx);
    if (r != LP_CUDA_SUCCESS) {
        snprintf(err, en, "cannot create a CUDA context on %s: %s", w->uuid,
                 lp_cuda_error_name(&w->cu, r, nb, sizeof nb));
        return -1;
    }
    return 0;
}

int main(int argc, char **argv) {
    static lp_worker w; /* large; and signal-safe to reach */
    w.journal_fd = w.seq_fd = -1;
    lp_log_set_prefix("worker");
    if (parse_args(&w, argc, argv) != 0) return LP_WORKER_EXIT_USAGE;
    char lerr[200]; /* the level is leptond's, passed down as $LEPTON_LOG_LEVEL */
    if (lp_log_check_env(lerr, sizeof lerr) != 0) {
        fprintf(stderr, "lepton-worker: %s\n", lerr);
        return LP_WORKER_EXIT_USAGE;
    }
    wk_output_open(&w); /* after the usage text: from here on stdout is the kernels' printf */
    static char prefix[160];
    snprintf(prefix, sizeof prefix, "worker %s", w.node[0] ? w.node : "-"); /* every line names the node */
    lp_log_set_prefix(prefix);
    /* end with the agent, whatever way it goes */
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);
    pthread_mutex_init(&w.mu, NULL);
    pthread_mutex_init(&w.mod_mu, NULL);
    pthread_mutex_init(&w.job_mu, NULL);
    if (!w.queue_limit) w.queue_limit = WK_QUEUE_DEFAULT;
    w.spin_ns = (int64_t)lp_env_long("LEPTON_WORKER_SPIN_US", 50, 0, 10000) * 1000;
    w.hold_ns = (int64_t)lp_env_long("LEPTON_WORKER_HOLD_US", WK_HOLD_US, 0, 10000) * 1000;
    uint64_t inst = 0;
    if (lp_random_bytes(&inst, sizeof inst) != 0) inst = (uint64_t)lp_mono_ns() ^ ((uint64_t)getpid() << 32);
    w.instance = (int64_t)(inst >> 1) | 1; /* > 0 */

    char err[600];
    int64_t t0 = lp_mono_ms();
    if (cuda_setup(&w, err, sizeof err) != 0 || wk_state_open(&w, err, sizeof err) != 0) {
        lp_log(LP_LOG_ERROR, "lease %s gpu %s: %s", w.lease, w.uuid, err);
        return LP_WORKER_EXIT_START;
    }
    if (lp_listen_available(w.listen, err, sizeof err) != 0) {
        lp_log(LP_LOG_ERROR, "lease %s gpu %s: cannot serve: %s", w.lease, w.uuid, err);
        return LP_WORKER_EXIT_START;
    }
    lp_http_config hc = {.listen = w.listen,
                         .max_body = 65536,
                         .max_connections = 512,
                         .log_name = "worker",
                         .tls_cert_file = w.tls_cert,
                         .tls_key_file = w.tls_key};
    snprintf(err, sizeof err, "cannot register the routes");
    int rc = lp_http_server_new(&hc, &w.http, err, sizeof err);
    /* bigger upload chunks; 1 MiB slows every request */
    if (rc == 0) lp_http_server_set_conn_memory(w.http, 256u << 10);
    if (rc != 0 || wk_http_routes(&w, w.http) != 0 || wk_jobs_route(&w, w.http) != 0 ||
        wk_stream_route(&w, w.http) != 0 || (rc = lp_http_server_start(w.http, err, sizeof err)) != 0) {
        lp_log(LP_LOG_ERROR, "lease %s gpu %s: cannot serve on %s: %s", w.lease, w.uuid, w.listen, err);
        lp_http_server_free(w.http);
        lp_prom_http_free(w.http_metrics);
        return rc == LP_HTTP_ETLS ? LP_WORKER_EXIT_TLS : LP_WORKER_EXIT_START;
    }
    lp_log(LP_LOG_INFO, "lease %s gpu %s (%s, index %d): worker %d serving on %s://%s, ready in %lld ms",
           w.lease, w.uuid, w.gpu_name, w.index, (int)getpid(), w.tls_cert[0] ? "https" : "http", w.listen,
           (long long)(lp_mono_ms() - t0));

    const char *lg = getenv("LEPTON_WORKER_LINGER_MS");
    long linger_ms = lg && *lg ? strtol(lg, NULL, 10) : 300;
    if (linger_ms < 0 || linger_ms > 60000) linger_ms = 300;
    int code = LP_WORKER_EXIT_OK;
    for (;;) {
        struct timespec ts = {0, 100 * 1000 * 1000};
        int sig = sigtimedwait(&sigs, NULL, &ts);
        if (sig == SIGTERM || sig == SIGINT) {
            lp_log(LP_LOG_INFO, "lease %s gpu %s: worker stopping (signal %d)", w.lease, w.uuid, sig);
            break;
        }
        if (wk_is_poisoned(&w)) {
            /* let the answers of the failed jobs go out before the process ends; meanwhile
             * every request is answered 503 worker_restarting */
            lp_sleep_ms(linger_ms);
            code = LP_WORKER_EXIT_STICKY;
            break;
        }
    }
    wk_jobs_stop(&w);
    /* A kernel that is still running (a spin, a long job) would hold the shutdown up: the lease
     * is over, so end the process; the driver frees its memory and context when it exits. */
    for (int i = 0; i < 20 && __atomic_load_n(&w.running, __ATOMIC_ACQUIRE); i++)
        lp_sleep_ms(10);
    if (__atomic_load_n(&w.running, __ATOMIC_ACQUIRE)) {
        lp_log(LP_LOG_INFO,
               "lease %s gpu %s: a job is still running; ending the worker without waiting for it", w.lease,
               w.uuid);
        _exit(code);
    }
    lp_http_server_free(w.http);
    lp_prom_http_free(w.http_metrics);
    wk_jobs_free(&w);
    if (code == LP_WORKER_EXIT_STICKY) {
        /* the context is unusable: the driver frees everything when the process ends */
        _exit(code);
    }
    wk_state_close(&w);
    if (wk_bind(&w) == 0) w.cu.cuCtxSynchronize();
    w.cu.cuDevicePrimaryCtxRelease(w.dev);
    lp_log(LP_LOG_INFO, "lease %s gpu %s: worker ended, device memory freed", w.lease, w.uuid);
    return code;
}
