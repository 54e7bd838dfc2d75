"""sockets.py on real sockets: families, unix paths, errors that say why."""

from __future__ import annotations

import os
import socket

import pytest

from conftest import has_ipv6
from pylaunchd.sockets import SocketError, close_group, create_group
from pylaunchd.spec import SocketGroupSpec, SocketSpec


def group(*specs, name="L"):
    return SocketGroupSpec(name, tuple(specs))


def test_ipv4_listening_with_max_backlog():
    g = create_group(group(SocketSpec(node="127.0.0.1", service="0")))
    try:
        [b] = g.sockets
        assert b.family == "IPv4" and b.address["host"] == "127.0.0.1" and b.address["port"] > 0
        assert b.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN) == 1
        assert b.sock.getblocking(), "handed over blocking, as created"
        socket.create_connection(("127.0.0.1", b.address["port"]), timeout=5).close()
    finally:
        close_group(g)


def test_a_numeric_address_is_described_as_getsockname_says():
    # A numeric address with a port is described from the address asked for,
    # without getsockname: the same words, in every form the kernel accepts.
    from conftest import free_port
    nodes = ["127.0.0.1"] + (["::1", "0:0::1", "::ffff:127.0.0.1"] if has_ipv6() else [])
    for node in nodes:
        v6 = ":" in node
        families = ("IPv4v6",) if "ffff" in node else (None, "IPv6", "IPv4v6") if v6 else (None, "IPv4")
        for family in families:  # a v4-mapped address binds only where V6ONLY is off
            port = free_port(socket.AF_INET6, "::1") if v6 else free_port()
            g = create_group(group(SocketSpec(node=node, service=str(port), family=family)))
            try:
                [b] = g.sockets
                host, port = b.sock.getsockname()[:2]
                assert b.address == {"host": host, "port": port}, (node, family)
                assert b.family == {socket.AF_INET: "IPv4", socket.AF_INET6: "IPv6"}[b.sock.family]
            finally:
                close_group(g)


@pytest.mark.skipif(not has_ipv6(), reason="no IPv6 on this machine")
def test_unspecified_family_gives_one_socket_per_family_ipv6_only():
    # Wildcard (no SockNodeName): resolves to 0.0.0.0 and ::. Nothing connects.
    g = create_group(group(SocketSpec(service="0")))
    try:
        fams = sorted(b.family for b in g.sockets)
        assert "IPv4" in fams and "IPv6" in fams
        for b in g.sockets:
            if b.family == "IPv6":
                assert b.sock.getsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY) == 1
    finally:
        close_group(g)


@pytest.mark.skipif(not has_ipv6(), reason="no IPv6 on this machine")
def test_ipv4v6_is_one_dual_stack_socket():
    g = create_group(group(SocketSpec(family="IPv4v6", service="0")))
    try:
        [b] = g.sockets
        assert b.sock.getsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY) == 0
        socket.create_connection(("127.0.0.1", b.address["port"]), timeout=5).close()
    finally:
        close_group(g)


@pytest.mark.skipif(not has_ipv6(), reason="no IPv6 on this machine")
@pytest.mark.parametrize("node", ["127.0.0.1", "localhost"])
def test_ipv4v6_with_an_ipv4_node_is_its_v4_mapped_address(node):
    """Homebrew's sockets "tcp://127.0.0.1:PORT" is SockFamily IPv4v6 with
    SockNodeName 127.0.0.1: one dual-stack socket on ::ffff:127.0.0.1, which
    IPv4 clients of 127.0.0.1 reach (getaddrinfo found no IPv6 address for it,
    and the job did not load). A name with an IPv6 address keeps that one."""
    g = create_group(group(SocketSpec(family="IPv4v6", node=node, service="0")))
    try:
        [b] = g.sockets
        assert b.sock.family == socket.AF_INET6 and b.sock.getsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY) == 0
        if node == "127.0.0.1":
            assert b.address["host"] == "::ffff:127.0.0.1"
            socket.create_connection(("127.0.0.1", b.address["port"]), timeout=5).close()
        else:
            assert b.address["host"] in ("::1", "::ffff:127.0.0.1")
    finally:
        close_group(g)


def test_udp_and_service_name():
    g = create_group(group(SocketSpec(type="dgram", node="127.0.0.1", service="0")))
    try:
        assert g.sockets[0].sock.type == socket.SOCK_DGRAM
    finally:
        close_group(g)
    try:
        port = socket.getservbyname("domain", "tcp")
    except OSError:
        pytest.skip("no /etc/services on this machine")
    assert port == 53


def test_port_in_use_names_the_address():
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    port = taken.getsockname()[1]
    try:
        with pytest.raises(SocketError, match=rf"socket 'L': cannot bind to 127.0.0.1:{port}: Address already in use"):
            create_group(group(SocketSpec(node="127.0.0.1", service=str(port))))
    finally:
        taken.close()


def test_unresolvable_service_name():
    # Issue 11: as launchd, a service name /etc/services lacks drops that
    # socket (logged), not the whole job; it used to raise "cannot resolve".
    g = create_group(group(SocketSpec(node="127.0.0.1", service="no-such-service-xyz")))
    assert g.sockets == []


def test_unix_socket_mode_stale_file_and_cleanup(tmp_path):
    path = str(tmp_path / "s.sock")
    stale = socket.socket(socket.AF_UNIX)
    stale.bind(path)
    stale.close()  # the file stays behind, nothing listens: stale
    g = create_group(group(SocketSpec(path=path, path_mode=0o660, family="Unix")))
    try:
        assert os.stat(path).st_mode & 0o777 == 0o660
    finally:
        close_group(g)
    assert not os.path.exists(path)


def test_unix_default_mode_is_0700(tmp_path):
    path = str(tmp_path / "d.sock")
    g = create_group(group(SocketSpec(path=path, family="Unix")))
    try:
        assert os.stat(path).st_mode & 0o777 == 0o700
    finally:
        close_group(g)


def test_unix_live_socket_is_an_error(tmp_path):
    path = str(tmp_path / "live.sock")
    live = socket.socket(socket.AF_UNIX)
    live.bind(path)
    live.listen()
    try:
        with pytest.raises(SocketError, match="already listening"):
            create_group(group(SocketSpec(path=path, family="Unix")))
        assert os.path.exists(path), "a live socket file is never removed"
    finally:
        live.close()


def test_unix_missing_parent_and_non_socket(tmp_path):
    with pytest.raises(SocketError, match="parent directory .* does not exist"):
        create_group(group(SocketSpec(path=str(tmp_path / "nope" / "s.sock"), family="Unix")))
    regular = tmp_path / "file"
    regular.write_text("data")
    with pytest.raises(SocketError, match="exists and is not a socket"):
        create_group(group(SocketSpec(path=str(regular), family="Unix")))
    assert regular.read_text() == "data"


def test_close_never_removes_a_file_that_replaced_ours(tmp_path):
    path = str(tmp_path / "r.sock")
    g = create_group(group(SocketSpec(path=path, family="Unix")))
    os.unlink(path)
    other = socket.socket(socket.AF_UNIX)
    other.bind(path)
    try:
        close_group(g)
        assert os.path.exists(path)
    finally:
        other.close()


def test_array_group_failure_closes_what_was_made(tmp_path):
    path = str(tmp_path / "a.sock")
    with pytest.raises(SocketError):
        create_group(group(SocketSpec(path=path, family="Unix"),
                           SocketSpec(path=str(tmp_path / "missing" / "b.sock"), family="Unix")))
    assert not os.path.exists(path)
