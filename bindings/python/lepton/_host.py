# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The Lepton Authors.
"""Host memory from any object with the buffer protocol, without copying.

The address is taken with PyObject_GetBuffer, which works for read-only exporters too (bytes,
read-only memoryviews, read-only numpy arrays), and the buffer stays exported — the object can
neither be resized nor freed — until :meth:`HostView.release`.
"""
from __future__ import annotations

import ctypes
from ctypes import POINTER, Structure, c_char_p, c_int, c_ssize_t, c_void_p, py_object

from ._errors import InvalidArgument


class _Py_buffer(Structure):
    _fields_ = [
        ("buf", c_void_p),
        ("obj", c_void_p),
        ("len", c_ssize_t),
        ("itemsize", c_ssize_t),
        ("readonly", c_int),
        ("ndim", c_int),
        ("format", c_char_p),
        ("shape", POINTER(c_ssize_t)),
        ("strides", POINTER(c_ssize_t)),
        ("suboffsets", POINTER(c_ssize_t)),
        ("internal", c_void_p),
    ]


_PyBUF_SIMPLE = 0       # contiguous bytes; an exporter that cannot give them raises BufferError
_PyBUF_WRITABLE = 0x0001

_get_buffer = ctypes.pythonapi.PyObject_GetBuffer
_get_buffer.argtypes = [py_object, POINTER(_Py_buffer), c_int]
_get_buffer.restype = c_int
_release_buffer = ctypes.pythonapi.PyBuffer_Release
_release_buffer.argtypes = [POINTER(_Py_buffer)]
_release_buffer.restype = None
_bytes_new = ctypes.pythonapi.PyBytes_FromStringAndSize
_bytes_new.argtypes = [c_void_p, c_ssize_t]
_bytes_new.restype = py_object
_bytes_data = ctypes.pythonapi.PyBytes_AsString
_bytes_data.argtypes = [py_object]
_bytes_data.restype = c_void_p


class HostView:
    """A held export of a Python object's memory: `.address` and `.nbytes` stay valid until
    :meth:`release`."""

    __slots__ = ("_view", "_held", "obj", "address", "nbytes")

    def __init__(self, obj: object, writable: bool, what: str = "data"):
        self._view = _Py_buffer()
        self._held = False
        try:
            _get_buffer(obj, ctypes.byref(self._view), _PyBUF_WRITABLE if writable else _PyBUF_SIMPLE)
        except (BufferError, TypeError, ValueError) as e:
            need = "a writable, contiguous buffer (bytearray, memoryview, array.array, numpy array)" \
                if writable else "an object with the buffer protocol (bytes, bytearray, memoryview, " \
                                 "array.array, numpy array), C-contiguous"
            raise InvalidArgument(f"{what}: {type(obj).__name__} is not {need} ({e})") from None
        self._held = True
        self.obj = obj
        self.address = self._view.buf or 0
        self.nbytes = int(self._view.len)

    def release(self) -> None:
        """Ends the export; the address must not be used afterwards."""
        if self._held:
            self._held = False
            _release_buffer(ctypes.byref(self._view))
            self.obj = None

    def __enter__(self) -> "HostView":
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    def __del__(self) -> None:
        self.release()


def new_bytes(size: int) -> "tuple[bytes, int]":
    """A fresh bytes object of `size` bytes and the address of its (not yet filled) contents:
    filled in place before anyone else sees it, so reading needs no second copy."""
    b = _bytes_new(None, size)
    return b, _bytes_data(b)
