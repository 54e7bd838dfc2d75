"""The old name of :mod:`pylaunchd.cli.pylaunchd`, kept so that
``python -m pylaunchd.cli.manager`` (in scripts and unit files written before
the rename) still starts the manager."""

from .pylaunchd import main, run, serve  # noqa: F401

if __name__ == "__main__":
    main()
