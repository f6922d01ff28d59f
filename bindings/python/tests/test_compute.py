# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The Lepton Authors.
"""Modules, buffers, launches and jobs on a real lease (CPU CUDA driver)."""
from __future__ import annotations

import array
import struct
from pathlib import Path

import pytest

import lepton
from conftest import REPO, open_lease

PTX_DIR = Path(__file__).resolve().parent / "ptx"
N = 1000


def host_saxpy(a: float, xs: "array.array", ys: "array.array") -> "array.array":
    # float32 arithmetic as the kernel does it (fma rounds once; compare with a tolerance)
    return array.array("f", [a * x + y for x, y in zip(xs, ys)])


def inputs() -> "tuple[array.array, array.array]":
    xs = array.array("f", [float(i) for i in range(N)])
    ys = array.array("f", [float(2 * i + 1) for i in range(N)])
    return xs, ys


def check(out: "array.array", a: float, xs: "array.array", ys: "array.array") -> None:
    want = host_saxpy(a, xs, ys)
    assert len(out) == N
    for i in range(N):
        assert out[i] == pytest.approx(want[i], rel=1e-6), f"element {i}"


def run_saxpy(lease: lepton.Lease, ptx: bytes, x_data: object, y_data: object, a: object = 2.0) -> bytes:
    mod = lease.load_module(ptx)
    with lease.alloc(N * 4) as x, lease.alloc(N * 4) as y:
        x.write(x_data)
        y.write(y_data)
        task = lease.launch(mod, "saxpy", grid=((N + 255) // 256,), block=(256,), args=[N, a, x, y])
        assert task.wait() is task
        info = task.info()
        assert info.state is lepton.TaskState.DONE and info.status == 0 and info.error == ""
        return y.read()


@pytest.mark.parametrize("kind", ["bytes", "bytearray", "memoryview", "array", "readonly-memoryview"])
def test_saxpy_buffer_kinds(lease: lepton.Lease, saxpy_ptx: bytes, kind: str) -> None:
    xs, ys = inputs()
    conv = {
        "bytes": bytes,
        "bytearray": bytearray,
        "memoryview": lambda a: memoryview(bytearray(a)),
        "array": lambda a: a,
        "readonly-memoryview": lambda a: memoryview(bytes(a)),
    }[kind]
    got = run_saxpy(lease, saxpy_ptx, conv(xs), conv(ys))
    assert isinstance(got, bytes) and len(got) == N * 4
    check(array.array("f", got), 2.0, xs, ys)


def test_saxpy_numpy(lease: lepton.Lease, saxpy_ptx: bytes) -> None:
    np = pytest.importorskip("numpy", reason="numpy is not installed; the bindings do not need it")
    x = np.arange(N, dtype=np.float32)
    y = (2 * np.arange(N) + 1).astype(np.float32)
    mod = lease.load_module(saxpy_ptx)
    xb, yb = lease.alloc(x.nbytes), lease.alloc(y.nbytes)
    xb.write(x)
    yb.write(y)
    lease.launch(mod, "saxpy", grid=(4,), block=(256,), args=[int(np.int32(N)), 3.0, xb, yb]).wait()
    out = np.empty_like(y)
    assert yb.read(out) is out
    np.testing.assert_allclose(out, 3.0 * x + y, rtol=1e-6)
    # a read-only array is written without a copy too
    x.flags.writeable = False
    xb.write(x)
    # a non-contiguous array is refused with a clear message
    with pytest.raises(lepton.InvalidArgument, match="contiguous"):
        xb.write(x[::2])


def test_read_into_bytearray_in_place(lease: lepton.Lease) -> None:
    with lease.alloc(64) as b:
        b.write(bytes(range(64)))
        target = bytearray(64)
        addr_before = id(target)
        got = b.read(target)
        assert got is target and id(got) == addr_before
        assert target == bytes(range(64))
        # partial reads with offset and size, into a memoryview slice of the same bytearray
        target2 = bytearray(b"\xff" * 16)
        mv = memoryview(target2)[4:12]
        assert b.read(mv, offset=8) is mv
        assert target2 == b"\xff" * 4 + bytes(range(8, 16)) + b"\xff" * 4
        assert b.read(offset=60) == bytes(range(60, 64))
        assert b.read(offset=10, size=3) == bytes([10, 11, 12])
        arr = array.array("I", [0] * 4)
        assert b.read(arr, size=8) is arr and arr[2] == 0
        assert struct.unpack("<II", arr.tobytes()[:8]) == struct.unpack("<II", bytes(range(8)))
        with pytest.raises(lepton.InvalidArgument, match="writable"):
            b.read(b"immutable")
        with pytest.raises(lepton.InvalidArgument):
            b.read(bytearray(4), size=8)


def test_write_rejects_non_buffers(lease: lepton.Lease) -> None:
    with lease.alloc(16) as b:
        with pytest.raises(lepton.InvalidArgument, match="buffer protocol"):
            b.write([1, 2, 3])  # type: ignore[arg-type]


def params_out(lease: lepton.Lease, args_after_out: list) -> bytes:
    mod = lease.load_module((PTX_DIR / "params.ptx").read_bytes())
    with lease.alloc(40) as out:
        out.write(bytes(40))
        lease.launch(mod, "store_params", args=[out, *args_after_out]).wait()
        return out.read()


def test_values_converted_from_ptx_signature(lease: lepton.Lease) -> None:
    raw = params_out(lease, [4000000000, -7, 2**63 + 5, 1.5, 0.1, 65535])
    a, b, c, d, e, f = struct.unpack_from("<IiQf4xdH", raw)
    assert (a, b, c, f) == (4000000000, -7, 2**63 + 5, 65535)
    assert d == 1.5
    assert e == 0.1  # exact: passed as a double, not rounded through float32
    # ints are accepted for float parameters; bools for integers
    raw = params_out(lease, [True, 0, 0, 3, 2, 0])
    a, _, _, d, e, _ = struct.unpack_from("<IiQf4xdH", raw)
    assert (a, d, e) == (1, 3.0, 2.0)


def test_explicit_typed_values(lease: lepton.Lease) -> None:
    raw = params_out(lease, [lepton.u32(7), lepton.i32(-8), lepton.u64(9), lepton.f32(0.5), lepton.f64(0.25),
                             lepton.u16(3)])
    assert struct.unpack_from("<IiQf4xdH", raw) == (7, -8, 9, 0.5, 0.25, 3)


def test_cubin_like_module_needs_typed_values(lease: lepton.Lease, saxpy_ptx: bytes) -> None:
    mod = lease.load_module(saxpy_ptx)
    mod.signatures = None  # as for a cubin/fatbin: no PTX text to read the parameter types from
    xs, ys = inputs()
    with lease.alloc(N * 4) as x, lease.alloc(N * 4) as y:
        x.write(xs)
        y.write(ys)
        with pytest.raises(lepton.InvalidArgument, match="lepton.i32"):
            lease.launch(mod, "saxpy", grid=(4,), block=(256,), args=[N, 2.0, x, y])
        lease.launch(mod, "saxpy", grid=(4,), block=(256,), args=[lepton.u32(N), lepton.f32(2.0), x, y]).wait()
        check(array.array("f", y.read()), 2.0, xs, ys)
        # the library still checks sizes against the kernel's parameter list
        with pytest.raises(lepton.InvalidArgument):
            lease.launch(mod, "saxpy", grid=(4,), block=(256,), args=[lepton.u32(N), x, y]).wait()


@pytest.mark.parametrize("args,match", [
    ([N, 2.0, "X", "Y"], "takes 4 arguments"),                 # count: 3 given (see below)
    ([N, 2.0, 1234, "Y"], "device pointer"),                    # int for a pointer parameter
    ([2.5, 2.0, "X", "Y"], "wants an integer"),                 # float for .u32
    ([-1, 2.0, "X", "Y"], "out of range"),                      # negative for .u32
    ([2**32, 2.0, "X", "Y"], "out of range"),
    ([N, "2.0", "X", "Y"], "wants a number"),                   # str for .f32
    (["X", 2.0, "X", "Y"], "does not fit this 4-byte"),         # Buffer for .u32
    ([lepton.f64(1.0), 2.0, "X", "Y"], "8 bytes, the parameter 4"),
])
def test_wrong_arguments_raise_before_sending(lease: lepton.Lease, saxpy_ptx: bytes, args: list, match: str) -> None:
    mod = lease.load_module(saxpy_ptx)
    with lease.alloc(N * 4) as x, lease.alloc(N * 4) as y:
        real = [x if a == "X" else y if a == "Y" else a for a in args]
        if match == "takes 4 arguments":
            real = real[:3]
        with pytest.raises(lepton.InvalidArgument, match=match) as e:
            lease.launch(mod, "saxpy", grid=(4,), block=(256,), args=real)
        assert e.value.code == -1 and "saxpy" in e.value.message


def test_unknown_kernel(lease: lepton.Lease, saxpy_ptx: bytes) -> None:
    mod = lease.load_module(saxpy_ptx)
    assert mod.kernels() == ["saxpy"]
    with pytest.raises(lepton.NotFound, match="saxpy"):
        lease.launch(mod, "nope", args=[])


def test_submit_write_launch_read(lease: lepton.Lease, saxpy_ptx: bytes) -> None:
    mod = lease.load_module(saxpy_ptx)
    xs, ys = inputs()
    out = bytearray(N * 4)
    with lease.alloc(N * 4) as x, lease.alloc(N * 4) as y:
        task = lease.submit(
            lepton.Write(x, xs),
            lepton.Write(y, memoryview(ys)),
            lepton.Launch(mod, "saxpy", grid=(4,), block=(256,), args=[N, 0.5, x, y]),
            lepton.Read(y, out),
        )
        with task:
            task.wait()
    check(array.array("f", bytes(out)), 0.5, xs, ys)


def test_buffer_offset_argument(lease: lepton.Lease, saxpy_ptx: bytes) -> None:
    mod = lease.load_module(saxpy_ptx)
    xs = array.array("f", [1.0] * 8)
    with lease.alloc(32) as x, lease.alloc(32) as y:
        x.write(xs)
        y.write(bytes(32))
        # y[4:] += 2 * x[0:4]
        lease.launch(mod, "saxpy", grid=(1,), block=(32,), args=[4, 2.0, x, y.at(16)]).wait()
        assert array.array("f", y.read()).tolist() == [0.0] * 4 + [2.0] * 4


def test_two_gpus(client: lepton.Client, saxpy_ptx: bytes) -> None:
    with open_lease(client, gpus=2, ttl=120) as lease:
        assert lease.info().gpu_count == 2
        mod = lease.load_module(saxpy_ptx)
        xs, ys = inputs()
        for gpu in (0, 1):
            x, y = lease.alloc(N * 4, gpu=gpu), lease.alloc(N * 4, gpu=gpu)
            x.write(xs)
            y.write(ys)
            lease.launch(mod, "saxpy", grid=(4,), block=(256,), args=[N, float(gpu + 1), x, y], gpu=gpu).wait()
            check(array.array("f", y.read()), float(gpu + 1), xs, ys)


def test_wait_timeout(lease: lepton.Lease) -> None:
    mod = lease.load_module((PTX_DIR / "params.ptx").read_bytes())
    iters = 3_000_000
    with lease.alloc(4) as out:
        task = lease.launch(mod, "spin", args=[out, iters])
        with pytest.raises(lepton.TimedOut) as e:
            task.wait(timeout_ms=0)
        assert e.value.code == -10
        assert task.info().state in (lepton.TaskState.QUEUED, lepton.TaskState.RUNNING)
        task.wait(timeout_ms=120_000)
        assert task.info().state is lepton.TaskState.DONE
        assert struct.unpack("<I", out.read())[0] == (iters * (iters - 1) // 2) % 2**32
        task.free()
        task.free()


def test_cuda_fault_raises_cuda_error(client: lepton.Client) -> None:
    ptx = (REPO / "tests" / "kernels" / "ptx" / "oob_write.sm_75.ptx").read_bytes()
    with open_lease(client, ttl=120) as lease:  # its own lease: the fault is sticky for the context
        mod = lease.load_module(ptx)
        n = 1024
        with lease.alloc(n * 4) as buf:
            task = lease.launch(mod, "oob_write", grid=(4,), block=(256,), args=[buf, n, n + (1 << 30)])
            with pytest.raises(lepton.CudaError) as e:
                task.wait(timeout_ms=60_000)
        assert e.value.code == -9 and e.value.name == "LEPTON_ECUDA"
        assert "CUDA_ERROR_ILLEGAL_ADDRESS" in e.value.message
        info = task.info()
        assert info.state is lepton.TaskState.FAILED and info.status == -9
        assert "CUDA_ERROR_ILLEGAL_ADDRESS" in info.error


def test_use_after_lease_close(client: lepton.Client, saxpy_ptx: bytes) -> None:
    lease = open_lease(client, ttl=60)
    buf = lease.alloc(16)
    mod = lease.load_module(saxpy_ptx)
    lease.close()
    with pytest.raises(lepton.InvalidArgument, match="lease closed"):
        buf.write(b"x" * 16)
    buf.free()  # a no-op now
    mod.free()
    with pytest.raises(lepton.Expired):
        lease.alloc(16)
