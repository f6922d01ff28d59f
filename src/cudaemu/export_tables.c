/* export_tables.c — the private tables NVIDIA's CUDA runtime asks the driver for.
 *
 * cudart (static in every nvcc-built program; shared as libcudart.so under CuPy, cuda.bindings.runtime
 * and others) begins by calling cuGetExportTable with a few fixed UUIDs and then goes through the
 * function pointers it gets back: to retain the primary context, to load the fatbins that
 * __cudaRegisterFatBinary recorded, and to keep its own state per context. NVIDIA does not document
 * these layouts; what each slot must do is public knowledge from projects that served them before, and
 * every slot below was checked against the toolkit's own cudart (tests/programs/runtime). Everything is
 * done with the public driver API, so cudaemu and the remote driver link this one file.
 *
 * A table is an array of pointers; where the runtime expects it, slot 0 holds the table's size in
 * bytes. A slot we do not understand points at a function that names the table and the slot (xt_note)
 * and answers CUDA_ERROR_NOT_SUPPORTED: a runtime that calls one fails loudly, never silently. */
#include "export_tables.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- slots nobody understood ------------------------------------------------------------------- */

/* the slot list is laid out by hand */
// clang-format off
/* One diagnostic line through the linking driver's logger (xt_log). */
static void xt_note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void xt_note(const char *fmt, ...) {
    char line[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    xt_log(line);
}

#define XT_SLOT_LIST(X, tab)                                                                           \
    X(tab, 1) X(tab, 2) X(tab, 3) X(tab, 4) X(tab, 5) X(tab, 6) X(tab, 7) X(tab, 8) X(tab, 9) X(tab, 10) \
    X(tab, 11) X(tab, 12) X(tab, 13) X(tab, 14) X(tab, 15) X(tab, 16) X(tab, 17) X(tab, 18) X(tab, 19)   \
    X(tab, 20) X(tab, 21) X(tab, 22) X(tab, 23) X(tab, 24) X(tab, 25) X(tab, 26) X(tab, 27) X(tab, 28)   \
    X(tab, 29) X(tab, 30) X(tab, 31) X(tab, 32) X(tab, 33) X(tab, 34) X(tab, 35) X(tab, 36) X(tab, 37)   \
    X(tab, 38) X(tab, 39)
// clang-format on
#define XT_SLOTS 40

#define XT_STUB_DEF(tab, i)                                                                                  \
    static CUresult xt_stub_##tab##_##i(void) {                                                              \
        xt_note("cuGetExportTable: the CUDA runtime called slot %d of the %s table, which this driver "      \
                "does not serve (CUDA_ERROR_NOT_SUPPORTED)",                                                 \
                i, #tab);                                                                                    \
        return CUDA_ERROR_NOT_SUPPORTED;                                                                     \
    }
#define XT_STUB_REF(tab, i) (const void *)xt_stub_##tab##_##i,

/* ---- the tables ---------------------------------------------------------------------------------- */

typedef struct xt_table {
    const char *name;
    unsigned char uuid[16];
    int slots;                /* how many slots the runtime may read (slot 0 says so in bytes when sized) */
    int sized;                /* slot 0 holds the size */
    const void *const *stubs; /* XT_SLOTS stubs, [0] unused */
    const void *table[XT_SLOTS];
} xt_table;

XT_SLOT_LIST(XT_STUB_DEF, cudart)
XT_SLOT_LIST(XT_STUB_DEF, callbacks)
XT_SLOT_LIST(XT_STUB_DEF, tools_tls)
XT_SLOT_LIST(XT_STUB_DEF, ctx_storage)
XT_SLOT_LIST(XT_STUB_DEF, ctx_checks)
XT_SLOT_LIST(XT_STUB_DEF, integrity)
XT_SLOT_LIST(XT_STUB_DEF, ctx_identity)
static const void *const xt_stubs_cudart[XT_SLOTS] = {NULL, XT_SLOT_LIST(XT_STUB_REF, cudart)};
static const void *const xt_stubs_callbacks[XT_SLOTS] = {NULL, XT_SLOT_LIST(XT_STUB_REF, callbacks)};
static const void *const xt_stubs_tools_tls[XT_SLOTS] = {NULL, XT_SLOT_LIST(XT_STUB_REF, tools_tls)};
static const void *const xt_stubs_ctx_storage[XT_SLOTS] = {NULL, XT_SLOT_LIST(XT_STUB_REF, ctx_storage)};
static const void *const xt_stubs_ctx_checks[XT_SLOTS] = {NULL, XT_SLOT_LIST(XT_STUB_REF, ctx_checks)};
static const void *const xt_stubs_integrity[XT_SLOTS] = {NULL, XT_SLOT_LIST(XT_STUB_REF, integrity)};
static const void *const xt_stubs_ctx_identity[XT_SLOTS] = {NULL, XT_SLOT_LIST(XT_STUB_REF, ctx_identity)};

/* ---- CUDART interface: contexts and the fatbins nvcc embeds ------------------------------------- */

/* What __cudaRegisterFatBinary hands over: nvcc's wrapper around the fatbin (magic 0x466243b1). */
typedef struct xt_fatbin_wrapper {
    int magic;
    int version;
    const void *data;
    const void *prelinked; /* filename or list of prelinked fatbins; unused */
} xt_fatbin_wrapper;

#define XT_WRAPPER_MAGIC 0x466243b1

static CUresult xt_module_from_wrapper(CUmodule *module, const xt_fatbin_wrapper *w) {
    if (!module || !w) return CUDA_ERROR_INVALID_VALUE;
    if (w->magic != XT_WRAPPER_MAGIC || !w->data) {
        xt_note("cuGetExportTable: the CUDA runtime registered an image that is not an nvcc fatbin wrapper "
                "(magic %#x)",
                (unsigned)w->magic);
        return CUDA_ERROR_INVALID_IMAGE;
    }
    /* cuModuleLoadData takes the wrapper itself and finds the best entry (PTX on cudaemu). */
    return cuModuleLoadData(module, w);
}

/* slot 1: load the module of a registered fatbin. */
static CUresult xt_cudart_module(CUmodule *module, const xt_fatbin_wrapper *w) {
    return xt_module_from_wrapper(module, w);
}

/* slot 2: the device's primary context, retained (cudart releases it at exit or on cudaDeviceReset). */
static CUresult xt_cudart_primary_context(CUcontext *ctx, CUdevice dev) {
    if (!ctx) return CUDA_ERROR_INVALID_VALUE;
    return cuDevicePrimaryCtxRetain(ctx, dev);
}

/* slot 6: slot 1 with three more arguments (used by newer runtimes). */
static CUresult xt_cudart_module_ext1(CUmodule *module, const xt_fatbin_wrapper *w, void *a3, void *a4,
                                      unsigned a5) {
    (void)a3, (void)a4, (void)a5;
    return xt_module_from_wrapper(module, w);
}

/* slot 7: a notification with one size argument; nothing to do. */
static void xt_cudart_notify(size_t n) { (void)n; }

/* slot 8: load a fatbin given its header (not the wrapper), module second. */
static CUresult xt_cudart_module_ext2(const void *fatbin, CUmodule *module, void *a3, void *a4, unsigned a5) {
    (void)a3, (void)a4, (void)a5;
    if (!module || !fatbin) return CUDA_ERROR_INVALID_VALUE;
    return cuModuleLoadData(module, fatbin);
}

/* ---- runtime callback hooks: two scratch buffers the runtime's tool support writes into -------- */

static unsigned char xt_hook_buffer1[1024];
static unsigned char xt_hook_buffer2[16];

static void xt_hooks_buffer1(void **ptr, size_t *size) {
    if (ptr) *ptr = xt_hook_buffer1;
    if (size) *size = sizeof xt_hook_buffer1;
}

static void xt_hooks_buffer2(void **ptr, size_t *size) {
    if (ptr) *ptr = xt_hook_buffer2;
    if (size) *size = 14;
}

/* ---- context-local storage: the runtime's per-context state ----------------------------------- */

typedef void (*xt_ctx_dtor)(CUcontext ctx, void *key, void *value);

typedef struct xt_cls {
    CUcontext ctx;
    void *key, *value;
    xt_ctx_dtor dtor;
    struct xt_cls *next;
} xt_cls;

static pthread_mutex_t xt_cls_mu = PTHREAD_MUTEX_INITIALIZER;
static xt_cls *xt_cls_head;

static CUresult xt_cls_ctx(CUcontext *ctx) {
    if (*ctx) return CUDA_SUCCESS;
    CUresult r = cuCtxGetCurrent(ctx);
    if (r == CUDA_SUCCESS && !*ctx) r = CUDA_ERROR_INVALID_CONTEXT;
    return r;
}

/* slot 0: remember value under (ctx, key); dtor runs when the context ends. */
static CUresult xt_cls_put(CUcontext ctx, void *key, void *value, xt_ctx_dtor dtor) {
    CUresult r = xt_cls_ctx(&ctx);
    if (r != CUDA_SUCCESS) return r;
    pthread_mutex_lock(&xt_cls_mu);
    xt_cls *e = xt_cls_head;
    while (e && !(e->ctx == ctx && e->key == key))
        e = e->next;
    if (!e) {
        e = calloc(1, sizeof *e);
        if (!e) {
            pthread_mutex_unlock(&xt_cls_mu);
            return CUDA_ERROR_OUT_OF_MEMORY;
        }
        e->ctx = ctx, e->key = key, e->next = xt_cls_head, xt_cls_head = e;
    }
    e->value = value, e->dtor = dtor;
    pthread_mutex_unlock(&xt_cls_mu);
    return CUDA_SUCCESS;
}

/* slot 1: forget (ctx, key) without running its destructor. */
static CUresult xt_cls_delete(CUcontext ctx, void *key) {
    CUresult r = xt_cls_ctx(&ctx);
    if (r != CUDA_SUCCESS) return r;
    pthread_mutex_lock(&xt_cls_mu);
    for (xt_cls **p = &xt_cls_head; *p; p = &(*p)->next)
        if ((*p)->ctx == ctx && (*p)->key == key) {
            xt_cls *e = *p;
            *p = e->next;
            free(e);
            break;
        }
    pthread_mutex_unlock(&xt_cls_mu);
    return CUDA_SUCCESS;
}

/* slot 2: the value under (ctx, key); CUDA_ERROR_INVALID_HANDLE when there is none (the runtime then
 * builds its state and puts it). */
static CUresult xt_cls_get(void **value, CUcontext ctx, void *key) {
    if (!value) return CUDA_ERROR_INVALID_VALUE;
    *value = NULL;
    CUresult r = xt_cls_ctx(&ctx);
    if (r != CUDA_SUCCESS) return r;
    r = CUDA_ERROR_INVALID_HANDLE;
    pthread_mutex_lock(&xt_cls_mu);
    for (xt_cls *e = xt_cls_head; e; e = e->next)
        if (e->ctx == ctx && e->key == key) {
            *value = e->value;
            r = CUDA_SUCCESS;
            break;
        }
    pthread_mutex_unlock(&xt_cls_mu);
    return r;
}

void xt_context_ended(CUcontext ctx) {
    for (;;) {
        pthread_mutex_lock(&xt_cls_mu);
        xt_cls *e = NULL;
        for (xt_cls **p = &xt_cls_head; *p; p = &(*p)->next)
            if ((*p)->ctx == ctx) {
                e = *p;
                *p = e->next;
                break;
            }
        pthread_mutex_unlock(&xt_cls_mu);
        if (!e) return;
        if (e->dtor) e->dtor(ctx, e->key, e->value); /* outside the lock: it may call back into the tables */
        free(e);
    }
}

/* ---- context checks ----------------------------------------------------------------------------- */

/* slot 2: checks of a context before the runtime adopts it; nothing to report. */
static CUresult xt_checks_context(CUcontext ctx, unsigned *flags, const void **detail) {
    (void)ctx;
    if (flags) *flags = 0;
    if (detail) *detail = NULL;
    return CUDA_SUCCESS;
}

/* slot 3: process-wide flags; none. */
static unsigned xt_checks_global(void) { return 0; }

/* ---- integrity check: the runtime makes sure it talks to a driver that knows the tables ------- */

/* MD2 (RFC 1319). Its substitution table is a permutation of 0..255 made by a Durstenfeld shuffle
 * driven by the decimal digits of pi (as its author described it); it is computed here, once, from
 * digits made by the Rabinowitz–Wagon spigot, and checked by the RFC's test vectors
 * (unit.cudaemu.export_tables). */
static unsigned char xt_md2_s[256];

/* The first n decimal digits of pi (3, 1, 4, 1, 5, ...) into d; 0, or -1 when out of memory. */
static int xt_pi_digits(unsigned char *d, int n) {
    int len = n * 10 / 3 + 2, have = 0, nines = 0, pre = -1;
    int *a = malloc(sizeof *a * (size_t)len);
    if (!a) return -1;
    for (int i = 0; i < len; i++)
        a[i] = 2;
    for (int j = 0; j < n + 1 && have < n; j++) {
        int q = 0;
        for (int i = len; i > 0; i--) {
            int x = 10 * a[i - 1] + q * i;
            a[i - 1] = x % (2 * i - 1);
            q = x / (2 * i - 1);
        }
        a[0] = q % 10;
        q /= 10;
        if (q == 9) {
            nines++;
        } else if (q == 10) { /* carry into the held digits */
            if (pre >= 0 && have < n) d[have++] = (unsigned char)(pre + 1);
            for (; nines > 0 && have < n; nines--)
                d[have++] = 0;
            pre = 0, nines = 0;
        } else {
            if (pre >= 0 && have < n) d[have++] = (unsigned char)pre;
            for (; nines > 0 && have < n; nines--)
                d[have++] = 9;
            pre = q;
        }
    }
    free(a);
    return have == n ? 0 : -1;
}

static int xt_md2_table(void) {
    enum { NDIGITS = 900 }; /* the shuffle reads 722 */
    unsigned char d[NDIGITS];
    if (xt_pi_digits(d, NDIGITS) != 0) return -1;
    int pos = 0;
    for (int i = 0; i < 256; i++)
        xt_md2_s[i] = (unsigned char)i;
    for (int n = 2; n <= 256; n++) {
        int j;
        for (;;) { /* a uniform draw below n from one, two or three digits; a draw past the last whole
                    * multiple of n is thrown away */
            int x, y;
            if (pos + 3 > NDIGITS) return -1;
            x = d[pos++], y = 10;
            if (n > 10) x = x * 10 + d[pos++], y = 100;
            if (n > 100) x = x * 10 + d[pos++], y = 1000;
            if (x < n * (y / n)) {
                j = x % n;
                break;
            }
        }
        unsigned char t = xt_md2_s[j];
        xt_md2_s[j] = xt_md2_s[n - 1], xt_md2_s[n - 1] = t;
    }
    return 0;
}

typedef struct xt_md2 {
    unsigned char x[48], c[16], block[16];
    unsigned used;
} xt_md2;

/* MD2's 18 rounds over the state with the current block (RFC 1319, 3.4). */
static void xt_md2_mix(xt_md2 *h) {
    for (int j = 0; j < 16; j++)
        h->x[16 + j] = h->block[j], h->x[32 + j] = h->block[j] ^ h->x[j];
    unsigned t = 0;
    for (int r = 0; r < 18; r++) {
        for (int k = 0; k < 48; k++)
            t = h->x[k] ^= xt_md2_s[t];
        t = (t + (unsigned)r) & 0xff;
    }
}

/* A full block: the checksum takes it in (3.2), then the state (3.4). */
static void xt_md2_compress(xt_md2 *h) {
    unsigned char l = h->c[15];
    for (int j = 0; j < 16; j++)
        l = h->c[j] ^= xt_md2_s[h->block[j] ^ l];
    xt_md2_mix(h);
}

static void xt_md2_update(xt_md2 *h, const void *data, size_t n) {
    const unsigned char *p = data;
    for (size_t i = 0; i < n; i++) {
        h->block[h->used++] = p[i];
        if (h->used == 16) xt_md2_compress(h), h->used = 0;
    }
}

/* Padding (3.1), then the checksum as the last block (3.2), which is not checksummed itself. */
static void xt_md2_final(xt_md2 *h, unsigned char out[16]) {
    unsigned char pad = (unsigned char)(16 - h->used);
    for (int i = 0; i < pad; i++)
        xt_md2_update(h, &pad, 1);
    memcpy(h->block, h->c, 16);
    xt_md2_mix(h);
    memcpy(out, h->x, 16);
}

void xt_md2_digest(const void *data, size_t n, unsigned char out[16]) {
    xt_md2 h;
    memset(&h, 0, sizeof h);
    xt_md2_update(&h, data, n);
    xt_md2_final(&h, out);
}

static const void *xt_integrity_table_ptr(void);
static const void *xt_cudart_table_ptr(void);

/* What the runtime hashes: the driver's version, its request, the process and thread, where the two
 * tables and this function live, and the time it passed; then each device's UUID and PCI place. */
typedef struct xt_integrity_msg {
    uint32_t driver_version, version, pid, thread;
    const void *cudart_table, *integrity_table, *function;
    uint64_t unix_seconds;
} xt_integrity_msg;

typedef struct xt_integrity_dev {
    unsigned char uuid[16];
    int32_t pci_domain, pci_bus, pci_device;
} xt_integrity_dev;

/* slot 1: HMAC-MD2 of the above under the runtime's fixed key; requests whose version ends in 0 or 1
 * get fixed answers instead. */
static CUresult xt_integrity_check(uint32_t version, uint64_t unix_seconds, uint64_t result[2]) {
    if (!result) return CUDA_ERROR_INVALID_VALUE;
    if (version % 10 < 2) {
        result[0] = version % 10 == 0 ? UINT64_C(0x3341181c03cb675c) : UINT64_C(0x1841181c03cb675c);
        result[1] = UINT64_C(0x8ed383aa1f4cd1e8);
        return CUDA_SUCCESS;
    }
    static const unsigned char key[16] = {0x14, 0x6a, 0xdd, 0xae, 0x53, 0xa9, 0xa7, 0x52,
                                          0xaa, 0x08, 0x41, 0x36, 0x0b, 0xf5, 0x5a, 0x9f};
    unsigned char pad[16], inner[16], outer[16];
    int driver = 0, count = 0;
    CUresult r = cuDriverGetVersion(&driver);
    if (r == CUDA_SUCCESS) r = cuDeviceGetCount(&count);
    if (r != CUDA_SUCCESS) return r;
    xt_integrity_msg m;
    memset(&m, 0, sizeof m);
    m.driver_version = (uint32_t)driver, m.version = version, m.pid = (uint32_t)getpid();
    m.thread = (uint32_t)(uintptr_t)pthread_self();
    m.cudart_table = xt_cudart_table_ptr(), m.integrity_table = xt_integrity_table_ptr();
    m.function = (const void *)xt_integrity_check, m.unix_seconds = unix_seconds;
    xt_md2 h;
    memset(&h, 0, sizeof h);
    for (int i = 0; i < 16; i++)
        pad[i] = key[i] ^ 0x36;
    xt_md2_update(&h, pad, 16);
    xt_md2_update(&h, &m, sizeof m);
    for (int i = 0; i < count; i++) {
        xt_integrity_dev d;
        CUdevice dev;
        memset(&d, 0, sizeof d);
        r = cuDeviceGet(&dev, i);
        if (r == CUDA_SUCCESS) r = cuDeviceGetUuid((CUuuid *)d.uuid, dev);
        if (r != CUDA_SUCCESS) return r;
        cuDeviceGetAttribute(&d.pci_domain, CU_DEVICE_ATTRIBUTE_PCI_DOMAIN_ID, dev);
        cuDeviceGetAttribute(&d.pci_bus, CU_DEVICE_ATTRIBUTE_PCI_BUS_ID, dev);
        cuDeviceGetAttribute(&d.pci_device, CU_DEVICE_ATTRIBUTE_PCI_DEVICE_ID, dev);
        xt_md2_update(&h, &d, sizeof d);
    }
    xt_md2_final(&h, inner);
    memset(&h, 0, sizeof h);
    for (int i = 0; i < 16; i++)
        pad[i] = key[i] ^ 0x5c;
    xt_md2_update(&h, pad, 16);
    xt_md2_update(&h, inner, 16);
    xt_md2_final(&h, outer);
    memcpy(result, outer, 16);
    return CUDA_SUCCESS;
}

/* ---- the registry ---------------------------------------------------------------------------------- */

enum {
    XT_CUDART,
    XT_CALLBACKS,
    XT_TOOLS_TLS,
    XT_CTX_STORAGE,
    XT_CTX_CHECKS,
    XT_INTEGRITY,
    XT_CTX_IDENTITY,
    XT_COUNT
};

static xt_table xt_tables[XT_COUNT] = {
    [XT_CUDART] = {"cudart interface",
                   {0x6b, 0xd5, 0xfb, 0x6c, 0x5b, 0xf4, 0xe7, 0x4a, 0x89, 0x87, 0xd9, 0x39, 0x12, 0xfd, 0x9d,
                    0xf9},
                   13,
                   1,
                   xt_stubs_cudart,
                   {0}},
    [XT_CALLBACKS] = {"runtime callback hooks",
                      {0xa0, 0x94, 0x79, 0x8c, 0x2e, 0x74, 0x2e, 0x74, 0x93, 0xf2, 0x08, 0x00, 0x20, 0x0c,
                       0x0a, 0x66},
                      7,
                      1,
                      xt_stubs_callbacks,
                      {0}},
    [XT_TOOLS_TLS] = {"tools thread-local storage",
                      {0x42, 0xd8, 0x5a, 0x81, 0x23, 0xf6, 0xcb, 0x47, 0x82, 0x98, 0xf6, 0xe7, 0x8a, 0x3a,
                       0xec, 0xdc},
                      4,
                      1,
                      xt_stubs_tools_tls,
                      {0}},
    [XT_CTX_STORAGE] = {"context-local storage",
                        {0xc6, 0x93, 0x33, 0x6e, 0x11, 0x21, 0xdf, 0x11, 0xa8, 0xc3, 0x68, 0xf3, 0x55, 0xd8,
                         0x95, 0x93},
                        4,
                        0,
                        xt_stubs_ctx_storage,
                        {0}},
    [XT_CTX_CHECKS] = {"context checks",
                       {0x26, 0x3e, 0x88, 0x60, 0x7c, 0xd2, 0x61, 0x43, 0x92, 0xf6, 0xbb, 0xd5, 0x00, 0x6d,
                        0xfa, 0x7e},
                       4,
                       1,
                       xt_stubs_ctx_checks,
                       {0}},
    [XT_INTEGRITY] = {"integrity check",
                      {0xd4, 0x08, 0x20, 0x55, 0xbd, 0xe6, 0x70, 0x4b, 0x8d, 0x34, 0xba, 0x12, 0x3c, 0x66,
                       0xe1, 0xf2},
                      3,
                      1,
                      xt_stubs_integrity,
                      {0}},
    [XT_CTX_IDENTITY] = {"context identity",
                         {0x21, 0x31, 0x8c, 0x60, 0x97, 0x14, 0x32, 0x48, 0x8c, 0xa6, 0x41, 0xff, 0x73, 0x24,
                          0xc8, 0xf2},
                         XT_SLOTS,
                         1,
                         xt_stubs_ctx_identity,
                         {0}},
};

static const void *xt_integrity_table_ptr(void) { return xt_tables[XT_INTEGRITY].table; }
static const void *xt_cudart_table_ptr(void) { return xt_tables[XT_CUDART].table; }

static void xt_fill(xt_table *t) {
    for (int i = 1; i < XT_SLOTS; i++)
        t->table[i] = t->stubs[i];
    t->table[0] = t->sized ? (const void *)(uintptr_t)(t->slots * sizeof(void *)) : t->stubs[1];
}

static void xt_init(void) {
    for (int i = 0; i < XT_COUNT; i++)
        xt_fill(&xt_tables[i]);
    const void **c = xt_tables[XT_CUDART].table;
    c[1] = (const void *)xt_cudart_module;
    c[2] = (const void *)xt_cudart_primary_context;
    c[6] = (const void *)xt_cudart_module_ext1;
    c[7] = (const void *)xt_cudart_notify;
    c[8] = (const void *)xt_cudart_module_ext2;
    const void **h = xt_tables[XT_CALLBACKS].table;
    h[2] = (const void *)xt_hooks_buffer1;
    h[6] = (const void *)xt_hooks_buffer2;
    const void **s = xt_tables[XT_CTX_STORAGE].table;
    s[0] = (const void *)xt_cls_put;
    s[1] = (const void *)xt_cls_delete;
    s[2] = (const void *)xt_cls_get;
    s[3] = NULL;
    const void **k = xt_tables[XT_CTX_CHECKS].table;
    k[2] = (const void *)xt_checks_context;
    k[3] = (const void *)xt_checks_global;
    if (xt_md2_table() == 0) xt_tables[XT_INTEGRITY].table[1] = (const void *)xt_integrity_check;
    xt_tables[XT_CTX_IDENTITY].table[4] = (const void *)cuCtxGetId;
}

static pthread_once_t xt_once = PTHREAD_ONCE_INIT;

CUresult xt_get_table(const CUuuid *id, const void **table) {
    *table = NULL;
    pthread_once(&xt_once, xt_init);
    const unsigned char *u = (const unsigned char *)id->bytes;
    for (int i = 0; i < XT_COUNT; i++)
        if (memcmp(u, xt_tables[i].uuid, 16) == 0) {
            *table = xt_tables[i].table;
            return CUDA_SUCCESS;
        }
    /* cudart 13 asks for this one first and takes NOT_FOUND as "start the usual way" */
    static const unsigned char declined[16] = {0xf8, 0xcf, 0xf9, 0x51, 0x21, 0x46, 0x8b, 0x4e,
                                               0xb9, 0xe2, 0xfb, 0x46, 0x9e, 0x7c, 0x0d, 0xd9};
    if (memcmp(u, declined, 16) == 0) return CUDA_ERROR_NOT_FOUND;
    xt_note("cuGetExportTable: no table %02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x "
            "(not one this driver serves: CUDA_ERROR_NOT_FOUND)",
            u[0], u[1], u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11], u[12], u[13], u[14],
            u[15]);
    return CUDA_ERROR_NOT_FOUND;
}
