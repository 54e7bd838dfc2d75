"""``pylaunchctl``: launchctl's verbs, spoken to a running pylaunchd.

Kept quick to start: only typer and the small control protocol are imported;
nothing of the manager.
"""

from __future__ import annotations

import json
import os
import re
import sys
import time
from typing import List, Optional

import typer

from ..control.errors import describe
from ..control.protocol import EXIT_USAGE, ControlError, request

app = typer.Typer(add_completion=True, no_args_is_help=True, rich_markup_mode=None,
                  pretty_exceptions_enable=False,
                  context_settings={"help_option_names": ["-h", "--help"]},
                  help="Control pylaunchd, as launchctl controls launchd.")

_state = {"socket": None}

_SERVICE = re.compile(r"^(system|(?:user|gui)/\d+)/(.+)$")
_DOMAIN = re.compile(r"^(system|(?:user|gui)/\d+)/?$")


def parse_domain(target: str) -> str:
    m = _DOMAIN.match(target)
    if not m:
        _fail(f'Unrecognized target specifier "{target}". A domain target is system, user/UID or gui/UID.',
              EXIT_USAGE)
    return m.group(1)


def parse_service(target: str, bare_ok: bool = True) -> tuple[str | None, str]:
    """(domain or None, label) of a service target DOMAIN/LABEL, or of a bare
    label (the caller's own domain, as launchctl's legacy verbs)."""
    m = _SERVICE.match(target)
    if m:
        return m.group(1), m.group(2)
    if _DOMAIN.match(target):
        _fail(f"{target} is a domain; give a service target such as {target.rstrip('/')}/LABEL", EXIT_USAGE)
    if not bare_ok or "/" in target:
        _fail(f'Unrecognized target specifier "{target}". <service-target> takes a form of '
              f"<domain-target>/<service-id>, such as gui/{os.getuid()}/com.example.job.", EXIT_USAGE)
    return None, target


def _socket_for(domain: str | None) -> str:
    """The control socket of *domain* (None: the caller's own, root's being
    the system domain), unless one was given explicitly."""
    if _state["socket"]:
        return _state["socket"]
    from ..domain import default_control_socket, user_control_socket

    if domain is None:
        return default_control_socket(os.geteuid() == 0)
    if domain == "system":
        return default_control_socket(True)
    return user_control_socket(int(domain.split("/")[1]))


def _call(verb: str, domain: str | None = None, **args):
    try:
        return request(_socket_for(domain), verb, args)
    except ControlError as e:
        _fail(str(e), e.status)


def _fail(message: str, status: int = 1):
    print(f"pylaunchctl: {message}", file=sys.stderr)
    raise typer.Exit(status)


def _json(obj) -> None:
    print(json.dumps(obj, indent=2))


JSON = typer.Option(False, "--json", help="JSON output.")


def complete_service(incomplete: str) -> list[str]:
    """Shell completion: the labels of the caller's domain and their service targets."""
    try:
        info = request(_socket_for(None), "domain", timeout=2)
    except (ControlError, OSError, ValueError):
        return []
    labels = [s["label"] for s in info["services"]]
    candidates = labels + [f"{info['domain']}/{label}" for label in labels]
    if info["domain"].startswith("user/"):
        candidates += [f"gui/{info['domain'][5:]}/{label}" for label in labels]
    return [c for c in candidates if c.startswith(incomplete)]


def complete_domain(incomplete: str) -> list[str]:
    return [d for d in ("system", f"user/{os.getuid()}", f"gui/{os.getuid()}") if d.startswith(incomplete)]


@app.callback()
def main_options(
    control_socket: Optional[str] = typer.Option(
        None, "--control-socket", envvar="PYLAUNCHD_CONTROL_SOCKET",
        help="The manager's control socket (default: the caller's domain)."),
) -> None:
    _state["socket"] = control_socket


def _report(results: list) -> None:
    status = 0
    for r in results:
        if "error" in r:
            print(f"{r['error']}", file=sys.stderr)
            status = status or int(r.get("status", 1))
    if status:
        raise typer.Exit(status)


@app.command()
def load(
    paths: List[str] = typer.Argument(..., help="Plist files or directories of plists."),
    write: bool = typer.Option(False, "-w", help="Enable the job persistently, then load it."),
    force: bool = typer.Option(False, "-F", help="Load even if the job is disabled."),
) -> None:
    """Load jobs from plists (launchctl load)."""
    results = _call("load", paths=[os.path.abspath(p) for p in paths], write=write, force=force)
    _report(results)


@app.command()
def unload(
    paths: List[str] = typer.Argument(..., help="Plist files or directories of plists."),
    write: bool = typer.Option(False, "-w", help="Also disable the job persistently."),
) -> None:
    """Stop and unload the jobs of plists (launchctl unload)."""
    results = _call("unload", paths=[os.path.abspath(p) for p in paths], write=write)
    _report(results)


@app.command()
def start(label: str = typer.Argument(..., help="Label or service target.", autocompletion=complete_service)) -> None:
    """Start a loaded job now (throttling still applies)."""
    domain, label = parse_service(label)
    _call("start", domain, label=label)


@app.command()
def stop(label: str = typer.Argument(..., help="Label or service target.", autocompletion=complete_service)) -> None:
    """Stop a running job (SIGTERM, then SIGKILL after ExitTimeOut). KeepAlive jobs restart."""
    domain, label = parse_service(label)
    _call("stop", domain, label=label)


@app.command()
def remove(label: str = typer.Argument(..., help="Label or service target.", autocompletion=complete_service)) -> None:
    """Stop and unload a job by label."""
    domain, label = parse_service(label)
    _call("remove", domain, label=label)


@app.command("list")
def list_(
    label: Optional[str] = typer.Argument(None, help="Only this job."),
    as_json: bool = typer.Option(False, "--json", help="JSON: label, pid, last_exit_status, state, runs."),
) -> None:
    """PID, last exit status and label of every job (launchctl list)."""
    if label:
        domain, label = parse_service(label)
        if as_json:
            _json(_call("list", domain, label=label))
            return
        print(format_list_label(_call("print", domain, label=label)))
        return
    jobs = _call("list")
    if as_json:
        print(json.dumps(jobs, indent=2))
        return
    lines = ["PID\tStatus\tLabel"]
    for j in jobs:
        pid = "-" if j["pid"] is None else str(j["pid"])
        status = 0 if j["last_exit_status"] is None else j["last_exit_status"]
        lines.append(f"{pid}\t{status}\t{j['label']}")
    print("\n".join(lines))


@app.command("print")
def print_(
    target: str = typer.Argument(..., help="A domain (system, user/UID, gui/UID) or a service "
                                           "(DOMAIN/LABEL, or a bare label)."),
    as_json: bool = typer.Option(False, "--json", help="One JSON object."),
) -> None:
    """Everything about a service (state, plist, program, sockets, exits,
    warnings), or about a domain and its services."""
    if _DOMAIN.match(target):
        info = _call("domain", parse_domain(target))
        if as_json:
            _json(info)
        else:
            print(format_domain(info))
        return
    domain, label = parse_service(target)
    info = _call("print", domain, label=label)
    if as_json:
        _json(info)
        return
    print(format_print(info))


def format_list_label(info: dict) -> str:
    """launchctl list LABEL: the job as an old-style plist dictionary.
    LastExitStatus is the raw wait status, as launchd shows it (256 = exit 1)."""
    def q(v: str) -> str:
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    last = info["last_exit"]
    raw = 0 if last is None else (last["code"] << 8 if last["signal"] is None else last["signal"])
    session = "System" if info["domain"] == "system" else "Background"
    lines = ["{", f'\t"LimitLoadToSessionType" = {q(session)};', f'\t"Label" = {q(info["label"])};',
             f'\t"OnDemand" = {"false" if info["keep_alive"]["always"] else "true"};',
             f'\t"LastExitStatus" = {raw};']
    if info["pid"] is not None:
        lines.append(f'\t"PID" = {info["pid"]};')
    lines.append(f'\t"Program" = {q(info["program"])};')
    lines.append('\t"ProgramArguments" = (')
    lines += [f"\t\t{q(a)};" for a in info["arguments"]]
    lines.append("\t);")
    if info["sockets"]:
        lines.append('\t"Sockets" = {')
        counts: dict[str, int] = {}
        for s in info["sockets"]:
            counts[s["name"]] = counts.get(s["name"], 0) + 1
        for name, n in counts.items():
            lines += [f"\t\t{q(name)} = ("] + ["\t\t\tfile-descriptor-object;"] * n + ["\t\t);"]
        lines.append("\t};")
    lines.append("};")
    return "\n".join(lines)


def format_domain(info: dict) -> str:
    out = [f"{info['domain']} = {{", f"\ttype = {info['type']}", f"\tmanager pid = {info['pid']}",
           f"\tcontrol socket = {info['control_socket']}", "\tjobs directories = {"]
    out += [f"\t\t{d}" for d in info["jobs_dirs"]] + ["\t}"]
    if info["environment"]:
        out += ["\tenvironment = {"] + [f"\t\t{k} => {v}" for k, v in info["environment"].items()] + ["\t}"]
    out.append("\tservices = {")
    for j in info["services"]:
        pid = "-" if j["pid"] is None else j["pid"]
        status = "-" if j["last_exit_status"] is None else j["last_exit_status"]
        out.append(f"\t\t{pid}\t{status}\t{j['label']}\t({j['state']})")
    out.append("\t}")
    if info["disabled"]:
        out += ["\tdisabled services = {"]
        out += [f'\t\t"{k}" => {"disabled" if v else "enabled"}' for k, v in sorted(info["disabled"].items())]
        out.append("\t}")
    out.append("}")
    return "\n".join(out)


_SYSEXITS = {0: "EX_OK", 64: "EX_USAGE", 65: "EX_DATAERR", 66: "EX_NOINPUT", 67: "EX_NOUSER",
             68: "EX_NOHOST", 69: "EX_UNAVAILABLE", 70: "EX_SOFTWARE", 71: "EX_OSERR", 72: "EX_OSFILE",
             73: "EX_CANTCREAT", 74: "EX_IOERR", 75: "EX_TEMPFAIL", 76: "EX_PROTOCOL", 77: "EX_NOPERM",
             78: "EX_CONFIG", 126: "not executable", 127: "command not found"}


def exit_meaning(code: int, spawn_error: str | None) -> str:
    """What a job's exit code means: the errno of a failed exec (launchd's
    convention), a sysexits.h name, or a plain failure."""
    if spawn_error:
        return f"{os.strerror(code)} ({spawn_error})" if 0 < code < 126 else spawn_error
    return _SYSEXITS.get(code, "failure" if code else "EX_OK")


def format_print(info: dict) -> str:
    """launchctl print's layout: ``domain/label = { key = value ... }``."""
    out = [f"{info['domain']}/{info['label']} = {{"]

    def kv(key: str, value, depth: int = 1) -> None:
        out.append("\t" * depth + f"{key} = {value}")

    def block(key: str, items: list[str], depth: int = 1) -> None:
        out.append("\t" * depth + f"{key} = {{")
        out.extend("\t" * (depth + 1) + i for i in items)
        out.append("\t" * depth + "}")

    kv("state", info["state"])
    kv("path", info["path"] or "(submitted)")
    kv("type", info["type"])
    kv("program", info["program"])
    block("arguments", info["arguments"])
    if info["working_directory"]:
        kv("working directory", info["working_directory"])
    for key, name in (("stdin_path", "stdin path"), ("stdout_path", "stdout path"), ("stderr_path", "stderr path")):
        if info[key]:
            kv(name, info[key])
    if info["environment"]:
        block("environment", [f"{k} => {v}" for k, v in info["environment"].items()])
    kv("domain", info["domain"])
    kv("minimum runtime", info["throttle_interval"])
    kv("exit timeout", info["exit_timeout"])
    kv("runs", info["runs"])
    if info["pid"] is not None:
        kv("pid", info["pid"])
    if info["instances"]:
        kv("instances", " ".join(str(p) for p in info["instances"]))
    last = info["last_exit"]
    kv("last exit code", "(never exited)" if last is None else
       (f"{last['code']}: {exit_meaning(last['code'], info['spawn_error'])}" if last["signal"] is None
        else f"(signal) {last['description']}"))
    if info["throttled_for"] is not None:
        kv("throttled", f"next start in {info['throttled_for']} s")
    if info["last_trigger"]:
        kv("last start reason", info["last_trigger"])
    if info["spawn_error"]:
        kv("spawn error", info["spawn_error"])
    props = []
    if info["run_at_load"]:
        props.append("runatload")
    ka = info["keep_alive"]
    if ka["always"]:
        props.append("keepalive")
    if ka["successful_exit"] is not None:
        props.append(f"keepalive(successful-exit={str(ka['successful_exit']).lower()})")
    if ka["crashed"] is not None:
        props.append(f"keepalive(crashed={str(ka['crashed']).lower()})")
    if info["inetd_compatibility"] is not None:
        props.append(f"inetd-compatible(wait={str(info['inetd_compatibility']['wait']).lower()})")
    if props:
        kv("properties", " | ".join(props))
    if info["sockets"]:
        out.append("\tsockets = {")
        for s in info["sockets"]:
            addr = s["address"]
            text = addr["path"] if "path" in addr else (
                f"[{addr['host']}]:{addr['port']}" if ":" in addr["host"] else f"{addr['host']}:{addr['port']}")
            out.append(f'\t\t"{s["name"]}" = {{')
            out.append(f"\t\t\ttype = {s['type']}")
            out.append(f"\t\t\tfamily = {s['family']}")
            out.append(f"\t\t\taddress = {text}")
            out.append(f"\t\t\taccepted = {s['accepted']}")
            out.append(f"\t\t\ttriggers = {s['triggers']}")
            if s["last_trigger"]:
                out.append(f"\t\t\tlast trigger = {time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(s['last_trigger']))}")
            out.append("\t\t}")
        out.append("\t}")
        kv("watching sockets", "yes" if info["watching_sockets"] else "no")
    if info["warnings"]:
        block("warnings", info["warnings"])
    if info["ignored_keys"]:
        block("ignored keys", info["ignored_keys"])
    out.append("}")
    return "\n".join(out)


@app.command()
def lint(
    paths: List[str] = typer.Argument(..., help="Plist files or directories of plists."),
    as_json: bool = typer.Option(False, "--json", help="One JSON object per finding."),
) -> None:
    """Check job plists without loading them (plutil -lint, plus what the keys mean).
    Exit status 1 when any file has an error."""
    from ..lint import lint_file, summary
    from ..plist import plists_in

    files: list[str] = []
    for p in paths:
        if os.path.isdir(p):
            files += plists_in(p)
        elif os.path.exists(p):
            files.append(p)
        else:
            _fail(f"{p}: No such file or directory", 2)
    errors = 0
    records = []
    for f in files:
        findings = lint_file(f)
        e, w = summary(findings)
        errors += e
        if as_json:
            records += [{"file": x.path, "key_path": x.key_path, "level": x.level, "message": x.message}
                        for x in findings]
            continue
        for x in findings:
            print(x)
        if not e and not w:
            print(f"{os.path.abspath(f)}: OK")
    if as_json:
        print(json.dumps(records, indent=2))
    if errors:
        raise typer.Exit(1)


@app.command()
def bootstrap(
    domain: str = typer.Argument(..., help="system, user/UID or gui/UID.", autocompletion=complete_domain),
    paths: List[str] = typer.Argument(..., help="Plist files or directories."),
) -> None:
    """Load plists into a domain (the modern load). Already loaded, disabled,
    invalid: an error with launchctl's status and what to do."""
    results = _call("load", parse_domain(domain), paths=[os.path.abspath(p) for p in paths])
    status = 0
    for r in results:
        if "error" in r:
            print(r["error"], file=sys.stderr)
            status = status or int(r.get("status", 5))
    if status:
        print(f"Bootstrap failed: {status}: {describe(status)}", file=sys.stderr)
        raise typer.Exit(status)


@app.command()
def bootout(
    target: str = typer.Argument(..., help="A service (DOMAIN/LABEL) or a domain followed by plist paths."),
    paths: Optional[List[str]] = typer.Argument(None, help="Plists whose jobs to remove from the domain."),
) -> None:
    """Stop and unload a service, or the jobs of plists."""
    if paths:
        results = _call("unload", parse_domain(target), paths=[os.path.abspath(p) for p in paths])
        status = 0
        for r in results:
            if "error" in r:
                print(r["error"], file=sys.stderr)
                status = 5
        if status:
            print(f"Boot-out failed: {status}: {describe(status)}", file=sys.stderr)
            raise typer.Exit(status)
        return
    domain, label = parse_service(target, bare_ok=False)
    _call("bootout", domain, label=label)


@app.command()
def enable(target: str = typer.Argument(..., help="A service target DOMAIN/LABEL.", autocompletion=complete_service)) -> None:
    """Enable a service persistently (does not load or start it)."""
    domain, label = parse_service(target, bare_ok=False)
    _call("enable", domain, label=label)


@app.command()
def disable(target: str = typer.Argument(..., help="A service target DOMAIN/LABEL.", autocompletion=complete_service)) -> None:
    """Disable a service persistently: it is not loaded until enabled (does not stop it)."""
    domain, label = parse_service(target, bare_ok=False)
    _call("disable", domain, label=label)


@app.command("print-disabled")
def print_disabled(
    domain: str = typer.Argument(..., help="system, user/UID or gui/UID.", autocompletion=complete_domain),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """The domain's enabled/disabled overrides."""
    info = _call("print-disabled", parse_domain(domain))
    if as_json:
        _json(info)
        return
    print("disabled services = {")
    for label, disabled in sorted(info["disabled"].items()):
        print(f'\t"{label}" => {"disabled" if disabled else "enabled"}')
    print("}")


@app.command()
def kickstart(
    target: str = typer.Argument(..., help="A service target DOMAIN/LABEL (or a bare label).", autocompletion=complete_service),
    kill: bool = typer.Option(False, "-k", help="If it runs, kill it and start it again."),
    print_pid: bool = typer.Option(False, "-p", help="Print the PID of the running process."),
) -> None:
    """Run a service now, whatever its launch conditions and throttle."""
    domain, label = parse_service(target)
    info = _call("kickstart", domain, label=label, kill=kill)
    if print_pid or kill:
        deadline = time.monotonic() + 30
        while (info["pid"] is None or info["state"] == "stopping") and time.monotonic() < deadline:
            time.sleep(0.05)
            info = _call("list", domain, label=label)
        if print_pid and info["pid"] is not None:
            print(info["pid"] if not sys.stdout.isatty() else f"service spawned with pid: {info['pid']}")


@app.command("kill")
def kill_(
    signal_name: str = typer.Argument(..., metavar="SIGNAL", help="A signal name (TERM, SIGHUP) or number."),
    target: str = typer.Argument(..., help="A service target DOMAIN/LABEL (or a bare label).", autocompletion=complete_service),
) -> None:
    """Send a signal to a service's process. KeepAlive decides what follows."""
    import signal as _signal

    name = signal_name.upper()
    try:
        sig = int(name) if name.isdigit() else int(_signal.Signals[name if name.startswith("SIG") else "SIG" + name])
    except (KeyError, ValueError):
        _fail("Invalid signal.", EXIT_USAGE)
    domain, label = parse_service(target)
    _call("kill", domain, label=label, signal=sig)


@app.command()
def blame(
    target: str = typer.Argument(..., help="A service target DOMAIN/LABEL (or a bare label).", autocompletion=complete_service),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Why the service last started: run at load, a socket, a KeepAlive
    condition, a timer, a path, a kickstart."""
    domain, label = parse_service(target)
    info = _call("blame", domain, label=label)
    if as_json:
        _json(info)
    else:
        print(info["reason"] or "(it has not started since it was loaded)")


@app.command()
def log(
    target: str = typer.Argument(..., help="A service target DOMAIN/LABEL (or a bare label).", autocompletion=complete_service),
    follow: bool = typer.Option(False, "-f", "--follow", help="Keep printing new lines."),
    lines: int = typer.Option(50, "-n", "--lines", help="How many of the last lines."),
    as_json: bool = JSON,
) -> None:
    """A job's output (when its plist names no StandardOutPath or
    StandardErrorPath) and the manager's events for it: spawns, exits, throttling."""
    domain, label = parse_service(target)
    info = _call("log", domain, label=label, lines=lines)
    if as_json and not follow:
        _json(info)
        return
    for line in info["lines"]:
        print(line)
    seq = info["seq"]
    try:
        while follow:
            sys.stdout.flush()
            time.sleep(0.25)
            info = _call("log", domain, label=label, after=seq)
            for line in info["lines"]:
                print(line)
            seq = info["seq"]
    except KeyboardInterrupt:
        pass


@app.command()
def submit(
    label: str = typer.Option(..., "-l", help="The label of the new job."),
    program: Optional[str] = typer.Option(None, "-p", help="The program to execute (argv stays as given)."),
    stdout: Optional[str] = typer.Option(None, "-o", help="StandardOutPath."),
    stderr: Optional[str] = typer.Option(None, "-e", help="StandardErrorPath."),
    command: List[str] = typer.Argument(..., metavar="-- COMMAND [ARG...]"),
) -> None:
    """Run a command as a KeepAlive job without writing a plist."""
    _call("submit", label=label, program=program, stdout=stdout, stderr=stderr, arguments=command)


@app.command()
def setenv(key: str, value: str) -> None:
    """Set a variable for every job the manager starts from now on."""
    _call("setenv", key=key, value=value)


@app.command()
def unsetenv(key: str) -> None:
    """Unset a variable set with setenv."""
    _call("unsetenv", key=key)


@app.command()
def getenv(key: str, as_json: bool = JSON) -> None:
    """Print a variable of the domain's environment."""
    env = _call("getenv")
    if as_json:
        _json({key: env.get(key)})
    elif key in env:
        print(env[key])


@app.command("export")
def export_() -> None:
    """The domain's environment as shell commands."""
    for k, v in _call("getenv").items():
        print(f'{k}="{v}"; export {k};')


@app.command()
def limit(
    name: Optional[str] = typer.Argument(None, help="cpu filesize data stack core rss memlock maxproc maxfiles"),
    soft: Optional[str] = typer.Argument(None, help="Soft limit (or both), a number or unlimited."),
    hard: Optional[str] = typer.Argument(None, help="Hard limit, a number or unlimited."),
    as_json: bool = JSON,
) -> None:
    """Print or set the manager's resource limits, which new jobs inherit."""
    def num(v: str) -> int:
        return -1 if v == "unlimited" else int(v)
    args: dict = {}
    if name:
        args["name"] = name
    if soft is not None:
        try:
            args["soft"] = num(soft)
            args["hard"] = num(hard) if hard is not None else args["soft"]
        except ValueError:
            _fail("limits are numbers or unlimited", EXIT_USAGE)
    limits = _call("limit", **args)
    if as_json:
        _json({n: {"soft": cur, "hard": mx} for n, (cur, mx) in limits.items()})
    elif soft is None:
        show = lambda v: "unlimited" if v < 0 else str(v)  # noqa: E731
        for n, (cur, mx) in limits.items():
            print(f"\t{n:<12}{show(cur):<15}{show(mx):<15}")


@app.command()
def error(code: int = typer.Argument(..., help="An exit status of pylaunchctl or launchctl."),
          as_json: bool = JSON) -> None:
    """What an error code means."""
    _json({"code": code, "description": describe(code)}) if as_json else print(f"{code}: {describe(code)}")


@app.command()
def managerpid(as_json: bool = JSON) -> None:
    """The PID of the manager this pylaunchctl talks to."""
    info = _call("manager")
    _json({"pid": info["pid"]}) if as_json else print(info["pid"])


@app.command()
def manageruid(as_json: bool = JSON) -> None:
    """The uid the manager runs as."""
    info = _call("manager")
    _json({"uid": info["uid"]}) if as_json else print(info["uid"])


@app.command()
def managername(as_json: bool = JSON) -> None:
    """The manager's session type: System for the system domain, Background
    for a per-user one (see LimitLoadToSessionType)."""
    info = _call("manager")
    name = "System" if info["domain"] == "system" else "Background"
    _json({"name": name}) if as_json else print(name)


@app.command()
def version(as_json: bool = JSON) -> None:
    """The manager's version and domain."""
    info = _call("manager")
    if as_json:
        _json(info)
    else:
        print(f"pylaunchd {info['version']} ({info['domain']}, control socket {info['control_socket']})")


@app.command("help")
def help_(ctx: typer.Context, verb: Optional[str] = typer.Argument(None, help="A verb.")) -> None:
    """Help on pylaunchctl, or on one verb."""
    group_ctx = ctx.parent or ctx
    group = group_ctx.command
    if verb is None:
        print(group.get_help(group_ctx))
        return
    cmd = group.get_command(group_ctx, verb) if hasattr(group, "get_command") else None
    if cmd is None:
        _fail(f"unknown verb {verb!r}", EXIT_USAGE)
    with type(ctx)(cmd, info_name=verb, parent=group_ctx) as sub:
        print(cmd.get_help(sub))


def main() -> None:
    """Run pylaunchctl; usage errors exit 64 (EX_USAGE), as launchctl's do."""
    command = typer.main.get_command(app)
    try:
        code = command.main(prog_name="pylaunchctl", standalone_mode=False)
    except KeyboardInterrupt:
        code = 130
    except Exception as e:  # click's usage and parameter errors
        show = getattr(e, "show", None)
        if show is None:
            raise
        show()
        code = EXIT_USAGE if getattr(e, "exit_code", 1) == 2 else getattr(e, "exit_code", 1)
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
