#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Every entry point the toolkit names resolves on the remote driver, with no lease needed: for
each PFN_cuXxx_v<ver>[_ptds|_ptsz] in cudaTypedefs.h, cuGetProcAddress_v2("cuXxx", ver, flags)
returns the very function dlsym finds under the symbol that version stands for; every stub answers
CUDA_ERROR_NOT_SUPPORTED and names itself at LEPTON_LOG_LEVEL=debug (before cuInit too); calls
that need cuInit answer CUDA_ERROR_NOT_INITIALIZED before it; api_stubs.c is what
gen_stubs.py --profile remote generates now, and no name is both a stub and implemented.
usage: entry_points.py LIBCUDA SRC_CUDAEMU_DIR CUDA_INCLUDE_DIR"""
import ctypes
import os
import re
import subprocess
import sys

lib_path, emu_dir, cuda_include = sys.argv[1:4]
sys.path.insert(0, emu_dir)
import gen_stubs  # noqa: E402

failures = []

text, entries, smap, stubs, impl = gen_stubs.generate(os.environ.get("CC", "cc"), cuda_include, "remote")
with open(gen_stubs.out_path("remote")) as f:
    committed = f.read()
if committed != text:
    failures.append("src/remote/api_stubs.c is stale: run src/cudaemu/gen_stubs.py --profile remote")
for n in sorted(set(re.findall(r"^STUB\((\w+)\)$", committed, re.M)) & set(impl)):
    failures.append("%s is both a generated stub and implemented in %s" % (n, impl[n]))

if "--child" not in sys.argv:
    # the stub's log line, from a fresh process with LEPTON_LOG_LEVEL=debug and no cuInit
    env = dict(os.environ, LEPTON_LOG_LEVEL="debug")
    r = subprocess.run([sys.executable, __file__, lib_path, emu_dir, cuda_include, "--child", stubs[0]],
                       env=env, capture_output=True, text=True, timeout=60)
    want = "lepton-remote: %s: not supported by the remote driver" % stubs[0]
    if r.returncode != 0 or want not in r.stderr:
        failures.append("LEPTON_LOG_LEVEL=debug: stub %s logged %r (exit %d)" % (stubs[0], r.stderr, r.returncode))
else:
    lib = ctypes.CDLL(lib_path)
    f = getattr(lib, sys.argv[-1])
    f.restype = ctypes.c_int
    sys.exit(0 if f() == 801 else 1)

lib = ctypes.CDLL(lib_path)
gpa = lib.cuGetProcAddress_v2
gpa.argtypes = [ctypes.c_char_p, ctypes.POINTER(ctypes.c_void_p), ctypes.c_int, ctypes.c_uint64,
                ctypes.POINTER(ctypes.c_int)]
gpa.restype = ctypes.c_int
checked = 0
for name, ver, var in entries:
    sym = smap[(name, ver, var)]
    fn = ctypes.c_void_p()
    st = ctypes.c_int(-1)
    r = gpa(name.encode(), ctypes.byref(fn), ver, 2 if var else 0, ctypes.byref(st))
    if r != 0 or not fn.value or st.value != 0:
        failures.append("cuGetProcAddress(%s, %d%s) -> %d, status %d" % (name, ver, var, r, st.value))
        continue
    try:
        addr = ctypes.cast(getattr(lib, sym), ctypes.c_void_p).value
    except AttributeError:
        failures.append("%s (PFN_%s_v%d%s) is not a symbol of %s" % (sym, name, ver, var, lib_path))
        continue
    if addr != fn.value:
        failures.append("cuGetProcAddress(%s, %d%s) does not return %s" % (name, ver, var, sym))
    checked += 1
fn = ctypes.c_void_p()
st = ctypes.c_int(-1)
if gpa(b"cuNoSuchEntryPoint", ctypes.byref(fn), 13000, 0, ctypes.byref(st)) != 500 or st.value != 1:
    failures.append("unknown name: want CUDA_ERROR_NOT_FOUND with CU_GET_PROC_ADDRESS_SYMBOL_NOT_FOUND")

for s in stubs:
    f = getattr(lib, s)
    f.restype = ctypes.c_int
    f.argtypes = []
    r = f()
    if r != 801:
        failures.append("stub %s returned %d" % (s, r))

# before cuInit: the calls that need the lease say so (and touch nothing)
count = ctypes.c_int(-1)
if lib.cuDeviceGetCount(ctypes.byref(count)) != 3:
    failures.append("cuDeviceGetCount before cuInit: want CUDA_ERROR_NOT_INITIALIZED")
dptr = ctypes.c_uint64()
if lib.cuMemAlloc_v2(ctypes.byref(dptr), ctypes.c_size_t(64)) != 3:
    failures.append("cuMemAlloc before cuInit: want CUDA_ERROR_NOT_INITIALIZED")
ver = ctypes.c_int(0)
if lib.cuDriverGetVersion(ctypes.byref(ver)) != 0 or ver.value < 12000:
    failures.append("cuDriverGetVersion before cuInit: %d" % ver.value)
name = ctypes.c_char_p()
if lib.cuGetErrorName(700, ctypes.byref(name)) != 0 or name.value != b"CUDA_ERROR_ILLEGAL_ADDRESS":
    failures.append("cuGetErrorName(700): %r" % name.value)

for m in failures[:50]:
    print("FAIL:", m)
print("%d PFN entries checked, %d stubs, %d implemented entry points, %d failures"
      % (checked, len(stubs), len(impl), len(failures)))
sys.exit(1 if failures else 0)
