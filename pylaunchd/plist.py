"""Reading launchd property lists (XML or binary) with the standard library.

An XML plist is read by :mod:`pylaunchd.plistxml` (plistlib's algorithm, quicker)
and by plistlib itself when that reader is unsure (binary plists, errors, dates).

Every error names the file, so a message can be shown to the user as it is.
"""

from __future__ import annotations

import os

TYPE_CHECKING = False  # typing is not imported on the way to the first socket (boot lists plists here)
if TYPE_CHECKING:
    from typing import Any


class PlistError(Exception):
    """A job file could not be read as a property list."""

    def __init__(self, path: str, message: str):
        super().__init__(f"{path}: {message}")
        self.path = path
        self.message = message


MAX_PLIST_BYTES = 4 * 1024 * 1024


def read_plist(path: str) -> Any:
    """Return the top-level object of the property list at *path*.

    XML and binary plists are both accepted (plistlib detects the format).
    """
    try:
        with open(path, "rb", buffering=0) as f:
            data = read_limited(f.fileno(), os.fstat(f.fileno()).st_size)
    except OSError as e:
        raise PlistError(path, f"cannot read file: {e.strerror}") from None
    return parse_plist(path, data)


def read_limited(fd: int, size: int) -> bytes:
    """At most MAX_PLIST_BYTES + 1 bytes of an open file whose size is
    probably *size*: one read of that size (a read of the limit itself
    allocates 4 MiB, which took longer than the parse of a small plist),
    more while the file turns out longer."""
    chunks = [os.read(fd, min(size, MAX_PLIST_BYTES) + 1)]
    total = len(chunks[0])
    while chunks[-1] and total <= MAX_PLIST_BYTES:
        chunks.append(os.read(fd, min(MAX_PLIST_BYTES + 1 - total, 1 << 16)))
        total += len(chunks[-1])
    return b"".join(chunks)


def parse_plist(path: str, data: bytes) -> Any:
    """The top-level object of *data*, the bytes read from *path* (at most
    MAX_PLIST_BYTES + 1 of them: more is refused)."""
    if len(data) > MAX_PLIST_BYTES:
        raise PlistError(path, f"file is larger than {MAX_PLIST_BYTES} bytes; not a job plist")
    from . import plistxml  # here: boot's binder lists and reads plists before any is parsed

    value = plistxml.loads(data)  # the common case, quicker; plistlib for anything else
    if value is not plistxml.UNSURE:
        return value
    if not data.strip():
        raise PlistError(path, "file is empty; expected a property list")
    top = _parse(data, path)
    _check_keys(top, path)  # plistxml's XML has string keys and no cycles; a binary plist may not
    return top


def _parse(data: bytes, path: str) -> Any:
    import plistlib  # here: plistxml read the usual plists, and boot's path stays lighter
    import xml.parsers.expat

    try:
        try:
            return plistlib.loads(data)
        except (xml.parsers.expat.ExpatError, plistlib.InvalidFileException):
            lenient = _lenient_xml(data)
            if lenient is None:
                raise
            return plistlib.loads(lenient)  # what CoreFoundation's parser reads, as launchd does
    except LookupError as e:  # <?xml encoding="..."?> names no codec Python knows
        raise PlistError(path, f"malformed XML property list: {e}") from None
    except AttributeError:  # plistlib's date parser, on a <date> it cannot match
        raise PlistError(path, "invalid property list: a <date> not written as YYYY-MM-DDTHH:MM:SSZ") from None
    except RecursionError:  # binary plists are read recursively
        raise PlistError(path, "invalid property list: nested too deep, or an object that contains itself") from None
    except xml.parsers.expat.ExpatError as e:
        raise PlistError(path, f"malformed XML property list: {e}{_why(str(e))}") from None
    except plistlib.InvalidFileException as e:
        raise PlistError(path, f"not a property list (XML or binary): {e}") from None
    except (ValueError, TypeError, KeyError, IndexError, OverflowError) as e:
        raise PlistError(path, f"invalid property list: {e}") from None


def _check_keys(top: Any, path: str) -> None:
    """Every dictionary key a string, as launchd's keys are, and no object
    inside itself: a binary plist may hold any object as a key, and its
    references can make a cycle (an array that contains itself). Walked
    without recursion, each container once (shared ones are fine); a place
    is a chain of (key, parent) links, spelled out only for the error."""
    seen: set[int] = set()
    on_path: set[int] = set()
    stack: list[tuple[Any, tuple | None, bool]] = [(top, None, False)]
    while stack:
        value, place, leaving = stack.pop()
        if leaving:
            on_path.discard(id(value))
            continue
        if not isinstance(value, (dict, list)):
            continue
        if id(value) in on_path:
            raise PlistError(path, f"invalid property list: {_spell(place) or 'the top level'} refers back to an "
                                   f"array or dictionary that holds it (a cycle)")
        if id(value) in seen:
            continue
        seen.add(id(value))
        on_path.add(id(value))
        stack.append((value, place, True))
        items = value.items() if isinstance(value, dict) else enumerate(value)
        for k, v in items:
            if isinstance(value, dict) and not isinstance(k, str):
                at = f"a key of {_spell(place)}" if place else "a key at the top level"
                raise PlistError(path, f"invalid property list: {at} is {type(k).__name__} {k!r:.40}, not a string")
            stack.append((v, (k, place), False))


def _spell(place: tuple | None) -> str:
    """A place as a key path: ``Sockets.Listeners[0]``."""
    parts = []
    while place is not None:
        key, place = place
        parts.append(f".{key}" if isinstance(key, str) else f"[{key}]")
    return "".join(reversed(parts)).lstrip(".")


def _lenient_xml(data: bytes) -> bytes | None:
    """An XML plist as CoreFoundation reads it, which expat does not: a
    comment (or blank lines) before ``<?xml``, ``--`` inside a comment. The
    comments are dropped (``<!--`` cannot occur in a plist's text unescaped).
    None when that changes nothing, or it is not XML."""
    import re

    body = data[3:] if data.startswith(b"\xef\xbb\xbf") else data
    if not body.lstrip().startswith(b"<"):
        return None
    cleaned = re.sub(rb"<!--.*?-->", b"", body, flags=re.S).lstrip()
    return None if cleaned == body else cleaned


# expat's words, and what they usually mean in a hand-written plist.
_EXPAT_HINTS = (
    ("invalid token", "a character XML does not allow there: an unescaped & or < in a value (write &amp; "
                      "and &lt;), or text outside the tags"),
    ("mismatched tag", "a closing tag that does not match the open one: a missing or misspelled </string>, "
                       "</array> or </dict>"),
    ("no element found", "the file ends before the plist does: cut short, or still being written"),
    ("unclosed token", "the file ends inside a tag: cut short, or still being written"),
    ("junk after document element", "something after </plist>"),
    ("undefined entity", "an & that starts no known entity: write &amp;"),
)


def _why(message: str) -> str:
    for words, hint in _EXPAT_HINTS:
        if words in message:
            return f" ({hint})"
    return ""


def is_plist_name(path: str) -> bool:
    """True when *path* names a job file: ``*.plist`` (any case), not hidden."""
    return _plist_file_name(os.path.basename(path))


def _plist_file_name(name: str) -> bool:
    return name.lower().endswith(".plist") and not name.startswith(".")


def plists_in(directory: str) -> list[str]:
    """The job plists of a directory, sorted; none if it cannot be read."""
    try:
        names = os.listdir(directory)
    except OSError:
        return []
    # The names sorted, then joined: the same order (one prefix), and a
    # listing's names have no directory part for is_plist_name to strip.
    names = sorted([n for n in names if _plist_file_name(n)])
    return [os.path.join(directory, n) for n in names]


def label_from_file(path: str) -> str | None:
    """Best effort: the Label of a plist, or None if it cannot be read."""
    try:
        raw = read_plist(path)
    except Exception:
        return None
    if isinstance(raw, dict):
        for k, v in raw.items():
            if isinstance(k, str) and k.lower() == "label" and isinstance(v, str):
                return v
    return None
