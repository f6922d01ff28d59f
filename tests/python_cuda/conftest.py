"""Shared set-up of the Python CUDA client tests: they run NVIDIA's Python packages (cuda.bindings,
cuda.core, numba-cuda) unmodified against cudaemu, the libcuda.so.1 found first on LD_LIBRARY_PATH
(scripts/test-python-cuda.sh sets it to <build>/cudaemu). Every test checks its numbers against
numpy on the host. With PYTHON_CUDA_DRIVER=system they run against the system's driver (a GPU's)
instead: the checks of cudaemu's own behaviour are skipped (cudaemu_only) and the strict xfails that
describe cudaemu's gaps apply only where the loaded library is cudaemu (ON_CUDAEMU).

Some tests need entry points that other branches are adding to cudaemu. They are marked xfail
(strict) only while a probe of the loaded library finds the entry point missing (or answering
CUDA_ERROR_NOT_SUPPORTED); once it works they run as ordinary tests and must pass."""
import ctypes
import os
import shutil
import subprocess
import tempfile

import numpy as np
import pytest
from cuda.bindings import driver
from cuda.bindings import runtime

# PYTHON_CUDA_DRIVER=system (scripts/test-python-cuda.sh): the tests run against the system's driver
# (a GPU's), not cudaemu; CUDAEMU_DIR is then not set and not checked.
DRIVER = os.environ.get("PYTHON_CUDA_DRIVER", "cudaemu")

CUDA_HOME = os.environ.get("CUDA_HOME") or os.environ.get("CUDA_PATH") or "/usr/local/cuda"

# CuPy (test_cupy.py) on cudaemu, set before CuPy is imported: PTX rather than cubins from NVRTC
# (cudaemu runs PTX only; CuPy asks for a cubin by default), the toolkit where CuPy finds NVRTC, and a
# kernel cache of this run's own (a cubin cached by an earlier run on a GPU would be loaded and
# refused; the saved sources let test_cupy.py see which kernels were compiled). Against a real driver
# (PYTHON_CUDA_DRIVER=system) CuPy runs as it would anywhere.
CUPY_CACHE_DIR = None
if DRIVER == "cudaemu":
    os.environ.setdefault("CUPY_COMPILE_WITH_PTX", "1")
    os.environ.setdefault("CUDA_PATH", CUDA_HOME)
    CUPY_CACHE_DIR = tempfile.mkdtemp(prefix="lepton-cupy-cache-")
    os.environ["CUPY_CACHE_DIR"] = CUPY_CACHE_DIR
    os.environ["CUPY_CACHE_SAVE_CUDA_SOURCE"] = "1"

# The driver library that cuda.bindings will use: the same soname, resolved the same way (dlopen).
_LIB = ctypes.CDLL("libcuda.so.1")


def _loaded_libcuda_path():
    with open("/proc/self/maps") as f:
        for line in f:
            if line.rstrip().endswith("/libcuda.so.1") or "/libcuda.so.1 " in line:
                return line.split()[-1]
    return None


LIBCUDA_PATH = _loaded_libcuda_path()


def _is_cudaemu(path):
    """The library holds the "cudaemu: " prefix of cudaemu's log lines (NVIDIA's driver does not)."""
    if not path:
        return False
    mark, tail = b"cudaemu: ", b""
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            if mark in tail + chunk:
                return True
            tail = chunk[-len(mark):]
    return False


# Whether the loaded libcuda.so.1 is cudaemu, decided from the library itself. Checks of what only
# cudaemu does (refusing machine code, serving no private export tables) are made only then.
ON_CUDAEMU = _is_cudaemu(LIBCUDA_PATH)
cudaemu_only = pytest.mark.skipif(not ON_CUDAEMU, reason="checks cudaemu's own behaviour (the driver is not cudaemu)")


def _proc(name, version=13000):
    """cuGetProcAddress(name) as cuda.bindings does it: the function pointer or None."""
    fn = _LIB.cuGetProcAddress_v2
    fn.argtypes = [ctypes.c_char_p, ctypes.POINTER(ctypes.c_void_p), ctypes.c_int, ctypes.c_uint64, ctypes.c_void_p]
    p = ctypes.c_void_p()
    r = fn(name.encode(), ctypes.byref(p), version, 0, None)
    return p.value if r == 0 and p.value else None


_TINY_PTX = b""".version 8.0
.target sm_90
.address_size 64
.visible .entry lepton_probe() { ret; }
"""


def _library_works():
    """cuLibraryLoadData on a one-line PTX module answers CUDA_SUCCESS (not missing, not a stub)."""
    load, unload = _proc("cuLibraryLoadData", 12000), _proc("cuLibraryUnload", 12000)
    getk = _proc("cuLibraryGetKernel", 12000)
    if not (load and unload and getk):
        return False
    if _LIB.cuInit(0) != 0:
        return False
    lib = ctypes.c_void_p()
    f = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_void_p), ctypes.c_char_p, ctypes.c_void_p,
                         ctypes.c_void_p, ctypes.c_uint, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_uint)(load)
    if f(ctypes.byref(lib), _TINY_PTX, None, None, 0, None, None, 0) != 0:
        return False
    ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p)(unload)(lib)
    return True


def _runtime_works():
    """cuda.bindings.runtime (the CUDA runtime that cuda-bindings links in, also behind cuda.core's
    Device.sync) starts on the loaded driver: cudaGetDeviceCount answers cudaSuccess."""
    err, count = runtime.cudaGetDeviceCount()
    return int(err) == 0 and count > 0


_OCCUPANCY_PTX = b""".version 8.0
.target sm_90
.address_size 64
.visible .entry lepton_occupancy_probe() .maxntid 640, 1, 1 { .reg .b32 %r<300>; ret; }
"""


def _occupancy_fits_max_block():
    """cuOccupancyMaxActiveBlocksPerMultiprocessor answers at least one block for a kernel at the
    block size it declares (.maxntid 640) with many registers, as a GPU's compiler guarantees. CUB's
    host code divides by that answer (times the SM count) for the grid of a multi-tile reduction."""
    if _LIB.cuInit(0) != 0:
        return False
    err, dev = driver.cuDeviceGet(0)
    err, ctx = driver.cuDevicePrimaryCtxRetain(dev)
    if int(err) != 0:
        return False
    try:
        driver.cuCtxSetCurrent(ctx)
        err, mod = driver.cuModuleLoadData(_OCCUPANCY_PTX)
        if int(err) != 0:
            return not ON_CUDAEMU  # a driver without a PTX JIT here is not cudaemu's question
        err, f = driver.cuModuleGetFunction(mod, b"lepton_occupancy_probe")
        err2, blocks = driver.cuOccupancyMaxActiveBlocksPerMultiprocessor(f, 640, 0)
        driver.cuModuleUnload(mod)
        return int(err) == 0 and int(err2) == 0 and blocks > 0
    finally:
        driver.cuDevicePrimaryCtxRelease(dev)


HAVE_EXPORT_TABLE = hasattr(_LIB, "cuGetExportTable")
HAVE_LIBRARY = _library_works()
HAVE_POINTER_ATTRIBUTES = _proc("cuPointerGetAttributes", 7000) is not None
HAVE_RUNTIME = _runtime_works()
HAVE_OCCUPANCY = _occupancy_fits_max_block()
if not HAVE_OCCUPANCY:
    # CuPy's default accelerator (CUB) would kill the whole run with SIGFPE at its first multi-tile
    # reduction: CuPy runs its own reduction kernels instead, and the CUB tests are strict xfail
    # (not run) by needs("occupancy") until the driver answers.
    os.environ["CUPY_ACCELERATORS"] = ""

# What each feature needs, whether the loaded library has it, and whether a test may run without it.
# NVRTC 13.0's nvrtcCompileProgram dlopens libcuda.so.1 and, once cuInit succeeds there, calls
# cuGetExportTable and dereferences the table without checking that the symbol exists: with a
# libcuda.so.1 that lacks it the process dies with SIGSEGV, so such a test cannot even be run.
FEATURES = {
    "nvrtc": (HAVE_EXPORT_TABLE, False,
              "cuGetExportTable exported by libcuda.so.1 (branch images): NVRTC 13.0 calls it from "
              "nvrtcCompileProgram and crashes (SIGSEGV) when it is missing"),
    "library": (HAVE_LIBRARY, True, "cuLibraryLoadData/cuLibraryGetKernel/cuKernelGetFunction (branch images)"),
    "pointer_attributes": (HAVE_POINTER_ATTRIBUTES, True, "cuPointerGetAttributes (branch entry)"),
    "occupancy": (HAVE_OCCUPANCY, False,
                  "cuOccupancyMaxActiveBlocksPerMultiprocessor > 0 at a kernel's own .maxntid (640) with many "
                  "registers: cudaemu caps NUM_REGS at 65536 / max threads without the per-warp allocation "
                  "granularity and answers 0 blocks; CUB's DeviceReduce then divides by zero (SIGFPE kills "
                  "the process, so these tests cannot even run)"),
    "runtime": (HAVE_RUNTIME, True,
                "the CUDA runtime of cuda-bindings 13.5 (cudart 13.5) to start: it stops at cudaGetDeviceCount "
                "with cudaErrorSymbolNotFound when the driver does not serve its export table "
                "21318c60-9714-3248-8ca6-41ff7324c8f2 (cudart 13.0, CuPy's, does without it)"),
}


def needs(*features):
    """One strict xfail mark for the features the loaded cudaemu lacks (none: no effect)."""
    missing = [f for f in features if not FEATURES[f][0]]
    runnable = all(FEATURES[f][1] for f in missing)
    reason = "needs " + "; ".join(FEATURES[f][2] for f in missing) if missing else ""
    return pytest.mark.xfail(bool(missing), run=runnable, strict=True, reason=reason)


def pytest_report_header(config):
    return [f"libcuda.so.1: {LIBCUDA_PATH} ({'cudaemu' if ON_CUDAEMU else 'not cudaemu'}; PYTHON_CUDA_DRIVER={DRIVER})",
            f"cudaemu probes: cuGetExportTable={HAVE_EXPORT_TABLE} cuLibrary*={HAVE_LIBRARY} "
            f"cuPointerGetAttributes={HAVE_POINTER_ATTRIBUTES} cudart(cuda.bindings.runtime)={HAVE_RUNTIME} "
            f"occupancy-at-maxntid={HAVE_OCCUPANCY}"]


def pytest_unconfigure(config):
    if CUPY_CACHE_DIR:
        shutil.rmtree(CUPY_CACHE_DIR, ignore_errors=True)


def pytest_configure(config):
    if DRIVER == "system":
        if ON_CUDAEMU:
            raise pytest.UsageError(f"PYTHON_CUDA_DRIVER=system, but libcuda.so.1 is cudaemu ({LIBCUDA_PATH}); "
                                    "check LD_LIBRARY_PATH")
        return
    want = os.environ.get("CUDAEMU_DIR")
    if want and (not LIBCUDA_PATH or os.path.realpath(os.path.dirname(LIBCUDA_PATH)) != os.path.realpath(want)):
        raise pytest.UsageError(f"libcuda.so.1 is {LIBCUDA_PATH}, not cudaemu's in {want} (check LD_LIBRARY_PATH)")


def check(result):
    """Unpacks a cuda.bindings result tuple, failing the test on any error code."""
    if not isinstance(result, tuple):
        result = (result,)
    err = result[0]
    assert int(err) == 0, f"{err!r}"
    rest = result[1:]
    return rest[0] if len(rest) == 1 else (rest if rest else None)


@pytest.fixture(scope="session")
def cuda_device():
    check(driver.cuInit(0))
    return check(driver.cuDeviceGet(0))


@pytest.fixture
def context(cuda_device):
    """The device's primary context, current for the test."""
    ctx = check(driver.cuDevicePrimaryCtxRetain(cuda_device))
    check(driver.cuCtxSetCurrent(ctx))
    yield ctx
    check(driver.cuCtxSynchronize())
    check(driver.cuDevicePrimaryCtxRelease(cuda_device))


_ptx_cache = {}


def nvcc_ptx(source, arch="compute_90"):
    """PTX of a CUDA C++ source, as a program that ships .ptx files would have it (nvcc -ptx)."""
    key = (source, arch)
    if key not in _ptx_cache:
        nvcc = os.path.join(CUDA_HOME, "bin", "nvcc")
        if not os.access(nvcc, os.X_OK):
            nvcc = shutil.which("nvcc")
        assert nvcc, "nvcc not found (set CUDA_HOME)"
        with tempfile.TemporaryDirectory() as d:
            src = os.path.join(d, "k.cu")
            with open(src, "w") as f:
                f.write(source)
            out = os.path.join(d, "k.ptx")
            env = dict(os.environ)
            env.pop("LD_PRELOAD", None)  # a sanitizer preloaded for cudaemu is not meant for nvcc
            subprocess.run([nvcc, "-ptx", f"-arch={arch}", "-o", out, src], check=True, env=env)
            with open(out, "rb") as f:
                _ptx_cache[key] = f.read()
    return _ptx_cache[key]


@pytest.fixture
def rng():
    return np.random.default_rng(1234)
