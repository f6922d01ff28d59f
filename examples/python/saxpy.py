#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The Lepton Authors.
"""y = a*x + y on a rented GPU, through the Python bindings of liblepton.

Usage: saxpy.py [PTX] [N]
    PTX  the saxpy kernel (default: examples/kernels/saxpy.ptx next to this script)
    N    number of elements (default 1048576)

The broker comes from $LEPTON_ENDPOINT and the token from $LEPTON_TOKEN (see scripts/quickstart.sh
or `lepton dev`). Uses numpy when it is installed and the standard array module otherwise; the
result is checked on the host against the same computation.
"""
from __future__ import annotations

import array
import os
import sys

import lepton

try:
    import numpy as np
except ImportError:  # numpy is optional
    np = None


def main() -> int:
    here = os.path.dirname(os.path.abspath(__file__))
    ptx_path = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "..", "kernels", "saxpy.ptx")
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 1 << 20
    a = 2.0

    if np is not None:
        xs = np.arange(n, dtype=np.float32) * np.float32(0.5)
        ys = np.full(n, 1.0, dtype=np.float32)
        out = np.empty(n, dtype=np.float32)
    else:
        xs = array.array("f", (i * 0.5 for i in range(n)))
        ys = array.array("f", [1.0]) * n
        out = array.array("f", bytes(4 * n))

    with open(ptx_path, "rb") as f:
        ptx = f.read()

    with lepton.Client() as client:                         # $LEPTON_ENDPOINT, $LEPTON_TOKEN
        with client.lease(gpus=1, ttl=600, max_cost=1.0, labels="example=saxpy-python") as lease:
            info = lease.info()
            print(f"lease {info.id}: {info.gpu_count} x {info.gpu_model} on {info.node} "
                  f"at ${info.price_per_gpu_hour:.2f}/GPU-hour")
            mod = lease.load_module(ptx)
            x = lease.alloc(n * 4)
            y = lease.alloc(n * 4)
            x.write(xs)                                     # no copies: the arrays are used in place
            y.write(ys)
            # n → .u32, a → .f32 (the kernel's declared parameter types), buffers → device pointers
            lease.launch(mod, "saxpy", grid=((n + 255) // 256,), block=(256,), args=[n, a, x, y]).wait()
            y.read(out)                                     # into `out`, in place
            cost = lease.info().cost

    # Verify on the host: the kernel computes fmaf(x, a, y) in float32, which equals a*x + y here
    # (x*2 and +1 are exact in float32 for these values).
    if np is not None:
        want = xs * np.float32(a) + ys
        bad = np.flatnonzero(out != want)
        first_bad = int(bad[0]) if bad.size else -1
    else:
        want = array.array("f", (a * x + y for x, y in zip(xs, ys)))
        first_bad = next((i for i in range(n) if out[i] != want[i]), -1)
    if first_bad >= 0:
        print(f"saxpy: element {first_bad} is {out[first_bad]}, want {want[first_bad]}", file=sys.stderr)
        return 1
    print(f"saxpy: {n} elements verified on the host ({'numpy' if np is not None else 'array'}); "
          f"lease cost ${cost:.6f}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except lepton.Error as e:
        print(f"saxpy: {e}", file=sys.stderr)
        sys.exit(2)
