"""remote_numba.py — a numba-cuda program, unmodified, run by test_exec_programs.sh through `lepton
exec` (the remote driver): @cuda.jit kernels (numba links them with nvJitLink on the client and
ships the image; on cudaemu workers that must be PTX, so the test puts Lepton's libnvJitLink first
on LD_LIBRARY_PATH, as scripts/test-python-cuda.sh does; a real GPU's worker runs the toolkit's SASS
as is), numba's device arrays, a shared-memory reduction with atomics, checked against numpy."""
import numpy as np
from numba import cuda, int64


@cuda.jit
def axpy(out, a, x, y):
    i = cuda.grid(1)
    if i < out.size:
        out[i] = a * x[i] + y[i]


@cuda.jit
def block_sum(data, total):
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


def main():
    n = 20_000
    x = np.arange(n, dtype=np.float32)
    y = np.full(n, 3.0, dtype=np.float32)
    dx, dy = cuda.to_device(x), cuda.to_device(y)
    dout = cuda.device_array(n, dtype=np.float32)
    axpy[(n + 127) // 128, 128](dout, np.float32(0.5), dx, dy)
    out = dout.copy_to_host()
    assert np.array_equal(out, np.float32(0.5) * x + y), "axpy"
    data = np.arange(n, dtype=np.int64) * 3 - 7
    total = cuda.to_device(np.zeros(1, dtype=np.int64))
    block_sum[(n + 255) // 256, 256](cuda.to_device(data), total)
    got = int(total.copy_to_host()[0])
    assert got == int(data.sum()), (got, int(data.sum()))
    cuda.synchronize()
    name = cuda.get_current_device().name
    print(f"remote_numba: axpy and block_sum on {name.decode() if isinstance(name, bytes) else name}, PASS")


if __name__ == "__main__":
    main()
