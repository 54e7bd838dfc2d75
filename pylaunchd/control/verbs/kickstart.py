"""kickstart and kill: act on a service's process now."""

from __future__ import annotations

import signal
import sys
import time
from typing import TYPE_CHECKING

import typer

from ..client import SERVICE, fail, parse_service
from ..errors import EXIT_NO_SUCH_PROCESS, EXIT_TIMED_OUT, EXIT_USAGE
from ..status import RUNNING, STOPPING, THROTTLED, JobStatus, JobSummary
from ..verb import LABEL_ARG, Arg, Verb

if TYPE_CHECKING:
    from ..service import ControlService

KICKSTART_WAIT = 30.0  # seconds -k/-p wait for the new process


class Kickstart(Verb):
    """Run a service now, whatever its launch conditions and throttle.

    As launchctl kickstart. -k: if it runs, kill it (SIGTERM, then SIGKILL after its ExitTimeOut)
    and start it again at once. -p: print the PID of the process that runs
    (with -k, of the new one); on a terminal, "service spawned with pid:
    PID"; if that process has already exited, it says so and exits 3.
    blame then says "kickstart by user". -w: wait until the job is
    ready, i.e. its process sent READY=1 on NOTIFY_SOCKET (systemd's
    sd_notify; docs/container.md), at most --timeout seconds (default 30);
    it fails with 60 (timed out) if it does not, 3 if the process exits first
    (also when KeepAlive is to start another);
    a job that sends EXTEND_TIMEOUT_USEC= is waited for at least that long.
    Readiness never delays a client of its sockets: -w only waits.
    """

    name = "kickstart"
    sends = ("kickstart", "list", "print")  # list: -p and -k wait for the new process; print: -w
    args = {"label": LABEL_ARG, "kill": Arg(bool, default=False, help="kill a running instance first")}

    def run(self, target: str = SERVICE,
            kill: bool = typer.Option(False, "-k", help="If it runs, kill it and start it again."),
            print_pid: bool = typer.Option(False, "-p", help="Print the PID of the running process."),
            wait_ready: bool = typer.Option(False, "-w", help="Wait until it sends READY=1 (sd_notify)."),
            timeout: float = typer.Option(KICKSTART_WAIT, "--timeout", help="Seconds -w waits.")) -> None:
        domain, label = parse_service(target)
        waits = print_pid or kill or wait_ready
        before = JobSummary.from_json(self.client.call("list", domain, label=label)).runs if waits else 0
        info = JobSummary.from_json(self.client.call("kickstart", domain, label=label, kill=kill))
        if not waits:
            return
        info = self._wait_started(domain, label, info, before)
        if wait_ready:
            self._wait_ready(domain, label, timeout, info.runs)
        if print_pid and info.pid is not None:
            print(info.pid if not sys.stdout.isatty() else f"service spawned with pid: {info.pid}")
        elif print_pid:
            fail(f"{label} was started and has already exited: last exit {info.last_exit_status}",
                 EXIT_NO_SUCH_PROCESS)

    def _wait_started(self, domain, label: str, info: JobSummary, before: int) -> JobSummary:
        """Poll until the new process runs, or has run and exited already (its
        run is counted, or its spawn failed and it is throttled: a job whose
        every start fails is not waited for)."""
        deadline = time.monotonic() + KICKSTART_WAIT
        while (info.state == STOPPING or (info.pid is None and info.runs <= before and info.state != THROTTLED)) \
                and time.monotonic() < deadline:
            time.sleep(0.05)  # the manager starts it on its loop: poll for the new process
            info = JobSummary.from_json(self.client.call("list", domain, label=label))
        return info

    def _wait_ready(self, domain, label: str, timeout: float, runs: int) -> None:
        """Poll until the process kickstart started (the job's run *runs*) is
        ready; it exited first when it no longer runs, also when KeepAlive
        is to start another (throttled, or started already)."""
        deadline = time.monotonic() + timeout
        while True:
            info = JobStatus.from_json(self.client.call("print", domain, label=label))
            if info.ready:
                return
            if info.ready_extended:  # EXTEND_TIMEOUT_USEC=: the job asked for longer
                deadline = max(deadline, time.monotonic() + info.ready_extended)
            if (info.pid is None and info.state != RUNNING and info.runs) or info.runs > runs:
                fail(f"{label} exited before it was ready (READY=1): last exit {info.last_exit_status}",
                     EXIT_NO_SUCH_PROCESS)
            if time.monotonic() >= deadline:
                said = f" (its last STATUS: {info.status_text})" if info.status_text else ""
                fail(f"timed out after {timeout:g} s waiting for {label} to send READY=1 on NOTIFY_SOCKET{said}",
                     EXIT_TIMED_OUT)
            time.sleep(0.05)  # readiness is the job's to send: poll the manager

    def execute(self, service: ControlService, args: dict) -> dict:
        return service.kickstart(args["label"], kill=args["kill"]).to_json()


def parse_signal(text: str) -> int:
    """A signal number from a name (TERM, SIGHUP, hup) or a number; ValueError if neither."""
    name = text.upper()
    try:
        return int(name) if name.isdigit() else int(signal.Signals[name if name.startswith("SIG") else "SIG" + name])
    except KeyError:
        raise ValueError(text) from None


def _is_signal(number: int) -> bool:
    return number in {s.value for s in signal.Signals}


class Kill(Verb):
    """Send a signal to a service's process. KeepAlive decides what follows.

    As launchctl kill: SIGNAL is a name (TERM, SIGHUP) or a number. A job with no process:
    exit status 3, "No process to signal."; an unknown signal: 64.
    """

    name = "kill"
    args = {"label": LABEL_ARG,
            "signal": Arg(int, required=True, check=_is_signal, error="Invalid signal.", help="the signal number")}

    def run(self,
            signal_name: str = typer.Argument(..., metavar="SIGNAL", help="A signal name (TERM, SIGHUP) or number."),
            target: str = SERVICE) -> None:
        try:
            sig = parse_signal(signal_name)
        except ValueError:
            fail("Invalid signal.", EXIT_USAGE)
        domain, label = parse_service(target)
        self.client.call("kill", domain, label=label, signal=sig)

    def execute(self, service: ControlService, args: dict) -> dict:
        return {"pids": service.signal(args["label"], args["signal"])}
