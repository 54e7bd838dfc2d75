"""What the bus tests share: a private dbus-daemon run by pylaunchd as a job,
a provider service, and the clients (dbus-send, busctl, gdbus, Python).

The bus is ``dbus-daemon --address=systemd: --systemd-activation --nofork``
on a ``Sockets`` unix socket of a job, with a session-like policy and a
service directory in the test's tmp dir, which the manager is told with
``--bus-address`` and ``--bus-service-dir``.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import ManagerProcess, plist
from test_real_programs import BUS_CONFIG, need

HERE = Path(__file__).resolve().parent
PROVIDER = str(HERE / "busprovider.py")
CONSUMER = str(HERE / "busconsumer.py")
BUS_LABEL = "test.bus"
IFACE = "org.pylaunchd.Test"

# test_real_programs' session-like bus, with a service directory and a start timeout.
CONFIG = BUS_CONFIG.replace("<auth>EXTERNAL</auth>", "<auth>EXTERNAL</auth>\n  <servicedir>{services}</servicedir>\n"
                            '  <limit name="service_start_timeout">20000</limit>')


class Bus:
    """A manager with a private bus job, and the means to serve and call names."""

    def __init__(self, root: Path):
        (self.dbus_daemon,) = need("dbus-daemon")
        self.root = root
        self.services = root / "services"
        self.socket = root / "bus.sock"
        self.address = f"unix:path={self.socket}"
        self.config = root / "bus.conf"
        self.config.write_text(CONFIG.format(services=self.services))
        self.manager = ManagerProcess(root, extra_args=["--user", "--bus-address", self.address,
                                                        "--bus-service-dir", str(self.services)])

    def bus_plist(self) -> dict:
        return plist(BUS_LABEL, ProgramArguments=[
            self.dbus_daemon, f"--config-file={self.config}", "--address=systemd:", "--systemd-activation",
            "--nofork", "--nopidfile"], StandardErrorPath=str(self.root / "dbus.log"),
            Sockets={"bus": {"SockPathName": str(self.socket), "SockPathMode": 0o600}}, ThrottleInterval=1)

    def provider(self, label: str, names, mode: str = "serve", **keys) -> dict:
        services = names if isinstance(names, dict) else {n: True for n in names}
        plain = [n for n in services]
        return plist(label, ProgramArguments=[sys.executable, PROVIDER, mode, *plain], MachServices=services,
                     ThrottleInterval=keys.pop("ThrottleInterval", 1), **keys)

    def write(self, name: str, data: dict) -> Path:
        return self.manager.write(name, data)

    def dbus_log(self) -> str:
        p = self.root / "dbus.log"
        return p.read_text(errors="replace") if p.exists() else ""

    # -- clients ------------------------------------------------------------

    def dbus_send(self, name: str, method: str = "Ping", timeout: float = 20) -> subprocess.CompletedProcess:
        (dbus_send,) = need("dbus-send")
        return subprocess.run([dbus_send, f"--bus={self.address}", "--print-reply",
                               f"--reply-timeout={int(timeout * 1000)}", f"--dest={name}", "/",
                               f"{IFACE}.{method}"], capture_output=True, text=True, timeout=timeout + 10)

    def busctl(self, name: str, method: str = "Ping", timeout: float = 20) -> subprocess.CompletedProcess:
        (busctl,) = need("busctl")
        return subprocess.run([busctl, f"--address={self.address}", f"--timeout={int(timeout)}", "call", name,
                               "/", IFACE, method], capture_output=True, text=True, timeout=timeout + 10)

    def gdbus(self, name: str, method: str = "Ping", timeout: float = 20) -> subprocess.CompletedProcess:
        (gdbus,) = need("gdbus")
        return subprocess.run([gdbus, "call", "--address", self.address, "--dest", name, "--object-path", "/",
                               "--method", f"{IFACE}.{method}", "--timeout", str(int(timeout))],
                              capture_output=True, text=True, timeout=timeout + 10)

    def python_call(self, name: str, method: str = "Ping", timeout: float = 20):
        """A Python client (jeepney): the reply's body, or the error's (name, text)."""
        from jeepney import DBusAddress, MessageType, new_method_call
        from jeepney.io.blocking import open_dbus_connection
        with open_dbus_connection(self.address) as conn:
            reply = conn.send_and_get_reply(new_method_call(DBusAddress("/", name, IFACE), method), timeout=timeout)
        if reply.header.message_type is MessageType.error:
            from jeepney import HeaderFields
            return ("error", reply.header.fields[HeaderFields.error_name], reply.body[0] if reply.body else "")
        return reply.body[0]

    def timed(self, fn, *args, **kwargs):
        t = time.monotonic()
        out = fn(*args, **kwargs)
        return out, time.monotonic() - t

    def stop(self) -> None:
        self.manager.stop()


@pytest.fixture
def bus(workdir):
    b = Bus(workdir)
    b.manager.start()
    b.write("bus.plist", b.bus_plist())
    b.manager.wait_loaded(BUS_LABEL)
    yield b
    b.stop()
