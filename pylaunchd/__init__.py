"""pylaunchd: launchd's ideas for Linux.

The manager creates every job's sockets before any job runs, starts jobs on
their first connection, keeps them alive by their KeepAlive rule and reloads
its job directories by itself. See docs/architecture.md for the module map.
"""

__version__ = "0.1.0"
