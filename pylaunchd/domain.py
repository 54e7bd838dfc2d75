"""Domains: where a manager looks for jobs, listens for control, keeps state.

Two kinds, as in launchd: the system domain (``pylaunchd --system``, root,
``LaunchDaemons``) and a per-user domain (``pylaunchd --user``, ``LaunchAgents``).
The enabled/disabled overrides set by ``pylaunchctl load -w``/``unload -w`` live
in the domain's state directory, outside the plists, as launchd keeps them.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, field


def _xdg(var: str, default: str) -> str:
    value = os.environ.get(var)
    return value if value and os.path.isabs(value) else os.path.expanduser(default)


def default_control_socket(system: bool) -> str:
    """Where a manager listens and where pylaunchctl looks for it."""
    override = os.environ.get("PYLAUNCHD_CONTROL_SOCKET")
    if override:
        return override
    if system:
        return "/run/pylaunchd/control.sock"
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime and os.path.isabs(runtime):
        return os.path.join(runtime, "pylaunchd", "control.sock")
    return os.path.join(tempfile.gettempdir(), f"pylaunchd-{os.getuid()}", "control.sock")


def default_jobs_dirs(system: bool) -> list[str]:
    if system:
        return ["/Library/LaunchDaemons", "/etc/pylaunchd/LaunchDaemons"]
    config = _xdg("XDG_CONFIG_HOME", "~/.config")
    return [os.path.expanduser("~/Library/LaunchAgents"), os.path.join(config, "pylaunchd", "LaunchAgents")]


def default_state_dir(system: bool) -> str:
    if system:
        return "/var/lib/pylaunchd"
    return os.path.join(_xdg("XDG_STATE_HOME", "~/.local/state"), "pylaunchd")


@dataclass
class Domain:
    system: bool
    jobs_dirs: list[str]
    control_socket: str
    state_dir: str
    uid: int = field(default_factory=os.getuid)

    @property
    def name(self) -> str:
        """launchctl's domain target: ``system`` or ``user/UID``."""
        return "system" if self.system else f"user/{self.uid}"

    @property
    def job_type(self) -> str:
        return "LaunchDaemon" if self.system else "LaunchAgent"


class Overrides:
    """The persistent enabled/disabled state of labels (``load -w``/``unload -w``)."""

    def __init__(self, state_dir: str):
        self.path = os.path.join(state_dir, "overrides.json")
        self._disabled: dict[str, bool] = {}
        try:
            with open(self.path) as f:
                data = json.load(f)
            if isinstance(data, dict):
                self._disabled = {k: bool(v) for k, v in data.get("disabled", {}).items()}
        except (OSError, ValueError):
            pass

    def is_disabled(self, label: str, default: bool) -> bool:
        return self._disabled.get(label, default)

    def set_disabled(self, label: str, disabled: bool) -> None:
        self._disabled[label] = disabled
        os.makedirs(os.path.dirname(self.path), mode=0o700, exist_ok=True)
        tmp = f"{self.path}.{os.getpid()}.tmp"
        with open(tmp, "w") as f:
            json.dump({"disabled": self._disabled}, f, indent=1, sort_keys=True)
        os.replace(tmp, self.path)

    def items(self) -> dict[str, bool]:
        return dict(self._disabled)
