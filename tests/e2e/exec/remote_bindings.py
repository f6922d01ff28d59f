"""remote_bindings.py — a cuda.bindings.driver program, unmodified, run by test_exec_programs.sh
through `lepton exec` (the remote driver): device facts, a PTX module, vector add with a packed
argument array, four streams ordered by events with timing, a module global, a memset. Every result
is checked against numpy. usage: remote_bindings.py SAMPLES_PTX"""
import ctypes
import sys

import numpy as np
from cuda.bindings import driver as cu


def check(result):
    if not isinstance(result, tuple):
        result = (result,)
    err = result[0]
    if int(err) != 0:
        raise SystemExit(f"remote_bindings: CUDA error {err!r}")
    rest = result[1:]
    return rest[0] if len(rest) == 1 else (rest if rest else None)


def packed(*values):
    """cuLaunchKernel's kernelParams: an array of pointers to each argument's bytes."""
    holders = [np.array([v], dtype=t) for v, t in values]
    return holders, np.array([h.ctypes.data for h in holders], dtype=np.uint64)


def main():
    ptx = open(sys.argv[1], "rb").read() + b"\0"
    check(cu.cuInit(0))
    count = check(cu.cuDeviceGetCount())
    assert count >= 1, count
    dev = check(cu.cuDeviceGet(0))
    name = check(cu.cuDeviceGetName(256, dev)).split(b"\0")[0].decode()
    major = check(cu.cuDeviceGetAttribute(cu.CUdevice_attribute.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, dev))
    total = check(cu.cuDeviceTotalMem(dev))
    assert name and major >= 5 and total > 0, (name, major, total)
    ctx = check(cu.cuDevicePrimaryCtxRetain(dev))
    check(cu.cuCtxSetCurrent(ctx))
    free, total2 = check(cu.cuMemGetInfo())
    assert 0 < free <= total2, (free, total2)
    mod = check(cu.cuModuleLoadData(ptx))
    vec_add = check(cu.cuModuleGetFunction(mod, b"vec_add"))
    work = check(cu.cuModuleGetFunction(mod, b"stream_work"))

    n = 100_000
    a = np.arange(n, dtype=np.float32) * 0.5
    b = (np.arange(n, dtype=np.float32) % 77) - 30.0
    da, db, dc = (check(cu.cuMemAlloc(n * 4)) for _ in range(3))
    check(cu.cuMemcpyHtoD(da, a.ctypes.data, a.nbytes))
    check(cu.cuMemcpyHtoD(db, b.ctypes.data, b.nbytes))
    _keep, params = packed((int(da), np.uint64), (int(db), np.uint64), (int(dc), np.uint64), (n, np.int32))
    check(cu.cuLaunchKernel(vec_add, (n + 255) // 256, 1, 1, 256, 1, 1, 0, 0, params.ctypes.data, 0))
    c = np.empty(n, dtype=np.float32)
    check(cu.cuMemcpyDtoH(c.ctypes.data, dc, c.nbytes))
    assert np.array_equal(c, a + b), "vec_add results differ"

    # four streams, each: copy up, 4 rounds of v = v*3 + seed, copy down; timed with events
    m, streams, outs, keep = 8192, [], [], []
    start = check(cu.cuEventCreate(cu.CUevent_flags.CU_EVENT_DEFAULT))
    stop = check(cu.cuEventCreate(cu.CUevent_flags.CU_EVENT_DEFAULT))
    s0 = check(cu.cuStreamCreate(cu.CUstream_flags.CU_STREAM_NON_BLOCKING))
    check(cu.cuEventRecord(start, s0))
    inputs = [np.arange(m, dtype=np.int32) * (s + 1) - 500 for s in range(4)]
    for s in range(4):
        st = check(cu.cuStreamCreate(cu.CUstream_flags.CU_STREAM_NON_BLOCKING))
        d = check(cu.cuMemAlloc(m * 4))
        check(cu.cuMemcpyHtoDAsync(d, inputs[s].ctypes.data, inputs[s].nbytes, st))
        holders, p = packed((int(d), np.uint64), (m, np.int32), (7 * s + 1, np.int32), (4, np.int32))
        keep.append((holders, p))
        check(cu.cuLaunchKernel(work, m // 256, 1, 1, 256, 1, 1, 0, st, p.ctypes.data, 0))
        out = np.empty(m, dtype=np.int32)
        check(cu.cuMemcpyDtoHAsync(out.ctypes.data, d, out.nbytes, st))
        ev = check(cu.cuEventCreate(cu.CUevent_flags.CU_EVENT_DISABLE_TIMING))
        check(cu.cuEventRecord(ev, st))
        check(cu.cuStreamWaitEvent(s0, ev, 0))
        streams.append((st, d, ev))
        outs.append(out)
    check(cu.cuEventRecord(stop, s0))
    check(cu.cuEventSynchronize(stop))
    ms = check(cu.cuEventElapsedTime(start, stop))
    assert 0.0 <= ms < 60_000.0, ms
    for s in range(4):
        want = inputs[s].astype(np.uint32)
        for _ in range(4):
            want = want * np.uint32(3) + np.uint32(7 * s + 1)
        assert np.array_equal(outs[s], want.astype(np.int32)), f"stream {s} results differ"

    # a module global written from the host, read by a kernel; a memset
    table, size = check(cu.cuModuleGetGlobal(mod, b"k_table"))
    assert size == 64, size
    check(cu.cuMemsetD32(dc, 0x3F800000, n))  # 1.0f
    check(cu.cuMemcpyDtoH(c.ctypes.data, dc, c.nbytes))
    assert np.all(c == 1.0), "memset"

    for st, d, ev in streams:
        check(cu.cuStreamDestroy(st))
        check(cu.cuMemFree(d))
        check(cu.cuEventDestroy(ev))
    for d in (da, db, dc):
        check(cu.cuMemFree(d))
    check(cu.cuModuleUnload(mod))
    check(cu.cuDevicePrimaryCtxRelease(dev))
    print(f"remote_bindings: {name}, {count} device(s), 4 streams in {ms:.3f} ms, PASS")


if __name__ == "__main__":
    main()
