"""Plists as macOS and Homebrew ship them (tests/realworld/) load as launchd
would read them: no error, the warnings a user should see, the right meaning."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from conftest import PYTHON
from pylaunchd.spec import load_spec

HERE = Path(__file__).resolve().parent / "realworld"


def spec(name):
    return load_spec(str(HERE / f"{name}.plist"))


# The real plists pylaunchd refuses, as launchd would or with a clear reason: file -> (key path, words).
REFUSED = {
    # launchd refuses it as well: CoreFoundation's "Unknown character '_' in <integer>".
    "dev.agentwarden.powerd": ("Sockets.PowerdSocket.SockPathOwner",
                               "expected a number in <integer> (line 20), found '__UID__'"),
    # launchd ignores an unknown SockProtocol; pylaunchd refuses a wrong enumerated value (as SockType).
    "com.example.osunit": ("Sockets.Listener.SockProtocol", 'expected one of TCP, UDP, found string "SOCK_STREAM"'),
    # SMAppService's BundleProgram alone: a path inside an app bundle; launchd resolves it, Linux has no bundle.
    # A renderer writes every number as a <string>: launchd would ignore StartInterval (never run by timer).
    "com.suspenders.fleet-monitor": ("StartInterval",
                                     'expected an integer, found string "900" (write <integer>900</integer>)'),
    "com.youngminpark.ping.Ping.keepalive": ("ProgramArguments",
                                             'found only BundleProgram string "Contents/MacOS/Ping" (a path inside '
                                             "a macOS app bundle"),
}


def lint_json(*paths):
    cp = subprocess.run([PYTHON, "-m", "pylaunchd.cli.launchctl", "lint", "--json", *map(str, paths)],
                        capture_output=True, text=True, timeout=60)
    by_file: dict[str, list[dict]] = {}
    for f in json.loads(cp.stdout):
        by_file.setdefault(Path(f["file"]).stem, []).append(f)
    return cp, by_file


def test_no_real_world_plist_has_an_error_but_the_refused_ones():
    cp, by_file = lint_json(HERE)
    assert cp.returncode == 1, cp.stdout + cp.stderr
    errors = {name: [f for f in found if f["level"] == "error"] for name, found in by_file.items()}
    assert {name for name, e in errors.items() if e} == set(REFUSED)
    for name, (key_path, words) in REFUSED.items():
        [e] = errors[name]
        assert e["key_path"] == key_path and words in e["message"], e
    assert len(list(HERE.glob("*.plist"))) >= 48


def test_prologs_core_foundation_reads():
    """launchd reads plists with CoreFoundation, which skips ``<?...?>`` to its
    ``?>``, ``<!DOCTYPE`` to its first ``>`` and every attribute of a tag; expat
    refused these three, found in public setup notes."""
    # "...PropertyList-1.0.dtd"\> : a backslash before the DOCTYPE's end
    wg = spec("com.wireguard.wg0")
    assert wg.keep_alive.network_state is True and wg.run_at_load
    assert dict(wg.environment)["PATH"].startswith("/Users/someone/.local/bin:/opt/homebrew/bin")
    # <?xml version=1.0 encoding=UTF-8?> and <plist version=1.0>: quotes lost in a source comment
    ram = spec("com.ikiapps.setupXcodeDerivedDataRamDisk")
    assert ram.label == "com.ikiapps.setupXcodeDerivedDataRamDisk.plist" and ram.launch_only_once and ram.run_at_load
    # a comment before the XML declaration, key and value on one line
    jenkins = spec("homebrew.mxcl.jenkins-lts")
    assert jenkins.run_at_load and jenkins.user_name == "someone" and jenkins.argv[3] == "-jar"
    assert "LoginWindow" in jenkins.limit_load_to_session_type
    # no DOCTYPE; no XML declaration at all
    assert spec("com.fortivpn-tray.helper").sockets[0].sockets[0].path == "/var/run/fortivpn-helper.sock"
    assert spec("com.apple.rexecd").inetd_nowait  # a binary plist


def test_keep_alive_conditions_and_misplaced_ones():
    lotus = spec("com.filecoin.lotus.daemon")
    ka = lotus.keep_alive
    assert (ka.crashed, ka.successful_exit, ka.network_state) == (True, False, True)
    assert lotus.process_type == "Background" and lotus.low_priority_io and lotus.nice == 5
    assert lotus.throttle_interval == 30
    assert spec("homebrew.mxcl.freediameter").keep_alive.network_state is True
    assert spec("de.mfelten.blog").keep_alive.network_state is True
    cron = spec("com.vix.cron")
    assert cron.keep_alive.path_state == (("/etc/crontab", True),) and cron.queue_directories == ("/usr/lib/cron/tabs",)
    assert "EnableTransactions" in cron.ignored_keys
    # A top-level NetworkState (a README's daily agent): ignored as launchd does, and said where it belongs.
    _, by_file = lint_json(HERE / "ai.trendr.daily.plist")
    [w] = [f for f in by_file["ai.trendr.daily"] if f["key_path"] == "NetworkState"]
    assert "is a KeepAlive condition; write it inside the KeepAlive dictionary" in w["message"]
    trendr = spec("ai.trendr.daily")
    assert trendr.keep_alive.network_state is None and trendr.start_calendar[0].hour == 8
    assert "claude --output-format json" in trendr.argv[2]  # a script over several lines, entities decoded


def test_launch_only_once_with_keep_alive_is_warned():
    """homebrew-php's php-fpm plist and a guide's example give both: the job
    runs once, as in launchd, and lint says KeepAlive will not restart it."""
    _, by_file = lint_json(HERE / "homebrew.mcxl.php-fpm.plist", HERE / "MyProgram.plist",
                           HERE / "homebrew.mxcl.monit.plist")
    for name in ("homebrew.mcxl.php-fpm", "MyProgram"):
        assert any(f["key_path"] == "LaunchOnlyOnce" and "never restarted" in f["message"] for f in by_file[name])
    assert not [f for f in by_file.get("homebrew.mxcl.monit", []) if f["key_path"] == "LaunchOnlyOnce"]
    php = spec("homebrew.mcxl.php-fpm")
    assert php.keep_alive.always and php.launch_only_once and php.user_name == "nobody"


def test_a_guide_with_every_key_at_once():
    """KeepAlive given twice (the last one counts, as CoreFoundation's parser
    keeps it), Umask as a string, StandardInPath, an AfterInitialDemand
    dictionary (ignored, as launchd does), both Program and ProgramArguments."""
    s = spec("MyProgram")
    assert s.keep_alive.always is False and s.keep_alive.successful_exit is True and s.keep_alive.crashed is True
    assert s.keep_alive.other_job_enabled == (("local.otherJob", False),) and s.keep_alive.after_initial_demand is None
    assert s.umask == 0 and s.stdin_path == "/tmp/test.stdin" and s.executable == "/path/to/program"
    assert s.argv[0] == "/usr/bin/rsync" and s.start_interval == 3600 and len(s.start_calendar) == 2
    assert s.soft_limits and s.hard_limits and s.low_priority_io and s.throttle_interval == 60
    assert s.watch_paths == s.queue_directories == ("/path/to/directory_or_file",)
    assert any("AfterInitialDemand" in w for w in s.warnings)
    _, by_file = lint_json(HERE / "MyProgram.plist")
    [twice] = [f for f in by_file["MyProgram"] if "given twice" in f["message"]]
    assert twice["key_path"] == "KeepAlive" and twice["level"] == "warning" and "line 78" in twice["message"]


def test_homebrew_formulae_plists():
    assert spec("homebrew.mxcl.memcached").argv[1:] == ("-l", "localhost")
    assert spec("homebrew.mxcl.nginx").argv[1:] == ("-g", "daemon off;") and not spec("homebrew.mxcl.nginx").keep_alive.always
    assert spec("homebrew.mxcl.dnsmasq").argv[-1] == "/usr/local/etc/dnsmasq.d,*.conf"  # no EnableGlobbing: as written
    unbound = spec("homebrew.mxcl.unbound")
    assert unbound.user_name == "root" and unbound.stdout_path == unbound.stderr_path == "/dev/null"
    monit = spec("homebrew.mxcl.monit")
    assert monit.process_type == "Adaptive" and not monit.launch_only_once and not monit.disabled
    yb = spec("homebrew.mxcl.yugabytedb")
    assert yb.keep_alive.successful_exit is False
    assert dict(yb.soft_limits)["NumberOfFiles"] == dict(yb.hard_limits)["NumberOfFiles"] == 262144
    caddy = spec("homebrew.mxcl.caddy")
    assert set(caddy.limit_load_to_session_type) == {"Aqua", "Background", "LoginWindow", "StandardIO", "System"}


def test_inetd_and_unix_sockets_of_real_daemons():
    ntalk = spec("com.apple.ntalkd")
    assert ntalk.disabled and ntalk.inetd.wait and ntalk.sockets[0].sockets[0].type == "dgram"
    rsync = spec("org.samba.rsync")
    assert rsync.inetd_nowait and rsync.sockets[0].sockets[0].service == "rsync"
    assert rsync.argv[-1] == "--config=/etc/rsyncd.conf"  # the spaces after </string> are not the value's
    fossil = spec("com.example.dev.FossilSocket")
    [sock] = fossil.sockets[0].sockets
    assert sock.service == "9001" and sock.family == "IPv4" and fossil.inetd_nowait
    clip = spec("org.pasky.clipserve")
    groups = {g.name: g.sockets for g in clip.sockets}
    assert groups["ListenerTCP"][0].node == "127.0.0.1" and groups["ListenerUnix"][0].path.endswith(".clipserve.sock")
    podman = spec("io.podman.machine.agent")
    assert podman.sockets[0].sockets[0].path_mode == 0o600 and podman.inetd_nowait
    kt = spec("com.example.ktctlhelper")
    assert kt.sockets[0].sockets[0].path_mode == 0o600 and "SessionCreate" in kt.ignored_keys
    postfix = spec("org.postfix.master")
    assert postfix.executable == "/usr/libexec/postfix/master" and postfix.argv == ("master", "-e", "60")
    assert postfix.abandon_process_group and postfix.queue_directories == ("/var/spool/postfix/maildrop",)
    always = spec("org.postfix.master.always")  # <true /> with a space
    assert always.keep_alive.always and always.run_at_load
    assert "MachServices" not in spec("com.example.helper.machservice").ignored_keys
    assert spec("com.nebula").label == "/usr/local/bin/nebula"


def test_apple_sshd():
    s = spec("com.openssh.sshd")
    assert s.disabled and s.inetd_nowait
    assert s.executable == "/usr/libexec/sshd-keygen-wrapper" and s.argv == ("/usr/sbin/sshd", "-i")
    [sock] = s.sockets[0].sockets
    assert sock.service == "ssh" and sock.bonjour == ("ssh", "sftp-ssh")
    # Issue 11: launchd reads POSIXSpawnType as ProcessType (it was ignored as private).
    assert set(s.ignored_keys) == {"SHAuthorizationRight"} and s.process_type == "Interactive"


def test_homebrew_services():
    redis = spec("homebrew.mxcl.redis")
    assert redis.keep_alive.always and redis.run_at_load and "System" in redis.limit_load_to_session_type
    pg = spec("homebrew.mxcl.postgresql")
    assert pg.keep_alive.successful_exit is False and pg.keep_alive.path_state == ()
    assert any("PathState" in w for w in pg.warnings)


def test_cups_socket_array_and_type_bits_in_the_mode():
    s = spec("org.cups.cupsd")
    unix, inet = s.sockets[0].sockets
    assert unix.path == "/private/var/run/cupsd" and unix.path_mode == 0o777  # 49663 = 0o140777
    assert inet.node == "localhost" and inet.service == "ipp"
    assert s.keep_alive.path_state == (("/private/var/spool/cups/cache/org.cups.cupsd", True),)


def test_udp_inetd_daemons():
    for name, service in (("com.apple.bootpd", "bootps"), ("com.apple.tftpd", "tftp")):
        s = spec(name)
        assert s.inetd.wait and s.sockets[0].sockets[0].type == "dgram" and s.sockets[0].sockets[0].service == service


def test_calendar_job():
    s = spec("com.example.backup")
    assert len(s.start_calendar) == 2 and s.enable_globbing and s.umask == 0o77
    assert s.process_type == "Background" and s.low_priority_io and s.nice == 10
    sunday = [c for c in s.start_calendar if c.weekday is not None][0]
    assert sunday.weekday == 0  # Weekday 7 is Sunday


def test_the_corpus_check_reads_every_plist_without_a_crash():
    """scripts/corpus_check.py, which made docs/corpus.md's table, over the
    plists kept here (the real ones and the lint corpus of mistakes)."""
    corpus = HERE.parent / "lint_corpus"
    cp = subprocess.run([PYTHON, str(HERE.parent.parent / "scripts" / "corpus_check.py"), str(HERE), str(corpus)],
                        capture_output=True, text=True, timeout=120)
    assert cp.returncode == 0 and "CRASH" not in cp.stdout, cp.stdout + cp.stderr
    rows = [line for line in cp.stdout.splitlines() if line.startswith("| `")]
    assert len(rows) == len(list(HERE.glob("*.plist"))) + len(list(corpus.glob("*.plist")))
    assert any("refused: " in r for r in rows) and any("loads in: system, per-user" in r for r in rows)


def test_app_agents_session_types_and_bundle_keys():
    """A tray app's agent gives LimitLoadToSessionType as a string, and a VPN
    helper AssociatedBundleIdentifiers as a string; a helper started only by
    its MachServices name is not said to have nothing that starts it."""
    tray = spec("com.example.tray")
    assert tray.limit_load_to_session_type == ("Aqua",) and tray.process_type == "Interactive"
    assert "AssociatedBundleIdentifiers" in tray.ignored_keys
    vpn = spec("com.pixelvpn.helper")
    assert "AssociatedBundleIdentifiers" in vpn.ignored_keys and [n.name for n in vpn.mach_services] == \
        ["com.pixelvpn.helper"]
    _, by_file = lint_json(HERE / "com.example.tray.plist", HERE / "com.pixelvpn.helper.plist")
    assert any(f["key_path"] == "LimitLoadToSessionType" and "per-user domain only" in f["message"]
               for f in by_file["com.example.tray"])
    assert not [f for f in by_file["com.pixelvpn.helper"] if "nothing starts this job" in f["message"]]


def test_homebrews_own_generator_output():
    """Homebrew/brew's service spec: what `brew services` writes for every
    option at once, and for a socket."""
    full = spec("homebrew.mxcl.formula_name")
    assert full.keep_alive.always and full.launch_only_once and full.root_directory == "/usr/local/var"
    assert full.process_type == "Interactive" and full.stdin_path == "/usr/local/var/in/beanstalkd"
    assert {"LegacyTimers", "TimeOut"} <= set(full.ignored_keys)  # restart_delay became TimeOut, which launchd ignores
    assert dict(full.environment)["ETC_DIR"] == "/usr/local/etc/beanstalkd"
    # The child chroots before its chdir and its standard paths: lint looks inside RootDirectory.
    _, by_file = lint_json(HERE / "homebrew.mxcl.formula_name.plist")
    found = {f["key_path"]: f["message"] for f in by_file["homebrew.mxcl.formula_name"]}
    assert "does not exist inside RootDirectory /usr/local/var" in found["WorkingDirectory"]
    assert "inside RootDirectory /usr/local/var" in found["StandardInPath"]
    [sock] = spec("homebrew.mxcl.formula_name.sockets").sockets[0].sockets
    assert (sock.family, sock.node, sock.protocol, sock.service) == ("IPv4v6", "127.0.0.1", "TCP", "80")
    [node_app] = spec("com.example.yourapp").sockets[0].sockets
    assert node_app.family == "IPv4v6" and node_app.service == "8080"  # an <integer> port


def test_numbers_written_as_strings():
    """The same renderer's calendar job: each field a <string>, so the
    schedule is ignored (as launchd does), the job loads, and lint says what
    to write."""
    s = spec("com.suspenders.db-backup")
    assert s.start_calendar == () and s.run_at_load
    _, by_file = lint_json(HERE / "com.suspenders.db-backup.plist")
    found = {f["key_path"]: f["message"] for f in by_file["com.suspenders.db-backup"]}
    assert "(write <integer>10</integer>)" in found["StartCalendarInterval.Hour"]
    assert "no usable schedule" in found["StartCalendarInterval"]
