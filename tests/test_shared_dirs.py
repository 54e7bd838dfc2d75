"""Unix socket paths in shared directories, raced by a second, real user
(created for the test): nothing that user plants at SockPathName or at a
parent directory is followed or removed, and the socket file never has wider
rights than its final ones."""

from __future__ import annotations

import contextlib
import os
import plistlib
import socket
import stat
import threading
from typing import Callable

import pytest

from conftest import as_user, plist, wait_for
from pylaunchd.control.protocol import request


@pytest.fixture
def shared(workdir, test_user):
    """A /tmp-like directory (1777) that the test user can reach."""
    os.chmod(workdir, 0o755)
    d = workdir / "shared"
    d.mkdir()
    os.chmod(d, 0o1777)
    return d


def load_socket_job(manager, workdir, path: str, label: str = "test.shared", **keys) -> dict:
    """Load a job with one unix socket at *path*; the load's result."""
    plists = workdir / "plists"
    plists.mkdir(exist_ok=True)
    p = plists / f"{label}.plist"
    p.write_bytes(plistlib.dumps(plist(label, ProgramArguments=["/bin/sleep", "60"],
                                       Sockets={"L": {"SockPathName": path, **keys}})))
    os.chmod(p, 0o644)
    return request(manager.socket, "load", {"paths": [str(p)]})[0]


def as_other(user, fn) -> str:
    return as_user(user.pw_uid, user.pw_gid, fn)


@contextlib.contextmanager
def racing(user, stop, step: Callable[[], object], writable=None):
    """The other user runs *step* in a loop until *stop* exists (it is
    made when the block ends); yields, once the loop runs, a list that then
    holds how many steps succeeded (did not raise OSError). *writable*: a
    directory the user may write (default: the shared one)."""
    running = (writable or stop.parent / "shared") / ".racing"

    def loop() -> str:
        done = 0
        running.touch()
        while not stop.exists():
            try:
                step()
                done += 1
            except OSError:
                pass
        return str(done)
    result: list[str] = []
    racer = threading.Thread(target=lambda: result.append(as_other(user, loop)))
    racer.start()
    try:
        wait_for(running.exists, 15, what="the other user's loop to start")
        yield result
    finally:
        stop.touch()
        racer.join(30)


def test_a_symlink_planted_at_the_socket_path_is_not_followed(manager, workdir, shared, test_user):
    victim = workdir / "victim"
    victim.write_text("precious\n")
    link = shared / "s.sock"
    as_other(test_user, lambda: os.symlink(str(victim), str(link)))
    result = load_socket_job(manager, workdir, str(link))
    assert "symbolic link (not followed)" in result["error"] and str(link) in result["error"]
    assert victim.read_text() == "precious\n" and os.path.islink(link), "neither removed nor followed"


def test_a_symlink_planted_at_a_parent_directory_is_not_followed(manager, workdir, shared, test_user):
    victim = workdir / "victimdir"
    victim.mkdir()
    as_other(test_user, lambda: os.symlink(str(victim), str(shared / "d")))
    result = load_socket_job(manager, workdir, str(shared / "d" / "s.sock"))
    assert "symbolic link owned by uid" in result["error"] and "not followed" in result["error"]
    assert list(victim.iterdir()) == []


def test_a_file_that_is_not_a_socket_is_never_removed(manager, workdir, shared, test_user):
    path = shared / "s.sock"
    as_other(test_user, lambda: path.write_text("theirs\n"))
    result = load_socket_job(manager, workdir, str(path))
    assert "exists and is not a socket" in result["error"]
    assert path.read_text() == "theirs\n"


def test_another_users_stale_socket_in_a_shared_directory_is_not_removed(manager, workdir, shared, test_user):
    """They could swap it for any file of theirs between our look and our unlink."""
    path = shared / "s.sock"

    def plant() -> str:
        with socket.socket(socket.AF_UNIX) as s:
            s.bind(str(path))  # closed without unlink: a stale socket
        return "ok"
    assert as_other(test_user, plant) == "ok"
    result = load_socket_job(manager, workdir, str(path))
    assert f"stale socket owned by uid {test_user.pw_uid}" in result["error"]
    assert stat.S_ISSOCK(os.lstat(path).st_mode)
    # Our own stale socket there is ours to remove: the job loads.
    os.unlink(path)
    with socket.socket(socket.AF_UNIX) as s:
        s.bind(str(path))
    assert "error" not in load_socket_job(manager, workdir, str(path))


def test_a_parent_swapped_for_a_symlink_while_loading_is_never_followed(manager, workdir, shared, test_user):
    """The other user flips shared/d between a directory and a symlink to a
    directory of root's as fast as it can while the job loads and unloads:
    no socket ever appears in root's directory."""
    victim = workdir / "victimdir"
    victim.mkdir()
    d, stop = shared / "d", workdir / "stop"

    def flip() -> None:
        os.mkdir(d)
        os.rmdir(d)
        os.symlink(str(victim), str(d))
        os.unlink(d)
    with racing(test_user, stop, flip) as result:
        for _ in range(30):
            r = load_socket_job(manager, workdir, str(d / "s.sock"))
            assert "error" in r, "loaded through another user's directory or link"
            assert list(victim.iterdir()) == []
    assert int(result[0]) > 0


def test_the_socket_never_has_wider_rights_than_its_final_ones(manager, workdir, shared, test_user):
    """Mode 0606, group the other user's: others may connect, that group may
    not. Binding, then setting mode before group would let the other user in
    for a moment; they try all through 20 loads and never get in."""
    path, stop = str(shared / "s.sock"), workdir / "stop"

    def knock() -> None:
        with socket.socket(socket.AF_UNIX) as s:
            s.connect(path)
    with racing(test_user, stop, knock) as result:
        for _ in range(20):
            r = load_socket_job(manager, workdir, path, SockPathMode=0o606, SockPathGroup=test_user.pw_gid)
            assert "error" not in r, r
            st = os.lstat(path)
            assert stat.S_IMODE(st.st_mode) == 0o606 and st.st_gid == test_user.pw_gid
            request(manager.socket, "unload", {"paths": [str(workdir / "plists" / "test.shared.plist")]})
            wait_for(lambda: not os.path.lexists(path), 10, what="the socket file to be removed")
    assert result == ["0"]


@pytest.fixture
def home(workdir, test_user):
    """A directory of the other user's own (mode 0755, theirs): their ground."""
    os.chmod(workdir, 0o755)
    d = workdir / "home"
    d.mkdir()
    os.chown(d, test_user.pw_uid, test_user.pw_gid)
    return d


def test_a_socket_in_another_users_own_directory_is_bound_there(manager, workdir, home, test_user):
    """Root may bind in a user's own directory (/run/user/UID, a home), as
    systemd's chase() allows; a stale socket of theirs there is removed."""
    def plant() -> str:
        os.mkdir(home / "run")
        with socket.socket(socket.AF_UNIX) as s:
            s.bind(str(home / "run" / "s.sock"))  # closed without unlink: a stale socket
        os.symlink("run", str(home / "link"))  # a link of theirs that stays on their ground
        return "ok"
    assert as_other(test_user, plant) == "ok"
    result = load_socket_job(manager, workdir, str(home / "link" / "s.sock"))
    assert "error" not in result, result
    path = home / "run" / "s.sock"
    assert stat.S_ISSOCK(os.lstat(path).st_mode) and os.lstat(path).st_uid == 0
    with socket.socket(socket.AF_UNIX) as c:
        c.connect(str(path))  # the kernel queues it: the job's socket listens
    request(manager.socket, "unload", {"paths": [str(workdir / "plists" / "test.shared.plist")]})
    manager.wait(lambda: not path.exists(), 15, "its socket file removed with the job")


def test_a_link_of_theirs_out_of_their_directory_is_not_followed(manager, workdir, home, test_user):
    victim = workdir / "victimdir"
    victim.mkdir()
    as_other(test_user, lambda: os.symlink(str(victim), str(home / "run")))
    result = load_socket_job(manager, workdir, str(home / "run" / "s.sock"))
    assert f"owned by uid {test_user.pw_uid}" in result["error"] and "not followed" in result["error"], result
    assert list(victim.iterdir()) == []


def test_their_directory_swapped_while_loading_never_puts_or_removes_a_file_elsewhere(
        manager, workdir, home, test_user):
    """The user flips home/d between a directory of theirs and a symlink to
    a directory of root's while the job loads and unloads, 30 times: the bind
    and the unlink go through the directory checked, so root's directory
    never gets a socket and never loses its file of the same name."""
    victim = workdir / "victimdir"
    victim.mkdir()
    (victim / "s.sock").write_text("root's\n")
    d, stop = home / "d", workdir / "stop"

    def flip() -> None:
        os.mkdir(d)
        os.rmdir(d)
        os.symlink(str(victim), str(d))
        os.unlink(d)
    loaded = 0
    with racing(test_user, stop, flip, writable=home) as result:
        for _ in range(30):
            r = load_socket_job(manager, workdir, str(d / "s.sock"))
            if "error" not in r:
                loaded += 1
                request(manager.socket, "unload", {"paths": [str(workdir / "plists" / "test.shared.plist")]})
            assert sorted(p.name for p in victim.iterdir()) == ["s.sock"]
            assert (victim / "s.sock").read_text() == "root's\n"
    assert int(result[0]) > 0
