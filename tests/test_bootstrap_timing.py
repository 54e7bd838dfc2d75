"""Issue 11: brew services' habit (write the plist into a watched directory,
then bootstrap it) gives the same answer whatever the timing, and the system
domain refuses a user's agent plist.

The rule: a load of a plist of a watched directory means what the watcher
does with it (load it, or take its new version), so it succeeds whether the
watcher took the file first or not. A second explicit load of a plist from
anywhere else is still launchctl's 5, "service already loaded".

Both timings are made deterministic in process: the watcher's events reach
the job table only on the loop, so a load made before yielding to the loop
comes first; waiting until the job is loaded makes the watcher first.
"""

from __future__ import annotations

import os
import plistlib

import pytest

from conftest import plist
from inprocess import run_in_process
from pylaunchd.control.service import ControlService


def _write(path, label):
    path.write_bytes(plistlib.dumps(plist(label, ProgramArguments=["/bin/sleep", "60"])))
    path.chmod(0o644)


@pytest.mark.parametrize("watcher_first", [False, True])
def test_copy_then_bootstrap_succeeds_whatever_the_timing(tmp_path, watcher_first):
    answers = []

    async def body(h):
        service = ControlService(h.manager)
        path = h.root / "jobs" / "homebrew.mxcl.thing.plist"
        _write(path, "homebrew.mxcl.thing")
        if watcher_first:
            await h.until(lambda: h.manager.table.find("homebrew.mxcl.thing"), "the watcher to load it")
        answers.append(service.load_paths([str(path)]))
        assert h.manager.table.find("homebrew.mxcl.thing") is not None
        # The watcher's turn (or a second bootstrap): still loaded once, from this path.
        h.manager.table.reconcile({str(path)})
        answers.append(service.load_paths([str(path)]))
        assert h.manager.table.by_path == {str(path): "homebrew.mxcl.thing"}

    run_in_process(tmp_path, body)
    for results in answers:
        assert [r.to_json() for r in results] == [{"path": str(tmp_path / "jobs" / "homebrew.mxcl.thing.plist"),
                                                   "label": "homebrew.mxcl.thing"}]


def test_a_second_load_from_outside_the_watched_directories_is_still_5(tmp_path):
    async def body(h):
        service = ControlService(h.manager)
        path = h.plists / "x.plist"
        _write(path, "test.x")
        assert service.load_paths([str(path)])[0].error is None
        again = service.load_paths([str(path)])[0]
        assert again.status == 5 and "service already loaded" in again.error

    run_in_process(tmp_path, body)


def test_the_system_domain_refuses_a_users_agent(manager, workdir):
    if os.geteuid() != 0:
        pytest.skip("the manager is the system domain only as root")
    agents = workdir / "home" / "you" / "Library" / "LaunchAgents"
    agents.mkdir(parents=True)
    path = agents / "com.example.agent.plist"
    _write(path, "com.example.agent")
    cp = manager.ctl("bootstrap", "system", str(path), check=False)
    assert cp.returncode == 134 and "holds per-user agents" in cp.stderr and "--user" in cp.stderr
    assert manager.info("com.example.agent") is None
    manager.ctl("load", "-F", str(path))  # -F: the caller insists
    assert manager.info("com.example.agent") is not None


def test_load_f_of_a_watched_plist_is_not_undone_by_the_watchers_next_event(tmp_path):
    """A group-writable plist loaded with -F stayed loaded only if the
    watcher's pending event for the chmod came first: it unloaded the job
    again ("no longer safe to load"). The override now sticks to the path."""
    async def body(h):
        path = h.root / "jobs" / "gw.plist"
        _write(path, "test.gw")
        path.chmod(0o666)
        assert not h.manager.table.load(str(path), from_dir=True).ok
        assert h.manager.table.load(str(path), force=True).ok
        h.manager.table.reconcile({str(path)})  # the watcher's event for the chmod, arriving late
        assert h.manager.table.find("test.gw") is not None and not h.manager.table.errors.all()
        h.manager.table.unload_path(str(path))  # an unload ends the override
        await h.until(lambda: h.manager.table.find("test.gw") is None, "the unload")
        assert not h.manager.table.load(str(path), from_dir=True).ok

    run_in_process(tmp_path, body)
