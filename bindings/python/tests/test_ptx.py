# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The Lepton Authors.
"""Reading kernel parameter lists from PTX text, and converting values (no cluster needed)."""
from __future__ import annotations

import struct

import pytest

import lepton
from lepton._ptx import Param, convert, parse_signatures

PTX = b"""
.version 8.0
.target sm_90
.address_size 64
// .visible .entry commented_out(.param .u32 x)
.visible .entry k1(
    .param .u64 .ptr .global .align 4 k1_param_0,   // explicit pointer
    .param .align 8 .b8 k1_param_1[16],             /* a struct by value */
    .param .s16 k1_param_2,
    .param .f64 k1_param_3
)
{
    ret;
}
.entry k2()
{
    ret;
}
"""


def test_parse_entries_and_params() -> None:
    sigs = parse_signatures(PTX)
    assert sigs is not None and sorted(sigs) == ["k1", "k2"]
    assert sigs["k2"] == []
    p = sigs["k1"]
    assert p[0] == Param("k1_param_0", "u64", 8, 1, True)
    assert p[1] == Param("k1_param_1", "b8", 16, 16, False)
    assert p[2] == Param("k1_param_2", "s16", 2, 1, False)
    assert p[3] == Param("k1_param_3", "f64", 8, 1, False)


def test_binary_images_have_no_signatures() -> None:
    assert parse_signatures(b"\x7fELF\x02\x01\x01" + bytes(64)) is None
    assert parse_signatures(struct.pack("<I", 0xBA55ED50) + bytes(64)) is None
    assert parse_signatures(b"\xff\xfe not utf-8 .entry") is None


def test_convert() -> None:
    u32 = Param("p", "u32", 4, 1, False)
    assert convert(7, u32, 0, "k") == struct.pack("<I", 7)
    assert convert(True, u32, 0, "k") == struct.pack("<I", 1)
    s8 = Param("p", "s8", 1, 1, False)
    assert convert(-128, s8, 0, "k") == b"\x80"
    with pytest.raises(lepton.InvalidArgument, match="out of range"):
        convert(128, s8, 0, "k")
    b32 = Param("p", "b32", 4, 1, False)
    assert convert(-1, b32, 0, "k") == b"\xff" * 4 and convert(2**32 - 1, b32, 0, "k") == b"\xff" * 4
    f32 = Param("p", "f32", 4, 1, False)
    assert convert(3, f32, 0, "k") == struct.pack("<f", 3.0)
    with pytest.raises(lepton.InvalidArgument, match="does not fit"):
        convert(1e300, f32, 0, "k")
    f16 = Param("p", "f16", 2, 1, False)
    assert convert(0.5, f16, 0, "k") == struct.pack("<e", 0.5)
    agg = Param("p", "b8", 16, 16, False)
    with pytest.raises(lepton.InvalidArgument, match="lepton.raw"):
        convert(1, agg, 2, "k")
    ptr = Param("p", "u64", 8, 1, True)
    with pytest.raises(lepton.InvalidArgument, match="device pointer"):
        convert(0, ptr, 0, "k")


def test_typed_value_helpers() -> None:
    assert lepton.i32(-1).data == b"\xff" * 4
    assert lepton.u64(1).data == struct.pack("<Q", 1)
    assert lepton.f64(0.1).data == struct.pack("<d", 0.1)
    assert lepton.raw(b"abc").data == b"abc"
    with pytest.raises(lepton.InvalidArgument):
        lepton.u8(256)
