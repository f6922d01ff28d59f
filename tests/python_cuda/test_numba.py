"""numba-cuda on cudaemu.

numba-cuda compiles Python kernels to PTX with libNVVM (cuda.compile_ptx gives that PTX); @cuda.jit
then links each kernel through cuda.core's Linker, which uses nvJitLink when it can load it. The
toolkit's nvJitLink makes SASS, which cudaemu cannot run (CUDA_ERROR_NO_BINARY_FOR_GPU), so
scripts/test-python-cuda.sh puts Lepton's libnvJitLink.so.13 (<build>/cudaemu/jitlink, which links
PTX) first on LD_LIBRARY_PATH; test_nvjitlink_is_leptons checks that cuda-pathfinder finds that one.
numba turns LTO on by default wherever nvJitLink loads: libNVVM makes LTO-IR, which Lepton's
nvJitLink lowers to PTX with the toolkit's own nvJitLink (-lto -ptx) and joins with any PTX inputs;
so the kernels here use the plain @cuda.jit (test_numba_jit_default_is_lto pins that it is LTO),
and one is jitted with lto=False (PTX straight from libNVVM). The PTX is also run through the driver
directly (cuModuleLoadData + cuLaunchKernel with numba's kernel ABI), and numba's memory layer
(to_device, copy_to_host) runs as is."""
import os
import re
import shutil
import subprocess

import numpy as np
import pytest
from cuda.bindings import driver

from conftest import check

numba_cuda = pytest.importorskip("numba.cuda")  # listed in requirements.txt: a missing one is an install error
cuda = numba_cuda
from numba import float32, int32, int64  # noqa: E402

def axpy(out, a, x, y):
    i = cuda.grid(1)
    if i < out.size:
        out[i] = a * x[i] + y[i]


def block_sum(data, total):
    """Per-block sum in shared memory (tree), then one atomic add per block."""
    tmp = cuda.shared.array(256, int64)
    tid = cuda.threadIdx.x
    i = cuda.grid(1)
    tmp[tid] = data[i] if i < data.size else 0
    cuda.syncthreads()
    s = 128
    while s > 0:
        if tid < s:
            tmp[tid] += tmp[tid + s]
        cuda.syncthreads()
        s //= 2
    if tid == 0:
        cuda.atomic.add(total, 0, tmp[0])


def _entry(ptx):
    return re.search(r"\.visible \.entry (\S+)\(", ptx).group(1)


def _array_args(dptr, n, itemsize):
    """numba's kernel ABI for a C-contiguous 1-D array: meminfo, parent, nitems, itemsize, data,
    shape[0], strides[0]."""
    return [np.array([v], dtype=np.uint64) for v in (0, 0, n, itemsize, int(dptr), n, itemsize)]


def _launch(kernel, grid, block, values, shared=0):
    args = np.array([v.ctypes.data for v in values], dtype=np.uint64)
    check(driver.cuLaunchKernel(kernel, grid, 1, 1, block, 1, 1, shared, 0, args.ctypes.data, 0))
    check(driver.cuCtxSynchronize())


def test_numba_ptx_axpy_through_driver(context, rng):
    ptx, _ = cuda.compile_ptx(axpy, "void(float32[::1], float32, float32[::1], float32[::1])", cc=(9, 0))
    module = check(driver.cuModuleLoadData(ptx.encode()))
    kernel = check(driver.cuModuleGetFunction(module, _entry(ptx).encode()))
    n = 3000
    x = rng.random(n, dtype=np.float32)
    y = rng.random(n, dtype=np.float32)
    d = [check(driver.cuMemAlloc(x.nbytes)) for _ in range(3)]
    check(driver.cuMemcpyHtoD(d[1], x.ctypes.data, x.nbytes))
    check(driver.cuMemcpyHtoD(d[2], y.ctypes.data, y.nbytes))
    values = _array_args(d[0], n, 4) + [np.array([1.5], dtype=np.float32)] + _array_args(d[1], n, 4) + \
        _array_args(d[2], n, 4)
    _launch(kernel, (n + 127) // 128, 128, values)
    out = np.empty(n, dtype=np.float32)
    check(driver.cuMemcpyDtoH(out.ctypes.data, d[0], out.nbytes))
    np.testing.assert_allclose(out, np.float32(1.5) * x + y, rtol=1e-6)
    for p in d:
        check(driver.cuMemFree(p))
    check(driver.cuModuleUnload(module))


def test_numba_ptx_shared_atomic_reduction_through_driver(context, rng):
    ptx, _ = cuda.compile_ptx(block_sum, "void(int64[::1], int64[::1])", cc=(9, 0))
    module = check(driver.cuModuleLoadData(ptx.encode()))
    kernel = check(driver.cuModuleGetFunction(module, _entry(ptx).encode()))
    n = 20_000
    data = rng.integers(-10**9, 10**9, n, dtype=np.int64)
    d_data = check(driver.cuMemAlloc(data.nbytes))
    d_total = check(driver.cuMemAlloc(8))
    check(driver.cuMemcpyHtoD(d_data, data.ctypes.data, data.nbytes))
    check(driver.cuMemsetD8(d_total, 0, 8))
    _launch(kernel, (n + 255) // 256, 256, _array_args(d_data, n, 8) + _array_args(d_total, 1, 8))
    total = np.zeros(1, dtype=np.int64)
    check(driver.cuMemcpyDtoH(total.ctypes.data, d_total, 8))
    assert int(total[0]) == int(data.sum())
    check(driver.cuMemFree(d_data))
    check(driver.cuMemFree(d_total))
    check(driver.cuModuleUnload(module))


def test_numba_device_arrays(rng):
    """numba's memory layer: to_device, device_array, device-to-device copies, copy_to_host."""
    a = rng.random((64, 33)).astype(np.float64)
    da = cuda.to_device(a)
    db = cuda.device_array_like(a)
    db.copy_to_device(da)
    np.testing.assert_array_equal(db.copy_to_host(), a)
    dc = cuda.to_device(np.zeros(10, dtype=np.int32))
    dc[2:5].copy_to_device(np.array([7, 8, 9], dtype=np.int32))
    np.testing.assert_array_equal(dc.copy_to_host(), [0, 0, 7, 8, 9, 0, 0, 0, 0, 0])
    free, total = cuda.current_context().get_memory_info()
    assert 0 < free <= total


def test_nvjitlink_is_leptons():
    """The nvJitLink cuda.core's Linker loads is Lepton's (<build>/cudaemu/jitlink), not the toolkit's."""
    from cuda.pathfinder import load_nvidia_dynamic_lib

    jitlink = os.environ.get("LEPTON_NVJITLINK_DIR") or os.path.join(os.environ["CUDAEMU_DIR"], "jitlink")
    want = os.path.realpath(os.path.join(jitlink, "libnvJitLink.so.13"))
    got = load_nvidia_dynamic_lib("nvJitLink").abs_path
    assert os.path.realpath(got) == want, f"cuda-pathfinder loads {got}; put {os.path.dirname(want)} first on LD_LIBRARY_PATH"


AXPY_SIG = "void(float32[::1], float32, float32[::1], float32[::1])"


def _run_axpy(kernel, rng, n=1000):
    x = rng.random(n, dtype=np.float32)
    y = rng.random(n, dtype=np.float32)
    dout = cuda.device_array(n, dtype=np.float32)
    kernel[(n + 127) // 128, 128](dout, np.float32(2.0), cuda.to_device(x), cuda.to_device(y))
    np.testing.assert_allclose(dout.copy_to_host(), 2 * x + y, rtol=1e-6)


def test_numba_jit_axpy(rng):
    _run_axpy(cuda.jit(AXPY_SIG)(axpy), rng)


def test_numba_jit_axpy_lazy(rng):
    """The plain decorator without a signature: compiled (with LTO) at the first launch."""
    _run_axpy(cuda.jit(axpy), rng, n=777)


def test_numba_jit_axpy_without_lto(rng):
    kernel = cuda.jit(AXPY_SIG, lto=False)(axpy)
    assert not kernel.overloads[kernel.signatures[0]]._codelibrary._lto
    _run_axpy(kernel, rng)


def test_numba_jit_shared_atomic_reduction(rng):
    kernel = cuda.jit("void(int64[::1], int64[::1])")(block_sum)
    data = rng.integers(-1000, 1000, 5000, dtype=np.int64)
    total = cuda.to_device(np.zeros(1, dtype=np.int64))
    kernel[(data.size + 255) // 256, 256](cuda.to_device(data), total)
    assert int(total.copy_to_host()[0]) == int(data.sum())


def test_numba_jit_default_is_lto(rng):
    """numba's default where nvJitLink loads is LTO: the kernel is LTO-IR, lowered to PTX by the
    toolkit's nvJitLink behind Lepton's; inspect_lto_ptx (nvJitLink -ptx) gives that PTX."""
    kernel = cuda.jit(AXPY_SIG)(axpy)
    sig = kernel.signatures[0]
    assert kernel.overloads[sig]._codelibrary._lto
    ptx = kernel.inspect_lto_ptx(sig)
    assert re.search(r"\.visible \.entry \S*axpy", ptx), ptx[:2000]
    _run_axpy(kernel, rng, n=4096)


def test_numba_jit_lto_kernel_calls_ptx_function(rng, tmp_path):
    """An LTO-IR kernel calling a device function from a PTX file (link=[...]): the toolkit's
    nvJitLink lowers the kernel with the call left .extern, Lepton's joins it with the PTX."""
    nvcc = os.path.join(os.environ.get("CUDA_HOME", "/usr/local/cuda"), "bin", "nvcc")
    if not shutil.which(nvcc):
        pytest.fail(f"no nvcc at {nvcc}: set CUDA_HOME")
    src = tmp_path / "cube.cu"
    src.write_text('extern "C" __device__ int cube_plus(float *ret, float x) { *ret = x * x * x + 1.0f; return 0; }\n')
    ptx = tmp_path / "cube.ptx"
    subprocess.run([nvcc, "-ptx", "-rdc=true", "-arch=sm_80", "-o", str(ptx), str(src)], check=True, timeout=120)
    cube_plus = cuda.declare_device("cube_plus", float32(float32))

    def cube(out, x):
        i = cuda.grid(1)
        if i < out.size:
            out[i] = cube_plus(x[i]) * 2

    kernel = cuda.jit("void(float32[::1], float32[::1])", link=[str(ptx)])(cube)
    assert kernel.overloads[kernel.signatures[0]]._codelibrary._lto
    x = rng.random(999, dtype=np.float32)
    dout = cuda.device_array(x.size, dtype=np.float32)
    kernel[(x.size + 127) // 128, 128](dout, cuda.to_device(x))
    np.testing.assert_allclose(dout.copy_to_host(), (x * x * x + 1) * 2, rtol=1e-6)
