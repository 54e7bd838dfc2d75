"""pylaunchd.bus.thirdparty: installed .service files read as dbus-daemon reads them.

The parser and the search are pure and tested on text and temporary
directories; the splitting of ``Exec=`` is also checked against a real
dbus-daemon, which runs each command line by classic activation (skipped
without dbus-daemon and dbus-send, which scripts/install-test-programs
installs).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from pylaunchd.bus.thirdparty import (ServiceFileError, find_unit, load_entries, parse_service_file,
                                      session_service_dirs, split_exec, system_service_dirs)
from tests.conftest import wait_for

DCONF = "[D-BUS Service]\nName=ca.desrt.dconf\nExec=/usr/libexec/dconf-service\nSystemdService=dconf.service\n"


# -- split_exec ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("line, argv", [
    ("/bin/prog", ["/bin/prog"]),
    ("/bin/prog  -a\t-b", ["/bin/prog", "-a", "-b"]),
    ("/bin/prog 'a b' \"c d\"", ["/bin/prog", "a b", "c d"]),
    ("/bin/prog x'y z'w", ["/bin/prog", "xy zw"]),
    ("/bin/prog 'it'\\''s'", ["/bin/prog", "it's"]),                # the shell's way to quote a quote
    ('/bin/prog "a\\"b" "\\$HOME" "\\q"', ["/bin/prog", 'a"b', "$HOME", "\\q"]),
    ("/bin/prog a\\ b \\'", ["/bin/prog", "a b", "'"]),
    ("/bin/prog $HOME ~ *", ["/bin/prog", "$HOME", "~", "*"]),       # no expansion at all
    ("/bin/prog a#b c", ["/bin/prog", "a"]),                         # '#' starts a comment, even mid-word
    ("/bin/prog a ", ["/bin/prog", "a", ""]),                        # dbus-daemon passes a last empty word
    ("/bin/prog ''", ["/bin/prog", ""]),
])
def test_split_exec_follows_dbus_shell(line, argv):
    assert split_exec(line) == argv


@pytest.mark.parametrize("line", ["/bin/prog 'open", '/bin/prog "open', "/bin/prog \\", ""])
def test_split_exec_refuses_what_the_bus_refuses(line):
    with pytest.raises(ValueError):
        split_exec(line)


# -- one file ------------------------------------------------------------------------------------------

def test_a_service_file_gives_name_command_and_unit():
    text = ("# a comment\n\n[D-BUS Service]\nName = com.example.Echo\nExec=/usr/bin/echo-svc --flag\\sx\n"
            "Exec=/ignored\nExec[de]=/localized\nSystemdService=echo.service\nUser=nobody\n[Other]\nName=x\n")
    e = parse_service_file(text, "/d/com.example.Echo.service")
    assert (e.name, e.argv, e.systemd_service, e.user) == (
        "com.example.Echo", ("/usr/bin/echo-svc", "--flag", "x"), "echo.service", "nobody")


@pytest.mark.parametrize("text, says", [
    ("Name=x\n", "before the [D-BUS Service] section"),
    ("[Other]\nName=x\nExec=/bin/true\n", "no [D-BUS Service] section"),
    ("[D-BUS Service]\nExec=/bin/true\n", 'no "Name" key'),
    ("[D-BUS Service]\nName=com.example.X\n", 'no "Exec" key'),
    ("[D-BUS Service]\nName=com.example.X\nExec=/bin/echo \\\"a\\\"\n", "invalid escape \\\""),
    ("[D-BUS Service]\nName=com.example.X\nExec=/bin/echo 'open\n", "unclosed quotes"),
    ("[D-BUS Service]\nName com.example.X\n", "expected '='"),
    ("[D-BUS Service\n", "section header"),
])
def test_a_bad_file_is_an_error_naming_the_file_and_line(text, says):
    with pytest.raises(ServiceFileError) as e:
        parse_service_file(text, "/d/bad.service")
    assert str(e.value).startswith("/d/bad.service") and says in str(e.value)


# -- the directories -----------------------------------------------------------------------------------

def test_session_dirs_follow_the_xdg_variables_in_dbus_daemons_order():
    env = {"XDG_RUNTIME_DIR": "/run/user/7", "XDG_DATA_HOME": "/h/data", "XDG_DATA_DIRS": "/opt/a:/usr/share"}
    assert session_service_dirs(env, home="/h") == [
        "/run/user/7/dbus-1/services", "/h/data/dbus-1/services", "/opt/a/dbus-1/services",
        "/usr/share/dbus-1/services"]
    assert session_service_dirs({}, home="/h") == [
        "/h/.local/share/dbus-1/services", "/usr/local/share/dbus-1/services", "/usr/share/dbus-1/services"]
    assert system_service_dirs()[:2] == ["/usr/local/share/dbus-1/system-services",
                                         "/usr/share/dbus-1/system-services"]


def _write(d, name, text):
    d.mkdir(parents=True, exist_ok=True)
    (d / name).write_text(text)
    os.chmod(d / name, 0o644)  # whatever the umask: group-writable files are refused
    return str(d / name)


def test_find_unit_takes_the_first_directorys_file_and_skips_shadowed_and_excluded(tmp_path):
    first, second = tmp_path / "first", tmp_path / "second"
    _write(first, "ca.desrt.dconf.service", DCONF.replace("/usr/libexec/dconf-service", "/opt/dconf"))
    _write(second, "ca.desrt.dconf.service", DCONF)                   # shadowed: same Name, later dir
    _write(second, "org.a11y.Bus.service",
           "[D-BUS Service]\nName=org.a11y.Bus\nExec=/usr/libexec/at-spi-bus-launcher\n"
           "SystemdService=at-spi-dbus-bus.service\n")
    _write(second, "broken.service", "[D-BUS Service]\nName=com.example.Broken\n")
    _write(second, "not-a-service.txt", DCONF.replace("dconf.service", "other.service"))
    dirs = [str(first), str(tmp_path / "missing"), str(second)]
    assert find_unit("dconf.service", dirs, env={}).argv == ("/opt/dconf",)
    assert find_unit("at-spi-dbus-bus.service", dirs, env={}).name == "org.a11y.Bus"
    assert find_unit("other.service", dirs, env={}) is None
    entries, errors = load_entries(dirs, env={})
    assert sorted(e.name for e in entries) == ["ca.desrt.dconf", "org.a11y.Bus"]
    assert [e.path for e in errors] == [str(second / "broken.service")]
    own = str(first / "ca.desrt.dconf.service")
    assert find_unit("dconf.service", dirs, env={}, exclude=[own]).argv == ("/usr/libexec/dconf-service",)


def test_the_runtime_directory_loads_only_files_named_for_their_name(tmp_path):
    runtime = tmp_path / "run"
    d = runtime / "dbus-1" / "services"
    _write(d, "wrong-name.service", DCONF)
    env = {"XDG_RUNTIME_DIR": str(runtime)}
    assert find_unit("dconf.service", [str(d)], env=env) is None
    _write(d, "ca.desrt.dconf.service", DCONF)
    assert find_unit("dconf.service", [str(d)], env=env).name == "ca.desrt.dconf"
    assert find_unit("dconf.service", [str(d)], env={}).name == "ca.desrt.dconf"   # elsewhere: not strict


def test_large_or_non_utf8_files_are_refused(tmp_path):
    _write(tmp_path, "big.service", DCONF + "#" * (129 * 1024))
    (tmp_path / "latin.service").write_bytes(DCONF.encode().replace(b"dconf-service", b"d\xe9conf"))
    os.chmod(tmp_path / "latin.service", 0o644)
    entries, errors = load_entries([str(tmp_path)], env={})
    assert entries == [] and sorted(os.path.basename(e.path) for e in errors) == ["big.service", "latin.service"]


# -- against dbus-daemon itself ------------------------------------------------------------------------

LINES = ["a b", "a  'b c'd", '"x\\\\"y" z', "a\\\\ b", "'it'\\\\''s' \"\\\\$HOME\"", "a#b c", "a ", "$HOME ~"]


def test_split_exec_matches_what_dbus_daemon_runs(workdir):
    """Each Exec= line, classic-activated by a private dbus-daemon: the argv the
    program received is what split_exec gives for the unescaped line."""
    daemon, send = shutil.which("dbus-daemon"), shutil.which("dbus-send")
    if not (daemon and send):
        pytest.skip("dbus-daemon and dbus-send are needed (scripts/install-test-programs)")
    services, out, bus = workdir / "services", workdir / "argv.jsonl", workdir / "bus"
    recorder = workdir / "argv.py"
    recorder.write_text(f"#!{sys.executable}\nimport json, sys\n"
                        f"open({str(out)!r}, 'a').write(json.dumps(sys.argv[1:]) + '\\n')\nsys.exit(3)\n")
    recorder.chmod(0o755)
    for i, line in enumerate(LINES):
        _write(services, f"com.example.A{i}.service",
               f"[D-BUS Service]\nName=com.example.A{i}\nExec={recorder} {line}\n")
    (workdir / "bus.conf").write_text(
        f"<busconfig><type>session</type><listen>unix:path={bus}</listen><servicedir>{services}</servicedir>"
        '<policy context="default"><allow send_destination="*" eavesdrop="true"/><allow eavesdrop="true"/>'
        '<allow own="*"/></policy></busconfig>')
    proc = subprocess.Popen([daemon, f"--config-file={workdir / 'bus.conf'}", "--nofork", "--nopidfile"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(bus.exists, 10, what="the private bus")
        for i in range(len(LINES)):
            cp = subprocess.run([send, f"--bus=unix:path={bus}", "--print-reply", f"--dest=com.example.A{i}", "/",
                                 "com.example.T.M"], capture_output=True, text=True, timeout=30)
            assert "Spawn.ChildExited" in cp.stderr, cp.stderr   # it ran, and exited 3 as told
    finally:
        proc.terminate()
        proc.wait(10)
    got = [json.loads(x) for x in out.read_text().splitlines()]
    want = [list(parse_service_file((services / f"com.example.A{i}.service").read_text()).argv[1:])
            for i in range(len(LINES))]
    assert got == want


def test_a_file_others_could_have_written_is_not_used(tmp_path):
    path = _write(tmp_path, "ca.desrt.dconf.service", DCONF)
    os.chmod(path, 0o666)
    entries, errors = load_entries([str(tmp_path)], env={})
    assert entries == [] and "writable by their owner alone" in str(errors[0])
    os.chmod(path, 0o644)
    assert find_unit("dconf.service", [str(tmp_path)], env={}) is not None
