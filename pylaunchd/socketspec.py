"""The ``Sockets`` part of a job's data model: what a socket is, as written in the plist.

Apart from :mod:`pylaunchd.jobspec` (which re-exports both) so that boot's
binder (:mod:`pylaunchd.boot`) creates sockets from its cache without
building the rest of the job's model. Frozen records written by hand, not
dataclasses: ``import dataclasses`` (with inspect, ast and dis) is about a
third of what the manager imported before its first socket listened, and
nothing else on that path needs it. They behave as frozen dataclasses:
keyword or positional construction with defaults, equality and hash by
value, immutable, copied and pickled by value.
"""

from __future__ import annotations

from operator import attrgetter


class _Record:
    """The frozen-dataclass behaviour of the classes below: fields in
    ``__slots__``, defaults in ``_DEFAULTS``. Each class keeps its slots'
    setters and one getter of all its fields: a warm boot makes a record
    per cached socket, and the table compares them with its own."""

    __slots__ = ()
    _DEFAULTS: dict = {}
    _SETTERS: tuple = ()
    _get = tuple  # the fields' values: each class's own (__init_subclass__)

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        cls._SETTERS = tuple(cls.__dict__[name].__set__ for name in cls.__slots__)
        assert len(cls.__slots__) > 1  # attrgetter of one name gives the value, not a tuple
        cls._get = attrgetter(*cls.__slots__)  # not a function: no method binding

    def __init__(self, *args, **kwargs):
        if kwargs or len(args) != len(self._SETTERS):
            args = self._keywords(kwargs) if not args else self._complete(args, kwargs)
        for put, value in zip(self._SETTERS, args):
            put(self, value)

    @classmethod
    def _keywords(cls, kwargs: dict) -> tuple:
        """Every field's value from keywords only (the validator's way), the rest
        defaults; anything unusual is left to _complete, which words the error."""
        values = {**cls._DEFAULTS, **kwargs}
        if len(values) == len(cls._SETTERS):  # else a keyword that is no field
            try:
                return tuple(map(values.__getitem__, cls.__slots__))
            except KeyError:  # a field without a value (and a keyword that is none)
                pass
        return cls._complete((), kwargs)

    @classmethod
    def _complete(cls, args: tuple, kwargs: dict) -> tuple:
        """Every field's value, from some positional, some keyword, the rest defaults."""
        names = cls.__slots__
        if len(args) > len(names):
            raise TypeError(f"{cls.__name__}() takes at most {len(names)} arguments")
        values = dict(zip(names, args))
        for key, value in kwargs.items():
            if key not in names or key in values:
                raise TypeError(f"{cls.__name__}() got an unexpected or repeated argument {key!r}")
            values[key] = value
        missing = [n for n in names if n not in values and n not in cls._DEFAULTS]
        if missing:
            raise TypeError(f"{cls.__name__}() missing argument {missing[0]!r}")
        return tuple(values[n] if n in values else cls._DEFAULTS[n] for n in names)

    def _values(self) -> tuple:
        return self._get(self)

    def __eq__(self, other):
        if other.__class__ is not self.__class__:
            return NotImplemented
        return self._get(self) == other._get(other)

    def __hash__(self):
        return hash(self._get(self))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(f'{n}={getattr(self, n)!r}' for n in self.__slots__)})"

    def __setattr__(self, name, value):
        raise AttributeError(f"cannot assign to field {name!r} of a frozen {type(self).__name__}")

    def __delattr__(self, name):
        raise AttributeError(f"cannot delete field {name!r} of a frozen {type(self).__name__}")

    def __reduce__(self):
        return (self.__class__, self._values())


class SocketSpec(_Record):
    """One dictionary of a ``Sockets`` group, as written in the plist:
    ``type`` stream | dgram | seqpacket; ``family`` IPv4 | IPv6 | IPv4v6 |
    Unix | None (every resolved family); ``protocol`` TCP | UDP | None;
    ``secure_key`` (SecureSocketWithKey) the variable that exports the path."""

    __slots__ = ("type", "passive", "family", "protocol", "node", "service", "path", "path_mode", "path_owner",
                 "path_group", "secure_key", "multicast_group", "bonjour")
    _DEFAULTS = {"type": "stream", "passive": True, "family": None, "protocol": None, "node": None,
                 "service": None, "path": None, "path_mode": None, "path_owner": None, "path_group": None,
                 "secure_key": None, "multicast_group": None, "bonjour": ()}

    type: str
    passive: bool
    family: str | None
    protocol: str | None
    node: str | None
    service: str | None
    path: str | None
    path_mode: int | None
    path_owner: int | None
    path_group: int | None
    secure_key: str | None
    multicast_group: str | None
    bonjour: tuple[str, ...]

    @property
    def is_unix(self) -> bool:
        return self.path is not None or self.family == "Unix" or self.secure_key is not None


class SocketGroupSpec(_Record):
    """A named entry of ``Sockets``: one or more socket dictionaries."""

    __slots__ = ("name", "sockets")

    name: str
    sockets: tuple[SocketSpec, ...]
