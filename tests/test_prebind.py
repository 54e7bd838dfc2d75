"""The C front end, pylaunchd/_prebind.c: what it binds against what the manager's own reading
binds (the project's plists), each rule by which it binds nothing, and the exec of the manager
beside it with exactly those sockets (a fake pylaunchd-python that reports what it got).
Generated and hostile plists: tests/test_prebind_fuzz.py."""

from __future__ import annotations

import fcntl
import json
import os
import plistlib
import re
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from prebindlib import environment, free_port, install_beside, prebind_fixtures, python_binds, run_list

ROOT = Path(__file__).resolve().parent.parent
CORPUS = [*sorted((ROOT / "tests" / "realworld").glob("*.plist")), *sorted((ROOT / "tests" / "jobs").glob("*.plist")),
          *sorted((ROOT / "LaunchDaemons").glob("*.plist")), *sorted((ROOT / "LaunchAgents").glob("*.plist")),
          *sorted((ROOT / "tests" / "lint_corpus").glob("*.plist"))]  # lint's: broken on purpose


prebind, dom = prebind_fixtures()


def write(jobs: Path, name: str, plist: dict, mode: int = 0o644) -> Path:
    path = jobs / name
    path.write_bytes(plistlib.dumps(plist))
    path.chmod(mode)
    return path


def job(label: str, port: int, **keys) -> dict:
    plist = {"Label": label, "ProgramArguments": ["/bin/true"],
             "Sockets": {"Listeners": {"SockNodeName": "127.0.0.1", "SockServiceName": str(port)}}}
    plist.update(keys)
    return plist


def labels(rows) -> list[str]:
    return [r[0] for r in rows]


# --------------------------------------------------------------------------
# The project's plists: a subset of the manager's reading, equal where every address is numeric


_SERVICE = re.compile(rb"(<key>SockServiceName</key>\s*<(?:string|integer)>)(\d+)(</(?:string|integer)>)")


def _copy_corpus(jobs: Path, enable: bool) -> None:
    """The plists, each numeric port made a free one (textually: the XML is kept as written);
    *enable*: ``<key>Disabled</key><true/>`` removed too, so the service names are bound."""
    for src in CORPUS:
        ports: dict[bytes, bytes] = {}  # each file its own: no clash between two files hides a difference
        data = src.read_bytes()
        data = _SERVICE.sub(lambda m: m[1] + ports.setdefault(m[2], str(free_port()).encode()) + m[3], data)
        if enable:
            data = re.sub(rb"<key>Disabled</key>\s*<true\s*/>", b"", data)
        dst = jobs / src.name
        dst.write_bytes(data)
        dst.chmod(0o644)


def _plain(path: Path) -> str | None:
    """The label of a plist whose inet sockets are all ones the C binds itself (XML, a numeric
    address or none, passive, no multicast), or None."""
    import ipaddress

    from pylaunchd.plist import PlistError
    from pylaunchd.spec import load_spec
    from pylaunchd.validate import SpecError
    try:
        spec = load_spec(str(path))
    except (PlistError, SpecError):
        return None
    if path.read_bytes().startswith(b"bplist"):
        return None
    for s in (s for g in spec.sockets for s in g.sockets if not s.is_unix):
        try:
            s.node is None or ipaddress.ip_address(s.node)
        except ValueError:
            return None
        if not s.passive or s.multicast_group:
            return None
    return spec.label


@pytest.mark.parametrize("enable", [False, True], ids=["as-written", "enabled"])
def test_corpus_against_the_managers_reading(prebind, dom, enable):
    jobs, state, control, args = dom
    _copy_corpus(jobs, enable)
    c_rows, err = run_list(prebind, args)
    py_rows = python_binds(jobs, state, control)
    assert set(c_rows) <= set(py_rows), err
    plain = {_plain(p) for p in jobs.iterdir()} - {None}
    inet = lambda rows: [r for r in rows if r[0] in plain and r[1] != "Unix"]  # noqa: E731 (unix: test_prebind_unix)
    assert inet(c_rows) == inet(py_rows), err
    assert len(c_rows) >= 4  # the example jobs' numeric sockets at least: not a vacuous comparison


# --------------------------------------------------------------------------
# Each rule by which a job, or everything, is left to the manager


def test_disabled_and_enabled(prebind, dom):
    jobs, state, control, args = dom
    write(jobs, "a.plist", job("a", free_port(), Disabled=True))
    write(jobs, "b.plist", job("b", free_port(), Disabled=False))
    write(jobs, "c.plist", job("c", free_port(), Disabled="yes"))
    rows, err = run_list(prebind, args)
    assert labels(rows) == ["b"]
    assert "a.plist: Disabled" in err and "c.plist: Disabled is not a boolean" in err


def test_overrides_name_the_job(prebind, dom):
    jobs, state, control, args = dom
    write(jobs, "a.plist", job("a", free_port()))
    write(jobs, "b.plist", job("b", free_port()))
    (state / "overrides.json").write_text(json.dumps({"disabled": {"a": False}}))
    rows, err = run_list(prebind, args)
    assert labels(rows) == ["b"] and "named in overrides.json" in err
    (state / "overrides.json").write_text('{"disabled": {"\\u0062": true}}')  # "b", escaped
    assert labels(run_list(prebind, args)[0]) == ["a"]
    (state / "overrides.json").write_text('{"disabled": {"a')  # cut short: nothing at all
    assert run_list(prebind, args)[0] == []


def test_overrides_too_big_or_unreadable(prebind, dom):
    jobs, state, control, args = dom
    write(jobs, "a.plist", job("a", free_port()))
    (state / "overrides.json").write_bytes(b" " * (1024 * 1024 + 1))
    assert run_list(prebind, args)[0] == []
    (state / "overrides.json").unlink()
    (state / "overrides.json").mkdir()
    assert run_list(prebind, args)[0] == []


@pytest.mark.parametrize("key", ["LimitLoadToHosts", "LimitLoadFromHosts", "limitloadtosessiontype"])
def test_limit_load_keys(prebind, dom, key):
    jobs, state, control, args = dom
    write(jobs, "a.plist", job("a", free_port(), **{key: ["nowhere"]}))
    assert run_list(prebind, args)[0] == []


def test_owner_and_mode(prebind, dom):
    jobs, state, control, args = dom
    write(jobs, "a.plist", job("a", free_port()), mode=0o664)
    write(jobs, "b.plist", job("b", free_port()), mode=0o646)
    write(jobs, "c.plist", job("c", free_port()), mode=0o600)
    if os.geteuid() == 0:
        os.chown(write(jobs, "d.plist", job("d", free_port())), 12345, -1)
    rows, err = run_list(prebind, args)
    assert labels(rows) == ["c"]
    assert err.count("group- or world-writable") == 2
    assert os.geteuid() != 0 or "d.plist: owned by another user" in err


def test_duplicate_label_first_wins(prebind, dom):
    jobs, state, control, args = dom
    port_a, port_b = free_port(), free_port()
    write(jobs, "b.plist", job("same", port_b))
    write(jobs, "a.plist", job("same", port_a))
    rows, err = run_list(prebind, args)
    assert [(r[0], r[4]) for r in rows] == [("same", port_a)]
    assert "b.plist: the Label of an earlier plist" in err


def test_secure_socket_left_the_rest_bound(prebind, dom, tmp_path):
    jobs, state, control, args = dom
    port = free_port()
    plist = job("a", port)
    plist["Sockets"]["Unix"] = {"SockPathName": str(tmp_path / "a.sock")}
    plist["Sockets"]["Secure"] = {"SecureSocketWithKey": "A_SOCK"}
    write(jobs, "a.plist", plist)
    rows, err = run_list(prebind, args)
    assert sorted(rows) == [("a", "IPv4", "stream", "127.0.0.1", port),
                            ("a", "Unix", "stream", str(tmp_path / "a.sock"), 0)]
    assert "SecureSocketWithKey" in err
    assert not (tmp_path / "a.sock").exists()  # list mode removes the file it made


@pytest.mark.parametrize("socket_keys", [{"SockNodeName": "localhost"}, {"SockNodeName": "127.1"},
                                         {"SockNodeName": "::1", "SockFamily": "IPv4"},
                                         {"SockPassive": False}, {"MulticastGroup": "239.1.1.1", "SockType": "dgram"}],
                         ids=["name", "short-form", "wrong-family", "not-passive", "multicast"])
def test_jobs_left_to_the_manager(prebind, dom, socket_keys):
    jobs, state, control, args = dom
    plist = job("a", free_port())
    plist["Sockets"]["Listeners"].update(socket_keys)
    plist["Sockets"]["Other"] = {"SockServiceName": str(free_port())}  # bound only with the first
    write(jobs, "a.plist", plist)
    assert run_list(prebind, args)[0] == []


def test_a_later_job_on_a_port_of_a_job_left_to_the_manager(prebind, dom):
    jobs, state, control, args = dom
    port = free_port()
    plist = job("a", port)
    plist["Sockets"]["Listeners"]["SockNodeName"] = "localhost"
    write(jobs, "a.plist", plist)
    write(jobs, "b.plist", job("b", port, Sockets={"L": {"SockServiceName": port}}))
    write(jobs, "c.plist", job("c", free_port()))
    rows, err = run_list(prebind, args)
    assert labels(rows) == ["c"] and f"port {port} is an earlier job's" in err


def test_descriptors_left_for_the_manager(prebind, dom):
    import resource
    jobs, state, control, args = dom
    for i in range(150):
        write(jobs, f"j{i:03d}.plist", job(f"j{i:03d}", free_port()))
    def limit():
        resource.setrlimit(resource.RLIMIT_NOFILE, (200, 200))
    done = subprocess.run([str(prebind), *args], env=environment(PYLAUNCHD_PREBIND="list"), capture_output=True,
                          text=True, timeout=60, preexec_fn=limit)
    assert done.returncode == 0
    assert 50 < len(done.stdout.splitlines()) < 100  # half the limit: the rest is the manager's
    assert "Too many open files" in done.stderr


def test_another_manager_holds_the_lock(prebind, dom):
    jobs, state, control, args = dom
    write(jobs, "a.plist", job("a", free_port()))
    fd = os.open(f"{control}.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        rows, err = run_list(prebind, args)
        assert rows == [] and "another manager holds the control socket's lock" in err
        fcntl.flock(fd, fcntl.LOCK_UN)
        assert labels(run_list(prebind, args)[0]) == ["a"]
    finally:
        os.close(fd)
    os.unlink(f"{control}.lock")
    assert labels(run_list(prebind, args)[0]) == ["a"]
    assert not os.path.exists(f"{control}.lock")  # never created here


def test_reexec_binds_nothing(prebind, dom):
    jobs, state, control, args = dom
    write(jobs, "a.plist", job("a", free_port()))
    assert run_list(prebind, args, PYLAUNCHD_REEXEC="{}")[0] == []
    assert labels(run_list(prebind, args, PYLAUNCHD_REEXEC="")[0]) == ["a"]  # set, but empty


@pytest.mark.parametrize("extra", [["--bogus"], ["-h"], ["--help"], ["--version"], ["--user=x"], ["--system"],
                                   ["--log-level"], ["--log-level=loud"], ["start"]])
def test_unusual_command_lines_bind_nothing(prebind, dom, extra):
    jobs, state, control, args = dom
    write(jobs, "a.plist", job("a", free_port()))
    assert labels(run_list(prebind, args)[0]) == ["a"]
    assert run_list(prebind, args + extra)[0] == []


def test_options_as_the_manager_reads_them(prebind, dom, tmp_path, monkeypatch):
    jobs, state, control, args = dom
    write(jobs, "a.plist", job("a", free_port()))
    other = tmp_path / "other"
    other.mkdir()
    write(other, "b.plist", job("b", free_port()))
    monkeypatch.chdir(tmp_path)
    rows, _ = run_list(prebind, ["--user", "--jobs-dir=other", f"--jobs-dir={jobs}/../jobs", "--log-level=DEBUG",
                                 f"--state-dir={state}", "--control-socket", str(control), "--exit-with", "x"])
    assert labels(rows) == ["b", "a"]
    home = tmp_path / "home"
    (home / "Library").mkdir(parents=True)
    shutil.copytree(jobs, home / "Library" / "LaunchAgents")
    rows, _ = run_list(prebind, ["--user", f"--state-dir={state}", f"--control-socket={control}"],
                       HOME=str(home), XDG_CONFIG_HOME=str(tmp_path / "nothing"))
    assert labels(rows) == ["a"]  # the default: ~/Library/LaunchAgents


# --------------------------------------------------------------------------
# The exec: the manager beside the binary gets exactly the sockets bound, and the argv


FAKE_MANAGER = """#!{python}
import fcntl, json, os, socket, sys
fds = [int(f) for f in os.environ["PYLAUNCHD_PREBOUND"].split(",")] if "PYLAUNCHD_PREBOUND" in os.environ else None
def is_open(fd):
    try:
        return os.fstat(fd) is not None
    except OSError:
        return False
listed = [int(f) for f in os.listdir("/proc/self/fd")]
report = {{"argv": sys.argv, "prebound": fds, "sockets": [], "open": sorted(f for f in listed if is_open(f))}}
for fd in fds or []:
    s = socket.socket(fileno=fd)
    report["sockets"].append([fd, s.getsockname()[1], s.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN),
                              fcntl.fcntl(fd, fcntl.F_GETFD) & fcntl.FD_CLOEXEC])
    s.detach()
print(json.dumps(report))
"""


@pytest.fixture
def installed(prebind, tmp_path) -> Path:
    """The binary in a bin directory of its own, a fake pylaunchd-python beside it."""
    return install_beside(prebind, tmp_path / "bin", FAKE_MANAGER.format(python=sys.executable))


def _exec(binary, args, **env) -> dict:
    done = subprocess.run([str(binary), *args], env=environment(**env), capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stderr == "", (done.returncode, done.stderr)
    return json.loads(done.stdout)


def test_exec_passes_the_sockets_and_argv(installed, dom):
    jobs, state, control, args = dom
    ports = [free_port(), free_port()]
    write(jobs, "a.plist", job("a", ports[0]))
    write(jobs, "b.plist", job("b", ports[1], Sockets={"U": {"SockNodeName": "127.0.0.1", "SockServiceName": ports[1],
                                                          "SockType": "dgram"}}))
    report = _exec(installed, args + ["--log-level", "info"], PYLAUNCHD_PREBOUND="99")
    assert report["argv"] == [str(installed.parent / "pylaunchd-python"), *args, "--log-level", "info"]
    assert [s[1:] for s in report["sockets"]] == [[ports[0], 1, 0], [ports[1], 0, 0]]  # listening; dgram; no CLOEXEC
    assert set(report["open"]) - {0, 1, 2} == set(report["prebound"])  # nothing else the front end opened


def test_exec_with_nothing_to_bind(installed, dom):
    jobs, state, control, args = dom
    write(jobs, "a.plist", job("a", free_port()))
    for extra_args, env in (([], {"PYLAUNCHD_PREBIND": "0"}), (["--bogus"], {}), ([], {"PYLAUNCHD_REEXEC": "1"})):
        report = _exec(installed, args + extra_args, PYLAUNCHD_PREBOUND="3,4", **env)
        assert report["prebound"] is None and report["argv"][1:] == args + extra_args


def test_exec_through_a_symlink(installed, dom, tmp_path):
    jobs, state, control, args = dom
    write(jobs, "a.plist", job("a", free_port()))
    link = tmp_path / "pylaunchd-link"
    link.symlink_to(installed)
    report = _exec(link, args)
    assert report["argv"][0] == str(installed.parent / "pylaunchd-python") and len(report["prebound"]) == 1


def test_exec_with_stdin_and_stderr_closed(installed, dom):
    jobs, state, control, args = dom
    write(jobs, "a.plist", job("a", free_port()))
    done = subprocess.run(["/bin/sh", "-c", 'exec "$0" "$@" <&- 2>&-', str(installed), *args], env=environment(),
                          capture_output=True, text=True, timeout=60)
    report = json.loads(done.stdout)
    assert len(report["prebound"]) == 1 and min(report["prebound"]) >= 3  # no socket as stdin or stderr
    assert 0 not in report["open"] and 2 not in report["open"]  # closed for the manager, as they were


@pytest.mark.parametrize("how", ["missing", "not-executable"])
def test_no_manager_beside_it(installed, dom, how):
    jobs, state, control, args = dom
    port = free_port()
    write(jobs, "a.plist", job("a", port))
    manager = installed.parent / "pylaunchd-python"
    if how == "missing":
        manager.unlink()
    else:
        manager.chmod(0o644)
        if os.geteuid() == 0:
            manager.chmod(stat.S_IRUSR)
    done = subprocess.run([str(installed), *args], env=environment(), capture_output=True, text=True, timeout=60)
    assert done.returncode == 127
    assert done.stderr == (f"pylaunchd: cannot find {manager} (the Python manager, installed beside this "
                           f"command): reinstall pylaunchd\n")
