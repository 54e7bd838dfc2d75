"""What the manager tells about its jobs and itself, as typed records shared
by the writer (the control service, in the manager) and the readers
(pylaunchctl's renderers), as s6's ``s6_svstatus_t`` is.

Each record's ``to_json()`` is the reply's JSON exactly as the protocol has
always sent it (same keys, same order, same values); ``from_json()`` reads it
back and ignores keys it does not know, since new ones may be added.
Standard library only: pylaunchctl imports it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Optional

# A job's state, as ``list --json`` and ``print`` show it.
WAITING = "waiting"  # not running; its sockets are watched
THROTTLED = "throttled"  # a start is due, held back by ThrottleInterval
RUNNING = "running"  # a process runs
STOPPING = "stopping"  # SIGTERM sent; SIGKILL follows after ExitTimeOut
STATES = (WAITING, THROTTLED, RUNNING, STOPPING)


def address_text(address: dict) -> str:
    """A socket address as ``print`` and the manager's log write it: the
    path of a unix socket, ``host:port``, or ``[v6 host]:port``."""
    if "path" in address:
        return address["path"]
    host = address["host"]
    return f"[{host}]:{address['port']}" if ":" in host else f"{host}:{address['port']}"


def _known(cls, data: dict) -> dict:
    names = {f.name for f in dataclasses.fields(cls)}
    return {k: v for k, v in data.items() if k in names}


class Record:
    """to_json()/from_json() for a flat dataclass."""

    def to_json(self) -> dict:
        return dataclasses.asdict(self)  # type: ignore[call-overload]

    @classmethod
    def from_json(cls, data: dict):
        return cls(**_known(cls, data))  # type: ignore[arg-type]


@dataclass
class JobSummary(Record):
    """One row of ``list``: what every job shows."""

    label: str
    pid: Optional[int]
    last_exit_status: Optional[int]  # exit code, or minus the signal; None before the first exit
    state: str  # one of STATES
    runs: int


@dataclass
class LastExit(Record):
    code: Optional[int]
    signal: Optional[int]
    description: str


@dataclass
class KeepAlive(Record):
    always: bool
    successful_exit: Optional[bool]
    crashed: Optional[bool]


@dataclass
class Inetd(Record):
    wait: bool


@dataclass
class SocketStatus(Record):
    """One open socket of a job (a ``Sockets`` entry may have several)."""

    name: str
    family: str  # IPv4, IPv6, Unix
    type: str  # stream, dgram, seqpacket
    address: dict  # {"host", "port"} or {"path"}
    passive: bool
    fd: Optional[int]
    accepted: int  # connections the manager accepted (inetd Wait false)
    triggers: int  # times a client on it started the job
    last_trigger: Optional[float]  # Unix time of the latest

    @property
    def address_text(self) -> str:
        return address_text(self.address)


@dataclass
class JobStatus(JobSummary):
    """Everything ``print SERVICE`` shows of one job."""

    domain: str
    type: str  # LaunchDaemon, LaunchAgent
    path: Optional[str]  # None for a submitted job
    program: str
    arguments: list
    environment: dict
    working_directory: Optional[str]
    stdin_path: Optional[str]
    stdout_path: Optional[str]
    stderr_path: Optional[str]
    run_at_load: bool
    keep_alive: KeepAlive
    throttle_interval: float
    exit_timeout: float
    inetd_compatibility: Optional[Inetd]
    last_exit: Optional[LastExit]
    last_trigger: Optional[str]  # why it last started, as blame
    throttled_for: Optional[float]  # seconds until a throttled start
    instances: list  # inetd Wait false PIDs
    spawn_error: Optional[str]
    warnings: list
    ignored_keys: list
    watching_sockets: bool
    sockets: list  # of SocketStatus

    @property
    def summary(self) -> JobSummary:
        return JobSummary(self.label, self.pid, self.last_exit_status, self.state, self.runs)

    @classmethod
    def from_json(cls, data: dict) -> "JobStatus":
        d = _known(cls, data)
        d["keep_alive"] = KeepAlive.from_json(d["keep_alive"])
        inetd = d["inetd_compatibility"]
        d["inetd_compatibility"] = None if inetd is None else Inetd.from_json(inetd)
        d["last_exit"] = None if d["last_exit"] is None else LastExit.from_json(d["last_exit"])
        d["sockets"] = [SocketStatus.from_json(s) for s in d["sockets"]]
        return cls(**d)


@dataclass
class DomainStatus(Record):
    """``print DOMAIN``: the domain, its manager and its jobs."""

    domain: str  # system, user/UID
    type: str
    pid: int
    uid: int
    jobs_dirs: list
    control_socket: str
    state_dir: str
    environment: dict
    disabled: dict  # label -> disabled?
    services: list  # of JobSummary

    @classmethod
    def from_json(cls, data: dict) -> "DomainStatus":
        d = _known(cls, data)
        d["services"] = [JobSummary.from_json(s) for s in d["services"]]
        return cls(**d)


@dataclass
class ManagerInfo(Record):
    """The manager itself: ``managerpid``, ``manageruid``, ``version``."""

    pid: int
    uid: int
    domain: str
    version: str
    jobs_dirs: list
    control_socket: str

    @property
    def session(self) -> str:
        """launchd's session type: System, or Background for a per-user manager."""
        return "System" if self.domain == "system" else "Background"


@dataclass
class PathResult:
    """What became of one plist of a ``load`` or ``unload``: its label, or an
    error with the exit status it calls for."""

    path: str
    label: Optional[str] = None
    error: Optional[str] = None
    status: Optional[int] = None

    def to_json(self) -> dict:
        if self.error is None:
            return {"path": self.path, "label": self.label}
        return {"path": self.path, "error": self.error, "status": self.status}

    @classmethod
    def from_json(cls, data: dict) -> "PathResult":
        return cls(**_known(cls, data))


@dataclass
class LogTail(Record):
    """A job's log lines (``log``), and the sequence number to follow from."""

    label: str
    path: Optional[str]
    lines: list
    seq: Any


@dataclass
class Blame(Record):
    """Why a job last started (``blame``)."""

    label: str
    reason: Optional[str]
    running: bool
