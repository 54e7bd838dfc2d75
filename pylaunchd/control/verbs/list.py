"""list: every job's PID, last exit status and label, or one job as
launchctl's old-style dictionary."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Optional

import typer

from ..client import is_domain, parse_domain, parse_service, print_json
from ..listing import format_jobs  # noqa: F401 - the table, shared with the quick path
from ..status import DomainStatus, JobStatus, JobSummary
from ..verb import Arg, Verb

if TYPE_CHECKING:
    from ..service import ControlService


def _quote(v: str) -> str:
    return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'


def format_list_label(info: JobStatus) -> str:
    """launchctl list LABEL: the job as an old-style plist dictionary.
    LastExitStatus is the raw wait status, as launchd shows it (256 = exit 1)."""
    q = _quote
    last = info.last_exit
    raw = 0 if last is None else (last.code << 8 if last.signal is None else last.signal)
    session = "System" if info.domain == "system" else "Background"
    lines = ["{", f'\t"LimitLoadToSessionType" = {q(session)};', f'\t"Label" = {q(info.label)};',
             f'\t"OnDemand" = {"false" if info.keep_alive.always else "true"};',
             f'\t"LastExitStatus" = {raw};']
    if info.pid is not None:
        lines.append(f'\t"PID" = {info.pid};')
    lines.append(f'\t"Program" = {q(info.program)};')
    lines.append('\t"ProgramArguments" = (')
    lines += [f"\t\t{q(a)};" for a in info.arguments]
    lines.append("\t);")
    if info.sockets:
        lines.append('\t"Sockets" = {')
        counts: dict[str, int] = {}
        for s in info.sockets:
            counts[s.name] = counts.get(s.name, 0) + 1
        for name, n in counts.items():
            lines += [f"\t\t{q(name)} = ("] + ["\t\t\tfile-descriptor-object;"] * n + ["\t\t);"]
        lines.append("\t};")
    if info.endpoints:  # launchd shows a Mach port; here each is a D-Bus name
        lines.append('\t"MachServices" = {')
        lines += [f"\t\t{q(e['name'])} = mach-port-object;" for e in info.endpoints]
        lines.append("\t};")
    lines.append("};")
    return "\n".join(lines)


class List(Verb):
    """PID, last exit status and label of every job (launchctl list).

    One line per job, tab-separated: the PID, or - when it does not run; the
    last exit status: the exit code, or minus the signal that killed it (0 if
    it never exited); the label. With a domain (system, user/UID, gui/UID),
    the jobs of that domain's manager. With a LABEL, the job as launchctl's
    dictionary, whose LastExitStatus is the raw wait status (256 = exit 1).
    Plists of the jobs directories that did not load follow on stderr, one
    line each ("not loaded: PATH: why"; see errors), so that stdout stays
    the table scripts read. --json: one object per job with label, pid (null
    when not running), last_exit_status (null before the first exit), state
    (waiting, running, throttled, stopping) and runs; errors --json gives the
    plists that did not load.
    """

    name = "list"
    read_only = True
    sends = ("list", "print", "domain")  # print: list LABEL's details; domain: the jobs and load errors
    args = {"label": Arg(str, help="only this job's summary"),
            "paths": Arg(bool, default=False, help="each job's plist too, as path (services list)")}

    def run(self, label: Optional[str] = typer.Argument(None, help="Only this job, or a domain's jobs."),
            as_json: bool = typer.Option(False, "--json", help="JSON: label, pid, last_exit_status, state, runs."),
            ) -> None:
        domain = None
        if label and is_domain(label):  # list user/0: that domain's jobs
            domain, label = parse_domain(label), None
        if label:
            domain, label = parse_service(label)
            if as_json:
                print_json(self.client.call("list", domain, label=label))
            else:
                print(format_list_label(JobStatus.from_json(self.client.call("print", domain, label=label))))
            return
        if as_json:
            print_json(self.client.call("list", domain))
            return
        info = DomainStatus.from_json(self.client.call("domain", domain))
        print(format_jobs(info.services))
        for e in info.load_errors:
            print(f"not loaded: {e.text}", file=sys.stderr)

    def execute(self, service: ControlService, args: dict) -> object:
        if args["label"]:
            return service.summary(args["label"]).to_json()
        if args["paths"]:
            paths = service.plist_paths()
            return [dict(j.to_json(), path=paths.get(j.label)) for j in service.summaries()]
        return [j.to_json() for j in service.summaries()]
