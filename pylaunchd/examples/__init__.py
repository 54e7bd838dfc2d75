"""Small programs the example jobs in LaunchAgents/ and LaunchDaemons/ run.

They ship inside the package (rather than beside the plists) so that the
example plists can start them as ``python3 -m pylaunchd.examples.NAME`` from
any working directory, with nothing but pylaunchd installed. Not part of the
public API.
"""
