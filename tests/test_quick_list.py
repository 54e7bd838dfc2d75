"""pylaunchctl's quick list (control/listing.py): a plain ``list`` answered
without typer prints exactly what the typer verb prints, and everything
else still goes to typer."""

from __future__ import annotations

import os
import subprocess

from conftest import PYTHON, plist, wait_for
from typer.testing import CliRunner

from pylaunchd.cli.launchctl import app
from pylaunchd.control.listing import plain_list


def test_only_plain_list_command_lines_take_the_quick_path():
    assert plain_list(["list"]) == (None, False, False)
    assert plain_list(["list", "--json"]) == (None, False, True)
    assert plain_list(["--control-socket", "/s", "--user", "list"]) == ("/s", True, False)
    assert plain_list(["--control-socket=/s", "list", "--json"]) == ("/s", False, True)
    for argv in ([], ["list", "a.label"], ["list", "system"], ["list", "--help"], ["--help"], ["print", "x"],
                 ["--control-socket"], ["--control-socket", "list"], ["--version", "list"], ["list", "--json", "x"],
                 ["--user=1", "list"], ["-h"], ["list", "--jso"]):
        assert plain_list(argv) is None, argv


def test_the_quick_list_prints_what_the_typer_verb_prints(manager, workdir):
    manager.write("a.plist", plist("test.quick.a", ProgramArguments=["/bin/sh", "-c", "exit 3"], RunAtLoad=True))
    manager.write("b.plist", plist("test.quick.b", ProgramArguments=["/bin/cat"]))
    broken = manager.jobs_dir / "broken.plist"  # a load error, shown on stderr
    broken.write_bytes(b"<plist><dict><key>Label</key>")
    os.chmod(broken, 0o644)
    manager.wait_state("test.quick.a", lambda i: i["last_exit_status"] == 3, what="exit 3")
    manager.wait_loaded("test.quick.b")
    wait_for(lambda: "broken.plist" in manager.ctl("list").stderr, 10, what="the load error to be listed")
    runner = CliRunner()
    for args in (["list"], ["list", "--json"]):
        quick = manager.ctl(*args)
        env = {"PYLAUNCHD_CONTROL_SOCKET": manager.socket}
        full = runner.invoke(app, args, env=env)
        assert full.exit_code == 0 and quick.stdout == full.stdout, args
    # No manager: the same message and exit status as the typer verb.
    env = dict(os.environ, PYLAUNCHD_CONTROL_SOCKET=str(workdir / "nobody.sock"))
    quick = subprocess.run([PYTHON, "-m", "pylaunchd.cli.launchctl", "list"], env=env, capture_output=True, text=True)
    full = runner.invoke(app, ["list"], env={"PYLAUNCHD_CONTROL_SOCKET": str(workdir / "nobody.sock")})
    assert quick.returncode == full.exit_code != 0
    assert quick.stderr.strip() == full.output.strip() and "no pylaunchd is listening" in quick.stderr
