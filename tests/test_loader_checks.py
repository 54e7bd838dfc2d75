"""launchctl's loader checks: group/world-writable plists and plists owned by
someone else are refused with the reason; -F overrides."""

from __future__ import annotations

import os

import pytest

from conftest import plist


def test_group_writable_plist_is_refused_and_f_overrides(manager):
    p = manager.write("gw.plist", plist("test.gw", ProgramArguments=["/bin/true"]))
    manager.wait_loaded("test.gw")
    os.chmod(p, 0o664)
    manager.write("gw.plist", plist("test.gw", ProgramArguments=["/bin/true"], RunAtLoad=True))
    os.chmod(p, 0o666)
    manager.wait(lambda: "is group- or world-writable" in manager.log(), 10, "refusal logged")
    cp = manager.ctl("load", str(p), check=False)
    assert cp.returncode == 122 and "chmod go-w" in cp.stderr
    os.chmod(p, 0o664)
    p2 = manager.jobs_dir / "other.plist"
    p2.write_bytes(__import__("plistlib").dumps(plist("test.gw2", ProgramArguments=["/bin/true"])))
    os.chmod(p2, 0o666)
    manager.wait(lambda: f"{p2}: not loaded" in manager.log(), 10, "a new group-writable file is not loaded")
    assert manager.info("test.gw2") is None
    manager.ctl("load", "-F", str(p2))
    assert manager.info("test.gw2") is not None


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to give a file to another user")
def test_plist_owned_by_another_user_is_refused(manager):
    import pwd
    p = manager.jobs_dir / "foreign.plist"
    p.write_bytes(__import__("plistlib").dumps(plist("test.foreign", ProgramArguments=["/bin/true"])))
    os.chmod(p, 0o644)
    os.chown(p, pwd.getpwnam("nobody").pw_uid, -1)
    manager.wait(lambda: "owned by uid" in manager.log(), 10, "refusal logged")
    assert manager.info("test.foreign") is None
