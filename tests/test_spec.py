"""Unit tests of job plist validation (pylaunchd.spec) and plist reading (pylaunchd.plist)."""

from __future__ import annotations

import plistlib

import pytest

from pylaunchd.plist import PlistError, read_plist
from pylaunchd.spec import (DEFAULT_EXIT_TIMEOUT, DEFAULT_THROTTLE_INTERVAL, KeepAliveSpec, SocketGroupSpec,
                            SocketSpec, SpecError, load_spec, validate)

PATH = "/home/me/jobs/org.example.job.plist"


def job(**keys) -> dict:
    raw = {"Label": "org.example.job", "ProgramArguments": ["/usr/bin/server"]}
    raw.update(keys)
    return raw


def error(raw) -> SpecError:
    with pytest.raises(SpecError) as info:
        validate(raw, PATH)
    return info.value


def assert_error(raw, key_path: str, expected: str, found: str) -> SpecError:
    """The message names the file, the key path, what was expected and what was found."""
    e = error(raw)
    message = str(e)
    assert message.startswith(PATH + ": "), message
    assert e.path == PATH
    assert e.key_path == key_path, message
    if key_path:
        assert f"{PATH}: {key_path}: " in message, message
    assert expected in e.expected and f"expected {e.expected}" in message, message
    assert found in e.found and f"found {e.found}" in message, message
    return e


def warnings_about(spec, key_path: str) -> list[str]:
    return [w for w in spec.warnings if w.startswith(key_path + ":")]


# ---------------------------------------------------------------------------
# Errors: the job does not load


@pytest.mark.parametrize("raw, found", [
    (["Label", "x"], "array of 2 items"),
    ("a string", 'string "a string"'),
    (42, "integer 42"),
])
def test_top_level_must_be_a_dictionary(raw, found):
    e = assert_error(raw, "", "a dictionary", found)
    assert str(e) == f"{PATH}: expected a dictionary at the top level of the job plist, found {found}"


def test_label_is_required():
    raw = job()
    del raw["Label"]
    assert_error(raw, "Label", "a string", "no Label key")


@pytest.mark.parametrize("value, found", [(5, "integer 5"), (True, "boolean true"), (["a"], "array of 1 item"),
                                          ({}, "dictionary with 0 keys")])
def test_label_must_be_a_string(value, found):
    assert_error(job(Label=value), "Label", "a string", found)


def test_label_must_not_be_empty_or_hold_control_characters():
    assert_error(job(Label=""), "Label", "non-empty", 'string ""')
    assert_error(job(Label="a\nb"), "Label", "without control characters", "string")


def test_label_must_not_use_the_reserved_prefix():
    assert_error(job(Label="com.apple.launchd.peruser"), "Label", "reserved prefix", "com.apple.launchd.peruser")
    assert_error(job(Label="COM.APPLE.LAUNCHCTL.x"), "Label", "reserved prefix", "COM.APPLE.LAUNCHCTL.x")


def test_program_or_program_arguments_is_required():
    raw = job()
    del raw["ProgramArguments"]
    assert_error(raw, "ProgramArguments", "Program, or a non-empty ProgramArguments array", "neither key")


def test_empty_program_arguments_without_program():
    assert_error(job(ProgramArguments=[]), "ProgramArguments", "non-empty ProgramArguments", "an empty array")


def test_program_arguments_element_must_be_a_string():
    assert_error(job(ProgramArguments=["/bin/echo", 7, "x"]), "ProgramArguments[1]", "a string", "integer 7")
    assert_error(job(ProgramArguments=["/bin/echo", "a", ["b"]]), "ProgramArguments[2]", "a string",
                 "array of 1 item")


def test_program_arguments_must_be_an_array():
    assert_error(job(ProgramArguments="/bin/echo hello"), "ProgramArguments", "an array of strings",
                 'string "/bin/echo hello"')


def test_program_must_be_a_string():
    assert_error(job(Program=12), "Program", "a string", "integer 12")


def test_relative_program_is_an_error():
    assert_error(job(Program="bin/server"), "Program", "an absolute path", 'string "bin/server"')


def test_keepalive_of_the_wrong_type():
    e = assert_error(job(KeepAlive="yes"), "KeepAlive", "a boolean or a dictionary", 'string "yes"')
    assert "KeepAlive" in str(e)
    assert_error(job(KeepAlive=1), "KeepAlive", "a boolean or a dictionary", "integer 1")


def test_boolean_written_as_a_string_gets_a_hint():
    e = assert_error(job(RunAtLoad="true"), "RunAtLoad", "a boolean", 'string "true"')
    assert "(write <true/>)" in str(e)
    e = assert_error(job(LaunchOnlyOnce="no"), "LaunchOnlyOnce", "a boolean", 'string "no"')
    assert "(write <false/>)" in str(e)


def test_integer_keys_of_the_wrong_type():
    assert_error(job(ThrottleInterval="10"), "ThrottleInterval", "an integer", 'string "10"')
    assert_error(job(ExitTimeOut=True), "ExitTimeOut", "an integer", "boolean true")
    assert_error(job(StartInterval=1.5), "StartInterval", "an integer", "real 1.5")


def test_sockets_must_be_a_dictionary():
    assert_error(job(Sockets=["x"]), "Sockets", "a dictionary", "array of 1 item")


@pytest.mark.parametrize("entry, found", [("8080", 'string "8080"'), (8080, "integer 8080"), (True, "boolean true")])
def test_sockets_entry_must_be_a_dictionary_or_an_array(entry, found):
    assert_error(job(Sockets={"Listeners": entry}), "Sockets.Listeners",
                 "a socket dictionary or an array of socket dictionaries", found)


def test_sockets_entry_array_must_not_be_empty_and_hold_dictionaries():
    assert_error(job(Sockets={"Listeners": []}), "Sockets.Listeners", "non-empty array", "array of 0 items")
    assert_error(job(Sockets={"Listeners": [{"SockServiceName": 80}, "x"]}), "Sockets.Listeners[1]",
                 "a dictionary", 'string "x"')


def test_sock_type_must_be_a_known_type():
    assert_error(job(Sockets={"Listeners": {"SockType": "raw", "SockServiceName": 80}}),
                 "Sockets.Listeners.SockType", "one of stream, dgram, seqpacket", 'string "raw"')


def test_sock_type_error_in_an_array_names_the_index():
    assert_error(job(Sockets={"L": [{"SockServiceName": 80}, {"SockType": "bogus", "SockServiceName": 81}]}),
                 "Sockets.L[1].SockType", "one of stream, dgram, seqpacket", 'string "bogus"')


def test_socket_needs_a_service_or_a_path():
    assert_error(job(Sockets={"L": {"SockNodeName": "127.0.0.1"}}), "Sockets.L.SockServiceName",
                 "a port or service name", "neither key")
    assert_error(job(Sockets={"L": {"SockFamily": "Unix"}}), "Sockets.L.SockPathName",
                 "a path for a socket of family Unix", "no SockPathName")


def test_socket_port_out_of_range():
    assert_error(job(Sockets={"L": {"SockServiceName": 70000}}), "Sockets.L.SockServiceName",
                 "a port number from 0 to 65535", "integer 70000")


def test_socket_name_with_a_colon():
    assert_error(job(Sockets={"a:b": {"SockServiceName": 80}}), "Sockets.a:b", "without ':'", 'string "a:b"')


def test_invalid_umask_string():
    assert_error(job(Umask="rw-r--r--"), "Umask", "an integer", 'string "rw-r--r--"')
    assert_error(job(Umask="08"), "Umask", "an integer", 'string "08"')


def test_spec_error_attributes_and_message_format():
    e = error(job(KeepAlive="yes"))
    assert (e.path, e.key_path, e.found) == (PATH, "KeepAlive", 'string "yes"')
    assert str(e) == f'{PATH}: KeepAlive: expected {e.expected}, found string "yes"'


def test_default_path_is_named_in_errors():
    with pytest.raises(SpecError) as info:
        validate([])
    assert str(info.value).startswith("<plist>: ")


# ---------------------------------------------------------------------------
# Warnings: the job loads


def test_valid_job_has_no_warnings():
    s = validate(job(RunAtLoad=True, KeepAlive={"SuccessfulExit": False}), PATH)
    assert s.warnings == () and s.ignored_keys == ()
    assert s.label == "org.example.job" and s.path == PATH


def test_unknown_key_is_ignored_with_a_did_you_mean():
    s = validate(job(RunAtLoadd=True, KeepAlve=True), PATH)
    assert s.run_at_load is False and s.keep_alive == KeepAliveSpec()
    (w,) = warnings_about(s, "RunAtLoadd")
    assert "unknown key, ignored" in w and 'did you mean "RunAtLoad"?' in w
    (w,) = warnings_about(s, "KeepAlve")
    assert 'did you mean "KeepAlive"?' in w


def test_unknown_key_without_a_close_match():
    s = validate(job(Frobnicate=1), PATH)
    (w,) = warnings_about(s, "Frobnicate")
    assert w == "Frobnicate: unknown key, ignored"


def test_key_of_another_case_is_accepted_with_a_warning():
    s = validate(job(Keepalive=True, runatload=True, THROTTLEINTERVAL=3), PATH)
    assert s.keep_alive.always and s.run_at_load and s.throttle_interval == 3
    (w,) = warnings_about(s, "Keepalive")
    assert 'matched case-insensitively as "KeepAlive"' in w and 'did you mean "KeepAlive"?' in w
    assert warnings_about(s, "runatload") and warnings_about(s, "THROTTLEINTERVAL")


def test_keepalive_subkeys_are_matched_case_insensitively():
    s = validate(job(KeepAlive={"successfulexit": False}), PATH)
    assert s.keep_alive == KeepAliveSpec(successful_exit=False)
    assert warnings_about(s, "KeepAlive.successfulexit")


def test_ignored_launchd_keys_are_listed():
    s = validate(job(LaunchEvents={"com.apple.notifyd": {}}, UserName="nobody", StartCalendarInterval={"Hour": 3},
                     ServiceDescription="old"), PATH)
    assert set(s.ignored_keys) == {"LaunchEvents", "ServiceDescription"}
    assert s.user_name == "nobody" and len(s.start_calendar) == 1
    (w,) = warnings_about(s, "LaunchEvents")
    assert "accepted and ignored" in w and "Linux" in w
    assert not any("unknown key" in w for w in s.warnings)
    # MachServices is supported now: D-Bus names (tests/test_bus_logic.py)
    assert validate(job(MachServices={"org.example.svc": True}), PATH).ignored_keys == ()


def test_keepalive_conditions_parse():
    s = validate(job(KeepAlive={"PathState": {"/tmp/x": True, "/tmp/y": False}, "SuccessfulExit": True,
                                "OtherJobEnabled": {"a.b": True}, "NetworkState": True,
                                "AfterInitialDemand": True}), PATH)
    assert s.keep_alive == KeepAliveSpec(successful_exit=True, path_state=(("/tmp/x", True), ("/tmp/y", False)),
                                         other_job_enabled=(("a.b", True),), network_state=True,
                                         after_initial_demand=True)
    assert s.warnings == ()


def test_homebrew_pathstate_string_is_ignored_with_a_warning():
    s = validate(job(KeepAlive={"PathState": "/opt/homebrew/var/run"}), PATH)
    assert s.keep_alive == KeepAliveSpec()
    assert "expected a dictionary of path => boolean" in warnings_about(s, "KeepAlive.PathState")[0]


def test_keepalive_condition_of_the_wrong_type_is_ignored_as_launchd_does():
    s = validate(job(KeepAlive={"SuccessfulExit": "yes"}), PATH)
    assert s.keep_alive == KeepAliveSpec()
    assert "expected a boolean" in warnings_about(s, "KeepAlive.SuccessfulExit")[0]


def test_keepalive_crashed_false_warns_about_the_loop():
    s = validate(job(KeepAlive={"Crashed": False}), PATH)
    assert s.keep_alive == KeepAliveSpec(crashed=False)
    assert "clean exits included" in warnings_about(s, "KeepAlive.Crashed")[0]


def test_negative_throttle_interval_is_ignored():
    s = validate(job(ThrottleInterval=-5), PATH)
    assert s.throttle_interval == DEFAULT_THROTTLE_INTERVAL == 10
    (w,) = warnings_about(s, "ThrottleInterval")
    assert "less than zero" in w and "ignored" in w


def test_negative_exit_timeout_is_ignored():
    s = validate(job(ExitTimeOut=-1), PATH)
    assert s.exit_timeout == DEFAULT_EXIT_TIMEOUT
    assert warnings_about(s, "ExitTimeOut")


def test_zero_throttle_interval_and_exit_timeout_are_kept():
    s = validate(job(ThrottleInterval=0, ExitTimeOut=0), PATH)
    assert s.throttle_interval == 0 and s.exit_timeout == 0 and s.warnings == ()


def test_start_interval_not_greater_than_zero_is_ignored():
    s = validate(job(StartInterval=0), PATH)
    assert s.start_interval is None and warnings_about(s, "StartInterval")


def test_nice_out_of_range_is_ignored():
    s = validate(job(Nice=40), PATH)
    assert s.nice is None and warnings_about(s, "Nice")
    assert validate(job(Nice=-5), PATH).nice == -5


def test_sock_path_mode_that_looks_octal_gets_a_hint():
    s = validate(job(Sockets={"L": {"SockPathName": "/tmp/x.sock", "SockPathMode": 644}}), PATH)
    (w,) = warnings_about(s, "Sockets.L.SockPathMode")
    assert "looks like an octal mode written in decimal" in w
    assert "did you mean 0644 (write 420)?" in w


def test_sock_path_mode_in_decimal_is_fine():
    s = validate(job(Sockets={"L": {"SockPathName": "/tmp/x.sock", "SockPathMode": 438}}), PATH)
    assert s.warnings == ()
    assert s.sockets[0].sockets[0].path_mode == 0o666
    # cups writes the file-type bits too: 49663 = 0o140777.
    s = validate(job(Sockets={"L": {"SockPathName": "/tmp/x.sock", "SockPathMode": 49663}}), PATH)
    assert s.warnings == () and s.sockets[0].sockets[0].path_mode == 0o777


def test_non_string_environment_value_is_ignored_with_a_warning():
    s = validate(job(EnvironmentVariables={"PORT": 8080, "MODE": "prod", "FLAG": True}), PATH)
    assert s.environment == (("MODE", "prod"),)
    (w,) = warnings_about(s, "EnvironmentVariables.PORT")
    assert "expected a string, found integer 8080; ignored" in w
    assert warnings_about(s, "EnvironmentVariables.FLAG")


def test_invalid_environment_name_is_ignored():
    s = validate(job(EnvironmentVariables={"A=B": "x", "OK": "y"}), PATH)
    assert s.environment == (("OK", "y"),)
    assert warnings_about(s, "EnvironmentVariables.A=B")


def test_inetd_without_sockets_warns():
    s = validate(job(inetdCompatibility={"Wait": True}), PATH)
    assert warnings_about(s, "inetdCompatibility")


def test_disabled_dictionary_is_treated_as_false():
    s = validate(job(Disabled={"MachineType": "x86_64"}), PATH)
    assert s.disabled is False and warnings_about(s, "Disabled")
    assert validate(job(Disabled=True), PATH).disabled is True


def test_unix_socket_with_a_port_warns_and_drops_the_port():
    s = validate(job(Sockets={"L": {"SockPathName": "/tmp/x.sock", "SockServiceName": 80}}), PATH)
    assert warnings_about(s, "Sockets.L")
    assert s.sockets[0].sockets[0] == SocketSpec(family="Unix", path="/tmp/x.sock")


def test_warnings_and_path_do_not_change_the_jobs_identity():
    a = validate(job(RunAtLoad=True), "/a.plist")
    b = validate(job(RunAtLoad=True, Frobnicate=1), "/b.plist")
    assert a == b
    assert a != validate(job(RunAtLoad=False), "/a.plist")


# ---------------------------------------------------------------------------
# argv rules (launchd.plist(5), job_start_child)


def test_program_and_program_arguments():
    s = validate(job(Program="/usr/libexec/sshd-keygen-wrapper", ProgramArguments=["/usr/sbin/sshd", "-i"]), PATH)
    assert s.executable == "/usr/libexec/sshd-keygen-wrapper"
    assert s.argv == ("/usr/sbin/sshd", "-i")  # argv[0] may differ from Program
    assert s.search_path is False


def test_only_program_arguments_searches_path():
    s = validate(job(ProgramArguments=["python3", "-m", "http.server"]), PATH)
    assert s.executable == "python3"
    assert s.argv == ("python3", "-m", "http.server")
    assert s.search_path is True


def test_only_program():
    raw = job(Program="/usr/bin/server")
    del raw["ProgramArguments"]
    s = validate(raw, PATH)
    assert s.executable == "/usr/bin/server"
    assert s.argv == ("/usr/bin/server",)
    assert s.search_path is False


def test_program_with_empty_program_arguments():
    s = validate(job(Program="/usr/bin/server", ProgramArguments=[]), PATH)
    assert s.argv == ("/usr/bin/server",)


# ---------------------------------------------------------------------------
# Values


def test_defaults():
    s = validate(job(), PATH)
    assert s.run_at_load is False and s.keep_alive == KeepAliveSpec()
    assert not s.keep_alive.implies_run_at_load
    assert s.throttle_interval == 10 and s.exit_timeout == 20
    assert s.start_interval is None and s.umask is None and s.nice is None
    assert s.sockets == () and s.inetd is None and not s.inetd_nowait
    assert s.abandon_process_group is False and s.launch_only_once is False and s.disabled is False


@pytest.mark.parametrize("value, umask", [("022", 0o22), ("077", 0o77), ("0o27", 0o27), ("0x12", 0x12),
                                          ("18", 18), ("0", 0), (18, 18), (63, 0o77)])
def test_umask(value, umask):
    s = validate(job(Umask=value), PATH)
    assert s.umask == umask and s.warnings == ()


def test_umask_out_of_range_is_ignored():
    s = validate(job(Umask=0o1000), PATH)
    assert s.umask is None and warnings_about(s, "Umask")


def test_keepalive_values():
    assert validate(job(KeepAlive=True), PATH).keep_alive == KeepAliveSpec(always=True)
    assert validate(job(KeepAlive=False), PATH).keep_alive == KeepAliveSpec()
    assert validate(job(OnDemand=False), PATH).keep_alive == KeepAliveSpec(always=True)
    assert validate(job(OnDemand=True), PATH).keep_alive == KeepAliveSpec()
    both = validate(job(KeepAlive={"SuccessfulExit": True, "Crashed": True}), PATH).keep_alive
    assert both == KeepAliveSpec(successful_exit=True, crashed=True) and both.implies_run_at_load


def test_inetd_implies_abandon_process_group():
    s = validate(job(inetdCompatibility={"Wait": False}, Sockets={"L": {"SockServiceName": 80}}), PATH)
    assert s.inetd is not None and s.inetd.wait is False and s.inetd_nowait
    assert s.abandon_process_group is True
    s = validate(job(inetdCompatibility={"Wait": True}, Sockets={"L": {"SockServiceName": 80}}), PATH)
    assert s.inetd.wait is True and not s.inetd_nowait and s.abandon_process_group


def test_socket_group_with_an_array_of_dictionaries():
    s = validate(job(Sockets={
        "Listeners": [{"SockNodeName": "127.0.0.1", "SockServiceName": 8080},
                      {"SockPathName": "/tmp/web.sock", "SockPathMode": 384},
                      {"SockServiceName": "domain", "SockProtocol": "UDP", "SockFamily": "ipv6"}],
        "Admin": {"SockServiceName": "9000", "SockType": "STREAM", "SockPassive": False}}), PATH)
    assert s.warnings == ()
    listeners, admin = s.sockets
    assert listeners == SocketGroupSpec("Listeners", (
        SocketSpec(node="127.0.0.1", service="8080"),
        SocketSpec(family="Unix", path="/tmp/web.sock", path_mode=0o600),
        SocketSpec(type="dgram", family="IPv6", protocol="UDP", service="domain"),  # UDP implies dgram
    ))
    assert admin == SocketGroupSpec("Admin", (SocketSpec(service="9000", passive=False),))
    assert listeners.sockets[1].is_unix and not listeners.sockets[0].is_unix


def test_socket_group_order_is_kept():
    s = validate(job(Sockets={"b": {"SockServiceName": 1}, "a": {"SockServiceName": 2}}), PATH)
    assert [g.name for g in s.sockets] == ["b", "a"]


# ---------------------------------------------------------------------------
# Reading plists


def write(tmp_path, name: str, data: bytes) -> str:
    p = tmp_path / name
    p.write_bytes(data)
    return str(p)


def test_read_xml_plist(tmp_path):
    p = write(tmp_path, "a.plist", plistlib.dumps(job(RunAtLoad=True)))
    assert read_plist(p) == job(RunAtLoad=True)


def test_read_binary_plist(tmp_path):
    p = write(tmp_path, "b.plist", plistlib.dumps(job(KeepAlive=True), fmt=plistlib.FMT_BINARY))
    assert read_plist(p) == job(KeepAlive=True)
    s = load_spec(p)
    assert s.keep_alive.always and s.path == p


def test_malformed_xml(tmp_path):
    p = write(tmp_path, "bad.plist", b'<?xml version="1.0" encoding="UTF-8"?>\n<plist version="1.0"><dict>'
                                     b"<key>Label</key><string>x</dict></plist>\n")
    with pytest.raises(PlistError) as info:
        read_plist(p)
    assert str(info.value).startswith(p + ": ")
    assert "malformed XML property list" in str(info.value)
    assert info.value.path == p


@pytest.mark.parametrize("data", [b"", b"  \n\t\n"])
def test_empty_file(tmp_path, data):
    p = write(tmp_path, "empty.plist", data)
    with pytest.raises(PlistError) as info:
        read_plist(p)
    assert str(info.value) == f"{p}: file is empty; expected a property list"


def test_not_a_plist(tmp_path):
    p = write(tmp_path, "junk.plist", b"Label = x\n")
    with pytest.raises(PlistError) as info:
        read_plist(p)
    assert str(info.value).startswith(f"{p}: not a property list")


def test_truncated_binary_plist(tmp_path):
    p = write(tmp_path, "t.plist", plistlib.dumps(job(), fmt=plistlib.FMT_BINARY)[:24])
    with pytest.raises(PlistError) as info:
        read_plist(p)
    assert str(info.value).startswith(p + ": ")


def test_invalid_value_in_xml_plist(tmp_path):
    p = write(tmp_path, "v.plist", b'<?xml version="1.0"?><plist version="1.0"><dict>'
                                   b"<key>Nice</key><integer>ten</integer></dict></plist>")
    with pytest.raises(PlistError) as info:
        read_plist(p)
    assert "invalid property list" in str(info.value)


def test_missing_file(tmp_path):
    p = str(tmp_path / "missing.plist")
    with pytest.raises(PlistError) as info:
        read_plist(p)
    assert str(info.value) == f"{p}: cannot read file: No such file or directory"


def test_load_spec_reports_spec_errors_with_the_absolute_path(tmp_path):
    p = write(tmp_path, "nolabel.plist", plistlib.dumps({"Program": "/bin/true"}))
    with pytest.raises(SpecError) as info:
        load_spec(p)
    assert str(info.value).startswith(f"{p}: Label: expected")


def test_datagram_socket_with_wait_false_runs_as_wait_true():
    from pylaunchd.spec import validate
    spec = validate({"Label": "t.udp", "ProgramArguments": ["/bin/cat"], "inetdCompatibility": {"Wait": False},
                     "Sockets": {"L": {"SockServiceName": 0, "SockType": "dgram"}}}, "/x.plist")
    assert spec.inetd.wait is True
    assert any("inetdCompatibility.Wait" in w and "datagram" in w for w in spec.warnings)
