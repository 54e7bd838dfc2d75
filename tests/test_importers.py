"""pylaunchctl import on real files: the unit files Debian ships and
supervisord's own sample configuration (tests/importers/, origins in its
README.md), and the syntax rules of both formats. Every imported plist must
pass validate() and lint without errors. No manager here; the jobs are run
in tests/test_import_jobs.py."""

from __future__ import annotations

import glob
import json
import os
import plistlib
import subprocess
from pathlib import Path

import pytest

from conftest import PYTHON
from pylaunchd.importers import ConversionError
from pylaunchd.importers.convert import convert
from pylaunchd.importers.oncalendar import to_calendar
from pylaunchd.importers.supervisord import import_config, parse_environment
from pylaunchd.importers.systemd import import_unit
from pylaunchd.importers.unitfile import parse_unit, split_command, timespan
from pylaunchd.lint import ERROR, lint_file
from pylaunchd.spec import validate

FIXTURES = Path(__file__).resolve().parent / "importers"
DEBIAN = FIXTURES / "debian"
SUPERVISORD = FIXTURES / "supervisord"


def files(mapping: dict[str, str]):
    """A reader over a dictionary of path -> text (nothing of the machine)."""
    return lambda path: mapping.get(path)


def fixture_reader(path: str):
    """Read fixtures only: an EnvironmentFile of the machine is not seen."""
    p = Path(path)
    return p.read_text() if p.is_file() and FIXTURES in p.parents else None


def pylaunchctl(*args, check=True) -> subprocess.CompletedProcess:
    cp = subprocess.run([PYTHON, "-m", "pylaunchd.cli.launchctl", *args], capture_output=True, text=True,
                        timeout=60)
    if check and cp.returncode != 0:
        raise AssertionError(f"pylaunchctl {' '.join(args)} exited {cp.returncode}:\n{cp.stdout}{cp.stderr}")
    return cp


def assert_loads_and_lints(directory: Path) -> list[dict]:
    plists = []
    for path in sorted(directory.glob("*.plist")):
        data = plistlib.loads(path.read_bytes())
        validate(data, str(path))
        errors = [f for f in lint_file(str(path)) if f.level == ERROR]
        assert not errors, [str(e) for e in errors]
        plists.append(data)
    assert plists
    return plists


# ------------------------------------------------------------ the syntax

def test_unit_file_sections_continuations_repeats_and_resets():
    unit = parse_unit("# comment\n[Unit]\nDescription=x\n\n[Service]\nEnvironment=A=1\nEnvironment=B=2\n"
                      "ExecStart=/bin/echo one \\\n# a comment inside is skipped\n   two\n"
                      "ExecStartPre=/bin/true\nExecStartPre=\nExecStartPre=/bin/false\n; also a comment\n")
    assert unit["Service"]["Environment"] == ["A=1", "B=2"]
    assert split_command(unit["Service"]["ExecStart"][0], {})[2] == ["/bin/echo", "one", "two"]
    assert unit["Service"]["ExecStartPre"] == ["/bin/false"], "an empty assignment resets the list"


def test_exec_start_quoting_variables_and_prefixes():
    env = {"OPTS": "-a -b", "NAME": "two words"}
    prefixes, exe, argv, missing = split_command(
        r"""-/bin/prog $OPTS "${NAME}" 'single $OPTS' x${NAME}y \"q\" $UNSET $$HOME""", env)
    assert prefixes == "-" and exe is None
    assert argv == ["/bin/prog", "-a", "-b", "two words", "single -a -b", "xtwo wordsy", '"q"', "$HOME"]
    assert missing == ["UNSET"]
    assert split_command("@/bin/sh mysh -c 'echo hi'", {})[1:3] == ("/bin/sh", ["mysh", "-c", "echo hi"])
    assert split_command(":/bin/echo $OPTS", env)[2] == ["/bin/echo", "$OPTS"], ": expands nothing"


def test_time_spans():
    assert timespan("90") == 90 and timespan("1min 30s") == 90 and timespan("2h30m") == 9000
    assert timespan("100ms") == pytest.approx(0.1) and timespan("1d") == 86400
    assert timespan("infinity") == float("inf") and timespan("soon") is None


@pytest.mark.parametrize("expr, entries", [
    ("daily", [{"Hour": 0, "Minute": 0}]),
    ("weekly", [{"Weekday": 1, "Hour": 0, "Minute": 0}]),
    ("*-*-* 6,18:00", [{"Hour": 6, "Minute": 0}, {"Hour": 18, "Minute": 0}]),
    ("Sun *-*-* 03:10:00", [{"Weekday": 0, "Hour": 3, "Minute": 10}]),
    ("Mon..Wed 09:30", [{"Weekday": d, "Hour": 9, "Minute": 30} for d in (1, 2, 3)]),
    ("*:0/20", [{"Minute": 0}, {"Minute": 20}, {"Minute": 40}]),
    ("*-02-29 12:00", [{"Month": 2, "Day": 29, "Hour": 12, "Minute": 0}]),
])
def test_on_calendar_that_launchd_can_express(expr, entries):
    got, notes = to_calendar(expr)
    assert [dict(sorted(e.items())) for e in got] == [dict(sorted(e.items())) for e in entries]
    assert notes == []


@pytest.mark.parametrize("expr, why", [
    ("2030-01-01", "year"), ("Mon *-*-01..07", "weekday and a day"), ("*-*~03", "date"),
])
def test_on_calendar_that_launchd_cannot_express_is_said(expr, why):
    got, notes = to_calendar(expr)
    assert got is None and why in notes[-1]


# ------------------------------------------------------ Debian's units

def test_debian_units_import_load_and_lint(workdir):
    units = [str(DEBIAN / n) for n in ("ssh.socket", "ssh.service", "dbus.socket", "apt-daily.timer",
                                       "systemd-tmpfiles-clean.timer", "e2scrub_all.timer",
                                       "systemd-ask-password-console.path")]
    cp = pylaunchctl("import", "--prefix", "org.debian.", "-o", str(workdir / "out"), *units)
    written = {os.path.basename(p) for p in cp.stdout.split()}
    assert written == {f"org.debian.{n}.plist" for n in ("ssh", "dbus", "apt-daily", "systemd-tmpfiles-clean",
                                                          "e2scrub_all", "systemd-ask-password-console")}
    assert "ssh.service: imported with the unit that starts it" in cp.stderr
    assert "Type=notify: launchd has no readiness protocol" in cp.stderr
    assert "ExecStartPre=/usr/sbin/sshd -t: launchd runs one command" in cp.stderr
    assert "RandomizedDelaySec=12h: no launchd equivalent" in cp.stderr
    assert_loads_and_lints(workdir / "out")


def test_debian_mappings():
    def imp(name, reader=fixture_reader):
        return import_unit(str(DEBIAN / name), (DEBIAN / name).read_text(), reader).plist

    ssh = imp("ssh.socket")
    assert ssh["Sockets"] == {"ssh.socket": {"SockServiceName": "22"}}
    assert ssh["ProgramArguments"] == ["/usr/sbin/sshd", "-D"], "$SSHD_OPTS, set by nothing, expands to nothing"
    assert ssh["KeepAlive"] == {"AfterInitialDemand": True, "SuccessfulExit": False}, "Restart=on-failure"
    assert ssh["AbandonProcessGroup"] is True and "RunAtLoad" not in ssh
    alone = imp("ssh.service")
    assert alone["RunAtLoad"] is True and alone["KeepAlive"] == {"SuccessfulExit": False}, "WantedBy: at boot"
    assert imp("dbus.socket")["Sockets"] == {"dbus.socket": {"SockPathName": "/run/dbus/system_bus_socket"}}
    assert imp("apt-daily.timer")["StartCalendarInterval"] == [{"Hour": 6, "Minute": 0}, {"Hour": 18, "Minute": 0}]
    assert imp("e2scrub_all.timer")["StartCalendarInterval"] == {"Weekday": 0, "Hour": 3, "Minute": 10}
    tmp = imp("systemd-tmpfiles-clean.timer")
    assert tmp["StartInterval"] == 86400 and tmp["RunAtLoad"] is True and tmp["LowPriorityIO"] is True
    assert imp("systemd-ask-password-console.path")["QueueDirectories"] == ["/run/systemd/ask-password"]


def test_a_trigger_without_its_service_is_an_error():
    text = (DEBIAN / "ssh.socket").read_text()
    with pytest.raises(ConversionError, match="ssh.service"):
        import_unit("/nowhere/ssh.socket", text, files({}))


def test_accept_yes_socket_and_its_template_service():
    units = {"/u/echo.socket": "[Socket]\nListenStream=127.0.0.1:7007\nListenDatagram=[::1]:7008\n"
                               "Accept=yes\nMaxConnections=8\nBacklog=5\n",
             "/u/echo@.service": "[Service]\nExecStart=-/bin/cat\nStandardInput=socket\nRestart=always\n"}
    job = import_unit("/u/echo.socket", units["/u/echo.socket"], files(units), "org.x.")
    assert job.label == "org.x.echo"
    assert job.plist["inetdCompatibility"] == {"Wait": False, "Instances": 8}
    assert job.plist["Sockets"]["echo.socket"] == [
        {"SockNodeName": "127.0.0.1", "SockServiceName": "7007", "SockFamily": "IPv4"},
        {"SockType": "dgram", "SockNodeName": "::1", "SockServiceName": "7008", "SockFamily": "IPv6"}]
    assert "KeepAlive" not in job.plist
    assert any("Backlog=5" in n for n in job.notes) and any("'-' prefix" in n for n in job.notes)
    validate(job.plist, "echo.plist")


def test_service_keys():
    unit = ("[Service]\nType=forking\nExecStart=/usr/bin/d --x\nEnvironment=\"A=1 2\" B=3\nEnvironmentFile=/e\n"
            "WorkingDirectory=-/srv\nUser=www-data\nGroup=www-data\nRestart=on-abnormal\nRestartSec=5s\n"
            "TimeoutStopSec=1min\nStandardOutput=append:/var/log/d.log\nNice=5\nUMask=0027\n"
            "LimitNOFILE=1024:4096\nLimitCORE=infinity\nProtectSystem=strict\n[Install]\nWantedBy=multi-user.target\n")
    job = import_unit("/u/d.service", unit, files({"/e": "# env\nC='from file'\nexport D=4\n"}))
    p = job.plist
    assert p["EnvironmentVariables"] == {"A": "1 2", "B": "3", "C": "from file", "D": "4"}
    assert (p["WorkingDirectory"], p["UserName"], p["GroupName"]) == ("/srv", "www-data", "www-data")
    assert p["KeepAlive"] == {"Crashed": True} and p["ThrottleInterval"] == 5 and p["ExitTimeOut"] == 60
    assert p["StandardOutPath"] == p["StandardErrorPath"] == "/var/log/d.log"
    assert (p["Nice"], p["Umask"]) == (5, 0o027)
    assert p["SoftResourceLimits"] == {"NumberOfFiles": 1024} and p["HardResourceLimits"] == {"NumberOfFiles": 4096}
    text = "\n".join(job.notes)
    for said in ("Type=forking", "ProtectSystem=strict: sandboxing", "LimitCORE=infinity", "EnvironmentFile=/e",
                 "Restart=on-abnormal"):
        assert said in text
    validate(p, "d.plist")


def test_path_unit_keys():
    units = {"/u/w.path": "[Path]\nPathExists=/run/flag\nPathChanged=/etc/w.conf\nPathModified=/etc/w.d\n"
                          "DirectoryNotEmpty=/var/spool/w\nPathExistsGlob=/tmp/*.x\n",
             "/u/w.service": "[Service]\nExecStart=/bin/w\n"}
    p = import_unit("/u/w.path", units["/u/w.path"], files(units)).plist
    assert p["KeepAlive"] == {"PathState": {"/run/flag": True}}
    assert p["WatchPaths"] == ["/etc/w.conf", "/etc/w.d"] and p["QueueDirectories"] == ["/var/spool/w"]
    validate(p, "w.plist")


# --------------------------------------------------------- supervisord

def test_supervisord_sample_conf_has_no_program_and_says_what_it_skipped():
    jobs, notes = import_config(str(SUPERVISORD / "sample.conf"), fixture_reader, glob.glob)
    assert jobs == []
    assert {n.split(": ")[1] for n in notes} == {"[unix_http_server]", "[supervisord]",
                                                   "[rpcinterface:supervisor]", "[supervisorctl]"}


def test_supervisord_sample_program(workdir):
    cp = pylaunchctl("import", "-o", str(workdir / "out"), "--prefix", "org.sup.",
                     str(SUPERVISORD / "sample-programs.conf"))
    [data] = assert_loads_and_lints(workdir / "out")
    assert data == {"Label": "org.sup.theprogramname", "ProgramArguments": ["/bin/cat"],
                    "EnvironmentVariables": {"A": "1", "B": "2"}, "WorkingDirectory": "/tmp",
                    "UserName": "chrism", "Umask": 0o22, "RunAtLoad": True, "KeepAlive": {"SuccessfulExit": False},
                    "ThrottleInterval": 1, "ExitTimeOut": 10, "StandardOutPath": "/a/path",
                    "StandardErrorPath": "/a/path"}
    for said in ("stopsignal=QUIT", "priority=999", "startretries=3", "stdout_logfile_maxbytes=1MB",
                 "serverurl=AUTO", "[supervisorctl]"):
        assert said in cp.stderr


def test_supervisord_documentation_examples_with_include_numprocs_and_fcgi(workdir):
    cp = pylaunchctl("import", "--json", str(SUPERVISORD / "docs-examples.conf"))
    out = json.loads(cp.stdout)
    jobs = {j["label"]: j for j in out["jobs"]}
    assert sorted(jobs) == ["cat", "fcgiprogramname", "worker_01", "worker_02", "worker_03"]
    worker = jobs["worker_02"]["plist"]
    assert worker["ProgramArguments"] == ["/bin/sleep", "20"]
    assert worker["StandardOutPath"] == str(SUPERVISORD / "conf.d" / "worker-2.log"), "%(here)s"
    assert worker["EnvironmentVariables"]["WORKER"] == "2" and worker["EnvironmentVariables"]["KEY1"] == "value1"
    assert worker["EnvironmentVariables"]["HOME"] == os.environ["HOME"], "%(ENV_HOME)s"
    fcgi = jobs["fcgiprogramname"]["plist"]
    assert fcgi["Sockets"] == {"FastCGI": {"SockPathName": "/var/run/supervisor/fcgiprogramname.sock",
                                           "SockPathMode": 0o700}}
    assert fcgi["inetdCompatibility"] == {"Wait": True}
    assert any("numprocs=5" in c for c in jobs["fcgiprogramname"]["comments"])
    assert jobs["cat"]["plist"]["ThrottleInterval"] == 10, "startsecs"
    assert any("[eventlistener:theeventlistenername]" in c for c in out["comments"])
    assert any("[group:foo]" in c for c in out["comments"])
    for j in out["jobs"]:
        validate(j["plist"], j["label"])


def test_supervisord_environment_syntax_and_autorestart_modes():
    assert parse_environment('A="1",B=\'two words\',C=/usr/bin:/bin,D=x') == {
        "A": "1", "B": "two words", "C": "/usr/bin:/bin", "D": "x"}
    conf = ("[program:a]\ncommand=/bin/a\nautorestart=true\n[program:b]\ncommand=/bin/b\nautorestart=false\n"
            "autostart=false\n[program:c]\ncommand=/bin/c\nautostart=false\nexitcodes=0,2\n")
    jobs, _ = import_config("/c.conf", files({"/c.conf": conf}), lambda p: [])
    a, b, c = (j.plist for j in jobs)
    assert a["KeepAlive"] is True and a["RunAtLoad"] is True
    assert "KeepAlive" not in b and "RunAtLoad" not in b
    assert c["KeepAlive"] == {"AfterInitialDemand": True, "SuccessfulExit": False}
    assert any("exitcodes=0,2" in n for n in jobs[2].notes)


def test_numprocs_without_process_num_is_refused_as_supervisord_does():
    batch = convert(["/c.conf"], files({"/c.conf": "[program:x]\ncommand=/bin/x\nnumprocs=2\n"}), lambda p: [])
    assert batch.jobs == [] and "process_num" in batch.errors[0]


def test_print_without_output_dir_and_errors(workdir):
    cp = pylaunchctl("import", str(DEBIAN / "dbus.socket"))
    data = plistlib.loads(cp.stdout.encode())
    assert data["Label"] == "dbus" and "Requires=dbus.socket" in cp.stderr
    bad = workdir / "bad.service"
    bad.write_text("[Service]\nType=oneshot\n")
    cp = pylaunchctl("import", str(bad), check=False)
    assert cp.returncode == 1 and "no ExecStart=" in cp.stderr
    assert pylaunchctl("import", str(workdir / "missing.service"), check=False).returncode == 2


def test_two_files_giving_one_label_are_refused_not_overwritten(workdir):
    (workdir / "a").mkdir()
    (workdir / "b").mkdir()
    for d in ("a", "b"):
        (workdir / d / "web.service").write_text(f"[Service]\nExecStart=/bin/{d}\n")
    cp = pylaunchctl("import", "-o", str(workdir / "out"), str(workdir / "a" / "web.service"),
                     str(workdir / "b" / "web.service"), check=False)
    assert cp.returncode == 1 and "one label, two jobs" in cp.stderr
    assert plistlib.loads((workdir / "out" / "web.plist").read_bytes())["ProgramArguments"] == ["/bin/a"]
