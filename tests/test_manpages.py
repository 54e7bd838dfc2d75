"""The man pages in pylaunchd/man/ are written from the help and the docs
(pylaunchd/manpages.py): they must match what those say now, and man(1)
must render them without a warning."""

from __future__ import annotations

import shutil
import subprocess

import pytest
import typer

from pylaunchd import manpages
from pylaunchd.cli.pylaunchd import typer_app
from pylaunchd.control.verb import VERBS


def test_the_pages_are_up_to_date():
    assert manpages.main(["--check"]) == 0, "run: python -m pylaunchd.manpages --write"


def test_every_verb_and_option_is_on_its_page():
    ctl = manpages.pylaunchctl_page()
    for name in VERBS:
        assert f".SS {manpages.inline(name)}\n" in ctl
    assert "PYLAUNCHD_CONTROL_SOCKET" in ctl and "\\-\\-control\\-socket" in ctl
    daemon = manpages.pylaunchd_page()
    for param in typer.main.get_command(typer_app()).params:
        for opt in getattr(param, "opts", []):
            if opt.startswith("--") and opt != "--help":
                assert manpages.inline(opt) in daemon, opt
    keys = manpages.plist_page()
    for key in ("KeepAlive", "Sockets", "StartCalendarInterval", "inetdCompatibility", "LaunchOnlyOnce"):
        assert f".TP\n\\fB{key}\\fR" in keys or f"\\fB{key}\\fR" in keys


def test_markdown_to_roff():
    roff = manpages.markdown("# T\n\nA `x-y` and **b**\nnext line.\n\n- one\n  two\n\n| k | v |\n|---|---|\n| `a` | b |\n"
                             "\n```\n.dot\n```\n")
    assert roff == [".SH", "T", ".PP", "A \\fBx\\-y\\fR and \\fBb\\fR next line.", ".PP", ".IP \\(bu 2", "one two",
                    ".PP", ".TP", "\\fBa\\fR", "b", ".PP", ".PP", ".nf", ".RS 4", "\\&.dot", ".RE", ".fi"]


@pytest.mark.skipif(shutil.which("man") is None, reason="man is not installed")
@pytest.mark.parametrize("page", sorted(manpages.PAGES))
def test_man_renders_the_page(page):
    cp = subprocess.run(["man", "--warnings", "-l", f"{manpages.MAN_DIR}/{page}"], capture_output=True, text=True,
                        timeout=60, env={"MANWIDTH": "80", "PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"})
    assert cp.returncode == 0 and not cp.stderr.strip(), cp.stderr
    name = page.rsplit(".", 1)[0]
    assert "NAME" in cp.stdout and name in cp.stdout.replace("‐\n", "")
