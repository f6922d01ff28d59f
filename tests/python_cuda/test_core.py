"""cuda.core programs (Device, Program, ObjectCode, launch, memory resources, events) on cudaemu.

cudaemu runs PTX only: Program.compile("ptx") and ObjectCode.from_ptx give code it runs, while a
cubin (SASS for a real GPU) is refused with CUDA_ERROR_NO_BINARY_FOR_GPU when cuda.core loads it."""
import ctypes

import numpy as np
import pytest
from cuda.bindings import driver
from cuda.core import (Device, EventOptions, LaunchConfig, LegacyPinnedMemoryResource, ObjectCode, Program,
                       ProgramOptions, launch)

from conftest import ON_CUDAEMU, check, cudaemu_only, needs, nvcc_ptx

SAXPY = """\
template<typename T>
__global__ void saxpy(const T a, const T *x, const T *y, T *out, size_t n)
{
    const unsigned tid = threadIdx.x + blockIdx.x * blockDim.x;
    for (size_t i = tid; i < n; i += gridDim.x * blockDim.x) out[i] = a * x[i] + y[i];
}
"""

HISTOGRAM = """\
extern "C" __global__ void histogram(const unsigned char *data, unsigned *bins, int n)
{
    __shared__ unsigned local[256];
    for (int b = threadIdx.x; b < 256; b += blockDim.x) local[b] = 0;
    __syncthreads();
    for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x)
        atomicAdd(&local[data[i]], 1u);
    __syncthreads();
    for (int b = threadIdx.x; b < 256; b += blockDim.x) atomicAdd(&bins[b], local[b]);
}
"""

SCALE_IN_PLACE = """\
extern "C" __global__ void scale(float *x, float s, int n)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) x[i] *= s;
}
"""


@pytest.fixture
def device():
    dev = Device(0)
    dev.set_current()
    return dev


def _host_view(buf, dtype, n):
    """A numpy view of a page-locked host buffer."""
    ctype = np.ctypeslib.as_ctypes_type(dtype)
    return np.ctypeslib.as_array((ctype * n).from_address(int(buf.handle)))


def _to_device(stream, mr, array):
    buf = mr.allocate(array.nbytes, stream=stream)
    check(driver.cuMemcpyHtoDAsync(int(buf.handle), array.ctypes.data, array.nbytes, stream.handle))
    return buf


def _to_host(stream, buf, dtype, n):
    out = np.empty(n, dtype=dtype)
    check(driver.cuMemcpyDtoHAsync(out.ctypes.data, int(buf.handle), out.nbytes, stream.handle))
    stream.sync()
    return out


def test_device_properties(device):
    assert device.compute_capability == (9, 0)
    assert device.arch == "90"
    props = device.properties
    assert props.max_threads_per_block == 1024
    assert props.warp_size == 32
    assert props.multiprocessor_count == check(driver.cuDeviceGetAttribute(
        driver.CUdevice_attribute.CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT, device.device_id))
    assert device.name


def test_memory_resource_buffers(device, rng):
    """Buffers from device.memory_resource (a memory pool): fill, device-to-device copy, release."""
    from cuda.core import DeviceMemoryResource
    mr = device.memory_resource
    assert isinstance(mr, DeviceMemoryResource)
    stream = device.create_stream()
    n = 1 << 16
    a = mr.allocate(n, stream=stream)
    b = mr.allocate(n, stream=stream)
    assert a.size == n and a.device_id == device.device_id
    a.fill(0x5A, stream=stream)
    b.copy_from(a, stream=stream)
    host = rng.integers(0, 255, 1000, dtype=np.uint8)
    check(driver.cuMemcpyHtoDAsync(int(b.handle) + 100, host.ctypes.data, host.nbytes, stream.handle))
    out = _to_host(stream, b, np.uint8, n)
    expect = np.full(n, 0x5A, dtype=np.uint8)
    expect[100:1100] = host
    np.testing.assert_array_equal(out, expect)
    pool = driver.CUmemoryPool(int(mr.handle))
    used = int(check(driver.cuMemPoolGetAttribute(pool, driver.CUmemPool_attribute.CU_MEMPOOL_ATTR_USED_MEM_CURRENT)))
    assert used >= 2 * n
    a.close(stream)
    b.close(stream)
    stream.sync()
    after = int(check(driver.cuMemPoolGetAttribute(pool, driver.CUmemPool_attribute.CU_MEMPOOL_ATTR_USED_MEM_CURRENT)))
    assert after == used - 2 * n
    stream.close()


@needs("nvrtc", "library")
def test_program_ptx_saxpy(device, rng):
    """Program(code, "c++").compile("ptx") with a template instantiated by name expressions."""
    opts = ProgramOptions(std="c++17", arch=f"sm_{device.arch}")
    prog = Program(SAXPY, code_type="c++", options=opts)
    mod = prog.compile("ptx", name_expressions=("saxpy<float>", "saxpy<double>"))
    assert mod.code_type == "ptx"
    stream = device.create_stream()
    mr = device.memory_resource
    n = 10_000
    for dtype, name in ((np.float32, "saxpy<float>"), (np.float64, "saxpy<double>")):
        kernel = mod.get_kernel(name)
        x = rng.random(n).astype(dtype)
        y = rng.random(n).astype(dtype)
        a = dtype(3.25)
        dx, dy = _to_device(stream, mr, x), _to_device(stream, mr, y)
        dout = mr.allocate(x.nbytes, stream=stream)
        config = LaunchConfig(grid=32, block=128)  # grid-stride loop: fewer threads than elements
        launch(stream, config, kernel, a, dx, dy, dout, np.uint64(n))
        out = _to_host(stream, dout, dtype, n)
        np.testing.assert_allclose(out, a * x + y, rtol=1e-6 if dtype == np.float32 else 1e-12)
        for buf in (dx, dy, dout):
            buf.close(stream)
    stream.close()


@cudaemu_only  # a GPU's driver runs the cubin
@needs("nvrtc", "library")
def test_program_cubin_is_refused(device):
    """A cubin holds SASS for a real GPU: loading it fails cleanly (no crash, no wrong answer)."""
    from cuda.core._utils.cuda_utils import CUDAError
    prog = Program('extern "C" __global__ void k(int *p) { *p = 1; }', code_type="c++",
                   options=ProgramOptions(arch=f"sm_{device.arch}"))
    mod = prog.compile("cubin")
    assert mod.code_type == "cubin"
    with pytest.raises(CUDAError, match="CUDA_ERROR_NO_BINARY_FOR_GPU"):
        mod.get_kernel("k")


@needs("library")
def test_object_code_from_ptx_histogram_events(device, rng):
    """ObjectCode.from_ptx, shared-memory atomics, timing events and Stream.sync."""
    mod = ObjectCode.from_ptx(nvcc_ptx(HISTOGRAM))
    kernel = mod.get_kernel("histogram")
    stream = device.create_stream()
    mr = device.memory_resource
    n = 50_000
    data = rng.integers(0, 256, n, dtype=np.uint8)
    ddata = _to_device(stream, mr, data)
    dbins = mr.allocate(256 * 4, stream=stream)
    dbins.fill(0, stream=stream)
    start = stream.record(options=EventOptions(timing_enabled=True))
    launch(stream, LaunchConfig(grid=16, block=256), kernel, ddata, dbins, np.int32(n))
    stop = stream.record(options=EventOptions(timing_enabled=True))
    stop.sync()
    assert stop.is_done
    elapsed = stop - start
    assert 0.0 <= elapsed < 60_000.0
    bins = _to_host(stream, dbins, np.uint32, 256)
    np.testing.assert_array_equal(bins, np.bincount(data, minlength=256).astype(np.uint32))
    ddata.close(stream)
    dbins.close(stream)
    stream.close()


@needs("pointer_attributes")
def test_pinned_buffer_dlpack(device):
    """A page-locked host buffer seen by numpy through DLPack (cuda.core queries the pointer's kind)."""
    mr = LegacyPinnedMemoryResource()
    buf = mr.allocate(64 * 4)
    view = np.from_dlpack(buf).view(np.int32)
    view[:] = np.arange(64, dtype=np.int32)
    stream = device.create_stream()
    dbuf = device.memory_resource.allocate(buf.size, stream=stream)
    dbuf.copy_from(buf, stream=stream)
    back = _to_host(stream, dbuf, np.int32, 64)
    np.testing.assert_array_equal(back, np.arange(64, dtype=np.int32))
    dbuf.close(stream)
    buf.close()


def test_pinned_memory_resource(device, rng):
    """PinnedMemoryResource: a host memory pool (cuMemPoolCreate at a host location) whose buffers
    the host writes directly and the device copies from."""
    from cuda.core import PinnedMemoryResource
    mr = PinnedMemoryResource()
    assert mr.is_host_accessible and mr.is_device_accessible
    stream = device.create_stream()
    n = 5000
    pinned = mr.allocate(n * 8, stream=stream)
    assert mr.attributes.used_mem_current >= n * 8
    host = _host_view(pinned, np.float64, n)
    values = rng.random(n)
    host[:] = values
    dbuf = device.memory_resource.allocate(n * 8, stream=stream)
    dbuf.copy_from(pinned, stream=stream)
    np.testing.assert_array_equal(_to_host(stream, dbuf, np.float64, n), values)
    dbuf.close(stream)
    pinned.close(stream)
    stream.sync()
    assert mr.attributes.used_mem_current == 0


@needs("runtime")
def test_device_sync_through_cuda_runtime(device, rng):
    """Device.sync() and Device.pci_bus_id go through the CUDA runtime (cudart) that cuda-bindings
    links in; the sync waits for a kernel launched on a stream of the driver API."""
    n = 4096
    stream = device.create_stream()
    mr = device.memory_resource
    values = rng.random(n, dtype=np.float32)
    buf = _to_device(stream, mr, values)
    kernel = ObjectCode.from_ptx(nvcc_ptx(SCALE_IN_PLACE)).get_kernel("scale")
    launch(stream, LaunchConfig(grid=(n + 255) // 256, block=256), kernel, buf, np.float32(2.0), np.int32(n))
    device.sync()
    out = np.empty(n, dtype=np.float32)
    check(driver.cuMemcpyDtoH(out.ctypes.data, int(buf.handle), out.nbytes))
    np.testing.assert_array_equal(out, values * np.float32(2.0))
    assert len(device.pci_bus_id.split(":")) == 3
    buf.close(stream)


def test_managed_memory_resource(device, rng):
    """ManagedMemoryResource (a managed memory pool): the host writes a buffer, a kernel updates it
    in place, the host reads the result from the same pointer."""
    from cuda.core import ManagedMemoryResource
    mr = ManagedMemoryResource()
    assert mr.is_host_accessible and mr.is_device_accessible
    stream = device.create_stream()
    n = 3000
    buf = mr.allocate(n * 4, stream=stream)
    host = _host_view(buf, np.float32, n)
    values = rng.random(n, dtype=np.float32)
    host[:] = values
    kernel = ObjectCode.from_ptx(nvcc_ptx(SCALE_IN_PLACE)).get_kernel("scale")
    launch(stream, LaunchConfig(grid=(n + 255) // 256, block=256), kernel, buf, np.float32(-3.0), np.int32(n))
    stream.sync()
    np.testing.assert_array_equal(host, values * np.float32(-3.0))
    assert mr.attributes.used_mem_current >= n * 4
    buf.close(stream)
    stream.sync()
    assert mr.attributes.used_mem_current == 0
