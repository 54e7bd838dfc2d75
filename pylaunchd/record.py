"""Records: what the job's data model needs of dataclasses, without ``import dataclasses``.

The job's model (:mod:`pylaunchd.jobspec`, :mod:`pylaunchd.socketspec`, the
calendar's intervals, the spawn plan) is built on the way to the first
socket and the first spawn. ``import dataclasses`` brings inspect, ast,
dis, tokenize and re with it: about a sixth of what boot did before its
first spawn. A record is declared as a dataclass is, by annotated fields
with optional defaults (``field(default_factory=..., compare=False)`` as
dataclasses spells it), and gets what ``@dataclass(slots=True)`` gives:

* ``__slots__``, one per field, in order;
* ``__init__`` by position or keyword, generated once per class as
  dataclasses generates it (a record costs what a dataclass costs to
  make); a field without a default is required and comes before those
  with one; ``__post_init__`` runs last when the class has one;
* equality by value with a record of the same class, over the fields not
  declared ``compare=False``; a ``repr`` of every field; copy and pickle
  by value;
* :class:`Record` is frozen (assignment raises AttributeError, the hash is
  the compared fields'); :class:`MutableRecord` is not, and not hashable,
  as a dataclass without ``frozen``.

:func:`replace` is ``dataclasses.replace``; :func:`copy` a shallow copy that
runs no ``__init__``. ``tests/test_record.py`` checks each promise beside a
dataclass declared alike.

The control protocol's replies have records of their own
(:class:`pylaunchd.control.status.Record`): JSON both ways, fields inherited,
and no code generated, since pylaunchctl defines ten of them at every start
(a generated ``__init__`` costs about 0.1 ms a class); these are made by
the thousand, where a generic ``__init__`` would cost more than that.
"""

from __future__ import annotations

from operator import attrgetter

__all__ = ["Record", "MutableRecord", "field", "replace", "copy"]

_MISSING = object()  # no default; or, given to __init__, "make one with the factory"


class _Field:
    __slots__ = ("default", "factory", "compare")

    def __init__(self, default, factory, compare: bool):
        self.default, self.factory, self.compare = default, factory, compare


def field(*, default=_MISSING, default_factory=None, compare: bool = True):
    """A field's declaration beyond its default, as ``dataclasses.field``."""
    return _Field(default, default_factory, compare)


class _RecordType(type):
    """Turns a class body's annotated fields into ``__slots__`` and an ``__init__``."""

    def __new__(mcls, name, bases, ns, **kwargs):
        names = [n for n in ns.get("__annotations__", {}) if not n.startswith("__")]
        defaults, factories, uncompared = {}, {}, set()
        for n in names:
            if n not in ns:
                continue
            value = ns.pop(n)  # a class attribute would hide the slot
            if isinstance(value, _Field):
                if value.default is not _MISSING:
                    defaults[n] = value.default
                if value.factory is not None:
                    factories[n] = value.factory
                if not value.compare:
                    uncompared.add(n)
            else:
                defaults[n] = value
        ns["__slots__"] = tuple(names)
        cls = super().__new__(mcls, name, bases, ns, **kwargs)
        compared = [n for n in names if n not in uncompared]
        # one C call for ==, hash and _values (a generator of getattrs cost several times more)
        cls._COMPARED = staticmethod(attrgetter(*compared) if compared else (lambda _record: ()))
        cls._VALUES = staticmethod(attrgetter(*names) if len(names) > 1
                                   else (lambda r: tuple(getattr(r, n) for n in names)))
        cls.__init__ = _generated_init(cls, names, defaults, factories)
        return cls


def _generated_init(cls: type, names: list[str], defaults: dict, factories: dict):
    """``__init__`` for *names*, compiled once (as dataclasses does)."""
    params, body = [], []
    for name in names:
        if name in factories:
            params.append(f"{name}=_MISSING")
            body.append(f"    _set(self, {name!r}, _factories[{name!r}]() if {name} is _MISSING else {name})")
        else:
            params.append(f"{name}=_defaults[{name!r}]" if name in defaults else name)
            body.append(f"    _set(self, {name!r}, {name})")
    if hasattr(cls, "__post_init__"):
        body.append("    self.__post_init__()")
    source = f"def __init__(self{''.join(', ' + p for p in params)}):\n" + ("\n".join(body) or "    pass") + "\n"
    namespace = {"_set": object.__setattr__, "_defaults": defaults, "_factories": factories, "_MISSING": _MISSING}
    exec(compile(source, f"<record {cls.__qualname__}>", "exec"), namespace)
    init = namespace["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    return init


class _Fields(metaclass=_RecordType):
    def _values(self) -> tuple:
        return self._VALUES(self)

    def __eq__(self, other):
        if other.__class__ is not self.__class__:
            return NotImplemented
        compared = self._COMPARED
        return compared(self) == compared(other)

    def __repr__(self) -> str:
        return f"{type(self).__qualname__}({', '.join(f'{n}={getattr(self, n)!r}' for n in self.__slots__)})"

    def __reduce__(self):
        return (self.__class__, self._values())


class Record(_Fields):
    """A frozen record (``@dataclass(frozen=True, slots=True)``)."""

    def __hash__(self):
        return hash(self._COMPARED(self))

    def __setattr__(self, name, value):
        raise AttributeError(f"cannot assign to field {name!r} of a frozen {type(self).__name__}")

    def __delattr__(self, name):
        raise AttributeError(f"cannot delete field {name!r} of a frozen {type(self).__name__}")


class MutableRecord(_Fields):
    """A record whose fields may change (``@dataclass(slots=True)``): not hashable."""

    __hash__ = None  # type: ignore[assignment]


def replace(record, **changes):
    """A copy of *record* with *changes* (``dataclasses.replace``)."""
    values = dict(zip(record.__slots__, record._values()))
    for name in changes:
        if name not in values:
            raise TypeError(f"{type(record).__name__} has no field {name!r}")
    values.update(changes)
    return type(record)(**values)


def copy(record):
    """A shallow copy of *record*, field by field (no ``__init__``, no ``__post_init__``)."""
    new = object.__new__(type(record))
    for name in record.__slots__:
        object.__setattr__(new, name, getattr(record, name))
    return new
