"""Issue 11: every watched plist that did not load is visible from
pylaunchctl (errors, list, print DOMAIN, print/blame of its label), and
clears when the file is fixed or removed; a duplicate Label is reported at
once naming both files, and loads when the file that won goes."""

from __future__ import annotations

import json
import os
import socket

from conftest import PYTHON, plist, request


def errors(m) -> list[dict]:
    return request(m.socket, "errors", timeout=10)


def by_path(m, path) -> dict | None:
    return next((e for e in errors(m) if e["path"] == str(path)), None)


def sleeper(label, **keys):
    return plist(label, ProgramArguments=[PYTHON, "-c", "import time; time.sleep(60)"], **keys)


def test_an_invalid_xml_file_is_shown_everywhere_and_clears_when_fixed(manager):
    path = manager.jobs_dir / "com.example.broken.plist"
    path.write_text("<?xml version='1.0'?><plist><dict><key>Label</key>")
    os.chmod(path, 0o644)
    e = manager.wait(lambda: by_path(manager, path), 10, "the error record")
    assert e["label"] is None and e["reason"] == "invalid"
    cp = manager.ctl("errors", check=False)
    assert cp.returncode == 1 and str(path) in cp.stdout
    listed = manager.ctl("list")
    assert f"not loaded: {path}: " in listed.stderr and str(path) not in listed.stdout
    assert "load errors = {" in manager.ctl("print", _domain(manager)).stdout
    for verb in ("print", "blame"):  # named after its file: the label could not be read
        cp = manager.ctl(verb, "com.example.broken", check=False)
        assert cp.returncode == 113, cp
        assert "not loaded" in cp.stderr and str(path) in cp.stderr
    manager.write(path.name, sleeper("com.example.broken"))
    manager.wait_loaded("com.example.broken")
    assert manager.wait(lambda: by_path(manager, path) is None, 10, "the record to clear")
    assert manager.ctl("errors").stdout == ""


def _domain(m) -> str:
    return json.loads(m.ctl("version", "--json").stdout)["domain"]


def test_a_wrong_type_names_its_key_and_clears_when_removed(manager):
    path = manager.write("com.example.wrong.plist", plist("com.example.wrong", ProgramArguments="not a list"))
    e = manager.wait(lambda: by_path(manager, path), 10, "the error record")
    assert e["label"] == "com.example.wrong" and e["key_path"] == "ProgramArguments"
    cp = manager.ctl("print", "com.example.wrong", check=False)
    assert cp.returncode == 113 and "ProgramArguments: expected" in cp.stderr
    dom = json.loads(manager.ctl("print", _domain(manager), "--json").stdout)
    assert [x["path"] for x in dom["load_errors"]] == [str(path)]
    path.unlink()
    manager.wait(lambda: not errors(manager), 10, "the record to go with its file")


def test_unsafe_ownership_and_a_socket_in_use_are_recorded(manager):
    path = manager.write("com.example.unsafe.plist", sleeper("com.example.unsafe"))
    os.chmod(path, 0o666)
    os.utime(path)
    manager.write("x.plist", sleeper("com.example.x"))  # a change the watcher sees for sure
    e = manager.wait(lambda: by_path(manager, path), 10, "the unsafe record")
    assert e["reason"] == "bad permissions"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        busy = manager.write("com.example.busy.plist", sleeper(
            "com.example.busy", Sockets={"L": {"SockNodeName": "127.0.0.1", "SockServiceName": str(port)}}))
        e = manager.wait(lambda: by_path(manager, busy), 10, "the socket record")
    assert e["reason"] == "socket error" and e["key_path"] == "Sockets"


def test_a_half_written_new_file_is_recorded_until_complete(manager):
    path = manager.jobs_dir / "com.example.slow.plist"
    full = __import__("plistlib").dumps(sleeper("com.example.slow"))
    with open(path, "wb") as f:
        os.fchmod(f.fileno(), 0o644)
        f.write(full[:40])
        f.flush()
    manager.wait(lambda: by_path(manager, path), 10, "the half-written record")  # closed: read now
    with open(path, "ab") as f:
        f.write(full[40:])
    manager.wait_loaded("com.example.slow")
    assert by_path(manager, path) is None


def test_a_duplicate_label_is_reported_at_once_and_loads_when_the_winner_goes(manager):
    first = manager.write("a.plist", sleeper("com.example.dup", RunAtLoad=True))
    manager.wait_state("com.example.dup", lambda i: i["pid"])
    second = manager.write("b.plist", sleeper("com.example.dup", RunAtLoad=True,
                                              EnvironmentVariables={"WHICH": "b"}))
    e = manager.wait(lambda: by_path(manager, second), 10, "the duplicate record")
    assert e["reason"] == "in use" and e["other_path"] == str(first)
    assert str(first) in e["message"]
    log = manager.log()
    assert f"{second}: not loaded: the label is already loaded from {first}" in log
    cp = manager.ctl("errors", check=False)
    assert str(first) in cp.stdout and str(second) in cp.stdout
    first.unlink()
    info = manager.wait_state("com.example.dup", lambda i: i["path"] == str(second) and i["pid"],
                              what="the other plist loaded")
    assert info["environment"].get("WHICH") == "b"
    assert not errors(manager)


def test_a_symlinked_plist_follows_its_target(manager, workdir):
    dotfiles = workdir / "dotfiles"
    dotfiles.mkdir()
    target = dotfiles / "agent.plist"
    target.write_bytes(__import__("plistlib").dumps(sleeper("com.example.linked", EnvironmentVariables={"V": "1"})))
    os.chmod(target, 0o644)
    link = manager.jobs_dir / "com.example.linked.plist"
    link.symlink_to(target)
    info = manager.wait_loaded("com.example.linked")
    assert info["environment"]["V"] == "1" and info["path"] == str(link)
    # An editor's save of the target (a temporary file renamed over it), then a plain write.
    tmp = dotfiles / ".agent.plist.swp"
    tmp.write_bytes(__import__("plistlib").dumps(sleeper("com.example.linked", EnvironmentVariables={"V": "2"})))
    os.chmod(tmp, 0o644)
    os.replace(tmp, target)
    manager.wait_state("com.example.linked", lambda i: i["environment"].get("V") == "2", what="reload by rename")
    target.write_bytes(__import__("plistlib").dumps(sleeper("com.example.linked", EnvironmentVariables={"V": "3"})))
    manager.wait_state("com.example.linked", lambda i: i["environment"].get("V") == "3", what="reload by write")
    os.chmod(target, 0o666)  # the target's mode is what the domain checks
    manager.wait(lambda: by_path(manager, link), 10, "the unsafe target to be refused")
    manager.wait_unloaded("com.example.linked")


def test_a_unix_path_held_by_another_job_names_that_job(manager, workdir):
    """Found by the corpus: two versions of one daemon (mDNSResponder's old and
    new plists) want one socket path; the second was told "a process is
    already listening there" without a word of which."""
    sock = str(workdir / "shared.sock")
    first = manager.write("com.example.first.plist", sleeper("com.example.first",
                                                             Sockets={"L": {"SockPathName": sock}}))
    manager.wait_loaded("com.example.first")
    second = manager.write("com.example.second.plist", sleeper("com.example.second",
                                                               Sockets={"L": {"SockPathName": sock}}))
    e = manager.wait(lambda: by_path(manager, second), 10, "the second plist's error")
    assert f"(job com.example.first, loaded from {first}, has it)" in e["message"], e


def test_a_host_name_the_idna_codec_refuses_is_a_load_error_at_boot_and_after(manager_factory):
    """getaddrinfo raises UnicodeError, not gaierror, for a name such as
    "a..b": the boot once crashed on it. Now that job does not load, with its
    reason, and the others do, at start and when written later."""
    m = manager_factory(start=False)
    bad = m.write("com.example.idna.plist", sleeper("com.example.idna", Sockets={
        "L": {"SockNodeName": "a..b", "SockServiceName": "8080"}}))
    m.write("com.example.fine.plist", sleeper("com.example.fine"))
    m.start()
    e = m.wait(lambda: by_path(m, bad), 10, "the error record")
    assert e["reason"] == "socket error" and "a..b" in e["message"], e
    assert "com.example.fine" in m.ctl("list").stdout
    later = m.write("com.example.idna2.plist", sleeper("com.example.idna2", Sockets={
        "L": {"SockNodeName": "x" * 64 + ".example", "SockServiceName": "8080"}}))
    e = m.wait(lambda: by_path(m, later), 10, "the second error record")
    assert e["reason"] == "socket error", e
