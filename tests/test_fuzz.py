"""The fuzzers' short runs (the long ones: ``python -m tests.fuzz_plists``,
``python -m tests.fuzz_control``), and one regression example for each bug
they found: every one was a traceback where a clear error naming the file
and the place belongs."""

from __future__ import annotations

import plistlib

import pytest

import fuzz_control
import fuzz_plists
from conftest import plist
from pylaunchd.control.protocol import request
from pylaunchd.plist import PlistError, parse_plist
from pylaunchd.plistvalues import SpecError, describe
from pylaunchd.validate import validate

PATH = "/etc/pylaunchd/jobs/x.plist"


def test_structure_aware_plists_break_nothing():
    assert fuzz_plists.run_structured(25, report=lambda m: None) == []


def test_mutated_plist_bytes_break_nothing():
    assert fuzz_plists.run_bytes(3000, seed=7, report=lambda m: None) == []


def test_fuzzed_control_requests_break_nothing(manager):
    manager.write("j.plist", plist("fuzz.job", ProgramArguments=["/bin/sleep", "60"]))
    manager.wait_loaded("fuzz.job")
    assert fuzz_control.run(manager.socket, 300, seed=3, report=lambda m: None) == []
    assert manager.proc.poll() is None and fuzz_control.log_problems(manager.log()) == []


def refused(data: bytes) -> str:
    with pytest.raises(PlistError) as e:
        parse_plist(PATH, data)
    assert str(e.value).startswith(PATH + ": ")
    return str(e.value)


def test_an_unknown_xml_encoding_is_a_plist_error():  # was LookupError
    assert "unknown encoding: UTF-08" in refused(b'<?xml version="1.0" encoding="UTF-08"?><plist><dict/></plist>')


def test_a_malformed_date_is_a_plist_error():  # was AttributeError inside plistlib
    assert "<date>" in refused(b"<plist><dict><key>Label</key><date>0000-00-00T:00Z</date></dict></plist>")


def test_a_binary_plist_key_that_is_not_a_string_is_refused():  # was TypeError in the Sockets reader
    data = plistlib.dumps({"Label": "x", "Sockets": {"K": "8080"}}, fmt=plistlib.FMT_BINARY)
    assert data.count(b"\x51K") == 1  # the one-character string "K"...
    data = data.replace(b"\x51K", b"\x10K")  # ...made the integer 75, as long
    message = refused(data)
    assert "a key of Sockets is int 75, not a string" in message


def test_a_binary_plist_that_contains_itself_is_refused():  # an endless walk for whoever reads it
    trailer = bytes(6) + bytes([1, 1]) + (1).to_bytes(8, "big") + (0).to_bytes(8, "big") + (10).to_bytes(8, "big")
    data = b"bplist00" + b"\xa1\x00" + bytes([8]) + trailer  # object 0: an array holding object 0
    assert "[0] refers back to an array or dictionary that holds it" in refused(data)


def test_a_hex_integer_past_4300_digits_is_described():  # was ValueError from str(int)
    raw = parse_plist(PATH, b"<plist><integer>0x" + b"f" * 5000 + b"</integer></plist>")
    assert describe(raw) == "integer of 20000 bits (more than a plist's 64)"
    with pytest.raises(SpecError, match="a dictionary at the top level"):
        validate(raw, PATH)


def test_arrays_100000_deep_are_read_without_recursion():
    data = fuzz_plists.deep_xml("ProgramArguments", 100_000, array=True)
    with pytest.raises(SpecError) as e:
        validate(parse_plist(PATH, data), PATH)
    assert e.value.key_path.startswith("ProgramArguments")


def test_a_variable_no_process_can_hold_is_refused_by_setenv(manager):
    """Found by the control fuzzer: setenv accepted a NUL byte; every later
    spawn then raised ValueError, the job was left `running` without a pid,
    and kickstart and remove answered "internal error"."""
    for key, value in (("K", "a\x00b"), ("K\x00", "v"), ("K", "\ud800")):
        reply = fuzz_control.send(manager.socket, fuzz_control.json.dumps(
            {"verb": "setenv", "args": {"key": key, "value": value}}).encode() + b"\n")
        answer = fuzz_control.json.loads(reply)
        assert answer["ok"] is False and answer["status"] == 64 and "setenv" in answer["error"], answer
    assert "K" not in manager.ctl("getenv", "K", check=False).stdout


def test_a_job_whose_argument_holds_a_nul_fails_to_spawn_cleanly(manager):
    """The same ValueError from a job's own plist: a spawn error, then the
    job can be kickstarted and removed like any other."""
    manager.write("n.plist", plist("test.nul", ProgramArguments=["/bin/echo", "a\x00b"]), fmt=plistlib.FMT_BINARY)
    manager.wait_loaded("test.nul")
    manager.ctl("start", "test.nul")
    info = manager.wait_state("test.nul", lambda i: i.get("spawn_error"), 10, "the spawn error")
    assert "null byte" in info["spawn_error"] and info["pid"] is None
    assert request(manager.socket, "kickstart", {"label": "test.nul", "kill": True})["label"] == "test.nul"
    manager.ctl("remove", "test.nul")
    manager.wait_unloaded("test.nul")
    assert "Traceback" not in manager.log()


def test_a_number_that_is_none_is_named_by_its_key_path():
    """A template's placeholder in an <integer> (tests/realworld's
    dev.agentwarden.powerd) names the place; a <key> misplaced in an array,
    which the fuzzer made, does not confuse the search for it."""
    with pytest.raises(PlistError) as e:
        parse_plist(PATH, b"<plist><dict><key>A</key><array><integer>1</integer><integer>__N__</integer></array>"
                          b"</dict></plist>")
    assert e.value.key_path == "A[1]" and "found '__N__'" in e.value.message
    refused(b"<plist><array><key>k</key><integer>zz</integer></array></plist>")


def test_an_error_after_core_foundations_leniency_names_the_files_own_line():
    """The CF-lenient second reading drops comments and the prolog; expat's
    error about what remains still names the line of the file, not of the
    rewritten text (an unescaped & on line 6 and on line 9)."""
    doctype = (b'<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" '
               b'"http://www.apple.com/DTDs/PropertyList-1.0.dtd">\n<plist version="1.0">\n<dict>\n'
               b'<key>Label</key>\n<string>a & b</string>\n</dict>\n</plist>\n')
    assert "line 6, column 11" in refused(doctype)
    comment_first = (b'<!-- a\n comment -->\n<?xml version="1.0" encoding="UTF-8"?>\n<plist version=1.0>\n<dict>\n'
                     b'<key>Label</key>\n<string>x</string>\n<key>A</key>\n<string>a & b</string>\n</dict>\n</plist>\n')
    assert "line 9, column 11" in refused(comment_first)
