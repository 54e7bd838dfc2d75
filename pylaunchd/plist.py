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

    def __init__(self, path: str, message: str, key_path: str = ""):
        super().__init__(f"{path}: {key_path}: {message}" if key_path else f"{path}: {message}")
        self.path = path
        self.message = message
        self.key_path = key_path


MAX_PLIST_BYTES = 4 * 1024 * 1024


def read_plist(path: str) -> Any:
    """Return the top-level object of the property list at *path*.

    XML and binary plists are both accepted (plistlib detects the format).
    """
    return parse_plist(path, read_bytes(path))


def read_bytes(path: str) -> bytes:
    """The bytes of the job file at *path* (at most MAX_PLIST_BYTES + 1)."""
    try:
        with open(path, "rb", buffering=0) as f:
            return read_limited(f.fileno(), os.fstat(f.fileno()).st_size)
    except OSError as e:
        raise PlistError(path, f"cannot read file: {e.strerror}") from None


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
        try:
            bad = _bad_number(data)
        except Exception:  # noqa: BLE001 - only a better message: never a new failure
            bad = None
        if bad is not None:  # an <integer> or <real> whose text is no number: say which, and where
            key_path, tag, text, line = bad
            raise PlistError(path, f"invalid property list: expected a number in <{tag}> (line {line}), found "
                                   f"{text!r:.60} (a placeholder left unfilled?); launchd refuses the file too",
                             key_path) from None
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
    comment (or blank lines) before ``<?xml``, ``--`` inside a comment; a
    prolog that is not XML (CF skips ``<?...?>`` to its ``?>`` and
    ``<!DOCTYPE`` to its first ``>``, so an unquoted ``<?xml version=1.0?>``
    or a ``DOCTYPE ..."\\>`` pass); attributes of ``<plist>``, which CF never
    reads (``<plist version=1.0>``). The comments are dropped (``<!--`` cannot
    occur in a plist's text unescaped), and so is the prolog, once the
    ``<?xml`` declaration's encoding has been kept; each keeps its line
    breaks, so that an error expat still finds names the file's own line.
    None when that changes nothing, or it is not XML."""
    import re

    def breaks(m: re.Match) -> bytes:
        return b"\n" * m.group().count(b"\n")

    body = data[3:] if data.startswith(b"\xef\xbb\xbf") else data
    if not body.lstrip().startswith(b"<"):
        return None
    cleaned = re.sub(rb"<!--.*?-->", breaks, body, flags=re.S)
    end = _prolog_end(cleaned)
    if end is not None:
        declared = re.match(rb'\s*<\?xml[^>]*encoding\s*=\s*["\']([A-Za-z0-9._-]+)["\']', cleaned)
        head = b'<?xml version="1.0" encoding="%s"?>' % declared.group(1) if declared else b""
        rest = cleaned[end:]
        tag = re.match(rb"<plist\b[^>/]*>", rest)
        if tag is not None:  # the prolog's line breaks after <plist>: plistlib wants <?xml or <plist first
            rest = b"<plist>" + b"\n" * cleaned.count(b"\n", 0, end) + breaks(tag) + rest[tag.end():]
        cleaned = head + rest
    else:  # blank lines left before <?xml: after it, where XML allows them
        lead = re.match(rb"(\s+)(<\?xml.*?\?>)", cleaned, flags=re.S)
        if lead is not None:
            cleaned = lead.group(2) + lead.group(1) + cleaned[lead.end():]
    return None if cleaned == body else cleaned


def _prolog_end(data: bytes) -> int | None:
    """Where ``<plist`` starts after a prolog CoreFoundation skips (blanks,
    ``<?...?>`` to its ``?>``, ``<!DOCTYPE`` to its first ``>``), or None
    when something else comes first (an inline DTD, not a plist)."""
    pos, n = 0, len(data)
    while True:
        while pos < n and data[pos] in b" \t\r\n":
            pos += 1
        if data.startswith(b"<?", pos):
            close = data.find(b"?>", pos + 2)
        elif data.startswith(b"<!DOCTYPE", pos):
            close = data.find(b">", pos)
            if close >= 0 and b"[" in data[pos:close]:
                return None  # an inline DTD: plistlib decides (it refuses entity declarations)
            close = close - 1 if close >= 0 else -1
        else:
            return pos if data.startswith(b"<plist", pos) else None
        if close < 0:
            return None
        pos = close + 2


def _bad_number(data: bytes) -> tuple[str, str, str, int] | None:
    """The first ``<integer>`` or ``<real>`` whose text is no number, as
    (key path, tag, text, line), found by a scan of the tags (the XML is
    well-formed: plistlib read it up to that value)."""
    for kind, here, tag, text, line in _scan(data):
        if kind != "value" or tag not in ("integer", "real"):
            continue
        try:
            int(text, 16) if text.lower().startswith(("0x", "-0x", "+0x")) else \
                (int(text) if tag == "integer" else float(text))
        except ValueError:
            return here, tag, text, line
    return None


def duplicate_keys(data: bytes) -> list[tuple[str, int]]:
    """The keys an XML plist gives twice in one dictionary, as (key path,
    line of the second): the last value counts, in plistlib as in
    CoreFoundation (``CFDictionarySetValue``), so the first is silently
    lost. For ``pylaunchctl lint``; [] for a binary plist."""
    import re

    body = data.lstrip(b"\xef\xbb\xbf \t\r\n")
    if not body.startswith(b"<"):
        return []
    keys = re.findall(rb"<key>([^<]*)</key>", data)
    if len(set(keys)) == len(keys):
        return []  # no key text twice in the file (most plists): no dictionary can have one twice
    try:
        return [(here, line) for kind, here, _tag, _text, line in _scan(data) if kind == "duplicate"]
    except Exception:  # noqa: BLE001 - a lint hint only: never a failure
        return []


def _scan(data: bytes):
    """The tags of an XML plist, walked without a parser (comments dropped,
    lines kept): ("value", key path, tag, text of a leaf, line) for each value
    and ("duplicate", key path, "key", key, line) for a key seen before in
    its dictionary."""
    import re

    data = re.sub(rb"<!--.*?-->", lambda m: b"\n" * m.group().count(b"\n"), data, flags=re.S)  # lines kept
    stack: list[list] = []  # [kind, pending key or next index, key path of the container, keys seen]
    lines = [1, 0]  # the line at lines[1], counted forward only: linear in the file

    def line_of(at: int) -> int:
        lines[0] += data.count(b"\n", lines[1], at)
        lines[1] = at
        return lines[0]

    for m in re.finditer(rb"<(/?)(dict|array|key|integer|real|string|data|date|true|false)\b[^>]*?(/?)>", data):
        closing, tag, empty = m.group(1) == b"/", m.group(2).decode(), m.group(3) == b"/"
        if closing:
            if tag in ("dict", "array") and stack:
                stack.pop()
            continue
        top = stack[-1] if stack else None
        if tag == "key":
            end = data.find(b"</key>", m.end())
            if top is not None and top[0] == "dict" and end >= 0:
                top[1] = data[m.end():end].decode("utf-8", "replace").strip()
                if top[1] in top[3]:
                    yield "duplicate", f"{top[2]}.{top[1]}".lstrip("."), tag, top[1], line_of(m.start())
                top[3].add(top[1])
            continue
        here = ""
        if top is not None:
            here = f"{top[2]}.{top[1]}" if top[0] == "dict" else f"{top[2]}[{top[1]}]"
            here = here.lstrip(".")
            if top[0] == "array":
                top[1] += 1
        if tag in ("dict", "array") and not empty:
            stack.append([tag, None if tag == "dict" else 0, here, set()])
            continue
        text = ""
        if not empty and tag in ("integer", "real", "string", "data", "date"):
            text = data[m.end():data.find(b"<", m.end())].decode("utf-8", "replace").strip()
        yield "value", here, tag, text, line_of(m.start())


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
