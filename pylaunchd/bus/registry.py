"""Which job serves which D-Bus name, and what each name is doing: pure state.

The :class:`BusRegistry` is told what happened (a job's names changed, a
name was requested, its owner changed, the job's process ended) and answers
with what follows: the names whose ``.service`` files to write or remove, the
names whose waiting callers must be failed. It never touches the bus, a file
or a process, so its rules are tested with plain values
(``tests/test_bus_logic.py``).

A name's state, as ``pylaunchctl print`` shows it (:func:`BusRegistry.state`):

* ``activatable`` — its file is written; a call starts the job;
* ``starting`` — a call asked for it and the job has not taken it yet;
* ``owned`` — the job's process owns it;
* ``owned by another process`` — something that is not the job took it first
  (warned, not fought over: D-Bus has no way to take a name back);
* ``hidden until check-in`` — ``HideUntilCheckIn``: no file until the job
  has run and owned the name once under this definition (launchd's check-in);
  then it is activatable like the others;
* ``not registered: WHY`` — no file (another program's file is there, the
  directory cannot be written, the bus has another activator).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..jobspec import BusNameSpec

ACTIVATABLE, STARTING, OWNED, SQUATTED, HIDDEN = (
    "activatable", "starting", "owned", "owned by another process", "hidden until check-in")


@dataclass
class NameState:
    name: str
    label: str
    hidden: bool = False  # HideUntilCheckIn
    checked_in: bool = False  # the job has owned it under this definition (a hidden name is activatable since)
    owner: str | None = None  # the owner's unique connection name (:1.N)
    owner_pid: int | None = None
    owned_by_job: bool | None = None  # None until the owner's PID is known
    activations: int = 0  # calls that started (or asked to start) the job for this name
    last_activation: float | None = None  # Unix time
    pending: bool = False  # requested, not yet owned
    again: bool = False  # requested while the job was stopping: start it again once it has exited
    not_registered: str | None = None  # why no .service file is there

    @property
    def reachable(self) -> bool:
        """Activatable when the job does not run: not hidden, or checked in."""
        return not self.hidden or self.checked_in


@dataclass
class BusRegistry:
    names: dict[str, NameState] = field(default_factory=dict)
    by_label: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def conflict(self, label: str, specs: tuple[BusNameSpec, ...]) -> tuple[str, str] | None:
        """(name, the other job's label) when another job serves one of *specs*' names."""
        for s in specs:
            held = self.names.get(s.name)
            if held is not None and held.label != label:
                return s.name, held.label
        return None

    def set_job(self, label: str, specs: tuple[BusNameSpec, ...]) -> tuple[list[str], list[str]]:
        """Job *label* serves these names now: (names whose file to write, to remove)."""
        old = set(self.by_label.get(label, ()))
        new = {s.name: s for s in specs if self.conflict(label, (s,)) is None}
        removed = sorted(old - set(new))
        for name in removed:
            del self.names[name]
        write, drop = [], list(removed)
        for name, s in new.items():
            st = self.names.get(name)
            if st is None:
                st = self.names[name] = NameState(name, label)
            was = name in old and st.reachable
            st.hidden, st.checked_in = s.hide_until_check_in, False  # a new definition checks in anew
            if st.reachable and not was:
                write.append(name)
            elif not st.reachable and (was or name not in old):
                drop.append(name)
        if new:
            self.by_label[label] = tuple(sorted(new))
        else:
            self.by_label.pop(label, None)
        return sorted(write), sorted(drop)

    def remove_job(self, label: str) -> tuple[list[str], list[str]]:
        """The job is gone: (names whose files to remove, names with waiting callers)."""
        names = self.by_label.pop(label, ())
        pending = [n for n in names if self.names[n].pending]
        for n in names:
            del self.names[n]
        return list(names), pending

    def job_names(self, label: str) -> list[NameState]:
        return [self.names[n] for n in self.by_label.get(label, ())]

    def requested(self, name: str, now: float) -> NameState | None:
        """A caller is waiting for *name* (an ActivationRequest)."""
        st = self.names.get(name)
        if st is not None:
            st.activations += 1
            st.last_activation = now
            st.pending = st.owner is None
        return st

    def owner_changed(self, name: str, owner: str | None) -> NameState | None:
        """NameOwnerChanged (or GetNameOwner's answer): *owner* is the new unique name, or None."""
        st = self.names.get(name)
        if st is None:
            return None
        if owner != st.owner:
            st.owner, st.owner_pid, st.owned_by_job = owner, None, None
        if owner is not None:
            st.pending = False  # dbus-daemon hands the waiting calls to whoever took it
        return st

    def owner_pid(self, name: str, owner: str, pid: int | None, by_job: bool) -> NameState | None:
        st = self.names.get(name)
        if st is None or st.owner != owner:
            return None  # the owner changed again meanwhile
        st.owner_pid, st.owned_by_job = pid, by_job
        return st

    def check_in(self, name: str) -> bool:
        """The job owns *name*: True when that makes a hidden name activatable (write its file)."""
        st = self.names.get(name)
        if st is None or st.reachable:
            return False
        st.checked_in = True
        return True

    def ended(self, label: str) -> tuple[list[str], list[str]]:
        """The job's process ended: (the names whose callers are failed, the names
        to ask for again: requested while it was being stopped, as a socket's
        client waits in the queue for the next start)."""
        fail, again = [], []
        for st in self.job_names(label):
            if st.pending:
                st.pending = False
                (again if st.again else fail).append(st.name)
            st.again = False
        return fail, again

    def pending(self, label: str) -> list[str]:
        return [st.name for st in self.job_names(label) if st.pending]

    @staticmethod
    def state(st: NameState, registration_problem: str | None = None) -> str:
        if st.owner is not None:
            return OWNED if st.owned_by_job is not False else SQUATTED
        if st.pending:
            return STARTING
        if not st.reachable:
            return HIDDEN
        why = st.not_registered or registration_problem
        return f"not registered: {why}" if why else ACTIVATABLE
