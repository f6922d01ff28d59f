/* vmem.c — the device address space: allocations get addresses in a fake device range
 * (VM_GLOBAL_BASE upwards, never host pointers) backed by host memory, kept sorted for a binary
 * search lookup; memory is accounted against the configured size of each device. */
#include "emu.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

vm_space g_vm;

#define VM_ALIGN 512ull
#define VM_GAP 65536ull /* unmapped space between allocations so overruns fault */
#define VM_LIMIT (VM_GLOBAL_BASE + (1ull << 44))
#define VM_MMAP_MIN (1ull << 20) /* from this size, memory is reserved lazily with mmap */

/* Zeroed host backing. Large blocks are mapped without reserving swap, so a device configured
 * larger than the host (an 80 GB GPU on a small machine) can still hand out big allocations;
 * pages only cost memory once written. */
static uint8_t *backing_new(size_t size)
{
    if (size < VM_MMAP_MIN) return calloc(1, size ? size : 1);
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

static void backing_free(uint8_t *p, size_t size)
{
    if (size < VM_MMAP_MIN) free(p);
    else if (p) munmap(p, size);
}

static size_t lower_bound(uint64_t addr)
{
    size_t lo = 0, hi = g_vm.n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (g_vm.a[mid].base <= addr) lo = mid + 1;
        else hi = mid;
    }
    return lo; /* first index with base > addr */
}

const vm_alloc *vm_find(uint64_t addr, uint64_t len)
{
    size_t i = lower_bound(addr);
    if (i == 0) return NULL;
    const vm_alloc *v = &g_vm.a[i - 1];
    uint64_t off = addr - v->base;
    if (off >= v->size || v->size - off < len) return NULL;
    return v;
}

static int find_gap(uint64_t size, uint64_t *out)
{
    uint64_t need = (size + VM_ALIGN - 1) / VM_ALIGN * VM_ALIGN + VM_GAP;
    if (g_vm.next == 0) g_vm.next = VM_GLOBAL_BASE;
    if (g_vm.next + need <= VM_LIMIT && (g_vm.n == 0 || g_vm.a[g_vm.n - 1].base + g_vm.a[g_vm.n - 1].size <= g_vm.next)) {
        *out = g_vm.next;
        g_vm.next += need;
        return 0;
    }
    /* wrapped: first fit between existing allocations */
    uint64_t cur = VM_GLOBAL_BASE;
    for (size_t i = 0; i <= g_vm.n; i++) {
        uint64_t end = i < g_vm.n ? g_vm.a[i].base : VM_LIMIT;
        if (end >= cur && end - cur >= need) {
            *out = cur;
            return 0;
        }
        if (i < g_vm.n) cur = (g_vm.a[i].base + g_vm.a[i].size + VM_GAP + VM_ALIGN - 1) / VM_ALIGN * VM_ALIGN;
    }
    return -1;
}

CUresult vm_alloc_new(CUcontext ctx, size_t size, int kind, uint64_t *out)
{
    emu_device *d = &g_emu.dev[ctx->dev];
    if (size > d->total_mem || d->used_mem > d->total_mem - size) return CUDA_ERROR_OUT_OF_MEMORY;
    uint64_t base;
    if (find_gap(size, &base)) return CUDA_ERROR_OUT_OF_MEMORY;
    if (g_vm.n == g_vm.cap) {
        size_t nc = g_vm.cap ? g_vm.cap * 2 : 64;
        vm_alloc *na = realloc(g_vm.a, nc * sizeof *na);
        if (!na) return CUDA_ERROR_OUT_OF_MEMORY;
        g_vm.a = na;
        g_vm.cap = nc;
    }
    uint8_t *host = backing_new(size);
    if (!host) return CUDA_ERROR_OUT_OF_MEMORY;
    size_t i = lower_bound(base);
    memmove(&g_vm.a[i + 1], &g_vm.a[i], (g_vm.n - i) * sizeof *g_vm.a);
    g_vm.a[i].base = base;
    g_vm.a[i].size = size;
    g_vm.a[i].host = host;
    g_vm.a[i].ctx = ctx;
    g_vm.a[i].kind = kind;
    g_vm.n++;
    d->used_mem += size;
    *out = base;
    return CUDA_SUCCESS;
}

static void remove_at(size_t i)
{
    vm_alloc *v = &g_vm.a[i];
    if (v->ctx) g_emu.dev[v->ctx->dev].used_mem -= v->size;
    backing_free(v->host, v->size);
    memmove(&g_vm.a[i], &g_vm.a[i + 1], (g_vm.n - i - 1) * sizeof *g_vm.a);
    g_vm.n--;
}

CUresult vm_free(uint64_t base, int kind)
{
    size_t i = lower_bound(base);
    if (i == 0 || g_vm.a[i - 1].base != base || g_vm.a[i - 1].kind != kind) return CUDA_ERROR_INVALID_VALUE;
    remove_at(i - 1);
    return CUDA_SUCCESS;
}

void vm_free_ctx(CUcontext ctx)
{
    for (size_t i = g_vm.n; i-- > 0;)
        if (g_vm.a[i].ctx == ctx) remove_at(i);
    if (g_vm.n == 0) {
        free(g_vm.a);
        memset(&g_vm, 0, sizeof g_vm);
    }
}
