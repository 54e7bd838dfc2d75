"""The manager's logger, for the modules on the way to the first socket.

``import logging`` (traceback, linecache, tokenize, threading, string) is
about a fifth of what a warm start does before its sockets listen, and
nothing there usually logs. :data:`log` stands for the ``pylaunchd``
logger and imports logging on its first use only; the command line
(:mod:`pylaunchd.cli.pylaunchd`) registers how logging is set up with
:func:`configure_with`, which runs then (or when the CLI asks for it after
the sockets listen), so the first message is formatted as every other.
"""

from __future__ import annotations

_configure = None  # how the CLI sets logging up, until it has


def configure_with(configure) -> None:
    """Set logging up with *configure()* on the first use of :data:`log` (or :func:`configure`)."""
    global _configure
    _configure = configure


def configure() -> None:
    """Set logging up now, if it has not been."""
    global _configure
    run, _configure = _configure, None
    if run is not None:
        run()


class _Log:
    def __getattr__(self, name: str):
        import logging
        configure()
        return getattr(logging.getLogger("pylaunchd"), name)


log = _Log()
