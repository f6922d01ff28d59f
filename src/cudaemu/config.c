/* config.c — the emulated machine: devices from CUDAEMU_DEVICES / CUDAEMU_DEVICE_COUNT (names,
 * memory sizes, stable UUIDs), watchdog and thread settings, the global API lock and the registry
 * of live handles used to reject stale or foreign ones. */
#include "emu.h"

#include <ctype.h>
#include <sched.h>
#include <stdarg.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

emu_config g_emu;
int g_emu_initialized;
pthread_mutex_t g_emu_lock = PTHREAD_RECURSIVE_MUTEX_INITIALIZER_NP;

void emu_lock(void) { pthread_mutex_lock(&g_emu_lock); }
void emu_unlock(void) { pthread_mutex_unlock(&g_emu_lock); }

/* "80G", "16GiB", "512M", "1024" -> bytes; 0 on error */
static size_t parse_size(const char *s) {
    while (isspace((unsigned char)*s))
        s++;
    if (!isdigit((unsigned char)*s)) return 0;
    errno = 0;
    char *end;
    double v = strtod(s, &end);
    if (errno || v <= 0) return 0;
    while (isspace((unsigned char)*end))
        end++;
    double mul = 1;
    switch (toupper((unsigned char)*end)) {
    case 'K':
        mul = 1024.0;
        end++;
        break;
    case 'M':
        mul = 1024.0 * 1024;
        end++;
        break;
    case 'G':
        mul = 1024.0 * 1024 * 1024;
        end++;
        break;
    case 'T':
        mul = 1024.0 * 1024 * 1024 * 1024;
        end++;
        break;
    case 0:
        break;
    default:
        return 0;
    }
    if (*end == 'i' || *end == 'I') end++;
    if (*end == 'B' || *end == 'b') end++;
    while (isspace((unsigned char)*end))
        end++;
    if (*end) return 0;
    double r = v * mul;
    if (r < 1 || r > 1.0e15) return 0;
    return (size_t)r;
}

static void make_uuid(int index, const char *name, CUuuid *u) {
    uint64_t h1 = 1469598103934665603ull ^ (uint64_t)index,
             h2 = 0x9e3779b97f4a7c15ull + (uint64_t)index * 31u;
    for (const char *p = name; *p; p++) {
        h1 = (h1 ^ (uint8_t)*p) * 1099511628211ull;
        h2 = (h2 ^ (uint8_t)*p) * 0x100000001b3ull + 0x7f4a7c15u;
    }
    h1 ^= (uint64_t)index * 0xff51afd7ed558ccdull;
    memcpy(u->bytes, &h1, 8);
    memcpy(u->bytes + 8, &h2, 8);
    u->bytes[6] = (char)((u->bytes[6] & 0x0f) | 0x50); /* name-based UUID layout */
    u->bytes[8] = (char)((u->bytes[8] & 0x3f) | 0x80);
}

static int add_dev(const char *name, size_t len, size_t mem) {
    emu_device *nd = realloc(g_emu.dev, (size_t)(g_emu.ndev + 1) * sizeof *nd);
    if (!nd) return -1;
    g_emu.dev = nd;
    emu_device *d = &g_emu.dev[g_emu.ndev];
    memset(d, 0, sizeof *d);
    if (len >= sizeof d->name) len = sizeof d->name - 1;
    memcpy(d->name, name, len);
    d->name[len] = 0;
    d->total_mem = mem;
    make_uuid(g_emu.ndev, d->name, &d->uuid);
    g_emu.ndev++;
    return 0;
}

/* The default of CUDAEMU_THREADS: the CPUs this process may run on (its affinity mask), at most 64. */
static int emu_default_threads(void) {
    cpu_set_t set;
    int n = 0;
    if (sched_getaffinity(0, sizeof set, &set) == 0) n = CPU_COUNT(&set);
    if (n < 1) n = 1;
    return n > 64 ? 64 : n;
}

int emu_config_load(void) {
    const char *devs = getenv("CUDAEMU_DEVICES");
    const char *wd = getenv("CUDAEMU_WATCHDOG_MS");
    const char *th = getenv("CUDAEMU_THREADS");
    const char *win = getenv("CUDAEMU_DEVICE_WINDOWS");
    g_emu.shared_window = win && !strcmp(win, "0");
    g_emu.watchdog_ms = 30000;
    if (wd && *wd) {
        char *e;
        long v = strtol(wd, &e, 10);
        if (*e || v < 0) return -1;
        g_emu.watchdog_ms = v;
    }
    g_emu.threads = emu_default_threads();
    g_emu.threads_set = 0;
    if (th && *th) {
        char *e;
        long v = strtol(th, &e, 10);
        if (*e || v < 1 || v > 64) return -1;
        g_emu.threads = (int)v;
        g_emu.threads_set = 1;
    }
    if (devs && *devs) {
        const char *p = devs;
        while (*p) {
            const char *end = strchr(p, ';');
            size_t len = end ? (size_t)(end - p) : strlen(p);
            if (len) {
                const char *colon = NULL;
                for (size_t i = 0; i < len; i++)
                    if (p[i] == ':') colon = p + i; /* the last ':' separates the memory size */
                if (!colon) return -1;
                char memstr[64];
                size_t ml = len - (size_t)(colon + 1 - p);
                if (ml == 0 || ml >= sizeof memstr) return -1;
                memcpy(memstr, colon + 1, ml);
                memstr[ml] = 0;
                size_t mem = parse_size(memstr);
                if (!mem || colon == p) return -1;
                if (add_dev(p, (size_t)(colon - p), mem)) return -1;
            }
            if (!end) break;
            p = end + 1;
        }
        return g_emu.ndev > 0 ? 0 : -1;
    }
    int n = 1;
    const char *cnt = getenv("CUDAEMU_DEVICE_COUNT");
    if (cnt && *cnt) {
        char *e;
        long v = strtol(cnt, &e, 10);
        if (*e || v < 0 || v > 64) return -1;
        n = (int)v;
    }
    const char *name = getenv("CUDAEMU_DEVICE_NAME");
    if (!name || !*name) name = "Lepton CPU Device";
    size_t mem = 16ull << 30;
    const char *ms = getenv("CUDAEMU_DEVICE_MEMORY");
    if (ms && *ms) {
        mem = parse_size(ms);
        if (!mem) return -1;
    }
    for (int i = 0; i < n; i++)
        if (add_dev(name, strlen(name), mem)) return -1;
    return 0;
}

/* ---- handle registry ----
 * The live handles in an array (handle_list keeps their order of creation, modulo deletions) with
 * an open-addressing index on (kind, pointer): a module of 40,000 kernels registers 40,000
 * function handles, and every driver call checks its handle, so lookups must not be linear. */
typedef struct hent {
    int kind;
    void *p;
} hent;
static hent *g_handles;
static size_t g_nhandles, g_caphandles;
static size_t *g_hidx; /* slot: array index + 1, 0 = empty */
static size_t g_hcap;  /* power of two, > 2 * g_nhandles */

static size_t hslot(int kind, const void *p) {
    uint64_t h = (uint64_t)(uintptr_t)p * 0x9e3779b97f4a7c15ull ^ (uint64_t)kind * 0xff51afd7ed558ccdull;
    return (size_t)(h ^ (h >> 29)) & (g_hcap - 1);
}

static size_t *hfind(int kind, const void *p) {
    if (!g_hcap) return NULL;
    for (size_t i = hslot(kind, p);; i = (i + 1) & (g_hcap - 1)) {
        if (!g_hidx[i]) return NULL;
        const hent *e = &g_handles[g_hidx[i] - 1];
        if (e->kind == kind && e->p == p) return &g_hidx[i];
    }
}

static void hinsert(size_t idx) {
    size_t i = hslot(g_handles[idx].kind, g_handles[idx].p);
    while (g_hidx[i])
        i = (i + 1) & (g_hcap - 1);
    g_hidx[i] = idx + 1;
}

static int hrehash(size_t cap) {
    size_t *n = calloc(cap, sizeof *n);
    if (!n) return -1;
    free(g_hidx);
    g_hidx = n;
    g_hcap = cap;
    for (size_t i = 0; i < g_nhandles; i++)
        hinsert(i);
    return 0;
}

/* Empties slot s, moving later entries of its probe run back (no tombstones). */
static void hremove_slot(size_t s) {
    size_t i = s;
    g_hidx[s] = 0;
    for (;;) {
        i = (i + 1) & (g_hcap - 1);
        if (!g_hidx[i]) return;
        const hent *e = &g_handles[g_hidx[i] - 1];
        size_t home = hslot(e->kind, e->p);
        /* the entry at i may move to s when s lies cyclically in [home, i) */
        if (((i - home) & (g_hcap - 1)) >= ((i - s) & (g_hcap - 1))) {
            g_hidx[s] = g_hidx[i];
            g_hidx[i] = 0;
            s = i;
        }
    }
}

void *emu_grow(void *arr, size_t *cap, size_t n, size_t elem, size_t first) {
    if (n < *cap) return arr;
    size_t nc = *cap ? *cap * 2 : first;
    void *na = realloc(arr, nc * elem);
    if (na) *cap = nc;
    return na;
}

void handle_add(int kind, void *p) {
    hent *n = emu_grow(g_handles, &g_caphandles, g_nhandles, sizeof *g_handles, 64);
    if (!n) return; /* the handle then reads as invalid: safe */
    g_handles = n;
    if ((g_nhandles + 1) * 2 > g_hcap && hrehash(g_hcap ? g_hcap * 2 : 128) != 0) return;
    g_handles[g_nhandles].kind = kind;
    g_handles[g_nhandles].p = p;
    hinsert(g_nhandles);
    g_nhandles++;
}

void handle_del(int kind, void *p) {
    size_t *slot = hfind(kind, p);
    if (!slot) return;
    size_t idx = *slot - 1, last = g_nhandles - 1;
    hremove_slot((size_t)(slot - g_hidx));
    if (idx != last) {
        size_t *ls = hfind(g_handles[last].kind, g_handles[last].p);
        g_handles[idx] = g_handles[last];
        if (ls) *ls = idx + 1;
    }
    g_nhandles--;
}

int handle_live(int kind, const void *p) {
    if (!p) return 0;
    return hfind(kind, p) != NULL;
}

size_t handle_list(int kind, void **out, size_t max) {
    size_t n = 0;
    for (size_t i = 0; i < g_nhandles; i++)
        if (g_handles[i].kind == kind) {
            if (n < max) out[n] = g_handles[i].p;
            n++;
        }
    return n;
}

static __thread char t_detail[512];

/* Removes the first occurrence of the n bytes at p from t_detail, putting ins there instead. */
static void detail_splice(char *p, size_t n, const char *ins) {
    size_t il = strlen(ins), rest = strlen(p + n) + 1;
    if (il > n && strlen(t_detail) + (il - n) >= sizeof t_detail) return;
    memmove(p + il, p + n, rest);
    memcpy(p, ins, il);
}

void emu_set_detail(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(t_detail, sizeof t_detail, fmt, ap);
    va_end(ap);
    /* The line gets the one "cudaemu: " prefix here, whatever the message was built from: a
     * leading one is dropped, and so is the origin of a JIT log quoted after the entry point
     * ("cuModuleLoadData: ptxas (cudaemu): line 7: ..." reads "cuModuleLoadData: PTX line 7: ..."). */
    static const char pfx[] = "cudaemu: ", ptxas[] = "ptxas (cudaemu): ";
    while (!strncmp(t_detail, pfx, sizeof pfx - 1))
        detail_splice(t_detail, sizeof pfx - 1, "");
    char *body = strstr(t_detail, ": ");
    if (body) {
        body += 2;
        if (!strncmp(body, pfx, sizeof pfx - 1)) {
            detail_splice(body, sizeof pfx - 1, "");
        } else if (!strncmp(body, ptxas, sizeof ptxas - 1)) {
            int line = !strncmp(body + sizeof ptxas - 1, "line ", 5);
            detail_splice(body, sizeof ptxas - 1, line ? "PTX " : "");
            static const char todo[] =
                "; fix the PTX at that line (src/cudaemu/README.md lists the PTX cudaemu runs)";
            if (line && !strchr(body, ';') && strlen(t_detail) + sizeof todo < sizeof t_detail)
                strcat(t_detail, todo);
        }
    }
    const char *log = getenv("CUDAEMU_LOG");
    if (log && *log && *log != '0') fprintf(stderr, "cudaemu: %s\n", t_detail);
}

CUresult emu_refuse_at(const char *entry, CUresult err, const char *fmt, ...) {
    char why[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    /* a message that already names its entry point ("cuMemMap: ...") is not prefixed again; the
     * _v2 of a versioned symbol is left out (programs call cuMemAlloc, not cuMemAlloc_v2) */
    if (why[0] == 'c' && why[1] == 'u' && why[2] >= 'A' && why[2] <= 'Z') {
        emu_set_detail("%s", why);
    } else {
        size_t n = strlen(entry);
        if (n > 3 && !strcmp(entry + n - 3, "_v2")) n -= 3;
        emu_set_detail("%.*s: %s", (int)n, entry, why);
    }
    return err;
}
