"""The data model of a job: frozen records (:mod:`pylaunchd.record`), the typed form of a job plist.

:class:`JobSpec` and its parts are built by :func:`pylaunchd.validate.validate`
and never change afterwards; a reload builds a new one. Nothing here reads a
file or checks a value: the types and defaults are the whole contract.
"""

from __future__ import annotations

from .plistvalues import Problem
from .record import Record, field
from .socketspec import SocketGroupSpec, SocketSpec

TYPE_CHECKING = False
if TYPE_CHECKING:
    from .triggers.calendar import CalendarInterval

__all__ = ["DEFAULT_THROTTLE_INTERVAL", "DEFAULT_EXIT_TIMEOUT", "SocketSpec", "SocketGroupSpec",
           "KeepAliveSpec", "InetdSpec", "BusNameSpec", "JobSpec"]

DEFAULT_THROTTLE_INTERVAL = 10
DEFAULT_EXIT_TIMEOUT = 20


class KeepAliveSpec(Record):
    """``KeepAlive``: ``always`` for ``true``; the dictionary's conditions
    otherwise, ORed."""

    always: bool = False
    successful_exit: bool | None = None
    crashed: bool | None = None
    path_state: tuple[tuple[str, bool], ...] = ()
    other_job_enabled: tuple[tuple[str, bool], ...] = ()
    other_job_active: tuple[tuple[str, bool], ...] = ()
    network_state: bool | None = None
    after_initial_demand: bool | None = None

    @property
    def implies_run_at_load(self) -> bool:
        return self.always or self.successful_exit is not None or self.crashed is not None

    @property
    def has_conditions(self) -> bool:
        return bool(self.always or self.successful_exit is not None or self.crashed is not None
                    or self.path_state or self.other_job_enabled or self.other_job_active
                    or self.network_state is not None or self.after_initial_demand is not None)


class InetdSpec(Record):
    wait: bool = False
    instances: int | None = None  # Wait false: most instances at once (None: the default, 128)


class BusNameSpec(Record):
    """One ``MachServices`` entry: a D-Bus well-known name the job serves on demand."""

    name: str
    hide_until_check_in: bool = False  # not activatable until the job runs and owns it
    reset_at_close: bool = False  # accepted: D-Bus always tells callers when the owner goes


class JobSpec(Record):
    label: str
    path: str | None = field(compare=False)  # a renamed plist is the same job
    program: str | None
    arguments: tuple[str, ...]
    environment: tuple[tuple[str, str], ...] = ()
    working_directory: str | None = None
    stdin_path: str | None = None
    stdout_path: str | None = None
    stderr_path: str | None = None
    umask: int | None = None
    nice: int | None = None
    run_at_load: bool = False
    keep_alive: KeepAliveSpec = KeepAliveSpec()
    throttle_interval: int = DEFAULT_THROTTLE_INTERVAL
    exit_timeout: int = DEFAULT_EXIT_TIMEOUT
    start_interval: int | None = None
    start_calendar: tuple[CalendarInterval, ...] = ()
    watch_paths: tuple[str, ...] = ()
    queue_directories: tuple[str, ...] = ()
    start_on_mount: bool = False
    launch_only_once: bool = False
    abandon_process_group: bool = False
    watchdog_interval: int = 0  # WatchdogInterval (pylaunchd): seconds between WATCHDOG=1; 0: none
    disabled: bool = False
    sockets: tuple[SocketGroupSpec, ...] = ()
    mach_services: tuple[BusNameSpec, ...] = ()  # MachServices: D-Bus names started on demand
    inetd: InetdSpec | None = None
    enable_globbing: bool = False
    user_name: str | None = None
    group_name: str | None = None
    init_groups: bool = True
    root_directory: str | None = None
    process_type: str | None = None  # Background | Standard | Adaptive | Interactive
    low_priority_io: bool = False
    low_priority_background_io: bool = False
    soft_limits: tuple[tuple[str, int], ...] = ()
    hard_limits: tuple[tuple[str, int], ...] = ()
    limit_load_to_hosts: tuple[str, ...] = ()
    limit_load_from_hosts: tuple[str, ...] = ()
    limit_load_to_session_type: tuple[str, ...] = ()
    # Not part of the job's identity: two specs that differ only here are equal.
    warnings: tuple[Problem, ...] = field(default=(), compare=False)  # each is also its text
    ignored_keys: tuple[str, ...] = field(default=(), compare=False)

    @property
    def executable(self) -> str:
        """The file to execute: ``Program``, else ``ProgramArguments[0]``."""
        return self.program if self.program is not None else self.arguments[0]

    @property
    def argv(self) -> tuple[str, ...]:
        """argv as launchd builds it: ``ProgramArguments``, else ``[Program]``."""
        return self.arguments if self.arguments else (self.program or "",)

    @property
    def search_path(self) -> bool:
        """Without ``Program``, ``ProgramArguments[0]`` is looked up on PATH."""
        return self.program is None

    @property
    def inetd_nowait(self) -> bool:
        return self.inetd is not None and not self.inetd.wait
