"""Unit tests of spawnplan.plan(): what the child will do, decided in the manager."""

from __future__ import annotations

import errno
import os

from pylaunchd.spawnplan import DEFAULT_PATH, IOPRIO_CLASS_BE, IOPRIO_CLASS_IDLE, base_environment, plan
from pylaunchd.spec import validate


def spec(**keys):
    return validate({"Label": "t.plan", "ProgramArguments": ["server", "-x"], **keys}, "/j/t.plist")


def test_environment_layers_and_no_stale_listen_variables():
    p = plan(spec(EnvironmentVariables={"A": "job", "LISTEN_FDS": "9"}),
             extra_env={"A": "domain", "B": "domain", "LISTEN_PID": "1"}, inherited={"HOME": "/h", "SECRET": "x"})
    assert p.env["A"] == "job" and p.env["B"] == "domain" and p.env["HOME"] == "/h"
    assert "SECRET" not in p.env and "LISTEN_FDS" not in p.env and "LISTEN_PID" not in p.env
    assert p.env["XPC_SERVICE_NAME"] == "t.plan" and p.env["PATH"] == DEFAULT_PATH
    assert p.argv == ["server", "-x"] and p.search_path and p.cwd == "/"


def test_base_environment_keeps_the_managers_path():
    assert base_environment("l", {"PATH": "/opt/bin"})["PATH"] == "/opt/bin"


def test_process_types_and_io_priorities():
    bg = plan(spec(ProcessType="Background"))
    assert bg.sched_batch and bg.nice == 10 and bg.ioprio == (IOPRIO_CLASS_BE << 13) | 7
    assert plan(spec(ProcessType="Background", Nice=3)).nice == 3
    assert plan(spec(ProcessType="Interactive")).ioprio == IOPRIO_CLASS_BE << 13
    assert plan(spec(LowPriorityIO=True)).ioprio == IOPRIO_CLASS_IDLE << 13
    assert plan(spec(ProcessType="Standard")).ioprio is None


def test_limits_in_a_fixed_order_with_soft_and_hard_apart():
    p = plan(spec(SoftResourceLimits={"NumberOfFiles": 64, "Core": 0}, HardResourceLimits={"NumberOfFiles": 128}))
    assert [(name, soft, hard) for name, _, soft, hard in p.rlimits] == [("Core", 0, None), ("NumberOfFiles", 64, 128)]


def test_unknown_user_is_a_fatal_esrch_as_launchd():
    p = plan(spec(UserName="no-such-user-pylaunchd"))
    assert p.fatal is not None and p.fatal[0] == errno.ESRCH and "no-such-user-pylaunchd" in p.fatal[1]


def test_a_bare_environment_gets_the_users_identity_from_the_password_database():
    """A manager started with env -i (or by a supervisor that passes nothing)
    still gives its agents HOME, USER, LOGNAME and SHELL, as launchd does."""
    import pwd

    pw = pwd.getpwuid(os.geteuid())
    env = base_environment("x", inherited={})
    assert (env["HOME"], env["USER"], env["LOGNAME"]) == (pw.pw_dir, pw.pw_name, pw.pw_name)
    kept = base_environment("x", inherited={"HOME": "/elsewhere", "USER": "someone"})
    assert (kept["HOME"], kept["USER"]) == ("/elsewhere", "someone") and "LOGNAME" not in kept
