# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The Lepton Authors.
"""Python bindings of liblepton: rent GPUs from a Lepton broker and run CUDA work on them.

    import lepton
    with lepton.Client() as client:
        with client.lease(gpus=1, ttl=600, max_cost=1.0) as lease:
            mod = lease.load_module(open("saxpy.ptx", "rb").read())
            x = lease.alloc(n * 4); y = lease.alloc(n * 4)
            x.write(xs); y.write(ys)
            lease.launch(mod, "saxpy", grid=(n // 256,), block=(256,), args=[n, 2.0, x, y]).wait()
            y.read(out)
            print(lease.info().cost)

Pure Python over ctypes; liblepton.so.1 is found through $LEPTON_LIBRARY, then
lepton/_lib/liblepton.so.1 next to this package, then ctypes.util.find_library("lepton").
numpy is optional: any object with the buffer protocol is accepted.
"""
from __future__ import annotations

from ._core import (
    Buffer,
    BufferAt,
    Client,
    Launch,
    Lease,
    LeaseInfo,
    LeaseState,
    Module,
    Offer,
    Read,
    Task,
    TaskInfo,
    TaskState,
    Value,
    Write,
    f16,
    f32,
    f64,
    i8,
    i16,
    i32,
    i64,
    raw,
    u8,
    u16,
    u32,
    u64,
)
from ._errors import (
    AuthError,
    Canceled,
    CudaError,
    Error,
    Expired,
    InvalidArgument,
    LibraryError,
    NetworkError,
    NoCapacity,
    NodeLost,
    NotFound,
    OutOfMemory,
    OverBudget,
    ProtocolError,
    TimedOut,
    TooLarge,
)
from ._ffi import library_version, status_name

__version__ = "1.0.0"
"""The package version; equal to the major.minor.patch of the liblepton it is written for."""

__all__ = [
    "__version__", "library_version", "status_name",
    "Client", "Lease", "Module", "Buffer", "BufferAt", "Task",
    "Offer", "LeaseInfo", "LeaseState", "TaskInfo", "TaskState",
    "Write", "Read", "Launch", "Value",
    "i8", "u8", "i16", "u16", "i32", "u32", "i64", "u64", "f16", "f32", "f64", "raw",
    "Error", "InvalidArgument", "OutOfMemory", "NetworkError", "AuthError", "NoCapacity",
    "OverBudget", "Expired", "NodeLost", "CudaError", "TimedOut", "Canceled", "ProtocolError",
    "NotFound", "TooLarge", "LibraryError",
]
