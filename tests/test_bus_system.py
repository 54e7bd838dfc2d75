"""The system domain's bus, as root: ``pylaunchd --system`` runs a private system
bus as a job and is its activator, with contrib's drop-in doing what it is for.

The bus configuration is modelled on Debian's system.conf but includes nothing
of the host's: the same default policy (no one owns a name or sends a method
call unless a rule says so), ``<user>messagebus</user>`` (dbus-daemon drops to
it), one service directory (the manager's ``--bus-service-dir``), contrib's
``org.pylaunchd.conf`` (root may own org.freedesktop.systemd1 and receive
ActivationRequest), and a policy for the provider's names, as a system service
ships one. Clients run as ``nobody``. Skipped unless root, with dbus-daemon,
dbus-send, gdbus and the messagebus user (scripts/install-test-programs).
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bushelpers import IFACE, PROVIDER, need
from conftest import ManagerProcess, plist

CONTRIB_DROP_IN = Path(__file__).resolve().parent.parent / "contrib" / "dbus" / "org.pylaunchd.conf"
ECHO, DIES = "org.pylaunchd.SysEcho", "org.pylaunchd.SysDies"
PROVIDER_PY = sys.executable  # the provider needs jeepney, a dependency of pylaunchd

SYSTEM_CONF = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <user>messagebus</user>
  <auth>EXTERNAL</auth>
  <listen>systemd:</listen>
  <servicedir>{services}</servicedir>
  <limit name="service_start_timeout">20000</limit>
  <policy context="default">
    <allow user="*"/>
    <deny own="*"/>
    <deny send_type="method_call"/>
    <allow send_type="signal"/>
    <allow send_requested_reply="true" send_type="method_return"/>
    <allow send_requested_reply="true" send_type="error"/>
    <allow receive_type="method_call"/>
    <allow receive_type="method_return"/>
    <allow receive_type="error"/>
    <allow receive_type="signal"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus.Introspectable"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus.Properties"/>
    <deny send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus"
          send_member="UpdateActivationEnvironment"/>
    <deny send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.systemd1.Activator"/>
  </policy>
  <policy user="root">
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.systemd1.Activator"/>
  </policy>
  <include>{drop_in}</include>
  <policy user="root">
    <allow own="{echo}"/>
    <allow own="{dies}"/>
  </policy>
  <policy context="default">
    <allow send_destination="{echo}"/>
    <allow send_destination="{dies}"/>
  </policy>
</busconfig>
"""


def nobody() -> pwd.struct_passwd:
    return pwd.getpwnam("nobody")


def as_nobody(*argv: str, timeout: float = 30) -> subprocess.CompletedProcess:
    n = nobody()
    return subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout, user=n.pw_uid,
                          group=n.pw_gid, extra_groups=[], env={"PATH": "/usr/bin:/bin", "HOME": "/"})


@pytest.fixture
def system_bus(workdir):
    if os.geteuid() != 0:
        pytest.skip("the system domain and a bus that drops to messagebus need root")
    daemon, _send, _gdbus = need("dbus-daemon", "dbus-send", "gdbus")
    try:
        pwd.getpwnam("messagebus"), nobody()
    except KeyError:
        pytest.skip("no messagebus or nobody user (dbus-system-bus-common, from scripts/install-test-programs)")
    os.chmod(workdir, 0o755)  # dbus-daemon, as messagebus, re-reads its configuration on ReloadConfig
    services, drop_in, conf = workdir / "services", workdir / "org.pylaunchd.conf", workdir / "system.conf"
    services.mkdir(mode=0o755)
    shutil.copy(CONTRIB_DROP_IN, drop_in)
    os.chmod(drop_in, 0o644)
    conf.write_text(SYSTEM_CONF.format(services=services, drop_in=drop_in, echo=ECHO, dies=DIES))
    os.chmod(conf, 0o644)
    bus = workdir / "system_bus_socket"
    m = ManagerProcess(workdir, extra_args=["--system", "--bus-address", f"unix:path={bus}",
                                            "--bus-service-dir", str(services)])
    m.bus, m.address, m.services = bus, f"unix:path={bus}", services
    m.write("bus.plist", plist("test.system-bus", ProgramArguments=[
        daemon, f"--config-file={conf}", "--address=systemd:", "--systemd-activation", "--nofork", "--nopidfile",
        "--nosyslog"], StandardErrorPath=str(workdir / "dbus.log"),
        Sockets={"bus": {"SockPathName": str(bus), "SockPathMode": 0o666}}))
    m.write("echo.plist", plist("test.sys-echo", ProgramArguments=[PROVIDER_PY, PROVIDER, "serve", ECHO],
                                MachServices={ECHO: True}, ThrottleInterval=1))
    m.write("dies.plist", plist("test.sys-dies", ProgramArguments=[PROVIDER_PY, PROVIDER, "exit3", DIES],
                                MachServices={DIES: True}, ThrottleInterval=1))
    m.start()
    try:
        for label in ("test.system-bus", "test.sys-echo", "test.sys-dies"):
            m.wait_loaded(label)
        yield m
    finally:
        m.stop()


def test_system_domain_activates_a_name_for_another_user_through_the_policy(system_bus):
    m = system_bus
    n = nobody()
    cp = as_nobody("dbus-send", f"--bus={m.address}", "--print-reply", "--reply-timeout=20000", f"--dest={ECHO}",
                   "/", f"{IFACE}.Env")
    dbus_log = (m.root / "dbus.log").read_text()
    assert cp.returncode == 0, f"{cp.stdout}{cp.stderr}\n--- dbus ---\n{dbus_log}\n{m.log()[-3000:]}"
    env = json.loads(cp.stdout.split('string "', 1)[1].rsplit('"', 1)[0].replace('\\"', '"'))
    assert env["DBUS_STARTER_BUS_TYPE"] == "system" and env["DBUS_STARTER_ADDRESS"].startswith(m.address)
    info = m.wait_state("test.sys-echo", lambda i: i["endpoints"][0]["state"] == "owned",
                        what="the manager to see the name owned")  # the reply may come first
    assert info["runs"] == 1 and info["last_trigger"] == f"D-Bus name {ECHO}"
    (ep,) = info["endpoints"]
    assert ep["state"] == "owned" and ep["owned_by_job"]
    with open(f"/proc/{m.info('test.system-bus')['pid']}/status") as f:
        uid = next(int(line.split()[1]) for line in f if line.startswith("Uid:"))
    assert uid == pwd.getpwnam("messagebus").pw_uid and uid != n.pw_uid
    domain = json.loads(m.ctl("print", "--json", "system").stdout)
    assert domain["bus"]["type"] == "system" and domain["bus"]["activator"] == "pylaunchd", domain["bus"]


def test_system_bus_failures_reach_other_users_at_once_and_the_activator_name_is_roots(system_bus):
    m = system_bus
    t0 = time.monotonic()
    cp = as_nobody("gdbus", "call", "--address", m.address, "--dest", DIES, "--object-path", "/",
                   "--method", f"{IFACE}.Ping", "--timeout", "20")
    took = time.monotonic() - t0
    assert cp.returncode != 0 and "org.freedesktop.DBus.Error.Spawn.ChildExited" in cp.stderr, cp.stdout + cp.stderr
    assert took < 5, f"the failure came after {took:.1f} s (root's ActivationFailure must be accepted)"
    # Only root may be the activator (the drop-in): nobody's RequestName is refused by the policy.
    cp = as_nobody("gdbus", "call", "--address", m.address, "--dest", "org.freedesktop.DBus", "--object-path",
                   "/org/freedesktop/DBus", "--method", "org.freedesktop.DBus.RequestName",
                   "org.freedesktop.systemd1", "4")
    assert cp.returncode != 0 and "AccessDenied" in cp.stderr, cp.stdout + cp.stderr
    cp = as_nobody("gdbus", "call", "--address", m.address, "--dest", ECHO, "--object-path", "/",
                   "--method", f"{IFACE}.Ping")
    assert cp.returncode == 0 and "pong from pid" in cp.stdout, cp.stdout + cp.stderr
