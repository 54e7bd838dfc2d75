"""D-Bus activation: MachServices names served on demand through a real dbus-daemon.

* :mod:`.names` — well-known names, ``.service`` file text, error names (pure);
* :mod:`.keys` — the ``MachServices`` plist reader (pure);
* :mod:`.registry` — which job serves which name, and each name's state (pure);
* :mod:`.servicedir` — writes and removes the ``.service`` files pylaunchd owns;
* :mod:`.bridge` — the connection to the bus (jeepney on the manager's asyncio loop);
* :mod:`.locate` — the bus's socket path, the variables jobs get, whose process a connection is;
* :mod:`.thirdparty` — installed third-party ``.service`` files, read as dbus-daemon reads them;
* :mod:`.transient` — a third party's installed ``.service`` file run as a job;
* :mod:`.hub` — the glue: the table's jobs, the registry, the files and the bridge.

Nothing here imports jeepney but :mod:`.bridge`, which the hub imports only
when the domain has a bus to speak to; pylaunchctl imports only the pure parts.
"""
