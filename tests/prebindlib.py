"""The C front end (pylaunchd/_prebind.c) for tests and benchmarks: build it, run its list mode,
and ask Python's own boot reading (pylaunchd.boot.bind_early) what it would bind.

Importable as ``from prebindlib import ...`` (tests/ is on sys.path under pytest, as conftest
is) and as ``from tests.prebindlib import ...`` from the repository's root.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT / "pylaunchd" / "_prebind.c"
# What the environment of a run must not carry in from the test's own.
_CLEARED = ("PYLAUNCHD_REEXEC", "PYLAUNCHD_PREBOUND", "PYLAUNCHD_PREBIND", "PYLAUNCHD_CONTROL_SOCKET")


def compiler() -> str | None:
    return shutil.which("cc") or shutil.which("gcc")


def build_prebind(tmpdir) -> Path:
    """Compile pylaunchd/_prebind.c into *tmpdir*/pylaunchd (warnings are errors) and return
    its path. FileNotFoundError when there is no C compiler: the caller skips with that reason.
    $PREBIND_CFLAGS adds flags, say ``-fsanitize=address,undefined -fno-sanitize-recover=all``
    to run the tests on a sanitized build."""
    cc = compiler()
    if cc is None:
        raise FileNotFoundError("no C compiler (cc) to build pylaunchd/_prebind.c")
    out = Path(tmpdir) / "pylaunchd"
    extra = os.environ.get("PREBIND_CFLAGS", "").split()
    done = subprocess.run([cc, "-std=gnu11", "-O2", "-Wall", "-Wextra", "-Werror", *extra, "-o", str(out), str(SOURCE)],
                          capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        raise RuntimeError(f"{cc} failed on {SOURCE}:\n{done.stderr}")
    return out


_built: Path | None = None


def built_once(tmp_path_factory) -> Path:
    """build_prebind, once per test session (pytest's tmp_path_factory); pytest.skip without cc."""
    import pytest

    global _built
    if _built is None or not _built.exists():
        try:
            _built = build_prebind(tmp_path_factory.mktemp("prebind"))
        except FileNotFoundError as e:
            pytest.skip(str(e))
    return _built


def install_beside(binary, bin_dir, manager_text: str) -> Path:
    """*binary* installed as *bin_dir*/pylaunchd with a ``pylaunchd-python`` of *manager_text*
    beside it (the layout of an installed pylaunchd); the installed front end's path."""
    bin_dir = Path(bin_dir)
    bin_dir.mkdir(parents=True, exist_ok=True)
    shutil.copy(binary, bin_dir / "pylaunchd")
    manager = bin_dir / "pylaunchd-python"
    manager.write_text(manager_text)
    manager.chmod(0o755)
    return bin_dir / "pylaunchd"


def prebind_fixtures():
    """The fixtures the front end's test modules share, for ``prebind, dom = prebind_fixtures()``
    at module level: ``prebind`` (the binary, built once) and ``dom`` (a private domain: jobs
    dir, state dir, control socket path, and its command line)."""
    import pytest

    @pytest.fixture(scope="session")
    def prebind(tmp_path_factory) -> Path:
        return built_once(tmp_path_factory)

    @pytest.fixture
    def dom(tmp_path):
        jobs, state = tmp_path / "jobs", tmp_path / "state"
        jobs.mkdir()
        state.mkdir()
        control = tmp_path / "control.sock"
        return jobs, state, control, domain_args(jobs, state, control)

    return prebind, dom


def environment(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _CLEARED}
    env.update(extra)
    return env


def domain_args(jobs_dir, state_dir, control) -> list[str]:
    return ["--user", "--jobs-dir", str(jobs_dir), "--state-dir", str(state_dir), "--control-socket", str(control)]


def run_list(binary, args: list[str], **extra_env: str) -> tuple[list[tuple], str]:
    """The list mode's sockets, as (label, family, type, host, port) in order (a unix socket:
    (label, "Unix", type, path, 0)), and its stderr;
    asserts it exited 0."""
    done = subprocess.run([str(binary), *args], env=environment(PYLAUNCHD_PREBIND="list", **extra_env),
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, (done.returncode, done.stderr)
    rows = []
    for line in done.stdout.splitlines():
        label, family, type_, host, port = line.split("\t")
        rows.append((label, family, type_, host, int(port)))
    return rows, done.stderr


def python_binds(jobs_dir, state_dir, control) -> list[tuple]:
    """What the manager's own boot reading binds for the same directory: its sockets as
    (label, family, type, host, port) (a unix socket: (label, "Unix", type, path, 0)), every
    socket closed again and its file removed."""
    from pylaunchd.boot import bind_early
    from pylaunchd.domain import Domain
    from pylaunchd.sockets import close_group

    domain = Domain(system=False, jobs_dirs=[os.path.abspath(jobs_dir)], control_socket=str(control),
                    state_dir=str(state_dir))
    out = []
    for early in bind_early(domain).values():
        for group in early.groups:
            for b in group.sockets:
                if b.family in ("IPv4", "IPv6"):
                    out.append((early.spec.label, b.family, b.type, b.address["host"], b.address["port"]))
                elif b.family == "Unix":
                    out.append((early.spec.label, "Unix", b.type, b.address["path"], 0))
            close_group(group)
    return out


def free_port() -> int:
    """A port free for TCP and UDP, on IPv4 and IPv6, now."""
    while True:
        with socket.socket() as s:
            s.bind(("0.0.0.0", 0))
            port = s.getsockname()[1]
        try:
            for family, kind, host in ((socket.AF_INET, socket.SOCK_DGRAM, "0.0.0.0"),
                                       (socket.AF_INET6, socket.SOCK_STREAM, "::"),
                                       (socket.AF_INET6, socket.SOCK_DGRAM, "::")):
                with socket.socket(family, kind) as t:
                    if family == socket.AF_INET6:
                        t.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
                    t.bind((host, port))
            return port
        except OSError:
            continue
