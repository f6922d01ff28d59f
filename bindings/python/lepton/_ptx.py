# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The Lepton Authors.
"""Kernel parameter lists read from PTX text, and the conversion of Python values to the bytes
of those parameters.

A PTX ``.entry`` declares each parameter's type (``.param .u32 saxpy_param_0``). Pointers are
plain ``.u64`` parameters in PTX; a parameter is taken to be a device pointer when it carries
``.ptr`` or when the kernel body turns its value into an address (``cvta.to.global`` of the
register it was loaded into, or ``[%rdN]`` addressing with that register).
"""
from __future__ import annotations

import re
import struct
from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple

# PTX scalar type → (struct format, size, kind) where kind is "int", "uint", "float" or "bits".
_SCALARS = {
    "u8": ("B", 1, "uint"), "u16": ("H", 2, "uint"), "u32": ("I", 4, "uint"), "u64": ("Q", 8, "uint"),
    "s8": ("b", 1, "int"), "s16": ("h", 2, "int"), "s32": ("i", 4, "int"), "s64": ("q", 8, "int"),
    "b8": ("B", 1, "bits"), "b16": ("H", 2, "bits"), "b32": ("I", 4, "bits"), "b64": ("Q", 8, "bits"),
    "f16": ("e", 2, "float"), "f32": ("f", 4, "float"), "f64": ("d", 8, "float"),
    "pred": ("B", 1, "uint"),
}


@dataclass(frozen=True)
class Param:
    """One declared kernel parameter."""

    name: str
    ptype: str          # the PTX type without the dot ("u32", "f32", "b8")
    size: int           # bytes of the whole parameter
    count: int          # array length (1 for scalars)
    pointer: bool       # used as a device address in the kernel

    def describe(self) -> str:
        t = f".{self.ptype}" + (f"[{self.count}]" if self.count != 1 else "")
        return f"{self.name} ({t}{', device pointer' if self.pointer else ''})"


_ENTRY = re.compile(r"\.entry\s+([A-Za-z_$%][\w$%]*)\s*\(([^)]*)\)", re.S)
# the declared name, last in the declaration, with an optional array length: "k_param_1[16]"
_NAME = re.compile(r"([A-Za-z_$%][\w$%]*)\s*(?:\[\s*(\d+)\s*\])?\s*$")


def _parse_param(decl: str) -> Optional[Tuple[str, str, int, int, bool]]:
    """(name, type, size, count, explicit pointer) of one ``.param ...`` declaration."""
    tokens = decl.split()
    if not tokens or tokens[0] != ".param":
        return None
    mm = _NAME.search(decl.strip())
    if mm is None:
        return None
    name, count = mm.group(1), int(mm.group(2)) if mm.group(2) else 1
    quals = [t for t in tokens[1:] if t.startswith(".")]
    ptype = next((q[1:] for q in quals if q[1:] in _SCALARS), "")
    size = _SCALARS[ptype][1] * count if ptype else 0
    return (name, ptype, size, count, ".ptr" in quals)


def _strip_comments(text: str) -> str:
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    return re.sub(r"//[^\n]*", " ", text)


def _body_after(text: str, start: int) -> str:
    """The kernel body (between the braces) following position `start`."""
    i = text.find("{", start)
    if i < 0:
        return ""
    depth = 0
    for j in range(i, len(text)):
        c = text[j]
        if c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
            if depth == 0:
                return text[i:j + 1]
    return text[i:]


def _pointer_params(body: str, names: List[str]) -> set:
    ptrs = set()
    for name in names:
        regs = re.findall(r"ld\.param\.(?:u64|b64|s64)\s+(%\w+)\s*,\s*\[\s*" + re.escape(name) + r"\s*\]", body)
        for reg in regs:
            r = re.escape(reg)
            if re.search(r"cvta(?:\.to)?\.\w+\.u64\s+%\w+\s*,\s*" + r + r"\s*;", body) or \
               re.search(r"\[\s*" + r + r"\s*(?:\+\s*-?\d+\s*)?\]", body):
                ptrs.add(name)
    return ptrs


def parse_signatures(image: bytes) -> Optional[Dict[str, List[Param]]]:
    """Every ``.entry`` of a PTX image with its parameters; None when the image is not PTX text
    (a cubin or fatbin), so callers must pass explicitly typed values."""
    if image[:4] == b"\x7fELF" or image[:4] == b"\x50\xed\x55\xba":
        return None
    try:
        text = bytes(image).split(b"\0", 1)[0].decode("utf-8")
    except UnicodeDecodeError:
        return None
    if ".entry" not in text:
        return None
    text = _strip_comments(text)
    out: Dict[str, List[Param]] = {}
    for m in _ENTRY.finditer(text):
        name, plist = m.group(1), m.group(2)
        raw = []
        for decl in plist.split(","):
            parsed = _parse_param(decl)
            if parsed is not None:
                raw.append(parsed)
        body = _body_after(text, m.end())
        ptrs = _pointer_params(body, [r[0] for r in raw])
        out[name] = [Param(p, t, s, n, explicit or p in ptrs) for (p, t, s, n, explicit) in raw]
    return out


def convert(value: object, param: Param, index: int, kernel: str) -> bytes:
    """The bytes of `value` for `param`; raises InvalidArgument when it does not fit."""
    from ._errors import InvalidArgument

    where = f"kernel {kernel!r} argument {index}, {param.describe()}"
    if param.pointer:
        raise InvalidArgument(f"{where}: is a device pointer; pass a lepton.Buffer (or buffer.at(offset)), "
                              f"not {type(value).__name__} {value!r}")
    fmt, unit, kind = _SCALARS.get(param.ptype, ("", 0, ""))
    if param.count != 1 or not fmt:
        raise InvalidArgument(f"{where}: an aggregate parameter of {param.size} bytes; pass "
                              f"lepton.raw(bytes) of exactly that size, not {type(value).__name__}")
    if isinstance(value, bool):
        value = int(value)
    if kind == "float":
        if not isinstance(value, (int, float)):
            raise InvalidArgument(f"{where}: wants a number, got {type(value).__name__}")
        try:
            return struct.pack("<" + fmt, float(value))
        except (OverflowError, struct.error) as e:
            raise InvalidArgument(f"{where}: {value!r} does not fit .{param.ptype} ({e})") from None
    if not isinstance(value, int):
        if isinstance(value, float):
            raise InvalidArgument(f"{where}: wants an integer, got float {value!r} "
                                  f"(convert it yourself, or pass a typed value such as lepton.f32)")
        raise InvalidArgument(f"{where}: wants an integer, got {type(value).__name__}")
    bits = unit * 8
    if kind == "int":
        lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    elif kind == "uint":
        lo, hi = 0, (1 << bits) - 1
    else:  # .bN takes either signedness
        lo, hi = -(1 << (bits - 1)), (1 << bits) - 1
    if not lo <= value <= hi:
        raise InvalidArgument(f"{where}: {value} is out of range [{lo}, {hi}] of .{param.ptype}")
    if value < 0:
        value &= (1 << bits) - 1
    return value.to_bytes(unit, "little")
