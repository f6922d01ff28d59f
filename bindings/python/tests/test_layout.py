# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The Lepton Authors.
"""The ctypes structs have the sizes and field offsets of include/lepton/lepton.h, as a C
compiler lays them out; and every declared function exists in the library."""
from __future__ import annotations

import ctypes
import os
import shutil
import subprocess

import pytest

import lepton
from lepton import _ffi
from conftest import REPO


def test_struct_layout_matches_c(tmp_path) -> None:
    cc = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    if not cc:
        pytest.skip("no C compiler to compare the struct layouts with")
    lines = ['#include <stdio.h>', '#include <stddef.h>', '#include "lepton/lepton.h"', "int main(void) {"]
    want = []
    for name, cls in _ffi.STRUCTS.items():
        lines.append(f'printf("{name} %zu\\n", sizeof({name}));')
        want.append(f"{name} {ctypes.sizeof(cls)}")
        for field, _t in cls._fields_:
            lines.append(f'printf("{name}.{field} %zu\\n", offsetof({name}, {field}));')
            want.append(f"{name}.{field} {getattr(cls, field).offset}")
    lines += ["return 0;", "}"]
    src = tmp_path / "layout.c"
    src.write_text("\n".join(lines) + "\n")
    exe = tmp_path / "layout"
    subprocess.run([cc, "-std=c11", "-I", str(REPO / "include"), "-o", str(exe), str(src)], check=True)
    got = subprocess.run([str(exe)], check=True, capture_output=True, text=True).stdout.split("\n")
    assert [l for l in got if l] == want


def test_constants_match_header() -> None:
    header = (REPO / "include" / "lepton" / "lepton.h").read_text()
    import re
    defs = dict(re.findall(r"#define (LEPTON_\w+) (-?\d+)\b", header))
    for name in ("LEPTON_CLIENT_OPTIONS_VERSION", "LEPTON_LEASE_REQUEST_VERSION", "LEPTON_LEASE_INFO_VERSION",
                 "LEPTON_JOB_VERSION", "LEPTON_TASK_INFO_VERSION", "LEPTON_ARG_BUFFER", "LEPTON_ARG_VALUE",
                 "LEPTON_STEP_WRITE", "LEPTON_STEP_READ", "LEPTON_STEP_LAUNCH"):
        assert int(defs[name]) == getattr(_ffi, name), name
    for state in lepton.LeaseState:
        assert int(defs[f"LEPTON_LEASE_{state.name}"]) == state.value
    for state in lepton.TaskState:
        assert int(defs[f"LEPTON_TASK_{state.name}"]) == state.value
    codes = dict(re.findall(r"(LEPTON_E\w+) = (-\d+)", header))
    from lepton._errors import BY_CODE
    assert {v.name: k for k, v in BY_CODE.items()} == {k: int(v) for k, v in codes.items()}
    for code, cls in BY_CODE.items():
        assert lepton.status_name(code) == cls.name


def test_every_function_declared() -> None:
    lib = _ffi.lib()
    header = (REPO / "include" / "lepton" / "lepton.h").read_text()
    import re
    in_header = set(re.findall(r"LEPTON_API [^;(]*?\b(lepton_\w+)\s*\(", header))
    declared = {f[0] for f in _ffi.FUNCTIONS} | {f[1] for f in _ffi.FUNCTIONS_SINCE}
    assert in_header == declared
    for name in declared:
        assert getattr(lib, name).argtypes is not None or name in ("lepton_last_error", "lepton_version")


def test_function_added_later_is_named_at_use(monkeypatch) -> None:
    # a liblepton older than a function's version loads; using the function says what is missing
    monkeypatch.setattr(_ffi, "FUNCTIONS_SINCE", _ffi.FUNCTIONS_SINCE + [("9.9", "lepton_from_the_future", None, [], None)])
    _ffi._declare(ctypes.CDLL(os.environ["LEPTON_LIBRARY"]), os.environ["LEPTON_LIBRARY"])
    with pytest.raises(lepton.LibraryError, match=r"lacks lepton_from_the_future \(added in liblepton 9.9\)"):
        _ffi.require("lepton_from_the_future")
    assert _ffi.require("lepton_lease_attach") is not None


def test_missing_symbol_is_named(monkeypatch) -> None:
    monkeypatch.setattr(_ffi, "FUNCTIONS", _ffi.FUNCTIONS + [("lepton_no_such_function", None, [], None)])
    with pytest.raises(lepton.LibraryError, match="lepton_no_such_function"):
        _ffi._declare(ctypes.CDLL(os.environ["LEPTON_LIBRARY"]), os.environ["LEPTON_LIBRARY"])


def test_library_lookup_failure_says_where(tmp_path) -> None:
    code = "import lepton\ntry:\n    lepton.Client()\nexcept lepton.LibraryError as e:\n    print(e)\n"
    env = dict(os.environ, LEPTON_LIBRARY=str(tmp_path / "nope.so"))
    import sys
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         cwd=str(REPO / "bindings" / "python")).stdout
    assert "$LEPTON_LIBRARY" in out and "nope.so" in out


def test_error_classes() -> None:
    e = lepton.NoCapacity("nothing fits")
    assert isinstance(e, lepton.Error) and e.code == -5 and e.name == "LEPTON_ENOCAPACITY"
    assert str(e) == "LEPTON_ENOCAPACITY: nothing fits" and e.message == "nothing fits"
    assert issubclass(lepton.TimedOut, TimeoutError) and issubclass(lepton.InvalidArgument, ValueError)
    names = ["InvalidArgument", "OutOfMemory", "NetworkError", "AuthError", "NoCapacity", "OverBudget",
             "Expired", "NodeLost", "CudaError", "TimedOut", "Canceled", "ProtocolError", "NotFound", "TooLarge"]
    assert [getattr(lepton, n).code for n in names] == list(range(-1, -15, -1))
