# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The Lepton Authors.
"""Client, Lease, Module, Buffer and Task: the Python face of lepton.h."""
from __future__ import annotations

import ctypes
import enum
import struct
import threading
import weakref
from ctypes import POINTER, byref, c_size_t
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Sequence, Union

from . import _ffi
from ._errors import Error, Expired, InvalidArgument, NotFound
from ._host import HostView, new_bytes
from ._ptx import Param, convert, parse_signatures

# ---------------------------------------------------------------------------------------------
# Enums and snapshots
# ---------------------------------------------------------------------------------------------


class LeaseState(enum.IntEnum):
    """lepton_lease_info.state (LEPTON_LEASE_*)."""

    PENDING = 0
    ACTIVE = 1
    CLOSED = 2
    EXPIRED = 3
    EXHAUSTED = 4
    FAILED = 5

    def __str__(self) -> str:
        return self.name.lower()


class TaskState(enum.IntEnum):
    """lepton_task_info.state (LEPTON_TASK_*)."""

    QUEUED = 0
    RUNNING = 1
    DONE = 2
    FAILED = 3
    CANCELED = 4

    def __str__(self) -> str:
        return self.name.lower()


def _enum(cls: Any, v: int) -> Any:
    try:
        return cls(v)
    except ValueError:
        return v


@dataclass(frozen=True)
class Offer:
    """One node's GPUs that could serve a request (lepton_offer)."""

    node: str
    gpu_model: str
    gpu_memory: int
    gpus_free: int
    price_per_gpu_hour: float


@dataclass(frozen=True)
class LeaseInfo:
    """A snapshot of a lease (lepton_lease_info)."""

    id: str
    node: str
    gpu_model: str
    gpu_count: int
    gpu_memory: int
    price_per_gpu_hour: float
    cost: float
    started_at: int
    expires_at: int
    state: LeaseState


@dataclass(frozen=True)
class TaskInfo:
    """A snapshot of a task (lepton_task_info); timestamps are the node's monotonic clock."""

    state: TaskState
    status: int
    queued_ns: int
    started_ns: int
    ended_ns: int
    error: str


def _s(raw: bytes) -> str:
    return raw.decode("utf-8", "replace")


def _enc(s: Optional[str], what: str) -> Optional[bytes]:
    if s is None:
        return None
    if not isinstance(s, str):
        raise InvalidArgument(f"{what} must be a str or None, not {type(s).__name__}")
    return s.encode()


def _uint(v: Any, what: str, bits: int = 32) -> int:
    if isinstance(v, bool) or not isinstance(v, int):
        raise InvalidArgument(f"{what} must be an int, not {type(v).__name__}")
    if not 0 <= v < (1 << bits):
        raise InvalidArgument(f"{what} = {v} is out of range [0, {(1 << bits) - 1}]")
    return v


def _seconds_to_ms(seconds: Any, ms: Any, name: str, ms_name: str, none_ok: bool = False) -> Any:
    """The milliseconds of a duration given in seconds (`name`, the unit of Python and the command
    line) or, as before, in milliseconds (`ms_name`); both at once is an error."""
    if seconds is None:
        return ms
    if ms is not None and ms != 0:
        raise InvalidArgument(f"give {name} (seconds) or {ms_name} (milliseconds), not both")
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not 0 <= seconds < 2**31 / 1000:
        raise InvalidArgument(f"{name} must be a number of seconds in [0, {2**31 // 1000}), not {seconds!r}")
    return int(round(seconds * 1000))


def _gpus(v: Any) -> int:
    """A GPU count: at least 1, as `lepton --gpus` wants it (the C API reads 0 as 1; here 0 is a
    mistake to say, not to guess)."""
    n = _uint(v, "gpus")
    if n == 0:
        raise InvalidArgument("gpus = 0: a lease has at least 1 GPU (gpus=1 is the default)")
    return n


def _number(v: Any, what: str) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or v < 0:
        raise InvalidArgument(f"{what} must be a non-negative number, not {v!r}")
    return float(v)


# ---------------------------------------------------------------------------------------------
# Typed kernel values
# ---------------------------------------------------------------------------------------------


class Value:
    """A kernel argument with an explicit type: its exact bytes. Needed for modules without PTX
    text (cubin, fatbin); accepted everywhere (its size must match the parameter's)."""

    __slots__ = ("data", "ptype")

    def __init__(self, data: bytes, ptype: str):
        self.data = bytes(data)
        self.ptype = ptype

    def __repr__(self) -> str:
        return f"lepton.Value({self.ptype}, {self.data!r})"


def _typed(fmt: str, ptype: str) -> Callable[[Union[int, float]], Value]:
    def make(v: Union[int, float]) -> Value:
        try:
            return Value(struct.pack("<" + fmt, v), ptype)
        except struct.error as e:
            raise InvalidArgument(f"lepton.{ptype}({v!r}): {e}") from None
    make.__name__ = ptype
    make.__doc__ = f"A .{ptype} kernel argument."
    return make


i8, u8 = _typed("b", "i8"), _typed("B", "u8")
i16, u16 = _typed("h", "i16"), _typed("H", "u16")
i32, u32 = _typed("i", "i32"), _typed("I", "u32")
i64, u64 = _typed("q", "i64"), _typed("Q", "u64")
f16, f32, f64 = _typed("e", "f16"), _typed("f", "f32"), _typed("d", "f64")


def raw(data: bytes) -> Value:
    """A kernel argument given as raw bytes (e.g. a struct passed by value)."""
    return Value(bytes(data), f"b8[{len(data)}]")


# ---------------------------------------------------------------------------------------------
# Job steps
# ---------------------------------------------------------------------------------------------


class Write:
    """A job step: copy host `data` (any buffer-protocol object, not copied) into `buffer`."""

    def __init__(self, buffer: "Buffer", data: Any, offset: int = 0):
        self.buffer, self.data, self.offset = buffer, data, offset


class Read:
    """A job step: copy `buffer` into the writable host buffer `out` (filled when the task is
    done); `size` defaults to the size of `out`."""

    def __init__(self, buffer: "Buffer", out: Any, offset: int = 0, size: Optional[int] = None):
        self.buffer, self.out, self.offset, self.size = buffer, out, offset, size


class Launch:
    """A job step: a kernel launch (see :meth:`Lease.launch` for the arguments)."""

    def __init__(self, module: "Module", name: str, grid: Sequence[int] = (1,), block: Sequence[int] = (1,),
                 args: Sequence[Any] = (), shared: int = 0):
        self.module, self.name, self.grid, self.block = module, name, grid, block
        self.args, self.shared = list(args), shared


Step = Union[Write, Read, Launch]

# Host views of tasks freed before they finished: the node may still fill them.
_ORPHANED: List[HostView] = []

# ---------------------------------------------------------------------------------------------
# Client
# ---------------------------------------------------------------------------------------------


class Client:
    """A connection to a Lepton broker (lepton_client). A context manager; closing it closes
    (and bills) every lease still open through it.

    Args:
        endpoint: broker URL; None → $LEPTON_ENDPOINT → http://127.0.0.1:7700.
        token: bearer token; None → $LEPTON_TOKEN → none.
        ca_file: CA bundle (PEM) for https; None: $LEPTON_CA_FILE, else the system's CAs.
        timeout: deadline of each request in seconds (e.g. 2.5); None = 30.
        timeout_ms: the same in milliseconds, as before; 0 = 30000. Give one of the two.
        log: callable(level: int, message: str) for the library's log lines; None = silent.
    """

    def __init__(self, endpoint: Optional[str] = None, token: Optional[str] = None,
                 ca_file: Optional[str] = None, timeout_ms: int = 0,
                 log: Optional[Callable[[int, str], None]] = None, timeout: Optional[float] = None):
        lib = _ffi.lib()
        timeout_ms = _seconds_to_ms(timeout, timeout_ms, "timeout", "timeout_ms")
        if timeout is not None and timeout_ms == 0:
            raise InvalidArgument("timeout = 0: a request needs some time (None = the default, 30 s)")
        if isinstance(timeout_ms, bool) or not isinstance(timeout_ms, int) or not 0 <= timeout_ms < 2**31:
            raise InvalidArgument(f"timeout_ms must be an int in [0, 2^31), not {timeout_ms!r}")
        self._leases: "weakref.WeakSet[Lease]" = weakref.WeakSet()
        self._lock = threading.Lock()
        self._log_cb = None
        if log is not None:
            def trampoline(level: int, msg: Optional[bytes], _user: Any) -> None:
                try:
                    log(level, _s(msg or b""))
                except Exception:  # an exception must not cross into C
                    pass
            self._log_cb = _ffi.LOG_FN(trampoline)
        opts = _ffi.lepton_client_options(
            _ffi.LEPTON_CLIENT_OPTIONS_VERSION, _enc(endpoint, "endpoint"), _enc(token, "token"),
            _enc(ca_file, "ca_file"), timeout_ms, self._log_cb or _ffi.LOG_FN(), None)
        handle = _ffi.client_p()
        lib.lepton_client_open(byref(handle), byref(opts))
        self._handle: Optional[Any] = handle

    def _h(self) -> Any:
        if self._handle is None:
            raise InvalidArgument("the client is closed")
        return self._handle

    @staticmethod
    def _request(gpus: int, gpu_model: Optional[str], min_gpu_memory: int, max_price: float,
                 max_cost: float, ttl: int, wait_ms: int, labels: Any,
                 keepalive: int = 0) -> "_ffi.lepton_lease_request":
        if isinstance(labels, dict):
            labels = ",".join(f"{k}={v}" for k, v in labels.items())
        if isinstance(wait_ms, bool) or not isinstance(wait_ms, int) or not 0 <= wait_ms < 2**31:
            raise InvalidArgument(f"wait_ms must be an int in [0, 2^31), not {wait_ms!r}")
        keepalive = _uint(keepalive, "keepalive")
        ttl = _uint(ttl, "ttl")
        # version 1 without keepalive, so that a 1.0 liblepton still takes the request
        return _ffi.lepton_lease_request(
            _ffi.LEPTON_LEASE_REQUEST_VERSION if keepalive else 1, _gpus(gpus),
            _enc(gpu_model, "gpu_model"), _uint(min_gpu_memory, "min_gpu_memory", 64),
            _number(max_price, "max_price"), _number(max_cost, "max_cost"), ttl, wait_ms,
            _enc(labels, "labels"), keepalive)

    def quote(self, gpus: int = 1, gpu_model: Optional[str] = None, min_gpu_memory: int = 0,
              max_price: float = 0) -> List[Offer]:
        """The offers a lease with these terms would get now, cheapest first (reserves nothing).
        An empty list is an answer: nothing fits now."""
        req = self._request(gpus, gpu_model, min_gpu_memory, max_price, 0, 0, 0, None)
        offers = POINTER(_ffi.lepton_offer)()
        count = c_size_t(0)
        lib = _ffi.lib()
        lib.lepton_quote(self._h(), byref(req), byref(offers), byref(count))
        try:
            return [Offer(_s(o.node), _s(o.gpu_model), o.gpu_memory, o.gpus_free, o.price_per_gpu_hour)
                    for o in (offers[i] for i in range(count.value))]
        finally:
            lib.lepton_offers_free(offers)

    def lease(self, gpus: int = 1, gpu_model: Optional[str] = None, min_gpu_memory: int = 0,
              max_price: float = 0, max_cost: float = 0, ttl: int = 3600, wait_ms: int = 0,
              labels: Union[None, str, Dict[str, str]] = None, keepalive: int = 0,
              wait: Optional[float] = None) -> "Lease":
        """Acquires a lease on `gpus` GPUs of one node (lepton_lease_open); active and billed when
        this returns. Use it as a context manager to close it.

        Args:
            gpus: number of GPUs (all on one node).
            gpu_model: a substring of the model name ("H100"); None = any.
            min_gpu_memory: bytes per GPU; 0 = any.
            max_price: USD per GPU-hour; 0 = no limit (above it: OverBudget).
            max_cost: USD cap for the whole lease; 0 = none.
            ttl: seconds after which the lease ends by itself.
            wait: how long to wait for capacity, in seconds (as `lepton lease open --wait`);
                None or 0 = answer now (NoCapacity).
            wait_ms: the same in milliseconds, as before. Give one of the two.
            labels: "key=value,..." or a dict, kept with the lease.
            keepalive: seconds (0 = none). While the lease is open, liblepton renews it from a
                background thread every keepalive/3 s; if this process dies, the broker ends the lease
                (expired, billed to the last renewal) after `keepalive` seconds instead of at its TTL.
        """
        wait_ms = _seconds_to_ms(wait, wait_ms, "wait", "wait_ms")
        if _uint(ttl, "ttl") == 0:
            raise InvalidArgument("ttl = 0: a lease lives at least 1 second (ttl=3600 is the default), as "
                                  "`lepton lease open --ttl` says")
        req = self._request(gpus, gpu_model, min_gpu_memory, max_price, max_cost, ttl, wait_ms, labels,
                            keepalive)
        handle = _ffi.lease_p()
        _ffi.lib().lepton_lease_open(self._h(), byref(req), byref(handle))
        lease = Lease(self, handle)
        self._leases.add(lease)
        return lease

    def attach(self, lease_id: str) -> "Lease":
        """A handle on an active lease of this client's tenant opened elsewhere (another process,
        `lepton lease open`, another client): lepton_lease_attach. Its context manager's exit
        *detaches* (the lease keeps running); :meth:`Lease.close` ends the lease; closing the client
        detaches it. While attached it renews the lease's keepalive, if the lease has one.

        Each handle's jobs run in its own order (a job session per handle): several handles, in this
        process or others, may run jobs on one GPU of a lease at once.

        Raises NotFound (no such lease, or another tenant's), Expired (it has ended), AuthError,
        InvalidArgument (not a lease id), LibraryError (liblepton older than 1.1).
        """
        if not isinstance(lease_id, str):
            raise InvalidArgument(f"lease_id must be a str, not {type(lease_id).__name__}")
        attach = _ffi.require("lepton_lease_attach")
        handle = _ffi.lease_p()
        attach(self._h(), _enc(lease_id, "lease_id"), byref(handle))
        lease = Lease(self, handle, attached=True)
        self._leases.add(lease)
        return lease

    def leases(self, state: Optional[LeaseState] = None) -> List[LeaseInfo]:
        """The leases of this client's tenant, newest first (all of them, or those in `state`):
        lepton_lease_list, page by page. Find a lease again with it, then :meth:`attach` it.

        Raises InvalidArgument (state is not a LeaseState), AuthError, NetworkError, LibraryError
        (liblepton older than 1.1).
        """
        if state is not None and not isinstance(state, LeaseState):
            raise InvalidArgument(f"state must be a LeaseState or None, not {type(state).__name__}")
        fn = _ffi.require("lepton_lease_list")
        page = 100
        out = (_ffi.lepton_lease_info * page)()
        result: List[LeaseInfo] = []
        after: Optional[bytes] = None
        while True:
            out[0].version = _ffi.LEPTON_LEASE_INFO_VERSION
            n = c_size_t(0)
            fn(self._h(), -1 if state is None else int(state), after, out, page, byref(n))
            for i in range(n.value):
                e = out[i]
                result.append(LeaseInfo(_s(e.id), _s(e.node), _s(e.gpu_model), e.gpu_count, e.gpu_memory,
                                        e.price_per_gpu_hour, e.cost, e.started_at, e.expires_at,
                                        _enum(LeaseState, e.state)))
            if n.value < page:
                return result
            after = out[n.value - 1].id

    def close(self) -> None:
        """Closes every lease still open through this client (detaches those it attached), then the
        client. Idempotent."""
        with self._lock:
            handle, self._handle = self._handle, None
        if handle is None:
            return
        for lease in list(self._leases):
            lease._forget()
        _ffi.lib().lepton_client_close(handle)

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass


# ---------------------------------------------------------------------------------------------
# Lease
# ---------------------------------------------------------------------------------------------


class Lease:
    """GPUs held from a broker (lepton_lease). Created by :meth:`Client.lease` (a context manager
    that closes the lease on exit) or :meth:`Client.attach` (one that detaches on exit: the lease
    keeps running)."""

    def __init__(self, client: Client, handle: Any, attached: bool = False):
        self._client = client
        self._handle: Optional[Any] = handle
        self.attached = attached
        self._children: "weakref.WeakSet[Any]" = weakref.WeakSet()
        self._lock = threading.Lock()
        self.id = ""
        try:
            self.id = self.info().id
        except BaseException:
            self._close_quietly()
            raise

    def _close_quietly(self) -> None:
        """Ends the handle as its context manager would (detach when attached, else close),
        ignoring errors (the handle is ended either way)."""
        try:
            if self.attached:
                self.detach()
            else:
                self.close()
        except Error:
            pass

    def _h(self) -> Any:
        if self._handle is None:
            raise Expired(f"lease {self.id} is closed (its handle was ended)")
        return self._handle

    def _forget(self) -> None:
        """The C library ended the handle (lease or client closed): drop it and its children's."""
        with self._lock:
            self._handle = None
        for child in list(self._children):
            child._handle = None

    @property
    def closed(self) -> bool:
        """True once this object's handle was ended (close(), detach(), or the client's close())."""
        return self._handle is None

    def info(self) -> LeaseInfo:
        """Current state and cost of the lease, from the broker."""
        out = _ffi.lepton_lease_info()
        out.version = _ffi.LEPTON_LEASE_INFO_VERSION
        _ffi.lib().lepton_lease_get_info(self._h(), byref(out))
        return LeaseInfo(_s(out.id), _s(out.node), _s(out.gpu_model), out.gpu_count, out.gpu_memory,
                         out.price_per_gpu_hour, out.cost, out.started_at, out.expires_at,
                         _enum(LeaseState, out.state))

    def extend(self, seconds: int) -> None:
        """Adds `seconds` (1 … 2592000) to the expiry; Expired if the lease has ended."""
        _ffi.lib().lepton_lease_extend(self._h(), _uint(seconds, "seconds"))

    def close(self) -> None:
        """Ends the lease: releases the GPUs, stops billing, ends its modules and buffers.
        Idempotent. Raises Expired when it had already ended otherwise (TTL, cost cap, node loss)
        — the handle is ended anyway."""
        with self._lock:
            handle, self._handle = self._handle, None
        if handle is None:
            return
        for child in list(self._children):
            child._handle = None
        _ffi.lib().lepton_lease_close(handle)

    def detach(self) -> None:
        """Ends this handle and leaves the lease running (lepton_lease_detach): no request to the
        broker; its modules and buffers handles end (what they name stays with the lease). Works on
        any handle, attached or opened. Idempotent."""
        with self._lock:
            handle, self._handle = self._handle, None
        if handle is None:
            return
        for child in list(self._children):
            child._handle = None
        _ffi.require("lepton_lease_detach")(handle)

    def __enter__(self) -> "Lease":
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if self.attached:
            self.detach()  # never fails
            return
        try:
            self.close()
        except Expired:
            pass  # ended already: nothing left to release
        except Error:
            if exc_type is None:
                raise

    def __del__(self) -> None:
        try:
            if self._handle is not None and self._client._handle is not None:
                self._close_quietly()
        except Exception:
            pass

    def __repr__(self) -> str:
        state = " closed" if self.closed else " attached" if self.attached else ""
        return f"<lepton.Lease {self.id}{state}>"

    # -- modules and memory --------------------------------------------------------------------

    def load_module(self, image: Union[bytes, bytearray, memoryview, str]) -> "Module":
        """Loads a module (PTX text, cubin or fatbin) on every GPU of the lease. For PTX the
        kernels' parameter lists are read so plain numbers can be converted at launch."""
        if isinstance(image, str):
            image = image.encode()
        with HostView(image, False, "module image") as view:
            data = ctypes.string_at(view.address, view.nbytes) if view.nbytes < (1 << 20) else bytes(image)
            sigs = parse_signatures(data)
            handle = _ffi.module_p()
            _ffi.lib().lepton_module_load(self._h(), view.address, view.nbytes, byref(handle))
        mod = Module(self, handle, sigs)
        self._children.add(mod)
        return mod

    def alloc(self, size: int, gpu: int = 0) -> "Buffer":
        """Allocates `size` bytes of device memory on GPU `gpu` (index within the lease)."""
        handle = _ffi.buffer_p()
        _ffi.lib().lepton_buffer_alloc(self._h(), _uint(gpu, "gpu"), _uint(size, "size", 64), byref(handle))
        buf = Buffer(self, handle, size, gpu)
        self._children.add(buf)
        return buf

    # -- jobs ----------------------------------------------------------------------------------

    def launch(self, module: "Module", name: str, grid: Sequence[int] = (1,), block: Sequence[int] = (1,),
               args: Sequence[Any] = (), shared: int = 0, gpu: int = 0) -> "Task":
        """Queues one kernel launch and returns its Task (call .wait()).

        Args:
            module: from load_module.
            name: the kernel's (mangled) name.
            grid, block: up to 3 dimensions each.
            args: one per kernel parameter: a Buffer (or buffer.at(offset)) for a pointer,
                a plain int/float converted to the parameter's PTX type, or a typed value
                (lepton.f32(2.0), lepton.i32(n), lepton.raw(b"...")).
            shared: dynamic shared memory bytes per block.
            gpu: the GPU (index within the lease) to run on.
        """
        return self.submit(Launch(module, name, grid, block, args, shared), gpu=gpu)

    def submit(self, *steps: Step, gpu: int = 0) -> "Task":
        """Queues a job of Write, Read and Launch steps, run in order on GPU `gpu`, and returns
        its Task. Host memory of the steps is used in place (no copies) and held until the task
        ends; a Read's target is filled when wait() returns."""
        if not steps:
            raise InvalidArgument("submit needs at least one step")
        if len(steps) == 1 and isinstance(steps[0], (list, tuple)):
            steps = tuple(steps[0])
        keep: List[Any] = []
        views: List[HostView] = []
        arr = (_ffi.lepton_step * len(steps))()
        try:
            for i, st in enumerate(steps):
                c = arr[i]
                if isinstance(st, Write):
                    v = HostView(st.data, False, f"step {i} (Write) data")
                    views.append(v)
                    c.kind, c.buffer, c.offset = _ffi.LEPTON_STEP_WRITE, st.buffer._h(), _uint(st.offset, "offset", 64)
                    c.host, c.size = v.address, v.nbytes
                    keep.append(st.buffer)
                elif isinstance(st, Read):
                    v = HostView(st.out, True, f"step {i} (Read) out")
                    views.append(v)
                    size = v.nbytes if st.size is None else _uint(st.size, "size", 64)
                    if size > v.nbytes:
                        raise InvalidArgument(f"step {i} (Read): size {size} exceeds the {v.nbytes} bytes of out")
                    c.kind, c.buffer, c.offset = _ffi.LEPTON_STEP_READ, st.buffer._h(), _uint(st.offset, "offset", 64)
                    c.host, c.size = v.address, size
                    keep.append(st.buffer)
                elif isinstance(st, Launch):
                    launch = st.module._launch_struct(st, keep)
                    keep.append(launch)
                    c.kind, c.launch = _ffi.LEPTON_STEP_LAUNCH, ctypes.pointer(launch)
                else:
                    raise InvalidArgument(f"step {i}: expected lepton.Write, Read or Launch, not {type(st).__name__}")
            job = _ffi.lepton_job(_ffi.LEPTON_JOB_VERSION, _uint(gpu, "gpu"), arr, len(steps))
            handle = _ffi.task_p()
            _ffi.lib().lepton_submit(self._h(), byref(job), byref(handle))
        except BaseException:
            for v in views:
                v.release()
            raise
        keep.append(arr)
        return Task(handle, views, keep)


# ---------------------------------------------------------------------------------------------
# Module
# ---------------------------------------------------------------------------------------------


class Module:
    """A CUDA module loaded on a lease (lepton_module). A context manager that frees it."""

    def __init__(self, lease: Lease, handle: Any, signatures: Optional[Dict[str, List[Param]]]):
        self._lease = lease
        self._handle: Optional[Any] = handle
        self.signatures = signatures
        """Kernel name → declared parameters (from the PTX), or None for cubin/fatbin."""

    def _h(self) -> Any:
        if self._handle is None:
            raise InvalidArgument("the module was freed (or its lease closed)")
        return self._handle

    def kernels(self) -> List[str]:
        """Names of the kernels declared in the PTX (empty when not PTX)."""
        return sorted(self.signatures or {})

    def _convert_args(self, name: str, args: Sequence[Any], keep: List[Any]) -> Any:
        params = None
        if self.signatures is not None:
            params = self.signatures.get(name)
            if params is None:
                raise NotFound(f"kernel {name!r} is not declared in the module's PTX; it has: "
                               + (", ".join(self.kernels()) or "no .entry"))
            if len(args) != len(params):
                raise InvalidArgument(
                    f"kernel {name!r} takes {len(params)} arguments ("
                    + ", ".join(p.describe() for p in params) + f"), {len(args)} given")
        arr = (_ffi.lepton_arg * max(len(args), 1))()
        for i, a in enumerate(args):
            p = params[i] if params is not None else None
            c = arr[i]
            buf, off = (a, 0) if isinstance(a, Buffer) else (a.buffer, a.offset) if isinstance(a, BufferAt) else (None, 0)
            if buf is not None:
                if p is not None and p.size != 8:
                    raise InvalidArgument(f"kernel {name!r} argument {i}, {p.describe()}: a Buffer is a 64-bit "
                                          f"device pointer and does not fit this {p.size}-byte parameter")
                c.kind, c.buffer, c.offset = _ffi.LEPTON_ARG_BUFFER, buf._h(), off
                continue
            if isinstance(a, Value):
                data = a.data
                if p is not None and len(data) != p.size:
                    raise InvalidArgument(f"kernel {name!r} argument {i}, {p.describe()}: a {a.ptype} value has "
                                          f"{len(data)} bytes, the parameter {p.size}")
            elif p is None:
                raise InvalidArgument(
                    f"kernel {name!r} argument {i}: the module has no PTX text (cubin/fatbin), so plain "
                    f"{type(a).__name__} values cannot be typed; pass lepton.i32(...), lepton.f32(...), "
                    f"lepton.u64(...) or a Buffer")
            else:
                data = convert(a, p, i, name)
            cbuf = ctypes.create_string_buffer(data, len(data))
            keep.append(cbuf)
            c.kind, c.value, c.size = _ffi.LEPTON_ARG_VALUE, ctypes.addressof(cbuf), len(data)
        keep.append(arr)
        return arr

    def _launch_struct(self, st: Launch, keep: List[Any]) -> "_ffi.lepton_launch":
        def dims(d: Any, what: str) -> Any:
            if isinstance(d, int):
                d = (d,)
            d = tuple(d)
            if not 1 <= len(d) <= 3:
                raise InvalidArgument(f"{what} must have 1 to 3 dimensions, not {len(d)}")
            return (ctypes.c_uint32 * 3)(*[_uint(x, what) for x in d], *([1] * (3 - len(d))))
        if not isinstance(st.name, str):
            raise InvalidArgument(f"kernel name must be a str, not {type(st.name).__name__}")
        args = self._convert_args(st.name, st.args, keep)
        fname = st.name.encode()
        keep.append(fname)
        return _ffi.lepton_launch(self._h(), fname, dims(st.grid, "grid"), dims(st.block, "block"),
                                  _uint(st.shared, "shared"), args, len(st.args))

    def free(self) -> None:
        """Unloads the module; tasks already submitted still complete. Idempotent."""
        h, self._handle = self._handle, None
        if h is not None:
            _ffi.lib().lepton_module_free(h)

    def __enter__(self) -> "Module":
        return self

    def __exit__(self, *exc: object) -> None:
        self.free()


# ---------------------------------------------------------------------------------------------
# Buffer
# ---------------------------------------------------------------------------------------------


class BufferAt:
    """A kernel argument: a buffer's device address plus a byte offset (``buffer.at(offset)``)."""

    __slots__ = ("buffer", "offset")

    def __init__(self, buffer: "Buffer", offset: int):
        self.buffer, self.offset = buffer, _uint(offset, "offset", 64)


class Buffer:
    """Device memory on one GPU of a lease (lepton_buffer). A context manager that frees it."""

    def __init__(self, lease: Lease, handle: Any, size: int, gpu: int):
        self._lease = lease
        self._handle: Optional[Any] = handle
        self.size = size
        """Bytes allocated."""
        self.gpu = gpu
        """The GPU index within the lease."""

    def _h(self) -> Any:
        if self._handle is None:
            raise InvalidArgument("the buffer was freed (or its lease closed)")
        return self._handle

    def __len__(self) -> int:
        return self.size

    def at(self, offset: int) -> BufferAt:
        """This buffer's device address plus `offset` bytes, as a kernel argument."""
        return BufferAt(self, offset)

    def write(self, data: Any, offset: int = 0) -> None:
        """Copies `data` (bytes, bytearray, memoryview, array.array, numpy array — anything
        contiguous with the buffer protocol; used in place) into the buffer at `offset`.
        Blocks until done."""
        with HostView(data, False, "data") as v:
            _ffi.lib().lepton_buffer_write(self._h(), _uint(offset, "offset", 64), v.address, v.nbytes)

    def read(self, out: Any = None, offset: int = 0, size: Optional[int] = None) -> Any:
        """Copies device memory to the host. Blocks until done.

        With `out` (a writable buffer: bytearray, memoryview, array.array, numpy array), fills it
        in place — `size` bytes, default all of `out` — and returns `out` itself. Without it,
        returns a new bytes object of `size` bytes (default: the rest of the buffer from
        `offset`)."""
        offset = _uint(offset, "offset", 64)
        if out is None:
            n = self.size - offset if size is None else _uint(size, "size", 64)
            if n <= 0:
                return b""
            result, addr = new_bytes(n)
            _ffi.lib().lepton_buffer_read(self._h(), offset, addr, n)
            return result
        with HostView(out, True, "out") as v:
            n = v.nbytes if size is None else _uint(size, "size", 64)
            if n > v.nbytes:
                raise InvalidArgument(f"size {n} exceeds the {v.nbytes} bytes of out")
            _ffi.lib().lepton_buffer_read(self._h(), offset, v.address, n)
        return out

    def free(self) -> None:
        """Frees the device memory (after the tasks using it have finished). Idempotent."""
        h, self._handle = self._handle, None
        if h is not None:
            _ffi.lib().lepton_buffer_free(h)

    def __enter__(self) -> "Buffer":
        return self

    def __exit__(self, *exc: object) -> None:
        self.free()

    def __repr__(self) -> str:
        return f"<lepton.Buffer {self.size} bytes on gpu {self.gpu}{' freed' if self._handle is None else ''}>"


# ---------------------------------------------------------------------------------------------
# Task
# ---------------------------------------------------------------------------------------------


class Task:
    """A submitted job (lepton_task). A context manager that frees the handle."""

    def __init__(self, handle: Any, views: List[HostView], keep: List[Any]):
        self._handle: Optional[Any] = handle
        self._views = views
        self._keep = keep
        self._done = False

    def _h(self) -> Any:
        if self._handle is None:
            raise InvalidArgument("the task handle was freed")
        return self._handle

    def _finish(self) -> None:
        self._done = True
        for v in self._views:
            v.release()
        self._views = []
        self._keep = []

    def wait(self, timeout_ms: Optional[int] = None, *, timeout: Optional[float] = None) -> "Task":
        """Waits for the task and returns it; raises the error it failed with (CudaError,
        NodeLost, Expired, ...). `timeout` in seconds (or `timeout_ms`, as before): None = the
        client's request timeout, 0 = poll.
        Raises TimedOut when the task is still running then (it keeps running; wait again)."""
        timeout_ms = _seconds_to_ms(timeout, timeout_ms, "timeout", "timeout_ms")
        t = -1 if timeout_ms is None else timeout_ms
        if isinstance(t, bool) or not isinstance(t, int) or not -1 <= t < 2**31:
            raise InvalidArgument(f"timeout_ms must be None or an int in [0, 2^31), not {timeout_ms!r}")
        from ._errors import TimedOut
        try:
            _ffi.lib().lepton_wait(self._h(), t)
        except TimedOut:
            raise
        except Error:
            self._finish()
            raise
        self._finish()
        return self

    def info(self) -> TaskInfo:
        """A snapshot of the task's state, timings and error."""
        out = _ffi.lepton_task_info()
        out.version = _ffi.LEPTON_TASK_INFO_VERSION
        _ffi.lib().lepton_task_get_info(self._h(), byref(out))
        return TaskInfo(_enum(TaskState, out.state), out.status, out.queued_ns, out.started_ns,
                        out.ended_ns, _s(out.error))

    def free(self) -> None:
        """Frees the handle; a task still running keeps running (its host memory stays held)."""
        h, self._handle = self._handle, None
        if h is None:
            return
        if not self._done and self._views:
            _ORPHANED.extend(self._views)  # the node may still fill Read targets
            self._views = []
        _ffi.lib().lepton_task_free(h)

    def __enter__(self) -> "Task":
        return self

    def __exit__(self, *exc: object) -> None:
        self.free()

    def __del__(self) -> None:
        try:
            self.free()
        except Exception:
            pass
