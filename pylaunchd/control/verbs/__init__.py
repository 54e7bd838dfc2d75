"""Every control verb, one module per verb or per family of verbs that share
a request. Importing this package registers them all, in the order
``pylaunchctl --help`` lists them (see :mod:`pylaunchd.control.verb`).

No module here imports the manager, the server or the spec: pylaunchctl
imports every one of them at start-up.
"""

from __future__ import annotations

import importlib

MODULES = ("load", "startstop", "list", "errors", "print", "lint", "bootstrap", "enable", "kickstart", "blame", "log",
           "submit", "env", "limit", "reexec", "imports", "services", "error", "managerinfo", "help")

for _name in MODULES:
    importlib.import_module(f"{__name__}.{_name}")
