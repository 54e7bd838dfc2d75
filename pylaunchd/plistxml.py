"""A faster reader of XML property lists: plistlib's algorithm, without its overhead.

At start the manager reads every plist of its job directories before any
socket listens, so the reader is on the path of every early client: with
10,000 job files, ``plistlib.loads`` was half of the time from exec to the
last socket listening (about 90 us a file here, where expat itself takes 10:
the rest is plistlib's per-element ``getattr("begin_" + tag)`` dispatch and
bound-method calls).

:func:`loads` runs the very same algorithm as ``plistlib._PlistParser``
(character data collected since the last start tag; ``add_object`` into the
innermost dict under the pending key, or the array, or as the root; unknown
elements ignored) with a dict of handlers and closures. It does not try to
reproduce plistlib's errors: whenever anything is out of the ordinary (not
plain XML starting with ``<?xml`` or ``<plist``, an entity declaration, a
``<date>``, malformed XML, a key without its value, a value where a key
belongs, ...) it returns :data:`UNSURE` and the caller asks plistlib, so a
file plistlib refuses is refused with plistlib's words, and one it reads
gives the same value. ``tests/test_plistxml.py`` checks the equality on the
project's plists and on generated documents (hypothesis).
"""

from __future__ import annotations

import binascii
from xml.parsers.expat import ParserCreate

TYPE_CHECKING = False  # typing is not imported on the way to the first spawn
if TYPE_CHECKING:
    from typing import Any

UNSURE = object()  # "ask plistlib": returned for anything out of the ordinary


class _Unsure(Exception):
    pass


def _unsure(*_args: Any) -> None:
    raise _Unsure


def _integer(raw: str) -> int:
    return int(raw, 16) if raw.startswith(("0x", "0X")) else int(raw)


def _data(raw: str) -> bytes:
    return binascii.a2b_base64(raw.encode("utf-8"))


# tag -> how its text becomes the value (plistlib's end_* handlers)
_LEAVES = {"string": str, "integer": _integer, "real": float, "data": _data}


def loads(data: bytes) -> Any:
    """The value of an XML plist, as ``plistlib.loads`` gives it, or UNSURE."""
    if not (data.startswith(b"<?xml") or data.startswith(b"<plist")):
        return UNSURE  # a binary plist, a byte order mark, not a plist: plistlib's detection
    try:
        return _parse(data)
    except Exception:  # noqa: BLE001 - any doubt at all: plistlib decides, and words its error
        return UNSURE


def _parse(data: bytes) -> Any:
    """plistlib's _PlistParser as closures over its state (raises on any doubt)."""
    stack: list = []
    text: list[str] = []
    key = None  # the pending dict key
    root = None

    def add(value: Any) -> None:
        nonlocal key, root
        if key is not None:
            top = stack[-1]
            if type(top) is not dict:
                raise _Unsure
            top[key] = value
            key = None
        elif not stack:
            root = value
        else:
            top = stack[-1]
            if type(top) is not list:
                raise _Unsure
            top.append(value)

    def start(tag: str, _attrs: Any) -> None:
        text.clear()
        if tag == "dict" or tag == "array":
            value: Any = {} if tag == "dict" else []
            add(value)
            stack.append(value)
        elif tag == "date":
            raise _Unsure  # plistlib's own date reading: rare in job plists

    def end(tag: str) -> None:
        nonlocal key
        if tag == "key":  # the most common end tag: half of a job plist's
            if key or type(stack[-1]) is not dict:
                raise _Unsure
            key = "".join(text)
            text.clear()
        elif tag in _LEAVES:
            value = _LEAVES[tag]("".join(text))
            text.clear()
            add(value)
        elif tag == "dict":
            if key:
                raise _Unsure
            stack.pop()
        elif tag == "array":
            stack.pop()
        elif tag == "true" or tag == "false":
            add(tag == "true")

    parser = ParserCreate()
    parser.buffer_text = True
    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = text.append
    parser.EntityDeclHandler = _unsure
    parser.Parse(data, True)
    return root
