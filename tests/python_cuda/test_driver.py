"""cuda.bindings.driver programs in the style of NVIDIA's cuda-python examples, run on cudaemu."""
import ctypes

import numpy as np
import pytest
from cuda.bindings import driver, nvrtc

from conftest import check, needs, nvcc_ptx

SAXPY = """\
extern "C" __global__ void saxpy(float a, const float *x, const float *y, float *out, size_t n)
{
    size_t tid = blockIdx.x * blockDim.x + threadIdx.x;
    if (tid < n) out[tid] = a * x[tid] + y[tid];
}
"""

VECTOR_ADD = """\
extern "C" __global__ void vectorAdd(const float *A, const float *B, float *C, int n)
{
    int i = blockDim.x * blockIdx.x + threadIdx.x;
    if (i < n) C[i] = A[i] + B[i];
}
"""

# Block sums in dynamic shared memory (a tree reduction), then one atomicAdd per block.
REDUCE = """\
extern "C" __global__ void reduceSum(const int *in, unsigned long long *total, int n)
{
    extern __shared__ int sdata[];
    unsigned tid = threadIdx.x;
    int i = blockIdx.x * blockDim.x * 2 + threadIdx.x;
    int v = 0;
    if (i < n) v += in[i];
    if (i + blockDim.x < n) v += in[i + blockDim.x];
    sdata[tid] = v;
    __syncthreads();
    for (unsigned s = blockDim.x / 2; s > 0; s >>= 1) {
        if (tid < s) sdata[tid] += sdata[tid + s];
        __syncthreads();
    }
    if (tid == 0) atomicAdd(total, (unsigned long long)(long long)sdata[0]);
}
"""

SCALE = """\
extern "C" __global__ void scale(float *x, float s, int n)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) x[i] *= s;
}
"""


def _nvrtc_check(result):
    err = result[0]
    assert err == nvrtc.nvrtcResult.NVRTC_SUCCESS, f"{err!r}"
    return result[1] if len(result) == 2 else result[1:]


def test_device_and_context(cuda_device, context):
    assert check(driver.cuDeviceGetCount()) >= 1
    name = check(driver.cuDeviceGetName(256, cuda_device)).split(b"\0")[0]
    assert name
    attr = driver.CUdevice_attribute
    major = check(driver.cuDeviceGetAttribute(attr.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, cuda_device))
    minor = check(driver.cuDeviceGetAttribute(attr.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, cuda_device))
    assert (major, minor) == (9, 0)
    assert check(driver.cuDeviceGetAttribute(attr.CU_DEVICE_ATTRIBUTE_WARP_SIZE, cuda_device)) == 32
    assert check(driver.cuDeviceGetAttribute(attr.CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_BLOCK, cuda_device)) == 1024
    total = check(driver.cuDeviceTotalMem(cuda_device))
    assert total > 0
    assert int(check(driver.cuCtxGetDevice())) == int(cuda_device)
    free0, total0 = check(driver.cuMemGetInfo())
    assert total0 == total
    size = 8 << 20
    dptr = check(driver.cuMemAlloc(size))
    free1, _ = check(driver.cuMemGetInfo())
    assert free0 - free1 >= size
    base, length = check(driver.cuMemGetAddressRange(dptr))
    assert int(base) == int(dptr) and length == size
    check(driver.cuMemFree(dptr))
    assert check(driver.cuMemGetInfo())[0] == free0
    # a context of its own, pushed over the primary one and popped again
    ctx = check(driver.cuCtxCreate(None, 0, cuda_device))
    assert int(check(driver.cuCtxGetCurrent())) == int(ctx)
    check(driver.cuCtxPopCurrent())
    check(driver.cuCtxDestroy(ctx))
    assert int(check(driver.cuCtxGetCurrent())) == int(context)


@needs("nvrtc")
def test_nvrtc_saxpy(cuda_device, context, rng):
    """NVRTC-compiled saxpy loaded with cuModuleLoadData, launched with a packed argument array."""
    attr = driver.CUdevice_attribute
    major = check(driver.cuDeviceGetAttribute(attr.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, cuda_device))
    minor = check(driver.cuDeviceGetAttribute(attr.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, cuda_device))
    prog = _nvrtc_check(nvrtc.nvrtcCreateProgram(SAXPY.encode(), b"saxpy.cu", 0, [], []))
    opts = [f"--gpu-architecture=compute_{major}{minor}".encode(), b"-default-device"]
    err, = nvrtc.nvrtcCompileProgram(prog, len(opts), opts)
    if err != nvrtc.nvrtcResult.NVRTC_SUCCESS:
        size = _nvrtc_check(nvrtc.nvrtcGetProgramLogSize(prog))
        log = b" " * size
        nvrtc.nvrtcGetProgramLog(prog, log)
        pytest.fail(log.decode())
    ptx_size = _nvrtc_check(nvrtc.nvrtcGetPTXSize(prog))
    ptx = b" " * ptx_size
    _nvrtc_check(nvrtc.nvrtcGetPTX(prog, ptx))
    _nvrtc_check(nvrtc.nvrtcDestroyProgram(prog))

    module = check(driver.cuModuleLoadData(np.char.array(ptx)))
    kernel = check(driver.cuModuleGetFunction(module, b"saxpy"))

    n = 5000
    a = np.array([2.5], dtype=np.float32)
    h_x = rng.random(n, dtype=np.float32)
    h_y = rng.random(n, dtype=np.float32)
    h_out = np.zeros(n, dtype=np.float32)
    nbytes = h_x.nbytes
    stream = check(driver.cuStreamCreate(0))
    d_x = check(driver.cuMemAlloc(nbytes))
    d_y = check(driver.cuMemAlloc(nbytes))
    d_out = check(driver.cuMemAlloc(nbytes))
    check(driver.cuMemcpyHtoDAsync(d_x, h_x.ctypes.data, nbytes, stream))
    check(driver.cuMemcpyHtoDAsync(d_y, h_y.ctypes.data, nbytes, stream))

    # each kernel argument is the address of a host value holding it
    arg_values = [a, np.array([int(d_x)], dtype=np.uint64), np.array([int(d_y)], dtype=np.uint64),
                  np.array([int(d_out)], dtype=np.uint64), np.array([n], dtype=np.uint64)]
    args = np.array([v.ctypes.data for v in arg_values], dtype=np.uint64)
    threads = 128
    blocks = (n + threads - 1) // threads
    check(driver.cuLaunchKernel(kernel, blocks, 1, 1, threads, 1, 1, 0, stream, args.ctypes.data, 0))
    check(driver.cuMemcpyDtoHAsync(h_out.ctypes.data, d_out, nbytes, stream))
    check(driver.cuStreamSynchronize(stream))
    np.testing.assert_allclose(h_out, a[0] * h_x + h_y, rtol=1e-6)

    for d in (d_x, d_y, d_out):
        check(driver.cuMemFree(d))
    check(driver.cuStreamDestroy(stream))
    check(driver.cuModuleUnload(module))


def _vector_add_on_host_and_device(kernel, rng, n=3000):
    h_a = rng.random(n, dtype=np.float32)
    h_b = rng.random(n, dtype=np.float32)
    h_c = np.empty(n, dtype=np.float32)
    d_a = check(driver.cuMemAlloc(h_a.nbytes))
    d_b = check(driver.cuMemAlloc(h_b.nbytes))
    d_c = check(driver.cuMemAlloc(h_c.nbytes))
    check(driver.cuMemcpyHtoD(d_a, h_a.ctypes.data, h_a.nbytes))
    check(driver.cuMemcpyHtoD(d_b, h_b.ctypes.data, h_b.nbytes))
    # the bindings' other argument form: values with their ctypes (None for pointer-sized handles)
    params = ((d_a, d_b, d_c, n), (None, None, None, ctypes.c_int))
    check(driver.cuLaunchKernel(kernel, (n + 255) // 256, 1, 1, 256, 1, 1, 0, 0, params, 0))
    check(driver.cuCtxSynchronize())
    check(driver.cuMemcpyDtoH(h_c.ctypes.data, d_c, h_c.nbytes))
    for d in (d_a, d_b, d_c):
        check(driver.cuMemFree(d))
    np.testing.assert_array_equal(h_c, h_a + h_b)


def test_module_vector_add_ptx_file(context, rng):
    """A .ptx shipped with the program (made by nvcc), loaded with cuModuleLoadDataEx."""
    ptx = nvcc_ptx(VECTOR_ADD)
    module = check(driver.cuModuleLoadDataEx(ptx, 0, [], []))
    kernel = check(driver.cuModuleGetFunction(module, b"vectorAdd"))
    nparams = check(driver.cuFuncGetParamInfo(kernel, 3))
    assert nparams == (24, 4)  # offset and size of the int n
    _vector_add_on_host_and_device(kernel, rng)
    check(driver.cuModuleUnload(module))


@needs("library")
def test_library_vector_add(context, rng):
    """vectorAdd through the context-independent loading API (cuLibraryLoadData)."""
    ptx = nvcc_ptx(VECTOR_ADD)
    library = check(driver.cuLibraryLoadData(ptx, None, None, 0, None, None, 0))
    ckernel = check(driver.cuLibraryGetKernel(library, b"vectorAdd"))
    kernel = check(driver.cuKernelGetFunction(ckernel))
    _vector_add_on_host_and_device(kernel, rng)
    check(driver.cuLibraryUnload(library))


def test_streams_events_timing(context, rng):
    """Two streams ordered by an event; elapsed time between timing events."""
    module = check(driver.cuModuleLoadData(nvcc_ptx(SCALE)))
    scale = check(driver.cuModuleGetFunction(module, b"scale"))
    n = 4096
    h = rng.random(n, dtype=np.float32)
    out = np.empty(n, dtype=np.float32)
    s1 = check(driver.cuStreamCreate(driver.CUstream_flags.CU_STREAM_NON_BLOCKING))
    s2 = check(driver.cuStreamCreateWithPriority(0, -1))
    start = check(driver.cuEventCreate(driver.CUevent_flags.CU_EVENT_DEFAULT))
    stop = check(driver.cuEventCreate(driver.CUevent_flags.CU_EVENT_DEFAULT))
    ready = check(driver.cuEventCreate(driver.CUevent_flags.CU_EVENT_DISABLE_TIMING))
    d = check(driver.cuMemAlloc(h.nbytes))
    check(driver.cuEventRecord(start, s1))
    check(driver.cuMemcpyHtoDAsync(d, h.ctypes.data, h.nbytes, s1))
    check(driver.cuLaunchKernel(scale, n // 256, 1, 1, 256, 1, 1, 0, s1,
                                ((d, 3.0, n), (None, ctypes.c_float, ctypes.c_int)), 0))
    check(driver.cuEventRecord(ready, s1))
    check(driver.cuStreamWaitEvent(s2, ready, 0))
    check(driver.cuLaunchKernel(scale, n // 256, 1, 1, 256, 1, 1, 0, s2,
                                ((d, 0.5, n), (None, ctypes.c_float, ctypes.c_int)), 0))
    check(driver.cuMemcpyDtoHAsync(out.ctypes.data, d, out.nbytes, s2))
    check(driver.cuEventRecord(stop, s2))
    check(driver.cuEventSynchronize(stop))
    assert int(driver.cuEventQuery(stop)[0]) == 0
    assert int(driver.cuStreamQuery(s1)[0]) == 0
    ms = check(driver.cuEventElapsedTime(start, stop))
    assert 0.0 <= ms < 60_000.0
    # an event created without timing cannot be timed
    err, = driver.cuEventElapsedTime(start, ready)[:1]
    assert err == driver.CUresult.CUDA_ERROR_INVALID_HANDLE
    np.testing.assert_allclose(out, h * 3.0 * 0.5, rtol=1e-6)
    assert check(driver.cuStreamGetPriority(s2)) == -1
    # memsetD32 on a stream, checked on the host
    check(driver.cuMemsetD32Async(d, 0x3F800000, n, s1))  # 1.0f
    check(driver.cuStreamSynchronize(s1))
    check(driver.cuMemcpyDtoH(out.ctypes.data, d, out.nbytes))
    np.testing.assert_array_equal(out, np.ones(n, dtype=np.float32))
    for e in (start, stop, ready):
        check(driver.cuEventDestroy(e))
    check(driver.cuStreamDestroy(s1))
    check(driver.cuStreamDestroy(s2))
    check(driver.cuMemFree(d))
    check(driver.cuModuleUnload(module))


def test_shared_memory_atomic_reduction(context, rng):
    """Dynamic shared memory (sharedMemBytes) and a 64-bit atomicAdd: an exact integer sum."""
    module = check(driver.cuModuleLoadData(nvcc_ptx(REDUCE)))
    reduce_sum = check(driver.cuModuleGetFunction(module, b"reduceSum"))
    n = 100_003
    h = rng.integers(-1000, 1000, n, dtype=np.int32)
    d_in = check(driver.cuMemAlloc(h.nbytes))
    d_total = check(driver.cuMemAlloc(8))
    check(driver.cuMemcpyHtoD(d_in, h.ctypes.data, h.nbytes))
    check(driver.cuMemsetD8(d_total, 0, 8))
    threads = 256
    blocks = (n + 2 * threads - 1) // (2 * threads)
    check(driver.cuLaunchKernel(reduce_sum, blocks, 1, 1, threads, 1, 1, threads * 4, 0,
                                ((d_in, d_total, n), (None, None, ctypes.c_int)), 0))
    total = np.zeros(1, dtype=np.int64)
    check(driver.cuMemcpyDtoH(total.ctypes.data, d_total, 8))
    assert int(total[0]) == int(h.astype(np.int64).sum())
    check(driver.cuMemFree(d_in))
    check(driver.cuMemFree(d_total))
    check(driver.cuModuleUnload(module))


def _pool_attr(pool, attr):
    return int(check(driver.cuMemPoolGetAttribute(pool, attr)))


def test_stream_ordered_allocator(cuda_device, context, rng):
    """cuMemAllocAsync / cuMemAllocFromPoolAsync / cuMemFreeAsync with pool accounting."""
    A = driver.CUmemPool_attribute
    attr = driver.CUdevice_attribute
    assert check(driver.cuDeviceGetAttribute(attr.CU_DEVICE_ATTRIBUTE_MEMORY_POOLS_SUPPORTED, cuda_device)) == 1
    default = check(driver.cuDeviceGetDefaultMemPool(cuda_device))
    assert int(check(driver.cuDeviceGetMemPool(cuda_device))) == int(default)
    module = check(driver.cuModuleLoadData(nvcc_ptx(SCALE)))
    scale = check(driver.cuModuleGetFunction(module, b"scale"))
    stream = check(driver.cuStreamCreate(0))

    used0 = _pool_attr(default, A.CU_MEMPOOL_ATTR_USED_MEM_CURRENT)
    n = 2048
    h = rng.random(n, dtype=np.float32)
    d = check(driver.cuMemAllocAsync(h.nbytes, stream))
    assert _pool_attr(default, A.CU_MEMPOOL_ATTR_USED_MEM_CURRENT) == used0 + h.nbytes
    assert _pool_attr(default, A.CU_MEMPOOL_ATTR_USED_MEM_HIGH) >= used0 + h.nbytes
    check(driver.cuMemcpyHtoDAsync(d, h.ctypes.data, h.nbytes, stream))
    check(driver.cuLaunchKernel(scale, n // 256, 1, 1, 256, 1, 1, 0, stream,
                                ((d, -2.0, n), (None, ctypes.c_float, ctypes.c_int)), 0))
    out = np.empty_like(h)
    check(driver.cuMemcpyDtoHAsync(out.ctypes.data, d, out.nbytes, stream))
    check(driver.cuMemFreeAsync(d, stream))
    check(driver.cuStreamSynchronize(stream))
    np.testing.assert_array_equal(out, h * np.float32(-2.0))
    assert _pool_attr(default, A.CU_MEMPOOL_ATTR_USED_MEM_CURRENT) == used0
    check(driver.cuMemPoolTrimTo(default, 0))

    # a pool of its own, limited to 1 MiB, made the device's current pool
    props = driver.CUmemPoolProps()
    props.allocType = driver.CUmemAllocationType.CU_MEM_ALLOCATION_TYPE_PINNED
    props.handleTypes = driver.CUmemAllocationHandleType.CU_MEM_HANDLE_TYPE_NONE
    props.location.type = driver.CUmemLocationType.CU_MEM_LOCATION_TYPE_DEVICE
    props.location.id = int(cuda_device)
    props.maxSize = 1 << 20
    pool = check(driver.cuMemPoolCreate(props))
    threshold = driver.cuuint64_t(1 << 30)
    check(driver.cuMemPoolSetAttribute(pool, A.CU_MEMPOOL_ATTR_RELEASE_THRESHOLD, threshold))
    assert _pool_attr(pool, A.CU_MEMPOOL_ATTR_RELEASE_THRESHOLD) == 1 << 30
    p1 = check(driver.cuMemAllocFromPoolAsync(512 << 10, pool, stream))
    err, _ = driver.cuMemAllocFromPoolAsync(768 << 10, pool, stream)
    assert err == driver.CUresult.CUDA_ERROR_OUT_OF_MEMORY
    check(driver.cuDeviceSetMemPool(cuda_device, pool))
    p2 = check(driver.cuMemAllocAsync(256 << 10, stream))
    assert _pool_attr(pool, A.CU_MEMPOOL_ATTR_USED_MEM_CURRENT) == 768 << 10
    assert _pool_attr(default, A.CU_MEMPOOL_ATTR_USED_MEM_CURRENT) == used0
    check(driver.cuMemFreeAsync(p1, stream))
    check(driver.cuMemFreeAsync(p2, stream))
    check(driver.cuStreamSynchronize(stream))
    assert _pool_attr(pool, A.CU_MEMPOOL_ATTR_USED_MEM_CURRENT) == 0
    assert _pool_attr(pool, A.CU_MEMPOOL_ATTR_USED_MEM_HIGH) == 768 << 10
    check(driver.cuMemPoolSetAttribute(pool, A.CU_MEMPOOL_ATTR_USED_MEM_HIGH, driver.cuuint64_t(0)))
    assert _pool_attr(pool, A.CU_MEMPOOL_ATTR_USED_MEM_HIGH) == 0
    # the default pool cannot be destroyed; destroying the current one reverts to the default
    assert driver.cuMemPoolDestroy(default)[0] == driver.CUresult.CUDA_ERROR_INVALID_VALUE
    check(driver.cuMemPoolDestroy(pool))
    assert int(check(driver.cuDeviceGetMemPool(cuda_device))) == int(default)
    check(driver.cuStreamDestroy(stream))
    check(driver.cuModuleUnload(module))


POLY = """\
__constant__ float coeffs[4];
__device__ int calls;
extern "C" __global__ void poly(const float *x, float *y, int n)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) {
        float v = x[i];
        y[i] = ((coeffs[3] * v + coeffs[2]) * v + coeffs[1]) * v + coeffs[0];
        atomicAdd(&calls, 1);
    }
}
"""


def test_globals_attributes_occupancy_launch_ex(context, cuda_device, rng):
    """__constant__/__device__ variables through cuModuleGetGlobal, cuFuncGetAttribute, an
    occupancy-sized block and cuLaunchKernelEx with a launch attribute."""
    module = check(driver.cuModuleLoadData(nvcc_ptx(POLY)))
    poly = check(driver.cuModuleGetFunction(module, b"poly"))
    coeffs = np.array([0.5, -1.0, 0.25, 2.0], dtype=np.float32)
    d_coeffs, size = check(driver.cuModuleGetGlobal(module, b"coeffs"))
    assert size == coeffs.nbytes
    check(driver.cuMemcpyHtoD(d_coeffs, coeffs.ctypes.data, coeffs.nbytes))
    d_calls, size = check(driver.cuModuleGetGlobal(module, b"calls"))
    assert size == 4
    check(driver.cuMemsetD32(d_calls, 0, 1))
    fa = driver.CUfunction_attribute
    max_threads = check(driver.cuFuncGetAttribute(fa.CU_FUNC_ATTRIBUTE_MAX_THREADS_PER_BLOCK, poly))
    assert 0 < max_threads <= 1024
    min_grid, block = check(driver.cuOccupancyMaxPotentialBlockSize(poly, 0, 0, 0))
    assert 0 < block <= max_threads and min_grid > 0
    n = 7777
    x = rng.random(n, dtype=np.float32) * 4 - 2
    d_x = check(driver.cuMemAlloc(x.nbytes))
    d_y = check(driver.cuMemAlloc(x.nbytes))
    check(driver.cuMemcpyHtoD(d_x, x.ctypes.data, x.nbytes))
    config = driver.CUlaunchConfig()
    config.gridDimX, config.gridDimY, config.gridDimZ = (n + block - 1) // block, 1, 1
    config.blockDimX, config.blockDimY, config.blockDimZ = block, 1, 1
    config.sharedMemBytes = 0
    config.hStream = 0
    attr = driver.CUlaunchAttribute()
    attr.id = driver.CUlaunchAttributeID.CU_LAUNCH_ATTRIBUTE_PRIORITY
    attr.value.priority = 0
    config.attrs = [attr]
    config.numAttrs = 1
    check(driver.cuLaunchKernelEx(config, poly, ((d_x, d_y, n), (None, None, ctypes.c_int)), 0))
    check(driver.cuCtxSynchronize())
    y = np.empty(n, dtype=np.float32)
    check(driver.cuMemcpyDtoH(y.ctypes.data, d_y, y.nbytes))
    calls = np.zeros(1, dtype=np.int32)
    check(driver.cuMemcpyDtoH(calls.ctypes.data, d_calls, 4))
    expect = ((coeffs[3] * x + coeffs[2]) * x + coeffs[1]) * x + coeffs[0]
    np.testing.assert_allclose(y, expect, rtol=1e-5, atol=1e-6)
    assert int(calls[0]) == n
    check(driver.cuMemFree(d_x))
    check(driver.cuMemFree(d_y))
    check(driver.cuModuleUnload(module))


def test_zero_copy_host_memory(context, rng):
    """simpleZeroCopy-style: page-locked mapped host memory read and written by a kernel in place."""
    module = check(driver.cuModuleLoadData(nvcc_ptx(VECTOR_ADD)))
    kernel = check(driver.cuModuleGetFunction(module, b"vectorAdd"))
    n = 2500
    nbytes = n * 4
    flags = driver.CU_MEMHOSTALLOC_DEVICEMAP
    hosts = [check(driver.cuMemHostAlloc(nbytes, flags)) for _ in range(3)]
    views = [np.ctypeslib.as_array((ctypes.c_float * n).from_address(int(h))) for h in hosts]
    views[0][:] = rng.random(n, dtype=np.float32)
    views[1][:] = rng.random(n, dtype=np.float32)
    dptrs = [check(driver.cuMemHostGetDevicePointer(h, 0)) for h in hosts]
    check(driver.cuLaunchKernel(kernel, (n + 127) // 128, 1, 1, 128, 1, 1, 0, 0,
                                ((dptrs[0], dptrs[1], dptrs[2], n), (None, None, None, ctypes.c_int)), 0))
    check(driver.cuCtxSynchronize())
    np.testing.assert_array_equal(views[2], views[0] + views[1])
    for h in hosts:
        check(driver.cuMemFreeHost(h))
    check(driver.cuModuleUnload(module))


def test_virtual_memory_management(cuda_device, context, rng):
    """vectorAddMMAP-style: physical chunks mapped into one reserved range, used by a kernel."""
    prop = driver.CUmemAllocationProp()
    prop.type = driver.CUmemAllocationType.CU_MEM_ALLOCATION_TYPE_PINNED
    prop.location.type = driver.CUmemLocationType.CU_MEM_LOCATION_TYPE_DEVICE
    prop.location.id = int(cuda_device)
    gran = check(driver.cuMemGetAllocationGranularity(
        prop, driver.CUmemAllocationGranularity_flags.CU_MEM_ALLOC_GRANULARITY_MINIMUM))
    assert gran > 0
    chunk = gran
    total = 2 * chunk
    va = check(driver.cuMemAddressReserve(total, 0, 0, 0))
    handles = []
    for i in range(2):
        h = check(driver.cuMemCreate(chunk, prop, 0))
        check(driver.cuMemMap(int(va) + i * chunk, chunk, 0, h, 0))
        handles.append(h)
    access = driver.CUmemAccessDesc()
    access.location.type = driver.CUmemLocationType.CU_MEM_LOCATION_TYPE_DEVICE
    access.location.id = int(cuda_device)
    access.flags = driver.CUmemAccess_flags.CU_MEM_ACCESS_FLAGS_PROT_READWRITE
    check(driver.cuMemSetAccess(va, total, [access], 1))
    # one array that straddles the two physical chunks
    n = total // 4 // 3
    a = rng.random(n, dtype=np.float32)
    b = rng.random(n, dtype=np.float32)
    d_a = driver.CUdeviceptr(int(va))
    d_b = driver.CUdeviceptr(int(va) + n * 4)
    d_c = driver.CUdeviceptr(int(va) + 2 * n * 4)
    check(driver.cuMemcpyHtoD(d_a, a.ctypes.data, a.nbytes))
    check(driver.cuMemcpyHtoD(d_b, b.ctypes.data, b.nbytes))
    module = check(driver.cuModuleLoadData(nvcc_ptx(VECTOR_ADD)))
    kernel = check(driver.cuModuleGetFunction(module, b"vectorAdd"))
    check(driver.cuLaunchKernel(kernel, (n + 255) // 256, 1, 1, 256, 1, 1, 0, 0,
                                ((d_a, d_b, d_c, n), (None, None, None, ctypes.c_int)), 0))
    check(driver.cuCtxSynchronize())
    c = np.empty(n, dtype=np.float32)
    check(driver.cuMemcpyDtoH(c.ctypes.data, d_c, c.nbytes))
    np.testing.assert_array_equal(c, a + b)
    check(driver.cuMemUnmap(va, total))
    for h in handles:
        check(driver.cuMemRelease(h))
    check(driver.cuMemAddressFree(va, total))
    check(driver.cuModuleUnload(module))
