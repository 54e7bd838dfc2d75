"""reexec: the manager execs the code installed now, keeping everything."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import typer

from ..client import JSON, fail, print_json
from ..protocol import ControlError, request
from ..status import ManagerInfo
from ..verb import Verb

if TYPE_CHECKING:
    from ..service import ControlService


class Reexec(Verb):
    """Re-execute the manager: the code installed now takes over, and nothing stops.

    As systemctl daemon-reexec. The manager writes its state to its state
    directory (reexec.json) and execs its own command line, so that pip
    install -U and then reexec is an upgrade. It keeps its PID, every
    listening socket with its queue, every running job (still its child:
    exits are seen, KeepAlive, the throttle and ExitTimeOut apply), inetd
    instances, output pipes, timers, runs and exit history, overrides,
    setenv variables, the control and notify sockets. Clients that connect
    meanwhile wait in the kernel's queue. SIGUSR2 does the same.

    First a fresh interpreter checks that the installed code imports and
    reads the state; if not, the re-exec is refused (exit 1, with the
    reason) and the manager carries on untouched. A new manager that cannot
    read the state loads the plists, adopts the sockets by address and the
    running jobs by PID; version --json shows that as reexec_note.

    Waits until the new process answers, then prints the pause (from the
    request to the control socket answering again, the check included) and
    the gap (from the exec to the new process having taken over: the time
    clients wait in the kernel's queues).
    """

    name = "reexec"
    sends = ("reexec", "manager")  # then asks the new process until it answers

    def run(self, as_json: bool = JSON,
            timeout: float = typer.Option(60.0, "--timeout", help="Seconds to wait for the new process.")) -> None:
        start = time.monotonic()
        reply = self.client.call("reexec")
        deadline, where = start + timeout, self.client.socket_for(None)
        while True:
            try:  # a request the old process took just before its exec is cut: ask again
                info = ManagerInfo.from_json(request(where, "manager", timeout=max(1.0, deadline - time.monotonic())))
                if info.reexecs >= reply["generation"]:
                    break
            except ControlError:
                pass
            if time.monotonic() > deadline:
                fail(f"the manager (pid {reply['pid']}) did not answer as re-executed within {timeout:g} s")
            time.sleep(0.01)
        pause = time.monotonic() - start
        if as_json:
            print_json({"pid": info.pid, "reexecs": info.reexecs, "pause": round(pause, 4), "gap": info.reexec_gap,
                        "version": info.version, "note": info.reexec_note})
            return
        gap = f" ({info.reexec_gap * 1000:.0f} ms from its exec)" if info.reexec_gap is not None else ""
        print(f"pylaunchd {info.version} (pid {info.pid}) re-executed in {pause * 1000:.0f} ms{gap}")
        if info.reexec_note:
            print(f"note: {info.reexec_note}")

    def execute(self, service: ControlService, args: dict):
        return service.reexec()
