"""Ordinary users for tests: made with useradd, given the project where they
can run it, driven through a login shell, removed with their homes.

Only root can do this; the tests that use it skip elsewhere.

The project must be runnable by someone who is not root. The test's own
interpreter may live where they cannot reach it (CI's ``.venv`` inside a
clone under /root, whose mode is 0700; pyenv's interpreters under /root
too), so every run builds its own world-readable copy under /tmp, on an
interpreter they can run (:func:`interpreter`): a venv without pip whose site-packages
holds pylaunchd's source and the installed files of its dependencies, and
``pylaunchd``/``pylaunchctl`` scripts. Each user gets ``~/.local/bin``
links to them, as ``pipx`` leaves, which Debian's ``~/.profile`` puts on a
login shell's PATH.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from installed import dependencies, files

REPO = Path(__file__).resolve().parent.parent
NEEDED = ("useradd", "userdel", "setpriv", "runuser")


def why_not() -> str | None:
    """Why ordinary users cannot be made here, or None."""
    if os.geteuid() != 0:
        return "creating users needs root"
    missing = [c for c in NEEDED if shutil.which(c) is None]
    if missing:
        return f"missing {', '.join(missing)}"
    return None if interpreter() else "no Python 3.11 or later that an ordinary user may run"


def reachable(path: str) -> bool:
    """Anyone may run *path*: every directory above it searchable by others,
    the file readable and executable by them."""
    path = os.path.realpath(path)
    parts = Path(path).parents
    return os.stat(path).st_mode & 0o005 == 0o005 and all(os.stat(d).st_mode & 0o001 for d in parts)


def interpreter() -> str | None:
    """A Python (3.11 or later, as pyproject.toml asks) that an ordinary user
    can run: the tests' own base interpreter when it is reachable (it is not
    when pyenv keeps it under /root), else the system's python3."""
    base = getattr(sys, "_base_executable", sys.executable)
    if reachable(base) and reachable(sys.base_prefix):
        return base
    for candidate in ("/usr/bin/python3", "/usr/local/bin/python3"):
        if os.path.exists(candidate) and reachable(candidate):
            cp = subprocess.run([candidate, "-c", "import sys; print(sys.version_info >= (3, 11))"],
                                capture_output=True, text=True, timeout=30)
            if cp.stdout.strip() == "True":
                return candidate
    return None


def build_runtime(root: Path, python: str) -> Path:
    """A venv of *python* under *root* that anyone can run, with pylaunchd
    and its dependencies (pure Python) copied in; its bin directory."""
    venv = root / "venv"
    subprocess.run([python, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=60)
    [site] = list((venv / "lib").glob("python3*/site-packages"))
    for dist in dependencies():
        for rel, src in files(dist):
            (site / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, site / rel)
    shutil.copytree(REPO / "pylaunchd", site / "pylaunchd", ignore=shutil.ignore_patterns("__pycache__"))
    for script, module in (("pylaunchd", "pylaunchd"), ("pylaunchctl", "launchctl")):
        path = venv / "bin" / script
        path.write_text(f"#!{venv}/bin/python\nfrom pylaunchd.cli.{module} import main\nmain()\n")
        path.chmod(0o755)
    shutil.copy2(REPO / "contrib" / "profile.sh", root / "profile.sh")
    subprocess.run(["chmod", "-R", "a+rX", str(root)], check=True)
    return venv / "bin"


@dataclass
class User:
    name: str
    uid: int
    gid: int
    home: Path

    def run(self, script: str, env: dict[str, str] | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
        """*script* in a login shell of this user (``sh -l``: /etc/profile and
        ~/.profile), from a bare environment as login(1) leaves it, without
        XDG_RUNTIME_DIR: no PAM session made one."""
        return subprocess.run(self.command(script, env), capture_output=True, text=True, timeout=timeout,
                              cwd=self.home)

    def command(self, script: str, env: dict[str, str] | None = None) -> list[str]:
        base = {"HOME": str(self.home), "USER": self.name, "LOGNAME": self.name, "SHELL": "/bin/sh",
                "PATH": "/usr/bin:/bin", **(env or {})}
        return ["setpriv", f"--reuid={self.uid}", f"--regid={self.gid}", "--init-groups", "env", "-i",
                *[f"{k}={v}" for k, v in base.items()], "/bin/sh", "-lc", script]

    def write(self, relative: str, text: str | bytes, mode: int = 0o644) -> Path:
        """A file in the user's home, owned by them, with its directories."""
        path = self.home / relative
        parts = Path(relative).parts[:-1]
        for i in range(len(parts)):
            d = self.home.joinpath(*parts[:i + 1])
            if not d.exists():
                d.mkdir()
                os.chown(d, self.uid, self.gid)
        path.write_bytes(text.encode() if isinstance(text, str) else text)
        os.chown(path, self.uid, self.gid)
        path.chmod(mode)
        return path


def add_user(name: str, home: Path, bin_dir: Path) -> User:
    subprocess.run(["useradd", "--create-home", "--home-dir", str(home), "--shell", "/bin/sh", name],
                   check=True, capture_output=True, timeout=60)
    pw = pwd.getpwnam(name)
    user = User(name, pw.pw_uid, pw.pw_gid, home)
    for script in ("pylaunchd", "pylaunchctl"):
        link = home / ".local" / "bin" / script
        user.write(f".local/bin/{script}", "")
        link.unlink()
        link.symlink_to(bin_dir / script)
        os.lchown(link, user.uid, user.gid)
    if not (home / ".profile").exists():  # a skeleton without Debian's ~/.profile
        user.write(".profile", 'PATH="$HOME/.local/bin:$PATH"\n')
    return user


def remove_user(user: User) -> None:
    subprocess.run(["userdel", "--remove", user.name], capture_output=True, timeout=60)
    shutil.rmtree(user.home, ignore_errors=True)
    shutil.rmtree(f"/tmp/pylaunchd-{user.uid}", ignore_errors=True)
