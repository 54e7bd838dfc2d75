"""The C front end's unix sockets: bound only where it can be sure, as the manager would.

It binds a unix socket itself only at a path that does not exist yet, in a
directory reached from / without a symlink, through directories that only
root or this user own and that, where others may write, are sticky; with no
SockPathOwner or SockPathGroup; and with the file mode the manager sets
(SockPathMode, else 0700). Everything else is left to the manager, whose
safepath walk decides. Whatever it binds, the manager's own reading binds too
(checked against ``bind_early`` here), and every file it made is removed
when it drops the socket (list mode, a job given up, an exec that failed).
"""

from __future__ import annotations

import os
import plistlib
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from prebindlib import environment, install_beside, prebind_fixtures, python_binds, run_list


prebind, dom = prebind_fixtures()


def unix_job(jobs: Path, label: str, path: str, **socket_keys) -> None:
    plist = {"Label": label, "ProgramArguments": ["/bin/true"],
             "Sockets": {"Listeners": {"SockPathName": path, **socket_keys}}}
    f = jobs / f"{label}.plist"
    f.write_bytes(plistlib.dumps(plist))
    f.chmod(0o644)


def test_a_private_directory_is_bound_with_the_managers_mode_and_cleaned_up(prebind, dom, tmp_path):
    jobs, state, control, args = dom
    private = tmp_path / "run"
    private.mkdir(mode=0o700)
    unix_job(jobs, "a", str(private / "a.sock"))
    unix_job(jobs, "b", str(private / "b.sock"), SockPathMode=0o666, SockType="dgram")
    rows, err = run_list(prebind, args)
    assert rows == [("a", "Unix", "stream", str(private / "a.sock"), 0),
                    ("b", "Unix", "dgram", str(private / "b.sock"), 0)], err
    assert set(rows) <= set(python_binds(jobs, state, control))
    assert list(private.iterdir()) == []  # list mode removed the files it made


def test_the_file_mode_is_the_managers(prebind, dom, tmp_path):
    """What the manager gets: a fake pylaunchd-python reports each socket file's mode (and
    removes the file, as the manager would at its exit)."""
    jobs, state, control, args = dom
    run = str(tmp_path / "run")
    front = install_beside(prebind, tmp_path / "bin", f"#!{sys.executable}\nimport os, stat\n"
                           f"for p in sorted(os.listdir({run!r})):\n"
                           f"    print(p, oct(stat.S_IMODE(os.lstat(os.path.join({run!r}, p)).st_mode)))\n"
                           f"    os.unlink(os.path.join({run!r}, p))\n")
    (tmp_path / "run").mkdir(mode=0o755)
    unix_job(jobs, "a", str(tmp_path / "run" / "a.sock"))
    unix_job(jobs, "b", str(tmp_path / "run" / "b.sock"), SockPathMode=0o660)
    out = subprocess.run([str(front), *args], env=environment(), capture_output=True, text=True, timeout=60)
    assert out.stdout.split("\n")[:2] == ["a.sock 0o700", "b.sock 0o660"], out
    assert os.listdir(run) == []


@pytest.mark.parametrize("case", ["symlinked directory", "world-writable, not sticky", "file there",
                                  "owner key", "not plain"])
def test_what_it_cannot_be_sure_of_is_left_to_the_manager(prebind, dom, tmp_path, case):
    jobs, state, control, args = dom
    real = tmp_path / "real"
    real.mkdir(mode=0o700)
    path, keys = str(real / "a.sock"), {}
    if case == "symlinked directory":
        (tmp_path / "link").symlink_to(real)
        path = str(tmp_path / "link" / "a.sock")
    elif case == "world-writable, not sticky":
        os.chmod(real, 0o777)
    elif case == "file there":
        (real / "a.sock").write_text("not a socket")
    elif case == "owner key":
        keys = {"SockPathOwner": os.getuid()}
    else:
        path = str(real) + "//a.sock"
    unix_job(jobs, "a", path, **keys)
    rows, err = run_list(prebind, args)
    assert rows == [] and "left to the manager" in err, err
    assert [p.name for p in real.iterdir()] == (["a.sock"] if case == "file there" else [])


def test_a_sticky_shared_directory_is_bound(prebind, dom, tmp_path):
    """/tmp's case: others may write there, but only we may remove what is ours."""
    jobs, state, control, args = dom
    shared = tmp_path / "shared"
    shared.mkdir()
    os.chmod(shared, 0o1777)
    unix_job(jobs, "a", str(shared / "a.sock"))
    rows, err = run_list(prebind, args)
    assert rows == [("a", "Unix", "stream", str(shared / "a.sock"), 0)], err


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to give a directory to another user")
def test_another_users_directory_is_left_to_the_manager(prebind, dom, tmp_path):
    jobs, state, control, args = dom
    theirs = tmp_path / "theirs"
    theirs.mkdir(mode=0o755)
    os.chown(theirs, 65534, 65534)
    unix_job(jobs, "a", str(theirs / "a.sock"))
    rows, err = run_list(prebind, args)
    assert rows == [] and "another user" in err, err  # the note: "is another user's"


def test_an_exec_that_fails_removes_the_socket_files(prebind, dom, tmp_path):
    jobs, state, control, args = dom
    front = install_beside(prebind, tmp_path / "bin", "#!/nonexistent/interpreter\n")
    private = tmp_path / "run"
    private.mkdir(mode=0o700)
    unix_job(jobs, "a", str(private / "a.sock"))
    out = subprocess.run([str(front), *args], env=environment(), capture_output=True, text=True, timeout=60)
    assert out.returncode == 127 and "cannot execute" in out.stderr, out
    assert list(private.iterdir()) == []
    assert stat.S_ISDIR(os.stat(private).st_mode)
