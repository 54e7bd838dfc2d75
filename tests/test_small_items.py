"""Issue 11's smaller items, each as the user meets it."""

from __future__ import annotations

import os
import socket
import subprocess

import pytest

from conftest import PYTHON


def run(*args: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([PYTHON, "-m", *args], capture_output=True, text=True, timeout=60, **kw)


def test_both_commands_have_version():
    from pylaunchd import __version__
    from pylaunchd.spawn import spawn_path
    assert run("pylaunchd", "--version").stdout.splitlines()[:2] == [f"pylaunchd {__version__}",
                                                                     f"spawn path: {spawn_path()}"]
    off = run("pylaunchd", "--version", env={**os.environ, "PYLAUNCHD_SPAWN": "python"}).stdout.splitlines()
    assert off[1].startswith("spawn path: posix_spawn and fork ("), off
    assert run("pylaunchd.cli.launchctl", "--version").stdout.strip() == f"pylaunchctl {__version__}"


def test_help_summaries_are_whole():
    from pylaunchd.control.verb import VERBS
    out = run("pylaunchd.cli.launchctl", "help").stdout
    listing = out[out.index("Commands:"):]
    assert "..." not in listing and "…" not in listing
    flat = " ".join(listing.split())
    for cls in VERBS.values():
        assert " ".join(cls.summary().split()) in flat, cls.cli_name


def test_refusals_name_root_once(workdir):
    if os.geteuid() != 0:
        pytest.skip("needs root: the socket is root's, the caller uid 65534")
    workdir.chmod(0o755)
    path = workdir / "c.sock"
    with socket.socket(socket.AF_UNIX) as s:
        s.bind(str(path))
        s.listen()
        os.chmod(path, 0o600)
        code = ("from pylaunchd.control.protocol import request, ControlError\n"
                f"try: request({str(path)!r}, 'list')\n"
                "except ControlError as e: print(e)\n")
        cp = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "/usr/bin/python3",
                             "-c", code], capture_output=True, text=True, timeout=30,
                            env={"PYTHONPATH": str(__import__("pathlib").Path(__file__).parent.parent)})
    if "No module named" in cp.stderr:
        pytest.skip(cp.stderr)
    assert "only root may drive that manager" in cp.stdout, cp
    assert "uid 0) or root" not in cp.stdout



def test_the_job_log_has_the_load_and_each_per_connection_run(manager):
    from conftest import connect_and_talk, plist
    manager.write("echo.plist", plist("test.perconn", ProgramArguments=["/bin/cat"],
                                      inetdCompatibility={"Wait": False},
                                      Sockets={"L": {"SockNodeName": "127.0.0.1", "SockServiceName": "0"}}))
    port = manager.wait_loaded("test.perconn")["sockets"][0]["address"]["port"]
    assert connect_and_talk(port, b"one\n") == b"one\n"
    assert connect_and_talk(port, b"two\n") == b"two\n"
    text = manager.wait(lambda: (lambda t: t if t.count("connection from 127.0.0.1") >= 2 else None)(
        manager.ctl("log", "test.perconn").stdout), 10, "two per-connection runs in the job log")
    assert "loaded from " in text.splitlines()[0]


def test_plists_launchd_reads(manager_factory):
    """Issue 11 (real plists): what CoreFoundation's parser reads loads; a
    disabled job is skipped without a screen of key warnings; UserName of
    the manager's own user is a no-op, not a refusal; POSIXSpawnType is
    ProcessType; keys launchd knows are not unknown."""
    import pwd
    manager = manager_factory(extra_args=("--user",))  # unprivileged: a UserName other than ours is refused
    path = manager.jobs_dir / "com.example.commented.plist"
    path.write_text("<!-- made by hand -->\n<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<plist version=\"1.0\"><dict>"
                    "<!-- run it with --verbose -- if needed -->"
                    "<key>Label</key><string>com.example.commented</string>"
                    "<key>ProgramArguments</key><array><string>/bin/true</string></array>"
                    f"<key>UserName</key><string>{pwd.getpwuid(os.geteuid()).pw_name}</string>"
                    "<key>POSIXSpawnType</key><string>Interactive</string>"
                    "<key>JetsamProperties</key><dict/>"
                    "</dict></plist>")
    os.chmod(path, 0o644)
    info = manager.wait_loaded("com.example.commented")
    assert not any("unknown key" in w or "UserName" in w for w in info["warnings"]), info["warnings"]
    from conftest import plist
    manager.write("off.plist", plist("com.example.off", ProgramArguments=["/bin/true"], Disabled=True,
                                     Frobnicate=1, Bogus=2))
    manager.wait(lambda: "com.example.off" in manager.log() and "disabled" in manager.log(), 10, "the skip")
    assert "Frobnicate" not in manager.log()


def test_an_unknown_service_name_loads_the_job_without_that_socket_and_lint_says_so(manager, workdir):
    from conftest import plist
    job = plist("com.example.svc", ProgramArguments=["/bin/sleep", "60"], Sockets={
        "Known": {"SockNodeName": "127.0.0.1", "SockServiceName": "0"},
        "Odd": {"SockNodeName": "127.0.0.1", "SockServiceName": "no-such-service-here"}})
    path = manager.write("svc.plist", job)
    info = manager.wait_loaded("com.example.svc")
    assert [s["name"] for s in info["sockets"]] == ["Known"]
    assert "'no-such-service-here' is not a service of /etc/services" in manager.log()
    lint = manager.ctl("lint", str(path), check=False)
    assert "Sockets.Odd.SockServiceName" in lint.stdout + lint.stderr
    other = workdir / "lw.plist"
    other.write_bytes(__import__("plistlib").dumps(plist("com.example.lw", ProgramArguments=["/bin/true"],
                                                         LimitLoadToSessionType="LoginWindow", RunAtLoad=True)))
    lint = manager.ctl("lint", str(other), check=False)
    assert "no pylaunchd domain loads this job" in lint.stdout + lint.stderr


def test_a_broken_plist_says_why_in_words(tmp_path):
    from pylaunchd.plist import PlistError, read_plist
    for body, words in (("<dict><key>Label</key><string>a & b</string></dict>", "unescaped &"),
                        ("<dict><key>Label</key><string>a</dict>", "missing or misspelled"),
                        ("<dict><key>Label</key>", "ends before the plist does")):
        p = tmp_path / "x.plist"
        p.write_text(f'<?xml version="1.0"?><plist version="1.0">{body}' + ("</plist>" if "&" in body else ""))
        with pytest.raises(PlistError) as e:
            read_plist(str(p))
        assert words in str(e.value), e.value


def test_lint_warns_of_a_privileged_port_given_by_name_for_a_user(tmp_path):
    import plistlib

    from conftest import plist
    from pylaunchd.lint import lint_file
    p = tmp_path / "ssh.plist"
    p.write_bytes(plistlib.dumps(plist("ssh", ProgramArguments=["/bin/true"],
                                       Sockets={"L": {"SockServiceName": "ssh"}})))
    found = [f.message for f in lint_file(str(p), as_uid=1000)]
    assert any("port 22 (ssh) needs root" in m for m in found), found
