"""Socket keys beyond the basics, on real sockets through the manager."""

from __future__ import annotations

import os
import socket
import subprocess

import pytest

from conftest import PYTHON, has_ipv6, plist


def test_secure_socket_with_key_is_exported_to_the_domain(manager, workdir):
    seen = workdir / "seen.txt"
    manager.write("agent.plist", plist(
        "test.agent", ProgramArguments=["/bin/cat"], inetdCompatibility={"Wait": False},
        Sockets={"ssh": {"SecureSocketWithKey": "TEST_AUTH_SOCK"}}))
    # Another job of the domain, loaded in the same batch, sees the variable.
    manager.write("client.plist", plist(
        "test.client", RunAtLoad=True,
        ProgramArguments=["/bin/sh", "-c", f'echo "$TEST_AUTH_SOCK" > {seen}']))
    info = manager.wait_loaded("test.agent")
    path = info["sockets"][0]["address"]["path"]
    st = os.stat(os.path.dirname(path))
    assert st.st_mode & 0o777 == 0o700, "a fresh private directory"
    manager.wait(lambda: seen.exists() and seen.read_text().strip(), 10, "client output")
    assert seen.read_text().strip() == path
    with socket.socket(socket.AF_UNIX) as c:
        c.settimeout(10)
        c.connect(path)
        c.sendall(b"through the secure socket\n")
        assert c.recv(100) == b"through the secure socket\n"
    (manager.jobs_dir / "agent.plist").unlink()
    manager.wait_unloaded("test.agent")
    assert not os.path.exists(os.path.dirname(path)), "the private directory is removed at unload"


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to chown to another user")
def test_sock_path_owner_and_group(manager, workdir):
    path = workdir / "owned.sock"
    manager.write("o.plist", plist("test.owned", ProgramArguments=["/bin/cat"],
                                   Sockets={"L": {"SockPathName": str(path), "SockPathOwner": 65534,
                                                  "SockPathGroup": 65534, "SockPathMode": 432}}))
    manager.wait_loaded("test.owned")
    st = os.stat(path)
    assert (st.st_uid, st.st_gid, st.st_mode & 0o777) == (65534, 65534, 0o660)


def test_multicast_group_on_loopback(manager_factory, workdir, netns):
    """In a namespace of our own, where loopback carries multicast."""
    m = manager_factory(prefix=["ip", "netns", "exec", netns])
    group = "239.255.42.99"
    out = workdir / "mc.txt"
    code = f"import socket; s=socket.socket(fileno=0); d,a=s.recvfrom(100); open({str(out)!r}, 'wb').write(d)"
    m.write("m.plist", plist(
        "test.mcast", ProgramArguments=[PYTHON, "-c", code], inetdCompatibility={"Wait": True},
        Sockets={"L": {"SockType": "dgram", "SockFamily": "IPv4", "SockServiceName": 0, "MulticastGroup": group}}))
    port = m.wait_loaded("test.mcast")["sockets"][0]["address"]["port"]
    send = ("import socket; c=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); "
            "c.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton('127.0.0.1')); "
            f"c.sendto(b'to the group', ({group!r}, {port}))")
    subprocess.run(["ip", "netns", "exec", netns, PYTHON, "-c", send], check=True, timeout=30)
    m.wait(lambda: out.exists() and out.read_bytes(), 10, "the datagram sent to the group")
    assert out.read_bytes() == b"to the group"


def test_seqpacket_unix_and_connected_socket(manager, workdir):
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen()
    port = server.getsockname()[1]
    try:
        manager.write("sp.plist", plist(
            "test.seq", ProgramArguments=["/bin/true"],
            Sockets={"Seq": {"SockType": "seqpacket", "SockPathName": str(workdir / "seq.sock")},
                     "Out": {"SockPassive": False, "SockNodeName": "127.0.0.1", "SockServiceName": port}}))
        info = manager.wait_loaded("test.seq")
        by_name = {s["name"]: s for s in info["sockets"]}
        assert by_name["Seq"]["type"] == "seqpacket" and by_name["Out"]["passive"] is False
        server.settimeout(5)
        conn, _ = server.accept()  # the manager connected at load
        conn.close()
        with socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET) as c:
            c.connect(str(workdir / "seq.sock"))
    finally:
        server.close()


needs_ipv6 = pytest.mark.skipif(not has_ipv6(), reason="no IPv6 loopback on this machine")
ECHO = dict(ProgramArguments=["/bin/cat"], inetdCompatibility={"Wait": False})


@needs_ipv6
def test_ipv6_socket(manager):
    manager.write("v6.plist", plist("test.v6", **ECHO,
                                    Sockets={"L": {"SockNodeName": "::1", "SockServiceName": 0, "SockFamily": "IPv6"}}))
    s = manager.wait_loaded("test.v6")["sockets"][0]
    assert s["family"] == "IPv6" and s["address"]["host"] == "::1"
    with socket.create_connection(("::1", s["address"]["port"]), timeout=10) as c:
        c.sendall(b"six\n")
        c.shutdown(socket.SHUT_WR)
        assert c.recv(100) == b"six\n"


@needs_ipv6
def test_dual_stack_socket_serves_both_families(manager):
    manager.write("ds.plist", plist("test.dual", **ECHO, Sockets={"L": {"SockServiceName": 0, "SockFamily": "IPv4v6"}}))
    [s] = manager.wait_loaded("test.dual")["sockets"]
    port = s["address"]["port"]
    for host in ("127.0.0.1", "::1"):
        with socket.create_connection((host, port), timeout=10) as c:
            c.sendall(host.encode() + b"\n")
            c.shutdown(socket.SHUT_WR)
            assert c.recv(100) == host.encode() + b"\n"


def test_unix_datagram_wait_true(manager, workdir):
    path = workdir / "dg.sock"
    out = workdir / "dg.txt"
    code = f"import socket; s=socket.socket(fileno=0); open({str(out)!r}, 'wb').write(s.recv(100))"
    manager.write("dg.plist", plist("test.unixdgram", ProgramArguments=[PYTHON, "-c", code],
                                    inetdCompatibility={"Wait": True},
                                    Sockets={"L": {"SockPathName": str(path), "SockType": "dgram"}}))
    info = manager.wait_loaded("test.unixdgram")
    assert info["sockets"][0]["type"] == "dgram"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as c:
        c.sendto(b"a datagram", str(path))
    manager.wait(lambda: out.exists() and out.read_bytes(), 10, "the datagram")
    assert out.read_bytes() == b"a datagram"


def test_activation_storm_is_throttled_and_recovers(manager, workdir):
    """A job that exits at once without accepting: the pending connection
    keeps its socket readable. The manager must not spin; it throttles, says
    until when, and serves the client once the job can."""
    fixed = workdir / "fixed"
    script = (f'[ -e {fixed} ] || exit 1; exec {PYTHON} -c "import socket; s=socket.socket(fileno=3); '
              f'c,_=s.accept(); c.sendall(b\'served\\\\n\')"')
    manager.write("st.plist", plist("test.storm", ProgramArguments=["/bin/sh", "-c", script], ThrottleInterval=2,
                                    Sockets={"L": {"SockNodeName": "127.0.0.1", "SockServiceName": 0}}))
    port = manager.wait_loaded("test.storm")["sockets"][0]["address"]["port"]
    client = socket.create_connection(("127.0.0.1", port), timeout=30)
    info = manager.wait_state("test.storm", lambda i: i["state"] == "throttled", what="throttled")
    assert 0 < info["throttled_for"] <= 2
    assert "throttled" in manager.ctl("print", "test.storm").stdout
    def cpu_seconds(pid):
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    before = cpu_seconds(manager.proc.pid)
    manager.wait_state("test.storm", lambda i: i["runs"] >= 3, what="two more throttled attempts")
    assert cpu_seconds(manager.proc.pid) - before < 1.0, "the manager does not spin while the job fails"
    fixed.write_text("")
    client.settimeout(30)
    try:
        assert client.recv(100) == b"served\n", "the waiting client is served once the job works"
    finally:
        client.close()


def test_instances_cap_queues_connections_never_refuses(manager):
    """inetdCompatibility.Instances: past the cap, connections wait in the
    kernel queue and are served as instances exit; none is refused."""
    manager.write("cap.plist", plist("test.cap", ProgramArguments=["/bin/sh", "-c", "read line; echo \"got $line\""],
                                     inetdCompatibility={"Wait": False, "Instances": 2},
                                     Sockets={"L": {"SockNodeName": "127.0.0.1", "SockServiceName": 0}}))
    port = manager.wait_loaded("test.cap")["sockets"][0]["address"]["port"]
    held = [socket.create_connection(("127.0.0.1", port), timeout=30) for _ in range(3)]
    try:
        manager.wait_state("test.cap", lambda i: len(i["instances"]) == 2 and not i["watching_sockets"],
                           what="two instances, the third connection queued")
        assert "2 instances running; new connections wait in the queue" in manager.log()
        for i, c in enumerate(held):
            c.sendall(f"n{i}\n".encode())
        for i, c in enumerate(held):  # the third is served once one of the first two exits
            assert c.recv(100) == f"got n{i}\n".encode()
    finally:
        for c in held:
            c.close()


def test_rendezvous_the_old_name_of_bonjour_is_known():
    """Found by the corpus (openlaunchd's ftp.plist): not "unknown key"."""
    from pylaunchd.spec import validate

    s = validate({"Label": "x", "Program": "/bin/true",
                  "Sockets": {"L": {"SockServiceName": "ftp", "Rendezvous": True}}}, "/j/x.plist")
    [w] = s.warnings
    assert w.key_path == "Sockets.L.Rendezvous" and "the name Bonjour had before Mac OS X 10.4" in w.message
