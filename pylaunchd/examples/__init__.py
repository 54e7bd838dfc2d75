"""Small programs the example jobs in LaunchAgents/ and LaunchDaemons/ run.

They ship inside the package (rather than beside the plists) so that the
example plists can start them as ``"$PYLAUNCHD_PYTHON" -m
pylaunchd.examples.NAME`` from any working directory: ``PYLAUNCHD_PYTHON`` is
the manager's own interpreter, which has pylaunchd whatever ``python3`` is
first on PATH. Not part of the public API.
"""
