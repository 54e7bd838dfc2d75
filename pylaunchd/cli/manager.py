"""The old name of :mod:`pylaunchd.cli.pylaunchd`, kept so that
``python -m pylaunchd.cli.manager`` (in scripts and unit files written before
the rename) still starts the manager."""

from .pylaunchd import main, serve

__all__ = ["main", "serve"]

if __name__ == "__main__":
    main()
