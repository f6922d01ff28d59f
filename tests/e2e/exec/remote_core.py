"""remote_core.py — a cuda.core program, unmodified, run by test_exec_programs.sh through `lepton
exec` (the remote driver): Device, its memory resource, ObjectCode.from_ptx, launch, events and
Stream.sync, checked against numpy; then Program (NVRTC) compiling C++ for the device.
usage: remote_core.py SAMPLES_PTX"""
import sys

import numpy as np
from cuda.bindings import driver
from cuda.core import Device, EventOptions, LaunchConfig, ObjectCode, Program, ProgramOptions, launch


def check(result):
    if not isinstance(result, tuple):
        result = (result,)
    if int(result[0]) != 0:
        raise SystemExit(f"remote_core: CUDA error {result[0]!r}")
    return result[1] if len(result) == 2 else None


def main():
    dev = Device(0)
    dev.set_current()
    major, minor = dev.compute_capability
    assert major >= 5 and dev.name and dev.properties.warp_size == 32
    stream = dev.create_stream()
    mr = dev.memory_resource
    mod = ObjectCode.from_ptx(open(sys.argv[1]).read())
    kernel = mod.get_kernel("vec_add")
    n = 50_000
    a = np.linspace(-1.0, 1.0, n, dtype=np.float32)
    b = np.arange(n, dtype=np.float32)
    bufs = [mr.allocate(n * 4, stream=stream) for _ in range(3)]
    check(driver.cuMemcpyHtoDAsync(int(bufs[0].handle), a.ctypes.data, a.nbytes, stream.handle))
    check(driver.cuMemcpyHtoDAsync(int(bufs[1].handle), b.ctypes.data, b.nbytes, stream.handle))
    start = stream.record(options=EventOptions(timing_enabled=True))
    launch(stream, LaunchConfig(grid=(n + 127) // 128, block=128), kernel, bufs[0], bufs[1], bufs[2], np.int32(n))
    stop = stream.record(options=EventOptions(timing_enabled=True))
    out = np.empty(n, dtype=np.float32)
    check(driver.cuMemcpyDtoHAsync(out.ctypes.data, int(bufs[2].handle), out.nbytes, stream.handle))
    stream.sync()
    assert np.array_equal(out, a + b), "vec_add through cuda.core"
    elapsed = stop - start
    assert 0.0 <= elapsed < 60_000.0, elapsed

    src = 'extern "C" __global__ void axpb(float *x, float a, float b, int n)' \
          '{ int i = blockIdx.x * blockDim.x + threadIdx.x; if (i < n) x[i] = a * x[i] + b; }'
    prog = Program(src, code_type="c++", options=ProgramOptions(arch=f"sm_{major}{minor}"))
    axpb = prog.compile("ptx").get_kernel("axpb")
    launch(stream, LaunchConfig(grid=(n + 255) // 256, block=256), axpb, bufs[2], np.float32(2.0), np.float32(-1.0),
           np.int32(n))
    check(driver.cuMemcpyDtoHAsync(out.ctypes.data, int(bufs[2].handle), out.nbytes, stream.handle))
    stream.sync()
    assert np.allclose(out, 2.0 * (a + b) - 1.0), "NVRTC kernel through cuda.core"
    for buf in bufs:
        buf.close(stream)
    stream.sync()
    print(f"remote_core: {dev.name} sm_{major}{minor}, {elapsed:.3f} ms, PASS")


if __name__ == "__main__":
    main()
