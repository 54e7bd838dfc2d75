"""launchctl's modern and legacy verbs against a running manager, with
launchctl's exit statuses."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time

from conftest import PYTHON, plist


def sleeper(label, **keys):
    return plist(label, ProgramArguments=["/bin/sleep", "60"], **keys)


def domain_of(manager) -> str:
    return json.loads(manager.ctl("print", "--json", "system").stdout)["domain"]


def test_bootstrap_bootout_and_their_errors(manager, workdir):
    import plistlib
    p = workdir / "b.plist"
    p.write_bytes(plistlib.dumps(sleeper("test.boot")))
    os.chmod(p, 0o644)
    dom = domain_of(manager)
    manager.ctl("bootstrap", dom, str(p))
    assert manager.info("test.boot") is not None
    again = manager.ctl("bootstrap", dom, str(p), check=False)
    assert again.returncode == 5 and "service already loaded" in again.stderr
    assert "Bootstrap failed: 5: Input/output error" in again.stderr
    manager.ctl("bootout", f"{dom}/test.boot")
    manager.wait_unloaded("test.boot")
    gone = manager.ctl("bootout", f"{dom}/test.boot", check=False)
    assert gone.returncode == 3 and "No such process" in gone.stderr
    manager.ctl("bootstrap", dom, str(p))
    manager.ctl("bootout", dom, str(p))
    manager.wait_unloaded("test.boot")
    bad = manager.ctl("bootout", "test.boot", check=False)
    assert bad.returncode == 64, "bootout needs a service target"


def test_enable_disable_and_print_disabled(manager, workdir):
    import plistlib
    p = workdir / "d.plist"
    p.write_bytes(plistlib.dumps(sleeper("test.dis")))
    os.chmod(p, 0o644)
    dom = domain_of(manager)
    manager.ctl("disable", f"{dom}/test.dis")
    refused = manager.ctl("bootstrap", dom, str(p), check=False)
    assert refused.returncode == 119
    assert f"pylaunchctl enable {dom}/test.dis" in refused.stderr
    out = manager.ctl("print-disabled", dom).stdout
    assert '"test.dis" => disabled' in out
    manager.ctl("enable", f"{dom}/test.dis")
    assert '"test.dis" => enabled' in manager.ctl("print-disabled", dom).stdout
    manager.ctl("bootstrap", dom, str(p))
    assert json.loads(manager.ctl("print-disabled", "--json", dom).stdout)["disabled"] == {"test.dis": False}


def test_kickstart_bypasses_throttle_and_k_restarts(manager):
    manager.write("k.plist", sleeper("test.kick", ThrottleInterval=60))
    manager.wait_loaded("test.kick")
    out = manager.ctl("kickstart", "-p", "test.kick").stdout.strip()
    first = int(out.split()[-1])
    assert manager.info("test.kick")["pid"] == first
    out = manager.ctl("kickstart", "-k", "-p", "test.kick").stdout.strip()
    second = int(out.split()[-1])
    assert second != first, "killed and started again at once, throttle or not"
    assert manager.info("test.kick")["last_trigger"].startswith("kickstart")


def test_kill_sends_a_signal_and_keepalive_decides(manager, workdir):
    manager.write("s.plist", sleeper("test.kill"))
    manager.wait_loaded("test.kill")
    none = manager.ctl("kill", "TERM", "test.kill", check=False)
    assert none.returncode == 3 and "No process to signal." in none.stderr
    manager.ctl("start", "test.kill")
    manager.wait_state("test.kill", lambda i: i["pid"], what="running")
    manager.ctl("kill", "SIGUSR1", "test.kill")
    info = manager.wait_state("test.kill", lambda i: i["state"] == "waiting", what="exit")
    assert info["last_exit_status"] == -signal.SIGUSR1
    assert manager.ctl("kill", "NOPE", "test.kill", check=False).returncode == 64


def test_print_domain(manager):
    manager.write("a.plist", sleeper("test.dom.a"))
    manager.wait_loaded("test.dom.a")
    info = json.loads(manager.ctl("print", "--json", "system").stdout)
    assert info["pid"] > 0 and str(manager.jobs_dir) in info["jobs_dirs"]
    assert [s["label"] for s in info["services"]] == ["test.dom.a"]
    text = manager.ctl("print", "system").stdout
    assert text.startswith(f"{info['domain']} = {{") and "test.dom.a" in text


def test_blame_reasons(manager, workdir):
    manager.write("b.plist", plist("test.blame", ProgramArguments=["/bin/sleep", "60"], RunAtLoad=True))
    manager.wait_state("test.blame", lambda i: i["pid"], what="running")
    assert manager.ctl("blame", "test.blame").stdout.strip() == "run at load"
    manager.write("c.plist", plist("test.blame2", ProgramArguments=["/bin/sleep", "60"]))
    manager.wait_loaded("test.blame2")
    assert "not started" in manager.ctl("blame", "test.blame2").stdout


def test_submit_remove_and_environment(manager, workdir):
    out = workdir / "env.txt"
    manager.ctl("setenv", "GREETING", "hello")
    assert manager.ctl("getenv", "GREETING").stdout.strip() == "hello"
    assert 'GREETING="hello"; export GREETING;' in manager.ctl("export").stdout
    manager.ctl("submit", "-l", "test.submitted", "-o", str(out), "--", "/bin/sh", "-c", 'echo "$GREETING"; sleep 60')
    manager.wait(lambda: out.exists() and out.read_text() == "hello\n", 10, "the submitted job's output")
    info = manager.info("test.submitted")
    assert info["keep_alive"]["always"] is True and info["path"] is None
    manager.ctl("unsetenv", "GREETING")
    assert manager.ctl("getenv", "GREETING").stdout == ""
    manager.ctl("remove", "test.submitted")
    manager.wait_unloaded("test.submitted")


def test_limit_prints_and_sets(manager):
    out = manager.ctl("limit").stdout
    assert "maxfiles" in out and "core" in out
    manager.ctl("limit", "core", "0", "unlimited")
    line = [l for l in manager.ctl("limit", "core").stdout.splitlines() if "core" in l][0]
    assert line.split()[1:] == ["0", "unlimited"]


def test_log_keeps_output_and_events(manager, workdir):
    manager.write("l.plist", plist("test.logged", ProgramArguments=["/bin/sh", "-c", "echo out-line; echo err-line >&2; exit 3"],
                                   RunAtLoad=True, ThrottleInterval=0))  # `start` below: no 10 s wait
    manager.wait_state("test.logged", lambda i: i["last_exit_status"] == 3, what="exit 3")
    text = manager.wait(lambda: (lambda t: t if "Exited with code: 3" in t else None)(
        manager.ctl("log", "test.logged").stdout), 10, "log")
    assert "out-line" in text and "err-line" in text and "[pylaunchd] started pid" in text
    # -f follows: a new run's output shows up.
    env = dict(os.environ, PYLAUNCHD_CONTROL_SOCKET=manager.socket)
    follower = subprocess.Popen([PYTHON, "-m", "pylaunchd.cli.launchctl", "log", "-f", "-n", "1", "test.logged"],
                                env=env, stdout=subprocess.PIPE, text=True)
    try:
        assert follower.stdout.readline()  # the last line: it is following now
        manager.ctl("start", "test.logged")
        seen = []
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            line = follower.stdout.readline()
            seen.append(line)
            if "out-line" in line:
                break
        assert any("out-line" in l for l in seen), seen
    finally:
        follower.terminate()
        follower.wait(timeout=10)
    assert (manager.state_dir / "logs" / "test.logged.log").exists()


def test_error_help_manager_and_usage(manager):
    assert manager.ctl("error", "113").stdout.strip() == "113: Could not find specified service"
    assert manager.ctl("managerpid").stdout.strip() == str(manager.proc.pid)
    assert manager.ctl("manageruid").stdout.strip() == str(os.getuid())
    # root's manager is the system domain; anyone else's is a per-user one (Background)
    assert manager.ctl("managername").stdout.strip() == ("System" if os.geteuid() == 0 else "Background")
    assert "pylaunchd" in manager.ctl("version").stdout
    assert "kickstart" in manager.ctl("help", "kickstart").stdout
    assert manager.ctl("kickstart", check=False).returncode == 64
    assert manager.ctl("no-such-verb", check=False).returncode == 64


def test_enable_loads_a_disabled_plist_of_a_watched_directory(manager):
    manager.write("w.plist", sleeper("test.watched.disabled", Disabled=True))
    manager.wait(lambda: "test.watched.disabled" in manager.log(), 10, "the disabled plist noticed")
    assert manager.info("test.watched.disabled") is None
    manager.ctl("enable", f"{domain_of(manager)}/test.watched.disabled")
    manager.wait_loaded("test.watched.disabled")
    manager.ctl("disable", f"{domain_of(manager)}/test.watched.disabled")
    assert manager.info("test.watched.disabled") is not None, "disable does not unload, as launchctl's"


def test_kickstart_k_p_of_a_job_whose_restart_exits_at_once_does_not_wait(manager, workdir):
    """-k -p polled for the new PID for its whole 30 s when the restarted
    process exited before a poll saw it (throttled, no PID for 10 s): the run
    it caused is counted, so it answers at once that the process exited."""
    flag = workdir / "ran-once"
    script = f'if [ -e {flag} ]; then exit 1; fi; touch {flag}; exec sleep 60'
    manager.write("f.plist", plist("test.once", ProgramArguments=["/bin/sh", "-c", script],
                                   KeepAlive=True, RunAtLoad=True))
    manager.wait(lambda: flag.exists() and (manager.info("test.once") or {}).get("pid"), 10, "the first run")
    cp = manager.ctl("kickstart", "-k", "-p", "test.once", check=False, timeout=20)
    assert cp.returncode == 3 and "has already exited: last exit 1" in cp.stderr, cp
