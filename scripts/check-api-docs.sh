#!/usr/bin/env bash
# check-api-docs.sh — builds the API reference (docs/Doxyfile: include/lepton/lepton.h with the
# README as main page) into a temporary directory and fails when a public symbol of lepton.h has no
# doc comment: every function, macro, typedef, enum, enum value, struct and struct field must have
# one. Symbols are checked twice: doxygen's own "is not documented" warnings, and the XML it writes
# (a symbol whose brief and detailed descriptions are both empty).
#
#   scripts/check-api-docs.sh [-o DIR]     # -o: keep the HTML reference in DIR/html
#
# Exit status: 0 all documented ("API reference: N symbols, all documented"); 1 some are not (each
# listed as FILE:LINE: what); 2 doxygen or python3 is missing, or doxygen failed. Doxygen itself is
# installed by CI (apt-get install doxygen), not by this script.
#
# Copyright 2026 The Lepton Authors. Licensed under the Apache License, Version 2.0.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
KEEP=""
while [ $# -gt 0 ]; do
  case "$1" in
    -o) [ $# -ge 2 ] || { echo "check-api-docs: -o needs a directory" >&2; exit 2; }; KEEP="$2"; shift 2 ;;
    -h|--help) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "check-api-docs: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
for tool in doxygen python3; do
  command -v "$tool" >/dev/null 2>&1 || { echo "check-api-docs: $tool not found (apt-get install $tool)" >&2; exit 2; }
done

OUT="$(mktemp -d "${TMPDIR:-/tmp}/lepton-api-docs.XXXXXX")"
trap 'rm -rf "$OUT"' EXIT
cd "$ROOT"
# The Doxyfile as committed, with the output redirected and an XML copy for the symbol check.
{
  cat docs/Doxyfile
  echo "OUTPUT_DIRECTORY = \"$OUT\""
  echo "WARN_LOGFILE = \"$OUT/warnings.log\""
  echo "GENERATE_XML = YES"
  echo "XML_OUTPUT = xml"
  echo "XML_PROGRAMLISTING = NO"
} | doxygen - >"$OUT/doxygen.out" 2>&1 || {
  echo "check-api-docs: doxygen failed:" >&2
  cat "$OUT/doxygen.out" >&2
  exit 2
}
touch "$OUT/warnings.log"

status=0
python3 - "$OUT/xml" "$OUT/warnings.log" <<'PY' || status=$?
import os, re, sys
import xml.etree.ElementTree as ET

xml_dir, warn_log = sys.argv[1], sys.argv[2]
HEADER = "include/lepton/lepton.h"

def text(el):
    return "".join(el.itertext()).strip() if el is not None else ""

def documented(el):
    return bool(text(el.find("briefdescription")) or text(el.find("detaileddescription")))

def where(el):
    loc = el.find("location")
    if loc is None:
        return HEADER
    return "%s:%s" % (loc.get("file", HEADER), loc.get("line", "?"))

def in_header(el):
    loc = el.find("location")
    return loc is not None and loc.get("file", "").endswith("lepton/lepton.h")

symbols, missing = [], []
def check(el, what):
    symbols.append(what)
    if not documented(el):
        missing.append("%s: %s" % (where(el), what))

index = ET.parse(os.path.join(xml_dir, "index.xml")).getroot()
for comp in index.findall("compound"):
    kind, refid = comp.get("kind"), comp.get("refid")
    if kind not in ("file", "struct", "union"):
        continue
    root = ET.parse(os.path.join(xml_dir, refid + ".xml")).getroot()
    cdef = root.find("compounddef")
    if kind == "file" and text(cdef.find("compoundname")) != "lepton.h":
        continue
    if kind != "file":
        if not in_header(cdef):
            continue
        check(cdef, "%s %s" % (kind, text(cdef.find("compoundname"))))
    for m in cdef.iter("memberdef"):
        if not in_header(m):
            continue
        mkind, name = m.get("kind"), text(m.find("name"))
        owner = "" if kind == "file" else text(cdef.find("compoundname")) + "."
        check(m, "%s %s%s" % ({"variable": "field", "define": "macro"}.get(mkind, mkind), owner, name))
        for v in m.findall("enumvalue"):
            check(v, "enum value %s" % text(v.find("name")))

# doxygen's own view; its "not documented" lines name the same symbols in its words.
warned = []
with open(warn_log, encoding="utf-8", errors="replace") as f:
    for line in f:
        line = line.rstrip("\n")
        if not line.strip():
            continue
        if "is not documented" in line:
            warned.append(line)
        else:
            print("check-api-docs: doxygen: " + line, file=sys.stderr)

if not symbols:
    print("check-api-docs: no symbols of lepton.h in doxygen's output (is the Doxyfile's INPUT right?)",
          file=sys.stderr)
    sys.exit(1)
if missing or warned:
    print("check-api-docs: undocumented public symbols of lepton.h:", file=sys.stderr)
    for m in sorted(set(missing)):
        print("  " + m, file=sys.stderr)
    for w in warned:
        print("  doxygen: " + w.replace(os.getcwd() + "/", ""), file=sys.stderr)
    print("API reference: %d symbols, %d undocumented" % (len(symbols), max(len(set(missing)), len(warned))))
    sys.exit(1)
kinds = {}
for s in symbols:
    k = s.rsplit(" ", 1)[0]
    kinds[k] = kinds.get(k, 0) + 1
print("API reference: %d symbols, all documented (%s)" % (len(symbols), ", ".join("%d %s%s" % (n, k, "" if n == 1 else "s") for k, n in sorted(kinds.items()))))
PY

if [ -n "$KEEP" ] && [ $status -ne 2 ]; then
  mkdir -p "$KEEP"
  rm -rf "$KEEP/html"
  cp -r "$OUT/html" "$KEEP/html"
  echo "check-api-docs: HTML reference in $KEEP/html/index.html"
fi
exit $status
