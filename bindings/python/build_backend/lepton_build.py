# SPDX-License-Identifier: Apache-2.0
"""The PEP 517 build backend of the lepton Python package: scikit-build-core, whose sdist also
carries liblepton's C sources.

scikit-build-core builds the wheel from the repository's top-level CMakeLists.txt (pyproject.toml:
cmake.source-dir = "../.."). Its sdist holds only this directory, so build_sdist adds what building
liblepton needs (the top-level CMakeLists.txt, LICENSE, include/, src/, pkgconfig/) under
lepton-src/ in the archive, which a build from the sdist uses instead (pyproject.toml's from-sdist
override). Every other hook is scikit-build-core's, unchanged.
"""
from __future__ import annotations

import gzip
import io
import os
import tarfile
from pathlib import Path
from typing import Dict, List, Optional

from scikit_build_core import build as _skbuild
from scikit_build_core.build import *  # noqa: F401,F403  (the other hooks, unchanged)

# What the top-level CMakeLists.txt needs to build liblepton with BUILD_TESTING=OFF.
C_SOURCES = ("CMakeLists.txt", "LICENSE", "include", "src", "pkgconfig")
PACKAGE_DIR = Path(__file__).resolve().parent.parent  # bindings/python


def _source_files(root: Path) -> List[Path]:
    out: List[Path] = []
    for name in C_SOURCES:
        top = root / name
        if top.is_file():
            out.append(top)
            continue
        if not top.is_dir():
            raise RuntimeError(f"lepton sdist: {top} is missing; build the sdist from a Lepton checkout")
        for dirpath, dirnames, filenames in os.walk(top):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith(".") and d != "__pycache__")
            out.extend(Path(dirpath) / f for f in sorted(filenames) if not f.endswith(".pyc"))
    return out


def build_sdist(sdist_directory: str, config_settings: Optional[Dict[str, object]] = None) -> str:
    name = _skbuild.build_sdist(sdist_directory, config_settings)
    if (PACKAGE_DIR / "lepton-src").is_dir():
        return name  # this is an unpacked sdist: lepton-src/ was part of the project already
    root = PACKAGE_DIR.parent.parent
    path = Path(sdist_directory) / name
    top = name[: -len(".tar.gz")]
    with tarfile.open(path, "r:gz") as old:
        members = [(m, old.extractfile(m).read() if m.isfile() else None) for m in old.getmembers()]
    mtime = members[0][0].mtime if members else 0  # scikit-build-core's (reproducible) time
    tmp = path.with_name(path.name + ".part")
    with open(tmp, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as gz, \
            tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as new:
        for member, data in members:
            new.addfile(member, io.BytesIO(data) if data is not None else None)
        for src in _source_files(root):
            data = src.read_bytes()
            info = tarfile.TarInfo(f"{top}/lepton-src/{src.relative_to(root).as_posix()}")
            info.size = len(data)
            info.mtime = mtime
            info.mode = 0o755 if os.access(src, os.X_OK) else 0o644
            new.addfile(info, io.BytesIO(data))
    os.replace(tmp, path)
    return name
