"""The build's one step that pyproject.toml cannot say: the ``pylaunchd`` command.

``pylaunchd`` is a small C program (pylaunchd/_prebind.c) that binds every
job's network sockets before Python starts, then execs the Python manager,
``pylaunchd-python``, installed beside it (docs/architecture.md, "The C
front end"). It is compiled here, as a script: the wheel carries it in its
scripts, and pip, pipx or an editable install put it in the same bin
directory as ``pylaunchd-python``. Without a C compiler the build does not
fail: ``pylaunchd`` is then a Python script that runs the manager directly,
and only the pre-binding is lost.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sysconfig

from setuptools import setup  # first: the distutils imported next is then setuptools' own copy
from distutils.command.build_scripts import build_scripts  # noqa: E402

SOURCE = "pylaunchd/_prebind.c"
FALLBACK = (
    "#!python\n"
    '"""pylaunchd: the manager (built without its C front end: no C compiler at build time)."""\n'
    "from pylaunchd.cli.pylaunchd import main\n"
    "main()\n"
)


def compile_front_end(out: str) -> bool:
    """Compile SOURCE into *out*; False (and why, on stderr) when it cannot."""
    cc = shlex.split(os.environ.get("CC") or sysconfig.get_config_var("CC") or "cc")
    if not cc or shutil.which(cc[0]) is None:
        print(f"pylaunchd: no C compiler ({' '.join(cc) or 'CC'}): the pylaunchd command runs without its C front end")
        return False
    done = subprocess.run([*cc, "-O2", "-Wall", "-o", out, SOURCE], capture_output=True, text=True)
    if done.returncode != 0:
        print(f"pylaunchd: {SOURCE} did not compile: the pylaunchd command runs without its C front end\n"
              f"{done.stderr}")
        return False
    return True


class BuildScripts(build_scripts):
    """Make ``pylaunchd`` (compiled, or the Python fallback), then copy the
    scripts as usual; a compiled one is copied as it is (the base class
    reads every script as Python source)."""

    def run(self) -> None:
        self.mkpath(self.build_dir)
        staged = os.path.join(self.get_finalized_command("build").build_temp, "pylaunchd-front-end")
        self.mkpath(staged)
        made = os.path.join(staged, "pylaunchd")
        if not compile_front_end(made):
            with open(made, "w") as f:
                f.write(FALLBACK)
        self.scripts = [made]
        self.copy_scripts()

    def _copy_script(self, script, outfiles, updated_files) -> None:
        with open(script, "rb") as f:
            python = f.read(9) == b"#!python\n"
        if python:
            return super()._copy_script(script, outfiles, updated_files)
        out = os.path.join(self.build_dir, os.path.basename(script))
        shutil.copyfile(script, out)
        outfiles.append(out)
        updated_files.append(out)

    def get_source_files(self) -> list[str]:
        return [SOURCE]  # what the sdist carries for this step


# scripts=[SOURCE]: a script to build at all, or setuptools skips build_scripts;
# BuildScripts.run puts what it made in its place.
setup(cmdclass={"build_scripts": BuildScripts}, scripts=[SOURCE])
