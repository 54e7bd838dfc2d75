"""The public surface of pylaunchd, pinned.

What job authors and tools may import: ``pylaunchd.activation`` (the job
side, launchd's ``launch_activate_socket``), ``pylaunchd.spec`` (reading and
validating plists, for tooling), ``pylaunchd.control.protocol.request`` (the
control client) and the two commands. Everything else is the manager's
inside and may change. A change here is a change users see: update the
README and docs/architecture.md with it.
"""

from __future__ import annotations

import importlib

import pylaunchd.activation as activation

PUBLIC = {
    "pylaunchd.activation": {"ActivationError", "activate_socket", "listen_fds", "SD_LISTEN_FDS_START"},
    "pylaunchd.spec": {"JobSpec", "SpecError", "validate", "load_spec", "label_from_file"},
    "pylaunchd.control.protocol": {"request", "ControlError"},
}


def test_activation_exports_exactly_its_api():
    assert set(activation.__all__) == PUBLIC["pylaunchd.activation"]
    for name in activation.__all__:
        assert getattr(activation, name) is not None


def test_public_names_exist():
    for module, names in PUBLIC.items():
        mod = importlib.import_module(module)
        missing = {n for n in names if not hasattr(mod, n)}
        assert not missing, f"{module} lost {missing}"


def test_the_commands_entry_points():
    from pylaunchd.cli.launchctl import main as ctl_main
    from pylaunchd.cli.pylaunchd import main as manager_main
    assert callable(ctl_main) and callable(manager_main)
