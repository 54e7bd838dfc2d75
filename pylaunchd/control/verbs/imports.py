"""import: other supervisors' configuration as launchd plists (no manager)."""

from __future__ import annotations

import json
import os
import sys
from typing import Optional

import typer

from ..client import fail
from ..verb import Verb


def _read(path: str) -> Optional[str]:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()
    except OSError:
        return None


def _write(directory: str, label: str, data: bytes) -> str:
    """LABEL.plist in *directory*, atomically (a watched directory never sees half a file), mode 0644."""
    path = os.path.join(directory, f"{label}.plist")
    tmp = os.path.join(directory, f".{label}.plist.tmp")
    with open(tmp, "wb") as f:
        f.write(data)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)
    return path


class Import(Verb):
    """Turn systemd units and supervisord configuration files into launchd plists.

    FILES are unit files (.service, .socket, .timer, .path: a socket, timer
    or path unit brings the service it starts, read from beside it) or
    supervisord configuration files (every [program:x] and [fcgi-program:x],
    their [include] files too). Each setting with no launchd equivalent gets
    one line on stderr saying what it was and what was done instead. The
    plists are printed (XML), or written as LABEL.plist into -o DIR (a
    watched directory loads them at once). --json: {"jobs": [{"label",
    "sources", "plist", "comments"}], "comments": [...]}. Every plist is
    validated first; a file that gives no valid job: exit status 1. No
    manager is needed. See docs/import.md for what maps to what.
    """

    cli_name = "import"

    def run(self, paths: list[str] = typer.Argument(..., metavar="FILES...",
                                                   help="Unit files or supervisord configuration files."),
            output: Optional[str] = typer.Option(None, "-o", "--output", help="Write LABEL.plist files here."),
            prefix: str = typer.Option("", "--prefix", help="Put this before every label (org.example.)."),
            source: Optional[str] = typer.Option(None, "--from", help="systemd or supervisord (default: by name)."),
            as_json: bool = typer.Option(False, "--json", help="JSON: the plists and their comments.")) -> None:
        import glob
        import plistlib
        import socket

        from ...importers.convert import convert
        from ...spec import SpecError, validate

        if source not in (None, "systemd", "supervisord"):
            fail(f"--from {source}: systemd or supervisord", 64)
        for p in paths:
            if not os.path.isfile(p):
                fail(f"{p}: No such file", 2)
        batch = convert(paths, _read, glob.glob, prefix, source, dict(os.environ), socket.gethostname())
        errors = list(batch.errors)
        jobs = []
        seen: dict[str, list[str]] = {}
        for job in batch.jobs:
            if job.label in seen:
                errors.append(f"{job.label}: made from {', '.join(job.sources)} and from {', '.join(seen[job.label])}: "
                              f"one label, two jobs; the second is skipped (use --prefix, or import them apart)")
                continue
            seen[job.label] = job.sources
            try:
                validate(job.plist, f"{job.label}.plist")
            except SpecError as e:
                errors.append(f"{job.label} (from {', '.join(job.sources)}): {e}")
                continue
            jobs.append(job)
        for line in batch.notes + [n for j in jobs for n in j.notes]:
            print(line, file=sys.stderr)
        self._emit(jobs, batch.notes, output, as_json, plistlib)
        for e in errors:
            print(f"pylaunchctl: import: {e}", file=sys.stderr)
        if errors:
            raise typer.Exit(1)

    @staticmethod
    def _emit(jobs: list, notes: list[str], output: Optional[str], as_json: bool, plistlib) -> None:
        written = {}
        if output:
            os.makedirs(output, exist_ok=True)
            written = {j.label: _write(output, j.label, plistlib.dumps(j.plist)) for j in jobs}
        if as_json:
            records = [dict(j.to_json(), **({"file": written[j.label]} if j.label in written else {})) for j in jobs]
            print(json.dumps({"jobs": records, "comments": notes}, indent=2))
        elif output:
            for path in written.values():
                print(path)
        else:
            for j in jobs:
                sys.stdout.write(plistlib.dumps(j.plist).decode())
