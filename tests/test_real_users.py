"""The per-user agent manager, for real: two ordinary users made for the test,
each running their own ``pylaunchd`` (user A with no option from a login
shell, user B through contrib/profile.sh at login), beside root's system
manager. Each one's ``pylaunchctl`` reaches their own manager with no
option; their agents run as them, with their environment; neither can act
on the other's manager nor on the system domain.

No PAM session makes XDG_RUNTIME_DIR here (as with ``su``, ``runuser`` or a
cron job), so the managers use the fallback, ``/tmp/pylaunchd-UID``, which
must be theirs alone.
"""

from __future__ import annotations

import os
import plistlib
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from conftest import free_port, pid_alive, wait_for
from pylaunchd.control.protocol import ControlError, request
from realusers import add_user, build_runtime, interpreter, remove_user, why_not

pytestmark = pytest.mark.skipif(why_not() is not None, reason=f"needs ordinary users: {why_not()}")

WHOAMI = 'echo "$(id -u) $(id -g) HOME=$HOME USER=$USER LOGNAME=$LOGNAME PATH=$PATH"'


def agent(label: str, port: int) -> bytes:
    """An inetd-style agent: for each connection, who it runs as and with what environment."""
    return plistlib.dumps({"Label": label, "ProgramArguments": ["/bin/sh", "-c", WHOAMI],
                           "inetdCompatibility": {"Wait": False},
                           "Sockets": {"L": {"SockNodeName": "127.0.0.1", "SockServiceName": str(port)}}})


def ask(port: int) -> str:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.settimeout(10)
        data = b""
        while chunk := s.recv(4096):
            data += chunk
    return data.decode().strip()


def sock_of(user) -> str:
    return f"/tmp/pylaunchd-{user.uid}/control.sock"


def manager_pid(user):
    try:
        return request(sock_of(user), "manager", timeout=5)["pid"]  # root may ask anyone's manager
    except ControlError:
        return None


def stop(pid: int) -> None:
    if pid and pid_alive(pid):
        os.kill(pid, signal.SIGTERM)
        wait_for(lambda: not pid_alive(pid), 30, what=f"manager {pid} to stop")


@pytest.fixture(scope="module")
def world():
    root = Path(tempfile.mkdtemp(prefix="pl-users-", dir="/tmp"))
    root.chmod(0o755)
    tag = f"{os.getpid() % 100000}"
    users, procs, pids = [], [], []
    try:
        bin_dir = build_runtime(root / "rt", interpreter())
        for name in (f"plta{tag}", f"pltb{tag}"):
            try:
                users.append(add_user(name, root / name[3], bin_dir))
            except subprocess.CalledProcessError as e:
                pytest.skip(f"useradd {name} failed here: {e.stderr.decode(errors='replace').strip()}")
        a, b = users
        check = a.run("pylaunchctl --version")
        if check.returncode != 0:
            pytest.skip(f"an ordinary user cannot run the project's interpreter here: {check.stderr.strip()}")
        for u in (a, b):
            shutil.rmtree(f"/tmp/pylaunchd-{u.uid}", ignore_errors=True)
            u.port = free_port()
            u.write(f"Library/LaunchAgents/com.example.whoami-{u.name}.plist", agent(f"com.example.whoami-{u.name}",
                                                                                      u.port))
        # root's system manager, on a control socket of its own
        (root / "sysjobs").mkdir()
        (root / "sysjobs" / "d.plist").write_bytes(plistlib.dumps(
            {"Label": "com.example.rootd", "ProgramArguments": ["/bin/sleep", "600"], "KeepAlive": True}))
        system_sock = str(root / "pylaunchd" / "control.sock")
        log = open(root / "system.log", "wb")
        procs.append(subprocess.Popen(
            [sys.executable, "-m", "pylaunchd", "--system", "--jobs-dir", str(root / "sysjobs"),
             "--control-socket", system_sock, "--state-dir", str(root / "sysstate")],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd="/", env=dict(
                os.environ, PYTHONSAFEPATH="1")))
        # user A: `pylaunchd`, no option, from a login shell
        a_log = open(root / "a-manager.log", "wb")
        procs.append(subprocess.Popen(a.command("exec pylaunchd"), stdout=a_log, stderr=subprocess.STDOUT,
                                      stdin=subprocess.DEVNULL, cwd=a.home))
        pids.append(procs[-1].pid)
        # user B: a login whose ~/.profile sources contrib/profile.sh
        b.write(".profile", (b.home / ".profile").read_text() + f"\n. {root / 'rt' / 'profile.sh'}\n")
        login = b.run("true")
        assert login.returncode == 0, login.stderr
        wait_for(lambda: request(system_sock, "manager", timeout=5), 20, what="the system manager")
        wait_for(lambda: manager_pid(a), 20, what=f"{a.name}'s manager ({(root / 'a-manager.log').read_text()})")
        pids.append(wait_for(lambda: manager_pid(b), 20, what=f"{b.name}'s manager from the profile"))
        yield {"a": a, "b": b, "system": system_sock, "root": root, "logins": login}
    finally:
        for pid in pids:
            stop(pid)
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        for u in users:
            remove_user(u)
        shutil.rmtree(root, ignore_errors=True)


def test_each_user_reaches_their_own_manager_with_no_option(world):
    for u, other in ((world["a"], world["b"]), (world["b"], world["a"])):
        cp = u.run("pylaunchctl managername; pylaunchctl manageruid; pylaunchctl list")
        assert cp.returncode == 0, cp.stderr
        assert cp.stdout.startswith(f"Background\n{u.uid}\n"), cp.stdout  # a per-user manager, of this user
        assert f"com.example.whoami-{u.name}" in cp.stdout and other.name not in cp.stdout
        cp = u.run(f"pylaunchctl print user/{u.uid}/com.example.whoami-{u.name}")
        assert cp.returncode == 0 and str(u.home / "Library/LaunchAgents") in cp.stdout, cp.stdout + cp.stderr


def test_agents_run_as_their_user_with_their_environment(world):
    for u in (world["a"], world["b"]):
        uid, gid, *env = ask(u.port).split()
        env = dict(e.split("=", 1) for e in env)
        assert (int(uid), int(gid)) == (u.uid, u.gid)
        assert env["HOME"] == str(u.home) and env["USER"] == env["LOGNAME"] == u.name
        assert f"{u.home}/.local/bin" in env["PATH"].split(":"), env["PATH"]  # the login shell's PATH


def test_the_second_directory_is_watched_even_when_made_after_the_start(world):
    a = world["a"]
    label = "com.example.ran-at-load"
    assert not (a.home / ".config" / "pylaunchd").exists()
    a.write(f".config/pylaunchd/LaunchAgents/{label}.plist", plistlib.dumps(
        {"Label": label, "RunAtLoad": True,
         "ProgramArguments": ["/bin/sh", "-c", 'id -un > "$HOME/ran.txt.tmp" && mv "$HOME/ran.txt.tmp" "$HOME/ran.txt"']}))
    ran = a.home / "ran.txt"
    wait_for(ran.exists, 20, what="the agent of ~/.config/pylaunchd/LaunchAgents to run")
    assert ran.read_text().strip() == a.name and ran.stat().st_uid == a.uid


def test_one_user_cannot_act_on_the_other_nor_on_the_system_domain(world):
    a, b = world["a"], world["b"]
    label = f"com.example.whoami-{b.name}"
    for verb in (f"print user/{b.uid}", f"kickstart -k user/{b.uid}/{label}", f"bootout user/{b.uid}/{label}"):
        cp = a.run(f"pylaunchctl {verb}")
        assert cp.returncode != 0 and "permission denied" in cp.stderr, (verb, cp.stdout, cp.stderr)
        assert f"uid {b.uid}" in cp.stderr
    env = {"PYLAUNCHD_CONTROL_SOCKET": world["system"]}
    cp = a.run("pylaunchctl print system", env=env)
    assert cp.returncode == 0 and "com.example.rootd" in cp.stdout, cp.stderr  # reading is allowed, as launchd
    for verb in ("kickstart -k system/com.example.rootd", "bootout system/com.example.rootd", "stop com.example.rootd"):
        cp = a.run(f"pylaunchctl {verb}", env=env)
        assert cp.returncode != 0, (verb, cp.stdout)
        assert f"uid {a.uid} may not use system: only root" in cp.stderr, cp.stderr
    info = request(world["system"], "print", {"label": "com.example.rootd"})
    assert info["pid"] is not None and info["runs"] == 1  # untouched, and beside both users' managers
    assert manager_pid(a) and manager_pid(b)


def test_the_login_profile_starts_one_manager_and_no_option_finds_it(world):
    b = world["b"]
    pid = manager_pid(b)
    again = b.run("true")  # a second login
    assert again.returncode == 0, again.stderr
    assert manager_pid(b) == pid
    cp = b.run("pylaunchd")  # no option: the same domain and socket, so it refuses to be a second
    assert cp.returncode == 1 and f"another pylaunchd (pid {pid}) is already running" in cp.stderr, cp.stderr
    assert (b.home / ".local/state/pylaunchd/manager.log").stat().st_uid == b.uid


def test_a_planted_runtime_directory_is_refused(world):
    """Another user made the directory where A's control socket would go
    (XDG_RUNTIME_DIR here; the /tmp fallback is checked the same way)."""
    a, b = world["a"], world["b"]
    planted = world["root"] / "planted"
    planted.mkdir(mode=0o777)
    planted.chmod(0o777)
    made = b.run(f"mkdir -m 777 {planted}/pylaunchd")
    assert made.returncode == 0, made.stderr
    cp = a.run(f"pylaunchd --jobs-dir {a.home}/none --state-dir {a.home}/st",
               env={"XDG_RUNTIME_DIR": str(planted)}, timeout=30)
    assert cp.returncode == 1
    assert f"{planted}/pylaunchd is owned by uid {b.uid}, not by us (uid {a.uid})" in cp.stderr, cp.stderr
    assert os.listdir(planted / "pylaunchd") == []  # not even the lock file was made there
