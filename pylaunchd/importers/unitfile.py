"""systemd's unit-file syntax (systemd.syntax(7)), by hand: no configparser,
whose rules differ (systemd repeats keys, resets a list with an empty
assignment, joins lines ending in a backslash).

:func:`parse_unit` gives ``{section: {key: [values...]}}``; :func:`split_command`
splits an ``ExecStart=`` line as systemd does (quotes, C escapes, ``$VAR``
and ``${VAR}``, the ``-@+!:`` prefixes); :func:`timespan` reads ``1min 30s``.
Standard library only.
"""

from __future__ import annotations

import re
from typing import Optional

Unit = dict[str, dict[str, list[str]]]

_ESCAPES = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v", "\\": "\\",
            '"': '"', "'": "'", " ": " ", ";": ";", "s": " "}


def parse_unit(text: str) -> Unit:
    """Sections, each a dictionary of keys to every value assigned, in order.

    A line ending in a backslash continues on the next (comment lines in
    between are skipped); ``#`` and ``;`` start comment lines; ``Key=`` with
    nothing after it empties the list of values assigned so far."""
    unit: Unit = {}
    section: Optional[dict[str, list[str]]] = None
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if pending and line[:1] in ("#", ";"):
            continue
        if line.endswith("\\") and not line.endswith("\\\\"):
            pending += line[:-1] + " "
            continue
        line, pending = (pending + line).strip(), ""
        if not line or line[0] in "#;":
            continue
        if line.startswith("[") and line.endswith("]"):
            section = unit.setdefault(line[1:-1].strip(), {})
            continue
        if section is None or "=" not in line:
            continue  # systemd ignores (and logs) such lines
        key, value = (part.strip() for part in line.split("=", 1))
        if value == "":
            section[key] = []
        else:
            section.setdefault(key, []).append(value)
    return unit


def last(unit: Unit, section: str, key: str) -> Optional[str]:
    """A single-valued key: its last assignment wins, as in systemd."""
    values = unit.get(section, {}).get(key)
    return values[-1] if values else None


def split_words(text: str) -> list[str]:
    """Whitespace-separated words with systemd's quotes and C escapes."""
    words, word, quote, in_word = [], [], None, False
    i = 0
    while i < len(text):
        c = text[i]
        if c == "\\" and i + 1 < len(text) and quote != "'":
            word.append(_ESCAPES.get(text[i + 1], text[i + 1]))
            i, in_word = i + 2, True
            continue
        if quote:
            if c == quote:
                quote = None
            else:
                word.append(c)
        elif c in "\"'":
            quote, in_word = c, True
        elif c.isspace():
            if in_word:
                words.append("".join(word))
            word, in_word = [], False
        else:
            word.append(c)
            in_word = True
        i += 1
    if in_word:
        words.append("".join(word))
    return words


_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)|\$\$")


def split_command(value: str, env: dict[str, str]) -> tuple[str, Optional[str], list[str], list[str]]:
    """(prefixes, the executable when ``@`` names another argv[0], argv,
    the variables named that *env* lacks). ``$NAME`` alone is split at
    whitespace into words; ``${NAME}`` is one word or part of one; with
    the ``:`` prefix nothing is expanded."""
    m = re.match(r"[-@+!:|]*", value)
    prefixes = m.group(0)
    words = _placeholder_words(value[m.end():])
    argv: list[str] = []
    missing: list[str] = []

    def sub(match: re.Match) -> str:
        if match.group(0) == "$$":
            return "$"
        name = match.group(1) or match.group(2)
        if name not in env:
            missing.append(name)
        return env.get(name, "")

    for raw, quoted in words:
        if ":" in prefixes:
            argv.append(raw)
        elif not quoted and re.fullmatch(r"\$[A-Za-z_][A-Za-z0-9_]*", raw):
            name = raw[1:]
            if name not in env:
                missing.append(name)
            argv += env.get(name, "").split()
        else:
            argv.append(_VAR.sub(sub, raw))
    executable = None
    if "@" in prefixes and len(argv) >= 2:
        executable, argv = argv[0], argv[1:]
    return prefixes, executable, argv, missing


def _placeholder_words(text: str) -> list[tuple[str, bool]]:
    """Each word and whether any of it was quoted (a quoted "$X" is one word)."""
    out = []
    for token in re.finditer(r"""(?:[^\s"'\\]|\\.|"(?:[^"\\]|\\.)*"|'[^']*')+""", text):
        raw = token.group(0)
        quoted = any(q in raw for q in "\"'")
        out.append((split_words(raw)[0] if split_words(raw) else "", quoted))
    return out


_SPAN_UNITS = {
    "us": 1e-6, "usec": 1e-6, "ms": 1e-3, "msec": 1e-3, "s": 1, "sec": 1, "second": 1, "seconds": 1,
    "m": 60, "min": 60, "minute": 60, "minutes": 60, "h": 3600, "hr": 3600, "hour": 3600, "hours": 3600,
    "d": 86400, "day": 86400, "days": 86400, "w": 604800, "week": 604800, "weeks": 604800,
    "M": 2629800, "month": 2629800, "months": 2629800, "y": 31557600, "year": 31557600, "years": 31557600,
}


def timespan(text: str) -> Optional[float]:
    """Seconds of a systemd time span (``90``, ``1min 30s``, ``100ms``, ``2h30m``);
    ``infinity`` is ``float('inf')``; None when it is not one."""
    text = text.strip()
    if text == "infinity":
        return float("inf")
    total, pos = 0.0, 0
    for m in re.finditer(r"\s*(\d+(?:\.\d+)?)\s*([A-Za-z]*)", text):
        if m.start() != pos or (m.group(2) and m.group(2) not in _SPAN_UNITS):
            return None
        total += float(m.group(1)) * _SPAN_UNITS.get(m.group(2) or "s", 1)
        pos = m.end()
    return total if pos == len(text) and pos else None
