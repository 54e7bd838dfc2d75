"""The README's promise: the example jobs in LaunchAgents/ load, nothing runs
until a client connects, and each example answers."""

from __future__ import annotations

import http.client
import shutil
from pathlib import Path

import pytest

from conftest import connect_and_talk, port_free, unix_talk

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = sorted((REPO / "LaunchAgents").glob("*.plist")) + sorted((REPO / "LaunchDaemons").glob("*.plist"))


def test_examples_are_valid_plists():
    from pylaunchd.spec import load_spec
    assert EXAMPLES
    for path in EXAMPLES:
        spec = load_spec(str(path))
        assert spec.warnings == (), (path, spec.warnings)


def test_example_agents_serve_on_demand(manager_factory, workdir):
    ports = [8880, 8813]
    if not all(port_free(p) for p in ports) or Path("/tmp/pylaunchd-example-echo.sock").exists():
        pytest.skip("the example ports (8880, 8813) or /tmp/pylaunchd-example-echo.sock are in use, "
                    "probably by a running `pylaunchd --jobs-dir LaunchAgents`")
    m = manager_factory(start=False)
    for path in (REPO / "LaunchAgents").glob("*.plist"):
        shutil.copy(path, m.jobs_dir / path.name)
    m.start()
    labels = {"com.example.hello-http", "com.example.daytime", "com.example.echo-unix"}
    for label in labels:
        m.wait_loaded(label)
    assert all(j["pid"] is None and j["runs"] == 0 for j in m.jobs()), "nothing runs before a client"

    conn = http.client.HTTPConnection("127.0.0.1", 8880, timeout=20)
    conn.request("GET", "/")
    resp = conn.getresponse()
    assert resp.status == 200 and b"Hello from pylaunchd" in resp.read()
    conn.close()
    assert m.info("com.example.hello-http")["state"] == "running"

    assert b"UTC" in connect_and_talk(8813, b"")
    assert unix_talk("/tmp/pylaunchd-example-echo.sock", b"hi\n") == b"hi\n"
    m.stop()
    assert not Path("/tmp/pylaunchd-example-echo.sock").exists()


def test_the_python_example_runs_whatever_python3_is_on_path(manager_factory, workdir, monkeypatch):
    """Issue 11: started by full path (the systemd unit, contrib/profile.sh),
    with a python3 first on PATH that lacks pylaunchd, the example used to
    fail with "No module named 'pylaunchd'" and respawn forever."""
    import plistlib
    import stat
    import subprocess
    import sys
    fake = workdir / "bin"
    fake.mkdir()
    python3 = fake / "python3"
    python3.write_text(f"#!/bin/sh\nexec {sys.base_prefix}/bin/python3 -I -S \"$@\"\n")  # no site-packages
    python3.chmod(python3.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    assert subprocess.run([str(python3), "-c", "import pylaunchd"], capture_output=True).returncode != 0
    monkeypatch.setenv("PATH", f"{fake}:/usr/bin:/bin")
    m = manager_factory()
    job = plistlib.loads((REPO / "LaunchAgents" / "com.example.hello-http.plist").read_bytes())
    job["Sockets"]["Listeners"]["SockServiceName"] = "0"
    m.write("hello.plist", job)
    port = m.wait_loaded("com.example.hello-http")["sockets"][0]["address"]["port"]
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
    conn.request("GET", "/")
    resp = conn.getresponse()
    assert resp.status == 200 and b"Hello from pylaunchd" in resp.read()
    conn.close()
    assert "No module named" not in m.log()
