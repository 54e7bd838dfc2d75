"""load and unload: jobs in and out of the caller's domain by plist."""

from __future__ import annotations

import os
import sys

import typer

from ..client import PATHS
from ..status import PathResult
from ..verb import PATHS_ARG, Arg, Verb


def absolute(paths: list[str]) -> list[str]:
    """The manager runs elsewhere: it gets absolute paths."""
    return [os.path.abspath(p) for p in paths]


def report(results: list, default_status: int = 1) -> int:
    """Print each plist's error on stderr; the first failure's exit status (0: none)."""
    status = 0
    for r in map(PathResult.from_json, results):
        if r.error is not None:
            print(r.error, file=sys.stderr)
            status = status or (r.status if r.status is not None else default_status)
    return status


class Load(Verb):
    """Load jobs from plists (launchctl load).

    A directory loads every plist in it; the jobs of one load are a batch:
    every socket of every job exists before any of them starts. -w enables
    each job persistently, then loads it; -F loads a disabled job once,
    without changing its override. A plist that fails is named on stderr, and
    the exit status is the first failure's: 5 already loaded, 109 an invalid
    plist, 119 disabled, 122 bad ownership or permissions, 134 excluded by
    its LimitLoadTo* keys (or, in the system domain, a plist of a user's
    LaunchAgents directory: load it into that user's domain; -F insists).
    A plist of a watched jobs directory is loaded as the watcher loads it:
    already loaded from that same file is a success (its new version, if
    any, is taken), so copying a plist in and loading it at once, as brew
    services does, gives one answer whether the watcher was first or not;
    one loaded with -F stays forced (the watcher does not undo it) until it
    is unloaded or removed.
    """

    name = "load"
    args = {"paths": PATHS_ARG, "write": Arg(bool, default=False, help="enable each job persistently first"),
            "force": Arg(bool, default=False, help="load disabled jobs too, once")}

    def run(self, paths: list[str] = PATHS,
            write: bool = typer.Option(False, "-w", help="Enable the job persistently, then load it."),
            force: bool = typer.Option(False, "-F", help="Load even if the job is disabled.")) -> None:
        status = report(self.client.call("load", paths=absolute(paths), write=write, force=force))
        if status:
            raise typer.Exit(status)

    def execute(self, service, args):
        results = service.load_paths(args["paths"], force=args["force"], enable=args["write"])
        return [r.to_json() for r in results]


class Unload(Verb):
    """Stop and unload the jobs of plists (launchctl unload).

    -w also disables each job persistently, so that it stays out across
    restarts of the manager. A plist of a watched directory stays unloaded
    until the file changes or the directories are rescanned. A job that is
    not loaded: exit status 3.
    """

    name = "unload"
    args = {"paths": PATHS_ARG, "write": Arg(bool, default=False, help="disable each job persistently too")}

    def run(self, paths: list[str] = PATHS,
            write: bool = typer.Option(False, "-w", help="Also disable the job persistently.")) -> None:
        status = report(self.client.call("unload", paths=absolute(paths), write=write))
        if status:
            raise typer.Exit(status)

    def execute(self, service, args):
        return [r.to_json() for r in service.unload_paths(args["paths"], disable=args["write"])]
