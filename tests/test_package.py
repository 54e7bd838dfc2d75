"""The package: ``python -m build`` makes a wheel and an sdist that ``twine
check`` accepts, and ``pipx install`` of the wheel gives both commands, their
man pages and the example jobs, on nothing but Python.

Offline, as every test here: the build uses this venv's setuptools
(``--no-isolation``), and pip (inside pipx) finds the dependencies in a
wheelhouse repacked from the installed ones (tests/installed.py) instead of
an index. Takes about 10-15 s.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from installed import dependencies, repack
from pylaunchd import __version__

REPO = Path(__file__).resolve().parent.parent
SDIST_PARTS = ("pyproject.toml", "setup.py", "README.md", "pylaunchd", "LaunchAgents", "LaunchDaemons", "contrib")


def _have(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


pytestmark = pytest.mark.skipif(not all(map(_have, ("build", "twine", "pipx", "setuptools"))),
                                reason="needs build, twine, pipx and setuptools (pip install -e '.[test]')")


def run(*cmd, env=None, timeout=120) -> subprocess.CompletedProcess:
    """*cmd*, from / (python -c puts its working directory, this checkout, first on sys.path)."""
    cp = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env, cwd="/")
    assert cp.returncode == 0, f"{' '.join(map(str, cmd))} exited {cp.returncode}:\n{cp.stdout}\n{cp.stderr}"
    return cp


@pytest.fixture(scope="module")
def dist(tmp_path_factory):
    """The wheel and the sdist, built from a copy of the tree (the build
    writes build/ and *.egg-info where it runs)."""
    src = tmp_path_factory.mktemp("src")
    for part in SDIST_PARTS:
        (shutil.copytree if (REPO / part).is_dir() else shutil.copy2)(
            REPO / part, src / part, **({"ignore": shutil.ignore_patterns("__pycache__")}
                                        if (REPO / part).is_dir() else {}))
    out = tmp_path_factory.mktemp("dist")
    run(sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out), str(src))
    return out


def compiler() -> bool:
    """The build can compile pylaunchd._spawn: a C compiler and Python's headers."""
    import sysconfig

    headers = Path(sysconfig.get_paths()["include"]) / "Python.h"
    return bool(shutil.which("cc") or shutil.which("gcc")) and headers.exists()


def the_wheel(dist: Path) -> Path:
    """The one wheel. With pylaunchd._spawn (optional, C) it is this
    interpreter's and platform's (cp311-cp311-linux_x86_64), not py3-none-any."""
    [wheel] = dist.glob(f"pylaunchd-{__version__}-*.whl")
    if compiler():
        tag = wheel.name.removeprefix(f"pylaunchd-{__version__}-").removesuffix(".whl")
        assert tag.startswith(f"cp{sys.version_info.major}{sys.version_info.minor}-") and "linux" in tag, wheel.name
    return wheel


def test_build_gives_a_wheel_and_an_sdist_that_twine_accepts(dist):
    wheel = the_wheel(dist)
    sdist = dist / f"pylaunchd-{__version__}.tar.gz"
    assert wheel.exists() and sdist.exists(), os.listdir(dist)
    cp = run(sys.executable, "-m", "twine", "check", "--strict", str(wheel), str(sdist))
    assert cp.stdout.count("PASSED") == 2, cp.stdout
    import tarfile
    import zipfile

    names = zipfile.ZipFile(wheel).namelist()
    data = f"pylaunchd-{__version__}.data/data/share/"
    for page in ("man/man1/pylaunchctl.1", "man/man5/pylaunchd.plist.5", "man/man8/pylaunchd.8",
                 "pylaunchd/LaunchAgents/com.example.hello-http.plist", "pylaunchd/contrib/profile.sh",
                 "pylaunchd/contrib/pylaunchd.service"):
        assert data + page in names
    members = tarfile.open(sdist).getnames()
    assert f"pylaunchd-{__version__}/pylaunchd/_spawn.c" in members  # a build from the sdist compiles it
    assert f"pylaunchd-{__version__}/pylaunchd/_prebind.c" in members  # and the command's C front end
    front_end = zipfile.ZipFile(wheel).read(f"pylaunchd-{__version__}.data/scripts/pylaunchd")
    assert front_end.startswith(b"\x7fELF" if shutil.which("cc") else b"#!python"), front_end[:40]
    if compiler():
        assert any(n.startswith("pylaunchd/_spawn.") and n.endswith(".so") for n in names), names
    assert f"pylaunchd-{__version__}/pylaunchd/man/pylaunchd.8" in members
    assert f"pylaunchd-{__version__}/contrib/profile.sh" in members


def test_pipx_install_of_the_wheel_gives_both_commands_and_their_man_pages(dist, tmp_path):
    house = tmp_path / "wheelhouse"
    house.mkdir()
    for d in dependencies():
        repack(d, house)
    home = tmp_path / "pipx"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "PIPX_", "PYLAUNCHD_", "VIRTUAL_ENV"))}
    env.update(PIPX_HOME=str(home), PIPX_BIN_DIR=str(home / "bin"), PIPX_MAN_DIR=str(home / "man"),
               PIP_NO_INDEX="1", PIP_FIND_LINKS=str(house), PIP_DISABLE_PIP_VERSION_CHECK="1",
               PIPX_DISABLE_SHARED_LIBS_AUTO_UPGRADE="1",  # offline: keep the pip ensurepip gives
               PIPX_DEFAULT_PYTHON=getattr(sys, "_base_executable", sys.executable), HOME=str(tmp_path))
    wheel = the_wheel(dist)
    run(sys.executable, "-m", "pipx", "install", str(wheel), env=env, timeout=180)
    bin_dir = home / "bin"
    clean = {"PATH": f"{bin_dir}:/usr/bin:/bin", "HOME": str(tmp_path)}
    version = run(str(bin_dir / "pylaunchd"), "--version", env=clean).stdout.splitlines()
    assert version[0] == f"pylaunchd {__version__}"
    assert version[1].startswith("spawn path: C" if compiler() else "spawn path: posix_spawn and fork"), version
    assert version[2].startswith("front end: C" if shutil.which("cc") else "front end: none"), version
    assert run(str(bin_dir / "pylaunchctl"), "--version", env=clean).stdout.strip() == f"pylaunchctl {__version__}"
    helped = run(str(bin_dir / "pylaunchctl"), "help", env=clean).stdout
    assert "kickstart" in helped and "services" in helped
    # the installed code is the wheel's, not this checkout's
    venv_python = home / "venvs" / "pylaunchd" / "bin" / "python"
    where = run(str(venv_python), "-c", "import pylaunchd; print(pylaunchd.__file__)", env=clean).stdout
    assert str(home) in where and str(REPO) not in where
    share = home / "venvs" / "pylaunchd" / "share"
    assert (share / "pylaunchd" / "LaunchAgents" / "com.example.hello-http.plist").exists()
    for page in ("man1/pylaunchctl.1", "man5/pylaunchd.plist.5", "man8/pylaunchd.8"):
        assert (home / "man" / page).exists(), f"pipx did not link {page}"
        if shutil.which("man"):
            text = run("man", "-l", str(home / "man" / page), env=dict(clean, MANWIDTH="80")).stdout
            assert "NAME" in text and "pylaunchd" in text
