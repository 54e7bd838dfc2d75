"""Installed third-party ``.service`` files, read the way dbus-daemon reads them.

On a bus run with ``--systemd-activation`` where pylaunchd owns
``org.freedesktop.systemd1``, dbus-daemon sends pylaunchd an
``ActivationRequest(unit)`` for *every* activatable name whose file has
``SystemdService=``: pylaunchd's own files, and the ones packages installed
(dconf, at-spi, PackageKit, ...), whose ``Exec=`` the bus no longer runs. For a
unit pylaunchd has no job for, :func:`find_unit` finds the file that names it,
so the manager can run its ``Exec=`` as a transient job and a desktop session
keeps working.

What is copied from dbus-daemon 1.14 (bus/desktop-file.c, bus/activation.c,
dbus/dbus-shell.c, dbus-daemon(1)):

* the file: ``[D-BUS Service]``; the first line of a key wins; ``Key[locale]``
  lines are skipped; spaces around ``=`` are dropped; the escapes ``\\s \\t
  \\n \\r \\\\`` (any other is an error); lines starting with ``#`` are
  comments; at most 128 KiB of UTF-8. ``Name=`` and ``Exec=`` are required.
* the command line (:func:`split_exec`): dbus-daemon's own subset of the
  shell: blanks split words, ``'...'`` is literal, ``"..."`` honours ``\\``
  before ``$ ` " \\`` and newline, a backslash outside quotes escapes any
  character, ``#`` outside quotes starts a comment; no expansion of any kind.
* the search: directories in the order given, the first file of a name wins
  (a later file with the same ``Name=`` is shadowed, as the bus ignores it);
  in the runtime directory ``$XDG_RUNTIME_DIR/dbus-1/services`` a file not
  named ``NAME.service`` is not loaded (strict naming); within a directory,
  files in sorted order (dbus-daemon takes them in readdir order, which it
  calls arbitrary).

One rule is pylaunchd's own: a file is used only when root or the reader
owns it and nobody else may write it, since it names a program to run.

Pure apart from reading the directories; nothing here runs, writes or
connects (the job such a file becomes is :mod:`pylaunchd.bus.transient`'s).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

SECTION = "D-BUS Service"
MAX_FILE_BYTES = 128 * 1024  # bus/desktop-file.c refuses larger files
_ESCAPES = {"s": " ", "t": "\t", "n": "\n", "r": "\r", "\\": "\\"}
_KEY_CHARS = frozenset("-0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
_DQ_ESCAPABLE = frozenset('$`"\\\n')


class ServiceFileError(ValueError):
    """A .service file dbus-daemon would not load: the path, the line, why."""

    def __init__(self, path: str, message: str, line: int | None = None):
        where = f"{path}:{line}" if line else path
        super().__init__(f"{where}: {message}")
        self.path, self.line, self.reason = path, line, message


@dataclass(frozen=True, slots=True)
class ServiceFile:
    """One loadable entry: what the bus would activate, and how."""

    path: str
    name: str                       # Name=, the well-known bus name
    argv: tuple[str, ...]           # Exec=, split like dbus-daemon
    systemd_service: str | None     # SystemdService=, the unit it hands to the activator
    user: str | None                # User=, the account a system bus starts it as

    @property
    def command(self) -> str:
        """The Exec= line as written (for messages)."""
        return " ".join(self.argv)


# -- the file ------------------------------------------------------------------------------------------


def _unescape(path: str, lineno: int, text: str) -> str:
    out, i = [], 0
    while i < len(text):
        c = text[i]
        if c == "\\":
            if i + 1 >= len(text):
                raise ServiceFileError(path, "the value ends in a backslash", lineno)
            nxt = text[i + 1]
            if nxt not in _ESCAPES:
                raise ServiceFileError(path, f"invalid escape \\{nxt} (only \\s \\t \\n \\r \\\\)", lineno)
            out.append(_ESCAPES[nxt])
            i += 2
        else:
            out.append(c)
            i += 1
    return "".join(out)


def _key_value(path: str, lineno: int, line: str) -> tuple[str, str] | None:
    """(key, value) of one line, None for a localized key (skipped, as the bus does)."""
    end = 0
    while end < len(line) and line[end] in _KEY_CHARS:
        end += 1
    if end == 0:
        raise ServiceFileError(path, "a line is neither a key=value, a [section] nor a comment", lineno)
    if line[end:end + 1] == "[":
        return None
    rest = line[end:].lstrip(" ")
    if not rest.startswith("="):
        raise ServiceFileError(path, f"expected '=' after the key {line[:end]!r}", lineno)
    return line[:end], _unescape(path, lineno, rest[1:].lstrip(" "))


def parse_sections(text: str, path: str = "<text>") -> dict[str, dict[str, str]]:
    """Every section of a .service file: name -> {key: value} (the first of a key and of a section wins)."""
    sections: dict[str, dict[str, str]] = {}
    current: dict[str, str] | None = None
    for lineno, line in enumerate(text.splitlines(), start=1):
        if line.startswith("["):
            if len(line) <= 2 or not line.endswith("]"):
                raise ServiceFileError(path, "a section header must be [NAME]", lineno)
            name = _unescape(path, lineno, line[1:-1])
            if any(ord(ch) <= 0x1F or ord(ch) >= 0x7F or ch in "[]" for ch in name):
                raise ServiceFileError(path, f"invalid characters in the section name {name!r}", lineno)
            current = sections.setdefault(name, {}) if name not in sections else {}
        elif not line.strip(" \t\r\f") or line.startswith("#"):
            continue
        elif current is None:
            raise ServiceFileError(path, f"key=value before the [{SECTION}] section", lineno)
        else:
            pair = _key_value(path, lineno, line)
            if pair is not None:
                current.setdefault(*pair)
    return sections


def parse_service_file(text: str, path: str = "<text>") -> ServiceFile:
    """A .service file's entry, or ServiceFileError naming the file and what is wrong."""
    section = parse_sections(text, path).get(SECTION)
    if section is None:
        raise ServiceFileError(path, f"no [{SECTION}] section")
    for key in ("Name", "Exec"):
        if key not in section:
            raise ServiceFileError(path, f'no "{key}" key in the [{SECTION}] section')
    try:
        argv = split_exec(section["Exec"])
    except ValueError as e:
        raise ServiceFileError(path, f"Exec={section['Exec']!r}: {e}") from None
    return ServiceFile(path=path, name=section["Name"], argv=tuple(argv),
                       systemd_service=section.get("SystemdService"), user=section.get("User"))


# -- the command line ----------------------------------------------------------------------------------


def _tokens(command: str) -> list[str]:
    """dbus-shell.c tokenize_command_line: words with their quotes still in them."""
    tokens: list[str] = []
    token: list[str] = []
    quote = ""            # "", "'", '"', "\\" (the next character), "#" (to the end of the line)
    escaped = False       # an odd run of backslashes ends here: the next '"' does not close
    for c in command:
        if quote == "\\":
            if c != "\n":
                token += ["\\", c]
            quote = ""
        elif quote == "#":
            if c == "\n":      # the comment ends, its newline goes with it (no word ends here)
                quote = ""
        elif quote:
            if c == quote and not (quote == '"' and escaped):
                quote = ""
            token.append(c)
        elif c == "\n":
            tokens.append("".join(token))
            token = []
        elif c in " \t":
            if token:
                tokens.append("".join(token))
                token = []
        elif c in "'\"":
            token.append(c)
            quote = c
        elif c in "#\\":
            quote = c
        else:
            token.append(c)
        escaped = (not escaped) if c == "\\" else False
    if quote and quote != "#":
        raise ValueError("unclosed quotes in the command line")
    tokens.append("".join(token))
    return tokens


def _unquote(token: str) -> str:
    """dbus-shell.c _dbus_shell_unquote: remove the quoting of one word."""
    out: list[str] = []
    i, n = 0, len(token)
    while i < n:
        c = token[i]
        if c == "\\":
            if i + 1 < n and token[i + 1] != "\n":
                out.append(token[i + 1])
            i += 2
        elif c == "'":
            end = token.find("'", i + 1)
            if end < 0:
                raise ValueError("unclosed quotes in the command line")
            out.append(token[i + 1:end])
            i = end + 1
        elif c == '"':
            i += 1
            while i < n and token[i] != '"':
                if token[i] == "\\" and i + 1 < n and token[i + 1] in _DQ_ESCAPABLE:
                    i += 1
                out.append(token[i])
                i += 1
            if i >= n:
                raise ValueError("unclosed quotes in the command line")
            i += 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


def split_exec(command: str) -> list[str]:
    """An Exec= value as the argument vector dbus-daemon would run (ValueError if it would refuse)."""
    argv = [_unquote(t) for t in _tokens(command)]
    if not argv or argv == [""]:
        raise ValueError("no program in the command line")
    return argv


# -- where the bus looks -------------------------------------------------------------------------------


def _dedup(dirs: Iterable[str]) -> list[str]:
    seen: set[str] = set()
    return [d for d in dirs if d and not (d in seen or seen.add(d))]


def _xdg_list(env: Mapping[str, str], var: str, default: str) -> list[str]:
    return [d for d in (env.get(var) or default).split(":") if d]


def session_service_dirs(env: Mapping[str, str] | None = None, home: str | None = None) -> list[str]:
    """``<standard_session_servicedirs/>`` for this environment, highest precedence first."""
    env = os.environ if env is None else env
    home = home if home is not None else env.get("HOME") or os.path.expanduser("~")
    out = []
    if env.get("XDG_RUNTIME_DIR"):
        out.append(os.path.join(env["XDG_RUNTIME_DIR"], "dbus-1", "services"))
    out.append(os.path.join(env.get("XDG_DATA_HOME") or os.path.join(home, ".local", "share"), "dbus-1", "services"))
    data_dirs = _xdg_list(env, "XDG_DATA_DIRS", "/usr/local/share:/usr/share")
    out += [os.path.join(d, "dbus-1", "services") for d in data_dirs]
    out.append("/usr/share/dbus-1/services")  # ${datadir} of Debian's build
    return _dedup(out)


def system_service_dirs() -> list[str]:
    """``<standard_system_servicedirs/>``, highest precedence first (the environment plays no part)."""
    return _dedup(["/usr/local/share/dbus-1/system-services", "/usr/share/dbus-1/system-services",
                   "/usr/share/dbus-1/system-services", "/lib/dbus-1/system-services"])


def _strict(directory: str, env: Mapping[str, str]) -> bool:
    runtime = env.get("XDG_RUNTIME_DIR")
    if not runtime:
        return False
    return os.path.normpath(directory) == os.path.join(os.path.normpath(runtime), "dbus-1", "services")


def _read(path: str) -> str:
    """The file's text; refused when someone else could have written it (a file that
    names a program to run is trusted only from root or the reader's own uid)."""
    with open(path, "rb") as f:
        st = os.fstat(f.fileno())
        if st.st_uid not in (0, os.geteuid()) or st.st_mode & 0o022:
            raise ServiceFileError(path, f"owned by uid {st.st_uid} with mode {st.st_mode & 0o7777:04o}: only "
                                         "files of root or of this user, writable by their owner alone, are used")
        data = f.read(MAX_FILE_BYTES + 1)
    if len(data) > MAX_FILE_BYTES:
        raise ServiceFileError(path, f"larger than {MAX_FILE_BYTES} bytes")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise ServiceFileError(path, "not valid UTF-8") from None


def load_dir(directory: str, strict: bool = False) -> tuple[list[ServiceFile], list[ServiceFileError]]:
    """The entries of one directory in sorted order, and the files the bus would refuse.
    A missing or unreadable directory has none (the bus skips it too)."""
    try:
        names = sorted(n for n in os.listdir(directory) if n.endswith(".service"))
    except OSError:
        return [], []
    entries, errors = [], []
    for fname in names:
        path = os.path.join(directory, fname)
        try:
            entry = parse_service_file(_read(path), path)
        except ServiceFileError as e:
            errors.append(e)
            continue
        except OSError as e:
            errors.append(ServiceFileError(path, e.strerror or str(e)))
            continue
        if strict and fname != f"{entry.name}.service":
            errors.append(ServiceFileError(path, f"should be named {entry.name}.service: not loaded "
                                                 "(strict naming in the runtime directory)"))
            continue
        entries.append(entry)
    return entries, errors


def load_entries(dirs: Iterable[str], env: Mapping[str, str] | None = None,
                 exclude: Iterable[str] = ()) -> tuple[list[ServiceFile], list[ServiceFileError]]:
    """What the bus has loaded from *dirs*: one entry per name, the first found winning.
    *exclude* lists files to pass over (pylaunchd's own, which name its jobs)."""
    env = os.environ if env is None else env
    skip = {os.path.normpath(p) for p in exclude}
    by_name: dict[str, ServiceFile] = {}
    errors: list[ServiceFileError] = []
    for directory in dirs:
        found, bad = load_dir(directory, _strict(directory, env))
        errors += bad
        for entry in found:
            if os.path.normpath(entry.path) not in skip:
                by_name.setdefault(entry.name, entry)
    return list(by_name.values()), errors


def match_unit(unit: str, entries: Iterable[ServiceFile]) -> ServiceFile | None:
    """The entry whose SystemdService= is *unit* (the first one, when several names share a unit)."""
    return next((e for e in entries if e.systemd_service == unit), None)


def find_unit(unit: str, dirs: Iterable[str], env: Mapping[str, str] | None = None,
              exclude: Iterable[str] = ()) -> ServiceFile | None:
    """The installed file an ActivationRequest(*unit*) came from, or None: dbus-daemon only
    sends the unit, so this is the way back to its Name= and Exec=."""
    entries, _errors = load_entries(dirs, env, exclude)
    return match_unit(unit, entries)
