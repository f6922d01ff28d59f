# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The Lepton Authors.
"""Host memory is used in place: the address handed to liblepton is the object's own memory."""
from __future__ import annotations

import array
import ctypes
import sys
import threading

import pytest

import lepton
from lepton._host import HostView


def test_writable_objects_are_not_copied() -> None:
    ba = bytearray(b"abcdefgh")
    with HostView(ba, True) as v:
        assert v.address == ctypes.addressof((ctypes.c_char * 8).from_buffer(ba)) and v.nbytes == 8
        with pytest.raises(BufferError):
            ba.append(1)  # exported: cannot be resized while liblepton may use it
    ba.append(1)
    arr = array.array("d", [1.0, 2.0])
    with HostView(arr, True) as v:
        assert v.address == arr.buffer_info()[0] and v.nbytes == 16
    mv = memoryview(ba)[2:6]
    with HostView(mv, False) as v:
        assert v.address == ctypes.addressof((ctypes.c_char * 9).from_buffer(ba)) + 2 and v.nbytes == 4


def test_read_only_bytes_are_not_copied() -> None:
    b = b"0123456789" * 10
    with HostView(b, False) as v:
        assert v.address == ctypes.cast(ctypes.c_char_p(b), ctypes.c_void_p).value and v.nbytes == 100
    with pytest.raises(lepton.InvalidArgument, match="writable"):
        HostView(b, True)


def test_numpy_not_imported_by_the_package() -> None:
    import subprocess
    code = "import sys, lepton; print('numpy' in sys.modules)"
    from conftest import HERE
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=str(HERE.parent))
    assert out.stdout.strip() == "False", out.stderr


def test_threads_share_a_lease(lease: lepton.Lease, saxpy_ptx: bytes) -> None:
    mod = lease.load_module(saxpy_ptx)
    n = 512
    errors: list = []

    def work(k: int) -> None:
        try:
            xs = array.array("f", [float(k)] * n)
            with lease.alloc(n * 4) as x, lease.alloc(n * 4) as y:
                x.write(xs)
                y.write(bytes(n * 4))
                lease.launch(mod, "saxpy", grid=(2,), block=(256,), args=[n, 2.0, x, y]).wait()
                got = array.array("f", y.read())
                assert got.tolist() == [2.0 * k] * n
        except BaseException as e:  # reported in the main thread
            errors.append(e)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors
