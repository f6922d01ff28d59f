"""cuda.bindings.runtime (the CUDA runtime API, cudart, that cuda-bindings links in) on cudaemu:
device properties, cudaMalloc/cudaMemcpy/cudaMemset, a kernel from PTX through cudaLibraryLoadData
(launched with the driver's cuLaunchKernel: cuda.bindings.runtime has no cudaLaunchKernel), streams
and events with cudaMemcpyAsync; checked against numpy.

The runtime talks to the driver through its private export tables; while the loaded driver does not
serve the ones this runtime needs, conftest.needs("runtime") marks these tests strict xfail (they
still run, and a pass shows up as a failure to lift the mark)."""
import ctypes

import numpy as np
import pytest
from cuda.bindings import driver as drv
from cuda.bindings import runtime as rt

from conftest import check, needs, nvcc_ptx

pytestmark = needs("runtime")

H2D = rt.cudaMemcpyKind.cudaMemcpyHostToDevice
D2H = rt.cudaMemcpyKind.cudaMemcpyDeviceToHost
D2D = rt.cudaMemcpyKind.cudaMemcpyDeviceToDevice

SCALE_ADD = """\
extern "C" __global__ void scale_add(const float *x, float *y, float s, int n)
{
    for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x)
        y[i] = x[i] * s + 1.0f;
}
"""


def _args(*values):
    """A launch's argument array: one pointer per parameter, to a ctypes value. The values are
    returned too; they must outlive the launch call."""
    arr = (ctypes.c_void_p * len(values))(*[ctypes.addressof(v) for v in values])
    return arr, values


def test_device_properties():
    count = check(rt.cudaGetDeviceCount())
    assert count >= 1
    check(rt.cudaSetDevice(0))
    prop = check(rt.cudaGetDeviceProperties(0))
    assert prop.warpSize == 32 and prop.major >= 5 and prop.multiProcessorCount > 0
    assert prop.totalGlobalMem > 0 and prop.maxThreadsPerBlock >= 256
    name = prop.name.split(b"\0")[0].decode() if isinstance(prop.name, bytes) else str(prop.name)
    assert name
    assert check(rt.cudaDeviceGetAttribute(rt.cudaDeviceAttr.cudaDevAttrWarpSize, 0)) == 32
    assert check(rt.cudaDriverGetVersion()) >= 12000 and check(rt.cudaRuntimeGetVersion()) >= 12000
    free, total = check(rt.cudaMemGetInfo())
    assert 0 < free <= total


def test_malloc_memcpy_memset(rng):
    n = 100_000
    a = rng.random(n)
    d1 = check(rt.cudaMalloc(a.nbytes))
    d2 = check(rt.cudaMalloc(a.nbytes))
    try:
        check(rt.cudaMemcpy(d1, a.ctypes.data, a.nbytes, H2D))
        check(rt.cudaMemcpy(d2, d1, a.nbytes, D2D))
        out = np.empty_like(a)
        check(rt.cudaMemcpy(out.ctypes.data, d2, a.nbytes, D2H))
        np.testing.assert_array_equal(out, a)
        check(rt.cudaMemset(d2, 0x7F, 1000))
        raw = np.empty(a.nbytes, dtype=np.uint8)
        check(rt.cudaMemcpy(raw.ctypes.data, d2, a.nbytes, D2H))
        assert (raw[:1000] == 0x7F).all()
        np.testing.assert_array_equal(raw[1000:], a.view(np.uint8)[1000:])
    finally:
        check(rt.cudaFree(d1))
        check(rt.cudaFree(d2))
    assert rt.cudaGetLastError()[0] == rt.cudaError_t.cudaSuccess


def test_library_kernel_launch_stream_events(rng):
    """A kernel from nvcc's PTX through cudaLibraryLoadData/cudaLibraryGetKernel, launched (a kernel
    handle stands for its function in cuLaunchKernel) on a runtime-created stream between two timing
    events, with asynchronous copies from page-locked host memory."""
    n = 50_000
    x = rng.random(n, dtype=np.float32)
    lib = check(rt.cudaLibraryLoadData(nvcc_ptx(SCALE_ADD), None, None, 0, None, None, 0))
    kernel = check(rt.cudaLibraryGetKernel(lib, b"scale_add"))
    stream = check(rt.cudaStreamCreateWithFlags(rt.cudaStreamNonBlocking))
    start, stop = check(rt.cudaEventCreate()), check(rt.cudaEventCreate())
    host = check(rt.cudaMallocHost(x.nbytes))
    hview = np.ctypeslib.as_array((ctypes.c_float * n).from_address(host))
    hview[:] = x
    dx, dy = check(rt.cudaMalloc(x.nbytes)), check(rt.cudaMalloc(x.nbytes))
    try:
        check(rt.cudaMemcpyAsync(dx, host, x.nbytes, H2D, stream))
        check(rt.cudaEventRecord(start, stream))
        args, keep = _args(ctypes.c_void_p(dx), ctypes.c_void_p(dy), ctypes.c_float(2.5), ctypes.c_int(n))
        check(drv.cuLaunchKernel(drv.CUfunction(int(kernel)), 64, 1, 1, 256, 1, 1, 0, drv.CUstream(int(stream)),
                                 ctypes.addressof(args), 0))
        check(rt.cudaEventRecord(stop, stream))
        check(rt.cudaMemcpyAsync(host, dy, x.nbytes, D2H, stream))
        check(rt.cudaStreamSynchronize(stream))
        # nvcc contracts x * s + 1 into one fma (one rounding): exact in float64, then rounded once
        np.testing.assert_array_equal(hview, (x.astype(np.float64) * 2.5 + 1.0).astype(np.float32))
        assert check(rt.cudaEventElapsedTime(start, stop)) >= 0.0
        assert rt.cudaEventQuery(stop)[0] == rt.cudaError_t.cudaSuccess
        del keep
    finally:
        check(rt.cudaFree(dx))
        check(rt.cudaFree(dy))
        check(rt.cudaFreeHost(host))
        check(rt.cudaEventDestroy(start))
        check(rt.cudaEventDestroy(stop))
        check(rt.cudaStreamDestroy(stream))
        check(rt.cudaLibraryUnload(lib))


