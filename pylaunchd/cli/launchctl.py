"""``pylaunchctl``: launchctl's verbs, spoken to a running pylaunchd.

Kept quick to start: only typer and the small control protocol are imported;
nothing of the manager.
"""

from __future__ import annotations

import json
import os
import re
import sys
from typing import List, Optional

import typer

from ..control.protocol import EXIT_USAGE, ControlError, request

app = typer.Typer(add_completion=True, no_args_is_help=True, rich_markup_mode=None,
                  pretty_exceptions_enable=False,
                  context_settings={"help_option_names": ["-h", "--help"]},
                  help="Control pylaunchd, as launchctl controls launchd.")

_state = {"socket": None}


def _socket_path() -> str:
    if _state["socket"]:
        return _state["socket"]
    from ..domain import default_control_socket

    return default_control_socket(os.geteuid() == 0)


def _call(verb: str, **args):
    try:
        return request(_socket_path(), verb, args)
    except ControlError as e:
        _fail(str(e), e.status)


def _fail(message: str, status: int = 1):
    print(f"pylaunchctl: {message}", file=sys.stderr)
    raise typer.Exit(status)


_TARGET = re.compile(r"^(?:system|(?:user|gui)/\d+)/(.+)$")


def label_of(target: str) -> str:
    """A bare label, or a launchctl service target (system/L, user/UID/L, gui/UID/L)."""
    m = _TARGET.match(target)
    if m:
        return m.group(1)
    if target in ("system",) or re.match(r"^(user|gui)/\d+/?$", target):
        _fail(f"{target} is a domain; give a service target such as {target.rstrip('/')}/LABEL", EXIT_USAGE)
    return target


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
def start(label: str = typer.Argument(..., help="Label or service target.")) -> None:
    """Start a loaded job now (throttling still applies)."""
    _call("start", label=label_of(label))


@app.command()
def stop(label: str = typer.Argument(..., help="Label or service target.")) -> None:
    """Stop a running job (SIGTERM, then SIGKILL after ExitTimeOut). KeepAlive jobs restart."""
    _call("stop", label=label_of(label))


@app.command()
def remove(label: str = typer.Argument(..., help="Label or service target.")) -> None:
    """Stop and unload a job by label."""
    _call("remove", label=label_of(label))


@app.command("list")
def list_(
    label: Optional[str] = typer.Argument(None, help="Only this job."),
    as_json: bool = typer.Option(False, "--json", help="JSON: label, pid, last_exit_status, state, runs."),
) -> None:
    """PID, last exit status and label of every job (launchctl list)."""
    if label:
        info = _call("list", label=label_of(label))
        if as_json:
            print(json.dumps(info, indent=2))
            return
        print("{")
        print(f'\t"Label" = "{info["label"]}";')
        if info["pid"] is not None:
            print(f'\t"PID" = {info["pid"]};')
        print(f'\t"LastExitStatus" = {info["last_exit_status"] or 0};')
        print(f'\t"State" = "{info["state"]}";')
        print(f'\t"Runs" = {info["runs"]};')
        print("};")
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
    target: str = typer.Argument(..., help="Label or service target (system/LABEL, user/UID/LABEL, gui/UID/LABEL)."),
    as_json: bool = typer.Option(False, "--json", help="One JSON object."),
) -> None:
    """Everything about one job: state, plist, program, sockets, exits, warnings."""
    info = _call("print", label=label_of(target))
    if as_json:
        print(json.dumps(info, indent=2))
        return
    print(format_print(info))


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
       (f"{last['code']}" if last["signal"] is None else f"(signal) {last['description']}"))
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
    from ..plist import is_plist_name

    files: list[str] = []
    for p in paths:
        if os.path.isdir(p):
            files += sorted(os.path.join(p, n) for n in os.listdir(p) if is_plist_name(n))
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
def managerpid() -> None:
    """The PID of the manager this pylaunchctl talks to."""
    print(_call("manager")["pid"])


@app.command()
def version() -> None:
    """The manager's version and domain."""
    info = _call("manager")
    print(f"pylaunchd {info['version']} ({info['domain']}, control socket {info['control_socket']})")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
