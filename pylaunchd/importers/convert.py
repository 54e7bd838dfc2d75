"""Many files at once: which importer reads each, and a pair given whole
(``ssh.socket`` and ``ssh.service``) imported once, as the socket's job.

Pure: the caller hands in ``read`` and ``glob``; ``pylaunchctl import`` is
the caller.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Optional

from . import ConversionError, Imported, Reader
from .supervisord import Glob, import_config
from .systemd import companion, import_unit, kind_of


@dataclass
class Batch:
    jobs: list[Imported] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # about files rather than one job
    errors: list[str] = field(default_factory=list)  # files that gave no job


def format_of(path: str) -> str:
    """``systemd`` for a unit file's name, ``supervisord`` otherwise."""
    return "systemd" if kind_of(path) else "supervisord"


def convert(paths: list[str], read: Reader, glob: Glob, prefix: str = "", source: Optional[str] = None,
            environ: Optional[dict] = None, host: str = "localhost") -> Batch:
    """Every job of every file; *source* forces ``systemd`` or ``supervisord``."""
    batch = Batch()
    texts = {}
    for p in paths:
        text = read(p)
        if text is None:
            batch.errors.append(f"{p}: cannot be read")
        else:
            texts[os.path.abspath(p)] = text
    fmt = {p: source or format_of(p) for p, t in texts.items()}
    started = {companion(p, t) for p, t in texts.items() if fmt[p] == "systemd"}
    for p, text in texts.items():
        if fmt[p] == "systemd" and p in started:
            batch.notes.append(f"{p}: imported with the unit that starts it")
            continue
        try:
            if fmt[p] == "systemd":
                batch.jobs.append(import_unit(p, text, read, prefix))
            else:
                jobs, notes = import_config(p, lambda q, _p=p, _t=text: _t if q == _p else read(q), glob,
                                            prefix, environ, host)
                batch.jobs += jobs
                batch.notes += notes
        except ConversionError as e:
            batch.errors.append(str(e))
    return batch
