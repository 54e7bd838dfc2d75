"""What the manager tells about its jobs and itself, as typed records shared
by the writer (the control service, in the manager) and the readers
(pylaunchctl's renderers), as s6's ``s6_svstatus_t`` is.

Each record's ``to_json()`` is the reply's JSON exactly as the protocol has
always sent it (same keys, same order, same values); ``from_json()`` reads it
back and ignores keys it does not know, since new ones may be added.
Standard library only: pylaunchctl imports it.
"""

from __future__ import annotations

from typing import Any, ClassVar, Optional, dataclass_transform

from ..addresses import address_text

# A job's state, as ``list --json`` and ``print`` show it.
WAITING = "waiting"  # not running; its sockets are watched
THROTTLED = "throttled"  # a start is due, held back by ThrottleInterval
RUNNING = "running"  # a process runs
STOPPING = "stopping"  # SIGTERM sent; SIGKILL follows after ExitTimeOut
STATES = (WAITING, THROTTLED, RUNNING, STOPPING)


_SCALARS = frozenset({str, int, float, bool})


def _plain(value: Any) -> Any:
    if isinstance(value, Record):
        return value.to_json()
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


@dataclass_transform()
class Record:
    """A record whose fields are its annotations, in order, as a dataclass's:
    ``__init__``, ``==``, ``repr``, ``to_json()`` (the fields in order) and
    ``from_json()``. Not a dataclass because pylaunchctl defines these ten at
    every start: ``@dataclass`` costs about 0.7 ms a class (7 ms of a 100 ms
    start, measured), this about nothing. A class attribute is a default."""

    _fields: ClassVar[tuple[str, ...]] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        own = [n for n, t in cls.__dict__.get("__annotations__", {}).items() if not str(t).startswith("ClassVar")]
        cls._fields = cls._fields + tuple(own)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        fields = self._fields
        if len(args) == len(fields) and not kwargs:  # the common case, made cheap: list makes 10,000
            self.__dict__.update(zip(fields, args))
            return
        if len(args) > len(self._fields):
            raise TypeError(f"{type(self).__name__} takes {len(self._fields)} fields, not {len(args)}")
        values = dict(zip(self._fields, args))
        for key, value in kwargs.items():
            if key not in self._fields or key in values:
                raise TypeError(f"{type(self).__name__}: unknown or repeated field {key!r}")
            values[key] = value
        missing = [n for n in self._fields if n not in values and not hasattr(type(self), n)]
        if missing:
            raise TypeError(f"{type(self).__name__}: missing {', '.join(missing)}")
        for key, value in values.items():
            setattr(self, key, value)

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and all(getattr(self, n) == getattr(other, n) for n in self._fields)

    __hash__ = None  # type: ignore[assignment] - mutable, as a dataclass's

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(f'{n}={getattr(self, n)!r}' for n in self._fields)})"

    def to_json(self) -> dict:
        out = {}
        for n in self._fields:
            value = getattr(self, n)
            out[n] = value if value is None or type(value) in _SCALARS else _plain(value)
        return out

    @classmethod
    def from_json(cls, data: dict):
        """The record from its JSON; keys it does not know are ignored."""
        if len(data) == len(cls._fields) and all(k in data for k in cls._fields):
            return cls(*[data[k] for k in cls._fields])
        return cls(**{k: v for k, v in data.items() if k in cls._fields})


class JobSummary(Record):
    """One row of ``list``: what every job shows."""

    label: str
    pid: Optional[int]
    last_exit_status: Optional[int]  # exit code, or minus the signal; None before the first exit
    state: str  # one of STATES
    runs: int

    def to_json(self) -> dict:  # Record's, written out: list sends 10,000 of them
        return {"label": self.label, "pid": self.pid, "last_exit_status": self.last_exit_status,
                "state": self.state, "runs": self.runs}


class LastExit(Record):
    code: Optional[int]
    signal: Optional[int]
    description: str


class KeepAlive(Record):
    always: bool
    successful_exit: Optional[bool]
    crashed: Optional[bool]


class Inetd(Record):
    wait: bool


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


class JobStatus(JobSummary):
    """Everything ``print SERVICE`` shows of one job."""

    to_json = Record.to_json  # every field, not JobSummary's five

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
    # Added by issue 10 (defaults: a reply from an older manager lacks them).
    ready: bool = False  # the running process sent READY=1 (sd_notify)
    status_text: Optional[str] = None  # its last STATUS= text
    watchdog_interval: int = 0  # WatchdogInterval, seconds; 0: none
    daemon_pid: Optional[int] = None  # a process the job left running when its main process exited
    # Issue 9: the job's MachServices names (dicts: name, bus, state, owner, owner_pid, owned_by_job,
    # hide_until_check_in, activations, last_activation); never mutated
    endpoints: list = []
    # EXTEND_TIMEOUT_USEC= (sd_notify) of a job not ready yet: seconds it has asked for, left; kickstart -w waits them
    ready_extended: Optional[float] = None

    @property
    def summary(self) -> JobSummary:
        return JobSummary(self.label, self.pid, self.last_exit_status, self.state, self.runs)

    @classmethod
    def from_json(cls, data: dict) -> "JobStatus":
        d = {k: v for k, v in data.items() if k in cls._fields}
        d["keep_alive"] = KeepAlive.from_json(d["keep_alive"])
        inetd = d["inetd_compatibility"]
        d["inetd_compatibility"] = None if inetd is None else Inetd.from_json(inetd)
        d["last_exit"] = None if d["last_exit"] is None else LastExit.from_json(d["last_exit"])
        d["sockets"] = [SocketStatus.from_json(s) for s in d["sockets"]]
        return cls(**d)


class LoadErrorStatus(Record):
    """A watched plist that did not load, and why (``errors``)."""

    path: str
    label: Optional[str]  # None when not even its Label could be read
    reason: str  # invalid, bad permissions, in use, socket error, no label
    key_path: str  # "" for the whole file
    message: str
    other_path: Optional[str] = None  # in use: the plist the label is loaded from

    @property
    def text(self) -> str:
        """One line: ``PATH: KEY: MESSAGE``."""
        named = self.key_path and self.reason == "invalid" and not self.message.startswith(f"{self.key_path}: ")
        return f"{self.path}: {self.key_path}: {self.message}" if named else f"{self.path}: {self.message}"


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
    load_errors: list = []  # of LoadErrorStatus (issue 11: an older manager lacks them); never mutated
    # Issue 9: the domain's bus (address, type, connected, activator, unique_name, bus_job, service_dir,
    # names), or None when the domain has none
    bus: Optional[dict] = None

    @classmethod
    def from_json(cls, data: dict) -> "DomainStatus":
        d = {k: v for k, v in data.items() if k in cls._fields}
        d["services"] = [JobSummary.from_json(s) for s in d["services"]]
        d["load_errors"] = [LoadErrorStatus.from_json(e) for e in d.get("load_errors", ())]
        return cls(**d)


class ManagerInfo(Record):
    """The manager itself: ``managerpid``, ``manageruid``, ``version``."""

    pid: int
    uid: int
    domain: str
    version: str
    jobs_dirs: list
    control_socket: str
    reexecs: int = 0  # re-execs since the manager started (pylaunchctl reexec, SIGUSR2)
    reexec_note: Optional[str] = None  # what the last re-exec could not restore, if anything
    reexec_gap: Optional[float] = None  # seconds from the last exec to the new process having taken over

    @property
    def session(self) -> str:
        """launchd's session type: System, or Background for a per-user manager."""
        return "System" if self.domain == "system" else "Background"


class PathResult(Record):
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


class LogTail(Record):
    """A job's log lines (``log``), and the sequence number to follow from."""

    label: str
    path: Optional[str]
    lines: list
    seq: Any


class Blame(Record):
    """Why a job last started (``blame``)."""

    label: str
    reason: Optional[str]
    running: bool
