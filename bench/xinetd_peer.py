"""xinetd as the peer of bench/leaks.py: the inetd kinds of bench/workload.py
(``wait = no`` stream, ``wait = yes`` stream), the same program, a private
configuration, ``-dontfork``.

Not UDP: a ``wait = yes`` dgram service of xinetd 2.3.15 lost every other
datagram here (sequential requests, 2 s timeout each: the server on fd 0
never saw it), which would make the peer's run a measure of timeouts."""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
from pathlib import Path

from benchlib import HOST, BenchError, Peer, free_port, wait_for
from fleet import xinetd_version
from workload import Lost, children_of, ask

XINETD = shutil.which("xinetd") or "/usr/sbin/xinetd"
# kind -> (socket_type, protocol, wait, server_args)
SERVICES = {"inetd_nowait": ("stream", "tcp", "no", "echo -"),
            "inetd_wait": ("stream", "tcp", "yes", "accept 0")}


class XinetdPeer(Peer):
    name = "xinetd"

    def __init__(self, root: Path, program: str) -> None:
        super().__init__()
        self.root, self.program = Path(root), program
        self.root.mkdir(parents=True, exist_ok=True)
        self.conf = self.root / "xinetd.conf"
        self.log = self.root / "xinetd.log"
        self.ports = {kind: free_port() for kind in SERVICES}

    def _service(self, kind: str, user: str) -> str:
        stype, proto, wait, server_args = SERVICES[kind]
        return f"""
service pl{kind}
{{
    type            = UNLISTED
    id              = pl{kind}
    socket_type     = {stype}
    protocol        = {proto}
    port            = {self.ports[kind]}
    bind            = {HOST}
    wait            = {wait}
    user            = {user}
    server          = {self.program}
    server_args     = {server_args}
    instances       = UNLIMITED
    per_source      = UNLIMITED
    cps             = 0 0
    log_on_success  =
    log_on_failure  = HOST
}}
"""

    def start(self) -> None:
        if not os.access(XINETD, os.X_OK):
            raise BenchError(f"{XINETD} not found: install the Debian package xinetd")
        user = pwd.getpwuid(os.getuid()).pw_name
        self.conf.write_text("# Private configuration written by bench/xinetd_peer.py.\ndefaults\n{\n}\n"
                             + "".join(self._service(kind, user) for kind in SERVICES))
        self.proc = subprocess.Popen([XINETD, "-dontfork", "-f", str(self.conf), "-pidfile",
                                      str(self.root / "xinetd.pid"), "-filelog", str(self.log)],
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for kind, addr in self.addresses().items():
            self.wait_ready(self.log, f"xinetd's {kind} service", lambda: self._answers(kind, addr), 15, 0.05)

    @staticmethod
    def _answers(kind, addr) -> bool:
        try:
            ask(kind, addr, "ready", timeout=0.5)
            return True
        except Lost:
            return False

    def addresses(self) -> dict:
        return {kind: (HOST, port) for kind, port in self.ports.items()}

    def wait_quiet(self, timeout: float = 60) -> None:
        wait_for(lambda: not children_of(self.pid), timeout, "xinetd's children to be reaped", 0.02)

    def version(self) -> str:
        return xinetd_version()
