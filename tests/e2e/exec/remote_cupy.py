"""remote_cupy.py — a CuPy program, unmodified, run by test_exec_programs.sh through `lepton exec` (the
remote driver): element-wise arithmetic and ufuncs, reductions with CUB (NVIDIA's precompiled
DeviceReduce, and a CUB block reduction CuPy compiles with NVRTC) and without, a RawKernel and an
ElementwiseKernel, each checked against numpy. CuPy's cudart goes through the remote driver's export
tables. On emulated GPUs `lepton exec` sets CUPY_COMPILE_WITH_PTX=1 (the CPU driver runs PTX only);
the first line printed says what it found, for the test to check.
usage: remote_cupy.py"""
import os

import numpy as np

import cupy as cp
from cupy._core import _accelerator
from cupy.cuda import cub

SAXPY = r"""
extern "C" __global__ void saxpy(float a, const float *x, const float *y, float *out, unsigned n)
{
    for (unsigned i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x)
        out[i] = a * x[i] + y[i];
}
"""


def set_accelerators(names):
    _accelerator.set_routine_accelerators(names)
    _accelerator.set_reduction_accelerators(names)


def reductions(rng, label):
    a = rng.standard_normal((257, 389))
    d = cp.asarray(a)
    assert np.isclose(float(d.sum()), a.sum(), rtol=1e-12), f"{label}: sum"
    assert d.max().item() == a.max() and d.min().item() == a.min(), f"{label}: max/min"
    assert int(d.argmax()) == int(a.argmax()), f"{label}: argmax"
    assert np.allclose(d.sum(axis=0).get(), a.sum(axis=0), rtol=1e-12), f"{label}: sum(axis=0)"
    assert np.allclose(d.mean(axis=1).get(), a.mean(axis=1), rtol=1e-12), f"{label}: mean(axis=1)"


def main():
    print(f"remote_cupy: CUPY_COMPILE_WITH_PTX={os.environ.get('CUPY_COMPILE_WITH_PTX', '')}", flush=True)
    rng = np.random.default_rng(15)
    dev = cp.cuda.Device(0)
    name = cp.cuda.runtime.getDeviceProperties(0)["name"].decode()
    assert cp.cuda.runtime.getDeviceCount() >= 1

    # element-wise arithmetic and ufuncs on several dtypes
    for dtype in (np.int32, np.float32, np.float64):
        x = (rng.standard_normal(10_001) * 50).astype(dtype)
        y = (rng.random(10_001) * 10 + 1).astype(dtype)
        dx, dy = cp.asarray(x), cp.asarray(y)
        assert np.array_equal((dx + dy).get(), x + y), f"{dtype}: add"
        assert np.array_equal((dx - 2 * dy).get(), x - 2 * y), f"{dtype}: sub"
        assert np.allclose((dx / dy).get(), x / y, rtol=1e-6), f"{dtype}: div"
        assert np.array_equal(cp.maximum(dx, dy).get(), np.maximum(x, y)), f"{dtype}: maximum"
    z = rng.random(5_000) * 3 + 0.1
    assert np.allclose(cp.sqrt(cp.log(cp.asarray(z)) ** 2).get(), np.sqrt(np.log(z) ** 2), rtol=1e-14), "ufuncs"

    # reductions: CuPy's own kernels, then with CUB
    set_accelerators([])
    reductions(rng, "no accelerator")
    set_accelerators(["cub"])
    reductions(rng, "CUB")
    # NVIDIA's precompiled CUB DeviceReduce / DeviceScan (PTX in CuPy's fatbin): several tiles
    for dtype in (np.float32, np.int64):
        v = (rng.standard_normal(300_007) * 100).astype(dtype)
        s = cub.cub_reduction(cp.asarray(v), cub.CUPY_CUB_SUM)
        assert s is not None, "CUB declined the sum"
        assert np.isclose(float(s), v.sum(dtype=np.float64), rtol=1e-5), f"CUB DeviceReduce {dtype}"
        m = cub.cub_reduction(cp.asarray(v), cub.CUPY_CUB_MAX)
        assert m.item() == v.max(), f"CUB max {dtype}"
    c = np.arange(20_000, dtype=np.int64)
    scanned = cub.cub_scan(cp.asarray(c), cub.CUPY_CUB_CUMSUM)
    assert scanned is not None and np.array_equal(scanned.get(), np.cumsum(c)), "CUB DeviceScan"

    # a RawKernel and an ElementwiseKernel, on a stream, timed with events
    n = 50_000
    x = rng.random(n, dtype=np.float32)
    y = rng.random(n, dtype=np.float32)
    out = cp.empty(n, dtype=cp.float32)
    stream = cp.cuda.Stream(non_blocking=True)
    start, stop = cp.cuda.Event(), cp.cuda.Event()
    with stream:
        start.record()
        cp.RawKernel(SAXPY, "saxpy")((64,), (256,), (np.float32(2.0), cp.asarray(x), cp.asarray(y), out,
                                                     np.uint32(n)))
        sq = cp.ElementwiseKernel("T a, T b", "T c", "c = (a - b) * (a - b)", "sqdiff")(out, cp.asarray(y))
        stop.record()
    stop.synchronize()
    assert np.allclose(out.get(), np.float32(2.0) * x + y, rtol=1e-6), "RawKernel saxpy"
    assert np.allclose(sq.get(), (np.float32(2.0) * x) ** 2, rtol=1e-5), "ElementwiseKernel"
    ms = cp.cuda.get_elapsed_time(start, stop)
    assert 0.0 <= ms < 600_000.0, ms
    dev.synchronize()
    print(f"remote_cupy: {name}, CuPy {cp.__version__}, {ms:.3f} ms, PASS")


if __name__ == "__main__":
    main()
