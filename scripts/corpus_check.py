#!/usr/bin/env python3
"""Read job plists as docs/corpus.md did: the real loader, each domain's
admission and LimitLoad* filter, and lint; one Markdown row per file.

    python3 scripts/corpus_check.py DIR_OR_PLIST...   [--as-uid UID]

A file that makes the loader or lint raise anything but the errors they
report (a crash) is listed first and the exit status is 1. Nothing is bound
or started: for the manager's own run, start `pylaunchd --system --jobs-dir
DIR` in a namespace of its own (docs/corpus.md says how it was done).
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from pylaunchd.domain import Domain  # noqa: E402
from pylaunchd.lint import lint_file  # noqa: E402
from pylaunchd.plist import PlistError, plists_in  # noqa: E402
from pylaunchd.plistvalues import SpecError  # noqa: E402
from pylaunchd.spec import load_spec  # noqa: E402


def outcome(path: str, uid: int) -> str:
    """What pylaunchd makes of one plist, in a few words."""
    try:
        spec = load_spec(path)
    except (SpecError, PlistError) as e:
        return "refused: " + str(e).replace(f"{path}: ", "", 1)
    where = []
    for system in (True, False):
        domain = Domain(system=system, jobs_dirs=[os.path.dirname(path)], control_socket="/", state_dir="/")
        if domain.load_filter(domain.admit(spec), os.uname().nodename) is None:
            where.append("system" if system else "per-user")
    parts = ["disabled" if spec.disabled else "", f"loads in: {', '.join(where) or 'no domain'}"]
    if spec.ignored_keys:
        parts.append("ignored: " + ", ".join(f"`{k}`" for k in spec.ignored_keys))
    warnings = [f for f in lint_file(path, as_uid=uid) if f.level == "warning" and f.key_path not in spec.ignored_keys]
    if warnings:
        parts.append("lint: " + "; ".join(f"{f.key_path}: {f.message}" for f in warnings))
    return "; ".join(p for p in parts if p)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("paths", nargs="+")
    ap.add_argument("--as-uid", type=int, default=os.geteuid(), help="lint as this user (default: you)")
    args = ap.parse_args(argv)
    files = [p for a in args.paths for p in (plists_in(a) if os.path.isdir(a) else [a])]
    rows, crashes = [], []
    for path in files:
        try:
            rows.append(f"| `{path}` | {outcome(os.path.abspath(path), args.as_uid)} |")
        except Exception:  # noqa: BLE001 - a crash is the finding
            crashes.append(f"CRASH {path}\n{traceback.format_exc()}")
    print("\n".join(crashes + ["| file | in pylaunchd |", "|---|---|"] + rows))
    return 1 if crashes else 0


if __name__ == "__main__":
    sys.exit(main())
