"""Plist values as a user reads them: names, problems and typed getters.

This module must not import any other pylaunchd module (only the standard
library): ``jobspec``, ``validate``, ``socketkeys``, ``calendar`` and ``lint``
all import it, and it is what keeps them free of import cycles (the way
supervisor's ``states.py`` is a leaf).

* :func:`describe` names a value the way a user reads their file
  (``string "yes"``, ``array of 2 items``);
* :class:`Problem` is one finding about a key: a level (:data:`ERROR`,
  :data:`WARNING`, :data:`NOTE`), a key path and a message;
* :class:`SpecError` is the error that keeps a job from loading;
* :class:`Reader` reads typed values and collects warnings.
"""

from __future__ import annotations

import datetime

TYPE_CHECKING = False  # typing is not imported on the way to the first spawn
if TYPE_CHECKING:
    from typing import Any, NoReturn

__all__ = ["ERROR", "WARNING", "NOTE", "describe", "Problem", "SpecError", "Reader"]

ERROR, WARNING, NOTE = "error", "warning", "note"


def describe(value: Any) -> str:
    """Name a plist value the way a user reads their file: ``string "yes"``."""
    if value is None:
        return "no value (an empty <plist> element, or a root that is not <plist>)"
    if isinstance(value, bool):
        return f"boolean {'true' if value else 'false'}"
    if isinstance(value, int):
        if value.bit_length() > 64:  # a hex <integer> may be any size; str() refuses past 4300 digits
            return f"integer of {value.bit_length()} bits (more than a plist's 64)"
        return f"integer {value}"
    if isinstance(value, float):
        return f"real {value}"
    if isinstance(value, str):
        shown = value if len(value) <= 60 else value[:57] + "..."
        return f'string "{shown}"'
    if isinstance(value, dict):
        return f"dictionary with {len(value)} key{'s' if len(value) != 1 else ''}"
    if isinstance(value, list):
        return f"array of {len(value)} item{'s' if len(value) != 1 else ''}"
    if isinstance(value, (bytes, bytearray)):
        return "data"
    if isinstance(value, datetime.datetime):
        return "date"
    return type(value).__name__


class Problem(str):
    """One problem about one key: ``level``, ``key_path`` and ``message``.

    Its text, ``str(problem)``, is ``"key_path: message"`` (only ``message``
    when the key path is empty): what the manager logs and ``pylaunchctl
    print`` shows. Readers that need the parts (``lint``) read the fields
    instead of splitting the text again.

    Why a ``str`` subclass rather than a plain dataclass: ``JobSpec.warnings``
    was a tuple of such strings, and its readers (the control protocol's JSON,
    log lines, tests comparing ``w == "Frobnicate: unknown key, ignored"`` or
    calling ``w.startswith(...)``) keep working unchanged. Equality and hashing
    are the text's, so two problems are equal when they read the same.
    Immutable, like the str it is.
    """

    level: str
    key_path: str
    message: str

    def __new__(cls, level: str, key_path: str, message: str) -> Problem:
        self = super().__new__(cls, f"{key_path}: {message}" if key_path else message)
        for name, value in (("level", level), ("key_path", key_path), ("message", message)):
            object.__setattr__(self, name, value)
        return self

    def __setattr__(self, name: str, value: Any) -> NoReturn:
        raise AttributeError(f"Problem is immutable: cannot set {name}")

    def __delattr__(self, name: str) -> NoReturn:
        raise AttributeError(f"Problem is immutable: cannot delete {name}")

    def __getnewargs__(self) -> tuple[str, str, str]:  # copy and pickle
        return self.level, self.key_path, self.message

    def __reduce__(self):
        return type(self), self.__getnewargs__()

    def __repr__(self) -> str:
        return f"Problem({self.level!r}, {self.key_path!r}, {self.message!r})"


class SpecError(Exception):
    """A job plist that cannot be loaded. ``str()`` is the one-line message."""

    def __init__(self, path: str, key_path: str, expected: str, found: str):
        self.path = path
        self.key_path = key_path
        self.expected = expected
        self.found = found
        where = f"{path}: {key_path}" if key_path else path
        super().__init__(f"{where}: expected {expected}, found {found}")

    def problem(self) -> Problem:
        """The error as a :class:`Problem` (without the file name)."""
        return Problem(ERROR, self.key_path, f"expected {self.expected}, found {self.found}")


class Reader:
    """Reads typed plist values of one file.

    A value of the wrong type raises :class:`SpecError` with the file name
    filled in; what launchd tolerates is collected in :attr:`problems` as
    warnings, in the order found.
    """

    def __init__(self, path: str):
        self.path = path
        self.problems: list[Problem] = []

    def error(self, key_path: str, expected: str, value: Any = None, found: str | None = None) -> NoReturn:
        raise SpecError(self.path, key_path, expected, found if found is not None else describe(value))

    def warn(self, key_path: str, message: str) -> None:
        self.problems.append(Problem(WARNING, key_path, message))

    # typed getters ---------------------------------------------------------
    def string(self, key_path: str, value: Any) -> str:
        if not isinstance(value, str):
            self.error(key_path, "a string", value)
        return value

    def boolean(self, key_path: str, value: Any) -> bool:
        if not isinstance(value, bool):
            hint = ""
            if isinstance(value, str) and value.lower() in ("true", "false", "yes", "no"):
                hint = f" (write <{'true' if value.lower() in ('true', 'yes') else 'false'}/>)"
            self.error(key_path, "a boolean (<true/> or <false/>)", found=describe(value) + hint)
        return value

    def integer(self, key_path: str, value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            self.error(key_path, "an integer", value)
        return value

    def dictionary(self, key_path: str, value: Any) -> dict:
        if not isinstance(value, dict):
            self.error(key_path, "a dictionary", value)
        return value

    def string_array(self, key_path: str, value: Any) -> tuple[str, ...]:
        if not isinstance(value, list):
            self.error(key_path, "an array of strings", value)
        for i, item in enumerate(value):
            if not isinstance(item, str):
                self.error(f"{key_path}[{i}]", "a string", item)
        return tuple(value)

    def choice(self, key_path: str, value: Any, by_lower: dict[str, str], expected: str) -> str:
        """A string matched case-insensitively against *by_lower*'s keys."""
        s = self.string(key_path, value)
        if s.lower() not in by_lower:
            self.error(key_path, expected, value)
        return by_lower[s.lower()]

    def canonical(self, key_path_prefix: str, key: Any, by_lower: dict[str, str]) -> str | None:
        """Return the canonical spelling of *key*, or None for an unknown key (warned)."""
        if not isinstance(key, str):
            return None
        canonical = by_lower.get(key.lower())
        if canonical == key:
            return canonical
        where = f"{key_path_prefix}{key}"
        if canonical is None:
            import difflib  # here: only for an unknown key
            close = difflib.get_close_matches(key, list(by_lower.values()), n=1, cutoff=0.8)
            hint = f'; did you mean "{close[0]}"?' if close else ""
            self.warn(where, f"unknown key, ignored{hint}")
            return None
        if canonical != key:
            self.warn(where, f'key matched case-insensitively as "{canonical}", as launchd does; '
                             f'did you mean "{canonical}"?')
        return canonical
