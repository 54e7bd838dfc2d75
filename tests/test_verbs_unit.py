"""The verb registry, the request schemas and pylaunchctl's renderers, in
process: no manager, no subprocess (except the import check, which needs a
fresh interpreter)."""

from __future__ import annotations

import subprocess
import sys

import pytest
from typer.testing import CliRunner

from pylaunchd.cli.launchctl import build_app
from pylaunchd.control import verbs  # noqa: F401 - registers every verb
from pylaunchd.control.errors import EXIT_USAGE, ControlError
from pylaunchd.control.status import (STATES, STOPPING, DomainStatus, Inetd, JobStatus, JobSummary, KeepAlive,
                                      LastExit, PathResult, SocketStatus, address_text)
from pylaunchd.control.verb import REQUESTS, VERBS, Arg, Verb
from pylaunchd.control.verbs.list import format_jobs, format_list_label
from pylaunchd.control.verbs.load import report
from pylaunchd.control.verbs.print import exit_meaning, format_domain, format_print

# Every verb pylaunchctl has had, and every request the protocol has had.
CLI_VERBS = ["load", "unload", "start", "stop", "remove", "list", "errors", "print", "lint", "bootstrap", "bootout", "enable",
             "disable", "print-disabled", "kickstart", "kill", "blame", "log", "submit", "setenv", "unsetenv",
             "getenv", "export", "limit", "reexec", "import", "services", "error", "managerpid", "manageruid", "managername", "version", "help"]
PROTOCOL = ["list", "print", "load", "unload", "remove", "start", "stop", "manager", "log", "kickstart", "kill",
            "enable", "disable", "print-disabled", "domain", "blame", "submit", "setenv", "unsetenv", "getenv",
            "limit", "bootout", "errors", "reexec"]


# ------------------------------------------------------------------ registry

def test_every_verb_and_request_is_registered_once():
    assert list(VERBS) == CLI_VERBS, "pylaunchctl --help lists them in this order"
    assert sorted(REQUESTS) == sorted(PROTOCOL)


def test_every_request_a_verb_sends_exists_and_every_request_has_a_sender():
    sent = {r for cls in VERBS.values() for r in cls.sends}
    assert sent <= set(REQUESTS)
    assert sent == set(REQUESTS), "a request no verb sends is dead code"


def test_shared_requests_are_declared():
    assert VERBS["bootstrap"].sends == ("load",) and VERBS["load"].sends == ("load",)
    assert {VERBS[v].sends for v in ("managerpid", "manageruid", "managername", "version")} == {("manager",)}
    assert VERBS["export"].sends == ("getenv",)
    assert set(VERBS["bootout"].sends) == {"bootout", "unload"}
    assert set(VERBS["print"].sends) == {"print", "domain"}
    assert VERBS["lint"].sends == VERBS["error"].sends == VERBS["help"].sends == ()


def test_read_only_requests_are_the_ones_anyone_may_send_to_the_system_domain():
    assert {n for n, c in REQUESTS.items() if c.read_only} == {
        "list", "print", "domain", "print-disabled", "blame", "getenv", "manager", "errors"}
    assert not REQUESTS["log"].read_only, "a job's output may hold secrets"


def test_a_verb_without_a_docstring_is_refused():
    with pytest.raises(TypeError, match="docstring"):
        class Undocumented(Verb):
            name = "undocumented"

            def execute(self, service, args):
                return None
    assert "undocumented" not in REQUESTS


def test_a_second_verb_of_the_same_name_is_refused():
    with pytest.raises(TypeError, match="already"):
        class Again(Verb):
            """Another list."""
            name = "list"

            def execute(self, service, args):
                return None
    assert REQUESTS["list"].__name__ == "List"


def test_help_and_dash_dash_help_show_the_docstring():
    runner = CliRunner()
    app = build_app()
    for name in ("kickstart", "bootstrap", "managername", "log"):
        first = VERBS[name].doc().splitlines()[0]
        via_help = runner.invoke(app, ["help", name])
        via_option = runner.invoke(app, [name, "--help"])
        assert via_help.exit_code == 0 and via_option.exit_code == 0
        assert first in via_help.output and first in via_option.output
        assert via_help.output.strip() == via_option.output.strip()


def test_importing_pylaunchctl_imports_nothing_of_the_manager():
    heavy = ["asyncio", "watchdog", "pylaunchd.manager", "pylaunchd.spec", "pylaunchd.domain", "pylaunchd.job",
             "pylaunchd.sockets", "pylaunchd.control.server", "pylaunchd.control.service"]
    code = f"import sys, pylaunchd.cli.launchctl; print([m for m in {heavy!r} if m in sys.modules])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


# -------------------------------------------------------------------- schema

def usage_error(cls, args) -> str:
    with pytest.raises(ControlError) as e:
        cls.validate(args)
    assert e.value.status == EXIT_USAGE
    return str(e.value)


def test_schema_fills_defaults_and_drops_unknown_arguments():
    assert REQUESTS["kickstart"].validate({"label": "a", "bogus": 1}) == {"label": "a", "kill": False}
    assert REQUESTS["load"].validate({"paths": ["/p"]}) == {"paths": ["/p"], "write": False, "force": False}


def test_schema_null_is_absent():
    assert REQUESTS["submit"].validate({"label": "s", "arguments": ["x"], "program": None})["program"] is None
    assert usage_error(REQUESTS["start"], {"label": None}) == "a label is required"


def test_schema_errors_name_the_argument():
    assert "'kill'" in usage_error(REQUESTS["kickstart"], {"label": "a", "kill": "yes"})
    assert "a string" in usage_error(REQUESTS["kickstart"], {"label": "a", "kill": "yes"})
    assert "'lines'" in usage_error(REQUESTS["log"], {"label": "a", "lines": True}), "a boolean is not an integer"
    assert usage_error(REQUESTS["load"], {"paths": ["/a", 3]}) == "at least one path is required"
    assert usage_error(REQUESTS["load"], {"paths": []}) == "at least one path is required"
    assert usage_error(REQUESTS["print"], {"label": ""}) == "a label is required"


def test_schema_checks_values():
    assert usage_error(REQUESTS["kill"], {"label": "a", "signal": 999}) == "Invalid signal."
    assert REQUESTS["kill"].validate({"label": "a", "signal": 15})["signal"] == 15
    assert usage_error(REQUESTS["setenv"], {"key": "A=B", "value": "x"}) == "usage: setenv KEY VALUE"
    assert usage_error(REQUESTS["submit"], {"label": "s", "arguments": []}) == "submit needs a command after --"


def test_arg_default_messages():
    class Probe(Verb, register=False):
        """A request with one number and one list of strings."""
        name = "probe"
        args = {"n": Arg(int, required=True), "names": Arg(list, items=str), "ratio": Arg(float)}

        def execute(self, service, args):
            return args
    assert "probe" not in REQUESTS
    assert Probe.validate({"n": 1, "ratio": 1}) == {"n": 1, "names": None, "ratio": 1}
    with pytest.raises(ControlError, match="probe: the argument 'n' is required"):
        Probe.validate({})
    with pytest.raises(ControlError, match="probe: the argument 'n' must be an integer, not a string"):
        Probe.validate({"n": "1"})
    with pytest.raises(ControlError, match="probe: the argument 'names' must hold only strings"):
        Probe.validate({"n": 1, "names": ["a", 2]})
    with pytest.raises(ControlError, match="probe: the argument 'ratio' must be a number, not a boolean"):
        Probe.validate({"n": 1, "ratio": True})


# -------------------------------------------------------------------- status

def a_job(**changes) -> JobStatus:
    job = JobStatus(
        label="com.example.web", pid=4242, last_exit_status=None, state="running", runs=1, domain="user/1000",
        type="LaunchAgent", path="/home/u/Library/LaunchAgents/web.plist", program="/usr/bin/web",
        arguments=["/usr/bin/web", "--port", "8080"], environment={"MODE": "prod"}, working_directory="/srv",
        stdin_path=None, stdout_path="/tmp/web.out", stderr_path=None, run_at_load=True,
        keep_alive=KeepAlive(always=False, successful_exit=False, crashed=None), throttle_interval=10,
        exit_timeout=20, inetd_compatibility=None, last_exit=None, last_trigger="run at load", throttled_for=None,
        instances=[], spawn_error=None, warnings=["Bogus: unknown key"], ignored_keys=["Nice"],
        watching_sockets=False,
        sockets=[SocketStatus("Listeners", "IPv4", "stream", {"host": "127.0.0.1", "port": 8080}, False, 3, 0, 2,
                              None),
                 SocketStatus("Listeners", "IPv6", "stream", {"host": "::1", "port": 8080}, False, 4, 0, 0, None)])
    for k, v in changes.items():
        setattr(job, k, v)
    return job


DOCUMENTED_KEYS = ["label", "pid", "last_exit_status", "state", "runs", "domain", "type", "path", "program",
                   "arguments", "environment", "working_directory", "stdin_path", "stdout_path", "stderr_path",
                   "run_at_load", "keep_alive", "throttle_interval", "exit_timeout", "inetd_compatibility",
                   "last_exit", "last_trigger", "throttled_for", "instances", "spawn_error", "warnings",
                   "ignored_keys", "watching_sockets", "sockets",
                   # issue 10: added after every older key, which keep their order
                   "ready", "status_text", "watchdog_interval", "daemon_pid",
                   "endpoints",  # issue 9
                   "ready_extended"]  # issue 10's audit: EXTEND_TIMEOUT_USEC


def test_job_status_json_keeps_the_wire_keys_in_order():
    data = a_job(last_exit=LastExit(1, None, "exit code 1"), inetd_compatibility=Inetd(True)).to_json()
    assert list(data) == DOCUMENTED_KEYS
    assert data["keep_alive"] == {"always": False, "successful_exit": False, "crashed": None}
    assert data["last_exit"] == {"code": 1, "signal": None, "description": "exit code 1"}
    assert data["inetd_compatibility"] == {"wait": True}
    assert list(data["sockets"][0]) == ["name", "family", "type", "address", "passive", "fd", "accepted",
                                        "triggers", "last_trigger"]
    assert list(a_job().summary.to_json()) == DOCUMENTED_KEYS[:5]


def test_job_status_round_trips_and_ignores_new_keys():
    job = a_job(last_exit=LastExit(None, 9, "SIGKILL (Killed)"), inetd_compatibility=Inetd(False))
    data = job.to_json()
    assert JobStatus.from_json(data) == job
    assert JobStatus.from_json({**data, "added_later": 1}) == job
    domain = DomainStatus("system", "LaunchDaemon", 1, 0, ["/d"], "/run/c.sock", "/var/lib/p", {}, {},
                          [job.summary])
    assert DomainStatus.from_json(domain.to_json()) == domain


def test_path_result_json_is_a_label_or_an_error():
    assert PathResult("/p", "x").to_json() == {"path": "/p", "label": "x"}
    assert PathResult("/p", error="bad", status=109).to_json() == {"path": "/p", "error": "bad", "status": 109}


def test_states_are_named():
    assert STOPPING in STATES and set(STATES) == {"waiting", "throttled", "running", "stopping"}


def test_address_text():
    assert address_text({"host": "127.0.0.1", "port": 80}) == "127.0.0.1:80"
    assert address_text({"host": "::1", "port": 80}) == "[::1]:80"
    assert address_text({"path": "/run/x.sock"}) == "/run/x.sock"


# ----------------------------------------------------------------- renderers

def test_format_print_layout():
    text = format_print(a_job())
    lines = text.splitlines()
    assert lines[0] == "user/1000/com.example.web = {" and lines[-1] == "}"
    for line in ["\tstate = running", "\tpath = /home/u/Library/LaunchAgents/web.plist", "\ttype = LaunchAgent",
                 "\tworking directory = /srv", "\tstdout path = /tmp/web.out", "\t\tMODE => prod",
                 "\tminimum runtime = 10", "\tpid = 4242", "\tlast exit code = (never exited)",
                 "\tlast start reason = run at load", "\tproperties = runatload | keepalive(successful-exit=false)",
                 "\t\t\taddress = 127.0.0.1:8080", "\t\t\taddress = [::1]:8080", "\t\t\ttriggers = 2",
                 "\twatching sockets = no", "\t\tBogus: unknown key", "\t\tNice"]:
        assert line in lines, line
    assert "stdin path" not in text and "throttled" not in text


def test_format_print_exits_and_submitted_jobs():
    signalled = format_print(a_job(path=None, last_exit=LastExit(None, 9, "SIGKILL (Killed)"), sockets=[]))
    assert "\tpath = (submitted)" in signalled and "\tlast exit code = (signal) SIGKILL (Killed)" in signalled
    assert "sockets" not in signalled
    failed = format_print(a_job(last_exit=LastExit(2, None, "exit code 2"), spawn_error="exec /x: No such file",
                                throttled_for=4.5, state="throttled"))
    assert "\tlast exit code = 2: No such file or directory (exec /x: No such file)" in failed
    assert "\tthrottled = next start in 4.5 s" in failed and "\tspawn error = exec /x: No such file" in failed


def test_exit_meaning():
    assert exit_meaning(0, None) == "EX_OK"
    assert exit_meaning(64, None) == "EX_USAGE"
    assert exit_meaning(3, None) == "failure"
    assert exit_meaning(127, "exec failed") == "exec failed"


def test_format_list_label_is_launchctls_dictionary():
    text = format_list_label(a_job(last_exit=LastExit(3, None, "exit code 3"), pid=None, domain="system"))
    assert '\t"LimitLoadToSessionType" = "System";' in text
    assert '\t"LastExitStatus" = 768;' in text and '"PID"' not in text
    assert '\t"OnDemand" = true;' in text
    assert '\t\t"--port";' in text
    assert '\t\t"Listeners" = (\n\t\t\tfile-descriptor-object;\n\t\t\tfile-descriptor-object;\n\t\t);' in text
    killed = format_list_label(a_job(last_exit=LastExit(None, 15, "SIGTERM"), keep_alive=KeepAlive(True, None, None)))
    assert '\t"LastExitStatus" = 15;' in killed and '\t"OnDemand" = false;' in killed and '\t"PID" = 4242;' in killed


def test_format_jobs_columns():
    jobs = [JobSummary("a", 12, None, "running", 1), JobSummary("b", None, -9, "waiting", 2),
            JobSummary("c", None, None, "waiting", 0)]
    assert format_jobs(jobs) == "PID\tStatus\tLabel\n12\t0\ta\n-\t-9\tb\n-\t0\tc"


def test_format_domain():
    info = DomainStatus("user/1000", "LaunchAgent", 77, 1000, ["/a", "/b"], "/run/user/1000/c.sock", "/s",
                        {"K": "v"}, {"x": True, "w": False},
                        [JobSummary("a", 12, None, "running", 1), JobSummary("b", None, 3, "waiting", 1)])
    lines = format_domain(info).splitlines()
    assert lines[:4] == ["user/1000 = {", "\ttype = LaunchAgent", "\tmanager pid = 77",
                         "\tcontrol socket = /run/user/1000/c.sock"]
    assert "\t\t/b" in lines and "\t\tK => v" in lines
    assert "\t\t12\t-\ta\t(running)" in lines and "\t\t-\t3\tb\t(waiting)" in lines
    assert lines.index('\t\t"w" => enabled') < lines.index('\t\t"x" => disabled')


def test_report_prints_errors_and_returns_the_first_status(capsys):
    results = [{"path": "/a", "label": "a"}, {"path": "/b", "error": "/b: bad", "status": 109},
               {"path": "/c", "error": "/c: worse", "status": 5}]
    assert report(results) == 109
    assert capsys.readouterr().err == "/b: bad\n/c: worse\n"
    assert report([{"path": "/a", "label": "a"}]) == 0


def test_a_load_error_names_its_key_once():
    """Found by the corpus: `list` printed "PATH: Label: Label: expected ..."."""
    from pylaunchd.control.status import LoadErrorStatus

    e = LoadErrorStatus("/j/x.plist", None, "invalid", "Label", "Label: expected a string naming the job")
    assert e.text == "/j/x.plist: Label: expected a string naming the job"
    e = LoadErrorStatus("/j/x.plist", "x", "invalid", "KeepAlive", "expected a boolean")
    assert e.text == "/j/x.plist: KeepAlive: expected a boolean"
