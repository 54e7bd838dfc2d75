"""Re-exec: the manager writes its state and execs the code now installed,
keeping its PID, its sockets, its children and their history.

``pylaunchctl reexec`` or SIGUSR2 (nginx's and unicorn's signal for a binary
upgrade; SIGTERM, systemd's own re-exec signal as PID 1, is pylaunchd's
shutdown, and SIGUSR1 is left for systemd's other meaning, reconnecting to
the bus). The steps, one module each:

* :mod:`.state` — the versioned, JSON state file: what each job's machine,
  timers, sockets, pipes and readiness were; the domain's ``setenv``
  variables, forced plists, deferred loads, orphans. Pure.
* :mod:`.handoff` — what crosses the exec beside the file: the inherited
  descriptors (control socket, its lock, the notify socket, every job
  socket, every output pipe), named in one environment variable, and the
  pool of inherited sockets that boot.py and the job table take from by
  address instead of binding. Standard library only: boot.py imports it.
* :mod:`.exec` — the old process: write the state, check in a fresh
  interpreter (:mod:`.check`) that the installed code imports and reads the
  state (else refuse, and nothing changes), then clear close-on-exec on
  exactly the handed-over descriptors and ``execve`` the same command line.
* :mod:`.restore` — the new process: every job loaded again from its plist
  (or its submitted definition) with the inherited sockets, and its machine,
  timers, pipes and children restored; with a state it cannot read, the
  plists are loaded, the sockets adopted by address and the running children
  by PID (their ``PYLAUNCHD_LABEL``).

The bus: a manager connected to a message bus re-connects after the exec
(:meth:`pylaunchd.manager.Manager.after_reexec` is the hook); the bus's
sockets are not handed over.
"""
