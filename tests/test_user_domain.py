"""The per-user domain: the verbs against a `pylaunchd --user` manager, and
another user (created for the test) kept out of it and out of the system
domain's changes."""

from __future__ import annotations

import json
import os

import pytest

from conftest import as_user, plist
from pylaunchd.control.protocol import request


@pytest.fixture
def user_manager(manager_factory):
    return manager_factory(extra_args=["--user"])


def test_verbs_in_the_user_domain(user_manager, workdir):
    m = user_manager
    dom = f"user/{os.getuid()}"
    info = json.loads(m.ctl("print", "--json", dom).stdout)
    assert info["domain"] == dom and info["type"] == "LaunchAgent"
    import plistlib
    p = workdir / "agent.plist"
    p.write_bytes(plistlib.dumps(plist("test.agent", ProgramArguments=["/bin/sh", "-c", "echo hi; sleep 60"])))
    os.chmod(p, 0o644)
    m.ctl("bootstrap", dom, str(p))
    m.ctl("kickstart", f"gui/{os.getuid()}/test.agent")
    m.wait_state("test.agent", lambda i: i["pid"], what="running")
    assert m.ctl("blame", f"{dom}/test.agent").stdout.strip() == "kickstart by user"
    assert "hi" in m.wait(lambda: (lambda t: t if "hi" in t else None)(m.ctl("log", f"{dom}/test.agent").stdout),
                          10, "job output in the log")
    out = m.ctl("list").stdout
    assert "test.agent" in out
    assert f"{dom}/test.agent = {{" in m.ctl("print", f"{dom}/test.agent").stdout
    m.ctl("stop", "test.agent")
    m.ctl("disable", f"{dom}/test.agent")
    assert '"test.agent" => disabled' in m.ctl("print-disabled", dom).stdout
    m.ctl("bootout", f"{dom}/test.agent")
    m.wait_unloaded("test.agent")
    refused = m.ctl("bootstrap", dom, str(p), check=False)
    assert refused.returncode == 119 and f"pylaunchctl enable {dom}/test.agent" in refused.stderr
    m.ctl("enable", f"{dom}/test.agent")
    m.ctl("load", str(p))
    m.ctl("unload", str(p))
    assert m.ctl("print", f"{dom}/no.such", check=False).returncode == 113


def test_another_user_cannot_touch_someone_elses_user_domain(manager_factory, workdir, test_user):
    m = manager_factory(extra_args=["--user"])
    m.write("a.plist", plist("test.private", ProgramArguments=["/bin/sleep", "60"]))
    m.wait_loaded("test.private")
    os.chmod(workdir, 0o755)  # even with the way open, the socket itself is 0600
    for verb, args in (("list", {}), ("start", {"label": "test.private"})):
        answer = as_user(test_user.pw_uid, test_user.pw_gid, lambda: request(m.socket, verb, args, timeout=10))
        assert "permission denied" in answer.lower() or "may not" in answer, (verb, answer)
    assert m.info("test.private")["runs"] == 0


def test_another_user_reads_but_cannot_change_the_system_domain(manager, workdir, test_user):
    manager.write("s.plist", plist("test.system", ProgramArguments=["/bin/sleep", "60"]))
    manager.wait_loaded("test.system")
    os.chmod(workdir, 0o755)
    listed = as_user(test_user.pw_uid, test_user.pw_gid, lambda: [j["label"] for j in request(manager.socket, "list", timeout=10)])
    assert "test.system" in listed
    printed = as_user(test_user.pw_uid, test_user.pw_gid, lambda: request(manager.socket, "print", {"label": "test.system"}, timeout=10)["state"])
    assert "waiting" in printed
    for verb in ("start", "kickstart", "stop", "bootout", "enable", "disable", "setenv", "submit", "load", "log"):
        args = {"label": "test.system", "key": "K", "value": "v", "arguments": ["/bin/true"], "paths": ["/x.plist"]}
        answer = as_user(test_user.pw_uid, test_user.pw_gid, lambda: request(manager.socket, verb, args, timeout=10))
        assert f"uid {test_user.pw_uid} may not" in answer, (verb, answer)
    assert manager.info("test.system")["runs"] == 0
