"""Real, unmodified programs served by pylaunchd the way their users run them.

Each test drives a real pylaunchd subprocess (the ``manager`` fixture) with a
real daemon and its real client: gunicorn (systemd socket activation),
OpenSSH's ``sshd -i`` (inetd, one process per connection), gpg-agent
``--supervised`` (named systemd sockets, one a SecureSocketWithKey reached by
another job), tftpd-hpa's ``in.tftpd`` (inetd Wait true, UDP) and dbus-daemon
(``--address=systemd:``). A test skips, saying why, when its programs are not
installed; ``scripts/install-test-programs`` installs them (Debian, as root).

Everything lives in the test's temporary directory (keys, configs, sockets)
and on 127.0.0.1 ports that pylaunchd picks (port 0). The manager fixture stops
the manager, which stops every job it started; the tests start no daemon
themselves.
"""

from __future__ import annotations

import http.client
import os
import pwd
import shutil
import socket
import subprocess
import textwrap
from pathlib import Path

import pytest

from conftest import PYTHON, account_locked, pid_alive, plist

SBIN_PATH = os.pathsep.join([os.environ.get("PATH", ""), "/usr/local/sbin", "/usr/sbin", "/sbin"])
USER = pwd.getpwuid(os.getuid()).pw_name
IS_ROOT = os.geteuid() == 0


def need(*programs: str) -> list[str]:
    """The absolute paths of *programs*, or skip the test naming what is missing."""
    found = [shutil.which(p, path=SBIN_PATH) for p in programs]
    missing = [p for p, f in zip(programs, found) if f is None]
    if missing:
        pytest.skip(f"not installed: {', '.join(missing)} (scripts/install-test-programs installs it)")
    return found


def open_sockets(pid: int) -> set[str]:
    """The sockets a process holds, as /proc names them ("socket:[INODE]")."""
    links = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            links.add(os.readlink(f"/proc/{pid}/fd/{fd}"))
        except OSError:
            pass
    return {link for link in links if link.startswith("socket:")}


def tcp_listeners() -> set[str]:
    """Every listening TCP socket of this network namespace, as "socket:[INODE]"."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                rows = [line.split() for line in f.readlines()[1:]]
        except OSError:
            continue
        found |= {f"socket:[{row[9]}]" for row in rows if row[3] == "0A"}  # 0A: LISTEN
    return found


def wait_file(manager, path: Path, timeout: float = 20, what: str | None = None) -> str:
    """Wait until *path* exists (written atomically by the job) and return its text."""
    manager.wait(path.exists, timeout, what or f"{path.name} to be written")
    return path.read_text()


# -- gunicorn: systemd socket activation (LISTEN_FDS / LISTEN_PID) ----------------------------------

WSGI_APP = textwrap.dedent("""\
    import os

    def app(environ, start_response):
        body = f"hello from gunicorn worker={os.getpid()} master={os.getppid()} path={environ['PATH_INFO']}\\n"
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
        return [body.encode()]
    """)


def test_gunicorn_serves_wsgi_on_a_socket_from_pylaunchd(manager, workdir):
    """gunicorn binds nothing: it takes the socket pylaunchd made (LISTEN_PID is
    its own pid, LISTEN_FDS=1), and the first request, sent before gunicorn
    exists, is what starts it and is answered by it."""
    gunicorn = shutil.which("gunicorn", path=os.path.dirname(PYTHON)) or shutil.which("gunicorn")
    if gunicorn is None:
        pytest.skip("gunicorn is not installed (pip install -e '.[test]' installs it)")
    appdir = workdir / "app"
    appdir.mkdir()
    (appdir / "hello.py").write_text(WSGI_APP)
    log = workdir / "gunicorn.log"
    manager.write("gunicorn.plist", plist(
        "test.gunicorn",
        ProgramArguments=[gunicorn, "--workers", "1", "--graceful-timeout", "2", "--chdir", str(appdir),
                          "--log-level", "info", "hello:app"],
        StandardOutPath=str(log), StandardErrorPath=str(log),
        Sockets={"Listeners": {"SockNodeName": "127.0.0.1", "SockServiceName": 0, "SockFamily": "IPv4"}}))
    info = manager.wait_loaded("test.gunicorn")
    assert info["runs"] == 0 and info["pid"] is None, "nothing runs before the first client"
    port = info["sockets"][0]["address"]["port"]

    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.connect()  # the kernel queues it on pylaunchd's socket: gunicorn does not exist yet
        conn.request("GET", "/first")
        info = manager.wait_state("test.gunicorn", lambda i: i["pid"], timeout=20,
                                  what="gunicorn started by the first connection")
        assert info["runs"] == 1 and info["last_trigger"] == "socket Listeners readable", info["last_trigger"]
        resp = conn.getresponse()
        body = resp.read().decode()
    finally:
        conn.close()
    assert resp.status == 200, body
    fields = dict(f.split("=", 1) for f in body.split()[3:])
    assert body.startswith("hello from gunicorn") and fields["path"] == "/first"
    assert int(fields["master"]) == info["pid"], "the worker is a child of the gunicorn pylaunchd started"

    # A second request reaches the same gunicorn (no new start).
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("GET", "/second")
        resp = conn.getresponse()
        assert resp.status == 200 and "path=/second" in resp.read().decode()
    finally:
        conn.close()
    info = manager.info("test.gunicorn")
    assert info["runs"] == 1 and info["pid"] == int(fields["master"])
    # gunicorn listens on pylaunchd's very socket (the kernel socket the
    # manager holds; gunicorn dups fd 3 away), not on one of its own (its
    # default would be 127.0.0.1:8000).
    ours = os.readlink(f"/proc/{manager.proc.pid}/fd/{info['sockets'][0]['fd']}")
    assert open_sockets(info["pid"]) & tcp_listeners() == {ours}, "gunicorn listens on our socket only"
    text = log.read_text()
    assert f"Listening at: http://127.0.0.1:{port} ({info['pid']})" in text, text
    assert ":8000" not in text, text


# -- OpenSSH: sshd -i behind an inetd Wait false TCP socket ------------------------------------------

def test_sshd_inetd_logs_in_with_a_key_and_serves_concurrent_sessions(manager, workdir):
    """As Apple ships sshd: Program /usr/sbin/sshd, ProgramArguments [sshd, -i],
    inetdCompatibility Wait false. A real ssh client logs in with a key made
    here and runs a command; then three sessions run at the same time, each
    in its own sshd started for its connection."""
    if not IS_ROOT:
        pytest.skip("sshd -i needs root here (privilege separation in /run/sshd, login as the test's user)")
    sshd, ssh, keygen = need("sshd", "ssh", "ssh-keygen")
    if account_locked(USER):
        pytest.skip(f"the account {USER} is locked ('!' password): sshd with UsePAM no refuses it")
    # sshd refuses to start without its privilege separation directory, which
    # the package's systemd unit creates (RuntimeDirectory=sshd) and nothing
    # creates here: make it as that unit would. It is left in place.
    os.makedirs("/run/sshd", mode=0o755, exist_ok=True)

    keys = workdir / "ssh"
    keys.mkdir(mode=0o700)
    host_key, client_key = keys / "host_ed25519", keys / "client_ed25519"
    for key in (host_key, client_key):
        subprocess.run([keygen, "-q", "-t", "ed25519", "-N", "", "-C", key.name, "-f", str(key)],
                       check=True, timeout=30)
    authorized = keys / "authorized_keys"
    shutil.copy(f"{client_key}.pub", authorized)
    config = keys / "sshd_config"
    config.write_text(textwrap.dedent(f"""\
        HostKey {host_key}
        AuthorizedKeysFile {authorized}
        PidFile {keys}/sshd.pid
        StrictModes no
        UsePAM no
        PermitRootLogin prohibit-password
        PubkeyAuthentication yes
        PasswordAuthentication no
        KbdInteractiveAuthentication no
        AllowUsers {USER}
        LogLevel VERBOSE
        """))
    subprocess.run([sshd, "-t", "-f", str(config)], check=True, timeout=30)  # the config is valid
    sshd_log = workdir / "sshd.log"
    manager.write("ssh.plist", plist(
        "test.sshd",
        Program=sshd, ProgramArguments=[sshd, "-i", "-f", str(config), "-E", str(sshd_log)],
        inetdCompatibility={"Wait": False},
        StandardErrorPath=str(workdir / "sshd.stderr"),
        Sockets={"Listeners": {"SockNodeName": "127.0.0.1", "SockServiceName": 0, "SockFamily": "IPv4"}}))
    port = manager.wait_loaded("test.sshd")["sockets"][0]["address"]["port"]

    def ssh_cmd(command: str) -> list[str]:
        return [ssh, "-F", "/dev/null", "-i", str(client_key), "-p", str(port),
                "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
                "-o", "IdentitiesOnly=yes", "-o", "IdentityAgent=none", "-o", "ConnectTimeout=20",
                "-o", "LogLevel=ERROR", f"{USER}@127.0.0.1", command]

    def failure(cp) -> str:
        log = sshd_log.read_text() if sshd_log.exists() else ""
        return f"ssh exited {cp.returncode}: {cp.stdout}{cp.stderr}\n--- sshd log ---\n{log[-3000:]}"

    cp = subprocess.run(ssh_cmd("echo logged-in-as=$(id -un)"), capture_output=True, text=True, timeout=60)
    assert cp.returncode == 0, failure(cp)
    assert cp.stdout.strip() == f"logged-in-as={USER}"
    assert f"Accepted publickey for {USER}" in sshd_log.read_text()
    info = manager.info("test.sshd")
    assert info["sockets"][0]["accepted"] == 1

    # Three sessions at once: each one waits (bounded) until all three are
    # logged in and the test has seen three sshd instances running.
    barrier, go = workdir / "barrier", workdir / "go"
    barrier.mkdir()
    command = (f"touch {barrier}/$$; i=0; while [ ! -e {go} ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i+1)); done; "
               f"[ -e {go} ] && echo session-ok")
    sessions = [subprocess.Popen(ssh_cmd(command), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                for _ in range(3)]
    try:
        manager.wait(lambda: len(os.listdir(barrier)) == 3, 30, "three concurrent ssh sessions")
        info = manager.wait_state("test.sshd", lambda i: len(i["instances"]) == 3, timeout=10,
                                  what="three sshd instances")
        assert all(pid_alive(p) for p in info["instances"])
        go.touch()
        results = [(s.wait(timeout=30), *s.communicate(timeout=30)) for s in sessions]
    finally:
        for s in sessions:
            if s.poll() is None:
                s.kill()
                s.wait()
    for code, out, err in results:
        assert code == 0 and out.strip() == "session-ok", f"{code} {out} {err}\n{sshd_log.read_text()[-3000:]}"
    assert manager.info("test.sshd")["sockets"][0]["accepted"] == 4
    manager.wait_state("test.sshd", lambda i: not i["instances"], what="every sshd instance to exit")


# -- gpg-agent --supervised on named sockets, one a SecureSocketWithKey ------------------------------

def test_gpg_agent_supervised_started_by_ssh_add_from_another_job(manager, workdir):
    """gpg-agent takes its sockets by their LISTEN_FDNAMES names ("std" and
    "ssh", the labels GnuPG 2.2's map_supervised_sockets() understands). The
    "ssh" socket is a SecureSocketWithKey, so every job of the domain gets
    SSH_AUTH_SOCK; ssh-add run by another job reaches the agent through it,
    and that first use is what starts the agent."""
    gpg_agent, ssh_add = need("gpg-agent", "ssh-add")
    home = workdir / "gnupg"
    home.mkdir(mode=0o700)
    (home / "gpg-agent.conf").write_text("enable-ssh-support\ndisable-scdaemon\n")
    std_path = home / "S.gpg-agent"
    manager.write("gpg-agent.plist", plist(
        "test.gpg-agent",
        ProgramArguments=[gpg_agent, "--supervised", "--homedir", str(home)],
        EnvironmentVariables={"GNUPGHOME": str(home)},
        StandardErrorPath=str(workdir / "gpg-agent.log"),
        Sockets={"std": {"SockPathName": str(std_path), "SockPathMode": 384},
                 "ssh": {"SecureSocketWithKey": "SSH_AUTH_SOCK"}}))
    info = manager.wait_loaded("test.gpg-agent")
    ssh_sock = next(s for s in info["sockets"] if s["name"] == "ssh")["address"]["path"]

    out, status, seen = workdir / "ssh-add.out", workdir / "ssh-add.status", workdir / "ssh-add.sock"
    manager.write("ssh-add.plist", plist(
        "test.ssh-add",
        ProgramArguments=["/bin/sh", "-c",
                          f'echo "$SSH_AUTH_SOCK" > {seen}; {ssh_add} -l > {out} 2>&1; '
                          f'echo $? > {status}.tmp && mv {status}.tmp {status}']))
    manager.wait_loaded("test.ssh-add")
    info = manager.info("test.gpg-agent")
    assert info["runs"] == 0 and info["pid"] is None, "the agent has not started before its first use"

    manager.ctl("start", "test.ssh-add")
    code = wait_file(manager, status, what="ssh-add's exit status").strip()
    assert seen.read_text().strip() == ssh_sock, "the other job got the agent's socket as SSH_AUTH_SOCK"
    # No identities (exit 1) is the agent's answer: the connection worked.
    assert (code, out.read_text().strip()) == ("1", "The agent has no identities."), \
        f"{code} {out.read_text()}\n--- gpg-agent log ---\n{(workdir / 'gpg-agent.log').read_text()}"
    info = manager.info("test.gpg-agent")
    assert info["runs"] == 1 and info["pid"] and pid_alive(info["pid"])
    assert info["last_trigger"] == "socket ssh readable", "started by the ssh socket's first client"

    # The "std" socket is the same agent: ask it its pid in its own protocol (Assuan).
    with socket.socket(socket.AF_UNIX) as c:
        c.settimeout(10)
        c.connect(str(std_path))
        f = c.makefile("rwb")
        assert f.readline().startswith(b"OK")
        f.write(b"GETINFO pid\n")
        f.flush()
        assert f.readline().strip() == f"D {info['pid']}".encode()
        assert f.readline().startswith(b"OK")
        f.write(b"BYE\n")
        f.flush()
    assert manager.info("test.gpg-agent")["runs"] == 1


# -- tftpd-hpa: UDP, inetd Wait true, exits when idle ------------------------------------------------

def test_tftpd_inetd_wait_udp_serves_twice_exiting_between(manager, workdir):
    """in.tftpd gets the datagram socket on fds 0-2 (inetd Wait true), serves
    the file, and exits after 1 s idle (-t 1); pylaunchd watches the socket
    again and starts a new in.tftpd for the next transfer."""
    if not IS_ROOT:
        pytest.skip("in.tftpd needs root (it chroots with --secure and changes to user nobody)")
    tftpd, tftp = need("in.tftpd", "tftp")
    srv = workdir / "tftpboot"
    srv.mkdir()
    os.chmod(srv, 0o755)  # in.tftpd reads as "nobody", inside the chroot
    payload = os.urandom(3000) + b"end of the file\n"  # several 512-byte blocks
    (srv / "boot.img").write_bytes(payload)
    os.chmod(srv / "boot.img", 0o644)
    manager.write("tftp.plist", plist(
        "test.tftpd",
        ProgramArguments=[tftpd, "--secure", "--timeout", "1", "--user", "nobody", str(srv)],
        inetdCompatibility={"Wait": True}, ThrottleInterval=0,
        Sockets={"Listeners": {"SockNodeName": "127.0.0.1", "SockServiceName": 0, "SockType": "dgram",
                               "SockFamily": "IPv4"}}))
    info = manager.wait_loaded("test.tftpd")
    assert info["runs"] == 0
    port = info["sockets"][0]["address"]["port"]

    for n in (1, 2):
        dest = workdir / f"got-{n}.img"
        cp = subprocess.run([tftp, "127.0.0.1", str(port), "-c", "get", "boot.img", str(dest)],
                            capture_output=True, text=True, timeout=60, cwd=workdir)
        assert dest.exists() and dest.read_bytes() == payload, f"transfer {n}: {cp.returncode} {cp.stdout}{cp.stderr}"
        # in.tftpd exits once idle; the job waits on its socket again.
        info = manager.wait_state("test.tftpd", lambda i: i["runs"] == n and i["pid"] is None
                                  and i["watching_sockets"], timeout=20, what=f"in.tftpd to exit after transfer {n}")
        assert info["last_exit_status"] == 0
    assert manager.info("test.tftpd")["runs"] == 2, "one in.tftpd per transfer"


# -- dbus-daemon --address=systemd: -------------------------------------------------------------------

BUS_CONFIG = textwrap.dedent("""\
    <!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
     "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
    <busconfig>
      <type>session</type>
      <listen>systemd:</listen>
      <auth>EXTERNAL</auth>
      <policy context="default">
        <allow send_destination="*" eavesdrop="true"/>
        <allow eavesdrop="true"/>
        <allow own="*"/>
      </policy>
    </busconfig>
    """)


def test_dbus_daemon_systemd_address_answers_dbus_send(manager, workdir):
    """dbus-daemon listens on the unix socket pylaunchd made (systemd: address),
    started by dbus-send's connection, and answers ListNames."""
    dbus_daemon, dbus_send = need("dbus-daemon", "dbus-send")
    config = workdir / "session.conf"
    config.write_text(BUS_CONFIG)
    bus = workdir / "bus.sock"
    manager.write("dbus.plist", plist(
        "test.dbus",
        ProgramArguments=[dbus_daemon, "--address=systemd:", "--nofork", "--nopidfile",
                          f"--config-file={config}"],
        StandardErrorPath=str(workdir / "dbus.log"),
        Sockets={"bus": {"SockPathName": str(bus)}}))
    info = manager.wait_loaded("test.dbus")
    assert info["runs"] == 0 and info["pid"] is None

    cp = subprocess.run([dbus_send, f"--bus=unix:path={bus}", "--print-reply", "--reply-timeout=20000",
                         "--dest=org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus.ListNames"],
                        capture_output=True, text=True, timeout=60)
    log = (workdir / "dbus.log").read_text() if (workdir / "dbus.log").exists() else ""
    assert cp.returncode == 0, f"{cp.stdout}{cp.stderr}\n--- dbus-daemon log ---\n{log}"
    assert "method return" in cp.stdout and 'string "org.freedesktop.DBus"' in cp.stdout, cp.stdout
    info = manager.info("test.dbus")
    assert info["runs"] == 1 and info["pid"] and pid_alive(info["pid"]), "started by dbus-send's connection"

    # The bus keeps serving on the same socket: a second client, same daemon.
    cp = subprocess.run([dbus_send, f"--bus=unix:path={bus}", "--print-reply", "--reply-timeout=20000",
                         "--dest=org.freedesktop.DBus", "/org/freedesktop/DBus",
                         "org.freedesktop.DBus.GetId"], capture_output=True, text=True, timeout=60)
    assert cp.returncode == 0 and "string" in cp.stdout, cp.stdout + cp.stderr
    assert manager.info("test.dbus")["runs"] == 1
