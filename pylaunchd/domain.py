"""Domains: where a manager looks for jobs, listens for control, keeps state.

Two kinds, as in launchd: the system domain (``pylaunchd --system``, root,
``LaunchDaemons``) and a per-user domain (``pylaunchd --user``, ``LaunchAgents``).
The enabled/disabled overrides set by ``pylaunchctl load -w``/``unload -w`` live
in the domain's state directory, outside the plists, as launchd keeps them.
"""

from __future__ import annotations

import os

TYPE_CHECKING = False  # typing itself is not imported on the way to the first socket
if TYPE_CHECKING:  # the CLI imports this module for its default paths: keep it light
    from .jobspec import JobSpec


def _xdg(var: str, default: str) -> str:
    value = os.environ.get(var)
    return value if value and os.path.isabs(value) else os.path.expanduser(default)


def default_control_socket(system: bool) -> str:
    """Where a manager listens and where pylaunchctl looks for it. Without
    XDG_RUNTIME_DIR (no PAM session made one: ``su``, ``runuser``, cron, a
    container) a per-user manager uses ``/tmp/pylaunchd-UID``, which
    :func:`pylaunchd.control.listener.secure_directory` requires to be a
    directory of that user's that nobody else can write."""
    override = os.environ.get("PYLAUNCHD_CONTROL_SOCKET")
    if override:
        return override
    if system:
        return "/run/pylaunchd/control.sock"
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime and os.path.isabs(runtime):
        return os.path.join(runtime, "pylaunchd", "control.sock")
    import tempfile  # here: not on the path to the first socket
    return os.path.join(tempfile.gettempdir(), f"pylaunchd-{os.getuid()}", "control.sock")


def user_control_socket(uid: int) -> str:
    """Where the per-user manager of *uid* listens (PYLAUNCHD_CONTROL_SOCKET
    wins; for another user, /run/user/UID or the /tmp fallback, whichever exists)."""
    if uid == os.getuid() or os.environ.get("PYLAUNCHD_CONTROL_SOCKET"):
        return default_control_socket(False)
    runtime = os.path.join("/run/user", str(uid), "pylaunchd", "control.sock")
    import tempfile
    fallback = os.path.join(tempfile.gettempdir(), f"pylaunchd-{uid}")
    # Only root sees into those 0700 directories; anyone sees whether the fallback's exists.
    if os.path.exists(runtime) or not os.path.isdir(fallback):
        return runtime
    return os.path.join(fallback, "control.sock")


def default_jobs_dirs(system: bool) -> list[str]:
    if system:
        return ["/Library/LaunchDaemons", "/etc/pylaunchd/LaunchDaemons"]
    config = _xdg("XDG_CONFIG_HOME", "~/.config")
    return [os.path.expanduser("~/Library/LaunchAgents"), os.path.join(config, "pylaunchd", "LaunchAgents")]


def default_state_dir(system: bool) -> str:
    if system:
        return "/var/lib/pylaunchd"
    return os.path.join(_xdg("XDG_STATE_HOME", "~/.local/state"), "pylaunchd")


SYSTEM_BUS = "unix:path=/run/dbus/system_bus_socket"
SYSTEM_BUS_SERVICES = "/run/pylaunchd/dbus-1/system-services"  # named by contrib's system.d drop-in


def default_bus_address(system: bool) -> str | None:
    """The bus a domain's MachServices names live on: the system bus, or the
    user's session bus at $XDG_RUNTIME_DIR/bus (None without XDG_RUNTIME_DIR)."""
    if system:
        return SYSTEM_BUS
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    return f"unix:path={os.path.join(runtime, 'bus')}" if runtime and os.path.isabs(runtime) else None


def default_bus_service_dir(system: bool) -> str | None:
    """Where the domain writes its .service files: a directory the stock bus
    configuration searches ($XDG_RUNTIME_DIR/dbus-1/services for a session)."""
    if system:
        return SYSTEM_BUS_SERVICES
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    return os.path.join(runtime, "dbus-1", "services") if runtime and os.path.isabs(runtime) else None


def _already(key: str, value: str) -> bool:
    """The manager already runs as this UserName or GroupName (or in this root)."""
    import grp
    import pwd
    try:
        if key == "UserName":
            return pwd.getpwnam(value).pw_uid == os.geteuid()
        if key == "GroupName":
            return grp.getgrnam(value).gr_gid == os.getegid()
    except KeyError:
        return False
    return os.path.realpath(value) == "/"


class Domain:
    """One domain's places and rules. A plain class, not a dataclass: the
    manager builds it before its first socket, where ``dataclasses`` (with
    inspect, ast, dis) would cost more than binding sixty sockets."""

    def __init__(self, system: bool, jobs_dirs: list[str], control_socket: str, state_dir: str,
                 uid: int | None = None, bus_address: str | None = None, bus_service_dir: str | None = None):
        self.system, self.jobs_dirs, self.control_socket, self.state_dir = system, jobs_dirs, control_socket, state_dir
        self.uid = os.getuid() if uid is None else uid
        self.bus_address = bus_address  # the D-Bus bus of MachServices (None: the domain has no bus)
        self.bus_service_dir = bus_service_dir  # where its .service files go

    def __repr__(self) -> str:
        return (f"Domain(system={self.system!r}, jobs_dirs={self.jobs_dirs!r}, control_socket="
                f"{self.control_socket!r}, state_dir={self.state_dir!r}, uid={self.uid!r})")

    def __eq__(self, other):
        return vars(self) == vars(other) if isinstance(other, Domain) else NotImplemented

    __hash__ = None  # mutable, as the dataclass was

    @property
    def bus_type(self) -> str:
        """DBUS_STARTER_BUS_TYPE's value: the system bus or a session bus."""
        return "system" if self.system else "session"

    @property
    def name(self) -> str:
        """launchctl's domain target: ``system`` or ``user/UID``."""
        return "system" if self.system else f"user/{self.uid}"

    @property
    def job_type(self) -> str:
        return "LaunchDaemon" if self.system else "LaunchAgent"

    @property
    def privileged(self) -> bool:
        """Only the system domain's manager, running as root, changes identity."""
        return self.system and os.geteuid() == 0

    def watches(self, path: str) -> bool:
        """*path* (absolute) is a plist of one of the domain's jobs directories."""
        return os.path.dirname(path) in self.jobs_dirs

    def foreign_agent(self, path: str) -> str | None:
        """Why the system domain refuses a plist of a user's agent directory
        (``~/Library/LaunchAgents``, ``~/.config/pylaunchd/LaunchAgents``,
        ``/Library/LaunchAgents``), as launchd keeps agents out of the system
        domain: that user's manager loads it, and a second copy here would
        fight it for its sockets. None when the path is fine."""
        d = os.path.dirname(path)
        if not self.system or d in self.jobs_dirs or not d.endswith(("/Library/LaunchAgents",
                                                                      "/pylaunchd/LaunchAgents")):
            return None
        return (f"{d} holds per-user agents: load it into the user's domain (run pylaunchctl as that user, "
                f"or pylaunchctl --user as root), or copy it to a LaunchDaemons directory; -F loads it here anyway")

    def admit(self, spec: JobSpec) -> JobSpec:
        """The job as this domain will run it: in an unprivileged domain the
        keys that would change the job's user or root are dropped, each with a
        warning, so the job runs as the manager's user and nobody else."""
        if self.privileged:
            return spec
        from .record import replace

        from .plistvalues import WARNING, Problem

        dropped = {}
        warnings = list(spec.warnings)
        for key, attr in (("UserName", "user_name"), ("GroupName", "group_name"),
                          ("RootDirectory", "root_directory")):
            if getattr(spec, attr) is not None:
                dropped[attr] = None
                if _already(key, getattr(spec, attr)):
                    continue  # UserName root under root's own manager: the job runs so anyway
                warnings.append(Problem(WARNING, key, "refused: only the system domain's manager running as "
                                        f"root changes a job's user or root; the job runs as uid {os.geteuid()}"))
        if not dropped:
            return spec
        return replace(spec, **dropped, warnings=tuple(warnings))


    @property
    def session_types(self) -> tuple[str, ...]:
        """launchd session types this domain stands for (LimitLoadToSessionType):
        the system domain is ``System``; a per-user domain is a login session
        without a GUI of its own, so ``Aqua`` (launchd's default for agents),
        ``Background`` and ``StandardIO``. ``LoginWindow`` matches neither."""
        return ("System",) if self.system else ("Aqua", "Background", "StandardIO")

    def file_problem(self, path: str) -> str | None:
        """launchctl's ownership check: why *path* must not be loaded, or None."""
        try:
            st = os.stat(path)
        except OSError as e:
            return f"cannot stat: {e.strerror}"
        return self.stat_problem(st)

    def stat_problem(self, st: os.stat_result) -> str | None:
        """:meth:`file_problem` of a file already stat'ed."""
        if st.st_uid not in (0, self.uid):
            return (f"owned by uid {st.st_uid}, not by {'root' if self.system else f'uid {self.uid} or root'}"
                    f" (launchctl's rule; load -F to override)")
        if st.st_mode & 0o022:
            return (f"mode {oct(st.st_mode & 0o777)[2:]} is group- or world-writable; "
                    f"chmod go-w it (launchctl's rule; load -F to override)")
        return None

    def load_filter(self, spec: JobSpec, hostname: str) -> str | None:
        """Why LimitLoadTo*/LimitLoadFrom* keep *spec* out of this domain, or None."""
        host = hostname.lower()
        if spec.limit_load_to_hosts and host not in {h.lower() for h in spec.limit_load_to_hosts}:
            return f"LimitLoadToHosts does not list this host ({hostname})"
        if host in {h.lower() for h in spec.limit_load_from_hosts}:
            return f"LimitLoadFromHosts lists this host ({hostname})"
        if spec.limit_load_to_session_type and not set(spec.limit_load_to_session_type) & set(self.session_types):
            return (f"LimitLoadToSessionType {', '.join(spec.limit_load_to_session_type)} does not include "
                    f"this domain's session type ({', '.join(self.session_types)})")
        return None


class Overrides:
    """The persistent enabled/disabled state of labels (``load -w``/``unload -w``)."""

    def __init__(self, state_dir: str):
        self.path = os.path.join(state_dir, "overrides.json")
        self._disabled: dict[str, bool] = {}
        try:
            with open(self.path) as f:
                import json  # here: most domains have no overrides file
                data = json.load(f)
            if isinstance(data, dict):
                self._disabled = {k: bool(v) for k, v in data.get("disabled", {}).items()}
        except (OSError, ValueError):
            pass

    def is_disabled(self, label: str, default: bool) -> bool:
        return self._disabled.get(label, default)

    def set_disabled(self, label: str, disabled: bool) -> None:
        self._disabled[label] = disabled
        os.makedirs(os.path.dirname(self.path), mode=0o700, exist_ok=True)
        tmp = f"{self.path}.{os.getpid()}.tmp"
        import json
        with open(tmp, "w") as f:
            json.dump({"disabled": self._disabled}, f, indent=1, sort_keys=True)
        os.replace(tmp, self.path)

    def items(self) -> dict[str, bool]:
        return dict(self._disabled)
