"""``python -m pylaunchd``: the manager, as ``pylaunchd-python`` runs it (the
``pylaunchd`` command is the C front end, pylaunchd/_prebind.c, which execs that).

The cyclic garbage collector is off until boot has started its jobs
(:func:`pylaunchd.cli.pylaunchd.serve` turns it on again): the imports and
plists before the first spawn build no garbage worth a collection, and its
passes over them cost several milliseconds of that path.
"""

import gc

gc.disable()

from .cli.pylaunchd import main  # noqa: E402

main()
