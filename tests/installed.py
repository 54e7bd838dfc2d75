"""The installed distributions pylaunchd needs, for tests that must give the
project to someone else without the network: to a user who cannot reach
this venv (tests/realusers.py), or to a fresh venv through pip
(tests/test_package.py), as wheels repacked from what is installed here."""

from __future__ import annotations

import base64
import csv
import hashlib
import importlib.metadata as md
import io
import re
import zipfile
from pathlib import Path

SKIP = {"RECORD", "INSTALLER", "REQUESTED", "direct_url.json"}  # written by the installer, not the wheel


def dependencies(name: str = "pylaunchd") -> list[md.Distribution]:
    """Every installed distribution *name* needs (no extras), recursively."""
    seen: dict[str, md.Distribution] = {}

    def walk(dist_name: str) -> None:
        for req in md.requires(dist_name) or []:
            if "extra ==" in req:
                continue
            dep = re.match(r"[A-Za-z0-9._-]+", req).group(0).lower().replace("_", "-")
            if dep in seen:
                continue
            try:
                seen[dep] = md.distribution(dep)
            except md.PackageNotFoundError:
                continue  # its marker left it out here
            walk(dep)

    walk(name)
    return [seen[k] for k in sorted(seen)]


def files(dist: md.Distribution) -> list[tuple[str, Path]]:
    """(path relative to site-packages, absolute path) of a distribution's
    own files: no scripts (pip writes them again), no byte code."""
    out = []
    for f in dist.files or []:
        if f.parts[0] == ".." or "__pycache__" in f.parts or f.name in SKIP and f.parts[0].endswith(".dist-info"):
            continue
        src = Path(dist.locate_file(f))
        if src.is_file():
            out.append((str(f), src))
    return out


def repack(dist: md.Distribution, directory: Path) -> Path:
    """A wheel of an installed distribution, with a fresh RECORD."""
    info = next(p for p, _ in files(dist) if p.endswith(".dist-info/WHEEL"))
    wheel_meta = dist.read_text("WHEEL") or ""
    tags = [line.split(":", 1)[1].strip() for line in wheel_meta.splitlines() if line.startswith("Tag:")]
    tag = next((t for t in tags if t.startswith(("py3", "cp3"))), tags[0] if tags else "py3-none-any")
    name = re.sub(r"[-.]+", "_", dist.metadata["Name"])
    path = directory / f"{name}-{dist.version}-{tag}.whl"
    record = io.StringIO()
    writer = csv.writer(record, lineterminator="\n")
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for rel, src in files(dist):
            data = src.read_bytes()
            z.writestr(rel, data)
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
            writer.writerow([rel, f"sha256={digest}", len(data)])
        rec = info.rsplit("/", 1)[0] + "/RECORD"
        writer.writerow([rec, "", ""])
        z.writestr(rec, record.getvalue())
    return path
