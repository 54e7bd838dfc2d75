"""Every launch trigger and KeepAlive condition, with real processes, files,
mounts and network interfaces."""

from __future__ import annotations

import os
import socket
import subprocess

import pytest

from conftest import plist

root_only = pytest.mark.skipif(os.geteuid() != 0, reason="needs root")


def counter_job(label, log, **keys):
    """A job that appends one line per run to *log*."""
    return plist(label, ProgramArguments=["/bin/sh", "-c", f"echo run >> {log}"], **keys)


def runs_in(path) -> int:
    try:
        return len(path.read_text().splitlines())
    except FileNotFoundError:
        return 0


def test_start_interval(manager, workdir):
    log = workdir / "interval.log"
    manager.write("i.plist", counter_job("test.interval", log, StartInterval=1, ThrottleInterval=0))
    manager.wait(lambda: runs_in(log) >= 2, 10, "two runs a second apart")
    info = manager.info("test.interval")
    assert info["last_trigger"] == "StartInterval"


def test_watch_paths(manager, workdir):
    log = workdir / "watch.log"
    target = workdir / "conf" / "app.conf"
    manager.write("w.plist", counter_job("test.watch", log, WatchPaths=[str(target)], ThrottleInterval=0))
    manager.wait_loaded("test.watch")
    target.parent.mkdir()
    target.write_text("v1")
    manager.wait(lambda: runs_in(log) >= 1, 10, "run after the watched file appeared")
    before = runs_in(log)
    manager.wait_state("test.watch", lambda i: i["state"] == "waiting", what="done")
    target.write_text("v2")
    manager.wait(lambda: runs_in(log) > before, 10, "run after the watched file changed")
    assert manager.info("test.watch")["last_trigger"].startswith("WatchPaths")


def test_queue_directories_drained(manager, workdir):
    queue = workdir / "queue"
    queue.mkdir()
    done = workdir / "done"
    done.mkdir()
    # Takes one file per run, so it needs several runs to drain the queue.
    script = f'f=$(ls {queue} | head -n1); [ -n "$f" ] && mv "{queue}/$f" {done}/'
    manager.write("q.plist", plist("test.queue", ProgramArguments=["/bin/sh", "-c", script],
                                   QueueDirectories=[str(queue)], ThrottleInterval=0))
    manager.wait_loaded("test.queue")
    for i in range(3):
        (queue / f"item{i}").write_text("x")
    manager.wait(lambda: len(os.listdir(done)) == 3, 15, "the queue drained")
    info = manager.wait_state("test.queue", lambda i: i["state"] == "waiting", what="idle once empty")
    runs = info["runs"]
    assert runs >= 3
    (queue / "late").write_text("x")
    manager.wait(lambda: (done / "late").exists(), 10, "a new file starts it again")


def test_keepalive_path_state(manager, workdir):
    flag = workdir / "flags" / "enabled"
    log = workdir / "ps.log"
    manager.write("p.plist", plist("test.pathstate", ProgramArguments=["/bin/sh", "-c", f"echo run >> {log}; sleep 0.2"],
                                   KeepAlive={"PathState": {str(flag): True}}, ThrottleInterval=0))
    manager.wait_loaded("test.pathstate")
    assert runs_in(log) == 0
    flag.parent.mkdir()
    flag.write_text("")
    manager.wait(lambda: runs_in(log) >= 3, 10, "kept alive while the path exists")
    flag.unlink()
    manager.wait_state("test.pathstate", lambda i: i["state"] == "waiting", what="stops once the path is gone")
    settled = runs_in(log)
    flag.write_text("")  # and comes back when it reappears
    manager.wait(lambda: runs_in(log) > settled, 10, "restart when the path reappears")
    flag.unlink()


def test_keepalive_path_state_false(manager, workdir):
    lock = workdir / "maintenance"
    lock.write_text("")
    log = workdir / "psf.log"
    manager.write("p.plist", plist("test.pathstate.false", ProgramArguments=["/bin/sh", "-c", f"echo run >> {log}; sleep 0.2"],
                                   KeepAlive={"PathState": {str(lock): False}}, ThrottleInterval=0))
    manager.wait_loaded("test.pathstate.false")
    assert runs_in(log) == 0
    lock.unlink()
    manager.wait(lambda: runs_in(log) >= 2, 10, "kept alive while the path does not exist")
    lock.write_text("")
    manager.wait_state("test.pathstate.false", lambda i: i["state"] == "waiting", what="stops")


def test_keepalive_other_job_enabled(manager, workdir):
    manager.write("a.plist", plist("test.follower", ProgramArguments=["/bin/sleep", "60"],
                                   KeepAlive={"OtherJobEnabled": {"test.leader": True}}))
    manager.wait_loaded("test.follower")
    assert manager.info("test.follower")["pid"] is None
    manager.write("b.plist", plist("test.leader", ProgramArguments=["/bin/true"]))
    manager.wait_state("test.follower", lambda i: i["pid"], what="starts when the other job is loaded")
    assert "OtherJobEnabled" in manager.info("test.follower")["last_trigger"]


def test_keepalive_crashed(manager, workdir):
    log = workdir / "crash.log"
    manager.write("c.plist", plist("test.crash", ProgramArguments=["/bin/sh", "-c", f"echo run >> {log}; kill -SEGV $$"],
                                   KeepAlive={"Crashed": True}, ThrottleInterval=0))
    manager.wait(lambda: runs_in(log) >= 3, 10, "restarted after each crash")
    assert manager.info("test.crash")["last_exit_status"] == -11


def test_keepalive_after_initial_demand(manager, workdir):
    manager.write("d.plist", plist("test.demand", ProgramArguments=["/bin/cat"], inetdCompatibility={"Wait": True},
                                   KeepAlive={"AfterInitialDemand": True}, ThrottleInterval=0,
                                   Sockets={"L": {"SockNodeName": "127.0.0.1", "SockServiceName": 0}}))
    # (Wait true with a listening socket: cat reads it and fails at once; what matters is when it runs.)
    port = manager.wait_loaded("test.demand")["sockets"][0]["address"]["port"]
    assert manager.info("test.demand")["runs"] == 0, "not kept alive before the first demand"
    with socket.create_connection(("127.0.0.1", port), timeout=5):
        manager.wait_state("test.demand", lambda i: i["runs"] >= 3, what="kept alive after the first demand")


def domain_of(manager) -> str:
    return __import__("json").loads(manager.ctl("version", "--json").stdout)["domain"]


def test_launch_only_once(manager, workdir):
    log = workdir / "once.log"
    manager.write("o.plist", counter_job("test.once", log, RunAtLoad=True, LaunchOnlyOnce=True, KeepAlive=True,
                                         ThrottleInterval=0))
    manager.wait_state("test.once", lambda i: i["runs"] == 1 and i["state"] == "waiting", what="one run")
    assert "Exited. Was only configured to run once." in manager.log()
    assert runs_in(log) == 1
    for verb in (("start", "test.once"), ("kickstart", f"{domain_of(manager)}/test.once")):
        cp = manager.ctl(*verb, check=False)  # issue 11: never again in this manager's life
        assert cp.returncode == 5 and "does not run again" in cp.stderr, cp
    assert manager.info("test.once")["runs"] == 1 and runs_in(log) == 1


@root_only
def test_start_on_mount(manager, workdir):
    log = workdir / "mount.log"
    manager.write("m.plist", counter_job("test.mount", log, StartOnMount=True))
    manager.wait_loaded("test.mount")
    point = workdir / "mnt"
    point.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "tmpfs", str(point)], capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {r.stderr.strip()}")
    try:
        manager.wait(lambda: runs_in(log) >= 1, 10, "run after a mount")
        assert manager.info("test.mount")["last_trigger"].startswith("StartOnMount")
    finally:
        subprocess.run(["umount", str(point)], check=False)


def test_keepalive_network_state_in_a_namespace(manager_factory, netns):
    """The manager runs in a namespace of our own, where only loopback exists
    until the test adds an interface."""
    m = manager_factory(start=False, prefix=["ip", "netns", "exec", netns])
    m.write("n.plist", plist("test.net", ProgramArguments=["/bin/sleep", "60"], KeepAlive={"NetworkState": True}))
    m.start()
    m.wait_loaded("test.net")
    assert m.info("test.net")["pid"] is None, "no network in the namespace yet"
    # A veth pair with both ends inside the namespace: no traffic leaves it.
    for cmd in (["ip", "link", "add", "veth0", "type", "veth", "peer", "name", "veth1"],
                ["ip", "addr", "add", "192.0.2.1/24", "dev", "veth0"],
                ["ip", "link", "set", "veth1", "up"],
                ["ip", "link", "set", "veth0", "up"]):
        subprocess.run(["ip", "netns", "exec", netns, *cmd], check=True)
    m.wait_state("test.net", lambda i: i["pid"], what="started once the network is up")
    assert "NetworkState" in m.info("test.net")["last_trigger"]
    subprocess.run(["ip", "netns", "exec", netns, "ip", "link", "set", "veth0", "down"], check=True)
    m.ctl("stop", "test.net")
    m.wait_state("test.net", lambda i: i["state"] == "waiting", what="not restarted while the network is down")


def test_keepalive_other_job_active(manager, workdir):
    manager.write("a.plist", plist("test.sidecar", ProgramArguments=["/bin/sleep", "60"],
                                   KeepAlive={"OtherJobActive": {"test.main": True}}))
    manager.write("b.plist", plist("test.main", ProgramArguments=["/bin/sleep", "60"]))
    manager.wait_loaded("test.main")
    manager.wait_loaded("test.sidecar")
    assert manager.info("test.sidecar")["pid"] is None, "the other job is loaded but not running"
    manager.ctl("start", "test.main")
    manager.wait_state("test.sidecar", lambda i: i["pid"], what="starts while the other job runs")
    assert "OtherJobActive" in manager.info("test.sidecar")["last_trigger"]


def test_keepalive_successful_exit_true(manager, workdir):
    counter = workdir / "count"
    # Exits 0 twice, then fails: SuccessfulExit true restarts only after the clean exits.
    script = f"n=$(cat {counter} 2>/dev/null || echo 0); n=$((n+1)); echo $n > {counter}; [ $n -lt 3 ]"
    manager.write("s.plist", plist("test.se.true", ProgramArguments=["/bin/sh", "-c", script],
                                   KeepAlive={"SuccessfulExit": True}, ThrottleInterval=0))
    info = manager.wait_state("test.se.true", lambda i: i["runs"] == 3 and i["state"] == "waiting", what="3 runs")
    assert info["last_exit_status"] == 1
