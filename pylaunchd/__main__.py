"""``python -m pylaunchd``: the manager, as the ``pylaunchd`` command."""

from .cli.pylaunchd import main

main()
