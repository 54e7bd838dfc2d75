"""KeepAlive: why a job must run (again), as pure functions of its spec and the facts.

launchd ORs the conditions of a ``KeepAlive`` dictionary. Two kinds:

* after an exit (:func:`reason_after_exit`): ``true``, ``SuccessfulExit``
  and ``Crashed`` look at how it exited; a crash we caused (SIGKILL after
  our SIGTERM) is not a crash;
* at any time (:func:`condition_reason`): ``PathState``,
  ``OtherJobEnabled``, ``OtherJobActive``, ``NetworkState`` and
  ``QueueDirectories`` look at the world, as last told to the machine;
  ``AfterInitialDemand`` holds them all back until the job was started on
  demand once.

Each answer is the reason shown by ``pylaunchctl blame``, or None.
"""

from __future__ import annotations

from typing import Mapping

from .jobtypes import NETWORK, QUEUE, ExitStatus, Fact, Log
from .spec import JobSpec


def reason_after_exit(spec: JobSpec, exit: ExitStatus, stopped_by_us: bool, demanded: bool,
                      facts: Mapping[Fact, bool]) -> str | None:
    """Why the job must run again after this exit, or None."""
    ka = spec.keep_alive
    if ka.always:
        return "KeepAlive"
    if not (ka.after_initial_demand and not demanded):
        if ka.successful_exit is True and exit.clean:
            return "KeepAlive SuccessfulExit: exited cleanly"
        if ka.successful_exit is False and not exit.clean:
            return f"KeepAlive SuccessfulExit false: exited with {exit.describe()}"
        if ka.crashed is True and exit.crashed and not stopped_by_us:
            return f"KeepAlive Crashed: {exit.describe()}"
        if ka.crashed is False and not exit.crashed:
            return "KeepAlive Crashed false: exited without crashing"
    return condition_reason(spec, demanded, facts)


def condition_reason(spec: JobSpec, demanded: bool, facts: Mapping[Fact, bool]) -> str | None:
    """The conditions that depend on the state of the world rather than on
    the last exit, ORed."""
    if spec.queue_directories and facts.get(QUEUE):
        return "QueueDirectories: a directory is not empty"
    ka = spec.keep_alive
    if ka.after_initial_demand and not demanded:
        return None
    for path, want in ka.path_state:
        if facts.get(Fact.path(path), False) == want:
            return f"KeepAlive PathState: {path} {'exists' if want else 'does not exist'}"
    for label, want in ka.other_job_enabled:
        if facts.get(Fact.loaded(label), False) == want:
            return f"KeepAlive OtherJobEnabled: {label} {'is' if want else 'is not'} loaded"
    for label, want in ka.other_job_active:
        if facts.get(Fact.active(label), False) == want:
            return f"KeepAlive OtherJobActive: {label} {'is' if want else 'is not'} running"
    if ka.network_state is not None and NETWORK in facts and facts[NETWORK] == ka.network_state:
        return f"KeepAlive NetworkState: the network is {'up' if ka.network_state else 'down'}"
    if ka.after_initial_demand and demanded and not (
            ka.successful_exit is not None or ka.crashed is not None or ka.path_state
            or ka.other_job_enabled or ka.other_job_active or ka.network_state is not None):
        return "KeepAlive AfterInitialDemand: started on demand before"
    return None


def exit_log(exit: ExitStatus, ran: float) -> Log:
    """launchd's line for an exit of the main process."""
    if exit.signal is not None:
        if exit.crashed:
            return Log("warning", f"Job appears to have crashed: {exit.describe()}")
        return Log("info", f"Exited: {exit.describe()} after {ran:.1f} s")
    if exit.code:
        return Log("warning", f"Exited with code: {exit.code} after {ran:.1f} s")
    return Log("info", f"Exited with code: 0 after {ran:.1f} s")
