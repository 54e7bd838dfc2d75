"""supervisord configuration files as launchd jobs: every ``[program:x]``
(``numprocs`` copies, each named by its ``process_name``) and every
``[fcgi-program:x]`` (its ``socket=`` as a launchd socket handed on stdin,
FastCGI's way: inetd ``Wait`` true), reading ``[include] files=`` too.

The files are read with configparser as supervisord reads them: no
interpolation, ``;`` and ``#`` inline comments; supervisord's own
``%(program_name)s``-style expansions (``program_name``, ``process_num``,
``group_name``, ``host_node_name``, ``here``, ``numprocs``, ``ENV_X``) are
applied here. Pure: files come through the caller's ``read`` and ``glob``.
"""

from __future__ import annotations

import configparser
import os
import re
import shlex
from dataclasses import dataclass, field
from typing import Callable, Optional

from . import ConversionError, Imported, Reader

Glob = Callable[[str], list[str]]
NOT_IMPORTED = {
    "supervisord": "supervisord's own settings: pylaunchd is the supervisor",
    "unix_http_server": "supervisorctl's server: pylaunchctl speaks to pylaunchd over its control socket",
    "inet_http_server": "supervisorctl's server: pylaunchctl speaks to pylaunchd over its control socket",
    "supervisorctl": "supervisorctl's settings: use pylaunchctl",
    "rpcinterface": "supervisord's XML-RPC interface has no launchd equivalent",
    "eventlistener": "launchd has no process-state events: not imported",
    "group": "launchd has no groups: its programs are imported each under its own label",
}
HANDLED = {"command", "process_name", "numprocs", "numprocs_start", "directory", "umask", "user", "autostart",
           "autorestart", "exitcodes", "startsecs", "stopwaitsecs", "stdout_logfile", "stderr_logfile",
           "redirect_stderr", "environment", "socket", "socket_mode"}
WHY = {
    "priority": "launchd starts every job at once (sockets make the order unnecessary): dropped",
    "startretries": "launchd retries a failing start for ever, throttled by ThrottleInterval: dropped",
    "stopsignal": "launchd stops a job with SIGTERM, then SIGKILL after ExitTimeOut",
    "stopasgroup": "launchd signals the main process, then its process group once it exited",
    "killasgroup": "launchd signals the main process, then its process group once it exited",
    "serverurl": "there is no supervisord XML-RPC server to name: dropped",
    "socket_owner": "SockPathOwner takes numeric ids: dropped, set SockPathOwner and SockPathGroup by hand",
    "socket_backlog": "launchd has no backlog key: the system's default is used",
}


@dataclass
class Config:
    """Every section of a configuration and its includes, with the directory
    (``%(here)s``) of the file it came from."""

    sections: list[tuple[str, dict, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _parse(text: str, path: str) -> configparser.RawConfigParser:
    parser = configparser.RawConfigParser(inline_comment_prefixes=(";", "#"), strict=False, interpolation=None)
    try:
        parser.read_string(text, source=path)
    except configparser.Error as e:
        raise ConversionError(f"{path}: {e}") from None
    return parser


def read_config(path: str, read: Reader, glob: Glob) -> Config:
    """The file at *path* and those its ``[include] files=`` name (included
    files cannot include others, as in supervisord)."""
    text = read(path)
    if text is None:
        raise ConversionError(f"{path}: cannot be read")
    config = Config()
    parser = _parse(text, path)
    here = os.path.dirname(os.path.abspath(path))
    config.sections += [(s, dict(parser[s]), here) for s in parser.sections() if s != "include"]
    if parser.has_section("include"):
        for pattern in parser.get("include", "files", fallback="").split():
            pattern = os.path.join(here, pattern % {"here": here})
            found = sorted(glob(pattern))
            if not found:
                config.notes.append(f"{path}: [include] {pattern}: no file matches")
            for inc in found:
                inc_text = read(inc)
                if inc_text is None:
                    config.notes.append(f"{inc}: cannot be read: skipped")
                    continue
                inc_parser = _parse(inc_text, inc)
                inc_here = os.path.dirname(inc)
                config.sections += [(s, dict(inc_parser[s]), inc_here) for s in inc_parser.sections()]
    return config


def parse_environment(text: str) -> dict[str, str]:
    """``A="1",B="2"``, as supervisord's dict_of_key_value_pairs reads it."""
    lexer = shlex.shlex(text, posix=False)
    lexer.wordchars += "/.+-():$%{}@!*[]^~"
    lexer.whitespace_split = False
    tokens = list(lexer)
    env, i = {}, 0
    while i < len(tokens):
        kv = tokens[i:i + 3]
        if len(kv) != 3 or kv[1] != "=":
            raise ConversionError(f"unexpected end of key/value pairs in {text!r}")
        env[kv[0]] = kv[2].strip("'\"")
        i += 4  # and the comma
    return env


def import_config(path: str, read: Reader, glob: Glob, prefix: str = "", environ: Optional[dict] = None,
                  host: str = "localhost") -> tuple[list[Imported], list[str]]:
    """(one job per program process, notes on what was not imported)."""
    config = read_config(path, read, glob)
    environ = environ or {}
    base_env: dict[str, str] = {}
    jobs: list[Imported] = []
    notes = list(config.notes)
    for section, opts, here in config.sections:
        kind, _, name = section.partition(":")
        if kind == "supervisord" and "environment" in opts:
            base_env = parse_environment(_expand(opts["environment"], {"here": here}, environ, section, notes))
    for section, opts, here in config.sections:
        kind, _, name = section.partition(":")
        if kind in ("program", "fcgi-program") and name:
            ctx = {"group_name": name, "host_node_name": host, "here": here, "program_name": name}
            jobs += _program(kind, name, opts, ctx, environ, base_env, prefix, path)
        elif kind in NOT_IMPORTED:
            notes.append(f"{path}: [{section}]: {NOT_IMPORTED[kind]}")
        else:
            notes.append(f"{path}: [{section}]: not a section supervisord knows: skipped")
    return jobs, notes


def _expand(value: str, ctx: dict, environ: dict, where: str, notes: list[str]) -> str:
    mapping = {**{f"ENV_{k}": v for k, v in environ.items()}, **ctx}
    try:
        return value % mapping
    except (KeyError, ValueError, TypeError) as e:
        notes.append(f"{where}: {value!r}: cannot expand {e}: kept as written")
        return value


def _program(kind: str, name: str, opts: dict, ctx: dict, environ: dict, base_env: dict, prefix: str,
             path: str) -> list[Imported]:
    where = f"{path}: [{kind}:{name}]"
    if "command" not in opts:
        raise ConversionError(f"{where}: no command=")
    count = int(opts.get("numprocs", "1"))
    start = int(opts.get("numprocs_start", "0"))
    template = opts.get("process_name", "%(program_name)s")
    fcgi = kind == "fcgi-program"
    if count > 1 and "%(process_num)" not in template and not fcgi:
        raise ConversionError(f"{where}: numprocs={count} needs %(process_num)s in process_name "
                              f"(supervisord refuses it too)")
    jobs = []
    for num in range(start, start + (1 if fcgi else count)):
        notes: list[str] = []
        pctx = {**ctx, "process_num": num, "numprocs": count}

        def ex(key: str, default: Optional[str] = None, _c=pctx, _n=notes) -> Optional[str]:
            value = opts.get(key, default)
            return None if value is None else _expand(value, _c, environ, where, _n)

        label = prefix + (name if fcgi else ex("process_name", "%(program_name)s") or name)
        plist = {"Label": label, **_process_keys(opts, ex, base_env, where, notes)}
        if fcgi:
            _fcgi(opts, ex, plist, where, notes, count)
        jobs.append(Imported(label, plist, notes, [path]))
    return jobs


def _truth(value: Optional[str], default: bool) -> bool:
    return default if value is None else value.strip().lower() in ("true", "yes", "on", "1")


def _process_keys(opts: dict, ex, base_env: dict, where: str, notes: list[str]) -> dict:
    keys: dict = {"ProgramArguments": shlex.split(ex("command"))}
    env = {**base_env, **(parse_environment(ex("environment")) if "environment" in opts else {})}
    if env:
        keys["EnvironmentVariables"] = env
    for key, plist_key in (("directory", "WorkingDirectory"), ("user", "UserName")):
        if key in opts:
            keys[plist_key] = ex(key)
    if "umask" in opts:
        keys["Umask"] = int(ex("umask"), 8)
    _restart(opts, ex, keys, where, notes)
    _logs(opts, ex, keys, where, notes)
    for key in opts:
        if key in HANDLED:
            continue
        value = opts[key].strip().lower()
        if value in ("false", "0", "no", "off") or (key == "stopsignal" and value.removeprefix("sig") == "term"):
            continue  # supervisord's default, and launchd's behaviour
        why = WHY.get(key) or _output_why(key)
        notes.append(f"{where}: {key}={opts[key]}: {why}")
    return keys


def _output_why(key: str) -> str:
    if re.match(r"std(out|err)_logfile_(maxbytes|backups)$", key):
        return ("launchd rotates no output file (the job's own log, used when no path is set, is rotated): "
                "dropped")
    if key.endswith("_syslog"):
        return "the output goes to the job's log (pylaunchctl log), not to syslog"
    return "no launchd equivalent: dropped"


def _restart(opts: dict, ex, keys: dict, where: str, notes: list[str]) -> None:
    autostart = _truth(ex("autostart"), True)
    mode = (ex("autorestart", "unexpected") or "").lower()
    codes = [c.strip() for c in (ex("exitcodes", "0") or "0").split(",")]
    if mode in ("true", "yes", "on", "1"):
        keep: object = True
    elif mode == "unexpected":
        keep = {"SuccessfulExit": False}
        if codes != ["0"]:
            notes.append(f"{where}: exitcodes={','.join(codes)}: launchd expects only exit 0: any other "
                         f"status restarts the job")
    else:
        keep = None
    if autostart:
        keys["RunAtLoad"] = True
    if keep is not None:
        keys["KeepAlive"] = keep if autostart else {"AfterInitialDemand": True, **({} if keep is True else keep)}
    startsecs = int(ex("startsecs", "1") or "1")
    keys["ThrottleInterval"] = max(1, startsecs)
    if "startsecs" in opts:
        notes.append(f"{where}: startsecs={startsecs}: as ThrottleInterval: a process that ran less is "
                     f"restarted only that long after its start (supervisord retries with a back-off)")
    keys["ExitTimeOut"] = int(ex("stopwaitsecs", "10") or "10")


def _logs(opts: dict, ex, keys: dict, where: str, notes: list[str]) -> None:
    for key, plist_key in (("stdout_logfile", "StandardOutPath"), ("stderr_logfile", "StandardErrorPath")):
        value = ex(key, "AUTO")
        if value.upper() == "NONE":
            keys[plist_key] = "/dev/null"
        elif value.upper() == "AUTO":
            if key in opts:
                notes.append(f"{where}: {key}=AUTO: the output goes to the job's log (pylaunchctl log)")
        elif value.lower() == "syslog":
            notes.append(f"{where}: {key}=syslog: the output goes to the job's log (pylaunchctl log)")
        else:
            keys[plist_key] = value
    if _truth(ex("redirect_stderr"), False):
        if "StandardOutPath" in keys:
            keys["StandardErrorPath"] = keys["StandardOutPath"]
        else:
            keys.pop("StandardErrorPath", None)


def _fcgi(opts: dict, ex, plist: dict, where: str, notes: list[str], count: int) -> None:
    spec = ex("socket")
    if not spec:
        raise ConversionError(f"{where}: an fcgi-program needs socket=")
    m = re.fullmatch(r"tcp://(\[[^\]]+\]|[^:]+):(\d+)|unix://(/.+)", spec)
    if not m:
        raise ConversionError(f"{where}: socket={spec}: neither tcp://HOST:PORT nor unix:///PATH")
    if m.group(3):
        sock: dict = {"SockPathName": m.group(3)}
        if "socket_mode" in opts:
            sock["SockPathMode"] = int(ex("socket_mode"), 8)
    else:
        host = m.group(1).strip("[]")
        sock = {"SockNodeName": host, "SockServiceName": m.group(2)}
        if host.replace(".", "").isdigit():
            sock["SockFamily"] = "IPv4"
    plist["Sockets"] = {"FastCGI": sock}
    plist["inetdCompatibility"] = {"Wait": True}
    if count > 1:
        notes.append(f"{where}: numprocs={count}: launchd gives a socket to one job: one process serves it "
                     f"(a FastCGI server that forks its own workers keeps them)")
