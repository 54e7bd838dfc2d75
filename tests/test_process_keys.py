"""Process keys on real processes: identity, root directory, limits,
priorities, globbing, directories and standard paths."""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess

import pytest

from conftest import plist

root_only = pytest.mark.skipif(os.geteuid() != 0, reason="needs root: the manager must run as root to change a job's user")


def run_once(manager, label, script, **keys):
    """Run a shell job once, return its stdout."""
    out = manager.root / f"{label}.out"
    manager.write(f"{label}.plist", plist(label, ProgramArguments=["/bin/sh", "-c", script], RunAtLoad=True,
                                          StandardOutPath=str(out), **keys))
    info = manager.wait_state(label, lambda i: i["last_exit_status"] is not None, what="exit")
    return info, (out.read_text() if out.exists() else "")


@root_only
def test_username_in_the_system_domain(manager_factory, workdir):
    m = manager_factory(extra_args=["--system"])
    nobody = pwd.getpwnam("nobody")
    os.chmod(workdir, 0o755)  # nobody must reach its output file
    outdir = workdir / "out"
    outdir.mkdir()
    os.chown(outdir, nobody.pw_uid, nobody.pw_gid)
    out = outdir / "id.txt"
    m.write("u.plist", plist("test.user", ProgramArguments=["/bin/sh", "-c", 'echo "$(id -u) $(id -g) $(id -G) $HOME $USER $LOGNAME"'],
                             RunAtLoad=True, UserName="nobody", StandardOutPath=str(out)))
    m.wait_state("test.user", lambda i: i["last_exit_status"] == 0, what="exit 0")
    uid, gid, groups, home, user, logname = out.read_text().split(maxsplit=5)
    assert (int(uid), int(gid)) == (nobody.pw_uid, nobody.pw_gid)
    assert home == nobody.pw_dir and user == "nobody" and logname.strip() == "nobody"
    assert os.stat(out).st_uid == nobody.pw_uid, "StandardOutPath is opened as the job's user"


@root_only
def test_groupname_without_username_runs_as_root_with_that_group(manager_factory):
    m = manager_factory(extra_args=["--system"])
    info, out = run_once(m, "test.group", "echo $(id -u) $(id -g)", GroupName="nogroup")
    import grp
    assert out.split() == ["0", str(grp.getgrnam("nogroup").gr_gid)]


@root_only
def test_unknown_user_exits_3_with_the_reason(manager_factory):
    m = manager_factory(extra_args=["--system"])
    info, _ = run_once(m, "test.nouser", "true", UserName="no-such-user-xyz")
    assert info["last_exit_status"] == 3
    assert 'getpwnam("no-such-user-xyz") failed' in info["spawn_error"]


def test_per_user_manager_refuses_identity_keys(manager_factory):
    m = manager_factory(extra_args=["--user"])
    info, out = run_once(m, "test.refuse", "id -u", UserName="nobody", GroupName="nogroup", RootDirectory="/nonexistent")
    assert out.strip() == str(os.geteuid()), "runs as the manager's user, never as anyone else"
    for key in ("UserName", "GroupName", "RootDirectory"):
        assert any(w.startswith(f"{key}: refused") for w in info["warnings"]), info["warnings"]


@root_only
@pytest.mark.skipif(shutil.which("cc") is None, reason="needs a C compiler to build a static program for the chroot")
def test_root_directory(manager_factory, workdir):
    m = manager_factory(extra_args=["--system"])
    jail = workdir / "jail"
    (jail / "bin").mkdir(parents=True)
    (jail / "marker-inside").write_text("")
    src = workdir / "probe.c"
    src.write_text('#include <unistd.h>\n#include <stdio.h>\n'
                   'int main(void){ printf("%d\\n", access("/marker-inside", F_OK) == 0); return 0; }\n')
    build = subprocess.run(["cc", "-static", "-o", str(jail / "bin" / "probe"), str(src)], capture_output=True)
    if build.returncode != 0:
        pytest.skip(f"cannot link statically: {build.stderr.decode()[:200]}")
    m.write("r.plist", plist("test.chroot", Program="/bin/probe", RunAtLoad=True, RootDirectory=str(jail),
                             StandardOutPath="/out.txt"))
    m.wait_state("test.chroot", lambda i: i["last_exit_status"] == 0, what="exit 0")
    assert (jail / "out.txt").read_text() == "1\n", "ran inside the root directory; paths resolve there"


def test_resource_limits_nice_umask(manager):
    info, out = run_once(manager, "test.limits",
                         "cat /proc/self/limits | grep -E 'open files|core file'; umask; cut -d' ' -f19 /proc/$$/stat",
                         SoftResourceLimits={"NumberOfFiles": 123, "Core": 0},
                         HardResourceLimits={"NumberOfFiles": 456}, Nice=5, Umask=18)
    lines = out.splitlines()
    files = [l for l in lines if l.startswith("Max open files")][0].split()
    assert files[3:5] == ["123", "456"]
    core = [l for l in lines if l.startswith("Max core file size")][0].split()
    assert core[4] == "0"
    assert "0022" in lines and lines[-1] == "5"


def test_process_type_background_and_low_priority_io(manager):
    if shutil.which("ionice") is None:
        pytest.skip("ionice (util-linux) is not installed")
    _, out = run_once(manager, "test.bg", "grep -E '^policy' /proc/$$/sched; ionice -p $$; cut -d' ' -f19 /proc/$$/stat",
                      ProcessType="Background")
    assert "policy" in out and out.split("\n")[0].split()[-1] == "3", out  # SCHED_BATCH
    assert "best-effort: prio 7" in out and out.strip().endswith("10")
    _, out = run_once(manager, "test.idleio", "ionice -p $$", LowPriorityIO=True)
    assert out.strip() == "idle"


def test_enable_globbing(manager, workdir):
    d = workdir / "g"
    d.mkdir()
    for n in ("b.txt", "a.txt", "c.log"):
        (d / n).write_text("")
    out = workdir / "glob.out"
    manager.write("g.plist", plist("test.glob", ProgramArguments=["/bin/echo", f"{d}/*.txt", f"{d}/*.none"],
                                   EnableGlobbing=True, RunAtLoad=True, StandardOutPath=str(out)))
    manager.wait_state("test.glob", lambda i: i["last_exit_status"] == 0, what="exit")
    assert out.read_text().split() == [f"{d}/a.txt", f"{d}/b.txt", f"{d}/*.none"]


def test_missing_working_directory_and_log_directory_are_visible(manager, workdir):
    manager.write("w.plist", plist("test.dirs", ProgramArguments=["/bin/sh", "-c", "pwd > /dev/null"], RunAtLoad=True,
                                   WorkingDirectory=str(workdir / "gone"),
                                   StandardErrorPath=str(workdir / "no-such-dir" / "err.log")))
    info = manager.wait_state("test.dirs", lambda i: i["last_exit_status"] == 0, what="ran anyway")
    text = " ".join(info["warnings"])
    assert f"WorkingDirectory {workdir / 'gone'}" in text
    assert f"its directory {workdir / 'no-such-dir'} does not exist" in text
    printed = manager.ctl("print", "test.dirs").stdout
    assert "no-such-dir" in printed


def test_abandon_process_group_keeps_children(manager, workdir):
    """When the main process exits, the rest of its process group gets
    SIGTERM, unless AbandonProcessGroup: then a child it left behind lives."""
    import signal as _signal

    from conftest import pid_alive, wait_for

    def job(label, pidfile, **keys):
        return plist(label, RunAtLoad=True, ProgramArguments=["/bin/sh", "-c", f"sleep 60 & echo $! > {pidfile}; exit 0"],
                     **keys)

    kept, killed = workdir / "kept.pid", workdir / "killed.pid"
    manager.write("ab.plist", job("test.abandon", kept, AbandonProcessGroup=True))
    manager.wait_state("test.abandon", lambda i: i["last_exit_status"] == 0, what="the first job exited")
    manager.write("nab.plist", job("test.cleanup", killed))
    manager.wait_state("test.cleanup", lambda i: i["last_exit_status"] == 0, what="the second job exited")
    kept_pid = int(wait_for(lambda: kept.exists() and kept.read_text().strip(), what="kept child pid"))
    killed_pid = int(wait_for(lambda: killed.exists() and killed.read_text().strip(), what="killed child pid"))
    try:
        wait_for(lambda: not pid_alive(killed_pid), what="the second job's child to get SIGTERM")
        assert pid_alive(kept_pid), "the abandoned child outlived the SIGTERM that reached the other one"
    finally:
        for pid in (kept_pid, killed_pid):
            if pid_alive(pid):
                os.kill(pid, _signal.SIGKILL)
