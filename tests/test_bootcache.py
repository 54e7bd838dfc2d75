"""The boot cache (bootcache.py, boot.py): an unchanged plist is bound from
the cache without being read; a changed one, a disabled one, a corrupt or
foreign or unsafe cache never binds what the domain would not; and what is
bound with the cache is what is bound without it."""

from __future__ import annotations

import os
import plistlib
import socket

import pytest
from conftest import ManagerProcess, free_port, port_free, wait_for
from inprocess import run_booted

from pylaunchd import bootcache
from pylaunchd.boot import bind_early
from pylaunchd.domain import Domain, Overrides
from pylaunchd.reexec import handoff
from pylaunchd.cli import pylaunchd as cli
from pylaunchd.sockets import close_group
from pylaunchd.socketspec import SocketGroupSpec, SocketSpec
from pylaunchd.spec import load_spec


def write(d, name, port, **keys):
    path = os.path.join(d, f"{name}.plist")
    with open(path, "wb") as f:
        f.write(plistlib.dumps({"Label": name, "ProgramArguments": ["/bin/cat"],
                                "Sockets": {"L": {"SockNodeName": "127.0.0.1", "SockServiceName": str(port)}},
                                **keys}))
    os.chmod(path, 0o644)
    return path


def domain(tmp_path) -> Domain:
    (tmp_path / "jobs").mkdir()
    (tmp_path / "state").mkdir(mode=0o700)
    return Domain(system=os.geteuid() == 0, jobs_dirs=[str(tmp_path / "jobs")],
                  control_socket=str(tmp_path / "c.sock"), state_dir=str(tmp_path / "state"))


def cache_from_disk(d: Domain, paths) -> None:
    """The cache the manager writes: each plist's identity and its spec, read now."""
    items = [(p, bootcache.file_identity(p), d.admit(load_spec(p))) for p in paths]
    bootcache.write(d.state_dir, bootcache.encode(d, socket.gethostname(), items))


def bound(early) -> dict:
    """path -> (the socket definitions, the addresses listening)."""
    return {p: (tuple(g.spec for g in e.groups), [b.address for g in e.groups for b in g.sockets])
            for p, e in early.items()}


def close(early) -> None:
    for e in early.values():
        for g in e.groups:
            close_group(g)


def listening(port: int) -> bool:
    s = socket.socket()
    try:
        return s.connect_ex(("127.0.0.1", port)) == 0
    finally:
        s.close()


# -- the format -------------------------------------------------------------

def test_the_schema_follows_socketspec_and_the_records_behave_as_frozen_dataclasses():
    assert bootcache.FIELDS == SocketSpec.__slots__
    a, b = SocketSpec(node="::1", service="80"), SocketSpec("stream", True, None, None, "::1", "80")
    assert a == b and hash(a) == hash(b) and a != SocketSpec(node="::1", service="81")
    with pytest.raises(AttributeError):
        a.node = "x"
    with pytest.raises(TypeError):
        SocketSpec(nod="x")
    with pytest.raises(TypeError):
        SocketGroupSpec("L")
    import copy
    import pickle
    assert pickle.loads(pickle.dumps(a)) == a == copy.deepcopy(a)
    assert cli.REEXEC_ENV == handoff.ENV


def test_a_cache_for_another_uid_domain_host_or_format_and_a_corrupt_one_are_not_used(tmp_path):
    import marshal
    d = domain(tmp_path)
    spec = type("S", (), {"label": "a", "disabled": False,
                          "sockets": (SocketGroupSpec("L", (SocketSpec(node="127.0.0.1", service="9"),)),)})()
    data = bootcache.encode(d, "host", [("/x/a.plist", (1, 2, 3, 4, 5), spec)])
    header = bootcache._header(d, "host")
    assert set(bootcache.decode(data, header)) == {"/x/a.plist"}
    assert bootcache.decode(data, bootcache._header(d, "otherhost")) is None
    other = Domain(system=not d.system, jobs_dirs=d.jobs_dirs, control_socket="c", state_dir=d.state_dir)
    assert bootcache.decode(data, bootcache._header(other, "host")) is None
    assert bootcache.decode(data, header[:3] + (os.geteuid() + 1,) + header[4:]) is None
    assert bootcache.decode(data, header[:1] + ("0.0.0",) + header[2:]) is None  # another version wrote it
    flipped = bytearray(data)
    flipped[-3] ^= 0x40
    for bad in (bytes(flipped), data[:-5], data.replace(bootcache.MAGIC, b"x" * len(bootcache.MAGIC)), b""):
        assert bootcache.decode(bad, header) is None
    # Checksummed but not an entry of this shape (a value of the wrong type): not used.
    assert bootcache.entry(bootcache.decode(data, header)["/x/a.plist"]).label == "a"
    for raw in (((1, 2, 3, 4, 5), "a", "no", ()), ((1, 2, 3, 4, 5), "a", False, (("L", (("stream",) * 13,)),)),
                ((1, 2, 3, 4), "a", False, ()), None, 7, ((1, 2, 3, 4, 5), "a", False, (("L", ((None,) * 13,)),))):
        assert bootcache.entry(marshal.dumps(raw)) is None, raw
    assert bootcache.entry(b"\xff") is None and bootcache.entry(None) is None


def test_each_socket_of_the_cache_is_checked_after_others_of_its_shape_passed():
    # Type signatures found allowed are remembered (bootcache._socket); a socket
    # with one value of another type, or a Bonjour name that is no string,
    # is refused however many good ones came before.
    import marshal
    good = ("stream", True, "IPv4", None, "127.0.0.1", "9", None, None, None, None, None, None, ("x",))
    for _ in range(3):
        e = bootcache.entry(marshal.dumps(((1, 2, 3, 4, 5), "a", False, (("L", (good,)),))))
        assert e.sockets[0].sockets[0] == SocketSpec(*good) and e.identity == (1, 2, 3, 4, 5)
    for i, wrong in [(5, 9), (1, 1), (0, None), (12, (7,)), (12, ["x"]), (7, True)]:
        bad = good[:i] + (wrong,) + good[i + 1:]
        assert bootcache.entry(marshal.dumps(((1, 2, 3, 4, 5), "a", False, (("L", (bad,)),)))) is None, bad
    assert bootcache.entry(marshal.dumps(([1, 2, 3, 4, 5], "a", False, ()))) is None  # an identity not a tuple


# -- boot with the cache ----------------------------------------------------

def test_what_is_bound_with_the_cache_is_what_is_bound_without_it(tmp_path):
    d = domain(tmp_path)
    jobs = d.jobs_dirs[0]
    paths = [write(jobs, f"c.{i}", free_port()) for i in range(4)]
    unix = os.path.join(jobs, "c.unix.plist")
    with open(unix, "wb") as f:
        f.write(plistlib.dumps({"Label": "c.unix", "ProgramArguments": ["/bin/cat"],
                                "Sockets": {"U": {"SockPathName": str(tmp_path / "u.sock"), "SockPathMode": 0o600}}}))
    cold = bind_early(d)
    cold_bound = bound(cold)
    assert not any(e.cached for e in cold.values())
    close(cold)
    cache_from_disk(d, paths + [unix])
    warm = bind_early(d)
    try:
        assert all(e.cached for e in warm.values())
        assert bound(warm) == cold_bound and len(cold_bound) == 5
        assert warm[paths[0]].spec == d.admit(load_spec(paths[0]))  # read when asked for
        assert all(listening(g.sockets[0].address["port"]) for p in paths for g in warm[p].groups)
        assert oct(os.stat(tmp_path / "u.sock").st_mode & 0o777) == "0o600"
    finally:
        close(warm)


def test_a_plist_changed_with_its_size_and_mtime_restored_is_read_again(tmp_path):
    d = domain(tmp_path)
    old_port, new_port = free_port(), free_port()
    while len(str(new_port)) != len(str(old_port)):
        new_port = free_port()
    path = write(d.jobs_dirs[0], "c.edited", old_port)
    cache_from_disk(d, [path])
    st = os.stat(path)
    write(d.jobs_dirs[0], "c.edited", new_port)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))  # size and mtime as cached: only the ctime moved
    assert os.stat(path).st_size == st.st_size and os.stat(path).st_mtime_ns == st.st_mtime_ns
    early = bind_early(d)
    try:
        assert not early[path].cached
        assert listening(new_port) and not listening(old_port)
    finally:
        close(early)


def test_overrides_and_file_rules_apply_at_every_start_not_as_cached(tmp_path):
    d = domain(tmp_path)
    off_port, unsafe_port, ok_port = free_port(), free_port(), free_port()
    paths = [write(d.jobs_dirs[0], "c.off", off_port), write(d.jobs_dirs[0], "c.unsafe", unsafe_port),
             write(d.jobs_dirs[0], "c.ok", ok_port)]
    cache_from_disk(d, paths)
    Overrides(d.state_dir).set_disabled("c.off", True)  # pylaunchctl disable, after the cache was written
    os.chmod(paths[1], 0o666)  # world-writable now: launchctl's rule refuses it
    early = bind_early(d)
    try:
        assert list(early) == [paths[2]] and early[paths[2]].cached
        assert not listening(off_port) and not listening(unsafe_port)
    finally:
        close(early)


@pytest.mark.parametrize("how", ["corrupt", "writable directory", "writable file", "symlink", "other owner",
                                 "other domain"])
def test_an_unsafe_corrupt_or_foreign_cache_is_refused_and_every_plist_read(tmp_path, how, caplog):
    if how == "other owner" and os.geteuid() != 0:
        pytest.skip("giving a file to another uid needs root")
    d = domain(tmp_path)
    port = free_port()
    path = write(d.jobs_dirs[0], "c.one", port)
    cache_from_disk(d, [path])
    cache = bootcache.cache_path(d.state_dir)
    if how == "corrupt":
        with open(cache, "r+b") as f:
            f.seek(40)
            f.write(b"\xff\xff")
    elif how == "writable directory":
        os.chmod(d.state_dir, 0o777)
    elif how == "writable file":
        os.chmod(cache, 0o622)
    elif how == "symlink":
        os.rename(cache, cache + ".real")
        os.symlink(cache + ".real", cache)
    elif how == "other owner":
        os.chown(cache, 65534, 65534)
    else:
        other = Domain(system=not d.system, jobs_dirs=d.jobs_dirs, control_socket="c", state_dir=d.state_dir)
        items = [(path, bootcache.file_identity(path), d.admit(load_spec(path)))]
        bootcache.write(d.state_dir, bootcache.encode(other, socket.gethostname(), items))
    early = bind_early(d)
    try:
        assert list(early) == [path] and not early[path].cached, "read the slow way"
        assert listening(port)
    finally:
        close(early)
    if how in ("writable directory", "writable file", "other owner", "corrupt", "other domain"):
        assert "boot cache" in caplog.text and "not used" in caplog.text


def test_a_cache_that_lies_binds_only_for_an_instant_the_table_keeps_what_the_plist_says(tmp_path):
    """A cache entry with the plist's identity but another socket (written
    by hand here: the manager never writes one) is bound at boot; the
    table's own reading closes it and binds the plist's."""
    d = domain(tmp_path)
    real_port, lie_port = free_port(), free_port()
    path = write(d.jobs_dirs[0], "c.lie", real_port)
    spec = d.admit(load_spec(path))
    lie = type("S", (), {"label": spec.label, "disabled": False,
                         "sockets": (SocketGroupSpec("L", (SocketSpec(node="127.0.0.1", service=str(lie_port)),)),)})()
    bootcache.write(d.state_dir, bootcache.encode(d, socket.gethostname(),
                                                  [(path, bootcache.file_identity(path), lie)]))
    early = bind_early(d)
    assert early[path].cached and listening(lie_port)

    def check(m):
        assert m.table.find("c.lie").flat_sockets()[0][1].address["port"] == real_port
        assert listening(real_port) and not listening(lie_port)
        m.clock.advance(bootcache.Writer.DELAY + 0.1)  # the manager writes the truth
        entries = bootcache.read(d, socket.gethostname())
        assert bootcache.entry(entries[path]).sockets == spec.sockets
    run_booted(d, early, check)


def test_the_manager_writes_the_cache_after_its_loads_and_the_next_start_uses_it(tmp_path):
    """Two real starts of pylaunchd: the second binds from the cache the
    first wrote; a plist edited in between (size and mtime restored) is read."""
    m = ManagerProcess(tmp_path)
    same, old, new = free_port(), free_port(), free_port()
    while len(str(new)) != len(str(old)):
        new = free_port()
    write(m.jobs_dir, "c.same", same)
    edited = write(m.jobs_dir, "c.edited", old)
    cache = bootcache.cache_path(str(m.state_dir))
    m.start()
    try:
        wait_for(lambda: os.path.exists(cache), 10, what="the boot cache to be written")
        assert oct(os.stat(cache).st_mode & 0o777) == "0o600"
    finally:
        assert m.stop() == 0
    written = os.stat(cache).st_mtime_ns
    st = os.stat(edited)
    write(m.jobs_dir, "c.edited", new)
    os.utime(edited, ns=(st.st_atime_ns, st.st_mtime_ns))
    m.start()
    try:
        assert listening(same) and listening(new)
        wait_for(lambda: port_free(old), 10, what="the old port to stay closed")
        wait_for(lambda: os.stat(cache).st_mtime_ns != written, 10, what="the cache to follow the edit")
        entries = bootcache.read(Domain(system=os.geteuid() == 0, jobs_dirs=[str(m.jobs_dir)], control_socket="c",
                                        state_dir=str(m.state_dir)), socket.gethostname())
        assert [g.sockets[0].service for g in bootcache.entry(entries[edited]).sockets] == [str(new)]
    finally:
        assert m.stop() == 0


def test_a_warm_start_imports_nothing_heavy_before_its_sockets_listen(tmp_path):
    """The way from the CLI module to the bound sockets of unchanged plists,
    in a fresh interpreter: none of the modules that made it slow (the
    validator, the job's model, dataclasses, typing, logging, json; the
    socket module, its enums and selectors) until the last socket listens,
    then socket.socket objects as before."""
    import subprocess
    import sys
    d = domain(tmp_path)
    port = free_port()
    path = write(d.jobs_dirs[0], "c.light", port)
    cache_from_disk(d, [path])
    script = f"""
import sys
import pylaunchd.cli.pylaunchd, pylaunchd.control.listener, pylaunchd.boot
from pylaunchd.boot import bind_early
from pylaunchd.domain import Domain
control = pylaunchd.control.listener.bind_control_socket({str(tmp_path / "control.sock")!r})
seen = []  # the modules once the last socket listens: boot then makes them socket.socket objects
full = pylaunchd.boot.full_sockets
pylaunchd.boot.full_sockets = lambda groups: (seen or seen.append(set(sys.modules)), full(groups))
early = bind_early(Domain(system={d.system!r}, jobs_dirs={d.jobs_dirs!r}, control_socket="c", state_dir={d.state_dir!r}))
assert [e.cached for e in early.values()] == [True], early
import socket
assert all(type(b.sock) is socket.socket for e in early.values() for g in e.groups for b in g.sockets)
heavy = {{"pylaunchd.validate", "pylaunchd.jobspec", "pylaunchd.plistxml", "dataclasses", "typing", "logging", "json",
          "socket", "selectors", "enum", "functools", "struct"}}
print(sorted(heavy & seen[0]))
"""
    env = dict(os.environ, PYTHONSAFEPATH="1",
               PYTHONPATH=os.pathsep.join([os.path.dirname(os.path.dirname(bootcache.__file__)),
                                           os.environ.get("PYTHONPATH", "")]))
    cp = subprocess.run([sys.executable, "-S", "-c", script], env=env, capture_output=True, text=True, timeout=30)
    assert cp.returncode == 0, cp.stderr
    assert cp.stdout.strip() == "[]"


def test_a_cached_plist_that_no_longer_validates_is_bound_for_an_instant_and_reported(tmp_path):
    """A cache entry whose identity matches a plist that does not validate
    (written by hand: only another version's cache could be so): boot's
    spawns skip it (Early.readable), the table reports it and closes its socket."""
    d = domain(tmp_path)
    port = free_port()
    path = os.path.join(d.jobs_dirs[0], "c.bad.plist")
    with open(path, "wb") as f:
        f.write(plistlib.dumps({"Label": "c.bad", "Sockets": {"L": {"SockNodeName": "127.0.0.1",
                                                                     "SockServiceName": str(port)}}}))
    os.chmod(path, 0o644)  # no Program nor ProgramArguments: invalid
    spec = type("S", (), {"label": "c.bad", "disabled": False,
                          "sockets": (SocketGroupSpec("L", (SocketSpec(node="127.0.0.1", service=str(port)),)),)})()
    bootcache.write(d.state_dir, bootcache.encode(d, socket.gethostname(),
                                                  [(path, bootcache.file_identity(path), spec)]))
    early = bind_early(d)
    assert early[path].cached and listening(port) and not early[path].readable()

    def check(m):
        assert m.table.find("c.bad") is None and not listening(port)
        assert path in m.table.errors, "reported as a plist that did not load"
    run_booted(d, early, check)


def test_the_writer_calls_its_after_hook_once_a_burst_has_settled_written_or_not(tmp_path):
    """The manager trims its heap there (cspawn.trim_heap): after each write,
    also one that finds the contents unchanged, and not before the burst ends."""
    from pylaunchd.clock import FakeClock
    from pylaunchd import cspawn

    d = domain(tmp_path)
    path = write(d.jobs_dirs[0], "w.one", free_port())
    spec = d.admit(load_spec(path))
    calls = []
    w = bootcache.Writer(d, FakeClock(), lambda: [(path, bootcache.file_identity(path), spec)],
                         after=lambda: calls.append(os.path.exists(bootcache.cache_path(d.state_dir))))
    w.soon()
    w.clock.advance(0)
    assert calls == [True]  # the first write: at once, then the hook
    w.soon()
    w.clock.advance(bootcache.Writer.DELAY / 2)
    w.soon()  # the burst goes on: no write, no hook yet
    w.clock.advance(bootcache.Writer.DELAY / 2 + 0.01)
    assert calls == [True]
    w.clock.advance(bootcache.Writer.DELAY)
    assert calls == [True, True]  # unchanged contents: not written again, the hook all the same
    cspawn.trim_heap()  # and the hook's work itself is harmless (with or without the extension)
