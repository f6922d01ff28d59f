"""CuPy (PyPI cupy-cuda13x) on cudaemu: element-wise arithmetic and ufuncs, reductions with CUB and
without, RawKernel, ElementwiseKernel, ReductionKernel, RawModule (name expressions, a __constant__
global), streams and events, host<->device copies; every result compared with numpy on the host.

CuPy runs on NVIDIA's CUDA runtime (cudart), which cudaemu serves through its private export tables.
conftest.py sets CUPY_COMPILE_WITH_PTX=1 (CuPy otherwise asks NVRTC for a cubin, machine code that
cudaemu refuses), CUDA_PATH (where CuPy finds NVRTC) and a fresh CUPY_CACHE_DIR for cudaemu.

What does not work on cudaemu is asserted as a clean error (test_float_matmul_needs_cublas): CuPy's
float matmul calls cuBLAS, whose kernels ship as machine code."""
import glob
import os

import numpy as np
import pytest

import cupy as cp  # listed in requirements.txt: a missing one is an install error, not a skip
from cupy._core import _accelerator
from cupy.cuda import cub

from conftest import CUPY_CACHE_DIR, ON_CUDAEMU, needs

N = 100_003  # not a multiple of any block or tile size; several CUB tiles


@pytest.fixture(params=[pytest.param("cub", marks=needs("occupancy")), "none"])
def accelerators(request):
    """CUPY_ACCELERATORS=cub (CuPy's default: NVIDIA's precompiled CUB device reductions and CUB block
    reductions compiled by NVRTC) or empty (CuPy's own reduction kernels), set as CuPy's import does."""
    routine, reduction = _accelerator.get_routine_accelerators(), _accelerator.get_reduction_accelerators()
    names = [] if request.param == "none" else [request.param]
    _accelerator.set_routine_accelerators(names)
    _accelerator.set_reduction_accelerators(names)
    yield request.param
    _accelerator.set_routine_accelerators(routine)
    _accelerator.set_reduction_accelerators(reduction)


def _tol(dtype):
    return {np.float16: 2e-3, np.float32: 2e-6, np.complex64: 2e-6}.get(np.dtype(dtype).type, 1e-12)


@pytest.mark.parametrize("dtype", [np.int8, np.uint8, np.int32, np.int64, np.uint32, np.float16, np.float32,
                                   np.float64, np.complex64, np.complex128])
def test_elementwise_arithmetic(dtype, rng):
    n = 4099
    if np.dtype(dtype).kind in "iu":
        info = np.iinfo(dtype)
        a = rng.integers(max(info.min, -100), min(info.max, 100), n).astype(dtype)
        b = rng.integers(1, min(info.max, 50), n).astype(dtype)
    elif np.dtype(dtype).kind == "c":
        a = (rng.standard_normal(n) + 1j * rng.standard_normal(n)).astype(dtype)
        b = (rng.standard_normal(n) + 1j * rng.standard_normal(n) + 3).astype(dtype)
    else:
        a = rng.standard_normal(n).astype(dtype)
        b = (rng.random(n) + 0.5).astype(dtype)
    da, db = cp.asarray(a), cp.asarray(b)
    with np.errstate(over="ignore"):
        for op in (np.add, np.subtract):
            np.testing.assert_array_equal(getattr(cp, op.__name__)(da, db).get(), op(a, b), err_msg=op.__name__)
        if np.dtype(dtype).kind == "c":  # the device may fuse the complex product's multiply-adds
            np.testing.assert_allclose((da * db).get(), a * b, rtol=_tol(dtype))
        else:
            np.testing.assert_array_equal((da * db).get(), a * b)
        np.testing.assert_allclose((da / db).get(), a / b, rtol=_tol(np.result_type(a / b)))
        np.testing.assert_array_equal((-da).get(), -a)
        if np.dtype(dtype).kind in "iu":
            np.testing.assert_array_equal((da // db).get(), a // b)
            np.testing.assert_array_equal((da % db).get(), a % b)
            np.testing.assert_array_equal((da & db).get(), a & b)
            np.testing.assert_array_equal((da ^ (db << 1)).get(), a ^ (b << 1))
        if np.dtype(dtype).kind != "c":
            np.testing.assert_array_equal(cp.maximum(da, db).get(), np.maximum(a, b))
            np.testing.assert_array_equal(cp.where(da > db, da, db * 2).get(), np.where(a > b, a, b * 2))
    # a scalar broadcast and a non-contiguous view
    np.testing.assert_array_equal((da[::3] * 3).get(), a[::3] * dtype(3))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", ["sin", "cos", "exp", "log", "sqrt", "tanh", "arctan", "log1p", "expm1", "cbrt"])
def test_ufuncs(name, dtype, rng):
    x = (rng.random(5003) * 4 + 0.01).astype(dtype)
    got = getattr(cp, name)(cp.asarray(x)).get()
    assert got.dtype == dtype
    np.testing.assert_allclose(got, getattr(np, name)(x), rtol=4 * np.finfo(dtype).eps, atol=np.finfo(dtype).tiny)


def test_ufuncs_binary_and_mixed_types(rng):
    x = rng.random(3001) * 3
    y = rng.random(3001) * 2 - 1
    dx, dy = cp.asarray(x), cp.asarray(y)
    np.testing.assert_allclose(cp.power(dx, dy).get(), np.power(x, y), rtol=1e-14)
    np.testing.assert_allclose(cp.arctan2(dy, dx).get(), np.arctan2(y, x), rtol=1e-14)
    np.testing.assert_allclose(cp.hypot(dx, dy).get(), np.hypot(x, y), rtol=1e-15)
    i = rng.integers(-50, 50, 3001).astype(np.int32)
    mixed = cp.asarray(i) * cp.asarray(x.astype(np.float32))  # int32 * float32 -> float64 as in numpy
    assert mixed.dtype == (i * x.astype(np.float32)).dtype
    np.testing.assert_allclose(mixed.get(), i * x.astype(np.float32), rtol=1e-7)
    np.testing.assert_array_equal(cp.isnan(cp.asarray([1.0, np.nan, np.inf])).get(), [False, True, False])


@pytest.mark.parametrize("dtype", [np.int32, np.int64, np.float32, np.float64])
def test_reductions(accelerators, dtype, rng):
    if np.dtype(dtype).kind == "i":
        a = rng.integers(-1000, 1000, N).astype(dtype)
    else:
        a = rng.standard_normal(N).astype(dtype)
    d = cp.asarray(a)
    rtol = 1e-5 if dtype == np.float32 else 1e-12
    if np.dtype(dtype).kind == "i":
        assert int(d.sum()) == int(a.sum())
    else:
        np.testing.assert_allclose(float(d.sum()), a.sum(dtype=np.float64), rtol=rtol, atol=rtol * N)
    assert d.max().item() == a.max() and d.min().item() == a.min()
    np.testing.assert_allclose(float(d.mean()), a.mean(dtype=np.float64), rtol=rtol, atol=rtol)
    assert int(d.argmax()) == int(a.argmax()) and int(d.argmin()) == int(a.argmin())
    scale = np.abs(a[:5000]).sum(dtype=np.float64)
    np.testing.assert_allclose(cp.cumsum(d[:5000]).get(), np.cumsum(a[:5000]), rtol=0, atol=4 * rtol * scale)


@pytest.mark.parametrize("dtype", [np.int32, np.float32, np.float64])
def test_axis_reductions_2d(accelerators, dtype, rng):
    a = (rng.standard_normal((301, 517)) * 100).astype(dtype)
    d = cp.asarray(a)
    rtol = 1e-5 if dtype == np.float32 else 1e-12
    for axis in (0, 1):
        np.testing.assert_allclose(d.sum(axis=axis).get(), a.sum(axis=axis), rtol=rtol, atol=rtol * 1000)
        np.testing.assert_array_equal(d.max(axis=axis).get(), a.max(axis=axis))
        np.testing.assert_array_equal(d.min(axis=axis).get(), a.min(axis=axis))
        np.testing.assert_allclose(d.mean(axis=axis).get(), a.mean(axis=axis), rtol=rtol, atol=rtol * 10)
        np.testing.assert_array_equal(d.argmax(axis=axis).get(), a.argmax(axis=axis))
    # a transposed (Fortran-ordered) view and keepdims
    np.testing.assert_allclose(d.T.sum(axis=1, keepdims=True).get(), a.T.sum(axis=1, keepdims=True),
                               rtol=rtol, atol=rtol * 1000)


@needs("occupancy")
@pytest.mark.parametrize("dtype", [np.int64, np.float32, np.float64])
def test_cub_device_reduce_and_scan(dtype, rng):
    """NVIDIA's precompiled CUB kernels (cupy/cuda/cub: DeviceReduce, DeviceSegmentedReduce,
    DeviceScan), which the CUDA runtime loads from the fatbin nvcc embedded in CuPy's extension:
    cudaemu runs their PTX. cub_reduction answers None where it would not use CUB, so the result
    shows that CUB ran. Several tiles (N, 3 M) go through CUB's multi-block path, which divides by
    the occupancy the driver reports."""
    for n in (N, 3_000_000):
        a = (rng.standard_normal(n) * 100).astype(dtype)
        d = cp.asarray(a)
        s = cub.cub_reduction(d, cub.CUPY_CUB_SUM)
        assert s is not None, "CUB declined the sum"
        np.testing.assert_allclose(float(s), a.sum(dtype=np.float64), rtol=1e-5 if dtype == np.float32 else 1e-9)
        assert cub.cub_reduction(d, cub.CUPY_CUB_MAX).item() == a.max()
        assert int(cub.cub_reduction(d, cub.CUPY_CUB_ARGMIN)) == int(a.argmin())
    m = cp.asarray(a[: 200 * 300].reshape(200, 300))
    seg = cub.cub_reduction(m, cub.CUPY_CUB_SUM, axis=(1,))
    assert seg is not None, "CUB declined the segmented sum"
    np.testing.assert_allclose(seg.get(), a[: 200 * 300].reshape(200, 300).sum(axis=1), rtol=1e-5)
    x = cp.asarray(a[:70_001])
    scanned = cub.cub_scan(x, cub.CUPY_CUB_CUMSUM)
    assert scanned is not None, "CUB declined the scan"
    scale = np.abs(a[:70_001]).sum(dtype=np.float64)  # a prefix sum's error grows with the sum of |a|
    np.testing.assert_allclose(scanned.get(), np.cumsum(a[:70_001], dtype=np.float64), rtol=0,
                               atol=(1e-6 if dtype == np.float32 else 1e-14) * scale)


@pytest.mark.skipif(not CUPY_CACHE_DIR, reason="needs the fresh CUPY_CACHE_DIR that conftest.py makes for cudaemu")
def test_cub_block_reduction_compiled_to_ptx(rng):
    """The reduction accelerator alone: CuPy compiles a CUB block reduction with NVRTC (CUB's headers)
    into PTX (CUPY_COMPILE_WITH_PTX) and cudaemu runs it; the saved source shows the CUB kernel."""
    routine, reduction = _accelerator.get_routine_accelerators(), _accelerator.get_reduction_accelerators()
    _accelerator.set_routine_accelerators([])
    _accelerator.set_reduction_accelerators(["cub"])
    try:
        a = rng.standard_normal((64, 4099))
        got = cp.asarray(a).sum(axis=1).get()
    finally:
        _accelerator.set_routine_accelerators(routine)
        _accelerator.set_reduction_accelerators(reduction)
    np.testing.assert_allclose(got, a.sum(axis=1), rtol=1e-12)
    sources = [p for p in glob.glob(os.path.join(CUPY_CACHE_DIR, "**", "*.cu"), recursive=True)
               if "cub::BlockReduce" in open(p, errors="replace").read()]
    assert sources, f"no CUB block reduction compiled into {CUPY_CACHE_DIR}"
    for src in sources:
        with open(src[: -len(".cu")], "rb") as f:
            payload = f.read()
        assert b".version" in payload and b".entry" in payload, f"{src}: the cached kernel is not PTX"


SAXPY = r"""
extern "C" __global__ void saxpy(float a, const float *x, const float *y, float *out, unsigned n)
{
    for (unsigned i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x)
        out[i] = a * x[i] + y[i];
}
"""


def test_raw_kernel(rng):
    n = 10_007
    x = rng.random(n, dtype=np.float32)
    y = rng.random(n, dtype=np.float32)
    out = cp.empty(n, dtype=cp.float32)
    k = cp.RawKernel(SAXPY, "saxpy")
    k((16,), (128,), (np.float32(2.5), cp.asarray(x), cp.asarray(y), out, np.uint32(n)))
    # the device contracts a * x + y into one fused multiply-add: within an ulp of numpy's two roundings
    np.testing.assert_allclose(out.get(), np.float32(2.5) * x + y, rtol=2.5e-7, atol=1e-7)
    assert k.attributes["max_threads_per_block"] >= 128


def test_raw_kernel_dynamic_shared_memory(rng):
    src = r"""
    extern "C" __global__ void block_sums(const int *x, int *sums, int n)
    {
        extern __shared__ int part[];
        int i = blockIdx.x * blockDim.x + threadIdx.x;
        part[threadIdx.x] = i < n ? x[i] : 0;
        __syncthreads();
        for (int s = blockDim.x / 2; s > 0; s >>= 1) {
            if (threadIdx.x < s) part[threadIdx.x] += part[threadIdx.x + s];
            __syncthreads();
        }
        if (threadIdx.x == 0) sums[blockIdx.x] = part[0];
    }
    """
    n, block = 5000, 256
    blocks = (n + block - 1) // block
    x = rng.integers(-1000, 1000, n).astype(np.int32)
    sums = cp.zeros(blocks, dtype=cp.int32)
    cp.RawKernel(src, "block_sums")((blocks,), (block,), (cp.asarray(x), sums, np.int32(n)), shared_mem=block * 4)
    want = np.add.reduceat(x, np.arange(0, n, block))
    np.testing.assert_array_equal(sums.get(), want)


def test_elementwise_kernel(rng):
    squared_diff = cp.ElementwiseKernel("T x, T y", "T z", "z = (x - y) * (x - y)", "squared_diff")
    for dtype in (np.float32, np.float64, np.int32):
        x = (rng.standard_normal((37, 101)) * 10).astype(dtype)
        y = (rng.standard_normal(101) * 10).astype(dtype)  # broadcast along rows
        got = squared_diff(cp.asarray(x), cp.asarray(y))
        assert got.dtype == dtype and got.shape == (37, 101)
        np.testing.assert_array_equal(got.get(), (x - y) * (x - y))
    # a raw argument indexed by i, and a scalar
    shift = cp.ElementwiseKernel("raw T x, int32 k", "T y", "y = x[(i + k) % _ind.size()]", "rotate")
    v = np.arange(11, dtype=np.float64)
    np.testing.assert_array_equal(shift(cp.asarray(v), 3, size=11).get(), np.roll(v, -3))


def test_reduction_kernel(rng):
    l2norm = cp.ReductionKernel("T x", "T y", "x * x", "a + b", "y = sqrt(a)", "0", "l2norm")
    a = rng.standard_normal((129, 1031))
    np.testing.assert_allclose(l2norm(cp.asarray(a), axis=1).get(), np.linalg.norm(a, axis=1), rtol=1e-12)
    np.testing.assert_allclose(float(l2norm(cp.asarray(a))), np.linalg.norm(a), rtol=1e-12)
    count_pos = cp.ReductionKernel("T x", "int64 c", "x > 0 ? 1 : 0", "a + b", "c = a", "0", "count_pos")
    assert int(count_pos(cp.asarray(a))) == int((a > 0).sum())


RAW_MODULE = r"""
__constant__ float coeffs[4];

template<typename T>
__global__ void fill_affine(T *out, T scale, T offset, int n)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) out[i] = scale * (T)i + offset;
}

extern "C" __global__ void poly(const float *x, float *y, int n)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) y[i] = coeffs[0] + x[i] * (coeffs[1] + x[i] * (coeffs[2] + x[i] * coeffs[3]));
}
"""


def test_raw_module_name_expressions_and_constant(rng):
    names = ("fill_affine<float>", "fill_affine<int>", "fill_affine<double>")
    mod = cp.RawModule(code=RAW_MODULE, options=("-std=c++17",), name_expressions=names)
    n = 1000
    for name, dtype in zip(names, (np.float32, np.int32, np.float64)):
        out = cp.empty(n, dtype=dtype)
        mod.get_function(name)(((n + 127) // 128,), (128,), (out, dtype(3), dtype(-7), np.int32(n)))
        np.testing.assert_array_equal(out.get(), dtype(3) * np.arange(n, dtype=dtype) + dtype(-7), err_msg=name)
    c = np.array([1.0, -2.0, 0.5, 0.25], dtype=np.float32)
    ptr = mod.get_global("coeffs")
    cp.ndarray(4, cp.float32, ptr).set(c)
    x = rng.random(n, dtype=np.float32) * 4 - 2
    y = cp.empty(n, dtype=cp.float32)
    mod.get_function("poly")(((n + 127) // 128,), (128,), (cp.asarray(x), y, np.int32(n)))
    want = c[0] + x * (c[1] + x * (c[2] + x * c[3]))
    np.testing.assert_allclose(y.get(), want, rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(cp.ndarray(4, cp.float32, ptr).get(), c)


def test_streams_and_events(rng):
    n = 200_000
    a = rng.random(n)
    b = rng.random(n)
    s1 = cp.cuda.Stream(non_blocking=True)
    s2 = cp.cuda.Stream(non_blocking=True)
    start, mid, end = cp.cuda.Event(), cp.cuda.Event(), cp.cuda.Event()
    with s1:
        start.record()
        da = cp.asarray(a)
        prod = da * 2.0 + 1.0
        mid.record()
    s2.wait_event(mid)  # s2 reads what s1 wrote
    with s2:
        total = cp.sqrt(prod) + cp.asarray(b)
        end.record()
    end.synchronize()
    assert end.done and start.done
    elapsed = cp.cuda.get_elapsed_time(start, end)
    assert elapsed >= 0.0 and elapsed >= cp.cuda.get_elapsed_time(start, mid) - 1e-3
    np.testing.assert_allclose(total.get(stream=s2), np.sqrt(a * 2.0 + 1.0) + b, rtol=1e-15)
    s1.synchronize()
    s2.synchronize()
    assert s1.done and s2.done
    # the null stream and a stream's callback-free ordering with asynchronous copies
    host = cp.cuda.alloc_pinned_memory(n * 8)
    view = np.frombuffer(host, np.float64, n)
    view[:] = b
    d = cp.empty(n, dtype=cp.float64)
    d.set(view, stream=s1)
    d *= 3.0
    out = np.empty(n)
    with s1:
        d2 = d + 0  # on s1, after the copy
    d2.get(stream=s1, out=out)
    s1.synchronize()
    np.testing.assert_array_equal(out, b * 3.0)


def test_host_device_copies(rng):
    a = rng.standard_normal((123, 77))
    d = cp.asarray(a)
    assert d.device.id == 0 and d.shape == a.shape and d.dtype == a.dtype
    np.testing.assert_array_equal(cp.asnumpy(d), a)
    # non-contiguous device views come back as numpy's
    np.testing.assert_array_equal(d[::2, 5:60:3].get(), a[::2, 5:60:3])
    np.testing.assert_array_equal(d.T.get(), a.T)
    np.testing.assert_array_equal(cp.ascontiguousarray(d.T).get(), np.ascontiguousarray(a.T))
    # a non-contiguous host array goes up correctly
    np.testing.assert_array_equal(cp.asarray(a[:, ::4]).get(), a[:, ::4])
    # device-to-device copies, set() into an existing array, a Fortran-ordered copy
    e = d.copy()
    d[:] = 0
    np.testing.assert_array_equal(e.get(), a)
    assert float(cp.abs(d).sum()) == 0.0
    d.set(a[::-1].copy())
    np.testing.assert_array_equal(d.get(), a[::-1])
    i = cp.asarray(a.astype(np.int32))  # an integer matrix: CuPy's own copy kernel (floats use cuBLAS)
    f = cp.asfortranarray(i)
    assert f.flags.f_contiguous
    np.testing.assert_array_equal(f.get(), a.astype(np.int32))
    # memset-style fills and a large copy both ways
    big = rng.integers(0, 255, 6 * 1024 * 1024, dtype=np.uint8)
    np.testing.assert_array_equal(cp.asarray(big).get(), big)
    np.testing.assert_array_equal(cp.full(1000, 7, dtype=cp.int16).get(), np.full(1000, 7, dtype=np.int16))
    mem = cp.cuda.runtime.memGetInfo()
    assert 0 < mem[0] <= mem[1]


def test_integer_matmul_runs_on_cupys_own_kernel(rng):
    """CuPy multiplies integer matrices with its own kernel (no cuBLAS): it runs on cudaemu."""
    a = rng.integers(-20, 20, (33, 47)).astype(np.int32)
    b = rng.integers(-20, 20, (47, 19)).astype(np.int32)
    np.testing.assert_array_equal(cp.matmul(cp.asarray(a), cp.asarray(b)).get(), a @ b)


@pytest.mark.parametrize("what", ["matmul", "asfortranarray"])
def test_float_matmul_needs_cublas(what, rng):
    """CuPy's float matmul (and its float transposing copy, asfortranarray: cublas<t>geam) calls
    cuBLAS. On cudaemu it fails with a clean CUBLASError and the device stays usable: cuBLAS's
    handle creation already loads modules that cudaemu cannot run (its kernels are machine code, and
    the PTX it carries takes the address of a kernel parameter, which cudaemu's PTX reader refuses),
    so cublasCreate answers CUBLAS_STATUS_NOT_INITIALIZED. Where this starts to work, the assertion
    fails and the test must become an ordinary comparison. On a real driver the results are
    compared with numpy."""
    a = rng.standard_normal((64, 48)).astype(np.float32)
    b = rng.standard_normal((48, 32)).astype(np.float32)

    def run():
        if what == "matmul":
            return (cp.asarray(a) @ cp.asarray(b)).get(), a @ b
        return cp.asfortranarray(cp.asarray(a)).get(), np.asfortranarray(a)

    if not ON_CUDAEMU:
        got, want = run()
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)
        return
    from cupy_backends.cuda.libs import cublas
    with pytest.raises(cublas.CUBLASError, match="CUBLAS_STATUS_"):
        run()
    # the failure left the device working
    np.testing.assert_array_equal((cp.arange(10) * 2).get(), np.arange(10) * 2)
