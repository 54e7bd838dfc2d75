"""Where the domain's bus is, and who is on it.

* :func:`unix_path` — the socket path of a bus address (the bus job is the job
  whose ``Sockets`` path it is);
* :func:`job_env` — the variables a job gets to find the bus, as classic
  activation gives them;
* :func:`belongs` — whether the process behind a bus connection is a job's.
"""

from __future__ import annotations

import os

from ..domain import default_bus_address

def unix_path(address: str | None) -> str | None:
    """The socket path of a ``unix:path=...`` address (the first one given)."""
    for part in (address or "").split(";"):
        transport, _, rest = part.partition(":")
        if transport == "unix":
            for kv in rest.split(","):
                k, _, v = kv.partition("=")
                if k == "path":
                    return os.path.abspath(v)
    return None


def job_env(domain, address: str, spec) -> dict[str, str]:
    """``DBUS_SESSION_BUS_ADDRESS`` for every job of a user domain (``DBUS_SYSTEM_BUS_ADDRESS`` when
    the system domain's bus is not the standard one); a job with names also gets
    ``DBUS_STARTER_ADDRESS`` and ``DBUS_STARTER_BUS_TYPE``, as dbus-daemon gives what it starts."""
    out = {}
    if not domain.system:
        out["DBUS_SESSION_BUS_ADDRESS"] = address
    elif address != default_bus_address(True):
        out["DBUS_SYSTEM_BUS_ADDRESS"] = address
    if spec.mach_services:
        out.update(DBUS_STARTER_ADDRESS=address, DBUS_STARTER_BUS_TYPE=domain.bus_type)
    return out


def belongs(pid: int, job) -> bool:
    """*pid* is the job's process, or runs under it (a wrapper's child, its process group)."""
    mine = {p for p in (job.machine.pid, *job.machine.instances) if p is not None}
    for _ in range(8):
        if pid in mine:
            return True
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            return False
        if int(fields[2]) in mine:  # its process group is the job's
            return True
        pid = int(fields[1])
        if pid <= 1:
            return False
    return False
