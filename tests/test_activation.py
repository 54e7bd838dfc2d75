"""pylaunchd.activation in real processes: the sockets a job receives, and
launchd's errors (ENOENT, ESRCH, EALREADY)."""

from __future__ import annotations

import json
import os
import subprocess

from conftest import PYTHON, connect_and_talk, plist

PROBE = r"""
import errno, json, os, sys
from pylaunchd.activation import ActivationError, activate_socket, listen_fds
out = {}
def attempt(key, fn):
    try:
        out[key] = fn()
    except ActivationError as e:
        out[key] = [errno.errorcode[e.errno], str(e)]
attempt("names", lambda: {k: [s.family.name for s in v] for k, v in listen_fds().items()})
attempt("web", lambda: len(activate_socket("Web")))
attempt("again", lambda: len(activate_socket("Web")))
attempt("missing", lambda: len(activate_socket("Nope")))
print(json.dumps(out))
"""


def run_probe(env_extra, pass_fds=()):
    env = {k: v for k, v in os.environ.items() if not k.startswith("LISTEN_")}
    env.update(env_extra)
    cp = subprocess.run([PYTHON, "-c", PROBE], env=env, capture_output=True, text=True, pass_fds=pass_fds, timeout=30)
    assert cp.returncode == 0, cp.stderr
    return json.loads(cp.stdout)


def test_not_managed_is_esrch():
    out = run_probe({})
    assert out["names"][0] == "ESRCH" and "not managed by pylaunchd" in out["names"][1]
    out = run_probe({"LISTEN_FDS": "1", "LISTEN_PID": "1"})  # someone else's sockets
    assert out["web"][0] == "ESRCH"


def test_activation_errors_in_a_managed_job(manager, workdir):
    result = workdir / "probe.json"
    code = PROBE.replace("print(json.dumps(out))", f"open({str(result)!r}, 'w').write(json.dumps(out))")
    manager.write("p.plist", plist(
        "test.probe", ProgramArguments=[PYTHON, "-c", code], RunAtLoad=True,
        Sockets={"Web": [{"SockNodeName": "127.0.0.1", "SockServiceName": 0},
                         {"SockPathName": str(workdir / "web.sock")}],
                 "Admin": {"SockNodeName": "127.0.0.1", "SockServiceName": 0}}))
    manager.wait(lambda: result.exists() and result.read_text().endswith("}"), 10, "probe result")
    out = json.loads(result.read_text())
    assert out["names"] == {"Web": ["AF_INET", "AF_UNIX"], "Admin": ["AF_INET"]}
    assert out["web"] == 2
    assert out["again"][0] == "EALREADY"
    assert out["missing"][0] == "ENOENT" and "Nope" in out["missing"][1]


def test_inetd_wait_false_keeps_stderr_path(manager, workdir):
    err = workdir / "err.log"
    manager.write("e.plist", plist(
        "test.stderr", ProgramArguments=["/bin/sh", "-c", "echo to-client; echo to-log >&2"],
        inetdCompatibility={"Wait": False}, StandardErrorPath=str(err),
        Sockets={"L": {"SockNodeName": "127.0.0.1", "SockServiceName": 0}}))
    port = manager.wait_loaded("test.stderr")["sockets"][0]["address"]["port"]
    assert connect_and_talk(port, b"") == b"to-client\n"
    manager.wait(lambda: err.exists() and err.read_text() == "to-log\n", 10, "stderr in the file")
