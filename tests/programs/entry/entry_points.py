#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Every entry point the toolkit names resolves on cudaemu: for each PFN_cuXxx_v<ver>[_ptds|_ptsz]
in cudaTypedefs.h, cuGetProcAddress_v2("cuXxx", ver, flags) succeeds and returns the very function
dlsym finds under the symbol that version stands for; every stub answers CUDA_ERROR_NOT_SUPPORTED
and names itself under CUDAEMU_LOG=1; api_stubs.c is what gen_stubs.py generates from the current
cuda.h and sources, and no name is both a stub and implemented.
usage: entry_points.py LIBCUDA SRC_CUDAEMU_DIR CUDA_INCLUDE_DIR"""
import ctypes
import os
import re
import sys
import tempfile

lib_path, src_dir, cuda_include = sys.argv[1:4]
sys.path.insert(0, src_dir)
import gen_stubs  # noqa: E402

failures = []


def fail(msg):
    failures.append(msg)


text, entries, smap, stubs, impl = gen_stubs.generate(os.environ.get("CC", "cc"), cuda_include)
with open(os.path.join(src_dir, "api_stubs.c")) as f:
    committed = f.read()
if committed != text:
    fail("api_stubs.c is stale: run src/cudaemu/gen_stubs.py and commit the result")
committed_stubs = set(re.findall(r"^STUB\((\w+)\)$", committed, re.M))
both = sorted(committed_stubs & set(impl))
for n in both:
    fail("%s is both a generated stub and implemented in %s: regenerate api_stubs.c" % (n, impl[n]))

lib = ctypes.CDLL(lib_path)
# before cuInit: the context queries answer CUDA_ERROR_NOT_INITIALIZED (3) and write nothing (they
# once read an uninitialised context pointer on that path; clang-tidy found it)
for name in ("cuCtxGetFlags", "cuCtxGetCacheConfig", "cuCtxGetSharedMemConfig", "cuCtxGetApiVersion"):
    out = ctypes.c_uint(0xDEAD)
    args = (None, ctypes.byref(out)) if name == "cuCtxGetApiVersion" else (ctypes.byref(out),)
    rc = getattr(lib, name)(*args)
    if rc != 3 or out.value != 0xDEAD:
        fail("%s before cuInit: rc %d, out %#x; want CUDA_ERROR_NOT_INITIALIZED (3) and nothing written"
             % (name, rc, out.value))
if lib.cuInit(0) != 0:
    print("cuInit failed")
    sys.exit(1)
gpa = lib.cuGetProcAddress_v2
gpa.argtypes = [ctypes.c_char_p, ctypes.POINTER(ctypes.c_void_p), ctypes.c_int, ctypes.c_uint64, ctypes.POINTER(ctypes.c_int)]
gpa.restype = ctypes.c_int
PER_THREAD = 2
checked = 0
for name, ver, var in entries:
    sym = smap[(name, ver, var)]
    fn = ctypes.c_void_p()
    st = ctypes.c_int(-1)
    r = gpa(name.encode(), ctypes.byref(fn), ver, PER_THREAD if var else 0, ctypes.byref(st))
    if r != 0 or not fn.value or st.value != 0:
        fail("cuGetProcAddress(%s, %d%s) -> %d, status %d" % (name, ver, var, r, st.value))
        continue
    try:
        addr = ctypes.cast(getattr(lib, sym), ctypes.c_void_p).value
    except AttributeError:
        fail("%s (PFN_%s_v%d%s) is not a symbol of %s" % (sym, name, ver, var, lib_path))
        continue
    if addr != fn.value:
        fail("cuGetProcAddress(%s, %d%s) does not return %s" % (name, ver, var, sym))
    checked += 1

# an unknown name is refused with the documented status
fn = ctypes.c_void_p()
st = ctypes.c_int(-1)
if gpa(b"cuNoSuchEntryPoint", ctypes.byref(fn), 13000, 0, ctypes.byref(st)) != 500 or st.value != 1:
    fail("unknown name: want CUDA_ERROR_NOT_FOUND with CU_GET_PROC_ADDRESS_SYMBOL_NOT_FOUND")

# every stub answers CUDA_ERROR_NOT_SUPPORTED (801); none reads its arguments, so none are passed
for s in stubs:
    f = getattr(lib, s)
    f.restype = ctypes.c_int
    f.argtypes = []
    r = f()
    if r != 801:
        fail("stub %s returned %d" % (s, r))

# and names itself in the log
if stubs:
    os.environ["CUDAEMU_LOG"] = "1"
    with tempfile.TemporaryFile() as tmp:
        saved = os.dup(2)
        os.dup2(tmp.fileno(), 2)
        try:
            getattr(lib, stubs[0])()
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        tmp.seek(0)
        log = tmp.read().decode(errors="replace")
    if stubs[0] not in log or "not implemented" not in log:
        fail("CUDAEMU_LOG=1: stub %s logged %r" % (stubs[0], log))

for m in failures[:50]:
    print("FAIL:", m)
print("%d PFN entries checked, %d stubs, %d implemented entry points, %d failures"
      % (checked, len(stubs), len(impl), len(failures)))
sys.exit(1 if failures else 0)
