/* vmm.c — virtual memory management the way PyTorch's expandable segments use it: reserve a large
 * range, create physical chunks, map them back to back, grant access, run kernels and copies across
 * chunk boundaries, grow the mapping, then unmap; a kernel touching an unmapped (or read-only) part
 * of the reservation fails with CUDA_ERROR_ILLEGAL_ADDRESS (checked in a child process, since the
 * error poisons the context). Also the documented refusals for bad input. */
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "entry_common.h"

#define MiB (1ull << 20)

static CUmemAllocationProp prop0(void) {
    CUmemAllocationProp p;
    memset(&p, 0, sizeof p);
    p.type = CU_MEM_ALLOCATION_TYPE_PINNED;
    p.location.type = CU_MEM_LOCATION_TYPE_DEVICE;
    p.location.id = 0;
    return p;
}

static void grant(CUdeviceptr p, size_t n, CUmemAccess_flags fl) {
    CUmemAccessDesc d;
    memset(&d, 0, sizeof d);
    d.location.type = CU_MEM_LOCATION_TYPE_DEVICE;
    d.location.id = 0;
    d.flags = fl;
    CHECK(cuMemSetAccess(p, n, &d, 1));
}

/* child: map two chunks, drop the second (or make it read-only), touch both from a kernel */
static int child(const char *mode) {
    make_context();
    CUmodule mod = NULL;
    CUfunction f = entry_kernel(&mod, "axpb");
    CUmemAllocationProp p = prop0();
    CUdeviceptr base;
    CUmemGenericAllocationHandle h[2];
    CHECK(cuMemAddressReserve(&base, 8 * MiB, 0, 0, 0));
    for (int i = 0; i < 2; i++) {
        CHECK(cuMemCreate(&h[i], 2 * MiB, &p, 0));
        CHECK(cuMemMap(base + i * 2 * MiB, 2 * MiB, 0, h[i], 0));
    }
    grant(base, 2 * MiB, CU_MEM_ACCESS_FLAGS_PROT_READWRITE);
    if (strcmp(mode, "child-readonly") == 0) {
        grant(base + 2 * MiB, 2 * MiB, CU_MEM_ACCESS_FLAGS_PROT_READ);
        /* reading is allowed */
        unsigned v = 7;
        EXPECT_CU(cuMemcpyDtoH(&v, base + 2 * MiB + 64, 4), CUDA_SUCCESS);
    } else {
        grant(base + 2 * MiB, 2 * MiB, CU_MEM_ACCESS_FLAGS_PROT_READWRITE);
        CHECK(cuMemUnmap(base + 2 * MiB, 2 * MiB));
    }
    unsigned long long n = (4 * MiB) / 4;
    CUresult r = entry_axpb(f, base, n, 1, 1, 0, 64, 256);
    if (r == CUDA_SUCCESS) r = cuCtxSynchronize();
    if (r != CUDA_ERROR_ILLEGAL_ADDRESS) {
        fprintf(stderr, "%s: kernel over the range -> %d, want CUDA_ERROR_ILLEGAL_ADDRESS\n", mode, (int)r);
        return 1;
    }
    return g_failures != 0;
}

static int run_child(const char *self, const char *mode) {
    pid_t pid = fork();
    if (pid == 0) {
        execl(self, self, mode, (char *)NULL);
        _exit(127);
    }
    int st = 0;
    if (pid < 0 || waitpid(pid, &st, 0) != pid) return 0;
    return WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

int main(int argc, char **argv) {
    if (argc > 1) return child(argv[1]);
    CUcontext ctx = make_context();
    (void)ctx;
    int v = -1;
    CHECK(cuDeviceGetAttribute(&v, CU_DEVICE_ATTRIBUTE_VIRTUAL_MEMORY_MANAGEMENT_SUPPORTED, 0));
    EXPECT(v == 1, "VIRTUAL_MEMORY_MANAGEMENT_SUPPORTED = %d", v);
    CHECK(cuDeviceGetAttribute(&v, CU_DEVICE_ATTRIBUTE_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR_SUPPORTED, 0));
    EXPECT(v == 0, "HANDLE_TYPE_POSIX_FILE_DESCRIPTOR_SUPPORTED = %d (export is not supported)", v);

    CUmemAllocationProp p = prop0();
    size_t gmin = 0, grec = 0;
    CHECK(cuMemGetAllocationGranularity(&gmin, &p, CU_MEM_ALLOC_GRANULARITY_MINIMUM));
    CHECK(cuMemGetAllocationGranularity(&grec, &p, CU_MEM_ALLOC_GRANULARITY_RECOMMENDED));
    EXPECT(gmin == 2 * MiB && grec == 2 * MiB, "granularity %zu/%zu", gmin, grec);

    CUmodule mod = NULL;
    CUfunction f = entry_kernel(&mod, "axpb");
    size_t free0, total;
    CHECK(cuMemGetInfo(&free0, &total));

    /* reserve 32 MiB; three 2 MiB chunks mapped contiguously at its start */
    const size_t resv = 32 * MiB;
    CUdeviceptr base;
    CHECK(cuMemAddressReserve(&base, resv, 0, 0, 0));
    EXPECT(base % (2 * MiB) == 0, "reservation 0x%llx not 2 MiB aligned", (unsigned long long)base);
    CUmemGenericAllocationHandle h[4];
    for (int i = 0; i < 3; i++) {
        CHECK(cuMemCreate(&h[i], 2 * MiB, &p, 0));
        CHECK(cuMemMap(base + (size_t)i * 2 * MiB, 2 * MiB, 0, h[i], 0));
    }
    /* mapped but not yet accessible: copies are refused */
    unsigned probe = 1;
    EXPECT_CU(cuMemcpyHtoD(base, &probe, 4), CUDA_ERROR_INVALID_VALUE);
    grant(base, 6 * MiB, CU_MEM_ACCESS_FLAGS_PROT_READWRITE);
    unsigned long long acc = 0;
    CUmemLocation loc = {CU_MEM_LOCATION_TYPE_DEVICE, 0};
    CHECK(cuMemGetAccess(&acc, &loc, base + 3 * MiB));
    EXPECT(acc == CU_MEM_ACCESS_FLAGS_PROT_READWRITE, "cuMemGetAccess = %llu", acc);

    /* one copy spanning the three chunks, a kernel over all of it, one copy back */
    size_t n = 6 * MiB / 4;
    unsigned *host = malloc(10 * MiB), *ref = malloc(10 * MiB);
    for (size_t i = 0; i < n; i++)
        host[i] = ref[i] = (unsigned)(i * 2654435761u);
    CHECK(cuMemcpyHtoD(base, host, n * 4));
    CHECK(entry_axpb(f, base, n, 3, 5, 1, 132, 256));
    CHECK(cuCtxSynchronize());
    for (size_t i = 0; i < n; i++)
        ref[i] = ref[i] * 3 + 5 + (unsigned)i;
    memset(host, 0, n * 4);
    CHECK(cuMemcpyDtoH(host, base, n * 4));
    size_t bad = 0;
    for (size_t i = 0; i < n; i++)
        bad += host[i] != ref[i];
    EXPECT(bad == 0, "%zu of %zu words differ after the kernel over three chunks", bad, n);

    /* an unaligned word straddling no boundary but a copy straddling one */
    unsigned pair[2] = {0xAAAA5555u, 0x5555AAAAu};
    CHECK(cuMemcpyHtoD(base + 2 * MiB - 4, pair, 8));
    unsigned back[2] = {0, 0};
    CHECK(cuMemcpyDtoH(back, base + 2 * MiB - 4, 8));
    EXPECT(back[0] == pair[0] && back[1] == pair[1], "copy across the chunk boundary");
    ref[n / 3 - 1] = pair[0]; /* keep ref in sync: 2 MiB - 4 is word n/3-1 */
    ref[n / 3] = pair[1];

    /* grow: a 4 MiB chunk mapped right after, the kernel now covers 10 MiB */
    CHECK(cuMemCreate(&h[3], 4 * MiB, &p, 0));
    CHECK(cuMemMap(base + 6 * MiB, 4 * MiB, 0, h[3], 0));
    grant(base + 6 * MiB, 4 * MiB, CU_MEM_ACCESS_FLAGS_PROT_READWRITE);
    size_t n2 = 10 * MiB / 4;
    CHECK(cuMemsetD32(base + 6 * MiB, 11u, 4 * MiB / 4));
    for (size_t i = n; i < n2; i++)
        ref[i] = 11u;
    CHECK(entry_axpb(f, base, n2, 1, 0, 2, 200, 128));
    for (size_t i = 0; i < n2; i++)
        ref[i] = ref[i] + 2u * (unsigned)i;
    CHECK(cuMemcpyDtoH(host, base, n2 * 4));
    bad = 0;
    for (size_t i = 0; i < n2; i++)
        bad += host[i] != ref[i];
    EXPECT(bad == 0, "%zu of %zu words differ after growing the mapping", bad, n2);

    /* what the driver knows about a mapped address */
    CUmemGenericAllocationHandle hr = 0;
    CHECK(cuMemRetainAllocationHandle(&hr, (void *)(uintptr_t)(base + 2 * MiB + 5)));
    EXPECT(hr == h[1], "cuMemRetainAllocationHandle gave another allocation");
    CHECK(cuMemRelease(hr));
    CUmemAllocationProp got;
    CHECK(cuMemGetAllocationPropertiesFromHandle(&got, h[3]));
    EXPECT(got.type == CU_MEM_ALLOCATION_TYPE_PINNED && got.location.id == 0, "properties from handle");
    unsigned mt = 0;
    CHECK(cuPointerGetAttribute(&mt, CU_POINTER_ATTRIBUTE_MEMORY_TYPE, base + 7 * MiB));
    EXPECT(mt == CU_MEMORYTYPE_DEVICE, "memory type %u", mt);
    CUdeviceptr mb = 0;
    size_t ms = 0;
    CHECK(cuPointerGetAttribute(&mb, CU_POINTER_ATTRIBUTE_MAPPING_BASE_ADDR, base + 7 * MiB));
    CHECK(cuPointerGetAttribute(&ms, CU_POINTER_ATTRIBUTE_MAPPING_SIZE, base + 7 * MiB));
    EXPECT(mb == base + 6 * MiB && ms == 4 * MiB, "mapping 0x%llx+%zu", (unsigned long long)mb, ms);

    /* refusals CUDA documents */
    CUmemGenericAllocationHandle hx;
    EXPECT_CU(cuMemCreate(&hx, 1 * MiB, &p, 0), CUDA_ERROR_INVALID_VALUE);    /* not a granularity multiple */
    EXPECT_CU(cuMemMap(base, 2 * MiB, 0, h[0], 0), CUDA_ERROR_INVALID_VALUE); /* already mapped */
    EXPECT_CU(cuMemMap(base + 20 * MiB, 2 * MiB, 4096, h[0], 0),
              CUDA_ERROR_INVALID_VALUE); /* offset unaligned */
    EXPECT_CU(cuMemMap(base + 20 * MiB, 4 * MiB, 0, h[0], 0),
              CUDA_ERROR_INVALID_VALUE); /* beyond the chunk */
    EXPECT_CU(cuMemMap(base + resv - 2 * MiB, 4 * MiB, 0, h[3], 0),
              CUDA_ERROR_INVALID_VALUE);                                      /* past the reservation */
    EXPECT_CU(cuMemUnmap(base + 6 * MiB, 2 * MiB), CUDA_ERROR_INVALID_VALUE); /* half of a mapping */
    EXPECT_CU(cuMemAddressFree(base, resv), CUDA_ERROR_INVALID_VALUE);        /* still mapped */
    EXPECT_CU(cuMemAddressReserve(&mb, 3 * MiB / 2, 0, 0, 0), CUDA_ERROR_INVALID_VALUE);
    if (programs_on_cudaemu()) { /* cudaemu has no shareable handles; a GPU's driver has */
        int fd = -1;
        EXPECT_CU(cuMemExportToShareableHandle(&fd, h[0], CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR, 0),
                  CUDA_ERROR_NOT_SUPPORTED);
        p.requestedHandleTypes = CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR;
        EXPECT_CU(cuMemCreate(&hx, 2 * MiB, &p, 0), CUDA_ERROR_NOT_SUPPORTED);
        p.requestedHandleTypes = CU_MEM_HANDLE_TYPE_NONE;
    }

    /* handles released while mapped keep their memory until unmapped */
    for (int i = 0; i < 4; i++)
        CHECK(cuMemRelease(h[i]));
    EXPECT_CU(cuMemRelease(h[0]), CUDA_ERROR_INVALID_VALUE);
    CHECK(cuMemcpyDtoH(host, base, 4));
    EXPECT(host[0] == ref[0], "memory of released but mapped chunk");
    CHECK(cuMemUnmap(base, 2 * MiB));
    CHECK(cuMemUnmap(base + 2 * MiB, 4 * MiB)); /* two whole mappings at once */
    CHECK(cuMemUnmap(base + 6 * MiB, 4 * MiB));
    EXPECT_CU(cuMemcpyDtoH(host, base, 4), CUDA_ERROR_INVALID_VALUE);
    CHECK(cuMemAddressFree(base, resv));
    size_t free1;
    CHECK(cuMemGetInfo(&free1, &total));
    EXPECT(free1 == free0, "free memory %zu after release, %zu before", free1, free0);

    /* kernels touching unmapped or read-only parts of a reservation fault */
    EXPECT(run_child(argv[0], "child-unmapped"),
           "kernel over an unmapped part did not fail with ILLEGAL_ADDRESS");
    EXPECT(run_child(argv[0], "child-readonly"),
           "store into a read-only mapping did not fail with ILLEGAL_ADDRESS");

    free(host);
    free(ref);
    CHECK(cuModuleUnload(mod));
    printf("vmm: %s\n", g_failures ? "FAILED" : "ok");
    return g_failures != 0;
}
