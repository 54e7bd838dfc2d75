"""The ``Sockets`` dictionary of a job: socket groups and their keys.

``Sockets`` maps a name to one socket dictionary or an array of them. Each key
of a socket dictionary has one small reader in :data:`_READERS`, which checks
that key alone and returns the :class:`~pylaunchd.jobspec.SocketSpec` fields
it sets; :func:`_reconcile` then checks the keys against each other
(``SockPathName`` against ``SockFamily``, ``SecureSocketWithKey`` against the
address keys, ``MulticastGroup`` against ``SockType``) the way launchd does.
"""

from __future__ import annotations

import os


from .jobspec import SocketGroupSpec, SocketSpec
from .plistvalues import Reader

TYPE_CHECKING = False  # typing is not imported on the way to the first spawn
if TYPE_CHECKING:
    from typing import Any, Callable

    Fields = dict[str, Any]

__all__ = ["SOCKET_KEYS", "SOCKET_IGNORED_KEYS", "read_sockets"]

_SOCK_TYPES = {"stream": "stream", "dgram": "dgram", "seqpacket": "seqpacket"}
_SOCK_FAMILIES = {"ipv4": "IPv4", "ipv6": "IPv6", "ipv4v6": "IPv4v6", "unix": "Unix"}
_SOCK_PROTOCOLS = {"tcp": "TCP", "udp": "UDP"}


def read_sockets(r: Reader, value: Any) -> tuple[SocketGroupSpec, ...]:
    """The ``Sockets`` dictionary: one group per name, in the plist's order."""
    groups = r.dictionary("Sockets", value)
    out = []
    for name, entry in groups.items():
        where = f"Sockets.{name}"
        if not name:
            r.error(where, "a non-empty socket name", name)
        if ":" in name:
            r.error(where, "a socket name without ':' (LISTEN_FDNAMES separates names with ':')", name)
        if isinstance(entry, dict):
            dicts = [(where, entry)]
        elif isinstance(entry, list):
            if not entry:
                r.error(where, "a socket dictionary or a non-empty array of them", entry)
            dicts = [(f"{where}[{i}]", d) for i, d in enumerate(entry)]
        else:
            r.error(where, "a socket dictionary or an array of socket dictionaries", entry)
        out.append(SocketGroupSpec(name=name, sockets=tuple(_socket(r, w, d) for w, d in dicts)))
    return tuple(out)


def _socket(r: Reader, where: str, d: Any) -> SocketSpec:
    fields: Fields = {}
    for k, v in r.dictionary(where, d).items():
        canonical = r.canonical(f"{where}.", k, _SOCKET_BY_LOWER)
        if canonical is None:
            continue
        kp = f"{where}.{canonical}"
        if canonical in SOCKET_IGNORED_KEYS:
            r.warn(kp, f"accepted and ignored: {SOCKET_IGNORED_KEYS[canonical]}")
        else:
            fields.update(_READERS[canonical](r, kp, v))
    _reconcile(r, where, fields)
    return SocketSpec(**fields)


# --------------------------------------------------------------------------
# One reader per key: (reader, key path, value) -> the SocketSpec fields it sets


def _service(r: Reader, kp: str, v: Any) -> Fields:
    if isinstance(v, int) and not isinstance(v, bool):
        if not 0 <= v <= 65535:
            r.error(kp, "a port number from 0 to 65535", v)
        return {"service": str(v)}
    if isinstance(v, str) and v:
        return {"service": v}
    r.error(kp, "a port number or a service name from /etc/services", v)


def _path(r: Reader, kp: str, v: Any) -> Fields:
    path = r.string(kp, v)
    if not path:
        r.error(kp, "a path for the unix socket", v)
    if len(os.fsencode(path)) > 107:
        r.error(kp, "a path of at most 107 bytes (the kernel's limit for unix sockets)",
                found=f"{len(os.fsencode(path))} bytes")
    return {"path": path}


def _path_mode(r: Reader, kp: str, v: Any) -> Fields:
    mode = r.integer(kp, v)
    if not 0 <= mode <= 0o177777:
        r.error(kp, "a file mode, written in decimal (438 for 0666)", v)
    if mode > 0o777 and mode & 0o170000 == 0 and set(str(mode)) <= set("01234567"):
        r.warn(kp, f"{mode} looks like an octal mode written in decimal; plists are decimal: "
                   f"did you mean 0{mode} (write {int(str(mode), 8)})?")
    return {"path_mode": mode & 0o7777}


def _owner_id(field: str) -> Callable[[Reader, str, Any], Fields]:
    def read(r: Reader, kp: str, v: Any) -> Fields:
        ident = r.integer(kp, v)
        if ident < 0:
            r.error(kp, "a numeric user or group id", v)
        return {field: ident}
    return read


def _secure_key(r: Reader, kp: str, v: Any) -> Fields:
    name = r.string(kp, v)
    if not name or "=" in name or "\0" in name:
        r.error(kp, "the name of an environment variable (such as SSH_AUTH_SOCK)", v)
    return {"secure_key": name}


def _bonjour(r: Reader, kp: str, v: Any) -> Fields:
    if isinstance(v, bool):
        names = ("",) if v else ()
    elif isinstance(v, str):
        names = (v,)
    else:
        names = r.string_array(kp, v)
    if names:
        r.warn(kp, "accepted and not advertised: pylaunchd has no mDNS responder client yet "
                   "(Avahi's D-Bus API would be the way); the socket works as usual")
    return {"bonjour": names}


_READERS: dict[str, Callable[[Reader, str, Any], Fields]] = {
    "SockType": lambda r, kp, v: {"type": r.choice(kp, v, _SOCK_TYPES, "one of stream, dgram, seqpacket")},
    "SockPassive": lambda r, kp, v: {"passive": r.boolean(kp, v)},
    "SockFamily": lambda r, kp, v: {"family": r.choice(kp, v, _SOCK_FAMILIES, "one of IPv4, IPv6, IPv4v6, Unix")},
    "SockProtocol": lambda r, kp, v: {"protocol": r.choice(kp, v, _SOCK_PROTOCOLS, "one of TCP, UDP")},
    "SockNodeName": lambda r, kp, v: {"node": r.string(kp, v)},
    "SockServiceName": _service,
    "SockPathName": _path,
    "SockPathMode": _path_mode,
    "SockPathOwner": _owner_id("path_owner"),
    "SockPathGroup": _owner_id("path_group"),
    "SecureSocketWithKey": _secure_key,
    "MulticastGroup": lambda r, kp, v: {"multicast_group": r.string(kp, v)},
    "Bonjour": _bonjour,
}

SOCKET_KEYS = set(_READERS)
SOCKET_IGNORED_KEYS = {
    "ReceivePacketInfo": "undocumented launchd key",
    # Mac OS X 10.3's name for Bonjour (openlaunchd's ftp.plist has it); launchd
    # 842 no longer reads it either
    "Rendezvous": "the name Bonjour had before Mac OS X 10.4; not advertised, the socket works as usual",
}
_SOCKET_BY_LOWER = {k.lower(): k for k in SOCKET_KEYS | set(SOCKET_IGNORED_KEYS)}


# --------------------------------------------------------------------------
# The keys against each other


def _reconcile(r: Reader, where: str, fields: Fields) -> None:
    """Check and settle the address keys of one socket, in place."""
    if "secure_key" in fields:
        if "path" in fields:
            r.warn(where, "SecureSocketWithKey is set: SockPathName is ignored (a fresh private path is made)")
            fields.pop("path")
        fields.pop("service", None)
        fields.pop("node", None)
        fields["family"] = "Unix"
    elif "path" in fields:
        if fields.get("family") not in (None, "Unix"):
            r.error(f"{where}.SockFamily", "Unix (or no SockFamily) with SockPathName", fields["family"])
        if "service" in fields or "node" in fields:
            r.warn(where, "SockPathName is set: SockNodeName and SockServiceName are ignored")
            fields.pop("service", None)
            fields.pop("node", None)
        fields["family"] = "Unix"
    elif fields.get("family") == "Unix":
        r.error(f"{where}.SockPathName", "a path for a socket of family Unix", found="no SockPathName")
    elif "service" not in fields:
        r.error(f"{where}.SockServiceName", "a port or service name (or SockPathName for a unix socket)",
                found="neither key")
    if fields.get("protocol") == "UDP" and fields.get("type", "stream") == "stream":
        fields["type"] = "dgram"
    if "multicast_group" in fields and fields.get("type", "stream") != "dgram":
        r.error(f"{where}.SockType", "dgram with MulticastGroup", fields.get("type", "stream"))
