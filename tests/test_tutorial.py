"""Issue 11: the README's five-minute tutorial works as written, for root
and for an ordinary user: its shell blocks are taken from README.md itself
and run in a fresh home, the manager block in the background (stopped by
PID), each command of the last block checked for what the text promises."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import sysconfig
import textwrap
from pathlib import Path

import pytest

from conftest import port_free, wait_for

README = Path(__file__).resolve().parent.parent / "README.md"
NOBODY = 65534


def tutorial_blocks() -> list[str]:
    text = README.read_text()
    section = text[text.index("## Your first socket-activated job"):]
    section = section[:section.index("\n## ", 1)]
    return [textwrap.dedent(b) for b in re.findall(r"^ *```sh\n(.*?)^ *```", section, re.S | re.M)]


def user_venv(root: Path) -> Path:
    """A virtual environment an ordinary user can run, with pylaunchd in it:
    this one's interpreter may sit under root's 0700 home (pyenv). The
    system's python3 of the same version, with this checkout and this
    environment's packages on its path (a .pth file), and both commands."""
    system = Path("/usr/bin/python3")
    if not system.exists() or subprocess.run([str(system), "-c", "import sys; print(sys.version_info[:2])"],
                                             capture_output=True, text=True).stdout.strip() != str(sys.version_info[:2]):
        pytest.skip(f"needs /usr/bin/python3 of version {sys.version_info[:2]} for the ordinary user")
    venv = root / "venv"
    subprocess.run([str(system), "-m", "venv", "--without-pip", str(venv)], check=True)
    site = next(venv.glob("lib/python3*/site-packages"))
    (site / "pylaunchd-checkout.pth").write_text(f"{README.parent}\n{sysconfig.get_paths()['purelib']}\n")
    for name, module in (("pylaunchd", "pylaunchd.cli.pylaunchd"), ("pylaunchctl", "pylaunchd.cli.launchctl")):
        script = venv / "bin" / name
        script.write_text(f"#!{venv}/bin/python\nfrom {module} import main\nmain()\n")
        script.chmod(0o755)
    return venv / "bin"


@pytest.mark.parametrize("who", ["root", "user"])
def test_the_tutorial_works_as_written(workdir, who):
    if os.geteuid() != 0:
        pytest.skip("runs the tutorial as root and as uid 65534: needs root")
    if not shutil.which("nc") or not port_free(9000):
        pytest.skip("needs nc and a free 127.0.0.1:9000, as the tutorial does")
    write, describe, run, use = tutorial_blocks()
    assert run.strip() == "pylaunchd --user"
    workdir.chmod(0o755)
    home, runtime = workdir / "home", workdir / "run"
    home.mkdir()
    runtime.mkdir(mode=0o700)
    prefix: list[str] = []
    bindir = os.path.dirname(sys.executable)  # the activated virtual environment
    if who == "user":
        for d in (home, runtime):
            os.chown(d, NOBODY, NOBODY)
        prefix = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"]
        bindir = str(user_venv(workdir))
    env = {"HOME": str(home), "XDG_RUNTIME_DIR": str(runtime), "PATH": f"{bindir}:/usr/bin:/bin",
           "LANG": "C.UTF-8", "USER": who, "LOGNAME": who}

    def sh(script: str, timeout: float = 30) -> subprocess.CompletedProcess:
        return subprocess.run([*prefix, "bash", "-euc", script], env=env, cwd=home, capture_output=True,
                              text=True, timeout=timeout)

    for block in (write, describe):
        cp = sh(block)
        assert cp.returncode == 0, cp
    manager = subprocess.Popen([*prefix, "bash", "-c", "exec " + run.strip()], env=env, cwd=home,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        commands = [line.split("#", 1)[0].strip() for line in use.splitlines() if line.strip()]
        listing = wait_for(lambda: (lambda cp: cp if "com.example.hello" in cp.stdout else None)(sh(commands[0])),
                           15, what="the tutorial's job in pylaunchctl --user list")
        assert "-\t0\tcom.example.hello" in listing.stdout, listing
        greeting = sh(commands[1])
        assert "hello from a socket-activated job" in greeting.stdout, greeting
        printed = sh(commands[2])
        assert printed.returncode == 0 and "state = " in printed.stdout and "127.0.0.1:9000" in printed.stdout
        logged = sh(commands[3])
        assert logged.returncode == 0 and "loaded" in logged.stdout, logged
    finally:
        manager.send_signal(signal.SIGTERM)
        try:
            out, _ = manager.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            manager.kill()
            out, _ = manager.communicate()
    assert manager.returncode == 0, out
    assert not any(runtime.iterdir()), "shutdown leaves nothing behind in XDG_RUNTIME_DIR"
