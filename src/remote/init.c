/* init.c — the remote driver's start and end: cuInit reads the environment (docs/remote.md),
 * opens a liblepton client and attaches to LEPTON_REMOTE_LEASE or opens a lease of its own; a
 * destructor at process exit flushes every device's queue (bounded), then detaches or closes the
 * lease. Also the driver-wide answers: cuDriverGetVersion, cuGetErrorName/String,
 * cuGetProcAddress, cuGetExportTable (refused), logging and the error mapping helpers. */
#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cudaProfiler.h>

#include "cu_errors.h"
#include "export_tables.h"
#include "lepton/lepton.h"
#include "wire_job.h"
#include "proc_gen.h"
#include "remote.h"
#include "module.h"

rm_state g_rm = {.mu = PTHREAD_MUTEX_INITIALIZER};

static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static CUresult g_init_rc = CUDA_ERROR_NOT_INITIALIZED;
static atomic_int g_inited; /* read by every call on any thread; cleared by the exit destructor */

/* How long process exit waits for work still queued or running (a lost lease must not hang it). */
#define RM_EXIT_WAIT_MS 10000

/* LEPTON_LOG_LEVEL=debug, read once, also before cuInit (a refused call may come first). */
static pthread_once_t g_debug_once = PTHREAD_ONCE_INIT;
static void read_debug(void) {
    const char *lvl = getenv("LEPTON_LOG_LEVEL");
    g_rm.debug = lvl && strcasecmp(lvl, "debug") == 0;
}

static int debug_on(void) {
    pthread_once(&g_debug_once, read_debug);
    return g_rm.debug;
}

void rm_debug(const char *fmt, ...) {
    if (!debug_on()) return;
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    fprintf(stderr, "lepton-remote: %s\n", line);
}

void rm_refused(const char *name, const char *why) {
    if (debug_on())
        fprintf(stderr, "lepton-remote: %s: not supported by the remote driver (%s)\n", name, why);
}

CUresult rm_from_lepton(int st, const char *what) {
    const char *msg = lepton_last_error();
    switch (st) {
    case LEPTON_OK:
        return CUDA_SUCCESS;
    case LEPTON_ENOMEM:
        return CUDA_ERROR_OUT_OF_MEMORY;
    case LEPTON_EINVAL:
    case LEPTON_ETOOLARGE:
        rm_debug("%s: %s", what, msg);
        return CUDA_ERROR_INVALID_VALUE;
    case LEPTON_ENOTFOUND:
        rm_debug("%s: %s", what, msg);
        return CUDA_ERROR_NOT_FOUND;
    case LEPTON_ECUDA:
        rm_debug("%s: %s", what, msg);
        return rm_error_from_text(msg, CUDA_ERROR_UNKNOWN);
    case LEPTON_ENODELOST:
    case LEPTON_EEXPIRED:
    case LEPTON_ENET:
        fprintf(stderr, "lepton-remote: %s: the lease or its worker was lost (%s: %s)\n", what,
                lepton_status_name(st), msg);
        return CUDA_ERROR_DEVICE_UNAVAILABLE;
    default:
        rm_debug("%s: %s: %s", what, lepton_status_name(st), msg);
        return CUDA_ERROR_UNKNOWN;
    }
}

/* ---- the environment ---- */

static int env_flag(const char *name) {
    const char *v = getenv(name);
    return v && v[0] && strcmp(v, "0") != 0;
}

/* A byte count with an optional K/M/G/T suffix (powers of 1024). */
static int env_bytes(const char *name, uint64_t *out) {
    const char *v = getenv(name);
    if (!v || !v[0]) return 0;
    char *end;
    double d = strtod(v, &end);
    while (*end == ' ')
        end++;
    double mul = 1;
    switch (toupper((unsigned char)*end)) {
    case 'K':
        mul = 1024.0;
        break;
    case 'M':
        mul = 1024.0 * 1024;
        break;
    case 'G':
        mul = 1024.0 * 1024 * 1024;
        break;
    case 'T':
        mul = 1024.0 * 1024 * 1024 * 1024;
        break;
    case 0:
        break;
    default:
        return -1;
    }
    if (d < 0) return -1;
    *out = (uint64_t)(d * mul);
    return 0;
}

static int env_num(const char *name, double *out) {
    const char *v = getenv(name);
    if (!v || !v[0]) return 0;
    char *end;
    *out = strtod(v, &end);
    if (*end || !isfinite(*out) || *out < 0) return -1;
    return 1;
}

static CUresult init_fail(CUresult rc, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static CUresult init_fail(CUresult rc, const char *fmt, ...) {
    char line[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    fprintf(stderr, "lepton-remote: cuInit: %s\n", line);
    return rc;
}

static CUresult lease_status(int st, const char *what) {
    CUresult rc = (st == LEPTON_ENOCAPACITY || st == LEPTON_ENET || st == LEPTON_EBUDGET ||
                   st == LEPTON_EEXPIRED || st == LEPTON_ENOTFOUND || st == LEPTON_EAUTH)
                      ? CUDA_ERROR_NO_DEVICE
                      : CUDA_ERROR_NOT_INITIALIZED;
    return init_fail(rc, "%s: %s: %s", what, lepton_status_name(st), lepton_last_error());
}

static CUresult open_lease(void) {
    const char *id = getenv("LEPTON_REMOTE_LEASE");
    int st;
    if (id && id[0]) {
        st = lepton_lease_attach(g_rm.client, id, &g_rm.lease);
        if (st != LEPTON_OK) return lease_status(st, "attaching to LEPTON_REMOTE_LEASE");
        g_rm.owns_lease = 0;
        return CUDA_SUCCESS;
    }
    lepton_lease_request req = LEPTON_LEASE_REQUEST_INIT;
    double d = 0;
    uint64_t mem = 0;
    int r;
    if ((r = env_num("LEPTON_REMOTE_GPUS", &d)) < 0 || (r > 0 && (d < 1 || d > 64)))
        return init_fail(CUDA_ERROR_NOT_INITIALIZED, "LEPTON_REMOTE_GPUS=%s is not a GPU count (1..64)",
                         getenv("LEPTON_REMOTE_GPUS"));
    if (r > 0) req.gpu_count = (uint32_t)d;
    req.gpu_model = getenv("LEPTON_REMOTE_GPU_MODEL");
    if (req.gpu_model && !req.gpu_model[0]) req.gpu_model = NULL;
    if (env_bytes("LEPTON_REMOTE_MIN_MEMORY", &mem) < 0)
        return init_fail(CUDA_ERROR_NOT_INITIALIZED,
                         "LEPTON_REMOTE_MIN_MEMORY=%s is not a byte count (e.g. 40G)",
                         getenv("LEPTON_REMOTE_MIN_MEMORY"));
    req.min_gpu_memory = mem;
    if ((r = env_num("LEPTON_REMOTE_MAX_PRICE", &d)) < 0)
        return init_fail(CUDA_ERROR_NOT_INITIALIZED,
                         "LEPTON_REMOTE_MAX_PRICE is not a price in USD per GPU-hour");
    if (r > 0) req.max_price_per_gpu_hour = d;
    if ((r = env_num("LEPTON_REMOTE_MAX_COST", &d)) < 0)
        return init_fail(CUDA_ERROR_NOT_INITIALIZED, "LEPTON_REMOTE_MAX_COST is not an amount in USD");
    if (r > 0) req.max_cost = d;
    if ((r = env_num("LEPTON_REMOTE_TTL", &d)) < 0 ||
        (r > 0 && d > 2592000)) /* (d is the last set one's when unset) */
        return init_fail(CUDA_ERROR_NOT_INITIALIZED, "LEPTON_REMOTE_TTL is not a number of seconds");
    if (r > 0) req.ttl_seconds = (uint32_t)d;
    if ((r = env_num("LEPTON_REMOTE_WAIT", &d)) < 0 || (r > 0 && d > 86400))
        return init_fail(CUDA_ERROR_NOT_INITIALIZED, "LEPTON_REMOTE_WAIT is not a number of seconds");
    if (r > 0) req.wait_ms = (int32_t)(d * 1000);
    req.keepalive_seconds = 30;
    req.labels = "client=lepton-remote";
    st = lepton_lease_open(g_rm.client, &req, &g_rm.lease);
    if (st != LEPTON_OK) return lease_status(st, "opening a lease");
    g_rm.owns_lease = 1;
    return CUDA_SUCCESS;
}

/* Closes the lease the driver opened, or detaches from the one it attached to; then the client. */
static void end_lease(void) {
    if (g_rm.owns_lease)
        lepton_lease_close(g_rm.lease);
    else
        lepton_lease_detach(g_rm.lease);
    g_rm.lease = NULL;
    lepton_client_close(g_rm.client);
    g_rm.client = NULL;
}

static CUresult do_init(void) {
    debug_on();
    g_rm.forward = env_flag("LEPTON_REMOTE_FORWARD");
    g_rm.stats = env_flag("LEPTON_REMOTE_STATS");
    int st = lepton_client_open(&g_rm.client, NULL);
    if (st != LEPTON_OK) return init_fail(CUDA_ERROR_NOT_INITIALIZED, "%s", lepton_last_error());
    CUresult rc = open_lease();
    if (rc != CUDA_SUCCESS) {
        lepton_client_close(g_rm.client);
        g_rm.client = NULL;
        return rc;
    }
    rq_stats_round_trip(0, 0); /* the lease */
    lepton_lease_info info = LEPTON_LEASE_INFO_INIT;
    st = lepton_lease_get_info(g_rm.lease, &info);
    rq_stats_round_trip(0, 0);
    if (st != LEPTON_OK || info.gpu_count == 0) {
        rc = lease_status(st ? st : LEPTON_EPROTO, "reading the lease");
        goto fail;
    }
    g_rm.devs = calloc(info.gpu_count, sizeof *g_rm.devs);
    if (!g_rm.devs) {
        rc = init_fail(CUDA_ERROR_OUT_OF_MEMORY, "no host memory");
        goto fail;
    }
    for (uint32_t i = 0; i < info.gpu_count; i++) {
        rm_device *d = &g_rm.devs[i];
        d->index = i;
        st = lc_raw_gpu_facts(g_rm.lease, i, &d->facts);
        rq_stats_round_trip(0, 0);
        if (st != LEPTON_OK) {
            rc = lease_status(st, "reading the GPU's facts");
            goto fail;
        }
        rq_transport tr;
        rm_transport_init(&tr, (int)i);
        rq_init(&d->queue, &tr, g_rm.forward);
        d->primary.magic = RM_CTX_MAGIC;
        d->primary.dev = (int)i;
        d->primary.primary = 1;
        g_rm.ndev = (int)i + 1;
    }
    g_rm.driver_version = g_rm.devs[0].facts->driver_version;
    rm_debug("lease %s: %u GPU(s) %s on %s%s", info.id, info.gpu_count, info.gpu_model, info.node,
             g_rm.forward ? " (forward mode: one round trip per call)" : "");
    atomic_store(&g_inited, 1);
    return CUDA_SUCCESS;
fail:
    for (int i = 0; i < g_rm.ndev; i++)
        rq_destroy(&g_rm.devs[i].queue, 0);
    free(g_rm.devs);
    g_rm.devs = NULL;
    g_rm.ndev = 0;
    end_lease();
    return rc;
}

static void init_once(void) { g_init_rc = do_init(); }

RM_API CUresult cuInit(unsigned int flags) {
    if (flags != 0) return CUDA_ERROR_INVALID_VALUE;
    pthread_once(&g_once, init_once);
    return g_init_rc;
}

CUresult rm_ready(void) { return atomic_load(&g_inited) ? CUDA_SUCCESS : CUDA_ERROR_NOT_INITIALIZED; }

__attribute__((destructor)) static void rm_fini(void) {
    if (!atomic_exchange(&g_inited, 0)) return;
    int lost = 0, busy = 0;
    for (int i = 0; i < g_rm.ndev; i++) {
        if (rq_destroy(&g_rm.devs[i].queue, RM_EXIT_WAIT_MS) != 0)
            busy = 1;
        else if (g_rm.devs[i].queue.lost)
            lost = 1; /* read after the queue's end: no lock needed */
    }
    if (busy) {
        /* a thread is still inside a call that waits on the lease: leave the lease to its
         * keepalive rather than end it under that thread */
        rm_debug("exit: a CUDA call is still waiting; the lease ends by its keepalive");
        return;
    }
    /* an attached lease outlives us: give its memory back (not when it is gone: each free would
     * wait for its deadline) */
    if (!g_rm.owns_lease && !lost) rm_mem_free_all();
    if (g_rm.stats) {
        rq_stats s;
        rq_stats_get(&s);
        fprintf(stderr, "lepton-remote: round trips %llu, jobs %llu, steps %llu, bytes up %llu, down %llu\n",
                (unsigned long long)s.round_trips, (unsigned long long)s.jobs, (unsigned long long)s.steps,
                (unsigned long long)s.bytes_up, (unsigned long long)s.bytes_down);
    }
    end_lease();
    rm_modules_free_all(); /* what the program left loaded (the lease's handles ended above) */
}

/* ---- driver-wide answers ---- */

RM_API CUresult cuDriverGetVersion(int *v) {
    if (!v) return CUDA_ERROR_INVALID_VALUE;
    /* before cuInit CUDA answers too: the toolkit's version until the worker's is known */
    *v = atomic_load(&g_inited) && g_rm.driver_version > 0 ? g_rm.driver_version : CUDA_VERSION;
    return CUDA_SUCCESS;
}

RM_API CUresult cuGetErrorName(CUresult error, const char **pStr) {
    if (!pStr) return CUDA_ERROR_INVALID_VALUE;
    *pStr = cu_error_name(error);
    return *pStr ? CUDA_SUCCESS : CUDA_ERROR_INVALID_VALUE;
}

RM_API CUresult cuGetErrorString(CUresult error, const char **pStr) {
    if (!pStr) return CUDA_ERROR_INVALID_VALUE;
    *pStr = cu_error_text(error);
    return *pStr ? CUDA_SUCCESS : CUDA_ERROR_INVALID_VALUE;
}

RM_API CUresult cuGetExportTable(const void **ppExportTable, const CUuuid *pExportTableId) {
    if (!ppExportTable || !pExportTableId) return CUDA_ERROR_INVALID_VALUE;
    return xt_get_table(pExportTableId, ppExportTable);
}

void xt_log(const char *line) { rm_debug("%s", line); }

#undef cuGetProcAddress
CUresult cuGetProcAddress(const char *symbol, void **pfn, int cudaVersion, cuuint64_t flags);
RM_API CUresult cuGetProcAddress_v2(const char *symbol, void **pfn, int cudaVersion, cuuint64_t flags,
                                    CUdriverProcAddressQueryResult *symbolStatus) {
    if (!symbol || !pfn) return CUDA_ERROR_INVALID_VALUE;
    *pfn = NULL;
    if (flags &
        ~(cuuint64_t)(CU_GET_PROC_ADDRESS_LEGACY_STREAM | CU_GET_PROC_ADDRESS_PER_THREAD_DEFAULT_STREAM))
        return CUDA_ERROR_INVALID_VALUE;
    /* the profiler API is declared apart from cuda.h (cudaProfiler.h), so not in the generated table */
    if (cudaVersion >= 4000 && (!strcmp(symbol, "cuProfilerStart") || !strcmp(symbol, "cuProfilerStop"))) {
        *pfn = !strcmp(symbol, "cuProfilerStart") ? (void *)cuProfilerStart : (void *)cuProfilerStop;
        if (symbolStatus) *symbolStatus = CU_GET_PROC_ADDRESS_SUCCESS;
        return CUDA_SUCCESS;
    }
    int seen = 0;
    const emu_proc_gen *best = proc_gen_find(
        symbol, cudaVersion, (flags & CU_GET_PROC_ADDRESS_PER_THREAD_DEFAULT_STREAM) != 0, &seen);
    if (!best) {
        if (symbolStatus)
            *symbolStatus =
                seen ? CU_GET_PROC_ADDRESS_VERSION_NOT_SUFFICIENT : CU_GET_PROC_ADDRESS_SYMBOL_NOT_FOUND;
        return CUDA_ERROR_NOT_FOUND;
    }
    *pfn = best->fn;
    if (symbolStatus) *symbolStatus = CU_GET_PROC_ADDRESS_SUCCESS;
    return CUDA_SUCCESS;
}

RM_API CUresult cuGetProcAddress(const char *symbol, void **pfn, int cudaVersion, cuuint64_t flags) {
    return cuGetProcAddress_v2(symbol, pfn, cudaVersion, flags, NULL);
}

/* The profiler API (cudaProfiler.h): nothing to profile on the client; accepted. */
RM_API CUresult cuProfilerStart(void) { return rm_ready(); }
RM_API CUresult cuProfilerStop(void) { return rm_ready(); }
