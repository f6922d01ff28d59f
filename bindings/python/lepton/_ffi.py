# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The Lepton Authors.
"""The ctypes layer: finding liblepton, the struct layouts of lepton.h and the one table that
declares every C function's argtypes, restype and errcheck.

Nothing here is public API; use the classes exported by :mod:`lepton`.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import os
import threading
from ctypes import (
    POINTER,
    Structure,
    c_char,
    c_char_p,
    c_double,
    c_int,
    c_int32,
    c_int64,
    c_size_t,
    c_uint32,
    c_uint64,
    c_void_p,
)
from typing import Any, Callable, List, Optional, Tuple

from . import _errors

# ---------------------------------------------------------------------------------------------
# Constants of lepton.h
# ---------------------------------------------------------------------------------------------
LEPTON_CLIENT_OPTIONS_VERSION = 1
LEPTON_LEASE_REQUEST_VERSION = 2  # 2: keepalive_seconds (liblepton 1.1)
LEPTON_LEASE_INFO_VERSION = 1
LEPTON_JOB_VERSION = 1
LEPTON_TASK_INFO_VERSION = 1

LEPTON_ARG_BUFFER = 1
LEPTON_ARG_VALUE = 2

LEPTON_STEP_WRITE = 1
LEPTON_STEP_READ = 2
LEPTON_STEP_LAUNCH = 3

# ---------------------------------------------------------------------------------------------
# Opaque handles (pointers to incomplete structs)
# ---------------------------------------------------------------------------------------------


class _Opaque(Structure):
    """An incomplete C struct: only pointers to it are used."""


class lepton_client(_Opaque):
    pass


class lepton_lease(_Opaque):
    pass


class lepton_module(_Opaque):
    pass


class lepton_buffer(_Opaque):
    pass


class lepton_task(_Opaque):
    pass


client_p = POINTER(lepton_client)
lease_p = POINTER(lepton_lease)
module_p = POINTER(lepton_module)
buffer_p = POINTER(lepton_buffer)
task_p = POINTER(lepton_task)

# ---------------------------------------------------------------------------------------------
# Structs, mirroring include/lepton/lepton.h field by field
# ---------------------------------------------------------------------------------------------

LOG_FN = ctypes.CFUNCTYPE(None, c_int, c_char_p, c_void_p)


class lepton_client_options(Structure):
    _fields_ = [
        ("version", c_uint32),
        ("endpoint", c_char_p),
        ("token", c_char_p),
        ("ca_file", c_char_p),
        ("timeout_ms", c_int32),
        ("log", LOG_FN),
        ("log_user", c_void_p),
    ]


class lepton_lease_request(Structure):
    _fields_ = [
        ("version", c_uint32),
        ("gpu_count", c_uint32),
        ("gpu_model", c_char_p),
        ("min_gpu_memory", c_uint64),
        ("max_price_per_gpu_hour", c_double),
        ("max_cost", c_double),
        ("ttl_seconds", c_uint32),
        ("wait_ms", c_int32),
        ("labels", c_char_p),
        ("keepalive_seconds", c_uint32),  # version 2
    ]


class lepton_lease_info(Structure):
    _fields_ = [
        ("version", c_uint32),
        ("id", c_char * 64),
        ("node", c_char * 128),
        ("gpu_model", c_char * 64),
        ("gpu_count", c_uint32),
        ("gpu_memory", c_uint64),
        ("price_per_gpu_hour", c_double),
        ("cost", c_double),
        ("started_at", c_int64),
        ("expires_at", c_int64),
        ("state", c_int32),
    ]


class lepton_offer(Structure):
    _fields_ = [
        ("node", c_char * 128),
        ("gpu_model", c_char * 64),
        ("gpu_memory", c_uint64),
        ("gpus_free", c_uint32),
        ("price_per_gpu_hour", c_double),
    ]


class lepton_arg(Structure):
    _fields_ = [
        ("kind", c_uint32),
        ("buffer", buffer_p),
        ("offset", c_uint64),
        ("value", c_void_p),
        ("size", c_size_t),
    ]


class lepton_launch(Structure):
    _fields_ = [
        ("module", module_p),
        ("function", c_char_p),
        ("grid", c_uint32 * 3),
        ("block", c_uint32 * 3),
        ("shared_bytes", c_uint32),
        ("args", POINTER(lepton_arg)),
        ("arg_count", c_size_t),
    ]


class lepton_step(Structure):
    _fields_ = [
        ("kind", c_uint32),
        ("buffer", buffer_p),
        ("offset", c_uint64),
        ("host", c_void_p),
        ("size", c_size_t),
        ("launch", POINTER(lepton_launch)),
    ]


class lepton_job(Structure):
    _fields_ = [
        ("version", c_uint32),
        ("gpu", c_uint32),
        ("steps", POINTER(lepton_step)),
        ("step_count", c_size_t),
    ]


class lepton_task_info(Structure):
    _fields_ = [
        ("version", c_uint32),
        ("state", c_int32),
        ("status", c_int32),
        ("queued_ns", c_int64),
        ("started_ns", c_int64),
        ("ended_ns", c_int64),
        ("error", c_char * 256),
    ]


# Every struct of lepton.h, by its C name (the layout test compares these with the C compiler).
STRUCTS = {
    "lepton_client_options": lepton_client_options,
    "lepton_lease_request": lepton_lease_request,
    "lepton_lease_info": lepton_lease_info,
    "lepton_offer": lepton_offer,
    "lepton_arg": lepton_arg,
    "lepton_launch": lepton_launch,
    "lepton_step": lepton_step,
    "lepton_job": lepton_job,
    "lepton_task_info": lepton_task_info,
}

# Sizes on LP64 (x86-64, aarch64 Linux), derived from the C rules; the layout test also asks a C
# compiler when one is present.
if ctypes.sizeof(c_void_p) == 8:
    assert ctypes.sizeof(lepton_client_options) == 56
    assert ctypes.sizeof(lepton_lease_request) == 64  # 56 in version 1
    assert ctypes.sizeof(lepton_lease_info) == 312
    assert ctypes.sizeof(lepton_offer) == 216
    assert ctypes.sizeof(lepton_arg) == 40
    assert ctypes.sizeof(lepton_launch) == 64
    assert ctypes.sizeof(lepton_step) == 48
    assert ctypes.sizeof(lepton_job) == 24
    assert ctypes.sizeof(lepton_task_info) == 296

# ---------------------------------------------------------------------------------------------
# Status → exception
# ---------------------------------------------------------------------------------------------


def _check(result: int, func: Any, arguments: Tuple[Any, ...]) -> int:
    """errcheck of every int-returning function: a negative status becomes an exception."""
    if result < 0:
        raise _errors.from_status(result, _lib_last_error(), func.__name__)
    return result


def _lib_last_error() -> str:
    raw = _LIB.lepton_last_error() if _LIB is not None else None
    return raw.decode("utf-8", "replace") if raw else ""


# ---------------------------------------------------------------------------------------------
# The function table: (name, restype, argtypes, errcheck)
# ---------------------------------------------------------------------------------------------

FUNCTIONS: List[Tuple[str, Any, List[Any], Optional[Callable[..., Any]]]] = [
    ("lepton_last_error", c_char_p, [], None),
    ("lepton_status_name", c_char_p, [c_int], None),
    ("lepton_version", c_char_p, [], None),
    ("lepton_client_open", c_int, [POINTER(client_p), POINTER(lepton_client_options)], _check),
    ("lepton_client_close", None, [client_p], None),
    ("lepton_quote", c_int,
     [client_p, POINTER(lepton_lease_request), POINTER(POINTER(lepton_offer)), POINTER(c_size_t)], _check),
    ("lepton_offers_free", None, [POINTER(lepton_offer)], None),
    ("lepton_lease_open", c_int, [client_p, POINTER(lepton_lease_request), POINTER(lease_p)], _check),
    ("lepton_lease_get_info", c_int, [lease_p, POINTER(lepton_lease_info)], _check),
    ("lepton_lease_extend", c_int, [lease_p, c_uint32], _check),
    ("lepton_lease_close", c_int, [lease_p], _check),
    ("lepton_module_load", c_int, [lease_p, c_void_p, c_size_t, POINTER(module_p)], _check),
    ("lepton_module_free", None, [module_p], None),
    ("lepton_buffer_alloc", c_int, [lease_p, c_uint32, c_size_t, POINTER(buffer_p)], _check),
    ("lepton_buffer_write", c_int, [buffer_p, c_size_t, c_void_p, c_size_t], _check),
    ("lepton_buffer_read", c_int, [buffer_p, c_size_t, c_void_p, c_size_t], _check),
    ("lepton_buffer_free", None, [buffer_p], None),
    ("lepton_submit", c_int, [lease_p, POINTER(lepton_job), POINTER(task_p)], _check),
    ("lepton_wait", c_int, [task_p, c_int32], _check),
    ("lepton_task_get_info", c_int, [task_p, POINTER(lepton_task_info)], _check),
    ("lepton_task_free", None, [task_p], None),
]

# Added after 1.0 (version node LEPTON_1.1 of liblepton): declared when the loaded library has
# them, so the bindings still load with a 1.0 library; require() names what is missing at use.
FUNCTIONS_SINCE: List[Tuple[str, str, Any, List[Any], Optional[Callable[..., Any]]]] = [
    ("1.1", "lepton_lease_attach", c_int, [client_p, c_char_p, POINTER(lease_p)], _check),
    ("1.1", "lepton_lease_detach", c_int, [lease_p], _check),
    ("1.1", "lepton_lease_list", c_int,
     [client_p, c_int32, c_char_p, POINTER(lepton_lease_info), c_size_t, POINTER(c_size_t)], _check),
]

# ---------------------------------------------------------------------------------------------
# Loading
# ---------------------------------------------------------------------------------------------

_LIB: Optional[ctypes.CDLL] = None
_LOCK = threading.Lock()


def _candidates() -> List[Tuple[str, Optional[str]]]:
    """(where, path) pairs in lookup order; path None when that place gave nothing."""
    out: List[Tuple[str, Optional[str]]] = []
    env = os.environ.get("LEPTON_LIBRARY")
    out.append(("$LEPTON_LIBRARY", env or None))
    here = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_lib", "liblepton.so.1")
    out.append(("next to the package", here))
    out.append(('ctypes.util.find_library("lepton")', ctypes.util.find_library("lepton")))
    return out


def _declare(lib: ctypes.CDLL, where: str) -> None:
    for name, restype, argtypes, errcheck in FUNCTIONS:
        try:
            fn = getattr(lib, name)
        except AttributeError:
            raise _errors.LibraryError(
                f"liblepton at {where} lacks the symbol {name}; it is older than these bindings "
                f"(need liblepton 1.0 or later)") from None
        fn.restype = restype
        fn.argtypes = argtypes
        if errcheck is not None:
            fn.errcheck = errcheck
    for _since, name, restype, argtypes, errcheck in FUNCTIONS_SINCE:
        fn = getattr(lib, name, None)
        if fn is None:
            continue
        fn.restype = restype
        fn.argtypes = argtypes
        if errcheck is not None:
            fn.errcheck = errcheck


def lib() -> ctypes.CDLL:
    """The loaded, declared liblepton (loaded on first use)."""
    global _LIB
    if _LIB is not None:
        return _LIB
    with _LOCK:
        if _LIB is not None:
            return _LIB
        tried: List[str] = []
        for where, path in _candidates():
            if not path:
                tried.append(f"{where}: not set" if where.startswith("$") else f"{where}: nothing found")
                continue
            if os.sep in path and not os.path.exists(path):
                tried.append(f"{where}: {path} does not exist")
                if where.startswith("$"):
                    # An explicit choice that is wrong is an error, not a reason to look elsewhere.
                    break
                continue
            try:
                loaded = ctypes.CDLL(path)
            except OSError as e:
                tried.append(f"{where}: {path}: {e}")
                if where.startswith("$"):
                    break
                continue
            _declare(loaded, path)
            _LIB = loaded
            return _LIB
        raise _errors.LibraryError("cannot load liblepton.so.1; looked at: " + "; ".join(tried))


def require(name: str) -> Any:
    """The declared function `name` of the loaded liblepton; LibraryError when that library is older
    than the version that added it."""
    loaded = lib()
    fn = getattr(loaded, name, None)
    if fn is None:
        since = next((v for v, n, *_ in FUNCTIONS_SINCE if n == name), "?")
        raise _errors.LibraryError(
            f"liblepton {library_version()} lacks {name} (added in liblepton {since}); "
            f"use liblepton {since} or later")
    return fn


def status_name(code: int) -> str:
    """lepton_status_name(code), e.g. "LEPTON_ENOCAPACITY"."""
    raw = lib().lepton_status_name(code)
    return raw.decode() if raw else "LEPTON_UNKNOWN"


def library_version() -> str:
    """lepton_version() of the loaded library, e.g. "1.0.0"."""
    return lib().lepton_version().decode()
