# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The Lepton Authors.
"""Exceptions: one class per lepton_status code, all derived from :class:`Error`."""
from __future__ import annotations

from typing import Dict, Optional, Type


class Error(Exception):
    """A liblepton failure.

    Attributes:
        code: the negative ``lepton_status`` value (e.g. -5).
        name: its name, e.g. ``"LEPTON_ENOCAPACITY"``.
        message: the human-readable reason (``lepton_last_error()`` for library failures).
    """

    code: int = 0
    name: str = "LEPTON_UNKNOWN"

    def __init__(self, message: str = "", code: Optional[int] = None, name: Optional[str] = None):
        if code is not None:
            self.code = code
        if name is not None:
            self.name = name
        self.message = message
        super().__init__(f"{self.name}: {message}" if message else self.name)


class InvalidArgument(Error, ValueError):
    """LEPTON_EINVAL: a bad argument or request; the message says which."""
    code, name = -1, "LEPTON_EINVAL"


class OutOfMemory(Error, MemoryError):
    """LEPTON_ENOMEM: out of host memory, or of device memory on the node."""
    code, name = -2, "LEPTON_ENOMEM"


class NetworkError(Error, ConnectionError):
    """LEPTON_ENET: the broker or node is unreachable or the connection broke."""
    code, name = -3, "LEPTON_ENET"


class AuthError(Error, PermissionError):
    """LEPTON_EAUTH: missing or invalid token, or the resource is another tenant's."""
    code, name = -4, "LEPTON_EAUTH"


class NoCapacity(Error):
    """LEPTON_ENOCAPACITY: no GPUs satisfy the request now; the message says what is closest."""
    code, name = -5, "LEPTON_ENOCAPACITY"


class OverBudget(Error):
    """LEPTON_EBUDGET: the price is above max_price, or the lease's max_cost is reached."""
    code, name = -6, "LEPTON_EBUDGET"


class Expired(Error):
    """LEPTON_EEXPIRED: the lease has ended (closed, TTL, cost cap)."""
    code, name = -7, "LEPTON_EEXPIRED"


class NodeLost(Error):
    """LEPTON_ENODELOST: the node or the lease's worker failed."""
    code, name = -8, "LEPTON_ENODELOST"


class CudaError(Error):
    """LEPTON_ECUDA: a CUDA error on the node; the message carries the driver's error name."""
    code, name = -9, "LEPTON_ECUDA"


class TimedOut(Error, TimeoutError):
    """LEPTON_ETIMEDOUT: a wait ran out; the task is still running (wait again)."""
    code, name = -10, "LEPTON_ETIMEDOUT"


class Canceled(Error):
    """LEPTON_ECANCELED: the operation or task was canceled."""
    code, name = -11, "LEPTON_ECANCELED"


class ProtocolError(Error):
    """LEPTON_EPROTO: an unexpected response, or a protocol version mismatch."""
    code, name = -12, "LEPTON_EPROTO"


class NotFound(Error, LookupError):
    """LEPTON_ENOTFOUND: the named lease, module, buffer or function does not exist."""
    code, name = -13, "LEPTON_ENOTFOUND"


class TooLarge(Error):
    """LEPTON_ETOOLARGE: a size limit was exceeded."""
    code, name = -14, "LEPTON_ETOOLARGE"


class LibraryError(Error, OSError):
    """liblepton could not be loaded or lacks a symbol (not a lepton_status code)."""
    code, name = 0, "LEPTON_LIBRARY"


BY_CODE: Dict[int, Type[Error]] = {
    cls.code: cls
    for cls in (InvalidArgument, OutOfMemory, NetworkError, AuthError, NoCapacity, OverBudget,
                Expired, NodeLost, CudaError, TimedOut, Canceled, ProtocolError, NotFound, TooLarge)
}


def from_status(code: int, message: str, where: str = "") -> Error:
    """The exception for a status code returned by a liblepton function."""
    cls = BY_CODE.get(code)
    if cls is None:
        return Error(message or f"{where} failed", code=code, name="LEPTON_UNKNOWN")
    return cls(message or f"{where} failed")
