"""services: Homebrew's ``brew services`` verbs, on the requests pylaunchctl
already sends (list, print, load, start, unload, bootout, kickstart)."""

from __future__ import annotations

import os
import pwd
from typing import Any, Optional

import typer

from ..client import fail, parse_service, print_json
from ..errors import EXIT_USAGE, ControlError
from ..protocol import request
from ..status import JobStatus, JobSummary, ManagerInfo
from ..verb import Verb

ACTIONS = ("list", "info", "start", "run", "stop", "restart")


def status_word(job: Optional[JobSummary]) -> str:
    """brew's Status column: started, error CODE, scheduled (loaded, waiting
    for what launches it), none (a plist that is not loaded)."""
    if job is None:
        return "none"
    if job.pid is not None:
        return "started"
    if job.last_exit_status:
        return f"error {job.last_exit_status}"
    return "scheduled"


def _tilde(path: Optional[str]) -> str:
    home = os.path.expanduser("~")
    if path and home != "/" and path.startswith(home + "/"):
        return "~" + path[len(home):]
    return path or ""


def format_table(rows: list[dict]) -> str:
    """Name Status User File, each column as wide as its widest cell, as brew prints it."""
    cells = [["Name", "Status", "User", "File"]] + [
        [r["name"], r["status"], r["user"] or "", _tilde(r["file"])] for r in rows]
    widths = [max(len(c[i]) for c in cells) for i in range(4)]
    return "\n".join(" ".join(c[i].ljust(widths[i]) for i in range(4)).rstrip() for c in cells)


def format_info(r: dict) -> str:
    """brew services info: the name, then Running, Loaded, Schedulable, User, PID."""
    mark = {True: "✔", False: "✘"}
    lines = [f"{r['name']} ({r['service_name']})", f"Running: {mark[r['running']]}", f"Loaded: {mark[r['loaded']]}",
             f"Schedulable: {mark[r['schedulable']]}"]
    if r["user"]:
        lines.append(f"User: {r['user']}")
    if r["pid"] is not None:
        lines.append(f"PID: {r['pid']}")
    if r["exit_code"]:
        lines.append(f"Exit code: {r['exit_code']}")
    return "\n".join(lines)


def _user_name(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


class Services(Verb):
    """Homebrew's brew services verbs: list, info, start, run, stop, restart.

    list: one row per job of the domain, and per plist of its watched
    directories that is not loaded: Name (the label), Status (started: it
    runs; error CODE: its last exit status; scheduled: loaded and waiting for
    what launches it; none: not loaded), User, File. info LABEL: Running,
    Loaded, Schedulable (StartInterval or StartCalendarInterval), User, PID.
    start TARGET (a label, DOMAIN/LABEL or a plist path): a loaded job is
    started (start); one that is not is loaded and enabled persistently from
    its plist (load -w), found in the watched directories by its label. run:
    the same without enabling it (load). stop: unload -w (it stays out; with
    --keep, unload only); a job without a plist is booted out. restart:
    kickstart -k, or start when not loaded. --all: every job of list.
    """

    cli_name = "services"
    sends = ("list", "print", "manager", "load", "start", "unload", "bootout", "kickstart")  # list: with paths

    def run(self, action: str = typer.Argument("list", metavar="list|info|start|run|stop|restart"),
            target: Optional[str] = typer.Argument(None, help="A label, DOMAIN/LABEL or a plist path."),
            every: bool = typer.Option(False, "--all", help="Every service of list."),
            keep: bool = typer.Option(False, "--keep", help="stop: unload, but leave the job enabled."),
            as_json: bool = typer.Option(False, "--json", help="JSON, as brew services --json.")) -> None:
        if action not in ACTIONS:
            fail(f"services: unknown subcommand {action!r}: one of {', '.join(ACTIONS)}", EXIT_USAGE)
        domain, label, path = self._target(target)
        if action == "list":
            rows = self._rows(domain)
            print_json(rows) if as_json else print(format_table(rows))
            return
        if every:
            names = [(r["name"], r["file"]) for r in self._rows(domain)]
        elif label is None:
            fail(f"services {action}: a label or a plist is required (or --all)", EXIT_USAGE)
        else:
            names = [(label, path)]
        for name, file in names:
            if action == "info":
                r = self._info(domain, name)
                print_json(r) if as_json else print(format_info(r))
            else:
                getattr(self, f"_{action}")(domain, name, file, keep)

    # ------------------------------------------------------------ requests

    def _try(self, domain: Optional[str], verb: str, **args: Any) -> Any:
        """A request whose refusal (ControlError) is an answer: None."""
        try:
            return request(self.client.socket_for(domain), verb, args)
        except ControlError:
            return None

    def _target(self, target: Optional[str]) -> tuple[Optional[str], Optional[str], Optional[str]]:
        """(domain, label, plist path) of a label, service target or plist path."""
        if target is None:
            return None, None, None
        if target.endswith(".plist") or os.path.isfile(target):
            from ...plist import label_from_file

            label = label_from_file(target)
            if label is None:
                fail(f"{target}: not a job plist (no Label)", EXIT_USAGE)
            return None, label, os.path.abspath(target)
        domain, label = parse_service(target)
        return domain, label, None

    def _manager(self, domain: Optional[str]) -> ManagerInfo:
        return ManagerInfo.from_json(self.client.call("manager", domain))

    def _unloaded_plists(self, domain: Optional[str], loaded: set[str],
                         loaded_paths: frozenset[str] = frozenset()) -> dict[str, str]:
        """label -> plist path of the watched directories' plists that are not
        loaded. Only the plists no loaded job came from are read: with
        10,000 jobs, reading every one cost seconds."""
        from ...plist import label_from_file, plists_in

        found = {}
        for directory in self._manager(domain).jobs_dirs:
            for p in plists_in(directory):
                if p in loaded_paths:
                    continue
                label = label_from_file(p)
                if label and label not in loaded and label not in found:
                    found[label] = p
        return found

    def _rows(self, domain: Optional[str]) -> list[dict]:
        """One list request for every job and its plist (not a print per job)."""
        user = _user_name(self._manager(domain).uid)
        rows = []
        for data in self.client.call("list", domain, paths=True):
            j = JobSummary.from_json(data)
            rows.append({"name": j.label, "status": status_word(j), "user": user,
                         "file": data.get("path"), "exit_code": j.last_exit_status})
        paths = frozenset(r["file"] for r in rows if r["file"])
        for label, p in sorted(self._unloaded_plists(domain, {r["name"] for r in rows}, paths).items()):
            rows.append({"name": label, "status": "none", "user": None, "file": p, "exit_code": None})
        return sorted(rows, key=lambda r: r["name"])

    def _info(self, domain: Optional[str], label: str) -> dict:
        data = self._try(domain, "print", label=label)
        info = JobStatus.from_json(data) if data else None
        path = info.path if info else self._unloaded_plists(domain, set()).get(label)
        schedulable = False
        if path:
            from ...plist import read_plist

            try:
                raw = read_plist(path)
                schedulable = any(k in raw for k in ("StartInterval", "StartCalendarInterval"))
            except Exception:  # noqa: BLE001 - an unreadable plist is simply not schedulable
                pass
        return {"name": label, "service_name": label, "running": bool(info and info.pid is not None),
                "loaded": info is not None, "schedulable": schedulable,
                "user": _user_name(self._manager(domain).uid) if info else None,
                "pid": info.pid if info else None, "exit_code": info.last_exit_status if info else None,
                "status": status_word(info.summary if info else None), "file": path}

    # ------------------------------------------------------------ actions

    def _load(self, domain: Optional[str], label: str, path: Optional[str], enable: bool) -> None:
        path = path or self._unloaded_plists(domain, set()).get(label)
        if path is None:
            fail(f'Could not find service "{label}" in the domain, nor a plist of that label in its '
                 f"directories", 113)
        from .load import report

        status = report(self.client.call("load", domain, paths=[path], write=enable))
        if status:
            raise typer.Exit(status)
        print(f"==> Successfully started `{label}` (label: {label})")

    def _start(self, domain: Optional[str], label: str, path: Optional[str], keep: bool,
               enable: bool = True) -> None:
        job = self._try(domain, "list", label=label)
        if job is None:
            self._load(domain, label, path, enable)
        elif job.get("pid") is not None:
            print(f"Service `{label}` already started, use `pylaunchctl services restart {label}` to restart.")
        else:
            self.client.call("start", domain, label=label)
            print(f"==> Successfully started `{label}` (label: {label})")

    def _run(self, domain: Optional[str], label: str, path: Optional[str], keep: bool) -> None:
        self._start(domain, label, path, keep, enable=False)

    def _stop(self, domain: Optional[str], label: str, path: Optional[str], keep: bool) -> None:
        data = self._try(domain, "print", label=label)
        if data is None:
            print(f"Service `{label}` is not started.")
            return
        if data.get("path"):
            from .load import report

            status = report(self.client.call("unload", domain, paths=[data["path"]], write=not keep))
            if status:
                raise typer.Exit(status)
        else:
            self.client.call("bootout", domain, label=label)
        print(f"==> Successfully stopped `{label}` (label: {label})")

    def _restart(self, domain: Optional[str], label: str, path: Optional[str], keep: bool) -> None:
        if self._try(domain, "list", label=label) is None:
            self._load(domain, label, path, True)
            return
        self.client.call("kickstart", domain, label=label, kill=True)
        print(f"==> Successfully restarted `{label}` (label: {label})")
