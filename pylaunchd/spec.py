"""Job specifications: the public face of reading a launchd job plist.

``load_spec(path)`` reads a plist and ``validate(raw, path)`` turns its
dictionary into a :class:`JobSpec`. Every problem is reported with the file,
the key path (``Sockets.Listeners.SockServiceName``), what was expected and
what was found.

Errors make the job fail to load: a plist that is not a dictionary, no
``Label``, neither ``Program`` nor ``ProgramArguments``, or a value of the wrong
type for a key this version implements. Problems launchd itself tolerates
(unknown keys, a negative ``ThrottleInterval``, a non-string environment value)
become warnings (:class:`Problem`, whose text is ``"key path: message"``): the
job loads, and the warning is logged and shown by ``pylaunchctl print``.

This module only re-exports; the pieces are, from the leaf up:

* :mod:`pylaunchd.plistvalues` -- ``describe``, ``Problem``, ``SpecError``,
  the typed ``Reader`` (standard library only);
* :mod:`pylaunchd.plist` -- reading a file (``read_plist``, ``label_from_file``);
* :mod:`pylaunchd.jobspec` -- the frozen records (the data model);
* :mod:`pylaunchd.jobkeys` -- the tables of keys known and ignored;
* :mod:`pylaunchd.socketkeys` -- the ``Sockets`` reader;
* :mod:`pylaunchd.validate` -- ``validate``, ``check`` and ``load_spec``.

None of them imports this module, so importing it creates no cycle.
"""

from __future__ import annotations

from .jobkeys import (ALL_KEYS, IGNORED_KEYS, KEEPALIVE_KEYS, PROCESS_TYPES, RESOURCE_LIMITS, SESSION_TYPES,
                      SUPPORTED_KEYS)
from .jobspec import (DEFAULT_EXIT_TIMEOUT, DEFAULT_THROTTLE_INTERVAL, InetdSpec, JobSpec, KeepAliveSpec,
                      SocketGroupSpec, SocketSpec)
from .plist import label_from_file, read_plist
from .plistvalues import Problem, SpecError, describe
from .socketkeys import SOCKET_IGNORED_KEYS, SOCKET_KEYS
from .validate import Checked, check, load_spec, validate

__all__ = [
    # reading and validating
    "load_spec", "validate", "check", "Checked", "label_from_file", "read_plist",
    # problems
    "SpecError", "Problem", "describe",
    # the data model
    "JobSpec", "KeepAliveSpec", "SocketSpec", "SocketGroupSpec", "InetdSpec",
    "DEFAULT_THROTTLE_INTERVAL", "DEFAULT_EXIT_TIMEOUT",
    # key tables
    "SUPPORTED_KEYS", "IGNORED_KEYS", "ALL_KEYS", "SOCKET_KEYS", "SOCKET_IGNORED_KEYS",
    "KEEPALIVE_KEYS", "RESOURCE_LIMITS", "PROCESS_TYPES", "SESSION_TYPES",
]
