"""pylaunchctl lint on a corpus of broken plists, and the manager loading all
of them at once without harm."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path


from conftest import PYTHON, connect_and_talk, plist

CORPUS = Path(__file__).resolve().parent / "lint_corpus"

# file -> (key path, words the one error must contain)
ERRORS = {
    "malformed-xml": ("", "malformed XML"),
    "empty": ("", "file is empty"),
    "not-a-plist": ("", "not a property list"),
    "empty-plist-element": ("", "empty <plist> element"),
    "not-a-dictionary": ("", "found array of 2 items"),
    "no-label": ("Label", "no Label key"),
    "label-not-string": ("Label", "found integer 42"),
    "empty-label": ("Label", 'found string ""'),
    "reserved-label": ("Label", "reserved prefix"),
    "no-program": ("ProgramArguments", "found neither key"),
    "empty-program-arguments": ("ProgramArguments", "found an empty array"),
    "program-arguments-string": ("ProgramArguments", "expected an array of strings"),
    "program-arguments-integer": ("ProgramArguments[1]", "found integer 10"),
    "relative-program": ("Program", "absolute path"),
    "keepalive-string": ("KeepAlive", 'boolean or a dictionary of conditions, found string "true"'),
    "runatload-string": ("RunAtLoad", "(write <true/>)"),
    "throttle-string": ("ThrottleInterval", 'expected an integer, found string "10"'),
    "environment-array": ("EnvironmentVariables", "expected a dictionary"),
    "sockets-array": ("Sockets", "expected a dictionary"),
    "socket-entry-string": ("Sockets.Listeners", 'found string "8080"'),
    "socktype-tcp": ("Sockets.Listeners.SockType", "one of stream, dgram, seqpacket"),
    "sockfamily-unknown": ("Sockets.Listeners.SockFamily", 'found string "IPv5"'),
    "port-out-of-range": ("Sockets.Listeners.SockServiceName", "0 to 65535, found integer 70000"),
    "socket-without-address": ("Sockets.Listeners.SockServiceName", "found neither key"),
    "sockpath-too-long": ("Sockets.Listeners.SockPathName", "at most 107 bytes"),
    "unix-family-without-path": ("Sockets.Listeners.SockPathName", "no SockPathName"),
    "sockpassive-string": ("Sockets.Listeners.SockPassive", "(write <false/>)"),
    "inetd-boolean": ("inetdCompatibility", "found boolean true"),
    "calendar-string": ("StartCalendarInterval", 'found string "daily"'),
    "watchpaths-string": ("WatchPaths", "array of strings"),
    "username-number": ("UserName", "found integer 501"),
    "stdout-boolean": ("StandardOutPath", "found boolean true"),
    "umask-words": ("Umask", 'found string "group-write"'),
    "limits-array": ("SoftResourceLimits", "expected a dictionary"),
    "socket-name-colon": ("Sockets.http:alt", "without ':'"),
}

# file -> (key path, words of the warning); these jobs load.
WARNINGS = {
    "typo-runatload": ("RunAtLoadd", 'did you mean "RunAtLoad"'),
    "wrong-case-key": ("keepalive", 'did you mean "KeepAlive"'),
    "octal-mode-in-decimal": ("Sockets.L.SockPathMode", "did you mean 0644 (write 420)"),
    "crashed-false": ("KeepAlive.Crashed", "clean exits included"),
    "negative-throttle": ("ThrottleInterval", "less than zero"),
    "calendar-hour-25": ("StartCalendarInterval.Hour", "not between 0 and 23"),
    "homebrew-pathstate-string": ("KeepAlive.PathState", "ignored, as launchd does"),
    "nice-out-of-range": ("Nice", "outside -20..20"),
    "unknown-process-type": ("ProcessType", 'unknown value "Realtime"'),
    "missing-log-directory": ("StandardErrorPath", "does not exist: the output would go to the job's log"),
    "program-not-found": ("ProgramArguments[0]", "not found on the job's PATH"),
}


def lint(*paths, as_json=False):
    args = [PYTHON, "-m", "pylaunchd.cli.launchctl", "lint", *(["--json"] if as_json else []), *map(str, paths)]
    return subprocess.run(args, capture_output=True, text=True, timeout=60)


def test_corpus_is_complete():
    names = {p.stem for p in CORPUS.glob("*.plist")}
    assert names == set(ERRORS) | set(WARNINGS)
    assert len(ERRORS) >= 30


def test_each_mistake_gives_one_precise_message():
    cp = lint(CORPUS, as_json=True)
    assert cp.returncode == 1, "errors make lint exit non-zero"
    findings = json.loads(cp.stdout)
    by_file: dict[str, list[dict]] = {}
    for f in findings:
        by_file.setdefault(Path(f["file"]).stem, []).append(f)
    for name, (key_path, words) in ERRORS.items():
        errors = [f for f in by_file.get(name, []) if f["level"] == "error"]
        assert len(errors) == 1, (name, errors)
        assert errors[0]["key_path"] == key_path and words in errors[0]["message"], (name, errors[0])
    for name, (key_path, words) in WARNINGS.items():
        found = by_file.get(name, [])
        assert not [f for f in found if f["level"] == "error"], (name, found)
        assert any(f["level"] == "warning" and f["key_path"] == key_path and words in f["message"] for f in found), \
            (name, found)


def test_text_output_names_file_key_and_level():
    cp = lint(CORPUS / "keepalive-string.plist")
    assert cp.returncode == 1
    assert cp.stdout.strip() == (f"{CORPUS / 'keepalive-string.plist'}: KeepAlive: error: expected a boolean or a "
                                 f"dictionary of conditions, found string \"true\"")
    ok = lint(Path(__file__).resolve().parent.parent / "LaunchAgents")
    assert ok.returncode == 0 and ok.stdout.count(": OK") == 3


def test_group_writable_file_is_flagged(workdir):
    p = workdir / "gw.plist"
    shutil.copy(CORPUS / "typo-runatload.plist", p)
    os.chmod(p, 0o664)
    cp = lint(p)
    assert "group- or world-writable" in cp.stdout and "chmod go-w" in cp.stdout


def test_manager_survives_the_whole_corpus_at_once(manager_factory):
    m = manager_factory(start=False)
    for p in CORPUS.glob("*.plist"):
        shutil.copy(p, m.jobs_dir / p.name)
        os.chmod(m.jobs_dir / p.name, 0o644)
    m.write("good.plist", plist("test.good", ProgramArguments=["/bin/cat"], inetdCompatibility={"Wait": False},
                                Sockets={"L": {"SockNodeName": "127.0.0.1", "SockServiceName": 0}}))
    m.start()
    port = m.wait_loaded("test.good")["sockets"][0]["address"]["port"]
    assert connect_and_talk(port, b"alive\n") == b"alive\n"
    loaded = {j["label"] for j in m.jobs()}
    # Every file with a warning only is loaded; none with an error is.
    assert len(loaded) == len(WARNINGS) + 1, loaded
    log = m.log()
    for name in ERRORS:
        assert f"{name}.plist" in log, name
    assert m.proc.poll() is None


def test_a_user_or_group_this_host_lacks_is_named(workdir):
    """Found by the corpus: installers' placeholders (launch_socket_server's
    "your-username-here") and macOS's group "staff" loaded without a word,
    and every start then failed with exit status 3."""
    import pytest
    if os.geteuid() != 0:
        pytest.skip("only the system domain (root) changes a job's user; lint checks it as root")
    from pylaunchd.lint import lint_file
    import plistlib

    p = workdir / "com.example.placeholder.plist"
    p.write_bytes(plistlib.dumps(plist("com.example.placeholder", Program="/bin/true",
                                       UserName="your-username-here", GroupName="no-such-group-here")))
    os.chmod(p, 0o644)
    found = {(f.key_path, f.message) for f in lint_file(str(p))}
    assert ("UserName", 'no user "your-username-here" on this host: the job loads, and each start fails with '
                        "exit status 3 (ESRCH), as pylaunchctl print then says") in found
    assert any(k == "GroupName" and '"no-such-group-here"' in m for k, m in found)
    assert not [f for f in lint_file(str(p), as_uid=1000) if f.key_path in ("UserName", "GroupName")]


def test_a_key_given_twice_is_named_with_its_path(workdir):
    """launchd (CoreFoundation) keeps the last value of a key given twice in
    one dictionary, without a word; lint names each such key, nested ones
    too, and none in a binary plist or a plist without duplicates."""
    from pylaunchd.lint import lint_file
    from pylaunchd.plist import duplicate_keys

    p = workdir / "twice.plist"
    p.write_text("""<?xml version="1.0" encoding="UTF-8"?>
<plist version="1.0"><dict>
  <key>Label</key><string>test.twice</string>
  <key>Program</key><string>/bin/true</string>
  <key>Sockets</key><dict><key>L</key><dict>
    <key>SockServiceName</key><string>0</string>
    <key>SockServiceName</key><string>1</string>
  </dict></dict>
  <key>Label</key><string>test.twice</string>
  <!-- <key>Program</key> in a comment is no key -->
</dict></plist>
""")
    os.chmod(p, 0o644)
    assert duplicate_keys(p.read_bytes()) == [("Sockets.L.SockServiceName", 7), ("Label", 9)]
    found = [(f.key_path, f.level) for f in lint_file(str(p)) if "given twice" in f.message]
    assert found == [("Sockets.L.SockServiceName", "warning"), ("Label", "warning")]
    import plistlib
    assert duplicate_keys(plistlib.dumps({"Label": "x"}, fmt=plistlib.FMT_BINARY)) == []
    assert duplicate_keys((CORPUS / "typo-runatload.plist").read_bytes()) == []
