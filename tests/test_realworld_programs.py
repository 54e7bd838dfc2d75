"""The real programs behind the real plists of tests/realworld/, run by
pylaunchd from those plists and talked to as their clients do.

Each test reads a plist of tests/realworld/ (where it came from is said in
the file and in tests/realworld/SOURCES.md), keeps its keys and structure,
and adapts only what must differ on a Debian test host: the program's path
(Homebrew's /usr/local/opt/... is Debian's /usr/bin or /usr/sbin), the
configuration file (written here, in the test's directory), the port (a free
one on 127.0.0.1 instead of 11211, 8080, 53 or 873) and log paths. Then a real
client talks to the daemon: memcached's text protocol, HTTP to nginx, the
rsync protocol (rsync's own client) to ``rsync --daemon`` started per
connection behind an inetd socket, a DNS query to dnsmasq, RESP to
redis-server, beanstalkd's protocol on the IPv4v6 socket Homebrew's generator
writes, tftp to in.tftpd and ssh to sshd -i from macOS's own plists (both
Disabled: enabled with ``load -w``, forced with ``load -F``).

A test skips, saying why, when its program is missing
(``scripts/install-test-programs`` installs them, Debian, as root). The
``manager`` fixture stops the manager, which stops every job it started.
"""

from __future__ import annotations

import http.client
import os
import pwd
import shutil
import socket
import struct
import subprocess
import textwrap
from pathlib import Path

import pytest

from conftest import account_locked, free_port, pid_alive
from pylaunchd.plist import read_plist

REAL = Path(__file__).resolve().parent / "realworld"
SBIN_PATH = os.pathsep.join([os.environ.get("PATH", ""), "/usr/local/sbin", "/usr/sbin", "/sbin"])
IS_ROOT = os.geteuid() == 0
USER = pwd.getpwuid(os.getuid()).pw_name


def need(program: str) -> str:
    found = shutil.which(program, path=SBIN_PATH)
    if found is None:
        pytest.skip(f"not installed: {program} (scripts/install-test-programs installs it)")
    return found


def real_plist(name: str) -> dict:
    """The plist of tests/realworld/NAME.plist as launchd would read it."""
    return read_plist(str(REAL / f"{name}.plist"))  # pylaunchd's reader: a "--" in a comment is fine, as in CF


def talk(port: int, data: bytes, until: bytes, timeout: float = 20) -> bytes:
    """Send *data* to 127.0.0.1:*port* and read until *until* is seen."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(data)
        got = b""
        while until not in got:
            chunk = s.recv(4096)
            if not chunk:
                break
            got += chunk
    return got


def connectable(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2):
            return True
    except OSError:
        return False


def test_homebrew_memcached_serves_and_keep_alive_restarts_it(manager, workdir):
    """Homebrew's memcached plist (KeepAlive true, RunAtLoad, WorkingDirectory):
    memcached starts at load, stores and returns a value, and when it is
    killed KeepAlive starts it again (after the throttle), empty."""
    memcached = need("memcached")
    job = real_plist("homebrew.mxcl.memcached")
    port = free_port()
    # -l localhost as Homebrew writes it; the port and, as root, the user memcached demands.
    job["ProgramArguments"] = [memcached, *job["ProgramArguments"][1:], "-p", str(port), "-U", "0",
                               *(["-u", "nobody"] if IS_ROOT else [])]
    job["WorkingDirectory"] = str(workdir)
    job["ThrottleInterval"] = 1  # Homebrew's plist has none (10 s); the restart is what is checked
    manager.write("homebrew.mxcl.memcached.plist", job)
    first = manager.wait_state("homebrew.mxcl.memcached", lambda i: i["pid"], timeout=20, what="memcached started")
    manager.wait(lambda: connectable(port), 20, "memcached listening")
    assert talk(port, b"set greeting 0 0 5\r\nhello\r\n", b"\r\n") == b"STORED\r\n"
    assert talk(port, b"get greeting\r\n", b"END\r\n") == b"VALUE greeting 0 5\r\nhello\r\nEND\r\n"

    os.kill(first["pid"], 9)
    again = manager.wait_state("homebrew.mxcl.memcached", lambda i: i["pid"] and i["pid"] != first["pid"],
                               timeout=30, what="memcached restarted by KeepAlive")
    assert again["runs"] == 2
    manager.wait(lambda: connectable(port), 20, "the new memcached listening")
    assert talk(port, b"get greeting\r\n", b"END\r\n") == b"END\r\n", "a new process: the cache is empty"


def test_homebrew_nginx_in_the_foreground(manager, workdir):
    """Homebrew's nginx plist: RunAtLoad, KeepAlive false, nginx -g 'daemon
    off;' so that it stays the job's process. It answers HTTP; unload stops
    the master and its worker."""
    nginx = need("nginx")
    job = real_plist("homebrew.mxcl.nginx")
    port = free_port()
    (workdir / "nginx").mkdir()
    conf = workdir / "nginx" / "nginx.conf"
    conf.write_text(textwrap.dedent(f"""\
        worker_processes 1;
        pid {workdir}/nginx/nginx.pid;
        error_log {workdir}/nginx/error.log;
        {"user root;" if IS_ROOT else ""}
        events {{ worker_connections 64; }}
        http {{
            access_log {workdir}/nginx/access.log;
            client_body_temp_path {workdir}/nginx/body;
            proxy_temp_path {workdir}/nginx/proxy;
            fastcgi_temp_path {workdir}/nginx/fastcgi;
            uwsgi_temp_path {workdir}/nginx/uwsgi;
            scgi_temp_path {workdir}/nginx/scgi;
            server {{
                listen 127.0.0.1:{port};
                location / {{ return 200 "served by nginx under pylaunchd\\n"; }}
            }}
        }}
        """))
    job["ProgramArguments"] = [nginx, *job["ProgramArguments"][1:], "-p", f"{workdir}/nginx/", "-c", str(conf),
                               "-e", f"{workdir}/nginx/error.log"]
    job["WorkingDirectory"] = str(workdir)
    manager.write("homebrew.mxcl.nginx.plist", job)
    info = manager.wait_state("homebrew.mxcl.nginx", lambda i: i["pid"], timeout=20, what="nginx started")
    manager.wait(lambda: connectable(port), 20, "nginx listening")
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
    try:
        conn.request("GET", "/")
        resp = conn.getresponse()
        body = resp.read()
    finally:
        conn.close()
    assert resp.status == 200 and body == b"served by nginx under pylaunchd\n"
    assert info["pid"] == int((workdir / "nginx" / "nginx.pid").read_text()), "daemon off: the job's process is nginx"

    manager.ctl("unload", str(manager.jobs_dir / "homebrew.mxcl.nginx.plist"))
    manager.wait(lambda: not pid_alive(info["pid"]), 30, "nginx stopped by unload")
    manager.wait(lambda: not connectable(port), 30, "nginx's workers gone")


def test_rsync_daemon_behind_an_inetd_socket(manager, workdir):
    """A Mac OS X guide's org.samba.rsync plist: Program /usr/bin/rsync,
    rsync --daemon --config=..., inetdCompatibility Wait false. Each client
    connection starts its own rsync --daemon on the connected socket; the
    real rsync client lists the module and copies a file."""
    rsync = need("rsync")
    job = real_plist("org.samba.rsync")
    data = workdir / "data"
    data.mkdir()
    (data / "notes.txt").write_text("synchronised through pylaunchd\n")
    conf = workdir / "rsyncd.conf"
    conf.write_text(textwrap.dedent(f"""\
        use chroot = no
        log file = {workdir}/rsyncd.log
        {f"uid = {USER}" if IS_ROOT else ""}
        [data]
            path = {data}
            comment = the test's files
            read only = yes
        """))
    job["Program"] = rsync
    job["ProgramArguments"] = [rsync, "--daemon", f"--config={conf}"]
    # SockServiceName "rsync" is port 873; the test's port is a free one on loopback.
    job["Sockets"]["Listeners"].update(SockServiceName=0, SockNodeName="127.0.0.1", SockFamily="IPv4")
    manager.write("org.samba.rsync.plist", job)
    info = manager.wait_loaded("org.samba.rsync")
    assert info["runs"] == 0 and info["pid"] is None, "nothing runs before the first client"
    port = info["sockets"][0]["address"]["port"]

    listing = subprocess.run([rsync, f"rsync://127.0.0.1:{port}/"], capture_output=True, text=True, timeout=60)
    assert listing.returncode == 0 and "data" in listing.stdout and "the test's files" in listing.stdout, listing
    copy = subprocess.run([rsync, "-a", f"rsync://127.0.0.1:{port}/data/notes.txt", str(workdir / "copy.txt")],
                          capture_output=True, text=True, timeout=60)
    assert copy.returncode == 0, copy
    assert (workdir / "copy.txt").read_text() == "synchronised through pylaunchd\n"
    manager.wait_state("org.samba.rsync", lambda i: i["runs"] == 2, timeout=20, what="one rsync per connection")


def _dns_query(name: str, qid: int = 0x1234) -> bytes:
    labels = b"".join(bytes([len(p)]) + p.encode() for p in name.split("."))
    return struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0) + labels + b"\0" + struct.pack(">HH", 1, 1)


def test_homebrew_dnsmasq_answers_a_query(manager, workdir):
    """Homebrew's dnsmasq plist (startup: true; --keep-in-foreground, -C its
    configuration, -7 a conf-dir with a *.conf filter that no shell expands):
    dnsmasq reads the snippet in the conf-dir and answers a DNS query for it."""
    dnsmasq = need("dnsmasq")
    job = real_plist("homebrew.mxcl.dnsmasq")
    port = free_port(socket.AF_INET)
    confd = workdir / "dnsmasq.d"
    confd.mkdir()
    # The name's answer comes from the conf-dir, as Homebrew users put theirs (*.conf only).
    (confd / "test.conf").write_text("address=/pylaunchd.test/192.0.2.7\n")
    (confd / "ignored.txt").write_text("address=/pylaunchd.test/192.0.2.99\n")
    conf = workdir / "dnsmasq.conf"
    conf.write_text(textwrap.dedent(f"""\
        port={port}
        listen-address=127.0.0.1
        bind-interfaces
        no-resolv
        no-hosts
        pid-file={workdir}/dnsmasq.pid
        {"user=root" if IS_ROOT else ""}
        """))
    args = job["ProgramArguments"]
    assert args[1:3] == ["--keep-in-foreground", "-C"] and args[4] == "-7"
    job["ProgramArguments"] = [dnsmasq, args[1], args[2], str(conf), args[4], f"{confd},*.conf"]
    manager.write("homebrew.mxcl.dnsmasq.plist", job)
    manager.wait_state("homebrew.mxcl.dnsmasq", lambda i: i["pid"], timeout=20, what="dnsmasq started")

    def answer():
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(2)
            s.sendto(_dns_query("pylaunchd.test"), ("127.0.0.1", port))
            return s.recv(512)
    reply = manager.wait(lambda: _try(answer), 20, "dnsmasq answering")
    qid, flags, _qd, ancount = struct.unpack(">HHHH", reply[:8])
    assert qid == 0x1234 and flags & 0x8000 and ancount == 1, reply
    assert reply.endswith(socket.inet_aton("192.0.2.7")), "the conf-dir's *.conf snippet gave the answer"


def _try(fn):
    try:
        return fn()
    except OSError:
        return None


def test_homebrew_redis_serves_resp(manager, workdir):
    """Homebrew's redis plist of tests/realworld (KeepAlive true, RunAtLoad,
    every LimitLoadToSessionType, logs to StandardOutPath): redis-server reads
    its configuration file and answers redis-cli's protocol."""
    redis = need("redis-server")
    job = real_plist("homebrew.mxcl.redis")
    port = free_port()
    conf = workdir / "redis.conf"
    conf.write_text(f"port {port}\nbind 127.0.0.1\ndir {workdir}\nsave \"\"\nappendonly no\n")
    job["ProgramArguments"] = [redis, str(conf)]
    job["WorkingDirectory"] = str(workdir)
    job["StandardOutPath"] = job["StandardErrorPath"] = str(workdir / "redis.log")
    manager.write("homebrew.mxcl.redis.plist", job)
    manager.wait_state("homebrew.mxcl.redis", lambda i: i["pid"], timeout=20, what="redis-server started")
    manager.wait(lambda: connectable(port), 20, "redis listening")
    assert talk(port, b"*3\r\n$3\r\nSET\r\n$4\r\njobs\r\n$9\r\npylaunchd\r\n", b"\r\n") == b"+OK\r\n"
    assert talk(port, b"*2\r\n$3\r\nGET\r\n$4\r\njobs\r\n", b"pylaunchd\r\n") == b"$9\r\npylaunchd\r\n"
    manager.wait(lambda: "Ready to accept connections" in (workdir / "redis.log").read_text(), 20,
                 "redis's log in StandardOutPath")


def test_apples_tftpd_plist_enabled_with_load_w_serves_a_file(manager, workdir):
    """macOS's com.apple.tftpd plist: Disabled true, so nothing listens until
    `pylaunchctl load -w` enables it; then each transfer's datagram starts
    in.tftpd on the socket (inetd Wait true, dgram), the real tftp client
    gets the file, and in.tftpd exits once idle."""
    if not IS_ROOT:
        pytest.skip("in.tftpd needs root (it chroots with --secure and changes to user nobody)")
    tftpd, tftp = need("in.tftpd"), need("tftp")
    job = real_plist("com.apple.tftpd")
    srv = workdir / "tftpboot"  # Apple's /private/tftpboot
    srv.mkdir()
    os.chmod(srv, 0o755)
    payload = os.urandom(2000) + b"booted through pylaunchd\n"
    (srv / "kernel").write_bytes(payload)
    os.chmod(srv / "kernel", 0o644)
    # Apple's tftpd takes -i (insecure: no chroot) and the directory; in.tftpd's words for the same.
    assert job["ProgramArguments"][1:] == ["-i", "/private/tftpboot"]
    job["ProgramArguments"] = [tftpd, "--secure", "--timeout", "1", "--user", "nobody", str(srv)]
    job["Sockets"]["Listeners"].update(SockServiceName=0, SockNodeName="127.0.0.1", SockFamily="IPv4")
    path = manager.write("com.apple.tftpd.plist", job)
    manager.wait(lambda: "com.apple.tftpd" in manager.log(), 10, "the disabled plist noticed")
    assert manager.info("com.apple.tftpd") is None, "Disabled true: not loaded"
    refused = manager.ctl("load", str(path), check=False)
    assert refused.returncode != 0 and "-w" in refused.stderr

    manager.ctl("load", "-w", str(path))
    info = manager.wait_loaded("com.apple.tftpd")
    port = info["sockets"][0]["address"]["port"]
    dest = workdir / "got"
    cp = subprocess.run([tftp, "127.0.0.1", str(port), "-c", "get", "kernel", str(dest)],
                        capture_output=True, text=True, timeout=60, cwd=workdir)
    assert dest.exists() and dest.read_bytes() == payload, f"{cp.returncode} {cp.stdout}{cp.stderr}"
    manager.wait_state("com.apple.tftpd", lambda i: i["runs"] == 1 and i["pid"] is None and i["watching_sockets"],
                       timeout=20, what="in.tftpd to exit after the transfer")


def test_apples_sshd_plist_logs_in_with_a_key(manager, workdir):
    """macOS's com.openssh.sshd plist (Disabled, Program differing from
    ProgramArguments[0], Bonjour service types, POSIXSpawnType Interactive,
    StandardErrorPath /dev/null, SHAuthorizationRight): forced with
    `load -F`, sshd -i runs per connection and a real ssh client logs in. The
    Bonjour names are not advertised (warned); the socket works as usual."""
    if not IS_ROOT:
        pytest.skip("sshd -i needs root here (privilege separation in /run/sshd)")
    sshd, ssh, keygen = need("sshd"), need("ssh"), need("ssh-keygen")
    if account_locked(USER):
        pytest.skip(f"the account {USER} is locked ('!' password): sshd with UsePAM no refuses it")
    os.makedirs("/run/sshd", mode=0o755, exist_ok=True)  # what sshd's systemd unit would make
    keys = workdir / "ssh"
    keys.mkdir(mode=0o700)
    host_key, client_key = keys / "host", keys / "client"
    for key in (host_key, client_key):
        subprocess.run([keygen, "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True, timeout=30)
    shutil.copy(f"{client_key}.pub", keys / "authorized_keys")
    config = keys / "sshd_config"
    config.write_text(textwrap.dedent(f"""\
        HostKey {host_key}
        AuthorizedKeysFile {keys}/authorized_keys
        StrictModes no
        UsePAM no
        PermitRootLogin prohibit-password
        PasswordAuthentication no
        KbdInteractiveAuthentication no
        AllowUsers {USER}
        """))
    job = real_plist("com.openssh.sshd")
    assert job["Program"] == "/usr/libexec/sshd-keygen-wrapper" and job["ProgramArguments"] == ["/usr/sbin/sshd", "-i"]
    job["Program"] = sshd  # Apple's wrapper makes host keys, then execs sshd: the keys are made above
    job["ProgramArguments"] = ["/usr/sbin/sshd", "-i", "-f", str(config)]
    job["Sockets"]["Listeners"].update(SockServiceName=0, SockNodeName="127.0.0.1", SockFamily="IPv4")
    path = manager.write("com.openssh.sshd.plist", job)
    manager.ctl("load", "-F", str(path))
    info = manager.wait_loaded("com.openssh.sshd")
    port = info["sockets"][0]["address"]["port"]
    cp = subprocess.run([ssh, "-F", "/dev/null", "-i", str(client_key), "-p", str(port), "-o", "BatchMode=yes",
                         "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
                         "-o", "IdentitiesOnly=yes", "-o", "IdentityAgent=none", "-o", "LogLevel=ERROR",
                         f"{USER}@127.0.0.1", "echo hello-from-$(id -un)"],
                        capture_output=True, text=True, timeout=60)
    assert cp.returncode == 0 and cp.stdout.strip() == f"hello-from-{USER}", cp
    printed = manager.ctl("print", "com.openssh.sshd").stdout
    assert "Bonjour" in printed or "Bonjour" in manager.log(), "the unadvertised Bonjour names are said"


def test_homebrew_generated_ipv4v6_socket_hands_beanstalkd_its_listener(manager, workdir):
    """What Homebrew writes for sockets "tcp://127.0.0.1:PORT": SockFamily
    IPv4v6 with SockNodeName 127.0.0.1, SockProtocol TCP, RunAtLoad. The
    dual-stack socket is bound to the v4-mapped ::ffff:127.0.0.1 (it failed
    to load: getaddrinfo finds no IPv6 address for 127.0.0.1); beanstalkd
    takes it by systemd's socket activation (LISTEN_FDS) and serves a job
    queue to an IPv4 client."""
    beanstalkd = need("beanstalkd")
    job = real_plist("homebrew.mxcl.formula_name.sockets")
    listener = job["Sockets"]["Listeners"]
    assert (listener["SockFamily"], listener["SockNodeName"], listener["SockServiceName"]) == ("IPv4v6", "127.0.0.1", "80")
    job["ProgramArguments"] = [beanstalkd]  # the spec's "test" argument stands for the formula's own
    listener["SockServiceName"] = "0"  # port 80 is Homebrew's example; a free one here
    job["StandardErrorPath"] = str(workdir / "beanstalkd.log")
    manager.write("homebrew.mxcl.formula_name.plist", job)
    info = manager.wait_state("homebrew.mxcl.formula_name", lambda i: i["pid"], timeout=20, what="beanstalkd started")
    [sock] = info["sockets"]
    assert sock["address"]["host"] == "::ffff:127.0.0.1", sock
    port = sock["address"]["port"]
    assert talk(port, b"put 0 0 60 5\r\nhello\r\n", b"\r\n").startswith(b"INSERTED ")
    assert talk(port, b"reserve-with-timeout 0\r\n", b"hello\r\n").endswith(b" 5\r\nhello\r\n")
