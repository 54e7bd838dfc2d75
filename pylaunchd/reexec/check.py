"""``python -m pylaunchd.reexec.check STATE``: can the code installed now take over?

Run by the old manager in a fresh interpreter before it execs (:mod:`.exec`):
it imports everything a manager runs (the command line, the loop's modules,
the control server and every verb) and reads the state file with the new
code's reader. Exit 0 and print the version when all is well; otherwise exit
1 with the reason on stderr, and the old manager keeps running untouched.
"""

from __future__ import annotations

import os
import sys


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python -m pylaunchd.reexec.check STATE PID", file=sys.stderr)
        return 2
    path, pid = argv[0], int(argv[1])
    try:
        import pylaunchd
        from pylaunchd.cli import pylaunchd as _cli  # noqa: F401
        from pylaunchd import manager as _manager  # noqa: F401
        from pylaunchd.control import server as _server  # noqa: F401
        from pylaunchd.reexec import restore as _restore  # noqa: F401
        from pylaunchd.reexec.state import read
    except Exception as e:  # whatever the new code raises
        print(f"the installed code does not import: {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    try:
        state = read(path, pid)
    except Exception as e:
        print(f"the installed code cannot read the state: {e}", file=sys.stderr)
        return 1
    print(f"pylaunchd {pylaunchd.__version__} at {os.path.dirname(pylaunchd.__file__)}: "
          f"{len(state['jobs'])} job(s) in the state")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
