/* vmem.c — the device address space: allocations get addresses in a fake device range
 * (VM_GLOBAL_BASE upwards) backed by host memory, kept sorted for a binary search lookup; memory is
 * accounted against the configured size of each device. Besides plain allocations the space holds
 * pinned/registered host buffers and managed memory (mapped at their own host address where that is
 * free, so host and device see one pointer), address reservations (cuMemAddressReserve) and pieces
 * of physical allocations mapped into them (cuMemMap), each with its own access rights. */
#include "emu.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

vm_space g_vm;

typedef struct vm_resv {
    uint64_t base, size;
} vm_resv;
static vm_resv *g_resv;
static size_t g_nresv, g_capresv;
static uint64_t g_next_id;

#define VM_ALIGN 512ull
#define VM_GAP 65536ull /* unmapped space between allocations so overruns fault */
#define VM_LIMIT (VM_GLOBAL_BASE + (1ull << 44))
#define VM_MMAP_MIN (1ull << 20) /* from this size, memory is reserved lazily with mmap */

/* Zeroed host backing. Large blocks are mapped without reserving swap, so a device configured
 * larger than the host (an 80 GB GPU on a small machine) can still hand out big allocations;
 * pages only cost memory once written. */
uint8_t *vm_backing_new(size_t size) {
    if (size < VM_MMAP_MIN) return calloc(1, size ? size : 1);
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

void vm_backing_free(uint8_t *p, size_t size) {
    if (size < VM_MMAP_MIN)
        free(p);
    else if (p)
        munmap(p, size);
}

static uint64_t page_round(uint64_t n) {
    uint64_t pg = (uint64_t)sysconf(_SC_PAGESIZE);
    return (n + pg - 1) / pg * pg;
}

static size_t lower_bound(uint64_t addr) {
    size_t lo = 0, hi = g_vm.n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (g_vm.a[mid].base <= addr)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo; /* first index with base > addr */
}

const vm_alloc *vm_find(uint64_t addr, uint64_t len) {
    size_t i = lower_bound(addr);
    if (i == 0) return NULL;
    const vm_alloc *v = &g_vm.a[i - 1];
    uint64_t off = addr - v->base;
    if (off >= v->size || v->size - off < len) return NULL;
    return v;
}

vm_alloc *vm_find_base(uint64_t base) {
    size_t i = lower_bound(base);
    if (i == 0 || g_vm.a[i - 1].base != base) return NULL;
    return &g_vm.a[i - 1];
}

int vm_covered(uint64_t addr, uint64_t len, int prot) {
    while (len > 0) {
        const vm_alloc *v = vm_find(addr, 1);
        if (!v || (v->prot & prot) != prot) return 0;
        uint64_t avail = v->base + v->size - addr;
        if (avail >= len) return 1;
        addr += avail;
        len -= avail;
    }
    return 1;
}

uint8_t *vm_piece(uint64_t addr, uint64_t *avail) {
    const vm_alloc *v = vm_find(addr, 1);
    if (!v) return NULL;
    *avail = v->base + v->size - addr;
    return v->host + (addr - v->base);
}

/* Is [b, b+n) free of allocations (with their guard gap) and, unless in_resv, of reservations?
 * When blocked, *next is the first address past the blocker. */
static int range_free(uint64_t b, uint64_t n, int in_resv, uint64_t *next) {
    size_t i = lower_bound(b + n - 1);
    if (i > 0) {
        const vm_alloc *v = &g_vm.a[i - 1];
        uint64_t end = v->base + v->size + (v->kind == VA_USER || v->kind == VA_MODULE ? VM_GAP : 0);
        if (end > b) {
            if (next) *next = end;
            return 0;
        }
    }
    if (!in_resv) {
        for (size_t k = 0; k < g_nresv; k++) {
            if (g_resv[k].base < b + n && g_resv[k].base + g_resv[k].size + VM_GAP > b) {
                if (next) *next = g_resv[k].base + g_resv[k].size + VM_GAP;
                return 0;
            }
        }
    }
    return 1;
}

/* The upper half of the address space is cut into one window per device (64 at most): a device's
 * allocations and module variables go to its window, so two processes that each drive a different
 * device of the same configuration (the lease workers of `lepton dev --emulate N`, one per GPU) never
 * hand out the same device address, and a client that sees several of them (the remote driver) can
 * tell by the address alone which device memory belongs to. Everything else (host registrations,
 * reservations, managed memory) takes the lower half. */
#define VM_DEV_BASE (VM_GLOBAL_BASE + (1ull << 43))
#define VM_DEV_WINDOW (1ull << 37)

/* A gap of size bytes (+ the guard gap) aligned to align inside [lo, hi): first at *next (then moved
 * past it), else the first fit from lo. 0 and *out, or -1. */
static int gap_in(uint64_t lo, uint64_t hi, uint64_t *next, uint64_t size, uint64_t align, uint64_t *out) {
    uint64_t need = (size + VM_ALIGN - 1) / VM_ALIGN * VM_ALIGN + VM_GAP;
    if (align < VM_ALIGN) align = VM_ALIGN;
    if (*next < lo || *next >= hi) *next = lo;
    uint64_t cur = (*next + align - 1) / align * align, nx;
    if (cur + need <= hi && cur + need > cur && range_free(cur, need, 0, NULL)) {
        *out = cur;
        *next = cur + need;
        return 0;
    }
    /* wrapped or blocked: first fit from the bottom */
    cur = lo;
    for (;;) {
        cur = (cur + align - 1) / align * align;
        if (cur + need > hi || cur + need < cur) return -1;
        if (range_free(cur, need, 0, &nx)) break;
        cur = nx;
    }
    *out = cur;
    return 0;
}

static int find_gap(uint64_t size, uint64_t align, uint64_t *out) {
    return gap_in(VM_GLOBAL_BASE, VM_DEV_BASE, &g_vm.next, size, align, out);
}

/* In device dev's window, else (full) anywhere. CUDAEMU_DEVICE_WINDOWS=0 puts every device in one
 * window, as a GPU driver may: two processes then hand out the same addresses, which tests clients
 * that must cope with that (the remote driver). */
static int find_gap_dev(int dev, uint64_t size, uint64_t *out) {
    uint64_t lo = VM_DEV_BASE + (uint64_t)dev * VM_DEV_WINDOW;
    if (!g_emu.shared_window && dev >= 0 && dev < 64 &&
        gap_in(lo, lo + VM_DEV_WINDOW, &g_emu.dev[dev].va_next, size, VM_ALIGN, out) == 0)
        return 0;
    return find_gap(size, VM_ALIGN, out);
}

/* First fit inside [lo, hi): the 32-bit window of the v1 entry points. */
static int find_gap_in(uint64_t lo, uint64_t hi, uint64_t size, uint64_t *out) {
    uint64_t need = (size + VM_ALIGN - 1) / VM_ALIGN * VM_ALIGN + VM_GAP, cur = lo, nx;
    for (;;) {
        cur = (cur + VM_ALIGN - 1) / VM_ALIGN * VM_ALIGN;
        if (cur + need > hi) return -1;
        if (range_free(cur, need, 0, &nx)) break;
        cur = nx;
    }
    *out = cur;
    return 0;
}

static CUresult insert(const vm_alloc *e) {
    vm_alloc *na = emu_grow(g_vm.a, &g_vm.cap, g_vm.n, sizeof *g_vm.a, 64);
    if (!na) return CUDA_ERROR_OUT_OF_MEMORY;
    g_vm.a = na;
    size_t i = lower_bound(e->base);
    memmove(&g_vm.a[i + 1], &g_vm.a[i], (g_vm.n - i) * sizeof *g_vm.a);
    g_vm.a[i] = *e;
    g_vm.a[i].id = ++g_next_id;
    g_vm.n++;
    return CUDA_SUCCESS;
}

CUresult vm_alloc_new(CUcontext ctx, size_t size, int kind, uint64_t *out) {
    emu_device *d = &g_emu.dev[ctx->dev];
    if (size > d->total_mem || d->used_mem > d->total_mem - size) return CUDA_ERROR_OUT_OF_MEMORY;
    uint64_t base;
    int low = kind == VA_USER32;
    if (low) kind = VA_USER;
    if (low ? find_gap_in(VM_LOW_BASE, VM_LOW_LIMIT, size, &base) : find_gap_dev(ctx->dev, size, &base))
        return CUDA_ERROR_OUT_OF_MEMORY;
    uint8_t *host = vm_backing_new(size);
    if (!host) return CUDA_ERROR_OUT_OF_MEMORY;
    vm_alloc e = {.base = base,
                  .size = size,
                  .host = host,
                  .ctx = ctx,
                  .owner = ctx,
                  .kind = kind,
                  .prot = VM_PROT_READ | VM_PROT_WRITE};
    if (insert(&e) != CUDA_SUCCESS) {
        vm_backing_free(host, size);
        return CUDA_ERROR_OUT_OF_MEMORY;
    }
    d->used_mem += size;
    *out = base;
    return CUDA_SUCCESS;
}

static int in_window(uint64_t b, uint64_t n) {
    uint64_t e = b + n;
    return (b < VM_SHARED_WIN + VM_WIN_SIZE && e > VM_SHARED_WIN) ||
           (b < VM_LOCAL_WIN + VM_WIN_SIZE && e > VM_LOCAL_WIN);
}

CUresult vm_add_host(void *host, size_t size, CUcontext owner, unsigned flags, int kind, uint64_t *out) {
    uint64_t b = (uint64_t)(uintptr_t)host;
    vm_alloc e = {.size = size,
                  .host = host,
                  .owner = owner,
                  .kind = kind,
                  .flags = flags,
                  .prot = VM_PROT_READ | VM_PROT_WRITE};
    /* the host address itself when nothing device-side sits there (one pointer for both sides) */
    if (b && !in_window(b, size) && range_free(b, size, 0, NULL)) {
        e.base = b;
    } else if (find_gap(size, VM_ALIGN, &e.base)) {
        return CUDA_ERROR_OUT_OF_MEMORY;
    }
    CUresult r = insert(&e);
    if (r == CUDA_SUCCESS) *out = e.base;
    return r;
}

CUresult vm_alloc_managed(size_t size, CUcontext owner, unsigned flags, uint64_t *out) {
    uint64_t len = page_round(size);
    uint64_t base;
    /* host memory placed at the device address chosen for it, so the pointer is the same on both sides */
    for (int tries = 0; tries < 8; tries++) {
        if (find_gap(len, 1ull << 21, &base)) return CUDA_ERROR_OUT_OF_MEMORY;
        void *p = mmap((void *)(uintptr_t)base, len, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED_NOREPLACE, -1, 0);
        if (p == (void *)(uintptr_t)base) {
            vm_alloc e = {.base = base,
                          .size = size,
                          .host = p,
                          .owner = owner,
                          .kind = VA_MANAGED,
                          .flags = flags,
                          .prot = VM_PROT_READ | VM_PROT_WRITE};
            CUresult r = insert(&e);
            if (r != CUDA_SUCCESS) {
                munmap(p, len);
                return r;
            }
            *out = base;
            return CUDA_SUCCESS;
        }
        if (p != MAP_FAILED) munmap(p, len);    /* an old kernel ignoring MAP_FIXED_NOREPLACE */
        g_vm.next = base + len + (64ull << 30); /* the host uses that place: skip past it */
    }
    emu_set_detail("cuMemAllocManaged: no host address range matching a free device range");
    return CUDA_ERROR_OUT_OF_MEMORY;
}

static void remove_at(size_t i) {
    vm_alloc *v = &g_vm.a[i];
    if (v->ctx) g_emu.dev[v->ctx->dev].used_mem -= v->size;
    if (v->kind == VA_USER || v->kind == VA_MODULE)
        vm_backing_free(v->host, v->size);
    else if (v->kind == VA_MANAGED) {
        munmap(v->host, page_round(v->size));
        free(v->obj); /* api_managed.c's advice record */
    }
    memmove(&g_vm.a[i], &g_vm.a[i + 1], (g_vm.n - i - 1) * sizeof *g_vm.a);
    g_vm.n--;
}

CUresult vm_free(uint64_t base, int kind) {
    size_t i = lower_bound(base);
    if (i == 0 || g_vm.a[i - 1].base != base || g_vm.a[i - 1].kind != kind) return CUDA_ERROR_INVALID_VALUE;
    remove_at(i - 1);
    return CUDA_SUCCESS;
}

void vm_free_ctx(CUcontext ctx) {
    for (size_t i = g_vm.n; i-- > 0;) {
        vm_alloc *v = &g_vm.a[i];
        if (v->ctx == ctx) {
            remove_at(i);
        } else if (v->owner == ctx && v->kind == VA_HOST) {
            /* as on a GPU, the context's pinned allocations go with it and its registrations end */
            uint8_t *host = v->flags & VM_HOST_REGISTERED ? NULL : v->host;
            remove_at(i);
            free(host);
        } else if (v->owner == ctx) {
            v->owner = NULL; /* managed and mapped memory outlive the context */
        }
    }
    if (g_vm.n == 0) {
        free(g_vm.a);
        g_vm.a = NULL;
        g_vm.cap = 0;
    }
}

/* ---- reservations and mapped pieces ---- */
static ssize_t resv_index(uint64_t addr, uint64_t len) {
    for (size_t k = 0; k < g_nresv; k++)
        if (addr >= g_resv[k].base && addr - g_resv[k].base < g_resv[k].size &&
            g_resv[k].size - (addr - g_resv[k].base) >= len)
            return (ssize_t)k;
    return -1;
}

int vm_in_reservation(uint64_t addr, uint64_t len) { return resv_index(addr, len) >= 0; }

CUresult vm_reserve(uint64_t size, uint64_t align, uint64_t hint, uint64_t *out) {
    uint64_t base = 0;
    if (hint && hint % align == 0 && hint >= VM_GLOBAL_BASE && hint + size + VM_GAP <= VM_LIMIT &&
        range_free(hint, size + VM_GAP, 0, NULL) &&
        (hint == VM_GLOBAL_BASE || range_free(hint - 1, 1, 0, NULL)))
        base = hint;
    else if (find_gap(size, align, &base))
        return CUDA_ERROR_OUT_OF_MEMORY;
    vm_resv *n = emu_grow(g_resv, &g_capresv, g_nresv, sizeof *g_resv, 16);
    if (!n) return CUDA_ERROR_OUT_OF_MEMORY;
    g_resv = n;
    g_resv[g_nresv].base = base;
    g_resv[g_nresv].size = size;
    g_nresv++;
    *out = base;
    return CUDA_SUCCESS;
}

CUresult vm_unreserve(uint64_t base, uint64_t size) {
    for (size_t k = 0; k < g_nresv; k++) {
        if (g_resv[k].base != base || g_resv[k].size != size) continue;
        if (!range_free(base, size, 1, NULL)) {
            emu_set_detail("cuMemAddressFree: range 0x%llx+%llu still has mappings; cuMemUnmap them first",
                           (unsigned long long)base, (unsigned long long)size);
            return CUDA_ERROR_INVALID_VALUE;
        }
        g_resv[k] = g_resv[--g_nresv];
        if (g_nresv == 0) {
            free(g_resv);
            g_resv = NULL;
            g_capresv = 0;
        }
        return CUDA_SUCCESS;
    }
    emu_set_detail("cuMemAddressFree: 0x%llx+%llu is not a reservation made by cuMemAddressReserve",
                   (unsigned long long)base, (unsigned long long)size);
    return CUDA_ERROR_INVALID_VALUE;
}

CUresult vm_map_piece(uint64_t addr, uint64_t size, uint8_t *host, void *obj, CUcontext owner) {
    if (resv_index(addr, size) < 0) {
        emu_set_detail("cuMemMap: 0x%llx+%llu is not inside one reservation", (unsigned long long)addr,
                       (unsigned long long)size);
        return CUDA_ERROR_INVALID_VALUE;
    }
    /* mapped pieces carry no guard gap: adjacent pieces must be able to touch */
    size_t i = lower_bound(addr + size - 1);
    if (i > 0 && g_vm.a[i - 1].base + g_vm.a[i - 1].size > addr) {
        emu_set_detail("cuMemMap: 0x%llx+%llu overlaps an existing mapping; cuMemUnmap it first",
                       (unsigned long long)addr, (unsigned long long)size);
        return CUDA_ERROR_INVALID_VALUE;
    }
    vm_alloc e = {
        .base = addr, .size = size, .host = host, .owner = owner, .kind = VA_VMAP, .obj = obj, .prot = 0};
    return insert(&e);
}

CUresult vm_unmap_range(uint64_t addr, uint64_t size, void (*release)(void *obj)) {
    if (resv_index(addr, size) < 0) return CUDA_ERROR_INVALID_VALUE;
    /* the range must consist of whole mappings */
    size_t first = lower_bound(addr), last = lower_bound(addr + size - 1);
    if (first > 0 && g_vm.a[first - 1].kind == VA_VMAP &&
        g_vm.a[first - 1].base + g_vm.a[first - 1].size > addr) {
        if (g_vm.a[first - 1].base != addr) return CUDA_ERROR_INVALID_VALUE;
        first--;
    }
    if (first >= last) return CUDA_ERROR_INVALID_VALUE; /* nothing mapped there */
    if (g_vm.a[first].base != addr || g_vm.a[last - 1].base + g_vm.a[last - 1].size != addr + size)
        return CUDA_ERROR_INVALID_VALUE; /* cuMemUnmap takes whole mappings only */
    for (size_t k = first; k < last; k++)
        if (g_vm.a[k].kind != VA_VMAP) return CUDA_ERROR_INVALID_VALUE;
    for (size_t k = last; k-- > first;) {
        void *obj = g_vm.a[k].obj;
        remove_at(k);
        if (release) release(obj);
    }
    return CUDA_SUCCESS;
}

CUresult vm_set_prot(uint64_t addr, uint64_t size, int prot) {
    if (resv_index(addr, size) < 0 || !vm_covered(addr, size, 0)) return CUDA_ERROR_INVALID_VALUE;
    size_t first = lower_bound(addr), last = lower_bound(addr + size - 1);
    if (first > 0 && g_vm.a[first - 1].base + g_vm.a[first - 1].size > addr) first--;
    for (size_t k = first; k < last; k++)
        g_vm.a[k].prot = prot;
    return CUDA_SUCCESS;
}
